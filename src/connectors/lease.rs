//! Leases on work that one instance of a cluster at a time may do (reading one IMAP mailbox): taken through the store, renewed while the holder lives, taken over by another instance once lapsed.

use crate::store::Store;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// This process's name as a lease holder: unique across the instances of a cluster and across
/// restarts of one, so a restarted instance does not inherit its dead self's lease before it
/// lapses (it may be holding a connection the server has not yet dropped).
pub fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        let tag = uuid::Uuid::new_v4().simple().to_string();
        format!("{}:{}:{}", if host.is_empty() { "host" } else { &host }, std::process::id(), &tag[..8])
    })
}

/// A lease to be kept: `name` in the store, held by `holder` for `ttl` at a time.
pub struct Lease<S> {
    store: Arc<S>,
    name: String,
    holder: String,
    ttl: Duration,
}

impl<S: Store + Send + Sync + 'static> Lease<S> {
    /// The lease `name`, held by this process.
    pub fn new(store: Arc<S>, name: &str, ttl: Duration) -> Lease<S> {
        Lease::held_by(store, name, instance_id(), ttl)
    }

    /// The lease `name`, held by `holder` (tests run several holders in one process).
    pub fn held_by(store: Arc<S>, name: &str, holder: &str, ttl: Duration) -> Lease<S> {
        Lease { store, name: name.to_string(), holder: holder.to_string(), ttl: ttl.max(Duration::from_secs(3)) }
    }

    /// Keeps trying for the lease, a third of its time apart, renewing it while held, until
    /// `Kept::give_up` (or the `Kept` is dropped), when it is given up so another instance takes
    /// over at once. `Kept::held` says whether it is held: `false` as soon as a renewal fails
    /// (the store cannot be asked, or another instance took it after this one stalled), since
    /// the lease may lapse before the next attempt.
    pub fn keep(self) -> Kept {
        let (held_tx, held) = watch::channel(false);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let step = self.ttl / 3;
            while !*stopped.borrow() {
                let now = crate::clock::now();
                let until = now + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::seconds(120));
                let now_held = match self.store.hold_lease(&self.name, &self.holder, now, until).await {
                    Ok(held) => held,
                    Err(e) => {
                        tracing::warn!(lease = %self.name, error = %e, "lease not renewed: the store did not answer");
                        false
                    }
                };
                if now_held != *held_tx.borrow() {
                    tracing::info!(lease = %self.name, holder = %self.holder, "lease {}", if now_held { "taken" } else { "lost" });
                }
                held_tx.send_replace(now_held);
                tokio::select! {
                    _ = tokio::time::sleep(step) => {}
                    // Given up, or its owner is gone.
                    _ = stopped.changed() => break,
                }
            }
            held_tx.send_replace(false);
            if let Err(e) = self.store.release_lease(&self.name, &self.holder).await {
                tracing::warn!(lease = %self.name, error = %e, "lease not given up; it lapses by itself");
            }
        });
        Kept { held, stop, task }
    }
}

/// A lease being kept by its task.
pub struct Kept {
    /// Whether this instance holds the lease now.
    pub held: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Kept {
    /// Stops renewing and gives the lease up, once its work is done.
    pub async fn give_up(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
