//! The grf-style causal forest.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use super::regression::{
    ForestParams, check_covariates, check_units, predict_local_linear, predict_mean,
};
use super::tree::{Columns, Target, Tree, TreeParams, Units};
use super::{CHUNK, grow_forest};
use crate::data::CausalDataset;
use crate::inference::{
    AverageEffect, Calibration, Coefficient, LiftEffect, best_linear_projection, check_len,
    check_weights, lift_effect, mean_effect, normal_quantile, test_calibration,
};
use crate::{Error, Result};

const FOREST_Y: u64 = 1;
const FOREST_W: u64 = 2;
const FOREST_V: u64 = 3;
const FOREST_TAU: u64 = 4;

/// Parameters of a [`CausalForest`], with grf's defaults.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `num_trees` | 2000 | trees in the causal forest | multiple of `ci_group_size`, at most [`MAX_TREES`](crate::forest::MAX_TREES) |
/// | `sample_fraction` | 0.5 | share of clusters (rows) each tree draws | (0, 0.5] |
/// | `honesty` | true | split on one half of the draw, fill leaves with the other | |
/// | `honesty_fraction` | 0.5 | share of the draw used to choose splits | (0, 1) |
/// | `min_node_size` | 5 | a node with at most this many rows is a leaf; each child needs this many | ≥ 1 |
/// | `alpha` | 0.05 | each child keeps at least this share of the node's treatment variation (sum of squares) | [0, 0.25] |
/// | `mtry` | `None` = min(⌈√p + 20⌉, p) | variables tried per split | 1..=p |
/// | `ci_group_size` | 2 | trees per little bag (for the variance of τ̂) | ≥ 2 |
/// | `nuisance_trees` | `None` = max(50, num_trees / 4) | trees of each nuisance forest (Ŷ, Ŵ, V̂) | ≥ 1 |
/// | `nuisance_honesty` | `None` = as `honesty` | whether the nuisance forests are honest; out-of-bag either way | |
/// | `nuisance_local_linear` | `None` | ridge penalty λ of local linear corrections of Ŷ and Ŵ (local linear forests); `None`: plain forest averages (grf's `causal_forest`) | λ > 0 |
/// | `confidence_level` | 0.95 | level of reported intervals | (0, 1) |
/// | `variance_floor` | 0.01 | V̂(x) is floored at this share of the mean squared treatment residual, guarding the doubly robust weights (W−Ŵ)/V̂ against tiny V̂ | [0, 1) |
/// | `cluster_subsampling` | true | with clusters in the data, trees draw whole clusters and out-of-bag predictions leave out a row's whole cluster (grf); `false`: trees draw rows and clusters serve only the standard errors (see below) | |
/// | `randomized` | false | the treatment was randomized: Ŵ is its mean and V̂ its variance (no treatment model) | |
/// | `seed` | 42 | seed of all randomness | any |
///
/// Clusters always make the standard errors of averages and lifts cluster-robust. Whether
/// they also drive subsampling is a modelling choice: grf's default (`true`) targets a
/// population of clusters and guards against within-cluster leakage, but then a row's
/// nuisance predictions never see its own cluster, so when the clusters are a fixed set
/// of entities whose level matters (campaigns with very different baselines, identified
/// by a covariate) use `false`: the forest then learns each entity's baseline while the
/// intervals stay clustered.
#[derive(Debug, Clone, PartialEq)]
pub struct CausalForestParams {
    /// Trees in the causal forest.
    pub num_trees: usize,
    /// Share of sampling units each tree draws (at most 0.5, for little bags).
    pub sample_fraction: f64,
    /// Whether trees are honest.
    pub honesty: bool,
    /// Share of each tree's draw used to choose splits.
    pub honesty_fraction: f64,
    /// A node with at most this many rows is not split; each child needs this many.
    pub min_node_size: usize,
    /// Minimum share of the node's treatment sum of squares in each child.
    pub alpha: f64,
    /// Variables tried at each split; `None` for grf's default.
    pub mtry: Option<usize>,
    /// Trees per little bag.
    pub ci_group_size: usize,
    /// Trees of each nuisance forest; `None` for max(50, num_trees / 4).
    pub nuisance_trees: Option<usize>,
    /// Whether the nuisance forests (Ŷ, Ŵ, V̂) are honest; `None` follows `honesty` (grf
    /// grows its nuisance forests with the same honesty). Their predictions are out-of-bag
    /// either way.
    pub nuisance_honesty: Option<bool>,
    /// Local linear nuisances: `Some(λ)` replaces the forest average behind Ŷ(x) and Ŵ(x)
    /// by a weighted ridge regression on all covariates around x (Friedberg, Tibshirani,
    /// Athey & Wager, 2020). The weights are the nuisance forest's out-of-bag
    /// neighbourhood of x: each tree that did not draw x's sampling unit gives 1/|leaf| to
    /// every row of its subsample sharing x's leaf (both honesty halves, so the
    /// neighbourhood is not honest even when the trees are). Covariate differences are
    /// divided by each covariate's standard deviation over the data, the weights are
    /// normalised to sum to 1, and λ is added to the slopes' diagonal (not to the
    /// intercept); this is not grf's trace-scaled `ll.lambda`. With a binary treatment Ŵ
    /// stays a forest average (a propensity must stay in [0, 1]). It removes the smoothing bias a
    /// forest has where the target moves steeply inside a leaf; in marketing panels, where
    /// spend and revenue both jump on holidays and events, that bias does not cancel in
    /// the doubly robust scores and pushes a zero effect away from zero.
    /// [`analyze_attribution`](crate::analyze_attribution) turns it on (λ = 0.1) unless
    /// [`AttributionOptions::local_linear_nuisances`](crate::AttributionOptions::local_linear_nuisances)
    /// is false. Costs one small ridge solve per row and nuisance.
    pub nuisance_local_linear: Option<f64>,
    /// Level of the reported confidence intervals.
    pub confidence_level: f64,
    /// Floor of V̂(x) as a share of the mean squared treatment residual.
    pub variance_floor: f64,
    /// Whether trees subsample whole clusters (grf) or rows.
    pub cluster_subsampling: bool,
    /// Randomized treatment: E[W | X] is the known constant mean of W and Var(W | X) the
    /// constant variance, so no treatment model is fit.
    pub randomized: bool,
    /// Seed of all randomness.
    pub seed: u64,
}

