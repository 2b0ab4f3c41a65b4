//! Google Ads connector against the fake REST API.

use std::sync::Arc;

use liftos_connectors::{Error, GoogleAdsBuilder};
use liftos_sandbox::fake::{FakeServers, FaultConfig};

use crate::common::*;

fn builder(servers: &FakeServers, clock: Arc<liftos_connectors::VirtualClock>) -> GoogleAdsBuilder {
    liftos_testkit::fake_google_ads(servers)
        .with_chunk_days(5)
        .with_retry(fast_retry())
        .with_clock(clock)
}

async fn pull_and_compare(faults: FaultConfig) -> FakeServers {
    let (want, request, servers) =
        serve_world("google_ads", faults.with_google_batch_size(25)).await;
    let c = builder(&servers, clock()).build().unwrap();
    let t = pull_all(&c, &request).await;
    let cost = sum(&t, "metrics.cost_micros") / 1e6;
    let columns = [
        "metrics.impressions",
        "metrics.clicks",
        "metrics.conversions",
        "metrics.conversions_value",
    ];
    assert_world_totals(&t, want, cost, columns);
    servers
}

#[tokio::test]
async fn search_stream_pull_returns_every_row_once() {
    let servers = pull_and_compare(FaultConfig::none()).await;
    let tokens = calls_to(&servers, "google_ads", "/token");
    assert_eq!(tokens, 1, "one token for the whole pull");
}

#[tokio::test]
async fn each_fault_type_is_survived_and_an_expired_token_is_refreshed_once() {
    for (_, faults) in each_fault(2) {
        let servers = pull_and_compare(faults.with_seed(9)).await;
        assert_faulted(&servers, "google_ads", "a fault was injected");
    }
    let servers = pull_and_compare(FaultConfig::none().with_expire_token_after(2)).await;
    let log = servers.requests_to("google_ads");
    assert!(log.iter().any(|r| r.fault == Some("expired_token")));
    let tokens = calls_to(&servers, "google_ads", "/token");
    assert_eq!(tokens, 2, "refreshed once after the 401");
}

#[tokio::test]
async fn revoked_refresh_token_is_a_clear_auth_error() {
    let servers = serve(world(), FaultConfig::none()).await;
    let c = servers.credentials().clone();
    let conn = builder(&servers, clock())
        .with_oauth(
            c.google_client_id,
            c.google_client_secret,
            "revoked-refresh",
        )
        .build()
        .unwrap();
    let err = pull_error_within_20s(&conn, &full_range(&world())).await;
    assert!(
        matches!(err, Error::Auth { .. }) && err.to_string().contains("invalid_grant"),
        "{err}"
    );
    let bad_dev = builder(&servers, clock())
        .with_developer_token("nope-nope")
        .build()
        .unwrap();
    assert_check_refused(&bad_dev).await;
}

/// A retired version (v21, sunset 2026-08-05) is refused by the fake as by Google; the
/// connector stops at the first answer with one error naming the version and the
/// setting, and the default version is one the fake still serves.
#[tokio::test]
async fn a_retired_api_version_is_one_clear_error_naming_the_setting() {
    use liftos_connectors::{Connector, GOOGLE_DEFAULT_API_VERSION};
    let world = world();
    let servers = serve(world.clone(), FaultConfig::none()).await;
    let old = builder(&servers, clock())
        .with_api_version("v21")
        .with_retry(fast_retry().with_concurrency(1))
        .build()
        .unwrap();
    let err = pull_error_within_20s(&old, &full_range(&world)).await;
    assert!(matches!(err, Error::Config { .. }), "{err}");
    assert_mentions(
        &err.to_string(),
        &[
            "version v21 is retired",
            "HTTP 404",
            "LIFTOS_GOOGLE_ADS_API_VERSION",
            GOOGLE_DEFAULT_API_VERSION,
        ],
    );
    let searches = servers
        .requests_to("google_ads")
        .iter()
        .filter(|r| r.path.contains("searchStream"))
        .count();
    assert_eq!(
        searches, 1,
        "no retry, no further chunk after a retired version"
    );
    assert!(old.check().await.is_err());
    let current = builder(&servers, clock()).build().unwrap();
    current.check().await.unwrap();
}

#[tokio::test]
async fn a_server_that_never_recovers_ends_within_the_budget() {
    assert_gives_up(|s, retry| builder(s, clock()).with_retry(retry).build().unwrap()).await;
}

