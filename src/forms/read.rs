//! Filled forms → canonical reports: xlsx, xlsm, xls, ods (calamine) and csv (UTF-8 or GBK), with every error placed at `sheet!cell`.
//!
//! Each data row becomes the canonical JSON shape and goes through the same parser as JSON
//! submissions; its JSON-pointer errors are mapped back to the cell they came from.

use super::guard;
use super::spec::{self, Cell, Choices, Column, FormSpec, MARKER_SHEET, Target};
use super::write::{BOT_IP_SHEET, column_letter};
use crate::intake::json::{Item, parse_form_report};
use crate::model::{ErrorCode, IntakeError, Note, ReportKind, fold_width};
use calamine::{Data, Reader};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::Cursor;

use super::Limits;

/// One cell as the reader needs it.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Empty,
    Text(String),
    Num(f64),
    Bool(bool),
    Time(NaiveDateTime),
    /// A formula whose cached result is an error (#NAME?, #REF!, …).
    Error(String),
    /// Text longer than a cell may hold (`MAX_CELL_CHARS`), kept as its length only: refused at
    /// its cell, never read as a header or a value.
    TooLong {
        chars: usize,
        in_csv: bool,
    },
}

struct Sheet {
    name: String,
    /// 0-based index of the first row and column in the sheet (calamine ranges may start later).
    origin: (u32, u32),
    rows: Vec<Vec<V>>,
    /// Formulas of cells that hold no value (written by a program that never computed them),
    /// by (row, column) in `rows`.
    uncomputed: HashMap<(usize, usize), String>,
}

impl Sheet {
    /// Where a cell is, as the sender's spreadsheet names it: `事件表!D7`, from 0-based indices into `rows`.
    fn cell_place(&self, row: usize, col: usize) -> String {
        format!("{}!{}{}", self.name, column_letter((self.origin.1 as usize + col) as u16), self.origin.0 as usize + row + 1)
    }
}

fn refused(code: ErrorCode, place: &str, expected: impl Into<String>, found: impl Into<String>) -> IntakeError {
    IntakeError::new(code, place, expected, Some(found.into()))
}

/// Where a clerk finds the blank forms; said in every refusal of a sheet that is not one.
pub const BLANK_FORM_HINT: &str = "空白报送表附在回执邮件中，也可在报送系统的“空白报送表”页面（/forms）下载。";

/// What reading a file found besides its reports: columns and sheets left out, each with its place.
pub type Notes = Vec<Note>;

/// Reads a workbook or CSV file into reports (or errors), one item per report.
pub fn parse(bytes: &[u8], file_name: &str, received_at: DateTime<Utc>, limits: &Limits) -> Result<Vec<Item>, IntakeError> {
    parse_with_notes(bytes, file_name, received_at, limits).0
}

/// Like `parse`, and also says what it ignored: unknown columns and sheets that hold no form.
pub fn parse_with_notes(
    bytes: &[u8],
    file_name: &str,
    received_at: DateTime<Utc>,
    limits: &Limits,
) -> (Result<Vec<Item>, IntakeError>, Notes) {
    let mut notes = Vec::new();
    // A reader library that panics on some crafted file must not take the channel's task (or
    // the CLI) with it: the file is refused at its name, like any other unreadable one.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_file(bytes, file_name, received_at, limits, &mut notes)));
    match read {
        Ok(items) => (items, notes),
        Err(panic) => {
            let why = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
            tracing::warn!(file = %file_name, panic = why.as_deref().unwrap_or("?"), "a spreadsheet reader panicked; the file is refused");
            let name = std::path::Path::new(file_name).file_name().and_then(|n| n.to_str()).unwrap_or(file_name);
            let e = refused(ErrorCode::NotObject, name, "完整的电子表格文件（文件已损坏）", "文件结构无法读取");
            (Err(e), Vec::new())
        }
    }
}

/// One sheet of a file as a person sees it: its cells as text, with the addresses a refusal names.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PreviewSheet {
    pub name: String,
    /// Column letters of the columns shown (`A`, `B`, …).
    pub columns: Vec<String>,
    pub rows: Vec<PreviewRow>,
    /// Rows or columns left out of the preview.
    pub truncated: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PreviewRow {
    /// The row's number in the spreadsheet (1-based).
    pub number: usize,
    /// Each shown cell: its place as refusals name it (`事件表!D7`) and its text.
    pub cells: Vec<(String, String)>,
}

/// The sheets of a file as a preview shows them (hidden `_` sheets left out), at most `max_rows`
/// rows and `max_cols` columns each, read under the same limits and guards as `parse`.
pub fn preview(bytes: &[u8], file_name: &str, limits: &Limits, max_rows: usize, max_cols: usize) -> Result<Vec<PreviewSheet>, IntakeError> {
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_sheets(bytes, file_name, limits)));
    let name = std::path::Path::new(file_name).file_name().and_then(|n| n.to_str()).unwrap_or(file_name);
    let (sheets, _) = match read {
        Ok(r) => r?,
        Err(_) => return Err(refused(ErrorCode::NotObject, name, "完整的电子表格文件（文件已损坏）", "文件结构无法读取")),
    };
    Ok(sheets
        .iter()
        .filter(|s| !s.name.starts_with('_'))
        .map(|sheet| {
            let width = sheet.rows.iter().map(Vec::len).max().unwrap_or(0);
            let shown = width.min(max_cols);
            let rows = sheet
                .rows
                .iter()
                .enumerate()
                .take(max_rows)
                .map(|(r, row)| PreviewRow {
                    number: sheet.origin.0 as usize + r + 1,
                    cells: (0..shown).map(|c| (sheet.cell_place(r, c), row.get(c).map(cell_text).unwrap_or_default())).collect(),
                })
                .collect();
            PreviewSheet {
                name: sheet.name.clone(),
                columns: (0..shown).map(|c| column_letter((sheet.origin.1 as usize + c) as u16)).collect(),
                rows,
                truncated: sheet.rows.len() > max_rows || width > max_cols,
            }
        })
        .collect())
}

/// A cell's value as text, the way the sheet shows it.
fn cell_text(v: &V) -> String {
    match v {
        V::Empty => String::new(),
        V::Text(t) => t.clone(),
        V::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{n:.0}"),
        V::Num(n) => n.to_string(),
        V::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        V::Time(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        V::Error(e) => e.clone(),
        V::TooLong { chars, .. } => format!("（{chars} 个字符）"),
    }
}

fn read_file(bytes: &[u8], path: &str, received_at: DateTime<Utc>, limits: &Limits, notes: &mut Notes) -> Result<Vec<Item>, IntakeError> {
    let file_name = std::path::Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path);
    let (sheets, marker) = read_sheets(bytes, path, limits)?;
    let mut items = Vec::new();
    let mut recognised = false;
    let bot_ips = bot_ip_sheet(&sheets);
    for sheet in sheets.iter().filter(|s| is_bot_ip_sheet(s)) {
        let (cc, bot, first) = bot_ip_columns(sheet);
        let Some(header) = first.checked_sub(1).map(|r| &sheet.rows[r]) else { continue };
        for (c, v) in header.iter().enumerate() {
            if let V::Text(text) = v
                && Some(c) != cc
                && c != bot
            {
                let place = sheet.cell_place(first - 1, c);
                notes.push(Note::new(&place, format!("未识别的列“{text}”，其内容未报送（受控IP表只读取控制端IP和受控IP两列）")));
            }
        }
    }
    for sheet in sheets.iter().filter(|s| !s.name.starts_with('_') && s.name != spec::NOTES_SHEET && !is_bot_ip_sheet(s)) {
        match recognise(sheet, marker) {
            Recognised::Form(header) => {
                recognised = true;
                note_unknown_columns(sheet, &header, notes);
                items.extend(parse_sheet(sheet, &header, &bot_ips, received_at));
            }
            Recognised::MissingColumns(header) => {
                recognised = true;
                note_unknown_columns(sheet, &header, notes);
                items.push((sheet.name.clone(), Err(vec![missing_columns_error(sheet, &header, BLANK_FORM_HINT)])));
            }
            Recognised::NotAForm if sheet.rows.iter().any(|r| r.iter().any(|v| *v != V::Empty)) => {
                notes.push(Note::new(&sheet.name, "工作表中未找到报送表的表头，未读取".to_string()));
            }
            Recognised::NotAForm => {}
        }
    }
    attach_unassigned_bots(&mut items, &bot_ips);
    if !recognised {
        let mut e = refused(
            ErrorCode::UnknownKind,
            file_name,
            "报送表：表头含有报送表的列名（如 发现时间、信息类别、事件分级、控制端IP）的工作表",
            "未找到可识别的表头",
        );
        e.message =
            format!("{}：未找到可识别的报送表表头（应含有如 发现时间、信息类别、事件分级、控制端IP 等列名）。{BLANK_FORM_HINT}", e.place);
        return Err(e);
    }
    if items.is_empty() {
        return Err(refused(ErrorCode::EmptyBatch, file_name, "至少一行数据", "表中没有数据行"));
    }
    Ok(items)
}

