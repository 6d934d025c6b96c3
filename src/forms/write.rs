//! Blank forms (xlsx) for every report kind, written with rust_xlsxwriter: headers, notes, drop-downs, date formats, hidden marker.
//!
//! Everything written is a string or a format: no formulas, so nothing the hub writes is
//! ever evaluated by a spreadsheet program.

use super::spec::{self, Cell, Choices, FORM_VERSION, FormSpec, LIST_SHEET, MARKER_SHEET, NOTES_SHEET};
use rust_xlsxwriter::{Color, DataValidation, Format, FormatAlign, FormatBorder, Formula, Workbook, XlsxError};

/// Rows reserved above the data: title, Chinese headers, English codes.
pub const HEADER_ROW: u32 = 1;
pub const FIRST_DATA_ROW: u32 = 3;
/// The bot-IP sheet of the botnet form.
pub const BOT_IP_SHEET: &str = "受控IP";

const LIST_ORDER: [Choices; 6] = [Choices::Grade, Choices::Level, Choices::Category, Choices::Province, Choices::Role, Choices::YesNo];

/// The xlsx bytes of the blank form for one kind.
pub fn blank(form: &FormSpec) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let title = Format::new().set_bold().set_font_size(14).set_align(FormatAlign::Center);
    let head = Format::new().set_bold().set_background_color(Color::RGB(0xDDEBF7)).set_border(FormatBorder::Thin).set_text_wrap();
    let code = Format::new().set_font_color(Color::RGB(0x808080)).set_font_size(9);
    let time = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let text = Format::new().set_num_format("@");

    let last_col = (form.columns.len() - 1) as u16;
    let ws = wb.add_worksheet();
    ws.set_name(form.sheet)?;
    ws.merge_range(0, 0, 0, last_col, form.title, &title)?;
    for (i, c) in form.columns.iter().enumerate() {
        let col = i as u16;
        let label = if c.required { format!("{}*", c.zh) } else { c.zh.to_string() };
        ws.write_string_with_format(HEADER_ROW, col, label, &head)?;
        ws.write_string_with_format(HEADER_ROW + 1, col, c.code, &code)?;
        ws.set_column_width(col, (c.zh.chars().count() as f64 * 2.2).max(14.0))?;
        match c.cell {
            Cell::Time => {
                ws.set_column_format(col, &time)?;
            }
            Cell::Text | Cell::List | Cell::Month => {
                // Text format keeps phone numbers, IPs and ids as typed (no 1.38E+10).
                ws.set_column_format(col, &text)?;
            }
            _ => {}
        }
        if let Cell::Choice(choices) = c.cell {
            let n = spec::choices(choices).len();
            let letter = column_letter(LIST_ORDER.iter().position(|x| *x == choices).expect("listed") as u16);
            let dv = DataValidation::new()
                .allow_list_formula(Formula::new(format!("={LIST_SHEET}!${letter}$1:${letter}${n}")))
                .set_input_title(c.zh)?
                .set_input_message(if c.note_zh.is_empty() { "请从列表中选择" } else { c.note_zh })?;
            ws.add_data_validation(FIRST_DATA_ROW, col, 1_048_575, col, &dv)?;
        }
    }
    ws.set_freeze_panes(FIRST_DATA_ROW, 0)?;
    print_setup(ws, HEADER_ROW + 1)?;
    // Some rows ready to fill, bordered so that a printed blank has lines to write on.
    let cell = Format::new().set_border(FormatBorder::Thin).set_text_wrap();
    for r in FIRST_DATA_ROW..FIRST_DATA_ROW + 15 {
        ws.set_row_height(r, 28)?;
        for c in 0..=last_col {
            ws.write_blank(r, c, &cell)?;
        }
    }

    if form.kind == crate::model::ReportKind::BotnetEvent {
        let ips = wb.add_worksheet();
        ips.set_name(BOT_IP_SHEET)?;
        ips.write_string_with_format(0, 0, "控制端IP*", &head)?;
        ips.write_string_with_format(0, 1, "受控IP*", &head)?;
        ips.write_string_with_format(1, 0, "cc_ip", &code)?;
        ips.write_string_with_format(1, 1, "bot_ip", &code)?;
        ips.set_column_width(0, 20)?;
        ips.set_column_width(1, 20)?;
        ips.set_column_format(0, &text)?;
        ips.set_column_format(1, &text)?;
        ips.set_freeze_panes(2, 0)?;
    }

    let notes = wb.add_worksheet();
    notes.set_name(NOTES_SHEET)?;
    let intro = [
        "1. 每行填写一条信息；标 * 的列必须填写。第 3 行为字段代码，请勿删除。",
        "2. 时间按北京时间填写，如 2026-09-23 10:00，也可写 2026/9/23 10:00 或 2026年9月23日10时。",
        "3. 多个省份、IP 或域名可在一格内用顿号、逗号或换行分隔。",
        "4. 有下拉列表的列请从列表中选择。",
        "5. 请勿修改工作表名称；表格可通过邮件附件、上传或报送系统提交，提交后会收到回执。",
    ];
    // Each instruction spans the table's width and wraps, so it prints whole on the page.
    let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    for (i, line) in intro.iter().enumerate() {
        notes.merge_range(1 + i as u32, 0, 1 + i as u32, 3, line, &wrap)?;
        notes.set_row_height(1 + i as u32, 30)?;
    }
    let top = 1 + intro.len() as u32 + 1;
    for (j, h) in ["列名", "字段代码", "是否必填", "说明"].iter().enumerate() {
        notes.write_string_with_format(top, j as u16, *h, &head)?;
    }
    let bordered = Format::new().set_text_wrap().set_border(FormatBorder::Thin).set_align(FormatAlign::Top);
    for (i, c) in form.columns.iter().enumerate() {
        let r = top + 1 + i as u32;
        notes.write_string_with_format(r, 0, c.zh, &bordered)?;
        notes.write_string_with_format(r, 1, c.code, &bordered)?;
        notes.write_string_with_format(r, 2, if c.required { "必填" } else { "选填" }, &bordered)?;
        notes.write_string_with_format(r, 3, c.note_zh, &bordered)?;
    }
    notes.set_column_width(0, 28)?;
    notes.set_column_width(1, 18)?;
    notes.set_column_width(2, 10)?;
    notes.set_column_width(3, 60)?;
    notes.merge_range(0, 0, 0, 3, &format!("{}填表说明", form.title), &title)?;
    print_setup(notes, 0)?;
    notes.set_portrait();

    let lists = wb.add_worksheet();
    lists.set_name(LIST_SHEET)?;
    for (j, choices) in LIST_ORDER.iter().enumerate() {
        for (i, v) in spec::choices(*choices).iter().enumerate() {
            lists.write_string(i as u32, j as u16, v)?;
        }
    }
    lists.set_hidden(true);

    add_marker(&mut wb, form.kind)?;
    wb.save_to_buffer()
}

