//! Intake against a real store, each test on SQLite and on PostgreSQL: idempotency, authentication, grading, obligations met and late.

use super::helpers::{Backend, Lib, botnet, event};
use serde_json::json;
use tongbao::decision::OutboxKind;
use tongbao::model::submission::Sender;
use tongbao::model::{Channel, Duty, Grade, ObligationStatus, Outcome, Submission};
use tongbao::store::OutboxFilter;
use tongbao::store::{ObligationFilter, Store};

fn duties(r: &tongbao::model::Receipt, i: usize) -> Vec<(Duty, ObligationStatus)> {
    r.reports[i].obligations.iter().map(|o| (o.duty, o.status)).collect()
}

async fn obligations_of(lib: &Lib, report: tongbao::model::ReportId) -> Vec<tongbao::model::Obligation> {
    lib.store.obligations(&ObligationFilter { report: Some(report), limit: 100, ..Default::default() }).await.unwrap()
}

async fn the_same_submission_sent_concurrently_is_stored_once(backend: Backend) {
    let lib = Lib::on(backend).await;
    let raw = serde_json::to_vec(&event("major", "2026-10-01T23:30:00+08:00")).unwrap();
    let at = "2026-10-02T00:00:00+08:00".parse().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let intake = lib.intake.clone();
        let sub = Submission::by_content(Channel::Cli, Sender::Unit("CT-GD".parse().unwrap()), raw.clone(), at);
        tasks.push(tokio::spawn(async move { intake.submit(sub).await.unwrap() }));
    }
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.push(t.await.unwrap());
    }
    assert_eq!(receipts.iter().filter(|r| !r.duplicate).count(), 1);
    assert!(receipts.iter().all(|r| r.submission_id == receipts[0].submission_id && r.reports == receipts[0].reports));
    let c = lib.store.counts().await.unwrap();
    assert_eq!((c.submissions, c.reports), (1, 1));
}

async fn a_report_meets_its_own_duty_on_time_or_late(backend: Backend) {
    let lib = Lib::on(backend).await;
    let on_time = lib.submit("CT-GD", event("major", "2026-10-01T23:30:00+08:00"), "2026-10-02T01:00:00+08:00").await;
    assert_eq!(duties(&on_time, 0), vec![(Duty::Report, ObligationStatus::Met), (Duty::FollowUp, ObligationStatus::Open)]);
    let late = lib.submit("CT-GD", event("large", "2026-10-01T20:00:00+08:00"), "2026-10-02T01:00:00+08:00").await;
    assert_eq!(duties(&late, 0)[0], (Duty::Report, ObligationStatus::Late), "4 hours passed at 24:00");
    let stored = obligations_of(&lib, late.reports[0].report_id).await;
    assert_eq!(stored.iter().find(|o| o.duty == Duty::Report).unwrap().status, ObligationStatus::Late);
}

async fn a_unit_can_submit_only_as_itself_and_unknown_senders_get_no_reply(backend: Backend) {
    let lib = Lib::on(backend).await;
    let mut foreign = event("major", "2026-10-01T23:30:00+08:00");
    foreign["unit"] = json!("IDC-BJ");
    let r = lib.submit("CT-GD", foreign, "2026-10-02T00:00:00+08:00").await;
    assert_eq!(r.outcome, Outcome::Rejected);
    assert_eq!((r.errors[0].code.to_string().as_str(), r.errors[0].place.as_str()), ("foreign_unit", "/unit"));

    let before = lib.store.counts().await.unwrap();
    let mut sub = Submission::by_content(
        Channel::Email,
        Sender::Email("stranger@evil.example".parse().unwrap()),
        serde_json::to_vec(&event("major", "2026-10-01T23:30:00+08:00")).unwrap(),
        "2026-10-02T00:00:00+08:00".parse().unwrap(),
    );
    sub.reply_to = Some("stranger@evil.example".into());
    let r = lib.intake.submit(sub).await.unwrap();
    assert_eq!(r.errors[0].code.to_string(), "unknown_sender");
    let after = lib.store.counts().await.unwrap();
    assert_eq!(after.submissions, before.submissions + 1, "kept: nothing is lost");
    assert_eq!(after.outbox, before.outbox, "no receipt queued for an unknown sender");

    // A registered contact's address and AMQP login authenticate as the unit.
    let r = lib
        .submit_as(
            Sender::Email("SOC@GD.example.cn".parse().unwrap()),
            Channel::Email,
            event("general", "2026-09-01 10:00"),
            "2026-09-02T00:00:00Z",
        )
        .await;
    assert_eq!((r.outcome, r.unit.as_ref().map(|u| u.to_string())), (Outcome::Accepted, Some("CT-GD".into())));
    let r =
        lib.submit_as(Sender::AmqpUser("ct-gd".into()), Channel::Amqp, event("general", "2026-09-01 11:00"), "2026-09-02T00:00:00Z").await;
    assert_eq!(r.outcome, Outcome::Accepted);
}

async fn urgent_reports_are_queued_for_their_recipients_with_the_receipt_when_a_reply_path_exists(backend: Backend) {
    let lib = Lib::on(backend).await;
    let mut sub = Submission::by_content(
        Channel::Amqp,
        Sender::AmqpUser("ct-gd".into()),
        serde_json::to_vec(&event("major", "2026-10-01T23:30:00+08:00")).unwrap(),
        "2026-10-02T00:00:00+08:00".parse().unwrap(),
    );
    sub.reply_to = Some("amq.rabbitmq.reply-to".into());
    sub.correlation_id = Some("c-1".into());
    lib.intake.submit(sub).await.unwrap();
    let mut rows: Vec<(String, String, String, bool)> =
        lib.outbox(OutboxFilter::default()).await.into_iter().map(|r| (r.kind, r.channel, r.recipient, r.urgent)).collect();
    rows.sort_by(|a, b| (&a.0, &a.2).cmp(&(&b.0, &b.2)));
    assert_eq!(
        rows,
        vec![
            // To CSB and the province's bureau, copy CNCERT, each by its own channels (fan-out)…
            ("notice".into(), "party".into(), "bureau:GD".into(), true),
            ("notice".into(), "party".into(), "cncert".into(), true),
            ("notice".into(), "party".into(), "csb".into(), true),
            // …and once on the topic exchange for the province.
            ("notice".into(), "amqp".into(), "notice.event.major.GD".into(), true),
            // The public notice (通告) drafted for CSB's review (Art. 19): CSB is told it waits.
            ("notice_draft".into(), "party".into(), "csb".into(), true),
            ("receipt".into(), "amqp".into(), "amq.rabbitmq.reply-to".into(), true),
        ]
    );
}

async fn general_events_open_the_monthly_summary_which_the_summary_then_meets(backend: Backend) {
    let lib = Lib::on(backend).await;
    let a = lib.submit("CT-GD", event("general", "2026-09-03 10:00"), "2026-09-03T03:00:00Z").await;
    let b = lib.submit("CT-GD", event("general", "2026-09-20 10:00"), "2026-09-20T03:00:00Z").await;
    let id = |r: &tongbao::model::Receipt| r.reports[0].obligations.iter().find(|o| o.duty == Duty::MonthlySummary).unwrap().id;
    assert_eq!(id(&a), id(&b), "one monthly summary per unit and month");

    let summary = json!({"kind": "monthly_general", "content": {"month": "2026-09", "events": [
        {"occurred_at": "2026-09-03 10:00", "category": "ddos", "summary": "短时流量异常"},
        {"occurred_at": "2026-09-20 10:00", "category": "ddos", "summary": "短时流量异常"}]}});
    let s = lib.submit("CT-GD", summary, "2026-10-12T02:00:00Z").await;
    assert_eq!(s.outcome, Outcome::Accepted, "{:?}", s.errors);
    let all = lib.store.obligations(&ObligationFilter { limit: 100, ..Default::default() }).await.unwrap();
    let ms: Vec<_> = all.iter().filter(|o| o.duty == Duty::MonthlySummary).collect();
    assert_eq!(ms.len(), 1);
    assert_eq!((ms[0].status, ms[0].met_by), (ObligationStatus::Met, Some(s.reports[0].report_id)));
    assert_eq!(all.iter().filter(|o| o.duty == Duty::MonthlyDigest).count(), 1);

    // "No events" is a valid summary too, and a late one is marked late.
    let none = json!({"kind": "monthly_general", "content": {"month": "2026-09", "events": []}});
    let r = lib.submit("IDC-BJ", none, "2026-10-14T02:00:00Z").await;
    assert_eq!(r.reports[0].obligations.iter().find(|o| o.duty == Duty::MonthlySummary).unwrap().status, ObligationStatus::Late);
}

