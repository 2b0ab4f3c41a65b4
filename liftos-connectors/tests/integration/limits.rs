//! Issue 16, item 5: response bodies, pages and time are bounded, and the errors say
//! which source and which limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::Response;
use liftos_connectors::{
    Connector, Error, GoogleAdsBuilder, KlaviyoBuilder, MetaAdsBuilder, RestBuilder, RestRateLimit,
    RestSpec, RetryConfig, TikTokBuilder,
};

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
        // Cut at the deadline (the hanging body always), or stopped before a backoff
        // that would pass it: the text says which.
        if label.starts_with("body hangs") {
            assert!(
                matches!(err, Error::Deadline { wait_ms: None, .. }),
                "{err}"
            );
        }
        match err {
            Error::Deadline { wait_ms: None, .. } => {
                assert_mentions(&err.to_string(), &["deadline of 1500 ms reached after"])
            }
            Error::Deadline {
                wait_ms: Some(w), ..
            } => assert_mentions(
                &err.to_string(),
                &[&format!(
                    "deadline of 1500 ms would be passed by the wait of {w} ms"
                )],
            ),
            _ => unreachable!(),
        }
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
    assert!(
        matches!(
            err,
            Error::Deadline {
                wait_ms: Some(120_000),
                ..
            }
        ),
        "{err}"
    );
    assert_mentions(
        &err.to_string(),
        &[
            "deadline of 60000 ms would be passed by the wait of 120000 ms",
            "usage pressure",
        ],
    );
    assert!(!err.to_string().contains("reached"), "{err}");
    assert_eq!(virtual_clock.slept(), Duration::ZERO);
    assert_eq!(server.requests().len(), 1);
}

/// Sets Meta's usage header asking for `minutes` of `estimated_time_to_regain_access`.
fn with_regain(mut r: Response, minutes: f64) -> Response {
    let usage = serde_json::json!({ "1": [{ "type": "ads_insights", "call_count": 100,
        "estimated_time_to_regain_access": minutes }] });
    r.headers_mut().insert(
        "x-business-use-case-usage",
        usage.to_string().parse().unwrap(),
    );
    r
}

/// Sets `Retry-After: value`.
fn with_retry_after(mut r: Response, value: &str) -> Response {
    r.headers_mut()
        .insert("retry-after", value.parse().unwrap());
    r
}

#[track_caller]
fn assert_throttled(label: &str, err: &Error) {
    assert!(
        matches!(
            err,
            Error::Throttled {
                max_wait_secs: 900,
                ..
            }
        ),
        "{label}: {err}"
    );
}

