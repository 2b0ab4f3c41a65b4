//! The simulator: daily campaign rows, their counterfactuals and the truth.

use chrono::{Datelike, NaiveDate, Weekday};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use crate::config::{MessageType, Platform, Saturation, SaturationScope, WorldConfig};
use crate::days::{SpecialDay, classify};
use crate::{Error, Result};

/// Weekday and month names, as the truth's day-of-week and seasonal profiles use them
/// (the shared names of `liftos-core`).
pub use liftos_core::dates::{MONTHS, WEEKDAYS};

/// One day of the world.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Day {
    pub(crate) date: NaiveDate,
    /// Baseline demand multiplier d_t (season × weekday × holiday × Q4 × trend).
    pub(crate) demand: f64,
    pub(crate) special: SpecialDay,
    /// The unobserved log demand shock u_t (0 without a latent shock).
    pub(crate) shock: f64,
}

/// One simulated (campaign, day) row with its fixed noise draws.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) day: usize,
    pub(crate) channel: usize,
    pub(crate) campaign: usize,
    pub(crate) spend: f64,
    pub(crate) impressions: i64,
    pub(crate) clicks: i64,
    /// Klaviyo extras (zero elsewhere).
    pub(crate) delivered: i64,
    pub(crate) opens: i64,
    pub(crate) unsubscribes: i64,
    pub(crate) bounced: i64,
    /// True return per unit of exposure on this row, before saturation.
    pub(crate) tau_scale: f64,
    /// Baseline revenue including its noise (the row's revenue if its channel were off).
    pub(crate) baseline: f64,
    /// Uniform draw that turns revenue into a whole number of conversions.
    pub(crate) conv_dither: f64,
    // Emitted and true values, filled after simulation.
    pub(crate) revenue: f64,
    pub(crate) conversions: f64,
    pub(crate) tau: f64,
    pub(crate) tau_long_run: f64,
    pub(crate) incremental_revenue: f64,
    pub(crate) incremental_conversions: f64,
}

/// A campaign's span of days and which of them carry a row.
#[derive(Debug, Clone)]
pub(crate) struct Flight {
    pub(crate) channel: usize,
    pub(crate) campaign: usize,
    /// The world's day index of the flight's first day.
    pub(crate) first: usize,
    /// For every flight day, the index of its row (None: no send that day).
    pub(crate) rows: Vec<Option<usize>>,
}

/// What the true causal effects of a channel are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelTruth {
    /// Channel name.
    pub channel: String,
    /// Total spend in the data.
    pub spend: f64,
    /// Total platform-reported revenue in the data.
    pub revenue: f64,
    /// Total platform-reported conversions in the data.
    pub conversions: f64,
    /// Revenue / spend: what a naive analysis reports.
    pub naive_roas: f64,
    /// Revenue in the data caused by the channel: actual minus the re-simulated world
    /// with the channel's spend switched off (noise fixed).
    pub incremental_revenue: f64,
    /// Conversions caused by the channel, by the same re-simulation.
    pub incremental_conversions: f64,
    /// incremental_revenue / spend.
    pub incremental_roas: f64,
    /// Spend-weighted mean of the rows' contemporaneous marginal return `tau`: the same
    /// day's revenue only. With carryover it leaves out the later days' part of a
    /// dollar's return; [`marginal_roas_total`](Self::marginal_roas_total) includes it.
    pub marginal_roas: f64,
    /// Spend-weighted mean of the rows' long-run marginal return `tau_long_run`
    /// (equals `marginal_roas` without adstock).
    pub long_run_marginal_roas: f64,
    /// The channel's true adstock decay.
    pub adstock_decay: f64,
    /// Whether the channel's true effect is exactly zero.
    pub zero_effect: bool,
    /// THE marginal return: d(total revenue)/d(scale of the channel's spend) / spend at
    /// today's allocation, carryover inside the window included. "What would one more
    /// dollar, spread like today's, bring?" (Meridian's mROI). Equal to
    /// `long_run_marginal_roas` (a finite difference of [`World::outcomes`] under
    /// [`Intervention::ScaleSpend`] confirms it in the tests); below `incremental_roas`
    /// under saturation, equal to it in a linear world.
    pub marginal_roas_total: f64,
    /// The channel's response curve over the world's rows, by re-simulation with the
    /// noise fixed: for each scale in 0, 0.25, …, 2.0, the revenue with every row of the
    /// channel spending `scale ×` its actual spend minus the revenue with the channel off.
    /// The point at scale 1 is `incremental_revenue`, at scale 0 it is 0.
    pub response_curve: Vec<CurvePoint>,
    /// What the business's total revenue loses with the channel off: `incremental_revenue`
    /// plus the revenue its carried-over exposure causes on days its campaigns have no row
    /// (between a Klaviyo series' sends, through a pulsing pause, after a flight's last
    /// day), which no platform row reports. The truth of a business-level analysis; equal
    /// to `incremental_revenue` without carryover or without such days.
    pub business_incremental_revenue: f64,
    /// `business_incremental_revenue / spend`: the business-level switch-off return.
    pub business_incremental_roas: f64,
    /// The business-level marginal return: `marginal_roas_total` with the later days'
    /// part of a dollar's return counted on every day, rows or not.
    pub business_marginal_roas: f64,
}

/// One point of a channel's true response curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Multiple of the channel's actual spend, on every row.
    pub scale: f64,
    /// The channel's total spend at that scale.
    pub spend: f64,
    /// Revenue at that scale minus revenue with the channel off, over the world's rows.
    pub incremental_revenue: f64,
}

