//! Do the data of a saturating world pin down its switch-off return? A two-world check
//! that needs no estimator.
//!
//! ```text
//! cargo run --release -p liftos-benches --bin saturation_identification -- \
//!     [--preset saturation] [--seeds 20] [--first 1] [--days 730] [--lr 1] [--json FILE]
//! ```
//!
//! For each world A of the preset (no carryover: `saturation` or `spillover`-free worlds
//! with Hill curves) and each channel with a Hill curve, it asks which other curves B
//! (Hill half-saturation and shape on a grid, the channel's return rescaled by least
//! squares) would have produced data that no method could tell from A's. The spend, the
//! calendar and every noise draw are A's own, so the two worlds differ only by the
//! channel's effect on each row, `τ_i R_A(s_i)` against `c τ_i R_B(s_i)`. What the data
//! cannot see is any difference that is a function of the calendar: a baseline that
//! follows the calendar is unknown to every estimator (the confounder), so a world B
//! whose baseline is A's plus `E[τ R_A(s) − c τ R_B(s) | calendar]` gives rows of the same
//! law up to the residual `D_i − E[D_i | calendar]`, the conditional expectation over
//! the budget noise (spend `= budget · demand^confounding · η`, `η` log-normal with sd
//! `budget_noise`; the sandbox's demand is a function of the calendar). The two worlds'
//! distance is what an oracle would see who knows everything else (the demand, the noise
//! law, the other channels): `δ² = Σ (residual / sd)²` (Gaussian noise: twice the
//! Kullback–Leibler divergence of the two worlds' data) over the channel's rows with
//! `sd = noise × expected baseline` (campaign level), and over days with the business's
//! noise on its baseline (business level). Worlds with `δ² ≤ --lr` (default 1: their
//! data's total variation distance is then at most 2Φ(½) − 1 = 0.38, so no test tells
//! them apart with power much above its level) cannot be told apart: for A's true
//! switch-off return `a` and a close world's `b`, any estimate is off by at least
//! `|b − a| / (a + b)` relative to the truth on one of the two, with probability at least
//! (1 − 0.38) / 2 = 0.31 (Le Cam's two-point bound), unless it is told the curve.
//!
//! Two families of B: `preset`, curves the preset itself draws (shape in [1, 2],
//! half-saturation in [0.5, min(2, 0.8·(S−1)^(−1/S))] × budget), and `wide`, shape
//! 0.5–3 and half-saturation 0.25–4 × budget. Real estimators know less than the oracle
//! (the demand is estimated, the noise may be autocorrelated), so for them more worlds
//! are close, not fewer.

use std::collections::BTreeMap;
use std::time::Instant;

use liftos_sandbox::{Intervention, Preset, Saturation, World, WorldConfig};
use rayon::prelude::*;

use liftos_benches::{BoxError, arg};

/// `K x^S / (1 + x^S)` with `x = a / K`: the sandbox's Hill response.
fn hill(a: f64, k: f64, shape: f64) -> f64 {
    let p = (a / k).max(0.0).powf(shape);
    k * p / (1.0 + p)
}

/// Nodes and weights of a standard normal over [−6, 6].
fn normal_nodes() -> Vec<(f64, f64)> {
    let n = 241;
    let raw: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let z = -6.0 + 12.0 * i as f64 / (n - 1) as f64;
            (z, (-z * z / 2.0).exp())
        })
        .collect();
    let total: f64 = raw.iter().map(|r| r.1).sum();
    raw.into_iter().map(|(z, w)| (z, w / total)).collect()
}

/// One row of the channel: what the two-world distance needs.
struct RowFacts {
    day: usize,
    spend: f64,
    budget: f64,
    /// Expected spend given the calendar, before the budget noise: `budget · demand^conf`.
    level: f64,
    /// The row's true return per unit of response (`τ_i`), from A's own effect.
    tau: f64,
    /// A's effect on the row.
    effect: f64,
    /// 1 / variance of the row's baseline noise.
    weight: f64,
    /// The row's baseline minus its expectation given the calendar: its noise draw.
    noise: f64,
}