impl Default for CausalForestParams {
    fn default() -> Self {
        CausalForestParams {
            num_trees: 2000,
            sample_fraction: 0.5,
            honesty: true,
            honesty_fraction: 0.5,
            min_node_size: 5,
            alpha: 0.05,
            mtry: None,
            ci_group_size: 2,
            nuisance_trees: None,
            nuisance_honesty: None,
            nuisance_local_linear: None,
            confidence_level: 0.95,
            variance_floor: 0.01,
            cluster_subsampling: true,
            randomized: false,
            seed: 42,
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta] $name:ident : $field:ident : $ty:ty),* $(,)?) => {
        $( #[$doc] pub fn $name(mut self, v: $ty) -> Self { self.$field = v; self } )*
    };
}

impl CausalForestParams {
    setter! {
        /// Sets `num_trees`.
        with_num_trees: num_trees: usize,
        /// Sets `sample_fraction`.
        with_sample_fraction: sample_fraction: f64,
        /// Sets `honesty`.
        with_honesty: honesty: bool,
        /// Sets `honesty_fraction`.
        with_honesty_fraction: honesty_fraction: f64,
        /// Sets `min_node_size`.
        with_min_node_size: min_node_size: usize,
        /// Sets `alpha`.
        with_alpha: alpha: f64,
        /// Sets `ci_group_size`.
        with_ci_group_size: ci_group_size: usize,
        /// Sets `confidence_level`.
        with_confidence_level: confidence_level: f64,
        /// Sets `variance_floor`.
        with_variance_floor: variance_floor: f64,
        /// Sets `nuisance_honesty` (`None`: as `honesty`).
        with_nuisance_honesty: nuisance_honesty: Option<bool>,
        /// Sets `cluster_subsampling`.
        with_cluster_subsampling: cluster_subsampling: bool,
        /// Sets `randomized`.
        with_randomized: randomized: bool,
        /// Sets the seed.
        with_seed: seed: u64,
    }

    liftos_core::setters! {
        /// Sets `mtry`.
        with_mtry(v: usize) => self.mtry = Some(v);
        /// Sets `nuisance_local_linear` (`None`: plain forest nuisances).
        with_nuisance_local_linear(lambda: Option<f64>) => self.nuisance_local_linear = lambda;
        /// Sets `nuisance_trees`.
        with_nuisance_trees(v: usize) => self.nuisance_trees = Some(v);
    }

    /// Checks every field; returns the first problem found.
    pub fn validate(&self) -> Result<()> {
        self.forest_params().validate()?;
        if self.ci_group_size < 2 {
            return Err(Error::param(
                "ci_group_size",
                self.ci_group_size,
                "at least 2 (little bags are needed for the variance of the estimates)",
            ));
        }
        if self.sample_fraction > 0.5 {
            return Err(Error::param(
                "sample_fraction",
                self.sample_fraction,
                "at most 0.5 (each little bag draws half of the clusters)",
            ));
        }
        if !self.num_trees.is_multiple_of(self.ci_group_size) {
            return Err(Error::param(
                "num_trees",
                self.num_trees,
                format!("a multiple of ci_group_size ({})", self.ci_group_size),
            ));
        }
        if self.nuisance_trees == Some(0) {
            return Err(Error::param(
                "nuisance_trees",
                0,
                "at least 1 (or None for the default)",
            ));
        }
        if let Some(lambda) = self.nuisance_local_linear
            && !(lambda > 0.0 && lambda.is_finite())
        {
            return Err(Error::param(
                "nuisance_local_linear",
                lambda,
                "a finite ridge penalty > 0 (or None for plain forest nuisances)",
            ));
        }
        if !(self.confidence_level > 0.0 && self.confidence_level < 1.0) {
            return Err(Error::param(
                "confidence_level",
                self.confidence_level,
                "a value in (0, 1)",
            ));
        }
        if !(0.0..1.0).contains(&self.variance_floor) {
            return Err(Error::param(
                "variance_floor",
                self.variance_floor,
                "a value in [0, 1)",
            ));
        }
        Ok(())
    }

