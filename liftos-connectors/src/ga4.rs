//! Google Analytics 4 (Data API v1beta `runReport`, OAuth2 refresh flow).
//!
//! Facts from Google's Data API documentation: `POST
//! https://analyticsdata.googleapis.com/v1beta/properties/{id}:runReport` with an OAuth
//! bearer token; `limit` (at most 250,000) and `offset` page the rows and `rowCount` is
//! the total; every value is a string; the `date` dimension reads `YYYYMMDD`;
//! `returnPropertyQuota: true` reports the property's token quotas; quota exhaustion is
//! HTTP 429 `RESOURCE_EXHAUSTED` (the daily one lasts until the property's midnight);
//! at most 10 concurrent requests per property; `keyEvents` replaced `conversions` in 2024
//! (either may be asked for).

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::builder::strings;
use crate::http::{
    HttpCore, PullBudget, Redactor, Reply, Verdict, base_str, config_error, decode_error,
    decode_for, validate_base_url,
};
use crate::oauth::RefreshFlow;
use crate::{Connector, ConnectorRequest, Error, RecordBatchStream, Result};

const SOURCE: &str = "ga4";
/// Default API host.
pub const GA4_DEFAULT_BASE_URL: &str = "https://analyticsdata.googleapis.com";
/// Default OAuth token endpoint.
pub const GA4_DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Dimensions pulled by default.
pub const GA4_DEFAULT_DIMENSIONS: &[&str] = &["date", "sessionDefaultChannelGroup"];
/// Metrics pulled by default.
pub const GA4_DEFAULT_METRICS: &[&str] = &["sessions", "keyEvents", "totalRevenue"];
/// Largest `limit` the API takes.
pub const GA4_MAX_LIMIT: u64 = 250_000;

/// Metrics that are whole counts (Int64); other metrics are Float64.
const INT_METRICS: &[&str] = &[
    "sessions",
    "engagedSessions",
    "totalUsers",
    "newUsers",
    "activeUsers",
    "screenPageViews",
    "eventCount",
    "transactions",
    "ecommercePurchases",
];

crate::keys::config_table! {
    /// Settings of a [`Ga4Connector`] as a config table (serde).
    pub struct Ga4Config {
        /// The GA4 property id (digits).
        property_id: Option<String> => Text.env("LIFTOS_GA4_PROPERTY_ID").required();
        /// OAuth client id.
        client_id: Option<String> => Text.env("LIFTOS_GA4_CLIENT_ID").required();
        /// OAuth client secret.
        client_secret: Option<SecretString>
            => Text.env("LIFTOS_GA4_CLIENT_SECRET").secret().required();
        /// OAuth refresh token.
        refresh_token: Option<SecretString>
            => Text.env("LIFTOS_GA4_REFRESH_TOKEN").secret().required();
        /// Replaces `https://oauth2.googleapis.com/token`.
        token_url: Option<String> => Text.env("LIFTOS_GA4_TOKEN_URL");
        /// Replaces `https://analyticsdata.googleapis.com`.
        base_url: Option<String> => Text.env("LIFTOS_GA4_BASE_URL");
        /// Dimensions (default `date`, `sessionDefaultChannelGroup`).
        dimensions: Vec<String> => List.env("LIFTOS_GA4_DIMENSIONS");
        /// Metrics (default `sessions`, `keyEvents`, `totalRevenue`).
        metrics: Vec<String> => List.env("LIFTOS_GA4_METRICS");
    }
}

crate::builder::http_builder_type! {
    /// Builder of a [`Ga4Connector`].
    ///
    /// | Name | Default | Meaning | Range |
    /// |---|---|---|---|
    /// | `property_id` | — (required) | the GA4 property | digits |
    /// | `client_id`, `client_secret`, `refresh_token` | — (required) | OAuth2 refresh flow | non-empty |
    /// | `token_url` | `https://oauth2.googleapis.com/token` | OAuth token endpoint | URL |
    /// | `base_url` | `https://analyticsdata.googleapis.com` | API host (http only on loopback) | URL |
    /// | `dimensions` | `date`, `sessionDefaultChannelGroup` | report dimensions (`date` required) | GA4 names |
    /// | `metrics` | `sessions`, `keyEvents`, `totalRevenue` | report metrics | GA4 names |
    /// | `page_size` | 100,000 | `limit` of one request | 1–250,000 |
    /// | `retry` | [`RetryConfig::default`](crate::RetryConfig::default) | retries, timeouts, page bound | — |
    pub struct Ga4Builder(Ga4Config) {
        page_size: u64 = 100_000,
    }
    default_base_url: "https://analyticsdata.googleapis.com";
}

