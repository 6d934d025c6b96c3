//! The form reader behind the file formats: the header of one of the hub's own forms (chosen by
//! the first byte) over fuzzed CSV rows, so that every input reaches column matching and cell parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static HEADERS: LazyLock<Vec<String>> = LazyLock::new(|| {
    tongbao::forms::spec::all().iter().map(|f| f.columns.iter().map(|c| c.zh).collect::<Vec<_>>().join(",") + "\n").collect()
});

fuzz_target!(|data: &[u8]| {
    let Some((first, rows)) = data.split_first() else { return };
    let mut file = HEADERS[usize::from(*first) % HEADERS.len()].as_bytes().to_vec();
    file.extend_from_slice(rows);
    let received_at = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let _ = tongbao::forms::parse_with_notes(&file, "form.csv", received_at, &tongbao::forms::Limits::default());
});
