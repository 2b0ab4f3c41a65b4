//! What a simulated world looks like: channels, campaigns, demand, noise, confounding.

use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

/// Which platform API serves a channel in its native shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Platform {
    /// Meta Marketing API (Ads Insights).
    Meta,
    /// Google Ads API (searchStream rows).
    GoogleAds,
    /// Klaviyo: campaign values reports (one row per email send) and, when the world has
    /// flows, flow series reports (one row per flow and day).
    Klaviyo,
    /// TikTok Business API: synchronous integrated reports (one row per campaign and day,
    /// metrics as strings). No channel of the standard world uses it; see
    /// [`WorldConfig::with_platform`].
    TikTok,
}

/// What a Klaviyo series is: a campaign (one campaign object per send, on its send
/// weekdays) or a flow (triggered emails sent every day of its flight, reported as a daily
/// series under one flow id). Other platforms' campaigns are `Campaign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum MessageType {
    /// A campaign: scheduled sends.
    #[default]
    Campaign,
    /// A Klaviyo flow: automated sends every day.
    Flow,
}

impl MessageType {
    /// `campaign` or `flow`, as in the Klaviyo connector's `message_type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Campaign => "campaign",
            MessageType::Flow => "flow",
        }
    }
}

/// Diminishing returns to exposure.
///
/// With `Hill`, the incremental outcome of a row is `τ · K · x^S / (1 + x^S)` with
/// `x = exposure / K` and `K = half_saturation ×` the campaign's steady-state exposure
/// (`daily_budget / (1 − decay)`); its marginal return at low exposure is below `τ`
/// when `shape > 1` and equals `τ` when `shape = 1`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Saturation {
    /// Linear response: every unit of exposure returns `τ`.
    #[default]
    Off,
    /// Hill saturation.
    Hill {
        /// Exposure at which the response reaches half its maximum, as a multiple of the
        /// campaign's steady-state exposure. Range: > 0.
        half_saturation: f64,
        /// Hill exponent. Range: > 0.
        shape: f64,
    },
}

/// Whose exposure a channel's [`Saturation`] curve is a function of.
///
/// With `Campaign` (the default) each campaign saturates on its own: its rows' effect
/// depends on its own exposure only. With `Channel` the channel's campaigns reach one
/// audience: the curve applies to the channel's total exposure of the day `A` (each
/// campaign's exposure carried over with the channel's decay, summed), with the
/// half-saturation `K = half_saturation × Σ daily budgets / (1 − decay)` over the channel's
/// campaigns, and each row gets its campaign's share of it, `τ · a · G(A) / A` (`a` the
/// campaign's exposure, `G(A) = K · x^S / (1 + x^S)`, `x = A / K`). One campaign spending more
/// then takes revenue from its siblings: its own rows' return overstates what one more
/// unit across the channel brings, which the channel's `marginal_roas` (every campaign's
/// spend raised together) measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SaturationScope {
    /// Each campaign's own exposure.
    #[default]
    Campaign,
    /// The channel's total exposure of the day, shared by its campaigns.
    Channel,
}

/// Flighting aligned across channels: every campaign of every channel but Klaviyo (email
/// keeps its sends) runs `on_days`, pauses `off_days` (no row, no spend), and so on from
/// the world's first day. Every paid channel's spend then moves together, for a reason the
/// calendar does not show but that is no confounding (the plan, not demand): what a check
/// for a hidden demand shock must not mistake for one.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `on_days` | 14 | days running in each cycle | ≥ 1 |
/// | `off_days` | 14 | days paused in each cycle | ≥ 1 |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pulses {
    /// Days running in each cycle.
    pub on_days: u32,
    /// Days paused in each cycle.
    pub off_days: u32,
}

impl Default for Pulses {
    fn default() -> Self {
        Self {
            on_days: 14,
            off_days: 14,
        }
    }
}

impl Pulses {
    /// Whether day `t` (0 = the world's first day) is a running day.
    pub fn running(&self, t: usize) -> bool {
        let cycle = (self.on_days + self.off_days) as usize;
        t % cycle < self.on_days as usize
    }
}

/// Budgets that move in steps: each campaign's spend level is piecewise constant over
/// blocks of random length, a new level at every block start (what budget reviews do).
///
/// A block's level multiplies the campaign's daily spend by `exp(level_sd·z − level_sd²/2)`
/// (mean 1, `z` standard normal, independent between blocks); block lengths are drawn
/// uniformly from `min_block_days..=max_block_days`. The draws come from their own random
/// stream per campaign, so turning steps on changes no other draw.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `min_block_days` | 7 | shortest block of constant budget, in days | ≥ 1 |
/// | `max_block_days` | 42 | longest block, in days | ≥ `min_block_days`, ≤ 36 600 |
/// | `level_sd` | 0.4 | sd of a block's log budget level | [0, 2] |
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetSteps {
    /// Shortest block of constant budget, in days.
    pub min_block_days: u32,
    /// Longest block of constant budget, in days.
    pub max_block_days: u32,
    /// Standard deviation of a block's log budget level.
    pub level_sd: f64,
}

impl Default for BudgetSteps {
    fn default() -> Self {
        Self {
            min_block_days: 7,
            max_block_days: 42,
            level_sd: 0.4,
        }
    }
}

/// An unobserved daily demand shock: a world-wide AR(1) series `u_t` of log demand that
/// no calendar column shows. It multiplies every row's baseline revenue (and the business's)
/// by `exp(b·u_t − b²sd²/2)` (`b = baseline_elasticity`) and its spend by
/// `exp(e·u_t − e²sd²/2)` (`e = spend_elasticity`), so spend and revenue move together for
/// a reason the data does not contain: hidden confounding, where an estimator should warn
/// rather than be trusted. With `b = 0` the budgets move together and demand does not
/// (a shared budget decision, no confounding): what a check for hidden demand must not
/// mistake for it, or must not pay much for when it does. `u_t` is stationary:
/// `u_0 = sd·z_0`, `u_t = ar·u_{t−1} + sd·√(1 − ar²)·z_t`, drawn from its own random stream.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `ar` | 0.9 | day-to-day persistence of the shock | [0, 1) |
/// | `sd` | 0.2 | stationary sd of the log shock (0.2 moves the baseline by about ±20%) | [0, 1] |
/// | `spend_elasticity` | 1.0 | elasticity of spend to the shock | [0, 3] |
/// | `baseline_elasticity` | 1.0 | elasticity of baseline revenue to the shock | [0, 3] |
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatentShock {
    /// Day-to-day persistence φ of the log shock.
    pub ar: f64,
    /// Stationary standard deviation of the log shock.
    pub sd: f64,
    /// Elasticity of spend to the shock.
    pub spend_elasticity: f64,
    /// Elasticity of baseline revenue to the shock.
    pub baseline_elasticity: f64,
}

impl LatentShock {
    /// The shock's multiplier on baseline revenue for the log shock `u` (mean 1).
    pub(crate) fn baseline_multiplier(&self, u: f64) -> f64 {
        let b = self.baseline_elasticity;
        (b * u - (b * self.sd).powi(2) / 2.0).exp()
    }
}

impl Default for LatentShock {
    fn default() -> Self {
        Self {
            ar: 0.9,
            sd: 0.2,
            spend_elasticity: 1.0,
            baseline_elasticity: 1.0,
        }
    }
}

