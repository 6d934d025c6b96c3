//! One raw mail → sender, ids and its form attachments, the way Chinese mail clients really encode them. Pure.
//!
//! mail-parser (with `full_encoding`) decodes encoded-words in any charset it knows, including
//! GB2312/GBK/GB18030 inside quoted parameters (Foxmail, Outlook) and RFC 2231 continuations.
//! What it cannot know is the charset of raw 8-bit headers (QQ Mail writes GBK bytes straight
//! into Subject and filename): those header fields are re-read as UTF-8 when valid, else as
//! GB18030, and the mail is parsed again with them transcoded. Bodies are never touched.

use crate::intake::json::{self, Item};
use crate::model::{Email, ErrorCode, IntakeError};
use chrono::{DateTime, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use std::io::Read;

/// Limits that stop mail bombs; each refusal names the limit and the part.
#[derive(Debug, Clone, Copy)]
pub struct MailLimits {
    pub max_mail_bytes: usize,
    pub max_attachments: usize,
    /// Entries read from one zip archive.
    pub max_zip_entries: usize,
    /// Uncompressed bytes read from all archives of one mail.
    pub max_unzipped_bytes: u64,
    pub forms: crate::forms::Limits,
}

impl Default for MailLimits {
    fn default() -> Self {
        MailLimits {
            max_mail_bytes: 64 << 20,
            max_attachments: 32,
            max_zip_entries: 32,
            max_unzipped_bytes: 256 << 20,
            forms: crate::forms::Limits::default(),
        }
    }
}

/// What tongbao needs from a mail.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub from: Option<Email>,
    pub subject: String,
    /// The Message-IDs this mail's References header lists, oldest first.
    pub references: Vec<String>,
    /// An `Authentication-Results` header says `dkim=pass`.
    pub dkim_pass: bool,
    pub attachments: Vec<Attachment>,
}

/// One attached file, with where it sat in the mail.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// `MIME part 3`, for errors about the part itself.
    pub part: String,
    /// The decoded file name (display only: never used as a path).
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The kinds of files intake reads from a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Spreadsheet,
    Json,
    Zip,
    Other,
}

fn file_kind(name: &str, bytes: &[u8]) -> FileKind {
    let lower = name.to_lowercase();
    if lower.ends_with(".zip") {
        FileKind::Zip
    } else if lower.ends_with(".json") {
        FileKind::Json
    } else if [".xlsx", ".xlsm", ".xls", ".ods", ".csv"].iter().any(|x| lower.ends_with(x)) || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
    {
        FileKind::Spreadsheet
    } else {
        FileKind::Other
    }
}

/// Parses a mail. Fails only when the bytes are no mail at all.
pub fn parse_mail(raw: &[u8]) -> Result<Mail, IntakeError> {
    read(raw, true)
}

/// The header the hub sets on every mail it sends, with its own address: a mail that comes back
/// carrying it is the hub's own, however it was forwarded.
pub const LOOP_HEADER: &str = "X-Tongbao-Loop";

