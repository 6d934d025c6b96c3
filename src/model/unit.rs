//! Reporting units (信息报送单位), their types and registered contacts (Art. 8 and 21 [通报办法]).

use super::{Email, ParseError, Region, UnitCode, fold_width, receipt::ErrorCode};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of a unit, which decides what it may report and who forwards for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitType {
    /// 基础电信业务经营者集团公司
    BasicTelecomGroup,
    /// 基础电信业务经营者省级分公司/子公司
    BasicTelecomProvincial,
    /// 跨省经营的增值电信业务经营者（IDC、门户网站、搜索引擎等）
    CrossProvinceVas,
    /// 互联网域名注册管理机构
    DomainRegistry,
    /// 互联网域名注册服务机构
    DomainRegistrar,
    /// 中国互联网协会
    Isc,
    /// 非经营性互联单位（CERNET、CSTNET、CIETNET、CGWNET）
    NonCommercialInterconnect,
    /// 通信管理局
    Bureau,
    /// 国家计算机网络应急技术处理协调中心
    Cncert,
    /// 工业和信息化部通信保障局
    Csb,
}

impl UnitType {
    pub const ALL: [UnitType; 10] = [
        UnitType::BasicTelecomGroup,
        UnitType::BasicTelecomProvincial,
        UnitType::CrossProvinceVas,
        UnitType::DomainRegistry,
        UnitType::DomainRegistrar,
        UnitType::Isc,
        UnitType::NonCommercialInterconnect,
        UnitType::Bureau,
        UnitType::Cncert,
        UnitType::Csb,
    ];

    pub fn code(self) -> &'static str {
        match self {
            UnitType::BasicTelecomGroup => "basic_telecom_group",
            UnitType::BasicTelecomProvincial => "basic_telecom_provincial",
            UnitType::CrossProvinceVas => "cross_province_vas",
            UnitType::DomainRegistry => "domain_registry",
            UnitType::DomainRegistrar => "domain_registrar",
            UnitType::Isc => "isc",
            UnitType::NonCommercialInterconnect => "non_commercial_interconnect",
            UnitType::Bureau => "bureau",
            UnitType::Cncert => "cncert",
            UnitType::Csb => "csb",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            UnitType::BasicTelecomGroup => "基础电信业务经营者集团公司",
            UnitType::BasicTelecomProvincial => "基础电信业务经营者省级公司",
            UnitType::CrossProvinceVas => "跨省经营的增值电信业务经营者",
            UnitType::DomainRegistry => "互联网域名注册管理机构",
            UnitType::DomainRegistrar => "互联网域名注册服务机构",
            UnitType::Isc => "中国互联网协会",
            UnitType::NonCommercialInterconnect => "非经营性互联单位",
            UnitType::Bureau => "通信管理局",
            UnitType::Cncert => "CNCERT",
            UnitType::Csb => "通信保障局",
        }
    }

    pub fn parse(input: &str) -> Result<UnitType, ParseError> {
        let s = fold_width(input);
        UnitType::ALL
            .into_iter()
            .find(|t| s.eq_ignore_ascii_case(t.code()) || s == t.label_zh())
            .ok_or_else(|| ParseError::new(ErrorCode::BadUnitType, "单位类型代码，如 basic_telecom_provincial", input))
    }

    /// The authorities (bureaus, CNCERT, CSB): they receive the digest as such, not as a unit concerned.
    pub fn is_authority(self) -> bool {
        matches!(self, UnitType::Bureau | UnitType::Cncert | UnitType::Csb)
    }

    /// Basic telecom operators are the ones [僵尸机制] makes monitor, dispose and verify.
    pub fn is_basic_telecom(self) -> bool {
        matches!(self, UnitType::BasicTelecomGroup | UnitType::BasicTelecomProvincial)
    }
}

