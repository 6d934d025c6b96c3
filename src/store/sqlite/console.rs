//! The console's scoped reads on SQLite (the SQL is `store::console`'s, with `?N` for `$N`).

use super::{SqliteStore, from_ms, insert_audit, insert_outbox, ms, row_to_obligation, row_to_report};
use crate::store::StoreError;
use crate::store::StoredReport;
use crate::store::console::{
    AWAITING_NOTICES_QUERY, AuditEntry, ConsoleStore, DRAFT_EXISTS, Decided, Due, NoticeDraft, NoticeReview, ObligationPage, Param,
    PartyTally, REVIEW_UPSERT, ReportQuery, Scope, Tally, audit_query, due_query, notice_drafts_query, party_tally_query,
    report_page_query, review_audit, tally_query,
};
use crate::store::shared::corrupt;
use chrono::{DateTime, Utc};
use sqlx::Row;

/// `$N` → `?N`: SQLite numbers its parameters so.
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

impl ConsoleStore for SqliteStore {
    async fn report_tally(&self, scope: &Scope, since: DateTime<Utc>) -> Result<Vec<Tally>, StoreError> {
        let (sql, binds) = tally_query(scope);
        let sql = numbered(&sql);
        let mut q = sqlx::query(&sql).bind(ms(since));
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(Tally { kind: r.try_get("kind")?, grade: r.try_get("grade")?, count: r.try_get("n")? })).collect()
    }

    async fn due_obligations(&self, scope: &Scope, narrow: &Scope, due: Due, limit: u32) -> Result<ObligationPage, StoreError> {
        let query = due_query(scope, narrow, due, limit);
        let (list, count) = (numbered(&query.list), numbered(&query.count));
        let mut q = sqlx::query(&list);
        let mut c = sqlx::query_scalar::<_, i64>(&count);
        for t in &query.instants {
            q = q.bind(ms(*t));
            c = c.bind(ms(*t));
        }
        for b in &query.binds {
            q = q.bind(b);
            c = c.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(ObligationPage { items: rows.iter().map(row_to_obligation).collect::<Result<_, _>>()?, total: c.fetch_one(&self.pool).await? })
    }

    async fn report_page(&self, scope: &Scope, query: &ReportQuery) -> Result<Vec<StoredReport>, StoreError> {
        let (sql, params) = report_page_query(scope, query);
        let sql = numbered(&sql);
        let mut q = sqlx::query(&sql);
        for p in params {
            q = match p {
                Param::Text(t) => q.bind(t),
                Param::At(t) => q.bind(ms(t)),
                Param::Id(u) => q.bind(u.to_string()),
            };
        }
        q.fetch_all(&self.pool).await?.iter().map(row_to_report).collect()
    }

    async fn audit_of(&self, subjects: &[String], limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let sql = numbered(&audit_query(subjects.len(), limit));
        let mut q = sqlx::query(&sql);
        for s in subjects {
            q = q.bind(s);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEntry {
                    at: from_ms(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
                })
            })
            .collect()
    }

    async fn party_tallies(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
        soon: DateTime<Utc>,
        late_since: DateTime<Utc>,
    ) -> Result<Vec<PartyTally>, StoreError> {
        let (sql, binds) = party_tally_query(scope);
        let sql = numbered(&sql);
        let mut q = sqlx::query(&sql).bind(ms(now)).bind(ms(soon)).bind(ms(late_since));
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(PartyTally {
                    actor: r.try_get("actor")?,
                    due_soon: r.try_get("due_soon")?,
                    overdue: r.try_get("overdue")?,
                    missed: r.try_get("missed")?,
                    met_late: r.try_get("met_late")?,
                })
            })
            .collect()
    }

    async fn awaiting_notices(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query(AWAITING_NOTICES_QUERY).fetch_one(&self.pool).await?.try_get("n")?)
    }

    async fn notice_drafts(&self, waiting: bool, report: Option<&str>, limit: u32) -> Result<Vec<NoticeDraft>, StoreError> {
        let sql = numbered(&notice_drafts_query(waiting, report.is_some(), limit));
        let mut q = sqlx::query(&sql);
        if let Some(r) = report {
            q = q.bind(r.to_string());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let payload: String = r.try_get("payload")?;
                let decision: Option<String> = r.try_get("decision")?;
                let review = match decision {
                    Some(decision) => {
                        let lines: String = r.try_get("lines")?;
                        let recipients: String = r.try_get("recipients")?;
                        Some(NoticeReview {
                            decision,
                            decided_by: r.try_get("decided_by")?,
                            decided_at: from_ms(r.try_get("decided_at")?),
                            title: r.try_get("title")?,
                            lines: serde_json::from_str(&lines).map_err(|e| corrupt("notice_reviews.lines", e))?,
                            recipients: serde_json::from_str(&recipients).map_err(|e| corrupt("notice_reviews.recipients", e))?,
                            note: r.try_get("note")?,
                        })
                    }
                    None => None,
                };
                Ok(NoticeDraft {
                    report_id: r.try_get("subject_id")?,
                    created_at: from_ms(r.try_get("created_at")?),
                    draft: serde_json::from_str(&payload).map_err(|e| corrupt("outbox.payload", e))?,
                    review,
                })
            })
            .collect()
    }

    async fn review_notice(&self, report_id: &str, decided: Decided) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, "BEGIN IMMEDIATE").await?;
        let drafted = sqlx::query(&numbered(DRAFT_EXISTS)).bind(report_id).fetch_optional(&mut *tx).await?.is_some();
        if !drafted {
            return Ok(false);
        }
        let r = &decided.review;
        let written = sqlx::query(&numbered(REVIEW_UPSERT))
            .bind(report_id)
            .bind(&r.decision)
            .bind(&r.decided_by)
            .bind(ms(r.decided_at))
            .bind(&r.title)
            .bind(serde_json::to_string(&r.lines).unwrap_or_default())
            .bind(serde_json::to_string(&r.recipients).unwrap_or_default())
            .bind(&r.note)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !written {
            return Ok(false);
        }
        let audit = review_audit(report_id, r);
        insert_outbox(&mut tx, decided.outbox, r.decided_at).await?;
        insert_audit(&mut tx, vec![audit], r.decided_at).await?;
        tx.commit().await?;
        Ok(true)
    }
}