/// The scales of [`ChannelTruth::response_curve`]: 0, 0.25, …, 2.0.
pub const CURVE_SCALES: [f64; 9] = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0];

/// The true values of a world: per channel, and the temporal profile of its baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Truth {
    /// One entry per channel, in configuration order.
    pub channels: Vec<ChannelTruth>,
    /// Relative lift of baseline revenue on a US federal holiday (0.30 = +30%).
    pub holiday_lift: f64,
    /// Relative lift of baseline revenue on Black Friday and Cyber Monday.
    pub commercial_event_lift: f64,
    /// Relative lift of baseline revenue per weekday against the average day, Monday first
    /// (names in [`WEEKDAYS`]).
    pub day_of_week: [f64; 7],
    /// Relative lift of mean baseline demand per calendar month against the mean over
    /// all days of the world, January first (names in [`MONTHS`]). Months absent from
    /// the world are 0.
    pub seasonal: [f64; 12],
    /// The [`Preset`](crate::Preset) the world was built from (its name), if any.
    pub preset: Option<String>,
    /// Whether spend and revenue share a cause the data does not show (a latent demand
    /// shock or spend feedback on the revenue noise). Then no estimate can be trusted,
    /// and an estimator's warning is the right answer.
    pub hidden_confounding: bool,
}

impl Truth {
    /// The truth of the channel called `name`.
    pub fn channel(&self, name: &str) -> Option<&ChannelTruth> {
        self.channels.iter().find(|c| c.channel == name)
    }
}

/// A change to the world's spend, for counterfactual re-simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Intervention<'a> {
    /// The world as simulated.
    None,
    /// Every row of the channel spends nothing.
    SwitchOff(&'a str),
    /// Every row of the channel spends `factor` times its actual spend.
    ScaleSpend(&'a str, f64),
}

/// Revenue and conversions of every row under an intervention, in [`World::rows`] order
/// (the unified table's order).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcomes {
    /// Revenue per row, before rounding to cents.
    pub revenue: Vec<f64>,
    /// Conversions per row.
    pub conversions: Vec<f64>,
}

/// A simulated marketing world with known causal truth.
///
/// Rows are (campaign, day). For a row of campaign c on day t:
///
/// - demand `d_t = exp(trend·t/365.25 + A·cos(2π(doy − 350)/365.25)) · weekday[t] ·
///   (1 + holiday_lift)^holiday · (1 + event_lift)^event · (1 + q4_lift)^(Nov 15–Dec 24)`,
///   a function of the calendar only, so the confounder is observable;
/// - spend `s = budget_c · d_t^confounding · exp(σ_b z − σ_b²/2)` (cents), so spend rises
///   with demand; Klaviyo sends `budget_c / cost_per_recipient` emails the same way on
///   its send weekdays plus Black Friday and Cyber Monday (a Klaviyo flow: every day);
///   optionally times a budget level `L_c(t)` piecewise constant over blocks of days
///   ([`BudgetSteps`](crate::BudgetSteps)), a hidden shock `exp(e·u_t − e²σ_u²/2)`
///   ([`LatentShock`](crate::LatentShock)) and feedback `exp(ρσ ε_t − ρ²σ²/2)` on the
///   row's own baseline noise ([`WorldConfig::feedback`]);
/// - exposure `a_t = s_t + θ·a_{t−1}` (geometric adstock per channel, θ = 0 by default);
/// - true return `τ = roas_channel · multiplier_c · (1 + weekend_effect)^weekend ·
///   (1 + holiday_effect)^(holiday or event)`;
/// - revenue `= organic_ratio · budget_c · d_t · exp(σ ε_t − σ²/2) · exp(u_t − σ_u²/2) + τ·R(a_t)`
///   with `R(a) = a` or Hill saturation; `ε_t` is standard normal, independent across days
///   or AR(1) within the campaign ([`WorldConfig::noise_ar`]); `u_t = 0` without a latent
///   shock; conversions = ⌊revenue / avg_order_value + u⌋.
///
/// The baseline term is revenue the platform reports but did not cause; because it
/// moves with demand like spend does, revenue / spend overstates the return.
/// Truth is computed by counterfactual re-simulation with every noise draw fixed.
#[derive(Debug, Clone)]
pub struct World {
    pub(crate) config: WorldConfig,
    pub(crate) days: Vec<Day>,
    pub(crate) rows: Vec<Row>,
    pub(crate) flights: Vec<Flight>,
    /// Row indices in unified-table order (date, channel, account_id, campaign_id).
    pub(crate) order: Vec<usize>,
    pub(crate) truth: Truth,
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn lognormal_unit(sd: f64, z: f64) -> f64 {
    (sd * z - sd * sd / 2.0).exp()
}

impl World {
    /// Simulates the world described by `config`.
    ///
    /// The same configuration (seed included) always gives the same world, byte for byte.
    pub fn generate(config: &WorldConfig) -> Result<World> {
        config.validate()?;
        let days = simulate_days(config);
        let (mut rows, flights) = simulate_rows(config, &days);
        let mut world = World {
            config: config.clone(),
            days,
            rows: Vec::new(),
            flights,
            order: Vec::new(),
            truth: Truth {
                channels: Vec::new(),
                holiday_lift: config.holiday_lift,
                commercial_event_lift: config.event_lift,
                day_of_week: [0.0; 7],
                seasonal: [0.0; 12],
                preset: config.preset.map(|p| p.as_str().to_owned()),
                hidden_confounding: config.has_hidden_confounding(),
            },
        };
        std::mem::swap(&mut world.rows, &mut rows);
        world.fill_outcomes_and_truth()?;
        world.order = world.unified_order();
        Ok(world)
    }

