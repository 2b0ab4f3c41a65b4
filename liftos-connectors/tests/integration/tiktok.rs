//! TikTok Ads connector against the fake Business API.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Date32Type;
use liftos_connectors::{Connector, Error, TikTokBuilder, VirtualClock};
use liftos_sandbox::fake::{FakeServers, FaultConfig};
use liftos_sandbox::{Platform, World};

use crate::common::*;
use crate::narrow::{Narrow, json};

fn builder(servers: &FakeServers, ids: &[String], clock: Arc<VirtualClock>) -> TikTokBuilder {
    TikTokBuilder::new()
        .with_access_token(servers.credentials().tiktok_access_token.clone())
        .with_advertiser_ids(ids.to_vec())
        .with_base_url(servers.tiktok_base_url())
        .with_page_size(7)
        .with_retry(fast_retry())
        .with_clock(clock)
}

type Key = (String, String, i32);
type Values = (String, String, f64, i64, i64, f64, f64);

/// (advertiser, campaign, day) → (name, currency, spend, impressions, clicks,
/// purchases, value), from the world.
fn want(world: &World) -> BTreeMap<Key, Values> {
    world
        .rows()
        .filter(|r| r.platform == Some(Platform::TikTok))
        .map(|r| {
            (
                (
                    r.account_id.to_owned(),
                    r.campaign_id.clone(),
                    Date32Type::from_naive_date(r.date),
                ),
                (
                    r.campaign.to_owned(),
                    r.currency.to_owned(),
                    r.spend,
                    r.impressions,
                    r.clicks,
                    r.conversions,
                    r.revenue,
                ),
            )
        })
        .collect()
}

fn got(t: &RecordBatch) -> BTreeMap<Key, Values> {
    let s = |n: &str| column::<StringArray>(t, n);
    let f = |n: &str| column::<Float64Array>(t, n);
    let i = |n: &str| column::<Int64Array>(t, n);
    let day = column::<Date32Array>(t, "stat_time_day");
    let (adv, camp, name, cur) = (
        s("advertiser_id"),
        s("campaign_id"),
        s("campaign_name"),
        s("currency"),
    );
    let (spend, imp, clicks, purchases, value) = (
        f("spend"),
        i("impressions"),
        i("clicks"),
        f("complete_payment"),
        f("total_complete_payment_rate"),
    );
    let mut out = BTreeMap::new();
    for k in 0..t.num_rows() {
        assert!(!spend.is_null(k) && !value.is_null(k), "row {k} has nulls");
        let prev = out.insert(
            (
                adv.value(k).to_owned(),
                camp.value(k).to_owned(),
                day.value(k),
            ),
            (
                name.value(k).to_owned(),
                cur.value(k).to_owned(),
                spend.value(k),
                imp.value(k),
                clicks.value(k),
                purchases.value(k),
                value.value(k),
            ),
        );
        assert!(prev.is_none(), "row {k} is a duplicate");
    }
    out
}

async fn pull_and_compare(faults: FaultConfig) -> FakeServers {
    let world = tiktok_world();
    let ids = advertisers(&world);
    assert_eq!(ids.len(), 2, "two advertisers");
    let expected = want(&world);
    assert!(expected.len() > 100, "{} rows", expected.len());
    let request = full_range(&world);
    let servers = serve(world, faults).await;
    let c = builder(&servers, &ids, clock()).build().unwrap();
    let t = pull_all(&c, &request).await;
    // Exact: every value parses back to the world's own (money in cents, counts whole).
    assert_eq!(got(&t), expected);
    servers
}

#[tokio::test]
async fn every_row_exactly_once_in_30_day_requests_and_pages() {
    let servers = pull_and_compare(FaultConfig::none()).await;
    let log = servers.requests_to("tiktok");
    let reports: Vec<_> = log
        .iter()
        .filter(|r| r.path.ends_with("/report/integrated/get/"))
        .collect();
    // 75 days = 3 requests of ≤ 30 days per advertiser, each paged by 7 rows.
    assert!(reports.len() > 6, "{} report calls", reports.len());
    assert!(reports.iter().all(|r| r.query.contains("page_size=7")));
    assert!(
        reports
            .iter()
            .all(|r| !r.query.contains("access") && !r.query.contains("token")),
        "the token travels in a header only"
    );
    assert_eq!(
        log.iter()
            .filter(|r| r.path.ends_with("/advertiser/info/"))
            .count(),
        2,
        "one currency look-up per advertiser"
    );
}

#[tokio::test]
async fn throttling_system_errors_drops_and_slow_answers_are_survived_exactly() {
    for faults in [
        FaultConfig::none().with_throttle_rate(0.4),
        FaultConfig::none().with_server_error_rate(0.4),
        FaultConfig::none().with_drop_rate(0.4),
        FaultConfig::none().with_slow(0.3, Duration::from_millis(1200)),
    ] {
        let servers = pull_and_compare(faults.with_seed(5)).await;
        assert_faulted(&servers, "tiktok", "a fault was injected");
    }
}

