//! Subcommands of the `liftos` binary. Each prints a short summary on stdout and returns
//! one error, printed as one sentence on stderr by `main`.

mod analyze;
mod calendar;
mod pull;
mod run;
mod tables;

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
    /// Run SQL over tables given as NAME=FILE and print the result.
    Sql(tables::SqlArgs),
}

/// The runtime of the commands that talk to the network: two worker threads.
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

/// Runs the parsed command line.
pub fn run(cli: Cli) -> liftos::Result<()> {
    match cli.command {
        Command::Demo { out, seed, trees } => {
            let options = liftos::demo::DemoOptions {
                seed,
                trees,
                ..liftos::demo::DemoOptions::default()
            };
            let o = liftos::demo::run_with(&out, &options)?;
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
    }
}
