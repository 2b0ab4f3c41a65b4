//! `liftos run --config liftos.toml`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use liftos::analysis::format_results;
use liftos::config::PipelineConfig;
use liftos::pipeline::{Outputs, table_format};

/// Arguments of `liftos run`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Secrets come from environment variables, never from the file: the \
    standard LIFTOS_* names, or the ones the file names with `<key>_env = \"VAR\"`. \
    See liftos.example.toml for every section.\n\
    On a terminal each source and stage shows a progress line; otherwise progress is \
    logged to stderr (LIFTOS_LOG=off|error|warn|info|debug, default info)."
)]
pub struct Args {
    /// The pipeline's config file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Overrides `pipeline.start` (YYYY-MM-DD).
    #[arg(long)]
    start: Option<NaiveDate>,
    /// Overrides `pipeline.end` (YYYY-MM-DD, inclusive).
    #[arg(long)]
    end: Option<NaiveDate>,
    /// Overrides `output.dir`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Analyse the store kept by `liftos sync` (complete days only) instead of pulling;
    /// the sources' credentials are then not needed.
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Overrides `pipeline.cluster`: read the file sources (CSV, Parquet) on the Apache
    /// Ballista cluster at df://HOST:PORT (`liftos cluster`); its executors open them at
    /// their absolute paths, every other stage runs here, with the same results.
    #[arg(long, value_name = "df://HOST:PORT")]
    cluster: Option<String>,
    /// Overrides `pipeline.cluster_timeout`: stop a file's read on the cluster that runs
    /// longer than SECS seconds (its job is cancelled on the scheduler and the source
    /// fails saying so). SIGINT, SIGTERM and SIGHUP cancel the reads under way too.
    #[arg(long, value_name = "SECS", value_parser = super::tables::parse_timeout)]
    cluster_timeout: Option<std::time::Duration>,
}

/// The error of a run stopped by `signal`. The pull was dropped with the run, which
/// stops its reads on a cluster: their jobs are cancelled (waited for, at most 30 s) and
/// the error says what became of each.
fn interrupted(pipeline: &liftos::pipeline::Pipeline, signal: &str) -> liftos::Error {
    let left = format!(
        "files already renamed into place are complete, but the run did not finish: {} has no run.json for it",
        pipeline.outputs().map_or_else(
            || "the output directory".to_owned(),
            |o| o.dir.display().to_string()
        )
    );
    #[cfg(feature = "distributed")]
    {
        let stopped =
            liftos::transform::wait_for_cluster_queries(std::time::Duration::from_secs(30));
        if !stopped.is_empty() {
            let jobs: Vec<String> = stopped.iter().map(ToString::to_string).collect();
            return super::interrupted_error(
                "liftos run",
                signal,
                &format!("{left}; {}", jobs.join("; ")),
            );
        }
    }
    super::interrupted_error("liftos run", signal, &left)
}

/// Logs to stderr when it is not a terminal (schedulers, CI), at `LIFTOS_LOG` level.
fn init_logging() {
    init_logging_at("info");
}

/// Logs to stderr when it is not a terminal, at `LIFTOS_LOG` level (else `default`).
pub(crate) fn init_logging_at(default: &str) {
    log_to_stderr(default, tracing::Level::INFO);
}

