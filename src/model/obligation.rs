//! Obligations: a party must do something for someone by a time, under a named article.

use super::{ObligationId, Party, ReportId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What must be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Duty {
    /// The reporter sends the report (Art. 13 [通报办法], Art. 8(二) [僵尸机制]).
    Report,
    /// The written, sealed report after a phoned one (Art. 18 [通报办法]).
    WrittenReport,
    /// 补报 when an urgent report has had no follow-up (Art. 16 [通报办法]); a reminder, not a deadline.
    FollowUp,
    /// The month's general events in one summary (Art. 13 ¶3 [通报办法]).
    MonthlySummary,
    /// CNCERT's summary of the month to CSB, units and all bureaus (Art. 19 ¶2 [通报办法]).
    MonthlyDigest,
    /// Report a change of contacts (Art. 21 [通报办法]).
    ContactUpdate,
    /// CNCERT reports a botnet event to CSB (Art. 8(三) [僵尸机制]).
    CncertReport,
    /// CNCERT notifies the units concerned of a general botnet event (Art. 8(三) [僵尸机制]).
    CncertNotify,
    /// The notified operator or registry feeds back the disposal (Art. 9(二) [僵尸机制]).
    DisposalFeedback,
    /// The monitoring party verifies the disposal (Art. 9(三) [僵尸机制]).
    Verification,
    /// CNCERT reports the disposal result to CSB and the bureaus (Art. 9(五) [僵尸机制]).
    DisposalResult,
    /// CNCERT refers an event suspected to be a crime to the public security authority (Art. 17 [僵尸机制]).
    CrimeReferral,
    /// The unit that disposed, and CNCERT, answer a user's appeal of a disposal (Art. 11 [僵尸机制]).
    AnswerUserAppeal,
    /// CNCERT tracks and analyses a warning it received, and reports what is important to CSB
    /// (Art. 16¶2 [通报办法]); a reminder, not a deadline: the article says "立即" and sets no time.
    TrackWarning,
}

impl Duty {
    pub fn code(self) -> &'static str {
        match self {
            Duty::Report => "report",
            Duty::WrittenReport => "written_report",
            Duty::FollowUp => "follow_up",
            Duty::MonthlySummary => "monthly_summary",
            Duty::MonthlyDigest => "monthly_digest",
            Duty::ContactUpdate => "contact_update",
            Duty::CncertReport => "cncert_report",
            Duty::CncertNotify => "cncert_notify",
            Duty::DisposalFeedback => "disposal_feedback",
            Duty::Verification => "verification",
            Duty::DisposalResult => "disposal_result",
            Duty::CrimeReferral => "crime_referral",
            Duty::AnswerUserAppeal => "answer_user_appeal",
            Duty::TrackWarning => "track_warning",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Duty::Report => "报送",
            Duty::WrittenReport => "补交书面报告",
            Duty::FollowUp => "补报新情况",
            Duty::MonthlySummary => "报送一般事件月度汇总",
            Duty::MonthlyDigest => "月度汇总通报",
            Duty::ContactUpdate => "报送联系方式变更",
            Duty::CncertReport => "向通信保障局报告",
            Duty::CncertNotify => "通报相关单位",
            Duty::DisposalFeedback => "反馈处置情况",
            Duty::Verification => "反馈验证结果",
            Duty::DisposalResult => "反馈处置结果",
            Duty::CrimeReferral => "报请公安机关调查处理",
            Duty::AnswerUserAppeal => "答复用户申诉",
            Duty::TrackWarning => "跟踪分析预警信息",
        }
    }

    pub const ALL: [Duty; 14] = [
        Duty::Report,
        Duty::WrittenReport,
        Duty::FollowUp,
        Duty::MonthlySummary,
        Duty::MonthlyDigest,
        Duty::ContactUpdate,
        Duty::CncertReport,
        Duty::CncertNotify,
        Duty::DisposalFeedback,
        Duty::Verification,
        Duty::DisposalResult,
        Duty::CrimeReferral,
        Duty::AnswerUserAppeal,
        Duty::TrackWarning,
    ];

    pub fn parse(s: &str) -> Option<Duty> {
        Duty::ALL.into_iter().find(|d| d.code() == s)
    }
}

