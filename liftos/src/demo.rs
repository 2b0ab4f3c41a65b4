//! `liftos demo`: the sandbox world, its data files and its truth.
//!
//! Today the demo generates the built-in sandbox world, writes its unified table, row
//! truth and channel truth, and prints each channel's naive ROAS next to its true
//! incremental ROAS. The full pipeline (fake APIs → connectors → transform → calendar →
//! causal forest → report) replaces it as those parts land; see the README's status table.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::io::write_table_atomically;
use crate::{Error, Result};
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
    /// The summary table printed to the terminal.
    pub summary: String,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Generates the sandbox world with `seed` and writes its tables into `out`.
pub fn run(out: &Path, seed: u64) -> Result<DemoOutput> {
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
    Ok(DemoOutput {
        summary: summary(&world),
        unified_csv,
        truth_csv,
        truth_json,
    })
}

/// The terminal table: per channel spend, naive ROAS and true incremental ROAS.
pub fn summary(world: &World) -> String {
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
    let _ = writeln!(
        s,
        "{:<12} {:>14} {:>14} {:>11} {:>14} {:>12}",
        "channel", "spend", "revenue", "naive ROAS", "true iROAS", "true mROAS"
    );
    for t in &world.truth().channels {
        let _ = writeln!(
            s,
            "{:<12} {:>14.2} {:>14.2} {:>11.2} {:>14.2} {:>12.2}",
            t.channel, t.spend, t.revenue, t.naive_roas, t.incremental_roas, t.marginal_roas
        );
    }
    let _ = writeln!(
        s,
        "Naive ROAS counts revenue that would have happened anyway; the true incremental\n\
         ROAS is what the spend caused (known here because the world is simulated)."
    );
    s
}
