//! Shopify connector against the fake Admin GraphQL API and its storage origin.

use std::collections::BTreeMap;
use std::convert::identity;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use chrono::NaiveDate;
use liftos_connectors::{Connector, ConnectorRequest, Error, ShopifyBuilder, SystemClock};
use liftos_sandbox::World;
use liftos_sandbox::fake::{FakeCredentials, FakeServers, FaultConfig, shopify_orders};

use crate::common::*;

/// One row of the business-outcome table.
type Row = (NaiveDate, f64, i64, i64, String);

fn rows(t: &RecordBatch) -> Vec<Row> {
    let names: Vec<&str> = t
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "date",
            "revenue",
            "orders",
            "new_customer_orders",
            "currency"
        ]
    );
    let dates = t.column(0).as_primitive::<Date32Type>();
    let revenue = t.column(1).as_primitive::<Float64Type>();
    let orders = t.column(2).as_primitive::<Int64Type>();
    let new = t.column(3).as_primitive::<Int64Type>();
    let currency = t.column(4).as_string::<i32>();
    (0..t.num_rows())
        .map(|i| {
            (
                Date32Type::to_naive_date_opt(dates.value(i)).unwrap(),
                revenue.value(i),
                orders.value(i),
                new.value(i),
                currency.value(i).to_owned(),
            )
        })
        .collect()
}

/// The world's business table over `start..=end`, with the fake shop's new-customer
/// orders per day.
fn truth(world: &World, start: NaiveDate, end: NaiveDate) -> Vec<Row> {
    let mut new: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for o in shopify_orders(world).unwrap() {
        if !o.test && !o.cancelled && o.customer_order_index == 1 {
            *new.entry(o.shop_date).or_default() += 1;
        }
    }
    let table = world.business_table().unwrap();
    let dates = table.column(0).as_primitive::<Date32Type>();
    let revenue = table.column(1).as_primitive::<Float64Type>();
    let orders = table.column(2).as_primitive::<Int64Type>();
    (0..table.num_rows())
        .map(|i| (Date32Type::to_naive_date_opt(dates.value(i)).unwrap(), i))
        .filter(|(d, _)| *d >= start && *d <= end)
        .map(|(d, i)| {
            (
                d,
                revenue.value(i),
                orders.value(i),
                new.get(&d).copied().unwrap_or(0),
                "USD".to_owned(),
            )
        })
        .collect()
}

fn days(world: &World) -> (NaiveDate, NaiveDate) {
    let r = full_range(world);
    (r.start(), r.end())
}

fn builder(servers: &FakeServers) -> ShopifyBuilder {
    ShopifyBuilder::new()
        .with_shop("liftos-sandbox")
        .with_access_token(servers.credentials().shopify_access_token.clone())
        .with_base_url(servers.shopify_base_url())
        .with_bulk_poll(Duration::from_millis(50))
        .with_retry(fast_retry())
        .with_clock(clock())
}

/// A bucket that refills at once: the virtual clock's waits pass no real time.
fn fast_bucket() -> FaultConfig {
    FaultConfig::none().with_shopify_bucket(1000.0, 1e9)
}

fn request(start: NaiveDate, end: NaiveDate) -> ConnectorRequest {
    ConnectorRequest::new(start, end).unwrap()
}

/// The error of a pull of the world's first `days` days (`None`: every day) by the
/// builder `tweak` makes, from fakes with `faults`; and the fakes.
async fn pull_error(
    faults: FaultConfig,
    tweak: impl FnOnce(ShopifyBuilder) -> ShopifyBuilder,
    days_pulled: Option<u64>,
) -> (Error, FakeServers) {
    let world = world();
    let (start, end) = days(&world);
    let end = days_pulled.map_or(end, |n| start + chrono::Days::new(n));
    let servers = serve(world, faults).await;
    let err = error_of(&servers, tweak, &request(start, end)).await;
    (err, servers)
}

