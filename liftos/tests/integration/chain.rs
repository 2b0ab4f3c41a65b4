//! `liftos unify → validate → clean → sql` on the three platforms' exports of the
//! sandbox world (pulled from the fake APIs), made messy on purpose.

use std::collections::BTreeMap;
use std::path::Path;

use liftos::sandbox::fake::FaultConfig;

use crate::common::*;

/// The Meta export with `gaps` rows removed from inside a campaign's flight, the first
/// `dups` remaining rows repeated and one row whose spend is not a number.
fn make_messy_meta(clean: &Path, messy: &Path, gaps: usize, dups: usize) -> (f64, f64) {
    let text = std::fs::read_to_string(clean).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name).unwrap();
    let (date, campaign, spend) = (col("date_start"), col("campaign_id"), col("spend"));
    let revenue = col("conversion_values");
    let rows: Vec<&str> = lines.collect();
    // Campaign ids, names and numbers hold no commas in the world.
    let field = |line: &str, i: usize| line.split(',').nth(i).unwrap().to_owned();
    let mut by_campaign: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &rows {
        by_campaign
            .entry(field(r, campaign))
            .or_default()
            .push(field(r, date));
    }
    let (first_campaign, days) = by_campaign.iter().next().unwrap();
    let (min, max) = (days.iter().min().unwrap(), days.iter().max().unwrap());
    let mut removed = 0;
    let (mut removed_spend, mut removed_revenue) = (0.0, 0.0);
    let mut kept = Vec::new();
    for r in &rows {
        let d = field(r, date);
        if removed < gaps && field(r, campaign) == *first_campaign && d != *min && d != *max {
            // Every other inner day, so the gaps are distinct days.
            if d.ends_with(['3', '5', '7']) {
                removed += 1;
                removed_spend += field(r, spend).parse::<f64>().unwrap();
                removed_revenue += field(r, revenue).parse::<f64>().unwrap();
                continue;
            }
        }
        kept.push(*r);
    }
    assert_eq!(removed, gaps);
    let mut out = vec![header.to_owned()];
    out.extend(kept.iter().map(|r| (*r).to_owned()));
    out.extend(kept.iter().take(dups).map(|r| (*r).to_owned()));
    let mut bad: Vec<String> = kept[0].split(',').map(str::to_owned).collect();
    bad[spend] = "n/a".to_owned();
    out.push(bad.join(","));
    std::fs::write(messy, out.join("\n") + "\n").unwrap();
    (removed_spend, removed_revenue)
}

