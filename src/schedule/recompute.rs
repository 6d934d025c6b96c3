//! Provisional deadlines decided again once their year's holiday schedule is in: new due times, statuses re-decided, and a correction to whoever an alert misled.
//!
//! A deadline in a year without a State Council schedule is computed on the statutory days
//! alone and marked provisional; while it is, nothing is called late (迟报) and no duty missed
//! (漏报) before the deadline has passed under every possible schedule. When the schedule comes
//! (`tongbao calendar import`, a new calendar file at start), each provisional obligation gets
//! its real due time, a fulfilled one is met or late by it, an open one is looked at again at
//! its new reminder or due time, and a duty called late or missed that the real schedule makes
//! on time is corrected, to the party that owed it and those it owed.

use crate::decision::{AuditRow, OutboxKind};
use crate::fanout::party_row;
use crate::model::{Obligation, ObligationStatus};
use crate::rules::calendar::local_display;
use crate::rules::{Calendar, Leads};
use crate::schedule::alerts::{OVERDUE, REMINDED};
use crate::store::jobs::Recomputation;
use crate::store::{JobStore, StoreError};
use chrono::{DateTime, Utc};

/// What a recompute changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recomputed {
    /// Deadlines that are no longer provisional.
    pub settled: usize,
    /// Of those, alerts withdrawn by a correction.
    pub corrected: usize,
}

/// Recomputes every provisional deadline the calendar can now settle.
pub async fn recompute<S: JobStore>(store: &S, cal: &Calendar, leads: &Leads, now: DateTime<Utc>) -> Result<Recomputed, StoreError> {
    let changes: Vec<Recomputation> =
        store.provisional_obligations().await?.iter().filter_map(|(o, stage)| decide(o, *stage, cal, leads, now)).collect();
    let corrected = changes.iter().filter(|c| !c.outbox.is_empty()).count();
    let settled = store.apply_recomputed(changes, now).await?;
    Ok(Recomputed { settled, corrected: corrected.min(settled) })
}