/// Why a mail was sent by a machine and must not be answered, if it was: an auto-reply or other
/// automatic mail (RFC 3834 `Auto-Submitted` other than `no`; `Precedence: bulk`, `junk`, `list`
/// or `auto_reply`; `X-Autoreply`, `X-Autorespond`), a bounce (an empty `Return-Path`, or a
/// delivery-status report, RFC 3464), or a mail the hub itself sent (`X-Tongbao-Loop`).
pub fn automatic(raw: &[u8]) -> Option<String> {
    let message = MessageParser::default().parse_headers(raw)?;
    let header = |name: &str| message.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if let Some(v) = header(LOOP_HEADER) {
        return Some(format!("sent by a tongbao hub ({LOOP_HEADER}: {v})"));
    }
    if let Some(v) = header("Auto-Submitted").filter(|v| !v.starts_with("no")) {
        return Some(format!("automatic mail (Auto-Submitted: {v})"));
    }
    if let Some(v) = header("Precedence").filter(|v| matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply")) {
        return Some(format!("automatic mail (Precedence: {v})"));
    }
    for name in ["X-Autoreply", "X-Autorespond"] {
        if header(name).is_some() {
            return Some(format!("automatic mail ({name})"));
        }
    }
    if header("Return-Path").is_some_and(|v| v.trim_matches(|c: char| c == '<' || c == '>' || c.is_whitespace()).is_empty()) {
        return Some("a bounce (empty Return-Path)".into());
    }
    if header("Content-Type").is_some_and(|v| v.starts_with("multipart/report") && v.contains("delivery-status")) {
        return Some("a bounce (delivery-status report)".into());
    }
    // A mailing list's mail (RFC 2919), and Exchange's mark on what it sends by itself.
    for name in ["List-Id", "List-Unsubscribe", "X-Auto-Response-Suppress"] {
        if let Some(v) = header(name) {
            return Some(format!("automatic mail ({name}: {v})"));
        }
    }
    // Auto-replies that say so only in their subject, as many mail programs' out-of-office do
    // (a mail that says `Auto-Submitted: no` is a person's, whatever its subject).
    let mut subject = message.subject().unwrap_or_default().trim().to_lowercase();
    // A reply's prefixes first (`Re: 【自动回复】…`, `回复：自动回复：…`).
    while let Some(rest) = REPLY_PREFIXES.iter().find_map(|p| subject.strip_prefix(p)) {
        subject = rest.trim_start().to_string();
    }
    let said_no = header("Auto-Submitted").is_some();
    if let Some(mark) = AUTO_REPLY_SUBJECTS.iter().find(|m| !said_no && subject.starts_with(*m)) {
        return Some(format!("an automatic reply (subject begins {mark:?})"));
    }
    None
}

/// How the subjects of automatic replies begin, lower-cased (Outlook, Foxmail, Coremail, Gmail).
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "自动回复",
    "自动答复",
    "自动应答",
    "自动回覆",
    "[自动回复]",
    "【自动回复】",
    "auto:",
    "autoreply",
    "auto reply",
    "auto-reply",
    "automatic reply",
    "out of office",
    "外出",
    "休假",
    "不在办公室",
    "自動回覆",
    "automatische antwort",
    "réponse automatique",
    "vacation reply",
    "退信",
];

/// Prefixes a reply or forward puts before a subject, lower-cased.
const REPLY_PREFIXES: &[&str] = &["re:", "re：", "回复:", "回复：", "答复:", "答复：", "回覆:", "回覆：", "fw:", "fwd:", "转发:", "转发："];

/// A mail to the appeals address as the appeal form: the sender's address to answer, the
/// subject as the disposal disputed, the text as the reason; the targets are the IP addresses
/// anywhere in subject or text and the domains in the subject (a text's domains are too often
/// signatures and links). `Err` says why it is no appeal.
pub fn appeal_form(raw: &[u8], limits: &MailLimits, require_dkim: bool) -> Result<crate::model::appeal::AppealForm, String> {
    if raw.len() > limits.max_mail_bytes {
        return Err(format!("larger than {} MB", limits.max_mail_bytes >> 20));
    }
    let message = MessageParser::default().parse(raw).ok_or("not an RFC 5322 mail")?;
    let sender = message.from().and_then(|a| a.first()).ok_or("no From address")?;
    let email = sender.address().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).ok_or("no From address")?;
    if require_dkim && !parse_headers(raw).map(|m| m.dkim_pass).unwrap_or(false) {
        return Err(format!("no dkim=pass for {email}"));
    }
    let subject = message.subject().unwrap_or_default().trim().to_string();
    let text: String = message.body_text(0).map(|t| t.chars().take(2000).collect()).unwrap_or_default();
    let own_domain = email.rsplit('@').next().unwrap_or_default().to_ascii_lowercase();
    let mut targets: Vec<String> = Vec::new();
    let words = |s: &str| {
        s.split(|c: char| !(c.is_ascii_alphanumeric() || ".:-".contains(c)))
            .map(|w| w.trim_matches(['.', ':', '-']).to_string())
            .collect::<Vec<_>>()
    };
    for w in words(&subject).into_iter().chain(words(&text)) {
        if w.parse::<std::net::IpAddr>().is_ok() && !targets.contains(&w) {
            targets.push(w);
        }
    }
    for w in words(&subject) {
        let is_domain = w.contains('.') && w.parse::<std::net::IpAddr>().is_err() && w.parse::<crate::model::Domain>().is_ok();
        if is_domain && w.to_ascii_lowercase() != own_domain && !targets.contains(&w) {
            targets.push(w);
        }
    }
    if targets.is_empty() {
        return Err("names no IP address in subject or text and no domain in the subject".into());
    }
    targets.truncate(crate::model::appeal::MAX_TARGETS);
    Ok(crate::model::appeal::AppealForm {
        target: targets.join(" "),
        disposal: if subject.is_empty() { "（邮件未写主题）".into() } else { subject.chars().take(500).collect() },
        reason: if text.trim().is_empty() { "（邮件正文为空）".into() } else { text },
        name: sender
            .name()
            .map(str::to_string)
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| email.clone())
            .chars()
            .take(100)
            .collect(),
        email,
        phone: String::new(),
    })
}