    /// The configuration this world was generated from.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// The true effects.
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// Number of rows in the unified table.
    pub fn num_rows(&self) -> usize {
        self.rows.len()
    }

    /// The rows as plain records, in unified-table order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = WorldRow<'_>> + '_ {
        self.order.iter().map(move |&i| self.row(i))
    }

    pub(crate) fn row(&self, i: usize) -> WorldRow<'_> {
        let r = &self.rows[i];
        let ch = &self.config.channels[r.channel];
        let c = &ch.campaigns[r.campaign];
        let day = &self.days[r.day];
        WorldRow {
            date: day.date,
            channel: &ch.name,
            platform: ch.platform,
            message_type: c.message_type,
            account_id: &c.account_id,
            campaign_id: self.campaign_object_id(r),
            campaign: &c.name,
            currency: &ch.currency,
            spend: r.spend,
            impressions: r.impressions,
            clicks: r.clicks,
            conversions: r.conversions,
            revenue: r.revenue,
            delivered: r.delivered,
            opens_unique: r.opens,
            unsubscribes: r.unsubscribes,
            bounced: r.bounced,
            tau: r.tau,
            tau_long_run: r.tau_long_run,
            incremental_revenue: r.incremental_revenue,
            incremental_conversions: r.incremental_conversions,
            baseline_revenue: r.baseline,
            demand: day.demand,
            latent_shock: self.shock_multiplier(day),
            is_holiday: day.special == SpecialDay::Holiday,
            is_commercial_event: day.special == SpecialDay::Event,
        }
    }

    /// The latent shock's multiplier on the baseline of `day` (1 without a shock).
    fn shock_multiplier(&self, day: &Day) -> f64 {
        self.config
            .latent_shock
            .map_or(1.0, |u| u.baseline_multiplier(day.shock))
    }

    /// The platform id of the row's campaign object. Klaviyo creates one campaign object
    /// per send, so its ids carry the send date; a Klaviyo flow keeps its flow id; other
    /// platforms use the campaign id.
    fn campaign_object_id(&self, r: &Row) -> String {
        let ch = &self.config.channels[r.channel];
        let c = &ch.campaigns[r.campaign];
        if ch.platform == Some(Platform::Klaviyo) && c.message_type == MessageType::Campaign {
            format!("{}{}", c.id, self.days[r.day].date.format("%Y%m%d"))
        } else {
            c.id.clone()
        }
    }

    /// Re-simulates every row's revenue and conversions under `intervention`, with every
    /// noise draw fixed. `Intervention::None` reproduces the world itself.
    pub fn outcomes(&self, intervention: Intervention<'_>) -> Result<Outcomes> {
        let sim = self.simulate(intervention)?;
        Ok(Outcomes {
            revenue: self.order.iter().map(|&i| sim.revenue[i]).collect(),
            conversions: self.order.iter().map(|&i| sim.conversions[i]).collect(),
        })
    }

    /// The channel an intervention acts on (its index) and the factor its spend is
    /// multiplied by; `None` and 1 for no intervention.
    pub(crate) fn intervention_target(
        &self,
        intervention: Intervention<'_>,
    ) -> Result<(Option<usize>, f64)> {
        Ok(match intervention {
            Intervention::None => (None, 1.0),
            Intervention::SwitchOff(ch) => (Some(self.channel_index(ch)?), 0.0),
            Intervention::ScaleSpend(ch, f) => {
                if !(f >= 0.0 && f.is_finite()) {
                    return Err(Error::InvalidConfig {
                        field: "intervention.factor".into(),
                        message: format!("must be a finite number ≥ 0, got {f}"),
                    });
                }
                (Some(self.channel_index(ch)?), f)
            }
        })
    }

    /// Spend of every row (internal order) under `intervention`.
    pub(crate) fn intervened_spend(&self, intervention: Intervention<'_>) -> Result<Vec<f64>> {
        let (target, factor) = self.intervention_target(intervention)?;
        Ok(self
            .rows
            .iter()
            .map(|r| {
                if Some(r.channel) == target {
                    r.spend * factor
                } else {
                    r.spend
                }
            })
            .collect())
    }

    /// Like [`outcomes`](World::outcomes), in simulation (internal row) order.
    pub(crate) fn simulate(&self, intervention: Intervention<'_>) -> Result<Outcomes> {
        Ok(self.simulate_with_off_row(intervention)?.0)
    }

    /// [`simulate`](World::simulate), and per world day the revenue caused on days
    /// without a row ([`revenue_and_off_row_for`](World::revenue_and_off_row_for)).
    fn simulate_with_off_row(
        &self,
        intervention: Intervention<'_>,
    ) -> Result<(Outcomes, Vec<f64>)> {
        let spend = self.intervened_spend(intervention)?;
        let (revenue, off_row) = self.revenue_and_off_row_for(&spend);
        let conversions = revenue
            .iter()
            .zip(&self.rows)
            .map(|(rev, r)| self.conversions_of(r, round_cents(*rev)))
            .collect();
        Ok((
            Outcomes {
                revenue,
                conversions,
            },
            off_row,
        ))
    }

    pub(crate) fn channel_index(&self, name: &str) -> Result<usize> {
        self.config
            .channels
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| Error::InvalidConfig {
                field: "intervention.channel".into(),
                message: format!("no channel called `{name}`"),
            })
    }

    fn conversions_of(&self, r: &Row, revenue: f64) -> f64 {
        let aov = self.config.channels[r.channel].avg_order_value;
        (revenue.max(0.0) / aov + r.conv_dither).floor()
    }

    /// Each flight's exposure on each day from its first to the world's last (spend
    /// carried over with its channel's decay) when rows spend `spend`: after the flight's
    /// last day and on its days without a row, the stock keeps decaying.
    fn exposures(&self, spend: &[f64]) -> Vec<Vec<f64>> {
        let n = self.days.len();
        self.flights
            .iter()
            .map(|f| {
                let theta = self.config.channels[f.channel].adstock_decay;
                let mut a = 0.0;
                (0..n - f.first)
                    .map(|k| {
                        let today = f.rows.get(k).copied().flatten().map_or(0.0, |i| spend[i]);
                        a = today + theta * a;
                        a
                    })
                    .collect()
            })
            .collect()
    }

    /// Per channel whose campaigns share one audience ([`SaturationScope::Channel`]): its
    /// curve (half-saturation from the sum of its campaigns' budgets) and its total
    /// exposure of every day; `None` for a channel whose campaigns saturate on their own.
    fn shared_audiences(&self, exposures: &[Vec<f64>]) -> Vec<Option<(Response, Vec<f64>)>> {
        let days = self.days.len();
        self.config
            .channels
            .iter()
            .enumerate()
            .map(|(ci, ch)| {
                (ch.saturation_scope == SaturationScope::Channel).then(|| {
                    let budgets = ch.campaigns.iter().map(|c| c.daily_budget).sum();
                    let response = Response::new(ch.saturation, ch.adstock_decay, budgets);
                    let mut total = vec![0.0; days];
                    for (f, a) in self.flights.iter().zip(exposures) {
                        if f.channel == ci {
                            for (k, v) in a.iter().enumerate() {
                                total[f.first + k] += v;
                            }
                        }
                    }
                    (response, total)
                })
            })
            .collect()
    }

    /// Revenue (unrounded) of every row when rows spend `spend` (the tests' shorthand).
    #[cfg(test)]
    pub(crate) fn revenue_for(&self, spend: &[f64]) -> Vec<f64> {
        self.revenue_and_off_row_for(spend).0
    }

    /// Revenue (unrounded) of every row when rows spend `spend`, and per world day the
    /// incremental revenue caused on days a campaign has no row: between a Klaviyo
    /// series' sends, through a pulsing pause and after a flight's last day, its
    /// carried-over exposure still sells. No platform row reports that revenue; the
    /// business's total has it.
    pub(crate) fn revenue_and_off_row_for(&self, spend: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut revenue = vec![0.0; self.rows.len()];
        let mut off_row = vec![0.0; self.days.len()];
        let exposures = self.exposures(spend);
        let shared = self.shared_audiences(&exposures);
        for (f, a) in self.flights.iter().zip(&exposures) {
            let ch = &self.config.channels[f.channel];
            let own = Response::new(ch.saturation, ch.adstock_decay, self.budget(f));
            for (k, &exposure) in a.iter().enumerate() {
                let t = f.first + k;
                // A shared audience: the campaign's share of the channel's response.
                let effect = match &shared[f.channel] {
                    Some((response, total)) => {
                        let all = total[t];
                        if all > 0.0 {
                            exposure * response.value(all) / all
                        } else {
                            0.0
                        }
                    }
                    None => own.value(exposure),
                };
                match f.rows.get(k).copied().flatten() {
                    Some(i) => {
                        let r = &self.rows[i];
                        revenue[i] = r.baseline + r.tau_scale * effect;
                    }
                    None if effect != 0.0 => {
                        off_row[t] +=
                            return_scale(&self.config, f.channel, f.campaign, &self.days[t])
                                * effect;
                    }
                    None => {}
                }
            }
        }
        if let Some((from, to, share)) = self.spillover_channels() {
            self.spill(&mut revenue, from, to, share);
        }
        (revenue, off_row)
    }

    /// The spillover's source and target channel indices and share, if the world has one.
    pub(crate) fn spillover_channels(&self) -> Option<(usize, usize, f64)> {
        let sp = self.config.spillover.as_ref()?;
        let from = self.channel_index(&sp.from).ok()?;
        let to = self.channel_index(&sp.to).ok()?;
        Some((from, to, sp.share))
    }

    /// Moves `share` of the `from` rows' effect of each day to that day's `to` rows, in
    /// proportion to their campaigns' daily budgets (fixed weights, so that switching
    /// either channel off leaves the split of the other's effect unchanged).
    fn spill(&self, revenue: &mut [f64], from: usize, to: usize, share: f64) {
        let days = self.days.len();
        let mut moved = vec![0.0; days];
        let mut weight = vec![0.0; days];
        for r in &self.rows {
            if r.channel == to {
                weight[r.day] += self.config.channels[to].campaigns[r.campaign].daily_budget;
            }
        }
        for (i, r) in self.rows.iter().enumerate() {
            if r.channel == from && weight[r.day] > 0.0 {
                let effect = revenue[i] - r.baseline;
                moved[r.day] += share * effect;
                revenue[i] -= share * effect;
            }
        }
        for (i, r) in self.rows.iter().enumerate() {
            if r.channel == to && weight[r.day] > 0.0 {
                let w = self.config.channels[to].campaigns[r.campaign].daily_budget;
                revenue[i] += moved[r.day] * w / weight[r.day];
            }
        }
    }

    fn budget(&self, f: &Flight) -> f64 {
        self.config.channels[f.channel].campaigns[f.campaign].daily_budget
    }

    /// Fills emitted revenue/conversions and every true value.
    fn fill_outcomes_and_truth(&mut self) -> Result<()> {
        let (actual, actual_off_row) = self.simulate_with_off_row(Intervention::None)?;
        for (i, r) in self.rows.iter_mut().enumerate() {
            r.revenue = round_cents(actual.revenue[i]);
            r.conversions = actual.conversions[i];
        }
        // Marginal returns: contemporaneous and long-run (sum of discounted future ones).
        // With a shared audience a row's return is the slope of the channel's curve at the
        // day's total exposure: raising every campaign's spend together moves the channel's
        // revenue by the spend-weighted sum of these (its siblings' loss included).
        // The business-level long-run return also counts the days without a row (spend-
        // weighted sum per channel).
        let spend: Vec<f64> = self.rows.iter().map(|r| r.spend).collect();
        let exposures = self.exposures(&spend);
        let shared = self.shared_audiences(&exposures);
        let mut business_weighted = vec![0.0; self.config.channels.len()];
        for (f, a) in self.flights.iter().zip(&exposures) {
            let ch = &self.config.channels[f.channel];
            let theta = ch.adstock_decay;
            let response = Response::new(ch.saturation, theta, self.budget(f));
            // Per day from the flight's first to the world's last: the return of one more
            // unit of exposure, on the rows and on the days without one.
            let mut marginal = vec![0.0; a.len()];
            let mut off_row = vec![0.0; a.len()];
            for (k, &exposure) in a.iter().enumerate() {
                let t = f.first + k;
                let slope = match &shared[f.channel] {
                    Some((curve, total)) => curve.slope(total[t]),
                    None => response.slope(exposure),
                };
                match f.rows.get(k).copied().flatten() {
                    Some(i) => {
                        marginal[k] = self.rows[i].tau_scale * slope;
                        self.rows[i].tau = marginal[k];
                    }
                    None => {
                        off_row[k] =
                            return_scale(&self.config, f.channel, f.campaign, &self.days[t])
                                * slope;
                    }
                }
            }
            let (mut long_run, mut business) = (0.0, 0.0);
            for k in (0..a.len()).rev() {
                long_run = marginal[k] + theta * long_run;
                business = marginal[k] + off_row[k] + theta * business;
                if let Some(i) = f.rows.get(k).copied().flatten() {
                    self.rows[i].tau_long_run = long_run;
                    business_weighted[f.channel] += self.rows[i].spend * business;
                }
            }
        }
        // Incremental outcomes per row: actual minus the row's channel switched off.
        let mut channels = Vec::new();
        for (ci, ch) in self.config.channels.iter().enumerate() {
            let (off, switched_off_row) =
                self.simulate_with_off_row(Intervention::SwitchOff(&ch.name))?;
            let mut t = ChannelTruth {
                channel: ch.name.clone(),
                spend: 0.0,
                revenue: 0.0,
                conversions: 0.0,
                naive_roas: 0.0,
                incremental_revenue: 0.0,
                incremental_conversions: 0.0,
                incremental_roas: 0.0,
                marginal_roas: 0.0,
                long_run_marginal_roas: 0.0,
                adstock_decay: ch.adstock_decay,
                zero_effect: ch.roas == 0.0,
                marginal_roas_total: 0.0,
                response_curve: Vec::with_capacity(CURVE_SCALES.len()),
                business_incremental_revenue: 0.0,
                business_incremental_roas: 0.0,
                business_marginal_roas: 0.0,
            };
            let mut weighted = 0.0;
            let mut weighted_lr = 0.0;
            // With a spillover, part of a channel's effect lands in another channel's
            // rows: the truth counts it there too.
            let spill_to = self
                .spillover_channels()
                .filter(|&(from, _, _)| from == ci)
                .map(|(_, to, _)| to);
            for (i, r) in self.rows.iter_mut().enumerate() {
                if Some(r.channel) == spill_to {
                    t.incremental_revenue += actual.revenue[i] - off.revenue[i];
                    t.incremental_conversions += actual.conversions[i] - off.conversions[i];
                    continue;
                }
                if r.channel != ci {
                    continue;
                }
                r.incremental_revenue = actual.revenue[i] - off.revenue[i];
                r.incremental_conversions = actual.conversions[i] - off.conversions[i];
                t.spend += r.spend;
                t.revenue += r.revenue;
                t.conversions += r.conversions;
                t.incremental_revenue += r.incremental_revenue;
                t.incremental_conversions += r.incremental_conversions;
                weighted += r.spend * r.tau;
                weighted_lr += r.spend * r.tau_long_run;
            }
            t.business_incremental_revenue = t.incremental_revenue
                + actual_off_row
                    .iter()
                    .zip(&switched_off_row)
                    .map(|(a, b)| a - b)
                    .sum::<f64>();
            if t.spend > 0.0 {
                t.naive_roas = t.revenue / t.spend;
                t.incremental_roas = t.incremental_revenue / t.spend;
                t.marginal_roas = weighted / t.spend;
                t.long_run_marginal_roas = weighted_lr / t.spend;
                t.marginal_roas_total = t.long_run_marginal_roas;
                t.business_incremental_roas = t.business_incremental_revenue / t.spend;
                t.business_marginal_roas = business_weighted[ci] / t.spend;
            }
            for scale in CURVE_SCALES {
                let scaled = self.simulate(Intervention::ScaleSpend(&ch.name, scale))?;
                let incremental_revenue = self
                    .rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.channel == ci || Some(r.channel) == spill_to)
                    .map(|(i, _)| scaled.revenue[i] - off.revenue[i])
                    .sum();
                t.response_curve.push(CurvePoint {
                    scale,
                    spend: scale * t.spend,
                    incremental_revenue,
                });
            }
            channels.push(t);
        }
        self.truth.channels = channels;
        // Temporal profile of the baseline.
        let mean_w = self.config.weekday_profile.iter().sum::<f64>() / 7.0;
        for (d, w) in self.config.weekday_profile.iter().enumerate() {
            self.truth.day_of_week[d] = w / mean_w - 1.0;
        }
        let overall = self.days.iter().map(|d| d.demand).sum::<f64>() / self.days.len() as f64;
        let mut month_sum = [0.0; 12];
        let mut month_n = [0usize; 12];
        for d in &self.days {
            let m = d.date.month0() as usize;
            month_sum[m] += d.demand;
            month_n[m] += 1;
        }
        for m in 0..12 {
            if month_n[m] > 0 {
                self.truth.seasonal[m] = month_sum[m] / month_n[m] as f64 / overall - 1.0;
            }
        }
        Ok(())
    }

    fn unified_order(&self) -> Vec<usize> {
        let mut keys: Vec<(NaiveDate, &str, &str, String, usize)> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let ch = &self.config.channels[r.channel];
                (
                    self.days[r.day].date,
                    ch.name.as_str(),
                    ch.campaigns[r.campaign].account_id.as_str(),
                    self.campaign_object_id(r),
                    i,
                )
            })
            .collect();
        keys.sort();
        keys.into_iter().map(|k| k.4).collect()
    }
}

