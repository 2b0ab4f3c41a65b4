//! Meta Ads (Marketing API, Ads Insights).

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, Date32Array, Float64Array, Int64Array, PrimitiveArray, RecordBatch, StringArray,
};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Field, Float64Type, Int64Type, Schema, SchemaRef,
};
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::builder::{required_secret, strings};
use crate::http::{
    HttpCore, ParseNumber, Progress, PullBudget, Redactor, Reply, Verdict, base_str, check_link,
    config_error, date_chunks, decode_error, decode_for, paginate, parse_number, platform_wait,
    validate_base_url,
};
use crate::{
    AccountTimeZone, Connector, ConnectorRequest, Error, Level, RecordBatchStream, Result,
    TimeIncrement,
};

const SOURCE: &str = "meta";
/// Default Graph API host.
pub const META_DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// Default Graph API version.
pub const META_DEFAULT_API_VERSION: &str = "v25.0";
/// Default conversion action types, in priority order (see [`ConversionCounting`]).
pub const META_DEFAULT_ACTION_TYPES: [&str; 3] = [
    "offsite_conversion.fb_pixel_purchase",
    "omni_purchase",
    "purchase",
];
/// Breakdowns the connector accepts (carried as Utf8 columns).
pub const META_BREAKDOWNS: [&str; 8] = liftos_core::platforms::META_BREAKDOWNS;
/// Optional metric fields (`ConnectorRequest::fields`), output when requested and served.
pub const META_OPTIONAL_FIELDS: [&str; 5] = ["reach", "frequency", "cpm", "cpc", "ctr"];

/// How the configured conversion action types become `conversions` / `conversion_values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConversionCounting {
    /// Per row, take the first listed action type present and count only it (the
    /// default). Meta reports the same purchase under several overlapping types
    /// (`offsite_conversion.fb_pixel_purchase`, `omni_purchase`, `purchase`): adding
    /// them would double count.
    #[default]
    FirstPresent,
    /// Sum every listed type; only for types that never overlap.
    SumAll,
}

crate::keys::config_table! {
    /// Settings of a [`MetaAdsConnector`] as a config table (serde), e.g. from `liftos.toml`.
    ///
    /// Every field is optional here; [`MetaAdsBuilder::build`] names what is missing.
    /// [`KEYS`](Self::KEYS) lists each one with its variable.
    pub struct MetaAdsConfig {
        /// Access token.
        access_token: Option<SecretString>
            => Text.env("LIFTOS_META_ACCESS_TOKEN").secret().required();
        /// App secret for `appsecret_proof` (optional).
        app_secret: Option<SecretString> => Text.env("LIFTOS_META_APP_SECRET").secret();
        /// Ad account ids, with or without `act_`.
        ad_account_ids: Vec<String> => List.env("LIFTOS_META_AD_ACCOUNT_IDS").required();
        /// Replaces `https://graph.facebook.com`.
        base_url: Option<String> => Text.env("LIFTOS_META_BASE_URL");
        /// Graph API version (default `v25.0`).
        api_version: Option<String> => Text.env("LIFTOS_META_API_VERSION");
        /// Conversion action types, in priority order.
        conversion_action_types: Option<Vec<String>>
            => List.env("LIFTOS_META_CONVERSION_ACTION_TYPES");
        /// How the action types are counted.
        conversion_counting: Option<ConversionCounting>
            => Text.env("LIFTOS_META_CONVERSION_COUNTING");
        /// Attribution windows (e.g. `["7d_click","1d_view"]`); empty = account default.
        /// Conversions are the sum of the windows' figures.
        attribution_windows: Option<Vec<String>> => List.env("LIFTOS_META_ATTRIBUTION_WINDOWS");
    }
}

crate::builder::http_builder_type! {
    /// Builder of a [`MetaAdsConnector`].
    ///
    /// | Name | Default | Meaning | Range |
    /// |---|---|---|---|
    /// | `access_token` | — (required) | Graph API access token | non-empty |
    /// | `app_secret` | none | adds `appsecret_proof` = hex HMAC-SHA256(app_secret, token) | — |
    /// | `ad_account_ids` | — (required) | accounts, with or without `act_` | ≥ 1, digits |
    /// | `base_url` | `https://graph.facebook.com` | API host (http only on loopback) | URL |
    /// | `api_version` | `v25.0` | Graph API version | `vNN.N` |
    /// | `conversion_action_types` | fb_pixel_purchase, omni_purchase, purchase | action types counted as conversions | ≥ 1 |
    /// | `conversion_counting` | first present | see [`ConversionCounting`] | — |
    /// | `attribution_windows` | none (account default) | `action_attribution_windows`; conversions and values are the sum of each window's figure (not `value`, the account default) | at most one click, one view, one engaged-view window (`7d_click`, `1d_view`, `1d_ev`), or `dda` / `default` alone |
    /// | `page_limit` | 500 | rows per page (`limit`) | 1..=5000 |
    /// | `async_threshold_days` | 90 | ranges longer than this (or with breakdowns) use async report runs | ≥ 1 |
    /// | `async_chunk_days` | 90 | days per async job before any split | ≥ 1 |
    /// | `async_poll_interval` | 2 s | first poll wait (doubles up to 30 s) | > 0 |
    /// | `async_timeout` | 15 min | a job still running after this is split in halves | > 0 |
    /// | `retry` | [`RetryConfig::default`](crate::RetryConfig::default) | retries, timeouts, concurrency | — |
    pub struct MetaAdsBuilder(MetaAdsConfig) {
        page_limit: usize = 500,
        async_threshold_days: u32 = 90,
        async_chunk_days: u32 = 90,
        async_poll_interval: Duration = Duration::from_secs(2),
        async_timeout: Duration = Duration::from_secs(15 * 60),
    }
    default_base_url: "https://graph.facebook.com";
}

impl MetaAdsBuilder {
    liftos_core::setters! {
        /// Sets the access token.
        with_access_token(access_token: impl Into<SecretString>)
            => self.config.access_token = Some(access_token.into());
        /// Sets the app secret (adds `appsecret_proof` to every call).
        with_app_secret(app_secret: impl Into<SecretString>)
            => self.config.app_secret = Some(app_secret.into());
        /// Sets the ad accounts (with or without `act_`).
        with_ad_account_ids(accounts: impl IntoIterator<Item = impl Into<String>>)
            => self.config.ad_account_ids = strings(accounts);
        /// Sets the Graph API version (e.g. `v25.0`).
        with_api_version(api_version: impl Into<String>)
            => self.config.api_version = Some(api_version.into());
        /// Sets the conversion action types, in priority order.
        with_conversion_action_types(action_types: impl IntoIterator<Item = impl Into<String>>)
            => self.config.conversion_action_types = Some(strings(action_types));
        /// Sets how the action types are counted.
        with_conversion_counting(counting: ConversionCounting)
            => self.config.conversion_counting = Some(counting);
        /// Sets the attribution windows (`action_attribution_windows`).
        with_attribution_windows(windows: impl IntoIterator<Item = impl Into<String>>)
            => self.config.attribution_windows = Some(strings(windows));
        /// Sets the page size.
        with_page_limit(page_limit: usize);
        /// Ranges longer than `days` (or with breakdowns) use async report runs.
        with_async_threshold_days(async_threshold_days: u32);
        /// Days per async job before splitting.
        with_async_chunk_days(async_chunk_days: u32);
    }
    /// Sets the first poll wait and the job timeout of async runs.
    pub fn with_async_polling(mut self, interval: Duration, timeout: Duration) -> Self {
        self.async_poll_interval = interval;
        self.async_timeout = timeout;
        self
    }

