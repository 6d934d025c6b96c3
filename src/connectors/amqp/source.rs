//! AMQP source: consumes report messages, acknowledges only what is committed, dead-letters what can never be accepted, reconnects.
//!
//! Each delivery becomes one submission, keyed by the message's `message_id` (else its body
//! hash) and attributed to the unit whose AMQP login is the message's `user_id` (RabbitMQ
//! refuses a `user_id` that is not the connection's login, so it cannot be forged).
//! Deliveries are submitted concurrently; acknowledgements go out with `multiple` up to the
//! highest delivery tag below which everything has committed.

use super::{Backoff, header, short};
use crate::connectors::submit_parsed_until_stored;
use crate::decision::Parsed;
use crate::intake::Intake;
use crate::model::submission::{Sender, sha256_hex};
use crate::model::{Channel, ErrorCode, IntakeError, Outcome, Receipt, Submission};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel as AmqpChannel, Confirmation, ExchangeKind};
use std::collections::BTreeSet;
use tokio::sync::{mpsc, watch};

/// How to reach the queue and what to declare.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub url: String,
    pub queue: String,
    pub prefetch: u16,
}

impl SourceConfig {
    /// The dead-letter exchange and queue that go with the queue.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.queue)
    }
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.queue)
    }
}

/// Runs until shutdown: connects, declares, consumes; on any connection or channel failure
/// waits with backoff and starts again. Unacknowledged deliveries return to the queue when a
/// connection dies, and their dedupe keys make the second delivery add nothing.
pub async fn run(config: SourceConfig, intake: Intake, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::new(&config.name);
    while !*shutdown.borrow() {
        match consume(&config, &intake, &mut shutdown, &mut backoff).await {
            Ok(()) => break,
            Err(e) => backoff.wait_after(&config.name, "AMQP source", &e, &mut shutdown).await,
        }
    }
    tracing::info!(connector = %config.name, "AMQP source stopped");
}