/// Only the headers of a mail (no attachments decoded): what a reply needs for its subject and thread.
pub fn parse_headers(raw: &[u8]) -> Result<Mail, IntakeError> {
    read(raw, false)
}

/// An attachment's bytes as the sender's file held them. A text part (a CSV sent as text/csv)
/// is decoded from its transfer encoding only: mail-parser would also convert its charset,
/// guessing UTF-8 where none is declared and spoiling a GBK file that the form reader decodes.
fn attachment_bytes(part: &mail_parser::MessagePart<'_>, buffer: &[u8]) -> Vec<u8> {
    use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};
    if !matches!(part.body, mail_parser::PartType::Text(_)) {
        return part.contents().to_vec();
    }
    let Some(body) = buffer.get(part.offset_body as usize..part.offset_end as usize) else { return part.contents().to_vec() };
    let decoded = match part.encoding {
        mail_parser::Encoding::Base64 => base64_decode(body),
        mail_parser::Encoding::QuotedPrintable => quoted_printable_decode(body),
        mail_parser::Encoding::None => Some(body.to_vec()),
    };
    decoded.unwrap_or_else(|| part.contents().to_vec())
}

fn read(raw: &[u8], with_attachments: bool) -> Result<Mail, IntakeError> {
    let parser = MessageParser::default();
    let parse = |bytes| if with_attachments { parser.parse(bytes) } else { parser.parse_headers(bytes) };
    let first = parse(raw).ok_or_else(|| IntakeError::new(ErrorCode::NotObject, "邮件", "RFC 5322 格式的邮件", None))?;
    let patched = transcode_8bit_headers(raw, &first);
    let message = match &patched {
        Some(bytes) => parse(bytes.as_slice()).unwrap_or(first),
        None => first,
    };

    let from = message.from().and_then(|a| a.first()).and_then(|a| a.address()).and_then(|a| a.trim().parse::<Email>().ok());
    let references = match message.references() {
        mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
        mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => vec![],
    };
    let dkim_pass = message
        .header_values("Authentication-Results")
        .filter_map(|v| v.as_text())
        .any(|t| t.split(';').any(|clause| clause.trim().to_ascii_lowercase().starts_with("dkim=pass")));

    let buffer = patched.as_deref().unwrap_or(raw);
    let mut attachments = Vec::new();
    for (index, part) in message.parts.iter().enumerate().filter(|_| with_attachments) {
        if index == 0 || part.is_multipart() || part.is_message() {
            continue;
        }
        let is_attachment = part.attachment_name().is_some() || part.content_disposition().is_some_and(|d| d.is_attachment());
        if !is_attachment || part.is_text_html() {
            continue;
        }
        let continued = part.headers.iter().find_map(|h| {
            let field = buffer.get(h.offset_start as usize..h.offset_end as usize)?;
            rfc2231_continued(&String::from_utf8_lossy(field))
        });
        let name = continued.as_deref().or(part.attachment_name()).map(clean_file_name).unwrap_or_else(|| format!("附件{index}"));
        attachments.push(Attachment { part: format!("MIME part {index}"), name, bytes: attachment_bytes(part, buffer) });
    }
    Ok(Mail {
        message_id: message.message_id().map(|m| m.trim_matches(['<', '>']).to_string()),
        from,
        subject: message.subject().unwrap_or_default().trim().to_string(),
        references,
        dkim_pass,
        attachments,
    })
}

