//! Issue 16, item 2: credentials go only to the configured origin (scheme, host, port,
//! compared parsed). Each test starts a second loopback listener where a next link or a
//! redirect points, and asserts it received nothing.

use liftos_connectors::{Connector, Error, GoogleAdsBuilder, KlaviyoBuilder, KlaviyoConnector};

use crate::common::*;
use crate::narrow::{Narrow, json, redirect, unexpected};

/// Two loopback listeners where the first port's digits start with the second's (e.g.
/// :41234 and :4123): the case a string-prefix origin check gets wrong.
async fn prefix_ports() -> (tokio::net::TcpListener, tokio::net::TcpListener) {
    for _ in 0..50 {
        let a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let short = a.local_addr().unwrap().port() / 10;
        if short < 1024 {
            continue;
        }
        if let Ok(b) = tokio::net::TcpListener::bind(("127.0.0.1", short)).await {
            return (a, b);
        }
    }
    panic!("no free pair of prefix ports on loopback");
}

/// A Klaviyo connector with `key` against `api`.
fn klaviyo(key: &str, api: &Narrow) -> KlaviyoConnector {
    KlaviyoBuilder::new()
        .with_api_key(key)
        .with_base_url(api.base_url())
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap()
}

fn meta_page(next: &str) -> axum::response::Response {
    json(
        200,
        serde_json::json!({
            "data": [],
            "paging": { "cursors": { "after": "QVFI1" }, "next": next }
        }),
    )
}

#[tokio::test]
async fn a_meta_next_link_to_a_port_sharing_the_prefix_gets_no_token() {
    const TOKEN: &str = "EAAB-meta-token-for-origin-test";
    let (a, b) = prefix_ports().await;
    let other = Narrow::on(b, |s, _| unexpected(s));
    let next = format!(
        "{}/v25.0/act_1/insights?after=QVFI1&access_token=x",
        other.base_url()
    );
    let api = Narrow::on(a, move |s, _| {
        if s.path.ends_with("/insights") {
            meta_page(&next)
        } else {
            unexpected(s)
        }
    });
    // The string check of old: the base starts with the other origin's text.
    assert!(api.base_url().starts_with(&other.base_url()));
    let c = meta_at(api.base_url(), TOKEN)
        .with_app_secret("meta-app-secret-for-origin-test")
        .build()
        .unwrap();
    let err = c.get_campaign_data(&one_day()).await.unwrap_err();
    assert!(matches!(err, Error::CrossOrigin { .. }), "{err}");
    let text = err.to_string();
    assert_mentions(&text, &["paging.next", &other.base_url()]);
    assert!(!text.contains(TOKEN), "{text}");
    assert_eq!(api.requests().len(), 1);
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

#[tokio::test]
async fn a_klaviyo_next_link_with_the_base_as_user_info_gets_no_key() {
    const KEY: &str = "pk_klaviyo_origin_test_key";
    // 127.0.0.2 is loopback too: `http://127.0.0.1:A@127.0.0.2:B/` starts with the base
    // text but its host is 127.0.0.2.
    let other_l = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let other = Narrow::on(other_l, |s, _| unexpected(s));
    let other_addr = other.addr;
    let api = Narrow::start(move |s, base| {
        if s.path == "/api/accounts" {
            let host = base.trim_start_matches("http://");
            let next = format!("http://{host}@{other_addr}/api/accounts?page%5Bcursor%5D=2");
            json(
                200,
                serde_json::json!({
                    "data": [{"type": "account", "id": "AB12", "attributes": {}}],
                    "links": { "self": format!("{base}/api/accounts"), "next": next }
                }),
            )
        } else {
            unexpected(s)
        }
    })
    .await;
    let c = klaviyo(KEY, &api);
    let err = c.check().await.unwrap_err();
    assert!(matches!(err, Error::CrossOrigin { .. }), "{err}");
    assert!(err.to_string().contains("links.next"), "{err}");
    assert!(!err.to_string().contains(KEY), "{err}");
    assert_eq!(api.requests().len(), 1);
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

#[tokio::test]
async fn a_klaviyo_next_link_to_another_port_gets_no_key() {
    const KEY: &str = "pk_klaviyo_origin_test_key";
    let (a, b) = prefix_ports().await;
    let other = Narrow::on(b, |s, _| unexpected(s));
    let next = format!("{}/api/accounts?page%5Bcursor%5D=2", other.base_url());
    let api = Narrow::on(a, move |s, _| {
        if s.path == "/api/accounts" {
            json(
                200,
                serde_json::json!({"data": [{"type": "account", "id": "AB12", "attributes": {}}], "links": {"next": next}}),
            )
        } else {
            unexpected(s)
        }
    });
    let c = klaviyo(KEY, &api);
    let err = c.check().await.unwrap_err();
    assert!(matches!(err, Error::CrossOrigin { .. }), "{err}");
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

#[tokio::test]
async fn a_cross_origin_redirect_forwards_no_developer_token_nor_api_key() {
    const DEV: &str = "google-dev-token-redirect-test";
    const KEY: &str = "pk_klaviyo_redirect_test_key";
    let other = Narrow::start(|s, _| unexpected(s)).await;
    let target = other.base_url();
    let api = Narrow::start(move |s, _| match s.path.as_str() {
        "/token" => json(
            200,
            serde_json::json!({"access_token": "ya29.redirect-test", "expires_in": 3599}),
        ),
        p if p.ends_with("googleAds:searchStream") || p == "/api/accounts" => {
            redirect(302, &format!("{target}{p}"))
        }
        _ => unexpected(s),
    })
    .await;
    let google = GoogleAdsBuilder::new()
        .with_developer_token(DEV)
        .with_oauth("client-id", "client-secret-redirect", "refresh-redirect")
        .with_customer_ids(["1234567890"])
        .with_base_url(api.base_url())
        .with_token_url(format!("{}/token", api.base_url()))
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    let err = google.get_campaign_data(&one_day()).await.unwrap_err();
    assert!(matches!(err, Error::CrossOrigin { .. }), "{err}");
    assert!(err.to_string().contains("redirect"), "{err}");
    let klaviyo = klaviyo(KEY, &api);
    let err = klaviyo.check().await.unwrap_err();
    assert!(matches!(err, Error::CrossOrigin { .. }), "{err}");
    // Refused, not retried: one request each to the API, none to the other origin.
    let sent = api.requests();
    assert_eq!(sent.iter().filter(|r| r.path == "/api/accounts").count(), 1);
    assert!(sent.iter().any(|r| r.all_text().contains(DEV)));
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

#[tokio::test]
async fn a_same_origin_redirect_is_followed() {
    let api = Narrow::start(|s, base| match s.path.as_str() {
        "/api/accounts" => redirect(307, &format!("{base}/api/accounts-moved")),
        "/api/accounts-moved" => json(
            200,
            serde_json::json!({"data": [{"type": "account", "id": "AB12", "attributes": {}}], "links": {}}),
        ),
        _ => unexpected(s),
    })
    .await;
    let c = klaviyo("pk_same_origin_key", &api);
    c.check().await.unwrap();
    assert_eq!(api.requests().len(), 2);
}
