//! GA4 connector against the fake Data API.

use std::collections::BTreeMap;

use arrow::array::{Array, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Date32Type;
use liftos_connectors::{Connector, Error, Ga4Builder};
use liftos_sandbox::fake::{FakeServers, FaultConfig};

use crate::common::*;

fn builder(servers: &FakeServers) -> Ga4Builder {
    let c = servers.credentials();
    Ga4Builder::new()
        .with_property_id(c.ga4_property_id.clone())
        .with_oauth(
            c.ga4_client_id.clone(),
            c.ga4_client_secret.clone(),
            c.ga4_refresh_token.clone(),
        )
        .with_base_url(servers.ga4_base_url())
        .with_token_url(servers.ga4_token_url())
        .with_page_size(37)
        .with_retry(fast_retry())
        .with_clock(clock())
}

type Key = (String, String);

/// (YYYYMMDD, group) → (sessions, key events, revenue cents), from the world.
fn want(world: &liftos_sandbox::World) -> BTreeMap<Key, (i64, u64, i64)> {
    world
        .ga4_rows()
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                (r.date, r.channel_group),
                (
                    r.sessions,
                    r.key_events.to_bits(),
                    (r.total_revenue * 100.0).round() as i64,
                ),
            )
        })
        .collect()
}

fn got(t: &RecordBatch) -> BTreeMap<Key, (i64, u64, i64)> {
    let day = column::<Date32Array>(t, "date");
    let group = column::<StringArray>(t, "sessionDefaultChannelGroup");
    let sessions = column::<Int64Array>(t, "sessions");
    let events = column::<Float64Array>(t, "keyEvents");
    let revenue = column::<Float64Array>(t, "totalRevenue");
    let currency = column::<StringArray>(t, "currency");
    let mut out = BTreeMap::new();
    for k in 0..t.num_rows() {
        assert_eq!(currency.value(k), "USD");
        assert!(!sessions.is_null(k));
        let d = Date32Type::to_naive_date_opt(day.value(k))
            .unwrap()
            .format("%Y%m%d")
            .to_string();
        let prev = out.insert(
            (d, group.value(k).to_owned()),
            (
                sessions.value(k),
                events.value(k).to_bits(),
                (revenue.value(k) * 100.0).round() as i64,
            ),
        );
        assert!(prev.is_none(), "row {k} twice");
    }
    out
}

#[tokio::test]
async fn every_row_exactly_once_under_throttling_errors_and_an_expired_token() {
    for faults in [
        FaultConfig::none(),
        FaultConfig::none()
            .with_seed(6)
            .with_throttle_rate(0.2)
            .with_server_error_rate(0.2)
            .with_drop_rate(0.1),
        FaultConfig::none().with_expire_token_after(2),
    ] {
        let world = world();
        let expected = want(&world);
        assert!(expected.len() > 200, "{} rows", expected.len());
        let request = full_range(&world);
        let servers = serve(world, faults.clone()).await;
        let t = builder(&servers)
            .build()
            .unwrap()
            .get_campaign_data(&request)
            .await
            .unwrap_or_else(|e| panic!("{faults:?}: {e}"));
        assert_eq!(got(&t), expected);
        let log = servers.requests_to("ga4");
        let reports = log
            .iter()
            .filter(|r| r.path.ends_with(":runReport"))
            .count();
        assert!(reports > 5, "paged: {reports} calls");
        let tokens = log.iter().filter(|r| r.path == "/token").count();
        let want_tokens = if faults.expire_token_after.is_some() {
            2
        } else {
            1
        };
        assert_eq!(tokens, want_tokens, "{faults:?}");
    }
}

#[tokio::test]
async fn conversions_is_read_as_the_old_name_of_key_events_and_date_alone_sums_the_groups() {
    let world = world();
    let mut per_day: BTreeMap<String, i64> = BTreeMap::new();
    for r in world.ga4_rows().unwrap() {
        *per_day.entry(r.date).or_default() += r.sessions;
    }
    let request = full_range(&world);
    let servers = quiet_servers(world).await;
    let t = builder(&servers)
        .with_dimensions(["date"])
        .with_metrics(["sessions", "conversions"])
        .build()
        .unwrap()
        .get_campaign_data(&request)
        .await
        .unwrap();
    assert_eq!(t.num_rows(), per_day.len());
    let sessions = column::<Int64Array>(&t, "sessions");
    let total: i64 = sessions.iter().flatten().sum();
    assert_eq!(total, per_day.values().sum::<i64>());
    assert!(t.column_by_name("conversions").is_some());
}