/// A narrow Google Ads answering a token and, for each searchStream call, `rows` as one
/// batch.
async fn google_answering(rows: serde_json::Value) -> crate::narrow::Narrow {
    use crate::narrow::{Narrow, json, unexpected};
    Narrow::start(move |s, _| match s.path.as_str() {
        "/token" => json(
            200,
            serde_json::json!({"access_token": "ya29.narrow-test", "expires_in": 3599}),
        ),
        p if p.ends_with("googleAds:searchStream") => {
            json(200, serde_json::json!([{ "results": rows.clone() }]))
        }
        _ => unexpected(s),
    })
    .await
}

fn google_at(api: &crate::narrow::Narrow) -> GoogleAdsBuilder {
    GoogleAdsBuilder::new()
        .with_developer_token("google-dev-token-narrow")
        .with_oauth("client-id", "client-secret-narrow", "refresh-narrow")
        .with_customer_ids(["1234567890"])
        .with_base_url(api.base_url())
        .with_token_url(format!("{}/token", api.base_url()))
        .with_retry(fast_retry())
        .with_clock(clock())
}

fn google_row(date: &str, conversions: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "campaign": { "id": "111", "name": "Brand" },
        "customer": { "id": "1234567890", "currencyCode": "USD" },
        "metrics": { "costMicros": "1500000", "impressions": "100", "clicks": "7",
                     "conversions": conversions, "conversionsValue": 20.5 },
        "segments": { "date": date }
    })
}

/// `NaN`, `inf` and `1e400` written as strings in a Float64 column are the decode error
/// of any other malformed number, not values.
#[tokio::test]
async fn non_finite_numbers_are_decode_errors() {
    use liftos_connectors::Connector;
    let ok = google_answering(serde_json::json!([google_row("2024-01-01", "2.5".into())])).await;
    let t = google_at(&ok)
        .build()
        .unwrap()
        .get_campaign_data(&one_day())
        .await
        .unwrap();
    assert_eq!(t.num_rows(), 1);
    for bad in ["NaN", "inf", "1e400"] {
        let api = google_answering(serde_json::json!([google_row("2024-01-01", bad.into())])).await;
        let err = google_at(&api)
            .build()
            .unwrap()
            .get_campaign_data(&one_day())
            .await
            .unwrap_err();
        let Error::Decode { path, message, .. } = &err else {
            panic!("{bad}: {err}");
        };
        assert_eq!(path, "results[0].metrics.conversions", "{err}");
        assert_eq!(message, &format!("`{bad}` is not a number"), "{err}");
    }
}

/// A raw query is sent as written; a row it returns outside the requested days is an
/// error telling the user to restrict the query's dates, never kept silently.
#[tokio::test]
async fn a_raw_query_row_outside_the_requested_days_is_an_error() {
    use liftos_connectors::Connector;
    const QUERY: &str = "SELECT segments.date, campaign.id, metrics.clicks FROM campaign \
                         WHERE segments.date BETWEEN '2024-01-01' AND '2024-01-31'";
    let request = day_range("2024-01-01", "2024-01-02");
    let inside = google_answering(serde_json::json!([
        google_row("2024-01-01", 1.0.into()),
        google_row("2024-01-02", 1.0.into()),
    ]))
    .await;
    let t = google_at(&inside)
        .with_query(QUERY)
        .build()
        .unwrap()
        .get_campaign_data(&request)
        .await
        .unwrap();
    assert_eq!(t.num_rows(), 2);
    let sent = inside.requests();
    let search = sent
        .iter()
        .find(|r| r.path.ends_with("searchStream"))
        .unwrap();
    assert!(
        search.body.contains("AND '2024-01-31'"),
        "sent as written: {}",
        search.body
    );
    let outside = google_answering(serde_json::json!([
        google_row("2024-01-01", 1.0.into()),
        google_row("2024-01-05", 1.0.into()),
    ]))
    .await;
    let err = google_at(&outside)
        .with_query(QUERY)
        .build()
        .unwrap()
        .get_campaign_data(&request)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err}");
    assert_mentions(
        &err.to_string(),
        &[
            "2024-01-05",
            "results[1]",
            "restrict the query's dates",
            "BETWEEN '2024-01-01' AND '2024-01-02'",
        ],
    );
    // Without segments.date the rows could not be checked: refused when built.
    let err = google_at(&outside)
        .with_query("SELECT campaign.id, metrics.clicks FROM campaign")
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("must select segments.date"),
        "{err}"
    );
}
