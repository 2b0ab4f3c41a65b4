//! A declarative REST connector: a TOML spec turns a JSON API into a [`Connector`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::builder::HttpBuilderBase;
use crate::http::{
    HttpCore, Progress, PullBudget, Redactor, Reply, Verdict, base_str, check_link, config_error,
    date_chunks, display_url, paginate, validate_base_url,
};
use crate::keys::split_list;
use crate::oauth::RefreshFlow;
use crate::{Connector, ConnectorRequest, Error, RecordBatchStream, Result};

const SOURCE: &str = "rest";

/// A declarative REST connector: a TOML spec turns a JSON API into a [`Connector`].
///
/// The spec says where the API is, how to authenticate (bearer token, API key header or
/// query parameter, OAuth2 refresh token), how one request is written (path, query,
/// headers, an optional JSON body, `{start}` / `{end}` / `{account}` placeholders, at most
/// `max_days` per request, one series of requests per account), how pages follow each
/// other (cursor, next link, offset, page number), where the records are, which fields to
/// keep with which type, how errors reported inside a 200 body look, and how fast to go.
/// Secrets are never written in the spec: it names the variables that hold them.
///
/// ```toml
/// name = "shop_api"
/// base_url = "https://api.example.com"
///
/// [auth]
/// type = "bearer"
/// secret_env = "SHOP_API_TOKEN"
///
/// [request]
/// path = "/v1/orders"
/// params = { from = "{start}", to = "{end}" }
/// max_days = 31
///
/// [pagination]
/// type = "cursor"
/// param = "cursor"
/// cursor_path = "meta.next_cursor"
///
/// [records]
/// path = "data"
///
/// [[fields]]
/// name = "date"
/// path = "created_on"
/// type = "date"
///
/// [[fields]]
/// name = "revenue"
/// path = "totals.net"
/// type = "float"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestSpec {
    /// The source's name (the default channel and mapping name).
    pub name: String,
    /// The API's origin and base path (`https://api.example.com`); http only on loopback.
    pub base_url: String,
    /// How requests authenticate.
    #[serde(default)]
    pub auth: RestAuth,
    /// How one request is written.
    pub request: RestRequest,
    /// How pages follow each other.
    #[serde(default)]
    pub pagination: RestPagination,
    /// Where the records are in a page.
    pub records: RestRecords,
    /// Errors an API reports inside a 2xx body.
    pub errors: Option<RestBodyErrors>,
    /// Request pacing.
    pub rate_limit: Option<RestRateLimit>,
    /// The output columns, in order.
    pub fields: Vec<RestField>,
}

/// `[auth]`: every secret comes from the variable the spec names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RestAuth {
    /// No credential.
    #[default]
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer {
        /// The variable holding the token.
        secret_env: String,
    },
    /// A header such as `X-API-Key: <prefix><secret>`.
    Header {
        /// Header name.
        name: String,
        /// Text before the secret (`"Klaviyo-API-Key "`).
        #[serde(default)]
        prefix: String,
        /// The variable holding the key.
        secret_env: String,
    },
    /// A query parameter (`?api_key=<secret>`); it is redacted from every error.
    Query {
        /// Parameter name.
        param: String,
        /// The variable holding the key.
        secret_env: String,
    },
    /// OAuth2 refresh-token flow: a bearer token obtained from `token_url` before the
    /// first request and again once after a 401.
    Oauth2Refresh {
        /// Token endpoint (any origin; only the refresh grant goes there).
        token_url: String,
        /// The variable holding the client id.
        client_id_env: String,
        /// The variable holding the client secret.
        client_secret_env: String,
        /// The variable holding the refresh token.
        refresh_token_env: String,
    },
}

/// The HTTP method of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RestMethod {
    /// GET (the default).
    #[default]
    Get,
    /// POST with the JSON `body` (a read-only query endpoint, such as a report search).
    Post,
}

/// `[request]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestRequest {
    /// GET or POST.
    #[serde(default)]
    pub method: RestMethod,
    /// Path after the base URL; placeholders allowed.
    pub path: String,
    /// Query parameters; placeholders allowed in values.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Extra headers (not secrets); placeholders allowed in values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body of a POST; placeholders allowed in its strings.
    pub body: Option<Value>,
    /// Accounts to request one by one (`{account}`).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// A variable holding comma-separated accounts (used when `accounts` is empty).
    pub accounts_env: Option<String>,
    /// Most days one request may cover (default: the whole range at once).
    pub max_days: Option<u32>,
    /// chrono format of `{start}` / `{end}` (default `%Y-%m-%d`).
    pub date_format: Option<String>,
    /// A `date` field whose days are checked against the days requested (those of the
    /// request that produced the page, a `max_days` chunk): a record outside them is a
    /// decode error naming the page, the record and the field, as the built-in
    /// connectors report theirs, unless `outside_range` says `drop`.
    pub date_field: Option<String>,
    /// What a record dated outside the requested days is (needs `date_field`):
    /// `error` (the default) or `drop`, for an API that answers whole periods (a week, a
    /// month) whatever days are asked: such records are left out, counted in a warning.
    pub outside_range: Option<RestOutsideRange>,
}

/// `request.outside_range`: what a record dated outside the requested days is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestOutsideRange {
    /// A decode error naming the page, the record and the date field (the default).
    #[default]
    Error,
    /// Left out, counted in a logged warning: for APIs that answer whole periods.
    Drop,
}

