//! The store on both backends: the PostgreSQL schema against the SQLite one, each PostgreSQL test in a fresh database it creates and drops.

use crate::helpers::FreshDatabase;
use sqlx::{Connection, PgConnection, Row};
use std::collections::BTreeSet;

/// (table, column, nullable) of every table the hub made.
type Columns = BTreeSet<(String, String, bool)>;

async fn sqlite_columns() -> Columns {
    let dir = tempfile::tempdir().unwrap();
    let store = tongbao::store::SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut out = Columns::new();
    for t in tables {
        for row in sqlx::query("SELECT name, \"notnull\", pk FROM pragma_table_info(?)").bind(&t).fetch_all(store.pool()).await.unwrap() {
            let (notnull, pk): (i64, i64) = (row.get("notnull"), row.get("pk"));
            out.insert((t.clone(), row.get("name"), notnull == 0 && pk == 0));
        }
    }
    out
}

async fn postgres_columns(url: &str) -> Columns {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, is_nullable::text AS n FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.iter().map(|r| (r.get("t"), r.get("c"), r.get::<String, _>("n") == "YES")).collect()
}

/// The PostgreSQL migrations make every table and column the SQLite ones make, with the same
/// nullability, and nothing else; applying them again changes nothing.
#[tokio::test]
async fn the_postgres_schema_has_the_tables_and_columns_of_the_sqlite_one() {
    let db = FreshDatabase::new().await;
    tongbao::store::postgres::migrate(&db.url).await.unwrap();
    tongbao::store::postgres::migrate(&db.url).await.expect("migrating again is a no-op");
    let (sqlite, postgres) = (sqlite_columns().await, postgres_columns(&db.url).await);
    assert!(sqlite.len() > 80, "{} SQLite columns", sqlite.len());
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(only_sqlite.is_empty() && only_postgres.is_empty(), "only in SQLite: {only_sqlite:?}\nonly in PostgreSQL: {only_postgres:?}");
}
