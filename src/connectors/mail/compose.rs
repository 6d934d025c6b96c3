//! Outgoing mails: receipts as replies and notices, rendered from templates into a plain-text and HTML message with ids derived from the outbox row.

use crate::model::receipt::ObligationSummary;
use crate::model::{OutboxId, Party, Receipt};
use crate::store::StoredReport;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox as Address, MultiPart};
use minijinja::Environment;
use serde::Serialize;

use crate::rules::calendar::local_display as local;

fn parties(ps: &[Party]) -> String {
    ps.iter().map(Party::label_zh).collect::<Vec<_>>().join("、")
}

#[derive(Serialize)]
struct ObligationView {
    duty: &'static str,
    actor: String,
    to: String,
    due_at: String,
    provisional: bool,
    basis: String,
    /// "已逾期 3小时20分" when the deadline had passed when the receipt was made.
    overdue: Option<String>,
}

#[derive(Serialize)]
struct ReportView {
    /// Where in the submission: `事件表!第4行`, or an attachment's row.
    source: String,
    /// A botnet event's C&C addresses and ports.
    cc: String,
    kind: &'static str,
    severity: String,
    report_id: String,
    grade_note: Option<String>,
    /// The subsidiary a group company reported for.
    for_unit: Option<String>,
    obligations: Vec<ObligationView>,
}

#[derive(Serialize)]
struct ReceiptView {
    original_subject: String,
    received_at: String,
    submission_id: String,
    outcome: &'static str,
    duplicate: bool,
    reports: Vec<ReportView>,
    errors: Vec<String>,
    notes: Vec<String>,
    /// Names of the blank forms attached.
    blank_forms: Vec<String>,
    /// For a large submission: its whole, when only the first reports and errors are listed.
    summary: Option<String>,
}

/// How long past a deadline an instant is, as a person reads it: 2天3小时, 3小时20分, 15分.
pub fn overdue_zh(due_at: chrono::DateTime<chrono::Utc>, at: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let late = at.signed_duration_since(due_at);
    if late <= chrono::Duration::zero() {
        return None;
    }
    let minutes = late.num_minutes().max(1);
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    Some(match (d, h, m) {
        (0, 0, m) => format!("已逾期 {m}分"),
        (0, h, 0) => format!("已逾期 {h}小时"),
        (0, h, m) => format!("已逾期 {h}小时{m}分"),
        (d, 0, _) => format!("已逾期 {d}天"),
        (d, h, _) => format!("已逾期 {d}天{h}小时"),
    })
}

fn obligation_view(o: &ObligationSummary, at: chrono::DateTime<chrono::Utc>) -> ObligationView {
    let to = if o.copy.is_empty() { parties(&o.to) } else { format!("{}（抄送{}）", parties(&o.to), parties(&o.copy)) };
    ObligationView {
        duty: o.duty.label_zh(),
        actor: o.actor.label_zh(),
        to,
        due_at: local(o.due_at),
        provisional: o.provisional,
        basis: o.basis.clone(),
        overdue: overdue_zh(o.due_at, at),
    }
}

/// The parts of a mail, rendered.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Files sent along (the blank forms a refused sender needs): name and bytes.
    pub attachments: Vec<(String, Vec<u8>)>,
}

fn render_three(env: &Environment<'_>, family: &str, ctx: &impl Serialize) -> Result<Rendered, String> {
    let subject = crate::templates::render(env, &format!("mail/{family}.subject.txt"), ctx)?;
    Ok(Rendered {
        // A subject is one line whatever the template or the original subject held.
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: crate::templates::render(env, &format!("mail/{family}.txt"), ctx)?,
        html: crate::templates::render(env, &format!("mail/{family}.html"), ctx)?,
        attachments: vec![],
    })
}

/// The receipt mail's texts. `original_subject` is the subject of the mail it answers.
pub fn receipt(env: &Environment<'_>, receipt: &Receipt, original_subject: &str) -> Result<Rendered, String> {
    let original = original_subject.trim();
    let original =
        ["Re:", "RE:", "re:", "回复：", "回复:", "答复："].iter().fold(original, |s, p| s.strip_prefix(p).map(str::trim).unwrap_or(s));
    let blanks = crate::forms::blank_forms_for(&receipt.errors);
    let view = ReceiptView {
        original_subject: original.to_string(),
        received_at: local(receipt.received_at),
        submission_id: receipt.submission_id.to_string(),
        outcome: receipt.outcome.label_zh(),
        duplicate: receipt.duplicate,
        reports: receipt
            .reports
            .iter()
            .map(|r| ReportView {
                source: r.source.clone(),
                cc: r.cc.join("、"),
                kind: r.kind.label_zh(),
                severity: match (r.grade, r.level) {
                    (Some(g), _) => g.label_zh().to_string(),
                    (None, Some(l)) => l.label_zh().to_string(),
                    _ => String::new(),
                },
                report_id: r.report_id.to_string(),
                grade_note: r.grade_note.clone(),
                for_unit: r.for_unit.as_ref().map(|u| u.to_string()),
                obligations: r.obligations.iter().map(|o| obligation_view(o, receipt.received_at)).collect(),
            })
            .collect(),
        errors: receipt.errors.iter().map(|e| e.message.clone()).collect(),
        notes: receipt.notes.iter().map(|n| format!("{}：{}", n.place, n.message)).collect(),
        blank_forms: blanks.iter().map(|(name, _)| name.clone()).collect(),
        summary: receipt.summary.as_ref().map(|s| {
            let grades: Vec<String> = s
                .by_grade
                .iter()
                .map(|(g, n)| {
                    let label = crate::model::Grade::parse(g).map(|g| g.label_zh().to_string()).unwrap_or_else(|_| g.clone());
                    format!("{label} {n} 份")
                })
                .collect();
            format!(
                "本次共受理 {} 份报告（{}），未受理 {} 处；以下仅列出前 {} 份报告和前 {} 处错误。",
                s.reports,
                grades.join("、"),
                s.errors,
                Receipt::MAX_LISTED,
                Receipt::MAX_LISTED
            )
        }),
    };
    let mut rendered = render_three(env, "receipt", &view)?;
    rendered.attachments = blanks;
    Ok(rendered)
}

