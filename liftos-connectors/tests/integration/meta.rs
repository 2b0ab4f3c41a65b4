//! Meta Ads connector against the fake Graph API.

use std::sync::Arc;
use std::time::Duration;

use liftos_connectors::{
    Connector, ConnectorRequest, Error, Level, MetaAdsBuilder, MetaAdsConnector, Progress,
};
use liftos_sandbox::fake::{FakeServers, FaultConfig};

use crate::common::*;

fn connector(servers: &FakeServers, clock: Arc<liftos_connectors::VirtualClock>) -> MetaAdsBuilder {
    MetaAdsBuilder::new()
        .with_access_token(servers.credentials().meta_access_token.clone())
        .with_app_secret(servers.credentials().meta_app_secret.clone())
        .with_ad_account_ids(["act_1000000001", "1000000002"])
        .with_base_url(servers.meta_base_url())
        .with_page_limit(10)
        .with_retry(fast_retry())
        .with_clock(clock)
}

async fn pull_and_compare(
    faults: FaultConfig,
    tweak: impl Fn(MetaAdsBuilder) -> MetaAdsBuilder,
) -> (MetaAdsConnector, FakeServers) {
    let (want, request, servers) = serve_world("meta", faults).await;
    let c = tweak(connector(&servers, clock())).build().unwrap();
    let t = pull_all(&c, &request).await;
    assert_eq!(t.num_rows(), want.0, "row count");
    assert_money("spend", sum(&t, "spend"), want.1, want.0);
    assert_eq!(sum(&t, "impressions") as i64, want.2);
    assert_eq!(sum(&t, "clicks") as i64, want.3);
    assert_eq!(
        sum(&t, "conversions"),
        want.4.round(),
        "conversions counted once"
    );
    assert_money(
        "conversion_values",
        sum(&t, "conversion_values"),
        want.5,
        want.0,
    );
    (c, servers)
}

#[tokio::test]
async fn sync_pull_returns_every_row_once_and_sends_appsecret_proof() {
    let (c, servers) = pull_and_compare(FaultConfig::none(), |b| b).await;
    let log = servers.requests_to("meta");
    assert!(log.len() > 4, "paged: {}", log.len());
    assert!(log.iter().all(|r| r.query.contains("appsecret_proof=")));
    assert!(log.iter().all(|r| r.status == 200));
    assert_eq!(c.progress().snapshot().retries, 0);
}

#[tokio::test]
async fn async_report_runs_survive_failed_jobs_by_splitting() {
    let faults = FaultConfig::none().with_failed_async_jobs(2);
    let (_, servers) = pull_and_compare(faults, |b| {
        b.with_async_threshold_days(30).with_async_chunk_days(40)
    })
    .await;
    let log = servers.requests_to("meta");
    assert!(
        log.iter().filter(|r| r.method == "POST").count() >= 4,
        "jobs were split and re-run"
    );
}

#[tokio::test]
async fn a_report_run_whose_creation_answer_is_lost_is_not_created_again() {
    // Connections cut mid-answer and answers slower than the client waits: a POST that
    // creates a report run may have created it. Each such range is read with the plain
    // insights GET instead, and no creation is sent twice; the rows are still exact.
    for faults in [
        FaultConfig::none().with_drop_rate(0.3),
        FaultConfig::none().with_slow(0.25, Duration::from_millis(1200)),
    ] {
        // One request at a time: the fault draws, and so the test, are deterministic.
        let (_, servers) = pull_and_compare(faults.with_seed(3), |b| {
            b.with_async_threshold_days(30)
                .with_async_chunk_days(20)
                .with_retry(fast_retry().with_concurrency(1))
        })
        .await;
        let log = servers.requests_to("meta");
        let posts: Vec<_> = log.iter().filter(|r| r.method == "POST").collect();
        let lost = posts
            .iter()
            .filter(|r| matches!(r.fault, Some("drop") | Some("slow")))
            .count();
        assert!(lost > 0, "a creation answer was lost: {posts:?}");
        let mut seen = std::collections::HashSet::new();
        for p in &posts {
            assert!(
                seen.insert((p.path.clone(), p.query.clone())),
                "a report run was created twice: {p:?}"
            );
        }
        let sync_reads = log
            .iter()
            .filter(|r| {
                r.method == "GET" && r.path.ends_with("/insights") && r.path.contains("act_")
            })
            .count();
        assert!(
            sync_reads >= lost,
            "{sync_reads} synchronous reads for {lost} lost creations"
        );
    }
}

