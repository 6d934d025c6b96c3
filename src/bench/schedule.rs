//! `tongbao bench schedule`: the deadline scan over a million open obligations and the monthly digest over a million reports, each against bare SQL on the same database in the same run.

use crate::model::report::Report;
use crate::model::{ReportId, UnitCode, YearMonth};
use crate::rules::calendar::start_of_day;
use crate::store::{SqliteStore, Store, Synthetic};
use chrono::{Duration, NaiveDate, Utc};
use std::time::Instant;

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleBench {
    pub reports: u64,
    pub obligations: u64,
    /// How many of the open obligations are due for an alert at the busy scan.
    pub due: u64,
}

/// A stored-report body made the way intake makes one, from canonical JSON.
fn body(doc: serde_json::Value, unit: &UnitCode) -> anyhow::Result<String> {
    let at = Utc::now();
    let items = crate::intake::json::parse_submission(&serde_json::to_vec(&doc)?, at).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let (_, input) = items.into_iter().next().ok_or_else(|| anyhow::anyhow!("no report"))?;
    let input = input.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let report = Report { id: ReportId::new(), unit: unit.clone(), declared_grade: None, content: input.content };
    Ok(serde_json::to_string(&report)?)
}

pub(super) fn bodies(unit: &UnitCode) -> anyhow::Result<[String; 3]> {
    let at = "2026-09-10T10:00:00+08:00";
    Ok([
        body(
            serde_json::json!({"kind": "event", "discovered_at": at, "category": "ddos", "grade": "general", "provinces": ["GD"],
                "content": {"unit_overview": "某IDC机房", "occurred_at": at, "summary": "流量攻击导致出口拥塞",
                            "impact": "出口链路拥塞", "measures": "已启动流量清洗"}}),
            unit,
        )?,
        body(
            serde_json::json!({"kind": "warning", "discovered_at": at, "category": "vulnerability", "level": 4, "provinces": ["GD"],
                "content": {"description": "某中间件远程代码执行漏洞", "potential_harm": "远程代码执行", "affected_scope": "部分用户",
                            "aware_parties": "本单位", "recommendations": "升级补丁"}}),
            unit,
        )?,
        body(
            serde_json::json!({"kind": "botnet_event", "discovered_at": at, "provinces": ["GD"],
                "content": {"botnets": [{"cc_ip": "203.0.113.7", "port": 6667, "bot_count": 1200}]}}),
            unit,
        )?,
    ])
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

pub async fn run(b: ScheduleBench) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("schedule.db")).await?;
    let units = super::bench_units();
    store.import_units(&units, Utc::now()).await?;
    let month: YearMonth = "2026-09".parse().map_err(|e: crate::model::ParseError| anyhow::anyhow!("{}", e.expected))?;
    let (from, to) = crate::digest::span(month);
    let (previous_from, _) = crate::digest::span(month.previous());
    // The busy scan runs at 10:00 on 2026-10-15; the idle one 31 days earlier, before any alert
    // time (they are spread over the 30 days up to `due` past the busy instant).
    let busy_at = start_of_day(NaiveDate::from_ymd_opt(2026, 10, 15).expect("valid date")) + Duration::hours(10);
    let idle_at = busy_at - Duration::days(31);
    let seed = Synthetic {
        reports: b.reports,
        month_from: from,
        month_to: to,
        previous_from,
        obligations: b.obligations,
        due: b.due.min(b.obligations),
        due_before: busy_at,
        units: units.iter().map(|u| u.code.to_string()).collect(),
        bodies: bodies(&units[0].code)?,
    };
    let t = Instant::now();
    store.seed_synthetic(&seed).await?;
    let seed_s = secs(t);
    let db_mb = ["schedule.db", "schedule.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.path().join(f)).ok())
        .map(|m| m.len() as f64 / 1e6)
        .sum::<f64>();
    tracing::info!(seed_s, db_mb, "seeded");

    // The deadline scan when nothing is due: what every minute costs.
    const IDLE_RUNS: u32 = 50;
    let t = Instant::now();
    for _ in 0..IDLE_RUNS {
        let said = crate::schedule::scan_deadlines(&store, &crate::rules::Calendar::builtin(), &Default::default(), idle_at).await?;
        anyhow::ensure!(said.is_empty(), "idle scan found work: {said}");
    }
    let idle_scan_ms = secs(t) * 1000.0 / f64::from(IDLE_RUNS);
    let t = Instant::now();
    let naive_due = store.bare_open_obligations_due(idle_at).await?;
    let naive_open_scan_ms = secs(t) * 1000.0;
    anyhow::ensure!(naive_due == 0, "the naive scan found {naive_due} due at the idle instant");

    // The busy scan: `due` obligations reminded or alerted, their notices queued, in one run.
    let t = Instant::now();
    let bare_due = store.bare_due_obligations(busy_at).await?;
    let bare_due_s = secs(t);
    anyhow::ensure!(bare_due == seed.due, "{bare_due} obligations due, expected {}", seed.due);
    let before = store.counts().await?;
    let t = Instant::now();
    let said = crate::schedule::scan_deadlines(&store, &crate::rules::Calendar::builtin(), &Default::default(), busy_at).await?;
    let busy_scan_s = secs(t);
    let after = store.counts().await?;
    let alerts_written = (after.outbox - before.outbox) as u64;
    anyhow::ensure!(alerts_written >= seed.due, "the scan queued {alerts_written} notices for {} due obligations ({said})", seed.due);

    // The digest of the month: counts, the chart, the workbook.
    let t = Instant::now();
    let digest = crate::schedule::compute_digest(&store, month, chrono::Utc::now()).await?;
    let digest_compute_s = secs(t);
    anyhow::ensure!(digest.total == b.reports, "the digest counted {} reports, {} were stored", digest.total, b.reports);
    let t = Instant::now();
    let chart = crate::digest::chart::png(&digest.by_grade).map_err(|e| anyhow::anyhow!(e))?;
    let workbook = crate::digest::workbook::xlsx(&digest).map_err(|e| anyhow::anyhow!(e))?;
    let digest_render_s = secs(t);
    let t = Instant::now();
    let bare_total = store.bare_month_counts(from, to).await?;
    let bare_month_s = secs(t);
    anyhow::ensure!(bare_total == b.reports, "bare count {bare_total}, expected {}", b.reports);

    Ok(serde_json::json!({
        "reports": b.reports, "obligations": b.obligations, "due": seed.due,
        "seed_s": seed_s, "db_mb": db_mb,
        "idle_scan_ms": idle_scan_ms, "naive_open_scan_ms": naive_open_scan_ms,
        "busy_scan_s": busy_scan_s, "busy_scan_said": said, "notices_queued": alerts_written,
        "bare_due_select_s": bare_due_s,
        "digest_compute_s": digest_compute_s, "digest_render_s": digest_render_s,
        "chart_bytes": chart.len(), "workbook_bytes": workbook.len(),
        "bare_month_count_s": bare_month_s,
    }))
}