    /// Validates the parameters and returns the estimator.
    pub fn build(self) -> Result<CausalForest> {
        self.validate()?;
        Ok(CausalForest { params: self })
    }

    /// The parameters the causal forest shares with a regression forest (their checks
    /// and tree parameters are the same).
    fn forest_params(&self) -> ForestParams {
        ForestParams {
            num_trees: self.num_trees,
            sample_fraction: self.sample_fraction,
            honesty: self.honesty,
            honesty_fraction: self.honesty_fraction,
            min_node_size: self.min_node_size,
            alpha: self.alpha,
            mtry: self.mtry,
            seed: self.seed,
        }
    }

    fn nuisance_tree_count(&self) -> usize {
        self.nuisance_trees.unwrap_or((self.num_trees / 4).max(50))
    }
}

/// Whether the treatment is continuous or binary (detected from the data: binary when
/// every value is 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreatmentKind {
    /// Any real values; V̂(x) = Var(W|X) comes from a regression forest on (W − Ŵ)².
    Continuous,
    /// 0/1; V̂(x) = Ŵ(x)(1 − Ŵ(x)).
    Binary,
}

/// The causal forest estimator: validated [`CausalForestParams`]. Fit it with
/// [`fit_forest`](Self::fit_forest) (the fitted forest) or through the
/// [`Estimator`](crate::Estimator) trait (attribution results).
#[derive(Debug, Clone, PartialEq)]
pub struct CausalForest {
    params: CausalForestParams,
}

/// A treatment effect estimate at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CatePrediction {
    /// τ̂(x), the local effect of one unit of treatment.
    pub tau: f64,
    /// The estimated variance of τ̂(x) (bootstrap of little bags); NaN when fewer than
    /// two little bags could be used.
    pub variance: f64,
}

impl CatePrediction {
    /// The standard error `sqrt(variance)`.
    pub fn std_err(&self) -> f64 {
        self.variance.sqrt()
    }
    /// The normal-theory interval at `level`.
    pub fn interval(&self, level: f64) -> (f64, f64) {
        let z = normal_quantile(0.5 + level / 2.0);
        (self.tau - z * self.std_err(), self.tau + z * self.std_err())
    }
}

impl CausalForest {
    /// The causal forest with default parameters.
    pub fn new() -> Self {
        CausalForest {
            params: CausalForestParams::default(),
        }
    }

    /// The validated parameters.
    pub fn params(&self) -> &CausalForestParams {
        &self.params
    }

