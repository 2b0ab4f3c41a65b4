//! Connectors that pull daily marketing performance data into Apache Arrow.
//!
//! Every source (Meta Ads, Google Ads, Klaviyo, TikTok Ads, GA4, Shopify, any JSON API by
//! a declarative spec, CSV/Parquet/JSON files, a PostgreSQL query) implements the
//! [`Connector`] trait: it declares the schema it produces for a [`ConnectorRequest`],
//! checks its credentials, and returns a lazy stream of Arrow [`RecordBatch`]es. Building
//! the stream does no I/O; the work starts when the stream is first polled, and the
//! stream ends after the first `Err` it yields.
//!
//! Output columns keep the platform's own field names (`date_start`, `campaign_name`,
//! `spend` for Meta; `segments.date`, `campaign.name`, `metrics.cost_micros` for Google
//! Ads; `campaign_name`, `sent_at`, `recipients`, `revenue` for Klaviyo), typed: dates
//! as `Date32`, counts `Int64`, money `Float64`, micros `Int64`.
//!
//! # Example
//!
//! A connector over rows already in memory, and the provided
//! [`Connector::get_campaign_data`] that collects its stream into one table:
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Date32Array, Float64Array, RecordBatch};
//! use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
//! use liftos_connectors::{Connector, ConnectorRequest, RecordBatchStream, Result};
//!
//! #[derive(Debug)]
//! struct InMemory(RecordBatch);
//!
//! #[async_trait::async_trait]
//! impl Connector for InMemory {
//!     fn name(&self) -> &str { "memory" }
//!     fn schema(&self, _request: &ConnectorRequest) -> Result<SchemaRef> {
//!         Ok(self.0.schema())
//!     }
//!     async fn check(&self) -> Result<()> { Ok(()) }
//!     fn read(&self, _request: &ConnectorRequest) -> Result<RecordBatchStream> {
//!         let batch = self.0.clone();
//!         Ok(Box::pin(futures::stream::iter([Ok(batch)])))
//!     }
//! }
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("date", DataType::Date32, false),
//!     Field::new("spend", DataType::Float64, false),
//! ]));
//! let batch = RecordBatch::try_new(schema, vec![
//!     Arc::new(Date32Array::from(vec![19_723, 19_724])),
//!     Arc::new(Float64Array::from(vec![10.5, 12.0])),
//! ])?;
//! let connector = InMemory(batch);
//! let request = ConnectorRequest::new("2024-01-01".parse()?, "2024-01-02".parse()?)?;
//! let table = futures::executor::block_on(connector.get_campaign_data(&request))?;
//! assert_eq!(table.num_rows(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! | Part | What it does |
//! |---|---|
//! | [`Connector`] trait, [`ConnectorRequest`] | request in, lazy stream of record batches out |
//! | HTTP core ([`RetryConfig`], [`Clock`], [`Progress`]) | rustls (ring) client, timeouts, retry / retry-after / fail per platform, exponential backoff with seeded jitter, retry budget and deadline, bounded concurrency, one pagination helper, progress callbacks, secret redaction |
//! | [`MetaAdsConnector`] | Ads Insights sync (`paging.next`) and async report runs (split in halves on failure), levels, breakdowns, attribution windows, purchase types counted once, `appsecret_proof`, several accounts |
//! | [`GoogleAdsConnector`] | OAuth refresh (before expiry, once on 401), `developer-token` / `login-customer-id`, GAQL built or raw, `searchStream` array-of-batches |
//! | [`KlaviyoConnector`] | `Klaviyo-API-Key` + `revision`, campaigns (`links.next`; live and archived), one campaign-values-report per year of range (every page, following `links.next`), "Placed Order" found by name, spend = recipients × cost per recipient; optional flows (`include_flows`: `GET /api/flows`, live and archived, daily flow-series-reports of ≤ 60 days, every page, one row per flow and day, `message_type` column); report calls (each page one) spaced and planned against the daily limit |
//! | [`Ga4Connector`] | GA4 Data API `runReport` (OAuth refresh, once more on 401), by date and default channel group, `limit`/`offset` paging to `rowCount`, property quota logged, 429 retried except the daily quota, `keyEvents`/`conversions` either name |
//! | [`TikTokConnector`] | `Access-Token`, synchronous integrated reports per advertiser (campaign × day, ≤ 30 days a request, numbered pages of ≤ 1000 rows), errors read from the body's `code` (HTTP 200), the advertiser's currency from `advertiser/info`, a report that changes while paged refused |
//! | [`RestConnector`] | any JSON API from a TOML [`RestSpec`]: bearer / API-key header or query / OAuth2 refresh, cursor / next-link / offset / page-number pagination, record path, typed fields, `{start}`/`{end}`/`{account}` placeholders, date chunks, codes inside 200 bodies, a rate limit |
//! | [`ShopifyConnector`] | the shop's own orders as a daily business outcome (`date`, `revenue` after refunds, `orders`, `new_customer_orders`, `currency`) in the shop's time zone; cursor pages (cost ≤ 1000) for short ranges, one bulk operation (JSONL fetched from its signed URL without the token) for long ones; waits from the cost bucket's `throttleStatus` |
//! | [`FileConnector`] | CSV, Parquet, NDJSON with inference or an explicit schema; bad rows named by line |
//! | [`PostgresConnector`], [`PostgresSink`] | a SQL query (`$1`/`$2` = first/last day) streamed from a portal in batches of bounded size; tables written with binary `COPY` and swapped in atomically; TLS (rustls) required off loopback |
//!
//! Builders read credentials from code, a config table (serde) or `from_env()` (`LIFTOS_*`
//! variables, with an injectable lookup); secrets are `secrecy::SecretString` and never
//! appear in `Debug`, logs or errors. Plain http is accepted only for loopback base URLs.
//!
//! # Security
//!
//! - Credentials go only to the configured origin (scheme, host, port, compared parsed):
//!   a `paging.next` / `links.next` to another origin, with user info, or from https to
//!   http is refused with [`Error::CrossOrigin`] before any request; a redirect to another
//!   origin is refused the same way (no header is forwarded). The Google OAuth call goes
//!   to `token_url` only.
//! - Secrets are redacted from every error in their literal and percent-/form-encoded
//!   forms, including Google's access token obtained at run time; URLs in errors lose
//!   their credential parameters (`access_token`, `appsecret_proof`, ...).
//! - Every pull is bounded ([`RetryConfig`], settable with [`HttpSettings`]): response
//!   bodies (64 MiB, read in chunks, [`Error::BodyTooLarge`]), pages per listing
//!   ([`RetryConfig::page_bound`], [`Error::TooManyPages`]), an overall deadline
//!   ([`Error::Deadline`]) that also cuts a request in flight.
#![warn(missing_docs)]

