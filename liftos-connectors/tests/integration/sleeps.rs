//! Configured waits (a REST spec's rate limit, Klaviyo's report interval, Meta's report
//! run polling) never run past the pull's deadline: when the next one would end after
//! it, the pull fails at once with the deadline error naming the wait, instead of
//! sleeping first and failing after.

use std::time::{Duration, Instant};

use liftos_connectors::{
    Error, KlaviyoBuilder, MetaAdsBuilder, RestBuilder, RestSpec, RetryConfig,
};

use crate::common::*;
use crate::narrow::{Narrow, json, unexpected};

/// Asserts that `err` is the deadline error of a pull stopped before a wait of `wait_ms`
/// that would have passed the deadline of `deadline_ms`, and that its text says so (the
/// deadline, the wait, the time elapsed) without claiming the deadline was reached, and
/// mentions `what` (the wait's name).
#[track_caller]
fn assert_deadline(err: &Error, deadline_ms: u64, wait_ms: u64, what: &[&str]) {
    let Error::Deadline {
        deadline_ms: d,
        elapsed_ms,
        wait_ms: w,
        ..
    } = err
    else {
        panic!("not the deadline error: {err}");
    };
    assert_eq!((*d, *w), (deadline_ms, Some(wait_ms)), "{err}");
    let text = err.to_string();
    assert_mentions(
        &text,
        &[
            &format!(
                "overall deadline of {deadline_ms} ms would be passed by the wait of {wait_ms} ms"
            ),
            &format!("with {elapsed_ms} ms elapsed"),
            "--timeout",
        ],
    );
    assert_mentions(&text, what);
    assert!(!text.contains("reached"), "{text}");
}

/// A REST spec paced at `rps` requests a second over a two-page listing.
fn paced_spec(rps: &str) -> RestSpec {
    let text = format!(
        r#"
name = "paced"
base_url = "https://api.example.com"
[request]
path = "/report"
[pagination]
type = "next_link"
next_path = "next"
[records]
path = "rows"
[rate_limit]
requests_per_second = {rps}
[[fields]]
name = "day"
path = "day"
type = "date"
"#
    );
    RestSpec::from_toml_str(&text, "paced.toml").unwrap()
}

/// Two pages: the first links to the second.
async fn two_pages() -> Narrow {
    Narrow::start(|s, base| match s.path.as_str() {
        "/report" if s.query.contains("page=2") => json(200, serde_json::json!({ "rows": [] })),
        "/report" => json(
            200,
            serde_json::json!({ "rows": [], "next": format!("{base}/report?page=2") }),
        ),
        _ => unexpected(s),
    })
    .await
}

#[tokio::test]
async fn a_rest_rate_limit_wait_past_the_deadline_fails_at_once() {
    // One request per 100 s, deadline 60 s: the second page is not waited for.
    let server = two_pages().await;
    let virtual_clock = clock();
    let c = RestBuilder::new(paced_spec("0.01"))
        .with_base_url(server.base_url())
        .with_retry(fast_retry().with_deadline(Duration::from_secs(60)))
        .with_clock(virtual_clock.clone())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &one_day()).await;
    assert_deadline(&err, 60_000, 100_000, &["requests_per_second = 0.01"]);
    assert_eq!(virtual_clock.slept(), Duration::ZERO);
    assert_eq!(server.requests().len(), 1);

    // Wall time: one request per 2 s, deadline 800 ms: the error comes at once, not
    // after a 2 s sleep.
    let server = two_pages().await;
    let c = RestBuilder::new(paced_spec("0.5"))
        .with_base_url(server.base_url())
        .with_retry(RetryConfig::default().with_deadline(Duration::from_millis(800)))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = pull_error_within_20s(&c, &one_day()).await;
    let Error::Deadline {
        wait_ms: Some(wait_ms),
        ..
    } = err
    else {
        panic!("{err}");
    };
    assert!(wait_ms > 1_000 && wait_ms <= 2_000, "{err}");
    assert_deadline(&err, 800, wait_ms, &["requests_per_second = 0.5"]);
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_klaviyo_report_interval_past_the_deadline_fails_at_once() {
    // A report of two pages; report calls 31 s apart (the default), deadline 20 s.
    let api = Narrow::start(|s, base| {
        let list =
            |data: serde_json::Value| json(200, serde_json::json!({ "data": data, "links": {} }));
        match s.path.as_str() {
            "/api/accounts" => list(serde_json::json!([{ "type": "account", "id": "A1",
                "attributes": { "preferred_currency": "USD" } }])),
            "/api/metrics" => list(serde_json::json!([{ "type": "metric", "id": "M1",
                "attributes": { "name": "Placed Order" } }])),
            "/api/campaigns" => list(serde_json::json!([])),
            "/api/campaign-values-reports" => json(
                200,
                serde_json::json!({ "data": { "type": "campaign-values-report",
                    "attributes": { "results": [] } },
                    "links": { "next": format!("{base}/api/campaign-values-reports?page_cursor=2") } }),
            ),
            _ => unexpected(s),
        }
    })
    .await;
    let virtual_clock = clock();
    let c = KlaviyoBuilder::new()
        .with_api_key("pk_interval_deadline_key")
        .with_base_url(api.base_url())
        .with_retry(fast_retry().with_deadline(Duration::from_secs(20)))
        .with_clock(virtual_clock.clone())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &one_day()).await;
    assert_deadline(&err, 20_000, 31_000, &["report_interval (31000 ms"]);
    assert_eq!(virtual_clock.slept(), Duration::ZERO);
    let reports = api
        .requests()
        .iter()
        .filter(|r| r.path == "/api/campaign-values-reports")
        .count();
    assert_eq!(reports, 1);
}

