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
/// | `num_trees` | 2000 | trees in the forest | 1 to [`MAX_TREES`] |
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

/// Most trees a forest may grow: grf's default is 2,000 and its variance estimates settle
/// by 10,000; the cap keeps a typo (`--trees 1000000000`) from asking for memory without
/// limit (each tree is kept).
pub const MAX_TREES: usize = 100_000;

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
    liftos_core::setters! {
        /// Sets `num_trees`.
        with_num_trees(num_trees: usize);
        /// Sets `sample_fraction`.
        with_sample_fraction(v: f64) => self.sample_fraction = v;
        /// Sets `min_node_size`.
        with_min_node_size(v: usize) => self.min_node_size = v;
        /// Sets `mtry`.
        with_mtry(v: usize) => self.mtry = Some(v);
        /// Sets the seed.
        with_seed(seed: u64);
    }

    /// Checks every field; returns the first problem found.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_TREES).contains(&self.num_trees) {
            return Err(Error::param(
                "num_trees",
                self.num_trees,
                format!("from 1 to {MAX_TREES}"),
            ));
        }
        if !(self.sample_fraction > 0.0 && self.sample_fraction <= 1.0) {
            return Err(Error::param(
                "sample_fraction",
                self.sample_fraction,
                "a value in (0, 1]",
            ));
        }
        if !(self.honesty_fraction > 0.0 && self.honesty_fraction < 1.0) {
            return Err(Error::param(
                "honesty_fraction",
                self.honesty_fraction,
                "a value in (0, 1)",
            ));
        }
        if self.min_node_size == 0 {
            return Err(Error::param(
                "min_node_size",
                self.min_node_size,
                "at least 1",
            ));
        }
        if !(0.0..=0.25).contains(&self.alpha) {
            return Err(Error::param("alpha", self.alpha, "a value in [0, 0.25]"));
        }
        if self.mtry == Some(0) {
            return Err(Error::param(
                "mtry",
                0,
                "at least 1 (or None for the default)",
            ));
        }
        Ok(())
    }

    /// The tree parameters for `p` covariates (`mtry` resolved and checked against `p`).
    pub(crate) fn tree_params(&self, p: usize) -> Result<TreeParams> {
        let mtry = match self.mtry {
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
            min_node_size: self.min_node_size,
            alpha: self.alpha,
            mtry,
            honesty: self.honesty,
            honesty_fraction: self.honesty_fraction,
        })
    }
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
                    if let Some(leaf) = tree.oob_leaf(x, base + k, oob_units) {
                        *slot += tree.stats(leaf)[0];
                        count[k] += 1;
                    }
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

/// Out-of-bag forest weights as a linear smoother: row `i`'s prediction of any target is
/// `Σ_j α_ij v_j`, with `α_ij` the normalised out-of-bag neighbourhood weights of a
/// regression forest (each tree that did not draw `i` gives `1/|leaf|` to the rows of its
/// subsample sharing `i`'s leaf, both honesty halves). Growing the trees once and applying
/// the weights to many targets costs one sparse product per target instead of a forest
/// per target (the response search residualises hundreds of candidate transforms).
#[derive(Debug, Clone)]
pub(crate) struct OobSmoother {
    offsets: Vec<usize>,
    cols: Vec<u32>,
    vals: Vec<f64>,
}

