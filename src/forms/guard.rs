//! Bounds what reading an ods or xls file would allocate, from the file's own structure, before calamine opens it.
//!
//! calamine reads every sheet of an ods or xls workbook when it opens it, and lays each one out
//! as a dense range between its outermost cells. A few KB can therefore ask for gigabytes: an
//! ods row of one value repeated across 16,384 columns and a million rows, or an xls whose
//! dimensions record claims four billion rows (calamine reserves room for them, and a failed
//! allocation aborts the process). These scans read the same structure calamine will, without
//! expanding anything, and refuse the file when what it would take exceeds the limits.

use super::Limits;
use crate::model::{ErrorCode, IntakeError};
use std::io::{Cursor, Read};

/// What a scan found wrong, before the file name is put in front of the place.
pub struct Refusal {
    pub code: ErrorCode,
    /// The sheet, or empty for the whole file.
    pub sheet: String,
    pub expected: String,
    pub found: String,
}

impl Refusal {
    fn too_large(sheet: &str, limits: &Limits, found: String) -> Refusal {
        Refusal {
            code: ErrorCode::TooLarge,
            sheet: sheet.to_string(),
            expected: format!("每表不超过 {} 行、全部不超过 {} 个单元格", limits.max_rows, limits.max_cells),
            found,
        }
    }

    fn damaged(sheet: &str, found: String) -> Refusal {
        Refusal {
            code: ErrorCode::NotObject, sheet: sheet.to_string(), expected: "完整的电子表格文件（文件已损坏）".into(), found
        }
    }

    pub fn into_error(self, file_name: &str) -> IntakeError {
        let place = if self.sheet.is_empty() { file_name.to_string() } else { format!("{file_name}:{}", self.sheet) };
        IntakeError::new(self.code, &place, self.expected, Some(self.found))
    }
}

/// The largest row and column counts of the formats (calamine caps ods repeats at the same).
const MAX_SHEET_ROWS: u64 = 1_048_576;
const MAX_SHEET_COLUMNS: u64 = 16_384;

/// What the values of an ods file's cells may add up to once calamine has copied each one into
/// every cell its repeats cover: a 100 KB string repeated over 16,384 columns is 1.6 GB. The
/// same bound holds for an xls file's shared strings, copied into every cell that names them.
const MAX_ODS_TEXT_BYTES: u64 = 256 << 20;

/// The attributes that give an ods cell a value (or a formula) calamine keeps, as its
/// `get_datatype` reads them.
const ODS_VALUE_ATTRIBUTES: [&str; 7] = [
    "office:value-type",
    "office:value",
    "office:string-value",
    "office:date-value",
    "office:time-value",
    "office:boolean-value",
    "table:formula",
];

