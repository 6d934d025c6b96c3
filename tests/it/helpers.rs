//! Shared test helpers: a fresh hub per test (its own folder, config and SQLite file).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use tongbao::intake::Intake;
use tongbao::intake::decide::Engine;
use tongbao::model::submission::Sender;
use tongbao::model::{Channel, Receipt, Submission};
use tongbao::rules::{Calendar, Policy};
use tongbao::store::{SqliteStore, Store};

pub const UNITS_TOML: &str = include_str!("../../examples/units.toml");

/// A folder holding a hub's config and data; the binary runs with it as working directory.
pub struct Hub {
    pub dir: tempfile::TempDir,
}

impl Hub {
    pub fn new() -> Hub {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("units.toml"), UNITS_TOML).unwrap();
        Hub { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tongbao"))
            .args(args)
            .current_dir(self.path())
            .env("TONGBAO_LOG", "warn")
            .output()
            .expect("run tongbao")
    }

    /// Runs and parses stdout as JSON (adds `--json`).
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{args:?}: not JSON ({e}): {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        });
        (out.status.code().unwrap_or(-1), v)
    }

    /// The summaries of the reports the hub stored (as `reports list` shows them), one a report.
    pub fn report_summaries(&self) -> Vec<String> {
        let (_, list) = self.json(&["reports", "list", "--limit", "100000"]);
        list.as_array().unwrap().iter().map(|r| r["content"]["summary"].as_str().unwrap_or_default().to_string()).collect()
    }

    /// How many reports the hub stored, and how many of them differ: equal when none is there twice.
    pub fn stored_and_distinct(&self) -> (usize, usize) {
        let mut all = self.report_summaries();
        let stored = all.len();
        all.sort();
        all.dedup();
        (stored, all.len())
    }

    pub fn with_units(self) -> Hub {
        let out = self.run(&["units", "import", "units.toml"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        self
    }
}

/// A store and intake in a temp folder, with the example units, for library-level tests.
pub struct Lib {
    pub _dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub intake: Intake,
}

impl Lib {
    pub async fn new() -> Lib {
        Lib::with_policy(Policy::default()).await
    }

    pub async fn with_policy(policy: Policy) -> Lib {
        Lib::with_engine(Arc::new(Engine { calendar: Calendar::builtin(), policy, ownership: Default::default() })).await
    }

    pub async fn with_engine(engine: Arc<Engine>) -> Lib {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let units = units_from_toml(UNITS_TOML);
        store.import_units(&units, chrono::Utc::now()).await.unwrap();
        let (intake, _writer) = Intake::start(store.clone(), engine);
        Lib { _dir: dir, store, intake }
    }

    pub async fn submit_as(&self, sender: Sender, channel: Channel, json: serde_json::Value, at: &str) -> Receipt {
        let received_at = at.parse().unwrap();
        let sub = Submission::by_content(channel, sender, serde_json::to_vec(&json).unwrap(), received_at);
        self.intake.submit(sub).await.expect("stored")
    }

    pub async fn submit(&self, unit: &str, json: serde_json::Value, at: &str) -> Receipt {
        self.submit_as(Sender::Unit(unit.parse().unwrap()), Channel::Cli, json, at).await
    }
}

pub fn units_from_toml(text: &str) -> Vec<tongbao::model::Unit> {
    #[derive(serde::Deserialize)]
    struct F {
        units: Vec<tongbao::model::Unit>,
    }
    toml::from_str::<F>(text).unwrap().units
}

pub fn event(grade: &str, discovered: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "event", "discovered_at": discovered, "category": "ddos", "grade": grade, "provinces": ["GD"],
        "content": {"unit_overview": "某IDC", "occurred_at": discovered, "summary": "攻击", "impact": "拥塞", "measures": "清洗"}
    })
}

pub fn botnet(count: u64, ips: &[&str], discovered: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "botnet_event", "discovered_at": discovered, "provinces": ["GD"],
        "content": {"botnets": [{"cc_ip": "203.0.113.7", "port": 6667, "bot_count": count, "bot_ips": ips}]}
    })
}
