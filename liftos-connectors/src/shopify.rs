//! Shopify Admin GraphQL API: the shop's own orders as a daily business-outcome table.
//!
//! Facts from Shopify's documentation (shopify.dev, Admin GraphQL):
//! - `POST https://{shop}.myshopify.com/admin/api/{version}/graphql.json` with the header
//!   `X-Shopify-Access-Token`; a wrong or revoked token answers HTTP 401.
//! - Rate limits are a leaky bucket of query cost per app and shop: every answer carries
//!   `extensions.cost { requestedQueryCost, actualQueryCost, throttleStatus {
//!   maximumAvailable, currentlyAvailable, restoreRate } }`; an empty bucket answers
//!   HTTP 200 with `errors[].extensions.code = "THROTTLED"` and no `Retry-After`. A single
//!   query may cost at most 1000 (`MAX_COST_EXCEEDED`); `first` is at most 250.
//! - `shop { ianaTimezone currencyCode }`; `Order.createdAt` is UTC; `Order.test`,
//!   `Order.cancelledAt`; `currentTotalPriceSet` is the total after returns and refunds
//!   (`totalPriceSet` is the original total); `shopMoney` is in the shop's currency.
//! - `Order.customerJourneySummary.customerOrderIndex`: "the position of the current order
//!   within the customer's order history. Test orders aren't included" (1 = the
//!   customer's first order).
//! - Bulk operations: `bulkOperationRunQuery` → poll the operation's `status` (`CREATED`,
//!   `RUNNING`, `COMPLETED`, `FAILED`, `CANCELED`, `EXPIRED`; `errorCode` such as
//!   `ACCESS_DENIED`) → download the JSONL at `url`, a signed URL on Shopify's storage
//!   (another origin), valid seven days; `url` is null when nothing matched. An app runs
//!   one bulk query at a time per shop.
//! - Reading orders needs the `read_orders` scope (or `write_orders`, which implies it and
//!   may be listed alone); "only the last 60 days' worth of orders
//!   from a store are accessible from the Order object by default", older ones need
//!   `read_all_orders` (`currentAppInstallation { accessScopes { handle } }` lists a
//!   token's scopes).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::builder::required_secret;
use crate::http::{
    HttpCore, Progress, PullBudget, Redactor, Reply, Verdict, base_str, config_error, paginate,
    platform_wait, validate_base_url, whole_range_stream,
};
use crate::{Connector, ConnectorRequest, Error, RecordBatchStream, Result};

const SOURCE: &str = "shopify";
/// Default Admin API version (a stable quarterly release).
pub const SHOPIFY_DEFAULT_API_VERSION: &str = "2025-10";
/// Default longest range, in days, pulled with cursor pages; longer ranges use a bulk
/// operation.
pub const SHOPIFY_DEFAULT_BULK_THRESHOLD_DAYS: u32 = 31;
/// Largest single-query cost Shopify accepts (`MAX_COST_EXCEEDED` above it).
pub const SHOPIFY_MAX_QUERY_COST: u64 = 1000;
/// Requested cost of one order node as this connector queries it: the order, its
/// `currentTotalPriceSet` and `shopMoney` objects and its `customerJourneySummary`.
const ORDER_NODE_COST: u64 = 4;
/// Requested cost of an orders page beyond its nodes: the connection (2) and `pageInfo`.
const PAGE_OVERHEAD_COST: u64 = 3;
/// Default orders per page (requested cost 3 + 4 × 200 = 803).
const DEFAULT_PAGE_SIZE: u64 = 200;

const ORDER_FIELDS: &str = "id createdAt test cancelledAt \
    currentTotalPriceSet { shopMoney { amount currencyCode } } \
    customerJourneySummary { customerOrderIndex }";
const SHOP_QUERY: &str = "query LiftosShop { shop { ianaTimezone currencyCode } \
    currentAppInstallation { accessScopes { handle } } }";
/// Days of orders a token without `read_all_orders` sees.
const DEFAULT_ORDER_WINDOW_DAYS: i64 = 60;
const BULK_MUTATION: &str = "mutation LiftosBulkOrders($query: String!) { \
    bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message } } }";
const BULK_POLL: &str = "query LiftosBulkPoll($id: ID!) { node(id: $id) { \
    ... on BulkOperation { id status errorCode objectCount url } } }";