/// How exposure turns into incremental revenue (per unit of true return).
#[derive(Debug, Clone, Copy)]
struct Response {
    saturation: Saturation,
    /// Half-saturation exposure K.
    k: f64,
}

impl Response {
    fn new(saturation: Saturation, theta: f64, budget: f64) -> Self {
        let k = match saturation {
            Saturation::Off => 1.0,
            Saturation::Hill {
                half_saturation, ..
            } => half_saturation * budget / (1.0 - theta),
        };
        Self { saturation, k }
    }

    fn value(&self, a: f64) -> f64 {
        match self.saturation {
            Saturation::Off => a,
            Saturation::Hill { shape, .. } => {
                let x = (a / self.k).max(0.0);
                let p = x.powf(shape);
                self.k * p / (1.0 + p)
            }
        }
    }

    fn slope(&self, a: f64) -> f64 {
        match self.saturation {
            Saturation::Off => 1.0,
            Saturation::Hill { shape, .. } => {
                let x = (a / self.k).max(1e-12);
                let p = x.powf(shape);
                shape * x.powf(shape - 1.0) / ((1.0 + p) * (1.0 + p))
            }
        }
    }
}

/// Random stream of the latent shock (one series for the world).
const SHOCK_STREAM: u64 = 3 << 40;
/// First random stream of the budget steps (one per campaign or flow).
const STEP_STREAM: u64 = 2 << 40;

