//! The `liftos` command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// LiftOS: what did each channel's spend really cause?
#[derive(Debug, Parser)]
#[command(name = "liftos", version, about)]
struct Cli {
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { out, seed } => liftos::demo::run(&out, seed).map(|o| {
            print!("{}", o.summary);
            println!(
                "Wrote {}, {} and {}",
                o.unified_csv.display(),
                o.truth_csv.display(),
                o.truth_json.display()
            );
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
