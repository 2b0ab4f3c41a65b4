//! The fake Klaviyo API (JSON:API; accounts, metrics, campaigns, campaign values reports,
//! flows, daily flow series reports).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::{
    Call, Common, Fault, dropped_response, header_str, json_response, maybe_slow, param, params,
    unexpected,
};
use crate::{KlaviyoCampaign, KlaviyoCampaignValues, KlaviyoFlow, KlaviyoStatistics, World};

/// Id of the "Placed Order" metric in the fake.
pub(crate) const PLACED_ORDER_ID: &str = "RPLcdA";
const CHANNEL_FILTER: &str = "equals(messages.channel,'email')";
/// The campaigns filter listing archived email campaigns (left out without it).
const ARCHIVED_CHANNEL_FILTER: &str = "and(equals(messages.channel,'email'),equals(archived,true))";
/// The flows filter listing archived flows (left out without it).
const ARCHIVED_FILTER: &str = "equals(archived,true)";
/// Every this-many-th campaign (the 3rd, 7th, ...) and flow (the 2nd, 6th, ...) of the
/// world is archived: its sends and flow messages still count in the reports, but the
/// listings leave it out unless asked for archived ones, as Klaviyo does.
const ARCHIVED_EVERY: usize = 4;
/// Longest timeframe of a daily flow series report, in days.
const FLOW_SERIES_MAX_DAYS: i64 = 60;
/// Every flow of the world has two email messages; message 1 gets this share (in tenths)
/// of each day's whole-number statistics, message 2 the rest.
const FIRST_MESSAGE_TENTHS: i64 = 6;

#[derive(Debug)]
pub(crate) struct KlaviyoState {
    common: Common,
    campaigns: Vec<KlaviyoCampaign>,
    values: Vec<KlaviyoCampaignValues>,
    flows: Vec<KlaviyoFlow>,
    /// Per flow id, its statistics per send day.
    flow_days: HashMap<String, BTreeMap<NaiveDate, KlaviyoStatistics>>,
    account_id: String,
    currency: String,
    /// The campaign values and flow series reporting endpoints' calls (Klaviyo limits
    /// each endpoint on its own).
    reports: ReportCalls,
    flow_reports: ReportCalls,
}

/// The calls of one reporting endpoint.
#[derive(Debug, Default)]
struct ReportCalls {
    /// Calls today (the daily cap).
    today: AtomicUsize,
    /// Arrival of the last call (the steady rate limit).
    last: Mutex<Option<Instant>>,
}

pub(crate) fn router(world: Arc<World>, common: Common) -> Router {
    let campaigns = world.klaviyo_campaigns();
    let account_id = campaigns
        .first()
        .map(|c| c.account_id.clone())
        .unwrap_or_else(|| "Xk9Lp2".into());
    let currency = campaigns
        .first()
        .map(|c| c.currency.clone())
        .unwrap_or_else(|| "USD".into());
    let mut flow_days: HashMap<String, BTreeMap<NaiveDate, KlaviyoStatistics>> = HashMap::new();
    for d in world.klaviyo_flow_days() {
        if let Ok(day) = NaiveDate::parse_from_str(&d.date, "%Y-%m-%d") {
            flow_days
                .entry(d.flow_id)
                .or_default()
                .insert(day, d.statistics);
        }
    }
    let state = Arc::new(KlaviyoState {
        common,
        campaigns,
        values: world.klaviyo_campaign_values(),
        flows: world.klaviyo_flows(),
        flow_days,
        account_id,
        currency,
        reports: ReportCalls::default(),
        flow_reports: ReportCalls::default(),
    });
    Router::new().fallback(handle).with_state(state)
}

fn errors(status: u16, code: &str, title: &str, detail: &str) -> String {
    json!({ "errors": [{ "id": "e4b1c2d3-0000-4000-8000-000000000000", "status": status, "code": code,
        "title": title, "detail": detail, "source": { "pointer": "/data/" } }] })
    .to_string()
}

fn rate_headers(remaining: usize) -> Vec<(&'static str, String)> {
    vec![
        ("ratelimit-limit", "75".into()),
        ("ratelimit-remaining", remaining.to_string()),
        ("ratelimit-reset", "1".into()),
    ]
}