/// Part of one channel's effect that the platforms report in another channel's rows: a
/// Meta ad sends someone to search for the brand, and the sale shows up in Google Ads.
///
/// On every day, `share` of the effect of `from`'s rows moves to the rows of `to` of that
/// day, split in proportion to their campaigns' daily budgets (on days without a row of
/// `to`, it stays where it is). The business total sees the whole effect either way, and
/// the truth of `from` ([`ChannelTruth`](crate::ChannelTruth)) counts it wherever it lands.
///
/// | Name | Meaning | Range |
/// |---|---|---|
/// | `from` | channel whose effect spills | a channel of the world |
/// | `to` | channel whose rows report it | another channel |
/// | `share` | part of `from`'s effect reported by `to` | [0, 1] |
#[derive(Debug, Clone, PartialEq)]
pub struct Spillover {
    /// Channel whose effect spills.
    pub from: String,
    /// Channel whose rows report the spilled effect.
    pub to: String,
    /// Share of `from`'s effect reported in `to`'s rows.
    pub share: f64,
}

/// The business's own revenue per day (what Shopify or the warehouse records): its organic
/// baseline plus every channel's incremental revenue, wherever the platforms report it.
///
/// Baseline of day t: `organic_factor × Σ organic_ratio·daily_budget` (over every campaign
/// of every channel) `× d_t × exp(noise·e_t − noise²/2)` (times the latent shock's
/// multiplier when the world has one), with `e_t` standard normal, AR(1) with the world's
/// `noise_ar`, drawn from a random stream of its own (so the campaign rows do not change).
/// Orders are `⌊revenue / avg_order_value + u⌋`.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `organic_factor` | 1.0 | organic baseline relative to the platforms' summed baselines | ≥ 0 |
/// | `noise` | 0.05 | sd of the log-normal noise on the daily baseline | [0, 2] |
/// | `avg_order_value` | 75 | revenue per order | > 0 |
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BusinessOutcome {
    /// Organic baseline relative to the platforms' summed baselines.
    pub organic_factor: f64,
    /// Standard deviation of the log-normal noise on the daily baseline.
    pub noise: f64,
    /// Revenue per order.
    pub avg_order_value: f64,
}

impl Default for BusinessOutcome {
    fn default() -> Self {
        Self {
            organic_factor: 1.0,
            noise: 0.05,
            avg_order_value: 75.0,
        }
    }
}

/// Named worlds for testing estimators, from the regression check to worlds where the
/// right answer is a warning. Each has a zero-effect channel `tiktok` (no platform API);
/// every preset but `Linear` redraws its campaigns, curves and noise parameters from the
/// seed. Parameter ranges are on [`WorldConfig::preset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// The standard world (4 campaigns per channel) plus `tiktok`: linear response, no
    /// carryover; byte-identical to `WorldConfig::standard(4).with_zero_effect_channel("tiktok").with_seed(seed)`.
    Linear,
    /// Hill saturation per channel.
    Saturation,
    /// Geometric adstock per channel, linear response.
    Carryover,
    /// Saturation, carryover, budgets in steps, autocorrelated revenue noise, unbalanced
    /// campaigns redrawn per seed.
    Realistic,
    /// A realistic world (linear response) with an unobserved demand shock driving both
    /// spend and revenue: hidden confounding.
    Latent,
    /// A realistic world (linear response) whose spend reacts to the same day's revenue
    /// shock: same-day reverse causality, hidden confounding.
    Feedback,
    /// Campaigns redrawn from the seed, linear response, and 35% of Meta's effect lands in
    /// Google Ads' rows (Meta ads sending people to search for the brand): Meta's
    /// platform-reported revenue understates what it caused, Google's overstates it; the
    /// business total sees all of it.
    Spillover,
    /// A realistic world whose Hill curves are steep (shape 2.5–3.5) with half-saturation
    /// anywhere from half to two and a half times a campaign's typical exposure: many
    /// campaigns' typical day sits on the convex foot of an S-shaped curve, between the
    /// points a grid of curves would try.
    Steep,
    /// A realistic world (linear response) with long carryover: geometric decay 0.8–0.92
    /// per channel, so most of a day's effect comes on later days.
    LongCarryover,
    /// A realistic world whose campaigns of one paid channel reach one audience: each paid
    /// channel's Hill curve applies to its total exposure of the day
    /// ([`SaturationScope::Channel`]; Klaviyo's campaigns keep curves of their own).
    SharedAudience,
    /// A realistic world whose paid channels run two weeks and pause two weeks, all at
    /// once ([`Pulses`]): spend moves together across channels by plan, not by demand.
    Pulsing,
    /// A realistic world whose demand drifts: a slow unobserved shift of log demand
    /// (AR(1), φ 0.995, a [`LatentShock`]) that no calendar column shows, over months
    /// rather than days, with the budgets following it half as much (a business that
    /// grows or shrinks spends more or less): what a baseline with a flexible level must
    /// absorb, and one without it gives to the channels.
    Drift,
}

impl Preset {
    /// Every preset, in documentation order.
    pub const ALL: [Preset; 12] = [
        Preset::Linear,
        Preset::Saturation,
        Preset::Carryover,
        Preset::Realistic,
        Preset::Latent,
        Preset::Feedback,
        Preset::Spillover,
        Preset::Steep,
        Preset::LongCarryover,
        Preset::SharedAudience,
        Preset::Pulsing,
        Preset::Drift,
    ];

    /// The preset's name: `linear`, `saturation`, `carryover`, `realistic`, `latent`,
    /// `feedback`, `spillover`, `steep`, `long_carryover`, `shared_audience`, `pulsing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Linear => "linear",
            Preset::Saturation => "saturation",
            Preset::Carryover => "carryover",
            Preset::Realistic => "realistic",
            Preset::Latent => "latent",
            Preset::Feedback => "feedback",
            Preset::Spillover => "spillover",
            Preset::Steep => "steep",
            Preset::LongCarryover => "long_carryover",
            Preset::SharedAudience => "shared_audience",
            Preset::Pulsing => "pulsing",
            Preset::Drift => "drift",
        }
    }

    /// The preset called `name` (as [`as_str`](Self::as_str) spells it, ASCII case ignored).
    pub fn parse(name: &str) -> Result<Preset> {
        let name = name.trim();
        Preset::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::InvalidConfig {
                field: "preset".into(),
                message: format!(
                    "`{name}` is not a preset; expected one of {}",
                    Preset::ALL.map(Preset::as_str).join(", ")
                ),
            })
    }
}

impl std::str::FromStr for Preset {
    type Err = Error;

