//! The fake Shopify Admin GraphQL API (shop, orders pages, bulk operations with a cost
//! bucket) and its separate "storage" origin that serves bulk results at signed URLs.
//!
//! The orders are generated from the world's business table: each day's revenue (in
//! cents) is split over the day's orders, so that the net sales of the non-test,
//! non-cancelled orders of each shop day equal [`World::business_table`]. Around them:
//! test orders and cancelled orders (to be left out), refunds (`currentTotalPriceSet`
//! net, `totalPriceSet` gross), a shop time zone that is not UTC (`America/New_York`,
//! `createdAt` in UTC so that evening orders fall on the next UTC day) and customers'
//! order positions (`customerJourneySummary.customerOrderIndex`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{
    Call, Common, Fault, dropped_response, header_str, hmac_hex, json_response, maybe_slow,
};
use crate::world::Intervention;
use crate::{Result, World};

/// The fake shop's IANA time zone.
pub const SHOPIFY_FAKE_TIMEZONE: &str = "America/New_York";
/// The fake shop's currency.
pub const SHOPIFY_FAKE_CURRENCY: &str = "USD";
/// Random stream of the order generator.
const ORDER_STREAM: u64 = 6 << 40;
/// Key the fake storage signs result URLs with.
const STORAGE_KEY: &str = "fake-storage-signing-key";
const INVALID_TOKEN: &str =
    "[API] Invalid API key or access token (unrecognized login or wrong password)";
/// Requested cost of an order node, of an orders page beyond its nodes, of the other
/// calls (as the connector documents them).
const NODE_COST: u64 = 4;
const PAGE_COST: u64 = 3;

/// One order of the fake shop.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopifyOrder {
    /// Numeric id (`gid://shopify/Order/{id}`), increasing with `created_at`.
    pub id: u64,
    /// Creation instant (UTC).
    pub created_at: DateTime<Utc>,
    /// The day of `created_at` in the shop's time zone.
    pub shop_date: NaiveDate,
    /// A test order.
    pub test: bool,
    /// Cancelled (then `cancelledAt` is one hour after creation).
    pub cancelled: bool,
    /// `currentTotalPriceSet` (after refunds), in cents.
    pub current_cents: i64,
    /// `totalPriceSet` (before refunds), in cents.
    pub total_cents: i64,
    /// `customerJourneySummary.customerOrderIndex` (1 = the customer's first order).
    pub customer_order_index: i64,
}

/// UTC offset, in hours, of America/New_York at a local time of 03:00 or later on `day`
/// (US rule since 2007: daylight time from the second Sunday of March to the first
/// Sunday of November, changing at 02:00 local).
fn eastern_offset_hours(day: NaiveDate) -> i64 {
    let y = day.year();
    let start = NaiveDate::from_weekday_of_month_opt(y, 3, Weekday::Sun, 2);
    let end = NaiveDate::from_weekday_of_month_opt(y, 11, Weekday::Sun, 1);
    match (start, end) {
        (Some(s), Some(e)) if day >= s && day < e => -4,
        _ => -5,
    }
}

