//! The console's scoped reads on SQLite (the SQL is `store::console`'s, with `?N` for `$N`).

use super::{SqliteStore, ms, row_to_obligation};
use crate::store::StoreError;
use crate::store::console::{ConsoleStore, Due, ObligationPage, Scope, Tally, due_query, tally_query};
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

    async fn due_obligations(&self, scope: &Scope, due: Due, limit: u32) -> Result<ObligationPage, StoreError> {
        let query = due_query(scope, due, limit);
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
}
