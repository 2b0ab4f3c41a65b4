//! The honest regression forest used for the nuisance functions `E[Y|X]`, `E[W|X]` and
//! `Var(W|X)`.

use rayon::prelude::*;

use super::tree::{Columns, Target, Tree, TreeParams, Units, units_per_tree};
use super::{CHUNK, default_mtry, grow_forest};
use crate::{Error, Result};

/// Parameters of a [`RegressionForest`] (grf's `regression_forest` defaults).
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `num_trees` | 2000 | trees in the forest | ≥ 1 |
/// | `sample_fraction` | 0.5 | share of clusters (rows) each tree draws | (0, 1] |
/// | `honesty` | true | split on one half of the draw, fill leaves with the other | |
/// | `honesty_fraction` | 0.5 | share of the draw used to choose splits | (0, 1) |
/// | `min_node_size` | 5 | a node with at most this many rows is a leaf | ≥ 1 |
/// | `alpha` | 0.05 | minimum share of a node's rows in each child | [0, 0.25] |
/// | `mtry` | `None` = min(⌈√p + 20⌉, p) | variables tried per split | 1..=p |
/// | `seed` | 42 | seed of all randomness | any |
#[derive(Debug, Clone, PartialEq)]
pub struct ForestParams {
    /// Trees in the forest.
    pub num_trees: usize,
    /// Share of sampling units (clusters, or rows) each tree draws without replacement.
    pub sample_fraction: f64,
    /// Whether trees are honest.
    pub honesty: bool,
    /// Share of each tree's draw used to choose splits (the rest fills the leaves).
    pub honesty_fraction: f64,
    /// A node with at most this many rows is not split.
    pub min_node_size: usize,
    /// Minimum share of a node's rows in each child.
    pub alpha: f64,
    /// Variables tried at each split; `None` for grf's default.
    pub mtry: Option<usize>,
    /// Seed of all randomness.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            num_trees: 2000,
            sample_fraction: 0.5,
            honesty: true,
            honesty_fraction: 0.5,
            min_node_size: 5,
            alpha: 0.05,
            mtry: None,
            seed: 42,
        }
    }
}

impl ForestParams {
    /// Sets `num_trees`.
    pub fn with_num_trees(mut self, num_trees: usize) -> Self {
        self.num_trees = num_trees;
        self
    }
    /// Sets `sample_fraction`.
    pub fn with_sample_fraction(mut self, v: f64) -> Self {
        self.sample_fraction = v;
        self
    }
    /// Sets `min_node_size`.
    pub fn with_min_node_size(mut self, v: usize) -> Self {
        self.min_node_size = v;
        self
    }
    /// Sets `mtry`.
    pub fn with_mtry(mut self, v: usize) -> Self {
        self.mtry = Some(v);
        self
    }
    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks every field; returns the first problem found.
    pub fn validate(&self) -> Result<()> {
        validate_common(
            self.num_trees,
            self.sample_fraction,
            self.honesty_fraction,
            self.min_node_size,
            self.alpha,
            self.mtry,
        )?;
        Ok(())
    }

    pub(crate) fn tree_params(&self, p: usize) -> Result<TreeParams> {
        tree_params(
            self.mtry,
            p,
            self.min_node_size,
            self.alpha,
            self.honesty,
            self.honesty_fraction,
        )
    }
}

pub(crate) fn validate_common(
    num_trees: usize,
    sample_fraction: f64,
    honesty_fraction: f64,
    min_node_size: usize,
    alpha: f64,
    mtry: Option<usize>,
) -> Result<()> {
    if num_trees == 0 {
        return Err(Error::param("num_trees", num_trees, "at least 1"));
    }
    if !(sample_fraction > 0.0 && sample_fraction <= 1.0) {
        return Err(Error::param(
            "sample_fraction",
            sample_fraction,
            "a value in (0, 1]",
        ));
    }
    if !(honesty_fraction > 0.0 && honesty_fraction < 1.0) {
        return Err(Error::param(
            "honesty_fraction",
            honesty_fraction,
            "a value in (0, 1)",
        ));
    }
    if min_node_size == 0 {
        return Err(Error::param("min_node_size", min_node_size, "at least 1"));
    }
    if !(0.0..=0.25).contains(&alpha) {
        return Err(Error::param("alpha", alpha, "a value in [0, 0.25]"));
    }
    if mtry == Some(0) {
        return Err(Error::param(
            "mtry",
            0,
            "at least 1 (or None for the default)",
        ));
    }
    Ok(())
}

pub(crate) fn tree_params(
    mtry: Option<usize>,
    p: usize,
    min_node_size: usize,
    alpha: f64,
    honesty: bool,
    honesty_fraction: f64,
) -> Result<TreeParams> {
    let mtry = match mtry {
        None => default_mtry(p),
        Some(m) if m <= p => m,
        Some(m) => {
            return Err(Error::param(
                "mtry",
                m,
                format!("at most the number of covariates ({p})"),
            ));
        }
    };
    Ok(TreeParams {
        min_node_size,
        alpha,
        mtry,
        honesty,
        honesty_fraction,
    })
}

/// Checks that each tree gets at least two sampling units (one per honesty half).
pub(crate) fn check_units(
    num_units: usize,
    sample_fraction: f64,
    ci_group_size: usize,
    clustered: bool,
) -> Result<()> {
    let per_tree = units_per_tree(num_units, sample_fraction, ci_group_size);
    if per_tree < 2 {
        let what = if clustered {
            "clusters drawn per tree"
        } else {
            "rows drawn per tree"
        };
        return Err(Error::TooLittleData {
            what: what.into(),
            found: per_tree,
            needed: 2,
        });
    }
    Ok(())
}

