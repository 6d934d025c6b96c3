//! The monthly digest (Art. 19–20 [通报办法]): statistics by grade, category, unit and province, the month-on-month trend, typical cases, the botnet disposal rate and late or missing reports by unit.
//!
//! `build` is pure: it turns what the store counted for this month and the month before into
//! a `Digest`, which is what the outbox row carries and what the mail, the chart and the
//! workbook are made from, so every copy of one digest says the same thing.

pub mod chart;
pub mod workbook;

use crate::model::report::ReportBody;
use crate::model::{Category, Grade, Party, Province, Unit, WarningLevel, YearMonth};
use crate::rules::calendar::local_display;
use crate::store::jobs::{MonthFacts, Tally};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One line of a table: a label, this month's count and last month's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub label: String,
    pub count: u64,
    pub previous: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub report_id: String,
    pub unit: String,
    pub kind: String,
    pub severity: String,
    pub title: String,
    pub provinces: String,
    pub discovered_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Disposal {
    /// Disposal-feedback duties created this month (one per notified unit and event).
    pub notified: u64,
    pub on_time: u64,
    pub late: u64,
    pub missed: u64,
    pub open: u64,
    /// Share of notified duties fed back, in percent; `None` when nothing was notified.
    pub feedback_rate: Option<f64>,
    pub targets_disposed: u64,
    pub targets_undisposed: u64,
    /// Share of IPs and domains reported disposed, in percent.
    pub disposal_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lateness {
    pub party: String,
    pub label: String,
    pub late: u64,
    pub missed: u64,
    pub on_time: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub month: String,
    pub previous_month: String,
    pub total: u64,
    pub previous_total: u64,
    /// Month-on-month change of the total, in percent (`None` when last month had none, or this
    /// month is not over: a part of a month is not compared with a whole one).
    pub change: Option<f64>,
    /// When the month is not over yet: the Beijing time its counts run to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress_as_of: Option<String>,
    /// One sentence on the trend (态势), in Chinese.
    pub trend: String,
    pub by_kind: Vec<Line>,
    pub by_grade: Vec<Line>,
    pub by_category: Vec<Line>,
    pub by_unit: Vec<Line>,
    pub by_province: Vec<Line>,
    pub typical: Vec<Case>,
    pub disposal: Disposal,
    pub lateness: Vec<Lateness>,
    /// Monthly summaries of earlier months that came after their digest and are counted in
    /// this one: "单位（代码）2026-08 月度汇总，一般事件 3 起".
    #[serde(default)]
    pub late_summaries: Vec<String>,
    /// The units this month's figures concern (向相关单位通告, Art. 19¶2 [通报办法]): those whose
    /// reports are counted or whose duties fell due in it. Each gets its own copy (`for_unit`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub concerned: Vec<String>,
    /// Set on a unit's copy: the unit it was made for.
    #[serde(default)]
    pub for_unit: Option<String>,
}

impl Digest {
    /// The copy a unit concerned receives: the month's whole picture (totals, grades,
    /// categories, provinces, the trend, the disposal rate) and, of what names units, only its
    /// own line and its own lateness; typical cases of others keep their substance, not the
    /// reporter (a unit sees only its own data).
    pub fn for_unit(&self, code: &str) -> Digest {
        let own = |label: &str| label.ends_with(&format!("（{code}）"));
        let mut d = self.clone();
        d.by_unit.retain(|l| own(&l.label));
        d.lateness.retain(|l| l.party == format!("unit:{code}"));
        d.late_summaries.retain(|l| l.contains(&format!("（{code}）")));
        for c in &mut d.typical {
            if !own(&c.unit) {
                c.unit = "（其他单位）".into();
                c.report_id = String::new();
            }
        }
        d.concerned = Vec::new();
        d.for_unit = Some(code.to_string());
        d
    }
}

fn lines(cur: &BTreeMap<String, u64>, prev: &BTreeMap<String, u64>, label: impl Fn(&str) -> String) -> Vec<Line> {
    let mut keys: Vec<&String> = cur.keys().chain(prev.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out: Vec<Line> = keys
        .into_iter()
        .map(|k| Line { label: label(k), count: cur.get(k).copied().unwrap_or(0), previous: prev.get(k).copied().unwrap_or(0) })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(b.previous.cmp(&a.previous)).then(a.label.cmp(&b.label)));
    out
}

fn map(t: &[Tally]) -> BTreeMap<String, u64> {
    t.iter().map(|t| (t.key.clone(), t.count)).collect()
}

fn provinces(t: &[Tally]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for t in t {
        if t.key.trim().is_empty() {
            *m.entry(String::new()).or_default() += t.count;
        }
        for p in t.key.split_whitespace() {
            *m.entry(p.to_string()).or_default() += t.count;
        }
    }
    m
}

fn severity_label(kind: &str, sev: &str) -> String {
    if let Ok(g) = Grade::parse(sev) {
        return format!("{}（{}）", g.label_zh(), if kind == "botnet_event" { "木马和僵尸网络" } else { "事件" });
    }
    match sev.strip_prefix("level").and_then(|n| n.parse::<i64>().ok()).and_then(WarningLevel::from_number) {
        Some(l) => format!("{}预警", l.label_zh()),
        None => "未分级".into(),
    }
}

fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// The digest of `month` from what the store counted for it and for the month before.
/// `as_of` is when the counts were taken if the month is not over then: the digest says so and
/// compares nothing.
pub fn build(month: YearMonth, cur: &MonthFacts, prev: &MonthFacts, units: &[Unit], as_of: Option<DateTime<Utc>>) -> Digest {
    let unit_label = |code: &str| match units.iter().find(|u| u.code.as_str() == code) {
        Some(u) => format!("{}（{}）", u.name, u.code),
        None => code.to_string(),
    };
    let kinds = |f: &MonthFacts| {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for (k, _, n) in &f.by_kind_severity {
            *m.entry(k.clone()).or_default() += n;
        }
        m
    };
    let grades = |f: &MonthFacts| {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for (k, s, n) in f.by_kind_severity.iter().filter(|(k, ..)| matches!(k.as_str(), "event" | "warning" | "botnet_event")) {
            *m.entry(format!("{k} {s}")).or_default() += n;
        }
        m
    };
    let (kc, kp) = (kinds(cur), kinds(prev));
    let total: u64 = cur.by_kind_severity.iter().map(|x| x.2).sum();
    let previous_total: u64 = prev.by_kind_severity.iter().map(|x| x.2).sum();
    let change = (previous_total > 0 && as_of.is_none())
        .then(|| ((total as f64 - previous_total as f64) * 1000.0 / previous_total as f64).round() / 10.0);
    let in_progress_as_of = as_of.map(crate::rules::calendar::local_display);
    let incidents = |f: &MonthFacts| {
        f.by_kind_severity.iter().filter(|(k, ..)| k != "monthly_general" && k != "contact_update").map(|x| x.2).sum::<u64>()
    };
    let trend = match change {
        None if as_of.is_some() => format!(
            "本月尚未结束（统计截至 {}），暂不与上月比较：本月至今共收到报告 {total} 份，上月全月 {previous_total} 份。",
            in_progress_as_of.as_deref().unwrap_or_default()
        ),
        None if total == 0 => "本月及上月均无报送。".to_string(),
        None => format!("本月共收到报告 {total} 份，上月无报送。"),
        Some(c) if c > 0.0 => format!("本月共收到报告 {total} 份，较上月（{previous_total} 份）上升 {c}%。"),
        Some(c) if c < 0.0 => format!("本月共收到报告 {total} 份，较上月（{previous_total} 份）下降 {}%。", -c),
        Some(_) => format!("本月共收到报告 {total} 份，与上月持平。"),
    } + &format!("其中事件、预警和木马僵尸网络报告 {} 份（上月 {} 份）。", incidents(cur), incidents(prev));

    let mut disposal = Disposal::default();
    for t in &cur.disposal {
        disposal.notified += t.count;
        match t.key.as_str() {
            "met" => disposal.on_time += t.count,
            "late" => disposal.late += t.count,
            "missed" => disposal.missed += t.count,
            _ => disposal.open += t.count,
        }
    }
    disposal.feedback_rate = pct(disposal.on_time + disposal.late, disposal.notified);
    disposal.targets_disposed = cur.targets_disposed;
    disposal.targets_undisposed = cur.targets_undisposed;
    disposal.disposal_rate = pct(cur.targets_disposed, cur.targets_disposed + cur.targets_undisposed);

    let mut late: BTreeMap<String, Lateness> = BTreeMap::new();
    for (actor, _duty, status, n) in &cur.obligations {
        let label = match actor.parse::<Party>() {
            Ok(Party::Unit(code)) => unit_label(code.as_str()),
            Ok(p) => p.label_zh(),
            Err(_) => actor.clone(),
        };
        let e = late.entry(actor.clone()).or_insert_with(|| Lateness { party: actor.clone(), label, late: 0, missed: 0, on_time: 0 });
        match status.as_str() {
            "late" => e.late += n,
            "missed" | "open" => e.missed += n,
            _ => e.on_time += n,
        }
    }
    let mut concerned: Vec<String> = cur
        .by_unit
        .iter()
        .map(|t| t.key.clone())
        .chain(cur.obligations.iter().filter_map(|(actor, ..)| actor.strip_prefix("unit:").map(str::to_string)))
        .chain(cur.late_summaries.iter().map(|(unit, ..)| unit.clone()))
        .filter(|code| units.iter().any(|u| u.code.as_str() == code && !u.unit_type.is_authority()))
        .collect();
    concerned.sort();
    concerned.dedup();
    let mut lateness: Vec<Lateness> = late.into_values().filter(|l| l.late + l.missed > 0).collect();
    lateness.sort_by(|a, b| (b.missed + b.late).cmp(&(a.missed + a.late)).then(a.label.cmp(&b.label)));

    Digest {
        month: month.to_string(),
        previous_month: month.previous().to_string(),
        total,
        previous_total,
        in_progress_as_of,
        change,
        trend,
        by_kind: lines(&kc, &kp, |k| crate::model::ReportKind::parse(k).map(|k| k.label_zh().to_string()).unwrap_or_else(|| k.to_string())),
        by_grade: lines(&grades(cur), &grades(prev), |k| {
            let (kind, sev) = k.split_once(' ').unwrap_or((k, ""));
            severity_label(kind, sev)
        }),
        by_category: lines(&map(&cur.by_category), &map(&prev.by_category), |k| {
            Category::parse(k)
                .map(|c| c.label_zh().to_string())
                .unwrap_or_else(|_| if k.is_empty() { "未分类".into() } else { k.to_string() })
        }),
        by_unit: lines(&map(&cur.by_unit), &map(&prev.by_unit), unit_label),
        by_province: lines(&provinces(&cur.by_provinces), &provinces(&prev.by_provinces), |k| {
            Province::parse(k).map(|p| p.short_zh().to_string()).unwrap_or_else(|_| "全国/未注明".into())
        }),
        typical: cur.typical.iter().map(|r| case(r, &unit_label)).collect(),
        disposal,
        lateness,
        late_summaries: cur
            .late_summaries
            .iter()
            .map(|(unit, month, n)| format!("{} {month} 月度汇总，一般事件 {n} 起", unit_label(unit)))
            .collect(),
        concerned,
        for_unit: None,
    }
}

fn case(r: &crate::store::StoredReport, unit_label: &impl Fn(&str) -> String) -> Case {
    let c = &r.report.content;
    let title = match &c.body {
        ReportBody::BotnetEvent(b) => {
            let bots: u64 = b.botnets.iter().map(|n| n.bot_count.max(n.bot_ips.len() as u64)).sum();
            let ccs: Vec<String> = b.botnets.iter().take(3).map(|n| format!("{}:{}", n.cc_ip, n.port)).collect();
            format!("控制端 {}{}，受控主机约 {bots} 个", ccs.join("、"), if b.botnets.len() > 3 { " 等" } else { "" })
        }
        _ => c.headline(120),
    };
    Case {
        report_id: r.report.id.to_string(),
        unit: unit_label(r.report.unit.as_str()),
        kind: c.kind().label_zh().to_string(),
        severity: c.grade.map(|g| g.label_zh().to_string()).or(c.level.map(|l| format!("{}预警", l.label_zh()))).unwrap_or_default(),
        title,
        provinces: if c.provinces.is_empty() {
            "全国".into()
        } else {
            c.provinces.iter().map(|p| p.short_zh()).collect::<Vec<_>>().join("、")
        },
        discovered_at: local_display(c.discovered_at),
    }
}

/// `[start, end)` of a month in Beijing time, as UTC instants.
pub fn span(m: YearMonth) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    use crate::rules::calendar::start_of_day;
    (start_of_day(m.first_day()), start_of_day(m.next().first_day()))
}
