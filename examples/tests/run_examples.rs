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

fn run(bin: &str, args: &[&std::ffi::OsStr]) -> String {
    let output = Command::new(bin)
        .args(args)
        .output()
        .expect("the example binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{bin}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The numbers of the first `[lo, hi]` interval in `line`, and the text after it.
fn interval(line: &str) -> Option<(f64, f64, &str)> {
    let open = line.find('[')?;
    let close = open + line[open..].find(']')?;
    let (lo, hi) = line[open + 1..close].split_once(',')?;
    Some((
        lo.trim().parse().ok()?,
        hi.trim().parse().ok()?,
        &line[close + 1..],
    ))
}

#[test]
fn quickstart_runs_the_notebook_flow_and_its_intervals_cover_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = run(env!("CARGO_BIN_EXE_quickstart"), &[dir.path().as_os_str()]);
    for cell in 1..=7 {
        assert!(stdout.contains(&format!("Cell {cell}:")), "{stdout}");
    }
    let revenue: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("revenue "))
        .collect();
    assert_eq!(revenue.len(), 3, "{stdout}");
    for line in revenue {
        let (lo, hi, rest) = interval(line).unwrap();
        let truth: f64 = rest
            .split("true")
            .nth(1)
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("no truth in {line}"));
        assert!(lo <= truth && truth <= hi, "{line}");
    }
    for file in [
        "treatment_effects.png",
        "attribution_waterfall.png",
        "causal_analysis_results.xlsx",
    ] {
        assert!(dir.path().join(file).is_file(), "{file}");
    }
}

#[test]
fn custom_connector_streams_pages_and_finds_no_effect_for_tiktok() {
    let stdout = run(env!("CARGO_BIN_EXE_custom_connector"), &[]);
    assert!(
        stdout.contains("tiktok connector: 732 rows in 4 pages"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("tiktok: naive ROAS"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let (lo, hi, _) = interval(line).unwrap();
    assert!(lo <= 0.0 && 0.0 <= hi, "{line}");
}

#[test]
fn custom_estimator_runs_beside_the_forest_which_covers_the_truth() {
    let stdout = run(env!("CARGO_BIN_EXE_custom_estimator"), &[]);
    let mut rows = Vec::new();
    for channel in ["meta", "google_ads", "klaviyo", "tiktok"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(channel))
            .unwrap_or_else(|| panic!("{channel}: {stdout}"));
        let mut words = line.split_whitespace();
        let naive: f64 = words.nth(1).unwrap().parse().unwrap();
        let fe: f64 = words.next().unwrap().parse().unwrap();
        let (fe_lo, fe_hi, rest) = interval(line).unwrap();
        let (lo, hi, rest) = interval(rest).unwrap();
        let truth: f64 = rest.trim().parse().unwrap();
        assert!(
            lo <= truth && truth <= hi,
            "forest misses the truth: {line}"
        );
        assert!(fe_lo < fe && fe < fe_hi, "fixed-effects interval: {line}");
        if channel == "meta" || channel == "google_ads" {
            // What the example says: the regression keeps part of the naive bias.
            assert!(
                truth < fe && fe < naive,
                "fixed-effects between truth and naive: {line}"
            );
        }
        rows.push(channel);
    }
    assert_eq!(rows.len(), 4);
    assert!(stdout.contains("cross-validated R²"), "{stdout}");
}

#[test]
fn sql_exploration_answers_each_question() {
    let stdout = run(env!("CARGO_BIN_EXE_sql_exploration"), &[]);
    for title in [
        "Spend and revenue by channel and quarter",
        "Naive and causal return by channel",
        "Estimated return of spend on holidays vs other days",
        "Holidays in the data",
    ] {
        assert!(stdout.contains(title), "{title}: {stdout}");
    }
    assert!(stdout.contains("| google_ads | 4       |"), "{stdout}");
    assert!(stdout.contains("New Year's Day"), "{stdout}");
}
