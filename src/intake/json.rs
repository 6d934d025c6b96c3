//! Canonical JSON reports → `ReportInput`s, collecting every error with its JSON pointer.

use crate::model::report::{
    AppealBody, BotnetBody, ContactUpdateBody, DisposalFeedbackBody, EventBody, GeneralEventSummary, MonthlyGeneralBody, ReportContent,
    ReportInput, Undisposed, VerificationBody, VerificationResult, WarningBody,
};
use crate::model::time::{EXPECTED_TIME, parse_instant};
use crate::model::{
    Botnet, Category, Contact, ContactRole, ErrorCode, Grade, IntakeError, ObligationId, ParseError, Port, Province, ReportBody, ReportId,
    ReportKind, Target, UnitCode, WarningLevel,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// The most reports one JSON submission may hold.
pub const MAX_REPORTS_PER_SUBMISSION: usize = 10_000;

/// One element of a submission: its JSON pointer (`/3`, or empty for a lone object) and either
/// the report or every error found in it (defined with the decision types it feeds).
pub use crate::decision::Item;

/// Parses one report object or an array of them. `received_at` stands in for `discovered_at`
/// on kinds where the time of discovery means nothing (feedback, verification, summaries).
pub fn parse_submission(raw: &[u8], received_at: DateTime<Utc>) -> Result<Vec<Item>, IntakeError> {
    // Windows editors (Notepad) save UTF-8 with a byte-order mark, which JSON does not allow.
    let raw = raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw);
    let value: Value = serde_json::from_slice(raw).map_err(|e| {
        IntakeError::new(
            ErrorCode::NotJson,
            format!("第{}行第{}列", e.line(), e.column()),
            "合法的 JSON 文本（UTF-8）",
            Some(e.to_string()),
        )
    })?;
    match value {
        Value::Array(items) if items.is_empty() => Err(IntakeError::new(ErrorCode::EmptyBatch, "", "至少一份报告", Some("[]".into()))),
        Value::Array(items) if items.len() > MAX_REPORTS_PER_SUBMISSION => Err(IntakeError::new(
            ErrorCode::TooMany,
            "",
            format!("每次报送不超过 {MAX_REPORTS_PER_SUBMISSION} 份报告"),
            Some(items.len().to_string()),
        )),
        Value::Array(items) => Ok(items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let ptr = format!("/{i}");
                let r = parse_report(v, &ptr, received_at);
                (ptr, r)
            })
            .collect()),
        v @ Value::Object(_) => Ok(vec![(String::new(), parse_report(&v, "", received_at))]),
        other => Err(IntakeError::new(ErrorCode::NotObject, "", "一个报告对象或报告数组", Some(type_name(&other).into()))),
    }
}

/// Parses one report object found at `ptr`.
pub fn parse_report(v: &Value, ptr: &str, received_at: DateTime<Utc>) -> Result<ReportInput, Vec<IntakeError>> {
    parse_report_as(v, ptr, received_at, false)
}

/// Parses one report read off a spreadsheet row: as `parse_report`, except that a form without
/// the provinces affected leaves them to default to the reporting unit's own province, which
/// only intake knows (a hand-made form of a provincial unit seldom has the column).
pub fn parse_form_report(v: &Value, ptr: &str, received_at: DateTime<Utc>) -> Result<ReportInput, Vec<IntakeError>> {
    parse_report_as(v, ptr, received_at, true)
}

