//! Coverage experiment on sandbox worlds: for many seeds, generate a confounded world
//! (Meta, Google Ads, Klaviyo and a zero-effect TikTok channel), run the causal forest
//! attribution, and count how often each channel's 95% interval contains the world's
//! true incremental ROAS, and how often the zero-effect channel is called significant.
//!
//! ```text
//! cargo run --release -p liftos-benches --bin sandbox_coverage -- [--seeds 100] [--first 1]
//!     [--preset standard|linear|saturation|carryover|realistic|latent|feedback]
//!     [--trees 500] [--campaigns 4] [--days 730] [--json FILE] [--plain-nuisances]
//!     [--linear-response] [--no-common-spend] [--common-spend-check-only] [--warnings]
//!     [--oracle-curves] [--oracle-demand] [--allow-negative-effects] [--no-refine]
//!     [--refine-gate X] [--adstock-grid 0,0.1,…] [--constant-returns]
//! ```
//!
//! Per channel it counts the coverage of both the switch-off return (`incremental_roas`
//! against the world's re-simulated truth) and the marginal return (against
//! `long_run_marginal_roas`: dR/d(scale of the channel's spend) per unit, carryover inside
//! the window included), their mean relative errors, the zero-effect channel's
//! significance, and the seeds whose results carry a confounding warning (placebo, common spend or
//! robustness value), and those with a spillover warning (one channel's spend moving
//! another channel's rows' revenue) or a spillover credited to its source channel
//! (`AttributionOptions::credit_spillover`). `--linear-response` reproduces the estimator before response
//! transforms (no carryover, no saturation).
//!
//! `--oracle-curves` pins every channel's response transform to its world's own (decay,
//! Hill half-saturation and shape; [`ResponseOptions::pin`]) instead of searching it, to
//! measure how much of the error is the curve's. Approximate: the world's half-saturation
//! is a multiple of a campaign's budget-level exposure, the estimator's of its mean
//! exposure, and the two differ by the ratio of the campaign's mean spend to its budget.
//!
//! `--oracle-demand` adds the world's true log demand of each row's day as a control
//! (`log_demand`), the calendar confounder that the estimator otherwise learns from the
//! calendar columns, to measure how much of the error is the nuisance models'.
//!
//! `--campaigns N`: the standard world's campaigns per channel (4 by default); on a preset,
//! each channel keeps only its first N of the campaigns the preset drew (few campaigns,
//! as unbalanced as drawn: `--preset realistic --campaigns 2`), the truth re-simulated.
//!
//! `--no-refine` turns off the response search's local refinement around its grid
//! (`ResponseOptions::refine`, on by default), to compare with the grid alone;
//! `--refine-gate X` sets its gate (`ResponseOptions::refine_gate`, default
//! `REFINE_GATE` = 5.99; `--refine-gate 0` is the refinement before the gate).
//! `--adstock-grid D1,D2,…` replaces the decays searched (`ResponseOptions::adstock_grid`).
//! `--constant-returns` sets the world's weekend and holiday changes of the true return to
//! 0 (`WorldConfig::weekend_effect`, `holiday_effect`), the truth re-simulated: whether a
//! transform chosen wrongly follows the return's own variation with the calendar.
//!
//! `--allow-negative-effects` reports the unconstrained fit (by default every effect is
//! projected on `[0, ∞)`: `AttributionOptions::non_negative`).
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
    Adstock, AttributionModel, AttributionOptions, CausalForestParams, CausalRoles, REFINE_GATE,
    ResponseOptions, analyze_attribution, prepare_causal_data,
};
use liftos_sandbox::{Preset, World, WorldConfig};

use liftos_benches::{BoxError, arg, world_curves};

/// The Wilson score 95% interval of a share of `k` in `n`.
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
    m_covered: usize,
    m_rel_error: f64,
    m_n: usize,
    warned: usize,
}