    fn from_str(s: &str) -> Result<Preset> {
        Preset::parse(s)
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One campaign (for Klaviyo: one recurring email series, each send a campaign object, or
/// a flow sending every day).
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `id` | — | platform id (unique in the world) | non-empty |
/// | `name` | — | campaign name | non-empty |
/// | `account_id` | — | ad account / customer / Klaviyo account | non-empty |
/// | `flight_start` | `None` | first active day (`None`: the world's first day) | inside the world |
/// | `flight_end` | `None` | last active day (`None`: the world's last day) | ≥ `flight_start` |
/// | `daily_budget` | — | typical daily spend (Klaviyo: per send) at average demand | > 0 |
/// | `roas_multiplier` | 1.0 | campaign's true return relative to its channel's | ≥ 0 |
/// | `send_weekdays` | Tue, Fri | Klaviyo campaigns only: weekdays with a send (0 = Monday) | 0..=6 |
/// | `message_type` | `Campaign` | Klaviyo only: campaign sends or a daily flow | see [`MessageType`] |
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignConfig {
    /// Platform id, unique in the world.
    pub id: String,
    /// Campaign name.
    pub name: String,
    /// Account the campaign belongs to.
    pub account_id: String,
    /// First active day; `None` means the world's first day.
    pub flight_start: Option<NaiveDate>,
    /// Last active day; `None` means the world's last day.
    pub flight_end: Option<NaiveDate>,
    /// Typical daily spend (Klaviyo: per send) at average demand, in the channel currency.
    pub daily_budget: f64,
    /// The campaign's true return relative to its channel's `roas`.
    pub roas_multiplier: f64,
    /// Klaviyo campaigns only: weekdays with a regular send (0 = Monday … 6 = Sunday);
    /// flows send every day and ignore it.
    pub send_weekdays: Vec<u32>,
    /// Klaviyo only: a campaign series or a flow.
    pub message_type: MessageType,
}

/// One marketing channel.
///
/// | Name | Default (standard worlds) | Meaning | Range |
/// |---|---|---|---|
/// | `name` | `meta`, `google_ads`, `klaviyo` | channel name in the unified table | unique, non-empty |
/// | `platform` | by name | native API shape; `None`: unified table only | — |
/// | `currency` | `USD` | ISO 4217 code of the money columns | 3 letters |
/// | `roas` | 2.0 / 3.0 / 4.0 | true marginal return per unit of exposure at the reference day | ≥ 0 (0 = no effect) |
/// | `organic_ratio` | 1.6 / 2.4 / 3.0 | baseline (non-incremental) revenue per unit of budget at average demand | ≥ 0 |
/// | `adstock_decay` | 0.0 | geometric carryover θ in `a_t = s_t + θ a_{t−1}` | [0, 1) |
/// | `saturation` | `Off` | diminishing returns | see [`Saturation`] |
/// | `saturation_scope` | `Campaign` | whose exposure the curve is a function of | see [`SaturationScope`] |
/// | `cpm` | 9 / 30 / — | cost per thousand impressions at average demand | > 0 |
/// | `ctr` | 0.012 / 0.045 / 0.03 | clicks per impression (Klaviyo: per delivered email) | [0, 1] |
/// | `avg_order_value` | 70 / 85 / 60 | revenue per conversion | > 0 |
/// | `cost_per_recipient` | 0.01 | Klaviyo only: spend per email recipient | > 0 |
/// | `campaigns` | generated | the channel's campaigns | non-empty |
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig {
    /// Channel name in the unified table.
    pub name: String,
    /// Native API shape, if the channel is served by a platform API.
    pub platform: Option<Platform>,
    /// ISO 4217 code of the money columns.
    pub currency: String,
    /// True marginal return per unit of exposure on a reference (weekday, non-holiday) day.
    pub roas: f64,
    /// Baseline revenue per unit of daily budget at average demand: what the platform
    /// reports that would have happened anyway.
    pub organic_ratio: f64,
    /// Geometric adstock decay θ.
    pub adstock_decay: f64,
    /// Diminishing returns.
    pub saturation: Saturation,
    /// Whose exposure the saturation curve is a function of.
    pub saturation_scope: SaturationScope,
    /// Cost per thousand impressions at average demand.
    pub cpm: f64,
    /// Clicks per impression (Klaviyo: per delivered email).
    pub ctr: f64,
    /// Revenue per conversion.
    pub avg_order_value: f64,
    /// Klaviyo only: spend per email recipient.
    pub cost_per_recipient: f64,
    /// The channel's campaigns.
    pub campaigns: Vec<CampaignConfig>,
}

/// The whole simulated world.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `seed` | 42 | seed of every random draw | any |
/// | `start` | 2024-01-01 | first day | — |
/// | `days` | 730 | number of days | 1..=36_600 |
/// | `channels` | meta, google_ads, klaviyo (no flows; see [`with_klaviyo_flows`](Self::with_klaviyo_flows)) | channels and campaigns | non-empty |
/// | `noise` | 0.15 | sd of the log-normal noise on baseline revenue | [0, 2] |
/// | `confounding` | 1.0 | elasticity of spend to demand (0 = spend ignores demand) | [0, 3] |
/// | `budget_noise` | 0.35 | sd of log spend not explained by demand (identifies the effect) | (0, 2] |
/// | `weekday_profile` | Mon 0.92 … Sat 1.15 | relative baseline demand per weekday (normalized to mean 1) | > 0 |
/// | `seasonal_amplitude` | 0.20 | amplitude of the yearly log-demand cycle (peak mid-December) | [0, 2] |
/// | `q4_lift` | 0.25 | extra demand from Nov 15 to Dec 24 | ≥ −0.9 |
/// | `holiday_lift` | 0.30 | baseline lift on US federal holidays | ≥ −0.9 |
/// | `event_lift` | 0.60 | baseline lift on Black Friday and Cyber Monday | ≥ −0.9 |
/// | `trend` | 0.05 | yearly growth of demand | [−0.5, 1] |
/// | `weekend_effect` | −0.20 | relative change of the true return on weekends | ≥ −1 |
/// | `holiday_effect` | 0.30 | relative change of the true return on holidays and events | ≥ −1 |
/// | `budget_steps` | `None` | campaign budgets piecewise constant over random blocks | see [`BudgetSteps`] |
/// | `noise_ar` | 0.0 | AR(1) coefficient φ of each campaign's log baseline noise (its sd stays `noise`) | [0, 1) |
/// | `latent_shock` | `None` | unobserved daily demand shock moving spend and baseline | see [`LatentShock`] |
/// | `feedback` | 0.0 | elasticity of spend to the same row's baseline noise (same-day reverse causality) | [0, 3] |
/// | `preset` | `None` | the [`Preset`] this configuration was built from; a label reported in the truth | — |
/// | `spillover` | `None` | part of one channel's effect reported in another channel's rows | see [`Spillover`] |
/// | `business` | see [`BusinessOutcome`] | the business's own daily revenue: organic level and noise | — |
/// | `pulses` | `None` | paid channels running and pausing all at once | see [`Pulses`] |
///
/// The last six default to off and draw from random streams of their own, so worlds
/// that do not use them are byte-identical to worlds built before they existed.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldConfig {
    /// Seed of every random draw.
    pub seed: u64,
    /// First day of the world.
    pub start: NaiveDate,
    /// Number of days.
    pub days: u32,
    /// Channels with their campaigns.
    pub channels: Vec<ChannelConfig>,
    /// Standard deviation of the log-normal noise on baseline revenue.
    pub noise: f64,
    /// Elasticity of spend to demand: 0 = spend ignores demand, 1 = proportional.
    pub confounding: f64,
    /// Standard deviation of log spend not explained by demand.
    pub budget_noise: f64,
    /// Relative baseline demand per weekday, Monday first.
    pub weekday_profile: [f64; 7],
    /// Amplitude of the yearly cycle of log demand.
    pub seasonal_amplitude: f64,
    /// Extra demand from November 15 to December 24.
    pub q4_lift: f64,
    /// Baseline lift on US federal holidays.
    pub holiday_lift: f64,
    /// Baseline lift on Black Friday and Cyber Monday.
    pub event_lift: f64,
    /// Yearly growth of demand.
    pub trend: f64,
    /// Relative change of the true return on weekends.
    pub weekend_effect: f64,
    /// Relative change of the true return on holidays and commercial events.
    pub holiday_effect: f64,
    /// Budgets that move in steps (`None`: spend varies only with demand and daily noise).
    pub budget_steps: Option<BudgetSteps>,
    /// AR(1) coefficient of each campaign's log baseline noise, day to day; the stationary
    /// sd stays `noise`. 0 = independent days.
    pub noise_ar: f64,
    /// An unobserved demand shock moving spend and baseline together (hidden confounding).
    pub latent_shock: Option<LatentShock>,
    /// Elasticity of spend to the same row's log baseline noise: a row's log spend gains
    /// `feedback · noise · e` (centred), `e` the row's standardized baseline noise, so spend
    /// reacts to the day's revenue shock (hidden confounding). 0 = no feedback.
    pub feedback: f64,
    /// The preset this configuration was built from, if any (a label; see
    /// [`WorldConfig::preset`]).
    pub preset: Option<Preset>,
    /// Part of one channel's effect reported in another channel's rows (`None`: every
    /// channel's effect lands in its own rows).
    pub spillover: Option<Spillover>,
    /// The business's own daily revenue ([`World::business_table`](crate::World::business_table)).
    pub business: BusinessOutcome,
    /// Paid channels running and pausing all at once (`None`: every campaign runs through
    /// its flight).
    pub pulses: Option<Pulses>,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self::standard(4)
    }
}

const DEFAULT_SEED: u64 = 42;

impl WorldConfig {
    /// The standard world: two years from 2024-01-01 with Meta (two ad accounts), Google
    /// Ads and Klaviyo, `campaigns_per_channel` campaigns each (at least 1), some of them
    /// flighted (starting late or ending early). Campaign budgets and return multipliers
    /// are drawn once from a fixed seed, so the configuration itself is deterministic and
    /// can be inspected or edited before [`World::generate`](crate::World::generate).
    pub fn standard(campaigns_per_channel: usize) -> Self {
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
        let days = 730;
        let n = campaigns_per_channel.max(1);
        let mut rng = ChaCha8Rng::seed_from_u64(0x11f7_05ca_u64);
        let mut channels = Vec::new();
        for (name, platform, roas, organic, cpm, ctr, aov) in [
            ("meta", Platform::Meta, 2.0, 1.6, 9.0, 0.012, 70.0),
            (
                "google_ads",
                Platform::GoogleAds,
                3.0,
                2.4,
                30.0,
                0.045,
                85.0,
            ),
            ("klaviyo", Platform::Klaviyo, 4.0, 3.0, 1.0, 0.03, 60.0),
        ] {
            let campaigns = (0..n)
                .map(|i| standard_campaign(&mut rng, name, i, start, days))
                .collect();
            channels.push(ChannelConfig {
                name: name.to_owned(),
                platform: Some(platform),
                currency: "USD".to_owned(),
                roas,
                organic_ratio: organic,
                adstock_decay: 0.0,
                saturation: Saturation::Off,
                saturation_scope: SaturationScope::Campaign,
                cpm,
                ctr,
                avg_order_value: aov,
                cost_per_recipient: 0.01,
                campaigns,
            });
        }
        Self {
            seed: DEFAULT_SEED,
            start,
            days,
            channels,
            noise: 0.15,
            confounding: 1.0,
            budget_noise: 0.35,
            weekday_profile: [0.92, 0.95, 0.97, 0.98, 1.02, 1.15, 1.08],
            seasonal_amplitude: 0.20,
            q4_lift: 0.25,
            holiday_lift: 0.30,
            event_lift: 0.60,
            trend: 0.05,
            weekend_effect: -0.20,
            holiday_effect: 0.30,
            budget_steps: None,
            noise_ar: 0.0,
            latent_shock: None,
            feedback: 0.0,
            preset: None,
            spillover: None,
            business: BusinessOutcome::default(),
            pulses: None,
        }
    }

