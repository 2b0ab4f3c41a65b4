//! [`AttributionResults`]: what an [`Estimator`](crate::Estimator) returns.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde::Serialize;

use crate::Result;
use crate::inference::{AverageEffect, LiftEffect};
use crate::json::{finite, finite_or_null, finite_seq};

/// The estimated effect for one row (a campaign-day).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RowEffect {
    /// τ̂(xᵢ): the outcome caused by one more unit of treatment (out-of-bag).
    #[serde(serialize_with = "finite")]
    pub tau: f64,
    /// Standard error of τ̂(xᵢ).
    #[serde(serialize_with = "finite")]
    pub std_err: f64,
    /// Lower end of the pointwise interval at the results' confidence level.
    #[serde(serialize_with = "finite")]
    pub ci_lower: f64,
    /// Upper end of the pointwise interval.
    #[serde(serialize_with = "finite")]
    pub ci_upper: f64,
}

/// The effect of one channel (or other group label) over its rows.
///
/// Field names follow the results JSON of DESIGN.md; `revenue_lift` is
/// `Σ τ(xᵢ)·Wᵢ` over the channel's rows (see [`LiftEffect`] for the estimator).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelEffect {
    /// The group label (channel name), or `all` when the data has no groups.
    pub channel: String,
    /// Rows of the channel.
    pub rows: usize,
    /// Total treatment Σ Wᵢ (spend).
    #[serde(serialize_with = "finite")]
    pub spend: f64,
    /// Outcome caused by the treatment, Σ τ(xᵢ)·Wᵢ; reported at 0 or above, like every
    /// effect and interval of the channel, unless the analysis ran with `non_negative`
    /// off ([`floor_negative_effects`](crate::attribution::floor_negative_effects)).
    #[serde(serialize_with = "finite")]
    pub revenue_lift: f64,
    /// Lower end of the `revenue_lift` interval.
    #[serde(serialize_with = "finite")]
    pub ci_lower: f64,
    /// Upper end of the `revenue_lift` interval.
    #[serde(serialize_with = "finite")]
    pub ci_upper: f64,
    /// Cluster-robust standard error of `revenue_lift`.
    #[serde(serialize_with = "finite")]
    pub std_err: f64,
    /// Two-sided p-value of "no lift" (NaN when the channel has no spend; 1 when a lift
    /// below zero is reported at 0).
    #[serde(serialize_with = "finite")]
    pub p_value: f64,
    /// Degrees of freedom of the t distribution behind the interval and the p-value
    /// (infinite, `null` in JSON, for a normal one; NaN without spend). With few
    /// campaigns of unequal size, fewer than the campaigns: see
    /// [`LiftEffect::df`](crate::LiftEffect::df).
    #[serde(serialize_with = "finite")]
    pub df: f64,
    /// `revenue_lift / spend` (NaN when the channel has no spend).
    #[serde(serialize_with = "finite")]
    pub incremental_roas: f64,
    /// Lower end of the `incremental_roas` interval.
    #[serde(serialize_with = "finite")]
    pub incremental_roas_ci_lower: f64,
    /// Upper end of the `incremental_roas` interval.
    #[serde(serialize_with = "finite")]
    pub incremental_roas_ci_upper: f64,
    /// Spend-weighted mean of τ̂: the return of one more unit of spend.
    #[serde(serialize_with = "finite")]
    pub marginal_roas: f64,
    /// Unweighted average effect `E[τ(X)]` over the channel's rows (doubly robust).
    #[serde(skip)]
    pub average_effect: f64,
    /// Standard error of `average_effect`.
    #[serde(skip)]
    pub average_effect_std_err: f64,
    /// Total observed outcome Σ Yᵢ over the channel's rows (what the platform reports).
    #[serde(serialize_with = "finite")]
    pub outcome_total: f64,
    /// Naive (platform-reported) return `outcome_total / spend`: what the channel's own
    /// dashboard shows; biased when spend follows demand.
    #[serde(serialize_with = "finite")]
    pub naive_roas: f64,
    /// Long-run return of one unit of spend, `marginal_roas / (1 − θ)`, when the
    /// treatment is adstocked with decay θ; `None` without adstock.
    #[serde(serialize_with = "finite_or_null")]
    pub long_run_roas: Option<f64>,
    /// The geometric adstock decay θ used for this channel's treatment (`None`: no adstock).
    #[serde(serialize_with = "finite_or_null")]
    pub adstock_decay: Option<f64>,
    /// The channel's response transform and what it implies: the marginal return's
    /// interval, the response curve, the sensitivity to hidden confounding (`None` for
    /// estimators that give no doubly robust scores).
    #[serde(flatten)]
    pub response: Option<ChannelResponse>,
}

