//! The statutory holidays of 《全国年节及纪念日放假办法》, computed from the lunar calendar for years the State Council has not yet scheduled, and the widest span its schedules give them.
//!
//! The law fixes which days are holidays; the State Council's yearly notice only joins them to
//! weekends and moves working days (调休). So for a year without a notice, the statutory days
//! are known and only the make-up working days and the joined weekdays are not. Two readings
//! follow (see `Calendar`): the likely one (the statutory days off, every other weekday
//! worked), shown to people as 暂定, and the latest one (every day of each festival's widest
//! span off, no make-up day worked), after which a deadline has passed whatever the notice
//! will say, so only then may the hub call a duty missed.

use chrono::{Datelike, Duration, NaiveDate};
use tyme4rs::tyme::lunar::LunarDay;
use tyme4rs::tyme::solar::{SolarDay, SolarTerm};

/// A festival of the measures (Art. 2, 全体公民放假的节日).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Festival {
    NewYear,
    SpringFestival,
    Qingming,
    LabourDay,
    DragonBoat,
    MidAutumn,
    NationalDay,
}

impl Festival {
    pub fn label_zh(self) -> &'static str {
        match self {
            Festival::NewYear => "元旦",
            Festival::SpringFestival => "春节",
            Festival::Qingming => "清明节",
            Festival::LabourDay => "劳动节",
            Festival::DragonBoat => "端午节",
            Festival::MidAutumn => "中秋节",
            Festival::NationalDay => "国庆节",
        }
    }
}

/// The years the lunar tables cover.
const LUNAR_YEARS: std::ops::RangeInclusive<i32> = 1901..=2099;

fn gregorian(d: SolarDay) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::try_from(d.get_year()).ok()?, u32::try_from(d.get_month()).ok()?, u32::try_from(d.get_day()).ok()?)
}

/// The day of the lunar `month`/`day` (not a leap month) in the lunar year that begins in `year`.
fn lunar(year: i32, month: u8, day: u8) -> Option<NaiveDate> {
    gregorian(LunarDay::new(year as isize, month as isize, day as usize).ok()?.get_solar_day())
}

/// 正月初一 of the lunar year that begins in `year`.
fn lunar_new_year(year: i32) -> Option<NaiveDate> {
    lunar(year, 1, 1)
}

/// The day of the solar term 清明 in `year` (Beijing time).
fn qingming(year: i32) -> Option<NaiveDate> {
    gregorian(SolarTerm::new(year as isize, "清明").ok()?.get_solar_day()).filter(|d| d.year() == year && d.month() == 4)
}

fn days(first: NaiveDate, n: i64) -> impl Iterator<Item = NaiveDate> {
    (0..n).map(move |i| first + Duration::days(i))
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("a fixed date of the measures")
}

/// The statutory holidays of `year`, each with its festival, as the measures in force that
/// year fix them: from 2025, the 2024 revision (春节 from 除夕 to 初三, 劳动节 May 1–2); before
/// that, the 2013 text (春节 初一 to 初三, 劳动节 May 1). `None` outside the lunar tables.
pub fn statutory(year: i32) -> Option<Vec<(NaiveDate, Festival)>> {
    if !LUNAR_YEARS.contains(&year) {
        return None;
    }
    let revised_2024 = year >= 2025;
    let new_year = lunar_new_year(year)?;
    let mut out = vec![(ymd(year, 1, 1), Festival::NewYear)];
    let spring_first = if revised_2024 { new_year - Duration::days(1) } else { new_year };
    out.extend(days(spring_first, if revised_2024 { 4 } else { 3 }).map(|d| (d, Festival::SpringFestival)));
    out.push((qingming(year)?, Festival::Qingming));
    out.extend(days(ymd(year, 5, 1), if revised_2024 { 2 } else { 1 }).map(|d| (d, Festival::LabourDay)));
    out.push((lunar(year, 5, 5)?, Festival::DragonBoat));
    out.push((lunar(year, 8, 15)?, Festival::MidAutumn));
    out.extend(days(ymd(year, 10, 1), 3).map(|d| (d, Festival::NationalDay)));
    out.sort();
    Some(out)
}

