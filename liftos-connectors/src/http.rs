//! The HTTP core shared by every platform connector: one client, one retry policy, one
//! pagination helper, progress counters, and secret redaction.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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
/// | `max_retries` | 10 | retries one pull may spend in total (its budget) | ≥ 0 |
/// | `initial_backoff` | 500 ms | first backoff | > 0 |
/// | `max_backoff` | 60 s | cap of the exponential backoff | ≥ `initial_backoff` |
/// | `multiplier` | 2.0 | backoff growth per attempt | ≥ 1 |
/// | `max_retry_wait` | 15 min | longest platform-requested wait accepted; longer waits (daily caps) fail at once | > 0 |
/// | `request_timeout` | 120 s | timeout of one HTTP request, body included | > 0 |
/// | `connect_timeout` | 10 s | TCP/TLS connect timeout | > 0 |
/// | `deadline` | 1 h | overall time budget of one pull | > 0 |
/// | `concurrency` | 4 | accounts or date chunks pulled at once | ≥ 1 |
/// | `seed` | 42 | seed of the backoff jitter | any |
///
/// The backoff before retry `k` (0-based) is `min(max_backoff, initial_backoff ·
/// multiplierᵏ)` with equal jitter (half fixed, half uniform), or the platform's own wait
/// (Retry-After, retryDelay, Meta's `estimated_time_to_regain_access`) when longer.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Retries one pull may spend in total.
    pub max_retries: u32,
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
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 10,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            multiplier: 2.0,
            max_retry_wait: Duration::from_secs(15 * 60),
            request_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(3600),
            concurrency: 4,
            seed: 42,
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
        if self.concurrency == 0 {
            return bad("retry: concurrency must be >= 1");
        }
        Ok(())
    }

    /// Sets the retry budget.
    pub fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }
    /// Sets the per-request timeout.
    pub fn with_request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }
    /// Sets the overall deadline of a pull.
    pub fn with_deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }
    /// Sets the concurrency.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }
    /// Sets the jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn backoff(&self, retry: u32, rng: &mut ChaCha8Rng) -> Duration {
        let base = self.initial_backoff.as_secs_f64() * self.multiplier.powi(retry.min(60) as i32);
        let capped = base.min(self.max_backoff.as_secs_f64());
        let half = capped / 2.0;
        Duration::from_secs_f64(half + rng.random_range(0.0..=half))
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

/// Replaces every configured secret in a text with `[REDACTED]`.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<SecretString>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub(crate) fn add(&mut self, s: &SecretString) {
        if s.expose_secret().len() >= 4 {
            self.secrets.push(s.clone());
        }
    }
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            out = out.replace(s.expose_secret(), "[REDACTED]");
        }
        out
    }
}

/// One HTTP answer, body read in full.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes_alias::Bytes,
}

mod bytes_alias {
    pub(crate) type Bytes = Vec<u8>;
}

impl Reply {
    /// The body as text, truncated to 500 characters.
    pub(crate) fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut s: String = text.chars().take(500).collect();
        if text.chars().count() > 500 {
            s.push('…');
        }
        s
    }
    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What to do with one answer.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Success: hand the reply back (optionally pausing first, on usage pressure).
    Ok { pause: Option<Duration> },
    /// Transient: retry after the backoff, or after the platform's wait when longer.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Permanent: fail with this error.
    Fail(Error),
}

