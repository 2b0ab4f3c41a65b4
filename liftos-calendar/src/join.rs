//! Joining the calendar onto a table with a date column: every calendar column the table
//! lacks ([`join_calendar`]), or only the four flags an analysis needs
//! ([`add_calendar_flags`], the calendar built over the table's own dates).
//!
//! ```
//! use arrow::array::{Date32Array, RecordBatch};
//! use arrow::datatypes::{DataType, Field, Schema};
//! use chrono::NaiveDate;
//! use liftos_calendar::{CalendarOptions, add_calendar_flags};
//! use std::sync::Arc;
//!
//! let day = |d| liftos_calendar::naive_to_date32(NaiveDate::from_ymd_opt(2024, 12, d).unwrap());
//! let table = RecordBatch::try_new(
//!     Arc::new(Schema::new(vec![Field::new("date", DataType::Date32, true)])),
//!     vec![Arc::new(Date32Array::from(vec![Some(day(24)), Some(day(25)), None]))],
//! )?;
//! let joined = add_calendar_flags(&table, "date", &CalendarOptions::default())?;
//! let holiday = joined.column_by_name("is_holiday").unwrap();
//! assert_eq!(joined.num_columns(), 5);
//! assert!(holiday.is_null(2)); // no date, no calendar row
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Date32Array, RecordBatch, UInt32Array};
use arrow::compute::{CastOptions, cast_with_options, take};
use arrow::datatypes::{DataType, Date32Type, Field, Schema};

use crate::{CalendarDimension, CalendarOptions, Error, Result, date32_to_naive};

/// The calendar flags [`add_calendar_flags`] joins: what an attribution needs of the
/// calendar besides the date parts it derives itself.
pub const CALENDAR_FLAGS: [&str; 4] = [
    "is_holiday",
    "is_commercial_event",
    "is_business_day",
    "is_month_end",
];

/// Adds the calendar flags ([`CALENDAR_FLAGS`]) to a table, joined on its `date_column`,
/// from a calendar built with `options` over the table's own first to last date. Flags
/// the table already has are kept as they are; a table with all of them, or with no
/// dated row, is returned unchanged. Rows without a date get nulls.
///
/// # Errors
///
/// [`Error::MissingColumn`] or [`Error::ColumnType`] for the date column, or
/// [`Error::InvalidValue`] naming the first row (0-based) of a text date column that is not
/// a `YYYY-MM-DD` date; the calendar's own errors (an unknown country, a range over [`MAX_DAYS`](crate::MAX_DAYS)).
pub fn add_calendar_flags(
    table: &RecordBatch,
    date_column: &str,
    options: &CalendarOptions,
) -> Result<RecordBatch> {
    let missing = CALENDAR_FLAGS
        .iter()
        .any(|c| table.column_by_name(c).is_none());
    if !missing || table.num_rows() == 0 {
        return Ok(table.clone());
    }
    let dates = date_column_of(table, date_column)?;
    let Some((lo, hi)) = date_bounds(&dates) else {
        return Ok(table.clone());
    };
    let calendar =
        CalendarDimension::create_calendar(date32_to_naive(lo), date32_to_naive(hi), options)?;
    join_columns(table, &dates, &calendar, Some(&CALENDAR_FLAGS))
}

/// Joins every column of `calendar` (one row per day, a `date` column) that `table` does
/// not already have onto `table`, by `table`'s `date_column`. Rows whose date is null or
/// outside the calendar get nulls.
///
/// # Errors
///
/// [`Error::MissingColumn`] or [`Error::ColumnType`] when `date_column` is missing or not
/// a date ([`Error::InvalidValue`] naming the first text cell that is not a date), or the
/// calendar has no `date` column.
pub fn join_calendar(
    table: &RecordBatch,
    date_column: &str,
    calendar: &RecordBatch,
) -> Result<RecordBatch> {
    let dates = date_column_of(table, date_column)?;
    join_columns(table, &dates, calendar, None)
}

/// The table's date column as Date32: a date, a timestamp, or ISO `YYYY-MM-DD` text
/// (text that is not a date is an error, never a null; numbers are not read as days).
fn date_column_of(table: &RecordBatch, date_column: &str) -> Result<Date32Array> {
    let Some(col) = table.column_by_name(date_column) else {
        return Err(Error::MissingColumn {
            table: "the table".into(),
            column: date_column.to_string(),
        });
    };
    let wrong_type = || Error::ColumnType {
        table: "the table".into(),
        column: date_column.to_string(),
        expected: "a date (Date32, Date64, a timestamp or YYYY-MM-DD text)".into(),
        found: col.data_type().to_string(),
    };
    let date_like = matches!(
        col.data_type(),
        DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(..)
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    );
    if !date_like {
        return Err(wrong_type());
    }
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    match cast_with_options(col, &DataType::Date32, &strict) {
        Ok(cast) => Ok(cast.as_primitive::<Date32Type>().clone()),
        Err(_) => Err(first_non_date(col, date_column).unwrap_or_else(wrong_type)),
    }
}

