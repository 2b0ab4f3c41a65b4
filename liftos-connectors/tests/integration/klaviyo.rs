//! Klaviyo connector against the fake JSON:API.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use liftos_connectors::{Connector, Error, KlaviyoBuilder};
use liftos_sandbox::fake::{FakeCredentials, FakeServers, FaultConfig};
use liftos_sandbox::{MessageType, World, WorldConfig};

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
    let mut faults = faults;
    faults.klaviyo_page_size = 3;
    faults.klaviyo_report_page_size = 3;
    let (want, request, servers) = serve_world("klaviyo", faults).await;
    let c = builder(&servers, clock()).build().unwrap();
    let t = pull_all(&c, &request).await;
    // One row per send.
    let columns = ["recipients", "clicks", "placed_order_count", "revenue"];
    assert_world_totals(&t, want, sum(&t, "spend"), columns);
    servers
}

#[tokio::test]
async fn campaigns_and_values_report_give_one_row_per_send() {
    let servers = pull_and_compare(FaultConfig::none()).await;
    // One report per year of range, read page by page (3 results a page): the totals
    // above hold only if every page was read.
    let pages = report_calls(&servers, "/api/campaign-values-reports");
    assert!(pages > 1, "the report was paged: {pages} calls");
    let firsts = servers
        .requests_to("klaviyo")
        .iter()
        .filter(|r| r.path == "/api/campaign-values-reports" && !r.query.contains("page_cursor"))
        .count();
    assert_eq!(
        firsts, 1,
        "one report per year, the other calls follow links.next"
    );
    let pages = report_calls(&servers, "/api/campaigns");
    assert!(pages > 1, "campaigns were paged");
    // The fake archives every 4th campaign and lists it only when asked: the totals
    // above include their sends, which the report has and the default listing lacks.
    let archived = servers
        .requests_to("klaviyo")
        .iter()
        .filter(|r| r.path == "/api/campaigns" && r.query.contains("archived"))
        .count();
    assert!(archived >= 1, "archived campaigns listed");
    let lookups = report_calls(&servers, "/api/metrics");
    assert!(lookups > 0, "Placed Order looked up by name");
}

#[tokio::test]
async fn each_fault_type_is_survived() {
    for (_, faults) in each_fault(3) {
        let servers = pull_and_compare(faults.with_seed(21)).await;
        assert_faulted(&servers, "klaviyo", "a fault was injected");
    }
}

#[tokio::test]
async fn auth_failures_and_the_daily_cap_are_not_retried() {
    let servers = serve(
        world(),
        FaultConfig::none().with_klaviyo_report_daily_cap(0),
    )
    .await;
    let bad = builder(&servers, clock())
        .with_api_key("pk_wrong_key")
        .build()
        .unwrap();
    assert_check_refused(&bad).await;
    let c = builder(&servers, clock()).build().unwrap();
    let err = pull_error_within_20s(&c, &full_range(&world())).await;
    assert!(matches!(err, Error::Throttled { .. }), "{err}");
    assert_eq!(report_calls(&servers, "/api/campaign-values-reports"), 1);
}

#[tokio::test]
async fn a_looping_or_dead_server_ends_in_a_clear_error() {
    let servers = serve(world(), FaultConfig::none().with_page_loop()).await;
    let c = builder(&servers, clock()).build().unwrap();
    let err = pull_error_within_20s(&c, &full_range(&world())).await;
    assert!(matches!(err, Error::PageLoop { .. }), "{err}");
    assert_gives_up(|s, retry| builder(s, clock()).with_retry(retry).build().unwrap()).await;
}

// ---- flows -------------------------------------------------------------------------

/// The common world (75 days) with four Klaviyo flows; the fourth starts on day 18.
fn flows_world() -> World {
    World::generate(
        &WorldConfig::standard(2)
            .with_days(75)
            .with_seed(11)
            .with_klaviyo_flows(4),
    )
    .unwrap()
}

/// (rows, recipients, clicks, conversions, revenue cents) of the world's klaviyo rows of
/// one message type.
fn world_messages(world: &World, kind: MessageType) -> (usize, i64, i64, i64, i64) {
    world
        .rows()
        .filter(|r| r.channel == "klaviyo" && r.message_type == kind)
        .fold((0, 0, 0, 0, 0), |t, r| {
            (
                t.0 + 1,
                t.1 + r.impressions,
                t.2 + r.clicks,
                t.3 + r.conversions as i64,
                t.4 + (r.revenue * 100.0).round() as i64,
            )
        })
}

