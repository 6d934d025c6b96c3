//! `tongbao bench mail`: mails with a filled form from an IMAP server into the store, and their receipts out over SMTP, each against the bare protocol in the same run.

use super::mailbox::{Folders, Imap, ImapAccount, Mailbox};
use super::parse::MailLimits;
use super::{smtp, source};
use crate::config::ImapSecurity;
use crate::intake::Intake;
use crate::store::{AnyStore, Store};
use futures_util::{StreamExt, TryStreamExt};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A form as a unit fills it (two good rows, one bad): the openpyxl-made test fixture.
const FORM: &[u8] = include_bytes!("../../../tests/fixtures/forms/event-filled.xlsx");

#[derive(Debug, Clone)]
pub struct MailBench {
    pub mails: usize,
    pub imap_host: String,
    pub imap_port: u16,
    pub password: String,
    pub smtp_url: String,
    /// Mail domain the servers deliver, e.g. `tongbao.test` (hub@cncert.<domain>, units @ct-gd.<domain>).
    pub domain: String,
    pub concurrency: usize,
}

fn mail_with_form(i: usize, from: &str, to: &str, nonce: &str) -> anyhow::Result<Vec<u8>> {
    use lettre::message::{Attachment, MultiPart, SinglePart, header::ContentType};
    let xlsx = ContentType::parse("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")?;
    let m = lettre::Message::builder()
        .from(from.parse()?)
        .to(to.parse()?)
        .subject(format!("事件报送 {i}"))
        .message_id(Some(format!("<bench-{nonce}-{i}@ct-gd.bench>")))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(String::from("见附件。")))
                .singlepart(Attachment::new(format!("事件报送表-{i}.xlsx")).body(FORM.to_vec(), xlsx)),
        )?;
    Ok(m.formatted())
}

async fn plain_session(host: &str, port: u16, user: &str, password: &str) -> anyhow::Result<async_imap::Session<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await?;
    client.login(user, password).await.map_err(|(e, _)| anyhow::anyhow!("IMAP login as {user}: {e}"))
}

