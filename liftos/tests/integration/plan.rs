//! `liftos plan`: from the results JSON of `liftos analyze` to plan.json, and one clear
//! error per kind of bad input.

use std::path::Path;

use crate::common::{assert_success, liftos, read_json, write_file, write_world};

/// A saturating world (one year) analysed with response curves; returns results.json.
fn results_json(dir: &Path) -> std::path::PathBuf {
    let input = dir.join("unified.csv");
    write_world(
        &liftos::sandbox::WorldConfig::preset(liftos::sandbox::Preset::Saturation, 3)
            .with_days(365),
        &input,
    );
    let json = dir.join("results.json");
    crate::common::analyze_json(
        &input,
        &json,
        &[
            "--trees",
            "200",
            "--response",
            "auto",
            "--no-cross-validation",
        ],
    );
    json
}

fn run_plan(results: &Path, extra: &[&str]) -> std::process::Output {
    liftos()
        .arg("plan")
        .arg("--results")
        .arg(results)
        .args(extra)
        .output()
        .unwrap()
}

/// The plan spends the budget, keeps each channel within ±50% by default, writes every
/// key of plan.json, and marks the recommended spend in the report written from it.
#[test]
fn plan_writes_plan_json_from_analyze_results() {
    let dir = tempfile::tempdir().unwrap();
    let results = results_json(dir.path());
    let v = read_json(&results);
    assert_eq!(v["window"]["days"], 365);
    let spend: f64 = v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["spend"].as_f64().unwrap())
        .sum();
    let out = dir.path().join("plan.json");
    let budget = format!("{spend:.2}");
    let output = run_plan(
        &results,
        &["--budget", &budget, "--out", out.to_str().unwrap()],
    );
    let stdout = assert_success(&output);
    assert!(
        stdout.contains("Budget plan") && stdout.contains("current split"),
        "{stdout}"
    );
    let plan = read_json(&out);
    for key in [
        "total_budget",
        "expected_incremental_revenue",
        "expected_incremental_revenue_ci_lower",
        "expected_incremental_revenue_ci_upper",
        "current_incremental_revenue",
        "current_incremental_revenue_ci_lower",
        "current_incremental_revenue_ci_upper",
    ] {
        assert!(plan[key].is_number(), "{key} in {plan}");
    }
    let channels = plan["channels"].as_array().unwrap();
    assert_eq!(channels.len(), v["channels"].as_array().unwrap().len());
    let mut total = 0.0;
    for c in channels {
        for key in [
            "current_spend",
            "recommended_spend",
            "expected_incremental_revenue",
            "ci_lower",
            "ci_upper",
            "marginal_roas_at_recommended",
        ] {
            assert!(c[key].is_number(), "{key} in {c}");
        }
        assert!(c["held"].is_boolean() && (c["reason"].is_null() || c["reason"].is_string()));
        let (cur, rec) = (
            c["current_spend"].as_f64().unwrap(),
            c["recommended_spend"].as_f64().unwrap(),
        );
        assert!(rec <= 1.5 * cur + 1e-6 && rec >= 0.5 * cur - 1e-6, "{c}");
        total += rec;
    }
    assert!((total - spend).abs() < 1e-3 * spend, "{total} vs {spend}");
    assert!(
        plan["expected_incremental_revenue"].as_f64().unwrap()
            >= plan["current_incremental_revenue"].as_f64().unwrap()
    );
    // The zero-effect channel never gets more: it is held (named with its reason) or
    // gives budget up.
    let tiktok = channels.iter().find(|c| c["channel"] == "tiktok").unwrap();
    let (cur, rec) = (
        tiktok["current_spend"].as_f64().unwrap(),
        tiktok["recommended_spend"].as_f64().unwrap(),
    );
    assert!(rec <= cur + 1e-6, "{tiktok}");
    assert!(tiktok["reason"].is_string(), "{tiktok}");
    // A 90-day budget: current spend and curves scaled from the 365-day window.
    let quarter = spend * 90.0 / 365.0;
    let out90 = dir.path().join("plan90.json");
    let output = run_plan(
        &results,
        &[
            "--budget",
            &format!("{quarter:.2}"),
            "--period-days",
            "90",
            "--out",
            out90.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("90 days"),
        "{stdout}"
    );
    let plan90 = read_json(&out90);
    let current = plan90["current_spend"].as_f64().unwrap();
    assert!(
        (current - quarter).abs() < 1e-6 * quarter,
        "{current} vs {quarter}"
    );
    let ratio = plan90["current_incremental_revenue"].as_f64().unwrap()
        / plan["current_incremental_revenue"].as_f64().unwrap();
    assert!((ratio - 90.0 / 365.0).abs() < 1e-9, "{ratio}");
}

