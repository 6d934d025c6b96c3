//! The scheduler driven by chosen instants on a real store, each test on SQLite and on PostgreSQL: reminders, overdue alerts, botnet escalation, monthly jobs, restarts, the digest.

use crate::helpers::{Backend, Lib, event, units_from_toml};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tongbao::decision::Engine;
use tongbao::decision::OutboxKind;
use tongbao::model::{Duty, ObligationStatus, YearMonth};
use tongbao::rules::ownership::Ownership;
use tongbao::rules::{Calendar, Policy};
use tongbao::schedule::{ScheduleConfig, Scheduler};
use tongbao::store::{AnyStore, JobStore, ObligationFilter, OutboxFilter, Store};

const MORE_UNITS: &str = r#"
[[units]]
code = "CSB"
name = "工业和信息化部网络安全管理局"
type = "csb"
province = "national"
contacts = [{ role = "contact", name = "值班", email = "duty@csb.example.cn" }]

[[units]]
code = "GD-BUREAU"
name = "广东省通信管理局"
type = "bureau"
province = "GD"
contacts = [{ role = "contact", name = "网安处", email = "wa@gdca.example.cn" }]

[[units]]
code = "ISP-X"
name = "某省级运营商（重要信息系统专线）"
type = "basic_telecom_provincial"
province = "GD"
important = true
contacts = [{ role = "contact", name = "孙七", email = "soc@ispx.example.cn" }]
"#;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn lib_with_ownership(backend: Backend) -> (Lib, Arc<Engine>) {
    let ownership = Ownership::from_toml("[[prefix]]\ncidr = \"203.0.113.0/24\"\nunit = \"ISP-X\"\n").unwrap();
    let engine = Arc::new(Engine { calendar: Calendar::builtin(), policy: Policy::default(), ownership });
    let lib = Lib::with_engine_on(engine.clone(), backend).await;
    lib.store.import_units(&units_from_toml(MORE_UNITS), Utc::now()).await.unwrap();
    (lib, engine)
}

/// Outbox rows about one subject: (kind, channel, recipient), sorted.
async fn rows_about(lib: &Lib, subject: &str) -> Vec<(String, String, String)> {
    let rows = lib.outbox(OutboxFilter { subject_id: Some(subject.to_string()), ..Default::default() }).await;
    let mut rows: Vec<_> = rows.into_iter().map(|r| (r.kind, r.channel, r.recipient)).collect();
    rows.sort();
    rows
}

/// Outbox rows of one kind: (recipient, payload as text), in the order they were queued.
async fn of_kind(lib: &Lib, kind: OutboxKind) -> Vec<(String, String)> {
    lib.outbox(OutboxFilter { kind: Some(kind), ..Default::default() })
        .await
        .into_iter()
        .map(|r| (r.recipient, r.payload.to_string()))
        .collect()
}

fn row(k: &str, c: &str, r: &str) -> (String, String, String) {
    (k.into(), c.into(), r.into())
}

async fn a_major_botnet_event_whose_feedback_never_comes_is_reminded_alerted_and_escalated_at_the_right_instants(backend: Backend) {
    let (lib, engine) = lib_with_ownership(backend).await;
    let store = lib.store.clone();
    // CNCERT finds a botnet of 600,000 bots whose C&C sits in ISP-X's network: major.
    let r = lib.submit("CNCERT", crate::helpers::botnet(600_000, &[], "2026-06-01T08:00:00+08:00"), "2026-06-01T08:10:00+08:00").await;
    let report = r.reports[0].report_id;
    let all = store.obligations(&ObligationFilter { report: Some(report), limit: 50, ..Default::default() }).await.unwrap();
    let feedback = all.iter().find(|o| o.duty == Duty::DisposalFeedback).expect("ISP-X owes feedback");
    assert_eq!(feedback.actor.to_string(), "unit:ISP-X");
    assert_eq!(feedback.deadline.due_at, t("2026-06-01T12:10:00+08:00"), "notice + 4 h (Art. 9(二))");
    assert_eq!(feedback.next_alert_at, Some(t("2026-06-01T11:40:00+08:00")), "reminded 30 minutes before");
    let ob = feedback.id.to_string();
    // The disposal notice itself went to ISP-X at once.
    assert_eq!(rows_about(&lib, &report.to_string()).await.iter().filter(|r| r.2 == "unit:ISP-X").count(), 1);
    // Art. 8(三) [僵尸机制]: it carries the C&C's address, port, discovery time and operator, the
    // malicious domains, the scale and the potential harm.
    let notice = lib
        .outbox(OutboxFilter { kind: Some(OutboxKind::Notice), recipient: Some("unit:ISP-X".into()), ..Default::default() })
        .await
        .remove(0)
        .payload
        .to_string();
    for part in [
        "控制端：IP 203.0.113.7 端口 6667",
        "发现时间 2026-06-01 08:00",
        "所属基础电信运营企业",
        "恶意域名",
        "规模 600000 个受控IP",
        "潜在危害",
    ] {
        assert!(notice.contains(part), "{part} in {notice}");
    }

    let mut s = Scheduler::new(store.clone(), engine.clone(), ScheduleConfig::default(), 180).unwrap();
    s.tick(t("2026-06-01T08:15:00+08:00")).await;
    s.tick(t("2026-06-01T11:39:00+08:00")).await;
    assert_eq!(rows_about(&lib, &ob).await, vec![], "nothing before the reminder time");

    s.tick(t("2026-06-01T11:41:00+08:00")).await;
    assert_eq!(rows_about(&lib, &ob).await, vec![row("reminder", "party", "unit:ISP-X")]);
    s.tick(t("2026-06-01T12:09:00+08:00")).await;
    assert_eq!(rows_about(&lib, &ob).await.len(), 1, "one reminder only");

    s.tick(t("2026-06-01T12:11:00+08:00")).await;
    assert_eq!(
        rows_about(&lib, &ob).await,
        vec![
            // ISP-X serves an important information system: CSB is told, copy CNCERT (Art. 9(四)).
            row("escalation", "party", "cncert"),
            row("escalation", "party", "csb"),
            row("overdue", "party", "cncert"),
            row("overdue", "party", "unit:ISP-X"),
            row("reminder", "party", "unit:ISP-X"),
        ]
    );
    let status = |store: Arc<AnyStore>| async move {
        store.obligations(&ObligationFilter { report: Some(report), limit: 50, ..Default::default() }).await.unwrap()
    };
    assert_eq!(status(store.clone()).await.iter().find(|o| o.duty == Duty::DisposalFeedback).unwrap().status, ObligationStatus::Missed);

    // The fan-out turns party rows into mails to each party's contacts.
    tongbao::fanout::expand_once(&*store, t("2026-06-01T12:12:00+08:00"), false).await.unwrap();
    let mut mails: Vec<(String, String, String)> = lib
        .outbox(OutboxFilter::default())
        .await
        .into_iter()
        .filter(|r| r.channel != "party" && r.payload["obligation_id"] == ob.as_str())
        .map(|r| (r.kind, r.channel, r.recipient))
        .collect();
    mails.sort();
    assert_eq!(
        mails,
        vec![
            // CNCERT's copies of the overdue alert and the escalation, by mail and to its systems.
            row("alert", "amqp", "to.CNCERT.alert"),
            row("alert", "amqp", "to.CNCERT.alert"),
            row("alert", "email", "duty@cert.example.cn"),
            row("alert", "email", "duty@cert.example.cn"),
            row("alert", "email", "duty@csb.example.cn"),
            row("alert", "email", "soc@ispx.example.cn"),
            row("alert", "email", "soc@ispx.example.cn"),
        ]
    );

    // A restart later that hour catches up: it runs every job once, and sends nothing twice.
    let before = lib.count("SELECT count(*) FROM outbox").await;
    let mut restarted = Scheduler::new(store.clone(), engine, ScheduleConfig::default(), 180).unwrap();
    restarted.tick(t("2026-06-01T13:00:00+08:00")).await;
    let after = lib.count("SELECT count(*) FROM outbox").await;
    assert_eq!(before, after);

    // The feedback comes at last: the duty is late (迟报), not missed.
    let fb = serde_json::json!({"kind": "disposal_feedback", "content": {"notice_ref": report, "unit_name": "ISP-X",
        "disposed": ["203.0.113.7"], "undisposed": []}});
    let r = lib.submit("ISP-X", fb, "2026-06-01T14:00:00+08:00").await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(status(store.clone()).await.iter().find(|o| o.duty == Duty::DisposalFeedback).unwrap().status, ObligationStatus::Late);
}

