//! The budget planner: the split of a budget across channels that the estimated response
//! curves recommend, with what it is expected to return.
//!
//! Each channel's response curve (incremental outcome against total spend over the
//! data's window, at spend scales 0–2×, with intervals; [`ChannelResponse`](crate::ChannelResponse)) is read as
//! the *historical-reallocation scenario*: spending `x` on a channel means every day of
//! its historical pattern scaled by `x / spend`. Between the curve's points the planner
//! interpolates with a monotone cubic (Fritsch–Carlson / PCHIP) whose slope at today's
//! spend is the channel's estimated marginal return. The allocation is then found by
//! dynamic programming over a grid of the budget (2,000 steps by default), which is exact
//! on the grid for any curve shape, S-curves included, because channels add up.
//!
//! Honest limits, on by default:
//! - no channel moves more than `max_change` (50%) from what it spent, and never past the
//!   curve's range (2× today's spend): the curves say nothing beyond what the data saw;
//! - a channel whose marginal return is too uncertain to rank against the others (its
//!   interval's half-width exceeds the best channel's marginal return),
//!   or that has no curve or no spend, is held at its current spend and named with the
//!   reason (results without a marginal interval: when the lift's interval includes zero).
//!   A channel whose next dollar is known to return little (a narrow interval around zero)
//!   is not held: moving its budget elsewhere is the point of a plan;
//! - the plan's interval combines the channels' curve intervals as if their errors were
//!   independent (in quadrature), and says so.
//!
//! ```
//! use liftos_causal::{AttributionResults, ChannelEffect, ChannelResponse, CurvePoint};
//! use liftos_causal::plan::{PlanOptions, plan_budget};
//! # fn sat(name: &str, spend: f64, top: f64) -> ChannelEffect {
//! #     // R(x) = top · x / (x + spend): half-saturated at today's spend.
//! #     let curve: Vec<CurvePoint> = (0..=8).map(|k| {
//! #         let s = k as f64 / 4.0; let x = s * spend; let r = top * x / (x + spend);
//! #         CurvePoint { scale: s, spend: x, incremental_revenue: r, ci_lower: 0.8 * r, ci_upper: 1.2 * r }
//! #     }).collect();
//! #     let lift = top / 2.0;
//! #     ChannelEffect { channel: name.into(), rows: 100, spend, revenue_lift: lift,
//! #         ci_lower: 0.8 * lift, ci_upper: 1.2 * lift, std_err: 0.1 * lift, p_value: 0.001, df: 9.0,
//! #         incremental_roas: lift / spend, incremental_roas_ci_lower: 0.8 * lift / spend,
//! #         incremental_roas_ci_upper: 1.2 * lift / spend, marginal_roas: top / (4.0 * spend),
//! #         average_effect: 0.0, average_effect_std_err: 0.0, outcome_total: 0.0, naive_roas: 0.0,
//! #         long_run_roas: None, adstock_decay: None,
//! #         response: Some(ChannelResponse { transform: liftos_causal::ResponseTransform::LINEAR, half_saturation_spend: None,
//! #             marginal_roas_ci_lower: top / (5.0 * spend), marginal_roas_ci_upper: top / (3.0 * spend), long_run_roas_ci_lower: None,
//! #             long_run_roas_ci_upper: None, response_curve: curve,
//! #             sensitivity: liftos_causal::Sensitivity { robustness_value: 0.5, robustness_value_ci: 0.4, t_stat: 10.0 },
//! #             plausible_transforms: 1, switch_off_range: (0.0, 0.0) }) }
//! # }
//! // Two channels that each spent 1,000; meta's curve tops out at 8,000, google's at 2,000.
//! let results = AttributionResults::new("causal_forest", "revenue", "spend", 200, 1)
//!     .with_channels(vec![sat("meta", 1_000.0, 8_000.0), sat("google_ads", 1_000.0, 2_000.0)]);
//! let plan = plan_budget(&results, &PlanOptions::new(2_000.0))?;
//! let meta = plan.channel("meta").unwrap();
//! // Meta's marginal return is higher: it gets more, up to the 50% bound.
//! assert!((meta.recommended_spend - 1_500.0).abs() < 1.0);
//! assert!(plan.expected_incremental_revenue > plan.current_incremental_revenue);
//! # Ok::<(), liftos_causal::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::json::finite;
use crate::results::{AttributionResults, ChannelEffect};

/// What the planner maximises.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// Expected incremental revenue, spending the whole budget.
    Revenue,
    /// Expected incremental profit, `margin × incremental revenue − spend`, spending up to
    /// the budget (less when the next dollar returns less than it costs).
    Profit {
        /// Profit per unit of incremental revenue, a share in (0, 1] (1 when the outcome
        /// is already margin).
        margin: f64,
    },
    /// Expected incremental revenue, spending up to the budget, keeping the plan's
    /// incremental ROAS (all channels, held ones included) at or above the target.
    TargetRoas(f64),
}

impl Objective {
    /// Parses `revenue`, `profit` or `target_roas` with what completes it: `margin` (a
    /// share in (0, 1], [`check_margin`]) is required with `profit` and `target` with
    /// `target_roas`; either given with an objective that does not use it is refused, not
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] named `objective`, `margin` or `target_roas`.
    pub fn parse(name: &str, margin: Option<f64>, target: Option<f64>) -> Result<Objective> {
        let objective = match name.trim() {
            "revenue" => Objective::Revenue,
            "profit" => match margin {
                Some(m) => {
                    check_margin(m)?;
                    Objective::Profit { margin: m }
                }
                None => {
                    return Err(Error::InvalidParameter {
                        name: "margin",
                        value: "(missing)".into(),
                        expected: format!(
                            "{MARGIN_MEANING}, required with objective profit (1 when the \
                             outcome is already profit)"
                        ),
                    });
                }
            },
            "target_roas" | "target-roas" => match target {
                Some(t) => Objective::TargetRoas(t),
                None => {
                    return Err(Error::InvalidParameter {
                        name: "target_roas",
                        value: "(missing)".into(),
                        expected: "a target ROAS (e.g. --target-roas 2) with objective \
                                   target_roas"
                            .into(),
                    });
                }
            },
            other => {
                return Err(Error::InvalidParameter {
                    name: "objective",
                    value: other.into(),
                    expected: "`revenue`, `profit` or `target_roas`".into(),
                });
            }
        };
        let unused = |name: &'static str, value: f64, used_by: &str| Error::InvalidParameter {
            name,
            value: shown(value),
            expected: format!(
                "no {name} with objective {}: it is used only with objective {used_by}",
                objective.as_str()
            ),
        };
        if let (Some(m), false) = (margin, matches!(objective, Objective::Profit { .. })) {
            return Err(unused("margin", m, "profit"));
        }
        if let (Some(t), false) = (target, matches!(objective, Objective::TargetRoas(_))) {
            return Err(unused("target_roas", t, "target_roas"));
        }
        Ok(objective)
    }

    /// The objective's name as in `plan.json`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Objective::Revenue => "revenue",
            Objective::Profit { .. } => "profit",
            Objective::TargetRoas(_) => "target_roas",
        }
    }
}

