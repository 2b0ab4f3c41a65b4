//! The native platform shapes carry exactly the unified table's totals.

use std::collections::BTreeMap;

use liftos_sandbox::{META_PURCHASE_ACTION, MessageType, World, WorldConfig};
use serde_json::Value;

use crate::{small, zero_effect_world};

/// Totals in integer units (cents for money) so the comparison is exact.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    spend_cents: i64,
    impressions: i64,
    clicks: i64,
    conversions: i64,
    revenue_cents: i64,
    rows: usize,
}

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

fn unified_totals(world: &World, channel: &str) -> Totals {
    let mut t = Totals::default();
    for r in world.rows().filter(|r| r.channel == channel) {
        t.spend_cents += cents(r.spend);
        t.impressions += r.impressions;
        t.clicks += r.clicks;
        t.conversions += r.conversions as i64;
        t.revenue_cents += cents(r.revenue);
        t.rows += 1;
    }
    t
}

fn str_num(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a JSON string, got {v}"))
}

fn money_cents(s: &str) -> i64 {
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    assert_eq!(frac.len(), 2, "money string {s} has two decimals");
    whole.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap()
}

fn purchase(list: &Value) -> Option<&Value> {
    list.as_array()?
        .iter()
        .find(|a| a["action_type"] == META_PURCHASE_ACTION)
}

/// `rows` after a trip through JSON text, as the fake server and the connector see them.
fn wire<T: serde::Serialize>(rows: &T) -> Vec<Value> {
    serde_json::from_str(&serde_json::to_string(rows).unwrap()).unwrap()
}

fn klaviyo_cost_per_recipient(world: &World) -> f64 {
    world
        .config()
        .channel("klaviyo")
        .unwrap()
        .cost_per_recipient
}

