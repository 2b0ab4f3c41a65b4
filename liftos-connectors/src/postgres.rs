//! PostgreSQL: a SQL query as a source of record batches ([`PostgresConnector`]) and a
//! sink that replaces tables atomically ([`PostgresSink`]).
//!
//! # Connection and secrets
//!
//! The target is a `postgres://user[:password]@host[:port]/db[?sslmode=...]` URL (or a
//! libpq `key=value` string). The password comes from a variable: the URL in
//! `LIFTOS_POSTGRES_URL` may hold it, or [`PostgresBuilder::with_password`] sets it (the
//! facade reads it from the variable its config names with `password_env`). The URL and
//! the password are `SecretString`s: `Debug` and errors show the connection rebuilt from
//! its parsed settings (user, hosts, ports, database, `sslmode`), never the text itself
//! nor the password (a text that does not parse is shown as a fixed placeholder), and
//! every error has the password redacted in its literal and percent-/form-encoded forms
//! (the HTTP connectors' redactor).
//!
//! TLS: a loopback host (`localhost`, `127.0.0.0/8`, `::1`) or a unix socket may be
//! reached over plain TCP; any other host is reached only over TLS (rustls with ring, the
//! platform's trust store, `sslmode` forced to `require`; `sslmode=disable` is refused).
//! `sslrootcert=PATH` (libpq's parameter; a PEM file) verifies the server against that CA
//! instead of the platform's trust store, and asks for TLS on loopback too.
//!
//! # Types
//!
//! | PostgreSQL | Arrow |
//! |---|---|
//! | `date` | `Date32` |
//! | `int2`, `int4`, `int8` | `Int64` |
//! | `float4`, `float8` | `Float64` |
//! | `numeric` | `Float64`, rounded to the nearest double (about 15–17 significant digits); `NaN`, `±Infinity` kept |
//! | `text`, `varchar`, `bpchar`, `name` | `Utf8` |
//! | `bool` | `Boolean` |
//! | `timestamp` | `Timestamp(Microsecond, None)`: wall-clock time as stored, no zone |
//! | `timestamptz` | `Timestamp(Microsecond, "UTC")`: the instant |
//!
//! Any other column type is refused with one error naming the column (cast it in the
//! query). A column read straight from a table is nullable unless the table declares it
//! `NOT NULL`; a computed column is nullable.
//!
//! The sink writes the inverse mapping (`Int8`…`Int64` and `UInt8`…`UInt64` as `int8` (a `UInt64` past `i64::MAX` is an error),
//! `Float16/32/64` as `float8`, strings and string dictionaries as `text`, timestamps of
//! any unit as `timestamp`/`timestamptz` in microseconds); a non-nullable field becomes
//! `NOT NULL`.

use std::collections::HashMap;
use std::convert::identity;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, Row, Statement};

use crate::http::Redactor;
use crate::{Connector, ConnectorRequest, Error, RecordBatchStream, Result};

/// The variable `from_env` reads the connection URL from.
pub const POSTGRES_URL_VARIABLE: &str = "LIFTOS_POSTGRES_URL";

/// Rows per record batch when none is set.
pub const POSTGRES_DEFAULT_BATCH_ROWS: usize = 8192;

const SOURCE: &str = "postgres";

/// Builder of a [`PostgresConnector`] (a query) or a [`PostgresSink`].
///
/// | Name | Default | Meaning |
/// |---|---|---|
/// | `url` | `LIFTOS_POSTGRES_URL` with [`from_env`](Self::from_env) | connection URL (may hold the password) |
/// | `password` | the URL's | password, overrides the URL's |
/// | `query` | — (required for a source) | SQL; `$1` / `$2` are the request's first and last day (`date`) |
/// | `batch_rows` | 8192 | rows per record batch (≥ 1): the most rows held at once |
/// | `connect_timeout` | 10 s | TCP connect and login |
/// | `schema` | the search path's | sink: schema of the written tables |
/// | `table_prefix` | none | sink: prefix of the written tables' names |
/// | `name` | `postgres` | the source's name |
#[derive(Default)]
pub struct PostgresBuilder {
    url: Option<SecretString>,
    password: Option<SecretString>,
    query: Option<String>,
    batch_rows: Option<usize>,
    connect_timeout: Option<Duration>,
    schema: Option<String>,
    table_prefix: Option<String>,
    name: Option<String>,
    env_error: Option<String>,
}

impl fmt::Debug for PostgresBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBuilder")
            .field(
                "url",
                &self.url.as_ref().map(|u| redact_url(u.expose_secret())),
            )
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("query", &self.query)
            .field("batch_rows", &self.batch_rows)
            .field("schema", &self.schema)
            .field("table_prefix", &self.table_prefix)
            .finish_non_exhaustive()
    }
}