/// How a sheet prints: A4 landscape, all columns on one page's width, the rows through
/// `repeat_through` (title and headers) repeated on every page, page numbers at the foot.
fn print_setup(ws: &mut rust_xlsxwriter::Worksheet, repeat_through: u32) -> Result<(), XlsxError> {
    ws.set_paper_size(9);
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    ws.set_print_center_horizontally(true);
    ws.set_margins(0.4, 0.4, 0.6, 0.6, 0.3, 0.3);
    ws.set_repeat_rows(0, repeat_through)?;
    ws.set_footer("&C第 &P 页，共 &N 页");
    Ok(())
}

/// The hidden sheet that tells the reader which form this is, so parsing never guesses.
fn add_marker(wb: &mut Workbook, kind: crate::model::ReportKind) -> Result<(), XlsxError> {
    let marker = wb.add_worksheet();
    marker.set_name(MARKER_SHEET)?;
    marker.write_string(0, 0, "tongbao-form")?;
    marker.write_string(1, 0, kind.code())?;
    marker.write_string(2, 0, FORM_VERSION)?;
    marker.set_hidden(true);
    Ok(())
}

/// `A`, `B`, … `Z`, `AA`, … for a 0-based column.
pub fn column_letter(col: u16) -> String {
    let mut n = u32::from(col) + 1;
    let mut s = Vec::new();
    while n > 0 {
        let r = ((n - 1) % 26) as u8;
        s.push(b'A' + r);
        n = (n - 1) / 26;
    }
    s.reverse();
    String::from_utf8(s).expect("ASCII")
}