/// `E[R(level · η)]` over the budget noise `η = exp(sd z − sd²/2)`.
fn expected(level: f64, k: f64, shape: f64, sd: f64, nodes: &[(f64, f64)]) -> f64 {
    nodes
        .iter()
        .map(|&(z, w)| w * hill(level * (sd * z - sd * sd / 2.0).exp(), k, shape))
        .sum()
}

/// `min_c Σ w (a − c b)²` and its `c`.
fn scaled_distance(a: &[f64], b: &[f64], w: &[f64]) -> (f64, f64) {
    let (mut ab, mut bb) = (0.0, 0.0);
    for ((x, y), w) in a.iter().zip(b).zip(w) {
        ab += w * x * y;
        bb += w * y * y;
    }
    let c = if bb > 0.0 { ab / bb } else { 0.0 };
    let d = a
        .iter()
        .zip(b)
        .zip(w)
        .map(|((x, y), w)| w * (x - c * y).powi(2))
        .sum();
    (d, c)
}

fn preset_bound(shape: f64) -> f64 {
    if shape > 1.0 {
        (0.8 * (shape - 1.0).powf(-1.0 / shape)).min(2.0)
    } else {
        2.0
    }
}

/// A candidate world B's distances to A and its true switch-off return per level.
struct Candidate {
    half_saturation: f64,
    shape: f64,
    in_preset: bool,
    campaign_lr: f64,
    campaign_iroas: f64,
    business_lr: f64,
    business_iroas: f64,
}

/// The residuals `effect − τ E[R(level η)]` per row and per day for the curve (h, S).
fn residuals(
    rows: &[RowFacts],
    h: f64,
    shape: f64,
    sd: f64,
    nodes: &[(f64, f64)],
    days: usize,
    effects: Option<&[f64]>,
) -> (Vec<f64>, Vec<f64>, f64) {
    let mut per_day = vec![0.0; days];
    let mut total = 0.0;
    let per_row: Vec<f64> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let k = h * r.budget;
            let effect = effects.map_or_else(|| r.tau * hill(r.spend, k, shape), |e| e[i]);
            total += effect;
            let residual = effect - r.tau * expected(r.level, k, shape, sd, nodes);
            per_day[r.day] += residual;
            residual
        })
        .collect();
    (per_row, per_day, total)
}

/// A channel's close-world candidates in one world.
struct ChannelFit {
    /// The world's true switch-off return.
    truth: f64,
    /// What an estimator with the oracle's knowledge but A's noisy rows would choose: the
    /// curve (wide grid, then the preset's family) and its return scale fitting the rows'
    /// residuals best, campaign level then business level; each its switch-off return.
    oracle_estimates: [f64; 4],
    /// The same from the rows' effects (equal to `truth` without carryover).
    rows_roas: f64,
    candidates: Vec<Candidate>,
}

