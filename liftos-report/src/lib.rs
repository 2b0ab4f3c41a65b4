//! Results people look at: charts (PNG, SVG), an Excel workbook, a self-contained HTML
//! report, and an exploration summary of the input table.
//!
//! Everything here takes an [`AttributionResults`](liftos_causal::AttributionResults) or an Arrow
//! [`RecordBatch`](arrow::record_batch::RecordBatch) with the unified columns (`date`,
//! `channel`, `spend`, `revenue`, ...) and writes files; nothing is written half-way
//! (each file is written to a hidden temporary sibling and renamed into place).
//!
//! ```
//! use liftos_report::{self as report, PlotOptions, ReportOptions};
//! use liftos_causal::{AttributionResults, ChannelEffect};
//!
//! # fn channel(name: &str, spend: f64, iroas: f64, naive: f64) -> ChannelEffect {
//! #     ChannelEffect { channel: name.into(), rows: 100, spend, revenue_lift: iroas * spend,
//! #         ci_lower: 0.8 * iroas * spend, ci_upper: 1.2 * iroas * spend, std_err: 0.1 * iroas * spend,
//! #         p_value: 0.001, df: 9.0, incremental_roas: iroas, incremental_roas_ci_lower: 0.8 * iroas,
//! #         incremental_roas_ci_upper: 1.2 * iroas, marginal_roas: iroas, average_effect: iroas,
//! #         average_effect_std_err: 0.1, outcome_total: naive * spend * 1.5, naive_roas: naive,
//! #         long_run_roas: None, adstock_decay: None, response: None }
//! # }
//! let results = AttributionResults::new("causal_forest", "revenue", "spend", 200, 42)
//!     .with_channels(vec![channel("meta", 10_000.0, 2.1, 3.0), channel("google_ads", 8_000.0, 1.4, 2.2)]);
//!
//! let dir = std::env::temp_dir().join(format!("liftos-report-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! report::plot_treatment_effects(&results, dir.join("effects.svg"), &PlotOptions::default())?;
//! report::export_results(&results, dir.join("results.xlsx"))?;
//! report::write_html_report(&results, &ReportOptions::default(), dir.join("report.html"))?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | What | Function |
//! |---|---|
//! | Incremental ROAS per channel with intervals next to naive ROAS | [`plot_treatment_effects`] |
//! | Waterfall: baseline → each channel's lift → total outcome | [`plot_attribution_waterfall`] |
//! | Spend per channel; daily spend and outcome per channel | [`plot_spend_by_channel`], [`plot_spend_over_time`] |
//! | Weekday profile, monthly seasonality, holiday lift with intervals | [`plot_temporal_effects`] |
//! | Distribution of per-row effects per channel; effect against spend level | [`plot_effect_distribution`], [`plot_response_curve`] |
//! | A budget plan on the response curves (today's and the recommended spend) | [`plot_budget_plan`] |
//! | Excel workbook (or CSV of the channel table) | [`export_results`], [`export_results_with`] |
//! | One-file HTML report; a directory with report, charts and workbook | [`write_html_report`], [`write_report_dir`] |
//! | Exploration summary (`describe()`, per-channel totals) | [`describe`], [`channel_summary`] |
//!
//! Charts use a bundled DejaVu Sans font (no system font library) and give every
//! channel the same colour in every chart ([`channel_color`]). Text in SVG files names
//! the `sans-serif` family, so viewers use their own sans-serif font.
//!
//! The functions return [`ReportError`], which wraps the causal crate's
//! [`Error`](liftos_causal::Error) and adds file and chart failures.
//!
//! This crate sits above `liftos-transform` and `liftos-causal` (it shows the transform's
//! [`QualityReport`](liftos_transform::QualityReport) as it is, with no copy of its
//! types); neither of them depends on it.

mod charts;
mod explore;
mod format;
pub use format::thousands;
mod html;
mod xlsx;

use std::path::{Path, PathBuf};

pub use charts::{
    PlotOptions, channel_color, plot_attribution_waterfall, plot_budget_plan,
    plot_effect_distribution, plot_response_curve, plot_spend_by_channel, plot_spend_over_time,
    plot_temporal_effects, plot_treatment_effects,
};
pub use explore::{ExplorationSummary, channel_summary, describe};
pub use html::{
    BusinessSection, REPORT_CHARTS_DIR, REPORT_DIR_FILES, ReportOptions, write_html_report,
    write_report_dir,
};
pub use xlsx::{ExportOptions, export_results, export_results_with};

/// Everything that can go wrong while drawing charts or writing report files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// An error of the estimation side (an Arrow table could not be built, ...).
    #[error(transparent)]
    Causal(#[from] liftos_causal::Error),

    /// An Arrow operation failed (reading or building a table).
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),

    /// Reading or writing a file failed.
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The path's extension does not name a supported format.
    #[error("`{}`: unsupported file extension; expected one of {expected}", path.display())]
    UnsupportedFormat {
        /// The path given.
        path: PathBuf,
        /// The supported extensions.
        expected: &'static str,
    },

    /// The input has nothing to show (no channels, no rows).
    #[error("nothing to draw for the {chart}: {what}")]
    EmptyInput {
        /// The chart or file.
        chart: &'static str,
        /// What was empty.
        what: String,
    },

    /// The results lack what the chart needs (temporal effects, per-row index).
    #[error("the {chart} needs {what}, which the results do not have")]
    MissingData {
        /// The chart or file.
        chart: &'static str,
        /// What is missing.
        what: &'static str,
    },

    /// A column of the input table is missing or has the wrong type.
    #[error("column `{column}`: {problem}")]
    Column {
        /// The column.
        column: String,
        /// What is wrong with it.
        problem: String,
    },

    /// Drawing a chart failed.
    #[error("drawing the {chart} failed: {message}")]
    Plot {
        /// The chart.
        chart: &'static str,
        /// The drawing library's message.
        message: String,
    },

    /// Building the Excel workbook failed.
    #[error("building the workbook `{}` failed: {message}", path.display())]
    Workbook {
        /// The workbook's path.
        path: PathBuf,
        /// The writer's message.
        message: String,
    },

    /// An option is outside its valid range.
    #[error("invalid option `{name}` = {value}: expected {expected}")]
    InvalidOption {
        /// The option's field name.
        name: &'static str,
        /// The rejected value.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
}

/// The result type of the report functions.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// Lower-case extension of a path (`png`, `svg`, `xlsx`, ...), empty when there is none.
fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default()
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs `write` on a temporary sibling of `path` (same extension), then renames it into
/// place; on error the temporary file is removed and `path` is left untouched
/// ([`liftos_core::fs::write_atomically_at`]).
fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    liftos_core::fs::write_atomically_at(path, write, io_err(path))
}

/// Writes `bytes` to `path` all-or-nothing.
fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |tmp| std::fs::write(tmp, bytes).map_err(io_err(path)))
}
