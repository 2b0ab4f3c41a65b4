//! The results JSON of DESIGN.md (`liftos analyze --json`): the results types implement
//! `serde::Serialize`, and [`AttributionResults::to_json`] is their `serde_json` value.
//!
//! Most types derive `Serialize` in `results.rs`, with field attributes: floats go through
//! [`finite`] (JSON has no NaN: a non-finite number is `null`), fields the JSON leaves out
//! are skipped, `settings` is an object, the row index gives the data's `window`. The
//! serializers here are for the parts whose JSON has another shape than the Rust type:
//! a channel's response (flattened into the channel, with `saturation` and
//! `transform_selection` built from several fields), the temporal effects (profiles by
//! name, then the same estimates with their intervals), and the average effect and the
//! forest's calibration, which are `inference` types shown without some of their fields.
//!
//! The business results (`business.rs`) and the budget plan (`plan.rs`, `plan.json`) derive
//! `Serialize` the same way; the serializers for their parts of another shape are here too:
//! the business results' outcome, a share or a return with its interval, the plan's
//! objective and its intervals as `_ci_lower`/`_ci_upper` keys.

use serde::ser::{Serialize, Serializer};
use serde_json::Value;

use crate::inference::{AverageEffect, Calibration, Coefficient};
use crate::plan::Objective;
use crate::results::{
    AttributionResults, ChannelResponse, CurvePoint, Estimate, RowIndex, Sensitivity,
    TemporalEffects,
};

/// A number that serializes as `null` when it is not finite (JSON has no NaN).
#[derive(Debug, Clone, Copy)]
struct Finite(f64);

impl Serialize for Finite {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            s.serialize_none()
        }
    }
}

/// `serialize_with` for an `f64`: the number, or `null` when it is not finite.
pub(crate) fn finite<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    Finite(*v).serialize(s)
}

/// `serialize_with` for an `Option<f64>`: `null` for `None` and for a non-finite number.
pub(crate) fn finite_or_null<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    v.map(Finite).serialize(s)
}

/// `serialize_with` for a `Vec<f64>`: each number, or `null` when it is not finite.
pub(crate) fn finite_seq<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().copied().map(Finite))
}

/// `serialize_with` for the settings: an object of name → value (a repeated name keeps
/// its last value in [`AttributionResults::to_json`]).
pub(crate) fn settings<S: Serializer>(v: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(k, v)| (k, v)))
}

/// `serialize_with` for the row index: the data's `window` (`start`, `end` as ISO dates,
/// `days`), `null` without a row index; the same window as [`AttributionResults::window`].
pub(crate) fn window<S: Serializer>(index: &Option<RowIndex>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Window {
        start: Option<String>,
        end: Option<String>,
        days: u32,
    }
    let iso =
        |d: i32| arrow::temporal_conversions::date32_to_datetime(d).map(|t| t.date().to_string());
    let window = index.as_ref().and_then(|i| {
        let first = *i.date.iter().min()?;
        let last = *i.date.iter().max()?;
        let days = u32::try_from(i64::from(last) - i64::from(first) + 1).ok()?;
        Some(Window {
            start: iso(first),
            end: iso(last),
            days,
        })
    });
    window.serialize(s)
}

/// An estimate with its standard error, interval and p-value, without its other fields.
#[derive(serde::Serialize)]
struct Interval {
    estimate: Finite,
    std_err: Finite,
    ci_lower: Finite,
    ci_upper: Finite,
    p_value: Finite,
}

impl From<&AverageEffect> for Interval {
    fn from(a: &AverageEffect) -> Self {
        Interval {
            estimate: Finite(a.estimate),
            std_err: Finite(a.std_err),
            ci_lower: Finite(a.ci_lower),
            ci_upper: Finite(a.ci_upper),
            p_value: Finite(a.p_value),
        }
    }
}

impl From<&Coefficient> for Interval {
    fn from(k: &Coefficient) -> Self {
        Interval {
            estimate: Finite(k.estimate),
            std_err: Finite(k.std_err),
            ci_lower: Finite(k.ci_lower),
            ci_upper: Finite(k.ci_upper),
            p_value: Finite(k.p_value),
        }
    }
}