/// One point of a channel's response curve: the outcome its spend would cause over the
/// data's window if every row's spend were `scale` times what it was.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Spend multiplier (1 = as spent).
    #[serde(serialize_with = "finite")]
    pub scale: f64,
    /// The channel's total spend at that scale.
    #[serde(serialize_with = "finite")]
    pub spend: f64,
    /// Incremental outcome against zero spend.
    #[serde(serialize_with = "finite")]
    pub incremental_revenue: f64,
    /// Lower end of its interval.
    #[serde(serialize_with = "finite")]
    pub ci_lower: f64,
    /// Upper end of its interval.
    #[serde(serialize_with = "finite")]
    pub ci_upper: f64,
}

/// How robust a channel's effect is to a hidden confounder (Cinelli & Hazlett 2020).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sensitivity {
    /// Partial R² a hidden confounder would need with both the (transformed) spend and
    /// the outcome, beyond the controls, to bring the switch-off lift to zero.
    #[serde(serialize_with = "finite")]
    pub robustness_value: f64,
    /// The same to make the lift's interval reach zero (0 when it already does).
    #[serde(serialize_with = "finite")]
    pub robustness_value_ci: f64,
    /// The t-statistic of the lift the values rest on.
    #[serde(serialize_with = "finite")]
    pub t_stat: f64,
}

/// A channel's response: the transform chosen from the data, the marginal return's
/// interval, the response curve and the sensitivity analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelResponse {
    /// The transform (carryover and saturation) the effect is measured through.
    pub transform: crate::response::ResponseTransform,
    /// The Hill half-saturation in spend units: the relative value times the channel's
    /// mean daily exposure (`None` for a linear response).
    pub half_saturation_spend: Option<f64>,
    /// Lower end of the marginal return's interval.
    pub marginal_roas_ci_lower: f64,
    /// Upper end of the marginal return's interval.
    pub marginal_roas_ci_upper: f64,
    /// Lower end of the long-run return's interval (with carryover).
    pub long_run_roas_ci_lower: Option<f64>,
    /// Upper end of the long-run return's interval.
    pub long_run_roas_ci_upper: Option<f64>,
    /// Incremental outcome at spend scales (0, 0.25, …, 2 by default).
    pub response_curve: Vec<CurvePoint>,
    /// Sensitivity to hidden confounding.
    pub sensitivity: Sensitivity,
    /// Number of candidate transforms the data could not reject (their intervals are
    /// part of the reported ones).
    pub plausible_transforms: usize,
    /// Lowest and highest switch-off return among the plausible transforms
    /// (constant-effect estimates): how much the switch-off return rests on the curve's
    /// unseen shape below today's spend.
    pub switch_off_range: (f64, f64),
}

impl ChannelEffect {
    pub(crate) fn from_lift(channel: &str, lift: &LiftEffect, average: &AverageEffect) -> Self {
        ChannelEffect {
            channel: channel.to_string(),
            rows: lift.rows,
            spend: lift.spend,
            revenue_lift: lift.revenue_lift,
            ci_lower: lift.ci_lower,
            ci_upper: lift.ci_upper,
            std_err: lift.std_err,
            p_value: lift.p_value,
            df: lift.df,
            incremental_roas: lift.incremental_roas,
            incremental_roas_ci_lower: lift.incremental_roas_ci_lower,
            incremental_roas_ci_upper: lift.incremental_roas_ci_upper,
            marginal_roas: lift.marginal_roas,
            average_effect: average.estimate,
            average_effect_std_err: average.std_err,
            outcome_total: f64::NAN,
            naive_roas: f64::NAN,
            long_run_roas: None,
            adstock_decay: None,
            response: None,
        }
    }

    /// A channel without spend: its lift is exactly zero; returns are undefined (NaN).
    pub(crate) fn without_spend(channel: &str, rows: usize, average: &AverageEffect) -> Self {
        ChannelEffect {
            channel: channel.to_string(),
            rows,
            spend: 0.0,
            revenue_lift: 0.0,
            ci_lower: 0.0,
            ci_upper: 0.0,
            std_err: 0.0,
            p_value: f64::NAN,
            df: f64::NAN,
            incremental_roas: f64::NAN,
            incremental_roas_ci_lower: f64::NAN,
            incremental_roas_ci_upper: f64::NAN,
            marginal_roas: f64::NAN,
            average_effect: average.estimate,
            average_effect_std_err: average.std_err,
            outcome_total: f64::NAN,
            naive_roas: f64::NAN,
            long_run_roas: None,
            adstock_decay: None,
            response: None,
        }
    }
}

