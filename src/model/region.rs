//! The 31 provinces (省、自治区、直辖市) with their communications administrations, and `national` scope.

use super::{ParseError, fold_width, receipt::ErrorCode};
use std::fmt;

macro_rules! provinces {
    ($($variant:ident => $code:literal, $gb:literal, $short:literal, $full:literal;)*) => {
        /// A province-level division; its code is the ISO 3166-2:CN suffix (`GD` for 广东).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Province { $($variant),* }

        impl Province {
            pub const ALL: [Province; 31] = [$(Province::$variant),*];
            pub fn code(self) -> &'static str { match self { $(Province::$variant => $code),* } }
            /// The first two digits of the GB/T 2260 division code.
            pub fn gb_code(self) -> &'static str { match self { $(Province::$variant => $gb),* } }
            pub fn short_zh(self) -> &'static str { match self { $(Province::$variant => $short),* } }
            pub fn name_zh(self) -> &'static str { match self { $(Province::$variant => $full),* } }
        }
    };
}

provinces! {
    Beijing => "BJ", "11", "北京", "北京市";
    Tianjin => "TJ", "12", "天津", "天津市";
    Hebei => "HE", "13", "河北", "河北省";
    Shanxi => "SX", "14", "山西", "山西省";
    InnerMongolia => "NM", "15", "内蒙古", "内蒙古自治区";
    Liaoning => "LN", "21", "辽宁", "辽宁省";
    Jilin => "JL", "22", "吉林", "吉林省";
    Heilongjiang => "HL", "23", "黑龙江", "黑龙江省";
    Shanghai => "SH", "31", "上海", "上海市";
    Jiangsu => "JS", "32", "江苏", "江苏省";
    Zhejiang => "ZJ", "33", "浙江", "浙江省";
    Anhui => "AH", "34", "安徽", "安徽省";
    Fujian => "FJ", "35", "福建", "福建省";
    Jiangxi => "JX", "36", "江西", "江西省";
    Shandong => "SD", "37", "山东", "山东省";
    Henan => "HA", "41", "河南", "河南省";
    Hubei => "HB", "42", "湖北", "湖北省";
    Hunan => "HN", "43", "湖南", "湖南省";
    Guangdong => "GD", "44", "广东", "广东省";
    Guangxi => "GX", "45", "广西", "广西壮族自治区";
    Hainan => "HI", "46", "海南", "海南省";
    Chongqing => "CQ", "50", "重庆", "重庆市";
    Sichuan => "SC", "51", "四川", "四川省";
    Guizhou => "GZ", "52", "贵州", "贵州省";
    Yunnan => "YN", "53", "云南", "云南省";
    Tibet => "XZ", "54", "西藏", "西藏自治区";
    Shaanxi => "SN", "61", "陕西", "陕西省";
    Gansu => "GS", "62", "甘肃", "甘肃省";
    Qinghai => "QH", "63", "青海", "青海省";
    Ningxia => "NX", "64", "宁夏", "宁夏回族自治区";
    Xinjiang => "XJ", "65", "新疆", "新疆维吾尔自治区";
}

/// True for the words people write for "the whole country": 全国, 全国各省, 31省（区、市）, national.
pub fn means_nationwide(input: &str) -> bool {
    let s = fold_width(input).to_lowercase().replace([' ', '(', ')', '（', '）', '、', ','], "");
    matches!(
        s.as_str(),
        "全国" | "全国各省" | "全国各地" | "全国范围" | "national" | "nationwide" | "全国31省区市" | "31省区市" | "31个省区市"
    )
}

impl Province {
    /// The one-character abbreviation (简称) each province is known by: 粤, 苏, 京, …
    fn abbreviation(self) -> char {
        match self {
            Province::Beijing => '京',
            Province::Tianjin => '津',
            Province::Hebei => '冀',
            Province::Shanxi => '晋',
            Province::InnerMongolia => '蒙',
            Province::Liaoning => '辽',
            Province::Jilin => '吉',
            Province::Heilongjiang => '黑',
            Province::Shanghai => '沪',
            Province::Jiangsu => '苏',
            Province::Zhejiang => '浙',
            Province::Anhui => '皖',
            Province::Fujian => '闽',
            Province::Jiangxi => '赣',
            Province::Shandong => '鲁',
            Province::Henan => '豫',
            Province::Hubei => '鄂',
            Province::Hunan => '湘',
            Province::Guangdong => '粤',
            Province::Guangxi => '桂',
            Province::Hainan => '琼',
            Province::Chongqing => '渝',
            Province::Sichuan => '川',
            Province::Guizhou => '黔',
            Province::Yunnan => '滇',
            Province::Tibet => '藏',
            Province::Shaanxi => '陕',
            Province::Gansu => '甘',
            Province::Qinghai => '青',
            Province::Ningxia => '宁',
            Province::Xinjiang => '新',
        }
    }

