//! Issue 16 through the real binary: outputs that would destroy an input or another
//! output are refused, corrupt Parquet is an error (not a panic), signals leave no
//! temporary files, config and data mistakes are named.

use std::path::Path;
use std::process::Output;

use crate::common::*;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Two rows of one campaign, the second with a negative spend.
const ROWS: &str = "2024-01-01,meta,a,c1,A,,USD,10,100,3,1,20\n\
2024-01-03,meta,a,c1,A,,USD,-5,100,3,1,20\n";

/// `dir/name`: a unified CSV file of `rows`.
fn unified_csv(dir: &Path, name: &str, rows: &str) -> std::path::PathBuf {
    write_file(dir, name, format!("{UNIFIED_HEADER}\n{rows}"))
}

fn unified_file(dir: &Path, name: &str) -> std::path::PathBuf {
    unified_csv(dir, name, ROWS)
}

#[track_caller]
fn assert_refused(o: &Output, needle: &str) {
    assert!(!o.status.success(), "accepted: {}", stderr(o));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    assert!(stderr(o).contains(needle), "{}", stderr(o));
}

/// `liftos <args>` is refused with a message containing `needle`.
#[track_caller]
fn assert_args_refused(args: &[&str], needle: &str) {
    assert_refused(&liftos().args(args).output().unwrap(), needle);
}

#[test]
fn outputs_that_are_inputs_or_each_other_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = unified_file(d, "keep.csv");
    let link = d.join("link.csv");
    std::fs::hard_link(&input, &link).unwrap();
    let sym = d.join("sym.csv");
    std::os::unix::fs::symlink(&input, &sym).unwrap();

    let p = |path: &Path| path.display().to_string();
    let (input_s, link_s, sym_s) = (p(&input), p(&link), p(&sym));
    // clean --out = --quarantine (neither exists yet).
    let (out, same_out) = (p(&d.join("out.csv")), p(&d.join(".").join("out.csv")));
    assert_args_refused(
        &[
            "clean",
            "--input",
            &input_s,
            "--out",
            &out,
            "--quarantine",
            &same_out,
        ],
        "--quarantine is the same file as --out",
    );
    assert!(!d.join("out.csv").exists());
    // clean --out = --input, through a hard link and a symlink.
    for same in [&input_s, &link_s, &sym_s] {
        assert_args_refused(
            &["clean", "--input", &input_s, "--out", same],
            "--out is the same file as --input",
        );
    }
    let (x_input, t_input) = (format!("x={input_s}"), format!("t={input_s}"));
    let cal = write_file(d, "cal.csv", "country = \"US\"\n");
    let cal_s = p(&cal);
    let dir_s = p(d);
    let bo_s = p(&d.join("business.csv"));
    for (args, needle) in [
        // validate --json = --input.
        (
            vec!["validate", "--input", &input_s, "--json", &input_s],
            "--json is the same file as --input",
        ),
        // unify --out = an input; sql --out = an input; calendar --out = its config.
        (
            vec!["unify", "--input", &x_input, "--out", &sym_s],
            "--out is the same file as --input",
        ),
        (
            vec!["sql", "--input", &t_input, "select 1", "--out", &link_s],
            "--out is the same file as --input",
        ),
        (
            vec![
                "calendar",
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-05",
                "--config",
                &cal_s,
                "--out",
                &cal_s,
            ],
            "--out is the same file as --config",
        ),
        // analyze --json = --input, and a report directory holding the input.
        (
            vec!["analyze", "--input", &input_s, "--json", &input_s],
            "--json is the same file as --input",
        ),
        (
            vec!["analyze", "--input", &input_s, "--report", &dir_s],
            "--report is the directory of --input",
        ),
        // The same at the business level (`--xlsx` and `--report` were not checked there).
        (
            vec![
                "analyze",
                "--input",
                &input_s,
                "--business-outcome",
                &bo_s,
                "--xlsx",
                &link_s,
            ],
            "--xlsx is the same file as --input",
        ),
        (
            vec![
                "analyze",
                "--input",
                &input_s,
                "--business-outcome",
                &bo_s,
                "--report",
                &dir_s,
            ],
            "--report is the directory of --input",
        ),
    ] {
        assert_args_refused(&args, needle);
    }

    assert_eq!(
        std::fs::read_to_string(&input).unwrap(),
        format!("{UNIFIED_HEADER}\n{ROWS}"),
        "the input is intact"
    );
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));
}