/// Checks a profit margin: a share in (0, 1], the profit per unit of incremental revenue.
/// Above 1 it is no share (and a huge one overflowed `margin × revenue`).
///
/// # Errors
///
/// [`Error::InvalidParameter`] named `margin`.
pub fn check_margin(margin: f64) -> Result<()> {
    if margin > 0.0 && margin <= 1.0 {
        return Ok(());
    }
    Err(Error::InvalidParameter {
        name: "margin",
        value: shown(margin),
        expected: MARGIN_MEANING.into(),
    })
}

/// What a margin is, as errors state it.
const MARGIN_MEANING: &str =
    "a share in (0, 1]: the profit per unit of incremental revenue (0.4 = 40%)";

/// A number as an error shows it: `1e308`, not its 309 digits.
fn shown(x: f64) -> String {
    if x.is_finite() && x.abs() >= 1e6 {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

/// The largest [`PlanOptions::max_change`]: a channel never goes below 0 nor past its
/// response curve (2× what it spent), so a larger share would be no bound at all.
pub const MAX_CHANGE_LIMIT: f64 = 1.0;

/// How to plan.
///
/// | Field | Default | Meaning |
/// |---|---|---|
/// | `budget` | (required) | total spend for the period, > 0 |
/// | `period_days` | the data's window | days the budget covers |
/// | `objective` | revenue | [`Objective`]; a profit margin is a share in (0, 1] |
/// | `max_change` | 0.5 | most relative move of a channel from its current spend, in [0, 1] ([`MAX_CHANGE_LIMIT`]) |
/// | `min_spend`, `max_spend` | none | per-channel bounds for the period (override `max_change`) |
/// | `hold` | none | channels kept at their current spend |
/// | `steps` | 2,000 | grid steps of the budget in the optimisation |
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// Total spend for the period.
    pub budget: f64,
    /// Days the budget covers (`None`: the data's window).
    pub period_days: Option<u32>,
    /// What to maximise.
    pub objective: Objective,
    /// Largest relative move from the current spend (0.5: between 50% and 150%).
    pub max_change: f64,
    /// Per-channel least spend for the period.
    pub min_spend: BTreeMap<String, f64>,
    /// Per-channel most spend for the period.
    pub max_spend: BTreeMap<String, f64>,
    /// Channels kept at their current spend.
    pub hold: Vec<String>,
    /// Grid steps of the budget.
    pub steps: usize,
}

impl PlanOptions {
    /// Defaults for a budget.
    pub fn new(budget: f64) -> Self {
        PlanOptions {
            budget,
            period_days: None,
            objective: Objective::Revenue,
            max_change: 0.5,
            min_spend: BTreeMap::new(),
            max_spend: BTreeMap::new(),
            hold: Vec::new(),
            steps: 2_000,
        }
    }

    liftos_core::setters! {
        /// Sets the days the budget covers.
        with_period_days(days: u32) => self.period_days = Some(days);
        /// Sets the objective.
        with_objective(objective: Objective);
        /// Sets the largest relative move from the current spend.
        with_max_change(max_change: f64);
    }

    /// Sets a channel's least spend for the period.
    pub fn with_min(mut self, channel: &str, spend: f64) -> Self {
        self.min_spend.insert(channel.to_string(), spend);
        self
    }

    /// Sets a channel's most spend for the period.
    pub fn with_max(mut self, channel: &str, spend: f64) -> Self {
        self.max_spend.insert(channel.to_string(), spend);
        self
    }

    /// Keeps a channel at its current spend.
    pub fn with_hold(mut self, channel: &str) -> Self {
        self.hold.push(channel.to_string());
        self
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, value: String, expected: &str| {
            Err(Error::InvalidParameter {
                name,
                value,
                expected: expected.into(),
            })
        };
        if !(self.budget.is_finite() && self.budget > 0.0) {
            return bad("budget", self.budget.to_string(), "a finite amount > 0");
        }
        if self.period_days == Some(0) {
            return bad("period_days", "0".into(), "at least 1 day");
        }
        if !(self.max_change >= 0.0 && self.max_change <= MAX_CHANGE_LIMIT) {
            return bad(
                "max_change",
                shown(self.max_change),
                "a share in [0, 1] (0.5 = ±50%): no channel goes below 0 or past its \
                 response curve (2× what it spent), so more than 1 would be no bound",
            );
        }
        if !(100..=100_000).contains(&self.steps) {
            return bad("steps", self.steps.to_string(), "100 to 100,000");
        }
        match self.objective {
            Objective::Profit { margin } => check_margin(margin)?,
            Objective::TargetRoas(t) if !(t.is_finite() && t > 0.0) => {
                return bad("target_roas", t.to_string(), "a finite ROAS > 0");
            }
            _ => {}
        }
        for (name, map) in [("min", &self.min_spend), ("max", &self.max_spend)] {
            for (ch, v) in map {
                if !(v.is_finite() && *v >= 0.0) {
                    return Err(Error::InvalidParameter {
                        name: if name == "min" {
                            "min_spend"
                        } else {
                            "max_spend"
                        },
                        value: format!("{ch}={v}"),
                        expected: "a finite spend ≥ 0".into(),
                    });
                }
            }
        }
        let mut held = std::collections::BTreeSet::new();
        if let Some(ch) = self.hold.iter().find(|ch| !held.insert(ch.as_str())) {
            return bad(
                "hold",
                format!("`{ch}` twice"),
                "each channel once (a repeated channel is a typo or a leftover)",
            );
        }
        for (ch, lo) in &self.min_spend {
            if let Some(hi) = self.max_spend.get(ch)
                && lo > hi
            {
                return Err(Error::InvalidParameter {
                    name: "min_spend",
                    value: format!("{ch}={lo}"),
                    expected: format!("at most the channel's max ({ch}={hi})"),
                });
            }
        }
        Ok(())
    }
}

/// One channel as the planner reads it from results.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanChannelInput {
    /// Channel name.
    pub channel: String,
    /// Total spend over the data's window.
    pub spend: f64,
    /// Lower end of the switch-off lift's interval (over the window).
    pub lift_ci_lower: f64,
    /// Marginal return at today's spend.
    pub marginal_roas: f64,
    /// The marginal return's interval (NaN when the results carry none).
    pub marginal_ci: (f64, f64),
    /// Curve points `(spend, incremental, ci_lower, ci_upper)` over the window, by spend;
    /// empty when the results carry no curve.
    pub curve: Vec<[f64; 4]>,
}

/// What the planner needs from results: the channels and the window's length.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInput {
    /// Days of the data's window (first to last date), when known.
    pub window_days: Option<u32>,
    /// The channels.
    pub channels: Vec<PlanChannelInput>,
}

impl PlanInput {
    /// The planner's input from fitted results.
    pub fn from_results(results: &AttributionResults) -> Self {
        PlanInput {
            window_days: results.window().map(|(_, _, days)| days),
            channels: results.channels.iter().map(channel_input).collect(),
        }
    }

