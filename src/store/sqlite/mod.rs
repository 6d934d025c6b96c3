//! SQLite backend (WAL): the embedded default. Batches are written with multi-row inserts.

mod console;
mod jobs;
pub(super) mod synthetic;
mod users;

pub(super) use super::shared::corrupt;
use super::shared::{OncePerKey, PayloadTexts, pack_v4, pack_v6, queued_ms, reports_of, sender_ident, unpack_v4, unpack_v6};
use super::{
    AppealEffects, Backlog, Counts, ObligationFilter, OutboxItem, Pipelined, ReportFilter, Store, StoreError, StoredAppeal, StoredReport,
};
use crate::decision::OutboxKind;
use crate::decision::{self, AuditRow, BotnetRow, Context, Decision, Fulfils, Needs, OutboxRow, ReportRef};
use crate::model::submission::{Sender, dedupe_digest};
use crate::model::{
    Basis, Deadline, DeadlineRule, Duty, Grade, Obligation, ObligationId, ObligationStatus, OutboxId, Party, Province, Receipt, Region,
    ReportId, ReportKind, SubmissionId, Unit, UnitCode, WarningLevel,
};
use crate::rules::BotSet;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// SQLite allows 32,766 bound parameters a statement; stay well under it.
const MAX_PARAMS: usize = 30_000;
/// Rows in one multi-row INSERT: large enough to amortise the statement, small enough to prepare fast.
const MAX_ROWS_PER_STATEMENT: usize = 256;

/// Reads go through a pool; every write goes through one dedicated connection. SQLite admits one
/// writer at a time anyway, and a single writer keeps its page cache warm: in WAL mode a
/// connection discards its cache whenever another connection has written since it last looked.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    writer: Arc<tokio::sync::Mutex<SqliteConnection>>,
    /// How the writer connects, to replace it after a transaction that did not end cleanly.
    options: SqliteConnectOptions,
}

/// Reading connections, opened with the store and kept for its life.
const READERS: u32 = 4;

/// The SQLite migrations, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/sqlite/0001_init.sql")),
    (2, "tokens", include_str!("../../../migrations/sqlite/0002_tokens.sql")),
    (3, "schedule", include_str!("../../../migrations/sqlite/0003_schedule.sql")),
    (4, "backfill_provinces", include_str!("../../../migrations/sqlite/0004_backfill_provinces.sql")),
    (5, "narrow_intake_indexes", include_str!("../../../migrations/sqlite/0005_narrow_intake_indexes.sql")),
    (6, "drop_audit_subject", include_str!("../../../migrations/sqlite/0006_drop_audit_subject.sql")),
    (7, "botnet_cc", include_str!("../../../migrations/sqlite/0007_botnet_cc.sql")),
    (8, "user_appeals", include_str!("../../../migrations/sqlite/0008_user_appeals.sql")),
    (9, "leases", include_str!("../../../migrations/sqlite/0009_leases.sql")),
    (10, "users", include_str!("../../../migrations/sqlite/0010_users.sql")),
    (11, "audit_subject", include_str!("../../../migrations/sqlite/0011_audit_subject.sql")),
    (12, "upload_drafts", include_str!("../../../migrations/sqlite/0012_upload_drafts.sql")),
    (13, "notice_reviews", include_str!("../../../migrations/sqlite/0013_notice_reviews.sql")),
    (14, "unit_groups", include_str!("../../../migrations/sqlite/0014_unit_groups.sql")),
    (15, "appeal_requests", include_str!("../../../migrations/sqlite/0015_appeal_requests.sql")),
];

/// When a commit reaches the disk (SQLite's `synchronous` under WAL).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// Every commit is fsynced before it returns: what a source acknowledges survives power
    /// loss. Group commit spreads the cost over a whole batch.
    #[default]
    Full,
    /// Commits survive a crash of the process, not of the machine.
    Normal,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date; every
    /// commit is durable before it returns.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, Synchronous::Full).await
    }

    /// Like `open`, choosing when commits reach the disk.
    pub async fn open_with(path: &Path, synchronous: Synchronous) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Sources acknowledge after the commit, so FULL is what makes "acknowledged" mean
            // "on disk"; NORMAL would lose the last commits to a power cut.
            .synchronous(match synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            // Commits never checkpoint: a background task does (see `checkpoint_in_background`),
            // so copying the WAL back into the database is off the writer's path.
            .pragma("wal_autocheckpoint", "0");
        // The readers are opened at once and kept: opening one later can fail for reasons that
        // have nothing to do with the read (a full disk), and would fail a write's context load.
        let pool =
            SqlitePoolOptions::new().max_connections(READERS).idle_timeout(None).max_lifetime(None).connect_with(options.clone()).await?;
        Migrator::new(super::Embedded(MIGRATIONS)).await?.run(&pool).await?;
        // Open every reader now that the file is in WAL mode (opening them together before
        // would race to convert it), and keep them.
        let mut readers = Vec::new();
        for _ in 0..READERS {
            readers.push(pool.acquire().await?);
        }
        drop(readers);
        backfill_dedupe_hashes(&pool).await?;
        let writer = options.connect().await?;
        checkpoint_in_background(pool.clone());
        Ok(SqliteStore { pool, writer: Arc::new(tokio::sync::Mutex::new(writer)), options })
    }

    /// The writer connection, replaced first when the last transaction on it did not end: a
    /// COMMIT that failed for want of disk space is rolled back by SQLite itself, so sqlx's
    /// own ROLLBACK fails and the connection would refuse every later BEGIN until a restart.
    pub(super) async fn writer(&self) -> Result<tokio::sync::MutexGuard<'_, SqliteConnection>, StoreError> {
        let mut writer = self.writer.lock().await;
        if writer.is_in_transaction() {
            tracing::warn!("the last write transaction did not end cleanly; replacing the writer connection");
            *writer = self.options.connect().await?;
        }
        Ok(writer)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Gives submissions stored before migration 0005 their `dedupe_hash`, which SQL cannot compute,
/// so that a resubmission of them is still found. A no-op once done.
async fn backfill_dedupe_hashes(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut filled = 0usize;
    loop {
        let mut tx = pool.begin().await?;
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT rowid, dedupe_key FROM submissions WHERE dedupe_hash IS NULL LIMIT 10000").fetch_all(&mut *tx).await?;
        if rows.is_empty() {
            break;
        }
        for (rowid, key) in &rows {
            sqlx::query("UPDATE submissions SET dedupe_hash = ? WHERE rowid = ?")
                .bind(dedupe_digest(key).to_vec())
                .bind(rowid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        filled += rows.len();
        tracing::info!(filled, "dedupe hashes filled in for submissions stored before migration 5");
    }
    Ok(())
}

/// Copies the WAL back into the database every half second (PASSIVE: never blocks the writer
/// or readers), and truncates it when it has grown large and nobody is reading. Ends when the
/// pool is closed.
fn checkpoint_in_background(pool: SqlitePool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut passes = 0u64;
        while !pool.is_closed() {
            tick.tick().await;
            passes += 1;
            let mode = if passes.is_multiple_of(120) { "TRUNCATE" } else { "PASSIVE" };
            if let Err(e) = sqlx::query(&format!("PRAGMA wal_checkpoint({mode})")).execute(&pool).await
                && !pool.is_closed()
            {
                tracing::debug!(error = %e, mode, "checkpoint skipped");
            }
        }
    });
}

pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

pub(super) fn parse_col<T: FromStr>(row: &SqliteRow, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e| corrupt(col, e))
}

pub(super) fn json_col<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> Result<T, StoreError> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| corrupt(col, e))
}

/// Runs `SELECT … WHERE <col> IN (…)` in chunks, calling `each` on every row.
async fn select_in<T>(
    conn: &mut SqliteConnection,
    head: &str,
    keys: &[T],
    mut each: impl FnMut(SqliteRow) -> Result<(), StoreError>,
) -> Result<(), StoreError>
where
    T: for<'q> sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Clone + Send + 'static,
{
    for chunk in keys.chunks(900) {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(head);
        qb.push(" IN (");
        let mut sep = qb.separated(", ");
        for k in chunk {
            sep.push_bind(k.clone());
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *conn).await? {
            each(row)?;
        }
    }
    Ok(())
}

