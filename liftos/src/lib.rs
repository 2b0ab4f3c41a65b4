//! LiftOS: from marketing platform data to what each channel's spend really caused.
//!
//! This facade re-exports the LiftOS crates and hosts the `liftos` command-line tool:
//!
//! | Module | Crate | What it does |
//! |---|---|---|
//! | [`connectors`] | `liftos-connectors` | pull Meta Ads, Google Ads, Klaviyo and files as Arrow streams |
//! | [`transform`] | `liftos-transform` | unify sources, report data quality, clean |
//! | [`calendar`] | `liftos-calendar` | calendar dimension: holidays, seasons, marketing features |
//! | [`causal`] | `liftos-causal` | causal forest and DML attribution with honest intervals |
//! | [`sandbox`] | `liftos-sandbox` | a simulated world with known causal truth |
//!
//! The facade's own modules: [`pipeline`] (the whole flow as one builder, every
//! intermediate returned), [`config`] (`liftos.toml` for `liftos run`), [`analysis`]
//! (calendar join, attribution, readable summaries, report writing), [`demo`] (the
//! sandbox run behind `liftos demo`) and [`io`] (atomic table writers).
//!
//! Each module sits behind a feature of the same name (all on by default). The
//! `distributed` feature (on by default) adds the `liftos cluster` command and
//! `liftos sql --cluster` (Apache Ballista), and turns on `liftos-transform`'s
//! `distributed` feature (`transform::SqlSession::remote`).
//!
//! # Example
//!
//! ```
//! use liftos::prelude::*;
//!
//! let world = World::generate(&WorldConfig::standard(2).with_days(90))?;
//! let table = world.unified_table()?;
//! unified::check_schema(&table.schema())?;
//! # Ok::<(), liftos::Error>(())
//! ```
#![warn(missing_docs)]

#[cfg(feature = "calendar")]
pub use liftos_calendar as calendar;
#[cfg(feature = "causal")]
pub use liftos_causal as causal;
#[cfg(feature = "connectors")]
pub use liftos_connectors as connectors;
#[cfg(feature = "report")]
pub use liftos_report as report;
#[cfg(feature = "sandbox")]
pub use liftos_sandbox as sandbox;
#[cfg(feature = "transform")]
pub use liftos_transform as transform;

#[cfg(all(feature = "report", feature = "calendar"))]
pub mod analysis;
#[cfg(all(feature = "report", feature = "calendar"))]
pub mod business;
#[cfg(all(
    feature = "sandbox",
    feature = "transform",
    feature = "report",
    feature = "calendar"
))]
pub mod demo;
#[cfg(feature = "transform")]
pub mod io;
pub mod progress;

/// Items that need the whole pipeline: the connectors, transform, report and calendar
/// features.
macro_rules! cfg_pipeline {
    ($($item:item)*) => {
        $(
            #[cfg(all(
                feature = "connectors",
                feature = "transform",
                feature = "report",
                feature = "calendar"
            ))]
            $item
        )*
    };
}

cfg_pipeline! {
    pub mod config;
    pub mod pipeline;
    pub mod retrain;
    pub mod sync;
}

/// The names most programs need, in one import.
pub mod prelude {
    #[cfg(feature = "connectors")]
    pub use liftos_connectors::{Connector, ConnectorRequest, Level};
    #[cfg(feature = "sandbox")]
    pub use liftos_sandbox::{Truth, World, WorldConfig};
    #[cfg(feature = "transform")]
    pub use liftos_transform::{Transformer, unified};

    cfg_pipeline! {
        pub use crate::pipeline::{Pipeline, PipelineRun};
    }

    pub use crate::{Error, Result};
}

/// Any error of the LiftOS crates, or of the facade's own file handling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A connector error.
    #[cfg(feature = "connectors")]
    #[error(transparent)]
    Connectors(#[from] liftos_connectors::Error),
    /// A transform error.
    #[cfg(feature = "transform")]
    #[error(transparent)]
    Transform(#[from] liftos_transform::Error),
    /// A calendar error.
    #[cfg(feature = "calendar")]
    #[error(transparent)]
    Calendar(#[from] liftos_calendar::Error),
    /// A causal estimation error.
    #[cfg(feature = "causal")]
    #[error(transparent)]
    Causal(#[from] liftos_causal::Error),
    /// A sandbox error.
    #[cfg(feature = "sandbox")]
    #[error(transparent)]
    Sandbox(#[from] liftos_sandbox::Error),
    /// A source of a pipeline failed.
    #[cfg(feature = "connectors")]
    #[error("source `{name}`: {source}")]
    SourceFailed {
        /// The source's name.
        name: String,
        /// What went wrong.
        #[source]
        source: liftos_connectors::Error,
    },
    /// A config file (`liftos.toml`) is invalid.
    #[error("{}", config_message(origin, key, *line, message))]
    Config {
        /// The file.
        origin: String,
        /// The key, e.g. `sources[0].access_token` (empty for a syntax error).
        key: String,
        /// The line in the file, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A pipeline (or its config file) is invalid.
    #[error("pipeline setting `{field}`: {message}")]
    InvalidPipeline {
        /// The setting, e.g. `sources` or `date_range`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// An input file is invalid: which file, which row (1 = first data row) and field.
    #[error("{path}{}: `{field}`: {message}", row.map(|r| format!(", row {r}")).unwrap_or_default())]
    Input {
        /// The file.
        path: String,
        /// The row (1 = the first data row; a CSV file's line is the row + 1), when one is at fault.
        row: Option<usize>,
        /// The column.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Writing charts, the workbook or the HTML report failed.
    #[error("report: {0}")]
    Report(String),
    /// An Arrow error while writing a table.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Writing an output file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Encoding JSON failed.
    #[error("{path}: {source}")]
    Json {
        /// The file being written.
        path: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

fn config_message(origin: &str, key: &str, line: Option<usize>, message: &str) -> String {
    let mut s = origin.to_owned();
    if let Some(line) = line {
        s.push_str(&format!(", line {line}"));
    }
    if !key.is_empty() {
        s.push_str(&format!(": `{key}`"));
    }
    format!("{s}: {message}")
}

/// The result type of the facade.
pub type Result<T, E = Error> = std::result::Result<T, E>;
