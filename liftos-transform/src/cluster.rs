//! Cluster queries that are stopped before they finish (feature `distributed`): a time
//! limit, a [`QueryStopper`] (a signal in the CLI), or a caller that stops waiting (the
//! future dropped). In every case the job is cancelled on the scheduler (Ballista's
//! `CancelJob` call) and what happened is one [`StoppedQuery`] naming the cluster and the
//! job: cancelled, or why it could not be.
//!
//! A query on a cluster runs as a task of its own: a caller that stops waiting does not
//! stop the cancellation, which runs on while the caller's runtime does.
//! [`wait_for_cluster_queries`] waits for every such task of this process (a CLI calls it
//! before it exits) and returns what became of each query that was stopped.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{CancelJobParams, GetJobStatusParams, job_status};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::LogicalPlanNode;

use crate::sql::ClusterUrl;
use crate::{Error, Result};

/// How long a stopped query waits for the scheduler's answer to its submission, which
/// carries the job id that `CancelJob` needs.
const JOB_ID_WAIT: Duration = Duration::from_secs(10);
/// How long the `CancelJob` call (connecting included) may take.
const CANCEL_CALL_LIMIT: Duration = Duration::from_secs(10);
/// How long the scheduler may take to end a cancelled job (its status is checked).
const CANCEL_CONFIRM_LIMIT: Duration = Duration::from_secs(10);
/// The longest scheduler message an error quotes.
const MESSAGE_CHARS: usize = 300;
/// Reports kept for [`wait_for_cluster_queries`] (the oldest are dropped beyond this).
const KEPT_REPORTS: usize = 64;

/// Why a cluster query was stopped before it finished.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// It ran past the session's time limit ([`SqlSession::with_time_limit`]).
    ///
    /// [`SqlSession::with_time_limit`]: crate::SqlSession::with_time_limit
    TimeLimit(Duration),
    /// [`QueryStopper::stop`] was called, with this reason (e.g. `SIGINT`).
    Stopped(String),
    /// Its caller stopped waiting for it (the future was dropped).
    Abandoned,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::TimeLimit(limit) => write!(
                f,
                "the query ran past its time limit of {}",
                seconds(*limit)
            ),
            StopReason::Stopped(why) => write!(f, "the query was stopped ({why})"),
            StopReason::Abandoned => f.write_str("the query's caller stopped waiting for it"),
        }
    }
}

/// `5 s`, `1.5 s`, `0.25 s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        let text = format!("{s:.3}");
        format!("{} s", text.trim_end_matches('0'))
    }
}

/// What became of a stopped query's job on the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelOutcome {
    /// The scheduler cancelled the job, and reported it ended.
    Cancelled {
        /// The scheduler's job id.
        job_id: String,
    },
    /// The job ended on its own before it could be cancelled.
    AlreadyEnded {
        /// The scheduler's job id.
        job_id: String,
    },
    /// No job was submitted: the query was stopped before it reached the scheduler (or
    /// it did not run on the cluster).
    NotSubmitted,
    /// Cancelling failed: the job may still be running.
    Failed {
        /// The scheduler's job id, when it was known.
        job_id: Option<String>,
        /// Why (the scheduler's answer, shortened).
        message: String,
    },
}

impl CancelOutcome {
    /// The job id, when one was known.
    pub fn job_id(&self) -> Option<&str> {
        match self {
            CancelOutcome::Cancelled { job_id } | CancelOutcome::AlreadyEnded { job_id } => {
                Some(job_id)
            }
            CancelOutcome::Failed { job_id, .. } => job_id.as_deref(),
            CancelOutcome::NotSubmitted => None,
        }
    }

    /// Whether nothing can be left running on the cluster.
    pub fn is_settled(&self) -> bool {
        !matches!(self, CancelOutcome::Failed { .. })
    }
}

impl fmt::Display for CancelOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelOutcome::Cancelled { job_id } => {
                write!(f, "job {job_id} was cancelled on the scheduler")
            }
            CancelOutcome::AlreadyEnded { job_id } => {
                write!(f, "job {job_id} had already ended")
            }
            CancelOutcome::NotSubmitted => f.write_str("no job had been submitted"),
            CancelOutcome::Failed {
                job_id: Some(job_id),
                message,
            } => write!(
                f,
                "cancelling job {job_id} failed ({message}): it may still be running there"
            ),
            CancelOutcome::Failed {
                job_id: None,
                message,
            } => write!(
                f,
                "the job could not be cancelled ({message}): a job may still be running there"
            ),
        }
    }
}