#[test]
fn a_parquet_footer_past_the_end_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.parquet");
    // Magic, a few bytes, a metadata length of 0x7fffffff, magic.
    let mut bytes = b"PAR1".to_vec();
    bytes.extend_from_slice(&[0u8; 16]);
    bytes.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
    bytes.extend_from_slice(b"PAR1");
    std::fs::write(&bad, bytes).unwrap();
    let o = liftos_run!("sql", "--input", format!("t={}", bad.display()), "select 1");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("bad.parquet") && !e.contains("panicked"), "{e}");
}

#[test]
fn a_duplicate_header_and_a_missing_directory_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let dup = write_file(
        dir.path(),
        "dup.csv",
        "date,channel,campaign,currency,spend,spend,impressions,clicks,conversions,revenue\n\
         2024-01-01,meta,A,USD,1,2,1,1,0,1\n",
    );
    for cmd in ["validate", "clean"] {
        let mut c = liftos();
        c.args([cmd, "--input"]).arg(&dup);
        if cmd == "clean" {
            c.arg("--out").arg(dir.path().join("c.csv"));
        }
        let o = c.output().unwrap();
        assert_refused(
            &o,
            "column `spend` appears twice in the header (columns 5 and 6)",
        );
    }
    let input = unified_file(dir.path(), "u.csv");
    let out = dir.path().join("missing").join("c.csv");
    let o = liftos_run!("clean", "--input", &input, "--out", &out);
    assert_refused(&o, &format!("{}", out.display()));
    assert!(!stderr(&o).contains("partial"), "{}", stderr(&o));
}

#[test]
fn clean_quarantines_a_far_future_typo_instead_of_filling_millions_of_rows() {
    let dir = tempfile::tempdir().unwrap();
    let input = unified_csv(
        dir.path(),
        "typo.csv",
        "2024-01-01,meta,a,c1,A,,USD,1,1,1,0,2\n9999-12-31,meta,a,c1,A,,USD,1,1,1,0,2\n",
    );
    let out = dir.path().join("c.csv");
    let q = dir.path().join("q.csv");
    let o = liftos()
        .args(["clean", "--input"])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("--quarantine")
        .arg(&q)
        .output()
        .unwrap();
    assert_success_with(&o, "2 in = 1 out − 0 filled + 1 quarantined");
    let text = std::fs::read_to_string(&q).unwrap();
    assert!(text.contains("9999-12-31 is after"), "{text}");
    assert!(std::fs::metadata(&out).unwrap().len() < 1000);
}

#[test]
fn negative_spend_is_a_warning_of_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let input = unified_file(dir.path(), "u.csv");
    let o = liftos_run!("analyze", "--model", "dml", "--input", &input);
    // Two rows cannot be analysed; the warning comes first, whatever the outcome.
    assert!(
        stderr(&o).contains("warning: `spend` is negative in 1 row(s)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn zero_trees_in_the_config_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "liftos.toml",
        "[pipeline]\nstart = \"2024-01-01\"\nend = \"2024-01-31\"\n\n[analysis]\ntrees = 0\n",
    );
    let o = liftos_run!("run", "--config", &config);
    assert_refused(&o, "analysis.trees");
    assert!(stderr(&o).contains("line 6"), "{}", stderr(&o));
}

