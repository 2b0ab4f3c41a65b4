//! The `liftos` command-line tool.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc keeps freed column buffers for reuse (the system allocator returns large
/// ones to the kernel, and each new one is faulted in page by page again).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