#[tokio::test]
async fn each_fault_type_is_survived() {
    for (name, faults) in each_fault(60) {
        let (c, servers) = pull_and_compare(faults.with_seed(5), |b| b).await;
        let faulted = servers
            .requests_to("meta")
            .iter()
            .filter(|r| r.fault.is_some())
            .count();
        assert!(
            faulted > 0,
            "{name}: no fault was injected: {:?}",
            servers.requests()
        );
        assert!(
            c.progress().snapshot().retries as usize >= faulted,
            "{name}: every fault retried"
        );
    }
}

#[tokio::test]
async fn breakdowns_and_levels_add_their_columns() {
    let world = world();
    let n = world_totals(&world, "meta").0;
    let request = full_range(&world)
        .with_level(Level::Ad)
        .with_breakdowns(["publisher_platform"])
        .with_fields(["reach", "cpm"]);
    let servers = quiet_servers(world).await;
    let c = connector(&servers, clock()).build().unwrap();
    let t = c.get_campaign_data(&request).await.unwrap();
    assert_eq!(t.num_rows(), n);
    for col in ["adset_id", "ad_name", "publisher_platform", "reach", "cpm"] {
        assert!(t.column_by_name(col).is_some(), "{col}");
    }
}

/// With `region` (or `dma`) Meta returns no off-Meta conversions at the default
/// attribution: without windows the request is refused before any call, saying what to
/// set; with windows it reads as any breakdown.
#[tokio::test]
async fn a_region_breakdown_needs_attribution_windows() {
    let world = world();
    let request = full_range(&world).with_breakdowns(["region"]);
    let servers = quiet_servers(world).await;
    let c = connector(&servers, clock()).build().unwrap();
    let e = c.get_campaign_data(&request).await.unwrap_err().to_string();
    assert!(
        e.contains("`region` breakdown") && e.contains("7d_click"),
        "{e}"
    );
    assert!(servers.requests_to("meta").is_empty(), "no call is made");
    let c = connector(&servers, clock())
        .with_attribution_windows(["7d_click", "1d_view"])
        .build()
        .unwrap();
    let t = c.get_campaign_data(&request).await.unwrap();
    assert!(t.column_by_name("region").is_some());
}

/// With attribution windows, `value` is still the account's default attribution; the
/// conversions are the sum of the requested windows' own keys.
#[tokio::test]
async fn attribution_windows_count_their_own_figures_not_the_default_value() {
    use liftos_sandbox::META_PURCHASE_ACTION;
    let world = world();
    let request = full_range(&world);
    let (mut click, mut view) = ((0.0, 0.0), (0.0, 0.0));
    let part = |x: &Option<String>| x.as_deref().map_or(0.0, |v| v.parse::<f64>().unwrap());
    for r in world.meta_insights() {
        let stat = |l: &Option<Vec<liftos_sandbox::MetaActionStat>>| {
            l.iter()
                .flatten()
                .find(|a| a.action_type == META_PURCHASE_ACTION)
                .cloned()
        };
        if let Some(a) = stat(&r.actions) {
            click.0 += part(&a.click_7d);
            view.0 += part(&a.view_1d);
        }
        if let Some(a) = stat(&r.action_values) {
            click.1 += part(&a.click_7d);
            view.1 += part(&a.view_1d);
        }
    }
    assert!(
        click.0 > 0.0 && view.0 > 0.0,
        "both windows attribute conversions"
    );
    let rows = world_totals(&world, "meta").0;
    let servers = quiet_servers(world).await;
    let both = (click.0 + view.0, click.1 + view.1);
    for (windows, want) in [
        (vec!["7d_click"], click),
        (vec!["1d_view"], view),
        (vec!["7d_click", "1d_view"], both),
    ] {
        let c = connector(&servers, clock())
            .with_attribution_windows(windows.clone())
            .build()
            .unwrap();
        let t = pull_all(&c, &request).await;
        assert_eq!(sum(&t, "conversions"), want.0.round(), "{windows:?}");
        assert_money(
            "conversion_values",
            sum(&t, "conversion_values"),
            want.1,
            rows,
        );
    }
    let log = servers.requests_to("meta");
    assert!(
        log.iter()
            .any(|r| r.query.contains("action_attribution_windows")),
        "the windows were sent"
    );
    // Overlapping windows would count a conversion twice.
    let err = connector(&servers, clock())
        .with_attribution_windows(["1d_click", "7d_click"])
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
    assert_mentions(&err.to_string(), &["`1d_click` and `7d_click` overlap"]);
}

