//! Inference on doubly robust scores: weighted averages, lifts (totals) and their
//! ratio to the treatment total, calibration test and best linear projection, all with
//! cluster-robust standard errors. Averages and lifts correct each cluster's squared sum
//! for the weight it carries and take Bell–McCaffrey degrees of freedom (`C − 1` for
//! equal clusters, fewer for a few unequal ones; see `small_sample_variance`); the
//! regressions use CR1 with t(C − 1).

use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::{Error, Result};

/// An average effect over a weighted set of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct AverageEffect {
    /// The weighted mean of the doubly robust scores.
    pub estimate: f64,
    /// Its cluster-robust standard error.
    pub std_err: f64,
    /// Lower end of the interval at `confidence_level`.
    pub ci_lower: f64,
    /// Upper end of the interval at `confidence_level`.
    pub ci_upper: f64,
    /// Two-sided p-value of "the effect is zero".
    pub p_value: f64,
    /// The interval's level.
    pub confidence_level: f64,
    /// Rows with positive weight.
    pub rows: usize,
    /// Clusters with a row of positive weight.
    pub clusters: usize,
    /// Degrees of freedom of the t distribution used (Bell–McCaffrey: clusters − 1 for
    /// equal clusters, fewer when a few carry most of the weight).
    pub df: f64,
}

/// The outcome caused by the treatment over a weighted set of rows, and its ratio to the
/// treatment total.
///
/// The estimand is the lift `L = Σ aᵢ τ(xᵢ) Wᵢ` (for spend: revenue caused by the spend)
/// and the incremental return `R = L / S` with `S = Σ aᵢ Wᵢ` (incremental ROAS).
/// Estimator: the doubly robust score of `τ(X)·E[W|X]` is
/// `φᵢ = Ŵᵢ Γᵢ + τ̂ᵢ (Wᵢ − Ŵᵢ)` (it stays unbiased when either τ̂ or Ŵ, V̂ are right,
/// unlike `Wᵢ Γᵢ`, which is biased for skewed treatments), so `R̂ = Σ aᵢ φᵢ / S` and
/// `L̂ = R̂ · S`. Standard errors linearize the ratio, `(aᵢ(φᵢ − R̂ Wᵢ))/S` summed by
/// cluster, so they treat the subset's total treatment `S` as given: the lift interval is
/// `S` times the return interval.
#[derive(Debug, Clone, PartialEq)]
pub struct LiftEffect {
    /// Treatment total `S = Σ aᵢ Wᵢ` (for spend: the spend).
    pub spend: f64,
    /// Estimated lift `L̂ = R̂ · S`.
    pub revenue_lift: f64,
    /// Standard error of the lift.
    pub std_err: f64,
    /// Lower end of the lift interval.
    pub ci_lower: f64,
    /// Upper end of the lift interval.
    pub ci_upper: f64,
    /// Two-sided p-value of "no lift".
    pub p_value: f64,
    /// Lift per unit of treatment `R̂ = L̂ / S`.
    pub incremental_roas: f64,
    /// Standard error of `R̂`.
    pub incremental_roas_std_err: f64,
    /// Lower end of the interval of `R̂`.
    pub incremental_roas_ci_lower: f64,
    /// Upper end of the interval of `R̂`.
    pub incremental_roas_ci_upper: f64,
    /// Treatment-weighted mean of τ̂: `Σ aᵢ Wᵢ τ̂ᵢ / S` (plug-in, no interval).
    pub marginal_roas: f64,
    /// The intervals' level.
    pub confidence_level: f64,
    /// Rows with positive weight.
    pub rows: usize,
    /// Clusters with a row of positive weight.
    pub clusters: usize,
    /// Degrees of freedom of the t distribution used (Bell–McCaffrey: clusters − 1 for
    /// equal clusters, fewer when a few carry most of the spend).
    pub df: f64,
}

/// One coefficient of a linear regression with cluster-robust inference.
#[derive(Debug, Clone, PartialEq)]
pub struct Coefficient {
    /// Regressor name.
    pub name: String,
    /// Estimate.
    pub estimate: f64,
    /// Cluster-robust standard error.
    pub std_err: f64,
    /// `estimate / std_err`.
    pub t_value: f64,
    /// p-value (two-sided, except in [`Calibration`], which is one-sided).
    pub p_value: f64,
    /// Lower end of the interval at the forest's confidence level.
    pub ci_lower: f64,
    /// Upper end of the interval.
    pub ci_upper: f64,
}