async fn botnet_scale_over_the_period_raises_grades_and_regrades_earlier_reports(backend: Backend) {
    let lib = Lib::on(backend).await;
    // 600,000 bots declared general: the hub raises it to major and says why.
    let r = lib.submit("CT-GD", botnet(600_000, &[], "2026-06-01 08:00"), "2026-06-01T00:30:00Z").await;
    assert_eq!(r.reports[0].grade, Some(Grade::Major));
    assert!(r.reports[0].grade_note.as_deref().unwrap().contains("500000"));
    let report = r.reports[0].obligations.iter().find(|o| o.duty == Duty::Report).unwrap();
    assert_eq!(report.due_at.to_rfc3339(), "2026-06-01T02:00:00+00:00", "its own scale: discovered + 2 h");

    // Next day, two reports that together pass 100,000 distinct IPs (they overlap).
    let ips_a: Vec<String> = (0..60_000u32).map(|i| std::net::Ipv4Addr::from(0x0A00_0000 + i).to_string()).collect();
    let ips_b: Vec<String> = (30_000..90_000u32).map(|i| std::net::Ipv4Addr::from(0x0A00_0000 + i).to_string()).collect();
    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let a = lib.submit("CT-GD", botnet(0, &refs(&ips_a), "2026-06-03 08:00"), "2026-06-03T01:00:00Z").await;
    assert_eq!(a.reports[0].grade, Some(Grade::General), "60,000 alone");
    let b = lib.submit("CT-GD", botnet(0, &refs(&ips_b), "2026-06-03 09:00"), "2026-06-03T02:00:00Z").await;
    assert_eq!(b.reports[0].grade, Some(Grade::General), "90,000 distinct together: still general");

    let ips_c: Vec<String> = (85_000..100_001u32).map(|i| std::net::Ipv4Addr::from(0x0A00_0000 + i).to_string()).collect();
    let c = lib.submit("CM-GROUP", botnet(0, &refs(&ips_c), "2026-06-03 10:00"), "2026-06-03T03:00:00Z").await;
    assert_eq!(c.reports[0].grade, Some(Grade::Large), "100,001 distinct across three reports");
    let regraded: Vec<_> = c.regraded.iter().map(|g| (g.report_id, g.from, g.to)).collect();
    assert!(regraded.contains(&(a.reports[0].report_id, Grade::General, Grade::Large)), "{regraded:?}");
    assert!(regraded.contains(&(b.reports[0].report_id, Grade::General, Grade::Large)), "{regraded:?}");
    let stored = lib.store.report(a.reports[0].report_id, None).await.unwrap().unwrap();
    assert_eq!(stored.report.content.grade, Some(Grade::Large));
    // The grade was pushed over by others: the new grade's clock runs from the regrading.
    let own = c.reports[0].obligations.iter().find(|o| o.duty == Duty::Report).unwrap();
    assert_eq!(own.due_at.to_rfc3339(), "2026-06-03T05:00:00+00:00");
}

async fn disposal_feedback_and_verification_close_the_chain(backend: Backend) {
    // CT-GD's network holds the C&C, so CNCERT's notice goes to CT-GD, who feeds back.
    let ownership = tongbao::rules::ownership::Ownership::from_toml("[[prefix]]\ncidr = \"203.0.113.0/24\"\nunit = \"CT-GD\"\n").unwrap();
    let lib = Lib::with_engine_on(
        std::sync::Arc::new(tongbao::decision::Engine {
            calendar: tongbao::rules::Calendar::builtin(),
            policy: Default::default(),
            ownership,
        }),
        backend,
    )
    .await;
    let cncert_found = lib.submit("CNCERT", botnet(200_000, &[], "2026-06-01 08:00"), "2026-06-01T00:10:00Z").await;
    let event_id = cncert_found.reports[0].report_id;
    assert_eq!(cncert_found.reports[0].grade, Some(Grade::Large));

    let feedback = json!({"kind": "disposal_feedback", "content": {
        "notice_ref": event_id.to_string(), "unit_name": "中国电信广东分公司",
        "disposed": ["203.0.113.7"], "undisposed": [{"target": "c2.example.com", "reason": "域名由境外注册管理机构管理"}]}});
    let f = lib.submit("CT-GD", feedback, "2026-06-01T03:00:00Z").await;
    assert_eq!(f.outcome, Outcome::Accepted, "{:?}", f.errors);
    let os = obligations_of(&lib, event_id).await;
    let v = os.iter().find(|o| o.duty == Duty::Verification).expect("CNCERT verifies what it found");
    assert_eq!((v.actor.to_string(), v.deadline.due_at.to_rfc3339()), ("cncert".into(), "2026-06-01T05:00:00+00:00".into()));
    assert!(os.iter().any(|o| o.duty == Duty::DisposalResult && o.status == ObligationStatus::Open));

    let verification = json!({"kind": "verification", "content": {"notice_ref": event_id.to_string(),
        "results": [{"target": "203.0.113.7", "still_malicious": false}]}});
    lib.submit("CNCERT", verification, "2026-06-01T04:00:00Z").await;
    let os = obligations_of(&lib, event_id).await;
    assert_eq!(os.iter().find(|o| o.duty == Duty::Verification).unwrap().status, ObligationStatus::Met);

    // Feedback on something that is not a botnet event is refused where it points.
    let bad = json!({"kind": "disposal_feedback", "content": {"notice_ref": f.reports[0].report_id.to_string(), "unit_name": "x", "disposed": ["10.0.0.1"]}});
    let r = lib.submit("CT-GD", bad, "2026-06-01T05:00:00Z").await;
    assert_eq!((r.errors[0].code.to_string().as_str(), r.errors[0].place.as_str()), ("unknown_reference", "/content/notice_ref"));
}

async fn a_written_follow_up_closes_a_phoned_report_and_may_raise_the_grade(backend: Backend) {
    let lib = Lib::on(backend).await;
    let phoned = lib
        .submit_as(
            Sender::Unit("CT-GD".parse().unwrap()),
            Channel::Phone,
            event("large", "2026-03-02T09:00:00+08:00"),
            "2026-03-02T01:30:00Z",
        )
        .await;
    let first = phoned.reports[0].report_id;
    assert!(duties(&phoned, 0).contains(&(Duty::WrittenReport, ObligationStatus::Open)));

    let mut written = event("major", "2026-03-02T09:00:00+08:00");
    written["follows_up"] = json!(first.to_string());
    let w = lib.submit("CT-GD", written, "2026-03-02T06:00:00Z").await;
    assert_eq!(w.outcome, Outcome::Accepted, "{:?}", w.errors);
    // Art. 16¶1 [通报办法]: the major grade's 2 hours run from when the unit learned of it (the
    // follow-up's discovery, 09:00), so the written report at 14:00 is late.
    let raised = w.reports[0].obligations.iter().find(|o| o.duty == Duty::Report).expect("raised to major: a 2-hour duty");
    assert_eq!((raised.due_at.to_rfc3339(), raised.status), ("2026-03-02T03:00:00+00:00".into(), ObligationStatus::Late));
    let os = obligations_of(&lib, first).await;
    for duty in [Duty::WrittenReport, Duty::FollowUp] {
        assert_eq!(os.iter().find(|o| o.duty == duty).unwrap().status, ObligationStatus::Met, "{duty}");
    }

    // Another unit cannot follow up this report.
    let mut other = event("major", "2026-03-02T09:00:00+08:00");
    other["follows_up"] = json!(first.to_string());
    let r = lib.submit("IDC-BJ", other, "2026-03-02T06:00:00Z").await;
    assert_eq!(r.errors[0].place, "/follows_up");
}

async fn a_contact_update_replaces_the_contacts_and_the_mail_identities(backend: Backend) {
    let lib = Lib::on(backend).await;
    let update = json!({"kind": "contact_update", "discovered_at": "2026-09-30 15:00", "content": {"contacts": [
        {"role": "leader", "name": "新领导", "email": "new-leader@gd.example.cn"}]}});
    let r = lib.submit("CT-GD", update, "2026-10-09T02:00:00Z").await;
    assert_eq!(duties(&r, 0), vec![(Duty::ContactUpdate, ObligationStatus::Met)]);
    let r = lib
        .submit_as(
            Sender::Email("new-leader@gd.example.cn".parse().unwrap()),
            Channel::Email,
            event("general", "2026-10-01 10:00"),
            "2026-10-09T03:00:00Z",
        )
        .await;
    assert_eq!(r.outcome, Outcome::Accepted);
    let r = lib
        .submit_as(
            Sender::Email("leader@gd.example.cn".parse().unwrap()),
            Channel::Email,
            event("general", "2026-10-02 10:00"),
            "2026-10-09T03:00:00Z",
        )
        .await;
    assert_eq!(r.errors[0].code.to_string(), "unknown_sender", "the replaced leader no longer speaks for the unit");
    // Art. 21 [通报办法]: an update of the leader leaves the other roles as they were.
    let r = lib
        .submit_as(
            Sender::Email("soc@gd.example.cn".parse().unwrap()),
            Channel::Email,
            event("general", "2026-10-03 10:00"),
            "2026-10-09T03:00:00Z",
        )
        .await;
    assert_eq!(r.outcome, Outcome::Accepted, "the liaison is untouched: {:?}", r.errors);
}

