//! The `liftos` binary end to end.

use crate::common::{
    UNIFIED_HEADER, assert_failure, assert_failure_with, assert_success, assert_success_with,
    channel, leftovers, liftos, liftos_run, read_json, write_file, write_world,
};
use std::path::{Path, PathBuf};
use std::process::Output;

use liftos_testkit::CHANNEL_FIELDS;

#[test]
fn demo_writes_the_world_and_prints_naive_next_to_true_roas() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let output = liftos_run!("demo", "--seed", "7", "--trees", "500", "--out", &out);
    let stdout = assert_success(&output);
    for channel in ["meta", "google_ads", "klaviyo", "tiktok"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(channel)),
            "{channel} missing:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("naive")
            && stdout.contains("switch-off iROAS")
            && stdout.contains("marginal ROAS"),
        "{stdout}"
    );
    // Every channel's switch-off and marginal intervals cover the world's truths (a
    // miss is marked `*`).
    let covered = stdout
        .lines()
        .filter(|l| {
            ["meta", "google_ads", "klaviyo", "tiktok"]
                .iter()
                .any(|c| l.starts_with(c))
        })
        .filter(|l| l.matches('|').count() == 2 && !l.contains('*'))
        .count();
    assert_eq!(covered, 4, "{stdout}");
    // The pipeline pulled the three platforms over HTTP and read the TikTok export.
    for source in ["meta", "google_ads", "klaviyo", "tiktok"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("source {source} ")) && l.contains(" rows in ")),
            "{source}: {stdout}"
        );
    }
    for stage in [
        "pull", "unify", "validate", "clean", "calendar", "enrich", "analyze", "write",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(stage)),
            "stage {stage} missing:\n{stdout}"
        );
    }
    let pipeline = out.join("pipeline");
    let results = read_json(pipeline.join("results.json"));
    assert_eq!(results["model"], "causal_forest");
    assert_eq!(results["channels"].as_array().unwrap().len(), 4);
    // The demo runs the defaults: carryover and saturation searched, curves reported.
    assert_eq!(results["settings"]["response"], "auto");
    assert_eq!(results["settings"]["adstock"], "auto");
    for c in results["channels"].as_array().unwrap() {
        assert_eq!(c["response_curve"].as_array().unwrap().len(), 9, "{c}");
        assert!(c["marginal_roas_ci_lower"].is_number(), "{c}");
    }
    assert!(results["temporal"]["holiday_lift"].is_number());
    assert!(results["model_accuracy"]["r2"].as_f64().unwrap() > 0.5);
    // The plan of the world's total spend, re-simulated in the world.
    assert!(stdout.contains("Budget plan:"), "{stdout}");
    let check = stdout
        .lines()
        .find(|l| l.starts_with("Re-simulated in the world"))
        .expect("the plan's check");
    let share: f64 = check
        .split("% of the world's best")
        .next()
        .and_then(|h| h.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("a share of the optimum");
    assert!(share >= 95.0, "{check}");
    let plan = read_json(pipeline.join("plan.json"));
    assert!(plan["uplift"].as_f64().unwrap() > 0.0, "{plan}");
    let html = std::fs::read_to_string(pipeline.join("report").join("report.html")).unwrap();
    assert!(html.contains("<section id=\"plan\">"));
    assert!(html.contains("google_ads") && !html.contains("https://"));
    assert!(pipeline.join("report").join("results.xlsx").exists());
    let manifest = read_json(pipeline.join("run.json"));
    assert_eq!(manifest["unified_rows"], manifest["model_rows"]);

    let csv = std::fs::read_to_string(out.join("world_unified.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), crate::common::UNIFIED_HEADER);
    let rows = lines.count();
    let truth_rows = std::fs::read_to_string(out.join("truth_rows.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(rows, truth_rows, "truth is aligned row by row");
    let world = liftos::sandbox::World::generate(&liftos::demo::world_config(7)).unwrap();
    assert_eq!(
        world.config().preset,
        Some(liftos::sandbox::Preset::Realistic)
    );
    assert_eq!(rows, world.num_rows(), "every row of the world is written");
    assert_eq!(
        manifest["unified_rows"],
        world.num_rows(),
        "every row of the world came through the APIs and the export"
    );

    let truth = read_json(out.join("truth.json"));
    let tiktok = channel(&truth, "tiktok");
    assert_eq!(tiktok["incremental_revenue"], 0.0);
    let left = crate::common::leftovers(&out);
    assert!(
        left.is_empty(),
        "no partial or temporary files left: {left:?}"
    );
}

#[test]
fn an_unwritable_output_directory_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = write_file(dir.path(), "file", "not a directory");
    let output = liftos_run!("demo", "--out", blocker.join("sub"));
    let stderr = assert_failure(&output);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("file/sub"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// `liftos calendar` from `start` to `end` with `options`, written to `out`.
fn calendar(start: &str, end: &str, options: &[&str], out: &Path) -> Output {
    liftos()
        .args(["calendar", "--start", start, "--end", end])
        .args(options)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn calendar_writes_one_row_per_day_with_holidays() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("calendar.csv");
    let output = calendar("2024-11-01", "2024-12-31", &["--country", "US"], &out);
    assert_success_with(&output, "61 days");
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"))
    };
    let (date, holiday, name) = (col("date"), col("is_holiday"), col("holiday_name"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 61);
    let thanksgiving = rows.iter().find(|r| r[date] == "2024-11-28").unwrap();
    assert_eq!(thanksgiving[holiday], "true");
    assert!(
        thanksgiving[name].contains("Thanksgiving"),
        "{thanksgiving:?}"
    );
}

#[test]
fn calendar_config_errors_name_the_key_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "cal.toml",
        "country = \"US\"\nbogus_option = 3\n",
    );
    let out = dir.path().join("calendar.parquet");
    let options = ["--config", config.to_str().unwrap()];
    let output = calendar("2024-01-01", "2024-01-31", &options, &out);
    assert_failure_with(&output, &["bogus_option", "cal.toml"]);
    assert!(!out.exists());
}

#[test]
fn calendar_writes_parquet_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("calendar.parquet");
    let output = calendar("2023-01-01", "2025-12-31", &["--country", "GB"], &out);
    assert_success(&output);
    let table = liftos::transform::read_table(&out).unwrap();
    assert_eq!(table.num_rows(), 1096);
}

/// `liftos analyze` on a CSV produced by the sandbox: the table on stdout and the results
/// JSON of DESIGN.md, valid and complete, with the calendar built by `analyze` itself;
/// every channel's return within 20% of the truth of this linear world with the linear
/// response. (With the default search Klaviyo's switch-off return came out 22% off here,
/// 3.12 vs about 4.0, its interval [0.68, 6.32] covering; a gap reported in the README.
/// The defaults' JSON is checked in `analyze_writes_report_and_workbook`.)
#[test]
fn analyze_writes_a_complete_results_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("unified.csv");
    let world = write_world(
        &liftos::sandbox::WorldConfig::standard(3).with_seed(11),
        &input,
    );
    let json = dir.path().join("results.json");
    let stdout = crate::common::analyze_json(
        &input,
        &json,
        &["--trees", "300", "--seed", "3", "--response", "linear"],
    );
    assert!(stdout.contains("Holiday lift"), "{stdout}");
    let v = read_json(&json);
    for key in liftos_testkit::RESULTS_KEYS {
        assert!(!v[key].is_null(), "{key} missing in {v}");
    }
    assert_eq!(v["rows"], world.num_rows());
    assert_eq!(v["seed"], 3);
    let channels = v["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 3);
    for c in channels {
        let more = [
            "incremental_roas_ci_lower",
            "incremental_roas_ci_upper",
            "marginal_roas",
        ];
        for key in CHANNEL_FIELDS.into_iter().chain(more) {
            assert!(c[key].is_number() || c[key].is_string(), "{key} in {c}");
        }
        let truth = world
            .truth()
            .channel(c["channel"].as_str().unwrap())
            .unwrap();
        let est = c["incremental_roas"].as_f64().unwrap();
        assert!(
            (est - truth.incremental_roas).abs() / truth.incremental_roas < 0.2,
            "{c}"
        );
    }
    assert_eq!(v["settings"]["response"], "linear");
    for day in ["monday", "sunday"] {
        assert!(v["temporal"]["day_of_week"][day].is_number());
    }
    assert!(v["temporal"]["seasonal"]["december"].is_number());
    assert!(v["temporal"]["holiday_lift"].is_number());
}

/// A channel with one row is left out of the fit, on its own line of the table and in
/// `diagnostics.not_estimated`, and the other channels are estimated (it stopped the
/// whole analysis: "not enough data for clusters in the subset (channel `pinterest`)").
#[test]
fn analyze_leaves_out_a_channel_it_cannot_estimate_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("unified.csv");
    write_world(
        &liftos::sandbox::WorldConfig::standard(2)
            .with_days(120)
            .with_seed(5),
        &input,
    );
    let text = std::fs::read_to_string(&input).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    let channel = header.iter().position(|h| *h == "channel").unwrap();
    let mut row: Vec<&str> = first.clone();
    row[channel] = "pinterest";
    std::fs::write(&input, format!("{text}{}\n", row.join(","))).unwrap();
    let json = dir.path().join("results.json");
    let output = liftos()
        .args([
            "analyze",
            "--model",
            "dml",
            "--response",
            "linear",
            "--input",
        ])
        .arg(&input)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let out = assert_success(&output);
    assert!(
        out.contains("pinterest      not estimated: left out of the fit (1 row; see the warnings)"),
        "{out}"
    );
    let v = read_json(&json);
    assert_eq!(v["diagnostics"]["not_estimated"][0]["channel"], "pinterest");
    assert_eq!(v["diagnostics"]["not_estimated"][0]["rows"], 1);
    let channels: Vec<&str> = v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels.len(), 3, "{channels:?}");
    assert!(!channels.contains(&"pinterest"));
}

