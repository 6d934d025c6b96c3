//! Monthly jobs: the summary reminder on the 1st working day, the list of units with no summary after the 5th, and the digest.

use crate::decision::AuditRow;
use crate::decision::OutboxKind;
use crate::digest::{self, Digest};
use crate::fanout::party_row;
use crate::model::{Deadline, Obligation, ObligationId, ObligationStatus, Party, Unit, YearMonth};
use crate::rules::calendar::{end_of_day, local_display, start_of_day};
use crate::rules::obligations::{Reporter, monthly_summary_duty};
use crate::rules::{Calendar, Policy};
use crate::store::jobs::{Arrivals, JobRun, MonthFacts, Tally};
use crate::store::{JobStore, Store, StoreError};
use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;
use std::collections::{BTreeMap, HashMap};

/// Units that owe a monthly summary (`obligations::owes_monthly_summary`).
fn reporting<'u>(units: &'u [Unit], policy: &Policy) -> impl Iterator<Item = &'u Unit> {
    units.iter().filter(move |u| crate::rules::obligations::owes_monthly_summary(u, policy))
}

fn local_month(now: DateTime<Utc>) -> YearMonth {
    YearMonth::of(now.with_timezone(&Shanghai).date_naive())
}

fn reporter(u: &Unit) -> Reporter<'_> {
    Reporter { code: &u.code, unit_type: u.unit_type, region: u.province }
}

/// The summary duty of every reporting unit for `month`, open, first looked at by the deadline
/// scan at `alert_at(deadline)`.
fn summary_duties(
    units: &[Unit],
    policy: &Policy,
    month: YearMonth,
    cal: &Calendar,
    alert_at: impl Fn(&Deadline) -> DateTime<Utc>,
) -> Vec<Obligation> {
    reporting(units, policy)
        .map(|u| {
            let d = monthly_summary_duty(&reporter(u), month, cal);
            let key = d.key.clone().expect("the summary duty is keyed");
            Obligation {
                id: ObligationId::from_key(&key),
                key: Some(key),
                report_id: None,
                duty: d.duty,
                actor: d.actor,
                to: d.to,
                copy: d.copy,
                next_alert_at: Some(alert_at(&d.deadline)),
                deadline: d.deadline,
                basis: d.basis,
                binding: true,
                status: ObligationStatus::Open,
                met_by: None,
                met_at: None,
            }
        })
        .collect()
}

/// How each unit stands on `month`'s summary.
async fn summary_status<S: JobStore>(store: &S, month: YearMonth) -> Result<HashMap<Party, ObligationStatus>, StoreError> {
    Ok(store.keyed_obligations(&format!("monthly_summary:%:{month}")).await?.into_iter().map(|o| (o.actor, o.status)).collect())
}

fn sent(s: Option<&ObligationStatus>) -> bool {
    matches!(s, Some(ObligationStatus::Met | ObligationStatus::Late))
}

/// On the 1st working day of a month (or later that week, if the hub was down), every unit that
/// has not yet sent last month's summary is reminded, and the duty is recorded for each.
pub async fn reminder<S: Store + JobStore>(store: &S, cal: &Calendar, policy: &Policy, now: DateTime<Utc>) -> Result<String, StoreError> {
    let this = local_month(now);
    let month = this.previous();
    let first = start_of_day(cal.nth_workday(this, 1).value);
    let fifth = cal.nth_workday(this, 5);
    let due = end_of_day(fifth.value);
    let mark = if fifth.provisional { "（暂定）" } else { "" };
    if now < first || now >= due || store.job_ran("monthly_reminder", &month.to_string()).await?.is_some() {
        return Ok(String::new());
    }
    let units = store.units().await?;
    let status = summary_status(store, month).await?;
    let mut outbox = Vec::new();
    for u in reporting(&units, policy) {
        let party = reporter(u).party();
        if sent(status.get(&party)) {
            continue;
        }
        let title = format!("【提醒】请于 {}{mark} 前报送 {month} 一般事件月度汇总", local_display(due));
        let lines = vec![
            format!("单位：{}（{}）", u.name, u.code),
            format!("事项：报送 {month} 一般网络安全事件月度汇总（无事件也请报送“无”）"),
            "报送对象：CNCERT（抄送本省通信管理局）".to_string(),
            format!("期限：{}{mark}（次月第5个工作日）", local_display(due)),
            "依据：《互联网网络安全信息通报实施办法》第十三条第三款".to_string(),
        ];
        let payload = serde_json::json!({ "alert": "summary_reminder", "title": title, "lines": lines, "month": month.to_string() });
        outbox.push(party_row(OutboxKind::SummaryReminder, &party, "to", format!("monthly_summary:{}:{month}", u.code), &payload));
    }
    let n = outbox.len();
    let ran = store
        .record_job(JobRun {
            job: "monthly_reminder",
            period: month.to_string(),
            at: now,
            detail: serde_json::json!({ "reminded": n }),
            obligations: summary_duties(&units, policy, month, cal, |d| {
                crate::rules::reminders::first_alert_at(d, true, &policy.reminders, cal)
            }),
            fulfils: vec![],
            outbox,
            audit: vec![],
        })
        .await?;
    Ok(if ran { format!("{month}: {n} units reminded of their summary") } else { String::new() })
}