/// A wait too long for a `Duration` but finite in the answer (Meta's 1e300 minutes,
/// `retryDelay: "1e20s"`, `Retry-After: 1e20`) is the Throttled error any wait over
/// `max_retry_wait` is, without a request more: it had panicked ("cannot convert float
/// seconds to Duration"), as a pause asked for by a page that delivered did.
#[tokio::test]
async fn finite_but_huge_platform_waits_are_throttled_errors_not_panics() {
    // Meta: a throttle answer (code 80000) asking for 1e300 minutes.
    let server = Narrow::start(|s, _| {
        if !s.path.ends_with("/insights") {
            return unexpected(s);
        }
        let body = serde_json::json!({"error": {"message": "throttled", "code": 80000, "is_transient": true}});
        with_regain(json(400, body), 1e300)
    })
    .await;
    let c = meta(server.base_url(), fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    assert_throttled("meta 400", &pull_error_within_20s(&c, &one_day()).await);
    assert_eq!(server.requests().len(), 1);

    // Meta: a page that delivers but asks for that pause: the next page is not asked for.
    let server = Narrow::start(|s, base| {
        if !s.path.ends_with("/insights") {
            return unexpected(s);
        }
        let body = serde_json::json!({ "data": [],
            "paging": { "next": format!("{base}/v25.0/act_1/insights?after=P2") } });
        with_regain(json(200, body), 1e300)
    })
    .await;
    let virtual_clock = clock();
    let c = meta(server.base_url(), fast_retry())
        .with_clock(virtual_clock.clone())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &one_day()).await;
    assert_throttled("meta 200", &err);
    assert!(err.to_string().contains("usage pressure"), "{err}");
    assert_eq!(server.requests().len(), 1);
    assert_eq!(virtual_clock.slept(), Duration::ZERO);

    // Google Ads: a quota error with `retryDelay: "1e20s"`.
    let server = Narrow::start(|s, _| match s.path.as_str() {
        "/token" => json(200, serde_json::json!({"access_token": "ya29.wait-test", "expires_in": 3599})),
        p if p.ends_with("googleAds:searchStream") => json(
            429,
            serde_json::json!([{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota",
                "details": [{"errors": [{"errorCode": {"quotaError": "RESOURCE_EXHAUSTED"}, "message": "quota",
                    "details": {"quotaErrorDetails": {"retryDelay": "1e20s"}}}]}]}}]),
        ),
        _ => unexpected(s),
    })
    .await;
    let c = GoogleAdsBuilder::new()
        .with_developer_token("google-dev-token-wait")
        .with_oauth("client-id", "client-secret-wait", "refresh-wait")
        .with_customer_ids(["1234567890"])
        .with_base_url(server.base_url())
        .with_token_url(format!("{}/token", server.base_url()))
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    assert_throttled("google", &pull_error_within_20s(&c, &one_day()).await);

    // Klaviyo and a declarative REST API: `Retry-After: 1e20` on a 429.
    let server = Narrow::start(|_, _| {
        let body = serde_json::json!({"errors": [{"status": 429, "code": "throttled", "detail": "slow down"}]});
        with_retry_after(json(429, body), "1e20")
    })
    .await;
    let c = KlaviyoBuilder::new()
        .with_api_key("pk_wait_test_key")
        .with_base_url(server.base_url())
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    assert_throttled("klaviyo", &pull_error_within_20s(&c, &one_day()).await);
    assert_eq!(server.requests().len(), 1);
    let spec = RestSpec::from_toml_str(REST_SPEC, "wait.toml").unwrap();
    let c = RestBuilder::new(spec)
        .with_env(|_| Some("rest-wait-key".to_owned()))
        .with_base_url(server.base_url())
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    assert_throttled("rest", &pull_error_within_20s(&c, &one_day()).await);
}

/// A declarative REST spec of one request a day at most.
const REST_SPEC: &str = r#"
name = "waits"
base_url = "https://api.example.com"
[auth]
type = "query"
param = "api_key"
secret_env = "WAITS_KEY"
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

/// A rate limit so slow that its spacing is no `Duration` (`1e-300` requests a second) is
/// a configuration error naming the key, from the spec and from the builder: it had
/// panicked when the connector was built.
#[tokio::test]
async fn an_absurd_rest_rate_limit_is_a_config_error_naming_the_key() {
    for rps in ["1e-300", "1e-6", "0", "-1", "nan"] {
        let text = format!("{REST_SPEC}\n[rate_limit]\nrequests_per_second = {rps}\n");
        let err = RestSpec::from_toml_str(&text, "slow.toml").unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{rps}: {err}");
        assert_mentions(
            &err.to_string(),
            &["slow.toml", "rate_limit.requests_per_second"],
        );
    }
    // A spec built in code skips the parser's check; the builder makes it.
    let mut spec = RestSpec::from_toml_str(REST_SPEC, "wait.toml").unwrap();
    spec.rate_limit = Some(RestRateLimit {
        requests_per_second: 1e-300,
    });
    let err = RestBuilder::new(spec)
        .with_env(|_| Some("rest-wait-key".to_owned()))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
    assert_mentions(
        &err.to_string(),
        &["rate_limit.requests_per_second = 1e-300"],
    );
    // One request a day is the slowest accepted.
    let text = format!("{REST_SPEC}\n[rate_limit]\nrequests_per_second = 1.2e-5\n");
    RestSpec::from_toml_str(&text, "daily.toml").unwrap();
}