/// One bound value of a multi-row insert, encoded ahead of the transaction that writes it.
#[derive(Debug)]
pub(super) enum Cell {
    Null,
    Int(i64),
    Text(String),
    /// Text several rows bind, stored once.
    Shared(Arc<str>),
    Static(&'static str),
    Blob(Vec<u8>),
}

impl Cell {
    fn bind<'a>(self, b: &mut sqlx::query_builder::Separated<'_, 'a, Sqlite, &'static str>) {
        match self {
            Cell::Null => b.push_bind(None::<i64>),
            Cell::Int(v) => b.push_bind(v),
            Cell::Text(v) => b.push_bind(v),
            // Copied for the one statement that binds it, and dropped with it.
            Cell::Shared(v) => b.push_bind(v.to_string()),
            Cell::Static(v) => b.push_bind(v),
            Cell::Blob(v) => b.push_bind(v),
        };
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Cell {
        Cell::Int(v)
    }
}
impl From<bool> for Cell {
    fn from(v: bool) -> Cell {
        Cell::Int(i64::from(v))
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Cell {
        Cell::Text(v)
    }
}
impl From<&'static str> for Cell {
    fn from(v: &'static str) -> Cell {
        Cell::Static(v)
    }
}
impl From<Vec<u8>> for Cell {
    fn from(v: Vec<u8>) -> Cell {
        Cell::Blob(v)
    }
}
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Cell {
        v.map_or(Cell::Null, Into::into)
    }
}

/// Rows for one table's multi-row insert: its statement head and tail, and its cells row by row.
///
/// Heads say `INSERT OR FAIL`: with the default `ABORT`, SQLite keeps a statement journal so it
/// can undo the rows a failing multi-row statement already wrote, copying every page the
/// statement touches. Every caller writes inside a transaction that is rolled back whole on
/// any error, so that undo is never needed.
#[derive(Debug)]
pub(super) struct Rows {
    head: &'static str,
    tail: &'static str,
    columns: usize,
    cells: Vec<Cell>,
}

impl Rows {
    fn new(head: &'static str, tail: &'static str, columns: usize) -> Rows {
        Rows { head, tail, columns, cells: Vec::new() }
    }

    /// Makes room for `rows` more rows.
    fn reserve(&mut self, rows: usize) {
        self.cells.reserve_exact(rows.saturating_mul(self.columns));
    }

    /// Inserts the rows held once they are `ROWS_AT_ONCE`, returning an `empty()` set in their
    /// place; otherwise returns them as they are.
    async fn insert_when_full(self, conn: &mut SqliteConnection, empty: fn() -> Rows) -> Result<Rows, StoreError> {
        if self.cells.len() < ROWS_AT_ONCE * self.columns {
            return Ok(self);
        }
        self.insert(conn).await?;
        Ok(empty())
    }

    /// Adds one row; its length must be the table's column count.
    fn push<const N: usize>(&mut self, row: [Cell; N]) {
        debug_assert_eq!(N, self.columns, "{}", self.head);
        self.cells.extend(row);
    }