    /// The planner's input from a results JSON (`liftos analyze --json`); the error names
    /// the missing or malformed field.
    pub fn from_json(v: &Value) -> Result<Self> {
        let field = |name: &str, msg: &str| Error::InvalidParameter {
            name: "results",
            value: name.to_string(),
            expected: msg.to_string(),
        };
        let channels = v
            .get("channels")
            .and_then(Value::as_array)
            .ok_or_else(|| field("channels", "an array of channels (a results JSON)"))?;
        let mut out = Vec::with_capacity(channels.len());
        for (i, c) in channels.iter().enumerate() {
            let name = c
                .get("channel")
                .and_then(Value::as_str)
                .ok_or_else(|| field(&format!("channels[{i}].channel"), "a channel name"))?;
            let num = |k: &str| -> Result<f64> {
                c.get(k)
                    .and_then(Value::as_f64)
                    .ok_or_else(|| field(&format!("channels[{i}].{k} ({name})"), "a number"))
            };
            let spend = num("spend")?;
            let lift_ci_lower = c
                .get("ci_lower")
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN);
            let opt = |k: &str| c.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
            let marginal_roas = opt("marginal_roas");
            let marginal_ci = (opt("marginal_roas_ci_lower"), opt("marginal_roas_ci_upper"));
            let mut curve = Vec::new();
            if let Some(points) = c.get("response_curve").and_then(Value::as_array) {
                for (j, p) in points.iter().enumerate() {
                    let get = |k: &str| -> Result<f64> {
                        p.get(k).and_then(Value::as_f64).ok_or_else(|| {
                            field(
                                &format!("channels[{i}].response_curve[{j}].{k} ({name})"),
                                "a number",
                            )
                        })
                    };
                    curve.push([
                        get("spend")?,
                        get("incremental_revenue")?,
                        get("ci_lower")?,
                        get("ci_upper")?,
                    ]);
                }
            }
            out.push(PlanChannelInput {
                channel: name.to_string(),
                spend,
                lift_ci_lower,
                marginal_roas,
                marginal_ci,
                curve,
            });
        }
        // `window` is null without dates, else `{start, end, days}` (days ≥ 1): anything
        // else is named, not read as "no window".
        let window_days = match v.get("window") {
            None | Some(Value::Null) => None,
            Some(w) => {
                let days = w.get("days").ok_or_else(|| {
                    field(
                        "`window.days` (missing)",
                        "the days of the data's window, as `liftos analyze` writes them",
                    )
                })?;
                let read = days
                    .as_u64()
                    .and_then(|d| u32::try_from(d).ok())
                    .filter(|d| *d >= 1);
                Some(read.ok_or_else(|| {
                    field(
                        &format!("`window.days` = {days}"),
                        "a whole number of days ≥ 1 (the length of the data's window)",
                    )
                })?)
            }
        };
        Ok(PlanInput {
            window_days,
            channels: out,
        })
    }
}

fn channel_input(c: &ChannelEffect) -> PlanChannelInput {
    PlanChannelInput {
        channel: c.channel.clone(),
        spend: c.spend,
        lift_ci_lower: c.ci_lower,
        marginal_roas: c.marginal_roas,
        marginal_ci: c.response.as_ref().map_or((f64::NAN, f64::NAN), |r| {
            (r.marginal_roas_ci_lower, r.marginal_roas_ci_upper)
        }),
        curve: c.response.as_ref().map_or_else(Vec::new, |r| {
            r.response_curve
                .iter()
                .map(|p| [p.spend, p.incremental_revenue, p.ci_lower, p.ci_upper])
                .collect()
        }),
    }
}

/// One channel of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedChannel {
    /// Channel name.
    pub channel: String,
    /// What it spends today, for the period.
    #[serde(serialize_with = "finite")]
    pub current_spend: f64,
    /// What the plan spends, for the period.
    #[serde(serialize_with = "finite")]
    pub recommended_spend: f64,
    /// Least spend the plan could give it.
    #[serde(serialize_with = "finite")]
    pub min_spend: f64,
    /// Most spend the plan could give it.
    #[serde(serialize_with = "finite")]
    pub max_spend: f64,
    /// Expected incremental revenue at the recommended spend.
    #[serde(serialize_with = "finite")]
    pub expected_incremental_revenue: f64,
    /// Lower end of its interval.
    #[serde(serialize_with = "finite")]
    pub ci_lower: f64,
    /// Upper end of its interval.
    #[serde(serialize_with = "finite")]
    pub ci_upper: f64,
    /// Expected incremental revenue at the current spend.
    #[serde(serialize_with = "finite")]
    pub current_incremental_revenue: f64,
    /// Return of the next unit of spend at the recommended spend.
    #[serde(serialize_with = "finite")]
    pub marginal_roas_at_recommended: f64,
    /// Whether the channel was held at its current spend.
    pub held: bool,
    /// Why it was held, or which bound stopped it; `None` when it moved freely.
    pub reason: Option<String>,
}

/// A budget plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetPlan {
    /// The budget for the period.
    #[serde(serialize_with = "finite")]
    pub total_budget: f64,
    /// Spend the plan allocates (below the budget when bounds or the objective stop it).
    #[serde(serialize_with = "finite")]
    pub allocated_budget: f64,
    /// Days the budget covers.
    pub period_days: Option<u32>,
    /// Days of the data's window.
    pub window_days: Option<u32>,
    /// The objective.
    #[serde(flatten, serialize_with = "crate::json::objective")]
    pub objective: Objective,
    /// The largest relative move allowed.
    #[serde(serialize_with = "finite")]
    pub max_change: f64,
    /// Current spend of all channels, for the period.
    #[serde(serialize_with = "finite")]
    pub current_spend: f64,
    /// Expected incremental revenue of the plan.
    #[serde(serialize_with = "finite")]
    pub expected_incremental_revenue: f64,
    /// Its interval.
    #[serde(flatten, serialize_with = "crate::json::expected_ci")]
    pub expected_ci: (f64, f64),
    /// Expected incremental revenue of the current split.
    #[serde(serialize_with = "finite")]
    pub current_incremental_revenue: f64,
    /// Its interval.
    #[serde(flatten, serialize_with = "crate::json::current_ci")]
    pub current_ci: (f64, f64),
    /// Expected change of incremental revenue against the current split.
    #[serde(serialize_with = "finite")]
    pub uplift: f64,
    /// Its interval: per channel the spend moved times the marginal return's interval
    /// around its estimate (the change rests on the curve's slope near today's spend,
    /// which the data measure far better than the curve's level), combined in quadrature.
    #[serde(flatten, serialize_with = "crate::json::uplift_ci")]
    pub uplift_ci: (f64, f64),
    /// The channels, in the results' order.
    pub channels: Vec<PlannedChannel>,
    /// What the planner did and assumed, in plain words.
    pub notes: Vec<String>,
}

impl BudgetPlan {
    /// The planned channel called `name`.
    pub fn channel(&self, name: &str) -> Option<&PlannedChannel> {
        self.channels.iter().find(|c| c.channel == name)
    }