    /// Fits nuisances, the causal forest, out-of-bag effects with variances, and
    /// doubly robust scores.
    ///
    /// 1. Ŷ = E[Y|X] and Ŵ = E[W|X] from honest regression forests, out-of-bag (by cluster).
    /// 2. Causal trees on Ỹ = Y − Ŷ, W̃ = W − Ŵ, grown in little bags with honesty and the
    ///    gradient relabelling split rule.
    /// 3. τ̂ and its variance for each training row from the trees that did not draw its
    ///    cluster.
    /// 4. V̂ = Var(W|X) (out-of-bag) and scores Γ = τ̂ + (W−Ŵ)/V̂·(Y−Ŷ−τ̂(W−Ŵ)).
    pub fn fit_forest(&self, data: &CausalDataset) -> Result<FittedCausalForest> {
        let p = &self.params;
        let n = data.num_rows();
        let cov: Vec<&[f64]> = data.covariates().iter().map(Vec::as_slice).collect();
        check_covariates(cov.len(), n, &cov)?;
        let tp = p.forest_params().tree_params(cov.len())?;
        let w = data.treatment();
        let y = data.outcome();
        if w.iter().all(|v| *v == w[0]) {
            return Err(Error::NoVariation {
                what: format!("the treatment `{}`", data.treatment_name()),
            });
        }
        let sampling_clusters = if p.cluster_subsampling {
            data.cluster_codes()
        } else {
            None
        };
        let units = Units::new(n, sampling_clusters);
        let clustered = sampling_clusters.is_some();
        check_units(
            units.num_units(),
            p.sample_fraction,
            p.ci_group_size,
            clustered,
        )?;
        check_units(units.num_units(), 0.5, 1, clustered)?;
        let weights = data.weights();
        let kind = if data.treatment_is_binary() {
            TreatmentKind::Binary
        } else {
            TreatmentKind::Continuous
        };

        let x = Columns::from_columns(&cov);
        let sorted = x.sorted_orders();
        let nt = p.nuisance_tree_count();
        let oob_units = Some(units.unit_of_row.as_slice());
        // The nuisances leave out a row's whole unit (its day in a panel) when rows are
        // not sampled by cluster: another campaign's row of the same day whose spend
        // moves with this row's would otherwise predict the row's own spend (and carry it
        // in its revenue), and Ŵ would absorb the variation the effect is estimated from.
        let nuisance_units = match (sampling_clusters, data.nuisance_unit_codes()) {
            (None, Some(codes)) => Units::new(n, Some(codes)),
            _ => units.clone(),
        };
        let units_n = &nuisance_units;
        let nuisance_oob = Some(units_n.unit_of_row.as_slice());
        let ntp = TreeParams {
            honesty: p.nuisance_honesty.unwrap_or(p.honesty),
            ..tp
        };
        let all_columns: Vec<usize> = (0..cov.len()).collect();
        let nuisance = |target: Target<'_>, id: u64| -> Result<Vec<f64>> {
            let trees = grow_forest(
                &x, &sorted, units_n, target, weights, &ntp, nt, 0.5, 1, p.seed, id,
            );
            // Local linear corrections for Ŷ and Ŵ; V̂ (a variance) and a binary
            // treatment's propensity stay plain forest averages, inside their ranges.
            let linear = id == FOREST_Y || (id == FOREST_W && kind == TreatmentKind::Continuous);
            let pred = match (p.nuisance_local_linear, target) {
                (Some(lambda), Target::Mean { y }) if linear => {
                    predict_local_linear(&trees, &x, units_n, y, weights, &all_columns, lambda)
                }
                _ => predict_mean(&trees, &x, nuisance_oob),
            };
            match pred.iter().position(|v| !v.is_finite()) {
                Some(row) => Err(Error::TooLittleData {
                    what: format!(
                        "out-of-bag nuisance prediction of row {row} (increase nuisance_trees)"
                    ),
                    found: 0,
                    needed: 1,
                }),
                None => Ok(pred),
            }
        };
        let y_hat = nuisance(Target::Mean { y }, FOREST_Y)?;
        let w_hat = if p.randomized {
            let (mut num, mut den) = (0.0, 0.0);
            for i in 0..n {
                let a = weights.map_or(1.0, |wt| wt[i]);
                num += a * w[i];
                den += a;
            }
            vec![num / den; n]
        } else {
            nuisance(Target::Mean { y: w }, FOREST_W)?
        };
        let y_res: Vec<f64> = y.iter().zip(&y_hat).map(|(a, b)| a - b).collect();
        let w_res: Vec<f64> = w.iter().zip(&w_hat).map(|(a, b)| a - b).collect();

        let trees = grow_forest(
            &x,
            &sorted,
            &units,
            Target::Gradient {
                w: &w_res,
                y: &y_res,
            },
            weights,
            &tp,
            p.num_trees,
            p.sample_fraction,
            p.ci_group_size,
            p.seed,
            FOREST_TAU,
        );
        let oob = predict_cate(&trees, p.ci_group_size, &x, oob_units);
        if let Some(row) = oob.iter().position(|c| !c.tau.is_finite()) {
            return Err(Error::TooLittleData {
                what: format!(
                    "out-of-bag trees with treatment variation for row {row} (increase num_trees)"
                ),
                found: 0,
                needed: 1,
            });
        }

        let mean_sq = w_res.iter().map(|r| r * r).sum::<f64>() / n as f64;
        let floor = p.variance_floor * mean_sq;
        let v_raw = match kind {
            TreatmentKind::Binary => w_hat.iter().map(|e| e * (1.0 - e)).collect(),
            TreatmentKind::Continuous if p.randomized => vec![mean_sq; n],
            TreatmentKind::Continuous => {
                let sq: Vec<f64> = w_res.iter().map(|r| r * r).collect();
                nuisance(Target::Mean { y: &sq }, FOREST_V)?
            }
        };
        let v_hat: Vec<f64> = match (kind, data.groups()) {
            (TreatmentKind::Continuous, Some((codes, labels))) if !p.randomized => {
                calibrate_by_group(&v_raw, &w_res, codes, labels.len(), weights, floor)
            }
            _ => v_raw.iter().map(|v| v.max(floor)).collect(),
        };
        let scores: Vec<f64> = (0..n)
            .map(|i| {
                let t = oob[i].tau;
                t + w_res[i] / v_hat[i] * (y_res[i] - t * w_res[i])
            })
            .collect();
        let clusters: Vec<u32> = match data.cluster_codes() {
            Some(c) => c.to_vec(),
            None => (0..n as u32).collect(),
        };
        let num_clusters = data.num_clusters();
        Ok(FittedCausalForest {
            params: p.clone(),
            covariate_names: data.covariate_names().to_vec(),
            kind,
            trees,
            treatment: w.to_vec(),
            y_hat,
            w_hat,
            v_hat,
            y_res,
            w_res,
            oob,
            scores,
            clusters,
            num_clusters,
            weights: weights.map(<[f64]>::to_vec),
        })
    }
}

