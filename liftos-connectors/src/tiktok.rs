//! TikTok Ads (Business API v1.3, synchronous integrated reports).
//!
//! Facts from TikTok's API for Business documentation (reporting: "Run a synchronous
//! report", `GET /open_api/v1.3/report/integrated/get/`):
//! - authentication is the `Access-Token` header; list parameters (`dimensions`,
//!   `metrics`, `advertiser_ids`) are JSON arrays in the query string;
//! - every answer is HTTP 200 with a `code` in the body: 0 success, 40100 too many
//!   requests, 40102/40104/40105 a missing, expired or invalid access token, 40001 no
//!   permission on the advertiser, 40002 a bad parameter, 50000 (and 5xxxx) a system
//!   error;
//! - with the `stat_time_day` dimension a request covers at most 30 days; pages are
//!   numbered (`page`, `page_size` ≤ 1000) and `page_info.total_page` says how many;
//! - metrics are strings; `total_complete_payment_rate` is, despite its name, the total
//!   value of completed payments (purchases), the platform-reported revenue;
//! - the advertiser's currency comes from `GET /open_api/v1.3/advertiser/info/`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::builder::strings;
use crate::http::{
    HttpCore, Progress, PullBudget, Redactor, Reply, Verdict, base_str, config_error, date_chunks,
    decode_error, decode_for, validate_base_url,
};
use crate::{Connector, ConnectorRequest, Error, Level, RecordBatchStream, Result, TimeIncrement};

const SOURCE: &str = "tiktok";
/// Default API host.
pub const TIKTOK_DEFAULT_BASE_URL: &str = "https://business-api.tiktok.com";
/// Default API version.
pub const TIKTOK_DEFAULT_API_VERSION: &str = "v1.3";
/// Metrics pulled by default (after `campaign_name`, which is always requested):
/// spend, impressions, clicks, purchases (`complete_payment`) and their value
/// (`total_complete_payment_rate`).
pub const TIKTOK_DEFAULT_METRICS: &[&str] = &[
    "spend",
    "impressions",
    "clicks",
    "complete_payment",
    "total_complete_payment_rate",
];
/// Longest range of one daily report request (TikTok's limit with `stat_time_day`).
pub const TIKTOK_MAX_CHUNK_DAYS: u32 = 30;
/// Largest `page_size` TikTok accepts.
pub const TIKTOK_MAX_PAGE_SIZE: u32 = 1000;

/// Metrics that are whole counts (Int64); every other metric is Float64.
const COUNT_METRICS: &[&str] = &[
    "impressions",
    "clicks",
    "reach",
    "video_play_actions",
    "video_watched_2s",
    "video_watched_6s",
    "likes",
    "comments",
    "shares",
    "follows",
    "profile_visits",
];

crate::keys::config_table! {
    /// Settings of a [`TikTokConnector`] as a config table (serde).
    ///
    /// Every field is optional here; [`TikTokBuilder::build`] names what is missing.
    /// [`KEYS`](Self::KEYS) lists each one with its variable.
    pub struct TikTokConfig {
        /// The `Access-Token` of an app authorized on the advertisers.
        access_token: Option<SecretString>
            => Text.env("LIFTOS_TIKTOK_ACCESS_TOKEN").secret().required();
        /// Advertiser (ad account) ids.
        advertiser_ids: Vec<String> => List.env("LIFTOS_TIKTOK_ADVERTISER_IDS").required();
        /// Replaces `https://business-api.tiktok.com`.
        base_url: Option<String> => Text.env("LIFTOS_TIKTOK_BASE_URL");
        /// API version (default `v1.3`).
        api_version: Option<String> => Text.env("LIFTOS_TIKTOK_API_VERSION");
        /// Metrics pulled after the default ones.
        metrics: Vec<String> => List.env("LIFTOS_TIKTOK_METRICS");
    }
}

