//! Event grades (特别重大 … 一般) and warning levels (一级红色 … 四级蓝色) of Art. 11 [通报办法].

use super::{ParseError, fold_width, receipt::ErrorCode};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Grade of an event or botnet event, lowest first so that `Ord` follows severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// 一般
    General,
    /// 较大
    Large,
    /// 重大
    Major,
    /// 特别重大
    EspeciallyMajor,
}

impl Grade {
    pub const ALL: [Grade; 4] = [Grade::EspeciallyMajor, Grade::Major, Grade::Large, Grade::General];

    pub fn code(self) -> &'static str {
        match self {
            Grade::General => "general",
            Grade::Large => "large",
            Grade::Major => "major",
            Grade::EspeciallyMajor => "especially_major",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Grade::General => "一般",
            Grade::Large => "较大",
            Grade::Major => "重大",
            Grade::EspeciallyMajor => "特别重大",
        }
    }

    /// Accepts the English code or the Chinese label, with or without 事件/级.
    /// Also the Roman numerals of emergency plans (Ⅰ级 特别重大 … Ⅳ级 一般), alone or in brackets.
    pub fn parse(input: &str) -> Result<Grade, ParseError> {
        let folded = fold_width(input).to_lowercase().replace(' ', "_");
        // Emergency plans number the grades Ⅰ–Ⅳ级, also written 一级–四级 or 1–4级.
        let roman = |s: &str| match s.trim_end_matches('级') {
            "ⅰ" | "i" | "Ⅰ" | "一" | "1" => Some(Grade::EspeciallyMajor),
            "ⅱ" | "ii" | "Ⅱ" | "二" | "2" => Some(Grade::Major),
            "ⅲ" | "iii" | "Ⅲ" | "三" | "3" => Some(Grade::Large),
            "ⅳ" | "iv" | "Ⅳ" | "四" | "4" => Some(Grade::General),
            _ => None,
        };
        // "重大（Ⅱ级）": the words before the bracket; "Ⅱ级": the numeral.
        let head = folded.split(['(', '（']).next().unwrap_or_default().trim_matches('_');
        let s = head.trim_end_matches("事件").trim_end_matches('级').trim_end_matches("网络安全");
        let found = Grade::ALL.into_iter().find(|g| s == g.code() || s == g.label_zh()).or_else(|| roman(head));
        found.ok_or_else(|| {
            ParseError::new(ErrorCode::BadGrade, "事件分级：特别重大、重大、较大或一般（especially_major、major、large、general）", input)
        })
    }

    /// The warning level that may lead to an event of this grade (附件二).
    pub fn matching_level(self) -> WarningLevel {
        match self {
            Grade::EspeciallyMajor => WarningLevel::Red,
            Grade::Major => WarningLevel::Orange,
            Grade::Large => WarningLevel::Yellow,
            Grade::General => WarningLevel::Blue,
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Grade {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Grade::parse(s)
    }
}

/// Warning level; level 1 (red) is the highest. Serialised as the number 1–4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[schemars(with = "u8", description = "预警级别 1（红色）… 4（蓝色）")]
pub enum WarningLevel {
    Red = 1,
    Orange = 2,
    Yellow = 3,
    Blue = 4,
}

impl WarningLevel {
    pub const ALL: [WarningLevel; 4] = [WarningLevel::Red, WarningLevel::Orange, WarningLevel::Yellow, WarningLevel::Blue];

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn from_number(n: i64) -> Option<WarningLevel> {
        WarningLevel::ALL.into_iter().find(|l| i64::from(l.number()) == n)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            WarningLevel::Red => "一级（红色）",
            WarningLevel::Orange => "二级（橙色）",
            WarningLevel::Yellow => "三级（黄色）",
            WarningLevel::Blue => "四级（蓝色）",
        }
    }

    fn names(self) -> [&'static str; 4] {
        match self {
            WarningLevel::Red => ["1", "一", "红色", "red"],
            WarningLevel::Orange => ["2", "二", "橙色", "orange"],
            WarningLevel::Yellow => ["3", "三", "黄色", "yellow"],
            WarningLevel::Blue => ["4", "四", "蓝色", "blue"],
        }
    }

    /// Accepts 1–4, 一级…四级, 红色/橙色/黄色/蓝色, red/orange/yellow/blue, "level 2", "二级（橙色）".
    pub fn parse(input: &str) -> Result<WarningLevel, ParseError> {
        // "Ⅳ级（蓝色）", "蓝色（四级）": each half names the level; they must agree.
        let folded = fold_width(input).to_lowercase();
        if let Some((head, tail)) = folded.split_once(['(', '（']) {
            let tail = tail.trim_end_matches([')', '）']);
            if let (Ok(a), Ok(b)) = (Self::parse_one(head), Self::parse_one(tail)) {
                if a == b {
                    return Ok(a);
                }
            }
        }
        Self::parse_one(&folded).map_err(|_| ParseError::new(ErrorCode::BadLevel, "预警级别：1–4、一级–四级或红色/橙色/黄色/蓝色", input))
    }

    fn parse_one(input: &str) -> Result<WarningLevel, ParseError> {
        let folded = fold_width(input).to_lowercase();
        // One colour character alone: 红, 橙, 黄, 蓝.
        let folded = match folded.as_str() {
            "红" => "红色".to_string(),
            "橙" => "橙色".to_string(),
            "黄" => "黄色".to_string(),
            "蓝" => "蓝色".to_string(),
            _ => folded,
        };
        let s = folded.trim_start_matches("level").trim().trim_end_matches("预警").replace(['(', ')', '（', '）', ' '], "");
        let s = s.replace('级', "");
        // Roman numerals as emergency plans write them: Ⅰ … Ⅳ (or I … IV).
        let s = match s.as_str() {
            "ⅰ" | "Ⅰ" | "i" => "1".to_string(),
            "ⅱ" | "Ⅱ" | "ii" => "2".to_string(),
            "ⅲ" | "Ⅲ" | "iii" => "3".to_string(),
            "ⅳ" | "Ⅳ" | "iv" => "4".to_string(),
            _ => s,
        };
        WarningLevel::ALL
            .into_iter()
            .find(|l| {
                let n = l.names();
                n.contains(&s.as_str()) || s == format!("{}{}", n[1], n[2]) || s == format!("{}{}", n[0], n[2])
            })
            .ok_or_else(|| ParseError::new(ErrorCode::BadLevel, "预警级别：1–4、一级–四级或红色/橙色/黄色/蓝色", input))
    }
}

