//! The mail connector against real servers on loopback: Postfix (SMTP) delivering to Dovecot (LMTP, IMAP), set up by scripts/mail-setup.

use super::helpers::{Backend, Lib, units_from_toml};
use futures_util::TryStreamExt;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor, address::Envelope};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tongbao::config::ImapSecurity;
use tongbao::connectors::lease::Lease;
use tongbao::connectors::mail::mailbox::{Folder, Folders, ImapAccount, Mailbox, Maildir, Waiting};
use tongbao::connectors::mail::{parse::MailLimits, smtp, source};
use tongbao::decision::{OutboxChannel, OutboxKind};
use tongbao::model::submission::Sender;
use tongbao::model::{Channel, Submission};
use tongbao::store::{OutboxFilter, Store};

const PASSWORD: &str = "tongbao-test-pass";
const FIXTURE_SENDER: &str = "soc@ct-gd.tongbao.test";

/// The mail tests take turns: one stops Postfix, which would fail the others' deliveries.
pub(crate) static MAIL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn smtp_url() -> String {
    std::env::var("TONGBAO_TEST_SMTP_URL")
        .expect("TONGBAO_TEST_SMTP_URL is not set: run the tests through ./scripts/test, which starts Postfix and Dovecot")
}

pub(crate) fn nonce() -> String {
    uuid::Uuid::now_v7().simple().to_string()[20..].to_string()
}

/// A fresh hub mailbox address, CT-GD's contact address, and a store where CT-GD is registered
/// with that contact.
async fn hub_and_unit_mailboxes(backend: Backend) -> (String, String, Lib) {
    let n = nonce();
    let unit_addr = format!("soc-{n}@ct-gd.tongbao.test");
    let lib = Lib::on(backend).await;
    lib.store.import_units(&unit_with_contact("CT-GD", &unit_addr), chrono::Utc::now()).await.unwrap();
    (format!("hub-{n}@cncert.tongbao.test"), unit_addr, lib)
}

/// A fixture with its sender (and the Outlook fixture's upper-case spelling) replaced by `from`.
fn fixture_from(name: &str, from: &str) -> Vec<u8> {
    let raw = std::fs::read(format!("{}/tests/fixtures/mail/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut out = replace(&raw, FIXTURE_SENDER.as_bytes(), from.as_bytes());
    out = replace(&out, FIXTURE_SENDER.to_uppercase().as_bytes(), from.to_uppercase().as_bytes());
    out
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

async fn send_raw(from: &str, to: &str, raw: &[u8]) {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp_url()).unwrap().build();
    let envelope = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
    transport.send_raw(&envelope, raw).await.expect("Postfix on 127.0.0.1:25 accepts the mail");
}

fn account(user: &str) -> ImapAccount {
    ImapAccount {
        host: "127.0.0.1".into(),
        port: 143,
        security: ImapSecurity::Plain,
        user: user.into(),
        password: PASSWORD.into(),
        mailbox: "INBOX".into(),
        folders: Folders::default(),
    }
}

/// Every mail in one folder of a user's mailbox, read over IMAP from Dovecot.
/// The lease on `user`'s mailbox, held by this test's hub.
fn lease(lib: &Lib, user: &str) -> Lease<tongbao::store::AnyStore> {
    Lease::new(lib.store.clone(), &tongbao::connectors::imap_lease_name(&account(user)), Duration::from_secs(30))
}

pub(crate) async fn imap_folder(user: &str, folder: &str) -> Vec<Vec<u8>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", 143)).await.expect("Dovecot on 127.0.0.1:143");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    let mut session = client.login(user, PASSWORD).await.map_err(|(e, _)| e).unwrap();
    if session.select(folder).await.is_err() {
        return vec![];
    }
    let fetched: Vec<_> = session.fetch("1:*", "BODY.PEEK[]").await.unwrap().try_collect().await.unwrap_or_default();
    let out = fetched.iter().filter_map(|f| f.body().map(<[u8]>::to_vec)).collect();
    let _ = session.logout().await;
    out
}

pub(crate) async fn wait_for(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) fn unit_with_contact(code: &str, email: &str) -> Vec<tongbao::model::Unit> {
    units_from_toml(&format!(
        "[[units]]\ncode = \"{code}\"\nname = \"中国电信股份有限公司广东分公司\"\ntype = \"basic_telecom_provincial\"\nprovince = \"GD\"\n\
         contacts = [{{ role = \"contact\", name = \"李四\", email = \"{email}\" }}]\n"
    ))
}

/// CSB, the Guangdong bureau and CNCERT, each reachable at one mailbox, and any `more` units (TOML).
pub(crate) fn authorities(csb: &str, bureau: &str, cert: &str, more: &str) -> Vec<tongbao::model::Unit> {
    units_from_toml(&format!(
        "[[units]]\ncode = \"CSB\"\nname = \"网络安全管理局\"\ntype = \"csb\"\nprovince = \"national\"\n\
         contacts = [{{ role = \"contact\", name = \"值班\", email = \"{csb}\" }}]\n\
         [[units]]\ncode = \"GD-BUREAU\"\nname = \"广东省通信管理局\"\ntype = \"bureau\"\nprovince = \"GD\"\n\
         contacts = [{{ role = \"contact\", name = \"网安处\", email = \"{bureau}\" }}]\n\
         [[units]]\ncode = \"CNCERT\"\nname = \"国家计算机网络应急技术处理协调中心\"\ntype = \"cncert\"\nprovince = \"national\"\n\
         contacts = [{{ role = \"contact\", name = \"值班\", email = \"{cert}\" }}]\n{more}"
    ))
}

struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            tokio::time::timeout(Duration::from_secs(30), t).await.expect("connector stops within 30 s").unwrap();
        }
    }
}

fn source_config() -> source::SourceConfig {
    source::SourceConfig {
        name: "test-imap".into(),
        poll: Duration::from_secs(2),
        batch: 64,
        require_dkim: false,
        purpose: tongbao::config::MailPurpose::Reports,
        limits: MailLimits::default(),
        own_addresses: vec![],
        confirm_url: None,
    }
}

pub(crate) fn smtp_config(from: &str) -> smtp::SmtpConfig {
    smtp::SmtpConfig {
        name: "test-smtp".into(),
        url: smtp_url(),
        from: format!("通报中心 <{from}>").parse().unwrap(),
        concurrency: 4,
        timeout: Duration::from_secs(30),
        poll: Duration::from_millis(200),
    }
}

fn header_value(raw: &[u8], name: &str) -> Option<String> {
    let m = mail_parser::MessageParser::default().parse(raw)?;
    m.header_raw(name).map(|v| v.trim().to_string())
}

