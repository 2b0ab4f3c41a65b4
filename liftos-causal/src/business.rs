//! The business's own revenue as the outcome, every channel's spend at once.
//!
//! Platform-reported revenue is each platform's own attribution, per campaign; when Meta's
//! ads send people to search for the brand, the sale shows up in Google's rows, and no
//! per-campaign model can see it. The business's revenue per day (its shop or warehouse)
//! against all channels' spend together does (CAUSAL_NOTES.md).
//!
//! # Model
//!
//! For day t, with calendar controls `x_t` (intercept, trend, weekday, holiday and
//! commercial-event flags, yearly Fourier terms) and each channel's response transform
//! `f_c` (geometric adstock, then an optional Hill curve; [`ResponseTransform`]):
//!
//! `revenue_t = exp(x_t·γ) + Σ_c β_c·f_c(s_c)_t + ε_t`
//!
//! The organic baseline is multiplicative in the calendar (a Saturday in December is a
//! December day and a Saturday), the channels' effects are additive. The fit is
//! Gauss–Newton least squares; each channel's transform is chosen from the grids of
//! [`ResponseOptions`] by coordinate descent on the linearised model's residual sum of
//! squares, the other channels held at their current transforms.
//!
//! # Carryover beyond the grid
//!
//! Brand and video campaigns carry over for weeks, past any fixed grid's longest decay.
//! A channel that shows an effect at the grid's longest decay, and whose profile (its sum
//! of squares, the other channels and the baseline held) prefers that decay to the one
//! before it by more than 15 in `n_eff·ln(SSE_before/SSE_longest)` (not χ²'s 3.84: a
//! channel without effect fitting the baseline's slow wanderings prefers long decays
//! too), also searches `1 − (1 − longest)/2` (0.9 after 0.8), and once more from there
//! (0.95).
//! The bootstrap re-selects among every decay searched and the plausible set includes
//! them; the results' setting `adstock_decays_added` names the decays each channel added.
//! A decay that still comes out at the longest searched is warned of. Measured on the
//! sandbox's `long_carryover` preset (true decays 0.8–0.92; README, "What is left on
//! `long_carryover`"): Google Ads' and Meta's switch-off errors 30 / 35% → 22 / 24%;
//! every preset without such decays gives the same results but `pulsing`, where the
//! zero-effect channel's mean |iROAS| rose from 0.28 to 0.38 (never significant).
//!
//! # The level
//!
//! The calendar names the days a business knows about; demand also moves slowly for
//! reasons it does not name (a good quarter, a competitor's sale, a shift in the
//! market). The baseline may carry a piecewise-linear level on log revenue (knots every
//! [`BusinessOptions::knot_days`] days). Such a level also takes the slow part of spend's
//! own effect (budgets that step every few weeks, carried over for weeks), so how fine it
//! is matters both ways. By default the knots are every 28 days. With
//! [`BusinessOptions::level_selection`] (opt-in) the data choose among no level and knots
//! every `4k`, `2k` and `k` days (`k` = `knot_days`) by `n_eff·ln(SSE) + p·ln(n_eff)`,
//! `n_eff` the days' effective number (the residuals' long-run variance ratio, as
//! everywhere here). The results' settings give the spacing used (`knot_days`) and, when
//! chosen, each one's criterion over the best (`knot_days_searched`). The choice is made
//! once, on all days; the bootstrap keeps it, so the intervals do not carry its
//! uncertainty. Measured on every sandbox preset (README, "The level chosen by the data"):
//! it chooses a level in every `drift` world (where no level doubles the errors) and none
//! where the calendar explains demand, which cuts the `saturation` errors by a third to a
//! half; but coverage falls on `carryover` and `spillover`, and `pulsing`'s Meta and the
//! `latent` worlds get worse, so it is not the default.
//!
//! # The weekend's return
//!
//! A dollar's return need not be the same every day: people buy differently on
//! weekends. With [`BusinessOptions::weekend_return`] (opt-in) every channel's effect on
//! Saturdays and Sundays is `(1 + w)` times what the same exposure brings on a weekday,
//! `w` one value for all channels chosen from [`WEEKEND_RETURN_GRID`] by the whole
//! model's sum of squares (the results' settings `weekend_return` and
//! `weekend_return_searched`, each value's `n_eff·ln(SSE/SSE_best)`). The baseline's
//! weekday terms cannot stand in for it: they add the same amount whatever the spend,
//! while this scales with the carried-over exposure. As with the level, the choice is
//! made once on all days and its own uncertainty is not in the intervals. Measured on
//! every sandbox preset (README, "The weekend's return").
//!
//! # Campaigns
//!
//! A channel's daily total hides how its spend is split: each campaign saturates on its
//! own, at a spend relative to its own budget, so one curve of the total describes a sum
//! of campaigns of different sizes badly. When the data carry each channel's campaigns
//! ([`BusinessData::with_campaigns`]: their daily spend and platform-reported revenue),
//!
//! - the channel's regressor is the sum over its campaigns of each campaign's transformed
//!   spend, the Hill curve's half-saturation relative to the campaign's own mean exposure
//!   over the days it spends (as the campaign-level search has it), searched on the finer
//!   grids [`BusinessOptions::campaign_half_saturations`] and
//!   [`BusinessOptions::campaign_shapes`];
//! - the campaigns' platform-reported revenue informs which curve: its level is the
//!   platform's attribution, but how it moves with each campaign's own spend shows that
//!   campaign's curve (`campaign_excess`, a likelihood-ratio statistic over the
//!   campaigns). The full sample's transforms are chosen by the business revenue's evidence
//!   and the campaigns' together (their statistics added); the bootstrap re-selects and the
//!   plausible set widens on the business revenue's alone, so the campaigns move the
//!   estimate, not the width of what the business revenue cannot rule out.
//!
//! Measured (`business_coverage --seeds 20 --first-seed 1 --bootstrap 99`, release; the
//! README has the table): mean switch-off error on the `saturation` preset, Google Ads /
//! Meta / Klaviyo, 41 / 73 / 144% → 23 / 49 / 69%, every interval covering in 19–20 of 20
//! worlds; on `linear`, `carryover` and `spillover` the errors fell too and the coverage
//! held (0.95–1.00), and on `realistic` Google Ads' fell (28 → 27%) and Meta's and
//! Klaviyo's rose (34 → 39%, 84 → 92%), coverage 1.00.
//!
//! - switch-off lift of channel c over the window: `β_c·Σ_t f_c(s_c)_t` (carryover inside the
//!   window included);
//! - marginal return: `β_c·Σ_t f′_c(a_t)·a_t / Σ_t s_t`;
//! - response curve: `β_c·Σ_t f_c(k·a_t)` at spend scales k;
//! - baseline share: `1 − Σ_c lift_c / Σ_t revenue_t`.
//!
//! # Inference
//!
//! Days are autocorrelated, so intervals come from a moving block bootstrap over blocks of
//! whole weeks ([`BusinessOptions::block_days`]): each replicate resamples blocks of days,
//! re-selects every transform and re-fits, and the estimands are evaluated on the
//! observed spend. Intervals are the estimate ± z·(bootstrap standard deviation), widened
//! by the plausible transforms: one daily series shows the curve around today's spend, not
//! below it, so several curves fit about equally well and extrapolate to zero differently,
//! and the bootstrap, re-selecting around the full sample's choice, does not cover that
//! spread. As in the platform-level search, every interval is the union of the plausible
//! transforms' (each candidate of a channel whose fit is not distinguishably worse than the
//! best, refitted on all days; see `plausible_sets`), and a warning names a channel whose
//! plausible switch-off returns span more than
//! [`SWITCH_OFF_SPREAD_WARNING`]×.
//!
//! When two channels' spend moves together once the calendar is accounted for, the data
//! cannot tell their effects apart: a warning names them instead of trusting a split.
//!
//! A demand shock that no column shows and that moves the budgets (news, a competitor
//! leaving, a promotion the calendar does not name) raises the business's revenue and the
//! spend together, and every channel is credited with it. The common-spend check
//! ([`CommonSpend`], as at the platform level) sees it in the campaigns' budgets: net of
//! the calendar, each budget's movement within a fortnight is its own unless something
//! moves them all (variance ratio 0.78–1.27 over the sandbox's presets without a hidden
//! shock, 2.38–5.36 on `latent`, seeds 1–40). At a ratio of at least
//! [`crate::prepare::COMMON_SPEND_GATE`] and a correlation of at least
//! [`COMMON_SPEND_MIN_CORRELATION`], and when the business's revenue moves with it
//! (`common_movement_p` below [`COMMON_MOVEMENT_TEST_P`]), the baseline controls for the
//! budgets' common movement of each day and of the week around it
//! (`with_common_movement`, which says what that control costs) and a warning says so
//! ([`BusinessOptions::common_spend`]). Where the budgets move together and demand does
//! not (`business_coverage --budget-shock-only`), the test let the control in 3 of 20
//! worlds: Google Ads / Meta errors 7 / 10% without the control, 12 / 22% with it
//! whenever the check fires, 8 / 15% with the test.
//! Measured (`business_coverage --seeds 20 --first-seed 1 --bootstrap 99 --presets latent
//! --calendar-config q4.toml`), without → with the control: switch-off error Google Ads /
//! Meta / Klaviyo 51 / 113 / 84% → 12 / 19 / 41%, coverage 11 / 8 / 19 → 20 / 19 / 20 of
//! 20, the zero-effect channel's mean |iROAS| 1.88 → 0.37 and significant in 14 → 0 of 20
//! worlds, the baseline share's interval covering in 0 → 20. The other presets never
//! reach the gate, so nothing changes there. The check needs the campaigns
//! ([`BusinessData::with_campaigns`]; `None` without): on the channels' daily totals alone
//! (four series) its ratio does not separate the worlds (`latent` 0.43–1.88, the others
//! 0.21–0.94). There the placebo speaks instead (`diagnostics.placebo`: today's revenue
//! against the spend of a week later, [`BUSINESS_PLACEBO_WARNING_P`]): it warned in 13 of
//! 20 `latent` worlds on the channels' totals and in 2 of the 120 worlds of the other
//! presets.
//!
//! Lift tests ([`LiftTest`]) calibrate the estimate: the model's bootstrap distribution of
//! the tested window's lift and of every reported quantity is treated as Gaussian and
//! updated with each test's measurement and standard error (precision weighting, with the
//! correlation between the window and the whole period carried over to every estimate).
//!
//! Spend cannot lower revenue ([`BusinessOptions::non_negative`], the default): the model
//! is fitted unconstrained, and each channel's reported switch-off and marginal returns and
//! response curve are projected on `[0, ∞)`: the estimate's maximum with 0, the interval
//! intersected with `[0, ∞)`, and a warning naming the channel with its unconstrained
//! estimate; the organic share takes the difference (its interval widened down to it).
//! For a true effect ≥ 0 neither moves further from the truth, so no channel's error grows
//! and no channel's interval that covered stops covering; standard errors stay the
//! unconstrained fit's, and an effect reported at zero has p = 1. Measured (`business_coverage --seeds 20 --first-seed 1
//! --bootstrap 99 --calendar-config q4.toml`, the README's "Spend cannot lower revenue"):
//! the zero-effect channel's mean |iROAS| 0.16–0.42 instead of 0.32–0.66 on the five
//! presets, Klaviyo's `saturation` error 61% → 52%, every other error within a point.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

use crate::attribution::SWITCH_OFF_SPREAD_WARNING;
use crate::inference::AverageEffect;
use crate::json::finite;
use crate::prepare::{CommonSpend, RelativeSpend, relative_spend};
use crate::response::{ResponseOptions, ResponseTransform, robustness_value};
use crate::results::{
    AttributionResults, ChannelEffect, ChannelResponse, CurvePoint, Estimate, RowIndex, Sensitivity,
};
use crate::{Error, Result};

/// The business's daily outcome and every channel's daily spend, aligned by day.
///
/// Build it with [`BusinessData::new`], which checks that the days are consecutive and
/// every value finite.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessData {
    /// Days since 1970-01-01, consecutive, in order.
    pub dates: Vec<i32>,
    /// The business's revenue of each day.
    pub revenue: Vec<f64>,
    /// Channel names.
    pub channels: Vec<String>,
    /// Per channel, its spend of each day (0 on days without spend).
    pub spend: Vec<Vec<f64>>,
    /// Per channel, the revenue its platform reported over the window (for the naive
    /// return column; `NaN` when unknown).
    pub platform_revenue: Vec<f64>,
    /// Public-holiday flag of each day.
    pub holiday: Vec<bool>,
    /// Commercial-event flag (Black Friday, Cyber Monday) of each day.
    pub event: Vec<bool>,
    /// Named special days and seasons, each with its own effect on the baseline (one flag
    /// per day); by default `holiday` and `event`. Holidays and events differ (Black
    /// Friday is not Valentine's Day): give one flag per name when the names are known
    /// ([`with_day_flags`](Self::with_day_flags)).
    pub day_flags: Vec<(String, Vec<bool>)>,
    /// Per channel, its campaigns' daily spend and platform-reported revenue (empty: the
    /// channel's daily total alone; [`with_campaigns`](Self::with_campaigns)).
    pub campaigns: Vec<Vec<CampaignSeries>>,
}

/// One campaign of a channel: its spend and its platform-reported revenue of each day (0
/// on days without a row), for [`BusinessData::with_campaigns`].
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSeries {
    /// The campaign's name.
    pub name: String,
    /// Its spend of each day.
    pub spend: Vec<f64>,
    /// The revenue its platform reported each day.
    pub platform_revenue: Vec<f64>,
}

impl CampaignSeries {
    /// A campaign's daily spend and platform-reported revenue (checked, with the others,
    /// by [`BusinessData::with_campaigns`]).
    pub fn new(name: impl Into<String>, spend: Vec<f64>, platform_revenue: Vec<f64>) -> Self {
        CampaignSeries {
            name: name.into(),
            spend,
            platform_revenue,
        }
    }
}

impl BusinessData {
    /// Checks and assembles the data. `spend` holds one series per channel, each as long
    /// as `dates`; `holiday` and `event` may be empty (no such days).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`], [`Error::NonFinite`], [`Error::TooLittleData`] (fewer than
    /// 8 weeks of days, or no channel), [`Error::InvalidParameter`] when the days are not
    /// consecutive or a revenue or spend is negative, [`Error::NoVariation`] when a
    /// channel never spends.
    pub fn new(
        dates: Vec<i32>,
        revenue: Vec<f64>,
        channels: Vec<String>,
        spend: Vec<Vec<f64>>,
        holiday: Vec<bool>,
        event: Vec<bool>,
    ) -> Result<Self> {
        let n = dates.len();
        Error::at_least(n, 56, || "a business-level analysis (days)".into())?;
        if channels.is_empty() || channels.len() != spend.len() {
            return Err(Error::TooLittleData {
                what: "a business-level analysis (channels with spend)".into(),
                found: channels.len().min(spend.len()),
                needed: 1,
            });
        }
        let check_len = |column: &str, len: usize| {
            if len == n {
                Ok(())
            } else {
                Err(Error::LengthMismatch {
                    column: column.to_string(),
                    expected: n,
                    found: len,
                })
            }
        };
        check_len("revenue", revenue.len())?;
        for (c, s) in channels.iter().zip(&spend) {
            check_len(c, s.len())?;
        }
        let holiday = if holiday.is_empty() {
            vec![false; n]
        } else {
            holiday
        };
        let event = if event.is_empty() {
            vec![false; n]
        } else {
            event
        };
        check_len("is_holiday", holiday.len())?;
        check_len("is_commercial_event", event.len())?;
        for w in dates.windows(2) {
            if i64::from(w[1]) != i64::from(w[0]) + 1 {
                return Err(Error::param(
                    "business.dates",
                    format!("{} then {}", w[0], w[1]),
                    "consecutive days, each once (days since 1970-01-01)",
                ));
            }
        }
        let finite = |column: &str, v: &[f64]| -> Result<()> {
            for (row, x) in v.iter().enumerate() {
                if !x.is_finite() {
                    return Err(Error::NonFinite {
                        column: column.to_string(),
                        row,
                        value: *x,
                    });
                }
                if !(0.0..=crate::MAX_AMOUNT).contains(x) {
                    let shown = if x.abs() >= 1e15 {
                        format!("{x:e}")
                    } else {
                        x.to_string()
                    };
                    return Err(Error::param(
                        "business.values",
                        format!("{column} = {shown} at row {row}"),
                        "values ≥ 0 and at most 1e18",
                    ));
                }
            }
            Ok(())
        };
        finite("revenue", &revenue)?;
        for (c, s) in channels.iter().zip(&spend) {
            finite(c, s)?;
        }
        let platform_revenue = vec![f64::NAN; channels.len()];
        let day_flags = vec![
            ("holiday".to_string(), holiday.clone()),
            ("event".to_string(), event.clone()),
        ];
        Ok(BusinessData {
            dates,
            revenue,
            channels,
            spend,
            platform_revenue,
            holiday,
            event,
            day_flags,
            campaigns: Vec::new(),
        })
    }

    /// Replaces the baseline's special-day flags (each as long as the days; others are
    /// left out).
    pub fn with_day_flags(mut self, flags: Vec<(String, Vec<bool>)>) -> Self {
        let n = self.n();
        self.day_flags = flags.into_iter().filter(|(_, f)| f.len() == n).collect();
        self
    }

    /// Sets the platform-reported revenue per channel (totals over the window), for the
    /// naive return column.
    pub fn with_platform_revenue(mut self, revenue: Vec<f64>) -> Self {
        if revenue.len() == self.channels.len() {
            self.platform_revenue = revenue;
        }
        self
    }