impl ShopifyOrder {
    /// The order as the API returns it (the fields the LiftOS connector asks for, and
    /// `totalPriceSet` when `gross` is set); `malformed` writes the amount as a number,
    /// as no Shopify version does.
    fn to_json(&self, gross: bool, malformed: bool) -> Value {
        let money = |cents: i64| json!({ "shopMoney": { "amount": format_cents(cents), "currencyCode": SHOPIFY_FAKE_CURRENCY } });
        let mut current = money(self.current_cents);
        if malformed {
            current["shopMoney"]["amount"] = json!(self.current_cents as f64 / 100.0);
        }
        let mut o = json!({
            "id": format!("gid://shopify/Order/{}", self.id),
            "createdAt": self.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "test": self.test,
            "cancelledAt": self.cancelled.then(|| (self.created_at + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            "currentTotalPriceSet": current,
            "customerJourneySummary": { "customerOrderIndex": self.customer_order_index },
        });
        if gross {
            o["totalPriceSet"] = money(self.total_cents);
        }
        o
    }
}

fn format_cents(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

/// The fake shop's orders, sorted by creation: per day of the world, its orders
/// (revenue split over them, in cents), about one test order every other day and a
/// cancelled order about every third day.
///
/// # Errors
///
/// As [`World::business_days`].
pub fn shopify_orders(world: &World) -> Result<Vec<ShopifyOrder>> {
    let days = world.business_days(Intervention::None)?;
    let mut rng = ChaCha8Rng::seed_from_u64(world.config().seed);
    rng.set_stream(ORDER_STREAM);
    let mut out = Vec::new();
    for d in &days {
        let cents = (d.revenue * 100.0).round() as i64;
        let n = d.orders.max(0) as usize;
        let weights: Vec<f64> = (0..n).map(|_| 0.5 + rng.random::<f64>()).collect();
        let total: f64 = weights.iter().sum();
        let mut left = cents;
        let offset = eastern_offset_hours(d.date);
        let at = |rng: &mut ChaCha8Rng| {
            // Local 03:00..24:00: clear of the daylight-saving change at 02:00; evening
            // orders (after 19:00 or 20:00 local) are on the next UTC day.
            let secs = 3 * 3600 + rng.random_range(0..21 * 3600);
            let local = d.date.and_time(chrono::NaiveTime::MIN) + Duration::seconds(secs);
            (local - Duration::hours(offset)).and_utc()
        };
        for (i, w) in weights.iter().enumerate() {
            let amount = if i + 1 == n {
                left
            } else {
                ((cents as f64) * w / total).floor() as i64
            };
            left -= amount;
            let refund = if rng.random_bool(0.2) {
                rng.random_range(100..5000)
            } else {
                0
            };
            let index = if rng.random_bool(0.35) {
                1
            } else {
                rng.random_range(2..7)
            };
            out.push(ShopifyOrder {
                id: 0,
                created_at: at(&mut rng),
                shop_date: d.date,
                test: false,
                cancelled: false,
                current_cents: amount,
                total_cents: amount + refund,
                customer_order_index: index,
            });
        }
        // (chance, test, cancelled): a test order, then a cancelled one.
        for (chance, test, cancelled) in [(0.5, true, false), (0.33, false, true)] {
            if rng.random_bool(chance) {
                let amount = rng.random_range(1000..20000);
                out.push(ShopifyOrder {
                    id: 0,
                    created_at: at(&mut rng),
                    shop_date: d.date,
                    test,
                    cancelled,
                    current_cents: amount,
                    total_cents: amount,
                    customer_order_index: 1,
                });
            }
        }
    }
    out.sort_by_key(|o| o.created_at);
    for (i, o) in out.iter_mut().enumerate() {
        o.id = 5_100_000_000 + i as u64;
    }
    Ok(out)
}

#[derive(Debug)]
struct BulkOp {
    number: u64,
    polls: usize,
    lines: usize,
    denied: bool,
}

#[derive(Debug)]
struct Bucket {
    available: f64,
    at: Instant,
}

#[derive(Debug)]
pub(crate) struct ShopifyState {
    common: Common,
    orders: Vec<ShopifyOrder>,
    bucket: Mutex<Bucket>,
    bulk: Mutex<(u64, Option<BulkOp>)>,
    storage: Arc<StorageState>,
    pages: AtomicUsize,
}

#[derive(Debug)]
pub(crate) struct StorageState {
    common: Common,
    files: Mutex<HashMap<u64, String>>,
}

/// The routers of the API and of its storage origin.
pub(crate) fn routers(world: Arc<World>, common: Common, storage: Common) -> (Router, Router) {
    let orders = shopify_orders(&world).unwrap_or_default();
    let size = common.faults.shopify_bucket_size;
    let storage = Arc::new(StorageState {
        common: storage,
        files: Mutex::new(HashMap::new()),
    });
    let state = Arc::new(ShopifyState {
        common,
        orders,
        bucket: Mutex::new(Bucket {
            available: size,
            at: Instant::now(),
        }),
        bulk: Mutex::new((0, None)),
        storage: storage.clone(),
        pages: AtomicUsize::new(0),
    });
    (
        Router::new().fallback(handle).with_state(state),
        Router::new().fallback(storage_handle).with_state(storage),
    )
}

/// `(since, until)` of a `created_at:>='…' created_at:<'…'` search filter.
fn created_bounds(q: &str) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let after = |key: &str| -> Option<DateTime<Utc>> {
        let i = q.find(key)? + key.len();
        let rest = q[i..].trim_start_matches(['\'', '"', '\\']);
        let end = rest.find(['\'', '"', '\\', ' ']).unwrap_or(rest.len());
        DateTime::parse_from_rfc3339(&rest[..end])
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    (after("created_at:>="), after("created_at:<"))
}

impl ShopifyState {
    /// The orders a search filter matches, as the token sees them: without
    /// `read_all_orders`, only those of the last 60 days (before the sandbox clock's
    /// today when it is set), silently, as Shopify does.
    fn matching(&self, filter: &str) -> Vec<&ShopifyOrder> {
        let (since, until) = created_bounds(filter);
        let since = if self.has_scope("read_all_orders") {
            since
        } else {
            let now = self
                .common
                .clock
                .today()
                .map_or_else(Utc::now, |d| d.and_time(chrono::NaiveTime::MIN).and_utc());
            let window = now - Duration::days(60);
            Some(since.map_or(window, |s| s.max(window)))
        };
        self.orders
            .iter()
            .filter(|o| since.is_none_or(|s| o.created_at >= s))
            .filter(|o| until.is_none_or(|u| o.created_at < u))
            .collect()
    }

    /// Whether the token has `scope`, or a scope that implies it: a `write_` scope
    /// grants its `read_` scope (`write_orders` reads orders), and Shopify may list
    /// the `write_` scope alone.
    fn has_scope(&self, scope: &str) -> bool {
        let write = scope.strip_prefix("read_").map(|r| format!("write_{r}"));
        self.common
            .creds
            .shopify_scopes
            .iter()
            .any(|s| s == scope || write.as_deref() == Some(s.as_str()))
    }

    /// Refills the bucket and returns what it holds.
    fn refill(&self, b: &mut Bucket) {
        let f = &self.common.faults;
        let now = Instant::now();
        let secs = now.duration_since(b.at).as_secs_f64();
        b.available = (b.available + secs * f.shopify_restore_rate).min(f.shopify_bucket_size);
        b.at = now;
    }

    fn throttle_status(&self, available: f64) -> Value {
        let f = &self.common.faults;
        json!({ "maximumAvailable": f.shopify_bucket_size, "currentlyAvailable": available.floor() as i64,
            "restoreRate": f.shopify_restore_rate })
    }
}

fn errors_body(message: &str, code: &str, extra: Value, cost: Option<Value>) -> String {
    let mut ext =
        json!({ "code": code, "documentation": "https://shopify.dev/api/usage/rate-limits" });
    if let (Some(o), Value::Object(e)) = (ext.as_object_mut(), extra) {
        o.extend(e);
    }
    let mut body = json!({ "errors": [{ "message": message, "extensions": ext }] });
    if let Some(c) = cost {
        body["extensions"] = json!({ "cost": c });
    }
    body.to_string()
}

/// What one GraphQL document asks for.
enum Op {
    Shop,
    Orders { first: u64 },
    BulkRun,
    BulkPoll,
}

async fn handle(State(s): State<Arc<ShopifyState>>, call: Call) -> Response {
    let (method, uri, headers, body) = call.into_parts();
    let c = &s.common;
    let path = uri.path();
    let version_ok = path
        .strip_prefix("/admin/api/")
        .and_then(|p| p.strip_suffix("/graphql.json"))
        .is_some_and(|v| {
            v == "unstable"
                || (v.len() == 7
                    && NaiveDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d").is_ok())
        });
    if method != Method::POST || !version_ok {
        return super::unexpected(c, &method, &uri);
    }
    let respond = |status: StatusCode, body: String, fault: Option<&'static str>| {
        c.record(&method, &uri, status.as_u16(), fault);
        json_response(status, &[], body)
    };
    let token_ok = header_str(&headers, "x-shopify-access-token")
        .is_some_and(|t| t == c.creds.shopify_access_token);
    if !token_ok {
        return respond(
            StatusCode::UNAUTHORIZED,
            json!({ "errors": INVALID_TOKEN }).to_string(),
            None,
        );
    }
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return respond(
            StatusCode::BAD_REQUEST,
            json!({ "errors": { "query": "Required parameter missing or invalid" } }).to_string(),
            None,
        );
    };
    let query = doc["query"].as_str().unwrap_or_default();
    let vars = &doc["variables"];
    let op = if query.contains("bulkOperationRunQuery") {
        Op::BulkRun
    } else if query.contains("node(") {
        Op::BulkPoll
    } else if query.contains("orders(") {
        Op::Orders {
            first: vars["first"].as_u64().unwrap_or(0),
        }
    } else if query.contains("shop") {
        Op::Shop
    } else {
        return super::unexpected(c, &method, &uri);
    };
    let requested = match op {
        Op::Shop | Op::BulkPoll => 1,
        Op::BulkRun => 10,
        Op::Orders { first } => PAGE_COST + NODE_COST * first,
    };
    let data_call = !matches!(op, Op::Shop);
    let fault = if data_call {
        let n = c.count_data_request();
        if c.token_expired(n) {
            return respond(
                StatusCode::UNAUTHORIZED,
                json!({ "errors": INVALID_TOKEN }).to_string(),
                Some("expired_token"),
            );
        }
        if c.faults.never_recover {
            return respond(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "errors": "Service Unavailable" }).to_string(),
                Some("never_recover"),
            );
        }
        c.roll()
    } else {
        None
    };
    let max_cost = c.faults.shopify_max_query_cost;
    if requested > max_cost {
        let msg = format!(
            "Query cost is {requested}, which exceeds the single query max cost limit ({max_cost}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"
        );
        return respond(
            StatusCode::OK,
            errors_body(
                &msg,
                "MAX_COST_EXCEEDED",
                json!({ "cost": requested, "maxCost": max_cost }),
                None,
            ),
            None,
        );
    }
    match fault {
        Some(Fault::ServerError(code)) => {
            let st = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return respond(
                st,
                json!({ "errors": "Internal Server Error" }).to_string(),
                Some("server_error"),
            );
        }
        Some(Fault::Throttle) => {
            // Another client of the same app drained the shared bucket.
            let mut b = s.bucket.lock().unwrap_or_else(PoisonError::into_inner);
            s.refill(&mut b);
            b.available = 0.0;
            let cost = json!({ "requestedQueryCost": requested, "actualQueryCost": null,
                "throttleStatus": s.throttle_status(0.0) });
            drop(b);
            return respond(
                StatusCode::OK,
                errors_body("Throttled", "THROTTLED", json!({}), Some(cost)),
                Some("throttle"),
            );
        }
        _ => {}
    }
    // The leaky bucket: a query runs only when the bucket holds its requested cost.
    {
        let mut b = s.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        s.refill(&mut b);
        if (requested as f64) > b.available {
            let cost = json!({ "requestedQueryCost": requested, "actualQueryCost": null,
                "throttleStatus": s.throttle_status(b.available) });
            drop(b);
            return respond(
                StatusCode::OK,
                errors_body("Throttled", "THROTTLED", json!({}), Some(cost)),
                Some("bucket_throttle"),
            );
        }
        b.available -= requested as f64;
    }
    let slow = maybe_slow(c, fault, &method, &uri).await;
    let (data, actual, error) = match op {
        Op::Shop => (
            json!({ "shop": { "ianaTimezone": SHOPIFY_FAKE_TIMEZONE, "currencyCode": SHOPIFY_FAKE_CURRENCY },
                "currentAppInstallation": { "accessScopes": c.creds.shopify_scopes.iter()
                    .map(|h| json!({ "handle": h })).collect::<Vec<_>>() } }),
            1,
            None,
        ),
        Op::Orders { first } => orders_page(&s, query, vars, first),
        Op::BulkRun => bulk_run(&s, vars),
        Op::BulkPoll => bulk_poll(&s, vars),
    };
    // Unused requested cost goes back into the bucket.
    let available = {
        let mut b = s.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        s.refill(&mut b);
        b.available = (b.available + requested.saturating_sub(actual) as f64)
            .min(c.faults.shopify_bucket_size);
        b.available
    };
    let cost = json!({ "requestedQueryCost": requested, "actualQueryCost": actual,
        "throttleStatus": s.throttle_status(available) });
    let body = match error {
        Some(e) => {
            json!({ "errors": [e], "data": data, "extensions": { "cost": cost } }).to_string()
        }
        None => json!({ "data": data, "extensions": { "cost": cost } }).to_string(),
    };
    if fault == Some(Fault::Drop) {
        c.record(&method, &uri, 0, Some("drop"));
        return dropped_response(&[], body);
    }
    respond(StatusCode::OK, body, slow)
}