/// Scans an ods file's `content.xml` as calamine will expand it: rows and cells with their
/// repeat counts (entities decoded, as calamine decodes them), what is nested inside a cell
/// skipped (calamine skips it too), and the bytes of every value times the cells it is copied
/// into. Files without that part are left to calamine, which refuses them.
pub fn check_ods(bytes: &[u8], limits: &Limits) -> Result<(), Refusal> {
    use quick_xml::events::Event;
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(bytes)) else { return Ok(()) };
    let Ok(content) = archive.by_name("content.xml") else { return Ok(()) };
    // The zip check before this one has bounded what the part inflates to.
    let mut reader = quick_xml::Reader::from_reader(std::io::BufReader::new(content));
    let mut buf = Vec::new();
    let mut total: u64 = 0;
    let mut text_bytes: u64 = 0;
    let mut table: Option<TableBound> = None;
    let mut row: Option<RowBound> = None;
    // Inside a cell: its depth, its column repeats, and the bytes of its value so far.
    let mut cell: Option<(usize, u64, u64)> = None;
    loop {
        let name = table.as_ref().map_or(String::new(), |t| t.name.clone());
        let event = reader.read_event_into(&mut buf).map_err(|e| Refusal::damaged(&name, e.to_string()))?;
        let count = |e: &quick_xml::events::BytesStart<'_>, attr: &str| -> Result<u64, Refusal> {
            match e.try_get_attribute(attr).ok().flatten() {
                None => Ok(1),
                Some(a) => {
                    let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|x| Refusal::damaged(&name, x.to_string()))?;
                    v.trim().parse::<u64>().map_err(|_| Refusal::damaged(&name, format!("{attr}=\"{v}\" 不是重复次数")))
                }
            }
        };
        match &event {
            // Within a cell only the value's text counts (and `text:s`, which stands for spaces).
            Event::Start(e) | Event::Empty(e) if cell.is_some() => {
                if let Some((depth, _, bytes)) = cell.as_mut() {
                    if matches!(event, Event::Start(_)) {
                        *depth += 1;
                    }
                    if e.name().as_ref() == "text:s" {
                        *bytes = bytes.saturating_add(count(e, "text:c")?);
                    }
                }
            }
            Event::Text(t) if cell.is_some() => {
                if let Some((_, _, bytes)) = cell.as_mut() {
                    *bytes = bytes.saturating_add(t.len() as u64);
                }
            }
            Event::End(_) if cell.is_some() => {
                if let Some((depth, repeats, bytes)) = cell.as_mut() {
                    *depth -= 1;
                    if *depth == 0 {
                        let (repeats, bytes) = (*repeats, *bytes);
                        cell = None;
                        if let Some(r) = row.as_mut() {
                            r.text_bytes = r.text_bytes.saturating_add(bytes.saturating_mul(repeats));
                        }
                    }
                }
            }
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(event, Event::Empty(_));
                match e.name().as_ref() {
                    // calamine reads no table inside a table: a nested start is ignored.
                    "table:table" if table.is_none() && !empty => {
                        let name = e.try_get_attribute("table:name").ok().flatten().map(|a| a.value.into_owned()).unwrap_or_default();
                        table = Some(TableBound { name, ..TableBound::default() });
                    }
                    "table:table-row" if table.is_some() && row.is_none() => {
                        let r = RowBound { repeats: count(e, "table:number-rows-repeated")?, ..RowBound::default() };
                        if empty {
                            end_row(table.as_mut(), &r, &mut text_bytes);
                        } else {
                            row = Some(r);
                        }
                    }
                    "table:table-cell" | "table:covered-table-cell" if row.is_some() => {
                        let repeats = count(e, "table:number-columns-repeated")?;
                        let attribute_bytes: u64 = ODS_VALUE_ATTRIBUTES
                            .iter()
                            .filter_map(|a| e.try_get_attribute(*a).ok().flatten())
                            .map(|a| a.value.len() as u64)
                            .sum();
                        let has_value = !empty || ODS_VALUE_ATTRIBUTES.iter().any(|a| e.try_get_attribute(*a).ok().flatten().is_some());
                        if let Some(r) = row.as_mut() {
                            r.columns = r.columns.saturating_add(repeats).min(MAX_SHEET_COLUMNS);
                            if has_value {
                                r.last_value = r.columns;
                            }
                            if empty {
                                r.text_bytes = r.text_bytes.saturating_add(attribute_bytes.saturating_mul(repeats));
                            }
                        }
                        if !empty {
                            cell = Some((1, repeats, attribute_bytes));
                        }
                    }
                    _ => {}
                }
            }
            Event::End(e) if e.name().as_ref() == "table:table-row" => {
                if let Some(r) = row.take() {
                    end_row(table.as_mut(), &r, &mut text_bytes);
                }
            }
            Event::End(e) if e.name().as_ref() == "table:table" && row.is_none() => {
                if let Some(t) = table.take() {
                    let cells = t.cells();
                    total = total.saturating_add(cells);
                    if t.rows > limits.max_rows as u64 || total > limits.max_cells as u64 {
                        return Err(Refusal::too_large(
                            &t.name,
                            limits,
                            format!("展开后 {} 行、约 {cells} 个单元格", t.rows_to_last_value),
                        ));
                    }
                }
            }
            // calamine reads a table until its end tag: a file that ends inside one never ends.
            Event::Eof if table.is_some() || row.is_some() || cell.is_some() => {
                return Err(Refusal::damaged(&name, "content.xml 在工作表中途结束（文件不完整）".into()));
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        if text_bytes > MAX_ODS_TEXT_BYTES {
            return Err(Refusal::too_large(&name, limits, format!("单元格内容按重复次数展开后超过 {} MB", MAX_ODS_TEXT_BYTES >> 20)));
        }
        buf.clear();
    }
}

