//! A generic JSON API over the world's rows, paged in each of the four common styles, for
//! the declarative REST connector.
//!
//! `GET /v1/{style}/campaign-days?start=YYYY-MM-DD&end=YYYY-MM-DD[&account=ID]` with
//! `Authorization: Bearer <token>` (the fixed API token, or one issued by
//! `POST /oauth/token` for a refresh token). One record per world row (every channel), in
//! unified order:
//!
//! | style | page size | next page | records at |
//! |---|---|---|---|
//! | `cursor` | `limit` | `meta.next_cursor`, sent back as `cursor` | `data` |
//! | `next` | `page_size` | `links.next` (a full URL) | `results` |
//! | `offset` | `limit` | `offset` + rows; `total` | `items` |
//! | `page` | `per_page` | `page` + 1 up to `paging.total_pages` | `rows` |
//!
//! At most 100 records a page. Faults as for the platforms: 429 with `Retry-After: 1`,
//! 500/503, dropped connections, slow answers, and tokens that expire (401).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::{
    Call, Common, Fault, OAuthApi, OAuthTokens, dropped_response, header_str, json_response,
    maybe_slow, param, params, unexpected,
};
use crate::World;

const MAX_PAGE: usize = 100;

#[derive(Debug)]
pub(crate) struct RestState {
    common: Common,
    /// (date, account, record) in unified order.
    rows: Vec<(NaiveDate, String, Value)>,
    /// Issued OAuth tokens with the data-request count at issue time.
    oauth: OAuthTokens,
}

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

pub(crate) fn router(world: Arc<World>, common: Common) -> Router {
    let rows = world
        .rows()
        .map(|r| {
            let c = cents(r.spend);
            let record = json!({
                "date": r.date.format("%Y-%m-%d").to_string(),
                "account": r.account_id,
                "channel": r.channel,
                "campaign": { "id": r.campaign_id, "name": r.campaign },
                "currency": r.currency,
                "spend": format!("{}.{:02}", c / 100, c % 100),
                "impressions": r.impressions,
                "clicks": r.clicks.to_string(),
                "conversions": r.conversions,
                "revenue": r.revenue,
            });
            (r.date, r.account_id.to_owned(), record)
        })
        .collect();
    let state = Arc::new(RestState {
        common,
        rows,
        oauth: OAuthTokens::default(),
    });
    Router::new().fallback(handle).with_state(state)
}

fn error(status: StatusCode, message: &str) -> (StatusCode, String) {
    (status, json!({ "error": message }).to_string())
}

async fn handle(State(s): State<Arc<RestState>>, call: Call) -> Response {
    let c = &s.common;
    if call.is_post_to("/oauth/token") {
        return s.oauth.answer(c, OAuthApi::Rest, &call);
    }
    let (method, uri, headers, _) = call.into_parts();
    let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let style = match segs.as_slice() {
        ["v1", style, "campaign-days"]
            if method == Method::GET && ["cursor", "next", "offset", "page"].contains(style) =>
        {
            *style
        }
        _ => return unexpected(c, &method, &uri),
    };
    let n = c.count_data_request();
    let respond = |(status, body): (StatusCode, String), fault: Option<&'static str>| {
        c.record(&method, &uri, status.as_u16(), fault);
        json_response(status, &[], body)
    };
    let fixed = header_str(&headers, "authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|b| b == c.creds.rest_api_token);
    let issued_at = if fixed {
        Some(0)
    } else {
        s.oauth.issued_at(&headers)
    };
    let Some(issued_at) = issued_at else {
        return respond(
            error(StatusCode::UNAUTHORIZED, "invalid or missing bearer token"),
            None,
        );
    };
    if let Some(after) = c.faults.expire_token_after
        && n > after
        && issued_at < after
    {
        return respond(
            error(StatusCode::UNAUTHORIZED, "the access token has expired"),
            Some("expired_token"),
        );
    }
    let fault = c.roll();
    match fault {
        Some(Fault::Throttle) => {
            c.record(&method, &uri, 429, Some("throttle"));
            return json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &[("retry-after", "1".to_owned())],
                json!({ "error": "rate limit exceeded" }).to_string(),
            );
        }
        Some(Fault::ServerError(code)) => {
            let st = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return respond(error(st, "internal error"), Some("server_error"));
        }
        _ => {}
    }
    let slow = maybe_slow(c, fault, &method, &uri).await;
    let p = params(&uri, None);
    let (status, answer) = page(&s, style, &p);
    if fault == Some(Fault::Drop) && status == StatusCode::OK {
        c.record(&method, &uri, 0, Some("drop"));
        return dropped_response(&[], answer);
    }
    c.record(&method, &uri, status.as_u16(), slow);
    json_response(status, &[], answer)
}

fn page(s: &RestState, style: &str, p: &[(String, String)]) -> (StatusCode, String) {
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, m);
    let date = |k: &str| param(p, k).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let (Some(start), Some(end)) = (date("start"), date("end")) else {
        return bad("start and end (YYYY-MM-DD) are required");
    };
    let account = param(p, "account");
    let size_key = match style {
        "next" => "page_size",
        "page" => "per_page",
        _ => "limit",
    };
    let size = match param(p, size_key).map(str::parse::<usize>) {
        None => 25,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => return bad(&format!("{size_key} must be between 1 and {MAX_PAGE}")),
    };
    let selected: Vec<&Value> = s
        .rows
        .iter()
        .filter(|(d, a, _)| *d >= start && *d <= end && account.is_none_or(|x| x == a))
        .map(|(_, _, r)| r)
        .collect();
    let total = selected.len();
    let number = |k: &str| -> Result<usize, (StatusCode, String)> {
        match param(p, k) {
            None => Ok(0),
            Some(v) => v
                .trim_start_matches('c')
                .parse()
                .map_err(|_| bad(&format!("{k}: `{v}` is not valid"))),
        }
    };
    let offset = match style {
        "cursor" => number("cursor"),
        "next" => number("page_token"),
        "offset" => number("offset"),
        _ => match param(p, "page").map(str::parse::<usize>) {
            None => Ok(0),
            Some(Ok(n)) if n >= 1 => Ok((n - 1) * size),
            Some(_) => Err(bad("page must be at least 1")),
        },
    };
    let offset = match offset {
        Ok(o) => o,
        Err(e) => return e,
    };
    let records: Vec<Value> = selected
        .iter()
        .skip(offset)
        .take(size)
        .map(|r| (*r).clone())
        .collect();
    let after = offset + records.len();
    let more = after < total;
    let body = match style {
        "cursor" => json!({
            "data": records,
            "meta": { "next_cursor": more.then(|| format!("c{after}")) },
        }),
        "next" => {
            let next = more.then(|| {
                let mut q = url::form_urlencoded::Serializer::new(String::new());
                q.append_pair("start", &start.to_string())
                    .append_pair("end", &end.to_string());
                if let Some(a) = account {
                    q.append_pair("account", a);
                }
                q.append_pair("page_size", &size.to_string())
                    .append_pair("page_token", &after.to_string());
                format!("{}/v1/next/campaign-days?{}", s.common.base_url, q.finish())
            });
            json!({ "results": records, "links": { "next": next } })
        }
        "offset" => json!({ "items": records, "total": total }),
        _ => json!({
            "rows": records,
            "paging": { "page": offset / size + 1, "total_pages": total.div_ceil(size) },
        }),
    };
    (StatusCode::OK, body.to_string())
}
