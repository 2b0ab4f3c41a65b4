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
    /// the retry budget ([`RetryConfig`](crate::RetryConfig)'s "Retry budget"): the
    /// failing request's `max_retries`, or the pull's total.
    #[error(
        "{source_name}: gave up after {attempts} attempts of one request, {retries} retries in the whole pull, in {elapsed_ms} ms: {limit}; last failure: {last}"
    )]
    RetriesExhausted {
        /// The source being pulled.
        source_name: String,
        /// Attempts of the failing request.
        attempts: u32,
        /// Retries spent by the whole pull.
        retries: u32,
        /// The pull's total budget of retries when it gave up.
        budget: u32,
        /// Which limit ran out, naming its settings.
        limit: String,
        /// Time spent on the pull, in milliseconds.
        elapsed_ms: u64,
        /// The last failure seen.
        last: String,
    },
    /// The platform asked to wait longer than the configured maximum (a daily cap, an
    /// account-level block); the connector does not retry into it.
    ///
    /// The text states each wait in seconds, with days beside them from two days on, and
    /// as "more than 100 years" past that (`Retry-After: 1e20`).
    #[error(
        "{source_name}: throttled; the platform asks to wait {}, more than the allowed {}: {message}",
        wait_text(*.retry_after_secs),
        wait_text(*.max_wait_secs)
    )]
    Throttled {
        /// The source that throttled.
        source_name: String,
        /// The wait the platform asked for, in seconds; `u64::MAX` for a wait too long
        /// to count (more seconds than a `Duration` holds).
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
    /// A listing kept sending new page tokens past the page bound of its range.
    #[error(
        "{source_name}: stopped after {pages} pages, the page limit of this pull ({limit}); the server keeps sending new next links. If the data really is that large, raise max_pages / pages_per_day (`liftos pull --max-pages`, `[http]` in liftos.toml)"
    )]
    TooManyPages {
        /// The source being paged.
        source_name: String,
        /// Pages fetched.
        pages: u64,
        /// The page bound of the listing.
        limit: u64,
    },
    /// The pull ran into its overall deadline: a request was still running (or about to
    /// start) at the deadline, or the next wait (a retry's backoff, a usage pause, a rate
    /// limit's spacing, a report interval, a poll) would have ended past it, so the pull
    /// stopped at once instead of sleeping first.
    ///
    /// The text says which: "overall deadline of X ms reached after Y ms" in the first
    /// case, "overall deadline of X ms would be passed by the wait of W ms (what it was
    /// for) with Y ms elapsed" in the second ([`wait_ms`](Error::Deadline::wait_ms) is set).
    #[error(
        "{}",
        deadline_text(source_name, *deadline_ms, *elapsed_ms, *attempts, *wait_ms, last)
    )]
    Deadline {
        /// The source being pulled.
        source_name: String,
        /// The configured deadline, in milliseconds.
        deadline_ms: u64,
        /// Time spent on the pull, in milliseconds.
        elapsed_ms: u64,
        /// Attempts of the call that was running.
        attempts: u32,
        /// The wait that would have passed the deadline, in milliseconds, when the pull
        /// stopped before it; `None` when the deadline was reached.
        wait_ms: Option<u64>,
        /// The last failure seen, if any; with `wait_ms`, what the wait was for.
        last: String,
    },
    /// A response body was larger than the configured limit; it was not read further.
    #[error(
        "{source_name}: HTTP {status} response body larger than the limit of {limit_bytes} bytes (at least {received_bytes} bytes); raise max_body_mib (`liftos pull --max-body-mib`, `[http]` in liftos.toml) if such answers are expected"
    )]
    BodyTooLarge {
        /// The source that answered.
        source_name: String,
        /// The HTTP status of the answer.
        status: u16,
        /// The configured limit, in bytes.
        limit_bytes: u64,
        /// Bytes announced (Content-Length) or received when the read stopped.
        received_bytes: u64,
    },
    /// A next link or a redirect led to another origin (scheme, host, port) than the
    /// configured API, or downgraded https: it was not followed, no credential was sent.
    #[error("{source_name}: refused to follow {what}: {message}")]
    CrossOrigin {
        /// The source being pulled.
        source_name: String,
        /// What led there (`paging.next`, `links.next`, `redirect`).
        what: String,
        /// Where it led and why that is refused (origins only, never a query).
        message: String,
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
    /// A request that creates something (a report run) may have reached the platform,
    /// but its answer was lost (a timeout after sending, a connection cut mid-answer): it
    /// is not sent again blindly, which could create the thing twice.
    #[error(
        "{source_name}: {what} may have been processed, but its answer was lost ({message}); not sent again"
    )]
    Unconfirmed {
        /// The source.
        source_name: String,
        /// The request (`report run creation`).
        what: String,
        /// The transport failure.
        message: String,
    },
    /// A database refused a connection, a query or a write, or a column type is not
    /// supported (the message names the column; it never holds a password).
    #[error("{source_name}: {message}")]
    Database {
        /// The source or sink (`postgres`).
        source_name: String,
        /// What failed, with the server's message.
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

impl Error {
    /// This error with `f` applied to every text that may come from an answer.
    pub(crate) fn map_text(mut self, f: impl Fn(&str) -> String) -> Error {
        let apply = |text: &mut String| *text = f(text);
        match &mut self {
            Error::InvalidRequest { message }
            | Error::Config { message, .. }
            | Error::Auth { message, .. }
            | Error::Throttled { message, .. }
            | Error::CrossOrigin { message, .. }
            | Error::AsyncJob { message, .. }
            | Error::Unconfirmed { message, .. }
            | Error::Database { message, .. }
            | Error::Http { body: message, .. }
            | Error::PageLoop { token: message, .. }
            | Error::RetriesExhausted { last: message, .. }
            | Error::Deadline { last: message, .. } => apply(message),
            Error::Decode { path, message, .. } => {
                apply(path);
                apply(message);
            }
            Error::Arrow(_)
            | Error::TooManyPages { .. }
            | Error::BodyTooLarge { .. }
            | Error::File { .. }
            | Error::Io { .. } => {}
        }
        self
    }
}

/// Waits of more than this many seconds (100 years) are written "more than 100 years".
const LONGEST_WAIT_WRITTEN: u64 = 100 * 365 * 86_400;

/// A wait in seconds as an error states it: `900 s` under two days, `1000000000 s
/// (about 11574 days)` up to 100 years, and `more than 100 years` beyond (a wait
/// saturated to `u64::MAX` is no count a reader can use).
fn wait_text(secs: u64) -> String {
    const DAY: u64 = 86_400;
    if secs < 2 * DAY {
        format!("{secs} s")
    } else if secs <= LONGEST_WAIT_WRITTEN {
        format!("{secs} s (about {} days)", (secs + DAY / 2) / DAY)
    } else {
        "more than 100 years".to_owned()
    }
}

/// The text of [`Error::Deadline`]: reached, or (with `wait_ms`) would be passed by a
/// wait not slept.
fn deadline_text(
    source: &str,
    deadline_ms: u64,
    elapsed_ms: u64,
    attempts: u32,
    wait_ms: Option<u64>,
    last: &str,
) -> String {
    const RAISE: &str = "raise it with `liftos pull --timeout` or `timeout_secs` in liftos.toml";
    match wait_ms {
        None => format!(
            "{source}: overall deadline of {deadline_ms} ms reached after {elapsed_ms} ms ({attempts} attempts of the last call): {last}; {RAISE}"
        ),
        Some(wait) => format!(
            "{source}: overall deadline of {deadline_ms} ms would be passed by the wait of {wait} ms ({last}) with {elapsed_ms} ms elapsed, so the pull stopped without waiting; {RAISE}"
        ),
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_written_as_a_reader_can_use_them() {
        assert_eq!(wait_text(0), "0 s");
        assert_eq!(wait_text(900), "900 s");
        assert_eq!(wait_text(172_799), "172799 s");
        assert_eq!(wait_text(172_800), "172800 s (about 2 days)");
        assert_eq!(wait_text(1_000_000_000), "1000000000 s (about 11574 days)");
        assert_eq!(
            wait_text(LONGEST_WAIT_WRITTEN),
            "3153600000 s (about 36500 days)"
        );
        assert_eq!(wait_text(LONGEST_WAIT_WRITTEN + 1), "more than 100 years");
        assert_eq!(wait_text(u64::MAX), "more than 100 years");
        let e = Error::Throttled {
            source_name: "klaviyo".into(),
            retry_after_secs: u64::MAX,
            max_wait_secs: 900,
            message: "HTTP 429".into(),
        };
        assert_eq!(
            e.to_string(),
            "klaviyo: throttled; the platform asks to wait more than 100 years, more than the allowed 900 s: HTTP 429"
        );
    }
}