async fn monthly_reminders_go_once_on_the_first_working_day_and_the_missing_list_after_the_fifth(backend: Backend) {
    let (lib, engine) = lib_with_ownership(backend).await;
    let store = lib.store.clone();
    let summary = serde_json::json!({"kind": "monthly_general", "content": {"month": "2026-09", "events": []}});
    let mut s = Scheduler::new(store.clone(), engine.clone(), ScheduleConfig::default(), 180).unwrap();
    let reminders = || lib.count("SELECT count(*) FROM outbox WHERE kind = 'summary_reminder'");
    // Wed 2026-09-30 is still September: nothing. October 1–7 are holidays; the 1st working
    // day of October 2026 is Thu 10-08.
    s.tick(t("2026-09-30T09:00:00+08:00")).await;
    s.tick(t("2026-10-07T09:00:00+08:00")).await;
    assert_eq!(reminders().await, 0);
    // IDC-BJ sends its summary early; everyone else (CT-GD, CM-GROUP, GD-BUREAU, ISP-X) is reminded.
    lib.submit("IDC-BJ", summary.clone(), "2026-10-08T08:00:00+08:00").await;
    s.tick(t("2026-10-08T09:00:00+08:00")).await;
    assert_eq!(reminders().await, 4);
    // A restart the same day reminds nobody twice.
    let mut restarted = Scheduler::new(store.clone(), engine.clone(), ScheduleConfig::default(), 180).unwrap();
    restarted.tick(t("2026-10-08T10:00:00+08:00")).await;
    assert_eq!(reminders().await, 4);

    // CT-GD sends before the 5th working day (Tue 10-13, since Sat 10-10 is a make-up working day).
    lib.submit("CT-GD", summary, "2026-10-13T20:00:00+08:00").await;
    restarted.tick(t("2026-10-13T23:59:00+08:00")).await;
    let missing = of_kind(&lib, OutboxKind::MissingSummaries).await;
    assert!(missing.is_empty(), "not before the deadline");
    restarted.tick(t("2026-10-14T09:00:00+08:00")).await;
    let rows = lib.outbox(OutboxFilter { kind: Some(OutboxKind::MissingSummaries), ..Default::default() }).await;
    let mut missing: Vec<&str> = rows.iter().map(|r| r.recipient.as_str()).collect();
    missing.sort();
    assert_eq!(missing, vec!["cncert", "csb"]);
    assert_eq!(rows[0].payload["units"].to_string(), r#"["CM-GROUP","GD-BUREAU","ISP-X"]"#);
    // Those three duties are missed (漏报); the two that came are met.
    let mut summaries: Vec<(String, String)> = store
        .keyed_obligations("monthly_summary:%:2026-09")
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.actor.to_string(), o.status.code().to_string()))
        .collect();
    summaries.sort();
    assert_eq!(
        summaries,
        vec![
            ("bureau:GD".into(), "missed".into()),
            ("unit:CM-GROUP".into(), "missed".into()),
            ("unit:CT-GD".into(), "met".into()),
            ("unit:IDC-BJ".into(), "met".into()),
            ("unit:ISP-X".into(), "missed".into()),
        ]
    );
}

async fn a_september_digest_counts_exactly_what_was_stored_and_is_sent_once(backend: Backend) {
    let (lib, engine) = lib_with_ownership(backend).await;
    let store = lib.store.clone();
    let ev = |grade: &str, province: &str, at: &str| {
        let mut e = event(grade, at);
        e["provinces"] = serde_json::json!([province]);
        e
    };
    // August: 1 event. September: 2 major, 1 large, 3 general, across GD and BJ. October: 1.
    lib.submit("CT-GD", ev("general", "GD", "2026-08-20T10:00:00+08:00"), "2026-08-20T10:05:00+08:00").await;
    lib.submit("CT-GD", ev("major", "GD", "2026-09-02T10:00:00+08:00"), "2026-09-02T10:05:00+08:00").await;
    lib.submit("IDC-BJ", ev("major", "BJ", "2026-09-03T10:00:00+08:00"), "2026-09-03T10:05:00+08:00").await;
    lib.submit("IDC-BJ", ev("large", "BJ", "2026-09-10T10:00:00+08:00"), "2026-09-10T10:05:00+08:00").await;
    for d in ["05", "06", "07"] {
        lib.submit("CT-GD", ev("general", "GD", &format!("2026-09-{d}T10:00:00+08:00")), &format!("2026-09-{d}T10:05:00+08:00")).await;
    }
    // The last second of September (Beijing) counts; the first of October does not.
    lib.submit("CM-GROUP", ev("general", "GD", "2026-09-30T23:59:00+08:00"), "2026-09-30T23:59:59+08:00").await;
    lib.submit("CM-GROUP", ev("general", "GD", "2026-10-01T00:00:00+08:00"), "2026-10-01T00:00:00+08:00").await;

    let month: YearMonth = "2026-09".parse().unwrap();
    let d = tongbao::schedule::compute_digest(&*store, month, Utc::now()).await.unwrap();
    assert_eq!((d.total, d.previous_total), (7, 1));
    assert_eq!(d.change, Some(600.0));
    let count =
        |lines: &[tongbao::digest::Line], label: &str| lines.iter().find(|l| l.label.contains(label)).map(|l| (l.count, l.previous));
    assert_eq!(count(&d.by_grade, "重大"), Some((2, 0)));
    assert_eq!(count(&d.by_grade, "较大"), Some((1, 0)));
    assert_eq!(count(&d.by_grade, "一般"), Some((4, 1)));
    assert_eq!(count(&d.by_province, "广东"), Some((5, 1)));
    assert_eq!(count(&d.by_province, "北京"), Some((2, 0)));
    assert_eq!(count(&d.by_unit, "CT-GD"), Some((4, 1)));
    assert_eq!(d.typical[0].severity, "重大");
    assert_eq!(d.typical.len(), 5);

    // The workbook has a native chart per breakdown.
    let xlsx = tongbao::digest::workbook::xlsx(&d).unwrap();
    let zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
    assert_eq!(zip.file_names().filter(|n| n.as_ref().is_ok_and(|n| n.starts_with("xl/charts/chart"))).count(), 5);
    let png = tongbao::digest::chart::png(&d.by_grade).unwrap();
    assert_eq!(&png[1..4], b"PNG");

    // Scheduled: not before the 6th working day of October (Wed 10-14), then once.
    let mut s = Scheduler::new(store.clone(), engine.clone(), ScheduleConfig::default(), 180).unwrap();
    let digests = || lib.count("SELECT count(*) FROM outbox WHERE kind = 'digest' AND channel = 'party'");
    s.tick(t("2026-10-13T10:00:00+08:00")).await;
    let rows = of_kind(&lib, OutboxKind::Digest).await;
    assert_eq!(digests().await, 0, "{rows:?}");
    s.tick(t("2026-10-14T10:00:00+08:00")).await;
    let rows = of_kind(&lib, OutboxKind::Digest).await;
    assert_eq!(digests().await, 6, "to CSB, all bureaus and the 3 units concerned (Art. 19¶2), copy CNCERT: {rows:?}");
    let (again, _) = tongbao::schedule::send_digest(&*store, month, t("2026-10-14T11:00:00+08:00")).await.unwrap();
    assert!(!again, "`tongbao digest --send` after the scheduled send sends nothing");
    let mut restarted = Scheduler::new(store.clone(), engine, ScheduleConfig::default(), 180).unwrap();
    restarted.tick(t("2026-10-20T10:00:00+08:00")).await;
    assert_eq!(digests().await, 6);
    // The restart's catch-up fanned them out: CSB's and the GD bureau's contacts, CNCERT's mail and systems.
    let mut out: Vec<(String, String)> = lib
        .outbox(OutboxFilter { kind: Some(OutboxKind::Digest), ..Default::default() })
        .await
        .into_iter()
        .filter(|r| r.channel != "party")
        .map(|r| (r.channel, r.recipient))
        .collect();
    out.sort();
    let pair = |c: &str, r: &str| (c.to_string(), r.to_string());
    assert_eq!(
        out,
        vec![
            pair("amqp", "to.CNCERT.digest"),
            pair("amqp", "to.CT-GD.digest"),
            pair("email", "duty@cert.example.cn"),
            pair("email", "duty@csb.example.cn"),
            pair("email", "leader@gd.example.cn"),
            pair("email", "noc@idc.example.cn"),
            pair("email", "soc@cm.example.cn"),
            pair("email", "soc@gd.example.cn"),
            pair("email", "wa@gdca.example.cn")
        ]
    );
    // A unit's copy names no other unit: its own line, the others' cases without their reporter.
    let idc_copy = lib
        .outbox(OutboxFilter { kind: Some(OutboxKind::Digest), ..Default::default() })
        .await
        .into_iter()
        .find(|r| r.recipient == "noc@idc.example.cn")
        .unwrap();
    let copy: tongbao::digest::Digest = serde_json::from_value(idc_copy.payload["digest"].clone()).unwrap();
    assert_eq!(copy.by_unit.len(), 1, "{:?}", copy.by_unit);
    assert!(copy.by_unit[0].label.contains("IDC-BJ"));
    assert_eq!(copy.total, 7, "the month's whole picture");
    assert!(copy.typical.iter().all(|c| c.unit.contains("IDC-BJ") || c.unit == "（其他单位）"), "{:?}", copy.typical);

    // Art. 19¶2: the digest's duty is met when the last of CSB, the bureaus and the units
    // concerned has it; CNCERT's own copy does not count.
    let digest_status =
        || async { store.keyed_obligations("monthly_digest:2026-09").await.unwrap().iter().map(|o| o.status).collect::<Vec<_>>() };
    assert_eq!(digest_status().await, vec![ObligationStatus::Open], "queued is not delivered");
    let delivered = lib.outbox(OutboxFilter { kind: Some(OutboxKind::Digest), ..Default::default() }).await;
    let (cncert, others): (Vec<_>, Vec<_>) = delivered
        .into_iter()
        .filter(|r| r.channel != "party")
        .partition(|r| r.recipient.contains("CNCERT") || r.recipient.contains("cert.example"));
    let (last, rest) = others.split_last().unwrap();
    let ids = |rows: &[tongbao::store::OutboxRecord]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    store.outbox_sent(&ids(&cncert), t("2026-10-20T10:01:00+08:00")).await.unwrap();
    store.outbox_sent(&ids(rest), t("2026-10-20T10:02:00+08:00")).await.unwrap();
    assert_eq!(digest_status().await, vec![ObligationStatus::Open], "{} still waits for it", last.recipient);
    store.outbox_sent(&[last.id], t("2026-10-20T10:03:00+08:00")).await.unwrap();
    assert_eq!(digest_status().await, vec![ObligationStatus::Met]);
}

