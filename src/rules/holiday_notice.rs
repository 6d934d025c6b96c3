//! Reads the State Council's yearly holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知) as published, into one year of the working-day calendar.
//!
//! Each numbered item names a festival and says, in sentences, which days are off (`…放假`,
//! `…与周末连休`) and which weekend days are worked (`…上班`). Other sentences (鼓励各单位…
//! 安排职工在除夕休息) change no day and are left out. Dates are `M月D日`, a range `A至B` (`至`
//! followed by `D日` keeps A's month), with the weekday and lunar day in brackets, which are
//! ignored; an explicit `YYYY年` puts a day in that year.

use chrono::{Datelike, NaiveDate};
use std::collections::BTreeSet;

/// What a notice schedules for one year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeYear {
    pub year: i32,
    pub holidays: BTreeSet<NaiveDate>,
    pub workdays: BTreeSet<NaiveDate>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoticeError {
    #[error("the notice names no year: expected a title such as 国务院办公厅关于2027年部分节假日安排的通知, or give the year")]
    NoYear,
    #[error("the notice has no numbered items such as 一、元旦：1月1日放假")]
    NoItems,
    #[error("item {item:?}: {date:?} is not a date of {year}")]
    BadDate { item: String, date: String, year: i32 },
    #[error("item {item:?}: a range ends before it starts")]
    BackwardRange { item: String },
    #[error("{date} is scheduled both as a day off and as a working day")]
    Conflict { date: NaiveDate },
    #[error("item {item:?}: the working day {date} is not a Saturday or Sunday")]
    WorkdayNotWeekend { item: String, date: NaiveDate },
}

const NUMERALS: [&str; 12] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二"];

/// Reads a notice; `year` is taken from its title unless given.
pub fn parse(text: &str, year: Option<i32>) -> Result<NoticeYear, NoticeError> {
    let text = normalise(text);
    let year = match year {
        Some(y) => y,
        None => title_year(&text).ok_or(NoticeError::NoYear)?,
    };
    let items = items(&text);
    if items.is_empty() {
        return Err(NoticeError::NoItems);
    }
    let mut out = NoticeYear { year, holidays: BTreeSet::new(), workdays: BTreeSet::new() };
    for item in &items {
        // The heading (`元旦`, `国庆节、中秋节`) ends at the first colon.
        let body = item.split_once('：').map_or(item.as_str(), |(_, b)| b);
        for sentence in body.split(['。', '；']).map(str::trim).filter(|s| !s.is_empty()) {
            let off = sentence.contains("放假") || sentence.contains("连休") || sentence.contains("休息日");
            let worked = sentence.ends_with("上班");
            if sentence.starts_with("鼓励") || (!off && !worked) {
                continue;
            }
            let dates = dates_of(sentence, year, item)?;
            if worked && !off {
                for d in dates {
                    if !matches!(d.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun) {
                        return Err(NoticeError::WorkdayNotWeekend { item: item.clone(), date: d });
                    }
                    out.workdays.insert(d);
                }
            } else {
                out.holidays.extend(dates);
            }
        }
    }
    if let Some(&date) = out.holidays.intersection(&out.workdays).next() {
        return Err(NoticeError::Conflict { date });
    }
    Ok(out)
}

/// Full-width digits and brackets as the published text mixes them, spaces gone.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '(' => '（',
            ')' => '）',
            ':' => '：',
            ';' => '；',
            '～' | '~' | '—' | '-' => '至',
            _ => c,
        })
        .collect()
}

fn title_year(text: &str) -> Option<i32> {
    let at = text.find("年部分节假日安排")?;
    let digits: String = text[..at].chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
    digits.parse().ok().filter(|y| (1949..=2200).contains(y))
}