impl Default for CausalForest {
    fn default() -> Self {
        CausalForest::new()
    }
}

/// A fitted causal forest: the trees, out-of-bag effects and their variances for the
/// training rows, nuisance estimates and doubly robust scores, and the inference built
/// on them.
#[derive(Debug, Clone)]
pub struct FittedCausalForest {
    params: CausalForestParams,
    covariate_names: Vec<String>,
    kind: TreatmentKind,
    trees: Vec<Tree>,
    treatment: Vec<f64>,
    y_hat: Vec<f64>,
    w_hat: Vec<f64>,
    v_hat: Vec<f64>,
    y_res: Vec<f64>,
    w_res: Vec<f64>,
    oob: Vec<CatePrediction>,
    scores: Vec<f64>,
    clusters: Vec<u32>,
    num_clusters: usize,
    weights: Option<Vec<f64>>,
}

impl FittedCausalForest {
    /// The parameters it was fitted with.
    pub fn params(&self) -> &CausalForestParams {
        &self.params
    }
    /// Continuous or binary treatment.
    pub fn treatment_kind(&self) -> TreatmentKind {
        self.kind
    }
    /// Covariate names in training order.
    pub fn covariate_names(&self) -> &[String] {
        &self.covariate_names
    }
    /// Out-of-bag τ̂ and variance for each training row.
    pub fn oob_predictions(&self) -> &[CatePrediction] {
        &self.oob
    }
    /// Out-of-bag τ̂ per training row.
    pub fn tau_hat(&self) -> Vec<f64> {
        self.oob.iter().map(|c| c.tau).collect()
    }
    /// Standard error of the out-of-bag τ̂ per training row.
    pub fn tau_std_err(&self) -> Vec<f64> {
        self.oob.iter().map(CatePrediction::std_err).collect()
    }
    /// Doubly robust scores Γᵢ per training row.
    pub fn dr_scores(&self) -> &[f64] {
        &self.scores
    }
    /// Out-of-bag Ŷ = E[Y|X] per training row.
    pub fn y_hat(&self) -> &[f64] {
        &self.y_hat
    }
    /// Out-of-bag Ŵ = E[W|X] per training row.
    pub fn w_hat(&self) -> &[f64] {
        &self.w_hat
    }
    /// V̂ = Var(W|X) per training row (floored, see `variance_floor`).
    pub fn v_hat(&self) -> &[f64] {
        &self.v_hat
    }
    /// The number of clusters of the standard errors (also the sampling units when
    /// `cluster_subsampling` is on).
    pub fn num_clusters(&self) -> usize {
        self.num_clusters
    }
    /// The number of causal trees.
    pub fn num_trees(&self) -> usize {
        self.trees.len()
    }
    /// Heap bytes held by the causal trees.
    pub fn memory_bytes(&self) -> usize {
        self.trees.iter().map(Tree::memory_bytes).sum()
    }

    /// τ̂(x) and its variance at new points given as covariate columns in training order.
    pub fn predict(&self, x: &[&[f64]]) -> Result<Vec<CatePrediction>> {
        if x.len() != self.covariate_names.len() {
            return Err(Error::LengthMismatch {
                column: "covariates".into(),
                expected: self.covariate_names.len(),
                found: x.len(),
            });
        }
        let n = x.first().map_or(0, |c| c.len());
        check_covariates(x.len(), n, x)?;
        Ok(predict_cate(
            &self.trees,
            self.params.ci_group_size,
            &Columns::from_columns(x),
            None,
        ))
    }

    /// τ̂(x) and its variance for the rows of a table holding the training covariates by name.
    pub fn predict_batch(&self, batch: &RecordBatch) -> Result<Vec<CatePrediction>> {
        let cols = self
            .covariate_names
            .iter()
            .map(|name| crate::data::numeric_column_of(batch, name))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        self.predict(&refs)
    }

    fn subset_weights(&self, subset: Option<&[f64]>) -> Result<Vec<f64>> {
        let n = self.scores.len();
        let mut a = match subset {
            Some(s) => {
                check_len("subset weights", n, s.len())?;
                check_weights("subset weights", s)?;
                s.to_vec()
            }
            None => vec![1.0; n],
        };
        if let Some(w) = &self.weights {
            a.iter_mut().zip(w).for_each(|(a, w)| *a *= w);
        }
        Ok(a)
    }

    /// The average effect `E[τ(X)]` over the rows weighted by `subset` (`None` = all rows;
    /// a 0/1 indicator selects a channel, weekdays, holidays), from the doubly robust
    /// scores, with cluster-robust standard errors at the forest's confidence level.
    pub fn average_effect(&self, subset: Option<&[f64]>) -> Result<AverageEffect> {
        self.average_effect_with(subset, None, self.params.confidence_level)
    }

