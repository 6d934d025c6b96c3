//! The scheduler's queries on PostgreSQL: alert scan, job runs once per period across instances, party fan-out claimed by one instance, retention purge, digest counts.

use super::{
    PgStore, REPORT_REF_COLUMNS, insert_audit, insert_obligations, insert_outbox, mark_fulfilled, row_to_obligation, row_to_outbox_item,
    row_to_report, row_to_report_ref,
};
use crate::decision::{AuditRow, Fulfils, OutboxRow};
use crate::model::{Obligation, OutboxId};
use crate::store::jobs::{AlertCandidate, AlertStep, Arrivals, JobRun, JobStore, MonthFacts, Purged, Recomputation, SummaryEvents};
use crate::store::shared::{add_obligation_tallies, add_report_tallies};
use crate::store::{OutboxItem, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::types::{Json, Uuid};

/// An instant far enough ahead to stand for "never" in a comparison, within what a timestamptz holds.
fn never() -> DateTime<Utc> {
    "9999-12-31T00:00:00Z".parse().expect("a valid instant")
}

/// `t` within what a timestamptz holds: callers say "since ever" and "until never" with
/// chrono's extreme instants, which lie beyond it.
fn bounded(t: DateTime<Utc>) -> DateTime<Utc> {
    let ever: DateTime<Utc> = "0001-01-01T00:00:00Z".parse().expect("a valid instant");
    t.clamp(ever, never())
}

impl JobStore for PgStore {
    async fn alert_candidates(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<AlertCandidate>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT o.*, {REPORT_REF_COLUMNS}, \
             (SELECT u.important FROM units u WHERE u.code = substr(o.actor, 6) AND o.actor LIKE 'unit:%') AS actor_important \
             FROM obligations o LEFT JOIN reports r ON r.id = o.report_id LEFT JOIN units ru ON ru.code = r.unit_code \
             WHERE o.next_alert_at IS NOT NULL AND o.next_alert_at <= $1 AND o.status = 'open' ORDER BY o.next_alert_at LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let found: Option<Uuid> = row.try_get("r_id")?;
                Ok(AlertCandidate {
                    stage: row.try_get::<i16, _>("alert_stage")? as u8,
                    obligation: row_to_obligation(row)?,
                    about: found.map(|_| row_to_report_ref(row)).transpose()?,
                    actor_important: row.try_get::<Option<bool>, _>("actor_important")?.unwrap_or(false),
                })
            })
            .collect()
    }

    async fn apply_alerts(&self, steps: Vec<AlertStep>, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut applied = 0;
        let mut outbox = Vec::new();
        let mut audit = Vec::new();
        for step in steps {
            // Compare-and-set on the stage: an instance scanning at the same moment applies
            // the same step to nothing.
            let done = sqlx::query(
                "UPDATE obligations SET alert_stage = $1, next_alert_at = $2, status = CASE WHEN $3 THEN 'missed' ELSE status END \
                 WHERE id = $4 AND alert_stage = $5 AND status = 'open'",
            )
            .bind(i16::from(step.to_stage))
            .bind(step.next_alert_at)
            .bind(step.missed)
            .bind(step.obligation.as_uuid())
            .bind(i16::from(step.from_stage))
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
        let row = sqlx::query("SELECT ran_at FROM job_runs WHERE job = $1 AND period = $2")
            .bind(job)
            .bind(period)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("ran_at")?),
            None => None,
        })
    }

    async fn record_job(&self, run: JobRun) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // An instance recording the same period at the same moment waits here for this one's
        // commit, and then inserts nothing.
        let fresh = sqlx::query("INSERT INTO job_runs (job, period, ran_at, detail) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .bind(run.job)
            .bind(&run.period)
            .bind(run.at)
            .bind(Json(&run.detail))
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
        let rows = sqlx::query("SELECT * FROM obligations WHERE okey LIKE $1 ORDER BY okey").bind(pattern).fetch_all(&self.pool).await?;
        rows.iter().map(row_to_obligation).collect()
    }

    async fn provisional_obligations(&self) -> Result<Vec<(Obligation, u8)>, StoreError> {
        let rows = sqlx::query("SELECT * FROM obligations WHERE provisional").fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok((row_to_obligation(row)?, row.try_get::<i16, _>("alert_stage")? as u8))).collect()
    }

    async fn apply_recomputed(&self, changes: Vec<Recomputation>, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (mut applied, mut outbox, mut audit) = (0, Vec::new(), Vec::new());
        for c in changes {
            let done = sqlx::query(
                "UPDATE obligations SET due_at = $1, provisional = false, status = $2, alert_stage = $3, next_alert_at = $4 \
                 WHERE id = $5 AND provisional AND status = $6",
            )
            .bind(c.due_at)
            .bind(c.status.code())
            .bind(i16::from(c.stage))
            .bind(c.next_alert_at)
            .bind(c.obligation.as_uuid())
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
        // Claimed like `due_outbox`'s rows: one instance expands each, and a dead instance's
        // claim ends with its lease.
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "WITH due AS (SELECT id FROM outbox WHERE channel = 'party' AND status = 'pending' AND (urgent OR $1) \
             AND next_attempt_at <= $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE outbox o SET next_attempt_at = $4 FROM due WHERE o.id = due.id \
             RETURNING o.id, o.kind, o.recipient, o.subject_id, o.urgent, o.payload, o.attempts",
        )
        .bind(all)
        .bind(now)
        .bind(i64::from(limit.max(1)))
        .bind(now + self.lease)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut items = rows.iter().map(row_to_outbox_item).collect::<Result<Vec<_>, _>>()?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    async fn expand_party_rows(
        &self,
        expanded: Vec<OutboxId>,
        unresolved: Vec<(OutboxId, String)>,
        children: Vec<OutboxRow>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<Uuid> = expanded.iter().map(|i| i.as_uuid()).collect();
        let done = sqlx::query("UPDATE outbox SET status = 'expanded', attempts = attempts + 1 WHERE id = ANY($1) AND status = 'pending'")
            .bind(&ids)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done != ids.len() as u64 {
            // Another instance expanded some of them after this one's lease ran out: writing
            // these children would send those notices twice. Nothing is written; the rows
            // still pending are claimed again on the next pass.
            tracing::warn!(claimed = ids.len(), still_pending = done, "party rows expanded elsewhere meanwhile; expansion dropped");
            return Ok(false);
        }
        let mut audit = Vec::new();
        for (id, why) in &unresolved {
            let claimed = sqlx::query(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $1 WHERE id = $2 AND status = 'pending'",
            )
            .bind(why)
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                return Ok(false);
            }
            audit.push(AuditRow {
                actor: "hub".into(),
                action: "outbox.failed",
                subject: id.to_string(),
                detail: serde_json::json!({ "error": why }),
            });
        }
        insert_outbox(&mut tx, children, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn purge(&self, cutoff: DateTime<Utc>) -> Result<Purged, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut run =
            async |sql: &str| -> Result<u64, StoreError> { Ok(sqlx::query(sql).bind(cutoff).execute(&mut *tx).await?.rows_affected()) };
        let purged = Purged {
            // A report with a duty still open stays, whatever its age: the unit must still be
            // able to send the written report or the feedback it owes, naming it. Its
            // submission stays with it (the bytes it came as). CNCERT's reminder to track a
            // warning (Art. 16¶2 [通报办法]) is its own note and keeps nothing.
            reports: run("DELETE FROM reports WHERE received_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM obligations o WHERE o.report_id = reports.id AND o.status = 'open' AND o.duty <> 'track_warning')")
            .await?,
            submissions: run(
                // The old reports left are the few kept for a duty: read by the received_at index.
                "DELETE FROM submissions WHERE received_at < $1 AND id NOT IN (SELECT submission_id FROM reports WHERE received_at < $1)",
            )
            .await?,
            botnets: run(
                "DELETE FROM botnets b WHERE discovered_at < $1 AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.id = b.report_id)",
            )
            .await?,
            // Open duties stay whatever their age: they are still owed.
            obligations: run("DELETE FROM obligations WHERE created_at < $1 AND status <> 'open'").await?,
            outbox: run("DELETE FROM outbox WHERE created_at < $1 AND status IN ('sent', 'expanded', 'failed', 'expired', 'pending')")
                .await?,
            audit: run("DELETE FROM audit WHERE at < $1").await?,
            user_appeals: run("DELETE FROM user_appeals WHERE received_at < $1 AND answered_at IS NOT NULL").await?,
        };
        run("DELETE FROM job_runs WHERE ran_at < $1").await?;
        sqlx::query("DELETE FROM user_appeal_units x WHERE NOT EXISTS (SELECT 1 FROM user_appeals a WHERE a.id = x.appeal_id)")
            .execute(&mut *tx)
            .await?;
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
        // A unit that sent its summary again is counted by the latest one only.
        let rows = sqlx::query(
            "WITH s AS (SELECT id, unit_code, received_at, body #>> '{content,month}' AS month FROM reports \
             WHERE kind = 'monthly_general' AND received_at > $3 AND received_at <= $4), \
             latest AS (SELECT s.* FROM s WHERE month >= $1 AND month <= $2 AND NOT EXISTS \
             (SELECT 1 FROM s t WHERE t.unit_code = s.unit_code AND t.month = s.month AND (t.received_at, t.id) > (s.received_at, s.id))) \
             SELECT l.unit_code, l.month, coalesce(u.region, 'national') AS region, e.value ->> 'category' AS category, count(*) AS n \
             FROM latest l JOIN reports r ON r.id = l.id LEFT JOIN units u ON u.code = l.unit_code \
             CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(r.body #> '{content,events}') = 'array' \
                 THEN r.body #> '{content,events}' ELSE '[]'::jsonb END) e \
             GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4",
        )
        .bind(month_from)
        .bind(month_to)
        .bind(bounded(after))
        .bind(bounded(until))
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
        let until = arrivals.until.map_or_else(never, bounded);
        let late_after = arrivals.late_after.map_or_else(never, bounded);
        let mut facts = MonthFacts::default();
        let rows = sqlx::query(
            "SELECT kind, coalesce(grade, CASE WHEN level IS NOT NULL THEN 'level' || level END, '') AS sev, \
             coalesce(category, '') AS category, unit_code, provinces, count(*) AS n, \
             sum(CASE WHEN kind = 'disposal_feedback' AND jsonb_typeof(body #> '{content,disposed}') = 'array' \
                 THEN jsonb_array_length(body #> '{content,disposed}') END) AS disposed, \
             sum(CASE WHEN kind = 'disposal_feedback' AND jsonb_typeof(body #> '{content,undisposed}') = 'array' \
                 THEN jsonb_array_length(body #> '{content,undisposed}') END) AS undisposed \
             FROM reports WHERE received_at >= $1 AND received_at < $3 AND (CASE WHEN kind IN ('event', 'warning', 'botnet_event') \
             THEN follows_up IS NULL AND ((discovered_at >= $1 AND discovered_at < $2) OR (discovered_at < $1 AND received_at > $4)) ELSE received_at < $2 END) \
             GROUP BY kind, sev, category, unit_code, provinces",
        )
        .bind(from)
        .bind(to)
        .bind(until)
        .bind(late_after)
        .fetch_all(&self.pool)
        .await?;
        add_report_tallies(rows, &mut facts)?;
        if typical > 0 {
            let rows = sqlx::query(
                "WITH top AS (SELECT id, CASE grade WHEN 'especially_major' THEN 0 WHEN 'major' THEN 1 WHEN 'large' THEN 2 ELSE 3 END AS g, \
                 coalesce(level, 9) AS l, received_at AS t \
                 FROM reports WHERE received_at >= $1 AND received_at < $3 AND kind IN ('event', 'warning', 'botnet_event') \
                 AND ((discovered_at >= $1 AND discovered_at < $2) OR (discovered_at < $1 AND received_at > $5)) \
                 AND follows_up IS NULL ORDER BY g, l, t LIMIT $4) \
                 SELECT r.* FROM top JOIN reports r ON r.id = top.id ORDER BY top.g, top.l, top.t",
            )
            .bind(from)
            .bind(to)
            .bind(until)
            .bind(i64::from(typical))
            .bind(late_after)
            .fetch_all(&self.pool)
            .await?;
            facts.typical = rows.iter().map(row_to_report).collect::<Result<_, _>>()?;
        }
        let rows = sqlx::query(
            "SELECT actor, duty, status, count(*) FILTER (WHERE due_at <= $2 AND binding) AS due_n, \
             count(*) FILTER (WHERE duty = 'disposal_feedback' AND trigger_at >= $1 AND trigger_at < $2) AS disposal_n \
             FROM obligations WHERE status IN ('open', 'met', 'late', 'missed') AND due_at > $1 AND due_at <= $3 \
             AND ((due_at <= $2 AND binding) OR (duty = 'disposal_feedback' AND trigger_at >= $1 AND trigger_at < $2)) \
             GROUP BY actor, duty, status ORDER BY actor, duty, status",
        )
        .bind(from)
        .bind(to)
        .bind(to + chrono::Duration::days(31))
        .fetch_all(&self.pool)
        .await?;
        add_obligation_tallies(rows, &mut facts)?;
        Ok(facts)
    }
}