/// grf's `test_calibration` result. p-values are one-sided (H₀: coefficient ≤ 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Coefficient on the mean forest prediction (1 = the average effect is right).
    pub mean_forest_prediction: Coefficient,
    /// Coefficient on the differential prediction (1 = heterogeneity well calibrated;
    /// significantly > 0 = there is heterogeneity).
    pub differential_forest_prediction: Coefficient,
}

pub(crate) fn normal_quantile(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

pub(crate) fn check_level(level: f64) -> Result<()> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(Error::param("confidence_level", level, "a value in (0, 1)"))
    }
}

/// t(df) distribution; `None` when df is too small.
pub(crate) fn t_dist(df: f64) -> Result<StudentsT> {
    StudentsT::new(0.0, 1.0, df).map_err(|_| Error::TooLittleData {
        what: "clusters".into(),
        found: (df + 1.0) as usize,
        needed: 2,
    })
}

pub(crate) fn two_sided(t: &StudentsT, stat: f64) -> f64 {
    if stat.is_nan() {
        return f64::NAN;
    }
    (2.0 * t.sf(stat.abs())).min(1.0)
}

/// Clusters above which [`small_sample_variance`] falls back to CR1 with `C − 1` degrees
/// of freedom (its degrees of freedom cost `C²`; with this many clusters the two agree).
const MAX_SMALL_SAMPLE_CLUSTERS: usize = 4000;

/// Per cluster (rows with positive weight, cluster order): the sum of `infl`, of `share`
/// and of `work`.
fn cluster_stats(
    infl: &[f64],
    share: &[f64],
    work: &[f64],
    weights: &[f64],
    clusters: Option<&[u32]>,
) -> Vec<[f64; 3]> {
    let row = |i: usize| [infl[i], share[i], work[i]];
    match clusters {
        None => (0..infl.len())
            .filter(|&i| weights[i] > 0.0)
            .map(row)
            .collect(),
        Some(c) => {
            let mut sums: BTreeMap<u32, [f64; 3]> = BTreeMap::new();
            for i in (0..infl.len()).filter(|&i| weights[i] > 0.0) {
                let e = sums.entry(c[i]).or_insert([0.0; 3]);
                for (a, b) in e.iter_mut().zip(row(i)) {
                    *a += b;
                }
            }
            sums.into_values().collect()
        }
    }
}

/// The cluster-robust variance of an estimator whose influence sums by cluster are
/// `stats[c][0]` (summing to zero), with a small-sample correction and Bell–McCaffrey
/// degrees of freedom; returns `(variance, df)`.
///
/// `stats[c][1]` is the cluster's share of the estimator's denominator (`h_c`: its
/// weight for a mean, its treatment for a ratio; normalised here) and `stats[c][2]` its
/// variance under the working model of independent rows of equal variance (`v_c = Σ aᵢ²`).
/// Under that model a cluster's residual sum has variance
/// `v_c(1 − h_c)² + h_c²(V − v_c)`, not `v_c`: a cluster that carries most of the
/// estimate is mostly fitted by it, and CR1 underestimates the variance (Bell & McCaffrey
/// 2002; Pustejovsky & Tipton 2018 for CR2). Each squared sum is divided by its ratio to
/// `v_c`, and the degrees of freedom are Satterthwaite's for that quadratic form under the
/// working model: `C − 1` for equal clusters, fewer when a few carry most of the weight
/// (one campaign with 85% of the spend among four: about 1.4, not 3).
///
/// Above [`MAX_SMALL_SAMPLE_CLUSTERS`] clusters: CR1 with `C − 1`.
fn small_sample_variance(stats: &[[f64; 3]]) -> (f64, f64) {
    let c = stats.len();
    let cf = c as f64;
    let cr1 = || {
        (
            cf / (cf - 1.0) * stats.iter().map(|s| s[0] * s[0]).sum::<f64>(),
            cf - 1.0,
        )
    };
    let total_share: f64 = stats.iter().map(|s| s[1]).sum();
    let total_work: f64 = stats.iter().map(|s| s[2]).sum();
    let usable = (2..=MAX_SMALL_SAMPLE_CLUSTERS).contains(&c)
        && total_share.is_finite()
        && total_share != 0.0
        && total_work.is_finite()
        && total_work > 0.0
        && stats.iter().all(|s| s[2] > 0.0);
    if !usable {
        return cr1();
    }
    let h: Vec<f64> = stats.iter().map(|s| s[1] / total_share).collect();
    let v: Vec<f64> = stats.iter().map(|s| s[2] / total_work).collect();
    // B = M diag(v) Mᵀ with M = I − h·1ᵀ (residual sums from independent cluster noises).
    let b = |i: usize, j: usize| -> f64 {
        let d = if i == j { v[i] } else { 0.0 };
        d - h[j] * v[i] - h[i] * v[j] + h[i] * h[j]
    };
    let kappa: Vec<f64> = (0..c).map(|i| b(i, i) / v[i]).collect();
    if kappa.iter().any(|k| k.is_nan() || *k <= 1e-12) {
        return cr1();
    }
    let var: f64 = stats.iter().zip(&kappa).map(|(s, k)| s[0] * s[0] / k).sum();
    // Satterthwaite: E[V̂] ∝ tr(D B) = Σ v = 1, Var[V̂] ∝ 2 tr((D B)²).
    let mut tr2 = 0.0;
    for i in 0..c {
        for j in 0..c {
            let x = b(i, j);
            tr2 += x * x / (kappa[i] * kappa[j]);
        }
    }
    let df = (1.0 / tr2).clamp(1.0, cf - 1.0);
    // Equal clusters give C − 1 up to rounding; say so exactly.
    let df = if !df.is_finite() || cf - 1.0 - df < 1e-9 * cf {
        cf - 1.0
    } else {
        df
    };
    (var, df)
}

