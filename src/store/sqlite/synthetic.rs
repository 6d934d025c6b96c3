//! Synthetic rows and bare queries for `tongbao bench schedule` and `bench intake`: a million reports and open obligations written by SQL, and the plain SQL the scheduler and the digest are measured against.
//!
//! Seeding through intake would take minutes per run and measure intake again; these rows are
//! generated inside SQLite from a few real report bodies, so they parse like stored ones.

use super::{SqliteStore, ms};
use crate::store::StoreError;
use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

/// What to seed: `reports` received evenly over `[month_from, month_to)` (and a tenth as many in
/// the month before, for the trend), and `obligations` open ones, one per report in turn, whose
/// alert times are spread over 30 days from `due_before`; the first `due` of them fall before it.
#[derive(Debug, Clone)]
pub struct Synthetic {
    pub reports: u64,
    pub month_from: DateTime<Utc>,
    pub month_to: DateTime<Utc>,
    pub previous_from: DateTime<Utc>,
    pub obligations: u64,
    pub due: u64,
    pub due_before: DateTime<Utc>,
    /// Unit codes the rows are spread over.
    pub units: Vec<String>,
    /// Stored-report JSON bodies (an event, a warning, a botnet event) the rows are made from.
    pub bodies: [String; 3],
}

/// A `WITH RECURSIVE` counter 0..?1, the row source of every seed statement.
const COUNTER: &str = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) ";

impl SqliteStore {
    /// Writes the synthetic rows of `s` in one transaction each for reports and obligations.
    pub async fn seed_synthetic(&self, s: &Synthetic) -> Result<(), StoreError> {
        let units = serde_json::to_string(&s.units).map_err(|e| super::corrupt("units", e))?;
        let previous = s.reports / 10;
        for (count, from, to, prefix) in [(s.reports, s.month_from, s.month_to, "7"), (previous, s.previous_from, s.month_from, "6")] {
            let step = ((ms(to) - ms(from)) / count.max(1) as i64).max(1);
            // Kinds: 6 in 10 events (grades by i), 3 in 10 warnings (levels by i), 1 in 10 botnets.
            // Each is discovered ten minutes before it is received, but not before its month
            // began: the digest counts a month's reports by when they were discovered.
            let sql = format!(
                "{COUNTER}, t AS (SELECT i, \
                   printf('00000000-0000-{prefix}000-8000-%012x', i) AS id, \
                   json_extract(?2, '$[' || (i % json_array_length(?2)) || ']') AS unit, \
                   CASE WHEN i % 10 < 6 THEN 0 WHEN i % 10 < 9 THEN 1 ELSE 2 END AS k, \
                   ?3 + i * ?4 AS at, \
                   CASE i % 4 WHEN 0 THEN 'GD' WHEN 1 THEN 'BJ' WHEN 2 THEN 'SH' ELSE 'ZJ' END AS province \
                   FROM n) \
                 INSERT INTO reports (id, submission_id, seq, unit_code, kind, grade, level, category, discovered_at, received_at, follows_up, body, provinces) \
                 SELECT id, id, 0, unit, CASE k WHEN 0 THEN 'event' WHEN 1 THEN 'warning' ELSE 'botnet_event' END, \
                   CASE k WHEN 1 THEN NULL ELSE CASE WHEN i % 97 = 0 THEN 'major' WHEN i % 13 = 0 THEN 'large' ELSE 'general' END END, \
                   CASE k WHEN 1 THEN 1 + i % 4 END, \
                   CASE k WHEN 2 THEN 'malware' ELSE CASE i % 3 WHEN 0 THEN 'ddos' WHEN 1 THEN 'web_defacement' ELSE 'intrusion' END END, \
                   MAX(at - 600000, ?3), at, NULL, \
                   json_set(CASE k WHEN 0 THEN ?5 WHEN 1 THEN ?6 ELSE ?7 END, '$.id', id, '$.unit', unit), province \
                 FROM t"
            );
            let mut tx = self.pool().begin().await?;
            sqlx::query(&sql)
                .bind(count as i64)
                .bind(&units)
                .bind(ms(from))
                .bind(step)
                .bind(&s.bodies[0])
                .bind(&s.bodies[1])
                .bind(&s.bodies[2])
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }

        // Obligations: one in four is past due at `due_before` (an overdue alert), the rest get a
        // reminder; one in ten is a disposal feedback, the duty that escalates.
        let span = Duration::days(30).num_milliseconds();
        let step = (span / s.obligations.max(1) as i64).max(1);
        let first = ms(s.due_before) - s.due as i64 * step + 1;
        let sql = format!(
            "{COUNTER} INSERT INTO obligations (id, okey, report_id, duty, actor, recipients, copies, rule, trigger_at, due_at, provisional, \
               basis_code, basis_zh, binding, status, met_by, met_at, created_at, next_alert_at, alert_stage) \
             SELECT printf('00000000-0000-7000-9000-%012x', i), NULL, printf('00000000-0000-7000-8000-%012x', i % max(?2, 1)), \
               CASE WHEN i % 10 = 0 THEN 'disposal_feedback' ELSE 'report' END, \
               'unit:' || json_extract(?3, '$[' || (i % json_array_length(?3)) || ']'), '[\"cncert\"]', '[]', 'workdays_after:5', \
               ?4 + i * ?5 - 432000000, CASE WHEN i % 4 = 0 THEN ?4 + i * ?5 ELSE ?4 + i * ?5 + 86400000 END, 0, \
               'tongbao-13.3', '《通报办法》第十三条第三款', 1, 'open', NULL, NULL, ?4, ?4 + i * ?5, 0 \
             FROM n"
        );
        let mut tx = self.pool().begin().await?;
        sqlx::query(&sql).bind(s.obligations as i64).bind(s.reports as i64).bind(&units).bind(first).bind(step).execute(&mut *tx).await?;
        tx.commit().await?;
        sqlx::query("ANALYZE").execute(self.pool()).await?;
        Ok(())
    }

