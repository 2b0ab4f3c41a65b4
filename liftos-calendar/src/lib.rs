//! Calendar dimension for marketing analysis.
//!
//! Calendar effects (Q4, Black Friday, weekends, public holidays) are the main confounders
//! of marketing spend. This crate builds a day-level calendar table (an Arrow
//! [`RecordBatch`](arrow::array::RecordBatch)) to join onto campaign data: date parts,
//! public holidays from a rule engine, commercial events, the business calendar, peak
//! seasons, a seasonality index and the NRF 4-5-4 retail calendar; and it derives
//! leakage-free marketing features from the unified campaign table.
//!
//! ```
//! use chrono::NaiveDate;
//! use liftos_calendar::{CalendarDimension, CalendarOptions, Error};
//!
//! let options = CalendarOptions::from_toml_str(r#"
//!     country = "US"
//!     include_features = ["holidays", "peak_seasons", "fiscal"]
//! "#)?;
//! let start = NaiveDate::from_ymd_opt(2024, 11, 1).unwrap();
//! let end = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
//! let calendar = CalendarDimension::create_calendar(start, end, &options)?;
//! assert_eq!(calendar.num_rows(), 61);
//! assert!(calendar.schema().column_with_name("fiscal_week").is_some());
//! # Ok::<(), Error>(())
//! ```
//!
//! | feature | where |
//! |---|---|
//! | date parts, weekend, business days, month/quarter ends | [`CalendarDimension`] |
//! | holiday rules (fixed, nth/last weekday, Easter-relative, observed days, year limits) | [`rules`] |
//! | national public holidays of US, GB, CA, AU, DE, FR (+ GB-ENG/WLS/SCT/NIR, DE-BY) | [`countries`] |
//! | commercial events (Valentine's, Mother's/Father's Day per country, Black Friday, …) | [`countries::commercial`] |
//! | peak seasons, fixed or relative to a holiday | [`PeakSeason`] |
//! | seasonality index (history-based, leakage-safe, or a Fourier default) | [`seasonality`] |
//! | NRF 4-5-4 retail fiscal calendar with 53-week years | [`fiscal`] |
//! | marketing features from campaign data | [`marketing`] |
//! | options in code or TOML | [`CalendarOptions`] |
//!
//! Every column is defined in the crate README ("Calendar features").
#![warn(missing_docs)]

use std::path::PathBuf;

use chrono::NaiveDate;

mod columns;
pub mod countries;
mod dimension;
pub mod fiscal;
mod join;
pub mod marketing;
mod options;
pub mod rules;
pub mod seasonality;

/// The Arrow crate this crate's tables come from.
pub use arrow;
/// The chrono crate this crate's dates come from.
pub use chrono;
pub use dimension::{CalendarDimension, MAX_DAYS};
pub use fiscal::{FiscalDate, retail_454};
pub use join::{CALENDAR_FLAGS, add_calendar_flags, join_calendar};
pub use marketing::{MarketingOptions, add_marketing_features, add_marketing_features_with};
pub use options::{
    BusinessCalendar, CalendarOptions, FeatureGroup, MAX_SEASON_OFFSET_DAYS, PeakSeason,
    SeasonBound,
};
pub use rules::{DateRule, Direction, Holiday, HolidayRule, HolidaySet, Observance, easter_sunday};
pub use seasonality::{FourierTerm, Granularity, SeasonalityOptions};

/// The error type of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An Arrow operation failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// An option has an invalid value.
    #[error("invalid option `{key}`: {reason}")]
    InvalidOption {
        /// Path of the option, e.g. `business.peak_seasons[1].name`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A TOML document could not be read into options (the message names the key/line).
    #[error("invalid calendar TOML{}: {message}", path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Toml {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The parser's message, naming the key and position.
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No built-in holidays for this country code.
    #[error("unknown country `{code}`: supported are {supported}")]
    UnknownCountry {
        /// The code given.
        code: String,
        /// Supported codes.
        supported: String,
    },
    /// A feature name in `include_features` is not known.
    #[error("unknown feature `{name}` at `{key}`: valid are {valid}")]
    UnknownFeature {
        /// Option path.
        key: String,
        /// The name given.
        name: String,
        /// Valid names.
        valid: String,
    },
    /// A `{ kind = "holiday" }` rule names a holiday that is not in the set.
    #[error("no holiday named `{name}` in the configured holiday and event sets")]
    UnknownHoliday {
        /// The name referenced.
        name: String,
    },
    /// The requested date range is unusable.
    #[error("invalid date range {start}..={end}: {reason}")]
    InvalidRange {
        /// Start.
        start: NaiveDate,
        /// End.
        end: NaiveDate,
        /// What is wrong.
        reason: String,
    },
    /// An input table lacks a required column.
    #[error("{table} has no column `{column}`")]
    MissingColumn {
        /// Which table.
        table: String,
        /// The column.
        column: String,
    },
    /// An input column has the wrong type.
    #[error("{table} column `{column}` is {found}, expected {expected}")]
    ColumnType {
        /// Which table.
        table: String,
        /// The column.
        column: String,
        /// Expected type.
        expected: String,
        /// Actual type.
        found: String,
    },
    /// An input value is invalid.
    #[error("{table} row {row}, column `{column}`: {reason}")]
    InvalidValue {
        /// Which table.
        table: String,
        /// Row index (0-based).
        row: usize,
        /// The column.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// A campaign row's date is not in the calendar.
    #[error(
        "campaign_data row {row}: date {date} is not in the calendar; build the calendar over the data's whole date range"
    )]
    DateOutsideCalendar {
        /// Row index (0-based).
        row: usize,
        /// The date.
        date: NaiveDate,
    },
    /// An output column would be written twice.
    #[error(
        "column `{column}` exists in both inputs (or is a feature name); rename or drop it first"
    )]
    DuplicateColumn {
        /// The column.
        column: String,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Days since 1970-01-01 (Arrow `Date32`) of a date ([`liftos_core::dates::to_date32`]).
pub fn naive_to_date32(d: NaiveDate) -> i32 {
    liftos_core::dates::to_date32(d)
}

/// The date of an Arrow `Date32` value (saturating at chrono's range).
pub fn date32_to_naive(days: i32) -> NaiveDate {
    liftos_core::dates::from_date32(days).unwrap_or(if days < 0 {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    })
}

/// A date from literal parts, for the unit tests.
#[cfg(test)]
pub(crate) fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid literal date")
}
