//! Drills: faults of the machine under the hub (a full disk), each asserting that nothing acknowledged is lost or stored twice and that service resumes without a restart.

use super::helpers::{UNITS_TOML, event, units_from_toml};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tongbao::decision::Engine;
use tongbao::intake::Intake;
use tongbao::model::submission::Sender;
use tongbao::model::{Channel, Outcome, Submission};
use tongbao::store::{SqliteStore, Store};

/// A small tmpfs of its own, unmounted when dropped (the tests run as root, as CI does).
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"]).arg(&path).output().unwrap();
        assert!(out.status.success(), "the full-disk drill mounts a tmpfs (needs root): {}", String::from_utf8_lossy(&out.stderr));
        SmallDisk { path, _dir: dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the disk with one file until no byte more fits.
fn fill(path: &Path) -> PathBuf {
    use std::io::Write;
    let filler = path.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0x5au8; 64 << 10];
    while f.write_all(&block).is_ok() {}
    for _ in 0..64 {
        let _ = f.write_all(&[0x5a; 512]);
    }
    let _ = f.sync_all();
    filler
}

/// The disk fills while units submit: each refused write says the store is full (a transient
/// failure, so sources keep and resend), nothing half-written is left, and once space is freed
/// the same running hub stores again — no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_as_full_and_the_hub_resumes_when_space_returns() {
    let disk = SmallDisk::mount(6);
    let store = Arc::new(SqliteStore::open(&disk.path.join("t.db")).await.unwrap());
    store.import_units(&units_from_toml(UNITS_TOML), chrono::Utc::now()).await.unwrap();
    let engine =
        Arc::new(Engine { calendar: tongbao::rules::Calendar::builtin(), policy: Default::default(), ownership: Default::default() });
    let (intake, _writer) = Intake::start(store.clone(), engine);
    let submit = async |i: usize| {
        let mut e = event("general", "2026-10-12 09:00");
        // Bodies of a few KB, so the database and its WAL must grow.
        e["content"]["summary"] = serde_json::json!(format!("第{i}次攻击：{}", "流量异常".repeat(600)));
        let sub = Submission::by_content(
            Channel::Cli,
            Sender::Unit("CT-GD".parse().unwrap()),
            serde_json::to_vec(&e).unwrap(),
            "2026-10-12T02:00:00Z".parse().unwrap(),
        );
        intake.submit(sub).await
    };
    let mut accepted = 0usize;
    for i in 0..20 {
        assert_eq!(submit(i).await.expect("stored while there is space").outcome, Outcome::Accepted);
        accepted += 1;
    }
    let filler = fill(&disk.path);
    let mut refusal = None;
    for i in 20..2000 {
        match submit(i).await {
            Ok(r) => {
                assert_eq!(r.outcome, Outcome::Accepted);
                accepted += 1;
            }
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let refusal = refusal.expect("a full disk refuses a write");
    assert!(refusal.is_transient(), "a full disk is worth retrying: {refusal}");
    assert!(matches!(&refusal, tongbao::intake::IntakeFailure::NotStored(e) if e.is_full()), "{refusal}");
    assert!(refusal.to_string().contains("store is full"), "{refusal}");
    assert!(!refusal.to_string().contains("corrupt"), "{refusal}");

    std::fs::remove_file(filler).unwrap();
    for i in 2000..2010 {
        assert_eq!(submit(i).await.expect("stored again once space returned, without a restart").outcome, Outcome::Accepted);
        accepted += 1;
    }
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.reports as usize, accepted, "every acknowledged report stored once, nothing of the refused one");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(store.pool()).await.unwrap();
    assert_eq!(check, "ok");
    eprintln!("drill full disk: {accepted} acknowledged, all stored once; refused while full: {refusal}");
}

