//! Campaigns of one channel competing for one audience: the channel's reach saturates as
//! a whole (Hill on the channel's daily total), and each campaign's rows record the
//! channel's effect of the day in proportion to its spend (the audit's `w3_chansat`
//! worlds, rebuilt here). Raising one campaign takes conversions from its siblings, so
//! each campaign's own rows overstate what one more unit across the channel returns.

use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// The world's table and Meta's true returns.
pub struct SharedReach {
    pub table: RecordBatch,
    /// What switching all of Meta off loses, per unit of its spend.
    pub switch_off: f64,
    /// One more unit across Meta's campaigns at today's allocation (the channel's slope).
    pub marginal: f64,
    /// What each campaign's own rows gain from one more unit of its own spend, with its
    /// siblings' spend held (spend-weighted): what a per-campaign model measures.
    pub own_rows_marginal: f64,
}

/// `days` days; Meta's five campaigns share one Hill curve on the channel's daily total
/// (half-saturation 0.6 × the mean total, shape 1.5, scaled so that the curve's value at
/// the mean total is that total, times 3); Google Ads' four campaigns return 2.0 each,
/// linearly. Campaign sizes are log-normal (sd 0.6), budgets step every fortnight (log
/// sd 0.35, on the same days for every campaign), daily budget noise log sd 0.15, spend
/// follows demand^1.5; revenue per row is `3·size·demand·(1 + 0.1·ε)` plus its effect.
pub fn shared_reach_world(seed: u64, days: usize) -> SharedReach {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nrm = Normal::new(0.0_f64, 1.0).unwrap();
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    const WEEKDAY: [f64; 7] = [0.0, -0.03, -0.02, 0.0, 0.05, 0.12, 0.08];
    let demand = |d: NaiveDate| {
        let doy = d.ordinal() as f64;
        1.0 + 0.25 * (2.0 * std::f64::consts::PI * (doy - 80.0) / 365.25).sin()
            + WEEKDAY[d.weekday().num_days_from_monday() as usize]
    };
    // spend[channel][campaign][day]
    let mut spend: Vec<Vec<Vec<f64>>> = Vec::new();
    let mut sizes: Vec<Vec<f64>> = Vec::new();
    for campaigns in [5, 4] {
        let mut ch = Vec::new();
        let mut sz = Vec::new();
        for _ in 0..campaigns {
            let size = 1000.0 * (0.6 * nrm.sample(&mut rng)).exp();
            let mut level = 1.0;
            let s: Vec<f64> = (0..days)
                .map(|i| {
                    if i % 14 == 0 {
                        level = (0.35 * nrm.sample(&mut rng)).exp();
                    }
                    let d = start + chrono::Days::new(i as u64);
                    size * demand(d).powf(1.5) * level * (0.15 * nrm.sample(&mut rng)).exp()
                })
                .collect();
            ch.push(s);
            sz.push(size);
        }
        spend.push(ch);
        sizes.push(sz);
    }
    // Meta's shared curve.
    let totals: Vec<f64> = (0..days)
        .map(|i| spend[0].iter().map(|s| s[i]).sum())
        .collect();
    let reference = totals.iter().sum::<f64>() / days as f64;
    let (half, shape, beta) = (0.6 * reference, 1.5, 3.0);
    let hill = |x: f64| x.powf(shape) / (x.powf(shape) + half.powf(shape));
    let scale = reference / hill(reference);
    let h = |x: f64| beta * scale * hill(x);
    let slope = |x: f64| {
        beta * scale * shape * x.powf(shape - 1.0) * half.powf(shape)
            / (x.powf(shape) + half.powf(shape)).powi(2)
    };
    let total_spend: f64 = totals.iter().sum();
    let switch_off = totals.iter().map(|&s| h(s)).sum::<f64>() / total_spend;
    let marginal = totals.iter().map(|&s| slope(s) * s).sum::<f64>() / total_spend;
    let own_rows_marginal = (0..days)
        .map(|i| {
            let s_total = totals[i];
            spend[0]
                .iter()
                .map(|s| {
                    let w = s[i] / s_total;
                    s[i] * (slope(s_total) * w + h(s_total) / s_total * (1.0 - w))
                })
                .sum::<f64>()
        })
        .sum::<f64>()
        / total_spend;
    let (mut date, mut channel, mut campaign, mut spend_col, mut revenue) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (c, name) in ["meta", "google_ads"].into_iter().enumerate() {
        for (k, s) in spend[c].iter().enumerate() {
            for i in 0..days {
                let d = start + chrono::Days::new(i as u64);
                let effect = if c == 0 {
                    h(totals[i]) * s[i] / totals[i]
                } else {
                    2.0 * s[i]
                };
                let base = 3.0 * sizes[c][k];
                date.push(d.format("%Y-%m-%d").to_string());
                channel.push(name.to_string());
                campaign.push(format!("{name} campaign {}", k + 1));
                spend_col.push(s[i]);
                revenue.push(base * demand(d) * (1.0 + 0.1 * nrm.sample(&mut rng)) + effect);
            }
        }
    }

    SharedReach {
        table: crate::campaign_table(date, channel, campaign, spend_col, revenue),
        switch_off,
        marginal,
        own_rows_marginal,
    }
}