    /// Validates everything and builds the connector.
    pub fn build(self) -> Result<MetaAdsConnector> {
        self.base.check(SOURCE)?;
        let c = self.config;
        let token = required_secret(
            SOURCE,
            c.access_token,
            "access token",
            "LIFTOS_META_ACCESS_TOKEN",
            "with_access_token",
        )?;
        if c.ad_account_ids.is_empty() {
            return Err(config_error(
                SOURCE,
                "no ad account: set LIFTOS_META_AD_ACCOUNT_IDS (comma-separated) or call with_ad_account_ids",
            ));
        }
        let mut accounts = Vec::new();
        for raw in &c.ad_account_ids {
            let id = raw.trim().trim_start_matches("act_");
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(config_error(
                    SOURCE,
                    &format!("ad account id `{raw}` must be digits, optionally prefixed by act_"),
                ));
            }
            if !accounts.iter().any(|a: &String| a == id) {
                accounts.push(id.to_owned());
            }
        }
        let version = c
            .api_version
            .as_deref()
            .unwrap_or(META_DEFAULT_API_VERSION)
            .trim()
            .to_owned();
        if !(version.starts_with('v')
            && version[1..]
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
        {
            return Err(config_error(
                SOURCE,
                &format!("api_version `{version}` must look like v25.0"),
            ));
        }
        let action_types = c.conversion_action_types.unwrap_or_else(|| {
            META_DEFAULT_ACTION_TYPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        });
        if action_types.is_empty() {
            return Err(config_error(
                SOURCE,
                "conversion_action_types must not be empty",
            ));
        }
        if !(1..=5000).contains(&self.page_limit) {
            return Err(config_error(SOURCE, "page_limit must be in 1..=5000"));
        }
        if self.async_threshold_days == 0
            || self.async_chunk_days == 0
            || self.async_poll_interval.is_zero()
            || self.async_timeout.is_zero()
        {
            return Err(config_error(SOURCE, "async settings must be > 0"));
        }
        let base_url = validate_base_url(
            SOURCE,
            c.base_url.as_deref().unwrap_or(META_DEFAULT_BASE_URL),
        )?;
        let base = base_str(&base_url);
        let redactor = Redactor::of([&token]);
        let proof = c.app_secret.as_ref().map(|s| {
            redactor.add(s);
            let p = SecretString::from(hmac_sha256_hex(s.expose_secret(), token.expose_secret()));
            redactor.add(&p);
            p
        });
        let core = self.base.into_core(SOURCE, redactor)?;
        Ok(MetaAdsConnector {
            inner: Arc::new(Inner {
                core,
                token,
                proof,
                accounts,
                base,
                base_url,
                version,
                action_types,
                counting: c.conversion_counting.unwrap_or_default(),
                windows: check_windows(c.attribution_windows.unwrap_or_default())?,
                page_limit: self.page_limit,
                async_threshold_days: self.async_threshold_days,
                async_chunk_days: self.async_chunk_days,
                async_poll_interval: self.async_poll_interval,
                async_timeout: self.async_timeout,
            }),
        })
    }
}

/// The attribution windows, trimmed, checked to be summable: conversions under several
/// windows are the sum of each window's figure, which counts a conversion twice when two
/// windows of one kind overlap (`1d_click` lies inside `7d_click`), so at most one click,
/// one view and one engaged-view window; `dda` and `default` only alone.
fn check_windows(windows: Vec<String>) -> Result<Vec<String>> {
    let windows: Vec<String> = windows
        .into_iter()
        .map(|w| w.trim().to_owned())
        .filter(|w| !w.is_empty())
        .collect();
    let bad = |m: String| config_error(SOURCE, &format!("attribution_windows: {m}"));
    let mut kinds: Vec<(&str, &str)> = Vec::new();
    for w in &windows {
        let kind = if w == "dda" || w == "default" {
            if windows.len() > 1 {
                return Err(bad(format!(
                    "`{w}` cannot be combined with other windows (conversions are summed over the windows)"
                )));
            }
            "whole"
        } else {
            let kind = w.split_once("d_").and_then(|(days, kind)| {
                (!days.is_empty()
                    && days.bytes().all(|b| b.is_ascii_digit())
                    && matches!(kind, "click" | "view" | "ev"))
                .then_some(kind)
            });
            kind.ok_or_else(|| {
                bad(format!(
                    "`{w}` is not an attribution window (e.g. 7d_click, 1d_view, 1d_ev, dda)"
                ))
            })?
        };
        if let Some((other, _)) = kinds.iter().find(|(_, k)| *k == kind) {
            return Err(bad(format!(
                "`{other}` and `{w}` overlap: conversions are summed over the windows, so they would count twice; keep one {kind} window"
            )));
        }
        kinds.push((w, kind));
    }
    Ok(windows)
}

/// `text` as a number (absent: 0), or what is wrong with it ("`x` is not `what`");
/// `NaN`, `inf` and overflowing literals are not numbers.
fn number<T: ParseNumber + Default>(text: Option<&str>, what: &str) -> Result<T, String> {
    match text {
        None => Ok(T::default()),
        Some(v) => parse_number(v).ok_or_else(|| format!("`{v}` is not {what}")),
    }
}

/// The column of what `raw` reads off each row, as numbers (absent: null); `dec` makes
/// the error of the row at an index that is not `what`.
fn optional_numbers<T: ArrowPrimitiveType>(
    rows: &[Row],
    raw: impl Fn(&Row) -> Option<String>,
    what: &str,
    dec: impl Fn(usize, String) -> Error,
) -> Result<ArrayRef>
where
    T::Native: ParseNumber,
{
    let values: Vec<Option<T::Native>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            raw(r)
                .map(|s| number(Some(&s), what).map_err(|m| dec(i, m)))
                .transpose()
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(values.into_iter().collect::<PrimitiveArray<T>>()))
}

/// Lower-case hex HMAC-SHA256(key, message): Meta's `appsecret_proof`.
pub fn hmac_sha256_hex(key: &str, message: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    ring::hmac::sign(&key, message.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug)]
struct Inner {
    core: HttpCore,
    token: SecretString,
    proof: Option<SecretString>,
    accounts: Vec<String>,
    base: String,
    /// The parsed base URL: `paging.next` links must have its origin.
    base_url: url::Url,
    version: String,
    action_types: Vec<String>,
    counting: ConversionCounting,
    windows: Vec<String>,
    page_limit: usize,
    async_threshold_days: u32,
    async_chunk_days: u32,
    async_poll_interval: Duration,
    async_timeout: Duration,
}

/// Pulls daily Ads Insights from one or more Meta ad accounts.
///
/// Output columns: `date_start`, `date_stop` (Date32), `account_id`, `account_currency`,
/// `campaign_id`, `campaign_name` (+ `adset_id`, `adset_name` at ad-set level and
/// `ad_id`, `ad_name` at ad level), one Utf8 column per breakdown, `spend` (Float64),
/// `impressions`, `clicks` (Int64), `conversions`, `conversion_values` (Float64), then
/// any requested optional field (`reach` Int64; `frequency`, `cpm`, `cpc`, `ctr`
/// Float64; null when Meta does not serve it).
#[derive(Clone, Debug)]
pub struct MetaAdsConnector {
    inner: Arc<Inner>,
}

impl MetaAdsConnector {
    /// A builder.
    pub fn builder() -> MetaAdsBuilder {
        MetaAdsBuilder::new()
    }
    /// The progress counters.
    pub fn progress(&self) -> &Progress {
        &self.inner.core.progress
    }
}

#[derive(Debug, Clone)]
struct Plan {
    level: Level,
    breakdowns: Vec<String>,
    extra: Vec<String>,
    schema: SchemaRef,
    start: NaiveDate,
    end: NaiveDate,
}