crate::builder::http_builder_type! {
    /// Builder of a [`TikTokConnector`].
    ///
    /// | Name | Default | Meaning | Range |
    /// |---|---|---|---|
    /// | `access_token` | — (required) | `Access-Token` header | non-empty |
    /// | `advertiser_ids` | — (required) | advertisers pulled | ≥ 1, digits |
    /// | `base_url` | `https://business-api.tiktok.com` | API host (http only on loopback) | URL |
    /// | `api_version` | `v1.3` | path version | `vN.N` |
    /// | `metrics` | none | metrics pulled after [`TIKTOK_DEFAULT_METRICS`] | metric names |
    /// | `chunk_days` | 30 | days per report request (calls run `retry.concurrency` at once) | 1–30 |
    /// | `page_size` | 1000 | rows per page | 1–1000 |
    /// | `retry` | [`RetryConfig::default`](crate::RetryConfig::default) | retries, timeouts, concurrency, page bound | — |
    pub struct TikTokBuilder(TikTokConfig) {
        chunk_days: u32 = TIKTOK_MAX_CHUNK_DAYS,
        page_size: u32 = TIKTOK_MAX_PAGE_SIZE,
    }
    default_base_url: "https://business-api.tiktok.com";
}

impl TikTokBuilder {
    liftos_core::setters! {
        /// Sets the access token.
        with_access_token(access_token: impl Into<SecretString>)
            => self.config.access_token = Some(access_token.into());
        /// Sets the advertisers.
        with_advertiser_ids(advertisers: impl IntoIterator<Item = impl Into<String>>)
            => self.config.advertiser_ids = strings(advertisers);
        /// Sets the API version (e.g. `v1.3`).
        with_api_version(api_version: impl Into<String>)
            => self.config.api_version = Some(api_version.into());
        /// Adds metrics after the default ones.
        with_metrics(metrics: impl IntoIterator<Item = impl Into<String>>)
            => self.config.metrics = strings(metrics);
        /// Days per report request (at most 30).
        with_chunk_days(chunk_days: u32);
        /// Rows per page (at most 1000).
        with_page_size(page_size: u32);
    }

    /// Validates everything and builds the connector.
    pub fn build(self) -> Result<TikTokConnector> {
        self.base.check(SOURCE)?;
        let c = self.config;
        let access_token = c
            .access_token
            .filter(|t| !t.expose_secret().trim().is_empty())
            .ok_or_else(|| {
                config_error(
                    SOURCE,
                    "missing access token: set LIFTOS_TIKTOK_ACCESS_TOKEN",
                )
            })?;
        let mut advertisers = Vec::new();
        for raw in &c.advertiser_ids {
            let id = raw.trim();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(config_error(
                    SOURCE,
                    &format!("advertiser id `{raw}` must be digits"),
                ));
            }
            if !advertisers.iter().any(|a| a == id) {
                advertisers.push(id.to_owned());
            }
        }
        if advertisers.is_empty() {
            return Err(config_error(
                SOURCE,
                "missing advertiser id: set LIFTOS_TIKTOK_ADVERTISER_IDS",
            ));
        }
        let v = c
            .api_version
            .as_deref()
            .unwrap_or(TIKTOK_DEFAULT_API_VERSION)
            .trim();
        let version_ok = v
            .strip_prefix('v')
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            });
        if !version_ok {
            return Err(config_error(
                SOURCE,
                &format!("api_version `{v}` must look like v1.3"),
            ));
        }
        if !(1..=TIKTOK_MAX_CHUNK_DAYS).contains(&self.chunk_days) {
            return Err(config_error(
                SOURCE,
                &format!(
                    "chunk_days must be between 1 and {TIKTOK_MAX_CHUNK_DAYS} (TikTok's limit for daily rows)"
                ),
            ));
        }
        if !(1..=TIKTOK_MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(config_error(
                SOURCE,
                &format!("page_size must be between 1 and {TIKTOK_MAX_PAGE_SIZE}"),
            ));
        }
        let mut metrics: Vec<String> = TIKTOK_DEFAULT_METRICS
            .iter()
            .map(|m| (*m).to_owned())
            .collect();
        for m in &c.metrics {
            check_metric_name(m)?;
            if !metrics.contains(m) {
                metrics.push(m.clone());
            }
        }
        let base_url = c.base_url.as_deref().unwrap_or(TIKTOK_DEFAULT_BASE_URL);
        let base = base_str(&validate_base_url(SOURCE, base_url)?);
        let core = self.base.into_core(SOURCE, Redactor::of([&access_token]))?;
        Ok(TikTokConnector {
            inner: Arc::new(Inner {
                core,
                access_token,
                advertisers,
                base,
                version: v.to_owned(),
                metrics,
                chunk_days: self.chunk_days,
                page_size: self.page_size,
                currencies: tokio::sync::Mutex::new(HashMap::new()),
            }),
        })
    }
}

