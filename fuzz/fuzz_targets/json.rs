//! Canonical JSON submissions: any bytes are parsed into reports or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let received_at = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let _ = tongbao::intake::json::parse_submission(data, received_at);
});