impl fmt::Display for WarningLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

impl Serialize for WarningLevel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

impl<'de> Deserialize<'de> for WarningLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        WarningLevel::from_number(n).ok_or_else(|| serde::de::Error::custom(format!("warning level {n} is not 1..=4")))
    }
}

/// How urgent a report is: the grade of an event or the level of a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    Grade(Grade),
    Level(WarningLevel),
}

impl Severity {
    pub fn label_zh(self) -> String {
        match self {
            Severity::Grade(g) => format!("{}事件", g.label_zh()),
            Severity::Level(l) => format!("{}预警", l.label_zh()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_parse_from_codes_and_chinese_labels() {
        assert_eq!(Grade::parse("major").unwrap(), Grade::Major);
        assert_eq!(Grade::parse(" 特别重大 ").unwrap(), Grade::EspeciallyMajor);
        assert_eq!(Grade::parse("较大事件").unwrap(), Grade::Large);
        assert_eq!(Grade::parse("Especially Major").unwrap(), Grade::EspeciallyMajor);
        assert_eq!(Grade::parse("huge").unwrap_err().code, ErrorCode::BadGrade);
        assert!(Grade::EspeciallyMajor > Grade::Major && Grade::Large > Grade::General);
    }

    #[test]
    fn warning_levels_parse_every_way_people_write_them() {
        for (text, level) in [
            ("1", WarningLevel::Red),
            ("二级", WarningLevel::Orange),
            ("黄色", WarningLevel::Yellow),
            ("level 4", WarningLevel::Blue),
            ("二级（橙色）", WarningLevel::Orange),
            ("４", WarningLevel::Blue),
            ("Red", WarningLevel::Red),
        ] {
            assert_eq!(WarningLevel::parse(text).unwrap(), level, "{text}");
        }
        assert!(WarningLevel::parse("5").is_err());
        assert!(WarningLevel::parse("紫色").is_err());
    }
}
