//! Plugging your own estimator into LiftOS: a per-channel fixed-effects regression
//! (revenue on spend within each campaign, cluster-robust standard errors by campaign),
//! run through the same `analyze_attribution` as the causal forest, so it gets the same
//! panel preparation, temporal effects, cross-validation and results JSON. Compared with
//! the causal forest and with the sandbox's truth.
//!
//! Run with `cargo run -p liftos-examples --bin custom_estimator`.

use std::collections::BTreeMap;
use std::sync::Arc;

use liftos::analysis::add_calendar_columns;
use liftos::causal::{
    AttributionModel, AttributionOptions, AttributionResults, CausalDataset, CausalForestParams,
    CausalRoles, ChannelEffect, Estimator, RowEffect, analyze_attribution, prepare_causal_data,
};
use liftos::sandbox::{World, WorldConfig};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Within-campaign OLS of outcome on treatment, one slope per channel.
///
/// The slope β of a channel is Σ ỹ·w̃ / Σ w̃² where ỹ, w̃ are the outcome and spend minus
/// their campaign means (campaign fixed effects). Its variance is the cluster-robust
/// CR1 sandwich G/(G−1) · Σ_c (Σ_{i∈c} w̃ᵢ·eᵢ)² / (Σ w̃²)² over the channel's G campaigns,
/// with residuals e = ỹ − β·w̃; intervals and p-values use Student's t with G − 1 degrees
/// of freedom (few clusters). The campaigns are the dataset's clusters, so it needs the
/// default `ClusterBy::Entity` and at least two campaigns per channel. Intervals are at
/// 95% (an `Estimator` sees the data, not the options). Unlike the causal forest it
/// ignores the calendar controls and assumes one constant return per channel.
struct FixedEffects;

const LEVEL: f64 = 0.95;

impl Estimator for FixedEffects {
    fn name(&self) -> &str {
        "fixed_effects_ols"
    }

    fn seed(&self) -> u64 {
        0
    }

    fn fit(&self, data: &CausalDataset) -> liftos::causal::Result<AttributionResults> {
        let (y, w) = (data.outcome(), data.treatment());
        let n = data.num_rows();
        let clusters: Vec<u32> = data
            .cluster_codes()
            .map_or_else(|| vec![0; n], <[u32]>::to_vec);
        let (groups, labels): (Vec<u32>, Vec<String>) = match data.groups() {
            Some((g, l)) => (g.to_vec(), l.to_vec()),
            None => (vec![0; n], vec!["all".to_owned()]),
        };
        // Campaign means (campaigns sit inside one channel).
        let mut sums: BTreeMap<u32, (f64, f64, f64)> = BTreeMap::new();
        for i in 0..n {
            let s = sums.entry(clusters[i]).or_default();
            s.0 += y[i];
            s.1 += w[i];
            s.2 += 1.0;
        }
        let demeaned = |i: usize| {
            let (sy, sw, k) = sums[&clusters[i]];
            (y[i] - sy / k, w[i] - sw / k)
        };
        let mut row_effects = vec![
            RowEffect {
                tau: f64::NAN,
                std_err: f64::NAN,
                ci_lower: f64::NAN,
                ci_upper: f64::NAN,
            };
            n
        ];
        let mut channels = Vec::new();
        for (g, label) in labels.iter().enumerate() {
            let rows: Vec<usize> = (0..n).filter(|&i| groups[i] as usize == g).collect();
            let (mut sxy, mut sxx, mut spend, mut outcome) = (0.0, 0.0, 0.0, 0.0);
            for &i in &rows {
                let (yt, wt) = demeaned(i);
                sxy += yt * wt;
                sxx += wt * wt;
                spend += w[i];
                outcome += y[i];
            }
            if sxx <= 0.0 {
                continue;
            }
            let beta = sxy / sxx;
            let mut score: BTreeMap<u32, f64> = BTreeMap::new();
            for &i in &rows {
                let (yt, wt) = demeaned(i);
                *score.entry(clusters[i]).or_default() += wt * (yt - beta * wt);
            }
            let g = score.len();
            if g < 2 {
                return Err(liftos::causal::Error::TooLittleData {
                    what: format!("campaigns (clusters) of channel `{label}`"),
                    found: g,
                    needed: 2,
                });
            }
            let cr1 = g as f64 / (g as f64 - 1.0);
            let se = (cr1 * score.values().map(|s| s * s).sum::<f64>()).sqrt() / sxx;
            let t = StudentsT::new(0.0, 1.0, g as f64 - 1.0).map_err(|e| {
                liftos::causal::Error::InvalidParameter {
                    name: "degrees of freedom",
                    value: (g - 1).to_string(),
                    expected: e.to_string(),
                }
            })?;
            let crit = t.inverse_cdf(0.5 + LEVEL / 2.0);
            let (lo, hi) = (beta - crit * se, beta + crit * se);
            for &i in &rows {
                row_effects[i] = RowEffect {
                    tau: beta,
                    std_err: se,
                    ci_lower: lo,
                    ci_upper: hi,
                };
            }
            channels.push(ChannelEffect {
                channel: label.clone(),
                rows: rows.len(),
                spend,
                revenue_lift: beta * spend,
                ci_lower: lo * spend,
                ci_upper: hi * spend,
                std_err: se * spend,
                p_value: 2.0 * (1.0 - t.cdf((beta / se).abs())),
                df: g as f64 - 1.0,
                incremental_roas: beta,
                incremental_roas_ci_lower: lo,
                incremental_roas_ci_upper: hi,
                marginal_roas: beta,
                average_effect: beta,
                average_effect_std_err: se,
                outcome_total: outcome,
                naive_roas: outcome / spend,
                long_run_roas: None,
                adstock_decay: None,
                response: None,
            });
        }
        Ok(AttributionResults::new(
            self.name(),
            data.outcome_name(),
            data.treatment_name(),
            n,
            0,
        )
        .with_channels(channels)
        .with_treatment_effects(row_effects))
    }
}

