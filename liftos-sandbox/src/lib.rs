//! A simulated marketing world whose true causal effects are known exactly.
//!
//! [`World`] simulates daily campaign-level data for Meta Ads, Google Ads and Klaviyo
//! (and optionally a channel whose true effect is exactly zero) from a seeded
//! [`WorldConfig`]. Spend is confounded the way it is in real life: teams spend more
//! when demand is high (season, weekends, holidays, Q4), and demand also raises the
//! revenue platforms report, so revenue / spend overstates what spend caused. The
//! confounders are functions of the calendar, so the effect is identifiable.
//!
//! The world is the test oracle of the estimators, the data behind the fake platform
//! APIs, and what `liftos demo` runs on. It emits:
//! - the [unified table](World::unified_table) (DESIGN.md) and, row by row, its
//!   [truth](World::truth_table): marginal return τ, long-run return, incremental revenue;
//! - the per-channel [`Truth`]: incremental revenue, incremental / marginal ROAS, and the
//!   baseline's holiday lift, weekday and monthly profiles; with adstock or saturation on,
//!   truth comes from counterfactual re-simulation ([`World::outcomes`]), not a formula;
//! - the same rows in each platform's native shape ([`World::meta_insights`],
//!   [`World::google_ads_rows`], [`World::klaviyo_campaigns`],
//!   [`World::klaviyo_campaign_values`], and with flows on [`World::klaviyo_flows`],
//!   [`World::klaviyo_flow_days`]).
//!
//! # Example
//!
//! ```
//! use liftos_sandbox::{World, WorldConfig};
//!
//! let config = WorldConfig::standard(3).with_days(120).with_zero_effect_channel("tiktok");
//! let world = World::generate(&config)?;
//! let table = world.unified_table()?;
//! assert_eq!(table.num_rows(), world.num_rows());
//!
//! let meta = world.truth().channel("meta").unwrap();
//! assert!(meta.naive_roas > meta.incremental_roas, "platforms over-claim");
//! assert_eq!(world.truth().channel("tiktok").unwrap().incremental_revenue, 0.0);
//! # Ok::<(), liftos_sandbox::Error>(())
//! ```
//!
//! # Features
//!
//! | Part | Status |
//! |---|---|
//! | [`World`] simulator, truth, unified and truth tables | available |
//! | native Meta / Google Ads / Klaviyo shapes | available |
//! | Klaviyo flows (daily rows, same causal model; [`WorldConfig::with_klaviyo_flows`]) | available, off by default |
//! | named hard worlds ([`WorldConfig::preset`]: saturation, carryover, budget steps, autocorrelated noise, hidden confounding) with switch-off, marginal and response-curve truth | available |
//! | the business's own daily revenue ([`World::business_table`]), its truth, a `spillover` preset, holdout experiments ([`World::holdout_experiment`]) | available |
//! | fake platform HTTP servers | being built (see the README's status table) |
#![warn(missing_docs)]

mod business;
mod config;
mod days;
mod error;
pub mod fake;
mod native;
mod optimum;
mod table;
mod world;

pub use business::{
    BusinessDay, BusinessTruth, CampaignSpend, ChannelSpend, LIFT_TEST_HEADER, LiftTest,
};
pub use config::{
    BudgetSteps, BusinessOutcome, CampaignConfig, ChannelConfig, LatentShock, MessageType,
    Platform, Preset, Pulses, Saturation, SaturationScope, Spillover, WorldConfig,
};
pub use error::{Error, Result};
pub use native::{
    Ga4Row, GoogleAdsRow, GoogleCampaign, GoogleCustomer, GoogleMetrics, GoogleSegments,
    KlaviyoCampaign, KlaviyoCampaignValues, KlaviyoFlow, KlaviyoFlowDay, KlaviyoGroupings,
    KlaviyoStatistics, META_OMNI_PURCHASE_ACTION, META_PURCHASE_ACTION, MetaActionStat,
    MetaInsight, TikTokReportRow,
};
pub use optimum::Allocation;
pub use table::{truth_schema, unified_schema};
pub use world::{
    CURVE_SCALES, ChannelTruth, CurvePoint, Intervention, MONTHS, Outcomes, Truth, WEEKDAYS, World,
    WorldRow,
};
