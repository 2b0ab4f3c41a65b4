//! `liftos analyze --business-outcome [--lift-tests]`: the business's own revenue as the
//! outcome, from files, and one clear error per kind of bad input.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::common::{
    analyze_business, analyze_json, assert_contains_all, assert_failure, assert_success, channel,
    read_json,
};
use liftos::sandbox::{LIFT_TEST_HEADER, Preset, World, WorldConfig};

/// The spillover world of seed 2 as files: unified.csv, business.csv and lift_tests.csv
/// (one 8-week holdout of Meta, 10% standard error).
fn files(dir: &Path) -> (World, PathBuf, PathBuf, PathBuf) {
    let world = World::generate(&WorldConfig::preset(Preset::Spillover, 2)).unwrap();
    let unified = dir.join("unified.csv");
    liftos::io::write_table_atomically(&unified, &world.unified_table().unwrap()).unwrap();
    let business = dir.join("business.csv");
    std::fs::write(&business, world.business_csv().unwrap()).unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2025, 3, 3).unwrap();
    let test = world.holdout_experiment("meta", start, 56, 0.1, 1).unwrap();
    let tests = dir.join("lift_tests.csv");
    std::fs::write(&tests, format!("{LIFT_TEST_HEADER}\n{}\n", test.csv_line())).unwrap();
    (world, unified, business, tests)
}

/// The same world at the campaign level (no `--business-outcome`): the spillover check
/// finds Meta's effect in Google Ads' rows and credits it to Meta, and the CLI's table,
/// the JSON and the report say so; `--no-spillover-credit` reports Meta's own rows only.
#[test]
fn campaign_level_analysis_credits_the_spillover_it_finds() {
    let dir = tempfile::tempdir().unwrap();
    let (world, unified, _, _) = files(dir.path());
    let truth = world.truth().channel("meta").unwrap().incremental_roas;
    let json = dir.path().join("results.json");
    let report = dir.path().join("report");
    let args = ["--trees", "300", "--no-cross-validation"];
    let with_report = [&args[..], &["--report", report.to_str().unwrap()]].concat();
    let stdout = analyze_json(&unified, &json, &with_report);
    assert_contains_all(
        &stdout,
        &[
            "recorded in google_ads's rows (spillover, credited)",
            "(credited to meta: in its returns above)",
            "It is credited to `meta`",
        ],
    );
    let v = read_json(&json);
    assert_eq!(v["settings"]["credit_spillover"], "true");
    let credited: Vec<&serde_json::Value> = v["diagnostics"]["spillover"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["credited"] == true)
        .collect();
    assert_eq!(credited.len(), 1, "{:#}", v["diagnostics"]["spillover"]);
    assert_eq!(
        (&credited[0]["from"], &credited[0]["to"]),
        (&"meta".into(), &"google_ads".into())
    );
    let meta = channel(&v, "meta");
    let roas = |m: &serde_json::Value, k: &str| m[k].as_f64().unwrap();
    let own = credited[0]["source_roas"].as_f64().unwrap();
    let spilled = credited[0]["roas"].as_f64().unwrap();
    assert!(
        (roas(meta, "incremental_roas") - own - spilled).abs() < 1e-9,
        "{meta}"
    );
    assert!(
        roas(meta, "incremental_roas_ci_lower") <= truth
            && truth <= roas(meta, "incremental_roas_ci_upper"),
        "{meta} against {truth}"
    );
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("(spillover, credited; its own rows: "));
    assert!(html.contains("(credited to `meta`)"));

    let own_json = dir.path().join("own.json");
    let stdout = analyze_json(
        &unified,
        &own_json,
        &[&args[..], &["--no-spillover-credit"]].concat(),
    );
    assert!(
        stdout.contains("Not credited to `meta` (crediting is off)"),
        "{stdout}"
    );
    let v = read_json(&own_json);
    assert_eq!(v["settings"]["credit_spillover"], "false");
    let meta = channel(&v, "meta");
    assert!(
        (roas(meta, "incremental_roas") - own).abs() < 1e-9,
        "{meta}"
    );
    assert!(roas(meta, "incremental_roas_ci_upper") < truth, "{meta}");
}