impl PostgresBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder with the URL from `LIFTOS_POSTGRES_URL`.
    pub fn from_env() -> Self {
        Self::from_env_with(|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) with variables from `lookup`.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut b = Self::new();
        if let Some(url) = lookup(POSTGRES_URL_VARIABLE).filter(|u| !u.trim().is_empty()) {
            b.url = Some(SecretString::from(url.trim().to_owned()));
        } else {
            b.env_error = Some(format!("set {POSTGRES_URL_VARIABLE}"));
        }
        b
    }

    /// Sets the connection URL (it may hold the password: it is kept as a secret).
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(SecretString::from(url.into()));
        self.env_error = None;
        self
    }

    liftos_core::setters! {
        /// Sets the password (overrides one in the URL).
        with_password(password: SecretString) => Some(password);
        /// Sets the query of a source.
        with_query(query: impl Into<String>) => Some(query.into());
        /// Sets the rows per record batch.
        with_batch_rows(batch_rows: usize) => Some(batch_rows);
        /// Sets the connect timeout.
        with_connect_timeout(connect_timeout: Duration) => Some(connect_timeout);
        /// Sets the schema the sink writes into.
        with_schema(schema: impl Into<String>) => Some(schema.into());
        /// Sets the prefix of the sink's table names.
        with_table_prefix(table_prefix: impl Into<String>) => Some(table_prefix.into());
        /// Sets the source's name (default `postgres`).
        with_name(name: impl Into<String>) => Some(name.into());
    }

    fn target(&self) -> Result<Target> {
        let url = self.url.as_ref().ok_or_else(|| {
            config(
                self.env_error
                    .clone()
                    .unwrap_or_else(|| format!("no connection URL: set {POSTGRES_URL_VARIABLE}")),
            )
        })?;
        Target::new(
            url,
            self.password.as_ref(),
            self.connect_timeout.unwrap_or(Duration::from_secs(10)),
        )
    }

    /// A source running the query.
    ///
    /// # Errors
    ///
    /// [`Error::Config`]: no URL or query, a malformed URL, `sslmode=disable` for a
    /// non-loopback host, `batch_rows` of 0.
    pub fn build(self) -> Result<PostgresConnector> {
        let target = self.target()?;
        let query = self
            .query
            .clone()
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| config("a PostgreSQL source needs a query".into()))?;
        let batch_rows = self.batch_rows.unwrap_or(POSTGRES_DEFAULT_BATCH_ROWS);
        if batch_rows == 0 || batch_rows > i32::MAX as usize {
            return Err(config(format!(
                "batch_rows must be between 1 and {}",
                i32::MAX
            )));
        }
        Ok(PostgresConnector {
            name: self.name.unwrap_or_else(|| SOURCE.to_owned()),
            target: Arc::new(target),
            query: Arc::from(query),
            batch_rows,
            schema: Arc::new(OnceLock::new()),
        })
    }

    /// A sink writing tables into the database.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), without the query; a schema or prefix that is not an
    /// identifier.
    pub fn build_sink(self) -> Result<PostgresSink> {
        let target = self.target()?;
        let prefix = self.table_prefix.clone().unwrap_or_default();
        if !prefix.is_empty() && !is_identifier(&prefix) {
            return Err(config(format!(
                "table_prefix `{prefix}` must be letters, digits and `_`, starting with a letter or `_`"
            )));
        }
        if let Some(s) = &self.schema
            && !is_identifier(s)
        {
            return Err(config(format!(
                "schema `{s}` must be letters, digits and `_`, starting with a letter or `_`"
            )));
        }
        Ok(PostgresSink {
            target,
            schema: self.schema,
            table_prefix: prefix,
        })
    }
}

fn config(message: String) -> Error {
    Error::Config {
        source_name: SOURCE.to_owned(),
        message,
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

/// How a connection text is shown in messages and `Debug`.
///
/// Built from the parsed settings (user, hosts, ports, database, `sslmode`), never from
/// the text itself, so no spelling of the password (spaces around `=`, quotes, a raw `/`
/// or `?` in a URL) can leak; a text that does not parse is shown as `(the connection text, not shown)`.
pub fn redact_url(url: &str) -> String {
    let (text, _) = take_root_cert(url.trim());
    match parse_target(&text) {
        Ok(c) => shown(&c),
        Err(_) => NOT_SHOWN.to_owned(),
    }
}

/// What messages and `Debug` show for a connection text that does not parse.
const NOT_SHOWN: &str = "(the connection text, not shown)";

/// The connection text parsed; an error that quotes none of it.
fn parse_target(text: &str) -> std::result::Result<tokio_postgres::Config, String> {
    let config: tokio_postgres::Config = text.parse().map_err(|e: tokio_postgres::Error| {
        // The parser quotes an unknown key or an unexpected character between backticks:
        // input, so not shown (the names in `invalid value for option `port`` are its own).
        let message = e.to_string();
        if message.contains("invalid value for option") {
            message
        } else {
            unquote(&message)
        }
    })?;
    let at_in_host = config
        .get_hosts()
        .iter()
        .any(|h| matches!(h, Host::Tcp(name) if name.contains('@')));
    if at_in_host {
        // `postgres://u:pa@ss@host`: the parser took `ss@host` for the host.
        return Err("a host holds `@` (write an `@` in the password as `%40`)".into());
    }
    Ok(config)
}

/// `message` with each backtick-quoted part replaced by `…`.
fn unquote(message: &str) -> String {
    message
        .split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
        .collect::<Vec<_>>()
        .join("`")
}

/// `postgres://user@host:port,host2/db?sslmode=…` from the parsed settings, without the
/// password.
fn shown(config: &tokio_postgres::Config) -> String {
    let mut out = String::from("postgres://");
    if let Some(user) = config.get_user() {
        out.push_str(user);
        out.push('@');
    }
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            let port = ports.get(i).or(if ports.len() == 1 {
                ports.first()
            } else {
                None
            });
            match port {
                Some(p) => format!("{name}:{p}"),
                None => name,
            }
        })
        .collect();
    out.push_str(&hosts.join(","));
    if let Some(db) = config.get_dbname() {
        out.push('/');
        out.push_str(db);
    }
    let mode = match config.get_ssl_mode() {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        _ => "other",
    };
    out.push_str("?sslmode=");
    out.push_str(mode);
    out
}

