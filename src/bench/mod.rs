//! `tongbao bench`: throughput of intake and botnet aggregation, each against its bare alternative in the same run.
//!
//! The rest of the library depends on nothing here. The mail and AMQP benches stay beside their
//! connectors (`connectors::mail::bench`, `connectors::amqp::bench`), because each foreign
//! library has one home and they measure lettre and lapin bare.

mod schedule;
mod web;

use crate::decision::Engine;
use crate::intake::Intake;
use crate::model::submission::Sender;
use crate::model::{Channel, Submission, Unit, UnitCode};
use crate::rules::botnet::{self, BotSet, BotnetScale};
use crate::rules::{Calendar, Policy};
use crate::store::sqlite::Synchronous;
use crate::store::{AnyStore, Location, PgLocation, Store};
use chrono::{Duration, TimeZone, Utc};
use clap::Subcommand;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Single-report submissions through intake and commit, and distinct-IP aggregation.
    Intake {
        /// How many single-report submissions.
        #[arg(long, default_value_t = 100_000)]
        reports: usize,
        /// How many bot IPs to aggregate (in 10 overlapping botnets).
        #[arg(long, default_value_t = 10_000_000)]
        ips: usize,
        /// Concurrent submitters (each waits for its receipt before sending the next).
        #[arg(long, default_value_t = 2048)]
        concurrency: usize,
        /// Keep the benchmark's databases in this folder (for `sqlite3`/dbstat) instead of a
        /// temporary one that is removed at the end.
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
        /// When commits reach the disk: `full` (the default, power-safe) or `normal`.
        #[arg(long, default_value = "full")]
        synchronous: String,
        /// Also measure intake on PostgreSQL, in a fresh database made on this server (the URL
        /// of a database there that may create databases) and dropped afterwards.
        #[arg(long, env = "TONGBAO_BENCH_PG_URL")]
        postgres: Option<String>,
    },
    /// A 1,048,575-row botnet form parsed, validated and stored, against calamine's bare read
    /// and Python openpyxl (read-only) on the same file.
    Forms {
        #[arg(long, default_value_t = 1_048_575)]
        bots: usize,
        /// Rows of the second form, one report (one C&C) per row.
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Python with openpyxl (scripts/test's venv has one).
        #[arg(long, env = "TONGBAO_TEST_PYTHON", default_value = "python3")]
        python: String,
        /// Keep the generated forms in this folder (to profile a phase on its own with
        /// `tongbao bench forms-phase hub FILE`).
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
    },
    /// The deadline scan over a million open obligations (idle and with alerts due) and the
    /// monthly digest over a million reports, against bare SQL on the same database.
    Schedule {
        #[arg(long, default_value_t = 1_000_000)]
        reports: u64,
        #[arg(long, default_value_t = 1_000_000)]
        obligations: u64,
        /// Obligations due for a reminder or an overdue alert at the busy scan.
        #[arg(long, default_value_t = 10_000)]
        due: u64,
    },
    /// The console's dashboard and obligations board at a steady request rate, on a store
    /// seeded with REPORTS reports and OBLIGATIONS open obligations, against `/healthz`.
    Web {
        #[arg(long, default_value_t = 1_000_000)]
        reports: u64,
        #[arg(long, default_value_t = 100_000)]
        obligations: u64,
        /// Requests a second to each page, sent open-loop.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        #[arg(long, default_value_t = 20)]
        seconds: u32,
    },
    /// One measured phase of `bench forms`, in a process of its own so its peak RSS is its own.
    #[command(hide = true)]
    FormsPhase { phase: String, file: std::path::PathBuf },
    /// Sustained ingest from RabbitMQ (consume → intake → commit → ack) against a bare lapin
    /// consume-and-ack of the same persistent messages on the same broker.
    Amqp {
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        #[arg(long, default_value_t = 256)]
        prefetch: u16,
        /// Broker URL; its user is the login the messages are published as.
        #[arg(long, env = "TONGBAO_AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
        url: String,
        /// Store on PostgreSQL, in a fresh database made on this server, instead of SQLite.
        #[arg(long, env = "TONGBAO_BENCH_PG_URL")]
        postgres: Option<String>,
        /// Hubs consuming the one queue, each with its own store connections and intake (on
        /// PostgreSQL only: one SQLite file serves one hub).
        #[arg(long, default_value_t = 1)]
        hubs: usize,
    },
    /// Mails with one filled form each, from an IMAP server into the store, then their receipts
    /// out over SMTP; against a bare IMAP fetch and a bare lettre send in the same run. Runs
    /// against the servers of scripts/mail-setup by default.
    Mail {
        #[arg(long, default_value_t = 1_000)]
        mails: usize,
        #[arg(long, default_value = "127.0.0.1")]
        imap_host: String,
        #[arg(long, default_value_t = 143)]
        imap_port: u16,
        /// Password of the bench mailboxes (scripts/mail-setup's Dovecot takes any user with it).
        #[arg(long, env = "TONGBAO_BENCH_MAIL_PASSWORD", default_value = "tongbao-test-pass")]
        password: String,
        #[arg(long, env = "TONGBAO_BENCH_SMTP_URL", default_value = "smtp://127.0.0.1:25")]
        smtp_url: String,
        /// The domain the servers deliver (mailboxes hub-bench-…@cncert.DOMAIN, soc-bench-…@ct-gd.DOMAIN).
        #[arg(long, default_value = "tongbao.test")]
        domain: String,
        /// SMTP connections in flight.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
}

pub async fn run(cmd: BenchCmd, json: bool) -> anyhow::Result<i32> {
    match cmd {
        BenchCmd::Intake { reports, ips, concurrency, keep, synchronous, postgres } => {
            let sync = match synchronous.as_str() {
                "full" => Synchronous::Full,
                "normal" => Synchronous::Normal,
                other => anyhow::bail!("--synchronous {other}: full or normal"),
            };
            let temp = tempfile::tempdir()?;
            let dir = match &keep {
                Some(keep) => {
                    std::fs::create_dir_all(keep)?;
                    for name in ["hub.db", "bare.db", "naive.db"] {
                        anyhow::ensure!(
                            !keep.join(name).exists(),
                            "{} exists already; the bench needs fresh databases",
                            keep.join(name).display()
                        );
                    }
                    keep.as_path()
                }
                None => temp.path(),
            };
            let intake = bench_intake(reports, concurrency, &BenchDb::Sqlite { dir, sync }).await?;
            let on_postgres = match &postgres {
                Some(server) => Some(bench_intake(reports, concurrency, &BenchDb::Postgres { server }).await?),
                None => None,
            };
            let agg = bench_aggregate(ips);
            let out = serde_json::json!({ "intake": intake, "intake_postgres": on_postgres, "aggregate": agg });
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!(
                    "intake: {} single-report submissions, {} concurrent submitters, synchronous = {synchronous}",
                    reports, concurrency
                );
                println!(
                    "  tongbao intake (parse, grade, obligations, commit) {:>10.0} submissions/s  ({:.2} s)",
                    num(&intake["hub_per_s"]),
                    num(&intake["hub_s"])
                );
                println!(
                    "    CPU time, all threads                            {:>10.1} µs a submission",
                    num(&intake["hub_cpu_us_per_submission"])
                );
                println!(
                    "  bare SQLite multi-row insert of the raw bytes      {:>10.0} rows/s         ({:.2} s)",
                    num(&intake["bare_insert_per_s"]),
                    num(&intake["bare_insert_s"])
                );
                println!(
                    "  one transaction per submission (no group commit)   {:>10.0} submissions/s  (on {} of them)",
                    num(&intake["naive_per_s"]),
                    intake["naive_n"]
                );
                println!("  target                                             {:>10} submissions/s", 25_000);
                if let Some(pg) = &on_postgres {
                    println!("  on PostgreSQL (fresh database, same submissions):");
                    println!(
                        "  tongbao intake (parse, grade, obligations, commit) {:>10.0} submissions/s  ({:.2} s)",
                        num(&pg["hub_per_s"]),
                        num(&pg["hub_s"])
                    );
                    println!(
                        "    CPU time of this process, all threads            {:>10.1} µs a submission",
                        num(&pg["hub_cpu_us_per_submission"])
                    );
                    println!(
                        "  bare PostgreSQL UNNEST insert of the raw bytes     {:>10.0} rows/s         ({:.2} s)",
                        num(&pg["bare_insert_per_s"]),
                        num(&pg["bare_insert_s"])
                    );
                    println!(
                        "  one transaction per submission (no group commit)   {:>10.0} submissions/s  (on {} of them)",
                        num(&pg["naive_per_s"]),
                        pg["naive_n"]
                    );
                    println!("  target                                             {:>10} submissions/s", 10_000);
                }
                println!("aggregate: {} bot IPs in 10 overlapping botnets → {} distinct", ips, agg["distinct"]);
                println!("  tongbao aggregate (radix sort + dedup)             {:>10.3} s", num(&agg["hub_s"]));
                println!("  std HashSet<u32> of the same IPs                   {:>10.3} s", num(&agg["hashset_s"]));
                println!("  target                                             {:>10.3} s", 2.0);
            }
            Ok(0)
        }
        BenchCmd::Forms { bots, rows, python, keep } => bench_forms(bots, rows, &python, keep.as_deref(), json),
        BenchCmd::Web { reports, obligations, rate, seconds } => {
            let out = web::run(web::WebBench { reports, obligations, rate, seconds }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!(
                    "web: {} reports, {} open obligations (seeded in {:.1} s); {} requests/s for {} s each, open-loop, one connection a request",
                    out["reports"],
                    out["open_obligations"],
                    num(&out["seed_s"]),
                    rate,
                    seconds
                );
                println!(
                    "  {:<10} {:<38} {:>9} {:>8} {:>8} {:>8} {:>8} {:>6}",
                    "role", "path", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "fail"
                );
                for r in out["runs"].as_array().into_iter().flatten() {
                    println!(
                        "  {:<10} {:<38} {:>9.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>6}",
                        r["role"].as_str().unwrap_or(""),
                        r["path"].as_str().unwrap_or(""),
                        num(&r["achieved_per_s"]),
                        num(&r["p50_ms"]),
                        num(&r["p90_ms"]),
                        num(&r["p99_ms"]),
                        num(&r["max_ms"]),
                        r["failures"]
                    );
                }
                println!("  target: p99 under {} ms at {} requests/s", out["target_p99_ms"], rate);
            }
            Ok(0)
        }
        BenchCmd::Schedule { reports, obligations, due } => {
            let out = schedule::run(schedule::ScheduleBench { reports, obligations, due }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                let f = |k: &str| out[k].as_f64().unwrap_or(f64::NAN);
                println!(
                    "schedule: {} open obligations, {} reports in the month; seeded by SQL in {:.1} s ({:.0} MB)",
                    out["obligations"],
                    out["reports"],
                    f("seed_s"),
                    f("db_mb")
                );
                println!("  deadline scan, nothing due (every minute)        {:>10.3} ms", f("idle_scan_ms"));
                println!("  naive scan: every open obligation read and timed {:>10.1} ms", f("naive_open_scan_ms"));
                println!(
                    "  deadline scan, {} due: alerts decided and queued {:>8.2} s  ({} notices; {})",
                    out["due"],
                    f("busy_scan_s"),
                    out["notices_queued"],
                    out["busy_scan_said"].as_str().unwrap_or_default()
                );
                println!("  bare SQL select of the same due rows             {:>10.3} s", f("bare_due_select_s"));
                println!("  digest counts (this month and last)              {:>10.2} s", f("digest_compute_s"));
                println!("  digest chart and workbook                        {:>10.3} s", f("digest_render_s"));
                println!("  bare SQL: one grouped count of the month         {:>10.2} s", f("bare_month_count_s"));
            }
            Ok(0)
        }
        BenchCmd::Mail { mails, imap_host, imap_port, password, smtp_url, domain, concurrency } => {
            let b = crate::connectors::mail::bench::MailBench { mails, imap_host, imap_port, password, smtp_url, domain, concurrency };
            bench_mail(b, json).await
        }
        BenchCmd::FormsPhase { phase, file } => {
            let out = forms_phase(&phase, &file).await?;
            println!("{out}");
            Ok(0)
        }
        BenchCmd::Amqp { messages, prefetch, url, postgres, hubs } => {
            let user = url.split("://").nth(1).and_then(|r| r.split(':').next()).unwrap_or("guest").to_string();
            let dir = tempfile::tempdir()?;
            anyhow::ensure!(hubs >= 1 && (hubs == 1 || postgres.is_some()), "--hubs {hubs}: several hubs need --postgres");
            let db = match &postgres {
                Some(server) => BenchDb::Postgres { server },
                None => BenchDb::Sqlite { dir: dir.path(), sync: Synchronous::Full },
            };
            let (store, created) = db.fresh("amqp.db").await?;
            let mut units = bench_units();
            units[0].amqp_user = Some(user.clone());
            store.import_units(&units, Utc::now()).await?;
            let engine = Arc::new(Engine { calendar: Calendar::builtin(), policy: Policy::default(), ownership: Default::default() });
            let mut intakes = vec![Intake::start(store.clone(), engine.clone()).0];
            for _ in 1..hubs {
                let other = Arc::new(crate::store::open(&db.location_of(created.as_deref(), "amqp.db")).await?);
                intakes.push(Intake::start(other, engine.clone()).0);
            }
            let bodies: Vec<Vec<u8>> = (0..messages).map(bench_report).collect();
            let out = crate::connectors::amqp::bench::run(&url, &user, bodies, prefetch, intakes, store.clone()).await?;
            let c = store.counts().await?;
            anyhow::ensure!(c.reports as usize == messages, "stored {} reports, expected {messages}", c.reports);
            db.cleanup(created).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!(
                    "amqp: {messages} persistent single-report messages, prefetch {prefetch}, {hubs} hub(s) on {}",
                    if postgres.is_some() { "PostgreSQL" } else { "SQLite" }
                );
                println!(
                    "  bare lapin consume + ack each               {:>10.0} messages/s  ({:.2} s)",
                    num(&out["bare_per_s"]),
                    num(&out["bare_s"])
                );
                println!(
                    "  bare lapin consume + ack multiple every 64  {:>10.0} messages/s  ({:.2} s)",
                    num(&out["bare_batched_per_s"]),
                    num(&out["bare_batched_s"])
                );
                println!(
                    "  tongbao consume → intake → commit → ack     {:>10.0} messages/s  ({:.2} s)",
                    num(&out["hub_per_s"]),
                    num(&out["hub_s"])
                );
                println!(
                    "  hub / bare (ack each)                       {:>10.0} %   (target ≥ 60 %)",
                    out["hub_vs_bare"].as_f64().unwrap_or(0.0) * 100.0
                );
                println!(
                    "  hub / bare (ack multiple)                   {:>10.0} %",
                    out["hub_vs_bare_batched"].as_f64().unwrap_or(0.0) * 100.0
                );
            }
            Ok(0)
        }
    }
}

