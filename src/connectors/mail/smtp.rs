//! SMTP sink: delivers `email` outbox rows (receipts as replies, notices) through a pooled lettre transport, retrying what fails for a while.
//!
//! A row is marked sent only after the server accepted the message. A crash between the two
//! sends it again with the same Message-ID (derived from the row id), which receivers can drop.
//! The whole conversation of one message has a deadline, not just the connect, so a server
//! that stalls mid-DATA cannot hold a row forever.

use super::compose::{self, Rendered, Thread};
use crate::decision::OutboxKind;
use crate::model::OutboxId;
use crate::store::{OutboxItem, Store};
use chrono::Duration as ChronoDuration;
use futures_util::StreamExt;
use lettre::message::Mailbox as Address;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How many times a row is tried before it is marked failed (and audited) for a person to look at.
const MAX_ATTEMPTS: u32 = 20;

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub name: String,
    /// `smtp://host:25`, `smtp://user:pass@host:587?tls=required`, `smtps://host:465` (from the environment).
    pub url: String,
    pub from: Address,
    /// Messages in flight at once (and pooled connections).
    pub concurrency: usize,
    /// Deadline for one message's whole SMTP conversation.
    pub timeout: Duration,
    pub poll: Duration,
}

/// Why one row was not delivered.
#[derive(Debug)]
enum Failure {
    /// Worth trying again later (server down, 4xx, timeout).
    Transient(String),
    /// Will never succeed (5xx, bad address, subject gone).
    Permanent(String),
}

/// How often an idle sink asks its server whether it answers.
const RECHECK_IDLE: Duration = Duration::from_secs(30);

pub async fn run<S: Store>(config: SmtpConfig, store: Arc<S>, mut shutdown: watch::Receiver<bool>) {
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url) {
        Ok(b) => b
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new().max_size(config.concurrency as u32).idle_timeout(Duration::from_secs(30)))
            .build(),
        Err(e) => {
            tracing::warn!(connector = %config.name, error = %e, "idle: the SMTP URL is not valid");
            crate::metrics::get().connector(&config.name, false);
            return;
        }
    };
    tracing::info!(connector = %config.name, from = %config.from, "SMTP sink sending");
    let env = crate::templates::environment();
    let mut backoff = crate::connectors::Backoff::new(&config.name);
    // A pooled transport holds no standing connection: the sink counts as connected once the
    // server answers, and while its last batch went through.
    let mut up = false;
    let mut checked = std::time::Instant::now() - RECHECK_IDLE;
    while !*shutdown.borrow() {
        // Claimed no more than are sent at once: a claim lasts the store's lease, and rows
        // claimed to wait behind slow sends could outlive it and be sent by another instance too.
        let rows = match store.due_outbox("email", crate::clock::now(), config.concurrency as u32).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(connector = %config.name, error = %e, "cannot read the outbox; retrying");
                Vec::new()
            }
        };
        if rows.is_empty() {
            // Nothing to send to tell whether the server is there: down, or idle a while, ask it,
            // so readiness follows the server without mail to send.
            if !up || checked.elapsed() >= RECHECK_IDLE {
                let answers = transport.test_connection().await.unwrap_or(false);
                checked = std::time::Instant::now();
                if answers && !up {
                    backoff.reset();
                } else if !answers && up {
                    crate::metrics::get().connector(&config.name, false);
                }
                up = answers;
            }
            tokio::select! {
                _ = tokio::time::sleep(config.poll) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let sent = send_batch(&config, &*store, &transport, &env, rows).await;
        checked = std::time::Instant::now();
        // Nothing went through: the server is down, or it refused every recipient for good (those
        // rows are failed and will not come back); only the first is a lost connection.
        up = match sent {
            Ok(true) => true,
            Ok(false) => transport.test_connection().await.unwrap_or(false),
            Err(_) => false,
        };
        match sent {
            Ok(_) if up => backoff.reset(),
            Ok(_) => backoff.wait_after(&config.name, "SMTP sink", "no message of the batch was accepted", &mut shutdown).await,
            Err(e) => backoff.wait_after(&config.name, "SMTP sink", &e, &mut shutdown).await,
        }
    }
    tracing::info!(connector = %config.name, "SMTP sink stopped");
}