fn access_denied() -> Value {
    json!({ "message": "Access denied for orders field. Required access: `read_orders` access scope.",
        "locations": [{ "line": 1, "column": 90 }], "path": ["orders"],
        "extensions": { "code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes",
            "requiredAccess": "`read_orders` access scope." } })
}

/// One orders page: (data, actual cost, error).
fn orders_page(
    s: &ShopifyState,
    query: &str,
    vars: &Value,
    first: u64,
) -> (Value, u64, Option<Value>) {
    if !s.has_scope("read_orders") {
        return (Value::Null, PAGE_COST, Some(access_denied()));
    }
    let n = s.pages.fetch_add(1, Ordering::SeqCst) + 1;
    let malformed = s.common.faults.shopify_malformed_page == Some(n);
    let filter = vars["query"].as_str().unwrap_or_default();
    let all = s.matching(filter);
    let offset = vars["after"]
        .as_str()
        .and_then(|c| c.strip_prefix("eyJsYXN0X2lkIjo"))
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let end = (offset + first as usize).min(all.len());
    let gross = query.contains("totalPriceSet");
    let edges: Vec<Value> = all
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, o)| {
            json!({ "cursor": format!("eyJsYXN0X2lkIjo{}", offset + i + 1),
                "node": o.to_json(gross, malformed && i == 0) })
        })
        .collect();
    let next = if s.common.faults.page_loop {
        offset
    } else {
        end
    };
    let has_next = end < all.len() || s.common.faults.page_loop;
    let returned = edges.len() as u64;
    let data = json!({ "orders": { "edges": edges, "pageInfo": {
        "hasNextPage": has_next, "hasPreviousPage": offset > 0,
        "startCursor": format!("eyJsYXN0X2lkIjo{}", offset + 1),
        "endCursor": has_next.then(|| format!("eyJsYXN0X2lkIjo{next}")) } } });
    (data, PAGE_COST + NODE_COST * returned, None)
}