/// `analyze`'s outputs appear together or not at all: a report that cannot take its
/// place (its `charts` is a file) leaves no JSON and no workbook, and an output whose
/// directory is missing fails before the analysis runs.
#[test]
fn analyze_writes_all_of_its_outputs_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("unified.parquet");
    write_world(
        &liftos::sandbox::WorldConfig::standard(2)
            .with_days(120)
            .with_seed(5),
        &input,
    );
    let report = dir.path().join("report");
    std::fs::create_dir(&report).unwrap();
    write_file(&report, "charts", "a file where the report puts its charts");
    write_file(&report, "notes.txt", "the user's own file");
    let xlsx = dir.path().join("results.xlsx");
    let json = dir.path().join("results.json");
    let analyze = |report: &Path, json: &Path| {
        liftos()
            .args([
                "analyze",
                "--model",
                "dml",
                "--response",
                "linear",
                "--input",
            ])
            .arg(&input)
            .arg("--report")
            .arg(report)
            .arg("--xlsx")
            .arg(&xlsx)
            .arg("--json")
            .arg(json)
            .output()
            .unwrap()
    };
    let output = analyze(&report, &json);
    let err = assert_failure_with(&output, &["charts", "is a file"]);
    assert!(!err.contains("partial"), "{err}");
    assert!(!json.exists() && !xlsx.exists());
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
    let mut kept: Vec<String> = std::fs::read_dir(&report)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept, ["charts", "notes.txt"]);
    // A missing directory fails at once, before the analysis (no table printed).
    let output = analyze(
        &dir.path().join("new"),
        &dir.path().join("no/such/dir/r.json"),
    );
    let err = assert_failure_with(&output, &["no/such/dir"]);
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("meta"),
        "{err}"
    );
    assert!(!dir.path().join("new").exists());
    // With the way clear, every output appears, and the user's file stays.
    std::fs::remove_file(report.join("charts")).unwrap();
    let output = analyze(&report, &json);
    assert_success(&output);
    assert!(json.exists() && xlsx.exists() && report.join("report.html").exists());
    assert!(report.join("charts").is_dir() && report.join("notes.txt").exists());
    assert!(leftovers(&report).is_empty(), "{:?}", leftovers(&report));
}

