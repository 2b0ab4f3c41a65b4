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
