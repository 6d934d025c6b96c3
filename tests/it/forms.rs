//! Spreadsheet forms: generated blanks filled by openpyxl, LibreOffice-made xls/ods, hand-made sheets, GBK CSV, hostile files.

use super::helpers::{Backend, Lib};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use tongbao::decision::Parsed;
use tongbao::forms::{self, spec, write};
use tongbao::model::report::ReportBody;
use tongbao::model::submission::Sender;
use tongbao::model::{Channel, Grade, Outcome, Province, Receipt, ReportKind, Submission, WarningLevel};
use tongbao::store::Store;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/forms").join(name)).unwrap()
}

fn python() -> String {
    std::env::var("TONGBAO_TEST_PYTHON")
        .expect("TONGBAO_TEST_PYTHON is not set: run the tests through ./scripts/test, which installs openpyxl")
}

async fn ingest(lib: &Lib, bytes: Vec<u8>, name: &str) -> Receipt {
    let sub =
        Submission::by_content(Channel::Upload, Sender::Unit("CT-GD".parse().unwrap()), bytes, "2026-10-09T00:00:00Z".parse().unwrap());
    let items = forms::parse(&sub.raw, name, sub.received_at, &forms::Limits::default());
    lib.intake.submit_parsed(Parsed::new(sub, items)).await.unwrap()
}

/// Fills the generated blank form of `kind` with `rows` through openpyxl and returns the xlsx bytes.
pub(crate) fn filled_by_openpyxl(kind: ReportKind, rows: serde_json::Value) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let form = spec::for_kind(kind);
    let blank = dir.path().join("blank.xlsx");
    std::fs::write(&blank, write::blank(&form).unwrap()).unwrap();
    let spec_file = dir.path().join("rows.json");
    std::fs::write(&spec_file, json!({"sheet": form.sheet, "first_row": write::FIRST_DATA_ROW + 1, "rows": rows}).to_string()).unwrap();
    let out = dir.path().join("filled.xlsx");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/forms_fill.py");
    let status = Command::new(python()).args([script]).arg(&blank).arg(&out).arg(&spec_file).status().unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

async fn a_generated_event_form_filled_by_openpyxl_round_trips_every_field(backend: Backend) {
    let lib = Lib::on(backend).await;
    let rows = json!([[
        {"datetime": "2026-09-23T10:00:00"}, "特别重大", "路由劫持", "广东、广西", "是", null,
        "省网骨干路由器", {"datetime": "2026-09-23T09:15:00"}, "某前缀被多个无关自治系统宣告", "部分用户访问异常", "已联系上游撤销宣告", "持续监测中"
    ]]);
    let r = ingest(&lib, filled_by_openpyxl(ReportKind::Event, rows), "filled.xlsx").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:#?}", r.errors);
    let stored = lib.store.report(r.reports[0].report_id, None).await.unwrap().unwrap().report.content;
    assert_eq!(stored.discovered_at.to_rfc3339(), "2026-09-23T02:00:00+00:00", "a date cell read as Beijing time");
    assert_eq!(stored.grade, Some(Grade::EspeciallyMajor));
    assert_eq!(stored.category.map(|c| c.code()), Some("route_hijack"));
    assert_eq!(stored.provinces, vec![Province::Guangdong, Province::Guangxi]);
    assert!(stored.cross_province);
    let ReportBody::Event(e) = stored.body else { panic!("an event") };
    assert_eq!(e.unit_overview, "省网骨干路由器");
    assert_eq!(e.occurred_at.to_rfc3339(), "2026-09-23T01:15:00+00:00");
    assert_eq!(e.summary, "某前缀被多个无关自治系统宣告");
    assert_eq!(e.impact, "部分用户访问异常");
    assert_eq!(e.measures, "已联系上游撤销宣告");
    assert_eq!(e.other.as_deref(), Some("持续监测中"));
}