/// The orders page query.
fn orders_query() -> String {
    format!(
        "query LiftosOrders($first: Int!, $after: String, $query: String!) {{ \
         orders(first: $first, after: $after, query: $query, sortKey: CREATED_AT) {{ \
         edges {{ node {{ {ORDER_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    )
}

/// The query a bulk operation runs (no `first`: a bulk query reads every node).
fn bulk_query(filter: &str) -> String {
    format!(
        "{{ orders(query: \"{filter}\", sortKey: CREATED_AT) {{ edges {{ node {{ {ORDER_FIELDS} }} }} }} }}"
    )
}

crate::keys::config_table! {
    /// Settings of a [`ShopifyConnector`] as a config table (serde).
    ///
    /// Every field is optional here; [`ShopifyBuilder::build`] names what is missing.
    /// [`KEYS`](Self::KEYS) lists each one with its variable.
    pub struct ShopifyConfig {
        /// The shop's name (`{shop}.myshopify.com`).
        shop: Option<String> => Text.env("LIFTOS_SHOPIFY_SHOP").required();
        /// Admin API access token.
        access_token: Option<SecretString>
            => Text.env("LIFTOS_SHOPIFY_ACCESS_TOKEN").secret().required();
        /// Replaces `https://{shop}.myshopify.com`.
        base_url: Option<String> => Text.env("LIFTOS_SHOPIFY_BASE_URL");
        /// Admin API version (`YYYY-MM`).
        api_version: Option<String> => Text.env("LIFTOS_SHOPIFY_API_VERSION");
        /// Longest range pulled with cursor pages, in days (default 31).
        bulk_threshold_days: Option<u32> => Count.env("LIFTOS_SHOPIFY_BULK_THRESHOLD_DAYS");
        /// Orders per page (default 200, at most 249).
        page_size: Option<u64> => Count.env("LIFTOS_SHOPIFY_PAGE_SIZE");
        /// First wait between two polls of a bulk operation, in seconds (default 1; doubles
        /// up to 30).
        bulk_poll_secs: Option<f64> => Number.env("LIFTOS_SHOPIFY_BULK_POLL_SECS");
    }
}

crate::builder::http_builder_type! {
    /// Builder of a [`ShopifyConnector`].
    ///
    /// | Name | Default | Meaning | Range |
    /// |---|---|---|---|
    /// | `shop` | — (required) | shop name, `{shop}.myshopify.com` (the full host is accepted too) | letters, digits, `-` |
    /// | `access_token` | — (required) | Admin API token, sent as `X-Shopify-Access-Token` | non-empty |
    /// | `base_url` | `https://{shop}.myshopify.com` | API host (http only on loopback) | URL |
    /// | `api_version` | `2025-10` | Admin API version | `YYYY-MM` or `unstable` |
    /// | `bulk_threshold_days` | 31 | ranges longer than this run as one bulk operation; shorter ones as cursor pages | ≥ 0 |
    /// | `page_size` | 200 | orders per page (`first`); the requested cost 3 + 4 × `first` stays ≤ 1000 | 1..=249 |
    /// | `bulk_poll` | 1 s | first wait between polls of a bulk operation, doubling up to 30 s | > 0 |
    /// | `retry` | [`RetryConfig::default`](crate::RetryConfig::default) | retries, timeouts, deadline, body limit | — |
    ///
    /// `from_env` reads the variables of [`ShopifyConfig::KEYS`]: `LIFTOS_SHOPIFY_SHOP`,
    /// `LIFTOS_SHOPIFY_ACCESS_TOKEN`, `…_BASE_URL`, `…_API_VERSION`,
    /// `…_BULK_THRESHOLD_DAYS`, `…_PAGE_SIZE`, `…_BULK_POLL_SECS`.
    pub struct ShopifyBuilder(ShopifyConfig) {
        bulk_poll: Duration = Duration::from_secs(1),
    }
    default_base_url: "https://{shop}.myshopify.com";
    from_config(b) {
        let secs = b.config.bulk_poll_secs;
        if let Some(d) = b.base.seconds("bulk_poll_secs", secs, true) {
            b.bulk_poll = d;
        }
    }
}

impl ShopifyBuilder {
    liftos_core::setters! {
        /// Sets the shop name (`{shop}.myshopify.com`).
        with_shop(shop: impl Into<String>) => self.config.shop = Some(shop.into());
        /// Sets the Admin API access token.
        with_access_token(access_token: impl Into<SecretString>)
            => self.config.access_token = Some(access_token.into());
        /// Sets the Admin API version.
        with_api_version(api_version: impl Into<String>)
            => self.config.api_version = Some(api_version.into());
        /// Ranges longer than `days` run as a bulk operation.
        with_bulk_threshold_days(bulk_threshold_days: u32)
            => self.config.bulk_threshold_days = Some(bulk_threshold_days);
        /// Sets the orders per page.
        with_page_size(page_size: u64) => self.config.page_size = Some(page_size);
        /// Sets the first wait between polls of a bulk operation.
        with_bulk_poll(bulk_poll: Duration);
    }
    /// Validates everything and builds the connector.
    pub fn build(self) -> Result<ShopifyConnector> {
        self.base.check(SOURCE)?;
        let c = self.config;
        let api_version = c
            .api_version
            .unwrap_or_else(|| SHOPIFY_DEFAULT_API_VERSION.into());
        let page_size = c.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        let shop = c.shop.ok_or_else(|| {
            config_error(
                SOURCE,
                "missing shop: set LIFTOS_SHOPIFY_SHOP or call with_shop",
            )
        })?;
        let shop = shop_name(&shop)?;
        let token = required_secret(
            SOURCE,
            c.access_token,
            "access token",
            "LIFTOS_SHOPIFY_ACCESS_TOKEN",
            "with_access_token",
        )?;
        let version_ok = api_version == "unstable"
            || NaiveDate::parse_from_str(&format!("{api_version}-01"), "%Y-%m-%d").is_ok()
                && api_version.len() == 7;
        if !version_ok {
            return Err(config_error(
                SOURCE,
                &format!(
                    "api_version `{api_version}` must be YYYY-MM (e.g. {SHOPIFY_DEFAULT_API_VERSION}) or unstable",
                ),
            ));
        }
        let max_page = (SHOPIFY_MAX_QUERY_COST - PAGE_OVERHEAD_COST) / ORDER_NODE_COST;
        if page_size == 0 || page_size > max_page.min(250) {
            return Err(config_error(
                SOURCE,
                &format!(
                    "page_size {page_size} must be between 1 and {} (first ≤ 250 and the requested cost {PAGE_OVERHEAD_COST} + {ORDER_NODE_COST} × first ≤ {SHOPIFY_MAX_QUERY_COST})",
                    max_page.min(250)
                ),
            ));
        }
        if self.bulk_poll.is_zero() {
            return Err(config_error(SOURCE, "bulk_poll must be > 0"));
        }
        let raw = c
            .base_url
            .unwrap_or_else(|| format!("https://{shop}.myshopify.com"));
        let base_url = validate_base_url(SOURCE, &raw)?;
        let endpoint = format!(
            "{}/admin/api/{}/graphql.json",
            base_str(&base_url),
            api_version
        );
        let core = self.base.into_core(SOURCE, Redactor::of([&token]))?;
        Ok(ShopifyConnector {
            inner: Arc::new(Inner {
                core,
                token,
                endpoint,
                bulk_threshold_days: c
                    .bulk_threshold_days
                    .unwrap_or(SHOPIFY_DEFAULT_BULK_THRESHOLD_DAYS),
                page_size,
                bulk_poll: self.bulk_poll,
            }),
        })
    }
}

/// The shop's name from `name`, `name.myshopify.com` or `https://name.myshopify.com/`;
/// Shopify's shop names are lower-case letters, digits and hyphens.
fn shop_name(raw: &str) -> Result<String> {
    let s = raw.trim().to_ascii_lowercase();
    let s = s
        .strip_prefix("https://")
        .unwrap_or(&s)
        .trim_end_matches('/');
    let s = s.strip_suffix(".myshopify.com").unwrap_or(s);
    let ok = !s.is_empty()
        && s.len() <= 60
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(config_error(
            SOURCE,
            &format!(
                "shop `{}` is not a shop name (letters, digits and `-`, as in {{shop}}.myshopify.com)",
                raw.trim()
            ),
        ))
    }
}

