//! Public holidays against the official calendars (observed days included), and the
//! commercial events. Expected dates are written out by hand from the official calendars
//! (OPM federal holidays, gov.uk bank holidays, Canada Labour Program, Australian
//! national holidays, German and French public holiday law).

use chrono::NaiveDate;
use liftos_calendar::{HolidaySet, easter_sunday};

use crate::d;

/// Every day of `set` in year `y`, with its name.
fn listed(set: HolidaySet, y: i32) -> Vec<(NaiveDate, String)> {
    set.between(d(y, 1, 1), d(y, 12, 31))
        .unwrap()
        .into_iter()
        .map(|h| (h.date, h.name))
        .collect()
}

fn year(code: &str, y: i32) -> Vec<(NaiveDate, String)> {
    listed(HolidaySet::public(code).unwrap(), y)
}

fn dates(code: &str, y: i32) -> Vec<NaiveDate> {
    year(code, y).into_iter().map(|(date, _)| date).collect()
}

/// `MM-DD` of year `y` as a date.
fn day(y: i32, month_day: &str) -> NaiveDate {
    NaiveDate::parse_from_str(&format!("{y}-{month_day}"), "%Y-%m-%d").unwrap()
}

/// The public holidays of `code` in year `y` are exactly `month_days` (`MM-DD`, in order).
fn assert_dates(code: &str, y: i32, month_days: &[&str]) {
    let expected: Vec<NaiveDate> = month_days.iter().map(|md| day(y, md)).collect();
    assert_eq!(dates(code, y), expected, "{code} {y}");
}

/// The public holidays of `code` in year `y` are exactly `named` (`MM-DD`, name; in order).
fn assert_named(code: &str, y: i32, named: &[(&str, &str)]) {
    let expected: Vec<(NaiveDate, String)> = named
        .iter()
        .map(|(md, name)| (day(y, md), (*name).to_owned()))
        .collect();
    assert_eq!(year(code, y), expected, "{code} {y}");
}

#[test]
fn us_2021_juneteenth_first_year_and_observed_days() {
    // 2021: Juneteenth (new) on Saturday -> Friday 18; July 4 Sunday -> Monday 5;
    // Christmas Saturday -> Friday 24; New Year's Day 2022 (Saturday) -> Friday 2021-12-31.
    assert_named(
        "US",
        2021,
        &[
            ("01-01", "New Year's Day"),
            ("01-18", "Martin Luther King Jr. Day"),
            ("02-15", "Washington's Birthday"),
            ("05-31", "Memorial Day"),
            ("06-18", "Juneteenth National Independence Day (observed)"),
            ("06-19", "Juneteenth National Independence Day"),
            ("07-04", "Independence Day"),
            ("07-05", "Independence Day (observed)"),
            ("09-06", "Labor Day"),
            ("10-11", "Columbus Day"),
            ("11-11", "Veterans Day"),
            ("11-25", "Thanksgiving Day"),
            ("12-24", "Christmas Day (observed)"),
            ("12-25", "Christmas Day"),
            ("12-31", "New Year's Day (observed)"),
        ],
    );
}

#[test]
fn us_juneteenth_absent_before_2021() {
    assert!(!dates("US", 2020).contains(&d(2020, 6, 19)));
    assert!(dates("US", 2022).contains(&d(2022, 6, 20))); // Sunday -> Monday
}

#[test]
fn us_2023_and_1990() {
    assert_dates(
        "US",
        2023,
        &[
            "01-01", "01-02", "01-16", "02-20", "05-29", "06-19", "07-04", "09-04", "10-09",
            "11-10", "11-11", "11-23", "12-25",
        ],
    );
    assert_dates(
        "US",
        1990,
        &[
            "01-01", "01-15", "02-19", "05-28", "07-04", "09-03", "10-08", "11-11", "11-12",
            "11-22", "12-25",
        ],
    );
}

#[test]
fn gb_2022_jubilee_funeral_and_substitute_days() {
    // National (all four nations): no Easter Monday, no August bank holiday.
    assert_named(
        "GB",
        2022,
        &[
            ("01-01", "New Year's Day"),
            ("01-03", "New Year's Day (observed)"),
            ("04-15", "Good Friday"),
            ("05-02", "May Day"),
            ("06-02", "Spring Bank Holiday"),
            ("06-03", "Platinum Jubilee of Elizabeth II"),
            ("09-19", "State Funeral of Queen Elizabeth II"),
            ("12-25", "Christmas Day"),
            ("12-26", "Boxing Day"),
            ("12-27", "Christmas Day (observed)"),
        ],
    );
}

#[test]
fn gb_eng_2023_coronation_and_2020_ve_day() {
    // gov.uk England and Wales 2023.
    assert_dates(
        "GB-ENG",
        2023,
        &[
            "01-01", "01-02", "04-07", "04-10", "05-01", "05-08", "05-29", "08-28", "12-25",
            "12-26",
        ],
    );
    let y2020 = dates("GB", 2020);
    assert!(y2020.contains(&d(2020, 5, 8)));
    assert!(!y2020.contains(&d(2020, 5, 4)));
    // 2010: Christmas Saturday -> Monday 27, Boxing Day Sunday -> Tuesday 28.
    let y2010 = dates("GB", 2010);
    assert!(y2010.contains(&d(2010, 12, 27)) && y2010.contains(&d(2010, 12, 28)));
}