    /// The business-level data from rows of spend as a unified table gives them. Rows
    /// outside `dates` are left out first (the spend table may cover a longer window
    /// than the business's revenue); of the rest, every channel's daily spend and
    /// platform-reported revenue are summed (channels in the order of their first day,
    /// then by name: the rows' own order changes nothing), and, when any of them names a campaign, each channel's campaigns (by name;
    /// a row without one counts as the campaign `""`) are attached as
    /// [`BusinessData::with_campaigns`] takes them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a spend or platform revenue that is not finite
    /// (naming the row's position; a row below zero is allowed, the sums are checked);
    /// otherwise as [`BusinessData::new`] (days not consecutive, a day's spend below
    /// zero; no row inside the days: no channel) and [`BusinessData::with_campaigns`].
    pub fn from_spend_rows<'a>(
        dates: Vec<i32>,
        revenue: Vec<f64>,
        rows: impl IntoIterator<Item = SpendRow<'a>>,
        holiday: Vec<bool>,
        event: Vec<bool>,
    ) -> Result<Self> {
        let n = dates.len();
        // Rows are placed by their offset from the first day; `BusinessData::new` below
        // rejects days that are not consecutive.
        let first = dates.first().copied().unwrap_or_default();
        let mut channels: Vec<String> = Vec::new();
        let mut spend: Vec<Vec<f64>> = Vec::new();
        let mut platform: Vec<f64> = Vec::new();
        let mut campaigns: BTreeMap<(usize, &str), CampaignSeries> = BTreeMap::new();
        let mut with_campaigns = false;
        // The rows in one order whatever the input's (by day, channel, campaign, then
        // values): channels come in the order of their first day, then by name, and every
        // sum adds its rows in one order, so the same rows shuffled give the same data.
        let mut in_window: Vec<(usize, SpendRow<'a>)> = rows
            .into_iter()
            .enumerate()
            .filter(|(_, row)| {
                let t = i64::from(row.date) - i64::from(first);
                (0..n as i64).contains(&t)
            })
            .collect();
        in_window.sort_by(|(_, a), (_, b)| {
            (a.date, a.channel, a.campaign)
                .cmp(&(b.date, b.channel, b.campaign))
                .then_with(|| a.spend.total_cmp(&b.spend))
                .then_with(|| a.platform_revenue.total_cmp(&b.platform_revenue))
        });
        for (i, row) in in_window {
            let t = i64::from(row.date) - i64::from(first);
            // A row may be below zero (a refund, a credit): the days' and campaigns' sums
            // are checked by `new` and `with_campaigns`.
            for (what, v) in [
                ("spend", row.spend),
                ("platform revenue", row.platform_revenue),
            ] {
                if !v.is_finite() {
                    return Err(Error::param(
                        "business.spend_rows",
                        format!(
                            "{what} {v} in row {i} ({} / {:?})",
                            row.channel, row.campaign
                        ),
                        "finite values",
                    ));
                }
            }
            let t = t as usize;
            let c = match channels.iter().position(|x| x == row.channel) {
                Some(c) => c,
                None => {
                    channels.push(row.channel.to_string());
                    spend.push(vec![0.0; n]);
                    platform.push(0.0);
                    channels.len() - 1
                }
            };
            spend[c][t] += row.spend;
            platform[c] += row.platform_revenue;
            with_campaigns |= row.campaign.is_some();
            let k = campaigns
                .entry((c, row.campaign.unwrap_or_default()))
                .or_insert_with(|| {
                    CampaignSeries::new(
                        row.campaign.unwrap_or_default(),
                        vec![0.0; n],
                        vec![0.0; n],
                    )
                });
            k.spend[t] += row.spend;
            k.platform_revenue[t] += row.platform_revenue;
        }
        let mut per_channel: Vec<(String, Vec<CampaignSeries>)> =
            channels.iter().map(|c| (c.clone(), Vec::new())).collect();
        for ((c, _), k) in campaigns {
            per_channel[c].1.push(k);
        }
        let data = BusinessData::new(dates, revenue, channels, spend, holiday, event)?
            .with_platform_revenue(platform);
        if with_campaigns {
            data.with_campaigns(per_channel)
        } else {
            Ok(data)
        }
    }

    /// A lift test measured as a return: `iroas` (and its standard error) per unit of
    /// `channel`'s spend from `start` to `end` (inclusive, days since 1970-01-01), in
    /// revenue with the channel's spend over those days, as [`analyze_business`] takes it
    /// (a window without spend gives a standard error of 0, which [`analyze_business`]
    /// rejects).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a channel the data do not have.
    pub fn lift_test_from_iroas(
        &self,
        channel: &str,
        (start, end): (i32, i32),
        iroas: f64,
        standard_error: f64,
    ) -> Result<LiftTest> {
        let c = self.channel_index(channel)?;
        let spend: f64 = self
            .dates
            .iter()
            .zip(&self.spend[c])
            .filter(|(d, _)| (start..=end).contains(*d))
            .map(|(_, s)| s)
            .sum();
        Ok(LiftTest {
            channel: channel.to_string(),
            start,
            end,
            incremental_revenue: iroas * spend,
            standard_error: standard_error * spend,
        })
    }

    /// The position of `channel` among the data's channels.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a channel the data do not have, naming those it has.
    pub fn channel_index(&self, channel: &str) -> Result<usize> {
        self.find_channel(channel, "channel", format!("`{channel}`"))
    }

    /// The position of `channel`, or [`Error::InvalidParameter`] naming the parameter
    /// `param` with `value` and the channels the data have.
    fn find_channel(
        &self,
        channel: &str,
        param: &'static str,
        value: impl std::fmt::Display,
    ) -> Result<usize> {
        self.channels
            .iter()
            .position(|x| x == channel)
            .ok_or_else(|| {
                Error::param(
                    param,
                    value,
                    format!("one of the data's channels ({})", self.channels.join(", ")),
                )
            })
    }

    /// Sets channels' campaigns: per channel (by name), each campaign's daily spend and
    /// platform-reported revenue, whose spend adds up to the channel's of each day.
    /// Campaigns that never spend are left out; channels not named keep their daily
    /// total alone.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a channel the data do not have, named twice, or
    /// whose campaigns' spend does not add up to its own on some day (to a millionth of
    /// the day's spend, or a cent); [`Error::LengthMismatch`] and [`Error::NonFinite`] as
    /// [`BusinessData::new`], a negative spend included.
    pub fn with_campaigns(
        mut self,
        campaigns: impl IntoIterator<Item = (String, Vec<CampaignSeries>)>,
    ) -> Result<Self> {
        let n = self.n();
        let mut out: Vec<Vec<CampaignSeries>> = vec![Vec::new(); self.channels.len()];
        let mut named = vec![false; self.channels.len()];
        for (channel, list) in campaigns {
            let c = self.find_channel(&channel, "business.campaigns", &channel)?;
            if named[c] {
                return Err(Error::param(
                    "business.campaigns",
                    &channel,
                    "each channel named once",
                ));
            }
            named[c] = true;
            let mut total = vec![0.0; n];
            for k in list {
                for (what, v) in [
                    ("spend", &k.spend),
                    ("platform revenue", &k.platform_revenue),
                ] {
                    let column = format!("{channel} / {} ({what})", k.name);
                    if v.len() != n {
                        return Err(Error::LengthMismatch {
                            column,
                            expected: n,
                            found: v.len(),
                        });
                    }
                    if let Some((row, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                        return Err(Error::NonFinite {
                            column,
                            row,
                            value: *x,
                        });
                    }
                }
                if let Some((row, x)) = k.spend.iter().enumerate().find(|(_, x)| **x < 0.0) {
                    return Err(Error::param(
                        "business.campaigns",
                        format!("{channel} / {}: spend {x} at row {row}", k.name),
                        "spend ≥ 0",
                    ));
                }
                for (t, x) in k.spend.iter().enumerate() {
                    total[t] += x;
                }
                if k.spend.iter().any(|x| *x > 0.0) {
                    out[c].push(k);
                }
            }
            for (t, (a, b)) in total.iter().zip(&self.spend[c]).enumerate() {
                if (a - b).abs() > (1e-6 * b.abs()).max(0.01) {
                    return Err(Error::param(
                        "business.campaigns",
                        format!("{channel}: campaigns' spend {a} against {b} on row {t}"),
                        "campaigns whose spend adds up to the channel's of each day",
                    ));
                }
            }
        }
        self.campaigns = out;
        Ok(self)
    }

    /// Channel `c`'s campaigns (empty when not given).
    fn campaigns_of(&self, c: usize) -> &[CampaignSeries] {
        self.campaigns.get(c).map_or(&[], Vec::as_slice)
    }

    fn n(&self) -> usize {
        self.dates.len()
    }

    /// The data without the channels at `drop` (indices into `channels`).
    fn without_channels(&self, drop: &[usize]) -> BusinessData {
        let keep: Vec<bool> = (0..self.channels.len())
            .map(|i| !drop.contains(&i))
            .collect();
        BusinessData {
            channels: crate::prepare::kept(&self.channels, &keep),
            spend: crate::prepare::kept(&self.spend, &keep),
            platform_revenue: crate::prepare::kept(&self.platform_revenue, &keep),
            campaigns: if self.campaigns.len() == self.channels.len() {
                crate::prepare::kept(&self.campaigns, &keep)
            } else {
                self.campaigns.clone()
            },
            ..self.clone()
        }
    }
}

/// The common-spend check ([`CommonSpend`]) on the business's spend: each campaign's days
/// with spend (each channel's daily total for a channel without campaigns) as the
/// entities, the day flags' pattern as the calendar; `None` when no channel's campaigns
/// are given (on four or so channels' totals the ratio does not tell a hidden shock
/// apart: `latent` 0.43–1.88, the other presets 0.21–0.94) or fewer than four entities
/// spend.
fn common_spend(data: &BusinessData) -> Option<RelativeSpend> {
    if data.campaigns.iter().all(Vec::is_empty) {
        return None;
    }
    let n = data.n();
    // Each distinct pattern of the day flags is one calendar code.
    let mut patterns: HashMap<Vec<bool>, u32> = HashMap::new();
    let pattern: Vec<u32> = (0..n)
        .map(|t| {
            let key: Vec<bool> = data.day_flags.iter().map(|(_, f)| f[t]).collect();
            let next = patterns.len() as u32;
            *patterns.entry(key).or_insert(next)
        })
        .collect();
    let mut series: Vec<&[f64]> = Vec::new();
    for c in 0..data.channels.len() {
        match data.campaigns_of(c) {
            [] => series.push(&data.spend[c]),
            campaigns => series.extend(campaigns.iter().map(|k| k.spend.as_slice())),
        }
    }
    let (mut codes, mut dates, mut spend, mut calendar) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (e, s) in series.iter().enumerate() {
        for t in (0..n).filter(|&t| s[t] > 0.0) {
            codes.push(e as u32);
            dates.push(data.dates[t]);
            spend.push(s[t]);
            calendar.push(pattern[t]);
        }
    }
    relative_spend(&codes, &dates, &spend, &calendar)
}

/// Lowest common correlation of the budgets' movements ([`CommonSpend::correlation`]) at
/// which the business level controls for it, besides a variance ratio of at least
/// [`COMMON_SPEND_GATE`](crate::prepare::COMMON_SPEND_GATE): the ratio grows with the
/// number of campaigns for the same correlation, so with hundreds of campaigns a ratio of
/// 2 would be a correlation of 0.5%. The sandbox's `latent` worlds are at 0.08 or more and
/// the others at 0.02 or less (seeds 1–40).
pub const COMMON_SPEND_MIN_CORRELATION: f64 = 0.05;

/// Whether the business-level check finds the budgets' common movement (ratio and
/// correlation both above their gates).
fn common_spend_fires(c: &CommonSpend) -> bool {
    c.variance_ratio >= crate::prepare::COMMON_SPEND_GATE
        && c.correlation >= COMMON_SPEND_MIN_CORRELATION
}

/// The fit's start: the log-linear baseline through all of revenue, each channel at its
/// linear transform.
fn starting_point(ctx: &Context<'_>, x: &DMatrix<f64>) -> Result<(DVector<f64>, Vec<usize>)> {
    let revenue = &ctx.data.revenue;
    let logy = DVector::from_iterator(revenue.len(), revenue.iter().map(|r| r.max(1e-9).ln()));
    let gamma0 = lstsq(x, &logy).ok_or(Error::Singular {
        what: "business baseline",
    })?;
    let linear = ctx
        .cands
        .iter()
        .map(|c| {
            c.transforms
                .iter()
                .position(|t| *t == ResponseTransform::LINEAR)
                .unwrap_or(0)
        })
        .collect();
    Ok((gamma0, linear))
}

/// The baseline's design with the level the data choose ([`choose_level`]).
struct Level {
    /// The calendar design with the chosen level's columns.
    design: DMatrix<f64>,
    /// The chosen spacing of the level's knots, in days (0: no level).
    knot_days: usize,
    /// Every spacing searched with its criterion (lower is better).
    searched: Vec<(usize, f64)>,
}

/// The weekend's changes of the return searched by [`BusinessOptions::weekend_return`].
pub const WEEKEND_RETURN_GRID: [f64; 9] = [-0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4];

/// The weekend's change of every channel's return: 0 unless
/// [`BusinessOptions::weekend_return`]; with it, the value of [`WEEKEND_RETURN_GRID`] whose
/// whole model (transforms chosen, business revenue alone, the level [`choose_level`]
/// gives without a weekend change, the same for every value) has the lowest sum of
/// squares (one parameter for every value, so no penalty), and each value's
/// `n_eff·ln(SSE)` over the best, `n_eff` the days' effective number of the fit at 0.
fn choose_weekend(
    data: &BusinessData,
    options: &BusinessOptions,
    tests: &[(usize, LiftTest, Vec<usize>)],
) -> Result<(f64, Vec<(f64, f64)>)> {
    if !options.weekend_return {
        return Ok((0.0, Vec::new()));
    }
    let total_revenue: f64 = data.revenue.iter().sum();
    let all: Vec<usize> = (0..data.n()).collect();
    let context = |w: f64| Context {
        data,
        options,
        cands: candidates(data, options, w),
        tests: tests.to_vec(),
        total_revenue,
        weekend: w,
    };
    // One level for every value (the one chosen without a weekend change), so that every
    // model has the same number of parameters.
    let design = choose_level(&context(0.0))?.design;
    let mut fits = Vec::with_capacity(WEEKEND_RETURN_GRID.len());
    let mut n_eff = f64::NAN;
    for w in WEEKEND_RETURN_GRID {
        let ctx = context(w);
        let (gamma0, start) = starting_point(&ctx, &design)?;
        let sel = fit_on(
            &data.revenue,
            &design,
            &ctx.cands,
            &all,
            &start,
            &gamma0,
            None,
        );
        if w == 0.0 {
            n_eff = effective_days(&ctx, &design, &sel);
        }
        fits.push((w, sel.fit.sse));
    }
    let best = fits
        .iter()
        .filter(|(_, sse)| sse.is_finite() && *sse > 0.0)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .copied()
        .ok_or(Error::Singular {
            what: "business baseline",
        })?;
    let searched = fits
        .into_iter()
        .map(|(w, sse)| (w, n_eff * (sse / best.1).ln()))
        .collect();
    Ok((best.0, searched))
}

/// The baseline's level (its piecewise-linear part on log revenue, [`calendar_design`]):
/// with [`BusinessOptions::level_selection`], the knot spacing among none, `4·k`, `2·k`
/// and `k` (`k` = [`BusinessOptions::knot_days`]) with the lowest
/// `n_eff·ln(SSE) + p·ln(n_eff)`, every model fitted with the channels' transforms chosen
/// (business revenue alone) and `n_eff` the days' effective number by the residuals of the
/// finest level (the same for every spacing, so that the sums of squares compare; the
/// coarser ones' residuals carry the drift they miss, which would shrink their own
/// `n_eff` and their penalty with it). The spacings are nested (a level with knots every
/// `2k` days is one with knots every `k`), so this is a likelihood-ratio comparison with
/// the week-like effective observation of the rest of the analysis. Off, or with
/// `knot_days` 0, the spacing is `knot_days` as given.
///
/// A level every 28 days (the default) is 26 columns over two years: it takes slow
/// movements of demand out of the channels' effects, and with them the slow part of
/// spend's own effect (budgets that step every 1–6 weeks, carried over for weeks): on the
/// `long_carryover` preset with the true transforms it left Google Ads and Meta 21% and
/// 19% low, and 8.8% and 10.6% without a level (README, "On the hard presets the business
/// level falls short"). Where demand drifts (the `drift` preset) the level is what keeps
/// the drift out of the channels. Measured in the README ("The level chosen by the
/// data").
fn choose_level(ctx: &Context<'_>) -> Result<Level> {
    let data = ctx.data;
    let o = ctx.options;
    let n = data.n();
    let k = o.knot_days;
    // A spacing whose design has no level column (too few days) is the same as none.
    let spacings: Vec<usize> = if o.level_selection && k > 0 {
        let mut s = vec![0];
        s.extend([4 * k, 2 * k, k].into_iter().filter(|&d| n > 2 * d));
        s
    } else {
        vec![k]
    };
    if spacings.len() == 1 {
        let (design, _) = calendar_design(data, o.fourier, k);
        return Ok(Level {
            design,
            knot_days: k,
            searched: Vec::new(),
        });
    }
    let all: Vec<usize> = (0..n).collect();
    let mut fits = Vec::with_capacity(spacings.len());
    for &d in &spacings {
        let (x, _) = calendar_design(data, o.fourier, d);
        let (gamma0, start) = starting_point(ctx, &x)?;
        let sel = fit_on(&data.revenue, &x, &ctx.cands, &all, &start, &gamma0, None);
        fits.push((d, x, sel));
    }
    // The days' effective number from the finest level's residuals.
    let (_, x_fine, fine) = fits.last().expect("at least two spacings");
    let n_eff = effective_days(ctx, x_fine, fine);
    let searched: Vec<(usize, f64)> = fits
        .iter()
        .map(|(d, x, sel)| {
            let sse = sel.fit.sse;
            let ic = if sse.is_finite() && sse > 0.0 {
                n_eff * sse.ln() + x.ncols() as f64 * n_eff.ln()
            } else {
                f64::INFINITY
            };
            (*d, ic)
        })
        .collect();
    let best = searched
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
        .map_or(0, |(i, _)| i);
    let (d, design, _) = fits.swap_remove(best);
    // Relative to the best, so that the figures read as the evidence against each.
    let floor = searched[best].1;
    let searched = searched
        .into_iter()
        .map(|(d, ic)| (d, ic - floor))
        .collect();
    Ok(Level {
        design,
        knot_days: d,
        searched,
    })
}

/// p-value below which the budgets' common movement enters the baseline (see
/// `common_movement_p`, and the module docs).
pub const COMMON_MOVEMENT_TEST_P: f64 = 0.001;

/// Whether the business's revenue shows the budgets' common movement: the model fitted
/// without it (`x`), then with its two columns added (`with`, the channels' transforms
/// kept), compared by a likelihood-ratio statistic on the days' effective number,
/// `n_eff·ln(SSE₀/SSE₁)`, against χ²₂. A demand shock that moves the budgets moves the
/// baseline with them and shows (p at most 0.0003 on the `latent` worlds, seeds 1–20, Q4
/// named); budgets that move together for no reason of demand
/// (`LatentShock::baseline_elasticity` 0) mostly do not (p below 0.001 in 3 of 20), and
/// controlling for them there only costs accuracy. The statistic on `n_eff` is liberal
/// here (p below 0.01 in 5 of those 20), hence the level of 0.001.
fn common_movement_p(ctx: &Context<'_>, x: &DMatrix<f64>, with: &DMatrix<f64>) -> Result<f64> {
    let data = ctx.data;
    let n = data.n();
    let (gamma0, start) = starting_point(ctx, x)?;
    let all: Vec<usize> = (0..n).collect();
    let without = fit_on(&data.revenue, x, &ctx.cands, &all, &start, &gamma0, None);
    let n_eff = effective_days(ctx, x, &without);
    let k = without.fit.gamma.len();
    let gamma1 = without
        .fit
        .gamma
        .clone()
        .insert_rows(k, with.ncols() - k, 0.0);
    let added = fit_fixed(&data.revenue, with, &ctx.cands, &without.chosen, &gamma1);
    let (sse0, sse1) = (without.fit.sse, added.fit.sse);
    if !(sse0.is_finite() && sse1.is_finite() && sse1 > 0.0) {
        return Ok(1.0);
    }
    let lr = (n_eff * (sse0 / sse1).ln()).max(0.0);
    let chi2 = ChiSquared::new((with.ncols() - k) as f64).map_err(|_| Error::Singular {
        what: "common-movement test",
    })?;
    Ok(1.0 - chi2.cdf(lr))
}

/// The calendar design with two more baseline columns: the budgets' common movement of
/// each day (the mean over the entities that spend of their relative log spend, 0 on a
/// day without spend) and the mean of those day values over the day and the three on
/// each side (fewer at the window's ends).
///
/// Unlike the platform level's, this control has no leave-one-out: there is one outcome
/// a day, so the day's common movement is built from the treatments themselves (an
/// equal-weighted mean of every campaign's log spend). The channels' effects are then
/// identified by how each channel's spend moves apart from that mean, and by the
/// functional forms (log-linear baseline, linear or saturating effects); a common
/// movement of the budgets that demand did not cause is credited to the baseline. The
/// gate decision is the full sample's; the bootstrap keeps it, so intervals are
/// conditional on it.
///
/// A demand shock that no column shows and that moves the budgets (the sandbox's
/// `latent` preset: an AR(1) shock with persistence 0.9 on the baseline and on every
/// budget) reaches the business's revenue through the baseline too, so every channel's
/// spend is credited with it. The budgets' mean movement is a proxy for the shock (the
/// cross-sectional average of Pesaran's common correlated effects); in the log-linear
/// baseline it takes the shock out of the channels' effects, which are then estimated
/// from how each channel's spend moves apart from the others'. Measured
/// (`business_coverage --seeds 20 --first-seed 1 --bootstrap 99 --presets latent
/// --calendar-config q4.toml`, the README's "Hidden demand"): see the module docs.
fn with_common_movement(
    x: DMatrix<f64>,
    data: &BusinessData,
    means: &BTreeMap<i32, f64>,
) -> DMatrix<f64> {
    let n = data.n();
    let day: Vec<f64> = data
        .dates
        .iter()
        .map(|d| means.get(d).copied().unwrap_or(0.0))
        .collect();
    let week: Vec<f64> = (0..n)
        .map(|t| {
            let days = t.saturating_sub(3)..(t + 4).min(n);
            let k = days.len() as f64;
            days.map(|i| day[i]).sum::<f64>() / k
        })
        .collect();
    let cols = x.ncols();
    let mut x = x.insert_columns(cols, 2, 0.0);
    for t in 0..n {
        x[(t, cols)] = day[t];
        x[(t, cols + 1)] = week[t];
    }
    x
}

/// A channel's transform evaluated on its days: per part (each campaign, or the channel's
/// daily total without campaigns) the adstocked spend and the Hill curve's `K`, and the
/// parts' sums of `f(a)` and `f′(a)·a` per day.
///
/// With campaigns each has its own curve, its half-saturation relative to its own mean
/// exposure over the days it spends (as the campaign-level search's curves are): a
/// channel's daily total is a sum of campaigns of different sizes, each saturating on its
/// own, which one curve of the total does not describe.
struct ChannelCurve {
    transform: ResponseTransform,
    /// Per part, the adstocked spend of each day.
    exposure: Vec<Vec<f64>>,
    /// Per part, the Hill curve's `K` (0 without saturation).
    k: Vec<f64>,
    /// `Σ_parts f(a)` per day.
    t: Vec<f64>,
    /// `Σ_parts f′(a)·a` per day.
    g: Vec<f64>,
    /// Mean exposure over the parts' spending days (all days for a channel's total).
    mean_exposure: f64,
    /// The return's factor of each day: `1 + weekend` on Saturdays and Sundays, else 1
    /// ([`BusinessOptions::weekend_return`]).
    day_factor: Vec<f64>,
}

impl ChannelCurve {
    fn new(data: &BusinessData, c: usize, transform: ResponseTransform, weekend: f64) -> Self {
        let n = data.n();
        let day_factor: Vec<f64> = data
            .dates
            .iter()
            .map(|&d| {
                if crate::prepare::weekday(d) >= 5 {
                    1.0 + weekend
                } else {
                    1.0
                }
            })
            .collect();
        let all = vec![(0..n).collect::<Vec<usize>>()];
        let campaigns = data.campaigns_of(c);
        let parts: Vec<(&[f64], bool)> = if campaigns.is_empty() {
            vec![(&data.spend[c], false)]
        } else {
            campaigns
                .iter()
                .map(|k| (k.spend.as_slice(), true))
                .collect()
        };
        let mut out = ChannelCurve {
            transform,
            exposure: Vec::with_capacity(parts.len()),
            k: Vec::with_capacity(parts.len()),
            t: vec![0.0; n],
            g: vec![0.0; n],
            mean_exposure: 0.0,
            day_factor,
        };
        let (mut exposure_sum, mut days) = (0.0, 0usize);
        for (w, spending_days_only) in parts {
            let a = crate::prepare::adstock(w, &all, None, transform.adstock_decay);
            // The channel's total: its mean over all days (as the search always had it);
            // a campaign: over the days it spends (its rows).
            let (sum, count) = if spending_days_only {
                a.iter()
                    .zip(w)
                    .filter(|(_, s)| **s > 0.0)
                    .fold((0.0, 0usize), |(m, k), (a, _)| (m + a, k + 1))
            } else {
                (a.iter().sum::<f64>(), n)
            };
            exposure_sum += sum;
            days += count;
            let mean = sum / count.max(1) as f64;
            let k = transform
                .saturation
                .map_or(0.0, |h| h.half_saturation * mean);
            for (i, &x) in a.iter().enumerate() {
                let f = out.day_factor[i];
                match transform.saturation {
                    None => {
                        out.t[i] += f * x;
                        out.g[i] += f * x;
                    }
                    Some(h) => {
                        out.t[i] += f * h.value(x, k);
                        out.g[i] += f * h.slope_times_exposure(x, k);
                    }
                }
            }
            out.exposure.push(a);
            out.k.push(k);
        }
        out.mean_exposure = exposure_sum / days.max(1) as f64;
        out
    }

    /// The channel's total adstocked spend of each day.
    fn total_exposure(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.t.len()];
        for a in &self.exposure {
            for (o, x) in out.iter_mut().zip(a) {
                *o += x;
            }
        }
        out
    }

    /// `Σ_parts f(scale·a)` over all days, each part's `K` fixed.
    fn scaled_total(&self, scale: f64) -> f64 {
        self.exposure
            .iter()
            .zip(&self.k)
            .map(|(a, &k)| {
                a.iter()
                    .zip(&self.day_factor)
                    .map(|(&x, &f)| {
                        let x = scale * x;
                        f * match self.transform.saturation {
                            None => x,
                            Some(h) => h.value(x, k),
                        }
                    })
                    .sum::<f64>()
            })
            .sum()
    }

    /// `Σ_parts f(a)` over `window` with the channel's spend there set to 0 (each part's
    /// `K` fixed by the observed exposure, as in the response curve).
    fn off_in_window(&self, data: &BusinessData, c: usize, window: &[usize]) -> f64 {
        let all = vec![(0..data.n()).collect::<Vec<usize>>()];
        let campaigns = data.campaigns_of(c);
        let spends: Vec<&[f64]> = if campaigns.is_empty() {
            vec![&data.spend[c]]
        } else {
            campaigns.iter().map(|k| k.spend.as_slice()).collect()
        };
        spends
            .iter()
            .zip(&self.k)
            .map(|(w, &k)| {
                let mut off_spend = w.to_vec();
                for &t in window {
                    off_spend[t] = 0.0;
                }
                let off =
                    crate::prepare::adstock(&off_spend, &all, None, self.transform.adstock_decay);
                window
                    .iter()
                    .map(|&t| {
                        self.day_factor[t]
                            * match self.transform.saturation {
                                None => off[t],
                                Some(h) => h.value(off[t], k),
                            }
                    })
                    .sum::<f64>()
            })
            .sum()
    }
}

