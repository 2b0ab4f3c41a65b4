//! The world in each platform's native shape (see API_NOTES.md), ready for the fake APIs.
//!
//! - Meta: Ads Insights rows with every number as a JSON string and conversions in
//!   `actions` / `action_values` arrays (two overlapping purchase types, plus non-purchase
//!   actions a connector must not count), split by attribution window.
//! - Google Ads: searchStream `results` rows in camelCase with int64 values as strings
//!   and `costMicros` = spend × 1,000,000.
//! - Klaviyo: one campaign object per send and its campaign-values-report row; one flow
//!   object per flow and its statistics per day (the fake serves them as flow series).
//! - TikTok: integrated-report rows, `dimensions` (`campaign_id`, `stat_time_day` as
//!   `YYYY-MM-DD 00:00:00`) and `metrics` with every value as a string.

use serde::{Deserialize, Serialize};

use crate::config::{MessageType, Platform};
use crate::{World, WorldRow};

/// The purchase action type whose count and value are the conversions and revenue.
pub const META_PURCHASE_ACTION: &str = "offsite_conversion.fb_pixel_purchase";
/// A second purchase action type reporting the same purchases (must not be added twice).
pub const META_OMNI_PURCHASE_ACTION: &str = "omni_purchase";
/// Share of conversions and value attributed to the 7-day click window (the rest: 1-day view).
const CLICK_SHARE: f64 = 0.82;

/// One element of Meta's `actions` / `action_values` arrays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaActionStat {
    /// The action type, e.g. `offsite_conversion.fb_pixel_purchase`.
    pub action_type: String,
    /// Total over the requested attribution windows, as a string.
    pub value: String,
    /// Part attributed within 7 days of a click.
    #[serde(rename = "7d_click", default, skip_serializing_if = "Option::is_none")]
    pub click_7d: Option<String>,
    /// Part attributed within 1 day of a view.
    #[serde(rename = "1d_view", default, skip_serializing_if = "Option::is_none")]
    pub view_1d: Option<String>,
}

/// One daily, campaign-level Ads Insights row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaInsight {
    /// Ad account id (digits, without `act_`).
    pub account_id: String,
    /// Currency of the money fields.
    pub account_currency: String,
    /// Campaign id.
    pub campaign_id: String,
    /// Campaign name.
    pub campaign_name: String,
    /// First day of the row (`YYYY-MM-DD`).
    pub date_start: String,
    /// Last day of the row (equal to `date_start` for daily rows).
    pub date_stop: String,
    /// Spend, as a decimal string.
    pub spend: String,
    /// Impressions, as an integer string.
    pub impressions: String,
    /// Clicks, as an integer string.
    pub clicks: String,
    /// Action counts; absent when there were none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<MetaActionStat>>,
    /// Action values (money); absent when there were none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_values: Option<Vec<MetaActionStat>>,
}

/// The `customer` object of a Google Ads row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleCustomer {
    /// `customers/<id>`.
    pub resource_name: String,
    /// Customer id, digits only.
    pub id: String,
    /// Currency of cost and conversion values.
    pub currency_code: String,
    /// Account time zone.
    pub time_zone: String,
}

/// The `campaign` object of a Google Ads row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleCampaign {
    /// `customers/<cid>/campaigns/<id>`.
    pub resource_name: String,
    /// Campaign id (int64 as a string).
    pub id: String,
    /// Campaign name.
    pub name: String,
}

/// The `metrics` object of a Google Ads row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleMetrics {
    /// Clicks (int64 as a string).
    pub clicks: String,
    /// Cost in micros of the account currency (int64 as a string).
    pub cost_micros: String,
    /// Impressions (int64 as a string).
    pub impressions: String,
    /// Conversions (a JSON number).
    pub conversions: f64,
    /// Conversion value (a JSON number).
    pub conversions_value: f64,
}

/// The `segments` object of a Google Ads row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoogleSegments {
    /// The day (`YYYY-MM-DD`).
    pub date: String,
}

