//! PostgreSQL backend, for several hubs on one database: its schema (`migrations/postgres/`), intake's batches written with `UNNEST` inserts, and the locks that keep instances from doing a thing twice.
//!
//! The schema has the tables and columns of the SQLite backend in PostgreSQL's own types (ids
//! uuid, instants timestamptz, bodies jsonb); a test keeps the two in step.
//!
//! What several instances on one database could do twice, and what stops it:
//! - the same submission reaching two instances: the unique index on `dedupe_hash` makes the
//!   later commit fail with a unique violation, which is transient (`StoreError::from`), so
//!   intake decides that batch again and finds the stored receipt;
//! - two instances grading botnets of one period at once: a batch that reads the period's
//!   botnets takes a transaction-scoped advisory lock (`BOTNET_PERIOD_LOCK`) before it reads
//!   them, and holds it until its rows are committed, so the second reads what the first wrote;
//! - an outbox row sent by two instances: `due_outbox` and `party_rows` claim rows with
//!   `FOR UPDATE SKIP LOCKED` and push their next attempt a lease ahead (`PgLocation::lease`); an
//!   instance that dies holding them leaves them due again when the lease ends;
//! - a periodic job run twice: its `(job, period)` row is inserted with what it writes, and the
//!   second insert waits for the first and then writes nothing.

mod console;
mod jobs;
mod users;

use super::shared::{OncePerKey, PayloadTexts, corrupt, pack_v4, pack_v6, queued_ms, reports_of, sender_ident, unpack_v4, unpack_v6};
use super::{
    AppealEffects, Backlog, Counts, ObligationFilter, ObligationStates, OutboxItem, Pipelined, ReportFilter, Store, StoreError,
    StoredAppeal, StoredReport,
};
use crate::decision::{self, AuditRow, BotnetRow, Context, Decision, Fulfils, Needs, OutboxKind, OutboxRow, ReportRef};
use crate::model::submission::dedupe_digest;
use crate::model::{
    Basis, Deadline, DeadlineRule, Duty, Grade, Obligation, ObligationId, ObligationStatus, OutboxId, Party, Province, Receipt, Region,
    ReportId, ReportKind, SubmissionId, Unit, UnitCode, WarningLevel,
};
use crate::rules::BotSet;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgRow};
use sqlx::types::{Json, Uuid};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The PostgreSQL migrations, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/postgres/0001_init.sql")),
    (2, "leases", include_str!("../../../migrations/postgres/0002_leases.sql")),
    (3, "users", include_str!("../../../migrations/postgres/0003_users.sql")),
    (4, "audit_subject", include_str!("../../../migrations/postgres/0004_audit_subject.sql")),
    (5, "upload_drafts", include_str!("../../../migrations/postgres/0005_upload_drafts.sql")),
    (6, "notice_reviews", include_str!("../../../migrations/postgres/0006_notice_reviews.sql")),
    (7, "unit_groups", include_str!("../../../migrations/postgres/0007_unit_groups.sql")),
    (8, "appeal_requests", include_str!("../../../migrations/postgres/0008_appeal_requests.sql")),
];

/// The advisory lock a batch holds from reading a period's botnets until it commits what it
/// graded by them (any 64-bit number no other lock of this database uses).
const BOTNET_PERIOD_LOCK: i64 = 0x7462_626f_746e_6574; // "tbbotnet"

/// How long a claimed outbox row is left to the instance that claimed it, unless configured:
/// far longer than a delivery takes, short enough that a dead instance's rows go out within
/// minutes.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(120);

/// Rows encoded and inserted by one `UNNEST` statement.
const ROWS_AT_ONCE: usize = 4096;

/// Where the database is and how many connections this instance may hold.
#[derive(Debug, Clone)]
pub struct PgLocation {
    pub url: String,
    pub pool: u32,
    /// How long an instance holds the outbox rows it claimed before another may send them.
    pub lease: std::time::Duration,
}

/// Every connection comes from one pool; PostgreSQL admits many writers, and what they could do
/// twice is kept apart by the locks and claims the module describes.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    lease: chrono::TimeDelta,
}

