//! Each notice delivered once: the real binary started over queued notices while the urgent fan-out and the notice batch race, its mails read back from Dovecot.
//!
//! Every party row (a notice to CSB, a bureau, CNCERT, a unit) is expanded into mail rows by
//! whichever runs first: the urgent loop, the notice batch, or another hub. These drills start
//! `tongbao serve` with the batch firing every second, so the two always meet, and count what
//! each mailbox received: a notice expanded twice arrives twice under two Message-IDs.

use crate::helpers::{FreshDatabase, Hub};
use crate::mail::{MAIL, imap_folder, nonce, wait_for};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The mailboxes of one drill's cast: CSB, the Guangdong bureau, CNCERT and the unit CT-GD.
pub(crate) struct Cast {
    pub(crate) hub_address: String,
    pub(crate) csb: String,
    pub(crate) bureau: String,
    pub(crate) cert: String,
    pub(crate) unit: String,
}

impl Cast {
    pub(crate) fn new() -> Cast {
        let n = nonce();
        Cast {
            hub_address: format!("hub-{n}@cncert.tongbao.test"),
            csb: format!("duty-{n}@csb.tongbao.test"),
            bureau: format!("wa-{n}@gdca.tongbao.test"),
            cert: format!("duty-{n}@cert.tongbao.test"),
            unit: format!("soc-{n}@ct-gd.tongbao.test"),
        }
    }

    fn mailboxes(&self) -> [&str; 4] {
        [&self.csb, &self.bureau, &self.cert, &self.unit]
    }

    fn units_toml(&self) -> String {
        let unit = |code: &str, name: &str, kind: &str, province: &str, who: &str, email: &str| {
            format!(
                "[[units]]\ncode = \"{code}\"\nname = \"{name}\"\ntype = \"{kind}\"\nprovince = \"{province}\"\n\
                 contacts = [{{ role = \"contact\", name = \"{who}\", email = \"{email}\" }}]\n"
            )
        };
        [
            unit("CSB", "工业和信息化部网络安全管理局", "csb", "national", "值班室", &self.csb),
            unit("GD-BUREAU", "广东省通信管理局", "bureau", "GD", "网络安全管理处", &self.bureau),
            unit("CNCERT", "国家计算机网络应急技术处理协调中心", "cncert", "national", "值班", &self.cert),
            unit("CT-GD", "中国电信股份有限公司广东分公司", "basic_telecom_provincial", "GD", "李四", &self.unit),
        ]
        .concat()
    }
}

/// A hub folder and the environment its commands run with (the PostgreSQL URL, when it has one).
pub(crate) struct DrillHub {
    hub: Hub,
    pub(crate) env: Vec<(String, String)>,
}

/// A hub folder for `cast`, its notice batch firing every second, mailing through Postfix;
/// `store` is extra `[store]` lines (PostgreSQL), empty for the SQLite default.
pub(crate) fn hub_for(cast: &Cast, store: &str) -> DrillHub {
    hub_with_env(cast, store, &[])
}

pub(crate) fn hub_with_env(cast: &Cast, store: &str, env: &[(&str, &str)]) -> DrillHub {
    let hub = DrillHub { hub: Hub::new(), env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
    hub.write("tongbao.toml", &format!("[serve]\nlisten = \"127.0.0.1:0\"\n[schedule]\nnotice_batch = \"* * * * * *\"\n{store}"));
    hub.write(
        "connectors/smtp.toml",
        &format!("kind = \"smtp-sink\"\nurl_env = \"TONGBAO_SMTP_URL\"\nfrom = \"通报中心 <{}>\"\n", cast.hub_address),
    );
    hub.write("cast.toml", &cast.units_toml());
    assert_ok(&hub, &["units", "import", "cast.toml"]);
    hub
}

impl DrillHub {
    pub(crate) fn path(&self) -> &std::path::Path {
        self.hub.path()
    }
    pub(crate) fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        self.hub.write(name, text)
    }
    fn run_with_input(&self, args: &[&str], input: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }
    pub(crate) fn run(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().unwrap()
    }
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tongbao"));
        c.args(args).current_dir(self.path()).env("TONGBAO_LOG", "warn").envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }
}