#[test]
fn analyze_with_the_business_outcome_and_a_lift_test() {
    let dir = tempfile::tempdir().unwrap();
    let (world, unified, business, tests) = files(dir.path());
    let json = dir.path().join("results.json");
    let report = dir.path().join("report");
    let xlsx = dir.path().join("business.xlsx");
    let stdout = analyze_json(
        &unified,
        &json,
        &[
            "--bootstrap",
            "40",
            "--business-outcome",
            business.to_str().unwrap(),
            "--lift-tests",
            tests.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--xlsx",
            xlsx.to_str().unwrap(),
        ],
    );
    assert!(
        stdout.contains("Outcome: the business's own revenue"),
        "{stdout}"
    );
    assert!(stdout.contains("Calibration with lift tests"), "{stdout}");
    assert!(stdout.contains("Organic (baseline) share"), "{stdout}");
    assert!(
        stdout.contains("Placebo (revenue against spend 7 days later, should be ≈ 0)"),
        "{stdout}"
    );
    let v = read_json(&json);
    assert_eq!(v["outcome"], "business");
    assert_eq!(v["diagnostics"]["placebo"]["name"], "placebo_lead_7");
    assert_eq!(v["model"], "business_mmm");
    let channels = v["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 4);
    let meta = channel(&v, "meta");
    let truth = world.truth().channel("meta").unwrap();
    let (lo, hi) = (
        meta["incremental_roas_ci_lower"].as_f64().unwrap(),
        meta["incremental_roas_ci_upper"].as_f64().unwrap(),
    );
    assert!(
        lo <= truth.business_incremental_roas && truth.business_incremental_roas <= hi,
        "{meta}"
    );
    // The naive (platform-reported) column stays.
    assert!(meta["naive_roas"].as_f64().unwrap() > 0.0);
    assert!(v["baseline_share"]["estimate"].as_f64().unwrap() > 0.3);
    assert_eq!(v["calibration"]["tests"].as_array().unwrap().len(), 1);

    // The report of a business-level run: which outcome, the organic share, and the
    // calibration before and after, with the same numbers as the JSON.
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(
        html.contains("the business's own revenue per day"),
        "outcome note"
    );
    let share = v["baseline_share"]["estimate"].as_f64().unwrap();
    assert!(
        html.contains(&format!("{:.1}%", 100.0 * share)),
        "organic share"
    );
    assert!(html.contains("Calibration with lift tests"));
    let after = channel(&v["calibration"], "meta")["after"]["incremental_roas"]
        .as_f64()
        .unwrap();
    assert!(
        html.contains(&format!("{after:.2} [")),
        "meta after calibration: {after}"
    );
    assert!(report.join("results.xlsx").is_file() && xlsx.is_file());
    assert!(report.join("channel_effects.csv").is_file());
}

/// Runs `analyze --business-outcome bad` and returns stderr (the run must fail).
fn bad_outcome(dir: &Path, unified: &Path, text: &str) -> String {
    let bad = dir.join("bad_business.csv");
    std::fs::write(&bad, text).unwrap();
    assert_failure(&analyze_business(unified, &bad, &[]))
}

#[test]
fn bad_business_outcomes_are_one_clear_error_naming_file_row_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let (_, unified, _, _) = files(dir.path());
    // (file, what its error says)
    let cases: [(&str, &[&str]); 5] = [
        (
            "date,revenue\n2030-01-01,10\n2030-01-02,11\n",
            &[
                "unified.csv",
                "no row falls inside",
                "2030-01-01 to 2030-01-02",
            ],
        ),
        (
            "date,sales\n2024-01-01,10\n",
            &["bad_business.csv", "`revenue`", "missing"],
        ),
        (
            "date,revenue\n2024-01-01,10\n2024-13-02,11\n",
            &["row 2", "`date`", "2024-13-02"],
        ),
        (
            "date,revenue\n2024-01-01,10\n2024-01-02,-5\n",
            &["row 2", "`revenue`", "negative"],
        ),
        (
            "date,revenue\n2024-01-01,10\n2024-01-01,11\n",
            &["row 2", "also on row 1"],
        ),
    ];
    for (text, says) in cases {
        let e = bad_outcome(dir.path(), &unified, text);
        assert_contains_all(&e, says);
        assert!(!e.contains("panicked"), "{e}");
    }
    // A lift test of a channel the data do not have is set aside with a warning naming
    // its file, row and the channels; the analysis runs (it stopped it).
    let (_, _, business, _) = files(dir.path());
    let tests = dir.path().join("bad_tests.csv");
    let line = "bing,2025-03-03,2025-04-27,1000,100";
    std::fs::write(&tests, format!("{LIFT_TEST_HEADER}\n{line}\n")).unwrap();
    let args = [OsStr::new("--lift-tests"), tests.as_os_str()];
    let out = assert_success(&analyze_business(&unified, &business, &args));
    assert_contains_all(
        &out,
        &["bad_tests.csv", "row 1", "`bing`", "set aside", "meta"],
    );
}