/// One estimate with its standard error and interval: a temporal effect, a placebo
/// effect, a treatment effect over a subset of rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// What is estimated (`monday`, `january`, `holiday`, `placebo_lead_7`, ...).
    pub name: String,
    /// The point estimate.
    #[serde(serialize_with = "finite")]
    pub estimate: f64,
    /// Its standard error (cluster-robust where the source model has clusters).
    #[serde(serialize_with = "finite")]
    pub std_err: f64,
    /// Lower end of the interval at the results' confidence level.
    #[serde(serialize_with = "finite")]
    pub ci_lower: f64,
    /// Upper end of the interval.
    #[serde(serialize_with = "finite")]
    pub ci_upper: f64,
    /// Two-sided p-value of "the effect is zero".
    #[serde(serialize_with = "finite")]
    pub p_value: f64,
    /// Rows the estimate rests on.
    pub rows: usize,
}

/// Temporal patterns ([`AttributionResults::get_temporal_effects`]).
///
/// Baseline effects (`day_effects`, `seasonal_effects`, `holiday_lift`, `event_lift`) are
/// **relative lifts of the baseline outcome** (the outcome without the treatment's
/// contribution): `0.12` means +12% against the average day. Treatment-effect patterns
/// (`effect_by_day`, `effect_on_holidays`, `effect_off_holidays`) are average effects of
/// one unit of treatment (outcome per unit of spend) over those rows.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct TemporalEffects {
    /// Baseline lift by weekday, Monday first (7 entries, names `monday` ... `sunday`),
    /// relative to the average weekday.
    pub day_effects: Vec<Estimate>,
    /// Baseline lift by month, January first (names `january` ...), relative to the
    /// average day of the period; months without data are left out.
    pub seasonal_effects: Vec<Estimate>,
    /// Baseline lift on public holidays against an ordinary day of the same weekday and
    /// month (`None` when the data has no holiday column or no holiday).
    pub holiday_lift: Option<Estimate>,
    /// Baseline lift on commercial events (Black Friday, Cyber Monday), when present.
    pub event_lift: Option<Estimate>,
    /// Average treatment effect per unit by weekday, Monday first.
    pub effect_by_day: Vec<Estimate>,
    /// Average treatment effect per unit on holidays.
    pub effect_on_holidays: Option<Estimate>,
    /// Average treatment effect per unit on other days.
    pub effect_off_holidays: Option<Estimate>,
}

/// Out-of-sample accuracy of the outcome model ([`AttributionResults::model_accuracy`]).
///
/// Folds are contiguous blocks of time; the `gap_days` days on each side of a test block
/// are left out of training so that adjacent days do not leak.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelAccuracy {
    /// Out-of-sample R² of the outcome over all test folds.
    #[serde(serialize_with = "finite")]
    pub r2: f64,
    /// Mean absolute percentage error over test rows with a non-zero outcome.
    #[serde(serialize_with = "finite")]
    pub mape: f64,
    /// Number of time-blocked folds.
    pub folds: usize,
    /// Days left out between training and test blocks.
    pub gap_days: u32,
    /// R² of each fold, in time order.
    #[serde(serialize_with = "finite_seq")]
    pub fold_r2: Vec<f64>,
}

/// Checks of the model's assumptions, with warnings in plain words.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[non_exhaustive]
pub struct Diagnostics {
    /// grf's calibration test of the forest (causal forest only).
    #[serde(serialize_with = "crate::json::calibration")]
    pub calibration: Option<crate::inference::Calibration>,
    /// Share of the treatment's variance explained by the controls (out of bag); near 1
    /// means the treatment barely varies given the controls (weak overlap).
    #[serde(serialize_with = "finite_or_null")]
    pub treatment_r2: Option<f64>,
    /// Share of rows whose conditional treatment variance is below 5% of the median.
    #[serde(serialize_with = "finite_or_null")]
    pub low_overlap_share: Option<f64>,
    /// Placebo: the estimated effect of future treatment (a lead) on today's outcome,
    /// controlling for today's treatment; should be indistinguishable from zero.
    pub placebo: Option<Estimate>,
    /// The same placebo with the next day's treatment (reported, no warning: adjacent
    /// days share whatever the controls miss of the calendar, so it also fires on worlds
    /// without hidden confounding).
    pub placebo_next_day: Option<Estimate>,
    /// Spillover checks: per ordered pair of channels, the revenue recorded in one
    /// channel's rows per unit of another's spend ([`crate::spillover`]); empty without
    /// dates or with one channel.
    pub spillover: Vec<crate::SpilloverCheck>,
    /// Within-channel checks: per channel of two campaigns or more, the change of its
    /// marginal return from what a campaign's extra spend does to its siblings' rows
    /// ([`crate::CannibalizationCheck`]); empty without dates.
    pub cannibalization: Vec<crate::CannibalizationCheck>,
    /// Warnings in plain words (empty when every check passed).
    pub warnings: Vec<String>,
    /// Channels of the input that could not be estimated and were left out of the fit
    /// (a single row, nothing to compare within a campaign), with why; they are not in
    /// `channels`.
    pub not_estimated: Vec<NotEstimated>,
}

