//! `Retry-After` as an HTTP-date (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), read
//! wherever the header is honoured (Klaviyo, REST, Shopify), measured against the server's own
//! `Date` so a skewed client clock does not distort the wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::response::Response;
use liftos_connectors::{
    Connector, Error, KlaviyoBuilder, KlaviyoConnector, RestBuilder, RestSpec, ShopifyBuilder,
    VirtualClock,
};

use crate::common::*;
use crate::narrow::{Narrow, json, unexpected};

/// The server's clock in these tests: eleven years behind the client's, so a wait
/// measured on the client's clock would be none at all.
const SERVER_NOW: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

/// `r` with the server's `Date` and `Retry-After: retry_after`.
fn dated(mut r: Response, retry_after: &str) -> Response {
    r.headers_mut().insert("date", SERVER_NOW.parse().unwrap());
    r.headers_mut()
        .insert("retry-after", retry_after.parse().unwrap());
    r
}

/// A server answering its first request with `first()`, every later one with `then(s)`.
async fn first_then(
    first: impl Fn() -> Response + Send + Sync + 'static,
    then: impl Fn(&crate::narrow::Seen) -> Response + Send + Sync + 'static,
) -> Narrow {
    let calls = AtomicUsize::new(0);
    Narrow::start(move |s, _| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            first()
        } else {
            then(s)
        }
    })
    .await
}

/// A Klaviyo whose first answer is a 429 with `Retry-After: retry_after` (and the
/// server's `Date`), then the account.
async fn klaviyo_throttling_once(retry_after: &'static str) -> Narrow {
    first_then(
        move || {
            let body = serde_json::json!({"errors": [{"status": 429, "code": "throttled", "detail": "slow down"}]});
            dated(json(429, body), retry_after)
        },
        |s| match s.path.as_str() {
            "/api/accounts" => json(
                200,
                serde_json::json!({ "data": [{ "type": "account", "id": "A1", "attributes": {} }], "links": {} }),
            ),
            _ => unexpected(s),
        },
    )
    .await
}

/// A Klaviyo connector of `server` with fast retries on a virtual clock, and that clock.
fn klaviyo_on(server: &Narrow) -> (KlaviyoConnector, Arc<VirtualClock>) {
    let virtual_clock = clock();
    let c = KlaviyoBuilder::new()
        .with_api_key("pk_retry_date_key")
        .with_base_url(server.base_url())
        .with_retry(fast_retry())
        .with_clock(virtual_clock.clone())
        .build()
        .unwrap();
    (c, virtual_clock)
}

#[tokio::test]
async fn klaviyo_waits_until_the_http_date_measured_on_the_servers_clock() {
    let server = klaviyo_throttling_once("Wed, 21 Oct 2015 07:28:45 GMT").await;
    let (c, virtual_clock) = klaviyo_on(&server);
    c.check().await.unwrap();
    assert_eq!(server.requests().len(), 2);
    // 45 s after the server's Date, whatever the client's clock reads.
    assert_eq!(virtual_clock.slept(), Duration::from_secs(45));
}

#[tokio::test]
async fn an_http_date_in_the_past_means_retry_now() {
    let server = klaviyo_throttling_once("Wed, 21 Oct 2015 06:00:00 GMT").await;
    let (c, virtual_clock) = klaviyo_on(&server);
    c.check().await.unwrap();
    assert_eq!(server.requests().len(), 2);
    // Only the first backoff (250–500 ms), as `Retry-After: 0` gets.
    assert!(
        virtual_clock.slept() <= Duration::from_millis(500),
        "{:?}",
        virtual_clock.slept()
    );
}

#[tokio::test]
async fn an_http_date_beyond_the_maximum_wait_is_throttled_at_once() {
    // Two days after the server's Date; the maximum is 15 minutes.
    let server = klaviyo_throttling_once("Fri, 23 Oct 2015 07:28:00 GMT").await;
    let (c, virtual_clock) = klaviyo_on(&server);
    let err = c.check().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Throttled {
                retry_after_secs: 172_800,
                max_wait_secs: 900,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(virtual_clock.slept(), Duration::ZERO);
}

const REST_SPEC: &str = r#"
name = "dated"
base_url = "https://api.example.com"
[request]
path = "/report"
params = { since = "{start}", until = "{end}" }
[records]
path = "rows"
[[fields]]
name = "day"
path = "day"
type = "date"
required = true
"#;

#[tokio::test]
async fn rest_waits_until_the_http_date_in_every_form_rfc_9110_allows() {
    // IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must accept.
    for retry_after in [
        "Wed, 21 Oct 2015 07:30:00 GMT",
        "Wednesday, 21-Oct-15 07:30:00 GMT",
        "Wed Oct 21 07:30:00 2015",
    ] {
        let server = first_then(
            move || dated(json(429, serde_json::json!({})), retry_after),
            |s| match s.path.as_str() {
                "/report" => json(
                    200,
                    serde_json::json!({ "rows": [{ "day": "2024-01-01" }] }),
                ),
                _ => unexpected(s),
            },
        )
        .await;
        let virtual_clock = clock();
        let c = RestBuilder::new(RestSpec::from_toml_str(REST_SPEC, "dated.toml").unwrap())
            .with_base_url(server.base_url())
            .with_retry(fast_retry())
            .with_clock(virtual_clock.clone())
            .build()
            .unwrap();
        let t = pull_all(&c, &one_day()).await;
        assert_eq!(t.num_rows(), 1, "{retry_after}");
        assert_eq!(server.requests().len(), 2, "{retry_after}");
        assert_eq!(
            virtual_clock.slept(),
            Duration::from_secs(120),
            "{retry_after}"
        );
    }
}

/// Shopify's Admin API answers an app over its rate limit with HTTP 429 and
/// `Retry-After` (the GraphQL cost bucket answers 200 `THROTTLED` instead, waited from
/// `throttleStatus`): the header's HTTP-date form is read too, from the server's `Date`.
#[tokio::test]
async fn shopify_waits_until_the_http_date_of_a_429_measured_on_the_servers_clock() {
    let server = first_then(
        || {
            let body = serde_json::json!({ "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service." });
            dated(json(429, body), "Wed, 21 Oct 2015 07:28:45 GMT")
        },
        |s| match (s.method.as_str(), s.path.as_str()) {
            ("POST", "/admin/api/2025-10/graphql.json") if s.body.contains("LiftosShop") => json(
                200,
                serde_json::json!({ "data": {
                    "shop": { "ianaTimezone": "UTC", "currencyCode": "USD" },
                    "currentAppInstallation": { "accessScopes": [{ "handle": "read_orders" }] } } }),
            ),
            _ => unexpected(s),
        },
    )
    .await;
    let virtual_clock = clock();
    let c = ShopifyBuilder::new()
        .with_shop("retry-date")
        .with_access_token("shpat_retry_date_token")
        .with_base_url(server.base_url())
        .with_retry(fast_retry())
        .with_clock(virtual_clock.clone())
        .build()
        .unwrap();
    c.check().await.unwrap();
    assert_eq!(server.requests().len(), 2);
    // 45 s after the server's Date: on the client's clock (eleven years on) the date is
    // long past, which would be no wait at all (only the 250–500 ms first backoff).
    assert_eq!(virtual_clock.slept(), Duration::from_secs(45));
}
