//! Fan-out: turns outbox rows addressed to a party (CSB, a bureau, all bureaus, CNCERT, a unit) into e-mail and AMQP rows for the people and systems that act as that party.
//!
//! Intake and the scheduler write one `party` row per recipient party, in their own
//! transaction; they never look up addresses. This task resolves each party against the unit
//! registry as it is when the row goes out, and replaces the row by its channel rows in one
//! transaction, so a row is expanded exactly once. Urgent rows are expanded at once; the rest
//! wait for the notice batch, which sends each recipient one mail listing all of its items.

use crate::decision::{OutboxChannel, OutboxKind, OutboxRow, Payload};
use crate::model::{OutboxId, Party, Unit, UnitType};
use crate::store::{JobStore, OutboxItem, Store};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Where one copy of a notice goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Destination {
    /// A contact's address, with the name to greet.
    Email { address: String, label: String },
    /// A unit's systems: the notices exchange, routing key `to.<UNIT>.<kind>`.
    Amqp { unit: String },
}

impl Destination {
    fn channel(&self) -> OutboxChannel {
        match self {
            Destination::Email { .. } => OutboxChannel::Email,
            Destination::Amqp { .. } => OutboxChannel::Amqp,
        }
    }
    fn recipient(&self, kind: OutboxKind) -> String {
        match self {
            Destination::Email { address, .. } => address.clone(),
            Destination::Amqp { unit } => format!("to.{}.{kind}", unit.replace('.', "_")),
        }
    }
}

/// One urgent row for a party, for the fan-out to resolve; `role` is `to` or `copy`.
pub fn party_row(kind: OutboxKind, party: &Party, role: &'static str, subject: String, payload: &serde_json::Value) -> OutboxRow {
    shared_party_row(kind, party, role, subject, &Payload::new(payload))
}

/// Like `party_row`, sharing one payload among the rows of a notice to several parties.
pub fn shared_party_row(kind: OutboxKind, party: &Party, role: &'static str, subject: String, payload: &Payload) -> OutboxRow {
    OutboxRow {
        id: OutboxId::new(),
        kind,
        channel: OutboxChannel::Party,
        recipient: party.to_string(),
        subject_id: subject,
        urgent: true,
        payload: payload.clone(),
        role: Some(role),
    }
}

/// The registered units that act as a party.
pub fn acting_units<'u>(party: &Party, units: &'u [Unit]) -> Vec<&'u Unit> {
    units
        .iter()
        .filter(|u| match party {
            Party::Csb => u.unit_type == UnitType::Csb,
            Party::Cncert => u.unit_type == UnitType::Cncert,
            Party::Bureau(p) => u.unit_type == UnitType::Bureau && u.province.province() == Some(*p),
            Party::AllBureaus => u.unit_type == UnitType::Bureau,
            Party::Unit(code) => &u.code == code,
            // Abstract parties are resolved when the notice is written; none should reach here.
            Party::BureausConcerned | Party::UnitsConcerned => false,
        })
        .collect()
}