fn check_metric_name(m: &str) -> Result<()> {
    let ok = !m.is_empty()
        && m.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok
        && ![
            "campaign_name",
            "campaign_id",
            "stat_time_day",
            "advertiser_id",
            "currency",
        ]
        .contains(&m)
    {
        Ok(())
    } else {
        Err(Error::InvalidRequest {
            message: format!(
                "tiktok: `{m}` is not a metric name (lower-case letters, digits and `_`; not a dimension or an output column)"
            ),
        })
    }
}

#[derive(Debug)]
struct Inner {
    core: HttpCore,
    access_token: SecretString,
    advertisers: Vec<String>,
    base: String,
    version: String,
    metrics: Vec<String>,
    chunk_days: u32,
    page_size: u32,
    /// Advertiser currencies looked up so far.
    currencies: tokio::sync::Mutex<HashMap<String, String>>,
}

/// Pulls daily campaign rows from TikTok Ads with synchronous integrated reports
/// (`report_type=BASIC`, `data_level=AUCTION_CAMPAIGN`, dimensions `campaign_id` and
/// `stat_time_day`).
///
/// Output columns keep TikTok's names: `stat_time_day` (Date32), `advertiser_id`,
/// `campaign_id`, `campaign_name`, `currency` (Utf8, the advertiser's, from
/// `advertiser/info`), then the metrics: [`TIKTOK_DEFAULT_METRICS`] and any added ones
/// (counts such as `impressions`, `clicks`, `reach` Int64; money and everything else
/// Float64). Rows are requested 30 days at a time per advertiser; a report that changes
/// while it is paged (a row twice, a total that moves) fails the pull instead of losing
/// or doubling rows.
#[derive(Clone, Debug)]
pub struct TikTokConnector {
    inner: Arc<Inner>,
}

impl TikTokConnector {
    /// A builder.
    pub fn builder() -> TikTokBuilder {
        TikTokBuilder::new()
    }
    /// The progress counters.
    pub fn progress(&self) -> &Progress {
        &self.inner.core.progress
    }
}

fn metric_type(name: &str) -> DataType {
    if COUNT_METRICS.contains(&name) {
        DataType::Int64
    } else {
        DataType::Float64
    }
}

/// `["a","b"]`: a JSON array of strings, as TikTok's list parameters are written.
fn json_list<S: AsRef<str>>(items: &[S]) -> String {
    Value::Array(
        items
            .iter()
            .map(|s| Value::String(s.as_ref().to_owned()))
            .collect(),
    )
    .to_string()
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct InfoData {
    #[serde(default)]
    list: Vec<AdvertiserInfo>,
}

#[derive(Deserialize)]
struct AdvertiserInfo {
    advertiser_id: Value,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Deserialize)]
struct ReportData {
    #[serde(default)]
    list: Vec<ReportRow>,
    page_info: PageInfo,
}