/// The same totals of a pulled table's rows whose `message_type` is `kind`.
fn pulled_messages(t: &RecordBatch, kind: &str) -> (usize, i64, i64, i64, i64) {
    let col = |n: &str| t.column_by_name(n).unwrap_or_else(|| panic!("no {n}"));
    let types = col("message_type").as_string::<i32>();
    let ints = |n: &str| col(n).as_primitive::<Int64Type>().clone();
    let floats = |n: &str| col(n).as_primitive::<Float64Type>().clone();
    let (recipients, clicks) = (ints("recipients"), ints("clicks"));
    let (conversions, revenue) = (floats("placed_order_count"), floats("revenue"));
    let mut out = (0, 0, 0, 0, 0);
    for i in (0..t.num_rows()).filter(|i| types.value(*i) == kind) {
        out.0 += 1;
        out.1 += recipients.value(i);
        out.2 += clicks.value(i);
        out.3 += conversions.value(i).round() as i64;
        out.4 += (revenue.value(i) * 100.0).round() as i64;
    }
    out
}

fn report_calls(servers: &FakeServers, path: &str) -> usize {
    calls_to(servers, "klaviyo", path)
}

async fn pull_flows(faults: FaultConfig) -> FakeServers {
    let world = flows_world();
    let request = full_range(&world);
    let mut faults = faults;
    faults.klaviyo_page_size = 3;
    faults.klaviyo_report_page_size = 3;
    let servers = serve(world.clone(), faults).await;
    let c = builder(&servers, clock())
        .with_include_flows(true)
        .build()
        .unwrap();
    let t = pull_all(&c, &request).await;
    assert_eq!(
        pulled_messages(&t, "flow"),
        world_messages(&world, MessageType::Flow),
        "flow rows: count, recipients, clicks, conversions, revenue (cents)"
    );
    assert_eq!(
        pulled_messages(&t, "campaign"),
        world_messages(&world, MessageType::Campaign),
        "campaign rows unchanged"
    );
    let want = world_totals(&world, "klaviyo");
    assert_eq!(t.num_rows(), want.0, "every klaviyo row of the world, once");
    assert_money("spend", sum(&t, "spend"), want.1, want.0);
    // Every flow row is named, archived flows (left out of the default listing) too.
    let names: std::collections::HashMap<String, String> = world
        .klaviyo_flows()
        .into_iter()
        .map(|f| (f.id, f.name))
        .collect();
    let (ids, pulled) = (
        t.column_by_name("campaign_id").unwrap().as_string::<i32>(),
        t.column_by_name("campaign_name")
            .unwrap()
            .as_string::<i32>(),
    );
    let types = t.column_by_name("message_type").unwrap().as_string::<i32>();
    let mut flows_named = std::collections::BTreeSet::new();
    for i in (0..t.num_rows()).filter(|i| types.value(*i) == "flow") {
        assert_eq!(
            Some(pulled.value(i)),
            names.get(ids.value(i)).map(String::as_str),
            "flow {}",
            ids.value(i)
        );
        flows_named.insert(ids.value(i).to_owned());
    }
    assert_eq!(flows_named.len(), names.len(), "rows of every flow");
    servers
}

#[tokio::test]
async fn flows_give_exactly_the_worlds_flow_rows_in_60_day_calls() {
    let servers = pull_flows(FaultConfig::none()).await;
    // 75 days: one campaign report (≤ 1 year) and two daily flow series (60 + 15 days);
    // the fake refuses a daily series longer than 60 days. Each is read page by page (3
    // results a page; 4 flows of 2 messages are 8 results, 3 pages).
    let firsts = |path: &str| {
        servers
            .requests_to("klaviyo")
            .iter()
            .filter(|r| r.path == path && !r.query.contains("page_cursor"))
            .count()
    };
    assert_eq!(firsts("/api/campaign-values-reports"), 1);
    assert_eq!(firsts("/api/flow-series-reports"), 2);
    assert_eq!(
        report_calls(&servers, "/api/flow-series-reports"),
        6,
        "two series of 3 pages each"
    );
    assert_eq!(
        report_calls(&servers, "/api/flows"),
        2,
        "4 flows: 3 live on one page, 1 archived listed apart"
    );
    let archived = servers
        .requests_to("klaviyo")
        .iter()
        .filter(|r| r.path == "/api/flows" && r.query.contains("archived"))
        .count();
    assert_eq!(archived, 1, "archived flows listed");
}