/// The latent log demand shock per day: a stationary AR(1) series, or zeros.
fn latent_shocks(config: &WorldConfig) -> Vec<f64> {
    let n = config.days as usize;
    let Some(u) = config.latent_shock else {
        return vec![0.0; n];
    };
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(SHOCK_STREAM);
    let innovation = u.sd * (1.0 - u.ar * u.ar).sqrt();
    let mut shocks = Vec::with_capacity(n);
    let mut prev = 0.0;
    for t in 0..n {
        let z: f64 = StandardNormal.sample(&mut rng);
        prev = if t == 0 {
            u.sd * z
        } else {
            u.ar * prev + innovation * z
        };
        shocks.push(prev);
    }
    shocks
}

/// A campaign's budget level for each of its `len` flight days: piecewise constant over
/// blocks of random length (all 1 without budget steps).
fn budget_levels(config: &WorldConfig, stream: u64, len: usize) -> Vec<f64> {
    let Some(b) = config.budget_steps else {
        return vec![1.0; len];
    };
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(STEP_STREAM + stream);
    let mut levels = Vec::with_capacity(len);
    while levels.len() < len {
        let block = rand::Rng::random_range(&mut rng, b.min_block_days..=b.max_block_days) as usize;
        let z: f64 = StandardNormal.sample(&mut rng);
        let level = lognormal_unit(b.level_sd, z);
        let take = block.min(len - levels.len());
        levels.extend(std::iter::repeat_n(level, take));
    }
    levels
}

