//! The console's scoped reads on PostgreSQL (the SQL is `store::console`'s).

use super::{PgStore, pg_text, row_to_obligation, row_to_report};
use crate::store::StoreError;
use crate::store::StoredReport;
use crate::store::console::{
    AuditEntry, ConsoleStore, Due, ObligationPage, Param, PartyTally, ReportQuery, Scope, Tally, audit_query, due_query, party_tally_query,
    report_page_query, tally_query,
};
use chrono::{DateTime, Utc};
use sqlx::Row;

impl ConsoleStore for PgStore {
    async fn report_tally(&self, scope: &Scope, since: DateTime<Utc>) -> Result<Vec<Tally>, StoreError> {
        let (sql, binds) = tally_query(scope);
        let sql = &sql;
        let mut q = sqlx::query(&sql).bind(since);
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(Tally { kind: r.try_get("kind")?, grade: r.try_get("grade")?, count: r.try_get("n")? })).collect()
    }

    async fn due_obligations(&self, scope: &Scope, narrow: &Scope, due: Due, limit: u32) -> Result<ObligationPage, StoreError> {
        let query = due_query(scope, narrow, due, limit);
        let (list, count) = (&query.list, &query.count);
        let mut q = sqlx::query(&list);
        let mut c = sqlx::query_scalar::<_, i64>(&count);
        for t in &query.instants {
            q = q.bind(*t);
            c = c.bind(*t);
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
        let mut q = sqlx::query(&sql);
        for p in params {
            q = match p {
                Param::Text(t) => q.bind(pg_text(&t)),
                Param::At(t) => q.bind(t),
                Param::Id(u) => q.bind(u),
            };
        }
        q.fetch_all(&self.pool).await?.iter().map(row_to_report).collect()
    }

    async fn audit_of(&self, subjects: &[String], limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let sql = audit_query(subjects.len(), limit);
        let mut q = sqlx::query(&sql);
        for s in subjects {
            q = q.bind(pg_text(s));
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    detail: r.try_get::<sqlx::types::Json<serde_json::Value>, _>("detail")?.0,
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
        let sql = sql;
        let mut q = sqlx::query(&sql).bind(now).bind(soon).bind(late_since);
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
}
