//! Panics raised inside calamine, which the form reader contains (the file is refused as damaged), are not crashes of the hub.
//!
//! calamine's xls reader indexes records it has not measured, and its xlsx reader multiplies a
//! column reference without a bound, so some crafted files make it panic (the multiplication only
//! in a build with overflow checks, as fuzzing builds are); `forms::parse_with_notes` catches
//! that and refuses the file. libFuzzer's panic hook would stop the run at the first such file and
//! never reach anything deeper, so this hook lets the panics of calamine's xls reader and
//! calamine's overflow checks (found by fuzzing, listed in RELIABILITY.md) unwind to that catch,
//! and aborts on every other panic, any other of calamine's ods and xlsx readers included: a new
//! one is looked at before it is added.

use std::collections::HashSet;
use std::sync::{Mutex, Once};

/// calamine 0.38's xls reader (and the byte helpers and compound-file reader under it) slices
/// records it has not measured in many places: fuzzing finds a new one every few minutes
/// (`utils.rs:43`, `utils.rs:48`, `xls.rs:772`, `xls.rs:838` so far), so its files are
/// contained whole, each place reported once.
const KNOWN_FILES: [&str; 3] = ["xls.rs", "utils.rs", "cfb.rs"];
/// Other places of calamine 0.38 known to panic on crafted input, as `file:line` under its `src/`
/// (none yet besides its arithmetic overflows, below).
const KNOWN: [&str; 0] = [];

/// An overflow check firing inside calamine (`xlsx/mod.rs:3049`, `3096`, `3097` so far: a cell
/// reference or dimension with too many letters) exists only in a build with overflow checks,
/// as fuzzing builds are; the hub's release build wraps instead, and the form reader's own limits
/// are what bound the result.
fn overflow_check(info: &std::panic::PanicHookInfo<'_>) -> bool {
    let message = info.payload().downcast_ref::<&str>().copied().unwrap_or_default();
    message.starts_with("attempt to ") && message.ends_with(" with overflow")
}

pub fn contain_reader_panics() {
    static ONCE: Once = Once::new();
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    ONCE.call_once(|| {
        let abort_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let Some(at) = info.location().filter(|l| l.file().contains("/calamine-0.38.0/")) else { return abort_hook(info) };
            let place = format!("{}:{}", at.file().rsplit("/src/").next().unwrap_or(at.file()), at.line());
            let file = place.split(':').next().unwrap_or_default();
            if !KNOWN.contains(&place.as_str()) && !KNOWN_FILES.contains(&file) && !overflow_check(info) {
                return abort_hook(info);
            }
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(place.clone()) {
                eprintln!("contained calamine panic at {place}: {info}");
            }
        }));
    });
}