async fn mails_from_foxmail_outlook_and_qq_become_reports_and_receipts_reach_the_sender(backend: Backend) {
    let _turn = MAIL.lock().await;
    let n = nonce();
    let hub = format!("hub-{n}@cncert.tongbao.test");
    let unit_addr = format!("soc-{n}@ct-gd.tongbao.test");
    let stranger = format!("someone-{n}@elsewhere.tongbao.test");
    let lib = Lib::on(backend).await;
    lib.store.import_units(&unit_with_contact("CT-GD", &unit_addr), chrono::Utc::now()).await.unwrap();

    let fixtures = ["foxmail-gb2312.eml", "outlook-rfc2231.eml", "qq-raw-gbk.eml"];
    for f in fixtures {
        send_raw(&unit_addr, &hub, &fixture_from(f, &unit_addr)).await;
    }
    let stranger_raw = replace(&fixture_from("stranger.eml", &unit_addr), b"someone@elsewhere.tongbao.test", stranger.as_bytes());
    send_raw(&stranger, &hub, &stranger_raw).await;

    let (stop, rx) = watch::channel(false);
    let tasks = vec![
        tokio::spawn(source::run_imap(source_config(), account(&hub), lib.intake.clone(), lease(&lib, &hub), rx.clone())),
        tokio::spawn(smtp::run(smtp_config(&hub), lib.store.clone(), rx)),
    ];
    let running = Running { stop, tasks };

    // One submission per mail, the stranger's included (kept, rejected, answered by nobody).
    wait_for("4 submissions", Duration::from_secs(60), async || lib.store.counts().await.unwrap().submissions == 4).await;
    wait_for("3 receipts in the unit's mailbox", Duration::from_secs(60), async || imap_folder(&unit_addr, "INBOX").await.len() >= 3).await;
    wait_for("the inbox emptied", Duration::from_secs(30), async || imap_folder(&hub, "INBOX").await.is_empty()).await;
    let receipts = imap_folder(&unit_addr, "INBOX").await;
    assert_eq!(receipts.len(), 3, "one receipt per mail, no more");
    assert_eq!(imap_folder(&hub, "Processed").await.len(), 3);
    let quarantined = imap_folder(&hub, "Quarantine").await;
    assert_eq!(quarantined.len(), 1);
    assert!(header_value(&quarantined[0], "Message-ID").unwrap().contains("stranger-0001"));

    let by_parent = |id: &str| {
        receipts
            .iter()
            .find(|r| header_value(r, "In-Reply-To").is_some_and(|v| v.contains(id)))
            .map(|r| mail_parser::MessageParser::default().parse(r).unwrap())
            .unwrap_or_else(|| panic!("no receipt answers {id}"))
    };
    let fox = by_parent("202609231020311150921@ct-gd.tongbao.test");
    assert_eq!(fox.subject().unwrap(), "Re: 【事件报送】广东电信 2026年9月23日 重大事件");
    assert!(fox.references().as_text_list().map(|l| l.len()).unwrap_or(1) >= 1);
    let text = fox.body_text(0).unwrap();
    assert!(text.contains("部分受理"), "{text}");
    assert!(text.contains("事件信息报送表-广东电信.xlsx › 事件表!B7"), "the bad row is named by attachment, sheet and cell: {text}");
    let html = fox.body_html(0).unwrap();
    assert!(html.contains("事件表!B7"));
    // The accepted reports are listed with their ids, and each id is a stored report.
    let stored = lib.store.reports(&tongbao::store::ReportFilter { limit: 100, ..Default::default() }).await.unwrap();
    let from_fox: Vec<_> = stored.iter().filter(|r| text.contains(&r.report.id.to_string())).collect();
    assert_eq!(from_fox.len(), 2, "the two good rows of the Foxmail form: {text}");
    assert!(text.contains("重大") && text.contains("前报送"), "grade and deadline: {text}");

    let outlook = by_parent("TY0PR06MB5123ABCD@TY0PR06MB5123.apcprd06.prod.outlook.com");
    assert_eq!(outlook.subject().unwrap(), "Re: 预警报送：某型号路由器远程命令执行漏洞（四级）");
    assert!(outlook.body_text(0).unwrap().contains("已受理"));
    let qq = by_parent("tencent_5F1A2B3C4D5E6F708192A3B4C5D6E7F80809@qq.com");
    assert_eq!(qq.subject().unwrap(), "Re: 僵尸网络事件报送 2026年9月");
    // Message-IDs come from outbox row ids: distinct, and at the hub's domain.
    let ids: std::collections::HashSet<String> = receipts.iter().map(|r| header_value(r, "Message-ID").unwrap()).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|i| i.ends_with("@cncert.tongbao.test>")), "{ids:?}");

    // The stranger got nothing back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(imap_folder(&stranger, "INBOX").await.is_empty(), "no reply to an unknown sender");
    running.stop().await;
}

/// A crash after the commit but before the mail was moved: the next pass stores nothing twice.
async fn a_mail_processed_but_not_moved_is_not_stored_twice(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::on(backend).await;
    lib.store.import_units(&unit_with_contact("CT-GD", FIXTURE_SENDER), chrono::Utc::now()).await.unwrap();
    let mut maildir = Maildir::open(dir.path().join("Maildir"), Folders::default()).unwrap();
    std::fs::write(dir.path().join("Maildir/new/1790000000.M1P1.hub"), fixture_from("foxmail-gb2312.eml", FIXTURE_SENDER)).unwrap();
    let (_stop, rx) = watch::channel(false);
    let config = source_config();

    // First pass stores the mail, then "crashes" before filing it.
    let waiting: Vec<Waiting> = maildir.fetch(10).await.unwrap();
    assert_eq!(source::take(&config, &waiting[0], &lib.intake, &rx).await, source::Fate::File(Folder::Processed));
    let after_first = lib.store.counts().await.unwrap();
    assert_eq!(after_first.submissions, 1);
    assert!(after_first.reports >= 2);

    // The restarted source sees the same mail again.
    assert_eq!(source::drain(&config, &mut maildir, &lib.intake, &rx).await.unwrap(), 1);
    assert_eq!(lib.store.counts().await.unwrap(), after_first, "nothing stored twice, no second receipt queued");
    assert!(maildir.fetch(10).await.unwrap().is_empty());
    assert_eq!(std::fs::read_dir(dir.path().join("Maildir/.Processed/cur")).unwrap().count(), 1);
}