/// The URL without its `sslrootcert=PATH` parameter (libpq's name; tokio-postgres does
/// not read it), and that path.
fn take_root_cert(url: &str) -> (String, Option<std::path::PathBuf>) {
    let Some((head, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut root = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some(("sslrootcert", v)) => {
                let v: String = url::form_urlencoded::parse(format!("x={v}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                root = Some(std::path::PathBuf::from(v));
                false
            }
            _ => true,
        })
        .collect();
    let url = if kept.is_empty() {
        head.to_owned()
    } else {
        format!("{head}?{}", kept.join("&"))
    };
    (url, root)
}

/// The certificates of a PEM file as a root store; an unreadable file or one without a
/// certificate is one error naming it.
fn root_store(path: &std::path::Path) -> Result<rustls::RootCertStore> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bad = |why: String| config(format!("sslrootcert `{}`: {why}", path.display()));
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        store.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(store)
}

/// Whether the URL carries a password (a config file's URL must not).
pub fn url_has_password(url: &str) -> bool {
    let (text, _) = take_root_cert(url.trim());
    match parse_target(&text) {
        Ok(c) => c.get_password().is_some_and(|p| !p.is_empty()),
        // Unparsed: anything that looks like a password counts as one.
        Err(_) => {
            text.to_ascii_lowercase().contains("password")
                || text
                    .split_once("://")
                    .and_then(|(_, rest)| rest.rsplit_once('@'))
                    .is_some_and(|(creds, _)| creds.contains(':'))
        }
    }
}

/// A parsed, validated connection target.
struct Target {
    config: tokio_postgres::Config,
    tls: bool,
    /// `sslrootcert`: the CA (PEM) that signs the server's certificate, instead of the
    /// platform's trust store.
    root_cert: Option<std::path::PathBuf>,
    shown: String,
    redactor: Redactor,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.shown)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Target {
    fn new(
        url: &SecretString,
        password: Option<&SecretString>,
        connect_timeout: Duration,
    ) -> Result<Self> {
        let (text, root_cert) = take_root_cert(url.expose_secret().trim());
        let text = text.as_str();
        let redactor = Redactor::default();
        let mut config = parse_target(text)
            .map_err(|e| config(format!("{NOT_SHOWN} is not a PostgreSQL URL: {e}")))?;
        let shown = shown(&config);
        if let Some(p) = config.get_password() {
            redactor.add(&SecretString::from(String::from_utf8_lossy(p).into_owned()));
        }
        if let Some(p) = password {
            config.password(p.expose_secret());
            redactor.add(p);
        }
        let loopback = !config.get_hosts().is_empty()
            && config.get_hosts().iter().all(|h| match h {
                Host::Tcp(name) => {
                    name.eq_ignore_ascii_case("localhost")
                        || name
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .parse::<IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback())
                }
                Host::Unix(_) => true,
            })
            && config.get_hostaddrs().iter().all(IpAddr::is_loopback);
        if config.get_hosts().is_empty() {
            return Err(config_err(&shown, "names no host"));
        }
        let tls = if loopback && root_cert.is_none() {
            config.get_ssl_mode() == SslMode::Require
        } else {
            if config.get_ssl_mode() == SslMode::Disable {
                return Err(config_err(
                    &shown,
                    "sslmode=disable is refused for a host that is not loopback: the password and the data would cross the network in clear",
                ));
            }
            config.ssl_mode(SslMode::Require);
            true
        };
        config.connect_timeout(connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("liftos");
        }
        Ok(Target {
            config,
            tls,
            root_cert,
            shown,
            redactor,
        })
    }

    /// `text` with every secret, in any encoding, redacted (the HTTP core's redactor).
    fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// A database error as this crate's, naming the server, without any secret.
    fn error(&self, what: &str, e: &tokio_postgres::Error) -> Error {
        let mut message = e.to_string();
        if let Some(db) = e.as_db_error() {
            message = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                message.push_str(&format!(" ({d})"));
            }
            if let Some(h) = db.hint() {
                message.push_str(&format!("; hint: {h}"));
            }
            if db.code() == &tokio_postgres::error::SqlState::INVALID_PASSWORD
                || db.code()
                    == &tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                return Error::Auth {
                    source_name: SOURCE.to_owned(),
                    message: self.redact(&format!(
                        "{} ({})",
                        self.shown,
                        self.redactor.excerpt(&message)
                    )),
                };
            }
        } else if let Some(source) = std::error::Error::source(e) {
            message = format!("{e}: {source}");
        }
        // The server's words (message, detail, hint) are quoted as any answer is.
        let message = self.redactor.excerpt(&message);
        Error::Database {
            source_name: SOURCE.to_owned(),
            message: self.redact(&format!("{what} ({}): {message}", self.shown)),
        }
    }

    async fn connect(&self) -> Result<Client> {
        let (client, connection) = if self.tls {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| config(format!("TLS setup failed: {e}")))?;
            let tls = match &self.root_cert {
                Some(path) => builder.with_root_certificates(root_store(path)?),
                None => {
                    rustls_platform_verifier::BuilderVerifierExt::with_platform_verifier(builder)
                        .map_err(|e| config(format!("TLS setup failed: {e}")))?
                }
            }
            .with_no_client_auth();
            let (c, conn) = self
                .config
                .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
                .await
                .map_err(|e| self.error("connect", &e))?;
            let conn: futures::future::BoxFuture<'static, _> = Box::pin(conn);
            (c, conn)
        } else {
            let (c, conn) = self
                .config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| self.error("connect", &e))?;
            let conn: futures::future::BoxFuture<'static, _> = Box::pin(conn);
            (c, conn)
        };
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "postgres connection closed");
            }
        });
        Ok(client)
    }
}