/// A cluster query stopped before it finished: where, why, and what became of its job.
///
/// Its text is one line: `cluster `df://HOST:PORT`: the query ran past its time limit of
/// 5 s; job 3fKq7aB was cancelled on the scheduler`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedQuery {
    /// The cluster (`df://HOST:PORT`; it never holds a user name or password).
    pub url: String,
    /// Why the query was stopped.
    pub reason: StopReason,
    /// What became of its job.
    pub outcome: CancelOutcome,
}

impl fmt::Display for StoppedQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cluster `{}`: {}; {}",
            self.url, self.reason, self.outcome
        )
    }
}

/// Stops the cluster queries of the sessions it is given to
/// ([`SqlSession::with_stopper`]): the one running, whose job is cancelled on the
/// scheduler, and every later one, which then fails at once without submitting a job.
/// Clones share the state; it can be used from any thread (a signal handler's).
///
/// [`SqlSession::with_stopper`]: crate::SqlSession::with_stopper
#[derive(Clone)]
pub struct QueryStopper {
    reason: Arc<tokio::sync::watch::Sender<Option<String>>>,
}

impl fmt::Debug for QueryStopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryStopper")
            .field("stopped", &self.reason.borrow().is_some())
            .finish()
    }
}

impl Default for QueryStopper {
    fn default() -> Self {
        Self::new()
    }
}

impl QueryStopper {
    /// A stopper that has not stopped anything yet.
    pub fn new() -> Self {
        QueryStopper {
            reason: Arc::new(tokio::sync::watch::Sender::new(None)),
        }
    }

