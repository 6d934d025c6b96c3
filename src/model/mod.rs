//! Canonical types of the hub: every report, unit, submission, obligation and receipt, whatever channel it came from.
//!
//! Newtypes here have private fields and are built only by parsing (`FromStr` / `parse`),
//! so the core never sees an unchecked string.

pub mod appeal;
pub mod category;
pub mod grade;
pub mod ids;
pub mod obligation;
pub mod party;
pub mod receipt;
pub mod region;
pub mod report;
pub mod submission;
pub mod time;
pub mod unit;
pub mod user;

pub use appeal::UserAppeal;
pub use category::Category;
pub use grade::{Grade, Severity, WarningLevel};
pub use ids::{AppealId, Domain, Email, ObligationId, OutboxId, Port, ReportId, SubmissionId, Target, UnitCode, YearMonth};
pub use obligation::{Basis, Deadline, DeadlineRule, Duty, Obligation, ObligationStatus};
pub use party::Party;
pub use receipt::{AcceptedReport, ErrorCode, IntakeError, Note, Outcome, Receipt, Regrade};
pub use region::{Province, Region};
pub use report::{Botnet, Report, ReportBody, ReportKind};
pub use submission::{Channel, Submission};
pub use unit::{Contact, ContactRole, Unit, UnitSet, UnitType};
pub use user::{Role, User, UserName};

/// A value that failed to parse into one of the canonical newtypes.
///
/// `expected` is Chinese text shown to the sender; `code` is the stable English code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: expected {expected}, found {found:?}")]
pub struct ParseError {
    pub code: receipt::ErrorCode,
    pub expected: String,
    pub found: String,
}

impl ParseError {
    pub fn new(code: receipt::ErrorCode, expected: impl Into<String>, found: impl Into<String>) -> Self {
        ParseError { code, expected: expected.into(), found: found.into() }
    }
}

/// Normalise what people type: trims, folds full-width ASCII (ＡＢＣ１２３，) to half-width
/// and the ideographic space to a plain one.
pub fn fold_width(s: &str) -> String {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}')
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect()
}

/// A count as people write it: `12000`, `12,000`, `１２，０００`, `8万`, `1.2万`, `约8万个`, `3亿`.
/// None when it is no whole non-negative number (`1.25` of anything but 万/亿 scale, text).
pub fn parse_count(input: &str) -> Option<i64> {
    let s = fold_width(input).replace([',', '，', ' ', '\u{a0}'], "");
    let s = ["约", "近", "超过", "逾"].iter().fold(s.as_str(), |s, p| s.strip_prefix(p).unwrap_or(s));
    let s = s.trim_end_matches(['+', '个', '台', '条', '余', '多', '次']).trim_end_matches("IP").trim_end_matches("ip");
    let (digits, scale) = if let Some(d) = s.strip_suffix('万').or_else(|| s.strip_suffix(['w', 'W'])) {
        (d, 10_000.0)
    } else if let Some(d) = s.strip_suffix('千').or_else(|| s.strip_suffix(['k', 'K'])) {
        (d, 1_000.0)
    } else if let Some(d) = s.strip_suffix('亿') {
        (d, 100_000_000.0)
    } else {
        return s.parse::<i64>().ok().filter(|n| *n >= 0);
    };
    let n: f64 = digits.parse().ok()?;
    let v = (n * scale).round();
    (n.is_finite() && n >= 0.0 && v < 9.0e15 && (n * scale - v).abs() < 1e-6).then_some(v as i64)
}

/// Implements `Serialize`, `Deserialize` (through `FromStr`) and a string `JsonSchema` for a type
/// that displays as its canonical string.
macro_rules! string_serde {
    ($ty:ty, $name:literal, $desc:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "description": $desc })
            }
        }
    };
}
pub(crate) use string_serde;

/// Whether a character ends a line or turns text around where one line of a name is shown
/// (mail headers, pages, lists): control characters, U+2028/U+2029 and the bidirectional
/// embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
pub fn breaks_a_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}
