//! Spreadsheet forms: blank forms out (rust_xlsxwriter) and filled forms in (calamine, csv). Only this module knows those crates (and the zip, XML and compound-file readers that guard calamine).

mod guard;
pub mod read;
pub mod spec;
pub mod write;

pub use read::{BLANK_FORM_HINT, PreviewSheet, parse, parse_with_notes, preview};

/// Limits that stop spreadsheet bombs; each refusal names the limit.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_file_bytes: usize,
    /// Sum of the uncompressed sizes of a zip-based workbook's parts.
    pub max_uncompressed_bytes: u64,
    pub max_sheets: usize,
    pub max_rows: usize,
    pub max_cells: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_file_bytes: 64 << 20, max_uncompressed_bytes: 1 << 30, max_sheets: 32, max_rows: 1_048_576 * 4, max_cells: 8_000_000 }
    }
}

/// True when the bytes look like a spreadsheet or CSV rather than canonical JSON.
pub fn is_spreadsheet(bytes: &[u8], file_name: &str) -> bool {
    let lower = file_name.to_lowercase();
    bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
        || [".csv", ".xlsx", ".xlsm", ".xls", ".ods"].iter().any(|x| lower.ends_with(x))
}

/// The file name extension that fits these bytes, for a download of a file kept without its
/// name: a workbook's kind by its container, JSON and other text by their first characters.
pub fn extension_of(bytes: &[u8]) -> &'static str {
    let within = |needle: &[u8]| bytes.windows(needle.len()).take(64 << 10).any(|w| w == needle);
    if bytes.starts_with(b"PK\x03\x04") {
        if within(b"application/vnd.oasis.opendocument.spreadsheet") {
            "ods"
        } else if within(b"xl/") {
            "xlsx"
        } else {
            "zip"
        }
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        "xls"
    } else if std::str::from_utf8(bytes).is_ok_and(|t| t.trim_start_matches('\u{feff}').trim_start().starts_with(['{', '['])) {
        "json"
    } else if std::str::from_utf8(bytes).is_ok() {
        "txt"
    } else {
        "bin"
    }
}

/// The blank forms a refused submission's sender needs: the form whose required columns were
/// missing, or every form when no sheet was recognised. Each as (file name, xlsx bytes).
pub fn blank_forms_for(errors: &[crate::model::IntakeError]) -> Vec<(String, Vec<u8>)> {
    use crate::model::ErrorCode;
    let all = spec::all();
    let mut wanted: Vec<&spec::FormSpec> = Vec::new();
    for e in errors {
        let chosen: Vec<&spec::FormSpec> = match e.code {
            ErrorCode::UnknownKind => all.iter().collect(),
            ErrorCode::MissingField => all.iter().filter(|f| e.expected.starts_with(&format!("{}的必填列", f.title))).collect(),
            _ => vec![],
        };
        for f in chosen {
            if !wanted.iter().any(|w| w.kind == f.kind) {
                wanted.push(f);
            }
        }
    }
    wanted.into_iter().filter_map(|f| write::blank(f).ok().map(|bytes| (format!("{}.xlsx", f.title), bytes))).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_kept_file_is_named_for_what_its_bytes_are() {
        let blank = super::write::blank(&super::spec::all()[0]).unwrap();
        assert_eq!(super::extension_of(&blank), "xlsx", "a workbook rust_xlsxwriter wrote");
        assert_eq!(super::extension_of(&[0xD0, 0xCF, 0x11, 0xE0, 0, 0]), "xls");
        assert_eq!(super::extension_of("\u{feff} {\"kind\": \"event\"}".as_bytes()), "json");
        assert_eq!(super::extension_of("类别,级别\n事件,重大\n".as_bytes()), "txt");
        assert_eq!(super::extension_of(&[0xff, 0xfe, 0x00, 0x80]), "bin");
    }
}