/// Receipts pending while Postfix is down go out once it is back: none lost, none twice.
async fn a_postfix_outage_loses_and_duplicates_no_mail(backend: Backend) {
    let _turn = MAIL.lock().await;
    let (hub, unit_addr, lib) = hub_and_unit_mailboxes(backend).await;

    let stopped = Command::new("postfix").arg("stop").output().unwrap();
    assert!(stopped.status.success(), "postfix stop: {}", String::from_utf8_lossy(&stopped.stderr));
    let restart = scopeguard(|| {
        let _ = Command::new("postfix").arg("start").output();
    });

    const N: usize = 12;
    for i in 0..N {
        lib.intake.submit(emailed_report(&unit_addr, &format!("2026-09-23T10:{i:02}:00+08:00"))).await.unwrap();
    }
    let (stop, rx) = watch::channel(false);
    let running = Running { stop, tasks: vec![tokio::spawn(smtp::run(smtp_config(&hub), lib.store.clone(), rx))] };
    // Let the sink fail against the closed port for a while.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Listed, not claimed: on PostgreSQL `due_outbox` would take the rows from the sink.
    let pending = lib.outbox(email_pending()).await;
    assert_eq!(pending.len(), N, "every receipt still pending during the outage");
    assert!(
        pending.iter().all(|r| r.attempts >= 1),
        "each was tried and failed: {:?}",
        pending.iter().map(|r| r.attempts).collect::<Vec<_>>()
    );

    drop(restart);
    wait_for("Postfix back", Duration::from_secs(20), async || std::net::TcpStream::connect("127.0.0.1:25").is_ok()).await;
    wait_for("all receipts delivered", Duration::from_secs(90), async || imap_folder(&unit_addr, "INBOX").await.len() >= N).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = imap_folder(&unit_addr, "INBOX").await;
    assert_eq!(got.len(), N, "exactly one mail per receipt");
    let ids: std::collections::HashSet<String> = got.iter().map(|r| header_value(r, "Message-ID").unwrap()).collect();
    assert_eq!(ids.len(), N);
    assert!(lib.outbox(email_pending()).await.is_empty());
    running.stop().await;
}

/// E-mail rows still waiting to be sent.
fn email_pending() -> OutboxFilter {
    OutboxFilter { channel: Some(OutboxChannel::Email), status: Some("pending".into()), ..Default::default() }
}

/// A general event as if mailed by `from`, whose receipt goes back to `from` by mail.
fn emailed_report(from: &str, discovered: &str) -> Submission {
    let json = super::helpers::event("general", discovered);
    let mut sub = Submission::by_content(
        Channel::Email,
        Sender::Email(from.parse().unwrap()),
        serde_json::to_vec(&json).unwrap(),
        "2026-09-23T02:30:00Z".parse().unwrap(),
    );
    sub.reply_to = Some(from.to_string());
    sub
}

/// Runs `f` when dropped, so Postfix is started again even when an assertion fails.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f()
            }
        }
    }
    Guard(Some(f))
}

/// A recipient the server refuses for good (550 user unknown) is marked failed and audited, not retried.
async fn a_recipient_refused_for_good_is_marked_failed_and_audited(backend: Backend) {
    let _turn = MAIL.lock().await;
    let n = nonce();
    let nobody = format!("nobody-{n}@ct-gd.tongbao.test");
    let lib = Lib::on(backend).await;
    lib.store.import_units(&unit_with_contact("CT-GD", &nobody), chrono::Utc::now()).await.unwrap();
    lib.intake.submit(emailed_report(&nobody, "2026-09-23T10:00:00+08:00")).await.unwrap();
    let before = lib.store.counts().await.unwrap();
    let (stop, rx) = watch::channel(false);
    let running =
        Running { stop, tasks: vec![tokio::spawn(smtp::run(smtp_config(&format!("hub-{n}@cncert.tongbao.test")), lib.store.clone(), rx))] };
    wait_for("the row leaves the queue", Duration::from_secs(30), async || lib.outbox(email_pending()).await.is_empty()).await;
    let after = lib.store.counts().await.unwrap();
    assert_eq!(after.audit, before.audit + 1, "one outbox.failed audit entry");
    running.stop().await;
}

/// The monthly digest and a batch of non-urgent notices, from party rows through the fan-out and
/// the SMTP sink into Postfix, read back from Dovecot over IMAP.
async fn the_monthly_digest_and_a_notice_batch_reach_the_bureaus_mailboxes(backend: Backend) {
    use calamine::Reader;
    use mail_parser::MimeHeaders;
    let _turn = MAIL.lock().await;
    let n = nonce();
    let hub = format!("hub-{n}@cncert.tongbao.test");
    let (csb, bureau, cert) =
        (format!("duty-{n}@csb.tongbao.test"), format!("wa-{n}@gdca.tongbao.test"), format!("duty-{n}@cert.tongbao.test"));
    let lib = Lib::on(backend).await;
    let units = authorities(&csb, &bureau, &cert, "");
    lib.store.import_units(&units, chrono::Utc::now()).await.unwrap();

    // September: an event of each of two grades and two level-4 (blue) warnings, which go to
    // CNCERT copying the Guangdong bureau within 5 working days: not urgent, so batched.
    let warning = |i: u32, at: &str| {
        serde_json::json!({"kind": "warning", "discovered_at": at, "category": "vulnerability", "level": 4, "provinces": ["GD"],
            "content": {"description": format!("某路由器漏洞 <{i}>"), "potential_harm": "远程执行", "affected_scope": "部分用户",
                        "aware_parties": "本单位", "recommendations": "升级"}})
    };
    for (json, at) in [
        (crate::helpers::event("general", "2026-09-03T10:00:00+08:00"), "2026-09-03T11:00:00+08:00"),
        (crate::helpers::event("large", "2026-09-10T10:00:00+08:00"), "2026-09-10T11:00:00+08:00"),
        (warning(1, "2026-09-15T10:00:00+08:00"), "2026-09-15T11:00:00+08:00"),
        (warning(2, "2026-09-16T10:00:00+08:00"), "2026-09-16T11:00:00+08:00"),
    ] {
        let r = lib.submit("CT-GD", json, at).await;
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }
    let now = chrono::Utc::now();
    let (sent, digest) = tongbao::schedule::send_digest(&*lib.store, "2026-09".parse().unwrap(), now).await.unwrap();
    assert!(sent);
    assert_eq!(digest.total, 4);
    tongbao::fanout::expand_once(&*lib.store, now, true).await.unwrap();

    let (stop, rx) = watch::channel(false);
    let running = Running { stop, tasks: vec![tokio::spawn(smtp::run(smtp_config(&hub), lib.store.clone(), rx))] };
    wait_for("the digest and the batch at the bureau", Duration::from_secs(60), async || imap_folder(&bureau, "INBOX").await.len() >= 2)
        .await;
    wait_for("the digest at CSB", Duration::from_secs(60), async || !imap_folder(&csb, "INBOX").await.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    running.stop().await;

    let parse = |raw: &[u8]| mail_parser::MessageParser::default().parse(raw).unwrap().into_owned();
    let at_bureau: Vec<_> = imap_folder(&bureau, "INBOX").await.iter().map(|r| parse(r)).collect();
    // The large event went to the bureau at once (4 hours); the rest is the digest and one batch.
    let subjects: Vec<&str> = at_bureau.iter().map(|m| m.subject().unwrap()).collect();
    let digest_mail = at_bureau.iter().find(|m| m.subject() == Some("【月度通报】2026-09 网络安全信息通报")).expect("digest");
    let batch = at_bureau.iter().find(|m| m.subject() == Some("【通报汇总】2 条通知")).unwrap_or_else(|| panic!("batch in {subjects:?}"));

    let text = digest_mail.body_text(0).unwrap();
    assert!(text.contains("2026-09"), "{text}");
    let html = digest_mail.body_html(0).unwrap();
    assert!(html.contains("cid:digest-chart"), "the chart is inline: {html}");
    let png = digest_mail.parts.iter().find(|p| p.content_type().is_some_and(|c| c.c_type == "image")).expect("a PNG part");
    assert!(png.contents().starts_with(b"\x89PNG\r\n\x1a\n"));
    let xlsx = digest_mail.attachments().find(|a| a.attachment_name().is_some_and(|n| n.ends_with(".xlsx"))).expect("the workbook");
    assert_eq!(xlsx.attachment_name(), Some("网络安全信息月度通报-2026-09.xlsx"));
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.contents().to_vec())).unwrap();
    let overview = wb.worksheet_range("概览").unwrap();
    assert_eq!(overview.get_value((2, 0)).unwrap().to_string(), "本月报告总数");
    assert_eq!(overview.get_value((2, 1)).unwrap().to_string(), "4");

    // The batch lists both warnings; text from reports is escaped in the HTML part.
    let batch_text = batch.body_text(0).unwrap();
    assert!(batch_text.contains("某路由器漏洞 <1>") && batch_text.contains("某路由器漏洞 <2>"), "{batch_text}");
    let batch_html = batch.body_html(0).unwrap();
    assert!(batch_html.contains("某路由器漏洞 &lt;1&gt;"), "{batch_html}");
    assert!(!batch_html.contains("<1>"));

    let at_csb: Vec<_> = imap_folder(&csb, "INBOX").await.iter().map(|r| parse(r)).collect();
    assert!(at_csb.iter().any(|m| m.subject() == Some("【月度通报】2026-09 网络安全信息通报")));
    // Nothing is sent twice: the digest of September is recorded as sent.
    let (again, _) = tongbao::schedule::send_digest(&*lib.store, "2026-09".parse().unwrap(), now).await.unwrap();
    assert!(!again);
}

