//! Public holidays against the official calendars (observed days included), and the
//! commercial events. Expected dates are written out by hand from the official calendars
//! (OPM federal holidays, gov.uk bank holidays, Canada Labour Program, Australian
//! national holidays, German and French public holiday law).

use chrono::NaiveDate;
use liftos_calendar::{HolidaySet, easter_sunday};

use crate::d;

fn year(code: &str, y: i32) -> Vec<(NaiveDate, String)> {
    HolidaySet::public(code)
        .unwrap()
        .between(d(y, 1, 1), d(y, 12, 31))
        .unwrap()
        .into_iter()
        .map(|h| (h.date, h.name))
        .collect()
}

fn dates(code: &str, y: i32) -> Vec<NaiveDate> {
    year(code, y).into_iter().map(|(date, _)| date).collect()
}

#[test]
fn us_2021_juneteenth_first_year_and_observed_days() {
    // 2021: Juneteenth (new) on Saturday -> Friday 18; July 4 Sunday -> Monday 5;
    // Christmas Saturday -> Friday 24; New Year's Day 2022 (Saturday) -> Friday 2021-12-31.
    assert_eq!(
        year("US", 2021),
        vec![
            (d(2021, 1, 1), "New Year's Day".to_string()),
            (d(2021, 1, 18), "Martin Luther King Jr. Day".into()),
            (d(2021, 2, 15), "Washington's Birthday".into()),
            (d(2021, 5, 31), "Memorial Day".into()),
            (
                d(2021, 6, 18),
                "Juneteenth National Independence Day (observed)".into()
            ),
            (
                d(2021, 6, 19),
                "Juneteenth National Independence Day".into()
            ),
            (d(2021, 7, 4), "Independence Day".into()),
            (d(2021, 7, 5), "Independence Day (observed)".into()),
            (d(2021, 9, 6), "Labor Day".into()),
            (d(2021, 10, 11), "Columbus Day".into()),
            (d(2021, 11, 11), "Veterans Day".into()),
            (d(2021, 11, 25), "Thanksgiving Day".into()),
            (d(2021, 12, 24), "Christmas Day (observed)".into()),
            (d(2021, 12, 25), "Christmas Day".into()),
            (d(2021, 12, 31), "New Year's Day (observed)".into()),
        ]
    );
}

#[test]
fn us_juneteenth_absent_before_2021() {
    assert!(!dates("US", 2020).contains(&d(2020, 6, 19)));
    assert!(dates("US", 2022).contains(&d(2022, 6, 20))); // Sunday -> Monday
}

#[test]
fn us_2023_and_1990() {
    assert_eq!(
        dates("US", 2023),
        vec![
            d(2023, 1, 1),
            d(2023, 1, 2),
            d(2023, 1, 16),
            d(2023, 2, 20),
            d(2023, 5, 29),
            d(2023, 6, 19),
            d(2023, 7, 4),
            d(2023, 9, 4),
            d(2023, 10, 9),
            d(2023, 11, 10),
            d(2023, 11, 11),
            d(2023, 11, 23),
            d(2023, 12, 25),
        ]
    );
    assert_eq!(
        dates("US", 1990),
        vec![
            d(1990, 1, 1),
            d(1990, 1, 15),
            d(1990, 2, 19),
            d(1990, 5, 28),
            d(1990, 7, 4),
            d(1990, 9, 3),
            d(1990, 10, 8),
            d(1990, 11, 11),
            d(1990, 11, 12),
            d(1990, 11, 22),
            d(1990, 12, 25),
        ]
    );
}

#[test]
fn gb_2022_jubilee_funeral_and_substitute_days() {
    // National (all four nations): no Easter Monday, no August bank holiday.
    assert_eq!(
        year("GB", 2022),
        vec![
            (d(2022, 1, 1), "New Year's Day".to_string()),
            (d(2022, 1, 3), "New Year's Day (observed)".into()),
            (d(2022, 4, 15), "Good Friday".into()),
            (d(2022, 5, 2), "May Day".into()),
            (d(2022, 6, 2), "Spring Bank Holiday".into()),
            (d(2022, 6, 3), "Platinum Jubilee of Elizabeth II".into()),
            (d(2022, 9, 19), "State Funeral of Queen Elizabeth II".into()),
            (d(2022, 12, 25), "Christmas Day".into()),
            (d(2022, 12, 26), "Boxing Day".into()),
            (d(2022, 12, 27), "Christmas Day (observed)".into()),
        ]
    );
}

#[test]
fn gb_eng_2023_coronation_and_2020_ve_day() {
    // gov.uk England and Wales 2023.
    assert_eq!(
        dates("GB-ENG", 2023),
        vec![
            d(2023, 1, 1),
            d(2023, 1, 2),
            d(2023, 4, 7),
            d(2023, 4, 10),
            d(2023, 5, 1),
            d(2023, 5, 8),
            d(2023, 5, 29),
            d(2023, 8, 28),
            d(2023, 12, 25),
            d(2023, 12, 26),
        ]
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
    assert_eq!(
        dates("CA", 2022),
        vec![
            d(2022, 1, 1),
            d(2022, 1, 3),
            d(2022, 4, 15),
            d(2022, 7, 1),
            d(2022, 9, 5),
            d(2022, 12, 25),
            d(2022, 12, 26),
        ]
    );
}

#[test]
fn au_2022_and_easter_extreme_2038() {
    assert_eq!(
        dates("AU", 2022),
        vec![
            d(2022, 1, 1),
            d(2022, 1, 26),
            d(2022, 4, 15),
            d(2022, 4, 18),
            d(2022, 4, 25),
            d(2022, 9, 22),
            d(2022, 12, 25),
            d(2022, 12, 26),
        ]
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
    assert_eq!(
        dates("DE", 2017),
        vec![
            d(2017, 1, 1),
            d(2017, 4, 14),
            d(2017, 4, 17),
            d(2017, 5, 1),
            d(2017, 5, 25),
            d(2017, 6, 5),
            d(2017, 10, 3),
            d(2017, 10, 31),
            d(2017, 12, 25),
            d(2017, 12, 26),
        ]
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
    assert_eq!(
        dates("FR", 2024),
        vec![
            d(2024, 1, 1),
            d(2024, 4, 1),
            d(2024, 5, 1),
            d(2024, 5, 8),
            d(2024, 5, 9),
            d(2024, 5, 20),
            d(2024, 7, 14),
            d(2024, 8, 15),
            d(2024, 11, 1),
            d(2024, 11, 11),
            d(2024, 12, 25),
        ]
    );
    assert!(!dates("FR", 2006).contains(&d(2006, 6, 5)));
}

#[test]
fn unknown_country_is_an_error_listing_supported_codes() {
    let e = HolidaySet::public("XX").unwrap_err().to_string();
    assert!(e.contains("XX") && e.contains("GB-ENG"), "{e}");
}

fn events(code: &str, y: i32) -> Vec<(NaiveDate, String)> {
    HolidaySet::commercial(Some(code))
        .unwrap()
        .between(d(y, 1, 1), d(y, 12, 31))
        .unwrap()
        .into_iter()
        .map(|h| (h.date, h.name))
        .collect()
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