fn config_err(shown: &str, what: &str) -> Error {
    config(format!("`{shown}` {what}"))
}

/// A SQL query as a [`Connector`]: its rows, `batch_rows` at a time (a portal in a
/// read-only transaction), as record batches. See the [module docs](self) for the types.
///
/// [`Connector::schema`] needs the query's columns: the first call prepares the query on
/// the server (on a helper thread with its own runtime, since `schema` is not async) and
/// the schema is remembered; [`Connector::check`] does the same asynchronously. `read`
/// does no I/O until its stream is first polled.
#[derive(Clone)]
pub struct PostgresConnector {
    name: String,
    target: Arc<Target>,
    query: Arc<str>,
    batch_rows: usize,
    schema: Arc<OnceLock<SchemaRef>>,
}

impl fmt::Debug for PostgresConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConnector")
            .field("name", &self.name)
            .field("target", &self.target)
            .field("query", &self.query)
            .field("batch_rows", &self.batch_rows)
            .finish()
    }
}

/// One column's Arrow type, from its PostgreSQL type.
fn arrow_type(column: &str, ty: &Type) -> Result<DataType> {
    Ok(match *ty {
        Type::DATE => DataType::Date32,
        Type::INT2 | Type::INT4 | Type::INT8 => DataType::Int64,
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => DataType::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DataType::Utf8,
        Type::BOOL => DataType::Boolean,
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => {
            return Err(Error::Database {
                source_name: SOURCE.to_owned(),
                message: format!(
                    "column `{column}` has type `{}`, which LiftOS does not read (date, int2/4/8, float4/8, numeric, text, varchar, bool, timestamp, timestamptz); cast it in the query, e.g. `{column}::text`",
                    ty.name()
                ),
            });
        }
    })
}

/// The parameters bound to `$1` and `$2`.
const PARAM_TYPES: [Type; 2] = [Type::DATE, Type::DATE];

impl PostgresConnector {
    /// The query's statement (its parameters typed `date`, as many as it uses).
    async fn prepare(
        &self,
        client: &Client,
        in_tx: Option<&tokio_postgres::Transaction<'_>>,
    ) -> Result<Statement> {
        let uses = |n: &str| self.query.contains(n);
        let types: &[Type] = if uses("$2") {
            &PARAM_TYPES
        } else if uses("$1") {
            &PARAM_TYPES[..1]
        } else {
            &[]
        };
        let prepared = match in_tx {
            Some(tx) => tx.prepare_typed(&self.query, types).await,
            None => client.prepare_typed(&self.query, types).await,
        };
        prepared.map_err(|e| self.target.error("query", &e))
    }