/// Declares the durable queue with its dead-letter exchange and queue.
pub async fn declare_topology(channel: &AmqpChannel, config: &SourceConfig) -> lapin::Result<()> {
    let durable = QueueDeclareOptions { durable: true, ..Default::default() };
    let dlx = config.dead_letter_exchange();
    channel
        .exchange_declare(
            dlx.as_str().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    channel.queue_declare(config.dead_letter_queue().as_str().into(), durable, FieldTable::default()).await?;
    channel
        .queue_bind(
            config.dead_letter_queue().as_str().into(),
            dlx.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut args = FieldTable::default();
    args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(LongString::from(dlx)));
    channel.queue_declare(config.queue.as_str().into(), durable, args).await?;
    Ok(())
}

/// The outcome of one delivery, reported to the acker.
enum Done {
    /// Stored (and dead-lettered if refused): acknowledge.
    Ack(u64),
    /// Not stored and not to be acknowledged: the connection is going away.
    Abandon,
}

async fn consume(
    config: &SourceConfig,
    intake: &Intake,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let e = |e: lapin::Error| e.to_string();
    let conn = super::connect(&config.url, &format!("tongbao-source-{}", config.name)).await.map_err(e)?;
    let channel = conn.create_channel().await.map_err(e)?;
    declare_topology(&channel, config).await.map_err(e)?;
    channel.basic_qos(config.prefetch, BasicQosOptions::default()).await.map_err(e)?;
    // Dead-lettering publishes on its own channel, with confirms, before the original is acked.
    let dead = conn.create_channel().await.map_err(e)?;
    dead.confirm_select(ConfirmSelectOptions::default()).await.map_err(e)?;
    let tag = format!("tongbao-{}", config.name);
    let mut consumer = channel
        .basic_consume(config.queue.as_str().into(), tag.as_str().into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .map_err(e)?;
    tracing::info!(connector = %config.name, queue = %config.queue, prefetch = config.prefetch, "AMQP source consuming");
    backoff.reset();

    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut outstanding: BTreeSet<u64> = BTreeSet::new();
    let mut highest_seen = 0u64;
    let mut acked_up_to = 0u64;
    let mut in_flight = 0usize;
    let mut cancelled = false;
    let mut failure: Option<String> = None;

    loop {
        tokio::select! {
            biased;
            Some(done) = done_rx.recv() => {
                in_flight -= 1;
                let mut batch = vec![done];
                while let Ok(more) = done_rx.try_recv() {
                    in_flight -= 1;
                    batch.push(more);
                }
                for d in batch {
                    if let Done::Ack(tag) = d {
                        outstanding.remove(&tag);
                    }
                }
                let up_to = outstanding.first().map_or(highest_seen, |first| first - 1);
                if up_to > acked_up_to {
                    if let Err(e) = channel.basic_ack(up_to, BasicAckOptions { multiple: true }).await {
                        failure.get_or_insert(e.to_string());
                    } else {
                        acked_up_to = up_to;
                    }
                }
                if (cancelled || failure.is_some()) && in_flight == 0 {
                    break;
                }
            }
            delivery = consumer.next(), if !cancelled && failure.is_none() => {
                match delivery {
                    Some(Ok(delivery)) => {
                        highest_seen = delivery.delivery_tag;
                        outstanding.insert(delivery.delivery_tag);
                        in_flight += 1;
                        let (intake, dead, config, done_tx, stop) = (intake.clone(), dead.clone(), config.clone(), done_tx.clone(), shutdown.clone());
                        tokio::spawn(async move {
                            let done = handle(delivery, &intake, &dead, &config, &stop).await;
                            let _ = done_tx.send(done);
                        });
                    }
                    Some(Err(e)) => {
                        failure = Some(e.to_string());
                        if in_flight == 0 { break; }
                    }
                    None => {
                        failure = Some("the consumer was cancelled by the broker".into());
                        if in_flight == 0 { break; }
                    }
                }
            }
            _ = shutdown.changed(), if !cancelled => {
                // Stop taking new deliveries, finish and acknowledge what is in flight.
                cancelled = true;
                let _ = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                if in_flight == 0 { break; }
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => {
            let _ = channel.close(200, "tongbao stopping".into()).await;
            let _ = conn.close(200, "tongbao stopping".into()).await;
            Ok(())
        }
    }
}

/// One delivery: submit it, dead-letter it if it can never be accepted, and say whether to ack.
async fn handle(
    delivery: lapin::message::Delivery,
    intake: &Intake,
    dead: &AmqpChannel,
    config: &SourceConfig,
    stop: &watch::Receiver<bool>,
) -> Done {
    let props = &delivery.properties;
    let user = props.user_id().as_ref().map(short).unwrap_or_default();
    let dedupe_key = match props.message_id() {
        Some(id) => format!("amqp:{user}:{}", short(id)),
        None => format!("amqp:{user}:sha256:{}", sha256_hex(&delivery.data)),
    };
    let submission = Submission {
        id: crate::model::SubmissionId::new(),
        dedupe_key,
        channel: Channel::Amqp,
        sender: Sender::AmqpUser(user),
        external_id: props.message_id().as_ref().map(short),
        reply_to: props.reply_to().as_ref().map(short),
        correlation_id: props.correlation_id().as_ref().map(short),
        received_at: crate::clock::now(),
        raw: delivery.data.clone(),
    };
    let items = match refused_by_properties(props) {
        Some(e) => Err(e),
        None => crate::intake::json::parse_submission(&submission.raw, submission.received_at),
    };
    let Some(receipt) = submit_parsed_until_stored(intake, Parsed::new(submission, items), stop).await else { return Done::Abandon };
    if receipt.outcome == Outcome::Rejected
        && !receipt.duplicate
        && let Err(e) = dead_letter(dead, config, &delivery, &receipt).await
    {
        tracing::warn!(connector = %config.name, error = %e, "could not dead-letter; the message will be redelivered");
        return Done::Abandon;
    }
    Done::Ack(delivery.delivery_tag)
}

/// A message whose properties say its body is no canonical JSON: another content type, a
/// character set other than UTF-8, or a compression. Refused at the property, so the sender
/// learns what to change rather than where the JSON parser first stumbled.
fn refused_by_properties(props: &lapin::BasicProperties) -> Option<IntakeError> {
    if let Some(encoding) = props.content_encoding().as_ref().map(short) {
        let e = encoding.trim().to_ascii_lowercase();
        // kombu (Celery) says "binary" of bytes bodies; some clients put the charset here.
        if !["", "identity", "binary", "7bit", "8bit", "utf-8", "utf8", "us-ascii"].contains(&e.as_str()) {
            return Some(IntakeError::new(
                ErrorCode::NotJson,
                "properties.content_encoding",
                "未压缩的 JSON（content_encoding 不填或为 identity）",
                Some(encoding),
            ));
        }
    }
    let content_type = props.content_type().as_ref().map(short)?;
    let lower = content_type.to_ascii_lowercase();
    let mut parts = lower.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    let json = matches!(essence, "" | "application/json" | "text/json" | "text/plain" | "application/octet-stream" | "application/data")
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    let charset_ok = parts.filter_map(|p| p.strip_prefix("charset=")).all(|c| matches!(c.trim_matches('"'), "utf-8" | "utf8" | "us-ascii"));
    if json && charset_ok {
        return None;
    }
    Some(IntakeError::new(
        ErrorCode::NotJson,
        "properties.content_type",
        "application/json（UTF-8 编码的规范 JSON 报告；报送表请通过邮件或上传页面报送）",
        Some(content_type),
    ))
}

/// Publishes the refused message to the dead-letter exchange with headers saying why, and
/// waits for the broker's confirm.
async fn dead_letter(
    dead: &AmqpChannel,
    config: &SourceConfig,
    delivery: &lapin::message::Delivery,
    receipt: &Receipt,
) -> Result<(), String> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    let first = receipt.errors.first();
    header(&mut headers, "x-tongbao-submission-id", receipt.submission_id.to_string());
    header(&mut headers, "x-tongbao-error-code", first.map(|e| e.code.to_string()).unwrap_or_default());
    header(&mut headers, "x-tongbao-error-place", first.map(|e| e.place.clone()).unwrap_or_default());
    header(&mut headers, "x-tongbao-error-message", first.map(|e| e.message.clone()).unwrap_or_default());
    header(
        &mut headers,
        "x-tongbao-error-message-en",
        first.map(|e| format!("{} at {}", e.code, if e.place.is_empty() { "(whole message)" } else { &e.place })).unwrap_or_default(),
    );
    header(&mut headers, "x-tongbao-errors", serde_json::to_string(&receipt.errors).unwrap_or_default());
    header(&mut headers, "x-tongbao-source-queue", config.queue.clone());
    // The broker checks `user_id` against our own login, so the sender's goes into a header.
    let original = &delivery.properties;
    if let Some(user) = original.user_id() {
        header(&mut headers, "x-tongbao-original-user-id", short(user));
    }
    let mut props = lapin::BasicProperties::default().with_headers(headers).with_delivery_mode(2);
    if let Some(v) = original.message_id() {
        props = props.with_message_id(v.clone());
    }
    if let Some(v) = original.correlation_id() {
        props = props.with_correlation_id(v.clone());
    }
    if let Some(v) = original.content_type() {
        props = props.with_content_type(v.clone());
    }
    if let Some(v) = original.timestamp() {
        props = props.with_timestamp(*v);
    }
    let confirm = dead
        .basic_publish(
            config.dead_letter_exchange().as_str().into(),
            ShortString::from(config.queue.as_str()),
            BasicPublishOptions::default(),
            &delivery.data,
            props,
        )
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    match confirm {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        other => Err(format!("broker did not take the dead letter: {other:?}")),
    }
}
