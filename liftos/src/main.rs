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
            eprintln!("error: {}", printable(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// Most characters of an error message printed; the rest are cut with a count (an error
/// quoting a server's body, a header or a cell is otherwise as long as they are: a 20 MB
/// message was printed whole).
const MAX_ERROR_CHARS: usize = 8_000;

/// `message` as printed to a terminal: control characters other than newline and tab
/// escaped (`\u{1b}`; text a server or a file put in an error could otherwise clear the
/// screen, recolour it or rewrite the line), and cut after [`MAX_ERROR_CHARS`].
fn printable(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_ERROR_CHARS + 64));
    for (shown, c) in message.chars().enumerate() {
        if shown == MAX_ERROR_CHARS {
            let rest = message.chars().count() - shown;
            out.push_str(&format!("… ({rest} more characters not shown)"));
            break;
        }
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_printed_without_control_characters_and_bounded() {
        assert_eq!(
            printable("code 190: \u{1b}[2J\u{1b}]0;pwned\u{7}\r ok\n\tnext"),
            "code 190: \\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{d} ok\n\tnext"
        );
        let long = "é".repeat(MAX_ERROR_CHARS + 5);
        let p = printable(&long);
        assert!(p.starts_with(&"é".repeat(MAX_ERROR_CHARS)));
        assert!(
            p.ends_with("… (5 more characters not shown)"),
            "{}",
            &p[p.len() - 40..]
        );
        assert_eq!(printable("plain"), "plain");
    }
}
