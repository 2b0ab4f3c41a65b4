//! The HTTP core shared by every platform connector: one client, one retry policy, one
//! pagination helper, progress counters, and secret redaction.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};

use crate::{Error, Result};

/// A source of time: `now` since an arbitrary origin, and `sleep`.
///
/// [`SystemClock`] is the real one; [`VirtualClock`] makes every sleep instant and only
/// advances its own reading, so tests of backoff and deadlines run in milliseconds.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Time elapsed since the clock's origin.
    fn now(&self) -> Duration;
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The real clock: `std::time::Instant` and `tokio::time::sleep`.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: std::time::Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock whose sleeps return at once and advance its reading by the slept time.
///
/// [`slept`](VirtualClock::slept) tells how long the code under test would have waited.
#[derive(Debug, Default)]
pub struct VirtualClock {
    elapsed: Mutex<Duration>,
}

impl VirtualClock {
    /// A virtual clock at zero.
    pub fn new() -> Self {
        Self::default()
    }
    /// Total time slept so far.
    pub fn slept(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        self.slept()
    }
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        *self.elapsed.lock().unwrap_or_else(PoisonError::into_inner) += duration;
        Box::pin(tokio::task::yield_now())
    }
}

/// Retry, timeout and concurrency settings of the HTTP core.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `max_retries` | 10 | retries one request may take; also the pull's reserve (below) | ≥ 0 |
/// | `retries_per_answer` | 2 | retries the pull earns with each answered request (below) | ≥ 0 |
/// | `initial_backoff` | 500 ms | first backoff | > 0 |
/// | `max_backoff` | 60 s | cap of the exponential backoff | ≥ `initial_backoff` |
/// | `multiplier` | 2.0 | backoff growth per attempt | ≥ 1 |
/// | `max_retry_wait` | 15 min | longest platform-requested wait accepted; longer waits (daily caps) fail at once | > 0 |
/// | `request_timeout` | 120 s | timeout of one HTTP request, body included | > 0, ≤ 30 days ([`MAX_CONFIGURED_TIMEOUT`]) |
/// | `connect_timeout` | 10 s | TCP/TLS connect timeout | > 0, ≤ 30 days ([`MAX_CONFIGURED_TIMEOUT`]) |
/// | `deadline` | 1 h | overall time budget of one pull: no request starts, and none runs on, past it; no wait (a backoff, a rate limit's spacing, a report interval, a poll) that would end past it is slept: the deadline error comes at once | > 0, ≤ 30 days ([`MAX_CONFIGURED_TIMEOUT`]) |
/// | `concurrency` | 4 | accounts or date chunks pulled at once | ≥ 1 |
/// | `seed` | 42 | seed of the backoff jitter | any |
/// | `max_body_bytes` | 64 MiB | largest response body read; a larger one fails with [`Error::BodyTooLarge`] without being read further | > 0 |
/// | `pages_per_day` | 100 | pages one listing may follow per day of the range, above a floor of 1000 | ≥ 1 |
/// | `max_pages` | 50 000 | hard cap of the pages one listing may follow, whatever the range | ≥ 1 |
///
/// A listing (Meta insights pages, a Klaviyo `links.next` chain) stops with
/// [`Error::TooManyPages`] after [`page_bound`](RetryConfig::page_bound)`(days)` =
/// `min(max_pages, 1000 + pages_per_day × days)` pages: a server that keeps sending new
/// cursors cannot keep a pull busy for hours.
///
/// **Retry budget.** Each request is retried at most `max_retries` times. The whole pull
/// may spend at most `max_retries + retries_per_answer × answered` retries, `answered`
/// being the requests of the pull answered so far: the budget grows with the pull's
/// progress, so a long listing that is throttled now and then (a quarter of its requests,
/// or half) completes, while a platform that fails most requests (more than two in three
/// attempts at the defaults) stops the pull soon instead of retrying until the deadline.
/// Either limit ends the pull with [`Error::RetriesExhausted`], which states the attempts
/// of the failing request, the retries of the whole pull and which limit ran out. The
/// work stays bounded: answered requests are bounded by the page bound and the deadline,
/// and a platform-requested wait over `max_retry_wait` is not waited at all.
///
/// The backoff before retry `k` (0-based) is `min(max_backoff, initial_backoff ·
/// multiplierᵏ)` with equal jitter (half fixed, half uniform), or the platform's own wait
/// (Retry-After, retryDelay, Meta's `estimated_time_to_regain_access`) when longer.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Retries one request may take; also the pull's reserve of retries.
    pub max_retries: u32,
    /// Retries the pull earns with each answered request.
    pub retries_per_answer: u32,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Cap of the exponential backoff.
    pub max_backoff: Duration,
    /// Growth of the backoff per attempt.
    pub multiplier: f64,
    /// Longest platform-requested wait accepted.
    pub max_retry_wait: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Overall time budget of one pull.
    pub deadline: Duration,
    /// Accounts or date chunks pulled at once.
    pub concurrency: usize,
    /// Seed of the jitter.
    pub seed: u64,
    /// Largest response body read, in bytes.
    pub max_body_bytes: u64,
    /// Pages one listing may follow per day of the range (above a floor of 1000).
    pub pages_per_day: u64,
    /// Hard cap of the pages one listing may follow.
    pub max_pages: u64,
}

/// Longest timeout or deadline a pull may be configured with (30 days): a longer one is
/// a typo, not a plan, and would not fit the milliseconds the deadline error states.
pub const MAX_CONFIGURED_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

/// Pages every listing may follow, whatever the range (see [`RetryConfig::page_bound`]).
pub const MIN_PAGE_BOUND: u64 = 1000;
/// Default [`RetryConfig::max_body_bytes`]: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 10,
            retries_per_answer: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            multiplier: 2.0,
            max_retry_wait: Duration::from_secs(15 * 60),
            request_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(3600),
            concurrency: 4,
            seed: 42,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            pages_per_day: 100,
            max_pages: 50_000,
        }
    }
}

impl RetryConfig {
    /// Checks the ranges of the table above.
    pub fn validate(&self, source: &str) -> Result<()> {
        let bad = |m: &str| Err(config_error(source, m));
        if self.initial_backoff.is_zero() || self.max_backoff < self.initial_backoff {
            return bad("retry: initial_backoff must be > 0 and <= max_backoff");
        }
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return bad("retry: multiplier must be a finite number >= 1");
        }
        if self.request_timeout.is_zero()
            || self.connect_timeout.is_zero()
            || self.deadline.is_zero()
        {
            return bad("retry: timeouts and deadline must be > 0");
        }
        if [self.request_timeout, self.connect_timeout, self.deadline]
            .iter()
            .any(|d| *d > MAX_CONFIGURED_TIMEOUT)
        {
            return bad(&format!(
                "retry: timeouts and deadline must be at most {} s (30 days)",
                MAX_CONFIGURED_TIMEOUT.as_secs()
            ));
        }
        if self.concurrency == 0 {
            return bad("retry: concurrency must be >= 1");
        }
        if self.max_body_bytes == 0 {
            return bad("http: max_body_bytes (max_body_mib) must be > 0");
        }
        if self.max_pages == 0 || self.pages_per_day == 0 {
            return bad("http: max_pages and pages_per_day must be >= 1");
        }
        Ok(())
    }

    /// Pages one listing over a range of `days` days may follow:
    /// `min(max_pages, 1000 + pages_per_day × days)`.
    pub fn page_bound(&self, days: u64) -> u64 {
        MIN_PAGE_BOUND
            .saturating_add(self.pages_per_day.saturating_mul(days))
            .min(self.max_pages)
    }

    liftos_core::setters! {
        /// Sets the largest response body read, in bytes.
        with_max_body_bytes(bytes: u64) => self.max_body_bytes = bytes;
        /// Sets the hard cap of pages per listing.
        with_max_pages(pages: u64) => self.max_pages = pages;
        /// Sets the pages per day of range a listing may follow.
        with_pages_per_day(pages: u64) => self.pages_per_day = pages;
        /// Sets the connect timeout.
        with_connect_timeout(d: Duration) => self.connect_timeout = d;
        /// Sets the retries of one request (and the pull's reserve).
        with_max_retries(n: u32) => self.max_retries = n;
        /// Sets the retries the pull earns with each answered request.
        with_retries_per_answer(n: u32) => self.retries_per_answer = n;
        /// Sets the per-request timeout.
        with_request_timeout(d: Duration) => self.request_timeout = d;
        /// Sets the overall deadline of a pull.
        with_deadline(d: Duration) => self.deadline = d;
        /// Sets the concurrency.
        with_concurrency(n: usize) => self.concurrency = n;
        /// Sets the jitter seed.
        with_seed(seed: u64);
    }

    fn backoff(&self, retry: u32, rng: &mut ChaCha8Rng) -> Duration {
        let base = self.initial_backoff.as_secs_f64() * self.multiplier.powi(retry.min(60) as i32);
        let capped = base.min(self.max_backoff.as_secs_f64());
        let half = capped / 2.0;
        Duration::try_from_secs_f64(half + rng.random_range(0.0..=half)).unwrap_or(self.max_backoff)
    }
}