#[derive(Debug)]
struct Inner {
    core: HttpCore,
    token: SecretString,
    endpoint: String,
    bulk_threshold_days: u32,
    page_size: u64,
    bulk_poll: Duration,
}

/// Pulls the shop's orders from the Shopify Admin GraphQL API as one row per day: the
/// business outcome that `liftos analyze --business-outcome` and the pipeline read.
///
/// Output columns: `date` (Date32, the order's day in the shop's `ianaTimezone`),
/// `revenue` (Float64: sum of `currentTotalPriceSet.shopMoney.amount`, i.e. after refunds
/// and returns, taxes and shipping included), `orders` (Int64), `new_customer_orders`
/// (Int64: orders whose `customerJourneySummary.customerOrderIndex` is 1; an order
/// without a journey summary, e.g. not yet attributed, is not counted as new),
/// `currency` (Utf8: the shop's `currencyCode`). One row per day of the request, days
/// without orders included (zeros). Test orders (`test: true`) and cancelled orders
/// (`cancelledAt` set) are left out.
///
/// A range that starts more than 60 days ago with a token without `read_all_orders` is
/// refused before any order is read ([`Error::Auth`] naming the scope), whichever scope
/// lets the token read orders (`read_orders`, or `write_orders`, which implies it):
/// Shopify would silently answer only the last 60 days.
///
/// Calls: `shop` (with the token's access scopes) once, then the orders created between the first day's midnight and the
/// day after the last day's midnight in the shop's time zone, as cursor pages (`first` =
/// `page_size`) when the range has at most `bulk_threshold_days` days, else as one bulk
/// operation, polled with backoff, whose JSONL result is downloaded from its signed URL
/// **without** the access token (the URL is on Shopify's storage origin; errors show
/// only its origin and path, never the signature in its query). Throttling follows the
/// cost bucket: a `THROTTLED` answer waits `(requested − currentlyAvailable) /
/// restoreRate`, and a successful answer that left less in the bucket than it cost
/// pauses the same way before the next call.
#[derive(Clone, Debug)]
pub struct ShopifyConnector {
    inner: Arc<Inner>,
}

impl ShopifyConnector {
    /// A builder.
    pub fn builder() -> ShopifyBuilder {
        ShopifyBuilder::new()
    }
    /// The progress counters.
    pub fn progress(&self) -> &Progress {
        &self.inner.core.progress
    }
    /// Whether a pull of `request` runs as a bulk operation (more days than
    /// `bulk_threshold_days`) rather than cursor pages.
    pub fn uses_bulk(&self, request: &ConnectorRequest) -> bool {
        range_days(request.start(), request.end()) > u64::from(self.inner.bulk_threshold_days)
    }
}

fn range_days(start: NaiveDate, end: NaiveDate) -> u64 {
    (end - start).num_days().max(0) as u64 + 1
}

/// The business-outcome schema: `date`, `revenue`, `orders`, `new_customer_orders`,
/// `currency`.
pub fn shopify_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        Field::new("revenue", DataType::Float64, false),
        Field::new("orders", DataType::Int64, false),
        Field::new("new_customer_orders", DataType::Int64, false),
        Field::new("currency", DataType::Utf8, false),
    ]))
}

