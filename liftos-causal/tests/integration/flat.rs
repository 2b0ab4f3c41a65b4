//! A channel whose budgets never change: its spend moves by its daily noise alone (the
//! audit's `w9_flat` world, rebuilt here).

use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// 365 days; Meta's four campaigns move with demand^1.5, fortnightly budget steps (log
/// sd 0.35) and daily noise (log sd 0.15), return 3.0; Google Ads' four spend a fixed
/// budget with daily noise of log sd `google_noise` only, return 2.0. Revenue per row is
/// `3·size·demand·(1 + 0.1·ε)` plus its effect.
fn flat_world(seed: u64, google_noise: f64) -> RecordBatch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nrm = Normal::new(0.0_f64, 1.0).unwrap();
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let demand = |d: NaiveDate| {
        let doy = d.ordinal() as f64;
        1.0 + 0.25 * (2.0 * std::f64::consts::PI * (doy - 80.0) / 365.25).sin()
    };
    let (mut date, mut channel, mut campaign, mut spend, mut revenue) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (name, roas) in [("meta", 3.0), ("google_ads", 2.0)] {
        for c in 0..4 {
            let size = 1000.0 * (0.6 * nrm.sample(&mut rng)).exp();
            let mut level = 1.0;
            for i in 0..365u64 {
                let d = start + chrono::Days::new(i);
                let s = if name == "meta" {
                    if i % 14 == 0 {
                        level = (0.35 * nrm.sample(&mut rng)).exp();
                    }
                    size * demand(d).powf(1.5) * level * (0.15 * nrm.sample(&mut rng)).exp()
                } else {
                    size * (google_noise * nrm.sample(&mut rng)).exp()
                };
                let base = 3.0 * size;
                date.push(d.format("%Y-%m-%d").to_string());
                channel.push(name.to_string());
                campaign.push(format!("{name} campaign {}", c + 1));
                spend.push(s);
                revenue.push(base * demand(d) * (1.0 + 0.1 * nrm.sample(&mut rng)) + roas * s);
            }
        }
    }
    crate::campaign_table(date, channel, campaign, spend, revenue)
}

/// The flat channel is named in a warning that says why its intervals are wide; the
/// channel whose budgets move is not; with Google Ads' daily noise at 15% (as Meta's),
/// no channel is.
#[test]
fn a_channel_whose_spend_barely_moves_is_warned_of() {
    use liftos_causal::{
        AttributionOptions, CausalRoles, analyze_attribution, prepare_causal_data,
    };
    let options = AttributionOptions {
        attribution_model: AttributionOptions::default()
            .attribution_model
            .with_num_trees(200),
        ..AttributionOptions::default()
    };
    let flat_warnings = |noise: f64| -> Vec<String> {
        let panel = prepare_causal_data(&flat_world(5, noise), &CausalRoles::default()).unwrap();
        let a = analyze_attribution(&panel, &options).unwrap();
        let r = a.outcome("revenue").unwrap();
        r.diagnostics
            .warnings
            .iter()
            .filter(|w| w.contains("spend barely moves"))
            .cloned()
            .collect()
    };
    let flat = flat_warnings(0.02);
    assert_eq!(flat.len(), 1, "{flat:?}");
    assert!(flat[0].starts_with("Channel `google_ads`"), "{}", flat[0]);
    assert!(flat[0].contains("varies by 2.0%"), "{}", flat[0]);
    assert!(flat_warnings(0.15).is_empty());
}