/// Header fields with raw 8-bit bytes that are not UTF-8 (QQ Mail's GBK Subject or filename),
/// rewritten as UTF-8 read through GB18030, a superset of GB2312 and GBK. `None` when the mail
/// has none, which is nearly always.
fn transcode_8bit_headers(raw: &[u8], message: &mail_parser::Message<'_>) -> Option<Vec<u8>> {
    let mut spans: Vec<(usize, usize)> = message
        .parts
        .iter()
        .flat_map(|p| p.headers.iter())
        .map(|h| (h.offset_start as usize, h.offset_end as usize))
        .filter(|&(a, b)| a < b && b <= raw.len() && std::str::from_utf8(&raw[a..b]).is_err())
        .collect();
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    spans.dedup();
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 8);
    let mut at = 0;
    for (a, b) in spans {
        if a < at {
            continue;
        }
        out.extend_from_slice(&raw[at..a]);
        let (text, _, _) = encoding_rs::GB18030.decode(&raw[a..b]);
        out.extend_from_slice(text.as_bytes());
        at = b;
    }
    out.extend_from_slice(&raw[at..]);
    Some(out)
}

/// A file name split into RFC 2231 continuations (`filename*0*=gbk''%D4%A4…; filename*1*=…`),
/// joined as bytes before the charset is applied: Outlook cuts through multi-byte characters,
/// so decoding each piece on its own (as mail-parser does) garbles the name. `None` when the
/// header field has no continuations.
fn rfc2231_continued(field: &str) -> Option<String> {
    let unfolded: String = field.split(['\r', '\n']).map(str::trim).collect::<Vec<_>>().join(" ");
    let mut pieces: Vec<(&str, u32, bool, &str)> = Vec::new();
    for param in unfolded.split(';') {
        let Some((key, value)) = param.trim().split_once('=') else { continue };
        let Some((base, rest)) = key.trim().split_once('*') else { continue };
        let (number, extended) = match rest.strip_suffix('*') {
            Some(n) => (n, true),
            None => (rest, false),
        };
        let Ok(number) = number.parse::<u32>() else { continue };
        pieces.push((base, number, extended, value.trim().trim_matches('"')));
    }
    let base = ["filename", "name"].into_iter().find(|b| pieces.iter().any(|p| p.0.eq_ignore_ascii_case(b)))?;
    let mut mine: Vec<_> = pieces.into_iter().filter(|p| p.0.eq_ignore_ascii_case(base)).collect();
    mine.sort_by_key(|p| p.1);
    let mut charset = "utf-8";
    let mut bytes = Vec::new();
    for (i, (_, _, extended, value)) in mine.into_iter().enumerate() {
        let mut value = value;
        if i == 0 && extended {
            let mut parts = value.splitn(3, '\'');
            if let (Some(cs), Some(_lang), Some(v)) = (parts.next(), parts.next(), parts.next()) {
                charset = cs;
                value = v;
            }
        }
        if extended { bytes.extend(percent_decode(value)) } else { bytes.extend_from_slice(value.as_bytes()) }
    }
    let encoding = encoding_rs::Encoding::for_label(charset.as_bytes()).unwrap_or(encoding_rs::UTF_8);
    // GB2312 and GBK labels both mean GB18030's superset here, as mail clients use them loosely.
    let encoding = if encoding == encoding_rs::GBK { encoding_rs::GB18030 } else { encoding };
    Some(encoding.decode(&bytes).0.into_owned())
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(byte) = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// A file name as shown to people: the last path segment only, no control characters, at most
/// 120 characters. Names are labels here, never paths.
fn clean_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = last.chars().filter(|c| !c.is_control()).take(120).collect();
    let clean = clean.trim().trim_start_matches('.').to_string();
    if clean.is_empty() { "附件".to_string() } else { clean }
}

/// The reports of a mail: every form attachment read in order, errors placed at
/// `attachment name › sheet!cell`. Attachments that are no forms (signatures, images) are
/// skipped; a mail without any form is refused as a whole.
pub fn items_of(mail: &Mail, received_at: DateTime<Utc>, limits: &MailLimits) -> Result<Vec<Item>, IntakeError> {
    items_and_notes_of(mail, received_at, limits, &mut vec![])
}

