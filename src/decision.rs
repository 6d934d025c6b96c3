//! What intake decides and the store writes: a parsed batch, the context its decision reads, and everything one submission causes.
//!
//! Below both intake and the store: intake makes these values, the store loads a `Context` for a
//! batch's `Needs` and writes each `Decision` in one transaction, fan-out and the scheduler make
//! outbox and audit rows of their own. Nothing here decides anything.

use crate::model::report::{Report, ReportInput};
use crate::model::submission::Sender;
use crate::model::{
    Contact, Deadline, Duty, Grade, IntakeError, Obligation, ObligationId, OutboxId, Party, Province, Receipt, Region, Regrade, ReportId,
    ReportKind, Submission, SubmissionId, Unit, UnitCode, UnitType, WarningLevel,
};
use crate::rules::botnet;
use crate::rules::{BotSet, Calendar, Policy};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One element of a submission: its place (a JSON pointer, `/3`, or empty for a lone object;
/// a form row's place) and either the report or every error found in it.
pub type Item = (String, Result<ReportInput, Vec<IntakeError>>);

/// The calendar and policy intake decides with.
#[derive(Debug, Clone)]
pub struct Engine {
    pub calendar: Calendar,
    pub policy: Policy,
    /// Who answers for botnet addresses and domains, for CNCERT's disposal notices.
    pub ownership: crate::rules::ownership::Ownership,
}

/// A submission after parsing, before it meets the store.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub submission: Submission,
    pub items: Result<Vec<Item>, IntakeError>,
    /// What parsing left out without refusing (unknown columns, sheets without a form).
    pub notes: Vec<crate::model::Note>,
}

impl Parsed {
    pub fn new(submission: Submission, items: Result<Vec<Item>, IntakeError>) -> Parsed {
        Parsed { submission, items, notes: vec![] }
    }
}

/// What intake needs to know about an earlier report it refers to.
#[derive(Debug, Clone)]
pub struct ReportRef {
    pub id: ReportId,
    pub unit: UnitCode,
    pub reporter_type: UnitType,
    pub reporter_region: Region,
    pub kind: ReportKind,
    pub grade: Option<Grade>,
    pub level: Option<WarningLevel>,
    pub provinces: Vec<Province>,
}

/// One botnet of a stored report, for the same-period aggregate.
#[derive(Debug, Clone)]
pub struct BotnetRow {
    pub report_id: ReportId,
    pub idx: usize,
    /// Its C&C address and port: the same C&C seen again in the period is the same botnet.
    /// None only for rows stored before the hub kept it and whose report no longer says.
    pub cc: Option<(std::net::IpAddr, u16)>,
    pub discovered_at: DateTime<Utc>,
    pub declared_count: u64,
    pub bots: BotSet,
}

impl BotnetRow {
    pub fn sighting(&self) -> botnet::Sighting<'_> {
        botnet::Sighting { cc: self.cc, declared_count: self.declared_count, listed: &self.bots }
    }
}

/// What the store found for a batch: units by sender, referenced reports, and the botnets of the
/// period. Decisions add to it, so a later submission of the batch sees an earlier one.
#[derive(Debug, Default)]
pub struct Context {
    /// Shared, so each decision holds its unit without copying its contacts.
    pub units: HashMap<Sender, std::sync::Arc<Unit>>,
    pub refs: HashMap<ReportId, ReportRef>,
    pub botnets: Vec<BotnetRow>,
    pub receipts: HashMap<String, Receipt>,
    /// The sender's own id (a mail's Message-ID) of the submission each dedupe key was first stored under.
    pub external_ids: HashMap<String, Option<String>>,
    /// Obligations that appeals name, as stored (their reports are in `refs`).
    pub obligations: HashMap<ObligationId, Obligation>,
    /// Who owes a disposal feedback or a verification about each botnet event a feedback or
    /// verification of the batch names: only they may send one (Art. 9 [僵尸机制]).
    pub owed: HashMap<ReportId, Vec<(Duty, Party)>>,
    /// Each subsidiary's group company (Art. 12¶2 [通报办法]), which may report for it.
    pub groups: HashMap<crate::model::UnitCode, crate::model::UnitCode>,
}

/// What the store must look up before deciding a batch.
#[derive(Debug, Default)]
pub struct Needs {
    pub dedupe_keys: Vec<String>,
    pub senders: Vec<Sender>,
    pub refs: Vec<ReportId>,
    /// Obligations named by appeals; the store adds their reports to `refs`.
    pub obligations: Vec<ObligationId>,
    /// Botnet events named by feedbacks and verifications, whose owed duties the store loads into `owed`.
    pub owed_about: Vec<ReportId>,
    /// The span of discovery times whose botnets may share a period with the batch's.
    pub botnet_span: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// An obligation the report fulfils, found by what it is about or by its key.
#[derive(Debug, Clone, PartialEq)]
pub enum Fulfils {
    About { report: ReportId, duty: Duty, actor: Party },
    Key(String),
}

/// A closed obligation an appeal reopens with a fresh deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct Reopen {
    pub obligation: ObligationId,
    pub deadline: Deadline,
    pub next_alert_at: DateTime<Utc>,
}

