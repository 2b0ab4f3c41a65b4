//! `prepare_causal_data` + `analyze_attribution` on sandbox worlds with known truth.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use liftos_causal::{
    Adstock, AttributionModel, AttributionOptions, CausalForestParams, CausalRoles, DmlParams,
    analyze_attribution, prepare_causal_data,
};
use liftos_sandbox::{World, WorldConfig};

/// The unified table with the calendar's holiday and commercial-event flags (taken from
/// the truth table, which carries the same calendar facts the calendar crate computes).
pub fn enriched(world: &World) -> RecordBatch {
    let table = world.unified_table().unwrap();
    let truth = world.truth_table().unwrap();
    let mut fields: Vec<Field> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut cols: Vec<ArrayRef> = table.columns().to_vec();
    for name in ["is_holiday", "is_commercial_event"] {
        let c = truth.column_by_name(name).unwrap();
        fields.push(Field::new(name, c.data_type().clone(), false));
        cols.push(c.clone());
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

fn forest() -> AttributionModel {
    AttributionModel::CausalForest(CausalForestParams::default().with_num_trees(500))
}

/// The whole attribution on a confounded world: per-channel incremental ROAS within 10%
/// of the truth with the truth inside the 95% interval, the zero-effect channel not
/// significant, the weekday profile within 0.05 and the holiday lift within 0.10 of the
/// truth, out-of-sample R² above 0.5, the placebo not significant, and the JSON complete.
#[test]
fn sandbox_attribution_recovers_truth() {
    let world = World::generate(
        &WorldConfig::standard(4)
            .with_zero_effect_channel("tiktok")
            .with_seed(7),
    )
    .unwrap();
    let table = enriched(&world);
    let panel = prepare_causal_data(&table, &CausalRoles::default()).unwrap();
    assert_eq!(panel.num_rows(), table.num_rows());
    assert!(panel.dropped.is_empty());
    let options = AttributionOptions::default()
        .with_model(forest())
        .with_seed(1);
    let analysis = analyze_attribution(&panel, &options).unwrap();
    let r = analysis.primary();
    let truth = world.truth();
    for ch in &r.channels {
        let t = truth.channel(&ch.channel).unwrap();
        eprintln!(
            "{}: iroas {:.3} [{:.3}, {:.3}] p {:.2e} truth {:.3} naive {:.3}",
            ch.channel,
            ch.incremental_roas,
            ch.incremental_roas_ci_lower,
            ch.incremental_roas_ci_upper,
            ch.p_value,
            t.incremental_roas,
            ch.naive_roas
        );
        assert!((ch.naive_roas - t.naive_roas).abs() < 1e-9 * t.naive_roas.max(1.0));
        if t.zero_effect {
            assert!(ch.p_value > 0.05, "{} p {}", ch.channel, ch.p_value);
        } else {
            let rel = (ch.incremental_roas - t.incremental_roas).abs() / t.incremental_roas;
            assert!(rel < 0.10, "{}: {:.1}% off", ch.channel, rel * 100.0);
            assert!(ch.incremental_roas_ci_lower <= t.incremental_roas);
            assert!(t.incremental_roas <= ch.incremental_roas_ci_upper);
        }
    }
    let temporal = r.temporal.as_ref().expect("temporal effects");
    for (d, e) in temporal.day_effects.iter().enumerate() {
        eprintln!(
            "{}: {:.3} [{:.3}, {:.3}] truth {:.3}",
            e.name, e.estimate, e.ci_lower, e.ci_upper, truth.day_of_week[d]
        );
        assert!(
            (e.estimate - truth.day_of_week[d]).abs() < 0.05,
            "{}",
            e.name
        );
    }
    for e in &temporal.seasonal_effects {
        let m = liftos_causal::attribution::MONTHS
            .iter()
            .position(|m| *m == e.name)
            .unwrap();
        eprintln!(
            "{}: {:.3} [{:.3}, {:.3}] truth {:.3}",
            e.name, e.estimate, e.ci_lower, e.ci_upper, truth.seasonal[m]
        );
        assert!((e.estimate - truth.seasonal[m]).abs() < 0.08, "{}", e.name);
    }
    let h = temporal.holiday_lift.as_ref().expect("holiday lift");
    eprintln!(
        "holiday: {:.3} [{:.3}, {:.3}] truth {:.3}",
        h.estimate, h.ci_lower, h.ci_upper, truth.holiday_lift
    );
    assert!((h.estimate - truth.holiday_lift).abs() < 0.10);
    assert_eq!(temporal.effect_by_day.len(), 7);
    let acc = r.model_accuracy.as_ref().expect("cross-validation");
    eprintln!(
        "accuracy: r2 {:.3} mape {:.3} folds {:?}",
        acc.r2, acc.mape, acc.fold_r2
    );
    assert!(acc.r2 > 0.5, "r2 {}", acc.r2);
    let placebo = r.diagnostics.placebo.as_ref().expect("placebo");
    eprintln!("placebo: {:?}", placebo);
    eprintln!("warnings: {:?}", r.diagnostics.warnings);
    assert!(placebo.p_value > 0.01, "placebo p {}", placebo.p_value);
    let json = r.to_json();
    for key in [
        "model",
        "outcome",
        "treatment",
        "rows",
        "confidence_level",
        "seed",
        "model_accuracy",
        "channels",
        "temporal",
    ] {
        assert!(!json[key].is_null(), "{key}");
    }
    assert!(json["temporal"]["day_of_week"]["monday"].is_number());
    assert!(json["temporal"]["seasonal"]["january"].is_number());
    assert!(json["temporal"]["holiday_lift"].is_number());
    assert_eq!(json["channels"].as_array().unwrap().len(), 4);
}

/// Naive ROAS (revenue / spend) is biased on a confounded world while the estimate is
/// not: the reason the product exists.
#[test]
fn naive_roas_is_biased_estimate_is_not() {
    let world =
        World::generate(&WorldConfig::standard(4).with_seed(3).with_confounding(1.0)).unwrap();
    let table = enriched(&world);
    let panel = prepare_causal_data(&table, &CausalRoles::default()).unwrap();
    let options = AttributionOptions::default()
        .with_model(AttributionModel::Dml(DmlParams::default()))
        .with_cross_validation(false)
        .with_placebo_lead_days(None);
    let r = analyze_attribution(&panel, &options).unwrap();
    for ch in &r.primary().channels {
        let t = world.truth().channel(&ch.channel).unwrap();
        let naive_err = (ch.naive_roas - t.incremental_roas).abs() / t.incremental_roas;
        let est_err = (ch.incremental_roas - t.incremental_roas).abs() / t.incremental_roas;
        eprintln!(
            "{}: naive {:.2} ({:.0}% off) estimate {:.2} ({:.1}% off) truth {:.2}",
            ch.channel,
            ch.naive_roas,
            naive_err * 100.0,
            ch.incremental_roas,
            est_err * 100.0,
            t.incremental_roas
        );
        assert!(
            naive_err > 0.5,
            "{}: naive only {:.0}% off",
            ch.channel,
            naive_err * 100.0
        );
        assert!(
            est_err < 0.10,
            "{}: estimate {:.1}% off",
            ch.channel,
            est_err * 100.0
        );
    }
}

/// With carryover in the world, the decay chosen on the grid is within 0.1 of the truth
/// and the long-run return within 15% of the truth.
#[test]
fn adstock_decay_and_long_run_return() {
    let world = World::generate(
        &WorldConfig::standard(4)
            .with_seed(5)
            .with_adstock("meta", 0.5)
            .with_adstock("google_ads", 0.3),
    )
    .unwrap();
    let table = enriched(&world);
    let roles = CausalRoles::default().with_adstock(Adstock::default_grid());
    let panel = prepare_causal_data(&table, &roles).unwrap();
    let options = AttributionOptions::default()
        .with_model(AttributionModel::Dml(DmlParams::default()))
        .with_cross_validation(false)
        .with_placebo_lead_days(None);
    let analysis = analyze_attribution(&panel, &options).unwrap();
    for ch in &analysis.primary().channels {
        let t = world.truth().channel(&ch.channel).unwrap();
        let decay = analysis.adstock_decays[&ch.channel];
        eprintln!(
            "{}: decay {decay} (truth {}), iroas {:.3} (truth {:.3}), long run {:?} (truth {:.3})",
            ch.channel,
            t.adstock_decay,
            ch.incremental_roas,
            t.incremental_roas,
            ch.long_run_roas,
            t.long_run_marginal_roas
        );
        assert!(
            (decay - t.adstock_decay).abs() <= 0.1 + 1e-9,
            "{} decay {decay}",
            ch.channel
        );
        let lr = ch.long_run_roas.unwrap();
        assert!(
            (lr - t.long_run_marginal_roas).abs() / t.long_run_marginal_roas < 0.15,
            "{} long run {lr}",
            ch.channel
        );
        assert!((ch.spend - t.spend).abs() < 1e-6 * t.spend);
    }
}

/// Missing role values are reported, not silently dropped; a missing or text role column
/// is a clear error naming it.
#[test]
fn missing_roles_are_reported() {
    let world = World::generate(&WorldConfig::standard(2).with_days(120)).unwrap();
    let table = enriched(&world);
    let i = table.schema().index_of("spend").unwrap();
    let spend = table
        .column(i)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let holed: Float64Array = (0..spend.len())
        .map(|k| {
            if k % 50 == 0 {
                None
            } else {
                Some(spend.value(k))
            }
        })
        .collect();
    let mut cols = table.columns().to_vec();
    cols[i] = Arc::new(holed);
    let fields: Vec<Field> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let table = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let panel = prepare_causal_data(&table, &CausalRoles::default()).unwrap();
    let expected = table.num_rows().div_ceil(50);
    assert_eq!(panel.dropped.len(), expected);
    assert_eq!(panel.num_rows() + expected, table.num_rows());
    assert!(
        panel
            .dropped
            .iter()
            .all(|d| d.column == "spend" && d.row % 50 == 0)
    );

    let err = prepare_causal_data(
        &table,
        &CausalRoles::new(["budget"], ["revenue"], Vec::<&str>::new()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`budget`") && err.contains("treatment"),
        "{err}"
    );
    let err = prepare_causal_data(
        &table,
        &CausalRoles::new(["spend"], ["campaign"], Vec::<&str>::new()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`campaign`") && err.contains("not numeric"),
        "{err}"
    );
}