async fn grouped_forms_round_trip_contacts_monthly_summaries_and_feedback(backend: Backend) {
    let lib = Lib::on(backend).await;
    let rows = json!([
        [{"datetime": "2026-09-30T15:00:00"}, "主管领导", "王领导", "020-1234567", "leader2@gd.example.cn"],
        [null, "联络人", "李联络", 13800000000i64, "soc2@gd.example.cn"]
    ]);
    let r = ingest(&lib, filled_by_openpyxl(ReportKind::ContactUpdate, rows), "contacts.xlsx").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:#?}", r.errors);
    let c = lib.store.report(r.reports[0].report_id, None).await.unwrap().unwrap().report.content;
    let ReportBody::ContactUpdate(b) = c.body else { panic!() };
    assert_eq!(b.contacts.len(), 2, "two rows, one report");
    assert_eq!(b.contacts[1].phone.as_deref(), Some("13800000000"), "a phone number typed as a number keeps its digits");

    let rows = json!([
        ["2026-09", {"datetime": "2026-09-03T10:00:00"}, "垃圾邮件", "垃圾邮件群发", "少量投诉", "已封禁"],
        ["2026-09", {"datetime": "2026-09-18T10:00:00"}, "漏洞", "发现弱口令", null, "已整改"]
    ]);
    let r = ingest(&lib, filled_by_openpyxl(ReportKind::MonthlyGeneral, rows), "monthly.xlsx").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:#?}", r.errors);
    let c = lib.store.report(r.reports[0].report_id, None).await.unwrap().unwrap().report.content;
    let ReportBody::MonthlyGeneral(m) = c.body else { panic!() };
    assert_eq!((m.month.to_string(), m.events.len()), ("2026-09".to_string(), 2));

    // "No events this month": the month alone.
    let r = ingest(&lib, filled_by_openpyxl(ReportKind::MonthlyGeneral, json!([["2026-08"]])), "none.xlsx").await;
    let c = lib.store.report(r.reports[0].report_id, None).await.unwrap().unwrap().report.content;
    let ReportBody::MonthlyGeneral(m) = c.body else { panic!() };
    assert!(m.events.is_empty());

    // Disposal feedback: an undisposed target without a reason is refused at its cell.
    let event = lib.submit("CNCERT", super::helpers::botnet(120_000, &[], "2026-06-01 08:00"), "2026-06-01T00:10:00Z").await;
    let id = event.reports[0].report_id.to_string();
    let rows = json!([[id, "中国电信广东分公司", "203.0.113.7", null, null], [null, null, null, "c2.example.com", null]]);
    let r = ingest(&lib, filled_by_openpyxl(ReportKind::DisposalFeedback, rows), "feedback.xlsx").await;
    assert_eq!(r.outcome, Outcome::Rejected);
    assert_eq!(r.errors[0].place, "处置反馈表!E5");
    assert!(r.errors[0].message.contains("未处置原因"), "{}", r.errors[0].message);
}

async fn libreoffice_xls_and_ods_read_like_the_xlsx_with_errors_at_their_cells(backend: Backend) {
    let lib = Lib::on(backend).await;
    let mut seen = Vec::new();
    for name in ["event-filled.xlsx", "event-filled.xls", "event-filled.ods", "event-filled.xlsm"] {
        let r = ingest(&lib, fixture(name), name).await;
        assert_eq!(r.outcome, Outcome::PartlyAccepted, "{name}");
        let places: Vec<String> = r.errors.iter().map(|e| e.place.clone()).collect();
        assert_eq!(places, vec!["事件表!A7", "事件表!B7"], "{name}");
        assert!(r.errors[1].message.contains("事件分级") && r.errors[1].message.contains("huge"), "{}", r.errors[1].message);
        let mut contents = Vec::new();
        for a in &r.reports {
            let mut v = serde_json::to_value(lib.store.report(a.report_id, None).await.unwrap().unwrap().report.content).unwrap();
            v.as_object_mut().unwrap().remove("follows_up");
            contents.push(v);
        }
        seen.push(contents);
    }
    assert_eq!(seen[0].len(), 2);
    assert_eq!(seen[0], seen[1], "xls reads as xlsx");
    assert_eq!(seen[0], seen[2], "ods reads as xlsx");
    assert_eq!(seen[0], seen[3], "xlsm reads as xlsx");
    assert_eq!(seen[0][1]["discovered_at"], "2026-09-24T00:30:00Z", "text date 2026/9/24 8:30");
    assert_eq!(seen[0][1]["content"]["occurred_at"], "2026-09-24T00:00:00Z", "2026年9月24日8时");
}

