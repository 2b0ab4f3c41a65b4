//! The calendar table: columns, values, selection, errors.

use arrow::array::{Array, BooleanArray, Float64Array, Int32Array};
use arrow::util::pretty::pretty_format_batches;
use liftos_calendar::{CalendarDimension, CalendarOptions, Error, HolidayRule};

use crate::{column, column_names, d, default_calendar};

/// Pretty-prints the named columns of `batch`.
fn table(batch: &arrow::array::RecordBatch, columns: &[&str]) -> String {
    let idx: Vec<usize> = columns
        .iter()
        .map(|c| batch.schema().index_of(c).unwrap())
        .collect();
    pretty_format_batches(&[batch.project(&idx).unwrap()])
        .unwrap()
        .to_string()
}

#[test]
fn year_end_2024_rows() {
    let cal = default_calendar(d(2024, 12, 23), d(2025, 1, 2)).unwrap();
    let parts = table(
        &cal,
        &[
            "date",
            "day_of_week_name",
            "week_of_year",
            "quarter",
            "day_of_year",
            "is_month_end",
            "is_quarter_end",
            "is_business_day",
            "fiscal_year",
            "fiscal_month",
            "fiscal_week",
        ],
    );
    let expected_parts = "\
+------------+------------------+--------------+---------+-------------+--------------+----------------+-----------------+-------------+--------------+-------------+\n\
| date       | day_of_week_name | week_of_year | quarter | day_of_year | is_month_end | is_quarter_end | is_business_day | fiscal_year | fiscal_month | fiscal_week |\n\
+------------+------------------+--------------+---------+-------------+--------------+----------------+-----------------+-------------+--------------+-------------+\n\
| 2024-12-23 | Monday           | 52           | 4       | 358         | false        | false          | true            | 2024        | 11           | 47          |\n\
| 2024-12-24 | Tuesday          | 52           | 4       | 359         | false        | false          | true            | 2024        | 11           | 47          |\n\
| 2024-12-25 | Wednesday        | 52           | 4       | 360         | false        | false          | false           | 2024        | 11           | 47          |\n\
| 2024-12-26 | Thursday         | 52           | 4       | 361         | false        | false          | true            | 2024        | 11           | 47          |\n\
| 2024-12-27 | Friday           | 52           | 4       | 362         | false        | false          | true            | 2024        | 11           | 47          |\n\
| 2024-12-28 | Saturday         | 52           | 4       | 363         | false        | false          | false           | 2024        | 11           | 47          |\n\
| 2024-12-29 | Sunday           | 52           | 4       | 364         | false        | false          | false           | 2024        | 11           | 48          |\n\
| 2024-12-30 | Monday           | 1            | 4       | 365         | false        | false          | true            | 2024        | 11           | 48          |\n\
| 2024-12-31 | Tuesday          | 1            | 4       | 366         | true         | true           | true            | 2024        | 11           | 48          |\n\
| 2025-01-01 | Wednesday        | 1            | 1       | 1           | false        | false          | false           | 2024        | 11           | 48          |\n\
| 2025-01-02 | Thursday         | 1            | 1       | 2           | false        | false          | true            | 2024        | 11           | 48          |\n\
+------------+------------------+--------------+---------+-------------+--------------+----------------+-----------------+-------------+--------------+-------------+";
    assert_eq!(parts, expected_parts, "\n{parts}");
    let holidays = table(
        &cal,
        &[
            "date",
            "is_holiday",
            "holiday_name",
            "days_to_next_holiday",
            "days_since_last_holiday",
            "event_name",
            "peak_season",
        ],
    );
    let expected_holidays = "\
+------------+------------+----------------+----------------------+-------------------------+----------------+----------------+\n\
| date       | is_holiday | holiday_name   | days_to_next_holiday | days_since_last_holiday | event_name     | peak_season    |\n\
+------------+------------+----------------+----------------------+-------------------------+----------------+----------------+\n\
| 2024-12-23 | false      |                | 2                    | 25                      |                | holiday_season |\n\
| 2024-12-24 | false      |                | 1                    | 26                      | Christmas Eve  | holiday_season |\n\
| 2024-12-25 | true       | Christmas Day  | 0                    | 0                       |                | holiday_season |\n\
| 2024-12-26 | false      |                | 6                    | 1                       |                | holiday_season |\n\
| 2024-12-27 | false      |                | 5                    | 2                       |                | holiday_season |\n\
| 2024-12-28 | false      |                | 4                    | 3                       |                | holiday_season |\n\
| 2024-12-29 | false      |                | 3                    | 4                       |                | holiday_season |\n\
| 2024-12-30 | false      |                | 2                    | 5                       |                | holiday_season |\n\
| 2024-12-31 | false      |                | 1                    | 6                       | New Year's Eve | holiday_season |\n\
| 2025-01-01 | true       | New Year's Day | 0                    | 0                       |                |                |\n\
| 2025-01-02 | false      |                | 18                   | 1                       |                |                |\n\
+------------+------------+----------------+----------------------+-------------------------+----------------+----------------+";
    assert_eq!(holidays, expected_holidays, "\n{holidays}");
}

