//! Identifier and network-value newtypes: unit codes, record ids, ports, domains, e-mail addresses, months.

use super::{ParseError, fold_width, receipt::ErrorCode, string_serde};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The registered code of a reporting unit: 1–64 ASCII letters, digits, `-`, `_` or `.`, kept upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitCode(String);

impl UnitCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UnitCode {
    type Err = ParseError;
    fn from_str(input: &str) -> Result<Self, ParseError> {
        let s = fold_width(input);
        let ok = (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok {
            Ok(UnitCode(s.to_ascii_uppercase()))
        } else {
            Err(ParseError::new(ErrorCode::BadUnitCode, "单位代码：1–64 个英文字母、数字、-、_ 或 .", input))
        }
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(UnitCode, "UnitCode", "单位代码");

/// A UUIDv7 minted at the hub clock's now (`crate::clock`), so that a hub on a simulated clock
/// dates its rows by that clock too (the outbox tells a row's age by its id); counted, so ids
/// minted in one millisecond still sort by creation.
fn v7_now() -> uuid::Uuid {
    if crate::clock::is_system() {
        return uuid::Uuid::now_v7();
    }
    static CONTEXT: std::sync::Mutex<uuid::timestamp::context::ContextV7> =
        std::sync::Mutex::new(uuid::timestamp::context::ContextV7::new());
    let now = crate::clock::now();
    let context = CONTEXT.lock().unwrap_or_else(|p| p.into_inner());
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(&*context, secs, now.timestamp_subsec_nanos()))
}

macro_rules! uuid_id {
    ($ty:ident, $name:literal, $desc:literal) => {
        #[doc = $desc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(uuid::Uuid);

        impl $ty {
            /// A new time-ordered id (UUIDv7), so ids sort by creation.
            pub fn new() -> Self {
                $ty(v7_now())
            }
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
            /// The id a stored uuid names.
            pub fn from_uuid(id: uuid::Uuid) -> Self {
                $ty(id)
            }
            /// The nil id: a placeholder for something not given its id yet.
            pub fn nil() -> Self {
                $ty(uuid::Uuid::nil())
            }
        }

        impl Default for $ty {
            fn default() -> Self {
                Self::new()
            }
        }

        impl FromStr for $ty {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                uuid::Uuid::parse_str(s.trim())
                    .map($ty)
                    .map_err(|_| ParseError::new(ErrorCode::BadId, concat!($desc, "：UUID，如 0192f3c4-…"), s))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
        string_serde!($ty, $name, $desc);
    };
}

uuid_id!(ReportId, "ReportId", "报告编号");
uuid_id!(SubmissionId, "SubmissionId", "报送编号");
uuid_id!(ObligationId, "ObligationId", "义务编号");
uuid_id!(OutboxId, "OutboxId", "发件编号");
uuid_id!(AppealId, "AppealId", "申诉编号");

/// A TCP/UDP port, 1–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema)]
pub struct Port(#[schemars(range(min = 1))] u16);

impl Port {
    pub fn new(n: i64) -> Result<Port, ParseError> {
        u16::try_from(n)
            .ok()
            .filter(|&p| p != 0)
            .map(Port)
            .ok_or_else(|| ParseError::new(ErrorCode::BadPort, "端口号：1–65535 的整数", n.to_string()))
    }
    pub fn get(self) -> u16 {
        self.0
    }
}

impl FromStr for Port {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let f = fold_width(s);
        f.parse::<i64>().map_err(|_| ParseError::new(ErrorCode::BadPort, "端口号：1–65535 的整数", s)).and_then(Port::new)
    }
}

impl<'de> serde::Deserialize<'de> for Port {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Port::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A domain name, lower-case, without a trailing dot; labels of letters (any script), digits and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Domain {
    type Err = ParseError;
    fn from_str(input: &str) -> Result<Self, ParseError> {
        let s = fold_width(input).replace('。', ".").to_lowercase();
        let s = s.strip_suffix('.').unwrap_or(&s);
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        };
        let labels: Vec<&str> = s.split('.').collect();
        // A name whose last label is all digits is no host name (999.1.1.1 is a bad address).
        let numeric_tld = labels.last().is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()));
        if s.len() <= 253 && labels.len() >= 2 && labels.iter().all(|l| label_ok(l)) && !numeric_tld && s.parse::<IpAddr>().is_err() {
            Ok(Domain(s.to_string()))
        } else {
            Err(ParseError::new(ErrorCode::BadDomain, "域名，如 evil.example.cn", input))
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(Domain, "Domain", "域名");

/// What a disposal or verification is about: one IP address or one malicious domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Ip(IpAddr),
    Domain(Domain),
}

impl FromStr for Target {
    type Err = ParseError;
    fn from_str(input: &str) -> Result<Self, ParseError> {
        let s = fold_width(input);
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Target::Ip(ip));
        }
        s.parse::<Domain>().map(Target::Domain).map_err(|_| ParseError::new(ErrorCode::BadTarget, "IP 地址或域名", input))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Ip(ip) => ip.fmt(f),
            Target::Domain(d) => d.fmt(f),
        }
    }
}
string_serde!(Target, "Target", "IP 地址或域名");

