//! Subcommands of the `liftos` binary. Each prints a short summary on stdout and returns
//! one error, printed as one sentence on stderr by `main`.

mod analyze;
mod calendar;
#[cfg(feature = "distributed")]
mod cluster;
mod plan;
mod progress;
mod pull;
mod run;
mod sync;
mod tables;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// LiftOS: what did each channel's spend really cause?
#[derive(Debug, Parser)]
#[command(name = "liftos", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run on the built-in sandbox world and compare with its known truth.
    Demo {
        /// Output directory.
        #[arg(long, default_value = "liftos-demo")]
        out: PathBuf,
        /// Seed of the sandbox world.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Trees of the causal forest.
        #[arg(long, default_value_t = 2000)]
        trees: usize,
    },
    /// Pull daily campaign data from Meta Ads, Google Ads or Klaviyo into CSV or Parquet.
    Pull(pull::Args),
    /// Map source tables (NAME=FILE) onto the unified table.
    Unify(tables::UnifyArgs),
    /// Report the data quality of a unified table (findings are not failures).
    Validate(tables::ValidateArgs),
    /// Clean a unified table: duplicates, names, currency, missing days; nothing lost.
    Clean(tables::CleanArgs),
    /// Build the calendar dimension (one row per day) and write it as CSV or Parquet.
    Calendar(calendar::Args),
    /// Estimate what each channel's spend caused (causal forest or DML), with intervals.
    Analyze(analyze::Args),
    /// Run the whole pipeline (pull, unify, validate, clean, calendar, analyze, report)
    /// from a config file.
    Run(run::Args),
    /// Run SQL over tables given as NAME=FILE and print the result (on a Ballista
    /// cluster with --cluster).
    Sql(tables::SqlArgs),
    /// Run an Apache Ballista scheduler and N executors on this machine for
    /// `--cluster` (or, with `scheduler`/`executor`, one part of a cluster of machines).
    #[cfg(feature = "distributed")]
    Cluster(cluster::Args),
    /// Split a budget across channels by the response curves of a results JSON.
    Plan(plan::Args),
    /// Pull each source of a config incrementally into a local store (lookback window,
    /// upserts by natural key, atomic commits).
    Sync(sync::Args),
    /// Keep the store and the model current: sync every tick, retrain when a trigger fires.
    Watch(watch::WatchArgs),
    /// How each channel's return moved across the store's model versions.
    History(watch::HistoryArgs),
}

/// The runtime of the commands that talk to the network: two worker threads.
/// An instant written in RFC 3339 (`2024-02-11T03:00:00Z`, `2024-02-10T19:00:00-08:00`).
fn parse_instant(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 instant such as 2024-02-11T03:00:00Z ({e})"))
}

fn runtime() -> liftos::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| liftos::Error::Io {
            path: "tokio runtime".to_owned(),
            source,
        })
}

/// Waits for SIGINT, SIGTERM or SIGHUP (a closed terminal, a scheduler stopping the
/// job), then removes every temporary file still being written (even by a stage running
/// on another thread) and refuses new ones, and returns the signal's name. Every
/// command that runs long selects on it: the process then ends with an error and
/// leaves no `.partial` file behind.
pub(crate) async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    async fn wait(kind: SignalKind) {
        match signal(kind) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    }
    let name = tokio::select! {
        () = wait(SignalKind::interrupt()) => "SIGINT",
        () = wait(SignalKind::terminate()) => "SIGTERM",
        () = wait(SignalKind::hangup()) => "SIGHUP",
    };
    liftos::transform::remove_partial_files();
    name
}

/// The error of a command stopped by `signal`, saying what is left on disk.
pub(crate) fn interrupted_error(what: &str, signal: &str, left: &str) -> liftos::Error {
    liftos::Error::Io {
        path: what.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            format!("interrupted by {signal}; unfinished files were removed; {left}"),
        ),
    }
}

