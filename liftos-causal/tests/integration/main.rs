//! Integration tests of liftos-causal (one binary, one module per area).

mod attribution;
mod business;
mod clusters;
mod collinear;
mod competition;
mod designs;
mod determinism;
mod estimator;
mod flat;
mod params;
mod plan;
mod response;
mod sandbox;
mod statistical;

use liftos_causal::{CausalDataset, CausalForestParams, ChannelEffect, FittedCausalForest};
use liftos_sandbox::{ChannelTruth, World, WorldConfig};

/// Prints `name`'s switch-off and marginal returns with their intervals and asserts that
/// each interval covers its truth.
pub fn assert_returns_cover(
    r: &liftos_causal::AttributionResults,
    name: &str,
    switch_off: f64,
    marginal: f64,
) {
    let c = r.channels.iter().find(|c| c.channel == name).unwrap();
    let m = c.response.as_ref().unwrap();
    eprintln!(
        "{name}: iroas {:.2} [{:.2}, {:.2}] marginal {:.2} [{:.2}, {:.2}]",
        c.incremental_roas,
        c.incremental_roas_ci_lower,
        c.incremental_roas_ci_upper,
        c.marginal_roas,
        m.marginal_roas_ci_lower,
        m.marginal_roas_ci_upper
    );
    assert!(c.incremental_roas_ci_lower <= switch_off && switch_off <= c.incremental_roas_ci_upper);
    assert!(m.marginal_roas_ci_lower <= marginal && marginal <= m.marginal_roas_ci_upper);
}