#[derive(Serialize)]
struct Detail {
    label: &'static str,
    value: String,
}

#[derive(Serialize)]
struct NoticeView {
    /// 【通报】, or what the hub sends for CNCERT: 【CNCERT报告】, 【处置结果】.
    heading: String,
    recipient: String,
    kind: &'static str,
    severity: String,
    title: String,
    report_id: String,
    unit: String,
    discovered_at: String,
    provinces: String,
    details: Vec<Detail>,
    duty: String,
    basis: String,
}

/// A notice mail about a stored report. `payload` is the outbox row's (duty, basis, party).
pub fn notice(
    env: &Environment<'_>,
    report: &StoredReport,
    recipient_label: &str,
    payload: &serde_json::Value,
) -> Result<Rendered, String> {
    let c = &report.report.content;
    let kind = c.kind();
    let details = c.particulars_zh().into_iter().map(|(label, value)| Detail { label, value }).collect();
    let title = c.headline(60);
    // A notice the hub sends for CNCERT says so first (【CNCERT报告】, 【处置结果】).
    let heading = payload
        .get("performs")
        .and_then(|_| payload.get("title"))
        .and_then(|t| t.as_str())
        .and_then(|t| t.split_once('】').map(|(h, _)| format!("{h}】")))
        .unwrap_or_else(|| "【通报】".to_string());
    let duty = payload
        .get("duty")
        .and_then(|d| d.as_str())
        .and_then(crate::model::Duty::parse)
        .map(|d| d.label_zh().to_string())
        .unwrap_or_default();
    let view = NoticeView {
        heading,
        recipient: recipient_label.to_string(),
        kind: kind.label_zh(),
        severity: match (c.grade, c.level) {
            (Some(g), _) => g.label_zh().to_string(),
            (None, Some(l)) => l.label_zh().to_string(),
            _ => String::new(),
        },
        title,
        report_id: report.report.id.to_string(),
        unit: match payload.get("unit_name").and_then(|n| n.as_str()) {
            Some(name) => format!("{name}（{}）", report.report.unit),
            None => report.report.unit.to_string(),
        },
        discovered_at: local(c.discovered_at),
        provinces: if c.provinces.is_empty() {
            "全国".into()
        } else {
            c.provinces.iter().map(|p| p.short_zh()).collect::<Vec<_>>().join("、")
        },
        details,
        duty,
        basis: payload.get("basis").and_then(|b| b.as_str()).unwrap_or_default().to_string(),
    };
    render_three(env, "notice", &view)
}

#[derive(Serialize)]
struct AlertView<'a> {
    recipient: &'a str,
    title: &'a str,
    lines: Vec<&'a str>,
}

fn str_list(v: &serde_json::Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(|l| l.as_str()).collect()).unwrap_or_default()
}

/// A reminder, an overdue alert, an escalation or a monthly notice: a title and lines.
pub fn alert(env: &Environment<'_>, recipient_label: &str, payload: &serde_json::Value) -> Result<Rendered, String> {
    let title = payload.get("title").and_then(|t| t.as_str()).ok_or("the alert has no title")?;
    render_three(env, "alert", &AlertView { recipient: recipient_label, title, lines: str_list(&payload["lines"]) })
}

#[derive(Serialize)]
struct BatchItem<'a> {
    title: String,
    lines: Vec<&'a str>,
}

/// Several non-urgent items for one recipient in one mail.
pub fn batch(env: &Environment<'_>, recipient_label: &str, payload: &serde_json::Value) -> Result<Rendered, String> {
    let items: Vec<BatchItem<'_>> = payload["items"]
        .as_array()
        .ok_or("the batch has no items")?
        .iter()
        .map(|i| BatchItem {
            title: i["payload"]["title"].as_str().map(str::to_string).unwrap_or_else(|| format!("{}（{}）", i["kind"], i["subject_id"])),
            lines: str_list(&i["payload"]["lines"]),
        })
        .collect();
    render_three(env, "batch", &serde_json::json!({ "recipient": recipient_label, "items": items }))
}