/// Meta's "Type 1" breakdowns (`region`, `dma`): with them the Insights API returns no
/// off-Meta actions (pixel purchases, their values) at the default attribution, only with
/// explicit attribution windows ("Insights API Breakdowns", restrictions for off-Meta
/// action metrics). Read without windows, conversions and revenue would be 0 on every
/// row, so such a request is refused, saying what to set.
fn off_meta_actions_available(breakdowns: &[String], windows: &[String]) -> Result<()> {
    let Some(b) = breakdowns
        .iter()
        .find(|b| matches!(b.as_str(), "region" | "dma"))
    else {
        return Ok(());
    };
    let explicit = !windows.is_empty() && !windows.iter().any(|w| w == "default" || w == "dda");
    if explicit {
        return Ok(());
    }
    Err(Error::InvalidRequest {
        message: format!(
            "meta: with the `{b}` breakdown Meta returns no off-Meta conversions (pixel \
             purchases and their values) at the account's default attribution, so every row \
             would read 0; set attribution windows (LIFTOS_META_ATTRIBUTION_WINDOWS, e.g. \
             7d_click,1d_view) or drop the breakdown"
        ),
    })
}

fn plan(request: &ConnectorRequest) -> Result<Plan> {
    let bad = |m: String| {
        Err(Error::InvalidRequest {
            message: format!("meta: {m}"),
        })
    };
    if !matches!(request.level, Level::Campaign | Level::AdGroup | Level::Ad) {
        return bad(format!(
            "level `{}` is not supported; use campaign, ad_group (ad set) or ad",
            request.level.as_str()
        ));
    }
    if request.time_increment != TimeIncrement::Daily {
        return bad("only daily rows (time_increment = 1) are supported".into());
    }
    for b in &request.breakdowns {
        if !META_BREAKDOWNS.contains(&b.as_str()) {
            return bad(format!(
                "unknown breakdown `{b}`; supported: {}",
                META_BREAKDOWNS.join(", ")
            ));
        }
    }
    let mut extra = Vec::new();
    for f in &request.fields {
        if META_OPTIONAL_FIELDS.contains(&f.as_str()) {
            if !extra.contains(f) {
                extra.push(f.clone());
            }
        } else if !BASE_FIELDS.contains(&f.as_str()) {
            return bad(format!(
                "unknown field `{f}`; the base columns are always pulled, optional: {}",
                META_OPTIONAL_FIELDS.join(", ")
            ));
        }
    }
    let mut fields = vec![
        Field::new("date_start", DataType::Date32, false),
        Field::new("date_stop", DataType::Date32, false),
        Field::new("account_id", DataType::Utf8, false),
        Field::new("account_currency", DataType::Utf8, true),
        Field::new("campaign_id", DataType::Utf8, true),
        Field::new("campaign_name", DataType::Utf8, true),
    ];
    if matches!(request.level, Level::AdGroup | Level::Ad) {
        fields.push(Field::new("adset_id", DataType::Utf8, true));
        fields.push(Field::new("adset_name", DataType::Utf8, true));
    }
    if request.level == Level::Ad {
        fields.push(Field::new("ad_id", DataType::Utf8, true));
        fields.push(Field::new("ad_name", DataType::Utf8, true));
    }
    for b in &request.breakdowns {
        fields.push(Field::new(b, DataType::Utf8, true));
    }
    fields.push(Field::new("spend", DataType::Float64, false));
    fields.push(Field::new("impressions", DataType::Int64, false));
    fields.push(Field::new("clicks", DataType::Int64, false));
    fields.push(Field::new("conversions", DataType::Float64, false));
    fields.push(Field::new("conversion_values", DataType::Float64, false));
    for e in &extra {
        let t = if e == "reach" {
            DataType::Int64
        } else {
            DataType::Float64
        };
        fields.push(Field::new(e, t, true));
    }
    Ok(Plan {
        level: request.level,
        breakdowns: request.breakdowns.clone(),
        extra,
        schema: Arc::new(Schema::new(fields)),
        start: request.start(),
        end: request.end(),
    })
}

const BASE_FIELDS: [&str; 17] = [
    "date_start",
    "date_stop",
    "account_id",
    "account_currency",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "spend",
    "impressions",
    "clicks",
    "conversions",
    "conversion_values",
    "actions",
    "action_values",
];

#[async_trait::async_trait]
impl Connector for MetaAdsConnector {
    fn name(&self) -> &str {
        SOURCE
    }

    fn schema(&self, request: &ConnectorRequest) -> Result<SchemaRef> {
        Ok(plan(request)?.schema)
    }

    async fn check(&self) -> Result<()> {
        let i = self.inner.clone();
        let budget = i.core.budget();
        for account in &i.accounts {
            let url = format!("{}/{}/act_{account}", i.base, i.version);
            let mut params = i.auth_params();
            params.push(("fields".into(), "account_id,currency".into()));
            i.get(&budget, &url, &params)
                .await
                .map_err(|e| i.core.redactor.scrub(e))?;
        }
        Ok(())
    }

    /// `GET act_<id>?fields=timezone_name` per account: the zone of its insights' days.
    async fn time_zones(&self) -> Result<Vec<AccountTimeZone>> {
        #[derive(serde::Deserialize)]
        struct AdAccount {
            timezone_name: String,
        }
        let i = self.inner.clone();
        let budget = i.core.budget();
        let mut zones = Vec::new();
        for account in &i.accounts {
            let url = format!("{}/{}/act_{account}", i.base, i.version);
            let mut params = i.auth_params();
            params.push(("fields".into(), "timezone_name".into()));
            let reply = i
                .get(&budget, &url, &params)
                .await
                .map_err(|e| i.core.redactor.scrub(e))?;
            let a: AdAccount = decode(&reply.body)?;
            zones.push(AccountTimeZone::parse(
                SOURCE,
                format!("act_{account}"),
                "timezone_name",
                &a.timezone_name,
            )?);
        }
        Ok(zones)
    }

    fn read(&self, request: &ConnectorRequest) -> Result<RecordBatchStream> {
        let plan = Arc::new(plan(request)?);
        off_meta_actions_available(&plan.breakdowns, &self.inner.windows)?;
        let inner = self.inner.clone();
        let concurrency = inner.core.config.concurrency;
        let budget = inner.core.budget();
        let accounts = inner.accounts.clone();
        let redactor = inner.core.redactor.clone();
        let stream = futures::stream::iter(accounts)
            .map(move |account| {
                account_stream(inner.clone(), plan.clone(), budget.clone(), account)
            })
            .flatten_unordered(concurrency)
            .map_err(move |e| redactor.scrub(e));
        Ok(Box::pin(stream))
    }
}

impl Inner {
    fn auth_params(&self) -> Vec<(String, String)> {
        let mut p = vec![(
            "access_token".to_owned(),
            self.token.expose_secret().to_owned(),
        )];
        if let Some(proof) = &self.proof {
            p.push(("appsecret_proof".into(), proof.expose_secret().to_owned()));
        }
        p
    }

