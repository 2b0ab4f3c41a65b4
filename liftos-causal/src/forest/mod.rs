//! Honest random forests after grf: a [`RegressionForest`] for nuisance functions and a
//! [`CausalForest`] for heterogeneous treatment effects with valid confidence intervals.
//!
//! Trees are stored as flat arrays (see the crate docs for memory figures); they are
//! grown in parallel with rayon, and each tree's randomness is derived from
//! `(seed, tree index)` alone, so results are identical for any number of threads.

mod causal;
mod regression;
pub(crate) mod tree;

pub use causal::{
    CatePrediction, CausalForest, CausalForestParams, FittedCausalForest, TreatmentKind,
};
pub(crate) use regression::OobSmoother;
pub use regression::{ForestParams, MAX_TREES, RegressionForest};

use rayon::prelude::*;
use tree::{Columns, Target, Tree, TreeParams, Units, draw_units, grow_tree};

/// Grows `num_trees` trees in parallel; tree `b` depends only on `(seed, forest_id, b)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn grow_forest(
    x: &Columns,
    sorted: &[Vec<u32>],
    units: &Units,
    target: Target<'_>,
    weights: Option<&[f64]>,
    tree_params: &TreeParams,
    num_trees: usize,
    sample_fraction: f64,
    ci_group_size: usize,
    seed: u64,
    forest_id: u64,
) -> Vec<Tree> {
    (0..num_trees)
        .into_par_iter()
        .map(|b| {
            let (drawn, mut rng) = draw_units(
                seed,
                forest_id,
                b,
                units.num_units(),
                sample_fraction,
                ci_group_size,
            );
            grow_tree(
                x,
                sorted,
                units,
                target,
                weights,
                tree_params,
                drawn,
                &mut rng,
            )
        })
        .collect()
}

/// Rows per prediction chunk: trees are visited tree-outer, row-inner inside a chunk so
/// a tree stays in cache; each row still sums its trees in index order (deterministic).
pub(crate) const CHUNK: usize = 256;

/// The default `mtry` of grf: `min(ceil(sqrt(p) + 20), p)`.
pub fn default_mtry(p: usize) -> usize {
    (((p as f64).sqrt() + 20.0).ceil() as usize).min(p)
}