    /// Inserts the rows in as few statements as the parameter limit allows. Statement sizes are a
    /// fixed maximum or a power of two, so the few distinct SQL texts stay in sqlx's
    /// prepared-statement cache instead of being re-prepared for every batch size.
    pub(super) async fn insert(self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        let max = (MAX_PARAMS / self.columns).clamp(1, MAX_ROWS_PER_STATEMENT);
        let mut left = self.cells.len() / self.columns;
        let mut cells = self.cells.into_iter();
        while left > 0 {
            let size = if left >= max { max } else { 1 << (usize::BITS - 1 - left.leading_zeros()) };
            left -= size;
            let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(self.head);
            qb.push_values(0..size, |mut b, _| {
                for cell in cells.by_ref().take(self.columns) {
                    cell.bind(&mut b);
                }
            });
            qb.push(self.tail);
            qb.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

async fn load_context(conn: &mut SqliteConnection, needs: &Needs) -> Result<Context, StoreError> {
    let mut ctx = Context::default();

    let digests: Vec<Vec<u8>> = needs.dedupe_keys.iter().map(|k| dedupe_digest(k).to_vec()).collect();
    select_in(conn, "SELECT dedupe_key, external_id, receipt FROM submissions WHERE dedupe_hash", &digests, |row| {
        let key: String = row.try_get("dedupe_key")?;
        ctx.external_ids.insert(key.clone(), row.try_get("external_id")?);
        ctx.receipts.insert(key, json_col(&row, "receipt")?);
        Ok(())
    })
    .await?;

    let mut by_code: Vec<String> =
        needs.senders.iter().filter_map(|s| if let Sender::Unit(c) = s { Some(c.to_string()) } else { None }).collect();
    by_code.sort();
    by_code.dedup();
    select_in(conn, "SELECT body FROM units WHERE code", &by_code, |row| {
        let unit: Unit = json_col(&row, "body")?;
        ctx.units.insert(Sender::Unit(unit.code.clone()), Arc::new(unit));
        Ok(())
    })
    .await?;
    for row in sqlx::query("SELECT code, group_code FROM units WHERE group_code IS NOT NULL").fetch_all(&mut *conn).await? {
        let (code, group): (String, String) = (row.try_get("code")?, row.try_get("group_code")?);
        if let (Ok(code), Ok(group)) = (code.parse(), group.parse()) {
            ctx.groups.insert(code, group);
        }
    }
    let mut idents: HashMap<String, Sender> = needs.senders.iter().filter_map(|s| sender_ident(s).map(|i| (i, s.clone()))).collect();
    let keys: Vec<String> = idents.keys().cloned().collect();
    select_in(conn, "SELECT s.ident, u.body FROM unit_senders s JOIN units u ON u.code = s.unit_code WHERE s.ident", &keys, |row| {
        let ident: String = row.try_get("ident")?;
        if let Some(sender) = idents.remove(&ident) {
            ctx.units.insert(sender, Arc::new(json_col(&row, "body")?));
        }
        Ok(())
    })
    .await?;

    let mut ref_ids: Vec<String> = needs.refs.iter().map(|r| r.to_string()).collect();
    let obligation_ids: Vec<String> = needs.obligations.iter().map(|o| o.to_string()).collect();
    select_in(conn, "SELECT * FROM obligations WHERE id", &obligation_ids, |row| {
        let o = row_to_obligation(&row)?;
        ref_ids.extend(o.report_id.map(|r| r.to_string()));
        ctx.obligations.insert(o.id, o);
        Ok(())
    })
    .await?;
    let owed_about: Vec<String> = needs.owed_about.iter().map(|r| r.to_string()).collect();
    select_in(
        conn,
        "SELECT report_id, duty, actor FROM obligations WHERE duty IN ('disposal_feedback', 'verification') AND report_id",
        &owed_about,
        |row| {
            let about: ReportId = parse_col(&row, "report_id")?;
            let duty: String = row.try_get("duty")?;
            let duty = crate::model::Duty::parse(&duty).ok_or_else(|| corrupt("obligations.duty", duty))?;
            let actor: Party = parse_col(&row, "actor")?;
            ctx.owed.entry(about).or_default().push((duty, actor));
            Ok(())
        },
    )
    .await?;
    if let Some((from, to)) = needs.botnet_span {
        let rows = sqlx::query("SELECT report_id, idx, cc, discovered_at, declared_count, bots_v4, bots_v6 FROM botnets WHERE discovered_at > ? AND discovered_at <= ?")
            .bind(ms(from))
            .bind(ms(to))
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            let report_id: ReportId = parse_col(&row, "report_id")?;
            ref_ids.push(report_id.to_string());
            let v4: Vec<u8> = row.try_get("bots_v4")?;
            let v6: Vec<u8> = row.try_get("bots_v6")?;
            ctx.botnets.push(BotnetRow {
                report_id,
                idx: row.try_get::<i64, _>("idx")? as usize,
                cc: row
                    .try_get::<Option<String>, _>("cc")?
                    .and_then(|cc| cc.parse::<std::net::SocketAddr>().ok())
                    .map(|a| (a.ip(), a.port())),
                discovered_at: from_ms(row.try_get("discovered_at")?),
                declared_count: row.try_get::<i64, _>("declared_count")? as u64,
                bots: BotSet { v4: unpack_v4(&v4), v6: unpack_v6(&v6) },
            });
        }
    }
    ref_ids.sort();
    ref_ids.dedup();
    select_in(
        conn,
        &format!("SELECT {REPORT_REF_COLUMNS} FROM reports r JOIN units ru ON ru.code = r.unit_code WHERE r.id"),
        &ref_ids,
        |row| {
            let r = row_to_report_ref(&row)?;
            ctx.refs.insert(r.id, r);
            Ok(())
        },
    )
    .await?;
    Ok(ctx)
}

/// A batch's decisions with their rows encoded, ready for the transaction that writes them.
#[derive(Debug)]
pub struct Staged {
    decisions: Vec<Decision>,
    rows: BatchRows,
}

/// The multi-row inserts of a batch, in the order they are written.
#[derive(Debug)]
struct BatchRows {
    submissions: Rows,
    /// The reports, botnets and obligations, encoded ahead of the transaction; `None` for a batch
    /// too large to hold encoded at once, whose rows are encoded as they are written.
    items: Option<ItemRows>,
    audit: Rows,
    /// When the batch was encoded: its obligations' `created_at`.
    now: DateTime<Utc>,
}

#[derive(Debug)]
struct ItemRows {
    reports: Rows,
    botnets: Rows,
    obligations: Rows,
}

/// A batch with more reports, botnets and obligations than this is encoded as it is written, a
/// few thousand rows at a time, rather than ahead of the transaction: encoded whole, a
/// submission of 100,000 reports held hundreds of MB of cells.
const ENCODE_AHEAD_MAX: usize = 16_384;

/// Rows encoded and inserted at a time when a batch is written as it is encoded.
const ROWS_AT_ONCE: usize = 4096;

/// Encodes what the decisions insert (serialising receipts, bodies and payloads), so that this
/// work can run while another transaction commits.
fn encode_decisions(mut decisions: Vec<Decision>, now: DateTime<Utc>) -> Result<Staged, StoreError> {
    let mut submissions = Rows::new(
        "INSERT OR FAIL INTO submissions (id, dedupe_key, dedupe_hash, channel, sender, unit_code, external_id, received_at, outcome, raw, receipt) ",
        "",
        11,
    );
    let mut audit = audit_rows();
    submissions.reserve(decisions.len());
    for d in decisions.iter_mut() {
        // Audit rows are needed only here: moved into their cells, not copied. A repeat writes
        // nothing but the outbox row that answers it again. Outbox rows are encoded as they are
        // written (`write_outbox`).
        if d.duplicate {
            continue;
        }
        for a in std::mem::take(&mut d.audit) {
            push_audit(&mut audit, a, d.submission.received_at);
        }
        let s = &d.submission;
        let receipt = serde_json::to_string(&d.receipt).map_err(|e| corrupt("receipt", e))?;
        submissions.push([
            s.id.to_string().into(),
            s.dedupe_key.clone().into(),
            dedupe_digest(&s.dedupe_key).to_vec().into(),
            s.channel.code().into(),
            s.sender.to_string().into(),
            d.unit.as_ref().map(|u| u.to_string()).into(),
            s.external_id.clone().into(),
            ms(s.received_at).into(),
            d.receipt.outcome.code().into(),
            s.raw.clone().into(),
            receipt.into(),
        ]);
    }
    let stored = || decisions.iter().filter(|d| !d.duplicate);
    let items = stored().map(|d| d.reports.len() + d.botnets.len() + d.obligations.len()).sum::<usize>();
    let items = if items <= ENCODE_AHEAD_MAX {
        let mut rows = ItemRows { reports: report_rows(), botnets: botnet_rows(), obligations: obligation_rows() };
        // Each table's cells are allocated once, at their full size.
        rows.reports.reserve(stored().map(|d| d.reports.len()).sum());
        rows.botnets.reserve(stored().map(|d| d.botnets.len()).sum());
        rows.obligations.reserve(stored().map(|d| d.obligations.len()).sum());
        for (seq, r, s) in stored().flat_map(reports_of) {
            push_report(&mut rows.reports, s, seq, r)?;
        }
        for b in stored().flat_map(|d| &d.botnets) {
            push_botnet(&mut rows.botnets, b);
        }
        let mut once = OncePerKey::default();
        for o in stored().flat_map(|d| &d.obligations).filter(|o| once.first(o)) {
            push_obligation(&mut rows.obligations, o, now)?;
        }
        Some(rows)
    } else {
        None
    };
    Ok(Staged { rows: BatchRows { submissions, items, audit, now }, decisions })
}

fn report_rows() -> Rows {
    Rows::new(
        "INSERT OR FAIL INTO reports (id, submission_id, seq, unit_code, kind, grade, level, category, discovered_at, received_at, follows_up, body, provinces) ",
        "",
        13,
    )
}

fn push_report(rows: &mut Rows, s: &crate::model::Submission, seq: usize, r: &crate::model::Report) -> Result<(), StoreError> {
    let c = &r.content;
    let body = serde_json::to_string(r).map_err(|e| corrupt("report", e))?;
    rows.push([
        r.id.to_string().into(),
        s.id.to_string().into(),
        (seq as i64).into(),
        r.unit.to_string().into(),
        c.kind().code().into(),
        c.grade.map(|g| g.code()).into(),
        c.level.map(|l| i64::from(l.number())).into(),
        c.category.map(|x| x.code()).into(),
        ms(c.discovered_at).into(),
        ms(s.received_at).into(),
        c.follows_up.map(|f| f.to_string()).into(),
        body.into(),
        c.provinces.iter().map(|p| p.code()).collect::<Vec<_>>().join(" ").into(),
    ]);
    Ok(())
}

fn botnet_rows() -> Rows {
    Rows::new("INSERT OR FAIL INTO botnets (report_id, idx, discovered_at, declared_count, bots_v4, bots_v6, cc) ", "", 7)
}

fn push_botnet(rows: &mut Rows, b: &BotnetRow) {
    rows.push([
        b.report_id.to_string().into(),
        (b.idx as i64).into(),
        ms(b.discovered_at).into(),
        (b.declared_count as i64).into(),
        pack_v4(&b.bots.v4).into(),
        pack_v6(&b.bots.v6).into(),
        b.cc.map(|(ip, port)| std::net::SocketAddr::new(ip, port).to_string()).into(),
    ]);
}

/// Writes the reports, botnets and obligations of a batch too large to encode ahead, each table
/// a few thousand rows at a time, each group encoded just before it is inserted.
async fn write_items_as_encoded(conn: &mut SqliteConnection, decisions: &[Decision], now: DateTime<Utc>) -> Result<(), StoreError> {
    let stored = || decisions.iter().filter(|d| !d.duplicate);
    let mut rows = report_rows();
    for (seq, r, s) in stored().flat_map(reports_of) {
        push_report(&mut rows, s, seq, r)?;
        rows = rows.insert_when_full(conn, report_rows).await?;
    }
    rows.insert(conn).await?;
    let mut rows = botnet_rows();
    for b in stored().flat_map(|d| &d.botnets) {
        push_botnet(&mut rows, b);
        rows = rows.insert_when_full(conn, botnet_rows).await?;
    }
    rows.insert(conn).await?;
    let mut rows = obligation_rows();
    let mut once = OncePerKey::default();
    for o in stored().flat_map(|d| &d.obligations).filter(|o| once.first(o)) {
        push_obligation(&mut rows, o, now)?;
        rows = rows.insert_when_full(conn, obligation_rows).await?;
    }
    rows.insert(conn).await
}

/// Decides and encodes a batch on a blocking-pool thread, in parallel with the writer's SQL.
fn decide_aside<F>(ctx: Result<Context, StoreError>, decide: F) -> tokio::task::JoinHandle<Result<Staged, StoreError>>
where
    F: FnOnce(&mut Context) -> Vec<Decision> + Send + 'static,
{
    tokio::task::spawn_blocking(move || ctx.and_then(|mut ctx| encode_decisions(decide(&mut ctx), crate::clock::now())))
}

/// Writes a staged batch: its multi-row inserts, then the updates its decisions make to rows
/// stored earlier (fulfilments, reopenings, regrades, contacts).
async fn write_staged(conn: &mut SqliteConnection, rows: BatchRows, decisions: &[Decision]) -> Result<(), StoreError> {
    let BatchRows { submissions, items, audit, now } = rows;
    // A refused submission whose bytes came again and were decided afresh keeps its row under a
    // key of its own; the new one takes the key, so the same bytes later are its duplicate.
    for d in decisions.iter().filter(|d| !d.duplicate) {
        if let Some(old) = d.supersedes {
            let key = format!("{}#superseded-by-{}", d.submission.dedupe_key, d.submission.id);
            sqlx::query("UPDATE submissions SET dedupe_key = ?, dedupe_hash = ? WHERE id = ?")
                .bind(&key)
                .bind(dedupe_digest(&key).to_vec())
                .bind(old.to_string())
                .execute(&mut *conn)
                .await?;
        }
    }
    submissions.insert(conn).await?;
    match items {
        Some(ItemRows { reports, botnets, obligations }) => {
            reports.insert(conn).await?;
            botnets.insert(conn).await?;
            obligations.insert(conn).await?;
        }
        None => write_items_as_encoded(conn, decisions, now).await?,
    }

    for d in decisions.iter().filter(|d| !d.duplicate) {
        for f in &d.fulfilments {
            mark_fulfilled(conn, &f.target, Some(f.by), f.at).await?;
        }
        for r in &d.reopens {
            sqlx::query(
                "UPDATE obligations SET status = 'open', met_by = NULL, met_at = NULL, trigger_at = ?, due_at = ?, provisional = ?, \
                 alert_stage = 0, next_alert_at = ? WHERE id = ? AND status IN ('met', 'late', 'missed')",
            )
            .bind(ms(r.deadline.trigger_at))
            .bind(ms(r.deadline.due_at))
            .bind(r.deadline.provisional)
            .bind(ms(r.next_alert_at))
            .bind(r.obligation.to_string())
            .execute(&mut *conn)
            .await?;
        }
        for r in &d.reschedules {
            // Only brought forward: a deadline already sooner stays.
            sqlx::query(
                "UPDATE obligations SET rule = ?, trigger_at = ?, due_at = ?, provisional = ?, alert_stage = 0, next_alert_at = ? \
                 WHERE report_id = ? AND duty = ? AND status = 'open' AND due_at > ? AND (? IS NULL OR actor = ?)",
            )
            .bind(r.deadline.rule.code())
            .bind(ms(r.deadline.trigger_at))
            .bind(ms(r.deadline.due_at))
            .bind(r.deadline.provisional)
            .bind(ms(r.next_alert_at))
            .bind(r.report.to_string())
            .bind(r.duty.code())
            .bind(ms(r.deadline.due_at))
            .bind(r.actor.as_ref().map(|a| a.to_string()))
            .bind(r.actor.as_ref().map(|a| a.to_string()))
            .execute(&mut *conn)
            .await?;
        }
        for r in &d.regrades {
            // The grade the unit declared (declared_grade, if it declared one) is left as it was.
            sqlx::query("UPDATE reports SET grade = ?, body = json_set(body, '$.grade', ?) WHERE id = ?")
                .bind(r.to.code())
                .bind(r.to.code())
                .bind(r.report_id.to_string())
                .execute(&mut *conn)
                .await?;
        }
        if let Some((unit, contacts)) = &d.contacts {
            let json = serde_json::to_string(contacts).map_err(|e| corrupt("contacts", e))?;
            sqlx::query("UPDATE units SET body = json_set(body, '$.contacts', json(?)), updated_at = ? WHERE code = ?")
                .bind(json)
                .bind(ms(d.submission.received_at))
                .bind(unit.to_string())
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM unit_senders WHERE unit_code = ? AND ident LIKE 'email:%'")
                .bind(unit.to_string())
                .execute(&mut *conn)
                .await?;
            for ident in contacts.iter().filter_map(|c| c.email.as_ref()).flat_map(super::shared::mail_idents) {
                sqlx::query("INSERT INTO unit_senders (ident, unit_code) VALUES (?, ?) ON CONFLICT (ident) DO UPDATE SET unit_code = excluded.unit_code")
                    .bind(ident)
                    .bind(unit.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }

    write_outbox(conn, decisions).await?;
    audit.insert(conn).await?;
    Ok(())
}

/// Closes the open (or missed) obligation that `target` names: met when done by its due time,
/// late after it (even once marked missed); met while its deadline is provisional, until the
/// year's schedule comes and `recompute_provisional` decides.
pub(super) async fn mark_fulfilled(
    conn: &mut SqliteConnection,
    target: &Fulfils,
    by: Option<ReportId>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new("UPDATE obligations SET status = CASE WHEN due_at >= ");
    qb.push_bind(ms(at)).push(" OR (provisional = 1 AND status = 'open') THEN 'met' ELSE 'late' END, next_alert_at = NULL, met_by = ");
    qb.push_bind(by.map(|r| r.to_string())).push(", met_at = ").push_bind(ms(at));
    match target {
        Fulfils::About { report, duty, actor } => {
            qb.push(" WHERE report_id = ").push_bind(report.to_string());
            qb.push(" AND duty = ").push_bind(duty.code()).push(" AND actor = ").push_bind(actor.to_string());
        }
        Fulfils::Key(k) => {
            qb.push(" WHERE okey = ").push_bind(k.clone());
        }
    }
    qb.push(" AND status IN ('open', 'missed')");
    qb.build().execute(&mut *conn).await?;
    Ok(())
}

/// What delivered rows perform: `{"performs": {"duty": D, "report": R}}` meets CNCERT's duty D
/// about report R; `{"performs": {"duty": D, "rule": RULE, "trigger_from": ms, "trigger_to": ms}}`
/// (the digest) meets each of CNCERT's duties D of that rule triggered in that span. A batch row
/// carries its items'.
async fn perform_duties(conn: &mut SqliteConnection, ids: &[OutboxId], at: DateTime<Utc>) -> Result<(), StoreError> {
    let mut performs: Vec<serde_json::Value> = Vec::new();
    for chunk in ids.chunks(900) {
        let mut qb: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new("SELECT payload FROM outbox WHERE instr(payload, '\"performs\"') > 0 AND id IN (");
        let mut sep = qb.separated(", ");
        for id in chunk {
            sep.push_bind(id.to_string());
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *conn).await? {
            performs.extend(super::shared::performed(&json_col(&row, "payload")?));
        }
    }
    let set = "UPDATE obligations SET status = CASE WHEN due_at >= ?1 OR (provisional = 1 AND status = 'open') THEN 'met' ELSE 'late' END, next_alert_at = NULL, met_at = ?1 \
               WHERE actor = 'cncert' AND status IN ('open', 'missed') AND duty = ?2";
    for p in performs {
        if let Some(month) = p.get("digest_month").and_then(|m| m.as_str()) {
            let sql = super::shared::DIGEST_MET.replace("PERFORMS_DIGEST", "instr(payload, '\"digest_month\":') > 0").replace('$', "?");
            sqlx::query(&sql)
                .bind(ms(at))
                .bind(format!("monthly_digest:{month}"))
                .bind(format!("digest:{month}"))
                .execute(&mut *conn)
                .await?;
            continue;
        }
        let Some(duty) = p.get("duty").and_then(|d| d.as_str()) else { continue };
        if let Some(report) = p.get("report").and_then(|r| r.as_str()) {
            sqlx::query(&format!("{set} AND report_id = ?3")).bind(ms(at)).bind(duty).bind(report).execute(&mut *conn).await?;
        } else if let (Some(from), Some(to), Some(rule)) = (
            p.get("trigger_from").and_then(|v| v.as_i64()),
            p.get("trigger_to").and_then(|v| v.as_i64()),
            p.get("rule").and_then(|v| v.as_str()),
        ) {
            // Only the duties of that rule (the digest's; urgent results have notices of their own).
            sqlx::query(&format!("{set} AND trigger_at >= ?3 AND trigger_at < ?4 AND rule = ?5"))
                .bind(ms(at))
                .bind(duty)
                .bind(from)
                .bind(to)
                .bind(rule)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

fn obligation_rows() -> Rows {
    Rows::new(
        "INSERT OR FAIL INTO obligations (id, okey, report_id, duty, actor, recipients, copies, rule, trigger_at, due_at, provisional, basis_code, basis_zh, binding, status, met_by, met_at, created_at, next_alert_at) ",
        " ON CONFLICT DO NOTHING",
        19,
    )
}

fn push_obligation(rows: &mut Rows, o: &Obligation, now: DateTime<Utc>) -> Result<(), StoreError> {
    let to = serde_json::to_string(&o.to).map_err(|e| corrupt("obligation", e))?;
    let copy = serde_json::to_string(&o.copy).map_err(|e| corrupt("obligation", e))?;
    rows.push([
        o.id.to_string().into(),
        o.key.clone().into(),
        o.report_id.map(|r| r.to_string()).into(),
        o.duty.code().into(),
        o.actor.to_string().into(),
        to.into(),
        copy.into(),
        o.deadline.rule.code().into(),
        ms(o.deadline.trigger_at).into(),
        ms(o.deadline.due_at).into(),
        o.deadline.provisional.into(),
        o.basis.code.clone().into(),
        o.basis.citation_zh.clone().into(),
        o.binding.into(),
        o.status.code().into(),
        o.met_by.map(|r| r.to_string()).into(),
        o.met_at.map(ms).into(),
        ms(now).into(),
        o.next_alert_at.map(ms).into(),
    ]);
    Ok(())
}

fn outbox_rows() -> Rows {
    Rows::new("INSERT OR FAIL INTO outbox (id, created_at, kind, channel, recipient, subject_id, urgent, payload, next_attempt_at) ", "", 9)
}

/// One outbox row, created (and first due) at `at`.
fn push_outbox(rows: &mut Rows, texts: &mut PayloadTexts, o: &OutboxRow, at: DateTime<Utc>) {
    let payload = Cell::Shared(texts.of(o));
    rows.push([
        o.id.to_string().into(),
        ms(at).into(),
        o.kind.code().into(),
        o.channel.code().into(),
        o.recipient.clone().into(),
        o.subject_id.clone().into(),
        o.urgent.into(),
        payload,
        ms(at).into(),
    ]);
}

/// A JSON value as text: written straight into a buffer, not through `Display`'s formatter,
/// which went character by character and was 3 % of intake's samples.
fn json_text(v: &serde_json::Value) -> String {
    serde_json::to_string(v).expect("a serde_json::Value always serialises")
}

fn audit_rows() -> Rows {
    Rows::new("INSERT OR FAIL INTO audit (at, actor, action, subject, detail) ", "", 5)
}

fn push_audit(rows: &mut Rows, a: AuditRow, at: DateTime<Utc>) {
    rows.push([ms(at).into(), a.actor.into(), a.action.into(), a.subject.into(), json_text(&a.detail).into()]);
}

/// Inserts obligations (multi-row); a keyed one that exists already is left as it is.
pub(super) async fn insert_obligations(
    conn: &mut SqliteConnection,
    obligations: &[Obligation],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut rows = obligation_rows();
    for o in obligations {
        push_obligation(&mut rows, o, now)?;
    }
    rows.insert(conn).await
}

/// Writes the decisions' outbox rows a few thousand at a time, each group encoded just before
/// it is inserted: a submission of 100,000 reports makes 600,000 of them, whose encoded payloads
/// alone were hundreds of MB when the whole batch was encoded at once.
async fn write_outbox(conn: &mut SqliteConnection, decisions: &[Decision]) -> Result<(), StoreError> {
    let mut texts = PayloadTexts::default();
    let mut rows = outbox_rows();
    let mut pending = 0;
    for d in decisions {
        for o in &d.outbox {
            push_outbox(&mut rows, &mut texts, o, d.submission.received_at);
            pending += 1;
            if pending == ROWS_AT_ONCE {
                std::mem::replace(&mut rows, outbox_rows()).insert(conn).await?;
                pending = 0;
            }
        }
    }
    rows.insert(conn).await
}

/// Inserts outbox rows, all created (and first due) at `at`.
pub(super) async fn insert_outbox(conn: &mut SqliteConnection, outbox: Vec<OutboxRow>, at: DateTime<Utc>) -> Result<(), StoreError> {
    let mut rows = outbox_rows();
    let mut texts = PayloadTexts::default();
    for o in outbox {
        push_outbox(&mut rows, &mut texts, &o, at);
    }
    rows.insert(conn).await
}

/// Inserts audit rows, all at `at`.
pub(super) async fn insert_audit(conn: &mut SqliteConnection, audit: Vec<AuditRow>, at: DateTime<Utc>) -> Result<(), StoreError> {
    let mut rows = audit_rows();
    for a in audit {
        push_audit(&mut rows, a, at);
    }
    rows.insert(conn).await
}

fn row_to_appeal(r: &SqliteRow) -> Result<StoredAppeal, StoreError> {
    let body: String = r.try_get("body")?;
    let answer: Option<String> = r.try_get("answer")?;
    Ok(StoredAppeal {
        appeal: serde_json::from_str(&body).map_err(|e| corrupt("user_appeals.body", e.to_string()))?,
        answer: answer.map(|a| serde_json::from_str(&a)).transpose().map_err(|e| corrupt("user_appeals.answer", e.to_string()))?,
    })
}

/// An outbox row as a sink or the fan-out reads it.
pub(super) fn row_to_outbox_item(r: &SqliteRow) -> Result<OutboxItem, StoreError> {
    Ok(OutboxItem {
        id: parse_col(r, "id")?,
        kind: {
            let code: String = r.try_get("kind")?;
            OutboxKind::parse(&code).ok_or_else(|| corrupt("outbox.kind", code))?
        },
        recipient: r.try_get("recipient")?,
        subject_id: r.try_get("subject_id")?,
        urgent: r.try_get("urgent")?,
        payload: json_col(r, "payload")?,
        attempts: r.try_get::<i64, _>("attempts")? as u32,
    })
}

pub(super) fn row_to_obligation(row: &SqliteRow) -> Result<Obligation, StoreError> {
    let duty: String = row.try_get("duty")?;
    let rule: String = row.try_get("rule")?;
    let status: String = row.try_get("status")?;
    let report_id: Option<String> = row.try_get("report_id")?;
    let met_by: Option<String> = row.try_get("met_by")?;
    let met_at: Option<i64> = row.try_get("met_at")?;
    Ok(Obligation {
        id: parse_col::<ObligationId>(row, "id")?,
        key: row.try_get("okey")?,
        report_id: report_id.map(|r| r.parse()).transpose().map_err(|e| corrupt("obligations.report_id", e))?,
        duty: Duty::parse(&duty).ok_or_else(|| corrupt("obligations.duty", &duty))?,
        actor: parse_col::<Party>(row, "actor")?,
        to: json_col(row, "recipients")?,
        copy: json_col(row, "copies")?,
        deadline: Deadline {
            rule: DeadlineRule::parse(&rule).ok_or_else(|| corrupt("obligations.rule", &rule))?,
            trigger_at: from_ms(row.try_get("trigger_at")?),
            due_at: from_ms(row.try_get("due_at")?),
            provisional: row.try_get("provisional")?,
        },
        basis: Basis { code: row.try_get("basis_code")?, citation_zh: row.try_get("basis_zh")? },
        binding: row.try_get("binding")?,
        status: ObligationStatus::parse(&status).ok_or_else(|| corrupt("obligations.status", &status))?,
        met_by: met_by.map(|r| r.parse()).transpose().map_err(|e| corrupt("obligations.met_by", e))?,
        met_at: met_at.map(from_ms),
        next_alert_at: row.try_get::<Option<i64>, _>("next_alert_at")?.map(from_ms),
    })
}

/// The columns `row_to_report_ref` reads, from `reports r` joined with its unit as `units ru`.
pub(super) const REPORT_REF_COLUMNS: &str = "r.id AS r_id, r.unit_code AS r_unit, r.kind AS r_kind, r.grade AS r_grade, \
     r.level AS r_level, r.provinces AS r_provinces, ru.unit_type AS r_unit_type, ru.region AS r_region";

/// What intake and the scheduler need to know about a stored report (`REPORT_REF_COLUMNS`).
pub(super) fn row_to_report_ref(row: &SqliteRow) -> Result<ReportRef, StoreError> {
    let kind: String = row.try_get("r_kind")?;
    let grade: Option<String> = row.try_get("r_grade")?;
    let level: Option<i64> = row.try_get("r_level")?;
    let unit_type: String = row.try_get("r_unit_type")?;
    let provinces: String = row.try_get("r_provinces")?;
    Ok(ReportRef {
        id: parse_col(row, "r_id")?,
        unit: parse_col(row, "r_unit")?,
        reporter_type: serde_json::from_value(serde_json::Value::String(unit_type)).map_err(|e| corrupt("units.unit_type", e))?,
        reporter_region: parse_col::<Region>(row, "r_region")?,
        kind: ReportKind::parse(&kind).ok_or_else(|| corrupt("reports.kind", &kind))?,
        grade: grade.map(|g| Grade::parse(&g)).transpose().map_err(|e| corrupt("reports.grade", e))?,
        level: level.and_then(WarningLevel::from_number),
        provinces: provinces
            .split_whitespace()
            .map(Province::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt("reports.provinces", e))?,
    })
}

pub(super) fn row_to_report(row: &SqliteRow) -> Result<StoredReport, StoreError> {
    Ok(StoredReport {
        submission_id: parse_col::<SubmissionId>(row, "submission_id")?,
        received_at: from_ms(row.try_get("received_at")?),
        report: json_col(row, "body")?,
    })
}

impl Store for SqliteStore {
    type Staged = Staged;

    async fn commit_batch<F>(&self, needs: Needs, decide: F) -> Result<Vec<Decision>, StoreError>
    where
        F: FnOnce(&mut Context) -> Vec<Decision> + Send,
    {
        // IMMEDIATE: take the write lock before reading, so the context read cannot go stale.
        let t0 = Instant::now();
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut ctx = load_context(&mut tx, &needs).await?;
        let t1 = Instant::now();
        let Staged { decisions, rows } = encode_decisions(decide(&mut ctx), crate::clock::now())?;
        let t2 = Instant::now();
        write_staged(&mut tx, rows, &decisions).await?;
        let t3 = Instant::now();
        tx.commit().await?;
        tracing::debug!(
            batch = decisions.len(),
            load_us = (t1 - t0).as_micros() as u64,
            decide_us = (t2 - t1).as_micros() as u64,
            write_us = (t3 - t2).as_micros() as u64,
            commit_us = t3.elapsed().as_micros() as u64,
            "batch committed"
        );
        Ok(decisions)
    }

    async fn commit_staged<F>(&self, staged: Option<Staged>, next: Option<(Needs, F)>) -> Pipelined<Staged>
    where
        F: FnOnce(&mut Context) -> Vec<Decision> + Send + 'static,
    {
        let t0 = Instant::now();
        let mut writer = match self.writer().await {
            Ok(w) => w,
            Err(e) => return Pipelined { committed: Err(e), next: None },
        };
        let mut tx = match writer.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => tx,
            Err(e) => return Pipelined { committed: Err(e.into()), next: None },
        };
        let (decisions, rows) = staged.map_or((Vec::new(), None), |s| (s.decisions, Some(s.rows)));
        let mut next = next;
        let mut deciding = None;
        // When the staged rows touch nothing the next batch's context is read from, read it
        // first, and decide that batch on another thread while they are written and committed.
        let ahead = next.as_ref().is_some_and(|(needs, _)| decision::reads_untouched_by(needs, &decisions));
        if ahead && let Some((needs, decide)) = next.take() {
            deciding = Some(decide_aside(load_context(&mut tx, &needs).await, decide));
        }
        let t1 = Instant::now();
        if let Some(rows) = rows
            && let Err(e) = write_staged(&mut tx, rows, &decisions).await
        {
            // Dropping the transaction rolls it back; a decision made aside is dropped with it.
            return Pipelined { committed: Err(e), next: None };
        }
        let t2 = Instant::now();
        // Otherwise read it here, inside this transaction, so that it sees the rows just
        // written, and decide it while the transaction commits.
        if let Some((needs, decide)) = next.take() {
            deciding = Some(decide_aside(load_context(&mut tx, &needs).await, decide));
        }
        let t3 = Instant::now();
        let committed = tx.commit().await;
        let t4 = Instant::now();
        let next = match deciding {
            None => None,
            Some(task) => Some(task.await.unwrap_or_else(|e| Err(corrupt("decision", e)))),
        };
        tracing::debug!(
            batch = decisions.len(),
            ahead,
            load_ahead_us = (t1 - t0).as_micros() as u64,
            write_us = (t2 - t1).as_micros() as u64,
            load_after_us = (t3 - t2).as_micros() as u64,
            commit_us = (t4 - t3).as_micros() as u64,
            wait_decision_us = t4.elapsed().as_micros() as u64,
            "batch committed"
        );
        match committed {
            Ok(()) => Pipelined { committed: Ok(decisions), next },
            // The next batch may rest on rows that were rolled back: not returned.
            Err(e) => Pipelined { committed: Err(e.into()), next: None },
        }
    }

    async fn import_units(&self, units: &[Unit], at: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        for u in units {
            let body = serde_json::to_string(u).map_err(|e| corrupt("unit", e))?;
            sqlx::query(
                "INSERT INTO units (code, name, unit_type, region, important, body, updated_at, group_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, unit_type = excluded.unit_type, region = excluded.region, \
                 important = excluded.important, body = excluded.body, updated_at = excluded.updated_at, group_code = excluded.group_code",
            )
            .bind(u.code.to_string())
            .bind(&u.name)
            .bind(u.unit_type.code())
            .bind(u.province.to_string())
            .bind(u.important)
            .bind(body)
            .bind(ms(at))
            .bind(u.group.as_ref().map(|g| g.to_string()))
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM unit_senders WHERE unit_code = ?").bind(u.code.to_string()).execute(&mut *tx).await?;
            let idents = u.amqp_user.iter().map(|a| format!("amqp:{a}")).chain(u.emails().flat_map(super::shared::mail_idents));
            for ident in idents {
                sqlx::query("INSERT INTO unit_senders (ident, unit_code) VALUES (?, ?) ON CONFLICT (ident) DO UPDATE SET unit_code = excluded.unit_code")
                    .bind(ident)
                    .bind(u.code.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, 'operator', 'unit.imported', ?, ?)")
                .bind(ms(at))
                .bind(u.code.to_string())
                .bind(serde_json::json!({ "type": u.unit_type, "province": u.province }).to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(units.len())
    }

    async fn units(&self) -> Result<Vec<Unit>, StoreError> {
        let rows = sqlx::query("SELECT body FROM units ORDER BY code").fetch_all(&self.pool).await?;
        rows.iter().map(|r| json_col(r, "body")).collect()
    }

    async fn reports(&self, filter: &ReportFilter) -> Result<Vec<StoredReport>, StoreError> {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new("SELECT submission_id, received_at, body FROM reports WHERE 1 = 1");
        if let Some(u) = &filter.unit {
            qb.push(" AND unit_code = ").push_bind(u.to_string());
        }
        if let Some(k) = filter.kind {
            qb.push(" AND kind = ").push_bind(k.code());
        }
        // Ids are UUIDv7, minted on arrival: id order is arrival order, without another index.
        qb.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit.max(1)));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(row_to_report).collect()
    }

    async fn report(&self, id: ReportId, unit: Option<&UnitCode>) -> Result<Option<StoredReport>, StoreError> {
        let row = sqlx::query("SELECT submission_id, received_at, body, unit_code FROM reports WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) if unit.is_none_or(|u| row.try_get::<String, _>("unit_code").is_ok_and(|c| c == u.as_str())) => {
                row_to_report(&row).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn obligations(&self, filter: &ObligationFilter) -> Result<Vec<Obligation>, StoreError> {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new("SELECT * FROM obligations WHERE 1 = 1");
        if let Some(s) = filter.status {
            qb.push(" AND status = ").push_bind(s.code());
        }
        if let Some(at) = filter.overdue_at {
            qb.push(" AND status = 'open' AND due_at < ").push_bind(ms(at));
        }
        if let Some(r) = filter.report {
            qb.push(" AND report_id = ").push_bind(r.to_string());
        }
        qb.push(" ORDER BY due_at, id LIMIT ").push_bind(i64::from(filter.limit.max(1)));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(row_to_obligation).collect()
    }

    async fn receipt(&self, id: SubmissionId, unit: Option<&UnitCode>) -> Result<Option<Receipt>, StoreError> {
        let row =
            sqlx::query("SELECT receipt, unit_code FROM submissions WHERE id = ?").bind(id.to_string()).fetch_optional(&self.pool).await?;
        match row {
            Some(row) => {
                let owner: Option<String> = row.try_get("unit_code")?;
                if unit.is_some_and(|u| owner.as_deref() != Some(u.as_str())) {
                    return Ok(None);
                }
                json_col(&row, "receipt").map(Some)
            }
            None => Ok(None),
        }
    }

    async fn submission_raw(&self, id: SubmissionId) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT raw FROM submissions WHERE id = ?").bind(id.to_string()).fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(row) => Some(row.try_get("raw")?),
            None => None,
        })
    }

    async fn counts(&self) -> Result<Counts, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM units) AS units, (SELECT count(*) FROM submissions) AS submissions, \
             (SELECT count(*) FROM reports) AS reports, (SELECT count(*) FROM obligations) AS obligations, \
             (SELECT count(*) FROM outbox) AS outbox, (SELECT count(*) FROM audit) AS audit",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts {
            units: row.try_get("units")?,
            submissions: row.try_get("submissions")?,
            reports: row.try_get("reports")?,
            obligations: row.try_get("obligations")?,
            outbox: row.try_get("outbox")?,
            audit: row.try_get("audit")?,
        })
    }

    async fn due_outbox(&self, channel: &str, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, recipient, subject_id, urgent, payload, attempts, created_at FROM outbox \
             WHERE channel = ? AND status = 'pending' AND next_attempt_at <= ? ORDER BY urgent DESC, id LIMIT ?",
        )
        .bind(channel)
        .bind(ms(now))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        // Rows that waited longer than `super::OUTBOX_STALE_AFTER` (a channel that had no sink,
        // a recipient down for a week) are expired, not sent late as a flood of old news.
        // How long a row has waited is told by its id, a UUIDv7 minted by the clock when the row
        // was queued (`created_at` is the time of what it is about, which can be older).
        let stale_before = ms(now - super::OUTBOX_STALE_AFTER);
        let mut due = Vec::with_capacity(rows.len());
        let mut stale = Vec::new();
        for r in &rows {
            let item = row_to_outbox_item(r)?;
            let queued = match queued_ms(item.id) {
                Some(ms) => ms,
                None => r.try_get("created_at")?,
            };
            if queued < stale_before { stale.push(item.id) } else { due.push(item) }
        }
        if !stale.is_empty() {
            let mut writer = self.writer().await?;
            let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
            for id in &stale {
                sqlx::query("UPDATE outbox SET status = 'expired', last_error = ? WHERE id = ? AND status = 'pending'")
                    .bind(format!("not delivered within {} days; expired unsent", super::OUTBOX_STALE_AFTER.num_days()))
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            tracing::warn!(channel, expired = stale.len(), "outbox rows too old to send; expired unsent");
        }
        Ok(due)
    }

    async fn outbox(&self, filter: &super::OutboxFilter) -> Result<Vec<super::OutboxRecord>, StoreError> {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new("SELECT * FROM outbox WHERE 1 = 1");
        if let Some(k) = filter.kind {
            qb.push(" AND kind = ").push_bind(k.code());
        }
        if let Some(c) = filter.channel {
            qb.push(" AND channel = ").push_bind(c.code());
        }
        if let Some(s) = &filter.subject_id {
            qb.push(" AND subject_id = ").push_bind(s.clone());
        }
        if let Some(r) = &filter.recipient {
            qb.push(" AND recipient = ").push_bind(r.clone());
        }
        if let Some(s) = &filter.status {
            qb.push(" AND status = ").push_bind(s.clone());
        }
        qb.push(" ORDER BY id LIMIT ").push_bind(i64::from(filter.limit.max(1)));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(super::OutboxRecord {
                    id: parse_col(r, "id")?,
                    created_at: from_ms(r.try_get("created_at")?),
                    kind: r.try_get("kind")?,
                    channel: r.try_get("channel")?,
                    recipient: r.try_get("recipient")?,
                    subject_id: r.try_get("subject_id")?,
                    urgent: r.try_get("urgent")?,
                    payload: json_col(r, "payload")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get::<i64, _>("attempts")? as u32,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    async fn outbox_backlog(&self, now: DateTime<Utc>) -> Result<Vec<Backlog>, StoreError> {
        let rows = sqlx::query(
            "SELECT channel, status, count(*) AS n, min(id) AS oldest FROM outbox \
             WHERE status IN ('pending', 'failed', 'expired') GROUP BY channel, status ORDER BY channel, status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let oldest: OutboxId = parse_col(r, "oldest")?;
                let oldest = queued_ms(oldest).unwrap_or(0);
                Ok(Backlog {
                    channel: r.try_get("channel")?,
                    status: r.try_get("status")?,
                    count: r.try_get("n")?,
                    oldest_age_s: (now - from_ms(oldest)).num_seconds().max(0),
                })
            })
            .collect()
    }

    async fn obligation_states(&self, now: DateTime<Utc>) -> Result<super::ObligationStates, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(status = 'open'), 0) AS open, COALESCE(SUM(status = 'open' AND due_at < ?), 0) AS overdue, \
             COALESCE(SUM(status = 'missed'), 0) AS missed FROM obligations WHERE status IN ('open', 'missed')",
        )
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(super::ObligationStates { open: row.get("open"), overdue: row.get("overdue"), missed: row.get("missed") })
    }

    async fn outbox_sent(&self, ids: &[OutboxId], at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in ids.chunks(900) {
            let mut qb: QueryBuilder<'_, Sqlite> =
                QueryBuilder::new("UPDATE outbox SET status = 'sent', attempts = attempts + 1, last_error = NULL, next_attempt_at = ");
            qb.push_bind(ms(at)).push(" WHERE id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.to_string());
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await?;
        }
        perform_duties(&mut tx, ids, at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn close_cncert_duty(
        &self,
        id: crate::model::ObligationId,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<crate::model::ObligationStatus>, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE obligations SET status = CASE WHEN due_at >= ?1 OR (provisional = 1 AND status = 'open') THEN 'met' ELSE 'late' END, next_alert_at = NULL, met_at = ?1 \
             WHERE id = ?2 AND actor = 'cncert' AND status IN ('open', 'missed') RETURNING status",
        )
        .bind(ms(at))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = done else { return Ok(None) };
        let text: String = row.try_get("status")?;
        let status = crate::model::ObligationStatus::parse(&text).ok_or_else(|| corrupt("status", text))?;
        let audit = AuditRow {
            actor: by.to_string(),
            action: "obligation.done",
            subject: id.to_string(),
            detail: serde_json::json!({ "status": status, "note": note }),
        };
        insert_audit(&mut tx, vec![audit], at).await?;
        tx.commit().await?;
        Ok(Some(status))
    }

    async fn record_user_appeal(
        &self,
        appeal: &crate::model::UserAppeal,
        effects: AppealEffects,
        per_day: u32,
    ) -> Result<bool, StoreError> {
        let body = serde_json::to_string(appeal).map_err(|e| corrupt("user appeal", e.to_string()))?;
        let contact = appeal.contact_key();
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let since = ms(appeal.received_at - chrono::Duration::hours(24));
        let (lodged,): (i64,) = sqlx::query_as("SELECT count(*) FROM user_appeals WHERE contact = ? AND received_at > ?")
            .bind(&contact)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
        if lodged >= i64::from(per_day) {
            return Ok(false);
        }
        sqlx::query("INSERT INTO user_appeals (id, received_at, contact, body) VALUES (?, ?, ?, ?)")
            .bind(appeal.id.to_string())
            .bind(ms(appeal.received_at))
            .bind(&contact)
            .bind(body)
            .execute(&mut *tx)
            .await?;
        for unit in &appeal.units {
            sqlx::query("INSERT OR IGNORE INTO user_appeal_units (appeal_id, unit_code) VALUES (?, ?)")
                .bind(appeal.id.to_string())
                .bind(unit.as_str())
                .execute(&mut *tx)
                .await?;
        }
        insert_obligations(&mut tx, &effects.obligations, appeal.received_at).await?;
        insert_outbox(&mut tx, effects.outbox, appeal.received_at).await?;
        insert_audit(&mut tx, effects.audit, appeal.received_at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn request_user_appeal(
        &self,
        request: &crate::store::AppealRequest,
        limits: crate::store::RequestLimits,
        outbox: Vec<crate::decision::OutboxRow>,
    ) -> Result<crate::store::Requested, StoreError> {
        let form = serde_json::to_string(&request.form).map_err(|e| corrupt("appeal request", e))?;
        let channel = serde_json::to_value(request.channel).map_err(|e| corrupt("appeal request", e))?;
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let count =
            |sql: &'static str, key: &str, since: DateTime<Utc>| sqlx::query_as::<_, (i64,)>(sql).bind(key.to_string()).bind(ms(since));
        let (by_client,) = count(
            "SELECT count(*) FROM appeal_requests WHERE client = ? AND created_at > ?",
            &request.client,
            request.at - chrono::Duration::hours(1),
        )
        .fetch_one(&mut *tx)
        .await?;
        if by_client >= i64::from(limits.per_client_hour) {
            return Ok(crate::store::Requested::ClientLimit);
        }
        let (by_contact,) = count(
            "SELECT count(*) FROM appeal_requests WHERE contact = ? AND created_at > ?",
            &request.contact,
            request.at - chrono::Duration::hours(24),
        )
        .fetch_one(&mut *tx)
        .await?;
        if by_contact >= i64::from(limits.per_contact_day) {
            return Ok(crate::store::Requested::ContactLimit);
        }
        sqlx::query("INSERT INTO appeal_requests (token_hash, client, contact, channel, form, created_at, confirmed_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(&request.token_hash)
            .bind(&request.client)
            .bind(&request.contact)
            .bind(channel.as_str().unwrap_or_default().to_string())
            .bind(form)
            .bind(ms(request.at))
            .bind(request.confirmed.then(|| ms(request.at)))
            .execute(&mut *tx)
            .await?;
        insert_outbox(&mut tx, outbox, request.at).await?;
        tx.commit().await?;
        Ok(crate::store::Requested::Stored)
    }

    async fn confirm_user_appeal(
        &self,
        token_hash: &str,
        made_after: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Option<(crate::model::appeal::AppealForm, crate::model::appeal::AppealChannel)>, StoreError> {
        let mut writer = self.writer().await?;
        let row = sqlx::query(
            "UPDATE appeal_requests SET confirmed_at = ? WHERE token_hash = ? AND confirmed_at IS NULL AND created_at > ? RETURNING form, channel",
        )
        .bind(ms(at))
        .bind(token_hash)
        .bind(ms(made_after))
        .fetch_optional(&mut *writer)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let form = json_col(&row, "form")?;
        let channel: String = row.try_get("channel")?;
        let channel = serde_json::from_value(serde_json::Value::String(channel)).map_err(|e| corrupt("appeal request", e))?;
        Ok(Some((form, channel)))
    }

    async fn user_appeal(&self, id: crate::model::AppealId) -> Result<Option<StoredAppeal>, StoreError> {
        let row = sqlx::query("SELECT body, answer FROM user_appeals WHERE id = ?").bind(id.to_string()).fetch_optional(&self.pool).await?;
        row.as_ref().map(row_to_appeal).transpose()
    }

    async fn user_appeals(&self, unit: Option<&UnitCode>, open: bool, limit: u32) -> Result<Vec<StoredAppeal>, StoreError> {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new("SELECT body, answer FROM user_appeals a WHERE 1 = 1");
        if let Some(u) = unit {
            qb.push(" AND id IN (SELECT appeal_id FROM user_appeal_units WHERE unit_code = ").push_bind(u.as_str().to_string()).push(")");
        }
        if open {
            qb.push(" AND answered_at IS NULL");
        }
        qb.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit.max(1)));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(row_to_appeal).collect()
    }

    async fn answer_user_appeal(
        &self,
        id: crate::model::AppealId,
        answer: &crate::model::appeal::AppealAnswer,
        effects: AppealEffects,
    ) -> Result<bool, StoreError> {
        let text = serde_json::to_string(answer).map_err(|e| corrupt("appeal answer", e.to_string()))?;
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("UPDATE user_appeals SET answer = ?, answered_at = ? WHERE id = ? AND answered_at IS NULL")
            .bind(text)
            .bind(ms(answer.at))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        // Every party's duty to answer is met by the one answer the user receives.
        sqlx::query(
            "UPDATE obligations SET status = CASE WHEN due_at >= ?1 OR (provisional = 1 AND status = 'open') THEN 'met' ELSE 'late' END, next_alert_at = NULL, met_at = ?1 \
             WHERE okey >= ?2 AND okey < ?3 AND status IN ('open', 'missed')",
        )
        .bind(ms(answer.at))
        .bind(format!("user_appeal:{id}:"))
        .bind(format!("user_appeal:{id};"))
        .execute(&mut *tx)
        .await?;
        insert_obligations(&mut tx, &effects.obligations, answer.at).await?;
        insert_outbox(&mut tx, effects.outbox, answer.at).await?;
        insert_audit(&mut tx, effects.audit, answer.at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn hold_lease(&self, name: &str, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        let held = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE \
             SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
        )
        .bind(name)
        .bind(holder)
        .bind(ms(until))
        .bind(ms(now))
        .execute(&mut *writer)
        .await?
        .rows_affected()
            == 1;
        Ok(held)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        sqlx::query("DELETE FROM leases WHERE name = ? AND holder = ?").bind(name).bind(holder).execute(&mut *writer).await?;
        Ok(())
    }

    async fn outbox_release(&self, _ids: &[OutboxId], _now: DateTime<Utc>) -> Result<(), StoreError> {
        // `due_outbox` claims nothing on SQLite: an undelivered row is due as it was.
        Ok(())
    }

    async fn outbox_retry(&self, id: OutboxId, error: &str, next_attempt_at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let status = if next_attempt_at.is_some() { "pending" } else { "failed" };
        sqlx::query("UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ?")
            .bind(status)
            .bind(error)
            .bind(next_attempt_at.map(ms))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if next_attempt_at.is_none() {
            sqlx::query("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, 'hub', 'outbox.failed', ?, ?)")
                .bind(ms(crate::clock::now()))
                .bind(id.to_string())
                .bind(serde_json::json!({ "error": error }).to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn issue_token(&self, unit: &UnitCode, token_hash: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT INTO tokens (hash, unit_code, created_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(unit.to_string())
            .bind(ms(at))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, 'operator', 'token.issued', ?, ?)")
            .bind(ms(at))
            .bind(unit.to_string())
            .bind(serde_json::json!({ "hash_prefix": &token_hash[..12.min(token_hash.len())] }).to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_tokens(&self, unit: &UnitCode, token_hash: Option<&str>, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let n = sqlx::query("UPDATE tokens SET revoked_at = ? WHERE unit_code = ? AND revoked_at IS NULL AND (? IS NULL OR hash = ?)")
            .bind(ms(at))
            .bind(unit.as_str())
            .bind(token_hash)
            .bind(token_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let audit = AuditRow {
            actor: "cli".into(),
            action: "token.revoked",
            subject: unit.to_string(),
            detail: serde_json::json!({ "revoked": n, "one": token_hash.is_some() }),
        };
        insert_audit(&mut tx, vec![audit], at).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn unit_for_token(&self, token_hash: &str) -> Result<Option<UnitCode>, StoreError> {
        let row =
            sqlx::query("SELECT t.unit_code FROM tokens t JOIN units u ON u.code = t.unit_code WHERE t.hash = ? AND t.revoked_at IS NULL")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| parse_col(&r, "unit_code")).transpose()
    }
}