#[tokio::test]
async fn flows_survive_throttling_and_server_errors() {
    for faults in [
        FaultConfig::none()
            .with_throttle_rate(0.3)
            .with_server_error_rate(0.3)
            .with_throttle_wait_secs(3),
        FaultConfig::none().with_drop_rate(0.4),
    ] {
        let servers = pull_flows(faults.with_seed(21)).await;
        let log = servers.requests_to("klaviyo");
        assert!(
            log.iter().any(|r| r.fault.is_some()
                && (r.path == "/api/flow-series-reports" || r.path == "/api/flows")),
            "a fault hit the flow calls"
        );
    }
}

#[tokio::test]
async fn the_fake_refuses_a_daily_series_longer_than_60_days() {
    let servers = serve(flows_world(), FaultConfig::none()).await;
    let post = |start: &str, end: &str| {
        let body = serde_json::json!({ "data": { "type": "flow-series-report", "attributes": {
            "statistics": ["recipients"], "interval": "daily", "conversion_metric_id": "RPLcdA",
            "timeframe": { "start": format!("{start}T00:00:00+00:00"), "end": format!("{end}T23:59:59+00:00") } } } });
        reqwest::Client::new()
            .post(format!(
                "{}/api/flow-series-reports",
                servers.klaviyo_base_url()
            ))
            .header(
                "authorization",
                format!("Klaviyo-API-Key {}", servers.credentials().klaviyo_api_key),
            )
            .header("revision", "2026-07-15")
            .body(body.to_string())
            .send()
    };
    let long = post("2024-01-01", "2024-03-01").await.unwrap();
    assert_eq!(long.status().as_u16(), 400, "61 days");
    let ok = post("2024-01-01", "2024-02-29").await.unwrap();
    assert_eq!(ok.status().as_u16(), 200, "60 days");
    let v: serde_json::Value = serde_json::from_str(&ok.text().await.unwrap()).unwrap();
    let a = &v["data"]["attributes"];
    let n = a["date_times"].as_array().unwrap().len();
    assert_eq!(n, 60);
    for r in a["results"].as_array().unwrap() {
        assert_eq!(r["statistics"]["recipients"].as_array().unwrap().len(), n);
    }
}

#[tokio::test]
async fn the_daily_report_limit_is_never_exceeded() {
    let world = flows_world();
    let request = full_range(&world);
    let key = FakeCredentials::default().klaviyo_api_key;
    // The connector's own limit: 75 days need 2 flow series calls; with a limit of 1 the
    // pull fails before any request. (Every report is one page here.)
    let mut one_page = FaultConfig::none();
    one_page.klaviyo_report_page_size = 1000;
    let servers = serve(world.clone(), one_page.clone()).await;
    let c = builder(&servers, clock())
        .with_include_flows(true)
        .with_report_daily_limit(1)
        .build()
        .unwrap();
    let err = c.get_campaign_data(&request).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err}");
    assert_mentions(
        &text,
        &[
            "needs at least 2 calls of POST /api/flow-series-reports",
            "limit is 1",
        ],
    );
    assert!(!text.contains(&key), "{text}");
    assert!(
        servers.requests_to("klaviyo").is_empty(),
        "nothing was sent"
    );

    // Calls count over 24 hours across pulls: with a limit of 3, a second pull (2 more
    // flow calls) is refused until a day has passed.
    let virtual_clock = clock();
    let c = builder(&servers, virtual_clock.clone())
        .with_include_flows(true)
        .with_report_daily_limit(3)
        .build()
        .unwrap();
    c.get_campaign_data(&request).await.unwrap();
    let err = c.get_campaign_data(&request).await.unwrap_err();
    assert!(
        err.to_string().contains("2 were sent in the last 24 hours"),
        "{err}"
    );
    assert_eq!(report_calls(&servers, "/api/flow-series-reports"), 2);
    liftos_connectors::Clock::sleep(&*virtual_clock, Duration::from_secs(24 * 3600)).await;
    c.get_campaign_data(&request).await.unwrap();
    assert_eq!(report_calls(&servers, "/api/flow-series-reports"), 4);

    // Every page of a report is a call against the limit: a campaign report of more than
    // 3 pages stops at the third, before exceeding a limit of 3.
    let mut small_pages = FaultConfig::none();
    small_pages.klaviyo_report_page_size = 2;
    let servers = serve(world.clone(), small_pages).await;
    let c = builder(&servers, clock())
        .with_report_daily_limit(3)
        .build()
        .unwrap();
    let err = c.get_campaign_data(&request).await.unwrap_err();
    assert_mentions(
        &err.to_string(),
        &["daily limit of 3 calls of POST /api/campaign-values-reports was reached"],
    );
    assert_eq!(report_calls(&servers, "/api/campaign-values-reports"), 3);

    // Klaviyo's own cap (other clients used the quota): its daily 429 is not retried.
    let servers = serve(world, one_page.with_klaviyo_report_daily_cap(1)).await;
    let c = builder(&servers, clock())
        .with_include_flows(true)
        .build()
        .unwrap();
    let err = c.get_campaign_data(&request).await.unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err}");
    assert!(!err.to_string().contains(&key), "{err}");
    assert_eq!(
        report_calls(&servers, "/api/flow-series-reports"),
        2,
        "one answered, one refused, none retried"
    );
}