/// A channel left out of the fit because its data cannot give an estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotEstimated {
    /// The channel.
    pub channel: String,
    /// Its rows in the input, left out of the fit (at the business level: its days with
    /// spend).
    pub rows: usize,
    /// Why, in words (the estimation's error).
    pub reason: String,
}

/// Row identifiers carried into results so per-row effects can be read, plotted and
/// exported against dates, channels and campaigns.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RowIndex {
    /// Days since 1970-01-01 (Arrow Date32) of each row.
    pub date: Vec<i32>,
    /// Channel (group label) of each row.
    pub channel: Vec<String>,
    /// Entity (campaign) of each row; empty strings when there is no entity.
    pub entity: Vec<String>,
    /// Treatment of each row (before any adstock).
    #[serde(serialize_with = "finite_seq")]
    pub treatment: Vec<f64>,
    /// Outcome of each row.
    #[serde(serialize_with = "finite_seq")]
    pub outcome: Vec<f64>,
}

/// The results of fitting an [`Estimator`](crate::Estimator).
///
/// Today it holds the per-row effects, the overall average effect and the per-channel
/// effects. It is `#[non_exhaustive]` so later versions can add fields (model accuracy,
/// temporal effects) without breaking users.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AttributionResults {
    /// The model (`causal_forest`).
    pub model: String,
    /// The outcome column.
    pub outcome: String,
    /// The treatment column.
    pub treatment: String,
    /// Rows fitted.
    pub rows: usize,
    /// Level of every interval.
    #[serde(serialize_with = "finite")]
    pub confidence_level: f64,
    /// The seed used.
    pub seed: u64,
    /// The average effect E[τ(X)] over all rows.
    #[serde(serialize_with = "crate::json::average_effect")]
    pub average_effect: AverageEffect,
    /// Per-channel (group) effects, in order of first appearance of the label (in the
    /// panel's order: by date, then channel, for [`crate::analyze_attribution`]).
    pub channels: Vec<ChannelEffect>,
    /// Per-row effects, in input order.
    #[serde(skip)]
    pub treatment_effects: Vec<RowEffect>,
    /// Doubly robust (orthogonal) score of each row, when the estimator has them: the
    /// input of every subset average (weekday, holiday). Empty otherwise.
    #[serde(skip)]
    pub scores: Vec<f64>,
    /// Temporal patterns, when the data has a time variable
    /// (`analyze_attribution` fills them).
    pub temporal: Option<TemporalEffects>,
    /// Cross-validated accuracy of the outcome model, when cross-validation was on.
    pub model_accuracy: Option<ModelAccuracy>,
    /// Assumption checks and warnings.
    pub diagnostics: Diagnostics,
    /// Row identifiers (date, channel, entity), when known.
    #[serde(rename = "window", serialize_with = "crate::json::window")]
    pub row_index: Option<RowIndex>,
    /// The settings that reproduce these results (name, value), in a stable order.
    #[serde(serialize_with = "crate::json::settings")]
    pub settings: Vec<(String, String)>,
}

impl AttributionResults {
    /// Empty results for a model: fill them with the `with_*` methods. This is how an
    /// [`Estimator`](crate::Estimator) written outside this crate builds its results.
    pub fn new(model: &str, outcome: &str, treatment: &str, rows: usize, seed: u64) -> Self {
        AttributionResults {
            model: model.to_string(),
            outcome: outcome.to_string(),
            treatment: treatment.to_string(),
            rows,
            confidence_level: 0.95,
            seed,
            average_effect: AverageEffect {
                estimate: f64::NAN,
                std_err: f64::NAN,
                ci_lower: f64::NAN,
                ci_upper: f64::NAN,
                p_value: f64::NAN,
                confidence_level: 0.95,
                rows,
                clusters: 0,
                df: f64::NAN,
            },
            channels: Vec::new(),
            treatment_effects: Vec::new(),
            scores: Vec::new(),
            temporal: None,
            model_accuracy: None,
            diagnostics: Diagnostics::default(),
            row_index: None,
            settings: Vec::new(),
        }
    }

