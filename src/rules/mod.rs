//! Pure regulation engine: working-day calendar, grading, obligations and routing. No I/O, no clock.
//!
//! Every function here is a function of its arguments; "now" is always passed in.

pub mod botnet;
pub mod calendar;
pub mod holiday_notice;
pub mod holidays;
pub mod obligations;
pub mod ownership;
pub mod reminders;

pub use botnet::{BotSet, BotnetThresholds};
pub use calendar::Calendar;
pub use obligations::{ObligationDraft, Policy, ReportFacts, Reporter};
pub use reminders::Leads;

/// Article 10 [僵尸机制]: data are kept 60 days; the hub refuses to keep less.
pub const MIN_RETENTION_DAYS: u32 = 60;