async fn a_hand_made_sheet_is_recognised_by_its_headers(backend: Backend) {
    let lib = Lib::on(backend).await;
    let r = ingest(&lib, fixture("warning-handmade.xlsx"), "warning-handmade.xlsx").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:#?}", r.errors);
    assert_eq!(r.reports.iter().map(|a| a.level).collect::<Vec<_>>(), vec![Some(WarningLevel::Blue), Some(WarningLevel::Orange)]);
    let c = lib.store.report(r.reports[1].report_id, None).await.unwrap().unwrap().report.content;
    assert_eq!(c.provinces, vec![Province::Guangdong], "full-width ＧＤ with spaces");
}

async fn bot_ips_come_from_the_ip_sheet_or_one_cell_and_count_once(backend: Backend) {
    let lib = Lib::on(backend).await;
    let r = ingest(&lib, fixture("botnet-with-ips.xlsx"), "botnet-with-ips.xlsx").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:#?}", r.errors);
    assert_eq!(r.reports.len(), 2, "each C&C row that states its event is an event of its own");
    let botnet = async |i: usize| {
        let c = lib.store.report(r.reports[i].report_id, None).await.unwrap().unwrap().report.content;
        let ReportBody::BotnetEvent(b) = c.body else { panic!() };
        b.botnets.into_iter().next().unwrap()
    };
    let first = botnet(0).await;
    assert_eq!(first.bot_count, 1100, "1001 rows on 受控IP (one listed twice) and 100 more on 受控IP2");
    assert_eq!(first.domains.len(), 2);
    let second = botnet(1).await;
    assert_eq!((second.bot_count, second.bot_ips.len()), (3, 3), "three IPs in one cell");
}

async fn a_gbk_csv_from_excel_is_read(backend: Backend) {
    let lib = Lib::on(backend).await;
    let r = ingest(&lib, fixture("event-gbk.csv"), "event-gbk.csv").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:#?}", r.errors);
    let c = lib.store.report(r.reports[0].report_id, None).await.unwrap().unwrap().report.content;
    assert_eq!(
        (c.grade, c.provinces.clone(), c.category.map(|x| x.code())),
        (Some(Grade::Large), vec![Province::Beijing], Some("web_defacement"))
    );
}

async fn hostile_and_unrecognised_files_are_refused_with_the_limit_named(backend: Backend) {
    let lib = Lib::on(backend).await;
    // A zip bomb: 200 MB of zeros that compress to a few hundred KB, posing as a worksheet.
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.xlsx");
    let code = format!(
        "import zipfile\nz = zipfile.ZipFile({:?}, 'w', zipfile.ZIP_DEFLATED)\nz.writestr('xl/worksheets/sheet1.xml', b'0' * (200 << 20))\nz.close()",
        bomb.display().to_string()
    );
    assert!(Command::new(python()).args(["-c", &code]).status().unwrap().success());
    let r = ingest(&lib, std::fs::read(&bomb).unwrap(), "bomb.xlsx").await;
    assert_eq!(r.outcome, Outcome::Rejected);
    assert_eq!(r.errors[0].code.to_string(), "too_large");
    assert!(r.errors[0].message.contains("压缩炸弹"), "{}", r.errors[0].message);

    let r = ingest(&lib, b"just,some,text\n1,2,3\n".to_vec(), "random.csv").await;
    assert_eq!(r.errors[0].code.to_string(), "unknown_kind");
    assert!(lib.store.counts().await.unwrap().submissions >= 2, "refused files are stored too");
}