#[tokio::test]
async fn a_meta_report_run_poll_past_the_deadline_fails_at_once() {
    // A report run polled every 120 s at first, deadline 60 s: no poll is waited for.
    let server = Narrow::start(|s, _| match (s.method.as_str(), s.path.as_str()) {
        ("POST", "/v25.0/act_1/insights") => {
            json(200, serde_json::json!({ "report_run_id": "R1" }))
        }
        ("GET", "/v25.0/R1") => json(
            200,
            serde_json::json!({ "id": "R1", "async_status": "Job Running" }),
        ),
        _ => unexpected(s),
    })
    .await;
    let virtual_clock = clock();
    let c = MetaAdsBuilder::new()
        .with_access_token("meta-poll-deadline-token")
        .with_ad_account_ids(["1"])
        .with_base_url(server.base_url())
        .with_retry(fast_retry().with_deadline(Duration::from_secs(60)))
        .with_async_threshold_days(1)
        .with_async_polling(Duration::from_secs(120), Duration::from_secs(900))
        .with_clock(virtual_clock.clone())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &day_range("2024-01-01", "2024-01-05")).await;
    assert_deadline(&err, 60_000, 120_000, &["report run R1"]);
    assert_eq!(virtual_clock.slept(), Duration::ZERO);
    assert_eq!(
        server.requests().len(),
        1,
        "the run was created, never polled"
    );
}

/// The shop's answer to the connector's first query (`LiftosShop`): UTC, USD, the orders
/// scope granted.
fn shop_answer() -> axum::response::Response {
    json(
        200,
        serde_json::json!({ "data": {
            "shop": { "ianaTimezone": "UTC", "currencyCode": "USD" },
            "currentAppInstallation": { "accessScopes": [{ "handle": "read_all_orders" }] } } }),
    )
}

#[tokio::test]
async fn a_shopify_bulk_poll_past_the_pulls_deadline_fails_at_once() {
    // The shop query is throttled once for 50 s; then a bulk operation that keeps
    // running, polled every 20 s, deadline 60 s. The deadline counts from the pull's
    // start (it had counted from the bulk operation's), so the first poll wait is not
    // slept: 50 + 20 > 60.
    let shop_calls = std::sync::atomic::AtomicUsize::new(0);
    let server = Narrow::start(move |s, _| {
        if s.body.contains("LiftosShop") {
            if shop_calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                let mut r = json(429, serde_json::json!({ "errors": "Throttled" }));
                r.headers_mut().insert("retry-after", "50".parse().unwrap());
                return r;
            }
            shop_answer()
        } else if s.body.contains("LiftosBulkOrders") {
            json(
                200,
                serde_json::json!({ "data": { "bulkOperationRunQuery": {
                    "bulkOperation": { "id": "gid://shopify/BulkOperation/7", "status": "CREATED" },
                    "userErrors": [] } } }),
            )
        } else if s.body.contains("LiftosBulkPoll") {
            json(
                200,
                serde_json::json!({ "data": { "node": {
                    "id": "gid://shopify/BulkOperation/7", "status": "RUNNING" } } }),
            )
        } else {
            unexpected(s)
        }
    })
    .await;
    let virtual_clock = clock();
    let c = liftos_connectors::ShopifyBuilder::new()
        .with_shop("deadline-test")
        .with_access_token("shpat_deadline_test_token")
        .with_base_url(server.base_url())
        .with_bulk_poll(Duration::from_secs(20))
        .with_retry(fast_retry().with_deadline(Duration::from_secs(60)))
        .with_clock(virtual_clock.clone())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &day_range("2024-01-01", "2024-02-29")).await;
    assert_deadline(
        &err,
        60_000,
        20_000,
        &["bulk operation gid://shopify/BulkOperation/7 still RUNNING"],
    );
    assert_mentions(&err.to_string(), &["with 50000 ms elapsed"]);
    assert_eq!(virtual_clock.slept(), Duration::from_secs(50));
    let polls = server
        .requests()
        .iter()
        .filter(|r| r.body.contains("LiftosBulkPoll"))
        .count();
    assert_eq!(polls, 1);
}