/// Art. 21 [通报办法]: a contact without a way to reach them is refused, naming what is missing;
/// an update never empties a unit's contacts or mail identities.
async fn a_contact_update_needs_contact_details_and_changes_only_the_roles_it_names(backend: Backend) {
    let lib = Lib::on(backend).await;
    let bare = json!({"kind": "contact_update", "discovered_at": "2026-09-30 15:00", "content": {"contacts": [
        {"role": "contact", "name": "无联系方式"}]}});
    let r = lib.submit("CT-GD", bare, "2026-10-09T02:00:00Z").await;
    assert_eq!(r.outcome, Outcome::Rejected);
    assert_eq!(r.errors[0].place, "/content/contacts/0/phone");
    assert!(r.errors[0].message.contains("第二十一条"), "{}", r.errors[0].message);
    let phone_only = json!({"kind": "contact_update", "discovered_at": "2026-09-30 15:00", "content": {"contacts": [
        {"role": "department_head", "name": "部门负责人", "phone": "020-1234567"}]}});
    let r = lib.submit("CT-GD", phone_only, "2026-10-09T02:10:00Z").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:?}", r.errors);
    assert!(r.notes.iter().any(|n| n.message.contains("更新 责任部门负责人") && n.message.contains("主管领导")), "{:?}", r.notes);
    let units = lib.store.units().await.unwrap();
    let gd = units.iter().find(|u| u.code.as_str() == "CT-GD").unwrap();
    assert_eq!(gd.contacts.len(), 3, "leader and liaison kept, department head added: {:?}", gd.contacts);
    let r = lib
        .submit_as(
            Sender::Email("soc@gd.example.cn".parse().unwrap()),
            Channel::Email,
            event("general", "2026-10-03 10:00"),
            "2026-10-09T03:00:00Z",
        )
        .await;
    assert_eq!(r.outcome, Outcome::Accepted, "mail identities kept: {:?}", r.errors);
}

/// In one batch (one transaction), the submissions after a contact update are authenticated by
/// the new contacts, as they are in later batches.
async fn a_contact_update_counts_for_the_rest_of_its_batch(backend: Backend) {
    use tongbao::decision::{Engine, Parsed};
    use tongbao::intake::decide;
    let lib = Lib::on(backend).await;
    let engine = std::sync::Arc::new(Engine {
        calendar: tongbao::rules::Calendar::builtin(),
        policy: Default::default(),
        ownership: Default::default(),
    });
    let at = "2026-10-09T02:00:00Z".parse().unwrap();
    let parsed = |sender: Sender, channel: Channel, json: serde_json::Value| {
        let submission = Submission::by_content(channel, sender, serde_json::to_vec(&json).unwrap(), at);
        let items = tongbao::intake::json::parse_submission(&submission.raw, at);
        Parsed::new(submission, items)
    };
    let update = json!({"kind": "contact_update", "discovered_at": "2026-09-30 15:00", "content": {"contacts": [
        {"role": "leader", "name": "新领导", "email": "new-leader@gd.example.cn"}]}});
    let batch = vec![
        parsed(Sender::Unit("CT-GD".parse().unwrap()), Channel::Cli, update),
        parsed(Sender::Email("New-Leader@GD.example.cn".parse().unwrap()), Channel::Email, event("general", "2026-10-01 10:00")),
        parsed(Sender::Email("leader@gd.example.cn".parse().unwrap()), Channel::Email, event("general", "2026-10-02 10:00")),
    ];
    let needs = decide::needs(&batch, &engine.policy);
    let eng = engine.clone();
    let decisions = lib.store.commit_batch(needs, move |ctx| decide::decide_batch(batch, ctx, &eng)).await.unwrap();
    assert_eq!(decisions[1].receipt.outcome, Outcome::Accepted, "{:?}", decisions[1].receipt.errors);
    assert_eq!(decisions[1].unit.as_ref().map(|u| u.as_str()), Some("CT-GD"));
    assert_eq!(decisions[2].receipt.errors[0].code.to_string(), "unknown_sender", "the replaced leader no longer speaks for the unit");
}

async fn provisional_deadlines_are_recomputed_when_the_year_arrives(backend: Backend) {
    let lib = Lib::on(backend).await;
    let warning = json!({"kind": "warning", "discovered_at": "2027-01-29 10:00", "category": "vulnerability", "level": 4, "provinces": ["GD"],
        "content": {"description": "d", "potential_harm": "h", "affected_scope": "s", "aware_parties": "a", "recommendations": "r"}});
    let r = lib.submit("CT-GD", warning, "2027-01-29T02:00:00Z").await;
    let o = r.reports[0].obligations.iter().find(|o| o.duty == Duty::Report).unwrap();
    assert!(o.provisional);
    assert_eq!(o.due_at.to_rfc3339(), "2027-02-09T16:00:00+00:00", "statutory days off: 除夕 02-05 and 初一–初三 02-06..02-08");

    // Suppose the State Council gives 2027-02-01..02-03 off.
    let cal = tongbao::rules::Calendar::from_toml(&format!(
        "{}\n[years.2027]\nholidays = [\"02-01..02-03\"]\n",
        tongbao::rules::calendar::BUILTIN
    ))
    .unwrap();
    let leads = tongbao::rules::Leads::default();
    let done = tongbao::schedule::recompute::recompute(&*lib.store, &cal, &leads, chrono::Utc::now()).await.unwrap();
    assert_eq!(done.settled, 1);
    let stored = obligations_of(&lib, r.reports[0].report_id).await;
    let report = stored.iter().find(|o| o.duty == Duty::Report).unwrap();
    assert!(!report.deadline.provisional);
    assert_eq!(report.deadline.due_at.to_rfc3339(), "2027-02-10T16:00:00+00:00");
}

/// Reports stored before migration 0003 had no `provinces` column; 0004 fills it from their bodies.
#[tokio::test]
async fn reports_stored_before_the_provinces_column_get_theirs_from_their_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let lib_store = tongbao::store::SqliteStore::open(&path).await.unwrap();
    lib_store.import_units(&crate::helpers::units_from_toml(crate::helpers::UNITS_TOML), chrono::Utc::now()).await.unwrap();
    let engine = std::sync::Arc::new(tongbao::decision::Engine {
        calendar: tongbao::rules::Calendar::builtin(),
        policy: tongbao::rules::Policy::default(),
        ownership: Default::default(),
    });
    let store = std::sync::Arc::new(lib_store);
    let (intake, _w) = tongbao::intake::Intake::start(store.clone(), engine);
    let mut two = event("large", "2026-09-23T10:00:00+08:00");
    two["provinces"] = json!(["GD", "BJ"]);
    let sub = Submission::by_content(
        Channel::Cli,
        Sender::Unit("CT-GD".parse().unwrap()),
        serde_json::to_vec(&two).unwrap(),
        "2026-09-23T11:00:00+08:00".parse().unwrap(),
    );
    intake.submit(sub).await.unwrap();
    // As a database from before 0003/0004 would have it.
    sqlx::query("UPDATE reports SET provinces = ''").execute(store.pool()).await.unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 4").execute(store.pool()).await.unwrap();
    drop(intake);
    let reopened = tongbao::store::SqliteStore::open(&path).await.unwrap();
    let provinces: String = sqlx::query_scalar("SELECT provinces FROM reports").fetch_one(reopened.pool()).await.unwrap();
    assert_eq!(provinces, "GD BJ");
}

/// Submissions stored before migration 0005 had no `dedupe_hash`: 0005 carries them over and the
/// store fills their hashes when it opens the file, so sending one of them again is still a duplicate.
#[tokio::test]
async fn submissions_stored_before_the_dedupe_hash_are_still_found_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let store = std::sync::Arc::new(tongbao::store::SqliteStore::open(&path).await.unwrap());
    store.import_units(&crate::helpers::units_from_toml(crate::helpers::UNITS_TOML), chrono::Utc::now()).await.unwrap();
    let engine = std::sync::Arc::new(tongbao::decision::Engine {
        calendar: tongbao::rules::Calendar::builtin(),
        policy: tongbao::rules::Policy::default(),
        ownership: Default::default(),
    });
    let sub = || {
        Submission::by_content(
            Channel::Cli,
            Sender::Unit("CT-GD".parse().unwrap()),
            serde_json::to_vec(&event("large", "2026-09-23T10:00:00+08:00")).unwrap(),
            "2026-09-23T11:00:00+08:00".parse().unwrap(),
        )
    };
    let (intake, writer) = tongbao::intake::Intake::start(store.clone(), engine.clone());
    let first = intake.submit(sub()).await.unwrap();
    drop(intake);
    writer.await.unwrap();
    // As a database from before 0005 would have it: the key unique, no hash column.
    let mut conn = store.pool().acquire().await.unwrap();
    for sql in [
        "CREATE TABLE submissions_v4 (id TEXT PRIMARY KEY, dedupe_key TEXT NOT NULL UNIQUE, channel TEXT NOT NULL, sender TEXT NOT NULL, \
         unit_code TEXT, external_id TEXT, received_at INTEGER NOT NULL, outcome TEXT NOT NULL, raw BLOB NOT NULL, receipt TEXT NOT NULL)",
        "INSERT INTO submissions_v4 SELECT id, dedupe_key, channel, sender, unit_code, external_id, received_at, outcome, raw, receipt FROM submissions",
        "DROP TABLE submissions",
        "ALTER TABLE submissions_v4 RENAME TO submissions",
        "CREATE INDEX submissions_unit ON submissions(unit_code, received_at)",
        "CREATE INDEX obligations_actor_due ON obligations(actor, due_at)",
        "DELETE FROM _sqlx_migrations WHERE version = 5",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
    drop(conn);
    store.pool().close().await;

    let reopened = std::sync::Arc::new(tongbao::store::SqliteStore::open(&path).await.unwrap());
    let hashless: i64 =
        sqlx::query_scalar("SELECT count(*) FROM submissions WHERE dedupe_hash IS NULL").fetch_one(reopened.pool()).await.unwrap();
    assert_eq!(hashless, 0);
    let (intake, _writer) = tongbao::intake::Intake::start(reopened.clone(), engine);
    let again = intake.submit(sub()).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.submission_id, first.submission_id);
    assert_eq!(reopened.counts().await.unwrap().submissions, 1);
}