/// A campaign-level table (`date` as YYYY-MM-DD text, `channel`, `campaign`, `spend`,
/// `revenue`) from its columns: the shape the hand-built worlds of `collinear`,
/// `competition` and `flat` write.
pub fn campaign_table(
    date: Vec<String>,
    channel: Vec<String>,
    campaign: Vec<String>,
    spend: Vec<f64>,
    revenue: Vec<f64>,
) -> arrow::record_batch::RecordBatch {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = Schema::new(vec![
        Field::new("date", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("campaign", DataType::Utf8, false),
        Field::new("spend", DataType::Float64, false),
        Field::new("revenue", DataType::Float64, false),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(date)),
        Arc::new(StringArray::from(channel)),
        Arc::new(StringArray::from(campaign)),
        Arc::new(Float64Array::from(spend)),
        Arc::new(Float64Array::from(revenue)),
    ];
    arrow::record_batch::RecordBatch::try_new(Arc::new(schema), cols).unwrap()
}

/// The standard sandbox world with four channels, `tiktok` without effect, under `seed`.
/// A causal forest of `trees` trees and seed `seed` (the rest grf's defaults) fitted on
/// `data`.
pub fn fit_forest(data: &CausalDataset, trees: usize, seed: u64) -> FittedCausalForest {
    CausalForestParams::default()
        .with_num_trees(trees)
        .with_seed(seed)
        .build()
        .unwrap()
        .fit_forest(data)
        .unwrap()
}

pub fn zero_effect_world(seed: u64) -> World {
    let config = WorldConfig::standard(4)
        .with_zero_effect_channel("tiktok")
        .with_seed(seed);
    World::generate(&config).unwrap()
}

/// `channel: iroas e [lower, upper] p p truth t`: a channel's switch-off return next to
/// its truth.
pub fn iroas_line(ch: &ChannelEffect, t: &ChannelTruth) -> String {
    format!(
        "{}: iroas {:.3} [{:.3}, {:.3}] p {:.2e} truth {:.3}",
        ch.channel,
        ch.incremental_roas,
        ch.incremental_roas_ci_lower,
        ch.incremental_roas_ci_upper,
        ch.p_value,
        t.incremental_roas
    )
}

/// Asserts a channel's recovery: the zero-effect channel not significant, any other
/// within 10% of its truth with the truth inside its 95% interval.
#[track_caller]
pub fn assert_recovered(ch: &ChannelEffect, t: &ChannelTruth) {
    if t.zero_effect {
        assert!(ch.p_value > 0.05, "{} p {}", ch.channel, ch.p_value);
    } else {
        let rel = (ch.incremental_roas - t.incremental_roas).abs() / t.incremental_roas;
        assert!(rel < 0.10, "{}: {:.1}% off", ch.channel, rel * 100.0);
        assert!(ch.incremental_roas_ci_lower <= t.incremental_roas);
        assert!(t.incremental_roas <= ch.incremental_roas_ci_upper);
    }
}

/// Shared simulated designs with known effects.
pub mod sim {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    /// ζ(x) = 1 + 1/(1 + exp(−20(x − 1/3))) (Wager & Athey 2018).
    pub fn zeta(x: f64) -> f64 {
        1.0 + 1.0 / (1.0 + (-20.0 * (x - 1.0 / 3.0)).exp())
    }

    /// E[ζ(U)] for U ~ U(0,1), exactly: 1 + (ln(1+e^{40/3}) − ln(1+e^{−20/3}))/20.
    pub fn mean_zeta() -> f64 {
        1.0 + ((1.0 + (40.0f64 / 3.0).exp()).ln() - (1.0 + (-20.0f64 / 3.0).exp()).ln()) / 20.0
    }

    /// A simulated design.
    #[derive(Debug)]
    pub struct Design {
        pub x: Vec<Vec<f64>>,
        pub w: Vec<f64>,
        pub y: Vec<f64>,
        pub tau: Vec<f64>,
    }

    impl Design {
        pub fn cols(&self) -> Vec<(&str, &[f64])> {
            const NAMES: [&str; 8] = ["x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8"];
            self.x
                .iter()
                .enumerate()
                .map(|(j, c)| (NAMES[j], c.as_slice()))
                .collect()
        }
        pub fn x_refs(&self) -> Vec<&[f64]> {
            self.x.iter().map(Vec::as_slice).collect()
        }
        /// Outcome `y`, treatment `w` and the covariates as a dataset.
        pub fn dataset(&self) -> liftos_causal::CausalDataset {
            liftos_causal::CausalDataset::new(&self.y, &self.w)
                .unwrap()
                .with_covariates(self.cols())
                .unwrap()
        }
    }

    pub fn uniform_x(rng: &mut ChaCha8Rng, n: usize, p: usize) -> Vec<Vec<f64>> {
        (0..p)
            .map(|_| (0..n).map(|_| rng.random::<f64>()).collect())
            .collect()
    }

    /// τ = ζ(x1)ζ(x2) on x uniform in [0, 1]^p, W drawn row by row by `treat` (after x,
    /// from the same generator), Y = 3·x3 + 2·x4 + τ·W + N(0, sigma²).
    fn design(
        n: usize,
        p: usize,
        sigma: f64,
        seed: u64,
        treat: impl Fn(&mut ChaCha8Rng, &Normal<f64>, &[Vec<f64>], usize) -> f64,
    ) -> Design {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = uniform_x(&mut rng, n, p);
        let nrm = Normal::new(0.0, 1.0).unwrap();
        let tau: Vec<f64> = (0..n).map(|i| zeta(x[0][i]) * zeta(x[1][i])).collect();
        let w: Vec<f64> = (0..n).map(|i| treat(&mut rng, &nrm, &x, i)).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| 3.0 * x[2][i] + 2.0 * x[3][i] + tau[i] * w[i] + sigma * nrm.sample(&mut rng))
            .collect();
        Design { x, w, y, tau }
    }

    /// τ = ζ(x1)ζ(x2); continuous W = 2·x3 + x1 + N(0,1) (confounded through x1 and x3);
    /// Y = 3·x3 + 2·x4 + τ·W + N(0, sigma²).
    pub fn continuous(n: usize, p: usize, sigma: f64, seed: u64) -> Design {
        design(n, p, sigma, seed, |rng, nrm, x, i| {
            2.0 * x[2][i] + x[0][i] + nrm.sample(rng)
        })
    }

    /// τ = ζ(x1)ζ(x2); binary W with P(W=1|X) = 0.2 + 0.3·x3 + 0.3·x1;
    /// Y = 3·x3 + 2·x4 + τ·W + N(0, sigma²).
    pub fn binary(n: usize, p: usize, sigma: f64, seed: u64) -> Design {
        design(n, p, sigma, seed, |rng, _, x, i| {
            if rng.random::<f64>() < 0.2 + 0.3 * x[2][i] + 0.3 * x[0][i] {
                1.0
            } else {
                0.0
            }
        })
    }
}