/// A cell holds at most Excel's 32,767 characters: a CSV whose quote is never closed (a
/// truncated export) makes one field of the rest of the file, and a program can write a longer
/// cell into an xlsx (openpyxl does not stop it). Both are refused at that cell, saying why.
async fn a_cell_longer_than_excel_allows_is_refused_at_its_cell(backend: Backend) {
    let lib = Lib::on(backend).await;
    let header = "发现时间,信息类别,事件分级,事件发生单位概况,事件发生时间,事件简要经过,初步估计的危害和影响,已采取的措施";
    let row = |n: u32, summary: &str| format!("2026-10-0{n} 10:00,拒绝服务攻击,一般,某IDC,2026-10-0{n} 09:00,{summary},拥塞,清洗");
    let mut csv = format!("{header}\n{}\n{}", row(1, "攻击"), row(2, "\"攻击"));
    csv.push_str(&"流量突增，".repeat(10_000));
    csv.push_str(&format!("\n{}\n", row(3, "另一次")));
    let r = ingest(&lib, csv.into_bytes(), "truncated.csv").await;
    assert_eq!(r.outcome, Outcome::PartlyAccepted, "the good row goes through: {:?}", r.errors);
    assert_eq!((r.errors[0].code.to_string().as_str(), r.errors[0].place.as_str()), ("too_large", "truncated.csv!F3"));
    assert!(r.errors[0].message.contains("32767") && r.errors[0].message.contains("未闭合的引号"), "{}", r.errors[0].message);

    // openpyxl itself cuts a cell at 32,767 characters; a program that writes the XML does not.
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.xlsx");
    let code = format!(
        "import openpyxl, zipfile, shutil\nwb = openpyxl.Workbook()\nws = wb.active\nws.title = '事件表'\n\
         ws.append({header:?}.split(','))\nws.append({row:?}.split(','))\nwb.save({path:?})\n\
         src = zipfile.ZipFile({path:?})\nparts = {{n: src.read(n) for n in src.namelist()}}\nsrc.close()\n\
         parts = {{n: b.replace(b'QQQ', ('长' * 40000).encode()) for n, b in parts.items()}}\n\
         out = zipfile.ZipFile({path:?}, 'w', zipfile.ZIP_DEFLATED)\n[out.writestr(n, b) for n, b in parts.items()]\nout.close()",
        row = row(1, "QQQ"),
        path = long.display().to_string(),
    );
    let out = Command::new(python()).args(["-c", &code]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = ingest(&lib, std::fs::read(&long).unwrap(), "long.xlsx").await;
    assert_eq!((r.errors[0].code.to_string().as_str(), r.errors[0].place.as_str()), ("too_large", "事件表!F2"), "{:?}", r.errors);
    assert!(r.errors[0].message.contains("40000 个字符") && !r.errors[0].message.contains("引号"), "{}", r.errors[0].message);
}

async fn formulas_are_read_as_their_cached_values_never_evaluated(backend: Backend) {
    let lib = Lib::on(backend).await;
    let r = ingest(&lib, fixture("event-formulas.xlsx"), "event-formulas.xlsx").await;
    assert_eq!(r.outcome, Outcome::PartlyAccepted, "{:#?}", r.errors);
    assert_eq!(r.errors[0].place, "事件表!J5", "a formula whose cached value is an error is refused at its cell");
    assert!(r.errors[0].message.contains("公式计算出错"), "{}", r.errors[0].message);
    let c = lib.store.report(r.reports[0].report_id, None).await.unwrap().unwrap().report.content;
    let ReportBody::Event(e) = c.body else { panic!() };
    assert_eq!(e.summary, "垃圾邮件群发", "the value LibreOffice cached, not the formula text");
    assert_eq!(e.impact, "影响较小");
}

/// Writes a hand-made workbook through openpyxl (tests/it/forms_handmade.py).
fn handmade(sheets: serde_json::Value) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, json!({ "sheets": sheets }).to_string()).unwrap();
    let out = dir.path().join("form.xlsx");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/forms_handmade.py");
    assert!(Command::new(python()).arg(script).arg(&spec).arg(&out).status().unwrap().success());
    std::fs::read(out).unwrap()
}

