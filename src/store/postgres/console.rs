//! The console's scoped reads on PostgreSQL (the SQL is `store::console`'s).

use super::{PgStore, row_to_obligation};
use crate::store::StoreError;
use crate::store::console::{ConsoleStore, Due, ObligationPage, Scope, Tally, due_query, tally_query};
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

    async fn due_obligations(&self, scope: &Scope, due: Due, limit: u32) -> Result<ObligationPage, StoreError> {
        let query = due_query(scope, due, limit);
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
}