/// `[pagination]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RestPagination {
    /// One page per request.
    #[default]
    None,
    /// The page names the cursor of the next one (`meta.next_cursor`), sent back as
    /// `param`; no cursor (null, empty) ends the listing.
    Cursor {
        /// Query parameter carrying the cursor.
        param: String,
        /// Where the next cursor is in a page.
        cursor_path: String,
        /// Page size parameter and value, if the API takes one.
        #[serde(default)]
        size_param: Option<String>,
        /// Rows per page asked for.
        #[serde(default)]
        size: Option<u64>,
    },
    /// The page holds the full URL of the next one (`links.next`); it must have the
    /// API's origin.
    NextLink {
        /// Where the next URL is in a page.
        next_path: String,
        /// Page size parameter and value of the first request, if any.
        #[serde(default)]
        size_param: Option<String>,
        /// Rows per page asked for.
        #[serde(default)]
        size: Option<u64>,
    },
    /// `param` = rows skipped, `size_param` = rows per page; a short page ends the
    /// listing (or `total_path`, when given: a page without it is an error, a `null`
    /// there ends the listing).
    Offset {
        /// Offset parameter.
        param: String,
        /// Page size parameter.
        size_param: String,
        /// Rows per page.
        size: u64,
        /// Where the total row count is, if the API reports it.
        #[serde(default)]
        total_path: Option<String>,
    },
    /// `param` = page number from `start`; `total_pages_path` (when given) says how many
    /// pages there are (a page without it is an error, a `null` there counts as 0),
    /// else an empty or short page ends the listing.
    PageNumber {
        /// Page number parameter.
        param: String,
        /// Number of the first page (default 1).
        #[serde(default = "one")]
        start: u64,
        /// Page size parameter, if the API takes one.
        #[serde(default)]
        size_param: Option<String>,
        /// Rows per page asked for.
        #[serde(default)]
        size: Option<u64>,
        /// Where the page count is, if the API reports it.
        #[serde(default)]
        total_pages_path: Option<String>,
    },
}

fn one() -> u64 {
    1
}

/// `[records]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestRecords {
    /// Dotted path of the record array in a page (`data.list`; empty: the page itself).
    /// A page without it is an error naming the page and the path; only an explicit
    /// `null` or `[]` there means no records.
    pub path: String,
}

/// `[errors]`: an API that answers errors with HTTP 200 and a code in the body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestBodyErrors {
    /// Dotted path of the code (`code`).
    pub code_path: String,
    /// Codes that mean success.
    pub ok: Vec<Value>,
    /// Codes worth retrying (throttling, transient errors).
    #[serde(default)]
    pub retry: Vec<Value>,
    /// Codes that mean the credentials or permissions were refused.
    #[serde(default)]
    pub auth: Vec<Value>,
    /// Dotted path of the message (`message`).
    pub message_path: Option<String>,
}

/// `[rate_limit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestRateLimit {
    /// Requests per second at most (requests are spaced by its inverse), at least one a
    /// day (`1/86400`). A spacing that would end past the pull's deadline is not waited
    /// out: the pull fails at once with [`Error::Deadline`] naming this key.
    pub requests_per_second: f64,
}

impl RestRateLimit {
    /// The least time between two requests, `1 / requests_per_second`; an error for a
    /// rate that is no number, ≤ 0, or slower than one request a day (`1e-300` would
    /// space requests by 10^300 s).
    fn interval(&self) -> std::result::Result<Duration, String> {
        let rps = self.requests_per_second;
        Some(rps)
            .filter(|r| r.is_finite() && *r >= 1.0 / 86_400.0)
            .and_then(|r| Duration::try_from_secs_f64(1.0 / r).ok())
            .ok_or_else(|| {
                format!(
                    "rate_limit.requests_per_second = {rps:?} must be a number ≥ 1/86400 (one request a day)"
                )
            })
    }
}

/// The type of an output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestFieldType {
    /// Utf8 (numbers are written as text).
    String,
    /// Int64 (whole numbers, or text holding one).
    Int,
    /// Float64 (numbers, or text holding one).
    Float,
    /// Date32 (text in `format`, default `%Y-%m-%d`; a date-time keeps its day).
    Date,
    /// Boolean.
    Bool,
}

/// `[[fields]]`: one output column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestField {
    /// Column name.
    pub name: String,
    /// Dotted path in a record (`metrics.spend`), or
    pub path: Option<String>,
    /// a value for every row, with placeholders (`{account}`).
    pub value: Option<String>,
    /// Column type.
    #[serde(rename = "type")]
    pub kind: RestFieldType,
    /// chrono format of a date (`%Y-%m-%d %H:%M:%S`).
    pub format: Option<String>,
    /// A record without it fails the pull (default: null).
    #[serde(default)]
    pub required: bool,
}

