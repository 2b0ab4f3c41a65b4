//! The fake Klaviyo API (JSON:API; accounts, metrics, campaigns, campaign values reports).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::{
    Common, Fault, dropped_response, header_str, json_response, maybe_slow, param, params,
    unexpected,
};
use crate::{KlaviyoCampaign, KlaviyoCampaignValues, World};

/// Id of the "Placed Order" metric in the fake.
pub(crate) const PLACED_ORDER_ID: &str = "RPLcdA";
const CHANNEL_FILTER: &str = "equals(messages.channel,'email')";

#[derive(Debug)]
pub(crate) struct KlaviyoState {
    common: Common,
    campaigns: Vec<KlaviyoCampaign>,
    values: Vec<KlaviyoCampaignValues>,
    account_id: String,
    currency: String,
    reports: AtomicUsize,
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
    let state = Arc::new(KlaviyoState {
        common,
        campaigns,
        values: world.klaviyo_campaign_values(),
        account_id,
        currency,
        reports: AtomicUsize::new(0),
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

async fn handle(
    State(s): State<Arc<KlaviyoState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let c = &s.common;
    let path = uri.path().trim_end_matches('/').to_owned();
    let known = matches!(
        (&method, path.as_str()),
        (&Method::GET, "/api/accounts")
            | (&Method::GET, "/api/metrics")
            | (&Method::GET, "/api/campaigns")
            | (&Method::POST, "/api/campaign-values-reports")
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
            let wait = c.faults.throttle_wait_secs;
            let mut h = rate_headers(0);
            h.push(("retry-after", wait.to_string()));
            return respond(
                StatusCode::TOO_MANY_REQUESTS,
                errors(
                    429,
                    "throttled",
                    "Request was throttled.",
                    &format!("Request was throttled. Expected available in {wait} seconds."),
                ),
                Some("throttle"),
                h,
            );
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
            "timezone": "UTC", "preferred_currency": s.currency, "public_api_key": "PkFake" } }],
            "links": { "self": format!("{}/api/accounts", c.base_url) } })
            .to_string(),
        ),
        "/api/metrics" => Ok(metrics(&s)),
        "/api/campaigns" => campaigns(&s, &p),
        _ => report(&s, &body),
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

type Reply = Result<String, (StatusCode, String, Vec<(&'static str, String)>)>;

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

fn bad(detail: &str) -> (StatusCode, String, Vec<(&'static str, String)>) {
    (
        StatusCode::BAD_REQUEST,
        errors(400, "invalid", "Invalid input.", detail),
        vec![],
    )
}

fn campaigns(s: &KlaviyoState, p: &[(String, String)]) -> Reply {
    if param(p, "filter") != Some(CHANNEL_FILTER) {
        return Err(bad(
            "A channel filter is required for this endpoint: filter=equals(messages.channel,'email')",
        ));
    }
    let offset = param(p, "page[cursor]")
        .and_then(|c| c.strip_prefix("bmV4dDo"))
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let size = s.common.faults.klaviyo_page_size.max(1);
    let page: Vec<Value> = s.campaigns.iter().skip(offset).take(size).map(|c| json!({ "type": "campaign", "id": c.id,
        "attributes": { "name": c.name, "status": c.status, "archived": false, "send_time": c.send_time,
            "created_at": c.created_at, "updated_at": c.updated_at, "scheduled_at": c.send_time },
        "links": { "self": format!("{}/api/campaigns/{}", s.common.base_url, c.id) } })).collect();
    let end = offset + page.len();
    let next_offset = if s.common.faults.page_loop {
        offset
    } else {
        end
    };
    let base = format!("{}/api/campaigns", s.common.base_url);
    let link = |o: usize| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("filter", CHANNEL_FILTER)
            .append_pair("page[cursor]", &format!("bmV4dDo{o}"))
            .finish();
        format!("{base}?{q}")
    };
    let next = if end < s.campaigns.len() || s.common.faults.page_loop {
        json!(link(next_offset))
    } else {
        Value::Null
    };
    Ok(
        json!({ "data": page, "links": { "self": link(offset), "next": next, "prev": null } })
            .to_string(),
    )
}

fn report(s: &KlaviyoState, body: &[u8]) -> Reply {
    let n = s.reports.fetch_add(1, Ordering::SeqCst) + 1;
    if n > s.common.faults.klaviyo_report_daily_cap {
        let mut h = rate_headers(0);
        h.push(("retry-after", "43200".into()));
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            errors(
                429,
                "throttled",
                "Request was throttled.",
                "Request was throttled. Daily limit for this endpoint reached. Expected available in 43200 seconds.",
            ),
            h,
        ));
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|_| bad("Request body is not valid JSON."))?;
    let a = &v["data"]["attributes"];
    if v["data"]["type"] != "campaign-values-report" {
        return Err(bad("data.type must be campaign-values-report"));
    }
    let metric = a["conversion_metric_id"]
        .as_str()
        .ok_or_else(|| bad("conversion_metric_id is required"))?;
    if metric != PLACED_ORDER_ID {
        return Err(bad(&format!("Metric {metric} not found")));
    }
    let day = |k: &str| -> Result<NaiveDate, _> {
        let t = a["timeframe"][k]
            .as_str()
            .ok_or_else(|| bad(&format!("timeframe.{k} is required")))?;
        NaiveDate::parse_from_str(t.get(..10).unwrap_or(t), "%Y-%m-%d")
            .map_err(|_| bad(&format!("timeframe.{k} is not a datetime")))
    };
    let (start, end) = (day("start")?, day("end")?);
    if (end - start).num_days() > 366 {
        return Err(bad("The timeframe must be at most 1 year."));
    }
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
    Ok(
        json!({ "data": { "type": "campaign-values-report", "id": format!("report-{n}"),
        "attributes": { "results": results }, "relationships": { "campaigns": { "data": [] } } },
        "links": { "self": format!("{}/api/campaign-values-reports", s.common.base_url) } })
        .to_string(),
    )
}