async fn a_staged_batch_that_another_writer_got_ahead_of_is_rolled_back_whole(backend: Backend) {
    use tongbao::decision::{Context, Decision, Engine, Needs, Parsed};
    use tongbao::intake::decide;
    use tongbao::rules::{Calendar, Policy};
    let lib = Lib::on(backend).await;
    // A second store on the same file: another hub process, or `tongbao ingest` beside `serve`.
    let other = tongbao::store::open(&lib.location).await.unwrap();
    let engine = std::sync::Arc::new(Engine { calendar: Calendar::builtin(), policy: Policy::default(), ownership: Default::default() });
    let at = "2026-10-02T00:00:00+08:00".parse().unwrap();
    let submission = |grade: &str| {
        let raw = serde_json::to_vec(&event(grade, "2026-10-01T23:30:00+08:00")).unwrap();
        let submission = Submission::by_content(Channel::Cli, Sender::Unit("CT-GD".parse().unwrap()), raw, at);
        let items = tongbao::intake::json::parse_submission(&submission.raw, at);
        Parsed::new(submission, items)
    };
    let (shared, own) = (submission("major"), submission("large"));
    let batch = vec![shared.clone(), own];
    let needs = decide::needs(&batch, &engine.policy);
    let eng = engine.clone();
    let step = lib.store.commit_staged(None, Some((needs, move |ctx: &mut Context| decide::decide_batch(batch, ctx, &eng)))).await;
    assert!(step.committed.unwrap().is_empty(), "nothing was staged before");
    let staged = step.next.expect("a next batch was given").expect("decided");

    // Between the step that decided the batch and the step that writes it, the other writer
    // stores one of its submissions.
    let lone = vec![shared];
    let eng = engine.clone();
    let stored = other.commit_batch(decide::needs(&lone, &engine.policy), move |ctx| decide::decide_batch(lone, ctx, &eng)).await.unwrap();
    assert!(!stored[0].duplicate);

    type Decide = fn(&mut Context) -> Vec<Decision>;
    let no_next: Option<(Needs, Decide)> = None;
    let step = lib.store.commit_staged(Some(staged), no_next).await;
    let err = step.committed.expect_err("the unique dedupe key refuses the second copy");
    assert!(err.to_string().to_lowercase().contains("unique"), "{err}");
    assert!(step.next.is_none());
    let c = lib.store.counts().await.unwrap();
    assert_eq!((c.submissions, c.reports), (1, 1), "the staged batch left nothing behind, not even its other submission");
}

async fn two_hubs_on_one_database_store_each_submission_once_and_answer_alike(backend: Backend) {
    let lib = Lib::on(backend).await;
    let other_store = std::sync::Arc::new(tongbao::store::open(&lib.location).await.unwrap());
    let engine = std::sync::Arc::new(tongbao::decision::Engine {
        calendar: tongbao::rules::Calendar::builtin(),
        policy: Default::default(),
        ownership: Default::default(),
    });
    let (other, _writer) = tongbao::intake::Intake::start(other_store, engine);
    let at: chrono::DateTime<chrono::Utc> = "2026-10-02T00:00:00+08:00".parse().unwrap();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let mut report = event("major", "2026-10-01T23:30:00+08:00");
        report["content"]["summary"] = json!(format!("攻击 {i}"));
        let raw = serde_json::to_vec(&report).unwrap();
        for intake in [lib.intake.clone(), other.clone()] {
            let sub = Submission::by_content(Channel::Cli, Sender::Unit("CT-GD".parse().unwrap()), raw.clone(), at);
            tasks.push(tokio::spawn(async move { (i, intake.submit(sub).await.expect("stored")) }));
        }
    }
    let mut by_report: std::collections::HashMap<i32, Vec<tongbao::model::Receipt>> = Default::default();
    for t in tasks {
        let (i, receipt) = t.await.unwrap();
        by_report.entry(i).or_default().push(receipt);
    }
    for (i, pair) in &by_report {
        assert_eq!(pair[0].submission_id, pair[1].submission_id, "submission {i}");
        assert_eq!(pair.iter().filter(|r| !r.duplicate).count(), 1, "submission {i}");
        assert!(pair.iter().all(|r| r.errors.is_empty()), "{pair:?}");
    }
    let c = lib.store.counts().await.unwrap();
    assert_eq!((c.submissions, c.reports), (300, 300));
}

fn botnet_at(cc: &str, port: u16, count: u64, discovered: &str) -> serde_json::Value {
    json!({
        "kind": "botnet_event", "discovered_at": discovered, "provinces": ["GD"],
        "content": {"botnets": [{"cc_ip": cc, "port": port, "bot_count": count}]}
    })
}

async fn the_same_cc_reported_again_counts_once_and_a_resend_never_raises_a_grade(backend: Backend) {
    let lib = Lib::on(backend).await;
    let first = lib.submit("CT-GD", botnet_at("203.0.113.7", 6667, 60_000, "2026-06-03 08:00"), "2026-06-03T01:00:00Z").await;
    assert_eq!(first.reports[0].grade, Some(Grade::General));
    // The same form again with other bytes (another format, a resend), and by another unit with a larger count.
    let mut resent = botnet_at("203.0.113.7", 6667, 60_000, "2026-06-03 08:00");
    resent["content"]["operator"] = json!("中国电信广东分公司");
    let again = lib.submit("CT-GD", resent, "2026-06-03T01:30:00Z").await;
    assert_eq!(again.reports[0].grade, Some(Grade::General), "60,000 + 60,000 of one C&C is 60,000");
    let other_unit = lib.submit("IDC-BJ", botnet_at("203.0.113.7", 6667, 90_000, "2026-06-03 09:00"), "2026-06-03T02:00:00Z").await;
    assert_eq!(other_unit.reports[0].grade, Some(Grade::General), "the largest count of one C&C, not the sum");
    assert!(other_unit.regraded.is_empty());
    // Another port is another botnet: 90,000 + 20,000 crosses 100,000.
    let other_port = lib.submit("CM-GROUP", botnet_at("203.0.113.7", 8080, 20_000, "2026-06-03 10:00"), "2026-06-03T03:00:00Z").await;
    assert_eq!(other_port.reports[0].grade, Some(Grade::Large));
    assert_eq!(other_port.regraded.len(), 3, "{:?}", other_port.regraded);
}

async fn reports_of_one_submission_are_graded_together_with_their_own_discovery_times(backend: Backend) {
    let lib = Lib::on(backend).await;
    let batch =
        json!([botnet_at("203.0.113.7", 6667, 60_000, "2026-06-03 08:00"), botnet_at("198.51.100.9", 443, 60_000, "2026-06-03 08:30"),]);
    let r = lib.submit("CT-GD", batch, "2026-06-03T01:00:00Z").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:?}", r.errors);
    assert!(r.regraded.is_empty(), "graded together, not one after the other: {:?}", r.regraded);
    for (i, due) in [(0, "2026-06-03T02:00:00+00:00"), (1, "2026-06-03T02:30:00+00:00")] {
        assert_eq!(r.reports[i].grade, Some(Grade::Large), "120,000 in one submission");
        let report = r.reports[i].obligations.iter().find(|o| o.duty == Duty::Report).unwrap();
        assert_eq!(report.due_at.to_rfc3339(), due, "the unit knew: 2 hours from its own discovery (Art. 8)");
    }
    assert_eq!(r.reports[1].cc, vec!["198.51.100.9:443".to_string()], "the receipt names each report's C&C");
}

async fn a_unit_whose_report_another_unit_pushes_over_a_threshold_is_told(backend: Backend) {
    let lib = Lib::on(backend).await;
    let mut declared = botnet_at("203.0.113.7", 6667, 60_000, "2026-06-03 08:00");
    declared["grade"] = json!("一般");
    let gd = lib.submit("CT-GD", declared, "2026-06-03T01:00:00Z").await;
    let bj = lib.submit("IDC-BJ", botnet_at("198.51.100.9", 443, 60_000, "2026-06-03 09:00"), "2026-06-03T02:00:00Z").await;
    assert_eq!(bj.regraded.len(), 1);
    let id = gd.reports[0].report_id;
    let stored = lib.store.report(id, None).await.unwrap().unwrap().report;
    assert_eq!((stored.content.grade, stored.declared_grade), (Some(Grade::Large), Some(Grade::General)), "the report's state says so");
    let told: Vec<(String, String)> = lib
        .outbox(OutboxFilter { kind: Some(OutboxKind::Alert), subject_id: Some(id.to_string()), ..Default::default() })
        .await
        .into_iter()
        .map(|r| (r.recipient, r.payload.to_string()))
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, "unit:CT-GD");
    assert!(told[0].1.contains("定级调整") && told[0].1.contains("较大"), "{}", told[0].1);
}