async fn bench_mail(b: crate::connectors::mail::bench::MailBench, json: bool) -> anyhow::Result<i32> {
    let dir = tempfile::tempdir()?;
    let (store, _) = BenchDb::Sqlite { dir: dir.path(), sync: Synchronous::Full }.fresh("mail.db").await?;
    let engine = Arc::new(Engine { calendar: Calendar::builtin(), policy: Policy::default(), ownership: Default::default() });
    let (intake, _writer) = Intake::start(store.clone(), engine);
    let out = crate::connectors::mail::bench::run(&b, store, intake).await?;
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("mail: {} mails of {} bytes, each with one filled form (2 good rows, 1 bad)", b.mails, out["mail_bytes"]);
        println!(
            "  bare IMAP fetch (FETCH BODY.PEEK[], 64 a batch)         {:>8.0} mails/s     ({:.2} s)",
            f(&out, "bare_fetch_per_s"),
            f(&out, "bare_fetch_s")
        );
        println!("  bare parse (mail-parser + form read, one core)         {:>8.0} mails/s", f(&out, "parse_per_s"));
        println!(
            "  tongbao IMAP → parse → intake → commit → filed          {:>8.0} mails/s     ({:.2} s, {} reports)",
            f(&out, "hub_per_s"),
            f(&out, "hub_s"),
            out["reports"]
        );
        println!(
            "  tongbao receipts rendered and sent over SMTP            {:>8.0} receipts/s  ({:.2} s)",
            f(&out, "receipts_per_s"),
            f(&out, "receipts_s")
        );
        println!(
            "  bare lettre send of as many ready-made mails           {:>8.0} mails/s     ({:.2} s)",
            f(&out, "bare_send_per_s"),
            f(&out, "bare_send_s")
        );
    }
    Ok(0)
}

