//! `liftos demo`: the sandbox world, its truth, and the causal attribution run on it.
//!
//! The demo generates the built-in sandbox world (seeded, with a zero-effect channel),
//! writes its unified table, row truth and channel truth, adds the US calendar, runs the
//! causal forest attribution, writes the results JSON, and prints each channel's
//! estimated incremental ROAS with its interval next to the world's true value and the
//! naive ROAS.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::analysis::{add_calendar_columns, analyze_table, write_report};
use crate::io::{write_bytes_atomically, write_table_atomically};
use crate::{Error, Result};
use liftos_causal::{
    AttributionModel, AttributionOptions, AttributionResults, CausalForestParams, CausalRoles,
};
use liftos_sandbox::{World, WorldConfig};

/// What the demo wrote.
#[derive(Debug, Clone)]
pub struct DemoOutput {
    /// The unified table, as CSV.
    pub unified_csv: PathBuf,
    /// The per-row truth, as CSV.
    pub truth_csv: PathBuf,
    /// The per-channel truth and temporal profile, as JSON.
    pub truth_json: PathBuf,
    /// The HTML report, charts and workbook.
    pub report_dir: PathBuf,
    /// The attribution results, as JSON (DESIGN.md).
    pub results_json: PathBuf,
    /// The attribution results.
    pub results: AttributionResults,
    /// The summary table printed to the terminal.
    pub summary: String,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Options of the demo.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Seed of the world and of the estimator.
    pub seed: u64,
    /// Trees of the causal forest.
    pub trees: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            seed: 42,
            trees: 2000,
        }
    }
}

/// Generates the sandbox world with `seed`, writes its tables into `out`, runs the
/// attribution and writes its results.
pub fn run(out: &Path, seed: u64) -> Result<DemoOutput> {
    run_with(
        out,
        &DemoOptions {
            seed,
            ..DemoOptions::default()
        },
    )
}

/// [`run`] with options.
pub fn run_with(out: &Path, options: &DemoOptions) -> Result<DemoOutput> {
    let seed = options.seed;
    let world = World::generate(
        &WorldConfig::default()
            .with_seed(seed)
            .with_zero_effect_channel("tiktok"),
    )?;
    fs::create_dir_all(out).map_err(io_err(out))?;
    let unified_csv = out.join("unified.csv");
    let truth_csv = out.join("truth_rows.csv");
    let truth_json = out.join("truth.json");
    write_table_atomically(&unified_csv, &world.unified_table()?)?;
    write_table_atomically(&truth_csv, &world.truth_table()?)?;
    let json = serde_json::to_string_pretty(world.truth()).map_err(|source| Error::Json {
        path: truth_json.display().to_string(),
        source,
    })?;
    fs::write(&truth_json, json).map_err(io_err(&truth_json))?;

    let enriched = add_calendar_columns(&world.unified_table()?, "date", "US")?;
    let model =
        AttributionModel::CausalForest(CausalForestParams::default().with_num_trees(options.trees));
    let attribution_options = AttributionOptions::default()
        .with_model(model)
        .with_seed(seed);
    let (_, attribution) = analyze_table(&enriched, &CausalRoles::default(), &attribution_options)?;
    let results = attribution.primary().clone();
    let results_json = out.join("results.json");
    let text = serde_json::to_string_pretty(&results.to_json()).map_err(|source| Error::Json {
        path: results_json.display().to_string(),
        source,
    })?;
    write_bytes_atomically(&results_json, text.as_bytes())?;
    let report_dir = out.join("report");
    write_report(&results, &enriched, &report_dir)?;
    Ok(DemoOutput {
        report_dir,
        summary: summary(&world, &results),
        unified_csv,
        truth_csv,
        truth_json,
        results_json,
        results,
    })
}

/// The terminal table: per channel spend, naive ROAS, the estimated incremental ROAS with
/// its interval, and the true incremental ROAS.
pub fn summary(world: &World, results: &AttributionResults) -> String {
    let c = world.config();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Sandbox world: {} rows, {} to {}, seed {}",
        world.num_rows(),
        c.start,
        c.end(),
        c.seed
    );
    let pct = (results.confidence_level * 100.0).round();
    let _ = writeln!(
        s,
        "{:<12} {:>14} {:>11} {:>15} {:>18} {:>11} {:>8}",
        "channel",
        "spend",
        "naive ROAS",
        "estimated iROAS",
        format!("{pct}% interval"),
        "true iROAS",
        "covered"
    );
    for t in &world.truth().channels {
        let Some(e) = results.channel(&t.channel) else {
            continue;
        };
        let covered = e.incremental_roas_ci_lower <= t.incremental_roas
            && t.incremental_roas <= e.incremental_roas_ci_upper;
        let _ = writeln!(
            s,
            "{:<12} {:>14.2} {:>11.2} {:>15.2} {:>18} {:>11.2} {:>8}",
            t.channel,
            t.spend,
            t.naive_roas,
            e.incremental_roas,
            format!(
                "[{:.2}, {:.2}]",
                e.incremental_roas_ci_lower, e.incremental_roas_ci_upper
            ),
            t.incremental_roas,
            if covered { "yes" } else { "no" }
        );
    }
    let _ = writeln!(
        s,
        "Naive ROAS counts revenue that would have happened anyway; the estimated incremental\n\
         ROAS is what the causal forest says the spend caused, and the true value is known\n\
         here because the world is simulated."
    );
    for w in &results.diagnostics.warnings {
        let _ = writeln!(s, "Warning: {w}");
    }
    s
}