/// One row of spend as a unified table gives it, for [`BusinessData::from_spend_rows`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpendRow<'a> {
    /// The day (days since 1970-01-01).
    pub date: i32,
    /// The channel.
    pub channel: &'a str,
    /// The campaign, when the table has campaigns.
    pub campaign: Option<&'a str>,
    /// Spend of the row.
    pub spend: f64,
    /// Platform-reported revenue of the row.
    pub platform_revenue: f64,
}

/// A lift test: a measured incremental revenue of one channel over a window of days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiftTest {
    /// The channel tested.
    pub channel: String,
    /// First day of the window (days since 1970-01-01).
    pub start: i32,
    /// Last day of the window.
    pub end: i32,
    /// Measured incremental revenue of the channel's spend over the window.
    #[serde(serialize_with = "finite")]
    pub incremental_revenue: f64,
    /// Its standard error.
    #[serde(serialize_with = "finite")]
    pub standard_error: f64,
}

/// Most bootstrap replicates [`BusinessOptions::validate`] accepts: each one refits every
/// channel's transform, so a typo (`--bootstrap 1000000000`) would run for days.
pub const MAX_BOOTSTRAP: usize = 10_000;

/// Options of the business-level analysis.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `response` | [`BusinessOptions::default_response`] | adstock, half-saturation and shape grids searched per channel (the decays extended beyond the longest for a channel whose data ask for it: see the module docs); curve scales | see [`ResponseOptions`] |
/// | `bootstrap` | 199 | moving-block bootstrap replicates | 20 to [`MAX_BOOTSTRAP`] |
/// | `block_days` | 14 | length of a bootstrap block, in days | 1..=n/4 |
/// | `fourier` | 6 | yearly Fourier harmonics in the baseline | 0..=12 |
/// | `knot_days` | 28 | spacing of the knots of a piecewise-linear level in the baseline, the finest searched when `level_selection` is on (0: none) | 0 or ≥ 7 |
/// | `level_selection` | false | the level's knot spacing chosen by the data among none, 4×, 2× and 1× `knot_days` (the [module](self) docs, "The level"); off, `knot_days` as given | bool |
/// | `weekend_return` | false | every channel's return changed on weekends by a factor the data choose from [`WEEKEND_RETURN_GRID`] (the same for every channel; the choice's own uncertainty is not in the intervals) | bool |
/// | `confidence_level` | 0.95 | level of every interval | (0, 1) |
/// | `collinearity` | 0.9 | correlation of two channels' transformed spend, beyond the calendar, above which they are reported as inseparable | (0, 1] |
/// | `seed` | 42 | seed of the bootstrap | any |
/// | `campaign_half_saturations` | 0.5, 0.75, 1, 1.5, 2, 4 | Hill half-saturations searched (× each campaign's mean exposure) for a channel whose campaigns are given ([`BusinessData::with_campaigns`]), when `response` searches saturation | each > 0 |
/// | `campaign_shapes` | 1, 1.5, 2, 2.5 | Hill shapes searched for such a channel | each > 0 |
/// | `non_negative` | true | spend cannot lower revenue: each channel's switch-off and marginal returns and response curve are reported at 0 or above, their intervals cut to `[0, ∞)`, with a warning where the data put an effect below 0 | bool |
/// | `common_spend` | true | when the campaigns' budgets move together more than the calendar explains ([`CommonSpend`]), the baseline controls for their common movement of each day and of the week around it (a demand shock no column shows); off, the check still runs and its warning says the effects may be overstated | bool |
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessOptions {
    /// Transform grids and curve scales.
    pub response: ResponseOptions,
    /// Bootstrap replicates.
    pub bootstrap: usize,
    /// Block length of the moving block bootstrap, in days.
    pub block_days: usize,
    /// Yearly Fourier harmonics of the baseline.
    pub fourier: usize,
    /// Spacing of the knots of the baseline's piecewise-linear level, in days (0: none);
    /// with `level_selection`, the finest spacing searched.
    pub knot_days: usize,
    /// Whether the level's knot spacing is chosen by the data (none, `4·knot_days`,
    /// `2·knot_days` or `knot_days`, by an information criterion on the days' effective
    /// number) rather than fixed at `knot_days`.
    pub level_selection: bool,
    /// Whether every channel's return may differ on weekends (Saturdays and Sundays), by
    /// one factor for all channels chosen by the data among [`WEEKEND_RETURN_GRID`]
    /// (lowest sum of squares of the whole model); off, the return is the same every day.
    pub weekend_return: bool,
    /// Level of every interval.
    pub confidence_level: f64,
    /// Correlation threshold of the "cannot separate" warning.
    pub collinearity: f64,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Hill half-saturations searched for a channel whose campaigns are given: finer than
    /// `response`'s, since the campaigns' own rows tell curves apart that one daily series
    /// cannot (decays, pins and curve scales are `response`'s).
    pub campaign_half_saturations: Vec<f64>,
    /// Hill shapes searched for a channel whose campaigns are given.
    pub campaign_shapes: Vec<f64>,
    /// Spend cannot lower revenue: every channel's effect (switch-off and marginal
    /// returns, response curve) is reported at 0 or above and its interval cut to
    /// `[0, ∞)` (see [`analyze_business`]).
    pub non_negative: bool,
    /// Control the baseline for the budgets' common movement when the common-spend check
    /// finds it (see [`analyze_business`]).
    pub common_spend: bool,
}

impl BusinessOptions {
    /// The transform grids of the business-level analysis: adstock 0, 0.2, …, 0.8;
    /// half-saturations 0.5, 1, 2, 4 (× mean exposure); shapes 1 and 2. Coarser than the
    /// panel's ([`ResponseOptions::default`]): one daily series cannot tell finer curves
    /// apart, and every candidate is re-selected in every bootstrap replicate.
    pub fn default_response() -> ResponseOptions {
        ResponseOptions {
            adstock_grid: vec![0.0, 0.2, 0.4, 0.6, 0.8],
            half_saturations: vec![0.5, 1.0, 2.0, 4.0],
            shapes: vec![1.0, 2.0],
            ..ResponseOptions::default()
        }
    }
}

impl BusinessOptions {
    /// The business-level transforms for a response choice made as for the panel (as
    /// `--response` and `--pin-curve` give it): [`BusinessOptions::default_response`]
    /// when saturation is searched, linear without carryover otherwise; its pinned curves
    /// kept.
    pub fn response_like(choice: &ResponseOptions) -> ResponseOptions {
        let grids = if choice.saturation {
            BusinessOptions::default_response()
        } else {
            ResponseOptions {
                adstock_grid: vec![0.0],
                ..ResponseOptions::linear()
            }
        };
        ResponseOptions {
            pinned: choice.pinned.clone(),
            ..grids
        }
    }
}

impl Default for BusinessOptions {
    fn default() -> Self {
        BusinessOptions {
            response: BusinessOptions::default_response(),
            bootstrap: 199,
            block_days: 14,
            fourier: 6,
            knot_days: 28,
            level_selection: false,
            weekend_return: false,
            confidence_level: 0.95,
            collinearity: 0.9,
            seed: 42,
            campaign_half_saturations: vec![0.5, 0.75, 1.0, 1.5, 2.0, 4.0],
            campaign_shapes: vec![1.0, 1.5, 2.0, 2.5],
            non_negative: true,
            common_spend: true,
        }
    }
}

impl BusinessOptions {
    liftos_core::setters! {
        /// Sets the number of bootstrap replicates.
        with_bootstrap(replicates: usize) => self.bootstrap = replicates;
        /// Sets the seed.
        with_seed(seed: u64);
        /// Sets the response grids.
        with_response(response: ResponseOptions);
    }

    /// Checks every option.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the first invalid option.
    pub fn validate(&self) -> Result<()> {
        self.response.validate()?;
        if !(20..=MAX_BOOTSTRAP).contains(&self.bootstrap) {
            return Err(Error::param(
                "business.bootstrap",
                self.bootstrap,
                format!("from 20 to {MAX_BOOTSTRAP}"),
            ));
        }
        if self.block_days == 0 {
            return Err(Error::param("business.block_days", 0, "at least 1"));
        }
        if self.knot_days != 0 && self.knot_days < 7 {
            return Err(Error::param(
                "business.knot_days",
                self.knot_days,
                "0 (no level) or at least 7",
            ));
        }
        if self.fourier > 12 {
            return Err(Error::param("business.fourier", self.fourier, "0..=12"));
        }
        if !(self.confidence_level > 0.0 && self.confidence_level < 1.0) {
            return Err(Error::param(
                "business.confidence_level",
                self.confidence_level,
                "in (0, 1)",
            ));
        }
        for (name, v) in [
            (
                "business.campaign_half_saturations",
                &self.campaign_half_saturations,
            ),
            ("business.campaign_shapes", &self.campaign_shapes),
        ] {
            if let Some(x) = v.iter().find(|x| !(**x > 0.0 && x.is_finite())) {
                return Err(Error::param(name, x, "finite values > 0"));
            }
            if v.is_empty() {
                return Err(Error::param(name, "[]", "at least one value"));
            }
        }
        if !(self.collinearity > 0.0 && self.collinearity <= 1.0) {
            return Err(Error::param(
                "business.collinearity",
                self.collinearity,
                "in (0, 1]",
            ));
        }
        Ok(())
    }
}

/// One lift test against the model, before and after calibration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationTest {
    /// The test.
    #[serde(flatten)]
    pub test: LiftTest,
    /// Channel spend over the test's window.
    #[serde(serialize_with = "finite")]
    pub spend: f64,
    /// The model's estimate of the same window's lift, before calibration.
    #[serde(serialize_with = "finite")]
    pub model_estimate: f64,
    /// Its standard error.
    #[serde(serialize_with = "finite")]
    pub model_std_err: f64,
}

/// A channel's switch-off return before and after calibration with lift tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibratedChannel {
    /// The channel.
    pub channel: String,
    /// Incremental return and interval before calibration.
    #[serde(serialize_with = "crate::json::roas_interval")]
    pub before: (f64, f64, f64),
    /// Incremental return and interval after calibration.
    #[serde(serialize_with = "crate::json::roas_interval")]
    pub after: (f64, f64, f64),
}

/// What calibration with lift tests did ([`BusinessResults::calibration`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationReport {
    /// Every test with the model's estimate of its window.
    pub tests: Vec<CalibrationTest>,
    /// Every channel's switch-off return, before and after.
    pub channels: Vec<CalibratedChannel>,
}

/// The results of the business-level analysis: the results schema of every estimator,
/// the outcome it used, the organic share of revenue, and the calibration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusinessResults {
    /// Per-channel switch-off and marginal returns with intervals, response curves and
    /// warnings (after calibration when lift tests were given).
    #[serde(flatten, serialize_with = "crate::json::business_results")]
    pub results: AttributionResults,
    /// Share of the business's revenue no channel caused, with its interval.
    #[serde(serialize_with = "crate::json::share")]
    pub baseline_share: Estimate,
    /// Calibration with lift tests (`None` without tests).
    pub calibration: Option<CalibrationReport>,
    /// Total business revenue over the window.
    #[serde(rename = "business_revenue", serialize_with = "finite")]
    pub revenue: f64,
    /// The common-spend check on the campaigns' budgets (`None` with fewer than four
    /// campaigns or channels that spend): whether the budgets move together more than
    /// the calendar explains, the trace of a demand shock no column shows.
    pub common_spend: Option<CommonSpend>,
}

impl BusinessResults {
    /// The results JSON: [`AttributionResults::to_json`] plus `outcome: "business"`
    /// (`outcome_column` keeps the column name), `business_revenue`, `baseline_share`
    /// (`estimate`, `std_err`, `ci_lower`, `ci_upper`) and `calibration` (`null` without
    /// lift tests; else `tests` and `channels`, each channel's `before` and `after` as
    /// `incremental_roas`, `ci_lower`, `ci_upper`) and `common_spend` (`null` without
    /// campaigns; else `variance_ratio`, `correlation`, `entities`, `controlled`: the
    /// hidden-demand check, [`CommonSpend`]). Non-finite numbers are `null`.
    ///
    /// This is `serde_json::to_value` of the business results' `Serialize`
    /// implementation, so the keys of every object come out sorted.
    pub fn to_json(&self) -> Value {
        // Every map key is a string and no serializer here fails, so this cannot fail.
        serde_json::to_value(self).expect("the business results serialize to a JSON value")
    }

    /// The channel called `name`.
    pub fn channel(&self, name: &str) -> Option<&ChannelEffect> {
        self.results.channel(name)
    }
}

/// The calendar design: one row per day.
fn calendar_design(
    data: &BusinessData,
    fourier: usize,
    knot_days: usize,
) -> (DMatrix<f64>, Vec<String>) {
    let n = data.n();
    let mut cols: Vec<(String, Vec<f64>)> = Vec::new();
    cols.push(("intercept".into(), vec![1.0; n]));
    let mid = (n as f64 - 1.0) / 2.0;
    cols.push((
        "trend".into(),
        (0..n).map(|t| (t as f64 - mid) / 365.25).collect(),
    ));
    // 1970-01-01 was a Thursday: weekday 0 = Monday.
    let weekday = |d: i32| (d + 3).rem_euclid(7);
    for w in 1..7 {
        cols.push((
            format!("weekday_{w}"),
            data.dates
                .iter()
                .map(|d| f64::from(u8::from(weekday(*d) == w)))
                .collect(),
        ));
    }
    for (name, flags) in &data.day_flags {
        if flags.iter().any(|f| *f) && flags.iter().any(|f| !*f) {
            cols.push((
                format!("day_{name}"),
                flags.iter().map(|f| f64::from(u8::from(*f))).collect(),
            ));
        }
    }
    // Fourier terms need about a year to be told apart from the trend.
    let harmonics = if n >= 300 { fourier } else { fourier.min(1) };
    for k in 1..=harmonics {
        let w = 2.0 * std::f64::consts::PI * k as f64 / 365.25;
        cols.push((
            format!("sin_{k}"),
            data.dates
                .iter()
                .map(|d| (w * f64::from(*d)).sin())
                .collect(),
        ));
        cols.push((
            format!("cos_{k}"),
            data.dates
                .iter()
                .map(|d| (w * f64::from(*d)).cos())
                .collect(),
        ));
    }
    // A piecewise-linear level on log revenue (hat functions every `knot_days` days):
    // slow movements of demand that the calendar does not name (a shopping season, a
    // good quarter) stay out of the channels' effects.
    if knot_days > 0 && n > 2 * knot_days {
        let k = knot_days as f64;
        let knots = (n - 1) / knot_days;
        for j in 1..=knots {
            let c = (j * knot_days) as f64;
            cols.push((
                format!("level_{j}"),
                (0..n)
                    .map(|t| (1.0 - (t as f64 - c).abs() / k).max(0.0))
                    .collect(),
            ));
        }
    }
    let names = cols.iter().map(|c| c.0.clone()).collect();
    let x = DMatrix::from_fn(n, cols.len(), |i, j| cols[j].1[i]);
    (x, names)
}