/// An e-mail address, checked for one `@` with text on both sides and no spaces; the domain is lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = ParseError;
    fn from_str(input: &str) -> Result<Self, ParseError> {
        let s = fold_width(input);
        // One spelling per mailbox, so an address cannot be claimed again under another one
        // (`"noc"@x.cn`, `noc@[x.cn]`, `<noc@x.cn>`, a trailing dot, a zero-width space): the
        // local part is a plain dot-atom, the domain a host name whose trailing dot is dropped.
        let atom = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
        let parsed = s.split_once('@').and_then(|(local, domain)| {
            let local_ok =
                !local.is_empty() && local.len() <= 64 && local.split('.').all(|part| !part.is_empty() && part.chars().all(atom));
            let domain = domain.parse::<Domain>().ok().filter(|d| d.as_str().is_ascii())?;
            local_ok.then(|| format!("{local}@{domain}"))
        });
        match parsed {
            // Compared case-blind, as every mail system in use does: SOC@X.CN is soc@x.cn.
            Some(address) => Ok(Email(address.to_lowercase())),
            None => Err(ParseError::new(ErrorCode::BadEmail, "电子邮件地址，如 soc@example.cn", input)),
        }
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(Email, "Email", "电子邮件地址");

/// A calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YearMonth {
    year: i32,
    month: u32,
}

impl YearMonth {
    pub fn new(year: i32, month: u32) -> Option<YearMonth> {
        ((1..=12).contains(&month) && (1900..=9999).contains(&year)).then_some(YearMonth { year, month })
    }
    pub fn year(self) -> i32 {
        self.year
    }
    pub fn month(self) -> u32 {
        self.month
    }
    pub fn of(date: chrono::NaiveDate) -> YearMonth {
        use chrono::Datelike;
        YearMonth { year: date.year(), month: date.month() }
    }
    pub fn next(self) -> YearMonth {
        if self.month == 12 { YearMonth { year: self.year + 1, month: 1 } } else { YearMonth { year: self.year, month: self.month + 1 } }
    }
    /// The month before; like `next`, defined for every month (1900-01 has 1899-12 before it).
    pub fn previous(self) -> YearMonth {
        if self.month == 1 { YearMonth { year: self.year - 1, month: 12 } } else { YearMonth { year: self.year, month: self.month - 1 } }
    }
    pub fn first_day(self) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("validated month")
    }
}

impl FromStr for YearMonth {
    type Err = ParseError;
    /// Accepts `2026-09`, `2026/9`, `2026.09`, `2026年9月`.
    fn from_str(input: &str) -> Result<Self, ParseError> {
        let s = fold_width(input);
        let parts: Vec<&str> = s.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [y, m] if y.len() == 4 => y.parse().ok().zip(m.parse().ok()).and_then(|(y, m)| YearMonth::new(y, m)),
            _ => None,
        }
        .ok_or_else(|| ParseError::new(ErrorCode::BadMonth, "月份：YYYY-MM，如 2026-09", input))
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}
string_serde!(YearMonth, "YearMonth", "月份 YYYY-MM");

impl ObligationId {
    /// The id of a once-per-period obligation, derived from its key so every report that
    /// creates it names the same row.
    pub fn from_key(key: &str) -> ObligationId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        ObligationId(uuid::Uuid::new_v8(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_codes_are_checked_and_upper_cased() {
        assert_eq!("ct-gd".parse::<UnitCode>().unwrap().as_str(), "CT-GD");
        assert!("".parse::<UnitCode>().is_err());
        assert!("has space".parse::<UnitCode>().is_err());
        assert!("单位".parse::<UnitCode>().is_err());
    }

    #[test]
    fn domains_accept_idn_labels_and_refuse_ips_and_junk() {
        assert_eq!("Evil.Example.CN.".parse::<Domain>().unwrap().as_str(), "evil.example.cn");
        assert!("例子.中国".parse::<Domain>().is_ok());
        assert!("1.2.3.4".parse::<Domain>().is_err());
        assert!("nodot".parse::<Domain>().is_err());
        assert!("-bad.cn".parse::<Domain>().is_err());
        assert!("a b.cn".parse::<Domain>().is_err());
    }

    #[test]
    fn targets_ports_months_and_emails() {
        assert_eq!("10.0.0.1".parse::<Target>().unwrap(), Target::Ip("10.0.0.1".parse().unwrap()));
        assert!(matches!("c2.example.com".parse::<Target>().unwrap(), Target::Domain(_)));
        assert!(Port::new(0).is_err() && Port::new(65536).is_err() && Port::new(443).is_ok());
        assert_eq!("2026年9月".parse::<YearMonth>().unwrap().to_string(), "2026-09");
        assert_eq!("2026-12".parse::<YearMonth>().unwrap().next().to_string(), "2027-01");
        assert!("2026-13".parse::<YearMonth>().is_err());
        assert_eq!("Soc@Example.CN".parse::<Email>().unwrap().as_str(), "soc@example.cn");
        assert!("no-at-sign".parse::<Email>().is_err());
    }
}