pub(crate) fn assert_ok(hub: &DrillHub, args: &[&str]) -> String {
    let out = hub.run(args);
    assert!(out.status.success(), "tongbao {args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A major DDoS event (urgent: CSB, CNCERT and the bureau at once, and a draft for CSB to
/// review) whose text carries `marker`, ingested through the CLI as CT-GD.
fn ingest_major_event(hub: &DrillHub, marker: &str) {
    let discovered = (chrono::Utc::now() - chrono::Duration::minutes(20)).to_rfc3339();
    let json = serde_json::json!({"kind": "event", "discovered_at": discovered, "category": "ddos", "grade": "major", "provinces": ["GD"],
        "content": {"unit_overview": "广东某IDC机房", "occurred_at": discovered, "summary": format!("机房出口遭受拒绝服务攻击 {marker}"),
                    "impact": "约2000家托管客户访问中断", "measures": "已启动流量清洗"}});
    let file = hub.write(&format!("{marker}.json"), &json.to_string());
    assert_ok(hub, &["ingest", file.to_str().unwrap(), "--unit", "CT-GD"]);
}

/// A level-4 (blue) warning: CNCERT, copying the bureau, within 5 working days, so it waits
/// for the notice batch.
fn ingest_blue_warning(hub: &DrillHub, marker: &str) {
    let discovered = (chrono::Utc::now() - chrono::Duration::minutes(20)).to_rfc3339();
    let json = serde_json::json!({"kind": "warning", "discovered_at": discovered, "category": "vulnerability", "level": 4, "provinces": ["GD"],
        "content": {"description": format!("某路由器漏洞 {marker}"), "potential_harm": "远程执行", "affected_scope": "部分用户",
                    "aware_parties": "本单位", "recommendations": "升级"}});
    let file = hub.write(&format!("{marker}.json"), &json.to_string());
    assert_ok(hub, &["ingest", file.to_str().unwrap(), "--unit", "CT-GD"]);
}

/// Starts `tongbao serve` in the hub's folder with the test's SMTP server (and `env`), its
/// log in `serve-N.log`, and waits until it listens.
pub(crate) fn start(hub: &DrillHub, n: u32) -> Child {
    let log_path = hub.path().join(format!("serve-{n}.log"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_tongbao"));
    command
        .arg("serve")
        .current_dir(hub.path())
        .env("TONGBAO_LOG", "info")
        .env("TONGBAO_SMTP_URL", std::env::var("TONGBAO_TEST_SMTP_URL").expect("TONGBAO_TEST_SMTP_URL: run through ./scripts/test"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    command.envs(hub.env.iter().map(|(k, v)| (k, v)));
    let child = command.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log_path).unwrap_or_default().contains("HTTP upload listening") {
        assert!(std::time::Instant::now() < deadline, "serve did not start: {}", std::fs::read_to_string(&log_path).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

pub(crate) fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}

/// One mail as a mailbox holds it.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub(crate) message_id: String,
    pub(crate) subject: String,
    pub(crate) text: String,
    /// The hub's loop guard, as the mail arrived.
    pub(crate) loop_header: Option<String>,
}

pub(crate) async fn delivered(mailbox: &str) -> Vec<Delivered> {
    imap_folder(mailbox, "INBOX")
        .await
        .iter()
        .filter_map(|raw| {
            let m = mail_parser::MessageParser::default().parse(raw)?;
            Some(Delivered {
                message_id: m.message_id().unwrap_or_default().to_string(),
                subject: m.subject().unwrap_or_default().to_string(),
                text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                loop_header: m.header_raw("X-Tongbao-Loop").map(|v| v.trim().to_string()),
            })
        })
        .collect()
}

/// The mails in `mailbox` about `marker`: subject and Message-ID, for a failure to show.
async fn about(mailbox: &str, marker: &str) -> Vec<(String, String)> {
    delivered(mailbox).await.into_iter().filter(|d| d.text.contains(marker)).map(|d| (d.subject, d.message_id)).collect()
}

/// How many mails in `mailbox` have a subject containing `subject` and a text containing `marker`.
pub(crate) async fn count(mailbox: &str, subject: &str, marker: &str) -> usize {
    delivered(mailbox).await.iter().filter(|d| d.subject.contains(subject) && d.text.contains(marker)).count()
}

/// Asserts that no mailbox of the cast received one notice twice: mails under one Message-ID
/// are one outbox row sent again (allowed after a kill), and mails under different Message-IDs
/// must differ in subject or text. Returns how many distinct mails each mailbox holds.
async fn assert_each_notice_once(cast: &Cast) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for mailbox in cast.mailboxes() {
        let mut by_content: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for d in delivered(mailbox).await {
            // RFC 3834: what the hub sends says it is the hub's, so it is never taken in again.
            assert_eq!(d.loop_header.as_deref(), Some(cast.hub_address.as_str()), "{mailbox}: {}", d.subject);
            let ids = by_content.entry((d.subject, d.text)).or_default();
            if !ids.contains(&d.message_id) {
                ids.push(d.message_id);
            }
        }
        let twice: Vec<_> = by_content.iter().filter(|(_, ids)| ids.len() > 1).map(|((s, _), ids)| (s.clone(), ids.len())).collect();
        assert!(twice.is_empty(), "{mailbox} received notices more than once, each under a new Message-ID: {twice:?}");
        out.insert(mailbox.to_string(), by_content.len());
    }
    out
}

/// Waits until the major event marked `marker` reached CSB, CNCERT and the bureau, and CSB's
/// draft to review, then a little longer for any second copy to land.
async fn await_major_event(cast: &Cast, marker: &str) {
    for mailbox in [&cast.csb, &cast.cert, &cast.bureau] {
        wait_for(&format!("the notice {marker} at {mailbox}"), Duration::from_secs(60), async || {
            count(mailbox, "【通报】", marker).await >= 1
        })
        .await;
    }
    wait_for(&format!("the draft of {marker} at CSB"), Duration::from_secs(60), async || count(&cast.csb, "【待审核】", marker).await >= 1)
        .await;
}

/// Long enough for a second expansion's mails to reach Dovecot after the first's.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(4)).await;
}

/// A notice queued while the hub is down arrives once after a start, three starts in a row
/// (the urgent loop and the batch's catch-up at start both find its party rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_queued_while_the_hub_is_down_arrives_once_after_each_start() {
    let _turn = MAIL.lock().await;
    let cast = Cast::new();
    let hub = hub_for(&cast, "");
    for round in 1..=3 {
        let marker = format!("R{round}-{}", nonce());
        ingest_major_event(&hub, &marker);
        let serve = start(&hub, round);
        await_major_event(&cast, &marker).await;
        settle().await;
        stop(serve);
        for mailbox in [&cast.csb, &cast.cert, &cast.bureau] {
            assert_eq!(count(mailbox, "【通报】", &marker).await, 1, "the notice {marker} at {mailbox}");
        }
        assert_eq!(count(&cast.csb, "【待审核】", &marker).await, 1, "the draft of {marker} at CSB");
    }
    let held = assert_each_notice_once(&cast).await;
    eprintln!("drill queued notices, three starts: distinct mails per mailbox {held:?}");
}

/// Urgent notices and batched warnings queued while down, and a start while the notice batch
/// fires every second: each arrives once, each warning in exactly one batch per recipient.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_during_a_batch_window_sends_each_notice_once() {
    let _turn = MAIL.lock().await;
    let cast = Cast::new();
    let hub = hub_for(&cast, "");
    for round in 1..=2 {
        let events: Vec<String> = (1..=3).map(|i| format!("E{round}.{i}-{}", nonce())).collect();
        let warnings: Vec<String> = (1..=6).map(|i| format!("W{round}.{i}-{}", nonce())).collect();
        for m in &events {
            ingest_major_event(&hub, m);
        }
        for m in &warnings {
            ingest_blue_warning(&hub, m);
        }
        let serve = start(&hub, round);
        for m in &events {
            await_major_event(&cast, m).await;
        }
        for m in &warnings {
            for mailbox in [&cast.cert, &cast.bureau] {
                wait_for(&format!("the warning {m} at {mailbox}"), Duration::from_secs(60), async || count(mailbox, "", m).await >= 1)
                    .await;
            }
        }
        settle().await;
        stop(serve);
        for m in &warnings {
            for mailbox in [&cast.cert, &cast.bureau] {
                assert_eq!(count(mailbox, "", m).await, 1, "the warning {m} at {mailbox}, in one mail");
            }
        }
        for m in &events {
            for mailbox in [&cast.csb, &cast.cert, &cast.bureau] {
                assert_eq!(count(mailbox, "【通报】", m).await, 1, "the notice {m} at {mailbox}");
            }
        }
    }
    assert_each_notice_once(&cast).await;
}

/// Two hubs on one PostgreSQL database started together over queued notices: each notice is
/// expanded by one of them, and arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_on_postgres_starting_together_send_each_notice_once() {
    let _turn = MAIL.lock().await;
    let db = FreshDatabase::new().await;
    let cast = Cast::new();
    let env = [("TONGBAO_DELIVERY_PG_URL", db.url.as_str())];
    let store = "[store]\nbackend = \"postgres\"\nurl_env = \"TONGBAO_DELIVERY_PG_URL\"\nlease_seconds = 30\n";
    let hub = hub_with_env(&cast, store, &env);
    let events: Vec<String> = (1..=3).map(|i| format!("P{i}-{}", nonce())).collect();
    for m in &events {
        ingest_major_event(&hub, m);
    }
    for i in 1..=3 {
        ingest_blue_warning(&hub, &format!("PW{i}-{}", events[0]));
    }
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start(&hub, 1));
        let b = s.spawn(|| start(&hub, 2));
        (a.join().unwrap(), b.join().unwrap())
    });
    for m in &events {
        await_major_event(&cast, m).await;
    }
    for i in 1..=3 {
        let m = format!("PW{i}-{}", events[0]);
        wait_for(&format!("the warning {m} at CNCERT"), Duration::from_secs(60), async || count(&cast.cert, "", &m).await >= 1).await;
    }
    settle().await;
    stop(a);
    stop(b);
    for m in &events {
        for mailbox in [&cast.csb, &cast.cert, &cast.bureau] {
            // The event's notice: a blue warning's marker (PW1-…) contains the event's, and a
            // warning alone in its batch window goes as a 【通报】 of its own.
            assert_eq!(count(mailbox, "【通报】事件信息", m).await, 1, "the notice {m} at {mailbox}: {:?}", about(mailbox, m).await);
        }
        assert_eq!(count(&cast.csb, "【待审核】", m).await, 1, "the draft of {m} at CSB");
    }
    for i in 1..=3 {
        let m = format!("PW{i}-{}", events[0]);
        assert_eq!(count(&cast.cert, "", &m).await, 1, "the warning {m} at CNCERT, in one mail");
    }
    assert_each_notice_once(&cast).await;
}

