//! Persistence: the one place with SQL. A `Store` trait with SQLite (embedded, the default) and PostgreSQL (several instances) behind it.
//!
//! `open` gives the store a `Location` names; nothing outside this module knows which backend
//! runs.

mod any;
pub mod console;
pub mod jobs;
pub mod postgres;
mod shared;
pub mod sqlite;
pub mod users;

use crate::decision::{Context, Decision, Needs};
use crate::model::{Obligation, ObligationStatus, OutboxId, Receipt, Report, ReportId, ReportKind, SubmissionId, Unit, UnitCode};
use chrono::{DateTime, Utc};
use std::future::Future;

pub use any::{AnyStaged, AnyStore, Location, bare_inserts, open};
pub use console::ConsoleStore;
pub use jobs::JobStore;
pub use postgres::PgLocation;
pub use sqlite::synthetic::Synthetic;
pub use sqlite::{SqliteStore, Synchronous};
pub use users::UserStore;

/// A backend's migrations, compiled into the binary so a fresh machine needs no files beside
/// it: (version, name, SQL) each.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl<'s> sqlx::migrate::MigrationSource<'s> for Embedded {
    fn resolve(self) -> futures_core::future::BoxFuture<'s, Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>> {
        use sqlx::migrate::{Migration, MigrationType};
        use std::borrow::Cow;
        let all = self
            .0
            .iter()
            .map(|&(version, name, sql)| Migration::new(version, Cow::Borrowed(name), MigrationType::Simple, Cow::Borrowed(sql), false));
        Box::pin(std::future::ready(Ok(all.collect())))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is busy or unreachable; the same work may succeed if tried again.
    #[error("store temporarily unavailable: {0}")]
    Transient(#[source] sqlx::Error),
    /// The disk holding the database is full; writes succeed again once space is freed.
    #[error("store is full: no disk space left for the database ({0})")]
    Full(#[source] sqlx::Error),
    #[error("store error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt at {place}: {detail}")]
    Corrupt { place: String, detail: String },
    /// One failure told to each submitter of a batch, as it was.
    #[error(transparent)]
    Shared(std::sync::Arc<StoreError>),
}

impl StoreError {
    /// The same work may succeed later without any change to it: the database was busy or
    /// unreachable, or its disk full.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Transient(_) | StoreError::Full(_) => true,
            StoreError::Shared(e) => e.is_transient(),
            _ => false,
        }
    }

    /// The disk holding the store is full.
    pub fn is_full(&self) -> bool {
        match self {
            StoreError::Full(_) => true,
            StoreError::Shared(e) => e.is_full(),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        let class = match &e {
            // Another instance stored the same submission between this batch's read and its
            // write: deciding the batch again finds it, and answers with its receipt.
            sqlx::Error::Database(db) if db.constraint() == Some("submissions_dedupe") => Failure::Passing,
            sqlx::Error::Database(db) => db.code().map_or(Failure::Lasting, |code| Failure::of_code(&code)),
            sqlx::Error::Io(io) if io.raw_os_error() == Some(28) => Failure::Full, // ENOSPC
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => Failure::Passing,
            _ => Failure::Lasting,
        };
        match class {
            Failure::Full => StoreError::Full(e),
            Failure::Passing => StoreError::Transient(e),
            Failure::Lasting => StoreError::Database(e),
        }
    }
}

/// What a database's error code says of the failure. Codes, never message texts, which differ
/// between versions and languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The disk holding the database is full.
    Full,
    /// Busy, a serialization conflict or a lost connection: the same work may succeed.
    Passing,
    Lasting,
}

impl Failure {
    /// SQLite gives its (extended) result code as a number below 10,000; PostgreSQL a SQLSTATE,
    /// always five characters.
    fn of_code(code: &str) -> Failure {
        if code.len() == 5 {
            return match code {
                "53100" => Failure::Full, // disk_full
                // serialization_failure, deadlock_detected, lock_not_available, admin/crash
                // shutdown, cannot_connect_now, out_of_memory, too_many_connections.
                "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" | "53200" | "53300" => Failure::Passing,
                _ if code.starts_with("08") => Failure::Passing, // connection_exception
                _ => Failure::Lasting,
            };
        }
        match code.parse::<u32>() {
            // SQLITE_FULL, and SQLITE_IOERR_WRITE, which a full disk gives under WAL.
            Ok(13 | 778) => Failure::Full,
            // SQLITE_BUSY with its extended codes: another connection holds the lock. Not
            // SQLITE_LOCKED, a conflict inside one connection that trying again does not cure.
            Ok(c) if c & 0xff == 5 => Failure::Passing,
            _ => Failure::Lasting,
        }
    }
}