/// Sends a batch concurrently and records each outcome. `Ok(true)` when at least one went through.
async fn send_batch<S: Store>(
    config: &SmtpConfig,
    store: &S,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    env: &minijinja::Environment<'_>,
    rows: Vec<OutboxItem>,
) -> Result<bool, String> {
    let outcomes: Vec<(OutboxItem, Result<(), Failure>)> = futures_util::stream::iter(rows)
        .map(|row| async move {
            let outcome = deliver(config, store, transport, env, &row).await;
            (row, outcome)
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect()
        .await;
    let mut sent: Vec<OutboxId> = Vec::new();
    for (row, outcome) in outcomes {
        match outcome {
            Ok(()) => sent.push(row.id),
            Err(Failure::Transient(why)) => {
                let attempts = row.attempts + 1;
                let next = (attempts < MAX_ATTEMPTS).then(|| crate::clock::now() + ChronoDuration::seconds(2i64.pow(attempts.min(11))));
                if next.is_none() {
                    tracing::error!(connector = %config.name, outbox = %row.id, attempts, error = %why, "mail given up after repeated failures; marked failed");
                } else {
                    tracing::warn!(connector = %config.name, outbox = %row.id, attempts, error = %why, "mail not sent; will retry");
                }
                store.outbox_retry(row.id, &why, next).await.map_err(|e| e.to_string())?;
            }
            Err(Failure::Permanent(why)) => {
                tracing::error!(connector = %config.name, outbox = %row.id, recipient = %row.recipient, error = %why, "mail refused for good; marked failed");
                store.outbox_retry(row.id, &why, None).await.map_err(|e| e.to_string())?;
            }
        }
    }
    let any = !sent.is_empty();
    store.outbox_sent(&sent, crate::clock::now()).await.map_err(|e| e.to_string())?;
    Ok(any)
}

async fn deliver<S: Store>(
    config: &SmtpConfig,
    store: &S,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    env: &minijinja::Environment<'_>,
    row: &OutboxItem,
) -> Result<(), Failure> {
    let message = if row.kind == OutboxKind::Digest {
        let d: crate::digest::Digest = serde_json::from_value(row.payload["digest"].clone())
            .map_err(|e| Failure::Permanent(format!("the digest row does not hold a digest: {e}")))?;
        let mail = compose::digest(env, &label(row), &d).map_err(Failure::Permanent)?;
        compose::digest_message(&config.from, &row.recipient, row.id, mail).map_err(Failure::Permanent)?
    } else {
        let (rendered, thread) = render(store, env, row).await?;
        compose::message(&config.from, &row.recipient, row.id, rendered, &thread).map_err(Failure::Permanent)?
    };
    match tokio::time::timeout(config.timeout, transport.send(message)).await {
        Err(_) => Err(Failure::Transient(format!("SMTP conversation took longer than {} s", config.timeout.as_secs()))),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is_permanent() => Err(Failure::Permanent(e.to_string())),
        Ok(Err(e)) => Err(Failure::Transient(e.to_string())),
    }
}

/// Whom a mail greets: the contact's unit and name, else the address.
fn label(row: &OutboxItem) -> String {
    row.payload.get("recipient_label").and_then(|l| l.as_str()).unwrap_or(&row.recipient).to_string()
}

/// The texts and threading of one row, from what the store holds now.
async fn render<S: Store>(store: &S, env: &minijinja::Environment<'_>, row: &OutboxItem) -> Result<(Rendered, Thread), Failure> {
    let transient = |e: crate::store::StoreError| Failure::Transient(e.to_string());
    match row.kind {
        OutboxKind::Receipt => {
            let id = row.subject_id.parse().map_err(|_| Failure::Permanent(format!("bad submission id {}", row.subject_id)))?;
            let mut receipt =
                store.receipt(id, None).await.map_err(transient)?.ok_or(Failure::Permanent("the submission no longer exists".into()))?;
            // The mail being answered, for its subject and thread: a resent mail is answered
            // in its own thread, with the first one's receipt marked as a repeat.
            let raw = store.submission_raw(id).await.map_err(transient)?.unwrap_or_default();
            let original = super::parse::parse_headers(&raw).ok();
            let subject = original.as_ref().map(|m| m.subject.clone()).unwrap_or_default();
            let mut thread = Thread {
                in_reply_to: original.as_ref().and_then(|m| m.message_id.clone()),
                references: original.map(|m| m.references).unwrap_or_default(),
            };
            if row.payload.get("repeat").and_then(|r| r.as_bool()) == Some(true) {
                receipt.duplicate = true;
                let resent = row.payload.get("in_reply_to").and_then(|m| m.as_str()).map(str::to_string);
                thread = Thread { in_reply_to: resent.clone(), references: resent.into_iter().collect() };
            }
            Ok((compose::receipt(env, &receipt, &subject).map_err(Failure::Permanent)?, thread))
        }
        OutboxKind::Notice => {
            let id = row.subject_id.parse().map_err(|_| Failure::Permanent(format!("bad report id {}", row.subject_id)))?;
            let report =
                store.report(id, None).await.map_err(transient)?.ok_or(Failure::Permanent("the report no longer exists".into()))?;
            Ok((compose::notice(env, &report, &label(row), &row.payload).map_err(Failure::Permanent)?, Thread::default()))
        }
        // A public notice reads as an alert does: its title, then its lines.
        OutboxKind::Alert | OutboxKind::PublicNotice => {
            Ok((compose::alert(env, &label(row), &row.payload).map_err(Failure::Permanent)?, Thread::default()))
        }
        OutboxKind::Batch => Ok((compose::batch(env, &label(row), &row.payload).map_err(Failure::Permanent)?, Thread::default())),
        other => Err(Failure::Permanent(format!("the SMTP sink does not send outbox rows of kind {other}"))),
    }
}
