//! Shared test helpers: a fresh hub per test (its own folder, config and SQLite file, or a PostgreSQL database of its own), and `on_both_backends!`, which runs a store-facing test on each backend.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use tongbao::decision::Engine;
use tongbao::intake::Intake;
use tongbao::model::submission::Sender;
use tongbao::model::{Channel, Receipt, Submission};
use tongbao::rules::{Calendar, Policy};
use tongbao::store::{AnyStore, Location, PgLocation, Store};

pub const UNITS_TOML: &str = include_str!("../../examples/units.toml");

/// A group company with two provincial companies that name it (Art. 12¶2 [通报办法]); CT-GD is
/// the example units' CT-GD, now with its group.
pub const CT_GROUP_UNITS: &str = r#"
[[units]]
code = "CT-GROUP"
name = "中国电信集团有限公司"
type = "basic_telecom_group"
province = "national"
contacts = [{ role = "contact", name = "集团安全部", email = "soc@ct-group.example.cn" }]
[[units]]
code = "CT-GD"
name = "中国电信股份有限公司广东分公司"
type = "basic_telecom_provincial"
province = "GD"
group = "CT-GROUP"
contacts = [{ role = "contact", name = "李四", email = "soc@gd.example.cn" }]
[[units]]
code = "CT-GX"
name = "中国电信股份有限公司广西分公司"
type = "basic_telecom_provincial"
province = "GX"
group = "CT-GROUP"
contacts = [{ role = "contact", name = "韦五", email = "soc@gx.example.cn" }]
"#;

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

    /// Runs with `input` on standard input.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tongbao"))
            .args(args)
            .current_dir(self.path())
            .env("TONGBAO_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run tongbao");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().expect("tongbao ends")
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

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// A database of the test's own on the PostgreSQL `TONGBAO_TEST_PG_URL` names.
    Postgres,
}

/// Declares each named `async fn NAME(backend: Backend)` of the module as two tests,
/// `sqlite::NAME` and `postgres::NAME`.
/// `on_both_backends!(multi_thread: …)` runs them on a two-thread runtime.
#[macro_export]
macro_rules! on_both_backends {
    (multi_thread: $($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::helpers::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::helpers::Backend::Postgres).await
            })*
        }
    };
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::helpers::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::helpers::Backend::Postgres).await
            })*
        }
    };
}

/// The PostgreSQL server the tests use (an administrative database on it); `scripts/test` starts
/// it and sets this.
pub fn pg_server_url() -> String {
    std::env::var("TONGBAO_TEST_PG_URL").expect("TONGBAO_TEST_PG_URL is not set: run the suite with scripts/test, which starts PostgreSQL")
}

/// A PostgreSQL database of its own for one test, dropped when the test ends, passed or not.
pub struct FreshDatabase {
    name: String,
    pub url: String,
}

impl FreshDatabase {
    pub async fn new() -> FreshDatabase {
        use sqlx::Connection;
        let server = pg_server_url();
        let name = format!("tongbao_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&server).await.expect("connect to the test PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
        admin.close().await.unwrap();
        let (base, _) = server.rsplit_once('/').expect("a URL ending in /database");
        FreshDatabase { url: format!("{base}/{name}"), name }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        use sqlx::Connection;
        let (server, name) = (pg_server_url(), self.name.clone());
        // A runtime of its own on a thread of its own: Drop cannot await, and the test's runtime
        // may be the one dropping it.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
                let mut admin = sqlx::PgConnection::connect(&server).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// A store of the test's own on `backend`: a file in `dir`, or a fresh PostgreSQL database.
pub async fn fresh_location(backend: Backend, dir: &Path) -> (Location, Option<FreshDatabase>) {
    match backend {
        Backend::Sqlite => (Location::Sqlite { path: dir.join("t.db"), synchronous: Default::default() }, None),
        Backend::Postgres => {
            let db = FreshDatabase::new().await;
            (Location::Postgres(PgLocation { url: db.url.clone(), pool: 8, lease: std::time::Duration::from_secs(120) }), Some(db))
        }
    }
}

/// A store and intake in a temp folder (or a fresh PostgreSQL database), with the example
/// units, for library-level tests.
pub struct Lib {
    pub store: Arc<AnyStore>,
    pub intake: Intake,
    /// Where the store is, to open it again as a second hub would.
    pub location: Location,
    pub _dir: tempfile::TempDir,
    /// Dropped after the store it holds (fields drop in order).
    _db: Option<FreshDatabase>,
}

impl Lib {
    pub async fn on(backend: Backend) -> Lib {
        Lib::with_policy_on(Policy::default(), backend).await
    }

    pub async fn with_policy_on(policy: Policy, backend: Backend) -> Lib {
        Lib::with_engine_on(Arc::new(Engine { calendar: Calendar::builtin(), policy, ownership: Default::default() }), backend).await
    }

    pub async fn with_engine_on(engine: Arc<Engine>, backend: Backend) -> Lib {
        let dir = tempfile::tempdir().unwrap();
        let (location, db) = fresh_location(backend, dir.path()).await;
        let store = Arc::new(tongbao::store::open(&location).await.unwrap());
        let units = units_from_toml(UNITS_TOML);
        store.import_units(&units, chrono::Utc::now()).await.unwrap();
        let (intake, _writer) = Intake::start(store.clone(), engine);
        Lib { store, intake, location, _dir: dir, _db: db }
    }

    /// The value of a query written alike for both backends (no parameters), as a number.
    pub async fn count(&self, sql: &str) -> i64 {
        match &*self.store {
            AnyStore::Sqlite(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await.unwrap(),
            AnyStore::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p.pool()).await.unwrap(),
        }
    }

    /// The text column of a query written alike for both backends (no parameters; JSON read
    /// with `->` and `->>`, which both understand).
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        match &*self.store {
            AnyStore::Sqlite(s) => sqlx::query_scalar(sql).fetch_all(s.pool()).await.unwrap(),
            AnyStore::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p.pool()).await.unwrap(),
        }
    }

    /// Outbox rows that `filter` selects (up to 10,000).
    pub async fn outbox(&self, filter: tongbao::store::OutboxFilter) -> Vec<tongbao::store::OutboxRecord> {
        self.store.outbox(&tongbao::store::OutboxFilter { limit: 10_000, ..filter }).await.unwrap()
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
