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