    /// The schema of `statement`: types mapped, nullability from the tables' `NOT NULL`.
    async fn describe(&self, client: &Client, statement: &Statement) -> Result<SchemaRef> {
        let tables: Vec<u32> = statement
            .columns()
            .iter()
            .filter_map(|c| c.table_oid())
            .filter(|o| *o != 0)
            .collect();
        let mut not_null: HashMap<(u32, i16), bool> = HashMap::new();
        if !tables.is_empty() {
            let rows = client
                .query(
                    "SELECT attrelid::int8, attnum, attnotnull FROM pg_catalog.pg_attribute WHERE attrelid::int8 = ANY($1)",
                    &[&tables.iter().map(|t| i64::from(*t)).collect::<Vec<i64>>()],
                )
                .await
                .map_err(|e| self.target.error("describe", &e))?;
            for r in rows {
                let rel: i64 = r
                    .try_get(0)
                    .map_err(|e| self.target.error("describe", &e))?;
                let num: i16 = r
                    .try_get(1)
                    .map_err(|e| self.target.error("describe", &e))?;
                let nn: bool = r
                    .try_get(2)
                    .map_err(|e| self.target.error("describe", &e))?;
                if let Ok(rel) = u32::try_from(rel) {
                    not_null.insert((rel, num), nn);
                }
            }
        }
        let fields = statement
            .columns()
            .iter()
            .map(|c| {
                let key = c.table_oid().zip(c.column_id());
                let nullable = !key.and_then(|k| not_null.get(&k)).copied().unwrap_or(false);
                Ok(Field::new(
                    c.name(),
                    arrow_type(c.name(), c.type_())?,
                    nullable,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(Schema::new(fields)))
    }

    async fn describe_now(&self) -> Result<SchemaRef> {
        if let Some(s) = self.schema.get() {
            return Ok(s.clone());
        }
        let client = self.target.connect().await?;
        let statement = self.prepare(&client, None).await?;
        let schema = self.describe(&client, &statement).await?;
        Ok(self.schema.get_or_init(|| schema).clone())
    }

    /// The query's output schema, asking the server once (a connection on a helper
    /// thread, since [`Connector::schema`] is not async) and remembering it.
    fn describe_blocking(&self) -> Result<SchemaRef> {
        if let Some(s) = self.schema.get() {
            return Ok(s.clone());
        }
        let this = self.clone();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| config(format!("could not start a runtime: {e}")))?;
                    runtime.block_on(this.describe_now())
                })
                .join()
                .unwrap_or_else(|_| Err(config("describing the query failed".into())))
        })
    }

    async fn pull(
        self,
        request: ConnectorRequest,
        tx_out: tokio::sync::mpsc::Sender<Result<RecordBatch>>,
    ) -> Result<()> {
        let mut client = self.target.connect().await?;
        let transaction = client
            .build_transaction()
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.target.error("begin", &e))?;
        let statement = self
            .prepare(transaction.client(), Some(&transaction))
            .await?;
        let schema = match self.schema.get() {
            Some(s) => s.clone(),
            None => {
                let s = self.describe(transaction.client(), &statement).await?;
                self.schema.get_or_init(|| s).clone()
            }
        };
        // The schema promised by `schema()` may come from an earlier connection: the
        // query's columns must still be the same names and types.
        let columns = statement.columns();
        let same = columns.len() == schema.fields().len()
            && columns.iter().zip(schema.fields()).all(|(c, f)| {
                c.name() == f.name()
                    && arrow_type(c.name(), c.type_()).is_ok_and(|t| &t == f.data_type())
            });
        if !same {
            return Err(Error::Database {
                source_name: SOURCE.to_owned(),
                message: "the query's columns changed since its schema was read (a table was altered during the pull); run it again".to_owned(),
            });
        }
        let (start, end) = (request.start(), request.end());
        let params: Vec<&(dyn ToSql + Sync)> = vec![&start, &end];
        let params = &params[..statement.params().len()];
        let portal = transaction
            .bind(&statement, params)
            .await
            .map_err(|e| self.target.error("query", &e))?;
        let max_rows = i32::try_from(self.batch_rows).unwrap_or(i32::MAX);
        loop {
            let rows = transaction
                .query_portal(&portal, max_rows)
                .await
                .map_err(|e| self.target.error("fetch", &e))?;
            let done = rows.len() < self.batch_rows;
            if !rows.is_empty() {
                let batch = rows_to_batch(&schema, &rows)?;
                drop(rows);
                if tx_out.send(Ok(batch)).await.is_err() {
                    // The reader went away: stop (the transaction rolls back).
                    return Ok(());
                }
            }
            if done {
                break;
            }
        }
        transaction
            .commit()
            .await
            .map_err(|e| self.target.error("commit", &e))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Connector for PostgresConnector {
    fn name(&self) -> &str {
        &self.name
    }

    fn schema(&self, _request: &ConnectorRequest) -> Result<SchemaRef> {
        self.describe_blocking()
    }

    async fn check(&self) -> Result<()> {
        self.describe_now().await.map(|_| ())
    }

    fn read(&self, request: &ConnectorRequest) -> Result<RecordBatchStream> {
        enum State {
            Start(Box<PostgresConnector>, ConnectorRequest),
            Running(tokio::sync::mpsc::Receiver<Result<RecordBatch>>),
            Done,
        }
        let state = State::Start(Box::new(self.clone()), request.clone());
        Ok(Box::pin(futures::stream::unfold(
            state,
            |state| async move {
                let mut rx = match state {
                    State::Done => return None,
                    State::Running(rx) => rx,
                    State::Start(this, request) => {
                        // At most one batch waits in the channel while the next is read.
                        let (tx, rx) = tokio::sync::mpsc::channel(1);
                        tokio::spawn(async move {
                            let errors = tx.clone();
                            if let Err(e) = this.pull(request, tx).await {
                                let _ = errors.send(Err(e)).await;
                            }
                        });
                        rx
                    }
                };
                match rx.recv().await {
                    Some(Ok(batch)) => Some((Ok(batch), State::Running(rx))),
                    Some(Err(e)) => Some((Err(e), State::Done)),
                    None => None,
                }
            },
        )))
    }
}

