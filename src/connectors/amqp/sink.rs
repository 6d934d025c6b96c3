//! AMQP sink: delivers `amqp` outbox rows (notices to the topic exchange, receipts to `reply_to`) with publisher confirms.
//!
//! Every message carries the outbox row id as its `message_id`, so a receiver can drop the
//! duplicate that a crash between the broker's confirm and our bookkeeping may cause.
//! Messages are published `mandatory`: one the broker cannot route comes back, is logged, and
//! is tried again later with backoff.

use super::{Backoff, header};
use crate::decision::OutboxKind;
use crate::store::{OutboxItem, Store};
use chrono::Duration as ChronoDuration;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel as AmqpChannel, Confirmation, ExchangeKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How many times a row is tried before it is marked failed (and audited) for a person to look at.
const MAX_ATTEMPTS: u32 = 20;

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub name: String,
    pub url: String,
    /// The topic exchange notices go to.
    pub exchange: String,
    /// How often to look for due rows when there were none.
    pub poll: Duration,
}

pub async fn run<S: Store>(config: SinkConfig, store: Arc<S>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::new(&config.name);
    while !*shutdown.borrow() {
        match deliver(&config, &*store, &mut shutdown, &mut backoff).await {
            Ok(()) => break,
            Err(e) => backoff.wait_after(&config.name, "AMQP sink", &e, &mut shutdown).await,
        }
    }
    tracing::info!(connector = %config.name, "AMQP sink stopped");
}

async fn deliver<S: Store>(
    config: &SinkConfig,
    store: &S,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let conn = super::connect(&config.url, &format!("tongbao-sink-{}", config.name)).await.map_err(|e| e.to_string())?;
    let channel = conn.create_channel().await.map_err(|e| e.to_string())?;
    channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| e.to_string())?;
    channel
        .exchange_declare(
            config.exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(connector = %config.name, exchange = %config.exchange, "AMQP sink publishing");
    backoff.reset();
    loop {
        if *shutdown.borrow() {
            let _ = conn.close(200, "tongbao stopping".into()).await;
            return Ok(());
        }
        let rows = store.due_outbox("amqp", crate::clock::now(), 256).await.map_err(|e| e.to_string())?;
        if rows.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(config.poll) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let claimed: Vec<_> = rows.iter().map(|r| r.id).collect();
        if let Err(e) = publish_batch(config, store, &channel, rows).await {
            // What this connection could not deliver is due again for the next one at once,
            // not after the claim's lease (another instance may take it meanwhile).
            if let Err(release) = store.outbox_release(&claimed, crate::clock::now()).await {
                tracing::warn!(connector = %config.name, error = %release, "could not give undelivered rows back");
            }
            return Err(e);
        }
    }
}

/// Publishes a batch, then waits for every confirm; only confirmed rows are marked sent.
async fn publish_batch<S: Store>(config: &SinkConfig, store: &S, channel: &AmqpChannel, rows: Vec<OutboxItem>) -> Result<(), String> {
    let mut pending = Vec::with_capacity(rows.len());
    for row in rows {
        let Some((exchange, routing_key, body, props)) = message_for(config, store, &row).await? else {
            store.outbox_retry(row.id, "nothing to send: the subject no longer exists", None).await.map_err(|e| e.to_string())?;
            continue;
        };
        let confirm = channel
            .basic_publish(
                exchange.as_str().into(),
                ShortString::from(routing_key.as_str()),
                BasicPublishOptions { mandatory: true, ..Default::default() },
                &body,
                props,
            )
            .await
            .map_err(|e| e.to_string())?;
        pending.push((row, routing_key, confirm));
    }
    let mut sent = Vec::new();
    for (row, routing_key, confirm) in pending {
        let outcome = confirm.await.map_err(|e| e.to_string())?;
        let problem = match outcome {
            Confirmation::Ack(None) | Confirmation::NotRequested => None,
            Confirmation::Ack(Some(returned)) => {
                Some(format!("unroutable ({} {}): no queue is bound for {routing_key}", returned.reply_code, returned.reply_text))
            }
            Confirmation::Nack(_) => Some("the broker refused the message (nack)".to_string()),
        };
        match problem {
            None => sent.push(row.id),
            Some(problem) => {
                let attempts = row.attempts + 1;
                let next = (attempts < MAX_ATTEMPTS).then(|| crate::clock::now() + ChronoDuration::seconds(2i64.pow(attempts.min(12))));
                tracing::warn!(connector = %config.name, outbox = %row.id, kind = %row.kind, attempts, problem = %problem, "not delivered; will retry");
                store.outbox_retry(row.id, &problem, next).await.map_err(|e| e.to_string())?;
            }
        }
    }
    store.outbox_sent(&sent, crate::clock::now()).await.map_err(|e| e.to_string())?;
    Ok(())
}

type Message = (String, String, Vec<u8>, BasicProperties);

/// The exchange, routing key, body and properties for one outbox row.
async fn message_for<S: Store>(config: &SinkConfig, store: &S, row: &OutboxItem) -> Result<Option<Message>, String> {
    let mut headers = FieldTable::default();
    header(&mut headers, "x-tongbao-kind", row.kind.code());
    let base = BasicProperties::default()
        .with_message_id(row.id.to_string().into())
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_app_id("tongbao".into())
        .with_timestamp(crate::clock::now().timestamp().max(0) as u64);
    match row.kind {
        OutboxKind::Notice => {
            let Ok(report_id) = row.subject_id.parse() else { return Ok(None) };
            let Some(report) = store.report(report_id, None).await.map_err(|e| e.to_string())? else { return Ok(None) };
            header(&mut headers, "x-tongbao-report-id", row.subject_id.clone());
            if let Some(p) = row.payload.get("province").and_then(|p| p.as_str()) {
                header(&mut headers, "x-tongbao-province", p);
            }
            let body = serde_json::json!({ "notice": row.payload, "report": report });
            Ok(Some((config.exchange.clone(), row.recipient.clone(), body.to_string().into_bytes(), base.with_headers(headers))))
        }
        OutboxKind::Receipt => {
            let Ok(submission_id) = row.subject_id.parse() else { return Ok(None) };
            let Some(receipt) = store.receipt(submission_id, None).await.map_err(|e| e.to_string())? else { return Ok(None) };
            let mut props = base.with_headers(headers);
            if let Some(c) = row.payload.get("correlation_id").and_then(|c| c.as_str()) {
                props = props.with_correlation_id(c.into());
            }
            let body = serde_json::to_vec(&receipt).map_err(|e| e.to_string())?;
            // Receipts go straight to the sender's reply queue through the default exchange.
            Ok(Some((String::new(), row.recipient.clone(), body, props)))
        }
        // Addressed to one unit's systems (`to.<UNIT>.<kind>`): the payload is the message.
        OutboxKind::Alert | OutboxKind::PublicNotice | OutboxKind::Digest | OutboxKind::Batch => {
            header(&mut headers, "x-tongbao-subject", row.subject_id.clone());
            let body = serde_json::json!({ "kind": row.kind, "subject_id": row.subject_id, "message": row.payload });
            Ok(Some((config.exchange.clone(), row.recipient.clone(), body.to_string().into_bytes(), base.with_headers(headers))))
        }
        // Never a reason to stop the sink: the row is marked failed and audited.
        OutboxKind::Reminder
        | OutboxKind::Overdue
        | OutboxKind::Escalation
        | OutboxKind::SummaryReminder
        | OutboxKind::MissingSummaries
        // A draft is a party row: the fan-out tells CSB of it as an alert, it is never sent itself.
        | OutboxKind::NoticeDraft => Ok(None),
    }
}