/// A retry's wait (here the platform's `Retry-After: 120`) that would pass the deadline
/// is not slept either; the error says it stopped before, naming the retry and why.
#[tokio::test]
async fn a_retry_wait_past_the_deadline_is_stated_as_not_reached() {
    let server = Narrow::start(|s, _| match s.path.as_str() {
        "/report" => {
            let mut r = json(429, serde_json::json!({ "error": "slow down" }));
            r.headers_mut()
                .insert("retry-after", "120".parse().unwrap());
            r
        }
        _ => unexpected(s),
    })
    .await;
    let virtual_clock = clock();
    let c = RestBuilder::new(paced_spec("100"))
        .with_base_url(server.base_url())
        .with_retry(fast_retry().with_deadline(Duration::from_secs(60)))
        .with_clock(virtual_clock.clone())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &one_day()).await;
    assert_deadline(&err, 60_000, 120_000, &["retry", "HTTP 429"]);
    assert_mentions(&err.to_string(), &["with 0 ms elapsed"]);
    assert_eq!(virtual_clock.slept(), Duration::ZERO);
    assert_eq!(server.requests().len(), 1);
}

/// Another bulk query keeps running on the shop (one at a time per shop): the wait for
/// it that would pass the deadline is the deadline error at once, and it keeps the
/// advice the refusal gave before waits were bounded by the deadline: a range of at
/// most bulk_threshold_days days reads cursor pages, which need no bulk operation.
#[tokio::test]
async fn waiting_for_another_bulk_query_past_the_deadline_advises_a_shorter_range() {
    let server = Narrow::start(|s, _| {
        if s.body.contains("LiftosShop") {
            shop_answer()
        } else if s.body.contains("LiftosBulkOrders") {
            json(
                200,
                serde_json::json!({ "data": { "bulkOperationRunQuery": {
                    "bulkOperation": null,
                    "userErrors": [{ "field": null, "message": "A bulk query operation for this app and shop is already in progress: gid://shopify/BulkOperation/9." }] } } }),
            )
        } else {
            unexpected(s)
        }
    })
    .await;
    let virtual_clock = clock();
    let c = liftos_connectors::ShopifyBuilder::new()
        .with_shop("busy-shop")
        .with_access_token("shpat_busy_shop_token")
        .with_base_url(server.base_url())
        .with_bulk_poll(Duration::from_secs(20))
        .with_bulk_threshold_days(14)
        .with_retry(fast_retry().with_deadline(Duration::from_secs(30)))
        .with_clock(virtual_clock.clone())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &day_range("2024-01-01", "2024-02-29")).await;
    // Waited 20 s once; the next wait (doubled, capped at 30 s) would end at 50 s.
    assert_deadline(
        &err,
        30_000,
        30_000,
        &[
            "another bulk query runs on this shop",
            "pull a range of at most bulk_threshold_days (14) days",
            "with 20000 ms elapsed",
        ],
    );
    assert!(!err.to_string().contains("shpat_busy_shop_token"), "{err}");
    assert_eq!(virtual_clock.slept(), Duration::from_secs(20));
    let runs = server
        .requests()
        .iter()
        .filter(|r| r.body.contains("LiftosBulkOrders"))
        .count();
    assert_eq!(runs, 2);
}