/// Relative eigenvalue of the Gram matrix below which a direction counts as collinear
/// (a singular value below 1e-7 of the largest).
const GRAM_TOL: f64 = 1e-14;

/// Least squares, minimum norm over near-collinear directions, on the Gram matrix `AᵀA`
/// (columns scaled to unit length). The matrices here are tall and narrow (days × a few
/// dozen columns), so one Gram product and a small solve cost a fraction of an SVD of
/// `A`: the SVD was three quarters of a business fit's time (perf, `business_coverage
/// --presets realistic`), and the intervals move by at most 0.01 (Klaviyo's on the linear
/// preset, seed 1). The Gram system is solved by a pivoted Cholesky factorization that
/// sets exactly collinear columns aside ([`gram_solve`]); only when what is left is
/// ill-conditioned does it fall back to the symmetric eigendecomposition
/// ([`eigen_solve`]), which was half of a business fit's time: in a bootstrap sample most
/// Gram matrices are singular (a holiday flag none of whose days were drawn, two flags
/// drawn on the same days only).
fn lstsq(a: &DMatrix<f64>, b: &DVector<f64>) -> Option<DVector<f64>> {
    // Columns on one scale first, so that a small column is not taken for a collinear one.
    let (a, norms) = unit_columns(a);
    let a = &a;
    // An explicit transpose: the product then goes through matrixmultiply's blocked gemm
    // (`tr_mul` takes one dot product per entry: 12.2 s a fit against 7.6 s).
    let at = a.transpose();
    let ata = &at * a;
    let atb = &at * b;
    let x = match gram_solve(&ata, &atb) {
        Some(x) => x,
        None => eigen_solve(ata, &atb)?,
    };
    in_column_units(x, &norms)
}

/// A solution found on unit columns ([`unit_columns`]) in the original columns' units:
/// each entry divided by its column's length; `None` unless every entry is finite.
fn in_column_units(mut x: DVector<f64>, norms: &[f64]) -> Option<DVector<f64>> {
    for (v, n) in x.iter_mut().zip(norms) {
        *v /= n;
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// A pivot of the Cholesky factorization (a column's squared distance from the span of
/// the columns before it, all of unit length) at or below which [`gram_solve`] takes the
/// column for a combination of the others. Exact collinearity leaves pivots of round-off
/// size (about 1e-16); the directions set aside have eigenvalues of at most
/// `(p − rank) · PIVOT_TOL`. In the narrow band between that and [`GRAM_TOL`] of the
/// largest eigenvalue, the eigendecomposition would keep a direction this drops and divide
/// by its near-zero eigenvalue: a difference only for columns collinear to about six
/// digits, where neither answer is to be trusted.
const PIVOT_TOL: f64 = 1e-13;

/// The smallest eigenvalue of the kept columns' Gram matrix, relative to its trace,
/// below which [`gram_solve`] leaves the system to [`eigen_solve`]. The estimate (four
/// steps of inverse iteration from a fixed vector, which a generic matrix does not leave
/// orthogonal to its smallest eigenvector) can only overstate the smallest eigenvalue,
/// so the bound stays well above [`PIVOT_TOL`].
const CHOLESKY_TOL: f64 = 1e-9;

/// The minimum-norm solution of `g x = h` (`g` a Gram matrix of unit columns, `h` in its
/// range) by Cholesky factorization with diagonal pivoting (LAPACK's `dpstrf`, unblocked):
/// the factorization stops where every remaining pivot is at most [`PIVOT_TOL`], which
/// leaves `L₁₁` over the independent columns and `L₂₁`; the basic solution solves
/// `L₁₁L₁₁ᵀ x₁ = h₁` (`x₂ = 0`) and is then projected off the null space
/// `N = [−L₁₁⁻ᵀL₂₁ᵀ; I]`, as the pseudo-inverse would give. `None` when the kept columns
/// are ill-conditioned ([`CHOLESKY_TOL`]) or nothing is finite.
fn gram_solve(g: &DMatrix<f64>, h: &DVector<f64>) -> Option<DVector<f64>> {
    let p = g.nrows();
    let max_diag = g.diagonal().iter().fold(0.0f64, |m, v| m.max(*v));
    if p == 0 || !(max_diag.is_finite() && max_diag > 0.0) {
        return None;
    }
    // `s` holds the Schur complement still to factor (whole, so that swaps stay simple),
    // `l` the factor's columns so far; `piv[k]` is the column in position k.
    let mut s = g.clone();
    let mut l = DMatrix::<f64>::zeros(p, p);
    let mut piv: Vec<usize> = (0..p).collect();
    let mut rank = p;
    for k in 0..p {
        let m = (k..p).max_by(|&i, &j| s[(i, i)].total_cmp(&s[(j, j)]))?;
        // A NaN pivot stops the factorization too.
        if s[(m, m)].is_nan() || s[(m, m)] <= PIVOT_TOL * max_diag {
            rank = k;
            break;
        }
        if m != k {
            s.swap_rows(k, m);
            s.swap_columns(k, m);
            l.swap_rows(k, m);
            piv.swap(k, m);
        }
        let pivot = s[(k, k)].sqrt();
        l[(k, k)] = pivot;
        for i in k + 1..p {
            l[(i, k)] = s[(i, k)] / pivot;
        }
        for j in k + 1..p {
            let ljk = l[(j, k)];
            if ljk != 0.0 {
                for i in k + 1..p {
                    s[(i, j)] -= l[(i, k)] * ljk;
                }
            }
        }
    }
    if rank == 0 {
        return None;
    }
    let l11 = l.view((0, 0), (rank, rank)).into_owned();
    let l21 = l.view((rank, 0), (p - rank, rank)).into_owned();
    let hp = DVector::from_iterator(p, piv.iter().map(|&k| h[k]));
    // Conditioning of the kept columns: inverse iteration with the factor.
    let trace: f64 = l11.iter().map(|v| v * v).sum();
    let solve = |v: &DVector<f64>| -> Option<DVector<f64>> {
        let y = l11.solve_lower_triangular(v)?;
        l11.tr_solve_lower_triangular(&y)
    };
    let mut v = DVector::from_fn(rank, |i, _| {
        1.0 + ((i as f64 + 1.0) * 0.618_033_988_7).fract()
    });
    v.unscale_mut(v.norm());
    let mut smallest = f64::INFINITY;
    for _ in 0..4 {
        let w = solve(&v)?;
        let norm = w.norm();
        if !(norm.is_finite() && norm > 0.0) {
            return None;
        }
        smallest = smallest.min(1.0 / norm);
        v = w.unscale(norm);
    }
    if smallest.is_nan() || smallest <= CHOLESKY_TOL * trace {
        return None;
    }
    let mut xp = DVector::zeros(p);
    xp.rows_mut(0, rank)
        .copy_from(&solve(&hp.rows(0, rank).into_owned())?);
    if rank < p {
        // N = [−L₁₁⁻ᵀ L₂₁ᵀ; I]; x ← x − N (NᵀN)⁻¹ Nᵀ x.
        let top = -l11.tr_solve_lower_triangular(&l21.transpose())?;
        let mut n = DMatrix::zeros(p, p - rank);
        n.view_mut((0, 0), (rank, p - rank)).copy_from(&top);
        n.view_mut((rank, 0), (p - rank, p - rank))
            .fill_with_identity();
        let ntx = n.tr_mul(&xp);
        let coef = (n.tr_mul(&n)).cholesky()?.solve(&ntx);
        xp -= &n * coef;
    }
    let mut x = DVector::zeros(p);
    for (i, &k) in piv.iter().enumerate() {
        x[k] = xp[i];
    }
    Some(x)
}

/// `ata⁺ atb`: the pseudo-inverse from the symmetric eigendecomposition, directions with
/// an eigenvalue below [`GRAM_TOL`] of the largest set to zero.
fn eigen_solve(ata: DMatrix<f64>, atb: &DVector<f64>) -> Option<DVector<f64>> {
    let eig = ata.symmetric_eigen();
    let max = eig.eigenvalues.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if !(max.is_finite() && max > 0.0) {
        return None;
    }
    let mut coef = eig.eigenvectors.tr_mul(atb);
    for (k, v) in coef.iter_mut().enumerate() {
        let l = eig.eigenvalues[k];
        *v = if l > GRAM_TOL * max { *v / l } else { 0.0 };
    }
    Some(&eig.eigenvectors * coef)
}

/// `a` with each column scaled to unit length, and the lengths (1 for a zero column).
fn unit_columns(a: &DMatrix<f64>) -> (DMatrix<f64>, Vec<f64>) {
    let mut a = a.clone();
    let mut norms = Vec::with_capacity(a.ncols());
    for mut col in a.column_iter_mut() {
        let n = col.norm();
        let n = if n > 0.0 && n.is_finite() { n } else { 1.0 };
        col.unscale_mut(n);
        norms.push(n);
    }
    (a, norms)
}

/// An orthonormal basis of the columns of `a` (thin QR, rank-revealing by dropping
/// columns whose diagonal is negligible). Householder QR, not the Gram eigenproblem of
/// [`lstsq`]: the basis decides which transform each bootstrap fit picks, and a Gram
/// basis (squared condition number) moved Klaviyo's interval by a fifth on the linear
/// preset.
fn basis(a: &DMatrix<f64>) -> DMatrix<f64> {
    let (q, diag) = qr_with_diag(a);
    let scale = diag.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let keep: Vec<usize> = (0..diag.len())
        .filter(|&j| diag[j].abs() > 1e-9 * scale.max(1e-300))
        .collect();
    q.select_columns(&keep)
}

/// The thin QR's `Q` of `a` and the diagonal of its `R` (no column dropped).
fn qr_with_diag(a: &DMatrix<f64>) -> (DMatrix<f64>, Vec<f64>) {
    if a.ncols() == 0 {
        return (a.clone(), Vec::new());
    }
    let qr = a.clone().qr();
    let r = qr.r();
    let diag = (0..r.ncols().min(r.nrows())).map(|j| r[(j, j)]).collect();
    (qr.q(), diag)
}

/// Residual of `v` after projection on the orthonormal `q`.
fn residualize(q: &DMatrix<f64>, v: &DVector<f64>) -> DVector<f64> {
    v - q * q.tr_mul(v)
}

/// One fit on a set of days: the baseline's γ and the channels' β.
#[derive(Debug, Clone)]
struct Fit {
    gamma: DVector<f64>,
    beta: Vec<f64>,
    sse: f64,
}

/// Least squares for `y = exp(Xγ) + Fβ`, from `gamma0` and β = 0: a Gauss–Newton step,
/// then Newton's steps, with Gauss–Newton's wherever Newton's gains nothing; each step's
/// length by halving until the sum of squares does not rise.
///
/// Gauss–Newton alone converges linearly here: the residuals are not small (revenue's
/// noise is a tenth of the baseline or more), and the term it leaves out of the Hessian,
/// `−Xᵀ diag(r ∘ exp(Xγ)) X`, is that fraction of the one it keeps. Newton's step from the
/// start fares worse: at β = 0 the residuals hold the channels' whole effect, and that term
/// points the wrong way (more steps, and another local minimum in some fits); the first
/// Gauss–Newton step puts β near its place. Measured with `business_coverage --seeds 2
/// --bootstrap 199 --presets realistic,carryover` (release): 45.9 s of CPU with
/// Gauss–Newton alone, 34.8 s so; the point estimates identical, the intervals' widths
/// within 3% (replicates stop at slightly different points).
fn gauss_newton(
    y: &DVector<f64>,
    x: &DMatrix<f64>,
    f: &DMatrix<f64>,
    gamma0: &DVector<f64>,
) -> Fit {
    let (n, p, c) = (y.len(), x.ncols(), f.ncols());
    let mut gamma = gamma0.clone();
    let mut beta = DVector::zeros(c);
    let sse_of = |g: &DVector<f64>, b: &DVector<f64>| -> f64 {
        let base = (x * g).map(f64::exp);
        (y - base - f * b).norm_squared()
    };
    let mut sse = sse_of(&gamma, &beta);
    for step_number in 0..40 {
        let base = (x * &gamma).map(f64::exp);
        let r = y - &base - f * &beta;
        // Column by column (the matrices are column-major).
        let mut j = DMatrix::zeros(n, p + c);
        for k in 0..p {
            j.set_column(k, &x.column(k).component_mul(&base));
        }
        j.columns_mut(p, c).copy_from(f);
        let mut improved = None;
        let newton = (step_number > 0)
            .then(|| newton_step(&j, x, &base, &r))
            .flatten();
        for step in [newton, None] {
            let Some(step) = step.or_else(|| lstsq(&j, &r)) else {
                break;
            };
            let mut t = 1.0;
            for _ in 0..20 {
                let g = &gamma + step.rows(0, p) * t;
                let b = &beta + step.rows(p, c) * t;
                let s = sse_of(&g, &b);
                if s.is_finite() && s <= improved.as_ref().map_or(sse, |(_, _, best)| *best) {
                    improved = Some((g, b, s));
                    break;
                }
                t /= 2.0;
            }
            if improved
                .as_ref()
                .is_some_and(|(_, _, s)| (sse - s) / sse.max(1e-300) > 1e-12)
            {
                break;
            }
        }
        let Some((g, b, s)) = improved else { break };
        let rel = (sse - s) / sse.max(1e-300);
        gamma = g;
        beta = b;
        sse = s;
        if rel <= 1e-12 {
            break;
        }
    }
    Fit {
        gamma,
        beta: beta.iter().copied().collect(),
        sse,
    }
}

/// Newton's step for [`gauss_newton`]'s sum of squares at the Jacobian `j = [diag(b)X, F]`
/// (`b = exp(Xγ)`) and residuals `r`: `H⁻¹ jᵀr` with `H = jᵀj − [Xᵀdiag(r∘b)X, 0; 0, 0]`,
/// solved on unit columns as [`lstsq`] solves Gauss–Newton's. `None` where [`gram_solve`]
/// finds the columns it keeps ill-conditioned. An `H` that is not positive definite stops
/// the pivoted factorization early (its negative pivots count as dependent columns), and
/// the step it gives may not descend: [`gauss_newton`]'s line search refuses it and takes
/// Gauss–Newton's.
fn newton_step(
    j: &DMatrix<f64>,
    x: &DMatrix<f64>,
    base: &DVector<f64>,
    r: &DVector<f64>,
) -> Option<DVector<f64>> {
    let p = x.ncols();
    let (ju, norms) = unit_columns(j);
    // `jᵀ ĵ` with ĵ = [diag(b − r)X, F] has H's blocks but the lower left (Fᵀdiag(b − r)X),
    // which is mended from the upper right: one product.
    let (n, q) = ju.shape();
    let mut jh = DMatrix::zeros(n, q);
    let shrunk = base - r;
    for (k, norm) in norms.iter().enumerate().take(p) {
        jh.set_column(k, &x.column(k).component_mul(&shrunk).unscale(*norm));
    }
    jh.columns_mut(p, q - p).copy_from(&ju.columns(p, q - p));
    let jt = ju.transpose();
    let mut h = &jt * &jh;
    for a in p..q {
        for b in 0..p {
            h[(a, b)] = h[(b, a)];
        }
    }
    let g = &jt * r;
    in_column_units(gram_solve(&h, &g)?, &norms)
}

/// The candidate transforms of one channel, evaluated on the observed days.
struct Candidates {
    transforms: Vec<ResponseTransform>,
    /// `f(s)` of each candidate, per day.
    values: Vec<Vec<f64>>,
    /// The campaign-level evidence against each candidate ([`campaign_excess`]; zeros
    /// without campaigns), added to the business revenue's own.
    penalty: Vec<f64>,
    /// Each candidate's sums for [`Context::quantities`], filled on first use: every
    /// bootstrap replicate that picks the candidate reuses them (their powers were 7% of a
    /// business fit's time).
    sums: Vec<OnceLock<CurveSums>>,
}

/// One candidate's curve summed over the observed days, per unit of β: `Σ f(a)`, the
/// marginal term `Σ a f′(a)`, and `Σ f(k·a)` at each response-curve scale `k`.
struct CurveSums {
    total: f64,
    marginal: f64,
    scaled: Vec<f64>,
}

/// What one fit (full sample or bootstrap replicate) chose and estimated.
#[derive(Debug, Clone)]
struct Selection {
    /// Index of each channel's transform among its candidates.
    chosen: Vec<usize>,
    fit: Fit,
}

/// The model, fitted on the days `idx` (with repeats in a bootstrap replicate). With
/// `n_eff` (the days' effective number), each channel's transform is chosen by the
/// business revenue's evidence and its campaigns' together ([`Candidates::penalty`]);
/// without, by the business revenue's alone.
#[allow(clippy::too_many_arguments)]
fn fit_on(
    y_all: &[f64],
    x_all: &DMatrix<f64>,
    cands: &[Candidates],
    idx: &[usize],
    start: &[usize],
    gamma0: &DVector<f64>,
    n_eff: Option<f64>,
) -> Selection {
    let n = idx.len();
    let y = DVector::from_iterator(n, idx.iter().map(|&i| y_all[i]));
    let x = x_all.select_rows(idx);
    let col =
        |c: usize, j: usize| DVector::from_iterator(n, idx.iter().map(|&i| cands[c].values[j][i]));
    let mut chosen = start.to_vec();
    let f_of = |chosen: &[usize]| {
        let mut f = DMatrix::zeros(n, cands.len());
        for (c, &j) in chosen.iter().enumerate() {
            f.set_column(c, &col(c, j));
        }
        f
    };
    let mut fit = gauss_newton(&y, &x, &f_of(&chosen), gamma0);
    // Every candidate of each channel on these days, one column each (gathered once).
    let all: Vec<DMatrix<f64>> = (0..cands.len())
        .map(|c| {
            let m = cands[c].values.len();
            DMatrix::from_fn(n, m, |i, j| cands[c].values[j][idx[i]])
        })
        .collect();
    let norms: Vec<Vec<f64>> = all
        .iter()
        .map(|m| m.column_iter().map(|c| c.norm_squared()).collect())
        .collect();
    for _pass in 0..2 {
        let scorer = Scorer::new(&y, &x, &fit, &all);
        let mut changed = false;
        for c in 0..cands.len() {
            let (rr, scores) = scorer.scores(c, &chosen, &norms[c]);
            // The campaign-level evidence in the business fit's units: a candidate's
            // excess is n_eff·(SSE_j − SSE_min)/SSE_min, so a penalty p costs
            // p·SSE_min/n_eff of the sum of squares.
            let top = scores
                .iter()
                .flatten()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            let unit = n_eff.map_or(0.0, |n| (rr - top).max(0.0) / n);
            let mut best = (f64::NEG_INFINITY, chosen[c]);
            for (j, score) in scores.into_iter().enumerate() {
                let pen = cands[c].penalty[j];
                if let Some(score) = score {
                    let score = if pen == 0.0 || !unit.is_finite() {
                        score
                    } else {
                        score - pen * unit
                    };
                    if score > best.0 {
                        best = (score, j);
                    }
                }
            }
            if best.1 != chosen[c] {
                chosen[c] = best.1;
                changed = true;
            }
        }
        // Unchanged, the fit is already this selection's.
        if !changed {
            break;
        }
        fit = gauss_newton(&y, &x, &f_of(&chosen), &fit.gamma);
    }
    Selection { chosen, fit }
}

/// [`fit_on`] all days, refusing a fit whose sum of squares is not finite.
fn fit_all_days(
    y: &[f64],
    x: &DMatrix<f64>,
    cands: &[Candidates],
    start: &[usize],
    gamma0: &DVector<f64>,
    n_eff: Option<f64>,
) -> Result<Selection> {
    let all: Vec<usize> = (0..y.len()).collect();
    let s = fit_on(y, x, cands, &all, start, gamma0, n_eff);
    if s.fit.sse.is_finite() {
        Ok(s)
    } else {
        Err(Error::Singular {
            what: "business baseline",
        })
    }
}

/// The model with every channel's transform fixed at `chosen`, fitted on all days.
fn fit_fixed(
    y_all: &[f64],
    x_all: &DMatrix<f64>,
    cands: &[Candidates],
    chosen: &[usize],
    gamma0: &DVector<f64>,
) -> Selection {
    let n = y_all.len();
    let y = DVector::from_column_slice(y_all);
    let f = DMatrix::from_fn(n, cands.len(), |i, c| cands[c].values[chosen[c]][i]);
    Selection {
        chosen: chosen.to_vec(),
        fit: gauss_newton(&y, x_all, &f, gamma0),
    }
}

/// Per channel, the residual sum of squares of every candidate transform on all days,
/// the other channels at `sel`'s transforms and the baseline linearised at its fit
/// (infinite for a candidate the others and the baseline already span): the profile the
/// plausible set is read from.
fn profile_losses(
    y_all: &[f64],
    x_all: &DMatrix<f64>,
    cands: &[Candidates],
    sel: &Selection,
) -> Vec<Vec<f64>> {
    let n = y_all.len();
    let y = DVector::from_column_slice(y_all);
    let all: Vec<DMatrix<f64>> = cands
        .iter()
        .map(|c| DMatrix::from_fn(n, c.values.len(), |i, j| c.values[j][i]))
        .collect();
    let scorer = Scorer::new(&y, x_all, &sel.fit, &all);
    (0..cands.len())
        .map(|c| {
            let norms: Vec<f64> = all[c].column_iter().map(|v| v.norm_squared()).collect();
            let (rr, scores) = scorer.scores(c, &sel.chosen, &norms);
            scores
                .into_iter()
                .map(|s| s.map_or(f64::INFINITY, |s| (rr - s).max(0.0)))
                .collect()
        })
        .collect()
}

/// One channel's plausible transforms: the candidates whose fit is not distinguishably
/// worse than the best one's, and how far each moves every reported quantity.
struct Plausible {
    /// Candidate indices, the chosen one first.
    members: Vec<usize>,
    /// Per member, its quantities minus the chosen transform's (the flattened
    /// [`Quantities`] followed by the lift tests' windows; zeros for the chosen one).
    deltas: Vec<Vec<f64>>,
}

/// One coordinate-descent pass's projections: the baseline's directions (linearised at
/// the current fit) and every candidate column of every channel projected on them.
///
/// A candidate's score needs only its column's products with the basis and with the
/// residual, so the candidates are not made orthogonal to the basis column by column: with
/// `Q` orthonormal, `‖(I − QQᵀ)f‖² = ‖f‖² − ‖Qᵀf‖²` and `f·(I − QQᵀ)ỹ = f·ỹ − (Qᵀf)·(Qᵀỹ)`.
/// That halved the pass's products and left each channel's scores a few dot products
/// (the scorer was 41% of a business fit's time). The differences lose digits only for a
/// column the basis nearly spans (relative to `‖f‖²`, about 1e-16 times the basis's
/// size), far below the 1e-12 at which a column counts as spanned.
struct Scorer<'a> {
    all: &'a [DMatrix<f64>],
    /// The baseline's directions (orthonormal) and the diagonal of their QR's `R`.
    qz: DMatrix<f64>,
    dz: Vec<f64>,
    /// `Qzᵀỹ`, and per channel `Qzᵀ F` and `Fᵀỹ` (ỹ: revenue less the baseline).
    cy: DVector<f64>,
    cf: Vec<DMatrix<f64>>,
    fy: Vec<DVector<f64>>,
    ytil: DVector<f64>,
}

impl<'a> Scorer<'a> {
    fn new(y: &DVector<f64>, x: &DMatrix<f64>, fit: &Fit, all: &'a [DMatrix<f64>]) -> Self {
        let n = y.len();
        let base = (x * &fit.gamma).map(f64::exp);
        let mut z = DMatrix::zeros(n, x.ncols());
        for i in 0..n {
            for k in 0..x.ncols() {
                z[(i, k)] = base[i] * x[(i, k)];
            }
        }
        let ytil = y - &base;
        // The baseline's directions once per pass; each channel then adds the other
        // channels' chosen columns made orthogonal to them. The same basis as one
        // Householder QR of the whole design, rank rule included (a direction is kept
        // when its length beyond the earlier ones exceeds 1e-9 of the design's largest),
        // at a quarter of the QRs, and every candidate projected at once (gemm).
        let (qz, dz) = qr_with_diag(&z);
        let qzt = qz.transpose();
        let cy = &qzt * &ytil;
        let cf: Vec<DMatrix<f64>> = all.iter().map(|m| &qzt * m).collect();
        let fy: Vec<DVector<f64>> = all.iter().map(|m| m.tr_mul(&ytil)).collect();
        Scorer {
            all,
            qz,
            dz,
            cy,
            cf,
            fy,
            ytil,
        }
    }

    /// For channel `c`, the other channels at `chosen`: the residual sum of squares
    /// without the channel, and per candidate the reduction its column brings
    /// (`(f·r)²/f·f` on the residuals; `None` for a column the others and the baseline
    /// already span). `norms` are the candidates' squared lengths.
    fn scores(&self, c: usize, chosen: &[usize], norms: &[f64]) -> (f64, Vec<Option<f64>>) {
        let n = self.ytil.len();
        let others: Vec<usize> = (0..self.all.len()).filter(|&o| o != c).collect();
        // The other channels' chosen columns, orthogonal to every baseline direction.
        let mut extra = DMatrix::zeros(n, others.len());
        for (k, &o) in others.iter().enumerate() {
            let j = chosen[o];
            extra.set_column(
                k,
                &(self.all[o].column(j) - &self.qz * self.cf[o].column(j)),
            );
        }
        let (qo, de) = qr_with_diag(&extra);
        let scale = self
            .dz
            .iter()
            .chain(&de)
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let threshold = 1e-9 * scale.max(1e-300);
        // Baseline directions below the rule are not projected out.
        let kept_z: Vec<usize> = (0..self.dz.len())
            .filter(|&k| self.dz[k].abs() > threshold)
            .collect();
        let kept: Vec<usize> = (0..de.len()).filter(|&k| de[k].abs() > threshold).collect();
        let qo = qo.select_columns(&kept);
        // `qo` is orthogonal to the baseline's directions: its products with a candidate
        // are those of the candidate's residual on them.
        let oy = qo.tr_mul(&self.ytil);
        let of = qo.tr_mul(&self.all[c]);
        let cy2: f64 = kept_z.iter().map(|&k| self.cy[k] * self.cy[k]).sum();
        let rr = self.ytil.norm_squared() - cy2 - oy.norm_squared();
        let cf = &self.cf[c];
        let scores = (0..cf.ncols())
            .zip(norms)
            .map(|(j, &raw)| {
                let (mut a2, mut ay) = (0.0, 0.0);
                for &k in &kept_z {
                    let a = cf[(k, j)];
                    a2 += a * a;
                    ay += a * self.cy[k];
                }
                let o = of.column(j);
                let ff = raw - a2 - o.norm_squared();
                let fr = self.fy[c][j] - ay - o.dot(&oy);
                (ff > 1e-12 * (1.0 + raw)).then(|| fr * fr / ff)
            })
            .collect();
        (rr, scores)
    }
}

/// Everything reported, from one fit, evaluated on the observed days.
#[derive(Debug, Clone)]
struct Quantities {
    lift: Vec<f64>,
    marginal: Vec<f64>,
    curve: Vec<Vec<f64>>,
    baseline_share: f64,
    /// Per lift test, the model's lift over the test's window.
    windows: Vec<f64>,
}

impl Quantities {
    fn flatten(&self) -> Vec<f64> {
        let mut v = Vec::new();
        v.extend(&self.lift);
        v.extend(&self.marginal);
        for c in &self.curve {
            v.extend(c);
        }
        v.push(self.baseline_share);
        v
    }
}

struct Context<'a> {
    data: &'a BusinessData,
    options: &'a BusinessOptions,
    cands: Vec<Candidates>,
    tests: Vec<(usize, LiftTest, Vec<usize>)>,
    total_revenue: f64,
    /// The weekend's change of every channel's return ([`ChannelCurve`]'s day factor).
    weekend: f64,
}

