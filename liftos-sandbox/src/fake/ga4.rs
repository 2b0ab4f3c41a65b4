//! The fake Google Analytics 4 Data API: `POST /v1beta/properties/{id}:runReport` and an
//! OAuth token endpoint (`POST /token`, the refresh-token grant).
//!
//! As the real API: a bearer token from the refresh flow; one date range; dimensions
//! `date` (`YYYYMMDD`) and `sessionDefaultChannelGroup`; metrics `sessions`, `keyEvents`
//! (`conversions`, its name before 2024, is accepted too) and `totalRevenue`, every value
//! a string; `limit` (at most 250,000) and `offset` paging with `rowCount`;
//! `metadata.currencyCode`; `propertyQuota` when `returnPropertyQuota` is true; errors as
//! `{"error": {"code", "message", "status"}}`: 401 `UNAUTHENTICATED`, 403
//! `PERMISSION_DENIED` for another property, 400 `INVALID_ARGUMENT`, 429
//! `RESOURCE_EXHAUSTED` when throttled.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    Call, Common, Fault, OAuthApi, OAuthTokens, dropped_response, json_response, maybe_slow,
    unexpected,
};
use crate::{Ga4Row, World};

const MAX_LIMIT: u64 = 250_000;
const TOKENS_PER_DAY: u64 = 200_000;

#[derive(Debug)]
pub(crate) struct Ga4State {
    common: Common,
    rows: Vec<Ga4Row>,
    oauth: OAuthTokens,
    consumed: AtomicUsize,
}

pub(crate) fn router(world: Arc<World>, common: Common) -> Router {
    let state = Arc::new(Ga4State {
        common,
        rows: world.ga4_rows().unwrap_or_default(),
        oauth: OAuthTokens::default(),
        consumed: AtomicUsize::new(0),
    });
    Router::new().fallback(handle).with_state(state)
}

fn g_error(status: StatusCode, name: &str, message: &str) -> (StatusCode, String) {
    (
        status,
        json!({ "error": { "code": status.as_u16(), "message": message, "status": name } })
            .to_string(),
    )
}