#[test]
fn analyze_writes_report_and_workbook() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("unified.parquet");
    let world = write_world(
        &liftos::sandbox::WorldConfig::standard(2)
            .with_days(240)
            .with_seed(5),
        &input,
    );
    let report = dir.path().join("report");
    let xlsx = dir.path().join("results.xlsx");
    let json = dir.path().join("results.json");
    let output = liftos()
        .args(["analyze", "--model", "dml", "--input"])
        .arg(&input)
        .arg("--report")
        .arg(&report)
        .arg("--xlsx")
        .arg(&xlsx)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert_success_with(&output, "dml");
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("meta") && html.contains("<svg"));
    assert!(std::fs::metadata(&xlsx).unwrap().len() > 1000);
    let charts: Vec<_> = std::fs::read_dir(report.join("charts")).unwrap().collect();
    assert!(charts.len() >= 8, "{} charts", charts.len());
    let rows = liftos::transform::read_table(report.join("row_effects.parquet")).unwrap();
    assert_eq!(rows.num_rows(), world.num_rows());
    let channels = liftos::transform::read_table(report.join("channel_effects.csv")).unwrap();
    assert_eq!(channels.num_rows(), 3);
    // Without flags carryover and saturation are searched: every channel has a marginal
    // return with its interval, a response curve and the record of the search.
    let v = read_json(&json);
    assert_eq!(v["settings"]["response"], "auto");
    assert_eq!(v["settings"]["adstock"], "auto");
    for c in v["channels"].as_array().unwrap() {
        let (m, lo, hi) = (
            c["marginal_roas"].as_f64().unwrap(),
            c["marginal_roas_ci_lower"].as_f64().unwrap(),
            c["marginal_roas_ci_upper"].as_f64().unwrap(),
        );
        assert!(lo <= m && m <= hi, "{c}");
        let curve = c["response_curve"].as_array().unwrap();
        assert_eq!(curve.len(), 9, "{c}");
        assert_eq!(curve[0]["incremental_revenue"], 0.0);
        assert!(c["adstock_decay"].is_number(), "carryover searched: {c}");
        assert!(
            c["transform_selection"]["plausible_transforms"]
                .as_u64()
                .unwrap()
                >= 1,
            "{c}"
        );
    }
}