    /// Accepts `GD`, `CN-GD`, `44`, `440000`, `广东`, `广东省`, the abbreviation `粤`, and a place
    /// named under its province (`广东省深圳市`, `广东深圳`).
    pub fn parse(input: &str) -> Result<Province, ParseError> {
        let s = fold_width(input);
        let upper = s.to_uppercase();
        let code = upper.strip_prefix("CN-").unwrap_or(&upper);
        let digits = code.strip_suffix("0000").unwrap_or(code);
        let mut chars = s.chars();
        let single = match (chars.next(), chars.next()) {
            (Some(c), None) => Some(c),
            _ => None,
        };
        Province::ALL
            .into_iter()
            .find(|p| {
                code == p.code() || digits == p.gb_code() || s == p.short_zh() || s == p.name_zh() || single == Some(p.abbreviation())
            })
            .or_else(|| {
                // A city or county under its province's full name (广东省深圳市). The short name alone
                // is no prefix: 海南藏族自治州 and 河南县 are in Qinghai.
                Province::ALL
                    .into_iter()
                    .filter(|p| s.len() > p.name_zh().len() && s.starts_with(p.name_zh()))
                    .max_by_key(|p| p.name_zh().len())
            })
            .ok_or_else(|| {
                ParseError::new(ErrorCode::BadProvince, "省份：代码（如 GD）、中文名称（如 广东、广东省）、简称（如 粤）或“全国”", input)
            })
    }

    /// The name of this province's communications administration (通信管理局).
    pub fn bureau_zh(self) -> String {
        format!("{}通信管理局", self.short_zh())
    }
}

impl fmt::Display for Province {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Province {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Province::parse(s)
    }
}

super::string_serde!(Province, "Province", "省份代码（ISO 3166-2:CN，如 GD）");

/// Where a unit operates: one province, or the whole country (`national`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    National,
    Province(Province),
}

impl Region {
    pub fn parse(input: &str) -> Result<Region, ParseError> {
        let s = fold_width(input);
        if s.eq_ignore_ascii_case("national") || s == "全国" {
            return Ok(Region::National);
        }
        Province::parse(&s).map(Region::Province).map_err(|mut e| {
            e.expected = "省份代码、省份名称或 national（全国）".into();
            e
        })
    }

    pub fn province(self) -> Option<Province> {
        match self {
            Region::National => None,
            Region::Province(p) => Some(p),
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Region::National => f.write_str("national"),
            Region::Province(p) => p.fmt(f),
        }
    }
}

impl std::str::FromStr for Region {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Region::parse(s)
    }
}

super::string_serde!(Region, "Region", "省份代码或 national");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_one_provinces_with_distinct_codes() {
        let mut codes: Vec<_> = Province::ALL.iter().map(|p| p.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 31);
    }

    #[test]
    fn abbreviations_and_places_under_a_full_province_name_but_no_lookalikes() {
        assert_eq!(Province::parse("粤").unwrap(), Province::Guangdong);
        assert_eq!(Province::parse("广东省深圳市").unwrap(), Province::Guangdong);
        // Qinghai's 海南藏族自治州 and 河南县 are neither Hainan nor Henan.
        assert!(Province::parse("海南藏族自治州").is_err());
        assert!(Province::parse("河南县").is_err());
        assert!(means_nationwide("31省（区、市）") && means_nationwide("全国") && !means_nationwide("全国性"));
    }

    #[test]
    fn provinces_parse_from_every_common_spelling() {
        for s in ["GD", "cn-gd", "44", "440000", "广东", "广东省", "ＧＤ"] {
            assert_eq!(Province::parse(s).unwrap(), Province::Guangdong, "{s}");
        }
        assert_eq!(Province::parse("内蒙古自治区").unwrap(), Province::InnerMongolia);
        assert_eq!(Region::parse("全国").unwrap(), Region::National);
        assert!(Province::parse("火星").is_err());
    }
}
