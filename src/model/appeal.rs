//! User appeals (Art. 11 [僵尸机制]): a subscriber or domain holder, with no account, disputes a disposal of an address or domain and is owed an answer.
//!
//! Everything here comes from the public, so every field is bounded, stripped of control
//! characters and checked before anything is stored; refusals name the form field.

use super::{AppealId, Email, ErrorCode, IntakeError, Target, UnitCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The most targets one appeal may name: a user disputes their own few addresses, not a range.
pub const MAX_TARGETS: usize = 20;
const MAX_NAME: usize = 100;
const MAX_DISPOSAL: usize = 500;
const MAX_REASON: usize = 2000;

/// How the appeal reached the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppealChannel {
    /// The public appeal page.
    Web,
    /// The appeals mailbox.
    Email,
}

/// The fields of an appeal as the user typed them (the page's form, or what a mail gave).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AppealForm {
    /// IP addresses or domains, separated by spaces, commas, 、 or new lines.
    pub target: String,
    /// The disposal disputed: what was done (blocked, taken down…) and by whom, if known.
    pub disposal: String,
    pub reason: String,
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// A checked appeal, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserAppeal {
    pub id: AppealId,
    pub received_at: DateTime<Utc>,
    pub channel: AppealChannel,
    pub targets: Vec<Target>,
    pub disposal: String,
    pub reason: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The units answerable for the targets (from the ownership file); CNCERT always answers too.
    pub units: Vec<UnitCode>,
}

/// Where an appeal stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AppealAnswer {
    /// `cncert` or the answering unit's code.
    pub by: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

impl UserAppeal {
    /// Checks a form; every problem is reported at once, each at its field.
    pub fn from_form(form: &AppealForm, channel: AppealChannel, received_at: DateTime<Utc>) -> Result<UserAppeal, Vec<IntakeError>> {
        let mut errors = Vec::new();
        let mut text = |field: &str, label: &str, value: &str, max: usize, required: bool| -> String {
            let clean = plain_text(value);
            if required && clean.is_empty() {
                errors.push(IntakeError::new(ErrorCode::EmptyText, field, format!("{label}（必填）"), None));
            } else if clean.chars().count() > max {
                errors.push(IntakeError::new(
                    ErrorCode::TooLarge,
                    field,
                    format!("{label}不超过 {max} 字"),
                    Some(format!("{} 字", clean.chars().count())),
                ));
            }
            clean
        };
        // One-line fields keep no line breaks: they go into mail headers and single lines.
        let disposal = text("disposal", "被处置的情况", &one_line(&form.disposal), MAX_DISPOSAL, true);
        let reason = text("reason", "申诉理由", &form.reason, MAX_REASON, true);
        let name = text("name", "申诉人姓名或单位", &one_line(&form.name), MAX_NAME, true);
        let targets = targets(&form.target, &mut errors);
        let email = match plain_text(&form.email) {
            e if e.is_empty() => None,
            e => match e.parse::<Email>() {
                Ok(e) => Some(e),
                Err(p) => {
                    errors.push(IntakeError::new(ErrorCode::BadEmail, "email", p.expected, Some(e)));
                    None
                }
            },
        };
        let phone = match plain_text(&form.phone) {
            p if p.is_empty() => None,
            p if is_phone(&p) => Some(p),
            p => {
                errors.push(IntakeError::new(ErrorCode::WrongType, "phone", "电话号码（数字，可含 +、-、空格和括号，5–30 位）", Some(p)));
                None
            }
        };
        if email.is_none() && phone.is_none() && !errors.iter().any(|e| e.place == "email" || e.place == "phone") {
            errors.push(IntakeError::new(ErrorCode::MissingField, "email", "电子邮箱或电话号码，至少一项，以便答复", None));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(UserAppeal { id: AppealId::new(), received_at, channel, targets, disposal, reason, name, email, phone, units: Vec::new() })
    }

    /// The address or number the per-contact limit counts appeals by.
    pub fn contact_key(&self) -> String {
        match (&self.email, &self.phone) {
            (Some(e), _) => format!("email:{}", fold_mailbox(e.as_str())),
            (None, Some(p)) => {
                // One number however it is written: 13900000099, 139-0000-0099, +86 139 0000 0099.
                let digits: String = p.chars().filter(char::is_ascii_digit).collect();
                let national = match digits.strip_prefix("0086").or_else(|| digits.strip_prefix("86").filter(|d| d.len() >= 9)) {
                    Some(rest) if rest.len() == 11 && rest.starts_with('1') => rest.to_string(), // a mobile
                    Some(rest) => format!("0{rest}"),                                            // a landline: 0 + area code
                    None => digits.clone(),
                };
                format!("phone:{national}")
            }
            (None, None) => "none".into(),
        }
    }

    pub fn targets_zh(&self) -> String {
        self.targets.iter().map(ToString::to_string).collect::<Vec<_>>().join("、")
    }
}

/// The targets a field names, each checked; at least one, at most `MAX_TARGETS`.
fn targets(field: &str, errors: &mut Vec<IntakeError>) -> Vec<Target> {
    let words: Vec<&str> = field.split(|c: char| c.is_whitespace() || ",，、;；\u{3000}".contains(c)).filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        errors.push(IntakeError::new(ErrorCode::MissingField, "target", "被处置的 IP 地址或域名（必填）", None));
        return Vec::new();
    }
    if words.len() > MAX_TARGETS {
        errors.push(IntakeError::new(
            ErrorCode::TooMany,
            "target",
            format!("不超过 {MAX_TARGETS} 个 IP 地址或域名"),
            Some(format!("{} 个", words.len())),
        ));
        return Vec::new();
    }
    let mut out: Vec<Target> = Vec::new();
    for w in words {
        match w.parse::<Target>() {
            Ok(t) if !out.contains(&t) => out.push(t),
            Ok(_) => {}
            Err(p) => errors.push(IntakeError::new(ErrorCode::BadTarget, "target", p.expected, Some(w.chars().take(80).collect()))),
        }
    }
    out
}