/// Every curve of `grid` as world B for the channel `name` of `world` (None: no Hill
/// curve or no effect).
fn channel_candidates(
    config: &WorldConfig,
    world: &World,
    name: &str,
    grid: &[(f64, f64)],
    business_weight: &[f64],
    business_noise: &[f64],
) -> Result<Option<ChannelFit>, BoxError> {
    let ch = config
        .channel(name)
        .ok_or_else(|| format!("no channel {name}"))?;
    let Saturation::Hill {
        half_saturation,
        shape,
    } = ch.saturation
    else {
        return Ok(None);
    };
    if ch.roas == 0.0 {
        return Ok(None);
    }
    let nodes = normal_nodes();
    let n_days = config.days as usize;
    let budget_of: BTreeMap<&str, f64> = ch
        .campaigns
        .iter()
        .map(|c| (c.name.as_str(), c.daily_budget))
        .collect();
    let mut rows = Vec::new();
    for r in world.rows().filter(|r| r.channel == name) {
        let budget = *budget_of
            .get(r.campaign)
            .ok_or_else(|| format!("no campaign {} in {name}", r.campaign))?;
        let response = hill(r.spend, half_saturation * budget, shape);
        rows.push(RowFacts {
            day: usize::try_from((r.date - config.start).num_days())?,
            spend: r.spend,
            budget,
            level: budget * r.demand.powf(config.confounding),
            tau: r.incremental_revenue / response,
            effect: r.incremental_revenue,
            weight: 1.0 / (config.noise * ch.organic_ratio * budget * r.demand).powi(2),
            noise: r.baseline_revenue - ch.organic_ratio * budget * r.demand,
        });
    }
    let spend: f64 = rows.iter().map(|r| r.spend).sum();
    let truth = world
        .truth()
        .channel(name)
        .map_or(f64::NAN, |t| t.incremental_roas);
    let effects: Vec<f64> = rows.iter().map(|r| r.effect).collect();
    let weights: Vec<f64> = rows.iter().map(|r| r.weight).collect();
    let (a_row, a_day, a_total) = residuals(
        &rows,
        half_saturation,
        shape,
        config.budget_noise,
        &nodes,
        n_days,
        Some(&effects),
    );
    let observed_row: Vec<f64> = a_row.iter().zip(&rows).map(|(a, r)| a + r.noise).collect();
    let observed_day: Vec<f64> = a_day
        .iter()
        .zip(business_noise)
        .map(|(a, e)| a + e)
        .collect();
    let candidates: Vec<(Candidate, [(f64, f64); 2])> = grid
        .par_iter()
        .map(|&(h, s)| {
            let (b_row, b_day, b_total) =
                residuals(&rows, h, s, config.budget_noise, &nodes, n_days, None);
            let (campaign_lr, c) = scaled_distance(&a_row, &b_row, &weights);
            let (business_lr, c_bus) = scaled_distance(&a_day, &b_day, business_weight);
            let (fit_row, c_fit_row) = scaled_distance(&observed_row, &b_row, &weights);
            let (fit_day, c_fit_day) = scaled_distance(&observed_day, &b_day, business_weight);
            let fits = [
                (fit_row, c_fit_row * b_total / spend),
                (fit_day, c_fit_day * b_total / spend),
            ];
            let candidate = Candidate {
                half_saturation: h,
                shape: s,
                in_preset: (1.0..=2.0).contains(&s) && (0.5..=preset_bound(s)).contains(&h),
                campaign_lr,
                campaign_iroas: c * b_total / spend,
                business_lr,
                business_iroas: c_bus * b_total / spend,
            };
            (candidate, fits)
        })
        .collect();
    let best = |level: usize, preset_only: bool| {
        candidates
            .iter()
            .filter(|(c, _)| !preset_only || c.in_preset)
            .map(|(_, fits)| fits[level])
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(f64::NAN, |f| f.1)
    };
    let oracle_estimates = [best(0, false), best(0, true), best(1, false), best(1, true)];
    let candidates = candidates.into_iter().map(|(c, _)| c).collect();
    Ok(Some(ChannelFit {
        truth,
        oracle_estimates,
        rows_roas: a_total / spend,
        candidates,
    }))
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = arg(&args, "--seeds", 20)?;
    let first: u64 = arg(&args, "--first", 1)?;
    let days: u32 = arg(&args, "--days", 730)?;
    let preset: String = arg(&args, "--preset", "saturation".to_string())?;
    let max_lr: f64 = arg(&args, "--lr", 1.0)?;
    let json: Option<String> = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    let p = Preset::parse(&preset)?;
    let shapes: Vec<f64> = (0..=25).map(|i| 0.5 + 0.1 * f64::from(i)).collect();
    let halves: Vec<f64> = (0..=32)
        .map(|i| 0.25 * 2f64.powf(f64::from(i) / 8.0))
        .collect();
    let grid: Vec<(f64, f64)> = shapes
        .iter()
        .flat_map(|&s| halves.iter().map(move |&h| (h, s)))
        .collect();
    println!(
        "saturation identification: preset {preset}, seeds {first}..{}, {days} days, worlds within an oracle's distance δ² <= {max_lr}",
        first + seeds - 1
    );
    let started = Instant::now();
    let mut bounds: BTreeMap<(String, &str, &str), Vec<f64>> = BTreeMap::new();
    let mut records = Vec::new();
    let mut oracle_errors: BTreeMap<(String, &str), Vec<f64>> = BTreeMap::new();
    for seed in first..first + seeds {
        let config = WorldConfig::preset(p, seed).with_days(days);
        if config.budget_steps.is_some()
            || config.latent_shock.is_some()
            || config.feedback > 0.0
            || config.channels.iter().any(|c| c.adstock_decay > 0.0)
        {
            return Err(format!(
                "preset {preset}: the check needs spend = budget x demand x noise (no carryover, budget steps, hidden shock or feedback)"
            )
            .into());
        }
        let world = World::generate(&config)?;
        let business = world.business_days(Intervention::None)?;
        let business_weight: Vec<f64> = business
            .iter()
            .map(|d| 1.0 / (config.business.noise * d.baseline.max(1e-9)).powi(2))
            .collect();
        // The business's baseline is `level × demand × noise` (liftos-sandbox's business.rs).
        let level: f64 = config
            .channels
            .iter()
            .flat_map(|ch| {
                ch.campaigns
                    .iter()
                    .map(|k| ch.organic_ratio * k.daily_budget)
            })
            .sum::<f64>()
            * config.business.organic_factor;
        let mut demand = vec![f64::NAN; days as usize];
        for r in world.rows() {
            demand[usize::try_from((r.date - config.start).num_days())?] = r.demand;
        }
        let business_noise: Vec<f64> = business
            .iter()
            .zip(&demand)
            .map(|(d, &m)| {
                if m.is_finite() {
                    d.baseline - level * m
                } else {
                    0.0
                }
            })
            .collect();
        for ch in &config.channels {
            let Saturation::Hill {
                half_saturation,
                shape,
            } = ch.saturation
            else {
                continue;
            };
            if ch.roas == 0.0 {
                continue;
            }
            let name = ch.name.as_str();
            let Some(fit) = channel_candidates(
                &config,
                &world,
                name,
                &grid,
                &business_weight,
                &business_noise,
            )?
            else {
                continue;
            };
            let (truth, a_total_roas, candidates) = (fit.truth, fit.rows_roas, &fit.candidates);
            let [wide_c, preset_c, wide_b, preset_b] = fit.oracle_estimates;
            for (key, estimate) in [
                ("campaign, wide grid", wide_c),
                ("campaign, preset's family", preset_c),
                ("business, wide grid", wide_b),
                ("business, preset's family", preset_b),
            ] {
                oracle_errors
                    .entry((name.to_string(), key))
                    .or_default()
                    .push((estimate - truth).abs() / truth);
            }
            let mut line = format!(
                "seed {seed:>3} {name:<10} true Hill h {half_saturation:.3} S {shape:.3}, switch-off iROAS {truth:.3} (rows: {a_total_roas:.3}); the oracle's best fit to the rows: campaign {wide_c:.3} (preset's family {preset_c:.3}), business {wide_b:.3} ({preset_b:.3})"
            );
            for family in ["preset", "wide"] {
                for level in ["campaign", "business"] {
                    let values: Vec<f64> = candidates
                        .iter()
                        .filter(|c| family == "wide" || c.in_preset)
                        .filter_map(|c| {
                            let (lr, v) = if level == "campaign" {
                                (c.campaign_lr, c.campaign_iroas)
                            } else {
                                (c.business_lr, c.business_iroas)
                            };
                            (lr <= max_lr).then_some(v)
                        })
                        .collect();
                    let lo = values.iter().copied().fold(truth, f64::min);
                    let hi = values.iter().copied().fold(truth, f64::max);
                    // Two points, A and its farthest close world: an estimate e has
                    // max(|e − a|/a, |e − b|/b) >= |b − a| / (a + b).
                    let bound = values
                        .iter()
                        .map(|b| (b - truth).abs() / (b + truth))
                        .fold(0.0, f64::max);
                    line.push_str(&format!(
                        "\n    {family:<6} {level:<8} {:>4} worlds within {max_lr}: switch-off {lo:.3}..{hi:.3} ({:.2}x), any estimator off by >= {:.1}% on one of two",
                        values.len(),
                        hi / lo,
                        100.0 * bound
                    ));
                    bounds
                        .entry((name.to_string(), family, level))
                        .or_default()
                        .push(bound);
                    records.push(serde_json::json!({
                        "seed": seed, "channel": name, "family": family, "level": level,
                        "true_half_saturation": half_saturation, "true_shape": shape,
                        "truth": truth, "close_worlds": values.len(),
                        "lo": lo, "hi": hi, "bound": bound,
                    }));
                }
            }
            if let Some(b) = candidates
                .iter()
                .filter(|c| (c.shape - shape).abs() > 0.45)
                .min_by(|a, b| a.campaign_lr.total_cmp(&b.campaign_lr))
            {
                line.push_str(&format!(
                    "\n    closest curve with a shape 0.5 or more away: h {:.3} S {:.1}, campaign-level distance {:.3}, switch-off {:.3}",
                    b.half_saturation, b.shape, b.campaign_lr, b.campaign_iroas
                ));
            }
            println!("{line}");
        }
    }
    println!(
        "\nmean lower bound on the worse relative error of two indistinguishable worlds (δ² <= {max_lr}):"
    );
    for ((channel, family, level), v) in &bounds {
        println!(
            "  {channel:<10} {family:<6} {level:<8} {:.1}% (median {:.1}%, {} worlds)",
            100.0 * v.iter().sum::<f64>() / v.len() as f64,
            100.0 * median(v),
            v.len()
        );
    }
    println!(
        "\nmean relative error of the oracle's best-fitting curve (the demand, noise law, other channels and each row's return pattern known; the curve and the return's scale fitted to the noisy rows):"
    );
    for ((channel, key), v) in &oracle_errors {
        println!(
            "  {channel:<10} {key:<26} {:.1}% (median {:.1}%, {} worlds)",
            100.0 * v.iter().sum::<f64>() / v.len() as f64,
            100.0 * median(v),
            v.len()
        );
    }
    println!("wall time {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&records)?)?;
        println!("wrote {path}");
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        f64::NAN
    } else if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        0.5 * (s[s.len() / 2 - 1] + s[s.len() / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worlds_own_curve_is_at_distance_zero_and_others_are_not() {
        let config = WorldConfig::preset(Preset::Saturation, 1).with_days(240);
        let world = World::generate(&config).unwrap();
        let ones = vec![1.0; 240];
        let Some(Saturation::Hill {
            half_saturation,
            shape,
        }) = config.channel("meta").map(|c| c.saturation)
        else {
            panic!("the saturation preset gives meta a Hill curve");
        };
        let grid = [(half_saturation, shape), (0.25, 3.0), (4.0, 0.5)];
        let zeros = vec![0.0; 240];
        let fit = channel_candidates(&config, &world, "meta", &grid, &ones, &zeros)
            .unwrap()
            .unwrap();
        assert!((fit.rows_roas - fit.truth).abs() < 1e-9 * fit.truth);
        let own = &fit.candidates[0];
        assert!(own.campaign_lr < 1e-9 && own.business_lr < 1e-9);
        assert!((own.campaign_iroas - fit.truth).abs() < 1e-9 * fit.truth);
        for far in &fit.candidates[1..] {
            assert!(far.campaign_lr > 1.0, "{} {}", far.shape, far.campaign_lr);
        }
        assert!(
            channel_candidates(&config, &world, "tiktok", &grid, &ones, &zeros)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_expectation_over_the_budget_noise_keeps_a_linear_response() {
        // Far below its half-saturation a shape-1 Hill curve is the line `a`, and the
        // budget noise has mean 1.
        let nodes = normal_nodes();
        let e = expected(2.0, 1e9, 1.0, 0.35, &nodes);
        assert!((e - 2.0).abs() < 1e-6, "{e}");
    }
}