/// `Error::LengthMismatch` of `column` unless it has the `expected` length.
pub(crate) fn check_len(column: &str, expected: usize, found: usize) -> Result<()> {
    if found != expected {
        return Err(Error::LengthMismatch {
            column: column.into(),
            expected,
            found,
        });
    }
    Ok(())
}

/// An error naming the first row of the weights `v` (named `name`) that is negative or
/// not finite.
pub(crate) fn check_weights(name: &'static str, v: &[f64]) -> Result<()> {
    if let Some(row) = v.iter().position(|a| !a.is_finite() || *a < 0.0) {
        return Err(Error::param(
            name,
            format!("{} at row {row}", v[row]),
            "finite, non-negative",
        ));
    }
    Ok(())
}

fn check_inputs(n: usize, weights: &[f64], clusters: Option<&[u32]>) -> Result<usize> {
    check_len("weights", n, weights.len())?;
    if let Some(c) = clusters {
        check_len("clusters", n, c.len())?;
    }
    check_weights("weights", weights)?;
    Ok(weights.iter().filter(|a| **a > 0.0).count())
}

/// The weighted mean of `scores` with a cluster-robust standard error:
/// `θ̂ = Σ aᵢΓᵢ / Σ aᵢ`, `Var = Σ_c (Σ_{i∈c} aᵢ(Γᵢ − θ̂))² / (κ_c (Σ aᵢ)²)` with the
/// small-sample factors `κ_c` and the degrees of freedom of `small_sample_variance`
/// (for equal clusters CR1's `C/(C−1)` and t(C − 1)). `clusters = None` treats every row as its own cluster.
pub fn mean_effect(
    scores: &[f64],
    weights: &[f64],
    clusters: Option<&[u32]>,
    level: f64,
) -> Result<AverageEffect> {
    check_level(level)?;
    let rows = check_inputs(scores.len(), weights, clusters)?;
    let total: f64 = weights.iter().sum();
    if rows == 0 || total <= 0.0 {
        return Err(Error::TooLittleData {
            what: "rows in the subset".into(),
            found: 0,
            needed: 2,
        });
    }
    let est = scores.iter().zip(weights).map(|(g, a)| a * g).sum::<f64>() / total;
    let infl: Vec<f64> = scores
        .iter()
        .zip(weights)
        .map(|(g, a)| a * (g - est) / total)
        .collect();
    let t = ClusterTest::new(est, &infl, weights, weights, clusters, level)?;
    Ok(AverageEffect {
        estimate: est,
        std_err: t.std_err,
        ci_lower: est - t.crit * t.std_err,
        ci_upper: est + t.crit * t.std_err,
        p_value: t.p_value,
        confidence_level: level,
        rows,
        clusters: t.clusters,
        df: t.df,
    })
}

/// The cluster-robust t test of an estimate from its influence values (see
/// `cluster_stats` and `small_sample_variance`): at least two clusters, or
/// [`Error::TooLittleData`].
struct ClusterTest {
    std_err: f64,
    /// The t quantile of the two-sided interval at the level.
    crit: f64,
    p_value: f64,
    clusters: usize,
    df: f64,
}

impl ClusterTest {
    fn new(
        est: f64,
        infl: &[f64],
        share: &[f64],
        weights: &[f64],
        clusters: Option<&[u32]>,
        level: f64,
    ) -> Result<Self> {
        let squares: Vec<f64> = weights.iter().map(|a| a * a).collect();
        let stats = cluster_stats(infl, share, &squares, weights, clusters);
        let c = stats.len();
        Error::at_least(c, 2, || "clusters in the subset".into())?;
        let (var, df) = small_sample_variance(&stats);
        let se = var.sqrt();
        let t = t_dist(df)?;
        let crit = t.inverse_cdf(0.5 + level / 2.0);
        let p_value = if se > 0.0 {
            two_sided(&t, est / se)
        } else if est == 0.0 {
            1.0
        } else {
            0.0
        };
        Ok(Self {
            std_err: se,
            crit,
            p_value,
            clusters: c,
            df,
        })
    }
}