/// "Please reduce the amount of data you're asking for" (code 1, subcode 99) would come
/// back for the same request: a single day cannot be split, so its first page is asked
/// for with half the `limit` (500, 250, ..., 1: nine requests); refused even at one row,
/// it is one clear error naming the account and the day, not the retry budget burnt.
#[tokio::test]
async fn too_much_data_for_a_single_day_is_one_clear_error_without_retries() {
    use crate::narrow::{Narrow, json, unexpected};
    let api = Narrow::start(move |s, _| {
        if !s.path.ends_with("/insights") {
            return unexpected(s);
        }
        json(
            500,
            serde_json::json!({ "error": { "message": "Please reduce the amount of data you're asking for, then retry your request",
                "type": "OAuthException", "code": 1, "error_subcode": 99, "is_transient": false,
                "fbtrace_id": "AbCdEf" } }),
        )
    })
    .await;
    let c = meta_at(api.base_url(), "meta-too-much-test-token")
        .build()
        .unwrap();
    let err = c.get_campaign_data(&one_day()).await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 500, .. }), "{err}");
    assert_mentions(
        &err.to_string(),
        &[
            "act_1 2024-01-01..=2024-01-01",
            "too large (code 1, subcode 99",
            "single day",
            "limit=1",
            "page_limit",
        ],
    );
    assert!(
        !err.to_string().contains("meta-too-much-test-token"),
        "{err}"
    );
    assert_eq!(
        limits_asked(&api.requests()),
        ["500", "250", "125", "62", "31", "15", "7", "3", "1"],
        "halved, never the same request twice"
    );
    assert_eq!(c.progress().snapshot().retries, 0);
}

/// The rows of `request` from fakes serving the standard world with `faults`, one
/// account at a time (so the order is deterministic), and the fakes.
async fn pull_ordered(
    faults: FaultConfig,
    request: &ConnectorRequest,
) -> (
    std::result::Result<arrow::array::RecordBatch, Error>,
    FakeServers,
) {
    let servers = serve(world(), faults).await;
    let c = connector(&servers, clock())
        .with_retry(fast_retry().with_concurrency(1))
        .build()
        .unwrap();
    (c.get_campaign_data(request).await, servers)
}

/// The `limit` of each request to a narrow server, in order.
fn limits_asked(requests: &[crate::narrow::Seen]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            url::form_urlencoded::parse(r.query.as_bytes())
                .find(|(k, _)| k == "limit")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect()
}

/// The `time_range` of a logged insights request, as (since, until).
fn time_range(query: &str) -> Option<(String, String)> {
    let v: serde_json::Value = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "time_range")
        .and_then(|(_, v)| serde_json::from_str(&v).ok())?;
    Some((
        v["since"].as_str()?.to_owned(),
        v["until"].as_str()?.to_owned(),
    ))
}

/// A fake that refuses synchronous ranges of more than 10 days (code 1, subcode 99):
/// the 60-day pull is read in halves (60 → 30 → 15 → 8 or 7 days) and gives exactly the
/// rows of an unrestricted pull, in the same order, none twice at a split boundary.
#[tokio::test]
async fn too_much_data_splits_the_range_in_halves_and_loses_no_row() {
    let start = full_range(&world()).start();
    let end = start + chrono::Duration::days(59);
    let request = ConnectorRequest::new(start, end).unwrap();
    let (want, _) = pull_ordered(FaultConfig::none(), &request).await;
    let want = want.unwrap();
    assert!(want.num_rows() > 100, "{} rows", want.num_rows());
    let (got, servers) =
        pull_ordered(FaultConfig::none().with_meta_max_range_days(10), &request).await;
    let got = got.unwrap_or_else(|e| panic!("split pull failed: {e}"));
    assert_eq!(got, want, "the same rows in the same order");
    let log = servers.requests_to("meta");
    for account in ["act_1000000001", "act_1000000002"] {
        let firsts: Vec<(String, String, u16)> = log
            .iter()
            .filter(|r| {
                r.path.ends_with(&format!("{account}/insights")) && !r.query.contains("after=")
            })
            .filter_map(|r| time_range(&r.query).map(|(s, u)| (s, u, r.status)))
            .collect();
        let refused: Vec<_> = firsts.iter().filter(|f| f.2 == 500).collect();
        // 60 days, 2 × 30, 4 × 15 are refused; 8 ranges of 7 or 8 days are read.
        assert_eq!(refused.len(), 7, "{account}: {firsts:?}");
        let read: Vec<_> = firsts.iter().filter(|f| f.2 == 200).collect();
        assert_eq!(read.len(), 8, "{account}: {firsts:?}");
        // The ranges read tile the request in date order.
        let mut next = start;
        for (since, until, _) in &read {
            assert_eq!(since, &next.to_string(), "{account}: {read:?}");
            let until: chrono::NaiveDate = until.parse().unwrap();
            assert!((until - next).num_days() < 10, "{account}: {read:?}");
            next = until + chrono::Duration::days(1);
        }
        assert_eq!(next, end + chrono::Duration::days(1), "{account}: {read:?}");
    }
}

