//! Mailboxes the mail source reads: a local Maildir (the embedded default) and an IMAP account (TLS, STARTTLS, or plain on loopback).
//!
//! Both keep a mail in the inbox until the source files it into `Processed` or `Quarantine`,
//! which it does only after the submission committed; so a crash in between leaves the mail
//! where it was, and the next pass reprocesses it into the same receipt (intake is idempotent).

use crate::config::{ImapSecurity, is_loopback};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A mail waiting in the inbox.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// The mailbox's own handle (a Maildir file name, an IMAP UID).
    pub id: String,
    pub raw: Vec<u8>,
}

/// Where a mail goes once its fate is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Folder {
    Processed,
    Quarantine,
}

#[derive(Debug, Clone)]
pub struct Folders {
    pub processed: String,
    pub quarantine: String,
}

impl Folders {
    pub fn name(&self, f: Folder) -> &str {
        match f {
            Folder::Processed => &self.processed,
            Folder::Quarantine => &self.quarantine,
        }
    }
}

impl Default for Folders {
    fn default() -> Self {
        Folders { processed: "Processed".into(), quarantine: "Quarantine".into() }
    }
}

pub trait Mailbox: Send {
    /// Up to `limit` mails of the inbox, oldest first.
    fn fetch(&mut self, limit: usize) -> impl Future<Output = Result<Vec<Waiting>, String>> + Send;
    /// Moves mails out of the inbox into a folder.
    fn file(&mut self, ids: &[String], folder: Folder) -> impl Future<Output = Result<(), String>> + Send;
    /// Returns when new mail may have come (IMAP IDLE) or after `poll` at the latest.
    fn wait(&mut self, poll: Duration) -> impl Future<Output = Result<(), String>> + Send;
}

/// A Maildir (`new/`, `cur/`, `tmp/`) with Maildir++ subfolders (`.Processed/`), as Postfix
/// delivers and Dovecot serves.
pub struct Maildir {
    root: PathBuf,
    folders: Folders,
}

impl Maildir {
    pub fn open(root: PathBuf, folders: Folders) -> std::io::Result<Maildir> {
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        for f in [&folders.processed, &folders.quarantine] {
            for sub in ["new", "cur", "tmp"] {
                std::fs::create_dir_all(root.join(format!(".{f}")).join(sub))?;
            }
        }
        Ok(Maildir { root, folders })
    }

    fn list(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for sub in ["new", "cur"] {
            for e in std::fs::read_dir(self.root.join(sub))? {
                let e = e?;
                if e.file_type()?.is_file() {
                    names.push(format!("{sub}/{}", e.file_name().to_string_lossy()));
                }
            }
        }
        // Maildir names begin with the delivery time in seconds, so name order is arrival order.
        names.sort_by(|a, b| a[4..].cmp(&b[4..]));
        Ok(names)
    }
}

impl Mailbox for Maildir {
    async fn fetch(&mut self, limit: usize) -> Result<Vec<Waiting>, String> {
        let root = self.root.clone();
        let names = self.list().map_err(|e| format!("listing {}: {e}", root.display()))?;
        let mut out = Vec::new();
        for id in names.into_iter().take(limit) {
            match tokio::fs::read(root.join(&id)).await {
                Ok(raw) => out.push(Waiting { id, raw }),
                // Taken by another reader (Dovecot, a second hub) since the listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("reading {id}: {e}")),
            }
        }
        Ok(out)
    }

    async fn file(&mut self, ids: &[String], folder: Folder) -> Result<(), String> {
        let target = self.root.join(format!(".{}", self.folders.name(folder))).join("cur");
        for id in ids {
            let name = id.rsplit('/').next().unwrap_or(id);
            // Seen flag in the Maildir info suffix, so a mail client shows it read.
            let name = if name.contains(":2,") { name.to_string() } else { format!("{name}:2,S") };
            tokio::fs::rename(self.root.join(id), target.join(name)).await.map_err(|e| format!("moving {id}: {e}"))?;
        }
        Ok(())
    }