impl Context<'_> {
    fn evaluated(&self, c: usize, j: usize) -> ChannelCurve {
        ChannelCurve::new(self.data, c, self.cands[c].transforms[j], self.weekend)
    }

    fn quantities(&self, s: &Selection) -> Quantities {
        let mut q = Quantities {
            lift: Vec::new(),
            marginal: Vec::new(),
            curve: Vec::new(),
            baseline_share: 0.0,
            windows: Vec::new(),
        };
        for (c, &j) in s.chosen.iter().enumerate() {
            let beta = s.fit.beta[c];
            let sums = self.cands[c].sums[j].get_or_init(|| {
                let e = self.evaluated(c, j);
                CurveSums {
                    total: e.t.iter().sum(),
                    marginal: e.g.iter().sum(),
                    scaled: self
                        .options
                        .response
                        .curve_scales
                        .iter()
                        .map(|&k| e.scaled_total(k))
                        .collect(),
                }
            });
            let spend: f64 = self.data.spend[c].iter().sum();
            q.lift.push(beta * sums.total);
            q.marginal.push(beta * sums.marginal / spend);
            q.curve.push(sums.scaled.iter().map(|v| beta * v).collect());
        }
        q.baseline_share = 1.0 - q.lift.iter().sum::<f64>() / self.total_revenue;
        for (c, _, window) in &self.tests {
            let on = self.evaluated(*c, s.chosen[*c]);
            let off = on.off_in_window(self.data, *c, window);
            let on_sum: f64 = window.iter().map(|&t| on.t[t]).sum();
            q.windows.push(s.fit.beta[*c] * (on_sum - off));
        }
        q
    }
}

/// Moving-block bootstrap indices: blocks of `block` consecutive days from random starts,
/// concatenated to `n` days.
fn block_indices(n: usize, block: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let block = block.clamp(1, n);
    let mut idx = Vec::with_capacity(n);
    while idx.len() < n {
        let s = rng.random_range(0..=n - block);
        for t in s..s + block {
            if idx.len() < n {
                idx.push(t);
            }
        }
    }
    idx
}

/// Fits the business-level model and its bootstrap; calibrates with `tests` when given.
///
/// # Errors
///
/// [`Error::InvalidParameter`] for invalid options or a lift test naming an unknown
/// channel, a window outside the data, or a standard error ≤ 0;
/// [`Error::Singular`] when the baseline cannot be fitted.
///
/// A channel that spent on fewer days than a bootstrap block
/// ([`BusinessOptions::block_days`]; none at all, a one-day test, a channel launched
/// days before the window ends) is left out with a warning and an entry in
/// `diagnostics.not_estimated`, and its lift tests are set aside with a warning: a
/// daily series cannot tell its effect from the day's other causes, and the bootstrap
/// rarely draws the window's first and last days (a channel spending on the last day
/// only came out significant and wrong). Only when no channel is left is that an error.
pub fn analyze_business(
    data: &BusinessData,
    options: &BusinessOptions,
    tests: &[LiftTest],
) -> Result<BusinessResults> {
    options.validate()?;
    let sparse: Vec<(usize, usize)> = data
        .spend
        .iter()
        .map(|s| s.iter().filter(|x| **x > 0.0).count())
        .enumerate()
        .filter(|(_, days)| *days < options.block_days.max(2))
        .collect();
    if sparse.is_empty() {
        return analyze_business_channels(data, options, tests);
    }
    if sparse.len() == data.channels.len() {
        let (c, days) = sparse[0];
        return Err(Error::NoVariation {
            what: format!(
                "the spend of `{}` (above 0 on {days} day{} of {}; every channel spends on \
                 fewer than {} days)",
                data.channels[c],
                if days == 1 { "" } else { "s" },
                data.n(),
                options.block_days.max(2)
            ),
        });
    }
    let drop: Vec<usize> = sparse.iter().map(|(c, _)| *c).collect();
    let kept = data.without_channels(&drop);
    let left: Vec<&str> = drop.iter().map(|&c| data.channels[c].as_str()).collect();
    let (kept_tests, set_aside): (Vec<LiftTest>, Vec<LiftTest>) = tests
        .iter()
        .cloned()
        .partition(|t| !left.contains(&t.channel.as_str()));
    let mut r = analyze_business_channels(&kept, options, &kept_tests)?;
    let mut warnings = Vec::new();
    let mut not_estimated = Vec::new();
    for &(c, days) in &sparse {
        let name = &data.channels[c];
        let reason = format!(
            "its spend is above 0 on {days} day{} of {}, fewer than a bootstrap block ({} days)",
            if days == 1 { "" } else { "s" },
            data.n(),
            options.block_days.max(2)
        );
        warnings.push(format!(
            "Channel `{name}` could not be estimated and was left out: {reason}. The other \
             channels are estimated without it (its spend, if any, counts as part of the \
             baseline's noise); it needs more days with spend, or a lift test of its own."
        ));
        not_estimated.push(crate::results::NotEstimated {
            channel: name.clone(),
            rows: days,
            reason,
        });
    }
    for t in &set_aside {
        warnings.push(format!(
            "The lift test of `{}` ({} to {}) was set aside: the channel was left out.",
            t.channel,
            day_text(t.start),
            day_text(t.end)
        ));
    }
    r.results.diagnostics.warnings.splice(0..0, warnings);
    r.results.diagnostics.not_estimated = not_estimated;
    Ok(r)
}

/// How many combined standard errors a lift test may sit from the model's own estimate
/// of its window before a warning says the two disagree.
pub const CALIBRATION_CONFLICT_SE: f64 = 3.0;

/// A day (days since 1970-01-01) as `YYYY-MM-DD`.
fn day_text(day: i32) -> String {
    crate::prepare::civil(day).format("%Y-%m-%d").to_string()
}

/// Every channel's candidate transforms and their curves' values with the weekend's
/// change `weekend` of the return, and the campaigns' evidence on each.
fn candidates(data: &BusinessData, options: &BusinessOptions, weekend: f64) -> Vec<Candidates> {
    (0..data.channels.len())
        .map(|c| channel_candidates(data, options, weekend, c, &options.response.adstock_grid))
        .collect()
}

/// Channel `c`'s candidate transforms on the carryover decays `decays` (each with every
/// saturation curve of its grid), evaluated on the observed days, with the campaigns'
/// evidence. The candidates follow the decays' order, so decays appended to a list add
/// candidates after the existing ones.
fn channel_candidates(
    data: &BusinessData,
    options: &BusinessOptions,
    weekend: f64,
    c: usize,
    decays: &[f64],
) -> Candidates {
    let cv = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
        if m > 0.0 { var.sqrt() / m } else { 0.0 }
    };
    // Channels whose campaigns are given search the finer campaign grids when saturation
    // is searched at all.
    let campaign_grid = ResponseOptions {
        half_saturations: options.campaign_half_saturations.clone(),
        shapes: options.campaign_shapes.clone(),
        ..options.response.clone()
    };
    let channel = &data.channels[c];
    let pinned = options.response.pinned.contains_key(channel);
    // S-shaped curves whose typical day (mean exposure, x = 1/h) is still on the convex
    // part say that returns rise with spend; no account's data support that, and on a
    // single daily series they only add ways to fit noise.
    let grid = if options.response.saturation && !data.campaigns_of(c).is_empty() {
        &campaign_grid
    } else {
        &options.response
    };
    let transforms = grid
        .candidates_for(channel, decays)
        .into_iter()
        .filter(|t| match t.saturation {
            _ if pinned => true,
            None => true,
            Some(h) => {
                h.shape <= 1.0
                    || (1.0 / h.half_saturation).powf(h.shape) > (h.shape - 1.0) / (h.shape + 1.0)
            }
        });
    let mut kept: Vec<ResponseTransform> = Vec::new();
    let mut values: Vec<Vec<f64>> = Vec::new();
    for t in transforms {
        let e = ChannelCurve::new(data, c, t, weekend);
        // A curve that is flat over the observed spend (its relative variation under a
        // quarter of the exposure's) cannot be told from the baseline's level: its
        // switch-off return would be whatever the intercept leaves over. Judged
        // without the weekend's factor, whose own variation would let a flat curve
        // through as a weekly pattern the baseline's weekday terms already have.
        let unweighted: Vec<f64> = e.t.iter().zip(&e.day_factor).map(|(v, f)| v / f).collect();
        if t.saturation.is_some() && cv(&unweighted) < 0.25 * cv(&e.total_exposure()) {
            continue;
        }
        kept.push(t);
        values.push(e.t);
    }
    // The campaigns' evidence on the curve (none for a pinned channel).
    let penalty = match campaign_excess(data, c, &kept) {
        Some(excess) if !pinned => excess,
        _ => vec![0.0; kept.len()],
    };
    Candidates {
        sums: kept.iter().map(|_| OnceLock::new()).collect(),
        transforms: kept,
        values,
        penalty,
    }
}