/// Ends a row element: its cells and its values' bytes, times its repeats, count for its table.
fn end_row(table: Option<&mut TableBound>, r: &RowBound, text_bytes: &mut u64) {
    if let Some(t) = table {
        let repeats = t.end_row(r);
        *text_bytes = text_bytes.saturating_add(r.text_bytes.saturating_mul(repeats));
    }
}

/// One `table:table-row` element as calamine reads it.
#[derive(Default)]
struct RowBound {
    repeats: u64,
    /// Columns so far, counting repeats.
    columns: u64,
    /// Columns up to and including the last cell that holds something.
    last_value: u64,
    /// The bytes of its values, each times its column repeats.
    text_bytes: u64,
}

/// What calamine will hold for one ods table: each row element's cells up to its last value,
/// then the dense range from the first row with a value to the last, as wide as the widest.
#[derive(Default)]
struct TableBound {
    name: String,
    rows: u64,
    read_cells: u64,
    width: u64,
    /// Rows (with repeats) from the first row element holding a value, while reading.
    rows_since_first_value: Option<u64>,
    rows_to_last_value: u64,
}

impl TableBound {
    /// Counts a row element; returns how many rows it stands for.
    fn end_row(&mut self, r: &RowBound) -> u64 {
        let repeats = r.repeats.min(MAX_SHEET_ROWS.saturating_sub(self.rows));
        self.rows += repeats;
        self.read_cells = self.read_cells.saturating_add(r.last_value);
        if r.last_value > 0 {
            self.width = self.width.max(r.last_value);
            let since = self.rows_since_first_value.unwrap_or(0) + repeats;
            self.rows_since_first_value = Some(since);
            self.rows_to_last_value = since;
        } else if let Some(since) = self.rows_since_first_value.as_mut() {
            *since += repeats;
        }
        repeats
    }

    fn cells(&self) -> u64 {
        self.read_cells.saturating_add(self.rows_to_last_value.saturating_mul(self.width))
    }
}

