//! Parsing the instants people write: RFC 3339, or local Asia/Shanghai text such as `2026-09-23 10:00` or `2026年9月23日10时`.

use super::{ParseError, fold_width, receipt::ErrorCode};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

pub const EXPECTED_TIME: &str = "时间：RFC 3339（如 2026-09-23T10:00:00+08:00）或北京时间 2026-09-23 10:00";

/// An instant as people in China read it: Beijing time, `2026-09-23 10:00`.
pub fn local_zh(at: DateTime<Utc>) -> String {
    at.with_timezone(&Shanghai).format("%Y-%m-%d %H:%M").to_string()
}

/// Midnight in Beijing that began the day `at` falls on: where "today" starts for people.
pub fn start_of_day(at: DateTime<Utc>) -> DateTime<Utc> {
    let day = at.with_timezone(&Shanghai).date_naive();
    // China keeps no daylight saving time: midnight exists once every day.
    day.and_hms_opt(0, 0, 0).and_then(|m| m.and_local_timezone(Shanghai).single()).map_or(at, |t| t.with_timezone(&Utc))
}

/// Parses an instant. Text without an offset is Asia/Shanghai local time.
pub fn parse_instant(input: &str) -> Result<DateTime<Utc>, ParseError> {
    let s = fold_width(input);
    if let Ok(t) = DateTime::parse_from_rfc3339(&s) {
        return Ok(t.with_timezone(&Utc));
    }
    parse_local(&s)
        .and_then(|naive| Shanghai.from_local_datetime(&naive).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ParseError::new(ErrorCode::BadTime, EXPECTED_TIME, input))
}

fn parse_local(s: &str) -> Option<NaiveDateTime> {
    // 2026年9月23日10时30分 / 2026年9月23日 10:30 → numbers in order.
    let normalised: String =
        s.replace(['年', '月', '/', '.'], "-").replace('日', " ").replace(['时', '点'], ":").replace('分', "").replace('T', " ");
    let normalised = normalised.trim().trim_end_matches(':');
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(normalised, fmt) {
            return Some(t);
        }
    }
    if let Some((date, hour)) = normalised.split_once(' ')
        && let (Ok(d), Ok(h)) = (NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d"), hour.trim().parse::<u32>())
    {
        return NaiveTime::from_hms_opt(h, 0, 0).map(|t| d.and_time(t));
    }
    NaiveDate::parse_from_str(normalised, "%Y-%m-%d").ok().map(|d| d.and_time(NaiveTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_in_every_form_people_write_them() {
        let want = "2026-09-23T02:00:00+00:00";
        for s in [
            "2026-09-23T10:00:00+08:00",
            "2026-09-23T02:00:00Z",
            "2026-09-23 10:00",
            "2026-09-23 10:00:00",
            "2026/9/23 10:00",
            "2026年9月23日10时",
            "2026年9月23日10时00分",
            "２０２６-09-23 10:00",
        ] {
            assert_eq!(parse_instant(s).unwrap().to_rfc3339(), want, "{s}");
        }
        assert!(parse_instant("yesterday").is_err());
        assert!(parse_instant("2026-02-30 10:00").is_err());
    }
}