    async fn wait(&mut self, poll: Duration) -> Result<(), String> {
        tokio::time::sleep(poll).await;
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct ImapAccount {
    pub host: String,
    pub port: u16,
    pub security: ImapSecurity,
    pub user: String,
    pub password: String,
    pub mailbox: String,
    pub folders: Folders,
}

/// The byte stream under the IMAP client: plain TCP or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}
type Session = async_imap::Session<Box<dyn Io>>;

pub struct Imap {
    account: ImapAccount,
    session: Option<Session>,
    can_move: bool,
    can_idle: bool,
}

fn tls_connector() -> tokio_rustls::TlsConnector {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn tls_wrap(tcp: tokio::net::TcpStream, host: &str) -> Result<Box<dyn Io>, String> {
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| format!("TLS name {host}: {e}"))?;
    let tls = tls_connector().connect(name, tcp).await.map_err(|e| format!("TLS handshake with {host}: {e}"))?;
    Ok(Box::new(tls))
}

impl Imap {
    /// Connects, secures, logs in, selects the inbox and makes sure the folders exist.
    pub async fn connect(account: ImapAccount) -> Result<Imap, String> {
        if account.security == ImapSecurity::Plain && !is_loopback(&account.host) {
            return Err(format!("refusing plain IMAP to {}: use tls or starttls off loopback", account.host));
        }
        let addr = (account.host.as_str(), account.port);
        let tcp = tokio::time::timeout(Duration::from_secs(20), tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connecting to {}:{} timed out", account.host, account.port))?
            .map_err(|e| format!("connecting to {}:{}: {e}", account.host, account.port))?;
        let stream: Box<dyn Io> = match account.security {
            ImapSecurity::Tls => tls_wrap(tcp, &account.host).await?,
            ImapSecurity::Plain => Box::new(tcp),
            ImapSecurity::Starttls => {
                let mut client = async_imap::Client::new(tcp);
                client.read_response().await.map_err(|e| format!("IMAP greeting: {e}"))?;
                client.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| format!("STARTTLS: {e}"))?;
                tls_wrap(client.into_inner(), &account.host).await?
            }
        };
        let mut client = async_imap::Client::new(stream);
        if account.security != ImapSecurity::Starttls {
            client.read_response().await.map_err(|e| format!("IMAP greeting: {e}"))?;
        }
        let mut session =
            client.login(&account.user, &account.password).await.map_err(|(e, _)| format!("IMAP login as {}: {e}", account.user))?;
        let caps = session.capabilities().await.map_err(|e| format!("CAPABILITY: {e}"))?;
        let (can_move, can_idle) = (caps.has_str("MOVE"), caps.has_str("IDLE"));
        for f in [&account.folders.processed, &account.folders.quarantine] {
            // CREATE of an existing folder fails harmlessly; SELECT below catches real trouble.
            let _ = session.create(f).await;
        }
        session.select(&account.mailbox).await.map_err(|e| format!("SELECT {}: {e}", account.mailbox))?;
        Ok(Imap { account, session: Some(session), can_move, can_idle })
    }

    fn session(&mut self) -> Result<&mut Session, String> {
        self.session.as_mut().ok_or_else(|| "IMAP session lost".to_string())
    }

    pub async fn logout(mut self) {
        if let Some(mut s) = self.session.take() {
            let _ = s.logout().await;
        }
    }
}

impl Mailbox for Imap {
    async fn fetch(&mut self, limit: usize) -> Result<Vec<Waiting>, String> {
        use futures_util::TryStreamExt;
        let session = self.session()?;
        let mut uids: Vec<u32> = session.uid_search("ALL").await.map_err(|e| format!("UID SEARCH: {e}"))?.into_iter().collect();
        uids.sort_unstable();
        uids.truncate(limit);
        if uids.is_empty() {
            return Ok(vec![]);
        }
        let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let fetches: Vec<_> = session
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await
            .map_err(|e| format!("UID FETCH: {e}"))?
            .try_collect()
            .await
            .map_err(|e| format!("UID FETCH: {e}"))?;
        let mut out: Vec<Waiting> =
            fetches.iter().filter_map(|f| Some(Waiting { id: f.uid?.to_string(), raw: f.body()?.to_vec() })).collect();
        out.sort_by_key(|w| w.id.parse::<u32>().unwrap_or(u32::MAX));
        Ok(out)
    }

    async fn file(&mut self, ids: &[String], folder: Folder) -> Result<(), String> {
        use futures_util::TryStreamExt;
        if ids.is_empty() {
            return Ok(());
        }
        let set = ids.join(",");
        let target = self.account.folders.name(folder).to_string();
        let can_move = self.can_move;
        let session = self.session()?;
        if can_move {
            session.uid_mv(&set, &target).await.map_err(|e| format!("UID MOVE to {target}: {e}"))?;
        } else {
            session.uid_copy(&set, &target).await.map_err(|e| format!("UID COPY to {target}: {e}"))?;
            let _: Vec<_> = session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await
                .map_err(|e| format!("UID STORE: {e}"))?
                .try_collect()
                .await
                .map_err(|e| format!("UID STORE: {e}"))?;
            let _: Vec<_> =
                session.expunge().await.map_err(|e| format!("EXPUNGE: {e}"))?.try_collect().await.map_err(|e| format!("EXPUNGE: {e}"))?;
        }
        Ok(())
    }

    async fn wait(&mut self, poll: Duration) -> Result<(), String> {
        if !self.can_idle {
            tokio::time::sleep(poll).await;
            return self.session()?.noop().await.map_err(|e| format!("NOOP: {e}"));
        }
        let session = self.session.take().ok_or("IMAP session lost")?;
        let mut idle = session.idle();
        idle.init().await.map_err(|e| format!("IDLE: {e}"))?;
        let (wait, _stop) = idle.wait_with_timeout(poll);
        let outcome = wait.await;
        let session = idle.done().await.map_err(|e| format!("DONE: {e}"))?;
        self.session = Some(session);
        outcome.map(|_| ()).map_err(|e| format!("IDLE: {e}"))
    }
}