/// Reads a file's sheets (a CSV file is one sheet) under the limits and guards, and the kind
/// its marker sheet names, if any.
/// The most characters a cell holds: Excel's own limit. A longer one (a CSV's unterminated
/// quote swallowing the rest of the file) is refused at its cell before anything reads it as a
/// header or a value, so its length never multiplies the work.
pub const MAX_CELL_CHARS: usize = 32_767;

fn read_sheets(bytes: &[u8], path: &str, limits: &Limits) -> Result<(Vec<Sheet>, Option<ReportKind>), IntakeError> {
    let (mut sheets, marker) = read_sheets_uncapped(bytes, path, limits)?;
    let in_csv = !(bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]));
    for sheet in &mut sheets {
        for v in sheet.rows.iter_mut().flatten() {
            // Bytes first: at most 4 a character, so only a long text is counted.
            if let V::Text(t) = v
                && t.len() > MAX_CELL_CHARS
                && t.chars().count() > MAX_CELL_CHARS
            {
                *v = V::TooLong { chars: t.chars().count(), in_csv };
            }
        }
    }
    Ok((sheets, marker))
}

fn read_sheets_uncapped(bytes: &[u8], path: &str, limits: &Limits) -> Result<(Vec<Sheet>, Option<ReportKind>), IntakeError> {
    // A place names the file as its sender knows it, never a path on the hub.
    let file_name = std::path::Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path);
    if bytes.len() > limits.max_file_bytes {
        return Err(refused(
            ErrorCode::TooLarge,
            file_name,
            format!("不超过 {} MB 的文件", limits.max_file_bytes >> 20),
            format!("{} 字节", bytes.len()),
        ));
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        if bytes.starts_with(b"PK") {
            check_zip(bytes, file_name, limits)?;
            guard::check_ods(bytes, limits).map_err(|r| r.into_error(file_name))?;
        } else {
            guard::check_xls(bytes, limits).map_err(|r| r.into_error(file_name))?;
        }
        read_workbook(bytes, file_name, limits)
    } else if [".xlsx", ".xlsm", ".xls", ".ods"].iter().any(|x| file_name.to_lowercase().ends_with(x)) {
        // Named a workbook but neither a zip (xlsx, ods) nor an OLE file (xls): damaged, or
        // something else renamed. Read as text it would only be refused for the wrong reason.
        return Err(refused(
            ErrorCode::NotObject,
            file_name,
            "完整的电子表格文件（文件已损坏，或不是 xlsx、xls、ods）",
            "无法识别的内容".to_string(),
        ));
    } else {
        Ok((vec![read_csv(bytes, file_name, limits)?], None))
    }
}

/// Lists the header's columns that no field takes, so that nothing is dropped unsaid.
fn note_unknown_columns(sheet: &Sheet, header: &Header, notes: &mut Notes) {
    let unknown =
        header.texts.iter().enumerate().filter(|(c, t)| t.is_some() && header.columns.get(*c).copied().flatten().is_none()).count();
    if unknown > MAX_LISTED {
        notes.push(Note::new(&sheet.name, format!("另有 {} 列未识别，未逐一列出", unknown - MAX_LISTED)));
    }
    for (c, text) in header.texts.iter().enumerate().filter(|(c, _)| header.columns.get(*c).copied().flatten().is_none()).take(MAX_LISTED) {
        if let Some(text) = text {
            let place = sheet.cell_place(header.row, c);
            notes.push(Note::new(&place, format!("未识别的列“{text}”，其内容未报送；如属报送内容，请按{}的列名填写", header.form.title)));
        }
    }
    // Values under no header at all (a stray entry far right or far down) are not read either:
    // each such column is named by its first value, so nothing is dropped without a word.
    let mut unheaded: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    for (r, row) in sheet.rows.iter().enumerate().skip(header.row + header.span) {
        for (c, v) in row.iter().enumerate() {
            if !matches!(v, V::Empty) && !header.texts.get(c).is_some_and(Option::is_some) {
                unheaded.entry(c).or_insert(r);
            }
        }
    }
    for (c, r) in unheaded.iter().take(MAX_LISTED) {
        notes.push(Note::new(&sheet.cell_place(*r, *c), "此列没有表头，其中的内容未报送；如属报送内容，请在表头行填写列名".to_string()));
    }
    if unheaded.len() > MAX_LISTED {
        notes.push(Note::new(&sheet.name, format!("另有 {} 列没有表头，其内容未报送", unheaded.len() - MAX_LISTED)));
    }
}

/// A month written in the title rows over a header (`2026年8月份一般网络安全事件汇总`), as `2026-08`.
fn month_in_title(sheet: &Sheet, header_row: usize) -> Option<String> {
    sheet.rows[..header_row].iter().flatten().find_map(|v| {
        let V::Text(t) = v else { return None };
        let t = fold_width(t);
        // A 填报日期：2026年10月8日 line is when the form was filled in, not the month it sums up.
        if ["填报", "填表", "报送日期", "报送时间", "日期"].iter().any(|w| t.contains(w))
            || t.split_once('月').is_some_and(|(_, after)| after.contains('日'))
        {
            return None;
        }
        let (year, rest) = t.split_once('年')?;
        let digits: String = year.chars().rev().take_while(char::is_ascii_digit).collect();
        let year: i32 = digits.chars().rev().collect::<String>().parse().ok()?;
        let month: u32 = rest.split_once('月')?.0.trim().parse().ok()?;
        ((2000..=2100).contains(&year) && (1..=12).contains(&month)).then(|| format!("{year}-{month:02}"))
    })
}

/// Refuses zip bombs before decompressing anything: the central directory states every size.
fn check_zip(bytes: &[u8], file_name: &str, limits: &Limits) -> Result<(), IntakeError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| refused(ErrorCode::NotObject, file_name, "完整的 xlsx/ods 文件", e.to_string()))?;
    if archive.len() > 10_000 {
        return Err(refused(ErrorCode::TooMany, file_name, "不超过 10000 个部件的工作簿", archive.len().to_string()));
    }
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let f = archive.by_index_raw(i).map_err(|e| refused(ErrorCode::NotObject, file_name, "完整的 xlsx/ods 文件", e.to_string()))?;
        total = total.saturating_add(f.size());
        if f.compressed_size() > 0 && f.size() / f.compressed_size().max(1) > 1000 && f.size() > (16 << 20) {
            let part = f.name().map(|n| n.into_owned()).unwrap_or_default();
            return Err(refused(
                ErrorCode::TooLarge,
                &format!("{file_name}:{part}"),
                "正常压缩率的文件（疑似压缩炸弹）",
                format!("{} 字节压缩为 {} 字节", f.size(), f.compressed_size()),
            ));
        }
    }
    if total > limits.max_uncompressed_bytes {
        return Err(refused(
            ErrorCode::TooLarge,
            file_name,
            format!("解压后不超过 {} MB", limits.max_uncompressed_bytes >> 20),
            format!("{} 字节", total),
        ));
    }
    Ok(())
}