/// `good.json` in `dir`: two channels, `meta` and `google_ads`, with the same saturating
/// curve and spend 1000 over a 30-day window.
fn symmetric_results(dir: &Path) -> std::path::PathBuf {
    let mut curve = String::from("[");
    for k in 0..=8 {
        let s = f64::from(k) / 4.0;
        let x = 1000.0 * s;
        let r = 3000.0 * x / (x + 1000.0);
        if k > 0 {
            curve.push(',');
        }
        curve.push_str(&format!(
            r#"{{"scale": {s}, "spend": {x}, "incremental_revenue": {r}, "ci_lower": {}, "ci_upper": {}}}"#,
            0.8 * r,
            1.2 * r
        ));
    }
    curve.push(']');
    let good = dir.join("good.json");
    let channel = |name: &str| {
        format!(
            r#"{{"channel": "{name}", "spend": 1000.0, "ci_lower": 1200.0, "marginal_roas": 0.75, "response_curve": {curve}}}"#
        )
    };
    std::fs::write(
        &good,
        format!(
            r#"{{"window": {{"days": 30}}, "channels": [{}, {}]}}"#,
            channel("meta"),
            channel("google_ads")
        ),
    )
    .unwrap();
    good
}

/// Bad input: one clear error each, and no plan.json.
#[test]
fn plan_names_each_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    // Results without curves (an old results JSON).
    let old = write_file(
        dir.path(),
        "old.json",
        r#"{"channels": [{"channel": "meta", "spend": 1000.0, "ci_lower": 100.0, "marginal_roas": 2.0}]}"#,
    );
    let good = symmetric_results(dir.path());
    let out = dir.path().join("plan.json");
    let o = out.to_str().unwrap();
    // (results, arguments before `--out`, what the error says)
    let cases: [(&Path, &str, &str); 8] = [
        (&good, "--budget 0", "budget"),
        (&good, "--budget -5", "budget"),
        (
            &good,
            "--budget 2000 --min meta=900 --max meta=800",
            "min_spend",
        ),
        (&good, "--budget 2000 --min tiktok=5", "tiktok"),
        (&good, "--budget 2000 --max meta", "CHANNEL=AMOUNT"),
        (&good, "--budget 2000 --objective roi", "objective"),
        (&good, "--budget 2000 --objective target_roas", "target"),
        (&old, "--budget 2000", "response_curve"),
    ];
    for (results, args, needle) in cases {
        let mut all: Vec<&str> = args.split_whitespace().collect();
        all.extend(["--out", o]);
        let output = run_plan(results, &all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args} succeeded");
        assert!(stderr.contains(needle), "{args}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.exists(), "{args} wrote plan.json");
    }
    // A missing results file is named.
    let output = run_plan(&dir.path().join("nope.json"), &["--budget", "10"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope.json"));
    // The good file plans: meta and google_ads are symmetric, so each keeps 1000.
    let output = run_plan(&good, &["--budget", "2000", "--out", o]);
    assert_success(&output);
    let plan = read_json(&out);
    for c in plan["channels"].as_array().unwrap() {
        assert!(
            (c["recommended_spend"].as_f64().unwrap() - 1000.0).abs() < 1.0,
            "{c}"
        );
    }
}

/// `--margin` is a share in (0, 1]: 1e305 overflowed `margin × revenue` and returned a
/// worse plan, silently, and 2 was accepted. A channel repeated in `--min`, `--max` or
/// `--hold` is one error naming the flag and the channel (the last value was kept,
/// silently). A `--results` that never ends (`/dev/zero`) stops at the 64 MiB a file
/// read whole may hold, with one error naming it.
#[test]
fn plan_refuses_a_margin_that_is_no_share_a_repeated_channel_and_an_endless_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = symmetric_results(dir.path());
    let out = dir.path().join("plan.json");
    let o = out.to_str().unwrap();
    let cases: [(&str, &[&str]); 10] = [
        (
            "--objective profit --margin=1e305",
            &["`--margin`", "1e305", "(0, 1]"],
        ),
        ("--objective profit --margin=2", &["`--margin`", "(0, 1]"]),
        ("--objective profit --margin=1.0001", &["`--margin`"]),
        ("--objective profit --margin=0", &["`--margin`"]),
        ("--objective profit --margin=-0.4", &["`--margin`"]),
        ("--objective profit --margin=NaN", &["`--margin`"]),
        ("--objective profit --margin=inf", &["`--margin`"]),
        (
            "--min meta=900 --min meta=1",
            &["`--min`", "`meta` given twice"],
        ),
        (
            "--max google_ads=900 --max google_ads=1100",
            &["`--max`", "`google_ads` given twice"],
        ),
        (
            "--hold meta --hold google_ads --hold meta",
            &["`--hold`", "`meta` given twice"],
        ),
    ];
    for (args, needles) in cases {
        let mut all = vec!["--budget", "2000"];
        all.extend(args.split_whitespace());
        all.extend(["--out", o]);
        let output = run_plan(&good, &all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args} succeeded");
        for needle in needles {
            assert!(stderr.contains(needle), "{args}: {needle} in {stderr}");
        }
        assert_eq!(stderr.trim().lines().count(), 1, "{args}: {stderr}");
        assert!(!out.exists(), "{args} wrote plan.json");
    }
    // A margin of 1 and one below plan; one channel in each of --min, --max, --hold too.
    for margin in ["1", "0.4"] {
        let output = run_plan(
            &good,
            &[
                "--budget",
                "2000",
                "--objective",
                "profit",
                "--margin",
                margin,
                "--out",
                o,
            ],
        );
        assert_success(&output);
        assert_eq!(read_json(&out)["objective"], "profit");
    }
    let output = run_plan(
        &good,
        &[
            "--budget",
            "2000",
            "--min",
            "meta=900",
            "--max",
            "google_ads=1100",
            "--out",
            o,
        ],
    );
    assert_success(&output);
    #[cfg(unix)]
    {
        let started = std::time::Instant::now();
        let output = run_plan(Path::new("/dev/zero"), &["--budget", "5"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(
            stderr.contains("/dev/zero") && stderr.contains("more than 64 MiB"),
            "{stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
    }
}

/// An option the objective would not use is refused, not ignored: `--margin` or
/// `--target-roas` with another objective (ignored silently before), and `--objective
/// profit` without `--margin` (margin 1 was assumed silently: revenue is no profit).
/// `--max-change` is a share in [0, 1]: a channel never goes below 0 nor past its curve
/// (2× what it spent), so more is no bound (`1e308` printed "moves of at most inf%").
/// A `window.days` in the results that is no whole number of days ≥ 1 is named with its
/// value (it was "the results carry no window").
#[test]
fn plan_refuses_options_it_would_ignore_a_max_change_past_the_curves_and_a_bad_window() {
    let dir = tempfile::tempdir().unwrap();
    let good = symmetric_results(dir.path());
    let out = dir.path().join("plan.json");
    let o = out.to_str().unwrap();
    let text = std::fs::read_to_string(&good).unwrap();
    let bad_window = |days: &str| {
        let path = dir.path().join(format!("window-{days}.json"));
        std::fs::write(
            &path,
            text.replace(r#""days": 30"#, &format!(r#""days": {days}"#)),
        )
        .unwrap();
        path
    };
    let cases: Vec<(std::path::PathBuf, &str, &[&str])> = vec![
        (
            good.clone(),
            "--objective profit",
            &["`--margin`", "required with objective profit"],
        ),
        (
            good.clone(),
            "--margin 0.4",
            &["`--margin`", "only with objective profit"],
        ),
        (
            good.clone(),
            "--objective revenue --target-roas 2",
            &["`--target-roas`", "only with objective target_roas"],
        ),
        (
            good.clone(),
            "--objective profit --margin 0.4 --target-roas 2",
            &["`--target-roas`", "only with objective target_roas"],
        ),
        (
            good.clone(),
            "--objective target_roas --target-roas 2 --margin 0.4",
            &["`--margin`", "only with objective profit"],
        ),
        (
            good.clone(),
            "--max-change 1e308",
            &["`--max-change`", "1e308", "[0, 1]"],
        ),
        (good.clone(), "--max-change 1.5", &["`--max-change`", "1.5"]),
        (
            good.clone(),
            "--max-change -0.1",
            &["`--max-change`", "-0.1"],
        ),
        (
            bad_window("0"),
            "--period-days 90",
            &["`window.days`", "0", "whole number of days"],
        ),
        (
            bad_window("-3"),
            "--period-days 90",
            &["`window.days`", "-3"],
        ),
        (
            bad_window("1e30"),
            "--period-days 90",
            &["`window.days`", "1e30"],
        ),
        (bad_window("30.5"), "", &["`window.days`", "30.5"]),
        (bad_window(r#""30""#), "", &["`window.days`", r#""30""#]),
    ];
    for (results, args, needles) in &cases {
        let mut all = vec!["--budget", "2000"];
        all.extend(args.split_whitespace());
        all.extend(["--out", o]);
        let output = run_plan(results, &all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args} succeeded");
        for needle in *needles {
            assert!(stderr.contains(needle), "{args}: {needle} in {stderr}");
        }
        assert!(!stderr.contains("no window"), "{args}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args}: {stderr}");
        assert!(!out.exists(), "{args} wrote plan.json");
    }
    // The bounds themselves plan: a max change of 0 (every channel held where it is) and
    // of 1 (from nothing to the curve's end), and results without a window when the
    // budget covers the data's window.
    for change in ["0", "1"] {
        let output = run_plan(&good, &["--budget", "2000", "--max-change", change]);
        let stdout = assert_success(&output);
        let shown = format!("moves of at most {}%", 100 * change.parse::<u32>().unwrap());
        assert!(stdout.contains(&shown), "{stdout}");
    }
    let no_window = dir.path().join("no-window.json");
    std::fs::write(&no_window, text.replace(r#""window": {"days": 30}, "#, "")).unwrap();
    assert!(
        !std::fs::read_to_string(&no_window)
            .unwrap()
            .contains("window")
    );
    assert_success(&run_plan(&no_window, &["--budget", "2000"]));
}