/// `serialize_with` for the average effect: `estimate`, `std_err`, `ci_lower`,
/// `ci_upper`, `p_value`.
pub(crate) fn average_effect<S: Serializer>(a: &AverageEffect, s: S) -> Result<S::Ok, S::Error> {
    Interval::from(a).serialize(s)
}

/// `serialize_with` for the forest's calibration test: its two coefficients as
/// [`Interval`]s, `null` without the test.
pub(crate) fn calibration<S: Serializer>(c: &Option<Calibration>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Test {
        mean_forest_prediction: Interval,
        differential_forest_prediction: Interval,
    }
    c.as_ref()
        .map(|c| Test {
            mean_forest_prediction: (&c.mean_forest_prediction).into(),
            differential_forest_prediction: (&c.differential_forest_prediction).into(),
        })
        .serialize(s)
}

/// `serialize_with` for a business-level analysis's results, flattened into its JSON:
/// the results JSON with its `outcome` (the column) as `outcome_column` and `outcome`
/// `"business"`.
pub(crate) fn business_results<S: Serializer>(
    r: &AttributionResults,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut v = r.to_json();
    if let Value::Object(m) = &mut v {
        if let Some(column) = m.remove("outcome") {
            m.insert("outcome_column".into(), column);
        }
        m.insert("outcome".into(), "business".into());
    }
    v.serialize(s)
}

/// `serialize_with` for a share with its interval: `estimate`, `std_err`, `ci_lower`,
/// `ci_upper` (an [`Estimate`] without its name, p-value and rows).
pub(crate) fn share<S: Serializer>(e: &Estimate, s: S) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Share {
        estimate: Finite,
        std_err: Finite,
        ci_lower: Finite,
        ci_upper: Finite,
    }
    Share {
        estimate: Finite(e.estimate),
        std_err: Finite(e.std_err),
        ci_lower: Finite(e.ci_lower),
        ci_upper: Finite(e.ci_upper),
    }
    .serialize(s)
}

/// `serialize_with` for an incremental return with its interval, `(estimate, lower,
/// upper)`: `incremental_roas`, `ci_lower`, `ci_upper`.
pub(crate) fn roas_interval<S: Serializer>(v: &(f64, f64, f64), s: S) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Roas {
        incremental_roas: Finite,
        ci_lower: Finite,
        ci_upper: Finite,
    }
    Roas {
        incremental_roas: Finite(v.0),
        ci_lower: Finite(v.1),
        ci_upper: Finite(v.2),
    }
    .serialize(s)
}

/// `serialize_with` for a plan's objective, flattened into the plan: `objective` (its
/// name), `target_roas` and `margin` (each `null` unless the objective has it).
pub(crate) fn objective<S: Serializer>(o: &Objective, s: S) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Fields {
        objective: &'static str,
        target_roas: Option<Finite>,
        margin: Option<Finite>,
    }
    let (target_roas, margin) = match *o {
        Objective::TargetRoas(t) => (Some(Finite(t)), None),
        Objective::Profit { margin } => (None, Some(Finite(margin))),
        Objective::Revenue => (None, None),
    };
    Fields {
        objective: o.as_str(),
        target_roas,
        margin,
    }
    .serialize(s)
}

/// An interval `(lower, upper)` flattened into its object as `{name}_ci_lower` and
/// `{name}_ci_upper`.
fn ci_keys<S: Serializer>(name: &str, v: &(f64, f64), s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry(&format!("{name}_ci_lower"), &Finite(v.0))?;
    m.serialize_entry(&format!("{name}_ci_upper"), &Finite(v.1))?;
    m.end()
}

/// `serialize_with` for a plan's interval: `expected_incremental_revenue_ci_lower`/`_upper`.
pub(crate) fn expected_ci<S: Serializer>(v: &(f64, f64), s: S) -> Result<S::Ok, S::Error> {
    ci_keys("expected_incremental_revenue", v, s)
}

/// `serialize_with` for the current split's interval:
/// `current_incremental_revenue_ci_lower`/`_upper`.
pub(crate) fn current_ci<S: Serializer>(v: &(f64, f64), s: S) -> Result<S::Ok, S::Error> {
    ci_keys("current_incremental_revenue", v, s)
}