fn bulk_run(s: &ShopifyState, vars: &Value) -> (Value, u64, Option<Value>) {
    let inner = vars["query"].as_str().unwrap_or_default();
    let mut bulk = s.bulk.lock().unwrap_or_else(PoisonError::into_inner);
    let polls_needed = s.common.faults.async_polls_before_done.max(1);
    if let Some(op) = &bulk.1
        && op.polls < polls_needed
    {
        let msg = format!(
            "A bulk query operation for this app and shop is already in progress: gid://shopify/BulkOperation/{}.",
            op.number
        );
        let data = json!({ "bulkOperationRunQuery": { "bulkOperation": null,
            "userErrors": [{ "field": null, "message": msg }] } });
        return (data, 10, None);
    }
    bulk.0 += 1;
    let number = bulk.0;
    let denied = !s.has_scope("read_orders");
    let lines: Vec<String> = if denied {
        Vec::new()
    } else {
        s.matching(inner)
            .iter()
            .map(|o| {
                o.to_json(inner.contains("totalPriceSet"), false)
                    .to_string()
            })
            .collect()
    };
    let count = lines.len();
    if count > 0 {
        let mut text = lines.join("\n");
        text.push('\n');
        s.storage
            .files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number, text);
    }
    bulk.1 = Some(BulkOp {
        number,
        polls: 0,
        lines: count,
        denied,
    });
    let data = json!({ "bulkOperationRunQuery": { "bulkOperation": {
        "id": format!("gid://shopify/BulkOperation/{number}"), "status": "CREATED" }, "userErrors": [] } });
    (data, 10, None)
}