async fn handle(State(s): State<Arc<KlaviyoState>>, call: Call) -> Response {
    let (method, uri, headers, body) = call.into_parts();
    let c = &s.common;
    let path = uri.path().trim_end_matches('/').to_owned();
    let known = matches!(
        (&method, path.as_str()),
        (&Method::GET, "/api/accounts")
            | (&Method::GET, "/api/metrics")
            | (&Method::GET, "/api/campaigns")
            | (&Method::POST, "/api/campaign-values-reports")
            | (&Method::GET, "/api/flows")
            | (&Method::POST, "/api/flow-series-reports")
    );
    if !known {
        return unexpected(c, &method, &uri);
    }
    let respond = |status: StatusCode,
                   body: String,
                   fault: Option<&'static str>,
                   extra: Vec<(&'static str, String)>| {
        c.record(&method, &uri, status.as_u16(), fault);
        json_response(status, &extra, body)
    };
    match header_str(&headers, "authorization").and_then(|h| h.strip_prefix("Klaviyo-API-Key ")) {
        None => {
            return respond(
                StatusCode::UNAUTHORIZED,
                errors(
                    401,
                    "not_authenticated",
                    "Authentication credentials were not provided.",
                    "Missing or invalid authorization scheme. Please use Klaviyo-API-Key.",
                ),
                None,
                vec![],
            );
        }
        Some(k) if k != c.creds.klaviyo_api_key => {
            return respond(
                StatusCode::UNAUTHORIZED,
                errors(
                    401,
                    "authentication_failed",
                    "Incorrect authentication credentials.",
                    "Incorrect authentication credentials.",
                ),
                None,
                vec![],
            );
        }
        Some(_) => {}
    }
    let revision_ok = header_str(&headers, "revision").is_some_and(|r| {
        NaiveDate::parse_from_str(r.split('.').next().unwrap_or(r), "%Y-%m-%d").is_ok()
    });
    if !revision_ok {
        return respond(
            StatusCode::BAD_REQUEST,
            errors(
                400,
                "invalid",
                "Invalid input.",
                "The `revision` header is required and must be a date (YYYY-MM-DD).",
            ),
            None,
            vec![],
        );
    }
    let data_call = path != "/api/accounts" && path != "/api/metrics";
    let fault = if data_call {
        c.count_data_request();
        if c.faults.never_recover {
            return respond(
                StatusCode::SERVICE_UNAVAILABLE,
                errors(
                    503,
                    "service_unavailable",
                    "Service unavailable.",
                    "Try again later.",
                ),
                Some("never_recover"),
                vec![],
            );
        }
        c.roll()
    } else {
        None
    };
    match fault {
        Some(Fault::Throttle) => {
            let (status, body, h) = throttled(c.faults.throttle_wait_secs, "");
            return respond(status, body, Some("throttle"), h);
        }
        Some(Fault::ServerError(code)) => {
            let st = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return respond(
                st,
                errors(
                    code,
                    "error",
                    "A server error occurred.",
                    "A server error occurred.",
                ),
                Some("server_error"),
                vec![],
            );
        }
        _ => {}
    }
    let slow = maybe_slow(c, fault, &method, &uri).await;
    let p = params(&uri, None);
    let result = match path.as_str() {
        "/api/accounts" => Ok(
            json!({ "data": [{ "type": "account", "id": s.account_id, "attributes": {
            "contact_information": { "organization_name": "Sandbox Store" }, "industry": "Retail",
            "timezone": account_timezone(c.faults.klaviyo_utc_offset_hours),
            "preferred_currency": s.currency, "public_api_key": "PkFake" } }],
            "links": { "self": format!("{}/api/accounts", c.base_url) } })
            .to_string(),
        ),
        "/api/metrics" => Ok(metrics(&s)),
        "/api/campaigns" => campaigns(&s, &p),
        "/api/flows" => flows(&s, &p),
        "/api/flow-series-reports" => flow_series(&s, &p, &body),
        _ => report(&s, &p, &body),
    };
    let (status, body, extra) = match result {
        Ok(b) => (StatusCode::OK, b, rate_headers(74)),
        Err((st, b, h)) => (st, b, h),
    };
    if fault == Some(Fault::Drop) && status == StatusCode::OK {
        c.record(&method, &uri, 0, Some("drop"));
        return dropped_response(&extra, body);
    }
    respond(status, body, slow, extra)
}

