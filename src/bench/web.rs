//! `tongbao bench web`: the console's dashboard and obligations board under a steady request rate, on a store seeded with a million reports and open obligations, against the HTTP floor (`/healthz`) in the same run.
//!
//! Requests are sent open-loop: each is due at its own instant (rate × seconds of them, evenly
//! spaced) whatever the earlier ones are doing, and its latency is counted from that instant,
//! so a slow answer shows in the percentiles instead of slowing the load (no coordinated
//! omission). Each request opens its own connection, as browsers behind a proxy often do.

use crate::store::{SqliteStore, Store, Synthetic, UserStore};
use chrono::{Duration, Utc};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct WebBench {
    pub reports: u64,
    pub obligations: u64,
    pub rate: u32,
    pub seconds: u32,
}

/// One GET over a fresh connection: the status code, or why there was none.
async fn get(address: std::net::SocketAddr, path: &str, cookie: &str) -> Result<u16, String> {
    let mut stream = tokio::net::TcpStream::connect(address).await.map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(32)]).to_string();
    head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or(format!("no status line: {head:?}"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// `rate` requests a second to `path` for `seconds`: latencies from each request's due instant.
async fn load(address: std::net::SocketAddr, path: &str, cookie: &str, rate: u32, seconds: u32) -> serde_json::Value {
    let n = (rate * seconds) as usize;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let due = start + std::time::Duration::from_secs_f64(i as f64 / f64::from(rate));
        let (path, cookie) = (path.to_string(), cookie.to_string());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            let status = get(address, &path, &cookie).await;
            (due.elapsed().as_secs_f64() * 1000.0, status)
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    let mut failures = 0usize;
    for t in tasks {
        match t.await {
            Ok((ms, Ok(200))) => latencies.push(ms),
            _ => failures += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    serde_json::json!({
        "path": path, "requests": n, "failures": failures, "achieved_per_s": latencies.len() as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.50), "p90_ms": percentile(&latencies, 0.90), "p99_ms": percentile(&latencies, 0.99),
        "max_ms": latencies.last().copied().unwrap_or(f64::NAN),
    })
}

pub async fn run(b: WebBench) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("web.db");
    let sqlite = SqliteStore::open(&path).await?;
    let units = super::bench_units();
    sqlite.import_units(&units, Utc::now()).await?;
    let now = Utc::now();
    // Reports over the last 30 days (today's among them); open obligations whose alert times
    // are spread over the 30 days from now, a tenth of them already due.
    let seed = Synthetic {
        reports: b.reports,
        month_from: now - Duration::days(30),
        month_to: now,
        previous_from: now - Duration::days(60),
        obligations: b.obligations,
        due: b.obligations / 10,
        due_before: now,
        units: units.iter().map(|u| u.code.to_string()).collect(),
        bodies: super::schedule::bodies(&units[0].code)?,
    };
    let t = Instant::now();
    sqlite.seed_synthetic(&seed).await?;
    let seed_s = t.elapsed().as_secs_f64();
    drop(sqlite);
    let store = Arc::new(crate::store::open(&crate::store::Location::Sqlite { path, synchronous: Default::default() }).await?);

    // A CNCERT user (the widest scope, the heaviest queries) and a bureau's, with sessions
    // signed by the key the server reads from the environment.
    // SAFETY: set before any thread reads the environment for the key (the server is made below).
    unsafe { std::env::set_var(crate::connectors::http::auth::SessionKey::ENV, uuid::Uuid::new_v4().simple().to_string().repeat(2)) };
    let key = crate::connectors::http::auth::SessionKey::from_env();
    let mut cookies = Vec::new();
    for (name, role) in [("bench-cncert", "cncert"), ("bench-gd", "bureau:GD")] {
        let user = crate::model::User {
            name: name.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            role: role.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            password_hash: crate::connectors::http::auth::hash_password("bench password, never used"),
        };
        store.put_user(&user, true, now).await?;
        let (cookie, hash) = key.new_session();
        store.open_session(&hash, &user.name, now, now + Duration::hours(2)).await?;
        cookies.push((role, format!("{}={cookie}", crate::connectors::http::auth::COOKIE)));
    }
    let engine = Arc::new(crate::decision::Engine {
        calendar: crate::rules::Calendar::builtin(),
        policy: Default::default(),
        ownership: Default::default(),
    });
    let (intake, _writer) = crate::intake::Intake::start(store.clone(), engine);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let limits = crate::connectors::http::HttpLimits {
        max_connections: 4096,
        max_connections_per_address: 4096,
        ..crate::connectors::http::HttpLimits::from_config(&crate::config::ServeConfig::default())
    };
    let state = crate::connectors::http::HttpState::with_limits(store.clone(), intake, limits);
    tokio::spawn(crate::connectors::http::serve(listener, state, std::future::pending()));

    let mut runs = Vec::new();
    for (role, cookie) in &cookies {
        for path in ["/healthz", "/api/v1/dashboard", "/console", "/api/v1/obligations", "/console/obligations?state=due_soon"] {
            if *role != "cncert" && path == "/healthz" {
                continue;
            }
            // A few requests first, so the first measured ones do not pay for cold pages.
            for _ in 0..3 {
                let _ = get(address, path, cookie).await;
            }
            let mut r = load(address, path, cookie, b.rate, b.seconds).await;
            r["role"] = serde_json::json!(role);
            tracing::info!(role, path, p99_ms = r["p99_ms"].as_f64(), "measured");
            runs.push(r);
        }
    }
    let counts = store.counts().await?;
    Ok(serde_json::json!({
        "reports": counts.reports, "open_obligations": b.obligations, "seed_s": seed_s, "rate": b.rate, "seconds": b.seconds,
        "target_p99_ms": 100, "runs": runs,
    }))
}