/// Text as people may read it: no control characters but line breaks, trimmed.
pub fn plain_text(s: &str) -> String {
    s.chars().filter(|c| !c.is_control() || *c == '\n').collect::<String>().trim().to_string()
}

fn one_line(s: &str) -> String {
    s.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect()
}

/// A telephone number as people write one: digits, with +, -, spaces and brackets, 5–30 digits.
pub fn is_phone(p: &str) -> bool {
    let digits = p.chars().filter(char::is_ascii_digit).count();
    (5..=30).contains(&digits) && p.chars().all(|c| c.is_ascii_digit() || "+-() ".contains(c))
}

/// Whether `address` is at the domain of `of` (another address) or one of its subdomains:
/// `x@mail.cncert.cn` is within `tongbao@cncert.cn`'s.
pub fn within_domain_of(address: &str, of: &str) -> bool {
    let domain = |a: &str| fold_mailbox(a).rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
    let (d, of) = (domain(address), domain(of));
    !of.is_empty() && (d == of || d.ends_with(&format!(".{of}")))
}

/// One mailbox however it is written: case and width folded, a `+tag` of the local part and a
/// trailing dot of the domain dropped (`Zhang+1@Ｅxample。cn.` and `zhang@example.cn` are one).
pub fn fold_mailbox(address: &str) -> String {
    // Full-width letters and the ideographic full stops read as what they look like.
    let lower = super::fold_width(address).replace(['。', '．', '｡'], ".").to_lowercase();
    match lower.rsplit_once('@') {
        // A domain's trailing dot (the DNS root) names the same domain.
        Some((local, domain)) => format!("{}@{}", local.split('+').next().unwrap_or(local), domain.trim_end_matches('.')),
        None => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_is_one_however_it_is_spelled() {
        for spelled in [
            "Tongbao+x@CNCERT.example.cn.",
            "tongbao@ｃｎｃｅｒｔ.example.cn",
            "tongbao@cncert.example.cn。",
            " TONGBAO@cncert．example.cn ",
        ] {
            assert_eq!(fold_mailbox(spelled), "tongbao@cncert.example.cn", "{spelled}");
        }
        assert!(within_domain_of("x@mail。ｃｎｃｅｒｔ.example.cn", "tongbao@cncert.example.cn"));
        assert!(!within_domain_of("x@notcncert.example.cn", "tongbao@cncert.example.cn"));
    }

    fn form() -> AppealForm {
        AppealForm {
            target: "203.0.113.7".into(),
            disposal: "家宽线路被封堵".into(),
            reason: "该地址为本人家庭路由器，已查杀木马".into(),
            name: "张三".into(),
            email: "zhang@example.cn".into(),
            phone: String::new(),
        }
    }

    #[test]
    fn an_appeal_needs_a_target_a_disposal_a_reason_a_name_and_a_way_to_answer() {
        let ok = UserAppeal::from_form(&form(), AppealChannel::Web, Utc::now()).expect("valid");
        assert_eq!(ok.targets_zh(), "203.0.113.7");
        let errors = UserAppeal::from_form(&AppealForm::default(), AppealChannel::Web, Utc::now()).expect_err("empty");
        let places: Vec<&str> = errors.iter().map(|e| e.place.as_str()).collect();
        assert_eq!(places, ["disposal", "reason", "name", "target", "email"]);
    }

    #[test]
    fn targets_are_checked_one_by_one_and_bounded() {
        let bad = AppealForm { target: "203.0.113.7、bad!host, example.cn；http://x".into(), ..form() };
        let errors = UserAppeal::from_form(&bad, AppealChannel::Web, Utc::now()).expect_err("bad target");
        assert_eq!(errors.iter().map(|e| (e.code, e.place.as_str())).collect::<Vec<_>>(), [(ErrorCode::BadTarget, "target"); 2]);
        assert_eq!(errors[0].found.as_deref(), Some("bad!host"));
        let many = AppealForm { target: (1..=21).map(|i| format!("198.51.100.{i}")).collect::<Vec<_>>().join(" "), ..form() };
        let errors = UserAppeal::from_form(&many, AppealChannel::Web, Utc::now()).expect_err("too many");
        assert_eq!(errors[0].code, ErrorCode::TooMany);
    }

    #[test]
    fn control_characters_are_dropped_and_a_bad_phone_is_named() {
        let f = AppealForm { reason: "a\u{0}b\u{1b}[31m".into(), email: String::new(), phone: "call me".into(), ..form() };
        let errors = UserAppeal::from_form(&f, AppealChannel::Web, Utc::now()).expect_err("bad phone");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].place, "phone");
        let f = AppealForm { reason: "a\u{0}b".into(), email: String::new(), phone: "+86 10-8888 8888".into(), ..form() };
        let ok = UserAppeal::from_form(&f, AppealChannel::Web, Utc::now()).expect("valid");
        assert_eq!(ok.reason, "ab");
        assert_eq!(ok.contact_key(), "phone:01088888888", "+86 10 is 010");
        for p in ["13900000099", "139-0000-0099", "+86 139 0000 0099", "0086 13900000099"] {
            let f = AppealForm { email: String::new(), phone: p.into(), ..form() };
            assert_eq!(UserAppeal::from_form(&f, AppealChannel::Web, Utc::now()).unwrap().contact_key(), "phone:13900000099", "{p}");
        }
        let f = AppealForm { name: "c\r\nBcc: v@y.org".into(), target: "999.1.1.1".into(), ..form() };
        let errors = UserAppeal::from_form(&f, AppealChannel::Web, Utc::now()).expect_err("not an address");
        assert_eq!(errors[0].place, "target");
        let f = AppealForm { name: "c\r\nBcc: v@y.org".into(), ..form() };
        assert!(!UserAppeal::from_form(&f, AppealChannel::Web, Utc::now()).unwrap().name.contains('\n'));
    }
}
