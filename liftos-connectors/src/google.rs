//! Google Ads (REST `googleAds:searchStream`, OAuth2 refresh flow).

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use futures::StreamExt;
use liftos_core::platforms::google_json_name;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::builder::strings;
use crate::http::{
    HttpCore, ParseNumber, Progress, PullBudget, Redactor, Reply, Verdict, base_str, config_error,
    date_chunks, decode_error, decode_for, parse_number, platform_wait, validate_base_url,
};
use crate::oauth::RefreshFlow;
use crate::{
    AccountTimeZone, Connector, ConnectorRequest, Error, Level, RecordBatchStream, Result,
    TimeIncrement,
};

const SOURCE: &str = "google_ads";
/// Default API host.
pub const GOOGLE_DEFAULT_BASE_URL: &str = "https://googleads.googleapis.com";
/// Default OAuth token endpoint.
pub const GOOGLE_DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Default API version: v26, the newest major version in December 2026 (sunset planned
/// for November 2027). Google retires each major version about 12 months after its
/// release (<https://developers.google.com/google-ads/api/docs/sunset-dates>); a retired
/// version answers every call with an error the connector reports as such.
pub const GOOGLE_DEFAULT_API_VERSION: &str = "v26";

crate::keys::config_table! {
    /// Settings of a [`GoogleAdsConnector`] as a config table (serde).
    ///
    /// Every field is optional here; [`GoogleAdsBuilder::build`] names what is missing.
    /// [`KEYS`](Self::KEYS) lists each one with its variable.
    pub struct GoogleAdsConfig {
        /// `developer-token` header.
        developer_token: Option<SecretString>
            => Text.env("LIFTOS_GOOGLE_ADS_DEVELOPER_TOKEN").secret().required();
        /// OAuth client id.
        client_id: Option<String> => Text.env("LIFTOS_GOOGLE_ADS_CLIENT_ID").required();
        /// OAuth client secret.
        client_secret: Option<SecretString>
            => Text.env("LIFTOS_GOOGLE_ADS_CLIENT_SECRET").secret().required();
        /// OAuth refresh token.
        refresh_token: Option<SecretString>
            => Text.env("LIFTOS_GOOGLE_ADS_REFRESH_TOKEN").secret().required();
        /// Customer ids (dashes allowed).
        customer_ids: Vec<String> => List.env("LIFTOS_GOOGLE_ADS_CUSTOMER_IDS").required();
        /// Manager account id for `login-customer-id` (optional).
        login_customer_id: Option<String> => Text.env("LIFTOS_GOOGLE_ADS_LOGIN_CUSTOMER_ID");
        /// Replaces `https://oauth2.googleapis.com/token`.
        token_url: Option<String> => Text.env("LIFTOS_GOOGLE_ADS_TOKEN_URL");
        /// Replaces `https://googleads.googleapis.com`.
        base_url: Option<String> => Text.env("LIFTOS_GOOGLE_ADS_BASE_URL");
        /// API version (default `v26`).
        api_version: Option<String> => Text.env("LIFTOS_GOOGLE_ADS_API_VERSION");
        /// A raw GAQL query replacing the built one.
        query: Option<String> => Text.env("LIFTOS_GOOGLE_ADS_QUERY");
    }
}

crate::builder::http_builder_type! {
    /// Builder of a [`GoogleAdsConnector`].
    ///
    /// | Name | Default | Meaning | Range |
    /// |---|---|---|---|
    /// | `developer_token` | — (required) | `developer-token` header | non-empty |
    /// | `client_id`, `client_secret`, `refresh_token` | — (required) | OAuth2 refresh flow | non-empty |
    /// | `customer_ids` | — (required) | customers; `123-456-7890` is normalized to digits | ≥ 1 |
    /// | `login_customer_id` | none | manager id sent as `login-customer-id` | digits |
    /// | `token_url` | `https://oauth2.googleapis.com/token` | OAuth token endpoint | URL |
    /// | `base_url` | `https://googleads.googleapis.com` | API host (http only on loopback) | URL |
    /// | `api_version` | `v26` | REST version (Google retires each about 12 months after release) | `vNN` |
    /// | `query` | built from the request | raw GAQL (its SELECT list defines the columns; it must select `segments.date` and restrict the dates itself: a row outside the requested days is an error) | GAQL |
    /// | `chunk_days` | 31 | days per searchStream call (calls run `retry.concurrency` at once) | ≥ 1 |
    /// | `refresh_margin` | 60 s | refresh the access token this long before it expires | ≥ 0 |
    /// | `retry` | [`RetryConfig::default`](crate::RetryConfig::default) | retries, timeouts, concurrency | — |
    pub struct GoogleAdsBuilder(GoogleAdsConfig) {
        chunk_days: u32 = 31,
        refresh_margin: Duration = Duration::from_secs(60),
    }
    default_base_url: "https://googleads.googleapis.com";
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl GoogleAdsBuilder {
    /// Sets the developer token.
    pub fn with_developer_token(mut self, token: impl Into<SecretString>) -> Self {
        self.config.developer_token = Some(token.into());
        self
    }
    crate::builder::oauth_setter!();
    liftos_core::setters! {
        /// Sets the customers (dashes allowed).
        with_customer_ids(customers: impl IntoIterator<Item = impl Into<String>>)
            => self.config.customer_ids = strings(customers);
        /// Sets the manager account sent as `login-customer-id`.
        with_login_customer_id(login_customer_id: impl Into<String>)
            => self.config.login_customer_id = Some(login_customer_id.into());
        /// Replaces the OAuth token endpoint.
        with_token_url(token_url: impl Into<String>)
            => self.config.token_url = Some(token_url.into());
        /// Sets the API version (e.g. `v26`).
        with_api_version(api_version: impl Into<String>)
            => self.config.api_version = Some(api_version.into());
        /// Uses a raw GAQL query; its SELECT list defines the output columns.
        with_query(query: impl Into<String>) => self.config.query = Some(query.into());
        /// Days per searchStream call.
        with_chunk_days(chunk_days: u32);
    }

    /// Validates everything and builds the connector.
    pub fn build(self) -> Result<GoogleAdsConnector> {
        self.base.check(SOURCE)?;
        let need = |what: &str, var: &str| {
            config_error(
                SOURCE,
                &format!("missing {what}: set LIFTOS_GOOGLE_ADS_{var}"),
            )
        };
        let c = self.config;
        let developer_token = c
            .developer_token
            .ok_or_else(|| need("developer token", "DEVELOPER_TOKEN"))?;
        let client_id =
            nonempty(c.client_id).ok_or_else(|| need("OAuth client id", "CLIENT_ID"))?;
        let client_secret = c
            .client_secret
            .ok_or_else(|| need("OAuth client secret", "CLIENT_SECRET"))?;
        let refresh_token = c
            .refresh_token
            .ok_or_else(|| need("OAuth refresh token", "REFRESH_TOKEN"))?;
        let mut customers = Vec::new();
        for raw in &c.customer_ids {
            let id = normalize_customer_id(raw)?;
            if !customers.contains(&id) {
                customers.push(id);
            }
        }
        if customers.is_empty() {
            return Err(need("customer id", "CUSTOMER_IDS"));
        }
        let login = c
            .login_customer_id
            .as_deref()
            .map(normalize_customer_id)
            .transpose()?;
        let v = c
            .api_version
            .as_deref()
            .unwrap_or(GOOGLE_DEFAULT_API_VERSION)
            .trim();
        if !(v.starts_with('v') && v.len() > 1 && v[1..].bytes().all(|b| b.is_ascii_digit())) {
            return Err(config_error(
                SOURCE,
                &format!("api_version `{v}` must look like {GOOGLE_DEFAULT_API_VERSION}"),
            ));
        }
        if self.chunk_days == 0 {
            return Err(config_error(SOURCE, "chunk_days must be >= 1"));
        }
        let base_url = c.base_url.as_deref().unwrap_or(GOOGLE_DEFAULT_BASE_URL);
        let base = base_str(&validate_base_url(SOURCE, base_url)?);
        let token_url = c.token_url.as_deref().unwrap_or(GOOGLE_DEFAULT_TOKEN_URL);
        let oauth = RefreshFlow::google(
            SOURCE,
            "GOOGLE_ADS",
            token_url,
            client_id,
            client_secret,
            refresh_token,
        )?
        .with_margin(self.refresh_margin);
        let columns = match &c.query {
            Some(q) => {
                let cols = select_list(q)?;
                if !cols.iter().any(|c| c == "segments.date") {
                    return Err(config_error(
                        SOURCE,
                        "the raw GAQL query (LIFTOS_GOOGLE_ADS_QUERY) must select segments.date: rows are daily, and their dates are checked against the requested days",
                    ));
                }
                Some(cols)
            }
            None => None,
        };
        let secrets = oauth.private_secrets();
        let redactor = Redactor::of(std::iter::once(&developer_token).chain(secrets));
        let core = self.base.into_core(SOURCE, redactor)?;
        Ok(GoogleAdsConnector {
            inner: Arc::new(Inner {
                core,
                developer_token,
                oauth,
                customers,
                login,
                base,
                version: v.to_owned(),
                query: c.query.zip(columns),
                chunk_days: self.chunk_days,
            }),
        })
    }
}

/// `123-456-7890` → `1234567890`; anything but digits and dashes is an error.
fn normalize_customer_id(raw: &str) -> Result<String> {
    let id: String = raw
        .trim()
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .collect();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(config_error(
            SOURCE,
            &format!("customer id `{raw}` must be digits (dashes allowed)"),
        ));
    }
    Ok(id)
}

#[derive(Debug)]
struct Inner {
    core: HttpCore,
    developer_token: SecretString,
    oauth: RefreshFlow,
    customers: Vec<String>,
    login: Option<String>,
    base: String,
    version: String,
    query: Option<(String, Vec<String>)>,
    chunk_days: u32,
}

/// Pulls daily rows from Google Ads with `googleAds:searchStream`.
///
/// Output columns keep the GAQL names: `segments.date` (Date32), `customer.id`,
/// `customer.currency_code`, `campaign.id`, `campaign.name` (+ `ad_group.id`,
/// `ad_group.name` at ad-group level, + requested `segments.*` breakdowns as Utf8),
/// `metrics.cost_micros`, `metrics.impressions`, `metrics.clicks` (Int64),
/// `metrics.conversions`, `metrics.conversions_value` (Float64), then requested
/// `metrics.*` fields (`*_micros` and counts Int64, others Float64).
///
/// A raw GAQL query ([`GoogleAdsBuilder::with_query`], `LIFTOS_GOOGLE_ADS_QUERY`) is sent
/// as written, once per customer for the whole range: the connector does not rewrite its
/// dates, so the query must restrict them itself (`WHERE segments.date BETWEEN
/// '<start>' AND '<end>'`). It must select `segments.date`, and a row dated outside the
/// requested days is an error (naming the row, its date and the requested days), never
/// kept or dropped silently.
#[derive(Clone, Debug)]
pub struct GoogleAdsConnector {
    inner: Arc<Inner>,
}

impl GoogleAdsConnector {
    /// A builder.
    pub fn builder() -> GoogleAdsBuilder {
        GoogleAdsBuilder::new()
    }
    /// The progress counters.
    pub fn progress(&self) -> &Progress {
        &self.inner.core.progress
    }
    /// The GAQL query sent for `request` (for a given customer and date chunk the
    /// connector substitutes the chunk's dates).
    pub fn gaql(&self, request: &ConnectorRequest) -> Result<String> {
        let cols = self.inner.columns(request)?;
        Ok(self
            .inner
            .build_query(request, &cols, request.start(), request.end()))
    }
}

const INT_METRICS: [&str; 6] = [
    "impressions",
    "clicks",
    "interactions",
    "video_views",
    "engagements",
    "all_conversions_from_interactions_rate_count",
];

fn column_type(name: &str) -> DataType {
    if name == "segments.date" {
        DataType::Date32
    } else if let Some(m) = name.strip_prefix("metrics.") {
        if m.ends_with("_micros") || INT_METRICS.contains(&m) {
            DataType::Int64
        } else {
            DataType::Float64
        }
    } else {
        DataType::Utf8
    }
}

/// The SELECT list of a GAQL query.
fn select_list(q: &str) -> Result<Vec<String>> {
    let upper = q.to_ascii_uppercase();
    let (Some(s), Some(f)) = (upper.find("SELECT"), upper.find(" FROM ")) else {
        return Err(Error::InvalidRequest {
            message: "google_ads: the GAQL query needs SELECT … FROM …".into(),
        });
    };
    let cols: Vec<String> = q[s + 6..f]
        .split(',')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    if cols.is_empty() {
        return Err(Error::InvalidRequest {
            message: "google_ads: the GAQL SELECT list is empty".into(),
        });
    }
    Ok(cols)
}

impl Inner {
    fn columns(&self, request: &ConnectorRequest) -> Result<Vec<String>> {
        if let Some((_, cols)) = &self.query {
            return Ok(cols.clone());
        }
        if request.time_increment != TimeIncrement::Daily {
            return Err(Error::InvalidRequest {
                message: "google_ads: only daily rows are supported".into(),
            });
        }
        let mut cols: Vec<String> = [
            "segments.date",
            "customer.id",
            "customer.currency_code",
            "campaign.id",
            "campaign.name",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        match request.level {
            Level::Campaign => {}
            Level::AdGroup => cols.extend(["ad_group.id".to_owned(), "ad_group.name".to_owned()]),
            other => {
                return Err(Error::InvalidRequest {
                    message: format!(
                        "google_ads: level `{}` is not supported; use campaign or ad_group",
                        other.as_str()
                    ),
                });
            }
        }
        for b in &request.breakdowns {
            let b = if b.starts_with("segments.") {
                b.clone()
            } else {
                format!("segments.{b}")
            };
            if !cols.contains(&b) {
                cols.push(b);
            }
        }
        for m in [
            "metrics.cost_micros",
            "metrics.impressions",
            "metrics.clicks",
            "metrics.conversions",
            "metrics.conversions_value",
        ] {
            cols.push(m.to_owned());
        }
        for f in &request.fields {
            let f = if f.contains('.') {
                f.clone()
            } else {
                format!("metrics.{f}")
            };
            if !f
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            {
                return Err(Error::InvalidRequest {
                    message: format!("google_ads: `{f}` is not a GAQL field name"),
                });
            }
            if !cols.contains(&f) {
                cols.push(f);
            }
        }
        Ok(cols)
    }

    fn build_query(
        &self,
        request: &ConnectorRequest,
        cols: &[String],
        since: NaiveDate,
        until: NaiveDate,
    ) -> String {
        if let Some((q, _)) = &self.query {
            return q.clone();
        }
        let resource = if request.level == Level::AdGroup {
            "ad_group"
        } else {
            "campaign"
        };
        format!(
            "SELECT {} FROM {resource} WHERE segments.date BETWEEN '{since}' AND '{until}' ORDER BY segments.date",
            cols.join(", ")
        )
    }

    /// A valid access token (see [`RefreshFlow::access_token`]).
    async fn access_token(
        &self,
        budget: &PullBudget,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString> {
        self.oauth.access_token(&self.core, budget, rejected).await
    }

    /// One searchStream call, refreshing the token once on a 401.
    async fn search_stream(
        &self,
        budget: &PullBudget,
        customer: &str,
        query: &str,
    ) -> Result<Reply> {
        let url = format!(
            "{}/{}/customers/{customer}/googleAds:searchStream",
            self.base, self.version
        );
        let body = serde_json::json!({ "query": query }).to_string();
        self.oauth
            .execute(
                &self.core,
                budget,
                |client, token| {
                    let mut rb = client
                        .post(&url)
                        .bearer_auth(token.expose_secret())
                        .header("developer-token", self.developer_token.expose_secret())
                        .header("content-type", "application/json")
                        .body(body.clone());
                    if let Some(l) = &self.login {
                        rb = rb.header("login-customer-id", l);
                    }
                    rb
                },
                |r| classify(&self.core.redactor, &self.version, r),
            )
            .await
    }

    fn to_batch(&self, schema: &SchemaRef, cols: &[String], body: &[u8]) -> Result<RecordBatch> {
        let batches: Vec<StreamBatch> = decode_for(SOURCE, body)?;
        let rows: Vec<&Value> = batches.iter().flat_map(|b| b.results.iter()).collect();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(cols.len());
        for (ci, col) in cols.iter().enumerate() {
            let path: Vec<String> = col.split('.').map(google_json_name).collect();
            let get = |r: &Value| -> Option<Value> {
                let mut v = r;
                for p in &path {
                    v = v.get(p)?;
                }
                (!v.is_null()).then(|| v.clone())
            };
            let dec =
                |i: usize, m| decode_error(SOURCE, format!("results[{i}].{}", path.join(".")), m);
            let ty = column_type(col);
            let arr: ArrayRef = match ty {
                DataType::Date32 => {
                    let v: Result<Vec<Option<i32>>> = rows
                        .iter()
                        .enumerate()
                        .map(|(i, r)| match get(r) {
                            None => Ok(None),
                            Some(Value::String(s)) => NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                                .map(|d| Some(Date32Type::from_naive_date(d)))
                                .map_err(|e| dec(i, format!("`{s}`: {e}"))),
                            Some(o) => Err(dec(i, format!("expected a date string, got {o}"))),
                        })
                        .collect();
                    Arc::new(Date32Array::from(v?))
                }
                DataType::Int64 => {
                    Arc::new(Int64Array::from(numbers::<i64>(&rows, &get, &dec, col)?))
                }
                DataType::Float64 => {
                    Arc::new(Float64Array::from(numbers::<f64>(&rows, &get, &dec, col)?))
                }
                _ => Arc::new(StringArray::from_iter(rows.iter().map(|r| {
                    get(r).map(|v| match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    })
                }))),
            };
            debug_assert_eq!(schema.field(ci).data_type(), &ty);
            arrays.push(arr);
        }
        Ok(RecordBatch::try_new(schema.clone(), arrays)?)
    }
}

/// A number type of a column: read from a JSON number or a numeric string.
trait Number: ParseNumber + Default {
    /// The type as errors name it.
    const NAME: &'static str;
    fn from_json(n: &serde_json::Number) -> Option<Self>;
}

impl Number for i64 {
    const NAME: &'static str = "an int64";
    fn from_json(n: &serde_json::Number) -> Option<Self> {
        n.as_i64()
    }
}

impl Number for f64 {
    const NAME: &'static str = "a number";
    fn from_json(n: &serde_json::Number) -> Option<Self> {
        n.as_f64()
    }
}

/// The values `get` reads off `rows` for the column `col`, as numbers. A missing value is
/// null, or zero in a `metrics.` column (metrics of a returned row that are zero may be
/// omitted).
fn numbers<T: Number>(
    rows: &[&Value],
    get: impl Fn(&Value) -> Option<Value>,
    dec: impl Fn(usize, String) -> Error,
    col: &str,
) -> Result<Vec<Option<T>>> {
    let what = T::NAME;
    rows.iter()
        .enumerate()
        .map(|(i, r)| match get(r) {
            None => Ok(col.starts_with("metrics.").then(T::default)),
            Some(Value::String(s)) => parse_number::<T>(&s)
                .map(Some)
                .ok_or_else(|| dec(i, format!("`{s}` is not {what}"))),
            Some(Value::Number(n)) => T::from_json(&n)
                .map(Some)
                .ok_or_else(|| dec(i, format!("{n} is not {what}"))),
            Some(o) => Err(dec(i, format!("expected {what}, got {o}"))),
        })
        .collect()
}

#[async_trait::async_trait]
impl Connector for GoogleAdsConnector {
    fn name(&self) -> &str {
        SOURCE
    }

    fn schema(&self, request: &ConnectorRequest) -> Result<SchemaRef> {
        let cols = self.inner.columns(request)?;
        Ok(Arc::new(Schema::new(
            cols.iter()
                .map(|c| {
                    Field::new(
                        c,
                        column_type(c),
                        !(c == "segments.date" || c.starts_with("metrics.")),
                    )
                })
                .collect::<Vec<_>>(),
        )))
    }

    async fn check(&self) -> Result<()> {
        let inner = &self.inner;
        let budget = inner.core.budget();
        let run = async {
            inner.access_token(&budget, None).await?;
            let today = chrono::Utc::now().date_naive();
            for c in &inner.customers {
                let q = format!(
                    "SELECT customer.id FROM campaign WHERE segments.date BETWEEN '{today}' AND '{today}'"
                );
                inner.search_stream(&budget, c, &q).await?;
            }
            Ok(())
        };
        run.await.map_err(|e| inner.core.redactor.scrub(e))
    }

    /// `SELECT customer.id, customer.time_zone FROM customer` per customer: the zone of
    /// its `segments.date`.
    async fn time_zones(&self) -> Result<Vec<AccountTimeZone>> {
        #[derive(Deserialize)]
        struct Batch {
            #[serde(default)]
            results: Vec<Row>,
        }
        #[derive(Deserialize)]
        struct Row {
            customer: Customer,
        }
        #[derive(Deserialize)]
        struct Customer {
            #[serde(rename = "timeZone")]
            time_zone: String,
        }
        let inner = &self.inner;
        let budget = inner.core.budget();
        let run = async {
            let mut zones = Vec::new();
            for c in &inner.customers {
                let q = "SELECT customer.id, customer.time_zone FROM customer";
                let reply = inner.search_stream(&budget, c, q).await?;
                let batches: Vec<Batch> = decode_for(SOURCE, &reply.body)?;
                let row = batches
                    .into_iter()
                    .flat_map(|b| b.results)
                    .next()
                    .ok_or_else(|| Error::Decode {
                        source_name: SOURCE.into(),
                        path: "[0].results".into(),
                        message: format!("customer {c} returned no customer row"),
                    })?;
                zones.push(AccountTimeZone::parse(
                    SOURCE,
                    c.clone(),
                    "customer.time_zone",
                    &row.customer.time_zone,
                )?);
            }
            Ok(zones)
        };
        run.await.map_err(|e| inner.core.redactor.scrub(e))
    }

    fn read(&self, request: &ConnectorRequest) -> Result<RecordBatchStream> {
        let schema = self.schema(request)?;
        let cols = Arc::new(self.inner.columns(request)?);
        let inner = self.inner.clone();
        let budget = inner.core.budget();
        let chunks = if inner.query.is_some() {
            vec![(request.start(), request.end())]
        } else {
            date_chunks(request.start(), request.end(), inner.chunk_days)
        };
        let mut tasks = Vec::new();
        for c in &inner.customers {
            for (s, e) in &chunks {
                tasks.push((c.clone(), inner.build_query(request, &cols, *s, *e)));
            }
        }
        let concurrency = inner.core.config.concurrency;
        let redactor = inner.core.redactor.clone();
        let range = (request.start(), request.end());
        let stream = futures::stream::iter(tasks)
            .map(move |(customer, query)| {
                let (inner, budget, schema, cols) =
                    (inner.clone(), budget.clone(), schema.clone(), cols.clone());
                async move {
                    let reply = inner.search_stream(&budget, &customer, &query).await?;
                    let batch = inner.to_batch(&schema, &cols, &reply.body)?;
                    if inner.query.is_some() {
                        check_raw_dates(&batch, &cols, &customer, range)?;
                    }
                    inner.core.progress.page(batch.num_rows());
                    Ok(batch)
                }
            })
            .buffered(concurrency)
            .map(move |r| r.map_err(|e| redactor.scrub(e)));
        Ok(Box::pin(stream))
    }
}

/// A raw query's rows must lie in the requested days (`range`, inclusive): the query's
/// own dates are not rewritten, so a row outside them is the query's mistake, reported
/// rather than kept or dropped.
fn check_raw_dates(
    batch: &RecordBatch,
    cols: &[String],
    customer: &str,
    range: (NaiveDate, NaiveDate),
) -> Result<()> {
    let Some(ci) = cols.iter().position(|c| c == "segments.date") else {
        return Ok(());
    };
    let (lo, hi) = (
        Date32Type::from_naive_date(range.0),
        Date32Type::from_naive_date(range.1),
    );
    let dates = batch.column(ci).as_primitive::<Date32Type>();
    let outside = dates
        .iter()
        .enumerate()
        .find_map(|(i, d)| d.filter(|d| *d < lo || *d > hi).map(|d| (i, d)));
    match outside {
        None => Ok(()),
        Some((i, d)) => Err(Error::InvalidRequest {
            message: format!(
                "google_ads: customer {customer}: the raw GAQL query (LIFTOS_GOOGLE_ADS_QUERY) returned a row dated {} (results[{i}]), outside the requested days {}..={}; restrict the query's dates: WHERE segments.date BETWEEN '{}' AND '{}'",
                Date32Type::to_naive_date_opt(d).map_or_else(|| d.to_string(), |n| n.to_string()),
                range.0,
                range.1,
                range.0,
                range.1
            ),
        }),
    }
}

#[derive(Deserialize)]
struct StreamBatch {
    #[serde(default)]
    results: Vec<Value>,
}

/// The `error` object of a Google answer (plain or array-wrapped).
fn find_error(body: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    match v {
        Value::Object(mut o) => o.remove("error"),
        Value::Array(a) => a
            .into_iter()
            .find_map(|mut b| b.as_object_mut().and_then(|o| o.remove("error"))),
        _ => None,
    }
}

fn parse_secs(s: &str) -> Option<Duration> {
    s.trim()
        .strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .and_then(platform_wait)
}

/// The error for an API version Google no longer serves (`version`, answered `how`).
fn retired_version(version: &str, how: &str) -> Error {
    config_error(
        SOURCE,
        &format!(
            "the Google Ads API version {version} is retired (or does not exist): Google answered {how}. \
Set LIFTOS_GOOGLE_ADS_API_VERSION (`api_version`, `with_api_version`) to a version Google still serves, \
such as the default {GOOGLE_DEFAULT_API_VERSION}; versions are retired about 12 months after release, \
see https://developers.google.com/google-ads/api/docs/sunset-dates"
        ),
    )
}

/// Whether an error names the API version as unsupported: a sunset version is answered
/// `UNIMPLEMENTED`, or with a `requestError.UNSUPPORTED_VERSION`-style code, or with
/// "Version vNN is deprecated. Requests to this version will be blocked."
fn names_retired_version(version: &str, status: &str, codes: &[String], message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let names_it = m
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == version.to_ascii_lowercase());
    status == "UNIMPLEMENTED"
        || codes.iter().any(|c| c.ends_with(".UNSUPPORTED_VERSION"))
        || (names_it
            && [
                "deprecated",
                "unsupported",
                "no longer",
                "sunset",
                "blocked",
            ]
            .iter()
            .any(|w| m.contains(w)))
}

fn classify(redactor: &Redactor, version: &str, r: &Reply) -> Verdict {
    let err = find_error(&r.body);
    if r.status == 200 && err.is_none() {
        return Verdict::Ok { pause: None };
    }
    let snippet = r.snippet(redactor);
    // Every call goes to `/<version>/customers/<id>/googleAds:searchStream`, a path
    // that exists for every served version: a 404 or 501 means the version is gone.
    if r.status == 404 || r.status == 501 {
        return Verdict::Fail(retired_version(
            version,
            &format!("HTTP {}: {snippet}", r.status),
        ));
    }
    let Some(e) = err else {
        if r.status >= 500 || r.status == 429 {
            return Verdict::Retry {
                after: None,
                reason: format!("HTTP {}: {snippet}", r.status),
            };
        }
        return Verdict::Fail(Error::Http {
            source_name: SOURCE.into(),
            status: r.status,
            body: snippet,
        });
    };
    let status = redactor.excerpt(e["status"].as_str().unwrap_or_default());
    let message = redactor.excerpt(e["message"].as_str().unwrap_or_default());
    let failures: Vec<&Value> = e["details"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| d["errors"].as_array().into_iter().flatten())
        .collect();
    let mut retry_delay = None;
    let mut codes = Vec::new();
    for f in &failures {
        if let Some(obj) = f["errorCode"].as_object() {
            for (k, v) in obj {
                codes.push(format!("{k}.{}", v.as_str().unwrap_or_default()));
            }
        }
        if let Some(d) = f["details"]["quotaErrorDetails"]["retryDelay"].as_str() {
            retry_delay = parse_secs(d);
        }
    }
    let code_text = if codes.is_empty() {
        status.clone()
    } else {
        redactor.excerpt(&codes.join(", "))
    };
    let http = if r.status == 200 {
        e["code"].as_u64().unwrap_or(500) as u16
    } else {
        r.status
    };
    if names_retired_version(version, &status, &codes, &message) {
        return Verdict::Fail(retired_version(
            version,
            &format!("HTTP {http} {code_text}: {message}"),
        ));
    }
    if http == 401 || status == "UNAUTHENTICATED" {
        return Verdict::Fail(Error::Auth {
            source_name: SOURCE.into(),
            message: format!(
                "HTTP 401 {code_text}: {message}; check the OAuth credentials and LIFTOS_GOOGLE_ADS_DEVELOPER_TOKEN"
            ),
        });
    }
    let retryable_code = codes.iter().any(|c| {
        matches!(
            c.as_str(),
            "quotaError.RESOURCE_EXHAUSTED"
                | "quotaError.RESOURCE_TEMPORARILY_EXHAUSTED"
                | "internalError.INTERNAL_ERROR"
                | "internalError.TRANSIENT_ERROR"
                | "internalError.DEADLINE_EXCEEDED"
        )
    });
    let permanent = codes.iter().any(|c| {
        c.starts_with("authorizationError.")
            || c.starts_with("queryError.")
            || c.starts_with("authenticationError.")
    });
    if http == 403 || codes.iter().any(|c| c.starts_with("authorizationError.")) {
        return Verdict::Fail(Error::Auth {
            source_name: SOURCE.into(),
            message: format!(
                "HTTP {http} {code_text}: {message} (a customer reached through a manager account needs LIFTOS_GOOGLE_ADS_LOGIN_CUSTOMER_ID)"
            ),
        });
    }
    if !permanent
        && (retryable_code
            || http >= 500
            || http == 429
            || status == "RESOURCE_EXHAUSTED"
            || status == "UNAVAILABLE")
    {
        return Verdict::Retry {
            after: retry_delay,
            reason: format!("HTTP {http} {code_text}: {message}"),
        };
    }
    Verdict::Fail(Error::Http {
        source_name: SOURCE.into(),
        status: http,
        body: snippet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_ids_are_normalized_to_digits() {
        assert_eq!(normalize_customer_id("123-456-7890").unwrap(), "1234567890");
        assert!(normalize_customer_id("12a").is_err());
    }

    #[test]
    fn gaql_is_built_from_level_breakdowns_and_fields() {
        let c = GoogleAdsBuilder::new()
            .with_developer_token("dev-token")
            .with_oauth("cid", "csecret", "rtoken")
            .with_customer_ids(["123-456-7890"])
            .build()
            .unwrap();
        let req =
            ConnectorRequest::new("2024-06-01".parse().unwrap(), "2024-06-14".parse().unwrap())
                .unwrap()
                .with_level(Level::AdGroup)
                .with_breakdowns(["device"])
                .with_fields(["metrics.ctr"]);
        let q = c.gaql(&req).unwrap();
        assert_eq!(
            q,
            "SELECT segments.date, customer.id, customer.currency_code, campaign.id, campaign.name, ad_group.id, ad_group.name, \
segments.device, metrics.cost_micros, metrics.impressions, metrics.clicks, metrics.conversions, metrics.conversions_value, \
metrics.ctr FROM ad_group WHERE segments.date BETWEEN '2024-06-01' AND '2024-06-14' ORDER BY segments.date"
        );
        let s = c.schema(&req).unwrap();
        assert_eq!(
            s.field_with_name("metrics.cost_micros")
                .unwrap()
                .data_type(),
            &DataType::Int64
        );
        assert_eq!(
            s.field_with_name("metrics.ctr").unwrap().data_type(),
            &DataType::Float64
        );
    }

    #[test]
    fn every_way_google_refuses_a_retired_version_is_one_clear_error() {
        let bodies: [(u16, &[u8]); 4] = [
            (404, b"<html><title>Error 404 (Not Found)</title></html>"),
            (
                404,
                br#"{"error":{"code":404,"status":"UNIMPLEMENTED","message":"Version v21 is deprecated. Requests to this version will be blocked."}}"#,
            ),
            (
                501,
                br#"{"error":{"code":501,"status":"UNIMPLEMENTED","message":"GRPC target method can't be resolved."}}"#,
            ),
            (
                400,
                br#"{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"Request contains an invalid argument.","details":[{"errors":[{"errorCode":{"requestError":"UNSUPPORTED_VERSION"}}]}]}}"#,
            ),
        ];
        for (status, body) in bodies {
            let r = Reply {
                status,
                headers: Default::default(),
                body: body.to_vec(),
            };
            match classify(&Redactor::default(), "v21", &r) {
                Verdict::Fail(e @ Error::Config { .. }) => {
                    let text = e.to_string();
                    assert!(
                        text.contains("version v21 is retired")
                            && text.contains("LIFTOS_GOOGLE_ADS_API_VERSION")
                            && text.contains(GOOGLE_DEFAULT_API_VERSION),
                        "{text}"
                    );
                }
                other => panic!("HTTP {status}: {other:?}"),
            }
        }
        // A deprecated field named in a query error is not a retired version.
        let q = br#"{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"The field is deprecated in this version.","details":[{"errors":[{"errorCode":{"queryError":"PROHIBITED_FIELD_IN_SELECT_CLAUSE"}}]}]}}"#;
        let r = Reply {
            status: 400,
            headers: Default::default(),
            body: q.to_vec(),
        };
        assert!(matches!(
            classify(&Redactor::default(), "v26", &r),
            Verdict::Fail(Error::Http { status: 400, .. })
        ));
    }

    #[test]
    fn throttle_bodies_give_retry_delay_and_array_wrapped_errors_are_seen() {
        let body = br#"[{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"m","details":[{"errors":[{"errorCode":{"quotaError":"RESOURCE_EXHAUSTED"},"details":{"quotaErrorDetails":{"retryDelay":"7s"}}}]}]}}]"#;
        let r = Reply {
            status: 429,
            headers: Default::default(),
            body: body.to_vec(),
        };
        match classify(&Redactor::default(), "v26", &r) {
            Verdict::Retry { after, .. } => assert_eq!(after, Some(Duration::from_secs(7))),
            other => panic!("{other:?}"),
        }
        let q = br#"[{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"bad","details":[{"errors":[{"errorCode":{"queryError":"UNRECOGNIZED_FIELD"}}]}]}}]"#;
        let r = Reply {
            status: 400,
            headers: Default::default(),
            body: q.to_vec(),
        };
        assert!(matches!(
            classify(&Redactor::default(), "v26", &r),
            Verdict::Fail(Error::Http { status: 400, .. })
        ));
    }
}