async fn ingest_as(lib: &Lib, unit: &str, bytes: Vec<u8>, name: &str) -> Receipt {
    let sub = Submission::by_content(Channel::Upload, Sender::Unit(unit.parse().unwrap()), bytes, "2026-11-27T00:00:00Z".parse().unwrap());
    let (items, notes) = forms::parse_with_notes(&sub.raw, name, sub.received_at, &forms::Limits::default());
    lib.intake.submit_parsed(Parsed { notes, ..Parsed::new(sub, items) }).await.unwrap()
}

/// What an outside tester's own forms showed: each case as a clerk writes it.
async fn forms_as_outside_clerks_wrote_them(backend: Backend) {
    let lib = Lib::on(backend).await;
    // One botnet row with a bad port: its neighbours are still accepted, each its own event.
    let r = ingest_as(
        &lib,
        "CT-GD",
        handmade(json!([{"name": "僵尸", "rows": [
        ["控制端IP地址", "端口", "发现时间", "恶意域名", "规模"],
        ["198.51.100.101", 6667, "2026-11-26 15:00", "g1.example.com", 100],
        ["198.51.100.102", 6668, "2026-11-26 15:00", "无", 100],
        ["198.51.100.103", 70000, "2026-11-26 15:00", "-", 100]]}])),
        "botnet.xlsx",
    )
    .await;
    assert_eq!(r.outcome, Outcome::PartlyAccepted, "{:#?}", r.errors);
    assert_eq!(r.reports.len(), 2, "无 and - are no domain, not a bad one");
    assert_eq!((r.errors.len(), r.errors[0].place.as_str()), (1, "僵尸!B4"));

    // A national group's nationwide event: 全国 is every province.
    let r = ingest_as(
        &lib,
        "CM-GROUP",
        handmade(json!([{"name": "事件", "rows": [
        ["发现时间", "事件分级", "事件类别", "涉及省份", "事件发生单位概况", "发生时间", "事件经过", "危害和影响", "处置措施"],
        ["2026-11-20 03:05", "较大", "域名劫持", "全国", "集团DNS", "2026-11-20 03:00", "解析被篡改", "部分用户受影响", "已修正"],
        ["2026-11-20 04:05", "一般", "DDoS", "粤、苏", "IDC", "2026-11-20 04:00", "攻击", "拥塞", "清洗"]]}])),
        "event.xlsx",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:#?}", r.errors);
    let nationwide = lib.store.report(r.reports[0].report_id, None).await.unwrap().unwrap().report.content;
    assert_eq!(nationwide.provinces.len(), 31);
    let abbreviated = lib.store.report(r.reports[1].report_id, None).await.unwrap().unwrap().report.content;
    assert_eq!(abbreviated.provinces, vec![Province::Guangdong, Province::Jiangsu]);

    // A month without general events, said in words under the month's title.
    let r = ingest_as(
        &lib,
        "IDC-BJ",
        handmade(json!([{"name": "一般事件月报", "merge": ["A5:F5"], "rows": [
        ["一般网络安全事件月度汇总表"], ["报送单位：某数据中心有限公司"], ["统计月份：2026年11月"],
        ["序号", "事件发生时间", "事件类别", "事件简要经过", "危害和影响", "已采取的措施"],
        ["本月无一般网络安全事件"]]}])),
        "monthly.xlsx",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:#?}", r.errors);
    let ReportBody::MonthlyGeneral(m) = lib.store.report(r.reports[0].report_id, None).await.unwrap().unwrap().report.content.body else {
        panic!("a monthly summary")
    };
    assert_eq!((m.month.to_string(), m.events.len()), ("2026-11".to_string(), 0));

    // Bot IPs on a sheet of the clerk's own name, found by its header.
    let r = ingest_as(&lib, "CT-GD", handmade(json!([
        {"name": "控制端", "rows": [["发现时间", "控制端IP", "端口"], ["2026-11-26 16:00", "192.0.2.10", 5555]]},
        {"name": "肉鸡", "rows": [["控制端IP", "受控IP"], ["192.0.2.10", "198.51.100.11"], ["192.0.2.10", "198.51.100.12"], ["192.0.2.10", "198.51.100.12"]]}
    ])), "bots.xlsx").await;
    assert_eq!(r.outcome, Outcome::Accepted, "{:#?}", r.errors);
    let ReportBody::BotnetEvent(b) = lib.store.report(r.reports[0].report_id, None).await.unwrap().unwrap().report.content.body else {
        panic!("a botnet event")
    };
    assert_eq!(b.botnets[0].bot_count, 2, "two distinct bots listed on 肉鸡");
}

/// An event sheet with the regulation's headers, written by openpyxl, its rows added by the
/// Python lines `rows` (working on the sheet `ws`): for cells `handmade` cannot write.
fn event_sheet_by_openpyxl(rows: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("event.xlsx");
    let script = format!(
        "import openpyxl,sys\nwb=openpyxl.Workbook();ws=wb.active;ws.title='事件表'\n\
         ws.append(['发现时间','事件分级','信息类别','涉及省份','事件发生单位概况','事件发生时间','事件简要经过','初步估计的危害和影响','已采取的措施'])\n\
         {rows}wb.save(sys.argv[1])\n"
    );
    assert!(Command::new(python()).args(["-c", &script]).arg(&out).status().unwrap().success());
    std::fs::read(out).unwrap()
}

/// A few-KB workbook whose formulas sit a million rows and 16,384 columns apart (openpyxl writes
/// them without values) is read cell by cell: the formula next to the data is refused at its
/// cell, the far one is ignored, and nothing the size of the sheet is allocated.
#[tokio::test]
async fn formulas_far_apart_cost_nothing_and_the_near_one_is_refused() {
    let bytes = event_sheet_by_openpyxl(
        "ws.append(['=TODAY()','重大','DDoS','广东','IDC','2026-09-23 10:00','攻击','中断','清洗'])\nws['XFD1048576']='=1'\n",
    );
    assert!(bytes.len() < 16_384, "a small file: {} bytes", bytes.len());
    let items = forms::parse(&bytes, "far.xlsx", "2026-09-23T03:00:00Z".parse().unwrap(), &forms::Limits::default()).unwrap();
    assert_eq!(items.len(), 1);
    let errors = items[0].1.as_ref().unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!((errors[0].code, errors[0].place.as_str()), (tongbao::model::ErrorCode::UncomputedFormula, "事件表!A2"));
}

/// A valid row and one stray value at XFD1048576, as openpyxl writes it (a 2 KB file): the row
/// is read, and the stray value, under no header, is named in the notes rather than dropped.
#[tokio::test]
async fn a_stray_value_under_no_header_is_named_not_dropped() {
    let bytes = event_sheet_by_openpyxl(
        "ws.append(['2026-09-23 09:00','重大','DDoS','广东','IDC','2026-09-23 08:00','攻击','中断','清洗'])\nws['XFD1048576']='备注：另有一起'\n",
    );
    let (items, notes) = forms::parse_with_notes(&bytes, "stray.xlsx", "2026-09-23T03:00:00Z".parse().unwrap(), &forms::Limits::default());
    let items = items.unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].1.is_ok(), "{:?}", items[0].1);
    assert!(notes.iter().any(|n| n.place == "事件表!XFD1048576" && n.message.contains("没有表头")), "{notes:?}");
}