    /// [`average_effect`](Self::average_effect) with other clusters for the standard
    /// error (e.g. dates instead of campaigns; `None` = the training clusters) and
    /// another confidence level.
    pub fn average_effect_with(
        &self,
        subset: Option<&[f64]>,
        clusters: Option<&[u32]>,
        level: f64,
    ) -> Result<AverageEffect> {
        let a = self.subset_weights(subset)?;
        mean_effect(&self.scores, &a, Some(self.clusters_or(clusters)?), level)
    }

    /// The outcome the treatment caused over the rows weighted by `subset`,
    /// `Σ aᵢ τ(xᵢ) Wᵢ` ("revenue lift"), with the incremental return per unit of
    /// treatment (lift / Σ aᵢWᵢ, "incremental ROAS"); see [`LiftEffect`] for the estimator.
    pub fn lift(&self, subset: Option<&[f64]>) -> Result<LiftEffect> {
        self.lift_with(subset, None, self.params.confidence_level)
    }

    /// [`lift`](Self::lift) with other clusters and confidence level.
    pub fn lift_with(
        &self,
        subset: Option<&[f64]>,
        clusters: Option<&[u32]>,
        level: f64,
    ) -> Result<LiftEffect> {
        let a = self.subset_weights(subset)?;
        let tau: Vec<f64> = self.oob.iter().map(|c| c.tau).collect();
        lift_effect(
            &self.scores,
            &tau,
            &self.treatment,
            &self.w_hat,
            &a,
            self.clusters_or(clusters)?,
            level,
        )
    }

    fn clusters_or<'a>(&'a self, clusters: Option<&'a [u32]>) -> Result<&'a [u32]> {
        match clusters {
            Some(c) if c.len() != self.scores.len() => Err(Error::LengthMismatch {
                column: "clusters".into(),
                expected: self.scores.len(),
                found: c.len(),
            }),
            Some(c) => Ok(c),
            None => Ok(&self.clusters),
        }
    }

    /// grf's `test_calibration`: regresses Y − Ŷ on the mean forest prediction
    /// τ̄·(W − Ŵ) and the differential prediction (τ̂ − τ̄)·(W − Ŵ) (no intercept), with
    /// cluster-robust standard errors and one-sided p-values (H₀: coefficient ≤ 0). A mean
    /// coefficient near 1 says the average effect is right; a differential coefficient
    /// near 1 says the heterogeneity is well calibrated, and its p-value tests for any.
    pub fn test_calibration(&self) -> Result<Calibration> {
        let a = self.subset_weights(None)?;
        let tau: Vec<f64> = self.oob.iter().map(|c| c.tau).collect();
        test_calibration(
            &self.y_res,
            &self.w_res,
            &tau,
            &a,
            &self.clusters,
            self.params.confidence_level,
        )
    }

    /// The best linear projection of the doubly robust scores on an intercept and the
    /// given covariates (any columns, e.g. a weekend flag), with cluster-robust
    /// standard errors and two-sided p-values: how τ(x) varies with them on average.
    pub fn best_linear_projection(
        &self,
        covariates: &[(&str, &[f64])],
    ) -> Result<Vec<Coefficient>> {
        let a = self.subset_weights(None)?;
        best_linear_projection(
            &self.scores,
            covariates,
            &a,
            &self.clusters,
            self.params.confidence_level,
        )
    }

