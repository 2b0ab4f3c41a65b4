//! Klaviyo (JSON:API: campaigns and campaign values reports; optionally flows and daily
//! flow series reports).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::builder::required_secret;
use crate::http::{
    HttpCore, Progress, PullBudget, Redactor, Reply, Verdict, base_str, check_link, config_error,
    date_chunks, decode_error, decode_for, paginate, validate_base_url, whole_range_stream,
};
use crate::{AccountTimeZone, Connector, ConnectorRequest, Error, RecordBatchStream, Result};

const SOURCE: &str = "klaviyo";
/// Default API host.
pub const KLAVIYO_DEFAULT_BASE_URL: &str = "https://a.klaviyo.com";
/// Default `revision` header.
pub const KLAVIYO_DEFAULT_REVISION: &str = "2026-07-15";
const CHANNEL_FILTER: &str = "equals(messages.channel,'email')";
/// Archived email campaigns: `GET /api/campaigns` leaves them out unless asked.
const ARCHIVED_CHANNEL_FILTER: &str = "and(equals(messages.channel,'email'),equals(archived,true))";
/// Archived flows: `GET /api/flows` leaves them out unless asked.
const ARCHIVED_FILTER: &str = "equals(archived,true)";
/// Longest timeframe of one daily flow-series-report call, in days.
const FLOW_SERIES_MAX_DAYS: u32 = 60;
/// Longest timeframe of one campaign-values-report call, in days.
const CAMPAIGN_REPORT_MAX_DAYS: u32 = 365;
/// Window of the reporting endpoints' daily limit.
const DAY: Duration = Duration::from_secs(24 * 3600);
const CAMPAIGN_REPORTS: &str = "/api/campaign-values-reports";
const FLOW_REPORTS: &str = "/api/flow-series-reports";
const STATISTICS: [&str; 8] = [
    "recipients",
    "delivered",
    "opens_unique",
    "clicks_unique",
    "conversions",
    "conversion_value",
    "unsubscribes",
    "bounced",
];

crate::keys::config_table! {
    /// Settings of a [`KlaviyoConnector`] as a config table (serde).
    ///
    /// Every field is optional here; [`KlaviyoBuilder::build`] names what is missing.
    /// [`KEYS`](Self::KEYS) lists each one with its variable.
    pub struct KlaviyoConfig {
        /// Private API key.
        api_key: Option<SecretString> => Text.env("LIFTOS_KLAVIYO_API_KEY").secret().required();
        /// Conversion metric id, or its name (default: the metric named "Placed Order").
        conversion_metric: Option<String> => Text.env("LIFTOS_KLAVIYO_CONVERSION_METRIC");
        /// Replaces `https://a.klaviyo.com`.
        base_url: Option<String> => Text.env("LIFTOS_KLAVIYO_BASE_URL");
        /// `revision` header.
        revision: Option<String> => Text.env("LIFTOS_KLAVIYO_REVISION");
        /// Estimated cost per recipient (default 0).
        cost_per_recipient: Option<f64> => Number.env("LIFTOS_KLAVIYO_COST_PER_RECIPIENT");
        /// Also pull flows (default false).
        include_flows: Option<bool> => Bool.env("LIFTOS_KLAVIYO_INCLUDE_FLOWS");
        /// Report calls per reporting endpoint allowed in any 24 hours (default 225).
        report_daily_limit: Option<usize> => Count.env("LIFTOS_KLAVIYO_REPORT_DAILY_LIMIT");
        /// Least seconds between two report calls (default 31; lower only against a proxy
        /// or test server).
        report_interval_secs: Option<f64> => Number.env("LIFTOS_KLAVIYO_REPORT_INTERVAL_SECS");
    }
}

crate::builder::http_builder_type! {
    /// Builder of a [`KlaviyoConnector`].
    ///
    /// | Name | Default | Meaning | Range |
    /// |---|---|---|---|
    /// | `api_key` | — (required) | private key, sent as `Authorization: Klaviyo-API-Key …` | non-empty |
    /// | `conversion_metric` | `Placed Order` (looked up by name) | metric id, or a metric name to look up | — |
    /// | `base_url` | `https://a.klaviyo.com` | API host (http only on loopback) | URL |
    /// | `revision` | `2026-07-15` | `revision` header | `YYYY-MM-DD` |
    /// | `cost_per_recipient` | 0 | spend = recipients × this (Klaviyo has no media spend) | ≥ 0 |
    /// | `report_interval` | 31 s | least time between two report calls, campaign or flow (steady limit 2/min) | ≥ 0 |
    /// | `include_flows` | `false` | also pull flows: one row per flow and send day, from daily `flow-series-reports` of at most 60 days each | — |
    /// | `report_daily_limit` | 225 | report calls per reporting endpoint this connector makes in any 24 hours; a pull that would need more fails before its first report call | ≥ 1 |
    /// | `retry` | [`RetryConfig::default`](crate::RetryConfig::default) | retries, timeouts | — |
    ///
    /// `from_env` reads the variables of [`KlaviyoConfig::KEYS`]: `LIFTOS_KLAVIYO_API_KEY`,
    /// `…_CONVERSION_METRIC`, `…_BASE_URL`, `…_REVISION`, `…_COST_PER_RECIPIENT`,
    /// `…_INCLUDE_FLOWS` (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`),
    /// `…_REPORT_DAILY_LIMIT` and `…_REPORT_INTERVAL_SECS` (seconds; lower than 31 only
    /// against a proxy or test server; `report_interval_secs` in a config table).
    pub struct KlaviyoBuilder(KlaviyoConfig) {
        report_interval: Duration = Duration::from_secs(31),
    }
    default_base_url: "https://a.klaviyo.com";
    /// A `report_interval_secs` that is not a number of seconds ≥ 0 is reported by
    /// [`build`](Self::build).
    from_config(b) {
        let secs = b.config.report_interval_secs;
        if let Some(d) = b.base.seconds("report_interval_secs", secs, false) {
            b.report_interval = d;
        }
    }
}