/// Per-pull retry state: start time and retries spent.
#[derive(Debug)]
pub(crate) struct PullBudget {
    started: Duration,
    retries: AtomicU32,
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

pub(crate) fn config_error(source: &str, message: &str) -> Error {
    Error::Config {
        source_name: source.to_owned(),
        message: message.to_owned(),
    }
}

/// Checks a base URL: https anywhere, plain http only on loopback hosts.
pub(crate) fn validate_base_url(source: &str, raw: &str) -> Result<url::Url> {
    let url = url::Url::parse(raw.trim_end_matches('/'))
        .map_err(|e| config_error(source, &format!("base URL `{raw}` is not a valid URL: {e}")))?;
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
            retries: AtomicU32::new(0),
        })
    }

    fn elapsed(&self, budget: &PullBudget) -> Duration {
        self.clock.now().saturating_sub(budget.started)
    }

    /// Sends the request `make` builds until `classify` accepts the answer, retrying
    /// transient failures within the pull's budget and deadline.
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
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            if self.elapsed(budget) > self.config.deadline {
                return Err(self.exhausted(budget, attempt - 1, "overall deadline reached".into()));
            }
            let outcome = match make().send().await {
                Err(e) => Step::Retry {
                    after: None,
                    reason: self.describe(&e),
                },
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Err(e) => Step::Retry {
                            after: None,
                            reason: format!(
                                "HTTP {status}, body interrupted: {}",
                                self.describe(&e)
                            ),
                        },
                        Ok(body) => {
                            let reply = Reply {
                                status,
                                headers,
                                body: body.to_vec(),
                            };
                            match classify(&reply) {
                                Verdict::Ok { pause } => {
                                    if let Some(p) = pause {
                                        tracing::debug!(
                                            source = self.source,
                                            pause_ms = p.as_millis() as u64,
                                            "usage pressure: pausing"
                                        );
                                        self.clock.sleep(p.min(self.config.max_retry_wait)).await;
                                    }
                                    return Ok(reply);
                                }
                                Verdict::Retry { after, reason } => Step::Retry { after, reason },
                                Verdict::Fail(e) => Step::Fail(e),
                            }
                        }
                    }
                }
            };
            match outcome {
                Step::Fail(e) => return Err(e),
                Step::Retry { after, reason } => {
                    let reason = self.redactor.redact(&reason);
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
                    let spent = budget.retries.fetch_add(1, Ordering::SeqCst);
                    if spent >= self.config.max_retries {
                        return Err(self.exhausted(budget, attempt, reason));
                    }
                    let backoff = {
                        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
                        self.config.backoff(attempt - 1, &mut rng)
                    };
                    let wait = after.map_or(backoff, |a| a.max(backoff));
                    if self.elapsed(budget) + wait > self.config.deadline {
                        return Err(self.exhausted(
                            budget,
                            attempt,
                            format!(
                                "{reason} (next wait {} ms would pass the deadline)",
                                wait.as_millis()
                            ),
                        ));
                    }
                    tracing::warn!(source = self.source, attempt, wait_ms = wait.as_millis() as u64, reason = %reason, "retrying");
                    self.progress.retry();
                    self.clock.sleep(wait).await;
                }
            }
        }
    }

    fn exhausted(&self, budget: &PullBudget, attempts: u32, last: String) -> Error {
        Error::RetriesExhausted {
            source_name: self.source.into(),
            attempts,
            retries: budget
                .retries
                .load(Ordering::SeqCst)
                .min(self.config.max_retries),
            elapsed_ms: self.elapsed(budget).as_millis() as u64,
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

/// What `execute` does after a failed attempt.
enum Step {
    Retry {
        after: Option<Duration>,
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
/// never end) or after `max_pages` pages.
pub(crate) fn paginate<T, F, Fut>(
    source: &'static str,
    max_pages: u64,
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
    }
    let state = State {
        fetch,
        cursor: Cursor::Start,
        seen: HashSet::new(),
        pages: 0,
    };
    futures::stream::try_unfold(state, move |mut st| async move {
        let token = match std::mem::replace(&mut st.cursor, Cursor::Done) {
            Cursor::Done => return Ok(None),
            Cursor::Start => None,
            Cursor::Next(t) => Some(t),
        };
        if st.pages >= max_pages {
            return Err(Error::PageLoop {
                source_name: source.into(),
                token: token.unwrap_or_default(),
                pages: st.pages,
            });
        }
        let (items, next) = (st.fetch)(token).await?;
        st.pages += 1;
        if let Some(n) = next {
            if !st.seen.insert(n.clone()) {
                return Err(Error::PageLoop {
                    source_name: source.into(),
                    token: n,
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
        let pages = paginate("t", 100, |tok: Option<String>| async move {
            let n: u32 = tok.map_or(0, |t| t.parse().unwrap());
            Ok((n, (n < 3).then(|| (n + 1).to_string())))
        });
        let got: Vec<u32> = pages.try_collect().await.unwrap();
        assert_eq!(got, vec![0, 1, 2, 3]);
        let looping = paginate("t", 100, |_tok: Option<String>| async move {
            Ok((1u32, Some("same".to_string())))
        });
        let err = looping.try_collect::<Vec<_>>().await.unwrap_err();
        assert!(matches!(err, Error::PageLoop { pages: 2, .. }), "{err}");
    }

    #[test]
    fn redactor_hides_secrets() {
        let mut r = Redactor::default();
        r.add(&SecretString::from("sekret-token"));
        assert_eq!(r.redact("bad sekret-token here"), "bad [REDACTED] here");
        assert!(!format!("{r:?}").contains("sekret"));
    }
}
