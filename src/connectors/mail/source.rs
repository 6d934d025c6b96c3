//! Mail source: each mail in the inbox becomes one submission; it is filed into Processed or Quarantine only after that commits.
//!
//! Mail from an address that is no unit's registered contact (or without `dkim=pass` when the
//! setting asks for it) is quarantined and answered by nobody. It is still stored as a
//! rejected submission when it got as far as intake, so nothing that came in is lost.

use super::mailbox::{Folder, Imap, ImapAccount, Mailbox, Maildir, Waiting};
use super::parse::{self, MailLimits};
use crate::connectors::{Backoff, submit_parsed_until_stored};
use crate::decision::Parsed;
use crate::intake::Intake;
use crate::model::submission::Sender;
use crate::model::{Channel, ErrorCode, IntakeError, Submission, SubmissionId};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    /// How long to wait for new mail when the server cannot push (no IDLE, Maildir).
    pub poll: Duration,
    /// Mails fetched and processed together per pass.
    pub batch: usize,
    /// Accept only mail whose `Authentication-Results` says `dkim=pass`.
    pub require_dkim: bool,
    /// Units' reports, or users' appeals.
    pub purpose: crate::config::MailPurpose,
    pub limits: MailLimits,
    /// The addresses the hub sends from (its SMTP sinks' From), lower-case: mail from them is
    /// the hub's own coming back, and is never answered.
    pub own_addresses: Vec<String>,
    /// The stem of an appeal's confirmation link (`https://…/appeal/confirm/`), from `[serve] public_url`.
    pub confirm_url: Option<String>,
}

/// What became of one mail in a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    File(Folder),
    /// Not stored (the hub is stopping): it stays in the inbox for the next run.
    Stay,
}