#[test]
fn gb_sct_new_year_pair() {
    // Scotland 2023: 1 Jan Sunday, 2 Jan holiday -> substitute Tuesday 3 Jan.
    let s = dates("GB-SCT", 2023);
    assert_eq!(&s[..3], &[d(2023, 1, 1), d(2023, 1, 2), d(2023, 1, 3)]);
    assert!(s.contains(&d(2023, 8, 7)) && s.contains(&d(2023, 11, 30)));
    assert!(!s.contains(&d(2023, 4, 10))); // no Easter Monday in Scotland
}

#[test]
fn ca_2022() {
    assert_dates(
        "CA",
        2022,
        &[
            "01-01", "01-03", "04-15", "07-01", "09-05", "12-25", "12-26",
        ],
    );
}

#[test]
fn au_2022_and_easter_extreme_2038() {
    assert_dates(
        "AU",
        2022,
        &[
            "01-01", "01-26", "04-15", "04-18", "04-25", "09-22", "12-25", "12-26",
        ],
    );
    // 2038: latest possible Easter (April 25) falls on ANZAC Day.
    let au = year("AU", 2038);
    assert!(au.contains(&(d(2038, 4, 23), "Good Friday".into())));
    assert!(au.contains(&(d(2038, 4, 25), "ANZAC Day".into())));
    assert!(au.contains(&(d(2038, 4, 26), "Easter Monday".into())));
}

#[test]
fn easter_extremes() {
    assert_eq!(easter_sunday(2008), Some(d(2008, 3, 23)));
    assert_eq!(easter_sunday(2038), Some(d(2038, 4, 25)));
    assert_eq!(easter_sunday(2285), Some(d(2285, 3, 22)));
    // 2008: Good Friday March 21 in the GB set, Whit Monday May 12 in FR.
    assert!(dates("GB", 2008).contains(&d(2008, 3, 21)));
    assert!(dates("FR", 2008).contains(&d(2008, 5, 12)));
}

#[test]
fn de_2017_reformation_and_repentance_until_1994() {
    assert_dates(
        "DE",
        2017,
        &[
            "01-01", "04-14", "04-17", "05-01", "05-25", "06-05", "10-03", "10-31", "12-25",
            "12-26",
        ],
    );
    assert!(!dates("DE", 2018).contains(&d(2018, 10, 31)));
    assert!(dates("DE", 1994).contains(&d(1994, 11, 16)));
    assert!(!dates("DE", 1995).contains(&d(1995, 11, 22)));
    // Bavaria adds Epiphany, Corpus Christi and All Saints' Day.
    let by = dates("DE-BY", 2024);
    assert!(
        by.contains(&d(2024, 1, 6)) && by.contains(&d(2024, 5, 30)) && by.contains(&d(2024, 11, 1))
    );
}

#[test]
fn fr_2024_and_solidarity_years() {
    assert_dates(
        "FR",
        2024,
        &[
            "01-01", "04-01", "05-01", "05-08", "05-09", "05-20", "07-14", "08-15", "11-01",
            "11-11", "12-25",
        ],
    );
    assert!(!dates("FR", 2006).contains(&d(2006, 6, 5)));
}

#[test]
fn unknown_country_is_an_error_listing_supported_codes() {
    let e = HolidaySet::public("XX").unwrap_err().to_string();
    assert!(e.contains("XX") && e.contains("GB-ENG"), "{e}");
}

fn events(code: &str, y: i32) -> Vec<(NaiveDate, String)> {
    listed(HolidaySet::commercial(Some(code)).unwrap(), y)
}

#[test]
fn commercial_events_per_country() {
    let us = events("US", 2024);
    for (date, name) in [
        (d(2024, 2, 14), "Valentine's Day"),
        (d(2024, 5, 12), "Mother's Day"),
        (d(2024, 6, 16), "Father's Day"),
        (d(2024, 10, 31), "Halloween"),
        (d(2024, 11, 29), "Black Friday"),
        (d(2024, 12, 2), "Cyber Monday"),
        (d(2024, 12, 24), "Christmas Eve"),
        (d(2024, 12, 31), "New Year's Eve"),
    ] {
        assert!(us.contains(&(date, name.to_string())), "US {name} {date}");
    }
    assert!(events("GB", 2024).contains(&(d(2024, 3, 10), "Mothering Sunday".into())));
    assert!(events("AU", 2024).contains(&(d(2024, 9, 1), "Father's Day".into())));
    assert!(events("DE", 2024).contains(&(d(2024, 5, 9), "Father's Day".into())));
    // France: last Sunday of May, unless it is Pentecost (2023) -> first Sunday of June.
    assert!(events("FR", 2024).contains(&(d(2024, 5, 26), "Mother's Day".into())));
    assert!(events("FR", 2023).contains(&(d(2023, 6, 4), "Mother's Day".into())));
}