    /// A named world for `seed` (see [`Preset`]). Every preset has the three platform
    /// channels plus a zero-effect channel `tiktok`, two years from 2024-01-01, and draws
    /// everything listed below from `seed` (its own random stream per preset); the world's
    /// rows then come from `seed` as usual. Ranges are uniform draws.
    ///
    /// | Preset | Campaigns | Response | Spend and noise | Hidden confounding |
    /// |---|---|---|---|---|
    /// | `linear` | standard, 4 per channel (fixed) | linear, no carryover | standard | no |
    /// | `saturation` | 4 per channel, standard draws from the seed | Hill per channel: shape S in [1, 2], half-saturation h in [0.5, min(2, 0.8·(S−1)^(−1/S))] | standard | no |
    /// | `carryover` | as `saturation` | linear, adstock θ in [0.2, 0.7] per channel | standard | no |
    /// | `realistic` | 4–6 per channel, budgets log-uniform over 10× within a channel, multipliers in [0.5, 1.5], random flights | Hill and adstock as above | budget steps (7–42 days, level sd 0.4), daily budget noise 0.15, AR(1) baseline noise φ in [0.5, 0.7] | no |
    /// | `latent` | as `realistic` | linear, no carryover | as `realistic` plus a latent shock (φ 0.9, sd in [0.15, 0.25], spend elasticity 1) | yes |
    /// | `feedback` | as `realistic` | linear, no carryover | as `realistic` with baseline noise sd 0.25, plus spend feedback ρ in [0.5, 1.0] (elasticity of spend to the row's baseline noise) | yes |
    /// | `spillover` | as `saturation` | linear, no carryover; 35% of Meta's effect reported in Google Ads' rows ([`Spillover`]) | standard | no |
    /// | `steep` | as `realistic` | Hill per channel: shape S in [2.5, 3.5], half-saturation h in [0.5, 2.5] (often on the convex foot); adstock θ in [0.2, 0.7] | as `realistic` | no |
    /// | `long_carryover` | as `realistic` | linear, adstock θ in [0.8, 0.92] per channel | as `realistic` | no |
    /// | `shared_audience` | as `realistic` | Hill and adstock as `realistic`, on each paid channel's total exposure ([`SaturationScope::Channel`]; Klaviyo's campaigns keep their own) | as `realistic` | no |
    /// | `pulsing` | as `realistic` | Hill and adstock as `realistic` | as `realistic`, and the paid channels run 14 days and pause 14, all at once ([`Pulses`]) | no |
    /// | `drift` | as `realistic` | Hill and adstock as `realistic` | as `realistic` plus a slow drift of demand ([`LatentShock`] φ 0.995, sd in [0.1, 0.2], baseline elasticity 1, spend elasticity 0.5) | yes, slow: months, not days |
    ///
    /// `linear` is byte-identical to `WorldConfig::standard(4).with_zero_effect_channel("tiktok").with_seed(seed)`
    /// apart from the [`preset`](Self::preset) label.
    ///
    /// In `latent` and `feedback` the hidden cause biases any slope of revenue on spend,
    /// even one that knows the true calendar demand: on seed 1, the slope of baseline
    /// revenue (what spend did not cause) on spend, both net of their calendar expectation,
    /// is 0.25 (meta) and 0.37 (google_ads) in `latent`, 0.35 and 0.68 in `feedback`, and
    /// 0.20 and 0.39 on the zero-effect `tiktok`, against true returns of 1.4–3.6; in the
    /// other presets it is within ±0.05. The feedback preset raises the baseline noise to
    /// 0.25 so that its bias is of that size.
    ///
    /// The half-saturation bound keeps a campaign's typical day on the concave part of an
    /// S-shaped Hill curve (`x^S > S − 1` with room to spare at `x = 1/h`), where the
    /// marginal return is below the average one;
    /// with `S = 2` and `h = 2` the typical day would sit where the curve is still convex.
    pub fn preset(preset: Preset, seed: u64) -> Self {
        let mut config = Self::standard(4)
            .with_zero_effect_channel("tiktok")
            .with_seed(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // One stream per preset, fixed here so that adding a preset changes no other.
        let stream = match preset {
            Preset::Linear => 0,
            Preset::Saturation => 1,
            Preset::Carryover => 2,
            Preset::Realistic => 3,
            Preset::Latent => 4,
            Preset::Feedback => 5,
            Preset::Spillover => 6,
            Preset::Steep => 7,
            Preset::LongCarryover => 8,
            Preset::SharedAudience => 9,
            Preset::Pulsing => 10,
            Preset::Drift => 11,
        };
        rng.set_stream(PRESET_STREAM + stream);
        match preset {
            Preset::Linear => {}
            Preset::Saturation => {
                config.redraw_standard_campaigns(&mut rng);
                config.draw_saturation(&mut rng);
            }
            Preset::Carryover => {
                config.redraw_standard_campaigns(&mut rng);
                config.draw_adstock(&mut rng);
            }
            Preset::Realistic => {
                config.draw_realistic_spend_and_noise(&mut rng);
                config.draw_saturation(&mut rng);
                config.draw_adstock(&mut rng);
            }
            Preset::Latent => {
                config.draw_realistic_spend_and_noise(&mut rng);
                config.draw_latent_shock(&mut rng, 0.9, (0.15, 0.25), 1.0);
            }
            Preset::Feedback => {
                config.draw_realistic_spend_and_noise(&mut rng);
                config.feedback = round3(rng.random_range(0.5..=1.0));
                config.noise = 0.25;
            }
            Preset::Spillover => {
                config.redraw_standard_campaigns(&mut rng);
                config.spillover = Some(Spillover {
                    from: "meta".into(),
                    to: "google_ads".into(),
                    share: 0.35,
                });
            }
            Preset::Steep => {
                config.draw_realistic_spend_and_noise(&mut rng);
                for ch in &mut config.channels {
                    ch.saturation = Saturation::Hill {
                        half_saturation: round3(rng.random_range(0.5..=2.5)),
                        shape: round3(rng.random_range(2.5..=3.5)),
                    };
                }
                config.draw_adstock(&mut rng);
            }
            Preset::LongCarryover => {
                config.draw_realistic_spend_and_noise(&mut rng);
                for ch in &mut config.channels {
                    ch.adstock_decay = round3(rng.random_range(0.8..=0.92));
                }
            }
            Preset::SharedAudience => {
                config.draw_realistic_spend_and_noise(&mut rng);
                config.draw_saturation(&mut rng);
                config.draw_adstock(&mut rng);
                // Email campaigns send on a few weekdays each, so a day's total is far
                // from their budgets' sum: Klaviyo's campaigns keep curves of their own.
                for ch in &mut config.channels {
                    if ch.platform != Some(Platform::Klaviyo) {
                        ch.saturation_scope = SaturationScope::Channel;
                    }
                }
            }
            Preset::Pulsing => {
                config.draw_realistic_spend_and_noise(&mut rng);
                config.draw_saturation(&mut rng);
                config.draw_adstock(&mut rng);
                config.pulses = Some(Pulses::default());
            }
            Preset::Drift => {
                config.draw_realistic_spend_and_noise(&mut rng);
                config.draw_saturation(&mut rng);
                config.draw_adstock(&mut rng);
                config.draw_latent_shock(&mut rng, 0.995, (0.1, 0.2), 0.5);
            }
        }
        config.preset = Some(preset);
        config
    }

    /// Campaign budgets and return multipliers drawn again as the standard world draws
    /// them (same names, ids, flights), from `rng`.
    fn redraw_standard_campaigns(&mut self, rng: &mut ChaCha8Rng) {
        let (start, days) = (self.start, self.days);
        for ch in &mut self.channels {
            let n = ch.campaigns.len();
            ch.campaigns = (0..n)
                .map(|i| standard_campaign(rng, &ch.name, i, start, days))
                .collect();
        }
    }

    /// Hill saturation per channel: shape in [1, 2], half-saturation in
    /// [0.5, min(2, 0.8·(S−1)^(−1/S))].
    fn draw_saturation(&mut self, rng: &mut ChaCha8Rng) {
        for ch in &mut self.channels {
            let shape: f64 = round3(rng.random_range(1.0..=2.0));
            let bound = if shape > 1.0 {
                (0.8 * (shape - 1.0).powf(-1.0 / shape)).min(2.0)
            } else {
                2.0
            };
            let half_saturation = round3(rng.random_range(0.5..=bound));
            ch.saturation = Saturation::Hill {
                half_saturation,
                shape,
            };
        }
    }

    /// A latent demand shock with persistence `ar`, its sd drawn in `sd` and the
    /// budgets' elasticity `spend_elasticity` (the baseline's 1).
    fn draw_latent_shock(
        &mut self,
        rng: &mut ChaCha8Rng,
        ar: f64,
        sd: (f64, f64),
        spend_elasticity: f64,
    ) {
        self.latent_shock = Some(LatentShock {
            ar,
            sd: round3(rng.random_range(sd.0..=sd.1)),
            spend_elasticity,
            baseline_elasticity: 1.0,
        });
    }

    /// Adstock decay per channel in [0.2, 0.7].
    fn draw_adstock(&mut self, rng: &mut ChaCha8Rng) {
        for ch in &mut self.channels {
            ch.adstock_decay = round3(rng.random_range(0.2..=0.7));
        }
    }

    /// The campaigns and spend of the realistic presets: 4–6 campaigns per channel with
    /// budgets log-uniform over a factor 10 within the channel, return multipliers in
    /// [0.5, 1.5], about a third starting late and a quarter ending early; budgets in
    /// steps, daily budget noise 0.15, AR(1) baseline noise with φ in [0.5, 0.7].
    fn draw_realistic_spend_and_noise(&mut self, rng: &mut ChaCha8Rng) {
        let (start, days) = (self.start, self.days);
        for ch in &mut self.channels {
            let n = rng.random_range(4..=6usize);
            let low = if ch.platform == Some(Platform::Klaviyo) {
                40.0
            } else {
                120.0
            };
            ch.campaigns = (0..n)
                .map(|i| {
                    let mut c = standard_campaign(rng, &ch.name, i, start, days);
                    let spread: f64 = rng.random_range(0.0..=1.0);
                    c.daily_budget = round_cents(low * 10f64.powf(spread));
                    c.roas_multiplier = round3(rng.random_range(0.5..=1.5));
                    let late: f64 = rng.random_range(0.0..1.0);
                    let early: f64 = rng.random_range(0.0..1.0);
                    let start_day = rng.random_range(1..=(days / 3).max(1));
                    let end_day =
                        rng.random_range((2 * days / 3)..=days.saturating_sub(2).max(2 * days / 3));
                    c.flight_start =
                        (late < 0.3).then(|| start + chrono::Days::new(u64::from(start_day)));
                    c.flight_end =
                        (early < 0.25).then(|| start + chrono::Days::new(u64::from(end_day)));
                    c
                })
                .collect();
        }
        self.budget_steps = Some(BudgetSteps::default());
        self.budget_noise = 0.15;
        self.noise_ar = round3(rng.random_range(0.5..=0.7));
    }

    liftos_core::setters! {
        /// Sets the spillover of one channel's effect into another's rows (`None`: off).
        with_spillover(spillover: Option<Spillover>);
        /// Turns budget steps on (or off with `None`).
        with_budget_steps(steps: Option<BudgetSteps>) => self.budget_steps = steps;
        /// Sets the AR(1) coefficient of the baseline noise.
        with_noise_ar(ar: f64) => self.noise_ar = ar;
        /// Turns the unobserved demand shock on (or off with `None`).
        with_latent_shock(shock: Option<LatentShock>) => self.latent_shock = shock;
        /// Sets the elasticity of spend to the same row's baseline noise.
        with_feedback(feedback: f64);
    }

    /// Whether spend and revenue share a cause the data does not show (a latent shock
    /// that moves spend, or spend feedback on the revenue noise): no estimator can be
    /// right here, and a warning is the correct answer.
    pub fn has_hidden_confounding(&self) -> bool {
        let shock = self
            .latent_shock
            .is_some_and(|s| s.sd > 0.0 && s.spend_elasticity > 0.0 && s.baseline_elasticity > 0.0);
        shock || (self.feedback > 0.0 && self.noise > 0.0)
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Every campaign's flight start and end that is set.
    fn flight_days(&mut self) -> impl Iterator<Item = &mut NaiveDate> {
        self.channels
            .iter_mut()
            .flat_map(|c| c.campaigns.iter_mut())
            .flat_map(|c| {
                [&mut c.flight_start, &mut c.flight_end]
                    .into_iter()
                    .flatten()
            })
    }

    /// Moves the world to start on `start`; campaign flights move with it.
    pub fn with_start(mut self, start: NaiveDate) -> Self {
        let shift = start - self.start;
        for day in self.flight_days() {
            *day = day.checked_add_signed(shift).unwrap_or(*day);
        }
        self.start = start;
        self
    }

    /// Stretches the world to `days` days; campaign flights keep their relative position
    /// (a flight starting a sixth of the way in still does).
    pub fn with_days(mut self, days: u32) -> Self {
        let old = i64::from(self.days.max(1));
        let new = i64::from(days.max(1));
        let start = self.start;
        for day in self.flight_days() {
            let offset = (*day - start).num_days() * new / old;
            *day = start + chrono::Days::new(offset.max(0) as u64);
        }
        self.days = days;
        self
    }

    liftos_core::setters! {
        /// Sets the baseline noise level.
        with_noise(noise: f64);
        /// Sets the strength of confounding (elasticity of spend to demand).
        with_confounding(confounding: f64);
    }

    /// Sets the adstock decay of the channel called `channel` (no-op for unknown names;
    /// use [`channel_mut`](Self::channel_mut) to detect them).
    pub fn with_adstock(mut self, channel: &str, decay: f64) -> Self {
        if let Some(c) = self.channel_mut(channel) {
            c.adstock_decay = decay;
        }
        self
    }

    /// Multiplies every channel's true return (`roas`) by `factor`: the same world with
    /// returns `factor` times as large (spend, baselines and every noise draw unchanged),
    /// for checking that an estimate does not lean on where the returns lie.
    pub fn with_return_scale(mut self, factor: f64) -> Self {
        for c in &mut self.channels {
            c.roas *= factor;
        }
        self
    }

    /// Sets the same saturation on every channel.
    pub fn with_saturation(mut self, saturation: Saturation) -> Self {
        for c in &mut self.channels {
            c.saturation = saturation;
        }
        self
    }

    /// Adds a channel whose true effect is exactly zero, served by no platform API. Its
    /// spend follows demand like the others, so a naive analysis credits it with revenue.
    pub fn with_zero_effect_channel(mut self, name: &str) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(0x2e80_0000_u64);
        let n = self
            .channels
            .first()
            .map_or(3, |c| c.campaigns.len())
            .max(1);
        let campaigns = (0..n)
            .map(|i| standard_campaign(&mut rng, name, i, self.start, self.days))
            .collect();
        self.channels.push(ChannelConfig {
            name: name.to_owned(),
            platform: None,
            currency: "USD".to_owned(),
            roas: 0.0,
            organic_ratio: 1.8,
            adstock_decay: 0.0,
            saturation: Saturation::Off,
            saturation_scope: SaturationScope::Campaign,
            cpm: 7.0,
            ctr: 0.008,
            avg_order_value: 65.0,
            cost_per_recipient: 0.01,
            campaigns,
        });
        self
    }

    /// Serves channel `channel` through `platform`'s fake API (no-op when the world has no
    /// such channel). Serving TikTok also gives the channel TikTok-shaped ids: numeric
    /// advertiser ids (`7000000000000000001`, ...) and campaign ids
    /// (`1780000000000000001`, ...), as the real API has; nothing else changes, so the
    /// channel's rows and truth keep their values.
    pub fn with_platform(mut self, channel: &str, platform: Platform) -> Self {
        let Some(ch) = self.channels.iter_mut().find(|c| c.name == channel) else {
            return self;
        };
        ch.platform = Some(platform);
        if platform == Platform::TikTok {
            let mut accounts: Vec<String> = Vec::new();
            for (i, c) in ch.campaigns.iter_mut().enumerate() {
                let k = match accounts.iter().position(|a| *a == c.account_id) {
                    Some(k) => k,
                    None => {
                        accounts.push(c.account_id.clone());
                        accounts.len() - 1
                    }
                };
                c.account_id = format!("7{:018}", k + 1);
                c.id = format!("178{:016}", i + 1);
            }
        }
        self
    }

    /// Adds `n` Klaviyo flows (Welcome Series, Abandoned Cart, ...) to the first channel
    /// served by Klaviyo (no-op without one). Flows send every day of their flight, with a
    /// volume that follows demand like the channel's campaigns, and the same causal model:
    /// their rows are part of the unified table and of the channel's truth. Every fourth
    /// flow starts a quarter of the way in. Off by default, so worlds without flows are
    /// unchanged; adding flows leaves every other row unchanged too (flows draw from their
    /// own random streams).
    pub fn with_klaviyo_flows(mut self, n: usize) -> Self {
        let (start, days) = (self.start, self.days);
        let Some(ch) = self
            .channels
            .iter_mut()
            .find(|c| c.platform == Some(Platform::Klaviyo))
        else {
            return self;
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0xf10_u64);
        let account = ch
            .campaigns
            .first()
            .map_or_else(|| "Xk9Lp2".to_owned(), |c| c.account_id.clone());
        for i in 0..n {
            let name = nth_name(FLOW_NAMES, i);
            let budget_scale: f64 = rng.random_range(0.0..1.0);
            let roas_multiplier: f64 = rng.random_range(0.6..1.4);
            ch.campaigns.push(CampaignConfig {
                id: format!("Fl{:04}", i + 1),
                name,
                account_id: account.clone(),
                flight_start: (i % 4 == 3).then(|| start + chrono::Days::new(u64::from(days / 4))),
                flight_end: None,
                daily_budget: ((5.0 + 35.0 * budget_scale) * 100.0_f64).round() / 100.0,
                roas_multiplier: (roas_multiplier * 1000.0_f64).round() / 1000.0,
                send_weekdays: Vec::new(),
                message_type: MessageType::Flow,
            });
        }
        self
    }

    /// The channel called `name`, if any.
    pub fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// The channel called `name`, mutably, if any.
    pub fn channel_mut(&mut self, name: &str) -> Option<&mut ChannelConfig> {
        self.channels.iter_mut().find(|c| c.name == name)
    }

    /// The last day of the world.
    pub fn end(&self) -> NaiveDate {
        self.start + chrono::Days::new(u64::from(self.days.saturating_sub(1)))
    }

    /// Checks every field once; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: String, message: String| Err(Error::InvalidConfig { field, message });
        if self.days == 0 || self.days > 36_600 {
            return bad(
                "days".into(),
                format!("must be 1..=36600, got {}", self.days),
            );
        }
        if self
            .start
            .checked_add_days(chrono::Days::new(u64::from(self.days)))
            .is_none()
        {
            return bad(
                "start".into(),
                "the world runs past the last representable date".into(),
            );
        }
        if self.channels.is_empty() {
            return bad("channels".into(), "at least one channel is needed".into());
        }
        for (name, value, lo, hi) in [
            ("noise", self.noise, 0.0, 2.0),
            ("confounding", self.confounding, 0.0, 3.0),
            ("seasonal_amplitude", self.seasonal_amplitude, 0.0, 2.0),
            ("trend", self.trend, -0.5, 1.0),
            ("q4_lift", self.q4_lift, -0.9, 10.0),
            ("holiday_lift", self.holiday_lift, -0.9, 10.0),
            ("event_lift", self.event_lift, -0.9, 10.0),
            ("weekend_effect", self.weekend_effect, -1.0, 10.0),
            ("holiday_effect", self.holiday_effect, -1.0, 10.0),
        ] {
            within(name, value, lo, hi)?;
        }
        if !(self.budget_noise > 0.0 && self.budget_noise <= 2.0) {
            return bad(
                "budget_noise".into(),
                format!(
                    "must be in (0, 2] (spend must vary beyond demand for the effect to be identifiable), got {}",
                    self.budget_noise
                ),
            );
        }
        first_out_of_range([
            (
                "noise_ar",
                self.noise_ar,
                (0.0..1.0).contains(&self.noise_ar),
            ),
            (
                "feedback",
                self.feedback,
                (0.0..=3.0).contains(&self.feedback),
            ),
        ])?;
        if let Some(b) = self.budget_steps {
            if b.min_block_days == 0
                || b.max_block_days < b.min_block_days
                || b.max_block_days > 36_600
            {
                return bad(
                    "budget_steps".into(),
                    format!(
                        "block lengths need 1 ≤ min_block_days ≤ max_block_days ≤ 36600, got {}..={}",
                        b.min_block_days, b.max_block_days
                    ),
                );
            }
            within("budget_steps.level_sd", b.level_sd, 0.0, 2.0)?;
        }
        if let Some(u) = self.latent_shock {
            first_out_of_range([
                ("latent_shock.ar", u.ar, (0.0..1.0).contains(&u.ar)),
                ("latent_shock.sd", u.sd, (0.0..=1.0).contains(&u.sd)),
                (
                    "latent_shock.spend_elasticity",
                    u.spend_elasticity,
                    (0.0..=3.0).contains(&u.spend_elasticity),
                ),
                (
                    "latent_shock.baseline_elasticity",
                    u.baseline_elasticity,
                    (0.0..=3.0).contains(&u.baseline_elasticity),
                ),
            ])?;
        }
        if let Some(p) = self.pulses
            && (p.on_days == 0 || p.off_days == 0 || p.on_days.max(p.off_days) > 36_600)
        {
            return bad(
                "pulses".into(),
                format!(
                    "on_days and off_days need 1..=36600, got {} and {}",
                    p.on_days, p.off_days
                ),
            );
        }
        if let Some(sp) = &self.spillover {
            let known = |n: &str| self.channels.iter().any(|c| c.name == n);
            if !known(&sp.from) || !known(&sp.to) || sp.from == sp.to {
                return bad(
                    "spillover".into(),
                    format!(
                        "`from` ({}) and `to` ({}) must be two different channels of the world",
                        sp.from, sp.to
                    ),
                );
            }
            within("spillover.share", sp.share, 0.0, 1.0)?;
        }
        let b = self.business;
        for (name, ok) in [
            (
                "business.organic_factor",
                b.organic_factor >= 0.0 && b.organic_factor.is_finite(),
            ),
            ("business.noise", (0.0..=2.0).contains(&b.noise)),
            (
                "business.avg_order_value",
                b.avg_order_value > 0.0 && b.avg_order_value.is_finite(),
            ),
        ] {
            if !ok {
                return bad(name.into(), format!("out of range: {b:?}"));
            }
        }
        if let Some(d) = self
            .weekday_profile
            .iter()
            .position(|w| !(*w > 0.0 && w.is_finite()))
        {
            return bad(format!("weekday_profile[{d}]"), "must be > 0".into());
        }
        let end = self.end();
        let mut names = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        for (ci, ch) in self.channels.iter().enumerate() {
            let at = |f: &str| format!("channels[{ci}].{f}");
            if ch.name.trim().is_empty() {
                return bad(at("name"), "must not be empty".into());
            }
            if !names.insert(ch.name.as_str()) {
                return bad(at("name"), format!("channel `{}` appears twice", ch.name));
            }
            if ch.currency.len() != 3 || !ch.currency.chars().all(|c| c.is_ascii_uppercase()) {
                return bad(
                    at("currency"),
                    format!("`{}` is not an ISO 4217 code", ch.currency),
                );
            }
            for (f, v, ok) in [
                ("roas", ch.roas, ch.roas >= 0.0 && ch.roas.is_finite()),
                (
                    "organic_ratio",
                    ch.organic_ratio,
                    ch.organic_ratio >= 0.0 && ch.organic_ratio.is_finite(),
                ),
                (
                    "adstock_decay",
                    ch.adstock_decay,
                    (0.0..1.0).contains(&ch.adstock_decay),
                ),
                ("cpm", ch.cpm, ch.cpm > 0.0 && ch.cpm.is_finite()),
                ("ctr", ch.ctr, (0.0..=1.0).contains(&ch.ctr)),
                (
                    "avg_order_value",
                    ch.avg_order_value,
                    ch.avg_order_value > 0.0 && ch.avg_order_value.is_finite(),
                ),
                (
                    "cost_per_recipient",
                    ch.cost_per_recipient,
                    ch.cost_per_recipient > 0.0 && ch.cost_per_recipient.is_finite(),
                ),
            ] {
                if !ok {
                    return bad(at(f), format!("out of range: {v}"));
                }
            }
            if let Saturation::Hill {
                half_saturation,
                shape,
            } = ch.saturation
                && !(half_saturation > 0.0
                    && half_saturation.is_finite()
                    && shape > 0.0
                    && shape.is_finite())
            {
                return bad(
                    at("saturation"),
                    "Hill half_saturation and shape must be > 0".into(),
                );
            }
            if ch.campaigns.is_empty() {
                return bad(
                    at("campaigns"),
                    "a channel needs at least one campaign".into(),
                );
            }
            for (ki, c) in ch.campaigns.iter().enumerate() {
                let at = |f: &str| format!("channels[{ci}].campaigns[{ki}].{f}");
                if c.id.trim().is_empty()
                    || c.name.trim().is_empty()
                    || c.account_id.trim().is_empty()
                {
                    return bad(at("id"), "id, name and account_id must not be empty".into());
                }
                if !ids.insert(c.id.as_str()) {
                    return bad(at("id"), format!("campaign id `{}` appears twice", c.id));
                }
                if !(c.daily_budget > 0.0 && c.daily_budget.is_finite()) {
                    return bad(
                        at("daily_budget"),
                        format!("must be > 0, got {}", c.daily_budget),
                    );
                }
                if !(c.roas_multiplier >= 0.0 && c.roas_multiplier.is_finite()) {
                    return bad(
                        at("roas_multiplier"),
                        format!("must be ≥ 0, got {}", c.roas_multiplier),
                    );
                }
                let first = c.flight_start.unwrap_or(self.start);
                let last = c.flight_end.unwrap_or(end);
                if first < self.start || first > end {
                    return bad(
                        at("flight_start"),
                        format!("{first} is outside the world ({} to {end})", self.start),
                    );
                }
                if last < first || last > end {
                    return bad(
                        at("flight_end"),
                        format!(
                            "{last} is before the flight start {first} or after the world's end {end}"
                        ),
                    );
                }
                if c.message_type == MessageType::Flow && ch.platform != Some(Platform::Klaviyo) {
                    return bad(
                        at("message_type"),
                        "flows exist only on channels served by Klaviyo".into(),
                    );
                }
                if ch.platform == Some(Platform::Klaviyo)
                    && c.message_type == MessageType::Campaign
                    && (c.send_weekdays.is_empty() || c.send_weekdays.iter().any(|d| *d > 6))
                {
                    return bad(
                        at("send_weekdays"),
                        "Klaviyo series need send weekdays in 0..=6".into(),
                    );
                }
            }
        }
        Ok(())
    }
}

/// First random stream of the preset draws (one stream per preset).
const PRESET_STREAM: u64 = 0x5e7_0000_0000;

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A campaign of the standard worlds: budgets spread over an order of magnitude, return
/// multipliers in [0.6, 1.4], every third campaign starting late and every fifth ending early.
fn standard_campaign(
    rng: &mut ChaCha8Rng,
    channel: &str,
    i: usize,
    start: NaiveDate,
    days: u32,
) -> CampaignConfig {
    let (prefix, names, account) = match channel {
        "meta" => (
            "23850",
            META_NAMES,
            if i.is_multiple_of(2) {
                "1000000001"
            } else {
                "1000000002"
            },
        ),
        "google_ads" => ("1789", GOOGLE_NAMES, "1234567890"),
        "klaviyo" => ("01HK", KLAVIYO_NAMES, "Xk9Lp2"),
        _ => ("9", OTHER_NAMES, "acct-1"),
    };
    let name = nth_name(names, i);
    let budget_scale: f64 = rng.random_range(0.0..1.0);
    let daily_budget = match channel {
        "klaviyo" => 60.0 + 240.0 * budget_scale,
        _ => 150.0 + 1350.0 * budget_scale,
    };
    let roas_multiplier = rng.random_range(0.6..1.4);
    let flight_start = (i % 3 == 2).then(|| start + chrono::Days::new(u64::from(days / 6)));
    let flight_end = (i % 5 == 4).then(|| start + chrono::Days::new(u64::from(days * 5 / 6)));
    let send_weekdays = match i % 3 {
        0 => vec![1, 4],
        1 => vec![3],
        _ => vec![0, 2, 5],
    };
    let slug: String = channel
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let id = match channel {
        "meta" | "google_ads" | "klaviyo" => format!("{prefix}{:06}", i + 1),
        _ => format!("{slug}-{:04}", i + 1),
    };
    CampaignConfig {
        id,
        name,
        account_id: account.to_owned(),
        flight_start,
        flight_end,
        daily_budget: (daily_budget * 100.0_f64).round() / 100.0,
        roas_multiplier: (roas_multiplier * 1000.0_f64).round() / 1000.0,
        send_weekdays,
        message_type: MessageType::Campaign,
    }
}

const META_NAMES: &[&str] = &[
    "Prospecting - Broad",
    "Retargeting - 30d Visitors",
    "Advantage+ Shopping",
    "Lookalike 1% Purchasers",
    "Video Views - Brand",
    "Catalog Sales - DPA",
];
const GOOGLE_NAMES: &[&str] = &[
    "Search - Brand",
    "Search - Generic",
    "Performance Max - All Products",
    "Shopping - Bestsellers",
    "YouTube - Awareness",
    "Display - Remarketing",
];
const KLAVIYO_NAMES: &[&str] = &[
    "Weekly Newsletter",
    "New Arrivals",
    "Promo Blast",
    "VIP Early Access",
    "Back in Stock Roundup",
];
const FLOW_NAMES: &[&str] = &[
    "Welcome Series",
    "Abandoned Cart",
    "Browse Abandonment",
    "Post-Purchase Thank You",
    "Win-Back",
];
const OTHER_NAMES: &[&str] = &["Always-on A", "Always-on B", "Always-on C", "Always-on D"];

/// The first `(field, value, in_range)` whose value is out of range, as the error that
/// names it.
/// `value` of `field` within `[lo, hi]`, or the error that says so.
fn within(field: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field: field.into(),
            message: format!("must be in [{lo}, {hi}], got {value}"),
        })
    }
}

