//! The fake Google Ads REST API (OAuth token endpoint and `googleAds:searchStream`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use liftos_core::platforms::google_json_name;
use serde_json::{Map, Value, json};

use super::{
    Call, Common, Fault, OAuthApi, OAuthTokens, dropped_response, header_str, json_response,
    maybe_slow, unexpected,
};
use crate::{GoogleAdsRow, World};

#[derive(Debug)]
pub(crate) struct GoogleState {
    common: Common,
    rows: Vec<GoogleAdsRow>,
    /// Issued tokens with the data-request count at issue time.
    oauth: OAuthTokens,
}

pub(crate) fn router(world: Arc<World>, common: Common) -> Router {
    let state = Arc::new(GoogleState {
        common,
        rows: world.google_ads_rows(),
        oauth: OAuthTokens::default(),
    });
    Router::new().fallback(handle).with_state(state)
}

/// The major versions the real API serves on 2026-12-06: v22 was sunset on 2026-10-07,
/// v23 sunsets in February 2027, v26 is the newest
/// (<https://developers.google.com/google-ads/api/docs/sunset-dates>).
const SERVED_VERSIONS: std::ops::RangeInclusive<u32> = 23..=26;

/// The major version of a path segment such as `v26`.
fn major_version(seg: &str) -> Option<u32> {
    let digits = seg.strip_prefix('v')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn g_error(code: u16, status: &str, message: &str, detail: Option<Value>) -> String {
    let mut err = json!({ "code": code, "message": message, "status": status });
    if let Some(d) = detail {
        err["details"] = json!([{
            "@type": format!(
                "type.googleapis.com/google.ads.googleads.v{}.errors.GoogleAdsFailure",
                SERVED_VERSIONS.end()
            ),
            "errors": [d],
            "requestId": "fake-request-id"
        }]);
    }
    json!({ "error": err }).to_string()
}

async fn handle(State(s): State<Arc<GoogleState>>, call: Call) -> Response {
    let c = &s.common;
    if call.is_post_to("/token") {
        return s.oauth.answer(c, OAuthApi::Google, &call);
    }
    let (method, uri, headers, body) = call.into_parts();
    let path = uri.path().trim_matches('/');
    let segs: Vec<&str> = path.split('/').collect();
    let stream_call = method == Method::POST
        && segs.len() == 4
        && major_version(segs[0]).is_some()
        && segs[1] == "customers"
        && segs[3] == "googleAds:searchStream";
    if !stream_call {
        return unexpected(c, &method, &uri);
    }
    // A version that is sunset (or not released) is not served at all, whatever the
    // credentials: the real API answers 404 before looking at the request.
    if !major_version(segs[0]).is_some_and(|v| SERVED_VERSIONS.contains(&v)) {
        c.record(&method, &uri, 404, None);
        let message = format!(
            "Version {} is deprecated. Requests to this version will be blocked.",
            segs[0]
        );
        return json_response(
            StatusCode::NOT_FOUND,
            &[],
            g_error(404, "UNIMPLEMENTED", &message, None),
        );
    }
    let cid = segs[2];
    let n = c.count_data_request();
    let respond = |status: StatusCode, body: String, fault: Option<&'static str>| {
        c.record(&method, &uri, status.as_u16(), fault);
        json_response(status, &[], body)
    };
    // Authentication.
    let issued_at = s.oauth.issued_at(&headers);
    let Some(issued_at) = issued_at else {
        return respond(
            StatusCode::UNAUTHORIZED,
            g_error(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access token.",
                None,
            ),
            None,
        );
    };
    if let Some(after) = c.faults.expire_token_after
        && n > after
        && issued_at < after
    {
        return respond(
            StatusCode::UNAUTHORIZED,
            g_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
                None,
            ),
            Some("expired_token"),
        );
    }
    if header_str(&headers, "developer-token") != Some(c.creds.google_developer_token.as_str()) {
        return respond(
            StatusCode::UNAUTHORIZED,
            g_error(
                401,
                "UNAUTHENTICATED",
                "The developer token is not valid.",
                Some(
                    json!({"errorCode": {"authenticationError": "DEVELOPER_TOKEN_INVALID"}, "message": "The developer token is not valid."}),
                ),
            ),
            None,
        );
    }
    if let Some(login) = &c.creds.google_login_customer_id
        && header_str(&headers, "login-customer-id") != Some(login.as_str())
    {
        return respond(
            StatusCode::FORBIDDEN,
            g_error(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                Some(
                    json!({"errorCode": {"authorizationError": "USER_PERMISSION_DENIED"},
                    "message": "User doesn't have permission to access customer. Note: If you're accessing a client customer, the manager's customer id must be set in the 'login-customer-id' header."}),
                ),
            ),
            None,
        );
    }
    if c.faults.never_recover {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            g_error(
                503,
                "UNAVAILABLE",
                "The service is currently unavailable.",
                None,
            ),
            Some("never_recover"),
        );
    }
    let fault = c.roll();
    match fault {
        Some(Fault::Throttle) => {
            let detail = json!({
                "errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
                "message": "Too many requests. Retry in 2 seconds.",
                "details": {"quotaErrorDetails": {"rateScope": "DEVELOPER", "rateName": "Number of operations for basic access", "retryDelay": format!("{}s", c.faults.throttle_wait_secs)}}
            });
            return respond(
                StatusCode::TOO_MANY_REQUESTS,
                g_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "Resource has been exhausted (e.g. check quota).",
                    Some(detail),
                ),
                Some("throttle"),
            );
        }
        Some(Fault::ServerError(code)) => {
            let st = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let detail = json!({"errorCode": {"internalError": "TRANSIENT_ERROR"}, "message": "The request failed due to a transient error."});
            return respond(
                st,
                g_error(
                    code,
                    if code == 503 {
                        "UNAVAILABLE"
                    } else {
                        "INTERNAL"
                    },
                    "Internal error encountered.",
                    Some(detail),
                ),
                Some("server_error"),
            );
        }
        _ => {}
    }
    let slow = maybe_slow(c, fault, &method, &uri).await;
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return respond(
                StatusCode::BAD_REQUEST,
                g_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Invalid JSON payload received.",
                    None,
                ),
                None,
            );
        }
    };
    let Some(query) = req["query"].as_str() else {
        return respond(
            StatusCode::BAD_REQUEST,
            g_error(400, "INVALID_ARGUMENT", "query is required", None),
            None,
        );
    };
    let body = match search_stream(&s, cid, query) {
        Ok(b) => b,
        Err(b) => return respond(StatusCode::BAD_REQUEST, b, None),
    };
    if fault == Some(Fault::Drop) {
        c.record(&method, &uri, 0, Some("drop"));
        return dropped_response(&[], body);
    }
    respond(StatusCode::OK, body, slow)
}