/// A figure of a bench result, for printing with a precision (`Value`'s Display ignores it).
fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// One provincial telecom company per province, the units every benchmark reports as.
pub(crate) fn bench_units() -> Vec<Unit> {
    crate::model::Province::ALL
        .iter()
        .map(|p| Unit {
            code: format!("CT-{}", p.code()).parse().expect("valid"),
            name: format!("中国电信{}分公司", p.short_zh()),
            unit_type: crate::model::UnitType::BasicTelecomProvincial,
            province: crate::model::Region::Province(*p),
            important: false,
            contacts: vec![],
            amqp_user: None,
            group: None,
        })
        .collect()
}

/// A realistic mix: most events are general, some urgent, some level-4 warnings.
fn bench_report(i: usize) -> Vec<u8> {
    let base = Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).single().expect("valid") + Duration::seconds(i as i64);
    let at = base.to_rfc3339();
    let province = crate::model::Province::ALL[i % 31].code();
    let doc = if i % 10 == 9 {
        serde_json::json!({"kind": "warning", "discovered_at": at, "category": "vulnerability", "level": 4, "provinces": [province],
            "content": {"description": format!("漏洞 {i}"), "potential_harm": "远程代码执行", "affected_scope": "部分用户",
                        "aware_parties": "本单位", "recommendations": "升级补丁"}})
    } else {
        let grade = ["general", "general", "general", "general", "general", "large", "large", "major", "general"][i % 9];
        serde_json::json!({"kind": "event", "discovered_at": at, "category": "ddos", "grade": grade, "provinces": [province],
            "content": {"unit_overview": "某IDC机房", "occurred_at": at, "summary": format!("流量攻击 {i}"),
                        "impact": "出口链路拥塞", "measures": "已启动流量清洗"}})
    };
    serde_json::to_vec(&doc).expect("json")
}

