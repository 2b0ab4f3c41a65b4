//! Causal estimation for marketing attribution: **what did each channel's spend
//! actually cause?**
//!
//! The engine is a causal forest that follows grf (Athey, Tibshirani & Wager): honest,
//! subsampled trees grown in little bags on locally centred data with the gradient
//! relabelling split rule, forest-weighted local effects τ̂(x), their variance by the
//! bootstrap of little bags, and doubly robust scores for average effects with
//! cluster-robust standard errors. [`CausalForest`] implements the crate's
//! [`Estimator`] trait and returns [`AttributionResults`]: per-row effects and, per
//! channel, the revenue lift, incremental ROAS and marginal ROAS with intervals.
//!
//! ```
//! use liftos_causal::{CausalDataset, CausalForestParams, Estimator};
//!
//! // A toy panel: spend causes 2 units of revenue per unit, more on weekends.
//! let n = 600;
//! let weekend: Vec<f64> = (0..n).map(|i| if i % 7 >= 5 { 1.0 } else { 0.0 }).collect();
//! let season: Vec<f64> = (0..n).map(|i| ((i % 365) as f64 / 58.0).sin()).collect();
//! let spend: Vec<f64> = (0..n).map(|i| 10.0 + 3.0 * season[i] + ((i * 7919) % 13) as f64).collect();
//! let revenue: Vec<f64> = (0..n)
//!     .map(|i| 50.0 + 20.0 * season[i] + (2.0 + weekend[i]) * spend[i] + ((i * 104729) % 11) as f64 - 5.0)
//!     .collect();
//! let channel: Vec<&str> = (0..n).map(|i| if i % 2 == 0 { "meta" } else { "google_ads" }).collect();
//! let data = CausalDataset::new(&revenue, &spend)?
//!     .with_names("revenue", "spend")
//!     .with_covariates([("weekend", &weekend[..]), ("season", &season[..])])?
//!     .with_groups(&channel)?;
//!
//! let forest = CausalForestParams::default().with_num_trees(200).with_seed(7).build()?;
//! let results = forest.fit(&data)?;
//! let meta = results.channel("meta").expect("meta is a group");
//! assert!(meta.incremental_roas > 1.8 && meta.incremental_roas < 3.2);
//! assert_eq!(results.treatment_effects.len(), n);
//! # Ok::<(), liftos_causal::Error>(())
//! ```
//!
//! | Feature | Where |
//! |---|---|
//! | Data with roles (outcome, treatment, covariates, clusters, groups, weights) from slices or Arrow | [`CausalDataset`], [`ColumnRoles`] |
//! | Estimator trait, results with seed-era names (`revenue_lift`, `incremental_roas`, ...) | [`Estimator`], [`AttributionResults`] |
//! | Honest regression forest with out-of-bag predictions | [`forest::RegressionForest`] |
//! | grf causal forest: little bags, honesty, gradient split rule, τ̂(x) with variance | [`forest::CausalForest`], [`forest::FittedCausalForest`] |
//! | Doubly robust averages, lifts and incremental returns over any weighted subset, cluster-robust | [`FittedCausalForest::average_effect`], [`FittedCausalForest::lift`] |
//! | Calibration test and best linear projection | [`FittedCausalForest::test_calibration`], [`FittedCausalForest::best_linear_projection`] |
//! | Arrow output (per-row effects, channel table) | [`FittedCausalForest::oob_table`], [`AttributionResults::channel_table`] |
//! | Reproducible for any thread count (tree RNG derived from seed and tree index) | all |
//! | Budget planner: the split of a budget the response curves recommend, with intervals | [`plan_budget`], [`plan::PlanOptions`] |
//!
//! Clusters (campaign, date) make every standard error cluster-robust with t(C − 1)
//! critical values. By default (as in grf) trees also subsample whole clusters; set
//! [`CausalForestParams::cluster_subsampling`] to `false` when the clusters are a fixed set
//! of entities whose identity is a covariate (campaign fixed effects), so the nuisance
//! models can learn each entity's baseline.
//!
//! Memory: a tree stores per node a `u32` variable, an `f64` threshold and a `u32`
//! child pointer, and per leaf four `f64` means, plus a bitset of drawn clusters
//! (about one leaf per 20–25 training rows); the nuisance forests are dropped after
//! fitting. Use [`FittedCausalForest::memory_bytes`] for the exact figure.
#![warn(missing_docs)]

/// Largest magnitude of a money amount the crate takes in (revenue, spend, a measured
/// lift, a curve's point; a billion billion in any currency): beyond it the fits' sums of
/// squares and the curves' arithmetic overflow into infinities, so the business level and
/// the planner refuse it, naming the value.
pub(crate) const MAX_AMOUNT: f64 = 1e18;

pub mod attribution;
pub mod business;
mod data;
pub mod dml;
mod error;
mod estimator;
pub mod forest;
pub mod inference;
mod json;
pub mod plan;
pub mod prepare;
pub mod response;
mod results;
pub mod spillover;

pub use attribution::{
    Attribution, AttributionModel, AttributionOptions, ClusterBy, analyze_attribution,
    credit_spillover,
};
pub use business::{
    BusinessData, BusinessOptions, BusinessResults, CampaignSeries, LiftTest, SpendRow,
    analyze_business,
};
pub use data::{CausalDataset, ColumnRoles};
pub use dml::{Dml, DmlParams};
pub use error::{Error, Result};
pub use estimator::Estimator;
pub use forest::{CausalForest, CausalForestParams, FittedCausalForest};
pub use inference::{AverageEffect, Calibration, Coefficient, LiftEffect};
pub use plan::{BudgetPlan, Objective, PlanOptions, plan_budget, plan_budget_json};
pub use prepare::{
    Adstock, COMMON_SPEND_GATE, CausalPanel, CausalRoles, CommonSpend, DroppedRow,
    TreatmentAssignment, prepare_causal_data,
};
pub use response::{HillCurve, REFINE_GATE, ResponseOptions, ResponseTransform};
pub use results::{
    AttributionResults, ChannelEffect, ChannelResponse, CurvePoint, Diagnostics, Estimate,
    ModelAccuracy, NotEstimated, RowEffect, RowIndex, Sensitivity, TemporalEffects,
};
pub use spillover::{CannibalizationCheck, SpilloverCheck};
