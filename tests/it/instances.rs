//! Several hubs on one database: botnet grading over one period, outbox claims and their leases, and periodic jobs, each raced between two stores opened on the same location.

use crate::helpers::{Backend, Lib};
use serde_json::json;
use std::sync::Arc;
use tongbao::decision::Engine;
use tongbao::decision::OutboxChannel;
use tongbao::intake::Intake;
use tongbao::model::submission::Sender;
use tongbao::model::{Channel, Grade, ReportKind, Submission};
use tongbao::rules::{Calendar, Policy};
use tongbao::schedule::{ScheduleConfig, Scheduler};
use tongbao::store::{JobStore, Location, OutboxFilter, ReportFilter, Store};

fn engine() -> Arc<Engine> {
    Arc::new(Engine { calendar: Calendar::builtin(), policy: Policy::default(), ownership: Default::default() })
}

/// A second hub on the store `lib` uses: its own connections and its own intake.
async fn second_hub(location: &Location) -> (Arc<tongbao::store::AnyStore>, Intake) {
    let store = Arc::new(tongbao::store::open(location).await.unwrap());
    let (intake, _writer) = Intake::start(store.clone(), engine());
    (store, intake)
}

/// Art. 7 [僵尸机制]: botnets of one period are graded on their sum, also when two hubs accept
/// them at the same moment. Forty reports of 3,000 bots each (120,000 together, over the
/// 100,000 of a large event) are submitted at once, alternately to either hub; afterwards every
/// one of them is large, each earlier one raised by a later one, none left general because the
/// two hubs read the period before either had written.
async fn botnet_reports_of_one_period_raced_between_two_hubs_are_graded_on_their_sum(backend: Backend) {
    let lib = Lib::on(backend).await;
    let (_store, other) = second_hub(&lib.location).await;
    let at: chrono::DateTime<chrono::Utc> = "2026-06-03T02:00:00Z".parse().unwrap();
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let report = json!({"kind": "botnet_event", "discovered_at": "2026-06-03 09:00", "provinces": ["GD"],
            "content": {"botnets": [{"cc_ip": std::net::Ipv4Addr::from(0xC633_6400 + i).to_string(), "port": 6667, "bot_count": 3000}]}});
        let sub = Submission::by_content(Channel::Cli, Sender::Unit("CT-GD".parse().unwrap()), serde_json::to_vec(&report).unwrap(), at);
        let intake = if i % 2 == 0 { lib.intake.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move { intake.submit(sub).await.expect("stored") }));
    }
    for t in tasks {
        assert!(t.await.unwrap().errors.is_empty());
    }
    let reports = lib.store.reports(&ReportFilter { kind: Some(ReportKind::BotnetEvent), limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(reports.len(), 40);
    let general = reports.iter().filter(|r| r.report.content.grade != Some(Grade::Large)).count();
    assert_eq!(general, 0, "{general} of 40 reports not graded on the period's 120,000 bots");
}

/// Each due outbox row is claimed by one hub: two hubs asking at the same moment get disjoint
/// rows that together are all of them. A hub that claimed rows and died leaves them to the
/// others once its lease has passed, under the same ids (so the same message ids).
async fn outbox_rows_are_claimed_by_one_hub_and_a_dead_hubs_claim_lapses(backend: Backend) {
    let lib = Lib::on(backend).await;
    let (other, _intake) = second_hub(&lib.location).await;
    for i in 0..30 {
        let mut e = crate::helpers::event("major", "2026-10-09 09:30");
        e["content"]["summary"] = json!(format!("攻击 {i}"));
        lib.submit("CT-GD", e, "2026-10-09T02:00:00Z").await;
    }
    let now = chrono::Utc::now();
    tongbao::fanout::expand_once(&*lib.store, now, false).await.unwrap();
    let pending =
        lib.outbox(OutboxFilter { channel: Some(OutboxChannel::Amqp), status: Some("pending".into()), ..Default::default() }).await;
    assert!(pending.len() >= 30, "{} amqp rows", pending.len());
    let (mine, theirs) = tokio::join!(lib.store.due_outbox("amqp", now, 1000), other.due_outbox("amqp", now, 1000));
    let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
    let mut ids: Vec<_> = mine.iter().chain(&theirs).map(|r| r.id).collect();
    ids.sort();
    let claimed = ids.len();
    ids.dedup();
    match backend {
        // Claims: no row to both, every row to one of them.
        Backend::Postgres => {
            assert_eq!(ids.len(), claimed, "a row claimed by both hubs");
            assert_eq!(ids.len(), pending.len(), "every due row claimed by one hub");
            // Asked again before the lease ends, nobody gets them.
            assert!(lib.store.due_outbox("amqp", now, 1000).await.unwrap().is_empty());
            // The other hub dies with its claim: after the lease its rows are due to this one.
            let later = now + chrono::Duration::seconds(121);
            let again: Vec<_> = lib.store.due_outbox("amqp", later, 1000).await.unwrap().into_iter().map(|r| r.id).collect();
            assert_eq!(again.len(), ids.len(), "both hubs' unreported claims lapsed");
            let sent: Vec<_> = theirs.iter().map(|r| r.id).collect();
            assert!(sent.iter().all(|id| again.contains(id)), "the dead hub's rows come back under the same ids");
        }
        // One SQLite file serves one hub: `due_outbox` hands out what is due without claiming.
        Backend::Sqlite => assert_eq!(ids.len(), pending.len()),
    }
}

/// A periodic job runs once for its period however many hubs tick at the same moment: two
/// schedulers on one store remind the four units without October's summary once, not twice.
async fn a_job_run_by_two_hubs_at_the_same_moment_runs_once(backend: Backend) {
    let lib = Lib::on(backend).await;
    let (other, _intake) = second_hub(&lib.location).await;
    let mut one = Scheduler::new(lib.store.clone(), engine(), ScheduleConfig::default(), 180).unwrap();
    let mut two = Scheduler::new(other, engine(), ScheduleConfig::default(), 180).unwrap();
    let at: chrono::DateTime<chrono::Utc> = "2026-10-08T01:00:00Z".parse().unwrap();
    tokio::join!(one.tick(at), two.tick(at));
    let reminders = lib.count("SELECT count(*) FROM outbox WHERE kind = 'summary_reminder'").await;
    let units = lib.store.units().await.unwrap().len() as i64;
    assert!(reminders > 0, "the first working day of October reminds");
    assert!(reminders <= units, "{reminders} reminders for {units} units: a unit reminded twice");
    assert!(lib.store.job_ran("monthly_reminder", "2026-09").await.unwrap().is_some());
}

/// One mailbox, one reader: a lease is held by one hub until it lapses or is given up; the
/// holder renews it; two hubs asking at the same moment get it once between them.
async fn a_lease_is_held_by_one_hub_until_it_lapses_or_is_given_up(backend: Backend) {
    let lib = Lib::on(backend).await;
    let (other, _) = second_hub(&lib.location).await;
    let t0: chrono::DateTime<chrono::Utc> = "2026-06-03T02:00:00Z".parse().unwrap();
    let at = move |s: i64| t0 + chrono::Duration::seconds(s);
    let name = "imap:hub@cncert.example:143/INBOX";
    assert!(lib.store.hold_lease(name, "a", at(0), at(30)).await.unwrap(), "free: taken");
    assert!(!other.hold_lease(name, "b", at(10), at(40)).await.unwrap(), "a's runs until 30");
    assert!(lib.store.hold_lease(name, "a", at(20), at(50)).await.unwrap(), "renewed by its holder");
    assert!(!other.hold_lease(name, "b", at(40), at(70)).await.unwrap(), "the renewal runs until 50");
    assert!(other.hold_lease(name, "b", at(50), at(80)).await.unwrap(), "lapsed: taken over");
    assert!(!lib.store.hold_lease(name, "a", at(51), at(81)).await.unwrap(), "the old holder has lost it");
    lib.store.release_lease(name, "a").await.unwrap();
    assert!(!lib.store.hold_lease(name, "a", at(52), at(82)).await.unwrap(), "a cannot give up what b holds");
    other.release_lease(name, "b").await.unwrap();
    assert!(lib.store.hold_lease(name, "a", at(53), at(83)).await.unwrap(), "given up: taken at once");
    assert!(lib.store.hold_lease("imap:other", "b", at(53), at(83)).await.unwrap(), "leases are per name");

    // Ten hubs' worth of holders asking for a fresh lease at once: one gets it.
    let mut asks = Vec::new();
    for i in 0..10 {
        let store = if i % 2 == 0 { lib.store.clone() } else { other.clone() };
        asks.push(tokio::spawn(async move { store.hold_lease("race", &format!("h{i}"), at(0), at(30)).await.unwrap() }));
    }
    let mut winners = 0;
    for a in asks {
        winners += a.await.unwrap() as usize;
    }
    assert_eq!(winners, 1);
}

crate::on_both_backends!(
    a_lease_is_held_by_one_hub_until_it_lapses_or_is_given_up,
    botnet_reports_of_one_period_raced_between_two_hubs_are_graded_on_their_sum,
    outbox_rows_are_claimed_by_one_hub_and_a_dead_hubs_claim_lapses,
    a_job_run_by_two_hubs_at_the_same_moment_runs_once,
);
