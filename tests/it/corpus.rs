//! Units' own hand-made forms (tests/fixtures/forms/corpus, made by make.py the way clerks make them) through `tongbao ingest` and through the mail path, each against the reports it must yield.

use super::helpers::{Backend, Hub, Lib, UNITS_TOML, units_from_toml};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tongbao::connectors::mail::{parse::MailLimits, source};
use tongbao::model::{ErrorCode, Receipt};
use tongbao::store::Store;

#[derive(Debug, Deserialize)]
struct Case {
    file: String,
    unit: String,
    describe: String,
    reports: Vec<Expected>,
    errors: Vec<ExpectedError>,
    ignored_columns: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Expected {
    rows: Vec<String>,
    fields: Value,
}

#[derive(Debug, Deserialize)]
struct ExpectedError {
    code: ErrorCode,
    place: String,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/forms/corpus")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus_dir().join("expected.json")).expect("expected.json");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("expected.json parses");
    assert!(cases.len() >= 30, "the corpus holds at least 30 forms");
    cases
}

/// How a receipt names the rows of a report: `表!第4行`, or `表!第4–6行` for several.
fn source_of(rows: &[String]) -> String {
    let number = |r: &str| -> (String, usize) {
        let (sheet, rest) = r.rsplit_once("!第").expect("sheet!第N行");
        (sheet.to_string(), rest.trim_end_matches('行').parse().expect("a row number"))
    };
    let (sheet, first) = number(&rows[0]);
    // Rows of other sheets (a 受控IP sheet's) are the report's too, but it is named by its own sheet's.
    let last = rows.iter().map(|r| number(r)).filter(|(s, _)| *s == sheet).map(|(_, n)| n).max().unwrap_or(first);
    if last == first { format!("{sheet}!第{first}行") } else { format!("{sheet}!第{first}–{last}行") }
}

/// Differences between what a clerk meant (`want`, a subset) and what was stored (`got`).
/// Times compare as instants; every other value as JSON.
fn differences(want: &Value, got: &Value, at: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                differences(v, g.get(k).unwrap_or(&Value::Null), &format!("{at}/{k}"), out);
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                differences(a, b, &format!("{at}/{i}"), out);
            }
        }
        (Value::String(w), Value::String(g)) => {
            let instant = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
            let same = match (instant(w), instant(g)) {
                (Some(a), Some(b)) => a == b,
                _ => w == g,
            };
            if !same {
                out.push(format!("{at}: want {w:?}, got {g:?}"));
            }
        }
        (w, g) if w == g => {}
        // A false flag is left out of the stored report.
        (Value::Bool(false), Value::Null) => {}
        (w, g) => out.push(format!("{at}: want {w}, got {g}")),
    }
}

/// Feedback and verification forms name notices the corpus cannot have stored: intake refuses
/// them as unknown references at their rows, which is what it must do.
fn names_a_notice(e: &Expected) -> bool {
    matches!(e.fields["kind"].as_str(), Some("disposal_feedback" | "verification"))
}

/// Checks one receipt against its case; `within` prefixes places (a mail's attachment name).
/// Returns each accepted report's id by source, and the problems found.
fn check_receipt(case: &Case, receipt: &Receipt, within: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut ids = BTreeMap::new();
    let place = |p: &str| if within.is_empty() { p.to_string() } else { format!("{within} › {p}") };
    for e in &case.reports {
        let source = place(&source_of(&e.rows));
        if names_a_notice(e) {
            if !receipt.errors.iter().any(|x| x.code == ErrorCode::UnknownReference && x.place.starts_with(&source)) {
                problems.push(format!("{source}: no unknown_reference for its made-up notice: {:?}", receipt.errors));
            }
            continue;
        }
        match receipt.reports.iter().find(|r| r.source == source) {
            Some(r) => {
                ids.insert(source, r.report_id.to_string());
            }
            None => problems.push(format!("{source}: no accepted report from these rows")),
        }
    }
    for e in &case.errors {
        let want = place(&e.place);
        if !receipt.errors.iter().any(|x| x.code == e.code && x.place == want) {
            problems.push(format!("missing error {} at {want}", e.code));
        }
    }
    let expected_errors = case.errors.len() + case.reports.iter().filter(|e| names_a_notice(e)).count();
    if receipt.errors.len() != expected_errors {
        let all: Vec<String> = receipt.errors.iter().map(|e| e.message.clone()).collect();
        problems.push(format!("{} errors where {expected_errors} were expected: {all:#?}", receipt.errors.len()));
    }
    let accepted = case.reports.iter().filter(|e| !names_a_notice(e)).count();
    if receipt.reports.len() != accepted {
        let got: Vec<&str> = receipt.reports.iter().map(|r| r.source.as_str()).collect();
        problems.push(format!("{} reports accepted where {accepted} were expected: {got:?}", receipt.reports.len()));
    }
    for header in &case.ignored_columns {
        if !receipt.notes.iter().any(|n| n.message.contains(&format!("“{header}”"))) {
            problems.push(format!("the ignored column {header:?} is not listed: {:?}", receipt.notes));
        }
    }
    (ids, problems)
}

/// The stored report, as JSON, against the fields its rows state.
fn check_fields(case: &Case, source_within: &str, stored: &Value, problems: &mut Vec<String>) {
    let Some(e) = case.reports.iter().find(|e| source_within.ends_with(&source_of(&e.rows))) else { return };
    // A botnet event's grade is the hub's, from its scale over the period (Art. 7 [僵尸机制]);
    // what the clerk wrote is kept as the declared grade when the hub raised it.
    let mut stored = stored.clone();
    if let Some(declared) = stored.get("declared_grade").cloned() {
        stored["grade"] = declared;
    }
    let mut diffs = Vec::new();
    differences(&e.fields, &stored, "", &mut diffs);
    problems.extend(diffs.into_iter().map(|d| format!("{source_within}{d}")));
}