/// An OAuth token whose `expires_in` is `u64::MAX` seconds, obtained after the pull has
/// run a while (the token endpoint failed first, the retries advanced the clock): the
/// token lives "until refused"; it had panicked ("overflow when adding durations").
#[tokio::test]
async fn a_token_lifetime_beyond_the_clock_is_no_overflow() {
    let token_calls = Arc::new(AtomicU64::new(0));
    let calls = token_calls.clone();
    let server = Narrow::start(move |s, _| match s.path.as_str() {
        "/token" if calls.fetch_add(1, Ordering::SeqCst) < 3 => {
            json(503, serde_json::json!({"error": "unavailable"}))
        }
        "/token" => json(
            200,
            serde_json::json!({"access_token": "ya29.forever", "expires_in": u64::MAX}),
        ),
        p if p.ends_with("googleAds:searchStream") => json(200, serde_json::json!([])),
        _ => unexpected(s),
    })
    .await;
    let virtual_clock = clock();
    let c = GoogleAdsBuilder::new()
        .with_developer_token("google-dev-token-wait")
        .with_oauth("client-id", "client-secret-wait", "refresh-wait")
        .with_customer_ids(["1234567890"])
        .with_base_url(server.base_url())
        .with_token_url(format!("{}/token", server.base_url()))
        .with_retry(fast_retry())
        .with_clock(virtual_clock.clone())
        .build()
        .unwrap();
    let t = pull_all(&c, &day_range("2024-01-01", "2024-03-31")).await;
    assert_eq!(t.num_rows(), 0);
    assert!(virtual_clock.slept() >= Duration::from_secs(1));
    assert_eq!(token_calls.load(Ordering::SeqCst), 4, "one token, kept");
}

/// The message of an error answer: `secret` at character 490, then megabytes of text.
fn huge_message(secret: &str) -> String {
    let mut m = "x".repeat(490);
    m.push_str(secret);
    m.push_str(&"A".repeat(4 << 20));
    m
}

/// Asserts that `err` (of `label`) quotes at most the documented 500 characters of the
/// platform's text, cut with `…`, keeps the connector's own `hint`, and holds none of
/// `secret`.
#[track_caller]
fn assert_cut(label: &str, err: &Error, hint: &str, secret: &str) {
    let text = err.to_string();
    assert!(
        text.chars().count() < 1500,
        "{label}: {} characters",
        text.len()
    );
    assert!(!text.contains(&"A".repeat(501)), "{label}");
    assert!(
        text.contains("x…") || text.contains("A…") || text.contains("]…"),
        "{label}: {text}"
    );
    assert!(text.contains(hint), "{label}: {text}");
    assert!(!text.contains(&secret[..6]), "{label}: {text}");
}

/// A platform message of megabytes (Meta's `message` with code 190, Google's `message`
/// and `status`, Klaviyo's `detail` and `code`, TikTok's `message`) is quoted cut to 500
/// characters, after redaction (a secret straddling the cut is hidden whole): errors had
/// carried the whole message.
#[tokio::test]
async fn platform_messages_in_errors_are_cut_to_500_characters() {
    const TOKEN: &str = "TOKENmeta-cut-test-0123456789";
    let server = Narrow::start(|_, _| {
        json(400, serde_json::json!({"error": {"message": huge_message(TOKEN), "type": "OAuthException", "code": 190}}))
    })
    .await;
    let c = meta(server.base_url(), fast_retry())
        .with_access_token(TOKEN)
        .with_clock(clock())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &one_day()).await;
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert_cut("meta", &err, "renew the token", TOKEN);

    const REFRESH: &str = "REFRESHgoogle-cut-0123456789";
    let server = Narrow::start(|s, _| match s.path.as_str() {
        "/token" => json(
            200,
            serde_json::json!({"access_token": "ya29.cut-test", "expires_in": 3599}),
        ),
        _ => json(
            401,
            serde_json::json!([{"error": {"code": 401, "status": "A".repeat(1 << 20),
                "message": huge_message(REFRESH)}}]),
        ),
    })
    .await;
    let c = GoogleAdsBuilder::new()
        .with_developer_token("google-dev-token-cut")
        .with_oauth("client-id", "client-secret-cut", REFRESH)
        .with_customer_ids(["1234567890"])
        .with_base_url(server.base_url())
        .with_token_url(format!("{}/token", server.base_url()))
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &one_day()).await;
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert_cut("google", &err, "check the OAuth credentials", REFRESH);

    const KEY: &str = "pk_KEYklaviyo-cut-0123456789";
    let server = Narrow::start(|_, _| {
        json(
            401,
            serde_json::json!({"errors": [{"status": 401, "code": "A".repeat(1 << 20),
            "detail": huge_message(KEY)}]}),
        )
    })
    .await;
    let c = KlaviyoBuilder::new()
        .with_api_key(KEY)
        .with_base_url(server.base_url())
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &one_day()).await;
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert_cut("klaviyo", &err, "check LIFTOS_KLAVIYO_API_KEY", KEY);

    const TIKTOK: &str = "TTsecret-cut-test-0123456789";
    let server = Narrow::start(|_, _| {
        json(
            200,
            serde_json::json!({"code": 40105, "message": huge_message(TIKTOK)}),
        )
    })
    .await;
    let c = TikTokBuilder::new()
        .with_access_token(TIKTOK)
        .with_advertiser_ids(["1"])
        .with_base_url(server.base_url())
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &one_day()).await;
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert_cut("tiktok", &err, "LIFTOS_TIKTOK_ACCESS_TOKEN", TIKTOK);
}

