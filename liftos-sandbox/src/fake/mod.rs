//! Local fake Meta, Google Ads, Klaviyo, TikTok, GA4, generic REST and Shopify HTTP APIs
//! that serve a [`World`].
//!
//! Each platform runs its own axum server on `127.0.0.1:<port>` and speaks the platform's
//! native protocol as API_NOTES.md describes it: authentication that fails like the real
//! API, pagination, Meta async report runs (including "100% but still running"), the
//! Google OAuth token endpoint and `searchStream` arrays of batches, Klaviyo JSON:API
//! with its required headers (campaigns, values reports, flows, daily flow series of at
//! most 60 days), TikTok's integrated report (body codes, 30-day ranges, page numbers;
//! it serves the channels a world puts on [`Platform::TikTok`](crate::Platform::TikTok)
//! with [`WorldConfig::with_platform`](crate::WorldConfig::with_platform)), and a generic
//! JSON API over every world row paged in four styles (cursor, next link, offset, page
//! number) for the declarative REST connector, and the GA4 Data API (`runReport` by date
//! and default channel group, limit/offset paging, property quota), and Shopify Admin
//! GraphQL (shop, orders pages, a cost bucket, bulk operations whose JSONL results a
//! separate storage origin serves at signed URLs; see [`shopify_orders`]). A seeded
//! [`FaultConfig`] injects throttling (each
//! platform's own body and headers), 500/503 answers, connections dropped mid-body,
//! responses slower than a client timeout, access tokens that expire mid-pull and async
//! jobs that fail. Every request is recorded in a [request log](FakeServers::requests).
//! A request the fake does not know is answered 500 with a body naming it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use liftos_sandbox::{World, WorldConfig};
//! use liftos_sandbox::fake::{FakeServers, FaultConfig};
//!
//! let world = World::generate(&WorldConfig::standard(2).with_days(60)).unwrap();
//! let servers = FakeServers::start(world, FaultConfig::default()).await?;
//! println!("meta at {}", servers.meta_base_url());
//! # Ok(()) }
//! ```

mod ga4;
mod google;
mod klaviyo;
mod meta;
mod rest;
mod shopify;
mod tiktok;

pub use shopify::{SHOPIFY_FAKE_CURRENCY, SHOPIFY_FAKE_TIMEZONE, ShopifyOrder, shopify_orders};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::FromRequest;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::World;

/// Credentials the fake servers accept.
///
/// | Name | Default | Meaning |
/// |---|---|---|
/// | `meta_access_token` | `fake-meta-access-token` | Graph API access token |
/// | `meta_app_secret` | `fake-meta-app-secret` | app secret for `appsecret_proof` |
/// | `meta_require_appsecret_proof` | `false` | reject calls without a proof |
/// | `google_client_id` | `fake-google-client-id` | OAuth client id |
/// | `google_client_secret` | `fake-google-client-secret` | OAuth client secret |
/// | `google_refresh_token` | `fake-google-refresh-token` | OAuth refresh token |
/// | `google_developer_token` | `fake-google-developer-token` | `developer-token` header |
/// | `google_login_customer_id` | `None` | when set, `login-customer-id` must equal it |
/// | `google_token_lifetime_secs` | 3599 | `expires_in` of issued access tokens |
/// | `klaviyo_api_key` | `pk_fake_klaviyo_key` | private API key |
/// | `tiktok_access_token` | `fake-tiktok-access-token` | `Access-Token` header |
/// | `ga4_property_id` | `123456789` | the GA4 property the token may read |
/// | `ga4_client_id`, `ga4_client_secret`, `ga4_refresh_token` | `fake-ga4-client-id`, ... | GA4's OAuth refresh flow |
/// | `rest_api_token` | `fake-rest-api-token` | bearer token of the generic REST API |
/// | `rest_client_id`, `rest_client_secret`, `rest_refresh_token` | `fake-rest-client-id`, ... | its OAuth refresh flow |
/// | `shopify_access_token` | `shpat_fake_shopify_access_token` | `X-Shopify-Access-Token` |
/// | `shopify_scopes` | `["read_orders", "read_all_orders"]` | scopes granted to the token (a `write_` scope grants its `read_` scope; without `read_orders` or `write_orders`, orders answer `ACCESS_DENIED`; without `read_all_orders`, orders older than 60 days are left out silently) |
#[derive(Debug, Clone, PartialEq)]
pub struct FakeCredentials {
    /// Graph API access token.
    pub meta_access_token: String,
    /// App secret used to check `appsecret_proof`.
    pub meta_app_secret: String,
    /// Reject Meta calls without `appsecret_proof`.
    pub meta_require_appsecret_proof: bool,
    /// OAuth client id.
    pub google_client_id: String,
    /// OAuth client secret.
    pub google_client_secret: String,
    /// OAuth refresh token.
    pub google_refresh_token: String,
    /// `developer-token` header value.
    pub google_developer_token: String,
    /// Required `login-customer-id` header, if any.
    pub google_login_customer_id: Option<String>,
    /// Lifetime of issued Google access tokens, in seconds.
    pub google_token_lifetime_secs: u64,
    /// Klaviyo private API key.
    pub klaviyo_api_key: String,
    /// TikTok `Access-Token` header value.
    pub tiktok_access_token: String,
    /// The GA4 property the token may read.
    pub ga4_property_id: String,
    /// GA4 OAuth client id.
    pub ga4_client_id: String,
    /// GA4 OAuth client secret.
    pub ga4_client_secret: String,
    /// GA4 OAuth refresh token.
    pub ga4_refresh_token: String,
    /// Bearer token of the generic REST API.
    pub rest_api_token: String,
    /// OAuth client id of the generic REST API.
    pub rest_client_id: String,
    /// OAuth client secret of the generic REST API.
    pub rest_client_secret: String,
    /// OAuth refresh token of the generic REST API.
    pub rest_refresh_token: String,
    /// Shopify Admin API access token.
    pub shopify_access_token: String,
    /// Access scopes granted to the Shopify token.
    pub shopify_scopes: Vec<String>,
}

