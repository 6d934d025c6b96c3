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
}

impl Unit {
    pub fn emails(&self) -> impl Iterator<Item = &Email> {
        self.contacts.iter().filter_map(|c| c.email.as_ref())
    }
}