/// The world of `preset` for `seed` (the sandbox's presets, with `days` days).
fn world_config(
    preset: &str,
    seed: u64,
    campaigns: Option<usize>,
    days: u32,
) -> Result<WorldConfig, BoxError> {
    if preset == "standard" {
        return Ok(WorldConfig::standard(campaigns.unwrap_or(4))
            .with_days(days)
            .with_zero_effect_channel("tiktok")
            .with_seed(seed));
    }
    let p = Preset::parse(preset)?;
    let mut config = WorldConfig::preset(p, seed).with_days(days);
    // `--campaigns N` on a preset: each channel keeps its first N campaigns (few
    // campaigns, as unbalanced as the preset drew them); the truth is re-simulated on
    // what is kept.
    if let Some(n) = campaigns {
        for ch in &mut config.channels {
            ch.campaigns.truncate(n);
        }
    }
    if std::env::args().any(|a| a == "--constant-returns") {
        config.weekend_effect = 0.0;
        config.holiday_effect = 0.0;
    }
    Ok(config)
}

/// `table` with the world's true log demand of each row's day as a column `log_demand`
/// (`--oracle-demand`: the calendar confounder handed to the estimator as a control).
fn with_log_demand(
    world: &World,
    table: &arrow::array::RecordBatch,
) -> Result<arrow::array::RecordBatch, BoxError> {
    use arrow::array::Float64Array;
    use std::sync::Arc;
    let demand: Vec<f64> = world.rows().map(|r| r.demand.ln()).collect();
    let mut fields = table.schema().fields().to_vec();
    fields.push(Arc::new(arrow::datatypes::Field::new(
        "log_demand",
        arrow::datatypes::DataType::Float64,
        false,
    )));
    let mut columns = table.columns().to_vec();
    let column = Float64Array::from(demand);
    if column.len() != table.num_rows() {
        return Err("log_demand: one value per row expected".into());
    }
    columns.push(Arc::new(column));
    Ok(arrow::array::RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )?)
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = arg(&args, "--seeds", 100)?;
    let first: u64 = arg(&args, "--first", 1)?;
    let trees: usize = arg(&args, "--trees", 500)?;
    // The standard world's campaigns per channel (4 unless given); on a preset, given,
    // each channel keeps its first N.
    let campaigns: Option<usize> = args
        .iter()
        .any(|a| a == "--campaigns")
        .then(|| arg(&args, "--campaigns", 4))
        .transpose()?;
    let days: u32 = arg(&args, "--days", 730)?;
    let preset: String = arg(&args, "--preset", "standard".to_string())?;
    let plain = args.iter().any(|a| a == "--plain-nuisances");
    let linear = args.iter().any(|a| a == "--linear-response");
    let no_common = args.iter().any(|a| a == "--no-common-spend");
    let check_only = args.iter().any(|a| a == "--common-spend-check-only");
    let oracle = args.iter().any(|a| a == "--oracle-curves");
    let negative = args.iter().any(|a| a == "--allow-negative-effects");
    let oracle_demand = args.iter().any(|a| a == "--oracle-demand");
    let refine = !args.iter().any(|a| a == "--no-refine");
    let refine_gate: f64 = arg(&args, "--refine-gate", REFINE_GATE)?;
    let adstock_grid: Option<Vec<f64>> = args
        .iter()
        .position(|a| a == "--adstock-grid")
        .map(|i| {
            args.get(i + 1)
                .ok_or("--adstock-grid needs a list such as 0,0.1,0.9")?
                .split(',')
                .map(|d| d.trim().parse::<f64>())
                .collect::<Result<Vec<f64>, _>>()
                .map_err(|e| format!("--adstock-grid: {e}"))
        })
        .transpose()?;
    let json: Option<String> = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    println!(
        "sandbox coverage: preset {preset}, seeds {first}..{}, {trees} trees, {days} days, {} nuisances, {} response",
        first + seeds - 1,
        if plain {
            "plain forest"
        } else {
            "local linear"
        },
        if linear {
            "linear"
        } else {
            "searched (carryover, saturation)"
        },
    );
    let started = Instant::now();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut records = Vec::new();
    let mut warned_seeds = 0usize;
    let mut spillover_seeds = 0usize;
    let mut credited_seeds = 0usize;
    for seed in first..first + seeds {
        let t0 = Instant::now();
        let world = World::generate(&world_config(&preset, seed, campaigns, days)?)?;
        let mut roles = CausalRoles::default()
            .with_adstock(if linear { Adstock::None } else { Adstock::Auto })
            .with_common_spend_controls(!no_common);
        let mut table = world.unified_table_with_calendar_flags()?;
        if oracle_demand {
            table = with_log_demand(&world, &table)?;
            roles.control_variables.push("log_demand".into());
        }
        let panel = prepare_causal_data(&table, &roles)?;
        let common = panel.common_spend.map_or("no check".to_string(), |c| {
            format!(
                "common-spend ratio {:.2}{}",
                c.variance_ratio,
                if c.controlled { ", controlled" } else { "" }
            )
        });
        if check_only {
            println!("seed {seed:>4} {common}");
            continue;
        }
        let options = AttributionOptions::default()
            .with_model(AttributionModel::CausalForest(
                CausalForestParams::default().with_num_trees(trees),
            ))
            .with_cross_validation(false)
            .with_local_linear_nuisances(!plain)
            .with_non_negative(!negative)
            .with_seed(seed)
            .with_response(if linear {
                ResponseOptions::linear()
            } else if oracle {
                world_curves(&world, ResponseOptions::auto())
            } else {
                let auto = ResponseOptions::auto();
                ResponseOptions {
                    refine,
                    refine_gate,
                    adstock_grid: adstock_grid.clone().unwrap_or(auto.adstock_grid.clone()),
                    ..auto
                }
            });
        let attribution = analyze_attribution(&panel, &options)?;
        let primary = attribution.primary();
        let warnings = &primary.diagnostics.warnings;
        let confounding_warning = warnings.iter().any(|w| {
            w.contains("Placebo check failed")
                || w.contains("not robust")
                || w.contains("common-spend ratio")
        });
        warned_seeds += usize::from(confounding_warning);
        let spillover_warning = warnings.iter().any(|w| w.starts_with("Spillover:"));
        spillover_seeds += usize::from(spillover_warning);
        credited_seeds += usize::from(primary.diagnostics.spillover.iter().any(|s| s.credited));
        let mut line = format!("seed {seed:>4} {common}");
        for c in &primary.channels {
            let Some(t) = world.truth().channel(&c.channel) else {
                continue;
            };
            let truth = t.incremental_roas;
            let m_truth = t.long_run_marginal_roas;
            let covered =
                c.incremental_roas_ci_lower <= truth && truth <= c.incremental_roas_ci_upper;
            let (m_lo, m_hi) = c.response.as_ref().map_or((f64::NAN, f64::NAN), |r| {
                (r.marginal_roas_ci_lower, r.marginal_roas_ci_upper)
            });
            let m_covered = m_lo <= m_truth && m_truth <= m_hi;
            let tally = tallies.entry(c.channel.clone()).or_default();
            tally.n += 1;
            tally.covered += usize::from(covered);
            tally.significant += usize::from(c.p_value < 0.05);
            tally.warned += usize::from(confounding_warning);
            tally.abs_error += (c.incremental_roas - truth).abs();
            if truth != 0.0 {
                tally.rel_error += ((c.incremental_roas - truth) / truth).abs();
                tally.m_rel_error += ((c.marginal_roas - m_truth) / m_truth).abs();
            }
            if m_lo.is_finite() {
                tally.m_n += 1;
                tally.m_covered += usize::from(m_covered);
            }
            tally.width += c.incremental_roas_ci_upper - c.incremental_roas_ci_lower;
            line.push_str(&format!(
                "\n  {:<10} {:.2} [{:.2}, {:.2}] t {:.2}{} m {:.2} [{:.2}, {:.2}] t {:.2}{} | {}",
                c.channel,
                c.incremental_roas,
                c.incremental_roas_ci_lower,
                c.incremental_roas_ci_upper,
                truth,
                if covered { "" } else { " MISS" },
                c.marginal_roas,
                m_lo,
                m_hi,
                m_truth,
                if m_covered { "" } else { " MISS" },
                c.response.as_ref().map_or(String::new(), |r| format!(
                    "{} ({} plausible, switch-off {:.2}..{:.2}) df {:.1}",
                    r.transform.describe(),
                    r.plausible_transforms,
                    r.switch_off_range.0,
                    r.switch_off_range.1,
                    c.df
                )),
            ));
            records.push(serde_json::json!({
                "preset": preset, "seed": seed, "channel": c.channel,
                "estimate": c.incremental_roas,
                "ci_lower": c.incremental_roas_ci_lower, "ci_upper": c.incremental_roas_ci_upper,
                "truth": truth, "covered": covered, "p_value": c.p_value,
                "marginal": c.marginal_roas, "marginal_ci_lower": m_lo,
                "marginal_ci_upper": m_hi, "marginal_truth": m_truth,
                "marginal_covered": m_covered,
                "transform": c.response.as_ref().map(|r| r.transform.describe()),
                "switch_off_range": c.response.as_ref().map(|r| [r.switch_off_range.0, r.switch_off_range.1]),
                "df": c.df.is_finite().then_some(c.df),
                "warned": confounding_warning,
            }));
        }
        if args.iter().any(|a| a == "--warnings") {
            for p in [
                &primary.diagnostics.placebo,
                &primary.diagnostics.placebo_next_day,
            ]
            .into_iter()
            .flatten()
            {
                line.push_str(&format!(
                    "\n    placebo {}: {:.3} [{:.3}, {:.3}] p {:.5}",
                    p.name, p.estimate, p.ci_lower, p.ci_upper, p.p_value
                ));
            }
            for s in &primary.diagnostics.spillover {
                line.push_str(&format!(
                    "\n    spillover {} -> {}: {:.3} [{:.3}, {:.3}] p {:.5}{}",
                    s.from,
                    s.to,
                    s.roas,
                    s.ci_lower,
                    s.ci_upper,
                    s.p_value,
                    if s.credited { " credited" } else { "" }
                ));
            }
            for s in &primary.diagnostics.cannibalization {
                line.push_str(&format!(
                    "\n    within {} ({} campaigns): marginal {:+.3} [{:.3}, {:.3}] p {:.5}{}",
                    s.channel,
                    s.campaigns,
                    s.marginal_shift,
                    s.ci_lower,
                    s.ci_upper,
                    s.p_value,
                    if s.applied { " applied" } else { "" }
                ));
            }
            for w in warnings {
                line.push_str(&format!("\n    warning: {w}"));
            }
        }
        println!(
            "{line}{}  ({:.1} s)",
            if confounding_warning { "  WARN" } else { "" },
            t0.elapsed().as_secs_f64()
        );
    }
    println!(
        "\n{:<11} {:>6} {:>9} {:>18} {:>10} {:>12} {:>10} {:>18} {:>10}",
        "channel",
        "seeds",
        "coverage",
        "Wilson 95%",
        "mean rel",
        "mean width",
        "m cover",
        "Wilson 95%",
        "m rel"
    );
    let (mut all_n, mut all_k) = (0, 0);
    for (channel, t) in &tallies {
        let (lo, hi) = wilson(t.covered, t.n);
        let (mlo, mhi) = wilson(t.m_covered, t.m_n);
        let n = t.n as f64;
        let (rel, mrel) = if channel == "tiktok" {
            ("—".to_owned(), "—".to_owned())
        } else {
            (
                format!("{:.1}%", 100.0 * t.rel_error / n),
                format!("{:.1}%", 100.0 * t.m_rel_error / n),
            )
        };
        println!(
            "{:<11} {:>6} {:>9.3} {:>18} {:>10} {:>12.3} {:>10.3} {:>18} {:>10}",
            channel,
            t.n,
            t.covered as f64 / n,
            format!("[{lo:.3}, {hi:.3}]"),
            rel,
            t.width / n,
            t.m_covered as f64 / t.m_n.max(1) as f64,
            format!("[{mlo:.3}, {mhi:.3}]"),
            mrel,
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
            "zero-effect channel significant at 5%: {}/{} seeds; mean |iROAS| {:.3}",
            t.significant,
            t.n,
            t.abs_error / t.n as f64
        );
    }
    println!(
        "seeds with a confounding warning (placebo, robustness or common spend): {warned_seeds}/{seeds}"
    );
    println!("seeds with a spillover warning: {spillover_seeds}/{seeds}");
    println!("seeds with a spillover credited: {credited_seeds}/{seeds}");
    println!("wall time {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&records)?)?;
        println!("wrote {path}");
    }
    Ok(())
}