    /// `plan.json`: `total_budget`, `allocated_budget`, `period_days`, `window_days`,
    /// `objective`, `max_change`, `current_spend`, `expected_incremental_revenue`
    /// (+ `_ci_lower`/`_ci_upper`), `current_incremental_revenue` (+ interval), `uplift`
    /// (+ `uplift_ci_lower`/`_upper`),
    /// `channels[]` (`channel`, `current_spend`, `recommended_spend`, `min_spend`,
    /// `max_spend`, `expected_incremental_revenue`, `ci_lower`, `ci_upper`,
    /// `current_incremental_revenue`, `marginal_roas_at_recommended`, `held`, `reason`)
    /// and `notes`; `target_roas` and `margin` are the objective's (`null` unless it has
    /// one). Non-finite numbers are `null`.
    ///
    /// This is `serde_json::to_value` of the plan's `Serialize` implementation, so the
    /// keys of every object come out sorted.
    pub fn to_json(&self) -> Value {
        // Every map key is a string and no serializer here fails, so this cannot fail.
        serde_json::to_value(self).expect("the plan serializes to a JSON value")
    }
}

/// Plans `options.budget` across the channels of fitted results. See the module docs.
pub fn plan_budget(results: &AttributionResults, options: &PlanOptions) -> Result<BudgetPlan> {
    plan_from_input(&PlanInput::from_results(results), options)
}

/// Plans from a results JSON (`liftos plan --results results.json`).
pub fn plan_budget_json(results: &Value, options: &PlanOptions) -> Result<BudgetPlan> {
    plan_from_input(&PlanInput::from_json(results)?, options)
}

/// A monotone cubic through points (Fritsch–Carlson), with an optional slope at one knot.
#[derive(Debug, Clone)]
pub(crate) struct Pchip {
    x: Vec<f64>,
    y: Vec<f64>,
    m: Vec<f64>,
}

impl Pchip {
    /// `x` strictly increasing, at least two points. `pin` sets the slope at the knot
    /// nearest to its x (kept inside the monotone bounds).
    pub(crate) fn new(x: Vec<f64>, y: Vec<f64>, pin: Option<(f64, f64)>) -> Pchip {
        let n = x.len();
        let h: Vec<f64> = (0..n - 1).map(|k| x[k + 1] - x[k]).collect();
        let d: Vec<f64> = (0..n - 1).map(|k| (y[k + 1] - y[k]) / h[k]).collect();
        let mut m = vec![0.0; n];
        if n == 2 {
            m[0] = d[0];
            m[1] = d[0];
        } else {
            for k in 1..n - 1 {
                if d[k - 1] * d[k] > 0.0 {
                    let w1 = 2.0 * h[k] + h[k - 1];
                    let w2 = h[k] + 2.0 * h[k - 1];
                    m[k] = (w1 + w2) / (w1 / d[k - 1] + w2 / d[k]);
                }
            }
            let end = |h0: f64, h1: f64, d0: f64, d1: f64| {
                let s = ((2.0 * h0 + h1) * d0 - h0 * d1) / (h0 + h1);
                if s * d0 <= 0.0 {
                    0.0
                } else if d0 * d1 <= 0.0 && s.abs() > 3.0 * d0.abs() {
                    3.0 * d0
                } else {
                    s
                }
            };
            m[0] = end(h[0], h[1], d[0], d[1]);
            m[n - 1] = end(h[n - 2], h[n - 3], d[n - 2], d[n - 3]);
        }
        if let Some((px, slope)) = pin
            && slope.is_finite()
        {
            let k = (0..n)
                .min_by(|&a, &b| (x[a] - px).abs().total_cmp(&(x[b] - px).abs()))
                .unwrap_or(0);
            let left = if k > 0 { Some(d[k - 1]) } else { None };
            let right = if k + 1 < n { Some(d[k]) } else { None };
            let secants: Vec<f64> = left.into_iter().chain(right).collect();
            let all_pos = secants.iter().all(|s| *s > 0.0);
            let all_neg = secants.iter().all(|s| *s < 0.0);
            let cap = 3.0 * secants.iter().fold(f64::INFINITY, |a, s| a.min(s.abs()));
            m[k] = if all_pos {
                slope.clamp(0.0, cap)
            } else if all_neg {
                slope.clamp(-cap, 0.0)
            } else {
                0.0
            };
        }
        Pchip { x, y, m }
    }

    fn segment(&self, v: f64) -> usize {
        let n = self.x.len();
        match self.x.partition_point(|&x| x <= v) {
            0 => 0,
            k if k >= n => n - 2,
            k => k - 1,
        }
    }

    /// The segment of `v` (clamped to the points' range), its width and where `v` lies
    /// in it (0 to 1).
    fn locate(&self, v: f64) -> (usize, f64, f64) {
        let n = self.x.len();
        let v = v.clamp(self.x[0], self.x[n - 1]);
        let k = self.segment(v);
        let h = self.x[k + 1] - self.x[k];
        (k, h, (v - self.x[k]) / h)
    }

    /// The value at `v` (clamped to the points' range).
    pub(crate) fn value(&self, v: f64) -> f64 {
        let (k, h, t) = self.locate(v);
        let (t2, t3) = (t * t, t * t * t);
        (2.0 * t3 - 3.0 * t2 + 1.0) * self.y[k]
            + (t3 - 2.0 * t2 + t) * h * self.m[k]
            + (-2.0 * t3 + 3.0 * t2) * self.y[k + 1]
            + (t3 - t2) * h * self.m[k + 1]
    }

    /// The slope at `v` (clamped to the points' range).
    pub(crate) fn slope(&self, v: f64) -> f64 {
        let (k, h, t) = self.locate(v);
        let t2 = t * t;
        ((6.0 * t2 - 6.0 * t) * self.y[k]
            + (3.0 * t2 - 4.0 * t + 1.0) * h * self.m[k]
            + (-6.0 * t2 + 6.0 * t) * self.y[k + 1])
            / h
            + (3.0 * t2 - 2.0 * t) * self.m[k + 1]
    }
}

/// A channel's curves in period units.
struct Curves {
    mid: Pchip,
    lo: Pchip,
    hi: Pchip,
    top: f64,
}

impl Curves {
    fn new(input: &PlanChannelInput, factor: f64) -> std::result::Result<Curves, String> {
        let mut pts: Vec<[f64; 4]> = input.curve.clone();
        if pts.len() < 2 {
            return Err("the results carry no response curve for it".into());
        }
        if pts.iter().flatten().any(|v| !v.is_finite()) {
            return Err("its response curve has non-finite points".into());
        }
        pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
        pts.dedup_by(|b, a| b[0] <= a[0]);
        if pts.len() < 2 || pts[0][0] > 0.0 {
            return Err("its response curve does not start at zero spend".into());
        }
        let x: Vec<f64> = pts.iter().map(|p| p[0] * factor).collect();
        let col = |j: usize| -> Vec<f64> { pts.iter().map(|p| p[j] * factor).collect() };
        let pin = Some((input.spend * factor, input.marginal_roas));
        Ok(Curves {
            top: x[x.len() - 1],
            mid: Pchip::new(x.clone(), col(1), pin),
            lo: Pchip::new(x.clone(), col(2), None),
            hi: Pchip::new(x, col(3), None),
        })
    }

    fn at(&self, v: f64) -> (f64, f64, f64) {
        let m = self.mid.value(v);
        let (a, b) = (self.lo.value(v), self.hi.value(v));
        (m, a.min(m), b.max(m))
    }
}

