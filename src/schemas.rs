//! JSON Schemas of the canonical types, generated from the Rust types; a test fails when the committed files drift.

use crate::model::report::{Report, ReportInput};
use crate::model::{Obligation, Receipt, Unit};
use std::path::Path;

/// File name and pretty JSON of every schema, in a stable order.
pub fn all() -> Vec<(&'static str, String)> {
    fn render(s: schemars::Schema) -> String {
        let mut text = serde_json::to_string_pretty(&s).expect("schemas serialise");
        text.push('\n');
        text
    }
    vec![
        ("report-input.schema.json", render(schemars::schema_for!(ReportInput))),
        ("report.schema.json", render(schemars::schema_for!(Report))),
        ("receipt.schema.json", render(schemars::schema_for!(Receipt))),
        ("unit.schema.json", render(schemars::schema_for!(Unit))),
        ("obligation.schema.json", render(schemars::schema_for!(Obligation))),
    ]
}

/// Writes every schema into `dir`.
pub fn write(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in all() {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// The schema files in `dir` that differ from the types (missing or changed).
pub fn drift(dir: &Path) -> Vec<&'static str> {
    all()
        .into_iter()
        .filter(|(name, text)| std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()))
        .map(|(n, _)| n)
        .collect()
}