#[test]
fn meta_insights_carry_the_unified_totals() {
    let world = small(21);
    // Go through JSON text, as the fake server and the connector will.
    let wire: Vec<Value> = wire(&world.meta_insights());
    let mut t = Totals::default();
    for row in &wire {
        assert_eq!(row["date_start"], row["date_stop"]);
        t.spend_cents += money_cents(str_num(&row["spend"]));
        t.impressions += str_num(&row["impressions"]).parse::<i64>().unwrap();
        t.clicks += str_num(&row["clicks"]).parse::<i64>().unwrap();
        if let Some(p) = purchase(&row["actions"]) {
            let v: i64 = str_num(&p["value"]).parse().unwrap();
            let c: i64 = str_num(&p["7d_click"]).parse().unwrap();
            let w: i64 = str_num(&p["1d_view"]).parse().unwrap();
            assert_eq!(c + w, v, "attribution windows add up");
            t.conversions += v;
        }
        if let Some(p) = purchase(&row["action_values"]) {
            t.revenue_cents += money_cents(str_num(&p["value"]));
        }
        t.rows += 1;
    }
    assert_eq!(t, unified_totals(&world, "meta"));
    // Two ad accounts are served.
    let accounts: std::collections::BTreeSet<_> = wire
        .iter()
        .map(|r| r["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(accounts.len(), 2, "{accounts:?}");
}

#[test]
fn google_ads_rows_carry_the_unified_totals() {
    let world = small(22);
    let wire: Vec<Value> = wire(&world.google_ads_rows());
    let mut t = Totals::default();
    let mut value = 0.0;
    for row in &wire {
        let m = &row["metrics"];
        let micros: i64 = str_num(&m["costMicros"]).parse().unwrap();
        assert_eq!(micros % 10_000, 0, "spend is whole cents");
        t.spend_cents += micros / 10_000;
        t.impressions += str_num(&m["impressions"]).parse::<i64>().unwrap();
        t.clicks += str_num(&m["clicks"]).parse::<i64>().unwrap();
        t.conversions += m["conversions"].as_f64().unwrap() as i64;
        t.revenue_cents += cents(m["conversionsValue"].as_f64().unwrap());
        value += m["conversionsValue"].as_f64().unwrap();
        assert!(row["segments"]["date"].is_string());
        assert!(
            row["campaign"]["resourceName"]
                .as_str()
                .unwrap()
                .starts_with("customers/1234567890/campaigns/")
        );
        t.rows += 1;
    }
    assert_eq!(t, unified_totals(&world, "google_ads"));
    let unified: f64 = world
        .rows()
        .filter(|r| r.channel == "google_ads")
        .map(|r| r.revenue)
        .sum();
    assert_eq!(value, unified, "f64 values survive JSON exactly");
}

#[test]
fn klaviyo_reports_carry_the_unified_totals() {
    let world = small(23);
    let wire: Vec<Value> = wire(&world.klaviyo_campaign_values());
    let campaigns = world.klaviyo_campaigns();
    assert_eq!(campaigns.len(), wire.len(), "one campaign object per send");
    let cpr = klaviyo_cost_per_recipient(&world);
    let mut t = Totals::default();
    let mut per_campaign = BTreeMap::new();
    for row in &wire {
        let s = &row["statistics"];
        let recipients = s["recipients"].as_i64().unwrap();
        assert_eq!(
            s["delivered"].as_i64().unwrap() + s["bounced"].as_i64().unwrap(),
            recipients
        );
        t.impressions += recipients;
        t.spend_cents += cents(recipients as f64 * cpr);
        t.clicks += s["clicks_unique"].as_i64().unwrap();
        t.conversions += s["conversions"].as_f64().unwrap() as i64;
        t.revenue_cents += cents(s["conversion_value"].as_f64().unwrap());
        *per_campaign
            .entry(row["groupings"]["campaign_id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
        t.rows += 1;
    }
    assert_eq!(
        t,
        unified_totals(&world, "klaviyo"),
        "spend = recipients × cost per recipient"
    );
    assert!(
        per_campaign.values().all(|n| *n == 1),
        "campaign ids are unique per send"
    );
    // Sends of one series share a name, as real Klaviyo campaigns often do.
    let names: std::collections::BTreeSet<_> = campaigns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 3);
}

#[test]
fn a_channel_without_a_platform_has_no_native_rows() {
    let world = zero_effect_world(2, 60);
    let native = world.meta_insights().len()
        + world.google_ads_rows().len()
        + world.klaviyo_campaign_values().len();
    let tiktok = world.rows().filter(|r| r.channel == "tiktok").count();
    assert_eq!(native + tiktok, world.num_rows());
}

#[test]
fn klaviyo_flows_send_daily_add_up_and_leave_every_other_row_unchanged() {
    let config = WorldConfig::standard(2).with_days(90).with_seed(29);
    let plain = World::generate(&config).unwrap();
    let world = World::generate(&config.clone().with_klaviyo_flows(4)).unwrap();
    // Every row of the world without flows is still there, unchanged.
    let key = |r: &liftos_sandbox::WorldRow<'_>| {
        (
            r.date,
            r.channel.to_owned(),
            r.campaign_id.clone(),
            cents(r.spend),
            r.impressions,
            r.clicks,
            r.conversions as i64,
            cents(r.revenue),
        )
    };
    let before: Vec<_> = plain.rows().map(|r| key(&r)).collect();
    let after: Vec<_> = world
        .rows()
        .filter(|r| r.message_type == MessageType::Campaign)
        .map(|r| key(&r))
        .collect();
    assert_eq!(before, after);
    for ch in ["meta", "google_ads"] {
        assert_eq!(plain.truth().channel(ch), world.truth().channel(ch), "{ch}");
    }
    // Flows send every day of their flight; the fourth starts a quarter of the way in.
    let flows = world.klaviyo_flows();
    assert_eq!(flows.len(), 4);
    let days = world.klaviyo_flow_days();
    for (i, f) in flows.iter().enumerate() {
        let n = days.iter().filter(|d| d.flow_id == f.id).count();
        assert_eq!(n, if i == 3 { 90 - 90 / 4 } else { 90 }, "{}", f.name);
    }
    // Campaign sends plus flow days carry the klaviyo channel's unified totals exactly.
    let cpr = klaviyo_cost_per_recipient(&world);
    let mut t = Totals::default();
    let stats = world
        .klaviyo_campaign_values()
        .into_iter()
        .map(|v| v.statistics)
        .chain(days.into_iter().map(|d| d.statistics));
    for s in stats {
        t.impressions += s.recipients;
        t.spend_cents += cents(s.recipients as f64 * cpr);
        t.clicks += s.clicks_unique;
        t.conversions += s.conversions as i64;
        t.revenue_cents += cents(s.conversion_value);
        t.rows += 1;
    }
    assert_eq!(t, unified_totals(&world, "klaviyo"));
    assert_eq!(
        world.klaviyo_campaigns().len(),
        plain.klaviyo_campaigns().len()
    );
    // Flow rows are part of the truth: the channel's incremental revenue grows by theirs.
    let flow_incremental: f64 = world
        .rows()
        .filter(|r| r.message_type == MessageType::Flow)
        .map(|r| r.incremental_revenue)
        .sum();
    assert!(flow_incremental > 0.0);
    let k = |w: &World| w.truth().channel("klaviyo").unwrap().incremental_revenue;
    assert!((k(&world) - k(&plain) - flow_incremental).abs() < 1e-6 * k(&world));
}

#[test]
fn tiktok_rows_are_the_channel_s_rows_with_tiktok_ids_and_nothing_else_changes() {
    use liftos_sandbox::Platform;
    let plain =
        World::generate(&WorldConfig::preset(liftos_sandbox::Preset::Realistic, 3)).unwrap();
    let on_tiktok = World::generate(
        &WorldConfig::preset(liftos_sandbox::Preset::Realistic, 3)
            .with_platform("tiktok", Platform::TikTok),
    )
    .unwrap();
    // Same values and truth; only the tiktok channel's ids differ.
    assert_eq!(plain.truth(), on_tiktok.truth());
    let a: Vec<_> = plain.rows().collect();
    let b: Vec<_> = on_tiktok.rows().collect();
    assert_eq!(a.len(), b.len());
    let mut tiktok = 0;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (x.date, x.channel, x.spend, x.revenue),
            (y.date, y.channel, y.spend, y.revenue)
        );
        assert_eq!(
            (x.impressions, x.clicks, x.conversions),
            (y.impressions, y.clicks, y.conversions)
        );
        if x.channel == "tiktok" {
            tiktok += 1;
            assert!(y.account_id.len() == 19 && y.account_id.bytes().all(|c| c.is_ascii_digit()));
            assert!(y.campaign_id.bytes().all(|c| c.is_ascii_digit()));
        } else {
            assert_eq!(
                (x.account_id, &x.campaign_id),
                (y.account_id, &y.campaign_id)
            );
        }
    }
    let rows = on_tiktok.tiktok_rows();
    assert_eq!(rows.len(), tiktok);
    assert!(plain.tiktok_rows().is_empty());
    let r = &rows[0];
    assert!(
        r.stat_time_day.ends_with(" 00:00:00"),
        "{}",
        r.stat_time_day
    );
    assert!(r.spend.contains('.') && r.total_complete_payment_rate.contains('.'));
}