/// Starts `tongbao serve` in the hub's folder (its log in `serve-N.log`) and returns it with the
/// address it listens on.
pub fn start_serve(hub: &crate::helpers::Hub, n: u32) -> (std::process::Child, String) {
    let log_path = hub.path().join(format!("serve-{n}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_tongbao"))
        .arg("serve")
        .current_dir(hub.path())
        .env("TONGBAO_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(address) =
            text.lines().find(|l| l.contains("HTTP upload listening")).and_then(|l| l.split("address=").nth(1)).map(|a| {
                a.split_whitespace().next().unwrap().trim_matches(|c: char| !c.is_ascii_digit() && c != '.' && c != ':').to_string()
            })
        {
            return (child, address);
        }
        assert!(std::time::Instant::now() < deadline, "serve did not start: {text}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Stops `tongbao serve` with SIGTERM and waits for it to end.
pub fn stop_serve(mut server: std::process::Child) {
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
}

/// SIGKILL while four clients upload over HTTP: every upload answered 201 before the kill is
/// stored, and after a restart every upload sent again is stored exactly once (the stored ones
/// answered as repeats) — nothing acknowledged lost, nothing twice.
#[test]
fn sigkill_during_http_uploads_loses_nothing_acknowledged_and_stores_nothing_twice() {
    let hub = crate::helpers::Hub::new().with_units();
    hub.write("tongbao.toml", "[serve]\nlisten = \"127.0.0.1:0\"\n[schedule]\nenabled = false\n");
    let token = hub.json(&["units", "token", "issue", "CT-GD"]).1["token"].as_str().unwrap().to_string();
    let (mut server, address) = start_serve(&hub, 1);
    let url = format!("http://{address}/api/v1/submissions");
    let body = |i: usize| {
        let mut e = event("general", "2026-10-08 10:00");
        e["content"]["summary"] = serde_json::json!(format!("第{i}次攻击"));
        e.to_string()
    };
    let post = |url: &str, token: &str, body: String| -> u16 {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10", "-H", &format!("Authorization: Bearer {token}")])
            .args(["-H", "Content-Type: application/json", "--data-binary", &body, url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (url, token, stop) = (url.clone(), token.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                let mut sent = 0;
                for i in (c..).step_by(4) {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    sent = i + 1;
                    if post(&url, &token, body(i)) == 201 {
                        acknowledged.push(i);
                    }
                }
                (acknowledged, sent)
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_secs(3));
    server.kill().unwrap();
    let _ = server.wait();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let results: Vec<(Vec<usize>, usize)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let acknowledged: Vec<usize> = results.iter().flat_map(|(a, _)| a.iter().copied()).collect();
    let sent = results.iter().map(|(_, s)| *s).max().unwrap_or(0);
    assert!(acknowledged.len() > 20, "the load ran before the kill: {} acknowledged", acknowledged.len());

    let (server, address) = start_serve(&hub, 2);
    let url = format!("http://{address}/api/v1/submissions");
    for i in 0..sent {
        let code = post(&url, &token, body(i));
        assert!(code == 200 || code == 201, "upload {i} after the restart: {code}");
        if acknowledged.contains(&i) {
            assert_eq!(code, 200, "upload {i} was acknowledged before the kill: it is stored, so a repeat");
        }
    }
    stop_serve(server);
    let (stored, distinct) = hub.stored_and_distinct();
    assert_eq!(distinct, stored, "nothing stored twice");
    assert_eq!(stored, sent, "every upload stored once: {} acknowledged before the kill", acknowledged.len());
    eprintln!("drill sigkill/http: {} acknowledged before SIGKILL, {sent} sent, {stored} stored, 0 lost, 0 twice", acknowledged.len());
}

/// SIGKILL while the drop folder is being read: 300 files, `tongbao serve` killed part-way and
/// started again; every file ends in processed/ with its receipt and every report is stored
/// once (a file is moved only after its commit; one committed but not moved is a repeat).
#[test]
fn sigkill_while_reading_the_drop_folder_stores_each_file_once() {
    let hub = crate::helpers::Hub::new().with_units();
    hub.write("tongbao.toml", "[serve]\nlisten = \"127.0.0.1:0\"\n[schedule]\nenabled = false\n");
    hub.write("connectors/inbox.toml", "kind = \"folder-source\"\npath = \"data/inbox\"\npoll_seconds = 1\n");
    const N: usize = 300;
    for i in 0..N {
        let mut e = event("general", "2026-10-08 10:00");
        e["content"]["summary"] = serde_json::json!(format!("第{i}份"));
        hub.write(&format!("data/inbox/CT-GD/r{i:04}.json"), &e.to_string());
    }
    let processed = hub.path().join("data/inbox/CT-GD/processed");
    let receipts = || {
        std::fs::read_dir(&processed)
            .map(|d| d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".receipt.json")).count())
            .unwrap_or(0)
    };
    let (mut server, _) = start_serve(&hub, 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while receipts() < 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.kill().unwrap();
    let _ = server.wait();
    let before = receipts();
    assert!(before < N, "killed part-way ({before} done)");
    let (server, _) = start_serve(&hub, 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while receipts() < N && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    stop_serve(server);
    assert_eq!(receipts(), N, "every file processed with its receipt");
    let (stored, distinct) = hub.stored_and_distinct();
    assert_eq!((stored, distinct), (N, N), "each file's report stored once");
    eprintln!("drill sigkill/folder: {N} files, {before} done when killed, {stored} stored after the restart, 0 lost, 0 twice");
}