#[derive(Deserialize)]
struct ReportRow {
    dimensions: serde_json::Map<String, Value>,
    #[serde(default)]
    metrics: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct PageInfo {
    #[serde(default)]
    total_number: u64,
    #[serde(default)]
    total_page: u64,
}

/// One report request's rows as columns.
#[derive(Default)]
struct Rows {
    days: Vec<i32>,
    campaign_ids: Vec<String>,
    names: Vec<Option<String>>,
    metrics: Vec<Vec<Option<f64>>>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Inner {
    fn url(&self, endpoint: &str) -> String {
        format!("{}/open_api/{}/{endpoint}/", self.base, self.version)
    }

    /// One GET with the access token, classified by the body's `code`.
    async fn get(&self, budget: &PullBudget, url: &str, query: &[(&str, String)]) -> Result<Reply> {
        let mut full = url::Url::parse(url)
            .map_err(|e| config_error(SOURCE, &format!("bad request URL: {e}")))?;
        full.query_pairs_mut().extend_pairs(query);
        let client = self.core.client();
        self.core
            .execute(
                budget,
                || {
                    client
                        .get(full.clone())
                        .header("Access-Token", self.access_token.expose_secret())
                },
                |r| classify(&self.core.redactor, r),
            )
            .await
    }

    /// The advertiser's currency (looked up once per connector).
    async fn currency(&self, budget: &PullBudget, advertiser: &str) -> Result<String> {
        let mut known = self.currencies.lock().await;
        if let Some(c) = known.get(advertiser) {
            return Ok(c.clone());
        }
        let reply = self
            .get(
                budget,
                &self.url("advertiser/info"),
                &[
                    ("advertiser_ids", json_list(&[advertiser])),
                    (
                        "fields",
                        json_list(&["advertiser_id", "currency", "timezone"]),
                    ),
                ],
            )
            .await?;
        let info: Envelope<InfoData> = decode_for(SOURCE, &reply.body)?;
        let currency = info
            .data
            .list
            .iter()
            .find(|a| text(&a.advertiser_id).as_deref() == Some(advertiser))
            .and_then(|a| a.currency.clone())
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| Error::Decode {
                source_name: SOURCE.into(),
                path: "data.list[].currency".into(),
                message: format!("advertiser/info gave no currency for advertiser {advertiser}"),
            })?;
        known.insert(advertiser.to_owned(), currency.clone());
        Ok(currency)
    }

    /// Every page of one advertiser's report for `start..=end`.
    async fn report(
        &self,
        budget: &PullBudget,
        advertiser: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Rows> {
        let mut requested = vec!["campaign_name".to_owned()];
        requested.extend(self.metrics.iter().cloned());
        let metrics_param = json_list(&requested);
        let url = self.url("report/integrated/get");
        let days = u64::try_from((end - start).num_days() + 1).unwrap_or(1);
        let bound = self.core.config.page_bound(days);
        let range = format!("{start}..{end}");
        let drift = |message: String| Error::Decode {
            source_name: SOURCE.into(),
            path: format!("advertiser {advertiser}, {range}"),
            message: format!(
                "{message}: the report changed while it was paged; nothing from this range was kept, run the pull again"
            ),
        };
        let mut rows = Rows {
            metrics: vec![Vec::new(); self.metrics.len()],
            ..Rows::default()
        };
        let mut seen: HashSet<(String, i32)> = HashSet::new();
        let mut total: Option<(u64, u64)> = None;
        let mut page: u64 = 1;
        loop {
            let query = [
                ("advertiser_id", advertiser.to_owned()),
                ("report_type", "BASIC".to_owned()),
                ("data_level", "AUCTION_CAMPAIGN".to_owned()),
                ("dimensions", json_list(&["campaign_id", "stat_time_day"])),
                ("metrics", metrics_param.clone()),
                ("start_date", start.to_string()),
                ("end_date", end.to_string()),
                ("page", page.to_string()),
                ("page_size", self.page_size.to_string()),
            ];
            let reply = self.get(budget, &url, &query).await?;
            let data: Envelope<ReportData> = decode_for(SOURCE, &reply.body)?;
            let info = &data.data.page_info;
            match total {
                None => {
                    if info.total_page > bound {
                        return Err(Error::TooManyPages {
                            source_name: SOURCE.into(),
                            pages: info.total_page,
                            limit: bound,
                        });
                    }
                    total = Some((info.total_number, info.total_page));
                }
                Some(t) if t != (info.total_number, info.total_page) => {
                    return Err(drift(format!(
                        "page {page} reports {} rows in {} pages, page 1 reported {} in {}",
                        info.total_number, info.total_page, t.0, t.1
                    )));
                }
                Some(_) => {}
            }
            let n = data.data.list.len();
            for (i, row) in data.data.list.iter().enumerate() {
                let at = |field: &str| format!("page {page}: data.list[{i}].{field}");
                let dec = |path: String, message: String| decode_error(SOURCE, path, message);
                let campaign = row
                    .dimensions
                    .get("campaign_id")
                    .and_then(text)
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| {
                        dec(at("dimensions.campaign_id"), "missing campaign id".into())
                    })?;
                let day_text = row
                    .dimensions
                    .get("stat_time_day")
                    .and_then(text)
                    .ok_or_else(|| dec(at("dimensions.stat_time_day"), "missing day".into()))?;
                let day = parse_day(&day_text).ok_or_else(|| {
                    dec(
                        at("dimensions.stat_time_day"),
                        format!("`{day_text}` is not a day (YYYY-MM-DD 00:00:00)"),
                    )
                })?;
                if day < start || day > end {
                    return Err(dec(
                        at("dimensions.stat_time_day"),
                        format!("{day} is outside the requested {range}"),
                    ));
                }
                let day = Date32Type::from_naive_date(day);
                if !seen.insert((campaign.clone(), day)) {
                    return Err(drift(format!(
                        "campaign {campaign} on {day_text} came twice (page {page})"
                    )));
                }
                rows.days.push(day);
                rows.campaign_ids.push(campaign);
                rows.names
                    .push(row.metrics.get("campaign_name").and_then(text));
                for (k, m) in self.metrics.iter().enumerate() {
                    let v = parse_metric(row.metrics.get(m), m)
                        .map_err(|e| dec(at(&format!("metrics.{m}")), e))?;
                    rows.metrics[k].push(v);
                }
            }
            self.core.progress.page(n);
            let (total_number, total_page) = total.unwrap_or_default();
            if page >= total_page {
                if rows.days.len() as u64 != total_number {
                    return Err(drift(format!(
                        "{} rows received, page_info.total_number says {total_number}",
                        rows.days.len()
                    )));
                }
                return Ok(rows);
            }
            if n == 0 {
                return Err(drift(format!("page {page} of {total_page} is empty")));
            }
            page += 1;
        }
    }