fn read_workbook(bytes: &[u8], file_name: &str, limits: &Limits) -> Result<(Vec<Sheet>, Option<ReportKind>), IntakeError> {
    let mut wb = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| refused(ErrorCode::NotObject, file_name, "xlsx、xlsm、xls、ods 或 csv 文件", e.to_string()))?;
    // xlsb (binary Excel) is read by calamine into dense ranges with no limit checked first;
    // Excel saves xlsx unless asked, so the clerk is asked for that.
    if matches!(wb, calamine::Sheets::Xlsb(_)) {
        return Err(refused(ErrorCode::NotObject, file_name, "xlsx、xls、ods 或 csv 文件（请将 xlsb 另存为 xlsx）", "xlsb 二进制工作簿"));
    }
    let names = wb.sheet_names().to_vec();
    if names.is_empty() {
        return Err(refused(ErrorCode::NotObject, file_name, "含有工作表的工作簿", "工作簿中没有工作表（文件已损坏或不完整）"));
    }
    if names.len() > limits.max_sheets {
        return Err(refused(ErrorCode::TooMany, file_name, format!("不超过 {} 个工作表", limits.max_sheets), names.len().to_string()));
    }
    let mut sheets = Vec::new();
    let mut marker = None;
    let mut cells = 0usize;
    for name in names {
        let too_large = |found: String| {
            refused(
                ErrorCode::TooLarge,
                &name,
                format!("每表不超过 {} 行、全部不超过 {} 个单元格", limits.max_rows, limits.max_cells),
                found,
            )
        };
        let (origin, mut rows, h) = if let calamine::Sheets::Xlsx(xlsx) = &mut wb {
            let (origin, rows) = xlsx_rows(xlsx, &name, limits, &mut cells).map_err(|e| match e {
                SheetError::TooLarge(found) => too_large(found),
                SheetError::Unreadable(why) => refused(ErrorCode::NotObject, &format!("{file_name}:{name}"), "可读取的工作表", why),
            })?;
            let h = rows.len();
            (origin, rows, h)
        } else {
            let range = wb
                .worksheet_range(&name)
                .map_err(|e| refused(ErrorCode::NotObject, &format!("{file_name}:{name}"), "可读取的工作表", e.to_string()))?;
            let (h, w) = range.get_size();
            cells = cells.saturating_add(h.saturating_mul(w));
            if h > limits.max_rows || cells > limits.max_cells {
                return Err(too_large(format!("{h} 行 × {w} 列")));
            }
            let rows: Vec<Vec<V>> = range.rows().map(|r| r.iter().map(cell).collect()).collect();
            (range.start().unwrap_or((0, 0)), rows, h)
        };
        // A formula nobody computed (openpyxl writes formulas without values) reads as an empty
        // cell; its formula is kept so the cell is refused rather than taken as left blank. The
        // 受控IP sheets hold data only and can be a million rows, so they are not scanned.
        let uncomputed = if !name.starts_with(BOT_IP_SHEET) && name != MARKER_SHEET && h <= 100_000 {
            uncomputed_formulas(&mut wb, &name, origin, &mut rows)
        } else {
            HashMap::new()
        };
        if name == MARKER_SHEET {
            let kind = rows.get(1).and_then(|r| r.first()).and_then(|v| if let V::Text(t) = v { ReportKind::parse(t) } else { None });
            if rows.first().and_then(|r| r.first()) == Some(&V::Text("tongbao-form".into())) {
                marker = kind;
            }
        }
        sheets.push(Sheet { name, origin, rows, uncomputed });
    }
    Ok((sheets, marker))
}

/// Why an xlsx sheet was not read.
enum SheetError {
    TooLarge(String),
    Unreadable(String),
}

/// An xlsx sheet read cell by cell, its limits checked as the cells arrive: a file of a few KB
/// can place two cells a million rows and 16,384 columns apart, which calamine's range would
/// allocate densely before any check could see it. Rows are kept ragged (each as long as its
/// last value), and what they hold counts against `max_cells` together with `cells`, the
/// workbook's sheets before this one.
fn xlsx_rows(
    xlsx: &mut calamine::Xlsx<Cursor<&[u8]>>,
    name: &str,
    limits: &Limits,
    cells: &mut usize,
) -> Result<((u32, u32), Vec<Vec<V>>), SheetError> {
    let mut reader = xlsx.worksheet_cells_reader(name).map_err(|e| SheetError::Unreadable(e.to_string()))?;
    let mut values: Vec<(u32, u32, V)> = Vec::new();
    loop {
        let next = reader.next_cell().map_err(|e| SheetError::Unreadable(e.to_string()))?;
        let Some(c) = next else { break };
        let (r, col) = c.get_position();
        let v = cell(&Data::from(c.get_value().clone()));
        if v == V::Empty {
            continue;
        }
        if r as usize >= limits.max_rows {
            return Err(SheetError::TooLarge(format!("第 {} 行有值", u64::from(r) + 1)));
        }
        values.push((r, col, v));
        if cells.saturating_add(values.len()) > limits.max_cells {
            return Err(SheetError::TooLarge(format!("超过 {} 个有值的单元格", limits.max_cells)));
        }
    }
    drop(reader);
    let Some(first_row) = values.iter().map(|v| v.0).min() else { return Ok(((0, 0), Vec::new())) };
    let first_col = values.iter().map(|v| v.1).min().unwrap_or(0);
    let last_row = values.iter().map(|v| v.0).max().unwrap_or(first_row);
    // Each row as long as its last value: what that allocates is checked before it is.
    let mut widths = vec![0usize; (last_row - first_row) as usize + 1];
    for (r, c, _) in &values {
        let w = &mut widths[(r - first_row) as usize];
        *w = (*w).max((c - first_col) as usize + 1);
    }
    let allocated = widths.iter().fold(0usize, |a, w| a.saturating_add(*w));
    *cells = cells.saturating_add(allocated);
    if *cells > limits.max_cells {
        return Err(SheetError::TooLarge(format!("有值的单元格跨 {} 行、共占 {allocated} 个单元格", widths.len())));
    }
    let mut rows: Vec<Vec<V>> = widths.iter().map(|w| vec![V::Empty; *w]).collect();
    for (r, c, v) in values {
        rows[(r - first_row) as usize][(c - first_col) as usize] = v;
    }
    Ok(((first_row, first_col), rows))
}

/// Formulas of an xlsx sheet that hold no value (openpyxl writes them so), by (row, column) in
/// `rows`. Read one cell at a time from the sheet's XML: calamine's formula *range* would be
/// allocated densely between the outermost formulas, which a few-KB file can put a million rows
/// and 16,384 columns apart. Only formulas within the values' range (and a few rows below it)
/// count, at most 10,000 of them. Xls and ods files carry computed values.
fn uncomputed_formulas(
    wb: &mut calamine::Sheets<Cursor<&[u8]>>,
    name: &str,
    origin: (u32, u32),
    rows: &mut Vec<Vec<V>>,
) -> HashMap<(usize, usize), String> {
    const MAX_FORMULAS: usize = 10_000;
    const ROWS_BELOW: usize = 64;
    let mut out = HashMap::new();
    let calamine::Sheets::Xlsx(xlsx) = wb else { return out };
    let Ok(mut reader) = xlsx.worksheet_cells_reader(name) else { return out };
    let width = rows.iter().map(Vec::len).max().unwrap_or(0) + 16;
    let height = rows.len() + ROWS_BELOW;
    let mut seen = 0usize;
    while let Ok(Some(f)) = reader.next_formula() {
        seen += 1;
        if seen > MAX_FORMULAS * 10 {
            break; // a sheet of nothing but formulas says no more than its first ones
        }
        let (ar, ac) = f.get_position();
        let (Some(rr), Some(cc)) = ((ar as usize).checked_sub(origin.0 as usize), (ac as usize).checked_sub(origin.1 as usize)) else {
            continue;
        };
        let formula = f.get_value();
        if rr >= height || cc >= width || formula.trim().is_empty() {
            continue;
        }
        if rows.get(rr).and_then(|row| row.get(cc)).is_none_or(|v| *v == V::Empty) {
            if rows.len() <= rr {
                rows.resize(rr + 1, vec![]);
            }
            out.insert((rr, cc), formula.clone());
            if out.len() >= MAX_FORMULAS {
                break;
            }
        }
    }
    out
}