/// A small standard world (2 campaigns per channel, 240 days, seed 5) as `unified.csv` in a
/// temporary directory, and the path of a results JSON beside it.
fn small_world_csv() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("unified.csv");
    write_world(
        &liftos::sandbox::WorldConfig::standard(2)
            .with_days(240)
            .with_seed(5),
        &input,
    );
    let json = dir.path().join("r.json");
    (dir, input, json)
}

/// `--response linear` is the opt-out: no saturation, no carryover (today's linear model),
/// and the results say so.
#[test]
fn analyze_response_linear_opts_out() {
    let (_dir, input, json) = small_world_csv();
    crate::common::analyze_json(&input, &json, &["--model", "dml", "--response", "linear"]);
    let v = read_json(&json);
    assert_eq!(v["settings"]["response"], "linear");
    assert_eq!(v["settings"]["adstock"], "none");
    for c in v["channels"].as_array().unwrap() {
        assert!(c["saturation"].is_null(), "{c}");
        assert!(c["adstock_decay"].is_null(), "{c}");
        assert_eq!(c["transform_selection"]["plausible_transforms"], 1, "{c}");
    }
}

/// `--pin-curve` fixes a channel's curve instead of searching it; the results say so, and
/// a malformed value is one error line naming the expected form.
#[test]
fn analyze_pin_curve_fixes_a_channel() {
    let (_dir, input, json) = small_world_csv();
    crate::common::analyze_json(
        &input,
        &json,
        &["--model", "dml", "--pin-curve", "meta=0.3:1:1.5"],
    );
    let v = read_json(&json);
    assert_eq!(v["settings"]["pinned_curves"], "meta=0.3:1:1.5");
    let meta = channel(&v, "meta");
    assert_eq!(meta["adstock_decay"], 0.3, "{meta}");
    assert_eq!(
        meta["saturation"]["half_saturation_relative"], 1.0,
        "{meta}"
    );
    assert_eq!(meta["saturation"]["shape"], 1.5, "{meta}");
    assert_eq!(
        meta["transform_selection"]["plausible_transforms"], 1,
        "{meta}"
    );
    let output = liftos_run!("analyze", "--pin-curve", "meta=0.3:1", "--input", &input);
    let stderr = assert_failure_with(&output, &["CHANNEL=DECAY"]);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn analyze_names_a_missing_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("unified.csv");
    write_world(
        &liftos::sandbox::WorldConfig::standard(2).with_days(60),
        &input,
    );
    let json = dir.path().join("r.json");
    let output = liftos_run!(
        "analyze",
        "--outcome",
        "profit",
        "--input",
        &input,
        "--json",
        &json
    );
    let stderr = assert_failure_with(&output, &["`profit`", "outcome"]);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!json.exists());
}