/// The numbered items `一、…` to `十二、…`, each up to the next.
fn items(text: &str) -> Vec<String> {
    let mut starts: Vec<usize> = Vec::new();
    let mut depth = 0i32;
    let mut before: Option<char> = None;
    for (i, c) in text.char_indices() {
        let rest = &text[i..];
        // An item starts the text or a sentence (after 。 or the greeting's ：), outside
        // brackets: 正月初七、周二 inside a bracket is no item.
        if depth == 0
            && before.is_none_or(|b| matches!(b, '。' | '：'))
            && let Some(n) = NUMERALS.iter().rev().find(|n| rest.starts_with(&format!("{n}、")))
            && rest[n.len() + '、'.len_utf8()..].contains('：')
        {
            starts.push(i);
        }
        match c {
            '（' | '〔' | '《' => depth += 1,
            '）' | '〕' | '》' => depth = (depth - 1).max(0),
            _ => {}
        }
        before = Some(c);
    }
    starts.dedup();
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(text.len());
        let item = &text[s..end];
        let item = item.split_once('、').map_or(item, |(_, rest)| rest);
        // A notice's closing paragraph (节假日期间，各地区、各部门要…) is not an item.
        if item.contains('：') && item.contains('日') {
            out.push(item.trim_end_matches(['。']).to_string() + "。");
        }
    }
    out
}