/// The `n`-th working day of `month`, read at its latest when the month has no holiday
/// schedule yet: the day it is under any schedule the State Council can publish.
fn latest_nth_workday(cal: &Calendar, month: YearMonth, n: u32) -> chrono::NaiveDate {
    let day = cal.nth_workday(month, n);
    if day.provisional { cal.latest().nth_workday(month, n).value.max(day.value) } else { day.value }
}

/// After the 5th working day: the units with no summary for last month, to CNCERT (copy CSB).
/// While the month has no holiday schedule, only once the 5th working day has passed under
/// every schedule: a unit on time under the real one is never listed.
pub async fn missing<S: Store + JobStore>(store: &S, cal: &Calendar, policy: &Policy, now: DateTime<Utc>) -> Result<String, StoreError> {
    let this = local_month(now);
    let month = this.previous();
    let due = end_of_day(cal.nth_workday(this, 5).value);
    if now < end_of_day(latest_nth_workday(cal, this, 5)) || store.job_ran("missing_summaries", &month.to_string()).await?.is_some() {
        return Ok(String::new());
    }
    let status = summary_status(store, month).await?;
    if status.is_empty() {
        // Nothing was owed that the hub knows of (no general event, no reminder): a month
        // before the hub ran. Nobody is listed for it.
        return Ok(String::new());
    }
    let units = store.units().await?;
    let missing: Vec<&Unit> = reporting(&units, policy).filter(|u| !sent(status.get(&reporter(u).party()))).collect();
    let title = format!("【汇总】{month} 一般事件月度汇总未报送单位（{} 家）", missing.len());
    let mut lines = vec![format!("截止时间：{}（次月第5个工作日）", local_display(due))];
    if missing.is_empty() {
        lines.push("所有单位均已报送。".into());
    }
    lines.extend(missing.iter().map(|u| format!("{}（{}，{}）", u.name, u.code, u.province.province().map_or("全国", |p| p.short_zh()))));
    let payload = serde_json::json!({
        "alert": "missing_summaries", "title": title, "lines": lines, "month": month.to_string(),
        "units": missing.iter().map(|u| u.code.to_string()).collect::<Vec<_>>(),
    });
    let subject = format!("missing_summaries:{month}");
    let outbox = vec![
        party_row(OutboxKind::MissingSummaries, &Party::Cncert, "to", subject.clone(), &payload),
        party_row(OutboxKind::MissingSummaries, &Party::Csb, "copy", subject, &payload),
    ];
    // Units that were never reminded (the hub was down all week) still owe it: record the
    // duty, for the next scan to mark missed.
    let obligations = summary_duties(&units, policy, month, cal, |_| now);
    let audit = vec![AuditRow { actor: "hub".into(), action: "monthly_summary.missing", subject: month.to_string(), detail: payload }];
    let ran = store
        .record_job(JobRun {
            job: "missing_summaries",
            period: month.to_string(),
            at: now,
            detail: serde_json::json!({ "missing": missing.len() }),
            obligations,
            fulfils: vec![],
            outbox,
            audit,
        })
        .await?;
    Ok(if ran { format!("{month}: {} units without a summary", missing.len()) } else { String::new() })
}