impl KlaviyoBuilder {
    liftos_core::setters! {
        /// Sets the private API key.
        with_api_key(api_key: impl Into<SecretString>)
            => self.config.api_key = Some(api_key.into());
        /// Sets the conversion metric (an id, or a name looked up in `GET /api/metrics`).
        with_conversion_metric(conversion_metric: impl Into<String>)
            => self.config.conversion_metric = Some(conversion_metric.into());
        /// Sets the `revision` header.
        with_revision(revision: impl Into<String>) => self.config.revision = Some(revision.into());
        /// Sets the estimated cost per recipient.
        with_cost_per_recipient(cost_per_recipient: f64)
            => self.config.cost_per_recipient = Some(cost_per_recipient);
        /// Sets the least time between two report calls.
        with_report_interval(report_interval: Duration);
        /// Also pulls flows (one row per flow and send day) when `true`.
        with_include_flows(include_flows: bool) => self.config.include_flows = Some(include_flows);
        /// Sets how many calls of each reporting endpoint the connector makes in any 24 hours.
        with_report_daily_limit(report_daily_limit: usize)
            => self.config.report_daily_limit = Some(report_daily_limit);
    }
    /// Validates everything and builds the connector.
    pub fn build(self) -> Result<KlaviyoConnector> {
        self.base.check(SOURCE)?;
        let c = self.config;
        let report_daily_limit = c.report_daily_limit.unwrap_or(225);
        let revision = c
            .revision
            .unwrap_or_else(|| KLAVIYO_DEFAULT_REVISION.into());
        let cost_per_recipient = c.cost_per_recipient.unwrap_or(0.0);
        if report_daily_limit == 0 {
            return Err(config_error(
                SOURCE,
                "report_daily_limit must be at least 1",
            ));
        }
        let key = required_secret(
            SOURCE,
            c.api_key,
            "API key",
            "LIFTOS_KLAVIYO_API_KEY",
            "with_api_key",
        )?;
        if NaiveDate::parse_from_str(&revision, "%Y-%m-%d").is_err() {
            return Err(config_error(
                SOURCE,
                &format!("revision `{revision}` must be a date YYYY-MM-DD"),
            ));
        }
        if !(cost_per_recipient >= 0.0 && cost_per_recipient.is_finite()) {
            return Err(config_error(
                SOURCE,
                "cost_per_recipient must be a finite number >= 0",
            ));
        }
        let base_url = validate_base_url(
            SOURCE,
            c.base_url.as_deref().unwrap_or(KLAVIYO_DEFAULT_BASE_URL),
        )?;
        let base = base_str(&base_url);
        let core = self.base.into_core(SOURCE, Redactor::of([&key]))?;
        Ok(KlaviyoConnector {
            inner: Arc::new(Inner {
                core,
                key,
                metric: c.conversion_metric.unwrap_or_else(|| "Placed Order".into()),
                base,
                base_url,
                revision,
                cost_per_recipient,
                report_interval: self.report_interval,
                last_report: tokio::sync::Mutex::new(None),
                include_flows: c.include_flows.unwrap_or(false),
                report_daily_limit,
                report_log: Mutex::new(HashMap::new()),
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    core: HttpCore,
    key: SecretString,
    metric: String,
    base: String,
    /// The parsed base URL: `links.next` must have its origin.
    base_url: url::Url,
    revision: String,
    cost_per_recipient: f64,
    report_interval: Duration,
    last_report: tokio::sync::Mutex<Option<Duration>>,
    include_flows: bool,
    report_daily_limit: usize,
    /// Per reporting endpoint, the clock readings of the calls sent (retries included).
    report_log: Mutex<HashMap<&'static str, Vec<Duration>>>,
}

/// Pulls one row per email campaign send from Klaviyo, and with `include_flows` one row
/// per email flow and send day.
///
/// Output columns: `sent_at` (Date32: the send day in the company time zone, the day
/// the values attribute to), `account_id`, `campaign_id` (flows: the flow id),
/// `campaign_name` (flows: the flow name; a flow missing from `GET /api/flows`, e.g.
/// deleted, is named by its id), `currency`, `recipients`, `delivered`, `opens` (unique),
/// `clicks` (unique), `unsubscribes`, `bounces` (Int64), `placed_order_count`, `revenue`,
/// `spend` (Float64; spend = recipients × cost_per_recipient), and only with
/// `include_flows` a last column `message_type` (`campaign` or `flow`). Rows are sorted by
/// `sent_at`, then `campaign_id`.
///
/// The company time zone is the account's `timezone` (UTC when absent; an unknown zone
/// is an error): a campaign's `send_time` is converted to it, and report timeframes run
/// from its local midnight of the first day to 23:59:59 of the last, each written with
/// that day's UTC offset.
///
/// Calls: one campaign-values-report per 365 days of range and, with flows, one daily
/// flow-series-report per 60 days (its longest daily timeframe), each `report_interval`
/// after the previous report call. A flow row is a day on which any statistic of the
/// flow's email messages is non-zero; its messages are summed (SMS is left out, as for
/// campaigns). Before its first report call a pull checks that its calls fit in
/// `report_daily_limit` per endpoint, counting the calls this connector sent in the last
/// 24 hours; a daily-limit 429 from Klaviyo is not retried (its wait exceeds
/// `RetryConfig::max_retry_wait`) and ends the pull with [`Error::Throttled`].
#[derive(Clone, Debug)]
pub struct KlaviyoConnector {
    inner: Arc<Inner>,
}

impl KlaviyoConnector {
    /// A builder.
    pub fn builder() -> KlaviyoBuilder {
        KlaviyoBuilder::new()
    }
    /// The progress counters.
    pub fn progress(&self) -> &Progress {
        &self.inner.core.progress
    }
}

fn schema(include_flows: bool) -> SchemaRef {
    let s = |n: &str, nullable| Field::new(n, DataType::Utf8, nullable);
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    let f = |n: &str| Field::new(n, DataType::Float64, false);
    let mut fields = vec![
        Field::new("sent_at", DataType::Date32, false),
        s("account_id", false),
        s("campaign_id", false),
        s("campaign_name", true),
        s("currency", true),
        i("recipients"),
        i("delivered"),
        i("opens"),
        i("clicks"),
        i("unsubscribes"),
        i("bounces"),
        f("placed_order_count"),
        f("revenue"),
        f("spend"),
    ];
    if include_flows {
        fields.push(s("message_type", false));
    }
    Arc::new(Schema::new(fields))
}

impl Inner {
    fn request(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.header(
            "authorization",
            format!("Klaviyo-API-Key {}", self.key.expose_secret()),
        )
        .header("revision", &self.revision)
        .header("accept", "application/vnd.api+json")
    }

    async fn get(&self, budget: &PullBudget, url: &str) -> Result<Reply> {
        let client = self.core.client();
        self.core
            .execute(
                budget,
                || self.request(client.get(url)),
                |r| classify(&self.core.redactor, r),
            )
            .await
    }

    /// Every page of a JSON:API listing, following `links.next`.
    /// At most [`RetryConfig::page_bound`](crate::RetryConfig::page_bound)`(days)` pages are followed.
    async fn list(
        self: &Arc<Self>,
        budget: &Arc<PullBudget>,
        first: String,
        days: u64,
    ) -> Result<Vec<Resource>> {
        let this = self.clone();
        let budget = budget.clone();
        let bound = self.core.config.page_bound(days);
        let redactor = self.core.redactor.clone();
        let pages = paginate(SOURCE, bound, redactor, move |next: Option<String>| {
            let (this, budget, first) = (this.clone(), budget.clone(), first.clone());
            async move {
                let url = match next {
                    None => first,
                    // Origin compared parsed (scheme, host, port): the API key goes
                    // nowhere else, not to `http://base@other/` nor to another port.
                    Some(n) => check_link(SOURCE, "links.next", &this.base_url, &n)?.to_string(),
                };
                let reply = this.get(&budget, &url).await?;
                let page: ListPage = decode_for(SOURCE, &reply.body)?;
                Ok((
                    page.data,
                    page.links.and_then(|l| l.next).filter(|n| !n.is_empty()),
                ))
            }
        });
        let chunks: Vec<Vec<Resource>> = pages.try_collect().await?;
        Ok(chunks.into_iter().flatten().collect())
    }

    /// The account's id, currency and time zone (`timezone`; absent or null: UTC).
    async fn account(
        self: &Arc<Self>,
        budget: &Arc<PullBudget>,
    ) -> Result<(String, Option<String>, Tz)> {
        let accounts = self
            .list(budget, format!("{}/api/accounts", self.base), 1)
            .await?;
        let a = accounts.first().ok_or_else(|| Error::Decode {
            source_name: SOURCE.into(),
            path: "data".into(),
            message: "no account returned".into(),
        })?;
        let tz = match a.attributes.get("timezone") {
            None | Some(Value::Null) => Tz::UTC,
            Some(v) => v.as_str().and_then(|n| n.parse().ok()).ok_or_else(|| {
                decode_error(
                    SOURCE,
                    "data[0].attributes.timezone".into(),
                    format!("`{v}` is not an IANA time zone"),
                )
            })?,
        };
        Ok((
            a.id.clone(),
            a.attributes
                .get("preferred_currency")
                .and_then(Value::as_str)
                .map(str::to_owned),
            tz,
        ))
    }

    async fn metric_id(self: &Arc<Self>, budget: &Arc<PullBudget>) -> Result<String> {
        let metrics = self
            .list(budget, format!("{}/api/metrics", self.base), 1)
            .await?;
        if let Some(m) = metrics.iter().find(|m| m.id == self.metric) {
            return Ok(m.id.clone());
        }
        metrics
            .iter()
            .find(|m| m.attributes.get("name").and_then(Value::as_str) == Some(self.metric.as_str()))
            .map(|m| m.id.clone())
            .ok_or_else(|| Error::InvalidRequest { message: format!("klaviyo: no metric with id or name `{}` (set LIFTOS_KLAVIYO_CONVERSION_METRIC)", self.metric) })
    }

    /// Calls of `endpoint` this connector sent in the last 24 hours.
    fn reports_in_last_day(&self, endpoint: &'static str) -> usize {
        let now = self.core.clock.now();
        let mut log = self
            .report_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let calls = log.entry(endpoint).or_default();
        calls.retain(|t| now.saturating_sub(*t) < DAY);
        calls.len()
    }

    /// Fails unless `planned` more calls of `endpoint` fit in the daily limit.
    fn check_daily_limit(
        &self,
        endpoint: &'static str,
        planned: usize,
        start: NaiveDate,
        end: NaiveDate,
        chunk_days: u32,
    ) -> Result<()> {
        let used = self.reports_in_last_day(endpoint);
        if used + planned <= self.report_daily_limit {
            return Ok(());
        }
        Err(Error::InvalidRequest {
            message: format!(
                "klaviyo: {start}..{end} needs at least {planned} calls of POST {endpoint} ({chunk_days} days each, more when a report has several pages); \
                 {used} were sent in the last 24 hours and the daily limit is {} per endpoint, so the pull \
                 was not started (pull a shorter range, or later; see report_daily_limit)",
                self.report_daily_limit
            ),
        })
    }

    /// One report call (a POST of `body` to `url`, a page of `endpoint`): spaced
    /// `report_interval` after the previous report call, checked against and recorded in
    /// the daily limit (every attempt counts).
    async fn report_call(
        &self,
        budget: &PullBudget,
        endpoint: &'static str,
        url: &str,
        body: &str,
    ) -> Result<Reply> {
        {
            let mut last = self.last_report.lock().await;
            if let Some(t) = *last {
                let next = t.saturating_add(self.report_interval);
                let now = self.core.clock.now();
                if next > now {
                    self.core
                        .sleep_within_deadline(budget, next - now, || {
                            format!(
                                "report_interval ({} ms between report calls): spacing the call of POST {endpoint}",
                                self.report_interval.as_millis()
                            )
                        })
                        .await?;
                }
            }
            *last = Some(self.core.clock.now());
        }
        if self.reports_in_last_day(endpoint) >= self.report_daily_limit {
            return Err(Error::InvalidRequest {
                message: format!(
                    "klaviyo: the daily limit of {} calls of POST {endpoint} was reached (retries count); \
                     the pull stopped before exceeding it",
                    self.report_daily_limit
                ),
            });
        }
        let client = self.core.client();
        let attempts = AtomicUsize::new(0);
        let reply = self
            .core
            .execute(
                budget,
                || {
                    attempts.fetch_add(1, Ordering::Relaxed);
                    self.request(client.post(url))
                        .header("content-type", "application/vnd.api+json")
                        .body(body.to_owned())
                },
                |r| classify(&self.core.redactor, r),
            )
            .await;
        let now = self.core.clock.now();
        self.report_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(endpoint)
            .or_default()
            .extend(std::iter::repeat_n(now, attempts.load(Ordering::Relaxed)));
        reply
    }

    /// Every page of one report: `POST endpoint` with `body`, then each `links.next`
    /// (which carries `page_cursor`) POSTed with the same body, until a page has none.
    /// Each page is a report call, spaced and counted against the daily limit like the
    /// first; a repeated link is [`Error::PageLoop`], more pages than
    /// [`RetryConfig::page_bound`](crate::RetryConfig::page_bound)`(days)` is
    /// [`Error::TooManyPages`]. Returns the bodies of the pages.
    async fn report_pages(
        self: &Arc<Self>,
        budget: &Arc<PullBudget>,
        endpoint: &'static str,
        body: String,
        days: u64,
    ) -> Result<Vec<Vec<u8>>> {
        let this = self.clone();
        let budget = budget.clone();
        let body = Arc::new(body);
        let bound = self.core.config.page_bound(days);
        let redactor = self.core.redactor.clone();
        let pages = paginate(SOURCE, bound, redactor, move |next: Option<String>| {
            let (this, budget, body) = (this.clone(), budget.clone(), body.clone());
            async move {
                let url = match next {
                    None => format!("{}{endpoint}", this.base),
                    // The API key goes to the API's origin only.
                    Some(n) => check_link(SOURCE, "links.next", &this.base_url, &n)?.to_string(),
                };
                let reply = this.report_call(&budget, endpoint, &url, &body).await?;
                let page: NextLink = decode_for(SOURCE, &reply.body)?;
                let next = page.links.and_then(|l| l.next).filter(|n| !n.is_empty());
                Ok((reply.body, next))
            }
        });
        pages.try_collect().await
    }

    /// One campaign-values report over `since..=until`, every page of it.
    async fn report(
        self: &Arc<Self>,
        budget: &Arc<PullBudget>,
        metric: &str,
        tz: Tz,
        since: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<ReportResult>> {
        let body = serde_json::json!({ "data": { "type": "campaign-values-report", "attributes": {
            "statistics": STATISTICS,
            "timeframe": timeframe(tz, since, until),
            "conversion_metric_id": metric,
            "group_by": ["campaign_id", "campaign_message_id", "send_channel"],
        } } })
        .to_string();
        let days = (until - since).num_days().max(0) as u64 + 1;
        let mut results = Vec::new();
        for page in self
            .report_pages(budget, CAMPAIGN_REPORTS, body, days)
            .await?
        {
            let rep: ReportReply = decode_for(SOURCE, &page)?;
            self.core.progress.page(rep.data.attributes.results.len());
            results.extend(rep.data.attributes.results);
        }
        Ok(results)
    }

    /// One daily flow-series report over `since..=until` (at most 60 days), every page of
    /// it, added into `days` per (send day, flow id), email messages only.
    async fn flow_series(
        self: &Arc<Self>,
        budget: &Arc<PullBudget>,
        metric: &str,
        tz: Tz,
        since: NaiveDate,
        until: NaiveDate,
        days: &mut BTreeMap<(NaiveDate, String), [f64; 8]>,
    ) -> Result<()> {
        let body = serde_json::json!({ "data": { "type": "flow-series-report", "attributes": {
            "statistics": STATISTICS,
            "timeframe": timeframe(tz, since, until),
            "interval": "daily",
            "conversion_metric_id": metric,
        } } })
        .to_string();
        let span = (until - since).num_days().max(0) as u64 + 1;
        for page in self.report_pages(budget, FLOW_REPORTS, body, span).await? {
            let results = add_flow_series(&page, tz, since, until, days)?;
            self.core.progress.page(results);
        }
        Ok(())
    }

    async fn pull(self: Arc<Self>, start: NaiveDate, end: NaiveDate) -> Result<RecordBatch> {
        let budget = self.core.budget();
        let campaign_chunks = date_chunks(start, end, CAMPAIGN_REPORT_MAX_DAYS);
        let flow_chunks = if self.include_flows {
            date_chunks(start, end, FLOW_SERIES_MAX_DAYS)
        } else {
            Vec::new()
        };
        // Few large calls, planned before the first request so a pull never runs into
        // the daily cap half-way.
        self.check_daily_limit(
            CAMPAIGN_REPORTS,
            campaign_chunks.len(),
            start,
            end,
            CAMPAIGN_REPORT_MAX_DAYS,
        )?;
        self.check_daily_limit(
            FLOW_REPORTS,
            flow_chunks.len(),
            start,
            end,
            FLOW_SERIES_MAX_DAYS,
        )?;
        let (account, currency, tz) = self.account(&budget).await?;
        let metric = self.metric_id(&budget).await?;
        let filtered = |path: &str, filter: &str| {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("filter", filter)
                .finish();
            format!("{}{path}?{q}", self.base)
        };
        let days = (end - start).num_days().max(0) as u64 + 1;
        // Archived campaigns still have sends in the reports, but the listing leaves them
        // out unless asked: list both.
        let mut campaigns = self
            .list(&budget, filtered("/api/campaigns", CHANNEL_FILTER), days)
            .await?;
        campaigns.extend(
            self.list(
                &budget,
                filtered("/api/campaigns", ARCHIVED_CHANNEL_FILTER),
                days,
            )
            .await?,
        );
        // The send day in the company's time zone; Err: a send time that does not read.
        type Sent = std::result::Result<Option<NaiveDate>, String>;
        let mut meta: HashMap<String, (Option<String>, Sent)> = HashMap::new();
        for c in &campaigns {
            let name = c
                .attributes
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let sent = match c.attributes.get("send_time") {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| Some(t.with_timezone(&tz).date_naive()))
                    .ok_or_else(|| v.to_string()),
            };
            meta.insert(c.id.clone(), (name, sent));
        }
        // Flow names from the listings (live and archived flows), before the first
        // (costly) report call.
        let mut flow_names: HashMap<String, String> = HashMap::new();
        if self.include_flows {
            let mut flows = self
                .list(&budget, format!("{}/api/flows", self.base), days)
                .await?;
            flows.extend(
                self.list(&budget, filtered("/api/flows", ARCHIVED_FILTER), days)
                    .await?,
            );
            for f in flows {
                if let Some(n) = f.attributes.get("name").and_then(Value::as_str) {
                    flow_names.insert(f.id.clone(), n.to_owned());
                }
            }
        }
        // One report per year of the range (the API's maximum timeframe).
        let mut totals: Vec<(String, [f64; 8])> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (since, until) in campaign_chunks {
            for (i, r) in self
                .report(&budget, &metric, tz, since, until)
                .await?
                .iter()
                .enumerate()
            {
                if r.groupings
                    .send_channel
                    .as_deref()
                    .is_some_and(|c| c != "email")
                {
                    continue;
                }
                let values = report_statistics(i, r)?;
                let id = r.groupings.campaign_id.clone();
                let k = *index.entry(id.clone()).or_insert_with(|| {
                    totals.push((id.clone(), [0.0; 8]));
                    totals.len() - 1
                });
                for (t, v) in totals[k].1.iter_mut().zip(values) {
                    *t += v;
                }
            }
        }
        let mut rows: Vec<Row<'_>> = Vec::new();
        for (id, t) in &totals {
            let (name, sent) = meta
                .get(id)
                .map(|(n, s)| (n.as_deref(), s.clone()))
                .unwrap_or((None, Ok(None)));
            let sent = sent.map_err(|raw| Error::Decode {
                source_name: SOURCE.into(),
                path: format!("campaigns[{id}].send_time"),
                message: format!("{raw} is not an RFC 3339 date-time"),
            })?;
            let Some(day) = sent else {
                return Err(Error::Decode {
                    source_name: SOURCE.into(),
                    path: format!("campaigns[{id}].send_time"),
                    message: "campaign in the report has no send time in the campaigns listing"
                        .into(),
                });
            };
            if day < start || day > end {
                continue;
            }
            rows.push((
                Date32Type::from_naive_date(day),
                id.as_str(),
                name,
                t,
                "campaign",
            ));
        }
        // Flows: one daily series call per 60 days.
        let mut flow_days = BTreeMap::new();
        if self.include_flows {
            for (since, until) in flow_chunks {
                self.flow_series(&budget, &metric, tz, since, until, &mut flow_days)
                    .await?;
            }
        }
        for ((day, id), t) in &flow_days {
            let name = flow_names.get(id).map_or(id.as_str(), String::as_str);
            rows.push((
                Date32Type::from_naive_date(*day),
                id.as_str(),
                Some(name),
                t,
                "flow",
            ));
        }
        rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let int = |j: usize| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.3[j].round() as i64),
            ))
        };
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|_| account.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2))),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|_| currency.as_deref()),
            )),
            int(0),
            int(1),
            int(2),
            int(3),
            int(6),
            int(7),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3[4]))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3[5]))),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.3[0] * self.cost_per_recipient),
            )),
        ];
        if self.include_flows {
            cols.push(Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.4),
            )));
        }
        Ok(RecordBatch::try_new(schema(self.include_flows), cols)?)
    }
}