/// A wait a platform asked for, in seconds (`Retry-After`, Google's `retryDelay`, Meta's
/// `estimated_time_to_regain_access` × 60, a Shopify bucket's refill time): `None` for
/// what is no wait (negative, NaN). A wait too long for a [`Duration`] (`1e20`, `inf`) is
/// [`Duration::MAX`], which the retry policy refuses as [`Error::Throttled`] like any wait
/// over [`RetryConfig::max_retry_wait`]: a finite but huge number is never a panic.
pub(crate) fn platform_wait(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// Timeouts and limits of the HTTP core as settings (serde), e.g. the `[http]` table of
/// `liftos.toml` or the same keys in one `[[sources]]` entry. Every field is optional;
/// [`apply`](HttpSettings::apply) overrides only what is set.
///
/// | Key | Sets | Meaning |
/// |---|---|---|
/// | `timeout_secs` | [`RetryConfig::deadline`] | overall deadline of one pull, in seconds |
/// | `request_timeout_secs` | [`RetryConfig::request_timeout`] | timeout of one HTTP request, body included |
/// | `connect_timeout_secs` | [`RetryConfig::connect_timeout`] | TCP/TLS connect timeout |
/// | `max_retries` | [`RetryConfig::max_retries`] | retries one request may take (and the pull's reserve) |
/// | `retries_per_answer` | [`RetryConfig::retries_per_answer`] | retries the pull earns with each answered request |
/// | `max_pages` | [`RetryConfig::max_pages`] | hard cap of pages per listing |
/// | `pages_per_day` | [`RetryConfig::pages_per_day`] | pages per day of range per listing |
/// | `max_body_mib` | [`RetryConfig::max_body_bytes`] | largest response body, in MiB (fractions allowed) |
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Overall deadline of one pull, in seconds.
    pub timeout_secs: Option<f64>,
    /// Timeout of one HTTP request, in seconds.
    pub request_timeout_secs: Option<f64>,
    /// Connect timeout, in seconds.
    pub connect_timeout_secs: Option<f64>,
    /// Retries one request may take (and the pull's reserve).
    pub max_retries: Option<u32>,
    /// Retries the pull earns with each answered request.
    pub retries_per_answer: Option<u32>,
    /// Hard cap of pages per listing.
    pub max_pages: Option<u64>,
    /// Pages per day of range per listing.
    pub pages_per_day: Option<u64>,
    /// Largest response body, in MiB.
    pub max_body_mib: Option<f64>,
}

impl HttpSettings {
    /// The keys of the table above (a `[[sources]]` entry may hold any of them).
    pub const KEYS: [&'static str; 8] = [
        "timeout_secs",
        "request_timeout_secs",
        "connect_timeout_secs",
        "max_retries",
        "retries_per_answer",
        "max_pages",
        "pages_per_day",
        "max_body_mib",
    ];

    /// `self`, with every setting `over` holds replacing this one's.
    pub fn overridden_by(&self, over: &HttpSettings) -> HttpSettings {
        HttpSettings {
            timeout_secs: over.timeout_secs.or(self.timeout_secs),
            request_timeout_secs: over.request_timeout_secs.or(self.request_timeout_secs),
            connect_timeout_secs: over.connect_timeout_secs.or(self.connect_timeout_secs),
            max_retries: over.max_retries.or(self.max_retries),
            retries_per_answer: over.retries_per_answer.or(self.retries_per_answer),
            max_pages: over.max_pages.or(self.max_pages),
            pages_per_day: over.pages_per_day.or(self.pages_per_day),
            max_body_mib: over.max_body_mib.or(self.max_body_mib),
        }
    }

    /// `base` with the settings that are set applied.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the key of a negative, zero or non-finite duration or size.
    pub fn apply(&self, source: &str, mut base: RetryConfig) -> Result<RetryConfig> {
        let secs = |key: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero() && *d <= MAX_CONFIGURED_TIMEOUT)
                .ok_or_else(|| {
                    config_error(
                        source,
                        &format!(
                            "{key} = {v:?} must be a number of seconds > 0 and at most {} (30 days)",
                            MAX_CONFIGURED_TIMEOUT.as_secs()
                        ),
                    )
                })
        };
        if let Some(v) = self.timeout_secs {
            base.deadline = secs("timeout_secs", v)?;
        }
        if let Some(v) = self.request_timeout_secs {
            base.request_timeout = secs("request_timeout_secs", v)?;
        }
        if let Some(v) = self.connect_timeout_secs {
            base.connect_timeout = secs("connect_timeout_secs", v)?;
        }
        if let Some(v) = self.max_retries {
            base.max_retries = v;
        }
        if let Some(v) = self.retries_per_answer {
            base.retries_per_answer = v;
        }
        if let Some(v) = self.max_pages {
            base.max_pages = v;
        }
        if let Some(v) = self.pages_per_day {
            base.pages_per_day = v;
        }
        if let Some(v) = self.max_body_mib {
            let bytes = v * 1024.0 * 1024.0;
            if !(bytes >= 1.0 && bytes.is_finite() && bytes < u64::MAX as f64) {
                return Err(config_error(
                    source,
                    &format!("max_body_mib = {v:?} must be a size in MiB > 0"),
                ));
            }
            base.max_body_bytes = bytes as u64;
        }
        base.validate(source)?;
        Ok(base)
    }
}

/// A snapshot of a connector's progress counters, passed to progress callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgressEvent {
    /// Rows produced so far.
    pub rows: u64,
    /// Pages (responses with data) fetched so far.
    pub pages: u64,
    /// Retries spent so far.
    pub retries: u64,
}

/// A progress callback, called after every page and every retry.
pub type ProgressCallback = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

/// Cumulative progress counters of a connector (shared by its pulls).
#[derive(Clone, Default)]
pub struct Progress {
    rows: Arc<AtomicU64>,
    pages: Arc<AtomicU64>,
    retries: Arc<AtomicU64>,
    callback: Option<ProgressCallback>,
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("snapshot", &self.snapshot())
            .field("callback", &self.callback.is_some())
            .finish()
    }
}

impl Progress {
    /// Counters reporting to `callback`.
    pub fn with_callback(callback: ProgressCallback) -> Self {
        Self {
            callback: Some(callback),
            ..Self::default()
        }
    }
    /// The current counts.
    pub fn snapshot(&self) -> ProgressEvent {
        ProgressEvent {
            rows: self.rows.load(Ordering::Relaxed),
            pages: self.pages.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
    pub(crate) fn page(&self, rows: usize) {
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.notify();
    }
    fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.notify();
    }
    fn notify(&self) {
        if let Some(cb) = &self.callback {
            cb(&self.snapshot());
        }
    }
}

/// Replaces every registered secret in a text with `[REDACTED]`.
///
/// A secret is found in its literal form and in any mix of encodings of its characters:
/// percent-encoded with upper- or lower-case hex (`123%7C…`, `1%2f%2F…`), or encoded
/// twice or more (`%257C`: a whole URL encoded again), `+` for a space
/// (form encoding), and JSON string escapes (`\u0026`, `\u002B`, `\u006b` for any
/// character, surrogate pairs, `\/`, `\"`, `\\`, `\n`, ...), as encoders that escape
/// `+ & < >` or everything non-ASCII write them. Clones share their secrets, so a token
/// obtained at run time (Google's OAuth access token) and [`add`](Redactor::add)ed to
/// one clone is hidden by all of them. The secrets stay in [`SecretString`]s.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Arc<std::sync::RwLock<Vec<SecretString>>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.len())
    }
}

const REDACTED: &str = "[REDACTED]";

impl Redactor {
    fn len(&self) -> usize {
        self.secrets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// A redactor of `secrets` (each as [`add`](Self::add) registers it).
    pub(crate) fn of<'a>(secrets: impl IntoIterator<Item = &'a SecretString>) -> Self {
        let redactor = Self::default();
        for s in secrets {
            redactor.add(s);
        }
        redactor
    }