/// Art. 7 [僵尸机制]: "the same period" reaches both ways. A report discovered an hour before
/// one already stored is aggregated with it, and both are regraded.
async fn the_same_period_is_a_period_not_only_the_past(backend: Backend) {
    let lib = Lib::on(backend).await;
    let later = lib.submit("CT-GD", botnet_at("203.0.113.7", 6667, 60_000, "2026-06-03 10:00"), "2026-06-03T02:30:00Z").await;
    assert_eq!(later.reports[0].grade, Some(Grade::General));
    let earlier = lib.submit("IDC-BJ", botnet_at("198.51.100.9", 443, 60_000, "2026-06-03 09:00"), "2026-06-03T03:00:00Z").await;
    assert_eq!(earlier.reports[0].grade, Some(Grade::Large), "120,000 in one period, whichever came first");
    assert_eq!(earlier.regraded.iter().map(|g| (g.report_id, g.to)).collect::<Vec<_>>(), vec![(later.reports[0].report_id, Grade::Large)]);
}

/// Art. 17 [僵尸机制]: an event suspected to be a crime is referred by CNCERT to the public
/// security authority named in the configuration, as a duty with its deadline.
async fn a_suspected_crime_is_referred_to_public_security_by_cncert(backend: Backend) {
    let policy = tongbao::rules::Policy { public_security_unit: Some("MPS-LIAISON".into()), ..Default::default() };
    let lib = Lib::with_policy_on(policy, backend).await;
    let mut e = event("large", "2026-10-12 09:00");
    e["suspected_crime"] = json!(true);
    let r = lib.submit("CT-GD", e, "2026-10-12T01:30:00Z").await;
    let referral = r.reports[0].obligations.iter().find(|o| o.duty == Duty::CrimeReferral).expect("a referral duty");
    assert_eq!(referral.actor.to_string(), "cncert");
    assert_eq!(referral.to.iter().map(|p| p.to_string()).collect::<Vec<_>>(), vec!["unit:MPS-LIAISON"]);
    assert!(referral.basis.contains("第十七条"), "{}", referral.basis);
    assert_eq!(referral.due_at.to_rfc3339(), "2026-10-13T16:00:00+00:00", "one working day: 2026-10-13 24:00");
    let plain = lib.submit("CT-GD", event("large", "2026-10-12 10:00"), "2026-10-12T02:30:00Z").await;
    assert!(plain.reports[0].obligations.iter().all(|o| o.duty != Duty::CrimeReferral));

    // A follow-up that first says 涉嫌犯罪 refers the event; saying it again refers nothing more.
    let first = plain.reports[0].report_id;
    for at in ["2026-10-12T03:30:00Z", "2026-10-12T04:30:00Z"] {
        let mut follow = event("large", "2026-10-12 10:00");
        follow["follows_up"] = json!(first.to_string());
        follow["suspected_crime"] = json!(true);
        assert_eq!(lib.submit("CT-GD", follow, at).await.outcome, Outcome::Accepted);
    }
    let filter = tongbao::store::ObligationFilter { report: Some(first), limit: 100, ..Default::default() };
    let referrals = lib.store.obligations(&filter).await.unwrap().into_iter().filter(|o| o.duty == Duty::CrimeReferral).count();
    assert_eq!(referrals, 1, "the event is referred once, from the follow-up that first flagged it");
}

/// Times out of the world are refused with their place: a discovery in year 1 or 9999 (whose
/// deadlines would fall in year 10000), an event that happened after it was discovered, a
/// summary of 2099.
async fn times_out_of_the_world_are_refused_at_their_place(backend: Backend) {
    let lib = Lib::on(backend).await;
    for (at, why) in
        [("0001-01-01T00:00:00Z", "year 1"), ("1900-01-01 10:00", "1900"), ("9999-12-31 10:00", "9999"), ("2026-10-20 10:00", "days ahead")]
    {
        let r = lib.submit("CT-GD", event("major", at), "2026-10-12T02:00:00Z").await;
        assert_eq!(r.outcome, Outcome::Rejected, "{why}");
        assert_eq!(r.errors[0].place, "/discovered_at", "{why}: {:?}", r.errors);
    }
    let mut e = event("major", "2026-10-12 09:00");
    e["content"]["occurred_at"] = json!("2026-10-12 11:00");
    let r = lib.submit("CT-GD", e, "2026-10-12T02:00:00Z").await;
    assert_eq!(r.errors.iter().map(|e| e.place.as_str()).collect::<Vec<_>>(), vec!["/content/occurred_at"]);
    let summary = json!({"kind": "monthly_general", "content": {"month": "2099-01", "events": []}});
    let r = lib.submit("CT-GD", summary, "2026-10-12T02:00:00Z").await;
    assert_eq!(r.errors.iter().map(|e| e.place.as_str()).collect::<Vec<_>>(), vec!["/content/month"]);
    // A discovery a few hours ahead of the hub's clock (a unit's clock runs fast) still goes through.
    assert_eq!(lib.submit("CT-GD", event("general", "2026-10-12 14:00"), "2026-10-12T02:00:00Z").await.outcome, Outcome::Accepted);
}

/// A contact update may not claim an address registered as another unit's contact: mail from
/// it would then speak for the claimer. The claim is refused at its place and the address
/// still speaks for its own unit.
async fn a_contact_update_cannot_take_another_units_address(backend: Backend) {
    let lib = Lib::on(backend).await;
    let claim = json!({"kind": "contact_update", "discovered_at": "2026-09-30 15:00", "content": {"contacts": [
        {"role": "contact", "name": "冒名", "email": "NOC@idc.example.cn"}]}});
    let r = lib.submit("CT-GD", claim, "2026-10-09T02:00:00Z").await;
    assert_eq!(r.outcome, Outcome::Rejected);
    assert_eq!(
        r.errors.iter().map(|e| (e.code, e.place.as_str())).collect::<Vec<_>>(),
        vec![(tongbao::model::ErrorCode::NotYours, "/content/contacts/0/email")]
    );
    // Other spellings of the same mailbox are the same address, or no address at all.
    for (spelling, code) in [
        ("noc@idc.example.cn.", tongbao::model::ErrorCode::NotYours),
        (" NOC@IDC.EXAMPLE.CN. ", tongbao::model::ErrorCode::NotYours),
        ("<noc@idc.example.cn>", tongbao::model::ErrorCode::BadEmail),
        ("noc@[idc.example.cn]", tongbao::model::ErrorCode::BadEmail),
        ("\"noc\"@idc.example.cn", tongbao::model::ErrorCode::BadEmail),
        ("noc@idc.example.cn\u{200b}", tongbao::model::ErrorCode::BadEmail),
    ] {
        let claim = json!({"kind": "contact_update", "discovered_at": "2026-09-30 15:00", "content": {"contacts": [
            {"role": "contact", "name": "冒名", "email": spelling}]}});
        let r = lib.submit("CT-GD", claim, "2026-10-09T02:30:00Z").await;
        assert_eq!(r.outcome, Outcome::Rejected, "{spelling:?}");
        assert_eq!(r.errors[0].code, code, "{spelling:?}: {:?}", r.errors);
    }
    let from_idc = lib
        .submit_as(
            Sender::Email("noc@idc.example.cn".parse().unwrap()),
            Channel::Email,
            event("general", "2026-10-08 10:00"),
            "2026-10-09T03:00:00Z",
        )
        .await;
    assert_eq!(from_idc.outcome, Outcome::Accepted);
    let stored = lib.store.report(from_idc.reports[0].report_id, None).await.unwrap().unwrap();
    assert_eq!(stored.report.unit.as_str(), "IDC-BJ", "the address still speaks for its own unit");
}

/// Only a stored, decided submission is a duplicate. Bytes refused for what was not in them
/// (the sender was not yet registered) are decided afresh when sent again, and once accepted
/// they are what later copies repeat; the very same message delivered again stays a repeat.
async fn a_refusal_not_caused_by_the_bytes_never_traps_the_sender(backend: Backend) {
    let lib = Lib::on(backend).await;
    let bytes = serde_json::to_vec(&event("general", "2026-10-08 10:00")).unwrap();
    let from: tongbao::model::Email = "new-soc@cu-gd.example.cn".parse().unwrap();
    let mail = |message_id: &str, at: &str| {
        let mut sub = Submission::by_content(Channel::Email, Sender::Email(from.clone()), bytes.clone(), at.parse().unwrap());
        sub.external_id = Some(message_id.to_string());
        sub
    };
    let first = lib.intake.submit(mail("m1@cu", "2026-10-09T02:00:00Z")).await.unwrap();
    assert_eq!(first.outcome, Outcome::Rejected);
    assert_eq!(first.errors[0].code, tongbao::model::ErrorCode::UnknownSender);
    let again = lib.intake.submit(mail("m1@cu", "2026-10-09T02:01:00Z")).await.unwrap();
    assert!(again.duplicate, "the same mail read again after a crash is not stored twice");

    let mut unit = crate::helpers::units_from_toml(crate::helpers::UNITS_TOML).into_iter().find(|u| u.code.as_str() == "CT-GD").unwrap();
    unit.code = "CU-GD".parse().unwrap();
    unit.contacts[0].email = Some(from.clone());
    lib.store.import_units(&[unit], chrono::Utc::now()).await.unwrap();

    let resent = lib.intake.submit(mail("m2@cu", "2026-10-09T03:00:00Z")).await.unwrap();
    assert_eq!((resent.outcome, resent.duplicate), (Outcome::Accepted, false), "{:?}", resent.errors);
    let third = lib.intake.submit(mail("m3@cu", "2026-10-09T04:00:00Z")).await.unwrap();
    assert!(third.duplicate && third.submission_id == resent.submission_id, "now the accepted one is what copies repeat");
    let counts = lib.store.counts().await.unwrap();
    assert_eq!((counts.submissions, counts.reports), (2, 1), "the refusal is kept, the report stored once");
}

