//! The scheduler: cron jobs in Asia/Shanghai that keep the regulations' clocks (reminders, overdue alerts, monthly summary reminders, the missing list, the digest, the retention purge).
//!
//! Time is always passed in: `Scheduler::tick(now)` runs every job whose cron expression fired
//! since the previous tick (every job on the first tick, which is how runs missed while the hub
//! was down are caught up at start). Tests drive it with chosen instants; `run` drives it with
//! the wall clock. Every job is idempotent: periodic ones commit a `(job, period)` key with what
//! they write, and the deadline scan moves each obligation through its alert stages with a
//! compare-and-set, so a repeated or concurrent run writes nothing twice.

mod alerts;
mod calendar_watch;
mod monthly;
pub mod recompute;

pub use alerts::scan as scan_deadlines;
pub use monthly::{compute as compute_digest, send_digest};

use crate::decision::Engine;
use crate::store::{JobStore, Store, StoreError};
use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::watch;

/// `[schedule]` in tongbao.toml. Cron expressions have six fields (second minute hour day
/// month weekday) and run in Beijing time. Monthly jobs run on every firing and act only on
/// the day the regulations say (working days come from the calendar, which cron cannot know).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Run the scheduler in `tongbao serve`.
    pub enabled: bool,
    /// Reminders before obligations fall due and overdue alerts (迟报/漏报) after.
    pub deadline_scan: String,
    /// Sends the non-urgent notices, one mail per recipient listing all of its items.
    pub notice_batch: String,
    /// On the 1st working day of a month: every unit is reminded of last month's general-event summary.
    pub monthly_reminder: String,
    /// After the 5th working day: the list of units that sent no summary, to CNCERT and CSB.
    pub missing_summaries: String,
    /// The monthly digest to CSB and all bureaus, from the `digest_workday`-th working day.
    pub digest: String,
    /// Which working day of the month the digest of the month before goes out (the regulation's
    /// limit is the 10th; after the 5th, all summaries are in).
    pub digest_workday: u32,
    /// Deletes what is older than `[retention] days`.
    pub retention: String,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            enabled: true,
            deadline_scan: "0 * * * * *".into(),
            notice_batch: "0 0 9,16 * * *".into(),
            monthly_reminder: "0 0 9 * * *".into(),
            missing_summaries: "0 0 9 * * *".into(),
            digest: "0 0 10 * * *".into(),
            digest_workday: 6,
            retention: "0 30 3 * * *".into(),
        }
    }
}

/// The jobs, by the name used in logs, `job_runs` and tongbao.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    DeadlineScan,
    NoticeBatch,
    MonthlyReminder,
    MissingSummaries,
    Digest,
    Retention,
}

impl Job {
    pub const ALL: [Job; 6] =
        [Job::DeadlineScan, Job::NoticeBatch, Job::MonthlyReminder, Job::MissingSummaries, Job::Digest, Job::Retention];
    pub fn name(self) -> &'static str {
        match self {
            Job::DeadlineScan => "deadline_scan",
            Job::NoticeBatch => "notice_batch",
            Job::MonthlyReminder => "monthly_reminder",
            Job::MissingSummaries => "missing_summaries",
            Job::Digest => "digest",
            Job::Retention => "retention",
        }
    }
    fn expression(self, c: &ScheduleConfig) -> &str {
        match self {
            Job::DeadlineScan => &c.deadline_scan,
            Job::NoticeBatch => &c.notice_batch,
            Job::MonthlyReminder => &c.monthly_reminder,
            Job::MissingSummaries => &c.missing_summaries,
            Job::Digest => &c.digest,
            Job::Retention => &c.retention,
        }
    }
}

impl ScheduleConfig {
    /// Every problem with the expressions and settings, named by key.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = Job::ALL
            .iter()
            .filter_map(|j| {
                cron::Schedule::from_str(j.expression(self)).err().map(|e| {
                    format!(
                        "[schedule] {} = {:?}: {e} (expected six fields: second minute hour day month weekday)",
                        j.name(),
                        j.expression(self)
                    )
                })
            })
            .collect();
        if !(1..=10).contains(&self.digest_workday) {
            out.push(format!(
                "[schedule] digest_workday = {}: must be 1–10 (the digest is due by the 10th working day, Art. 19 of the reporting measures)",
                self.digest_workday
            ));
        }
        out
    }
}

/// What one job run did, for logs and the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub job: Job,
    pub summary: String,
}

pub struct Scheduler<S> {
    store: Arc<S>,
    engine: Arc<Engine>,
    config: ScheduleConfig,
    retention_days: u32,
    crons: Vec<(Job, cron::Schedule)>,
    last_tick: Option<DateTime<Utc>>,
}