#[derive(Deserialize)]
struct Gql<T> {
    data: T,
}

#[derive(Deserialize)]
struct ShopData {
    shop: ShopInfo,
    #[serde(rename = "currentAppInstallation", default)]
    installation: Option<Installation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Installation {
    access_scopes: Vec<AccessScope>,
}

#[derive(Deserialize)]
struct AccessScope {
    handle: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShopInfo {
    iana_timezone: String,
    currency_code: String,
}

#[derive(Deserialize)]
struct OrdersData {
    orders: OrderConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderConnection {
    edges: Vec<Edge>,
    page_info: PageInfo,
}

#[derive(Deserialize)]
struct Edge {
    node: OrderNode,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    #[serde(default)]
    end_cursor: Option<String>,
}

/// One order, as a page node or a line of the bulk JSONL.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderNode {
    created_at: String,
    test: bool,
    #[serde(default)]
    cancelled_at: Option<String>,
    current_total_price_set: MoneyBag,
    #[serde(default)]
    customer_journey_summary: Option<Journey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoneyBag {
    shop_money: Money,
}

#[derive(Deserialize)]
struct Money {
    amount: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Journey {
    #[serde(default)]
    customer_order_index: Option<i64>,
}

#[derive(Deserialize)]
struct BulkRunData {
    #[serde(rename = "bulkOperationRunQuery")]
    run: BulkRun,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkRun {
    bulk_operation: Option<BulkOp>,
    #[serde(default)]
    user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
struct UserError {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct BulkPollData {
    node: Option<BulkOp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkOp {
    id: String,
    status: String,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

/// A JSON body decoded as `T`, a mismatch named by `what` (the page) and its JSON path.
fn decode_page<T: serde::de::DeserializeOwned>(what: &str, body: &[u8]) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| Error::Decode {
        source_name: SOURCE.into(),
        path: format!("{what}: {}", e.path()),
        message: format!("malformed answer: {}", e.inner()),
    })
}

/// A decimal amount (`"123.45"`) in millionths, exactly.
fn parse_amount(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = int.parse().ok()?;
    let mut f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..6 {
        f *= 10;
    }
    let v = whole.checked_mul(1_000_000)?.checked_add(f)?;
    Some(if neg { -v } else { v })
}

/// Per day: revenue in millionths, orders, new-customer orders.
type Days = BTreeMap<NaiveDate, (i64, i64, i64)>;

/// Adds one order into `days`; `what` names it in errors.
fn add_order(days: &mut Days, tz: Tz, o: &OrderNode, what: &dyn Fn() -> String) -> Result<()> {
    if o.test || o.cancelled_at.is_some() {
        return Ok(());
    }
    let bad = |field: &str, message: String| Error::Decode {
        source_name: SOURCE.into(),
        path: format!("{}.{field}", what()),
        message,
    };
    let created = DateTime::parse_from_rfc3339(&o.created_at).map_err(|e| {
        bad(
            "createdAt",
            format!("`{}` is not a date-time: {e}", o.created_at),
        )
    })?;
    let day = created.with_timezone(&tz).date_naive();
    let amount = &o.current_total_price_set.shop_money.amount;
    let cents = parse_amount(amount).ok_or_else(|| {
        bad(
            "currentTotalPriceSet.shopMoney.amount",
            format!("`{amount}` is not a decimal amount"),
        )
    })?;
    // Orders outside the days asked for (the created_at filter is exact; this guards a
    // server that answers more) are not counted.
    if let Some(t) = days.get_mut(&day) {
        t.0 += cents;
        t.1 += 1;
        let first = o
            .customer_journey_summary
            .as_ref()
            .and_then(|j| j.customer_order_index)
            == Some(1);
        if first {
            t.2 += 1;
        }
    }
    Ok(())
}

/// UTC instant of midnight starting `day` in `tz` (the first existing instant of the day
/// when midnight falls in a daylight-saving gap).
fn day_start(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let mut t = day.and_time(chrono::NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(dt) = tz.from_local_datetime(&t).earliest() {
            return dt.with_timezone(&Utc);
        }
        t += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
}

/// The orders search filter of `start..=end` in `tz`.
fn created_filter(tz: Tz, start: NaiveDate, end: NaiveDate) -> String {
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let after = end.succ_opt().unwrap_or(end);
    format!(
        "created_at:>='{}' created_at:<'{}'",
        fmt(day_start(tz, start)),
        fmt(day_start(tz, after))
    )
}

/// A URL fit for an error: scheme, host, port and path; never the query (a signed URL's
/// signature) nor user info.
fn url_without_query(url: &url::Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// The scope an ACCESS_DENIED message names (`read_orders`), if any.
fn scope_in(text: &str) -> Option<String> {
    let i = text.find("read_").or_else(|| text.find("write_"))?;
    let scope: String = text[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    Some(scope)
}

/// A wait from a `throttleStatus`: `(needed − currentlyAvailable) / restoreRate`.
fn bucket_wait(cost: &Value, needed: f64) -> Option<Duration> {
    let t = &cost["throttleStatus"];
    let available = t["currentlyAvailable"].as_f64()?;
    let rate = t["restoreRate"].as_f64().filter(|r| *r > 0.0)?;
    platform_wait(((needed - available) / rate).max(0.0))
}

fn classify(redactor: &Redactor, r: &Reply) -> Verdict {
    match r.status {
        200..=299 => classify_body(redactor, r),
        401 => Verdict::Fail(Error::Auth {
            source_name: SOURCE.into(),
            message: "HTTP 401: invalid API key or access token (unrecognized login, expired or revoked); check LIFTOS_SHOPIFY_ACCESS_TOKEN".into(),
        }),
        403 => Verdict::Fail(Error::Auth {
            source_name: SOURCE.into(),
            message: format!(
                "HTTP 403: the token may not use this API or shop: {}",
                r.snippet(redactor)
            ),
        }),
        404 => Verdict::Fail(Error::Http {
            source_name: SOURCE.into(),
            status: 404,
            body: format!(
                "no such shop or API version (check LIFTOS_SHOPIFY_SHOP, the base URL and api_version): {}",
                r.snippet(redactor)
            ),
        }),
        429 => Verdict::Retry {
            after: r.retry_after(),
            reason: "HTTP 429".into(),
        },
        500 | 502 | 503 | 504 | 520..=530 => Verdict::Retry {
            after: None,
            reason: format!("HTTP {}", r.status),
        },
        s => Verdict::Fail(Error::Http {
            source_name: SOURCE.into(),
            status: s,
            body: r.snippet(redactor),
        }),
    }
}

/// A 200 answer: GraphQL errors (throttling, access, cost) or data, with a pause when the
/// bucket holds less than this query cost.
fn classify_body(redactor: &Redactor, r: &Reply) -> Verdict {
    // A body that is not JSON is reported by the decoder, which names the page.
    let Ok(v) = serde_json::from_slice::<Value>(&r.body) else {
        return Verdict::Ok { pause: None };
    };
    let cost = &v["extensions"]["cost"];
    let requested = cost["requestedQueryCost"].as_f64().unwrap_or(0.0);
    let first = match &v["errors"] {
        Value::Array(a) if !a.is_empty() => Some(&a[0]),
        Value::String(_) => Some(&v["errors"]),
        _ => None,
    };
    let Some(e) = first else {
        let available = cost["throttleStatus"]["currentlyAvailable"].as_f64();
        let pause = match available {
            Some(a) if a < requested => bucket_wait(cost, requested),
            _ => None,
        };
        return Verdict::Ok { pause };
    };
    let message = redactor.excerpt(e["message"].as_str().or(e.as_str()).unwrap_or_default());
    let code = redactor.excerpt(e["extensions"]["code"].as_str().unwrap_or_default());
    match code.as_str() {
        "THROTTLED" => Verdict::Retry {
            after: bucket_wait(cost, requested),
            reason: format!(
                "THROTTLED: requested cost {requested}, {} available, restoring {}/s",
                cost["throttleStatus"]["currentlyAvailable"], cost["throttleStatus"]["restoreRate"]
            ),
        },
        "ACCESS_DENIED" => {
            let required = e["extensions"]["requiredAccess"].as_str().unwrap_or("");
            let scope = scope_in(required)
                .or_else(|| scope_in(&message))
                .unwrap_or_else(|| "read_orders".into());
            Verdict::Fail(Error::Auth {
                source_name: SOURCE.into(),
                message: format!(
                    "access denied: the token lacks the `{scope}` scope (Shopify: {message}); grant `{scope}` to the app (and `read_all_orders` for orders older than 60 days) and issue a new token"
                ),
            })
        }
        "MAX_COST_EXCEEDED" => Verdict::Fail(Error::InvalidRequest {
            message: format!(
                "shopify: the query costs more than Shopify's single-query maximum of {} (MAX_COST_EXCEEDED, cost {}); lower page_size",
                e["extensions"]["maxCost"]
                    .as_u64()
                    .unwrap_or(SHOPIFY_MAX_QUERY_COST),
                redactor.excerpt(&e["extensions"]["cost"].to_string())
            ),
        }),
        "INTERNAL_SERVER_ERROR" => Verdict::Retry {
            after: None,
            reason: format!("INTERNAL_SERVER_ERROR: {message}"),
        },
        _ => Verdict::Fail(Error::Http {
            source_name: SOURCE.into(),
            status: r.status,
            body: format!("GraphQL error `{code}`: {message}"),
        }),
    }
}

impl Inner {
    /// One GraphQL call.
    async fn graphql(&self, budget: &PullBudget, query: &str, variables: Value) -> Result<Reply> {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let client = self.core.client();
        self.core
            .execute(
                budget,
                || {
                    client
                        .post(&self.endpoint)
                        .header("X-Shopify-Access-Token", self.token.expose_secret())
                        .header("content-type", "application/json")
                        .header("accept", "application/json")
                        .body(body.clone())
                },
                |r| classify(&self.core.redactor, r),
            )
            .await
    }

    /// The shop's time zone, currency and the token's access scopes (empty when the
    /// answer has none).
    async fn shop(&self, budget: &PullBudget) -> Result<(Tz, String, Vec<String>)> {
        let reply = self.graphql(budget, SHOP_QUERY, json!({})).await?;
        let shop: Gql<ShopData> = decode_page("shop", &reply.body)?;
        let scopes = shop
            .data
            .installation
            .map(|i| i.access_scopes.into_iter().map(|s| s.handle).collect())
            .unwrap_or_default();
        let tz_name = shop.data.shop.iana_timezone;
        let tz: Tz = tz_name.parse().map_err(|_| Error::Decode {
            source_name: SOURCE.into(),
            path: "shop.ianaTimezone".into(),
            message: format!("`{tz_name}` is not an IANA time zone"),
        })?;
        Ok((tz, shop.data.shop.currency_code, scopes))
    }

    /// Every order of `filter` through cursor pages, added into `days`.
    async fn cursor_pages(
        self: &Arc<Self>,
        budget: &Arc<PullBudget>,
        filter: String,
        tz: Tz,
        days: &mut Days,
    ) -> Result<()> {
        let bound = self.core.config.page_bound(days.len() as u64);
        let this = self.clone();
        let budget = budget.clone();
        let page_no = Arc::new(AtomicU64::new(0));
        let query = orders_query();
        let pages = paginate(
            SOURCE,
            bound,
            self.core.redactor.clone(),
            move |after: Option<String>| {
                let (this, budget, filter, query, page_no) = (
                    this.clone(),
                    budget.clone(),
                    filter.clone(),
                    query.clone(),
                    page_no.clone(),
                );
                async move {
                    let n = page_no.fetch_add(1, Ordering::Relaxed) + 1;
                    let vars = json!({ "first": this.page_size, "after": after, "query": filter });
                    let reply = this.graphql(&budget, &query, vars).await?;
                    let page: Gql<OrdersData> =
                        decode_page(&format!("orders page {n}"), &reply.body)?;
                    let conn = page.data.orders;
                    this.core.progress.page(conn.edges.len());
                    let next = if conn.page_info.has_next_page {
                        Some(conn.page_info.end_cursor.ok_or_else(|| Error::Decode {
                            source_name: SOURCE.into(),
                            path: format!("orders page {n}: data.orders.pageInfo.endCursor"),
                            message: "hasNextPage is true but there is no endCursor".into(),
                        })?)
                    } else {
                        None
                    };
                    Ok(((n, conn.edges), next))
                }
            },
        );
        let mut pages = std::pin::pin!(pages);
        while let Some((n, edges)) = pages.try_next().await? {
            for (i, e) in edges.iter().enumerate() {
                add_order(days, tz, &e.node, &|| {
                    format!("orders page {n}: data.orders.edges[{i}].node")
                })?;
            }
        }
        Ok(())
    }

    /// Every order of `filter` through one bulk operation, added into `days`.
    async fn bulk(&self, budget: &PullBudget, filter: &str, tz: Tz, days: &mut Days) -> Result<()> {
        // An app runs one bulk query at a time per shop: while another one runs (another
        // pull, or one left by a pull that stopped), wait for it with the polling backoff,
        // within the pull's deadline (counted from the pull's start).
        let mut wait = self.bulk_poll;
        let id = loop {
            let reply = self
                .graphql(
                    budget,
                    BULK_MUTATION,
                    json!({ "query": bulk_query(filter) }),
                )
                .await?;
            let run: Gql<BulkRunData> = decode_page("bulkOperationRunQuery", &reply.body)?;
            if let Some(e) = run.data.run.user_errors.first() {
                let message = self.core.redactor.excerpt(&e.message);
                if message.contains("already in progress") {
                    tracing::info!(
                        source = SOURCE,
                        wait_ms = wait.as_millis() as u64,
                        "another bulk query runs on this shop: waiting"
                    );
                    self.core
                        .sleep_within_deadline(budget, wait, || {
                            format!(
                                "another bulk query runs on this shop (one at a time per shop): waiting for it; wait for the running one or pull a range of at most bulk_threshold_days ({}) days, which reads cursor pages",
                                self.bulk_threshold_days
                            )
                        })
                        .await?;
                    wait = wait.saturating_mul(2).min(Duration::from_secs(30));
                    continue;
                }
                return Err(Error::AsyncJob {
                    source_name: SOURCE.into(),
                    range: filter.to_owned(),
                    message: format!(
                        "bulkOperationRunQuery refused: {message} (an app runs one bulk query at a time per shop; wait for the running one or pull a range of at most bulk_threshold_days days)"
                    ),
                });
            }
            break run
                .data
                .run
                .bulk_operation
                .map(|op| op.id)
                .ok_or_else(|| Error::Decode {
                    source_name: SOURCE.into(),
                    path: "bulkOperationRunQuery: data.bulkOperationRunQuery.bulkOperation".into(),
                    message: "no bulk operation and no user error".into(),
                })?;
        };
        // Poll with backoff until the operation ends, within the pull's deadline.
        let mut wait = self.bulk_poll;
        let mut polls = 0u64;
        let op = loop {
            let reply = self.graphql(budget, BULK_POLL, json!({ "id": id })).await?;
            polls += 1;
            let poll: Gql<BulkPollData> =
                decode_page(&format!("bulk operation poll {polls}"), &reply.body)?;
            let op = poll.data.node.ok_or_else(|| Error::Decode {
                source_name: SOURCE.into(),
                path: format!("bulk operation poll {polls}: data.node"),
                message: format!("bulk operation {id} not found"),
            })?;
            match op.status.as_str() {
                "CREATED" | "RUNNING" => {}
                _ => break op,
            }
            self.core
                .sleep_within_deadline(budget, wait, || {
                    format!(
                        "bulk operation {id} still {} after {polls} polls: waiting to poll it again",
                        op.status
                    )
                })
                .await?;
            wait = wait.saturating_mul(2).min(Duration::from_secs(30));
        };
        match (op.status.as_str(), op.error_code.as_deref()) {
            ("COMPLETED", _) => {}
            (_, Some("ACCESS_DENIED")) => {
                return Err(Error::Auth {
                    source_name: SOURCE.into(),
                    message: format!(
                        "access denied: bulk operation {id} failed with ACCESS_DENIED; the token lacks the `read_orders` scope (and `read_all_orders` for orders older than 60 days); grant it to the app and issue a new token"
                    ),
                });
            }
            (status, code) => {
                return Err(Error::AsyncJob {
                    source_name: SOURCE.into(),
                    range: filter.to_owned(),
                    message: format!(
                        "bulk operation {id} ended {status} (errorCode {})",
                        code.unwrap_or("none")
                    ),
                });
            }
        }
        // COMPLETED without a URL: no order matched.
        let Some(raw) = op.url.filter(|u| !u.is_empty()) else {
            return Ok(());
        };
        let body = self.download(budget, &raw).await?;
        let mut lines = 0usize;
        for (i, line) in body.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let what = format!("bulk result line {}", i + 1);
            let node: OrderNode = decode_page(&what, line)?;
            add_order(days, tz, &node, &|| what.clone())?;
            lines += 1;
        }
        self.core.progress.page(lines);
        Ok(())
    }

    /// Downloads a bulk result from its signed URL: no access token (the URL is on
    /// another origin and carries its own signature), the URL's query never in errors.
    async fn download(&self, budget: &PullBudget, raw: &str) -> Result<Vec<u8>> {
        let url = validate_base_url(SOURCE, raw).map_err(|_| Error::CrossOrigin {
            source_name: SOURCE.into(),
            what: "bulk operation url".into(),
            message: "the result URL is not https (plain http only on loopback); not downloaded"
                .into(),
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::CrossOrigin {
                source_name: SOURCE.into(),
                what: "bulk operation url".into(),
                message: "the result URL carries user info; not downloaded".into(),
            });
        }
        let shown = url_without_query(&url);
        let client = self.core.client();
        let reply = self
            .core
            .execute(
                budget,
                || client.get(url.clone()),
                |r| match r.status {
                    200..=299 => Verdict::Ok { pause: None },
                    429 | 500 | 502 | 503 | 504 => Verdict::Retry {
                        after: None,
                        reason: format!("bulk result {shown}: HTTP {}", r.status),
                    },
                    s => Verdict::Fail(Error::Http {
                        source_name: SOURCE.into(),
                        status: s,
                        body: format!(
                            "bulk result {shown} refused the download (the signed URL expires after 7 days; run the pull again)"
                        ),
                    }),
                },
            )
            .await?;
        Ok(reply.body)
    }

    async fn pull(self: Arc<Self>, start: NaiveDate, end: NaiveDate) -> Result<RecordBatch> {
        let budget = self.core.budget();
        let (tz, currency, scopes) = self.shop(&budget).await?;
        // Without `read_all_orders` Shopify answers only the last 60 days' orders, and
        // says nothing about the older ones: refuse rather than return zero days.
        let today = Utc::now().with_timezone(&tz).date_naive();
        let window_start = today - chrono::Duration::days(DEFAULT_ORDER_WINDOW_DAYS);
        // Whatever grants reading orders (`read_orders`, or `write_orders`, which implies
        // it and may be listed alone), only `read_all_orders` lifts the window.
        let has = |s: &str| scopes.iter().any(|x| x == s);
        if start < window_start && !has("read_all_orders") {
            let read = if has("read_orders") || has("write_orders") {
                ""
            } else {
                " (and the `read_orders` scope, which it lacks too)"
            };
            return Err(Error::Auth {
                source_name: SOURCE.into(),
                message: format!(
                    "orders before {window_start} need the `read_all_orders` scope{read}: without it Shopify answers only the last {DEFAULT_ORDER_WINDOW_DAYS} days' orders and the older days would read as zero; the token has {}; request read_all_orders for the app, or pull from {window_start} on",
                    if scopes.is_empty() {
                        "no scope".to_owned()
                    } else {
                        scopes.join(", ")
                    }
                ),
            });
        }
        let mut days: Days = BTreeMap::new();
        let mut d = start;
        while d <= end {
            days.insert(d, (0, 0, 0));
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
        let filter = created_filter(tz, start, end);
        if range_days(start, end) > u64::from(self.bulk_threshold_days) {
            self.bulk(&budget, &filter, tz, &mut days).await?;
        } else {
            self.cursor_pages(&budget, filter, tz, &mut days).await?;
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Date32Array::from_iter_values(
                days.keys().map(|d| Date32Type::from_naive_date(*d)),
            )),
            Arc::new(Float64Array::from_iter_values(
                days.values().map(|t| t.0 as f64 / 1_000_000.0),
            )),
            Arc::new(Int64Array::from_iter_values(days.values().map(|t| t.1))),
            Arc::new(Int64Array::from_iter_values(days.values().map(|t| t.2))),
            Arc::new(StringArray::from_iter_values(
                days.keys().map(|_| currency.as_str()),
            )),
        ];
        Ok(RecordBatch::try_new(shopify_schema(), cols)?)
    }
}

#[async_trait::async_trait]
impl Connector for ShopifyConnector {
    fn name(&self) -> &str {
        SOURCE
    }
    fn schema(&self, _request: &ConnectorRequest) -> Result<SchemaRef> {
        Ok(shopify_schema())
    }
    async fn check(&self) -> Result<()> {
        let budget = self.inner.core.budget();
        self.inner.core.checked(self.inner.shop(&budget)).await
    }
    fn read(&self, request: &ConnectorRequest) -> Result<RecordBatchStream> {
        let inner = self.inner.clone();
        let redactor = inner.core.redactor.clone();
        whole_range_stream(SOURCE, request, redactor, |start, end| async move {
            inner.pull(start, end).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> ShopifyBuilder {
        ShopifyBuilder::from_env_with(crate::keys::env_of(vars))
    }

    #[test]
    fn amounts_parse_exactly_in_millionths() {
        assert_eq!(parse_amount("12.5"), Some(12_500_000));
        assert_eq!(parse_amount("0.01"), Some(10_000));
        assert_eq!(parse_amount("1234"), Some(1_234_000_000));
        assert_eq!(parse_amount("-3.210"), Some(-3_210_000));
        for bad in ["", "1.2.3", "abc", "1e3", "1.1234567", ".5"] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
    }

    #[test]
    fn shop_names_are_validated_and_the_default_base_url_follows_the_shop() {
        let token = ("LIFTOS_SHOPIFY_ACCESS_TOKEN", "shpat_unit_secret");
        let c = with(&[("LIFTOS_SHOPIFY_SHOP", "My-Store.myshopify.com"), token])
            .build()
            .unwrap();
        assert_eq!(
            c.inner.endpoint,
            "https://my-store.myshopify.com/admin/api/2025-10/graphql.json"
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("shpat_unit_secret"), "{shown}");
        for bad in ["evil.com/x", "a b", "-x", "shop@other"] {
            let err = with(&[("LIFTOS_SHOPIFY_SHOP", bad), token])
                .build()
                .unwrap_err()
                .to_string();
            assert!(err.contains("not a shop name"), "{bad}: {err}");
            assert!(!err.contains("shpat_unit_secret"));
        }
        let err = with(&[("LIFTOS_SHOPIFY_SHOP", "s")])
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("LIFTOS_SHOPIFY_ACCESS_TOKEN"), "{err}");
        let err = with(&[("LIFTOS_SHOPIFY_SHOP", "s"), token])
            .with_page_size(250)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("page_size 250"), "{err}");
        let err = with(&[("LIFTOS_SHOPIFY_SHOP", "s"), token])
            .with_api_version("2025-1")
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("api_version"), "{err}");
        let c = with(&[
            ("LIFTOS_SHOPIFY_SHOP", "s"),
            token,
            ("LIFTOS_SHOPIFY_BULK_THRESHOLD_DAYS", "7"),
        ])
        .build()
        .unwrap();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert!(!c.uses_bulk(&ConnectorRequest::new(d("2024-01-01"), d("2024-01-07")).unwrap()));
        assert!(c.uses_bulk(&ConnectorRequest::new(d("2024-01-01"), d("2024-01-08")).unwrap()));
    }

    #[test]
    fn the_filter_covers_the_shop_days_in_utc() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            created_filter(tz, d("2024-03-01"), d("2024-03-31")),
            "created_at:>='2024-03-01T05:00:00Z' created_at:<'2024-04-01T04:00:00Z'"
        );
    }

    #[test]
    fn throttled_answers_wait_from_the_bucket_and_access_denied_names_the_scope() {
        let redactor = Redactor::default();
        let reply = |body: Value| Reply {
            status: 200,
            headers: Default::default(),
            body: body.to_string().into_bytes(),
        };
        let throttled = reply(json!({ "errors": [{ "message": "Throttled",
            "extensions": { "code": "THROTTLED" } }],
            "extensions": { "cost": { "requestedQueryCost": 803, "actualQueryCost": null,
                "throttleStatus": { "maximumAvailable": 1000.0, "currentlyAvailable": 303, "restoreRate": 50.0 } } } }));
        match classify(&redactor, &throttled) {
            Verdict::Retry { after, .. } => assert_eq!(after, Some(Duration::from_secs(10))),
            v => panic!("{v:?}"),
        }
        let ok = reply(
            json!({ "data": {}, "extensions": { "cost": { "requestedQueryCost": 803,
            "actualQueryCost": 803, "throttleStatus": { "maximumAvailable": 1000.0,
            "currentlyAvailable": 197, "restoreRate": 100.0 } } } }),
        );
        match classify(&redactor, &ok) {
            Verdict::Ok { pause } => assert_eq!(pause, Some(Duration::from_secs_f64(6.06))),
            v => panic!("{v:?}"),
        }
        let denied = reply(
            json!({ "errors": [{ "message": "Access denied for orders field. Required access: `read_orders` access scope.",
            "extensions": { "code": "ACCESS_DENIED", "requiredAccess": "`read_orders` access scope." } }], "data": null }),
        );
        match classify(&redactor, &denied) {
            Verdict::Fail(e) => assert!(
                e.to_string().contains("lacks the `read_orders` scope"),
                "{e}"
            ),
            v => panic!("{v:?}"),
        }
    }
}