#[tokio::test]
async fn without_include_flows_the_pull_is_unchanged() {
    let world = flows_world();
    let servers = serve(world.clone(), FaultConfig::none()).await;
    let c = builder(&servers, clock()).build().unwrap();
    let request = full_range(&world);
    let t = c.get_campaign_data(&request).await.unwrap();
    assert!(t.column_by_name("message_type").is_none());
    assert_eq!(t.schema(), c.schema(&request).unwrap());
    assert_eq!(
        t.num_rows(),
        world_messages(&world, MessageType::Campaign).0,
        "campaign sends only"
    );
    assert_eq!(report_calls(&servers, "/api/flows"), 0);
    assert_eq!(report_calls(&servers, "/api/flow-series-reports"), 0);
}

#[tokio::test]
async fn flow_report_calls_keep_the_steady_rate_limit() {
    // Real time: the fake answers 429 to a call of one reporting endpoint within 250 ms
    // of the previous one (Klaviyo's steady limit, scaled down). 75 days: one campaign
    // report and two flow series calls.
    let world = flows_world();
    let request = full_range(&world);
    let want = world_totals(&world, "klaviyo").0;
    let faults = FaultConfig::none().with_klaviyo_report_min_interval(Duration::from_millis(250));
    let real_clock = |servers: &FakeServers, interval: u64| {
        KlaviyoBuilder::new()
            .with_api_key(servers.credentials().klaviyo_api_key.clone())
            .with_base_url(servers.klaviyo_base_url())
            .with_retry(fast_retry())
            .with_include_flows(true)
            .with_report_interval(Duration::from_millis(interval))
            .build()
            .unwrap()
    };
    let throttled = |servers: &FakeServers| {
        servers
            .requests_to("klaviyo")
            .iter()
            .filter(|r| r.status == 429)
            .count()
    };
    // Spaced by report_interval: never throttled.
    let servers = serve(world.clone(), faults.clone()).await;
    let t = real_clock(&servers, 400)
        .get_campaign_data(&request)
        .await
        .unwrap();
    assert_eq!(t.num_rows(), want);
    assert_eq!(throttled(&servers), 0);
    assert_eq!(report_calls(&servers, "/api/flow-series-reports"), 2);
    // Not spaced: the second flow call is throttled, its Retry-After honoured, and the
    // rows are the same.
    let servers = serve(world, faults).await;
    let t = real_clock(&servers, 0)
        .get_campaign_data(&request)
        .await
        .unwrap();
    assert_eq!(t.num_rows(), want);
    assert!(
        throttled(&servers) >= 1,
        "the fake enforces the steady limit"
    );
}

/// A narrow Klaviyo answering one email campaign sent on 2024-01-01, whose report gives
/// `recipients` as given (absent when `None`).
async fn one_campaign_server(recipients: Option<serde_json::Value>) -> crate::narrow::Narrow {
    campaign_server(
        recipients,
        serde_json::Value::Null,
        "2024-01-01T10:00:00+00:00",
    )
    .await
}