/// A query `FROM customer` (no date segment): the customer's own row, with the fields
/// it has (`customer.id`, `customer.descriptive_name`, `customer.currency_code`,
/// `customer.time_zone`); `None` for another resource.
fn customer_query(s: &GoogleState, cid: &str, query: &str) -> Option<Result<String, String>> {
    let q = query.split_whitespace().collect::<Vec<_>>().join(" ");
    let upper = q.to_ascii_uppercase();
    let from = upper.find(" FROM ")?;
    let resource = q[from + 6..].split_whitespace().next()?;
    if resource != "customer" {
        return None;
    }
    let Some(select) = upper.find("SELECT ").filter(|i| *i < from) else {
        return Some(Err("query must start with SELECT".into()));
    };
    let row = s.rows.iter().find(|r| r.customer.id == cid);
    let mut customer = Map::new();
    customer.insert("resourceName".into(), json!(format!("customers/{cid}")));
    let mut mask = Vec::new();
    for f in q[select + 7..from].split(',').map(str::trim) {
        let value = match f {
            "customer.id" => json!(cid),
            "customer.descriptive_name" => json!(format!("Sandbox customer {cid}")),
            "customer.currency_code" => {
                json!(row.map_or("USD", |r| r.customer.currency_code.as_str()))
            }
            "customer.time_zone" => json!(s.common.faults.google_time_zone),
            _ => {
                return Some(Err(format!("Unrecognized field in the query: '{f}'.")));
            }
        };
        let leaf = f.trim_start_matches("customer.");
        customer.insert(google_json_name(leaf), value);
        mask.push(format!("customer.{}", google_json_name(leaf)));
    }
    // A customer the caller cannot reach has no row (the real API refuses it earlier, with
    // USER_PERMISSION_DENIED); a known one, exactly one.
    let results = if row.is_some() {
        vec![json!({ "customer": customer })]
    } else {
        Vec::new()
    };
    Some(Ok(json!([{ "results": results, "fieldMask": mask.join(","), "requestId": "fake-request-id" }]).to_string()))
}

/// Parses the small GAQL subset the fake understands.
fn parse_gaql(query: &str) -> Result<(Vec<String>, String, String, String), String> {
    let q = query.split_whitespace().collect::<Vec<_>>().join(" ");
    let upper = q.to_ascii_uppercase();
    let sel = upper
        .find("SELECT ")
        .ok_or("query must start with SELECT")?;
    let from = upper.find(" FROM ").ok_or("query has no FROM clause")?;
    let fields: Vec<String> = q[sel + 7..from]
        .split(',')
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    let rest = &q[from + 6..];
    let resource = rest
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let between = upper
        .find("SEGMENTS.DATE BETWEEN ")
        .ok_or("this fake needs WHERE segments.date BETWEEN 'a' AND 'b'")?;
    let tail = &q[between + 22..];
    let quoted: Vec<&str> = tail.split('\'').collect();
    if quoted.len() < 4 {
        return Err("malformed date range".into());
    }
    Ok((fields, resource, quoted[1].to_owned(), quoted[3].to_owned()))
}

