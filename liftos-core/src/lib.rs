//! The pieces every LiftOS crate shares, defined once: the unified table's schema, column
//! names and natural key ([`unified`]), calendar days as Arrow `Date32` ([`dates`]), the
//! table file formats ([`format`](mod@format)), all-or-nothing file writes ([`fs`]) and the
//! consuming setters of builders and option types ([`setters!`]).
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
pub mod unified;