/// Bots listed without a C&C column belong to the workbook's only C&C; with two C&Cs they
/// belong to none that can be told, and the rows that relied on them are refused, not inflated.
async fn a_bot_list_without_a_cc_column_goes_to_the_only_cc_or_to_none(backend: Backend) {
    let lib = Lib::on(backend).await;
    let bots = json!({"name": "受控主机", "rows": [["序号", "受控IP"], [1, "198.51.100.11"], [2, "198.51.100.12"]]});
    let one = ingest_as(
        &lib,
        "CT-GD",
        handmade(json!([
        {"name": "控制端", "rows": [["发现时间", "控制端IP", "端口"], ["2026-11-26 16:00", "192.0.2.10", 5555]]}, bots.clone()])),
        "one.xlsx",
    )
    .await;
    assert_eq!(one.outcome, Outcome::Accepted, "{:#?}", one.errors);
    let two = ingest_as(&lib, "CT-GD", handmade(json!([
        {"name": "控制端", "rows": [["发现时间", "控制端IP", "端口"], ["2026-11-26 17:00", "192.0.2.10", 5555], ["2026-11-26 18:00", "192.0.2.11", 5556]]},
        bots])), "two.xlsx").await;
    assert_eq!(two.outcome, Outcome::Rejected, "{:#?}", two.reports);
    assert!(two.errors.iter().all(|e| e.message.contains("无法确定")), "{:#?}", two.errors);
}