#[test]
fn unify_uses_noted_defaults_and_lists_every_missing_column_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let klaviyo = write_file(
        dir.path(),
        "klaviyo.csv",
        "sent_at,campaign_id,campaign_name,recipients,clicks,placed_order_count,revenue\n\
         2024-01-01,9,Mail,1000,30,2,50\n",
    );
    let out = dir.path().join("u.csv");
    let unify_klaviyo = |options: &[&str]| {
        liftos()
            .arg("unify")
            .args(options)
            .arg("--input")
            .arg(format!("klaviyo={}", klaviyo.display()))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    assert_refused(&unify_klaviyo(&[]), "currency = { value = \"USD\" }");
    let o = unify_klaviyo(&["--currency", "EUR"]);
    let stdout = assert_success_with(&o, "note: source `klaviyo`: no `spend` column");
    assert!(stdout.contains("currency is 'EUR'"), "{stdout}");

    let shop = write_file(dir.path(), "shop.csv", "day,cost\n2024-01-01,3\n");
    let mapping = write_file(
        dir.path(),
        "m.toml",
        "[sources.shop.columns]\ndate = \"day\"\nspend = \"cost\"\n",
    );
    let o = liftos()
        .args(["unify", "--input"])
        .arg(format!("shop={}", shop.display()))
        .arg("--mapping")
        .arg(&mapping)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(!o.status.success());
    for col in [
        "campaign",
        "currency",
        "impressions",
        "clicks",
        "conversions",
        "revenue",
    ] {
        assert!(e.contains(&format!("\n{col} = ")), "{col}: {e}");
    }
}

#[test]
fn csv_injection_is_defused_in_outputs_meant_for_spreadsheets() {
    let dir = tempfile::tempdir().unwrap();
    let input = unified_csv(
        dir.path(),
        "u.csv",
        "2024-01-01,meta,a,c1,=1+1,,USD,-0.5,1,1,0,2\n",
    );
    let out = dir.path().join("s.csv");
    let o = liftos()
        .args(["sql", "--input"])
        .arg(format!("t={}", input.display()))
        .arg("select campaign, spend from t")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_success(&o);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "campaign,spend\n'=1+1,-0.5\n"
    );
}

/// SIGTERM and SIGHUP stop a pull like SIGINT: an error, and no temporary file left.
#[test]
fn terminated_or_hung_up_pulls_leave_no_file() {
    for signal in ["-TERM", "-HUP"] {
        let dir = tempfile::tempdir().unwrap();
        let output = interrupted_meta_pull(dir.path(), "out.csv", signal);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{signal}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("interrupted"),
            "{}",
            stderr(&output)
        );
        assert_nothing_written(dir.path(), signal);
    }
}

/// A demo stopped by SIGTERM in the middle leaves no temporary file anywhere in its
/// directory, and says the directory is incomplete.
#[test]
fn a_terminated_demo_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let child = liftos()
        .args(["demo", "--trees", "4000", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first files, then stop it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !out.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    send_signal(&child, "-TERM");
    let output = child.wait_with_output().unwrap();
    let e = stderr(&output);
    // 4000 trees in a debug build run for far longer than the 300 ms before the signal; a
    // demo that finished first would leave this test checking nothing, so it fails.
    assert!(
        !output.status.success(),
        "the demo finished before SIGTERM arrived"
    );
    assert!(
        e.contains("interrupted by SIGTERM") && e.contains("no run.json"),
        "{e}"
    );
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, found);
            } else {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                if n.contains("partial") || n.contains(".tmp") {
                    found.push(p.display().to_string());
                }
            }
        }
    }
    let mut found = Vec::new();
    if out.exists() {
        walk(&out, &mut found);
    }
    assert!(found.is_empty(), "{found:?}");
}

/// `liftos run` writes its tables into the output directory: one holding the business
/// outcome (or the lift tests) is refused before anything runs, as one holding a source
/// is.
#[test]
fn a_run_refuses_an_output_directory_holding_the_business_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    unified_file(d, "u.csv");
    let out = d.join("out");
    std::fs::create_dir(&out).unwrap();
    let outcome = "date,revenue\n2024-01-01,10\n";
    let business = write_file(&out, "unified.csv", outcome);
    let config = write_file(
        d,
        "liftos.toml",
        "[pipeline]\nstart = \"2024-01-01\"\nend = \"2024-01-03\"\n\n\
         [[sources]]\nname = \"all\"\ntype = \"file\"\npath = \"u.csv\"\n\n\
         [mapping.sources.all]\nextends = \"unified\"\n\n\
         [output]\ndir = \"out\"\n\n\
         [business_outcome]\npath = \"out/unified.csv\"\n",
    );
    let o = liftos_run!("run", "--config", &config);
    assert_refused(
        &o,
        "the output directory is the directory of business_outcome.path",
    );
    assert_eq!(std::fs::read_to_string(&business).unwrap(), outcome);
}