impl Ga4Builder {
    /// Sets the property.
    pub fn with_property_id(mut self, id: impl Into<String>) -> Self {
        self.config.property_id = Some(id.into());
        self
    }
    crate::builder::oauth_setter!();
    liftos_core::setters! {
        /// Replaces the OAuth token endpoint.
        with_token_url(url: impl Into<String>) => self.config.token_url = Some(url.into());
        /// Sets the dimensions (`date` must be one).
        with_dimensions(d: impl IntoIterator<Item = impl Into<String>>)
            => self.config.dimensions = strings(d);
        /// Sets the metrics.
        with_metrics(m: impl IntoIterator<Item = impl Into<String>>)
            => self.config.metrics = strings(m);
        /// Rows per request (`limit`).
        with_page_size(rows: u64) => self.page_size = rows;
    }

    /// Validates everything and builds the connector.
    pub fn build(self) -> Result<Ga4Connector> {
        self.base.check(SOURCE)?;
        let c = self.config;
        let need = |what: &str, var: &str| {
            config_error(SOURCE, &format!("missing {what}: set LIFTOS_GA4_{var}"))
        };
        let property = c
            .property_id
            .map(|p| p.trim().trim_start_matches("properties/").to_owned())
            .filter(|p| !p.is_empty())
            .ok_or_else(|| need("property id", "PROPERTY_ID"))?;
        if !property.bytes().all(|b| b.is_ascii_digit()) {
            return Err(config_error(
                SOURCE,
                &format!("property id `{property}` must be digits"),
            ));
        }
        let client_id = c
            .client_id
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| need("OAuth client id", "CLIENT_ID"))?;
        let client_secret = c
            .client_secret
            .ok_or_else(|| need("OAuth client secret", "CLIENT_SECRET"))?;
        let refresh_token = c
            .refresh_token
            .ok_or_else(|| need("OAuth refresh token", "REFRESH_TOKEN"))?;
        let names = |given: Vec<String>, default: &[&str], what: &str| -> Result<Vec<String>> {
            let list: Vec<String> = if given.is_empty() {
                default.iter().map(|s| (*s).to_owned()).collect()
            } else {
                given
            };
            for n in &list {
                if n.is_empty()
                    || !n
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
                {
                    return Err(Error::InvalidRequest {
                        message: format!("ga4: `{n}` is not a {what} name"),
                    });
                }
            }
            Ok(list)
        };
        let dimensions = names(c.dimensions, GA4_DEFAULT_DIMENSIONS, "dimension")?;
        if !dimensions.iter().any(|d| d == "date") {
            return Err(config_error(
                SOURCE,
                "dimensions must include `date` (daily rows)",
            ));
        }
        let metrics = names(c.metrics, GA4_DEFAULT_METRICS, "metric")?;
        if !(1..=GA4_MAX_LIMIT).contains(&self.page_size) {
            return Err(config_error(
                SOURCE,
                &format!("page_size must be between 1 and {GA4_MAX_LIMIT}"),
            ));
        }
        let base = base_str(&validate_base_url(
            SOURCE,
            c.base_url.as_deref().unwrap_or(GA4_DEFAULT_BASE_URL),
        )?);
        let token_url = c.token_url.as_deref().unwrap_or(GA4_DEFAULT_TOKEN_URL);
        let oauth = RefreshFlow::google(
            SOURCE,
            "GA4",
            token_url,
            client_id,
            client_secret,
            refresh_token,
        )?;
        let redactor = Redactor::of(oauth.private_secrets());
        let core = self.base.into_core(SOURCE, redactor)?;
        Ok(Ga4Connector {
            inner: Arc::new(Inner {
                core,
                oauth,
                property,
                base,
                dimensions,
                metrics,
                page_size: self.page_size,
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    core: HttpCore,
    oauth: RefreshFlow,
    property: String,
    base: String,
    dimensions: Vec<String>,
    metrics: Vec<String>,
    page_size: u64,
}

/// Pulls a GA4 report by day (`runReport`).
///
/// Output columns keep GA4's names: `date` (Date32), the other dimensions (Utf8), the
/// metrics (counts such as `sessions` Int64, others Float64), and `currency` (the
/// property's, from the response metadata). Rows are paged with `limit`/`offset` until
/// `rowCount`; a page that ends early or a total that moves fails the pull.
#[derive(Clone, Debug)]
pub struct Ga4Connector {
    inner: Arc<Inner>,
}

impl Ga4Connector {
    /// A builder.
    pub fn builder() -> Ga4Builder {
        Ga4Builder::new()
    }
}

fn metric_type(name: &str) -> DataType {
    if INT_METRICS.contains(&name) {
        DataType::Int64
    } else {
        DataType::Float64
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    #[serde(default)]
    dimension_headers: Vec<Header>,
    #[serde(default)]
    metric_headers: Vec<Header>,
    #[serde(default)]
    rows: Vec<ReportRow>,
    #[serde(default)]
    row_count: u64,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    property_quota: Option<Value>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportRow {
    #[serde(default)]
    dimension_values: Vec<Cell>,
    #[serde(default)]
    metric_values: Vec<Cell>,
}

#[derive(Deserialize)]
struct Cell {
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    #[serde(default)]
    currency_code: Option<String>,
}

/// `keyEvents` and `conversions` name the same metric (renamed in 2024).
fn same_metric(asked: &str, got: &str) -> bool {
    asked == got
        || matches!(
            (asked, got),
            ("keyEvents", "conversions") | ("conversions", "keyEvents")
        )
}

impl Inner {
    async fn run_report(
        &self,
        budget: &PullBudget,
        request: &ConnectorRequest,
        offset: u64,
    ) -> Result<Report> {
        let url = format!(
            "{}/v1beta/properties/{}:runReport",
            self.base, self.property
        );
        let body = json!({
            "dateRanges": [{ "startDate": request.start().to_string(), "endDate": request.end().to_string() }],
            "dimensions": self.dimensions.iter().map(|d| json!({ "name": d })).collect::<Vec<_>>(),
            "metrics": self.metrics.iter().map(|m| json!({ "name": m })).collect::<Vec<_>>(),
            "orderBys": self.dimensions.iter().map(|d| json!({ "dimension": { "dimensionName": d } })).collect::<Vec<_>>(),
            "limit": self.page_size.to_string(),
            "offset": offset.to_string(),
            "keepEmptyRows": false,
            "returnPropertyQuota": true,
        })
        .to_string();
        let reply = self
            .oauth
            .execute(
                &self.core,
                budget,
                |client, token| {
                    client
                        .post(&url)
                        .bearer_auth(token.expose_secret())
                        .header("content-type", "application/json")
                        .body(body.clone())
                },
                |r| classify(&self.core.redactor, &self.property, r),
            )
            .await?;
        let report: Report = decode_for(SOURCE, &reply.body)?;
        if let Some(q) = &report.property_quota {
            tracing::debug!(
                source = SOURCE,
                tokens_per_day_remaining = q["tokensPerDay"]["remaining"].as_u64().unwrap_or(0),
                tokens_per_hour_remaining = q["tokensPerHour"]["remaining"].as_u64().unwrap_or(0),
                "property quota"
            );
        }
        Ok(report)
    }

    fn check_headers(&self, report: &Report, page: u64) -> Result<()> {
        let dims: Vec<&str> = report
            .dimension_headers
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        let mets: Vec<&str> = report
            .metric_headers
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        let dims_ok = dims.len() == self.dimensions.len()
            && dims.iter().zip(&self.dimensions).all(|(g, a)| g == a);
        let mets_ok = mets.len() == self.metrics.len()
            && mets
                .iter()
                .zip(&self.metrics)
                .all(|(g, a)| same_metric(a, g));
        if dims_ok && mets_ok {
            Ok(())
        } else {
            Err(Error::Decode {
                source_name: SOURCE.into(),
                path: format!("page {page}: dimensionHeaders / metricHeaders"),
                message: format!(
                    "the report has columns {dims:?} / {mets:?}, not the requested {:?} / {:?}",
                    self.dimensions, self.metrics
                ),
            })
        }
    }

    fn to_batch(
        &self,
        schema: &SchemaRef,
        report: &Report,
        page: u64,
        currency: &str,
    ) -> Result<RecordBatch> {
        let n = report.rows.len();
        let dec = |i: usize, what: &str, m| {
            decode_error(SOURCE, format!("page {page}: rows[{i}].{what}"), m)
        };
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for (k, d) in self.dimensions.iter().enumerate() {
            let values = report
                .rows
                .iter()
                .map(|r| r.dimension_values.get(k).and_then(|c| c.value.clone()));
            if d == "date" {
                let days: Result<Vec<i32>> = values
                    .enumerate()
                    .map(|(i, v)| {
                        let v = v.unwrap_or_default();
                        NaiveDate::parse_from_str(&v, "%Y%m%d")
                            .map(Date32Type::from_naive_date)
                            .map_err(|_| {
                                dec(
                                    i,
                                    "dimensionValues.date",
                                    format!("`{v}` is not a YYYYMMDD date"),
                                )
                            })
                    })
                    .collect();
                arrays.push(Arc::new(Date32Array::from(days?)));
            } else {
                arrays.push(Arc::new(StringArray::from_iter(values)));
            }
        }
        for (k, m) in self.metrics.iter().enumerate() {
            let values: Result<Vec<Option<f64>>> = report
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let Some(v) = r.metric_values.get(k).and_then(|c| c.value.clone()) else {
                        return Ok(None);
                    };
                    let x: f64 = v.trim().parse().map_err(|_| {
                        dec(
                            i,
                            &format!("metricValues.{m}"),
                            format!("`{v}` is not a number"),
                        )
                    })?;
                    if !x.is_finite() {
                        return Err(dec(
                            i,
                            &format!("metricValues.{m}"),
                            format!("`{v}` is not finite"),
                        ));
                    }
                    if metric_type(m) == DataType::Int64 && x.fract() != 0.0 {
                        return Err(dec(
                            i,
                            &format!("metricValues.{m}"),
                            format!("`{v}` is not a whole count"),
                        ));
                    }
                    Ok(Some(x))
                })
                .collect();
            let values = values?;
            arrays.push(match metric_type(m) {
                DataType::Int64 => Arc::new(Int64Array::from_iter(
                    values.into_iter().map(|v| v.map(|x| x as i64)),
                )),
                _ => Arc::new(Float64Array::from(values)),
            });
        }
        arrays.push(Arc::new(StringArray::from(vec![currency; n])));
        Ok(RecordBatch::try_new(schema.clone(), arrays)?)
    }
}

#[async_trait::async_trait]
impl Connector for Ga4Connector {
    fn name(&self) -> &str {
        SOURCE
    }

    fn schema(&self, _request: &ConnectorRequest) -> Result<SchemaRef> {
        let i = &self.inner;
        let mut fields: Vec<Field> = i
            .dimensions
            .iter()
            .map(|d| {
                if d == "date" {
                    Field::new(d, DataType::Date32, false)
                } else {
                    Field::new(d, DataType::Utf8, true)
                }
            })
            .collect();
        fields.extend(
            i.metrics
                .iter()
                .map(|m| Field::new(m, metric_type(m), true)),
        );
        fields.push(Field::new("currency", DataType::Utf8, true));
        Ok(Arc::new(Schema::new(fields)))
    }

    async fn check(&self) -> Result<()> {
        let inner = &self.inner;
        let budget = inner.core.budget();
        let today = chrono::Utc::now().date_naive();
        let request = ConnectorRequest::new(today, today)?;
        inner
            .core
            .checked(inner.run_report(&budget, &request, 0))
            .await
    }

    fn read(&self, request: &ConnectorRequest) -> Result<RecordBatchStream> {
        let schema = self.schema(request)?;
        let inner = self.inner.clone();
        let request = request.clone();
        let days = u64::try_from(request.days()).unwrap_or(1);
        let bound = inner.core.config.page_bound(days);
        let redactor = inner.core.redactor.clone();
        struct State {
            offset: u64,
            page: u64,
            total: Option<u64>,
            done: bool,
        }
        let budget = inner.core.budget();
        let stream = futures::stream::try_unfold(
            State {
                offset: 0,
                page: 0,
                total: None,
                done: false,
            },
            move |mut st| {
                let (inner, schema, request, budget) = (
                    inner.clone(),
                    schema.clone(),
                    request.clone(),
                    budget.clone(),
                );
                async move {
                    if st.done {
                        return Ok(None);
                    }
                    if st.page >= bound {
                        return Err(Error::TooManyPages {
                            source_name: SOURCE.into(),
                            pages: st.page,
                            limit: bound,
                        });
                    }
                    st.page += 1;
                    let report = inner.run_report(&budget, &request, st.offset).await?;
                    inner.check_headers(&report, st.page)?;
                    let n = report.rows.len() as u64;
                    let total = if n == 0 && report.row_count == 0 {
                        0
                    } else {
                        report.row_count
                    };
                    if let Some(t) = st.total
                        && t != total
                    {
                        return Err(Error::Decode {
                            source_name: SOURCE.into(),
                            path: format!("page {}: rowCount", st.page),
                            message: format!(
                                "the report had {t} rows, now {total}: it changed while it was paged; run the pull again"
                            ),
                        });
                    }
                    st.total = Some(total);
                    if n == 0 && st.offset < total {
                        return Err(Error::Decode {
                            source_name: SOURCE.into(),
                            path: format!("page {}: rows", st.page),
                            message: format!("empty at offset {} of {total}", st.offset),
                        });
                    }
                    let currency = report
                        .metadata
                        .as_ref()
                        .and_then(|m| m.currency_code.clone())
                        .unwrap_or_default();
                    let batch = inner.to_batch(&schema, &report, st.page, &currency)?;
                    inner.core.progress.page(batch.num_rows());
                    st.offset += n;
                    st.done = st.offset >= total;
                    Ok(Some((batch, st)))
                }
            },
        );
        use futures::StreamExt;
        Ok(Box::pin(
            stream.map(move |r| r.map_err(|e| redactor.scrub(e))),
        ))
    }
}

fn classify(redactor: &Redactor, property: &str, r: &Reply) -> Verdict {
    if r.status == 200 {
        return Verdict::Ok { pause: None };
    }
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let status = redactor.excerpt(v["error"]["status"].as_str().unwrap_or_default());
    let message = redactor.excerpt(v["error"]["message"].as_str().unwrap_or_default());
    match r.status {
        401 => Verdict::Fail(Error::Auth {
            source_name: SOURCE.into(),
            message: format!(
                "HTTP 401 {status}: {message}; check LIFTOS_GA4_CLIENT_ID, LIFTOS_GA4_CLIENT_SECRET and LIFTOS_GA4_REFRESH_TOKEN"
            ),
        }),
        403 => Verdict::Fail(Error::Auth {
            source_name: SOURCE.into(),
            message: format!(
                "HTTP 403 {status}: {message} (property {property}: the authorized user needs at least Viewer access, and the token the analytics.readonly scope)"
            ),
        }),
        // The daily quota comes back at the property's midnight: a wait of up to a day,
        // which the retry policy refuses (Error::Throttled) rather than sleep through.
        429 if message.to_ascii_lowercase().contains("per day") => Verdict::Retry {
            after: Some(Duration::from_secs(86_400)),
            reason: format!("HTTP 429 {status}: {message} (the daily token quota)"),
        },
        429 | 500..=599 => Verdict::Retry {
            after: (r.status == 429).then_some(Duration::from_secs(1)),
            reason: format!("HTTP {} {status}: {message}", r.status),
        },
        _ => Verdict::Fail(Error::Http {
            source_name: SOURCE.into(),
            status: r.status,
            body: r.snippet(redactor),
        }),
    }
}