/// Adds a flow-series-report answer into `days` per (send day, flow id): email messages
/// only, messages of one flow summed, days outside `since..=until` or without any
/// non-zero statistic left out. Returns the number of results read.
/// A report's `timeframe` for the days `since..=until` in the company's time zone: its
/// local midnight to the last second of `until`, each with its UTC offset of that day.
fn timeframe(tz: Tz, since: NaiveDate, until: NaiveDate) -> Value {
    // A time that a daylight-saving change skips moves on (at midnight) or back (at the
    // end of the day) by half-hour steps to the nearest one that exists.
    let local = |mut t: NaiveDateTime, step: chrono::Duration, late: bool| {
        for _ in 0..4 {
            let found = tz.from_local_datetime(&t);
            if let Some(dt) = if late {
                found.latest()
            } else {
                found.earliest()
            } {
                return dt.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
            }
            t += step;
        }
        format!("{}+00:00", t.format("%Y-%m-%dT%H:%M:%S"))
    };
    let half_hour = chrono::Duration::minutes(30);
    serde_json::json!({
        "start": local(since.and_time(NaiveTime::MIN), half_hour, false),
        "end": local(until.and_hms_opt(23, 59, 59).unwrap_or_default(), -half_hour, true),
    })
}

/// The statistics of the campaign values report's `i`-th result: absent or `null` is 0,
/// anything but a JSON number is a decode error naming it.
fn report_statistics(i: usize, r: &ReportResult) -> Result<[f64; 8]> {
    let mut values = [0.0; 8];
    for (j, stat) in STATISTICS.iter().enumerate() {
        values[j] = match r.statistics.get(*stat) {
            None | Some(Value::Null) => 0.0,
            Some(v) => v.as_f64().ok_or_else(|| {
                decode_error(
                    SOURCE,
                    format!("data.attributes.results[{i}].statistics.{stat}"),
                    format!("`{v}` is not a number"),
                )
            })?,
        };
    }
    Ok(values)
}