/// The lift and incremental return of a weighted subset; see [`LiftEffect`].
pub fn lift_effect(
    scores: &[f64],
    tau: &[f64],
    treatment: &[f64],
    w_hat: &[f64],
    weights: &[f64],
    clusters: &[u32],
    level: f64,
) -> Result<LiftEffect> {
    check_level(level)?;
    let n = scores.len();
    for (name, v) in [("tau", tau), ("treatment", treatment), ("w_hat", w_hat)] {
        check_len(name, n, v.len())?;
    }
    let rows = check_inputs(n, weights, Some(clusters))?;
    let spend: f64 = treatment.iter().zip(weights).map(|(w, a)| a * w).sum();
    if rows == 0 || spend == 0.0 {
        return Err(Error::NoVariation {
            what: "the subset's treatment (its total is zero)".into(),
        });
    }
    let phi: Vec<f64> = (0..n)
        .map(|i| w_hat[i] * scores[i] + tau[i] * (treatment[i] - w_hat[i]))
        .collect();
    let r = phi.iter().zip(weights).map(|(f, a)| a * f).sum::<f64>() / spend;
    let infl: Vec<f64> = (0..n)
        .map(|i| weights[i] * (phi[i] - r * treatment[i]) / spend)
        .collect();
    let share: Vec<f64> = treatment.iter().zip(weights).map(|(w, a)| a * w).collect();
    let t = ClusterTest::new(r, &infl, &share, weights, Some(clusters), level)?;
    let (se_r, crit) = (t.std_err, t.crit);
    let marginal = (0..n)
        .map(|i| weights[i] * treatment[i] * tau[i])
        .sum::<f64>()
        / spend;
    let (lo_r, hi_r) = (r - crit * se_r, r + crit * se_r);
    let (lo_l, hi_l) = if spend > 0.0 {
        (lo_r * spend, hi_r * spend)
    } else {
        (hi_r * spend, lo_r * spend)
    };
    Ok(LiftEffect {
        spend,
        revenue_lift: r * spend,
        std_err: se_r * spend.abs(),
        ci_lower: lo_l,
        ci_upper: hi_l,
        p_value: t.p_value,
        incremental_roas: r,
        incremental_roas_std_err: se_r,
        incremental_roas_ci_lower: lo_r,
        incremental_roas_ci_upper: hi_r,
        marginal_roas: marginal,
        confidence_level: level,
        rows,
        clusters: t.clusters,
        df: t.df,
    })
}

/// Weighted least squares of `y` on the columns `xs` with a CR1 cluster-robust covariance.
/// Returns (coefficients, covariance, clusters).
pub(crate) fn ols_cluster(
    y: &[f64],
    xs: &[Vec<f64>],
    weights: &[f64],
    clusters: &[u32],
    what: &'static str,
) -> Result<(DVector<f64>, DMatrix<f64>, usize)> {
    let n = y.len();
    let k = xs.len();
    let rows: Vec<usize> = (0..n).filter(|&i| weights[i] > 0.0).collect();
    let mut xtx = DMatrix::<f64>::zeros(k, k);
    let mut xty = DVector::<f64>::zeros(k);
    for &i in &rows {
        let a = weights[i];
        for p in 0..k {
            xty[p] += a * xs[p][i] * y[i];
            for q in 0..k {
                xtx[(p, q)] += a * xs[p][i] * xs[q][i];
            }
        }
    }
    let chol = xtx.clone().cholesky().ok_or(Error::Singular { what })?;
    // Near-zero pivots mean (numerically) collinear regressors.
    let l = chol.l();
    if (0..k).any(|p| l[(p, p)].is_nan() || l[(p, p)] <= 1e-8 * xtx[(p, p)].sqrt()) {
        return Err(Error::Singular { what });
    }
    let bread = chol.inverse();
    let beta = &bread * xty;
    let mut g: BTreeMap<u32, DVector<f64>> = BTreeMap::new();
    for &i in &rows {
        let e = y[i] - (0..k).map(|p| xs[p][i] * beta[p]).sum::<f64>();
        let gi = g.entry(clusters[i]).or_insert_with(|| DVector::zeros(k));
        for p in 0..k {
            gi[p] += weights[i] * xs[p][i] * e;
        }
    }
    let c = g.len();
    Error::at_least(c, 2, || format!("clusters for the {what}"))?;
    let mut meat = DMatrix::<f64>::zeros(k, k);
    for gc in g.values() {
        meat += gc * gc.transpose();
    }
    let cf = c as f64;
    let vcov = &bread * meat * &bread * (cf / (cf - 1.0));
    Ok((beta, vcov, c))
}

