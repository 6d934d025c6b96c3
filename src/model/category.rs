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
    /// Accepts the code or the full Chinese label (as a drop-down writes it).
    pub fn parse(input: &str) -> Result<Category, ParseError> {
        let s = fold_width(input);
        let lower = s.to_lowercase();
        let zh = s.replace([',', '，'], "、");
        Category::ALL.iter().copied().find(|c| lower == c.code() || zh == c.label_zh()).ok_or_else(|| {
            ParseError::new(ErrorCode::BadCategory, "附件一所列信息类别的代码或中文名称，例如 ddos 或 拒绝服务攻击、流量异常", input)
        })
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