/// A small unified CSV: `header`, then `rows`, in a new temporary directory.
fn small_csv(header: &str, rows: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{header}\n{}",
        rows.iter().map(|r| format!("{r}\n")).collect::<String>()
    );
    let input = write_file(dir.path(), "u.csv", text);
    (dir, input)
}

const SMALL_HEADER: &str = "date,channel,campaign_id,campaign,currency,spend,revenue";

/// A date that is not `YYYY-MM-DD` is one error naming the file, the column, the first
/// such row and its value, with what the value seems to be, at the campaign level and at
/// the business level (the calendar step's error named none of them).
#[test]
fn analyze_names_the_file_row_and_value_of_a_date_that_is_not_a_date() {
    let (dir, input) = small_csv(
        SMALL_HEADER,
        &[
            "2024-01-01,meta,m1,M1,USD,10,30",
            "2024-01-02,meta,m1,M1,USD,12,31",
            "2024-13-45,meta,m1,M1,USD,11,29",
            "2024-14-01,meta,m1,M1,USD,11,29",
        ],
    );
    let output = liftos_run!("analyze", "--input", &input);
    let stderr = assert_failure_with(
        &output,
        &["u.csv, row 3: `date`: `2024-13-45`", "no such day"],
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let us = write_file(
        dir.path(),
        "us.csv",
        format!(
            "{SMALL_HEADER}\n01/02/2024,meta,m1,M1,USD,10,30\n01/03/2024,meta,m1,M1,USD,12,31\n"
        ),
    );
    let output = liftos_run!("analyze", "--input", &us);
    let stderr = assert_failure_with(
        &output,
        &[
            "us.csv, row 1: `date`: `01/02/2024`",
            "MM/DD/YYYY",
            "`liftos unify`",
        ],
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let business = write_file(
        dir.path(),
        "business.csv",
        "date,revenue\n2024-01-02,100\n2024-01-03,110\n",
    );
    let output = crate::common::analyze_business(&us, &business, &[]);
    assert_failure_with(
        &output,
        &[
            "us.csv, row 1: `date`: `01/02/2024`",
            "MM/DD/YYYY",
            "`liftos unify`",
        ],
    );
}

/// A missing date column is one error naming the file and the columns it has, with the
/// flags for columns that differ from the roles' only in case, or that the file seems to
/// be `;`-separated (at the business level too).
#[test]
fn analyze_names_the_columns_found_when_the_date_column_is_missing() {
    let (dir, input) = small_csv(
        "Date,Channel,campaign_id,campaign,currency,Spend,revenue",
        &[
            "2024-01-01,meta,m1,M1,USD,10,30",
            "2024-01-02,meta,m1,M1,USD,12,31",
        ],
    );
    let output = liftos_run!("analyze", "--input", &input);
    let stderr = assert_failure_with(
        &output,
        &[
            "u.csv: `date`: the column is missing; the file has: Date, Channel,",
            "did you mean `Date` for `date`",
            "pass --time Date --channel Channel --treatment Spend",
        ],
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let semicolon = write_file(
        dir.path(),
        "semi.csv",
        format!(
            "{}\n2024-01-01;meta;m1;M1;USD;10;30\n",
            SMALL_HEADER.replace(',', ";")
        ),
    );
    let output = liftos_run!("analyze", "--input", &semicolon);
    let stderr = assert_failure_with(
        &output,
        &["semi.csv: `date`: the column is missing", "`;`-separated"],
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let business = write_file(dir.path(), "business.csv", "date,revenue\n2024-01-01,100\n");
    let output = crate::common::analyze_business(&semicolon, &business, &[]);
    assert_failure_with(&output, &["semi.csv: `date`", "`;`-separated"]);
}

/// A file with a header alone says so, not that a column is not numeric.
#[test]
fn analyze_says_a_header_only_file_has_no_rows() {
    let (_dir, input) = small_csv(SMALL_HEADER, &[]);
    let output = liftos_run!("analyze", "--input", &input);
    let stderr = assert_failure_with(&output, &["u.csv: the file has no rows"]);
    assert!(!stderr.contains("numeric"), "{stderr}");
}

/// Channel labels differing only in case or spaces are warned of with their rows, not
/// merged.
#[test]
fn analyze_warns_of_channel_labels_that_differ_only_in_case() {
    let (_dir, input) = small_csv(
        SMALL_HEADER,
        &[
            "2024-01-01,meta,m1,M1,USD,10,30",
            "2024-01-02,Meta,m1,M1,USD,12,31",
            "2024-01-03, Meta ,m1,M1,USD,12,31",
            "2024-01-03,Meta,m1,M1,USD,12,31",
            "2024-01-01,google_ads,g1,G1,USD,10,30",
        ],
    );
    let output = liftos_run!("analyze", "--model", "dml", "--input", &input);
    // The rows are too few to analyse; the warning comes first, whatever the outcome.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "u.csv differ only in letter case or spaces around them: `meta` (1 row) and `Meta` \
             (2 rows) and ` Meta ` (1 row); each is analysed as a channel of its own"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("warning: `channel` labels of "), "{stderr}");
    assert!(!stderr.contains("google_ads"), "{stderr}");
}

/// More than one currency is warned of, each channel's currencies with their rows.
#[test]
fn analyze_warns_of_more_than_one_currency() {
    let (_dir, input) = small_csv(
        SMALL_HEADER,
        &[
            "2024-01-01,meta,m1,M1,EUR,10,30",
            "2024-01-02,meta,m1,M1,USD,12,31",
            "2024-01-01,google_ads,g1,G1,USD,10,30",
        ],
    );
    let output = liftos_run!("analyze", "--model", "dml", "--input", &input);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning: "), "{stderr}");
    assert!(
        stderr.contains(
            "u.csv holds more than one currency (EUR, USD): spend and revenue are summed and \
             compared as they are, across currencies (meta: EUR 1 row, USD 1 row; google_ads: \
             USD 1 row). `liftos clean --rates FILE"
        ),
        "{stderr}"
    );
}

/// Every file the CLI reads whole (a config, rules, a mapping, a calendar config, a
/// results JSON) stops at 64 MiB: `/dev/zero` there is one error naming the file and the
/// limit (it read without limit: 2.4 GB of memory in 5 s). Nothing is written.
#[cfg(unix)]
#[test]
fn a_file_read_whole_stops_at_64_mib() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(
        dir.path(),
        "unified.csv",
        format!("{UNIFIED_HEADER}\n2024-01-01,meta,a,c1,C1,,USD,10,100,5,1,30\n"),
    );
    let input = input.to_str().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let cases: [&[&str]; 6] = [
        &["run", "--config", "/dev/zero", "--out", o],
        &["validate", "--input", input, "--rules", "/dev/zero"],
        &[
            "unify",
            "--input",
            &format!("meta={input}"),
            "--mapping",
            "/dev/zero",
            "--out",
            &format!("{o}.csv"),
        ],
        &[
            "calendar",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02",
            "--config",
            "/dev/zero",
            "--out",
            &format!("{o}.csv"),
        ],
        &[
            "analyze",
            "--input",
            input,
            "--calendar-config",
            "/dev/zero",
            "--json",
            &format!("{o}.json"),
        ],
        &["plan", "--results", "/dev/zero", "--budget", "5"],
    ];
    for args in cases {
        let started = std::time::Instant::now();
        let output = liftos().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("/dev/zero") && stderr.contains("more than 64 MiB"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{args:?}"
        );
        for written in [o.to_owned(), format!("{o}.csv"), format!("{o}.json")] {
            assert!(!Path::new(&written).exists(), "{args:?} wrote {written}");
        }
    }
}