/// Which reports to list. A unit sees only its own (`unit` set); CNCERT staff see all.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub unit: Option<UnitCode>,
    pub kind: Option<ReportKind>,
    pub limit: u32,
}

/// A stored report with where it came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredReport {
    pub submission_id: SubmissionId,
    pub received_at: DateTime<Utc>,
    #[serde(flatten)]
    pub report: Report,
}

#[derive(Debug, Clone, Default)]
pub struct ObligationFilter {
    pub status: Option<ObligationStatus>,
    /// Only open obligations due before this instant.
    pub overdue_at: Option<DateTime<Utc>>,
    pub report: Option<ReportId>,
    pub limit: u32,
}

/// An outbox row due for delivery by one sink.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: OutboxId,
    pub kind: crate::decision::OutboxKind,
    pub recipient: String,
    pub subject_id: String,
    pub urgent: bool,
    pub payload: serde_json::Value,
    pub attempts: u32,
}

/// Which outbox rows to list; every field set narrows the list.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub kind: Option<crate::decision::OutboxKind>,
    pub channel: Option<crate::decision::OutboxChannel>,
    pub subject_id: Option<String>,
    pub recipient: Option<String>,
    /// `pending`, `sent`, `expanded`, `failed`, `expired`.
    pub status: Option<String>,
    pub limit: u32,
}

/// An outbox row as stored, with where its delivery stands: what a report's timeline shows of
/// the notices it caused.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxRecord {
    pub id: OutboxId,
    pub created_at: DateTime<Utc>,
    pub kind: String,
    pub channel: String,
    pub recipient: String,
    pub subject_id: String,
    pub urgent: bool,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// Row counts, for `tongbao status` and tests that check nothing was added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub units: i64,
    pub submissions: i64,
    pub reports: i64,
    pub obligations: i64,
    pub outbox: i64,
    pub audit: i64,
}

/// How many obligations are in the states operators watch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ObligationStates {
    pub open: i64,
    /// Open and past their due time.
    pub overdue: i64,
    /// Binding duties whose time passed without them (漏报).
    pub missed: i64,
}

/// How long an outbox row may wait for its sink before it is expired unsent.
pub const OUTBOX_STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Outbox rows of one channel and status (`pending`, `failed`, `expired`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backlog {
    pub channel: String,
    pub status: String,
    pub count: i64,
    /// Seconds since the oldest of them was written.
    pub oldest_age_s: i64,
}

/// A user appeal as stored, with its answer once given.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredAppeal {
    #[serde(flatten)]
    pub appeal: crate::model::UserAppeal,
    pub answer: Option<crate::model::appeal::AppealAnswer>,
}

/// A user's appeal as posted, before anything of it is mailed: counted per client address and
/// per contact, and lodged once its poster follows the link sent to the address it gave.
#[derive(Debug, Clone)]
pub struct AppealRequest {
    /// The SHA-256 (hex) of the link's secret.
    pub token_hash: String,
    /// Who posted it: `ip:<address>` on the page, `mail:<mailbox>` by mail.
    pub client: String,
    /// `UserAppeal::contact_key`: the folded address or number.
    pub contact: String,
    pub channel: crate::model::appeal::AppealChannel,
    pub form: crate::model::appeal::AppealForm,
    pub at: DateTime<Utc>,
    /// Lodged at once (a phone-only appeal mails nobody): the row only counts.
    pub confirmed: bool,
}

/// How many appeal requests one client may post an hour, and one contact be mailed a day.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub per_client_hour: u32,
    pub per_contact_day: u32,
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    Stored,
    /// The client posted `per_client_hour` in the last hour; nothing written.
    ClientLimit,
    /// The contact had `per_contact_day` in the last day; nothing written.
    ContactLimit,
}

/// What lodging or answering an appeal writes beside it.
#[derive(Debug, Default)]
pub struct AppealEffects {
    pub obligations: Vec<Obligation>,
    pub outbox: Vec<crate::decision::OutboxRow>,
    pub audit: Vec<crate::decision::AuditRow>,
}

