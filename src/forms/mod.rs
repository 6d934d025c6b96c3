//! Spreadsheet forms: blank forms out (rust_xlsxwriter) and filled forms in (calamine, csv). Only this module knows those crates.

pub mod read;
pub mod spec;
pub mod write;

pub use read::{BLANK_FORM_HINT, Limits, parse, parse_with_notes};

/// True when the bytes look like a spreadsheet or CSV rather than canonical JSON.
pub fn is_spreadsheet(bytes: &[u8], file_name: &str) -> bool {
    let lower = file_name.to_lowercase();
    bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
        || [".csv", ".xlsx", ".xlsm", ".xls", ".ods"].iter().any(|x| lower.ends_with(x))
}
