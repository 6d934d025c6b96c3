//! The console's shared figures (dashboard, obligations board): kept in memory per scope and
//! filter, and refreshed in the background once a few seconds old, so that no request waits
//! for the store while an older answer can still be shown.

use crate::store::StoreError;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One computed answer and whether a refresh of it is under way.
struct Entry {
    computed: Instant,
    value: Arc<serde_json::Value>,
    refreshing: AtomicBool,
}

impl Entry {
    fn new(value: serde_json::Value) -> Arc<Entry> {
        Arc::new(Entry { computed: Instant::now(), value: Arc::new(value), refreshing: AtomicBool::new(false) })
    }
}

/// Figures by key. An answer younger than `fresh_for` is served as it is; an older one is
/// served while one background task computes its successor; one older than `kept_for` (or
/// none) is computed while the request waits, once for all who ask at that moment.
pub struct SharedFigures {
    entries: moka::future::Cache<String, Arc<Entry>>,
    fresh_for: Duration,
}

impl SharedFigures {
    pub fn new(fresh_for: Duration, kept_for: Duration) -> SharedFigures {
        SharedFigures { entries: moka::future::Cache::builder().max_capacity(10_000).time_to_live(kept_for).build(), fresh_for }
    }

    /// The figures under `key`, computed by `compute` when there are none or they are stale.
    /// A failed background refresh leaves the older answer in place until `kept_for` ends; the
    /// next request past `fresh_for` tries again.
    pub async fn get<F, Fut>(&self, key: String, compute: F) -> Result<Arc<serde_json::Value>, Arc<StoreError>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<serde_json::Value, StoreError>> + Send + 'static,
    {
        if let Some(entry) = self.entries.get(&key).await {
            if entry.computed.elapsed() >= self.fresh_for && !entry.refreshing.swap(true, Ordering::AcqRel) {
                let (entries, stale) = (self.entries.clone(), entry.clone());
                let refresh = compute();
                tokio::spawn(async move {
                    match refresh.await {
                        Ok(value) => entries.insert(key, Entry::new(value)).await,
                        Err(e) => {
                            tracing::warn!(error = %e, "console figures not refreshed; the older ones are shown");
                            stale.refreshing.store(false, Ordering::Release);
                        }
                    }
                });
            }
            return Ok(entry.value.clone());
        }
        let entry = self.entries.try_get_with(key, async { compute().await.map(Entry::new) }).await?;
        Ok(entry.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn counting(
        calls: &Arc<AtomicU32>,
    ) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<serde_json::Value, StoreError>> + Send>> {
        let calls = calls.clone();
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move { Ok(serde_json::json!(n)) })
        }
    }

    #[tokio::test]
    async fn a_stale_answer_is_served_while_its_successor_is_computed() {
        let figures = SharedFigures::new(Duration::from_millis(50), Duration::from_secs(60));
        let calls = Arc::new(AtomicU32::new(0));
        assert_eq!(*figures.get("k".into(), counting(&calls)).await.unwrap(), serde_json::json!(1));
        assert_eq!(*figures.get("k".into(), counting(&calls)).await.unwrap(), serde_json::json!(1), "fresh: not computed again");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(*figures.get("k".into(), counting(&calls)).await.unwrap(), serde_json::json!(1), "stale: the older answer at once");
        let mut seen = serde_json::json!(1);
        for _ in 0..100 {
            tokio::task::yield_now().await;
            seen = (*figures.get("k".into(), counting(&calls)).await.unwrap()).clone();
            if seen != serde_json::json!(1) {
                break;
            }
        }
        assert_eq!(seen, serde_json::json!(2), "the background refresh replaces it");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one refresh for all the stale requests");
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_older_answer_and_is_tried_again() {
        let figures = SharedFigures::new(Duration::ZERO, Duration::from_secs(60));
        let calls = Arc::new(AtomicU32::new(0));
        figures.get("k".into(), counting(&calls)).await.unwrap();
        let failing = || async { Err::<serde_json::Value, _>(StoreError::Corrupt { place: "test".into(), detail: "down".into() }) };
        assert_eq!(*figures.get("k".into(), failing).await.unwrap(), serde_json::json!(1));
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(*figures.get("k".into(), counting(&calls)).await.unwrap(), serde_json::json!(1));
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2, "tried again after the failure");
    }

    #[tokio::test]
    async fn with_nothing_kept_the_request_waits_and_sees_the_error() {
        let figures = SharedFigures::new(Duration::from_secs(5), Duration::from_secs(60));
        let failing = || async { Err::<serde_json::Value, _>(StoreError::Corrupt { place: "test".into(), detail: "down".into() }) };
        assert!(figures.get("k".into(), failing).await.is_err());
    }
}
