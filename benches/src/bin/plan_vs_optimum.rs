//! The budget planner against each sandbox world's own optimum: for many seeds, fit the
//! attribution with response curves, plan the world's actual total budget, re-simulate
//! the plan in the world, and compare its true incremental revenue with the world's best
//! split for the same budget and bounds (found by optimising over the world itself) and
//! with the current split.
//!
//! ```text
//! cargo run --release -p liftos-benches --bin plan_vs_optimum -- [--preset saturation]
//!     [--seeds 10] [--first 1] [--trees 300] [--max-change 0.5] [--verbose]
//! ```
//!
//! Per seed it prints the plan's and the current split's true revenue as shares of the
//! optimum and whether the plan's interval covers its true revenue; the summary gives the
//! mean, the worst seed, and how often the plan beat the current split.

use std::time::Instant;

use liftos_causal::plan::{PlanOptions, plan_budget};
use liftos_causal::{
    Adstock, AttributionModel, AttributionOptions, CausalForestParams, CausalRoles,
    ResponseOptions, analyze_attribution, prepare_causal_data,
};
use liftos_sandbox::{Preset, World, WorldConfig};

use liftos_benches::{BoxError, arg};

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = Preset::parse(&arg(&args, "--preset", "saturation".to_string())?)?;
    let seeds: u64 = arg(&args, "--seeds", 10)?;
    let first: u64 = arg(&args, "--first", 1)?;
    let trees: usize = arg(&args, "--trees", 300)?;
    let max_change: f64 = arg(&args, "--max-change", 0.5)?;
    let verbose = args.iter().any(|a| a == "--verbose");
    println!(
        "preset {} · {seeds} seeds from {first} · {trees} trees · max change {max_change}",
        preset.as_str()
    );
    println!(
        "seed  plan/optimum  current/optimum  plan/current  level interval covers  uplift interval covers  seconds"
    );
    let (mut shares, mut beat, mut covered, mut up_covered) = (Vec::new(), 0usize, 0usize, 0usize);
    let mut current_shares = Vec::new();
    for seed in first..first + seeds {
        let started = Instant::now();
        let world = World::generate(&WorldConfig::preset(preset, seed))?;
        let table = world.unified_table_with_calendar_flags()?;
        let roles = CausalRoles::default().with_adstock(Adstock::Auto);
        let panel = prepare_causal_data(&table, &roles)?;
        let options = AttributionOptions::default()
            .with_model(AttributionModel::CausalForest(
                CausalForestParams::default().with_num_trees(trees),
            ))
            .with_cross_validation(false)
            .with_response(ResponseOptions::auto())
            .with_seed(seed);
        let attribution = analyze_attribution(&panel, &options)?;
        let results = attribution.primary();
        let budget: f64 = world.truth().channels.iter().map(|c| c.spend).sum();
        let plan = plan_budget(
            results,
            &PlanOptions::new(budget).with_max_change(max_change),
        )?;
        let split: Vec<(&str, f64)> = plan
            .channels
            .iter()
            .map(|c| (c.channel.as_str(), c.recommended_spend))
            .collect();
        let planned = world.allocation_revenue(&split)?.incremental_revenue;
        let current = world.allocation_revenue(&[])?.incremental_revenue;
        let best = world.optimal_allocation(
            budget,
            1.0 - max_change.min(1.0),
            1.0 + max_change.min(1.0),
            1000,
        )?;
        let optimum = best.incremental_revenue;
        if verbose {
            for c in &plan.channels {
                let t = world.truth().channel(&c.channel).ok_or("channel")?;
                let est = results.channel(&c.channel).ok_or("channel")?;
                let (lo, hi) = est.response.as_ref().map_or((f64::NAN, f64::NAN), |r| {
                    (r.marginal_roas_ci_lower, r.marginal_roas_ci_upper)
                });
                println!(
                    "      {:<11} {:>10.0} -> {:>10.0} (best {:>10.0}); marginal {:.2} [{:.2}, {:.2}] true {:.2}; switch-off {:.2} true {:.2}; {}",
                    c.channel,
                    c.current_spend,
                    c.recommended_spend,
                    best.spend_of(&c.channel).unwrap_or(f64::NAN),
                    est.marginal_roas,
                    lo,
                    hi,
                    t.marginal_roas_total,
                    est.incremental_roas,
                    t.incremental_roas,
                    c.reason.as_deref().unwrap_or("")
                );
            }
        }
        let covers = plan.expected_ci.0 <= planned && planned <= plan.expected_ci.1;
        let uplift = planned - current;
        let up_covers = plan.uplift_ci.0 <= uplift && uplift <= plan.uplift_ci.1;
        up_covered += usize::from(up_covers);
        shares.push(planned / optimum);
        current_shares.push(current / optimum);
        beat += usize::from(planned > current);
        covered += usize::from(covers);
        println!(
            "{seed:>4}  {:>11.1}%  {:>14.1}%  {:>+11.1}%  {:>21}  {:>22}  {:>7.1}",
            100.0 * planned / optimum,
            100.0 * current / optimum,
            100.0 * (planned / current - 1.0),
            if covers { "yes" } else { "no" },
            if up_covers { "yes" } else { "no" },
            started.elapsed().as_secs_f64()
        );
    }
    let n = shares.len() as f64;
    let mean = shares.iter().sum::<f64>() / n;
    let worst = shares.iter().copied().fold(f64::INFINITY, f64::min);
    let mean_current = current_shares.iter().sum::<f64>() / n;
    println!(
        "summary: plan reaches {:.1}% of the optimum on average (worst {:.1}%); the current split {:.1}%; \
         plan beat the current split in {beat}/{}; its interval covered its true revenue in {covered}/{}, \
         the uplift's interval the true uplift in {up_covered}/{}",
        100.0 * mean,
        100.0 * worst,
        100.0 * mean_current,
        shares.len(),
        shares.len(),
        shares.len()
    );
    Ok(())
}
