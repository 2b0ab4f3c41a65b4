//! The business's own revenue per day, its truth, and holdout experiments run in the world.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::world::Intervention;
use crate::{Error, Result, World};
use liftos_core::dates::to_date32 as date32;

/// Random stream of the business baseline's noise.
const BUSINESS_STREAM: u64 = 4 << 40;
/// Random stream of the holdout experiments' measurement noise.
const EXPERIMENT_STREAM: u64 = 5 << 40;

/// One day of the business: what its own books record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BusinessDay {
    /// The day.
    pub date: NaiveDate,
    /// Revenue of the day: organic baseline plus every channel's incremental revenue (its
    /// carryover on days its campaigns have no row included).
    pub revenue: f64,
    /// Orders of the day.
    pub orders: i64,
    /// The organic baseline alone (what the day would have made with no marketing).
    pub baseline: f64,
}

/// The truth of the business outcome over the world's window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BusinessTruth {
    /// Total business revenue.
    pub revenue: f64,
    /// Total organic baseline revenue (every channel switched off).
    pub baseline_revenue: f64,
    /// `baseline_revenue / revenue`: the share of revenue no channel caused.
    pub baseline_share: f64,
}

/// Every channel's daily spend and platform-reported revenue: the treatment side of a
/// business-level analysis, from [`World::channel_spend`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSpend {
    /// The channels, in configuration order (as in [`Truth`](crate::Truth)).
    pub channels: Vec<String>,
    /// `spend[c][t]`: channel `c`'s spend on day `t` of the world.
    pub spend: Vec<Vec<f64>>,
    /// Each channel's platform-reported revenue over the whole window.
    pub platform_revenue: Vec<f64>,
}

/// One campaign's daily spend and platform-reported revenue, from
/// [`World::campaign_spend`].
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSpend {
    /// Campaign name (as the unified table's `campaign_name`).
    pub name: String,
    /// `spend[t]`: its spend on day `t` of the world (0 on days without a row).
    pub spend: Vec<f64>,
    /// Its platform-reported revenue of each day.
    pub platform_revenue: Vec<f64>,
}

/// A lift test: a channel switched off for a window, its measured incremental revenue.
#[derive(Debug, Clone, PartialEq)]
pub struct LiftTest {
    /// The channel tested.
    pub channel: String,
    /// First day of the holdout.
    pub start: NaiveDate,
    /// Last day of the holdout.
    pub end: NaiveDate,
    /// The channel's spend over the window (what the test withheld).
    pub spend: f64,
    /// Measured incremental revenue of the channel's spend over the window.
    pub incremental_revenue: f64,
    /// Standard error of the measurement.
    pub standard_error: f64,
    /// The true incremental revenue over the window (re-simulation, no measurement noise).
    pub true_incremental_revenue: f64,
}

impl LiftTest {
    /// Measured incremental return `incremental_revenue / spend`.
    pub fn iroas(&self) -> f64 {
        self.incremental_revenue / self.spend
    }

    /// The CSV line of the lift-test file (`channel,start,end,incremental_revenue,standard_error`).
    pub fn csv_line(&self) -> String {
        format!(
            "{},{},{},{:.2},{:.2}",
            self.channel, self.start, self.end, self.incremental_revenue, self.standard_error
        )
    }
}

/// The header of the lift-test CSV file that [`LiftTest::csv_line`] writes rows of.
pub const LIFT_TEST_HEADER: &str = "channel,start,end,incremental_revenue,standard_error";

impl World {
    /// The business's baseline revenue per day (no marketing at all), with its noise.
    fn business_baselines(&self) -> Vec<f64> {
        let c = &self.config;
        let b = c.business;
        let level: f64 = c
            .channels
            .iter()
            .flat_map(|ch| {
                ch.campaigns
                    .iter()
                    .map(move |k| ch.organic_ratio * k.daily_budget)
            })
            .sum::<f64>()
            * b.organic_factor;
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
        rng.set_stream(BUSINESS_STREAM);
        let ar = c.noise_ar;
        let innovation = (1.0 - ar * ar).sqrt();
        let mut e = 0.0;
        self.days
            .iter()
            .enumerate()
            .map(|(t, day)| {
                let z: f64 = StandardNormal.sample(&mut rng);
                e = if t == 0 || ar == 0.0 {
                    z
                } else {
                    ar * e + innovation * z
                };
                let shock = c
                    .latent_shock
                    .map_or(1.0, |u| u.baseline_multiplier(day.shock));
                level * day.demand * shock * (b.noise * e - b.noise * b.noise / 2.0).exp()
            })
            .collect()
    }

