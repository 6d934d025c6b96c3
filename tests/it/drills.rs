//! Drills: faults of the machine under the hub (a full disk), each asserting that nothing acknowledged is lost or stored twice and that service resumes without a restart.

use super::helpers::{UNITS_TOML, event, units_from_toml};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tongbao::intake::Intake;
use tongbao::intake::decide::Engine;
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
}