/// The drop folder takes `*.json` in any case, follows no symlink (one pointing into another
/// unit's folder is moved aside to rejected/ with a receipt, unfollowed, so it never submits that
/// unit's file as this one's), and a file over the limit is moved to rejected/ with a receipt that
/// names the limit.
async fn the_drop_folder_reads_json_in_any_case_follows_no_symlink_and_answers_oversize(backend: Backend) {
    let lib = Lib::on(backend).await;
    let root = tempfile::tempdir().unwrap();
    let (ct, idc) = (root.path().join("CT-GD"), root.path().join("IDC-BJ"));
    std::fs::create_dir_all(&ct).unwrap();
    std::fs::create_dir_all(&idc).unwrap();
    std::fs::write(ct.join("REPORT.JSON"), event("general", "2026-10-08 10:00").to_string()).unwrap();
    std::fs::write(idc.join("theirs.json"), event("major", "2026-10-08 11:00").to_string()).unwrap();
    std::os::unix::fs::symlink(idc.join("theirs.json"), ct.join("borrowed.json")).unwrap();
    std::os::unix::fs::symlink(&idc, root.path().join("CM-GROUP")).unwrap();
    let big = std::fs::File::create(ct.join("huge.json")).unwrap();
    big.set_len(65 << 20).unwrap();
    // A clerk's CSV is answered; files still being written (by name) are left alone.
    std::fs::write(ct.join("events.csv"), "发现时间,信息类别\n2026-10-08 10:00,拒绝服务攻击\n").unwrap();
    std::fs::write(ct.join(".writing.json"), "{\"kind\": \"ev").unwrap();
    std::fs::write(ct.join("next.json.tmp"), "{").unwrap();

    let source = tongbao::connectors::folder::FolderSource::new("inbox", root.path().to_path_buf(), std::time::Duration::from_secs(1));
    let (_stop, rx) = tokio::sync::watch::channel(false);
    source.scan(&lib.intake, &rx).await.unwrap();

    let reports = lib.store.reports(&tongbao::store::ReportFilter { limit: 10, ..Default::default() }).await.unwrap();
    let mut by_unit: Vec<String> = reports.iter().map(|r| r.report.unit.to_string()).collect();
    by_unit.sort();
    assert_eq!(by_unit, ["CT-GD", "IDC-BJ"], "REPORT.JSON as CT-GD, theirs.json once as IDC-BJ, nothing through the links");
    // The link itself is moved aside, unfollowed, with a receipt that says why.
    let moved = ct.join("rejected/borrowed.json").symlink_metadata().expect("the link moved to rejected/");
    assert!(moved.file_type().is_symlink(), "moved as a link, never read through");
    let why: serde_json::Value = serde_json::from_slice(&std::fs::read(ct.join("rejected/borrowed.receipt.json")).unwrap()).unwrap();
    assert!(why["errors"][0]["message"].as_str().unwrap().contains("普通文件"), "{why}");
    assert!(
        idc.join("theirs.json").exists() || idc.join("processed/theirs.json").exists(),
        "the other unit's file is untouched by the link's move"
    );
    let receipt: serde_json::Value = serde_json::from_slice(&std::fs::read(ct.join("rejected/huge.receipt.json")).unwrap()).unwrap();
    assert_eq!(receipt["errors"][0]["code"], "too_large");
    assert!(receipt["errors"][0]["message"].as_str().unwrap().contains("64 MB"), "{receipt}");
    let csv: serde_json::Value = serde_json::from_slice(&std::fs::read(ct.join("rejected/events.receipt.json")).unwrap()).unwrap();
    assert!(csv["errors"][0]["message"].as_str().unwrap().contains("只读取 .json"), "{csv}");
    assert!(ct.join(".writing.json").exists() && ct.join("next.json.tmp").exists(), "files being written are not touched");
}

/// Outbox rows for a channel nobody sends on (CNCERT has an AMQP login but the hub has no AMQP
/// sink) neither wait forever nor go out as a flood of old news when a sink appears: a row a
/// sink finds older than a week is expired unsent, the backlog shows it by channel, and the
/// retention purge removes what is left.
async fn outbox_rows_nobody_sends_expire_and_the_backlog_shows_them(backend: Backend) {
    use tongbao::store::JobStore;
    let lib = Lib::on(backend).await;
    let at: chrono::DateTime<chrono::Utc> = "2026-10-09T02:00:00Z".parse().unwrap();
    lib.submit("CT-GD", event("major", "2026-10-09 09:30"), "2026-10-09T02:00:00Z").await;
    tongbao::fanout::expand_once(&*lib.store, at, false).await.unwrap();
    let waiting = |b: &[tongbao::store::Backlog], status: &str| {
        b.iter().filter(|r| r.channel == "amqp" && r.status == status).map(|r| r.count).sum::<i64>()
    };
    let before = lib.store.outbox_backlog(at).await.unwrap();
    assert!(waiting(&before, "pending") >= 1, "{before:?}");

    // A week after the rows were queued (their age is the hub's clock, not the report's date).
    let week_later = chrono::Utc::now() + chrono::Duration::days(8);
    assert!(lib.store.due_outbox("amqp", week_later, 100).await.unwrap().is_empty(), "nothing a week old is sent");
    let after = lib.store.outbox_backlog(week_later).await.unwrap();
    assert_eq!(waiting(&after, "pending"), 0);
    assert_eq!(waiting(&after, "expired"), waiting(&before, "pending"), "{after:?}");
    assert!(after.iter().all(|b| b.oldest_age_s >= 8 * 86_400 || b.status != "expired"));

    lib.store.purge(week_later).await.unwrap();
    assert_eq!(waiting(&lib.store.outbox_backlog(week_later).await.unwrap(), "expired"), 0, "the purge removes them");
}

/// `n` botnet events of one period in Guangdong, one C&C address each.
fn botnet_reports(n: u32) -> serde_json::Value {
    let reports: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            json!({"kind": "botnet_event", "discovered_at": "2026-06-03 08:00", "provinces": ["GD"],
                "content": {"botnets": [{"cc_ip": std::net::Ipv4Addr::from(0x0A00_0000 + i).to_string(), "port": 6667, "bot_count": 100}]}})
        })
        .collect();
    json!(reports)
}

/// A submission of more reports than a receipt lists (300 botnets, one report each) gets a
/// receipt that counts them all by grade and lists the first 200; every report is stored.
async fn a_receipt_of_many_reports_summarises_them(backend: Backend) {
    let lib = Lib::on(backend).await;
    let r = lib.submit("CT-GD", botnet_reports(300), "2026-06-03T01:00:00Z").await;
    assert_eq!(r.outcome, Outcome::Accepted);
    assert_eq!(r.reports.len(), 200);
    let summary = r.summary.expect("summarised");
    assert_eq!((summary.reports, summary.errors), (300, 0));
    assert_eq!(summary.by_grade.values().sum::<usize>(), 300, "{:?}", summary.by_grade);
    assert_eq!(lib.store.counts().await.unwrap().reports, 300);
}

/// A submission too large to encode ahead of its transaction (10,000 botnet reports, the most
/// one JSON submission may hold: more reports, botnets and obligations than the writer encodes at
/// once, and more reports than intake keeps a retry copy of) is written table by table as it is
/// encoded, all of it.
async fn a_submission_too_large_to_encode_ahead_is_stored_whole(backend: Backend) {
    let lib = Lib::on(backend).await;
    const N: u32 = 10_000;
    let r = lib.submit("CT-GD", botnet_reports(N), "2026-06-03T01:00:00Z").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:?}", r.errors);
    let counts = lib.store.counts().await.unwrap();
    assert_eq!(counts.reports, i64::from(N));
    assert_eq!(lib.count("SELECT COUNT(*) FROM botnets").await, i64::from(N));
    // Each report's duties: the unit's report to CNCERT and CNCERT's to CSB, none lost in a chunk.
    assert_eq!(lib.count("SELECT COUNT(DISTINCT report_id) FROM obligations WHERE report_id IS NOT NULL").await, i64::from(N));
    let per_report = "(SELECT COUNT(*) AS n FROM obligations WHERE report_id IS NOT NULL GROUP BY report_id) t";
    let (fewest, most) =
        (lib.count(&format!("SELECT MIN(n) FROM {per_report}")).await, lib.count(&format!("SELECT MAX(n) FROM {per_report}")).await);
    assert!(fewest == most && fewest >= 2, "{fewest}..{most} duties a report");
}