async fn handle(State(s): State<Arc<Ga4State>>, call: Call) -> Response {
    let c = &s.common;
    if call.is_post_to("/token") {
        return s.oauth.answer(c, OAuthApi::Ga4, &call);
    }
    let (method, uri, headers, body) = call.into_parts();
    let property = uri
        .path()
        .strip_prefix("/v1beta/properties/")
        .and_then(|rest| rest.strip_suffix(":runReport"));
    let Some(property) = property.filter(|_| method == Method::POST) else {
        return unexpected(c, &method, &uri);
    };
    let n = c.count_data_request();
    let respond = |(status, body): (StatusCode, String), fault: Option<&'static str>| {
        c.record(&method, &uri, status.as_u16(), fault);
        json_response(status, &[], body)
    };
    let issued_at = s.oauth.issued_at(&headers);
    let Some(issued_at) = issued_at else {
        return respond(
            g_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            ),
            None,
        );
    };
    if let Some(after) = c.faults.expire_token_after
        && n > after
        && issued_at < after
    {
        return respond(
            g_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            ),
            Some("expired_token"),
        );
    }
    if property != c.creds.ga4_property_id {
        return respond(
            g_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "User does not have sufficient permissions for this property. To learn more about Property ID, see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.",
            ),
            None,
        );
    }
    let fault = c.roll();
    match fault {
        Some(Fault::Throttle) => {
            return respond(
                g_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RESOURCE_EXHAUSTED",
                    "Exhausted concurrent requests quota.",
                ),
                Some("throttle"),
            );
        }
        Some(Fault::ServerError(code)) => {
            let st = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let name = if code == 503 {
                "UNAVAILABLE"
            } else {
                "INTERNAL"
            };
            return respond(
                g_error(st, name, "The service is currently unavailable."),
                Some("server_error"),
            );
        }
        _ => {}
    }
    let slow = maybe_slow(c, fault, &method, &uri).await;
    let (status, answer) = run_report(&s, &body);
    if fault == Some(Fault::Drop) && status == StatusCode::OK {
        c.record(&method, &uri, 0, Some("drop"));
        return dropped_response(&[], answer);
    }
    c.record(&method, &uri, status.as_u16(), slow);
    json_response(status, &[], answer)
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn run_report(s: &Ga4State, body: &[u8]) -> (StatusCode, String) {
    let bad = |m: &str| g_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", m);
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return bad("Invalid JSON payload received.");
    };
    let ranges = req["dateRanges"].as_array().cloned().unwrap_or_default();
    if ranges.len() != 1 {
        return bad("The fake serves exactly one date range.");
    }
    let day = |k: &str| {
        ranges[0][k]
            .as_str()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .map(|d| d.format("%Y%m%d").to_string())
    };
    let (Some(start), Some(end)) = (day("startDate"), day("endDate")) else {
        return bad("dateRanges: startDate and endDate must be YYYY-MM-DD.");
    };
    let names = |k: &str| -> Vec<String> {
        req[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect()
    };
    let (dims, metrics) = (names("dimensions"), names("metrics"));
    for d in &dims {
        if d != "date" && d != "sessionDefaultChannelGroup" {
            return bad(&format!("Field {d} is not a valid dimension."));
        }
    }
    if metrics.is_empty() {
        return bad("At least one metric is required.");
    }
    for m in &metrics {
        if !["sessions", "keyEvents", "conversions", "totalRevenue"].contains(&m.as_str()) {
            return bad(&format!("Field {m} is not a valid metric."));
        }
    }
    let limit = match req.get("limit").map(number) {
        None => 10_000,
        Some(Some(l)) if (1..=MAX_LIMIT).contains(&l) => l,
        Some(_) => return bad("limit must be positive and at most 250000."),
    };
    let offset = match req.get("offset").map(number) {
        None => 0,
        Some(Some(o)) => o,
        Some(None) => return bad("offset must be a non-negative integer."),
    };
    // Aggregate to the requested dimensions.
    let mut acc: BTreeMap<Vec<String>, (i64, f64, i64)> = BTreeMap::new();
    for r in s.rows.iter().filter(|r| r.date >= start && r.date <= end) {
        let key: Vec<String> = dims
            .iter()
            .map(|d| {
                if d == "date" {
                    r.date.clone()
                } else {
                    r.channel_group.clone()
                }
            })
            .collect();
        let e = acc.entry(key).or_default();
        e.0 += r.sessions;
        e.1 += r.key_events;
        e.2 += (r.total_revenue * 100.0).round() as i64;
    }
    let total = acc.len();
    let rows: Vec<Value> = acc
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(key, (sessions, events, cents))| {
            let values: Vec<Value> = metrics
                .iter()
                .map(|m| {
                    let v = match m.as_str() {
                        "sessions" => sessions.to_string(),
                        "totalRevenue" => {
                            let c = *cents;
                            format!("{}.{:02}", c / 100, c % 100)
                        }
                        _ => events.to_string(),
                    };
                    json!({ "value": v })
                })
                .collect();
            json!({
                "dimensionValues": key.iter().map(|k| json!({ "value": k })).collect::<Vec<_>>(),
                "metricValues": values,
            })
        })
        .collect();
    let used = s.consumed.fetch_add(10, Ordering::SeqCst) as u64 + 10;
    let mut out = json!({
        "dimensionHeaders": dims.iter().map(|d| json!({ "name": d })).collect::<Vec<_>>(),
        "metricHeaders": metrics.iter().map(|m| json!({
            "name": m,
            "type": match m.as_str() {
                "sessions" => "TYPE_INTEGER",
                "totalRevenue" => "TYPE_CURRENCY",
                _ => "TYPE_FLOAT",
            }
        })).collect::<Vec<_>>(),
        "metadata": { "currencyCode": "USD", "timeZone": "America/New_York" },
        "kind": "analyticsData#runReport",
    });
    if !rows.is_empty() {
        out["rows"] = Value::Array(rows);
        out["rowCount"] = json!(total);
    }
    if req["returnPropertyQuota"].as_bool() == Some(true) {
        out["propertyQuota"] = json!({
            "tokensPerDay": { "consumed": 10, "remaining": TOKENS_PER_DAY.saturating_sub(used) },
            "tokensPerHour": { "consumed": 10, "remaining": 40_000u64.saturating_sub(used) },
            "concurrentRequests": { "consumed": 0, "remaining": 10 },
        });
    }
    (StatusCode::OK, out.to_string())
}
