//! The columns of every form: Chinese header, English code, where the value goes in the canonical report, and how to read it.

use crate::model::ReportKind;

/// Where a column's value goes in the canonical JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A top-level field of the report (`discovered_at`, `grade`, …).
    Report(&'static str),
    /// A field of `content`.
    Content(&'static str),
    /// A field of one element of the `content` array named by the form (one row, one element).
    Item(&'static str),
    /// A string pushed onto a `content` array (disposal feedback: disposed targets).
    PushTo(&'static str),
    /// A value that decides how the row's other cells are read, not a field itself (a target
    /// with a 是否已处置 flag: the flag says whether the target is disposed or not).
    Row(&'static str),
}

/// How a cell is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Text,
    /// A date and time (Excel date cell, serial number, or text).
    Time,
    /// A month (`2026-09`, `2026年9月`, or a date cell in that month).
    Month,
    Int,
    /// 是/否, true/false, Y/N.
    Bool,
    /// Several values in one cell, separated by commas, 、, semicolons, spaces or new lines.
    List,
    /// One of a fixed list (offered as a drop-down); the list is named for the generator.
    Choice(Choices),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choices {
    Grade,
    Level,
    Category,
    Province,
    Role,
    YesNo,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub code: &'static str,
    pub zh: &'static str,
    pub target: Target,
    pub cell: Cell,
    pub required: bool,
    /// Other headers people use for this column.
    pub aliases: &'static [&'static str],
    pub note_zh: &'static str,
}

const fn col(code: &'static str, zh: &'static str, target: Target, cell: Cell, required: bool, note_zh: &'static str) -> Column {
    Column { code, zh, target, cell, required, aliases: &[], note_zh }
}

const fn alias(mut c: Column, aliases: &'static [&'static str]) -> Column {
    c.aliases = aliases;
    c
}

/// One form: a sheet of rows for one report kind.
#[derive(Debug, Clone)]
pub struct FormSpec {
    pub kind: ReportKind,
    /// The data sheet's name, used in error places (`事件表!D7`).
    pub sheet: &'static str,
    pub title: &'static str,
    pub columns: Vec<Column>,
    /// For kinds whose rows are elements of one `content` array: that array. A row whose
    /// report-level cells are empty (merged down) continues the report above; rows repeating the
    /// same report-level values form one report, except botnet rows, each of which states an
    /// event of its own (so one bad row never refuses its neighbours).
    pub items: Option<&'static str>,
}

impl FormSpec {
    pub fn column(&self, code: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.code == code)
    }
}

use Cell::*;
use Target::*;

pub const FORM_VERSION: &str = "1";
/// The hidden sheet that marks a generated form: A1 `tongbao-form`, A2 the kind, A3 the version.
pub const MARKER_SHEET: &str = "_tongbao";
pub const LIST_SHEET: &str = "_lists";
pub const NOTES_SHEET: &str = "填表说明";

fn common_event_columns() -> Vec<Column> {
    vec![
        alias(
            col(
                "discovered_at",
                "发现时间",
                Report("discovered_at"),
                Time,
                true,
                "发现或获知该信息的时间（北京时间），如 2026-09-23 10:00",
            ),
            &["发现/获知时间", "获知时间", "发现获知时间", "发现日期", "事件发现时间", "发现时间北京时间", "获知日期"],
        ),
        alias(
            col("category", "信息类别", Report("category"), Choice(Choices::Category), true, "附件一所列类别，从下拉列表选择"),
            &["类别", "事件类别", "事件类型", "信息类型", "类型", "事件分类", "分类", "信息分类"],
        ),
        alias(
            col(
                "provinces",
                "涉及省份",
                Report("provinces"),
                List,
                false,
                "受影响的省份，多个用顿号或逗号分隔，如 广东、广西；不填则为本单位所在省份（全国性单位须填写）",
            ),
            &["省份", "影响省份", "涉及地区", "影响地区", "涉及省", "所在省份", "地区", "省份地区", "涉及省市", "受影响省份"],
        ),
        alias(
            col("cross_province", "是否跨省", Report("cross_province"), Choice(Choices::YesNo), false, "是/否；填写多个省份时视为跨省"),
            &["跨省", "是否跨省份", "是否跨省事件"],
        ),
        alias(
            col("follows_up", "补报原报告编号", Report("follows_up"), Text, false, "补报时填写原报告编号（回执中的报告编号）"),
            &["原报告编号", "补报编号", "原报告"],
        ),
    ]
}

/// A group company reporting for one of its provincial companies names it (Art. 12¶2 [通报办法]).
/// It is the last column of a form, so forms filled from earlier blanks read as before.
fn on_behalf_column() -> Column {
    alias(
        col("unit", "代报单位代码", Report("unit"), Text, false, "集团公司代下属公司报送时填写下属公司的单位代码；报送本单位的信息不填"),
        &["下属单位代码", "下属公司代码", "被代报单位代码", "代报单位"],
    )
}

fn last_on_behalf(mut columns: Vec<Column>) -> Vec<Column> {
    columns.push(on_behalf_column());
    columns
}

/// Every form, in a stable order.
pub fn all() -> Vec<FormSpec> {
    let mut event = common_event_columns();
    event.insert(
        1,
        alias(
            col("grade", "事件分级", Report("grade"), Choice(Choices::Grade), true, "特别重大、重大、较大或一般"),
            &["分级", "级别", "事件级别", "事件等级", "等级", "事件定级", "定级", "分级情况"],
        ),
    );
    // On an event form 影响范围 names where it happened; on a warning form, whom it may affect.
    if let Some(p) = event.iter_mut().find(|c| c.code == "provinces") {
        p.aliases = &[
            "省份",
            "影响省份",
            "涉及地区",
            "影响地区",
            "涉及省",
            "所在省份",
            "地区",
            "省份地区",
            "涉及省市",
            "受影响省份",
            "影响范围",
            "影响区域",
            "发生地区",
        ];
    }
    event.extend([
        alias(
            col("unit_overview", "事件发生单位概况", Content("unit_overview"), Text, true, "事件发生单位的基本情况"),
            &[
                "发生单位概况",
                "单位概况",
                "事件发生单位",
                "发生单位",
                "涉事单位",
                "事发单位",
                "事发单位概况",
                "涉事单位概况",
                "事件发生单位基本情况",
            ],
        ),
        alias(
            col("occurred_at", "事件发生时间", Content("occurred_at"), Time, true, "事件发生的时间"),
            &["发生时间", "事发时间", "事件发生日期", "发生日期"],
        ),
        alias(
            col("summary", "事件简要经过", Content("summary"), Text, true, "事件经过"),
            &[
                "简要经过",
                "事件经过",
                "事件概要",
                "事件描述",
                "事件简述",
                "事件情况",
                "事件简要情况",
                "简要情况",
                "事件简要描述",
                "经过",
                "事件概述",
                "概述",
                "描述",
            ],
        ),
        alias(
            col("impact", "初步估计的危害和影响", Content("impact"), Text, true, "危害和影响"),
            &[
                "危害和影响",
                "危害及影响",
                "初步估计危害和影响",
                "初步估计的危害及影响",
                "危害影响",
                "影响情况",
                "造成的影响",
                "危害",
                "影响",
            ],
        ),
        alias(
            col("measures", "已采取的措施", Content("measures"), Text, true, "已采取的处置措施"),
            &["处置措施", "已采取措施", "采取措施", "处置情况", "已采取的处置措施", "措施"],
        ),
        alias(
            col("other", "其他", Content("other"), Text, false, "其他应当报告的情况"),
            &["其他情况", "其他应报告的情况", "其他应当报告的情况", "其他需要报告的情况"],
        ),
        alias(
            col("suspected_crime", "是否涉嫌犯罪", Report("suspected_crime"), Choice(Choices::YesNo), false, "是/否"),
            &["涉嫌犯罪", "是否涉及犯罪"],
        ),
    ]);
    let mut warning = common_event_columns();
    warning.insert(
        1,
        alias(
            col("level", "预警级别", Report("level"), Choice(Choices::Level), true, "一级（红色）至四级（蓝色）"),
            &["级别", "预警等级", "等级", "预警级"],
        ),
    );
    warning.extend([
        alias(
            col("description", "信息基本情况描述", Content("description"), Text, true, "预警信息的基本情况"),
            &[
                "基本情况",
                "基本情况描述",
                "预警信息描述",
                "信息描述",
                "情况描述",
                "预警内容",
                "预警信息基本情况",
                "信息基本情况",
                "描述",
                "预警描述",
            ],
        ),
        alias(
            col("potential_harm", "可能产生的危害及程度", Content("potential_harm"), Text, true, ""),
            &["可能产生的危害", "危害及程度", "危害程度", "可能的危害", "可能造成的危害", "可能造成的危害及程度", "危害"],
        ),
        alias(
            col("affected_scope", "可能影响的用户及范围", Content("affected_scope"), Text, true, ""),
            &["影响的用户及范围", "影响范围", "影响用户及范围", "可能影响范围", "可能影响的范围", "影响用户范围", "可能影响的用户范围"],
        ),
        alias(
            col("aware_parties", "已知晓该信息的单位/人员范围", Content("aware_parties"), Text, true, "截至报送时"),
            &[
                "已知晓范围",
                "知晓范围",
                "已知晓该信息的单位人员范围",
                "已知晓单位",
                "已知晓的单位/人员范围",
                "已知晓该信息的单位/人员",
                "已知晓该信息的范围",
                "知晓单位/人员范围",
                "知悉范围",
                "已知悉范围",
                "知悉单位",
                "知情范围",
                "截至信息报送时已知晓该信息的单位/人员范围",
            ],
        ),
        alias(
            col("recommendations", "建议应采取的应对措施", Content("recommendations"), Text, true, ""),
            &["建议措施", "建议采取的应对措施", "应对措施", "应对建议", "处置建议", "建议的应对措施", "建议"],
        ),
    ]);
    let botnet = vec![
        alias(
            col("discovered_at", "发现时间", Report("discovered_at"), Time, true, "发现该事件的时间"),
            &["发现/获知时间", "获知时间", "发现获知时间", "发现日期", "事件发现时间"],
        ),
        alias(
            col(
                "grade",
                "事件分级",
                Report("grade"),
                Choice(Choices::Grade),
                false,
                "可不填：按规模自动定级，申报分级低于规模分级时自动调高",
            ),
            &["分级", "级别", "事件级别", "事件等级", "等级", "事件定级", "定级"],
        ),
        alias(
            col("provinces", "涉及省份", Report("provinces"), List, false, "多个用顿号分隔"),
            &["省份", "影响省份", "涉及地区", "影响地区", "所在省份", "地区", "涉及省"],
        ),
        alias(
            col("operator", "所属基础电信运营企业", Content("operator"), Text, false, ""),
            &["所属运营企业", "运营商", "运营企业", "所属运营商", "基础电信企业", "所属基础电信企业", "所属企业", "运营单位"],
        ),
        alias(
            col("cc_ip", "控制端IP", Item("cc_ip"), Text, true, "木马和僵尸网络控制端 IP 地址"),
            &[
                "控制端IP地址",
                "C&C IP",
                "C&C地址",
                "C&C IP地址",
                "C&C服务器",
                "C&C服务器IP",
                "控制服务器IP",
                "控制服务器地址",
                "控制服务器IP地址",
                "控制服务器",
                "C2地址",
                "C2 IP",
                "C2服务器",
                "CC地址",
                "CC服务器IP",
                "控制端地址",
                "控制端",
                "主控IP",
                "主控端IP",
                "控制IP",
            ],
        ),
        alias(
            col("port", "控制端端口", Item("port"), Int, false, "1–65535；也可与IP写在一格，如 203.0.113.7:6667"),
            &["端口", "端口号", "控制端口", "控制服务器端口", "C&C端口", "C2端口", "控制端端口号"],
        ),
        alias(col("cc_discovered_at", "控制端发现时间", Item("discovered_at"), Time, false, "不填则同发现时间"), &[]),
        alias(
            col("domains", "恶意域名", Item("domains"), List, false, "多个用逗号分隔"),
            &["使用的恶意域名", "域名", "控制端域名", "相关域名", "关联域名", "恶意域名列表", "C&C域名"],
        ),
        alias(
            col("bot_count", "受控IP数量", Item("bot_count"), Int, false, "规模；填写受控IP列表时可不填"),
            &[
                "规模",
                "受控主机数量",
                "受控IP数",
                "受控IP地址数",
                "受控IP地址数量",
                "肉鸡数量",
                "肉鸡数",
                "受控主机数",
                "受控规模",
                "受控数量",
                "感染规模",
                "受控端数量",
                "受控端数",
                "受感染主机数",
                "感染主机数量",
                "僵尸主机数量",
            ],
        ),
        alias(
            col("bot_ips", "受控IP列表", Item("bot_ips"), List, false, "可在一格内填多个；大量 IP 请填在“受控IP”表"),
            &["受控IP", "受控IP地址", "受控IP地址列表", "肉鸡IP", "受控主机IP", "受控端IP", "肉鸡IP列表"],
        ),
    ];
    let feedback = vec![
        alias(
            col("notice_ref", "事件报告编号", Content("notice_ref"), Text, true, "CNCERT 通报的事件报告编号"),
            &["通报编号", "报告编号", "事件编号", "通报事件编号", "原通报编号"],
        ),
        alias(
            col("unit_name", "单位名称", Content("unit_name"), Text, true, ""),
            &["反馈单位", "处置单位", "单位", "填报单位名称", "反馈单位名称", "处置单位名称"],
        ),
        alias(
            col("disposed", "已处置IP/域名", PushTo("disposed"), Text, false, "已处置的 IP 地址或恶意域名，一行一个"),
            &[
                "已处置",
                "已处置IP",
                "已处置域名",
                "已处置的IP/域名",
                "已处置对象",
                "已处置的IP地址和恶意域名",
                "已处置的IP地址和域名",
                "已处置的IP地址或域名",
            ],
        ),
        alias(
            col("undisposed", "未处置IP/域名", Item("target"), Text, false, "未处置的 IP 地址或恶意域名，一行一个"),
            &[
                "未处置",
                "未处置IP",
                "未处置域名",
                "未处置的IP/域名",
                "未处置对象",
                "未处置的IP地址和恶意域名",
                "未处置的IP地址和域名",
                "未处置的IP地址或域名",
            ],
        ),
        alias(
            col("reason", "未处置原因", Item("reason"), Text, false, "每个未处置的 IP/域名都须说明原因"),
            &["原因", "未处置原因说明", "未处置的原因", "原因说明"],
        ),
        alias(
            col("target", "IP地址或域名", Row("target"), Text, false, "也可一行一个目标，并在“是否已处置”中填是或否"),
            &["IP/域名", "IP地址/域名", "处置对象", "目标", "IP地址/恶意域名", "IP/恶意域名", "恶意IP/域名", "恶意IP或域名"],
        ),
        alias(
            col("is_disposed", "是否已处置", Row("is_disposed"), Choice(Choices::YesNo), false, "是/否"),
            &["已处置否", "处置结果", "是否处置"],
        ),
        alias(
            col("reported_at", "反馈时间", Report("discovered_at"), Time, false, "不填则为收到时间"),
            &["处置时间", "填报时间", "报送时间", "反馈日期"],
        ),
    ];
    let verification = vec![
        alias(
            col("notice_ref", "事件报告编号", Content("notice_ref"), Text, true, ""),
            &["通报编号", "报告编号", "事件编号", "通报事件编号", "原通报编号"],
        ),
        alias(
            col("target", "IP/域名", Item("target"), Text, true, "验证的 IP 地址或域名"),
            &["IP地址或域名", "IP/域名", "验证对象", "IP地址/域名", "验证IP/域名", "目标"],
        ),
        alias(
            col("still_malicious", "是否仍存在恶意连接", Item("still_malicious"), Choice(Choices::YesNo), true, "是/否"),
            &[
                "仍存在恶意连接",
                "是否仍存在恶意",
                "是否仍有恶意连接",
                "验证结果",
                "是否仍然存在恶意连接",
                "仍有恶意连接",
                "验证情况",
                "验证结论",
            ],
        ),
        alias(
            col("verified_at", "验证时间", Report("discovered_at"), Time, false, "不填则为收到时间"),
            &["验证日期", "填报时间", "报送时间"],
        ),
    ];
    let monthly = vec![
        alias(
            col(
                "month",
                "汇总月份",
                Content("month"),
                Month,
                true,
                "如 2026-09；本月无事件时只填月份一行；表头上方标题写明月份时可不设此列",
            ),
            &["月份", "统计月份", "报送月份", "所属月份", "汇总月度", "月度"],
        ),
        alias(
            col("occurred_at", "事件发生时间", Item("occurred_at"), Time, false, ""),
            &["发生时间", "事发时间", "事件发生日期", "发生日期"],
        ),
        alias(
            col("category", "信息类别", Item("category"), Choice(Choices::Category), false, ""),
            &["类别", "事件类别", "事件类型", "信息类型", "类型", "事件分类"],
        ),
        alias(
            col("summary", "事件简要经过", Item("summary"), Text, false, ""),
            &["简要经过", "事件经过", "事件概要", "事件描述", "事件简述", "事件情况", "简要情况", "事件概述", "概述"],
        ),
        alias(col("impact", "危害和影响", Item("impact"), Text, false, ""), &["危害及影响", "影响", "危害", "影响情况"]),
        alias(
            col("measures", "已采取的措施", Item("measures"), Text, false, ""),
            &["处置措施", "已采取措施", "采取措施", "处置情况", "措施"],
        ),
        alias(col("reported_at", "报送时间", Report("discovered_at"), Time, false, "不填则为收到时间"), &["填报时间", "汇总时间"]),
    ];
    let contacts = vec![
        alias(
            col("discovered_at", "变更时间", Report("discovered_at"), Time, true, "联系方式变更生效的时间"),
            &["变更日期", "变更生效时间", "生效时间", "生效日期", "更新时间", "更新日期"],
        ),
        alias(
            col("role", "职责", Item("role"), Choice(Choices::Role), true, "主管领导、责任部门负责人或联络人"),
            &["角色", "职务", "岗位", "联系人类型", "人员类别", "类别"],
        ),
        alias(col("name", "姓名", Item("name"), Text, true, ""), &["联系人姓名", "联系人", "人员姓名", "名字"]),
        alias(
            col("phone", "电话", Item("phone"), Text, false, ""),
            &["联系电话", "手机", "手机号码", "电话号码", "办公电话", "固定电话", "移动电话"],
        ),
        alias(
            col("email", "电子邮箱", Item("email"), Text, false, ""),
            &["邮箱", "电子邮件", "email", "e-mail", "电子邮箱地址", "邮件地址", "邮箱地址"],
        ),
    ];
    vec![
        FormSpec {
            kind: ReportKind::Event, sheet: "事件表", title: "网络安全事件信息报送表", columns: last_on_behalf(event), items: None
        },
        FormSpec {
            kind: ReportKind::Warning,
            sheet: "预警表",
            title: "网络安全预警信息报送表",
            columns: last_on_behalf(warning),
            items: None,
        },
        FormSpec {
            kind: ReportKind::BotnetEvent,
            sheet: "僵尸网络表",
            title: "木马和僵尸网络事件报送表",
            columns: last_on_behalf(botnet),
            items: Some("botnets"),
        },
        FormSpec {
            kind: ReportKind::DisposalFeedback,
            sheet: "处置反馈表",
            title: "木马和僵尸网络处置情况反馈表",
            columns: feedback,
            items: Some("undisposed"),
        },
        FormSpec {
            kind: ReportKind::Verification,
            sheet: "验证结果表",
            title: "木马和僵尸网络处置验证结果表",
            columns: verification,
            items: Some("results"),
        },
        FormSpec {
            kind: ReportKind::MonthlyGeneral,
            sheet: "月度汇总表",
            title: "一般事件月度汇总表",
            columns: monthly,
            items: Some("events"),
        },
        FormSpec {
            kind: ReportKind::ContactUpdate,
            sheet: "联系方式表",
            title: "信息通报联系方式变更表",
            columns: contacts,
            items: Some("contacts"),
        },
    ]
}

pub fn for_kind(kind: ReportKind) -> FormSpec {
    all().into_iter().find(|f| f.kind == kind).expect("every kind has a form")
}

/// The values a choice column offers (what the drop-down shows).
pub fn choices(c: Choices) -> Vec<String> {
    use crate::model::{Category, Grade, Province, WarningLevel};
    match c {
        Choices::Grade => Grade::ALL.iter().map(|g| g.label_zh().to_string()).collect(),
        Choices::Level => WarningLevel::ALL.iter().map(|l| l.label_zh().to_string()).collect(),
        Choices::Category => Category::ALL.iter().map(|c| c.label_zh().to_string()).collect(),
        Choices::Province => Province::ALL.iter().map(|p| p.short_zh().to_string()).collect(),
        Choices::Role => vec!["主管领导".into(), "责任部门负责人".into(), "联络人".into()],
        Choices::YesNo => vec!["是".into(), "否".into()],
    }
}
