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
    /// Index of the row's campaign in the channel's configuration.
    campaign: usize,
    day: usize,
    budget: f64,
    /// The row's exposure (its spend carried over, `a_t = s_t + θ a_{t−1}`).
    exposure: f64,
    /// Expected spend given the calendar, before the budget noise: `budget · demand^conf`.
    level: f64,
    /// The row's true return per unit of response (`τ_i`), from A's own effect.
    tau: f64,
    /// A's effect on the row.
    effect: f64,
    /// Standard deviation of the row's baseline noise.
    sd: f64,
    /// The row's baseline minus its expectation given the calendar: its noise draw.
    noise: f64,
}

/// How the expectation of a response given the calendar is taken.
enum Expectation {
    /// Spend `= level · η` with no carryover and no budget steps: a quadrature over `η`.
    Quadrature { sd: f64, nodes: Vec<(f64, f64)> },
    /// Otherwise: the exposures of `paths` simulated spend series per row (budget steps
    /// and budget noise redrawn, the calendar fixed), averaged.
    Paths(Vec<Vec<f64>>),
}

impl Expectation {
    fn of(&self, i: usize, r: &RowFacts, k: f64, shape: f64) -> f64 {
        match self {
            Expectation::Quadrature { sd, nodes } => expected(r.level, k, shape, *sd, nodes),
            Expectation::Paths(paths) => {
                let p = &paths[i];
                p.iter().map(|&a| hill(a, k, shape)).sum::<f64>() / p.len() as f64
            }
        }
    }
}

/// The linear map that makes AR(1) noise with coefficient `phi` and standard deviations
/// `sd` independent with unit variance, applied to `values` along each series (`series[i]`
/// names row i's series, `day[i]` its day; rows of a series in day order): `v = (u_t −
/// φ^g u_{t−g}) / √(1 − φ^{2g})`, `u = value / sd`, `g` the days since the series' row
/// before (its first row: `v = u`).
fn whiten(values: &[f64], sd: &[f64], series: &[usize], day: &[usize], phi: f64) -> Vec<f64> {
    let mut last: BTreeMap<usize, (usize, f64)> = BTreeMap::new();
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let u = v / sd[i];
            let out = match last.get(&series[i]) {
                Some(&(d, prev)) if phi > 0.0 => {
                    let rho = phi.powi(i32::try_from(day[i] - d).unwrap_or(i32::MAX));
                    (u - rho * prev) / (1.0 - rho * rho).sqrt()
                }
                _ => u,
            };
            last.insert(series[i], (day[i], u));
            out
        })
        .collect()
}

/// `E[R(level · η)]` over the budget noise `η = exp(sd z − sd²/2)`.
fn expected(level: f64, k: f64, shape: f64, sd: f64, nodes: &[(f64, f64)]) -> f64 {
    nodes
        .iter()
        .map(|&(z, w)| w * hill(level * (sd * z - sd * sd / 2.0).exp(), k, shape))
        .sum()
}

/// `min_c Σ (a − c b)²` and its `c`.
fn scaled_distance(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (mut ab, mut bb) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        bb += y * y;
    }
    let c = if bb > 0.0 { ab / bb } else { 0.0 };
    let d = a.iter().zip(b).map(|(x, y)| (x - c * y).powi(2)).sum();
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