/// The `i`-th of `names`, numbered from the second round on (`Welcome Series 2`).
fn nth_name(names: &[&str], i: usize) -> String {
    let base = names[i % names.len()];
    if i < names.len() {
        base.to_owned()
    } else {
        format!("{base} {}", i / names.len() + 1)
    }
}

fn first_out_of_range<'a>(checks: impl IntoIterator<Item = (&'a str, f64, bool)>) -> Result<()> {
    match checks.into_iter().find(|(_, _, ok)| !ok) {
        Some((field, value, _)) => Err(Error::InvalidConfig {
            field: field.into(),
            message: format!("out of range: {value}"),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_world_validates() {
        WorldConfig::default().validate().unwrap();
        WorldConfig::standard(17)
            .with_zero_effect_channel("tiktok")
            .validate()
            .unwrap();
        let c = WorldConfig::standard(2).with_klaviyo_flows(7);
        c.validate().unwrap();
        let flows: Vec<_> = c.channels[2]
            .campaigns
            .iter()
            .filter(|k| k.message_type == MessageType::Flow)
            .collect();
        assert_eq!(flows.len(), 7);
        assert_eq!(flows[6].name, "Abandoned Cart 2");
        assert!(flows[3].flight_start.is_some() && flows[0].flight_start.is_none());
    }

    #[test]
    fn flows_outside_klaviyo_are_rejected() {
        let mut c = WorldConfig::standard(2);
        c.channels[0].campaigns[1].message_type = MessageType::Flow;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("channels[0].campaigns[1].message_type"), "{e}");
    }

    #[test]
    fn errors_name_the_offending_field() {
        let mut c = WorldConfig::default();
        c.channels[1].campaigns[2].daily_budget = -1.0;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("channels[1].campaigns[2].daily_budget"), "{e}");

        let c = WorldConfig::default().with_adstock("meta", 1.0);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("channels[0].adstock_decay"), "{e}");

        let mut c = WorldConfig::default().with_days(30);
        c.validate().unwrap();
        c.channels[0].campaigns[0].flight_end = NaiveDate::from_ymd_opt(2025, 1, 1);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("flight_end"), "{e}");

        let mut c = WorldConfig::default();
        c.channels[2].name = "meta".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("appears twice")
        );
    }
}