/// The monthly digest: texts, the chart (PNG) and the workbook (xlsx).
pub struct DigestMail {
    pub rendered: Rendered,
    pub chart: Vec<u8>,
    pub workbook: Vec<u8>,
    pub month: String,
}

pub const CHART_CID: &str = "digest-chart";

pub fn digest(env: &Environment<'_>, recipient_label: &str, d: &crate::digest::Digest) -> Result<DigestMail, String> {
    let rate = |r: Option<f64>| r.map(|v| format!("{v}%")).unwrap_or_else(|| "—".into());
    let ctx = serde_json::json!({
        "recipient": recipient_label, "d": d, "chart_cid": CHART_CID,
        "current_colour": crate::digest::chart::CURRENT_HEX, "previous_colour": crate::digest::chart::PREVIOUS_HEX,
        "rates": { "feedback": rate(d.disposal.feedback_rate), "disposal": rate(d.disposal.disposal_rate) },
    });
    Ok(DigestMail {
        rendered: render_three(env, "digest", &ctx)?,
        chart: crate::digest::chart::png(&d.by_grade)?,
        workbook: crate::digest::workbook::xlsx(d)?,
        month: d.month.clone(),
    })
}

/// The digest's MIME message: text and HTML (with the chart inline), and the workbook attached.
pub fn digest_message(from: &Address, to: &str, outbox: OutboxId, mail: DigestMail) -> Result<Message, String> {
    use lettre::message::SinglePart;
    let to: Address = to.parse().map_err(|e| format!("recipient {to}: {e}"))?;
    let domain = from.email.domain();
    let png = ContentType::parse("image/png").map_err(|e| e.to_string())?;
    let xlsx = ContentType::parse("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").map_err(|e| e.to_string())?;
    let body = MultiPart::mixed()
        .multipart(
            MultiPart::alternative().singlepart(SinglePart::plain(mail.rendered.text)).multipart(
                MultiPart::related()
                    .singlepart(SinglePart::html(mail.rendered.html))
                    .singlepart(Attachment::new_inline(CHART_CID.to_string()).body(mail.chart, png)),
            ),
        )
        .singlepart(Attachment::new(format!("网络安全信息月度通报-{}.xlsx", mail.month)).body(mail.workbook, xlsx));
    let mut msg = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.rendered.subject)
        .message_id(Some(format!("<{outbox}@{domain}>")))
        .date_now()
        .multipart(body)
        .map_err(|e| e.to_string())?;
    msg.headers_mut().insert_raw(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()));
    mark_as_ours(&mut msg, from);
    Ok(msg)
}

/// Threading of a reply: the mail it answers and that mail's own references.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
}

/// Builds the MIME message. The Message-ID is `<outbox-id@domain of from>`, so a receiver (and
/// tongbao itself after a crash) can tell a resend from a new mail.
pub fn message(from: &Address, to: &str, outbox: OutboxId, rendered: Rendered, thread: &Thread) -> Result<Message, String> {
    let to: Address = to.parse().map_err(|e| format!("recipient {to}: {e}"))?;
    let domain = from.email.domain();
    let mut builder =
        Message::builder().from(from.clone()).to(to).subject(rendered.subject).message_id(Some(format!("<{outbox}@{domain}>"))).date_now();
    if let Some(parent) = &thread.in_reply_to {
        builder = builder.in_reply_to(format!("<{parent}>"));
        let refs: Vec<String> = thread.references.iter().chain(std::iter::once(parent)).map(|r| format!("<{r}>")).collect();
        builder = builder.references(refs.join(" "));
    }
    let text_and_html = MultiPart::alternative_plain_html(rendered.text, rendered.html);
    let body = if rendered.attachments.is_empty() {
        text_and_html
    } else {
        let xlsx = ContentType::parse("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").map_err(|e| e.to_string())?;
        rendered.attachments.into_iter().fold(MultiPart::mixed().multipart(text_and_html), |m, (name, bytes)| {
            m.singlepart(Attachment::new(name).body(bytes, xlsx.clone()))
        })
    };
    let mut msg = builder.multipart(body).map_err(|e| e.to_string())?;
    // Auto-replies to receipts would loop; say what this is (RFC 3834).
    msg.headers_mut().insert_raw(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-replied".into()));
    mark_as_ours(&mut msg, from);
    Ok(msg)
}

/// The bare address of a From header's text, lower-case.
pub fn address_of(text: &str) -> Option<String> {
    text.parse::<lettre::message::Mailbox>().ok().map(|m| m.email.to_string().to_ascii_lowercase())
}

/// Marks a mail as the hub's (`parse::LOOP_HEADER`, with its From address), so that it is never
/// taken in as a submission if it comes back.
fn mark_as_ours(msg: &mut Message, from: &Address) {
    msg.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str(super::parse::LOOP_HEADER),
        from.email.to_string().to_ascii_lowercase(),
    ));
}

/// Whether `text` is a mail address as a From header takes it (`通报中心 <tongbao@cncert.example.cn>`).
pub fn is_mailbox(text: &str) -> bool {
    text.parse::<lettre::message::Mailbox>().is_ok()
}
