//! Tidy checks on the source tree: every module says what it is for, and ARCHITECTURE.md maps every top-level module.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_module_starts_with_a_doc_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let missing: Vec<_> = files.iter().filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!")).collect();
    assert!(missing.is_empty(), "modules without a leading //! line: {missing:?}");
}

#[test]
fn architecture_names_every_top_level_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let arch = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    for e in std::fs::read_dir(root.join("src")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().trim_end_matches(".rs").to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        assert!(arch.contains(&format!("src/{name}")), "ARCHITECTURE.md does not mention src/{name}");
    }
}

/// The layers, bottom first: each imports only what comes before it. The clock is below all:
/// every edge of the process reads "now" from it. The store writes what
/// intake decided without knowing intake (both use `decision`); fan-out and digests read the
/// store; intake decides with the rules and writes through the store. Above them: the texts
/// people read and the published schemas; the scheduler; the configuration (which names the
/// scheduler's settings); the connectors it configures; `serve`, the composition root that starts
/// them all; the benchmarks; and the CLI over everything.
const LAYERS: [&str; 18] = [
    "clock",
    "model",
    "rules",
    "decision",
    "store",
    "metrics",
    "digest",
    "fanout",
    "intake",
    "forms",
    "templates",
    "schemas",
    "schedule",
    "config",
    "connectors",
    "serve",
    "bench",
    "cli",
];

/// A new top-level module stands on a floor: one missing from `LAYERS` would escape the check below.
#[test]
fn every_top_level_module_is_in_the_layer_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let missing: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().trim_end_matches(".rs").to_string())
        .filter(|name| !matches!(name.as_str(), "lib" | "main") && !LAYERS.contains(&name.as_str()))
        .collect();
    assert!(missing.is_empty(), "top-level modules on no floor of LAYERS: {missing:?}");
}

#[test]
fn no_layer_imports_one_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut upward = Vec::new();
    for (level, layer) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        let dir = root.join(layer);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(root.join(format!("{layer}.rs")));
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            // `use crate::{a, b::c}` groups, flattened to the modules they name first.
            let grouped: Vec<&str> = text
                .match_indices("crate::{")
                .filter_map(|(i, m)| text[i + m.len()..].split_once('}').map(|(inside, _)| inside))
                .flat_map(|inside| inside.split(',').map(|p| p.trim().split("::").next().unwrap_or_default().trim()))
                .collect();
            let names = |module: &str| {
                text.contains(&format!("crate::{module}::"))
                    || text.contains(&format!("crate::{module};"))
                    || text.contains(&format!("crate::{module} as"))
                    || grouped.contains(&module)
            };
            for above in &LAYERS[level + 1..] {
                if names(above) {
                    upward.push(format!("{} names {above}", f.strip_prefix(&root).unwrap().display()));
                }
            }
            // `super::super::` reaches out of a layer's folder without saying where: not allowed.
            if text.contains("super::super::super::") {
                upward.push(format!("{} reaches out with super::super::super::", f.strip_prefix(&root).unwrap().display()));
            }
        }
    }
    assert!(upward.is_empty(), "imports from a higher layer:\n{}", upward.join("\n"));
}

