//! The 4-5-4 calendar against the NRF published retail calendar.

use liftos_calendar::fiscal::{fiscal_year_end, fiscal_year_start};
use liftos_calendar::retail_454;

use crate::d;

#[test]
fn fiscal_year_bounds_match_nrf() {
    // (fiscal year, first day, last day, weeks) from the NRF 4-5-4 calendar.
    for (fy, start, end, weeks) in [
        (2012, d(2012, 1, 29), d(2013, 2, 2), 53),
        (2017, d(2017, 1, 29), d(2018, 2, 3), 53),
        (2018, d(2018, 2, 4), d(2019, 2, 2), 52),
        (2022, d(2022, 1, 30), d(2023, 1, 28), 52),
        (2023, d(2023, 1, 29), d(2024, 2, 3), 53),
        (2024, d(2024, 2, 4), d(2025, 2, 1), 52),
        (2025, d(2025, 2, 2), d(2026, 1, 31), 52),
    ] {
        assert_eq!(fiscal_year_start(fy), Some(start), "start of {fy}");
        assert_eq!(fiscal_year_end(fy), Some(end), "end of {fy}");
        let first = retail_454(start).unwrap();
        assert_eq!(
            (first.year, first.quarter, first.month, first.week),
            (fy, 1, 1, 1)
        );
        let last = retail_454(end).unwrap();
        assert_eq!(
            (last.year, last.quarter, last.month, last.week),
            (fy, 4, 12, weeks)
        );
        assert_eq!(last.weeks_in_year, weeks);
    }
}

#[test]
fn fiscal_2023_month_boundaries_and_week_53() {
    // NRF 2023: Oct 1-28 (Oct, 4 wks), Oct 29-Nov 25 (Nov, 4), Nov 26-Dec 30 (Dec, 5),
    // Dec 31-Feb 3 (Jan, 5 weeks in the 53-week year).
    let cases = [
        (d(2023, 2, 25), 1, 1, 4),
        (d(2023, 2, 26), 1, 2, 5),
        (d(2023, 4, 1), 1, 2, 9),
        (d(2023, 4, 2), 1, 3, 10),
        (d(2023, 4, 30), 2, 4, 14),
        (d(2023, 10, 28), 3, 9, 39),
        (d(2023, 10, 29), 4, 10, 40),
        (d(2023, 11, 26), 4, 11, 44),
        (d(2023, 12, 30), 4, 11, 48),
        (d(2023, 12, 31), 4, 12, 49),
        (d(2024, 1, 28), 4, 12, 53),
        (d(2024, 2, 3), 4, 12, 53),
    ];
    for (date, q, m, w) in cases {
        let f = retail_454(date).unwrap();
        assert_eq!(
            (f.year, f.quarter, f.month, f.week),
            (2023, q, m, w),
            "{date}"
        );
    }
    let next = retail_454(d(2024, 2, 4)).unwrap();
    assert_eq!((next.year, next.month, next.week), (2024, 1, 1));
}

#[test]
fn every_fiscal_year_has_52_or_53_whole_weeks() {
    for fy in 1990..=2050 {
        let s = fiscal_year_start(fy).unwrap();
        let e = fiscal_year_end(fy).unwrap();
        let days = (e - s).num_days() + 1;
        assert!(days == 364 || days == 371, "{fy}: {days}");
        assert_eq!(s.format("%a").to_string(), "Sun");
    }
}