/// A narrow Klaviyo whose account has the time zone `timezone` and whose one email
/// campaign was sent at `send_time`.
async fn campaign_server(
    recipients: Option<serde_json::Value>,
    timezone: serde_json::Value,
    send_time: &'static str,
) -> crate::narrow::Narrow {
    use crate::narrow::{Narrow, json, unexpected};
    Narrow::start(move |s, _| {
        let list =
            |data: serde_json::Value| json(200, serde_json::json!({ "data": data, "links": {} }));
        match s.path.as_str() {
            "/api/accounts" => list(serde_json::json!([
                { "type": "account", "id": "A1",
                  "attributes": { "preferred_currency": "USD", "timezone": timezone } }
            ])),
            "/api/metrics" => list(serde_json::json!([
                { "type": "metric", "id": "M1", "attributes": { "name": "Placed Order" } }
            ])),
            "/api/campaigns" => list(serde_json::json!([
                { "type": "campaign", "id": "C1",
                  "attributes": { "name": "January", "send_time": send_time } }
            ])),
            "/api/campaign-values-reports" => {
                let mut statistics =
                    serde_json::json!({ "delivered": 90, "conversion_value": 12.5 });
                if let Some(r) = &recipients {
                    statistics["recipients"] = r.clone();
                }
                json(
                    200,
                    serde_json::json!({ "data": { "type": "campaign-values-report", "attributes": {
                        "results": [
                            { "groupings": { "campaign_id": "C1", "send_channel": "email" },
                              "statistics": statistics }
                        ]
                    } } }),
                )
            }
            _ => unexpected(s),
        }
    })
    .await
}

#[tokio::test]
async fn a_statistic_that_is_not_a_number_is_a_decode_error() {
    let pull = |api: &crate::narrow::Narrow| {
        KlaviyoBuilder::new()
            .with_api_key("pk_statistic_test_key")
            .with_base_url(api.base_url())
            .with_retry(fast_retry())
            .with_clock(clock())
            .build()
            .unwrap()
    };
    // A number is counted; absent or null is 0.
    for (recipients, want) in [
        (Some(serde_json::json!(100)), 100),
        (None, 0),
        (Some(serde_json::Value::Null), 0),
    ] {
        let api = one_campaign_server(recipients).await;
        let t = pull_all(&pull(&api), &one_day()).await;
        assert_eq!(t.num_rows(), 1);
        let got = t
            .column_by_name("recipients")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(got.value(0), want);
        let delivered = t
            .column_by_name("delivered")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(delivered.value(0), 90);
    }
    // A string is one error naming the statistic, not a silent 0.
    let api = one_campaign_server(Some(serde_json::json!("1234"))).await;
    let err = pull(&api).get_campaign_data(&one_day()).await.unwrap_err();
    let Error::Decode { path, message, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        path, "data.attributes.results[0].statistics.recipients",
        "{err}"
    );
    assert!(message.contains("\"1234\""), "{err}");
}

/// Days are the company's: the report's timeframe runs from local midnight to the last
/// second of the last day, with that day's UTC offset, and `sent_at` is the send day in
/// that zone (03:00 UTC on 2 January is still 1 January in New York).
#[tokio::test]
async fn days_are_the_company_time_zones() {
    let pull = |api: &crate::narrow::Narrow| {
        KlaviyoBuilder::new()
            .with_api_key("pk_timezone_test_key")
            .with_base_url(api.base_url())
            .with_retry(fast_retry())
            .with_clock(clock())
            .build()
            .unwrap()
    };
    let send = "2024-01-02T03:00:00+00:00";
    let api = campaign_server(Some(7.into()), "America/New_York".into(), send).await;
    let t = pull_all(&pull(&api), &one_day()).await;
    assert_eq!(t.num_rows(), 1, "sent on 1 January in New York");
    let sent = t
        .column_by_name("sent_at")
        .unwrap()
        .as_primitive::<arrow::datatypes::Date32Type>();
    assert_eq!(sent.value_as_date(0), Some("2024-01-01".parse().unwrap()));
    let report = api
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/campaign-values-reports")
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&report.body).unwrap();
    assert_eq!(
        body["data"]["attributes"]["timeframe"],
        serde_json::json!({ "start": "2024-01-01T00:00:00-05:00", "end": "2024-01-01T23:59:59-05:00" })
    );
    // Without a time zone: UTC, so the same send is on 2 January, outside the day.
    let api = campaign_server(Some(7.into()), serde_json::Value::Null, send).await;
    assert_eq!(pull_all(&pull(&api), &one_day()).await.num_rows(), 0);
    // An unknown zone is one error naming it.
    let api = campaign_server(Some(7.into()), "Mars/Olympus".into(), send).await;
    let err = pull(&api).get_campaign_data(&one_day()).await.unwrap_err();
    assert_mentions(
        &err.to_string(),
        &["data[0].attributes.timezone", "Mars/Olympus"],
    );
}