async fn an_appeal_reopens_the_obligation_it_names_with_a_fresh_deadline_and_only_for_those_it_concerns(backend: Backend) {
    let (lib, engine) = lib_with_ownership(backend).await;
    let store = lib.store.clone();
    let r = lib.submit("CNCERT", crate::helpers::botnet(600_000, &[], "2026-06-01T08:00:00+08:00"), "2026-06-01T08:10:00+08:00").await;
    let report = r.reports[0].report_id;
    let feedback_of = |store: Arc<AnyStore>| async move {
        let all = store.obligations(&ObligationFilter { report: Some(report), limit: 50, ..Default::default() }).await.unwrap();
        all.into_iter().find(|o| o.duty == Duty::DisposalFeedback).expect("ISP-X owes feedback")
    };
    let ob = feedback_of(store.clone()).await.id;
    let fb = serde_json::json!({"kind": "disposal_feedback", "content": {"notice_ref": report, "unit_name": "ISP-X",
        "disposed": ["203.0.113.7"], "undisposed": []}});
    let r = lib.submit("ISP-X", fb, "2026-06-01T09:00:00+08:00").await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(feedback_of(store.clone()).await.status, ObligationStatus::Met);

    let appeal =
        |reason: &str| serde_json::json!({"kind": "appeal", "content": {"obligation": ob, "reason": reason, "targets": ["203.0.113.7"]}});
    // A unit the obligation does not concern is told the id is unknown, as if it did not exist.
    let r = lib.submit("IDC-BJ", appeal("误封"), "2026-06-02T09:00:00+08:00").await;
    assert_eq!(r.reports.len(), 0);
    assert_eq!(r.errors[0].code, tongbao::model::ErrorCode::UnknownReference);
    assert_eq!(r.errors[0].place, "/content/obligation");
    assert_eq!(feedback_of(store.clone()).await.status, ObligationStatus::Met);

    // ISP-X's customer disputes the disposal: ISP-X appeals on Tuesday 10:00; the 4-hour feedback
    // clock restarts then, and CNCERT, to whom the feedback is owed, is told.
    let r = lib.submit("ISP-X", appeal("用户申诉：该地址为正常业务服务器"), "2026-06-02T10:00:00+08:00").await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let reopened = &r.reports[0].obligations;
    assert_eq!(reopened.len(), 1);
    assert_eq!((reopened[0].id, reopened[0].status), (ob, ObligationStatus::Open));
    assert_eq!(reopened[0].due_at, t("2026-06-02T14:00:00+08:00"));
    let o = feedback_of(store.clone()).await;
    assert_eq!((o.status, o.met_by, o.deadline.due_at), (ObligationStatus::Open, None, t("2026-06-02T14:00:00+08:00")));
    assert_eq!(o.next_alert_at, Some(t("2026-06-02T13:30:00+08:00")));
    assert_eq!(rows_about(&lib, &ob.to_string()).await, vec![row("notice", "party", "cncert")]);

    // It is open now: a second appeal has nothing to reopen.
    let r = lib.submit("ISP-X", appeal("再次申诉"), "2026-06-02T10:30:00+08:00").await;
    assert_eq!(r.errors[0].code, tongbao::model::ErrorCode::NotReopenable);

    // The scheduler keeps the new clock: a reminder and an overdue alert, as for a fresh duty.
    let mut s = Scheduler::new(store.clone(), engine, ScheduleConfig::default(), 180).unwrap();
    s.tick(t("2026-06-02T13:31:00+08:00")).await;
    s.tick(t("2026-06-02T14:01:00+08:00")).await;
    let kinds: Vec<String> = rows_about(&lib, &ob.to_string()).await.into_iter().filter(|r| r.1 == "party").map(|r| r.0).collect();
    assert_eq!(kinds, ["escalation", "escalation", "notice", "overdue", "overdue", "reminder"]);
    assert_eq!(feedback_of(store.clone()).await.status, ObligationStatus::Missed);

    // The new feedback comes late: 迟报, met by the new report.
    let fb = serde_json::json!({"kind": "disposal_feedback", "content": {"notice_ref": report, "unit_name": "ISP-X",
        "disposed": [], "undisposed": [{"target": "203.0.113.7", "reason": "经核实为正常业务服务器"}]}});
    let r = lib.submit("ISP-X", fb, "2026-06-02T15:00:00+08:00").await;
    let o = feedback_of(store.clone()).await;
    assert_eq!((o.status, o.met_by), (ObligationStatus::Late, Some(r.reports[0].report_id)));
    let reopened = lib.count(&format!("SELECT count(*) FROM audit WHERE action = 'obligation.reopened' AND subject = '{ob}'")).await;
    assert_eq!(reopened, 1);
}

fn summary(month: &str, events: &[(&str, &str)]) -> serde_json::Value {
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|(at, category)| serde_json::json!({"occurred_at": at, "category": category, "summary": "一般事件", "impact": "轻微"}))
        .collect();
    serde_json::json!({"kind": "monthly_general", "content": {"month": month, "events": events}})
}

