//! Cluster-robust inference when rows share shocks.

use liftos_causal::CausalDataset;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::sim;

#[test]
fn clustered_rows_get_wider_and_covering_intervals() {
    // 40 clusters × 50 rows. Each cluster has its own effect τ_c = 1 + η_c (η ~ N(0, 0.5²))
    // and an outcome shock u_c, so rows of a cluster are correlated. The population
    // average effect is 1.
    let (c, per) = (40, 50);
    let n = c * per;
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let x = sim::uniform_x(&mut rng, n, 4);
    let nrm = Normal::new(0.0, 1.0).unwrap();
    let eta: Vec<f64> = (0..c).map(|_| 0.5 * nrm.sample(&mut rng)).collect();
    let shock: Vec<f64> = (0..c).map(|_| nrm.sample(&mut rng)).collect();
    let cluster: Vec<u64> = (0..n).map(|i| (i / per) as u64).collect();
    let w: Vec<f64> = (0..n).map(|i| x[0][i] + nrm.sample(&mut rng)).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let k = i / per;
            2.0 * x[1][i] + 2.0 * x[0][i] + (1.0 + eta[k]) * w[i] + shock[k] + nrm.sample(&mut rng)
        })
        .collect();
    let cols: Vec<(&str, &[f64])> =
        vec![("x1", &x[0]), ("x2", &x[1]), ("x3", &x[2]), ("x4", &x[3])];
    let data = CausalDataset::new(&y, &w)
        .unwrap()
        .with_covariates(cols)
        .unwrap()
        .with_cluster_ids(&cluster)
        .unwrap();
    assert_eq!(data.num_clusters(), 40);
    let forest = crate::fit_forest(&data, 500, 3);
    let clustered = forest.average_effect(None).unwrap();
    let rows: Vec<u32> = (0..n as u32).collect();
    let naive = forest.average_effect_with(None, Some(&rows), 0.95).unwrap();
    eprintln!("clustered {clustered:?}\nnaive {naive:?}");
    assert_eq!(
        (clustered.clusters, clustered.df),
        (40, 39.0),
        "t(C-1) with C = 40"
    );
    assert!(
        clustered.std_err > 1.5 * naive.std_err,
        "{} vs {}",
        clustered.std_err,
        naive.std_err
    );
    assert!(
        clustered.ci_lower < 1.0 && 1.0 < clustered.ci_upper,
        "{clustered:?}"
    );
    // t(39) is wider than the normal: the critical value is > 1.96.
    let crit = (clustered.ci_upper - clustered.estimate) / clustered.std_err;
    assert!((crit - 2.0227).abs() < 1e-3, "{crit}");
}
