//! The store the configuration names (`open`): SQLite or PostgreSQL behind one type, so that nothing outside `store` names a backend.

use super::jobs::{AlertCandidate, AlertStep, Arrivals, JobRun, JobStore, MonthFacts, Purged, SummaryEvents};
use super::postgres::{PgLocation, PgStore};
use super::sqlite::{SqliteStore, Synchronous};
use super::{AppealEffects, Backlog, Counts, ObligationFilter, ObligationStates, OutboxItem, Pipelined, ReportFilter, Store, StoreError};
use super::{OutboxFilter, OutboxRecord, StoredAppeal, StoredReport};
use crate::decision::{Context, Decision, Needs, OutboxRow};
use crate::model::{Obligation, ObligationId, ObligationStatus, OutboxId, Receipt, ReportId, SubmissionId, Unit, UnitCode};
use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// Which database holds the hub's data.
#[derive(Debug, Clone)]
pub enum Location {
    /// One file on this machine: the embedded default, for one instance.
    Sqlite { path: PathBuf, synchronous: Synchronous },
    /// A PostgreSQL database several instances share.
    Postgres(PgLocation),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite { path, .. } => write!(f, "sqlite:{}", path.display()),
            // The URL may hold a password: only where it points is shown.
            Location::Postgres(pg) => write!(f, "postgres:{}", pg.url.rsplit('@').next().unwrap_or("?")),
        }
    }
}

/// An open store of either backend.
#[derive(Debug, Clone)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Opens (creating or migrating as needed) the store at `location`.
pub async fn open(location: &Location) -> Result<AnyStore, StoreError> {
    Ok(match location {
        Location::Sqlite { path, synchronous } => AnyStore::Sqlite(SqliteStore::open_with(path, *synchronous).await?),
        Location::Postgres(pg) => AnyStore::Postgres(PgStore::open(pg).await?),
    })
}

impl AnyStore {
    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Postgres(_) => "postgres",
        }
    }
}

/// Runs one expression on whichever backend `$store` is.
macro_rules! each {
    ($store:expr, $s:ident => $e:expr) => {
        match $store {
            AnyStore::Sqlite($s) => $e,
            AnyStore::Postgres($s) => $e,
        }
    };
}

/// A staged batch of either backend.
#[derive(Debug)]
pub enum AnyStaged {
    Sqlite(super::sqlite::Staged),
    Postgres(super::postgres::Staged),
}

fn pipelined<S>(p: Pipelined<S>, wrap: fn(S) -> AnyStaged) -> Pipelined<AnyStaged> {
    Pipelined { committed: p.committed, next: p.next.map(|n| n.map(wrap)) }
}

impl Store for AnyStore {
    type Staged = AnyStaged;

    async fn commit_batch<F>(&self, needs: Needs, decide: F) -> Result<Vec<Decision>, StoreError>
    where
        F: FnOnce(&mut Context) -> Vec<Decision> + Send,
    {
        each!(self, s => s.commit_batch(needs, decide).await)
    }

    async fn commit_staged<F>(&self, staged: Option<AnyStaged>, next: Option<(Needs, F)>) -> Pipelined<AnyStaged>
    where
        F: FnOnce(&mut Context) -> Vec<Decision> + Send + 'static,
    {
        match (self, staged) {
            (AnyStore::Sqlite(s), None) => pipelined(s.commit_staged(None, next).await, AnyStaged::Sqlite),
            (AnyStore::Sqlite(s), Some(AnyStaged::Sqlite(x))) => pipelined(s.commit_staged(Some(x), next).await, AnyStaged::Sqlite),
            (AnyStore::Postgres(s), None) => pipelined(s.commit_staged(None, next).await, AnyStaged::Postgres),
            (AnyStore::Postgres(s), Some(AnyStaged::Postgres(x))) => pipelined(s.commit_staged(Some(x), next).await, AnyStaged::Postgres),
            (store, Some(_)) => Pipelined {
                committed: Err(super::shared::corrupt("staged batch", format!("staged by another backend than {}", store.backend()))),
                next: None,
            },
        }
    }

