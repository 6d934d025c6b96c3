//! Operations metrics in Prometheus text format (`/metrics`) and which connectors are connected (`/readyz`), through prometheus-client.
//!
//! One registry for the process. Counters and the intake histogram are kept as things happen;
//! what the store knows (obligations open and overdue, the outbox backlog) is read when the
//! metrics are scraped, so it is never stale and costs nothing between scrapes.

use crate::store::Backlog;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubmissionLabels {
    channel: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabels {
    connector: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    channel: String,
    status: String,
}

/// The process's metrics; `metrics::get()` returns them.
pub struct Metrics {
    registry: Registry,
    submissions: Family<SubmissionLabels, Counter>,
    intake_seconds: Family<ChannelLabels, Histogram>,
    connector_up: Family<ConnectorLabels, Gauge>,
    job_runs: Family<JobLabels, Counter>,
    obligations: Family<StateLabels, Gauge>,
    outbox: Family<OutboxLabels, Gauge>,
    outbox_oldest: Family<OutboxLabels, Gauge>,
    store_up: Gauge,
    calendar_schedule_missing: Gauge,
    /// Held while a scrape sets the store's gauges and encodes: two scrapes at once would
    /// otherwise see each other's half-filled families.
    scrape: Mutex<()>,
    /// Each started connector: `None` while it is connected, else why it is not.
    connectors: Mutex<BTreeMap<String, Option<String>>>,
}

/// What the store counts at a scrape.
#[derive(Debug, Clone, Default)]
pub struct StoreFacts {
    pub obligations_open: i64,
    /// Open and past their due time (迟报 so far).
    pub obligations_overdue: i64,
    /// Binding duties whose time passed without them (漏报).
    pub obligations_missed: i64,
    pub backlog: Vec<Backlog>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The process's metrics, registered on first use.
pub fn get() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let submissions = Family::<SubmissionLabels, Counter>::default();
        registry.register(
            "tongbao_submissions",
            "Submissions stored, by channel and outcome (accepted, partly_accepted, rejected, duplicate, not_stored)",
            submissions.clone(),
        );
        // From 1 ms to about 33 s: a lone JSON report commits in milliseconds, a form of 100,000 rows in seconds.
        let intake_seconds =
            Family::<ChannelLabels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16)));
        registry.register(
            "tongbao_intake_seconds",
            "Time from a submission's arrival at intake to its stored receipt",
            intake_seconds.clone(),
        );
        let connector_up = Family::<ConnectorLabels, Gauge>::default();
        registry.register(
            "tongbao_connector_up",
            "1 while a connector is connected to its server, 0 while it is not",
            connector_up.clone(),
        );
        let job_runs = Family::<JobLabels, Counter>::default();
        registry.register("tongbao_job_runs", "Scheduled job runs, by job and outcome (ok, failed)", job_runs.clone());
        let obligations = Family::<StateLabels, Gauge>::default();
        registry.register(
            "tongbao_obligations",
            "Obligations open, overdue (open past due) and missed, at the scrape",
            obligations.clone(),
        );
        let outbox = Family::<OutboxLabels, Gauge>::default();
        registry.register(
            "tongbao_outbox_rows",
            "Outbox rows waiting or not delivered, by channel and status, at the scrape",
            outbox.clone(),
        );
        let outbox_oldest = Family::<OutboxLabels, Gauge>::default();
        registry.register("tongbao_outbox_oldest_age_seconds", "Age of the oldest such outbox row, at the scrape", outbox_oldest.clone());
        let store_up = Gauge::default();
        registry.register("tongbao_store_up", "1 when the store answered the scrape's queries, 0 when it did not", store_up.clone());
        let calendar_schedule_missing = Gauge::default();
        registry.register(
            "tongbao_calendar_schedule_missing",
            "1 while the calendar lacks this year's holiday schedule, or from November next year's (their deadlines are provisional)",
            calendar_schedule_missing.clone(),
        );
        Metrics {
            registry,
            calendar_schedule_missing,
            submissions,
            intake_seconds,
            connector_up,
            job_runs,
            obligations,
            outbox,
            outbox_oldest,
            store_up,
            scrape: Mutex::new(()),
            connectors: Mutex::new(BTreeMap::new()),
        }
    }

    /// A submission answered by intake: its channel, outcome and how long it took.
    pub fn submission(&self, channel: &str, outcome: &str, seconds: f64) {
        self.submissions.get_or_create(&SubmissionLabels { channel: channel.into(), outcome: outcome.into() }).inc();
        self.intake_seconds.get_or_create(&ChannelLabels { channel: channel.into() }).observe(seconds);
    }

    /// A connector connected (`true`) or lost its connection (`false`); a started connector
    /// counts as not connected until it says otherwise.
    pub fn connector(&self, name: &str, up: bool) {
        self.connector_state(name, if up { None } else { Some("not connected") });
    }

    /// A configured connector that will not connect at all, and why (an unset variable).
    pub fn connector_idle(&self, name: &str, why: &str) {
        self.connector_state(name, Some(why));
    }

    fn connector_state(&self, name: &str, down: Option<&str>) {
        self.connector_up.get_or_create(&ConnectorLabels { connector: name.into() }).set(i64::from(down.is_none()));
        self.connectors.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), down.map(str::to_string));
    }

    /// The started connectors that are not connected now, each with why.
    pub fn connectors_down(&self) -> Vec<(String, String)> {
        let connectors = self.connectors.lock().unwrap_or_else(|p| p.into_inner());
        connectors.iter().filter_map(|(n, why)| Some((n.clone(), why.clone()?))).collect()
    }

    /// Whether next year's holiday schedule is missing from the calendar, as of the last look.
    pub fn calendar_schedule_missing(&self, missing: bool) {
        self.calendar_schedule_missing.set(i64::from(missing));
    }

    /// A scheduled job ran (`ok`) or failed.
    pub fn job_run(&self, job: &str, ok: bool) {
        self.job_runs.get_or_create(&JobLabels { job: job.into(), outcome: if ok { "ok" } else { "failed" }.into() }).inc();
    }

    /// The metrics in Prometheus text format, with the store's counts as of now, or without
    /// them (`tongbao_store_up` 0) when the store did not answer: the counters and connector
    /// states matter most exactly then.
    pub fn render(&self, facts: Option<&StoreFacts>) -> String {
        let _scrape = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.store_up.set(i64::from(facts.is_some()));
        // A channel and status with nothing left has no series, rather than its last count.
        self.obligations.clear();
        self.outbox.clear();
        self.outbox_oldest.clear();
        if let Some(facts) = facts {
            for (state, n) in
                [("open", facts.obligations_open), ("overdue", facts.obligations_overdue), ("missed", facts.obligations_missed)]
            {
                self.obligations.get_or_create(&StateLabels { state: state.into() }).set(n);
            }
            for b in &facts.backlog {
                let labels = OutboxLabels { channel: b.channel.clone(), status: b.status.clone() };
                self.outbox.get_or_create(&labels).set(b.count);
                self.outbox_oldest.get_or_create(&labels).set(b.oldest_age_s);
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::{Metrics, StoreFacts};
    use crate::store::Backlog;

    #[test]
    fn a_scrape_without_the_store_keeps_the_counters_and_drops_the_stores_series() {
        let m = Metrics::new();
        m.submission("upload", "accepted", 0.01);
        m.connector("inbox", true);
        let backlog = vec![Backlog { channel: "email".into(), status: "pending".into(), count: 3, oldest_age_s: 40 }];
        let facts = StoreFacts { obligations_open: 5, obligations_overdue: 2, obligations_missed: 1, backlog };
        let with = m.render(Some(&facts));
        for line in [
            "tongbao_store_up 1",
            "tongbao_obligations{state=\"overdue\"} 2",
            "tongbao_outbox_rows{channel=\"email\",status=\"pending\"} 3",
            "tongbao_submissions_total{channel=\"upload\",outcome=\"accepted\"} 1",
        ] {
            assert!(with.lines().any(|l| l == line), "{line} missing from:\n{with}");
        }
        assert!(with.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
        let without = m.render(None);
        assert!(without.lines().any(|l| l == "tongbao_store_up 0"), "{without}");
        assert!(!without.contains("tongbao_obligations{") && !without.contains("tongbao_outbox_rows{"), "{without}");
        assert!(without.contains("tongbao_submissions_total{channel=\"upload\",outcome=\"accepted\"} 1"), "{without}");
        assert!(without.contains("tongbao_connector_up{connector=\"inbox\"} 1"), "{without}");
        assert!(m.connectors_down().is_empty());
        m.connector("inbox", false);
        m.connector_idle("mq", "environment variable MQ_URL is not set");
        let down = m.connectors_down();
        assert_eq!(down[0], ("inbox".to_string(), "not connected".to_string()));
        assert_eq!(down[1].1, "environment variable MQ_URL is not set");
    }
}