/// What a receipt mail says, rendered as the SMTP sink renders it: Beijing times, how late a
/// deadline already is, where each report came from, its C&C, what was left out, and the blank
/// form attached when a sheet could not be read as one.
async fn a_receipt_mail_says_where_each_report_came_from_and_attaches_the_blank_form_it_points_to(backend: Backend) {
    let lib = Lib::on(backend).await;
    let env = tongbao::templates::environment();
    // A botnet found yesterday morning and reported now: its 2-hour report is long overdue.
    let form = std::fs::read(format!("{}/tests/fixtures/forms/corpus/botnet-01-one-row-per-cc.xlsx", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let at: chrono::DateTime<chrono::Utc> = "2026-09-26T03:00:00Z".parse().unwrap();
    let sub = Submission::by_content(Channel::Email, Sender::Unit("CT-GD".parse().unwrap()), form.clone(), at);
    let (items, notes) = tongbao::forms::parse_with_notes(&form, "僵尸网络.xlsx", at, &Default::default());
    let receipt =
        lib.intake.submit_parsed(tongbao::decision::Parsed { notes, ..tongbao::decision::Parsed::new(sub, items) }).await.unwrap();
    let mail = tongbao::connectors::mail::compose::receipt(&env, &receipt, "僵尸网络事件报送").unwrap();
    assert!(mail.text.contains("（北京时间）"), "{}", mail.text);
    assert!(mail.text.contains("来自 木马和僵尸网络!第4行"), "{}", mail.text);
    assert!(mail.text.contains("控制端：203.0.113."), "{}", mail.text);
    assert!(mail.text.contains("【已逾期 "), "a deadline already past says by how much: {}", mail.text);
    assert!(mail.text.contains("未识别的列“序号”"), "{}", mail.text);
    assert!(mail.attachments.is_empty());

    // A file with no form in it: the blank forms come with the receipt.
    let junk = b"name,age\nzhang,30\n".to_vec();
    let sub = Submission::by_content(Channel::Email, Sender::Unit("CT-GD".parse().unwrap()), junk.clone(), at);
    let items = tongbao::forms::parse(&junk, "名单.csv", at, &Default::default());
    let refused = lib.intake.submit_parsed(tongbao::decision::Parsed::new(sub, items)).await.unwrap();
    let mail = tongbao::connectors::mail::compose::receipt(&env, &refused, "报送").unwrap();
    assert_eq!(mail.attachments.len(), tongbao::forms::spec::all().len(), "every blank form");
    assert!(mail.text.contains("附件为空白报送表"), "{}", mail.text);
    let message = tongbao::connectors::mail::compose::message(
        &"通报中心 <hub@cncert.tongbao.test>".parse().unwrap(),
        "soc@ct-gd.tongbao.test",
        tongbao::model::OutboxId::new(),
        mail,
        &Default::default(),
    )
    .unwrap();
    let raw = message.formatted();
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(parsed.attachments().count(), tongbao::forms::spec::all().len());
}

/// A forwarded report carries what the articles list, and the unit's name.
async fn forwarded_notices_carry_the_particulars_the_articles_list(backend: Backend) {
    let lib = Lib::on(backend).await;
    let env = tongbao::templates::environment();
    let ev = lib.submit("CT-GD", super::helpers::event("major", "2026-09-23 10:00"), "2026-09-23T02:10:00Z").await;
    let bn = lib.submit("CT-GD", super::helpers::botnet(600_000, &[], "2026-09-23 10:00"), "2026-09-23T02:20:00Z").await;
    // The rows intake queued for CSB and the bureau carry the same lines a batched mail shows.
    let rows: Vec<(String,)> = lib
        .outbox(OutboxFilter {
            kind: Some(OutboxKind::Notice),
            channel: Some(OutboxChannel::Party),
            subject_id: Some(ev.reports[0].report_id.to_string()),
            ..Default::default()
        })
        .await
        .into_iter()
        .map(|r| (r.payload.to_string(),))
        .collect();
    assert!(!rows.is_empty());
    for label in [
        "事件发生单位概况",
        "事件发生时间",
        "事件简要经过",
        "初步估计的危害和影响",
        "已采取的措施",
        "其他应当报告的情况",
        "中国电信股份有限公司广东分公司",
    ] {
        assert!(rows[0].0.contains(label), "Art. 14's items and the unit's name: {label} in {}", rows[0].0);
    }
    let payload: serde_json::Value = serde_json::from_str(&rows[0].0).unwrap();
    let stored = lib.store.report(bn.reports[0].report_id, None).await.unwrap().unwrap();
    let mail = tongbao::connectors::mail::compose::notice(&env, &stored, "通信保障局", &payload).unwrap();
    for part in [
        "控制端：IP 203.0.113.7 端口 6667",
        "发现时间 2026-09-23 10:00",
        "规模 600000",
        "所属基础电信运营企业：中国电信股份有限公司广东分公司",
        "（北京时间）",
    ] {
        assert!(mail.text.contains(part), "Art. 8 [僵尸机制]: {part} in {}", mail.text);
    }
    assert!(mail.text.contains("中国电信股份有限公司广东分公司（CT-GD）"), "{}", mail.text);
}

/// The whole corpus of hand-made forms mailed through Postfix into Dovecot, read by the IMAP
/// source, stored, and answered: one receipt per mail in each unit's own mailbox.
async fn the_corpus_of_hand_made_forms_goes_through_postfix_and_dovecot(backend: Backend) {
    let _turn = MAIL.lock().await;
    let n = nonce();
    let hub = format!("hub-{n}@cncert.tongbao.test");
    let dir = format!("{}/tests/fixtures/forms/corpus", env!("CARGO_MANIFEST_DIR"));
    let cases: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/expected.json")).unwrap()).unwrap();
    let lib = Lib::on(backend).await;
    let address = |unit: &str| format!("soc-{n}@{}.tongbao.test", unit.to_lowercase());
    let mut units = units_from_toml(super::helpers::UNITS_TOML);
    for u in &mut units {
        u.contacts.push(tongbao::model::Contact {
            role: tongbao::model::ContactRole::Contact,
            name: "值班".into(),
            phone: None,
            email: Some(address(u.code.as_str()).parse().unwrap()),
        });
    }
    lib.store.import_units(&units, chrono::Utc::now()).await.unwrap();
    let (stop, rx) = watch::channel(false);
    let tasks = vec![
        tokio::spawn(source::run_imap(source_config(), account(&hub), lib.intake.clone(), lease(&lib, &hub), rx.clone())),
        tokio::spawn(smtp::run(smtp_config(&hub), lib.store.clone(), rx)),
    ];
    let running = Running { stop, tasks };
    let mut sent_by: std::collections::BTreeMap<String, usize> = Default::default();
    let mut expected_reports = 0;
    // A contact update makes its new contacts the unit's only voices (Art. 21): it is sent once
    // every other mail is answered, or the mails after it would come from an address that no
    // longer speaks for the unit.
    let (contacts, others): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
        cases.iter().partition(|c| c["file"].as_str().is_some_and(|f| f.starts_with("contact")));
    for round in [others, contacts] {
        for case in round {
            let unit = case["unit"].as_str().unwrap();
            let file = case["file"].as_str().unwrap();
            let eml = format!("{dir}/mail/{}.eml", file.rsplit_once('.').unwrap().0);
            let generic = format!("soc@{}.tongbao.test", unit.to_lowercase());
            let raw = replace(&std::fs::read(&eml).unwrap(), generic.as_bytes(), address(unit).as_bytes());
            send_raw(&address(unit), &hub, &raw).await;
            *sent_by.entry(unit.to_string()).or_default() += 1;
            expected_reports += case["reports"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| !matches!(r["fields"]["kind"].as_str(), Some("disposal_feedback" | "verification")))
                .count();
        }
        let answered = async || {
            let mut all = true;
            for (unit, count) in &sent_by {
                all &= imap_folder(&address(unit), "INBOX").await.len() >= *count;
            }
            all
        };
        let deadline = Instant::now() + Duration::from_secs(180);
        while !answered().await {
            if Instant::now() > deadline {
                let mut rows = std::collections::BTreeMap::<(String, String), (usize, Option<String>)>::new();
                for r in lib.outbox(OutboxFilter { channel: Some(OutboxChannel::Email), ..Default::default() }).await {
                    let row = rows.entry((r.kind, r.status)).or_default();
                    row.0 += 1;
                    row.1 = row.1.take().max(r.last_error);
                }
                panic!("timed out waiting for one receipt per mail ({sent_by:?}); e-mail outbox: {rows:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    assert_eq!(lib.store.counts().await.unwrap().submissions as usize, cases.len());
    assert_eq!(lib.store.counts().await.unwrap().reports as usize, expected_reports, "every report the corpus holds, none twice");
    assert!(imap_folder(&hub, "Quarantine").await.is_empty(), "every sender is a registered contact");
    // The bad grade of event-05 is named by attachment, sheet and cell in its receipt.
    let receipts = imap_folder(&address("CT-GD"), "INBOX").await;
    let texts: Vec<String> =
        receipts.iter().filter_map(|r| mail_parser::MessageParser::default().parse(r)?.body_text(0).map(|t| t.into_owned())).collect();
    assert!(texts.iter().any(|t| t.contains("事件信息!D5（事件分级）") && t.contains("部分受理")), "{texts:#?}");
    running.stop().await;
}

/// Art. 8(三), 9 [僵尸机制]: the duties the hub performs for CNCERT are met when their notices are
/// delivered. An urgent botnet event driven through its whole loop — reported, notified,
/// fed back, verified — leaves no duty of CNCERT's missed, so CSB hears of no 漏报 by CNCERT.
async fn an_urgent_botnet_loop_leaves_no_duty_of_cncerts_missed(backend: Backend) {
    use tongbao::model::{Duty, ObligationStatus};
    use tongbao::store::ObligationFilter;
    let _turn = MAIL.lock().await;
    let n = nonce();
    let hub = format!("hub-{n}@cncert.tongbao.test");
    let ownership = tongbao::rules::ownership::Ownership::from_toml("[[prefix]]\ncidr = \"203.0.113.0/24\"\nunit = \"ISP-X\"\n").unwrap();
    let engine = std::sync::Arc::new(tongbao::decision::Engine {
        calendar: tongbao::rules::Calendar::builtin(),
        policy: Default::default(),
        ownership,
    });
    let lib = Lib::with_engine_on(engine.clone(), backend).await;
    let units = authorities(
        &format!("duty-{n}@csb.tongbao.test"),
        &format!("wa-{n}@gdca.tongbao.test"),
        &format!("duty-{n}@cert.tongbao.test"),
        &format!(
            "[[units]]\ncode = \"ISP-X\"\nname = \"某省级运营商\"\ntype = \"basic_telecom_provincial\"\nprovince = \"GD\"\n\
             contacts = [{{ role = \"contact\", name = \"孙七\", email = \"soc-{n}@ispx.tongbao.test\" }}]\n"
        ),
    );
    lib.store.import_units(&units, chrono::Utc::now()).await.unwrap();
    let now = chrono::Utc::now();
    let at = |minutes: i64| (now - chrono::Duration::minutes(3) + chrono::Duration::minutes(minutes)).to_rfc3339();
    // CT-GD found a large botnet whose C&C is in ISP-X's network and reports it.
    let found = (now - chrono::Duration::minutes(10)).to_rfc3339();
    let r = lib.submit("CT-GD", super::helpers::botnet(200_000, &[], &found), &at(0)).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let event = r.reports[0].report_id;
    // ISP-X feeds back; CT-GD verifies.
    let feedback = serde_json::json!({"kind": "disposal_feedback", "content": {"notice_ref": event.to_string(), "unit_name": "某省级运营商",
        "disposed": ["203.0.113.7"]}});
    assert!(lib.submit("ISP-X", feedback, &at(1)).await.errors.is_empty());
    let verification = serde_json::json!({"kind": "verification", "content": {"notice_ref": event.to_string(),
        "results": [{"target": "203.0.113.7", "still_malicious": false}]}});
    assert!(lib.submit("CT-GD", verification, &at(2)).await.errors.is_empty());

    let cncerts = async || {
        lib.store
            .obligations(&ObligationFilter { report: Some(event), limit: 100, ..Default::default() })
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.actor.to_string() == "cncert")
            .collect::<Vec<_>>()
    };
    let duties: Vec<Duty> = cncerts().await.iter().map(|o| o.duty).collect();
    assert!(duties.contains(&Duty::CncertReport) && duties.contains(&Duty::DisposalResult), "{duties:?}");

    // The hub's notices go out: fanned out to CSB's and the bureau's mailboxes, through Postfix.
    let (stop, rx) = watch::channel(false);
    let running = Running { stop, tasks: vec![tokio::spawn(smtp::run(smtp_config(&hub), lib.store.clone(), rx))] };
    tongbao::fanout::expand_once(&*lib.store, chrono::Utc::now(), true).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cncerts().await.iter().all(|o| o.status == ObligationStatus::Met) {
        if Instant::now() > deadline {
            let rows: Vec<_> = lib
                .outbox(OutboxFilter::default())
                .await
                .into_iter()
                .map(|r| (r.created_at, r.kind, r.channel, r.recipient, r.status, r.last_error))
                .collect();
            panic!(
                "CNCERT's duties not met by delivery: {:#?}\noutbox: {rows:#?}",
                cncerts().await.iter().map(|o| (o.duty, o.status)).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    running.stop().await;
    let csb_mail = imap_folder(&format!("duty-{n}@csb.tongbao.test"), "INBOX").await;
    let texts: Vec<String> =
        csb_mail.iter().filter_map(|r| mail_parser::MessageParser::default().parse(r)?.subject().map(str::to_string)).collect();
    assert!(texts.iter().any(|s| s.contains("【CNCERT报告】")) && texts.iter().any(|s| s.contains("【处置结果】")), "{texts:?}");

    // A day later the deadline scan finds nothing of CNCERT's open, so nothing to call 漏报.
    let mut s = tongbao::schedule::Scheduler::new(lib.store.clone(), engine, Default::default(), 180).unwrap();
    s.tick(now + chrono::Duration::days(1)).await;
    assert!(cncerts().await.iter().all(|o| o.status == ObligationStatus::Met), "{:?}", cncerts().await);
    let alerts: Vec<(String,)> = lib
        .outbox(OutboxFilter { kind: Some(OutboxKind::Alert), recipient: Some("csb".into()), ..Default::default() })
        .await
        .into_iter()
        .map(|r| (r.payload.to_string(),))
        .collect();
    assert!(alerts.iter().all(|(p,)| !p.contains("CNCERT")), "no 漏报 of CNCERT's reaches CSB: {alerts:?}");
}

/// Art. 11 [僵尸机制]: the appeals mailbox takes users' mails, written by an ordinary mail
/// program (here Python's email package, GBK and UTF-8 as Chinese clients send them): each
/// names its targets in the subject or text and is lodged and acknowledged; a mail naming no
/// address or domain is quarantined with no reply, so the address bounces nothing at anyone.
async fn the_appeals_mailbox_lodges_users_mails_and_answers_no_spam(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ownership = tongbao::rules::ownership::Ownership::from_toml(
        "[[prefix]]\ncidr = \"203.0.113.0/24\"\nunit = \"CT-GD\"\n[[domain]]\nsuffix = \"example.net\"\nunit = \"IDC-BJ\"\n",
    )
    .unwrap();
    let engine = std::sync::Arc::new(tongbao::decision::Engine {
        calendar: tongbao::rules::Calendar::builtin(),
        policy: Default::default(),
        ownership,
    });
    let lib = Lib::with_engine_on(engine, backend).await;
    let mut maildir = Maildir::open(dir.path().join("Maildir"), Folders::default()).unwrap();
    let script = r#"
import sys, email.message, email.policy, email.utils
from email.header import Header
out = sys.argv[1]
def write(name, sender, subject, body, charset):
    m = email.message.EmailMessage(policy=email.policy.compat32)
    m["From"] = sender
    m["To"] = "appeals@cncert.tongbao.test"
    m["Subject"] = Header(subject, charset)
    m["Date"] = email.utils.formatdate()
    m["Message-ID"] = email.utils.make_msgid()
    m.set_payload(body.encode(charset), charset)
    open(f"{out}/{name}", "wb").write(m.as_bytes())
write("1.M1.hub", "=?gbk?b?1cXI/Q==?= <zhang@example.org>", "申诉：203.0.113.7 被封堵", "您好，\n我家宽带 203.0.113.7 被限制访问，木马已清除，请恢复。\n", "gbk")
write("2.M2.hub", "li@example.org", "域名 shop.example.net 被停止解析", "网站已整改，请恢复解析。\n李四 www.example.org", "utf-8")
write("3.M3.hub", "promo@spam.example", "优惠大促销", "点击领取 http://spam.example/x", "utf-8")
"#;
    let python = std::env::var("TONGBAO_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python).args(["-c", script]).arg(dir.path().join("Maildir/new")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let config = source::SourceConfig { purpose: tongbao::config::MailPurpose::UserAppeals, ..source_config() };
    let (_stop, rx) = watch::channel(false);
    assert_eq!(source::drain(&config, &mut maildir, &lib.intake, &rx).await.unwrap(), 3);
    assert_eq!(std::fs::read_dir(dir.path().join("Maildir/.Processed/cur")).unwrap().count(), 2);
    assert_eq!(std::fs::read_dir(dir.path().join("Maildir/.Quarantine/cur")).unwrap().count(), 1);

    // A From address without DKIM proves nothing: each sender is asked to confirm, with a fixed
    // text and a link, and the appeal is lodged when the link is followed.
    assert!(lib.store.user_appeals(None, true, 10).await.unwrap().is_empty());
    let confirmations = lib.outbox(OutboxFilter { channel: Some(OutboxChannel::Email), ..Default::default() }).await;
    let mut asked: Vec<String> = confirmations.iter().map(|r| r.recipient.clone()).collect();
    asked.sort();
    assert_eq!(asked, ["li@example.org", "zhang@example.org"], "no reply to the mail that is no appeal");
    for mail in &confirmations {
        let text = mail.payload.to_string();
        assert!(text.contains("【申诉确认】") && !text.contains("203.0.113.7") && !text.contains("shop.example.net"), "{text}");
        let secret = text.split("/appeal/confirm/").nth(1).and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next()).unwrap();
        assert!(lib.intake.confirm_appeal(secret.to_string()).await.unwrap().is_some());
    }

    let appeals = lib.store.user_appeals(None, true, 10).await.unwrap();
    let mut seen: Vec<(String, String, Vec<String>)> = appeals
        .iter()
        .map(|a| {
            let a = &a.appeal;
            (a.email.as_ref().unwrap().as_str().to_string(), a.targets_zh(), a.units.iter().map(ToString::to_string).collect())
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("li@example.org".to_string(), "shop.example.net".to_string(), vec!["IDC-BJ".to_string()]),
            ("zhang@example.org".to_string(), "203.0.113.7".to_string(), vec!["CT-GD".to_string()]),
        ],
        "the sender's own domain in the text is no target"
    );
    assert!(appeals.iter().any(|a| a.appeal.name == "张三"), "the GBK display name is read");
    let mut acks: Vec<String> = lib
        .outbox(OutboxFilter { channel: Some(OutboxChannel::Email), ..Default::default() })
        .await
        .into_iter()
        .filter(|r| r.payload.to_string().contains("【申诉已受理】"))
        .map(|r| r.recipient)
        .collect();
    acks.sort();
    assert_eq!(acks, ["li@example.org", "zhang@example.org"], "each confirmed appeal is acknowledged");
}

/// The standing hostile corpus of mails (`tests/hostile/mail-cases.json`, written with Python's
/// email package by `tests/hostile/make_mail.py`): each is refused at its exact place with its
/// code, quarantined when there is nobody to answer, or accepted; a good mail goes through
/// after every one.
async fn the_hostile_mail_corpus_is_answered_case_by_case_and_the_hub_stays_up(backend: Backend) {
    let lib = Lib::on(backend).await;
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile/mail-cases.json");
    let corpus: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let limits = MailLimits { max_mail_bytes: 32 << 10, max_unzipped_bytes: 4 << 20, ..Default::default() };
    let mut failures = Vec::new();
    for (n, c) in corpus["cases"].as_array().unwrap().iter().enumerate() {
        let name = c["name"].as_str().unwrap();
        let raw = decode_base64(c["base64"].as_str().unwrap());
        let answer = c["answer"].as_str();
        match source::prepare(raw, &limits, false, &["hub@cncert.example.cn".to_string()]) {
            Err(why) => {
                if answer != Some("quarantine") {
                    failures.push(format!("{name}: quarantined ({why})"));
                }
            }
            Ok(parsed) if answer == Some("quarantine") => failures.push(format!("{name}: reached intake ({:?})", parsed.items.is_ok())),
            Ok(parsed) => {
                let r = lib.intake.submit_parsed(parsed).await.expect("stored");
                if answer == Some("accepted") && r.outcome != tongbao::model::Outcome::Accepted {
                    failures.push(format!("{name}: {:?} {:?}", r.outcome, r.errors));
                }
                for e in c["expected"].as_array().unwrap() {
                    let (code, place) = (e["code"].as_str().unwrap(), e["place"].as_str().unwrap());
                    let found = r.errors.iter().any(|got| {
                        got.code.to_string() == code
                            && if place.ends_with('第') { got.place.starts_with(place) } else { got.place == place }
                    });
                    if !found {
                        let got: Vec<String> = r.errors.iter().map(|e| format!("{} at {:?}", e.code, e.place)).collect();
                        failures.push(format!("{name}: expected {code} at {place:?}, got {got:?}"));
                    }
                }
            }
        }
        // A good mail from CT-GD's contact goes through after every hostile one.
        let good = emailed_report("soc@gd.example.cn", &format!("2026-09-22T10:{:02}:00+08:00", n % 60));
        assert_eq!(lib.intake.submit(good).await.unwrap().outcome, tongbao::model::Outcome::Accepted, "after {name}");
    }
    assert!(failures.is_empty(), "{} cases answered otherwise:\n{}", failures.len(), failures.join("\n"));
}

fn decode_base64(s: &str) -> Vec<u8> {
    use mail_parser::decoders::base64::base64_decode;
    base64_decode(s.as_bytes()).expect("base64")
}

/// Two instances configured with one IMAP mailbox, and the reader SIGKILLed: 300 mails from a
/// unit (written with Python's email package, each with its own JSON form) arrive while two
/// `tongbao serve` processes share one store and one mailbox. The first reads; the second
/// stands by, holding no connection to the mailbox. The first is killed part-way through; the
/// second takes the mailbox over once the first's lease lapses; every mail is filed into
/// Processed and every report stored once (a mail is moved only after its commit; one
/// committed but not moved is read again as a repeat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_reading_the_mailbox_stores_each_mail_once() {
    let _turn = MAIL.lock().await;
    let n = nonce();
    let hub_addr = format!("hub-{n}@cncert.tongbao.test");
    let unit_addr = format!("soc-{n}@ct-gd.tongbao.test");
    let hub = crate::helpers::Hub::new();
    let units = format!(
        "[[units]]\ncode = \"CT-GD\"\nname = \"中国电信广东分公司\"\ntype = \"basic_telecom_provincial\"\nprovince = \"GD\"\n\
         contacts = [{{ role = \"contact\", name = \"李四\", email = \"{unit_addr}\" }}]\n"
    );
    hub.write("units.toml", &units);
    assert!(hub.run(&["units", "import", "units.toml"]).status.success());
    // A short lease, so the standby takes over within seconds of the reader's death.
    hub.write("tongbao.toml", "[serve]\nlisten = \"127.0.0.1:0\"\n[schedule]\nenabled = false\n[store]\nlease_seconds = 3\n");
    hub.write(
        "connectors/mail.toml",
        // A few mails at a time, so that the kill lands while most of them still wait.
        "kind = \"imap-source\"\nhost = \"127.0.0.1\"\nport = 143\nsecurity = \"plain\"\nuser_env = \"TONGBAO_DRILL_IMAP_USER\"\npassword_env = \"TONGBAO_DRILL_IMAP_PASSWORD\"\npoll_seconds = 1\nfetch_batch = 4\n",
    );
    const N: usize = 300;
    let script = r#"
import sys, json, email.message, email.utils
sender, to, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for i in range(n):
    m = email.message.EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to, "事件报送 %d" % i
    m["Message-ID"] = email.utils.make_msgid()
    m.set_content("见附件。")
    report = {"kind": "event", "discovered_at": "2026-10-08 10:00", "category": "ddos", "grade": "general", "provinces": ["GD"],
              "content": {"unit_overview": "某IDC", "occurred_at": "2026-10-08 09:00", "summary": "第%d封" % i, "impact": "拥塞", "measures": "清洗"}}
    m.add_attachment(json.dumps(report, ensure_ascii=False).encode(), maintype="application", subtype="json", filename="r%d.json" % i)
    open("%s/%03d.eml" % (out, i), "wb").write(m.as_bytes())
"#;
    let dir = tempfile::tempdir().unwrap();
    let python = std::env::var("TONGBAO_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let made = Command::new(python).args(["-c", script, &unit_addr, &hub_addr]).arg(dir.path()).arg(N.to_string()).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    // SAFETY: set before the hub processes are spawned; no other thread reads these variables.
    unsafe {
        std::env::set_var("TONGBAO_DRILL_IMAP_USER", &hub_addr);
        std::env::set_var("TONGBAO_DRILL_IMAP_PASSWORD", PASSWORD);
    }
    let log = |n: u32| std::fs::read_to_string(hub.path().join(format!("serve-{n}.log"))).unwrap_or_default();
    let (mut reader, _) = crate::drills::start_serve(&hub, 1);
    wait_for("the first instance reading", Duration::from_secs(30), async || log(1).contains("mail source reading IMAP")).await;
    let (standby, _) = crate::drills::start_serve(&hub, 2);
    wait_for("the second instance standing by", Duration::from_secs(30), async || log(2).contains("standing by")).await;

    let mails: Vec<Vec<u8>> = (0..N).map(|i| std::fs::read(dir.path().join(format!("{i:03}.eml"))).unwrap()).collect();
    let (from, to) = (unit_addr.clone(), hub_addr.clone());
    let sending = tokio::spawn(async move {
        for raw in mails {
            send_raw(&from, &to, &raw).await;
        }
    });
    let reports = || hub.report_summaries();
    wait_for("the first reports", Duration::from_secs(60), async || !reports().is_empty()).await;
    reader.kill().unwrap();
    let _ = reader.wait();
    let before = reports().len();
    assert!(before < N, "killed part-way ({before} stored)");
    assert!(!log(2).contains("mail source reading IMAP"), "the standby read nothing while the reader lived:\n{}", log(2));
    sending.await.unwrap();
    wait_for("every mail filed", Duration::from_secs(120), async || imap_folder(&hub_addr, "Processed").await.len() == N).await;
    crate::drills::stop_serve(standby);
    assert!(log(2).contains("lease taken") && log(2).contains("mail source reading IMAP"), "the standby took over:\n{}", log(2));
    let (stored, distinct) = hub.stored_and_distinct();
    assert_eq!((stored, distinct), (N, N), "each mail's report stored once");
    assert!(imap_folder(&hub_addr, "INBOX").await.is_empty());
    eprintln!(
        "drill sigkill/imap: {N} mails, {before} stored when the reader was killed, {stored} stored after the standby took over, 0 lost, 0 twice"
    );
}

/// Dovecot stopped under the IMAP source and started again: mails that arrive meanwhile wait in
/// Postfix's queue, the source reconnects by itself, and every mail is stored once.
async fn an_imap_server_outage_loses_and_duplicates_no_mail(backend: Backend) {
    let _turn = MAIL.lock().await;
    let (hub, unit_addr, lib) = hub_and_unit_mailboxes(backend).await;
    let n = nonce(); // the drill's Message-IDs
    let (stop, rx) = watch::channel(false);
    let running = Running {
        stop,
        tasks: vec![tokio::spawn(source::run_imap(source_config(), account(&hub), lib.intake.clone(), lease(&lib, &hub), rx))],
    };
    let send = async |i: u32| {
        let sub = emailed_report(&unit_addr, &format!("2026-09-22T10:{:02}:00+08:00", i % 60));
        let mut raw =
            format!("From: {unit_addr}\r\nTo: {hub}\r\nSubject: drill {i}\r\nMessage-ID: <drill-{n}-{i}@ct-gd>\r\nMIME-Version: 1.0\r\n")
                .into_bytes();
        raw.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n");
        raw.extend_from_slice(
            format!("Content-Type: application/json\r\nContent-Disposition: attachment; filename=\"r{i}.json\"\r\n\r\n").as_bytes(),
        );
        let mut body: serde_json::Value = serde_json::from_slice(&sub.raw).unwrap();
        body["content"]["summary"] = serde_json::json!(format!("drill {i}"));
        raw.extend_from_slice(body.to_string().as_bytes());
        raw.extend_from_slice(b"\r\n--b--\r\n");
        send_raw(&unit_addr, &hub, &raw).await;
    };
    for i in 0..10 {
        send(i).await;
    }
    wait_for("the first ten", Duration::from_secs(60), async || lib.store.counts().await.unwrap().reports == 10).await;

    let conf = "/etc/tongbao-test/dovecot.conf";
    let stopped = Command::new("dovecot").args(["-c", conf, "stop"]).output().unwrap();
    assert!(stopped.status.success(), "dovecot stop: {}", String::from_utf8_lossy(&stopped.stderr));
    // Dovecot's master daemonises: it must not inherit our pipes, or waiting for them never ends.
    let start =
        move || Command::new("dovecot").args(["-c", conf]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    let _restart = scopeguard(move || {
        let _ = start();
    });
    for i in 10..20 {
        send(i).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(lib.store.counts().await.unwrap().reports, 10, "nothing arrives while Dovecot is down");
    assert!(start().unwrap().success(), "dovecot start");
    // Postfix retries its deferred deliveries at once rather than at its next queue run.
    let _ = Command::new("postqueue").arg("-f").stdout(Stdio::null()).stderr(Stdio::null()).status();
    wait_for("the ten that waited", Duration::from_secs(120), async || lib.store.counts().await.unwrap().reports == 20).await;
    running.stop().await;
    let reports = lib.store.reports(&tongbao::store::ReportFilter { limit: 100, ..Default::default() }).await.unwrap();
    let mut summaries: Vec<String> = reports
        .iter()
        .map(|r| match &r.report.content.body {
            tongbao::model::ReportBody::Event(e) => e.summary.clone(),
            _ => String::new(),
        })
        .collect();
    summaries.sort();
    summaries.dedup();
    assert_eq!(summaries.len(), 20, "each mail stored once");
}

crate::on_both_backends!(
    multi_thread:
    mails_from_foxmail_outlook_and_qq_become_reports_and_receipts_reach_the_sender,
    a_mail_processed_but_not_moved_is_not_stored_twice,
    a_postfix_outage_loses_and_duplicates_no_mail,
    a_recipient_refused_for_good_is_marked_failed_and_audited,
    the_monthly_digest_and_a_notice_batch_reach_the_bureaus_mailboxes,
    a_receipt_mail_says_where_each_report_came_from_and_attaches_the_blank_form_it_points_to,
    forwarded_notices_carry_the_particulars_the_articles_list,
    the_corpus_of_hand_made_forms_goes_through_postfix_and_dovecot,
    an_urgent_botnet_loop_leaves_no_duty_of_cncerts_missed,
    the_appeals_mailbox_lodges_users_mails_and_answers_no_spam,
    the_hostile_mail_corpus_is_answered_case_by_case_and_the_hub_stays_up,
    an_imap_server_outage_loses_and_duplicates_no_mail,
);