impl Default for FakeCredentials {
    fn default() -> Self {
        Self {
            meta_access_token: "fake-meta-access-token".into(),
            meta_app_secret: "fake-meta-app-secret".into(),
            meta_require_appsecret_proof: false,
            google_client_id: "fake-google-client-id".into(),
            google_client_secret: "fake-google-client-secret".into(),
            google_refresh_token: "fake-google-refresh-token".into(),
            google_developer_token: "fake-google-developer-token".into(),
            google_login_customer_id: None,
            google_token_lifetime_secs: 3599,
            klaviyo_api_key: "pk_fake_klaviyo_key".into(),
            tiktok_access_token: "fake-tiktok-access-token".into(),
            ga4_property_id: "123456789".into(),
            ga4_client_id: "fake-ga4-client-id".into(),
            ga4_client_secret: "fake-ga4-client-secret".into(),
            ga4_refresh_token: "fake-ga4-refresh-token".into(),
            rest_api_token: "fake-rest-api-token".into(),
            rest_client_id: "fake-rest-client-id".into(),
            rest_client_secret: "fake-rest-client-secret".into(),
            rest_refresh_token: "fake-rest-refresh-token".into(),
            shopify_access_token: "shpat_fake_shopify_access_token".into(),
            shopify_scopes: vec!["read_orders".into(), "read_all_orders".into()],
        }
    }
}