/// Like `items_of`, and adds to `notes` what the forms left out, placed at `attachment › …`.
pub fn items_and_notes_of(
    mail: &Mail,
    received_at: DateTime<Utc>,
    limits: &MailLimits,
    notes: &mut Vec<crate::model::Note>,
) -> Result<Vec<Item>, IntakeError> {
    if mail.attachments.len() > limits.max_attachments {
        return Err(IntakeError::new(
            ErrorCode::TooMany,
            "邮件",
            format!("不超过 {} 个附件", limits.max_attachments),
            Some(mail.attachments.len().to_string()),
        ));
    }
    let mut files: Vec<(String, &[u8])> = Vec::new();
    let mut unzipped: Vec<(String, Vec<u8>)> = Vec::new();
    let mut errors: Vec<Item> = Vec::new();
    let mut budget = limits.max_unzipped_bytes;
    for a in &mail.attachments {
        match file_kind(&a.name, &a.bytes) {
            FileKind::Spreadsheet | FileKind::Json => files.push((a.name.clone(), &a.bytes)),
            FileKind::Zip => match unzip(a, limits, &mut budget) {
                Ok(entries) => unzipped.extend(entries),
                Err(e) => errors.push((a.part.clone(), Err(vec![e]))),
            },
            FileKind::Other => tracing::debug!(part = %a.part, name = %a.name, "attachment is no form; skipped"),
        }
    }
    let all: Vec<(String, &[u8])> = files.into_iter().chain(unzipped.iter().map(|(n, b)| (n.clone(), b.as_slice()))).collect();
    if all.is_empty() && errors.is_empty() {
        let names: Vec<&str> = mail.attachments.iter().map(|a| a.name.as_str()).collect();
        return Err(IntakeError::new(
            ErrorCode::NoForm,
            "邮件附件",
            "至少一个报送表格附件（xlsx、xls、xlsm、ods、csv、json，或装有它们的 zip）",
            Some(if names.is_empty() { "无附件".to_string() } else { names.join("、") }),
        ));
    }
    let mut items = errors;
    for (name, bytes) in all {
        let parsed = if file_kind(&name, bytes) == FileKind::Json {
            json::parse_submission(bytes, received_at)
        } else {
            let (items, found) = crate::forms::parse_with_notes(bytes, &name, received_at, &limits.forms);
            notes.extend(found.into_iter().map(|n| n.within(&name)));
            items
        };
        match parsed {
            Ok(file_items) => {
                items.extend(file_items.into_iter().map(|(ptr, item)| {
                    (format!("{name} › {ptr}"), item.map_err(|errs| errs.into_iter().map(|e| e.within(&name)).collect()))
                }))
            }
            Err(e) => items.push((name.clone(), Err(vec![e.within(&name)]))),
        }
    }
    Ok(items)
}

/// The forms inside a zip attachment, one level deep, within the entry and size limits. The
/// sizes the archive declares are checked before anything is inflated, and reading stops at
/// the budget whatever they said.
fn unzip(a: &Attachment, limits: &MailLimits, budget: &mut u64) -> Result<Vec<(String, Vec<u8>)>, IntakeError> {
    let place = format!("{}（{}）", a.name, a.part);
    let bad = |expected: String, found: String| IntakeError::new(ErrorCode::TooLarge, place.clone(), expected, Some(found));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&a.bytes))
        .map_err(|e| IntakeError::new(ErrorCode::WrongType, place.clone(), "可以打开的 zip 压缩包", Some(e.to_string())))?;
    if archive.len() > limits.max_zip_entries {
        return Err(bad(format!("压缩包内不超过 {} 个文件", limits.max_zip_entries), archive.len().to_string()));
    }
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| IntakeError::new(ErrorCode::WrongType, place.clone(), "可以解压的 zip 条目", Some(e.to_string())))?;
        if entry.is_dir() {
            continue;
        }
        // Archives made on Chinese Windows carry GBK names without the UTF-8 flag.
        let raw_name = entry.name_raw();
        let decoded = match std::str::from_utf8(raw_name) {
            Ok(s) => s.to_string(),
            Err(_) => encoding_rs::GB18030.decode(raw_name).0.into_owned(),
        };
        let name = clean_file_name(&decoded);
        if matches!(file_kind(&name, &[]), FileKind::Other | FileKind::Zip) {
            continue;
        }
        if entry.size() > *budget {
            return Err(bad(format!("解压后合计不超过 {} MB", limits.max_unzipped_bytes >> 20), format!("{name}：{} 字节", entry.size())));
        }
        let mut bytes = Vec::new();
        (&mut entry)
            .take(*budget + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| IntakeError::new(ErrorCode::WrongType, place.clone(), "可以解压的 zip 条目", Some(e.to_string())))?;
        if bytes.len() as u64 > *budget {
            return Err(bad(format!("解压后合计不超过 {} MB", limits.max_unzipped_bytes >> 20), name));
        }
        *budget -= bytes.len() as u64;
        out.push((format!("{} › {name}", a.name), bytes));
    }
    Ok(out)
}

