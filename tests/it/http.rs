//! HTTP upload against a real listener on loopback, with curl as the client.

use super::helpers::{Lib, event};
use std::path::Path;
use std::process::Command;
use tongbao::connectors::http::{HttpState, new_token, router};
use tongbao::model::submission::sha256_hex;
use tongbao::store::Store;

struct Server {
    base: String,
    ct_gd: String,
    idc_bj: String,
    _lib: Lib,
}

async fn server(max_upload_bytes: usize) -> Server {
    let lib = Lib::new().await;
    let mut tokens = Vec::new();
    for unit in ["CT-GD", "IDC-BJ"] {
        let t = new_token();
        lib.store.issue_token(&unit.parse().unwrap(), &sha256_hex(t.as_bytes()), chrono::Utc::now()).await.unwrap();
        tokens.push(t);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(HttpState::new(lib.store.clone(), lib.intake.clone(), max_upload_bytes));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_authenticated_by_token_and_receipts_stay_with_their_unit() {
    let srv = server(64 << 20).await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spreadsheet_upload_answers_with_cell_errors_and_oversize_gets_413() {
    let srv = server(64 << 20).await;
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

    let small = server(8 * 1024).await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_page_works_without_javascript_and_escapes_what_it_shows() {
    let srv = server(64 << 20).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_page_renders_in_a_real_browser() {
    let chromium = std::env::var("TONGBAO_TEST_CHROMIUM")
        .expect("TONGBAO_TEST_CHROMIUM is not set: run the tests through ./scripts/test, which installs Chromium");
    let srv = server(64 << 20).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_forms_are_downloadable_where_refusals_point_and_read_back_as_their_kind() {
    let srv = server(8 << 20).await;
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