    /// Stops the running query and every later one; `reason` (e.g. `SIGINT`) goes into
    /// their errors. Returns at once: the cancellation runs in the query's task (see
    /// [`wait_for_cluster_queries`]). Later calls keep the first reason.
    pub fn stop(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.reason.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// The reason given to [`stop`](QueryStopper::stop), once it was called.
    pub fn stopped(&self) -> Option<String> {
        self.reason.borrow().clone()
    }

    fn subscribe(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.reason.subscribe()
    }
}

/// Resolves with the stop reason once there is one (never, if no stopper can set it).
async fn stop_requested(rx: &mut tokio::sync::watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(reason) = rx.borrow_and_update().clone() {
            return reason;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// The cluster queries under way in this process, and the reports of those stopped.
#[derive(Default)]
struct Registry {
    live: HashMap<u64, String>,
    reports: Vec<StoppedQuery>,
}

fn registry() -> &'static (Mutex<Registry>, Condvar) {
    static REGISTRY: std::sync::OnceLock<(Mutex<Registry>, Condvar)> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn lock_registry() -> MutexGuard<'static, Registry> {
    // The registry holds plain data: a panic elsewhere leaves it usable.
    registry()
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A query task's entry in the registry, removed (and waiters woken) when it ends.
struct Live(u64);

impl Live {
    fn register(url: &ClusterUrl) -> Live {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        lock_registry().live.insert(id, url.to_string());
        Live(id)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        lock_registry().live.remove(&self.0);
        registry().1.notify_all();
    }
}

fn report(stopped: &StoppedQuery) {
    let mut r = lock_registry();
    if r.reports.len() >= KEPT_REPORTS {
        r.reports.remove(0);
    }
    r.reports.push(stopped.clone());
}

/// Waits, at most `limit`, until no cluster query of this process is under way (a
/// stopped one ends once its job is cancelled), then returns what became of every query
/// stopped since the last call (the most recent 64), oldest first. Each query still under
/// way after `limit` is one more report, its outcome [`CancelOutcome::Failed`].
///
/// Blocking: call it outside async code (or in `spawn_blocking`). A CLI calls it after
/// stopping its queries ([`QueryStopper::stop`]) and before it exits, so that no job is
/// left running on the cluster without a word.
pub fn wait_for_cluster_queries(limit: Duration) -> Vec<StoppedQuery> {
    let deadline = Instant::now() + limit;
    let (_, condvar) = registry();
    let mut r = lock_registry();
    while !r.live.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        r = condvar
            .wait_timeout(r, left)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
    let mut reports = std::mem::take(&mut r.reports);
    let mut urls: Vec<&String> = r.live.values().collect();
    urls.sort();
    for url in urls {
        reports.push(StoppedQuery {
            url: url.clone(),
            reason: StopReason::Stopped("the process is ending".to_owned()),
            outcome: CancelOutcome::Failed {
                job_id: None,
                message: format!("still under way after {}", seconds(limit)),
            },
        });
    }
    reports
}

/// The node of a physical plan that submits it to the scheduler and learns its job id.
#[derive(Clone)]
struct JobSlot(Option<Arc<dyn ExecutionPlan>>);

impl JobSlot {
    fn of(plan: &Arc<dyn ExecutionPlan>) -> JobSlot {
        fn find(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
            if plan
                .downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
                .is_some()
            {
                return Some(Arc::clone(plan));
            }
            plan.children().into_iter().find_map(find)
        }
        JobSlot(find(plan))
    }

    /// Whether the plan runs on the cluster.
    fn submits(&self) -> bool {
        self.0.is_some()
    }

    /// The scheduler's job id, once it has answered the submission.
    fn job_id(&self) -> Option<String> {
        self.0
            .as_ref()?
            .downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()?
            .job_id()
            .map(|id| id.to_string())
    }
}

/// Runs `collect` (the execution of `plan`) on the cluster at `url` as a task of its own,
/// stopping it at `limit` or when `stopper` stops, or when this future is dropped: the
/// job is then cancelled on the scheduler and the error is a [`StoppedQuery`].
pub(crate) async fn run_stoppable<F>(
    url: &ClusterUrl,
    plan: &Arc<dyn ExecutionPlan>,
    collect: F,
    limit: Option<Duration>,
    stopper: &QueryStopper,
) -> Result<Vec<RecordBatch>>
where
    F: Future<Output = datafusion::error::Result<Vec<RecordBatch>>> + Send + 'static,
{
    let mut stop = stopper.subscribe();
    if let Some(reason) = stop.borrow_and_update().clone() {
        return Err(Error::ClusterQueryStopped(Box::new(StoppedQuery {
            url: url.to_string(),
            reason: StopReason::Stopped(reason),
            outcome: CancelOutcome::NotSubmitted,
        })));
    }
    let job = JobSlot::of(plan);
    let live = Live::register(url);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    // Dropped with this future: the task then stops the query.
    let (waiting, abandoned) = tokio::sync::oneshot::channel::<()>();
    let url = url.clone();
    tokio::spawn(async move {
        let guard = CancelOnDrop {
            url: url.clone(),
            job: job.clone(),
            armed: true,
        };
        let result = supervise(&url, &job, collect, limit, stop, abandoned).await;
        let mut guard = guard;
        guard.armed = false;
        if let Err(Error::ClusterQueryStopped(stopped)) = &result {
            report(stopped);
        }
        drop(live);
        let _ = done_tx.send(result);
    });
    let result = done_rx.await;
    drop(waiting);
    result.unwrap_or_else(|_| {
        Err(Error::Sql {
            message: "the cluster query's task ended without a result".to_owned(),
        })
    })
}

/// The query task: the query's result, or a [`StoppedQuery`] once it is stopped and its
/// job cancelled.
async fn supervise<F>(
    url: &ClusterUrl,
    job: &JobSlot,
    collect: F,
    limit: Option<Duration>,
    mut stop: tokio::sync::watch::Receiver<Option<String>>,
    abandoned: tokio::sync::oneshot::Receiver<()>,
) -> Result<Vec<RecordBatch>>
where
    F: Future<Output = datafusion::error::Result<Vec<RecordBatch>>>,
{
    let mut collect = std::pin::pin!(collect);
    let time_limit = async {
        match limit {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let reason = tokio::select! {
        biased;
        result = &mut collect => {
            return result.map_err(|e| Error::Sql { message: e.to_string() });
        }
        reason = stop_requested(&mut stop) => StopReason::Stopped(reason),
        _ = abandoned => StopReason::Abandoned,
        () = time_limit => StopReason::TimeLimit(limit.unwrap_or_default()),
    };
    let outcome = if !job.submits() {
        CancelOutcome::NotSubmitted
    } else {
        // The job id comes with the scheduler's answer to the submission: the query is
        // driven on until it arrives (or the query ends: nothing then runs there).
        enum Wait {
            Id(String),
            QueryEnded,
            TimedOut,
        }
        let wait = match job.job_id() {
            Some(id) => Wait::Id(id),
            None => {
                let id_known = async {
                    loop {
                        if let Some(id) = job.job_id() {
                            return id;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                };
                tokio::select! {
                    id = id_known => Wait::Id(id),
                    _ = &mut collect => Wait::QueryEnded,
                    () = tokio::time::sleep(JOB_ID_WAIT) => Wait::TimedOut,
                }
            }
        };
        match wait {
            Wait::Id(id) => cancel_job(url, &id).await,
            Wait::QueryEnded => match job.job_id() {
                Some(job_id) => CancelOutcome::AlreadyEnded { job_id },
                None => CancelOutcome::NotSubmitted,
            },
            Wait::TimedOut => CancelOutcome::Failed {
                job_id: None,
                message: format!(
                    "the scheduler did not answer the submission within {}",
                    seconds(JOB_ID_WAIT)
                ),
            },
        }
    };
    Err(Error::ClusterQueryStopped(Box::new(StoppedQuery {
        url: url.to_string(),
        reason,
        outcome,
    })))
}

/// A query task dropped before it ended (its runtime shut down): the job, when its id
/// is known, is cancelled from a thread of its own.
struct CancelOnDrop {
    url: ClusterUrl,
    job: JobSlot,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let url = self.url.clone();
        let job_id = self.job.job_id();
        let live = Live::register(&url);
        let spawned = std::thread::Builder::new()
            .name("liftos-cancel-job".to_owned())
            .spawn(move || {
                let outcome = match job_id {
                    None => CancelOutcome::Failed {
                        job_id: None,
                        message: "the query's runtime shut down before the scheduler gave \
                                  the job id"
                            .to_owned(),
                    },
                    Some(id) => match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt.block_on(cancel_job(&url, &id)),
                        Err(e) => CancelOutcome::Failed {
                            job_id: Some(id),
                            message: format!("no runtime to cancel it on: {e}"),
                        },
                    },
                };
                report(&StoppedQuery {
                    url: url.to_string(),
                    reason: StopReason::Abandoned,
                    outcome,
                });
                drop(live);
            });
        // Without a thread the registry still holds the query (as under way) until
        // `live` is dropped here: report the failure instead.
        if let Err(e) = spawned {
            report(&StoppedQuery {
                url: self.url.to_string(),
                reason: StopReason::Abandoned,
                outcome: CancelOutcome::Failed {
                    job_id: self.job.job_id(),
                    message: format!("no thread to cancel it from: {e}"),
                },
            });
        }
    }
}

/// `text` cut to [`MESSAGE_CHARS`] characters, on one line.
fn short(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// Cancels job `job_id` on the scheduler at `url` and waits (boundedly) until the
/// scheduler reports it ended.
pub(crate) async fn cancel_job(url: &ClusterUrl, job_id: &str) -> CancelOutcome {
    let failed = |message: String| CancelOutcome::Failed {
        job_id: Some(job_id.to_owned()),
        message,
    };
    let endpoint = match url.host().contains(':') {
        true => format!("http://[{}]:{}", url.host(), url.port()),
        false => format!("http://{}:{}", url.host(), url.port()),
    };
    let call = async {
        let mut client = SchedulerGrpcClient::connect(endpoint)
            .await
            .map_err(|e| format!("cannot reach the scheduler: {e}"))?;
        let answer = client
            .cancel_job(CancelJobParams {
                job_id: job_id.to_owned(),
            })
            .await
            .map_err(|e| format!("the scheduler refused: {}", e.message()))?;
        if !answer.into_inner().cancelled {
            return Err("the scheduler did not cancel it".to_owned());
        }
        Ok(client)
    };
    let mut client = match tokio::time::timeout(CANCEL_CALL_LIMIT, call).await {
        Ok(Ok(client)) => client,
        Ok(Err(message)) => return failed(short(&message)),
        Err(_) => {
            return failed(format!(
                "the scheduler did not answer within {}",
                seconds(CANCEL_CALL_LIMIT)
            ));
        }
    };
    // The cancellation is an event of the scheduler's loop: done when the job's status
    // is no longer queued or running.
    let confirm = async {
        loop {
            let status = client
                .get_job_status(GetJobStatusParams {
                    job_id: job_id.to_owned(),
                })
                .await
                .map_err(|e| short(e.message()))?
                .into_inner()
                .status
                .and_then(|s| s.status);
            match status {
                Some(job_status::Status::Queued(_) | job_status::Status::Running(_)) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Some(job_status::Status::Successful(_)) => return Ok::<_, String>(false),
                Some(job_status::Status::Failed(_)) | None => return Ok(true),
            }
        }
    };
    match tokio::time::timeout(CANCEL_CONFIRM_LIMIT, confirm).await {
        Ok(Ok(true)) => CancelOutcome::Cancelled {
            job_id: job_id.to_owned(),
        },
        Ok(Ok(false)) => CancelOutcome::AlreadyEnded {
            job_id: job_id.to_owned(),
        },
        Ok(Err(message)) => failed(format!(
            "the scheduler accepted the cancellation, then its job status failed: {message}"
        )),
        Err(_) => failed(format!(
            "the scheduler accepted the cancellation but still runs the job after {}",
            seconds(CANCEL_CONFIRM_LIMIT)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopped_queries_are_one_line_naming_the_cluster_the_limit_and_the_job() {
        let url = "df://10.0.0.5:50050".to_owned();
        let line = |reason: StopReason, outcome: CancelOutcome| {
            let text = Error::ClusterQueryStopped(Box::new(StoppedQuery {
                url: url.clone(),
                reason,
                outcome,
            }))
            .to_string();
            assert_eq!(text.lines().count(), 1, "{text}");
            text
        };
        assert_eq!(
            line(
                StopReason::TimeLimit(Duration::from_secs(30)),
                CancelOutcome::Cancelled {
                    job_id: "aBc1234".to_owned()
                }
            ),
            "cluster `df://10.0.0.5:50050`: the query ran past its time limit of 30 s; \
             job aBc1234 was cancelled on the scheduler"
        );
        assert_eq!(
            line(
                StopReason::TimeLimit(Duration::from_millis(1500)),
                CancelOutcome::NotSubmitted
            ),
            "cluster `df://10.0.0.5:50050`: the query ran past its time limit of 1.5 s; \
             no job had been submitted"
        );
        assert_eq!(
            line(
                StopReason::Stopped("SIGINT".to_owned()),
                CancelOutcome::Failed {
                    job_id: Some("aBc1234".to_owned()),
                    message: "cannot reach the scheduler: transport error".to_owned()
                }
            ),
            "cluster `df://10.0.0.5:50050`: the query was stopped (SIGINT); cancelling job \
             aBc1234 failed (cannot reach the scheduler: transport error): it may still be \
             running there"
        );
        assert_eq!(
            line(
                StopReason::Abandoned,
                CancelOutcome::Failed {
                    job_id: None,
                    message: "the scheduler did not answer the submission within 10 s".to_owned()
                }
            ),
            "cluster `df://10.0.0.5:50050`: the query's caller stopped waiting for it; the \
             job could not be cancelled (the scheduler did not answer the submission within \
             10 s): a job may still be running there"
        );
        assert_eq!(
            line(
                StopReason::Abandoned,
                CancelOutcome::AlreadyEnded {
                    job_id: "x".to_owned()
                }
            ),
            "cluster `df://10.0.0.5:50050`: the query's caller stopped waiting for it; job x \
             had already ended"
        );
        // A long, multi-line scheduler message is cut to one line.
        let long = short(&format!("first\nsecond {}", "x".repeat(1000)));
        assert!(long.starts_with("first second x") && long.ends_with('…'));
        assert_eq!(long.chars().count(), MESSAGE_CHARS + 1);
    }

    #[test]
    fn a_stopper_keeps_its_first_reason_and_debug_shows_no_more() {
        let s = QueryStopper::new();
        assert_eq!(s.stopped(), None);
        let other = s.clone();
        other.stop("SIGTERM");
        s.stop("SIGINT");
        assert_eq!(s.stopped().as_deref(), Some("SIGTERM"));
        assert_eq!(format!("{s:?}"), "QueryStopper { stopped: true }");
    }

    #[test]
    fn a_cancellation_that_cannot_reach_the_scheduler_says_so() {
        let url = crate::sql::cluster_tests::unreachable_scheduler();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = rt.block_on(cancel_job(&url, "j1"));
        assert!(!outcome.is_settled(), "{outcome:?}");
        assert_eq!(outcome.job_id(), Some("j1"));
        let text = outcome.to_string();
        assert!(
            text.starts_with("cancelling job j1 failed (cannot reach the scheduler"),
            "{text}"
        );
    }
}
