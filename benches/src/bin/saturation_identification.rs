//! Do the data of a saturating world pin down its switch-off return? A two-world check
//! that needs no estimator.
//!
//! ```text
//! cargo run --release -p liftos-benches --bin saturation_identification -- \
//!     [--preset saturation|realistic] [--seeds 20] [--first 1] [--days 730]
//!     [--max-distance 1] [--paths 64] [--json FILE]
//! ```
//!
//! For each world A of the preset (its only confounder the calendar, every effect in its
//! own rows: no hidden shock, feedback or spillover) and each channel with a Hill curve,
//! it asks which other curves B (Hill half-saturation and shape on a grid, the channel's
//! return rescaled by least squares, never below zero) would have produced data that are
//! hard to tell from A's. The spend, the calendar, the carryover and every noise draw are
//! A's own, so the two worlds differ only by the channel's effect on each row,
//! `τ_i R_A(a_i)` against `c τ_i R_B(a_i)`. A method that leaves the baseline free to
//! follow the calendar (the confounder) cannot see a difference that is a function of the
//! calendar: a world B whose baseline is A's plus `E[τ R_A(a) − c τ R_B(a) | calendar]`
//! gives rows of the same law up to the residual `D_i − E[D_i | calendar]`, the
//! expectation over the budget noise and budget steps (spend `= budget ·
//! demand^confounding · η · step level`; the sandbox's demand is a function of the
//! calendar): by quadrature over `η` when nothing carries over and budgets have no steps,
//! else over `--paths` simulated spend series. The two worlds' distance is what an oracle
//! would see who knows everything else (the demand, the carryover, the noise law, the
//! other channels, every row's return pattern): `δ² = Σ (residual / sd)²` after
//! whitening the AR(1) noise, over the channel's rows with `sd = noise × expected
//! baseline` (campaign level), and over days with the business's noise on its baseline
//! (business level). The noise is taken as Gaussian (the sandbox's is log-normal with sd
//! 0.15 on a row's baseline, 0.05 on the business's: δ² is then understated by about 9%
//! and 1%). For Gaussian noise `δ²` is twice the Kullback–Leibler divergence, and two
//! worlds with `δ² ≤ --max-distance` (default 1) are at most `TV = 2Φ(√δ²/2) − 1` apart in
//! total variation (0.38 at 1, 0.68 at 4): for A's true switch-off return `a` and a close
//! world's `b`, any estimate is off by at least `|b − a| / (a + b)` relative to the truth on
//! one of the two with probability at least `(1 − TV) / 2` (0.31 at 1, 0.16 at 4; Le Cam's
//! two-point bound), unless it is told the curve or the baseline's form. That is a bound on
//! what can be promised, not on a mean error.
//!
//! It also reports the oracle's own estimate: the grid curve and scale that fit A's noisy
//! rows best (a grid maximum-likelihood fit, one estimator among many, with everything but
//! the curve known).
//!
//! Two families of B: `preset`, curves the preset itself draws (shape in [1, 2],
//! half-saturation in [0.5, min(2, 0.8·(S−1)^(−1/S))] × budget), and `wide`, shape
//! 0.5–3 and half-saturation 0.25–4 × budget (858 curves).

use std::collections::BTreeMap;
use std::time::Instant;

use liftos_sandbox::{Intervention, Preset, Saturation, World, WorldConfig};
use rayon::prelude::*;

use liftos_benches::{BoxError, arg, median};

/// `K x^S / (1 + x^S)` with `x = a / K`: the sandbox's Hill response.
fn hill(a: f64, k: f64, shape: f64) -> f64 {
    let p = (a / k).max(0.0).powf(shape);
    k * p / (1.0 + p)
}

/// The standard normal distribution function (Abramowitz and Stegun 7.1.26 for erf,
/// absolute error below 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
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

/// `min_{c ≥ 0} Σ (a − c b)²` and its `c`.
fn scaled_distance(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (mut ab, mut bb) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        bb += y * y;
    }
    // A return below zero is not a world: the scale is kept at zero or above.
    let c = if bb > 0.0 { (ab / bb).max(0.0) } else { 0.0 };
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
    campaign_distance: f64,
    campaign_iroas: f64,
    business_distance: f64,
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
    /// The world's true Hill half-saturation and shape.
    half_saturation: f64,
    shape: f64,
    /// What an estimator with the oracle's knowledge but A's noisy rows would choose: the
    /// curve (wide grid, then the preset's family) and its return scale fitting the rows'
    /// residuals best, campaign level then business level; each its switch-off return.
    oracle_estimates: [f64; 4],
    candidates: Vec<Candidate>,
}