    /// The parameters of an insights request of the days `since..=until`, `limit` rows a
    /// page.
    fn query_params(
        &self,
        plan: &Plan,
        since: NaiveDate,
        until: NaiveDate,
        limit: usize,
    ) -> Vec<(String, String)> {
        let level = match plan.level {
            Level::AdGroup => "adset",
            Level::Ad => "ad",
            _ => "campaign",
        };
        let mut fields: Vec<&str> = vec![
            "account_id",
            "account_currency",
            "campaign_id",
            "campaign_name",
            "spend",
            "impressions",
            "clicks",
            "actions",
            "action_values",
        ];
        if matches!(plan.level, Level::AdGroup | Level::Ad) {
            fields.extend(["adset_id", "adset_name"]);
        }
        if plan.level == Level::Ad {
            fields.extend(["ad_id", "ad_name"]);
        }
        fields.extend(plan.extra.iter().map(String::as_str));
        let mut p = self.auth_params();
        p.push(("level".into(), level.into()));
        p.push(("fields".into(), fields.join(",")));
        p.push(("time_increment".into(), "1".into()));
        p.push((
            "time_range".into(),
            serde_json::json!({"since": since.to_string(), "until": until.to_string()}).to_string(),
        ));
        if !plan.breakdowns.is_empty() {
            p.push((
                "breakdowns".into(),
                serde_json::to_string(&plan.breakdowns).unwrap_or_default(),
            ));
        }
        if !self.windows.is_empty() {
            p.push((
                "action_attribution_windows".into(),
                serde_json::to_string(&self.windows).unwrap_or_default(),
            ));
        }
        p.push(("limit".into(), limit.to_string()));
        p
    }

    async fn get(
        &self,
        budget: &PullBudget,
        url: &str,
        params: &[(String, String)],
    ) -> Result<Reply> {
        self.send(budget, url, params, None).await
    }

    /// A GET of `url` with `params`, or with `post = Some(what)` a POST that is not
    /// idempotent (see [`HttpCore::execute_with`]).
    async fn send(
        &self,
        budget: &PullBudget,
        url: &str,
        params: &[(String, String)],
        post: Option<&str>,
    ) -> Result<Reply> {
        let client = self.core.client();
        let full = with_query(url, params);
        let make = || match post {
            Some(_) => client.post(&full),
            None => client.get(&full),
        };
        self.core
            .execute_with(budget, make, |r| classify(&self.core.redactor, r), post)
            .await
    }

    /// Fetches one insights page (`url` + `params`): the batch and the next URL, or
    /// Meta's refusal of the request as too large (for the caller to ask for less). The
    /// request goes through the HTTP core as any other: retries, deadline and the pause
    /// the usage headers ask for, of a refusal too.
    async fn page(
        &self,
        budget: &PullBudget,
        plan: &Plan,
        account: &str,
        range: (NaiveDate, NaiveDate),
        url: String,
        params: Vec<(String, String)>,
    ) -> Result<Fetched> {
        let client = self.core.client();
        let full = with_query(&url, &params);
        let redactor = &self.core.redactor;
        let reply = self
            .core
            .execute_with(
                budget,
                || client.get(&full),
                |r| too_large_or(redactor, r),
                None,
            )
            .await?;
        if let Some((status, said)) = refused_as_too_large(redactor, &reply) {
            return Ok(Fetched::TooLarge { status, said });
        }
        let page: Page = decode(&reply.body)?;
        let batch = self.to_batch(plan, account, range, &page.data)?;
        self.core.progress.page(batch.num_rows());
        let next = page.paging.and_then(|p| p.next).filter(|n| !n.is_empty());
        Ok(Fetched::Page(batch, next))
    }

