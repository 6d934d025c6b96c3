//! Receipts (回执) and intake errors: what the sender is told, with stable error codes.

use super::{Duty, Grade, Obligation, ObligationId, ObligationStatus, Party, ReportId, ReportKind, SubmissionId, WarningLevel};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Stable English codes for every way an input can be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotJson,
    NotObject,
    MissingField,
    WrongType,
    UnknownField,
    UnknownKind,
    EmptyText,
    BadTime,
    BadGrade,
    BadLevel,
    BadCategory,
    BadProvince,
    BadUnitCode,
    BadUnitType,
    BadId,
    BadPort,
    BadIp,
    BadDomain,
    BadTarget,
    BadEmail,
    BadMonth,
    BadParty,
    /// A grade on a warning, a level on an event, and similar.
    NotApplicable,
    /// A reason is required for every undisposed IP or domain (Art. 9(二) [僵尸机制]).
    MissingReason,
    /// The sender is no registered unit.
    UnknownSender,
    /// The report names another unit than the authenticated sender.
    ForeignUnit,
    /// `follows_up` or `notice_ref` names no report this unit may refer to.
    UnknownReference,
    /// The submission claims what is another unit's: a contact e-mail address registered to it.
    NotYours,
    /// An appeal names an obligation that is still open: there is nothing to reopen.
    NotReopenable,
    /// A spreadsheet cell holds a formula with no computed value (made by a program that does not compute).
    UncomputedFormula,
    TooLarge,
    TooMany,
    EmptyBatch,
    /// A mail carries no attachment that is a form (xlsx, xls, xlsm, ods, csv, json, or a zip of them).
    NoForm,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(v.as_str().unwrap_or_default())
    }
}

/// One refusal: where (JSON pointer, sheet!cell, MIME part), what was found and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IntakeError {
    pub code: ErrorCode,
    /// Where in the submission: a JSON pointer (`/0/content/summary`), `sheet!D7`, or a MIME part.
    pub place: String,
    /// What was expected, in Chinese.
    pub expected: String,
    /// What was found (truncated), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// The whole message, in Chinese.
    pub message: String,
}

impl IntakeError {
    pub fn new(code: ErrorCode, place: impl Into<String>, expected: impl Into<String>, found: Option<String>) -> IntakeError {
        let place = place.into();
        let expected = expected.into();
        let found = found.map(|f| truncate(&f, 80));
        let at = if place.is_empty() { "（整体）".to_string() } else { place.clone() };
        let message = match &found {
            Some(f) => format!("{at}：应为{expected}，实际为“{f}”"),
            None => format!("{at}：应为{expected}"),
        };
        IntakeError { code, place, expected, found, message }
    }

    /// The same error placed inside a container, e.g. a mail attachment: `附件.xlsx › 事件表!B7`.
    pub fn within(self, container: &str) -> IntakeError {
        // A place that is the container itself (a form's refusal of the whole file) is not named twice.
        let place = if self.place.is_empty() || self.place == container {
            container.to_string()
        } else {
            format!("{container} › {}", self.place)
        };
        // The message keeps what its maker said after the place (a form names the column: `事件表!D5（事件分级）：…`).
        let rest = (!self.place.is_empty()).then(|| self.message.strip_prefix(self.place.as_str()).map(str::to_string)).flatten();
        let mut e = IntakeError::new(self.code, place, self.expected, self.found);
        if let Some(rest) = rest {
            e.message = format!("{}{rest}", e.place);
        }
        e
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars { s.to_string() } else { s.chars().take(max_chars).chain("…".chars()).collect() }
}

/// Something the hub left out of a submission without refusing it (a column it does not know,
/// a sheet without a form), said so that nothing is dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Note {
    /// Where: `sheet!A3` for a column's header, a sheet's name, or a mail attachment.
    pub place: String,
    /// What was left out and why, in Chinese.
    pub message: String,
}

impl Note {
    pub fn new(place: &str, message: String) -> Note {
        Note { place: place.to_string(), message }
    }

