//! The error type of this crate.

/// Everything that can go wrong while configuring a connector or pulling data.
///
/// Variants name what went wrong and carry the context needed to act on it: which
/// source, which HTTP status and (truncated) body, how long the platform asked to wait.
/// No variant ever carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request itself is invalid (empty date range, unknown field, ...).
    #[error("invalid request: {message}")]
    InvalidRequest {
        /// What is wrong with the request.
        message: String,
    },
    /// The connector is misconfigured (missing credential, bad base URL, ...).
    #[error("{source_name}: configuration error: {message}")]
    Config {
        /// The source being configured (`meta`, `google_ads`, `klaviyo`, `file`).
        source_name: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The platform rejected the credentials; retrying will not help.
    #[error("{source_name}: credentials rejected: {message}")]
    Auth {
        /// The source that rejected the credentials.
        source_name: String,
        /// The platform's explanation, without any secret.
        message: String,
    },
    /// The platform answered with an error that is not worth retrying.
    #[error("{source_name}: HTTP {status}: {body}")]
    Http {
        /// The source that answered.
        source_name: String,
        /// The HTTP status code.
        status: u16,
        /// The response body, truncated.
        body: String,
    },
    /// The response could not be decoded.
    #[error("{source_name}: could not decode response at `{path}`: {message}")]
    Decode {
        /// The source whose response failed to decode.
        source_name: String,
        /// The JSON path that failed (e.g. `data[3].spend`).
        path: String,
        /// What was wrong at that path.
        message: String,
    },
    /// Building or concatenating Arrow data failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// A transient failure (throttling, 5xx, timeout, dropped connection) persisted past
    /// the retry budget or the overall deadline.
    #[error(
        "{source_name}: gave up after {attempts} attempts ({retries} retries) in {elapsed_ms} ms: {last}"
    )]
    RetriesExhausted {
        /// The source being pulled.
        source_name: String,
        /// Attempts of the failing call.
        attempts: u32,
        /// Retries spent by the whole pull.
        retries: u32,
        /// Time spent on the pull, in milliseconds.
        elapsed_ms: u64,
        /// The last failure seen.
        last: String,
    },
    /// The platform asked to wait longer than the configured maximum (a daily cap, an
    /// account-level block); the connector does not retry into it.
    #[error(
        "{source_name}: throttled; the platform asks to wait {retry_after_secs} s, more than the allowed {max_wait_secs} s: {message}"
    )]
    Throttled {
        /// The source that throttled.
        source_name: String,
        /// The wait the platform asked for, in seconds.
        retry_after_secs: u64,
        /// The longest wait the connector accepts, in seconds.
        max_wait_secs: u64,
        /// The platform's message.
        message: String,
    },
    /// A pagination cursor repeated: the server is looping.
    #[error(
        "{source_name}: pagination loop: page token `{token}` was already followed (after {pages} pages)"
    )]
    PageLoop {
        /// The source being paged.
        source_name: String,
        /// The repeated token (never a secret).
        token: String,
        /// Pages fetched before the loop was seen.
        pages: u64,
    },
    /// An asynchronous report job failed even after splitting its date range.
    #[error("{source_name}: report job for {range} failed: {message}")]
    AsyncJob {
        /// The source running the job.
        source_name: String,
        /// The date range of the job.
        range: String,
        /// The platform's explanation.
        message: String,
    },
    /// A row of a local file could not be read.
    #[error("{path}: line {line}: {message}")]
    File {
        /// The file.
        path: String,
        /// 1-based line number (0 when the format has no lines, e.g. Parquet).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Reading a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
