//! People who log in to the console, and the role that bounds what each may see and do.

use super::{Province, UnitCode};
use std::fmt;
use std::str::FromStr;

/// What a console user is: CNCERT's and CSB's staff see everything; a bureau (通信管理局) its
/// province's reports and what is addressed to it; a unit its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    Cncert,
    Csb,
    Bureau(Province),
    Unit(UnitCode),
}

impl Role {
    /// Sees every unit's and every province's data.
    pub fn sees_all(&self) -> bool {
        matches!(self, Role::Cncert | Role::Csb)
    }

    /// The unit this role acts for, if it is a unit's.
    pub fn unit(&self) -> Option<&UnitCode> {
        match self {
            Role::Unit(u) => Some(u),
            _ => None,
        }
    }

    /// The province this role oversees, if it is a bureau's.
    pub fn province(&self) -> Option<Province> {
        match self {
            Role::Bureau(p) => Some(*p),
            _ => None,
        }
    }

    /// How the role is named on pages.
    pub fn label_zh(&self) -> String {
        match self {
            Role::Cncert => "国家互联网应急中心".to_string(),
            Role::Csb => "通信保障局".to_string(),
            Role::Bureau(p) => format!("{}通信管理局", p.short_zh()),
            Role::Unit(u) => format!("单位 {u}"),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Cncert => f.write_str("cncert"),
            Role::Csb => f.write_str("csb"),
            Role::Bureau(p) => write!(f, "bureau:{}", p.code()),
            Role::Unit(u) => write!(f, "unit:{u}"),
        }
    }
}

/// Why a role or a user name was refused, in Chinese (the CLI and the console show it).
impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        let bad = || format!("角色应为 cncert、csb、bureau:省份代码（如 bureau:GD）或 unit:单位代码（如 unit:CT-GD），而不是 {s:?}");
        match s.trim() {
            "cncert" => Ok(Role::Cncert),
            "csb" => Ok(Role::Csb),
            other => match other.split_once(':') {
                Some(("bureau", p)) => p.parse().map(Role::Bureau).map_err(|_| bad()),
                Some(("unit", u)) => u.parse().map(Role::Unit).map_err(|_| bad()),
                _ => Err(bad()),
            },
        }
    }
}

/// A console login name: 1–64 letters, digits, `.`, `_`, `-` or `@`, kept lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UserName {
    type Err = String;
    fn from_str(s: &str) -> Result<UserName, String> {
        let ok = (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
        if ok {
            Ok(UserName(s.to_ascii_lowercase()))
        } else {
            Err(format!("用户名应为 1–64 个英文字母、数字、.、_、- 或 @，而不是 {s:?}"))
        }
    }
}

/// A console user as stored: the password only as its argon2 hash.
#[derive(Debug, Clone)]
pub struct User {
    pub name: UserName,
    pub role: Role,
    pub password_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_print_alike() {
        for r in ["cncert", "csb", "bureau:GD", "unit:CT-GD"] {
            assert_eq!(r.parse::<Role>().unwrap().to_string(), r);
        }
        assert_eq!("bureau:gd".parse::<Role>().unwrap(), Role::Bureau(Province::Guangdong));
        for bad in ["", "admin", "bureau:", "bureau:XX", "unit:", "unit:a b", "cncert:x"] {
            assert!(bad.parse::<Role>().is_err(), "{bad}");
        }
    }

    #[test]
    fn user_names_are_plain_and_lower_case() {
        assert_eq!("Zhang.San@GD".parse::<UserName>().unwrap().as_str(), "zhang.san@gd");
        for bad in ["", "a b", "张三", "<script>", &"x".repeat(65)] {
            assert!(bad.parse::<UserName>().is_err(), "{bad}");
        }
    }
}
