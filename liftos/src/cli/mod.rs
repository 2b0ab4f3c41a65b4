//! Subcommands of the `liftos` binary. Each prints a short summary on stdout and returns
//! one error, printed as one sentence on stderr by `main`.

mod calendar;

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
    },
    /// Build the calendar dimension (one row per day) and write it as CSV or Parquet.
    Calendar(calendar::Args),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> liftos::Result<()> {
    match cli.command {
        Command::Demo { out, seed } => {
            let o = liftos::demo::run(&out, seed)?;
            print!("{}", o.summary);
            println!(
                "Wrote {}, {} and {}",
                o.unified_csv.display(),
                o.truth_csv.display(),
                o.truth_json.display()
            );
            Ok(())
        }
        Command::Calendar(args) => calendar::run(args),
    }
}
