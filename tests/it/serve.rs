//! `tongbao serve` as a process: starts on embedded defaults with nothing else reachable, ingests from its inbox, stops on SIGTERM.

use super::helpers::Hub;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `tongbao serve` in the hub's folder, logging at info into `serve.log`.
fn spawn_serve(hub: &Hub) -> std::process::Child {
    let log = std::fs::File::create(hub.path().join("serve.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tongbao"))
        .arg("serve")
        .current_dir(hub.path())
        .env("TONGBAO_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The address the hub's HTTP listener says in its log that it bound (listen = 127.0.0.1:0).
fn listening_address(hub: &Hub) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(hub.path().join("serve.log")).unwrap_or_default();
        if let Some(a) = log.lines().find(|l| l.contains("HTTP upload listening")).and_then(|l| l.split("address=").nth(1)) {
            return a.split_whitespace().next().unwrap().trim_matches(|c: char| !c.is_ascii_digit() && c != '.' && c != ':').to_string();
        }
        assert!(Instant::now() < deadline, "no listening line: {log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_runs_on_defaults_ingests_its_inbox_and_stops_cleanly() {
    let hub = Hub::new().with_units();
    hub.write("tongbao.toml", "[serve]\nlisten = \"127.0.0.1:0\"\n");
    hub.write("connectors/inbox.toml", "kind = \"folder-source\"\npath = \"data/inbox\"\npoll_seconds = 1\n");
    // A broker connector whose URL is not even set: the hub must start anyway and say why it idles.
    hub.write("connectors/cncert-mq.toml", "kind = \"amqp-source\"\nurl_env = \"TONGBAO_TEST_UNSET_AMQP_URL\"\nqueue = \"reports\"\n");
    let mut child = spawn_serve(&hub);

    let report = serde_json::to_string(&super::helpers::event("major", "2026-10-01T23:30:00+08:00")).unwrap();
    hub.write("data/inbox/CT-GD/event.json.part", &report);
    std::fs::rename(hub.path().join("data/inbox/CT-GD/event.json.part"), hub.path().join("data/inbox/CT-GD/event.json")).unwrap();
    hub.write("data/inbox/CT-GD/broken.json", "{ not json");

    let receipt = hub.path().join("data/inbox/CT-GD/processed/event.receipt.json");
    let rejected = hub.path().join("data/inbox/CT-GD/rejected/broken.receipt.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(receipt.exists() && rejected.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // The HTTP listener is up on the port it picked (listen = 127.0.0.1:0), serving the page.
    let address = listening_address(&hub);
    let page =
        Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://{address}/upload")]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&page.stdout), "200", "GET /upload on {address}");
    // Operations: the process answers; it is not ready while a configured connector cannot
    // connect (and says which); the metrics count what came in.
    let get = |path: &str| {
        let out = Command::new("curl").args(["-s", "-w", "\n%{http_code}", &format!("http://{address}{path}")]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.to_string(), body.to_string())
    };
    assert_eq!(get("/healthz").0, "200");
    let (code, body) = get("/readyz");
    assert_eq!(code, "503", "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    let not_ready: Vec<&str> = ready["not_ready"].as_array().unwrap().iter().map(|p| p["what"].as_str().unwrap()).collect();
    assert_eq!(not_ready, ["connector cncert-mq"], "{body}");
    assert!(ready["not_ready"][0]["problem"].as_str().unwrap().contains("TONGBAO_TEST_UNSET_AMQP_URL"), "the reason: {body}");
    let (code, metrics) = get("/metrics");
    assert_eq!(code, "200");
    let value = |prefix: &str, labels: &[&str]| -> Option<f64> {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix) && labels.iter().all(|x| l.contains(x)))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    assert_eq!(value("tongbao_submissions_total{", &["channel=\"upload\"", "outcome=\"accepted\""]), Some(1.0), "{metrics}");
    assert_eq!(value("tongbao_submissions_total{", &["channel=\"upload\"", "outcome=\"rejected\""]), Some(1.0), "{metrics}");
    assert_eq!(value("tongbao_intake_seconds_count{", &["channel=\"upload\""]), Some(2.0), "{metrics}");
    assert_eq!(value("tongbao_connector_up{", &["connector=\"inbox\""]), Some(1.0), "{metrics}");
    assert_eq!(value("tongbao_connector_up{", &["connector=\"cncert-mq\""]), Some(0.0), "{metrics}");
    assert!(value("tongbao_obligations{", &["state=\"open\""]).is_some_and(|n| n >= 1.0), "a major event opens duties: {metrics}");
    assert_eq!(value("tongbao_store_up", &[]), Some(1.0), "{metrics}");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(hub.path().join("serve.log")).unwrap();
    assert!(status.success(), "exit {status}: {log}");
    assert!(receipt.exists() && rejected.exists(), "inbox not processed: {log}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
    assert_eq!(r["outcome"], "accepted");
    let bad: serde_json::Value = serde_json::from_slice(&std::fs::read(&rejected).unwrap()).unwrap();
    assert_eq!(bad["errors"][0]["code"], "not_json");
    assert!(log.contains("TONGBAO_TEST_UNSET_AMQP_URL") && log.contains("idle"), "idle connectors are logged with the reason: {log}");
    assert!(log.contains("stopped"), "{log}");

    // What serve stored, the CLI sees.
    let (_, reports) = hub.json(&["reports", "list"]);
    assert_eq!(reports.as_array().unwrap().len(), 1);
}

/// The composition root started in-process: it returns the address it bound (port 0 picks one),
/// answers on it, and stops when told, with no port read out of a log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_started_in_process_says_where_it_listens_and_stops_when_told() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let config = dir.path().join("tongbao.toml");
    std::fs::write(
        &config,
        format!("[serve]\nlisten = \"127.0.0.1:0\"\n[store]\npath = {:?}\n[schedule]\nenabled = false\n", db.display().to_string()),
    )
    .unwrap();
    let loaded = tongbao::config::load(&config).unwrap_or_else(|p| panic!("{p:?}"));
    let running = tongbao::serve::start(loaded).await.unwrap();
    assert_ne!(running.address.port(), 0, "the port the system chose");
    let mut conn = tokio::net::TcpStream::connect(running.address).await.unwrap();
    conn.write_all(b"GET /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    tokio::time::timeout(Duration::from_secs(20), running.stop()).await.expect("stops within 20 s").unwrap();
    assert!(db.exists(), "the store the configuration names");
}

/// The API as its OpenAPI file describes it, thrown at a running hub by schemathesis (generated
/// bodies, paths, queries and headers, with a unit's token): no answer is a server error.
#[test]
fn generated_requests_from_the_openapi_file_get_no_server_error() {
    let python = std::env::var("TONGBAO_TEST_PYTHON").expect("TONGBAO_TEST_PYTHON: run the suite with scripts/test");
    let schemathesis = std::path::Path::new(&python).with_file_name("schemathesis");
    assert!(schemathesis.exists(), "{} is missing: scripts/test installs it", schemathesis.display());
    let hub = Hub::new().with_units();
    hub.write("tongbao.toml", "[serve]\nlisten = \"127.0.0.1:0\"\n[schedule]\nenabled = false\n");
    let issued = hub.run(&["units", "token", "issue", "CT-GD"]);
    let token = String::from_utf8_lossy(&issued.stdout).split_whitespace().find(|w| w.starts_with("tb_")).expect("a token").to_string();
    let mut child = spawn_serve(&hub);
    let address = listening_address(&hub);
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json");
    let out = Command::new(&schemathesis)
        .args(["run", spec, "--url", &format!("http://{address}"), "--checks", "not_a_server_error", "--max-examples", "25"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .env("NO_COLOR", "1")
        .current_dir(hub.path()) // it keeps a cache folder where it runs
        .output()
        .unwrap();
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found failures:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("passed"), "{report}");
    assert!(status.success(), "the hub did not stop cleanly: {}", std::fs::read_to_string(hub.path().join("serve.log")).unwrap());
}

/// The "done when", as a new user tries it: the README's first steps (units and the
/// example reports imported with the CLI, logins made with `tongbao users add` on standard
/// input), then `tongbao serve`, which prints the console's address; at that address every
/// page each role can reach by following links works in Chromium: it answers 200 with a
/// heading, shows no error and raises no script error, and its downloads come down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_steps_lead_to_a_console_where_every_page_works_in_chromium() {
    const PASSWORD: &str = "a long passphrase";
    let hub = Hub::new().with_units();
    hub.write("tongbao.toml", "[serve]\nlisten = \"127.0.0.1:0\"\n");
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let out = hub.run(&["units", "import", &examples.join("authorities.toml").display().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (file, unit) in
        [("event-major.json", "CT-GD"), ("batch-mixed.json", "CT-GD"), ("botnet.json", "CT-GD"), ("event-major.json", "IDC-BJ")]
    {
        let out = hub.run(&["ingest", &examples.join(file).display().to_string(), "--unit", unit]);
        // batch-mixed.json is accepted in part (exit 3): one of its reports is refused on purpose.
        assert!(String::from_utf8_lossy(&out.stdout).contains("受理"), "ingest {file}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let users = [("cert", "cncert"), ("csb", "csb"), ("gd", "bureau:GD"), ("ctgd", "unit:CT-GD")];
    for (name, role) in users {
        let out = hub.run_with_input(&["users", "add", name, "--role", role], &format!("{PASSWORD}\n"));
        assert!(out.status.success(), "users add {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut child = spawn_serve(&hub);
    let deadline = Instant::now() + Duration::from_secs(30);
    let console = loop {
        let log = std::fs::read_to_string(hub.path().join("serve.log")).unwrap_or_default();
        if let Some(url) = log.lines().find_map(|l| l.strip_prefix("tongbao console: ")) {
            break url.split_whitespace().next().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "serve printed no console address: {log}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let base = console.strip_suffix("/console").expect("the console's address ends in /console").to_string();
    let shots = super::console::screenshots("first-steps");
    let mut args = vec![base, shots.display().to_string(), PASSWORD.to_string()];
    args.extend(users.iter().map(|(name, _)| name.to_string()));
    let seen = super::console::browser("walk.cjs", args).await;
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success(), "{}", std::fs::read_to_string(hub.path().join("serve.log")).unwrap());

    let kinds = |user: &str| -> Vec<String> {
        seen["pages"][user].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap().to_string()).collect()
    };
    for (user, _) in users {
        for page in seen["pages"][user].as_array().unwrap() {
            assert_eq!(page["status"], 200, "{user}: {page}");
            assert!(!page["h1"].as_str().unwrap().is_empty(), "{user}: a page without a heading: {page}");
            assert_eq!(page["errors"], serde_json::json!([]), "{user}: {page}");
            assert_eq!(page["script_errors"], serde_json::json!([]), "{user}: {page}");
        }
        for download in seen["downloads"][user].as_array().unwrap() {
            assert_eq!(download["status"], 200, "{user}: {download}");
            assert!(download["bytes"].as_u64().unwrap() > 0, "{user}: {download}");
        }
    }
    let every = [
        "/console",
        "/console/reports",
        "/console/reports/:id",
        "/console/obligations",
        "/console/botnets",
        "/console/units",
        "/console/units/:id",
    ];
    for (user, more) in [
        ("cert", &["/console/digest", "/console/review", "/console/review/:id"][..]),
        ("csb", &["/console/digest", "/console/review", "/console/review/:id"][..]),
        ("gd", &["/console/digest"][..]),
        ("ctgd", &["/console/upload"][..]),
    ] {
        let reached = kinds(user);
        for kind in every.iter().chain(more) {
            assert!(reached.iter().any(|k| k == kind || k.starts_with(&format!("{kind}?"))), "{user} never reached {kind}: {reached:?}");
        }
    }
    let downloads = |user: &str| -> Vec<String> {
        seen["downloads"][user].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap().to_string()).collect()
    };
    assert!(downloads("ctgd").iter().any(|k| k.ends_with("/raw")), "the unit downloads its own file: {seen}");
    assert!(downloads("cert").iter().any(|k| k.ends_with(".xlsx")), "the digest's workbook: {seen}");
    assert!(!kinds("gd").iter().any(|k| k.starts_with("/console/review")), "a bureau is shown no review: {seen}");
    assert!(!kinds("ctgd").iter().any(|k| k.starts_with("/console/digest")), "a unit is shown no digest: {seen}");
}
