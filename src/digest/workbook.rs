//! The digest as an xlsx workbook with native Excel charts (rust_xlsxwriter): an overview, one sheet per breakdown with its chart, typical cases, and late or missing reports.
//!
//! Every cell is written as a string or a number, never as a formula: labels come from units'
//! names and reporters' texts, and a leading `=` must stay text.

use super::{Digest, Line};
use rust_xlsxwriter::{Chart, ChartType, Color, Format, FormatBorder, Workbook, Worksheet, XlsxError};

fn heading() -> Format {
    Format::new().set_bold().set_background_color(Color::RGB(0xDDEBF7)).set_border(FormatBorder::Thin)
}

fn write_lines(wb: &mut Workbook, name: &str, title: &str, lines: &[Line], month: &str, previous: &str) -> Result<(), XlsxError> {
    let ws = wb.add_worksheet().set_name(name)?;
    let head = heading();
    ws.write_string_with_format(0, 0, title, &head)?;
    ws.write_string_with_format(0, 1, month, &head)?;
    ws.write_string_with_format(0, 2, previous, &head)?;
    for (i, l) in lines.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, &l.label)?;
        ws.write_number(row, 1, l.count as f64)?;
        ws.write_number(row, 2, l.previous as f64)?;
    }
    ws.set_column_width(0, 36)?;
    ws.set_column_width(1, 12)?;
    ws.set_column_width(2, 12)?;
    if !lines.is_empty() {
        let last = lines.len() as u32;
        let mut chart = Chart::new(ChartType::Column);
        for (col, label) in [(1u16, month), (2u16, previous)] {
            chart.add_series().set_name(label).set_categories((name, 1, 0, last, 0)).set_values((name, 1, col, last, col));
        }
        chart.title().set_name(title);
        chart.set_width(640).set_height(320);
        ws.insert_chart(1, 4, &chart)?;
    }
    Ok(())
}

fn table(ws: &mut Worksheet, headers: &[&str], rows: &[Vec<String>]) -> Result<(), XlsxError> {
    let head = heading();
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &head)?;
        ws.set_column_width(c as u16, 18)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32 + 1, c as u16, v)?;
        }
    }
    Ok(())
}

/// The workbook's bytes.
pub fn xlsx(d: &Digest) -> Result<Vec<u8>, String> {
    build(d).map_err(|e| e.to_string())
}

fn build(d: &Digest) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    {
        let ws = wb.add_worksheet().set_name("概览")?;
        let bold = Format::new().set_bold().set_font_size(14);
        ws.write_string_with_format(0, 0, format!("{} 网络安全信息月度通报", d.month), &bold)?;
        let rate = |r: Option<f64>| r.map(|v| format!("{v}%")).unwrap_or_else(|| "—".into());
        let rows: Vec<(&str, String)> = vec![
            ("本月报告总数", d.total.to_string()),
            ("上月报告总数", d.previous_total.to_string()),
            ("环比", d.change.map(|c| format!("{c:+}%")).unwrap_or_else(|| "—".into())),
            ("态势分析", d.trend.clone()),
            ("木马和僵尸网络处置通报数", d.disposal.notified.to_string()),
            ("按时反馈", d.disposal.on_time.to_string()),
            ("逾期反馈", d.disposal.late.to_string()),
            ("未反馈", (d.disposal.missed + d.disposal.open).to_string()),
            ("反馈率", rate(d.disposal.feedback_rate)),
            ("已处置IP/域名", d.disposal.targets_disposed.to_string()),
            ("未处置IP/域名", d.disposal.targets_undisposed.to_string()),
            ("处置率", rate(d.disposal.disposal_rate)),
        ];
        for (i, (k, v)) in rows.iter().enumerate() {
            ws.write_string(i as u32 + 2, 0, *k)?;
            ws.write_string(i as u32 + 2, 1, v)?;
        }
        ws.set_column_width(0, 26)?;
        ws.set_column_width(1, 80)?;
    }
    let (m, p) = (format!("{}（本月）", d.month), format!("{}（上月）", d.previous_month));
    write_lines(&mut wb, "按分级", "分级", &d.by_grade, &m, &p)?;
    write_lines(&mut wb, "按类别", "类别", &d.by_category, &m, &p)?;
    write_lines(&mut wb, "按单位", "报送单位", &d.by_unit, &m, &p)?;
    write_lines(&mut wb, "按地区", "地区", &d.by_province, &m, &p)?;
    write_lines(&mut wb, "按报告类型", "报告类型", &d.by_kind, &m, &p)?;
    {
        let ws = wb.add_worksheet().set_name("典型案例")?;
        let rows: Vec<Vec<String>> = d
            .typical
            .iter()
            .map(|c| {
                vec![
                    c.report_id.clone(),
                    c.kind.clone(),
                    c.severity.clone(),
                    c.unit.clone(),
                    c.provinces.clone(),
                    c.discovered_at.clone(),
                    c.title.clone(),
                ]
            })
            .collect();
        table(ws, &["报告编号", "类型", "级别", "报送单位", "涉及地区", "发现时间", "概况"], &rows)?;
    }
    {
        let ws = wb.add_worksheet().set_name("迟报漏报")?;
        let rows: Vec<Vec<String>> =
            d.lateness.iter().map(|l| vec![l.label.clone(), l.late.to_string(), l.missed.to_string(), l.on_time.to_string()]).collect();
        table(ws, &["单位", "迟报", "漏报", "按时"], &rows)?;
    }
    wb.save_to_buffer()
}