/// Reads a local Maildir until shutdown.
pub async fn run_maildir(
    config: SourceConfig,
    path: PathBuf,
    folders: super::mailbox::Folders,
    intake: Intake,
    shutdown: watch::Receiver<bool>,
) {
    let mut mailbox = match Maildir::open(path.clone(), folders) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(connector = %config.name, path = %path.display(), error = %e, "idle: cannot open the Maildir");
            crate::metrics::get().connector(&config.name, false);
            return;
        }
    };
    tracing::info!(connector = %config.name, path = %path.display(), "mail source reading Maildir");
    crate::metrics::get().connector(&config.name, true);
    let mut shutdown = shutdown;
    while !*shutdown.borrow() {
        if let Err(e) = drain(&config, &mut mailbox, &intake, &shutdown).await {
            tracing::warn!(connector = %config.name, error = %e, "Maildir pass failed; retrying");
        }
        tokio::select! {
            _ = mailbox.wait(config.poll) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!(connector = %config.name, "mail source stopped");
}

/// Reads an IMAP mailbox until shutdown, reconnecting with backoff, while this instance holds
/// the mailbox's lease: of several instances configured with one mailbox, one reads it and the
/// others stand by, taking over when its holder stops or its lease lapses. A holder that loses
/// the lease mid-pass finishes that pass; a mail read by two instances is still stored once
/// (the second is a repeat of the first, answered by nobody).
pub async fn run_imap<S: crate::store::Store + Send + Sync + 'static>(
    config: SourceConfig,
    account: ImapAccount,
    intake: Intake,
    lease: crate::connectors::lease::Lease<S>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(&config.name);
    let kept = lease.keep();
    let mut held = kept.held.clone();
    while !*shutdown.borrow() {
        if !*held.borrow() {
            // Standing by is a healthy state: this instance is ready, another one reads.
            crate::metrics::get().connector(&config.name, true);
            tracing::info!(connector = %config.name, mailbox = %account.mailbox, "another instance reads this mailbox; standing by");
            tokio::select! {
                _ = async {
                    // The keeper gone (it never is while this runs): look again after a poll.
                    if held.wait_for(|h| *h).await.is_err() {
                        tokio::time::sleep(config.poll).await;
                    }
                } => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let result = async {
            let mut imap = Imap::connect(account.clone()).await?;
            tracing::info!(connector = %config.name, host = %account.host, mailbox = %account.mailbox, "mail source reading IMAP");
            backoff.reset();
            loop {
                drain(&config, &mut imap, &intake, &shutdown).await?;
                if *shutdown.borrow() || !*held.borrow() {
                    imap.logout().await;
                    return Ok::<(), String>(());
                }
                tokio::select! {
                    r = imap.wait(config.poll) => r?,
                    _ = shutdown.changed() => {}
                    // Only a loss wakes it: a renewal must not cut an IDLE short.
                    _ = held.wait_for(|h| !*h) => {}
                }
            }
        }
        .await;
        if let Err(e) = result {
            backoff.wait_after(&config.name, "IMAP source", &e, &mut shutdown).await;
        }
    }
    kept.give_up().await;
    tracing::info!(connector = %config.name, "mail source stopped");
}

/// Processes batches until the inbox is empty (or shutdown). Returns how many mails were filed.
pub async fn drain<M: Mailbox>(
    config: &SourceConfig,
    mailbox: &mut M,
    intake: &Intake,
    shutdown: &watch::Receiver<bool>,
) -> Result<usize, String> {
    let mut filed = 0;
    loop {
        let batch = mailbox.fetch(config.batch).await?;
        if batch.is_empty() || *shutdown.borrow() {
            return Ok(filed);
        }
        let fates = futures_util::future::join_all(batch.iter().map(|w| take(config, w, intake, shutdown))).await;
        for folder in [Folder::Processed, Folder::Quarantine] {
            let ids: Vec<String> = batch.iter().zip(&fates).filter(|(_, f)| **f == Fate::File(folder)).map(|(w, _)| w.id.clone()).collect();
            filed += ids.len();
            mailbox.file(&ids, folder).await?;
        }
        // A mail left in the inbox (the hub is stopping) would be fetched again at once.
        if fates.contains(&Fate::Stay) {
            return Ok(filed);
        }
    }
}

/// Decides one mail's fate, storing its submission first when it has a sender to answer.
pub async fn take(config: &SourceConfig, waiting: &Waiting, intake: &Intake, shutdown: &watch::Receiver<bool>) -> Fate {
    if config.purpose == crate::config::MailPurpose::UserAppeals {
        return take_appeal(config, waiting, intake).await;
    }
    let raw = waiting.raw.clone();
    let limits = config.limits;
    let require_dkim = config.require_dkim;
    let own = config.own_addresses.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare(raw, &limits, require_dkim, &own)).await;
    let parsed = match prepared {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(why)) => {
            tracing::warn!(connector = %config.name, mail = %waiting.id, reason = %why, "mail quarantined; no reply");
            return Fate::File(Folder::Quarantine);
        }
        Err(e) => {
            tracing::error!(connector = %config.name, mail = %waiting.id, error = %e, "mail could not be read; quarantined");
            return Fate::File(Folder::Quarantine);
        }
    };
    let Some(receipt) = submit_parsed_until_stored(intake, parsed, shutdown).await else { return Fate::Stay };
    let unknown = receipt.errors.iter().any(|e| e.code == ErrorCode::UnknownSender);
    if unknown {
        tracing::warn!(connector = %config.name, mail = %waiting.id, submission = %receipt.submission_id, "mail from no registered contact quarantined; no reply");
        Fate::File(Folder::Quarantine)
    } else {
        tracing::info!(
            connector = %config.name,
            mail = %waiting.id,
            submission = %receipt.submission_id,
            outcome = receipt.outcome.code(),
            reports = receipt.reports.len(),
            errors = receipt.errors.len(),
            duplicate = receipt.duplicate,
            "mail ingested"
        );
        Fate::File(Folder::Processed)
    }
}