/// Seeded fault injection for the fake servers. Rates are shares of data requests
/// (token, metrics and account look-ups are never faulted).
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `seed` | 7 | seed of the fault draws | any |
/// | `throttle_rate` | 0 | share answered with the platform's throttle error | [0, 1] |
/// | `server_error_rate` | 0 | share answered 500 or 503 | [0, 1] |
/// | `drop_rate` | 0 | share whose connection drops mid-body | [0, 1] |
/// | `slow_rate` | 0 | share answered after `slow_delay` | [0, 1] |
/// | `slow_delay` | 2 s | delay of slow answers (set it past the client timeout) | ≥ 0 |
/// | `throttle_wait_secs` | 60 | wait the throttle answers ask for (Meta: rounded up to minutes) | ≥ 1 |
/// | `expire_token_after` | `None` | after this many data requests the access token expires (Meta: error 190; Google: 401 until refreshed) | ≥ 0 |
/// | `failed_async_jobs` | 0 | the first N Meta async report runs end `Job Failed` | ≥ 0 |
/// | `async_polls_before_done` | 4 | Meta job polls before `Job Completed` (the one before reads 100% still running) | ≥ 1 |
/// | `never_recover` | false | every data request is answered 503 | — |
/// | `page_loop` | false | Meta and Klaviyo `next` links point back at the same page | — |
/// | `klaviyo_report_daily_cap` | 225 | calls per day of each Klaviyo reporting endpoint (campaign values, flow series) before its daily 429 | ≥ 0 |
/// | `meta_page_limit_max` | 5000 | largest `limit` the Meta fake honours | ≥ 1 |
/// | `google_batch_size` | 10000 | rows per searchStream batch | ≥ 1 |
/// | `klaviyo_page_size` | 10 | campaigns (and flows) per page | ≥ 1 |
/// | `klaviyo_report_page_size` | 100 | results per page of a Klaviyo campaign values or flow series report (`page_cursor`, `links.next`; Klaviyo does not document its page size, the tests set small ones) | ≥ 1 |
/// | `klaviyo_utc_offset_hours` | 0 | the Klaviyo account's time zone: `UTC` at 0, else the fixed-offset zone `Etc/GMT∓N` (`Etc/GMT-9` is UTC+9); report days are its days, and flow series `date_times` are their starts (local midnights) as instants in UTC (`2024-01-04T15:00:00+00:00` for 5 January at UTC+9) | -12..=14 |
/// | `meta_timezone_name` | `America/Los_Angeles` | the Meta ad accounts' `timezone_name` (`GET act_<id>?fields=timezone_name`); the clock's days are its days | an IANA name |
/// | `google_time_zone` | `America/New_York` | the Google Ads customers' `customer.time_zone` (`SELECT customer.time_zone FROM customer`, and in every row that selects it); the clock's days are its days | an IANA name |
/// | `klaviyo_report_min_interval` | 0 (off) | least time between two calls of one Klaviyo reporting endpoint; a faster call gets 429 with `Retry-After` (the real steady limit is 2/min: 30 s) | ≥ 0 |
/// | `shopify_bucket_size` | 1000 | Shopify cost bucket (`maximumAvailable`) | > 0 |
/// | `shopify_restore_rate` | 50 | cost points restored per second (`restoreRate`; the bucket refills in real time) | > 0 |
/// | `shopify_expired_urls` | false | Shopify's storage refuses every bulk result URL as expired (HTTP 400 `ExpiredToken`) | — |
/// | `shopify_max_query_cost` | 1000 | largest requested cost of one query; above it `MAX_COST_EXCEEDED` (Shopify's is 1000; lower it to provoke the error) | ≥ 1 |
/// | `shopify_malformed_page` | `None` | the N-th Shopify orders page (1-based) carries an amount that is a number, not a string | ≥ 1 |
/// | `meta_repeat` | 1 | serve each Meta row this many times, as distinct campaigns (benchmarks) | ≥ 1 |
/// | `meta_max_range_days` | `None` (off) | a synchronous Meta insights request (`GET act_<id>/insights`) whose `time_range` covers more days than this is refused as too large: HTTP 500, code 1, subcode 99, "Please reduce the amount of data you're asking for, then retry your request"; 0 refuses every range | ≥ 0 |
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Seed of the fault draws.
    pub seed: u64,
    /// Share of data requests answered with the platform's throttle error.
    pub throttle_rate: f64,
    /// Share answered 500 or 503.
    pub server_error_rate: f64,
    /// Share whose connection is dropped mid-body.
    pub drop_rate: f64,
    /// Share answered only after `slow_delay`.
    pub slow_rate: f64,
    /// Delay of slow answers.
    pub slow_delay: Duration,
    /// Wait, in seconds, that throttle answers ask for.
    pub throttle_wait_secs: u64,
    /// Number of data requests after which the current access token expires.
    pub expire_token_after: Option<usize>,
    /// Number of initial Meta async jobs that fail.
    pub failed_async_jobs: usize,
    /// Polls of a Meta job before it completes.
    pub async_polls_before_done: usize,
    /// Every data request is answered 503.
    pub never_recover: bool,
    /// `next` links point back at the same page.
    pub page_loop: bool,
    /// Calls allowed per day of each Klaviyo reporting endpoint.
    pub klaviyo_report_daily_cap: usize,
    /// Largest Meta page size honoured.
    pub meta_page_limit_max: usize,
    /// Rows per Google searchStream batch.
    pub google_batch_size: usize,
    /// Klaviyo campaigns (and flows) per page.
    pub klaviyo_page_size: usize,
    /// Results per page of a Klaviyo campaign values or flow series report.
    pub klaviyo_report_page_size: usize,
    /// Least time between two calls of one Klaviyo reporting endpoint (zero: not enforced).
    pub klaviyo_report_min_interval: Duration,
    /// UTC offset, in whole hours, of the Klaviyo account's time zone.
    pub klaviyo_utc_offset_hours: i32,
    /// The Meta ad accounts' `timezone_name`.
    pub meta_timezone_name: String,
    /// The Google Ads customers' `customer.time_zone`.
    pub google_time_zone: String,
    /// Each Meta row is served this many times, copy `k` with campaign id suffixed `-k`.
    pub meta_repeat: usize,
    /// Longest `time_range`, in days, of a synchronous Meta insights request before it
    /// is refused as too large (code 1, subcode 99).
    pub meta_max_range_days: Option<u32>,
    /// Shopify cost bucket size.
    pub shopify_bucket_size: f64,
    /// Shopify cost points restored per second.
    pub shopify_restore_rate: f64,
    /// The Shopify orders page (1-based) whose first order is malformed.
    pub shopify_malformed_page: Option<usize>,
    /// Shopify's storage refuses every bulk result URL as expired.
    pub shopify_expired_urls: bool,
    /// Largest requested cost of one Shopify query.
    pub shopify_max_query_cost: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            throttle_rate: 0.0,
            server_error_rate: 0.0,
            drop_rate: 0.0,
            slow_rate: 0.0,
            slow_delay: Duration::from_secs(2),
            throttle_wait_secs: 60,
            expire_token_after: None,
            failed_async_jobs: 0,
            async_polls_before_done: 4,
            never_recover: false,
            page_loop: false,
            klaviyo_report_daily_cap: 225,
            meta_page_limit_max: 5000,
            google_batch_size: 10_000,
            klaviyo_page_size: 10,
            klaviyo_report_page_size: 100,
            klaviyo_report_min_interval: Duration::ZERO,
            klaviyo_utc_offset_hours: 0,
            meta_timezone_name: "America/Los_Angeles".into(),
            google_time_zone: "America/New_York".into(),
            meta_repeat: 1,
            meta_max_range_days: None,
            shopify_bucket_size: 1000.0,
            shopify_restore_rate: 50.0,
            shopify_malformed_page: None,
            shopify_expired_urls: false,
            shopify_max_query_cost: 1000,
        }
    }
}