impl RestSpec {
    /// Parses a spec; `origin` (a file name) names it in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the file, the key and the line, or what is inconsistent.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let spec: RestSpec = toml::from_str(text)
            .map_err(|e| config_error(SOURCE, &format!("{origin}: {}", e.to_string().trim())))?;
        spec.validate()
            .map_err(|m| config_error(SOURCE, &format!("{origin}: {m}")))?;
        Ok(spec)
    }

    /// Reads and parses a spec file.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the file (unreadable, not TOML, inconsistent).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| {
            config_error(
                SOURCE,
                &format!("{}: cannot read the spec: {e}", path.display()),
            )
        })?;
        if meta.len() > 1 << 20 {
            return Err(config_error(
                SOURCE,
                &format!("{}: a spec larger than 1 MiB is refused", path.display()),
            ));
        }
        // Bounded even when the length says nothing (a device, a pipe).
        let text = liftos_core::fs::read_to_string_limited(path, 1 << 20).map_err(|e| {
            config_error(
                SOURCE,
                &format!("{}: cannot read the spec: {e}", path.display()),
            )
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(format!(
                "`name` = `{}` must be letters, digits, `_` or `-`",
                self.name
            ));
        }
        if self.fields.is_empty() {
            return Err("add at least one [[fields]] entry".into());
        }
        let mut seen = std::collections::HashSet::new();
        for (i, f) in self.fields.iter().enumerate() {
            if !seen.insert(f.name.as_str()) {
                return Err(format!("fields[{i}]: `{}` is defined twice", f.name));
            }
            match (&f.path, &f.value) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(format!(
                        "fields[{i}] (`{}`): give `path` or `value`, one of them",
                        f.name
                    ));
                }
                _ => {}
            }
            if f.format.is_some() && f.kind != RestFieldType::Date {
                return Err(format!(
                    "fields[{i}] (`{}`): `format` applies to date fields only",
                    f.name
                ));
            }
        }
        if let Some(d) = &self.request.date_field {
            let ok = self
                .fields
                .iter()
                .any(|f| &f.name == d && f.kind == RestFieldType::Date);
            if !ok {
                return Err(format!(
                    "request.date_field `{d}` is not a field of type date"
                ));
            }
        }
        if self.request.outside_range.is_some() && self.request.date_field.is_none() {
            return Err(
                "request.outside_range needs request.date_field (the date field whose days are checked)"
                    .into(),
            );
        }
        if self.request.max_days == Some(0) {
            return Err("request.max_days must be at least 1".into());
        }
        if let Some(r) = &self.rate_limit {
            r.interval()?;
        }
        if let RestPagination::Offset { size, .. } = self.pagination
            && size == 0
        {
            return Err("pagination.size must be at least 1".into());
        }
        if self.request.method == RestMethod::Get && self.request.body.is_some() {
            return Err("request.body needs method = \"POST\"".into());
        }
        let mut texts: Vec<&str> = vec![self.request.path.as_str()];
        texts.extend(self.request.params.values().map(String::as_str));
        texts.extend(self.request.headers.values().map(String::as_str));
        texts.extend(self.fields.iter().filter_map(|f| f.value.as_deref()));
        let mut body_strings = Vec::new();
        if let Some(b) = &self.request.body {
            strings_of(b, &mut body_strings);
        }
        texts.extend(body_strings.iter().map(String::as_str));
        for t in texts {
            check_placeholders(t)?;
        }
        Ok(())
    }

    fn uses_account(&self) -> bool {
        let mut body = Vec::new();
        if let Some(b) = &self.request.body {
            strings_of(b, &mut body);
        }
        std::iter::once(self.request.path.as_str())
            .chain(self.request.params.values().map(String::as_str))
            .chain(self.request.headers.values().map(String::as_str))
            .chain(self.fields.iter().filter_map(|f| f.value.as_deref()))
            .chain(body.iter().map(String::as_str))
            .any(|t| t.contains("{account}"))
    }

    /// The variables the spec reads secrets from.
    pub fn secret_variables(&self) -> Vec<&str> {
        match &self.auth {
            RestAuth::None => Vec::new(),
            RestAuth::Bearer { secret_env }
            | RestAuth::Header { secret_env, .. }
            | RestAuth::Query { secret_env, .. } => vec![secret_env.as_str()],
            RestAuth::Oauth2Refresh {
                client_id_env,
                client_secret_env,
                refresh_token_env,
                ..
            } => vec![
                client_id_env.as_str(),
                client_secret_env.as_str(),
                refresh_token_env.as_str(),
            ],
        }
    }
}

fn strings_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings_of(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings_of(x, out)),
        _ => {}
    }
}

const PLACEHOLDERS: [&str; 3] = ["start", "end", "account"];

/// Every `{...}` in `t` is a known placeholder; `{{` and `}}` write braces.
fn check_placeholders(t: &str) -> std::result::Result<(), String> {
    let mut rest = t.replace("{{", "").replace("}}", "");
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("`{t}`: `{{` without `}}`"));
        };
        let name = &rest[open + 1..open + close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "`{t}`: unknown placeholder `{{{name}}}` (start, end, account)"
            ));
        }
        rest = rest[open + close + 1..].to_owned();
    }
    Ok(())
}

/// The values of one request's placeholders.
struct Context<'a> {
    start: String,
    end: String,
    account: &'a str,
}