impl PgStore {
    /// Connects and brings the schema up to date (sqlx takes an advisory lock around the
    /// migrations, so instances starting together apply them once).
    pub async fn open(location: &PgLocation) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(&location.url)
            .map_err(StoreError::Database)?
            .application_name("tongbao")
            .statement_cache_capacity(256);
        let pool = PgPoolOptions::new()
            .max_connections(location.pool.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Migrator::new(super::Embedded(MIGRATIONS)).await?.run(&pool).await?;
        let lease = chrono::TimeDelta::from_std(location.lease).unwrap_or(chrono::TimeDelta::seconds(120));
        Ok(PgStore { pool, lease })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Connects to the database at `url` and brings its schema up to date; running it again
/// changes nothing.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    let store = PgStore::open(&PgLocation { url: url.to_string(), pool: 2, lease: DEFAULT_LEASE }).await?;
    store.pool.close().await;
    Ok(())
}

/// Creates an empty database on the server `server_url` names (through its database there) and
/// returns its URL: a fresh store for a benchmark run.
pub async fn create_database(server_url: &str) -> Result<String, StoreError> {
    use sqlx::Connection;
    let name = format!("tongbao_bench_{}", Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(server_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
    admin.close().await?;
    let (base, _) = server_url.rsplit_once('/').ok_or_else(|| corrupt("database URL", "no /database at its end"))?;
    Ok(format!("{base}/{name}"))
}

/// Drops a database `create_database` made.
pub async fn drop_database(server_url: &str, url: &str) -> Result<(), StoreError> {
    use sqlx::Connection;
    let name = url.rsplit('/').next().unwrap_or_default();
    let mut admin = PgConnection::connect(server_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
    admin.close().await?;
    Ok(())
}

impl PgStore {
    /// The floor `tongbao bench intake` compares intake with: the raw bytes of `bodies` inserted
    /// `per_transaction` rows a statement and a transaction into a bare table, nothing parsed
    /// or decided; the seconds it took.
    pub async fn bare_inserts(&self, bodies: &[Vec<u8>], per_transaction: usize) -> Result<f64, StoreError> {
        sqlx::query("CREATE TABLE bare (id uuid PRIMARY KEY, raw bytea NOT NULL)").execute(&self.pool).await?;
        let started = std::time::Instant::now();
        for chunk in bodies.chunks(per_transaction.max(1)) {
            let ids: Vec<Uuid> = chunk.iter().map(|_| Uuid::now_v7()).collect();
            let mut tx = self.pool.begin().await?;
            sqlx::query("INSERT INTO bare (id, raw) SELECT * FROM UNNEST($1::uuid[], $2::bytea[])")
                .bind(&ids)
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(started.elapsed().as_secs_f64())
    }
}

/// Text as PostgreSQL stores it: `text` cannot hold U+0000, which a hostile message id or
/// sender may carry; it becomes U+FFFD (SQLite keeps it as it came).
fn pg_text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

/// JSON text as `jsonb` takes it: `jsonb` refuses the escape `\u0000`, so such a character
/// inside a string becomes U+FFFD. An escaped backslash before `u0000` is left alone.
fn pg_json(text: String) -> String {
    if !text.contains("\\u0000") {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut backslashes = 0usize;
    let mut rest = text.as_str();
    while let Some(c) = rest.chars().next() {
        if c == '\\' && backslashes % 2 == 0 && rest.starts_with("\\u0000") {
            out.push_str("\\ufffd");
            rest = &rest[6..];
            backslashes = 0;
            continue;
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn uuid_col<T: From<Uuid>>(row: &PgRow, col: &str) -> Result<T, StoreError> {
    Ok(T::from(row.try_get::<Uuid, _>(col)?))
}

fn parse_col<T: FromStr>(row: &PgRow, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e| corrupt(col, e))
}

fn json_col<T: serde::de::DeserializeOwned>(row: &PgRow, col: &str) -> Result<T, StoreError> {
    let Json(v): Json<serde_json::Value> = row.try_get(col)?;
    serde_json::from_value(v).map_err(|e| corrupt(col, e))
}

macro_rules! id_from_uuid {
    ($($ty:ty),*) => {$(
        impl From<Uuid> for $ty {
            fn from(u: Uuid) -> Self {
                <$ty>::from_uuid(u)
            }
        }
    )*};
}
id_from_uuid!(ReportId, SubmissionId, ObligationId, OutboxId);

/// One table's rows as columns, inserted by `INSERT … SELECT … FROM UNNEST($1, $2, …)`: one
/// statement and one array a column however many rows, where a multi-row `VALUES` would bind
/// every cell and be prepared again for every row count.
macro_rules! unnest_table {
    ($name:ident, $sql:expr, { $($col:ident : $ty:ty),* $(,)? }) => {
        #[derive(Debug, Default)]
        struct $name { rows: usize, $($col: Vec<$ty>),* }

        impl $name {
            async fn insert(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
                if self.rows == 0 {
                    return Ok(());
                }
                self.rows = 0;
                sqlx::query($sql)$(.bind(std::mem::take(&mut self.$col)))*.execute(conn).await?;
                Ok(())
            }

            /// Inserts the rows held once there are `ROWS_AT_ONCE`.
            async fn insert_when_full(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
                if self.rows >= ROWS_AT_ONCE { self.insert(conn).await } else { Ok(()) }
            }
        }
    };
}

unnest_table!(SubmissionRows,
    "INSERT INTO submissions (id, dedupe_key, dedupe_hash, channel, sender, unit_code, external_id, received_at, outcome, raw, receipt) \
     SELECT id, dedupe_key, dedupe_hash, channel, sender, unit_code, external_id, received_at, outcome, raw, receipt::jsonb \
     FROM UNNEST($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::bytea[], $11::text[]) \
     AS t(id, dedupe_key, dedupe_hash, channel, sender, unit_code, external_id, received_at, outcome, raw, receipt)",
    { id: Uuid, dedupe_key: String, dedupe_hash: Vec<u8>, channel: String, sender: String, unit_code: Option<String>,
      external_id: Option<String>, received_at: DateTime<Utc>, outcome: String, raw: Vec<u8>, receipt: String });

unnest_table!(ReportRows,
    "INSERT INTO reports (id, submission_id, seq, unit_code, kind, grade, level, category, discovered_at, received_at, follows_up, body, provinces) \
     SELECT id, submission_id, seq, unit_code, kind, grade, level, category, discovered_at, received_at, follows_up, body::jsonb, provinces \
     FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::text[], $6::text[], $7::int2[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::uuid[], $12::text[], $13::text[]) \
     AS t(id, submission_id, seq, unit_code, kind, grade, level, category, discovered_at, received_at, follows_up, body, provinces)",
    { id: Uuid, submission_id: Uuid, seq: i32, unit_code: String, kind: String, grade: Option<String>, level: Option<i16>,
      category: Option<String>, discovered_at: DateTime<Utc>, received_at: DateTime<Utc>, follows_up: Option<Uuid>, body: String,
      provinces: String });

unnest_table!(BotnetRows,
    "INSERT INTO botnets (report_id, idx, discovered_at, declared_count, bots_v4, bots_v6, cc) \
     SELECT * FROM UNNEST($1::uuid[], $2::int4[], $3::timestamptz[], $4::int8[], $5::bytea[], $6::bytea[], $7::text[])",
    { report_id: Uuid, idx: i32, discovered_at: DateTime<Utc>, declared_count: i64, bots_v4: Vec<u8>, bots_v6: Vec<u8>, cc: Option<String> });

unnest_table!(ObligationRows,
    "INSERT INTO obligations (id, okey, report_id, duty, actor, recipients, copies, rule, trigger_at, due_at, provisional, basis_code, \
     basis_zh, binding, status, met_by, met_at, created_at, next_alert_at) \
     SELECT id, okey, report_id, duty, actor, recipients::jsonb, copies::jsonb, rule, trigger_at, due_at, provisional, basis_code, \
     basis_zh, binding, status, met_by, met_at, created_at, next_alert_at \
     FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], \
     $10::timestamptz[], $11::bool[], $12::text[], $13::text[], $14::bool[], $15::text[], $16::uuid[], $17::timestamptz[], \
     $18::timestamptz[], $19::timestamptz[]) \
     AS t(id, okey, report_id, duty, actor, recipients, copies, rule, trigger_at, due_at, provisional, basis_code, basis_zh, binding, \
     status, met_by, met_at, created_at, next_alert_at) \
     ON CONFLICT DO NOTHING",
    { id: Uuid, okey: Option<String>, report_id: Option<Uuid>, duty: String, actor: String, recipients: String, copies: String,
      rule: String, trigger_at: DateTime<Utc>, due_at: DateTime<Utc>, provisional: bool, basis_code: String, basis_zh: String,
      binding: bool, status: String, met_by: Option<Uuid>, met_at: Option<DateTime<Utc>>, created_at: DateTime<Utc>,
      next_alert_at: Option<DateTime<Utc>> });

unnest_table!(OutboxRows,
    "INSERT INTO outbox (id, created_at, kind, channel, recipient, subject_id, urgent, payload, next_attempt_at) \
     SELECT id, created_at, kind, channel, recipient, subject_id, urgent, payload::jsonb, created_at \
     FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[]) \
     AS t(id, created_at, kind, channel, recipient, subject_id, urgent, payload)",
    { id: Uuid, created_at: DateTime<Utc>, kind: String, channel: String, recipient: String, subject_id: String, urgent: bool,
      payload: String });

unnest_table!(AuditRows,
    "INSERT INTO audit (at, actor, action, subject, detail) \
     SELECT at, actor, action, subject, detail::jsonb FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[]) \
     AS t(at, actor, action, subject, detail)",
    { at: DateTime<Utc>, actor: String, action: String, subject: String, detail: String });

impl SubmissionRows {
    fn push(&mut self, d: &Decision) -> Result<(), StoreError> {
        let s = &d.submission;
        self.rows += 1;
        self.id.push(s.id.as_uuid());
        self.dedupe_key.push(pg_text(&s.dedupe_key));
        self.dedupe_hash.push(dedupe_digest(&s.dedupe_key).to_vec());
        self.channel.push(s.channel.code().to_string());
        self.sender.push(pg_text(&s.sender.to_string()));
        self.unit_code.push(d.unit.as_ref().map(|u| u.to_string()));
        self.external_id.push(s.external_id.as_deref().map(pg_text));
        self.received_at.push(s.received_at);
        self.outcome.push(d.receipt.outcome.code().to_string());
        self.raw.push(s.raw.to_vec());
        self.receipt.push(pg_json(serde_json::to_string(&d.receipt).map_err(|e| corrupt("receipt", e))?));
        Ok(())
    }
}

impl ReportRows {
    fn push(&mut self, s: &crate::model::Submission, seq: usize, r: &crate::model::Report) -> Result<(), StoreError> {
        let c = &r.content;
        self.rows += 1;
        self.id.push(r.id.as_uuid());
        self.submission_id.push(s.id.as_uuid());
        self.seq.push(seq as i32);
        self.unit_code.push(r.unit.to_string());
        self.kind.push(c.kind().code().to_string());
        self.grade.push(c.grade.map(|g| g.code().to_string()));
        self.level.push(c.level.map(|l| i16::from(l.number())));
        self.category.push(c.category.map(|x| x.code().to_string()));
        self.discovered_at.push(c.discovered_at);
        self.received_at.push(s.received_at);
        self.follows_up.push(c.follows_up.map(|f| f.as_uuid()));
        self.body.push(pg_json(serde_json::to_string(r).map_err(|e| corrupt("report", e))?));
        self.provinces.push(c.provinces.iter().map(|p| p.code()).collect::<Vec<_>>().join(" "));
        Ok(())
    }
}

impl BotnetRows {
    fn push(&mut self, b: &BotnetRow) {
        self.rows += 1;
        self.report_id.push(b.report_id.as_uuid());
        self.idx.push(b.idx as i32);
        self.discovered_at.push(b.discovered_at);
        self.declared_count.push(b.declared_count as i64);
        self.bots_v4.push(pack_v4(&b.bots.v4));
        self.bots_v6.push(pack_v6(&b.bots.v6));
        self.cc.push(b.cc.map(|(ip, port)| std::net::SocketAddr::new(ip, port).to_string()));
    }
}

impl ObligationRows {
    fn push(&mut self, o: &Obligation, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.rows += 1;
        self.id.push(o.id.as_uuid());
        self.okey.push(o.key.clone());
        self.report_id.push(o.report_id.map(|r| r.as_uuid()));
        self.duty.push(o.duty.code().to_string());
        self.actor.push(o.actor.to_string());
        self.recipients.push(serde_json::to_string(&o.to).map_err(|e| corrupt("obligation", e))?);
        self.copies.push(serde_json::to_string(&o.copy).map_err(|e| corrupt("obligation", e))?);
        self.rule.push(o.deadline.rule.code().to_string());
        self.trigger_at.push(o.deadline.trigger_at);
        self.due_at.push(o.deadline.due_at);
        self.provisional.push(o.deadline.provisional);
        self.basis_code.push(o.basis.code.clone());
        self.basis_zh.push(o.basis.citation_zh.clone());
        self.binding.push(o.binding);
        self.status.push(o.status.code().to_string());
        self.met_by.push(o.met_by.map(|r| r.as_uuid()));
        self.met_at.push(o.met_at);
        self.created_at.push(now);
        self.next_alert_at.push(o.next_alert_at);
        Ok(())
    }
}

impl OutboxRows {
    fn push(&mut self, o: &OutboxRow, payload: &str, at: DateTime<Utc>) {
        self.rows += 1;
        self.id.push(o.id.as_uuid());
        self.created_at.push(at);
        self.kind.push(o.kind.code().to_string());
        self.channel.push(o.channel.code().to_string());
        self.recipient.push(pg_text(&o.recipient));
        self.subject_id.push(pg_text(&o.subject_id));
        self.urgent.push(o.urgent);
        self.payload.push(pg_json(payload.to_string()));
    }
}

impl AuditRows {
    fn push(&mut self, a: AuditRow, at: DateTime<Utc>) {
        self.rows += 1;
        self.at.push(at);
        self.actor.push(pg_text(&a.actor));
        self.action.push(a.action.to_string());
        self.subject.push(pg_text(&a.subject));
        self.detail.push(pg_json(serde_json::to_string(&a.detail).expect("a serde_json::Value always serialises")));
    }
}

pub(super) async fn insert_obligations(conn: &mut PgConnection, obligations: &[Obligation], now: DateTime<Utc>) -> Result<(), StoreError> {
    let mut rows = ObligationRows::default();
    for o in obligations {
        rows.push(o, now)?;
        rows.insert_when_full(conn).await?;
    }
    rows.insert(conn).await
}

pub(super) async fn insert_outbox(conn: &mut PgConnection, outbox: Vec<OutboxRow>, at: DateTime<Utc>) -> Result<(), StoreError> {
    let mut rows = OutboxRows::default();
    let mut texts = PayloadTexts::default();
    for o in &outbox {
        rows.push(o, &texts.of(o), at);
        rows.insert_when_full(conn).await?;
    }
    rows.insert(conn).await
}

pub(super) async fn insert_audit(conn: &mut PgConnection, audit: Vec<AuditRow>, at: DateTime<Utc>) -> Result<(), StoreError> {
    let mut rows = AuditRows::default();
    for a in audit {
        rows.push(a, at);
        rows.insert_when_full(conn).await?;
    }
    rows.insert(conn).await
}

/// The columns `row_to_report_ref` reads, from `reports r` joined with its unit as `units ru`.
pub(super) const REPORT_REF_COLUMNS: &str = "r.id AS r_id, r.unit_code AS r_unit, r.kind AS r_kind, r.grade AS r_grade, \
     r.level AS r_level, r.provinces AS r_provinces, ru.unit_type AS r_unit_type, ru.region AS r_region";

pub(super) fn row_to_report_ref(row: &PgRow) -> Result<ReportRef, StoreError> {
    let kind: String = row.try_get("r_kind")?;
    let grade: Option<String> = row.try_get("r_grade")?;
    let level: Option<i16> = row.try_get("r_level")?;
    let unit_type: String = row.try_get("r_unit_type")?;
    let provinces: String = row.try_get("r_provinces")?;
    Ok(ReportRef {
        id: uuid_col(row, "r_id")?,
        unit: parse_col(row, "r_unit")?,
        reporter_type: serde_json::from_value(serde_json::Value::String(unit_type)).map_err(|e| corrupt("units.unit_type", e))?,
        reporter_region: parse_col::<Region>(row, "r_region")?,
        kind: ReportKind::parse(&kind).ok_or_else(|| corrupt("reports.kind", &kind))?,
        grade: grade.map(|g| Grade::parse(&g)).transpose().map_err(|e| corrupt("reports.grade", e))?,
        level: level.and_then(|l| WarningLevel::from_number(i64::from(l))),
        provinces: provinces
            .split_whitespace()
            .map(Province::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt("reports.provinces", e))?,
    })
}

pub(super) fn row_to_report(row: &PgRow) -> Result<StoredReport, StoreError> {
    Ok(StoredReport {
        submission_id: uuid_col(row, "submission_id")?,
        received_at: row.try_get("received_at")?,
        report: json_col(row, "body")?,
    })
}

pub(super) fn row_to_obligation(row: &PgRow) -> Result<Obligation, StoreError> {
    let duty: String = row.try_get("duty")?;
    let rule: String = row.try_get("rule")?;
    let status: String = row.try_get("status")?;
    Ok(Obligation {
        id: uuid_col(row, "id")?,
        key: row.try_get("okey")?,
        report_id: row.try_get::<Option<Uuid>, _>("report_id")?.map(ReportId::from_uuid),
        duty: Duty::parse(&duty).ok_or_else(|| corrupt("obligations.duty", &duty))?,
        actor: parse_col::<Party>(row, "actor")?,
        to: json_col(row, "recipients")?,
        copy: json_col(row, "copies")?,
        deadline: Deadline {
            rule: DeadlineRule::parse(&rule).ok_or_else(|| corrupt("obligations.rule", &rule))?,
            trigger_at: row.try_get("trigger_at")?,
            due_at: row.try_get("due_at")?,
            provisional: row.try_get("provisional")?,
        },
        basis: Basis { code: row.try_get("basis_code")?, citation_zh: row.try_get("basis_zh")? },
        binding: row.try_get("binding")?,
        status: ObligationStatus::parse(&status).ok_or_else(|| corrupt("obligations.status", &status))?,
        met_by: row.try_get::<Option<Uuid>, _>("met_by")?.map(ReportId::from_uuid),
        met_at: row.try_get("met_at")?,
        next_alert_at: row.try_get("next_alert_at")?,
    })
}

pub(super) fn row_to_outbox_item(r: &PgRow) -> Result<OutboxItem, StoreError> {
    Ok(OutboxItem {
        id: uuid_col(r, "id")?,
        kind: {
            let code: String = r.try_get("kind")?;
            OutboxKind::parse(&code).ok_or_else(|| corrupt("outbox.kind", code))?
        },
        recipient: r.try_get("recipient")?,
        subject_id: r.try_get("subject_id")?,
        urgent: r.try_get("urgent")?,
        payload: r.try_get::<Json<serde_json::Value>, _>("payload")?.0,
        attempts: r.try_get::<i32, _>("attempts")? as u32,
    })
}

fn row_to_appeal(r: &PgRow) -> Result<StoredAppeal, StoreError> {
    let answer: Option<Json<serde_json::Value>> = r.try_get("answer")?;
    Ok(StoredAppeal {
        appeal: json_col(r, "body")?,
        answer: answer.map(|Json(a)| serde_json::from_value(a)).transpose().map_err(|e| corrupt("user_appeals.answer", e))?,
    })
}

async fn load_context(conn: &mut PgConnection, needs: &Needs) -> Result<Context, StoreError> {
    let mut ctx = Context::default();
    if needs.botnet_span.is_some() {
        // Held until this transaction ends: no other instance grades this period meanwhile.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(BOTNET_PERIOD_LOCK).execute(&mut *conn).await?;
    }
    let digests: Vec<Vec<u8>> = needs.dedupe_keys.iter().map(|k| dedupe_digest(k).to_vec()).collect();
    if !digests.is_empty() {
        let rows = sqlx::query("SELECT dedupe_key, external_id, receipt FROM submissions WHERE dedupe_hash = ANY($1)")
            .bind(&digests)
            .fetch_all(&mut *conn)
            .await?;
        // Keys are stored as `pg_text` makes them: each found row answers the keys asked for
        // that it stands for, under the key as asked.
        for row in rows {
            let stored: String = row.try_get("dedupe_key")?;
            for key in needs.dedupe_keys.iter().filter(|k| pg_text(k) == stored) {
                ctx.external_ids.insert(key.clone(), row.try_get("external_id")?);
                ctx.receipts.insert(key.clone(), json_col(&row, "receipt")?);
            }
        }
    }
    let mut by_code: Vec<String> = needs
        .senders
        .iter()
        .filter_map(|s| if let crate::model::submission::Sender::Unit(c) = s { Some(c.to_string()) } else { None })
        .collect();
    by_code.sort();
    by_code.dedup();
    if !by_code.is_empty() {
        for row in sqlx::query("SELECT body FROM units WHERE code = ANY($1)").bind(&by_code).fetch_all(&mut *conn).await? {
            let unit: Unit = json_col(&row, "body")?;
            ctx.units.insert(crate::model::submission::Sender::Unit(unit.code.clone()), Arc::new(unit));
        }
    }
    for row in sqlx::query("SELECT code, group_code FROM units WHERE group_code IS NOT NULL").fetch_all(&mut *conn).await? {
        let (code, group): (String, String) = (row.try_get("code")?, row.try_get("group_code")?);
        if let (Ok(code), Ok(group)) = (code.parse(), group.parse()) {
            ctx.groups.insert(code, group);
        }
    }
    // A parameter cannot carry U+0000 either: such an ident is looked up as `pg_text` makes it,
    // and, as no stored ident holds U+FFFD, it is an unknown sender.
    let mut idents: HashMap<String, crate::model::submission::Sender> =
        needs.senders.iter().filter_map(|s| sender_ident(s).map(|i| (pg_text(&i), s.clone()))).collect();
    if !idents.is_empty() {
        let keys: Vec<String> = idents.keys().cloned().collect();
        let rows = sqlx::query("SELECT s.ident, u.body FROM unit_senders s JOIN units u ON u.code = s.unit_code WHERE s.ident = ANY($1)")
            .bind(&keys)
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            let ident: String = row.try_get("ident")?;
            if let Some(sender) = idents.remove(&ident) {
                ctx.units.insert(sender, Arc::new(json_col(&row, "body")?));
            }
        }
    }

    let mut ref_ids: Vec<Uuid> = needs.refs.iter().map(|r| r.as_uuid()).collect();
    if !needs.obligations.is_empty() {
        let ids: Vec<Uuid> = needs.obligations.iter().map(|o| o.as_uuid()).collect();
        for row in sqlx::query("SELECT * FROM obligations WHERE id = ANY($1)").bind(&ids).fetch_all(&mut *conn).await? {
            let o = row_to_obligation(&row)?;
            ref_ids.extend(o.report_id.map(|r| r.as_uuid()));
            ctx.obligations.insert(o.id, o);
        }
    }
    if !needs.owed_about.is_empty() {
        let about: Vec<Uuid> = needs.owed_about.iter().map(|r| r.as_uuid()).collect();
        let rows = sqlx::query(
            "SELECT report_id, duty, actor FROM obligations WHERE duty IN ('disposal_feedback', 'verification') AND report_id = ANY($1)",
        )
        .bind(&about)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            let about: ReportId = uuid_col(&row, "report_id")?;
            let duty: String = row.try_get("duty")?;
            let duty = Duty::parse(&duty).ok_or_else(|| corrupt("obligations.duty", duty))?;
            let actor: Party = parse_col(&row, "actor")?;
            ctx.owed.entry(about).or_default().push((duty, actor));
        }
    }
    if let Some((from, to)) = needs.botnet_span {
        let rows = sqlx::query(
            "SELECT report_id, idx, cc, discovered_at, declared_count, bots_v4, bots_v6 FROM botnets \
             WHERE discovered_at > $1 AND discovered_at <= $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            let report_id: ReportId = uuid_col(&row, "report_id")?;
            ref_ids.push(report_id.as_uuid());
            let v4: Vec<u8> = row.try_get("bots_v4")?;
            let v6: Vec<u8> = row.try_get("bots_v6")?;
            ctx.botnets.push(BotnetRow {
                report_id,
                idx: row.try_get::<i32, _>("idx")? as usize,
                cc: row
                    .try_get::<Option<String>, _>("cc")?
                    .and_then(|cc| cc.parse::<std::net::SocketAddr>().ok())
                    .map(|a| (a.ip(), a.port())),
                discovered_at: row.try_get("discovered_at")?,
                declared_count: row.try_get::<i64, _>("declared_count")? as u64,
                bots: BotSet { v4: unpack_v4(&v4), v6: unpack_v6(&v6) },
            });
        }
    }
    ref_ids.sort();
    ref_ids.dedup();
    if !ref_ids.is_empty() {
        let rows =
            sqlx::query(&format!("SELECT {REPORT_REF_COLUMNS} FROM reports r JOIN units ru ON ru.code = r.unit_code WHERE r.id = ANY($1)"))
                .bind(&ref_ids)
                .fetch_all(&mut *conn)
                .await?;
        for row in rows {
            let r = row_to_report_ref(&row)?;
            ctx.refs.insert(r.id, r);
        }
    }
    Ok(ctx)
}

/// How intake's decision of a batch reaches the transaction that writes it.
type Decide = Box<dyn FnOnce(&mut Context) -> Vec<Decision> + Send>;

/// A batch for the next step of the pipelined writer.
pub enum Staged {
    /// Decided on a context read in the step before.
    Decided(Vec<Decision>),
    /// To be read and decided in the transaction that writes it: a batch that grades botnets by
    /// their period must hold the period's lock from its read to its commit.
    Deferred(Needs, Decide),
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Staged::Decided(d) => write!(f, "Decided({} decisions)", d.len()),
            Staged::Deferred(needs, _) => write!(f, "Deferred({} submissions)", needs.dedupe_keys.len()),
        }
    }
}

/// Writes what a batch decided: its rows, then the updates it makes to rows stored earlier.
async fn write_decisions(conn: &mut PgConnection, decisions: &[Decision], now: DateTime<Utc>) -> Result<(), StoreError> {
    let stored = || decisions.iter().filter(|d| !d.duplicate);
    for d in stored() {
        if let Some(old) = d.supersedes {
            let key = format!("{}#superseded-by-{}", d.submission.dedupe_key, d.submission.id);
            sqlx::query("UPDATE submissions SET dedupe_key = $1, dedupe_hash = $2 WHERE id = $3")
                .bind(pg_text(&key))
                .bind(dedupe_digest(&key).to_vec())
                .bind(old.as_uuid())
                .execute(&mut *conn)
                .await?;
        }
    }
    let mut submissions = SubmissionRows::default();
    for d in stored() {
        submissions.push(d)?;
        submissions.insert_when_full(conn).await?;
    }
    submissions.insert(conn).await?;
    let mut reports = ReportRows::default();
    for (seq, r, s) in stored().flat_map(reports_of) {
        reports.push(s, seq, r)?;
        reports.insert_when_full(conn).await?;
    }
    reports.insert(conn).await?;
    let mut botnets = BotnetRows::default();
    for b in stored().flat_map(|d| &d.botnets) {
        botnets.push(b);
        botnets.insert_when_full(conn).await?;
    }
    botnets.insert(conn).await?;
    let mut obligations = ObligationRows::default();
    let mut once = OncePerKey::default();
    for o in stored().flat_map(|d| &d.obligations).filter(|o| once.first(o)) {
        obligations.push(o, now)?;
        obligations.insert_when_full(conn).await?;
    }
    obligations.insert(conn).await?;

    for d in stored() {
        for f in &d.fulfilments {
            mark_fulfilled(conn, &f.target, Some(f.by), f.at).await?;
        }
        for r in &d.reopens {
            sqlx::query(
                "UPDATE obligations SET status = 'open', met_by = NULL, met_at = NULL, trigger_at = $1, due_at = $2, provisional = $3, \
                 alert_stage = 0, next_alert_at = $4 WHERE id = $5 AND status IN ('met', 'late', 'missed')",
            )
            .bind(r.deadline.trigger_at)
            .bind(r.deadline.due_at)
            .bind(r.deadline.provisional)
            .bind(r.next_alert_at)
            .bind(r.obligation.as_uuid())
            .execute(&mut *conn)
            .await?;
        }
        for r in &d.reschedules {
            // Only brought forward: a deadline already sooner stays.
            sqlx::query(
                "UPDATE obligations SET rule = $1, trigger_at = $2, due_at = $3, provisional = $4, alert_stage = 0, next_alert_at = $5 \
                 WHERE report_id = $6 AND duty = $7 AND status = 'open' AND due_at > $3 AND ($8::text IS NULL OR actor = $8)",
            )
            .bind(r.deadline.rule.code())
            .bind(r.deadline.trigger_at)
            .bind(r.deadline.due_at)
            .bind(r.deadline.provisional)
            .bind(r.next_alert_at)
            .bind(r.report.as_uuid())
            .bind(r.duty.code())
            .bind(r.actor.as_ref().map(|a| a.to_string()))
            .execute(&mut *conn)
            .await?;
        }
        for r in &d.regrades {
            // The grade the unit declared (declared_grade, if it declared one) is left as it was.
            sqlx::query("UPDATE reports SET grade = $1, body = jsonb_set(body, '{grade}', to_jsonb($1::text)) WHERE id = $2")
                .bind(r.to.code())
                .bind(r.report_id.as_uuid())
                .execute(&mut *conn)
                .await?;
        }
        if let Some((unit, contacts)) = &d.contacts {
            let json = pg_json(serde_json::to_string(contacts).map_err(|e| corrupt("contacts", e))?);
            sqlx::query("UPDATE units SET body = jsonb_set(body, '{contacts}', $1::jsonb), updated_at = $2 WHERE code = $3")
                .bind(json)
                .bind(d.submission.received_at)
                .bind(unit.to_string())
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM unit_senders WHERE unit_code = $1 AND ident LIKE 'email:%'")
                .bind(unit.to_string())
                .execute(&mut *conn)
                .await?;
            for ident in contacts.iter().filter_map(|c| c.email.as_ref()).flat_map(super::shared::mail_idents) {
                sqlx::query(
                    "INSERT INTO unit_senders (ident, unit_code) VALUES ($1, $2) ON CONFLICT (ident) DO UPDATE SET unit_code = excluded.unit_code",
                )
                .bind(ident)
                .bind(unit.to_string())
                .execute(&mut *conn)
                .await?;
            }
        }
    }

    // Outbox rows of every decision (a duplicate's too: the answer sent again), then the audit.
    let mut outbox = OutboxRows::default();
    let mut texts = PayloadTexts::default();
    for d in decisions {
        for o in &d.outbox {
            outbox.push(o, &texts.of(o), d.submission.received_at);
            outbox.insert_when_full(conn).await?;
        }
    }
    outbox.insert(conn).await?;
    let mut audit = AuditRows::default();
    for d in stored() {
        for a in &d.audit {
            audit.push(a.clone(), d.submission.received_at);
            audit.insert_when_full(conn).await?;
        }
    }
    audit.insert(conn).await
}

/// Closes the open (or missed) obligation that `target` names: met when done by its due time,
/// late after it (even once marked missed).
pub(super) async fn mark_fulfilled(
    conn: &mut PgConnection,
    target: &Fulfils,
    by: Option<ReportId>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let set = "UPDATE obligations SET status = CASE WHEN due_at >= $1 OR (provisional AND status = 'open') THEN 'met' ELSE 'late' END, next_alert_at = NULL, met_by = $2, met_at = $1";
    let by = by.map(|r| r.as_uuid());
    match target {
        Fulfils::About { report, duty, actor } => {
            sqlx::query(&format!("{set} WHERE report_id = $3 AND duty = $4 AND actor = $5 AND status IN ('open', 'missed')"))
                .bind(at)
                .bind(by)
                .bind(report.as_uuid())
                .bind(duty.code())
                .bind(actor.to_string())
                .execute(&mut *conn)
                .await?;
        }
        Fulfils::Key(k) => {
            sqlx::query(&format!("{set} WHERE okey = $3 AND status IN ('open', 'missed')"))
                .bind(at)
                .bind(by)
                .bind(k)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// What delivered rows perform (see the SQLite backend's `perform_duties`): CNCERT's duties met
/// by a notice reaching its recipient.
async fn perform_duties(conn: &mut PgConnection, ids: &[Uuid], at: DateTime<Utc>) -> Result<(), StoreError> {
    let rows = sqlx::query("SELECT payload FROM outbox WHERE id = ANY($1) AND strpos(payload::text, '\"performs\"') > 0")
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
    let mut performs: Vec<serde_json::Value> = Vec::new();
    for row in rows {
        let Json(payload): Json<serde_json::Value> = row.try_get("payload")?;
        performs.extend(super::shared::performed(&payload));
    }
    let set = "UPDATE obligations SET status = CASE WHEN due_at >= $1 OR (provisional AND status = 'open') THEN 'met' ELSE 'late' END, next_alert_at = NULL, met_at = $1 \
               WHERE actor = 'cncert' AND status IN ('open', 'missed') AND duty = $2";
    for p in performs {
        if let Some(month) = p.get("digest_month").and_then(|m| m.as_str()) {
            let subject = format!("digest:{month}");
            // Two hubs sending the last two copies at once: the second waits for the first to
            // commit, then sees both sent.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))").bind(&subject).execute(&mut *conn).await?;
            let sql = super::shared::DIGEST_MET.replace("PERFORMS_DIGEST", "strpos(payload::text, '\"digest_month\":') > 0");
            sqlx::query(&sql).bind(at).bind(format!("monthly_digest:{month}")).bind(subject).execute(&mut *conn).await?;
            continue;
        }
        let Some(duty) = p.get("duty").and_then(|d| d.as_str()) else { continue };
        if let Some(report) = p.get("report").and_then(|r| r.as_str()).and_then(|r| Uuid::parse_str(r).ok()) {
            sqlx::query(&format!("{set} AND report_id = $3")).bind(at).bind(duty).bind(report).execute(&mut *conn).await?;
        } else if let (Some(from), Some(to), Some(rule)) = (
            p.get("trigger_from").and_then(|v| v.as_i64()).and_then(DateTime::from_timestamp_millis),
            p.get("trigger_to").and_then(|v| v.as_i64()).and_then(DateTime::from_timestamp_millis),
            p.get("rule").and_then(|v| v.as_str()),
        ) {
            sqlx::query(&format!("{set} AND trigger_at >= $3 AND trigger_at < $4 AND rule = $5"))
                .bind(at)
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

/// Decides a batch on a blocking-pool thread, in parallel with the SQL of the batch before.
fn decide_aside(ctx: Result<Context, StoreError>, decide: Decide) -> tokio::task::JoinHandle<Result<Staged, StoreError>> {
    tokio::task::spawn_blocking(move || ctx.map(|mut ctx| Staged::Decided(decide(&mut ctx))))
}

impl Store for PgStore {
    type Staged = Staged;

    async fn commit_batch<F>(&self, needs: Needs, decide: F) -> Result<Vec<Decision>, StoreError>
    where
        F: FnOnce(&mut Context) -> Vec<Decision> + Send,
    {
        let mut tx = self.pool.begin().await?;
        let mut ctx = load_context(&mut tx, &needs).await?;
        let decisions = decide(&mut ctx);
        write_decisions(&mut tx, &decisions, crate::clock::now()).await?;
        tx.commit().await?;
        Ok(decisions)
    }

    async fn commit_staged<F>(&self, staged: Option<Staged>, next: Option<(Needs, F)>) -> Pipelined<Staged>
    where
        F: FnOnce(&mut Context) -> Vec<Decision> + Send + 'static,
    {
        let mut tx = match self.pool.begin().await {
            Ok(tx) => tx,
            Err(e) => return Pipelined { committed: Err(e.into()), next: None },
        };
        let decisions = match staged {
            None => Vec::new(),
            Some(Staged::Decided(d)) => d,
            Some(Staged::Deferred(needs, decide)) => match load_context(&mut tx, &needs).await {
                Ok(mut ctx) => decide(&mut ctx),
                Err(e) => return Pipelined { committed: Err(e), next: None },
            },
        };
        let mut deciding = None;
        let mut next = next.map(|(needs, decide)| (needs, Box::new(decide) as Decide));
        // A batch that grades botnets is read and decided in the transaction that writes it.
        let mut deferred = None;
        if let Some((needs, decide)) = next.take_if(|(needs, _)| needs.botnet_span.is_some()) {
            deferred = Some(Staged::Deferred(needs, decide));
        }
        // Read ahead of the writes when they touch nothing the read looks at (as on SQLite).
        if let Some((needs, decide)) = next.take_if(|(needs, _)| decision::reads_untouched_by(needs, &decisions)) {
            deciding = Some(decide_aside(load_context(&mut tx, &needs).await, decide));
        }
        if let Err(e) = write_decisions(&mut tx, &decisions, crate::clock::now()).await {
            return Pipelined { committed: Err(e), next: None };
        }
        if let Some((needs, decide)) = next.take() {
            deciding = Some(decide_aside(load_context(&mut tx, &needs).await, decide));
        }
        let committed = tx.commit().await;
        let next = match (deciding, deferred) {
            (Some(task), _) => Some(task.await.unwrap_or_else(|e| Err(corrupt("decision", e)))),
            (None, Some(deferred)) => Some(Ok(deferred)),
            (None, None) => None,
        };
        match committed {
            Ok(()) => Pipelined { committed: Ok(decisions), next },
            Err(e) => Pipelined { committed: Err(e.into()), next: None },
        }
    }

    async fn import_units(&self, units: &[Unit], at: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        for u in units {
            let body = pg_json(serde_json::to_string(u).map_err(|e| corrupt("unit", e))?);
            sqlx::query(
                "INSERT INTO units (code, name, unit_type, region, important, body, updated_at, group_code) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) \
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, unit_type = excluded.unit_type, region = excluded.region, \
                 important = excluded.important, body = excluded.body, updated_at = excluded.updated_at, group_code = excluded.group_code",
            )
            .bind(u.code.to_string())
            .bind(&u.name)
            .bind(u.unit_type.code())
            .bind(u.province.to_string())
            .bind(u.important)
            .bind(body)
            .bind(at)
            .bind(u.group.as_ref().map(|g| g.to_string()))
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM unit_senders WHERE unit_code = $1").bind(u.code.to_string()).execute(&mut *tx).await?;
            let idents = u.amqp_user.iter().map(|a| format!("amqp:{a}")).chain(u.emails().flat_map(super::shared::mail_idents));
            for ident in idents {
                sqlx::query(
                    "INSERT INTO unit_senders (ident, unit_code) VALUES ($1, $2) ON CONFLICT (ident) DO UPDATE SET unit_code = excluded.unit_code",
                )
                .bind(ident)
                .bind(u.code.to_string())
                .execute(&mut *tx)
                .await?;
            }
            let audit = AuditRow {
                actor: "operator".into(),
                action: "unit.imported",
                subject: u.code.to_string(),
                detail: serde_json::json!({ "type": u.unit_type, "province": u.province }),
            };
            insert_audit(&mut tx, vec![audit], at).await?;
        }
        tx.commit().await?;
        Ok(units.len())
    }

    async fn units(&self) -> Result<Vec<Unit>, StoreError> {
        let rows = sqlx::query("SELECT body FROM units ORDER BY code").fetch_all(&self.pool).await?;
        rows.iter().map(|r| json_col(r, "body")).collect()
    }

    async fn reports(&self, filter: &ReportFilter) -> Result<Vec<StoredReport>, StoreError> {
        let rows = sqlx::query(
            "SELECT submission_id, received_at, body FROM reports WHERE ($1::text IS NULL OR unit_code = $1) \
             AND ($2::text IS NULL OR kind = $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(filter.unit.as_ref().map(|u| u.to_string()))
        .bind(filter.kind.map(|k| k.code()))
        .bind(i64::from(filter.limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_report).collect()
    }

    async fn report(&self, id: ReportId, unit: Option<&UnitCode>) -> Result<Option<StoredReport>, StoreError> {
        let row =
            sqlx::query("SELECT submission_id, received_at, body FROM reports WHERE id = $1 AND ($2::text IS NULL OR unit_code = $2)")
                .bind(id.as_uuid())
                .bind(unit.map(|u| u.to_string()))
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(row_to_report).transpose()
    }

    async fn obligations(&self, filter: &ObligationFilter) -> Result<Vec<Obligation>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM obligations WHERE ($1::text IS NULL OR status = $1) \
             AND ($2::timestamptz IS NULL OR (status = 'open' AND due_at < $2)) AND ($3::uuid IS NULL OR report_id = $3) \
             ORDER BY due_at, id LIMIT $4",
        )
        .bind(filter.status.map(|s| s.code()))
        .bind(filter.overdue_at)
        .bind(filter.report.map(|r| r.as_uuid()))
        .bind(i64::from(filter.limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_obligation).collect()
    }

    async fn receipt(&self, id: SubmissionId, unit: Option<&UnitCode>) -> Result<Option<Receipt>, StoreError> {
        let row =
            sqlx::query("SELECT receipt, unit_code FROM submissions WHERE id = $1").bind(id.as_uuid()).fetch_optional(&self.pool).await?;
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
        let row = sqlx::query("SELECT raw FROM submissions WHERE id = $1").bind(id.as_uuid()).fetch_optional(&self.pool).await?;
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

    async fn issue_token(&self, unit: &UnitCode, token_hash: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO tokens (hash, unit_code, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(unit.to_string())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        let audit = AuditRow {
            actor: "operator".into(),
            action: "token.issued",
            subject: unit.to_string(),
            detail: serde_json::json!({ "hash_prefix": &token_hash[..12.min(token_hash.len())] }),
        };
        insert_audit(&mut tx, vec![audit], at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_tokens(&self, unit: &UnitCode, token_hash: Option<&str>, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE unit_code = $2 AND revoked_at IS NULL AND ($3::text IS NULL OR hash = $3)",
        )
        .bind(at)
        .bind(unit.as_str())
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
            sqlx::query("SELECT t.unit_code FROM tokens t JOIN units u ON u.code = t.unit_code WHERE t.hash = $1 AND t.revoked_at IS NULL")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| parse_col(&r, "unit_code")).transpose()
    }

    async fn due_outbox(&self, channel: &str, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Rows that waited longer than `OUTBOX_STALE_AFTER` are expired, not sent late (their
        // ids, UUIDv7, tell when they were queued).
        let stale_before = now - super::OUTBOX_STALE_AFTER;
        // Claimed: locked past other instances' claims, and their next attempt pushed a lease
        // ahead, so nobody else takes them until this instance reports on them or dies.
        let rows = sqlx::query(
            "WITH due AS (SELECT id FROM outbox WHERE channel = $1 AND status = 'pending' AND next_attempt_at <= $2 \
             ORDER BY urgent DESC, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE outbox o SET next_attempt_at = $4 FROM due WHERE o.id = due.id \
             RETURNING o.id, o.kind, o.recipient, o.subject_id, o.urgent, o.payload, o.attempts, o.created_at",
        )
        .bind(channel)
        .bind(now)
        .bind(i64::from(limit.max(1)))
        .bind(now + self.lease)
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        let mut stale = Vec::new();
        for r in &rows {
            let item = row_to_outbox_item(r)?;
            let queued = match queued_ms(item.id).and_then(DateTime::from_timestamp_millis) {
                Some(t) => t,
                None => r.try_get("created_at")?,
            };
            if queued < stale_before { stale.push(item.id.as_uuid()) } else { due.push(item) }
        }
        if !stale.is_empty() {
            sqlx::query("UPDATE outbox SET status = 'expired', last_error = $1 WHERE id = ANY($2) AND status = 'pending'")
                .bind(format!("not delivered within {} days; expired unsent", super::OUTBOX_STALE_AFTER.num_days()))
                .bind(&stale)
                .execute(&mut *tx)
                .await?;
            tracing::warn!(channel, expired = stale.len(), "outbox rows too old to send; expired unsent");
        }
        tx.commit().await?;
        due.sort_by(|a, b| b.urgent.cmp(&a.urgent).then(a.id.cmp(&b.id)));
        Ok(due)
    }

    async fn outbox(&self, filter: &super::OutboxFilter) -> Result<Vec<super::OutboxRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM outbox WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR channel = $2) \
             AND ($3::text IS NULL OR subject_id = $3) AND ($4::text IS NULL OR recipient = $4) AND ($5::text IS NULL OR status = $5) \
             ORDER BY id LIMIT $6",
        )
        .bind(filter.kind.map(|k| k.code()))
        .bind(filter.channel.map(|c| c.code()))
        .bind(filter.subject_id.as_deref())
        .bind(filter.recipient.as_deref())
        .bind(filter.status.as_deref())
        .bind(i64::from(filter.limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(super::OutboxRecord {
                    id: uuid_col(r, "id")?,
                    created_at: r.try_get("created_at")?,
                    kind: r.try_get("kind")?,
                    channel: r.try_get("channel")?,
                    recipient: r.try_get("recipient")?,
                    subject_id: r.try_get("subject_id")?,
                    urgent: r.try_get("urgent")?,
                    payload: r.try_get::<Json<serde_json::Value>, _>("payload")?.0,
                    status: r.try_get("status")?,
                    attempts: r.try_get::<i32, _>("attempts")? as u32,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    async fn outbox_backlog(&self, now: DateTime<Utc>) -> Result<Vec<Backlog>, StoreError> {
        let rows = sqlx::query(
            "SELECT channel, status, count(*) AS n, min(id::text) AS oldest FROM outbox \
             WHERE status IN ('pending', 'failed', 'expired') GROUP BY channel, status ORDER BY channel, status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                // PostgreSQL has no min(uuid); a uuid's text sorts as its bytes do.
                let oldest: OutboxId = parse_col(r, "oldest")?;
                let oldest = queued_ms(oldest).and_then(DateTime::from_timestamp_millis).unwrap_or_default();
                Ok(Backlog {
                    channel: r.try_get("channel")?,
                    status: r.try_get("status")?,
                    count: r.try_get("n")?,
                    oldest_age_s: (now - oldest).num_seconds().max(0),
                })
            })
            .collect()
    }

    async fn outbox_sent(&self, ids: &[OutboxId], at: DateTime<Utc>) -> Result<(), StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(|i| i.as_uuid()).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, last_error = NULL, next_attempt_at = $1 WHERE id = ANY($2)",
        )
        .bind(at)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        perform_duties(&mut tx, &ids, at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn obligation_states(&self, now: DateTime<Utc>) -> Result<ObligationStates, StoreError> {
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE status = 'open') AS open, count(*) FILTER (WHERE status = 'open' AND due_at < $1) AS overdue, \
             count(*) FILTER (WHERE status = 'missed') AS missed FROM obligations WHERE status IN ('open', 'missed')",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(ObligationStates { open: row.try_get("open")?, overdue: row.try_get("overdue")?, missed: row.try_get("missed")? })
    }

    async fn close_cncert_duty(
        &self,
        id: ObligationId,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ObligationStatus>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE obligations SET status = CASE WHEN due_at >= $1 OR (provisional AND status = 'open') THEN 'met' ELSE 'late' END, next_alert_at = NULL, met_at = $1 \
             WHERE id = $2 AND actor = 'cncert' AND status IN ('open', 'missed') RETURNING status",
        )
        .bind(at)
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = done else { return Ok(None) };
        let text: String = row.try_get("status")?;
        let status = ObligationStatus::parse(&text).ok_or_else(|| corrupt("status", text))?;
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
        let body = pg_json(serde_json::to_string(appeal).map_err(|e| corrupt("user appeal", e))?);
        let contact = appeal.contact_key();
        let mut tx = self.pool.begin().await?;
        // One contact's appeals are counted one at a time, across instances.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(format!("appeal:{contact}")).execute(&mut *tx).await?;
        let (lodged,): (i64,) = sqlx::query_as("SELECT count(*) FROM user_appeals WHERE contact = $1 AND received_at > $2")
            .bind(&contact)
            .bind(appeal.received_at - chrono::Duration::hours(24))
            .fetch_one(&mut *tx)
            .await?;
        if lodged >= i64::from(per_day) {
            return Ok(false);
        }
        sqlx::query("INSERT INTO user_appeals (id, received_at, contact, body) VALUES ($1, $2, $3, $4::jsonb)")
            .bind(appeal.id.as_uuid())
            .bind(appeal.received_at)
            .bind(&contact)
            .bind(body)
            .execute(&mut *tx)
            .await?;
        let units: Vec<String> = appeal.units.iter().map(|u| u.as_str().to_string()).collect();
        sqlx::query(
            "INSERT INTO user_appeal_units (appeal_id, unit_code) SELECT $1, u FROM UNNEST($2::text[]) AS u ON CONFLICT DO NOTHING",
        )
        .bind(appeal.id.as_uuid())
        .bind(&units)
        .execute(&mut *tx)
        .await?;
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
        let form = pg_json(serde_json::to_string(&request.form).map_err(|e| corrupt("appeal request", e))?);
        let channel = serde_json::to_value(request.channel).map_err(|e| corrupt("appeal request", e))?;
        let mut tx = self.pool.begin().await?;
        // One client's and one contact's requests are counted one at a time, across instances.
        for key in [&request.client, &request.contact] {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("appeal-request:{key}"))
                .execute(&mut *tx)
                .await?;
        }
        let count = |sql: &'static str, key: &str, since: DateTime<Utc>| sqlx::query_as::<_, (i64,)>(sql).bind(key.to_string()).bind(since);
        let (by_client,) = count(
            "SELECT count(*) FROM appeal_requests WHERE client = $1 AND created_at > $2",
            &request.client,
            request.at - chrono::Duration::hours(1),
        )
        .fetch_one(&mut *tx)
        .await?;
        if by_client >= i64::from(limits.per_client_hour) {
            return Ok(crate::store::Requested::ClientLimit);
        }
        let (by_contact,) = count(
            "SELECT count(*) FROM appeal_requests WHERE contact = $1 AND created_at > $2",
            &request.contact,
            request.at - chrono::Duration::hours(24),
        )
        .fetch_one(&mut *tx)
        .await?;
        if by_contact >= i64::from(limits.per_contact_day) {
            return Ok(crate::store::Requested::ContactLimit);
        }
        sqlx::query("INSERT INTO appeal_requests (token_hash, client, contact, channel, form, created_at, confirmed_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)")
            .bind(&request.token_hash)
            .bind(&request.client)
            .bind(&request.contact)
            .bind(channel.as_str().unwrap_or_default().to_string())
            .bind(form)
            .bind(request.at)
            .bind(request.confirmed.then_some(request.at))
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
        let row = sqlx::query(
            "UPDATE appeal_requests SET confirmed_at = $1 WHERE token_hash = $2 AND confirmed_at IS NULL AND created_at > $3 RETURNING form, channel",
        )
        .bind(at)
        .bind(token_hash)
        .bind(made_after)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let form = json_col(&row, "form")?;
        let channel: String = row.try_get("channel")?;
        let channel = serde_json::from_value(serde_json::Value::String(channel)).map_err(|e| corrupt("appeal request", e))?;
        Ok(Some((form, channel)))
    }

    async fn user_appeal(&self, id: crate::model::AppealId) -> Result<Option<StoredAppeal>, StoreError> {
        let row = sqlx::query("SELECT body, answer FROM user_appeals WHERE id = $1").bind(id.as_uuid()).fetch_optional(&self.pool).await?;
        row.as_ref().map(row_to_appeal).transpose()
    }

    async fn user_appeals(&self, unit: Option<&UnitCode>, open: bool, limit: u32) -> Result<Vec<StoredAppeal>, StoreError> {
        let rows = sqlx::query(
            "SELECT body, answer FROM user_appeals WHERE ($1::text IS NULL OR id IN (SELECT appeal_id FROM user_appeal_units WHERE unit_code = $1)) \
             AND (NOT $2 OR answered_at IS NULL) ORDER BY id DESC LIMIT $3",
        )
        .bind(unit.map(|u| u.as_str().to_string()))
        .bind(open)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_appeal).collect()
    }

    async fn answer_user_appeal(
        &self,
        id: crate::model::AppealId,
        answer: &crate::model::appeal::AppealAnswer,
        effects: AppealEffects,
    ) -> Result<bool, StoreError> {
        let text = pg_json(serde_json::to_string(answer).map_err(|e| corrupt("appeal answer", e))?);
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE user_appeals SET answer = $1::jsonb, answered_at = $2 WHERE id = $3 AND answered_at IS NULL")
            .bind(text)
            .bind(answer.at)
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        // Every party's duty to answer is met by the one answer the user receives.
        sqlx::query(
            "UPDATE obligations SET status = CASE WHEN due_at >= $1 OR (provisional AND status = 'open') THEN 'met' ELSE 'late' END, next_alert_at = NULL, met_at = $1 \
             WHERE okey >= $2 AND okey < $3 AND status IN ('open', 'missed')",
        )
        .bind(answer.at)
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
        // One statement: the row's lock orders two instances asking at once, and the loser's
        // update finds the winner's unexpired lease and changes nothing.
        let held = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE \
             SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
        )
        .bind(pg_text(name))
        .bind(pg_text(holder))
        .bind(until)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        Ok(held)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(pg_text(name))
            .bind(pg_text(holder))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn outbox_release(&self, ids: &[OutboxId], now: DateTime<Utc>) -> Result<(), StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(|i| i.as_uuid()).collect();
        sqlx::query("UPDATE outbox SET next_attempt_at = $1 WHERE id = ANY($2) AND status = 'pending' AND next_attempt_at > $1")
            .bind(now)
            .bind(&ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn outbox_retry(&self, id: OutboxId, error: &str, next_attempt_at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let status = if next_attempt_at.is_some() { "pending" } else { "failed" };
        sqlx::query(
            "UPDATE outbox SET status = $1, attempts = attempts + 1, last_error = $2, next_attempt_at = coalesce($3, next_attempt_at) WHERE id = $4",
        )
        .bind(status)
        .bind(error)
        .bind(next_attempt_at)
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await?;
        if next_attempt_at.is_none() {
            let audit = AuditRow {
                actor: "hub".into(),
                action: "outbox.failed",
                subject: id.to_string(),
                detail: serde_json::json!({ "error": error }),
            };
            insert_audit(&mut tx, vec![audit], crate::clock::now()).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{pg_json, pg_text};

    #[test]
    fn what_postgresql_cannot_store_becomes_a_replacement_character() {
        assert_eq!(pg_text("ct-gd\0"), "ct-gd\u{FFFD}");
        let json = serde_json::to_string(&serde_json::json!({"a": "x\0y", "b": "\\u0000"})).unwrap();
        let stored = pg_json(json);
        let back: serde_json::Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(back["a"], "x\u{FFFD}y");
        assert_eq!(back["b"], "\\u0000", "an escaped backslash before u0000 is text, left alone");
        assert_eq!(pg_json("{\"c\":1}".into()), "{\"c\":1}");
    }
}