/// [`analyze_business`] of every channel of `data`.
fn analyze_business_channels(
    data: &BusinessData,
    options: &BusinessOptions,
    tests: &[LiftTest],
) -> Result<BusinessResults> {
    let n = data.n();
    if options.block_days > n / 4 {
        return Err(Error::param(
            "business.block_days",
            options.block_days,
            format!("at most a quarter of the days ({})", n / 4),
        ));
    }
    let common = common_spend(data);
    let fired = common
        .as_ref()
        .is_some_and(|r| common_spend_fires(&r.check));
    options.response.check_pinned(&data.channels)?;
    let mut checked_tests = Vec::new();
    for t in tests {
        let c = data.find_channel(&t.channel, "lift_test.channel", &t.channel)?;
        let window: Vec<usize> = (0..n)
            .filter(|&i| data.dates[i] >= t.start && data.dates[i] <= t.end)
            .collect();
        if window.is_empty() || t.end < t.start {
            return Err(Error::param(
                "lift_test.window",
                format!("{} to {} (days since 1970-01-01)", t.start, t.end),
                "a window overlapping the data's days",
            ));
        }
        if !(t.standard_error > 0.0
            && t.standard_error <= crate::MAX_AMOUNT
            && t.incremental_revenue.abs() <= crate::MAX_AMOUNT)
        {
            return Err(Error::param(
                "lift_test.standard_error",
                format!(
                    "{:e} (incremental revenue {:e})",
                    t.standard_error, t.incremental_revenue
                ),
                "a standard error > 0 and an incremental revenue, each at most 1e18 in \
                 magnitude",
            ));
        }
        checked_tests.push((c, t.clone(), window));
    }
    let total_revenue: f64 = data.revenue.iter().sum();
    let (weekend, weekend_searched) = choose_weekend(data, options, &checked_tests)?;
    let mut ctx = Context {
        data,
        options,
        cands: candidates(data, options, weekend),
        tests: checked_tests,
        total_revenue,
        weekend,
    };
    let Level {
        design: mut x,
        knot_days,
        searched: knot_days_searched,
    } = choose_level(&ctx)?;
    // The budgets' common movement enters the baseline when the check finds it and the
    // revenue shows it.
    let mut common_p = None;
    if options.common_spend
        && fired
        && let Some(rel) = &common
    {
        // The test asks whether revenue moves with the budgets' movement within a
        // fortnight, what the check measured: with their whole movement it also found a
        // season the calendar did not name (13 of 20 budget-only worlds with the default
        // calendar). The control takes the whole movement (a persistent shock moves the
        // budgets' levels too; with the fast part alone the `latent` errors were 36 / 78%
        // for Google Ads / Meta instead of 12 / 19%).
        let fast = with_common_movement(x.clone(), data, &rel.day_means(&rel.fast));
        let p = common_movement_p(&ctx, &x, &fast)?;
        common_p = Some(p);
        if p < COMMON_MOVEMENT_TEST_P {
            x = with_common_movement(x, data, &rel.day_means(&rel.x));
        }
    }
    let controlled = common_p.is_some_and(|p| p < COMMON_MOVEMENT_TEST_P);
    let (gamma0, linear_start) = starting_point(&ctx, &x)?;
    let mut full = fit_all_days(&data.revenue, &x, &ctx.cands, &linear_start, &gamma0, None)?;
    // A channel whose data clearly prefer the longest decay searched to the one before
    // it searches longer ones too (each halving the distance to 1), up to
    // `DECAY_EXTENSION_STEPS` times: the profile still falling at the grid's edge says the
    // carryover lasts at least that long.
    let mut decays: Vec<Vec<f64>> =
        vec![options.response.adstock_grid.clone(); data.channels.len()];
    for _ in 0..DECAY_EXTENSION_STEPS {
        // The profiles only for channels that can search further.
        let at_edge: Vec<usize> = (0..data.channels.len())
            .filter(|&c| {
                !options.response.pinned.contains_key(&data.channels[c])
                    && at_longest_with_effect(
                        &decays[c],
                        &ctx.cands[c].transforms,
                        full.chosen[c],
                        full.fit.beta[c],
                    )
            })
            .collect();
        if at_edge.is_empty() {
            break;
        }
        let losses = profile_losses(&data.revenue, &x, &ctx.cands, &full);
        let n_eff = effective_days(&ctx, &x, &full);
        let mut grew = false;
        for c in at_edge {
            let channel_decays = &mut decays[c];
            if let Some(next) = longer_decay(
                channel_decays,
                &ctx.cands[c].transforms,
                &losses[c],
                full.chosen[c],
                full.fit.beta[c],
                n_eff,
            ) {
                channel_decays.push(next);
                ctx.cands[c] = channel_candidates(data, options, weekend, c, channel_decays);
                grew = true;
            }
        }
        if !grew {
            break;
        }
        full = fit_all_days(
            &data.revenue,
            &x,
            &ctx.cands,
            &full.chosen,
            &full.fit.gamma,
            None,
        )?;
    }
    // With campaigns, the estimate goes through the curves the business revenue and the
    // campaigns' platform revenue favour together (the days' effective number, from the
    // business revenue's fit alone, puts the two on one scale). The bootstrap re-selects
    // on the business revenue alone, and the intervals are widened by the curves it alone
    // cannot reject (`plausible_sets`): the campaigns choose the curve, not the width.
    if ctx
        .cands
        .iter()
        .any(|c| c.penalty.iter().any(|p| *p != 0.0))
    {
        let n_eff = effective_days(&ctx, &x, &full);
        full = fit_all_days(
            &data.revenue,
            &x,
            &ctx.cands,
            &full.chosen,
            &full.fit.gamma,
            Some(n_eff),
        )?;
    }
    let placebo = placebo_lead(&ctx, &x, &full, BUSINESS_PLACEBO_LEAD_DAYS);
    let point = ctx.quantities(&full);
    let replicates: Vec<(Quantities, Vec<usize>)> = (0..options.bootstrap)
        .into_par_iter()
        .map(|b| {
            let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
            rng.set_stream(b as u64 + 1);
            let idx = block_indices(n, options.block_days, &mut rng);
            let s = fit_on(
                &data.revenue,
                &x,
                &ctx.cands,
                &idx,
                &full.chosen,
                &full.fit.gamma,
                None,
            );
            (ctx.quantities(&s), s.chosen)
        })
        .collect();
    let z = Normal::new(0.0, 1.0)
        .map_err(|_| {
            Error::param(
                "business.confidence_level",
                options.confidence_level,
                "in (0, 1)",
            )
        })?
        .inverse_cdf(0.5 + options.confidence_level / 2.0);
    // Bootstrap covariance of every reported quantity (and the tested windows).
    let flat_point = point.flatten();
    let m = flat_point.len();
    let k = point.windows.len();
    let rows: Vec<Vec<f64>> = replicates
        .iter()
        .map(|(q, _)| {
            let mut v = q.flatten();
            v.extend(&q.windows);
            v
        })
        .collect();
    let b = rows.len() as f64;
    let dim = m + k;
    let means: Vec<f64> = (0..dim)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / b)
        .collect();
    let cov = DMatrix::from_fn(dim, dim, |i, j| {
        rows.iter()
            .map(|r| (r[i] - means[i]) * (r[j] - means[j]))
            .sum::<f64>()
            / (b - 1.0)
    });
    let plausible = plausible_sets(&ctx, &x, &full, &point, &cov, z)?;
    let mut est: Vec<f64> = flat_point.clone();
    let mut var: Vec<f64> = (0..m).map(|j| cov[(j, j)]).collect();
    let before_est = est.clone();
    let before_var = var.clone();
    let before_shift = shifts(&plausible, m, options.response.curve_scales.len(), None);
    let mut shift = before_shift.clone();
    let mut gain = None;
    let mut calibration = None;
    let mut conflict_warnings = Vec::new();
    // With `non_negative` (spend cannot lower revenue), every channel's reported effect is
    // its projection on [0, ∞): the estimate's maximum with 0, the interval intersected
    // with [0, ∞). For a true effect ≥ 0 neither moves further from the truth, so no
    // error grows and every interval that covered still covers; the standard errors and
    // the warnings' figures are the unconstrained fit's, and an effect reported at zero
    // has p = 1 (no evidence of a positive effect; the warning gives the fit's own).
    // (Robyn bounds paid media's coefficients at 0 inside its fit; Meridian's and
    // PyMC-Marketing's priors are positive.)
    let floor = |v: f64| {
        if options.non_negative && v < 0.0 {
            0.0
        } else {
            v
        }
    };
    if k > 0 {
        // Gaussian update with the measurements: gain = Σ_QW (Σ_WW + R)⁻¹.
        let s_qw = cov.view((0, m), (m, k)).into_owned();
        let mut s_ww = cov.view((m, m), (k, k)).into_owned();
        for (i, (_, t, _)) in ctx.tests.iter().enumerate() {
            s_ww[(i, i)] += t.standard_error * t.standard_error;
        }
        let inv = s_ww.clone().try_inverse().ok_or(Error::Singular {
            what: "calibration",
        })?;
        let innovation = DVector::from_iterator(
            k,
            ctx.tests
                .iter()
                .zip(&point.windows)
                .map(|((_, t, _), w)| t.incremental_revenue - w),
        );
        let k_gain = &s_qw * &inv;
        let update = &k_gain * innovation;
        let reduce = &k_gain * s_qw.transpose();
        for j in 0..m {
            est[j] += update[j];
            var[j] = (var[j] - reduce[(j, j)]).max(0.0);
        }
        // Each plausible transform calibrated the same way: the tests pull their windows
        // together, so the spread left is what the tests do not settle.
        shift = shifts(
            &plausible,
            m,
            options.response.curve_scales.len(),
            Some(&k_gain),
        );
        let tests_report: Vec<CalibrationTest> = ctx
            .tests
            .iter()
            .enumerate()
            .map(|(i, (c, t, window))| CalibrationTest {
                test: t.clone(),
                spend: window.iter().map(|&d| data.spend[*c][d]).sum(),
                model_estimate: floor(point.windows[i]),
                model_std_err: cov[(m + i, m + i)].sqrt(),
            })
            .collect();
        let channels = (0..data.channels.len())
            .map(|c| {
                let spend: f64 = data.spend[c].iter().sum();
                let iv = |e: f64, v: f64, (lo, hi): (f64, f64)| {
                    (
                        floor(e) / spend,
                        floor(e - z * v.sqrt() + lo) / spend,
                        floor(e + z * v.sqrt() + hi) / spend,
                    )
                };
                CalibratedChannel {
                    channel: data.channels[c].clone(),
                    before: iv(before_est[c], before_var[c], before_shift[c]),
                    after: iv(est[c], var[c], shift[c]),
                }
            })
            .collect();
        // A test far from what the data say (beyond 3 combined standard errors) is
        // still combined, as a measurement; but one of the two is likely wrong (the test's
        // window, its spend, its standard error, or the model), and the channels whose
        // spend moves with the tested one move with it.
        for t in &tests_report {
            let t: &CalibrationTest = t;
            let gap = t.test.incremental_revenue - t.model_estimate;
            let se = (t.test.standard_error.powi(2) + t.model_std_err.powi(2)).sqrt();
            if se > 0.0 && (gap / se).abs() > CALIBRATION_CONFLICT_SE {
                conflict_warnings.push(format!(
                    "The lift test of `{}` ({} to {}) measured {:.0} ± {:.0}, the data without \
                     it say {:.0} ± {:.0}: {:.1} standard errors apart. The calibration follows \
                     the test, and moves the channels whose spend moves with `{}` too; check the \
                     test (its window, spend and standard error) before trusting either.",
                    t.test.channel,
                    day_text(t.test.start),
                    day_text(t.test.end),
                    t.test.incremental_revenue,
                    t.test.standard_error,
                    t.model_estimate,
                    t.model_std_err,
                    (gap / se).abs(),
                    t.test.channel
                ));
            }
        }
        calibration = Some(CalibrationReport {
            tests: tests_report,
            channels,
        });
        gain = Some(k_gain);
    }
    let nc = data.channels.len();
    let scales = &options.response.curve_scales;
    let df = (n as f64 - x.ncols() as f64 - nc as f64).max(2.0);
    let mut channels = Vec::with_capacity(nc);
    let mut curve_warnings = Vec::new();
    let mut negative_warnings = Vec::new();
    // The lifts below zero that are reported as zero: the baseline's share takes them.
    let mut baseline_moved = 0.0;
    // Every interval: the bootstrap's through the chosen transforms, widened by how far the
    // plausible transforms move the estimate (the union of their intervals, as
    // `attribution::widen` does for the platform-level search).
    let interval = |i: usize| -> (f64, f64) {
        let sd = var[i].sqrt();
        (est[i] - z * sd + shift[i].0, est[i] + z * sd + shift[i].1)
    };
    let gain_ref = gain.as_ref();
    for c in 0..nc {
        let spend: f64 = data.spend[c].iter().sum();
        let lift = est[c];
        let sampling_se = var[c].sqrt();
        let (lo, hi) = interval(c);
        let (mlo, mhi) = interval(nc + c);
        // Standard error and p-value from the interval's side that faces zero, so that
        // p < 1 − level exactly when the interval excludes zero (as the platform-level
        // analysis reports them); an effect reported at zero has p = 1.
        let floored = options.non_negative && lift < 0.0;
        let se = sampling_se.max((lift - lo).max(hi - lift) / z);
        let toward_zero = (if lift >= 0.0 { lift - lo } else { hi - lift }) / z;
        let p_value = if floored {
            1.0
        } else if toward_zero > 0.0 {
            2.0 * (1.0 - Normal::standard().cdf((lift / toward_zero).abs()))
        } else if lift == 0.0 {
            1.0
        } else {
            0.0
        };
        // Sensitivity to hidden confounding of the effect through the chosen transform:
        // the curve's shape below today's spend widens the interval but is not confounding.
        let t_stat = lift / sampling_se;
        let j = full.chosen[c];
        let transform = ctx.cands[c].transforms[j];
        let e = ctx.evaluated(c, j);
        let curve_at = 2 * nc + c * scales.len();
        let response_curve = scales
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let (a, b) = interval(curve_at + i);
                CurvePoint {
                    scale: s,
                    spend: s * spend,
                    incremental_revenue: floor(est[curve_at + i]),
                    ci_lower: floor(a),
                    ci_upper: floor(b),
                }
            })
            .collect();
        // The plausible transforms' switch-off returns (calibrated like the estimate).
        let switch_off_range = plausible[c]
            .deltas
            .iter()
            .map(|d| (lift + calibrated(d, m, gain_ref)[c]) / spend)
            .fold((lift / spend, lift / spend), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        let saturated = replicates
            .iter()
            .filter(|(_, ch)| ctx.cands[c].transforms[ch[c]].saturation.is_some())
            .count();
        let saturating = transform.saturation.is_some() || saturated * 4 >= replicates.len();
        let favour = if saturating {
            format!(
                "the data favour a saturating curve ({} of {} bootstrap fits), so ",
                saturated,
                replicates.len()
            )
        } else {
            String::new()
        };
        if (lo > 0.0 || hi < 0.0 || mlo > 0.0)
            && switch_off_range.0 > 0.0
            && switch_off_range.1 > SWITCH_OFF_SPREAD_WARNING * switch_off_range.0
        {
            curve_warnings.push(format!(
                "`{}`: {}its switch-off return rests on the curve below today's spend, and the \
                 data cannot pin down the response below today's spend: curves that fit \
                 equally well put the switch-off return anywhere from {:.2} to {:.2} (the \
                 interval includes that range). The marginal return ({:.2}) is better \
                 determined; a lift test (the channel off for some weeks) settles the rest",
                data.channels[c],
                favour,
                switch_off_range.0,
                switch_off_range.1,
                floor(est[nc + c])
            ));
        } else if saturating {
            let mut sorted: Vec<f64> = replicates.iter().map(|(q, _)| q.lift[c] / spend).collect();
            sorted.sort_by(f64::total_cmp);
            let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
            curve_warnings.push(format!(
                "`{}`: {}its switch-off return rests on the curve below today's spend, which \
                 one daily series barely shows (bootstrap 5–95%: {:.2} to {:.2}); the marginal \
                 return is better determined. A lift test (the channel off for some weeks) \
                 settles it",
                data.channels[c],
                favour,
                floor(q(0.05)),
                floor(q(0.95))
            ));
        }
        // A decay at the longest searched: longer-lasting effects are not ruled out, and
        // through a decay chosen too short both returns come out low.
        let grid = &decays[c];
        let grid_top = grid.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if grid.len() >= 2
            && grid_top > 0.0
            && (transform.adstock_decay - grid_top).abs() < 1e-9
            && !options.response.pinned.contains_key(&data.channels[c])
            && (lo > 0.0 || mlo > 0.0)
        {
            curve_warnings.push(format!(
                "`{}`: its carryover decay came out at {:.2}, the longest searched: \
                 longer-lasting effects are not ruled out, and if the carryover lasts longer \
                 both its returns are understated ({LONG_CARRYOVER_EVIDENCE}). A curve \
                 known from elsewhere (`--pin-curve {}=θ`) or a lift test settles it",
                data.channels[c], transform.adstock_decay, data.channels[c]
            ));
        }
        // How to see the unconstrained fit, in every interface's words.
        const UNCONSTRAINED: &str = "`--allow-negative-effects`, `allow_negative_effects = \
             true` in `[business_outcome]` or `BusinessOptions::non_negative = false` report \
             the unconstrained fit";
        if floored {
            negative_warnings.push(format!(
                "`{}`: the data put its switch-off return below zero ({:.2}, interval {:.2} to \
                 {:.2}); spend cannot lower revenue, so it is reported as 0, the interval cut \
                 at zero and p = 1. An effect below zero is noise or a confounder the \
                 baseline does not hold, not a loss from advertising ({UNCONSTRAINED})",
                data.channels[c],
                lift / spend,
                lo / spend,
                hi / spend,
            ));
            baseline_moved += lift;
        } else if options.non_negative && est[nc + c] < 0.0 {
            negative_warnings.push(format!(
                "`{}`: the data put its marginal return below zero ({:.2}, interval {:.2} to \
                 {:.2}); spend cannot lower revenue, so it is reported as 0, the interval cut \
                 at zero ({UNCONSTRAINED})",
                data.channels[c],
                est[nc + c],
                mlo,
                mhi,
            ));
        }
        let mean_exposure = e.mean_exposure;
        let platform = data.platform_revenue[c];
        let (lift, lo, hi) = (floor(lift), floor(lo), floor(hi));
        channels.push(ChannelEffect {
            channel: data.channels[c].clone(),
            rows: n,
            spend,
            revenue_lift: lift,
            ci_lower: lo,
            ci_upper: hi,
            std_err: se,
            p_value,
            df: f64::INFINITY,
            incremental_roas: lift / spend,
            incremental_roas_ci_lower: lo / spend,
            incremental_roas_ci_upper: hi / spend,
            marginal_roas: floor(est[nc + c]),
            average_effect: if floored { 0.0 } else { full.fit.beta[c] },
            average_effect_std_err: f64::NAN,
            outcome_total: platform,
            naive_roas: platform / spend,
            long_run_roas: None,
            adstock_decay: Some(transform.adstock_decay),
            response: Some(ChannelResponse {
                transform,
                half_saturation_spend: transform
                    .saturation
                    .map(|h| h.half_saturation * mean_exposure),
                marginal_roas_ci_lower: floor(mlo),
                marginal_roas_ci_upper: floor(mhi),
                long_run_roas_ci_lower: None,
                long_run_roas_ci_upper: None,
                response_curve,
                // An effect reported at zero needs no confounder to reach zero.
                sensitivity: Sensitivity {
                    robustness_value: if floored {
                        0.0
                    } else {
                        robustness_value(t_stat, df, 0.0)
                    },
                    robustness_value_ci: if floored {
                        0.0
                    } else {
                        robustness_value(t_stat, df, z)
                    },
                    t_stat,
                },
                plausible_transforms: plausible[c].members.len(),
                switch_off_range: (floor(switch_off_range.0), floor(switch_off_range.1)),
            }),
        });
    }
    let mut warnings = separation_warnings(&ctx, &x, &full, options.collinearity);
    warnings.extend(conflict_warnings);
    warnings.extend(curve_warnings);
    warnings.extend(negative_warnings);
    if let Some(c) = common.as_ref().map(|r| r.check)
        && fired
        && (controlled || !options.common_spend)
    {
        // The check runs only with campaigns (`common_spend`), each a budget.
        warnings.push(format!(
            "The {} campaigns' budgets move together from one day to the next more than the calendar explains (common-spend ratio {:.1}, a correlation of {:.2}; about 1 and 0 when each budget moves on its own): something the data do not show, such as a demand shock, may be moving spend and the business's revenue together, and would be credited to every channel. {}",
            c.entities,
            c.variance_ratio,
            c.correlation,
            if options.common_spend {
                "The baseline controls for the budgets' common movement of each day and of the week around it, which takes such a shock out as far as the budgets follow it: the effects rest on how each channel's spend moves apart from the others'. If the budgets were instead raised and cut together on purpose (a sale, a new quarter's budget), the effect of that common movement goes to the baseline: the channels' effects are then understated and the organic share overstated. A holdout test (lift tests) settles which."
            } else {
                "The common-spend controls are switched off, so the channels' effects may include such a shock and be overstated; a holdout test (lift tests) settles it."
            }
        ));
    }
    let share_at = m - 1;
    // Channels' lifts reported as zero leave their (negative) part to the baseline, so
    // that the reported lifts and the baseline still add up to the revenue.
    let moved = baseline_moved / total_revenue;
    let share = est[share_at] + moved;
    // A share lies in [0, 1]: the interval is cut to that range (intersecting an interval
    // with the parameter's range keeps its coverage), yet never so as to exclude the
    // estimate itself (channels' lifts above the revenue put it below 0, a sign of a
    // misfit the reader should see rather than have clipped away).
    let (share_lo, share_hi) = interval(share_at);
    // The estimate moves down by the lifts reported as zero; the interval only widens
    // down to it (a shift would move an interval that covered off the truth).
    let share_lo = share_lo + moved;
    let (share_lo, share_hi) = (share_lo.max(share.min(0.0)), share_hi.min(share.max(1.0)));
    let share_se = var[share_at]
        .sqrt()
        .max((share - share_lo).max(share_hi - share) / z);
    let baseline_share = Estimate {
        name: "baseline_share".into(),
        estimate: share,
        std_err: share_se,
        ci_lower: share_lo,
        ci_upper: share_hi,
        p_value: f64::NAN,
        rows: n,
    };
    let mut results =
        AttributionResults::new("business_mmm", "business_revenue", "spend", n, options.seed)
            .with_confidence_level(options.confidence_level)
            .with_channels(channels)
            .with_average_effect(AverageEffect {
                estimate: f64::NAN,
                std_err: f64::NAN,
                ci_lower: f64::NAN,
                ci_upper: f64::NAN,
                p_value: f64::NAN,
                confidence_level: options.confidence_level,
                rows: n,
                clusters: 0,
                df,
            });
    if let Some(p) = &placebo
        && p.estimate < 0.0
        && p.p_value < BUSINESS_PLACEBO_WARNING_P.min(1.0 - options.confidence_level)
    {
        warnings.push(format!(
            "Placebo check failed: the business's revenue moves against the channels' spend {} days later (p = {:.4}). Future spend cannot cause past revenue: a demand the data do not show, moving the budgets and the revenue together, is the likely cause (or a carryover or curve the model does not capture), and the channels' effects then include it: likely overstated, the organic share understated. {}",
            BUSINESS_PLACEBO_LEAD_DAYS,
            p.p_value,
            if data.campaigns.iter().all(Vec::is_empty) {
                "With each channel's campaigns (the unified table's `campaign` column), the common-spend check can find such a shock and the baseline control for it; a holdout test (lift tests) settles it."
            } else {
                "A holdout test (lift tests) settles it."
            }
        ));
    }
    results.diagnostics.warnings = warnings;
    results.diagnostics.placebo = placebo;
    results.row_index = Some(RowIndex {
        date: data.dates.clone(),
        channel: vec!["business".into(); n],
        entity: vec![String::new(); n],
        treatment: (0..n)
            .map(|t| data.spend.iter().map(|s| s[t]).sum())
            .collect(),
        outcome: data.revenue.clone(),
    });
    results.settings = vec![
        ("outcome".into(), "business".into()),
        ("bootstrap".into(), options.bootstrap.to_string()),
        ("block_days".into(), options.block_days.to_string()),
        ("fourier".into(), options.fourier.to_string()),
        ("knot_days".into(), knot_days.to_string()),
        ("lift_tests".into(), tests.len().to_string()),
        ("non_negative".into(), options.non_negative.to_string()),
        ("common_spend".into(), options.common_spend.to_string()),
        (
            "common_spend_p".into(),
            common_p.map_or_else(String::new, |p| format!("{p:.4}")),
        ),
    ];
    if !weekend_searched.is_empty() {
        results
            .settings
            .push(("weekend_return".into(), format!("{weekend:+.2}")));
        results.settings.push((
            "weekend_return_searched".into(),
            weekend_searched
                .iter()
                .map(|(w, ic)| format!("{w:+.1} ({ic:.1})"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    // The decays searched beyond the grid, per channel that asked for them.
    let grid_len = options.response.adstock_grid.len();
    let added: Vec<String> = decays
        .iter()
        .enumerate()
        .filter(|(_, d)| d.len() > grid_len)
        .map(|(c, d)| {
            let more: Vec<String> = d[grid_len..].iter().map(|v| format!("{v}")).collect();
            format!("{} {}", data.channels[c], more.join(" "))
        })
        .collect();
    if !added.is_empty() {
        results
            .settings
            .push(("adstock_decays_added".into(), added.join("; ")));
    }
    if !knot_days_searched.is_empty() {
        results.settings.push((
            "knot_days_searched".into(),
            knot_days_searched
                .iter()
                .map(|(d, ic)| format!("{d} ({ic:.1})"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    results.settings.extend(options.response.pinned_setting());
    // The named days and seasons the baseline has a flag for (a name whose days are all
    // or none of the window's has none), so that a reader can check that the business's
    // own peaks are among them.
    let named: Vec<&str> = data
        .day_flags
        .iter()
        .filter(|(_, f)| f.iter().any(|v| *v) && f.iter().any(|v| !*v))
        .map(|(name, _)| name.as_str())
        .collect();
    results
        .settings
        .push(("baseline_days".into(), named.join("; ")));
    Ok(BusinessResults {
        results,
        baseline_share,
        calibration,
        revenue: total_revenue,
        common_spend: common.map(|r| CommonSpend {
            controlled,
            ..r.check
        }),
    })
}

/// Per channel, the plausible transforms and how far each moves every reported quantity.
///
/// One daily series shows the response around today's spend, not below it: many curves
/// fit almost equally well and extrapolate to zero differently, and the bootstrap, which
/// re-selects around the full sample's choice, does not cover that spread (the switch-off
/// return's coverage was 0.80–0.90 on the saturation preset). As in the platform-level
/// search ([`crate::response`]), the plausible set is a likelihood-ratio-type set with the
/// days' effective number for autocorrelated residuals ([`effective_days`]):
/// `n_eff·(SSE_j − SSE_min)/SSE_min ≤ χ²₁(level)`, each candidate `j` of the channel
/// profiled with the other channels at their chosen transforms. Each member is then refitted
/// on all days (baseline and every β) and its quantities taken. With lift tests, a member
/// whose window lift is further than `z` standard errors (test and model together) from a
/// test of its channel is not plausible.
///
/// With campaigns ([`BusinessData::with_campaigns`]) the set is still the business
/// revenue's alone, around the transforms chosen with the campaigns' help: with their
/// statistic in the set too, the linear presets' intervals came from β's bootstrap alone
/// and under-covered ([`campaign_excess`]).
///
/// The point estimates stay those of the best-fitting transforms. Estimating through the
/// plausible transform whose switch-off lift is the set's likelihood-weighted median (the
/// platform-level search's representative) was tried: on seeds 1–20 it cut the saturation
/// preset's switch-off errors (Google Ads 41% → 37%, Meta 73% → 64%) but Google Ads'
/// coverage on the carryover preset fell from 0.90 to 0.85, the spillover preset's Klaviyo
/// error rose from 32% to 36%, and the realistic preset's marginal errors rose (Google Ads
/// 28% → 34%).
fn plausible_sets(
    ctx: &Context<'_>,
    x: &DMatrix<f64>,
    full: &Selection,
    point: &Quantities,
    cov: &DMatrix<f64>,
    z: f64,
) -> Result<Vec<Plausible>> {
    let data = ctx.data;
    let level = ctx.options.confidence_level;
    let losses = profile_losses(&data.revenue, x, &ctx.cands, full);
    let n_eff = effective_days(ctx, x, full);
    let crit = ChiSquared::new(1.0)
        .map_err(|e| Error::param("business.confidence_level", e, "a valid level"))?
        .inverse_cdf(level);
    let mut flat = point.flatten();
    flat.extend(&point.windows);
    let m = flat.len() - point.windows.len();
    let jobs: Vec<(usize, usize)> = losses
        .iter()
        .enumerate()
        .flat_map(|(c, loss)| {
            let min = loss.iter().copied().fold(f64::INFINITY, f64::min);
            let chosen = full.chosen[c];
            // The business revenue's evidence plus the campaigns' (zero without them).
            loss.iter()
                .enumerate()
                .filter(move |&(j, l)| {
                    j != chosen
                        && l.is_finite()
                        && crate::response::likelihood_excess(n_eff, *l, min) <= crit
                })
                .map(move |(j, _)| (c, j))
        })
        .collect();
    let deltas: Vec<(usize, usize, Vec<f64>)> = jobs
        .into_par_iter()
        .map(|(c, j)| {
            let mut chosen = full.chosen.clone();
            chosen[c] = j;
            let sel = fit_fixed(&data.revenue, x, &ctx.cands, &chosen, &full.fit.gamma);
            let q = ctx.quantities(&sel);
            let mut v = q.flatten();
            v.extend(&q.windows);
            let d: Vec<f64> = v.iter().zip(&flat).map(|(a, b)| a - b).collect();
            (c, j, d)
        })
        .collect();
    let mut out: Vec<Plausible> = full
        .chosen
        .iter()
        .map(|&j| Plausible {
            members: vec![j],
            deltas: vec![vec![0.0; flat.len()]],
        })
        .collect();
    for (c, j, d) in deltas {
        if !d.iter().all(|v| v.is_finite()) {
            continue;
        }
        let consistent = ctx
            .tests
            .iter()
            .enumerate()
            .filter(|(_, (tc, _, _))| *tc == c)
            .all(|(i, (_, t, _))| {
                let w = point.windows[i] + d[m + i];
                let sd = (t.standard_error.powi(2) + cov[(m + i, m + i)]).sqrt();
                (w - t.incremental_revenue).abs() <= z * sd
            });
        if consistent {
            out[c].members.push(j);
            out[c].deltas.push(d);
        }
    }
    Ok(out)
}

/// What a carryover decay chosen at the longest searched has meant, measured: the
/// business-level warning quotes it. Seeds 1–10 of the sandbox's `long_carryover` preset
/// (true decays 0.8–0.92, linear response; `business_coverage --seeds 10 --bootstrap 99
/// --presets long_carryover --per-world`, release build, 2026-12-07, the decays extended
/// beyond the grid where the data ask: the warned channels are those still at their
/// longest searched).
const LONG_CARRYOVER_EVIDENCE: &str = "on simulated worlds with true decays of 0.8–0.92, \
     the 7 channels with an effect warned of had switch-off returns 27% below the truth \
     on average, 35% at worst, and intervals covering the truth in 3 of 7";

/// The effective number of independent days in the full fit's residuals: `n` over the
/// long-run variance ratio `1 + 2·Σ_k (1 − k/(L+1))·ρ_k` (Bartlett weights, lags up to the
/// bootstrap's block length `L`), at least 2 and at most `n`.
///
/// The platform-level search counts calendar weeks; here the baseline (weekday, named
/// days, Fourier terms, a level every 28 days) takes up the slow movements, and the
/// residuals' lag-1 autocorrelation was 0.02–0.18 on the sandbox's presets (730 days):
/// counting weeks (105) made 12–35 of a channel's 35 candidates plausible and doubled the
/// marginal return's interval on the saturation preset (0.68 → 1.19 × the truth, median of
/// 20 seeds) with every switch-off interval covering.
/// Days ahead of the business-level placebo's spend: today's revenue against every
/// channel's spend this many days later, beyond the fitted model (`diagnostics.placebo`).
pub const BUSINESS_PLACEBO_LEAD_DAYS: usize = 7;

/// p-value below which a *negative* business-level placebo warns: revenue moving against
/// the spend of a week later.
///
/// A demand the data do not show, moving the budgets and the revenue together, is
/// credited to the channels; the revenue the fit leaves then moves against spend's own
/// variation, which next week's spend shares. Measured on the sandbox's daily channel
/// totals (`business_coverage --channel-totals --per-world`, seeds 1–10 of each preset,
/// release, 2026-12-06): on `latent` (an AR(1) demand shock moving every budget) the
/// placebo was negative with p < 0.001 in 7 worlds of 10 (p < 0.01 in 8), where the
/// channels' switch-off returns were 48–200% off and the zero-effect channel significant
/// in 9; on the six presets without hidden demand, in 1 world of 60 (p < 0.01: 5). Over
/// seeds 1–20: 13 `latent` worlds of 20 warned (every estimate negative, p < 0.01 in 18),
/// and 2 of the other 120, both `carryover` worlds where the chosen carryover of a channel
/// was off and the zero-effect channel's return came out above 0.4.
pub const BUSINESS_PLACEBO_WARNING_P: f64 = 0.001;

/// The business-level placebo: today's revenue against every channel's spend `lead` days
/// ahead (each through its chosen transform, summed), beyond the fitted model (the
/// channels' transforms kept, the baseline refitted), on the days that have a lead. Future
/// spend cannot cause today's revenue; an effect says that something the model does not
/// hold moves both. The statistic is the likelihood ratio on the days' effective number
/// (as for the common movement's test) against χ²₁; the interval is the estimate ± its
/// standard error from that statistic. `None` with fewer than 8 weeks of such days or a
/// fit that fails.
fn placebo_lead(
    ctx: &Context<'_>,
    x: &DMatrix<f64>,
    full: &Selection,
    lead: usize,
) -> Option<Estimate> {
    let data = ctx.data;
    let n = data.n();
    if n < lead + 56 {
        return None;
    }
    let m = n - lead;
    let rows: Vec<usize> = (0..m).collect();
    let y = DVector::from_column_slice(&data.revenue[..m]);
    let xs = x.select_rows(&rows);
    let c = ctx.cands.len();
    let value = |k: usize, i: usize| ctx.cands[k].values[full.chosen[k]][i];
    let without = DMatrix::from_fn(m, c, |i, k| value(k, i));
    let with = DMatrix::from_fn(m, c + 1, |i, k| {
        if k < c {
            value(k, i)
        } else {
            (0..c).map(|j| value(j, i + lead)).sum()
        }
    });
    let fit0 = gauss_newton(&y, &xs, &without, &full.fit.gamma);
    let fit1 = gauss_newton(&y, &xs, &with, &fit0.gamma);
    if !(fit0.sse.is_finite() && fit1.sse.is_finite() && fit1.sse > 0.0) {
        return None;
    }
    let n_eff = effective_days(ctx, x, full) * m as f64 / n as f64;
    let lr = (n_eff * (fit0.sse / fit1.sse).ln()).max(0.0);
    let p_value = 1.0 - ChiSquared::new(1.0).ok()?.cdf(lr);
    let estimate = fit1.beta[c];
    let std_err = if lr > 0.0 {
        estimate.abs() / lr.sqrt()
    } else {
        f64::INFINITY
    };
    let z = Normal::standard().inverse_cdf(0.5 + ctx.options.confidence_level / 2.0);
    Some(Estimate {
        name: format!("placebo_lead_{lead}"),
        estimate,
        std_err,
        ci_lower: estimate - z * std_err,
        ci_upper: estimate + z * std_err,
        p_value,
        rows: m,
    })
}

/// How many times a channel's decays may be extended beyond the grid's longest.
const DECAY_EXTENSION_STEPS: usize = 2;

/// The evidence (`n_eff·ln(SSE_before/SSE_longest)`, the profile's best fit at the
/// second-longest decay against the longest) above which a channel searches a longer
/// decay. Not χ²'s 3.84: the days' effective number does not take all of the slow
/// noise's dependence out, and a channel without effect fitting the baseline's slow
/// wanderings prefers long decays too. Measured on the sandbox (`business_coverage`,
/// seeds 1–10 of `long_carryover`, `pulsing`, `carryover`, `realistic` and
/// `saturation`, 20 replicates): the zero-effect channel came out at the longest decay
/// searched in 32 searches, with this evidence above 3.84 in 16 of them and above 15 in
/// 2 (23 and 29); on `long_carryover` (true decays 0.8–0.92) Google Ads and Meta showed
/// 17–329 at the grid's longest in every world, Klaviyo 8–26.
const DECAY_EXTENSION_EVIDENCE: f64 = 15.0;

/// The decay to add to a channel's `decays` (`1 − (1 − longest)/2`), when it shows an
/// effect (`beta > 0`) at the longest decay searched (`chosen`, among `transforms`) and
/// the channel's profile (`losses`: its sum of squares at each candidate, the others
/// held) prefers the longest decay to the one before it by more than
/// [`DECAY_EXTENSION_EVIDENCE`].
fn longer_decay(
    decays: &[f64],
    transforms: &[ResponseTransform],
    losses: &[f64],
    chosen: usize,
    beta: f64,
    n_eff: f64,
) -> Option<f64> {
    if !at_longest_with_effect(decays, transforms, chosen, beta) {
        return None;
    }
    let mut sorted = decays.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (&top, rest) = sorted.split_last()?;
    let &before = rest.last()?;
    let best_at = |d: f64| {
        transforms
            .iter()
            .zip(losses)
            .filter(|(t, _)| (t.adstock_decay - d).abs() < 1e-9)
            .map(|(_, &l)| l)
            .fold(f64::INFINITY, f64::min)
    };
    let (at_top, at_before) = (best_at(top), best_at(before));
    let evidence = n_eff * (at_before / at_top).ln();
    (at_top > 0.0 && evidence.is_finite() && evidence > DECAY_EXTENSION_EVIDENCE)
        .then(|| 1.0 - (1.0 - top) / 2.0)
}

/// Whether a channel shows an effect (`beta > 0`) at the longest of its decays (> 0, and
/// not its only one), the candidate `chosen` among `transforms`: what [`longer_decay`]
/// needs before it reads the profile.
fn at_longest_with_effect(
    decays: &[f64],
    transforms: &[ResponseTransform],
    chosen: usize,
    beta: f64,
) -> bool {
    let top = decays.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    decays.len() >= 2
        && beta > 0.0
        && top > 0.0
        && transforms
            .get(chosen)
            .is_some_and(|t| (t.adstock_decay - top).abs() <= 1e-9)
}

fn effective_days(ctx: &Context<'_>, x: &DMatrix<f64>, full: &Selection) -> f64 {
    let data = ctx.data;
    let n = data.n();
    let y = DVector::from_column_slice(&data.revenue);
    let f = DMatrix::from_fn(n, ctx.cands.len(), |i, c| {
        ctx.cands[c].values[full.chosen[c]][i]
    });
    let r =
        &y - (x * &full.fit.gamma).map(f64::exp) - f * DVector::from_column_slice(&full.fit.beta);
    let ratio = long_run_ratio(&r, ctx.options.block_days);
    (n as f64 / ratio).clamp(2.0, n as f64)
}

/// For each of the `m` reported quantities, how far the plausible transforms move it:
/// (most negative, most positive), 0 included. A channel's own quantities (switch-off
/// lift, marginal return, curve) move with its own plausible transforms; the baseline
/// share, which every channel's lift enters, with each channel's in turn, summed. (Summing
/// every channel's moves for every quantity was tried first: on 20 saturation seeds it
/// doubled the marginal return's interval width and made no channel significant.) With
/// `gain` (the calibration's `Σ_QW (Σ_WW + R)⁻¹`), each member's move is calibrated like
/// the estimate: `Δq − gain·Δw`.
fn shifts(
    plausible: &[Plausible],
    m: usize,
    scales: usize,
    gain: Option<&DMatrix<f64>>,
) -> Vec<(f64, f64)> {
    let nc = plausible.len();
    // The channel whose transforms move quantity i (`None`: all, summed).
    let owner = |i: usize| -> Option<usize> {
        if i < nc {
            Some(i)
        } else if i < 2 * nc {
            Some(i - nc)
        } else if i < 2 * nc + nc * scales {
            Some((i - 2 * nc) / scales.max(1))
        } else {
            None
        }
    };
    let mut out = vec![(0.0f64, 0.0f64); m];
    for (c, p) in plausible.iter().enumerate() {
        let mut lo = vec![0.0f64; m];
        let mut hi = vec![0.0f64; m];
        for d in &p.deltas {
            let moved = calibrated(d, m, gain);
            for i in 0..m {
                lo[i] = lo[i].min(moved[i]);
                hi[i] = hi[i].max(moved[i]);
            }
        }
        for i in (0..m).filter(|&i| owner(i).is_none_or(|o| o == c)) {
            out[i].0 += lo[i];
            out[i].1 += hi[i];
        }
    }
    out
}

/// A member's move of the first `m` quantities, calibrated with `gain` when given.
fn calibrated(d: &[f64], m: usize, gain: Option<&DMatrix<f64>>) -> Vec<f64> {
    match gain {
        Some(g) if d.len() > m => {
            let dw = DVector::from_column_slice(&d[m..]);
            let pull = g * dw;
            (0..m).map(|i| d[i] - pull[i]).collect()
        }
        _ => d[..m].to_vec(),
    }
}

/// The long-run variance ratio of residuals `r`, `1 + 2·Σ_k (1 − k/(L+1))·ρ_k` (Bartlett
/// weights, lags up to `lags`), at least 1.
fn long_run_ratio(r: &DVector<f64>, lags: usize) -> f64 {
    let n = r.len();
    let rr = r.norm_squared();
    if !(rr > 0.0 && rr.is_finite()) || n < 2 {
        return 1.0;
    }
    let lags = lags.min(n - 1);
    let ratio = 1.0
        + 2.0
            * (1..=lags)
                .map(|k| {
                    let rho = (k..n).map(|i| r[i] * r[i - k]).sum::<f64>() / rr;
                    (1.0 - k as f64 / (lags as f64 + 1.0)) * rho
                })
                .sum::<f64>();
    ratio.max(1.0)
}

/// Rows a campaign needs for its platform-reported revenue to inform its channel's curve.
const MIN_CAMPAIGN_ROWS: usize = 56;

/// The campaign-level evidence on channel `c`'s curve: per candidate transform, the
/// likelihood-ratio statistic of its campaigns' platform-reported revenue,
/// `Σ_k n_k·ln(L_k(j) / L_k)` minus its minimum over the candidates, with `L_k(j)` the
/// residual sum of squares of campaign k's revenue on its spending days regressed on its
/// own transformed spend (its own return) and a multiplicative baseline of its own
/// (weekday, named days, and a level with a knot about every 7 of its rows), and `n_k`
/// its effective number of rows. `None` without campaigns that can tell.
///
/// Platform-reported revenue is the platform's attribution: its level is not the
/// channel's effect on the business (each campaign's return is its own here), but how it
/// moves with the campaign's own spend shows the campaign's curve, over a campaign's
/// own spend, not the channel's total. The effect per unit has a value of its own on
/// weekends: on the sandbox the return is 20% lower on weekends, when spend is higher,
/// which a single slope read as saturation.
///
/// Measured on seeds 1–20 of the `saturation` preset (`business_coverage`, 99 replicates),
/// mean switch-off error of Google Ads / Meta / Klaviyo, against 41 / 73 / 144% with the
/// channels' daily totals: the campaigns' curves summed, chosen by the business revenue
/// alone, 40 / 79 / 94%; the campaigns' evidence alone choosing each curve (the business
/// revenue fitting only β and the baseline) 43 / 72 / 67% on the business grids, 40 / 59 /
/// 69% with the weekend term, 25 / 49 / 60% on the campaign grids, but then one curve is
/// plausible and the intervals cover in only 10–16 of 20 worlds; a grid of 11
/// half-saturations × 6 shapes did not help (32 / 48 / 62%), nor did leaving the named
/// days out of the campaigns' rows (24 / 50 / 75%). Adding the campaigns' statistic to the
/// plausible set's and the bootstrap's as well gave 23 / 49 / 69% with Google Ads' and
/// Meta's intervals covering in 16 and 15 of 20 worlds (the statistic at half weight: 27 /
/// 49 / 75%, 18 and 19 of 20); and where one curve fits (the linear presets) the intervals
/// then come from β's bootstrap alone and under-cover: Meta's in 14 of 20 `linear` worlds,
/// Google Ads' in 11 of 20 `carryover` worlds (14 with the statistic in the bootstrap
/// only). Hence the campaigns choose the full sample's curve only.
fn campaign_excess(
    data: &BusinessData,
    c: usize,
    transforms: &[ResponseTransform],
) -> Option<Vec<f64>> {
    let campaigns = data.campaigns_of(c);
    if campaigns.is_empty() || transforms.len() < 2 {
        return None;
    }
    let n = data.n();
    let curves: Vec<ChannelCurve> = transforms
        .iter()
        .map(|t| ChannelCurve::new(data, c, *t, 0.0))
        .collect();
    let start = transforms
        .iter()
        .position(|t| *t == ResponseTransform::LINEAR)
        .unwrap_or(0);
    // Each campaign's statistic (in parallel; summed in the campaigns' order).
    let per_campaign: Vec<Option<Vec<f64>>> = campaigns
        .par_iter()
        .enumerate()
        .map(|(p, k)| {
            let idx: Vec<usize> = (0..n).filter(|&t| k.spend[t] > 0.0).collect();
            let m = idx.len();
            let mean_y = idx.iter().map(|&t| k.platform_revenue[t]).sum::<f64>() / m.max(1) as f64;
            if m < MIN_CAMPAIGN_ROWS || mean_y.is_nan() || mean_y <= 0.0 {
                return None;
            }
            // About 7 rows between knots: weekly for a daily campaign, every four weeks for a
            // twice-a-week send.
            let span = (idx[m - 1] - idx[0] + 1) as f64;
            let knot_days =
                (7.0 * (7.0 * span / (7.0 * m as f64)).ceil()).clamp(7.0, 56.0) as usize;
            let (x_all, _) = calendar_design(data, 0, knot_days);
            let x = x_all.select_rows(&idx);
            let y = DVector::from_iterator(m, idx.iter().map(|&t| k.platform_revenue[t]));
            let floor = 0.01 * mean_y;
            let logy = y.map(|v| v.max(floor).ln());
            let gamma0 = lstsq(&x, &logy)?;
            // The campaign's own transformed spend, with an effect per unit of its own on
            // weekends (1970-01-01 was a Thursday): a return that differs on weekends, when
            // spend differs too, would otherwise pass for curvature.
            let weekend: Vec<bool> = idx
                .iter()
                .map(|&t| (data.dates[t] + 3).rem_euclid(7) >= 5)
                .collect();
            let columns = |j: usize| -> DMatrix<f64> {
                let (a, kk) = (&curves[j].exposure[p], curves[j].k[p]);
                let v: Vec<f64> = idx
                    .iter()
                    .map(|&t| match transforms[j].saturation {
                        None => a[t],
                        Some(h) => h.value(a[t], kk),
                    })
                    .collect();
                DMatrix::from_fn(m, 2, |i, q| if weekend[i] == (q == 1) { v[i] } else { 0.0 })
            };
            let mut chosen = start;
            let mut losses = Vec::new();
            let mut fit = None;
            for _pass in 0..2 {
                let f = columns(chosen);
                let g = gauss_newton(&y, &x, &f, &gamma0);
                if !g.sse.is_finite() {
                    break;
                }
                let base = (&x * &g.gamma).map(f64::exp);
                let z = DMatrix::from_fn(m, x.ncols(), |i, q| base[i] * x[(i, q)]);
                let q = basis(&z);
                let yr = residualize(&q, &(&y - &base));
                let yy = yr.norm_squared();
                losses = (0..transforms.len())
                    .map(|j| {
                        let fj = columns(j);
                        let fr = &fj - &q * q.tr_mul(&fj);
                        let keep: Vec<usize> = (0..fr.ncols())
                            .filter(|&c| {
                                fr.column(c).norm_squared()
                                    > 1e-12 * (1.0 + fj.column(c).norm_squared())
                            })
                            .collect();
                        if keep.is_empty() {
                            return f64::INFINITY;
                        }
                        let fr = fr.select_columns(&keep);
                        let gram = fr.tr_mul(&fr);
                        let h = fr.tr_mul(&yr);
                        match gram.cholesky() {
                            Some(ch) => (yy - h.dot(&ch.solve(&h))).max(0.0),
                            None => f64::INFINITY,
                        }
                    })
                    .collect::<Vec<f64>>();
                fit = Some((g, f));
                let best = losses
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.is_finite())
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(chosen, |(j, _)| j);
                if best == chosen {
                    break;
                }
                chosen = best;
            }
            let (g, f) = fit?;
            let min = losses.iter().copied().fold(f64::INFINITY, f64::min);
            if !(min > 0.0 && min.is_finite()) {
                return None;
            }
            let r = &y - (&x * &g.gamma).map(f64::exp) - f * DVector::from_column_slice(&g.beta);
            let n_eff = m as f64 / long_run_ratio(&r, 7);
            Some(losses.iter().map(|l| n_eff * (l / min).ln()).collect())
        })
        .collect();
    let mut total = vec![0.0; transforms.len()];
    let mut used = 0usize;
    for stat in per_campaign.into_iter().flatten() {
        for (t, v) in total.iter_mut().zip(&stat) {
            *t += v;
        }
        used += 1;
    }
    if used == 0 {
        return None;
    }
    let min = total.iter().copied().fold(f64::INFINITY, f64::min);
    min.is_finite()
        .then(|| total.iter().map(|t| t - min).collect())
}

/// Warnings for channels whose transformed spend moves together beyond the calendar: the
/// data cannot separate their effects.
fn separation_warnings(
    ctx: &Context<'_>,
    x: &DMatrix<f64>,
    full: &Selection,
    threshold: f64,
) -> Vec<String> {
    let n = ctx.data.n();
    let base = (x * &full.fit.gamma).map(f64::exp);
    let z = DMatrix::from_fn(n, x.ncols(), |i, k| base[i] * x[(i, k)]);
    let q = basis(&z);
    let resid: Vec<DVector<f64>> = full
        .chosen
        .iter()
        .enumerate()
        .map(|(c, &j)| residualize(&q, &DVector::from_column_slice(&ctx.cands[c].values[j])))
        .collect();
    let mut out = Vec::new();
    let names = &ctx.data.channels;
    for a in 0..resid.len() {
        for b in a + 1..resid.len() {
            let r = resid[a].dot(&resid[b]) / (resid[a].norm() * resid[b].norm()).max(1e-300);
            if r.abs() >= threshold {
                out.push(format!(
                    "the spend of `{}` and `{}` moves together beyond the calendar (correlation {:.2}): \
                     the data cannot separate their effects, so their split is not to be trusted; \
                     read their sum, or vary one without the other (a lift test calibrates it)",
                    names[a], names[b], r
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tall design whose columns are on different scales, with a known solution.
    fn design(n: usize) -> (DMatrix<f64>, DVector<f64>) {
        let a = DMatrix::from_fn(n, 4, |i, j| {
            let t = i as f64;
            match j {
                0 => 1.0,
                1 => (t * 0.37).sin() * 1e4,
                2 => (t * 0.11).cos() * 1e-3,
                _ => ((i * 7919) % 101) as f64,
            }
        });
        let x = DVector::from_vec(vec![2.0, -3e-4, 5e2, 0.25]);
        let b = &a * &x;
        (a, b)
    }

    /// The pseudo-inverse's answer and the pivoted Cholesky's, on the unit-column Gram
    /// system of `a` and `b`.
    fn both(a: &DMatrix<f64>, b: &DVector<f64>) -> (Option<DVector<f64>>, DVector<f64>) {
        let (u, _) = unit_columns(a);
        let (g, h) = (u.transpose() * &u, u.transpose() * b);
        (gram_solve(&g, &h), eigen_solve(g, &h).unwrap())
    }

    /// Amounts beyond 1e18 (a typo, a unit mix-up) are refused, naming them, instead of
    /// overflowing the fit into infinities or a singular design.
    #[test]
    fn absurd_amounts_are_refused() {
        let n = 60;
        let data = |revenue: f64| {
            let mut r = vec![100.0; n];
            r[7] = revenue;
            BusinessData::new(
                (0..n as i32).collect(),
                r,
                vec!["meta".into()],
                vec![(0..n).map(|t| 10.0 + (t % 3) as f64).collect()],
                Vec::new(),
                Vec::new(),
            )
        };
        let e = data(1e300).unwrap_err().to_string();
        assert!(e.contains("revenue = 1e300 at row 7"), "{e}");
        let test = LiftTest {
            channel: "meta".into(),
            start: 0,
            end: 6,
            incremental_revenue: 1e308,
            standard_error: 1.0,
        };
        let options = BusinessOptions {
            bootstrap: 20,
            ..Default::default()
        };
        let e = analyze_business(&data(100.0).unwrap(), &options, &[test])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lift_test.standard_error") && e.contains("1e308"),
            "{e}"
        );
    }

    #[test]
    fn the_pivoted_cholesky_gives_the_pseudo_inverses_least_squares() {
        let (a, b) = design(200);
        let x = lstsq(&a, &b).unwrap();
        let want = [2.0, -3e-4, 5e2, 0.25];
        for (got, want) in x.iter().zip(want) {
            assert!((got - want).abs() <= 1e-8 * want.abs(), "{got} vs {want}");
        }
        // Well conditioned, a zero column, a repeated column, a column the sum of two
        // others: the minimum-norm solution, as the eigendecomposition gives it.
        let mut zero = a.clone().insert_column(2, 0.0);
        zero.set_column(2, &DVector::zeros(200));
        let mut twice = a.clone().insert_column(4, 0.0);
        twice.set_column(4, &a.column(1));
        let mut sum = a.clone().insert_column(0, 0.0);
        sum.set_column(0, &(a.column(1) * 2e-4 + a.column(3)));
        let mut both_at_once = twice.clone().insert_column(5, 0.0);
        both_at_once.set_column(5, &DVector::zeros(200));
        for (name, m) in [
            ("conditioned", &a),
            ("zero", &zero),
            ("twice", &twice),
            ("sum", &sum),
            ("zero and twice", &both_at_once),
        ] {
            let (chol, eig) = both(m, &b);
            let chol = chol.unwrap_or_else(|| panic!("{name}: no Cholesky solution"));
            assert!(
                (&chol - &eig).norm() <= 1e-8 * eig.norm(),
                "{name}: {chol} vs {eig}"
            );
        }
        // The repeated column's coefficient is split evenly.
        let x = lstsq(&twice, &b).unwrap();
        assert!((x[1] - x[4]).abs() <= 1e-6 * x[1].abs(), "{x}");
        assert!((x[1] + x[4] + 3e-4).abs() <= 1e-9, "{x}");
        // Nearly but not exactly collinear: left to the eigendecomposition.
        let mut near = a.clone().insert_column(4, 0.0);
        near.set_column(
            4,
            &(a.column(1) + DVector::from_fn(200, |i, _| 0.1 * (i % 3) as f64)),
        );
        assert!(both(&near, &b).0.is_none());
    }

    /// A baseline `exp(Xγ)` (level, trend, season, a flag) plus two channels' columns, with
    /// noise a fifth of the baseline: residuals large enough that Gauss–Newton alone
    /// converges slowly.
    fn exp_world(n: usize, seed: u64) -> (DVector<f64>, DMatrix<f64>, DMatrix<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = DMatrix::from_fn(n, 5, |i, j| {
            let t = i as f64 / n as f64;
            match j {
                0 => 1.0,
                1 => t,
                2 => (t * 12.0).sin(),
                3 => (t * 12.0).cos(),
                _ => f64::from(i % 7 == 5),
            }
        });
        let f = DMatrix::from_fn(n, 2, |i, j| {
            let t = i as f64;
            if j == 0 {
                50.0 + 30.0 * (t * 0.05).sin() + rng.random::<f64>() * 20.0
            } else {
                80.0 * f64::from((i / 10) % 3 == 0) + rng.random::<f64>() * 5.0
            }
        });
        let gamma = DVector::from_vec(vec![6.0, 0.3, 0.2, -0.1, 0.15]);
        let beta = DVector::from_vec(vec![1.5, 0.8]);
        let base = (&x * &gamma).map(f64::exp);
        let noise = DVector::from_fn(n, |i, _| {
            (rng.random::<f64>() + rng.random::<f64>() + rng.random::<f64>() - 1.5) * 0.4 * base[i]
        });
        (base + &f * beta + noise, x, f)
    }

    /// The fit (Gauss–Newton's first step, Newton's after) ends where the gradient
    /// vanishes and at the sum of squares a plain Gauss–Newton run to convergence (an
    /// independent oracle: SVD solves, 400 full steps or until it stops gaining) reaches.
    #[test]
    fn newtons_steps_reach_the_least_squares_minimum() {
        for seed in [1, 2, 3] {
            let (y, x, f) = exp_world(400, seed);
            let mut gamma0 = DVector::zeros(5);
            gamma0[0] = (y.mean()).ln();
            let fit = gauss_newton(&y, &x, &f, &gamma0);
            // The oracle.
            let (p, c) = (x.ncols(), f.ncols());
            let (mut g, mut b) = (gamma0.clone(), DVector::<f64>::zeros(c));
            let sse = |g: &DVector<f64>, b: &DVector<f64>| {
                (&y - (&x * g).map(f64::exp) - &f * b).norm_squared()
            };
            let mut best = sse(&g, &b);
            for _ in 0..400 {
                let base = (&x * &g).map(f64::exp);
                let r = &y - &base - &f * &b;
                let mut j = DMatrix::zeros(y.len(), p + c);
                for k in 0..p {
                    j.set_column(k, &x.column(k).component_mul(&base));
                }
                j.columns_mut(p, c).copy_from(&f);
                let step = j.clone().svd(true, true).solve(&r, 1e-12).unwrap();
                let mut t = 1.0;
                let mut moved = false;
                while t > 1e-6 {
                    let (g2, b2) = (&g + step.rows(0, p) * t, &b + step.rows(p, c) * t);
                    let s = sse(&g2, &b2);
                    if s < best {
                        (g, b, best, moved) = (g2, b2, s, true);
                        break;
                    }
                    t /= 2.0;
                }
                if !moved {
                    break;
                }
            }
            assert!(
                (fit.sse - best).abs() <= 1e-9 * best,
                "seed {seed}: {} vs the oracle's {best}",
                fit.sse
            );
            // The gradient Jᵀr, relative to the sizes of J's columns and r.
            let base = (&x * &fit.gamma).map(f64::exp);
            let beta = DVector::from_column_slice(&fit.beta);
            let r = &y - &base - &f * &beta;
            for k in 0..p + c {
                let col: DVector<f64> = if k < p {
                    x.column(k).component_mul(&base)
                } else {
                    f.column(k - p).into_owned()
                };
                let grad = col.dot(&r) / (col.norm() * r.norm());
                assert!(grad.abs() < 1e-6, "seed {seed}, column {k}: {grad}");
            }
            assert!(
                (fit.beta[0] - 1.5).abs() < 0.3,
                "seed {seed}: {:?}",
                fit.beta
            );
        }
    }

    /// The scorer's scores, from products with the basis, equal those of residuals
    /// computed explicitly (least squares by SVD on the baseline's directions and the
    /// other channels' chosen columns), and a candidate the others span scores `None`.
    #[test]
    fn the_scores_equal_those_of_explicit_residuals() {
        let (y, x, f) = exp_world(300, 7);
        let n = y.len();
        let gamma = DVector::from_vec(vec![6.0, 0.3, 0.2, -0.1, 0.15]);
        let fit = Fit {
            gamma: gamma.clone(),
            beta: vec![1.0, 1.0, 1.0],
            sse: 0.0,
        };
        let base = (&x * &gamma).map(f64::exp);
        let z = DMatrix::from_fn(n, x.ncols(), |i, k| base[i] * x[(i, k)]);
        // Three channels, four candidates each (powers of the two columns); channel 2's
        // last is replaced by a combination of the baseline's directions and channel 0's
        // chosen column, which the others span when channel 2 is scored.
        let mut all: Vec<DMatrix<f64>> = (0..3)
            .map(|c| {
                DMatrix::from_fn(n, 4, |i, j| {
                    (f[(i, c % 2)] + 1.0).powf(0.5 + 0.25 * j as f64)
                        * (1.0 + c as f64 * 0.1 * (i % 5) as f64)
                })
            })
            .collect();
        let spanned = &z.column(1) * 3.0 - &z.column(4) * 0.5 + all[0].column(0) * 2.0;
        all[2].set_column(3, &spanned);
        let norms: Vec<Vec<f64>> = all
            .iter()
            .map(|m| m.column_iter().map(|c| c.norm_squared()).collect())
            .collect();
        let scorer = Scorer::new(&y, &x, &fit, &all);
        let ytil = &y - &base;
        let chosen = [0, 2, 1];
        for c in 0..3 {
            let (rr, scores) = scorer.scores(c, &chosen, &norms[c]);
            let mut held = z.clone();
            for o in (0..3).filter(|&o| o != c) {
                let k = held.ncols();
                held = held.insert_column(k, 0.0);
                held.set_column(k, &all[o].column(chosen[o]));
            }
            let svd = held.clone().svd(true, true);
            let resid = |v: &DVector<f64>| v - &held * svd.solve(v, 1e-12).unwrap();
            let yr = resid(&ytil);
            assert!(
                (rr - yr.norm_squared()).abs() <= 1e-8 * ytil.norm_squared(),
                "channel {c}: {rr} vs {}",
                yr.norm_squared()
            );
            for (j, score) in scores.iter().enumerate() {
                let fr = resid(&all[c].column(j).into_owned());
                let ff = fr.norm_squared();
                if c == 2 && j == 3 {
                    assert!(score.is_none(), "the spanned candidate scored {score:?}");
                    continue;
                }
                let want = fr.dot(&yr).powi(2) / ff;
                let got = score.unwrap_or_else(|| panic!("channel {c}, candidate {j}: None"));
                assert!(
                    (got - want).abs() <= 1e-6 * want.max(1e-9 * yr.norm_squared()),
                    "channel {c}, candidate {j}: {got} vs {want}"
                );
            }
        }
    }
}