/// A `numeric` read as the nearest `f64`.
struct Numeric(f64);

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let word =
            |i: usize| -> std::result::Result<u16, Box<dyn std::error::Error + Sync + Send>> {
                raw.get(i..i + 2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]))
                    .ok_or_else(|| "numeric value is truncated".into())
            };
        let ndigits = usize::from(word(0)?);
        let weight = i64::from(word(2)? as i16);
        let sign = word(4)?;
        match sign {
            0xC000 => return Ok(Numeric(f64::NAN)),
            0xD000 => return Ok(Numeric(f64::INFINITY)),
            0xF000 => return Ok(Numeric(f64::NEG_INFINITY)),
            _ => {}
        }
        let mut text = String::with_capacity(ndigits * 4 + 8);
        if sign == 0x4000 {
            text.push('-');
        }
        if ndigits == 0 {
            text.push('0');
        }
        for i in 0..ndigits {
            text.push_str(&format!("{:04}", word(8 + 2 * i)?));
        }
        let exponent = 4 * (weight - ndigits as i64 + 1);
        text.push_str(&format!("e{exponent}"));
        Ok(Numeric(text.parse::<f64>()?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// Rows of one portal fetch as a batch of `schema`.
fn rows_to_batch(schema: &SchemaRef, rows: &[Row]) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let ty = rows
            .first()
            .and_then(|r| r.columns().get(i))
            .map(|c| c.type_().clone());
        let c = Column {
            rows,
            i,
            name: field.name(),
        };
        let array: ArrayRef = match field.data_type() {
            DataType::Date32 => Arc::new(Date32Array::from(c.read(date32)?)),
            DataType::Int64 => Arc::new(Int64Array::from(match ty {
                Some(Type::INT2) => c.read::<i16, _>(i64::from)?,
                Some(Type::INT4) => c.read::<i32, _>(i64::from)?,
                _ => c.read::<i64, _>(identity)?,
            })),
            DataType::Float64 => Arc::new(Float64Array::from(match ty {
                Some(Type::FLOAT4) => c.read::<f32, _>(f64::from)?,
                Some(Type::NUMERIC) => c.read(|x: Numeric| x.0)?,
                _ => c.read::<f64, _>(identity)?,
            })),
            DataType::Utf8 => Arc::new(StringArray::from(c.read::<&str, _>(identity)?)),
            DataType::Boolean => Arc::new(BooleanArray::from(c.read::<bool, _>(identity)?)),
            DataType::Timestamp(_, None) => Arc::new(TimestampMicrosecondArray::from(
                c.read(|t: NaiveDateTime| t.and_utc().timestamp_micros())?,
            )),
            DataType::Timestamp(_, Some(tz)) => Arc::new(
                TimestampMicrosecondArray::from(c.read(|t: DateTime<Utc>| t.timestamp_micros())?)
                    .with_timezone(tz.clone()),
            ),
            other => {
                return Err(Error::Database {
                    source_name: SOURCE.to_owned(),
                    message: format!("column `{}`: no reader for {other}", field.name()),
                });
            }
        };
        columns.push(array);
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Column `i` (named `name`) of the rows of one portal fetch.
struct Column<'r> {
    rows: &'r [Row],
    i: usize,
    name: &'r str,
}

impl<'r> Column<'r> {
    /// Every row's value, read as a `T` (what the column's PostgreSQL type reads as) and
    /// turned into the Arrow column's value by `into`.
    fn read<T: FromSql<'r>, V>(&self, into: impl Fn(T) -> V) -> Result<Vec<Option<V>>> {
        self.rows
            .iter()
            .map(|r| {
                let v: Option<T> = r.try_get(self.i).map_err(|e| Error::Decode {
                    source_name: SOURCE.to_owned(),
                    path: self.name.to_owned(),
                    message: e.to_string(),
                })?;
                Ok(v.map(&into))
            })
            .collect()
    }
}

/// Days since 1970-01-01.
fn date32(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((d - epoch).num_days()).unwrap_or(i32::MAX)
}

fn date32_to_naive(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?
        .checked_add_signed(chrono::TimeDelta::days(i64::from(days)))
}

/// Writes tables into PostgreSQL: each table is created under a temporary name, filled
/// with binary `COPY`, and swapped for the previous one (`DROP` + `RENAME`), every table
/// of one [`write_tables`](Self::write_tables) call in one transaction. A reader sees
/// either the old tables or the new ones; a failure leaves the old ones.
#[derive(Debug)]
pub struct PostgresSink {
    target: Target,
    schema: Option<String>,
    table_prefix: String,
}

