//! Intake: turns a submission into canonical reports, grades them, derives obligations, and commits it all at once.
//!
//! Submissions from every source go through one writer task that commits them in groups
//! (group commit): each caller waits for the transaction holding its submission, so a source
//! acknowledges only what is stored, and throughput does not pay one fsync a submission.

pub mod appeals;
pub mod decide;
pub mod json;

use crate::decision::{Decision, Engine, Parsed};
use crate::model::appeal::{AppealChannel, AppealForm};
use crate::model::{Receipt, Submission};
use crate::store::{Store, StoreError};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The most submissions one transaction takes.
const MAX_BATCH: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum IntakeFailure {
    /// Nothing was stored; the source must not acknowledge and should deliver again.
    #[error("not stored: {0}")]
    NotStored(#[from] StoreError),
    #[error("intake is shutting down")]
    ShuttingDown,
}

impl IntakeFailure {
    pub fn is_transient(&self) -> bool {
        match self {
            IntakeFailure::NotStored(e) => e.is_transient(),
            IntakeFailure::ShuttingDown => true,
        }
    }
}

struct Job {
    parsed: Parsed,
    reply: oneshot::Sender<Result<Receipt, IntakeFailure>>,
}

/// Lodges a user's appeal in the store intake was started with.
type LodgeAppeal = dyn Fn(AppealForm, AppealChannel) -> BoxFuture<'static, Result<appeals::Lodged, StoreError>> + Send + Sync;

/// Asks a posted appeal's address to confirm it (`appeals::request`): form, channel, client, link stem.
type RequestAppeal =
    dyn Fn(AppealForm, AppealChannel, String, Option<String>) -> BoxFuture<'static, Result<appeals::Requested, StoreError>> + Send + Sync;
/// Lodges the appeal a confirmation link names (`appeals::confirm`).
type ConfirmAppeal = dyn Fn(String) -> BoxFuture<'static, Result<Option<appeals::Lodged>, StoreError>> + Send + Sync;

/// A handle to the intake writer; cheap to clone, one per source.
#[derive(Clone)]
pub struct Intake {
    jobs: mpsc::Sender<Job>,
    engine: Arc<Engine>,
    lodge: Arc<LodgeAppeal>,
    request: Arc<RequestAppeal>,
    confirm: Arc<ConfirmAppeal>,
}

impl Intake {
    /// Starts the writer task. It ends when every handle is dropped, after finishing queued work.
    ///
    /// The writer runs on a thread of its own: on the shared runtime it would queue behind every
    /// submitter task after each database round trip, and intake would wait on scheduling
    /// rather than on the database.
    pub fn start<S: Store>(store: Arc<S>, engine: Arc<Engine>) -> (Intake, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        // Appeals are few and come from the public: they take the store's own transaction, not
        // the writer's batches, so a flood of them never delays a unit's submission.
        let lodge: Arc<LodgeAppeal> = {
            let (store, engine) = (store.clone(), engine.clone());
            Arc::new(move |form: AppealForm, channel: AppealChannel| {
                let (store, engine) = (store.clone(), engine.clone());
                Box::pin(async move { appeals::lodge(&*store, &engine, &form, channel, crate::clock::now()).await })
            })
        };
        let request: Arc<RequestAppeal> = {
            let (store, engine) = (store.clone(), engine.clone());
            Arc::new(move |form: AppealForm, channel: AppealChannel, client: String, url: Option<String>| {
                let (store, engine) = (store.clone(), engine.clone());
                Box::pin(
                    async move { appeals::request(&*store, &engine, &form, channel, &client, url.as_deref(), crate::clock::now()).await },
                )
            })
        };
        let confirm: Arc<ConfirmAppeal> = {
            let (store, engine) = (store.clone(), engine.clone());
            Arc::new(move |secret: String| {
                let (store, engine) = (store.clone(), engine.clone());
                Box::pin(async move { appeals::confirm(&*store, &engine, &secret, crate::clock::now()).await })
            })
        };
        let writer_engine = engine.clone();
        let task = tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("intake writer runtime");
            runtime.block_on(writer(store, writer_engine, rx));
        });
        (Intake { jobs: tx, engine, lodge, request, confirm }, task)
    }

    /// The rules intake decides by.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Checks a user's appeal and asks the e-mail address it gives to confirm it before it is
    /// lodged (or lodges it at once when it gives a phone only); `client` is who posted it.
    pub async fn request_appeal(
        &self,
        form: AppealForm,
        channel: AppealChannel,
        client: String,
        confirm_url: Option<String>,
    ) -> Result<appeals::Requested, StoreError> {
        (self.request)(form, channel, client, confirm_url).await
    }

    /// Lodges the appeal whose confirmation link carried `secret`; `None` for a bad or used link.
    pub async fn confirm_appeal(&self, secret: String) -> Result<Option<appeals::Lodged>, StoreError> {
        (self.confirm)(secret).await
    }

    /// Checks, routes and stores a user's appeal (Art. 11 [僵尸机制]).
    pub async fn lodge_appeal(&self, form: AppealForm, channel: AppealChannel) -> Result<appeals::Lodged, StoreError> {
        (self.lodge)(form, channel).await
    }

    /// Parses, decides and stores one submission; returns its receipt once committed (the stored
    /// one, marked duplicate, when the same submission came before).
    pub async fn submit(&self, submission: Submission) -> Result<Receipt, IntakeFailure> {
        let items = json::parse_submission(&submission.raw, submission.received_at);
        self.submit_parsed(Parsed::new(submission, items)).await
    }

    /// Like `submit`, for sources that parsed the bytes themselves (spreadsheets, mail).
    pub async fn submit_parsed(&self, parsed: Parsed) -> Result<Receipt, IntakeFailure> {
        let (started, channel) = (std::time::Instant::now(), parsed.submission.channel);
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { parsed, reply }).await.map_err(|_| IntakeFailure::ShuttingDown)?;
        let answered = answer.await.map_err(|_| IntakeFailure::ShuttingDown)?;
        let outcome = match &answered {
            Ok(r) if r.duplicate => "duplicate",
            Ok(r) => r.outcome.code(),
            Err(_) => "not_stored",
        };
        crate::metrics::get().submission(channel.code(), outcome, started.elapsed().as_secs_f64());
        answered
    }
}