pub(crate) fn coefficients(
    names: &[String],
    beta: &DVector<f64>,
    vcov: &DMatrix<f64>,
    c: usize,
    level: f64,
    one_sided: bool,
) -> Result<Vec<Coefficient>> {
    let t = t_dist(c as f64 - 1.0)?;
    let crit = t.inverse_cdf(0.5 + level / 2.0);
    Ok(names
        .iter()
        .enumerate()
        .map(|(p, name)| {
            let se = vcov[(p, p)].max(0.0).sqrt();
            let tv = beta[p] / se;
            let p_value = if one_sided {
                t.sf(tv)
            } else {
                two_sided(&t, tv)
            };
            Coefficient {
                name: name.clone(),
                estimate: beta[p],
                std_err: se,
                t_value: tv,
                p_value,
                ci_lower: beta[p] - crit * se,
                ci_upper: beta[p] + crit * se,
            }
        })
        .collect())
}

/// grf's calibration regression of `y_res` on `τ̄·w_res` and `(τ̂ − τ̄)·w_res`.
pub(crate) fn test_calibration(
    y_res: &[f64],
    w_res: &[f64],
    tau: &[f64],
    weights: &[f64],
    clusters: &[u32],
    level: f64,
) -> Result<Calibration> {
    let total: f64 = weights.iter().sum();
    let tau_bar = tau.iter().zip(weights).map(|(t, a)| t * a).sum::<f64>() / total;
    let x1: Vec<f64> = w_res.iter().map(|w| tau_bar * w).collect();
    let x2: Vec<f64> = w_res
        .iter()
        .zip(tau)
        .map(|(w, t)| (t - tau_bar) * w)
        .collect();
    let (beta, vcov, c) = ols_cluster(y_res, &[x1, x2], weights, clusters, "calibration test")?;
    let names = [
        "mean.forest.prediction".to_string(),
        "differential.forest.prediction".to_string(),
    ];
    let mut coefs = coefficients(&names, &beta, &vcov, c, level, true)?.into_iter();
    match (coefs.next(), coefs.next()) {
        (Some(mean_forest_prediction), Some(differential_forest_prediction)) => Ok(Calibration {
            mean_forest_prediction,
            differential_forest_prediction,
        }),
        _ => Err(Error::Singular {
            what: "calibration test",
        }),
    }
}

/// The best linear projection of `scores` on an intercept and `covariates`.
pub(crate) fn best_linear_projection(
    scores: &[f64],
    covariates: &[(&str, &[f64])],
    weights: &[f64],
    clusters: &[u32],
    level: f64,
) -> Result<Vec<Coefficient>> {
    let n = scores.len();
    let mut names = vec!["(intercept)".to_string()];
    let mut xs = vec![vec![1.0; n]];
    for (name, col) in covariates {
        if col.len() != n {
            return Err(Error::LengthMismatch {
                column: (*name).to_string(),
                expected: n,
                found: col.len(),
            });
        }
        if let Some(row) = col.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                column: (*name).to_string(),
                row,
                value: col[row],
            });
        }
        names.push((*name).to_string());
        xs.push(col.to_vec());
    }
    let (beta, vcov, c) = ols_cluster(scores, &xs, weights, clusters, "best linear projection")?;
    coefficients(&names, &beta, &vcov, c, level, false)
}

/// One coefficient of a least-squares fit with a wild cluster bootstrap test of "it is
/// zero".
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WildClusterTest {
    /// The coefficient.
    pub estimate: f64,
    /// Its cluster-robust (CR1) standard error.
    pub std_err: f64,
    /// Share of bootstrap |t*| at least the observed |t|.
    pub p_value: f64,
    /// The `level` quantile of the bootstrap |t*|: the interval is estimate ± this × se.
    pub critical: f64,
    /// Clusters.
    pub clusters: usize,
}

/// How many draws a bootstrap makes, its seed, and the level of its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BootstrapDraws {
    /// Level of the interval (e.g. 0.95).
    pub level: f64,
    /// Draws.
    pub reps: usize,
    /// Seed of the draws.
    pub seed: u64,
}

/// A cluster's X'X, X'ŷ and X'ũ.
type ClusterSums = (DMatrix<f64>, DVector<f64>, DVector<f64>);