    /// Registers a secret (shorter than 4 bytes: ignored, it would hide ordinary text).
    pub(crate) fn add(&self, s: &SecretString) {
        if s.expose_secret().len() < 4 {
            return;
        }
        let mut list = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        if !list.iter().any(|x| x.expose_secret() == s.expose_secret()) {
            list.push(s.clone());
        }
    }

    /// `text` with every registered secret, in any encoding, replaced by `[REDACTED]`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let list = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = text.to_owned();
        for s in list.iter() {
            out = redact_one(&out, s.expose_secret());
        }
        out
    }

    /// Every text field of `e` redacted and cut to [`SCRUB_CHARS`] characters (the last
    /// line of defence for errors built from answers: decode messages quoting a value,
    /// page tokens, platform messages).
    pub(crate) fn scrub(&self, e: Error) -> Error {
        e.map_text(|t| self.cut(t.as_bytes(), SCRUB_CHARS))
    }

    /// A text an answer supplied (a platform's message, error code or status, a body), as
    /// an error or a log quotes it: redacted, made [`printable`] (no terminal escapes),
    /// then cut to [`SNIPPET_CHARS`] characters
    /// (marked `…`). Every connector quotes answers through this (or
    /// [`Reply::snippet`]), so a 20 MB message is 500 characters in the error.
    pub(crate) fn excerpt(&self, text: &str) -> String {
        self.cut(text.as_bytes(), SNIPPET_CHARS)
    }

    /// `text` redacted and made [`printable`], then cut to `max_chars` characters and
    /// `…`. Redaction runs before
    /// the cut, on a window long enough to hold any encoded secret that starts within the
    /// kept characters, so a secret cut in half cannot leak its first part; a text longer
    /// than the window is never read whole.
    fn cut(&self, text: &[u8], max_chars: usize) -> String {
        let window = &text[..text.len().min(max_chars * 4 + 4096)];
        let redacted = printable(&self.redact(&String::from_utf8_lossy(window))).into_owned();
        let mut s: String = redacted.chars().take(max_chars).collect();
        if s.len() < redacted.len() || window.len() < text.len() {
            s.push('…');
        }
        s
    }
}

/// `text` fit for one line of a terminal or a log: every control character (C0 and C1,
/// DEL: ESC sequences, BEL, CR, newlines) and every bidirectional-text control (U+200E,
/// U+200F, U+202A–U+202E, U+2066–U+2069) written as its escape (`\u{1b}`), so a text an
/// answer supplied cannot clear, recolour or retitle a terminal, overwrite a line or
/// reorder what is shown. Used by [`Redactor::excerpt`] and [`Redactor::scrub`].
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The length of an encoded form of `secret` at the start of `text`, if one is there:
/// each character of the secret in any of its forms ([`char_forms`]), mixed freely. The
/// forms overlap (`\\` is a literal backslash and the start of `\\\\`), so every end
/// reachable so far is followed, the longest match kept.
fn match_encoded(text: &[u8], secret: &str) -> Option<usize> {
    // Every form starts with the first byte of the secret or an escape's first byte.
    let first = *text.first()?;
    if Some(&first) != secret.as_bytes().first() && !matches!(first, b'%' | b'+' | b'\\') {
        return None;
    }
    let mut ends = vec![0usize];
    let (mut next, mut lengths) = (Vec::new(), Vec::new());
    for c in secret.chars() {
        next.clear();
        for &p in &ends {
            lengths.clear();
            char_forms(&text[p..], c, &mut lengths);
            next.extend(lengths.iter().map(|n| p + n));
        }
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            return None;
        }
        std::mem::swap(&mut ends, &mut next);
    }
    ends.last().copied()
}

/// Pushes to `out` the length of every form of `c` at the start of `rest`: literal; its
/// UTF-8 bytes percent-encoded (`%7C`, `%7c`, each byte either way); `+` for a space
/// (form encoding); a JSON escape: `\uXXXX` in either case (a surrogate pair beyond the
/// BMP), or `\/`, `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`.
fn char_forms(rest: &[u8], c: char, out: &mut Vec<usize>) {
    let mut utf8 = [0u8; 4];
    let bytes = c.encode_utf8(&mut utf8).as_bytes();
    if let [b] = bytes {
        // One byte: literal, or `%XX`, its `%` perhaps encoded again (several may fit:
        // `%`, `%25` and `%2525`).
        if rest.first() == Some(b) {
            out.push(1);
        }
        percent_forms(rest, *b, out);
    } else if let Some(n) = match_bytes(rest, bytes) {
        // Several bytes (none of them `%`): each literal or `%XX`.
        out.push(n);
    }
    if c == ' ' && rest.first() == Some(&b'+') {
        out.push(1);
    }
    let short = match c {
        '/' | '"' | '\\' => Some(c as u8),
        '\u{8}' => Some(b'b'),
        '\u{c}' => Some(b'f'),
        '\n' => Some(b'n'),
        '\r' => Some(b'r'),
        '\t' => Some(b't'),
        _ => None,
    };
    if let Some(e) = short
        && rest.first() == Some(&b'\\')
        && rest.get(1) == Some(&e)
    {
        out.push(2);
    }
    let mut units = [0u16; 2];
    let mut p = 0;
    for &unit in c.encode_utf16(&mut units).iter() {
        if rest.get(p..).and_then(json_unit) != Some(unit) {
            return;
        }
        p += 6;
    }
    out.push(p);
}

/// The length of `bytes` at the start of `rest`, each byte literal or as `%XX`.
fn match_bytes(rest: &[u8], bytes: &[u8]) -> Option<usize> {
    let mut p = 0;
    for &b in bytes {
        let at = rest.get(p..)?;
        if at.first() == Some(&b) {
            p += 1;
        } else {
            p += match_bytes_percent(at, b)?;
        }
    }
    Some(p)
}

/// How many times a `%` may itself be percent-encoded in front of an escape (`%257C`:
/// `|` encoded twice, as a URL re-encoded by a proxy or a client that encodes a whole
/// link shows it).
const MAX_PERCENT_DEPTH: usize = 3;

/// Pushes to `out` the length of every percent-encoded form of the byte `b` at the start
/// of `rest`: `%XX` (either case), or the same with its `%` encoded again, up to
/// [`MAX_PERCENT_DEPTH`] times (`%25XX`, `%2525XX`).
fn percent_forms(rest: &[u8], b: u8, out: &mut Vec<usize>) {
    let hex = |i: usize| rest.get(i).and_then(|c| (*c as char).to_digit(16));
    if rest.first() != Some(&b'%') {
        return;
    }
    let mut k = 1;
    for _ in 0..=MAX_PERCENT_DEPTH {
        let Some(v) = hex(k).zip(hex(k + 1)).map(|(h, l)| h * 16 + l) else {
            return;
        };
        if v == u32::from(b) {
            out.push(k + 2);
        }
        if v != 0x25 {
            return;
        }
        k += 2;
    }
}

/// The length of the shortest percent-encoded form of `b` at the start of `rest`
/// ([`percent_forms`]; `b` is not `%` here, so there is one at most).
fn match_bytes_percent(rest: &[u8], b: u8) -> Option<usize> {
    let mut forms = Vec::new();
    percent_forms(rest, b, &mut forms);
    forms.first().copied()
}

/// The UTF-16 unit of the JSON escape `\uXXXX` at the start of `s`.
fn json_unit(s: &[u8]) -> Option<u16> {
    let digits = s.strip_prefix(b"\\u")?.get(..4)?;
    digits.iter().try_fold(0u16, |acc, d| {
        Some(acc * 16 + (*d as char).to_digit(16)? as u16)
    })
}

