//! Issue 16, item 5: response bodies, pages and time are bounded, and the errors say
//! which source and which limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::Response;
use liftos_connectors::{Connector, Error, MetaAdsBuilder, RetryConfig};

use crate::common::*;
use crate::narrow::{Narrow, json, unexpected};

fn meta(base: String, retry: RetryConfig) -> MetaAdsBuilder {
    MetaAdsBuilder::new()
        .with_access_token("meta-limits-test-token")
        .with_ad_account_ids(["1"])
        .with_base_url(base)
        .with_retry(retry)
}

/// An endless body, counting the bytes the server produced.
fn endless(produced: Arc<AtomicU64>, content_length: Option<u64>) -> Response {
    let chunk = Bytes::from(vec![b' '; 64 * 1024]);
    let stream = futures::stream::repeat(chunk).map(move |c| {
        produced.fetch_add(c.len() as u64, Ordering::Relaxed);
        Ok::<Bytes, std::io::Error>(c)
    });
    let mut b = Response::builder()
        .status(200)
        .header("content-type", "application/json");
    if let Some(n) = content_length {
        b = b.header("content-length", n.to_string());
    }
    b.body(Body::from_stream(stream)).unwrap()
}

use futures::StreamExt;

#[tokio::test]
async fn a_body_over_the_cap_fails_clearly_after_reading_about_the_cap() {
    const CAP: u64 = 1024 * 1024;
    let produced = Arc::new(AtomicU64::new(0));
    let p = produced.clone();
    let server = Narrow::start(move |s, _| {
        if s.path.ends_with("/insights") {
            endless(p.clone(), None)
        } else {
            unexpected(s)
        }
    })
    .await;
    let c = meta(server.base_url(), fast_retry().with_max_body_bytes(CAP))
        .with_clock(clock())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &one_day()).await;
    let Error::BodyTooLarge {
        limit_bytes,
        received_bytes,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(*limit_bytes, CAP);
    assert!(*received_bytes > CAP && *received_bytes < 2 * CAP, "{err}");
    let text = err.to_string();
    assert!(text.starts_with("meta:"), "{text}");
    assert_mentions(&text, &["1048576 bytes", "max_body_mib"]);
    // Not retried, and the endless body was abandoned near the cap (socket buffers
    // aside): memory stays bounded by the cap, not by what the server sends.
    assert_eq!(server.requests().len(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = produced.load(Ordering::Relaxed);
    assert!(
        sent < CAP + 16 * 1024 * 1024,
        "server produced {sent} bytes"
    );
}

#[tokio::test]
async fn a_content_length_over_the_cap_fails_before_the_body_is_read() {
    let produced = Arc::new(AtomicU64::new(0));
    let p = produced.clone();
    let server = Narrow::start(move |s, _| {
        if s.path.ends_with("/insights") {
            endless(p.clone(), Some(1 << 30))
        } else {
            unexpected(s)
        }
    })
    .await;
    let c = meta(
        server.base_url(),
        fast_retry().with_max_body_bytes(1024 * 1024),
    )
    .with_clock(clock())
    .build()
    .unwrap();
    let err = c.get_campaign_data(&one_day()).await.unwrap_err();
    assert!(
        matches!(err, Error::BodyTooLarge { received_bytes, .. } if received_bytes == 1 << 30),
        "{err}"
    );
}

#[tokio::test]
async fn endless_unique_cursors_stop_at_the_page_bound() {
    let server = Narrow::start(|s, base| {
        if s.path.ends_with("/insights") {
            // A new cursor every time: no loop to detect.
            let n: u64 = s
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("after="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            json(
                200,
                serde_json::json!({
                    "data": [],
                    "paging": { "next": format!("{base}/v25.0/act_1/insights?after={}", n + 1) }
                }),
            )
        } else {
            unexpected(s)
        }
    })
    .await;
    let c = meta(server.base_url(), fast_retry().with_max_pages(25))
        .with_clock(clock())
        .build()
        .unwrap();
    let err = c.get_campaign_data(&one_day()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooManyPages {
                pages: 25,
                limit: 25,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("max_pages"), "{err}");
    assert_eq!(server.requests().len(), 25);
}

#[tokio::test]
async fn a_hanging_server_fails_at_the_overall_deadline() {
    let server = Narrow::start(|_, _| {
        // The headers come, the body never does.
        let stream = futures::stream::pending::<Result<Bytes, std::io::Error>>();
        Response::builder().body(Body::from_stream(stream)).unwrap()
    })
    .await;
    // A hanging listener that never answers at all (accepts, reads nothing).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    for (label, earliest, base, retry) in [
        // One request longer than the whole deadline: cut at the deadline.
        (
            "body hangs, request timeout 30 s",
            Duration::from_millis(1400),
            server.base_url(),
            RetryConfig::default()
                .with_request_timeout(Duration::from_secs(30))
                .with_deadline(Duration::from_millis(1500)),
        ),
        // Short request timeouts retried until the deadline (or until the next backoff
        // would end past it).
        (
            "no answer, request timeout 300 ms",
            Duration::from_millis(500),
            silent_url.clone(),
            RetryConfig::default()
                .with_request_timeout(Duration::from_millis(300))
                .with_max_retries(1000)
                .with_deadline(Duration::from_millis(1500)),
        ),
    ] {
        // The real clock: the deadline is wall time.
        let c = meta(base, retry).build().unwrap();
        let started = Instant::now();
        let err = pull_error_within_20s(&c, &one_day()).await;
        let took = started.elapsed();
        assert!(
            matches!(
                err,
                Error::Deadline {
                    deadline_ms: 1500,
                    ..
                }
            ),
            "{label}: {err}"
        );
        assert!(
            took >= earliest && took < Duration::from_millis(2500),
            "{label}: took {took:?}"
        );
        assert!(err.to_string().contains("--timeout"), "{err}");
    }
    drop(silent);
}

/// Meta pages whose usage header asks for `estimated_time_to_regain_access` minutes: 2
/// after the first page, 5 after the second (the last).
async fn pressured_pages() -> Narrow {
    Narrow::start(|s, base| {
        if !s.path.ends_with("/insights") {
            return unexpected(s);
        }
        let last = s.query.contains("after=P2");
        let minutes = if last { 5 } else { 2 };
        let mut body =
            serde_json::json!({ "data": [], "paging": { "cursors": { "after": "P2" } } });
        if !last {
            body["paging"]["next"] = format!("{base}/v25.0/act_1/insights?after=P2").into();
        }
        let mut r = json(200, body);
        let usage = serde_json::json!({ "1": [{ "type": "ads_insights", "call_count": 95,
            "estimated_time_to_regain_access": minutes }] });
        r.headers_mut().insert(
            "x-business-use-case-usage",
            usage.to_string().parse().unwrap(),
        );
        r
    })
    .await
}

/// The pause asked for on usage pressure comes before the next request, never after the
/// last page, and never past the pull's deadline.
#[tokio::test]
async fn a_usage_pause_waits_before_the_next_request_within_the_deadline() {
    // Deadline far off: one pause of 2 minutes before page 2, none after it.
    let server = pressured_pages().await;
    let virtual_clock = clock();
    let c = meta(server.base_url(), fast_retry())
        .with_clock(virtual_clock.clone())
        .build()
        .unwrap();
    let t = pull_all(&c, &one_day()).await;
    assert_eq!(t.num_rows(), 0);
    assert_eq!(server.requests().len(), 2);
    assert_eq!(virtual_clock.slept(), Duration::from_secs(120));
    // Deadline 60 s: the 2-minute pause would pass it, so the pull fails at once with the
    // deadline error, without waiting and without a second request.
    let server = pressured_pages().await;
    let virtual_clock = clock();
    let c = meta(
        server.base_url(),
        fast_retry().with_deadline(Duration::from_secs(60)),
    )
    .with_clock(virtual_clock.clone())
    .build()
    .unwrap();
    let err = pull_error_within_20s(&c, &one_day()).await;
    assert!(
        matches!(
            err,
            Error::Deadline {
                deadline_ms: 60_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("usage pressure"), "{err}");
    assert_eq!(virtual_clock.slept(), Duration::ZERO);
    assert_eq!(server.requests().len(), 1);
}