/// The residuals `effect − τ E[R(a) | calendar]` per row and per day for the curve
/// (h, S) (`K = h × budget / (1 − θ)`, as the sandbox's), and the effects' total.
fn residuals(
    rows: &[RowFacts],
    curve: (f64, f64, f64),
    expectation: &Expectation,
    days: usize,
    effects: Option<&[f64]>,
) -> (Vec<f64>, Vec<f64>, f64) {
    let (h, shape, theta) = curve;
    let mut per_day = vec![0.0; days];
    let mut total = 0.0;
    let per_row: Vec<f64> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let k = h * r.budget / (1.0 - theta);
            let effect = effects.map_or_else(|| r.tau * hill(r.exposure, k, shape), |e| e[i]);
            total += effect;
            let residual = effect - r.tau * expectation.of(i, r, k, shape);
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

/// The business's daily baseline noise: its draws, standard deviations and AR(1)
/// coefficient (from A, the same in every B).
struct BusinessNoise {
    noise: Vec<f64>,
    sd: Vec<f64>,
    phi: f64,
}

/// Every curve of `grid` as world B for the channel `name` of `world` (None: no Hill
/// curve or no effect). `demand[t]` is day t's demand; `paths` the number of simulated
/// spend series when the expectation needs them (carryover or budget steps).
fn channel_candidates(
    config: &WorldConfig,
    world: &World,
    name: &str,
    grid: &[(f64, f64)],
    business: &BusinessNoise,
    demand: &[f64],
    paths: usize,
) -> Result<Option<ChannelFit>, BoxError> {
    let ci = config
        .channels
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| format!("no channel {name}"))?;
    let ch = &config.channels[ci];
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
    let theta = ch.adstock_decay;
    let n_days = config.days as usize;
    let index_of: BTreeMap<&str, usize> = ch
        .campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    // Each campaign's rows in day order, its exposure carried over the days between.
    let mut rows = Vec::new();
    let mut carried: BTreeMap<usize, (usize, f64)> = BTreeMap::new();
    for r in world.rows().filter(|r| r.channel == name) {
        let campaign = *index_of
            .get(r.campaign)
            .ok_or_else(|| format!("no campaign {} in {name}", r.campaign))?;
        let budget = ch.campaigns[campaign].daily_budget;
        let day = usize::try_from((r.date - config.start).num_days())?;
        let exposure = match carried.get(&campaign) {
            Some(&(d, a)) => r.spend + a * theta.powi(i32::try_from(day - d)?),
            None => r.spend,
        };
        carried.insert(campaign, (day, exposure));
        let k = half_saturation * budget / (1.0 - theta);
        let mean_baseline = ch.organic_ratio * budget * r.demand;
        rows.push(RowFacts {
            campaign,
            day,
            budget,
            exposure,
            level: budget * r.demand.powf(config.confounding),
            tau: r.incremental_revenue / hill(exposure, k, shape),
            effect: r.incremental_revenue,
            sd: config.noise * mean_baseline,
            noise: r.baseline_revenue - mean_baseline,
        });
    }
    let expectation = if theta == 0.0 && config.budget_steps.is_none() {
        Expectation::Quadrature {
            sd: config.budget_noise,
            nodes: normal_nodes(),
        }
    } else {
        Expectation::Paths(simulated_exposures(config, ci, &rows, demand, paths)?)
    };
    let spend: f64 = world.truth().channel(name).map_or(f64::NAN, |t| t.spend);
    let truth = world
        .truth()
        .channel(name)
        .map_or(f64::NAN, |t| t.incremental_roas);
    let effects: Vec<f64> = rows.iter().map(|r| r.effect).collect();
    let sd: Vec<f64> = rows.iter().map(|r| r.sd).collect();
    let series: Vec<usize> = rows.iter().map(|r| r.campaign).collect();
    let day: Vec<usize> = rows.iter().map(|r| r.day).collect();
    let all_days: Vec<usize> = (0..n_days).collect();
    let zeros = vec![0; n_days];
    let phi = config.noise_ar;
    let white_row = |v: &[f64]| whiten(v, &sd, &series, &day, phi);
    let white_day = |v: &[f64]| whiten(v, &business.sd, &zeros, &all_days, business.phi);
    let (a_row, a_day, a_total) = residuals(
        &rows,
        (half_saturation, shape, theta),
        &expectation,
        n_days,
        Some(&effects),
    );
    let noise_row: Vec<f64> = rows.iter().map(|r| r.noise).collect();
    let observed_row = white_row(&add(&a_row, &noise_row));
    let observed_day = white_day(&add(&a_day, &business.noise));
    let (a_row, a_day) = (white_row(&a_row), white_day(&a_day));
    let candidates: Vec<(Candidate, [(f64, f64); 2])> = grid
        .par_iter()
        .map(|&(h, s)| {
            let (b_row, b_day, b_total) =
                residuals(&rows, (h, s, theta), &expectation, n_days, None);
            let (b_row, b_day) = (white_row(&b_row), white_day(&b_day));
            let (campaign_lr, c) = scaled_distance(&a_row, &b_row);
            let (business_lr, c_bus) = scaled_distance(&a_day, &b_day);
            let (fit_row, c_fit_row) = scaled_distance(&observed_row, &b_row);
            let (fit_day, c_fit_day) = scaled_distance(&observed_day, &b_day);
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
        rows_roas: a_total / spend,
        oracle_estimates,
        candidates,
    }))
}

fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// For every row, its exposure in `paths` simulated spend series of its campaign: the
/// calendar fixed (`budget · demand^confounding` per day), the budget noise and the budget
/// steps (blocks and levels, as the sandbox draws them) redrawn, carried over with the
/// channel's decay; days without a row of the campaign (a Klaviyo campaign's non-send
/// days) spend nothing.
fn simulated_exposures(
    config: &WorldConfig,
    channel: usize,
    rows: &[RowFacts],
    demand: &[f64],
    paths: usize,
) -> Result<Vec<Vec<f64>>, BoxError> {
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};
    let theta = config.channels[channel].adstock_decay;
    let unit = |sd: f64, z: f64| (sd * z - sd * sd / 2.0).exp();
    let mut out = vec![Vec::with_capacity(paths); rows.len()];
    let mut by_campaign: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        by_campaign.entry(r.campaign).or_default().push(i);
    }
    for (campaign, members) in &by_campaign {
        let (first, last) = (rows[members[0]].day, rows[members[members.len() - 1]].day);
        let budget = rows[members[0]].budget;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
            config.seed ^ ((channel as u64) << 32) ^ (*campaign as u64),
        );
        let mut spends_row = vec![false; last + 1 - first];
        for &i in members {
            spends_row[rows[i].day - first] = true;
        }
        for _ in 0..paths {
            let mut levels = Vec::with_capacity(last + 1 - first);
            if let Some(b) = config.budget_steps {
                while levels.len() < last + 1 - first {
                    let block = rng.random_range(b.min_block_days..=b.max_block_days) as usize;
                    let z: f64 = StandardNormal.sample(&mut rng);
                    let level = unit(b.level_sd, z);
                    let take = block.min(last + 1 - first - levels.len());
                    levels.extend(std::iter::repeat_n(level, take));
                }
            } else {
                levels.resize(last + 1 - first, 1.0);
            }
            let mut exposure = 0.0;
            let mut member = members.iter().peekable();
            for t in first..=last {
                let z: f64 = StandardNormal.sample(&mut rng);
                let s = if spends_row[t - first] {
                    budget
                        * demand[t].powf(config.confounding)
                        * unit(config.budget_noise, z)
                        * levels[t - first]
                } else {
                    0.0
                };
                exposure = s + theta * exposure;
                if let Some(&&i) = member.peek()
                    && rows[i].day == t
                {
                    out[i].push(exposure);
                    member.next();
                }
            }
        }
    }
    Ok(out)
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = arg(&args, "--seeds", 20)?;
    let first: u64 = arg(&args, "--first", 1)?;
    let days: u32 = arg(&args, "--days", 730)?;
    let preset: String = arg(&args, "--preset", "saturation".to_string())?;
    let max_lr: f64 = arg(&args, "--lr", 1.0)?;
    let paths: usize = arg(&args, "--paths", 64)?;
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
        if config.latent_shock.is_some() || config.feedback > 0.0 || config.spillover.is_some() {
            return Err(format!(
                "preset {preset}: the check needs a world whose only confounder is the calendar and whose effects land in their own rows (no hidden shock, feedback or spillover)"
            )
            .into());
        }
        let world = World::generate(&config)?;
        let business = world.business_days(Intervention::None)?;
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
        let business_noise = BusinessNoise {
            noise: business
                .iter()
                .zip(&demand)
                .map(|(d, &m)| d.baseline - level * m)
                .collect(),
            sd: demand
                .iter()
                .map(|&m| config.business.noise * level * m)
                .collect(),
            phi: config.noise_ar,
        };
        if demand.iter().any(|d| !d.is_finite()) {
            return Err(format!("seed {seed}: a day without rows").into());
        }
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
                &business_noise,
                &demand,
                paths,
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

    /// The world, its demand per day and its business noise with unit standard deviations.
    fn world(preset: Preset, days: u32) -> (WorldConfig, World, Vec<f64>, BusinessNoise) {
        let config = WorldConfig::preset(preset, 1).with_days(days);
        let world = World::generate(&config).unwrap();
        let mut demand = vec![f64::NAN; days as usize];
        for r in world.rows() {
            demand[usize::try_from((r.date - config.start).num_days()).unwrap()] = r.demand;
        }
        let business = BusinessNoise {
            noise: vec![0.0; days as usize],
            sd: vec![1.0; days as usize],
            phi: 0.0,
        };
        (config, world, demand, business)
    }

    #[test]
    fn the_worlds_own_curve_is_at_distance_zero_and_others_are_not() {
        for (preset, channel) in [
            (Preset::Saturation, "meta"),
            (Preset::Realistic, "google_ads"),
            (Preset::Realistic, "klaviyo"),
        ] {
            let (config, world, demand, business) = world(preset, 240);
            let Some(Saturation::Hill {
                half_saturation,
                shape,
            }) = config.channel(channel).map(|c| c.saturation)
            else {
                panic!("{preset:?} gives {channel} a Hill curve");
            };
            let grid = [(half_saturation, shape), (0.25, 3.0), (4.0, 0.5)];
            let fit = channel_candidates(&config, &world, channel, &grid, &business, &demand, 16)
                .unwrap()
                .unwrap();
            // The rows' effects add up to the re-simulated truth (carryover inside the
            // window included), so the exposures and returns recovered are the world's.
            assert!(
                (fit.rows_roas - fit.truth).abs() < 1e-9 * fit.truth,
                "{preset:?} {channel}: {} vs {}",
                fit.rows_roas,
                fit.truth
            );
            let own = &fit.candidates[0];
            assert!(own.campaign_lr < 1e-9 && own.business_lr < 1e-9);
            assert!((own.campaign_iroas - fit.truth).abs() < 1e-9 * fit.truth);
            for far in &fit.candidates[1..] {
                assert!(far.campaign_lr > 1.0, "{} {}", far.shape, far.campaign_lr);
            }
            assert!(
                channel_candidates(&config, &world, "tiktok", &grid, &business, &demand, 16)
                    .unwrap()
                    .is_none()
            );
        }
    }

    #[test]
    fn recovered_exposures_give_the_worlds_own_marginal_returns() {
        // The world's marginal return per row is τ_i · R'(a_i): with the exposure carried
        // over as the sandbox does, τ_i = effect / R(a_i) reproduces it.
        let (config, world, _, _) = world(Preset::Realistic, 200);
        let ch = config.channel("meta").unwrap();
        let Saturation::Hill {
            half_saturation,
            shape,
        } = ch.saturation
        else {
            panic!("a Hill curve");
        };
        let theta = ch.adstock_decay;
        assert!(theta > 0.0);
        let start = config.start;
        let mut carried: BTreeMap<String, (i64, f64)> = BTreeMap::new();
        let mut checked = 0;
        for r in world.rows().filter(|r| r.channel == "meta") {
            let budget = ch
                .campaigns
                .iter()
                .find(|c| c.name == r.campaign)
                .unwrap()
                .daily_budget;
            let day = (r.date - start).num_days();
            let a = match carried.get(r.campaign) {
                Some(&(d, a)) => r.spend + a * theta.powi(i32::try_from(day - d).unwrap()),
                None => r.spend,
            };
            carried.insert(r.campaign.to_string(), (day, a));
            let k = half_saturation * budget / (1.0 - theta);
            let x = a / k;
            let slope = shape * x.powf(shape - 1.0) / (1.0 + x.powf(shape)).powi(2);
            let tau = r.incremental_revenue / hill(a, k, shape);
            // The row's own effect includes none of the later days', so τ·R(a) is it.
            assert!(
                (tau * slope - r.tau).abs() < 1e-6 * r.tau.abs().max(1e-9),
                "{} {}: {} vs {}",
                r.campaign,
                r.date,
                tau * slope,
                r.tau
            );
            checked += 1;
        }
        assert!(checked > 400, "{checked}");
    }

    #[test]
    fn whitening_makes_ar1_noise_independent() {
        // Two series, AR(1) with φ = 0.6 and a gap of two days in the second: the map sends
        // u to independent unit draws, so a series built from known draws comes back.
        let phi: f64 = 0.6;
        let draws = [0.3, -1.2, 0.7, 0.1, 2.0];
        let day = [0, 1, 0, 2, 3];
        let series = [0, 0, 1, 1, 1];
        let sd = [2.0, 2.0, 1.0, 1.0, 1.0];
        let mut u = [0.0; 5];
        u[0] = draws[0];
        u[1] = phi * u[0] + (1.0 - phi * phi).sqrt() * draws[1];
        u[2] = draws[2];
        let rho2 = phi * phi;
        u[3] = rho2 * u[2] + (1.0 - rho2 * rho2).sqrt() * draws[3];
        u[4] = phi * u[3] + (1.0 - phi * phi).sqrt() * draws[4];
        let values: Vec<f64> = u.iter().zip(&sd).map(|(u, s)| u * s).collect();
        let back = whiten(&values, &sd, &series, &day, phi);
        for (b, d) in back.iter().zip(&draws) {
            assert!((b - d).abs() < 1e-12, "{back:?}");
        }
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