/// A mail to the appeals address: lodged as a user's appeal (acknowledged by mail) and filed
/// into Processed; a mail that is no appeal (no address or domain named, no sender, over the
/// limit) is quarantined without a reply, so the address cannot be used to bounce mail at others.
async fn take_appeal(config: &SourceConfig, waiting: &Waiting, intake: &Intake) -> Fate {
    // An auto-reply to the hub's acknowledgement quotes the targets: lodged, it would be
    // acknowledged again, and again.
    if let Some(why) = parse::automatic(&waiting.raw) {
        tracing::warn!(connector = %config.name, mail = %waiting.id, reason = %why, "automatic mail to the appeals address quarantined; no reply");
        return Fate::File(Folder::Quarantine);
    }
    let raw = waiting.raw.clone();
    let limits = config.limits;
    let require_dkim = config.require_dkim;
    let form = match tokio::task::spawn_blocking(move || parse::appeal_form(&raw, &limits, require_dkim)).await {
        Ok(Ok(form)) => form,
        Ok(Err(why)) => {
            tracing::warn!(connector = %config.name, mail = %waiting.id, reason = %why, "appeal mail quarantined; no reply");
            return Fate::File(Folder::Quarantine);
        }
        Err(e) => {
            tracing::error!(connector = %config.name, mail = %waiting.id, error = %e, "appeal mail could not be read; quarantined");
            return Fate::File(Folder::Quarantine);
        }
    };
    // The hub's own address (however tagged) is never an appellant: asking it to confirm
    // would be the hub mailing itself.
    // Nor is any address at its domain or below it (postmaster@, a colleague's, a subdomain's).
    if config.own_addresses.iter().any(|a| crate::model::appeal::within_domain_of(&form.email, a)) {
        tracing::warn!(connector = %config.name, mail = %waiting.id, "appeal mail from the hub's own address quarantined; no reply");
        return Fate::File(Folder::Quarantine);
    }
    // A From address proves nothing without DKIM: the appeal waits until the mailbox confirms
    // it, so a forged sender makes the hub mail only a fixed text with a link.
    let lodged = if require_dkim {
        intake.lodge_appeal(form, crate::model::appeal::AppealChannel::Email).await
    } else {
        let client = format!("mail:{}", crate::model::appeal::fold_mailbox(&form.email));
        match intake.request_appeal(form, crate::model::appeal::AppealChannel::Email, client, config.confirm_url.clone()).await {
            Ok(crate::intake::appeals::Requested::Lodged(l)) => Ok(l),
            Ok(crate::intake::appeals::Requested::Confirm { email }) => {
                tracing::info!(connector = %config.name, mail = %waiting.id, to = %email.as_str(), "appeal mail waits for its sender to confirm");
                return Fate::File(Folder::Processed);
            }
            Ok(crate::intake::appeals::Requested::TooManyFromClient { per_hour }) => {
                tracing::warn!(connector = %config.name, mail = %waiting.id, per_hour, "appeal mails over the sender's hourly limit; quarantined");
                return Fate::File(Folder::Quarantine);
            }
            Err(e) => Err(e),
        }
    };
    match lodged {
        Ok(crate::intake::appeals::Lodged::Accepted { appeal, .. }) => {
            tracing::info!(connector = %config.name, mail = %waiting.id, appeal = %appeal.id, units = appeal.units.len(), "user appeal lodged");
            Fate::File(Folder::Processed)
        }
        Ok(crate::intake::appeals::Lodged::Refused(errors)) => {
            let why: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.place, e.message)).collect();
            tracing::warn!(connector = %config.name, mail = %waiting.id, problems = %why.join("; "), "appeal mail refused; quarantined, no reply");
            Fate::File(Folder::Quarantine)
        }
        Ok(crate::intake::appeals::Lodged::TooMany { per_day }) => {
            tracing::warn!(connector = %config.name, mail = %waiting.id, per_day, "appeal mail over the sender's daily limit; quarantined");
            Fate::File(Folder::Quarantine)
        }
        Err(e) => {
            tracing::warn!(connector = %config.name, mail = %waiting.id, error = %e, "appeal not stored; left in the inbox");
            Fate::Stay
        }
    }
}

/// A mail → one submission of its sender, with its forms read. `Err` says why it goes to
/// quarantine without reaching intake, answered by nobody: no sender to answer, unauthenticated
/// by DKIM, sent by a machine (an auto-reply, a bounce: RFC 3834 asks that none be answered), or
/// the hub's own mail come back (from `own` addresses, or carrying the hub's loop header).
pub fn prepare(raw: Vec<u8>, limits: &MailLimits, require_dkim: bool, own: &[String]) -> Result<Parsed, String> {
    let received_at = crate::clock::now();
    let oversized = raw.len() > limits.max_mail_bytes;
    // Of an oversized mail only the headers are read and kept; the receipt says why.
    let kept = if oversized { headers_only(&raw).to_vec() } else { raw };
    if let Some(why) = parse::automatic(&kept) {
        return Err(why);
    }
    let mail = parse::parse_mail(&kept).map_err(|e| e.message)?;
    let from = mail.from.clone().ok_or("no From address")?;
    if own.iter().any(|a| crate::model::appeal::fold_mailbox(a) == crate::model::appeal::fold_mailbox(from.as_str())) {
        return Err(format!("from the hub's own address {from}"));
    }
    if require_dkim && !mail.dkim_pass {
        return Err(format!("no dkim=pass for {from}"));
    }
    let mut notes = vec![];
    let items = if oversized {
        Err(IntakeError::new(ErrorCode::TooLarge, "邮件", format!("不超过 {} MB 的邮件", limits.max_mail_bytes >> 20), None))
    } else {
        parse::items_and_notes_of(&mail, received_at, limits, &mut notes)
    };
    let submission = Submission {
        id: SubmissionId::new(),
        dedupe_key: parse::dedupe_key(&mail, &kept),
        channel: Channel::Email,
        sender: Sender::Email(from.clone()),
        external_id: mail.message_id.clone(),
        // Receipts go to the authenticated From address, never to a Reply-To a forger could set.
        reply_to: Some(from.to_string()),
        correlation_id: mail.message_id.clone(),
        received_at,
        raw: kept,
    };
    Ok(Parsed { notes, ..Parsed::new(submission, items) })
}

fn headers_only(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len().min(64 << 10));
    &raw[..end.min(256 << 10)]
}