/// The standing hostile corpus (`tests/hostile/json-cases.json`, written by
/// `tests/hostile/make.py`): each case is refused with the exact code at the exact place, and
/// the hub accepts a good submission after each one.
async fn the_hostile_json_corpus_is_refused_case_by_case_and_the_hub_stays_up(backend: Backend) {
    let lib = Lib::on(backend).await;
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile/json-cases.json");
    let corpus: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let cases = corpus["cases"].as_array().unwrap();
    assert!(cases.len() >= 150, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (n, c) in cases.iter().enumerate() {
        let name = c["name"].as_str().unwrap();
        let bytes: Vec<u8> = if let Some(hex) = c["hex"].as_str() {
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
        } else if let Some(r) = c.get("repeat") {
            let many = vec![r["json"].clone(); r["times"].as_u64().unwrap() as usize];
            serde_json::to_vec(&many).unwrap()
        } else {
            serde_json::to_vec(&c["json"]).unwrap()
        };
        let at: chrono::DateTime<chrono::Utc> = "2026-10-09T02:00:00Z".parse().unwrap();
        let sub = Submission::by_content(Channel::Upload, Sender::Unit("CT-GD".parse().unwrap()), bytes, at);
        let r = lib.intake.submit(sub).await.expect("stored");
        for e in c["expected"].as_array().unwrap() {
            let (code, place) = (e["code"].as_str().unwrap(), e["place"].as_str().unwrap());
            let found = r
                .errors
                .iter()
                .any(|got| got.code.to_string() == code && if place == "第" { got.place.starts_with(place) } else { got.place == place });
            if !found {
                let got: Vec<String> = r.errors.iter().map(|e| format!("{} at {:?}", e.code, e.place)).collect();
                failures.push(format!("{name}: expected {code} at {place:?}, got {got:?}"));
            }
        }
        // The hub still answers a good submission after every hostile one.
        let good = event("general", "2026-10-08 10:00");
        let mut good = good;
        good["content"]["summary"] = json!(format!("good {n}"));
        assert_eq!(lib.submit("CT-GD", good, "2026-10-09T02:00:00Z").await.outcome, Outcome::Accepted, "after {name}");
    }
    assert!(failures.is_empty(), "{} of {} cases answered otherwise:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// Art. 16 [通报办法]: each report of an urgent event asks for the next follow-up (补报) within
/// 24 hours; a follow-up marked final (终报, `"final": true`) meets the one owed and asks for no
/// more, so the chain ends.
async fn a_final_follow_up_ends_the_chain_of_follow_ups(backend: Backend) {
    let lib = Lib::on(backend).await;
    let first = lib.submit("CT-GD", event("major", "2026-03-02T09:00:00+08:00"), "2026-03-02T01:30:00Z").await;
    let first_id = first.reports[0].report_id;
    assert!(duties(&first, 0).contains(&(Duty::FollowUp, ObligationStatus::Open)));
    let mut more = event("major", "2026-03-02T09:00:00+08:00");
    more["follows_up"] = json!(first_id.to_string());
    let second = lib.submit("CT-GD", more.clone(), "2026-03-02T10:00:00Z").await;
    assert!(duties(&second, 0).contains(&(Duty::FollowUp, ObligationStatus::Open)), "a 补报 asks for the next");
    more["follows_up"] = json!(second.reports[0].report_id.to_string());
    more["final"] = json!(true);
    let last = lib.submit("CT-GD", more, "2026-03-03T08:00:00Z").await;
    assert_eq!(last.outcome, Outcome::Accepted, "{:?}", last.errors);
    assert!(duties(&last, 0).iter().all(|(d, _)| *d != Duty::FollowUp), "终报 asks for nothing more: {:?}", duties(&last, 0));
    let owed = obligations_of(&lib, second.reports[0].report_id).await;
    assert_eq!(
        owed.iter().find(|o| o.duty == Duty::FollowUp).unwrap().status,
        ObligationStatus::Met,
        "the final report is the follow-up owed"
    );
}

/// 《僵尸机制》 Art. 13: a disposal feedback given by telephone leaves the written form owed,
/// which the written feedback then delivers; 《通报办法》 Art. 16¶2: a warning CNCERT receives
/// gives it a duty to track and analyse it and report what is important to CSB.
async fn a_phoned_feedback_leaves_the_form_owed_and_a_warning_is_tracked_by_cncert(backend: Backend) {
    let ownership = tongbao::rules::ownership::Ownership::from_toml("[[prefix]]\ncidr = \"203.0.113.0/24\"\nunit = \"CT-GD\"\n").unwrap();
    let engine = tongbao::decision::Engine { calendar: tongbao::rules::Calendar::builtin(), policy: Default::default(), ownership };
    let lib = Lib::with_engine_on(std::sync::Arc::new(engine), backend).await;
    let found = lib.submit("CNCERT", botnet(200_000, &[], "2026-06-01 08:00"), "2026-06-01T00:10:00Z").await;
    let event_id = found.reports[0].report_id;
    let feedback = json!({"kind": "disposal_feedback", "content": {"notice_ref": event_id.to_string(), "unit_name": "中国电信广东分公司",
        "disposed": ["203.0.113.7"]}});
    let phoned = lib.submit_as(Sender::Unit("CT-GD".parse().unwrap()), Channel::Phone, feedback.clone(), "2026-06-01T02:00:00Z").await;
    assert_eq!(phoned.outcome, Outcome::Accepted, "{:?}", phoned.errors);
    let form = |os: &[tongbao::model::Obligation]| {
        os.iter().find(|o| o.duty == Duty::WrittenReport && o.actor.to_string() == "unit:CT-GD").map(|o| (o.status, o.basis.code.clone()))
    };
    assert_eq!(form(&obligations_of(&lib, event_id).await), Some((ObligationStatus::Open, "botnet-13".to_string())));
    let written = lib.submit("CT-GD", feedback, "2026-06-01T05:00:00Z").await;
    assert_eq!(written.outcome, Outcome::Accepted, "{:?}", written.errors);
    assert_eq!(form(&obligations_of(&lib, event_id).await).map(|f| f.0), Some(ObligationStatus::Met));

    let warning = json!({"kind": "warning", "discovered_at": "2026-06-02 09:00", "category": "vulnerability", "level": 2, "provinces": ["GD"],
        "content": {"description": "d", "potential_harm": "h", "affected_scope": "s", "aware_parties": "a", "recommendations": "r"}});
    let w = lib.submit("CT-GD", warning, "2026-06-02T02:00:00Z").await;
    let track =
        obligations_of(&lib, w.reports[0].report_id).await.into_iter().find(|o| o.duty == Duty::TrackWarning).expect("CNCERT tracks it");
    assert_eq!(
        (track.actor.to_string(), track.to.iter().map(|p| p.to_string()).collect::<Vec<_>>()),
        ("cncert".into(), vec!["csb".to_string()])
    );
    assert!(!track.binding, "the article says 立即 and sets no time: a reminder");
}

/// A mail loop (RFC 3834) through the registry: no unit may register the hub's own From
/// address as its contact, in any case, for the hub's receipts would feed back into its intake.
async fn a_unit_cannot_register_the_hubs_own_address_as_its_contact(backend: Backend) {
    let policy = tongbao::rules::Policy { hub_addresses: vec!["tongbao@cncert.example.cn".into()], ..Default::default() };
    let engine = tongbao::decision::Engine { calendar: tongbao::rules::Calendar::builtin(), policy, ownership: Default::default() };
    let engine = std::sync::Arc::new(engine);
    let lib = Lib::with_engine_on(engine.clone(), backend).await;
    // Nor is it anybody's appeal address, however spelled: the hub would mail itself.
    for email in ["tongbao@ｃｎｃｅｒｔ.example.cn", "x@mail。cncert.example.cn"] {
        let form = tongbao::model::appeal::AppealForm {
            target: "203.0.113.7".into(),
            disposal: "封堵".into(),
            reason: "误封".into(),
            name: "某人".into(),
            email: email.into(),
            phone: String::new(),
        };
        let asked = tongbao::intake::appeals::request(
            &*lib.store,
            &engine,
            &form,
            tongbao::model::appeal::AppealChannel::Web,
            "ip:192.0.2.1",
            None,
            "2026-09-30T08:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
        assert!(
            matches!(asked, tongbao::intake::appeals::Requested::Lodged(tongbao::intake::appeals::Lodged::Refused(_))),
            "{email}: {asked:?}"
        );
    }
    assert_eq!(lib.count("SELECT count(*) FROM outbox").await, 0, "nothing mailed to the hub");
    let update = json!({"kind": "contact_update", "discovered_at": "2026-09-30 15:00", "content": {"contacts": [
        {"role": "contact", "name": "值班", "email": "TongBao@CNCERT.example.cn"}]}});
    let r = lib.submit("CT-GD", update, "2026-09-30T08:00:00Z").await;
    assert_eq!(r.outcome, Outcome::Rejected, "{:?}", r.errors);
    assert_eq!((r.errors[0].code.to_string().as_str(), r.errors[0].place.as_str()), ("not_yours", "/content/contacts/0/email"));
    assert!(r.errors[0].message.contains("通报中心自己的发信地址"), "{}", r.errors[0].message);
    // The same mailbox under a +tag, any other mailbox at the hub's domain, and another unit's
    // mailbox under a +tag: each refused at its place.
    let update = json!({"kind": "contact_update", "discovered_at": "2026-09-30 15:00", "content": {"contacts": [
        {"role": "leader", "name": "甲", "email": "tongbao+loop@cncert.example.cn"},
        {"role": "department_head", "name": "乙", "email": "postmaster@cncert.example.cn"},
        {"role": "contact", "name": "丙", "email": "NOC+gd@idc.example.cn"}]}});
    let r = lib.submit("CT-GD", update, "2026-09-30T08:00:00Z").await;
    assert_eq!(r.outcome, Outcome::Rejected, "{:?}", r.errors);
    let places: Vec<&str> = r.errors.iter().map(|e| e.place.as_str()).collect();
    assert_eq!(places, ["/content/contacts/0/email", "/content/contacts/1/email", "/content/contacts/2/email"], "{:?}", r.errors);
    assert!(r.errors[2].message.contains("其他单位"), "{}", r.errors[2].message);
    // A tagged registration holds its whole mailbox: IDC-BJ takes ops+tag@, and CM-GROUP may
    // then not take ops@ (mail from it would be credited to CM-GROUP); a trailing dot or a
    // subdomain of the hub's domain is still the hub's.
    let contact = |email: &str| {
        json!({"kind": "contact_update", "discovered_at": "2026-09-30 15:00", "content": {"contacts": [
            {"role": "contact", "name": "值班", "email": email}]}})
    };
    assert!(lib.submit("IDC-BJ", contact("ops+tag@idc.example.cn"), "2026-09-30T08:00:00Z").await.errors.is_empty());
    for (email, why) in
        [("ops@idc.example.cn", "其他单位"), ("tongbao@cncert.example.cn.", "通报中心"), ("x@mail.cncert.example.cn", "通报中心")]
    {
        let r = lib.submit("CM-GROUP", contact(email), "2026-09-30T09:00:00Z").await;
        assert_eq!(r.outcome, Outcome::Rejected, "{email}: {:?}", r.errors);
        assert!(r.errors[0].message.contains(why), "{email}: {}", r.errors[0].message);
    }
}

crate::on_both_backends!(
    a_group_company_reports_for_its_subsidiaries_and_sees_their_work,
    a_unit_cannot_register_the_hubs_own_address_as_its_contact,
    a_phoned_feedback_leaves_the_form_owed_and_a_warning_is_tracked_by_cncert,
    a_final_follow_up_ends_the_chain_of_follow_ups,
    the_same_submission_sent_concurrently_is_stored_once,
    a_report_meets_its_own_duty_on_time_or_late,
    a_unit_can_submit_only_as_itself_and_unknown_senders_get_no_reply,
    urgent_reports_are_queued_for_their_recipients_with_the_receipt_when_a_reply_path_exists,
    general_events_open_the_monthly_summary_which_the_summary_then_meets,
    botnet_scale_over_the_period_raises_grades_and_regrades_earlier_reports,
    disposal_feedback_and_verification_close_the_chain,
    a_written_follow_up_closes_a_phoned_report_and_may_raise_the_grade,
    a_contact_update_replaces_the_contacts_and_the_mail_identities,
    a_contact_update_needs_contact_details_and_changes_only_the_roles_it_names,
    a_contact_update_counts_for_the_rest_of_its_batch,
    provisional_deadlines_are_recomputed_when_the_year_arrives,
    a_staged_batch_that_another_writer_got_ahead_of_is_rolled_back_whole,
    two_hubs_on_one_database_store_each_submission_once_and_answer_alike,
    the_same_cc_reported_again_counts_once_and_a_resend_never_raises_a_grade,
    reports_of_one_submission_are_graded_together_with_their_own_discovery_times,
    a_unit_whose_report_another_unit_pushes_over_a_threshold_is_told,
    the_same_period_is_a_period_not_only_the_past,
    a_suspected_crime_is_referred_to_public_security_by_cncert,
    times_out_of_the_world_are_refused_at_their_place,
    a_contact_update_cannot_take_another_units_address,
    a_refusal_not_caused_by_the_bytes_never_traps_the_sender,
    the_drop_folder_reads_json_in_any_case_follows_no_symlink_and_answers_oversize,
    outbox_rows_nobody_sends_expire_and_the_backlog_shows_them,
    a_receipt_of_many_reports_summarises_them,
    a_submission_too_large_to_encode_ahead_is_stored_whole,
    the_hostile_json_corpus_is_refused_case_by_case_and_the_hub_stays_up,
);

/// Art. 12¶2 [通报办法], Art. 18 [僵尸机制]: a group company gathers, verifies and reports its
/// provincial companies' information. It may report for a subsidiary (attributed to it, its
/// bureau copied), never for a stranger; a subsidiary never for a sibling; the group sees its
/// subsidiaries' reports and duties, they not the group's; and the group's report on a
/// subsidiary's event counts once in the digest.
async fn a_group_company_reports_for_its_subsidiaries_and_sees_their_work(backend: Backend) {
    use tongbao::store::ConsoleStore;
    use tongbao::store::console::{ReportQuery, Scope};
    let lib = Lib::on(backend).await;
    let units = crate::helpers::units_from_toml(crate::helpers::CT_GROUP_UNITS);
    let registered = lib.store.units().await.unwrap();
    assert!(tongbao::model::unit::group_faults(&units, &registered).is_empty());
    lib.store.import_units(&units, chrono::Utc::now()).await.unwrap();

    // For CT-GD, by the group's contact mail: CT-GD's report, its duties, its bureau copied.
    let mut for_gd = event("large", "2026-10-01T09:00:00+08:00");
    for_gd["unit"] = json!("CT-GD");
    let r =
        lib.submit_as(Sender::Email("soc@ct-group.example.cn".parse().unwrap()), Channel::Email, for_gd, "2026-10-01T10:00:00+08:00").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:?}", r.errors);
    assert_eq!(r.unit.as_ref().map(|u| u.as_str()), Some("CT-GROUP"), "the receipt answers the sender");
    assert_eq!(r.reports[0].for_unit.as_ref().map(|u| u.as_str()), Some("CT-GD"));
    let gd_report = r.reports[0].report_id;
    let stored = lib.store.report(gd_report, None).await.unwrap().unwrap();
    assert_eq!(stored.report.unit.as_str(), "CT-GD");
    let duties = obligations_of(&lib, gd_report).await;
    let report_duty = duties.iter().find(|o| o.duty == Duty::Report).unwrap();
    assert_eq!(report_duty.actor.to_string(), "unit:CT-GD");
    assert!(report_duty.copy.iter().chain(&report_duty.to).any(|p| p.to_string() == "bureau:GD"), "{report_duty:?}");

    // Never for a stranger, and a subsidiary never for its sibling.
    let for_unit = |unit: &str| {
        let mut e = event("general", "2026-10-01T09:00:00+08:00");
        e["unit"] = json!(unit);
        e
    };
    let r = lib.submit("CT-GROUP", for_unit("IDC-BJ"), "2026-10-01T10:00:00+08:00").await;
    assert_eq!((r.errors[0].code.to_string().as_str(), r.errors[0].place.as_str()), ("foreign_unit", "/unit"));
    assert!(r.errors[0].message.contains("CT-GD、CT-GX"), "names what the group may use: {}", r.errors[0].message);
    let r = lib.submit("CT-GD", for_unit("CT-GX"), "2026-10-01T10:00:00+08:00").await;
    assert_eq!(r.errors[0].code.to_string(), "foreign_unit");

    // The group's own report on CT-GD's event (汇总、核实) follows it up: one event in the digest.
    let mut summary = event("large", "2026-10-01T09:00:00+08:00");
    summary["follows_up"] = json!(gd_report);
    summary["provinces"] = json!(["GD"]);
    let r = lib.submit("CT-GROUP", summary, "2026-10-01T12:00:00+08:00").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:?}", r.errors);
    let group_report = r.reports[0].report_id;
    // A sibling may not follow up CT-GD's report.
    let mut sibling = event("large", "2026-10-01T09:00:00+08:00");
    sibling["follows_up"] = json!(gd_report);
    let r = lib.submit("CT-GX", sibling, "2026-10-01T12:00:00+08:00").await;
    assert_eq!((r.errors[0].code.to_string().as_str(), r.errors[0].place.as_str()), ("unknown_reference", "/follows_up"));

    let d =
        tongbao::schedule::compute_digest(&*lib.store, "2026-10".parse().unwrap(), "2026-11-15T00:00:00Z".parse().unwrap()).await.unwrap();
    let events: u64 = d.by_kind.iter().filter(|l| l.label == "事件信息").map(|l| l.count).sum();
    assert_eq!(events, 1, "the group's report and its subsidiary's are one event: {:?}", d.by_kind);

    // The console: the group sees CT-GD's report; CT-GD does not see the group's.
    let all = lib.store.units().await.unwrap();
    let seen = |role: tongbao::model::Role| {
        let store = lib.store.clone();
        let scope = Scope::of(&role, &all);
        async move {
            let page = store.report_page(&scope, &ReportQuery { limit: 100, ..Default::default() }).await.unwrap();
            page.into_iter().map(|r| r.report.id).collect::<Vec<_>>()
        }
    };
    let by_group = seen(tongbao::model::Role::Unit("CT-GROUP".parse().unwrap())).await;
    assert!(by_group.contains(&gd_report) && by_group.contains(&group_report), "{by_group:?}");
    let by_gd = seen(tongbao::model::Role::Unit("CT-GD".parse().unwrap())).await;
    assert!(by_gd.contains(&gd_report) && !by_gd.contains(&group_report), "{by_gd:?}");
    let by_gx = seen(tongbao::model::Role::Unit("CT-GX".parse().unwrap())).await;
    assert!(!by_gx.contains(&gd_report));
}