/// A fake that refuses even a single day: the halving stops at the first single day
/// with one clear error naming the account and that day, after a bounded number of
/// requests (60 → 30 → 15 → 8 → 4 → 2 → 1 days: 7 refusals, then that day's first page
/// at limit 5, 2 and 1: 3 more), none retried.
#[tokio::test]
async fn too_much_data_even_for_one_day_is_a_clear_error_after_the_halvings() {
    let start = full_range(&world()).start();
    let request = ConnectorRequest::new(start, start + chrono::Duration::days(59)).unwrap();
    let (got, servers) =
        pull_ordered(FaultConfig::none().with_meta_max_range_days(0), &request).await;
    let err = got.unwrap_err();
    assert!(matches!(err, Error::Http { status: 500, .. }), "{err}");
    assert_mentions(
        &err.to_string(),
        &[
            &format!("act_1000000001 {start}..={start}"),
            "single day",
            "subcode 99",
        ],
    );
    let log = servers.requests_to("meta");
    assert_eq!(log.len(), 10, "{log:?}");
    assert!(log.iter().all(|r| r.status == 500));
    // The last four: the first single day at limit 10, 5, 2 and 1.
    let day = start.to_string();
    let last: Vec<String> = log[6..]
        .iter()
        .map(|r| {
            let limit = url::form_urlencoded::parse(r.query.as_bytes())
                .find(|(k, _)| k == "limit")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let (since, until) = time_range(&r.query).unwrap_or_default();
            format!("{since}..{until} limit {limit}")
        })
        .collect();
    assert_eq!(
        last,
        ["10", "5", "2", "1"].map(|l| format!("{day}..{day} limit {l}")),
        "the single day at halved limits"
    );
}

/// A later page refused as too large (the range's first pages are already out, so it
/// cannot be split without duplicates) is asked for again at the same cursor with half
/// the `limit`, as Airbyte does (Meta's `next` links keep the smaller limit); at limit 1
/// it is one clear error.
#[tokio::test]
async fn too_much_data_on_a_later_page_halves_the_limit_at_the_same_cursor() {
    use crate::narrow::{Narrow, json, unexpected};
    let rows = |from: usize, n: usize| -> Vec<serde_json::Value> {
        (from..from + n)
            .map(|i| {
                serde_json::json!({ "date_start": "2024-01-01", "date_stop": "2024-01-01",
                    "account_id": "1", "account_currency": "USD", "campaign_id": format!("{i}"),
                    "campaign_name": "C", "spend": "1.5", "impressions": "10", "clicks": "1" })
            })
            .collect()
    };
    // 10 rows; pages at `after=k`; more than `max` rows a page past the first is refused.
    let serve = move |max: usize| {
        move |s: &crate::narrow::Seen, base: &str| {
            if !s.path.ends_with("/insights") {
                return unexpected(s);
            }
            let q: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(s.query.as_bytes())
                    .into_owned()
                    .collect();
            let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(25);
            let after: usize = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
            if after > 0 && limit > max {
                return json(
                    500,
                    serde_json::json!({ "error": { "code": 1,
                        "message": "Please reduce the amount of data you're asking for, then retry your request" } }),
                );
            }
            let n = limit.min(10 - after);
            let mut paging =
                serde_json::json!({ "cursors": { "after": format!("{}", after + n) } });
            if after + n < 10 {
                paging["next"] = serde_json::json!(format!(
                    "{base}{}?access_token=meta-later-page-token&limit={limit}&after={}",
                    s.path,
                    after + n
                ));
            }
            json(
                200,
                serde_json::json!({ "data": rows(after, n), "paging": paging }),
            )
        }
    };
    let api = Narrow::start(serve(2)).await;
    let c = meta_at(api.base_url(), "meta-later-page-token")
        .with_page_limit(8)
        .build()
        .unwrap();
    let t = c.get_campaign_data(&one_day()).await.unwrap();
    let ids = t
        .column_by_name("campaign_id")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    let ids: Vec<&str> = ids.iter().map(Option::unwrap).collect();
    assert_eq!(ids, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    let limits: Vec<String> = api
        .requests()
        .iter()
        .map(|r| {
            url::form_urlencoded::parse(r.query.as_bytes())
                .find(|(k, _)| k == "limit")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    // First page 8 rows; the second refused at 8 and 4, read at 2.
    assert_eq!(limits, ["8", "8", "4", "2"], "{:?}", api.requests());
    assert_eq!(c.progress().snapshot().retries, 0);

    // Refused even at limit 1: one clear error.
    let api = Narrow::start(serve(0)).await;
    let c = meta_at(api.base_url(), "meta-later-page-token")
        .with_page_limit(8)
        .build()
        .unwrap();
    let err = c.get_campaign_data(&one_day()).await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 500, .. }), "{err}");
    assert_mentions(
        &err.to_string(),
        &["act_1 2024-01-01..=2024-01-01", "limit=1"],
    );
    assert!(!err.to_string().contains("meta-later-page-token"), "{err}");
    assert_eq!(api.requests().len(), 5, "8, 8, 4, 2, 1");
}