impl FaultConfig {
    /// No faults (the default).
    pub fn none() -> Self {
        Self::default()
    }
    liftos_core::setters! {
        /// Sets the seed of the fault draws.
        with_seed(seed: u64);
        /// Answers a share of data requests with the platform's throttle error.
        with_throttle_rate(rate: f64) => self.throttle_rate = rate.clamp(0.0, 1.0);
        /// Answers a share of data requests 500 or 503.
        with_server_error_rate(rate: f64) => self.server_error_rate = rate.clamp(0.0, 1.0);
        /// Drops the connection mid-body on a share of data requests.
        with_drop_rate(rate: f64) => self.drop_rate = rate.clamp(0.0, 1.0);
    }
    /// Answers a share of data requests only after `delay`.
    pub fn with_slow(mut self, rate: f64, delay: Duration) -> Self {
        self.slow_rate = rate.clamp(0.0, 1.0);
        self.slow_delay = delay;
        self
    }
    liftos_core::setters! {
        /// Sets the wait throttle answers ask for.
        with_throttle_wait_secs(secs: u64) => self.throttle_wait_secs = secs.max(1);
        /// Expires the access token after `n` data requests.
        with_expire_token_after(n: usize) => self.expire_token_after = Some(n);
        /// Fails the first `n` Meta async report runs.
        with_failed_async_jobs(n: usize) => self.failed_async_jobs = n;
    }
    /// Answers every data request 503.
    pub fn with_never_recover(mut self) -> Self {
        self.never_recover = true;
        self
    }
    /// Makes `next` links point back at the same page.
    pub fn with_page_loop(mut self) -> Self {
        self.page_loop = true;
        self
    }
    liftos_core::setters! {
        /// Enforces a least time between two calls of one Klaviyo reporting endpoint (the
        /// steady rate limit), answering faster calls 429 with `Retry-After`.
        with_klaviyo_report_min_interval(interval: Duration)
            => self.klaviyo_report_min_interval = interval;
        /// Sets the Klaviyo account's time zone to a whole-hour UTC offset (-12..=14).
        with_klaviyo_utc_offset_hours(hours: i32)
            => self.klaviyo_utc_offset_hours = hours.clamp(-12, 14);
        /// Sets the Meta ad accounts' `timezone_name` (an IANA name).
        with_meta_timezone_name(zone: impl Into<String>) => self.meta_timezone_name = zone.into();
        /// Sets the Google Ads customers' `customer.time_zone` (an IANA name).
        with_google_time_zone(zone: impl Into<String>) => self.google_time_zone = zone.into();
        /// Sets the Klaviyo reporting daily cap.
        with_klaviyo_report_daily_cap(cap: usize) => self.klaviyo_report_daily_cap = cap;
        /// Serves each Meta row `n` times as distinct campaigns (large benchmark pulls from a
        /// small world).
        with_meta_repeat(n: usize) => self.meta_repeat = n.max(1);
        /// Refuses synchronous Meta insights requests over more than `days` days as too
        /// large (code 1, subcode 99); 0 refuses every one.
        with_meta_max_range_days(days: u32) => self.meta_max_range_days = Some(days);
    }
    /// Sets the Shopify cost bucket: its size and the points it restores per second.
    pub fn with_shopify_bucket(mut self, size: f64, restore_rate: f64) -> Self {
        self.shopify_bucket_size = size.max(1.0);
        self.shopify_restore_rate = restore_rate.max(0.001);
        self
    }
    /// Sets the largest requested cost of one Shopify query.
    pub fn with_shopify_max_query_cost(mut self, cost: u64) -> Self {
        self.shopify_max_query_cost = cost.max(1);
        self
    }
    /// Makes Shopify's storage refuse every bulk result URL as expired.
    pub fn with_shopify_expired_urls(mut self) -> Self {
        self.shopify_expired_urls = true;
        self
    }
    liftos_core::setters! {
        /// Makes the `n`-th Shopify orders page (1-based) malformed.
        with_shopify_malformed_page(n: usize) => self.shopify_malformed_page = Some(n);
        /// Sets the Google searchStream batch size.
        with_google_batch_size(n: usize) => self.google_batch_size = n.max(1);
    }
}

/// The fake APIs' clock: off by default (every day of the world is served as it is).
/// Once set to a day, rows after it are not served, and the conversions and conversion
/// value of the last `restate_days` days are still growing (late attribution): a row
/// `age` days old (0 = today) reports `(age + 1) / (restate_days + 1)` of its final
/// value, and its final value from `restate_days` days on. Meta and Google Ads follow the
/// clock; Klaviyo (values on the send date) serves every day. Moving the clock on
/// therefore restates the last days, deterministically.
///
/// Set it with [`FakeServers::set_clock`], advance it with [`FakeServers::advance_days`]
/// or over HTTP on any of the three servers: `POST /_sandbox/advance?days=N` (answers
/// `{"today":"YYYY-MM-DD"}`), `GET /_sandbox/clock`.
#[derive(Debug, Default)]
pub struct SandboxClock {
    state: Mutex<(Option<chrono::NaiveDate>, u32)>,
}

impl SandboxClock {
    /// Today, when the clock is on.
    pub fn today(&self) -> Option<chrono::NaiveDate> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    /// Days whose values still grow.
    pub fn restate_days(&self) -> u32 {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1
    }