/// Wild cluster bootstrap-t with the null imposed (WCR: Cameron, Gelbach and Miller
/// 2008; MacKinnon and Webb 2017) for coefficient `test` of the least-squares fit of `y`
/// on the columns `xs` (no intercept is added).
///
/// With few or unbalanced clusters (a few large campaigns carry most of the rows) the
/// CR1 t-test rejects far more often than its level; the bootstrap keeps its level.
/// The restricted fit (without column `test`) gives fitted values ŷ and residuals ũ; a
/// draw is y* = ŷ + v_g·ũ with one weight v_g per cluster: Rademacher (±1), or Webb's
/// six-point weights below 12 clusters, where Rademacher has too few distinct draws.
/// A draw needs only per-cluster sums (X'X, X'ŷ, X'ũ), so `reps` draws cost
/// O(reps × clusters × k²).
pub(crate) fn wild_cluster_test(
    y: &[f64],
    xs: &[Vec<f64>],
    test: usize,
    clusters: &[u32],
    draws: BootstrapDraws,
    what: &'static str,
) -> Result<WildClusterTest> {
    use rand::{Rng, SeedableRng};
    let BootstrapDraws { level, reps, seed } = draws;
    let k = xs.len();
    let n = y.len();
    // The restricted fit.
    let kept: Vec<Vec<f64>> = (0..k)
        .filter(|&p| p != test)
        .map(|p| xs[p].clone())
        .collect();
    let fitted: Vec<f64> = if kept.is_empty() {
        vec![0.0; n]
    } else {
        let ones = vec![1.0; n];
        let (beta, _, _) = ols_cluster(y, &kept, &ones, clusters, what)?;
        (0..n)
            .map(|i| (0..kept.len()).map(|p| kept[p][i] * beta[p]).sum())
            .collect()
    };
    let mut by: BTreeMap<u32, ClusterSums> = BTreeMap::new();
    for i in 0..n {
        let (a, f, u) = by
            .entry(clusters[i])
            .or_insert_with(|| (DMatrix::zeros(k, k), DVector::zeros(k), DVector::zeros(k)));
        let resid = y[i] - fitted[i];
        for p in 0..k {
            f[p] += xs[p][i] * fitted[i];
            u[p] += xs[p][i] * resid;
            for q in 0..k {
                a[(p, q)] += xs[p][i] * xs[q][i];
            }
        }
    }
    let g = by.len();
    Error::at_least(g, 2, || format!("clusters for the {what}"))?;
    let parts: Vec<_> = by.into_values().collect();
    let xtx = parts
        .iter()
        .fold(DMatrix::<f64>::zeros(k, k), |acc, (a, _, _)| acc + a);
    let bread = xtx.cholesky().ok_or(Error::Singular { what })?.inverse();
    let scale = g as f64 / (g as f64 - 1.0);
    // The coefficient and its CR1 standard error for cluster weights `v`.
    let fit = |v: &[f64]| -> (f64, f64) {
        let c = parts
            .iter()
            .zip(v)
            .fold(DVector::<f64>::zeros(k), |acc, ((_, f, u), w)| {
                acc + f + u * *w
            });
        let beta = &bread * c;
        let mut meat = DMatrix::<f64>::zeros(k, k);
        for ((a, f, u), w) in parts.iter().zip(v) {
            let s = f + u * *w - a * &beta;
            meat += &s * s.transpose();
        }
        let var = (&bread * meat * &bread)[(test, test)] * scale;
        (beta[test], var.max(0.0).sqrt())
    };
    let (estimate, std_err) = fit(&vec![1.0; g]);
    let t_obs = if std_err > 0.0 {
        (estimate / std_err).abs()
    } else {
        f64::INFINITY
    };
    let webb = [
        -(1.5f64).sqrt(),
        -1.0,
        -(0.5f64).sqrt(),
        (0.5f64).sqrt(),
        1.0,
        (1.5f64).sqrt(),
    ];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut stats = Vec::with_capacity(reps);
    let mut v = vec![0.0; g];
    for _ in 0..reps {
        for w in v.iter_mut() {
            *w = if g < 12 {
                webb[rng.random_range(0..6)]
            } else if rng.random::<bool>() {
                1.0
            } else {
                -1.0
            };
        }
        let (b, se) = fit(&v);
        stats.push(if se > 0.0 { (b / se).abs() } else { 0.0 });
    }
    stats.sort_by(f64::total_cmp);
    let exceed = stats.iter().filter(|&&t| t >= t_obs).count();
    let idx = ((level * reps as f64).ceil() as usize).clamp(1, reps) - 1;
    Ok(WildClusterTest {
        estimate,
        std_err,
        p_value: exceed as f64 / reps as f64,
        critical: stats[idx],
        clusters: g,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A standard normal draw (Box–Muller, to keep the tests free of rand_distr).
    fn normal(r: &mut rand_chacha::ChaCha8Rng) -> f64 {
        use rand::Rng;
        let (u, v): (f64, f64) = (r.random::<f64>().max(1e-12), r.random::<f64>());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Few (15), unbalanced (10×, as campaigns are) clusters whose rows share shocks in x
    /// and y, with an intercept in the fit: under the null the
    /// CR1 t-test with C − 1 degrees of freedom rejects too often; the wild cluster
    /// bootstrap stays near its level. 400 worlds, seed fixed; the bootstrap's rejection
    /// rate must be within 0.02–0.09 (binomial sd ≈ 0.011 at 0.05). Seed 7: the bootstrap
    /// rejects 0.055, CR1 0.17.
    #[test]
    fn wild_cluster_bootstrap_keeps_its_level_with_few_unbalanced_clusters() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let sizes = [
            600, 500, 420, 350, 300, 250, 210, 180, 150, 130, 110, 95, 80, 70, 60,
        ];
        let (mut wild, mut cr1) = (0, 0);
        let worlds = 400;
        for world in 0..worlds {
            let (mut y, mut x, mut c) = (Vec::new(), Vec::new(), Vec::new());
            for (g, &n) in sizes.iter().enumerate() {
                let (ux, uy) = (normal(&mut rng), normal(&mut rng));
                for _ in 0..n {
                    x.push(ux + 0.3 * normal(&mut rng));
                    y.push(uy + 0.3 * normal(&mut rng));
                    c.push(g as u32);
                }
            }
            let ones = vec![1.0; y.len()];
            let draws = BootstrapDraws {
                level: 0.95,
                reps: 399,
                seed: world,
            };
            let t = wild_cluster_test(&y, &[ones, x], 1, &c, draws, "test").unwrap();
            wild += usize::from(t.p_value < 0.05);
            let df = (t.clusters - 1) as f64;
            let tt = StudentsT::new(0.0, 1.0, df).unwrap();
            let p = 2.0 * (1.0 - tt.cdf((t.estimate / t.std_err).abs()));
            cr1 += usize::from(p < 0.05);
        }
        let (wild, cr1) = (wild as f64 / worlds as f64, cr1 as f64 / worlds as f64);
        assert!(
            (0.02..=0.09).contains(&wild),
            "wild bootstrap rejects {wild}"
        );
        assert!(cr1 > wild, "CR1 rejects {cr1}, the bootstrap {wild}");
    }

    /// Equal clusters: the small-sample variance is CR1's and the degrees of freedom
    /// `C − 1`.
    #[test]
    fn equal_clusters_give_cr1_and_c_minus_1() {
        let scores = [1.0, 2.0, 4.0, 3.0, 0.5, 2.5, 6.0, 1.0];
        let clusters = [0, 0, 1, 1, 2, 2, 3, 3];
        let e = mean_effect(&scores, &[1.0; 8], Some(&clusters), 0.95).unwrap();
        let mean = scores.iter().sum::<f64>() / 8.0;
        let sums: Vec<f64> = (0..4)
            .map(|c| (scores[2 * c] - mean + scores[2 * c + 1] - mean) / 8.0)
            .collect();
        let cr1 = 4.0 / 3.0 * sums.iter().map(|s| s * s).sum::<f64>();
        assert!(
            (e.std_err - cr1.sqrt()).abs() < 1e-12,
            "{} vs {}",
            e.std_err,
            cr1.sqrt()
        );
        assert!((e.df - 3.0).abs() < 1e-9, "df {}", e.df);
    }

    /// Four campaigns, one with 85% of the rows, each with its own level (a cluster
    /// effect of sd 1) and row noise of sd 1, 2,000 worlds (seed 11): CR1 with t(3) covers
    /// the true mean in 44% of worlds (the big campaign fits the mean, so its residual
    /// sum is small); the small-sample variance with Bell–McCaffrey degrees of freedom
    /// (1.24 on average here) covers it in 95%.
    #[test]
    fn few_unequal_clusters_keep_the_interval_level() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let sizes = [170usize, 10, 10, 10];
        let worlds = 2000;
        let (mut covered, mut covered_cr1, mut df_sum) = (0, 0, 0.0);
        let t3 = StudentsT::new(0.0, 1.0, 3.0).unwrap().inverse_cdf(0.975);
        for _ in 0..worlds {
            let (mut scores, mut clusters) = (Vec::new(), Vec::new());
            for (c, &n) in sizes.iter().enumerate() {
                let u = normal(&mut rng);
                for _ in 0..n {
                    scores.push(u + normal(&mut rng));
                    clusters.push(c as u32);
                }
            }
            let ones = vec![1.0; scores.len()];
            let e = mean_effect(&scores, &ones, Some(&clusters), 0.95).unwrap();
            covered += usize::from(e.ci_lower <= 0.0 && 0.0 <= e.ci_upper);
            df_sum += e.df;
            // CR1 by hand.
            let mean = e.estimate;
            let total = scores.len() as f64;
            let mut sums = [0.0; 4];
            for (s, &c) in scores.iter().zip(&clusters) {
                sums[c as usize] += (s - mean) / total;
            }
            let se = (4.0 / 3.0 * sums.iter().map(|s| s * s).sum::<f64>()).sqrt();
            covered_cr1 += usize::from((mean / se).abs() <= t3);
        }
        let (cov, cov1) = (
            covered as f64 / worlds as f64,
            covered_cr1 as f64 / worlds as f64,
        );
        let df = df_sum / worlds as f64;
        assert!(cov >= 0.93, "coverage {cov} (CR1 {cov1}), mean df {df}");
        assert!(
            cov1 < 0.9,
            "CR1 covers {cov1}: the test no longer shows the problem"
        );
        assert!(df < 2.0, "mean df {df}");
    }

    #[test]
    fn mean_effect_matches_hand_computation() {
        let s = [1.0, 2.0, 3.0, 4.0];
        let e = mean_effect(&s, &[1.0; 4], None, 0.95).unwrap();
        assert_eq!(e.estimate, 2.5);
        // CR1 with singleton clusters = sample sd / sqrt(n): sd = 1.2910, se = 0.6455.
        assert!((e.std_err - 0.645_497_224).abs() < 1e-8, "{}", e.std_err);
        // t(3) 97.5% quantile = 3.182446.
        assert!((e.ci_upper - (2.5 + 3.182_446_305 * e.std_err)).abs() < 1e-6);
        assert_eq!(e.df, 3.0);
        // Clustering {1,2} and {3,4}: cluster sums of (Γ−θ)/n are -0.5 and 0.5.
        let e = mean_effect(&s, &[1.0; 4], Some(&[7, 7, 9, 9]), 0.95).unwrap();
        assert!((e.std_err - (2.0f64 * 0.5).sqrt()).abs() < 1e-12);
        assert_eq!(e.clusters, 2);
        // A subset with zero weights ignores the other rows.
        let e = mean_effect(&s, &[0.0, 0.0, 1.0, 1.0], None, 0.9).unwrap();
        assert_eq!((e.estimate, e.rows), (3.5, 2));
    }

    #[test]
    fn lift_of_a_constant_effect_is_exact() {
        // τ = 2 everywhere and scores equal τ: lift = 2 × spend, no uncertainty.
        let w = [1.0, 3.0, 5.0, 7.0];
        let e = lift_effect(
            &[2.0; 4],
            &[2.0; 4],
            &w,
            &[4.0; 4],
            &[1.0; 4],
            &[0, 1, 2, 3],
            0.95,
        )
        .unwrap();
        assert_eq!(e.spend, 16.0);
        assert!((e.revenue_lift - 32.0).abs() < 1e-12);
        assert!((e.incremental_roas - 2.0).abs() < 1e-12 && e.std_err < 1e-12);
        assert_eq!(e.marginal_roas, 2.0);
        let e = lift_effect(
            &[2.0; 4],
            &[2.0; 4],
            &[0.0; 4],
            &[4.0; 4],
            &[1.0; 4],
            &[0, 1, 2, 3],
            0.95,
        );
        assert!(matches!(e, Err(Error::NoVariation { .. })));
    }

    #[test]
    fn projection_recovers_a_line() {
        let x: Vec<f64> = (0..50).map(|i| i as f64).collect();
        let y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| 1.0 + 2.0 * v + if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let cl: Vec<u32> = (0..50).collect();
        let c = best_linear_projection(&y, &[("x", &x)], &[1.0; 50], &cl, 0.95).unwrap();
        assert!((c[1].estimate - 2.0).abs() < 0.01, "{:?}", c[1]);
        assert!((c[0].estimate - 1.0).abs() < 0.3, "{:?}", c[0]);
        assert!(c[1].p_value < 1e-10);
        let e = best_linear_projection(&y, &[("x", &x), ("x2", &x)], &[1.0; 50], &cl, 0.95)
            .unwrap_err();
        assert!(matches!(e, Error::Singular { .. }), "{e}");
    }
}