fn redact_one(text: &str, secret: &str) -> String {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut changed = false;
    while i < bytes.len() {
        match match_encoded(&bytes[i..], secret) {
            Some(n) if n > 0 => {
                out.extend_from_slice(REDACTED.as_bytes());
                i += n;
                changed = true;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    if !changed {
        return text.to_owned();
    }
    // A match starts at the secret's first character or at an ASCII escape and ends after
    // a whole character or escape, so `out` is UTF-8; lossy conversion only as a guard.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Query parameters whose value is a credential, whatever the platform.
const SECRET_PARAMS: [&str; 14] = [
    "access_token",
    "appsecret_proof",
    "client_secret",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "key",
    "token",
    "password",
    "secret",
    "code",
    "signature",
    "sig",
];

/// A URL fit for an error or a log: no user info, and the value of every
/// credential-carrying query parameter (`access_token`, `appsecret_proof`, ...) replaced
/// by `[REDACTED]`; then any registered secret redacted. Text that is not a URL is only
/// redacted.
pub(crate) fn display_url(redactor: &Redactor, raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return redactor.redact(raw);
    };
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let secret = SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s));
                let v = if secret {
                    REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    redactor.redact(url.as_str())
}

/// Whether two URLs have the same origin: scheme, host and port (the scheme's default
/// port when none is written), compared parsed, never as strings.
pub(crate) fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.origin() == b.origin() && a.origin().is_tuple()
}

/// Checks a link the server sent (`paging.next`, `links.next`) before credentials are
/// sent to it: it must parse, carry no user info, and have the origin of `base`.
/// `what` names the field (`paging.next`).
pub(crate) fn check_link(
    source: &str,
    what: &str,
    base: &url::Url,
    link: &str,
) -> Result<url::Url> {
    let parsed = url::Url::parse(link).map_err(|e| Error::Decode {
        source_name: source.into(),
        path: what.into(),
        message: format!("not a URL: {e}"),
    })?;
    let refuse = |why: String| Error::CrossOrigin {
        source_name: source.into(),
        what: what.into(),
        message: why,
    };
    if base.scheme() == "https" && parsed.scheme() != "https" {
        return Err(refuse(format!(
            "it would downgrade https to {}; credentials are sent over https only",
            parsed.scheme()
        )));
    }
    if !same_origin(base, &parsed) {
        return Err(refuse(format!(
            "it points to {}, not the configured API origin {}; credentials are sent only there",
            parsed.origin().ascii_serialization(),
            base.origin().ascii_serialization()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse("it carries user info (`user:password@`)".into()));
    }
    Ok(parsed)
}

/// A redirect refused by the client: it leads to another origin or downgrades https.
#[derive(Debug)]
struct RedirectRefused {
    from: String,
    to: String,
}

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "redirect from {} to another origin {} refused (credential headers are never forwarded)",
            self.from, self.to
        )
    }
}

impl std::error::Error for RedirectRefused {}

/// The redirect policy of every connector: follow at most 5 redirects within the origin
/// of the original request; refuse (an error, not a retry) any redirect to another
/// scheme, host or port. reqwest drops `Authorization` (Google's bearer token, Klaviyo's
/// key) on a cross-host redirect but forwards custom headers such as Google's
/// `developer-token`, and Meta's token travels in the URL: refusing is the safe answer.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first().cloned() else {
            return attempt.stop();
        };
        if !same_origin(&first, attempt.url()) {
            let err = RedirectRefused {
                from: first.origin().ascii_serialization(),
                to: attempt.url().origin().ascii_serialization(),
            };
            return attempt.error(err);
        }
        if attempt.previous().len() > 5 {
            return attempt.error("too many redirects (more than 5)");
        }
        attempt.follow()
    })
}

/// One HTTP answer, body read in full (up to [`RetryConfig::max_body_bytes`]).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes_alias::Bytes,
}

mod bytes_alias {
    pub(crate) type Bytes = Vec<u8>;
}

/// Characters of an answer's text (a body, a platform's message) an error quotes; the
/// README documents the 500.
pub(crate) const SNIPPET_CHARS: usize = 500;

/// Characters of one text field of an error at most ([`Redactor::scrub`]): room for a
/// sentence of the connector's own and a few quoted [`SNIPPET_CHARS`] excerpts.
const SCRUB_CHARS: usize = 4 * SNIPPET_CHARS;

impl Reply {
    /// The body as text, as [`Redactor::excerpt`] quotes a text: secrets redacted, then
    /// truncated to 500 characters.
    pub(crate) fn snippet(&self, redactor: &Redactor) -> String {
        redactor.cut(&self.body, SNIPPET_CHARS)
    }
    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The wait the `Retry-After` header asks for, in either form RFC 9110 §10.2.3
    /// allows ([`retry_after_wait`]), an HTTP-date measured from this answer's `Date`
    /// (else from the local clock).
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        let value = self.header("retry-after")?;
        retry_after_wait(value, self.header("date"), std::time::SystemTime::now())
    }
}

/// The wait a `Retry-After` value asks for (RFC 9110 §10.2.3): delay-seconds (read as a
/// [`platform_wait`]: `1.5` and a huge `1e20` too), or an HTTP-date in any of the three
/// forms a recipient must accept (IMF-fixdate `Wed, 21 Oct 2026 07:28:00 GMT`, RFC 850,
/// asctime). A date is measured from the answer's `Date` header when it reads, so that
/// a client clock that differs from the server's does not lengthen or shorten the
/// wait; else from `local_now`. A date at or before that reference is no wait (retry
/// now, after the ordinary backoff, as `Retry-After: 0`); a date beyond
/// [`RetryConfig::max_retry_wait`] is refused by the retry policy as a long
/// delay-seconds is. `None` for a value that is neither.
pub(crate) fn retry_after_wait(
    value: &str,
    date: Option<&str>,
    local_now: std::time::SystemTime,
) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return platform_wait(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let now = date
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok())
        .unwrap_or(local_now);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Which limit of the retry budget stopped a request.
#[derive(Debug, Clone, Copy)]
enum ExhaustedLimit {
    /// The request took its `max_retries`.
    Request,
    /// The pull spent `max_retries + retries_per_answer × answered`.
    Pull,
}

/// What to do with one answer.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Success: hand the reply back; on usage pressure, `pause` before the pull's next
    /// request (a pause over `max_retry_wait` or past the deadline fails that request).
    Ok { pause: Option<Duration> },
    /// Transient: retry after the backoff, or after the platform's wait when longer.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Permanent: fail with this error.
    Fail(Error),
}

/// Per-pull retry state: start time, retries spent and requests answered.
#[derive(Debug)]
pub(crate) struct PullBudget {
    started: Duration,
    spent: Mutex<Spent>,
    /// Clock reading before which the pull's next request must not start: set by an
    /// answer that reported usage pressure (Meta's `estimated_time_to_regain_access`,
    /// Shopify's bucket), waited out by the next request, not after the last one.
    pause_until: Mutex<Option<Duration>>,
}

/// What a pull has spent of its retry budget ([`RetryConfig`]'s "Retry budget").
#[derive(Debug, Default, Clone, Copy)]
struct Spent {
    /// Retries taken by the whole pull.
    retries: u32,
    /// Requests of the pull answered (accepted by their `classify`).
    answered: u32,
}

impl Spent {
    /// The pull's total: `max_retries + retries_per_answer × answered`.
    fn budget(&self, config: &RetryConfig) -> u32 {
        config
            .max_retries
            .saturating_add(config.retries_per_answer.saturating_mul(self.answered))
    }
}

/// The shared HTTP core of one connector.
pub(crate) struct HttpCore {
    pub source: &'static str,
    client: reqwest::Client,
    pub config: RetryConfig,
    pub clock: Arc<dyn Clock>,
    rng: Mutex<ChaCha8Rng>,
    pub redactor: Redactor,
    pub progress: Progress,
}

impl fmt::Debug for HttpCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCore")
            .field("source", &self.source)
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl HttpCore {
    /// What a connector's `check` returns: `call`'s outcome without its value, an error
    /// scrubbed of the secrets.
    pub(crate) async fn checked<T>(&self, call: impl Future<Output = Result<T>>) -> Result<()> {
        call.await.map(|_| ()).map_err(|e| self.redactor.scrub(e))
    }
}

/// The stream of a connector that pulls a request's whole range at once: one batch, the
/// outcome of `pull(start, end)`, an error scrubbed by `redactor`. A request with
/// breakdowns is refused (the connector reports at one level).
pub(crate) fn whole_range_stream<F>(
    source: &str,
    request: &crate::ConnectorRequest,
    redactor: Redactor,
    pull: impl FnOnce(chrono::NaiveDate, chrono::NaiveDate) -> F,
) -> Result<crate::RecordBatchStream>
where
    F: Future<Output = Result<arrow::array::RecordBatch>> + Send + 'static,
{
    if !request.breakdowns.is_empty() {
        return Err(Error::InvalidRequest {
            message: format!("{source}: breakdowns are not supported"),
        });
    }
    let pulled = pull(request.start(), request.end());
    Ok(Box::pin(futures::stream::once(async move {
        pulled.await.map_err(|e| redactor.scrub(e))
    })))
}