fn search_stream(s: &GoogleState, cid: &str, query: &str) -> Result<String, String> {
    let query_error = |m: &str| {
        // Errors inside a stream come array-wrapped, like the real REST searchStream.
        let detail = json!({"errorCode": {"queryError": "UNRECOGNIZED_FIELD"}, "message": m});
        format!(
            "[{}]",
            g_error(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                Some(detail)
            )
        )
    };
    if let Some(body) = customer_query(s, cid, query) {
        return body.map_err(|m| query_error(&m));
    }
    let (fields, resource, since, until) = parse_gaql(query).map_err(|m| query_error(&m))?;
    if resource != "campaign" && resource != "ad_group" {
        return Err(query_error(&format!(
            "resource {resource} is not served by this fake (campaign, ad_group)"
        )));
    }
    for f in &fields {
        let ok = f.starts_with("customer.")
            || f.starts_with("campaign.")
            || f.starts_with("metrics.")
            || f == "segments.date"
            || (resource == "ad_group" && f.starts_with("ad_group."));
        if !ok {
            return Err(query_error(&format!(
                "Unrecognized field in the query: '{f}'."
            )));
        }
    }
    let mut results = Vec::new();
    for r in s
        .rows
        .iter()
        .filter(|r| r.customer.id == cid && r.segments.date >= since && r.segments.date <= until)
    {
        // The clock (off by default): nothing after today, the last days still growing.
        let Some(m) = s.common.clock.maturity(&r.segments.date) else {
            continue;
        };
        let mut full = serde_json::to_value(r).unwrap_or(Value::Null);
        full["customer"]["timeZone"] = json!(s.common.faults.google_time_zone);
        if m < 1.0 {
            let c = (r.metrics.conversions * m * 100.0).floor() / 100.0;
            let v = (r.metrics.conversions_value * m * 100.0).floor() / 100.0;
            full["metrics"]["conversions"] = json!(c);
            full["metrics"]["conversionsValue"] = json!(v);
        }
        let mut out = Map::new();
        for f in &fields {
            let mut parts = f.splitn(2, '.');
            let (obj, leaf) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            let (obj_key, value) = if obj == "ad_group" {
                let v = match leaf {
                    "id" => json!(format!("{}1", r.campaign.id)),
                    "name" => json!(format!("{} - ad group", r.campaign.name)),
                    _ => Value::Null,
                };
                ("adGroup".to_owned(), v)
            } else {
                (obj.to_owned(), full[obj][google_json_name(leaf)].clone())
            };
            if value.is_null() {
                continue;
            }
            let entry = out.entry(obj_key.clone()).or_insert_with(|| json!({}));
            entry[google_json_name(leaf)] = value;
            if obj_key == "campaign" {
                entry["resourceName"] = json!(r.campaign.resource_name);
            } else if obj_key == "customer" {
                entry["resourceName"] = json!(r.customer.resource_name);
            } else if obj_key == "adGroup" {
                entry["resourceName"] =
                    json!(format!("customers/{cid}/adGroups/{}1", r.campaign.id));
            }
        }
        results.push(Value::Object(out));
    }
    let mask = fields
        .iter()
        .map(|f| {
            f.split('.')
                .map(google_json_name)
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect::<Vec<_>>()
        .join(",");
    let batches: Vec<Value> = results
        .chunks(s.common.faults.google_batch_size.max(1))
        .map(|chunk| json!({ "results": chunk, "fieldMask": mask, "requestId": "fake-request-id" }))
        .collect();
    let batches = if batches.is_empty() {
        vec![json!({ "fieldMask": mask, "requestId": "fake-request-id" })]
    } else {
        batches
    };
    Ok(Value::Array(batches).to_string())
}

impl Common {
    /// Data requests seen so far.
    pub(crate) fn data_requests_seen(&self) -> usize {
        self.data_requests.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaql_subset_parses_fields_resource_and_dates() {
        let (f, r, a, b) = parse_gaql(
            "SELECT campaign.id, metrics.cost_micros FROM campaign WHERE segments.date BETWEEN '2024-01-01' AND '2024-01-31' ORDER BY segments.date",
        )
        .unwrap();
        assert_eq!(f, vec!["campaign.id", "metrics.cost_micros"]);
        assert_eq!(
            (r.as_str(), a.as_str(), b.as_str()),
            ("campaign", "2024-01-01", "2024-01-31")
        );
        assert_eq!(google_json_name("cost_micros"), "costMicros");
    }
}