/// A refused request: status, body, extra headers.
type Refusal = (StatusCode, String, Vec<(&'static str, String)>);
type Reply = Result<String, Refusal>;

fn metrics(s: &KlaviyoState) -> String {
    let m = |id: &str, name: &str| {
        json!({ "type": "metric", "id": id, "attributes": { "name": name,
        "created": "2023-01-01T00:00:00+00:00", "updated": "2023-01-01T00:00:00+00:00",
        "integration": { "object": "integration", "id": "0rG4eQ", "name": "Shopify", "category": "eCommerce" } } })
    };
    json!({ "data": [m("Y6Hmxn", "Opened Email"), m("VtCbMd", "Clicked Email"), m(PLACED_ORDER_ID, "Placed Order"), m("Xs4Zq2", "Active on Site")],
        "links": { "self": format!("{}/api/metrics", s.common.base_url), "next": null, "prev": null } })
    .to_string()
}

fn bad(detail: &str) -> Refusal {
    (
        StatusCode::BAD_REQUEST,
        errors(400, "invalid", "Invalid input.", detail),
        vec![],
    )
}

/// Whether the `i`-th campaign or flow of the world is archived in the fake.
fn archived(i: usize, offset: usize) -> bool {
    i % ARCHIVED_EVERY == offset
}

/// `GET /api/campaigns`: the channel filter is required; archived campaigns are listed
/// only (and alone) with `and(<channel filter>,equals(archived,true))`.
fn campaigns(s: &KlaviyoState, p: &[(String, String)]) -> Reply {
    let filter = param(p, "filter");
    let want_archived = match filter {
        Some(CHANNEL_FILTER) => false,
        Some(ARCHIVED_CHANNEL_FILTER) => true,
        _ => {
            return Err(bad(
                "A channel filter is required for this endpoint: filter=equals(messages.channel,'email')",
            ));
        }
    };
    let items: Vec<Value> = s
        .campaigns
        .iter()
        .enumerate()
        .filter(|(i, _)| archived(*i, 2) == want_archived)
        .map(|(i, c)| json!({ "type": "campaign", "id": c.id,
        "attributes": { "name": c.name, "status": c.status, "archived": archived(i, 2), "send_time": c.send_time,
            "created_at": c.created_at, "updated_at": c.updated_at, "scheduled_at": c.send_time },
        "links": { "self": format!("{}/api/campaigns/{}", s.common.base_url, c.id) } }))
        .collect();
    Ok(page(s, p, "campaigns", filter, &items))
}

/// `GET /api/flows`: archived flows are listed only (and alone) with
/// `filter=equals(archived,true)`.
fn flows(s: &KlaviyoState, p: &[(String, String)]) -> Reply {
    let filter = param(p, "filter");
    let want_archived = match filter {
        None => false,
        Some(ARCHIVED_FILTER) => true,
        Some(_) => {
            return Err(bad(
                "The fake Klaviyo serves GET /api/flows without a filter or with filter=equals(archived,true).",
            ));
        }
    };
    let items: Vec<Value> = s
        .flows
        .iter()
        .enumerate()
        .filter(|(i, f)| (f.archived || archived(*i, 1)) == want_archived)
        .map(|(i, f)| {
            json!({ "type": "flow", "id": f.id,
        "attributes": { "name": f.name, "status": f.status, "archived": f.archived || archived(i, 1),
            "created": f.created, "updated": f.updated, "trigger_type": f.trigger_type },
        "links": { "self": format!("{}/api/flows/{}", s.common.base_url, f.id) } })
        })
        .collect();
    Ok(page(s, p, "flows", filter, &items))
}

/// One JSON:API page of `items` with a `links.next` holding `page[cursor]`.
fn page(
    s: &KlaviyoState,
    p: &[(String, String)],
    resource: &str,
    filter: Option<&str>,
    items: &[Value],
) -> String {
    let offset = param(p, "page[cursor]")
        .and_then(|c| c.strip_prefix("bmV4dDo"))
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let size = s.common.faults.klaviyo_page_size.max(1);
    let data: Vec<&Value> = items.iter().skip(offset).take(size).collect();
    let end = offset + data.len();
    let next_offset = if s.common.faults.page_loop {
        offset
    } else {
        end
    };
    let base = format!("{}/api/{resource}", s.common.base_url);
    let link = |o: usize| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(f) = filter {
            q.append_pair("filter", f);
        }
        q.append_pair("page[cursor]", &format!("bmV4dDo{o}"));
        format!("{base}?{}", q.finish())
    };
    let next = if end < items.len() || s.common.faults.page_loop {
        json!(link(next_offset))
    } else {
        Value::Null
    };
    json!({ "data": data, "links": { "self": link(offset), "next": next, "prev": null } })
        .to_string()
}

/// Klaviyo's 429 asking to wait `wait` seconds (`retry-after`); `why` (a sentence with a
/// leading space, or nothing) is told before the wait.
fn throttled(wait: u64, why: &str) -> Refusal {
    let mut h = rate_headers(0);
    h.push(("retry-after", wait.to_string()));
    let detail = format!("Request was throttled.{why} Expected available in {wait} seconds.");
    let body = errors(429, "throttled", "Request was throttled.", &detail);
    (StatusCode::TOO_MANY_REQUESTS, body, h)
}

/// The steady-limit answer of a reporting endpoint called sooner than
/// `klaviyo_report_min_interval` after its previous call; a throttled call does not count.
fn steady_limit(s: &KlaviyoState, last: &Mutex<Option<Instant>>) -> Result<(), Refusal> {
    let min = s.common.faults.klaviyo_report_min_interval;
    let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    if let Some(t) = *last {
        let since = now.duration_since(t);
        if since < min {
            let wait = (min - since).as_secs_f64().ceil().max(1.0) as u64;
            return Err(throttled(wait, ""));
        }
    }
    *last = Some(now);
    Ok(())
}

/// The daily-cap answer of a reporting endpoint, if `counter` is past the cap.
fn over_daily_cap(s: &KlaviyoState, counter: &AtomicUsize) -> Result<usize, Refusal> {
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if n > s.common.faults.klaviyo_report_daily_cap {
        return Err(throttled(43_200, " Daily limit for this endpoint reached."));
    }
    Ok(n)
}

/// A call of the reporting endpoint whose `calls` these are: its limits (steady, then
/// daily) and its JSON body of `data.type` `kind`; the call's number against the daily
/// cap, and the body.
fn report_request(
    s: &KlaviyoState,
    calls: &ReportCalls,
    body: &[u8],
    kind: &str,
) -> Result<(usize, Value), Refusal> {
    steady_limit(s, &calls.last)?;
    let n = over_daily_cap(s, &calls.today)?;
    let v: Value =
        serde_json::from_slice(body).map_err(|_| bad("Request body is not valid JSON."))?;
    if v["data"]["type"] != kind {
        return Err(bad(&format!("data.type must be {kind}")));
    }
    Ok((n, v))
}

/// One page of a report's `results` and its `links`: at most `klaviyo_report_page_size`
/// results from the offset `page_cursor` names, and `links.next` (the same endpoint with
/// the next cursor; `null` on the last page) to be POSTed with the same body. A cursor
/// belongs to the request body it was issued for: one sent with another body is refused.
fn report_page(
    s: &KlaviyoState,
    p: &[(String, String)],
    endpoint: &str,
    request: &Value,
    results: Vec<Value>,
) -> Result<(Vec<Value>, Value), Refusal> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    request["data"].to_string().hash(&mut h);
    let key = format!("{:016x}", h.finish());
    let offset = match param(p, "page_cursor") {
        None => 0,
        Some(c) => c
            .split_once('.')
            .filter(|(k, _)| *k == key)
            .and_then(|(_, o)| o.parse::<usize>().ok())
            .filter(|o| *o <= results.len())
            .ok_or_else(|| {
                bad("page_cursor is invalid or belongs to another request; send the same body as the first page")
            })?,
    };
    let size = s.common.faults.klaviyo_report_page_size.max(1);
    let end = (offset + size).min(results.len());
    let next_offset = if s.common.faults.page_loop {
        offset
    } else {
        end
    };
    let url = format!("{}{endpoint}", s.common.base_url);
    let link = |o: usize| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("page_cursor", &format!("{key}.{o}"))
            .finish();
        format!("{url}?{q}")
    };
    let next = if end < results.len() || s.common.faults.page_loop {
        json!(link(next_offset))
    } else {
        Value::Null
    };
    let this = if offset == 0 {
        url.clone()
    } else {
        link(offset)
    };
    let page = results.into_iter().skip(offset).take(size).collect();
    Ok((page, json!({ "self": this, "next": next, "prev": null })))
}