/// The error of pulling `r` from `servers` by the builder `tweak` makes.
async fn error_of(
    servers: &FakeServers,
    tweak: impl FnOnce(ShopifyBuilder) -> ShopifyBuilder,
    r: &ConnectorRequest,
) -> Error {
    tweak(builder(servers))
        .build()
        .unwrap()
        .get_campaign_data(r)
        .await
        .unwrap_err()
}

/// Fakes serving `world` whose Shopify access token has only the `scopes`.
async fn servers_with_scopes(world: World, scopes: &[&str]) -> FakeServers {
    let creds = FakeCredentials {
        shopify_scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        ..FakeCredentials::default()
    };
    FakeServers::start_with(world, fast_bucket(), creds, 0)
        .await
        .unwrap()
}

#[tokio::test]
async fn cursor_pages_give_the_worlds_business_table_exactly_under_faults() {
    let world = world();
    let (first, _) = days(&world);
    let (start, end) = (first + chrono::Days::new(10), first + chrono::Days::new(40));
    let want = truth(&world, start, end);
    let faults = fast_bucket()
        .with_throttle_rate(0.1)
        .with_server_error_rate(0.1)
        .with_drop_rate(0.1)
        .with_seed(19);
    let servers = serve(world, faults).await;
    let c = builder(&servers)
        .with_page_size(100)
        .with_retry(fast_retry().with_max_retries(400))
        .build()
        .unwrap();
    let r = request(start, end);
    assert!(!c.uses_bulk(&r), "31 days: cursor pages");
    let t = pull_all(&c, &r).await;
    assert_eq!(rows(&t), want);
    assert_eq!(t.num_rows(), 31, "one row per day");
    let orders: i64 = want.iter().map(|r| r.2).sum();
    assert!(orders > 1000, "{orders} orders");
    let log = servers.requests_to("shopify");
    for fault in ["throttle", "server_error", "drop"] {
        assert!(
            log.iter().any(|r| r.fault == Some(fault)),
            "{fault} was injected"
        );
    }
    assert!(c.progress().snapshot().pages > 10, "paged");
    assert!(servers.requests_to("shopify_storage").is_empty());
}

#[tokio::test]
async fn the_bulk_path_gives_the_same_table_as_cursor_pages_and_never_sends_the_token_to_storage() {
    let world = world();
    let (start, end) = days(&world);
    let want = truth(&world, start, end);
    let faults = fast_bucket()
        .with_server_error_rate(0.2)
        .with_drop_rate(0.2)
        .with_seed(4);
    let servers = serve(world, faults).await;
    let r = request(start, end);
    let bulk = builder(&servers).build().unwrap();
    assert!(bulk.uses_bulk(&r), "75 days: a bulk operation");
    let by_bulk = bulk
        .get_campaign_data(&r)
        .await
        .unwrap_or_else(|e| panic!("bulk pull failed: {e}"));
    let cursor = builder(&servers)
        .with_bulk_threshold_days(366)
        .build()
        .unwrap();
    let by_pages = cursor
        .get_campaign_data(&r)
        .await
        .unwrap_or_else(|e| panic!("cursor pull failed: {e}"));
    assert_eq!(rows(&by_bulk), want);
    assert_eq!(by_bulk, by_pages, "bulk and cursor pages agree");
    let storage = servers.requests_to("shopify_storage");
    assert!(!storage.is_empty(), "the result was downloaded");
    assert!(storage.iter().all(|r| r.fault != Some("credential_sent")));
    assert!(storage.iter().any(|r| r.status == 200));
    let polls = servers
        .requests_to("shopify")
        .iter()
        .filter(|r| r.status == 200)
        .count();
    assert!(polls >= 4, "the operation was polled until COMPLETED");
}

