//! The fake TikTok Business API: `GET /open_api/v1.3/advertiser/info/` and the synchronous
//! integrated report `GET /open_api/v1.3/report/integrated/get/`.
//!
//! As the real API: the `Access-Token` header; list parameters as JSON arrays in the
//! query; every answer HTTP 200 with a `code` in the body (0 success, 40100 too many
//! requests, 40105 an invalid or expired access token, 40001 no permission on the
//! advertiser, 40002 a bad parameter, 50000 a system error); `stat_time_day` at most 30
//! days per request; `page_size` at most 1000; metrics as strings; `page_info` with
//! `total_number` and `total_page`. A 503 fault answers a gateway page, not JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::{
    Call, Common, Fault, dropped_response, group_by, header_str, json_response, maybe_slow, param,
    params, unexpected,
};
use crate::{TikTokReportRow, World};

/// Longest `stat_time_day` range of one report request, in days.
const MAX_DAYS: i64 = 30;
/// Largest `page_size`.
const MAX_PAGE_SIZE: usize = 1000;
/// Metrics the fake serves (the report's metric names).
const METRICS: &[&str] = &[
    "campaign_name",
    "spend",
    "impressions",
    "clicks",
    "complete_payment",
    "total_complete_payment_rate",
    "conversion",
    "cpc",
    "cpm",
    "ctr",
];

#[derive(Debug)]
pub(crate) struct TikTokState {
    common: Common,
    /// Rows per advertiser, in unified order.
    by_advertiser: BTreeMap<String, Vec<TikTokReportRow>>,
}

pub(crate) fn router(world: Arc<World>, common: Common) -> Router {
    let state = Arc::new(TikTokState {
        common,
        by_advertiser: group_by(world.tiktok_rows(), |r| r.advertiser_id.clone()),
    });
    Router::new().fallback(handle).with_state(state)
}

/// The body of a TikTok answer.
fn body(code: u64, message: &str, data: Value) -> String {
    json!({
        "code": code,
        "message": message,
        "request_id": "20241201000000FAKE",
        "data": data,
    })
    .to_string()
}

fn error(code: u64, message: &str) -> String {
    body(code, message, json!({}))
}

async fn handle(State(s): State<Arc<TikTokState>>, call: Call) -> Response {
    let (method, uri, headers, _) = call.into_parts();
    let c = &s.common;
    let path = uri.path().trim_end_matches('/');
    let report = path == "/open_api/v1.3/report/integrated/get";
    let info = path == "/open_api/v1.3/advertiser/info";
    if method != Method::GET || !(report || info) {
        return unexpected(c, &method, &uri);
    }
    let p = params(&uri, None);
    let respond = |body: String, fault: Option<&'static str>| {
        c.record(&method, &uri, 200, fault);
        json_response(StatusCode::OK, &[], body)
    };
    if header_str(&headers, "access-token") != Some(c.creds.tiktok_access_token.as_str()) {
        return respond(
            error(40105, "The access token is invalid or has been revoked."),
            None,
        );
    }
    if info {
        return respond(advertiser_info(&s, &p), None);
    }
    let n = c.count_data_request();
    if c.token_expired(n) {
        return respond(
            error(40105, "Access token has expired. Please refresh it."),
            Some("expired_token"),
        );
    }
    if c.faults.never_recover {
        return respond(error(50000, "System error"), Some("never_recover"));
    }
    let fault = c.roll();
    match fault {
        Some(Fault::Throttle) => {
            return respond(
                error(
                    40100,
                    "Too many requests. The request frequency exceeds the limit; please retry later.",
                ),
                Some("throttle"),
            );
        }
        Some(Fault::ServerError(503)) => {
            c.record(&method, &uri, 503, Some("server_error"));
            return Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header("content-type", "text/html")
                .body("<html><body>503 Service Temporarily Unavailable</body></html>".into())
                .unwrap_or_else(|_| Response::new(axum::body::Body::empty()));
        }
        Some(Fault::ServerError(_)) => {
            return respond(error(50000, "System error"), Some("server_error"));
        }
        _ => {}
    }
    let slow = maybe_slow(c, fault, &method, &uri).await;
    let answer = integrated_report(&s, &p);
    if fault == Some(Fault::Drop) {
        c.record(&method, &uri, 0, Some("drop"));
        return dropped_response(&[], answer);
    }
    c.record(&method, &uri, 200, slow);
    json_response(StatusCode::OK, &[], answer)
}

/// A list parameter: a JSON array of strings.
fn json_list(p: &[(String, String)], key: &str) -> Result<Vec<String>, String> {
    let raw = param(p, key)
        .ok_or_else(|| error(40002, &format!("{key}: Missing data for required field.")))?;
    serde_json::from_str::<Vec<String>>(raw)
        .map_err(|_| error(40002, &format!("{key}: Not a valid list.")))
}