    async fn import_units(&self, units: &[Unit], at: DateTime<Utc>) -> Result<usize, StoreError> {
        each!(self, s => s.import_units(units, at).await)
    }
    async fn units(&self) -> Result<Vec<Unit>, StoreError> {
        each!(self, s => s.units().await)
    }
    async fn reports(&self, filter: &ReportFilter) -> Result<Vec<StoredReport>, StoreError> {
        each!(self, s => s.reports(filter).await)
    }
    async fn report(&self, id: ReportId, unit: Option<&UnitCode>) -> Result<Option<StoredReport>, StoreError> {
        each!(self, s => s.report(id, unit).await)
    }
    async fn obligations(&self, filter: &ObligationFilter) -> Result<Vec<Obligation>, StoreError> {
        each!(self, s => s.obligations(filter).await)
    }
    async fn receipt(&self, id: SubmissionId, unit: Option<&UnitCode>) -> Result<Option<Receipt>, StoreError> {
        each!(self, s => s.receipt(id, unit).await)
    }
    async fn submission_raw(&self, id: SubmissionId) -> Result<Option<Vec<u8>>, StoreError> {
        each!(self, s => s.submission_raw(id).await)
    }
    async fn counts(&self) -> Result<Counts, StoreError> {
        each!(self, s => s.counts().await)
    }
    async fn issue_token(&self, unit: &UnitCode, token_hash: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        each!(self, s => s.issue_token(unit, token_hash, at).await)
    }
    async fn revoke_tokens(&self, unit: &UnitCode, token_hash: Option<&str>, at: DateTime<Utc>) -> Result<u64, StoreError> {
        each!(self, s => s.revoke_tokens(unit, token_hash, at).await)
    }
    async fn unit_for_token(&self, token_hash: &str) -> Result<Option<UnitCode>, StoreError> {
        each!(self, s => s.unit_for_token(token_hash).await)
    }
    async fn due_outbox(&self, channel: &str, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        each!(self, s => s.due_outbox(channel, now, limit).await)
    }
    async fn outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxRecord>, StoreError> {
        each!(self, s => s.outbox(filter).await)
    }
    async fn outbox_backlog(&self, now: DateTime<Utc>) -> Result<Vec<Backlog>, StoreError> {
        each!(self, s => s.outbox_backlog(now).await)
    }
    async fn outbox_sent(&self, ids: &[OutboxId], at: DateTime<Utc>) -> Result<(), StoreError> {
        each!(self, s => s.outbox_sent(ids, at).await)
    }
    async fn obligation_states(&self, now: DateTime<Utc>) -> Result<ObligationStates, StoreError> {
        each!(self, s => s.obligation_states(now).await)
    }
    async fn close_cncert_duty(
        &self,
        id: ObligationId,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ObligationStatus>, StoreError> {
        each!(self, s => s.close_cncert_duty(id, by, note, at).await)
    }
    async fn record_user_appeal(
        &self,
        appeal: &crate::model::UserAppeal,
        effects: AppealEffects,
        per_day: u32,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.record_user_appeal(appeal, effects, per_day).await)
    }
    async fn request_user_appeal(
        &self,
        request: &super::AppealRequest,
        limits: super::RequestLimits,
        outbox: Vec<crate::decision::OutboxRow>,
    ) -> Result<super::Requested, StoreError> {
        each!(self, s => s.request_user_appeal(request, limits, outbox).await)
    }
    async fn confirm_user_appeal(
        &self,
        token_hash: &str,
        made_after: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Option<(crate::model::appeal::AppealForm, crate::model::appeal::AppealChannel)>, StoreError> {
        each!(self, s => s.confirm_user_appeal(token_hash, made_after, at).await)
    }
    async fn user_appeal(&self, id: crate::model::AppealId) -> Result<Option<StoredAppeal>, StoreError> {
        each!(self, s => s.user_appeal(id).await)
    }
    async fn user_appeals(&self, unit: Option<&UnitCode>, open: bool, limit: u32) -> Result<Vec<StoredAppeal>, StoreError> {
        each!(self, s => s.user_appeals(unit, open, limit).await)
    }
    async fn answer_user_appeal(
        &self,
        id: crate::model::AppealId,
        answer: &crate::model::appeal::AppealAnswer,
        effects: AppealEffects,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.answer_user_appeal(id, answer, effects).await)
    }
    async fn hold_lease(&self, name: &str, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        each!(self, s => s.hold_lease(name, holder, now, until).await)
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        each!(self, s => s.release_lease(name, holder).await)
    }
    async fn outbox_release(&self, ids: &[OutboxId], now: DateTime<Utc>) -> Result<(), StoreError> {
        each!(self, s => s.outbox_release(ids, now).await)
    }
    async fn outbox_retry(&self, id: OutboxId, error: &str, next_attempt_at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        each!(self, s => s.outbox_retry(id, error, next_attempt_at).await)
    }
}

impl JobStore for AnyStore {
    async fn alert_candidates(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<AlertCandidate>, StoreError> {
        each!(self, s => s.alert_candidates(now, limit).await)
    }
    async fn apply_alerts(&self, steps: Vec<AlertStep>, now: DateTime<Utc>) -> Result<usize, StoreError> {
        each!(self, s => s.apply_alerts(steps, now).await)
    }
    async fn job_ran(&self, job: &str, period: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        each!(self, s => s.job_ran(job, period).await)
    }
    async fn record_job(&self, run: JobRun) -> Result<bool, StoreError> {
        each!(self, s => s.record_job(run).await)
    }
    async fn keyed_obligations(&self, pattern: &str) -> Result<Vec<Obligation>, StoreError> {
        each!(self, s => s.keyed_obligations(pattern).await)
    }
    async fn provisional_obligations(&self) -> Result<Vec<(Obligation, u8)>, StoreError> {
        each!(self, s => s.provisional_obligations().await)
    }
    async fn apply_recomputed(&self, changes: Vec<super::jobs::Recomputation>, now: DateTime<Utc>) -> Result<usize, StoreError> {
        each!(self, s => s.apply_recomputed(changes, now).await)
    }
    async fn party_rows(&self, now: DateTime<Utc>, all: bool, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        each!(self, s => s.party_rows(now, all, limit).await)
    }
    async fn expand_party_rows(
        &self,
        expanded: Vec<OutboxId>,
        unresolved: Vec<(OutboxId, String)>,
        children: Vec<OutboxRow>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.expand_party_rows(expanded, unresolved, children, now).await)
    }
    async fn purge(&self, cutoff: DateTime<Utc>) -> Result<Purged, StoreError> {
        each!(self, s => s.purge(cutoff).await)
    }
    async fn summary_events(
        &self,
        month_from: &str,
        month_to: &str,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<SummaryEvents>, StoreError> {
        each!(self, s => s.summary_events(month_from, month_to, after, until).await)
    }
    async fn month_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        typical: u32,
        arrivals: Arrivals,
    ) -> Result<MonthFacts, StoreError> {
        each!(self, s => s.month_facts(from, to, typical, arrivals).await)
    }
}