/// Runs `analyze --business-outcome` with `extra` arguments and returns the results JSON's
/// `baseline_days` setting (the named days the baseline has a flag for).
fn baseline_days(dir: &Path, unified: &Path, business: &Path, extra: &[&OsStr]) -> String {
    let json = dir.join("days.json");
    let extra = [extra, &["--json".as_ref(), json.as_os_str()]].concat();
    assert_success(&analyze_business(unified, business, &extra));
    let v = read_json(&json);
    v["settings"]["baseline_days"].as_str().unwrap().to_string()
}

#[test]
fn the_calendar_config_names_the_business_baselines_peak_seasons() {
    let dir = tempfile::tempdir().unwrap();
    let (_, unified, business, _) = files(dir.path());
    // The defaults: the country's holidays and events, Black Friday week and December.
    let days = baseline_days(dir.path(), &unified, &business, &[]);
    assert_contains_all(
        &days,
        &[
            "holiday_name:Christmas Day",
            "event_name:Black Friday",
            "peak_season:black_friday_week",
            "peak_season:holiday_season",
        ],
    );
    assert!(!days.contains("peak_season:q4"), "{days}");
    // The business's own Q4 beside Black Friday week: both flags, although they overlap
    // (the calendar's `peak_season` column names only the first season of a day), and no
    // December season any more.
    let config = dir.path().join("calendar.toml");
    std::fs::write(
        &config,
        r#"
country = "US"

[[business.peak_seasons]]
name = "black_friday_week"
start = { date = { kind = "fixed", month = 11, day = 24 } }
end = { date = { kind = "fixed", month = 11, day = 30 } }

[[business.peak_seasons]]
name = "q4"
start = { date = { kind = "fixed", month = 11, day = 15 } }
end = { date = { kind = "fixed", month = 12, day = 24 } }
"#,
    )
    .unwrap();
    let days = baseline_days(
        dir.path(),
        &unified,
        &business,
        &["--calendar-config".as_ref(), config.as_os_str()],
    );
    assert!(days.contains("peak_season:q4"), "{days}");
    assert!(days.contains("peak_season:black_friday_week"), "{days}");
    assert!(!days.contains("peak_season:holiday_season"), "{days}");
    // Each season's flag holds all of its days, those of Black Friday week included.
    let (data, _) = liftos::business::business_data(
        &liftos::transform::read_table(&unified).unwrap(),
        &unified,
        &liftos::business::read_business_outcome(&business).unwrap(),
        &liftos::calendar::CalendarOptions::from_toml_file(&config).unwrap(),
    )
    .unwrap();
    let q4 = &data
        .day_flags
        .iter()
        .find(|(name, _)| name == "peak_season:q4")
        .unwrap()
        .1;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let on = |day: &str| {
        let d = (day.parse::<chrono::NaiveDate>().unwrap() - epoch).num_days() as i32;
        q4[data.dates.iter().position(|x| *x == d).unwrap()]
    };
    assert!(on("2024-11-15") && on("2024-11-26") && on("2024-12-24"));
    assert!(!on("2024-11-14") && !on("2024-12-25"));
    assert_eq!(
        q4.iter().filter(|f| **f).count(),
        2 * 40,
        "40 days a year, two years"
    );
    assert!(days.contains("holiday_name:Christmas Day"), "{days}");
    // `--country` overrides the file's: no US holidays with `none`.
    let days = baseline_days(
        dir.path(),
        &unified,
        &business,
        &[
            "--calendar-config".as_ref(),
            config.as_os_str(),
            "--country".as_ref(),
            "none".as_ref(),
        ],
    );
    assert!(!days.contains("holiday_name:"), "{days}");
    assert!(days.contains("peak_season:q4"), "{days}");
    // A bad file is one error naming it and the key.
    std::fs::write(&config, "[business]\npeak_season = 3\n").unwrap();
    let output = analyze_business(
        &unified,
        &business,
        &["--calendar-config".as_ref(), config.as_os_str()],
    );
    let e = assert_failure(&output);
    assert!(
        e.contains("calendar.toml") && e.contains("peak_season"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
}

/// `--allow-negative-effects` reports the fit unconstrained at the business level and at
/// the campaign level (the results' `non_negative` setting says which was used).
#[test]
fn allow_negative_effects_reaches_both_levels() {
    let dir = tempfile::tempdir().unwrap();
    let (_, unified, business, _) = files(dir.path());
    for (extra, expected) in [(None, "true"), (Some("--allow-negative-effects"), "false")] {
        let json = dir.path().join(format!("results_{expected}.json"));
        let mut args: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
        args.extend([OsStr::new("--json"), json.as_os_str()]);
        assert_success(&analyze_business(&unified, &business, &args));
        assert_eq!(read_json(&json)["settings"]["non_negative"], expected);
        let json = dir.path().join(format!("panel_{expected}.json"));
        let mut args = vec!["--trees", "50", "--no-cross-validation"];
        args.extend(extra);
        analyze_json(&unified, &json, &args);
        let v = read_json(&json);
        assert_eq!(
            v["settings"]["non_negative"], expected,
            "{:#}",
            v["settings"]
        );
    }
}

/// `--no-common-spend` reaches the business level too. On a world with a hidden demand
/// shock that moves every budget (the `latent` preset), the facade's campaigns show the
/// common movement: by default the baseline controls for it (`common_spend.controlled`)
/// and the printed warnings say so; with the flag the same check is reported, not used,
/// and the warning says the effects may be overstated. The results' `common_spend`
/// setting says which.
#[test]
fn no_common_spend_reaches_the_business_level() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::generate(&WorldConfig::preset(Preset::Latent, 1)).unwrap();
    let unified = dir.path().join("unified.csv");
    liftos::io::write_table_atomically(&unified, &world.unified_table().unwrap()).unwrap();
    let business = dir.path().join("business.csv");
    std::fs::write(&business, world.business_csv().unwrap()).unwrap();
    let mut ratios = Vec::new();
    for (extra, used) in [(None, true), (Some("--no-common-spend"), false)] {
        let json = dir.path().join(format!("common_{used}.json"));
        let mut args: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
        args.extend([OsStr::new("--json"), json.as_os_str()]);
        let stdout = assert_success(&analyze_business(&unified, &business, &args));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(v["settings"]["common_spend"], used.to_string());
        let check = &v["common_spend"];
        assert!(check["entities"].as_u64().unwrap() >= 4, "{check}");
        assert_eq!(check["controlled"], used, "{check}");
        let says = if used {
            "The baseline controls for the budgets' common movement"
        } else {
            "The common-spend controls are switched off"
        };
        assert!(
            stdout.contains("budgets move together") && stdout.contains(says),
            "{stdout}"
        );
        ratios.push(check["variance_ratio"].as_f64().unwrap());
    }
    // The check is the same; only its use differs.
    assert_eq!(ratios[0], ratios[1]);
    assert!(ratios[0] >= liftos::causal::COMMON_SPEND_GATE, "{ratios:?}");
}
