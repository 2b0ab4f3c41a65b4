//! Spillover check: one channel's spend against the revenue recorded in another
//! channel's rows.
//!
//! Platforms report their own attribution: when Meta's ads send people to search for the
//! brand, part of Meta's effect is recorded as revenue of Google Ads' campaigns. A
//! campaign-level model credits each channel only with the revenue in its own rows, so the
//! source channel's returns understate what switching it off would lose, and no interval
//! of that model can cover the truth. The check looks for it: within each week of each
//! campaign of the target channel, does the revenue of its rows move with the source
//! channel's spend of the day, beyond the target's own spend and the controls? What it
//! finds with confidence is credited to the source channel
//! ([`crate::attribution::credit_spillover`]).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::forest::{ForestParams, OobSmoother};
use crate::inference::{BootstrapDraws, wild_cluster_test};
use crate::json::finite;
use crate::prepare::{CausalPanel, demean, weekday};
use crate::response::entity_blocks;
use crate::{Error, Result};

/// Rows a target channel needs for the check.
pub(crate) const MIN_SPILLOVER_ROWS: usize = 100;

/// Rounds of alternating projections onto the two groupings' means.
const DEMEAN_ROUNDS: usize = 30;

/// Draws of each test's wild cluster bootstrap.
const SPILLOVER_BOOTSTRAP_DRAWS: usize = 1_999;

/// One ordered pair of channels: the revenue recorded in `to`'s rows per unit of `from`'s
/// spend (through `from`'s chosen carryover and saturation transform, in spend units).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SpilloverCheck {
    /// Channel whose spend is tested.
    pub from: String,
    /// Channel whose rows' revenue is tested.
    pub to: String,
    /// Revenue in `to`'s rows per unit of `from`'s spend over the window.
    #[serde(serialize_with = "finite")]
    pub roas: f64,
    /// Its standard error (cluster-robust over calendar weeks).
    #[serde(serialize_with = "finite")]
    pub std_err: f64,
    /// Lower end of its interval (wild cluster bootstrap over calendar weeks).
    #[serde(serialize_with = "finite")]
    pub ci_lower: f64,
    /// Upper end of its interval.
    #[serde(serialize_with = "finite")]
    pub ci_upper: f64,
    /// Two-sided p-value of "no spillover".
    #[serde(serialize_with = "finite")]
    pub p_value: f64,
    /// The revenue this puts in `to`'s rows over the window, as a share of their revenue.
    #[serde(serialize_with = "finite")]
    pub share_of_revenue: f64,
    /// Rows of `to` the check used.
    pub rows: usize,
    /// `from`'s switch-off return from its own rows, before any spillover is credited
    /// to it (what the check's size is judged against).
    #[serde(serialize_with = "finite")]
    pub source_roas: f64,
    /// Whether this spillover is credited to `from`: its returns, intervals and response
    /// curve include it ([`crate::attribution::credit_spillover`]).
    pub credited: bool,
}

impl SpilloverCheck {
    /// A row label for tables (the report's and the workbook's diagnostics): the pair,
    /// and whether it was credited or should be about zero.
    pub fn label(&self) -> String {
        let head = format!(
            "Spillover: `{}` spend → revenue in `{}` rows, per unit of spend",
            self.from, self.to
        );
        if self.credited {
            format!("{head} (credited to `{}`)", self.from)
        } else {
            format!("{head}, should be ≈ 0")
        }
    }
}

