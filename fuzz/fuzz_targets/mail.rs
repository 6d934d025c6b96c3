//! MIME mails as the mail connector reads them: headers, parts, attachments and the forms in them.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod contained;
use tongbao::connectors::mail::parse;

fuzz_target!(|data: &[u8]| {
    // Attachments are read by the form reader: calamine's known panics are contained there too.
    contained::contain_reader_panics();
    let received_at = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let limits = parse::MailLimits::default();
    if let Ok(mail) = parse::parse_mail(data) {
        let _ = parse::items_of(&mail, received_at, &limits);
        let _ = parse::dedupe_key(&mail, data);
    }
    let _ = parse::appeal_form(data, &limits, false);
});
