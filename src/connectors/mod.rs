//! Sources and sinks: each turns what arrives into submissions, or delivers outbox rows; one folder per foreign protocol.

pub mod amqp;
pub mod folder;
pub mod http;
pub mod lease;
pub mod mail;

use crate::config::{Connector, ConnectorConfig, Problem};
use crate::decision::Parsed;
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
            // Configured but never connecting: the hub is not ready (`/readyz`) while it is so.
            crate::metrics::get().connector_idle(&c.name, &format!("environment variable {var} is not set"));
            None
        }
    }
}

/// What is wrong with the configured connectors that only their own libraries can tell: a From
/// address the SMTP library would refuse. `tongbao check` and every command that loads the
/// configuration report these beside the configuration's own problems.
pub fn problems(connectors: &[Connector]) -> Vec<Problem> {
    connectors
        .iter()
        .filter_map(|c| match &c.config {
            ConnectorConfig::SmtpSink { from, .. } if !mail::compose::is_mailbox(from) => Some(Problem {
                file: c.file.clone(),
                message: format!("from = {from:?} is no mail address (expected e.g. \"通报中心 <tongbao@cncert.example.cn>\")"),
            }),
            _ => None,
        })
        .collect()
}

/// The addresses the hub sends mail from (each SMTP sink's From), lower-case.
pub fn hub_addresses(connectors: &[Connector]) -> Vec<String> {
    connectors
        .iter()
        .filter_map(|c| match &c.config {
            ConnectorConfig::SmtpSink { from, .. } => mail::compose::address_of(from),
            _ => None,
        })
        .collect()
}

/// Starts every configured connector this build can run; logs the others as idle, with the reason.
/// `lease` is how long an instance holds what one instance at a time may do (an IMAP mailbox);
/// `public_url` is where users reach the hub, for the links mailed to them.
pub fn start<S: Store + Send + Sync + 'static>(
    connectors: &[Connector],
    intake: &Intake,
    store: &Arc<S>,
    lease: Duration,
    public_url: Option<&str>,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let own_addresses = hub_addresses(connectors);
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
                crate::metrics::get().connector(&c.name, false);
                let source = folder::FolderSource::new(&c.name, path.clone(), Duration::from_secs(*poll_seconds));
                tasks.push(tokio::spawn(source.run(intake.clone(), shutdown.clone())));
            }
            ConnectorConfig::MaildirSource { path, mail: settings } => {
                let (config, folders) = mail_source_config(&c.name, settings, &own_addresses, public_url);
                tasks.push(tokio::spawn(mail::source::run_maildir(config, path.clone(), folders, intake.clone(), shutdown.clone())));
            }
            ConnectorConfig::ImapSource { host, port, security, user_env, password_env, mailbox, mail: settings } => {
                let (Some(user), Some(password)) = (secret(c, user_env), secret(c, password_env)) else { continue };
                let (config, folders) = mail_source_config(&c.name, settings, &own_addresses, public_url);
                let account = mail::mailbox::ImapAccount {
                    host: host.clone(),
                    port: *port,
                    security: *security,
                    user,
                    password,
                    mailbox: mailbox.clone(),
                    folders,
                };
                let lease = lease::Lease::new(store.clone(), &imap_lease_name(&account), lease);
                tasks.push(tokio::spawn(mail::source::run_imap(config, account, intake.clone(), lease, shutdown.clone())));
            }
            ConnectorConfig::SmtpSink { url_env, from, concurrency, timeout_seconds } => {
                let Some(url) = secret(c, url_env) else { continue };
                let Ok(from) = from.parse() else {
                    tracing::warn!(connector = %c.name, reason = "from is no mail address", "idle");
                    crate::metrics::get().connector(&c.name, false);
                    continue;
                };
                let config = mail::smtp::SmtpConfig {
                    name: c.name.clone(),
                    url,
                    from,
                    concurrency: *concurrency,
                    timeout: Duration::from_secs(*timeout_seconds),
                    poll: Duration::from_millis(500),
                };
                tasks.push(tokio::spawn(mail::smtp::run(config, store.clone(), shutdown.clone())));
            }
        }
    }
    tasks
}

/// The lease of one mailbox on one server: connectors of any instance configured with it share it.
pub fn imap_lease_name(account: &mail::mailbox::ImapAccount) -> String {
    format!("imap:{}@{}:{}/{}", account.user, account.host, account.port, account.mailbox)
}

fn mail_source_config(
    name: &str,
    s: &crate::config::MailSourceSettings,
    own_addresses: &[String],
    public_url: Option<&str>,
) -> (mail::source::SourceConfig, mail::mailbox::Folders) {
    let config = mail::source::SourceConfig {
        own_addresses: own_addresses.to_vec(),
        confirm_url: public_url.map(|u| format!("{}/appeal/confirm/", u.trim_end_matches('/'))),
        name: name.to_string(),
        poll: Duration::from_secs(s.poll_seconds.max(1)),
        batch: s.fetch_batch.max(1),
        require_dkim: s.require_dkim,
        purpose: s.purpose,
        limits: mail::parse::MailLimits { max_mail_bytes: s.max_mail_mb << 20, ..Default::default() },
    };
    (config, mail::mailbox::Folders { processed: s.processed_folder.clone(), quarantine: s.quarantine_folder.clone() })
}

/// Submits with retries while the store is busy; gives up on shutdown. Sources call this and
/// acknowledge only on `Some`.
pub async fn submit_until_stored(
    intake: &Intake,
    submission: Submission,
    shutdown: &watch::Receiver<bool>,
) -> Option<crate::model::Receipt> {
    let items = crate::intake::json::parse_submission(&submission.raw, submission.received_at);
    submit_parsed_until_stored(intake, Parsed::new(submission, items), shutdown).await
}

/// Like `submit_until_stored`, for a submission its source parsed itself (forms, mail).
pub async fn submit_parsed_until_stored(
    intake: &Intake,
    parsed: Parsed,
    shutdown: &watch::Receiver<bool>,
) -> Option<crate::model::Receipt> {
    let mut delay = Duration::from_millis(100);
    loop {
        match intake.submit_parsed(parsed.clone()).await {
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

/// Backoff between reconnection attempts: 0.5 s doubling to 30 s.
pub(crate) struct Backoff {
    next: Duration,
    /// The connector whose connection this paces; its `tongbao_connector_up` follows it.
    connector: String,
}

impl Backoff {
    /// Pacing for `connector`'s reconnections; it counts as not connected until `reset`.
    pub fn new(connector: &str) -> Backoff {
        crate::metrics::get().connector(connector, false);
        Backoff { next: Duration::from_millis(500), connector: connector.to_string() }
    }
    pub fn next(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(30));
        d
    }
    /// The connection is up: the next loss waits the shortest step again.
    pub fn reset(&mut self) {
        self.next = Duration::from_millis(500);
        crate::metrics::get().connector(&self.connector, true);
    }

    /// After a lost connection: logs why, then waits the next backoff step or until shutdown.
    pub async fn wait_after(&mut self, connector: &str, role: &str, error: &str, shutdown: &mut watch::Receiver<bool>) {
        crate::metrics::get().connector(&self.connector, false);
        let wait = self.next();
        tracing::warn!(connector, error, retry_in_ms = wait.as_millis() as u64, "{role} disconnected; reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}