fn cell(d: &Data) -> V {
    match d {
        Data::Empty => V::Empty,
        Data::String(s) => {
            let t = s.trim();
            if t.is_empty() { V::Empty } else { V::Text(t.to_string()) }
        }
        Data::Int(i) => V::Num(*i as f64),
        Data::Float(f) => V::Num(*f),
        Data::Bool(b) => V::Bool(*b),
        // calamine's conversion panics on serials far outside the calendar (-1e20 in a date
        // cell): only Excel's own range (years 1900–9999) is converted, the rest stays a number
        // that the time parser refuses at its cell.
        Data::DateTime(dt) if (0.0..2_958_466.0).contains(&dt.as_f64()) => dt.as_datetime().map(V::Time).unwrap_or(V::Num(dt.as_f64())),
        Data::DateTime(dt) => V::Num(dt.as_f64()),
        Data::DateTimeIso(s) => NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").map(V::Time).unwrap_or_else(|_| V::Text(s.clone())),
        Data::DurationIso(s) => V::Text(s.clone()),
        Data::Error(e) => V::Error(e.to_string()),
    }
}

/// CSV in UTF-8 (with or without BOM) or GBK/GB18030, as Excel in China saves it.
fn read_csv(bytes: &[u8], file_name: &str, limits: &Limits) -> Result<Sheet, IntakeError> {
    let text = if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes)
        && encoding != encoding_rs::UTF_8
    {
        // Excel's "Unicode text" (Unicode 文本) is UTF-16 with a byte-order mark, tab-separated.
        let (t, bad) = encoding.decode_without_bom_handling(&bytes[bom..]);
        if bad {
            return Err(refused(ErrorCode::NotJson, file_name, "UTF-8、UTF-16 或 GBK 编码的 CSV 文件", "UTF-16 文本中有无效字符"));
        }
        t.into_owned()
    } else {
        match std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)) {
            Ok(t) => t.to_string(),
            Err(_) => {
                let (t, _, bad) = encoding_rs::GB18030.decode(bytes);
                if bad {
                    return Err(refused(ErrorCode::NotJson, file_name, "UTF-8、UTF-16 或 GBK 编码的 CSV 文件", "无法识别的字符编码"));
                }
                t.into_owned()
            }
        }
    };
    // Tab-separated when the first line has more tabs than commas (Excel's Unicode text).
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    let delimiter = if first_line.matches('\t').count() > first_line.matches(',').count() { b'\t' } else { b',' };
    // The csv reader keeps every field of a line, empty or not: a line of a million commas
    // would take a million fields before any check. Excel's own limit is counted first.
    let widest = text.split(['\n', '\r']).map(|l| l.bytes().filter(|b| *b == delimiter).count()).max().unwrap_or(0);
    if widest >= MAX_CSV_COLUMNS {
        return Err(refused(ErrorCode::TooLarge, file_name, format!("每行不超过 {MAX_CSV_COLUMNS} 列"), format!("{} 列", widest + 1)));
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut cells = 0usize;
    for (i, rec) in reader.records().enumerate() {
        if i >= limits.max_rows {
            return Err(refused(ErrorCode::TooLarge, file_name, format!("不超过 {} 行", limits.max_rows), "更多"));
        }
        let rec =
            rec.map_err(|e| refused(ErrorCode::NotJson, &format!("{file_name}!第{}行", i + 1), "格式正确的 CSV 行", e.to_string()))?;
        // Quoted line breaks can make one record of many lines, each under the count above.
        if rec.len() > MAX_CSV_COLUMNS {
            return Err(refused(ErrorCode::TooLarge, file_name, format!("每行不超过 {MAX_CSV_COLUMNS} 列"), format!("{} 列", rec.len())));
        }
        let mut row: Vec<V> = rec.iter().map(|s| if s.trim().is_empty() { V::Empty } else { V::Text(s.trim().to_string()) }).collect();
        // Rows are kept as long as their last value, and what they hold counts against the limit.
        while row.last() == Some(&V::Empty) {
            row.pop();
        }
        cells += row.len();
        if cells > limits.max_cells {
            return Err(refused(ErrorCode::TooLarge, file_name, format!("全部不超过 {} 个单元格", limits.max_cells), "更多"));
        }
        rows.push(row);
    }
    let name = std::path::Path::new(file_name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "CSV".into());
    Ok(Sheet { name, origin: (0, 0), rows, uncomputed: HashMap::new() })
}

/// The most columns a CSV line may have: Excel's own (XFD).
const MAX_CSV_COLUMNS: usize = 16_384;

/// Header text as compared: full-width folded, spaces and line breaks, `*`, colons and
/// bracketed notes removed, lower-case.
fn norm(s: &str) -> String {
    let f = fold_width(s);
    let mut out = String::new();
    let mut depth = 0;
    for c in f.chars() {
        match c {
            '(' | '（' | '[' | '【' | '〔' => depth += 1,
            ')' | '）' | ']' | '】' | '〕' => depth = (depth - 1).max(0),
            c if depth == 0 && !c.is_whitespace() && !matches!(c, '*' | '＊' | ':' | '：' | '※' | '★') => {
                out.extend(c.to_lowercase())
            }
            _ => {}
        }
    }
    out
}

/// Every name a column goes by, normalised.
fn names(c: &Column) -> impl Iterator<Item = String> + '_ {
    [norm(c.zh), c.code.to_string()].into_iter().chain(c.aliases.iter().map(|a| norm(a)))
}

/// Each form's column names, normalised once for the life of the process: header scanning
/// compares every header cell with every name, so they are not normalised per cell.
fn vocabulary(form: &FormSpec) -> &'static [Vec<String>] {
    static VOCABULARY: std::sync::OnceLock<HashMap<ReportKind, Vec<Vec<String>>>> = std::sync::OnceLock::new();
    let all = VOCABULARY
        .get_or_init(|| spec::all().into_iter().map(|f| (f.kind, f.columns.iter().map(|c| names(c).collect()).collect())).collect());
    all.get(&form.kind).map(Vec::as_slice).unwrap_or_default()
}

/// Header cells read per row: no form has more than a few dozen columns, and a hostile CSV row
/// of a million cells must not cost a million name comparisons per candidate header row.
const MAX_HEADER_COLUMNS: usize = 256;
/// Unknown columns listed in a receipt, and header texts quoted in one error.
const MAX_LISTED: usize = 50;

/// The column of `form` a header text names: by one of its names exactly, or else by the
/// longest name the header contains ("控制端IP及端口" names 控制端IP). None for headers the
/// form does not know.
fn column_for<'f>(form: &'f FormSpec, text: &str) -> Option<&'f Column> {
    let t = norm(text);
    if t.is_empty() || t.len() > 200 {
        return None;
    }
    let vocabulary = vocabulary(form);
    if let Some(i) = vocabulary.iter().position(|names| names.iter().any(|n| *n == t)) {
        return form.columns.get(i);
    }
    vocabulary
        .iter()
        .enumerate()
        .flat_map(|(i, names)| {
            names.iter().filter(|n| n.chars().count() >= 2 && t.contains(n.as_str())).map(move |n| (n.chars().count(), i))
        })
        .max_by_key(|(len, _)| *len)
        .and_then(|(_, i)| form.columns.get(i))
}

/// How a sheet's header was read: the form, the header rows, and what each column holds.
struct Header {
    form: FormSpec,
    /// 0-based row of the first header row, and how many rows the header spans (1 or 2).
    row: usize,
    span: usize,
    columns: Vec<Option<Column>>,
    /// The header text of each column, as written, for the receipt's list of ignored columns.
    texts: Vec<Option<String>>,
}

impl Header {
    fn found(&self) -> usize {
        self.columns.iter().flatten().count()
    }

