//! grf-style designs with known τ(x): accuracy, pointwise coverage, average effect.

use liftos_causal::CausalForestParams;

use crate::sim::{self, Design};

struct Report {
    rmse: f64,
    miscoverage: f64,
    ate: f64,
    ate_se: f64,
}

fn evaluate(train: &Design, test: &Design, trees: usize, seed: u64) -> Report {
    let data = train.dataset();
    let forest = crate::fit_forest(&data, trees, seed);
    let pred = forest.predict(&test.x_refs()).unwrap();
    let n = pred.len() as f64;
    let rmse = (pred
        .iter()
        .zip(&test.tau)
        .map(|(p, t)| (p.tau - t).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let miss = pred
        .iter()
        .zip(&test.tau)
        .filter(|(p, t)| {
            let (lo, hi) = p.interval(0.95);
            **t < lo || **t > hi
        })
        .count() as f64
        / n;
    let ate = forest.average_effect(None).unwrap();
    let r = Report {
        rmse,
        miscoverage: miss,
        ate: ate.estimate,
        ate_se: ate.std_err,
    };
    eprintln!(
        "rmse {:.3} miscoverage {:.3} ate {:.3} se {:.3} (truth {:.3}) mean se {:.3}",
        r.rmse,
        r.miscoverage,
        r.ate,
        r.ate_se,
        sim::mean_zeta().powi(2),
        pred.iter().map(|p| p.std_err()).sum::<f64>() / n
    );
    r
}

/// The test rows' CATE within `max_rmse` of the truth, 0.5%–15% of their 95% intervals
/// missing it, and the ATE within three standard errors of the truth.
#[track_caller]
fn assert_recovered(r: &Report, max_rmse: f64) {
    let truth = sim::mean_zeta().powi(2);
    assert!(r.rmse < max_rmse, "CATE RMSE {}", r.rmse);
    assert!(
        (0.005..=0.15).contains(&r.miscoverage),
        "pointwise miscoverage {}",
        r.miscoverage
    );
    assert!(
        (r.ate - truth).abs() < 3.0 * r.ate_se,
        "ATE {} ± {} vs {truth}",
        r.ate,
        r.ate_se
    );
}

#[test]
fn continuous_treatment_recovers_heterogeneous_effects() {
    let train = sim::continuous(3000, 6, 1.0, 11);
    let test = sim::continuous(1000, 6, 1.0, 12);
    let r = evaluate(&train, &test, 1000, 3);
    // sd of τ is about 0.9; observed RMSE 0.12 (seeded).
    assert_recovered(&r, 0.2);
}

#[test]
fn binary_treatment_recovers_heterogeneous_effects() {
    let train = sim::binary(4000, 6, 1.0, 21);
    let test = sim::binary(1000, 6, 1.0, 22);
    let r = evaluate(&train, &test, 1000, 5);
    // observed RMSE 0.21 (seeded); binary W carries less information per row.
    assert_recovered(&r, 0.3);
}

#[test]
fn tables_and_batch_prediction_agree_with_the_forest() {
    use arrow::array::{ArrayRef, AsArray, Float64Array};
    use arrow::datatypes::Float64Type;
    use arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    let d = sim::continuous(1200, 4, 1.0, 41);
    let data = d.dataset();
    let forest = CausalForestParams::default()
        .with_num_trees(200)
        .build()
        .unwrap()
        .fit_forest(&data)
        .unwrap();

    // Subset averages: the high-x1 half has the larger effect (ζ is increasing).
    let high: Vec<f64> = d.x[0]
        .iter()
        .map(|v| if *v > 0.5 { 1.0 } else { 0.0 })
        .collect();
    let low: Vec<f64> = high.iter().map(|h| 1.0 - h).collect();
    let t = forest
        .average_effects_table(&[("all", None), ("high", Some(&high)), ("low", Some(&low))])
        .unwrap();
    let est = t
        .column_by_name("estimate")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(t.num_rows(), 3);
    assert!(
        est.value(1) > est.value(2) + 0.5,
        "high {} low {}",
        est.value(1),
        est.value(2)
    );
    // Truth: E[τ | x1 > 0.5] = E[ζ(x1) | x1 > 0.5]·E[ζ], with
    // E[ζ(U) | U > 1/2] = 1 + 2(ln(1 + e^{40/3}) − ln(1 + e^{10/3}))/20.
    let se = t
        .column_by_name("std_err")
        .unwrap()
        .as_primitive::<Float64Type>();
    let upper = 1.0
        + 2.0 * ((1.0 + (40.0f64 / 3.0).exp()).ln() - (1.0 + (10.0f64 / 3.0).exp()).ln()) / 20.0;
    let hi_truth = upper * sim::mean_zeta();
    assert!(
        (est.value(1) - hi_truth).abs() < 3.0 * se.value(1),
        "{} ± {} vs {hi_truth}",
        est.value(1),
        se.value(1)
    );

    // Predicting from a table by covariate name equals predicting from slices.
    let batch = RecordBatch::try_from_iter(vec![
        (
            "x3",
            Arc::new(Float64Array::from(vec![0.1, 0.9])) as ArrayRef,
        ),
        (
            "x1",
            Arc::new(Float64Array::from(vec![0.05, 0.95])) as ArrayRef,
        ),
        (
            "x2",
            Arc::new(Float64Array::from(vec![0.05, 0.95])) as ArrayRef,
        ),
        (
            "x4",
            Arc::new(Float64Array::from(vec![0.5, 0.5])) as ArrayRef,
        ),
    ])
    .unwrap();
    let from_batch = forest.predict_batch(&batch).unwrap();
    let from_slices = forest
        .predict(&[&[0.05, 0.95], &[0.05, 0.95], &[0.1, 0.9], &[0.5, 0.5]])
        .unwrap();
    assert_eq!(from_batch, from_slices);
    // τ(0.05, 0.05) ≈ 1.0 and τ(0.95, 0.95) ≈ 4.0: the forest tells them apart.
    assert!(
        from_slices[0].tau < 2.0 && from_slices[1].tau > 3.0,
        "{from_slices:?}"
    );

    let oob = forest.oob_table().unwrap();
    assert_eq!((oob.num_rows(), oob.num_columns()), (1200, 8));
}