    /// The same note inside a container, e.g. a mail attachment.
    pub fn within(self, container: &str) -> Note {
        Note { place: format!("{container} › {}", self.place), message: self.message }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    PartlyAccepted,
    Rejected,
}

impl Outcome {
    pub fn of(accepted: usize, rejected: usize) -> Outcome {
        match (accepted, rejected) {
            (_, 0) if accepted > 0 => Outcome::Accepted,
            (0, _) => Outcome::Rejected,
            _ => Outcome::PartlyAccepted,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::PartlyAccepted => "partly_accepted",
            Outcome::Rejected => "rejected",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Outcome::Accepted => "已受理",
            Outcome::PartlyAccepted => "部分受理",
            Outcome::Rejected => "未受理",
        }
    }
}

/// An obligation as the receipt shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ObligationSummary {
    pub id: ObligationId,
    pub duty: Duty,
    pub actor: Party,
    pub to: Vec<Party>,
    pub copy: Vec<Party>,
    pub due_at: DateTime<Utc>,
    pub provisional: bool,
    pub status: ObligationStatus,
    pub basis: String,
}

impl ObligationSummary {
    /// How the receipt shows `o`, with the status the sender should read (a keyed duty this
    /// report meets is shown met before the store fulfils it by key).
    pub fn of(o: &Obligation, status: ObligationStatus) -> ObligationSummary {
        ObligationSummary {
            id: o.id,
            duty: o.duty,
            actor: o.actor.clone(),
            to: o.to.clone(),
            copy: o.copy.clone(),
            due_at: o.deadline.due_at,
            provisional: o.deadline.provisional,
            status,
            basis: o.basis.citation_zh.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AcceptedReport {
    /// Position in the submission (0 for a single report).
    pub index: usize,
    /// Where in the submission it came from: a form's row(s) (`事件表!第4行`) or a JSON pointer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub report_id: ReportId,
    pub kind: ReportKind,
    /// For a botnet event, each C&C as `address:port`, so the sender can tell its reports apart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<Grade>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<WarningLevel>,
    /// Why the grade differs from the one declared, in Chinese.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade_note: Option<String>,
    /// The subsidiary a group company submitted this report for (代报), which it is attributed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_unit: Option<super::UnitCode>,
    pub obligations: Vec<ObligationSummary>,
}

/// An earlier report regraded because this submission pushed the botnet aggregate over a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Regrade {
    pub report_id: ReportId,
    pub from: Grade,
    pub to: Grade,
    pub at: DateTime<Utc>,
}

/// 回执: the answer to one submission, stored with it and given again on redelivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Receipt {
    pub submission_id: SubmissionId,
    pub received_at: DateTime<Utc>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<super::UnitCode>,
    pub reports: Vec<AcceptedReport>,
    pub errors: Vec<IntakeError>,
    /// What was left out without refusing anything: unknown columns, sheets without a form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regraded: Vec<Regrade>,
    /// True when this is the stored receipt of an earlier, identical submission.
    #[serde(default)]
    pub duplicate: bool,
    /// For a submission of more reports or errors than a receipt lists: how many there were in
    /// all, and the reports by grade; `reports` and `errors` then hold only the first ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ReceiptSummary>,
}

/// The whole of a large submission, when its receipt lists only the first reports and errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReceiptSummary {
    pub reports: usize,
    pub errors: usize,
    /// Reports by grade or warning level code (`general`, `large`, `4`…; `none` for kinds with neither).
    pub by_grade: std::collections::BTreeMap<String, usize>,
}

impl Receipt {
    /// Reports and errors a receipt lists; a larger submission is summarised.
    pub const MAX_LISTED: usize = 200;

    /// Keeps the first `MAX_LISTED` reports and errors and counts the whole, so a form of
    /// 100,000 rows gets a receipt of kilobytes, not of a hundred megabytes.
    pub fn summarise_if_large(&mut self) {
        if self.reports.len() <= Self::MAX_LISTED && self.errors.len() <= Self::MAX_LISTED {
            return;
        }
        let mut by_grade = std::collections::BTreeMap::new();
        for r in &self.reports {
            let key = match (r.grade, r.level) {
                (Some(g), _) => g.code().to_string(),
                (None, Some(l)) => l.to_string(),
                (None, None) => "none".to_string(),
            };
            *by_grade.entry(key).or_insert(0) += 1;
        }
        self.summary = Some(ReceiptSummary { reports: self.reports.len(), errors: self.errors.len(), by_grade });
        self.reports.truncate(Self::MAX_LISTED);
        self.errors.truncate(Self::MAX_LISTED);
    }
}