/// Where a bench's stores are made: SQLite files in a folder, or fresh PostgreSQL databases.
enum BenchDb<'a> {
    Sqlite { dir: &'a std::path::Path, sync: Synchronous },
    Postgres { server: &'a str },
}

impl BenchDb<'_> {
    /// The store named `name` (a file, or for PostgreSQL the URL of the database `created`).
    fn location_of(&self, created: Option<&str>, name: &str) -> Location {
        match self {
            BenchDb::Sqlite { dir, sync } => Location::Sqlite { path: dir.join(name), synchronous: *sync },
            BenchDb::Postgres { .. } => Location::Postgres(PgLocation {
                url: created.unwrap_or_default().to_string(),
                pool: 8,
                lease: crate::store::postgres::DEFAULT_LEASE,
            }),
        }
    }

    /// A fresh store with the bench's units, and the URL of the database made for it (to drop).
    async fn fresh(&self, name: &str) -> anyhow::Result<(Arc<AnyStore>, Option<String>)> {
        let created = match self {
            BenchDb::Sqlite { .. } => None,
            BenchDb::Postgres { server } => Some(crate::store::postgres::create_database(server).await?),
        };
        let store = Arc::new(crate::store::open(&self.location_of(created.as_deref(), name)).await?);
        store.import_units(&bench_units(), Utc::now()).await?;
        Ok((store, created))
    }

    /// Drops the databases the bench made (a SQLite folder goes with its temporary directory).
    async fn cleanup(&self, created: Option<String>) {
        if let (BenchDb::Postgres { server }, Some(url)) = (self, created)
            && let Err(e) = crate::store::postgres::drop_database(server, &url).await
        {
            eprintln!("could not drop the bench database {url}: {e}");
        }
    }
}