#[test]
fn every_feature_has_the_documented_type_and_no_nulls_where_not_nullable() {
    let cal = default_calendar(d(2000, 1, 1), d(2030, 12, 31)).unwrap();
    assert_eq!(cal.num_rows(), 11_323);
    let names = column_names(&cal);
    assert_eq!(
        names,
        [
            "date",
            "day_of_week",
            "day_of_week_name",
            "week_of_year",
            "month",
            "quarter",
            "year",
            "day_of_year",
            "is_month_end",
            "is_quarter_end",
            "is_weekend",
            "is_business_day",
            "is_holiday",
            "holiday_name",
            "days_to_next_holiday",
            "days_since_last_holiday",
            "is_commercial_event",
            "event_name",
            "peak_season",
            "season_black_friday_week",
            "season_holiday_season",
            "seasonality_index",
            "fiscal_year",
            "fiscal_quarter",
            "fiscal_month",
            "fiscal_week",
        ]
    );
    for f in cal.schema().fields() {
        if !f.is_nullable() {
            assert_eq!(
                cal.column_by_name(f.name()).unwrap().null_count(),
                0,
                "{}",
                f.name()
            );
        }
    }
    // Business days = weekdays that are not holidays.
    let wk = column::<BooleanArray>(&cal, "is_weekend");
    let hol = column::<BooleanArray>(&cal, "is_holiday");
    let bus = column::<BooleanArray>(&cal, "is_business_day");
    for i in 0..cal.num_rows() {
        assert_eq!(bus.value(i), !wk.value(i) && !hol.value(i));
    }
    // Holiday distances are 0 exactly on holidays.
    let to = column::<Int32Array>(&cal, "days_to_next_holiday");
    let since = column::<Int32Array>(&cal, "days_since_last_holiday");
    for i in 0..cal.num_rows() {
        assert_eq!(to.value(i) == 0, hol.value(i));
        assert_eq!(since.value(i) == 0, hol.value(i));
    }
    // The default seasonality index averages 1.0 over whole years.
    let idx = column::<Float64Array>(&cal, "seasonality_index");
    let mean = idx.values().iter().sum::<f64>() / idx.len() as f64;
    assert!((mean - 1.0).abs() < 1e-3, "{mean}");
}

#[test]
fn custom_holidays_and_business_days() {
    let opts = CalendarOptions::default().without_country().with_business(
        liftos_calendar::BusinessCalendar::default()
            .with_business_days([chrono::Weekday::Sat])
            .with_custom_holiday(HolidayRule::fixed("Founders Day", 3, 14)),
    );
    let cal = CalendarDimension::create_calendar(d(2026, 3, 9), d(2026, 3, 15), &opts).unwrap();
    let hol = column::<BooleanArray>(&cal, "is_holiday");
    let bus = column::<BooleanArray>(&cal, "is_business_day");
    // 2026-03-14 is a Saturday: the only business weekday, but a company holiday.
    assert_eq!(
        (0..7).map(|i| hol.value(i)).collect::<Vec<_>>(),
        [false, false, false, false, false, true, false]
    );
    assert_eq!((0..7).map(|i| bus.value(i)).collect::<Vec<_>>(), [false; 7]);
}

#[test]
fn feature_selection_by_group_and_column() {
    let opts = CalendarOptions::default().with_features(["is_weekend", "seasons", "fiscal_week"]);
    let cal = CalendarDimension::create_calendar(d(2024, 1, 1), d(2024, 1, 31), &opts).unwrap();
    let names = column_names(&cal);
    assert_eq!(
        names,
        [
            "date",
            "is_weekend",
            "peak_season",
            "season_black_friday_week",
            "season_holiday_season",
            "fiscal_week"
        ]
    );
    let bad = CalendarOptions::default().with_features(["holidayz"]);
    match CalendarDimension::new(bad) {
        Err(Error::UnknownFeature { key, name, .. }) => {
            assert_eq!(
                (key.as_str(), name.as_str()),
                ("include_features[0]", "holidayz")
            );
        }
        other => panic!("expected UnknownFeature, got {other:?}"),
    }
}

#[test]
fn range_errors() {
    let e = default_calendar(d(2024, 2, 1), d(2024, 1, 1)).unwrap_err();
    assert!(matches!(e, Error::InvalidRange { .. }), "{e}");
    // At the edges of the representable dates: a clear error (no 4-5-4 year), no panic.
    let max = chrono::NaiveDate::MAX;
    let e = default_calendar(max - chrono::Days::new(10), max).unwrap_err();
    assert!(e.to_string().contains("fiscal"), "{e}");
    let no_fiscal = CalendarOptions::default().with_features([
        "date_parts",
        "holidays",
        "seasons",
        "seasonality",
    ]);
    let cal =
        CalendarDimension::create_calendar(max - chrono::Days::new(10), max, &no_fiscal).unwrap();
    assert_eq!(cal.num_rows(), 11);
    let min = chrono::NaiveDate::MIN;
    CalendarDimension::create_calendar(min, min + chrono::Days::new(10), &no_fiscal).unwrap();
}