/// The bare-insert floor of `tongbao bench intake` on either backend (see `PgStore::bare_inserts`).
pub async fn bare_inserts(store: &AnyStore, bodies: &[Vec<u8>], per_transaction: usize) -> Result<f64, StoreError> {
    match store {
        AnyStore::Sqlite(s) => super::sqlite::synthetic::bare_inserts(s, bodies, per_transaction).await,
        AnyStore::Postgres(p) => p.bare_inserts(bodies, per_transaction).await,
    }
}

impl super::UserStore for AnyStore {
    async fn put_user(&self, user: &crate::model::User, replace: bool, at: DateTime<Utc>) -> Result<bool, StoreError> {
        each!(self, s => s.put_user(user, replace, at).await)
    }
    async fn user(&self, name: &crate::model::UserName) -> Result<Option<crate::model::User>, StoreError> {
        each!(self, s => s.user(name).await)
    }
    async fn users(&self) -> Result<Vec<crate::model::User>, StoreError> {
        each!(self, s => s.users().await)
    }
    async fn remove_user(&self, name: &crate::model::UserName, at: DateTime<Utc>) -> Result<bool, StoreError> {
        each!(self, s => s.remove_user(name, at).await)
    }
    async fn open_session(
        &self,
        id_hash: &str,
        user: &crate::model::UserName,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        each!(self, s => s.open_session(id_hash, user, at, expires_at).await)
    }
    async fn session_user(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<crate::model::User>, StoreError> {
        each!(self, s => s.session_user(id_hash, now).await)
    }
    async fn close_session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        each!(self, s => s.close_session(id_hash, now).await)
    }
    async fn put_draft(
        &self,
        id: &str,
        user: &crate::model::UserName,
        file_name: &str,
        bytes: &[u8],
        at: DateTime<Utc>,
    ) -> Result<super::users::DraftKept, StoreError> {
        each!(self, s => s.put_draft(id, user, file_name, bytes, at).await)
    }
    async fn draft(&self, id: &str, user: &crate::model::UserName, now: DateTime<Utc>) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        each!(self, s => s.draft(id, user, now).await)
    }
    async fn drop_draft(&self, id: &str) -> Result<(), StoreError> {
        each!(self, s => s.drop_draft(id).await)
    }
}

impl super::ConsoleStore for AnyStore {
    async fn report_tally(&self, scope: &super::console::Scope, since: DateTime<Utc>) -> Result<Vec<super::console::Tally>, StoreError> {
        each!(self, s => s.report_tally(scope, since).await)
    }
    async fn due_obligations(
        &self,
        scope: &super::console::Scope,
        narrow: &super::console::Scope,
        due: super::console::Due,
        limit: u32,
    ) -> Result<super::console::ObligationPage, StoreError> {
        each!(self, s => s.due_obligations(scope, narrow, due, limit).await)
    }
    async fn party_tallies(
        &self,
        scope: &super::console::Scope,
        now: DateTime<Utc>,
        soon: DateTime<Utc>,
        late_since: DateTime<Utc>,
    ) -> Result<Vec<super::console::PartyTally>, StoreError> {
        each!(self, s => s.party_tallies(scope, now, soon, late_since).await)
    }
    async fn report_page(
        &self,
        scope: &super::console::Scope,
        query: &super::console::ReportQuery,
    ) -> Result<Vec<StoredReport>, StoreError> {
        each!(self, s => s.report_page(scope, query).await)
    }
    async fn audit_of(&self, subjects: &[String], limit: u32) -> Result<Vec<super::console::AuditEntry>, StoreError> {
        each!(self, s => s.audit_of(subjects, limit).await)
    }
    async fn notice_drafts(&self, waiting: bool, report: Option<&str>, limit: u32) -> Result<Vec<super::console::NoticeDraft>, StoreError> {
        each!(self, s => s.notice_drafts(waiting, report, limit).await)
    }
    async fn awaiting_notices(&self) -> Result<i64, StoreError> {
        each!(self, s => s.awaiting_notices().await)
    }
    async fn review_notice(&self, report_id: &str, decided: super::console::Decided) -> Result<bool, StoreError> {
        each!(self, s => s.review_notice(report_id, decided).await)
    }
}