/// A filled botnet form with one C&C row and `bots` rows on the 受控IP sheet, for benchmarks.
pub fn large_botnet(bots: usize) -> Result<Vec<u8>, XlsxError> {
    let form = spec::for_kind(crate::model::ReportKind::BotnetEvent);
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(form.sheet)?;
    for (i, c) in form.columns.iter().enumerate() {
        ws.write_string(HEADER_ROW, i as u16, c.zh)?;
    }
    let row = FIRST_DATA_ROW - 1;
    ws.write_string(row, 0, "2026-06-01 08:00")?;
    ws.write_string(row, 2, "广东")?;
    ws.write_string(row, 4, "203.0.113.7")?;
    ws.write_number(row, 5, 6667)?;
    let ips = wb.add_worksheet();
    ips.set_name(BOT_IP_SHEET)?;
    ips.write_string(0, 0, "控制端IP")?;
    ips.write_string(0, 1, "受控IP")?;
    for i in 0..bots {
        let ip = std::net::Ipv4Addr::from(0x0A00_0000u32 + i as u32);
        ips.write_string(1 + i as u32, 0, "203.0.113.7")?;
        ips.write_string(1 + i as u32, 1, ip.to_string())?;
    }
    add_marker(&mut wb, form.kind)?;
    wb.save_to_buffer()
}

/// A botnet form with `rows` rows, each its own C&C (one report per row) with 100 bots: the
/// form a unit sends when it reports a month of findings at once.
pub fn botnet_rows(rows: usize) -> Result<Vec<u8>, XlsxError> {
    let form = spec::for_kind(crate::model::ReportKind::BotnetEvent);
    let at = |code: &str| form.columns.iter().position(|c| c.code == code).map(|i| i as u16).unwrap_or(0);
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(form.sheet)?;
    for (i, c) in form.columns.iter().enumerate() {
        ws.write_string(HEADER_ROW, i as u16, c.zh)?;
    }
    for i in 0..rows {
        let row = FIRST_DATA_ROW - 1 + i as u32;
        ws.write_string(row, at("discovered_at"), "2026-06-01 08:00")?;
        ws.write_string(row, at("provinces"), "广东")?;
        ws.write_string(row, at("cc_ip"), std::net::Ipv4Addr::from(0x0B00_0000u32 + i as u32).to_string())?;
        ws.write_number(row, at("port"), 6667)?;
        ws.write_number(row, at("bot_count"), 100)?;
    }
    add_marker(&mut wb, form.kind)?;
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn part(xlsx: &[u8], name: &str) -> String {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
        let mut out = String::new();
        zip.by_name(name).unwrap().read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn every_form_prints_landscape_one_page_wide_with_its_headers_on_every_page() {
        for form in spec::all() {
            let xlsx = blank(&form).unwrap();
            let sheet = part(&xlsx, "xl/worksheets/sheet1.xml");
            assert!(sheet.contains(r#"orientation="landscape""#), "{}", form.title);
            assert!(sheet.contains(r#"fitToHeight="0""#) && sheet.contains("fitToPage"), "{}: {sheet}", form.title);
            assert!(sheet.contains(r#"paperSize="9""#), "A4: {}", form.title);
            let workbook = part(&xlsx, "xl/workbook.xml");
            assert!(workbook.contains("_xlnm.Print_Titles"), "header rows repeat: {}", form.title);
        }
    }

    #[test]
    fn column_letters() {
        assert_eq!(super::column_letter(0), "A");
        assert_eq!(super::column_letter(25), "Z");
        assert_eq!(super::column_letter(26), "AA");
        assert_eq!(super::column_letter(701), "ZZ");
        assert_eq!(super::column_letter(702), "AAA");
    }
}