    /// Business days when the rows spend `spend` (internal row order).
    fn business_days_for(&self, spend: &[f64]) -> Vec<BusinessDay> {
        let baselines = self.business_baselines();
        let (revenue, mut effect) = self.revenue_and_off_row_for(spend);
        for (i, r) in self.rows.iter().enumerate() {
            effect[r.day] += revenue[i] - r.baseline;
        }
        let aov = self.config.business.avg_order_value;
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(BUSINESS_STREAM + 1);
        self.days
            .iter()
            .enumerate()
            .map(|(t, day)| {
                let dither: f64 = rand::Rng::random(&mut rng);
                let revenue = baselines[t] + effect[t];
                BusinessDay {
                    date: day.date,
                    revenue,
                    orders: (revenue.max(0.0) / aov + dither).floor() as i64,
                    baseline: baselines[t],
                }
            })
            .collect()
    }

    /// The business's revenue and orders per day under `intervention`, every noise draw
    /// fixed: `Intervention::None` gives what the business recorded.
    pub fn business_days(&self, intervention: Intervention<'_>) -> Result<Vec<BusinessDay>> {
        let spend = self.intervened_spend(intervention)?;
        Ok(self.business_days_for(&spend))
    }

    /// Every channel's spend per day of the world and its platform-reported revenue, summed
    /// over the rows in unified-table order.
    pub fn channel_spend(&self) -> ChannelSpend {
        let n = self.days.len();
        let channels = &self.config.channels;
        let mut spend = vec![vec![0.0; n]; channels.len()];
        let mut platform_revenue = vec![0.0; channels.len()];
        for r in self.order.iter().map(|&i| &self.rows[i]) {
            spend[r.channel][r.day] += r.spend;
            platform_revenue[r.channel] += r.revenue;
        }
        ChannelSpend {
            channels: channels.iter().map(|c| c.name.clone()).collect(),
            spend,
            platform_revenue,
        }
    }

    /// Per channel (by name), its campaigns' daily spend and platform-reported revenue,
    /// in campaign-name order: the rows of one name summed (Klaviyo's sends of one
    /// series are one campaign), as a business-level analysis groups the unified table.
    pub fn campaign_spend(&self) -> BTreeMap<String, Vec<CampaignSpend>> {
        self.campaign_spend_with(|name, spend, platform_revenue| CampaignSpend {
            name,
            spend,
            platform_revenue,
        })
    }

    /// [`campaign_spend`](Self::campaign_spend), each campaign made by `make(name, daily
    /// spend, daily platform revenue)`: e.g. `liftos_causal::business::CampaignSeries::new`.
    pub fn campaign_spend_with<T>(
        &self,
        make: impl Fn(String, Vec<f64>, Vec<f64>) -> T,
    ) -> BTreeMap<String, Vec<T>> {
        let n = self.days.len();
        let mut by: BTreeMap<(&str, &str), CampaignSpend> = BTreeMap::new();
        for r in self.order.iter().map(|&i| &self.rows[i]) {
            let ch = &self.config.channels[r.channel];
            let name = ch.campaigns[r.campaign].name.as_str();
            let k = by.entry((&ch.name, name)).or_insert_with(|| CampaignSpend {
                name: name.to_string(),
                spend: vec![0.0; n],
                platform_revenue: vec![0.0; n],
            });
            k.spend[r.day] += r.spend;
            k.platform_revenue[r.day] += r.revenue;
        }
        let mut out: BTreeMap<String, Vec<T>> = BTreeMap::new();
        for ((channel, _), k) in by {
            let k = make(k.name, k.spend, k.platform_revenue);
            out.entry(channel.to_string()).or_default().push(k);
        }
        out
    }