/// The new deadline, status and next look of one provisional obligation, or `None` while the
/// calendar still lacks its year (pure).
pub fn decide(o: &Obligation, stage: u8, cal: &Calendar, leads: &Leads, now: DateTime<Utc>) -> Option<Recomputation> {
    let d = cal.deadline(o.deadline.rule, o.deadline.trigger_at);
    if d.provisional {
        return None;
    }
    let (status, stage, next_alert_at) = match (o.status, o.met_at) {
        (ObligationStatus::Met | ObligationStatus::Late, Some(met_at)) => {
            (if met_at <= d.due_at { ObligationStatus::Met } else { ObligationStatus::Late }, stage, None)
        }
        // Missed before its real due time (called under an earlier, wrong calendar): owed again.
        (ObligationStatus::Missed, _) if now < d.due_at => (ObligationStatus::Open, REMINDED, Some(d.due_at)),
        (ObligationStatus::Open, _) => {
            let next = if stage == 0 { crate::rules::reminders::first_alert_at(&d, o.binding, leads, cal) } else { d.due_at };
            (ObligationStatus::Open, stage, Some(next))
        }
        (status, _) => (status, stage, None),
    };
    let withdrawn = match (o.status, status) {
        (ObligationStatus::Late, ObligationStatus::Met) => Some("迟报"),
        (ObligationStatus::Missed, ObligationStatus::Open) => Some("漏报"),
        _ if stage >= OVERDUE && status == ObligationStatus::Met => Some("逾期"),
        _ => None,
    };
    let mut outbox = Vec::new();
    let detail = serde_json::json!({ "from": o.deadline.due_at, "to": d.due_at, "status_from": o.status.code(), "status": status.code() });
    let mut audit = vec![AuditRow { actor: "hub".into(), action: "obligation.recomputed", subject: o.id.to_string(), detail }];
    if let Some(what) = withdrawn {
        let title = format!("【更正】{}：按正式放假安排，期限为 {}，此前的{what}提示撤回", o.duty.label_zh(), local_display(d.due_at));
        let lines = vec![
            format!("事项：{}（{}）", o.duty.label_zh(), o.actor.label_zh()),
            format!("原暂定期限：{}", local_display(o.deadline.due_at)),
            format!("正式期限：{}（{}）", local_display(d.due_at), d.rule.describe_zh()),
            match status {
                ObligationStatus::Met => "状态：已按时履行".to_string(),
                _ => format!("状态：尚待履行，请于 {} 前完成", local_display(d.due_at)),
            },
            format!("依据：{}", o.basis.citation_zh),
            format!("义务编号：{}", o.id),
        ];
        let payload = serde_json::json!({ "alert": "correction", "title": title, "lines": lines, "obligation_id": o.id,
            "duty": o.duty, "due_at": d.due_at, "report_id": o.report_id, "actor": o.actor });
        outbox.push(party_row(OutboxKind::Alert, &o.actor, "to", o.id.to_string(), &payload));
        // A 漏报 alert also went to the parties owed; a late mark was only the unit's own.
        if what != "迟报" {
            for p in o.to.iter().filter(|p| **p != o.actor && p.is_concrete()) {
                outbox.push(party_row(OutboxKind::Alert, p, "copy", o.id.to_string(), &payload));
            }
        }
        audit.push(AuditRow { actor: "hub".into(), action: "obligation.corrected", subject: o.id.to_string(), detail: payload });
    }
    Some(Recomputation { obligation: o.id, from_status: o.status, due_at: d.due_at, status, stage, next_alert_at, outbox, audit })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Basis, DeadlineRule, Duty, ObligationId, Party};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// December 2026's summary, owed on January's 5th working day, as the hub computed it before
    /// 2027 had a schedule.
    fn owed(status: ObligationStatus, met_at: Option<&str>) -> Obligation {
        let cal = Calendar::builtin();
        let deadline = cal.deadline(DeadlineRule::NthWorkdayOfNextMonth(5), t("2026-12-01T00:00:00+08:00"));
        assert!(deadline.provisional);
        Obligation {
            id: ObligationId::new(),
            key: None,
            report_id: None,
            duty: Duty::MonthlySummary,
            actor: Party::Unit("CT-GD".parse().unwrap()),
            to: vec![Party::Cncert],
            copy: vec![],
            deadline,
            basis: Basis { code: "tongbao-13.3".into(), citation_zh: "第十三条第三款".into() },
            binding: true,
            status,
            met_by: None,
            met_at: met_at.map(t),
            next_alert_at: None,
        }
    }

    /// A schedule for 2027 that gives 01-04 off too: the 5th working day becomes Mon 01-11.
    fn with_2027() -> Calendar {
        Calendar::from_toml(&format!("{}\n[years.2027]\nholidays = [\"01-01..01-04\"]\n", crate::rules::calendar::BUILTIN)).unwrap()
    }

    #[test]
    fn nothing_is_settled_while_the_year_has_no_schedule() {
        let o = owed(ObligationStatus::Open, None);
        assert!(decide(&o, 0, &Calendar::builtin(), &Leads::default(), t("2027-01-05T00:00:00+08:00")).is_none());
    }

    /// A duty marked late under the old, provisional deadline that the real schedule makes on
    /// time becomes met, and the unit it was marked against is told so.
    #[test]
    fn a_late_mark_the_real_schedule_withdraws_is_corrected_to_the_unit() {
        let o = owed(ObligationStatus::Late, Some("2027-01-09T10:00:00+08:00"));
        let r = decide(&o, 0, &with_2027(), &Leads::default(), t("2027-01-12T09:00:00+08:00")).unwrap();
        assert_eq!(r.due_at, t("2027-01-12T00:00:00+08:00"), "due at the end of Mon 01-11");
        assert_eq!(r.status, ObligationStatus::Met);
        let to: Vec<String> = r.outbox.iter().map(|row| row.recipient.clone()).collect();
        assert_eq!(to, vec!["unit:CT-GD"], "the late mark was the unit's alone");
        assert!(r.outbox[0].payload.value().to_string().contains("【更正】"));
    }

    /// A duty called missed before its real due time is owed again, and everyone the 漏报 alert
    /// reached hears it is withdrawn.
    #[test]
    fn a_missed_mark_before_the_real_due_time_reopens_and_is_corrected_to_all_it_reached() {
        let o = owed(ObligationStatus::Missed, None);
        let r = decide(&o, OVERDUE, &with_2027(), &Leads::default(), t("2027-01-10T09:00:00+08:00")).unwrap();
        assert_eq!((r.status, r.next_alert_at), (ObligationStatus::Open, Some(t("2027-01-12T00:00:00+08:00"))));
        let mut to: Vec<String> = r.outbox.iter().map(|row| row.recipient.clone()).collect();
        to.sort();
        assert_eq!(to, vec!["cncert", "unit:CT-GD"]);
    }
}