/// An earlier report's open duties of one kind, due sooner because the report was regraded:
/// their clock restarts under the new grade at the regrading (Art. 9(二)(三) [僵尸机制]).
#[derive(Debug, Clone, PartialEq)]
pub struct Reschedule {
    pub report: ReportId,
    pub duty: Duty,
    /// Whose duty (every actor's when None: each notified owner's feedback).
    pub actor: Option<Party>,
    pub deadline: Deadline,
    pub next_alert_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fulfilment {
    pub target: Fulfils,
    pub by: ReportId,
    pub at: DateTime<Utc>,
}

/// What an outbox row delivers; its code is what is stored and what AMQP's `x-tongbao-kind` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// The answer to a submission.
    Receipt,
    /// A report forwarded under a duty (or a notice the hub sends for CNCERT).
    Notice,
    /// Something a party must act on now: a regrade, an escalation under Art. 9(四), an appeal.
    Alert,
    Reminder,
    Overdue,
    Escalation,
    SummaryReminder,
    MissingSummaries,
    Digest,
    /// Several non-urgent rows for one address, sent as one message.
    Batch,
    /// A public notice (通告) as CSB approved it (Art. 19–20 [通报办法]), to the units concerned
    /// and copied to every bureau.
    PublicNotice,
    /// A public notice (通告) drafted for CSB's review (Art. 19 [通报办法]): CSB is told it waits;
    /// the notice goes to the units concerned only once a CSB user approves it.
    NoticeDraft,
}

impl OutboxKind {
    pub const ALL: [OutboxKind; 12] = [
        OutboxKind::Receipt,
        OutboxKind::Notice,
        OutboxKind::Alert,
        OutboxKind::Reminder,
        OutboxKind::Overdue,
        OutboxKind::Escalation,
        OutboxKind::SummaryReminder,
        OutboxKind::MissingSummaries,
        OutboxKind::Digest,
        OutboxKind::Batch,
        OutboxKind::PublicNotice,
        OutboxKind::NoticeDraft,
    ];

    pub fn code(self) -> &'static str {
        match self {
            OutboxKind::Receipt => "receipt",
            OutboxKind::Notice => "notice",
            OutboxKind::Alert => "alert",
            OutboxKind::Reminder => "reminder",
            OutboxKind::Overdue => "overdue",
            OutboxKind::Escalation => "escalation",
            OutboxKind::SummaryReminder => "summary_reminder",
            OutboxKind::MissingSummaries => "missing_summaries",
            OutboxKind::Digest => "digest",
            OutboxKind::Batch => "batch",
            OutboxKind::PublicNotice => "public_notice",
            OutboxKind::NoticeDraft => "notice_draft",
        }
    }

    pub fn parse(code: &str) -> Option<OutboxKind> {
        OutboxKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl std::fmt::Display for OutboxKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Who delivers an outbox row: the fan-out (a party, resolved to addresses), or a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxChannel {
    Party,
    Email,
    Amqp,
}

impl OutboxChannel {
    pub fn code(self) -> &'static str {
        match self {
            OutboxChannel::Party => "party",
            OutboxChannel::Email => "email",
            OutboxChannel::Amqp => "amqp",
        }
    }
}

/// A row for the dispatcher: something to deliver to a party or an address.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: OutboxId,
    pub kind: OutboxKind,
    pub channel: OutboxChannel,
    pub recipient: String,
    pub subject_id: String,
    pub urgent: bool,
    /// Shared by the rows of one notice to several parties: a submission of many reports would
    /// otherwise hold a copy of every report's notice for each party until it is stored.
    pub payload: Payload,
    /// A party row's role (`to`, `copy`), added to the payload as it is stored.
    pub role: Option<&'static str>,
}

impl OutboxRow {
    /// The payload as stored: the shared payload with this row's role added.
    pub fn payload_text(&self) -> std::sync::Arc<str> {
        self.payload.text_with_role(self.role)
    }
}

/// An outbox row's payload, kept as its compact JSON text from the moment it is made: a
/// submission of 100,000 reports holds six rows a report until they are stored, and as
/// `serde_json::Value` trees they took about three times the memory of their text.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    text: std::sync::Arc<str>,
    /// The object has a `role` entry of its own, which a row's role replaces.
    has_role: bool,
}

impl Payload {
    pub fn new(value: &serde_json::Value) -> Payload {
        Payload {
            text: serde_json::to_string(value).expect("a serde_json::Value always serialises").into(),
            has_role: value.get("role").is_some(),
        }
    }