#[tokio::test]
async fn bad_token_and_expired_token_fail_clearly_without_retries() {
    let world = world();
    let request = full_range(&world);
    let servers = serve(world, FaultConfig::none().with_expire_token_after(3)).await;
    let bad = connector(&servers, clock())
        .with_access_token("wrong-token-value")
        .build()
        .unwrap();
    let err = bad.get_campaign_data(&request).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(err.to_string().contains("190"), "{err}");
    let c = connector(&servers, clock()).build().unwrap();
    let err = c.get_campaign_data(&request).await.unwrap_err();
    assert!(
        matches!(err, Error::Auth { .. }) && err.to_string().contains("expired"),
        "{err}"
    );
    assert_eq!(c.progress().snapshot().retries, 0);
}

#[tokio::test]
async fn a_server_that_never_recovers_or_loops_ends_in_a_clear_error() {
    assert_gives_up(|s, retry| connector(s, clock()).with_retry(retry).build().unwrap()).await;

    let request = full_range(&world());
    let servers = serve(world(), FaultConfig::none().with_page_loop()).await;
    let c = connector(&servers, clock()).build().unwrap();
    let err = pull_error_within_20s(&c, &request).await;
    assert!(matches!(err, Error::PageLoop { .. }), "{err}");
}

#[tokio::test]
async fn progress_callback_sees_rows_and_pages() {
    let world = world();
    let n = world_totals(&world, "meta").0 as u64;
    let request: ConnectorRequest = full_range(&world);
    let servers = quiet_servers(world).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let progress = Progress::with_callback(Arc::new(move |e| s2.lock().unwrap().push(*e)));
    let c = connector(&servers, clock())
        .with_progress(progress)
        .build()
        .unwrap();
    c.get_campaign_data(&request).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.last().unwrap().rows, n);
    assert_eq!(seen.len() as u64, seen.last().unwrap().pages);
}

/// Rust's float parser reads `NaN`, `inf` and `1e400` (infinity); Meta's numeric strings
/// never mean those, so each is the decode error of any other malformed number, in a
/// plain field and in an action value.
#[tokio::test]
async fn non_finite_numbers_are_decode_errors() {
    use crate::narrow::{Narrow, json, unexpected};
    let pull = |spend: &'static str, purchase: &'static str| async move {
        let api = Narrow::start(move |s, _| {
            if !s.path.ends_with("/insights") {
                return unexpected(s);
            }
            let row = serde_json::json!({
                "date_start": "2024-01-01", "date_stop": "2024-01-01",
                "account_id": "1", "account_currency": "USD",
                "campaign_id": "11", "campaign_name": "Brand",
                "spend": spend, "impressions": "100", "clicks": "7",
                "actions": [{ "action_type": "omni_purchase", "value": purchase }],
                "action_values": [{ "action_type": "omni_purchase", "value": "25.5" }],
            });
            json(200, serde_json::json!({ "data": [row], "paging": {} }))
        })
        .await;
        let c = meta_at(api.base_url(), "meta-finite-test-token")
            .build()
            .unwrap();
        c.get_campaign_data(&one_day()).await
    };
    // The control: finite values are read.
    let t = pull("12.5", "3").await.unwrap();
    assert_eq!(t.num_rows(), 1);
    for bad in ["NaN", "inf", "-infinity", "1e400"] {
        for (spend, purchase, path) in [
            (bad, "3", "data[0].spend"),
            ("12.5", bad, "data[0].actions"),
        ] {
            let err = pull(spend, purchase).await.unwrap_err();
            let Error::Decode {
                path: got, message, ..
            } = &err
            else {
                panic!("{bad}: {err}");
            };
            assert_eq!(got, path, "{bad}: {err}");
            assert_eq!(message, &format!("`{bad}` is not a number"), "{err}");
        }
    }
}