type Reply = oneshot::Sender<Result<Receipt, IntakeFailure>>;

/// A batch decided and staged in the store, waiting for the transaction that writes it.
struct InFlight<S: Store> {
    staged: S::Staged,
    /// The batch as parsed, to decide afresh if writing the staged decisions fails.
    parsed: Arc<Vec<Parsed>>,
    replies: Vec<Reply>,
}

/// The writer loop, pipelined: each step commits the batch decided in the step before and,
/// meanwhile, decides the batch that queued up during it (`Store::commit_staged`). When nothing
/// is staged it waits for work, and a batch with nothing queued behind it is committed in one
/// transaction of its own; when something is staged, it takes only what is already queued, so
/// a lone submission is committed without waiting for company.
async fn writer<S: Store>(store: Arc<S>, engine: Arc<Engine>, mut rx: mpsc::Receiver<Job>) {
    let mut in_flight: Option<InFlight<S>> = None;
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        if in_flight.is_none() {
            if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                break;
            }
            if rx.is_empty() {
                // Nothing waits behind this batch, so there is nothing to overlap it with:
                // one transaction reads, decides, writes and commits it, and its submitters
                // hear back a step sooner than through the pipeline.
                let (parsed, replies) = jobs.drain(..).map(|j| (j.parsed, j.reply)).unzip();
                settle(&*store, &engine, parsed, replies).await;
                continue;
            }
        } else {
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        let (parsed, replies): (Vec<Parsed>, Vec<Reply>) = jobs.drain(..).map(|j| (j.parsed, j.reply)).unzip();
        let parsed = Arc::new(parsed);
        let next = (!parsed.is_empty()).then(|| {
            let needs = decide::needs(&parsed, &engine.policy);
            let (batch, engine) = (parsed.clone(), engine.clone());
            // The copy the decision consumes is made where the decision runs, beside the SQL.
            (needs, move |ctx: &mut crate::decision::Context| decide::decide_batch(Vec::clone(&batch), ctx, &engine))
        });
        let previous = in_flight.take();
        let (staged, earlier) = match previous {
            Some(InFlight { staged, parsed, replies }) => (Some(staged), Some((parsed, replies))),
            None => (None, None),
        };
        let step = store.commit_staged(staged, next).await;
        if let Some((earlier_parsed, earlier_replies)) = earlier {
            match step.committed {
                Ok(decisions) => answer(decisions, earlier_replies),
                Err(e) => {
                    // Decide that batch again from scratch, on a fresh read, with retries.
                    tracing::warn!(error = %e, batch = earlier_replies.len(), "staged batch not stored; deciding it again");
                    settle(&*store, &engine, unshare(earlier_parsed), earlier_replies).await;
                }
            }
        }
        if parsed.is_empty() {
            continue;
        }
        match step.next {
            Some(Ok(staged)) => in_flight = Some(InFlight { staged, parsed, replies }),
            Some(Err(e)) => {
                tracing::warn!(error = %e, batch = replies.len(), "could not decide batch ahead; deciding it on its own");
                settle(&*store, &engine, unshare(parsed), replies).await;
            }
            // The commit before it failed, so it was not decided on the rolled-back rows.
            None => settle(&*store, &engine, unshare(parsed), replies).await,
        }
    }
}