    fn missing_required(&self) -> Vec<&Column> {
        self.form.columns.iter().filter(|c| c.required && !self.columns.iter().flatten().any(|x| x.code == c.code)).collect()
    }
}

fn text_of(v: Option<&V>) -> Option<&str> {
    match v {
        Some(V::Text(t)) => Some(t.as_str()),
        _ => None,
    }
}

/// Reads header row `r` (and, for a two-row header, row `r + 1`) as columns of `form`. A
/// column is taken once: a second header naming it is ignored.
fn read_header(sheet: &Sheet, form: &FormSpec, r: usize, span: usize) -> Header {
    let upper = &sheet.rows[r];
    let lower = if span == 2 { sheet.rows.get(r + 1) } else { None };
    let width = upper.len().max(lower.map_or(0, Vec::len)).min(MAX_HEADER_COLUMNS);
    let mut taken = std::collections::HashSet::new();
    let mut columns: Vec<Option<Column>> = Vec::with_capacity(width);
    let mut texts = Vec::with_capacity(width);
    // A group title over several sub-headers ("控制端信息" over IP | 端口) sits in the first
    // cell of its merged range; the cells to its right are empty.
    let mut group: Option<&str> = None;
    for c in 0..width {
        // A line such as 统计月份：2026年11月 or 填报单位：… over the header is no group title.
        let up = text_of(upper.get(c)).filter(|t| lower.is_none() || !t.contains([':', '：']));
        let low = lower.and_then(|l| text_of(l.get(c)));
        if up.is_some() {
            group = up;
        } else if low.is_none() {
            group = None;
        }
        let candidates: Vec<String> = match (up, low) {
            (_, Some(l)) => {
                let g = group.unwrap_or_default();
                let bare = norm(g).replace("信息", "").replace("情况", "");
                vec![l.to_string(), format!("{g}{l}"), format!("{bare}{l}")]
            }
            (Some(u), None) => vec![u.to_string()],
            (None, None) => vec![],
        };
        let col = candidates.iter().find_map(|t| column_for(form, t)).filter(|col| taken.insert(col.code));
        texts.push(match (up, low) {
            (Some(u), Some(l)) => Some(format!("{u}/{l}")),
            (u, l) => l.or(u).map(str::to_string),
        });
        columns.push(col.copied());
    }
    Header { form: form.clone(), row: r, span, columns, texts }
}

/// What recognising a sheet found.
enum Recognised {
    Form(Header),
    /// Headers of a form were found, but not its required columns.
    MissingColumns(Header),
    NotAForm,
}

/// Finds the form and header of a sheet: the marker's kind if the workbook has one, otherwise
/// the form whose columns a header row (or a header over two rows) names most. A sheet whose
/// best header names at least three columns, or two and every required one, is a form.
fn recognise(sheet: &Sheet, marker: Option<ReportKind>) -> Recognised {
    let forms: Vec<FormSpec> = match marker {
        Some(k) => vec![spec::for_kind(k)],
        None => spec::all(),
    };
    let mut best: Option<Header> = None;
    let better = |h: &Header, b: &Option<Header>| match b {
        None => true,
        Some(b) => (h.found(), std::cmp::Reverse(h.missing_required().len())) > (b.found(), std::cmp::Reverse(b.missing_required().len())),
    };
    for r in 0..sheet.rows.len().min(30) {
        for form in &forms {
            let one = read_header(sheet, form, r, 1);
            // Two rows only when they name more than either alone: a 填报单位 line over the
            // header is no group title.
            let below = if r + 1 < sheet.rows.len() { read_header(sheet, form, r + 1, 1).found() } else { 0 };
            let two = (r + 1 < sheet.rows.len()).then(|| read_header(sheet, form, r, 2));
            // On a tie with the lower row alone, the upper row is a header row too when it holds
            // titles over several columns (序号 merged down, group titles), not a 填报单位：… line.
            let titles = sheet.rows[r].iter().filter(|v| matches!(v, V::Text(_))).count();
            let labels_only = sheet.rows[r].iter().all(|v| !matches!(v, V::Text(t) if t.contains([':', '：'])));
            let h = match two {
                Some(two) if two.found() > one.found() && (two.found() > below || (two.found() == below && titles >= 2 && labels_only)) => {
                    two
                }
                _ => one,
            };
            if better(&h, &best) {
                best = Some(h);
            }
        }
    }
    match best {
        Some(h) if h.found() >= 2 && h.missing_required().is_empty() => Recognised::Form(h),
        Some(h)
            if h.found() >= 3
                && h.form.kind == ReportKind::MonthlyGeneral
                && h.missing_required().iter().all(|c| c.code == "month")
                && month_in_title(sheet, h.row).is_some() =>
        {
            Recognised::Form(h)
        }
        Some(h) if h.found() >= 3 => Recognised::MissingColumns(h),
        _ => Recognised::NotAForm,
    }
}

/// The refusal of a sheet whose header lacks required columns: which ones, and what was found.
fn missing_columns_error(sheet: &Sheet, h: &Header, blank_form: &str) -> IntakeError {
    let missing: Vec<&str> = h.missing_required().iter().map(|c| c.zh).collect();
    let found: Vec<String> = h.texts.iter().flatten().take(MAX_LISTED).cloned().collect();
    let mut e = IntakeError::new(
        ErrorCode::MissingField,
        &sheet.name,
        format!("{}的必填列：{}", h.form.title, missing.join("、")),
        Some(found.join("、")),
    );
    e.message = format!(
        "{}（第{}行表头）：缺少必填列：{}。表头中找到：{}。{}",
        sheet.name,
        sheet.origin.0 as usize + h.row + 1,
        missing.join("、"),
        found.join("、"),
        blank_form
    );
    e
}

/// Bot IPs of the 受控IP sheet by C&C address, parsed straight into addresses (a million rows
/// would cost seconds as JSON), with the errors of each C&C at their cells.
#[derive(Default)]
struct BotIps {
    by_cc: HashMap<std::net::IpAddr, Vec<std::net::IpAddr>>,
    /// Bots of a sheet without a C&C column: they belong to the workbook's only C&C.
    of_the_only_cc: Vec<std::net::IpAddr>,
    /// Errors by C&C (None: of a sheet without a C&C column).
    errors: HashMap<Option<std::net::IpAddr>, Vec<IntakeError>>,
}

fn bot_ip_sheet(sheets: &[Sheet]) -> BotIps {
    let mut out = BotIps::default();
    // Past one sheet's 1,048,576 rows the list goes on in 受控IP2, 受控IP(3), …
    for s in sheets.iter().filter(|s| is_bot_ip_sheet(s)) {
        read_bot_ips(s, &mut out);
    }
    out
}

/// A sheet of bot IPs: named 受控IP…, or (whatever its name: 受控主机列表, 肉鸡, Sheet2) a
/// list whose header has a C&C column and a bot IP column and little else.
fn is_bot_ip_sheet(s: &Sheet) -> bool {
    if s.name.starts_with(BOT_IP_SHEET) {
        return true;
    }
    let (cc, _, first) = bot_ip_columns(s);
    if first == 0 {
        return false;
    }
    // A list of bots alone (序号 | 受控IP) belongs to the workbook's only C&C.
    let texts = s.rows[first - 1].iter().filter(|v| matches!(v, V::Text(_))).count();
    if cc.is_none() && texts > 3 {
        return false;
    }
    // A botnet form lists bots too; a list of bots states no event (no discovery time).
    let header = &s.rows[first - 1];
    header.iter().filter(|v| matches!(v, V::Text(_))).count() <= 4 && botnet_column_in(header, "discovered_at").is_none()
}

/// Where in `row` a header names the botnet form's column `code`, by any of its names.
fn botnet_column_in(row: &[V], code: &str) -> Option<usize> {
    let form = spec::for_kind(ReportKind::BotnetEvent);
    let names = &vocabulary(&form)[form.columns.iter().position(|c| c.code == code)?];
    row.iter().position(|v| matches!(v, V::Text(t) if names.contains(&norm(t))))
}