/// The start of the earliest month a digest still to be sent reads: the month before the first
/// month whose digest has not gone out (it is compared with that one). Retention keeps
/// everything from there on.
pub async fn digest_reads_from<S: JobStore>(store: &S, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
    let this = local_month(now);
    let unsent = if store.job_ran("digest", &this.previous().to_string()).await?.is_none() { this.previous() } else { this };
    Ok(start_of_day(unsent.previous().first_day()))
}

/// Counts `month` and the month before and builds its digest, as of `now` (a month not over
/// then is marked so, and not compared).
pub async fn compute<S: Store + JobStore>(store: &S, month: YearMonth, now: DateTime<Utc>) -> Result<Digest, StoreError> {
    let (a, b) = digest::span(month);
    let (pa, pb) = digest::span(month.previous());
    // Each report counts in the first digest not yet sent when it arrived: one discovered in a
    // month but received after that month's digest went out is the next month's late arrival.
    let previous = month.previous();
    let arrivals = |m: YearMonth| async move {
        Ok::<_, StoreError>(Arrivals {
            late_after: store.job_ran("digest", &m.previous().to_string()).await?,
            until: store.job_ran("digest", &m.to_string()).await?,
        })
    };
    let mut cur = store.month_facts(a, b, 5, arrivals(month).await?).await?;
    let mut prev = store.month_facts(pa, pb, 0, arrivals(previous).await?).await?;
    add_summarised_events(store, month, &mut cur).await?;
    add_summarised_events(store, month.previous(), &mut prev).await?;
    let units = store.units().await?;
    let month_over = start_of_day(month.next().first_day()) <= now;
    Ok(digest::build(month, &cur, &prev, &units, (!month_over).then_some(now)))
}

/// Adds to a month's facts the general events its units listed in their monthly summaries
/// (Art. 19 [通报办法]: general events are reported once a month, in the first five working
/// days of the next): the summaries for the month that came before its digest went out, and
/// summaries of earlier months that came after their own digest, marked late.
async fn add_summarised_events<S: JobStore>(store: &S, month: YearMonth, facts: &mut MonthFacts) -> Result<(), StoreError> {
    let m = month.to_string();
    let previous = month.previous().to_string();
    let far_past = DateTime::<Utc>::MIN_UTC;
    // A digest that went out already counted what had come by then; computing it again counts the same.
    let until = store.job_ran("digest", &m).await?.unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut rows = store.summary_events(&m, &m, far_past, until).await?;
    if let Some(previous_sent) = store.job_ran("digest", &previous).await? {
        // A summary resent after its month's digest went out was counted already; only those that
        // had not come at all by then are late arrivals.
        let counted: std::collections::HashSet<(String, String)> =
            store.summary_events("0000-00", &previous, far_past, previous_sent).await?.into_iter().map(|e| (e.unit, e.month)).collect();
        let late: Vec<_> = store
            .summary_events("0000-00", &previous, previous_sent, until)
            .await?
            .into_iter()
            .filter(|e| !counted.contains(&(e.unit.clone(), e.month.clone())))
            .collect();
        let mut by_summary: BTreeMap<(String, String), u64> = BTreeMap::new();
        for e in &late {
            *by_summary.entry((e.unit.clone(), e.month.clone())).or_default() += e.count;
        }
        facts.late_summaries = by_summary.into_iter().map(|((unit, month), n)| (unit, month, n)).collect();
        rows.extend(late);
    }
    let bump = |list: &mut Vec<Tally>, key: String, n: u64| match list.iter_mut().find(|t| t.key == key) {
        Some(t) => t.count += n,
        None => list.push(Tally { key, count: n }),
    };
    for e in rows {
        match facts.by_kind_severity.iter_mut().find(|(k, s, _)| k == "event" && s == "general") {
            Some(x) => x.2 += e.count,
            None => facts.by_kind_severity.push(("event".into(), "general".into(), e.count)),
        }
        bump(&mut facts.by_category, e.category, e.count);
        bump(&mut facts.by_unit, e.unit, e.count);
        bump(&mut facts.by_provinces, if e.region == "national" { String::new() } else { e.region }, e.count);
    }
    for list in [&mut facts.by_category, &mut facts.by_unit, &mut facts.by_provinces] {
        list.sort_by(|x, y| y.count.cmp(&x.count).then_with(|| x.key.cmp(&y.key)));
    }
    Ok(())
}