/// The batch itself, or a copy while a decision made aside still holds it.
fn unshare(batch: Arc<Vec<Parsed>>) -> Vec<Parsed> {
    Arc::try_unwrap(batch).unwrap_or_else(|shared| Vec::clone(&shared))
}

/// Sends each submitter its receipt.
fn answer(decisions: Vec<Decision>, replies: Vec<Reply>) {
    for (d, reply) in decisions.into_iter().zip(replies) {
        tracing::debug!(submission = %d.submission.id, outcome = d.receipt.outcome.code(), duplicate = d.duplicate, "committed");
        let _ = reply.send(Ok(d.receipt));
    }
}

/// Commits a batch on its own (read, decide and write in one transaction, retried when the store
/// is busy) and answers its submitters, with the receipts or with why nothing was stored.
async fn settle<S: Store>(store: &S, engine: &Engine, parsed: Vec<Parsed>, replies: Vec<Reply>) {
    match commit_with_retry(store, engine, parsed).await {
        Ok(decisions) => answer(decisions, replies),
        Err(e) => {
            tracing::warn!(error = %e, batch = replies.len(), "batch not stored; sources will redeliver");
            // Each submitter hears the failure as it was (a full disk, a busy store), never a
            // stand-in: the sender's next step depends on which it was.
            let shared = std::sync::Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(IntakeFailure::NotStored(StoreError::Shared(shared.clone()))));
            }
        }
    }
}

/// Commits a batch, retrying a busy store with backoff. Each attempt decides afresh from the
/// context it reads, so a retry never acts on a stale view.
///
/// A lone submission of more than `RETRY_COPY_MAX` reports is tried once, decided on itself
/// rather than on a copy kept for the next attempt: for a form of 100,000 reports that copy was
/// 150 MB. If the store is busy its submitter hears so and sends it again, as after any other
/// transient failure.
async fn commit_with_retry<S: Store>(store: &S, engine: &Engine, batch: Vec<Parsed>) -> Result<Vec<Decision>, StoreError> {
    const ATTEMPTS: u32 = 6;
    const RETRY_COPY_MAX: usize = 8_192;
    let reports = batch.iter().map(|p| p.items.as_ref().map_or(0, Vec::len)).sum::<usize>();
    if batch.len() == 1 && reports > RETRY_COPY_MAX {
        let needs = decide::needs(&batch, &engine.policy);
        return store.commit_batch(needs, move |ctx| decide::decide_batch(batch, ctx, engine)).await;
    }
    let mut delay = Duration::from_millis(20);
    for attempt in 1..=ATTEMPTS {
        let needs = decide::needs(&batch, &engine.policy);
        let current = batch.clone();
        match store.commit_batch(needs, move |ctx| decide::decide_batch(current, ctx, engine)).await {
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "store busy, retrying batch");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    unreachable!("the last attempt returns")
}