/// A reply body decoded as `T`; a body that does not fit names the JSON path where it
/// stopped fitting.
pub(crate) fn decode_for<T: serde::de::DeserializeOwned>(source: &str, body: &[u8]) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| Error::Decode {
        source_name: source.into(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// A number type the connectors read from an API's text.
pub(crate) trait ParseNumber: std::str::FromStr {
    /// Whether `self` is a value rather than an overflow or a placeholder (`NaN`).
    fn is_value(&self) -> bool {
        true
    }
}

impl ParseNumber for i64 {}

impl ParseNumber for f64 {
    fn is_value(&self) -> bool {
        self.is_finite()
    }
}

/// `text` (trimmed) as a number; `None` for anything else, including what Rust's float
/// parser accepts but no API means as a value: `NaN`, `inf`, `infinity` and literals that
/// overflow to infinity (`1e400`).
pub(crate) fn parse_number<T: ParseNumber>(text: &str) -> Option<T> {
    text.trim().parse::<T>().ok().filter(T::is_value)
}

/// `source`'s [`Error::Decode`]: what stood at `path` did not read.
pub(crate) fn decode_error(source: &str, path: String, message: String) -> Error {
    Error::Decode {
        source_name: source.to_owned(),
        path,
        message,
    }
}

pub(crate) fn config_error(source: &str, message: &str) -> Error {
    Error::Config {
        source_name: source.to_owned(),
        message: message.to_owned(),
    }
}

/// Checks a base URL: https anywhere, plain http only on loopback hosts.
pub(crate) fn validate_base_url(source: &str, raw_text: &str) -> Result<url::Url> {
    // Errors show the URL without anything between `://` and `@` (user info a user may
    // have written there is a credential).
    let shown = without_user_info(raw_text);
    let raw = shown.as_str();
    let url = url::Url::parse(raw_text.trim_end_matches('/'))
        .map_err(|e| config_error(source, &format!("base URL `{raw}` is not a valid URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config_error(
            source,
            &format!(
                "base URL `{raw}` holds credentials (`user:password@`); give them through the variables the source reads instead (the value is not shown)"
            ),
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(url)
            } else {
                Err(config_error(
                    source,
                    &format!(
                        "base URL `{raw}` uses plain http; http is allowed only for loopback addresses, use https"
                    ),
                ))
            }
        }
        other => Err(config_error(
            source,
            &format!("base URL `{raw}` has unsupported scheme `{other}`"),
        )),
    }
}

/// `raw` with the user info of its authority (between `://` and the `@` before the
/// first `/`, `?` or `#`) replaced by `***`: what an error may print of a URL as typed.
pub(crate) fn without_user_info(raw: &str) -> String {
    let Some(start) = raw.find("://").map(|i| i + 3) else {
        return raw.to_owned();
    };
    let rest = &raw[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{}***{}", &raw[..start], &rest[at..]),
        None => raw.to_owned(),
    }
}

/// The base URL without a trailing slash.
pub(crate) fn base_str(url: &url::Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

impl HttpCore {
    pub(crate) fn new(
        source: &'static str,
        config: RetryConfig,
        clock: Arc<dyn Clock>,
        redactor: Redactor,
        progress: Progress,
    ) -> Result<Self> {
        config.validate(source)?;
        // reqwest is built with rustls and no default provider: install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("liftos-connectors/", env!("CARGO_PKG_VERSION")))
            .redirect(redirect_policy())
            .build()
            .map_err(|e| {
                config_error(
                    source,
                    &format!("cannot build the HTTP client: {}", e.without_url()),
                )
            })?;
        let rng = Mutex::new(ChaCha8Rng::seed_from_u64(config.seed));
        Ok(Self {
            source,
            client,
            config,
            clock,
            rng,
            redactor,
            progress,
        })
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Starts the budget of one pull.
    pub(crate) fn budget(&self) -> Arc<PullBudget> {
        Arc::new(PullBudget {
            started: self.clock.now(),
            spent: Mutex::new(Spent::default()),
            pause_until: Mutex::new(None),
        })
    }

    fn elapsed(&self, budget: &PullBudget) -> Duration {
        self.clock.now().saturating_sub(budget.started)
    }

    /// Sends the request `make` builds until `classify` accepts the answer, retrying
    /// transient failures within the pull's budget and deadline.
    ///
    /// Each attempt (send and body) runs at most until the pull's deadline; the body is
    /// read chunk by chunk and refused past `max_body_bytes`. Retries are logged
    /// (`tracing` WARN: source, attempt, status, wait, reason; never a URL).
    pub(crate) async fn execute<M, C>(
        &self,
        budget: &PullBudget,
        make: M,
        classify: C,
    ) -> Result<Reply>
    where
        M: Fn() -> reqwest::RequestBuilder,
        C: Fn(&Reply) -> Verdict,
    {
        self.execute_with(budget, make, classify, None).await
    }

    /// [`execute`](Self::execute), or with `not_idempotent = Some(what)` for a request
    /// that is not idempotent (`what`: a POST that creates a report run): it is sent
    /// again only when it certainly did not reach the platform (the connection was
    /// refused) or the platform answered with an error that `classify` calls transient.
    /// A failure after sending (a timeout, an answer cut off) is [`Error::Unconfirmed`],
    /// for the caller to resolve another way.
    pub(crate) async fn execute_with<M, C>(
        &self,
        budget: &PullBudget,
        make: M,
        classify: C,
        not_idempotent: Option<&str>,
    ) -> Result<Reply>
    where
        M: Fn() -> reqwest::RequestBuilder,
        C: Fn(&Reply) -> Verdict,
    {
        self.wait_out_pressure(budget).await?;
        let mut attempt: u32 = 0;
        let mut last = String::from("no attempt finished");
        loop {
            attempt += 1;
            let remaining = self.config.deadline.saturating_sub(self.elapsed(budget));
            if remaining.is_zero() {
                return Err(self.deadline(budget, attempt - 1, None, last));
            }
            let sent = tokio::time::timeout(remaining, self.attempt(make())).await;
            let outcome = match sent {
                Err(_) => {
                    return Err(self.deadline(
                        budget,
                        attempt,
                        None,
                        format!("attempt {attempt} still running at the deadline"),
                    ));
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Err(failure))) => {
                    if let Some(what) = not_idempotent
                        && failure.maybe_sent
                    {
                        return Err(Error::Unconfirmed {
                            source_name: self.source.into(),
                            what: what.to_owned(),
                            message: self.redactor.redact(&failure.reason),
                        });
                    }
                    Step::Retry {
                        after: None,
                        status: None,
                        reason: failure.reason,
                    }
                }
                Ok(Ok(Ok(reply))) => match classify(&reply) {
                    Verdict::Ok { pause } => {
                        {
                            let mut spent =
                                budget.spent.lock().unwrap_or_else(PoisonError::into_inner);
                            spent.answered = spent.answered.saturating_add(1);
                        }
                        if let Some(p) = pause {
                            // Waited out before the pull's next request, if there is one
                            // (refused there when longer than `max_retry_wait`).
                            let until = self.clock.now().saturating_add(p);
                            let mut slot = budget
                                .pause_until
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner);
                            *slot = Some(slot.map_or(until, |u| u.max(until)));
                        }
                        return Ok(reply);
                    }
                    Verdict::Retry { after, reason } => Step::Retry {
                        after,
                        status: Some(reply.status),
                        reason,
                    },
                    Verdict::Fail(e) => Step::Fail(e),
                },
            };
            match outcome {
                Step::Fail(e) => return Err(e),
                Step::Retry {
                    after,
                    status,
                    reason,
                } => {
                    let reason = self.redactor.redact(&reason);
                    last = reason.clone();
                    if let Some(wait) = after
                        && wait > self.config.max_retry_wait
                    {
                        return Err(Error::Throttled {
                            source_name: self.source.into(),
                            retry_after_secs: wait.as_secs(),
                            max_wait_secs: self.config.max_retry_wait.as_secs(),
                            message: reason,
                        });
                    }
                    // This request's retries so far: `attempt - 1`.
                    {
                        let mut spent = budget.spent.lock().unwrap_or_else(PoisonError::into_inner);
                        let limit = if attempt > self.config.max_retries {
                            Some(ExhaustedLimit::Request)
                        } else if spent.retries >= spent.budget(&self.config) {
                            Some(ExhaustedLimit::Pull)
                        } else {
                            None
                        };
                        if let Some(limit) = limit {
                            let spent = *spent;
                            return Err(self.exhausted(budget, spent, limit, attempt, reason));
                        }
                        spent.retries += 1;
                    }
                    let backoff = {
                        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
                        self.config.backoff(attempt - 1, &mut rng)
                    };
                    let wait = after.map_or(backoff, |a| a.max(backoff));
                    if self.elapsed(budget).saturating_add(wait) > self.config.deadline {
                        return Err(self.deadline(
                            budget,
                            attempt,
                            Some(wait),
                            format!("retry {attempt} after {reason}"),
                        ));
                    }
                    tracing::warn!(
                        source = self.source,
                        attempt,
                        status = status.unwrap_or(0),
                        wait_ms = wait.as_millis() as u64,
                        reason = %reason,
                        "retrying"
                    );
                    self.progress.retry();
                    self.clock.sleep(wait).await;
                }
            }
        }
    }

    /// Waits out the usage-pressure pause an earlier answer of this pull asked for. A
    /// pause longer than `max_retry_wait` is [`Error::Throttled`], one that would pass
    /// the pull's deadline the deadline error, at once, as a retry's wait is.
    async fn wait_out_pressure(&self, budget: &PullBudget) -> Result<()> {
        let until = *budget
            .pause_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(until) = until else {
            return Ok(());
        };
        let wait = until.saturating_sub(self.clock.now());
        if wait.is_zero() {
            return Ok(());
        }
        if wait > self.config.max_retry_wait {
            return Err(Error::Throttled {
                source_name: self.source.into(),
                retry_after_secs: wait.as_secs(),
                max_wait_secs: self.config.max_retry_wait.as_secs(),
                message: "usage pressure: an answer asked for this pause before the next request"
                    .into(),
            });
        }
        if self.elapsed(budget).saturating_add(wait) > self.config.deadline {
            return Err(self.deadline(
                budget,
                0,
                Some(wait),
                "usage pressure: the pause the platform asked for before the next request".into(),
            ));
        }
        tracing::debug!(
            source = self.source,
            pause_ms = wait.as_millis() as u64,
            "usage pressure: pausing"
        );
        self.clock.sleep(wait).await;
        Ok(())
    }

    /// Sleeps `wait`, a wait the connector itself sets (a rate limit's spacing, a report
    /// interval, the polling of a report run), unless it would end past the pull's
    /// deadline: then fails at once with [`Error::Deadline`] saying what was waited for
    /// (`what`) and for how long, instead of sleeping and failing after.
    pub(crate) async fn sleep_within_deadline(
        &self,
        budget: &PullBudget,
        wait: Duration,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        if wait.is_zero() {
            return Ok(());
        }
        if self.elapsed(budget).saturating_add(wait) > self.config.deadline {
            return Err(self.deadline(budget, 0, Some(wait), what()));
        }
        self.clock.sleep(wait).await;
        Ok(())
    }

    /// One attempt: `Ok(Ok(reply))`, `Ok(Err(failure))` for a transient transport
    /// failure, `Err` for a permanent one (a refused redirect, a body over the cap).
    async fn attempt(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<std::result::Result<Reply, Transient>> {
        let mut resp = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_redirect() => {
                return Err(Error::CrossOrigin {
                    source_name: self.source.into(),
                    what: "redirect".into(),
                    message: self.describe(&e),
                });
            }
            // A refused or failed connection never carried the request; anything
            // else (a timeout waiting for the answer, a reset) may have.
            Err(e) => {
                return Ok(Err(Transient {
                    maybe_sent: !e.is_connect(),
                    reason: self.describe(&e),
                }));
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let cap = self.config.max_body_bytes;
        let too_large = |received: u64| Error::BodyTooLarge {
            source_name: self.source.into(),
            status,
            limit_bytes: cap,
            received_bytes: received,
        };
        if let Some(len) = resp.content_length()
            && len > cap
        {
            return Err(too_large(len));
        }
        let initial = resp.content_length().unwrap_or(0).min(cap).min(1 << 20);
        let mut body: Vec<u8> = Vec::with_capacity(initial as usize);
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let received = body.len() as u64 + chunk.len() as u64;
                    if received > cap {
                        return Err(too_large(received));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Ok(Err(Transient {
                        maybe_sent: true,
                        reason: format!("HTTP {status}, body interrupted: {}", self.describe(&e)),
                    }));
                }
            }
        }
        Ok(Ok(Reply {
            status,
            headers,
            body,
        }))
    }

    /// The deadline error: reached (`wait: None`), or about to be passed by `wait`, which
    /// was not slept (`last` then says what it was for).
    fn deadline(
        &self,
        budget: &PullBudget,
        attempts: u32,
        wait: Option<Duration>,
        last: String,
    ) -> Error {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Error::Deadline {
            source_name: self.source.into(),
            deadline_ms: ms(self.config.deadline),
            elapsed_ms: ms(self.elapsed(budget)),
            attempts,
            wait_ms: wait.map(ms),
            last: self.redactor.redact(&last),
        }
    }

    /// The error of a request that may not be retried: `limit` ran out after its
    /// `attempts`, with `spent` the pull's retries and answers at that moment.
    fn exhausted(
        &self,
        budget: &PullBudget,
        spent: Spent,
        limit: ExhaustedLimit,
        attempts: u32,
        last: String,
    ) -> Error {
        let config = &self.config;
        let total = spent.budget(config);
        let limit = match limit {
            ExhaustedLimit::Request => format!(
                "the request's retries (`max_retries` = {}) are spent",
                config.max_retries
            ),
            ExhaustedLimit::Pull => format!(
                "the pull's budget of {total} retries is spent (`max_retries` = {} + \
                 `retries_per_answer` = {} × {} answered requests)",
                config.max_retries, config.retries_per_answer, spent.answered
            ),
        };
        Error::RetriesExhausted {
            source_name: self.source.into(),
            attempts,
            retries: spent.retries,
            budget: total,
            limit,
            elapsed_ms: u64::try_from(self.elapsed(budget).as_millis()).unwrap_or(u64::MAX),
            last: self.redactor.redact(&last),
        }
    }

    /// A transport error as text, without the URL (it may hold a token).
    fn describe(&self, e: &reqwest::Error) -> String {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else if e.is_body() || e.is_decode() {
            "response body interrupted"
        } else {
            "request failed"
        };
        let mut msg = format!("{kind}: {}", DisplayChain(e));
        msg = self.redactor.redact(&msg);
        msg
    }
}

/// A transport failure worth retrying, and whether the request may have reached the
/// server.
struct Transient {
    maybe_sent: bool,
    reason: String,
}

/// What `execute` does after a failed attempt.
enum Step {
    Retry {
        after: Option<Duration>,
        status: Option<u16>,
        reason: String,
    },
    Fail(Error),
}

struct DisplayChain<'a>(&'a reqwest::Error);

impl fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Print the error without its URL, then its sources.
        let mut text = self.0.to_string();
        if let Some(url) = self.0.url() {
            text = text.replace(url.as_str(), "<url>");
        }
        write!(f, "{text}")?;
        let mut src = std::error::Error::source(self.0);
        while let Some(s) = src {
            write!(f, ": {s}")?;
            src = s.source();
        }
        Ok(())
    }
}

