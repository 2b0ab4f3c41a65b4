//! Transforms that turn marketing source tables into one clean, unified table.
//!
//! LiftOS pulls daily campaign data from Meta Ads, Google Ads, Klaviyo and files; this
//! crate maps every source onto the [unified table](unified) ([`unify_marketing_data`]),
//! reports its data quality ([`validate_data_quality`]), cleans it without losing a row
//! silently ([`clean_data`]: clean table + quarantine table + change log), and runs SQL
//! over the results ([`SqlSession`], DataFusion). Tables are Arrow [`RecordBatch`]es;
//! [`read_table`]/[`write_table`] read and write CSV or Parquet by extension
//! ([`read_tables`]: several files at once, in parallel).
//!
//! Data-quality findings are data (a report, a quarantine table), never errors; an
//! `Err` means a broken contract such as a missing column or a wrong type.
//!
//! # Example
//!
//! A Google Ads export (platform column names, cost in micros) unified, checked and
//! cleaned:
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
//! use liftos_transform::{
//!     Fixes, QualityRules, SchemaMapping, clean_data, unify_marketing_data, validate_data_quality,
//! };
//!
//! let google = RecordBatch::try_from_iter([
//!     ("segments.date", Arc::new(Date32Array::from(vec![19_800, 19_802])) as _),
//!     ("customer.id", Arc::new(StringArray::from(vec!["123", "123"])) as _),
//!     ("customer.currency_code", Arc::new(StringArray::from(vec!["USD", "USD"])) as _),
//!     ("campaign.id", Arc::new(StringArray::from(vec!["9", "9"])) as _),
//!     ("campaign.name", Arc::new(StringArray::from(vec!["  Brand  Search", "Brand Search"])) as _),
//!     ("metrics.cost_micros", Arc::new(Int64Array::from(vec![12_500_000, 7_000_000])) as _),
//!     ("metrics.impressions", Arc::new(Int64Array::from(vec![1000, 800])) as _),
//!     ("metrics.clicks", Arc::new(Int64Array::from(vec![40, 30])) as _),
//!     ("metrics.conversions", Arc::new(Float64Array::from(vec![2.0, 1.0])) as _),
//!     ("metrics.conversions_value", Arc::new(Float64Array::from(vec![90.0, 45.0])) as _),
//! ])?;
//!
//! let unified = unify_marketing_data([("google_ads", &google)], &SchemaMapping::default())?;
//! assert_eq!(unified.table.num_rows(), 2);
//!
//! let report = validate_data_quality(&unified.table, &[], &QualityRules::default())?;
//! assert_eq!(report.issue("date_gaps").map(|i| i.row_count), Some(1));
//!
//! let cleaned = clean_data(&unified.table, &Fixes::default())?;
//! assert_eq!(cleaned.table.num_rows(), 3); // one zero-activity day filled in
//! assert!(cleaned.accounting().balances());
//! # Ok::<(), liftos_transform::Error>(())
//! ```
//!
//! # Features
//!
//! | Part | Entry points | Status |
//! |---|---|---|
//! | [`Transformer`] trait, [`unified`] schema contract | [`unified::check_schema`] | available |
//! | unify sources (defaults for the three connectors, TOML overrides) | [`unify_marketing_data`], [`SchemaMapping`] | available |
//! | data-quality report (rules, built-in marketing checks, JSON) | [`validate_data_quality`], [`QualityRules`] | available |
//! | cleaning (4 fixes, quarantine, change log, row accounting) | [`clean_data`], [`Fixes`] | available |
//! | CSV/Parquet files | [`read_table`], [`write_table`], [`TableWriter`] | available |
//! | unify files larger than memory, piece by piece | [`unify_files`] | available |
//! | validate and clean a file larger than memory, part by part (cargo feature `sql`) | `validate_file`, `clean_file` | available |
//! | SQL (cargo feature `sql`, default on) | [`SqlSession`] | available |
//! | SQL on an Apache Ballista cluster (cargo feature `distributed`, off by default); files read there for unify, validate and clean | `SqlSession::remote`, `ClusterUrl`, [`SqlSession::read_file_as_text`], [`SqlSession::read_file_as`] (a pipeline's file sources) | available |
//! | cluster queries stopped (time limit, signal, caller gone) cancel their job on the scheduler (cargo feature `distributed`) | `SqlSession::with_time_limit`, `SqlSession::with_stopper`, `QueryStopper`, `wait_for_cluster_queries` | available |
//! | local store kept current by incremental syncs (manifest, upsert by natural key) | [`store::Store`] | available |
//!
//! Dates are read from Date32/Date64, Arrow timestamps and text in the formats
//! `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYYMMDD`, `NN/NN/YYYY` and `NN.NN.YYYY` (day or month
//! first, decided per column), `5 Mar 2024`, `Mar 5, 2024`, RFC 3339 and ISO date-times
//! with or without offset. An instant (a text date-time with an offset or `Z`, an Arrow
//! timestamp with a zone) becomes its date in the source's `timezone`, else its date in
//! its own offset or zone; a date-time without one (text, or an Arrow timestamp without
//! a zone, which Arrow defines as wall-clock time) is the account's local time already
//! (a platform export in the account's zone) and keeps its own date. [`read_table`] keeps
//! a CSV column with date-times written with an offset or `Z` as text for that reason,
//! and types one without as a timestamp without a zone. The year is written with four
//! digits (1000 to 9999): `24-01-05`, `5 Jan 24`, `03/04/24` or `-2024-01-01` are not
//! dates (their rows are quarantined), never guessed at.
#![warn(missing_docs)]