/// One row of a searchStream `results` array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoogleAdsRow {
    /// The customer (returned when customer fields are selected).
    pub customer: GoogleCustomer,
    /// The campaign.
    pub campaign: GoogleCampaign,
    /// The metrics.
    pub metrics: GoogleMetrics,
    /// The segments.
    pub segments: GoogleSegments,
}

/// One row of a TikTok integrated report at campaign level, per day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TikTokReportRow {
    /// The advertiser (ad account) id.
    pub advertiser_id: String,
    /// The advertiser's currency.
    pub currency: String,
    /// `dimensions.campaign_id`.
    pub campaign_id: String,
    /// `dimensions.stat_time_day`: `YYYY-MM-DD 00:00:00`.
    pub stat_time_day: String,
    /// `metrics.campaign_name`.
    pub campaign_name: String,
    /// `metrics.spend`, two decimals.
    pub spend: String,
    /// `metrics.impressions`.
    pub impressions: String,
    /// `metrics.clicks`.
    pub clicks: String,
    /// `metrics.complete_payment` (purchases): the row's conversions.
    pub complete_payment: String,
    /// `metrics.total_complete_payment_rate`: despite its name, the purchases' total value
    /// (the row's revenue), two decimals.
    pub total_complete_payment_rate: String,
}

/// One row of a GA4 report by `date` and `sessionDefaultChannelGroup`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ga4Row {
    /// `date` as GA4 writes it: `YYYYMMDD`.
    pub date: String,
    /// `sessionDefaultChannelGroup`: `Paid Social` (Meta, TikTok), `Paid Search` (Google
    /// Ads), `Email` (Klaviyo), `Paid Other` (any other channel), `Direct` (the
    /// business's organic baseline).
    pub channel_group: String,
    /// `sessions`.
    pub sessions: i64,
    /// `keyEvents` (purchases).
    pub key_events: f64,
    /// `totalRevenue`, in cents precision.
    pub total_revenue: f64,
}

/// A Klaviyo email campaign object (one per send), as in `GET /api/campaigns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KlaviyoCampaign {
    /// Campaign id (unique per send).
    pub id: String,
    /// Campaign name (sends of one series share it).
    pub name: String,
    /// Always `Sent` in the world.
    pub status: String,
    /// Send time, RFC 3339 in the company time zone (UTC).
    pub send_time: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last update time, RFC 3339.
    pub updated_at: String,
    /// The Klaviyo account (not an API attribute: which fake account serves it).
    #[serde(skip)]
    pub account_id: String,
    /// Currency of conversion values (not an API attribute).
    #[serde(skip)]
    pub currency: String,
}

/// `groupings` of a campaign-values-report result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KlaviyoGroupings {
    /// Campaign id.
    pub campaign_id: String,
    /// Campaign message id.
    pub campaign_message_id: String,
    /// `email`.
    pub send_channel: String,
}

/// `statistics` of a campaign-values-report result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KlaviyoStatistics {
    /// Recipients.
    pub recipients: i64,
    /// Delivered emails.
    pub delivered: i64,
    /// Unique opens.
    pub opens_unique: i64,
    /// Unique clicks.
    pub clicks_unique: i64,
    /// Placed orders attributed to the send.
    pub conversions: f64,
    /// Value of those orders.
    pub conversion_value: f64,
    /// Unsubscribes.
    pub unsubscribes: i64,
    /// Bounced emails.
    pub bounced: i64,
}

impl KlaviyoStatistics {
    /// The statistics of one row of the world (a campaign send or a flow day).
    fn of(r: &crate::WorldRow<'_>) -> Self {
        Self {
            recipients: r.impressions,
            delivered: r.delivered,
            opens_unique: r.opens_unique,
            clicks_unique: r.clicks,
            conversions: r.conversions,
            conversion_value: r.revenue,
            unsubscribes: r.unsubscribes,
            bounced: r.bounced,
        }
    }
}