impl Context<'_> {
    fn fill(&self, t: &str) -> String {
        t.replace("{{", "\u{0}")
            .replace("}}", "\u{1}")
            .replace("{start}", &self.start)
            .replace("{end}", &self.end)
            .replace("{account}", self.account)
            .replace('\u{0}', "{")
            .replace('\u{1}', "}")
    }
    fn fill_json(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.fill(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.fill_json(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.fill_json(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// A dotted path (`data.list`, `items.0.id`) in `v`; empty: `v` itself.
fn at_path<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(v);
    }
    path.split('.').try_fold(v, |cur, key| match cur {
        Value::Object(o) => o.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Reads a variable by name.
type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Builder of a [`RestConnector`] from a [`RestSpec`].
pub struct RestBuilder {
    spec: RestSpec,
    base_url: Option<String>,
    lookup: EnvLookup,
    base: HttpBuilderBase,
}

impl std::fmt::Debug for RestBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestBuilder")
            .field("spec", &self.spec.name)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl RestBuilder {
    /// A builder reading the spec's variables from the process environment.
    pub fn new(spec: RestSpec) -> Self {
        Self {
            spec,
            base_url: None,
            lookup: Box::new(|k| std::env::var(k).ok()),
            base: HttpBuilderBase::default(),
        }
    }
    liftos_core::setters! {
        /// Reads the spec's variables through `lookup` instead of the environment.
        with_env(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static)
            => Box::new(lookup);
        /// Replaces the spec's `base_url` (tests, proxies).
        with_base_url(url: impl Into<String>) => self.base_url = Some(url.into());
    }
    crate::builder::http_builder_setters!();

    /// Reads the secrets and accounts, checks the URLs, and builds the connector.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming a missing variable or a bad URL.
    pub fn build(self) -> Result<RestConnector> {
        let spec = self.spec;
        let name = spec.name.clone();
        let var = |v: &str, what: &str| -> Result<SecretString> {
            (self.lookup)(v)
                .filter(|s| !s.trim().is_empty())
                .map(SecretString::from)
                .ok_or_else(|| config_error(SOURCE, &format!("{name}: missing {what}: set {v}")))
        };
        let redactor = Redactor::default();
        let auth = match &spec.auth {
            RestAuth::None => Auth::None,
            RestAuth::Bearer { secret_env } => Auth::Bearer(var(secret_env, "the token")?),
            RestAuth::Header {
                name: header,
                prefix,
                secret_env,
            } => {
                reqwest::header::HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                    config_error(SOURCE, &format!("{name}: `{header}` is not a header name"))
                })?;
                Auth::Header(header.clone(), prefix.clone(), var(secret_env, "the key")?)
            }
            RestAuth::Query { param, secret_env } => {
                Auth::Query(param.clone(), var(secret_env, "the key")?)
            }
            RestAuth::Oauth2Refresh {
                token_url,
                client_id_env,
                client_secret_env,
                refresh_token_env,
            } => Auth::Refresh(RefreshFlow::new(
                validate_base_url(SOURCE, token_url)?.to_string(),
                var(client_id_env, "the OAuth client id")?,
                var(client_secret_env, "the OAuth client secret")?,
                var(refresh_token_env, "the OAuth refresh token")?,
                format!("{client_id_env} and {client_secret_env}"),
                refresh_token_env.clone(),
            )),
        };
        for s in auth.secrets() {
            redactor.add(s);
        }
        let mut accounts = spec.request.accounts.clone();
        if accounts.is_empty()
            && let Some(v) = &spec.request.accounts_env
            && let Some(text) = (self.lookup)(v)
        {
            accounts = split_list(&text);
        }
        if spec.uses_account() && accounts.is_empty() {
            let hint = spec
                .request
                .accounts_env
                .as_deref()
                .map_or("list them in request.accounts".to_owned(), |v| {
                    format!("set {v}")
                });
            return Err(config_error(
                SOURCE,
                &format!("{name}: the request uses {{account}} but no account is given: {hint}"),
            ));
        }
        if accounts.is_empty() {
            accounts.push(String::new());
        }
        let raw_base = self.base_url.as_deref().unwrap_or(&spec.base_url);
        let base = validate_base_url(SOURCE, raw_base)?;
        let base_text = base_str(&base);
        let interval = spec
            .rate_limit
            .as_ref()
            .map(|r| r.interval())
            .transpose()
            .map_err(|m| config_error(SOURCE, &format!("{name}: {m}")))?;
        let schema = Arc::new(Schema::new(
            spec.fields
                .iter()
                .map(|f| {
                    let ty = match f.kind {
                        RestFieldType::String => DataType::Utf8,
                        RestFieldType::Int => DataType::Int64,
                        RestFieldType::Float => DataType::Float64,
                        RestFieldType::Date => DataType::Date32,
                        RestFieldType::Bool => DataType::Boolean,
                    };
                    Field::new(&f.name, ty, !f.required)
                })
                .collect::<Vec<_>>(),
        ));
        let core = self.base.into_core(SOURCE, redactor)?;
        Ok(RestConnector {
            inner: Arc::new(Inner {
                core,
                spec,
                auth,
                accounts,
                base,
                base_text,
                schema,
                interval,
                last_request: tokio::sync::Mutex::new(None),
            }),
        })
    }
}

enum Auth {
    None,
    Bearer(SecretString),
    Header(String, String, SecretString),
    Query(String, SecretString),
    Refresh(RefreshFlow),
}

impl Auth {
    fn secrets(&self) -> Vec<&SecretString> {
        match self {
            Auth::None => Vec::new(),
            Auth::Bearer(s) | Auth::Header(_, _, s) | Auth::Query(_, s) => vec![s],
            Auth::Refresh(flow) => flow.secrets().to_vec(),
        }
    }
}

struct Inner {
    core: HttpCore,
    spec: RestSpec,
    auth: Auth,
    accounts: Vec<String>,
    base: url::Url,
    base_text: String,
    schema: SchemaRef,
    interval: Option<Duration>,
    last_request: tokio::sync::Mutex<Option<Duration>>,
}

/// A [`Connector`] over any JSON API, described by a [`RestSpec`].
///
/// One series of requests per account and date chunk (`max_days`), each paged as the
/// spec says; every page becomes one record batch of the spec's fields. Next links must
/// keep the API's origin; a cursor or link that repeats fails as a loop; pages are
/// bounded by [`RetryConfig::page_bound`](crate::RetryConfig::page_bound).
#[derive(Clone)]
pub struct RestConnector {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RestConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.inner;
        f.debug_struct("RestConnector")
            .field("name", &i.spec.name)
            .field("base_url", &i.base_text)
            .field("auth", &"[REDACTED]")
            .field("accounts", &i.accounts)
            .field("core", &i.core)
            .finish()
    }
}

impl RestConnector {
    /// A builder for `spec`.
    pub fn builder(spec: RestSpec) -> RestBuilder {
        RestBuilder::new(spec)
    }
    /// The progress counters.
    pub fn progress(&self) -> &Progress {
        &self.inner.core.progress
    }
}

/// Where the next page is.
enum Next {
    Token(String),
    Url(url::Url),
}

impl Inner {
    /// Waits for the spec's rate limit; a wait that would end past the pull's deadline
    /// is the deadline error at once.
    async fn pace(&self, budget: &PullBudget) -> Result<()> {
        let Some(interval) = self.interval else {
            return Ok(());
        };
        let mut last = self.last_request.lock().await;
        let now = self.core.clock.now();
        if let Some(prev) = *last {
            let due = prev.saturating_add(interval);
            if due > now {
                let rps = self.spec.rate_limit.as_ref().map(|r| r.requests_per_second);
                self.core
                    .sleep_within_deadline(budget, due - now, || {
                        format!(
                            "rate limit (rate_limit.requests_per_second = {}): spacing the next request",
                            rps.unwrap_or_default()
                        )
                    })
                    .await?;
            }
        }
        *last = Some(self.core.clock.now());
        Ok(())
    }

    /// One page: the URL to get (first page of a chunk, or a next link) with the
    /// pagination parameters, authenticated, refreshing an OAuth token once on a 401.
    async fn page(
        &self,
        budget: &PullBudget,
        ctx: &Context<'_>,
        next: Option<&Next>,
    ) -> Result<Value> {
        let r = &self.spec.request;
        let mut url = match next {
            Some(Next::Url(u)) => u.clone(),
            _ => {
                let path = ctx.fill(&r.path);
                let mut u = url::Url::parse(&format!(
                    "{}/{}",
                    self.base_text,
                    path.trim_start_matches('/')
                ))
                .map_err(|e| config_error(SOURCE, &format!("request.path: {e}")))?;
                {
                    let mut q = u.query_pairs_mut();
                    for (k, v) in &r.params {
                        q.append_pair(k, &ctx.fill(v));
                    }
                    let token = match next {
                        Some(Next::Token(t)) => Some(t.as_str()),
                        _ => None,
                    };
                    match &self.spec.pagination {
                        RestPagination::None => {}
                        RestPagination::Cursor {
                            param,
                            size_param,
                            size,
                            ..
                        } => {
                            if let (Some(p), Some(s)) = (size_param, size) {
                                q.append_pair(p, &s.to_string());
                            }
                            if let Some(t) = token {
                                q.append_pair(param, t);
                            }
                        }
                        RestPagination::NextLink {
                            size_param, size, ..
                        } => {
                            if let (Some(p), Some(s)) = (size_param, size) {
                                q.append_pair(p, &s.to_string());
                            }
                        }
                        RestPagination::Offset {
                            param,
                            size_param,
                            size,
                            ..
                        } => {
                            q.append_pair(param, token.unwrap_or("0"));
                            q.append_pair(size_param, &size.to_string());
                        }
                        RestPagination::PageNumber {
                            param,
                            start,
                            size_param,
                            size,
                            ..
                        } => {
                            let first = start.to_string();
                            q.append_pair(param, token.unwrap_or(&first));
                            if let (Some(p), Some(s)) = (size_param, size) {
                                q.append_pair(p, &s.to_string());
                            }
                        }
                    }
                }
                u
            }
        };
        if let Auth::Query(param, secret) = &self.auth {
            // A next link may carry the key already (some APIs echo it).
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != param.as_str())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair(param, secret.expose_secret());
        }
        let body = r.body.as_ref().map(|b| ctx.fill_json(b).to_string());
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), ctx.fill(v)))
            .collect();
        let mut refreshed = false;
        let mut rejected: Option<SecretString> = None;
        loop {
            let bearer = match &self.auth {
                Auth::Refresh(flow) => Some(
                    flow.access_token(&self.core, budget, rejected.as_ref())
                        .await?,
                ),
                _ => None,
            };
            self.pace(budget).await?;
            let client = self.core.client();
            let result = self
                .core
                .execute(
                    budget,
                    || {
                        let mut rb = match r.method {
                            RestMethod::Get => client.get(url.clone()),
                            RestMethod::Post => client.post(url.clone()),
                        };
                        for (k, v) in &headers {
                            rb = rb.header(k.as_str(), v.as_str());
                        }
                        rb = match &self.auth {
                            Auth::Bearer(t) => rb.bearer_auth(t.expose_secret()),
                            Auth::Header(name, prefix, t) => {
                                rb.header(name.as_str(), format!("{prefix}{}", t.expose_secret()))
                            }
                            _ => rb,
                        };
                        if let Some(t) = &bearer {
                            rb = rb.bearer_auth(t.expose_secret());
                        }
                        if let Some(b) = &body {
                            rb = rb
                                .header("content-type", "application/json")
                                .body(b.clone());
                        }
                        rb
                    },
                    |reply| self.classify(reply),
                )
                .await;
            match result {
                Err(Error::Auth { .. }) if !refreshed && bearer.is_some() => {
                    tracing::info!(source = SOURCE, "401: refreshing the OAuth token once");
                    refreshed = true;
                    rejected = bearer;
                }
                Err(e) => return Err(e),
                Ok(reply) => {
                    return serde_json::from_slice(&reply.body).map_err(|e| Error::Decode {
                        source_name: SOURCE.into(),
                        path: display_url(&self.core.redactor, url.as_str()),
                        message: format!("the page is not JSON: {e}"),
                    });
                }
            }
        }
    }

    fn classify(&self, r: &Reply) -> Verdict {
        let name = &self.spec.name;
        if r.status == 429 || r.status >= 500 {
            return Verdict::Retry {
                after: r.retry_after(),
                reason: format!("HTTP {}: {}", r.status, r.snippet(&self.core.redactor)),
            };
        }
        if r.status == 401 || r.status == 403 {
            let vars = self.spec.secret_variables().join(", ");
            return Verdict::Fail(Error::Auth {
                source_name: SOURCE.into(),
                message: format!(
                    "{name}: HTTP {} {}; check the credentials ({vars})",
                    r.status,
                    r.snippet(&self.core.redactor)
                ),
            });
        }
        if !(200..300).contains(&r.status) {
            return Verdict::Fail(Error::Http {
                source_name: SOURCE.into(),
                status: r.status,
                body: format!("{name}: {}", r.snippet(&self.core.redactor)),
            });
        }
        let Some(errors) = &self.spec.errors else {
            return Verdict::Ok { pause: None };
        };
        let Ok(v) = serde_json::from_slice::<Value>(&r.body) else {
            // Not JSON: reported by the page decoder with its URL.
            return Verdict::Ok { pause: None };
        };
        let code = at_path(&v, &errors.code_path)
            .cloned()
            .unwrap_or(Value::Null);
        let same = |list: &[Value]| list.iter().any(|c| codes_equal(c, &code));
        if same(&errors.ok) {
            return Verdict::Ok { pause: None };
        }
        let message = errors
            .message_path
            .as_deref()
            .and_then(|p| at_path(&v, p))
            .map(|m| match m {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        let message = self.core.redactor.excerpt(&message);
        let code_text = self.core.redactor.excerpt(&code.to_string());
        if same(&errors.retry) {
            return Verdict::Retry {
                after: None,
                reason: format!("code {code_text}: {message}"),
            };
        }
        if same(&errors.auth) {
            let vars = self.spec.secret_variables().join(", ");
            return Verdict::Fail(Error::Auth {
                source_name: SOURCE.into(),
                message: format!(
                    "{name}: code {code_text}: {message}; check the credentials and their scopes ({vars})"
                ),
            });
        }
        Verdict::Fail(Error::Http {
            source_name: SOURCE.into(),
            status: r.status,
            body: format!("{name}: code {code_text}: {message}"),
        })
    }

    /// The records of a page and where the next page is.
    fn split_page(
        &self,
        page: &Value,
        token: Option<&str>,
        n_page: u64,
    ) -> Result<(Vec<Value>, Option<Next>)> {
        let path = &self.spec.records.path;
        let absent = |p: &str| Error::Decode {
            source_name: SOURCE.into(),
            path: format!("page {n_page}: {p}"),
            message: format!(
                "`{p}` is not in the page (a malformed or error answer; an empty listing is `null` or `[]` there)"
            ),
        };
        let records = match at_path(page, path) {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Null) if !path.is_empty() => Vec::new(),
            None => return Err(absent(path)),
            _ => {
                return Err(Error::Decode {
                    source_name: SOURCE.into(),
                    path: format!("page {n_page}: {path}"),
                    message: "the records are not a JSON array".into(),
                });
            }
        };
        let n = records.len() as u64;
        let text_at = |p: &str| -> Option<String> {
            match at_path(page, p)? {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(x) => Some(x.to_string()),
                _ => None,
            }
        };
        // A configured count absent from the page is an error (a malformed page must not
        // end the listing); an explicit `null` is no count.
        let number_at = |p: &str| -> Result<Option<u64>> {
            match at_path(page, p) {
                None => Err(absent(p)),
                Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .map(Some)
                    .ok_or_else(|| Error::Decode {
                        source_name: SOURCE.into(),
                        path: format!("page {n_page}: {p}"),
                        message: format!("expected a whole number, got {v}"),
                    }),
            }
        };
        let next = match &self.spec.pagination {
            RestPagination::None => None,
            RestPagination::Cursor { cursor_path, .. } => text_at(cursor_path).map(Next::Token),
            RestPagination::NextLink { next_path, .. } => match text_at(next_path) {
                None => None,
                Some(link) => {
                    let joined = self.base.join(&link).map(|u| u.to_string()).unwrap_or(link);
                    Some(Next::Url(check_link(
                        SOURCE, next_path, &self.base, &joined,
                    )?))
                }
            },
            RestPagination::Offset {
                size, total_path, ..
            } => {
                let offset: u64 = token.and_then(|t| t.parse().ok()).unwrap_or(0);
                let after = offset + n;
                let more = match total_path {
                    Some(p) => number_at(p)?.is_some_and(|total| after < total) && n > 0,
                    None => n >= *size,
                };
                more.then(|| Next::Token(after.to_string()))
            }
            RestPagination::PageNumber {
                start,
                size,
                total_pages_path,
                ..
            } => {
                let current: u64 = token.and_then(|t| t.parse().ok()).unwrap_or(*start);
                let more = match total_pages_path {
                    Some(p) => {
                        let total = number_at(p)?.unwrap_or(0);
                        // Pages counted from `start`: the last is start + total - 1.
                        current + 1 < start + total
                    }
                    None => n > 0 && size.is_none_or(|s| n >= s),
                };
                more.then(|| Next::Token((current + 1).to_string()))
            }
        };
        Ok((records, next))
    }

    fn to_batch(
        &self,
        records: &[Value],
        ctx: &Context<'_>,
        range: (NaiveDate, NaiveDate),
        n_page: u64,
    ) -> Result<RecordBatch> {
        let fields = &self.spec.fields;
        let dec = |i: usize, f: &RestField, message: String| Error::Decode {
            source_name: SOURCE.into(),
            path: format!(
                "{}: page {n_page}: {}[{i}].{}",
                self.spec.name,
                if self.spec.records.path.is_empty() {
                    "records"
                } else {
                    &self.spec.records.path
                },
                f.path.as_deref().unwrap_or(&f.name)
            ),
            message,
        };
        let mut columns: Vec<Vec<Cell>> = vec![Vec::with_capacity(records.len()); fields.len()];
        let date_col = self
            .spec
            .request
            .date_field
            .as_ref()
            .and_then(|d| fields.iter().position(|f| &f.name == d));
        let (lo, hi) = (
            Date32Type::from_naive_date(range.0),
            Date32Type::from_naive_date(range.1),
        );
        let drop_outside = self.spec.request.outside_range == Some(RestOutsideRange::Drop);
        let mut outside = 0usize;
        'records: for (i, rec) in records.iter().enumerate() {
            let mut row = Vec::with_capacity(fields.len());
            for f in fields {
                let raw = match (&f.path, &f.value) {
                    (_, Some(v)) => Some(Value::String(ctx.fill(v))),
                    (Some(p), None) => at_path(rec, p).filter(|v| !v.is_null()).cloned(),
                    (None, None) => None,
                };
                let cell = convert(raw.as_ref(), f).map_err(|m| dec(i, f, m))?;
                if f.required && matches!(cell, Cell::Null) {
                    return Err(dec(i, f, "required, missing".into()));
                }
                row.push(cell);
            }
            if let Some(c) = date_col
                && let Cell::Date(d) = row[c]
                && (d < lo || d > hi)
            {
                if !drop_outside {
                    return Err(dec(
                        i,
                        &fields[c],
                        format!(
                            "{} is outside the requested days {}..={}; if the API answers whole periods whatever days are asked, set request.outside_range = \"drop\" to keep only the requested days",
                            Date32Type::to_naive_date_opt(d)
                                .map_or_else(|| format!("day {d}"), |day| day.to_string()),
                            range.0,
                            range.1
                        ),
                    ));
                }
                outside += 1;
                continue 'records;
            }
            for (k, cell) in row.into_iter().enumerate() {
                columns[k].push(cell);
            }
        }
        if outside > 0 {
            tracing::warn!(
                source = SOURCE,
                name = %self.spec.name,
                page = n_page,
                rows = outside,
                "records outside the requested days dropped"
            );
        }
        let arrays: Vec<ArrayRef> = fields
            .iter()
            .zip(columns)
            .map(|(f, cells)| -> ArrayRef {
                // The cells of `$variant` as an `$array`; any other cell is null.
                macro_rules! column {
                    ($array:ty, $variant:ident) => {
                        Arc::new(<$array>::from_iter(cells.into_iter().map(|c| match c {
                            Cell::$variant(x) => Some(x),
                            _ => None,
                        })))
                    };
                }
                match f.kind {
                    RestFieldType::String => column!(StringArray, Text),
                    RestFieldType::Int => column!(Int64Array, Int),
                    RestFieldType::Float => column!(Float64Array, Float),
                    RestFieldType::Date => column!(Date32Array, Date),
                    RestFieldType::Bool => column!(BooleanArray, Bool),
                }
            })
            .collect();
        Ok(RecordBatch::try_new(self.schema.clone(), arrays)?)
    }
}