fn parse_report_as(v: &Value, ptr: &str, received_at: DateTime<Utc>, from_form: bool) -> Result<ReportInput, Vec<IntakeError>> {
    let mut errors = Vec::new();
    let Some(map) = v.as_object() else {
        return Err(vec![IntakeError::new(ErrorCode::NotObject, ptr, "报告对象 {…}", Some(type_name(v).into()))]);
    };
    let mut o = Obj { map, ptr: ptr.to_string(), errors: &mut errors, not_after: None };
    o.only(&[
        "unit",
        "kind",
        "discovered_at",
        "category",
        "grade",
        "level",
        "provinces",
        "cross_province",
        "follows_up",
        "final",
        "suspected_crime",
        "content",
    ]);

    let kind = o.req(
        "kind",
        "报告类型：event、warning、botnet_event、disposal_feedback、verification、monthly_general、contact_update 或 appeal",
        |s| ReportKind::parse(s).ok_or_else(|| ParseError::new(ErrorCode::UnknownKind, "报告类型代码", s)),
    );
    let unit = o.opt("unit", |s| s.parse::<UnitCode>());
    let discovered_optional =
        matches!(kind, Some(ReportKind::DisposalFeedback | ReportKind::Verification | ReportKind::MonthlyGeneral | ReportKind::Appeal));
    let discovered_at = if discovered_optional { o.opt_time("discovered_at").or(Some(received_at)) } else { o.req_time("discovered_at") };
    // Times out of the world (0001-01-01, 1900, 9999: deadlines in year 10000) are refused: a
    // discovery is after 2000 and no more than a day after the hub received the report.
    let discovered_at = discovered_at.and_then(|t| {
        let earliest = DateTime::parse_from_rfc3339("2000-01-01T00:00:00+08:00").expect("a time").with_timezone(&Utc);
        if t < earliest || t > received_at + chrono::Duration::days(1) {
            o.push(
                ErrorCode::BadTime,
                "discovered_at",
                "2000 年以后、不晚于收到时间一天的时间（北京时间）",
                Some(crate::model::time::local_zh(t)),
            );
            None
        } else {
            Some(t)
        }
    });

    let category = match kind {
        Some(ReportKind::Event | ReportKind::Warning) => o.req("category", "信息类别（附件一）", Category::parse),
        Some(ReportKind::BotnetEvent) => o.opt("category", Category::parse).or(Some(Category::Malware)),
        _ => o.opt("category", Category::parse),
    };
    let grade = match kind {
        Some(ReportKind::Event) => o.req("grade", "事件分级", Grade::parse),
        Some(ReportKind::BotnetEvent) => o.opt("grade", Grade::parse),
        _ => o.not_applicable("grade", "仅事件信息和木马和僵尸网络事件有分级"),
    };
    let level = match kind {
        Some(ReportKind::Warning) => o.req_level("level"),
        _ => o.not_applicable("level", "仅预警信息有预警级别"),
    };
    let provinces_default = from_form && !o.has("provinces");
    let provinces = o.provinces("provinces", !provinces_default && matches!(kind, Some(ReportKind::Event | ReportKind::Warning)));
    let cross_flag = o.opt_bool("cross_province").unwrap_or(false);
    let follows_up = o.opt("follows_up", |s| s.parse::<ReportId>());
    let suspected_crime = o.opt_bool("suspected_crime").unwrap_or(false);
    let final_report = o.opt_bool("final").unwrap_or(false);

    let body = kind.and_then(|k| {
        let content = o.req_obj("content")?;
        let mut c =
            Obj { map: content, ptr: format!("{ptr}/content"), errors: o.errors, not_after: Some(received_at + chrono::Duration::days(1)) };
        parse_body(k, &mut c, discovered_at)
    });

    match (discovered_at, body) {
        (Some(discovered_at), Some(body)) if errors.is_empty() => {
            let cross_province = cross_flag || provinces.len() > 1;
            Ok(ReportInput {
                unit,
                provinces_from_reporter: provinces_default && provinces.is_empty(),
                content: ReportContent {
                    discovered_at,
                    category,
                    grade,
                    level,
                    provinces,
                    cross_province,
                    follows_up,
                    final_report,
                    suspected_crime,
                    body,
                },
            })
        }
        _ => {
            if errors.is_empty() {
                errors.push(IntakeError::new(ErrorCode::MissingField, ptr, "完整的报告", None));
            }
            Err(errors)
        }
    }
}

