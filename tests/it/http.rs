//! HTTP upload against a real listener on loopback, with curl as the client; each test on SQLite and on PostgreSQL.

use super::helpers::{Backend, Lib, event};
use std::path::Path;
use std::process::Command;
use tongbao::connectors::http::{HttpState, new_token, serve};
use tongbao::model::submission::sha256_hex;
use tongbao::store::Store;

struct Server {
    base: String,
    ct_gd: String,
    idc_bj: String,
    _lib: Lib,
}

async fn server(backend: Backend, max_upload_bytes: usize) -> Server {
    server_with(Lib::on(backend).await, max_upload_bytes).await
}

async fn server_with(lib: Lib, max_upload_bytes: usize) -> Server {
    let mut tokens = Vec::new();
    for unit in ["CT-GD", "IDC-BJ"] {
        let t = new_token();
        lib.store.issue_token(&unit.parse().unwrap(), &sha256_hex(t.as_bytes()), chrono::Utc::now()).await.unwrap();
        tokens.push(t);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = HttpState::new(lib.store.clone(), lib.intake.clone(), max_upload_bytes);
    tokio::spawn(async move { serve(listener, state, std::future::pending()).await.unwrap() });
    Server { base, ct_gd: tokens.remove(0), idc_bj: tokens.remove(0), _lib: lib }
}

/// Runs curl; returns the status code and the body.
async fn curl(args: Vec<String>) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}"]).args(&args).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    })
    .await
    .unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/forms").join(name).display().to_string()
}