/// Scans an xls file's BIFF records as calamine will: the sheets where the workbook says they
/// start, each sheet's dimensions record (calamine reserves room for what it claims) and the
/// span of its cells (calamine lays them out densely).
pub fn check_xls(bytes: &[u8], limits: &Limits) -> Result<(), Refusal> {
    // A container the strict reader cannot open is refused here rather than left to calamine,
    // whose own reader would go on and trust what it found.
    let mut file = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(|e| Refusal::damaged("", e.to_string()))?;
    // calamine takes the first entry named Workbook (or Book) anywhere in the container; the
    // scan must read the same stream, so a file with more than one such entry is refused.
    let named: Vec<std::path::PathBuf> = file
        .walk()
        .filter(|e| e.is_stream() && ["workbook", "book"].contains(&e.name().to_lowercase().as_str()))
        .map(|e| e.path().to_path_buf())
        .collect();
    let path = match named.as_slice() {
        [one] => one.clone(),
        [] => return Err(Refusal::damaged("", "没有工作簿数据流（Workbook）".into())),
        _ => return Err(Refusal::damaged("", format!("有 {} 个工作簿数据流（Workbook）", named.len()))),
    };
    let mut stream = Vec::new();
    let read = file.open_stream(&path).and_then(|s| s.take(limits.max_uncompressed_bytes).read_to_end(&mut stream));
    if let Err(e) = read {
        return Err(Refusal::damaged("", e.to_string()));
    }
    // The workbook globals come first and list each sheet's position in the stream, and the
    // shared strings (SST, continued in CONTINUE records) that cells name by index.
    let mut positions = Vec::new();
    let mut sst: Vec<&[u8]> = Vec::new();
    let mut in_sst = false;
    for (typ, data) in Records(&stream) {
        in_sst = match typ {
            0x00FC => {
                sst = vec![data];
                true
            }
            0x003C if in_sst => {
                sst.push(data);
                true
            }
            _ => false,
        };
        match typ {
            0x0085 if data.len() >= 4 => positions.push(u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize),
            0x000A => break,
            _ => {}
        }
    }
    let shared_chars = shared_string_lengths(&sst);
    let mut shared_text: u64 = 0;
    if positions.len() > limits.max_sheets {
        return Err(Refusal {
            code: ErrorCode::TooMany,
            sheet: String::new(),
            expected: format!("不超过 {} 个工作表", limits.max_sheets),
            found: positions.len().to_string(),
        });
    }
    let mut total: u64 = 0;
    for (n, pos) in positions.into_iter().enumerate() {
        let sheet = format!("第{}个工作表", n + 1);
        let Some(records) = stream.get(pos..) else {
            return Err(Refusal::damaged(&sheet, format!("工作表起点 {pos} 超出工作簿数据（{} 字节）", stream.len())));
        };
        let mut span = Span::default();
        let mut depth = 0usize;
        let mut seen_bof = false;
        for (typ, data) in Records(records) {
            if depth > 0 {
                match typ {
                    0x0809 => depth += 1,
                    0x000A => depth -= 1,
                    _ => {}
                }
                continue;
            }
            let u16_at = |i: usize| data.get(i..i + 2).map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])));
            let u32_at = |i: usize| data.get(i..i + 4).map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            match typ {
                0x0809 if seen_bof => depth += 1,
                0x0809 => seen_bof = true,
                0x000A => break,
                // Dimensions: calamine reserves (last − first + 1) rows × columns from it.
                0x0200 => {
                    let (first_row, last_row, first_col, last_col) = match data.len() {
                        10 => (u16_at(0), u16_at(2), u16_at(4), u16_at(6)),
                        14 | 16 => (u32_at(0), u32_at(4), u16_at(8), u16_at(10)),
                        _ => continue,
                    };
                    let (Some(fr), Some(lr), Some(fc), Some(lc)) = (first_row, last_row, first_col, last_col) else { continue };
                    let fc = if fc > 0xFF || lc < fc { 0 } else { fc };
                    if lr >= 1 && lc >= 1 {
                        let (Some(rows), Some(cols)) = ((lr - 1).checked_sub(fr).map(|r| r + 1), (lc - 1).checked_sub(fc).map(|c| c + 1))
                        else {
                            return Err(Refusal::damaged(&sheet, format!("维度记录有误：行 {fr}–{lr}，列 {fc}–{lc}")));
                        };
                        if rows.saturating_mul(cols) > limits.max_cells as u64 {
                            return Err(Refusal::too_large(&sheet, limits, format!("维度记录声明 {rows} 行 × {cols} 列")));
                        }
                    }
                }
                // Cells: Number, Label, RString, BoolErr, Rk, LabelSst, Formula — row and column
                // first. (A String record, 0x0207, holds a formula's text and no position.)
                0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 => {
                    if let (Some(r), Some(c)) = (u16_at(0), u16_at(2)) {
                        span.add(r, c, c);
                    }
                    // LabelSst: calamine copies the shared string into the cell; three UTF-8
                    // bytes a character at most.
                    if typ == 0x00FD
                        && let Some(chars) = u32_at(6).and_then(|i| shared_chars.get(i as usize))
                    {
                        shared_text = shared_text.saturating_add(u64::from(*chars) * 3);
                        if shared_text > MAX_ODS_TEXT_BYTES {
                            return Err(Refusal::too_large(
                                &sheet,
                                limits,
                                format!("共享字符串复制到各单元格后超过 {} MB", MAX_ODS_TEXT_BYTES >> 20),
                            ));
                        }
                    }
                }
                // MulRk: one row, a run of columns whose last is in the record's last two bytes.
                0x00BD if data.len() >= 6 => {
                    if let (Some(r), Some(c), Some(last)) = (u16_at(0), u16_at(2), u16_at(data.len() - 2)) {
                        span.add(r, c, last.max(c));
                    }
                }
                _ => {}
            }
        }
        let area = span.area();
        total = total.saturating_add(area);
        if span.rows() > limits.max_rows as u64 || total > limits.max_cells as u64 {
            return Err(Refusal::too_large(&sheet, limits, format!("有值的单元格跨 {} 行 × {} 列", span.rows(), span.columns())));
        }
    }
    Ok(())
}