/// The true return per unit of exposure of campaign `ki` of channel `ci` on `day`, before
/// saturation: the channel's return × the campaign's multiplier × the weekend's and the
/// special day's factors (a row's `tau_scale`; the same on a day the campaign has no row,
/// where its carried-over exposure still sells).
fn return_scale(config: &WorldConfig, ci: usize, ki: usize, day: &Day) -> f64 {
    let ch = &config.channels[ci];
    let weekend = matches!(day.date.weekday(), Weekday::Sat | Weekday::Sun);
    let special = day.special != SpecialDay::None;
    ch.roas
        * ch.campaigns[ki].roas_multiplier
        * if weekend {
            1.0 + config.weekend_effect
        } else {
            1.0
        }
        * if special {
            1.0 + config.holiday_effect
        } else {
            1.0
        }
}

fn simulate_days(config: &WorldConfig) -> Vec<Day> {
    let special = classify(config.start, config.days);
    let shocks = latent_shocks(config);
    let mean_w = config.weekday_profile.iter().sum::<f64>() / 7.0;
    (0..config.days as usize)
        .map(|t| {
            let date = config.start + chrono::Days::new(t as u64);
            let doy = f64::from(date.ordinal());
            let mut log_d = config.trend * t as f64 / 365.25
                + config.seasonal_amplitude
                    * (2.0 * std::f64::consts::PI * (doy - 350.0) / 365.25).cos();
            let q4 = (date.month() == 11 && date.day() >= 15)
                || (date.month() == 12 && date.day() <= 24);
            if q4 {
                log_d += (1.0 + config.q4_lift).ln();
            }
            match special[t] {
                SpecialDay::Holiday => log_d += (1.0 + config.holiday_lift).ln(),
                SpecialDay::Event => log_d += (1.0 + config.event_lift).ln(),
                SpecialDay::None => {}
            }
            let w = config.weekday_profile[date.weekday().num_days_from_monday() as usize] / mean_w;
            Day {
                date,
                demand: log_d.exp() * w,
                special: special[t],
                shock: shocks[t],
            }
        })
        .collect()
}

