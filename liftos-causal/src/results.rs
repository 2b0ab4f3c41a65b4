//! [`AttributionResults`]: what an [`Estimator`](crate::Estimator) returns.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::Result;
use crate::inference::{AverageEffect, LiftEffect};

/// The estimated effect for one row (a campaign-day).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowEffect {
    /// τ̂(xᵢ): the outcome caused by one more unit of treatment (out-of-bag).
    pub tau: f64,
    /// Standard error of τ̂(xᵢ).
    pub std_err: f64,
    /// Lower end of the pointwise interval at the results' confidence level.
    pub ci_lower: f64,
    /// Upper end of the pointwise interval.
    pub ci_upper: f64,
}

/// The effect of one channel (or other group label) over its rows.
///
/// Field names follow the results JSON of DESIGN.md; `revenue_lift` is
/// `Σ τ(xᵢ)·Wᵢ` over the channel's rows (see [`LiftEffect`] for the estimator).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelEffect {
    /// The group label (channel name), or `all` when the data has no groups.
    pub channel: String,
    /// Rows of the channel.
    pub rows: usize,
    /// Total treatment Σ Wᵢ (spend).
    pub spend: f64,
    /// Outcome caused by the treatment, Σ τ(xᵢ)·Wᵢ.
    pub revenue_lift: f64,
    /// Lower end of the `revenue_lift` interval.
    pub ci_lower: f64,
    /// Upper end of the `revenue_lift` interval.
    pub ci_upper: f64,
    /// Cluster-robust standard error of `revenue_lift`.
    pub std_err: f64,
    /// Two-sided p-value of "no lift" (NaN when the channel has no spend).
    pub p_value: f64,
    /// `revenue_lift / spend` (NaN when the channel has no spend).
    pub incremental_roas: f64,
    /// Lower end of the `incremental_roas` interval.
    pub incremental_roas_ci_lower: f64,
    /// Upper end of the `incremental_roas` interval.
    pub incremental_roas_ci_upper: f64,
    /// Spend-weighted mean of τ̂: the return of one more unit of spend.
    pub marginal_roas: f64,
    /// Unweighted average effect `E[τ(X)]` over the channel's rows (doubly robust).
    pub average_effect: f64,
    /// Standard error of `average_effect`.
    pub average_effect_std_err: f64,
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
            incremental_roas: lift.incremental_roas,
            incremental_roas_ci_lower: lift.incremental_roas_ci_lower,
            incremental_roas_ci_upper: lift.incremental_roas_ci_upper,
            marginal_roas: lift.marginal_roas,
            average_effect: average.estimate,
            average_effect_std_err: average.std_err,
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
            incremental_roas: f64::NAN,
            incremental_roas_ci_lower: f64::NAN,
            incremental_roas_ci_upper: f64::NAN,
            marginal_roas: f64::NAN,
            average_effect: average.estimate,
            average_effect_std_err: average.std_err,
        }
    }
}

/// The results of fitting an [`Estimator`](crate::Estimator).
///
/// Today it holds the per-row effects, the overall average effect and the per-channel
/// effects. It is `#[non_exhaustive]` so later versions can add fields (model accuracy,
/// temporal effects) without breaking users.
#[derive(Debug, Clone, PartialEq)]
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
    pub confidence_level: f64,
    /// The seed used.
    pub seed: u64,
    /// The average effect E[τ(X)] over all rows.
    pub average_effect: AverageEffect,
    /// Per-channel (group) effects, in order of first appearance of the label.
    pub channels: Vec<ChannelEffect>,
    /// Per-row effects, in input order.
    pub treatment_effects: Vec<RowEffect>,
}

impl AttributionResults {
    /// The per-channel effects.
    pub fn get_channel_effects(&self) -> &[ChannelEffect] {
        &self.channels
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
        let floats: [(&str, Getter); 12] = [
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
        ];
        for (name, g) in floats {
            fields.push(Field::new(name, DataType::Float64, false));
            arrays.push(f(g));
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
    }
}