    /// The bare floor of a deadline scan: the open obligations whose alert time has come, read
    /// through the same index (ids and times only; nothing decided, nothing written).
    pub async fn bare_due_obligations(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let rows =
            sqlx::query("SELECT id, due_at FROM obligations WHERE next_alert_at IS NOT NULL AND next_alert_at <= ? AND status = 'open'")
                .bind(ms(now))
                .fetch_all(self.pool())
                .await?;
        Ok(rows.len() as u64)
    }

    /// The naive alternative without alert times: every open obligation read and compared with
    /// the clock in the application, on every scan.
    pub async fn bare_open_obligations_due(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let rows = sqlx::query("SELECT id, due_at FROM obligations WHERE status = 'open'").fetch_all(self.pool()).await?;
        let now = ms(now);
        let mut due = 0;
        for r in rows {
            if r.try_get::<i64, _>("due_at")? - 86_400_000 <= now {
                due += 1;
            }
        }
        Ok(due)
    }

    /// The bare floor of a digest: one grouped count of the month's reports by kind and severity.
    pub async fn bare_month_counts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<u64, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, coalesce(grade, level, '') AS sev, count(*) AS n FROM reports WHERE received_at >= ? AND received_at < ? GROUP BY kind, sev",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(self.pool())
        .await?;
        let mut total = 0;
        for r in rows {
            total += r.try_get::<i64, _>("n")? as u64;
        }
        Ok(total)
    }
}

/// The floor `tongbao bench intake` compares intake with: the same raw bodies in bare multi-row
/// inserts of `per_transaction` rows, no parsing or rules. Returns the seconds it took.
pub async fn bare_inserts(store: &SqliteStore, bodies: &[Vec<u8>], per_transaction: usize) -> Result<f64, StoreError> {
    sqlx::query("CREATE TABLE bare (id TEXT PRIMARY KEY, raw BLOB NOT NULL)").execute(store.pool()).await?;
    let started = std::time::Instant::now();
    for chunk in bodies.chunks(per_transaction.max(1)) {
        let mut tx = store.pool().begin().await?;
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO bare (id, raw) ");
        qb.push_values(chunk, |mut b, raw| {
            b.push_bind(uuid::Uuid::now_v7().to_string()).push_bind(raw.clone());
        });
        qb.build().execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(started.elapsed().as_secs_f64())
}
