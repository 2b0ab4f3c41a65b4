//! Every example program runs to completion and prints what it promises. Running them
//! here makes the README's test command cover the examples.

use std::process::Command;

#[test]
fn sandbox_world_example_shows_naive_next_to_true_roas() {
    let output = Command::new(env!("CARGO_BIN_EXE_sandbox_world"))
        .output()
        .expect("the example binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("naive ROAS") && stdout.contains("true iROAS"),
        "{stdout}"
    );
    for channel in ["meta", "google_ads", "klaviyo", "tiktok"] {
        assert!(stdout.lines().any(|l| l.starts_with(channel)), "{stdout}");
    }
}