/// The days a sentence names: single days and inclusive ranges.
fn dates_of(sentence: &str, year: i32, item: &str) -> Result<Vec<NaiveDate>, NoticeError> {
    // Bracketed notes (周五, 农历除夕、周二, 星期日) are no dates.
    let mut plain = String::new();
    let mut depth = 0;
    for c in sentence.chars() {
        match c {
            '（' => depth += 1,
            '）' => depth = (depth - 1).max(0),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let bad = |date: &str| NoticeError::BadDate { item: item.to_string(), date: date.to_string(), year };
    let mut out = Vec::new();
    let mut rest = plain.as_str();
    let mut last: Option<NaiveDate> = None;
    let mut pending_range_from: Option<NaiveDate> = None;
    while let Some(day_at) = rest.find('日') {
        let head = &rest[..day_at];
        // The number right before 日, and if present the month before 月 and the year before 年.
        let digits_back =
            |s: &str| -> String { s.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect() };
        let day_text = digits_back(head);
        if day_text.is_empty() {
            rest = &rest[day_at + '日'.len_utf8()..];
            continue;
        }
        let before_day = &head[..head.len() - day_text.len()];
        let (month_text, before_month) = match before_day.strip_suffix('月') {
            Some(b) => {
                let m = digits_back(b);
                let bm = &b[..b.len() - m.len()];
                (m, bm)
            }
            None => (String::new(), before_day),
        };
        let year_text = before_month.strip_suffix('年').map(digits_back).unwrap_or_default();
        let joined_by_range = before_month.strip_suffix('年').map_or(before_month, |b| &b[..b.len() - year_text.len()]).ends_with('至');
        let y = if year_text.is_empty() { last.map_or(year, |l| l.year()) } else { year_text.parse().map_err(|_| bad(head))? };
        let m: u32 = if month_text.is_empty() {
            last.map(|l| l.month()).ok_or_else(|| bad(head))?
        } else {
            month_text.parse().map_err(|_| bad(head))?
        };
        let d: u32 = day_text.parse().map_err(|_| bad(head))?;
        let date = NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| bad(&format!("{m}月{d}日")))?;
        match pending_range_from.take() {
            Some(from) if joined_by_range => {
                if date < from {
                    return Err(NoticeError::BackwardRange { item: item.to_string() });
                }
                out.extend(from.iter_days().skip(1).take_while(|x| *x <= date));
            }
            _ => out.push(date),
        }
        last = Some(date);
        rest = &rest[day_at + '日'.len_utf8()..];
        if rest.starts_with('至') {
            pending_range_from = Some(date);
        }
    }
    Ok(out)
}

/// One year's table as `calendars/china.toml` writes it: consecutive days as `MM-DD..MM-DD`.
pub fn toml_table(n: &NoticeYear) -> String {
    format!(
        "[years.{}]\nholidays = [{}]\nworkdays = [{}]\n",
        n.year,
        entries(&n.holidays, n.year).join(", "),
        entries(&n.workdays, n.year).join(", ")
    )
}

fn entries(days: &BTreeSet<NaiveDate>, year: i32) -> Vec<String> {
    let mut out = Vec::new();
    let mut run: Option<(NaiveDate, NaiveDate)> = None;
    for &d in days.iter().filter(|d| d.year() == year) {
        run = match run {
            Some((a, b)) if b.succ_opt() == Some(d) => Some((a, d)),
            Some((a, b)) => {
                out.push(entry(a, b));
                Some((d, d))
            }
            None => Some((d, d)),
        };
    }
    if let Some((a, b)) = run {
        out.push(entry(a, b));
    }
    out
}

fn entry(a: NaiveDate, b: NaiveDate) -> String {
    if a == b { format!("\"{}\"", a.format("%m-%d")) } else { format!("\"{}..{}\"", a.format("%m-%d"), b.format("%m-%d")) }
}

/// `calendar` (the text of a calendar file) with `table` in place of its year's table, or
/// added at the end; comments and other years are kept as they are.
pub fn replace_year(calendar: &str, year: i32, table: &str) -> String {
    let header = format!("[years.{year}]");
    let lines: Vec<&str> = calendar.lines().collect();
    match lines.iter().position(|l| l.trim() == header) {
        Some(start) => {
            let end = lines[start + 1..].iter().position(|l| l.trim_start().starts_with('[')).map_or(lines.len(), |p| start + 1 + p);
            // Blank lines before the next table stay with it.
            let mut end_of_table = end;
            while end_of_table > start + 1 && lines[end_of_table - 1].trim().is_empty() {
                end_of_table -= 1;
            }
            let mut out: Vec<String> = lines[..start].iter().map(|s| s.to_string()).collect();
            out.extend(table.trim_end().lines().map(str::to_string));
            out.extend(lines[end_of_table..].iter().map(|s| s.to_string()));
            out.join("\n") + "\n"
        }
        None => format!("{}\n\n{}", calendar.trim_end(), table),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(year: i32) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/calendar/notice-{year}.txt", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn builtin_table(year: i32) -> String {
        let text = crate::rules::calendar::BUILTIN;
        let header = format!("[years.{year}]");
        let start = text.find(&header).unwrap();
        let rest = &text[start..];
        let end = rest[1..].find("\n[").map_or(rest.len(), |p| p + 1);
        rest[..end].trim_end().to_string() + "\n"
    }

    /// The notices of 2024, 2025 and 2026 as the State Council published them give, line for
    /// line, the tables of `calendars/china.toml`.
    #[test]
    fn the_published_notices_of_2024_to_2026_reproduce_the_calendar_file() {
        for year in 2024..=2026 {
            let read = parse(&notice(year), None).unwrap_or_else(|e| panic!("{year}: {e}"));
            assert_eq!(read.year, year);
            assert_eq!(toml_table(&read), builtin_table(year), "{year}");
        }
    }

    #[test]
    fn an_encouraged_rest_day_is_no_holiday() {
        let read = parse(&notice(2024), None).unwrap();
        assert!(!read.holidays.contains(&NaiveDate::from_ymd_opt(2024, 2, 9).unwrap()), "除夕 2024 was only encouraged");
    }

    #[test]
    fn a_notice_without_items_or_year_is_refused_with_what_was_expected() {
        assert_eq!(parse("国务院办公厅关于2027年部分节假日安排的通知", None), Err(NoticeError::NoItems));
        assert_eq!(parse("一、元旦：1月1日放假。", None), Err(NoticeError::NoYear));
        assert!(matches!(parse("一、元旦：1月1日放假。1月5日（周二）上班。", Some(2027)), Err(NoticeError::WorkdayNotWeekend { .. })));
        assert!(matches!(parse("一、元旦：2月30日放假。", Some(2027)), Err(NoticeError::BadDate { .. })));
    }

    #[test]
    fn replacing_a_year_keeps_the_rest_of_the_file() {
        let table = "[years.2026]\nholidays = [\"01-01\"]\nworkdays = []\n";
        let out = replace_year(crate::rules::calendar::BUILTIN, 2026, table);
        assert!(out.starts_with("# Working-day calendar"));
        assert!(out.contains("[years.2025]") && out.contains(table.trim_end()));
        assert!(!out.contains("02-15..02-23"));
        let added = replace_year(crate::rules::calendar::BUILTIN, 2027, &table.replace("2026", "2027"));
        assert!(added.contains("02-15..02-23") && added.ends_with("workdays = []\n"));
    }
}