fn codes_equal(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text(a) == text(b)
}

#[derive(Clone)]
enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Date(i32),
    Bool(bool),
}

/// One value as the field's type: numbers may come as text (`"12.5"`); `""` and `"-"`
/// are null; whole numbers only for ints; finite numbers only.
fn convert(v: Option<&Value>, f: &RestField) -> std::result::Result<Cell, String> {
    let Some(v) = v else {
        return Ok(Cell::Null);
    };
    let text = match v {
        Value::String(s) => Some(s.trim().to_owned()),
        _ => None,
    };
    if text.as_deref().is_some_and(|t| t.is_empty() || t == "-") && f.kind != RestFieldType::String
    {
        return Ok(Cell::Null);
    }
    let number = || -> std::result::Result<f64, String> {
        let x = match v {
            Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number"))?,
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("`{s}` is not a number"))?,
            other => return Err(format!("expected a number, got {other}")),
        };
        if x.is_finite() {
            Ok(x)
        } else {
            Err(format!("{v} is not a finite number"))
        }
    };
    Ok(match f.kind {
        RestFieldType::String => Cell::Text(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        RestFieldType::Float => Cell::Float(number()?),
        RestFieldType::Int => {
            if let Value::Number(n) = v
                && let Some(i) = n.as_i64()
            {
                Cell::Int(i)
            } else if let Some(i) = text.as_deref().and_then(|t| t.parse::<i64>().ok()) {
                Cell::Int(i)
            } else {
                let x = number()?;
                if x.fract() != 0.0 || x.abs() >= 9.0e15 {
                    return Err(format!("{v} is not a whole number"));
                }
                Cell::Int(x as i64)
            }
        }
        RestFieldType::Date => {
            let s = text.ok_or_else(|| format!("expected a date as text, got {v}"))?;
            let format = f.format.as_deref().unwrap_or("%Y-%m-%d");
            let day = NaiveDate::parse_from_str(&s, format)
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(&s, format).map(|t| t.date()))
                .map_err(|e| format!("`{s}` is not a date in `{format}`: {e}"))?;
            Cell::Date(Date32Type::from_naive_date(day))
        }
        RestFieldType::Bool => match v {
            Value::Bool(b) => Cell::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Cell::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Cell::Bool(false),
            other => return Err(format!("expected true or false, got {other}")),
        },
    })
}