/// `tracing` lines on stderr when it is not a terminal, at the level `LIFTOS_LOG` names
/// (`off`/`none`, `error`, `warn`, `info`, `debug`, `trace`; unset: `default`; a name
/// not among these: `unknown`).
pub(crate) fn log_to_stderr(default: &str, unknown: tracing::Level) {
    if std::io::stderr().is_terminal() {
        return;
    }
    let level = std::env::var("LIFTOS_LOG").unwrap_or_else(|_| default.into());
    let level = match level.trim().to_ascii_lowercase().as_str() {
        "off" | "none" => return,
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "info" => tracing::Level::INFO,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => unknown,
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .try_init();
}

pub fn run(args: Args) -> liftos::Result<()> {
    let config = PipelineConfig::from_file(&args.config)?;
    let (start, end) = config.date_range()?;
    // From a store, the sources are read, not pulled: their connectors (and the
    // credentials they need) are not built.
    let mut builder = match &args.store {
        Some(dir) => config.to_store_builder(dir)?,
        None => config.to_builder()?,
    };
    if args.start.is_some() || args.end.is_some() {
        builder = builder.date_range(args.start.unwrap_or(start), args.end.unwrap_or(end));
    }
    if let Some(dir) = &args.out {
        builder = builder.outputs(
            Outputs::new(dir)
                .with_format(table_format(&config.output.format)?)
                .with_report(config.output.report),
        );
    }
    if let Some(dir) = &args.store {
        // The store's writer owns its directory (a sync removes the files of its own
        // unfinished commits there): outputs inside it are refused.
        if let Some(out) = &args.out
            && resolved(out).starts_with(resolved(dir))
        {
            return Err(liftos::Error::InvalidPipeline {
                field: "--out".into(),
                message: format!(
                    "{} is inside the store {} the run reads (--store): write the outputs to a directory outside it; nothing was written",
                    out.display(),
                    dir.display()
                ),
            });
        }
    }
    if let Some(url) = &args.cluster {
        builder = builder.cluster(url.as_str());
    }
    if let Some(limit) = args.cluster_timeout {
        builder = builder.cluster_timeout(limit);
    }
    if let Some(view) = super::progress::TerminalProgress::for_stderr() {
        builder = builder.progress_view(view);
    }
    let pipeline = builder.build()?;
    // The output directory must not hold an input: the run writes its tables there.
    let mut input_paths: Vec<(String, PathBuf)> =
        vec![("--config".to_owned(), args.config.clone())];
    for source in &config.sources {
        if let Some(path) = source
            .get_ref()
            .settings
            .get("path")
            .and_then(|p| p.as_str())
        {
            input_paths.push((
                format!("source `{}`", source.get_ref().name),
                config.base_dir.join(path),
            ));
        }
    }
    if let Some(rates) = &config.clean.rates {
        input_paths.push(("clean.rates".to_owned(), config.base_dir.join(rates)));
    }
    if let Some(bo) = &config.business_outcome {
        if let Some(path) = &bo.path {
            input_paths.push((
                "business_outcome.path".to_owned(),
                config.base_dir.join(path),
            ));
        }
        if let Some(path) = &bo.lift_tests {
            input_paths.push((
                "business_outcome.lift_tests".to_owned(),
                config.base_dir.join(path),
            ));
        }
    }
    let inputs: Vec<(&str, &std::path::Path)> = input_paths
        .iter()
        .map(|(o, p)| (o.as_str(), p.as_path()))
        .collect();
    if let Some(o) = pipeline.outputs() {
        liftos::io::check_dir_holds_no_input("the output directory", &o.dir, &inputs)?;
    }
    init_logging();
    let runtime = super::runtime()?;
    let outcome = runtime.block_on(async {
        tokio::select! {
            done = pipeline.run() => Ok(done),
            sig = super::interrupted() => Err(sig),
        }
    });
    let outcome = match outcome {
        Ok(done) => done,
        Err(sig) => Err(interrupted(&pipeline, sig)),
    };
    if outcome.is_err() {
        if let Some(o) = pipeline.outputs() {
            liftos::io::remove_own_partials(&o.dir);
        }
        // Do not wait for a stage still running on a blocking thread (the forest can take
        // minutes): the process ends with the error.
        runtime.shutdown_background();
    }
    let run = outcome?;
    print!("{}", run.summary());
    for r in &run.attribution.results {
        println!("{}", format_results(r));
    }
    if let Some(o) = pipeline.outputs() {
        println!(
            "Wrote {} files (tables, quality.json, results.json, run.json, report/) into {}",
            run.files.len(),
            o.dir.display()
        );
    }
    if !run.postgres_tables.is_empty() {
        println!(
            "Wrote {} tables into PostgreSQL: {}",
            run.postgres_tables.len(),
            run.postgres_tables.join(", ")
        );
    }
    Ok(())
}

/// `path` made absolute with its symbolic links resolved, as far as it exists (the
/// rest appended as written, `.` and `..` applied), to compare two paths.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut clean = PathBuf::new();
    for c in absolute.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    let mut existing = clean.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match existing.file_name() {
            Some(n) => rest.push(n.to_owned()),
            None => break,
        }
        if !existing.pop() {
            break;
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for n in rest.into_iter().rev() {
        out.push(n);
    }
    out
}