/// One result of `POST /api/campaign-values-reports`, values attributed to the send date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KlaviyoCampaignValues {
    /// Grouping keys.
    pub groupings: KlaviyoGroupings,
    /// Statistics.
    pub statistics: KlaviyoStatistics,
    /// The Klaviyo account (not part of the API row).
    #[serde(skip)]
    pub account_id: String,
}

/// A Klaviyo flow object, as in `GET /api/flows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KlaviyoFlow {
    /// Flow id.
    pub id: String,
    /// Flow name.
    pub name: String,
    /// Always `live` in the world.
    pub status: String,
    /// Always `false` in the world.
    pub archived: bool,
    /// What triggers the flow (`Added to List`, `Metric`).
    pub trigger_type: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Last update time, RFC 3339.
    pub updated: String,
    /// The Klaviyo account (not an API attribute).
    #[serde(skip)]
    pub account_id: String,
}

/// One flow's statistics of one day (what a daily flow-series-report holds at that day's
/// index), values attributed to the send date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KlaviyoFlowDay {
    /// Flow id.
    pub flow_id: String,
    /// The send day, `YYYY-MM-DD` in the company time zone (UTC).
    pub date: String,
    /// Statistics of the day's sends.
    pub statistics: KlaviyoStatistics,
    /// The Klaviyo account (not part of the API row).
    #[serde(skip)]
    pub account_id: String,
}

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