/// The columns of a 受控IP sheet: found by a header row naming the C&C and the bot IPs (any
/// of the botnet form's names for them), else the C&C in column A and the bot in column B. A
/// sheet with a bot column and no C&C column lists the bots of a workbook's only C&C.
fn bot_ip_columns(s: &Sheet) -> (Option<usize>, usize, usize) {
    for (r, row) in s.rows.iter().enumerate().take(10) {
        let texts = row.iter().filter(|v| matches!(v, V::Text(_))).count();
        // A title over the sheet (受控IP地址列表) is one text alone; a header names columns.
        if let Some(b) = botnet_column_in(row, "bot_ips").filter(|_| texts >= 2) {
            return (botnet_column_in(row, "cc_ip"), b, r + 1);
        }
    }
    (Some(0), 1, 0)
}

fn read_bot_ips(s: &Sheet, out: &mut BotIps) {
    fn ip(v: Option<&V>) -> Option<std::net::IpAddr> {
        match v {
            Some(V::Text(t)) => t.parse().ok().or_else(|| fold_width(t).parse().ok()),
            _ => None,
        }
    }
    let (cc_col, bot_col, first) = bot_ip_columns(s);
    for (r, row) in s.rows.iter().enumerate().skip(first) {
        let cc = match cc_col {
            Some(c) => match ip(row.get(c)) {
                Some(cc) => Some(cc),
                None => continue, // header rows and blank rows
            },
            None => None,
        };
        let Some(V::Text(bot)) = row.get(bot_col) else { continue };
        match (fold_width(bot).parse::<std::net::IpAddr>(), cc) {
            (Ok(b), Some(cc)) => out.by_cc.entry(cc).or_default().push(b),
            (Ok(b), None) => out.of_the_only_cc.push(b),
            (Err(_), cc) => {
                let errs = out.errors.entry(cc).or_default();
                if errs.len() < 20 {
                    let place = s.cell_place(r, bot_col);
                    let mut e = IntakeError::new(ErrorCode::BadIp, &place, "IP 地址，如 203.0.113.7", Some(bot.to_string()));
                    e.message = format!("{place}（受控IP）：应为IP 地址，如 203.0.113.7，实际为“{bot}”");
                    errs.push(e);
                }
            }
        }
    }
}

