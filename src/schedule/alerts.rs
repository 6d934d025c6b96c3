//! The deadline scan: a reminder before an obligation falls due, an overdue alert (迟报/漏报) after, and the escalation of botnet disposal that never came.

use crate::decision::OutboxKind;
use crate::decision::{AuditRow, OutboxRow};
use crate::fanout::party_row;
use crate::model::report::ReportBody;
use crate::model::{Duty, Grade, Obligation, Party, Target};
use crate::rules::Calendar;
use crate::rules::calendar::local_display;
use crate::rules::ownership::Ownership;
use crate::store::jobs::{AlertCandidate, AlertStep};
use crate::store::{JobStore, Store, StoreError};
use chrono::{DateTime, Utc};

const BATCH: u32 = 5000;

/// Alert stages kept in the store.
pub const REMINDED: u8 = 1;
pub const OVERDUE: u8 = 2;

pub async fn scan<S: Store + JobStore>(store: &S, cal: &Calendar, ownership: &Ownership, now: DateTime<Utc>) -> Result<String, StoreError> {
    let (mut reminders, mut overdue, mut held) = (0usize, 0usize, 0usize);
    loop {
        let mut candidates = store.alert_candidates(now, BATCH).await?;
        for c in candidates.iter_mut().filter(|c| escalates_now(c, now)) {
            c.actor_important |= serves_important_user(store, ownership, c).await?;
        }
        let n = candidates.len();
        let steps: Vec<AlertStep> = candidates.iter().map(|c| step(c, cal.due_under_any_schedule(&c.obligation.deadline), now)).collect();
        for s in &steps {
            match (s.to_stage, s.outbox.is_empty()) {
                (_, true) => held += 1,
                (OVERDUE, false) => overdue += 1,
                _ => reminders += 1,
            }
        }
        store.apply_alerts(steps, now).await?;
        if n < BATCH as usize {
            break;
        }
    }
    let mut said = Vec::new();
    if reminders + overdue > 0 {
        said.push(format!("{reminders} reminders, {overdue} overdue alerts"));
    }
    if held > 0 {
        said.push(format!("{held} provisional deadlines passed but not under every possible schedule: no alert yet"));
    }
    Ok(said.join("; "))
}

/// A disposal feedback that is about to be called missed, and so escalated.
fn escalates_now(c: &AlertCandidate, now: DateTime<Utc>) -> bool {
    c.obligation.duty == Duty::DisposalFeedback && c.obligation.binding && now >= c.obligation.deadline.due_at
}

/// Art. 9(四) [僵尸机制] turns on the target's user: whether a C&C address or domain of the event
/// lies under an `[[important]]` entry of the ownership file (an important information system).
async fn serves_important_user<S: Store>(store: &S, ownership: &Ownership, c: &AlertCandidate) -> Result<bool, StoreError> {
    let Some(report) = c.obligation.report_id else { return Ok(false) };
    let Some(stored) = store.report(report, None).await? else { return Ok(false) };
    let ReportBody::BotnetEvent(b) = &stored.report.content.body else { return Ok(false) };
    Ok(b.botnets.iter().any(|n| {
        ownership.important_user(&Target::Ip(n.cc_ip)).is_some()
            || n.domains.iter().any(|d| ownership.important_user(&Target::Domain(d.clone())).is_some())
    }))
}

fn parties(ps: &[Party]) -> String {
    ps.iter().map(Party::label_zh).collect::<Vec<_>>().join("、")
}

