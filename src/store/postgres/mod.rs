//! PostgreSQL backend, for several hubs on one database: its schema (`migrations/postgres/`), compiled in and applied by `migrate`.
//!
//! The schema has the tables and columns of the SQLite backend in PostgreSQL's own types (ids
//! uuid, instants timestamptz, bodies jsonb); a test keeps the two in step. The `Store` and
//! `JobStore` implementations on it are not written yet: `[store] backend` accepts only
//! `sqlite`.

use super::StoreError;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

/// The PostgreSQL migrations, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "init", include_str!("../../../migrations/postgres/0001_init.sql"))];

/// Connects to the database at `url` and brings its schema up to date; running it again
/// changes nothing.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
    let outcome = match Migrator::new(super::Embedded(MIGRATIONS)).await {
        Ok(migrator) => migrator.run(&pool).await.map_err(StoreError::from),
        Err(e) => Err(e.into()),
    };
    pool.close().await;
    outcome
}