/// `name` as a quoted identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The column type the sink writes for `ty`, and the type the values are cast to first.
fn pg_type(column: &str, ty: &DataType) -> Result<(Type, DataType)> {
    Ok(match ty {
        DataType::Date32 => (Type::DATE, DataType::Date32),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => (Type::INT8, DataType::Int64),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            (Type::FLOAT8, DataType::Float64)
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => (Type::TEXT, DataType::Utf8),
        DataType::Dictionary(_, v)
            if matches!(
                **v,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            (Type::TEXT, DataType::Utf8)
        }
        DataType::Boolean => (Type::BOOL, DataType::Boolean),
        DataType::Timestamp(_, None) => (
            Type::TIMESTAMP,
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        DataType::Timestamp(_, Some(tz)) => (
            Type::TIMESTAMPTZ,
            DataType::Timestamp(TimeUnit::Microsecond, Some(tz.clone())),
        ),
        other => {
            return Err(Error::Database {
                source_name: SOURCE.to_owned(),
                message: format!(
                    "column `{column}` has Arrow type {other}, which the PostgreSQL sink does not write"
                ),
            });
        }
    })
}

impl PostgresSink {
    /// The qualified, quoted name of table `name` (with the prefix).
    pub fn table_name(&self, name: &str) -> String {
        let table = quote(&format!("{}{name}", self.table_prefix));
        match &self.schema {
            Some(s) => format!("{}.{table}", quote(s)),
            None => table,
        }
    }

    /// Writes one table (see [`write_tables`](Self::write_tables)).
    ///
    /// # Errors
    ///
    /// As [`write_tables`](Self::write_tables).
    pub async fn write_table(&self, name: &str, table: &RecordBatch) -> Result<u64> {
        self.write_tables(&[(name, table)]).await
    }

    /// Replaces each named table with its batch, all in one transaction; returns the
    /// rows written. Table names get the prefix and the schema; a name is at most 63
    /// bytes with the prefix.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] naming the table (and the server's message, without secrets)
    /// for a connection, `CREATE`, `COPY` or commit failure; a column type the sink does
    /// not write. Nothing is changed on error.
    pub async fn write_tables(&self, tables: &[(&str, &RecordBatch)]) -> Result<u64> {
        // Every type is checked before connecting.
        let mut plans = Vec::with_capacity(tables.len());
        for (name, batch) in tables {
            let full = format!("{}{name}", self.table_prefix);
            if full.is_empty() || full.len() > 50 {
                return Err(Error::Database {
                    source_name: SOURCE.to_owned(),
                    message: format!(
                        "table name `{full}` must be 1 to 50 bytes (PostgreSQL keeps 63, the sink needs room for a temporary suffix)"
                    ),
                });
            }
            let columns = batch
                .schema()
                .fields()
                .iter()
                .map(|f| pg_type(f.name(), f.data_type()))
                .collect::<Result<Vec<_>>>()?;
            plans.push((*name, full, *batch, columns));
        }
        let mut client = self.target.connect().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(|e| self.target.error("begin", &e))?;
        let mut total = 0;
        for (name, full, batch, columns) in plans {
            let fail = |what: &str, e: &tokio_postgres::Error| {
                self.target.error(&format!("{what} table {name}"), e)
            };
            let target = self.table_name(name);
            let staging_name = format!("{full}__liftos_new");
            let staging = match &self.schema {
                Some(s) => format!("{}.{}", quote(s), quote(&staging_name)),
                None => quote(&staging_name),
            };
            let definition = batch
                .schema()
                .fields()
                .iter()
                .zip(&columns)
                .map(|(f, (ty, _))| {
                    format!(
                        "{} {}{}",
                        quote(f.name()),
                        ty.name(),
                        if f.is_nullable() { "" } else { " NOT NULL" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            transaction
                .batch_execute(&format!(
                    "DROP TABLE IF EXISTS {staging}; CREATE TABLE {staging} ({definition})"
                ))
                .await
                .map_err(|e| fail("create", &e))?;
            let arrays = batch
                .columns()
                .iter()
                .zip(&columns)
                .map(|(a, (_, cast_to))| {
                    if a.data_type() == cast_to {
                        Ok(a.clone())
                    } else {
                        // Not `safe`: a UInt64 past i64::MAX is an error, not a null.
                        let options = arrow::compute::CastOptions {
                            safe: false,
                            ..Default::default()
                        };
                        arrow::compute::cast_with_options(a, cast_to, &options)
                    }
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let sink = transaction
                .copy_in::<_, bytes::Bytes>(&format!("COPY {staging} FROM STDIN (FORMAT binary)"))
                .await
                .map_err(|e| fail("copy into", &e))?;
            let types: Vec<Type> = columns.iter().map(|(t, _)| t.clone()).collect();
            let writer = BinaryCopyInWriter::new(sink, &types);
            futures::pin_mut!(writer);
            for row in 0..batch.num_rows() {
                let cells = arrays
                    .iter()
                    .map(|a| cell(a.as_ref(), row))
                    .collect::<Vec<Cell<'_>>>();
                let refs: Vec<&(dyn ToSql + Sync)> =
                    cells.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
                writer
                    .as_mut()
                    .write(&refs)
                    .await
                    .map_err(|e| fail("copy into", &e))?;
            }
            total += writer
                .as_mut()
                .finish()
                .await
                .map_err(|e| fail("copy into", &e))?;
            transaction
                .batch_execute(&format!(
                    "DROP TABLE IF EXISTS {target}; ALTER TABLE {staging} RENAME TO {}",
                    quote(&full)
                ))
                .await
                .map_err(|e| fail("replace", &e))?;
        }
        transaction
            .commit()
            .await
            .map_err(|e| self.target.error("commit", &e))?;
        Ok(total)
    }
}

/// One value of a row being copied.
#[derive(Debug)]
enum Cell<'a> {
    Null,
    Date(NaiveDate),
    Int(i64),
    Float(f64),
    Text(&'a str),
    Bool(bool),
    Timestamp(NaiveDateTime),
    TimestampTz(DateTime<Utc>),
}

fn cell(a: &dyn Array, row: usize) -> Cell<'_> {
    if a.is_null(row) {
        return Cell::Null;
    }
    let any = a.as_any();
    if let Some(x) = any.downcast_ref::<Date32Array>() {
        return date32_to_naive(x.value(row)).map_or(Cell::Null, Cell::Date);
    }
    if let Some(x) = any.downcast_ref::<Int64Array>() {
        return Cell::Int(x.value(row));
    }
    if let Some(x) = any.downcast_ref::<Float64Array>() {
        return Cell::Float(x.value(row));
    }
    if let Some(x) = any.downcast_ref::<StringArray>() {
        return Cell::Text(x.value(row));
    }
    if let Some(x) = any.downcast_ref::<BooleanArray>() {
        return Cell::Bool(x.value(row));
    }
    if let Some(x) = any.downcast_ref::<TimestampMicrosecondArray>() {
        let t = DateTime::<Utc>::from_timestamp_micros(x.value(row));
        return match (x.timezone(), t) {
            (_, None) => Cell::Null,
            (None, Some(t)) => Cell::Timestamp(t.naive_utc()),
            (Some(_), Some(t)) => Cell::TimestampTz(t),
        };
    }
    Cell::Null
}

impl ToSql for Cell<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        match self {
            Cell::Null => Ok(tokio_postgres::types::IsNull::Yes),
            Cell::Date(v) => v.to_sql(ty, out),
            Cell::Int(v) => v.to_sql(ty, out),
            Cell::Float(v) => v.to_sql(ty, out),
            Cell::Text(v) => v.to_sql(ty, out),
            Cell::Bool(v) => v.to_sql(ty, out),
            Cell::Timestamp(v) => v.to_sql(ty, out),
            Cell::TimestampTz(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_when_shown() {
        assert_eq!(
            redact_url("postgres://me:s3cret@db.example:5432/app?sslmode=require"),
            "postgres://me@db.example:5432/app?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://me@db/app"),
            "postgres://me@db:5432/app?sslmode=prefer"
        );
        assert_eq!(
            redact_url("host=db user=me password=s3cret"),
            "postgres://me@db?sslmode=prefer"
        );
        assert_eq!(redact_url("host=db password='unterminated"), NOT_SHOWN);
        assert!(url_has_password("postgres://me:s3cret@db/app"));
        assert!(url_has_password("host=db password = 'a b'"));
        assert!(!url_has_password("postgres://me@db/app"));
    }

    /// Each spelling of a password the parser accepts, and text it refuses: the password
    /// is in no `Debug` output and no error text.
    #[test]
    fn no_spelling_of_a_password_is_shown() {
        let build = |u: &str| {
            PostgresBuilder::new()
                .with_url(u)
                .with_query("SELECT 1")
                .build()
        };
        let cases = [
            (
                "host=db.example user=me password = hunter2 dbname=app",
                "hunter2",
            ),
            (
                "host=db.example user=me password='correct horse battery' dbname=app",
                "horse",
            ),
            ("postgres://u:s3cr/et?x@db.example.com/app", "s3cr"),
            ("postgres://u:s3cr/et?x@db.example.com/app", "et?x"),
            // Refused by the parser, or shown as the parser reads it.
            ("host=db.example password='hunter2 unterminated", "hunter2"),
            ("host=db.example hunter2x=1", "hunter2x"),
            ("postgres://u:pa@ss1x@db.example/app", "ss1x"),
        ];
        for (text, secret) in cases {
            let debug = format!(
                "{:?} {}",
                PostgresBuilder::new().with_url(text),
                redact_url(text)
            );
            assert!(!debug.contains(secret), "{text}: {debug}");
            match build(text) {
                Ok(c) => {
                    let debug = format!("{c:?}");
                    assert!(!debug.contains(secret), "{text}: {debug}");
                    assert!(debug.contains("db.example"), "{text}: {debug}");
                }
                Err(e) => {
                    let shown = format!("{e} {e:?}");
                    assert!(!shown.contains(secret), "{text}: {shown}");
                }
            }
            // Errors built from the connection text: sslmode=disable on a remote host.
            let e = build(&format!("{text} sslmode=disable"))
                .err()
                .or_else(|| build(&format!("{text}&sslmode=disable")).err())
                .or_else(|| build(&format!("{text}?sslmode=disable")).err())
                .unwrap();
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(secret), "{text}: {shown}");
        }
        // The three accepted spellings do parse (so the shown form is the parsed one).
        for text in [
            "host=db.example user=me password = hunter2 dbname=app",
            "host=db.example user=me password='correct horse battery' dbname=app",
            "postgres://u:s3cr/et?x@db.example.com/app",
        ] {
            let e = build(&format!("{text} sslmode=disable"))
                .err()
                .or_else(|| build(&format!("{text}?sslmode=disable")).err())
                .unwrap()
                .to_string();
            assert!(e.contains("sslmode=disable is refused"), "{e}");
            assert!(e.contains("@db.example"), "{e}");
        }
    }

    #[test]
    fn a_remote_host_needs_tls_and_loopback_may_go_plain() {
        let t = |u: &str| {
            Target::new(
                &SecretString::from(u.to_owned()),
                None,
                Duration::from_secs(1),
            )
        };
        assert!(!t("postgres://me@127.0.0.1/app").unwrap().tls);
        assert!(!t("postgres://me@localhost/app").unwrap().tls);
        assert!(t("postgres://me@db.example/app").unwrap().tls);
        let e = t("postgres://me:pw1234@db.example/app?sslmode=disable").unwrap_err();
        assert!(e.to_string().contains("sslmode=disable is refused"), "{e}");
        assert!(!e.to_string().contains("pw1234"), "{e}");
    }

    #[test]
    fn numeric_values_become_the_nearest_double() {
        // 12345.678: ndigits 3, weight 1, positive, dscale 3: 1 2345 6780
        let raw = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C];
        let v = Numeric::from_sql(&Type::NUMERIC, &raw).unwrap().0;
        assert_eq!(v, 12345.678);
        let neg = [0, 1, 0xFF, 0xFF, 0x40, 0, 0, 4, 0x13, 0x88]; // -0.5
        assert_eq!(Numeric::from_sql(&Type::NUMERIC, &neg).unwrap().0, -0.5);
        let nan = [0, 0, 0, 0, 0xC0, 0, 0, 0];
        assert!(Numeric::from_sql(&Type::NUMERIC, &nan).unwrap().0.is_nan());
        assert!(Numeric::from_sql(&Type::NUMERIC, &[0, 1]).is_err());
    }
}