/// The first cell of a text column that is not a date, as [`Error::InvalidValue`] (its
/// 0-based row, the text in the reason); `None` when there is none to name (not text).
fn first_non_date(col: &ArrayRef, date_column: &str) -> Option<Error> {
    let text = cast_with_options(col, &DataType::Utf8, &CastOptions::default()).ok()?;
    let text = text.as_string::<i32>();
    let lenient = cast_with_options(col, &DataType::Date32, &CastOptions::default()).ok()?;
    let row = (0..col.len()).find(|&i| col.is_valid(i) && lenient.is_null(i))?;
    Some(Error::InvalidValue {
        table: "the table".into(),
        row,
        column: date_column.to_string(),
        reason: format!("`{}` is not a date (YYYY-MM-DD)", text.value(row)),
    })
}

fn date_bounds(dates: &Date32Array) -> Option<(i32, i32)> {
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    for d in dates.iter().flatten() {
        lo = lo.min(d);
        hi = hi.max(d);
    }
    (lo <= hi).then_some((lo, hi))
}

/// Joins `calendar`'s columns (all, or `only`) that `table` lacks, by date.
fn join_columns(
    table: &RecordBatch,
    dates: &Date32Array,
    calendar: &RecordBatch,
    only: Option<&[&str]>,
) -> Result<RecordBatch> {
    let cal_dates = date_column_of(calendar, "date").map_err(|_| Error::MissingColumn {
        table: "the calendar".into(),
        column: "date".into(),
    })?;
    let index: HashMap<i32, u32> = cal_dates
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Some((d?, u32::try_from(i).ok()?)))
        .collect();
    // One gather index per row: the calendar row of its date, or null.
    let take_index: UInt32Array = dates
        .iter()
        .map(|d| d.and_then(|d| index.get(&d).copied()))
        .collect();
    let schema = calendar.schema();
    let mut fields = table.schema().fields().to_vec();
    let mut columns: Vec<ArrayRef> = table.columns().to_vec();
    for (field, column) in schema.fields().iter().zip(calendar.columns()) {
        let name = field.name();
        if name == "date"
            || table.column_by_name(name).is_some()
            || only.is_some_and(|o| !o.contains(&name.as_str()))
        {
            continue;
        }
        let joined = take(column.as_ref(), &take_index, None)?;
        fields.push(Field::new(name, field.data_type().clone(), true).into());
        columns.push(joined);
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, StringArray};
    use chrono::NaiveDate;

    fn table(dates: Vec<Option<i32>>) -> RecordBatch {
        let n = dates.len();
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("date", DataType::Date32, true),
                Field::new("channel", DataType::Utf8, false),
            ])),
            vec![
                Arc::new(Date32Array::from(dates)),
                Arc::new(StringArray::from(vec!["meta"; n])),
            ],
        )
        .unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> i32 {
        crate::naive_to_date32(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn flags_follow_each_rows_date_and_a_missing_date_gets_nulls() {
        let t = table(vec![Some(day(2024, 7, 4)), None, Some(day(2024, 7, 5))]);
        let j = add_calendar_flags(&t, "date", &CalendarOptions::default()).unwrap();
        assert_eq!(j.num_columns(), 2 + CALENDAR_FLAGS.len());
        let holiday = j.column_by_name("is_holiday").unwrap();
        let holiday = holiday.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert!(holiday.value(0), "July 4th is a US holiday");
        assert!(holiday.is_null(1));
        assert!(!holiday.value(2));
        // Already there: unchanged.
        let again = add_calendar_flags(&j, "date", &CalendarOptions::default()).unwrap();
        assert_eq!(again, j);
    }

    #[test]
    fn a_missing_or_wrong_date_column_is_one_calendar_error() {
        let t = table(vec![Some(day(2024, 1, 1))]);
        let e = add_calendar_flags(&t, "day", &CalendarOptions::default()).unwrap_err();
        assert!(
            matches!(e, Error::MissingColumn { ref column, .. } if column == "day"),
            "{e}"
        );
        let e = join_calendar(&t, "channel", &t).unwrap_err();
        assert!(e.to_string().contains("`channel`"), "{e}");
        let e = join_calendar(&t, "date", &t.project(&[1]).unwrap()).unwrap_err();
        assert!(e.to_string().contains("calendar"), "{e}");
    }

    #[test]
    fn a_text_date_column_names_its_first_cell_that_is_not_a_date() {
        let t = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("date", DataType::Utf8, true)])),
            vec![Arc::new(StringArray::from(vec![
                Some("2024-01-01"),
                None,
                Some("2024-13-45"),
                Some("01/02/2024"),
            ]))],
        )
        .unwrap();
        let e = add_calendar_flags(&t, "date", &CalendarOptions::default()).unwrap_err();
        assert!(
            matches!(e, Error::InvalidValue { row: 2, ref column, ref reason, .. }
                if column == "date" && reason.contains("`2024-13-45`")),
            "{e}"
        );
    }
}