/// Each foreign library and the modules allowed to name it (ARCHITECTURE.md, "Each foreign
/// library has one home"): a path prefix under `src/`.
const HOMES: &[(&str, &[&str])] = &[
    ("sqlx", &["store/"]),
    ("axum", &["connectors/http/"]),
    ("hyper", &["connectors/http/"]),
    ("hyper_util", &["connectors/http/"]),
    ("tower", &["connectors/http/"]),
    ("governor", &["connectors/http/"]),
    ("moka", &["connectors/http/"]),
    ("argon2", &["connectors/http/auth.rs"]),
    ("hmac", &["connectors/http/auth.rs"]),
    ("prometheus_client", &["metrics.rs"]),
    ("lapin", &["connectors/amqp/"]),
    ("lettre", &["connectors/mail/"]),
    ("mail_parser", &["connectors/mail/"]),
    ("async_imap", &["connectors/mail/"]),
    ("tokio_rustls", &["connectors/mail/"]),
    ("rustls_native_certs", &["connectors/mail/"]),
    ("calamine", &["forms/"]),
    ("csv", &["forms/"]),
    ("quick_xml", &["forms/guard.rs"]),
    ("cfb", &["forms/guard.rs"]),
    ("zip", &["forms/", "connectors/mail/parse.rs"]),
    ("rust_xlsxwriter", &["forms/", "digest/"]),
    ("plotters", &["digest/chart.rs"]),
    ("minijinja", &["templates.rs", "connectors/http/", "connectors/mail/"]),
    // The CLI, and the bench subcommands it runs.
    ("clap", &["main.rs", "cli.rs", "bench/mod.rs"]),
    ("rpassword", &["cli.rs"]),
    ("libc", &["main.rs", "connectors/folder.rs"]),
    ("mimalloc", &["main.rs"]),
    ("tyme4rs", &["rules/holidays.rs"]),
];

/// Every "now" comes from one clock that a drill replaces (`src/clock.rs`): no code outside it
/// reads the system clock, except tests and the benchmarks, which measure real time.
#[test]
fn nothing_but_the_clock_reads_the_system_time() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let readers: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"))
        .filter(|rel| rel != "clock.rs" && !rel.starts_with("bench/") && !rel.ends_with("/bench.rs"))
        .filter(|rel| {
            let text = std::fs::read_to_string(root.join(rel)).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            code.contains("Utc::now") || code.contains("SystemTime::now") || code.contains("Local::now")
        })
        .collect();
    assert!(readers.is_empty(), "modules that read the system clock instead of crate::clock::now(): {readers:?}");
}

#[test]
fn each_foreign_library_is_named_only_in_its_home() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut strays = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(f).unwrap();
        for (lib, homes) in HOMES {
            let named = text.match_indices(&format!("{lib}::")).any(|(i, _)| {
                // A path that starts with the library (`csv::`, `::csv::`), not one that merely
                // ends with its name (`forms::csv::`, `my_csv::`).
                let before = &text[..i];
                let path_start = |b: &str| !b.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':' || c == '>');
                path_start(before) || before.strip_suffix("::").is_some_and(path_start)
            });
            if named && !homes.iter().any(|h| rel.starts_with(h)) {
                strays.push(format!("src/{rel} names {lib}"));
            }
        }
    }
    assert!(strays.is_empty(), "foreign libraries outside their homes:\n{}", strays.join("\n"));
}

/// Nothing outside the store names a backend (ARCHITECTURE.md: `AnyStore` is the backend the
/// configuration names, behind one type), except the benchmarks, which compare backends.
#[test]
fn nothing_outside_the_store_names_a_backend() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let strays: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"))
        .filter(|rel| !rel.starts_with("store/") && !rel.starts_with("bench/"))
        .filter(|rel| {
            let text = std::fs::read_to_string(root.join(rel)).unwrap();
            ["store::sqlite", "store::postgres", "SqliteStore", "PgStore"].iter().any(|name| text.contains(name))
        })
        .collect();
    assert!(strays.is_empty(), "modules outside store/ and bench/ that name a backend: {strays:?}");
}

/// The benchmarks are a leaf: only the CLI that runs them imports `crate::bench` (the mail and
/// AMQP benches beside their connectors are imported by it, not the other way round).
#[test]
fn nothing_but_the_cli_depends_on_the_benchmarks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let users: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"))
        .filter(|rel| !rel.starts_with("bench/") && !rel.ends_with("/bench.rs") && rel != "cli.rs")
        .filter(|rel| std::fs::read_to_string(root.join(rel)).unwrap().contains("bench::"))
        .collect();
    assert!(users.is_empty(), "modules that import the benchmarks: {users:?}");
}