/// The IANA name of the account time zone at `hours` from UTC: `UTC`, or `Etc/GMT-9`
/// for UTC+9 (the `Etc` zones' signs are inverted).
fn account_timezone(hours: i32) -> String {
    if hours == 0 {
        "UTC".into()
    } else {
        format!("Etc/GMT{:+}", -hours)
    }
}

/// The day part of `timeframe.start` / `timeframe.end`: the offset is ignored and the
/// company time zone is used, as Klaviyo documents.
fn timeframe_day(a: &Value, k: &str) -> Result<NaiveDate, Refusal> {
    let t = a["timeframe"][k]
        .as_str()
        .ok_or_else(|| bad(&format!("timeframe.{k} is required")))?;
    NaiveDate::parse_from_str(t.get(..10).unwrap_or(t), "%Y-%m-%d")
        .map_err(|_| bad(&format!("timeframe.{k} is not a datetime")))
}

fn statistics_of(a: &Value) -> Result<Vec<String>, Refusal> {
    let stats: Vec<String> = a["statistics"]
        .as_array()
        .map(|x| {
            x.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if stats.is_empty() {
        return Err(bad("statistics must not be empty"));
    }
    Ok(stats)
}

fn check_metric(a: &Value) -> Result<(), Refusal> {
    let metric = a["conversion_metric_id"]
        .as_str()
        .ok_or_else(|| bad("conversion_metric_id is required"))?;
    if metric != PLACED_ORDER_ID {
        return Err(bad(&format!("Metric {metric} not found")));
    }
    Ok(())
}

/// Message `k` (0 or 1) of a flow's day: its share of a whole number.
fn message_share(total: i64, k: usize) -> i64 {
    let first = total * FIRST_MESSAGE_TENTHS / 10;
    if k == 0 { first } else { total - first }
}

/// Statistic `name` of message `k` of a flow's day, as a JSON number (None: unknown name).
fn message_statistic(st: &KlaviyoStatistics, name: &str, k: usize) -> Option<Value> {
    let int = |x: i64| Some(json!(message_share(x, k)));
    match name {
        "recipients" => int(st.recipients),
        "delivered" => int(st.delivered),
        "opens_unique" => int(st.opens_unique),
        "clicks_unique" => int(st.clicks_unique),
        "unsubscribes" => int(st.unsubscribes),
        "bounced" => int(st.bounced),
        "conversions" => Some(json!(message_share(st.conversions.round() as i64, k) as f64)),
        "conversion_value" => {
            let cents = (st.conversion_value * 100.0).round() as i64;
            Some(json!(message_share(cents, k) as f64 / 100.0))
        }
        _ => None,
    }
}

/// `POST /api/flow-series-reports`: daily arrays aligned with `date_times`, one result per
/// flow email message that has a day in the timeframe, paged by `page_cursor`.
fn flow_series(s: &KlaviyoState, p: &[(String, String)], body: &[u8]) -> Reply {
    let (n, v) = report_request(s, &s.flow_reports, body, "flow-series-report")?;
    let a = &v["data"]["attributes"];
    match a["interval"].as_str() {
        Some("daily") => {}
        Some("hourly" | "weekly" | "monthly") => {
            return Err(bad("The fake Klaviyo serves interval `daily` only."));
        }
        _ => {
            return Err(bad(
                "interval must be one of daily, hourly, weekly, monthly",
            ));
        }
    }
    check_metric(a)?;
    if let Some(g) = a.get("group_by").filter(|g| !g.is_null()) {
        let mut got: Vec<&str> = g
            .as_array()
            .map(|x| x.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        got.sort_unstable();
        if got != ["flow_id", "flow_message_id", "send_channel"] {
            return Err(bad(
                "The fake Klaviyo groups flow series by flow_id, flow_message_id and send_channel only.",
            ));
        }
    }
    let (start, end) = (timeframe_day(a, "start")?, timeframe_day(a, "end")?);
    if end < start {
        return Err(bad("timeframe.end must not be before timeframe.start"));
    }
    if (end - start).num_days() + 1 > FLOW_SERIES_MAX_DAYS {
        return Err(bad(&format!(
            "The timeframe of a daily series may be at most {FLOW_SERIES_MAX_DAYS} days."
        )));
    }
    let stats = statistics_of(a)?;
    let days: Vec<NaiveDate> = start.iter_days().take_while(|d| *d <= end).collect();
    let mut results = Vec::new();
    let mut flow_refs = Vec::new();
    let mut message_refs = Vec::new();
    for f in &s.flows {
        let Some(series) = s.flow_days.get(&f.id) else {
            continue;
        };
        if series.range(start..=end).next().is_none() {
            continue;
        }
        flow_refs.push(json!({ "type": "flow", "id": f.id }));
        for k in 0..2 {
            let message_id = format!("01HF{}M{}", f.id.to_uppercase(), k + 1);
            message_refs.push(json!({ "type": "flow-message", "id": message_id }));
            let mut st = serde_json::Map::new();
            for name in &stats {
                let column: Option<Vec<Value>> = days
                    .iter()
                    .map(|d| match series.get(d) {
                        Some(x) => message_statistic(x, name, k),
                        None => message_statistic(&ZERO, name, k),
                    })
                    .collect();
                if let Some(column) = column {
                    st.insert(name.clone(), Value::Array(column));
                }
            }
            results.push(
                json!({ "groupings": { "flow_id": f.id, "send_channel": "email",
                "flow_message_id": message_id }, "statistics": st }),
            );
        }
    }
    // Each day's start (the company's midnight) as an instant in UTC: Klaviyo documents
    // RFC 3339 date-times (its example `2024-01-05T00:00:00+00:00`) over company days.
    let offset = chrono::Duration::hours(i64::from(s.common.faults.klaviyo_utc_offset_hours));
    let date_times: Vec<String> = days
        .iter()
        .map(|d| {
            (d.and_time(chrono::NaiveTime::MIN) - offset)
                .format("%Y-%m-%dT%H:%M:%S+00:00")
                .to_string()
        })
        .collect();
    let (results, links) = report_page(s, p, "/api/flow-series-reports", &v, results)?;
    Ok(
        json!({ "data": { "type": "flow-series-report", "id": format!("flow-report-{n}"),
        "attributes": { "results": results, "date_times": date_times },
        "relationships": { "flows": { "data": flow_refs }, "flow-messages": { "data": message_refs } } },
        "links": links })
        .to_string(),
    )
}

const ZERO: KlaviyoStatistics = KlaviyoStatistics {
    recipients: 0,
    delivered: 0,
    opens_unique: 0,
    clicks_unique: 0,
    conversions: 0.0,
    conversion_value: 0.0,
    unsubscribes: 0,
    bounced: 0,
};

/// `POST /api/campaign-values-reports`: one result per campaign message sent in the
/// timeframe, paged by `page_cursor`.
fn report(s: &KlaviyoState, p: &[(String, String)], body: &[u8]) -> Reply {
    let (n, v) = report_request(s, &s.reports, body, "campaign-values-report")?;
    let a = &v["data"]["attributes"];
    check_metric(a)?;
    let (start, end) = (timeframe_day(a, "start")?, timeframe_day(a, "end")?);
    if (end - start).num_days() > 366 {
        return Err(bad("The timeframe must be at most 1 year."));
    }
    let stats = statistics_of(a)?;
    let sent: std::collections::HashMap<&str, NaiveDate> = s
        .campaigns
        .iter()
        .filter_map(|c| {
            NaiveDate::parse_from_str(c.send_time.get(..10)?, "%Y-%m-%d")
                .ok()
                .map(|d| (c.id.as_str(), d))
        })
        .collect();
    let results: Vec<Value> = s
        .values
        .iter()
        .filter(|v| {
            sent.get(v.groupings.campaign_id.as_str())
                .is_some_and(|d| *d >= start && *d <= end)
        })
        .map(|v| {
            let all = serde_json::to_value(&v.statistics).unwrap_or(Value::Null);
            let mut st = serde_json::Map::new();
            for k in &stats {
                if let Some(x) = all.get(k) {
                    st.insert(k.clone(), x.clone());
                }
            }
            json!({ "groupings": v.groupings, "statistics": st })
        })
        .collect();
    let (results, links) = report_page(s, p, "/api/campaign-values-reports", &v, results)?;
    Ok(
        json!({ "data": { "type": "campaign-values-report", "id": format!("report-{n}"),
        "attributes": { "results": results }, "relationships": { "campaigns": { "data": [] } } },
        "links": links })
        .to_string(),
    )
}