fn signed_path(number: u64) -> String {
    format!("/shopify-bulk/{number}.jsonl")
}

fn bulk_poll(s: &ShopifyState, vars: &Value) -> (Value, u64, Option<Value>) {
    let id = vars["id"].as_str().unwrap_or_default();
    let mut bulk = s.bulk.lock().unwrap_or_else(PoisonError::into_inner);
    let polls_needed = s.common.faults.async_polls_before_done.max(1);
    let Some(op) = bulk
        .1
        .as_mut()
        .filter(|op| id == format!("gid://shopify/BulkOperation/{}", op.number))
    else {
        return (json!({ "node": null }), 1, None);
    };
    op.polls += 1;
    let gid = format!("gid://shopify/BulkOperation/{}", op.number);
    let node = if op.polls < polls_needed {
        json!({ "id": gid, "status": "RUNNING", "errorCode": null,
            "objectCount": (op.lines * op.polls / polls_needed).to_string(), "url": null })
    } else if op.denied {
        json!({ "id": gid, "status": "FAILED", "errorCode": "ACCESS_DENIED", "objectCount": "0", "url": null })
    } else {
        let url = (op.lines > 0).then(|| {
            let path = signed_path(op.number);
            let expires = "1767225600";
            let sig = hmac_hex(STORAGE_KEY, &format!("{path}\n{expires}"));
            format!(
                "{}{path}?GoogleAccessId=fake-storage%40shopify-tiers.iam.gserviceaccount.com&Expires={expires}&Signature={sig}",
                s.storage.common.base_url
            )
        });
        json!({ "id": gid, "status": "COMPLETED", "errorCode": null,
            "objectCount": op.lines.to_string(), "url": url })
    };
    (json!({ "node": node }), 1, None)
}

