//! Shared helpers: a small world, fast retry settings, totals.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, RecordBatch};
use liftos_connectors::{Connector, ConnectorRequest, MetaAdsBuilder, RetryConfig, VirtualClock};
use liftos_sandbox::fake::{FakeServers, FaultConfig};
use liftos_sandbox::{Platform, World, WorldConfig};
pub use liftos_testkit::{Totals, sum, world_totals};

/// The fake platform APIs serving `world` with `faults`.
pub async fn serve(world: World, faults: FaultConfig) -> FakeServers {
    FakeServers::start(world, faults).await.unwrap()
}

/// The fake platform APIs serving `world`, without faults.
pub async fn quiet_servers(world: World) -> FakeServers {
    serve(world, FaultConfig::none()).await
}

pub fn world() -> World {
    World::generate(&WorldConfig::standard(2).with_days(75).with_seed(11)).unwrap()
}

/// Retry settings for tests: a short request timeout (the fake's slow answers take 1 s),
/// a virtual clock makes backoff free.
pub fn fast_retry() -> RetryConfig {
    RetryConfig::default()
        .with_request_timeout(Duration::from_millis(400))
        .with_max_retries(60)
        .with_seed(3)
}

pub fn clock() -> Arc<VirtualClock> {
    Arc::new(VirtualClock::new())
}

/// A Meta connector with the access token `token` for the one ad account `1` at
/// `base_url` (a narrow test server), with fast retries and a virtual clock.
pub fn meta_at(base_url: String, token: &str) -> MetaAdsBuilder {
    MetaAdsBuilder::new()
        .with_access_token(token)
        .with_ad_account_ids(["1"])
        .with_base_url(base_url)
        .with_retry(fast_retry())
        .with_clock(clock())
}

/// Every row `c` pulls for `request`; a failed pull panics with its error.
pub async fn pull_all(c: &impl Connector, request: &ConnectorRequest) -> RecordBatch {
    c.get_campaign_data(request)
        .await
        .unwrap_or_else(|e| panic!("pull failed: {e}"))
}

/// The error of pulling `request` with `c`, which must come within 20 s.
pub async fn pull_error_within_20s(
    c: &impl Connector,
    request: &ConnectorRequest,
) -> liftos_connectors::Error {
    tokio::time::timeout(Duration::from_secs(20), c.get_campaign_data(request))
        .await
        .expect("no hang")
        .unwrap_err()
}

/// Asserts that the connector `make` builds for fakes that never recover, with a retry
/// budget to give it, pulls the standard world into `RetriesExhausted` within 20 s.
pub async fn assert_gives_up<C: Connector>(make: impl FnOnce(&FakeServers, RetryConfig) -> C) {
    let world = world();
    let request = full_range(&world);
    let servers = serve(world, FaultConfig::none().with_never_recover()).await;
    let c = make(&servers, fast_retry().with_max_retries(4));
    let err = pull_error_within_20s(&c, &request).await;
    assert!(
        matches!(err, liftos_connectors::Error::RetriesExhausted { .. }),
        "{err}"
    );
}

/// Asserts that `c`'s check is refused for its credentials (`Error::Auth`).
pub async fn assert_check_refused(c: &impl Connector) {
    let err = c.check().await.unwrap_err();
    assert!(
        matches!(err, liftos_connectors::Error::Auth { .. }),
        "{err}"
    );
}

/// The request for the days `start` to `end` (`YYYY-MM-DD`).
pub fn day_range(start: &str, end: &str) -> ConnectorRequest {
    ConnectorRequest::new(start.parse().unwrap(), end.parse().unwrap()).unwrap()
}

/// The request for 2024-01-01 alone.
pub fn one_day() -> ConnectorRequest {
    day_range("2024-01-01", "2024-01-01")
}

pub fn full_range(world: &World) -> ConnectorRequest {
    let rows: Vec<_> = world.rows().collect();
    let start = rows.iter().map(|r| r.date).min().unwrap();
    let end = rows.iter().map(|r| r.date).max().unwrap();
    ConnectorRequest::new(start, end).unwrap()
}