    /// Sets today (`None`: off) and the restatement window.
    pub fn set(&self, today: Option<chrono::NaiveDate>, restate_days: u32) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = (today, restate_days);
    }

    /// Moves today on by `days` (no effect when the clock is off); returns today.
    pub fn advance(&self, days: u32) -> Option<chrono::NaiveDate> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 =
            s.0.and_then(|t| t.checked_add_days(chrono::Days::new(u64::from(days))));
        s.0
    }

    /// The share of its final conversions a row of `date` (`YYYY-MM-DD`) reports now,
    /// or `None` when it is after today (not served).
    pub fn maturity(&self, date: &str) -> Option<f64> {
        let (today, k) = *self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(today) = today else {
            return Some(1.0);
        };
        let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        if day > today {
            return None;
        }
        let age = (today - day).num_days();
        if age >= i64::from(k) {
            Some(1.0)
        } else {
            Some((age + 1) as f64 / (f64::from(k) + 1.0))
        }
    }
}

/// The clock's admin routes, merged into each server.
fn clock_router(clock: Arc<SandboxClock>) -> axum::Router {
    async fn answer(clock: &SandboxClock) -> Response {
        let today = clock.today().map(|d| d.to_string());
        let body = serde_json::json!({ "today": today, "restate_days": clock.restate_days() });
        json_response(StatusCode::OK, &[], body.to_string())
    }
    axum::Router::new()
        .route(
            "/_sandbox/advance",
            axum::routing::post(
                |axum::extract::State(clock): axum::extract::State<Arc<SandboxClock>>,
                 uri: Uri| async move {
                    let days = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                        .find(|(k, _)| k == "days")
                        .and_then(|(_, v)| v.parse::<u32>().ok());
                    match days {
                        Some(n) if n <= 3660 => {
                            clock.advance(n);
                            answer(&clock).await
                        }
                        _ => json_response(
                            StatusCode::BAD_REQUEST,
                            &[],
                            serde_json::json!({"error": "days=N (0..=3660) is required"}).to_string(),
                        ),
                    }
                },
            ),
        )
        .route(
            "/_sandbox/clock",
            axum::routing::get(
                |axum::extract::State(clock): axum::extract::State<Arc<SandboxClock>>| async move {
                    answer(&clock).await
                },
            ),
        )
        .with_state(clock)
}

/// One request the fake servers saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `meta`, `google_ads`, `klaviyo`, `tiktok`, `rest`, `ga4`, `shopify` or `shopify_storage`.
    pub server: &'static str,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string (may hold fake credentials).
    pub query: String,
    /// Status answered (0 when the connection was dropped mid-body).
    pub status: u16,
    /// The fault injected, if any (`throttle`, `server_error`, `drop`, `slow`, `expired_token`, `never_recover`; Shopify also `bucket_throttle` and, on its storage origin, `credential_sent`).
    pub fault: Option<&'static str>,
}

/// A fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Throttle,
    ServerError(u16),
    Drop,
    Slow,
}

/// Fault draws, request counting and the request log shared by one server.
#[derive(Debug)]
pub(crate) struct Common {
    pub server: &'static str,
    pub faults: FaultConfig,
    pub creds: FakeCredentials,
    pub base_url: String,
    pub clock: Arc<SandboxClock>,
    rng: Mutex<ChaCha8Rng>,
    data_requests: AtomicUsize,
    log: Arc<Mutex<Vec<RequestRecord>>>,
}

impl Common {
    fn new(
        server: &'static str,
        salt: u64,
        faults: &FaultConfig,
        creds: &FakeCredentials,
        base_url: String,
        log: Arc<Mutex<Vec<RequestRecord>>>,
        clock: Arc<SandboxClock>,
    ) -> Self {
        Self {
            server,
            faults: faults.clone(),
            creds: creds.clone(),
            base_url,
            clock,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(faults.seed ^ salt)),
            data_requests: AtomicUsize::new(0),
            log,
        }
    }

    /// Counts a data request and returns its 1-based number.
    pub fn count_data_request(&self) -> usize {
        self.data_requests.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Whether a token issued before request `n` has expired by now.
    pub fn token_expired(&self, n: usize) -> bool {
        self.faults
            .expire_token_after
            .is_some_and(|after| n > after)
    }

    /// Draws the fault for one data request.
    pub fn roll(&self) -> Option<Fault> {
        let f = &self.faults;
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let r: f64 = rng.random();
        let mut edge = f.throttle_rate;
        if r < edge {
            return Some(Fault::Throttle);
        }
        edge += f.server_error_rate;
        if r < edge {
            return Some(Fault::ServerError(if rng.random_bool(0.5) {
                500
            } else {
                503
            }));
        }
        edge += f.drop_rate;
        if r < edge {
            return Some(Fault::Drop);
        }
        edge += f.slow_rate;
        if r < edge {
            return Some(Fault::Slow);
        }
        None
    }

    /// A random 0..n draw from the fault stream (for variety in throttle bodies).
    pub fn draw(&self, n: u32) -> u32 {
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        rng.random_range(0..n.max(1))
    }

    /// Records a request in the log.
    pub fn record(&self, method: &Method, uri: &Uri, status: u16, fault: Option<&'static str>) {
        let rec = RequestRecord {
            server: self.server,
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            status,
            fault,
        };
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(rec);
    }
}

/// A fake API with an OAuth token endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OAuthApi {
    Google,
    Ga4,
    Rest,
}