    /// The payload as a value, for the few places that read or extend it before it is stored.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).expect("a Payload holds JSON it wrote itself")
    }

    /// Whether two payloads are one shared text (the rows of one notice), not merely equal.
    pub fn same(&self, other: &Payload) -> bool {
        std::sync::Arc::ptr_eq(&self.text, &other.text)
    }

    /// The stored text: as made, or with `role` set in the object (replacing its own).
    pub fn text_with_role(&self, role: Option<&str>) -> std::sync::Arc<str> {
        let Some(role) = role else { return self.text.clone() };
        let role = serde_json::Value::from(role);
        if self.has_role || !self.text.starts_with('{') {
            let mut v = self.value();
            if let Some(o) = v.as_object_mut() {
                o.insert("role".into(), role);
            }
            return serde_json::to_string(&v).expect("a serde_json::Value always serialises").into();
        }
        // `{…}` becomes `{…,"role":…}` without parsing it again.
        let body = &self.text[..self.text.len() - 1];
        let comma = if body.len() > 1 { "," } else { "" };
        format!("{body}{comma}\"role\":{role}}}").into()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub actor: String,
    pub action: &'static str,
    pub subject: String,
    pub detail: serde_json::Value,
}

/// Everything one submission causes, written by the store in one transaction.
#[derive(Debug)]
pub struct Decision {
    pub submission: Submission,
    pub unit: Option<UnitCode>,
    pub receipt: Receipt,
    /// True when an earlier identical submission exists: nothing else is written.
    pub duplicate: bool,
    pub reports: Vec<Report>,
    pub botnets: Vec<BotnetRow>,
    pub obligations: Vec<Obligation>,
    pub fulfilments: Vec<Fulfilment>,
    pub reopens: Vec<Reopen>,
    pub regrades: Vec<Regrade>,
    /// Open duties of regraded reports whose deadlines the new grade brings forward.
    pub reschedules: Vec<Reschedule>,
    pub outbox: Vec<OutboxRow>,
    pub audit: Vec<AuditRow>,
    pub contacts: Option<(UnitCode, Vec<Contact>)>,
    /// A refused submission of the same bytes that this one replaces as the holder of its
    /// dedupe key (the refused one stays stored, under a key of its own).
    pub supersedes: Option<SubmissionId>,
}

/// Whether reading `needs` gives the same context before the rows of `earlier` are written as
/// after them: true when those decisions write nothing such a read looks at. The pipelined
/// writer then reads a batch's context before writing the batch ahead of it, and decides the
/// one while the other is written.
pub fn reads_untouched_by(needs: &Needs, earlier: &[Decision]) -> bool {
    let written = || earlier.iter().filter(|d| !d.duplicate);
    // Contact updates change units and their mail identities.
    if written().any(|d| d.contacts.is_some()) {
        return false;
    }
    // Appeals read obligations, which fulfilments and reopenings change.
    if !needs.obligations.is_empty() {
        return false;
    }
    // Feedbacks and verifications read who owes them, which notices create.
    if !needs.owed_about.is_empty() && written().any(|d| !d.obligations.is_empty()) {
        return false;
    }
    // The botnets of the period, and the reports they belong to.
    if needs.botnet_span.is_some() && written().any(|d| !d.botnets.is_empty()) {
        return false;
    }
    // Earlier receipts by dedupe key.
    let keys: std::collections::HashSet<&str> = needs.dedupe_keys.iter().map(String::as_str).collect();
    if earlier.iter().any(|d| keys.contains(d.submission.dedupe_key.as_str())) {
        return false;
    }
    // Referenced reports: new ones, and regraded ones.
    let refs: std::collections::HashSet<ReportId> = needs.refs.iter().copied().collect();
    !written().any(|d| d.reports.iter().any(|r| refs.contains(&r.id)) || d.regrades.iter().any(|g| refs.contains(&g.report_id)))
}

impl Decision {
    /// A decision that writes nothing yet but its submission and receipt.
    pub fn empty(submission: Submission, unit: Option<UnitCode>, receipt: Receipt, duplicate: bool) -> Decision {
        Decision {
            submission,
            unit,
            receipt,
            duplicate,
            reports: vec![],
            botnets: vec![],
            obligations: vec![],
            fulfilments: vec![],
            reopens: vec![],
            regrades: vec![],
            reschedules: vec![],
            outbox: vec![],
            audit: vec![],
            contacts: None,
            supersedes: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Payload;
    use serde_json::json;

    #[test]
    fn a_rows_role_is_added_to_its_payload_as_stored_and_replaces_the_payloads_own() {
        let stored = |p: &Payload, role| serde_json::from_str::<serde_json::Value>(&p.text_with_role(role)).unwrap();
        let notice = Payload::new(&json!({ "title": "【通报】", "lines": ["a", "b"] }));
        assert_eq!(stored(&notice, Some("copy")), json!({ "title": "【通报】", "lines": ["a", "b"], "role": "copy" }));
        assert_eq!(stored(&notice, None), json!({ "title": "【通报】", "lines": ["a", "b"] }));
        assert_eq!(stored(&Payload::new(&json!({})), Some("to")), json!({ "role": "to" }));
        let own_role = Payload::new(&json!({ "role": "old", "x": 1 }));
        assert_eq!(stored(&own_role, Some("to")), json!({ "role": "to", "x": 1 }));
        // Rows made from one payload share its text; an equal payload made apart does not.
        assert!(notice.same(&notice.clone()));
        assert!(!notice.same(&Payload::new(&notice.value())));
    }
}