/// `serialize_with` for the uplift's interval: `uplift_ci_lower`/`_upper`.
pub(crate) fn uplift_ci<S: Serializer>(v: &(f64, f64), s: S) -> Result<S::Ok, S::Error> {
    ci_keys("uplift", v, s)
}

/// The response's keys, flattened into its channel's object: `marginal_roas_ci_lower`/
/// `_upper`, `long_run_roas_ci_lower`/`_upper`, `saturation` (`half_saturation` in spend
/// units, `half_saturation_relative`, `shape`; `null` for a linear response),
/// `response_curve`, `sensitivity` and `transform_selection` (`plausible_transforms`,
/// `switch_off_low`, `switch_off_high`).
impl Serialize for ChannelResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Saturation {
            half_saturation: Option<Finite>,
            half_saturation_relative: Finite,
            shape: Finite,
        }
        #[derive(serde::Serialize)]
        struct Selection {
            plausible_transforms: usize,
            switch_off_low: Finite,
            switch_off_high: Finite,
        }
        #[derive(serde::Serialize)]
        struct Response<'a> {
            marginal_roas_ci_lower: Finite,
            marginal_roas_ci_upper: Finite,
            long_run_roas_ci_lower: Option<Finite>,
            long_run_roas_ci_upper: Option<Finite>,
            saturation: Option<Saturation>,
            response_curve: &'a [CurvePoint],
            sensitivity: &'a Sensitivity,
            transform_selection: Selection,
        }
        Response {
            marginal_roas_ci_lower: Finite(self.marginal_roas_ci_lower),
            marginal_roas_ci_upper: Finite(self.marginal_roas_ci_upper),
            long_run_roas_ci_lower: self.long_run_roas_ci_lower.map(Finite),
            long_run_roas_ci_upper: self.long_run_roas_ci_upper.map(Finite),
            saturation: self.transform.saturation.map(|h| Saturation {
                half_saturation: self.half_saturation_spend.map(Finite),
                half_saturation_relative: Finite(h.half_saturation),
                shape: Finite(h.shape),
            }),
            response_curve: &self.response_curve,
            sensitivity: &self.sensitivity,
            transform_selection: Selection {
                plausible_transforms: self.plausible_transforms,
                switch_off_low: Finite(self.switch_off_range.0),
                switch_off_high: Finite(self.switch_off_range.1),
            },
        }
        .serialize(s)
    }
}

/// `day_of_week` and `seasonal` (name → relative lift), `holiday_lift` and `event_lift`
/// (the lift), `intervals` (the same estimates with their intervals) and
/// `treatment_effect` (`by_day_of_week`, `holidays`, `other_days`).
impl Serialize for TemporalEffects {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// Name → point estimate (a repeated name keeps its last estimate in a `Value`).
        struct Profile<'a>(&'a [Estimate]);
        impl Serialize for Profile<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|e| (&e.name, Finite(e.estimate))))
            }
        }
        #[derive(serde::Serialize)]
        struct Intervals<'a> {
            day_of_week: &'a [Estimate],
            seasonal: &'a [Estimate],
            holiday_lift: &'a Option<Estimate>,
            event_lift: &'a Option<Estimate>,
        }
        #[derive(serde::Serialize)]
        struct TreatmentEffect<'a> {
            by_day_of_week: &'a [Estimate],
            holidays: &'a Option<Estimate>,
            other_days: &'a Option<Estimate>,
        }
        #[derive(serde::Serialize)]
        struct Temporal<'a> {
            day_of_week: Profile<'a>,
            seasonal: Profile<'a>,
            holiday_lift: Option<Finite>,
            event_lift: Option<Finite>,
            intervals: Intervals<'a>,
            treatment_effect: TreatmentEffect<'a>,
        }
        let lift = |e: &Option<Estimate>| e.as_ref().map(|e| Finite(e.estimate));
        Temporal {
            day_of_week: Profile(&self.day_effects),
            seasonal: Profile(&self.seasonal_effects),
            holiday_lift: lift(&self.holiday_lift),
            event_lift: lift(&self.event_lift),
            intervals: Intervals {
                day_of_week: &self.day_effects,
                seasonal: &self.seasonal_effects,
                holiday_lift: &self.holiday_lift,
                event_lift: &self.event_lift,
            },
            treatment_effect: TreatmentEffect {
                by_day_of_week: &self.effect_by_day,
                holidays: &self.effect_on_holidays,
                other_days: &self.effect_off_holidays,
            },
        }
        .serialize(s)
    }
}