/// Runs the check for every ordered pair of channels with at least
/// [`MIN_SPILLOVER_ROWS`] rows on the target side.
///
/// For target channel `B` and each other channel `A`: `A`'s transformed spend summed per
/// day (`w`, the treatment the forest saw) is set against each of `B`'s rows of that day.
/// Revenue is residualised on the controls by a local linear forest of its own, `B`'s
/// own treatment and every source's daily spend by the out-of-bag weights of one forest
/// grown on `B`'s treatment; all are then demeaned within each `B` campaign's weeks (so
/// the season, which moves every channel's budget and every row's revenue, cannot pass
/// for spillover) and within each `B` campaign's weekdays, and revenue is regressed on
/// all sources at once with `B`'s own treatment. Each source's coefficient times its daily spend summed over `B`'s rows,
/// over `A`'s raw spend, is the revenue per unit of spend. Its p-value and interval come
/// from a wild cluster bootstrap with calendar weeks as clusters (a source's spend is
/// shared by every `B` row of a day, and revenue noise runs over days).
///
/// Measured on the sandbox (`sandbox_coverage --preset P --seeds 20 --trees 300
/// --warnings`, release, 2026-12-06; p < 0.001 in how many worlds, of 12 pairs each):
/// demeaned within weeks only, Klaviyo's sends (twice a week, and on event days) came
/// out as spilling into every other channel on `realistic` (p < 0.001 in 7 of 10
/// worlds for Klaviyo → Google Ads); with the campaigns' weekdays too, some pair in 1
/// of 20 `realistic` and 1 of 20 `linear` worlds, while Meta → Google Ads on
/// `spillover` stayed at p < 0.001 in every world. Tried and not kept, on the same 20
/// `realistic` worlds: also demeaning within each campaign's weekdays per quarter (3
/// worlds of 16), within each campaign's holiday and event days (2 of 15), every
/// source residualised by a forest of its own (2 of 20), the target's raw spend as a
/// regressor beside its treatment (3 of 19). The p-values stay below uniform at 0.05
/// (some pair in 17–20 of 20 worlds without spillover): what the controls leave of the
/// calendar's day-to-day demand moves one channel's spend and another's revenue
/// together, so the warning asks for p < 0.001 and a material size
/// ([`crate::attribution::SPILLOVER_WARNING_P`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spillover_checks(
    panel: &CausalPanel,
    y: &[f64],
    w: &[f64],
    w_raw: &[f64],
    series: &[Vec<usize>],
    level: f64,
    seed: u64,
    trees: usize,
) -> Result<Vec<SpilloverCheck>> {
    let Some(dates) = panel.dates.as_deref() else {
        return Ok(Vec::new());
    };
    let n = y.len();
    let ok = |i: usize| y[i].is_finite() && w[i].is_finite() && w_raw[i].is_finite();
    let mut by_channel: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for i in (0..n).filter(|&i| ok(i)) {
        by_channel.entry(&panel.channels[i]).or_default().push(i);
    }
    if by_channel.len() < 2 {
        return Ok(Vec::new());
    }
    // Each channel's treatment summed per day, and its raw spend over the window.
    let daily: BTreeMap<&str, HashMap<i32, f64>> = by_channel
        .iter()
        .map(|(&c, rows)| {
            let mut per_day: HashMap<i32, f64> = HashMap::new();
            for &i in rows {
                *per_day.entry(dates[i]).or_default() += w[i];
            }
            (c, per_day)
        })
        .collect();
    let spend: BTreeMap<&str, f64> = by_channel
        .iter()
        .map(|(&c, rows)| (c, rows.iter().map(|&i| w_raw[i]).sum()))
        .collect();
    let ent = panel.entity_codes();
    let mut out = Vec::new();
    for (target_index, (&target, rows)) in by_channel.iter().enumerate() {
        if rows.len() < MIN_SPILLOVER_ROWS {
            continue;
        }
        let sources: Vec<&str> = by_channel
            .keys()
            .copied()
            .filter(|&c| c != target && spend[c] > 0.0)
            .collect();
        if sources.is_empty() {
            continue;
        }
        let x = panel.controls_at(rows);
        let xs: Vec<&[f64]> = x.iter().map(Vec::as_slice).collect();
        let yy: Vec<f64> = rows.iter().map(|&i| y[i]).collect();
        let revenue: f64 = yy.iter().sum();
        let own: Vec<f64> = rows.iter().map(|&i| w[i]).collect();
        let z: Vec<Vec<f64>> = sources
            .iter()
            .map(|c| {
                rows.iter()
                    .map(|&i| daily[c].get(&dates[i]).copied().unwrap_or(0.0))
                    .collect()
            })
            .collect();
        let params = ForestParams::default()
            .with_num_trees(trees)
            .with_seed(seed ^ 0x5b11 ^ target_index as u64);
        let lambda = Some(crate::attribution::DEFAULT_LOCAL_LINEAR_LAMBDA);
        let fy = OobSmoother::fit(&xs, &yy, &params, lambda)?.apply(&yy);
        let smoother = OobSmoother::fit(&xs, &own, &params, lambda)?;
        let mut columns: Vec<Vec<f64>> = z.iter().map(|v| smoother.apply(v)).collect();
        columns.push(smoother.apply(&own));
        let raw: Vec<&Vec<f64>> = z.iter().chain(std::iter::once(&own)).collect();
        // Rows whose every out-of-bag prediction exists.
        let kept: Vec<usize> = (0..rows.len())
            .filter(|&k| fy[k].is_finite() && columns.iter().all(|c| c[k].is_finite()))
            .collect();
        if kept.len() < MIN_SPILLOVER_ROWS {
            continue;
        }
        let kept_rows: Vec<usize> = kept.iter().map(|&k| rows[k]).collect();
        let own_series = crate::attribution::channel_series(panel, series, target);
        // Two groupings the residuals are demeaned within, by alternating projections:
        // each campaign's weeks (the season) and each campaign's weekdays (its own
        // weekday profile, which a pooled forest leaves where budgets are 10× apart and
        // which a twice-a-week send's days would otherwise pick up).
        let blocks = entity_blocks(&kept_rows, &own_series, dates);
        let weekdays: Vec<u32> = {
            let mut codes: HashMap<(u32, usize), u32> = HashMap::new();
            kept_rows
                .iter()
                .map(|&i| {
                    let next = codes.len() as u32;
                    *codes.entry((ent[i], weekday(dates[i]))).or_insert(next)
                })
                .collect()
        };
        let project = |v: &mut Vec<f64>| {
            for _ in 0..DEMEAN_ROUNDS {
                demean(v, &weekdays);
                demean(v, &blocks);
            }
        };
        let mut yr: Vec<f64> = kept.iter().map(|&k| yy[k] - fy[k]).collect();
        project(&mut yr);
        let mut regressors: Vec<Vec<f64>> = columns
            .iter()
            .zip(&raw)
            .map(|(fit, v)| {
                let mut r: Vec<f64> = kept.iter().map(|&k| v[k] - fit[k]).collect();
                project(&mut r);
                r
            })
            .collect();
        regressors.push(vec![1.0; kept.len()]);
        let weeks: Vec<u32> = {
            let mut codes: HashMap<i32, u32> = HashMap::new();
            kept_rows
                .iter()
                .map(|&i| {
                    let next = codes.len() as u32;
                    *codes.entry(dates[i].div_euclid(7)).or_insert(next)
                })
                .collect()
        };
        for (s, &source) in sources.iter().enumerate() {
            if regressors[s].iter().all(|v| v.abs() < 1e-12) {
                continue;
            }
            let test = match wild_cluster_test(
                &yr,
                &regressors,
                s,
                &weeks,
                BootstrapDraws {
                    level,
                    reps: SPILLOVER_BOOTSTRAP_DRAWS,
                    seed: seed ^ 0x5b12 ^ ((target_index * 64 + s) as u64),
                },
                "spillover regression",
            ) {
                Ok(t) => t,
                // A source that never varies within the target's weeks, or too few
                // weeks: nothing to say about this pair.
                Err(
                    Error::NoVariation { .. }
                    | Error::Singular { .. }
                    | Error::TooLittleData { .. },
                ) => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Revenue per unit of the source's spend: the coefficient times the source's
            // daily treatment summed over the target's rows, over its raw spend.
            let exposure: f64 = kept.iter().map(|&k| z[s][k]).sum::<f64>() / spend[source];
            let half = test.critical * test.std_err * exposure;
            out.push(SpilloverCheck {
                from: source.to_string(),
                to: target.to_string(),
                roas: test.estimate * exposure,
                std_err: test.std_err * exposure,
                share_of_revenue: test.estimate * exposure * spend[source] / revenue,
                ci_lower: test.estimate * exposure - half,
                ci_upper: test.estimate * exposure + half,
                p_value: test.p_value,
                rows: kept.len(),
                source_roas: f64::NAN,
                credited: false,
            });
        }
    }
    Ok(out)
}