/// The input's channels are named once each, spend what they spent (finite, ≥ 0) and carry
/// curves in the units of that spend that reach it: a results JSON edited by hand or
/// written by another tool is refused with the field named rather than planned from.
fn check_input(input: &PlanInput) -> Result<()> {
    let bad = |value: String, expected: &str| Error::InvalidParameter {
        name: "results",
        value,
        expected: expected.to_string(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for c in &input.channels {
        let name = &c.channel;
        if !seen.insert(name.as_str()) {
            return Err(bad(
                format!("channel `{name}` given twice"),
                "each channel once",
            ));
        }
        if !(c.spend.is_finite() && (0.0..=crate::MAX_AMOUNT).contains(&c.spend)) {
            return Err(bad(
                format!("spend {} of `{name}`", c.spend),
                "a spend ≥ 0 (and below 1e18)",
            ));
        }
        if c.curve.len() < 2 {
            continue;
        }
        if let Some(v) = c
            .curve
            .iter()
            .flatten()
            .find(|v| v.abs() > crate::MAX_AMOUNT)
        {
            return Err(bad(
                format!("{v} in the response curve of `{name}`"),
                "amounts below 1e18 in magnitude",
            ));
        }
        let top = c
            .curve
            .iter()
            .map(|p| p[0])
            .fold(f64::NEG_INFINITY, f64::max);
        if c.spend > 0.0 && !(c.spend <= top * (1.0 + 1e-9) && top <= 1000.0 * c.spend) {
            return Err(bad(
                format!(
                    "the response curve of `{name}` spans spend up to {top}, its spend is {}",
                    c.spend
                ),
                "a curve in the units of the channel's spend that reaches it (LiftOS's \
                 results run from 0 to twice today's spend)",
            ));
        }
    }
    Ok(())
}

/// Plans from the planner's input. See the module docs.
pub fn plan_from_input(input: &PlanInput, options: &PlanOptions) -> Result<BudgetPlan> {
    options.validate()?;
    let names: Vec<&str> = input.channels.iter().map(|c| c.channel.as_str()).collect();
    let unknown = |what: &'static str, ch: &str| Error::InvalidParameter {
        name: what,
        value: ch.to_string(),
        expected: format!("one of the results' channels: {}", names.join(", ")),
    };
    for ch in options.min_spend.keys() {
        if !names.contains(&ch.as_str()) {
            return Err(unknown("min_spend", ch));
        }
    }
    for ch in options.max_spend.keys() {
        if !names.contains(&ch.as_str()) {
            return Err(unknown("max_spend", ch));
        }
    }
    for ch in &options.hold {
        if !names.contains(&ch.as_str()) {
            return Err(unknown("hold", ch));
        }
    }
    check_input(input)?;
    if input.channels.iter().all(|c| c.curve.len() < 2) {
        return Err(Error::InvalidParameter {
            name: "results",
            value: "no channel has a response_curve".into(),
            expected: "results from `liftos analyze` with the forest estimator (they carry \
                       each channel's response curve)"
                .into(),
        });
    }
    let mut notes = Vec::new();
    let factor = match (options.period_days, input.window_days) {
        (Some(p), Some(w)) if w > 0 => {
            notes.push(format!(
                "The budget covers {p} days; the data's window has {w}: current spend and \
                 curves are scaled by {p}/{w}, as if the window's daily pattern repeated."
            ));
            f64::from(p) / f64::from(w)
        }
        (Some(_), _) => {
            return Err(Error::InvalidParameter {
                name: "period_days",
                value: "set, but the results carry no window".into(),
                expected: "results with `window.days` (written by `liftos analyze`), or no \
                           period_days (the budget then covers the data's window)"
                    .into(),
            });
        }
        (None, _) => 1.0,
    };

    // Per channel: curves, bounds, and whether it is held.
    struct Slot {
        curves: Option<Curves>,
        current: f64,
        lo: f64,
        hi: f64,
        held: Option<String>,
    }
    // The yardstick of "too uncertain to rank": the best channel's marginal return. A
    // channel whose interval is wider on each side than that could rank anywhere.
    let typical = input
        .channels
        .iter()
        .filter(|c| c.marginal_roas.is_finite() && c.marginal_ci.0.is_finite() && c.spend > 0.0)
        .map(|c| c.marginal_roas.abs())
        .fold(0.0, f64::max);
    let mut slots = Vec::with_capacity(input.channels.len());
    for c in &input.channels {
        let current = c.spend * factor;
        let curves = Curves::new(c, factor);
        let mut held = None;
        if options.hold.contains(&c.channel) {
            held = Some("held at its current spend as asked".to_string());
        } else if let Err(why) = &curves {
            held = Some(format!("held: {why}"));
        } else if c.spend.is_nan() || c.spend <= 0.0 {
            held = Some("held: it spent nothing in the data, so its curve is unknown".into());
        } else if c.marginal_ci.0.is_finite() && c.marginal_ci.1.is_finite() {
            // The interval's wider side (a business-level interval is asymmetric, and one
            // cut at zero by `BusinessOptions::non_negative` or
            // `AttributionOptions::non_negative` would look narrower by half).
            let half = (c.marginal_ci.1 - c.marginal_roas).max(c.marginal_roas - c.marginal_ci.0);
            if typical > 0.0 && half > typical {
                held = Some(format!(
                    "held: its marginal return is {:.2} ± {half:.2}, an interval wider on each \
                     side than the best channel's marginal return ({typical:.2}), so the data \
                     cannot rank it against the other channels",
                    c.marginal_roas
                ));
            } else if typical <= 0.0 && c.marginal_ci.0 <= 0.0 && c.marginal_ci.1 >= 0.0 {
                held = Some(
                    "held: its marginal return's interval includes zero, so the data cannot \
                     tell whether more or less spend changes anything"
                        .into(),
                );
            }
        } else if c.lift_ci_lower.is_nan() || c.lift_ci_lower <= 0.0 {
            held = Some(
                "held: its lift's interval includes zero, so the data cannot tell whether \
                 more or less spend changes anything"
                    .into(),
            );
        }
        let curves = curves.ok();
        let top = curves.as_ref().map_or(current, |k| k.top);
        let user_lo = options.min_spend.get(&c.channel).copied();
        let user_hi = options.max_spend.get(&c.channel).copied();
        let lo = user_lo
            .unwrap_or(current * (1.0 - options.max_change))
            .max(0.0);
        let hi = user_hi
            .unwrap_or(current * (1.0 + options.max_change))
            .min(top);
        if let Some(l) = user_lo
            && l > top * (1.0 + 1e-9)
            && held.is_none()
        {
            return Err(Error::InvalidParameter {
                name: "min_spend",
                value: format!("{}={l}", c.channel),
                expected: format!(
                    "at most {top:.2}, the most its response curve covers (2× what it spent)"
                ),
            });
        }
        if let Some(why) = &held {
            // A bound the user set that holding the channel does not meet is said, not
            // dropped.
            let unmet: Vec<String> = [
                user_lo
                    .filter(|l| *l > current)
                    .map(|l| format!("at least {l:.0}")),
                user_hi
                    .filter(|h| *h < current)
                    .map(|h| format!("at most {h:.0}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !unmet.is_empty() {
                notes.push(format!(
                    "`{}` stays at its current spend {current:.0}, not {} as asked: {}.",
                    c.channel,
                    unmet.join(" and "),
                    why.trim_start_matches("held: ")
                ));
            }
        }
        let (lo, hi) = if held.is_some() {
            (current, current)
        } else {
            (lo.min(hi), hi)
        };
        slots.push(Slot {
            curves,
            current,
            lo,
            hi,
            held,
        });
    }

    let value = |s: &Slot, x: f64| s.curves.as_ref().map_or((0.0, 0.0, 0.0), |k| k.at(x));
    let held_spend: f64 = slots
        .iter()
        .filter(|s| s.held.is_some())
        .map(|s| s.current)
        .sum();
    let held_revenue: f64 = slots
        .iter()
        .filter(|s| s.held.is_some())
        .map(|s| value(s, s.current).0)
        .sum();
    let free: Vec<usize> = (0..slots.len())
        .filter(|&i| slots[i].held.is_none())
        .collect();
    let budget = options.budget;
    let floor: f64 = held_spend + free.iter().map(|&i| slots[i].lo).sum::<f64>();
    let ceiling: f64 = held_spend + free.iter().map(|&i| slots[i].hi).sum::<f64>();
    if budget < floor * (1.0 - 1e-9) {
        return Err(Error::InvalidParameter {
            name: "budget",
            value: format!("{budget:.2}"),
            expected: format!(
                "at least {floor:.2}: held channels and the least each other channel may get \
                 (max_change {} and the --min bounds) add up to that; lower the bounds or \
                 raise max_change",
                options.max_change
            ),
        });
    }

    // Dynamic programming over grid units of the spend above the lower bounds.
    let room = (budget.min(ceiling) - floor).max(0.0);
    let steps = options.steps;
    let delta = if room > 0.0 { room / steps as f64 } else { 0.0 };
    let mut chosen = vec![0usize; slots.len()];
    if delta > 0.0 && !free.is_empty() {
        let gain = |s: &Slot, x: f64| -> f64 {
            let r = value(s, x).0;
            match options.objective {
                Objective::Profit { margin } => margin * r - x,
                _ => r,
            }
        };
        // best[u]: best objective of the channels so far using exactly u units.
        let neg = f64::NEG_INFINITY;
        let mut best = vec![neg; steps + 1];
        best[0] = 0.0;
        let mut choice: Vec<Vec<u32>> = Vec::with_capacity(free.len());
        for &i in &free {
            let s = &slots[i];
            let units = (((s.hi - s.lo) / delta) + 1e-9).floor().max(0.0) as usize;
            let units = units.min(steps);
            let g: Vec<f64> = (0..=units)
                .map(|j| gain(s, s.lo + j as f64 * delta))
                .collect();
            let mut next = vec![neg; steps + 1];
            let mut pick = vec![0u32; steps + 1];
            for (u, slot) in next.iter_mut().enumerate() {
                for (j, gj) in g.iter().enumerate().take(units.min(u) + 1) {
                    let prev = best[u - j];
                    if prev > neg {
                        let v = prev + gj;
                        if v > *slot {
                            *slot = v;
                            pick[u] = j as u32;
                        }
                    }
                }
            }
            best = next;
            choice.push(pick);
        }
        // Which total to use.
        let total_units = match options.objective {
            Objective::Revenue => (0..=steps).rev().find(|&u| best[u] > neg).unwrap_or(0),
            Objective::Profit { .. } => (0..=steps)
                .filter(|&u| best[u] > neg)
                .max_by(|&a, &b| best[a].total_cmp(&best[b]))
                .unwrap_or(0),
            Objective::TargetRoas(t) => {
                let ok = |u: usize| {
                    let spend = floor + u as f64 * delta;
                    best[u] > neg && spend > 0.0 && (best[u] + held_revenue) >= t * spend
                };
                match (0..=steps)
                    .filter(|&u| ok(u))
                    .max_by(|&a, &b| best[a].total_cmp(&best[b]))
                {
                    Some(u) => u,
                    None => {
                        let roas = |u: usize| (best[u] + held_revenue) / (floor + u as f64 * delta);
                        let top = (0..=steps)
                            .filter(|&u| best[u] > neg && floor + u as f64 * delta > 0.0)
                            .map(roas)
                            .fold(f64::NEG_INFINITY, f64::max);
                        return Err(Error::InvalidParameter {
                            name: "target_roas",
                            value: t.to_string(),
                            expected: format!(
                                "at most {top:.3}: no allocation within the bounds reaches \
                                 the target"
                            ),
                        });
                    }
                }
            }
        };
        let mut u = total_units;
        for (k, &i) in free.iter().enumerate().rev() {
            let j = choice[k][u] as usize;
            chosen[i] = j;
            u -= j;
        }
    }

    let mut channels = Vec::with_capacity(slots.len());
    let (mut exp, mut cur) = (0.0, 0.0);
    let (mut exp_lo2, mut exp_hi2, mut cur_lo2, mut cur_hi2) = (0.0, 0.0, 0.0, 0.0);
    let (mut up_lo2, mut up_hi2) = (0.0, 0.0);
    let mut allocated = 0.0;
    for (i, (c, s)) in input.channels.iter().zip(&slots).enumerate() {
        let x = if s.held.is_some() {
            s.current
        } else {
            s.lo + chosen[i] as f64 * delta
        };
        allocated += x;
        let (m, a, b) = value(s, x);
        let (m0, a0, b0) = value(s, s.current);
        exp += m;
        cur += m0;
        exp_lo2 += (m - a).powi(2);
        exp_hi2 += (b - m).powi(2);
        cur_lo2 += (m0 - a0).powi(2);
        cur_hi2 += (b0 - m0).powi(2);
        // The change's interval: the spend moved times the marginal return's interval
        // around its estimate (the change rests on the slope near today's spend).
        let moved = x - s.current;
        let (d1, d2) = if c.marginal_roas.is_finite()
            && c.marginal_ci.0.is_finite()
            && c.marginal_ci.1.is_finite()
        {
            (
                moved * (c.marginal_ci.0 - c.marginal_roas),
                moved * (c.marginal_ci.1 - c.marginal_roas),
            )
        } else {
            // No marginal interval: the curve's own bands at both ends.
            let w = ((b - a) + (b0 - a0)) / 2.0;
            (-w, w)
        };
        up_lo2 += d1.min(d2).min(0.0).powi(2);
        up_hi2 += d1.max(d2).max(0.0).powi(2);
        let reason = s.held.clone().or_else(|| {
            let tol = delta.max(1e-9 * s.current.max(1.0));
            if s.hi > s.lo + tol && x >= s.hi - tol {
                Some(if options.max_spend.contains_key(&c.channel) {
                    "at its --max bound".to_string()
                } else if s.curves.as_ref().is_some_and(|k| s.hi >= k.top - tol) {
                    "at the end of its response curve (2× what it spent)".to_string()
                } else {
                    format!(
                        "at the max-change bound (+{:.0}%)",
                        100.0 * options.max_change
                    )
                })
            } else if s.hi > s.lo + tol && x <= s.lo + tol {
                Some(if options.min_spend.contains_key(&c.channel) {
                    "at its --min bound".to_string()
                } else if s.lo <= 0.0 {
                    "switched off: the plan gives it nothing".to_string()
                } else {
                    format!(
                        "at the max-change bound (−{:.0}%)",
                        100.0 * options.max_change
                    )
                })
            } else {
                None
            }
        });
        channels.push(PlannedChannel {
            channel: c.channel.clone(),
            current_spend: s.current,
            recommended_spend: x,
            min_spend: s.lo,
            max_spend: s.hi,
            expected_incremental_revenue: m,
            ci_lower: a,
            ci_upper: b,
            current_incremental_revenue: m0,
            marginal_roas_at_recommended: s.curves.as_ref().map_or(f64::NAN, |k| k.mid.slope(x)),
            held: s.held.is_some(),
            reason,
        });
    }
    let current_spend: f64 = slots.iter().map(|s| s.current).sum();
    if budget > ceiling * (1.0 + 1e-9) {
        notes.push(format!(
            "The bounds allow at most {ceiling:.2} of the {budget:.2} budget; {:.2} is left \
             unallocated (raise max_change or --max to spend it, beyond what the data saw).",
            budget - ceiling
        ));
    } else if allocated < budget * (1.0 - 1e-6) {
        notes.push(format!(
            "The {} objective spends {allocated:.2} of the {budget:.2} budget: more would \
             lower it.",
            options.objective.as_str()
        ));
    }
    let held: Vec<&str> = channels
        .iter()
        .filter(|c| c.held)
        .map(|c| c.channel.as_str())
        .collect();
    if !held.is_empty() {
        notes.push(format!(
            "Held at current spend: {} (see each channel's reason).",
            held.join(", ")
        ));
    }
    notes.push(format!(
        "Each channel moves at most {:.0}% from its current spend and never past its \
         response curve (2× what it spent): the curves say nothing beyond what the data saw.",
        100.0 * options.max_change
    ));
    notes.push(
        "Intervals combine the channels' intervals as if their errors were independent. The \
         level of incremental revenue rests on each channel's switch-off return, which \
         observational spend pins down poorly under saturation; the change against today's \
         split (uplift) rests on the marginal returns near today's spend and is the better \
         measured figure."
            .into(),
    );
    Ok(BudgetPlan {
        total_budget: budget,
        allocated_budget: allocated,
        period_days: options.period_days,
        window_days: input.window_days,
        objective: options.objective,
        max_change: options.max_change,
        current_spend,
        expected_incremental_revenue: exp,
        expected_ci: (exp - exp_lo2.sqrt(), exp + exp_hi2.sqrt()),
        current_incremental_revenue: cur,
        current_ci: (cur - cur_lo2.sqrt(), cur + cur_hi2.sqrt()),
        uplift: exp - cur,
        uplift_ci: (exp - cur - up_lo2.sqrt(), exp - cur + up_hi2.sqrt()),
        channels,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hill(top: f64, half: f64) -> impl Fn(f64) -> f64 {
        move |x: f64| top * x / (x + half)
    }

    fn input(name: &str, spend: f64, f: &dyn Fn(f64) -> f64) -> PlanChannelInput {
        let curve = (0..=8)
            .map(|k| {
                let x = k as f64 / 4.0 * spend;
                let r = f(x);
                [x, r, 0.9 * r, 1.1 * r]
            })
            .collect();
        let h = 1e-3 * spend;
        PlanChannelInput {
            channel: name.into(),
            spend,
            lift_ci_lower: 0.9 * f(spend),
            marginal_roas: (f(spend + h) - f(spend - h)) / (2.0 * h),
            marginal_ci: (f64::NAN, f64::NAN),
            curve,
        }
    }

    /// A results JSON edited by hand or from another tool: a channel twice, a negative
    /// spend, a curve in other units than the spend or with absurd amounts is refused,
    /// naming it, instead of planned from.
    #[test]
    fn inconsistent_inputs_are_refused_naming_the_channel() {
        let f = hill(1000.0, 50.0);
        let plan = |channels: Vec<PlanChannelInput>| {
            let inp = PlanInput {
                window_days: None,
                channels,
            };
            plan_from_input(&inp, &PlanOptions::new(200.0))
                .unwrap_err()
                .to_string()
        };
        let e = plan(vec![input("a", 100.0, &f), input("a", 100.0, &f)]);
        assert!(e.contains("`a` given twice"), "{e}");
        let mut negative = input("b", 100.0, &f);
        negative.spend = -100.0;
        let e = plan(vec![input("a", 100.0, &f), negative]);
        assert!(e.contains("spend -100 of `b`"), "{e}");
        let mut units = input("b", 100.0, &f);
        for p in &mut units.curve {
            p[0] *= 1e9;
        }
        let e = plan(vec![input("a", 100.0, &f), units]);
        assert!(e.contains("response curve of `b` spans"), "{e}");
        let mut huge = input("b", 100.0, &f);
        huge.curve[3][1] = 1e300;
        let e = plan(vec![input("a", 100.0, &f), huge]);
        assert!(
            e.contains("response curve of `b`") && e.contains("1e18"),
            "{e}"
        );
        // The same channels, consistent, plan.
        let ok = PlanInput {
            window_days: None,
            channels: vec![input("a", 100.0, &f), input("b", 100.0, &f)],
        };
        assert!(plan_from_input(&ok, &PlanOptions::new(200.0)).is_ok());
    }

    #[test]
    fn pchip_is_close_to_a_hill_curve_between_its_points() {
        let f = hill(1000.0, 50.0);
        let c = input("a", 100.0, &f);
        let k = Curves::new(&c, 1.0).unwrap();
        // Within 2% from a quarter of today's spend up (the planner's range), within 20%
        // below it, where the curve bends most between its first two points.
        for i in 0..=200 {
            let x = i as f64;
            let tol = if x >= 25.0 { 0.02 } else { 0.2 };
            assert!((k.mid.value(x) - f(x)).abs() <= tol * f(x), "{x}");
        }
        let slope = k.mid.slope(100.0);
        assert!((slope - c.marginal_roas).abs() < 1e-9);
    }

    #[test]
    fn equal_marginal_returns_at_the_optimum() {
        // Wide bounds: the optimum of two Hill curves equalises marginal returns.
        let (f, g) = (hill(4000.0, 100.0), hill(2000.0, 100.0));
        let inp = PlanInput {
            window_days: Some(10),
            channels: vec![input("a", 100.0, &f), input("b", 100.0, &g)],
        };
        let plan = plan_from_input(&inp, &PlanOptions::new(200.0).with_max_change(1.0)).unwrap();
        let (a, b) = (plan.channel("a").unwrap(), plan.channel("b").unwrap());
        assert!((a.recommended_spend + b.recommended_spend - 200.0).abs() < 1e-6);
        assert!(a.recommended_spend > 130.0, "{a:?}");
        let rel = (a.marginal_roas_at_recommended - b.marginal_roas_at_recommended).abs()
            / a.marginal_roas_at_recommended;
        assert!(rel < 0.05, "{a:?} {b:?}");
        assert!(plan.expected_incremental_revenue > plan.current_incremental_revenue);
        // Brute force over the same interpolated curves agrees.
        let ka = Curves::new(&inp.channels[0], 1.0).unwrap();
        let kb = Curves::new(&inp.channels[1], 1.0).unwrap();
        let brute = (0..=20_000)
            .map(|i| {
                let x = i as f64 / 100.0;
                ka.mid.value(x) + kb.mid.value(200.0 - x)
            })
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(plan.expected_incremental_revenue >= brute - 1e-3 * brute);
    }

    #[test]
    fn linear_curves_stop_at_max_change_and_profit_stops_early() {
        let (f, g) = (|x: f64| 3.0 * x, |x: f64| 1.5 * x);
        let inp = PlanInput {
            window_days: None,
            channels: vec![input("a", 100.0, &f), input("b", 100.0, &g)],
        };
        let plan = plan_from_input(&inp, &PlanOptions::new(200.0)).unwrap();
        let a = plan.channel("a").unwrap();
        assert!((a.recommended_spend - 150.0).abs() < 1e-6);
        assert!(a.reason.as_deref().unwrap().contains("max-change"));
        // Profit with margin 0.5: b returns 0.75 per unit, so it goes to its lower bound.
        let plan = plan_from_input(
            &inp,
            &PlanOptions::new(200.0).with_objective(Objective::Profit { margin: 0.5 }),
        )
        .unwrap();
        assert!((plan.channel("b").unwrap().recommended_spend - 50.0).abs() < 1e-6);
        assert!((plan.channel("a").unwrap().recommended_spend - 150.0).abs() < 1e-6);
        // Target ROAS 2.5: a at 150 and b as low as it goes: 450+75 / 200 = 2.625.
        let plan = plan_from_input(
            &inp,
            &PlanOptions::new(200.0).with_objective(Objective::TargetRoas(2.5)),
        )
        .unwrap();
        let roas = plan.expected_incremental_revenue / plan.allocated_budget;
        assert!(roas >= 2.5 - 1e-9, "{roas}");
        assert!(
            plan_from_input(
                &inp,
                &PlanOptions::new(200.0).with_objective(Objective::TargetRoas(9.0))
            )
            .unwrap_err()
            .to_string()
            .contains("target")
        );
    }

    /// The margin is a share: above 1 (1e305 overflowed `margin × revenue` to infinity
    /// and returned a worse plan, silently), at or below 0, or not finite, it is refused
    /// naming `margin`; at 1 the profit plan is finite. A channel held twice is refused.
    #[test]
    fn a_margin_is_a_share_and_a_hold_is_named_once() {
        for margin in [
            0.0,
            -0.5,
            1.000_000_1,
            2.0,
            1e305,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
        ] {
            let e = PlanOptions::new(200.0)
                .with_objective(Objective::Profit { margin })
                .validate()
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("`margin`") && e.contains("(0, 1]"),
                "{margin}: {e}"
            );
        }
        let f = hill(1000.0, 50.0);
        let inp = PlanInput {
            window_days: None,
            channels: vec![input("a", 100.0, &f), input("b", 100.0, &|x| 0.75 * x)],
        };
        for margin in [1.0, 1e-300] {
            let plan = plan_from_input(
                &inp,
                &PlanOptions::new(200.0).with_objective(Objective::Profit { margin }),
            )
            .unwrap();
            assert!(plan.expected_incremental_revenue.is_finite(), "{margin}");
            assert!(plan.allocated_budget.is_finite() && plan.allocated_budget <= 200.0);
        }
        let e = PlanOptions::new(200.0)
            .with_hold("a")
            .with_hold("a")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("`hold`") && e.contains("`a` twice"), "{e}");
    }

    #[test]
    fn uncertain_channels_are_held_and_bad_options_are_named() {
        let f = hill(1000.0, 50.0);
        // The best marginal return here is f'(100) ≈ 2.2 (channel a); the weak channel's
        // ±4 is wider.
        let mut weak = input("weak", 100.0, &|x| 0.1 * x);
        weak.marginal_ci = (-3.9, 4.1);
        let mut a = input("a", 100.0, &f);
        a.marginal_ci = (a.marginal_roas * 0.8, a.marginal_roas * 1.2);
        let inp = PlanInput {
            window_days: Some(30),
            channels: vec![a, weak],
        };
        let plan = plan_from_input(&inp, &PlanOptions::new(200.0)).unwrap();
        let w = plan.channel("weak").unwrap();
        assert!(w.held && w.recommended_spend == 100.0);
        assert!(
            w.reason.as_deref().unwrap().contains("cannot rank"),
            "{w:?}"
        );
        // A minimum asked of a held channel is not met, and the notes say so (it was
        // dropped without a word).
        let plan = plan_from_input(&inp, &PlanOptions::new(300.0).with_min("weak", 150.0)).unwrap();
        assert_eq!(plan.channel("weak").unwrap().recommended_spend, 100.0);
        assert!(
            plan.notes
                .iter()
                .any(|n| n.starts_with("`weak` stays at its current spend 100, not at least 150")),
            "{:?}",
            plan.notes
        );
        // A narrow interval around zero is not uncertain: that channel gives budget up.
        let mut flat = input("flat", 100.0, &|x| 0.01 * x);
        flat.marginal_ci = (-0.05, 0.07);
        let mut a2 = input("a", 100.0, &f);
        a2.marginal_ci = (a2.marginal_roas * 0.8, a2.marginal_roas * 1.2);
        let both = PlanInput {
            window_days: None,
            channels: vec![a2, flat],
        };
        let plan = plan_from_input(&both, &PlanOptions::new(200.0)).unwrap();
        let fl = plan.channel("flat").unwrap();
        assert!(
            !fl.held && (fl.recommended_spend - 50.0).abs() < 1e-6,
            "{fl:?}"
        );
        let err = |o: PlanOptions| plan_from_input(&inp, &o).unwrap_err().to_string();
        assert!(err(PlanOptions::new(0.0)).contains("budget"));
        assert!(err(PlanOptions::new(-1.0)).contains("budget"));
        assert!(err(PlanOptions::new(200.0).with_min("nope", 1.0)).contains("nope"));
        let e = err(PlanOptions::new(200.0)
            .with_min("a", 90.0)
            .with_max("a", 80.0));
        assert!(e.contains("min_spend") && e.contains("a=80"), "{e}");
        assert!(err(PlanOptions::new(10.0)).contains("at least 150.00"));
        // Period scaling: 60 days of a 30-day window doubles current spend.
        let plan = plan_from_input(&inp, &PlanOptions::new(400.0).with_period_days(60)).unwrap();
        assert!((plan.current_spend - 400.0).abs() < 1e-9);
        let no_curves = PlanInput {
            window_days: None,
            channels: vec![PlanChannelInput {
                curve: Vec::new(),
                ..input("a", 100.0, &f)
            }],
        };
        let e = plan_from_input(&no_curves, &PlanOptions::new(100.0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("response_curve"), "{e}");
    }
}
