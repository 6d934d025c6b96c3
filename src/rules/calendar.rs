//! The Chinese working-day calendar (holidays and make-up working days) and deadline arithmetic in Asia/Shanghai.

use super::holidays;
use crate::model::{Deadline, DeadlineRule, YearMonth};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock};

/// The calendar shipped in the binary (`calendars/china.toml`), used when the configuration names none.
pub const BUILTIN: &str = include_str!("../../calendars/china.toml");

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar file is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("calendar year {year}: {entry:?} is not MM-DD or MM-DD..MM-DD within that year")]
    BadEntry { year: i32, entry: String },
    #[error("calendar year {year}: {date} is listed both as a holiday and as a make-up working day")]
    Conflict { year: i32, date: NaiveDate },
    #[error("calendar year {year}: make-up working day {date} is not a Saturday or Sunday")]
    WorkdayNotWeekend { year: i32, date: NaiveDate },
}

#[derive(Debug, Default, Clone)]
struct YearSchedule {
    holidays: HashSet<NaiveDate>,
    workdays: HashSet<NaiveDate>,
}

/// Working-day facts: the State Council's schedule for the years it has one; for other years,
/// Monday–Friday less the statutory holidays the law fixes (`holidays::statutory`), marked
/// provisional, since the make-up working days and the weekdays joined to a festival are not
/// known until the year's notice is out.
#[derive(Debug, Default, Clone)]
pub struct Calendar {
    /// Shared, so the latest reading of a calendar costs no copy.
    years: Arc<BTreeMap<i32, YearSchedule>>,
    reading: Reading,
}

/// How a year without a schedule is read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The statutory days off, every other weekday worked: what people are shown (暂定).
    #[default]
    Likely,
    /// Each festival's widest span off and no make-up working day: no schedule can make a
    /// deadline later, so a duty is overdue under any schedule once this deadline has passed.
    Latest,
}

/// The statutory days and the widest spans of every year the lunar tables cover, computed once.
static STATUTORY: LazyLock<HashMap<i32, HashSet<NaiveDate>>> =
    LazyLock::new(|| (1901..=2099).filter_map(|y| Some((y, holidays::statutory(y)?.into_iter().map(|(d, _)| d).collect()))).collect());
static WIDEST: LazyLock<HashMap<i32, HashSet<NaiveDate>>> =
    LazyLock::new(|| (1901..=2099).filter_map(|y| Some((y, holidays::widest_spans(y)?.into_iter().collect()))).collect());

/// A yes/no answer about a day, and whether it rests on real holiday data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayAnswer<T> {
    pub value: T,
    /// True when some year involved has no State Council schedule, so the statutory days
    /// alone were taken as its holidays.
    pub provisional: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    years: BTreeMap<String, YearFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    workdays: Vec<String>,
}

impl Calendar {
    pub fn builtin() -> Calendar {
        Calendar::from_toml(BUILTIN).expect("the built-in calendar is checked by tests")
    }

    pub fn from_toml(text: &str) -> Result<Calendar, CalendarError> {
        let file: CalendarFile = toml::from_str(text)?;
        let mut years = BTreeMap::new();
        for (year_text, entries) in file.years {
            let year: i32 = year_text.parse().map_err(|_| CalendarError::BadEntry { year: 0, entry: year_text.clone() })?;
            let holidays = expand(year, &entries.holidays)?;
            let workdays = expand(year, &entries.workdays)?;
            if let Some(&date) = holidays.intersection(&workdays).next() {
                return Err(CalendarError::Conflict { year, date });
            }
            if let Some(&date) = workdays.iter().find(|d| !is_weekend(**d)) {
                return Err(CalendarError::WorkdayNotWeekend { year, date });
            }
            years.insert(year, YearSchedule { holidays, workdays });
        }
        Ok(Calendar { years: Arc::new(years), reading: Reading::Likely })
    }