async fn the_digest_of_a_month_counts_the_events_discovered_in_it_and_the_general_events_of_its_summaries(backend: Backend) {
    let (lib, _engine) = lib_with_ownership(backend).await;
    let store = lib.store.clone();
    let month: YearMonth = "2026-09".parse().unwrap();
    // Discovered on the last evening of September, received in October: September's.
    lib.submit("CT-GD", event("major", "2026-09-30T22:00:00+08:00"), "2026-10-01T09:00:00+08:00").await;
    // Received in September, discovered in August: August's.
    lib.submit("CT-GD", event("large", "2026-08-31T22:00:00+08:00"), "2026-09-01T09:00:00+08:00").await;
    // CT-GD's summary of September lists three general events; a corrected resend lists two and is the one counted.
    let first = summary("2026-09", &[("2026-09-03 10:00", "ddos"), ("2026-09-04 10:00", "ddos"), ("2026-09-05 10:00", "spam")]);
    assert_eq!(lib.submit("CT-GD", first, "2026-10-08T10:00:00+08:00").await.errors, vec![]);
    let corrected = summary("2026-09", &[("2026-09-03 10:00", "ddos"), ("2026-09-05 10:00", "spam")]);
    assert_eq!(lib.submit("CT-GD", corrected, "2026-10-09T10:00:00+08:00").await.errors, vec![]);
    // IDC-BJ's summary for September comes in time too.
    lib.submit("IDC-BJ", summary("2026-09", &[("2026-09-10 10:00", "web_defacement")]), "2026-10-09T11:00:00+08:00").await;

    let d = tongbao::schedule::compute_digest(&*store, month, Utc::now()).await.unwrap();
    let count =
        |lines: &[tongbao::digest::Line], label: &str| lines.iter().find(|l| l.label.contains(label)).map(|l| (l.count, l.previous));
    assert_eq!(count(&d.by_grade, "重大"), Some((1, 0)), "{:?}", d.by_grade);
    assert_eq!(count(&d.by_grade, "较大"), Some((0, 1)), "discovered in August: August's, {:?}", d.by_grade);
    assert_eq!(count(&d.by_grade, "一般（事件）"), Some((3, 0)), "the summaries' general events, latest summary only: {:?}", d.by_grade);
    // Each listed event under its own category: the corrected summary's one DDoS and one spam.
    // (SQLite once grouped them by the reports table's own empty category column instead, and
    // counted both as DDoS; running this test on PostgreSQL showed it.)
    assert_eq!(count(&d.by_category, "拒绝服务"), Some((2, 1)), "the major event and one in the summary; August's: {:?}", d.by_category);
    assert_eq!(count(&d.by_category, "垃圾邮件"), Some((1, 0)), "{:?}", d.by_category);
    assert_eq!(count(&d.by_category, "网页篡改"), Some((1, 0)), "{:?}", d.by_category);
    assert_eq!(count(&d.by_province, "北京"), Some((1, 0)), "IDC-BJ's events count for its province: {:?}", d.by_province);
    assert!(d.late_summaries.is_empty());

    // The digest goes out; CM-GROUP's September summary comes after it: counted in October's, marked late.
    let (sent, _) = tongbao::schedule::send_digest(&*store, month, t("2026-10-16T09:00:00+08:00")).await.unwrap();
    assert!(sent);
    lib.submit("CM-GROUP", summary("2026-09", &[("2026-09-20 10:00", "malware")]), "2026-10-20T10:00:00+08:00").await;
    // CT-GD resends its (already counted) September summary: not counted again.
    lib.submit("CT-GD", summary("2026-09", &[("2026-09-03 10:00", "spam")]), "2026-10-21T10:00:00+08:00").await;
    // An event discovered in September but received after September's digest went out is
    // October's late arrival, never lost between the two.
    lib.submit("IDC-BJ", event("large", "2026-09-29T10:00:00+08:00"), "2026-10-22T10:00:00+08:00").await;
    let again = tongbao::schedule::compute_digest(&*store, month, Utc::now()).await.unwrap();
    assert_eq!(count(&again.by_grade, "一般（事件）"), Some((3, 0)), "a digest that went out is not changed by later summaries");
    let october = tongbao::schedule::compute_digest(&*store, "2026-10".parse().unwrap(), Utc::now()).await.unwrap();
    assert_eq!(count(&october.by_category, "木马"), Some((1, 0)), "{:?}", october.by_category);
    assert_eq!(october.late_summaries.len(), 1, "the resent summary is not late: {:?}", october.late_summaries);
    assert_eq!(
        count(&october.by_category, "垃圾邮件").map_or(0, |(n, _)| n),
        0,
        "the resend is not counted again: {:?}",
        october.by_category
    );
    assert_eq!(count(&october.by_grade, "较大"), Some((1, 0)), "the late arrival: {:?}", october.by_grade);
    let september = tongbao::schedule::compute_digest(&*store, month, Utc::now()).await.unwrap();
    assert_eq!(september.by_grade, again.by_grade, "September's sent digest is recomputed the same");
    assert!(
        october.late_summaries[0].contains("CM-GROUP") && october.late_summaries[0].contains("2026-09"),
        "{:?}",
        october.late_summaries
    );
}

/// Art. 9(三) [僵尸机制]: the verification after disposal falls to the basic telecom operator that
/// found the event; an IDC that reports one owes none.
async fn only_an_operator_that_found_a_botnet_owes_its_verification(backend: Backend) {
    let (lib, _engine) = lib_with_ownership(backend).await;
    for (unit, owes) in [("CT-GD", true), ("IDC-BJ", false)] {
        let r = lib.submit(unit, crate::helpers::botnet(200_000, &[], "2026-06-01 08:00"), "2026-06-01T00:10:00Z").await;
        let id = r.reports[0].report_id;
        let os = lib.store.obligations(&ObligationFilter { report: Some(id), limit: 100, ..Default::default() }).await.unwrap();
        let verification: Vec<_> = os.iter().filter(|o| o.duty == Duty::Verification).map(|o| o.actor.to_string()).collect();
        assert_eq!(!verification.is_empty(), owes, "{unit}: {verification:?}");
        if owes {
            assert_eq!(verification, vec![format!("unit:{unit}")]);
        } else {
            // An event CNCERT collected from another unit is verified by CNCERT, the monitoring
            // unit (Art. 9(三)), once the notified unit has fed back.
            let feedback = serde_json::json!({"kind": "disposal_feedback", "content": {"notice_ref": id.to_string(),
                "unit_name": "某省级运营商", "disposed": ["203.0.113.7"]}});
            let f = lib.submit("ISP-X", feedback, "2026-06-01T02:00:00Z").await;
            assert!(f.errors.is_empty(), "{:?}", f.errors);
            let os = lib.store.obligations(&ObligationFilter { report: Some(id), limit: 100, ..Default::default() }).await.unwrap();
            let verifier: Vec<_> = os.iter().filter(|o| o.duty == Duty::Verification).map(|o| o.actor.to_string()).collect();
            assert_eq!(verifier, vec!["cncert"], "{unit}'s event is verified by CNCERT");
        }
    }
    // A C&C nobody answers for in the ownership file: the receipt says nobody could be told.
    let stray = serde_json::json!({"kind": "botnet_event", "discovered_at": "2026-06-01 08:00", "provinces": ["GD"],
        "content": {"botnets": [{"cc_ip": "192.0.2.44", "port": 80, "bot_count": 10}]}});
    let r = lib.submit("CT-GD", stray, "2026-06-01T00:20:00Z").await;
    assert!(r.notes.iter().any(|n| n.message.contains("未能自动通知任何处置单位")), "{:?}", r.notes);
}