#[tokio::test]
async fn a_revoked_refresh_token_and_another_property_are_clear_errors_without_secrets() {
    let world = world();
    let request = full_range(&world);
    let servers = quiet_servers(world).await;
    let c = servers.credentials().clone();
    let err = builder(&servers)
        .with_oauth(
            c.ga4_client_id.clone(),
            c.ga4_client_secret.clone(),
            "revoked-refresh-ZXCVB",
        )
        .build()
        .unwrap()
        .get_campaign_data(&request)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Auth { .. }), "{text}");
    assert_mentions(&text, &["invalid_grant", "LIFTOS_GA4_REFRESH_TOKEN"]);
    assert!(
        !text.contains("ZXCVB") && !text.contains(&c.ga4_client_secret),
        "{text}"
    );

    let err = builder(&servers)
        .with_property_id("987654321")
        .build()
        .unwrap()
        .get_campaign_data(&request)
        .await
        .unwrap_err()
        .to_string();
    assert_mentions(&err, &["HTTP 403 PERMISSION_DENIED", "987654321"]);
    assert!(err.contains("Viewer"), "{err}");
}

#[tokio::test]
async fn settings_are_checked_before_any_request() {
    let servers = serve(world(), FaultConfig::none()).await;
    for (b, want) in [
        (
            builder(&servers).with_property_id("G-ABC123"),
            "must be digits",
        ),
        (
            builder(&servers).with_dimensions(["sessionDefaultChannelGroup"]),
            "include `date`",
        ),
        (builder(&servers).with_page_size(250_001), "page_size"),
        (
            builder(&servers).with_base_url("http://example.com"),
            "plain http",
        ),
    ] {
        let e = b.build().unwrap_err().to_string();
        assert!(e.contains(want), "{want}: {e}");
    }
    assert!(servers.requests_to("ga4").is_empty());
    let e = Ga4Builder::from_env_with(|_| None)
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("LIFTOS_GA4_PROPERTY_ID"), "{e}");
}

#[tokio::test]
async fn a_malformed_page_names_the_page_row_and_field() {
    use crate::narrow::{Narrow, json};
    let api = Narrow::start(|seen, _| {
        if seen.path == "/token" {
            return json(200, serde_json::json!({"access_token": "narrow-ga4-token", "expires_in": 3600}));
        }
        json(
            200,
            serde_json::json!({
                "dimensionHeaders": [{"name": "date"}, {"name": "sessionDefaultChannelGroup"}],
                "metricHeaders": [{"name": "sessions"}, {"name": "keyEvents"}, {"name": "totalRevenue"}],
                "rows": [
                    {"dimensionValues": [{"value": "20240101"}, {"value": "Direct"}],
                     "metricValues": [{"value": "3"}, {"value": "1"}, {"value": "9.50"}]},
                    {"dimensionValues": [{"value": "20240101"}, {"value": "Email"}],
                     "metricValues": [{"value": "2.5"}, {"value": "1"}, {"value": "9.50"}]}
                ],
                "rowCount": 2
            }),
        )
    })
    .await;
    let err = Ga4Builder::new()
        .with_property_id("1")
        .with_oauth("id", "secret-NBVCX", "refresh-LKJHG")
        .with_base_url(api.base_url())
        .with_token_url(format!("{}/token", api.base_url()))
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap()
        .get_campaign_data(&full_range(&world()))
        .await
        .unwrap_err()
        .to_string();
    assert_mentions(
        &err,
        &[
            "page 1: rows[1].metricValues.sessions",
            "`2.5` is not a whole count",
        ],
    );
    assert!(!err.contains("NBVCX") && !err.contains("LKJHG") && !err.contains("narrow-ga4-token"));
}
