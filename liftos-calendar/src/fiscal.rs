//! The retail 4-5-4 fiscal calendar (NRF retail calendar).
//!
//! A fiscal year ends on the Saturday nearest January 31 and starts on the Sunday after the
//! previous fiscal year's end, so it has 52 weeks, or 53 when that Saturday drifts far
//! enough (e.g. fiscal 2023: 2023-01-29 … 2024-02-03). The year is named after the calendar
//! year in which it starts (fiscal 2024 starts 2024-02-04). Quarters have 13 weeks split
//! into months of 4, 5 and 4 weeks (fiscal month 1 is "February"); a 53rd week is added to
//! the last month (January), which then has 5 weeks.

use chrono::{Datelike, NaiveDate};

use crate::rules::add_days;

/// Weeks per fiscal month in a 52-week year.
const PATTERN: [u32; 12] = [4, 5, 4, 4, 5, 4, 4, 5, 4, 4, 5, 4];

/// A day's place in the 4-5-4 retail calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiscalDate {
    /// Fiscal year (the calendar year in which it starts).
    pub year: i32,
    /// Fiscal quarter, 1–4.
    pub quarter: u32,
    /// Fiscal month, 1–12 (1 ≈ February).
    pub month: u32,
    /// Fiscal week of the year, 1–53.
    pub week: u32,
    /// Number of weeks in this fiscal year (52 or 53).
    pub weeks_in_year: u32,
}

/// The Saturday nearest January 31 of `year` (`None` only at the edges of chrono's range).
pub fn saturday_nearest_jan31(year: i32) -> Option<NaiveDate> {
    let jan31 = NaiveDate::from_ymd_opt(year, 1, 31)?;
    // Saturday is 5 days from Monday.
    let fwd = (5 + 7 - jan31.weekday().num_days_from_monday()) % 7;
    if fwd <= 3 {
        add_days(jan31, fwd as i32)
    } else {
        add_days(jan31, fwd as i32 - 7)
    }
}

/// First day (a Sunday) of fiscal year `fiscal_year`.
pub fn fiscal_year_start(fiscal_year: i32) -> Option<NaiveDate> {
    saturday_nearest_jan31(fiscal_year)?.succ_opt()
}

/// Last day (a Saturday) of fiscal year `fiscal_year`.
pub fn fiscal_year_end(fiscal_year: i32) -> Option<NaiveDate> {
    saturday_nearest_jan31(fiscal_year + 1)
}

/// The 4-5-4 fiscal position of `date` (`None` only at the edges of chrono's range).
pub fn retail_454(date: NaiveDate) -> Option<FiscalDate> {
    let mut year = date.year();
    if date < fiscal_year_start(year)? {
        year -= 1;
    }
    let start = fiscal_year_start(year)?;
    let end = fiscal_year_end(year)?;
    let weeks_in_year = (((end - start).num_days() + 1) / 7) as u32;
    let week = ((date - start).num_days() / 7) as u32 + 1;
    let mut month = 12;
    let mut cum = 0;
    for (i, w) in PATTERN.iter().enumerate() {
        cum += w;
        if week <= cum {
            month = i as u32 + 1;
            break;
        }
    }
    Some(FiscalDate {
        year,
        quarter: (month - 1) / 3 + 1,
        month,
        week,
        weeks_in_year,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::d;

    #[test]
    fn month_boundaries_2024() {
        // NRF 2024: Feb 4-Mar 2 (4 wks), Mar 3-Apr 6 (5 wks), Apr 7-May 4 (4 wks).
        let f = retail_454(d(2024, 3, 2)).unwrap();
        assert_eq!((f.month, f.week), (1, 4));
        let f = retail_454(d(2024, 3, 3)).unwrap();
        assert_eq!((f.month, f.week), (2, 5));
        let f = retail_454(d(2024, 4, 6)).unwrap();
        assert_eq!((f.month, f.week, f.quarter), (2, 9, 1));
        let f = retail_454(d(2024, 5, 5)).unwrap();
        assert_eq!((f.month, f.quarter, f.week), (4, 2, 14));
    }
}