/// A run re-reading the source tables an earlier run saved (`out/sources/snap.csv`)
/// would write over them: an output directory holding an input in a subdirectory is
/// refused too, the file unchanged (the audit's r1: it was overwritten).
#[test]
fn a_run_refuses_an_output_directory_holding_a_source_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sources = d.join("out").join("sources");
    std::fs::create_dir_all(&sources).unwrap();
    let snap = unified_file(&sources, "snap.csv");
    let before = std::fs::read(&snap).unwrap();
    let config = write_file(
        d,
        "liftos.toml",
        "[pipeline]\nstart = \"2024-01-01\"\nend = \"2024-01-03\"\n\n\
         [[sources]]\nname = \"snap\"\ntype = \"file\"\npath = \"out/sources/snap.csv\"\n\n\
         [mapping.sources.snap]\nextends = \"unified\"\n\n\
         [output]\ndir = \"out\"\nformat = \"csv\"\n",
    );
    let o = liftos_run!("run", "--config", &config);
    assert_refused(
        &o,
        "the output directory holds, in a subdirectory, source `snap`",
    );
    assert_eq!(std::fs::read(&snap).unwrap(), before);
}

/// `--json` or `--xlsx` where the report directory writes its own files (its
/// `report.html`, a chart) would be replaced by the report, or replace it: refused before
/// anything runs (the audit's r5: the report's page was silently a JSON file).
#[test]
fn analyze_refuses_other_outputs_where_the_report_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = unified_file(d, "u.csv").display().to_string();
    let rep = d.join("rep");
    std::fs::create_dir_all(rep.join("charts")).unwrap();
    let rep_s = rep.display().to_string();
    for (flag, path, needle) in [
        (
            "--json",
            rep.join("report.html"),
            "--json is the report's report.html",
        ),
        (
            "--xlsx",
            rep.join("results.xlsx"),
            "--xlsx is the report's results.xlsx",
        ),
        (
            "--json",
            rep.join("channel_effects.csv"),
            "--json is the report's channel_effects.csv",
        ),
        (
            "--json",
            rep.join("charts").join("response_curve.png"),
            "--json is inside the report's charts",
        ),
    ] {
        let path = path.display().to_string();
        assert_args_refused(
            &[
                "analyze", "--input", &input, "--report", &rep_s, flag, &path,
            ],
            needle,
        );
    }
    let written: Vec<_> = std::fs::read_dir(&rep)
        .unwrap()
        .chain(std::fs::read_dir(rep.join("charts")).unwrap())
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "charts")
        .collect();
    assert!(written.is_empty(), "nothing written: {written:?}");
}

/// A date far from the others (a 9999-12-31 typo) is one error naming the file, the row
/// and the value (the audit's r10: only the calendar's range was named).
#[test]
fn a_typo_date_far_in_the_future_names_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let input = unified_csv(
        dir.path(),
        "future.csv",
        "2024-01-01,meta,a,c1,A,,USD,10,100,3,1,20\n\
         2024-01-02,meta,a,c1,A,,USD,12,100,3,1,25\n\
         9999-12-31,meta,a,c1,A,,USD,11,100,3,1,22\n",
    );
    let o = liftos_run!("analyze", "--input", &input, "--trees", "50");
    let e = stderr(&o);
    assert!(!o.status.success());
    for part in ["future.csv", "9999-12-31", "row 3", "typo", "`date`"] {
        assert!(e.contains(part), "{part} not in: {e}");
    }
}

