//! Who answers for a botnet's addresses and domains (Art. 4, 9 [僵尸机制]): IP prefix → basic telecom operator, domain suffix → registry or registrar, from a data file the hub's operator maintains.
//!
//! ```toml
//! [[prefix]]
//! cidr = "113.64.0.0/10"
//! unit = "CT-GD"
//! [[domain]]
//! suffix = "cn"
//! unit = "CNNIC"
//! ```
//! The longest matching prefix and the longest matching suffix win.

use crate::model::{Domain, UnitCode};
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    prefix: Vec<PrefixEntry>,
    #[serde(default)]
    domain: Vec<DomainEntry>,
    /// Addresses and domains whose users run important information systems (重要信息系统,
    /// Art. 19 [僵尸机制]): undisposed or still-malicious targets there go to CSB (Art. 9(四)).
    #[serde(default)]
    important: Vec<ImportantEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportantEntry {
    #[serde(default)]
    cidr: Option<String>,
    #[serde(default)]
    suffix: Option<String>,
    /// Whose system it is (某银行数据中心), shown in the escalation.
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefixEntry {
    cidr: String,
    unit: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainEntry {
    suffix: String,
    unit: String,
}

/// The lookup tables; empty when no file is configured (then nobody is notified automatically).
#[derive(Debug, Clone, Default)]
pub struct Ownership {
    /// Per prefix length, network address → unit.
    v4: Vec<(u8, HashMap<u32, UnitCode>)>,
    v6: Vec<(u8, HashMap<u128, UnitCode>)>,
    domains: HashMap<String, UnitCode>,
    important_nets: Vec<(IpNet, String)>,
    important_domains: HashMap<String, String>,
}

impl Ownership {
    pub fn from_toml(text: &str) -> Result<Ownership, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut v4: HashMap<u8, HashMap<u32, UnitCode>> = HashMap::new();
        let mut v6: HashMap<u8, HashMap<u128, UnitCode>> = HashMap::new();
        for (i, p) in file.prefix.iter().enumerate() {
            let net: IpNet = p.cidr.parse().map_err(|e| format!("prefix[{i}].cidr = {:?}: {e}", p.cidr))?;
            let unit: UnitCode = p.unit.parse().map_err(|e| format!("prefix[{i}].unit = {:?}: {e}", p.unit))?;
            match net.trunc() {
                IpNet::V4(n) => v4.entry(n.prefix_len()).or_default().insert(u32::from(n.network()), unit),
                IpNet::V6(n) => v6.entry(n.prefix_len()).or_default().insert(u128::from(n.network()), unit),
            };
        }
        let mut domains = HashMap::new();
        for (i, d) in file.domain.iter().enumerate() {
            let unit: UnitCode = d.unit.parse().map_err(|e| format!("domain[{i}].unit = {:?}: {e}", d.unit))?;
            domains.insert(d.suffix.trim_matches('.').to_ascii_lowercase(), unit);
        }
        let mut important_nets = Vec::new();
        let mut important_domains = HashMap::new();
        for (i, e) in file.important.iter().enumerate() {
            match (&e.cidr, &e.suffix) {
                (Some(c), None) => {
                    let net: IpNet = c.parse().map_err(|err| format!("important[{i}].cidr = {c:?}: {err}"))?;
                    important_nets.push((net.trunc(), e.name.clone()));
                }
                (None, Some(s)) => {
                    important_domains.insert(s.trim_matches('.').to_ascii_lowercase(), e.name.clone());
                }
                _ => return Err(format!("important[{i}]: give either cidr or suffix")),
            }
        }
        // Longest prefix first, so the most specific entry names the user.
        important_nets.sort_by_key(|(n, _)| std::cmp::Reverse(n.prefix_len()));
        let mut v4: Vec<_> = v4.into_iter().collect();
        v4.sort_by_key(|e| std::cmp::Reverse(e.0));
        let mut v6: Vec<_> = v6.into_iter().collect();
        v6.sort_by_key(|e| std::cmp::Reverse(e.0));
        Ok(Ownership { v4, v6, domains, important_nets, important_domains })
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty() && self.domains.is_empty()
    }

    /// The operator whose network holds the address (longest prefix).
    pub fn of_ip(&self, ip: IpAddr) -> Option<&UnitCode> {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().find_map(|(len, m)| m.get(&(if *len == 0 { 0 } else { a & (u32::MAX << (32 - len)) })))
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().find_map(|(len, m)| m.get(&(if *len == 0 { 0 } else { a & (u128::MAX << (128 - len)) })))
            }
        }
    }

    /// The important information system (Art. 19 [僵尸机制]) whose user a target belongs to, if the
    /// ownership file marks its address or domain as one.
    pub fn important_user(&self, target: &crate::model::Target) -> Option<&str> {
        match target {
            crate::model::Target::Ip(ip) => self.important_nets.iter().find(|(n, _)| n.contains(ip)).map(|(_, name)| name.as_str()),
            crate::model::Target::Domain(d) => {
                let name = d.as_str().trim_end_matches('.').to_ascii_lowercase();
                let mut rest = name.as_str();
                loop {
                    if let Some(user) = self.important_domains.get(rest) {
                        return Some(user.as_str());
                    }
                    rest = rest.split_once('.')?.1;
                }
            }
        }
    }

    /// The registry or registrar of a domain (longest suffix).
    pub fn of_domain(&self, d: &Domain) -> Option<&UnitCode> {
        let name = d.as_str().trim_end_matches('.').to_ascii_lowercase();
        let mut rest = name.as_str();
        loop {
            if let Some(u) = self.domains.get(rest) {
                return Some(u);
            }
            rest = rest.split_once('.')?.1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_and_suffix_win() {
        let o = Ownership::from_toml(
            "[[prefix]]\ncidr = \"10.0.0.0/8\"\nunit = \"CT\"\n[[prefix]]\ncidr = \"10.1.2.0/24\"\nunit = \"CT-GD\"\n\
             [[prefix]]\ncidr = \"2001:db8::/32\"\nunit = \"CM\"\n[[domain]]\nsuffix = \"cn\"\nunit = \"CNNIC\"\n\
             [[domain]]\nsuffix = \"example.com.cn\"\nunit = \"REG-A\"\n",
        )
        .unwrap();
        assert_eq!(o.of_ip("10.1.2.3".parse().unwrap()).unwrap().as_str(), "CT-GD");
        assert_eq!(o.of_ip("10.9.9.9".parse().unwrap()).unwrap().as_str(), "CT");
        assert_eq!(o.of_ip("11.0.0.1".parse().unwrap()), None);
        assert_eq!(o.of_ip("2001:db8::1".parse().unwrap()).unwrap().as_str(), "CM");
        assert_eq!(o.of_domain(&"evil.example.com.cn".parse().unwrap()).unwrap().as_str(), "REG-A");
        assert_eq!(o.of_domain(&"bad.cn".parse().unwrap()).unwrap().as_str(), "CNNIC");
        assert_eq!(o.of_domain(&"bad.org".parse().unwrap()), None);
        assert!(Ownership::from_toml("[[prefix]]\ncidr = \"10.0.0.0/33\"\nunit = \"CT\"\n").unwrap_err().contains("prefix[0].cidr"));
    }

    #[test]
    fn the_shipped_example_parses_and_names_registered_example_units() {
        let o = Ownership::from_toml(include_str!("../../ownership.toml.example")).unwrap();
        assert_eq!(o.of_ip("203.0.113.7".parse().unwrap()).unwrap().as_str(), "CT-GD");
        assert_eq!(o.of_ip("2001:db8::7".parse().unwrap()).unwrap().as_str(), "CM-GROUP");
        assert_eq!(o.of_domain(&"cc.bad.example.cn".parse().unwrap()).unwrap().as_str(), "IDC-BJ");
        let units = include_str!("../../examples/units.toml");
        for code in ["CT-GD", "CM-GROUP", "IDC-BJ"] {
            assert!(units.contains(&format!("code = \"{code}\"")), "{code} is not in examples/units.toml");
        }
    }
}