fn report(cases: &[Case], problems: &BTreeMap<String, Vec<String>>) -> (usize, usize, usize) {
    let full = cases.iter().filter(|c| c.errors.is_empty() && problems.get(&c.file).is_none_or(Vec::is_empty)).count();
    let partly = cases.iter().filter(|c| !c.errors.is_empty() && problems.get(&c.file).is_none_or(Vec::is_empty)).count();
    let failed = problems.values().filter(|p| !p.is_empty()).count();
    (full, partly, failed)
}

#[test]
fn every_hand_made_form_yields_its_reports_through_tongbao_ingest() {
    let cases = cases();
    let mut problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in &cases {
        let hub = Hub::new().with_units();
        let path = corpus_dir().join(&case.file);
        let (code, receipt) = hub.json(&["ingest", path.to_str().unwrap(), "--unit", &case.unit]);
        let receipt: Receipt = serde_json::from_value(receipt).expect("a receipt");
        let want_code = match (case.reports.iter().any(|e| !names_a_notice(e)), receipt.errors.is_empty()) {
            (true, true) => 0,
            (true, false) => 3,
            (false, _) => 4,
        };
        let (ids, mut found) = check_receipt(case, &receipt, "");
        if code != want_code {
            found.push(format!("exit {code}, expected {want_code}"));
        }
        for (source, id) in ids {
            let (_, shown) = hub.json(&["reports", "show", &id]);
            check_fields(case, &source, &shown["report"], &mut found);
        }
        problems.insert(case.file.clone(), found);
    }
    let (full, partly, failed) = report(&cases, &problems);
    println!(
        "corpus through `tongbao ingest`: {} forms, {full} fully accepted, {partly} partly accepted with the right errors",
        cases.len()
    );
    let failures: Vec<String> = problems
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(f, p)| format!("{f} ({}):\n  {}", cases.iter().find(|c| &c.file == f).unwrap().describe, p.join("\n  ")))
        .collect();
    assert_eq!(failed, 0, "{}", failures.join("\n"));
}

/// The case with its file name, where places use it, replaced by `name`.
fn renamed(case: &Case, name: &str) -> Case {
    let swap = |s: &str| s.replace(&format!("{}!", case.file), &format!("{name}!"));
    Case {
        file: case.file.clone(),
        unit: case.unit.clone(),
        describe: case.describe.clone(),
        reports: case
            .reports
            .iter()
            .map(|e| Expected { rows: e.rows.iter().map(|r| swap(r)).collect(), fields: e.fields.clone() })
            .collect(),
        errors: case.errors.iter().map(|e| ExpectedError { code: e.code, place: swap(&e.place) }).collect(),
        ignored_columns: case.ignored_columns.clone(),
    }
}

/// Every corpus mail (made by make_mail.py with Python's email package) read by the mail
/// source's own path from raw bytes to receipt, as the IMAP and Maildir sources do.
async fn every_hand_made_form_yields_its_reports_when_mailed(backend: Backend) {
    let cases = cases();
    let lib = Lib::on(backend).await;
    // Each unit speaks from the address the mails come from.
    let mut units = units_from_toml(UNITS_TOML);
    for u in &mut units {
        u.contacts.push(tongbao::model::Contact {
            role: tongbao::model::ContactRole::Contact,
            name: "值班".into(),
            phone: None,
            email: Some(format!("soc@{}.tongbao.test", u.code.as_str().to_lowercase()).parse().unwrap()),
        });
    }
    lib.store.import_units(&units, chrono::Utc::now()).await.unwrap();
    let mut problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in &cases {
        let eml = corpus_dir().join("mail").join(Path::new(&case.file).with_extension("eml").file_name().unwrap());
        let raw = std::fs::read(&eml).unwrap_or_else(|e| panic!("{}: {e}", eml.display()));
        let parsed = source::prepare(raw, &MailLimits::default(), false, &[]).expect("a mail from a unit");
        let attachment = tongbao::connectors::mail::parse::parse_mail(&parsed.submission.raw).unwrap().attachments[0].name.clone();
        let receipt = lib.intake.submit_parsed(parsed).await.expect("stored");
        // A CSV's one sheet is named after its file, which the mail names its own way.
        let case = &renamed(case, &attachment);
        let (ids, mut found) = check_receipt(case, &receipt, &attachment);
        if receipt.unit.as_ref().map(|u| u.as_str()) != Some(case.unit.as_str()) {
            found.push(format!("answered as {:?}, sent by {}", receipt.unit, case.unit));
        }
        for (source, id) in ids {
            let stored = lib.store.report(id.parse().unwrap(), None).await.unwrap().expect("stored report");
            check_fields(case, &source, &serde_json::to_value(&stored.report).unwrap(), &mut found);
        }
        problems.insert(case.file.clone(), found);
    }
    let (full, partly, failed) = report(&cases, &problems);
    println!("corpus by mail: {} mails, {full} fully accepted, {partly} partly accepted with the right errors", cases.len());
    let failures: Vec<String> =
        problems.iter().filter(|(_, p)| !p.is_empty()).map(|(f, p)| format!("{f}:\n  {}", p.join("\n  "))).collect();
    assert_eq!(failed, 0, "{}", failures.join("\n"));
}

crate::on_both_backends!(every_hand_made_form_yields_its_reports_when_mailed);
