//! The parties an obligation or notice names: CSB, CNCERT, a province's bureau, all bureaus, a unit.

use super::{ParseError, Province, UnitCode, receipt::ErrorCode, string_serde};
use std::fmt;
use std::str::FromStr;

/// Who must act, or who receives. Written as `csb`, `cncert`, `bureau:GD`, `bureaus:all`,
/// `bureaus:concerned`, `unit:CODE`, `units:concerned`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Party {
    /// 工业和信息化部通信保障局
    Csb,
    /// 国家计算机网络应急技术处理协调中心
    Cncert,
    /// One province's 通信管理局.
    Bureau(Province),
    /// 各通信管理局 (all 31).
    AllBureaus,
    /// 相关通信管理局, when the provinces are not yet known (e.g. `tongbao deadline` without `--province`).
    BureausConcerned,
    Unit(UnitCode),
    /// 相关单位: the units a notice concerns, resolved when the notice is written.
    UnitsConcerned,
}

impl Party {
    /// False for "the bureaus / units concerned", which must be resolved before anything is sent.
    pub fn is_concrete(&self) -> bool {
        !matches!(self, Party::BureausConcerned | Party::UnitsConcerned)
    }

    pub fn label_zh(&self) -> String {
        match self {
            Party::Csb => "通信保障局".into(),
            Party::Cncert => "CNCERT".into(),
            Party::Bureau(p) => p.bureau_zh(),
            Party::AllBureaus => "各通信管理局".into(),
            Party::BureausConcerned => "相关通信管理局".into(),
            Party::Unit(u) => format!("单位 {u}"),
            Party::UnitsConcerned => "相关单位".into(),
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Party::Csb => f.write_str("csb"),
            Party::Cncert => f.write_str("cncert"),
            Party::Bureau(p) => write!(f, "bureau:{p}"),
            Party::AllBureaus => f.write_str("bureaus:all"),
            Party::BureausConcerned => f.write_str("bureaus:concerned"),
            Party::Unit(u) => write!(f, "unit:{u}"),
            Party::UnitsConcerned => f.write_str("units:concerned"),
        }
    }
}

impl FromStr for Party {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new(ErrorCode::BadParty, "csb、cncert、bureau:省份、bureaus:all、unit:单位代码 之一", s);
        Ok(match s {
            "csb" => Party::Csb,
            "cncert" => Party::Cncert,
            "bureaus:all" => Party::AllBureaus,
            "bureaus:concerned" => Party::BureausConcerned,
            "units:concerned" => Party::UnitsConcerned,
            _ => match s.split_once(':') {
                Some(("bureau", p)) => Party::Bureau(p.parse().map_err(|_| bad())?),
                Some(("unit", u)) => Party::Unit(u.parse().map_err(|_| bad())?),
                _ => return Err(bad()),
            },
        })
    }
}
string_serde!(Party, "Party", "当事方：csb、cncert、bureau:GD、bureaus:all、unit:代码 等");
