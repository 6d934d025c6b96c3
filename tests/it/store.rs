//! The store on both backends: the PostgreSQL schema against the SQLite one, each PostgreSQL test in a fresh database it creates and drops.

use sqlx::{Connection, PgConnection, Row};
use std::collections::BTreeSet;

/// The PostgreSQL server the tests use (an administrative database on it); `scripts/test` starts
/// it and sets this.
fn server_url() -> String {
    std::env::var("TONGBAO_TEST_PG_URL").expect("TONGBAO_TEST_PG_URL is not set: run the suite with scripts/test, which starts PostgreSQL")
}

/// A database of its own for one test, dropped when the test ends, passed or not.
struct FreshDatabase {
    name: String,
    url: String,
}

impl FreshDatabase {
    async fn new() -> FreshDatabase {
        let server = server_url();
        let name = format!("tongbao_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server).await.expect("connect to the test PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
        admin.close().await.unwrap();
        let (base, _) = server.rsplit_once('/').expect("a URL ending in /database");
        FreshDatabase { url: format!("{base}/{name}"), name }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let (server, name) = (server_url(), self.name.clone());
        // A runtime of its own on a thread of its own: Drop cannot await, and the test's runtime
        // may be the one dropping it.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
                let mut admin = PgConnection::connect(&server).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

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