    fn to_batch(
        &self,
        schema: &SchemaRef,
        advertiser: &str,
        currency: &str,
        rows: Rows,
    ) -> Result<RecordBatch> {
        let n = rows.days.len();
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(Date32Array::from(rows.days)),
            Arc::new(StringArray::from(vec![advertiser; n])),
            Arc::new(StringArray::from(rows.campaign_ids)),
            Arc::new(StringArray::from(rows.names)),
            Arc::new(StringArray::from(vec![currency; n])),
        ];
        for (m, values) in self.metrics.iter().zip(rows.metrics) {
            arrays.push(match metric_type(m) {
                DataType::Int64 => Arc::new(Int64Array::from(
                    values
                        .into_iter()
                        .map(|v| v.map(|x| x as i64))
                        .collect::<Vec<_>>(),
                )),
                _ => Arc::new(Float64Array::from(values)),
            });
        }
        Ok(RecordBatch::try_new(schema.clone(), arrays)?)
    }
}

/// `2024-01-01 00:00:00` (or `2024-01-01`) → the day; a time other than midnight is not
/// a daily row.
fn parse_day(s: &str) -> Option<NaiveDate> {
    let (day, time) = s.trim().split_once(' ').unwrap_or((s.trim(), "00:00:00"));
    if time != "00:00:00" {
        return None;
    }
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// A metric value: TikTok writes numbers as strings; `-` (or an absent metric) means
/// not available (null). Counts must be whole.
fn parse_metric(v: Option<&Value>, name: &str) -> std::result::Result<Option<f64>, String> {
    let raw = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.trim() == "-" || s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(format!(
                "expected a number written as a string, got {other}"
            ));
        }
    };
    let x: f64 = raw
        .parse()
        .map_err(|_| format!("`{raw}` is not a number"))?;
    if !x.is_finite() {
        return Err(format!("`{raw}` is not a finite number"));
    }
    if metric_type(name) == DataType::Int64 && (x.fract() != 0.0 || x.abs() >= 9.0e15) {
        return Err(format!("`{raw}` is not a whole count"));
    }
    Ok(Some(x))
}

#[async_trait::async_trait]
impl Connector for TikTokConnector {
    fn name(&self) -> &str {
        SOURCE
    }