/// SIGKILL in the middle of sending a batch, then a restart: what the killed hub had sent but
/// not marked goes out again under its own Message-ID; nothing goes out under a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_a_batch_sends_nothing_twice() {
    let _turn = MAIL.lock().await;
    let cast = Cast::new();
    let hub = hub_for(&cast, "");
    let events: Vec<String> = (1..=8).map(|i| format!("K{i}-{}", nonce())).collect();
    let warnings: Vec<String> = (1..=8).map(|i| format!("KW{i}-{}", nonce())).collect();
    for m in &events {
        ingest_major_event(&hub, m);
    }
    for m in &warnings {
        ingest_blue_warning(&hub, m);
    }
    let mut first = start(&hub, 1);
    wait_for("the first mail out", Duration::from_secs(60), async || !delivered(&cast.csb).await.is_empty()).await;
    first.kill().unwrap();
    let _ = first.wait();
    let before = delivered(&cast.csb).await.len() + delivered(&cast.cert).await.len() + delivered(&cast.bureau).await.len();
    let second = start(&hub, 2);
    for m in &events {
        await_major_event(&cast, m).await;
    }
    for m in &warnings {
        wait_for(&format!("the warning {m} at CNCERT"), Duration::from_secs(60), async || count(&cast.cert, "", m).await >= 1).await;
    }
    settle().await;
    stop(second);
    let held = assert_each_notice_once(&cast).await;
    eprintln!("drill restart mid-batch: {before} mails out before the kill; distinct mails per mailbox {held:?}");
}