#[tokio::test]
async fn an_expired_token_gives_one_clear_error_without_the_token() {
    let world = tiktok_world();
    let ids = advertisers(&world);
    let request = full_range(&world);
    let servers = serve(world, FaultConfig::none().with_expire_token_after(3)).await;
    let token = servers.credentials().tiktok_access_token.clone();
    let c = builder(&servers, &ids, clock())
        .with_retry(fast_retry().with_concurrency(1))
        .build()
        .unwrap();
    let err = c.get_campaign_data(&request).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Auth { .. }), "{text}");
    assert!(text.contains("40105"), "{text}");
    assert!(text.contains("LIFTOS_TIKTOK_ACCESS_TOKEN"), "{text}");
    assert!(!text.contains(&token), "{text}");
    // Not retried: an auth failure is permanent.
    let after = servers
        .requests_to("tiktok")
        .iter()
        .filter(|r| r.fault == Some("expired_token"))
        .count();
    assert_eq!(after, 1, "the expired token was sent once");
}

#[tokio::test]
async fn a_wrong_token_and_an_advertiser_without_permission_fail_check() {
    let world = tiktok_world();
    let ids = advertisers(&world);
    let servers = quiet_servers(world).await;
    let wrong = builder(&servers, &ids, clock())
        .with_access_token("not-the-token-QWERTY")
        .build()
        .unwrap();
    let err = wrong.check().await.unwrap_err().to_string();
    assert_mentions(&err, &["credentials rejected", "40105"]);
    assert!(!err.contains("QWERTY"), "{err}");

    let revoked = builder(&servers, &["7999999999999999999".to_owned()], clock())
        .build()
        .unwrap();
    let err = revoked.check().await.unwrap_err().to_string();
    assert!(err.contains("40001"), "{err}");
    assert!(err.contains("7999999999999999999"), "{err}");
    assert!(err.contains("scope"), "{err}");
}

#[tokio::test]
async fn a_range_is_cut_in_requests_the_api_accepts() {
    // 31 days in one request would be refused by the API (40002); the connector never
    // sends one, even when asked for more per request than TikTok allows.
    let err = TikTokBuilder::new()
        .with_access_token("t")
        .with_advertiser_ids(["1"])
        .with_chunk_days(31)
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("chunk_days"), "{err}");
}

fn report_server(
    rows: serde_json::Value,
    total_number: u64,
    total_page: u64,
) -> impl Fn(&crate::narrow::Seen, &str) -> axum::response::Response + Send + Sync + 'static {
    move |seen, _| {
        if seen.path.ends_with("/advertiser/info/") {
            return json(
                200,
                serde_json::json!({"code": 0, "message": "OK",
                    "data": {"list": [{"advertiser_id": "1", "currency": "EUR"}]}}),
            );
        }
        json(
            200,
            serde_json::json!({"code": 0, "message": "OK", "data": {
                "list": rows.clone(),
                "page_info": {"page": 1, "page_size": 1000, "total_number": total_number, "total_page": total_page}
            }}),
        )
    }
}

async fn pull_from(narrow: &Narrow) -> Result<RecordBatch, Error> {
    let c = TikTokBuilder::new()
        .with_access_token("narrow-token-ZXCV")
        .with_advertiser_ids(["1"])
        .with_base_url(narrow.base_url())
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    let request = day_range("2024-01-01", "2024-01-02");
    c.get_campaign_data(&request).await
}

#[tokio::test]
async fn a_malformed_page_names_the_page_and_field() {
    let rows = serde_json::json!([
        {"dimensions": {"campaign_id": "17", "stat_time_day": "2024-01-01 00:00:00"},
         "metrics": {"campaign_name": "A", "spend": "1.50", "impressions": "10", "clicks": "1",
                     "complete_payment": "0", "total_complete_payment_rate": "0.00"}},
        {"dimensions": {"campaign_id": "17", "stat_time_day": "2024-01-02 00:00:00"},
         "metrics": {"campaign_name": "A", "spend": "1,50", "impressions": "10", "clicks": "1",
                     "complete_payment": "0", "total_complete_payment_rate": "0.00"}}
    ]);
    let narrow = Narrow::start(report_server(rows, 2, 1)).await;
    let err = pull_from(&narrow).await.unwrap_err().to_string();
    assert_mentions(&err, &["page 1: data.list[1].metrics.spend", "`1,50`"]);
    assert!(!err.contains("ZXCV"), "{err}");
}

#[tokio::test]
async fn a_report_that_changes_while_paged_is_refused_not_half_kept() {
    let row = serde_json::json!(
        {"dimensions": {"campaign_id": "17", "stat_time_day": "2024-01-01 00:00:00"},
         "metrics": {"campaign_name": "A", "spend": "1.50", "impressions": "10", "clicks": "1",
                     "complete_payment": "0", "total_complete_payment_rate": "0.00"}});
    // Every page answers the same row: page 2 repeats page 1.
    let narrow = Narrow::start(report_server(serde_json::json!([row]), 2, 2)).await;
    let err = pull_from(&narrow).await.unwrap_err().to_string();
    assert_mentions(&err, &["came twice", "run the pull again"]);
    // A total that is not met.
    let narrow = Narrow::start(report_server(serde_json::json!([row]), 3, 1)).await;
    let err = pull_from(&narrow).await.unwrap_err().to_string();
    assert!(err.contains("total_number says 3"), "{err}");
    assert!(
        narrow
            .requests()
            .iter()
            .all(|r| r.all_text().contains("narrow-token-ZXCV")
                && r.headers.iter().any(|(k, _)| k == "access-token")),
        "the token is sent as the Access-Token header"
    );
}
