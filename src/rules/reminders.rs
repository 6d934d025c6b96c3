//! When to remind a party of an obligation before it falls due (pure: the deadline, the leads and the calendar).

use super::calendar::{Calendar, start_of_day};
use crate::model::{Deadline, DeadlineRule};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Asia::Shanghai;
use serde::{Deserialize, Serialize};

/// How long before a deadline a reminder goes out (`[rules.reminders]` in tongbao.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Leads {
    /// Minutes before an hours-deadline (2 h, 4 h, 6 h).
    pub hours_deadline_minutes: u32,
    /// Working days before a working-days deadline; the reminder goes out at `reminder_hour`
    /// on that working day.
    pub workdays_deadline_workdays: u32,
    /// Hour of the day (Beijing time) at which working-day reminders go out.
    pub reminder_hour: u32,
}

impl Default for Leads {
    fn default() -> Self {
        Leads { hours_deadline_minutes: 30, workdays_deadline_workdays: 1, reminder_hour: 9 }
    }
}

/// The instant to remind the actor, or `None` when the lead would fall at or before the
/// trigger (nobody is reminded of a duty before it exists). Reminder-only duties (not binding)
/// are "reminded" at their due time, which is all they are.
pub fn remind_at(deadline: &Deadline, binding: bool, leads: &Leads, cal: &Calendar) -> Option<DateTime<Utc>> {
    if !binding {
        return Some(deadline.due_at);
    }
    let at = match deadline.rule {
        DeadlineRule::Hours(_) => deadline.due_at - Duration::minutes(i64::from(leads.hours_deadline_minutes)),
        DeadlineRule::WorkdaysAfter(_) | DeadlineRule::NthWorkdayOfNextMonth(_) => {
            // A working-days deadline ends at 24:00 of its last day; step back over working days.
            let last_day = (deadline.due_at - Duration::seconds(1)).with_timezone(&Shanghai).date_naive();
            let day = cal.sub_workdays(last_day, leads.workdays_deadline_workdays).value;
            start_of_day(day) + Duration::hours(i64::from(leads.reminder_hour.min(23)))
        }
    };
    (at > deadline.trigger_at && at < deadline.due_at).then_some(at)
}

/// When the deadline scan first looks at an open obligation: its reminder, or its due time
/// when it gets no reminder.
pub fn first_alert_at(deadline: &Deadline, binding: bool, leads: &Leads, cal: &Calendar) -> DateTime<Utc> {
    remind_at(deadline, binding, leads, cal).unwrap_or(deadline.due_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::calendar::local_display;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn hours_deadline_is_reminded_thirty_minutes_before() {
        let cal = Calendar::builtin();
        let d = cal.deadline(DeadlineRule::Hours(2), t("2026-10-01T23:30:00+08:00"));
        let at = remind_at(&d, true, &Leads::default(), &cal).unwrap();
        assert_eq!(local_display(at), "2026-10-02 01:00");
    }

    #[test]
    fn workdays_deadline_is_reminded_the_working_day_before_across_holidays() {
        let cal = Calendar::builtin();
        // Level-4 warning of SPEC §8: due at the end of Thu 2026-10-08; the working day before is
        // Wed 2026-09-30 (10-01..10-07 are holidays).
        let d = cal.deadline(DeadlineRule::WorkdaysAfter(5), t("2026-09-23T10:00:00+08:00"));
        assert_eq!(local_display(d.due_at), "2026-10-08 24:00");
        let at = remind_at(&d, true, &Leads::default(), &cal).unwrap();
        assert_eq!(local_display(at), "2026-09-30 09:00");
        // September's monthly summary is due at the end of Tue 10-13; Sat 10-10 is a make-up working day.
        let d = cal.deadline(DeadlineRule::NthWorkdayOfNextMonth(5), t("2026-09-15T10:00:00+08:00"));
        let at = remind_at(&d, true, &Leads::default(), &cal).unwrap();
        assert_eq!(local_display(at), "2026-10-12 09:00");
    }

    #[test]
    fn no_reminder_before_the_duty_exists_and_reminder_only_duties_fire_at_due() {
        let cal = Calendar::builtin();
        let leads = Leads { hours_deadline_minutes: 180, ..Leads::default() };
        let d = cal.deadline(DeadlineRule::Hours(2), t("2026-10-01T10:00:00+08:00"));
        assert_eq!(remind_at(&d, true, &leads, &cal), None);
        assert_eq!(remind_at(&d, false, &leads, &cal), Some(d.due_at));
    }
}