mod clean;
#[cfg(feature = "distributed")]
mod cluster;
mod config;
mod direct;
mod error;
mod frame;
mod infer;
mod io;
pub mod mapping;
mod parse;
#[cfg(feature = "sql")]
mod partition;
pub mod quality;
#[cfg(feature = "sql")]
mod sql;
pub mod store;
mod stream;
pub mod unified;
mod unify;

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};

pub use clean::{
    Change, ChangeAction, Cleaned, CurrencyConversion, DEFAULT_MAX_FILL_GAP_DAYS,
    DEFAULT_MAX_FILLED_ROWS, Fix, Fixes, NameNormalization, NameNormalizer, RateTable,
    RowAccounting, clean_data,
};
#[cfg(feature = "distributed")]
pub use cluster::{
    CancelOutcome, QueryStopper, StopReason, StoppedQuery, wait_for_cluster_queries,
};
pub use error::{Error, Result};
pub use io::{
    FileFormat, PartialFile, ReadOptions, TableWriter, column_names, escape_formula_cells,
    is_formula_like, read_table, read_table_with, read_tables, read_tables_with,
    remove_partial_files, table_format, write_table,
};
pub use mapping::{ColumnSpec, DecimalSeparator, SchemaMapping, SourceMapping};
#[cfg(feature = "sql")]
pub use partition::{CLEAN_PART_ROWS, CleanedFile, clean_file, clean_to_file, validate_file};
pub use quality::{Issue, QualityReport, QualityRules, Rule, Severity, validate_data_quality};
#[cfg(feature = "distributed")]
pub use sql::ClusterUrl;
#[cfg(feature = "sql")]
pub use sql::SqlSession;
pub use stream::{UNIFY_BATCH_ROWS, UnifiedFiles, estimated_rows, unify_files};
pub use unify::{
    QUARANTINE_REASON, QUARANTINE_ROW, QUARANTINE_STAGE, Unified, quarantine_schema,
    sort_by_natural_key, unify_marketing_data,
};

/// Renders tables as an ASCII grid (for CLIs and test expectations).
pub fn pretty_format(batches: &[RecordBatch]) -> Result<String> {
    Ok(arrow::util::pretty::pretty_format_batches(batches)?.to_string())
}

/// A table-to-table step of the pipeline.
///
/// # Contract
///
/// Required methods: [`name`](Transformer::name),
/// [`output_schema`](Transformer::output_schema) and [`transform`](Transformer::transform).
///
/// - `output_schema(input)` returns the exact schema `transform` produces for an input of
///   schema `input`, or an `Err` when the input breaks the transformer's contract
///   (a missing column, a wrong type). It does no work on data.
/// - `transform(table)` never drops a row silently: rows that cannot be used are counted
///   and kept by the transformer (a quarantine table or a report), and the returned
///   table's schema equals `output_schema(table.schema())`.
/// - Data-quality findings are not errors.
pub trait Transformer: Send + Sync + fmt::Debug {
    /// Short name used in change logs and error messages.
    fn name(&self) -> &str;

    /// The schema [`transform`](Transformer::transform) produces for `input`.
    fn output_schema(&self, input: &Schema) -> Result<SchemaRef>;

    /// Applies the transform to a whole table.
    fn transform(&self, table: &RecordBatch) -> Result<RecordBatch>;
}

/// [`Transformer`] for `Box<T>`, `Arc<T>` and `&T`, forwarding to `T` (so trait objects
/// compose).
macro_rules! forward_transformer {
    ($($ptr:ty),*) => {$(
        impl<T: Transformer + ?Sized> Transformer for $ptr {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn output_schema(&self, input: &Schema) -> Result<SchemaRef> {
                (**self).output_schema(input)
            }
            fn transform(&self, table: &RecordBatch) -> Result<RecordBatch> {
                (**self).transform(table)
            }
        }
    )*};
}
forward_transformer!(Box<T>, Arc<T>, &T);
