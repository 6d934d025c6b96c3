//! Sources and sinks: each turns what arrives into submissions, or delivers outbox rows; one folder per foreign protocol.

pub mod amqp;
pub mod folder;
pub mod http;
pub mod mail;

use crate::config::{Connector, ConnectorConfig};
use crate::intake::Intake;
use crate::model::Submission;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Reads a secret from the environment variable a connector names.
fn secret(c: &Connector, var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            tracing::warn!(connector = %c.name, kind = c.config.kind(), reason = %format!("environment variable {var} is not set"), "idle");
            None
        }
    }
}

/// Starts every configured connector this build can run; logs the others as idle, with the reason.
pub fn start<S: Store>(
    connectors: &[Connector],
    intake: &Intake,
    store: &Arc<S>,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if connectors.is_empty() {
        tracing::info!(message = "no connectors configured; reports arrive through `tongbao ingest` only");
    }
    for c in connectors {
        match &c.config {
            ConnectorConfig::AmqpSource { url_env, queue, prefetch } => {
                let Some(url) = secret(c, url_env) else { continue };
                let config = amqp::source::SourceConfig { name: c.name.clone(), url, queue: queue.clone(), prefetch: *prefetch };
                tasks.push(tokio::spawn(amqp::source::run(config, intake.clone(), shutdown.clone())));
            }
            ConnectorConfig::AmqpSink { url_env, exchange } => {
                let Some(url) = secret(c, url_env) else { continue };
                let config =
                    amqp::sink::SinkConfig { name: c.name.clone(), url, exchange: exchange.clone(), poll: Duration::from_millis(250) };
                tasks.push(tokio::spawn(amqp::sink::run(config, store.clone(), shutdown.clone())));
            }
            ConnectorConfig::FolderSource { path, poll_seconds } => {
                tracing::info!(connector = %c.name, kind = c.config.kind(), path = %path.display(), "started");
                let source = folder::FolderSource::new(path.clone(), Duration::from_secs(*poll_seconds));
                tasks.push(tokio::spawn(source.run(intake.clone(), shutdown.clone())));
            }
            other => {
                tracing::warn!(
                    connector = %c.name,
                    kind = other.kind(),
                    reason = "this build has no such connector yet",
                    "idle"
                );
            }
        }
    }
    tasks
}

/// Submits with retries while the store is busy; gives up on shutdown. Sources call this and
/// acknowledge only on `Some`.
pub async fn submit_until_stored(
    intake: &Intake,
    submission: Submission,
    shutdown: &watch::Receiver<bool>,
) -> Option<crate::model::Receipt> {
    let mut delay = Duration::from_millis(100);
    loop {
        match intake.submit(submission.clone()).await {
            Ok(r) => return Some(r),
            Err(e) if e.is_transient() && !*shutdown.borrow() => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "submission not stored yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            Err(e) => {
                tracing::error!(error = %e, "submission not stored; it stays where it is for the next run");
                return None;
            }
        }
    }
}