/// A number column that reads as text (a thousands separator) is one error naming the
/// file, the column and the first value that is not a number.
#[test]
fn a_text_spend_column_names_the_file_and_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let input = unified_csv(
        dir.path(),
        "u.csv",
        "2024-01-01,meta,a,c1,A,,USD,10,100,3,1,20\n\
         2024-01-02,meta,a,c1,A,,USD,\"1,234.5\",100,3,1,20\n",
    );
    let o = liftos_run!("analyze", "--input", &input);
    assert_refused(
        &o,
        "u.csv: `spend`: column `spend` (the treatment) has type Utf8",
    );
    assert!(
        stderr(&o).contains("row 2 holds `1,234.5`"),
        "{}",
        stderr(&o)
    );
}

/// `clean` and `validate` name the file in a missing-column error (they said `table`),
/// and `validate` counts its example rows from 1 at the first row after the header, as a
/// spreadsheet does (they were 0-based, and a missing column listed "rows 0").
#[test]
fn clean_and_validate_name_the_file_and_count_rows_from_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(
        dir.path(),
        "export.csv",
        "date,channel,campaign_id,campaign,spend,revenue\n2024-01-01,meta,1,a,10,20\n2024-01-01,meta,1,a,10,20\n",
    );
    let out = dir.path().join("clean.csv");
    let output = liftos()
        .args(["clean", "--input"])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = assert_failure_with(&output, &["export.csv: missing column `account_id`"]);
    assert!(!err.contains("table:"), "{err}");
    let output = liftos()
        .args(["validate", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(text.contains("(e.g. data rows 2)"), "{text}");
    assert!(!text.contains("rows 0"), "{text}");
}

/// A reader that closes the pipe early (`liftos plan … | head -1`) ends the process as
/// SIGPIPE would (exit 141, nothing on stderr); it panicked with "failed printing to
/// stdout: Broken pipe" and exit 101.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(dir.path(), "t.csv", "a,b\n1,2\n");
    let mut child = liftos()
        .args(["sql", "--input"])
        .arg(format!("t={}", input.display()))
        .arg("SELECT * FROM t")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the command prints anything (it reads and plans the query first).
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(output.status.code(), Some(141), "{err}");
    assert!(leftovers(dir.path()).is_empty());
}

/// The quarantine beside `--out` (`<stem>.quarantine.<ext>`, a path the user did not
/// name) replaces only a quarantine of an earlier run: any other file there is left as
/// it is and the command refused before any work (the audit's `report.quarantine.csv`
/// of notes was replaced by a header-only table, by `unify` and `clean` alike).
/// Outputs get the mode of a created file, and a replaced file keeps its own.
#[test]
fn a_file_beside_out_that_is_not_a_quarantine_is_never_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = unified_file(d, "in.csv");
    let meta = write_file(
        d,
        "meta.csv",
        "date_start,date_stop,account_id,account_currency,campaign_id,campaign_name,spend,\
         impressions,clicks,conversions,conversion_values\n\
         2025-03-01,2025-03-01,111,USD,c1,Camp,1.5,100,3,1,50\n",
    );
    let notes = write_file(d, "report.quarantine.csv", "my notes: do not lose\n");
    let out = d.join("report.csv");
    for command in ["clean", "unify"] {
        let input_arg = match command {
            "unify" => format!("meta={}", meta.display()),
            _ => input.display().to_string(),
        };
        let o = liftos()
            .args([command, "--input", &input_arg, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert_refused(&o, "report.quarantine.csv");
        assert!(
            stderr(&o).contains("not a LiftOS quarantine")
                && stderr(&o).contains("--quarantine FILE"),
            "{}",
            stderr(&o)
        );
        assert_eq!(
            std::fs::read_to_string(&notes).unwrap(),
            "my notes: do not lose\n"
        );
        assert!(!out.exists(), "{command} wrote --out");
    }
    // Moved away, the command runs; run again, its own quarantine is replaced, and the
    // output keeps the mode it was given.
    std::fs::rename(&notes, d.join("notes.csv")).unwrap();
    let clean = || {
        let o = liftos()
            .args(["clean", "--input"])
            .arg(&input)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    clean();
    let quarantine = d.join("report.quarantine.csv");
    assert!(quarantine.exists());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let created = write_file(d, "created.txt", "");
    assert_eq!(mode(&out), mode(&created));
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).unwrap();
    clean();
    assert_eq!(mode(&out), 0o640);
}
