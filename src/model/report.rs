//! Canonical reports: the seven kinds of SPEC §2 with the header every report carries.

use super::{Category, Contact, Domain, Grade, ObligationId, Port, Province, ReportId, Target, UnitCode, WarningLevel, YearMonth};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// 事件信息 (Art. 14 [通报办法])
    Event,
    /// 预警信息 (Art. 15 [通报办法])
    Warning,
    /// 木马和僵尸网络事件 (Art. 8 [僵尸机制])
    BotnetEvent,
    /// 处置反馈 (Art. 9(二) [僵尸机制])
    DisposalFeedback,
    /// 验证结果 (Art. 9(三) [僵尸机制])
    Verification,
    /// 一般事件月度汇总 (Art. 13 [通报办法])
    MonthlyGeneral,
    /// 联系方式变更 (Art. 21 [通报办法])
    ContactUpdate,
    /// 申诉 (Art. 11 [僵尸机制]): reopens the obligation it names.
    Appeal,
}

impl ReportKind {
    pub const ALL: [ReportKind; 8] = [
        ReportKind::Event,
        ReportKind::Warning,
        ReportKind::BotnetEvent,
        ReportKind::DisposalFeedback,
        ReportKind::Verification,
        ReportKind::MonthlyGeneral,
        ReportKind::ContactUpdate,
        ReportKind::Appeal,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ReportKind::Event => "event",
            ReportKind::Warning => "warning",
            ReportKind::BotnetEvent => "botnet_event",
            ReportKind::DisposalFeedback => "disposal_feedback",
            ReportKind::Verification => "verification",
            ReportKind::MonthlyGeneral => "monthly_general",
            ReportKind::ContactUpdate => "contact_update",
            ReportKind::Appeal => "appeal",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ReportKind::Event => "事件信息",
            ReportKind::Warning => "预警信息",
            ReportKind::BotnetEvent => "木马和僵尸网络事件",
            ReportKind::DisposalFeedback => "处置反馈",
            ReportKind::Verification => "验证结果",
            ReportKind::MonthlyGeneral => "一般事件月度汇总",
            ReportKind::ContactUpdate => "联系方式变更",
            ReportKind::Appeal => "申诉",
        }
    }

    pub fn parse(s: &str) -> Option<ReportKind> {
        let s = super::fold_width(s);
        ReportKind::ALL.into_iter().find(|k| s == k.code() || s == k.label_zh())
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A report as stored: who sent it, its header, and its kind-specific content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    pub id: ReportId,
    /// The authenticated reporting unit.
    pub unit: UnitCode,
    /// The grade the reporter declared, kept when the hub raised it (botnet scale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_grade: Option<Grade>,
    #[serde(flatten)]
    pub content: ReportContent,
}

/// A report as a unit submits it (canonical JSON input): `unit` may be omitted, and is checked
/// against the authenticated sender when present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<UnitCode>,
    /// Read off a form without the provinces affected: intake fills in the reporting unit's own
    /// province (and refuses the report for a national unit, which must say).
    #[serde(skip)]
    pub provinces_from_reporter: bool,
    #[serde(flatten)]
    pub content: ReportContent,
}

/// Everything a reporter states: the common header of SPEC §2 and the kind's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportContent {
    /// 发现/获知时间. RFC 3339; a time without offset is read as Asia/Shanghai.
    pub discovered_at: DateTime<Utc>,
    /// 附件一 category; required for events and warnings, `malware` for botnet reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// Grade of an event or botnet event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<Grade>,
    /// Level of a warning, 1 (red) … 4 (blue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<WarningLevel>,
    /// Provinces affected.
    #[serde(default)]
    pub provinces: Vec<Province>,
    /// 跨省（自治区、直辖市）: also reported to CSB when large (Art. 13 [通报办法]).
    #[serde(default)]
    pub cross_province: bool,
    /// The earlier report this one supplements (补报, Art. 16 [通报办法]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows_up: Option<ReportId>,
    /// 终报: the event or warning is over; no further follow-up (补报) is owed after this
    /// report (Art. 16 [通报办法]).
    #[serde(default, rename = "final", skip_serializing_if = "std::ops::Not::not")]
    pub final_report: bool,
    /// 涉嫌犯罪: flagged for referral to the police (Art. 17 [僵尸机制]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspected_crime: bool,
    #[serde(flatten)]
    pub body: ReportBody,
}