fn xml(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/xml; charset=UTF-8")
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The storage origin: a result file for a valid signature, and never to a request that
/// carries a Shopify credential.
async fn storage_handle(State(s): State<Arc<StorageState>>, call: Call) -> Response {
    let (method, uri, headers, _) = call.into_parts();
    let c = &s.common;
    if headers.contains_key("x-shopify-access-token") || headers.contains_key(header::AUTHORIZATION)
    {
        c.record(&method, &uri, 400, Some("credential_sent"));
        return xml(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "A signed URL takes no other credential (a Shopify access token was sent).",
        );
    }
    let number = uri
        .path()
        .strip_prefix("/shopify-bulk/")
        .and_then(|p| p.strip_suffix(".jsonl"))
        .and_then(|n| n.parse::<u64>().ok());
    let (Some(number), true) = (number, method == Method::GET) else {
        return super::unexpected(c, &method, &uri);
    };
    let p = super::params(&uri, None);
    let expires = super::param(&p, "Expires").unwrap_or_default();
    let want = hmac_hex(STORAGE_KEY, &format!("{}\n{expires}", signed_path(number)));
    if super::param(&p, "Signature") != Some(want.as_str()) {
        c.record(&method, &uri, 403, None);
        return xml(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    if c.faults.shopify_expired_urls {
        c.record(&method, &uri, 400, None);
        return xml(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "Invalid argument: the signed URL has expired.",
        );
    }
    let file = s
        .files
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&number)
        .cloned();
    let Some(text) = file else {
        c.record(&method, &uri, 404, None);
        return xml(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    c.count_data_request();
    match c.roll() {
        Some(Fault::ServerError(code)) => {
            let st = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            c.record(&method, &uri, st.as_u16(), Some("server_error"));
            xml(
                st,
                "InternalError",
                "We encountered an internal error. Please try again.",
            )
        }
        Some(Fault::Drop) => {
            c.record(&method, &uri, 0, Some("drop"));
            dropped_response(&[], text)
        }
        _ => {
            c.record(&method, &uri, 200, None);
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/jsonl")
                .body(Body::from(text))
                .unwrap_or_else(|_| Response::new(Body::empty()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorldConfig;
    use std::collections::BTreeMap;

    #[test]
    fn net_sales_of_counted_orders_per_shop_day_equal_the_business_table() {
        let world = World::generate(&WorldConfig::standard(2).with_days(60).with_seed(5)).unwrap();
        let orders = shopify_orders(&world).unwrap();
        let mut per_day: BTreeMap<NaiveDate, (i64, i64)> = BTreeMap::new();
        let mut crossing = 0;
        for o in &orders {
            let local =
                (o.created_at + Duration::hours(eastern_offset_hours(o.shop_date))).date_naive();
            assert_eq!(local, o.shop_date);
            if o.created_at.date_naive() != o.shop_date {
                crossing += 1;
            }
            if !o.test && !o.cancelled {
                let t = per_day.entry(o.shop_date).or_default();
                t.0 += o.current_cents;
                t.1 += 1;
            }
        }
        assert!(crossing > 10, "orders cross UTC midnight: {crossing}");
        assert!(orders.iter().any(|o| o.test) && orders.iter().any(|o| o.cancelled));
        assert!(orders.iter().any(|o| o.total_cents > o.current_cents));
        for d in world.business_days(Intervention::None).unwrap() {
            let got = per_day.get(&d.date).copied().unwrap_or_default();
            assert_eq!(
                got,
                ((d.revenue * 100.0).round() as i64, d.orders),
                "{}",
                d.date
            );
        }
    }

    #[test]
    fn eastern_time_follows_the_us_rule() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(eastern_offset_hours(d("2024-01-15")), -5);
        assert_eq!(eastern_offset_hours(d("2024-03-09")), -5);
        assert_eq!(eastern_offset_hours(d("2024-03-10")), -4);
        assert_eq!(eastern_offset_hours(d("2024-11-02")), -4);
        assert_eq!(eastern_offset_hours(d("2024-11-03")), -5);
    }
}
