//! Integration tests of liftos-calendar (one binary, a module per area).

mod calendar;
mod fiscal;
mod holidays;
mod leakage;
mod marketing;
mod seasons;
mod toml_config;

use chrono::NaiveDate;

/// A date from literal parts.
pub fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid literal date")
}

/// The calendar of `start..=end` with the default options.
pub fn default_calendar(
    start: NaiveDate,
    end: NaiveDate,
) -> liftos_calendar::Result<arrow::array::RecordBatch> {
    liftos_calendar::CalendarDimension::create_calendar(
        start,
        end,
        &liftos_calendar::CalendarOptions::default(),
    )
}

/// The column `name` of `batch` as its concrete array type.
pub fn column<'a, T: 'static>(batch: &'a arrow::array::RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column `{name}`"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column `{name}` has another type"))
}

/// The column names of `batch`, in order.
pub fn column_names(batch: &arrow::array::RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}