/// Art. 7 and 9(二)(三) [僵尸机制]: a regrade moves the clocks it changes. A general botnet's
/// disposal feedback owed in 5 working days is owed within 4 hours of the regrading once another
/// report makes the period large, and the reporting unit is told the new grade and deadlines.
async fn a_regrade_brings_the_disposal_clocks_forward_and_says_so(backend: Backend) {
    let (lib, _engine) = lib_with_ownership(backend).await;
    let first = lib.submit("CT-GD", crate::helpers::botnet(60_000, &[], "2026-06-03 08:00"), "2026-06-03T00:10:00Z").await;
    let id = first.reports[0].report_id;
    let feedback = |os: &[tongbao::model::Obligation]| os.iter().find(|o| o.duty == Duty::DisposalFeedback).unwrap().deadline.due_at;
    let before = lib.store.obligations(&ObligationFilter { report: Some(id), limit: 100, ..Default::default() }).await.unwrap();
    assert!(feedback(&before) > t("2026-06-09T00:00:00+08:00"), "general: 5 working days");
    let other = serde_json::json!({"kind": "botnet_event", "discovered_at": "2026-06-03 09:00", "provinces": ["BJ"],
        "content": {"botnets": [{"cc_ip": "198.51.100.9", "port": 443, "bot_count": 60_000}]}});
    let r = lib.submit("IDC-BJ", other, "2026-06-03T02:00:00Z").await;
    assert_eq!(r.regraded.len(), 1);
    // Art. 8(三) [僵尸机制]: CNCERT's report to CSB copies the bureaus of both reports' provinces.
    let report =
        lib.store.obligations(&ObligationFilter { report: Some(r.reports[0].report_id), limit: 100, ..Default::default() }).await.unwrap();
    let cncert = report.iter().find(|o| o.duty == Duty::CncertReport).expect("CNCERT reports the regraded period");
    let mut copied: Vec<String> = cncert.copy.iter().map(|p| p.to_string()).collect();
    copied.sort();
    assert_eq!(copied, vec!["bureau:BJ", "bureau:GD"], "{cncert:?}");
    let after = lib.store.obligations(&ObligationFilter { report: Some(id), limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(feedback(&after), t("2026-06-03T06:00:00Z"), "4 hours from the regrading");
    let verification = after.iter().find(|o| o.duty == Duty::Verification).unwrap();
    assert_eq!(verification.deadline.due_at, t("2026-06-03T08:00:00Z"), "the finding operator's verification: 6 hours");
    let alerts_to = |unit: &str| {
        lib.outbox(OutboxFilter {
            kind: Some(OutboxKind::Alert),
            subject_id: Some(id.to_string()),
            recipient: Some(unit.to_string()),
            ..Default::default()
        })
    };
    let told: Vec<(String,)> = alerts_to("unit:CT-GD").await.into_iter().map(|r| (r.payload.to_string(),)).collect();
    assert_eq!(told.len(), 1);
    assert!(told[0].0.contains("较大") && told[0].0.contains("新的期限") && told[0].0.contains("2026-06-03 14:00"), "{}", told[0].0);
    // ISP-X, answerable for the C&C and owing the feedback, is told its deadline moved.
    let owner: Vec<(String,)> = alerts_to("unit:ISP-X").await.into_iter().map(|r| (r.payload.to_string(),)).collect();
    assert_eq!(owner.len(), 1);
    assert!(owner[0].0.contains("期限提前") && owner[0].0.contains("2026-06-03 14:00"), "{}", owner[0].0);
}

/// Art. 9(四) [僵尸机制]: targets left undisposed in a feedback, or still malicious at
/// verification, are escalated by whose system they are: an important information system's
/// (marked in the ownership file, or flagged in the feedback) to CSB copying CNCERT; any other
/// to the reporting unit and CNCERT, for handling under the service contract.
async fn undisposed_and_still_malicious_targets_escalate_by_the_users_system(backend: Backend) {
    let ownership = Ownership::from_toml(
        "[[prefix]]\ncidr = \"203.0.113.0/24\"\nunit = \"ISP-X\"\n\
         [[important]]\ncidr = \"203.0.113.0/28\"\nname = \"某银行数据中心\"\n",
    )
    .unwrap();
    let engine = Arc::new(Engine { calendar: Calendar::builtin(), policy: Policy::default(), ownership });
    let lib = Lib::with_engine_on(engine.clone(), backend).await;
    lib.store.import_units(&units_from_toml(MORE_UNITS), Utc::now()).await.unwrap();
    let event =
        lib.submit("CT-GD", crate::helpers::botnet(200_000, &[], "2026-06-01 08:00"), "2026-06-01T00:10:00Z").await.reports[0].report_id;
    let feedback = serde_json::json!({"kind": "disposal_feedback", "content": {"notice_ref": event.to_string(), "unit_name": "某省级运营商",
        "disposed": [], "undisposed": [
            {"target": "203.0.113.7", "reason": "用户拒绝关停"},
            {"target": "198.51.100.20", "reason": "用户为政务外网", "important": true},
            {"target": "c2.example.com", "reason": "境外注册"}]}});
    let f = lib.submit("ISP-X", feedback, "2026-06-01T02:00:00Z").await;
    assert!(f.errors.is_empty(), "{:?}", f.errors);
    let alerts = || async {
        let filter = OutboxFilter {
            kind: Some(OutboxKind::Alert),
            channel: Some(tongbao::decision::OutboxChannel::Party),
            subject_id: Some(event.to_string()),
            ..Default::default()
        };
        lib.outbox(filter).await.into_iter().map(|r| (r.recipient, r.payload.to_string())).collect::<Vec<_>>()
    };
    let rows = alerts().await;
    let to = |who: &str, what: &str| rows.iter().filter(|(r, p)| r == who && p.contains(what)).count();
    assert_eq!(to("csb", "重要信息系统"), 1, "{rows:#?}");
    assert_eq!(to("cncert", "【重要信息系统】"), 1, "copy CNCERT: {rows:#?}");
    let important = &rows.iter().find(|(r, _)| r == "csb").unwrap().1;
    assert!(
        important.contains("203.0.113.7") && important.contains("某银行数据中心") && important.contains("198.51.100.20"),
        "{important}"
    );
    assert!(!important.contains("c2.example.com"));
    assert_eq!(to("unit:ISP-X", "按服务协议处理"), 1, "{rows:#?}");
    // At verification, a target still malicious escalates the same way.
    let verification = serde_json::json!({"kind": "verification", "content": {"notice_ref": event.to_string(),
        "results": [{"target": "203.0.113.9", "still_malicious": true}, {"target": "c2.example.com", "still_malicious": false}]}});
    assert!(lib.submit("CT-GD", verification, "2026-06-01T04:00:00Z").await.errors.is_empty());
    let rows = alerts().await;
    assert_eq!(
        rows.iter().filter(|(r, p)| r == "csb" && p.contains("203.0.113.9") && p.contains("仍存在恶意连接")).count(),
        1,
        "{rows:#?}"
    );
}

/// Art. 9(二)(三) [僵尸机制]: a disposal feedback is taken only from a unit notified to dispose
/// of the event, a verification only from the party that owes it; anyone else is told the event
/// is unknown, as for another unit's report, and nothing of theirs is stored as met.
async fn feedback_and_verification_come_only_from_those_who_owe_them(backend: Backend) {
    let (lib, _engine) = lib_with_ownership(backend).await;
    let event =
        lib.submit("CT-GD", crate::helpers::botnet(200_000, &[], "2026-06-01 08:00"), "2026-06-01T00:10:00Z").await.reports[0].report_id;
    let feedback = serde_json::json!({"kind": "disposal_feedback", "content": {"notice_ref": event.to_string(), "unit_name": "x",
        "disposed": ["203.0.113.7"], "undisposed": []}});
    let verification = serde_json::json!({"kind": "verification", "content": {"notice_ref": event.to_string(),
        "results": [{"target": "203.0.113.7", "still_malicious": false}]}});
    for (unit, body, why) in [
        ("IDC-BJ", &feedback, "IDC-BJ was not notified"),
        ("CT-GD", &feedback, "the reporter was not notified to dispose (ISP-X was)"),
        ("IDC-BJ", &verification, "IDC-BJ owes no verification"),
        ("ISP-X", &verification, "the disposing unit does not verify itself"),
    ] {
        let r = lib.submit(unit, body.clone(), "2026-06-01T02:00:00Z").await;
        assert_eq!(r.outcome, tongbao::model::Outcome::Rejected, "{why}");
        assert_eq!(
            r.errors.iter().map(|e| (e.code, e.place.as_str())).collect::<Vec<_>>(),
            vec![(tongbao::model::ErrorCode::UnknownReference, "/content/notice_ref")],
            "{why}"
        );
    }
    assert!(lib.submit("ISP-X", feedback, "2026-06-01T02:00:00Z").await.errors.is_empty(), "the notified unit feeds back");
    assert!(lib.submit("CT-GD", verification, "2026-06-01T03:00:00Z").await.errors.is_empty(), "the operator that found it verifies");
}

/// January 2027 before the State Council's schedule is out (《全国年节及纪念日放假办法》 Art. 2;
/// 《通报办法》 Art. 13¶3, 19): 元旦 is a holiday by law, so December's summaries are due at the
/// end of the 5th working day, Fri 01-08, not Thu 01-07; the reminder says the deadline is
/// provisional; a summary sent on the 8th is on time; nobody is listed or alerted 漏报 before
/// the 8th is over, and the digest waits for the 6th working day at its hour.
async fn january_2027_without_a_schedule_raises_no_false_alarm(backend: Backend) {
    let (lib, engine) = lib_with_ownership(backend).await;
    let store = lib.store.clone();
    let mut s = Scheduler::new(store.clone(), engine.clone(), ScheduleConfig::default(), 180).unwrap();
    let count = async |kind: &str| lib.count(&format!("SELECT count(*) FROM outbox WHERE kind = '{kind}'")).await;
    let december_digest = async || lib.count("SELECT count(*) FROM outbox WHERE kind = 'digest' AND subject_id = 'digest:2026-12'").await;
    s.tick(t("2026-12-31T09:00:00+08:00")).await;
    let told = async || lib.count("SELECT count(*) FROM outbox WHERE subject_id = 'calendar:2027' AND recipient = 'cncert'").await;
    assert_eq!(told().await, 1, "CNCERT is told the 2027 schedule is missing");
    s.tick(t("2027-01-01T09:00:00+08:00")).await;
    assert_eq!(told().await, 1, "once a week");
    assert_eq!(count("summary_reminder").await, 0, "元旦 is no working day");
    s.tick(t("2027-01-04T09:00:00+08:00")).await;
    let reminders = of_kind(&lib, OutboxKind::SummaryReminder).await;
    assert!(!reminders.is_empty());
    assert!(reminders[0].1.contains("2027-01-08 24:00（暂定）"), "due Fri 01-08, marked provisional: {}", reminders[0].1);

    // On the morning of the 8th nothing is overdue yet; CT-GD sends that evening.
    s.tick(t("2027-01-08T09:00:00+08:00")).await;
    let summary = serde_json::json!({"kind": "monthly_general", "content": {"month": "2026-12", "events": []}});
    assert!(lib.submit("CT-GD", summary, "2027-01-08T20:00:00+08:00").await.errors.is_empty());
    s.tick(t("2027-01-08T23:59:00+08:00")).await;
    assert_eq!(count("overdue").await, 0, "no 漏报 on 01-08");
    assert_eq!(count("missing_summaries").await, 0, "no missing list before the 5th working day is over");
    assert_eq!(december_digest().await, 0, "the digest waits for the summaries");
    let ct_gd = store.keyed_obligations("monthly_summary:CT-GD:2026-12").await.unwrap();
    assert_eq!(ct_gd[0].status, ObligationStatus::Met, "a summary on the 8th is on time, not 迟报");
    assert!(ct_gd[0].deadline.provisional);

    // A digest of January looked at on the 8th says the month is not over, and compares nothing.
    let partial = tongbao::schedule::compute_digest(&*store, "2027-01".parse().unwrap(), t("2027-01-08T10:00:00+08:00")).await.unwrap();
    assert_eq!(partial.in_progress_as_of.as_deref(), Some("2027-01-08 10:00"));
    assert!(partial.change.is_none() && partial.trend.contains("本月尚未结束"), "{}", partial.trend);

    // The 9th: the 5th working day has passed under any schedule; the others are missing.
    s.tick(t("2027-01-09T09:00:00+08:00")).await;
    let missing = lib.outbox(OutboxFilter { kind: Some(OutboxKind::MissingSummaries), ..Default::default() }).await;
    assert!(!missing.is_empty());
    assert!(!missing[0].payload["units"].to_string().contains("CT-GD"), "{}", missing[0].payload);

    // The digest of December on the 6th working day, Mon 01-11, at its hour (10:00), not at
    // a restart in the small hours.
    let mut restarted = Scheduler::new(store.clone(), engine.clone(), ScheduleConfig::default(), 180).unwrap();
    restarted.tick(t("2027-01-11T01:12:00+08:00")).await;
    assert_eq!(december_digest().await, 0, "not at 01:12");
    restarted.tick(t("2027-01-11T10:00:00+08:00")).await;
    assert!(december_digest().await > 0, "at 10:00");
}

/// 《木马和僵尸网络监测与处置机制》 and 《通报办法》 deadlines that run into an unscheduled year are
/// provisional: when the schedule comes (here a made-up one that gives 02-09..02-12 off too)
/// they are recomputed, statuses are decided again, and the due times move.
async fn an_imported_schedule_settles_provisional_deadlines_and_their_statuses(backend: Backend) {
    let (lib, engine) = lib_with_ownership(backend).await;
    let store = lib.store.clone();
    // A blue warning on Fri 01-29, met by its own report: due 5 working days later.
    let warning = serde_json::json!({"kind": "warning", "discovered_at": "2027-01-29T10:00:00+08:00", "category": "vulnerability", "level": 4,
        "provinces": ["GD"], "content": {"description": "d", "potential_harm": "h", "affected_scope": "s", "aware_parties": "a", "recommendations": "r"}});
    let r = lib.submit("CT-GD", warning, "2027-01-29T10:30:00+08:00").await;
    let report = r.reports[0].report_id;
    let all = store.obligations(&ObligationFilter { report: Some(report), limit: 50, ..Default::default() }).await.unwrap();
    let met = all.iter().find(|o| o.deadline.provisional).expect("a provisional duty");
    assert_eq!(met.deadline.due_at, t("2027-02-10T00:00:00+08:00"), "除夕 to 初三 (02-05..02-08) are statutory: due 02-09 24:00");
    // January's summaries, asked on the 1st working day of February, due on its 5th: 02-09 too.
    let mut s = Scheduler::new(store.clone(), engine.clone(), ScheduleConfig::default(), 180).unwrap();
    s.tick(t("2027-02-01T09:00:00+08:00")).await;
    let owed = store.keyed_obligations("monthly_summary:CT-GD:2027-01").await.unwrap().remove(0);
    assert_eq!(owed.deadline.due_at, t("2027-02-10T00:00:00+08:00"));
    // Past that, but within the widest Spring Festival span: no 漏报, no missing list yet.
    s.tick(t("2027-02-10T09:00:00+08:00")).await;
    let overdue = lib.count("SELECT count(*) FROM outbox WHERE kind IN ('overdue', 'missing_summaries')").await;
    assert_eq!(overdue, 0, "nothing is called missed while the deadline is provisional");
    assert_eq!(store.keyed_obligations("monthly_summary:CT-GD:2027-01").await.unwrap()[0].status, ObligationStatus::Open);

    // The State Council's schedule (made up here) gives 02-05..02-12 off and 02-20 worked.
    let cal = Calendar::from_toml(&format!(
        "{}\n[years.2027]\nholidays = [\"01-01..01-03\", \"02-05..02-12\"]\nworkdays = [\"02-20\"]\n",
        tongbao::rules::calendar::BUILTIN
    ))
    .unwrap();
    let done =
        tongbao::schedule::recompute::recompute(&*store, &cal, &Policy::default().reminders, t("2027-02-10T10:00:00+08:00")).await.unwrap();
    assert!(done.settled >= 2, "{done:?}");
    let after = store.obligations(&ObligationFilter { report: Some(report), limit: 50, ..Default::default() }).await.unwrap();
    let settled = after.iter().find(|x| x.id == met.id).unwrap();
    assert!(!settled.deadline.provisional);
    assert_eq!(settled.deadline.due_at, t("2027-02-16T00:00:00+08:00"), "02-01..02-04, then Mon 02-15");
    assert_eq!(settled.status, ObligationStatus::Met);
    let owed = store.keyed_obligations("monthly_summary:CT-GD:2027-01").await.unwrap().remove(0);
    assert!(!owed.deadline.provisional);
    assert_eq!(owed.deadline.due_at, t("2027-02-16T00:00:00+08:00"));
    assert_eq!(owed.status, ObligationStatus::Open);
    assert!(owed.next_alert_at.is_some_and(|at| at <= owed.deadline.due_at), "looked at again by its new deadline");
    // Under the real schedule it is missed once 02-15 is over, and only then.
    let mut s =
        Scheduler::new(store.clone(), Arc::new(Engine { calendar: cal, ..(*engine).clone() }), ScheduleConfig::default(), 180).unwrap();
    s.tick(t("2027-02-15T23:00:00+08:00")).await;
    assert_eq!(store.keyed_obligations("monthly_summary:CT-GD:2027-01").await.unwrap()[0].status, ObligationStatus::Open);
    s.tick(t("2027-02-16T09:00:00+08:00")).await;
    assert_eq!(store.keyed_obligations("monthly_summary:CT-GD:2027-01").await.unwrap()[0].status, ObligationStatus::Missed);
}

/// Retention (《僵尸机制》 Art. 10 keeps data 60 days; the purge keeps more, never less): a
/// report with a duty still open stays, whatever its age, so the written report it is owed can
/// still name it (《通报办法》 Art. 18); so does what the digest not yet sent counts and the
/// month it is compared with (Art. 19). The rest older than the period goes.
async fn retention_keeps_what_is_still_owed_and_what_the_next_digest_reads(backend: Backend) {
    use tongbao::model::Channel;
    use tongbao::model::submission::Sender;
    use tongbao::schedule::Job;
    let (lib, engine) = lib_with_ownership(backend).await;
    let store = lib.store.clone();
    // Early April: one report phoned in (its written form never comes) and one written.
    let phoned = lib
        .submit_as(
            Sender::Unit("CT-GD".parse().unwrap()),
            Channel::Phone,
            event("large", "2026-04-02T09:00:00+08:00"),
            "2026-04-02T10:00:00+08:00",
        )
        .await;
    let warning = serde_json::json!({"kind": "warning", "discovered_at": "2026-04-03T09:00:00+08:00", "category": "vulnerability", "level": 4,
        "provinces": ["GD"], "content": {"description": "d", "potential_harm": "h", "affected_scope": "s", "aware_parties": "a", "recommendations": "r"}});
    let written = lib.submit("CT-GD", warning, "2026-04-03T10:00:00+08:00").await;
    let owed =
        store.obligations(&ObligationFilter { report: Some(written.reports[0].report_id), limit: 50, ..Default::default() }).await.unwrap();
    assert!(owed.iter().all(|o| o.status != ObligationStatus::Open || o.duty == Duty::TrackWarning), "{owed:?}");
    // Early June, discovered in June: June's digest (sent in July) counts it, and July's compares with it.
    let june = lib.submit("CT-GD", event("general", "2026-06-01T09:00:00+08:00"), "2026-06-01T10:00:00+08:00").await;
    let s = Scheduler::new(store.clone(), engine.clone(), ScheduleConfig::default(), 60).unwrap();
    // 2 August: 60 days back is 3 June; July's digest has not gone out yet.
    s.run_job(Job::Retention, t("2026-08-02T03:00:00+08:00")).await.unwrap();
    let kept = |id: tongbao::model::ReportId| {
        let store = store.clone();
        async move { store.report(id, None).await.unwrap().is_some() }
    };
    assert!(kept(phoned.reports[0].report_id).await, "the phoned report still owes its written form");
    assert!(!kept(written.reports[0].report_id).await, "a report that owes nothing goes after the period");
    assert!(kept(june.reports[0].report_id).await, "June is what July's digest compares with");
}

/// Art. 4, 13¶3 [通报办法]: monthly summaries are asked of the reporting units only, not of a
/// non-commercial network (a partner, NOTES.md 1) nor of the police liaison that receives
/// referrals; bureaus are reporting units and are asked.
async fn monthly_summaries_are_asked_only_of_units_that_owe_them(backend: Backend) {
    let policy = Policy { public_security_unit: Some("GA-LIAISON".into()), ..Policy::default() };
    let engine = Arc::new(Engine { calendar: Calendar::builtin(), policy, ownership: Ownership::default() });
    let lib = Lib::with_engine_on(engine.clone(), backend).await;
    let others = r#"
[[units]]
code = "CERNET"
name = "中国教育和科研计算机网"
type = "non_commercial_interconnect"
province = "national"
contacts = [{ role = "contact", name = "值班", email = "noc@cernet.example.cn" }]

[[units]]
code = "GA-LIAISON"
name = "公安机关联络人"
type = "cross_province_vas"
province = "national"
contacts = [{ role = "contact", name = "联络员", email = "liaison@mps.example.cn" }]
"#;
    lib.store.import_units(&units_from_toml(&format!("{MORE_UNITS}{others}")), Utc::now()).await.unwrap();
    let mut s = Scheduler::new(lib.store.clone(), engine, ScheduleConfig::default(), 180).unwrap();
    s.tick(t("2026-10-08T09:00:00+08:00")).await;
    let asked: Vec<String> = lib
        .outbox(OutboxFilter { kind: Some(OutboxKind::SummaryReminder), ..Default::default() })
        .await
        .into_iter()
        .map(|r| r.recipient)
        .collect();
    assert!(asked.contains(&"bureau:GD".to_string()) && asked.contains(&"unit:CT-GD".to_string()), "{asked:?}");
    assert!(!asked.iter().any(|r| r.contains("CERNET") || r.contains("GA-LIAISON")), "{asked:?}");
    let duties = lib.store.keyed_obligations("monthly_summary:%:2026-09").await.unwrap();
    assert!(duties.iter().all(|o| !o.actor.to_string().contains("CERNET") && !o.actor.to_string().contains("GA-LIAISON")));
}

/// Art. 9(四) [僵尸机制]: a disposal feedback that never comes is escalated by the target's user,
/// as an undisposed target in a feedback is: a C&C under an `[[important]]` entry of the
/// ownership file goes to CSB copying CNCERT even though the notified unit serves no important
/// system itself; another is flagged to CNCERT.
async fn a_missing_feedback_escalates_by_the_user_of_its_cc(backend: Backend) {
    let ownership = Ownership::from_toml(
        "[[prefix]]\ncidr = \"198.51.100.0/24\"\nunit = \"CT-GD\"\n[[important]]\ncidr = \"198.51.100.0/28\"\nname = \"某银行数据中心\"\n",
    )
    .unwrap();
    let engine = Arc::new(Engine { calendar: Calendar::builtin(), policy: Policy::default(), ownership });
    let lib = Lib::with_engine_on(engine.clone(), backend).await;
    lib.store.import_units(&units_from_toml(MORE_UNITS), Utc::now()).await.unwrap();
    let botnet = |cc: &str| {
        serde_json::json!({"kind": "botnet_event", "discovered_at": "2026-06-01T08:00:00+08:00", "provinces": ["GD"],
            "content": {"botnets": [{"cc_ip": cc, "port": 6667, "bot_count": 600_000}]}})
    };
    let bank = lib.submit("CNCERT", botnet("198.51.100.5"), "2026-06-01T08:10:00+08:00").await.reports[0].report_id;
    let plain = lib.submit("CNCERT", botnet("198.51.100.200"), "2026-06-01T08:20:00+08:00").await.reports[0].report_id;
    let mut s = Scheduler::new(lib.store.clone(), engine, ScheduleConfig::default(), 180).unwrap();
    s.tick(t("2026-06-01T13:00:00+08:00")).await;
    let escalated = async |report: tongbao::model::ReportId| {
        let all = lib.store.obligations(&ObligationFilter { report: Some(report), limit: 50, ..Default::default() }).await.unwrap();
        let feedback = all.iter().find(|o| o.duty == Duty::DisposalFeedback).expect("CT-GD owes feedback").id.to_string();
        let mut to: Vec<String> = lib
            .outbox(OutboxFilter { kind: Some(OutboxKind::Escalation), subject_id: Some(feedback), ..Default::default() })
            .await
            .into_iter()
            .map(|r| r.recipient)
            .collect();
        to.sort();
        to
    };
    assert_eq!(escalated(bank).await, vec!["cncert", "csb"], "the bank's system: CSB, copy CNCERT");
    assert_eq!(escalated(plain).await, vec!["cncert"], "anyone else: flagged to CNCERT");
}

crate::on_both_backends!(
    a_major_botnet_event_whose_feedback_never_comes_is_reminded_alerted_and_escalated_at_the_right_instants,
    monthly_reminders_go_once_on_the_first_working_day_and_the_missing_list_after_the_fifth,
    a_september_digest_counts_exactly_what_was_stored_and_is_sent_once,
    an_appeal_reopens_the_obligation_it_names_with_a_fresh_deadline_and_only_for_those_it_concerns,
    the_digest_of_a_month_counts_the_events_discovered_in_it_and_the_general_events_of_its_summaries,
    only_an_operator_that_found_a_botnet_owes_its_verification,
    a_regrade_brings_the_disposal_clocks_forward_and_says_so,
    undisposed_and_still_malicious_targets_escalate_by_the_users_system,
    feedback_and_verification_come_only_from_those_who_owe_them,
    january_2027_without_a_schedule_raises_no_false_alarm,
    an_imported_schedule_settles_provisional_deadlines_and_their_statuses,
    retention_keeps_what_is_still_owed_and_what_the_next_digest_reads,
    monthly_summaries_are_asked_only_of_units_that_owe_them,
    a_missing_feedback_escalates_by_the_user_of_its_cc,
);

mod cast {
    // A simulated ten weeks take a while: SQLite only, which shares every rule with PostgreSQL.
    #[tokio::test]
    async fn a_national_cast_through_december_and_january_is_alerted_only_as_the_law_says() {
        super::a_national_cast_through_december_and_january_is_alerted_only_as_the_law_says(crate::helpers::Backend::Sqlite).await
    }
}

/// The cast's units beyond the example units, `MORE_UNITS` and the CT group.
const CAST: &str = r#"
[[units]]
code = "GX-BUREAU"
name = "广西壮族自治区通信管理局"
type = "bureau"
province = "GX"
contacts = [{ role = "contact", name = "网安处", email = "wa@gxca.example.cn" }]
[[units]]
code = "REG-X"
name = "某域名注册服务机构"
type = "domain_registrar"
province = "BJ"
contacts = [{ role = "contact", name = "周八", email = "abuse@reg.example.cn" }]
"#;

/// A small national cast from 2026-12-01 to 2027-02-20 on a simulated clock, 2027 without a
/// State Council schedule: a group with two provincial companies, an IDC, a registrar, two
/// bureaus, CSB and CNCERT go through December's and January's reports, summaries, a botnet
/// loop and two digests. Every alert the hub sends is due under the law (通报办法 Art. 13¶3,
/// 19; 僵尸机制 Art. 9: past its deadline under any schedule the State Council could publish, and
/// not met by then), none goes twice, and the ones the law does call for are sent: the
/// registrar that never sends a summary, the provincial company that never feeds back.
async fn a_national_cast_through_december_and_january_is_alerted_only_as_the_law_says(backend: Backend) {
    let ownership = Ownership::from_toml(
        "[[prefix]]\ncidr = \"203.0.113.0/25\"\nunit = \"CT-GD\"\n[[prefix]]\ncidr = \"203.0.113.128/25\"\nunit = \"CT-GX\"\n",
    )
    .unwrap();
    let engine = Arc::new(Engine { calendar: Calendar::builtin(), policy: Policy::default(), ownership });
    let lib = Lib::with_engine_on(engine.clone(), backend).await;
    let store = lib.store.clone();
    for units in [MORE_UNITS, crate::helpers::CT_GROUP_UNITS, CAST] {
        store.import_units(&units_from_toml(units), Utc::now()).await.unwrap();
    }
    let owing = ["CT-GROUP", "CT-GD", "CT-GX", "CM-GROUP", "IDC-BJ", "ISP-X", "REG-X", "GD-BUREAU", "GX-BUREAU"];
    let summary = |unit: Option<&str>, month: &str, events: serde_json::Value| {
        let mut s = serde_json::json!({"kind": "monthly_general", "content": {"month": month, "events": events}});
        if let Some(u) = unit {
            s["unit"] = u.into();
        }
        s
    };

    let general = |at: &str| {
        let mut e = event("general", at);
        e["provinces"] = serde_json::json!(["GX"]);
        e
    };
    let botnet = serde_json::json!({"kind": "botnet_event", "discovered_at": "2026-12-21T09:30:00+08:00", "provinces": ["GD", "GX"],
        "content": {"botnets": [
            {"cc_ip": "203.0.113.7", "port": 6667, "bot_count": 300000, "bot_ips": []},
            {"cc_ip": "203.0.113.200", "port": 8080, "bot_count": 300000, "bot_ips": []}]}});
    let month_event = serde_json::json!([{"category": "ddos", "occurred_at": "2026-12-16 09:00", "summary": "小规模攻击", "impact": "轻微", "measures": "清洗"}]);
    // (when, who, what): the cast's December and January, as each acts.
    let mut script: Vec<(&str, &str, serde_json::Value)> = vec![
        ("2026-12-16T10:00:00+08:00", "CT-GROUP", {
            let mut e = general("2026-12-16T09:00:00+08:00");
            e["unit"] = "CT-GX".into();
            e
        }),
        ("2026-12-16T11:00:00+08:00", "CT-GD", event("large", "2026-12-16T10:00:00+08:00")),
        ("2026-12-21T10:00:00+08:00", "CNCERT", botnet),
        ("2026-12-30T10:00:00+08:00", "IDC-BJ", general("2026-12-30T09:00:00+08:00")),
        ("2027-01-05T10:00:00+08:00", "CT-GROUP", summary(None, "2026-12", serde_json::json!([]))),
        ("2027-01-05T10:00:00+08:00", "CM-GROUP", summary(None, "2026-12", serde_json::json!([]))),
        ("2027-01-06T10:00:00+08:00", "CT-GROUP", summary(Some("CT-GX"), "2026-12", month_event.clone())),
        ("2027-01-07T10:00:00+08:00", "IDC-BJ", summary(None, "2026-12", month_event.clone())),
        ("2027-01-07T12:00:00+08:00", "ISP-X", summary(None, "2026-12", serde_json::json!([]))),
        ("2027-01-07T15:00:00+08:00", "GD-BUREAU", summary(None, "2026-12", serde_json::json!([]))),
        ("2027-01-07T15:00:00+08:00", "GX-BUREAU", summary(None, "2026-12", serde_json::json!([]))),
        // On time in truth: 元旦 is a holiday by law, so the 5th working day is Fri 01-08.
        ("2027-01-08T20:00:00+08:00", "CT-GD", summary(None, "2026-12", serde_json::json!([]))),
        ("2027-01-12T10:00:00+08:00", "CT-GD", {
            let mut e = general("2027-01-12T09:00:00+08:00");
            e["provinces"] = serde_json::json!(["GD"]);
            e
        }),
    ];
    // November's summaries all come on 12-03, so November's digest goes out on time.
    for u in owing {
        script.push(("2026-12-03T10:00:00+08:00", u, summary(None, "2026-11", serde_json::json!([]))));
    }
    for u in owing.iter().filter(|u| **u != "REG-X") {
        script.push(("2027-02-02T10:00:00+08:00", u, summary(None, "2027-01", serde_json::json!([]))));
    }
    script.sort_by_key(|(at, ..)| t(at));
    let mut script = script.into_iter().peekable();

    let mut s = Scheduler::new(store.clone(), engine.clone(), ScheduleConfig::default(), 180).unwrap();
    let mut now = t("2026-12-01T00:00:00+08:00");
    let end = t("2027-02-20T00:00:00+08:00");
    let mut botnet_report = None;
    while now <= end {
        while let Some((at, unit, body)) = script.next_if(|(at, ..)| t(at) <= now) {
            let r = lib.submit(unit, body, at).await;
            assert!(r.errors.is_empty(), "{unit} at {at}: {:?}", r.errors);
            if unit == "CNCERT" {
                botnet_report = Some(r.reports[0].report_id);
            }
        }
        if let Some(report) = botnet_report {
            // CT-GD feeds back two hours after the notice, and CNCERT verifies within the two
            // hours an urgent event allows (Art. 9(三)); CT-GX never answers.
            let feedback = serde_json::json!({"kind": "disposal_feedback", "content": {"notice_ref": report, "unit_name": "广东电信",
                "disposed": ["203.0.113.7"], "undisposed": []}});
            if now == t("2026-12-21T12:00:00+08:00") {
                assert!(lib.submit("CT-GD", feedback, "2026-12-21T12:00:00+08:00").await.errors.is_empty());
            }
            if now == t("2026-12-21T13:00:00+08:00") {
                let verification = serde_json::json!({"kind": "verification", "content": {"notice_ref": report,
                    "results": [{"target": "203.0.113.7", "still_malicious": false}]}});
                let r = lib.submit("CNCERT", verification, "2026-12-21T13:00:00+08:00").await;
                assert!(r.errors.is_empty(), "{:?}", r.errors);
            }
        }
        s.tick(now).await;
        // Delivery: party rows are expanded and every mail and message reaches its recipient.
        tongbao::fanout::expand_once(&*store, now, false).await.unwrap();
        tongbao::fanout::expand_once(&*store, now, true).await.unwrap();
        let pending: Vec<_> = lib
            .outbox(OutboxFilter { status: Some("pending".into()), ..Default::default() })
            .await
            .into_iter()
            .filter(|r| r.channel != "party")
            .map(|r| r.id)
            .collect();
        store.outbox_sent(&pending, now).await.unwrap();
        now += chrono::Duration::hours(1);
    }

    // Every overdue alert, missing list and escalation: due under the law when it was sent.
    let alerts: Vec<_> = lib
        .outbox(OutboxFilter::default())
        .await
        .into_iter()
        .filter(|r| r.channel == "party" && matches!(r.kind.as_str(), "overdue" | "escalation" | "missing_summaries"))
        .collect();
    let mut alerted = Vec::new();
    for a in alerts.iter().filter(|a| a.kind == "overdue" && a.payload["actor"].as_str() == Some(a.recipient.as_str())) {
        let id: tongbao::model::ObligationId = a.subject_id.parse().unwrap();
        let o = store
            .obligations(&ObligationFilter { limit: 10_000, ..Default::default() })
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.id == id)
            .unwrap();
        let due_by_law = engine.calendar.due_under_any_schedule(&o.deadline);
        assert!(a.created_at >= due_by_law, "{:?} of {} alerted at {} before {}", o.duty, o.actor, a.created_at, due_by_law);
        assert!(o.met_at.is_none_or(|m| m >= a.created_at), "{:?} of {} was met before its alert", o.duty, o.actor);
        alerted.push((o.duty, o.actor.to_string(), o.key.clone().unwrap_or_default()));
    }
    alerted.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(
        alerted.iter().map(|(d, a, k)| format!("{d:?} {a} {k}")).collect::<Vec<_>>(),
        vec![
            "DisposalFeedback unit:CT-GX ".to_string(),
            "MonthlySummary unit:REG-X monthly_summary:REG-X:2026-12".to_string(),
            "MonthlySummary unit:REG-X monthly_summary:REG-X:2027-01".to_string(),
        ],
        "the law's alerts and no other"
    );
    // None twice: one row per (kind, subject, recipient).
    let mut seen = std::collections::HashSet::new();
    for a in &alerts {
        assert!(
            seen.insert((a.kind.clone(), a.subject_id.clone(), a.recipient.clone())),
            "sent twice: {} {} to {}",
            a.kind,
            a.subject_id,
            a.recipient
        );
    }
    // The missing lists name only the registrar, and come after the 5th working day is over
    // under any schedule.
    let mut lists: Vec<(String, String)> = alerts
        .iter()
        .filter(|a| a.kind == "missing_summaries" && a.recipient == "cncert")
        .map(|a| (a.payload["month"].as_str().unwrap().to_string(), a.payload["units"].to_string()))
        .collect();
    lists.sort();
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert_eq!(lists[0], ("2026-11".to_string(), "[]".to_string()), "everyone sent November's");
    for (month, units) in &lists[1..] {
        assert!(units.contains("REG-X") && !units.contains("CT-"), "{month}: {units}");
    }
    // Each digest once per recipient, the group's report on CT-GD's event counted once.
    for month in ["2026-12", "2027-01"] {
        let digests = lib.count(&format!("SELECT count(*) FROM outbox WHERE kind = 'digest' AND channel = 'party' AND subject_id = 'digest:{month}' AND recipient = 'csb'")).await;
        assert_eq!(digests, 1, "{month}");
        let status = store.keyed_obligations(&format!("monthly_digest:{month}")).await.unwrap();
        assert_eq!(status.iter().map(|o| o.status).collect::<Vec<_>>(), vec![ObligationStatus::Met], "{month}: delivered to all");
    }
    let december_digest_at = lib
        .outbox(OutboxFilter { kind: Some(OutboxKind::Digest), subject_id: Some("digest:2026-12".into()), ..Default::default() })
        .await
        .iter()
        .map(|r| r.created_at)
        .min()
        .unwrap();
    assert!(december_digest_at >= t("2027-01-09T00:00:00+08:00"), "after every December summary was due: {december_digest_at}");
}