impl ReportContent {
    pub fn kind(&self) -> ReportKind {
        self.body.kind()
    }

    /// A one-line title for people: an event's summary or a warning's description, at most
    /// `max` characters; the kind's label for other kinds.
    /// What a notice about this report must carry, as labelled lines in the articles' words:
    /// the six items of Art. 14 for an event and the five of Art. 15 for a warning [通报办法];
    /// every C&C's address, port, discovery time, domains and scale, and the operator, for a
    /// botnet event (Art. 8 [僵尸机制]). Times in Beijing time.
    pub fn particulars_zh(&self) -> Vec<(&'static str, String)> {
        use super::time::local_zh;
        let list = |items: Vec<String>| if items.is_empty() { "无".to_string() } else { items.join("、") };
        match &self.body {
            ReportBody::Event(b) => vec![
                ("事件发生单位概况", b.unit_overview.clone()),
                ("事件发生时间", local_zh(b.occurred_at)),
                ("事件简要经过", b.summary.clone()),
                ("初步估计的危害和影响", b.impact.clone()),
                ("已采取的措施", b.measures.clone()),
                ("其他应当报告的情况", b.other.clone().unwrap_or_else(|| "无".into())),
            ],
            ReportBody::Warning(b) => vec![
                ("信息基本情况描述", b.description.clone()),
                ("可能产生的危害及程度", b.potential_harm.clone()),
                ("可能影响的用户及范围", b.affected_scope.clone()),
                ("截至报送时已知晓该信息的单位/人员范围", b.aware_parties.clone()),
                ("建议应采取的应对措施", b.recommendations.clone()),
            ],
            ReportBody::BotnetEvent(b) => {
                let mut out: Vec<(&'static str, String)> = b
                    .botnets
                    .iter()
                    .map(|n| {
                        (
                            "控制端",
                            format!(
                                "IP {} 端口 {}，发现时间 {}，恶意域名 {}，规模 {} 个受控IP",
                                n.cc_ip,
                                n.port.get(),
                                local_zh(n.discovered_at),
                                list(n.domains.iter().map(|d| d.to_string()).collect()),
                                n.bot_count
                            ),
                        )
                    })
                    .collect();
                out.push(("所属基础电信运营企业", b.operator.clone().unwrap_or_else(|| "未填写".into())));
                out
            }
            ReportBody::DisposalFeedback(b) => vec![
                ("所通报事件的报告编号", b.notice_ref.to_string()),
                ("单位名称", b.unit_name.clone()),
                ("已处置的IP/域名", list(b.disposed.iter().map(|t| t.to_string()).collect())),
                ("未处置的IP/域名及原因", list(b.undisposed.iter().map(|u| format!("{}（{}）", u.target, u.reason)).collect())),
            ],
            ReportBody::Verification(b) => vec![
                ("所通报事件的报告编号", b.notice_ref.to_string()),
                (
                    "验证结果",
                    list(
                        b.results
                            .iter()
                            .map(|r| format!("{}：{}", r.target, if r.still_malicious { "仍存在恶意连接" } else { "已无恶意连接" }))
                            .collect(),
                    ),
                ),
            ],
            ReportBody::MonthlyGeneral(b) => vec![("汇总月份", b.month.to_string()), ("一般事件数", b.events.len().to_string())],
            ReportBody::ContactUpdate(b) => {
                vec![("联系人", list(b.contacts.iter().map(|c| format!("{}（{}）", c.name, c.role.label_zh())).collect()))]
            }
            ReportBody::Appeal(b) => vec![("所申诉的义务编号", b.obligation.to_string()), ("申诉理由", b.reason.clone())],
        }
    }

    pub fn headline(&self, max: usize) -> String {
        match &self.body {
            ReportBody::Event(b) => b.summary.chars().take(max).collect(),
            ReportBody::Warning(b) => b.description.chars().take(max).collect(),
            _ => self.kind().label_zh().to_string(),
        }
    }
}

/// The kind-specific content, written `"kind": "...", "content": {...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", content = "content", rename_all = "snake_case")]
pub enum ReportBody {
    Event(EventBody),
    Warning(WarningBody),
    BotnetEvent(BotnetBody),
    DisposalFeedback(DisposalFeedbackBody),
    Verification(VerificationBody),
    MonthlyGeneral(MonthlyGeneralBody),
    ContactUpdate(ContactUpdateBody),
    Appeal(AppealBody),
}

impl ReportBody {
    pub fn kind(&self) -> ReportKind {
        match self {
            ReportBody::Event(_) => ReportKind::Event,
            ReportBody::Warning(_) => ReportKind::Warning,
            ReportBody::BotnetEvent(_) => ReportKind::BotnetEvent,
            ReportBody::DisposalFeedback(_) => ReportKind::DisposalFeedback,
            ReportBody::Verification(_) => ReportKind::Verification,
            ReportBody::MonthlyGeneral(_) => ReportKind::MonthlyGeneral,
            ReportBody::ContactUpdate(_) => ReportKind::ContactUpdate,
            ReportBody::Appeal(_) => ReportKind::Appeal,
        }
    }
}

/// 事件信息 (Art. 14 [通报办法]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventBody {
    /// 事件发生单位概况
    pub unit_overview: String,
    /// 事件发生时间
    pub occurred_at: DateTime<Utc>,
    /// 事件简要经过
    pub summary: String,
    /// 初步估计的危害和影响
    pub impact: String,
    /// 已采取的措施
    pub measures: String,
    /// 其他应当报告的情况
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
}