impl FakeCredentials {
    /// The OAuth client the token endpoint of `api` accepts, and what it issues.
    pub(crate) fn oauth_client(&self, api: OAuthApi) -> OAuthClient<'_> {
        let (id, secret, refresh_token, lifetime_secs, prefix) = match api {
            OAuthApi::Google => (
                &self.google_client_id,
                &self.google_client_secret,
                &self.google_refresh_token,
                self.google_token_lifetime_secs,
                "ya29.fake-access-token-",
            ),
            OAuthApi::Ga4 => (
                &self.ga4_client_id,
                &self.ga4_client_secret,
                &self.ga4_refresh_token,
                3599,
                "ya29.fake-ga4-token-",
            ),
            OAuthApi::Rest => (
                &self.rest_client_id,
                &self.rest_client_secret,
                &self.rest_refresh_token,
                3600,
                "rest-access-",
            ),
        };
        OAuthClient {
            id,
            secret,
            refresh_token,
            lifetime_secs,
            prefix,
        }
    }
}

/// One request as the fakes' handlers read it: method, URI, headers and body.
pub(crate) struct Call {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    /// Whether this is a `POST` to `path`.
    pub(crate) fn is_post_to(&self, path: &str) -> bool {
        self.method == Method::POST && self.uri.path() == path
    }

    /// Method, URI, headers and body.
    pub(crate) fn into_parts(self) -> (Method, Uri, HeaderMap, Bytes) {
        (self.method, self.uri, self.headers, self.body)
    }
}

impl<S: Send + Sync> FromRequest<S> for Call {
    type Rejection = axum::extract::rejection::BytesRejection;

    async fn from_request(
        req: axum::extract::Request,
        state: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let uri = req.uri().clone();
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await?;
        Ok(Self {
            method,
            uri,
            headers,
            body,
        })
    }
}

/// The client an OAuth token endpoint accepts, and what it issues.
pub(crate) struct OAuthClient<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub refresh_token: &'a str,
    pub lifetime_secs: u64,
    /// Issued tokens are `<prefix><n>`.
    pub prefix: &'a str,
}

/// A fake OAuth token endpoint (the refresh-token grant, answered as Google's is): the
/// tokens it issued, each with the number of data requests seen when it was issued
/// (`expire_token_after` expires the tokens issued before that request).
#[derive(Debug, Default)]
pub(crate) struct OAuthTokens {
    tokens: Mutex<Vec<(String, usize)>>,
    issued: AtomicUsize,
}

impl OAuthTokens {
    /// Answers `POST <token endpoint>` of `api`.
    pub(crate) fn answer(&self, c: &Common, api: OAuthApi, call: &Call) -> Response {
        let client = c.creds.oauth_client(api);
        let (method, uri) = (&call.method, &call.uri);
        let p = params(uri, Some(&call.body));
        let bad = |status: StatusCode, error: &str, desc: &str| {
            c.record(method, uri, status.as_u16(), None);
            json_response(
                status,
                &[],
                serde_json::json!({ "error": error, "error_description": desc }).to_string(),
            )
        };
        if param(&p, "grant_type") != Some("refresh_token") {
            return bad(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Invalid grant_type",
            );
        }
        if param(&p, "client_id") != Some(client.id)
            || param(&p, "client_secret") != Some(client.secret)
        {
            return bad(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "The OAuth client was not found.",
            );
        }
        if param(&p, "refresh_token") != Some(client.refresh_token) {
            return bad(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Token has been expired or revoked.",
            );
        }
        let k = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("{}{k}", client.prefix);
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((token.clone(), c.data_requests_seen()));
        c.record(method, uri, 200, None);
        json_response(
            StatusCode::OK,
            &[],
            serde_json::json!({ "access_token": token, "expires_in": client.lifetime_secs, "token_type": "Bearer" })
                .to_string(),
        )
    }

    /// When the bearer token of `headers` was issued (data requests seen then), if this
    /// endpoint issued it.
    pub(crate) fn issued_at(&self, headers: &HeaderMap) -> Option<usize> {
        let bearer = header_str(headers, "authorization")?.strip_prefix("Bearer ")?;
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.iter().find(|(t, _)| t == bearer).map(|(_, at)| *at)
    }
}

/// A JSON response with extra headers.
pub(crate) fn json_response(
    status: StatusCode,
    headers: &[(&str, String)],
    body: String,
) -> Response {
    let mut b = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// A response whose connection drops after half the body was sent.
pub(crate) fn dropped_response(headers: &[(&str, String)], body: String) -> Response {
    let bytes = Bytes::from(body);
    let half = bytes.slice(0..bytes.len() / 2);
    let len = bytes.len();
    let stream = futures::stream::iter(vec![
        Ok::<Bytes, std::io::Error>(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fault: connection dropped mid-body",
        )),
    ]);
    let mut b = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, len.to_string());
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Body::from_stream(stream))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The catch-all answer: 500 naming the request nobody expected.
pub(crate) fn unexpected(common: &Common, method: &Method, uri: &Uri) -> Response {
    common.record(method, uri, 500, None);
    let body = serde_json::json!({
        "error": format!("fake {} server: unexpected request {} {}", common.server, method, uri)
    });
    json_response(StatusCode::INTERNAL_SERVER_ERROR, &[], body.to_string())
}

