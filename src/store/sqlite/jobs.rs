//! The scheduler's queries on SQLite: alert scan, job runs, party fan-out, retention purge, digest counts.

use super::SqliteStore;
use super::{
    REPORT_REF_COLUMNS, from_ms, insert_audit, insert_obligations, insert_outbox, mark_fulfilled, ms, row_to_obligation,
    row_to_outbox_item, row_to_report, row_to_report_ref,
};
use crate::decision::{AuditRow, Fulfils, OutboxRow};
use crate::model::{Obligation, OutboxId};
use crate::store::jobs::{AlertCandidate, AlertStep, Arrivals, JobRun, JobStore, MonthFacts, Purged, Recomputation, SummaryEvents};
use crate::store::shared::{add_obligation_tallies, add_report_tallies};
use crate::store::{OutboxItem, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{Connection, Row};

impl JobStore for SqliteStore {
    async fn alert_candidates(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<AlertCandidate>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT o.*, {REPORT_REF_COLUMNS}, \
             (SELECT u.important FROM units u WHERE u.code = substr(o.actor, 6) AND o.actor LIKE 'unit:%') AS actor_important \
             FROM obligations o LEFT JOIN reports r ON r.id = o.report_id LEFT JOIN units ru ON ru.code = r.unit_code \
             WHERE o.next_alert_at IS NOT NULL AND o.next_alert_at <= ? AND o.status = 'open' ORDER BY o.next_alert_at LIMIT ?"
        ))
        .bind(ms(now))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let found: Option<String> = row.try_get("r_id")?;
                Ok(AlertCandidate {
                    stage: row.try_get::<i64, _>("alert_stage")? as u8,
                    obligation: row_to_obligation(row)?,
                    about: found.map(|_| row_to_report_ref(row)).transpose()?,
                    actor_important: row.try_get::<Option<bool>, _>("actor_important")?.unwrap_or(false),
                })
            })
            .collect()
    }

    async fn apply_alerts(&self, steps: Vec<AlertStep>, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut writer = self.writer().await?;
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
        insert_outbox(&mut tx, outbox, now).await?;
        insert_audit(&mut tx, audit, now).await?;
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
        let mut writer = self.writer().await?;
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
        insert_obligations(&mut tx, &run.obligations, run.at).await?;
        for key in &run.fulfils {
            mark_fulfilled(&mut tx, &Fulfils::Key(key.clone()), None, run.at).await?;
        }
        insert_outbox(&mut tx, run.outbox, run.at).await?;
        insert_audit(&mut tx, run.audit, run.at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn keyed_obligations(&self, pattern: &str) -> Result<Vec<Obligation>, StoreError> {
        let rows = sqlx::query("SELECT * FROM obligations WHERE okey LIKE ? ORDER BY okey").bind(pattern).fetch_all(&self.pool).await?;
        rows.iter().map(row_to_obligation).collect()
    }

    async fn provisional_obligations(&self) -> Result<Vec<(Obligation, u8)>, StoreError> {
        let rows = sqlx::query("SELECT * FROM obligations WHERE provisional = 1").fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok((row_to_obligation(row)?, row.try_get::<i64, _>("alert_stage")? as u8))).collect()
    }

    async fn apply_recomputed(&self, changes: Vec<Recomputation>, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let (mut applied, mut outbox, mut audit) = (0, Vec::new(), Vec::new());
        for c in changes {
            let done = sqlx::query(
                "UPDATE obligations SET due_at = ?, provisional = 0, status = ?, alert_stage = ?, next_alert_at = ? \
                 WHERE id = ? AND provisional = 1 AND status = ?",
            )
            .bind(ms(c.due_at))
            .bind(c.status.code())
            .bind(i64::from(c.stage))
            .bind(c.next_alert_at.map(ms))
            .bind(c.obligation.to_string())
            .bind(c.from_status.code())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                applied += 1;
                outbox.extend(c.outbox);
                audit.extend(c.audit);
            }
        }
        insert_outbox(&mut tx, outbox, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(applied)
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
    ) -> Result<bool, StoreError> {
        // The rows were read outside this transaction, so the urgent loop and the notice batch
        // may both hold them: the one writer decides who expands each, by which of them still
        // finds it pending. The loser writes nothing (the transaction is dropped) and reads again.
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let outcomes = expanded.iter().map(|id| (id, "expanded", None)).chain(unresolved.iter().map(|(id, why)| (id, "failed", Some(why))));
        for (id, status, why) in outcomes {
            let claimed = sqlx::query(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = coalesce(?, last_error) WHERE id = ? AND status = 'pending'",
            )
            .bind(status)
            .bind(why)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                return Ok(false);
            }
        }
        let audit = unresolved
            .iter()
            .map(|(id, why)| AuditRow {
                actor: "hub".into(),
                action: "outbox.failed",
                subject: id.to_string(),
                detail: serde_json::json!({ "error": why }),
            })
            .collect();
        insert_outbox(&mut tx, children, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn purge(&self, cutoff: DateTime<Utc>) -> Result<Purged, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let c = ms(cutoff);
        let mut run =
            async |sql: &str| -> Result<u64, StoreError> { Ok(sqlx::query(sql).bind(c).execute(&mut *tx).await?.rows_affected()) };
        let purged = Purged {
            // A report with a duty still open stays, whatever its age: the unit must still be
            // able to send the written report or the feedback it owes, naming it. Its
            // submission stays with it (the bytes it came as). CNCERT's reminder to track a
            // warning (Art. 16¶2 [通报办法]) is its own note and keeps nothing.
            reports: run("DELETE FROM reports WHERE received_at < ? \
                 AND NOT EXISTS (SELECT 1 FROM obligations o WHERE o.report_id = reports.id AND o.status = 'open' AND o.duty <> 'track_warning')")
            .await?,
            submissions: run(
                // The old reports left are the few kept for a duty: read by the received_at index.
                "DELETE FROM submissions WHERE received_at < ?1 AND id NOT IN (SELECT submission_id FROM reports WHERE received_at < ?1)",
            )
            .await?,
            botnets: run("DELETE FROM botnets WHERE discovered_at < ? AND report_id NOT IN (SELECT id FROM reports)").await?,
            // Open duties stay whatever their age: they are still owed.
            obligations: run("DELETE FROM obligations WHERE created_at < ? AND status <> 'open'").await?,
            // A row still pending after the retention period (a channel that never had a sink)
            // goes too: it would only ever be expired unsent.
            outbox: run("DELETE FROM outbox WHERE created_at < ? AND status IN ('sent', 'expanded', 'failed', 'expired', 'pending')")
                .await?,
            audit: run("DELETE FROM audit WHERE at < ?").await?,
            user_appeals: run("DELETE FROM user_appeals WHERE received_at < ? AND answered_at IS NOT NULL").await?,
        };
        run("DELETE FROM job_runs WHERE ran_at < ?").await?;
        run("DELETE FROM user_appeal_units WHERE appeal_id NOT IN (SELECT id FROM user_appeals) AND ? IS NOT NULL").await?;
        tx.commit().await?;
        Ok(purged)
    }

    async fn summary_events(
        &self,
        month_from: &str,
        month_to: &str,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<SummaryEvents>, StoreError> {
        // Monthly summaries are few (one a unit a month): found by kind, their months read from
        // the body. A unit that sent its summary again is counted by the latest one only.
        // Grouped by position: by name, `category` and `region` would be the joined tables'
        // own columns, not the event's category.
        let rows = sqlx::query(
            "WITH s AS (SELECT id, unit_code, received_at, json_extract(body, '$.content.month') AS month FROM reports \
             WHERE kind = 'monthly_general' AND received_at > ?3 AND received_at <= ?4), \
             latest AS (SELECT s.* FROM s WHERE month >= ?1 AND month <= ?2 AND NOT EXISTS \
             (SELECT 1 FROM s t WHERE t.unit_code = s.unit_code AND t.month = s.month AND (t.received_at, t.id) > (s.received_at, s.id))) \
             SELECT l.unit_code, l.month, coalesce(u.region, 'national') AS region, \
             json_extract(e.value, '$.category') AS category, count(*) AS n \
             FROM latest l JOIN reports r ON r.id = l.id LEFT JOIN units u ON u.code = l.unit_code, \
             json_each(r.body, '$.content.events') e GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4",
        )
        .bind(month_from)
        .bind(month_to)
        .bind(ms(after))
        .bind(ms(until))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SummaryEvents {
                    unit: r.try_get("unit_code")?,
                    month: r.try_get("month")?,
                    region: r.try_get("region")?,
                    category: r.try_get::<Option<String>, _>("category")?.unwrap_or_default(),
                    count: r.try_get::<i64, _>("n")? as u64,
                })
            })
            .collect()
    }

    async fn month_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        typical: u32,
        arrivals: Arrivals,
    ) -> Result<MonthFacts, StoreError> {
        let (a, b) = (ms(from), ms(to));
        let until = arrivals.until.map(ms).unwrap_or(i64::MAX);
        let late_after = arrivals.late_after.map(ms).unwrap_or(i64::MAX);
        let mut facts = MonthFacts::default();
        // One pass over the month's reports: every grouping the digest needs, added up here. An
        // event is counted by its first report: a follow-up (续报, or a group company's report on
        // its subsidiary's event, Art. 12¶2 [通报办法]) is the same event.
        let rows = sqlx::query(
            "SELECT kind, coalesce(grade, CASE WHEN level IS NOT NULL THEN 'level' || level END, '') AS sev, \
             coalesce(category, '') AS category, unit_code, provinces, count(*) AS n, \
             sum(CASE WHEN kind = 'disposal_feedback' THEN json_array_length(body, '$.content.disposed') END) AS disposed, \
             sum(CASE WHEN kind = 'disposal_feedback' THEN json_array_length(body, '$.content.undisposed') END) AS undisposed \
             FROM reports WHERE received_at >= ?1 AND received_at < ?3 AND (CASE WHEN kind IN ('event', 'warning', 'botnet_event') \
             THEN follows_up IS NULL AND ((discovered_at >= ?1 AND discovered_at < ?2) OR (discovered_at < ?1 AND received_at > ?4)) ELSE received_at < ?2 END) \
             GROUP BY kind, sev, category, unit_code, provinces",
        )
        .bind(a)
        .bind(b)
        .bind(until)
        .bind(late_after)
        .fetch_all(&self.pool)
        .await?;
        add_report_tallies(rows, &mut facts)?;
        if typical > 0 {
            // The order is found on the narrow columns; only the chosen few bodies are read.
            let rows = sqlx::query(
                "WITH top AS (SELECT id, CASE grade WHEN 'especially_major' THEN 0 WHEN 'major' THEN 1 WHEN 'large' THEN 2 ELSE 3 END AS g, \
                 coalesce(level, 9) AS l, received_at AS t \
                 FROM reports WHERE received_at >= ?1 AND received_at < ?3 AND kind IN ('event', 'warning', 'botnet_event') \
                 AND ((discovered_at >= ?1 AND discovered_at < ?2) OR (discovered_at < ?1 AND received_at > ?5)) \
                 AND follows_up IS NULL ORDER BY g, l, t LIMIT ?4) \
                 SELECT r.* FROM top JOIN reports r ON r.id = top.id ORDER BY top.g, top.l, top.t",
            )
            .bind(a)
            .bind(b)
            .bind(until)
            .bind(i64::from(typical))
            .bind(late_after)
            .fetch_all(&self.pool)
            .await?;
            facts.typical = rows.iter().map(row_to_report).collect::<Result<_, _>>()?;
        }
        // One pass over obligations: those due in the month, and disposal feedback owed from it.
        // Feedback is due at most 5 working days after its trigger, so both lie within 31 days
        // of due times past the month's start: the (status, due_at) index bounds the scan.
        let rows = sqlx::query(
            "SELECT actor, duty, status, sum(due_at <= ?2 AND binding = 1) AS due_n, \
             sum(duty = 'disposal_feedback' AND trigger_at >= ?1 AND trigger_at < ?2) AS disposal_n \
             FROM obligations WHERE status IN ('open', 'met', 'late', 'missed') AND due_at > ?1 AND due_at <= ?3 \
             AND ((due_at <= ?2 AND binding = 1) OR (duty = 'disposal_feedback' AND trigger_at >= ?1 AND trigger_at < ?2)) \
             GROUP BY actor, duty, status ORDER BY actor, duty, status",
        )
        .bind(a)
        .bind(b)
        .bind(b + chrono::Duration::days(31).num_milliseconds())
        .fetch_all(&self.pool)
        .await?;
        add_obligation_tallies(rows, &mut facts)?;
        Ok(facts)
    }
}