/// A row dated outside the requested days, or over several days (`date_start !=
/// date_stop`, which `time_increment=1` never gives), is a decode error naming the row
/// and the field, as TikTok's and Google's are: such rows had been stored as they came.
#[tokio::test]
async fn rows_outside_the_requested_days_or_over_several_days_are_decode_errors() {
    use crate::narrow::{Narrow, json, unexpected};
    let pull = |start: &'static str, stop: &'static str| async move {
        let api = Narrow::start(move |s, _| {
            if !s.path.ends_with("/insights") {
                return unexpected(s);
            }
            let row = |d1: &str, d2: &str| {
                serde_json::json!({
                    "date_start": d1, "date_stop": d2,
                    "account_id": "1", "account_currency": "USD",
                    "campaign_id": "11", "campaign_name": "Brand",
                    "spend": "12.5", "impressions": "100", "clicks": "7",
                })
            };
            let rows = [row("2024-01-02", "2024-01-02"), row(start, stop)];
            json(200, serde_json::json!({ "data": rows, "paging": {} }))
        })
        .await;
        let c = meta_at(api.base_url(), "meta-dates-test-token")
            .build()
            .unwrap();
        c.get_campaign_data(&day_range("2024-01-01", "2024-01-03"))
            .await
    };
    // The control: daily rows within the days are read.
    let t = pull("2024-01-03", "2024-01-03").await.unwrap();
    assert_eq!(t.num_rows(), 2);
    for (start, stop, path, said) in [
        (
            "2019-01-01",
            "2019-01-01",
            "data[1].date_start",
            "2019-01-01 is outside the requested days 2024-01-01..=2024-01-03",
        ),
        (
            "2024-01-04",
            "2024-01-04",
            "data[1].date_start",
            "2024-01-04 is outside the requested days 2024-01-01..=2024-01-03",
        ),
        (
            "2024-01-01",
            "2024-01-07",
            "data[1].date_stop",
            "2024-01-07 is not the row's date_start 2024-01-01",
        ),
        (
            "2024-01-02",
            "2024-01-01",
            "data[1].date_stop",
            "2024-01-01 is not the row's date_start 2024-01-02",
        ),
    ] {
        let err = pull(start, stop).await.unwrap_err();
        let Error::Decode {
            path: got, message, ..
        } = &err
        else {
            panic!("{start}..{stop}: {err}");
        };
        assert_eq!(got, path, "{err}");
        assert!(message.starts_with(said), "{err}");
    }
}

/// A refusal as too large (code 1, subcode 99; HTTP 500 as Meta sends it).
fn refused_as_too_large(code: i64, subcode: i64) -> axum::response::Response {
    crate::narrow::json(
        if code == 1 { 500 } else { 400 },
        serde_json::json!({ "error": { "code": code, "error_subcode": subcode,
            "type": if code == 1 { "OAuthException" } else { "CodeException" },
            "message": "Please reduce the amount of data you're asking for, then retry your request" } }),
    )
}

/// `per_day` rows a day over `since..=until` (campaign ids `c0`, `c1`, ...), from `after`,
/// at most `limit`, as an insights page whose `next` (when more rows remain) is
/// `{base}{path}?limit=..&after=..`.
fn rows_page(
    base: &str,
    path: &str,
    (since, until): (chrono::NaiveDate, chrono::NaiveDate),
    per_day: usize,
    limit: usize,
    after: usize,
) -> axum::response::Response {
    let all: Vec<serde_json::Value> = since
        .iter_days()
        .take_while(|d| *d <= until)
        .flat_map(|d| {
            (0..per_day).map(move |c| {
                serde_json::json!({ "date_start": d.to_string(), "date_stop": d.to_string(),
                    "account_id": "1", "account_currency": "USD", "campaign_id": format!("c{c}"),
                    "campaign_name": "C", "spend": "1.5", "impressions": "10", "clicks": "1" })
            })
        })
        .collect();
    let end = all.len().min(after.saturating_add(limit));
    let mut body = serde_json::json!({ "data": all[after.min(end)..end],
        "paging": { "cursors": { "after": format!("{end}") } } });
    if end < all.len() {
        body["paging"]["next"] = format!("{base}{path}?limit={limit}&after={end}").into();
    }
    crate::narrow::json(200, body)
}