/// The standard world's totals of `channel` ([`world_totals`]), the request of its whole
/// range, and the fake servers serving it with `faults`.
pub async fn serve_world(
    channel: &str,
    faults: FaultConfig,
) -> (Totals, ConnectorRequest, FakeServers) {
    let world = world();
    let want = world_totals(&world, channel);
    let request = full_range(&world);
    let servers = serve(world, faults).await;
    (want, request, servers)
}

/// How many requests the fake `server` received at `path`.
pub fn calls_to(servers: &FakeServers, server: &str, path: &str) -> usize {
    servers
        .requests_to(server)
        .iter()
        .filter(|r| r.path == path)
        .count()
}

/// The column `name` of `t` as an `A` (the test fails naming a missing or other column).
pub fn column<A: Array + Clone + 'static>(t: &RecordBatch, name: &str) -> A {
    t.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<A>()
        .unwrap_or_else(|| panic!("column {name} is not a {}", std::any::type_name::<A>()))
        .clone()
}

/// Asserts money sums agree to the cent-rounding of each row.
pub fn assert_money(label: &str, got: f64, want: f64, rows: usize) {
    let tol = 0.006 * rows as f64 + 1e-6;
    assert!(
        (got - want).abs() <= tol,
        "{label}: got {got}, want {want} (tolerance {tol})"
    );
}

/// Asserts that `text` (an error message, a log) mentions every one of `parts`.
#[track_caller]
pub fn assert_mentions(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "`{part}` is not in: {text}");
    }
}

/// Some request to `server` was answered with an injected fault (`what` says which).
#[track_caller]
pub fn assert_faulted(servers: &FakeServers, server: &str, what: &str) {
    assert!(
        servers
            .requests_to(server)
            .iter()
            .any(|r| r.fault.is_some()),
        "{what}"
    );
}

/// A 75-day world whose zero-effect channel `tiktok` runs on TikTok, under two
/// advertisers.
pub fn tiktok_world() -> World {
    let mut config = WorldConfig::standard(2)
        .with_days(75)
        .with_seed(11)
        .with_zero_effect_channel("tiktok");
    if let Some(ch) = config.channels.iter_mut().find(|c| c.name == "tiktok") {
        ch.campaigns[1].account_id = "acct-2".into();
    }
    World::generate(&config.with_platform("tiktok", Platform::TikTok)).unwrap()
}

pub fn advertisers(world: &World) -> Vec<String> {
    let mut ids: Vec<String> = world
        .tiktok_rows()
        .into_iter()
        .map(|r| r.advertiser_id)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// One fault of each kind at rate 0.4, named: throttling (asking to wait
/// `throttle_wait_secs`), server errors, dropped connections, slow answers (1.2 s).
pub fn each_fault(throttle_wait_secs: u64) -> [(&'static str, FaultConfig); 4] {
    [
        (
            "throttle",
            FaultConfig::none()
                .with_throttle_rate(0.4)
                .with_throttle_wait_secs(throttle_wait_secs),
        ),
        (
            "server_error",
            FaultConfig::none().with_server_error_rate(0.4),
        ),
        ("drop", FaultConfig::none().with_drop_rate(0.4)),
        (
            "slow",
            FaultConfig::none().with_slow(0.4, Duration::from_millis(1200)),
        ),
    ]
}

/// Asserts that `t` holds the world's totals `want` (rows, spend, impressions, clicks,
/// conversions, revenue), with `spend` read off `t` in currency and the other four in
/// the columns `[impressions, clicks, conversions, revenue]`.
#[track_caller]
pub fn assert_world_totals(
    t: &RecordBatch,
    want: Totals,
    spend: f64,
    [impressions, clicks, conversions, revenue]: [&str; 4],
) {
    assert_eq!(t.num_rows(), want.0, "row count");
    assert_money("spend", spend, want.1, want.0);
    assert_eq!(sum(t, impressions) as i64, want.2);
    assert_eq!(sum(t, clicks) as i64, want.3);
    assert!((sum(t, conversions) - want.4).abs() < 1e-6);
    assert!((sum(t, revenue) - want.5).abs() < 1e-6 * want.5.max(1.0));
}