pub(crate) fn check_covariates(p: usize, n: usize, columns: &[&[f64]]) -> Result<()> {
    if p == 0 {
        return Err(Error::TooLittleData {
            what: "covariates".into(),
            found: 0,
            needed: 1,
        });
    }
    for (j, c) in columns.iter().enumerate() {
        if c.len() != n {
            return Err(Error::LengthMismatch {
                column: format!("covariate {j}"),
                expected: n,
                found: c.len(),
            });
        }
        if let Some(row) = c.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                column: format!("covariate {j}"),
                row,
                value: c[row],
            });
        }
    }
    Ok(())
}

/// An honest regression forest estimating `E[Y | X = x]`, with out-of-bag predictions
/// for its training rows (a row's prediction uses only trees that did not draw its
/// cluster).
///
/// ```
/// use liftos_causal::forest::{ForestParams, RegressionForest};
/// let x: Vec<f64> = (0..400).map(|i| i as f64 / 400.0).collect();
/// let y: Vec<f64> = x.iter().map(|v| if *v > 0.5 { 1.0 } else { 0.0 }).collect();
/// let forest = RegressionForest::fit(&[&x], &y, None, &ForestParams::default().with_num_trees(100))?;
/// let pred = forest.predict(&[&[0.1, 0.9]])?;
/// assert!(pred[0] < 0.2 && pred[1] > 0.8);
/// assert_eq!(forest.oob_predictions().len(), 400);
/// # Ok::<(), liftos_causal::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RegressionForest {
    trees: Vec<Tree>,
    num_features: usize,
    oob: Vec<f64>,
}

impl RegressionForest {
    /// Fits the forest on covariate columns `x` (all of `y`'s length) and outcome `y`;
    /// `clusters` (any ids) makes subsampling and out-of-bag prediction cluster-aware.
    pub fn fit(
        x: &[&[f64]],
        y: &[f64],
        clusters: Option<&[u32]>,
        params: &ForestParams,
    ) -> Result<Self> {
        params.validate()?;
        let n = y.len();
        check_covariates(x.len(), n, x)?;
        if let Some(row) = y.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                column: "y".into(),
                row,
                value: y[row],
            });
        }
        let codes = match clusters {
            Some(c) => {
                if c.len() != n {
                    return Err(Error::LengthMismatch {
                        column: "clusters".into(),
                        expected: n,
                        found: c.len(),
                    });
                }
                Some(dense_codes(c))
            }
            None => None,
        };
        let cols = Columns::from_columns(x);
        let sorted = cols.sorted_orders();
        let units = Units::new(n, codes.as_deref());
        let tp = params.tree_params(x.len())?;
        check_units(
            units.num_units(),
            params.sample_fraction,
            1,
            codes.is_some(),
        )?;
        let trees = grow_forest(
            &cols,
            &sorted,
            &units,
            Target::Mean { y },
            None,
            &tp,
            params.num_trees,
            params.sample_fraction,
            1,
            params.seed,
            0,
        );
        let oob = predict_mean(&trees, &cols, Some(&units.unit_of_row));
        Ok(RegressionForest {
            trees,
            num_features: x.len(),
            oob,
        })
    }

    /// Out-of-bag predictions for the training rows (NaN for a row every tree drew,
    /// which needs very few trees).
    pub fn oob_predictions(&self) -> &[f64] {
        &self.oob
    }

    /// Predictions at new points, given as covariate columns in training order.
    pub fn predict(&self, x: &[&[f64]]) -> Result<Vec<f64>> {
        if x.len() != self.num_features {
            return Err(Error::LengthMismatch {
                column: "covariates".into(),
                expected: self.num_features,
                found: x.len(),
            });
        }
        let n = x.first().map_or(0, |c| c.len());
        check_covariates(x.len(), n, x)?;
        Ok(predict_mean(&self.trees, &Columns::from_columns(x), None))
    }

    /// Heap bytes held by the trees.
    pub fn memory_bytes(&self) -> usize {
        self.trees.iter().map(Tree::memory_bytes).sum()
    }
}

/// Maps arbitrary ids to dense codes `0..k` in order of first appearance.
pub(crate) fn dense_codes(ids: &[u32]) -> Vec<u32> {
    let mut map = std::collections::HashMap::new();
    ids.iter()
        .map(|id| {
            let next = map.len() as u32;
            *map.entry(*id).or_insert(next)
        })
        .collect()
}

/// Mean of leaf means over the trees (out-of-bag trees only when `oob_units` is given).
pub(crate) fn predict_mean(trees: &[Tree], x: &Columns, oob_units: Option<&[u32]>) -> Vec<f64> {
    let n = x.n;
    let mut out = vec![0.0; n];
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let base = c * CHUNK;
            let mut count = vec![0usize; chunk.len()];
            for tree in trees {
                for (k, slot) in chunk.iter_mut().enumerate() {
                    let i = base + k;
                    if let Some(u) = oob_units
                        && tree.contains_unit(u[i])
                    {
                        continue;
                    }
                    let leaf = tree.leaf_slot(|j| x.get(i, j));
                    *slot += tree.stats(leaf)[0];
                    count[k] += 1;
                }
            }
            for (k, slot) in chunk.iter_mut().enumerate() {
                *slot = if count[k] > 0 {
                    *slot / count[k] as f64
                } else {
                    f64::NAN
                };
            }
        });
    out
}