    /// This calendar with the years of `other` added, `other`'s schedule winning for a year
    /// both have.
    pub fn overlaid_by(&self, other: &Calendar) -> Calendar {
        let mut years = (*self.years).clone();
        years.extend(other.years.iter().map(|(y, s)| (*y, s.clone())));
        Calendar { years: Arc::new(years), reading: self.reading }
    }

    /// The years with holiday data.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }

    pub fn has_year(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    pub fn is_workday(&self, date: NaiveDate) -> DayAnswer<bool> {
        match self.years.get(&date.year()) {
            Some(y) => {
                DayAnswer { value: y.workdays.contains(&date) || (!is_weekend(date) && !y.holidays.contains(&date)), provisional: false }
            }
            None => {
                let off = match self.reading {
                    Reading::Likely => &*STATUTORY,
                    Reading::Latest => &*WIDEST,
                };
                let holiday = off.get(&date.year()).is_some_and(|days| days.contains(&date));
                DayAnswer { value: !is_weekend(date) && !holiday, provisional: true }
            }
        }
    }

    /// This calendar read at its latest: for years without a schedule, every day of each
    /// festival's widest span is off and no weekend is worked. A provisional deadline that has
    /// passed under this reading has passed under any schedule the State Council can publish.
    pub fn latest(&self) -> Calendar {
        Calendar { years: Arc::clone(&self.years), reading: Reading::Latest }
    }

    /// When a deadline has passed whatever the missing schedules will say: its due time when it
    /// rests on published schedules only, else its due time under the latest reading.
    pub fn due_under_any_schedule(&self, d: &Deadline) -> DateTime<Utc> {
        if !d.provisional {
            return d.due_at;
        }
        self.latest().deadline(d.rule, d.trigger_at).due_at.max(d.due_at)
    }

    /// A year whose schedule the hub should have by `today` and has not: this year, or from
    /// November the next (the State Council usually publishes it in November).
    pub fn schedule_missing(&self, today: NaiveDate) -> Option<i32> {
        if !self.has_year(today.year()) {
            return Some(today.year());
        }
        (today.month() >= 11 && !self.has_year(today.year() + 1)).then_some(today.year() + 1)
    }

    /// The N-th working day strictly after `date` (N ≥ 1).
    pub fn add_workdays(&self, date: NaiveDate, n: u32) -> DayAnswer<NaiveDate> {
        self.walk_workdays(date, n, NaiveDate::succ_opt)
    }

    /// The N-th working day strictly before `date` (N ≥ 1); `date` itself when N is 0.
    pub fn sub_workdays(&self, date: NaiveDate, n: u32) -> DayAnswer<NaiveDate> {
        self.walk_workdays(date, n, NaiveDate::pred_opt)
    }

    /// Steps day by day from `date` until `n` working days have been passed.
    fn walk_workdays(&self, date: NaiveDate, n: u32, step: fn(&NaiveDate) -> Option<NaiveDate>) -> DayAnswer<NaiveDate> {
        let mut day = date;
        let mut provisional = false;
        let mut left = n;
        while left > 0 {
            day = step(&day).expect("date within chrono's range");
            let w = self.is_workday(day);
            provisional |= w.provisional;
            if w.value {
                left -= 1;
            }
        }
        DayAnswer { value: day, provisional }
    }

    /// The N-th working day of a month (N ≥ 1); it may run into the next month if N is large.
    pub fn nth_workday(&self, month: YearMonth, n: u32) -> DayAnswer<NaiveDate> {
        let before_first = month.first_day().pred_opt().expect("date within chrono's range");
        self.add_workdays(before_first, n)
    }

    /// Applies a deadline rule to a trigger instant.
    pub fn deadline(&self, rule: DeadlineRule, trigger_at: DateTime<Utc>) -> Deadline {
        let local_day = trigger_at.with_timezone(&Shanghai).date_naive();
        let (due_at, provisional) = match rule {
            DeadlineRule::Hours(h) => (trigger_at + Duration::hours(i64::from(h)), false),
            DeadlineRule::WorkdaysAfter(n) => {
                let d = self.add_workdays(local_day, n);
                (end_of_day(d.value), d.provisional)
            }
            DeadlineRule::NthWorkdayOfNextMonth(n) => {
                let d = self.nth_workday(YearMonth::of(local_day).next(), n);
                (end_of_day(d.value), d.provisional)
            }
        };
        Deadline { rule, trigger_at, due_at, provisional }
    }
}

/// 24:00 of a Shanghai calendar day, as a UTC instant (= 00:00 of the next day).
pub fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    start_of_day(date.succ_opt().expect("date within chrono's range"))
}