/// A report whose `links.next` keeps naming the same cursor is a page loop, reported
/// after the second page; the next page is POSTed with the first page's body.
#[tokio::test]
async fn a_report_cursor_that_repeats_is_a_page_loop() {
    use crate::narrow::{Narrow, json, unexpected};
    let api = Narrow::start(move |s, base| {
        let list =
            |data: serde_json::Value| json(200, serde_json::json!({ "data": data, "links": {} }));
        match s.path.as_str() {
            "/api/accounts" => list(serde_json::json!([{ "type": "account", "id": "A1",
                "attributes": { "preferred_currency": "USD" } }])),
            "/api/metrics" => list(serde_json::json!([{ "type": "metric", "id": "M1",
                "attributes": { "name": "Placed Order" } }])),
            "/api/campaigns" => list(serde_json::json!([{ "type": "campaign", "id": "C1",
                "attributes": { "name": "January", "send_time": "2024-01-01T10:00:00+00:00" } }])),
            "/api/campaign-values-reports" => json(
                200,
                serde_json::json!({ "data": { "type": "campaign-values-report", "attributes": {
                    "results": [{ "groupings": { "campaign_id": "C1", "send_channel": "email" },
                                  "statistics": { "recipients": 100 } }] } },
                    "links": { "next": format!("{base}/api/campaign-values-reports?page_cursor=same") } }),
            ),
            _ => unexpected(s),
        }
    })
    .await;
    let err = KlaviyoBuilder::new()
        .with_api_key("pk_loop_test_key")
        .with_base_url(api.base_url())
        .with_retry(fast_retry())
        .with_clock(clock())
        .with_report_interval(Duration::ZERO)
        .build()
        .unwrap()
        .get_campaign_data(&one_day())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PageLoop { pages: 2, .. }), "{err}");
    let posts: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/campaign-values-reports")
        .collect();
    assert_eq!(
        posts.len(),
        2,
        "the first page and the repeated cursor's page"
    );
    assert_eq!(posts[1].query, "page_cursor=same");
    assert_eq!(posts[0].body, posts[1].body, "the same report body");
}

/// An account east (UTC+9) or west (UTC−5) of UTC: the fake's flow series `date_times`
/// are the company days' starts as instants in UTC (`2024-01-04T15:00:00+00:00` for
/// 5 January at UTC+9); every flow row keeps the world's own send day.
#[tokio::test]
async fn flow_days_are_the_account_time_zones_whatever_the_offset_of_date_times() {
    for hours in [9, -5] {
        let world = flows_world();
        let request = full_range(&world);
        let servers = serve(
            world.clone(),
            FaultConfig::none().with_klaviyo_utc_offset_hours(hours),
        )
        .await;
        let c = builder(&servers, clock())
            .with_include_flows(true)
            .build()
            .unwrap();
        let t = pull_all(&c, &request).await;
        let col = |n: &str| t.column_by_name(n).unwrap_or_else(|| panic!("no {n}"));
        let (types, ids) = (
            col("message_type").as_string::<i32>(),
            col("campaign_id").as_string::<i32>(),
        );
        let (days, recipients) = (
            col("sent_at").as_primitive::<arrow::datatypes::Date32Type>(),
            col("recipients").as_primitive::<Int64Type>(),
        );
        let mut got: Vec<(String, String, i64)> = (0..t.num_rows())
            .filter(|i| types.value(*i) == "flow")
            .map(|i| {
                (
                    days.value_as_date(i).unwrap().to_string(),
                    ids.value(i).to_owned(),
                    recipients.value(i),
                )
            })
            .collect();
        let mut want: Vec<(String, String, i64)> = world
            .rows()
            .filter(|r| r.channel == "klaviyo" && r.message_type == MessageType::Flow)
            .map(|r| (r.date.to_string(), r.campaign_id.to_string(), r.impressions))
            .collect();
        got.sort();
        want.sort();
        assert!(!want.is_empty());
        assert_eq!(got, want, "UTC{hours:+}: (send day, flow, recipients)");
    }
}