/// 预警信息 (Art. 15 [通报办法]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WarningBody {
    /// 信息基本情况描述
    pub description: String,
    /// 可能产生的危害及程度
    pub potential_harm: String,
    /// 可能影响的用户及范围
    pub affected_scope: String,
    /// 截至信息报送时，已知晓该信息的单位/人员范围
    pub aware_parties: String,
    /// 建议应采取的应对措施及建议
    pub recommendations: String,
}

/// 木马和僵尸网络事件 (Art. 8 [僵尸机制]): one entry per command-and-control endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BotnetBody {
    pub botnets: Vec<Botnet>,
    /// 所属基础电信运营企业 (name or unit code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Botnet {
    /// 控制端 IP 地址
    pub cc_ip: IpAddr,
    /// 控制端端口
    pub port: Port,
    /// 发现时间
    pub discovered_at: DateTime<Utc>,
    /// 使用的恶意域名
    #[serde(default)]
    pub domains: Vec<Domain>,
    /// 规模：受控 IP 地址数. When `bot_ips` is given too, the larger of the two counts.
    pub bot_count: u64,
    /// 受控 IP 地址列表 (optional).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bot_ips: Vec<IpAddr>,
}

/// 处置反馈 (Art. 9(二) [僵尸机制]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DisposalFeedbackBody {
    /// The botnet event report the notice was about.
    pub notice_ref: ReportId,
    /// 单位名称
    pub unit_name: String,
    /// 已处置的 IP 地址和恶意域名
    #[serde(default)]
    pub disposed: Vec<Target>,
    /// 未处置的 IP 地址和恶意域名及原因
    #[serde(default)]
    pub undisposed: Vec<Undisposed>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Undisposed {
    pub target: Target,
    /// 未处置的原因 (required).
    pub reason: String,
    /// The disposing unit says the target's user runs an important information system (Art. 9(四)).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub important: bool,
}

/// 验证结果 (Art. 9(三) [僵尸机制]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VerificationBody {
    pub notice_ref: ReportId,
    pub results: Vec<VerificationResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VerificationResult {
    pub target: Target,
    /// 经验证仍存在恶意连接
    pub still_malicious: bool,
}

/// 一般事件月度汇总 (Art. 13 [通报办法]); an empty `events` list means "no events this month".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MonthlyGeneralBody {
    pub month: YearMonth,
    #[serde(default)]
    pub events: Vec<GeneralEventSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GeneralEventSummary {
    pub occurred_at: DateTime<Utc>,
    pub category: Category,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<String>,
}

/// 联系方式变更 (Art. 21 [通报办法]); `discovered_at` is when the change took effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContactUpdateBody {
    pub contacts: Vec<Contact>,
}

/// 申诉 (Art. 11 [僵尸机制]): a unit disputes how an obligation was closed (a disposal, a
/// verification) and asks for it to be done again. `discovered_at` is when the dispute arose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AppealBody {
    /// The closed obligation to reopen (its id, as receipts and notices show it).
    pub obligation: ObligationId,
    /// 申诉理由
    pub reason: String,
    /// IP addresses or domains the dispute is about, if it is narrower than the obligation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
}