/// The length in characters of each string of an xls shared-string table, given as the SST
/// record's data and its CONTINUE records' (BIFF8: a string's characters may run on into the next
/// record, which then starts with a new flags byte). Reading stops at the first string that runs
/// out of data: calamine will refuse the table, and the strings read so far are what it could copy.
fn shared_string_lengths(segments: &[&[u8]]) -> Vec<u32> {
    let mut reader = Segments { segments, at: 0, pos: 8 }; // cstTotal, cstUnique
    let mut out = Vec::new();
    while let (Some(chars), Some(flags)) = (reader.u16(), reader.byte()) {
        let runs = if flags & 0x08 != 0 { reader.u16().map(usize::from) } else { Some(0) };
        let ext = if flags & 0x04 != 0 { reader.u32().map(|n| n as usize) } else { Some(0) };
        let (Some(runs), Some(ext)) = (runs, ext) else { break };
        if !reader.skip_chars(usize::from(chars), flags & 0x01 != 0) || !reader.skip(runs * 4 + ext) {
            break;
        }
        out.push(u32::from(chars));
    }
    out
}

/// A read position over record segments.
struct Segments<'a> {
    segments: &'a [&'a [u8]],
    at: usize,
    pos: usize,
}

impl Segments<'_> {
    fn byte(&mut self) -> Option<u8> {
        loop {
            let segment = self.segments.get(self.at)?;
            if let Some(b) = segment.get(self.pos) {
                self.pos += 1;
                return Some(*b);
            }
            (self.at, self.pos) = (self.at + 1, 0);
        }
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([self.byte()?, self.byte()?, self.byte()?, self.byte()?]))
    }
    /// Skips bytes, across segments.
    fn skip(&mut self, mut n: usize) -> bool {
        while n > 0 {
            let Some(segment) = self.segments.get(self.at) else { return false };
            let here = (segment.len() - self.pos.min(segment.len())).min(n);
            if here == 0 {
                (self.at, self.pos) = (self.at + 1, 0);
                continue;
            }
            self.pos += here;
            n -= here;
        }
        true
    }
    /// Skips `chars` characters of one or two bytes; where they run into the next segment, it
    /// starts with a flags byte saying which.
    fn skip_chars(&mut self, mut chars: usize, mut wide: bool) -> bool {
        while chars > 0 {
            let Some(segment) = self.segments.get(self.at) else { return false };
            let width = if wide { 2 } else { 1 };
            let here = ((segment.len() - self.pos.min(segment.len())) / width).min(chars);
            self.pos += here * width;
            chars -= here;
            if chars > 0 {
                (self.at, self.pos) = (self.at + 1, 0);
                match self.byte() {
                    Some(flags) => wide = flags & 0x01 != 0,
                    None => return false,
                }
            }
        }
        true
    }
}

/// The rectangle an xls sheet's cells span.
#[derive(Default)]
struct Span {
    bounds: Option<(u64, u64, u64, u64)>,
}

impl Span {
    fn add(&mut self, row: u64, first_col: u64, last_col: u64) {
        let (r0, r1, c0, c1) = self.bounds.unwrap_or((row, row, first_col, last_col));
        self.bounds = Some((r0.min(row), r1.max(row), c0.min(first_col), c1.max(last_col)));
    }
    fn rows(&self) -> u64 {
        self.bounds.map_or(0, |(r0, r1, _, _)| r1 - r0 + 1)
    }
    fn columns(&self) -> u64 {
        self.bounds.map_or(0, |(_, _, c0, c1)| c1 - c0 + 1)
    }
    fn area(&self) -> u64 {
        self.rows().saturating_mul(self.columns())
    }
}

/// BIFF records: a type, a length and that many bytes, until the data runs out.
struct Records<'a>(&'a [u8]);

