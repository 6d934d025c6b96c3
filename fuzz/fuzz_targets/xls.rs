//! xls files through the form reader, with the hub's default limits: read or refused, never a panic or a bomb.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod contained;

fuzz_target!(|data: &[u8]| {
    contained::contain_reader_panics();
    let received_at = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let _ = tongbao::forms::parse_with_notes(data, "fuzz.xls", received_at, &tongbao::forms::Limits::default());
});
