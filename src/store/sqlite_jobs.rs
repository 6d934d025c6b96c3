//! The scheduler's queries on SQLite: alert scan, job runs, party fan-out, retention purge, digest counts.

use super::jobs::{AlertCandidate, AlertStep, JobRun, JobStore, MonthFacts, Purged, ReportBrief, Tally};
use super::sqlite::{
    corrupt, from_ms, insert_audit, insert_obligations, insert_outbox, ms, row_to_obligation, row_to_outbox_item, row_to_report,
};
use super::{OutboxItem, SqliteStore, StoreError};
use crate::intake::decide::{AuditRow, OutboxRow};
use crate::model::{Grade, Obligation, OutboxId, Province, ReportKind, WarningLevel};
use chrono::{DateTime, Utc};
use sqlx::{Connection, Row};

/// Rows that all happen at one instant.
fn at<T>(rows: &[T], now: DateTime<Utc>) -> Vec<(&T, DateTime<Utc>)> {
    rows.iter().map(|r| (r, now)).collect()
}

fn tallies(rows: Vec<sqlx::sqlite::SqliteRow>) -> Result<Vec<Tally>, StoreError> {
    rows.iter()
        .map(|r| Ok(Tally { key: r.try_get::<Option<String>, _>("k")?.unwrap_or_default(), count: r.try_get::<i64, _>("n")? as u64 }))
        .collect()
}