fn simulate_rows(config: &WorldConfig, days: &[Day]) -> (Vec<Row>, Vec<Flight>) {
    let mut rows = Vec::new();
    let mut flights = Vec::new();
    let end = config.end();
    let mut stream = 0u64;
    // Flows draw from their own streams, so adding flows changes no other row.
    let mut flow_stream = 1u64 << 40;
    // Budget steps draw from streams of their own, one per campaign or flow.
    let mut step_stream = 0u64;
    let ar = config.noise_ar;
    let ar_innovation = (1.0 - ar * ar).sqrt();
    for (ci, ch) in config.channels.iter().enumerate() {
        let klaviyo = ch.platform == Some(Platform::Klaviyo);
        for (ki, c) in ch.campaigns.iter().enumerate() {
            let flow = c.message_type == MessageType::Flow;
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            if flow {
                flow_stream += 1;
                rng.set_stream(flow_stream);
            } else {
                stream += 1;
                rng.set_stream(stream);
            }
            let first = (c.flight_start.unwrap_or(config.start) - config.start).num_days() as usize;
            let last = (c.flight_end.unwrap_or(end) - config.start).num_days() as usize;
            let mut flight = Flight {
                channel: ci,
                campaign: ki,
                first,
                rows: Vec::with_capacity(last + 1 - first),
            };
            step_stream += 1;
            let levels = budget_levels(config, step_stream, last + 1 - first);
            // The campaign's standardized log baseline noise, AR(1) across its flight days.
            let mut noise = 0.0;
            for (t, day) in days.iter().enumerate().take(last + 1).skip(first) {
                // Always draw the same numbers per day so streams stay aligned.
                let mut z = [0.0f64; 4];
                for v in &mut z {
                    *v = StandardNormal.sample(&mut rng);
                }
                let dither: f64 = rand::Rng::random(&mut rng);
                noise = if ar == 0.0 || t == first {
                    z[3]
                } else {
                    ar * noise + ar_innovation * z[3]
                };
                let weekday = day.date.weekday();
                let sends = !klaviyo
                    || flow
                    || c.send_weekdays.contains(&weekday.num_days_from_monday())
                    || day.special == SpecialDay::Event;
                let paused = !klaviyo && config.pulses.is_some_and(|p| !p.running(t));
                if !sends || paused {
                    flight.rows.push(None);
                    continue;
                }
                let mut scale =
                    day.demand.powf(config.confounding) * lognormal_unit(config.budget_noise, z[0]);
                if config.budget_steps.is_some() {
                    scale *= levels[t - first];
                }
                if let Some(u) = config.latent_shock {
                    let e = u.spend_elasticity;
                    scale *= (e * day.shock - (e * u.sd).powi(2) / 2.0).exp();
                }
                if config.feedback > 0.0 {
                    scale *= lognormal_unit(config.feedback * config.noise, noise);
                }
                let mut row = Row {
                    day: t,
                    channel: ci,
                    campaign: ki,
                    spend: 0.0,
                    impressions: 0,
                    clicks: 0,
                    delivered: 0,
                    opens: 0,
                    unsubscribes: 0,
                    bounced: 0,
                    tau_scale: 0.0,
                    baseline: 0.0,
                    conv_dither: dither,
                    revenue: 0.0,
                    conversions: 0.0,
                    tau: 0.0,
                    tau_long_run: 0.0,
                    incremental_revenue: 0.0,
                    incremental_conversions: 0.0,
                };
                if klaviyo {
                    let recipients = (c.daily_budget / ch.cost_per_recipient * scale)
                        .round()
                        .max(1.0);
                    row.spend = round_cents(recipients * ch.cost_per_recipient);
                    row.impressions = recipients as i64;
                    row.bounced = (recipients * 0.008 * lognormal_unit(0.2, z[1])).round() as i64;
                    row.bounced = row.bounced.min(row.impressions);
                    row.delivered = row.impressions - row.bounced;
                    let delivered = row.delivered as f64;
                    row.opens = (delivered * 0.38 * lognormal_unit(0.1, z[2]))
                        .round()
                        .min(delivered) as i64;
                    row.clicks = (delivered * ch.ctr * lognormal_unit(0.15, z[2]))
                        .round()
                        .min(row.opens as f64) as i64;
                    row.unsubscribes = (delivered * 0.0015).round() as i64;
                } else {
                    row.spend = round_cents(c.daily_budget * scale).max(0.01);
                    let cpm = ch.cpm * day.demand.powf(0.3) * lognormal_unit(0.1, z[1]);
                    row.impressions = (row.spend / cpm * 1000.0).round().max(1.0) as i64;
                    row.clicks = ((row.impressions as f64) * ch.ctr * lognormal_unit(0.15, z[2]))
                        .round()
                        .min(row.impressions as f64) as i64;
                }
                row.tau_scale = return_scale(config, ci, ki, day);
                row.baseline = ch.organic_ratio
                    * c.daily_budget
                    * day.demand
                    * lognormal_unit(config.noise, noise);
                if let Some(u) = config.latent_shock {
                    row.baseline *= u.baseline_multiplier(day.shock);
                }
                flight.rows.push(Some(rows.len()));
                rows.push(row);
            }
            flights.push(flight);
        }
    }
    (rows, flights)
}