fn money(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let c = c.abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

fn split_count(total: i64) -> (i64, i64) {
    let click = ((total as f64) * CLICK_SHARE).round() as i64;
    (click, total - click)
}

impl World {
    /// Every row of the channels served by Meta, as Ads Insights rows, in unified order.
    pub fn meta_insights(&self) -> Vec<MetaInsight> {
        self.rows()
            .filter(|r| r.platform == Some(Platform::Meta))
            .map(|r| {
                let date = r.date.format("%Y-%m-%d").to_string();
                let conv = r.conversions as i64;
                let (conv_click, conv_view) = split_count(conv);
                let value = cents(r.revenue);
                let (value_click, value_view) = split_count(value);
                let mut actions = Vec::new();
                let mut action_values = Vec::new();
                if r.clicks > 0 {
                    actions.push(MetaActionStat {
                        action_type: "link_click".into(),
                        value: r.clicks.to_string(),
                        click_7d: Some(r.clicks.to_string()),
                        view_1d: None,
                    });
                }
                if conv > 0 {
                    // Decoy funnel step a connector must not count as a conversion.
                    let carts = conv * 3;
                    let (c, v) = split_count(carts);
                    actions.push(count_stat("add_to_cart", carts, c, v));
                    for t in [META_PURCHASE_ACTION, META_OMNI_PURCHASE_ACTION] {
                        actions.push(count_stat(t, conv, conv_click, conv_view));
                        action_values.push(MetaActionStat {
                            action_type: t.into(),
                            value: money(value),
                            click_7d: Some(money(value_click)),
                            view_1d: Some(money(value_view)),
                        });
                    }
                }
                MetaInsight {
                    account_id: r.account_id.to_owned(),
                    account_currency: r.currency.to_owned(),
                    campaign_id: r.campaign_id.clone(),
                    campaign_name: r.campaign.to_owned(),
                    date_start: date.clone(),
                    date_stop: date,
                    spend: money(cents(r.spend)),
                    impressions: r.impressions.to_string(),
                    clicks: r.clicks.to_string(),
                    actions: (!actions.is_empty()).then_some(actions),
                    action_values: (!action_values.is_empty()).then_some(action_values),
                }
            })
            .collect()
    }

    /// Every row of the channels served by Google Ads, as searchStream result rows, in
    /// unified order.
    pub fn google_ads_rows(&self) -> Vec<GoogleAdsRow> {
        self.rows()
            .filter(|r| r.platform == Some(Platform::GoogleAds))
            .map(|r| GoogleAdsRow {
                customer: GoogleCustomer {
                    resource_name: format!("customers/{}", r.account_id),
                    id: r.account_id.to_owned(),
                    currency_code: r.currency.to_owned(),
                    time_zone: "America/New_York".into(),
                },
                campaign: GoogleCampaign {
                    resource_name: format!(
                        "customers/{}/campaigns/{}",
                        r.account_id, r.campaign_id
                    ),
                    id: r.campaign_id.clone(),
                    name: r.campaign.to_owned(),
                },
                metrics: GoogleMetrics {
                    clicks: r.clicks.to_string(),
                    cost_micros: (cents(r.spend) * 10_000).to_string(),
                    impressions: r.impressions.to_string(),
                    conversions: r.conversions,
                    conversions_value: r.revenue,
                },
                segments: GoogleSegments {
                    date: r.date.format("%Y-%m-%d").to_string(),
                },
            })
            .collect()
    }

    /// Every row of the channels served by TikTok, as integrated-report rows, in unified
    /// order.
    pub fn tiktok_rows(&self) -> Vec<TikTokReportRow> {
        self.rows()
            .filter(|r| r.platform == Some(Platform::TikTok))
            .map(|r| TikTokReportRow {
                advertiser_id: r.account_id.to_owned(),
                currency: r.currency.to_owned(),
                campaign_id: r.campaign_id.clone(),
                stat_time_day: r.date.format("%Y-%m-%d 00:00:00").to_string(),
                campaign_name: r.campaign.to_owned(),
                spend: money(cents(r.spend)),
                impressions: r.impressions.to_string(),
                clicks: r.clicks.to_string(),
                complete_payment: r.conversions.to_string(),
                total_complete_payment_rate: money(cents(r.revenue)),
            })
            .collect()
    }

    /// The world as a GA4 property reports it, per day and default channel group, sorted
    /// by date then group: each channel's clicks as sessions, its conversions as key
    /// events and its platform revenue; plus `Direct`, the business's organic baseline
    /// (its share of the day's orders as key events, 30 sessions per key event).
    ///
    /// # Errors
    ///
    /// Those of [`World::business_days`].
    pub fn ga4_rows(&self) -> crate::Result<Vec<Ga4Row>> {
        use std::collections::BTreeMap;
        let group = |r: &crate::WorldRow<'_>| match r.platform {
            Some(Platform::Meta) | Some(Platform::TikTok) => "Paid Social",
            Some(Platform::GoogleAds) => "Paid Search",
            Some(Platform::Klaviyo) => "Email",
            _ if r.channel == "tiktok" => "Paid Social",
            _ => "Paid Other",
        };
        let mut acc: BTreeMap<(String, String), (i64, f64, i64)> = BTreeMap::new();
        for r in self.rows() {
            let e = acc
                .entry((r.date.format("%Y%m%d").to_string(), group(&r).to_owned()))
                .or_default();
            e.0 += r.clicks;
            e.1 += r.conversions;
            e.2 += cents(r.revenue);
        }
        for d in self.business_days(crate::Intervention::None)? {
            let share = if d.revenue > 0.0 {
                d.baseline / d.revenue
            } else {
                0.0
            };
            let events = (d.orders as f64 * share).round();
            acc.insert(
                (d.date.format("%Y%m%d").to_string(), "Direct".to_owned()),
                ((events * 30.0) as i64, events, cents(d.baseline)),
            );
        }
        Ok(acc
            .into_iter()
            .map(
                |((date, channel_group), (sessions, key_events, revenue))| Ga4Row {
                    date,
                    channel_group,
                    sessions,
                    key_events,
                    total_revenue: revenue as f64 / 100.0,
                },
            )
            .collect())
    }

    /// One campaign object per Klaviyo send, in unified order (flows excluded).
    pub fn klaviyo_campaigns(&self) -> Vec<KlaviyoCampaign> {
        self.klaviyo_rows(MessageType::Campaign)
            .map(|r| {
                let sent = format!("{}T14:00:00+00:00", r.date.format("%Y-%m-%d"));
                let created = format!(
                    "{}T09:30:00+00:00",
                    (r.date - chrono::Days::new(2)).format("%Y-%m-%d")
                );
                KlaviyoCampaign {
                    id: r.campaign_id.clone(),
                    name: r.campaign.to_owned(),
                    status: "Sent".into(),
                    send_time: sent.clone(),
                    created_at: created,
                    updated_at: sent,
                    account_id: r.account_id.to_owned(),
                    currency: r.currency.to_owned(),
                }
            })
            .collect()
    }

    /// The campaign-values-report result of every Klaviyo send, in unified order (flows
    /// excluded).
    pub fn klaviyo_campaign_values(&self) -> Vec<KlaviyoCampaignValues> {
        self.klaviyo_rows(MessageType::Campaign)
            .map(|r| KlaviyoCampaignValues {
                groupings: KlaviyoGroupings {
                    campaign_id: r.campaign_id.clone(),
                    campaign_message_id: format!("M{}", r.campaign_id),
                    send_channel: "email".into(),
                },
                statistics: KlaviyoStatistics::of(&r),
                account_id: r.account_id.to_owned(),
            })
            .collect()
    }
}