    /// The business outcome table: `date` (Date32), `revenue` (cents precision),
    /// `orders` (Int64), one row per day of the world, in date order.
    pub fn business_table(&self) -> Result<RecordBatch> {
        let days = self.business_days(Intervention::None)?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, false),
            Field::new("revenue", DataType::Float64, false),
            Field::new("orders", DataType::Int64, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Date32Array::from_iter_values(
                days.iter().map(|d| date32(d.date)),
            )),
            Arc::new(Float64Array::from_iter_values(
                days.iter().map(|d| (d.revenue * 100.0).round() / 100.0),
            )),
            Arc::new(Int64Array::from_iter_values(days.iter().map(|d| d.orders))),
        ];
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// The business outcome as CSV text (`date,revenue,orders`), as `liftos analyze
    /// --business-outcome` reads it.
    pub fn business_csv(&self) -> Result<String> {
        let mut out = String::from("date,revenue,orders\n");
        for d in self.business_days(Intervention::None)? {
            out.push_str(&format!("{},{:.2},{}\n", d.date, d.revenue, d.orders));
        }
        Ok(out)
    }

    /// The truth of the business outcome: total revenue and its organic share. A channel's
    /// business-level switch-off and marginal returns are its
    /// [`ChannelTruth`](crate::ChannelTruth) `business_incremental_roas` and
    /// `business_marginal_roas` (its effect in whichever rows it lands plus its carryover
    /// on days without a row: the same re-simulation on the business total).
    pub fn business_truth(&self) -> Result<BusinessTruth> {
        let days = self.business_days(Intervention::None)?;
        let revenue: f64 = days.iter().map(|d| d.revenue).sum();
        let baseline_revenue: f64 = days.iter().map(|d| d.baseline).sum();
        Ok(BusinessTruth {
            revenue,
            baseline_revenue,
            baseline_share: baseline_revenue / revenue,
        })
    }

    /// Runs a holdout experiment: `channel` spends nothing from `start` for `days` days,
    /// and the test measures the business revenue that loses over the window (carryover
    /// inside the window included) with a standard error of `relative_se` times the true
    /// effect, its noise drawn from the world's seed and `experiment` (one stream per
    /// experiment number). The world's own data are not changed: the test is what an
    /// experiment run on the same business would have reported.
    pub fn holdout_experiment(
        &self,
        channel: &str,
        start: NaiveDate,
        days: u32,
        relative_se: f64,
        experiment: u64,
    ) -> Result<LiftTest> {
        let ci = self.channel_index(channel)?;
        if !(relative_se > 0.0 && relative_se.is_finite()) || days == 0 {
            return Err(Error::InvalidConfig {
                field: "experiment".into(),
                message: format!(
                    "needs days ≥ 1 and a relative standard error > 0, got {days} days and {relative_se}"
                ),
            });
        }
        let end = start + chrono::Days::new(u64::from(days - 1));
        if start < self.config.start || end > self.config.end() {
            return Err(Error::InvalidConfig {
                field: "experiment.start".into(),
                message: format!(
                    "the window {start} to {end} is not inside the world ({} to {})",
                    self.config.start,
                    self.config.end()
                ),
            });
        }
        let inside = |d: NaiveDate| d >= start && d <= end;
        let actual: Vec<f64> = self.rows.iter().map(|r| r.spend).collect();
        let mut off = actual.clone();
        let mut spend = 0.0;
        for (i, r) in self.rows.iter().enumerate() {
            if r.channel == ci && inside(self.days[r.day].date) {
                spend += r.spend;
                off[i] = 0.0;
            }
        }
        if spend <= 0.0 {
            return Err(Error::InvalidConfig {
                field: "experiment.channel".into(),
                message: format!("`{channel}` spends nothing between {start} and {end}"),
            });
        }
        let on = self.business_days_for(&actual);
        let held = self.business_days_for(&off);
        let truth: f64 = on
            .iter()
            .zip(&held)
            .filter(|(d, _)| inside(d.date))
            .map(|(a, b)| a.revenue - b.revenue)
            .sum();
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(EXPERIMENT_STREAM + experiment);
        let z: f64 = StandardNormal.sample(&mut rng);
        let se = relative_se * truth.abs().max(spend * 0.05);
        Ok(LiftTest {
            channel: channel.to_owned(),
            start,
            end,
            spend,
            incremental_revenue: truth + se * z,
            standard_error: se,
            true_incremental_revenue: truth,
        })
    }
}