/// Runs `body`, a command that runs queries on a cluster when `on_cluster`, so that
/// SIGINT, SIGTERM or SIGHUP stop it: its cluster query is stopped and the job cancelled
/// on the scheduler (waiting at most 30 s for that), and the error says what became of
/// the job. Off a cluster `body` runs as before, here, and a signal ends the process.
#[cfg(feature = "distributed")]
pub(crate) fn stoppable<T: Send + 'static>(
    what: &str,
    on_cluster: bool,
    body: impl FnOnce(tables::Stop) -> liftos::Result<T> + Send + 'static,
) -> liftos::Result<T> {
    if !on_cluster {
        return body(None);
    }
    let stopper = liftos::transform::QueryStopper::new();
    let runtime = runtime()?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stop = stopper.clone();
    // The command blocks on its SQL session's own runtime: a thread of its own, which is
    // left behind (and ends with the process) when a signal comes.
    std::thread::spawn(move || {
        let _ = tx.send(body(Some(stop)));
    });
    let outcome = runtime.block_on(async {
        tokio::select! {
            done = rx => Ok(done),
            sig = interrupted() => Err(sig),
        }
    });
    runtime.shutdown_background();
    match outcome {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(liftos::Error::Io {
            path: what.to_owned(),
            source: std::io::Error::other("the command's thread stopped without a result"),
        }),
        Err(signal) => {
            stopper.stop(signal);
            let stopped =
                liftos::transform::wait_for_cluster_queries(std::time::Duration::from_secs(30));
            Err(stopped_error(what, signal, &stopped))
        }
    }
}

/// Without a cluster client there is nothing to stop: `body` runs here.
#[cfg(not(feature = "distributed"))]
pub(crate) fn stoppable<T>(
    _what: &str,
    _on_cluster: bool,
    body: impl FnOnce(tables::Stop) -> liftos::Result<T>,
) -> liftos::Result<T> {
    body(None)
}

/// The error of a command stopped by `signal`: one line, with what became of each
/// cluster query it stopped (the cluster, the job, cancelled or not).
#[cfg(feature = "distributed")]
pub(crate) fn stopped_error(
    what: &str,
    signal: &str,
    stopped: &[liftos::transform::StoppedQuery],
) -> liftos::Error {
    if stopped.is_empty() {
        return interrupted_error(what, signal, "no cluster job was running");
    }
    let jobs: Vec<String> = stopped.iter().map(ToString::to_string).collect();
    liftos::Error::Io {
        path: what.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            format!(
                "interrupted by {signal}; unfinished files were removed; {}",
                jobs.join("; ")
            ),
        ),
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> liftos::Result<()> {
    match cli.command {
        Command::Demo { out, seed, trees } => {
            let options = liftos::demo::DemoOptions {
                seed,
                trees,
                progress_view: progress::TerminalProgress::for_stderr(),
                ..liftos::demo::DemoOptions::default()
            };
            // The demo runs on its own thread so a signal can stop it and clean up.
            let runtime = runtime()?;
            let (tx, rx) = std::sync::mpsc::channel();
            let dir = out.clone();
            std::thread::spawn(move || {
                let _ = tx.send(liftos::demo::run_with(&dir, &options));
            });
            let done = runtime.block_on(async {
                let rx = tokio::task::spawn_blocking(move || rx.recv());
                tokio::select! {
                    r = rx => match r {
                        Ok(Ok(done)) => Ok(done),
                        _ => Err(liftos::Error::Report(
                            "the demo stopped without a result".to_owned(),
                        )),
                    },
                    sig = interrupted() => Err(interrupted_error(
                        &out.display().to_string(),
                        sig,
                        "files already renamed into place are complete; the directory has no run.json unless the run finished",
                    )),
                }
            });
            runtime.shutdown_background();
            if done.is_err() {
                liftos::io::remove_own_partials(&out);
            }
            let o = done??;
            print!("{}", o.summary);
            println!(
                "Wrote the pipeline's tables, results and run.json into {}; the world's truth \
                 into {} and {}",
                o.pipeline_dir.display(),
                o.truth_csv.display(),
                o.truth_json.display(),
            );
            println!("Report: {}", o.report_dir.join("report.html").display());
            Ok(())
        }
        Command::Pull(args) => pull::run(args),
        Command::Unify(args) => tables::unify(args),
        Command::Validate(args) => tables::validate(args),
        Command::Clean(args) => tables::clean(args),
        Command::Calendar(args) => calendar::run(args),
        Command::Analyze(args) => analyze::run(args),
        Command::Run(args) => run::run(args),
        Command::Sql(args) => tables::sql(args),
        #[cfg(feature = "distributed")]
        Command::Cluster(args) => cluster::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Watch(args) => watch::watch(args),
        Command::History(args) => watch::history_cmd(args),
    }
}