    /// Average effects over named subsets of rows as an Arrow table, one row per subset:
    /// `subset` (Utf8), `rows`, `clusters` (UInt64), `estimate`, `std_err`, `ci_lower`,
    /// `ci_upper`, `p_value` (Float64) at the forest's confidence level. A subset's weights
    /// are as in [`average_effect`](Self::average_effect) (`None` = all rows).
    ///
    /// ```no_run
    /// # fn f(forest: &liftos_causal::FittedCausalForest, weekend: &[f64]) -> liftos_causal::Result<()> {
    /// let weekday: Vec<f64> = weekend.iter().map(|w| 1.0 - w).collect();
    /// let table = forest.average_effects_table(&[("all", None), ("weekend", Some(weekend)), ("weekday", Some(&weekday))])?;
    /// assert_eq!(table.num_rows(), 3);
    /// # Ok(()) }
    /// ```
    pub fn average_effects_table(&self, subsets: &[(&str, Option<&[f64]>)]) -> Result<RecordBatch> {
        let effects = subsets
            .iter()
            .map(|(_, s)| self.average_effect(*s))
            .collect::<Result<Vec<_>>>()?;
        let f = |g: fn(&AverageEffect) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from(
                effects.iter().map(g).collect::<Vec<_>>(),
            ))
        };
        let u = |g: fn(&AverageEffect) -> usize| -> ArrayRef {
            Arc::new(UInt64Array::from(
                effects.iter().map(|e| g(e) as u64).collect::<Vec<_>>(),
            ))
        };
        let names: Vec<&str> = subsets.iter().map(|(n, _)| *n).collect();
        let names: ArrayRef = Arc::new(StringArray::from(names));
        Ok(RecordBatch::try_from_iter_with_nullable([
            ("subset", names, false),
            ("rows", u(|e| e.rows), false),
            ("clusters", u(|e| e.clusters), false),
            ("estimate", f(|e| e.estimate), false),
            ("std_err", f(|e| e.std_err), false),
            ("ci_lower", f(|e| e.ci_lower), false),
            ("ci_upper", f(|e| e.ci_upper), false),
            ("p_value", f(|e| e.p_value), false),
        ])?)
    }

    /// The out-of-bag results per training row as an Arrow table: `tau_hat`, `std_err`,
    /// `ci_lower`, `ci_upper` (at the forest's confidence level), `y_hat`, `w_hat`,
    /// `v_hat`, `dr_score`.
    pub fn oob_table(&self) -> Result<RecordBatch> {
        let level = self.params.confidence_level;
        let (lo, hi): (Vec<f64>, Vec<f64>) = self.oob.iter().map(|c| c.interval(level)).unzip();
        let cols: Vec<(&str, Vec<f64>)> = vec![
            ("tau_hat", self.tau_hat()),
            ("std_err", self.tau_std_err()),
            ("ci_lower", lo),
            ("ci_upper", hi),
            ("y_hat", self.y_hat.clone()),
            ("w_hat", self.w_hat.clone()),
            ("v_hat", self.v_hat.clone()),
            ("dr_score", self.scores.clone()),
        ];
        float_table(cols)
    }
}

/// How far (as a ratio, and its inverse) a channel's summed `V̂` may be from its summed
/// squared treatment residuals before [`calibrate_by_group`] replaces it. Over the causal
/// tests' 160 channel fits on the sandbox presets' worlds the ratio is 0.81–1.10; outside
/// 0.8–1.25 were only the one-campaign tests (Klaviyo's one campaign 0.04–0.10, Google
/// Ads' one-week flight 1.44), a channel spending 1/30 of another's (0.50) and one at
/// 1/100.
const V_HAT_AGREEMENT: f64 = 0.8;

/// The conditional variance `V̂(x)` of a continuous treatment, checked channel by
/// channel (`codes` are the rows' groups) and floored at `floor`.
///
/// The variance forest pools every channel's rows. Where a channel's `V̂` sums to within
/// a factor of 1.25 of its squared treatment residuals ([`V_HAT_AGREEMENT`]), it is kept
/// as it is. Where it does
/// not (a channel whose spend varies far less than the others': an email channel next to
/// search budgets, a channel spending 1/100 of the biggest), the forest's `V̂` there says
/// more about the other channels than about it: it was 10–25× too large for Klaviyo's one
/// campaign in the standard world, which shrank the channel's doubly robust correction by
/// as much and left its return at the pooled effect (2.6 against a true 3.9, the interval
/// missing). Such a channel's `V̂` is its own mean squared residual instead, one constant
/// (rescaling the forest's shape was tried: within such a channel it is noise, and small
/// values blew the correction up to 2–3× the truth).
fn calibrate_by_group(
    v: &[f64],
    w_res: &[f64],
    codes: &[u32],
    groups: usize,
    weights: Option<&[f64]>,
    floor: f64,
) -> Vec<f64> {
    let mut fitted = vec![0.0; groups];
    let mut observed = vec![0.0; groups];
    let mut total = vec![0.0; groups];
    for (i, &g) in codes.iter().enumerate() {
        let a = weights.map_or(1.0, |w| w[i]);
        let g = g as usize;
        if g < groups {
            fitted[g] += a * v[i].max(floor);
            observed[g] += a * w_res[i] * w_res[i];
            total[g] += a;
        }
    }
    let own: Vec<Option<f64>> = (0..groups)
        .map(|g| {
            let ratio = observed[g] / fitted[g];
            (fitted[g] > 0.0
                && total[g] > 0.0
                && observed[g] > 0.0
                && !(V_HAT_AGREEMENT..=1.0 / V_HAT_AGREEMENT).contains(&ratio))
            .then(|| observed[g] / total[g])
        })
        .collect();
    codes
        .iter()
        .zip(v)
        .map(|(&g, &vi)| match own.get(g as usize) {
            Some(Some(c)) => *c,
            _ => vi.max(floor),
        })
        .collect()
}

/// A table of non-nullable Float64 columns.
pub(crate) fn float_table(cols: Vec<(&str, Vec<f64>)>) -> Result<RecordBatch> {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, _)| Field::new(*n, DataType::Float64, false))
        .collect();
    let arrays: Vec<ArrayRef> = cols
        .into_iter()
        .map(|(_, v)| Arc::new(Float64Array::from(v)) as ArrayRef)
        .collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// grf's objective Bayes debiaser for the little-bags variance: removes the within-bag