/// 00:00 of a Shanghai calendar day, as a UTC instant.
pub fn start_of_day(date: NaiveDate) -> DateTime<Utc> {
    Shanghai
        .from_local_datetime(&date.and_time(NaiveTime::MIN))
        .single()
        .expect("Asia/Shanghai has had no DST since 1991")
        .with_timezone(&Utc)
}

/// Shows an instant as people in China read a deadline: `2026-10-08 24:00` for an end of day.
pub fn local_display(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&Shanghai);
    if local.time() == NaiveTime::MIN {
        format!("{} 24:00", local.date_naive().pred_opt().expect("in range").format("%Y-%m-%d"))
    } else {
        local.format("%Y-%m-%d %H:%M").to_string()
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn expand(year: i32, entries: &[String]) -> Result<HashSet<NaiveDate>, CalendarError> {
    let bad = |e: &str| CalendarError::BadEntry { year, entry: e.to_string() };
    let day = |s: &str, e: &str| {
        let (m, d) = s.trim().split_once('-').ok_or_else(|| bad(e))?;
        let (m, d) = (m.parse().map_err(|_| bad(e))?, d.parse().map_err(|_| bad(e))?);
        NaiveDate::from_ymd_opt(year, m, d).ok_or_else(|| bad(e))
    };
    let mut out = HashSet::new();
    for e in entries {
        let (first, last) = match e.split_once("..") {
            Some((a, b)) => (day(a, e)?, day(b, e)?),
            None => (day(e, e)?, day(e, e)?),
        };
        if last < first {
            return Err(bad(e));
        }
        out.extend(first.iter_days().take_while(|d| *d <= last));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn builtin_calendar_has_2024_to_2026() {
        let cal = Calendar::builtin();
        assert_eq!(cal.years().collect::<Vec<_>>(), vec![2024, 2025, 2026]);
    }

    #[test]
    fn holidays_and_make_up_days() {
        let cal = Calendar::builtin();
        assert!(!cal.is_workday(d("2026-10-01")).value, "National Day");
        assert!(cal.is_workday(d("2026-10-10")).value, "Saturday make-up day");
        assert!(!cal.is_workday(d("2026-10-11")).value, "plain Sunday");
        assert!(cal.is_workday(d("2025-09-28")).value, "2025 make-up Sunday");
        assert!(!cal.is_workday(d("2024-06-10")).value, "Dragon Boat 2024");
        assert!(cal.is_workday(d("2024-02-04")).value, "2024 make-up Sunday");
        assert!(!cal.is_workday(d("2026-02-23")).value, "Spring Festival 2026 Monday");
        assert!(cal.is_workday(d("2026-02-28")).value, "2026 make-up Saturday");
        assert!(!cal.is_workday(d("2026-10-13")).provisional);
    }

    #[test]
    fn spec_worked_examples_of_working_days() {
        let cal = Calendar::builtin();
        // Level-4 warning discovered Wed 2026-09-23: 5 working days after -> Thu 2026-10-08.
        assert_eq!(cal.add_workdays(d("2026-09-23"), 5).value, d("2026-10-08"));
        // 5th working day of October 2026 -> Tue 2026-10-13 (Sat 10-10 is a make-up day).
        assert_eq!(cal.nth_workday("2026-10".parse().unwrap(), 5).value, d("2026-10-13"));
        // 5th working day of November 2026 -> Fri 2026-11-06.
        assert_eq!(cal.nth_workday("2026-11".parse().unwrap(), 5).value, d("2026-11-06"));
        // 10th working day of May 2026 -> Mon 2026-05-18.
        assert_eq!(cal.nth_workday("2026-05".parse().unwrap(), 10).value, d("2026-05-18"));
    }

    /// 《全国年节及纪念日放假办法》 Art. 2: in a year the State Council has not scheduled, the
    /// statutory days are still off; only they are, and the answer says it is provisional.
    #[test]
    fn a_year_without_a_schedule_keeps_its_statutory_days_off_and_says_so() {
        let cal = Calendar::builtin();
        let a = cal.add_workdays(d("2026-12-31"), 1);
        assert_eq!(a.value, d("2027-01-04"), "元旦 (Fri 2027-01-01) is off");
        assert!(a.provisional);
        for day in ["2027-01-01", "2027-02-05", "2027-02-08", "2027-04-05", "2027-05-01", "2027-06-09", "2027-09-15", "2027-10-01"] {
            let w = cal.is_workday(d(day));
            assert!(!w.value && w.provisional, "{day} is a statutory holiday");
        }
        assert!(cal.is_workday(d("2027-02-09")).value, "初四 is no statutory day");
        // December's summaries are due on the 5th working day of January: 01-04 to 01-08.
        assert_eq!(cal.nth_workday("2027-01".parse().unwrap(), 5).value, d("2027-01-08"));
        // Crossing from a year with data into one without is provisional too.
        assert!(cal.add_workdays(d("2026-12-30"), 3).provisional);
        assert!(!cal.add_workdays(d("2026-12-28"), 2).provisional);
    }

    /// The latest reading never gives a deadline before the published one: tried on every day
    /// of 2024–2026 as if those years had no schedule.
    #[test]
    fn the_latest_reading_is_never_earlier_than_the_published_schedule() {
        let published = Calendar::builtin();
        let unscheduled = Calendar::default().latest();
        let mut day = d("2024-01-01");
        while day < d("2026-12-20") {
            let at = start_of_day(day) + Duration::hours(10);
            for rule in [DeadlineRule::WorkdaysAfter(5), DeadlineRule::WorkdaysAfter(10), DeadlineRule::NthWorkdayOfNextMonth(5)] {
                let real = published.deadline(rule, at);
                let latest = unscheduled.deadline(rule, at);
                assert!(latest.due_at >= real.due_at, "{day} {rule:?}: latest {} before published {}", latest.due_at, real.due_at);
            }
            day = day.succ_opt().unwrap();
        }
        let provisional = published.deadline(DeadlineRule::NthWorkdayOfNextMonth(5), start_of_day(d("2027-01-15")));
        assert!(provisional.provisional);
        assert!(published.due_under_any_schedule(&provisional) >= provisional.due_at);
        assert_eq!(published.schedule_missing(d("2026-11-01")), Some(2027));
        assert_eq!(published.schedule_missing(d("2026-10-31")), None);
        assert_eq!(published.schedule_missing(d("2027-03-01")), Some(2027), "the current year too");
    }

    #[test]
    fn bad_calendar_files_are_refused_with_the_entry_named() {
        let e = Calendar::from_toml("[years.2027]\nholidays = [\"13-01\"]").unwrap_err();
        assert!(e.to_string().contains("13-01"), "{e}");
        let e = Calendar::from_toml("[years.2027]\nholidays = [\"01-02\"]\nworkdays = [\"01-02\"]").unwrap_err();
        assert!(matches!(e, CalendarError::Conflict { .. }), "{e}");
        let e = Calendar::from_toml("[years.2027]\nworkdays = [\"01-04\"]").unwrap_err();
        assert!(matches!(e, CalendarError::WorkdayNotWeekend { .. }), "{e}");
        assert!(Calendar::from_toml("[years.2027]\nholidays = [\"01-05..01-02\"]").is_err());
    }

    #[test]
    fn end_of_day_is_midnight_shanghai_and_displays_as_24_00() {
        let eod = end_of_day(d("2026-10-08"));
        assert_eq!(eod.to_rfc3339(), "2026-10-08T16:00:00+00:00");
        assert_eq!(local_display(eod), "2026-10-08 24:00");
    }
}