// ---- the retry budget --------------------------------------------------------------

/// The standard world's Klaviyo pull with one campaign a page (about 45 listing pages)
/// behind fakes that throttle `rate` of the requests (429, `Retry-After: 2`).
async fn throttled_pull(
    rate: f64,
    retry: liftos_connectors::RetryConfig,
) -> (Totals, Result<RecordBatch, Error>, FakeServers) {
    let mut faults = FaultConfig::none()
        .with_throttle_rate(rate)
        .with_throttle_wait_secs(2)
        .with_seed(5);
    faults.klaviyo_page_size = 1;
    faults.klaviyo_report_page_size = 2;
    let (want, request, servers) = serve_world("klaviyo", faults).await;
    let c = builder(&servers, clock())
        .with_retry(retry)
        .build()
        .unwrap();
    let pulled = tokio::time::timeout(Duration::from_secs(60), c.get_campaign_data(&request))
        .await
        .expect("no hang");
    (want, pulled, servers)
}

fn throttles(servers: &FakeServers) -> usize {
    servers
        .requests_to("klaviyo")
        .iter()
        .filter(|r| r.fault == Some("throttle"))
        .count()
}

/// The audit's case: a listing of many pages with a share of its requests throttled
/// spends more retries in all than `max_retries`, yet no request needs many. With the
/// default settings the pull completes with every row (it gave up on main, "after 1
/// attempts (10 retries)").
#[tokio::test]
async fn a_long_pull_throttled_at_40_percent_completes_with_the_default_retries() {
    let retry = liftos_connectors::RetryConfig::default().with_seed(3);
    let max = retry.max_retries as usize;
    let (want, pulled, servers) = throttled_pull(0.4, retry).await;
    let t = pulled.unwrap_or_else(|e| panic!("pull failed: {e}"));
    let columns = ["recipients", "clicks", "placed_order_count", "revenue"];
    assert_world_totals(&t, want, sum(&t, "spend"), columns);
    let pages = report_calls(&servers, "/api/campaigns");
    assert!(pages >= 40, "a long listing: {pages} calls");
    let throttled = throttles(&servers);
    assert!(
        throttled > 2 * max,
        "more retries in all than max_retries ({max}): {throttled}"
    );
}

/// A request that never gets through stops after its own `max_retries`; the error says
/// how many attempts that request made and how many retries the pull spent in all.
#[tokio::test]
async fn a_request_that_keeps_failing_stops_after_its_own_retries() {
    let world = world();
    let request = full_range(&world);
    let servers = serve(world, FaultConfig::none().with_never_recover()).await;
    let c = builder(&servers, clock())
        .with_retry(fast_retry().with_max_retries(4))
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &request).await;
    let Error::RetriesExhausted {
        attempts, retries, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((*attempts, *retries), (5, 4), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("gave up after 5 attempts of one request")
            && text.contains("4 retries in the whole pull")
            && text.contains("`max_retries` = 4"),
        "{text}"
    );
    let refused = servers
        .requests_to("klaviyo")
        .iter()
        .filter(|r| r.fault == Some("never_recover"))
        .count();
    assert_eq!(refused, 5, "one request, 5 attempts");
}

/// Throttling so heavy that most requests need many retries exhausts the pull's total:
/// `max_retries` plus `retries_per_answer` for each answered request. The error names
/// that budget and its two settings; the retries it states are the ones the fakes saw
/// answered with a throttle and that were retried.
#[tokio::test]
async fn throttling_of_most_requests_exhausts_the_pulls_total_with_a_true_message() {
    let retry = liftos_connectors::RetryConfig::default()
        .with_seed(3)
        .with_max_retries(40);
    let (_, pulled, servers) = throttled_pull(0.85, retry).await;
    let err = pulled.unwrap_err();
    let Error::RetriesExhausted {
        retries, budget, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(retries, budget, "{err}");
    let answered = servers
        .requests_to("klaviyo")
        .iter()
        .filter(|r| r.status == 200)
        .count() as u32;
    assert_eq!(*budget, 40 + 2 * answered, "{err}");
    // Every throttled answer was retried but the last one.
    assert_eq!(throttles(&servers) as u32, retries + 1, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("the pull's budget") && text.contains("`retries_per_answer`"),
        "{text}"
    );
}