mod builder;
mod error;
mod file;
mod ga4;
mod google;
mod http;
pub mod keys;
mod klaviyo;
mod meta;
mod oauth;
pub mod postgres;
mod request;
mod rest;
mod shopify;
#[cfg(test)]
mod testing;
mod tiktok;

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::{Stream, TryStreamExt};

pub use error::{Error, Result};
pub use file::{FileConnector, FileFormat};
pub use ga4::{
    GA4_DEFAULT_BASE_URL, GA4_DEFAULT_DIMENSIONS, GA4_DEFAULT_METRICS, GA4_DEFAULT_TOKEN_URL,
    GA4_MAX_LIMIT, Ga4Builder, Ga4Config, Ga4Connector,
};
pub use google::{
    GOOGLE_DEFAULT_API_VERSION, GOOGLE_DEFAULT_BASE_URL, GOOGLE_DEFAULT_TOKEN_URL,
    GoogleAdsBuilder, GoogleAdsConfig, GoogleAdsConnector,
};
pub use http::{
    Clock, DEFAULT_MAX_BODY_BYTES, HttpSettings, MAX_CONFIGURED_TIMEOUT, MIN_PAGE_BOUND, Progress,
    ProgressCallback, ProgressEvent, RetryConfig, SystemClock, VirtualClock,
};
pub use keys::{ConfigKey, ValueKind};
pub use klaviyo::{
    KLAVIYO_DEFAULT_BASE_URL, KLAVIYO_DEFAULT_REVISION, KlaviyoBuilder, KlaviyoConfig,
    KlaviyoConnector,
};
pub use meta::{
    ConversionCounting, META_BREAKDOWNS, META_DEFAULT_ACTION_TYPES, META_DEFAULT_API_VERSION,
    META_DEFAULT_BASE_URL, META_OPTIONAL_FIELDS, MetaAdsBuilder, MetaAdsConfig, MetaAdsConnector,
    hmac_sha256_hex,
};
pub use postgres::{
    POSTGRES_DEFAULT_BATCH_ROWS, POSTGRES_URL_VARIABLE, PostgresBuilder, PostgresConnector,
    PostgresSink, redact_url as redact_postgres_url, url_has_password as postgres_url_has_password,
};
pub use request::{ConnectorRequest, Level, TimeIncrement};
pub use rest::{
    RestAuth, RestBodyErrors, RestBuilder, RestConnector, RestField, RestFieldType, RestMethod,
    RestOutsideRange, RestPagination, RestRateLimit, RestRecords, RestRequest, RestSpec,
};
pub use shopify::{
    SHOPIFY_DEFAULT_API_VERSION, SHOPIFY_DEFAULT_BULK_THRESHOLD_DAYS, SHOPIFY_MAX_QUERY_COST,
    ShopifyBuilder, ShopifyConfig, ShopifyConnector, shopify_schema,
};
pub use tiktok::{
    TIKTOK_DEFAULT_API_VERSION, TIKTOK_DEFAULT_BASE_URL, TIKTOK_DEFAULT_METRICS,
    TIKTOK_MAX_CHUNK_DAYS, TIKTOK_MAX_PAGE_SIZE, TikTokBuilder, TikTokConfig, TikTokConnector,
};