impl OobSmoother {
    /// Grows `params.num_trees` honest trees of `target` on the columns `x` (rows as
    /// sampling units) and keeps their out-of-bag weights. Rows without an out-of-bag tree
    /// (only with very few trees) are smoothed by the mean of all rows.
    pub(crate) fn fit(
        x: &[&[f64]],
        target: &[f64],
        params: &ForestParams,
        local_linear: Option<f64>,
    ) -> Result<Self> {
        params.validate()?;
        let n = target.len();
        check_covariates(x.len(), n, x)?;
        let cols = Columns::from_columns(x);
        let vars: Vec<(usize, f64)> = (0..x.len())
            .filter_map(|j| {
                let mean = x[j].iter().sum::<f64>() / n.max(1) as f64;
                let var = x[j].iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n.max(1) as f64;
                (var > 0.0).then(|| (j, var.sqrt()))
            })
            .collect();
        let sorted = cols.sorted_orders();
        let units = Units::new(n, None);
        let tp = params.tree_params(x.len())?;
        check_units(units.num_units(), params.sample_fraction, 1, false)?;
        let trees = grow_forest(
            &cols,
            &sorted,
            &units,
            Target::Mean { y: target },
            None,
            &tp,
            params.num_trees,
            params.sample_fraction,
            1,
            params.seed,
            7,
        );
        let members: Vec<LeafRows> = trees
            .par_iter()
            .map(|t| leaf_rows(t, &cols, &units))
            .collect();
        let per_row: Vec<Vec<(u32, f64)>> = (0..n)
            .into_par_iter()
            .map_init(
                || (vec![0.0f64; n], Vec::<u32>::new()),
                |(acc, touched), i| {
                    oob_neighbourhood(&trees, &members, &cols, &units, i, acc, touched);
                    let total: f64 = touched.iter().map(|&r| acc[r as usize]).sum();
                    touched.sort_unstable();
                    let mut out: Vec<(u32, f64)> = touched
                        .iter()
                        .map(|&r| {
                            let a = acc[r as usize] / total;
                            acc[r as usize] = 0.0;
                            (r, a)
                        })
                        .collect();
                    if let Some(lambda) = local_linear {
                        local_linear_weights(&mut out, &cols, i, &vars, lambda);
                    }
                    out
                },
            )
            .collect();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        let nnz: usize = per_row.iter().map(Vec::len).sum();
        let mut cols_out = Vec::with_capacity(nnz);
        let mut vals = Vec::with_capacity(nnz);
        for row in per_row {
            for (c, v) in row {
                cols_out.push(c);
                vals.push(v);
            }
            offsets.push(cols_out.len());
        }
        Ok(OobSmoother {
            offsets,
            cols: cols_out,
            vals,
        })
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The out-of-bag smoothed values of `v` (of the fitted rows' length).
    pub(crate) fn apply(&self, v: &[f64]) -> Vec<f64> {
        let n = self.len();
        let mean = v.iter().sum::<f64>() / n.max(1) as f64;
        (0..n)
            .map(|i| {
                let (a, b) = (self.offsets[i], self.offsets[i + 1]);
                if a == b {
                    return mean;
                }
                self.cols[a..b]
                    .iter()
                    .zip(&self.vals[a..b])
                    .map(|(&c, &w)| w * v[c as usize])
                    .sum()
            })
            .collect()
    }
}

/// Turns a row's neighbourhood weights `α` (summing to 1) into the weights of the local
/// linear prediction at row `i`: the intercept of the ridge-penalised weighted
/// regression on the standardised differences `(x_m − x_i)/sd` is `Σ_m ω_m v_m` with
/// `ω_m = α_m·d_mᵀ z`, `z = M⁻¹ e₁`, `M = Σ α_m d_m d_mᵀ + λ·diag(0, 1, …, 1)`; unchanged
/// where `M` is singular.
fn local_linear_weights(
    out: &mut [(u32, f64)],
    cols: &Columns,
    i: usize,
    vars: &[(usize, f64)],
    lambda: f64,
) {
    let k = vars.len() + 1;
    let mut m = vec![0.0; k * k];
    let mut d = vec![0.0; k];
    let diff = |r: usize, d: &mut [f64]| {
        d[0] = 1.0;
        for (q, &(j, s)) in vars.iter().enumerate() {
            d[q + 1] = (cols.get(r, j) - cols.get(i, j)) / s;
        }
    };
    for &(r, a) in out.iter() {
        diff(r as usize, &mut d);
        for p in 0..k {
            for q in 0..=p {
                m[p * k + q] += a * d[p] * d[q];
            }
        }
    }
    for p in 0..k {
        for q in 0..p {
            m[q * k + p] = m[p * k + q];
        }
    }
    for p in 1..k {
        m[p * k + p] += lambda;
    }
    let mut z = vec![0.0; k];
    z[0] = 1.0;
    if solve_in_place(&mut m, &mut z, k).is_none() {
        return;
    }
    for (r, a) in out.iter_mut() {
        diff(*r as usize, &mut d);
        *a *= d.iter().zip(&z).map(|(x, y)| x * y).sum::<f64>();
    }
}

/// Solves the symmetric positive definite system `m x = v` (row-major k×k) by Cholesky,
/// leaving `x` in `v`; `None` when `m` is not positive definite.
fn solve_in_place(m: &mut [f64], v: &mut [f64], k: usize) -> Option<()> {
    for j in 0..k {
        let mut diag = m[j * k + j];
        for p in 0..j {
            diag -= m[j * k + p] * m[j * k + p];
        }
        if diag.is_nan() || diag <= 1e-12 {
            return None;
        }
        let l = diag.sqrt();
        m[j * k + j] = l;
        for r in j + 1..k {
            let mut s = m[r * k + j];
            for p in 0..j {
                s -= m[r * k + p] * m[j * k + p];
            }
            m[r * k + j] = s / l;
        }
    }
    for r in 0..k {
        let mut s = v[r];
        for p in 0..r {
            s -= m[r * k + p] * v[p];
        }
        v[r] = s / m[r * k + r];
    }
    for r in (0..k).rev() {
        let mut s = v[r];
        for p in r + 1..k {
            s -= m[p * k + r] * v[p];
        }
        v[r] = s / m[r * k + r];
    }
    Some(())
}

/// Row `i`'s out-of-bag neighbourhood weights: each tree that did not draw `i`'s unit
/// adds `1/|leaf|` to `acc[r]` for every row `r` of its subsample in `i`'s leaf; `touched`
/// lists the rows given a weight (in first-touch order). `acc` must be zero on entry for
/// every row; the caller resets the touched entries.
fn oob_neighbourhood(
    trees: &[Tree],
    members: &[LeafRows],
    x: &Columns,
    units: &Units,
    i: usize,
    acc: &mut [f64],
    touched: &mut Vec<u32>,
) {
    touched.clear();
    for (tree, lr) in trees.iter().zip(members) {
        let Some(leaf) = tree.oob_leaf(x, i, Some(&units.unit_of_row)) else {
            continue;
        };
        let (a, b) = (lr.offsets[leaf] as usize, lr.offsets[leaf + 1] as usize);
        if a == b {
            continue;
        }
        let share = 1.0 / (b - a) as f64;
        for &r in &lr.rows[a..b] {
            if acc[r as usize] == 0.0 {
                touched.push(r);
            }
            acc[r as usize] += share;
        }
    }
}

/// Rows of each leaf of one tree: every row of the tree's subsample (both honesty halves),
/// as compressed lists indexed by leaf slot.
struct LeafRows {
    offsets: Vec<u32>,
    rows: Vec<u32>,
}

fn leaf_rows(tree: &Tree, x: &Columns, units: &Units) -> LeafRows {
    let mut slot_row: Vec<(u32, u32)> = Vec::new();
    for u in 0..units.num_units() as u32 {
        if tree.contains_unit(u) {
            for &r in units.rows(u) {
                let slot = tree.leaf_slot(|j| x.get(r as usize, j));
                slot_row.push((slot as u32, r));
            }
        }
    }
    let leaves = tree.num_leaves();
    let mut offsets = vec![0u32; leaves + 1];
    for &(s, _) in &slot_row {
        offsets[s as usize + 1] += 1;
    }
    for k in 0..leaves {
        offsets[k + 1] += offsets[k];
    }
    let mut fill = offsets.clone();
    let mut rows = vec![0u32; slot_row.len()];
    for &(s, r) in &slot_row {
        rows[fill[s as usize] as usize] = r;
        fill[s as usize] += 1;
    }
    LeafRows { offsets, rows }
}

/// Out-of-bag local linear predictions (local linear forests, Friedberg et al. 2020):
/// for each row, the forest's out-of-bag neighbourhood weights α_m (each tree whose
/// subsample leaves the row out gives 1/|leaf| to the rows sharing its leaf) define a
/// ridge-penalised weighted regression of `y` on the standardised differences
/// `(x_m − x_i)/sd` of the columns `vars`; its intercept is the prediction. The linear
/// term removes the smoothing bias of a plain forest where the target moves steeply with
/// a covariate inside a leaf (a holiday spike shared by spend and revenue). Neighbours
/// are every row of a tree's subsample in the leaf (both honesty halves). The weights are
/// normalised to sum to 1 and `lambda` is added to the slopes' diagonal (not grf's
/// trace-scaled penalty); sample weights multiply the neighbourhood weights. Rows with no out-of-bag tree get NaN; where the
/// local system is singular the prediction is the weighted neighbourhood mean.
pub(crate) fn predict_local_linear(
    trees: &[Tree],
    x: &Columns,
    units: &Units,
    y: &[f64],
    weights: Option<&[f64]>,
    vars: &[usize],
    lambda: f64,
) -> Vec<f64> {
    let n = x.n;
    let members: Vec<LeafRows> = trees.par_iter().map(|t| leaf_rows(t, x, units)).collect();
    let sd: Vec<f64> = vars
        .iter()
        .map(|&j| {
            let mean = (0..n).map(|i| x.get(i, j)).sum::<f64>() / n as f64;
            let var = (0..n).map(|i| (x.get(i, j) - mean).powi(2)).sum::<f64>() / n as f64;
            var.sqrt()
        })
        .collect();
    let vars: Vec<(usize, f64)> = vars
        .iter()
        .zip(&sd)
        .filter(|(_, s)| **s > 0.0)
        .map(|(&j, &s)| (j, s))
        .collect();
    let k = vars.len() + 1;
    let mut out = vec![0.0; n];
    // Scratch (a dense weight per row, reset after each use) is made once per rayon job,
    // not per chunk: zeroing n floats per chunk would cost O(n²/CHUNK).
    let scratch = || {
        (
            vec![0.0f64; n],
            Vec::<u32>::new(),
            vec![0.0f64; k * k],
            vec![0.0f64; k],
            vec![0.0f64; k],
        )
    };
    out.par_chunks_mut(CHUNK).enumerate().for_each_init(
        scratch,
        |(acc, touched, m, v, d), (c, chunk)| {
            let base = c * CHUNK;
            for (off, slot_out) in chunk.iter_mut().enumerate() {
                let i = base + off;
                oob_neighbourhood(trees, &members, x, units, i, acc, touched);
                if touched.is_empty() {
                    *slot_out = f64::NAN;
                    continue;
                }
                m.iter_mut().for_each(|e| *e = 0.0);
                v.iter_mut().for_each(|e| *e = 0.0);
                let mut total = 0.0;
                for &r in touched.iter() {
                    let r = r as usize;
                    let a = acc[r] * weights.map_or(1.0, |wt| wt[r]);
                    acc[r] = 0.0;
                    total += a;
                    d[0] = 1.0;
                    for (q, &(j, s)) in vars.iter().enumerate() {
                        d[q + 1] = (x.get(r, j) - x.get(i, j)) / s;
                    }
                    for p in 0..k {
                        let ap = a * d[p];
                        v[p] += ap * y[r];
                        for q in 0..=p {
                            m[p * k + q] += ap * d[q];
                        }
                    }
                }
                if total.is_nan() || total <= 0.0 {
                    *slot_out = f64::NAN;
                    continue;
                }
                for p in 0..k {
                    v[p] /= total;
                    for q in 0..=p {
                        m[p * k + q] /= total;
                        m[q * k + p] = m[p * k + q];
                    }
                }
                let mean = v[0];
                for p in 1..k {
                    m[p * k + p] += lambda;
                }
                *slot_out = solve_intercept(m, v, k).unwrap_or(mean);
            }
        },
    );
    out
}

/// Solves the symmetric positive definite system `m β = v` (row-major k×k) in place by
/// Cholesky and returns β₀; `None` when the matrix is not positive definite.
fn solve_intercept(m: &mut [f64], v: &mut [f64], k: usize) -> Option<f64> {
    solve_in_place(m, v, k)?;
    v[0].is_finite().then_some(v[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn cholesky_solves_a_known_system() {
        // [[4, 2], [2, 3]] β = [10, 8]  →  β = [1.75, 1.5].
        let mut m = vec![4.0, 2.0, 2.0, 3.0];
        let mut v = vec![10.0, 8.0];
        let b0 = solve_intercept(&mut m, &mut v, 2).unwrap();
        assert!((b0 - 1.75).abs() < 1e-12, "{b0}");
        let mut singular = vec![1.0, 1.0, 1.0, 1.0];
        assert!(solve_intercept(&mut singular, &mut [1.0, 1.0], 2).is_none());
    }

    /// A rare spike shared across the range of a smooth covariate (a holiday in a
    /// season): y = (1 + 1.5·h)(1 + 4·x₁) + noise with h ~ Bernoulli(0.04). Trees rarely
    /// isolate the few spike rows in every region, so a forest average under-predicts
    /// them; the local linear correction (h is one of its covariates) recovers the
    /// shift.
    #[test]
    fn local_linear_removes_the_bias_on_rare_spikes() {
        let n = 3000;
        let mut rng = super::super::tree::rng_for(5, 0);
        let x1: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let x2: Vec<f64> = (0..n)
            .map(|_| f64::from(u8::from(rng.random::<f64>() < 0.04)))
            .collect();
        let truth: Vec<f64> = x1
            .iter()
            .zip(&x2)
            .map(|(a, h)| (1.0 + 1.5 * h) * (1.0 + 4.0 * a))
            .collect();
        let y: Vec<f64> = truth
            .iter()
            .map(|t| t + (rng.random::<f64>() - 0.5))
            .collect();
        let x = Columns::from_columns(&[x1.as_slice(), x2.as_slice()]);
        let sorted = x.sorted_orders();
        let units = Units::new(n, None);
        let tp = ForestParams::default().tree_params(2).unwrap();
        let trees = grow_forest(
            &x,
            &sorted,
            &units,
            Target::Mean { y: &y },
            None,
            &tp,
            200,
            0.5,
            1,
            7,
            1,
        );
        let spikes: Vec<usize> = (0..n).filter(|&i| x2[i] == 1.0).collect();
        let rmse = |pred: &[f64]| {
            (spikes
                .iter()
                .map(|&i| (pred[i] - truth[i]).powi(2))
                .sum::<f64>()
                / spikes.len() as f64)
                .sqrt()
        };
        let plain = predict_mean(&trees, &x, Some(&units.unit_of_row));
        let ll = predict_local_linear(&trees, &x, &units, &y, None, &[0, 1], 0.1);
        assert!(ll.iter().all(|v| v.is_finite()));
        let (rp, rl) = (rmse(&plain), rmse(&ll));
        eprintln!("spike rows: plain {rp:.3}, local linear {rl:.3}");
        assert!(
            rl < 0.4 && rl < 0.5 * rp,
            "plain {rp:.3}, local linear {rl:.3}"
        );
        // Sample weights are used: weighting the upper half of x₁ three times changes
        // the predictions, and they stay accurate on the spikes.
        let weights: Vec<f64> = x1
            .iter()
            .map(|a| if *a > 0.5 { 3.0 } else { 1.0 })
            .collect();
        let weighted = predict_local_linear(&trees, &x, &units, &y, Some(&weights), &[0, 1], 0.1);
        let changed = weighted.iter().zip(&ll).filter(|(a, b)| a != b).count();
        assert!(changed > n / 4, "{changed} of {n} predictions changed");
        assert!(rmse(&weighted) < 0.4, "weighted {:.3}", rmse(&weighted));
    }
}