pub async fn run(b: &MailBench, store: Arc<AnyStore>, intake: Intake) -> anyhow::Result<serde_json::Value> {
    let nonce = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
    let hub = format!("hub-bench-{nonce}@cncert.{}", b.domain);
    let unit = format!("soc-bench-{nonce}@ct-gd.{}", b.domain);
    let mut units = store.units().await?;
    let first = units.first_mut().ok_or_else(|| anyhow::anyhow!("no units"))?;
    first.contacts = vec![crate::model::Contact {
        role: crate::model::ContactRole::Contact,
        name: "bench".into(),
        phone: None,
        email: Some(unit.parse()?),
    }];
    store.import_units(&units[..1], crate::clock::now()).await?;

    // Load the hub's mailbox by IMAP APPEND (not measured).
    eprintln!("appending {} mails to {hub} …", b.mails);
    let mut s = plain_session(&b.imap_host, b.imap_port, &hub, &b.password).await?;
    for i in 0..b.mails {
        s.append("INBOX", None, None, mail_with_form(i, &unit, &hub, &nonce)?).await?;
    }

    // Bare: fetch every mail over IMAP in the same batches, nothing else.
    s.select("INBOX").await?;
    let t = Instant::now();
    let mut fetched = 0usize;
    let mut bytes = 0usize;
    let mut start = 1usize;
    while start <= b.mails {
        let end = (start + 63).min(b.mails);
        let batch: Vec<_> = s.fetch(format!("{start}:{end}"), "BODY.PEEK[]").await?.try_collect().await?;
        fetched += batch.len();
        bytes += batch.iter().filter_map(|f| f.body()).map(<[u8]>::len).sum::<usize>();
        start = end + 1;
    }
    let bare_fetch_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(fetched == b.mails, "fetched {fetched} of {} mails", b.mails);
    let _ = s.logout().await;

    // Bare: parse every mail with mail-parser and read its form (no store).
    let sample = mail_with_form(0, &unit, &hub, &nonce)?;
    let t = Instant::now();
    for _ in 0..b.mails.min(200) {
        let m = super::parse::parse_mail(&sample).map_err(|e| anyhow::anyhow!(e.message))?;
        let _ = super::parse::items_of(&m, crate::clock::now(), &MailLimits::default());
    }
    let parse_per_s = b.mails.min(200) as f64 / t.elapsed().as_secs_f64();

    // The hub: IMAP → parse → intake → commit → filed into Processed.
    let account = ImapAccount {
        host: b.imap_host.clone(),
        port: b.imap_port,
        security: ImapSecurity::Plain,
        user: hub.clone(),
        password: b.password.clone(),
        mailbox: "INBOX".into(),
        folders: Folders::default(),
    };
    let config = source::SourceConfig {
        name: "bench".into(),
        poll: Duration::from_secs(1),
        batch: 64,
        require_dkim: false,
        purpose: crate::config::MailPurpose::Reports,
        limits: MailLimits::default(),
        own_addresses: vec![],
        confirm_url: None,
    };
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let mut imap = Imap::connect(account).await.map_err(|e| anyhow::anyhow!(e))?;
    let t = Instant::now();
    let filed = source::drain(&config, &mut imap, &intake, &rx).await.map_err(|e| anyhow::anyhow!(e))?;
    let hub_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(filed == b.mails, "filed {filed} of {} mails", b.mails);
    anyhow::ensure!(imap.fetch(1).await.map_err(|e| anyhow::anyhow!(e))?.is_empty(), "mails left in the inbox");
    imap.logout().await;
    let counts = store.counts().await?;
    anyhow::ensure!(counts.submissions as usize >= b.mails, "stored {} submissions", counts.submissions);

    // Receipts: the SMTP sink sends every pending receipt, until none is left.
    let pending = store.due_outbox("email", crate::clock::now(), u32::MAX).await?.len();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let from = format!("通报中心 <{hub}>").parse()?;
    let sink = smtp::SmtpConfig {
        name: "bench".into(),
        url: b.smtp_url.clone(),
        from,
        concurrency: b.concurrency,
        timeout: Duration::from_secs(60),
        poll: Duration::from_millis(20),
    };
    let t = Instant::now();
    let task = tokio::spawn(smtp::run(sink, store.clone(), rx));
    while !store.due_outbox("email", crate::clock::now() + chrono::Duration::days(1), 1).await?.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let receipts_s = t.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = task.await;

    // Bare: lettre sending the same number of ready-made messages with the same pool.
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&b.smtp_url)?
        .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(b.concurrency as u32))
        .build();
    let t = Instant::now();
    let sent: Vec<bool> = futures_util::stream::iter(0..pending)
        .map(|i| {
            let transport = &transport;
            let (hub, unit) = (&hub, &unit);
            async move {
                let m = lettre::Message::builder()
                    .from(hub.parse().expect("address"))
                    .to(unit.parse().expect("address"))
                    .subject(format!("bare {i}"))
                    .body(String::from("回执"))
                    .expect("message");
                transport.send(m).await.is_ok()
            }
        })
        .buffer_unordered(b.concurrency)
        .collect()
        .await;
    let bare_send_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(sent.iter().all(|ok| *ok), "bare SMTP sends failed");

    Ok(serde_json::json!({
        "mails": b.mails,
        "mail_bytes": bytes / b.mails.max(1),
        "bare_fetch_s": bare_fetch_s,
        "bare_fetch_per_s": b.mails as f64 / bare_fetch_s,
        "parse_per_s": parse_per_s,
        "hub_s": hub_s,
        "hub_per_s": b.mails as f64 / hub_s,
        "reports": counts.reports,
        "receipts": pending,
        "receipts_s": receipts_s,
        "receipts_per_s": pending as f64 / receipts_s,
        "bare_send_s": bare_send_s,
        "bare_send_per_s": pending as f64 / bare_send_s,
    }))
}
