//! The `liftos` command-line tool.

mod cli;

use std::process::ExitCode;

use clap::Parser;

// The binary allocates with the system allocator. mimalloc 0.1.52 (v3, the allocator
// until 2026-12-08) was as fast on the transforms and kept freed column buffers
// resident: on `benches/transform_vs_peers.py`'s files, glibc against mimalloc, the same
// code: 3M rows `clean` 643-648 against 773-830 MB at the same speed (2.1-3.0 s both),
// `validate` 642 against 783-790 MB, `unify` 204-209 against 253-276 MB; the 3M chain
// 627-628 against 775-796 MiB; at 30M unify 28.8 against 30.8 s, validate 19.3 against
// 24.9 s, clean 51.9 against 62.1 s (884 against 744 MB). In `liftos demo` allocation is
// about 1% of the time (`perf`), so the allocator does not matter there. mimalloc's
// shorter purge delays lowered its memory only by costing time (10-35% at 3M).
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