/// Where a paginated listing stands.
enum Cursor {
    Start,
    Next(String),
    Done,
}

/// Turns "fetch the page after `token` → (items, next token)" into a stream of items.
///
/// The first call gets `None`. The stream ends when a page has no next token, and fails
/// with [`Error::PageLoop`] when a token repeats (a server that loops would otherwise
/// never end) or with [`Error::TooManyPages`] once `max_pages` pages were fetched and the
/// server still sends a next token. Tokens in errors go through [`display_url`]: a Meta
/// `paging.next` carries the access token.
pub(crate) fn paginate<T, F, Fut>(
    source: &'static str,
    max_pages: u64,
    redactor: Redactor,
    fetch: F,
) -> impl Stream<Item = Result<T>> + Send
where
    T: Send + 'static,
    F: FnMut(Option<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(T, Option<String>)>> + Send + 'static,
{
    struct State<F> {
        fetch: F,
        cursor: Cursor,
        seen: HashSet<String>,
        pages: u64,
        redactor: Redactor,
    }
    let state = State {
        fetch,
        cursor: Cursor::Start,
        seen: HashSet::new(),
        pages: 0,
        redactor,
    };
    futures::stream::try_unfold(state, move |mut st| async move {
        let token = match std::mem::replace(&mut st.cursor, Cursor::Done) {
            Cursor::Done => return Ok(None),
            Cursor::Start => None,
            Cursor::Next(t) => Some(t),
        };
        if token.is_some() && st.pages >= max_pages {
            return Err(Error::TooManyPages {
                source_name: source.into(),
                pages: st.pages,
                limit: max_pages,
            });
        }
        let (items, next) = (st.fetch)(token).await?;
        st.pages += 1;
        if let Some(n) = next {
            if !st.seen.insert(n.clone()) {
                return Err(Error::PageLoop {
                    source_name: source.into(),
                    token: display_url(&st.redactor, &n),
                    pages: st.pages,
                });
            }
            st.cursor = Cursor::Next(n);
        }
        Ok(Some((items, st)))
    })
    .boxed()
}

/// Splits `start..=end` into chunks of at most `days` days.
pub(crate) fn date_chunks(
    start: chrono::NaiveDate,
    end: chrono::NaiveDate,
    days: u32,
) -> Vec<(chrono::NaiveDate, chrono::NaiveDate)> {
    let mut out = Vec::new();
    let mut s = start;
    let step = i64::from(days.max(1));
    while s <= end {
        let e = (s + chrono::Duration::days(step - 1)).min(end);
        out.push((s, e));
        s = e + chrono::Duration::days(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    #[test]
    fn backoff_grows_is_capped_and_jittered_reproducibly() {
        let cfg = RetryConfig::default();
        let mut a = ChaCha8Rng::seed_from_u64(1);
        let mut b = ChaCha8Rng::seed_from_u64(1);
        let da: Vec<_> = (0..12).map(|k| cfg.backoff(k, &mut a)).collect();
        let db: Vec<_> = (0..12).map(|k| cfg.backoff(k, &mut b)).collect();
        assert_eq!(da, db);
        assert!(da[0] >= Duration::from_millis(250) && da[0] <= Duration::from_millis(500));
        assert!(da[11] <= cfg.max_backoff && da[11] >= cfg.max_backoff / 2);
    }

    #[test]
    fn plain_http_only_for_loopback() {
        assert!(validate_base_url("meta", "http://127.0.0.1:8080").is_ok());
        assert!(validate_base_url("meta", "http://localhost:1").is_ok());
        assert!(validate_base_url("meta", "https://graph.facebook.com").is_ok());
        let err = validate_base_url("meta", "http://graph.facebook.com").unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
    }

    /// A base URL with user info is refused, and no error prints the password: it had
    /// been accepted (sent as basic authentication) and echoed whole by the plain-http
    /// and invalid-URL errors.
    #[test]
    fn a_base_url_with_credentials_is_refused_and_never_echoed() {
        for raw in [
            "https://me:hunter2@api.example.com/v1",
            "http://me:hunter2@api.example.com",
            "https://me:hunter2@exa mple.com",
            "https://hunter2@api.example.com",
        ] {
            let err = validate_base_url("rest", raw).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("***@"), "{err}");
        }
        assert_eq!(
            without_user_info("https://a:b@h.com/p?x=@y"),
            "https://***@h.com/p?x=@y"
        );
        assert_eq!(without_user_info("https://h.com/p@x"), "https://h.com/p@x");
    }

    #[test]
    fn date_chunks_cover_the_range_once() {
        let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        let c = date_chunks(d("2024-01-01"), d("2024-03-10"), 31);
        assert_eq!(c.first().unwrap().0, d("2024-01-01"));
        assert_eq!(c.last().unwrap().1, d("2024-03-10"));
        for w in c.windows(2) {
            assert_eq!(w[0].1 + chrono::Duration::days(1), w[1].0);
        }
    }

    #[tokio::test]
    async fn paginate_stops_without_next_and_detects_loops() {
        let pages = paginate(
            "t",
            100,
            Redactor::default(),
            |tok: Option<String>| async move {
                let n: u32 = tok.map_or(0, |t| t.parse().unwrap());
                Ok((n, (n < 3).then(|| (n + 1).to_string())))
            },
        );
        let got: Vec<u32> = pages.try_collect().await.unwrap();
        assert_eq!(got, vec![0, 1, 2, 3]);
        let looping = paginate(
            "t",
            100,
            Redactor::default(),
            |_tok: Option<String>| async move { Ok((1u32, Some("same".to_string()))) },
        );
        let err = looping.try_collect::<Vec<_>>().await.unwrap_err();
        assert!(matches!(err, Error::PageLoop { pages: 2, .. }), "{err}");
    }

    #[tokio::test]
    async fn paginate_stops_at_the_page_bound() {
        let mut n = 0u64;
        let endless = paginate("t", 7, Redactor::default(), move |_tok: Option<String>| {
            n += 1;
            let next = n.to_string();
            async move { Ok((1u32, Some(next))) }
        });
        let err = endless.try_collect::<Vec<_>>().await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooManyPages {
                    pages: 7,
                    limit: 7,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("max_pages"), "{err}");
    }

    #[test]
    fn page_bound_grows_with_the_range_under_the_hard_cap() {
        let c = RetryConfig::default();
        assert_eq!(c.page_bound(1), 1100);
        assert_eq!(c.page_bound(30), 4000);
        assert_eq!(c.page_bound(100_000), 50_000);
        assert_eq!(c.with_max_pages(10).page_bound(30), 10);
    }

    #[test]
    fn same_origin_compares_parsed_scheme_host_and_port() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let base = u("http://127.0.0.1:18202/v25.0");
        assert!(same_origin(&base, &u("http://127.0.0.1:18202/x?y=1")));
        // A string-prefix check would accept these.
        assert!(!same_origin(&u("http://127.0.0.1:1820"), &base));
        assert!(!same_origin(&base, &u("http://127.0.0.1:18203/")));
        assert!(!same_origin(
            &base,
            &u("http://127.0.0.1:18202@127.0.0.2:18204/")
        ));
        assert!(!same_origin(
            &u("https://a.klaviyo.com"),
            &u("http://a.klaviyo.com")
        ));
        assert!(same_origin(
            &u("https://a.klaviyo.com"),
            &u("https://a.klaviyo.com:443/api")
        ));
        assert!(!same_origin(
            &u("https://a.klaviyo.com"),
            &u("https://a.klaviyo.com.evil.test")
        ));
    }

    #[test]
    fn links_to_other_origins_downgrades_and_user_info_are_refused() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let base = u("https://graph.facebook.com");
        assert!(
            check_link(
                "meta",
                "paging.next",
                &base,
                "https://graph.facebook.com/v1?a=1"
            )
            .is_ok()
        );
        let err =
            check_link("meta", "paging.next", &base, "http://graph.facebook.com/v1").unwrap_err();
        assert!(
            matches!(err, Error::CrossOrigin { .. }) && err.to_string().contains("downgrade"),
            "{err}"
        );
        let err = check_link(
            "meta",
            "paging.next",
            &base,
            "https://graph.facebook.com.evil.test/",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("graph.facebook.com.evil.test"),
            "{err}"
        );
        let err = check_link(
            "meta",
            "paging.next",
            &base,
            "https://u:p@graph.facebook.com/",
        )
        .unwrap_err();
        assert!(err.to_string().contains("user info"), "{err}");
    }

    #[test]
    fn display_url_hides_credential_parameters_and_user_info() {
        let r = Redactor::default();
        r.add(&SecretString::from("pk_custom_secret"));
        let shown = display_url(
            &r,
            "https://user:pw@graph.facebook.com/v25.0/act_1/insights?access_token=EAAB%7Cxyz&appsecret_proof=abc123&after=QVFI&x=pk_custom_secret",
        );
        assert_eq!(
            shown,
            "https://graph.facebook.com/v25.0/act_1/insights?access_token=%5BREDACTED%5D&appsecret_proof=%5BREDACTED%5D&after=QVFI&x=[REDACTED]"
        );
    }

    #[test]
    fn redactor_finds_encoded_and_runtime_secrets() {
        let r = Redactor::default();
        r.add(&SecretString::from("123|app secret/x"));
        let shared = r.clone();
        shared.add(&SecretString::from("ya29.runtime-token"));
        for text in [
            "t=123|app secret/x",
            "t=123%7Capp+secret%2Fx",
            "t=123%7capp%20secret%2fx",
            "t=123%7Capp secret\\/x",
            "t=%31%32%33%7C%61pp%20secret/x",
            // A whole URL encoded again (the audit's `SEKRITtok%257Cen%252B…`): every
            // escape's `%` encoded once or twice more, mixed with single escapes.
            "t=123%257Capp%2520secret%252Fx",
            "t=123%25257capp%20secret%2F%2578",
            "Bearer ya29.runtime-token",
        ] {
            let out = r.redact(text);
            assert!(out.ends_with("[REDACTED]"), "{text} -> {out}");
            assert!(
                !out.contains("secret") && !out.contains("ya29"),
                "{text} -> {out}"
            );
        }
        assert_eq!(r.redact("nothing here: 123%7"), "nothing here: 123%7");
        assert_eq!(r.redact("123%2525"), "123%2525");
        // A `%` in the secret: literal, once encoded, or twice.
        let p = Redactor::default();
        p.add(&SecretString::from("ab%cd"));
        for text in ["ab%cd", "ab%25cd", "ab%2525cd", "%61b%2525cd"] {
            assert_eq!(p.redact(text), "[REDACTED]", "{text}");
        }
        assert_eq!(r.redact("é ünïcode"), "é ünïcode");
    }

    /// JSON string escapes of any character of a secret, as Go (`\u003c \u003e
    /// \u0026`), .NET (`\u002B`, upper-case hex) or an escape-everything encoder write
    /// them, mixed with the other forms; non-ASCII secrets in surrogate pairs too.
    #[test]
    fn redactor_finds_json_escaped_secrets() {
        let r = Redactor::default();
        for s in [
            "k3y+SECRET&api<key>",
            "pa\"ss\\wörd/😀x",
            "tab\tnew\nline",
            "50%off%key",
        ] {
            r.add(&SecretString::from(s));
        }
        for text in [
            r#"{"error":"invalid key \"k3y\u002bSECRET\u0026api\u003ckey\u003e\""}"#,
            r#"{"error":"invalid key \"k3y\u002BSECRET\u0026api\u003Ckey\u003E\""}"#,
            r#"{"e":"\u006b\u0033\u0079\u002b\u0053\u0045\u0043\u0052\u0045\u0054\u0026\u0061\u0070\u0069\u003c\u006b\u0065\u0079\u003e"}"#,
            r#"{"e":"k3y%2BSECRET\u0026api%3ckey\u003e"}"#,
            r#"{"e":"pa\"ss\\w\u00f6rd\/\ud83d\ude00x"}"#,
            r#"{"e":"pa\u0022ss\u005cw\u00F6rd/\uD83D\uDE00x"}"#,
            r#"{"e":"tab\tnew\nline"}"#,
            r#"{"e":"tab\u0009new\u000aline"}"#,
            r#"{"e":"50%off\u0025key"}"#,
            r#"{"e":"50%25off%key"}"#,
        ] {
            let out = r.redact(text);
            assert!(out.contains("[REDACTED]"), "{text} -> {out}");
            for part in ["SECRET", "\\u0053", "api", "ss", "line", "off"] {
                assert!(!out.contains(part), "{text} -> {out}");
            }
            // What is left decodes to no secret either.
            let decoded: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert!(!decoded.to_string().contains("SECRET"), "{out}");
        }
        // A near miss (one escaped character differs) is left alone.
        let near = r#"{"e":"k3y\u002bSECRET\u0026api\u003ckez\u003e"}"#;
        assert_eq!(r.redact(near), near);
    }

    #[test]
    fn retry_after_reads_delay_seconds_and_http_dates_from_the_servers_date() {
        let at = |text: &str| httpdate::parse_http_date(text).unwrap();
        let local = at("Sun, 06 Dec 2026 20:00:00 GMT");
        let wait = |value: &str, date: Option<&str>| retry_after_wait(value, date, local);
        assert_eq!(wait(" 120 ", None), Some(Duration::from_secs(120)));
        assert_eq!(wait("1.5", None), Some(Duration::from_millis(1500)));
        assert_eq!(wait("1e20", None), Some(Duration::MAX));
        assert_eq!(wait("-5", None), None);
        // The server's clock, when it sent one: here eleven years behind the local one.
        let server = Some("Wed, 21 Oct 2015 07:28:00 GMT");
        for value in [
            "Wed, 21 Oct 2015 07:28:45 GMT",
            "Wednesday, 21-Oct-15 07:28:45 GMT",
            "Wed Oct 21 07:28:45 2015",
        ] {
            assert_eq!(
                wait(value, server),
                Some(Duration::from_secs(45)),
                "{value}"
            );
        }
        // Past: retry now.
        assert_eq!(
            wait("Wed, 21 Oct 2015 07:00:00 GMT", server),
            Some(Duration::ZERO)
        );
        // No Date, or one that does not read: the local clock.
        for date in [None, Some("yesterday")] {
            assert_eq!(
                wait("Sun, 06 Dec 2026 20:01:30 GMT", date),
                Some(Duration::from_secs(90))
            );
            assert_eq!(
                wait("Wed, 21 Oct 2015 07:28:45 GMT", date),
                Some(Duration::ZERO)
            );
        }
        // Neither form: no wait asked (the backoff applies).
        for value in ["soon", "", "Wed, 32 Oct 2015 07:28:45 GMT", "nan"] {
            assert_eq!(wait(value, server), None, "{value}");
        }
    }

    #[test]
    fn snippets_are_redacted_before_they_are_cut() {
        let r = Redactor::default();
        r.add(&SecretString::from("sekret-token-0123456789"));
        let mut body = "x".repeat(495);
        body.push_str("sekret-token-0123456789");
        let reply = Reply {
            status: 400,
            headers: HeaderMap::new(),
            body: body.into_bytes(),
        };
        let s = reply.snippet(&r);
        assert!(!s.contains("sekret"), "{s}");
        assert!(s.ends_with('…'), "{s}");
    }

    #[test]
    fn http_settings_apply_and_reject_bad_values() {
        let s = HttpSettings {
            timeout_secs: Some(1.5),
            max_body_mib: Some(0.5),
            max_pages: Some(9),
            ..HttpSettings::default()
        };
        let c = s.apply("meta", RetryConfig::default()).unwrap();
        assert_eq!(c.deadline, Duration::from_millis(1500));
        assert_eq!(c.max_body_bytes, 512 * 1024);
        assert_eq!(c.max_pages, 9);
        let over = HttpSettings {
            max_pages: Some(3),
            ..HttpSettings::default()
        };
        assert_eq!(s.overridden_by(&over).max_pages, Some(3));
        assert_eq!(s.overridden_by(&over).timeout_secs, Some(1.5));
        for bad in [
            HttpSettings {
                timeout_secs: Some(-1.0),
                ..HttpSettings::default()
            },
            HttpSettings {
                request_timeout_secs: Some(0.0),
                ..HttpSettings::default()
            },
            HttpSettings {
                max_body_mib: Some(f64::NAN),
                ..HttpSettings::default()
            },
            HttpSettings {
                max_pages: Some(0),
                ..HttpSettings::default()
            },
        ] {
            assert!(
                bad.apply("meta", RetryConfig::default()).is_err(),
                "{bad:?}"
            );
        }
        // An absurd timeout (audit 47: 1e19 s was accepted and the deadline error then
        // printed a wrapped number of milliseconds) is refused, naming the key; 30 days is
        // the most.
        let huge = HttpSettings {
            timeout_secs: Some(1e19),
            ..HttpSettings::default()
        };
        let err = huge
            .apply("meta", RetryConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("timeout_secs = 1e19") && err.contains("at most 2592000"),
            "{err}"
        );
        let month = HttpSettings {
            connect_timeout_secs: Some(2_592_000.0),
            ..HttpSettings::default()
        };
        assert!(month.apply("meta", RetryConfig::default()).is_ok());
        let over = RetryConfig {
            deadline: MAX_CONFIGURED_TIMEOUT + Duration::from_secs(1),
            ..RetryConfig::default()
        };
        assert!(over.validate("meta").is_err());
    }

    #[test]
    fn printable_escapes_terminal_controls_and_keeps_the_rest() {
        assert_eq!(printable("plain é 😀 text"), "plain é 😀 text");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(
            printable("\u{1b}[2J\u{1b}]0;pwned\u{7}\r\nx\u{9b}31m\u{7f}\u{202e}y"),
            "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{d}\\u{a}x\\u{9b}31m\\u{7f}\\u{202e}y"
        );
        // Idempotent: what it writes holds no control character.
        let once = printable("\u{1b}[31m").into_owned();
        assert_eq!(printable(&once), once);
    }

    #[test]
    fn redactor_hides_secrets() {
        let r = Redactor::default();
        r.add(&SecretString::from("sekret-token"));
        assert_eq!(r.redact("bad sekret-token here"), "bad [REDACTED] here");
        assert!(!format!("{r:?}").contains("sekret"));
    }
}