fn parse_body(kind: ReportKind, c: &mut Obj<'_, '_>, discovered_at: Option<DateTime<Utc>>) -> Option<ReportBody> {
    match kind {
        ReportKind::Event => {
            c.only(&["unit_overview", "occurred_at", "summary", "impact", "measures", "other"]);
            let unit_overview = c.req_text("unit_overview", "事件发生单位概况");
            let occurred_at = c.req_time("occurred_at").and_then(|t| match discovered_at {
                // An event happens before it is discovered.
                Some(d) if t > d => {
                    c.push(ErrorCode::BadTime, "occurred_at", "不晚于发现时间的事件发生时间", Some(crate::model::time::local_zh(t)));
                    None
                }
                _ => Some(t),
            });
            let summary = c.req_text("summary", "事件简要经过");
            let impact = c.req_text("impact", "初步估计的危害和影响");
            let measures = c.req_text("measures", "已采取的措施");
            let other = c.opt_text("other");
            Some(ReportBody::Event(EventBody {
                unit_overview: unit_overview?,
                occurred_at: occurred_at?,
                summary: summary?,
                impact: impact?,
                measures: measures?,
                other,
            }))
        }
        ReportKind::Warning => {
            c.only(&["description", "potential_harm", "affected_scope", "aware_parties", "recommendations"]);
            let d = c.req_text("description", "信息基本情况描述");
            let h = c.req_text("potential_harm", "可能产生的危害及程度");
            let s = c.req_text("affected_scope", "可能影响的用户及范围");
            let a = c.req_text("aware_parties", "已知晓该信息的单位/人员范围");
            let r = c.req_text("recommendations", "建议应采取的应对措施");
            Some(ReportBody::Warning(WarningBody {
                description: d?,
                potential_harm: h?,
                affected_scope: s?,
                aware_parties: a?,
                recommendations: r?,
            }))
        }
        ReportKind::BotnetEvent => {
            c.only(&["botnets", "operator"]);
            let operator = c.opt_text("operator");
            let botnets = c.req_array("botnets", "控制端列表（至少一项）", |o| parse_botnet(o, discovered_at))?;
            Some(ReportBody::BotnetEvent(BotnetBody { botnets, operator }))
        }
        ReportKind::DisposalFeedback => {
            c.only(&["notice_ref", "unit_name", "disposed", "undisposed"]);
            let notice_ref = c.req("notice_ref", "所通报事件的报告编号", |s| s.parse::<ReportId>());
            let unit_name = c.req_text("unit_name", "单位名称");
            let disposed = c.opt_strings("disposed", "IP 地址或域名", |s| s.parse::<Target>());
            let undisposed = c.opt_array("undisposed", |o| {
                o.only(&["target", "reason", "important"]);
                let target = o.req("target", "IP 地址或域名", |s| s.parse::<Target>());
                let reason = o.opt_text("reason");
                let important = o.opt_bool("important").unwrap_or(false);
                if reason.is_none() {
                    o.push(ErrorCode::MissingReason, "reason", "未处置的原因（每个未处置的 IP 地址或域名都须说明）", None);
                }
                Some(Undisposed { target: target?, reason: reason?, important })
            });
            if disposed.as_ref().is_some_and(|d| d.is_empty()) && undisposed.as_ref().is_some_and(|u| u.is_empty()) {
                c.push(ErrorCode::MissingField, "disposed", "已处置或未处置的 IP 地址/域名（至少一项）", None);
                return None;
            }
            Some(ReportBody::DisposalFeedback(DisposalFeedbackBody {
                notice_ref: notice_ref?,
                unit_name: unit_name?,
                disposed: disposed?,
                undisposed: undisposed?,
            }))
        }
        ReportKind::Verification => {
            c.only(&["notice_ref", "results"]);
            let notice_ref = c.req("notice_ref", "所通报事件的报告编号", |s| s.parse::<ReportId>());
            let results = c.req_array("results", "验证结果列表（至少一项）", |o| {
                o.only(&["target", "still_malicious"]);
                let target = o.req("target", "IP 地址或域名", |s| s.parse::<Target>());
                let still = o.req_bool("still_malicious");
                Some(VerificationResult { target: target?, still_malicious: still? })
            });
            Some(ReportBody::Verification(VerificationBody { notice_ref: notice_ref?, results: results? }))
        }
        ReportKind::MonthlyGeneral => {
            c.only(&["month", "events"]);
            let month = c.req("month", "月份 YYYY-MM", |s| s.parse()).and_then(|m: crate::model::YearMonth| {
                // A summary is of a month that has begun, and not of the last century.
                let latest = discovered_at.map(|d| crate::rules::obligations::month_of(d));
                if m.year() < 2000 || latest.is_some_and(|l| m > l) {
                    c.push(ErrorCode::BadMonth, "month", "2000 年以后、已开始的月份（YYYY-MM）", Some(m.to_string()));
                    None
                } else {
                    Some(m)
                }
            });
            let events = c.opt_array("events", |o| {
                o.only(&["occurred_at", "category", "summary", "impact", "measures"]);
                let occurred_at = o.req_time("occurred_at");
                let category = o.req("category", "信息类别（附件一）", Category::parse);
                let summary = o.req_text("summary", "事件简要经过");
                Some(GeneralEventSummary {
                    occurred_at: occurred_at?,
                    category: category?,
                    summary: summary?,
                    impact: o.opt_text("impact"),
                    measures: o.opt_text("measures"),
                })
            });
            Some(ReportBody::MonthlyGeneral(MonthlyGeneralBody { month: month?, events: events? }))
        }
        ReportKind::ContactUpdate => {
            c.only(&["contacts"]);
            let contacts = c.req_array("contacts", "联系人列表（至少一项）", |o| {
                o.only(&["role", "name", "phone", "email"]);
                let role = o.req("role", "leader（主管领导）、department_head（责任部门负责人）或 contact（联络人）", parse_role);
                // A name or phone goes into mail headers and pages: one line, of what it says.
                let name = o.req_text("name", "姓名").and_then(|n| {
                    if n.chars().any(crate::model::breaks_a_line) || n.chars().count() > 50 {
                        o.push(ErrorCode::WrongType, "name", "姓名（一行，不超过 50 个字，不含换行等控制字符）", Some(n));
                        None
                    } else {
                        Some(n)
                    }
                });
                let email = o.opt("email", |s| s.parse());
                let phone = o.opt_text("phone").and_then(|p| {
                    if crate::model::appeal::is_phone(&p) {
                        Some(p)
                    } else {
                        o.push(ErrorCode::WrongType, "phone", "电话号码（数字，可含 +、-、空格和括号，5–30 位）", Some(p));
                        None
                    }
                });
                if email.is_none() && phone.is_none() && !o.has("email") && !o.has("phone") {
                    // Art. 21 [通报办法] lists the contact details with the names.
                    o.push(
                        ErrorCode::MissingField,
                        "phone",
                        "联系方式：联系电话或电子邮箱（《互联网网络安全信息通报实施办法》第二十一条）",
                        None,
                    );
                    return None;
                }
                Some(Contact { role: role?, name: name?, phone, email })
            });
            Some(ReportBody::ContactUpdate(ContactUpdateBody { contacts: contacts? }))
        }
        ReportKind::Appeal => {
            c.only(&["obligation", "reason", "targets"]);
            let obligation = c.req("obligation", "所申诉义务的编号（回执中的义务编号）", |s| s.parse::<ObligationId>());
            let reason = c.req_text("reason", "申诉理由");
            let targets = c.opt_strings("targets", "IP 地址或域名", |s| s.parse::<Target>());
            Some(ReportBody::Appeal(AppealBody { obligation: obligation?, reason: reason?, targets: targets? }))
        }
    }
}