    /// Turns a `paging.next` URL into (url, params), keeping our credentials and
    /// refusing to send them to another origin (scheme, host, port compared parsed), to
    /// plain http when the base is https, or to a URL with user info.
    fn follow(&self, next: &str) -> Result<(String, Vec<(String, String)>)> {
        let parsed = check_link(SOURCE, "paging.next", &self.base_url, next)?;
        let mut params: Vec<(String, String)> = parsed
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| k != "access_token" && k != "appsecret_proof")
            .collect();
        params.extend(self.auth_params());
        let mut base = parsed.clone();
        base.set_query(None);
        Ok((base.to_string(), params))
    }

    /// The rows of one insights page of the days `range` (inclusive): daily rows
    /// (`date_start == date_stop`) within those days, or a decode error naming the row
    /// and the field (as TikTok and a raw Google query report theirs).
    fn to_batch(
        &self,
        plan: &Plan,
        account: &str,
        (since, until): (NaiveDate, NaiveDate),
        rows: &[Row],
    ) -> Result<RecordBatch> {
        let n = rows.len();
        let dec = |i: usize, field: &str, m| decode_error(SOURCE, format!("data[{i}].{field}"), m);
        let day = |i: usize, field: &str, s: &str| -> Result<NaiveDate> {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|e| dec(i, field, format!("`{s}` is not a date: {e}")))
        };
        let num = |i: usize, field: &str, s: Option<&str>| -> Result<f64> {
            number(s, "a number").map_err(|m| dec(i, field, m))
        };
        let int = |i: usize, field: &str, s: Option<&str>| -> Result<i64> {
            number(s, "an integer").map_err(|m| dec(i, field, m))
        };
        let mut d_start = Vec::with_capacity(n);
        let mut d_stop = Vec::with_capacity(n);
        let (mut spend, mut imps, mut clicks, mut conv, mut vals) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (i, r) in rows.iter().enumerate() {
            let (start, stop) = (
                day(i, "date_start", &r.date_start)?,
                day(i, "date_stop", &r.date_stop)?,
            );
            if start < since || start > until {
                return Err(dec(
                    i,
                    "date_start",
                    format!("{start} is outside the requested days {since}..={until}"),
                ));
            }
            if stop != start {
                return Err(dec(
                    i,
                    "date_stop",
                    format!(
                        "{stop} is not the row's date_start {start}: rows are daily (time_increment=1), a row over several days would be counted on one"
                    ),
                ));
            }
            d_start.push(Date32Type::from_naive_date(start));
            d_stop.push(Date32Type::from_naive_date(stop));
            spend.push(num(i, "spend", r.spend.as_deref())?);
            imps.push(int(i, "impressions", r.impressions.as_deref())?);
            clicks.push(int(i, "clicks", r.clicks.as_deref())?);
            let (c, v) = self.conversions(r).map_err(|(f, m)| dec(i, f, m))?;
            conv.push(c);
            vals.push(v);
        }
        let strs = |f: &dyn Fn(&Row) -> Option<&str>| -> ArrayRef {
            Arc::new(StringArray::from_iter(rows.iter().map(f)))
        };
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Date32Array::from(d_start)),
            Arc::new(Date32Array::from(d_stop)),
            Arc::new(StringArray::from_iter_values(
                rows.iter()
                    .map(|r| r.account_id.as_deref().unwrap_or(account)),
            )),
            strs(&|r| r.account_currency.as_deref()),
            strs(&|r| r.campaign_id.as_deref()),
            strs(&|r| r.campaign_name.as_deref()),
        ];
        if matches!(plan.level, Level::AdGroup | Level::Ad) {
            cols.push(strs(&|r| r.adset_id.as_deref()));
            cols.push(strs(&|r| r.adset_name.as_deref()));
        }
        if plan.level == Level::Ad {
            cols.push(strs(&|r| r.ad_id.as_deref()));
            cols.push(strs(&|r| r.ad_name.as_deref()));
        }
        for b in &plan.breakdowns {
            cols.push(strs(&|r| r.breakdown(b)));
        }
        cols.push(Arc::new(Float64Array::from(spend)));
        cols.push(Arc::new(Int64Array::from(imps)));
        cols.push(Arc::new(Int64Array::from(clicks)));
        cols.push(Arc::new(Float64Array::from(conv)));
        cols.push(Arc::new(Float64Array::from(vals)));
        for e in &plan.extra {
            let raw = |r: &Row| match e.as_str() {
                "reach" => r.reach.clone(),
                "frequency" => r.frequency.clone(),
                "cpm" => r.cpm.clone(),
                "cpc" => r.cpc.clone(),
                _ => r.ctr.clone(),
            };
            let bad = |i, m| dec(i, e, m);
            cols.push(if e == "reach" {
                optional_numbers::<Int64Type>(rows, raw, "an integer", bad)?
            } else {
                optional_numbers::<Float64Type>(rows, raw, "a number", bad)?
            });
        }
        Ok(RecordBatch::try_new(plan.schema.clone(), cols)?)
    }

    /// (conversions, conversion_values) of one row under the counting rule.
    fn conversions(&self, r: &Row) -> std::result::Result<(f64, f64), (&'static str, String)> {
        let find = |list: &Option<Vec<ActionStat>>,
                    t: &str,
                    field: &'static str|
         -> std::result::Result<Option<f64>, (&'static str, String)> {
            let Some(a) = list
                .as_ref()
                .and_then(|l| l.iter().find(|a| a.action_type == t))
            else {
                return Ok(None);
            };
            if self.windows.is_empty() {
                return parse_number::<f64>(&a.value)
                    .map(Some)
                    .ok_or_else(|| (field, format!("`{}` is not a number", a.value)));
            }
            // `value` is the account's default attribution: with windows requested, the
            // figure is the sum of their own keys.
            let mut total = 0.0;
            for w in &self.windows {
                total += match a.windows.get(w) {
                    None | Some(Value::Null) => 0.0,
                    Some(Value::String(x)) => parse_number::<f64>(x)
                        .ok_or_else(|| (field, format!("{t} {w}: `{x}` is not a number")))?,
                    Some(Value::Number(n)) => n
                        .as_f64()
                        .ok_or_else(|| (field, format!("{t} {w}: {n} is not a number")))?,
                    Some(o) => return Err((field, format!("{t} {w}: {o} is not a number"))),
                };
            }
            Ok(Some(total))
        };
        match self.counting {
            ConversionCounting::FirstPresent => {
                for t in &self.action_types {
                    let c = find(&r.actions, t, "actions")?;
                    let v = find(&r.action_values, t, "action_values")?;
                    if c.is_some() || v.is_some() {
                        return Ok((c.unwrap_or(0.0), v.unwrap_or(0.0)));
                    }
                }
                Ok((0.0, 0.0))
            }
            ConversionCounting::SumAll => {
                let (mut c, mut v) = (0.0, 0.0);
                for t in &self.action_types {
                    c += find(&r.actions, t, "actions")?.unwrap_or(0.0);
                    v += find(&r.action_values, t, "action_values")?.unwrap_or(0.0);
                }
                Ok((c, v))
            }
        }
    }

    /// Runs one async job to completion: `Ok(Ok(id))` when it completed, `Ok(Err(why))`
    /// when it failed, timed out, or its creation was refused as too large (for the
    /// caller to split), `Err(Error::Unconfirmed)` when its creation's answer
    /// was lost (the job may exist; it is not created again).
    async fn run_job(
        &self,
        budget: &PullBudget,
        plan: &Plan,
        account: &str,
        since: NaiveDate,
        until: NaiveDate,
    ) -> Result<std::result::Result<String, String>> {
        let url = format!("{}/{}/act_{account}/insights", self.base, self.version);
        // Creating a report run is not idempotent: never sent again blindly.
        let params = self.query_params(plan, since, until, self.page_limit);
        let client = self.core.client();
        let full = with_query(&url, &params);
        let redactor = &self.core.redactor;
        let reply = self
            .core
            .execute_with(
                budget,
                || client.post(&full),
                |r| too_large_or(redactor, r),
                Some("report run creation"),
            )
            .await?;
        // The data-per-call limit applies to report runs too: the same run would be
        // refused again, a shorter range may not (the caller splits it).
        if let Some((_, said)) = refused_as_too_large(redactor, &reply) {
            tracing::info!(source = SOURCE, %account, %since, %until, "report run refused as too large");
            return Ok(Err(format!(
                "Meta refuses to create the report run as too large ({said}), and would refuse it again: pull fewer breakdowns or a higher level (campaign rather than ad)"
            )));
        }
        let created: JobCreated = decode(&reply.body)?;
        let id = created.report_run_id;
        let poll_url = format!("{}/{}/{}", self.base, self.version, id);
        let started = self.core.clock.now();
        let mut wait = self.async_poll_interval;
        loop {
            self.core
                .sleep_within_deadline(budget, wait, || {
                    format!("report run {id}: waiting to poll its status")
                })
                .await?;
            let reply = self.get(budget, &poll_url, &self.auth_params()).await?;
            let status: JobStatus = decode(&reply.body)?;
            match status.async_status.as_str() {
                // Only the status is trusted: 100% can still be running.
                "Job Completed" => return Ok(Ok(id)),
                "Job Failed" | "Job Skipped" => {
                    let why = status
                        .error_message
                        .unwrap_or_else(|| status.async_status.clone());
                    let why = self.core.redactor.excerpt(&why);
                    tracing::warn!(source = SOURCE, %account, %since, %until, reason = %why, "async job failed");
                    return Ok(Err(format!(
                        "{} ({})",
                        why,
                        status.error_code.map(|c| c.to_string()).unwrap_or_default()
                    )));
                }
                _ => {}
            }
            if self.core.clock.now().saturating_sub(started) > self.async_timeout {
                return Ok(Err(format!(
                    "job {id} still `{}` after {} s",
                    status.async_status,
                    self.async_timeout.as_secs()
                )));
            }
            wait = wait.saturating_mul(2).min(Duration::from_secs(30));
        }
    }
}