/// Parses a query string (and optionally a form body) into pairs.
pub(crate) fn params(uri: &Uri, form: Option<&[u8]>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    if let Some(form) = form {
        out.extend(url::form_urlencoded::parse(form).into_owned());
    }
    out
}

/// The first value of `key` in `params`.
pub(crate) fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The header `name` as a string.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Running fake Meta, Google Ads and Klaviyo servers. Dropping it stops them.
#[derive(Debug)]
pub struct FakeServers {
    meta: SocketAddr,
    google: SocketAddr,
    klaviyo: SocketAddr,
    tiktok: SocketAddr,
    rest: SocketAddr,
    ga4: SocketAddr,
    shopify: SocketAddr,
    shopify_storage: SocketAddr,
    credentials: FakeCredentials,
    log: Arc<Mutex<Vec<RequestRecord>>>,
    clock: Arc<SandboxClock>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Accessors of the fakes' base URLs: `http://` and the address of a server (field),
/// then a path.
macro_rules! base_urls {
    ($($(#[$doc:meta])* $name:ident => $server:ident, $path:literal;)*) => {$(
        $(#[$doc])*
        pub fn $name(&self) -> String {
            format!("http://{}{}", self.$server, $path)
        }
    )*};
}

impl FakeServers {
    /// Starts the servers on `127.0.0.1:0` with default credentials.
    pub async fn start(world: World, faults: FaultConfig) -> std::io::Result<FakeServers> {
        Self::start_with(world, faults, FakeCredentials::default(), 0).await
    }

    /// Starts the servers with the given credentials; with `base_port` > 0 they listen on
    /// `base_port` … `base_port + 7` (Meta, Google Ads, Klaviyo, TikTok, generic REST, GA4,
    /// Shopify, Shopify's storage origin).
    pub async fn start_with(
        world: World,
        faults: FaultConfig,
        credentials: FakeCredentials,
        base_port: u16,
    ) -> std::io::Result<FakeServers> {
        let port = |i: u16| {
            if base_port == 0 {
                0
            } else {
                base_port.saturating_add(i)
            }
        };
        let meta_l = tokio::net::TcpListener::bind(("127.0.0.1", port(0))).await?;
        let google_l = tokio::net::TcpListener::bind(("127.0.0.1", port(1))).await?;
        let klaviyo_l = tokio::net::TcpListener::bind(("127.0.0.1", port(2))).await?;
        let tiktok_l = tokio::net::TcpListener::bind(("127.0.0.1", port(3))).await?;
        let rest_l = tokio::net::TcpListener::bind(("127.0.0.1", port(4))).await?;
        let ga4_l = tokio::net::TcpListener::bind(("127.0.0.1", port(5))).await?;
        let shopify_l = tokio::net::TcpListener::bind(("127.0.0.1", port(6))).await?;
        let storage_l = tokio::net::TcpListener::bind(("127.0.0.1", port(7))).await?;
        let (shopify, shopify_storage) = (shopify_l.local_addr()?, storage_l.local_addr()?);
        let ga4 = ga4_l.local_addr()?;
        let (meta, google, klaviyo, tiktok, rest) = (
            meta_l.local_addr()?,
            google_l.local_addr()?,
            klaviyo_l.local_addr()?,
            tiktok_l.local_addr()?,
            rest_l.local_addr()?,
        );
        let log = Arc::new(Mutex::new(Vec::new()));
        let clock = Arc::new(SandboxClock::default());
        let world = Arc::new(world);
        let mk = |server, salt, addr: SocketAddr| {
            Common::new(
                server,
                salt,
                &faults,
                &credentials,
                format!("http://{addr}"),
                log.clone(),
                clock.clone(),
            )
        };
        let meta_router = clock_router(clock.clone())
            .merge(meta::router(world.clone(), mk("meta", 0x6d65, meta)));
        let google_router = clock_router(clock.clone()).merge(google::router(
            world.clone(),
            mk("google_ads", 0x676f, google),
        ));
        let klaviyo_router = clock_router(clock.clone()).merge(klaviyo::router(
            world.clone(),
            mk("klaviyo", 0x6b6c, klaviyo),
        ));
        let tiktok_router = clock_router(clock.clone())
            .merge(tiktok::router(world.clone(), mk("tiktok", 0x7474, tiktok)));
        let rest_router = clock_router(clock.clone())
            .merge(rest::router(world.clone(), mk("rest", 0x7265, rest)));
        let ga4_router =
            clock_router(clock.clone()).merge(ga4::router(world.clone(), mk("ga4", 0x6734, ga4)));
        let (shopify_router, storage_router) = shopify::routers(
            world.clone(),
            mk("shopify", 0x7368, shopify),
            mk("shopify_storage", 0x7374, shopify_storage),
        );
        let shopify_router = clock_router(clock.clone()).merge(shopify_router);
        let mut tasks = Vec::new();
        for (listener, router) in [
            (meta_l, meta_router),
            (google_l, google_router),
            (klaviyo_l, klaviyo_router),
            (tiktok_l, tiktok_router),
            (rest_l, rest_router),
            (ga4_l, ga4_router),
            (shopify_l, shopify_router),
            (storage_l, storage_router),
        ] {
            tasks.push(tokio::spawn(async move {
                // A serve error ends this fake server; clients then see connection errors.
                let _ = axum::serve(listener, router).await;
            }));
        }
        Ok(FakeServers {
            meta,
            google,
            klaviyo,
            tiktok,
            rest,
            ga4,
            shopify,
            shopify_storage,
            credentials,
            log,
            clock,
            tasks,
        })
    }

    /// Turns the clock on at `today` (`None`: off), with the last `restate_days` days
    /// still growing; see [`SandboxClock`].
    pub fn set_clock(&self, today: Option<chrono::NaiveDate>, restate_days: u32) {
        self.clock.set(today, restate_days);
    }

    /// Moves the clock on by `days`; returns today.
    pub fn advance_days(&self, days: u32) -> Option<chrono::NaiveDate> {
        self.clock.advance(days)
    }

    /// The servers' clock.
    pub fn clock(&self) -> &SandboxClock {
        &self.clock
    }

    base_urls! {
        /// Base URL replacing `https://graph.facebook.com`.
        meta_base_url => meta, "";
        /// Base URL replacing `https://googleads.googleapis.com`.
        google_base_url => google, "";
        /// The OAuth token endpoint replacing `https://oauth2.googleapis.com/token`.
        google_token_url => google, "/token";
        /// Base URL replacing `https://a.klaviyo.com`.
        klaviyo_base_url => klaviyo, "";
        /// Base URL replacing `https://business-api.tiktok.com`.
        tiktok_base_url => tiktok, "";
        /// Base URL replacing `https://analyticsdata.googleapis.com`.
        ga4_base_url => ga4, "";
        /// GA4's OAuth token endpoint.
        ga4_token_url => ga4, "/token";
        /// Base URL of the generic REST API (every world row, four pagination styles).
        rest_base_url => rest, "";
        /// Base URL replacing `https://{shop}.myshopify.com`.
        shopify_base_url => shopify, "";
    }

    /// The base URL of the fake serving `source` (`meta`, `google_ads`, `klaviyo`,
    /// `tiktok`, `ga4`, `rest`, `shopify`), as `--base-url` or `base_url` takes it.
    pub fn base_url(&self, source: &str) -> Option<String> {
        let addr = match source {
            "meta" => self.meta,
            "google_ads" => self.google,
            "klaviyo" => self.klaviyo,
            "tiktok" => self.tiktok,
            "ga4" => self.ga4,
            "rest" => self.rest,
            "shopify" => self.shopify,
            _ => return None,
        };
        Some(format!("http://{addr}"))
    }

    /// Origin of the fake storage that serves Shopify bulk results at signed URLs (a
    /// request carrying a Shopify access token is refused and logged with the fault
    /// `credential_sent`).
    pub fn shopify_storage_url(&self) -> String {
        format!("http://{}", self.shopify_storage)
    }

    /// The credentials the servers accept.
    pub fn credentials(&self) -> &FakeCredentials {
        &self.credentials
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Requests seen by one server (`meta`, `google_ads`, `klaviyo`, `tiktok`, `rest`, `ga4`,
    /// `shopify`, `shopify_storage`).
    pub fn requests_to(&self, server: &str) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.server == server)
            .collect()
    }
}

impl Drop for FakeServers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Lower-case hex HMAC-SHA256(key, message), as Meta's `appsecret_proof`.
pub(crate) fn hmac_hex(key: &str, message: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let tag = ring::hmac::sign(&key, message.as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `rows` grouped by `key` (an account, an advertiser), each group in the rows' order.
pub(crate) fn group_by<K: Ord, R>(
    rows: impl IntoIterator<Item = R>,
    key: impl Fn(&R) -> K,
) -> std::collections::BTreeMap<K, Vec<R>> {
    let mut groups = std::collections::BTreeMap::<K, Vec<R>>::new();
    for row in rows {
        groups.entry(key(&row)).or_default().push(row);
    }
    groups
}

/// Applies a slow fault. It is logged (status 0) before the delay: a client that times
/// out closes the connection and the handler never finishes.
pub(crate) async fn maybe_slow(
    common: &Common,
    fault: Option<Fault>,
    method: &Method,
    uri: &Uri,
) -> Option<&'static str> {
    if fault == Some(Fault::Slow) {
        common.record(method, uri, 0, Some("slow"));
        tokio::time::sleep(common.faults.slow_delay).await;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_draws_follow_the_configured_rates() {
        let f = FaultConfig::none()
            .with_throttle_rate(0.25)
            .with_server_error_rate(0.25)
            .with_seed(5);
        let c = Common::new(
            "meta",
            0x6d65,
            &f,
            &FakeCredentials::default(),
            String::new(),
            Arc::default(),
            Arc::default(),
        );
        let draws: Vec<_> = (0..400).map(|_| c.roll()).collect();
        let throttles = draws
            .iter()
            .filter(|d| **d == Some(Fault::Throttle))
            .count();
        let errors = draws
            .iter()
            .filter(|d| matches!(d, Some(Fault::ServerError(_))))
            .count();
        assert!((70..130).contains(&throttles), "{throttles}");
        assert!((70..130).contains(&errors), "{errors}");
    }
}