impl JobStore for SqliteStore {
    async fn alert_candidates(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<AlertCandidate>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.*, r.unit_code AS r_unit, r.kind AS r_kind, r.grade AS r_grade, r.level AS r_level, r.provinces AS r_provinces, \
             (SELECT u.important FROM units u WHERE u.code = substr(o.actor, 6) AND o.actor LIKE 'unit:%') AS actor_important \
             FROM obligations o LEFT JOIN reports r ON r.id = o.report_id \
             WHERE o.next_alert_at IS NOT NULL AND o.next_alert_at <= ? AND o.status = 'open' ORDER BY o.next_alert_at LIMIT ?",
        )
        .bind(ms(now))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let obligation = row_to_obligation(row)?;
                let unit: Option<String> = row.try_get("r_unit")?;
                let about = match (obligation.report_id, unit) {
                    (Some(id), Some(unit)) => {
                        let kind: String = row.try_get("r_kind")?;
                        let grade: Option<String> = row.try_get("r_grade")?;
                        let level: Option<i64> = row.try_get("r_level")?;
                        let provinces: String = row.try_get("r_provinces")?;
                        Some(ReportBrief {
                            id,
                            unit: unit.parse().map_err(|e| corrupt("reports.unit_code", e))?,
                            kind: ReportKind::parse(&kind).ok_or_else(|| corrupt("reports.kind", &kind))?,
                            grade: grade.map(|g| Grade::parse(&g)).transpose().map_err(|e| corrupt("reports.grade", e))?,
                            level: level.and_then(WarningLevel::from_number),
                            provinces: provinces.split_whitespace().filter_map(|p| Province::parse(p).ok()).collect(),
                            actor_important: row.try_get::<Option<bool>, _>("actor_important")?.unwrap_or(false),
                        })
                    }
                    _ => None,
                };
                Ok(AlertCandidate { stage: row.try_get::<i64, _>("alert_stage")? as u8, obligation, about })
            })
            .collect()
    }

    async fn apply_alerts(&self, steps: Vec<AlertStep>, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut applied = 0;
        let mut outbox = Vec::new();
        let mut audit = Vec::new();
        for step in steps {
            let done = sqlx::query(
                "UPDATE obligations SET alert_stage = ?, next_alert_at = ?, status = CASE WHEN ? THEN 'missed' ELSE status END \
                 WHERE id = ? AND alert_stage = ? AND status = 'open'",
            )
            .bind(i64::from(step.to_stage))
            .bind(step.next_alert_at.map(ms))
            .bind(step.missed)
            .bind(step.obligation.to_string())
            .bind(i64::from(step.from_stage))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                applied += 1;
                outbox.extend(step.outbox);
                audit.extend(step.audit);
            }
        }
        insert_outbox(&mut tx, &at(&outbox, now)).await?;
        insert_audit(&mut tx, &at(&audit, now)).await?;
        tx.commit().await?;
        Ok(applied)
    }

    async fn job_ran(&self, job: &str, period: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query("SELECT ran_at FROM job_runs WHERE job = ? AND period = ?")
            .bind(job)
            .bind(period)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(from_ms(r.try_get("ran_at")?)),
            None => None,
        })
    }

    async fn record_job(&self, run: JobRun) -> Result<bool, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let fresh = sqlx::query("INSERT INTO job_runs (job, period, ran_at, detail) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
            .bind(run.job)
            .bind(&run.period)
            .bind(ms(run.at))
            .bind(run.detail.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !fresh {
            return Ok(false); // dropping the transaction rolls it back
        }
        insert_obligations(&mut tx, &run.obligations.iter().collect::<Vec<_>>(), run.at).await?;
        for key in &run.fulfils {
            sqlx::query(
                "UPDATE obligations SET status = CASE WHEN due_at >= ? THEN 'met' ELSE 'late' END, met_at = ?, next_alert_at = NULL \
                 WHERE okey = ? AND status IN ('open', 'missed')",
            )
            .bind(ms(run.at))
            .bind(ms(run.at))
            .bind(key)
            .execute(&mut *tx)
            .await?;
        }
        insert_outbox(&mut tx, &at(&run.outbox, run.at)).await?;
        insert_audit(&mut tx, &at(&run.audit, run.at)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn keyed_obligations(&self, pattern: &str) -> Result<Vec<Obligation>, StoreError> {
        let rows = sqlx::query("SELECT * FROM obligations WHERE okey LIKE ? ORDER BY okey").bind(pattern).fetch_all(&self.pool).await?;
        rows.iter().map(row_to_obligation).collect()
    }

    async fn party_rows(&self, now: DateTime<Utc>, all: bool, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, recipient, subject_id, urgent, payload, attempts FROM outbox \
             WHERE channel = 'party' AND status = 'pending' AND urgent >= ? AND next_attempt_at <= ? ORDER BY id LIMIT ?",
        )
        .bind(if all { 0 } else { 1 })
        .bind(ms(now))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_outbox_item).collect()
    }

    async fn expand_party_rows(
        &self,
        expanded: Vec<OutboxId>,
        unresolved: Vec<(OutboxId, String)>,
        children: Vec<OutboxRow>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        for id in &expanded {
            sqlx::query("UPDATE outbox SET status = 'expanded', attempts = attempts + 1 WHERE id = ? AND status = 'pending'")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let mut audit = Vec::new();
        for (id, why) in &unresolved {
            sqlx::query("UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ? AND status = 'pending'")
                .bind(why)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            audit.push(AuditRow {
                actor: "hub".into(),
                action: "outbox.failed",
                subject: id.to_string(),
                detail: serde_json::json!({ "error": why }),
            });
        }
        insert_outbox(&mut tx, &at(&children, now)).await?;
        insert_audit(&mut tx, &at(&audit, now)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn purge(&self, cutoff: DateTime<Utc>) -> Result<Purged, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let c = ms(cutoff);
        let mut run =
            async |sql: &str| -> Result<u64, StoreError> { Ok(sqlx::query(sql).bind(c).execute(&mut *tx).await?.rows_affected()) };
        let purged = Purged {
            submissions: run("DELETE FROM submissions WHERE received_at < ?").await?,
            reports: run("DELETE FROM reports WHERE received_at < ?").await?,
            botnets: run("DELETE FROM botnets WHERE discovered_at < ? AND report_id NOT IN (SELECT id FROM reports)").await?,
            // Open duties stay whatever their age: they are still owed.
            obligations: run("DELETE FROM obligations WHERE created_at < ? AND status <> 'open'").await?,
            outbox: run("DELETE FROM outbox WHERE created_at < ? AND status IN ('sent', 'expanded', 'failed')").await?,
            audit: run("DELETE FROM audit WHERE at < ?").await?,
        };
        run("DELETE FROM job_runs WHERE ran_at < ?").await?;
        tx.commit().await?;
        Ok(purged)
    }

    async fn month_facts(&self, from: DateTime<Utc>, to: DateTime<Utc>, typical: u32) -> Result<MonthFacts, StoreError> {
        let (a, b) = (ms(from), ms(to));
        let mut facts = MonthFacts::default();
        let rows = sqlx::query(
            "SELECT kind, coalesce(grade, CASE WHEN level IS NOT NULL THEN 'level' || level END, '') AS sev, count(*) AS n \
             FROM reports WHERE received_at >= ? AND received_at < ? GROUP BY kind, sev ORDER BY kind, sev",
        )
        .bind(a)
        .bind(b)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            facts.by_kind_severity.push((r.try_get("kind")?, r.try_get("sev")?, r.try_get::<i64, _>("n")? as u64));
        }
        let group = async |col: &str| -> Result<Vec<Tally>, StoreError> {
            let sql = format!(
                "SELECT {col} AS k, count(*) AS n FROM reports WHERE received_at >= ? AND received_at < ? \
                 AND kind IN ('event', 'warning', 'botnet_event') GROUP BY {col} ORDER BY n DESC, k"
            );
            tallies(sqlx::query(&sql).bind(a).bind(b).fetch_all(&self.pool).await?)
        };
        facts.by_category = group("category").await?;
        facts.by_unit = group("unit_code").await?;
        facts.by_provinces = group("provinces").await?;
        let rows = sqlx::query(
            "SELECT * FROM reports WHERE received_at >= ? AND received_at < ? AND kind IN ('event', 'warning', 'botnet_event') \
             AND follows_up IS NULL ORDER BY CASE grade WHEN 'especially_major' THEN 0 WHEN 'major' THEN 1 WHEN 'large' THEN 2 ELSE 3 END, \
             coalesce(level, 9), received_at LIMIT ?",
        )
        .bind(a)
        .bind(b)
        .bind(i64::from(typical))
        .fetch_all(&self.pool)
        .await?;
        facts.typical = rows.iter().map(row_to_report).collect::<Result<_, _>>()?;
        let rows = sqlx::query(
            "SELECT actor, duty, status, count(*) AS n FROM obligations WHERE due_at > ? AND due_at <= ? AND binding = 1 \
             GROUP BY actor, duty, status ORDER BY actor, duty, status",
        )
        .bind(a)
        .bind(b)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            facts.obligations.push((r.try_get("actor")?, r.try_get("duty")?, r.try_get("status")?, r.try_get::<i64, _>("n")? as u64));
        }
        facts.disposal = tallies(
            sqlx::query(
                "SELECT status AS k, count(*) AS n FROM obligations WHERE duty = 'disposal_feedback' AND trigger_at >= ? AND trigger_at < ? \
                 GROUP BY status ORDER BY status",
            )
            .bind(a)
            .bind(b)
            .fetch_all(&self.pool)
            .await?,
        )?;
        let row = sqlx::query(
            "SELECT coalesce(sum(json_array_length(body, '$.content.disposed')), 0) AS d, \
             coalesce(sum(json_array_length(body, '$.content.undisposed')), 0) AS u \
             FROM reports WHERE kind = 'disposal_feedback' AND received_at >= ? AND received_at < ?",
        )
        .bind(a)
        .bind(b)
        .fetch_one(&self.pool)
        .await?;
        facts.targets_disposed = row.try_get::<i64, _>("d")? as u64;
        facts.targets_undisposed = row.try_get::<i64, _>("u")? as u64;
        Ok(facts)
    }
}