/// The other expanders of one row into several, queued and raced the same way: the monthly
/// digest (to CSB, every bureau, copy CNCERT), a user's appeal (to CNCERT, and the user's
/// acknowledgement), and CSB's approval of a public notice (to its units and bureaus).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_an_appeal_and_an_approval_each_arrive_once() {
    let _turn = MAIL.lock().await;
    let cast = Cast::new();
    let hub = hub_for(&cast, "");
    let marker = format!("A-{}", nonce());
    ingest_major_event(&hub, &marker);
    // The digest of a month, queued while the hub is down.
    assert_ok(&hub, &["digest", "--month", "2026-06", "--send"]);
    let password = "a long passphrase for the drill";
    let out = hub.run_with_input(&["users", "add", "csb", "--role", "csb"], &format!("{password}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let serve = start(&hub, 1);
    let base = format!("http://{}", listening_address(&hub, 1));
    let digest_subject = "【月度通报】2026-06";
    for mailbox in [&cast.csb, &cast.bureau, &cast.cert] {
        wait_for(&format!("the digest at {mailbox}"), Duration::from_secs(60), async || count(mailbox, digest_subject, "").await >= 1)
            .await;
    }
    await_major_event(&cast, &marker).await;

    // A user's appeal, posted on the public page.
    let user_box = format!("user-{}@home.tongbao.test", nonce());
    let appeal = curl(&[
        "--data-urlencode",
        "target=203.0.113.9",
        "--data-urlencode",
        "disposal=网站被封堵",
        "--data-urlencode",
        &format!("reason=本人网站正常经营 {marker}"),
        "--data-urlencode",
        "name=王五",
        "--data-urlencode",
        &format!("email={user_box}"),
        "--data-urlencode",
        "phone=",
        &format!("{base}/appeal"),
    ]);
    assert_eq!(appeal.0, 202, "the address is asked to confirm first: {}", appeal.1);
    // The user opens the confirmation mail, its link, and confirms.
    wait_for("the confirmation at the user", Duration::from_secs(60), async || count(&user_box, "【申诉确认】", "").await >= 1).await;
    let confirmation = delivered(&user_box).await.into_iter().find(|d| d.subject.contains("【申诉确认】")).unwrap().text;
    assert!(!confirmation.contains(&marker) && !confirmation.contains("王五"), "nothing the poster typed: {confirmation}");
    let link = confirmation.split("/appeal/confirm/").nth(1).and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next()).unwrap();
    let confirmed = curl(&["-X", "POST", &format!("{base}/appeal/confirm/{link}")]);
    assert_eq!(confirmed.0, 201, "{}", confirmed.1);

    // CSB approves the event's public notice in the console.
    let jar = hub.path().join("csb.jar").display().to_string();
    let jarred = |args: &[&str]| curl(&[&["-b", &jar, "-c", &jar], args].concat());
    let login = jarred(&["--data-urlencode", "name=csb", "--data-urlencode", &format!("password={password}"), &format!("{base}/login")]);
    assert_eq!(login.0, 303, "{}", login.1);
    let reviews = jarred(&[&format!("{base}/api/v1/reviews")]);
    let report = reviews.1.split("\"report_id\":\"").nth(1).and_then(|s| s.split('"').next()).expect("a draft to review").to_string();
    let form = jarred(&[&format!("{base}/console/review/{report}")]);
    let csrf = form.1.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a CSRF field").to_string();
    let approved = jarred(&[
        "--data-urlencode",
        &format!("csrf={csrf}"),
        "--data-urlencode",
        "action=approve",
        "--data-urlencode",
        &format!("title=【通告】广东某IDC遭受重大拒绝服务攻击 {marker}"),
        "--data-urlencode",
        "lines=事件统计情况：广东发生重大拒绝服务攻击 1 起",
        "--data-urlencode",
        "recipients=CT-GD",
        "--data-urlencode",
        "note=",
        &format!("{base}/console/review/{report}"),
    ]);
    assert!(approved.0 == 303 || approved.0 == 200, "approval: {} {}", approved.0, approved.1);

    wait_for("the appeal at CNCERT", Duration::from_secs(60), async || count(&cast.cert, "【用户申诉】", "").await >= 1).await;
    wait_for("the acknowledgement at the user", Duration::from_secs(60), async || count(&user_box, "【申诉已受理】", "").await >= 1).await;
    wait_for("the public notice at the unit", Duration::from_secs(60), async || count(&cast.unit, "【通告】", "").await >= 1).await;
    settle().await;
    stop(serve);

    for mailbox in [&cast.csb, &cast.bureau, &cast.cert] {
        assert_eq!(count(mailbox, digest_subject, "").await, 1, "the digest at {mailbox}");
    }
    assert_eq!(count(&cast.cert, "【用户申诉】", "").await, 1, "the appeal at CNCERT");
    assert_eq!(count(&user_box, "【申诉已受理】", "").await, 1, "the acknowledgement at the user");
    assert_eq!(count(&cast.unit, "【通告】", "").await, 1, "the public notice at the unit");
    assert_each_notice_once(&cast).await;
}

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The address `serve-N.log` says the hub listens on.
fn listening_address(hub: &DrillHub, n: u32) -> String {
    let text = std::fs::read_to_string(hub.path().join(format!("serve-{n}.log"))).unwrap();
    let line = text.lines().find(|l| l.contains("HTTP upload listening")).expect("the listening line");
    line.split("address=")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .map(|a| a.trim_matches(|c: char| !c.is_ascii_digit() && c != '.' && c != ':').to_string())
        .expect("an address")
}
