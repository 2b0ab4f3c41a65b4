//! The pieces every LiftOS crate shares, defined once: the unified table's schema, column
//! names and natural key ([`unified`]), calendar days as Arrow `Date32` ([`dates`]), the
//! table file formats ([`format`](mod@format)), all-or-nothing file writes ([`fs`]), names
//! from the platforms' exports ([`platforms`]) and the consuming setters of builders and
//! option types ([`setters!`]).
//!
//! The library crates (connectors, transform, calendar, causal, sandbox) stay independent
//! of each other and may all depend on this one, as DataFusion's crates do on
//! `datafusion-common`.
//!
//! ```
//! use liftos_core::unified::{self, NATURAL_KEY};
//! let schema = unified::schema();
//! assert_eq!(schema.field(0).name(), unified::DATE);
//! assert_eq!(NATURAL_KEY[..2], [unified::DATE, unified::CHANNEL]);
//! ```

mod builder;
pub mod dates;
pub mod format;
pub mod fs;
pub mod platforms;
pub mod unified;

/// The column names of `schema`, comma-separated: what an error about a missing or
/// unusable column lists as available.
///
/// ```
/// use arrow::datatypes::{DataType, Field, Schema};
/// let schema = Schema::new(vec![
///     Field::new("date", DataType::Date32, false),
///     Field::new("spend", DataType::Float64, true),
/// ]);
/// assert_eq!(liftos_core::column_list(&schema), "date, spend");
/// ```
pub fn column_list(schema: &arrow::datatypes::Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