/// Terminal control sequences in a platform's text (ESC sequences clearing the screen,
/// colouring, setting the title; BEL; CR overwriting the line; a bidi override) reach an
/// error escaped (`\u{1b}`), in a message and in a quoted body alike: they had been
/// printed raw.
#[tokio::test]
async fn terminal_escapes_in_platform_text_are_escaped_in_errors() {
    const EVIL: &str = "\u{1b}[2J\u{1b}[31mFAKE: all good\u{1b}]0;pwned\u{7}\r\n\u{202e}txt.exe";
    let server = Narrow::start(|s, _| {
        if s.query.contains("access_token=meta-190") {
            json(
                400,
                serde_json::json!({"error": {"message": EVIL, "code": 190}}),
            )
        } else {
            Response::builder()
                .status(400)
                .header("content-type", "text/plain")
                .body(Body::from(EVIL))
                .unwrap()
        }
    })
    .await;
    let klaviyo = Narrow::start(|_, _| {
        json(
            401,
            serde_json::json!({"errors": [{"status": 401, "code": EVIL, "detail": EVIL}]}),
        )
    })
    .await;
    let mut errors = Vec::new();
    for token in ["meta-190-token", "meta-plain-token"] {
        let c = meta(server.base_url(), fast_retry())
            .with_access_token(token)
            .with_clock(clock())
            .build()
            .unwrap();
        errors.push(pull_error_within_20s(&c, &one_day()).await);
    }
    let c = KlaviyoBuilder::new()
        .with_api_key("pk_escape_test_key")
        .with_base_url(klaviyo.base_url())
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    errors.push(pull_error_within_20s(&c, &one_day()).await);
    for err in &errors {
        let text = err.to_string();
        assert!(
            !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{text:?}"
        );
        assert_mentions(
            &text,
            &[
                "\\u{1b}[2J\\u{1b}[31mFAKE: all good\\u{1b}]0;pwned\\u{7}\\u{d}\\u{a}\\u{202e}txt.exe",
            ],
        );
    }
    assert!(matches!(errors[0], Error::Auth { .. }), "{}", errors[0]);
    assert!(
        matches!(errors[1], Error::Http { status: 400, .. }),
        "{}",
        errors[1]
    );
}

/// The Throttled error states the wait the platform asked for as a reader can use it: a
/// wait too long to count (`Retry-After: 1e20`) is "more than 100 years", a countable one
/// its seconds and days, each beside the allowed maximum. The first had printed as
/// `18446744073709551615 s` (u64::MAX, not what the platform asked).
#[tokio::test]
async fn a_refused_wait_is_stated_as_asked_not_as_u64_max() {
    for (retry_after, wait_text) in [
        ("1e20", "asks to wait more than 100 years"),
        ("1000000000", "asks to wait 1000000000 s (about 11574 days)"),
        ("86400", "asks to wait 86400 s,"),
    ] {
        let server = Narrow::start(move |_, _| {
            let body = serde_json::json!({"errors": [{"status": 429, "code": "throttled", "detail": "slow down"}]});
            with_retry_after(json(429, body), retry_after)
        })
        .await;
        let c = KlaviyoBuilder::new()
            .with_api_key("pk_wait_text_key")
            .with_base_url(server.base_url())
            .with_retry(fast_retry())
            .with_clock(clock())
            .build()
            .unwrap();
        let err = pull_error_within_20s(&c, &one_day()).await;
        assert_throttled(retry_after, &err);
        let text = err.to_string();
        assert!(!text.contains(&u64::MAX.to_string()), "{text}");
        assert_mentions(&text, &[wait_text, "more than the allowed 900 s"]);
    }
}