/// The business's daily baseline noise: its draws, standard deviations and AR(1)
/// coefficient (from A, the same in every B).
struct BusinessNoise {
    noise: Vec<f64>,
    sd: Vec<f64>,
    phi: f64,
}

/// A channel's rows with what the distance needs, and its true curve.
struct ChannelRows {
    /// Index of the channel in the configuration.
    index: usize,
    half_saturation: f64,
    shape: f64,
    /// Its adstock decay θ.
    theta: f64,
    rows: Vec<RowFacts>,
}

/// The rows of the channel `name` of `world` (None: no Hill curve or no effect), each
/// campaign's in day order, its exposure carried over the days between (as the sandbox
/// does, [`liftos_sandbox::World`]) and its return per unit of response recovered from
/// the row's own effect.
fn channel_rows(
    config: &WorldConfig,
    world: &World,
    name: &str,
) -> Result<Option<ChannelRows>, BoxError> {
    let index = config
        .channels
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| format!("no channel {name}"))?;
    let ch = &config.channels[index];
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
    let index_of: BTreeMap<&str, usize> = ch
        .campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut rows = Vec::new();
    let mut carried: BTreeMap<usize, (usize, f64)> = BTreeMap::new();
    for r in world.rows().filter(|r| r.channel == name) {
        let campaign = *index_of
            .get(r.campaign)
            .ok_or_else(|| format!("no campaign {} in {name}", r.campaign))?;
        let budget = ch.campaigns[campaign].daily_budget;
        let day = usize::try_from((r.date - config.start).num_days())?;
        let exposure = match carried.get(&campaign) {
            Some(&(d, a)) => {
                let gap = day
                    .checked_sub(d)
                    .ok_or_else(|| format!("{name}: rows out of day order"))?;
                r.spend + a * theta.powi(i32::try_from(gap)?)
            }
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
    Ok(Some(ChannelRows {
        index,
        half_saturation,
        shape,
        theta,
        rows,
    }))
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
    let Some(ChannelRows {
        index: ci,
        half_saturation,
        shape,
        theta,
        rows,
    }) = channel_rows(config, world, name)?
    else {
        return Ok(None);
    };
    let n_days = config.days as usize;
    let expectation = if theta == 0.0 && config.budget_steps.is_none() {
        Expectation::Quadrature {
            sd: config.budget_noise,
            nodes: normal_nodes(),
        }
    } else {
        Expectation::Paths(simulated_exposures(config, ci, &rows, demand, paths))
    };
    let channel_truth = world
        .truth()
        .channel(name)
        .ok_or_else(|| format!("no truth for {name}"))?;
    let (spend, truth) = (channel_truth.spend, channel_truth.incremental_roas);
    let effects: Vec<f64> = rows.iter().map(|r| r.effect).collect();
    let sd: Vec<f64> = rows.iter().map(|r| r.sd).collect();
    let series: Vec<usize> = rows.iter().map(|r| r.campaign).collect();
    let day: Vec<usize> = rows.iter().map(|r| r.day).collect();
    let all_days: Vec<usize> = (0..n_days).collect();
    let zeros = vec![0; n_days];
    let phi = config.noise_ar;
    let white_row = |v: &[f64]| whiten(v, &sd, &series, &day, phi);
    let white_day = |v: &[f64]| whiten(v, &business.sd, &zeros, &all_days, business.phi);
    let (a_row, a_day, _) = residuals(
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
            let (campaign_distance, c) = scaled_distance(&a_row, &b_row);
            let (business_distance, c_bus) = scaled_distance(&a_day, &b_day);
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
                campaign_distance,
                campaign_iroas: c * b_total / spend,
                business_distance,
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
        half_saturation,
        shape,
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
) -> Vec<Vec<f64>> {
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
    out
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = arg(&args, "--seeds", 20)?;
    let first: u64 = arg(&args, "--first", 1)?;
    let days: u32 = arg(&args, "--days", 730)?;
    let preset: String = arg(&args, "--preset", "saturation".to_string())?;
    let max_distance: f64 = arg(&args, "--max-distance", 1.0)?;
    let paths: usize = arg(&args, "--paths", 64)?;
    let json: Option<String> = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    let p = Preset::parse(&preset)?;
    if seeds == 0 {
        return Err("--seeds: at least 1".into());
    }
    if paths < 2 {
        return Err("--paths: at least 2 simulated spend series".into());
    }
    if !(max_distance.is_finite() && max_distance > 0.0) {
        return Err("--max-distance: a number above 0".into());
    }
    // Le Cam: two worlds whose data are at most `tv` apart in total variation; an estimate
    // is off by the bound on one of them with probability at least `(1 − tv) / 2`.
    let tv = 2.0 * normal_cdf(max_distance.sqrt() / 2.0) - 1.0;
    let probability = (1.0 - tv) / 2.0;
    let shapes: Vec<f64> = (0..=25).map(|i| 0.5 + 0.1 * f64::from(i)).collect();
    let halves: Vec<f64> = (0..=32)
        .map(|i| 0.25 * 2f64.powf(f64::from(i) / 8.0))
        .collect();
    let grid: Vec<(f64, f64)> = shapes
        .iter()
        .flat_map(|&s| halves.iter().map(move |&h| (h, s)))
        .collect();
    println!(
        "saturation identification: preset {preset}, seeds {first}..{}, {days} days, worlds within an oracle's distance δ² <= {max_distance} (total variation <= {tv:.2}: on one of two such worlds any estimate misses by the bound with probability >= {probability:.2})",
        first + seeds - 1
    );
    let mut hill_channels = 0usize;
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
            hill_channels += 1;
            let (truth, candidates) = (fit.truth, &fit.candidates);
            let (half_saturation, shape) = (fit.half_saturation, fit.shape);
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
                "seed {seed:>3} {name:<10} true Hill h {half_saturation:.3} S {shape:.3}, switch-off iROAS {truth:.3}; the oracle's best fit to the rows: campaign {wide_c:.3} (preset's family {preset_c:.3}), business {wide_b:.3} ({preset_b:.3})"
            );
            for family in ["preset", "wide"] {
                for level in ["campaign", "business"] {
                    let values: Vec<f64> = candidates
                        .iter()
                        .filter(|c| family == "wide" || c.in_preset)
                        .filter_map(|c| {
                            let (d, v) = if level == "campaign" {
                                (c.campaign_distance, c.campaign_iroas)
                            } else {
                                (c.business_distance, c.business_iroas)
                            };
                            (d <= max_distance).then_some(v)
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
                        "\n    {family:<6} {level:<8} {:>4} worlds within {max_distance}: switch-off {lo:.3}..{hi:.3} ({:.2}x), any estimate off by >= {:.1}% on one of two with probability >= {probability:.2}",
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
                .filter(|c| (c.shape - shape).abs() >= 0.5 - 1e-9)
                .min_by(|a, b| a.campaign_distance.total_cmp(&b.campaign_distance))
            {
                line.push_str(&format!(
                    "\n    closest curve with a shape 0.5 or more away: h {:.3} S {:.1}, campaign-level distance {:.3}, switch-off {:.3}",
                    b.half_saturation, b.shape, b.campaign_distance, b.campaign_iroas
                ));
            }
            println!("{line}");
        }
    }
    if hill_channels == 0 {
        return Err(format!("preset {preset}: no channel with a Hill curve").into());
    }
    println!(
        "\nmean bound on the relative error that any estimate reaches, with probability >= {probability:.2}, on one of two worlds within δ² <= {max_distance}:"
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
        "\nmean relative error of the oracle's grid maximum-likelihood fit (the demand, carryover, noise law, other channels and each row's return pattern known; the curve and the return's scale fitted to the noisy rows):"
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

    fn curve(config: &WorldConfig, channel: &str) -> (f64, f64) {
        match config.channel(channel).map(|c| c.saturation) {
            Some(Saturation::Hill {
                half_saturation,
                shape,
            }) => (half_saturation, shape),
            _ => panic!("{channel} has a Hill curve"),
        }
    }

    #[test]
    fn rows_carry_exposure_over_as_the_sandbox_does() {
        // The world's own marginal return of a row is τ_i · R′(a_i): the rows' exposures
        // (carried over between a Klaviyo campaign's send days too) and the returns
        // recovered from their effects reproduce it on every row.
        let (config, world, _, _) = world(Preset::Realistic, 200);
        for channel in ["meta", "klaviyo"] {
            let facts = channel_rows(&config, &world, channel).unwrap().unwrap();
            assert!(facts.theta > 0.0);
            let marginal: Vec<f64> = world
                .rows()
                .filter(|r| r.channel == channel)
                .map(|r| r.tau)
                .collect();
            assert_eq!(marginal.len(), facts.rows.len());
            for (r, &tau) in facts.rows.iter().zip(&marginal) {
                let k = facts.half_saturation * r.budget / (1.0 - facts.theta);
                let x = r.exposure / k;
                let slope =
                    facts.shape * x.powf(facts.shape - 1.0) / (1.0 + x.powf(facts.shape)).powi(2);
                assert!(
                    (r.tau * slope - tau).abs() < 1e-6 * tau.abs().max(1e-9),
                    "{channel} day {}: {} vs {tau}",
                    r.day,
                    r.tau * slope
                );
            }
        }
        assert!(channel_rows(&config, &world, "tiktok").unwrap().is_none());
    }

    /// `E[R(a_i) | calendar]` for every row of the channel by the bench's expectation, and
    /// by averaging `R` over worlds that share A's campaigns and calendar with other seeds.
    fn expectation_against_the_sandbox(preset: Preset, channel: &str, worlds: u64) -> f64 {
        let days = 120;
        let (config, world, demand, _) = world(preset, days);
        let facts = channel_rows(&config, &world, channel).unwrap().unwrap();
        let expectation = if facts.theta == 0.0 && config.budget_steps.is_none() {
            Expectation::Quadrature {
                sd: config.budget_noise,
                nodes: normal_nodes(),
            }
        } else {
            Expectation::Paths(simulated_exposures(
                &config,
                facts.index,
                &facts.rows,
                &demand,
                400,
            ))
        };
        let k = |r: &RowFacts| facts.half_saturation * r.budget / (1.0 - facts.theta);
        let bench: f64 = facts
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| expectation.of(i, r, k(r), facts.shape))
            .sum();
        let mut sandbox = 0.0;
        for seed in 0..worlds {
            let other = World::generate(&config.clone().with_seed(1000 + seed)).unwrap();
            let rows = channel_rows(&config, &other, channel)
                .unwrap()
                .unwrap()
                .rows;
            assert_eq!(rows.len(), facts.rows.len());
            sandbox += rows
                .iter()
                .map(|r| hill(r.exposure, k(r), facts.shape))
                .sum::<f64>()
                / worlds as f64;
        }
        (bench - sandbox) / sandbox
    }

    #[test]
    fn the_expectation_given_the_calendar_is_the_sandboxs_own() {
        // Quadrature (no carryover, no steps) and simulated spend series (carryover and
        // budget steps) against the average over 200 re-seeded worlds: within 2% (the
        // expectation without the budget steps is 3.9% off on Meta).
        for (preset, channel) in [
            (Preset::Saturation, "google_ads"),
            (Preset::Realistic, "meta"),
            (Preset::Realistic, "klaviyo"),
        ] {
            let gap = expectation_against_the_sandbox(preset, channel, 200);
            assert!(gap.abs() < 0.02, "{preset:?} {channel}: {gap}");
        }
    }

    #[test]
    fn nearby_curves_are_closer_than_far_ones_and_the_own_is_at_zero() {
        let (config, world, demand, business) = world(Preset::Saturation, 365);
        let (h, shape) = curve(&config, "meta");
        let grid = [
            (h, shape),
            (h, shape + 0.2),
            (h, shape + 0.6),
            (h * 2.0, shape + 1.0),
        ];
        let fit = channel_candidates(&config, &world, "meta", &grid, &business, &demand, 16)
            .unwrap()
            .unwrap();
        let d: Vec<f64> = fit.candidates.iter().map(|c| c.campaign_distance).collect();
        assert!(d[0] < 1e-9, "{d:?}");
        assert!(d[0] < d[1] && d[1] < d[2] && d[2] < d[3], "{d:?}");
        assert!(d[3] > 1.0, "{d:?}");
        assert!((fit.candidates[0].campaign_iroas - fit.truth).abs() < 1e-9 * fit.truth);
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
    fn the_normal_distribution_function_and_the_two_point_probability() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_963_985) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_254).abs() < 1e-6);
        // δ² = 1: total variation 2Φ(½) − 1 = 0.3829.
        assert!((2.0 * normal_cdf(0.5) - 1.0 - 0.382_924_9).abs() < 1e-6);
    }
}
