//! Panics raised inside calamine, which the form reader contains (the file is refused as damaged), are not crashes of the hub.
//!
//! calamine's xls reader indexes records it has not measured, so some crafted files make it
//! panic; `forms::parse_with_notes` catches that and refuses the file. libFuzzer's panic hook
//! would stop the run at the first such file and never reach anything deeper, so this hook lets
//! calamine's panics unwind to that catch, reports each distinct place once (RELIABILITY.md
//! lists them), and still aborts on every other panic.

use std::collections::HashSet;
use std::sync::{Mutex, Once};

pub fn contain_reader_panics() {
    static ONCE: Once = Once::new();
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    ONCE.call_once(|| {
        let abort_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let Some(at) = info.location().filter(|l| l.file().contains("/calamine-")) else { return abort_hook(info) };
            let place = format!("{}:{}", at.file().rsplit("/src/").next().unwrap_or(at.file()), at.line());
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(place.clone()) {
                eprintln!("contained calamine panic at {place}: {info}");
            }
        }));
    });
}