    liftos_core::setters! {
        /// Sets the confidence level of the intervals.
        with_confidence_level(level: f64) => self.confidence_level = level;
        /// Sets the overall average effect.
        with_average_effect(average: AverageEffect) => self.average_effect = average;
        /// Sets the per-channel effects.
        with_channels(channels: Vec<ChannelEffect>);
        /// Sets the per-row effects (one per input row, in input order).
        with_treatment_effects(effects: Vec<RowEffect>) => self.treatment_effects = effects;
        /// Sets the per-row doubly robust scores.
        with_scores(scores: Vec<f64>);
    }

    /// The temporal effects, when computed.
    pub fn get_temporal_effects(&self) -> Option<&TemporalEffects> {
        self.temporal.as_ref()
    }

    /// The per-channel effects.
    pub fn get_channel_effects(&self) -> &[ChannelEffect] {
        &self.channels
    }

    /// The data's window: first and last date (days since 1970-01-01) and its length in
    /// days, from the row index (`None` without one).
    pub fn window(&self) -> Option<(i32, i32, u32)> {
        let dates = &self.row_index.as_ref()?.date;
        let first = *dates.iter().min()?;
        let last = *dates.iter().max()?;
        let days = u32::try_from(i64::from(last) - i64::from(first) + 1).ok()?;
        Some((first, last, days))
    }

    /// The effect of the named channel.
    pub fn channel(&self, name: &str) -> Option<&ChannelEffect> {
        self.channels.iter().find(|c| c.channel == name)
    }

    /// Per-row effects as an Arrow table: `tau`, `std_err`, `ci_lower`, `ci_upper`.
    pub fn treatment_effects_table(&self) -> Result<RecordBatch> {
        let col = |f: fn(&RowEffect) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from(
                self.treatment_effects.iter().map(f).collect::<Vec<_>>(),
            ))
        };
        let schema = Schema::new(
            ["tau", "std_err", "ci_lower", "ci_upper"]
                .into_iter()
                .map(|n| Field::new(n, DataType::Float64, false))
                .collect::<Vec<_>>(),
        );
        Ok(RecordBatch::try_new(
            Arc::new(schema),
            vec![
                col(|r| r.tau),
                col(|r| r.std_err),
                col(|r| r.ci_lower),
                col(|r| r.ci_upper),
            ],
        )?)
    }

    /// Per-channel effects as an Arrow table with the [`ChannelEffect`] field names as columns.
    pub fn channel_table(&self) -> Result<RecordBatch> {
        let ch = &self.channels;
        let f = |g: fn(&ChannelEffect) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from(ch.iter().map(g).collect::<Vec<_>>()))
        };
        let mut fields = vec![
            Field::new("channel", DataType::Utf8, false),
            Field::new("rows", DataType::UInt64, false),
        ];
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(
                ch.iter().map(|c| c.channel.as_str()).collect::<Vec<_>>(),
            )),
            Arc::new(UInt64Array::from(
                ch.iter().map(|c| c.rows as u64).collect::<Vec<_>>(),
            )),
        ];
        type Getter = fn(&ChannelEffect) -> f64;
        let floats: [(&str, Getter); 14] = [
            ("spend", |c| c.spend),
            ("revenue_lift", |c| c.revenue_lift),
            ("ci_lower", |c| c.ci_lower),
            ("ci_upper", |c| c.ci_upper),
            ("std_err", |c| c.std_err),
            ("p_value", |c| c.p_value),
            ("incremental_roas", |c| c.incremental_roas),
            ("incremental_roas_ci_lower", |c| c.incremental_roas_ci_lower),
            ("incremental_roas_ci_upper", |c| c.incremental_roas_ci_upper),
            ("marginal_roas", |c| c.marginal_roas),
            ("average_effect", |c| c.average_effect),
            ("average_effect_std_err", |c| c.average_effect_std_err),
            ("outcome_total", |c| c.outcome_total),
            ("naive_roas", |c| c.naive_roas),
        ];
        for (name, g) in floats {
            fields.push(Field::new(name, DataType::Float64, false));
            arrays.push(f(g));
        }
        // Carryover columns, null without adstock.
        type OptGetter = fn(&ChannelEffect) -> Option<f64>;
        let optional: [(&str, OptGetter); 2] = [
            ("long_run_roas", |c| c.long_run_roas),
            ("adstock_decay", |c| c.adstock_decay),
        ];
        for (name, g) in optional {
            fields.push(Field::new(name, DataType::Float64, true));
            arrays.push(Arc::new(Float64Array::from(
                ch.iter().map(g).collect::<Vec<_>>(),
            )));
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
    }
}