/// noise from the between-bag variance while keeping the estimate positive.
pub(crate) fn debias(var_between: f64, group_noise: f64, num_good_groups: f64) -> f64 {
    let initial = var_between - group_noise;
    let se = var_between.max(group_noise) * (2.0 / num_good_groups).sqrt();
    if se <= 0.0 || !se.is_finite() {
        return initial.max(0.0);
    }
    let ratio = (initial / se).max(-30.0);
    let numerator = (-ratio * ratio / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let denominator = 0.5 * statrs::function::erf::erfc(-ratio / std::f64::consts::SQRT_2);
    initial + se * numerator / denominator
}

/// τ̂ and its little-bags variance at each row of `x`. With `oob_units`, a tree is used
/// for row i only if it did not draw i's unit, and a little bag only if none of its trees did.
pub(crate) fn predict_cate(
    trees: &[Tree],
    group: usize,
    x: &Columns,
    oob_units: Option<&[u32]>,
) -> Vec<CatePrediction> {
    let nb = trees.len();
    let mut out = vec![
        CatePrediction {
            tau: f64::NAN,
            variance: f64::NAN
        };
        x.n
    ];
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let base = c * CHUNK;
            let mut leaves = vec![u32::MAX; chunk.len() * nb];
            for (b, tree) in trees.iter().enumerate() {
                for k in 0..chunk.len() {
                    if let Some(leaf) = tree.oob_leaf(x, base + k, oob_units) {
                        leaves[k * nb + b] = leaf as u32;
                    }
                }
            }
            let mut psi = vec![0.0; nb];
            let mut group_means: Vec<f64> = Vec::with_capacity(nb / group.max(1));
            for (k, slot) in chunk.iter_mut().enumerate() {
                let lv = &leaves[k * nb..(k + 1) * nb];
                let mut s = [0.0; 4];
                let mut cnt = 0usize;
                for (b, &leaf) in lv.iter().enumerate() {
                    if leaf != u32::MAX {
                        let st = trees[b].stats(leaf as usize);
                        for q in 0..4 {
                            s[q] += st[q];
                        }
                        cnt += 1;
                    }
                }
                if cnt == 0 {
                    continue;
                }
                let cf = cnt as f64;
                let (wb, yb, wy, ww) = (s[0] / cf, s[1] / cf, s[2] / cf, s[3] / cf);
                let denom = ww - wb * wb;
                if denom <= 0.0 {
                    continue;
                }
                let tau = (wy - wb * yb) / denom;
                // Bootstrap of little bags on the per-tree moment ψ_b (leaf means of
                // (W̃−w̄)(Ỹ−ȳ−τ̂(W̃−w̄))).
                group_means.clear();
                let mut used = 0usize;
                for g in 0..nb / group {
                    let range = g * group..(g + 1) * group;
                    if lv[range.clone()].contains(&u32::MAX) {
                        continue;
                    }
                    let mut gm = 0.0;
                    for b in range {
                        let st = trees[b].stats(lv[b] as usize);
                        let v = st[2] - wb * st[1] - yb * st[0] + wb * yb
                            - tau * (st[3] - 2.0 * wb * st[0] + wb * wb);
                        psi[used] = v;
                        used += 1;
                        gm += v;
                    }
                    group_means.push(gm / group as f64);
                }
                let ng = group_means.len();
                let variance = if ng >= 2 {
                    let mean = psi[..used].iter().sum::<f64>() / used as f64;
                    let var_between =
                        group_means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / ng as f64;
                    let var_total =
                        psi[..used].iter().map(|v| (v - mean).powi(2)).sum::<f64>() / used as f64;
                    let noise = (var_total - var_between) / (group as f64 - 1.0);
                    debias(var_between, noise, ng as f64) / (denom * denom)
                } else {
                    f64::NAN
                };
                *slot = CatePrediction { tau, variance };
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debias_matches_grf_behaviour() {
        // Far from zero the correction vanishes.
        assert!((debias(1.0, 0.1, 1000.0) - 0.9).abs() < 1e-9);
        // When noise exceeds the between variance the result stays positive.
        let v = debias(0.5, 1.0, 100.0);
        assert!(v > 0.0 && v < 0.2, "{v}");
        assert_eq!(debias(0.0, 0.0, 10.0), 0.0);
    }

    #[test]
    fn defaults_are_grfs() {
        let p = CausalForestParams::default();
        assert_eq!(
            (
                p.num_trees,
                p.sample_fraction,
                p.honesty_fraction,
                p.min_node_size,
                p.alpha,
                p.ci_group_size
            ),
            (2000, 0.5, 0.5, 5, 0.05, 2)
        );
        assert_eq!(super::super::default_mtry(10), 10);
        assert_eq!(super::super::default_mtry(500), 43);
        assert_eq!(p.nuisance_tree_count(), 500);
    }
}