/// The query (or form) parameter `key` of a request a narrow server saw.
fn param(s: &crate::narrow::Seen, key: &str) -> Option<String> {
    url::form_urlencoded::parse(s.query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The days of a `time_range` parameter.
fn days_of(s: &crate::narrow::Seen) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
    let (since, until) = time_range(&s.query)?;
    Some((since.parse().ok()?, until.parse().ok()?))
}

/// (date_start, campaign_id) of every row of `t`, in order.
fn day_campaigns(t: &arrow::array::RecordBatch) -> Vec<(String, String)> {
    use arrow::array::AsArray;
    let days = t
        .column_by_name("date_start")
        .unwrap()
        .as_primitive::<arrow::datatypes::Date32Type>();
    let ids = t.column_by_name("campaign_id").unwrap().as_string::<i32>();
    (0..t.num_rows())
        .map(|i| {
            let d = arrow::datatypes::Date32Type::to_naive_date_opt(days.value(i)).unwrap();
            (d.to_string(), ids.value(i).to_owned())
        })
        .collect()
}

/// The rows `rows_page` serves over `since..=until` at `per_day` a day, in order.
fn want_rows(since: &str, until: &str, per_day: usize) -> Vec<(String, String)> {
    let (since, until): (chrono::NaiveDate, chrono::NaiveDate) =
        (since.parse().unwrap(), until.parse().unwrap());
    since
        .iter_days()
        .take_while(|d| *d <= until)
        .flat_map(|d| (0..per_day).map(move |c| (d.to_string(), format!("c{c}"))))
        .collect()
}

/// The first page of a single day refused as too large: no range to split, so the same
/// day is asked for with half the `limit` (a response of fewer rows), and its later
/// pages keep the smaller limit; every row once, in order.
#[tokio::test]
async fn too_much_data_for_one_days_first_page_halves_the_limit() {
    use crate::narrow::{Narrow, unexpected};
    let api = Narrow::start(|s, base| {
        if s.path != "/v25.0/act_1/insights" {
            return unexpected(s);
        }
        let limit: usize = param(s, "limit").and_then(|l| l.parse().ok()).unwrap_or(25);
        if limit > 2 {
            return refused_as_too_large(1, 99);
        }
        let after: usize = param(s, "after").and_then(|a| a.parse().ok()).unwrap_or(0);
        let day: chrono::NaiveDate = "2024-01-01".parse().unwrap();
        rows_page(base, &s.path, (day, day), 5, limit, after)
    })
    .await;
    let c = meta_at(api.base_url(), "meta-first-page-token")
        .with_page_limit(8)
        .build()
        .unwrap();
    let t = c.get_campaign_data(&one_day()).await.unwrap();
    assert_eq!(day_campaigns(&t), want_rows("2024-01-01", "2024-01-01", 5));
    // Refused at 8 and 4; read at 2 (two rows, two rows, one row).
    assert_eq!(limits_asked(&api.requests()), ["8", "4", "2", "2", "2"]);
    assert_eq!(c.progress().snapshot().retries, 0);
}

/// A report-run API over 2 rows a day whose runs always complete at once (their id
/// holds their days: `7<since><until>`): creating a run of more than `max_run_days` days
/// is refused as too large (the data-per-call limit, code 100 / subcode 1487534, which
/// Meta applies to async calls too), and so is the results page of a run of more than
/// `max_results_days` days or asking for more than `max_limit` rows (code 1 / 99).
fn report_runs(
    per_day: usize,
    max_run_days: i64,
    max_results_days: i64,
    max_limit: usize,
) -> impl Fn(&crate::narrow::Seen, &str) -> axum::response::Response + Send + Sync + 'static {
    use crate::narrow::{json, unexpected};
    let compact = |d: chrono::NaiveDate| d.format("%Y%m%d").to_string();
    let run_days = |id: &str| -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
        let digits = id.strip_prefix('7')?;
        let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y%m%d").ok();
        Some((day(digits.get(..8)?)?, day(digits.get(8..)?)?))
    };
    let length = |(a, b): (chrono::NaiveDate, chrono::NaiveDate)| (b - a).num_days() + 1;
    move |s, base| {
        let segs: Vec<&str> = s.path.trim_matches('/').split('/').collect();
        match (s.method.as_str(), segs.as_slice()) {
            ("POST", ["v25.0", "act_1", "insights"]) => match days_of(s) {
                Some(r) if length(r) > max_run_days => refused_as_too_large(100, 1_487_534),
                Some((a, b)) => json(
                    200,
                    serde_json::json!({ "report_run_id": format!("7{}{}", compact(a), compact(b)) }),
                ),
                None => unexpected(s),
            },
            ("GET", ["v25.0", id]) if run_days(id).is_some() => json(
                200,
                serde_json::json!({ "id": id, "async_status": "Job Completed",
                    "async_percent_completion": 100 }),
            ),
            ("GET", ["v25.0", id, "insights"]) => {
                let Some(r) = run_days(id) else {
                    return unexpected(s);
                };
                let limit: usize = param(s, "limit").and_then(|l| l.parse().ok()).unwrap_or(25);
                if length(r) > max_results_days || limit > max_limit {
                    return refused_as_too_large(1, 99);
                }
                let after: usize = param(s, "after").and_then(|a| a.parse().ok()).unwrap_or(0);
                rows_page(base, &s.path, r, per_day, limit, after)
            }
            _ => unexpected(s),
        }
    }
}

