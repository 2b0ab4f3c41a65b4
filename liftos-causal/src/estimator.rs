//! The [`Estimator`] trait and its causal forest implementation.

use std::sync::Arc;

use crate::data::CausalDataset;
use crate::forest::CausalForest;
use crate::inference::AverageEffect;
use crate::results::{AttributionResults, ChannelEffect, RowEffect};
use crate::{Error, Result};

/// A causal effect estimator.
///
/// Contract:
/// - An estimator holds **validated** parameters: constructing it (e.g.
///   [`CausalForestParams::build`](crate::forest::CausalForestParams::build)) is where
///   invalid parameters are rejected; `fit` only rejects bad data.
/// - [`fit`](Self::fit) (required) estimates effects on a [`CausalDataset`] and returns
///   [`AttributionResults`]. It never panics on input.
/// - **Seeded and reproducible**: the same parameters, seed and data give the same
///   numbers, bit for bit, whatever the number of threads.
///
/// Required: [`name`](Self::name), [`seed`](Self::seed), [`fit`](Self::fit). Forwarding
/// impls for `&T`, `Box<T>` and `Arc<T>` let trait objects compose.
pub trait Estimator {
    /// The model's name as written in results (`causal_forest`).
    fn name(&self) -> &str;
    /// The seed of all randomness.
    fn seed(&self) -> u64;
    /// Fits the model and returns the attribution results.
    fn fit(&self, data: &CausalDataset) -> Result<AttributionResults>;
}

/// `Estimator` for a pointer to an estimator, forwarding every method.
macro_rules! forward_estimator {
    ($($ptr:ty),*) => {$(
        impl<T: Estimator + ?Sized> Estimator for $ptr {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn seed(&self) -> u64 {
                (**self).seed()
            }
            fn fit(&self, data: &CausalDataset) -> Result<AttributionResults> {
                (**self).fit(data)
            }
        }
    )*};
}

forward_estimator!(&T, Box<T>, Arc<T>);

/// The results of `estimator` fitted on `data`, at the confidence `level`, with the
/// average effect (the channels, row effects and scores to be added).
pub(crate) fn fitted_results(
    estimator: &(impl Estimator + ?Sized),
    data: &CausalDataset,
    level: f64,
    average_effect: AverageEffect,
) -> AttributionResults {
    AttributionResults::new(
        estimator.name(),
        data.outcome_name(),
        data.treatment_name(),
        data.num_rows(),
        estimator.seed(),
    )
    .with_confidence_level(level)
    .with_average_effect(average_effect)
}

/// A channel's error: a `TooLittleData` or a `NoVariation` names the channel `label`.
pub(crate) fn in_group(e: Error, label: &str) -> Error {
    match e {
        Error::TooLittleData {
            what,
            found,
            needed,
        } => Error::TooLittleData {
            what: format!("{what} (channel `{label}`)"),
            found,
            needed,
        },
        Error::NoVariation { what } => Error::NoVariation {
            what: format!("{what} (channel `{label}`)"),
        },
        other => other,
    }
}

impl Estimator for CausalForest {
    fn name(&self) -> &str {
        "causal_forest"
    }

    fn seed(&self) -> u64 {
        self.params().seed
    }

    /// Fits the forest ([`CausalForest::fit_forest`]) and reports per-row effects (out of
    /// bag), the overall doubly robust average effect, and for each group label (or one
    /// group `all`) the lift, incremental and marginal ROAS.
    fn fit(&self, data: &CausalDataset) -> Result<AttributionResults> {
        let forest = self.fit_forest(data)?;
        let level = self.params().confidence_level;
        let treatment_effects = forest
            .oob_predictions()
            .iter()
            .map(|c| {
                let (ci_lower, ci_upper) = c.interval(level);
                RowEffect {
                    tau: c.tau,
                    std_err: c.std_err(),
                    ci_lower,
                    ci_upper,
                }
            })
            .collect();
        let average_effect = forest.average_effect(None)?;
        let n = data.num_rows();
        let groups: Vec<(String, Vec<f64>)> = match data.groups() {
            Some((codes, labels)) => labels
                .iter()
                .enumerate()
                .map(|(g, label)| {
                    (
                        label.clone(),
                        codes
                            .iter()
                            .map(|&c| if c as usize == g { 1.0 } else { 0.0 })
                            .collect(),
                    )
                })
                .collect(),
            None => vec![("all".to_string(), vec![1.0; n])],
        };
        let mut channels = Vec::with_capacity(groups.len());
        for (label, subset) in &groups {
            let average = forest
                .average_effect(Some(subset))
                .map_err(|e| in_group(e, label))?;
            let dot = |v: &[f64]| -> f64 { subset.iter().zip(v).map(|(a, x)| a * x).sum() };
            let spend = dot(data.treatment());
            let mut effect = if spend == 0.0 {
                ChannelEffect::without_spend(label, average.rows, &average)
            } else {
                let lift = forest.lift(Some(subset)).map_err(|e| in_group(e, label))?;
                ChannelEffect::from_lift(label, &lift, &average)
            };
            effect.outcome_total = dot(data.outcome());
            effect.naive_roas = if spend == 0.0 {
                f64::NAN
            } else {
                effect.outcome_total / spend
            };
            channels.push(effect);
        }
        let mut results = fitted_results(self, data, level, average_effect)
            .with_channels(channels)
            .with_treatment_effects(treatment_effects)
            .with_scores(forest.dr_scores().to_vec());
        results.diagnostics.calibration = forest.test_calibration().ok();
        if !self.params().randomized {
            let w = data.treatment();
            let mean = w.iter().sum::<f64>() / n as f64;
            let ss: f64 = w.iter().map(|v| (v - mean).powi(2)).sum();
            let ss_res: f64 = forest
                .w_hat()
                .iter()
                .zip(w)
                .map(|(h, v)| (v - h).powi(2))
                .sum();
            if ss > 0.0 {
                results.diagnostics.treatment_r2 = Some(1.0 - ss_res / ss);
            }
        }
        let mut v: Vec<f64> = forest.v_hat().to_vec();
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        if median > 0.0 {
            let low = forest
                .v_hat()
                .iter()
                .filter(|x| **x < 0.05 * median)
                .count();
            results.diagnostics.low_overlap_share = Some(low as f64 / n as f64);
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A channel's "not enough data" and "does not vary" name the channel (the second did
    /// not: a pinned curve of absurd size left the user guessing which channel).
    #[test]
    fn a_channels_errors_name_it() {
        let e = in_group(
            Error::NoVariation {
                what: "the channel's transformed spend after the controls".into(),
            },
            "meta",
        );
        assert!(e.to_string().contains("controls (channel `meta`)"), "{e}");
        let e = in_group(
            Error::at_least(1, 2, || "clusters".into()).unwrap_err(),
            "meta",
        );
        assert!(e.to_string().contains("clusters (channel `meta`)"), "{e}");
    }
}