/// Sends `month`'s digest to CSB and all bureaus, once: `Ok(false)` when it was sent before.
pub async fn send_digest<S: Store + JobStore>(store: &S, month: YearMonth, now: DateTime<Utc>) -> Result<(bool, Digest), StoreError> {
    let d = compute(store, month, now).await?;
    let (from, to) = digest::span(month);
    let payload = serde_json::json!({
        "title": format!("【月度通报】{month} 网络安全信息通报"),
        "month": month.to_string(),
        "digest": d,
    });
    // General events' disposal results go to CSB in the digest (Art. 9(五) [僵尸机制]): its
    // delivery to CSB, not to the bureaus or CNCERT's own copy, meets those of the month's feedback.
    // Art. 19¶2: the digest's own duty is met once CSB, every bureau and every unit concerned
    // has it; each of their rows says so, CNCERT's own copy does not.
    let counts = serde_json::json!({ "digest_month": month.to_string() });
    let mut to_csb = payload.clone();
    to_csb["performs"] = serde_json::json!([{
        "duty": crate::model::Duty::DisposalResult, "rule": crate::model::DeadlineRule::NthWorkdayOfNextMonth(10).code(),
        "trigger_from": from.timestamp_millis(), "trigger_to": to.timestamp_millis(),
    }, counts]);
    let mut to_bureaus = payload.clone();
    to_bureaus["performs"] = counts.clone();
    let subject = format!("digest:{month}");
    let mut outbox = vec![
        party_row(OutboxKind::Digest, &Party::Csb, "to", subject.clone(), &to_csb),
        party_row(OutboxKind::Digest, &Party::AllBureaus, "to", subject.clone(), &to_bureaus),
        party_row(OutboxKind::Digest, &Party::Cncert, "copy", subject.clone(), &payload),
    ];
    // 向相关单位通告: each unit concerned gets the month's picture with only its own figures.
    for code in &d.concerned {
        let Ok(code) = code.parse::<crate::model::UnitCode>() else { continue };
        let to_unit = serde_json::json!({
            "title": format!("【月度通报】{month} 网络安全信息通报"),
            "month": month.to_string(),
            "digest": d.for_unit(code.as_str()),
            "performs": counts,
        });
        outbox.push(party_row(OutboxKind::Digest, &Party::Unit(code), "to", subject.clone(), &to_unit));
    }
    let ran = store
        .record_job(JobRun {
            job: "digest",
            period: month.to_string(),
            at: now,
            detail: serde_json::json!({ "total": d.total }),
            obligations: vec![],
            // Met on delivery to the last recipient (the store's `DIGEST_MET`), not on queueing.
            fulfils: vec![],
            outbox,
            audit: vec![AuditRow {
                actor: "hub".into(),
                action: "digest.sent",
                subject: month.to_string(),
                detail: serde_json::json!({ "total": d.total }),
            }],
        })
        .await?;
    Ok((ran, d))
}

/// From the `workday`-th working day of a month, at `first_firing` of that day (the digest
/// job's first firing on it), the digest of the month before goes out. In a month without a
/// holiday schedule the day is read at its latest, so the digest never goes out before the
/// summaries it counts are due under any schedule (Art. 13¶3, 19 [通报办法]).
pub async fn scheduled_digest<S: Store + JobStore>(
    store: &S,
    cal: &Calendar,
    workday: u32,
    first_firing: impl Fn(chrono::NaiveDate) -> DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let this = local_month(now);
    let month = this.previous();
    if now < first_firing(latest_nth_workday(cal, this, workday)) || store.job_ran("digest", &month.to_string()).await?.is_some() {
        return Ok(String::new());
    }
    let (ran, d) = send_digest(store, month, now).await?;
    Ok(if ran { format!("{month}: digest of {} reports sent", d.total) } else { String::new() })
}