/// A date cell holding −1e20 (or 1e20) is refused at its cell; the reader never panics on it.
#[tokio::test]
async fn a_date_cell_far_outside_the_calendar_is_refused_not_a_panic() {
    let bytes = event_sheet_by_openpyxl(
        "for v in (-1e20, 1e20):\n    ws.append([v,'重大','DDoS','广东','IDC','2026-09-23 10:00','攻击','中断','清洗'])\n    ws.cell(ws.max_row, 1).number_format='yyyy-mm-dd hh:mm'\n",
    );
    let items = forms::parse(&bytes, "dates.xlsx", "2026-09-23T03:00:00Z".parse().unwrap(), &forms::Limits::default()).unwrap();
    assert_eq!(items.len(), 2);
    for (i, (_, r)) in items.iter().enumerate() {
        let e = &r.as_ref().unwrap_err()[0];
        assert_eq!((e.code, e.place.as_str()), (tongbao::model::ErrorCode::BadTime, ["事件表!A2", "事件表!A3"][i]));
    }
}

/// A dense-range bomb: a 6 KB xlsx written by openpyxl with a value at A1 and one at
/// XFD1048576 (17 billion cells apart), and one with a value in column XFD on each of 20,000
/// rows. The reader streams the cells, so it neither allocates the range between them nor
/// grows past its cell limit: `tongbao ingest` answers under a 1.5 GB address-space limit
/// (a dense read would abort on its first allocation).
#[test]
fn a_dense_range_bomb_is_read_cell_by_cell_within_bounded_memory() {
    let hub = crate::helpers::Hub::new().with_units();
    let code = format!(
        "import openpyxl\n\
         wb = openpyxl.Workbook(); ws = wb.active; ws.title = '事件表'\n\
         ws['A1'] = '事件名称'; ws['XFD1048576'] = 'x'\n\
         wb.save({:?})\n\
         wb = openpyxl.Workbook(); ws = wb.active\n\
         for r in range(1, 20001):\n    ws.cell(row=r, column=1, value='a'); ws.cell(row=r, column=16384, value='z')\n\
         wb.save({:?})\n",
        hub.path().join("far.xlsx").display().to_string(),
        hub.path().join("wide.xlsx").display().to_string(),
    );
    assert!(Command::new(python()).args(["-c", &code]).status().unwrap().success());
    assert!(std::fs::metadata(hub.path().join("far.xlsx")).unwrap().len() < 16 << 10);
    for (file, expected) in [("far.xlsx", "unknown_kind"), ("wide.xlsx", "too_large")] {
        let out = Command::new("prlimit")
            .arg("--as=1500000000")
            .arg(env!("CARGO_BIN_EXE_tongbao"))
            .args(["--json", "ingest", file, "--unit", "CT-GD"])
            .current_dir(hub.path())
            .env("TONGBAO_LOG", "warn")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(expected), "{file}: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The standing hostile corpus of spreadsheets (`tests/hostile/sheets/`, written by
/// `tests/hostile/make_sheets.py`): each file is answered with its outcome and with the exact
/// code at the exact place, within the limits, and the hub takes a good form after each one.
async fn the_hostile_spreadsheet_corpus_is_answered_case_by_case_and_the_hub_stays_up(backend: Backend) {
    let lib = Lib::on(backend).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let corpus: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("sheet-cases.json")).unwrap()).unwrap();
    let cases = corpus["cases"].as_array().unwrap();
    assert!(cases.len() >= 90, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (n, c) in cases.iter().enumerate() {
        let (name, file) = (c["name"].as_str().unwrap(), c["file"].as_str().unwrap());
        let mut bytes = std::fs::read(dir.join("sheets").join(file)).unwrap();
        if let Some(tail) = c.get("tail") {
            let unit = hex::decode(tail["hex"].as_str().unwrap()).unwrap();
            for _ in 0..tail["times"].as_u64().unwrap() {
                bytes.extend_from_slice(&unit);
            }
        }
        let r = ingest_as(&lib, "CT-GD", bytes, file).await;
        let got: Vec<String> = r.errors.iter().map(|e| format!("{} at {:?}", e.code, e.place)).collect();
        let outcome = match r.outcome {
            Outcome::Accepted => "accepted",
            Outcome::PartlyAccepted => "partly",
            Outcome::Rejected => "rejected",
        };
        if outcome != c["outcome"].as_str().unwrap() {
            failures.push(format!("{name}: expected {}, got {outcome} {got:?}", c["outcome"]));
            continue;
        }
        for e in c["expected"].as_array().unwrap() {
            let (code, place) = (e["code"].as_str().unwrap(), e["place"].as_str().unwrap());
            if !r.errors.iter().any(|got| got.code.to_string() == code && got.place == place) {
                failures.push(format!("{name}: expected {code} at {place:?}, got {got:?}"));
            }
        }
        // Every refusal says what was expected, in Chinese.
        assert!(r.errors.iter().all(|e| !e.expected.is_empty() && !e.message.is_empty()), "{name}: {:?}", r.errors);
        let good = format!(
            "发现时间,事件分级,事件类别,涉及省份,事件发生单位概况,发生时间,事件经过,危害和影响,处置措施\n\
             2026-11-20 03:05,一般,DDoS,广东,IDC,2026-11-20 03:00,攻击 {n},拥塞,清洗\n"
        );
        let after = ingest_as(&lib, "CT-GD", good.into_bytes(), "good.csv").await;
        assert_eq!(after.outcome, Outcome::Accepted, "after {name}: {:?}", after.errors);
    }
    assert!(failures.is_empty(), "{} of {} cases answered otherwise:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

crate::on_both_backends!(
    a_cell_longer_than_excel_allows_is_refused_at_its_cell,
    a_generated_event_form_filled_by_openpyxl_round_trips_every_field,
    grouped_forms_round_trip_contacts_monthly_summaries_and_feedback,
    libreoffice_xls_and_ods_read_like_the_xlsx_with_errors_at_their_cells,
    a_hand_made_sheet_is_recognised_by_its_headers,
    bot_ips_come_from_the_ip_sheet_or_one_cell_and_count_once,
    a_gbk_csv_from_excel_is_read,
    hostile_and_unrecognised_files_are_refused_with_the_limit_named,
    formulas_are_read_as_their_cached_values_never_evaluated,
    forms_as_outside_clerks_wrote_them,
    a_bot_list_without_a_cc_column_goes_to_the_only_cc_or_to_none,
    the_hostile_spreadsheet_corpus_is_answered_case_by_case_and_the_hub_stays_up,
);