/// Meta's marginal return counts what each campaign takes from its siblings' rows: the
/// within-channel check is applied to Meta (and not to Google Ads, whose campaigns do not
/// interact), Meta's marginal interval covers the channel's slope and the estimate has
/// moved at least half the way from the own-rows slope to it; the switch-off returns
/// cover their truths (the check leaves them as measured).
#[test]
fn campaigns_sharing_one_audience_lower_the_channel_marginal_return() {
    use liftos_causal::{
        AttributionOptions, CausalRoles, analyze_attribution, prepare_causal_data,
    };
    let world = shared_reach_world(3, 730);
    eprintln!(
        "truth: meta switch-off {:.2}, marginal {:.2}, own rows {:.2}",
        world.switch_off, world.marginal, world.own_rows_marginal
    );
    let panel = prepare_causal_data(&world.table, &CausalRoles::default()).unwrap();
    let options = AttributionOptions {
        attribution_model: AttributionOptions::default()
            .attribution_model
            .with_num_trees(500),
        ..AttributionOptions::default()
    };
    let a = analyze_attribution(&panel, &options).unwrap();
    let r = a.outcome("revenue").unwrap();
    for c in &r.diagnostics.cannibalization {
        eprintln!("{c:?}");
    }
    let check = |name: &str| {
        r.diagnostics
            .cannibalization
            .iter()
            .find(|c| c.channel == name)
            .unwrap()
    };
    assert!(check("meta").applied);
    assert!(!check("google_ads").applied);
    for (name, switch_off, marginal) in [
        ("meta", world.switch_off, world.marginal),
        ("google_ads", 2.0, 2.0),
    ] {
        crate::assert_returns_cover(r, name, switch_off, marginal);
    }
    let meta = r.channels.iter().find(|c| c.channel == "meta").unwrap();
    assert!(
        (meta.marginal_roas - world.marginal).abs()
            < 0.5 * (world.own_rows_marginal - world.marginal),
        "{}",
        meta.marginal_roas
    );
    // Switched off: the same check, not applied; Meta's marginal return is its own rows'
    // slope (the shift's size above it) and a warning gives the shifted return.
    let off = analyze_attribution(&panel, &options.clone().with_within_channel(false)).unwrap();
    let r_off = off.outcome("revenue").unwrap();
    let meta_off = r_off.channels.iter().find(|c| c.channel == "meta").unwrap();
    let shift = check("meta").marginal_shift;
    assert!(r_off.diagnostics.cannibalization.iter().all(|c| !c.applied));
    assert!((meta_off.marginal_roas - (meta.marginal_roas - shift)).abs() < 1e-9);
    assert_eq!(meta_off.incremental_roas, meta.incremental_roas);
    assert!(
        r_off
            .diagnostics
            .warnings
            .iter()
            .any(|w| w.starts_with("Channel `meta`") && w.contains("`within_channel = false`")),
        "{:?}",
        r_off.diagnostics.warnings
    );
    assert!(
        r_off
            .settings
            .iter()
            .any(|(k, v)| k == "within_channel" && v == "false")
    );
}