#[async_trait::async_trait]
impl Connector for RestConnector {
    fn name(&self) -> &str {
        &self.inner.spec.name
    }

    fn schema(&self, _request: &ConnectorRequest) -> Result<SchemaRef> {
        Ok(self.inner.schema.clone())
    }

    async fn check(&self) -> Result<()> {
        let inner = &self.inner;
        let budget = inner.core.budget();
        let today = chrono::Utc::now().date_naive();
        let format = inner
            .spec
            .request
            .date_format
            .as_deref()
            .unwrap_or("%Y-%m-%d");
        let ctx = Context {
            start: today.format(format).to_string(),
            end: today.format(format).to_string(),
            account: inner.accounts.first().map_or("", String::as_str),
        };
        inner.core.checked(inner.page(&budget, &ctx, None)).await
    }

    fn read(&self, request: &ConnectorRequest) -> Result<RecordBatchStream> {
        let inner = self.inner.clone();
        let budget = inner.core.budget();
        let chunk_days = inner
            .spec
            .request
            .max_days
            .unwrap_or_else(|| u32::try_from(request.days()).unwrap_or(u32::MAX));
        let chunks = date_chunks(request.start(), request.end(), chunk_days);
        let mut tasks = Vec::new();
        for a in &inner.accounts {
            for c in &chunks {
                tasks.push((a.clone(), *c));
            }
        }
        let redactor = inner.core.redactor.clone();
        let stream = futures::stream::iter(tasks)
            .map(move |(account, (start, end))| {
                let inner = inner.clone();
                let budget = budget.clone();
                let days = u64::try_from((end - start).num_days() + 1).unwrap_or(1);
                let bound = inner.core.config.page_bound(days);
                let redactor = inner.core.redactor.clone();
                let n_page = Arc::new(std::sync::atomic::AtomicU64::new(0));
                paginate(SOURCE, bound, redactor, move |token: Option<String>| {
                    let inner = inner.clone();
                    let budget = budget.clone();
                    let account = account.clone();
                    let n_page = n_page.clone();
                    async move {
                        let format = inner
                            .spec
                            .request
                            .date_format
                            .clone()
                            .unwrap_or_else(|| "%Y-%m-%d".into());
                        let ctx = Context {
                            start: start.format(&format).to_string(),
                            end: end.format(&format).to_string(),
                            account: &account,
                        };
                        let k = n_page.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        let next = match (&inner.spec.pagination, &token) {
                            (_, None) => None,
                            (RestPagination::NextLink { .. }, Some(t)) => {
                                Some(Next::Url(check_link(SOURCE, "next link", &inner.base, t)?))
                            }
                            (_, Some(t)) => Some(Next::Token(t.clone())),
                        };
                        let page = inner.page(&budget, &ctx, next.as_ref()).await?;
                        let (records, following) = inner.split_page(&page, token.as_deref(), k)?;
                        let batch = inner.to_batch(&records, &ctx, (start, end), k)?;
                        inner.core.progress.page(batch.num_rows());
                        let token = following.map(|n| match n {
                            Next::Token(t) => t,
                            Next::Url(u) => u.to_string(),
                        });
                        Ok((batch, token))
                    }
                })
            })
            .flatten()
            .map(move |r| r.map_err(|e| redactor.scrub(e)));
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
name = "demo"
base_url = "https://api.example.com"
[auth]
type = "bearer"
secret_env = "DEMO_TOKEN"
[request]
path = "/v1/{account}/rows"
params = { from = "{start}", to = "{end}" }
accounts_env = "DEMO_ACCOUNTS"
[pagination]
type = "offset"
param = "offset"
size_param = "limit"
size = 2
[records]
path = "data"
[[fields]]
name = "day"
path = "d"
type = "date"
[[fields]]
name = "n"
path = "x.n"
type = "int"
"#;

    #[test]
    fn a_spec_parses_and_mistakes_are_named() {
        let s = RestSpec::from_toml_str(SPEC, "demo.toml").unwrap();
        assert_eq!(s.fields.len(), 2);
        let bad = SPEC.replace("type = \"offset\"", "type = \"scroll\"");
        let e = RestSpec::from_toml_str(&bad, "demo.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("demo.toml") && e.contains("scroll"), "{e}");
        let bad = SPEC.replace("{account}", "{acount}");
        let e = RestSpec::from_toml_str(&bad, "demo.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown placeholder `{acount}`"), "{e}");
        let bad = SPEC.replace("secret_env = \"DEMO_TOKEN\"", "token = \"abc\"");
        let e = RestSpec::from_toml_str(&bad, "demo.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("token"), "{e}");
        let bad = SPEC.replace("path = \"x.n\"", "path = \"x.n\"\nvalue = \"1\"");
        assert!(RestSpec::from_toml_str(&bad, "d.toml").is_err());
    }

    #[test]
    fn building_needs_the_variables_it_names() {
        let s = RestSpec::from_toml_str(SPEC, "demo.toml").unwrap();
        let e = RestBuilder::new(s.clone())
            .with_env(|_| None)
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("DEMO_TOKEN"), "{e}");
        let e = RestBuilder::new(s.clone())
            .with_env(|k| (k == "DEMO_TOKEN").then(|| "t0k3n-SECRET".to_owned()))
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("DEMO_ACCOUNTS"), "{e}");
        let c = RestBuilder::new(s)
            .with_env(|k| match k {
                "DEMO_TOKEN" => Some("t0k3n-SECRET".into()),
                "DEMO_ACCOUNTS" => Some("a, b".into()),
                _ => None,
            })
            .build()
            .unwrap();
        assert_eq!(c.inner.accounts, ["a", "b"]);
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn values_convert_strictly() {
        let f = |kind, format: Option<&str>| RestField {
            name: "x".into(),
            path: Some("x".into()),
            value: None,
            kind,
            format: format.map(Into::into),
            required: false,
        };
        let s = |x: &str| Value::String(x.into());
        assert!(matches!(
            convert(Some(&s("12")), &f(RestFieldType::Int, None)),
            Ok(Cell::Int(12))
        ));
        assert!(convert(Some(&s("1.5")), &f(RestFieldType::Int, None)).is_err());
        assert!(matches!(
            convert(Some(&s("-")), &f(RestFieldType::Float, None)),
            Ok(Cell::Null)
        ));
        assert!(convert(Some(&s("NaN")), &f(RestFieldType::Float, None)).is_err());
        assert!(matches!(
            convert(
                Some(&s("2024-02-03 00:00:00")),
                &f(RestFieldType::Date, Some("%Y-%m-%d %H:%M:%S"))
            ),
            Ok(Cell::Date(_))
        ));
        assert!(convert(Some(&s("03/02/2024")), &f(RestFieldType::Date, None)).is_err());
        assert_eq!(
            at_path(&serde_json::json!({"a": [{"b": 3}]}), "a.0.b"),
            Some(&serde_json::json!(3))
        );
    }
}