/// A lazy, `'static`, `Send` stream of record batches produced by a [`Connector`].
pub type RecordBatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send + 'static>>;

/// A source of daily marketing performance data.
///
/// # Contract
///
/// Required methods: [`name`](Connector::name), [`schema`](Connector::schema),
/// [`check`](Connector::check) and [`read`](Connector::read).
///
/// - `schema(request)` returns the exact schema of every batch `read(request)` yields.
/// - `check()` validates the credentials with the cheapest call the platform offers and
///   fails with a non-retryable error when they are rejected.
/// - `read(request)` returns a stream that does **no I/O until it is first polled**. The
///   stream yields every row of the requested range exactly once (pagination, retries
///   and job splitting are the connector's business), then ends. After yielding an
///   `Err` the stream ends.
/// - Secrets never appear in `Debug` output, logs or error text.
///
/// [`get_campaign_data`](Connector::get_campaign_data) is provided: it drains the
/// stream into one table.
#[async_trait::async_trait]
pub trait Connector: Send + Sync + fmt::Debug {
    /// Short name of the source, used as the default `channel` (e.g. `meta`).
    fn name(&self) -> &str;

    /// The schema of the batches [`read`](Connector::read) yields for `request`.
    fn schema(&self, request: &ConnectorRequest) -> Result<SchemaRef>;

    /// Checks that the configured credentials are accepted by the source.
    async fn check(&self) -> Result<()>;

    /// Starts a lazy pull of `request`.
    fn read(&self, request: &ConnectorRequest) -> Result<RecordBatchStream>;

    /// Pulls `request` and concatenates every batch into one table (the seed's
    /// `get_campaign_data`).
    async fn get_campaign_data(&self, request: &ConnectorRequest) -> Result<RecordBatch> {
        let schema = self.schema(request)?;
        let batches: Vec<RecordBatch> = self.read(request)?.try_collect().await?;
        Ok(arrow::compute::concat_batches(&schema, &batches)?)
    }

    /// The local file this connector reads, when it is a [`FileConnector`] (`None` for
    /// every other source). A pipeline run on a cluster has the cluster's executors read
    /// such files when they are CSV or Parquet ([`FileConnector::path`], a CSV file with
    /// the types of [`schema`](Connector::schema)) instead of this process.
    fn as_file(&self) -> Option<&FileConnector> {
        None
    }

    /// The time zone of each account this connector reads, as the platform reports it:
    /// the zone its days are in. Empty when the source cannot tell (files, PostgreSQL,
    /// REST specs: the default). One request per account (Meta `GET act_<id>?fields=timezone_name`,
    /// Google Ads `SELECT customer.time_zone FROM customer`, Klaviyo `GET /api/accounts`),
    /// with the retries of a pull.
    ///
    /// # Errors
    ///
    /// The connector's errors for a failed call; [`Error::Decode`] naming the field when
    /// the platform's value is not an IANA time zone.
    async fn time_zones(&self) -> Result<Vec<AccountTimeZone>> {
        Ok(Vec::new())
    }
}

