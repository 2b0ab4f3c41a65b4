//! The results JSON of DESIGN.md (`liftos analyze --json`).

use serde_json::{Map, Value, json};

use crate::results::{AttributionResults, ChannelEffect, Estimate};

/// A number, or `null` when it is not finite (JSON has no NaN).
fn num(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

fn estimate(e: &Estimate) -> Value {
    json!({
        "name": e.name, "estimate": num(e.estimate), "std_err": num(e.std_err),
        "ci_lower": num(e.ci_lower), "ci_upper": num(e.ci_upper),
        "p_value": num(e.p_value), "rows": e.rows,
    })
}

fn channel(c: &ChannelEffect) -> Value {
    let mut m = Map::new();
    m.insert("channel".into(), json!(c.channel));
    for (k, v) in [
        ("spend", c.spend),
        ("revenue_lift", c.revenue_lift),
        ("ci_lower", c.ci_lower),
        ("ci_upper", c.ci_upper),
        ("p_value", c.p_value),
        ("incremental_roas", c.incremental_roas),
        ("incremental_roas_ci_lower", c.incremental_roas_ci_lower),
        ("incremental_roas_ci_upper", c.incremental_roas_ci_upper),
        ("marginal_roas", c.marginal_roas),
        ("std_err", c.std_err),
        ("outcome_total", c.outcome_total),
        ("naive_roas", c.naive_roas),
    ] {
        m.insert(k.into(), num(v));
    }
    m.insert("rows".into(), json!(c.rows));
    m.insert(
        "long_run_roas".into(),
        c.long_run_roas.map_or(Value::Null, num),
    );
    m.insert(
        "adstock_decay".into(),
        c.adstock_decay.map_or(Value::Null, num),
    );
    if let Some(r) = &c.response {
        m.insert(
            "marginal_roas_ci_lower".into(),
            num(r.marginal_roas_ci_lower),
        );
        m.insert(
            "marginal_roas_ci_upper".into(),
            num(r.marginal_roas_ci_upper),
        );
        m.insert(
            "long_run_roas_ci_lower".into(),
            r.long_run_roas_ci_lower.map_or(Value::Null, num),
        );
        m.insert(
            "long_run_roas_ci_upper".into(),
            r.long_run_roas_ci_upper.map_or(Value::Null, num),
        );
        m.insert(
            "saturation".into(),
            match r.transform.saturation {
                Some(h) => json!({
                    "half_saturation": r.half_saturation_spend.map_or(Value::Null, num),
                    "half_saturation_relative": num(h.half_saturation),
                    "shape": num(h.shape),
                }),
                None => Value::Null,
            },
        );
        m.insert(
            "response_curve".into(),
            Value::Array(
                r.response_curve
                    .iter()
                    .map(|p| {
                        json!({
                            "scale": num(p.scale), "spend": num(p.spend),
                            "incremental_revenue": num(p.incremental_revenue),
                            "ci_lower": num(p.ci_lower), "ci_upper": num(p.ci_upper),
                        })
                    })
                    .collect(),
            ),
        );
        m.insert(
            "sensitivity".into(),
            json!({
                "robustness_value": num(r.sensitivity.robustness_value),
                "robustness_value_ci": num(r.sensitivity.robustness_value_ci),
                "t_stat": num(r.sensitivity.t_stat),
            }),
        );
        m.insert(
            "transform_selection".into(),
            json!({
                "plausible_transforms": r.plausible_transforms,
                "switch_off_low": num(r.switch_off_range.0),
                "switch_off_high": num(r.switch_off_range.1),
            }),
        );
    }
    Value::Object(m)
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
    /// ```
    /// use liftos_causal::AttributionResults;
    /// let r = AttributionResults::new("causal_forest", "revenue", "spend", 10, 42);
    /// let v = r.to_json();
    /// assert_eq!(v["model"], "causal_forest");
    /// assert!(v["channels"].as_array().unwrap().is_empty());
    /// ```
    pub fn to_json(&self) -> Value {
        let accuracy = match &self.model_accuracy {
            Some(a) => json!({
                "r2": num(a.r2), "mape": num(a.mape), "folds": a.folds,
                "gap_days": a.gap_days,
                "fold_r2": a.fold_r2.iter().map(|v| num(*v)).collect::<Vec<_>>(),
            }),
            None => Value::Null,
        };
        let temporal = match &self.temporal {
            Some(t) => {
                let profile = |v: &[Estimate]| -> Value {
                    Value::Object(
                        v.iter()
                            .map(|e| (e.name.clone(), num(e.estimate)))
                            .collect(),
                    )
                };
                let opt = |e: &Option<Estimate>| e.as_ref().map_or(Value::Null, estimate);
                json!({
                    "day_of_week": profile(&t.day_effects),
                    "seasonal": profile(&t.seasonal_effects),
                    "holiday_lift": t.holiday_lift.as_ref().map_or(Value::Null, |e| num(e.estimate)),
                    "event_lift": t.event_lift.as_ref().map_or(Value::Null, |e| num(e.estimate)),
                    "intervals": {
                        "day_of_week": t.day_effects.iter().map(estimate).collect::<Vec<_>>(),
                        "seasonal": t.seasonal_effects.iter().map(estimate).collect::<Vec<_>>(),
                        "holiday_lift": opt(&t.holiday_lift),
                        "event_lift": opt(&t.event_lift),
                    },
                    "treatment_effect": {
                        "by_day_of_week": t.effect_by_day.iter().map(estimate).collect::<Vec<_>>(),
                        "holidays": opt(&t.effect_on_holidays),
                        "other_days": opt(&t.effect_off_holidays),
                    },
                })
            }
            None => Value::Null,
        };
        let d = &self.diagnostics;
        let calibration = d.calibration.as_ref().map_or(Value::Null, |c| {
            let coef = |k: &crate::inference::Coefficient| {
                json!({"estimate": num(k.estimate), "std_err": num(k.std_err),
                       "ci_lower": num(k.ci_lower), "ci_upper": num(k.ci_upper),
                       "p_value": num(k.p_value)})
            };
            json!({
                "mean_forest_prediction": coef(&c.mean_forest_prediction),
                "differential_forest_prediction": coef(&c.differential_forest_prediction),
            })
        });
        let iso = |d: i32| {
            arrow::temporal_conversions::date32_to_datetime(d)
                .map_or(Value::Null, |t| json!(t.date().to_string()))
        };
        let window = self.window().map_or(
            Value::Null,
            |(first, last, days)| json!({"start": iso(first), "end": iso(last), "days": days}),
        );
        let a = &self.average_effect;
        json!({
            "model": self.model,
            "outcome": self.outcome,
            "treatment": self.treatment,
            "rows": self.rows,
            "confidence_level": self.confidence_level,
            "seed": self.seed,
            "model_accuracy": accuracy,
            "window": window,
            "channels": self.channels.iter().map(channel).collect::<Vec<_>>(),
            "temporal": temporal,
            "average_effect": {
                "estimate": num(a.estimate), "std_err": num(a.std_err),
                "ci_lower": num(a.ci_lower), "ci_upper": num(a.ci_upper),
                "p_value": num(a.p_value),
            },
            "diagnostics": {
                "calibration": calibration,
                "treatment_r2": d.treatment_r2.map_or(Value::Null, num),
                "low_overlap_share": d.low_overlap_share.map_or(Value::Null, num),
                "placebo": d.placebo.as_ref().map_or(Value::Null, estimate),
                "placebo_next_day": d.placebo_next_day.as_ref().map_or(Value::Null, estimate),
                "warnings": d.warnings,
            },
            "settings": Value::Object(
                self.settings.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
            ),
        })
    }
}
