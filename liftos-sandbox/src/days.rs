//! The world's own calendar: US federal holidays and the two big commercial events.
//!
//! The sandbox keeps this small rule set to itself (it must not depend on the calendar
//! crate's evolving feature set): holidays fall on their actual dates, not on observed
//! weekdays.

use chrono::{Datelike, NaiveDate, Weekday};

/// What kind of special day a date is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpecialDay {
    /// An ordinary day.
    None,
    /// A US federal holiday (actual date).
    Holiday,
    /// Black Friday or Cyber Monday.
    Event,
}

fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    nth_weekday(year, month, weekday, 5).or_else(|| nth_weekday(year, month, weekday, 4))
}

fn thanksgiving(year: i32) -> Option<NaiveDate> {
    nth_weekday(year, 11, Weekday::Thu, 4)
}

/// US federal holidays of `year` on their actual dates.
pub(crate) fn us_federal_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    let mut days = vec![
        fixed(1, 1),
        nth_weekday(year, 1, Weekday::Mon, 3).filter(|_| year >= 1986),
        nth_weekday(year, 2, Weekday::Mon, 3),
        last_weekday(year, 5, Weekday::Mon),
        fixed(6, 19).filter(|_| year >= 2021),
        fixed(7, 4),
        nth_weekday(year, 9, Weekday::Mon, 1),
        nth_weekday(year, 10, Weekday::Mon, 2),
        fixed(11, 11),
        thanksgiving(year),
        fixed(12, 25),
    ];
    days.retain(Option::is_some);
    days.into_iter().flatten().collect()
}

/// Black Friday and Cyber Monday of `year`.
pub(crate) fn commercial_events(year: i32) -> Vec<NaiveDate> {
    thanksgiving(year)
        .map(|t| vec![t + chrono::Days::new(1), t + chrono::Days::new(4)])
        .unwrap_or_default()
}

/// Classifies every day of `start..start+days`.
pub(crate) fn classify(start: NaiveDate, days: u32) -> Vec<SpecialDay> {
    let first = start.year();
    let last = (start + chrono::Days::new(u64::from(days))).year();
    let mut holidays = std::collections::HashSet::new();
    let mut events = std::collections::HashSet::new();
    for y in first..=last {
        holidays.extend(us_federal_holidays(y));
        events.extend(commercial_events(y));
    }
    (0..days)
        .map(|t| {
            let d = start + chrono::Days::new(u64::from(t));
            if holidays.contains(&d) {
                SpecialDay::Holiday
            } else if events.contains(&d) {
                SpecialDay::Event
            } else {
                SpecialDay::None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn federal_holidays_match_the_opm_calendar() {
        // 2024 and 2025 federal holidays from the OPM schedule (actual dates).
        assert_eq!(
            us_federal_holidays(2024),
            [
                "2024-01-01",
                "2024-01-15",
                "2024-02-19",
                "2024-05-27",
                "2024-06-19",
                "2024-07-04",
                "2024-09-02",
                "2024-10-14",
                "2024-11-11",
                "2024-11-28",
                "2024-12-25"
            ]
            .map(d)
        );
        let y2020 = us_federal_holidays(2020);
        assert_eq!(y2020.len(), 10, "Juneteenth starts in 2021");
        assert!(y2020.contains(&d("2020-05-25")), "last Monday of May 2020");
    }

    #[test]
    fn black_friday_and_cyber_monday_follow_thanksgiving() {
        assert_eq!(commercial_events(2024), [d("2024-11-29"), d("2024-12-02")]);
        assert_eq!(commercial_events(2025), [d("2025-11-28"), d("2025-12-01")]);
    }
}