/// The next step for one obligation whose alert time has come (pure). `overdue_at` is when
/// its deadline has passed under any holiday schedule (`Calendar::due_under_any_schedule`):
/// its due time, unless the deadline is provisional. A provisional deadline that has passed
/// only under the likely reading raises no alert (漏报 must be true whatever the State Council
/// publishes); the duty is looked at again at `overdue_at`.
pub fn step(c: &AlertCandidate, overdue_at: DateTime<Utc>, now: DateTime<Utc>) -> AlertStep {
    let o = &c.obligation;
    let due = o.deadline.due_at;
    let overdue = o.binding && now >= due;
    if overdue && now < overdue_at {
        return AlertStep {
            obligation: o.id,
            from_stage: c.stage,
            to_stage: c.stage,
            missed: false,
            next_alert_at: Some(overdue_at),
            outbox: vec![],
            audit: vec![],
        };
    }
    let provisional = if o.deadline.provisional { "（暂定：当年放假安排尚未发布）" } else { "" };
    let mut lines = vec![
        format!("事项：{}（{}）", o.duty.label_zh(), o.actor.label_zh()),
        format!("报送对象：{}", parties(&o.to)),
        format!("期限：{}{provisional}（{}）", local_display(due), o.deadline.rule.describe_zh()),
        format!("依据：{}", o.basis.citation_zh),
        format!("义务编号：{}", o.id),
    ];
    if overdue && o.deadline.provisional {
        lines.push(format!("按任何可能的放假安排，期限最晚为 {}，现已逾期", local_display(overdue_at)));
    }
    if let Some(r) = &c.about {
        let severity = r.grade.map(|g| g.label_zh().to_string()).or(r.level.map(|l| l.label_zh().to_string())).unwrap_or_default();
        lines.push(format!(
            "相关报告：{}{}（{}）",
            r.kind.label_zh(),
            if severity.is_empty() { String::new() } else { format!(" {severity}") },
            r.id
        ));
    }
    let mut outbox = Vec::new();
    let mut audit = Vec::new();
    if !overdue {
        let title = if o.binding {
            let mark = if o.deadline.provisional { "（暂定）" } else { "" };
            format!("【提醒】{}将于 {}{mark} 到期", o.duty.label_zh(), local_display(due))
        } else {
            format!("【提醒】请{}", o.duty.label_zh())
        };
        let payload = payload("reminder", &title, &lines, o);
        outbox.push(party_row(OutboxKind::Reminder, &o.actor, "to", o.id.to_string(), &payload));
        audit.push(AuditRow { actor: "hub".into(), action: "obligation.reminded", subject: o.id.to_string(), detail: payload });
        return AlertStep {
            obligation: o.id,
            from_stage: c.stage,
            to_stage: REMINDED,
            missed: false,
            next_alert_at: o.binding.then_some(due),
            outbox,
            audit,
        };
    }
    // Overdue: the actor is told, and so are the parties it owed, so they know it is missing.
    let title = format!("【逾期】{}已超过期限 {}（漏报）", o.duty.label_zh(), local_display(due));
    let payload = payload("overdue", &title, &lines, o);
    outbox.push(party_row(OutboxKind::Overdue, &o.actor, "to", o.id.to_string(), &payload));
    for p in o.to.iter().filter(|p| **p != o.actor && p.is_concrete()) {
        outbox.push(party_row(OutboxKind::Overdue, p, "copy", o.id.to_string(), &payload));
    }
    audit.push(AuditRow { actor: "hub".into(), action: "obligation.missed", subject: o.id.to_string(), detail: payload });
    if o.duty == Duty::DisposalFeedback {
        escalate(c, &lines, &mut outbox, &mut audit);
    }
    AlertStep { obligation: o.id, from_stage: c.stage, to_stage: OVERDUE, missed: true, next_alert_at: None, outbox, audit }
}

fn payload(alert: &str, title: &str, lines: &[String], o: &Obligation) -> serde_json::Value {
    serde_json::json!({
        "alert": alert, "title": title, "lines": lines, "obligation_id": o.id, "duty": o.duty,
        "due_at": o.deadline.due_at, "report_id": o.report_id, "actor": o.actor,
    })
}

/// Art. 9(四) [僵尸机制]: what stays undisposed is escalated. For an important information
/// system user, CSB is told (copy CNCERT) so that its supervising authority is notified in
/// writing; anyone else is flagged to CNCERT for handling under the service contract.
fn escalate(c: &AlertCandidate, lines: &[String], outbox: &mut Vec<OutboxRow>, audit: &mut Vec<AuditRow>) {
    let o = &c.obligation;
    let important = c.actor_important;
    let grade = c.about.as_ref().and_then(|r| r.grade).unwrap_or(Grade::General);
    let (title, to, copy, action) = if important {
        (
            format!("【督办】{}未反馈木马和僵尸网络处置情况（重要信息系统单位）", o.actor.label_zh()),
            vec![Party::Csb],
            vec![Party::Cncert],
            "botnet.escalated",
        )
    } else {
        (
            format!("【标记】{}未反馈木马和僵尸网络处置情况，请依据服务协议处置", o.actor.label_zh()),
            vec![Party::Cncert],
            vec![],
            "botnet.flagged",
        )
    };
    let mut lines = lines.to_vec();
    lines.push(format!("事件分级：{}", grade.label_zh()));
    lines.push("依据：《木马和僵尸网络监测与处置机制》第九条第（四）项".into());
    let mut payload = payload("escalation", &title, &lines, o);
    payload["important"] = important.into();
    for p in &to {
        outbox.push(party_row(OutboxKind::Escalation, p, "to", o.id.to_string(), &payload));
    }
    for p in &copy {
        outbox.push(party_row(OutboxKind::Escalation, p, "copy", o.id.to_string(), &payload));
    }
    audit.push(AuditRow { actor: "hub".into(), action, subject: o.id.to_string(), detail: payload });
}