/// Every day of `year` that a State Council schedule could make a day off: each festival's
/// widest span (the statutory days joined to the weekend around them, as the notices of
/// 2024–2026 do: up to two days either side of a one-day festival, 除夕 less two to 初八 for
/// 春节, April 29 to May 5, September 29 to October 8). A deadline counted with all of these
/// off and no make-up working day is the latest any schedule can make it.
pub fn widest_spans(year: i32) -> Option<Vec<NaiveDate>> {
    if !LUNAR_YEARS.contains(&year) {
        return None;
    }
    let around = |d: NaiveDate| days(d - Duration::days(2), 5);
    let eve = lunar_new_year(year)? - Duration::days(1);
    let mut out: Vec<NaiveDate> = days(ymd(year, 1, 1), 3).collect();
    out.extend(days(eve - Duration::days(2), 11));
    out.extend(around(qingming(year)?));
    out.extend(days(ymd(year, 4, 29), 7));
    out.extend(around(lunar(year, 5, 5)?));
    out.extend(around(lunar(year, 8, 15)?));
    out.extend(days(ymd(year, 9, 29), 10));
    out.retain(|d| d.year() == year);
    out.sort();
    out.dedup();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Calendar;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_statutory_days_of_2027_are_computed_from_the_lunar_calendar() {
        let days: Vec<(String, &str)> =
            statutory(2027).unwrap().into_iter().map(|(d, f)| (d.format("%m-%d").to_string(), f.label_zh())).collect();
        let want = [
            ("01-01", "元旦"),
            // 除夕 of 丁未 falls on 2027-02-05, 正月初一 on 02-06.
            ("02-05", "春节"),
            ("02-06", "春节"),
            ("02-07", "春节"),
            ("02-08", "春节"),
            ("04-05", "清明节"),
            ("05-01", "劳动节"),
            ("05-02", "劳动节"),
            ("06-09", "端午节"),
            ("09-15", "中秋节"),
            ("10-01", "国庆节"),
            ("10-02", "国庆节"),
            ("10-03", "国庆节"),
        ];
        let want: Vec<(String, &str)> = want.iter().map(|(a, b)| (a.to_string(), *b)).collect();
        assert_eq!(days, want);
    }

    /// 《全国年节及纪念日放假办法》 Art. 2: every statutory day of 2024–2026, computed, is a day
    /// off in the State Council's published schedule of that year (`calendars/china.toml`).
    #[test]
    fn every_computed_statutory_day_of_2024_to_2026_is_off_in_that_years_published_schedule() {
        let cal = Calendar::builtin();
        for year in 2024..=2026 {
            let days = statutory(year).unwrap();
            assert_eq!(days.len(), if year >= 2025 { 13 } else { 11 }, "{year}: {days:?}");
            for (day, festival) in days {
                let w = cal.is_workday(day);
                assert!(!w.provisional && !w.value, "{year}: {day} ({}) is a working day in the published schedule", festival.label_zh());
            }
        }
    }

    /// The widest spans hold every day off of the 2024–2026 schedules, so a deadline counted on
    /// them is never earlier than the published one.
    #[test]
    fn the_widest_spans_hold_every_published_day_off_of_2024_to_2026() {
        let cal = Calendar::builtin();
        for year in 2024..=2026 {
            let spans = widest_spans(year).unwrap();
            let mut day = d(&format!("{year}-01-01"));
            while day.year() == year {
                let weekend = matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
                if !weekend && !cal.is_workday(day).value {
                    assert!(spans.contains(&day), "{day} is off in {year}'s schedule but outside every span");
                }
                day = day.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn outside_the_lunar_tables_nothing_is_claimed() {
        assert!(statutory(2100).is_none() && widest_spans(1900).is_none());
    }
}