impl<'a> Iterator for Records<'a> {
    type Item = (u16, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let head = self.0.get(..4)?;
        let typ = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let data = self.0.get(4..4 + len)?;
        self.0 = &self.0[4 + len..];
        Some((typ, data))
    }
}

#[cfg(test)]
mod tests {
    use super::{Limits, check_xls, shared_string_lengths};
    use std::io::Write;

    fn record(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut r = typ.to_le_bytes().to_vec();
        r.extend((data.len() as u16).to_le_bytes());
        r.extend(data);
        r
    }

    /// An SST of one compressed string of `chars` characters, split into records of at most
    /// 8,224 bytes the way Excel writes them (each continuation starts with a flags byte).
    fn sst_records(chars: usize) -> Vec<u8> {
        let mut first = vec![1, 0, 0, 0, 1, 0, 0, 0];
        first.extend((chars as u16).to_le_bytes());
        first.push(0); // compressed
        let mut left = chars;
        let take = left.min(8224 - first.len());
        first.extend(std::iter::repeat_n(b'x', take));
        left -= take;
        let mut out = record(0x00FC, &first);
        while left > 0 {
            let take = left.min(8223);
            let mut cont = vec![0u8];
            cont.extend(std::iter::repeat_n(b'y', take));
            out.extend(record(0x003C, &cont));
            left -= take;
        }
        out
    }

    /// A workbook whose one sheet names shared string 0 in `cells` cells.
    fn xls(sst_chars: usize, cells: u16) -> Vec<u8> {
        let bof = record(0x0809, &[0, 6, 5, 0, 0, 0, 0, 0]);
        let mut globals = bof.clone();
        globals.extend(sst_records(sst_chars));
        let boundsheet_at = globals.len();
        globals.extend(record(0x0085, &[0, 0, 0, 0, 0, 0, 1, 0, b's']));
        globals.extend(record(0x000A, &[]));
        let sheet_at = globals.len() as u32;
        globals[boundsheet_at + 4..boundsheet_at + 8].copy_from_slice(&sheet_at.to_le_bytes());
        globals.extend(&bof);
        for row in 0..cells {
            let mut cell = row.to_le_bytes().to_vec();
            cell.extend([0, 0, 0, 0, 0, 0, 0, 0]); // column 0, xf 0, string 0
            globals.extend(record(0x00FD, &cell));
        }
        globals.extend(record(0x000A, &[]));
        let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
        file.create_stream("/Workbook").unwrap().write_all(&globals).unwrap();
        file.flush().unwrap();
        file.into_inner().into_inner()
    }

    #[test]
    fn shared_strings_are_measured_across_continue_records() {
        let stream = sst_records(30_000);
        let mut segments = Vec::new();
        let mut rest = &stream[..];
        while rest.len() >= 4 {
            let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
            segments.push(&rest[4..4 + len]);
            rest = &rest[4 + len..];
        }
        assert!(segments.len() > 3, "the string runs over CONTINUE records");
        assert_eq!(shared_string_lengths(&segments), [30_000]);
        // A rich string (two formatting runs) of two-byte characters, then a plain one.
        let mut sst = vec![2, 0, 0, 0, 2, 0, 0, 0];
        sst.extend([3, 0, 0x09, 2, 0]);
        sst.extend([0x4E, 0x2D, 0x56, 0xFD, 0x41, 0]);
        sst.extend([0u8; 8]);
        sst.extend([1, 0, 0, b'z']);
        assert_eq!(shared_string_lengths(&[&sst]), [3, 1]);
    }

    #[test]
    fn a_shared_string_copied_into_many_cells_is_refused_before_it_is_read() {
        let limits = Limits::default();
        // 30,000 characters in 1,000 cells: 90 MB at most once copied, within the bound.
        assert!(check_xls(&xls(30_000, 1_000), &limits).is_ok());
        // In 3,000 cells: 270 MB, refused.
        let refused = check_xls(&xls(30_000, 3_000), &limits).unwrap_err();
        assert!(refused.found.contains("共享字符串"), "{}", refused.found);
    }
}