fn parse_role(s: &str) -> Result<ContactRole, ParseError> {
    match crate::model::fold_width(s).as_str() {
        "leader" | "主管领导" => Ok(ContactRole::Leader),
        "department_head" | "责任部门负责人" | "部门负责人" => Ok(ContactRole::DepartmentHead),
        "contact" | "联络人" | "联系人" => Ok(ContactRole::Contact),
        _ => Err(ParseError::new(ErrorCode::WrongType, "leader、department_head 或 contact", s)),
    }
}

fn parse_botnet(o: &mut Obj<'_, '_>, report_discovered: Option<DateTime<Utc>>) -> Option<Botnet> {
    o.only(&["cc_ip", "port", "discovered_at", "domains", "bot_count", "bot_ips"]);
    let cc_ip = o.req("cc_ip", "控制端 IP 地址", parse_ip);
    let port = o.req_int("port", "控制端端口 1–65535").and_then(|n| o.check(Port::new(n), "port"));
    let discovered_at = o.opt_time("discovered_at").or(report_discovered);
    let domains = o.opt_strings("domains", "域名", |s| s.parse());
    let bot_ips = o.opt_strings("bot_ips", "IP 地址", parse_ip);
    let count = if o.has("bot_count") { o.req_int("bot_count", "受控 IP 地址数（非负整数）") } else { None };
    if count.is_none() && bot_ips.as_ref().is_none_or(|l| l.is_empty()) && !o.has("bot_count") {
        o.push(ErrorCode::MissingField, "bot_count", "规模：受控 IP 地址数，或受控 IP 地址列表 bot_ips", None);
        return None;
    }
    let count = match count {
        Some(n) if n < 0 => {
            o.push(ErrorCode::WrongType, "bot_count", "非负整数", Some(n.to_string()));
            return None;
        }
        other => other.unwrap_or(0) as u64,
    };
    let bot_ips = bot_ips?;
    let listed = crate::rules::BotSet::from_ips(&bot_ips).len();
    Some(Botnet { cc_ip: cc_ip?, port: port?, discovered_at: discovered_at?, domains: domains?, bot_count: count.max(listed), bot_ips })
}

fn parse_ip(s: &str) -> Result<IpAddr, ParseError> {
    crate::model::fold_width(s).parse().map_err(|_| ParseError::new(ErrorCode::BadIp, "IP 地址，如 203.0.113.7", s))
}

/// A value as the sender wrote it: text without JSON's quotes.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "布尔值",
        Value::Number(_) => "数字",
        Value::String(_) => "字符串",
        Value::Array(_) => "数组",
        Value::Object(_) => "对象",
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A JSON object being read at a pointer, pushing every problem it meets into `errors`.
struct Obj<'v, 'e> {
    map: &'v Map<String, Value>,
    ptr: String,
    errors: &'e mut Vec<IntakeError>,
    /// The latest time a content field may name: a day after the hub received the report (the
    /// same allowance as `discovered_at`'s, for clocks and zones set wrong), since nothing a
    /// report tells of (an occurrence, a feedback, a botnet's discovery) can come after it.
    not_after: Option<DateTime<Utc>>,
}

