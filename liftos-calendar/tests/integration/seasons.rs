//! Peak seasons, fixed and relative to holidays, in several years.

use arrow::array::{Array, BooleanArray, Date32Array, StringArray};
use chrono::NaiveDate;
use liftos_calendar::{
    BusinessCalendar, CalendarDimension, CalendarOptions, DateRule, PeakSeason, SeasonBound,
    date32_to_naive,
};

use crate::{column, d};

/// (first, last) days flagged by `column` in the calendar.
fn flagged_spans(
    opts: CalendarOptions,
    y0: i32,
    y1: i32,
    column: &str,
) -> Vec<(NaiveDate, NaiveDate)> {
    let cal = CalendarDimension::new(opts)
        .unwrap()
        .create(d(y0, 1, 1), d(y1, 12, 31))
        .unwrap();
    let dates = crate::column::<Date32Array>(&cal, "date");
    let flag = crate::column::<BooleanArray>(&cal, column);
    let mut spans: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for i in 0..cal.num_rows() {
        if flag.value(i) {
            let day = date32_to_naive(dates.value(i));
            match spans.last_mut() {
                Some((_, e)) if (day - *e).num_days() == 1 => *e = day,
                _ => spans.push((day, day)),
            }
        }
    }
    spans
}

#[test]
fn black_friday_week_ends_on_the_saturday_after_thanksgiving() {
    let spans = flagged_spans(
        CalendarOptions::default(),
        2019,
        2024,
        "season_black_friday_week",
    );
    assert_eq!(
        spans,
        vec![
            (d(2019, 11, 24), d(2019, 11, 30)),
            (d(2020, 11, 22), d(2020, 11, 28)),
            (d(2021, 11, 21), d(2021, 11, 27)),
            (d(2022, 11, 20), d(2022, 11, 26)),
            (d(2023, 11, 19), d(2023, 11, 25)),
            (d(2024, 11, 24), d(2024, 11, 30)),
        ]
    );
}

#[test]
fn seasons_by_holiday_name_and_wrapping_the_year() {
    let easter = PeakSeason {
        name: "easter_weekend".into(),
        start: Some(SeasonBound {
            date: DateRule::Holiday {
                name: "Good Friday".into(),
            },
            offset_days: 0,
        }),
        end: SeasonBound {
            date: DateRule::Holiday {
                name: "easter monday".into(),
            },
            offset_days: 0,
        },
        length_days: None,
    };
    let winter = PeakSeason::fixed("winter_sale", (12, 27), (1, 6));
    let opts = CalendarOptions::default()
        .with_country("GB-ENG")
        .with_business(BusinessCalendar::default().with_peak_seasons([easter, winter]));
    // (column, its spans of flagged days in 2022-2024)
    let expected = [
        (
            "season_easter_weekend",
            vec![
                (d(2022, 4, 15), d(2022, 4, 18)),
                (d(2023, 4, 7), d(2023, 4, 10)),
                (d(2024, 3, 29), d(2024, 4, 1)),
            ],
        ),
        (
            "season_winter_sale",
            vec![
                (d(2022, 1, 1), d(2022, 1, 6)),
                (d(2022, 12, 27), d(2023, 1, 6)),
                (d(2023, 12, 27), d(2024, 1, 6)),
                (d(2024, 12, 27), d(2024, 12, 31)),
            ],
        ),
    ];
    for (column, spans) in expected {
        assert_eq!(
            flagged_spans(opts.clone(), 2022, 2024, column),
            spans,
            "{column}"
        );
    }
    // peak_season names the first matching season.
    let cal = CalendarDimension::new(opts)
        .unwrap()
        .create(d(2023, 4, 6), d(2023, 4, 11))
        .unwrap();
    let names = column::<StringArray>(&cal, "peak_season");
    let got: Vec<Option<&str>> = (0..names.len())
        .map(|i| names.is_valid(i).then(|| names.value(i)))
        .collect();
    assert_eq!(
        got,
        vec![
            None,
            Some("easter_weekend"),
            Some("easter_weekend"),
            Some("easter_weekend"),
            Some("easter_weekend"),
            None
        ]
    );
}

#[test]
fn a_season_referencing_a_missing_holiday_fails_clearly() {
    let s = PeakSeason::ending(
        "x",
        DateRule::Holiday {
            name: "Thanksgiving Day".into(),
        },
        0,
        3,
    );
    // GB has no Thanksgiving.
    let opts = CalendarOptions::default()
        .with_country("GB")
        .with_business(BusinessCalendar::default().with_peak_seasons([s]));
    let err = CalendarDimension::new(opts)
        .unwrap()
        .create(d(2024, 1, 1), d(2024, 12, 31))
        .unwrap_err();
    assert!(err.to_string().contains("Thanksgiving Day"), "{err}");
}
