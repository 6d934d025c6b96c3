//! Categories of reported information (附件一 [通报办法]) with stable codes and the Chinese labels people see.

use super::{ParseError, fold_width, receipt::ErrorCode};
use std::fmt;

macro_rules! categories {
    ($($variant:ident => $code:literal, $zh:literal;)*) => {
        /// One item of 附件一. The code is stable; the label is what forms and mails show.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Category { $($variant),* }

        impl Category {
            pub const ALL: &'static [Category] = &[$(Category::$variant),*];
            pub fn code(self) -> &'static str { match self { $(Category::$variant => $code),* } }
            pub fn label_zh(self) -> &'static str { match self { $(Category::$variant => $zh),* } }
        }
    };
}

categories! {
    AccessOutage => "access_outage", "接入业务阻断、拥塞";
    IpInfrastructureOutage => "ip_infrastructure_outage", "IP基础网络设施瘫痪、阻断";
    DnsAnomaly => "dns_anomaly", "域名解析异常、域名劫持";
    ServiceOutage => "service_outage", "系统瘫痪、用户数据丢失";
    MajorSocialImpact => "major_social_impact", "重大社会影响";
    Vulnerability => "vulnerability", "漏洞";
    Ddos => "ddos", "拒绝服务攻击、流量异常";
    Malware => "malware", "木马、僵尸网络、病毒";
    RouteHijack => "route_hijack", "路由劫持";
    Spam => "spam", "垃圾邮件";
    ImportantSystemIncident => "important_system_incident", "重要信息系统用户异常";
    WebTrojanPhishing => "web_trojan_phishing", "网页挂马、网络仿冒";
    SuspiciousDomain => "suspicious_domain", "可疑域名";
    IdcLinkOutage => "idc_link_outage", "IDC出口链路中断";
    HostedHostAbuse => "hosted_host_abuse", "托管主机感染、被利用";
    Intrusion => "intrusion", "遭到入侵或控制";
    DataTampering => "data_tampering", "数据篡改、丢失";
    WebDefacement => "web_defacement", "网页篡改";
    Other => "other", "其他";
}

impl Category {
    /// Names people write for a category besides its code and label.
    fn short_names(self) -> &'static [&'static str] {
        match self {
            Category::Ddos => &["ddos", "dos", "ddos攻击", "拒绝服务", "拒绝服务攻击", "流量攻击", "流量异常"],
            Category::Malware => &["木马", "僵尸网络", "病毒", "恶意程序", "恶意代码", "蠕虫", "木马病毒", "僵木蠕"],
            Category::DnsAnomaly => &["域名劫持", "dns劫持", "域名解析异常", "dns异常", "解析异常"],
            Category::RouteHijack => &["bgp劫持", "路由泄露"],
            Category::WebTrojanPhishing => &["网页挂马", "挂马", "钓鱼", "网络钓鱼", "仿冒", "网络仿冒", "钓鱼网站"],
            Category::WebDefacement => &["网页篡改", "网站篡改", "页面篡改"],
            Category::Intrusion => &["入侵", "被入侵", "被控制", "遭到入侵", "网络入侵"],
            Category::Vulnerability => &["安全漏洞", "高危漏洞", "0day", "零日漏洞"],
            Category::Spam => &["垃圾短信", "垃圾邮件"],
            Category::AccessOutage => &["接入阻断", "拥塞", "业务阻断"],
            Category::SuspiciousDomain => &["恶意域名"],
            _ => &[],
        }
    }

    /// Accepts the code, the full Chinese label (as a drop-down writes it), one part of the
    /// label between its 、 (网页篡改), a short name people use (DDoS, 木马, 域名劫持), or any
    /// text that is part of exactly one label. Text that fits several is refused with them listed.
    pub fn parse(input: &str) -> Result<Category, ParseError> {
        let s = fold_width(input);
        let lower = s.to_lowercase().replace([' ', '-', '_'], "");
        let zh = s.replace([',', '，', '/', '／'], "、");
        let exact = Category::ALL.iter().copied().find(|c| {
            s.to_lowercase() == c.code()
                || zh == c.label_zh()
                || c.label_zh().split('、').any(|part| part == zh)
                || c.short_names().iter().any(|n| *n == lower)
        });
        if let Some(c) = exact {
            return Ok(c);
        }
        // Else by resemblance, when it points at one category only: a part of a label inside
        // what was written (网络安全漏洞 ⊃ 漏洞), or one inside the other with words left out
        // (数据被篡改 ~ 数据篡改, IDC链路中断 ~ IDC出口链路中断). Two-character words alone
        // (攻击, 异常) say too little.
        let written: Vec<char> = zh.to_lowercase().chars().filter(|c| !matches!(c, '、' | ' ')).collect();
        let names =
            |c: Category| c.label_zh().split('、').chain(c.short_names().iter().copied()).map(str::to_lowercase).collect::<Vec<_>>();
        let resembles = |name: &str| {
            let name: Vec<char> = name.chars().collect();
            let within = |small: &[char], big: &[char]| {
                let mut it = big.iter();
                small.iter().all(|c| it.any(|b| b == c))
            };
            (name.len() >= 2 && written.windows(name.len()).any(|w| w == name.as_slice()))
                || (written.len() >= 3 && within(&written, &name))
                || (name.len() >= 4 && within(&name, &written))
        };
        let containing: Vec<Category> = Category::ALL.iter().copied().filter(|c| names(*c).iter().any(|n| resembles(n))).collect();
        match containing.as_slice() {
            [one] => Ok(*one),
            [] => Err(ParseError::new(
                ErrorCode::BadCategory,
                format!("附件一所列信息类别之一：{}", Category::ALL.iter().map(|c| c.label_zh()).collect::<Vec<_>>().join("；")),
                input,
            )),
            many => Err(ParseError::new(
                ErrorCode::BadCategory,
                format!(
                    "唯一确定的信息类别；“{}”可指{}，请写明其一",
                    s,
                    many.iter().map(|c| c.label_zh()).collect::<Vec<_>>().join("、或")
                ),
                input,
            )),
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Category {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Category::parse(s)
    }
}

impl serde::Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Category {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Category::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Category {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Category".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let codes: Vec<&str> = Category::ALL.iter().map(|c| c.code()).collect();
        schemars::json_schema!({ "type": "string", "enum": codes, "description": "信息类别（附件一）" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_round_trips_through_code_and_label() {
        for &c in Category::ALL {
            assert_eq!(Category::parse(c.code()).unwrap(), c);
            assert_eq!(Category::parse(c.label_zh()).unwrap(), c);
        }
        assert_eq!(Category::parse("拒绝服务攻击，流量异常").unwrap(), Category::Ddos);
        assert!(Category::parse("地震").is_err());
    }
}