fn account_stream(
    inner: Arc<Inner>,
    plan: Arc<Plan>,
    budget: Arc<PullBudget>,
    account: String,
) -> RecordBatchStream {
    let days = (plan.end - plan.start).num_days() + 1;
    let use_async = days > i64::from(inner.async_threshold_days) || !plan.breakdowns.is_empty();
    if !use_async {
        let first = Start::Range(plan.start, plan.end);
        return Box::pin(listing(inner, plan, budget, account, first));
    }
    // Async: a stack of date ranges; a run that failed, timed out, was refused as too
    // large, or whose first results page was, is split in halves.
    let mut stack = date_chunks(plan.start, plan.end, inner.async_chunk_days);
    stack.reverse();
    let state = (inner, plan, budget, account, stack);
    let jobs = futures::stream::try_unfold(
        state,
        |(inner, plan, budget, account, mut stack)| async move {
            loop {
                let Some((since, until)) = stack.pop() else {
                    return Ok(None);
                };
                let range = (since, until);
                let split = |stack: &mut Vec<(NaiveDate, NaiveDate)>| {
                    let mid = since + chrono::Duration::days((until - since).num_days() / 2);
                    stack.push((mid + chrono::Duration::days(1), until));
                    stack.push((since, mid));
                };
                let id = match inner.run_job(&budget, &plan, &account, since, until).await {
                    // The run may have been created: read this range with the plain
                    // (idempotent) insights GET instead of creating another.
                    Err(Error::Unconfirmed { message, .. }) => {
                        tracing::warn!(source = SOURCE, %account, %since, %until, reason = %message,
                                "report run creation unconfirmed: reading the range synchronously");
                        let s: RecordBatchStream = Box::pin(listing(
                            inner.clone(),
                            plan.clone(),
                            budget.clone(),
                            account.clone(),
                            Start::Range(since, until),
                        ));
                        return Ok(Some((s, (inner, plan, budget, account, stack))));
                    }
                    other => match other? {
                        Ok(id) => id,
                        Err(why) if since < until => {
                            tracing::info!(source = SOURCE, %account, %since, %until, reason = %why,
                                "splitting the failed job in halves");
                            split(&mut stack);
                            continue;
                        }
                        Err(why) => {
                            return Err(Error::AsyncJob {
                                source_name: SOURCE.into(),
                                range: format!("act_{account} {since}..={until}"),
                                message: why,
                            });
                        }
                    },
                };
                // The first results page is read here: refused as too large, a run of
                // several days is replaced by runs of its halves (no row of it is out
                // yet); a run of one day is read with half the page size (`listing`).
                let url = format!("{}/{}/{id}/insights", inner.base, inner.version);
                let limit = inner.page_limit;
                let mut params = inner.auth_params();
                params.push(("limit".into(), limit.to_string()));
                let first = inner
                    .page(&budget, &plan, &account, range, url.clone(), params)
                    .await?;
                let s: RecordBatchStream = match first {
                    Fetched::Page(batch, None) => Box::pin(futures::stream::iter([Ok(batch)])),
                    Fetched::Page(batch, Some(next)) => {
                        let rest = listing(
                            inner.clone(),
                            plan.clone(),
                            budget.clone(),
                            account.clone(),
                            Start::Link {
                                url: next,
                                range,
                                limit,
                            },
                        );
                        Box::pin(futures::stream::iter([Ok(batch)]).chain(rest))
                    }
                    Fetched::TooLarge { .. } if since < until => {
                        tracing::info!(source = SOURCE, %account, %since, %until, run = %id,
                            "too much data on the first results page: running the halves");
                        split(&mut stack);
                        continue;
                    }
                    Fetched::TooLarge { status, said } => {
                        let first = with_query(&url, &[("limit".to_owned(), limit.to_string())]);
                        match with_halved_limit(&first, limit) {
                            Some((smaller, half)) => Box::pin(listing(
                                inner.clone(),
                                plan.clone(),
                                budget.clone(),
                                account.clone(),
                                Start::Link {
                                    url: smaller,
                                    range,
                                    limit: half,
                                },
                            )),
                            None => {
                                return Err(too_large_error(
                                    status,
                                    &account,
                                    range,
                                    "a results page of one row (limit=1)",
                                    &said,
                                ));
                            }
                        }
                    }
                };
                return Ok(Some((s, (inner, plan, budget, account, stack))));
            }
        },
    );
    Box::pin(jobs.try_flatten())
}

/// What one insights request gave.
enum Fetched {
    /// A page of rows and the next page's URL.
    Page(RecordBatch, Option<String>),
    /// Meta refused the request as too large (see [`too_much_data`]): the HTTP status
    /// and what Meta said.
    TooLarge { status: u16, said: String },
}

/// Where an insights listing starts.
enum Start {
    /// The synchronous insights of these days (`time_range`), which may be split.
    Range(NaiveDate, NaiveDate),
    /// A page link (a report run's results, its `paging.next`) of the days `range`,
    /// asking for `limit` rows.
    Link {
        url: String,
        range: (NaiveDate, NaiveDate),
        limit: usize,
    },
}

/// The error of a request Meta refuses as too large even after asking for less: `what`
/// (the insights of a single day, a page of one row) of `account` over `range`.
fn too_large_error(
    status: u16,
    account: &str,
    (since, until): (NaiveDate, NaiveDate),
    what: &str,
    said: &str,
) -> Error {
    Error::Http {
        source_name: SOURCE.into(),
        status,
        body: format!(
            "Meta refuses {what} of act_{account} {since}..={until} as too large ({said}), \
             and would refuse it again: pull fewer breakdowns or a higher level (campaign \
             rather than ad), or lower page_limit"
        ),
    }
}

/// Prefix of the page tokens that stand for "the first page of these days".
const RANGE_TOKEN: &str = "liftos-range:";

/// The token of the first page of `since..=until`, asking for `limit` rows (`None`: the
/// configured `page_limit`).
fn range_token(since: NaiveDate, until: NaiveDate, limit: Option<usize>) -> String {
    match limit {
        None => format!("{RANGE_TOKEN}{since}..{until}"),
        Some(l) => format!("{RANGE_TOKEN}{since}..{until}@{l}"),
    }
}

fn parse_range_token(t: &str) -> Option<(NaiveDate, NaiveDate, Option<usize>)> {
    let rest = t.strip_prefix(RANGE_TOKEN)?;
    let (range, limit) = match rest.split_once('@') {
        Some((r, l)) => (r, Some(l.parse().ok()?)),
        None => (rest, None),
    };
    let (a, b) = range.split_once("..")?;
    Some((a.parse().ok()?, b.parse().ok()?, limit))
}

/// `next` with its `limit` halved, and the new limit; `None` when it is 1 already (or
/// the URL does not parse). `default` is the limit of a URL without one.
fn with_halved_limit(next: &str, default: usize) -> Option<(String, usize)> {
    let mut url = url::Url::parse(next).ok()?;
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let limit = pairs
        .iter()
        .find(|(k, _)| k == "limit")
        .map_or(Some(default), |(_, v)| v.parse::<usize>().ok())?;
    if limit <= 1 {
        return None;
    }
    let half = limit / 2;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != "limit") {
        query.append_pair(k, v);
    }
    query.append_pair("limit", &half.to_string());
    url.set_query(Some(&query.finish()));
    Some((url.to_string(), half))
}