    fn schema(&self, request: &ConnectorRequest) -> Result<SchemaRef> {
        if request.level != Level::Campaign {
            return Err(Error::InvalidRequest {
                message: format!(
                    "tiktok: level `{}` is not supported; use campaign",
                    request.level.as_str()
                ),
            });
        }
        if request.time_increment != TimeIncrement::Daily {
            return Err(Error::InvalidRequest {
                message: "tiktok: only daily rows are supported".into(),
            });
        }
        if !request.breakdowns.is_empty() {
            return Err(Error::InvalidRequest {
                message: "tiktok: breakdowns are not supported (campaign and day only)".into(),
            });
        }
        for f in &request.fields {
            if !self.inner.metrics.contains(f) {
                return Err(Error::InvalidRequest {
                    message: format!(
                        "tiktok: field `{f}` is not configured; add it with `metrics` (LIFTOS_TIKTOK_METRICS)"
                    ),
                });
            }
        }
        let mut fields = vec![
            Field::new("stat_time_day", DataType::Date32, false),
            Field::new("advertiser_id", DataType::Utf8, false),
            Field::new("campaign_id", DataType::Utf8, false),
            Field::new("campaign_name", DataType::Utf8, true),
            Field::new("currency", DataType::Utf8, false),
        ];
        for m in &self.inner.metrics {
            fields.push(Field::new(m, metric_type(m), true));
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    async fn check(&self) -> Result<()> {
        let inner = &self.inner;
        let budget = inner.core.budget();
        let run = async {
            for a in &inner.advertisers {
                inner.currency(&budget, a).await?;
            }
            Ok(())
        };
        run.await.map_err(|e| inner.core.redactor.scrub(e))
    }

    fn read(&self, request: &ConnectorRequest) -> Result<RecordBatchStream> {
        let schema = self.schema(request)?;
        let inner = self.inner.clone();
        let budget = inner.core.budget();
        let chunks = date_chunks(request.start(), request.end(), inner.chunk_days);
        let mut tasks = Vec::new();
        for a in &inner.advertisers {
            for (s, e) in &chunks {
                tasks.push((a.clone(), *s, *e));
            }
        }
        let concurrency = inner.core.config.concurrency;
        let redactor = inner.core.redactor.clone();
        let stream = futures::stream::iter(tasks)
            .map(move |(advertiser, start, end)| {
                let (inner, budget, schema) = (inner.clone(), budget.clone(), schema.clone());
                async move {
                    let currency = inner.currency(&budget, &advertiser).await?;
                    let rows = inner.report(&budget, &advertiser, start, end).await?;
                    inner.to_batch(&schema, &advertiser, &currency, rows)
                }
            })
            .buffered(concurrency)
            .map(move |r| r.map_err(|e| redactor.scrub(e)));
        Ok(Box::pin(stream))
    }
}

/// What to do with one TikTok answer: the body's `code` decides, since errors come with
/// HTTP 200.
fn classify(redactor: &Redactor, r: &Reply) -> Verdict {
    if r.status == 429 || r.status >= 500 {
        return Verdict::Retry {
            after: None,
            reason: format!("HTTP {}: {}", r.status, r.snippet(redactor)),
        };
    }
    if r.status != 200 {
        return Verdict::Fail(Error::Http {
            source_name: SOURCE.into(),
            status: r.status,
            body: r.snippet(redactor),
        });
    }
    let v: Value = match serde_json::from_slice(&r.body) {
        Ok(v) => v,
        Err(e) => {
            return Verdict::Fail(Error::Decode {
                source_name: SOURCE.into(),
                path: String::new(),
                message: format!("the answer is not JSON ({e}): {}", r.snippet(redactor)),
            });
        }
    };
    let Some(code) = v.get("code").and_then(Value::as_u64) else {
        return Verdict::Fail(Error::Decode {
            source_name: SOURCE.into(),
            path: "code".into(),
            message: format!("the answer has no numeric `code`: {}", r.snippet(redactor)),
        });
    };
    let message = redactor.excerpt(v["message"].as_str().unwrap_or_default());
    match code {
        0 => Verdict::Ok { pause: None },
        40100 => Verdict::Retry {
            after: None,
            reason: format!("code 40100 (too many requests): {message}"),
        },
        50000..=59999 => Verdict::Retry {
            after: None,
            reason: format!("code {code} (system error): {message}"),
        },
        40102 | 40104 | 40105 => Verdict::Fail(Error::Auth {
            source_name: SOURCE.into(),
            message: format!(
                "code {code}: {message}; the access token is missing, expired or revoked: authorize the app again and update LIFTOS_TIKTOK_ACCESS_TOKEN"
            ),
        }),
        40001 => Verdict::Fail(Error::Auth {
            source_name: SOURCE.into(),
            message: format!(
                "code 40001: {message}; the token has no permission on this advertiser or lacks the reporting scope (check LIFTOS_TIKTOK_ADVERTISER_IDS and the app's scopes)"
            ),
        }),
        _ => Verdict::Fail(Error::Http {
            source_name: SOURCE.into(),
            status: 200,
            body: format!("code {code}: {message}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn body_codes_decide_retry_and_failure() {
        let r = Redactor::default();
        assert!(matches!(
            classify(&r, &reply(200, r#"{"code":0,"message":"OK","data":{}}"#)),
            Verdict::Ok { .. }
        ));
        assert!(matches!(
            classify(
                &r,
                &reply(200, r#"{"code":40100,"message":"Too many requests"}"#)
            ),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify(
                &r,
                &reply(200, r#"{"code":50000,"message":"System error"}"#)
            ),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify(&r, &reply(503, "<html>unavailable</html>")),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify(&r, &reply(200, r#"{"code":40105,"message":"expired"}"#)),
            Verdict::Fail(Error::Auth { .. })
        ));
        assert!(matches!(
            classify(&r, &reply(200, r#"{"code":40002,"message":"bad"}"#)),
            Verdict::Fail(Error::Http { status: 200, .. })
        ));
        assert!(matches!(
            classify(&r, &reply(200, "<html>not json</html>")),
            Verdict::Fail(Error::Decode { .. })
        ));
    }

    #[test]
    fn days_and_metrics_are_read_strictly() {
        assert_eq!(
            parse_day("2024-03-01 00:00:00"),
            NaiveDate::from_ymd_opt(2024, 3, 1)
        );
        assert_eq!(parse_day("2024-03-01 13:00:00"), None);
        let s = |x: &str| Value::String(x.into());
        assert_eq!(parse_metric(Some(&s("12.34")), "spend"), Ok(Some(12.34)));
        assert_eq!(parse_metric(Some(&s("-")), "spend"), Ok(None));
        assert_eq!(parse_metric(None, "spend"), Ok(None));
        assert!(parse_metric(Some(&s("1.5")), "clicks").is_err());
        assert!(parse_metric(Some(&s("NaN")), "spend").is_err());
        assert!(parse_metric(Some(&s("1,5")), "spend").is_err());
    }

    #[test]
    fn builder_checks_ids_version_chunks_and_metrics() {
        let ok = || {
            TikTokBuilder::new()
                .with_access_token("secret-token-QAZ")
                .with_advertiser_ids(["7000000000000000001"])
        };
        assert!(ok().build().is_ok());
        assert!(ok().with_advertiser_ids(["act_1"]).build().is_err());
        assert!(ok().with_api_version("1.3").build().is_err());
        assert!(ok().with_chunk_days(31).build().is_err());
        assert!(ok().with_page_size(1001).build().is_err());
        assert!(ok().with_metrics(["Spend"]).build().is_err());
        assert!(ok().with_metrics(["campaign_id"]).build().is_err());
        let c = ok().with_metrics(["reach", "cpc"]).build().unwrap();
        let req =
            ConnectorRequest::new("2024-01-01".parse().unwrap(), "2024-01-02".parse().unwrap())
                .unwrap();
        let schema = c.schema(&req).unwrap();
        assert_eq!(
            schema.field_with_name("reach").unwrap().data_type(),
            &DataType::Int64
        );
        assert_eq!(
            schema.field_with_name("cpc").unwrap().data_type(),
            &DataType::Float64
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains("QAZ"), "{debug}");
    }
}