/// Every destination of a party: each contact's e-mail address (once), and the unit's AMQP
/// routing key when the unit has systems on the broker.
pub fn destinations(party: &Party, units: &[Unit]) -> Vec<Destination> {
    let mut out = Vec::new();
    for u in acting_units(party, units) {
        for c in &u.contacts {
            if let Some(e) = &c.email {
                let d = Destination::Email { address: e.as_str().to_string(), label: format!("{}（{}）", u.name, c.name) };
                if !out.iter().any(|x| matches!(x, Destination::Email { address, .. } if address == e.as_str())) {
                    out.push(d);
                }
            }
        }
        if u.amqp_user.is_some() {
            out.push(Destination::Amqp { unit: u.code.to_string() });
        }
    }
    out
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expanded {
    pub parties: usize,
    pub rows: usize,
    pub unresolved: usize,
}

/// Party rows read and expanded in one transaction.
const PAGE: u32 = 2048;

/// Expands every due party row: urgent ones one by one; with `batch`, also the others, grouped
/// so each destination gets one `batch` row listing its items. The urgent loop, the notice
/// batch and other hubs may read the same rows at once; the store lets one of them expand
/// each (`JobStore::expand_party_rows`), and the others read again and find them gone.
pub async fn expand_once<S: Store + JobStore>(store: &S, now: DateTime<Utc>, batch: bool) -> Result<Expanded, crate::store::StoreError> {
    let mut total = Expanded::default();
    let mut lost_races = 0;
    loop {
        match expand_page(store, now, batch).await? {
            Page::Empty => return Ok(total),
            Page::Expanded(e, full) => {
                total.parties += e.parties;
                total.rows += e.rows;
                total.unresolved += e.unresolved;
                if !full {
                    return Ok(total);
                }
            }
            Page::TakenElsewhere => {
                lost_races += 1;
                tracing::debug!(lost_races, "party rows expanded by another expander meanwhile; reading again");
                // Each lost race means another expander made progress, so this ends; the bound
                // only keeps one pass short when others keep winning.
                if lost_races >= 8 {
                    return Ok(total);
                }
            }
        }
    }
}

/// What one page of party rows came to.
enum Page {
    Empty,
    /// Expanded; `true` when the page was full, so more may wait.
    Expanded(Expanded, bool),
    /// Another expander claimed some of these rows first; nothing was written.
    TakenElsewhere,
}

async fn expand_page<S: Store + JobStore>(store: &S, now: DateTime<Utc>, batch: bool) -> Result<Page, crate::store::StoreError> {
    let rows = store.party_rows(now, batch, PAGE).await?;
    if rows.is_empty() {
        return Ok(Page::Empty);
    }
    let full = rows.len() >= PAGE as usize;
    let units = store.units().await?;
    let mut done = Vec::new();
    let mut unresolved = Vec::new();
    let mut children = Vec::new();
    // Non-urgent items per destination, for one mail each.
    let mut grouped: BTreeMap<Destination, Vec<(&OutboxItem, Party)>> = BTreeMap::new();
    for row in &rows {
        let party: Party = match row.recipient.parse() {
            Ok(p) => p,
            Err(_) => {
                unresolved.push((row.id, format!("not a party: {}", row.recipient)));
                continue;
            }
        };
        let dests = destinations(&party, &units);
        if dests.is_empty() {
            unresolved.push((row.id, format!("no registered unit with a contact acts as {party} ({})", party.label_zh())));
            continue;
        }
        done.push(row.id);
        for d in dests {
            if row.urgent || !batch {
                children.push(child(row, &d, &party));
            } else {
                grouped.entry(d).or_default().push((row, party.clone()));
            }
        }
    }
    for (d, items) in grouped {
        if let [(one, party)] = items.as_slice() {
            children.push(child(one, &d, party));
            continue;
        }
        let list: Vec<serde_json::Value> = items
            .iter()
            .map(|(i, _)| serde_json::json!({ "kind": i.kind, "subject_id": i.subject_id, "outbox_id": i.id, "payload": i.payload }))
            .collect();
        let label = match &d {
            Destination::Email { label, .. } => label.clone(),
            Destination::Amqp { unit } => unit.clone(),
        };
        children.push(OutboxRow {
            id: OutboxId::new(),
            kind: OutboxKind::Batch,
            channel: d.channel(),
            recipient: d.recipient(OutboxKind::Batch),
            subject_id: items[0].0.id.to_string(),
            urgent: false,
            payload: Payload::new(&serde_json::json!({ "recipient_label": label, "items": list })),
            role: None,
        });
    }
    let out = Expanded { parties: done.len(), rows: children.len(), unresolved: unresolved.len() };
    let failed: Vec<(OutboxId, String)> = unresolved.clone();
    if !store.expand_party_rows(done, unresolved, children, now).await? {
        return Ok(Page::TakenElsewhere);
    }
    for (id, why) in &failed {
        tracing::error!(outbox = %id, problem = %why, "notice has nobody to go to; marked failed");
    }
    Ok(Page::Expanded(out, full))
}

fn child(row: &OutboxItem, d: &Destination, party: &Party) -> OutboxRow {
    let mut payload = row.payload.clone();
    if let Some(obj) = payload.as_object_mut() {
        let label = match d {
            Destination::Email { label, .. } => label.clone(),
            Destination::Amqp { .. } => party.label_zh(),
        };
        obj.insert("recipient_label".into(), label.into());
        obj.insert("party".into(), party.to_string().into());
        obj.insert("parent_outbox_id".into(), row.id.to_string().into());
    }
    let kind = match row.kind {
        OutboxKind::Notice => OutboxKind::Notice,
        OutboxKind::Digest => OutboxKind::Digest,
        OutboxKind::PublicNotice => OutboxKind::PublicNotice,
        _ => OutboxKind::Alert,
    };
    OutboxRow {
        id: OutboxId::new(),
        kind,
        channel: d.channel(),
        recipient: d.recipient(kind),
        subject_id: row.subject_id.clone(),
        urgent: row.urgent,
        payload: Payload::new(&payload),
        role: None,
    }
}

/// Expands urgent party rows as they appear (every `poll`), until shutdown.
pub async fn run<S: Store + JobStore>(store: Arc<S>, poll: Duration, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        match expand_once(&*store, crate::clock::now(), false).await {
            Ok(e) if e.parties > 0 => tracing::info!(parties = e.parties, rows = e.rows, "urgent notices fanned out"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "fan-out failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}