/// The company-time-zone (`tz`) day whose daily bucket a series `date_times` entry
/// starts. Klaviyo documents the entries as RFC 3339 date-times (its example:
/// `2024-01-05T00:00:00+00:00`) and the report's days as the company time zone's (the
/// timeframe's "offset is ignored and the company timezone is used"), but not the offset
/// the entries carry, so both readings are handled:
/// - the bucket's start as an instant, in any offset (`2024-01-04T15:00:00+00:00` for
///   midnight in Tokyo): converted to `tz`, it is that day's local midnight (or the first
///   time of a day whose midnight a daylight-saving change skips): its date;
/// - the company's local midnight written with an offset that is not the company's
///   (`2024-01-05T00:00:00+00:00` for a New York account): it is not a midnight in `tz`,
///   but midnight as written: the date as written.
///
/// An entry without an offset (or a bare date) is read as the company's wall time. Slicing the text's
/// first ten characters, as before, read the first reading a day early east of UTC.
fn series_day(t: &str, tz: Tz) -> Option<NaiveDate> {
    let t = t.trim();
    match DateTime::parse_from_rfc3339(t) {
        Ok(at) => {
            let local = at.with_timezone(&tz);
            if local.time() == NaiveTime::MIN || at.time() != NaiveTime::MIN {
                Some(local.date_naive())
            } else {
                Some(at.date_naive())
            }
        }
        Err(_) => ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
            .map(|n| n.date())
            .or_else(|| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()),
    }
}

