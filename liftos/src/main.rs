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
    quiet_on_closed_stdout();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A reader that closes the pipe early (`liftos plan … | head -1`) made `println!` panic
/// ("failed printing to stdout: Broken pipe") and the process exit with 101 and a
/// backtrace hint. Now the process ends as a Unix tool killed by SIGPIPE would (exit 141,
/// nothing on stderr), after removing the temporary files of writes still running. The
/// workspace forbids `unsafe`, so the signal's default action cannot be restored; the
/// panic hook recognises the standard library's message instead.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            liftos::transform::remove_partial_files();
            std::process::exit(141);
        }
        default(info);
    }));
}