fn advertiser_info(s: &TikTokState, p: &[(String, String)]) -> String {
    let ids = match json_list(p, "advertiser_ids") {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    let mut list = Vec::new();
    for id in &ids {
        let Some(rows) = s.by_advertiser.get(id) else {
            return error(
                40001,
                &format!("No permission to operate advertiser {id}, or it does not exist."),
            );
        };
        list.push(json!({
            "advertiser_id": id,
            "name": format!("Advertiser {id}"),
            "currency": rows.first().map_or("USD", |r| r.currency.as_str()),
            "timezone": "America/New_York",
            "status": "STATUS_ENABLE",
        }));
    }
    body(0, "OK", json!({ "list": list }))
}

fn integrated_report(s: &TikTokState, p: &[(String, String)]) -> String {
    match report_page(s, p) {
        Ok(b) | Err(b) => b,
    }
}

fn report_page(s: &TikTokState, p: &[(String, String)]) -> Result<String, String> {
    let bad = |m: &str| error(40002, m);
    let advertiser = param(p, "advertiser_id")
        .ok_or_else(|| bad("advertiser_id: Missing data for required field."))?;
    let Some(rows) = s.by_advertiser.get(advertiser) else {
        return Err(error(
            40001,
            &format!("No permission to operate advertiser {advertiser}, or it does not exist."),
        ));
    };
    if param(p, "report_type") != Some("BASIC") {
        return Err(bad("report_type: the fake serves BASIC reports only."));
    }
    if param(p, "data_level") != Some("AUCTION_CAMPAIGN") {
        return Err(bad(
            "data_level: the fake serves AUCTION_CAMPAIGN reports only.",
        ));
    }
    let dimensions = json_list(p, "dimensions")?;
    if dimensions != ["campaign_id", "stat_time_day"]
        && dimensions != ["stat_time_day", "campaign_id"]
    {
        return Err(bad(
            "dimensions: the fake serves [\"campaign_id\", \"stat_time_day\"] only.",
        ));
    }
    let metrics = json_list(p, "metrics")?;
    if let Some(m) = metrics.iter().find(|m| !METRICS.contains(&m.as_str())) {
        return Err(bad(&format!("metrics: Invalid metric field: {m}")));
    }
    let date = |key: &str| {
        param(p, key)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .ok_or_else(|| bad(&format!("{key}: Not a valid date (YYYY-MM-DD).")))
    };
    let (start, end) = (date("start_date")?, date("end_date")?);
    if end < start {
        return Err(bad("end_date: must not be earlier than start_date."));
    }
    if (end - start).num_days() + 1 > MAX_DAYS {
        return Err(bad(
            "The time span between start_date and end_date cannot exceed 30 days when stat_time_day is a dimension.",
        ));
    }
    let page: usize = match param(p, "page") {
        None => 1,
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad("page: Must be greater than or equal to 1."))?,
    };
    let page_size: usize = match param(p, "page_size") {
        None => 10,
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| bad("page_size: Must be between 1 and 1000."))?,
    };
    let (lo, hi) = (format!("{start} 00:00:00"), format!("{end} 00:00:00"));
    let selected: Vec<&TikTokReportRow> = rows
        .iter()
        .filter(|r| r.stat_time_day >= lo && r.stat_time_day <= hi)
        .collect();
    let total = selected.len();
    let total_page = total.div_ceil(page_size);
    let list: Vec<Value> = selected
        .iter()
        .skip((page - 1).saturating_mul(page_size))
        .take(page_size)
        .map(|r| {
            let mut m = Map::new();
            for name in &metrics {
                m.insert(name.clone(), Value::String(metric(r, name)));
            }
            json!({
                "dimensions": { "campaign_id": r.campaign_id, "stat_time_day": r.stat_time_day },
                "metrics": m,
            })
        })
        .collect();
    Ok(body(
        0,
        "OK",
        json!({
            "list": list,
            "page_info": {
                "page": page,
                "page_size": page_size,
                "total_number": total,
                "total_page": total_page,
            }
        }),
    ))
}

fn ratio(a: f64, b: f64, scale: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b * scale)
    } else {
        "0.00".into()
    }
}

fn metric(r: &TikTokReportRow, name: &str) -> String {
    let num = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    match name {
        "campaign_name" => r.campaign_name.clone(),
        "spend" => r.spend.clone(),
        "impressions" => r.impressions.clone(),
        "clicks" => r.clicks.clone(),
        "complete_payment" | "conversion" => r.complete_payment.clone(),
        "total_complete_payment_rate" => r.total_complete_payment_rate.clone(),
        "cpc" => ratio(num(&r.spend), num(&r.clicks), 1.0),
        "cpm" => ratio(num(&r.spend), num(&r.impressions), 1000.0),
        "ctr" => ratio(num(&r.clicks), num(&r.impressions), 100.0),
        _ => String::new(),
    }
}