impl<'v> Obj<'v, '_> {
    fn at(&self, key: &str) -> String {
        format!("{}/{}", self.ptr, escape_pointer(key))
    }

    fn push(&mut self, code: ErrorCode, key: &str, expected: &str, found: Option<String>) {
        let place = self.at(key);
        self.errors.push(IntakeError::new(code, place, expected, found));
    }

    fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    fn check<T>(&mut self, r: Result<T, ParseError>, key: &str) -> Option<T> {
        r.map_err(|e| self.push(e.code, key, &e.expected, Some(e.found))).ok()
    }

    /// Refuses fields outside `allowed`: a misspelt field is a mistake the sender wants to hear of.
    fn only(&mut self, allowed: &[&str]) {
        let unknown: Vec<String> = self.map.keys().filter(|k| !allowed.contains(&k.as_str())).cloned().collect();
        for k in unknown {
            let expected = format!("已定义的字段之一：{}", allowed.join("、"));
            self.push(ErrorCode::UnknownField, &k, &expected, Some(k.clone()));
        }
    }

    fn string(&mut self, key: &str, expected: &str) -> Option<&'v str> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(other) => {
                let found = Some(format!("{}：{}", type_name(other), other));
                self.push(ErrorCode::WrongType, key, &format!("字符串（{expected}）"), found);
                None
            }
        }
    }

    fn req<T>(&mut self, key: &str, expected: &str, parse: impl FnOnce(&str) -> Result<T, ParseError>) -> Option<T> {
        if !self.has(key) {
            self.push(ErrorCode::MissingField, key, expected, None);
            return None;
        }
        let s = self.string(key, expected)?;
        let r = parse(s);
        self.check(r, key)
    }

    fn opt<T>(&mut self, key: &str, parse: impl FnOnce(&str) -> Result<T, ParseError>) -> Option<T> {
        let s = self.string(key, "")?;
        let r = parse(s);
        self.check(r, key)
    }

    fn not_applicable<T>(&mut self, key: &str, why: &str) -> Option<T> {
        if self.has(key) {
            let found = self.map.get(key).map(|v| v.to_string());
            self.push(ErrorCode::NotApplicable, key, &format!("不填写此字段（{why}）"), found);
        }
        None
    }

    fn req_text(&mut self, key: &str, expected: &str) -> Option<String> {
        let s = self.req(key, expected, |s| Ok(s.trim().to_string()))?;
        if s.is_empty() {
            self.push(ErrorCode::EmptyText, key, &format!("非空文字（{expected}）"), Some(String::new()));
            return None;
        }
        Some(s)
    }

    fn opt_text(&mut self, key: &str) -> Option<String> {
        self.opt(key, |s| Ok(s.trim().to_string())).filter(|s| !s.is_empty())
    }

    fn req_time(&mut self, key: &str) -> Option<DateTime<Utc>> {
        let t = self.req(key, EXPECTED_TIME, parse_instant);
        self.not_after_receipt(key, t)
    }

    fn opt_time(&mut self, key: &str) -> Option<DateTime<Utc>> {
        let t = self.opt(key, parse_instant);
        self.not_after_receipt(key, t)
    }

    fn not_after_receipt(&mut self, key: &str, t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        match (t, self.not_after) {
            (Some(t), Some(latest)) if t > latest => {
                self.push(ErrorCode::BadTime, key, "不晚于收到时间一天的时间（北京时间）", Some(crate::model::time::local_zh(t)));
                None
            }
            _ => t,
        }
    }

    fn req_level(&mut self, key: &str) -> Option<WarningLevel> {
        match self.map.get(key) {
            Some(Value::Number(n)) => {
                let r = n
                    .as_i64()
                    .and_then(WarningLevel::from_number)
                    .ok_or_else(|| ParseError::new(ErrorCode::BadLevel, "预警级别 1–4", n.to_string()));
                self.check(r, key)
            }
            _ => self.req(key, "预警级别 1–4", WarningLevel::parse),
        }
    }

    fn req_int(&mut self, key: &str, expected: &str) -> Option<i64> {
        match self.map.get(key) {
            Some(Value::Number(n)) if n.is_i64() => n.as_i64(),
            Some(Value::String(s)) if crate::model::parse_count(s).is_some() => crate::model::parse_count(s),
            None | Some(Value::Null) => {
                self.push(ErrorCode::MissingField, key, expected, None);
                None
            }
            Some(other) => {
                let found = Some(shown(other));
                self.push(ErrorCode::WrongType, key, expected, found);
                None
            }
        }
    }

    fn bool_value(&mut self, key: &str) -> Option<Option<bool>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(Value::Bool(b)) => Some(Some(*b)),
            Some(other) => {
                let found = Some(shown(other));
                self.push(ErrorCode::WrongType, key, "true 或 false", found);
                None
            }
        }
    }

    fn opt_bool(&mut self, key: &str) -> Option<bool> {
        self.bool_value(key).flatten()
    }

    fn req_bool(&mut self, key: &str) -> Option<bool> {
        match self.bool_value(key)? {
            Some(b) => Some(b),
            None => {
                self.push(ErrorCode::MissingField, key, "true 或 false", None);
                None
            }
        }
    }

    fn req_obj(&mut self, key: &str) -> Option<&'v Map<String, Value>> {
        match self.map.get(key) {
            Some(Value::Object(m)) => Some(m),
            None | Some(Value::Null) => {
                self.push(ErrorCode::MissingField, key, "报告内容对象 {…}", None);
                None
            }
            Some(other) => {
                let found = Some(type_name(other).to_string());
                self.push(ErrorCode::WrongType, key, "对象 {…}", found);
                None
            }
        }
    }

    /// Provinces as an array of names/codes, or one string separated by commas, 、 or spaces.
    fn provinces(&mut self, key: &str, required: bool) -> Vec<Province> {
        let items: Vec<(String, String)> = match self.map.get(key) {
            None | Some(Value::Null) => vec![],
            Some(Value::String(s)) if crate::model::region::means_nationwide(s) => vec![(self.at(key), s.clone())],
            Some(Value::String(s)) => split_list(s).into_iter().map(|p| (self.at(key), p)).collect(),
            Some(Value::Array(a)) => {
                let mut out = vec![];
                for (i, v) in a.iter().enumerate() {
                    match v.as_str() {
                        Some(s) => out.push((format!("{}/{i}", self.at(key)), s.to_string())),
                        None => self.errors.push(IntakeError::new(
                            ErrorCode::WrongType,
                            format!("{}/{i}", self.at(key)),
                            "省份（字符串）",
                            Some(v.to_string()),
                        )),
                    }
                }
                out
            }
            Some(other) => {
                let found = Some(other.to_string());
                self.push(ErrorCode::WrongType, key, "省份数组，如 [\"GD\", \"广西\"]", found);
                return vec![];
            }
        };
        let mut out = Vec::new();
        for (place, s) in items {
            // 全国 (or 31省（区、市）) is every province: the bureaus concerned are all of them.
            if crate::model::region::means_nationwide(&s) {
                for p in Province::ALL {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
                continue;
            }
            match Province::parse(&s) {
                Ok(p) if !out.contains(&p) => out.push(p),
                Ok(_) => {}
                Err(e) => self.errors.push(IntakeError::new(e.code, place, e.expected, Some(e.found))),
            }
        }
        if required && out.is_empty() {
            match self.map.get(key) {
                None | Some(Value::Null) => self.push(ErrorCode::MissingField, key, "受影响的省份（至少一个）", None),
                // `[]` or `""` says no more than leaving it out; a list of bad names was refused item by item.
                Some(v) if !self.errors.iter().any(|e| e.place.starts_with(&self.at(key))) => {
                    let found = Some(v.to_string());
                    self.push(ErrorCode::EmptyText, key, "受影响的省份（至少一个）", found)
                }
                Some(_) => {}
            }
        }
        out
    }

    /// An array of strings (or one string holding a list) each parsed by `parse`; None if any failed.
    fn opt_strings<T>(&mut self, key: &str, expected: &str, parse: impl Fn(&str) -> Result<T, ParseError>) -> Option<Vec<T>> {
        let entries: Vec<(String, &'v Value)> = match self.map.get(key) {
            None | Some(Value::Null) => return Some(vec![]),
            Some(Value::Array(a)) => a.iter().enumerate().map(|(i, v)| (format!("{}/{i}", self.at(key)), v)).collect(),
            Some(v @ Value::String(_)) => vec![(self.at(key), v)],
            Some(other) => {
                let found = Some(type_name(other).to_string());
                self.push(ErrorCode::WrongType, key, &format!("{expected}数组"), found);
                return None;
            }
        };
        let mut out = Vec::with_capacity(entries.len());
        let before = self.errors.len();
        for (place, v) in entries {
            let Some(s) = v.as_str() else {
                self.errors.push(IntakeError::new(ErrorCode::WrongType, place, format!("{expected}（字符串）"), Some(v.to_string())));
                continue;
            };
            for part in split_list(s) {
                match parse(&part) {
                    Ok(x) => out.push(x),
                    Err(e) if self.errors.len() - before < 20 => {
                        self.errors.push(IntakeError::new(e.code, place.clone(), e.expected, Some(e.found)))
                    }
                    Err(_) => {} // 20 errors in one list say enough
                }
            }
        }
        (self.errors.len() == before).then_some(out)
    }

    fn array(&mut self, key: &str, required: Option<&str>) -> Option<&'v Vec<Value>> {
        match self.map.get(key) {
            Some(Value::Array(a)) if !a.is_empty() || required.is_none() => Some(a),
            None | Some(Value::Null) if required.is_none() => None,
            Some(Value::Array(_)) | None | Some(Value::Null) => {
                self.push(ErrorCode::MissingField, key, required.unwrap_or_default(), None);
                None
            }
            Some(other) => {
                let found = Some(type_name(other).to_string());
                self.push(ErrorCode::WrongType, key, "数组 […]", found);
                None
            }
        }
    }

    fn each<T>(&mut self, key: &str, items: &'v [Value], mut f: impl FnMut(&mut Obj<'v, '_>) -> Option<T>) -> Option<Vec<T>> {
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, v) in items.iter().enumerate() {
            let ptr = format!("{}/{i}", self.at(key));
            match v.as_object() {
                Some(map) => match f(&mut Obj { map, ptr, errors: self.errors, not_after: self.not_after }) {
                    Some(x) => out.push(x),
                    None => ok = false,
                },
                None => {
                    ok = false;
                    self.errors.push(IntakeError::new(ErrorCode::NotObject, ptr, "对象 {…}", Some(type_name(v).into())));
                }
            }
        }
        ok.then_some(out)
    }

    fn req_array<T>(&mut self, key: &str, expected: &str, f: impl FnMut(&mut Obj<'v, '_>) -> Option<T>) -> Option<Vec<T>> {
        let items = self.array(key, Some(expected))?;
        self.each(key, items, f)
    }

    fn opt_array<T>(&mut self, key: &str, f: impl FnMut(&mut Obj<'v, '_>) -> Option<T>) -> Option<Vec<T>> {
        match self.array(key, None) {
            Some(items) => self.each(key, items, f),
            None if self.has(key) => None,
            None => Some(vec![]),
        }
    }
}