/// An account's time zone as its platform reports it ([`Connector::time_zones`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTimeZone {
    /// The account: Meta `act_<id>`, a Google Ads customer id, a Klaviyo account id.
    pub account: String,
    /// Its IANA time zone name, as the platform wrote it (`America/Los_Angeles`,
    /// `US/Eastern`); checked to be one.
    pub zone: String,
    /// The platform's field it was read from (`timezone_name`, `customer.time_zone`,
    /// `timezone`), for messages.
    pub field: &'static str,
}

impl AccountTimeZone {
    /// `zone` of `account` read from `field`, checked to be an IANA name.
    pub(crate) fn parse(
        source: &str,
        account: impl Into<String>,
        field: &'static str,
        zone: &str,
    ) -> Result<Self> {
        zone.parse::<chrono_tz::Tz>().map_err(|_| Error::Decode {
            source_name: source.into(),
            path: field.into(),
            message: format!("`{zone}` is not an IANA time zone"),
        })?;
        Ok(AccountTimeZone {
            account: account.into(),
            zone: zone.to_owned(),
            field,
        })
    }
}

macro_rules! forward_connector {
    ($($ty:ty),*) => {$(
        #[async_trait::async_trait]
        impl<T: Connector + ?Sized> Connector for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn schema(&self, request: &ConnectorRequest) -> Result<SchemaRef> {
                (**self).schema(request)
            }
            async fn check(&self) -> Result<()> {
                (**self).check().await
            }
            fn read(&self, request: &ConnectorRequest) -> Result<RecordBatchStream> {
                (**self).read(request)
            }
            fn as_file(&self) -> Option<&FileConnector> {
                (**self).as_file()
            }
            async fn time_zones(&self) -> Result<Vec<AccountTimeZone>> {
                (**self).time_zones().await
            }
        }
    )*};
}

forward_connector!(Box<T>, Arc<T>, &T);

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    #[derive(Debug)]
    struct Chunks {
        schema: SchemaRef,
        chunks: Vec<Vec<i64>>,
        fail_after: Option<usize>,
    }

    #[async_trait::async_trait]
    impl Connector for Chunks {
        fn name(&self) -> &str {
            "chunks"
        }
        fn schema(&self, _request: &ConnectorRequest) -> Result<SchemaRef> {
            Ok(self.schema.clone())
        }
        async fn check(&self) -> Result<()> {
            Ok(())
        }
        fn read(&self, _request: &ConnectorRequest) -> Result<RecordBatchStream> {
            let schema = self.schema.clone();
            let fail_after = self.fail_after;
            let items: Vec<Result<RecordBatch>> = self
                .chunks
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if Some(i) == fail_after {
                        Err(Error::InvalidRequest {
                            message: format!("chunk {i} failed"),
                        })
                    } else {
                        RecordBatch::try_new(
                            schema.clone(),
                            vec![Arc::new(Int64Array::from(c.clone()))],
                        )
                        .map_err(Error::from)
                    }
                })
                .collect();
            Ok(Box::pin(futures::stream::iter(items)))
        }
    }

    fn chunks(fail_after: Option<usize>) -> Chunks {
        Chunks {
            schema: Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
            chunks: vec![vec![1, 2], vec![3], vec![4, 5, 6]],
            fail_after,
        }
    }

    fn request() -> ConnectorRequest {
        ConnectorRequest::new("2024-01-01".parse().unwrap(), "2024-01-31".parse().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn get_campaign_data_concatenates_every_batch_in_order() {
        let table = chunks(None).get_campaign_data(&request()).await.unwrap();
        let n = table
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(n.values().to_vec(), vec![1, 2, 3, 4, 5, 6]);
    }

    #[tokio::test]
    async fn an_error_in_the_stream_is_returned_not_swallowed() {
        let err = chunks(Some(1))
            .get_campaign_data(&request())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("chunk 1 failed"), "{err}");
    }

    #[tokio::test]
    async fn forwarding_impls_compose_as_trait_objects() {
        let boxed: Box<dyn Connector> = Box::new(chunks(None));
        let shared: Arc<dyn Connector> = Arc::new(chunks(None));
        assert_eq!(boxed.name(), "chunks");
        let by_ref = &shared;
        let table = by_ref.get_campaign_data(&request()).await.unwrap();
        assert_eq!(table.num_rows(), 6);
    }
}