/// Adds the 受控IP sheet's addresses to the botnets of a parsed report.
fn attach_bot_ips(input: &mut crate::model::report::ReportInput, ips: &BotIps) -> Result<(), Vec<IntakeError>> {
    let crate::model::ReportBody::BotnetEvent(body) = &mut input.content.body else { return Ok(()) };
    let mut errors = Vec::new();
    for b in &mut body.botnets {
        if let Some(e) = ips.errors.get(&Some(b.cc_ip)) {
            errors.extend(e.iter().cloned());
        }
        // A list without a C&C column is attached after the whole workbook is read, and only
        // when the workbook names one C&C (`attach_unassigned_bots`).
        let listed = ips.by_cc.get(&b.cc_ip).map(Vec::as_slice).unwrap_or_default();
        if !listed.is_empty() {
            b.bot_ips.extend_from_slice(listed);
            let distinct = crate::rules::BotSet::from_ips(&b.bot_ips).len();
            b.bot_count = b.bot_count.max(distinct);
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Bots listed on a sheet without a C&C column belong to the workbook's only C&C. With several
/// C&Cs they belong to none that can be told, and the reports that relied on them are refused.
fn attach_unassigned_bots(items: &mut [Item], ips: &BotIps) {
    if ips.of_the_only_cc.is_empty() && !ips.errors.contains_key(&None) {
        return;
    }
    let botnets = |r: &Result<crate::model::report::ReportInput, Vec<IntakeError>>| match r {
        Ok(input) => match &input.content.body {
            crate::model::ReportBody::BotnetEvent(b) => b.botnets.iter().map(|n| n.cc_ip).collect::<Vec<_>>(),
            _ => vec![],
        },
        Err(_) => vec![],
    };
    let ccs: std::collections::HashSet<std::net::IpAddr> = items.iter().flat_map(|(_, r)| botnets(r)).collect();
    for (place, result) in items.iter_mut() {
        let Ok(input) = result else { continue };
        let crate::model::ReportBody::BotnetEvent(body) = &mut input.content.body else { continue };
        if ccs.len() == 1 {
            if let Some(e) = ips.errors.get(&None) {
                *result = Err(e.clone());
                continue;
            }
            for b in &mut body.botnets {
                b.bot_ips.extend_from_slice(&ips.of_the_only_cc);
                b.bot_count = b.bot_count.max(crate::rules::BotSet::from_ips(&b.bot_ips).len());
            }
        } else if body.botnets.iter().any(|b| b.bot_count == 0 && b.bot_ips.is_empty()) {
            *result = Err(vec![IntakeError::new(
                ErrorCode::MissingField,
                place.as_str(),
                "规模：受控IP数量，或注明控制端IP的受控IP列表（受控IP表没有控制端IP列，而本文件有多个控制端，无法确定这些受控IP属于哪个控制端）",
                None,
            )]);
        }
    }
}

/// Where each part of one report came from, to place its errors.
struct Origin {
    first_row: usize,
    /// The last row that added to the report (rows of one report may be spread by merged cells).
    last_row: usize,
    /// Cells that could not be read at all (formula errors), refused whatever the parser says.
    cell_errors: Vec<IntakeError>,
    /// Sheet row of each element of the form's item array.
    item_rows: Vec<usize>,
    /// Sheet rows of strings pushed onto `content` arrays, per array.
    pushed: HashMap<&'static str, Vec<usize>>,
}

fn parse_sheet(sheet: &Sheet, header: &Header, bot_ips: &BotIps, received_at: DateTime<Utc>) -> Vec<Item> {
    let form = &header.form;
    let columns = &header.columns[..];
    // The English-code row under the Chinese headers is skipped.
    let mut first = header.row + header.span;
    if sheet
        .rows
        .get(first)
        .is_some_and(|r| r.iter().all(|v| matches!(v, V::Empty) || matches!(v, V::Text(t) if form.columns.iter().any(|c| c.code == t))))
    {
        first += 1;
    }
    let mapped = |c: usize| columns.get(c).copied().flatten();
    let title_month = (form.kind == ReportKind::MonthlyGeneral && !columns.iter().flatten().any(|c| c.code == "month"))
        .then(|| month_in_title(sheet, header.row))
        .flatten();
    let mut reports: Vec<(Map<String, Value>, Origin)> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    let mut no_events = false;
    for r in first..sheet.rows.len() {
        let row = &sheet.rows[r];
        if form.kind == ReportKind::MonthlyGeneral && states_no_events(row) {
            no_events = true; // 本月无一般网络安全事件: a summary with no events
            continue;
        }
        let holds = |c: usize, v: &V| mapped(c).is_some() && (*v != V::Empty || sheet.uncomputed.contains_key(&(r, c)));
        if !row.iter().enumerate().any(|(c, v)| holds(c, v)) && !(0..columns.len()).any(|c| sheet.uncomputed.contains_key(&(r, c))) {
            continue; // blank rows, and rows with only a serial number or a remark
        }
        if is_note_row(row) {
            continue; // 注：…, 填表人：…, 合计 below the table
        }

        let mut report = Map::new();
        let mut content = Map::new();
        let mut item = Map::new();
        let mut pushes: Vec<(&'static str, Value)> = Vec::new();
        let mut row_values: HashMap<&'static str, Value> = HashMap::new();
        let mut cell_errors = Vec::new();
        if let Some(m) = &title_month {
            content.insert("month".into(), json!(m));
        }
        let width = row.len().max(columns.len());
        for c in 0..width {
            let Some(col) = mapped(c) else { continue };
            let v = row.get(c).unwrap_or(&V::Empty);
            let place = || sheet.cell_place(r, c);
            if *v == V::Empty {
                if let Some(formula) = sheet.uncomputed.get(&(r, c)) {
                    let place = place();
                    let shown = if formula.starts_with('=') { formula.clone() } else { format!("={formula}") };
                    let mut e =
                        IntakeError::new(ErrorCode::UncomputedFormula, &place, "数值或文字（公式没有计算结果）", Some(shown.clone()));
                    e.message = format!(
                        "{place}（{}）：公式 {shown} 没有计算结果（文件由未计算公式的程序生成），请在 Excel/WPS 中打开并保存，或直接填写数值",
                        col.zh
                    );
                    cell_errors.push(e);
                }
                continue;
            }
            if let V::TooLong { chars, in_csv } = v {
                let place = place();
                let mut e = IntakeError::new(
                    ErrorCode::TooLarge,
                    &place,
                    format!("单元格内容不超过 {MAX_CELL_CHARS} 个字符（Excel 单元格的上限）"),
                    Some(format!("{chars} 个字符")),
                );
                if *in_csv {
                    e.message.push_str("；CSV 中可能有未闭合的引号，使其后的内容都并入了这一格");
                }
                cell_errors.push(e);
                continue;
            }
            if let V::Error(err) = v {
                let place = place();
                let mut e = IntakeError::new(ErrorCode::WrongType, &place, "数值或文字（公式计算出错）", Some(err.clone()));
                e.message = format!("{place}（{}）：公式计算出错（{err}），请填写数值或文字", col.zh);
                cell_errors.push(e);
                continue;
            }
            // 无, 暂无, -, / in an optional list, count or time column say "nothing": an empty cell.
            if !col.required && matches!(col.cell, Cell::List | Cell::Int | Cell::Time | Cell::Month) && is_placeholder(v) {
                continue;
            }
            let value = to_json(v, &col);
            match col.target {
                Target::Report(k) => {
                    report.insert(k.into(), value);
                }
                Target::Content(k) => {
                    content.insert(k.into(), value);
                }
                Target::Item(k) => {
                    item.insert(k.into(), value);
                }
                Target::PushTo(k) => pushes.push((k, value)),
                Target::Row(k) => {
                    row_values.insert(k, value);
                }
            }
        }
        if let Some(target) = row_values.remove("target") {
            // One target a row with a 是否已处置 flag: disposed, or undisposed with its reason. A
            // flag that is neither 是 nor 否 (处置中, 部分处置) is refused, never guessed.
            let disposed = match row_values.get("is_disposed") {
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    let c = columns.iter().position(|c| c.is_some_and(|c| c.code == "is_disposed")).unwrap_or(0);
                    let place = sheet.cell_place(r, c);
                    let found = other.as_str().map(str::to_string).unwrap_or_else(|| other.to_string());
                    cell_errors.push(IntakeError::new(
                        ErrorCode::WrongType,
                        &place,
                        "是否已处置：是或否（未处置的须写明原因）",
                        Some(found),
                    ));
                    false
                }
                None => !item.contains_key("reason"),
            };
            if disposed {
                pushes.push(("disposed", target));
            } else {
                item.insert("target".into(), target);
            }
        }
        if form.kind == ReportKind::BotnetEvent {
            split_address_and_port(&mut item);
            if !item.contains_key("bot_count") && !item.contains_key("bot_ips") {
                let listed = item
                    .get("cc_ip")
                    .and_then(Value::as_str)
                    .and_then(|cc| fold_width(cc).parse().ok())
                    .is_some_and(|cc| bot_ips.by_cc.contains_key(&cc))
                    || !bot_ips.of_the_only_cc.is_empty();
                if listed {
                    item.insert("bot_count".into(), json!(0)); // the 受控IP sheet gives the scale
                }
            }
        }
        let head_empty = report.is_empty() && content.is_empty();
        let key = serde_json::to_string(&(&report, &content)).unwrap_or_default();
        let index = match (form.items, head_empty, reports.len()) {
            // A row with only item cells continues the report above it (merged-cell style).
            (Some(_), true, n) if n > 0 => n - 1,
            // Rows that repeat a report's own values (a notice's number, a month, a date of
            // change, a botnet event's time and grade) are one report.
            // A botnet row that states its own event is an event of its own, so that one bad
            // row never takes its neighbours down with it.
            (Some(_), _, _) if form.kind != ReportKind::BotnetEvent && group_of.contains_key(&key) => group_of[&key],
            _ => {
                let mut m = Map::new();
                m.insert("kind".into(), json!(form.kind.code()));
                m.extend(report);
                m.insert("content".into(), Value::Object(content));
                reports.push((m, Origin { first_row: r, last_row: r, cell_errors: vec![], item_rows: vec![], pushed: HashMap::new() }));
                group_of.insert(key, reports.len() - 1);
                reports.len() - 1
            }
        };
        let (doc, origin) = &mut reports[index];
        origin.last_row = origin.last_row.max(r);
        origin.cell_errors.append(&mut cell_errors);
        let content = doc.get_mut("content").and_then(Value::as_object_mut).expect("content object");
        if let Some(array) = form.items {
            let list = content.entry(array).or_insert_with(|| Value::Array(vec![]));
            if !item.is_empty() {
                list.as_array_mut().expect("array").push(Value::Object(item));
                origin.item_rows.push(r);
            }
        }
        for (array, value) in pushes {
            content.entry(array).or_insert_with(|| Value::Array(vec![])).as_array_mut().expect("array").push(value);
            origin.pushed.entry(array).or_default().push(r);
        }
    }
    // A summary that says its month had no events is a summary all the same (Art. 13 ¶3).
    if reports.is_empty()
        && form.kind == ReportKind::MonthlyGeneral
        && let Some(month) = title_month.as_ref().filter(|_| no_events || sheet.rows.len() <= first)
    {
        let doc = json!({"kind": form.kind.code(), "content": {"month": month, "events": []}});
        let Value::Object(doc) = doc else { unreachable!("an object") };
        reports.push((
            doc,
            Origin { first_row: header.row, last_row: header.row, cell_errors: vec![], item_rows: vec![], pushed: HashMap::new() },
        ));
    }
    reports
        .into_iter()
        .map(|(doc, origin)| {
            let (first, last) = (sheet.origin.0 as usize + origin.first_row + 1, sheet.origin.0 as usize + origin.last_row + 1);
            let place =
                if first == last { format!("{}!第{first}行", sheet.name) } else { format!("{}!第{first}–{last}行", sheet.name) };
            // A cell refused for its formula is not refused again for what it then lacks.
            let refused_cells: Vec<String> = origin.cell_errors.iter().map(|e| e.place.clone()).collect();
            let result = parse_form_report(&Value::Object(doc), "", received_at)
                .map_err(|errs| {
                    errs.into_iter()
                        .map(|e| locate(e, sheet, form, columns, &origin))
                        .filter(|e| !refused_cells.contains(&e.place))
                        .collect::<Vec<_>>()
                })
                .and_then(|mut input| attach_bot_ips(&mut input, bot_ips).map(|()| input));
            let result = match (result, origin.cell_errors.is_empty()) {
                (r, true) => r,
                (Ok(_), false) => Err(origin.cell_errors),
                (Err(mut errs), false) => {
                    errs.splice(0..0, origin.cell_errors);
                    Err(errs)
                }
            };
            (place, result)
        })
        .collect()
}

/// Words that open a line under (or over) the table that is no report: notes, signatures, totals.
const NOTE_OPENERS: &[&str] = &[
    "注",
    "备注",
    "说明",
    "填表说明",
    "填表人",
    "填报人",
    "审核人",
    "负责人",
    "单位负责人",
    "联系人",
    "联系电话",
    "签发",
    "填报日期",
    "填表日期",
    "合计",
    "总计",
    "小计",
    "以下空白",
    "以下无内容",
];

/// A row with at most two filled cells whose first text opens like a note (注：…, 填表人：…).
fn is_note_row(row: &[V]) -> bool {
    let filled: Vec<&V> = row.iter().filter(|v| **v != V::Empty).collect();
    if filled.len() > 2 {
        return false;
    }
    let Some(V::Text(t)) = filled.first() else { return false };
    let t = fold_width(t);
    NOTE_OPENERS.iter().any(|o| {
        t.starts_with(o) && t[o.len()..].chars().next().is_none_or(|c| matches!(c, ':' | '：' | ' ' | '1' | '１' | '.' | '、' | ')' | '）'))
    })
}

/// A cell that says "none" in words: 无, 暂无, -, /, N/A, 未发现, 不详.
fn is_placeholder(v: &V) -> bool {
    let V::Text(t) = v else { return false };
    matches!(
        fold_width(t).to_lowercase().as_str(),
        "无" | "暂无"
            | "没有"
            | "-"
            | "--"
            | "—"
            | "——"
            | "/"
            | "n/a"
            | "na"
            | "none"
            | "null"
            | "未发现"
            | "不详"
            | "空"
            | "无域名"
            | "未知"
    )
}

/// A row that says the month had no events: 本月无一般网络安全事件, 无, 本月无事件.
fn states_no_events(row: &[V]) -> bool {
    let texts: Vec<String> = row
        .iter()
        .filter_map(|v| match v {
            V::Text(t) => Some(fold_width(t)),
            V::Empty => None,
            _ => Some(String::from("#")),
        })
        .collect();
    let [text] = texts.as_slice() else { return false };
    let t = text.trim_end_matches(['。', '.']);
    // The phrase, not any text with 无 and 事件 in it (无线AP被入侵事件 is an event).
    matches!(t, "无" | "无事件" | "本月无" | "当月无")
        || (["本月无", "当月无", "本月未发生", "当月未发生", "本月没有"].iter().any(|p| t.starts_with(p))
            && t.ends_with("事件")
            && t.chars().count() <= 20)
}

/// `203.0.113.7:6667` in the C&C column, and no port column: the address and the port.
fn split_address_and_port(item: &mut Map<String, Value>) {
    if item.contains_key("port") {
        return;
    }
    let Some(cc) = item.get("cc_ip").and_then(Value::as_str).map(fold_width) else { return };
    if let Ok(sa) = cc.parse::<std::net::SocketAddr>() {
        item.insert("cc_ip".into(), json!(sa.ip().to_string()));
        item.insert("port".into(), json!(sa.port()));
    }
}

/// Turns a JSON-pointer error into a `sheet!cell` error naming the column.
fn locate(mut e: IntakeError, sheet: &Sheet, form: &FormSpec, columns: &[Option<Column>], origin: &Origin) -> IntakeError {
    let parts: Vec<&str> = e.place.split('/').skip(1).collect();
    let (target, row) = match parts.as_slice() {
        ["content", array, i, field, ..] if Some(*array) == form.items => {
            (Some(Target::Item(field_static(form, field))), i.parse::<usize>().ok().and_then(|i| origin.item_rows.get(i).copied()))
        }
        ["content", array, i, ..] if origin.pushed.contains_key(array) => {
            let rows = &origin.pushed[array];
            (Some(Target::PushTo(rows_key(origin, array))), i.parse::<usize>().ok().and_then(|i| rows.get(i).copied()))
        }
        ["content", field, ..] => (Some(Target::Content(field_static(form, field))), Some(origin.first_row)),
        [field, ..] => (Some(Target::Report(field_static(form, field))), Some(origin.first_row)),
        [] => (None, Some(origin.first_row)),
    };
    let row = row.unwrap_or(origin.first_row);
    let excel_row = sheet.origin.0 as usize + row + 1;
    let col = target.and_then(|t| columns.iter().position(|c| c.is_some_and(|c| c.target == t)));
    let (place, label) = match col {
        Some(c) => (sheet.cell_place(row, c), columns[c].map(|c| c.zh)),
        None => (format!("{}!第{}行", sheet.name, excel_row), None),
    };
    let what = label.map(|l| format!("（{l}）")).unwrap_or_default();
    e.message = match &e.found {
        Some(f) => format!("{place}{what}：应为{}，实际为“{f}”", e.expected),
        None => format!("{place}{what}：应为{}", e.expected),
    };
    e.place = place;
    e
}

/// The form's own `&'static str` for a field name, so targets compare by value.
fn field_static(form: &FormSpec, field: &str) -> &'static str {
    form.columns
        .iter()
        .find_map(|c| match c.target {
            Target::Report(k) | Target::Content(k) | Target::Item(k) | Target::PushTo(k) | Target::Row(k) if k == field => Some(k),
            _ => None,
        })
        .unwrap_or("")
}

fn rows_key(origin: &Origin, array: &str) -> &'static str {
    origin.pushed.keys().find(|k| **k == array).copied().unwrap_or("")
}

/// A cell's value in the canonical JSON, by column type. Dates become Beijing-time text.
fn to_json(v: &V, col: &Column) -> Value {
    let number_text = |n: f64| if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() };
    match (col.cell, v) {
        (_, V::Empty) => Value::Null,
        (Cell::Time, V::Time(t)) => json!(t.format("%Y-%m-%d %H:%M:%S").to_string()),
        (Cell::Time, V::Num(n)) => {
            excel_serial(*n).map(|t| json!(t.format("%Y-%m-%d %H:%M:%S").to_string())).unwrap_or(json!(number_text(*n)))
        }
        (Cell::Month, V::Time(t)) => json!(t.format("%Y-%m").to_string()),
        (Cell::Month, V::Num(n)) => excel_serial(*n).map(|t| json!(t.format("%Y-%m").to_string())).unwrap_or(json!(number_text(*n))),
        (Cell::Int, V::Num(n)) if n.fract() == 0.0 => json!(*n as i64),
        (Cell::Choice(Choices::YesNo) | Cell::Bool, V::Bool(b)) => json!(*b),
        (Cell::Choice(Choices::YesNo) | Cell::Bool, V::Num(n)) if *n == 1.0 || *n == 0.0 => json!(*n == 1.0),
        (Cell::Choice(Choices::YesNo) | Cell::Bool, V::Text(t)) => match fold_width(t).to_lowercase().as_str() {
            "是" | "y" | "yes" | "true" | "1" | "√" | "✓" | "☑" | "✔" | "是√" | "有" => json!(true),
            "否" | "n" | "no" | "false" | "0" | "×" | "✗" | "无" => json!(false),
            // Words that answer one question only: 已处置/未处置 the disposal flag, and the
            // verification results written out (仍存在恶意连接 / 未发现恶意连接) the malicious flag.
            "已处置" if col.code == "is_disposed" => json!(true),
            "未处置" if col.code == "is_disposed" => json!(false),
            w if col.code == "still_malicious"
                && ["未发现", "已无", "无恶意", "不存在", "已消除", "已清除"].iter().any(|x| w.contains(x)) =>
            {
                json!(false)
            }
            w if col.code == "still_malicious" && ["仍存在", "仍有", "存在恶意"].iter().any(|x| w.contains(x)) => json!(true),
            _ => json!(t),
        },
        (Cell::Choice(Choices::Level), V::Num(n)) => json!(*n as i64),
        (_, V::Num(n)) => json!(number_text(*n)),
        (_, V::Bool(b)) => json!(if *b { "是" } else { "否" }),
        (_, V::Time(t)) => json!(t.format("%Y-%m-%d %H:%M:%S").to_string()),
        (_, V::Text(t)) => json!(t),
        // Refused before conversion (see parse_sheet); kept visible should that ever change.
        (_, V::Error(e)) => json!(e),
        (_, V::TooLong { chars, .. }) => json!(format!("（{chars} 个字符）")),
    }
}

/// Excel's serial date (days since 1899-12-30, fraction = time of day).
fn excel_serial(n: f64) -> Option<NaiveDateTime> {
    if !(1.0..2_958_466.0).contains(&n) {
        return None;
    }
    let base = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
    let ms = (n * 86_400_000.0).round() as i64;
    Some(base + chrono::Duration::milliseconds(ms))
}

/// Calamine's bare read of every sheet, counting non-empty cells: the floor `bench forms` compares with.
pub fn bare_read(bytes: &[u8]) -> Result<usize, String> {
    let mut wb = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut cells = 0;
    for name in wb.sheet_names().to_vec() {
        let range = wb.worksheet_range(&name).map_err(|e| e.to_string())?;
        cells += range.used_cells().count();
    }
    Ok(cells)
}