/// The days (`since..until`) of every report run creation a narrow server saw.
fn creations(api: &crate::narrow::Narrow) -> Vec<String> {
    api.requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            let (a, b) = time_range(&r.query).unwrap_or_default();
            format!("{a}..{b}")
        })
        .collect()
}

/// Four weeks pulled through report runs (async from 7 days) from a narrow server
/// `report` that refuses more than a week as too large: the runs are the halves down to
/// weeks, every row comes once and in date order, nothing is retried.
async fn four_weeks_run_in_halves(
    report: impl Fn(&crate::narrow::Seen, &str) -> axum::response::Response + Send + Sync + 'static,
    token: &str,
) {
    let api = crate::narrow::Narrow::start(report).await;
    let c = meta_at(api.base_url(), token)
        .with_async_threshold_days(7)
        .build()
        .unwrap();
    let t = c
        .get_campaign_data(&day_range("2024-01-01", "2024-01-28"))
        .await
        .unwrap();
    assert_eq!(day_campaigns(&t), want_rows("2024-01-01", "2024-01-28", 2));
    assert_eq!(
        creations(&api),
        [
            "2024-01-01..2024-01-28",
            "2024-01-01..2024-01-14",
            "2024-01-01..2024-01-07",
            "2024-01-08..2024-01-14",
            "2024-01-15..2024-01-28",
            "2024-01-15..2024-01-21",
            "2024-01-22..2024-01-28",
        ]
    );
    assert_eq!(c.progress().snapshot().retries, 0);
}

/// A report run whose creation Meta refuses as too large (the data-per-call limit
/// applies to async calls too; its documented remedy is a shorter date range) is
/// replaced by runs of its halves, down to the size Meta accepts: every row once, in
/// date order, nothing retried.
#[tokio::test]
async fn a_report_run_refused_as_too_large_is_split_into_runs_of_its_halves() {
    // 28 days refused, 14 refused, two runs of 7; the second 14 refused, two runs of 7.
    four_weeks_run_in_halves(
        report_runs(2, 7, i64::MAX, usize::MAX),
        "meta-run-too-large-token",
    )
    .await;

    // A single day still refused is one error naming the account and the day.
    let api = crate::narrow::Narrow::start(report_runs(2, 0, i64::MAX, usize::MAX)).await;
    let c = meta_at(api.base_url(), "meta-run-too-large-token")
        .with_async_threshold_days(1)
        .build()
        .unwrap();
    let err = c
        .get_campaign_data(&day_range("2024-01-01", "2024-01-02"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AsyncJob { .. }), "{err}");
    assert_mentions(
        &err.to_string(),
        &[
            "act_1 2024-01-01..=2024-01-01",
            "too large (code 100, subcode 1487534",
            "higher level",
        ],
    );
    assert!(
        !err.to_string().contains("meta-run-too-large-token"),
        "{err}"
    );
    assert_eq!(creations(&api).len(), 2, "2 days, then the first day");
}

/// The first results page of a completed report run refused as too large: no row of
/// the run is out yet, so a run of several days is replaced by runs of its halves; the
/// results of a one-day run are asked for with half the `limit`. Every row once, in
/// date order.
#[tokio::test]
async fn a_report_runs_first_results_page_refused_as_too_large_is_split_then_halved() {
    four_weeks_run_in_halves(
        report_runs(2, i64::MAX, 7, usize::MAX),
        "meta-results-too-large-token",
    )
    .await;

    // Results of more than one day, or of more than 2 rows a page, refused: two days
    // become two one-day runs, each read at limit 8 (refused), 4 (refused), then 2.
    let api = crate::narrow::Narrow::start(report_runs(3, i64::MAX, 1, 2)).await;
    let c = meta_at(api.base_url(), "meta-results-too-large-token")
        .with_async_threshold_days(1)
        .with_page_limit(8)
        .build()
        .unwrap();
    let t = c
        .get_campaign_data(&day_range("2024-01-01", "2024-01-02"))
        .await
        .unwrap();
    assert_eq!(day_campaigns(&t), want_rows("2024-01-01", "2024-01-02", 3));
    let results: Vec<(String, String)> = api
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/insights") && r.method == "GET")
        .map(|r| (r.path.clone(), param(r, "limit").unwrap_or_default()))
        .collect();
    let at = |run: &str, limit: &str| (format!("/v25.0/{run}/insights"), limit.to_owned());
    let (both, first, second) = (
        "72024010120240102",
        "72024010120240101",
        "72024010220240102",
    );
    assert_eq!(
        results,
        [
            at(both, "8"),
            at(first, "8"),
            at(first, "4"),
            at(first, "2"),
            at(first, "2"),
            at(second, "8"),
            at(second, "4"),
            at(second, "2"),
            at(second, "2"),
        ]
    );
}