impl AttributionResults {
    /// The results as JSON, with the keys of DESIGN.md (`model`, `outcome`, `treatment`,
    /// `rows`, `confidence_level`, `seed`, `model_accuracy`, `channels`, `temporal`)
    /// and, as compatible extensions, per-channel `naive_roas`, `long_run_roas`,
    /// `adstock_decay`, and with a response transform `marginal_roas_ci_lower`/`_upper`,
    /// `long_run_roas_ci_lower`/`_upper`, `saturation` (`half_saturation` in spend units,
    /// `half_saturation_relative`, `shape`; `null` for a linear response),
    /// `response_curve` (`scale`, `spend`, `incremental_revenue`, `ci_lower`, `ci_upper`),
    /// `sensitivity` (`robustness_value`, `robustness_value_ci`, `t_stat`) and
    /// `transform_selection` (`plausible_transforms`, `switch_off_low`, `switch_off_high`); `temporal.intervals` (every temporal estimate with its interval),
    /// `window` (`start`, `end`, `days` of the data; `null` without a row index),
    /// `average_effect`, `diagnostics` and `settings`. Non-finite numbers are `null`.
    ///
    /// This is `serde_json::to_value` of the results' `Serialize` implementation, so the
    /// keys of every object come out sorted.
    ///
    /// ```
    /// use liftos_causal::AttributionResults;
    /// let r = AttributionResults::new("causal_forest", "revenue", "spend", 10, 42);
    /// let v = r.to_json();
    /// assert_eq!(v["model"], "causal_forest");
    /// assert!(v["channels"].as_array().unwrap().is_empty());
    /// ```
    pub fn to_json(&self) -> Value {
        // Every map key is a string and no serializer here fails, so this cannot fail.
        serde_json::to_value(self).expect("the results serialize to a JSON value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ChannelEffect;
    use crate::{HillCurve, ResponseTransform};

    fn channel(response: Option<ChannelResponse>) -> ChannelEffect {
        ChannelEffect {
            channel: "meta".into(),
            rows: 10,
            spend: 100.0,
            revenue_lift: 200.0,
            ci_lower: 150.0,
            ci_upper: 250.0,
            std_err: 25.0,
            p_value: f64::NAN,
            df: 9.0,
            incremental_roas: 2.0,
            incremental_roas_ci_lower: 1.5,
            incremental_roas_ci_upper: f64::INFINITY,
            marginal_roas: 1.2,
            average_effect: 1.9,
            average_effect_std_err: 0.3,
            outcome_total: 400.0,
            naive_roas: 4.0,
            long_run_roas: None,
            adstock_decay: Some(0.5),
            response,
        }
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    /// The key set of a channel entry, with and without a response, is pinned: a field
    /// added to `ChannelEffect` or `ChannelResponse` does not change the results JSON
    /// unless this test changes with it. Non-finite numbers and `None` are `null`.
    #[test]
    fn a_channel_entry_has_exactly_the_documented_keys() {
        let r = AttributionResults::new("causal_forest", "revenue", "spend", 10, 42)
            .with_channels(vec![channel(None)]);
        let v = r.to_json();
        let c = &v["channels"][0];
        let plain = [
            "adstock_decay",
            "channel",
            "ci_lower",
            "ci_upper",
            "df",
            "incremental_roas",
            "incremental_roas_ci_lower",
            "incremental_roas_ci_upper",
            "long_run_roas",
            "marginal_roas",
            "naive_roas",
            "outcome_total",
            "p_value",
            "revenue_lift",
            "rows",
            "spend",
            "std_err",
        ];
        assert_eq!(keys(c), plain);
        assert!(c["p_value"].is_null());
        assert!(c["incremental_roas_ci_upper"].is_null());
        assert!(c["long_run_roas"].is_null());
        assert_eq!(c["adstock_decay"], 0.5);
        assert_eq!(c["rows"], 10);

        let response = ChannelResponse {
            transform: ResponseTransform {
                adstock_decay: 0.5,
                saturation: Some(HillCurve {
                    half_saturation: 1.5,
                    shape: 2.0,
                }),
            },
            half_saturation_spend: Some(15.0),
            marginal_roas_ci_lower: 0.9,
            marginal_roas_ci_upper: 1.5,
            long_run_roas_ci_lower: Some(f64::NAN),
            long_run_roas_ci_upper: None,
            response_curve: vec![CurvePoint {
                scale: 1.0,
                spend: 100.0,
                incremental_revenue: 200.0,
                ci_lower: 150.0,
                ci_upper: f64::NAN,
            }],
            sensitivity: Sensitivity {
                robustness_value: 0.2,
                robustness_value_ci: 0.1,
                t_stat: 8.0,
            },
            plausible_transforms: 3,
            switch_off_range: (1.8, 2.4),
        };
        let r = r.with_channels(vec![channel(Some(response))]);
        let v = r.to_json();
        let c = &v["channels"][0];
        // The response's keys join the channel's, in one sorted object.
        let mut with_response: Vec<&str> = plain
            .into_iter()
            .chain([
                "long_run_roas_ci_lower",
                "long_run_roas_ci_upper",
                "marginal_roas_ci_lower",
                "marginal_roas_ci_upper",
                "response_curve",
                "saturation",
                "sensitivity",
                "transform_selection",
            ])
            .collect();
        with_response.sort_unstable();
        assert_eq!(keys(c), with_response);
        assert_eq!(
            c["saturation"],
            serde_json::json!({"half_saturation": 15.0, "half_saturation_relative": 1.5, "shape": 2.0})
        );
        assert_eq!(
            c["transform_selection"],
            serde_json::json!({"plausible_transforms": 3, "switch_off_low": 1.8, "switch_off_high": 2.4})
        );
        assert_eq!(
            keys(&c["response_curve"][0]),
            [
                "ci_lower",
                "ci_upper",
                "incremental_revenue",
                "scale",
                "spend"
            ]
        );
        assert!(c["response_curve"][0]["ci_upper"].is_null());
        assert!(c["long_run_roas_ci_lower"].is_null());
        assert_eq!(
            keys(&c["sensitivity"]),
            ["robustness_value", "robustness_value_ci", "t_stat"]
        );
        assert_eq!(
            keys(&v),
            [
                "average_effect",
                "channels",
                "confidence_level",
                "diagnostics",
                "model",
                "model_accuracy",
                "outcome",
                "rows",
                "seed",
                "settings",
                "temporal",
                "treatment",
                "window",
            ]
        );
    }

    /// The business results' keys beyond the results JSON, and the key set of a
    /// calibration test and of a calibrated channel entry, are pinned.
    #[test]
    fn a_business_channel_entry_has_exactly_the_documented_keys() {
        use crate::business::{CalibratedChannel, CalibrationReport, CalibrationTest};
        use crate::{BusinessResults, LiftTest};
        let results = AttributionResults::new("business", "shop_revenue", "spend", 10, 42)
            .with_channels(vec![channel(None)]);
        let b = BusinessResults {
            results: results.clone(),
            baseline_share: Estimate {
                name: "baseline_share".into(),
                estimate: 0.4,
                std_err: 0.05,
                ci_lower: 0.3,
                ci_upper: f64::NAN,
                p_value: 0.01,
                rows: 10,
            },
            calibration: Some(CalibrationReport {
                tests: vec![CalibrationTest {
                    test: LiftTest {
                        channel: "meta".into(),
                        start: 20_000,
                        end: 20_055,
                        incremental_revenue: 5_000.0,
                        standard_error: 500.0,
                    },
                    spend: 2_000.0,
                    model_estimate: 4_000.0,
                    model_std_err: f64::INFINITY,
                }],
                channels: vec![CalibratedChannel {
                    channel: "meta".into(),
                    before: (2.0, 1.0, 3.0),
                    after: (2.4, f64::NAN, 3.0),
                }],
            }),
            revenue: 10_000.0,
            common_spend: Some(crate::CommonSpend {
                variance_ratio: 1.25,
                correlation: 0.02,
                entities: 12,
                controlled: false,
            }),
        };
        let v = b.to_json();
        let plain = results.to_json();
        let mut expected: Vec<&str> = keys(&plain)
            .into_iter()
            .chain([
                "baseline_share",
                "business_revenue",
                "calibration",
                "common_spend",
                "outcome_column",
            ])
            .collect();
        expected.sort_unstable();
        assert_eq!(keys(&v), expected);
        assert_eq!(v["outcome"], "business");
        assert_eq!(v["outcome_column"], "shop_revenue");
        assert_eq!(
            v["baseline_share"],
            serde_json::json!({"estimate": 0.4, "std_err": 0.05, "ci_lower": 0.3, "ci_upper": null})
        );
        assert_eq!(
            v["common_spend"],
            serde_json::json!({"variance_ratio": 1.25, "correlation": 0.02, "entities": 12, "controlled": false})
        );
        let test = &v["calibration"]["tests"][0];
        assert_eq!(
            keys(test),
            [
                "channel",
                "end",
                "incremental_revenue",
                "model_estimate",
                "model_std_err",
                "spend",
                "standard_error",
                "start"
            ]
        );
        assert_eq!(test["start"], 20_000);
        assert!(test["model_std_err"].is_null());
        let channel = &v["calibration"]["channels"][0];
        assert_eq!(keys(channel), ["after", "before", "channel"]);
        assert_eq!(
            channel["after"],
            serde_json::json!({"incremental_roas": 2.4, "ci_lower": null, "ci_upper": 3.0})
        );
        let without = BusinessResults {
            calibration: None,
            ..b
        };
        assert!(without.to_json()["calibration"].is_null());
    }

    /// The key set of a plan and of one of its channel entries is pinned; the objective
    /// gives `objective`, `target_roas` and `margin`, each interval two `_ci_` keys.
    #[test]
    fn a_plan_channel_entry_has_exactly_the_documented_keys() {
        use crate::plan::{BudgetPlan, Objective, PlannedChannel};
        let plan = BudgetPlan {
            total_budget: 1_000.0,
            allocated_budget: 1_000.0,
            period_days: Some(30),
            window_days: None,
            objective: Objective::Profit { margin: 0.4 },
            max_change: 0.5,
            current_spend: 900.0,
            expected_incremental_revenue: 2_000.0,
            expected_ci: (1_500.0, f64::NAN),
            current_incremental_revenue: 1_800.0,
            current_ci: (1_400.0, 2_200.0),
            uplift: 200.0,
            uplift_ci: (100.0, 300.0),
            channels: vec![PlannedChannel {
                channel: "meta".into(),
                current_spend: 900.0,
                recommended_spend: 1_000.0,
                min_spend: 450.0,
                max_spend: f64::INFINITY,
                expected_incremental_revenue: 2_000.0,
                ci_lower: 1_500.0,
                ci_upper: 2_500.0,
                current_incremental_revenue: 1_800.0,
                marginal_roas_at_recommended: 1.1,
                held: false,
                reason: None,
            }],
            notes: vec!["a note".into()],
        };
        let v = plan.to_json();
        assert_eq!(
            keys(&v),
            [
                "allocated_budget",
                "channels",
                "current_incremental_revenue",
                "current_incremental_revenue_ci_lower",
                "current_incremental_revenue_ci_upper",
                "current_spend",
                "expected_incremental_revenue",
                "expected_incremental_revenue_ci_lower",
                "expected_incremental_revenue_ci_upper",
                "margin",
                "max_change",
                "notes",
                "objective",
                "period_days",
                "target_roas",
                "total_budget",
                "uplift",
                "uplift_ci_lower",
                "uplift_ci_upper",
                "window_days",
            ]
        );
        assert_eq!(v["objective"], "profit");
        assert_eq!(v["margin"], 0.4);
        assert!(v["target_roas"].is_null());
        assert!(v["window_days"].is_null());
        assert!(v["expected_incremental_revenue_ci_upper"].is_null());
        let c = &v["channels"][0];
        assert_eq!(
            keys(c),
            [
                "channel",
                "ci_lower",
                "ci_upper",
                "current_incremental_revenue",
                "current_spend",
                "expected_incremental_revenue",
                "held",
                "marginal_roas_at_recommended",
                "max_spend",
                "min_spend",
                "reason",
                "recommended_spend",
            ]
        );
        assert!(c["max_spend"].is_null());
        assert!(c["reason"].is_null());
        assert_eq!(c["held"], false);
    }
}
