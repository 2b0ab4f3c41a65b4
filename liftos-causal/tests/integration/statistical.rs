//! Null effects, calibration and the best linear projection.

use liftos_causal::CausalDataset;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::sim;

#[test]
fn a_zero_effect_treatment_is_not_significant() {
    // Strongly confounded (W and Y both rise with x1 and x3) but τ = 0.
    let n = 3000;
    let mut rng = ChaCha8Rng::seed_from_u64(404);
    let x = sim::uniform_x(&mut rng, n, 5);
    let nrm = Normal::new(0.0, 1.0).unwrap();
    let w: Vec<f64> = (0..n)
        .map(|i| 2.0 * x[2][i] + 2.0 * x[0][i] + nrm.sample(&mut rng))
        .collect();
    let y: Vec<f64> = (0..n)
        .map(|i| 4.0 * x[2][i] + 3.0 * x[0][i] + nrm.sample(&mut rng))
        .collect();
    let cols: Vec<(&str, &[f64])> = vec![
        ("x1", &x[0]),
        ("x2", &x[1]),
        ("x3", &x[2]),
        ("x4", &x[3]),
        ("x5", &x[4]),
    ];
    let data = CausalDataset::new(&y, &w)
        .unwrap()
        .with_covariates(cols)
        .unwrap();
    let forest = crate::fit_forest(&data, 500, 8);
    let ate = forest.average_effect(None).unwrap();
    eprintln!("null ATE {ate:?}");
    assert!(ate.p_value > 0.05, "{ate:?}");
    assert!(ate.ci_lower < 0.0 && ate.ci_upper > 0.0);
    // The naive regression slope of Y on W is far from zero: confounding is real.
    let (mw, my) = (
        w.iter().sum::<f64>() / n as f64,
        y.iter().sum::<f64>() / n as f64,
    );
    let slope = w
        .iter()
        .zip(&y)
        .map(|(a, b)| (a - mw) * (b - my))
        .sum::<f64>()
        / w.iter().map(|a| (a - mw).powi(2)).sum::<f64>();
    assert!(slope > 0.5, "naive slope {slope}");
    // The lift over a positive-spend subset is not significant either.
    let shifted: Vec<f64> = w.iter().map(|v| v + 10.0).collect();
    let data = CausalDataset::new(&y, &shifted)
        .unwrap()
        .with_covariates(vec![("x1", &x[0][..]), ("x3", &x[2][..])])
        .unwrap();
    let forest = crate::fit_forest(&data, 300, 9);
    let lift = forest.lift(None).unwrap();
    eprintln!("null lift {lift:?}");
    assert!(lift.p_value > 0.05, "{lift:?}");
}

#[test]
fn calibration_and_projection_detect_heterogeneity() {
    let d = sim::continuous(3000, 5, 1.0, 31);
    let data = d.dataset();
    let forest = crate::fit_forest(&data, 500, 4);
    let cal = forest.test_calibration().unwrap();
    eprintln!("{cal:?}");
    let m = &cal.mean_forest_prediction;
    let dfp = &cal.differential_forest_prediction;
    assert!(
        (m.estimate - 1.0).abs() < 3.0 * m.std_err,
        "mean.forest.prediction {m:?}"
    );
    assert!(
        dfp.p_value < 0.01 && (dfp.estimate - 1.0).abs() < 0.3,
        "differential {dfp:?}"
    );

    // τ = ζ(x1)ζ(x2): the linear projection on x1 has slope Cov(τ, x1)/Var(x1) > 0, and
    // x5 (irrelevant) has none.
    let blp = forest
        .best_linear_projection(&[("x1", &d.x[0]), ("x5", &d.x[4])])
        .unwrap();
    eprintln!("{blp:?}");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let big: Vec<(f64, f64)> = (0..200_000)
        .map(|_| {
            let (a, b) = (rng.random::<f64>(), rng.random::<f64>());
            (a, sim::zeta(a) * sim::zeta(b))
        })
        .collect();
    let mx = big.iter().map(|p| p.0).sum::<f64>() / big.len() as f64;
    let mt = big.iter().map(|p| p.1).sum::<f64>() / big.len() as f64;
    let slope = big.iter().map(|p| (p.0 - mx) * (p.1 - mt)).sum::<f64>()
        / big.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
    assert_eq!(blp[1].name, "x1");
    assert!(
        (blp[1].estimate - slope).abs() < 3.0 * blp[1].std_err,
        "x1 slope {:?} vs {slope}",
        blp[1]
    );
    assert!(blp[1].p_value < 1e-6);
    assert!(
        blp[2].estimate.abs() < 3.0 * blp[2].std_err,
        "x5 {:?}",
        blp[2]
    );
}