#[tokio::test]
async fn the_cost_bucket_is_respected_without_running_into_throttles() {
    let world = world();
    let (first, _) = days(&world);
    let (start, end) = (first, first + chrono::Days::new(29));
    let want = truth(&world, start, end);
    // A real bucket: 1000 points restoring 4000/s; pages of 200 cost 803.
    let faults = FaultConfig::none().with_shopify_bucket(1000.0, 4000.0);
    let servers = serve(world, faults).await;
    let c = builder(&servers)
        .with_page_size(200)
        .with_clock(Arc::new(SystemClock::default()))
        .build()
        .unwrap();
    let t = c.get_campaign_data(&request(start, end)).await.unwrap();
    assert_eq!(rows(&t), want);
    let log = servers.requests_to("shopify");
    let pages = log.iter().filter(|r| r.status == 200).count();
    assert!(pages >= 3, "several pages: {pages}");
    let throttled = log
        .iter()
        .filter(|r| r.fault == Some("bucket_throttle"))
        .count();
    assert_eq!(
        throttled, 0,
        "the connector waits from throttleStatus before the bucket runs dry"
    );
}

#[tokio::test]
async fn an_expired_or_wrong_token_is_one_clear_error_without_the_token() {
    let world = world();
    let (start, end) = days(&world);
    let servers = serve(world, fast_bucket().with_expire_token_after(1)).await;
    let token = servers.credentials().shopify_access_token.clone();
    for (label, c) in [
        ("expired", builder(&servers).with_page_size(20).build()),
        (
            "wrong",
            builder(&servers)
                .with_access_token("shpat_wrong_token_123")
                .build(),
        ),
    ] {
        let c = c.unwrap();
        let err = pull_error_within_20s(&c, &request(start, start + chrono::Days::new(5))).await;
        assert!(matches!(err, Error::Auth { .. }), "{label}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains("HTTP 401") && text.contains("LIFTOS_SHOPIFY_ACCESS_TOKEN"),
            "{label}: {text}"
        );
        for secret in [token.as_str(), "shpat_wrong_token_123"] {
            assert!(!text.contains(secret), "{label}: {text}");
            assert!(!format!("{err:?}").contains(secret), "{label}");
            assert!(!format!("{c:?}").contains(secret), "{label}");
        }
    }
    let _ = end;
}

/// A world of 50 days ending 5 days ago: every day inside Shopify's 60-day order window.
fn recent_world() -> World {
    let start = chrono::Utc::now().date_naive() - chrono::Days::new(55);
    World::generate(
        &liftos_sandbox::WorldConfig::standard(2)
            .with_days(50)
            .with_seed(11)
            .with_start(start),
    )
    .unwrap()
}

#[tokio::test]
async fn a_revoked_read_orders_scope_is_one_clear_error_on_both_paths() {
    // Recent days, so that the order window does not refuse the pull first.
    let world = recent_world();
    let (start, end) = days(&world);
    let servers = servers_with_scopes(world, &["read_products"]).await;
    for r in [
        request(start, start + chrono::Days::new(3)),
        request(start, end),
    ] {
        let err = error_of(&servers, identity, &r).await;
        assert!(matches!(err, Error::Auth { .. }), "{err:?}");
        assert!(err.to_string().contains("`read_orders` scope"), "{err}");
    }
}

#[tokio::test]
async fn a_malformed_page_is_one_error_naming_the_page() {
    let faults = fast_bucket().with_shopify_malformed_page(2);
    let (err, _) = pull_error(faults, |b| b.with_page_size(20), Some(9)).await;
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    let text = err.to_string();
    assert_mentions(
        &text,
        &[
            "orders page 2",
            "currentTotalPriceSet.shopMoney.amount",
            "malformed",
        ],
    );
}

#[tokio::test]
async fn settings_come_from_the_environment_and_secrets_stay_out_of_debug() {
    let servers = serve(world(), fast_bucket()).await;
    let token = servers.credentials().shopify_access_token.clone();
    let vars = [
        ("LIFTOS_SHOPIFY_SHOP", "liftos-sandbox".to_owned()),
        ("LIFTOS_SHOPIFY_ACCESS_TOKEN", token.clone()),
        ("LIFTOS_SHOPIFY_BASE_URL", servers.shopify_base_url()),
    ];
    let b = ShopifyBuilder::from_env_with(|k| {
        vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    });
    assert!(!format!("{b:?}").contains(&token));
    let c = b
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    assert!(!format!("{c:?}").contains(&token));
    c.check().await.unwrap();
}