/// One insights listing of an account: every page from `start` on, in date order.
///
/// Meta refuses a request that asks for too much data ("Please reduce the amount of data
/// you're asking for", code 1 / subcode 99; the data-per-call limit, code 100 / subcode
/// 1487534, which Meta's "Limits and Best Practices" says applies to sync and async
/// insights calls alike, counting rows in the response and data points, and answers
/// with a shorter date range), and would refuse the same request again; Airbyte and the
/// Singer tap ask for less. So does this listing:
/// - the first page of a synchronous range of more than one day: the range is read as
///   its two halves, one after the other (recursively, down to single days), so the rows
///   are those of one request, in the same order, none twice;
/// - the first page of a single day (synchronous, or a one-day report run's results,
///   [`Start::Link`]): the same request with half the `limit` (fewer rows in the
///   response), down to 1;
/// - a later page (`paging.next`; earlier pages' rows are already out, so the range
///   cannot be split): the same cursor with half the `limit`, down to 1;
/// - a page of one row still refused: one error naming the account and the range.
///
/// The work is bounded: a range of `n` days is split at most `n − 1` times (each refused
/// first page of several days is split once; depth ⌈log₂ n⌉ to any day), and a page's
/// `limit` is halved at most ⌊log₂ page_limit⌋ ≤ 12 times. Every such request is one
/// more page of the listing's page bound, and goes through the HTTP core's retries,
/// deadline and usage pauses like any other. Report runs are split the same way by
/// [`account_stream`] before their results are listed.
fn listing(
    inner: Arc<Inner>,
    plan: Arc<Plan>,
    budget: Arc<PullBudget>,
    account: String,
    start: Start,
) -> impl futures::Stream<Item = Result<RecordBatch>> + Send + 'static {
    let days = (plan.end - plan.start).num_days().max(0) as u64 + 1;
    let bound = inner.core.config.page_bound(days);
    let redactor = inner.core.redactor.clone();
    // The halves still to read, the next one last.
    let pending: Arc<std::sync::Mutex<Vec<(NaiveDate, NaiveDate)>>> = Arc::default();
    let start = Arc::new(start);
    let (current, limit) = match &*start {
        Start::Range(since, until) => ((*since, *until), inner.page_limit),
        Start::Link { range, limit, .. } => (*range, *limit),
    };
    // The range being read (for errors) and the page size of its pages.
    let state = Arc::new(std::sync::Mutex::new((current, limit)));
    paginate(SOURCE, bound, redactor, move |token: Option<String>| {
        let (inner, plan, budget, account, start, pending, state) = (
            inner.clone(),
            plan.clone(),
            budget.clone(),
            account.clone(),
            start.clone(),
            pending.clone(),
            state.clone(),
        );
        async move {
            let insights = || format!("{}/{}/act_{account}/insights", inner.base, inner.version);
            let first_of = |since: NaiveDate, until: NaiveDate, limit: Option<usize>| {
                let limit = limit.unwrap_or(inner.page_limit);
                let params = inner.query_params(&plan, since, until, limit);
                (insights(), params, Some((since, until)), None, limit)
            };
            // (url, params, the range of a first page, the link fetched, its limit)
            let (url, params, first, link, asked) = match (token.as_deref(), &*start) {
                (None, Start::Range(since, until)) => first_of(*since, *until, None),
                (None, Start::Link { url, limit, .. }) => {
                    let (u, p) = inner.follow(url)?;
                    (u, p, None, Some(url.clone()), *limit)
                }
                (Some(t), _) => match parse_range_token(t) {
                    Some((since, until, limit)) => first_of(since, until, limit),
                    None => {
                        let (u, p) = inner.follow(t)?;
                        let limit = lock(&state).1;
                        (u, p, None, Some(t.to_owned()), limit)
                    }
                },
            };
            if let Some(r) = first {
                *lock(&state) = (r, asked);
            }
            let ((since, until), limit) = *lock(&state);
            let range = (since, until);
            match inner.page(&budget, &plan, &account, range, url, params).await? {
                Fetched::Page(batch, next) => {
                    let next = next.or_else(|| {
                        lock(&pending)
                            .pop()
                            .map(|(s, u)| range_token(s, u, None))
                    });
                    Ok((Some(batch), next))
                }
                Fetched::TooLarge { status, said } => match (first, link) {
                    (Some((since, until)), _) if since < until => {
                        let mid = since + chrono::Duration::days((until - since).num_days() / 2);
                        tracing::info!(source = SOURCE, %account, %since, %until,
                            "too much data for one request: reading the range in halves");
                        lock(&pending).push((mid + chrono::Duration::days(1), until));
                        Ok((None, Some(range_token(since, mid, None))))
                    }
                    (Some((day, _)), _) if limit > 1 => {
                        let half = limit / 2;
                        tracing::info!(source = SOURCE, %account, %day, limit = half,
                            "too much data for one day's first page: asking again with half the limit");
                        Ok((None, Some(range_token(day, day, Some(half)))))
                    }
                    (Some(_), _) => Err(too_large_error(
                        status,
                        &account,
                        range,
                        "the insights of a single day, even a page of one row (limit=1),",
                        &said,
                    )),
                    (None, Some(link)) => match with_halved_limit(&link, limit) {
                        Some((smaller, half)) => {
                            tracing::info!(source = SOURCE, %account, %since, %until, limit = half,
                                "too much data for one page: asking for the page again with half the limit");
                            lock(&state).1 = half;
                            Ok((None, Some(smaller)))
                        }
                        None => Err(too_large_error(
                            status,
                            &account,
                            range,
                            "a page of one row (limit=1)",
                            &said,
                        )),
                    },
                    (None, None) => Err(too_large_error(status, &account, range, "a page", &said)),
                },
            }
        }
    })
    .try_filter_map(|b| async move { Ok(b) })
}

/// The value behind `m`, a poisoned lock read as it stands.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn with_query(url: &str, params: &[(String, String)]) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    if q.is_empty() {
        url.to_owned()
    } else {
        format!("{url}?{q}")
    }
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    decode_for(SOURCE, body)
}

/// The pause Meta's usage headers ask for before the pull's next request: the
/// `estimated_time_to_regain_access`, or 30 s when an insights throttle reads 90% or more.
fn usage_pause(r: &Reply) -> Option<Duration> {
    let pressure = r
        .header("x-fb-ads-insights-throttle")
        .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
        .map(|v| {
            v["app_id_util_pct"]
                .as_f64()
                .unwrap_or(0.0)
                .max(v["acc_id_util_pct"].as_f64().unwrap_or(0.0))
        })
        .unwrap_or(0.0);
    match regain_wait(r) {
        Some(w) => Some(w),
        None if pressure >= 90.0 => Some(Duration::from_secs(30)),
        None => None,
    }
}

/// Whether `e` says the request asks for too much data, which the same request would
/// get again: code 1 with subcode 99 or with "Please reduce the amount of data you're
/// asking for" (in `message`, or in `error_user_msg` / `error_user_title` when `message`
/// is only "An unknown error occurred"), and the Insights data-per-call limit (code 100,
/// subcode 1487534), whose documented remedy is a shorter date range.
fn too_much_data(e: &GraphError) -> bool {
    let says = |t: &Option<String>| {
        t.as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().contains("reduce the amount of data"))
    };
    (e.code == 1
        && (e.error_subcode == Some(99)
            || says(&Some(e.message.clone()))
            || says(&e.error_user_msg)
            || says(&e.error_user_title)))
        || (e.code == 100 && e.error_subcode == Some(1_487_534))
}

/// The verdict on an insights answer whose refusal as too large the caller handles (by
/// asking for less): such a refusal is handed back (with the usage pause it asks for),
/// anything else is [`classify`]d.
fn too_large_or(redactor: &Redactor, r: &Reply) -> Verdict {
    match refused_as_too_large(redactor, r) {
        Some(_) => Verdict::Ok {
            pause: usage_pause(r),
        },
        None => classify(redactor, r),
    }
}

/// The too-much-data error of reply `r`, when it is one: (HTTP status, Meta's message).
fn refused_as_too_large(redactor: &Redactor, r: &Reply) -> Option<(u16, String)> {
    if (200..300).contains(&r.status) {
        return None;
    }
    let e = serde_json::from_slice::<GraphErrorBody>(&r.body)
        .ok()?
        .error;
    if !too_much_data(&e) {
        return None;
    }
    let said = e
        .error_user_msg
        .filter(|m| !m.is_empty())
        .unwrap_or(e.message);
    let subcode = e
        .error_subcode
        .map(|s| format!(", subcode {s}"))
        .unwrap_or_default();
    Some((
        r.status,
        format!("code {}{subcode}: {}", e.code, redactor.excerpt(&said)),
    ))
}

fn classify(redactor: &Redactor, r: &Reply) -> Verdict {
    let regain = regain_wait(r);
    if (200..300).contains(&r.status) {
        return Verdict::Ok {
            pause: usage_pause(r),
        };
    }
    let err: Option<GraphError> = serde_json::from_slice::<GraphErrorBody>(&r.body)
        .ok()
        .map(|b| b.error);
    let text = r.snippet(redactor);
    if let Some(e) = &err {
        let msg = redactor.excerpt(&e.message);
        if e.code == 190 || e.code == 102 {
            return Verdict::Fail(Error::Auth {
                source_name: SOURCE.into(),
                message: format!(
                    "access token rejected (code {}{}): {msg}; renew the token (LIFTOS_META_ACCESS_TOKEN)",
                    e.code,
                    e.error_subcode
                        .map(|s| format!(", subcode {s}"))
                        .unwrap_or_default()
                ),
            });
        }
        // Code 1 is usually an unknown, transient error; with subcode 99 it is "Please
        // reduce the amount of data you're asking for": the same request fails again.
        // Insights listings split such a request (see `listing`); any other call fails.
        if let Some((status, said)) = refused_as_too_large(redactor, r) {
            return Verdict::Fail(Error::Http {
                source_name: SOURCE.into(),
                status,
                body: format!(
                    "Meta refuses this request as too large ({said}), and would refuse it again: pull a shorter range or fewer breakdowns, or lower page_limit"
                ),
            });
        }
        let retryable_code = matches!(e.code, 1 | 2 | 4 | 17 | 32 | 341 | 613 | 80000..=80014);
        let permanent =
            matches!(e.code, 100 | 10 | 200) || (e.code == 2 && e.error_subcode == Some(1504041));
        if !permanent && (e.is_transient || retryable_code || r.status >= 500) {
            return Verdict::Retry {
                after: regain,
                reason: format!("HTTP {} code {}: {msg}", r.status, e.code),
            };
        }
        return Verdict::Fail(Error::Http {
            source_name: SOURCE.into(),
            status: r.status,
            body: text,
        });
    }
    if r.status >= 500 || r.status == 429 {
        return Verdict::Retry {
            after: regain,
            reason: format!("HTTP {}: {text}", r.status),
        };
    }
    Verdict::Fail(Error::Http {
        source_name: SOURCE.into(),
        status: r.status,
        body: text,
    })
}