impl fmt::Display for Duty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How a due time is computed from its trigger, kept so a provisional deadline can be recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "rule", content = "n", rename_all = "snake_case")]
pub enum DeadlineRule {
    /// Trigger + N elapsed hours (holidays do not stop the clock).
    Hours(u32),
    /// End (24:00) of the N-th working day strictly after the trigger's calendar day.
    WorkdaysAfter(u32),
    /// End of the N-th working day of the month after the trigger's month.
    NthWorkdayOfNextMonth(u32),
}

impl DeadlineRule {
    pub fn code(self) -> String {
        match self {
            DeadlineRule::Hours(n) => format!("hours:{n}"),
            DeadlineRule::WorkdaysAfter(n) => format!("workdays_after:{n}"),
            DeadlineRule::NthWorkdayOfNextMonth(n) => format!("nth_workday_next_month:{n}"),
        }
    }

    pub fn parse(s: &str) -> Option<DeadlineRule> {
        let (kind, n) = s.split_once(':')?;
        let n = n.parse().ok()?;
        match kind {
            "hours" => Some(DeadlineRule::Hours(n)),
            "workdays_after" => Some(DeadlineRule::WorkdaysAfter(n)),
            "nth_workday_next_month" => Some(DeadlineRule::NthWorkdayOfNextMonth(n)),
            _ => None,
        }
    }

    pub fn describe_zh(self) -> String {
        match self {
            DeadlineRule::Hours(n) => format!("{n}小时内"),
            DeadlineRule::WorkdaysAfter(n) => format!("{n}个工作日内"),
            DeadlineRule::NthWorkdayOfNextMonth(n) => format!("次月{n}个工作日内"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Deadline {
    pub rule: DeadlineRule,
    pub trigger_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// Computed on Mon–Fri because the year has no holiday data yet; recomputed when it arrives.
    pub provisional: bool,
}

/// The article an obligation comes from: a stable code and the citation people read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Basis {
    /// e.g. `tongbao-13.1` (通报办法 Art. 13 ¶1), `botnet-9.2` (僵尸机制 Art. 9(二)).
    pub code: String,
    pub citation_zh: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObligationStatus {
    Open,
    /// Done on time.
    Met,
    /// Done, after the due time (迟报).
    Late,
    /// Never done (漏报); set by the scheduler after the due time.
    Missed,
}

impl ObligationStatus {
    pub fn code(self) -> &'static str {
        match self {
            ObligationStatus::Open => "open",
            ObligationStatus::Met => "met",
            ObligationStatus::Late => "late",
            ObligationStatus::Missed => "missed",
        }
    }
    pub fn parse(s: &str) -> Option<ObligationStatus> {
        [ObligationStatus::Open, ObligationStatus::Met, ObligationStatus::Late, ObligationStatus::Missed]
            .into_iter()
            .find(|x| x.code() == s)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            ObligationStatus::Open => "待办",
            ObligationStatus::Met => "已按时完成",
            ObligationStatus::Late => "迟报",
            ObligationStatus::Missed => "漏报",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Obligation {
    pub id: ObligationId,
    /// Set for obligations that exist once per party and period (the monthly summary), so that
    /// many reports create it once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The report that gave rise to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<ReportId>,
    pub duty: Duty,
    pub actor: Party,
    pub to: Vec<Party>,
    #[serde(default)]
    pub copy: Vec<Party>,
    pub deadline: Deadline,
    pub basis: Basis,
    /// False for reminders the regulations ask "promptly" (及时) without a time.
    pub binding: bool,
    pub status: ObligationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met_by: Option<ReportId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met_at: Option<DateTime<Utc>>,
    /// When the scheduler next looks at it while it is open: its reminder, then its due time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_alert_at: Option<DateTime<Utc>>,
}