/// The dedupe key of a mail: its Message-ID and the hashes of its attachments, so a resent mail
/// with other forms is new, and the same mail fetched twice is not. Without a Message-ID, the
/// hash of the whole mail.
pub fn dedupe_key(mail: &Mail, raw: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    // The same forms from the same sender are one submission, whatever Message-ID the mail
    // carries: a clerk who resends (a new Message-ID) gets the receipt again, not a second copy
    // of every report.
    match (&mail.from, mail.attachments.is_empty()) {
        (Some(from), false) => {
            let mut h = Sha256::new();
            for a in &mail.attachments {
                h.update(Sha256::digest(&a.bytes));
            }
            format!("email:{}:{}", from.as_str().to_lowercase(), hex::encode(h.finalize()))
        }
        _ => format!("email:sha256:{}", crate::model::submission::sha256_hex(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/mail/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn foxmail_gb2312_encoded_words_in_quoted_parameters() {
        let m = parse_mail(&fixture("foxmail-gb2312.eml")).unwrap();
        assert_eq!(m.from.unwrap().as_str(), "soc@ct-gd.tongbao.test");
        assert_eq!(m.subject, "【事件报送】广东电信 2026年9月23日 重大事件");
        assert_eq!(m.message_id.as_deref(), Some("202609231020311150921@ct-gd.tongbao.test"));
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].name, "事件信息报送表-广东电信.xlsx");
        assert!(m.attachments[0].bytes.starts_with(b"PK\x03\x04"));
    }

    #[test]
    fn outlook_rfc2231_gbk_continuations_and_folded_subject() {
        let m = parse_mail(&fixture("outlook-rfc2231.eml")).unwrap();
        assert_eq!(m.from.unwrap().as_str(), "soc@ct-gd.tongbao.test", "addresses compare case-blind");
        assert_eq!(m.subject, "预警报送：某型号路由器远程命令执行漏洞（四级）");
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].name, "预警信息报送表（广东电信网络安全应急响应中心手工整理版本）-2026年9月23日.xlsx");
    }

    #[test]
    fn qq_raw_gbk_headers_and_a_zip_of_forms() {
        let m = parse_mail(&fixture("qq-raw-gbk.eml")).unwrap();
        assert_eq!(m.subject, "僵尸网络事件报送 2026年9月");
        let names: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["僵尸网络事件报送（含受控IP）.xlsx", "表格打包.zip"]);
        let items = items_of(&m, Utc::now(), &MailLimits::default()).unwrap();
        assert!(
            items.iter().any(|(p, _)| p.starts_with("表格打包.zip › 事件-GBK.csv")),
            "{:?}",
            items.iter().map(|i| &i.0).collect::<Vec<_>>()
        );
    }

    #[test]
    fn rfc2231_single_and_continued_names() {
        assert_eq!(rfc2231_continued("attachment; filename=\"a.xlsx\""), None);
        assert_eq!(
            rfc2231_continued("attachment;\r\n\tfilename*0*=gbk''%D4%A4%BE;\r\n\tfilename*1*=%AF.xlsx").as_deref(),
            Some("预警.xlsx")
        );
        let raw = b"From: a@b.cn\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=gbk''%D4%A4%BE%AF.xlsx\r\n\r\nPK\r\n--z--\r\n";
        assert_eq!(parse_mail(raw).unwrap().attachments[0].name, "预警.xlsx");
    }

    #[test]
    fn headers_alone_give_the_same_subject_and_thread() {
        for f in ["foxmail-gb2312.eml", "outlook-rfc2231.eml", "qq-raw-gbk.eml"] {
            let (full, head) = (parse_mail(&fixture(f)).unwrap(), parse_headers(&fixture(f)).unwrap());
            assert_eq!((full.subject, full.message_id, full.references), (head.subject, head.message_id, head.references), "{f}");
            assert!(head.attachments.is_empty());
        }
    }

    #[test]
    fn a_file_name_is_never_a_path() {
        let m = parse_mail(&fixture("stranger.eml")).unwrap();
        assert_eq!(m.attachments[0].name, "passwd.xlsx");
        assert_eq!(clean_file_name("..\\..\\a.xlsx"), "a.xlsx");
        assert_eq!(clean_file_name("../.."), "附件");
    }

    #[test]
    fn errors_are_placed_at_attachment_sheet_and_cell() {
        let m = parse_mail(&fixture("foxmail-gb2312.eml")).unwrap();
        let items = items_of(&m, Utc::now(), &MailLimits::default()).unwrap();
        let errors: Vec<IntakeError> = items.into_iter().filter_map(|(_, r)| r.err()).flatten().collect();
        assert!(!errors.is_empty());
        assert!(errors.iter().all(|e| e.place.starts_with("事件信息报送表-广东电信.xlsx › 事件表!")), "{errors:?}");
        assert!(errors[0].message.starts_with("事件信息报送表-广东电信.xlsx › 事件表!"));
    }

    #[test]
    fn a_mail_without_forms_is_refused_naming_what_it_had() {
        let raw = b"From: a@b.cn\r\nSubject: hi\r\nMessage-ID: <x@b.cn>\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\nhello\r\n--z\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=logo.png\r\n\r\nPNG\r\n--z--\r\n";
        let m = parse_mail(raw).unwrap();
        let e = items_of(&m, Utc::now(), &MailLimits::default()).unwrap_err();
        assert_eq!(e.code, ErrorCode::NoForm);
        assert_eq!(e.found.as_deref(), Some("logo.png"));
    }

    #[test]
    fn zip_bombs_stop_at_the_budget() {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            z.start_file("big.csv", zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut z, &vec![b'a'; 3 << 20]).unwrap();
            z.finish().unwrap();
        }
        let mail = Mail {
            message_id: None,
            from: None,
            subject: String::new(),
            references: vec![],
            dkim_pass: false,
            attachments: vec![Attachment { part: "MIME part 2".into(), name: "bomb.zip".into(), bytes: buf.into_inner() }],
        };
        let limits = MailLimits { max_unzipped_bytes: 1 << 20, ..Default::default() };
        let items = items_of(&mail, Utc::now(), &limits).unwrap();
        let e = &items[0].1.as_ref().unwrap_err()[0];
        assert_eq!(e.code, ErrorCode::TooLarge);
        assert!(e.place.contains("bomb.zip（MIME part 2）"), "{e:?}");
    }

    #[test]
    fn dedupe_key_changes_with_the_attachments_not_with_refetching() {
        let raw = fixture("foxmail-gb2312.eml");
        let a = parse_mail(&raw).unwrap();
        assert_eq!(dedupe_key(&a, &raw), dedupe_key(&parse_mail(&raw).unwrap(), &raw));
        let mut b = a.clone();
        b.attachments[0].bytes.push(0);
        assert_ne!(dedupe_key(&a, &raw), dedupe_key(&b, &raw));
    }

    #[test]
    fn dkim_pass_is_read_from_authentication_results() {
        let raw = b"Authentication-Results: mx.cncert.cn; spf=pass smtp.mailfrom=b.cn; dkim=pass header.d=b.cn\r\nFrom: a@b.cn\r\n\r\nx";
        assert!(parse_mail(raw).unwrap().dkim_pass);
        let raw = b"Authentication-Results: mx.cncert.cn; dkim=fail header.d=b.cn\r\nFrom: a@b.cn\r\n\r\nx";
        assert!(!parse_mail(raw).unwrap().dkim_pass);
    }
}