async fn uploads_are_authenticated_by_token_and_receipts_stay_with_their_unit(backend: Backend) {
    let srv = server(backend, 64 << 20).await;
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("r.json");
    std::fs::write(&body, event("major", "2026-10-01T23:30:00+08:00").to_string()).unwrap();
    let url = format!("{}/api/v1/submissions", srv.base);
    let json_upload = |token: &str| {
        s(&[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", body.display()),
            &url,
        ])
    };

    let (code, text) = curl(json_upload(&srv.ct_gd)).await;
    assert_eq!(code, 201, "{text}");
    let receipt: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(receipt["outcome"], "accepted");
    let id = receipt["submission_id"].as_str().unwrap().to_string();

    let (code, text) = curl(json_upload(&srv.ct_gd)).await;
    assert_eq!(code, 200, "the same upload again: the stored receipt");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap()["duplicate"], true);

    assert_eq!(curl(json_upload("tb_wrong")).await.0, 401);
    assert_eq!(curl(s(&["-H", "Content-Type: application/json", "--data-binary", "{}", &url])).await.0, 401);
    let mut foreign = json_upload(&srv.ct_gd);
    foreign.splice(0..0, s(&["-H", "X-Tongbao-Unit: IDC-BJ"]));
    assert_eq!(curl(foreign).await.0, 403, "a token speaks only for its own unit");

    let get = |token: &str| s(&["-H", &format!("Authorization: Bearer {token}"), &format!("{url}/{id}")]);
    let (code, text) = curl(get(&srv.ct_gd)).await;
    assert_eq!((code, serde_json::from_str::<serde_json::Value>(&text).unwrap()["submission_id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(curl(get(&srv.idc_bj)).await.0, 404, "another unit's receipt is not found, not forbidden: nothing leaks");

    // The scheme is case-insensitive (RFC 7235), and a body saved with a UTF-8 BOM is read.
    let lower = s(&["-H", &format!("authorization: bearer {}", srv.ct_gd), &format!("{url}/{id}")]);
    assert_eq!(curl(lower).await.0, 200);
    let bom = dir.path().join("bom.json");
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend(event("major", "2026-10-02T09:30:00+08:00").to_string().as_bytes());
    std::fs::write(&bom, bytes).unwrap();
    let mut with_bom = json_upload(&srv.ct_gd);
    let at = with_bom.iter().position(|a| a.starts_with('@')).unwrap();
    with_bom[at] = format!("@{}", bom.display());
    let (code, text) = curl(with_bom).await;
    assert_eq!(code, 201, "{text}");

    // A revoked token is refused at once, with the same answer as a wrong one.
    let revoked = srv._lib.store.revoke_tokens(&"CT-GD".parse().unwrap(), None, chrono::Utc::now()).await.unwrap();
    assert_eq!(revoked, 1);
    assert_eq!(curl(get(&srv.ct_gd)).await.0, 401, "revoked: refused on the next request");
    assert_eq!(curl(get(&srv.idc_bj)).await.0, 404, "another unit's token still works");
}

async fn a_spreadsheet_upload_answers_with_cell_errors_and_oversize_gets_413(backend: Backend) {
    let srv = server(backend, 64 << 20).await;
    let url = format!("{}/api/v1/submissions", srv.base);
    let (code, text) =
        curl(s(&["-H", &format!("Authorization: Bearer {}", srv.ct_gd), "-F", &format!("file=@{}", fixture("event-filled.xlsx")), &url]))
            .await;
    assert_eq!(code, 201, "{text}");
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["outcome"], "partly_accepted");
    assert_eq!(r["errors"][1]["place"], "事件表!B7");

    let (code, text) =
        curl(s(&["-H", &format!("Authorization: Bearer {}", srv.ct_gd), "-F", "file=@/dev/null;filename=empty.csv", &url])).await;
    assert_eq!(code, 400, "{text}");

    let small = server(backend, 8 * 1024).await;
    let big = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(big.path(), vec![b'x'; 200 * 1024]).unwrap();
    let url = format!("{}/api/v1/submissions", small.base);
    let (code, _) = curl(s(&[
        "-H",
        &format!("Authorization: Bearer {}", small.ct_gd),
        "-F",
        &format!("file=@{};filename=big.csv", big.path().display()),
        &url,
    ]))
    .await;
    assert_eq!(code, 413);
    let (code, _) = curl(s(&[
        "-H",
        &format!("Authorization: Bearer {}", small.ct_gd),
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", big.path().display()),
        &url,
    ]))
    .await;
    assert_eq!(code, 413);

    // Every refusal at the edge is in the house format, in Chinese: the size limit named,
    // a broken multipart body described.
    let (code, text) = curl(s(&[
        "-H",
        &format!("Authorization: Bearer {}", small.ct_gd),
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", big.path().display()),
        &url,
    ]))
    .await;
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!((code, v["error"].as_str()), (413, Some("too_large")));
    assert!(v["message"].as_str().unwrap().contains("8 KB"), "the limit named: {v}");
    let (code, text) = curl(s(&[
        "-H",
        &format!("Authorization: Bearer {}", small.ct_gd),
        "-H",
        "Content-Type: multipart/form-data; boundary=XYZ",
        "--data-binary",
        "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nno end",
        &url,
    ]))
    .await;
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!((code, v["error"].as_str()), (400, Some("bad_upload")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("multipart/form-data"), "{v}");

    // The upload page checks the token, sent before the file, before reading the file (a
    // file declared over the limit is refused even before that, by its length).
    let page = format!("{}/upload", small.base);
    let within = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(within.path(), vec![b'x'; 6 * 1024]).unwrap();
    let (code, html) = curl(s(&["-F", "token=tb_wrong", "-F", &format!("file=@{};filename=a.csv", within.path().display()), &page])).await;
    assert_eq!(code, 401, "a wrong token is refused: {html}");
    let (code, _) = curl(s(&["-F", "token=tb_wrong", "-F", &format!("file=@{};filename=big.csv", big.path().display()), &page])).await;
    assert_eq!(code, 413, "declared over the limit: refused by its length");
}

async fn the_upload_page_works_without_javascript_and_escapes_what_it_shows(backend: Backend) {
    let srv = server(backend, 64 << 20).await;
    let (code, page) = curl(s(&[&format!("{}/upload", srv.base)])).await;
    assert_eq!(code, 200);
    assert!(page.contains("上传网络安全信息报送表") && page.contains("enctype=\"multipart/form-data\""));

    let dir = tempfile::tempdir().unwrap();
    let mut bad = event("major", "2026-10-01T23:30:00+08:00");
    bad["grade"] = serde_json::json!("<script>alert(1)</script>");
    let file = dir.path().join("bad.json");
    std::fs::write(&file, bad.to_string()).unwrap();
    let (code, html) =
        curl(s(&["-F", &format!("token={}", srv.ct_gd), "-F", &format!("file=@{}", file.display()), &format!("{}/upload", srv.base)]))
            .await;
    assert_eq!(code, 400);
    assert!(html.contains("bad_grade") && html.contains("&lt;script&gt;"), "{html}");
    assert!(!html.contains("<script>alert(1)</script>"), "markup from an upload is never interpreted");

    // An accepted upload shows its deadlines in Beijing time and its labels in Chinese.
    let good = dir.path().join("good.json");
    std::fs::write(&good, event("major", "2026-10-01T23:30:00+08:00").to_string()).unwrap();
    let (code, html) =
        curl(s(&["-F", &format!("token={}", srv.ct_gd), "-F", &format!("file=@{}", good.display()), &format!("{}/upload", srv.base)]))
            .await;
    assert_eq!(code, 201);
    assert!(html.contains("已受理") && html.contains("重大") && html.contains("报送：2026-10-02 01:30前"), "{html}");

    let (code, html) =
        curl(s(&["-F", "token=tb_wrong", "-F", &format!("file=@{}", file.display()), &format!("{}/upload", srv.base)])).await;
    assert_eq!(code, 401);
    assert!(html.contains("报送令牌无效"), "{html}");
}

async fn the_upload_page_renders_in_a_real_browser(backend: Backend) {
    let chromium = std::env::var("TONGBAO_TEST_CHROMIUM")
        .expect("TONGBAO_TEST_CHROMIUM is not set: run the tests through ./scripts/test, which installs Chromium");
    let srv = server(backend, 64 << 20).await;
    let profile = tempfile::tempdir().unwrap();
    let url = format!("{}/upload", srv.base);
    let args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([format!("--user-data-dir={}", profile.path().display()), "--dump-dom".into(), url])
    .collect();
    let out = tokio::task::spawn_blocking(move || Command::new(chromium).args(args).output().expect("run chromium")).await.unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<form") && dom.contains("name=\"token\"") && dom.contains("type=\"file\""),
        "the browser rendered: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dom.contains("上传网络安全信息报送表"), "Chinese text survives the round trip through the browser");
}

async fn blank_forms_are_downloadable_where_refusals_point_and_read_back_as_their_kind(backend: Backend) {
    let srv = server(backend, 8 << 20).await;
    let (code, page) = curl(s(&[&format!("{}/forms", srv.base)])).await;
    assert_eq!(code, 200);
    assert!(page.contains("/forms/botnet_event.xlsx") && page.contains("木马和僵尸网络事件报送表"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("blank.xlsx");
    let (url, file) = (format!("{}/forms/warning.xlsx", srv.base), out.clone());
    let status = tokio::task::spawn_blocking(move || Command::new("curl").args(["-s", "-f", "-o"]).arg(&file).arg(&url).status().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"PK"), "an xlsx");
    // A blank form holds no rows: read back it is recognised as the warning form, and empty.
    let e = tongbao::forms::parse(&bytes, "blank.xlsx", chrono::Utc::now(), &Default::default()).unwrap_err();
    assert_eq!(e.code, tongbao::model::ErrorCode::EmptyBatch, "{e:?}");
    let (code, _) = curl(s(&[&format!("{}/forms/nonsense.xlsx", srv.base)])).await;
    assert_eq!(code, 404);

    // A sheet without its required columns is refused naming them, pointing at the blank forms.
    let (code, body) = curl(s(&[
        "-H",
        &format!("Authorization: Bearer {}", srv.ct_gd),
        "-F",
        &format!(
            "file=@{}",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/forms/corpus/warning-04-no-level-column.xlsx").display()
        ),
        &format!("{}/api/v1/submissions", srv.base),
    ]))
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("缺少必填列：预警级别") && body.contains("/forms"), "{body}");
    assert!(!body.contains("tongbao forms"), "no error asks a clerk to run a command: {body}");
}

/// A client that trickles its body (a byte every two seconds) gives its connection back: a
/// form (the appeal page) within the forms' short time, any other request once it falls below
/// the minimum body rate, each answered 408 in Chinese instead of holding a slot for the whole
/// five-minute body timeout.
async fn a_trickling_body_gives_its_connection_back(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = server_with(Lib::on(backend).await, 1 << 20).await;
    let addr = srv.base.trim_start_matches("http://").to_string();
    for head in [
        "POST /appeal HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n".to_string(),
        format!(
            "POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
            srv.ct_gd
        ),
    ] {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(head.as_bytes()).await.unwrap();
        let (mut reader, mut writer) = c.into_split();
        let trickle = tokio::spawn(async move {
            for _ in 0..200 {
                if writer.write_all(b"t").await.is_err() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        });
        let mut buf = vec![0u8; 4096];
        // Far less than the 300 s body timeout; without a minimum rate the read would wait it out.
        let n = tokio::time::timeout(std::time::Duration::from_secs(60), reader.read(&mut buf))
            .await
            .expect("answered before the body timeout")
            .unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(answer.starts_with("HTTP/1.1 408"), "{head}: {answer}");
        assert!(answer.contains("too_slow"), "{answer}");
        trickle.abort();
    }
}

/// Art. 11 [僵尸机制]: a user with no account appeals a disposal on a plain page; the unit whose
/// network holds the address and CNCERT each owe an answer; the unit answers through the API
/// with its token, the user is mailed the answer, and both duties close. Another unit can
/// neither see nor answer it, and one contact cannot flood the desk.
async fn a_user_appeals_a_disposal_without_an_account_and_the_disposing_unit_answers(backend: Backend) {
    use tongbao::store::ObligationFilter;
    let ownership = tongbao::rules::ownership::Ownership::from_toml("[[prefix]]\ncidr = \"203.0.113.0/24\"\nunit = \"CT-GD\"\n").unwrap();
    let engine = std::sync::Arc::new(tongbao::decision::Engine {
        calendar: tongbao::rules::Calendar::builtin(),
        policy: Default::default(),
        ownership,
    });
    let srv = server_with(Lib::with_engine_on(engine, backend).await, 1 << 20).await;
    let page = format!("{}/appeal", srv.base);
    let (code, html) = curl(s(&[&page])).await;
    assert_eq!(code, 200);
    assert!(html.contains("<form method=\"post\" action=\"/appeal\">") && html.contains("第十一条"), "{html}");

    let post = |fields: &[(&str, &str)]| {
        let mut args = vec![];
        for (k, v) in fields {
            args.push("--data-urlencode".to_string());
            args.push(format!("{k}={v}"));
        }
        args.push(page.clone());
        args
    };
    // Nothing filled in: each field is named, in Chinese, and nothing is stored.
    let (code, html) = curl(post(&[("target", "not an address!"), ("reason", "<script>x</script>")])).await;
    assert_eq!(code, 400, "{html}");
    for named in ["被处置的 IP 地址或域名", "被处置的情况", "申诉人", "电子邮箱"] {
        assert!(html.contains(named), "the refusal names {named}: {html}");
    }
    assert!(html.contains("&lt;script&gt;x") && !html.contains("<script>x"), "what the user typed comes back escaped");

    let good = [
        ("target", "203.0.113.7"),
        ("disposal", "家庭宽带被限制访问"),
        ("reason", "该地址是我家的路由器，木马已清除"),
        ("name", "张三"),
        ("email", "zhang.san@example.org"),
    ];
    // An address proves nothing until its mailbox answers: the hub mails it a fixed text with a
    // link, nothing the poster wrote, and lodges the appeal only when the link is followed.
    let (code, html) = curl(post(&good)).await;
    assert_eq!(code, 202, "{html}");
    assert!(html.contains("请查收邮件") && html.contains("zhang.san@example.org"), "{html}");
    let lib = &srv._lib;
    assert_eq!(lib.count("SELECT count(*) FROM user_appeals").await, 0, "nothing lodged before the confirmation");
    let mail = lib
        .outbox(tongbao::store::OutboxFilter { recipient: Some("zhang.san@example.org".into()), ..Default::default() })
        .await
        .into_iter()
        .find(|r| r.payload.to_string().contains("【申诉确认】"))
        .expect("a confirmation mail");
    let text = mail.payload.to_string();
    for typed in ["张三", "家庭宽带", "路由器", "203.0.113.7"] {
        assert!(!text.contains(typed), "the confirmation carries nothing the poster typed ({typed}): {text}");
    }
    let secret =
        text.split("/appeal/confirm/").nth(1).and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next()).unwrap().to_string();
    let confirm_url = format!("{}/appeal/confirm/{secret}", srv.base);
    let (code, html) = curl(s(&[&confirm_url])).await;
    assert_eq!(code, 200);
    assert!(
        html.contains("确认提交") && html.contains(&format!("action=\"/appeal/confirm/{secret}\"")),
        "a button, not a lodging GET: {html}"
    );
    assert_eq!(lib.count("SELECT count(*) FROM user_appeals").await, 0, "opening the link lodges nothing (mail scanners open links)");
    let (code, html) = curl(s(&["-X", "POST", &confirm_url])).await;
    assert_eq!(code, 201, "{html}");
    let id =
        html.split("申诉编号：<strong>").nth(1).and_then(|r| r.split('<').next()).expect("the page shows the appeal's number").to_string();
    assert_eq!(curl(s(&["-X", "POST", &confirm_url])).await.0, 404, "a link lodges once");

    let duties: Vec<_> = lib
        .store
        .obligations(&ObligationFilter { limit: 100, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.duty == tongbao::model::Duty::AnswerUserAppeal)
        .collect();
    let mut actors: Vec<String> = duties.iter().map(|o| o.actor.to_string()).collect();
    actors.sort();
    assert_eq!(actors, ["cncert", "unit:CT-GD"], "the unit whose network holds the address, and CNCERT");
    assert!(duties.iter().all(|o| o.basis.code == "botnet-11" && o.deadline.rule == tongbao::model::DeadlineRule::WorkdaysAfter(5)));
    let mut told: Vec<(String, String)> = lib
        .outbox(tongbao::store::OutboxFilter { subject_id: Some(id.to_string()), ..Default::default() })
        .await
        .into_iter()
        .map(|r| (r.channel, r.recipient))
        .collect();
    told.sort();
    assert_eq!(
        told,
        [("email".into(), "zhang.san@example.org".into()), ("party".into(), "cncert".into()), ("party".into(), "unit:CT-GD".into())],
        "the user is acknowledged; the unit and CNCERT are told"
    );

    let api = format!("{}/api/v1/appeals", srv.base);
    let as_unit = |token: &str, extra: &[&str], url: &str| {
        let mut a = s(&["-H", &format!("Authorization: Bearer {token}")]);
        a.extend(s(extra));
        a.push(url.to_string());
        a
    };
    let (code, list) = curl(as_unit(&srv.idc_bj, &[], &api)).await;
    assert_eq!((code, list.trim()), (200, "[]"), "another unit sees none of it");
    let (code, list) = curl(as_unit(&srv.ct_gd, &[], &api)).await;
    assert_eq!(code, 200);
    assert!(list.contains(&id) && list.contains("203.0.113.7"), "{list}");

    let answer_url = format!("{api}/{id}/answer");
    let answer = ["-H", "Content-Type: application/json", "--data", r#"{"answer":"经核查已解除限制，请重启路由器"}"#];
    assert_eq!(curl(as_unit(&srv.idc_bj, &answer, &answer_url)).await.0, 404, "another unit cannot answer it");
    let (code, text) = curl(as_unit(&srv.ct_gd, &answer, &answer_url)).await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(curl(as_unit(&srv.ct_gd, &answer, &answer_url)).await.0, 409, "answered once");
    let huge = serde_json::json!({ "answer": "长".repeat(20_000) }).to_string();
    let (code, text) = curl(as_unit(&srv.ct_gd, &["-H", "Content-Type: application/json", "--data", &huge], &answer_url)).await;
    assert_eq!(code, 413, "an answer over the body limit is too large, not bad JSON: {text}");
    assert!(text.contains("too_large") && text.contains("32 KB"), "{text}");

    let closed = lib.store.obligations(&ObligationFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert!(
        closed
            .iter()
            .filter(|o| o.duty == tongbao::model::Duty::AnswerUserAppeal)
            .all(|o| o.status == tongbao::model::ObligationStatus::Met),
        "one answer meets both duties"
    );
    let mailed: Vec<(String,)> = lib
        .outbox(tongbao::store::OutboxFilter {
            subject_id: Some(id.to_string()),
            recipient: Some("zhang.san@example.org".into()),
            ..Default::default()
        })
        .await
        .into_iter()
        .map(|r| (r.payload.to_string(),))
        .collect();
    assert!(mailed.iter().any(|(p,)| p.contains("经核查已解除限制")), "the answer goes back to the user");

    // One mailbox is mailed three confirmations a day, however its address is written (case,
    // +tag); the fourth request is refused, counted in the store, and nothing is mailed.
    for _ in 0..2 {
        assert_eq!(curl(post(&good)).await.0, 202);
    }
    let mut tagged = good;
    tagged[4] = ("email", "Zhang.San+appeal@Example.ORG");
    let (code, html) = curl(post(&tagged)).await;
    assert_eq!(code, 429, "{html}");
    assert!(html.contains("24 小时内最多申诉 3 次"));
    assert_eq!(lib.count("SELECT count(*) FROM user_appeals").await, 1);
    let confirmations =
        lib.count("SELECT count(*) FROM outbox WHERE recipient LIKE '%example.org' AND CAST(payload AS TEXT) LIKE '%申诉确认%'").await;
    assert_eq!(confirmations, 3);

    // A form far too large for an appeal is 413 naming the limit; a field given twice is named.
    let long = "A".repeat(40_000);
    let (code, html) = curl(post(&[("target", "203.0.113.9"), ("reason", long.as_str())])).await;
    assert_eq!(code, 413, "{html}");
    assert!(html.contains("32 KB"), "{html}");
    let (code, html) = curl(post(&[("target", "203.0.113.9"), ("target", "203.0.113.10")])).await;
    assert_eq!(code, 400);
    assert!(html.contains("只能填写一次"), "{html}");
}

/// A CSV form uploaded under a wrong name (`a.json`) is refused as not JSON; the same bytes
/// under their right name are read as the form they are, not answered with the stale refusal.
async fn the_same_bytes_under_their_right_name_are_read_again(backend: Backend) {
    let srv = server(backend, 64 << 20).await;
    let url = format!("{}/api/v1/submissions", srv.base);
    let csv = fixture("event-gbk.csv");
    let upload =
        |name: &str| s(&["-H", &format!("Authorization: Bearer {}", srv.ct_gd), "-F", &format!("file=@{csv};filename={name}"), &url]);
    let (code, text) = curl(upload("a.json")).await;
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("not_json"), "{text}");
    let (code, text) = curl(upload("event.csv")).await;
    assert_eq!(code, 201, "{text}");
    let (code, text) = curl(upload("event.csv")).await;
    assert_eq!(code, 200, "now a repeat of the accepted upload: {text}");
}

/// The listener's own limits: a client that trickles its headers is cut off after the header
/// timeout (slow-loris), connections beyond the limit are closed on arrival, and an upload
/// beyond the memory held for uploads is answered 503 with Retry-After before its body is read;
/// the hub answers others all along.
async fn slow_clients_and_too_many_uploads_get_limits_not_growth(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lib = Lib::on(backend).await;
    let token = new_token();
    lib.store.issue_token(&"CT-GD".parse().unwrap(), &sha256_hex(token.as_bytes()), chrono::Utc::now()).await.unwrap();
    let limits = tongbao::connectors::http::HttpLimits {
        max_upload_bytes: 1 << 20,
        max_upload_memory_bytes: 2 << 20,
        max_connections: 4,
        max_connections_per_address: 4,
        // Long enough that the four slow clients below still hold their slots when the fifth comes,
        // even on a busy machine.
        header_timeout: std::time::Duration::from_secs(4),
        body_timeout: std::time::Duration::from_secs(5),
        parsers: 1,
        public_url: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = HttpState::with_limits(lib.store.clone(), lib.intake.clone(), limits);
    tokio::spawn(async move { serve(listener, state, std::future::pending()).await.unwrap() });

    // Two uploads declare nearly 1 MiB each and hold it while they send nothing more: 2 KiB
    // of the 2 MiB held for uploads is left.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 1047552\r\n\r\n{{"
        );
        c.write_all(head.as_bytes()).await.unwrap();
        held.push(c);
    }
    // Time for the server to read their headers and take the memory they declare.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let url = format!("http://{addr}/api/v1/submissions");
    let mut body = event("general", "2026-10-08 10:00");
    body["content"]["summary"] = serde_json::json!("攻击".repeat(2000));
    let body = body.to_string();
    let out = Command::new("curl")
        .args([
            "-s",
            "-D",
            "-",
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/json",
            "--data",
            &body,
            &url,
        ])
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 30"), "{answer}");
    assert!(answer.contains("\"busy\""), "{answer}");
    drop(held);

    // Two clients trickle headers; with the two connections above gone, the limit of four
    // leaves room for two more, and the sixth is closed on arrival.
    let mut slow = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while slow.len() < 4 {
        assert!(std::time::Instant::now() < deadline, "the two connections above were never released");
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /upload HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        // Still open after a moment: it waits for the rest of its headers. Closed: the server
        // had not yet let go of the two above (on a busy machine), so try again.
        let mut probe = [0u8; 1];
        match tokio::time::timeout(std::time::Duration::from_millis(200), c.read(&mut probe)).await {
            Err(_) => slow.push(c),
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = extra.write_all(b"GET /upload HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), extra.read(&mut buf)).await.expect("answered");
    let answer = n.map(|n| String::from_utf8_lossy(&buf[..n]).to_string()).unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 503") && answer.contains("Retry-After"), "503 beyond the limit, not a reset: {answer:?}");
    // The header timeout closes the tricklers (hyper answers 408 or just closes).
    for mut c in slow {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(std::time::Duration::from_secs(10), c.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a client that never finishes its headers is cut off");
    }
    let (code, _) = curl(s(&[&format!("http://{addr}/upload")])).await;
    assert_eq!(code, 200, "service goes on");

    // A body declared far over the limit is refused before any of it is read; a body that
    // stalls after its headers is cut off at the body timeout, on any route.
    let mut huge = tokio::net::TcpStream::connect(addr).await.unwrap();
    huge.write_all(
        b"POST /appeal HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 999999999999\r\n\r\nt",
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), huge.read(&mut answer)).await.expect("answered at once").unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 413"), "{}", String::from_utf8_lossy(&answer[..n]));
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"POST /appeal HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000\r\n\r\nt")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let done = tokio::time::timeout(std::time::Duration::from_secs(15), stalled.read_to_end(&mut rest)).await;
    assert!(done.is_ok(), "a stalled body is cut off at the body timeout");
    assert!(String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 408"), "{}", String::from_utf8_lossy(&rest));
}

/// Hostile HTTP requests, written byte by byte as attackers and broken clients send them: each
/// gets the status it must (never a hang, never a 500), and the hub serves a good request after
/// every one.
async fn hostile_http_requests_get_their_status_and_the_hub_stays_up(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = server(backend, 1 << 20).await;
    let addr = srv.base.trim_start_matches("http://").to_string();
    let token = srv.ct_gd.clone();
    let long_header = format!("GET /upload HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(200_000));
    let many_headers = format!("GET /upload HTTP/1.1\r\nHost: x\r\n{}\r\n", (0..500).map(|i| format!("X-{i}: v\r\n")).collect::<String>());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", b"\x00\x01\x02\x03 garbage\r\n\r\n".to_vec(), "400"),
        ("unknown method", b"BREW /upload HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "405"),
        ("HTTP/2 preface over HTTP/1", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), "closed"),
        ("a 200 KB header", long_header.into_bytes(), "431"),
        ("500 headers", many_headers.into_bytes(), "431"),
        ("a bad Content-Length", b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".to_vec(), "400"),
        ("two Content-Lengths", b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(), "400"),
        ("a bad chunk", b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(), "401"),
        ("path traversal in a form name", b"GET /forms/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "404"),
        ("a path out of the tree", b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "404"),
        ("an unknown form", b"GET /forms/%00.xlsx HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "404"),
        ("a receipt id that is no id", format!("GET /api/v1/submissions/'%20OR%201=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n").into_bytes(), "404"),
        ("a token in another scheme", b"GET /api/v1/submissions/x HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dGI6eA==\r\n\r\n".to_vec(), "401"),
        ("a token of control characters", b"GET /api/v1/appeals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x7f\x7f\r\n\r\n".to_vec(), "40"),
        ("JSON that is XML", format!("POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n<a><b>event</b></a> ").into_bytes(), "400"),
        ("an appeal answer that is not JSON", format!("POST /api/v1/appeals/0192f3c4-0000-7000-8000-000000000001/answer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\nabc").into_bytes(), "400"),
        ("a multipart without boundary", format!("POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data\r\nContent-Length: 2\r\n\r\nxx").into_bytes(), "400"),
        ("an appeal in JSON", b"POST /appeal HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".to_vec(), "415"),
    ];
    for (name, raw, status) in cases {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let _ = c.write_all(&raw).await;
        let mut answer = vec![0u8; 256];
        let n = tokio::time::timeout(std::time::Duration::from_secs(15), c.read(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("{name}: no answer"));
        let head = String::from_utf8_lossy(&answer[..n.unwrap_or(0)]).to_string();
        if status == "closed" {
            assert!(head.is_empty(), "{name}: closed without an answer, got {head:?}");
        } else {
            assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{name}: {head:?}");
        }
        let (code, _) = curl(s(&[&format!("{}/upload", srv.base)])).await;
        assert_eq!(code, 200, "after {name}");
    }
}

/// `schemas/openapi.json` describes exactly the routes the router serves, each with its
/// methods, and every schema it refers to is a file in `schemas/`.
#[test]
fn the_openapi_file_describes_every_route_and_only_those() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("schemas/openapi.json")).unwrap()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut described = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            described.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    // The router, as written in the files of `connectors/http`: `.route("PATH", get(…).post(…))`,
    // one route a line.
    let mut router = String::new();
    let mut dirs = vec![root.join("src/connectors/http")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                router.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let mut served = std::collections::BTreeSet::new();
    // Each `.route("PATH", …)` up to the next one, however rustfmt broke or joined the lines.
    for line in router.split(".route(\"").skip(1).map(|r| format!("\"{}", r.split(".route(").next().unwrap_or_default())) {
        let line = line.split("\n}").next().unwrap_or_default();
        let path = line.split('"').nth(1).unwrap();
        for method in ["get", "post", "put", "patch", "delete"] {
            if line.contains(&format!(" {method}(")) || line.contains(&format!(".{method}(")) {
                served.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(served.len() >= 12, "{served:?}");
    assert_eq!(described, served, "schemas/openapi.json and the router differ");
    let text = doc.to_string();
    for file in text.split("\"$ref\":\"").skip(1).map(|r| r.split('"').next().unwrap()).filter(|r| !r.starts_with('#')) {
        assert!(root.join("schemas").join(file).exists(), "{file} is referred to but not in schemas/");
    }
}

crate::on_both_backends!(
    multi_thread:
    a_trickling_body_gives_its_connection_back,
    uploads_are_authenticated_by_token_and_receipts_stay_with_their_unit,
    a_spreadsheet_upload_answers_with_cell_errors_and_oversize_gets_413,
    the_upload_page_works_without_javascript_and_escapes_what_it_shows,
    the_upload_page_renders_in_a_real_browser,
    blank_forms_are_downloadable_where_refusals_point_and_read_back_as_their_kind,
    a_user_appeals_a_disposal_without_an_account_and_the_disposing_unit_answers,
    the_same_bytes_under_their_right_name_are_read_again,
    slow_clients_and_too_many_uploads_get_limits_not_growth,
    hostile_http_requests_get_their_status_and_the_hub_stays_up,
);
