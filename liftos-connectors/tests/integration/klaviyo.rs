//! Klaviyo connector against the fake JSON:API.

use std::sync::Arc;
use std::time::Duration;

use liftos_connectors::{Connector, Error, KlaviyoBuilder};
use liftos_sandbox::fake::{FakeServers, FaultConfig};

use crate::common::*;

fn builder(servers: &FakeServers, clock: Arc<liftos_connectors::VirtualClock>) -> KlaviyoBuilder {
    KlaviyoBuilder::new()
        .with_api_key(servers.credentials().klaviyo_api_key.clone())
        .with_base_url(servers.klaviyo_base_url())
        .with_cost_per_recipient(0.01)
        .with_retry(fast_retry())
        .with_clock(clock)
}

async fn pull_and_compare(faults: FaultConfig) -> FakeServers {
    let world = world();
    let want = world_totals(&world, "klaviyo");
    let request = full_range(&world);
    let mut faults = faults;
    faults.klaviyo_page_size = 3;
    let servers = FakeServers::start(world, faults).await.unwrap();
    let c = builder(&servers, clock()).build().unwrap();
    let t = c
        .get_campaign_data(&request)
        .await
        .unwrap_or_else(|e| panic!("pull failed: {e}"));
    assert_eq!(t.num_rows(), want.0, "one row per send");
    assert_money("spend", f64_sum(&t, "spend"), want.1, want.0);
    assert_eq!(i64_sum(&t, "recipients"), want.2);
    assert_eq!(i64_sum(&t, "clicks"), want.3);
    assert!((f64_sum(&t, "placed_order_count") - want.4).abs() < 1e-6);
    assert!((f64_sum(&t, "revenue") - want.5).abs() < 1e-6 * want.5.max(1.0));
    servers
}

#[tokio::test]
async fn campaigns_and_values_report_give_one_row_per_send() {
    let servers = pull_and_compare(FaultConfig::none()).await;
    let log = servers.requests_to("klaviyo");
    assert_eq!(
        log.iter()
            .filter(|r| r.path == "/api/campaign-values-reports")
            .count(),
        1,
        "one report call per year"
    );
    assert!(
        log.iter().filter(|r| r.path == "/api/campaigns").count() > 1,
        "campaigns were paged"
    );
    assert!(
        log.iter().any(|r| r.path == "/api/metrics"),
        "Placed Order looked up by name"
    );
}

#[tokio::test]
async fn each_fault_type_is_survived() {
    for faults in [
        FaultConfig::none()
            .with_throttle_rate(0.4)
            .with_throttle_wait_secs(3),
        FaultConfig::none().with_server_error_rate(0.4),
        FaultConfig::none().with_drop_rate(0.4),
        FaultConfig::none().with_slow(0.4, Duration::from_millis(1200)),
    ] {
        let servers = pull_and_compare(faults.with_seed(21)).await;
        assert!(
            servers
                .requests_to("klaviyo")
                .iter()
                .any(|r| r.fault.is_some()),
            "a fault was injected"
        );
    }
}

#[tokio::test]
async fn auth_failures_and_the_daily_cap_are_not_retried() {
    let servers = FakeServers::start(
        world(),
        FaultConfig::none().with_klaviyo_report_daily_cap(0),
    )
    .await
    .unwrap();
    let bad = builder(&servers, clock())
        .with_api_key("pk_wrong_key")
        .build()
        .unwrap();
    let err = bad.check().await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    let c = builder(&servers, clock()).build().unwrap();
    let err = c
        .get_campaign_data(&full_range(&world()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err}");
    assert_eq!(
        servers
            .requests_to("klaviyo")
            .iter()
            .filter(|r| r.path == "/api/campaign-values-reports")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_looping_or_dead_server_ends_in_a_clear_error() {
    let servers = FakeServers::start(world(), FaultConfig::none().with_page_loop())
        .await
        .unwrap();
    let c = builder(&servers, clock()).build().unwrap();
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        c.get_campaign_data(&full_range(&world())),
    )
    .await
    .expect("no hang")
    .unwrap_err();
    assert!(matches!(err, Error::PageLoop { .. }), "{err}");
    let servers = FakeServers::start(world(), FaultConfig::none().with_never_recover())
        .await
        .unwrap();
    let c = builder(&servers, clock())
        .with_retry(fast_retry().with_max_retries(3))
        .build()
        .unwrap();
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        c.get_campaign_data(&full_range(&world())),
    )
    .await
    .expect("no hang")
    .unwrap_err();
    assert!(matches!(err, Error::RetriesExhausted { .. }), "{err}");
}