/// One row of the world with its true values.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldRow<'a> {
    /// The day.
    pub date: NaiveDate,
    /// Channel name.
    pub channel: &'a str,
    /// Platform serving the channel, if any.
    pub platform: Option<Platform>,
    /// Klaviyo: a campaign send or a flow's sends of the day (`Campaign` elsewhere).
    pub message_type: MessageType,
    /// Account id.
    pub account_id: &'a str,
    /// Platform campaign id (Klaviyo: the send's campaign object id, or the flow id).
    pub campaign_id: String,
    /// Campaign name (Klaviyo: the series name, shared by its sends, or the flow name).
    pub campaign: &'a str,
    /// Currency of the money columns.
    pub currency: &'a str,
    /// Spend, in cents precision.
    pub spend: f64,
    /// Impressions (Klaviyo: recipients).
    pub impressions: i64,
    /// Clicks (Klaviyo: unique clicks).
    pub clicks: i64,
    /// Platform-reported conversions.
    pub conversions: f64,
    /// Platform-reported revenue, in cents precision.
    pub revenue: f64,
    /// Klaviyo: delivered emails (0 elsewhere).
    pub delivered: i64,
    /// Klaviyo: unique opens (0 elsewhere).
    pub opens_unique: i64,
    /// Klaviyo: unsubscribes (0 elsewhere).
    pub unsubscribes: i64,
    /// Klaviyo: bounced emails (0 elsewhere).
    pub bounced: i64,
    /// True contemporaneous marginal return of one more unit of exposure on this row.
    pub tau: f64,
    /// True long-run marginal return of one more unit of spend on this row (today's
    /// effect plus the adstocked effect on the campaign's later rows).
    pub tau_long_run: f64,
    /// Revenue of this row caused by its channel (re-simulation with the channel off).
    pub incremental_revenue: f64,
    /// Conversions of this row caused by its channel.
    pub incremental_conversions: f64,
    /// The row's revenue had its channel spent nothing (baseline with noise).
    pub baseline_revenue: f64,
    /// The day's demand multiplier (the confounder).
    pub demand: f64,
    /// The day's unobserved demand shock as a multiplier of the baseline (1 without a
    /// [`LatentShock`](crate::LatentShock)); no table column shows it.
    pub latent_shock: f64,
    /// Whether the day is a US federal holiday.
    pub is_holiday: bool,
    /// Whether the day is Black Friday or Cyber Monday.
    pub is_commercial_event: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Preset;

    /// With a shared audience, one campaign spending 1% more takes revenue from its
    /// siblings (their rows lose at least 5% of what its own rows gain); the same world
    /// with each campaign saturating on its own leaves the siblings' rows exactly as they
    /// were. Other channels never move.
    #[test]
    fn a_shared_audience_makes_a_campaign_take_revenue_from_its_siblings() {
        let shared = WorldConfig::preset(Preset::SharedAudience, 1);
        let mut own = shared.clone();
        for ch in &mut own.channels {
            ch.saturation_scope = SaturationScope::Campaign;
        }
        for (config, is_shared) in [(shared, true), (own, false)] {
            let world = World::generate(&config).unwrap();
            let meta = world.channel_index("meta").unwrap();
            let spend: Vec<f64> = world.rows.iter().map(|r| r.spend).collect();
            let before = world.revenue_for(&spend);
            let mut raised = spend.clone();
            for (i, r) in world.rows.iter().enumerate() {
                if r.channel == meta && r.campaign == 0 {
                    raised[i] *= 1.01;
                }
            }
            let after = world.revenue_for(&raised);
            let (mut own_gain, mut siblings) = (0.0, 0.0);
            for (i, r) in world.rows.iter().enumerate() {
                let change = after[i] - before[i];
                if r.channel != meta {
                    assert_eq!(change, 0.0, "{}", r.channel);
                } else if r.campaign == 0 {
                    own_gain += change;
                } else {
                    siblings += change;
                }
            }
            assert!(own_gain > 0.0, "{own_gain}");
            if is_shared {
                assert!(
                    siblings < -0.05 * own_gain,
                    "siblings {siblings}, own {own_gain}"
                );
            } else {
                assert_eq!(siblings, 0.0);
            }
        }
    }

    /// Pulsing: the paid channels have rows only on running days, all on the same days;
    /// Klaviyo keeps sending through the pauses.
    #[test]
    fn pulsing_pauses_every_paid_channel_at_once() {
        let config = WorldConfig::preset(Preset::Pulsing, 1);
        let pulses = config.pulses.unwrap();
        let world = World::generate(&config).unwrap();
        let mut klaviyo_paused_days = 0;
        for r in &world.rows {
            let paid = config.channels[r.channel].platform != Some(Platform::Klaviyo);
            if paid {
                assert!(pulses.running(r.day), "day {}", r.day);
            } else if !pulses.running(r.day) {
                klaviyo_paused_days += 1;
            }
        }
        assert!(klaviyo_paused_days > 100, "{klaviyo_paused_days}");
        let paid_days: std::collections::BTreeSet<usize> = world
            .rows
            .iter()
            .filter(|r| config.channels[r.channel].platform != Some(Platform::Klaviyo))
            .map(|r| r.day)
            .collect();
        // Half the days, give or take the last cycle.
        let share = paid_days.len() as f64 / world.days.len() as f64;
        assert!((share - 0.5).abs() < 0.03, "{share}");
    }
}