async fn bench_intake(n: usize, concurrency: usize, db: &BenchDb<'_>) -> anyhow::Result<serde_json::Value> {
    let engine = Arc::new(Engine { calendar: Calendar::builtin(), policy: Policy::default(), ownership: Default::default() });
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..n).map(bench_report).collect());
    let units: Arc<Vec<UnitCode>> = Arc::new(bench_units().into_iter().map(|u| u.code).collect());

    // 1. The hub: concurrent submitters, one intake writer, group commit.
    let (store, hub_db) = db.fresh("hub.db").await?;
    let (intake, writer) = Intake::start(store.clone(), engine.clone());
    let started = Instant::now();
    let cpu_started = cpu_s();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (intake, bodies, units) = (intake.clone(), bodies.clone(), units.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while i < bodies.len() {
                let sub = Submission::by_content(Channel::Cli, Sender::Unit(units[i % 31].clone()), bodies[i].clone(), Utc::now());
                let r = intake.submit(sub).await.expect("stored");
                assert!(r.errors.is_empty(), "{:?}", r.errors);
                i += concurrency;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let hub_s = started.elapsed().as_secs_f64();
    let hub_cpu_s = cpu_s() - cpu_started;
    drop(intake);
    writer.await?;
    let counts = store.counts().await?;
    anyhow::ensure!(counts.submissions as usize == n && counts.reports as usize == n, "stored {counts:?}, expected {n}");

    // 2. The floor: the same raw bytes, bare multi-row inserts, no parsing or rules.
    let (bare, bare_db) = db.fresh("bare.db").await?;
    let bare_s = crate::store::bare_inserts(&bare, &bodies, 512).await?;

    // 3. The naive alternative: one transaction per submission (no group commit), on a sample.
    let naive_n = (n / 10).clamp(1, 10_000);
    let (naive, naive_db) = db.fresh("naive.db").await?;
    let started = Instant::now();
    for (i, body) in bodies.iter().take(naive_n).enumerate() {
        let sub = Submission::by_content(Channel::Cli, Sender::Unit(units[i % 31].clone()), body.clone(), Utc::now());
        let items = crate::intake::json::parse_submission(&sub.raw, sub.received_at);
        let batch = vec![crate::decision::Parsed::new(sub, items)];
        let needs = crate::intake::decide::needs(&batch, &engine.policy);
        let eng = engine.clone();
        naive.commit_batch(needs, move |ctx| crate::intake::decide::decide_batch(batch, ctx, &eng)).await?;
    }
    let naive_s = started.elapsed().as_secs_f64();
    for (store, created) in [(store, hub_db), (bare, bare_db), (naive, naive_db)] {
        drop(store);
        db.cleanup(created).await;
    }

    Ok(serde_json::json!({
        "n": n, "concurrency": concurrency,
        "hub_s": hub_s, "hub_per_s": n as f64 / hub_s, "hub_cpu_us_per_submission": hub_cpu_s * 1e6 / n as f64,
        "bare_insert_s": bare_s, "bare_insert_per_s": n as f64 / bare_s,
        "naive_n": naive_n, "naive_s": naive_s, "naive_per_s": naive_n as f64 / naive_s,
        "rows": counts,
    }))
}

fn bench_aggregate(n: usize) -> serde_json::Value {
    // 10 botnets of n/10 IPs each; consecutive botnets overlap by half, so the distinct count is known.
    let per = (n / 10).max(1);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u32
    };
    let pool: Vec<u32> = (0..per * 11 / 2 + per).map(|_| next()).collect();
    let sets: Vec<BotSet> = (0..10)
        .map(|b| {
            let start = b * per / 2;
            let mut v4: Vec<u32> = pool[start..start + per].to_vec();
            v4.sort_unstable();
            v4.dedup();
            BotSet { v4, v6: vec![] }
        })
        .collect();
    let scales: Vec<BotnetScale<'_>> = sets.iter().map(|s| BotnetScale { declared_count: s.len(), listed: s }).collect();
    let started = Instant::now();
    let agg = botnet::aggregate(&scales);
    let hub_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut hs = std::collections::HashSet::with_capacity(n);
    for s in &sets {
        hs.extend(s.v4.iter().copied());
    }
    let hashset_s = started.elapsed().as_secs_f64();
    assert_eq!(hs.len() as u64, agg.distinct_listed);
    serde_json::json!({ "ips": sets.iter().map(|s| s.v4.len()).sum::<usize>(), "distinct": agg.distinct_listed, "hub_s": hub_s, "hashset_s": hashset_s })
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in KiB.
/// CPU seconds this process has used, user and system, over all its threads (0 where /proc has
/// no answer). Wall time on this VM drifts with its neighbours; CPU per submission drifts less.
fn cpu_s() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, counted after the parenthesised command name, in
    // clock ticks of 1/100 s (USER_HZ, fixed at 100 for what /proc reports on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some((fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?) as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

async fn forms_phase(phase: &str, file: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(file)?;
    let started = Instant::now();
    let out = match phase {
        "calamine" => {
            let cells = crate::forms::read::bare_read(&bytes).map_err(|e| anyhow::anyhow!(e))?;
            serde_json::json!({ "cells": cells })
        }
        "hub" => {
            let dir = tempfile::tempdir()?;
            let store = Arc::new(crate::store::SqliteStore::open(&dir.path().join("forms.db")).await?);
            store.import_units(&bench_units(), Utc::now()).await?;
            let engine = Arc::new(Engine { calendar: Calendar::builtin(), policy: Policy::default(), ownership: Default::default() });
            let (intake, writer) = Intake::start(store.clone(), engine);
            let sub = Submission::by_content(Channel::Upload, Sender::Unit("CT-GD".parse()?), bytes, Utc::now());
            let parse_started = Instant::now();
            let items = crate::forms::parse(&sub.raw, "bench.xlsx", sub.received_at, &crate::forms::Limits::default());
            let parse_s = parse_started.elapsed().as_secs_f64();
            let receipt = intake.submit_parsed(crate::decision::Parsed::new(sub, items)).await?;
            drop(intake);
            writer.await?;
            anyhow::ensure!(receipt.outcome == crate::model::Outcome::Accepted, "{:?}", receipt.errors);
            let reports = receipt.summary.as_ref().map_or(receipt.reports.len(), |s| s.reports);
            serde_json::json!({ "parse_s": parse_s, "grade": receipt.reports[0].grade, "reports": reports })
        }
        other => anyhow::bail!("unknown phase {other}"),
    };
    let mut out = out;
    out["secs"] = serde_json::json!(started.elapsed().as_secs_f64());
    out["peak_rss_kb"] = serde_json::json!(peak_rss_kb());
    Ok(out)
}

fn bench_forms(bots: usize, rows: usize, python: &str, keep: Option<&std::path::Path>, json: bool) -> anyhow::Result<i32> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("botnet-large.xlsx");
    let started = Instant::now();
    std::fs::write(&file, crate::forms::write::large_botnet(bots)?)?;
    let gen_s = started.elapsed().as_secs_f64();
    let me = std::env::current_exe()?;
    let phase_on = |name: &str, file: &std::path::Path| -> anyhow::Result<serde_json::Value> {
        let out = std::process::Command::new(&me).args(["bench", "forms-phase", name]).arg(file).output()?;
        anyhow::ensure!(out.status.success(), "phase {name}: {}", String::from_utf8_lossy(&out.stderr));
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let phase = |name: &str| phase_on(name, &file);
    let calamine = phase("calamine")?;
    let hub = phase("hub")?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/forms/read_openpyxl.py");
    let py = std::process::Command::new(python).arg(script).arg(&file).output()?;
    let openpyxl: serde_json::Value = if py.status.success() {
        serde_json::from_slice(&py.stdout)?
    } else {
        anyhow::bail!("openpyxl phase failed (is openpyxl installed for {python}?): {}", String::from_utf8_lossy(&py.stderr))
    };
    let size = std::fs::metadata(&file)?.len();
    // The second form: one report per row, so intake's per-report work is what is measured.
    let rows_file = dir.path().join("botnet-rows.xlsx");
    std::fs::write(&rows_file, crate::forms::write::botnet_rows(rows)?)?;
    let rows_calamine = phase_on("calamine", &rows_file)?;
    let rows_hub = phase_on("hub", &rows_file)?;
    let out = serde_json::json!({
        "bots": bots, "file_bytes": size, "generate_s": gen_s,
        "calamine": calamine, "hub": hub, "openpyxl": openpyxl,
        "hub_vs_calamine": hub["secs"].as_f64().unwrap_or(0.0) / calamine["secs"].as_f64().unwrap_or(1.0),
        "openpyxl_vs_hub": openpyxl["secs"].as_f64().unwrap_or(0.0) / hub["secs"].as_f64().unwrap_or(1.0),
        "rows": {
            "rows": rows, "file_bytes": std::fs::metadata(&rows_file)?.len(), "calamine": rows_calamine, "hub": rows_hub,
            "hub_vs_calamine": rows_hub["secs"].as_f64().unwrap_or(0.0) / rows_calamine["secs"].as_f64().unwrap_or(1.0),
        },
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("forms: botnet form with {bots} bot IPs ({:.1} MB xlsx, written in {gen_s:.1} s)", size as f64 / 1e6);
        println!(
            "  calamine bare read of every cell          {:>7.2} s  peak RSS {:>7} KB",
            num(&calamine["secs"]),
            calamine["peak_rss_kb"]
        );
        println!(
            "  tongbao parse + validate + grade + store  {:>7.2} s  peak RSS {:>7} KB  (parse {:.2} s)",
            num(&hub["secs"]),
            hub["peak_rss_kb"],
            num(&hub["parse_s"])
        );
        println!(
            "  openpyxl read-only, every cell            {:>7.2} s  peak RSS {:>7} KB",
            num(&openpyxl["secs"]),
            openpyxl["peak_rss_kb"]
        );
        println!(
            "  hub / calamine {:.2}×  (target ≤ 2×);  openpyxl / hub {:.1}×  (target ≥ 10×)",
            out["hub_vs_calamine"].as_f64().unwrap_or(0.0),
            out["openpyxl_vs_hub"].as_f64().unwrap_or(0.0)
        );
        let r = &out["rows"];
        println!("forms: botnet form with {rows} rows, one C&C and one report each ({:.1} MB xlsx)", num(&r["file_bytes"]) / 1e6);
        println!(
            "  calamine bare read of every cell          {:>7.2} s  peak RSS {:>7} KB",
            num(&r["calamine"]["secs"]),
            r["calamine"]["peak_rss_kb"]
        );
        println!(
            "  tongbao parse + validate + grade + store  {:>7.2} s  peak RSS {:>7} KB  (parse {:.2} s, {} reports)",
            num(&r["hub"]["secs"]),
            r["hub"]["peak_rss_kb"],
            num(&r["hub"]["parse_s"]),
            r["hub"]["reports"]
        );
        println!("  hub / calamine {:.1}×", num(&r["hub_vs_calamine"]));
    }
    if let Some(keep) = keep {
        std::fs::create_dir_all(keep)?;
        for f in [&file, &rows_file] {
            std::fs::copy(f, keep.join(f.file_name().unwrap_or_default()))?;
        }
    }
    Ok(0)
}