/// What one step of the pipelined writer (`Store::commit_staged`) did.
#[derive(Debug)]
pub struct Pipelined<S> {
    /// The staged batch's decisions once committed, or why nothing of it was stored.
    pub committed: Result<Vec<Decision>, StoreError>,
    /// The next batch, decided and staged; `None` when there was none, or when the commit
    /// failed and its decisions would rest on rows that were rolled back.
    pub next: Option<Result<S, StoreError>>,
}

pub trait Store: Send + Sync + 'static {
    /// A batch decided and encoded for writing, ahead of the transaction that writes it.
    type Staged: Send + 'static;

    /// In one transaction: loads what `needs` names, lets `decide` turn it into decisions, writes
    /// them, commits, and returns them. Nothing is written if any step fails.
    fn commit_batch<F>(&self, needs: Needs, decide: F) -> impl Future<Output = Result<Vec<Decision>, StoreError>> + Send
    where
        F: FnOnce(&mut Context) -> Vec<Decision> + Send;

    /// One step of the pipelined writer: in one transaction, writes `staged` (decided on a
    /// context read in the previous step's transaction) and, when `next` is given, reads its
    /// context in the same transaction and decides and stages it in parallel with the writing.
    /// The read comes before the staged rows are written when they touch nothing it looks at
    /// (`crate::decision::reads_untouched_by`), so deciding overlaps writing and committing; otherwise
    /// after, so it sees them, and deciding overlaps the commit. The decisions of `next` are only
    /// as fresh as that read: writes other connections make between this commit and the next
    /// step are not in them.
    fn commit_staged<F>(
        &self,
        staged: Option<Self::Staged>,
        next: Option<(Needs, F)>,
    ) -> impl Future<Output = Pipelined<Self::Staged>> + Send
    where
        F: FnOnce(&mut Context) -> Vec<Decision> + Send + 'static;

    /// Inserts or replaces units (by code) and their sender identities.
    fn import_units(&self, units: &[Unit], at: DateTime<Utc>) -> impl Future<Output = Result<usize, StoreError>> + Send;
    fn units(&self) -> impl Future<Output = Result<Vec<Unit>, StoreError>> + Send;
    fn reports(&self, filter: &ReportFilter) -> impl Future<Output = Result<Vec<StoredReport>, StoreError>> + Send;
    /// One report; with `unit` set, only if it belongs to that unit.
    fn report(&self, id: ReportId, unit: Option<&UnitCode>) -> impl Future<Output = Result<Option<StoredReport>, StoreError>> + Send;
    fn obligations(&self, filter: &ObligationFilter) -> impl Future<Output = Result<Vec<Obligation>, StoreError>> + Send;
    /// The stored receipt of a submission; with `unit` set, only if it was that unit's.
    fn receipt(&self, id: SubmissionId, unit: Option<&UnitCode>) -> impl Future<Output = Result<Option<Receipt>, StoreError>> + Send;
    /// The bytes of a submission as they arrived (a mail, a file, a message body).
    fn submission_raw(&self, id: SubmissionId) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;
    fn counts(&self) -> impl Future<Output = Result<Counts, StoreError>> + Send;

    /// Records an upload token (its SHA-256 only) for a unit.
    fn issue_token(&self, unit: &UnitCode, token_hash: &str, at: DateTime<Utc>) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The unit a token (by its SHA-256) belongs to, unless revoked or unknown.
    /// Revokes a unit's live tokens (only the one with `token_hash` when given), audited;
    /// returns how many. Effective at once: `unit_for_token` reads the store on every request.
    fn revoke_tokens(
        &self,
        unit: &UnitCode,
        token_hash: Option<&str>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    fn unit_for_token(&self, token_hash: &str) -> impl Future<Output = Result<Option<UnitCode>, StoreError>> + Send;

    /// Pending outbox rows of one channel whose next attempt is due, oldest first, urgent ones first.
    fn due_outbox(&self, channel: &str, now: DateTime<Utc>, limit: u32)
    -> impl Future<Output = Result<Vec<OutboxItem>, StoreError>> + Send;
    /// Marks rows delivered (the receiver confirmed them).
    /// Marks rows delivered. A row whose payload says it `performs` a duty of CNCERT's (the
    /// forwarded report reaching CSB, a disposal notice reaching a unit, a result reaching the
    /// bureaus) meets that duty at `at`, or late past its due time, in the same transaction.
    /// Outbox rows in the order they were queued (their ids), oldest first.
    fn outbox(&self, filter: &OutboxFilter) -> impl Future<Output = Result<Vec<OutboxRecord>, StoreError>> + Send;
    /// What waits or did not go out, by channel and status, with the oldest row's age.
    fn outbox_backlog(&self, now: DateTime<Utc>) -> impl Future<Output = Result<Vec<Backlog>, StoreError>> + Send;
    fn outbox_sent(&self, ids: &[OutboxId], at: DateTime<Utc>) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Obligations open, open past their due time at `now`, and missed: for `/metrics`.
    fn obligation_states(&self, now: DateTime<Utc>) -> impl Future<Output = Result<ObligationStates, StoreError>> + Send;
    /// Marks an open (or missed) duty of CNCERT's done by a person, audited with who and when:
    /// the new status, or None when no such duty of CNCERT's is open.
    fn close_cncert_duty(
        &self,
        id: crate::model::ObligationId,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<crate::model::ObligationStatus>, StoreError>> + Send;
    /// Stores a user's appeal with the duties, notices and audit it causes, unless its contact
    /// lodged `per_day` appeals in the 24 hours before it; then nothing is written and `false`
    /// is returned.
    fn record_user_appeal(
        &self,
        appeal: &crate::model::UserAppeal,
        effects: AppealEffects,
        per_day: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Stores an appeal request with its confirmation mail, unless a limit is reached (counted
    /// in the same transaction, so across restarts and instances).
    fn request_user_appeal(
        &self,
        request: &AppealRequest,
        limits: RequestLimits,
        outbox: Vec<crate::decision::OutboxRow>,
    ) -> impl Future<Output = Result<Requested, StoreError>> + Send;
    /// Marks the request whose secret hashes to `token_hash` confirmed, once, if it was made
    /// after `made_after`, and answers what was posted; `None` for an unknown, used or expired link.
    fn confirm_user_appeal(
        &self,
        token_hash: &str,
        made_after: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<(crate::model::appeal::AppealForm, crate::model::appeal::AppealChannel)>, StoreError>> + Send;
    /// One appeal with its answer, if given.
    fn user_appeal(&self, id: crate::model::AppealId) -> impl Future<Output = Result<Option<StoredAppeal>, StoreError>> + Send;
    /// Appeals newest first: all, or those addressed to `unit`; with `open`, only unanswered ones.
    fn user_appeals(
        &self,
        unit: Option<&UnitCode>,
        open: bool,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredAppeal>, StoreError>> + Send;
    /// Records the answer to an appeal and closes every duty to answer it (met or late), with
    /// its notices; `false` (nothing written) when it was answered already.
    fn answer_user_appeal(
        &self,
        id: crate::model::AppealId,
        answer: &crate::model::appeal::AppealAnswer,
        effects: AppealEffects,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Takes or renews the lease `name` for `holder` until `until`: `true` when `holder` holds
    /// it now (it was free, lapsed by `now`, or already `holder`'s), `false` while another
    /// instance's lease runs. What one instance at a time may do (read one IMAP mailbox) waits
    /// for it.
    fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Gives the lease up, if `holder` still holds it, so another instance takes over at once.
    fn release_lease(&self, name: &str, holder: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Gives claimed rows that were not delivered back at once (their sink lost its connection),
    /// instead of leaving them to wait out their claim; rows no longer pending are left alone.
    fn outbox_release(&self, ids: &[OutboxId], now: DateTime<Utc>) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records a failed attempt: retried at `next_attempt_at`, or failed for good when `None`.
    fn outbox_retry(
        &self,
        id: OutboxId,
        error: &str,
        next_attempt_at: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::Failure;

    #[test]
    fn failures_are_told_apart_by_code_on_either_backend() {
        for (code, class) in [
            ("5", Failure::Passing),    // SQLITE_BUSY
            ("517", Failure::Passing),  // SQLITE_BUSY_SNAPSHOT
            ("6", Failure::Lasting),    // SQLITE_LOCKED
            ("262", Failure::Lasting),  // SQLITE_LOCKED_SHAREDCACHE
            ("13", Failure::Full),      // SQLITE_FULL
            ("778", Failure::Full),     // SQLITE_IOERR_WRITE
            ("2067", Failure::Lasting), // SQLITE_CONSTRAINT_UNIQUE
            ("40001", Failure::Passing),
            ("40P01", Failure::Passing),
            ("57P01", Failure::Passing),
            ("08006", Failure::Passing),
            ("53100", Failure::Full),
            ("23505", Failure::Lasting), // unique_violation
            ("42P01", Failure::Lasting), // undefined_table
        ] {
            assert_eq!(Failure::of_code(code), class, "{code}");
        }
    }
}