impl fmt::Display for UnitType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What a contact person is for the unit (Art. 8, 21 [通报办法]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactRole {
    /// 主管领导
    Leader,
    /// 责任部门负责人
    DepartmentHead,
    /// 联络人
    Contact,
}

impl ContactRole {
    pub fn label_zh(self) -> &'static str {
        match self {
            ContactRole::Leader => "主管领导",
            ContactRole::DepartmentHead => "责任部门负责人",
            ContactRole::Contact => "联络人",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Contact {
    pub role: ContactRole,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
}

/// A registered unit and how it may identify itself on each channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub code: UnitCode,
    pub name: String,
    #[serde(rename = "type")]
    pub unit_type: UnitType,
    /// The province it operates in, or `national`.
    pub province: Region,
    /// 重要信息系统用户: government, military, bank, customs, tax, power, railway,
    /// securities, insurance or civil-aviation system.
    #[serde(default)]
    pub important: bool,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// The RabbitMQ login that the unit's systems publish as (the AMQP `user_id` property).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amqp_user: Option<String>,
    /// The group company (集团公司) that gathers, verifies and reports this unit's information
    /// (Art. 12¶2 [通报办法], Art. 18 [僵尸机制]): it may submit on this unit's behalf, and sees
    /// this unit's reports and duties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<UnitCode>,
}

impl Unit {
    pub fn emails(&self) -> impl Iterator<Item = &Email> {
        self.contacts.iter().filter_map(|c| c.email.as_ref())
    }
}

/// Checks the group links of a register (`registered` and the units being imported, the
/// latter winning): each names another registered unit, which is no one's subsidiary itself,
/// so a group's reach is one level and never a circle. Answers one line per fault.
pub fn group_faults(importing: &[Unit], registered: &[Unit]) -> Vec<String> {
    use std::collections::HashMap;
    let mut all: HashMap<&UnitCode, &Unit> = registered.iter().map(|u| (&u.code, u)).collect();
    all.extend(importing.iter().map(|u| (&u.code, u)));
    let mut faults = Vec::new();
    for u in importing {
        let Some(g) = &u.group else { continue };
        match all.get(g) {
            _ if g == &u.code => faults.push(format!("{}: group = \"{g}\" names the unit itself", u.code)),
            None => faults.push(format!("{}: group = \"{g}\" is no registered unit", u.code)),
            Some(group) if group.group.is_some() => faults.push(format!(
                "{}: group {g} is itself a subsidiary of {}; a group is one level",
                u.code,
                group.group.as_ref().expect("checked")
            )),
            Some(group) if group.unit_type.is_authority() => {
                faults.push(format!("{}: group {g} is an authority ({}), not a group company", u.code, group.unit_type.label_zh()))
            }
            Some(_) => {}
        }
    }
    // A unit imported as a group while registered units name it stays one level only if it
    // has no group of its own.
    for u in importing.iter().filter(|u| u.group.is_some()) {
        if let Some(sub) = all.values().find(|s| s.group.as_ref() == Some(&u.code)) {
            faults.push(format!("{}: is the group of {} and cannot have a group of its own", u.code, sub.code));
        }
    }
    faults
}

/// The units a unit's viewer answers for: itself and, for a group company, its subsidiaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSet {
    pub own: UnitCode,
    pub subsidiaries: Vec<UnitCode>,
}

impl UnitSet {
    pub fn one(own: UnitCode) -> UnitSet {
        UnitSet { own, subsidiaries: Vec::new() }
    }

    /// `own` and every registered unit that names it as its group.
    pub fn of(own: UnitCode, registered: &[Unit]) -> UnitSet {
        let mut subsidiaries: Vec<UnitCode> =
            registered.iter().filter(|u| u.group.as_ref() == Some(&own)).map(|u| u.code.clone()).collect();
        subsidiaries.sort();
        UnitSet { own, subsidiaries }
    }

    pub fn contains(&self, code: &UnitCode) -> bool {
        &self.own == code || self.subsidiaries.contains(code)
    }

    pub fn codes(&self) -> impl Iterator<Item = &UnitCode> {
        std::iter::once(&self.own).chain(&self.subsidiaries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(code: &str, unit_type: UnitType, group: Option<&str>) -> Unit {
        Unit {
            code: code.parse().unwrap(),
            name: code.into(),
            unit_type,
            province: Region::National,
            important: false,
            contacts: vec![],
            amqp_user: None,
            group: group.map(|g| g.parse().unwrap()),
        }
    }

    #[test]
    fn a_group_is_a_registered_company_one_level_up() {
        let group = unit("CT-GROUP", UnitType::BasicTelecomGroup, None);
        let gd = unit("CT-GD", UnitType::BasicTelecomProvincial, Some("CT-GROUP"));
        assert!(group_faults(&[group.clone(), gd.clone()], &[]).is_empty());
        assert!(group_faults(std::slice::from_ref(&gd), std::slice::from_ref(&group)).is_empty(), "the group may be registered already");
        let faults = group_faults(&[unit("X", UnitType::CrossProvinceVas, Some("NOBODY"))], &[]);
        assert!(faults[0].contains("no registered unit"), "{faults:?}");
        let faults = group_faults(&[unit("X", UnitType::CrossProvinceVas, Some("X"))], &[]);
        assert!(faults[0].contains("itself"), "{faults:?}");
        let faults = group_faults(&[unit("X", UnitType::CrossProvinceVas, Some("CT-GD"))], &[group.clone(), gd.clone()]);
        assert!(faults[0].contains("one level"), "{faults:?}");
        let faults =
            group_faults(&[unit("X", UnitType::CrossProvinceVas, Some("GD-BUREAU"))], &[unit("GD-BUREAU", UnitType::Bureau, None)]);
        assert!(faults[0].contains("authority"), "{faults:?}");
        // Giving the group a group of its own while CT-GD names it would make two levels.
        let faults = group_faults(
            &[unit("CT-GROUP", UnitType::BasicTelecomGroup, Some("OTHER")), unit("OTHER", UnitType::BasicTelecomGroup, None)],
            &[gd],
        );
        assert!(faults.iter().any(|f| f.contains("cannot have a group")), "{faults:?}");

        let set = UnitSet::of("CT-GROUP".parse().unwrap(), &[group, unit("CT-GX", UnitType::BasicTelecomProvincial, Some("CT-GROUP"))]);
        assert!(set.contains(&"CT-GX".parse().unwrap()) && set.contains(&"CT-GROUP".parse().unwrap()));
        assert!(!set.contains(&"CT-GD".parse().unwrap()), "only the units registered with the group");
    }
}