/// Splits "a, b、c; d" or one item a line.
pub fn split_list(s: &str) -> Vec<String> {
    s.split([',', '，', '、', ';', '；', '\n', '\r', ' ', '\t', '\u{3000}'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-09-23T03:00:00Z".parse().unwrap()
    }

    fn event() -> Value {
        json!({
            "kind": "event", "discovered_at": "2026-09-23 10:00", "category": "ddos", "grade": "重大",
            "provinces": ["广东"],
            "content": {"unit_overview": "某IDC", "occurred_at": "2026-09-23T09:40:00+08:00", "summary": "流量攻击",
                        "impact": "出口拥塞", "measures": "已清洗"}
        })
    }

    fn errors_of(v: Value) -> Vec<IntakeError> {
        parse_report(&v, "", now()).unwrap_err()
    }

    #[test]
    fn a_good_event_parses_with_local_times_and_chinese_labels() {
        let r = parse_report(&event(), "", now()).unwrap();
        assert_eq!(r.content.grade, Some(Grade::Major));
        assert_eq!(r.content.discovered_at.to_rfc3339(), "2026-09-23T02:00:00+00:00");
        assert_eq!(r.content.provinces, vec![Province::Guangdong]);
        assert!(!r.content.cross_province);
    }

    #[test]
    fn every_error_names_its_pointer_and_what_was_expected() {
        let mut v = event();
        v["grade"] = json!("huge");
        v["content"]["summary"] = json!("  ");
        v["content"].as_object_mut().unwrap().remove("impact");
        v["level"] = json!(2);
        v["provinces"] = json!(["广东", "Atlantis"]);
        v["colour"] = json!("red");
        let errs = errors_of(v);
        let places: Vec<(&str, ErrorCode)> = errs.iter().map(|e| (e.place.as_str(), e.code)).collect();
        for want in [
            ("/grade", ErrorCode::BadGrade),
            ("/content/summary", ErrorCode::EmptyText),
            ("/content/impact", ErrorCode::MissingField),
            ("/level", ErrorCode::NotApplicable),
            ("/provinces/1", ErrorCode::BadProvince),
            ("/colour", ErrorCode::UnknownField),
        ] {
            assert!(places.contains(&want), "{want:?} not in {places:?}");
        }
        let grade_err = errs.iter().find(|e| e.place == "/grade").unwrap();
        assert!(grade_err.message.contains("huge") && grade_err.message.contains("特别重大"), "{}", grade_err.message);
    }

    /// 《通报办法》 Art. 14, 《僵尸机制》 Art. 8: what a report tells of happened before it was
    /// sent; a time in its content after the hub received it (beyond a day's allowance for
    /// clocks set wrong, as for discovered_at) is refused at its place.
    #[test]
    fn a_content_time_after_receipt_is_refused_at_its_place() {
        let summary = json!({"kind": "monthly_general", "content": {"month": "2026-08", "events": [
            {"occurred_at": "2026-08-03 10:00", "category": "ddos", "summary": "s"},
            {"occurred_at": "2026-12-25 10:00", "category": "ddos", "summary": "s"}]}});
        let errors = parse_report(&summary, "", now()).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].code, errors[0].place.as_str()), (ErrorCode::BadTime, "/content/events/1/occurred_at"));
        assert!(errors[0].message.contains("不晚于收到时间"), "{}", errors[0].message);
        let botnet = json!({"kind": "botnet_event", "discovered_at": "2026-09-23 09:00", "grade": "general", "content": {"botnets": [
            {"cc_ip": "203.0.113.9", "port": 8080, "discovered_at": "2027-01-01 00:00", "bot_count": 10}]}});
        let errors = parse_report(&botnet, "", now()).unwrap_err();
        assert_eq!(errors[0].place, "/content/botnets/0/discovered_at");
    }

    #[test]
    fn arrays_give_indexed_pointers_and_good_items_survive_bad_ones() {
        let mut bad = event();
        bad["discovered_at"] = json!("not a time");
        let raw = serde_json::to_vec(&json!([event(), bad])).unwrap();
        let items = parse_submission(&raw, now()).unwrap();
        assert!(items[0].1.is_ok());
        let errs = items[1].1.as_ref().unwrap_err();
        assert_eq!(errs[0].place, "/1/discovered_at");
        assert_eq!(errs[0].code, ErrorCode::BadTime);
    }

    #[test]
    fn an_appeal_names_its_obligation_by_id_and_gives_a_reason() {
        let ok = json!({"kind": "appeal", "content": {"obligation": "0192f3c4-0000-7000-8000-000000000001", "reason": "用户申诉",
            "targets": "203.0.113.7"}});
        let r = parse_report(&ok, "", now()).unwrap();
        assert_eq!(r.content.discovered_at, now(), "when the dispute arose defaults to receipt");
        let bad = json!({"kind": "appeal", "grade": "major", "content": {"obligation": "CT-GD-17", "reason": " "}});
        let errs = parse_report(&bad, "", now()).unwrap_err();
        let places: Vec<(&str, ErrorCode)> = errs.iter().map(|e| (e.place.as_str(), e.code)).collect();
        assert_eq!(
            places,
            [("/grade", ErrorCode::NotApplicable), ("/content/obligation", ErrorCode::BadId), ("/content/reason", ErrorCode::EmptyText)]
        );
    }

    #[test]
    fn not_json_and_empty_batches_are_refused_whole() {
        assert_eq!(parse_submission(b"{not json", now()).unwrap_err().code, ErrorCode::NotJson);
        assert_eq!(parse_submission(b"[]", now()).unwrap_err().code, ErrorCode::EmptyBatch);
        assert_eq!(parse_submission(b"42", now()).unwrap_err().code, ErrorCode::NotObject);
    }

    #[test]
    fn botnet_lists_take_one_string_or_an_array_and_the_count_is_at_least_the_list() {
        let v = json!({
            "kind": "botnet_event", "discovered_at": "2026-09-23T10:00:00+08:00",
            "content": {"botnets": [{"cc_ip": "203.0.113.7", "port": 8080, "domains": "c2.example.com",
                        "bot_ips": ["10.0.0.1", "10.0.0.2, 10.0.0.3", "10.0.0.3"], "bot_count": 2}]}
        });
        let r = parse_report(&v, "", now()).unwrap();
        let ReportBody::BotnetEvent(b) = r.content.body else { panic!() };
        assert_eq!(b.botnets[0].bot_count, 3, "three distinct listed IPs beat a declared 2");
        assert_eq!(r.content.category, Some(Category::Malware));

        let v = json!({"kind": "botnet_event", "discovered_at": "2026-09-23T10:00:00+08:00",
                       "content": {"botnets": [{"cc_ip": "300.1.1.1", "port": 0}]}});
        let places: Vec<String> = errors_of(v).into_iter().map(|e| e.place).collect();
        assert!(places.contains(&"/content/botnets/0/cc_ip".to_string()), "{places:?}");
        assert!(places.contains(&"/content/botnets/0/port".to_string()), "{places:?}");
        assert!(places.contains(&"/content/botnets/0/bot_count".to_string()), "{places:?}");
    }

    #[test]
    fn undisposed_targets_need_a_reason() {
        let v = json!({"kind": "disposal_feedback", "content": {
            "notice_ref": "0192f3c4-0000-7000-8000-000000000000", "unit_name": "某运营商",
            "undisposed": [{"target": "10.0.0.9"}]}});
        let errs = errors_of(v);
        assert_eq!(errs[0].code, ErrorCode::MissingReason);
        assert_eq!(errs[0].place, "/content/undisposed/0/reason");
    }

    #[test]
    fn canonical_reports_round_trip_through_serde_and_the_parser() {
        let parsed = parse_report(&event(), "", now()).unwrap();
        let again = parse_report(&serde_json::to_value(&parsed).unwrap(), "", now()).unwrap();
        assert_eq!(parsed, again);
        let back: ReportInput = serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, back);
    }
}