fn main() -> liftos::Result<()> {
    let world = World::generate(
        &WorldConfig::standard(3)
            .with_days(366)
            .with_seed(9)
            .with_zero_effect_channel("tiktok"),
    )?;
    let table = add_calendar_columns(&world.unified_table()?, "date", "US")?;
    let panel = prepare_causal_data(&table, &CausalRoles::default())?;

    let custom = AttributionOptions::default()
        .with_model(AttributionModel::Custom(Arc::new(FixedEffects)))
        .with_seed(9);
    let forest = AttributionOptions::default()
        .with_model(AttributionModel::CausalForest(
            CausalForestParams::default().with_num_trees(500),
        ))
        .with_seed(9);
    let fe = analyze_attribution(&panel, &custom)?;
    let cf = analyze_attribution(&panel, &forest)?;

    println!(
        "{:<11} {:>10} {:>22} {:>22} {:>10}",
        "channel", "naive", "fixed-effects OLS", "causal forest", "truth"
    );
    for t in &world.truth().channels {
        let show = |r: &AttributionResults| {
            r.channel(&t.channel).map_or("—".to_owned(), |c| {
                format!(
                    "{:.2} [{:.2}, {:.2}]",
                    c.incremental_roas, c.incremental_roas_ci_lower, c.incremental_roas_ci_upper
                )
            })
        };
        println!(
            "{:<11} {:>10.2} {:>22} {:>22} {:>10.2}",
            t.channel,
            t.naive_roas,
            show(fe.primary()),
            show(cf.primary()),
            t.incremental_roas
        );
    }
    if let Some(acc) = &fe.primary().model_accuracy {
        println!(
            "fixed-effects OLS: cross-validated R² of the outcome model {:.3}",
            acc.r2
        );
    }
    println!(
        "The fixed-effects regression removes each campaign's level but not the demand that\n\
         moves spend and revenue together day to day, so it keeps part of the naive bias;\n\
         the causal forest conditions on the calendar and the campaign's history."
    );
    Ok(())
}
