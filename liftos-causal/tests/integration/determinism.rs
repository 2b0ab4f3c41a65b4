//! Same seed, same numbers, whatever the number of threads.

use liftos_causal::{CausalDataset, CausalForestParams, Estimator};

use crate::sim;

fn fit_in_pool(
    threads: usize,
    data: &CausalDataset,
    seed: u64,
    local_linear: Option<f64>,
) -> (Vec<u64>, liftos_causal::AttributionResults) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let est = CausalForestParams::default()
            .with_num_trees(200)
            .with_seed(seed)
            .with_nuisance_local_linear(local_linear)
            .build()
            .unwrap();
        let forest = est.fit_forest(data).unwrap();
        let mut bits: Vec<u64> = forest.tau_hat().iter().map(|v| v.to_bits()).collect();
        bits.extend(forest.tau_std_err().iter().map(|v| v.to_bits()));
        bits.extend(forest.dr_scores().iter().map(|v| v.to_bits()));
        bits.extend(
            forest
                .predict(&[&[0.5], &[0.5], &[0.5], &[0.5]])
                .unwrap()
                .iter()
                .map(|p| p.tau.to_bits()),
        );
        (bits, est.fit(data).unwrap())
    })
}

#[test]
fn one_and_two_threads_give_identical_output() {
    let d = sim::continuous(1500, 4, 1.0, 5);
    let groups: Vec<&str> = (0..1500)
        .map(|i| if i % 3 == 0 { "a" } else { "b" })
        .collect();
    let clusters: Vec<u64> = (0..1500).map(|i| i / 10).collect();
    let data = d
        .dataset()
        .with_groups(&groups)
        .unwrap()
        .with_cluster_ids(&clusters)
        .unwrap();
    let (one, r1) = fit_in_pool(1, &data, 99, None);
    let (two, r2) = fit_in_pool(2, &data, 99, None);
    assert_eq!(one, two, "bitwise identical per-row output");
    assert_eq!(r1, r2, "identical attribution results");
    // A different seed gives different numbers (the seed is really used).
    let (other, _) = fit_in_pool(2, &data, 100, None);
    assert_ne!(one, other);
    // Local linear nuisances (clusters of 10 rows: out-of-bag by cluster) likewise, and
    // they change the numbers.
    let (ll_one, ll_r1) = fit_in_pool(1, &data, 99, Some(0.1));
    let (ll_two, ll_r2) = fit_in_pool(2, &data, 99, Some(0.1));
    assert_eq!(
        ll_one, ll_two,
        "bitwise identical with local linear nuisances"
    );
    assert_eq!(ll_r1, ll_r2);
    assert_ne!(ll_one, one);
}

/// The same rows in another order give the same numbers: the panel puts the rows in one
/// order whatever the input's, and the per-row outputs come back in the input's order.
/// The sandbox's own table (in its natural-key order, as the pipeline writes it) is
/// already in that order, so its results are the ones published before the sort.
#[test]
fn the_same_rows_in_another_order_give_the_same_results() {
    use arrow::array::UInt32Array;
    use liftos_causal::{
        AttributionOptions, CausalRoles, analyze_attribution, prepare_causal_data,
    };
    use liftos_sandbox::{Preset, World, WorldConfig};
    use rand::SeedableRng;
    use rand::seq::SliceRandom;

    let world = World::generate(&WorldConfig::preset(Preset::Realistic, 3).with_days(240)).unwrap();
    let table = world.unified_table().unwrap();
    let n = table.num_rows();
    let roles = CausalRoles::default();
    let panel = prepare_causal_data(&table, &roles).unwrap();
    assert!(
        panel.source_rows.iter().enumerate().all(|(k, &i)| k == i),
        "the sandbox's table is in the panel's order"
    );
    // The rows reversed, then shuffled.
    let mut order: Vec<u32> = (0..n as u32).rev().collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(11));
    let shuffled =
        arrow::compute::take_record_batch(&table, &UInt32Array::from(order.clone())).unwrap();
    let moved = prepare_causal_data(&shuffled, &roles).unwrap();
    assert!(
        moved
            .source_rows
            .iter()
            .enumerate()
            .all(|(k, &i)| order[i] as usize == k),
        "the same rows in the same order"
    );
    let mut options = AttributionOptions::default();
    if let liftos_causal::AttributionModel::CausalForest(p) = &mut options.attribution_model {
        *p = p.clone().with_num_trees(300);
    }
    let a = analyze_attribution(&panel, &options)
        .unwrap()
        .results
        .remove(0);
    let b = analyze_attribution(&moved, &options)
        .unwrap()
        .results
        .remove(0);
    assert_eq!(a.channels, b.channels, "identical channel results");
    assert_eq!(a.diagnostics, b.diagnostics);
    assert_eq!(a.temporal, b.temporal);
    // Row k of the shuffled input is row order[k] of the original.
    assert_eq!(b.treatment_effects.len(), n);
    for (k, &i) in order.iter().enumerate() {
        assert_eq!(
            b.treatment_effects[k], a.treatment_effects[i as usize],
            "row {k}"
        );
    }
    let (ia, ib) = (a.row_index.unwrap(), b.row_index.unwrap());
    for (k, &i) in order.iter().enumerate() {
        let i = i as usize;
        assert_eq!(
            (ib.date[k], &ib.entity[k], ib.treatment[k]),
            (ia.date[i], &ia.entity[i], ia.treatment[i])
        );
    }
}