fn add_flow_series(
    body: &[u8],
    tz: Tz,
    since: NaiveDate,
    until: NaiveDate,
    days: &mut BTreeMap<(NaiveDate, String), [f64; 8]>,
) -> Result<usize> {
    let rep: SeriesReply = decode_for(SOURCE, body)?;
    let attrs = rep.data.attributes;
    let bad = |path: String, message: String| decode_error(SOURCE, path, message);
    let dates = attrs
        .date_times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            series_day(t, tz).ok_or_else(|| {
                bad(
                    format!("data.attributes.date_times[{i}]"),
                    format!("`{t}` is not an RFC 3339 date-time"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    for (i, r) in attrs.results.iter().enumerate() {
        if r.groupings
            .send_channel
            .as_deref()
            .is_some_and(|c| c != "email")
        {
            continue;
        }
        let mut values = vec![[0.0; 8]; dates.len()];
        for (j, stat) in STATISTICS.iter().enumerate() {
            let Some(series) = r.statistics.get(*stat) else {
                continue;
            };
            let path = || format!("data.attributes.results[{i}].statistics.{stat}");
            let series = series
                .as_array()
                .ok_or_else(|| bad(path(), "expected an array".into()))?;
            if series.len() != dates.len() {
                return Err(bad(
                    path(),
                    format!("{} values for {} date_times", series.len(), dates.len()),
                ));
            }
            for (k, v) in series.iter().enumerate() {
                values[k][j] = match v {
                    Value::Null => 0.0,
                    v => v.as_f64().ok_or_else(|| {
                        bad(format!("{}[{k}]", path()), format!("`{v}` is not a number"))
                    })?,
                };
            }
        }
        for (day, v) in dates.iter().zip(&values) {
            if *day < since || *day > until || v.iter().all(|x| *x == 0.0) {
                continue;
            }
            let t = days
                .entry((*day, r.groupings.flow_id.clone()))
                .or_insert([0.0; 8]);
            for j in 0..8 {
                t[j] += v[j];
            }
        }
    }
    Ok(attrs.results.len())
}

/// One output row: day, id, name, statistics, message type.
type Row<'a> = (i32, &'a str, Option<&'a str>, &'a [f64; 8], &'static str);

#[async_trait::async_trait]
impl Connector for KlaviyoConnector {
    fn name(&self) -> &str {
        SOURCE
    }
    fn schema(&self, _request: &ConnectorRequest) -> Result<SchemaRef> {
        Ok(schema(self.inner.include_flows))
    }
    async fn check(&self) -> Result<()> {
        let budget = self.inner.core.budget();
        self.inner.core.checked(self.inner.account(&budget)).await
    }
    /// The account's `timezone` (`GET /api/accounts`; absent or null: UTC, as the pull
    /// reads it): the company time zone its report days are in.
    async fn time_zones(&self) -> Result<Vec<AccountTimeZone>> {
        let budget = self.inner.core.budget();
        let (id, _, tz) = self
            .inner
            .account(&budget)
            .await
            .map_err(|e| self.inner.core.redactor.scrub(e))?;
        Ok(vec![AccountTimeZone {
            account: id,
            zone: tz.name().to_owned(),
            field: "timezone",
        }])
    }
    fn read(&self, request: &ConnectorRequest) -> Result<RecordBatchStream> {
        let inner = self.inner.clone();
        let redactor = inner.core.redactor.clone();
        whole_range_stream(SOURCE, request, redactor, |start, end| async move {
            inner.pull(start, end).await
        })
    }
}

#[derive(Deserialize)]
struct ListPage {
    data: Vec<Resource>,
    #[serde(default)]
    links: Option<Links>,
}

#[derive(Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Resource {
    id: String,
    #[serde(default)]
    attributes: serde_json::Map<String, Value>,
}

/// The `links.next` of a report page.
#[derive(Deserialize)]
struct NextLink {
    #[serde(default)]
    links: Option<Links>,
}

#[derive(Deserialize)]
struct ReportReply {
    data: ReportData,
}

#[derive(Deserialize)]
struct ReportData {
    attributes: ReportAttributes,
}

#[derive(Deserialize)]
struct ReportAttributes {
    results: Vec<ReportResult>,
}

#[derive(Deserialize)]
struct ReportResult {
    groupings: Groupings,
    statistics: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct SeriesReply {
    data: SeriesData,
}

#[derive(Deserialize)]
struct SeriesData {
    attributes: SeriesAttributes,
}

#[derive(Deserialize)]
struct SeriesAttributes {
    results: Vec<SeriesResult>,
    date_times: Vec<String>,
}

#[derive(Deserialize)]
struct SeriesResult {
    groupings: FlowGroupings,
    statistics: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct FlowGroupings {
    flow_id: String,
    #[serde(default)]
    send_channel: Option<String>,
}

#[derive(Deserialize)]
struct Groupings {
    campaign_id: String,
    #[serde(default)]
    send_channel: Option<String>,
}

fn classify(redactor: &Redactor, r: &Reply) -> Verdict {
    if (200..300).contains(&r.status) {
        return Verdict::Ok { pause: None };
    }
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let first = &v["errors"][0];
    let detail = redactor.excerpt(
        first["detail"]
            .as_str()
            .or(first["title"].as_str())
            .unwrap_or_default(),
    );
    let code = redactor.excerpt(first["code"].as_str().unwrap_or_default());
    match r.status {
        401 | 403 => Verdict::Fail(Error::Auth {
            source_name: SOURCE.into(),
            message: format!(
                "HTTP {} `{code}`: {detail}; check LIFTOS_KLAVIYO_API_KEY and its scopes",
                r.status
            ),
        }),
        429 => Verdict::Retry {
            after: r.retry_after(),
            reason: format!("HTTP 429 `{code}`: {detail}"),
        },
        500 | 502 | 503 | 504 => Verdict::Retry {
            after: None,
            reason: format!("HTTP {}: {detail}", r.status),
        },
        s => Verdict::Fail(Error::Http {
            source_name: SOURCE.into(),
            status: s,
            body: r.snippet(redactor),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_mentions;

    fn with(vars: &[(&str, &str)]) -> KlaviyoBuilder {
        KlaviyoBuilder::from_env_with(crate::keys::env_of(vars))
    }

    #[test]
    fn include_flows_is_off_by_default_and_read_from_the_environment() {
        let key = ("LIFTOS_KLAVIYO_API_KEY", "pk_unit_secret");
        let c = with(&[key]).build().unwrap();
        assert!(!c.inner.include_flows);
        let request = ConnectorRequest::new(
            NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
        )
        .unwrap();
        let names = |c: &KlaviyoConnector| -> Vec<String> {
            c.schema(&request)
                .unwrap()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        };
        assert_eq!(names(&c).last().map(String::as_str), Some("spend"));
        for (v, want) in [("true", true), ("1", true), ("ON", true), ("no", false)] {
            let c = with(&[key, ("LIFTOS_KLAVIYO_INCLUDE_FLOWS", v)])
                .build()
                .unwrap();
            assert_eq!(c.inner.include_flows, want, "{v}");
            assert_eq!(names(&c).len(), if want { 15 } else { 14 });
        }
        let err = with(&[key, ("LIFTOS_KLAVIYO_INCLUDE_FLOWS", "maybe")])
            .build()
            .unwrap_err()
            .to_string();
        assert_mentions(&err, &["LIFTOS_KLAVIYO_INCLUDE_FLOWS", "maybe"]);
        assert!(!err.contains("pk_unit_secret"), "{err}");
        let err = with(&[key]).with_report_daily_limit(0).build().unwrap_err();
        assert!(err.to_string().contains("report_daily_limit"), "{err}");
        let c = with(&[key, ("LIFTOS_KLAVIYO_REPORT_INTERVAL_SECS", "0.25")])
            .build()
            .unwrap();
        assert_eq!(c.inner.report_interval, Duration::from_millis(250));
        for bad in ["-1", "soon"] {
            let err = with(&[key, ("LIFTOS_KLAVIYO_REPORT_INTERVAL_SECS", bad)])
                .build()
                .unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn flow_series_sum_email_messages_skip_sms_and_empty_days() {
        let body = serde_json::json!({ "data": { "type": "flow-series-report", "attributes": {
            "date_times": ["2024-01-05T00:00:00+00:00", "2024-01-06T00:00:00+00:00", "2024-01-07T00:00:00+00:00"],
            "results": [
                { "groupings": { "flow_id": "XVTP5Q", "send_channel": "email", "flow_message_id": "m1" },
                  "statistics": { "recipients": [100, 0, 7], "conversion_value": [12.5, 0.0, null], "open_rate": [0.5, 0.0, 0.1] } },
                { "groupings": { "flow_id": "XVTP5Q", "send_channel": "email", "flow_message_id": "m2" },
                  "statistics": { "recipients": [50, 0, 0], "conversion_value": [2.25, 0.0, 0.0] } },
                { "groupings": { "flow_id": "XVTP5Q", "send_channel": "sms", "flow_message_id": "m3" },
                  "statistics": { "recipients": [900, 900, 900], "conversion_value": [99.0, 99.0, 99.0] } }
            ] } } })
        .to_string();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let mut days = BTreeMap::new();
        let n = add_flow_series(
            body.as_bytes(),
            Tz::UTC,
            d("2024-01-05"),
            d("2024-01-07"),
            &mut days,
        )
        .unwrap();
        assert_eq!(n, 3);
        let got: Vec<_> = days
            .iter()
            .map(|((day, id), v)| (day.to_string(), id.as_str(), v[0], v[5]))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2024-01-05".to_owned(), "XVTP5Q", 150.0, 14.75),
                ("2024-01-07".to_owned(), "XVTP5Q", 7.0, 0.0),
            ],
            "messages summed, SMS and the empty day left out"
        );
        // A series shorter than `date_times` is a decode error naming its path.
        let short = body.replace("[50,0,0]", "[50,0]");
        let err = add_flow_series(
            short.as_bytes(),
            Tz::UTC,
            d("2024-01-05"),
            d("2024-01-07"),
            &mut days,
        )
        .unwrap_err()
        .to_string();
        assert_mentions(
            &err,
            &[
                "data.attributes.results[1].statistics.recipients",
                "2 values for 3 date_times",
            ],
        );
    }

    /// `date_times` are RFC 3339 date-times whose offset Klaviyo does not document: each
    /// is read as the company-time-zone day its bucket starts, whether it is written as
    /// the instant in UTC, in the company's offset, or as the local midnight labelled
    /// with another offset; a day east of UTC is not read a day early (as slicing the
    /// text did), and an entry that is not a date-time is an error naming its path.
    #[test]
    fn flow_series_days_are_the_company_time_zones() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let new_york: Tz = "America/New_York".parse().unwrap();
        for (tz, entry, day) in [
            // Midnight in Tokyo as the UTC instant, and in its own offset.
            (tokyo, "2024-01-04T15:00:00+00:00", "2024-01-05"),
            (tokyo, "2024-01-05T00:00:00+09:00", "2024-01-05"),
            (tokyo, "2024-01-04T15:00:00Z", "2024-01-05"),
            // Midnight in New York as the UTC instant (winter, then summer time), in its
            // own offset, and the local midnight labelled +00:00.
            (new_york, "2024-01-05T05:00:00+00:00", "2024-01-05"),
            (new_york, "2024-07-05T04:00:00+00:00", "2024-07-05"),
            (new_york, "2024-01-05T00:00:00-05:00", "2024-01-05"),
            (new_york, "2024-01-05T00:00:00+00:00", "2024-01-05"),
            (tokyo, "2024-01-05T00:00:00+00:00", "2024-01-05"),
            // No offset: the company's wall time.
            (tokyo, "2024-01-05T00:00:00", "2024-01-05"),
            (tokyo, "2024-01-05", "2024-01-05"),
        ] {
            assert_eq!(series_day(entry, tz), Some(d(day)), "{entry} in {tz}");
        }
        // End to end through a report: Tokyo's days from UTC instants.
        let body = serde_json::json!({ "data": { "type": "flow-series-report", "attributes": {
            "date_times": ["2024-01-04T15:00:00+00:00", "2024-01-05T15:00:00+00:00"],
            "results": [{ "groupings": { "flow_id": "F1", "send_channel": "email", "flow_message_id": "m1" },
                  "statistics": { "recipients": [10, 20] } }] } } })
        .to_string();
        let mut days = BTreeMap::new();
        add_flow_series(
            body.as_bytes(),
            tokyo,
            d("2024-01-05"),
            d("2024-01-06"),
            &mut days,
        )
        .unwrap();
        let got: Vec<_> = days
            .iter()
            .map(|((day, _), v)| (day.to_string(), v[0]))
            .collect();
        assert_eq!(
            got,
            [
                ("2024-01-05".to_owned(), 10.0),
                ("2024-01-06".to_owned(), 20.0)
            ]
        );
        for bad in [
            "2024-13-05T00:00:00+00:00",
            "yesterday",
            "2024-01-05T25:00:00Z",
            "",
        ] {
            let body = body.replace("2024-01-05T15:00:00+00:00", bad);
            let err = add_flow_series(
                body.as_bytes(),
                tokyo,
                d("2024-01-05"),
                d("2024-01-06"),
                &mut days,
            )
            .unwrap_err();
            let Error::Decode { path, message, .. } = &err else {
                panic!("{bad}: {err}");
            };
            assert_eq!(path, "data.attributes.date_times[1]", "{err}");
            assert!(message.contains("not an RFC 3339 date-time"), "{err}");
        }
    }

    #[test]
    fn a_config_table_sets_flows_and_the_daily_limit() {
        let c: KlaviyoConfig = serde_json::from_str(
            r#"{"api_key":"pk_x","include_flows":true,"report_daily_limit":100}"#,
        )
        .unwrap();
        let c = KlaviyoBuilder::from_config(c).build().unwrap();
        assert!(c.inner.include_flows);
        assert_eq!(c.inner.report_daily_limit, 100);
        assert!(format!("{c:?}").contains("include_flows: true"));
    }
}