#[tokio::test]
async fn two_bulk_pulls_at_once_wait_for_each_other() {
    let world = world();
    let (start, end) = days(&world);
    let want = truth(&world, start, end);
    let servers = serve(world, fast_bucket()).await;
    let r = request(start, end);
    let (a, b) = (
        builder(&servers).build().unwrap(),
        builder(&servers).build().unwrap(),
    );
    let (ta, tb) = tokio::join!(a.get_campaign_data(&r), b.get_campaign_data(&r));
    assert_eq!(rows(&ta.unwrap()), want);
    assert_eq!(rows(&tb.unwrap()), want);
    let downloads = servers
        .requests_to("shopify_storage")
        .iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(downloads, 2, "two operations, one after the other");
}

#[tokio::test]
async fn a_refused_bulk_download_names_the_file_but_never_the_signature() {
    let (err, servers) = pull_error(fast_bucket().with_shopify_expired_urls(), |b| b, None).await;
    let text = err.to_string();
    assert!(matches!(err, Error::Http { status: 400, .. }), "{err:?}");
    assert!(
        text.contains(&format!(
            "{}/shopify-bulk/1.jsonl refused",
            servers.shopify_storage_url()
        )),
        "{text}"
    );
    for secret in ["Signature", "Expires", "GoogleAccessId", "?"] {
        assert!(!text.contains(secret), "{text}");
        assert!(!format!("{err:?}").contains(secret), "{err:?}");
    }
    let sent = servers.requests_to("shopify_storage");
    assert!(!sent.is_empty() && sent.iter().all(|r| r.fault != Some("credential_sent")));
}

#[tokio::test]
async fn a_query_over_the_cost_limit_is_one_clear_error() {
    let faults = fast_bucket().with_shopify_max_query_cost(500);
    let (err, servers) = pull_error(faults, |b| b.with_page_size(200), Some(6)).await;
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err:?}");
    assert_mentions(
        &err.to_string(),
        &[
            "MAX_COST_EXCEEDED",
            "maximum of 500",
            "cost 803",
            "lower page_size",
        ],
    );
    let calls = servers.requests_to("shopify");
    assert_eq!(calls.len(), 2, "shop, then one refused page: no retry");
}

/// `write_orders` implies `read_orders` (Shopify may list it alone): such a token reads
/// the last 60 days' orders, and older days are refused as without `read_all_orders`.
#[tokio::test]
async fn a_write_orders_token_reads_recent_orders_and_older_days_are_refused() {
    let world = recent_world();
    let (start, end) = days(&world);
    let want = truth(&world, start, end);
    let servers = servers_with_scopes(world, &["write_orders"]).await;
    for r in [
        request(start, start + chrono::Days::new(9)),
        request(start, end),
    ] {
        let t = pull_all(&builder(&servers).build().unwrap(), &r).await;
        let want: Vec<Row> = want.iter().filter(|w| w.0 <= r.end()).cloned().collect();
        assert_eq!(rows(&t), want);
    }
    let old = crate::common::world();
    let (start, _) = days(&old);
    let servers = servers_with_scopes(old, &["write_orders"]).await;
    let err = error_of(
        &servers,
        identity,
        &request(start, start + chrono::Days::new(6)),
    )
    .await;
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert_mentions(
        &err.to_string(),
        &["`read_all_orders` scope", "the token has write_orders"],
    );
    assert_eq!(
        servers.requests_to("shopify").len(),
        1,
        "no order was asked for"
    );
}

#[tokio::test]
async fn days_older_than_60_without_read_all_orders_are_refused_not_read_as_zero() {
    let world = world();
    let (start, _) = days(&world);
    let servers = servers_with_scopes(world, &["read_orders"]).await;
    let err = error_of(
        &servers,
        identity,
        &request(start, start + chrono::Days::new(6)),
    )
    .await;
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    let text = err.to_string();
    assert_mentions(
        &text,
        &["`read_all_orders` scope", "the token has read_orders"],
    );
    assert_eq!(
        servers.requests_to("shopify").len(),
        1,
        "no order was asked for"
    );
}
