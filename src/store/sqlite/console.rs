//! The console's scoped reads on SQLite (the SQL is `store::console`'s, with `?N` for `$N`).

use super::{SqliteStore, from_ms, ms, row_to_obligation, row_to_report};
use crate::store::StoreError;
use crate::store::StoredReport;
use crate::store::console::{
    AuditEntry, ConsoleStore, Due, ObligationPage, Param, PartyTally, ReportQuery, Scope, Tally, audit_query, due_query, party_tally_query,
    report_page_query, tally_query,
};
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
}