impl World {
    /// The Klaviyo rows of one kind (campaign sends or flow days), in unified order.
    fn klaviyo_rows(&self, kind: MessageType) -> impl Iterator<Item = WorldRow<'_>> + '_ {
        self.rows()
            .filter(move |r| r.platform == Some(Platform::Klaviyo) && r.message_type == kind)
    }

    /// One flow object per Klaviyo flow of the configuration (empty without flows).
    pub fn klaviyo_flows(&self) -> Vec<KlaviyoFlow> {
        let created = (self.config.start - chrono::Days::new(90)).format("%Y-%m-%dT10:15:00+00:00");
        self.config
            .channels
            .iter()
            .filter(|ch| ch.platform == Some(Platform::Klaviyo))
            .flat_map(|ch| ch.campaigns.iter())
            .filter(|c| c.message_type == MessageType::Flow)
            .enumerate()
            .map(|(i, c)| KlaviyoFlow {
                id: c.id.clone(),
                name: c.name.clone(),
                status: "live".into(),
                archived: false,
                trigger_type: if i % 2 == 0 {
                    "Added to List"
                } else {
                    "Metric"
                }
                .into(),
                created: created.to_string(),
                updated: created.to_string(),
                account_id: c.account_id.clone(),
            })
            .collect()
    }

    /// Every Klaviyo flow row (one flow, one day), in unified order.
    pub fn klaviyo_flow_days(&self) -> Vec<KlaviyoFlowDay> {
        self.klaviyo_rows(MessageType::Flow)
            .map(|r| KlaviyoFlowDay {
                flow_id: r.campaign_id.clone(),
                date: r.date.format("%Y-%m-%d").to_string(),
                statistics: KlaviyoStatistics::of(&r),
                account_id: r.account_id.to_owned(),
            })
            .collect()
    }
}

fn count_stat(action_type: &str, total: i64, click: i64, view: i64) -> MetaActionStat {
    MetaActionStat {
        action_type: action_type.into(),
        value: total.to_string(),
        click_7d: Some(click.to_string()),
        view_1d: Some(view.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_strings_have_two_decimals() {
        assert_eq!(money(152_347), "1523.47");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(0), "0.00");
        assert_eq!(money(-120), "-1.20");
    }

    #[test]
    fn attribution_windows_add_up_to_the_total() {
        for total in [0, 1, 7, 41, 12_345] {
            let (c, v) = split_count(total);
            assert_eq!(c + v, total);
            assert!(c >= 0 && v >= 0);
        }
    }
}