/// The largest non-zero `estimated_time_to_regain_access` (minutes) of the usage header.
fn regain_wait(r: &Reply) -> Option<Duration> {
    let v: serde_json::Value = serde_json::from_str(r.header("x-business-use-case-usage")?).ok()?;
    let minutes = v
        .as_object()?
        .values()
        .filter_map(|list| list.as_array())
        .flatten()
        .filter_map(|e| e["estimated_time_to_regain_access"].as_f64())
        .fold(0.0_f64, f64::max);
    platform_wait(minutes * 60.0).filter(|w| !w.is_zero())
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    is_transient: bool,
    #[serde(default)]
    error_user_msg: Option<String>,
    #[serde(default)]
    error_user_title: Option<String>,
}

#[derive(Deserialize)]
struct JobCreated {
    report_run_id: String,
}

#[derive(Deserialize)]
struct JobStatus {
    async_status: String,
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    error_message: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    data: Vec<Row>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    next: Option<String>,
}

/// One element of `actions` / `action_values`: `value` under the account's default
/// attribution, and with `action_attribution_windows` one key per requested window
/// (`"7d_click": "35"`), absent when that window attributed nothing.
#[derive(Deserialize)]
struct ActionStat {
    action_type: String,
    value: String,
    #[serde(flatten)]
    windows: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct Row {
    date_start: String,
    date_stop: String,
    account_id: Option<String>,
    account_currency: Option<String>,
    campaign_id: Option<String>,
    campaign_name: Option<String>,
    adset_id: Option<String>,
    adset_name: Option<String>,
    ad_id: Option<String>,
    ad_name: Option<String>,
    spend: Option<String>,
    impressions: Option<String>,
    clicks: Option<String>,
    reach: Option<String>,
    frequency: Option<String>,
    cpm: Option<String>,
    cpc: Option<String>,
    ctr: Option<String>,
    actions: Option<Vec<ActionStat>>,
    action_values: Option<Vec<ActionStat>>,
    age: Option<String>,
    gender: Option<String>,
    country: Option<String>,
    region: Option<String>,
    publisher_platform: Option<String>,
    platform_position: Option<String>,
    device_platform: Option<String>,
    impression_device: Option<String>,
}

impl Row {
    fn breakdown(&self, name: &str) -> Option<&str> {
        match name {
            "age" => self.age.as_deref(),
            "gender" => self.gender.as_deref(),
            "country" => self.country.as_deref(),
            "region" => self.region.as_deref(),
            "publisher_platform" => self.publisher_platform.as_deref(),
            "platform_position" => self.platform_position.as_deref(),
            "device_platform" => self.device_platform.as_deref(),
            "impression_device" => self.impression_device.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsecret_proof_matches_a_known_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn overlapping_purchase_types_are_counted_once() {
        let c = MetaAdsBuilder::new()
            .with_access_token("tok-123456")
            .with_ad_account_ids(["act_1"])
            .build()
            .unwrap();
        let row: Row = serde_json::from_str(
            r#"{"date_start":"2024-01-01","date_stop":"2024-01-01","actions":[
                {"action_type":"link_click","value":"9"},{"action_type":"add_to_cart","value":"12"},
                {"action_type":"offsite_conversion.fb_pixel_purchase","value":"4"},{"action_type":"omni_purchase","value":"4"}],
               "action_values":[{"action_type":"offsite_conversion.fb_pixel_purchase","value":"120.50"},{"action_type":"omni_purchase","value":"120.50"}]}"#,
        )
        .unwrap();
        assert_eq!(c.inner.conversions(&row).unwrap(), (4.0, 120.5));
        let only_omni: Row = serde_json::from_str(
            r#"{"date_start":"2024-01-01","date_stop":"2024-01-01","actions":[{"action_type":"omni_purchase","value":"3"}]}"#,
        )
        .unwrap();
        assert_eq!(c.inner.conversions(&only_omni).unwrap(), (3.0, 0.0));
    }

    #[test]
    fn too_much_data_is_read_from_the_subcode_the_user_message_or_the_data_limit() {
        let e = |v: serde_json::Value| serde_json::from_value::<GraphErrorBody>(v).unwrap().error;
        // The advice only in `error_user_msg`, `message` generic: still recognised.
        assert!(too_much_data(&e(serde_json::json!({ "error": {
            "message": "An unknown error occurred", "code": 1,
            "error_user_msg": "Please reduce the amount of data you're asking for, then retry your request" } }))));
        assert!(too_much_data(&e(serde_json::json!({ "error": {
            "message": "An unknown error occurred", "code": 1, "error_subcode": 99 } }))));
        assert!(too_much_data(&e(serde_json::json!({ "error": {
            "message": "(#100) too many rows", "code": 100, "error_subcode": 1487534 } }))));
        // A plain unknown error stays a transient one.
        assert!(!too_much_data(&e(serde_json::json!({ "error": {
            "message": "An unknown error occurred", "code": 1, "is_transient": true } }))));
    }

    #[test]
    fn a_next_link_is_asked_again_with_half_its_limit() {
        let (u, half) = with_halved_limit(
            "http://127.0.0.1:9/v25.0/act_1/insights?limit=25&after=QVFI&access_token=t",
            500,
        )
        .unwrap();
        assert_eq!(half, 12);
        assert!(
            u.contains("limit=12") && u.contains("after=QVFI") && !u.contains("limit=25"),
            "{u}"
        );
        assert_eq!(
            with_halved_limit("http://127.0.0.1:9/x?after=1", 6)
                .unwrap()
                .1,
            3
        );
        assert!(with_halved_limit("http://127.0.0.1:9/x?limit=1&after=1", 500).is_none());
        assert!(with_halved_limit("not a url", 500).is_none());
        assert_eq!(
            parse_range_token(&range_token(d("2024-01-01"), d("2024-01-31"), None)),
            Some((d("2024-01-01"), d("2024-01-31"), None))
        );
        assert_eq!(
            parse_range_token(&range_token(d("2024-01-01"), d("2024-01-01"), Some(62))),
            Some((d("2024-01-01"), d("2024-01-01"), Some(62)))
        );
        assert_eq!(
            parse_range_token("liftos-range:2024-01-01..2024-01-01@x"),
            None
        );
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn builder_rejects_bad_accounts_and_missing_token() {
        let err = MetaAdsBuilder::new()
            .with_ad_account_ids(["1"])
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("LIFTOS_META_ACCESS_TOKEN"),
            "{err}"
        );
        let err = MetaAdsBuilder::new()
            .with_access_token("t-12345")
            .with_ad_account_ids(["act_12x"])
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("act_12x"), "{err}");
    }
}
