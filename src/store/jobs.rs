//! What the scheduler asks of the store: obligations due for an alert, idempotent job runs, party rows to fan out, retention, digest facts.

use super::{OutboxItem, StoreError, StoredReport};
use crate::decision::{AuditRow, OutboxRow, ReportRef};
use crate::model::{Obligation, ObligationId, ObligationStatus, OutboxId};
use chrono::{DateTime, Utc};
use std::future::Future;

/// An open obligation whose next alert is due, with the report it is about.
#[derive(Debug, Clone)]
pub struct AlertCandidate {
    pub obligation: Obligation,
    /// 0 nothing sent yet, 1 reminded, 2 overdue alert sent.
    pub stage: u8,
    pub about: Option<ReportRef>,
    /// The party that owes it is a registered unit serving an important information system (重要信息系统).
    pub actor_important: bool,
}

/// One alert step of one obligation, applied only if the obligation is still open and at
/// `from_stage` (so two scans, or a scan racing a fulfilment, write nothing twice).
#[derive(Debug, Clone)]
pub struct AlertStep {
    pub obligation: ObligationId,
    pub from_stage: u8,
    pub to_stage: u8,
    /// Mark it missed (漏报): a binding duty whose time has passed.
    pub missed: bool,
    pub next_alert_at: Option<DateTime<Utc>>,
    pub outbox: Vec<OutboxRow>,
    pub audit: Vec<AuditRow>,
}

/// A provisional deadline decided again under a calendar that now has its year: applied only
/// if the obligation is still provisional with `from_status` (a fulfilment meanwhile wins).
#[derive(Debug, Clone)]
pub struct Recomputation {
    pub obligation: ObligationId,
    pub from_status: ObligationStatus,
    pub due_at: DateTime<Utc>,
    pub status: ObligationStatus,
    pub stage: u8,
    pub next_alert_at: Option<DateTime<Utc>>,
    pub outbox: Vec<OutboxRow>,
    pub audit: Vec<AuditRow>,
}

/// Everything one run of a periodic job writes, committed with its `(job, period)` key.
#[derive(Debug, Clone)]
pub struct JobRun {
    pub job: &'static str,
    pub period: String,
    pub at: DateTime<Utc>,
    pub detail: serde_json::Value,
    /// Keyed obligations to create unless they exist (e.g. every unit's monthly summary).
    pub obligations: Vec<Obligation>,
    /// Keyed obligations this run fulfils (e.g. the monthly digest).
    pub fulfils: Vec<String>,
    pub outbox: Vec<OutboxRow>,
    pub audit: Vec<AuditRow>,
}

/// Rows removed by one retention purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub submissions: u64,
    pub reports: u64,
    pub botnets: u64,
    pub obligations: u64,
    pub outbox: u64,
    pub audit: u64,
    /// Answered user appeals; unanswered ones stay, like open duties.
    pub user_appeals: u64,
}

/// A count under one key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub key: String,
    pub count: u64,
}

/// What the store counts for a digest of one month (reports received in [from, to)).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MonthFacts {
    /// `kind severity` → count, severity being the grade code, `level1`…`level4`, or empty.
    pub by_kind_severity: Vec<(String, String, u64)>,
    pub by_category: Vec<Tally>,
    pub by_unit: Vec<Tally>,
    /// Space-separated province lists as stored → count; empty means national.
    pub by_provinces: Vec<Tally>,
    /// The most severe events and warnings of the month, most severe first.
    pub typical: Vec<StoredReport>,
    /// Obligations due in the month: (actor, duty, status) → count.
    pub obligations: Vec<(String, String, String, u64)>,
    /// Disposal-feedback obligations created in the month by status.
    pub disposal: Vec<Tally>,
    /// Targets named in the month's disposal feedback: (disposed, undisposed).
    pub targets_disposed: u64,
    pub targets_undisposed: u64,
    /// Monthly summaries of earlier months that arrived after their own digest went out and
    /// are counted in this one: (unit, month) → general events listed.
    pub late_summaries: Vec<(String, String, u64)>,
}

/// Which reports a month's digest counts besides those discovered in the month and received
/// before it went out: each report counts in the first digest not yet sent when it arrived.
#[derive(Debug, Clone, Copy, Default)]
pub struct Arrivals {
    /// When the previous month's digest went out: reports of earlier months received after it
    /// are this month's late arrivals.
    pub late_after: Option<DateTime<Utc>>,
    /// When this month's digest went out, if it did: what came after belongs to the next one.
    pub until: Option<DateTime<Utc>>,
}

/// General events listed in units' monthly summaries, grouped for the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryEvents {
    pub unit: String,
    /// The summary's month (`2026-09`).
    pub month: String,
    /// The unit's region code (`GD`, or `national`).
    pub region: String,
    pub category: String,
    pub count: u64,
}

pub trait JobStore: Send + Sync + 'static {
    /// Open obligations whose `next_alert_at` has come, oldest first.
    fn alert_candidates(&self, now: DateTime<Utc>, limit: u32) -> impl Future<Output = Result<Vec<AlertCandidate>, StoreError>> + Send;
    /// Applies alert steps in one transaction; returns how many took effect.
    fn apply_alerts(&self, steps: Vec<AlertStep>, now: DateTime<Utc>) -> impl Future<Output = Result<usize, StoreError>> + Send;
    /// When `(job, period)` ran, if it did.
    fn job_ran(&self, job: &str, period: &str) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;
    /// Commits a run with its key; `false` (and nothing written) when that period already ran.
    fn record_job(&self, run: JobRun) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Obligations whose key matches a SQL LIKE pattern (`monthly_summary:%:2026-09`).
    fn keyed_obligations(&self, pattern: &str) -> impl Future<Output = Result<Vec<Obligation>, StoreError>> + Send;
    /// Every obligation whose deadline is provisional, whatever its status, with its alert stage.
    fn provisional_obligations(&self) -> impl Future<Output = Result<Vec<(Obligation, u8)>, StoreError>> + Send;
    /// Applies recomputed deadlines in one transaction; returns how many took effect.
    fn apply_recomputed(&self, changes: Vec<Recomputation>, now: DateTime<Utc>) -> impl Future<Output = Result<usize, StoreError>> + Send;
    /// Pending party rows due by `now`; only urgent ones unless `all`.
    fn party_rows(&self, now: DateTime<Utc>, all: bool, limit: u32) -> impl Future<Output = Result<Vec<OutboxItem>, StoreError>> + Send;
    /// Replaces party rows by the rows for their recipients' channels, in one transaction,
    /// claiming each party row as it goes: `false`, and nothing written, when any of them was
    /// no longer pending (another expander, in this process or another hub, took it first).
    fn expand_party_rows(
        &self,
        expanded: Vec<OutboxId>,
        unresolved: Vec<(OutboxId, String)>,
        children: Vec<OutboxRow>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Deletes what is older than `cutoff` (open obligations and undelivered rows stay).
    fn purge(&self, cutoff: DateTime<Utc>) -> impl Future<Output = Result<Purged, StoreError>> + Send;
    /// General events listed in the latest monthly summary of each unit and month, for months
    /// in `[month_from, month_to]` (`YYYY-MM`), of summaries received in `(after, until]`.
    fn summary_events(
        &self,
        month_from: &str,
        month_to: &str,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SummaryEvents>, StoreError>> + Send;
    /// The counts a digest needs: events, warnings and botnet events discovered in `[from, to)`
    /// (and received within 45 days after), the other reports received in it.
    fn month_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        typical: u32,
        arrivals: Arrivals,
    ) -> impl Future<Output = Result<MonthFacts, StoreError>> + Send;
}