impl<S: Store + JobStore> Scheduler<S> {
    pub fn new(store: Arc<S>, engine: Arc<Engine>, config: ScheduleConfig, retention_days: u32) -> Result<Self, String> {
        if let Some(p) = config.problems().into_iter().next() {
            return Err(p);
        }
        let crons = Job::ALL.iter().map(|&j| (j, cron::Schedule::from_str(j.expression(&config)).expect("checked above"))).collect();
        Ok(Scheduler {
            store,
            engine,
            config,
            retention_days: retention_days.max(crate::rules::MIN_RETENTION_DAYS),
            crons,
            last_tick: None,
        })
    }

    /// Runs every job whose expression fired in `(previous tick, now]`; on the first tick,
    /// every job (the catch-up after a start). Returns what each run did.
    pub async fn tick(&mut self, now: DateTime<Utc>) -> Vec<Outcome> {
        let due: Vec<Job> = match self.last_tick {
            None => Job::ALL.to_vec(),
            Some(last) => self
                .crons
                .iter()
                .filter(|(_, c)| c.after(&last.with_timezone(&Shanghai)).next().is_some_and(|t| t <= now))
                .map(|(j, _)| *j)
                .collect(),
        };
        self.last_tick = Some(now);
        let mut out = Vec::new();
        for job in due {
            let ran = self.run_job(job, now).await;
            crate::metrics::get().job_run(job.name(), ran.is_ok());
            match ran {
                Ok(o) => out.push(o),
                Err(e) => {
                    tracing::warn!(job = job.name(), error = %e, "job failed; it runs again at its next firing");
                    out.push(Outcome { job, summary: format!("failed: {e}") });
                }
            }
        }
        out
    }

    /// Runs one job now, whatever its schedule.
    pub async fn run_job(&self, job: Job, now: DateTime<Utc>) -> Result<Outcome, StoreError> {
        let store = &*self.store;
        let cal = &self.engine.calendar;
        let summary = match job {
            Job::DeadlineScan => {
                let scanned = alerts::scan(store, cal, &self.engine.ownership, now).await?;
                let watched = calendar_watch::watch(store, cal, now).await?;
                [scanned, watched].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join("; ")
            }
            Job::NoticeBatch => {
                let e = crate::fanout::expand_once(store, now, true).await?;
                format!("{} notices to {} destinations ({} without anyone to receive them)", e.parties, e.rows, e.unresolved)
            }
            Job::MonthlyReminder => monthly::reminder(store, cal, &self.engine.policy, now).await?,
            Job::MissingSummaries => monthly::missing(store, cal, &self.engine.policy, now).await?,
            Job::Digest => {
                // On its working day the digest waits for its configured hour, even when a start
                // at 01:00 catches up on every job.
                let cron = self.crons.iter().find(|(j, _)| *j == Job::Digest).map(|(_, c)| c);
                let first_firing = |day: chrono::NaiveDate| {
                    let start = crate::rules::calendar::start_of_day(day);
                    cron.and_then(|c| c.after(&(start - chrono::Duration::seconds(1)).with_timezone(&Shanghai)).next())
                        .map_or(start, |t| t.with_timezone(&Utc))
                };
                monthly::scheduled_digest(store, cal, self.config.digest_workday, first_firing, now).await?
            }
            Job::Retention => {
                // Never what a digest not yet sent counts, nor the month its comparison reads.
                let cutoff =
                    (now - chrono::Duration::days(i64::from(self.retention_days))).min(monthly::digest_reads_from(store, now).await?);
                let purged = store.purge(cutoff).await?;
                let period = now.with_timezone(&Shanghai).date_naive().to_string();
                store
                    .record_job(crate::store::jobs::JobRun {
                        job: "retention",
                        period,
                        at: now,
                        detail: serde_json::json!({ "cutoff": cutoff, "purged": purged }),
                        obligations: vec![],
                        fulfils: vec![],
                        outbox: vec![],
                        audit: vec![],
                    })
                    .await?;
                format!("purged before {cutoff}: {purged:?}")
            }
        };
        if !summary.is_empty() {
            tracing::info!(job = job.name(), %summary, "job ran");
        }
        Ok(Outcome { job, summary })
    }

    /// The next instant any job fires after `after`.
    pub fn next_fire(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.crons.iter().filter_map(|(_, c)| c.after(&after.with_timezone(&Shanghai)).next()).min().map(|t| t.with_timezone(&Utc))
    }

    /// Ticks on the wall clock until shutdown: once at start (catch-up), then at each firing.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(jobs = ?Job::ALL.map(Job::name), "scheduler running (Asia/Shanghai)");
        while !*shutdown.borrow() {
            let now = crate::clock::now();
            self.tick(now).await;
            let next = self.next_fire(now).unwrap_or(now + chrono::Duration::minutes(1));
            // On a simulated clock running faster than real time, its hours pass in less.
            let wait = crate::clock::real((next - crate::clock::now()).to_std().unwrap_or_default());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("scheduler stopped");
    }
}
