//! Coverage experiment on sandbox worlds: for many seeds, generate a confounded world
//! (Meta, Google Ads, Klaviyo and a zero-effect TikTok channel), run the causal forest
//! attribution, and count how often each channel's 95% interval contains the world's
//! true incremental ROAS, and how often the zero-effect channel is called significant.
//!
//! ```text
//! cargo run --release -p liftos-benches --bin sandbox_coverage -- [--seeds 100] [--first 1]
//!     [--trees 500] [--campaigns 4] [--days 730] [--json FILE] [--plain-nuisances]
//! ```
//!
//! `--plain-nuisances` fits the causal forest's outcome and treatment models as plain
//! forest averages (grf's `causal_forest`) instead of the attribution's default local
//! linear forests, to compare the two.
//!
//! The calendar flags the model uses (`is_holiday`, `is_commercial_event`) are the
//! world's own (`World::unified_table_with_calendar_flags`), the same calendar facts as
//! liftos-calendar.
//! Each seed's line is printed as it finishes; the summary gives, per channel, the share
//! of intervals covering the truth with a Wilson 95% interval for that share, the mean
//! relative error and the mean interval width.

use std::collections::BTreeMap;
use std::time::Instant;

use liftos_causal::{
    AttributionModel, AttributionOptions, CausalForestParams, CausalRoles, analyze_attribution,
    prepare_causal_data,
};
use liftos_sandbox::{World, WorldConfig};

type BoxError = Box<dyn std::error::Error>;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, BoxError> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            let v = args.get(i + 1).ok_or(format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name}: `{v}` is not a valid value").into())
        }
    }
}

/// The unified table with the calendar flags of each row's date.
fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (k, n, z) = (k as f64, n as f64, 1.959_963_984_540_054_f64);
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    (centre - half, centre + half)
}

#[derive(Default)]
struct Tally {
    n: usize,
    covered: usize,
    significant: usize,
    rel_error: f64,
    abs_error: f64,
    width: f64,
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = arg(&args, "--seeds", 100)?;
    let first: u64 = arg(&args, "--first", 1)?;
    let trees: usize = arg(&args, "--trees", 500)?;
    let campaigns: usize = arg(&args, "--campaigns", 4)?;
    let days: u32 = arg(&args, "--days", 730)?;
    let plain = args.iter().any(|a| a == "--plain-nuisances");
    let json: Option<String> = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    println!(
        "sandbox coverage: seeds {first}..{}, {trees} trees, {campaigns} campaigns per channel, {days} days, {} nuisances",
        first + seeds - 1,
        if plain {
            "plain forest"
        } else {
            "local linear"
        }
    );
    let started = Instant::now();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut records = Vec::new();
    for seed in first..first + seeds {
        let t0 = Instant::now();
        let world = World::generate(
            &WorldConfig::standard(campaigns)
                .with_days(days)
                .with_zero_effect_channel("tiktok")
                .with_seed(seed),
        )?;
        let panel = prepare_causal_data(
            &world.unified_table_with_calendar_flags()?,
            &CausalRoles::default(),
        )?;
        let options = AttributionOptions::default()
            .with_model(AttributionModel::CausalForest(
                CausalForestParams::default().with_num_trees(trees),
            ))
            .with_cross_validation(false)
            .with_placebo_lead_days(None)
            .with_local_linear_nuisances(!plain)
            .with_seed(seed);
        let attribution = analyze_attribution(&panel, &options)?;
        let mut line = format!("seed {seed:>4}");
        for c in &attribution.primary().channels {
            let Some(t) = world.truth().channel(&c.channel) else {
                continue;
            };
            let truth = t.incremental_roas;
            let covered =
                c.incremental_roas_ci_lower <= truth && truth <= c.incremental_roas_ci_upper;
            let tally = tallies.entry(c.channel.clone()).or_default();
            tally.n += 1;
            tally.covered += usize::from(covered);
            tally.significant += usize::from(c.p_value < 0.05);
            tally.abs_error += (c.incremental_roas - truth).abs();
            if truth != 0.0 {
                tally.rel_error += ((c.incremental_roas - truth) / truth).abs();
            }
            tally.width += c.incremental_roas_ci_upper - c.incremental_roas_ci_lower;
            line.push_str(&format!(
                "  {} {:.2} [{:.2}, {:.2}] t {:.2}{}",
                c.channel,
                c.incremental_roas,
                c.incremental_roas_ci_lower,
                c.incremental_roas_ci_upper,
                truth,
                if covered { "" } else { " MISS" }
            ));
            records.push(serde_json::json!({
                "seed": seed, "channel": c.channel, "estimate": c.incremental_roas,
                "ci_lower": c.incremental_roas_ci_lower, "ci_upper": c.incremental_roas_ci_upper,
                "truth": truth, "covered": covered, "p_value": c.p_value,
            }));
        }
        println!("{line}  ({:.1} s)", t0.elapsed().as_secs_f64());
    }
    println!(
        "\n{:<11} {:>6} {:>9} {:>18} {:>12} {:>10} {:>12}",
        "channel", "seeds", "coverage", "Wilson 95%", "mean |err|", "mean rel", "mean width"
    );
    let (mut all_n, mut all_k) = (0, 0);
    for (channel, t) in &tallies {
        let (lo, hi) = wilson(t.covered, t.n);
        let n = t.n as f64;
        let rel = if channel == "tiktok" {
            "—".to_owned()
        } else {
            format!("{:.1}%", 100.0 * t.rel_error / n)
        };
        println!(
            "{:<11} {:>6} {:>9.3} {:>18} {:>12.3} {:>10} {:>12.3}",
            channel,
            t.n,
            t.covered as f64 / n,
            format!("[{lo:.3}, {hi:.3}]"),
            t.abs_error / n,
            rel,
            t.width / n
        );
        all_n += t.n;
        all_k += t.covered;
    }
    let (lo, hi) = wilson(all_k, all_n);
    println!(
        "all channels: {all_k}/{all_n} = {:.3} [{lo:.3}, {hi:.3}]",
        all_k as f64 / all_n as f64
    );
    if let Some(t) = tallies.get("tiktok") {
        println!(
            "zero-effect channel significant at 5%: {}/{} seeds",
            t.significant, t.n
        );
    }
    println!("wall time {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&records)?)?;
        println!("wrote {path}");
    }
    Ok(())
}