#[test]
fn unify_validate_clean_sql_on_the_three_exports() {
    let world = world();
    let n = world.num_rows();
    let fakes = start_fakes(world.clone(), FaultConfig::none());
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    for (source, file) in [
        ("meta", "meta.csv"),
        ("google_ads", "google_ads.parquet"),
        ("klaviyo", "klaviyo.csv"),
    ] {
        assert_success(&pull(&fakes, &world, source, &d(file)));
    }
    let (gaps, dups) = (2, 5);
    let (removed_spend, removed_revenue) =
        make_messy_meta(&d("meta.csv"), &d("meta_messy.csv"), gaps, dups);
    let world_spend: f64 = world.rows().map(|r| r.spend).sum();
    let world_revenue: f64 = world.rows().map(|r| r.revenue).sum();

    // The arguments of a command, its files in the folder `at` names them in.
    let os = |s: &str| std::ffi::OsString::from(s);
    let path = |p: std::path::PathBuf| p.into_os_string();
    let unify_args = |at: &dyn Fn(&str) -> std::path::PathBuf| {
        vec![
            os("unify"),
            os("--input"),
            os(&format!("meta={}", d("meta_messy.csv").display())),
            os("--input"),
            os(&format!("google_ads={}", d("google_ads.parquet").display())),
            os("--input"),
            os(&format!("klaviyo={}", d("klaviyo.csv").display())),
            os("--out"),
            path(at("unified.csv")),
        ]
    };
    // A command whose files, after their flags, are all in the folder of `at`.
    let in_folder = |command: &'static str, files: &'static [(&'static str, &'static str)]| {
        move |at: &dyn Fn(&str) -> std::path::PathBuf| {
            let mut args = vec![os(command)];
            for (flag, file) in files {
                args.extend([os(flag), path(at(file))]);
            }
            args
        }
    };
    let validate_args = in_folder(
        "validate",
        &[("--input", "unified.csv"), ("--json", "report.json")],
    );
    // Runs a command; asserts success and returns its stdout.
    let run = |args: &[std::ffi::OsString]| {
        let out = liftos().args(args).output().unwrap();
        assert_success(&out)
    };

    // unify: every row lands or is quarantined with its reason.
    let stdout = run(&unify_args(&d));
    let unified_rows = n - gaps + dups;
    assert!(
        stdout.starts_with(&format!(
            "Unified {} rows from 3 source(s) into {unified_rows} rows (1 quarantined)",
            unified_rows + 1
        )),
        "{stdout}"
    );
    let unified = liftos::transform::read_table(d("unified.csv")).unwrap();
    assert_eq!(unified.num_rows(), unified_rows);
    let quarantine = liftos::transform::read_table(d("unified.quarantine.csv")).unwrap();
    assert_eq!(quarantine.num_rows(), 1);
    let reason = liftos::transform::pretty_format(&[quarantine]).unwrap();
    assert!(reason.contains("spend 'n/a' is not a number"), "{reason}");

    // validate: findings are data (exit 0), the duplicates and gaps are found.
    let stdout = run(&validate_args(&d));
    assert!(
        stdout.contains(&format!("{unified_rows} rows · completeness 100.0%")),
        "{stdout}"
    );
    let report = read_json(d("report.json"));
    assert_eq!(report["rows"], unified_rows);
    let issue = |rule: &str| entry(&report, "issues", "rule", rule);
    assert_eq!(issue("duplicate_keys")["row_count"], dups);
    assert_eq!(issue("duplicate_keys")["severity"], "error");
    assert_eq!(issue("date_gaps")["row_count"], gaps);
    assert!(stdout.contains("duplicate_keys"), "{stdout}");

    // clean: duplicates dropped, gaps filled, every row accounted for.
    let out = liftos()
        .args(["clean", "--input"])
        .arg(d("unified.csv"))
        .arg("--out")
        .arg(d("clean.parquet"))
        .output()
        .unwrap();
    let stdout = assert_success(&out);
    assert!(
        stdout.contains(&format!(
            "Rows: {unified_rows} in = {n} out − {gaps} filled + 0 quarantined + {dups} duplicates dropped\n"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("remove_duplicates"), "{stdout}");
    assert!(!d("clean.quarantine.parquet").exists(), "no quarantine");
    let clean = liftos::transform::read_table(d("clean.parquet")).unwrap();
    assert_eq!(clean.num_rows(), n);
    assert_money(
        "clean spend",
        sum(&clean, "spend"),
        world_spend - removed_spend,
    );

    // sql: per-channel totals from the clean file.
    let sql = |query: &str| {
        let mut command = liftos();
        command
            .arg("sql")
            .arg("--input")
            .arg(format!("clean={}", d("clean.parquet").display()))
            .arg(query);
        command
    };
    let out = sql("SELECT channel, count(*) AS n, sum(spend) AS spend, sum(revenue) AS revenue FROM clean GROUP BY channel ORDER BY channel")
        .arg("--out")
        .arg(d("by_channel.csv"))
        .output()
        .unwrap();
    let stdout = assert_success_with(&out, "| channel");
    assert!(stdout.contains("3 row(s), written to"), "{stdout}");
    let by_channel = liftos::transform::read_table(d("by_channel.csv")).unwrap();
    assert_eq!(by_channel.num_rows(), 3);
    assert_eq!(sum(&by_channel, "n") as usize, n);
    assert_money(
        "sql spend",
        sum(&by_channel, "spend"),
        world_spend - removed_spend,
    );
    assert_money(
        "sql revenue",
        sum(&by_channel, "revenue"),
        world_revenue - removed_revenue,
    );
    // A large result is counted, not printed whole.
    let out = sql("SELECT date, channel, spend FROM clean ORDER BY date, channel, spend")
        .args(["--show", "5"])
        .output()
        .unwrap();
    let stdout = assert_success(&out);
    let printed = stdout.lines().filter(|l| l.starts_with("| 20")).count();
    assert_eq!(printed, 5, "{stdout}");
    assert!(
        stdout.contains(&format!("{n} row(s) (the first 5 shown")),
        "{stdout}"
    );
    assert!(stdout.contains("--out FILE writes them all"), "{stdout}");

    // The same commands piece by piece (`--in-parts`, automatic on large inputs): the
    // same output, files and report.
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    let p = |name: &str| parts.join(name);
    // The command of `args` on the whole files (in `d`) and with `--in-parts` (in `p`):
    // the same output, paths aside, and the same `files`.
    type Args<'a> = &'a dyn Fn(&dyn Fn(&str) -> std::path::PathBuf) -> Vec<std::ffi::OsString>;
    let same_both_ways = |args: Args<'_>, files: &[&str]| {
        let whole = run(&args(&d));
        let mut in_parts = args(&p);
        in_parts.push(os("--in-parts"));
        assert_eq!(
            run(&in_parts).replace(
                &parts.display().to_string(),
                &dir.path().display().to_string()
            ),
            whole
        );
        for file in files {
            assert_eq!(
                std::fs::read(p(file)).unwrap(),
                std::fs::read(d(file)).unwrap(),
                "{file}"
            );
        }
    };
    same_both_ways(&unify_args, &["unified.csv", "unified.quarantine.csv"]);
    same_both_ways(&validate_args, &["report.json"]);
    let clean_args = in_folder(
        "clean",
        &[
            ("--input", "unified.csv"),
            ("--out", "clean.csv"),
            ("--quarantine", "clean.quarantine.csv"),
        ],
    );
    same_both_ways(&clean_args, &["clean.csv", "clean.quarantine.csv"]);
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn bad_inputs_are_usage_or_file_errors_that_name_the_culprit() {
    let dir = tempfile::tempdir().unwrap();
    // NAME=FILE syntax: a clap usage error (exit 2) naming the flag.
    let out = liftos_run!("unify", "--input", "meta.csv", "--out", "u.csv");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--input") && stderr.contains("NAME=FILE"),
        "{stderr}"
    );

    // A missing file is named.
    let missing = dir.path().join("nope.csv");
    let out = liftos_run!("validate", "--input", &missing);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nope.csv"), "{stderr}");

    // A source without a mapping names the source; nothing is written.
    let f = write_file(dir.path(), "tiktok.csv", "day,cost\n2024-01-01,3\n");
    let out_file = dir.path().join("u.csv");
    let unify_tiktok = |options: &[&std::ffi::OsStr]| {
        liftos()
            .arg("unify")
            .arg("--input")
            .arg(format!("tiktok={}", f.display()))
            .args(options)
            .arg("--out")
            .arg(&out_file)
            .output()
            .unwrap()
    };
    let out = unify_tiktok(&[]);
    assert_failure_with(&out, &["tiktok"]);
    assert!(!out_file.exists());

    // ...and a mapping file makes it a source.
    let mapping = write_file(
        dir.path(),
        "map.toml",
        "[sources.tiktok.columns]\ndate = \"day\"\nspend = \"cost\"\ncampaign = { value = \"TikTok\" }\n\
         currency = { value = \"USD\" }\nimpressions = { value = \"0\" }\nclicks = { value = \"0\" }\n\
         conversions = { value = \"0\" }\nrevenue = { value = \"0\" }\n",
    );
    let out = unify_tiktok(&["--mapping".as_ref(), mapping.as_os_str()]);
    assert_success_with(&out, "tiktok");
    let t = liftos::transform::read_table(&out_file).unwrap();
    assert_eq!(t.num_rows(), 1);
    assert_eq!(sum(&t, "spend"), 3.0);

    // standardize_currency without rates: names the flag to add.
    let out = liftos()
        .args(["clean", "--input"])
        .arg(&out_file)
        .args(["--out", "c.csv", "--fix", "standardize_currency"])
        .output()
        .unwrap();
    assert_failure_with(&out, &["--fix", "--rates"]);

    // Bad SQL is one error line.
    let out = liftos()
        .arg("sql")
        .arg("--input")
        .arg(format!("u={}", out_file.display()))
        .arg("SELEC 1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: SQL"), "{stderr}");
}

/// Ids written with leading zeros stay text in `liftos sql`: campaign `0123` and `123`
/// are two campaigns, and account `0012345678` keeps its zeros (the audit's r4: one row,
/// `12345678 | 123 | 2`).
#[test]
fn sql_keeps_ids_with_leading_zeros_apart() {
    let dir = tempfile::tempdir().unwrap();
    let ids = write_file(
        dir.path(),
        "ids.csv",
        "date,account_id,campaign_id,spend\n\
         2024-01-01,0012345678,0123,10\n\
         2024-01-01,0012345678,123,30\n",
    );
    let out = dir.path().join("q.csv");
    let o = liftos()
        .arg("sql")
        .arg("--input")
        .arg(format!("t={}", ids.display()))
        .arg("SELECT account_id, campaign_id, sum(spend) AS spend FROM t GROUP BY 1, 2 ORDER BY 2")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = assert_success_with(&o, "2 row(s)");
    assert!(stdout.contains("0012345678"), "{stdout}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text, "account_id,campaign_id,spend\n0012345678,0123,10\n0012345678,123,30\n",
        "{text}"
    );
}
