//! `liftos sync`, `sql --store` and `run --store` end to end: the binary against the
//! fake platform APIs (faults on), real files, real processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use liftos::sandbox::fake::FaultConfig;
use liftos::transform::SqlSession;
use liftos::transform::store::{MANIFEST, Store};

use crate::common::*;

const SOURCES: [(&str, &str); 3] = [
    ("meta", "date_start, account_id, campaign_id"),
    (
        "google_ads",
        "\"segments.date\", \"customer.id\", \"campaign.id\"",
    ),
    ("klaviyo", "sent_at, account_id, campaign_id"),
];

pub(crate) fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A config with the three sources against `fakes`.
fn config(dir: &Path, fakes: &Fakes, start: &str, end: &str) -> PathBuf {
    let output = "\n[output]\ndir = \"out\"\nreport = false\n";
    let text = config_text(fakes, start, end, &["meta", "google_ads", "klaviyo"]) + output;
    let path = dir.join("liftos.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The `[pipeline]`, `[[sources]]` (against `fakes`) and `[analysis]` of a config.
fn config_text(fakes: &Fakes, start: &str, end: &str, sources: &[&str]) -> String {
    let mut text = format!("[pipeline]\nstart = \"{start}\"\nend = \"{end}\"\n");
    for source in sources {
        let base_url = fakes.servers.base_url(source).unwrap();
        text += &format!(
            "\n[[sources]]\nname = \"{source}\"\ntype = \"{source}\"\nbase_url = \"{base_url}\"\n"
        );
        if *source == "klaviyo" {
            text += "cost_per_recipient = 0.01\n";
        }
    }
    text + "\n[analysis]\ntrees = 50\nresponse = \"linear\"\ncross_validation = false\n"
}

/// `liftos <verb> --config <config> --store <store> <args>` (`sync` or `watch`) with the
/// fakes' credentials.
fn store_command(verb: &str, fakes: &Fakes, config: &Path, store: &Path, args: &[&str]) -> Command {
    let mut cmd = liftos();
    cmd.arg(verb)
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store)
        .args(args)
        .env("LIFTOS_KLAVIYO_REPORT_INTERVAL_SECS", "0")
        .env("LIFTOS_LOG", "off");
    with_credentials(&mut cmd, fakes);
    cmd
}

pub(crate) fn sync_command(fakes: &Fakes, config: &Path, store: &Path, args: &[&str]) -> Command {
    store_command("sync", fakes, config, store, args)
}

fn sync(fakes: &Fakes, config: &Path, store: &Path, args: &[&str]) -> String {
    assert_success(&sync_command(fakes, config, store, args).output().unwrap())
}

/// The counts line of `source` in a sync's output.
fn counts_of<'a>(stdout: &'a str, source: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{source} ")))
        .and_then(|l| l.split(": ").nth(1))
        .unwrap_or_else(|| panic!("no line for {source} in {stdout}"))
}

/// `table` as text, rows ordered by `key`.
fn sorted(table: RecordBatch, key: &str) -> String {
    let session = SqlSession::new().unwrap();
    session.register_batch("t", table).unwrap();
    let out = session
        .sql_table(&format!("SELECT * FROM t ORDER BY {key}"))
        .unwrap();
    liftos::transform::pretty_format(&[out]).unwrap()
}

/// A fresh full `liftos pull` of `source` over `start..=end`.
fn fresh_pull(fakes: &Fakes, source: &str, start: &str, end: &str, dir: &Path) -> RecordBatch {
    let out = dir.join(format!("fresh-{source}.parquet"));
    let output = pull_range(fakes, source, start, end, &out, |c| {
        c.env("LIFTOS_KLAVIYO_REPORT_INTERVAL_SECS", "0")
            .env("LIFTOS_LOG", "off")
    });
    assert_success(&output);
    liftos::transform::read_table(&out).unwrap()
}

/// Every source of the store equals a fresh full pull of `start..=end`, row for row.
#[track_caller]
fn assert_store_equals_fresh_pulls(fakes: &Fakes, store: &Path, start: &str, end: &str) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(store).unwrap();
    for (source, key) in SOURCES {
        let stored = sorted(s.read(source).unwrap(), key);
        let fresh = sorted(fresh_pull(fakes, source, start, end, dir.path()), key);
        assert_eq!(stored, fresh, "{source}: store and fresh pull differ");
    }
}

fn faults() -> FaultConfig {
    // 5xx answers and connections dropped mid-body, retried by the connectors. (Meta's
    // throttling asks for whole minutes, too long for a test.)
    FaultConfig::none()
        .with_seed(3)
        .with_server_error_rate(0.15)
        .with_drop_rate(0.05)
}

/// Fakes of the standard world (with [`faults`]) whose clock says `today`, three days
/// still restating; a directory with the config of `start` to `end`; its store's path.
fn clocked(today: &str, start: &str, end: &str) -> (Fakes, tempfile::TempDir, PathBuf, PathBuf) {
    clocked_with(faults(), today, start, end)
}

/// [`clocked`] with other faults.
fn clocked_with(
    faults: FaultConfig,
    today: &str,
    start: &str,
    end: &str,
) -> (Fakes, tempfile::TempDir, PathBuf, PathBuf) {
    let fakes = start_fakes(world(), faults);
    fakes.servers.set_clock(Some(day(today)), 3);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &fakes, start, end);
    let store = dir.path().join("store");
    (fakes, dir, config, store)
}

#[test]
fn overlapping_syncs_keep_one_consistent_store_and_a_rerun_changes_nothing() {
    // The clock on: 2024-02-10 is today, three days still restating.
    let (fakes, _dir, config, store) = clocked("2024-02-10", "2024-01-15", "2024-02-10");
    let today = ["--today", "2024-02-10"];
    // Two syncs at once: the lock makes one wait for the other; both succeed.
    let spawn = || {
        sync_command(&fakes, &config, &store, &today)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (a, b) = (assert_success(&a), assert_success(&b));
    // One of them read everything (27 days × 2 Meta campaigns), the other found it stored.
    let both = format!("{a}{b}");
    assert!(
        both.contains("54 new, 0 restated, 0 unchanged, 0 removed"),
        "{both}"
    );
    assert!(
        both.contains("0 new, 0 restated, 54 unchanged, 0 removed"),
        "{both}"
    );
    assert_store_equals_fresh_pulls(&fakes, &store, "2024-01-15", "2024-02-10");
    let manifest = std::fs::read_to_string(store.join(MANIFEST)).unwrap();
    let commit = Store::open(&store).unwrap().commits();
    // A rerun reads the lookback again and changes nothing, not even the manifest.
    let again = sync(&fakes, &config, &store, &today);
    assert_eq!(
        counts_of(&again, "meta").split(';').next(),
        Some("0 new, 0 restated, 54 unchanged, 0 removed")
    );
    assert_eq!(Store::open(&store).unwrap().commits(), commit);
    assert_eq!(
        std::fs::read_to_string(store.join(MANIFEST)).unwrap(),
        manifest
    );
    // Secrets never reach the store.
    let c = fakes.servers.credentials();
    for secret in [
        &c.meta_access_token,
        &c.google_client_secret,
        &c.google_refresh_token,
        &c.google_developer_token,
        &c.klaviyo_api_key,
    ] {
        assert!(
            !manifest.contains(secret.as_str()),
            "the manifest holds a secret"
        );
        assert!(!both.contains(secret.as_str()), "the output holds a secret");
        for f in std::fs::read_dir(store.join("data")).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "a data file holds a secret");
        }
    }
}

#[test]
fn a_restatement_inside_the_lookback_leaves_the_store_equal_to_a_fresh_full_pull() {
    let (fakes, _dir, config, store) = clocked("2024-02-01", "2024-01-10", "2024-02-14");
    let first = sync(&fakes, &config, &store, &["--today", "2024-02-01"]);
    assert_eq!(
        counts_of(&first, "meta").split(';').next(),
        Some("46 new, 0 restated, 0 unchanged, 0 removed"),
        "{first}"
    );
    // Two days later the last three days' conversions have grown: 3 days × 2 campaigns
    // restated, 2 days × 2 campaigns new; the 20 days before are re-read unchanged.
    fakes.servers.advance_days(2);
    let second = sync(&fakes, &config, &store, &["--today", "2024-02-03"]);
    assert_eq!(
        counts_of(&second, "meta").split(';').next(),
        Some("4 new, 6 restated, 40 unchanged, 0 removed"),
        "{second}"
    );
    assert_eq!(
        counts_of(&second, "google_ads").split(';').next(),
        Some("4 new, 6 restated, 40 unchanged, 0 removed"),
        "{second}"
    );
    assert_store_equals_fresh_pulls(&fakes, &store, "2024-01-10", "2024-02-03");
    // Today (2024-02-03) is stored but partial: left out of what the model reads.
    let s = Store::open(&store).unwrap();
    let meta = s.source("meta").unwrap();
    assert_eq!(meta.last_complete_day, "2024-02-02");
    assert_eq!(meta.partial_days, ["2024-02-03"]);
    assert_eq!(s.read("meta").unwrap().num_rows(), 50);
    assert_eq!(s.read_complete("meta").unwrap().num_rows(), 48);
}

#[test]
fn a_sync_killed_with_sigkill_leaves_the_store_consistent_and_the_next_sync_completes_it() {
    let world = world();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let fast = start_fakes(world.clone(), FaultConfig::none());
    fast.servers.set_clock(Some(day("2024-02-01")), 3);
    let config_fast = config(dir.path(), &fast, "2024-01-10", "2024-02-14");
    sync(&fast, &config_fast, &store, &["--today", "2024-02-01"]);
    let committed = Store::open(&store)
        .unwrap()
        .read("meta")
        .unwrap()
        .num_rows();
    // Slow answers: the sync is killed while it pulls, merges or commits.
    let slow = start_fakes(
        world,
        FaultConfig::none().with_slow(1.0, Duration::from_millis(400)),
    );
    slow.servers.set_clock(Some(day("2024-02-10")), 3);
    fast.servers.set_clock(Some(day("2024-02-10")), 3);
    let config_slow = config(dir.path(), &slow, "2024-01-10", "2024-02-14");
    for wait_ms in [150, 450, 800, 1200] {
        let mut child = sync_command(&slow, &config_slow, &store, &["--today", "2024-02-10"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        // Whatever it had done, the store opens and reads whole: the old commit, or
        // (had it finished) the new one.
        let s = Store::open(&store).unwrap();
        let rows = s.read("meta").unwrap().num_rows();
        assert!(
            rows == committed || rows == 64,
            "after a kill at {wait_ms} ms ({status}): {rows} rows"
        );
        for source in ["google_ads", "klaviyo"] {
            s.read(source).unwrap();
        }
    }
    // The next sync completes it, and cleans up what the killed ones left.
    let out = sync(&fast, &config_fast, &store, &["--today", "2024-02-10"]);
    assert!(out.contains("store commit"), "{out}");
    assert_store_equals_fresh_pulls(&fast, &store, "2024-01-10", "2024-02-10");
    let files = std::fs::read_dir(store.join("data")).unwrap().count();
    assert_eq!(files, 3, "one file per source once the stale ones are gone");
    let stray: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

/// `liftos sync` into `store`, expecting one error line.
fn sync_error(fakes: &Fakes, config: &Path, store: &Path) -> String {
    let output: Output = sync_command(fakes, config, store, &["--today", "2024-02-01"])
        .output()
        .unwrap();
    assert!(!output.status.success(), "a bad store must fail");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one clear error: {stderr}"
    );
    stderr
}

#[test]
fn bad_stores_give_one_clear_error_and_nothing_is_overwritten() {
    let (fakes, dir, config, _) = clocked_with(
        FaultConfig::none(),
        "2024-02-01",
        "2024-01-20",
        "2024-02-01",
    );
    // A directory written by something else.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("data.csv"), "a,b\n1,2\n").unwrap();
    let e = sync_error(&fakes, &config, &foreign);
    assert!(
        e.contains("is not a LiftOS store") && e.contains("foreign"),
        "{e}"
    );
    let names: Vec<_> = std::fs::read_dir(&foreign).unwrap().collect();
    assert_eq!(names.len(), 1);
    assert_eq!(
        std::fs::read_to_string(foreign.join("data.csv")).unwrap(),
        "a,b\n1,2\n"
    );
    // A store from a newer format version.
    let newer = dir.path().join("newer");
    std::fs::create_dir(&newer).unwrap();
    let text = r#"{"format": "liftos-store", "version": 7, "commit": 3, "sources": {}}"#;
    std::fs::write(newer.join(MANIFEST), text).unwrap();
    let e = sync_error(&fakes, &config, &newer);
    assert!(e.contains("version 7") && e.contains(MANIFEST), "{e}");
    assert_eq!(std::fs::read_to_string(newer.join(MANIFEST)).unwrap(), text);
    // A manifest naming a missing file.
    let damaged = dir.path().join("damaged");
    sync(&fakes, &config, &damaged, &["--today", "2024-02-01"]);
    let file = damaged.join(&Store::open(&damaged).unwrap().source("meta").unwrap().files[0]);
    std::fs::remove_file(&file).unwrap();
    let before = std::fs::read_to_string(damaged.join(MANIFEST)).unwrap();
    let e = sync_error(&fakes, &config, &damaged);
    assert!(
        e.contains(&file.display().to_string()) && e.contains("missing"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(damaged.join(MANIFEST)).unwrap(),
        before
    );
    // sql --store says the same.
    let out = liftos_run!("sql", "--store", &damaged, "SELECT 1");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

#[test]
fn sql_and_run_read_the_store_instead_of_pulling() {
    let (fakes, dir, config, store) = clocked_with(
        FaultConfig::none(),
        "2024-02-14",
        "2024-01-01",
        "2024-02-13",
    );
    sync(&fakes, &config, &store, &["--today", "2024-02-14"]);
    let out = liftos()
        .args(["sql", "--store"])
        .arg(&store)
        .arg("SELECT (SELECT count(*) FROM meta) AS m, (SELECT count(*) FROM google_ads) AS g, (SELECT count(*) FROM klaviyo) AS k")
        .output()
        .unwrap();
    assert_success_with(&out, "| 90 | 90 | 19 |");
    // `unify --store` unifies every table of the store (it used to accept the flag and
    // unify nothing).
    let unified = dir.path().join("unified.csv");
    let out = liftos_run!("unify", "--store", &store, "--out", &unified);
    assert_success_with(
        &out,
        "Unified 199 rows from 3 source(s) into 199 rows (0 quarantined)",
    );
    let written = std::fs::read_to_string(&unified).unwrap();
    assert_eq!(written.lines().count(), 1 + 199, "{written}");
    // The fakes are gone: `run --store` must not need them.
    drop(fakes);
    let out = liftos()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .env("LIFTOS_META_ACCESS_TOKEN", "unused")
        .env("LIFTOS_META_AD_ACCOUNT_IDS", "1000000001")
        .env("LIFTOS_GOOGLE_ADS_DEVELOPER_TOKEN", "unused")
        .env("LIFTOS_GOOGLE_ADS_CLIENT_ID", "unused")
        .env("LIFTOS_GOOGLE_ADS_CLIENT_SECRET", "unused")
        .env("LIFTOS_GOOGLE_ADS_REFRESH_TOKEN", "unused")
        .env("LIFTOS_GOOGLE_ADS_CUSTOMER_IDS", "1234567890")
        .env("LIFTOS_KLAVIYO_API_KEY", "unused")
        .env("LIFTOS_LOG", "off")
        .current_dir(dir.path())
        .output()
        .unwrap();
    // 44 complete days (today, 2024-02-14, is partial) × 2 campaigns.
    assert_success_with(&out, "source meta                88 rows");
    assert!(dir.path().join("out").join("results.json").is_file());
}

/// A reader does not wait for a sync's pulls: `sql --store` finishes while a sync is
/// still waiting for a slow platform (every answer 5 s late) and reads the last commit;
/// after the sync's commit it reads the new one. Readers waited for the whole sync
/// before (its exclusive lock was held from open to end, network included).
#[test]
fn a_reader_finishes_while_a_sync_is_still_pulling() {
    let (fakes, dir, config, store) = clocked_with(
        FaultConfig::none(),
        "2024-02-14",
        "2024-01-01",
        "2024-02-13",
    );
    sync(&fakes, &config, &store, &["--today", "2024-02-14"]);
    // The stored Meta rows and their conversion value.
    let dump = || {
        let out = liftos()
            .args(["sql", "--store"])
            .arg(&store)
            .arg("SELECT count(*) AS n, sum(conversion_values) AS value FROM meta")
            .output()
            .unwrap();
        assert_success(&out)
    };
    let before = dump();
    assert!(before.contains("| 90 "), "45 days × 2 campaigns: {before}");
    // The next day's sync of Meta, against fakes that answer every data request late.
    let slow = start_fakes(
        world(),
        FaultConfig::none().with_slow(1.0, Duration::from_secs(5)),
    );
    slow.servers.set_clock(Some(day("2024-02-15")), 3);
    let slow_config = dir.path().join("slow.toml");
    std::fs::write(
        &slow_config,
        config_text(&slow, "2024-01-01", "2024-02-14", &["meta"]),
    )
    .unwrap();
    let mut syncing = sync_command(&slow, &slow_config, &store, &["--today", "2024-02-15"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = std::time::Instant::now();
    while !slow
        .servers
        .requests_to("meta")
        .iter()
        .any(|r| r.fault == Some("slow"))
    {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the sync never reached the platform"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The sync holds the store and waits for a 5 s answer: the reader reads the last
    // commit meanwhile.
    let read = dump();
    assert!(
        syncing.try_wait().unwrap().is_none(),
        "the reader waited for the sync to end"
    );
    assert_eq!(read, before, "the reader read the last commit");
    let synced = syncing.wait_with_output().unwrap();
    let summary = assert_success(&synced);
    assert!(summary.contains("store commit 2"), "{summary}");
    // The clock moved on a day: the last days restated, and readers see it.
    assert!(
        counts_of(&summary, "meta").contains(" 6 restated"),
        "{summary}"
    );
    assert_ne!(dump(), before, "the new commit");
}

/// A reader needs no write access to the store: `sql --store` reads a store in a
/// directory it may not write, with its `.lock` there (opened read-only) and without one
/// (read without it). It opened `.lock` for writing and failed before. Run as the
/// unprivileged user 65534 when the tests run as root (root may write anywhere), else
/// on a store made read-only.
#[cfg(unix)]
#[test]
fn a_store_the_reader_may_not_write_is_read() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let (fakes, dir, config, store) = clocked_with(
        FaultConfig::none(),
        "2024-02-14",
        "2024-01-01",
        "2024-02-13",
    );
    sync(&fakes, &config, &store, &["--today", "2024-02-14"]);
    let chmod = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let root = std::fs::metadata(&store).unwrap().uid() == 0;
    if root {
        // Readable, not writable, by user 65534: the store's files are 0644 already.
        chmod(dir.path(), 0o755);
        chmod(&store, 0o755);
        chmod(&store.join("data"), 0o755);
    } else {
        chmod(&store.join("data"), 0o555);
        chmod(&store, 0o555);
    }
    let read = || {
        let mut cmd = liftos();
        cmd.args(["sql", "--store"])
            .arg(&store)
            .arg("SELECT count(*) AS n FROM meta");
        if root {
            cmd.uid(65534).gid(65534);
        }
        cmd.output().unwrap()
    };
    assert!(store.join(".lock").is_file(), "the sync left its lock");
    let with_lock = read();
    let without_lock = if root {
        std::fs::remove_file(store.join(".lock")).unwrap();
        read()
    } else {
        with_lock.clone()
    };
    if !root {
        chmod(&store, 0o755);
        chmod(&store.join("data"), 0o755);
    }
    assert_success_with(&with_lock, "| 90 |");
    assert_success_with(&without_lock, "| 90 |");
    assert!(
        !store.join(".lock").exists() || !root,
        "the reader created no lock"
    );
}

/// A source the last syncs did not reach (a failed pull, a source left out of the
/// config) stays complete through its last successful sync: `run --store` once read its
/// later days as days without its activity, without a word. The run now stops at the
/// least complete source's day and says so among the warnings.
#[test]
fn run_from_a_store_stops_at_its_least_complete_source() {
    let (fakes, dir, config, store) = clocked_with(
        FaultConfig::none(),
        "2024-02-14",
        "2024-01-01",
        "2024-02-13",
    );
    sync(&fakes, &config, &store, &["--today", "2024-02-01"]);
    let meta_only = dir.path().join("meta.toml");
    std::fs::write(
        &meta_only,
        config_text(&fakes, "2024-01-01", "2024-02-13", &["meta"]),
    )
    .unwrap();
    sync(&fakes, &meta_only, &store, &["--today", "2024-02-14"]);
    let s = Store::open(&store).unwrap();
    assert_eq!(s.source("meta").unwrap().last_complete_day, "2024-02-13");
    assert_eq!(
        s.source("google_ads").unwrap().last_complete_day,
        "2024-01-31"
    );
    let mut cmd = liftos();
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .env("LIFTOS_LOG", "off")
        .current_dir(dir.path());
    with_credentials(&mut cmd, &fakes);
    // 31 days × 2 campaigns: Meta's days after 2024-01-31 are left out with the others'.
    let out = assert_success_with(&cmd.output().unwrap(), "source meta                62 rows");
    let results = std::fs::read_to_string(dir.path().join("out").join("results.json")).unwrap();
    assert!(
        results.contains("The run stops at 2024-01-31, not 2024-02-13")
            && results.contains("`google_ads` complete through 2024-01-31"),
        "{out}"
    );
}

/// A config with Meta and Google Ads only (Klaviyo's reporting limit spaces its calls
/// 31 s apart within one process, too slow for a test's ticks).
pub(crate) fn ads_config(dir: &Path, fakes: &Fakes, start: &str) -> PathBuf {
    let text = config_text(fakes, start, "2024-02-14", &["meta", "google_ads"]);
    let path = dir.join("ads.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn watch_command(fakes: &Fakes, config: &Path, store: &Path, args: &[&str]) -> Command {
    store_command("watch", fakes, config, store, args)
}

#[test]
fn watch_over_a_sandbox_clock_fits_a_version_every_seven_new_days_and_history_tells_them() {
    let world = world();
    let fakes = start_fakes(world, faults());
    let dir = tempfile::tempdir().unwrap();
    let config = ads_config(dir.path(), &fakes, "2024-01-01");
    let store = dir.path().join("store");
    let first = day("2024-01-20");
    fakes.servers.set_clock(Some(first), 3);
    // One watch tick per simulated day over 21 days of the sandbox clock; the quality and
    // spend-mix triggers are off (their thresholds at 1) so that only new days refit.
    let mut retrains = Vec::new();
    for d in 0..=21u32 {
        let today = fakes.servers.clock().today().unwrap();
        assert_eq!(today, first + chrono::Days::new(u64::from(d)));
        let out = watch_command(
            &fakes,
            &config,
            &store,
            &[
                "--max-ticks",
                "1",
                "--quality-change",
                "1",
                "--spend-drift",
                "1",
                "--today",
                &today.to_string(),
            ],
        )
        .output()
        .unwrap();
        let stdout = assert_success(&out);
        if let Some(line) = stdout.lines().find(|l| l.starts_with("retrained: ")) {
            retrains.push(format!("{today}: {line}"));
        } else {
            assert!(stdout.contains("no retrain: "), "{stdout}");
        }
        fakes.servers.advance_days(1);
    }
    // The first fit, then every 7 new complete days; restatements alone do not refit.
    let triggers: Vec<&str> = retrains
        .iter()
        .map(|r| r.split(" (").nth(1).unwrap().split(')').next().unwrap())
        .collect();
    assert_eq!(
        triggers,
        [
            "first fit",
            "7 new complete days",
            "7 new complete days",
            "7 new complete days"
        ],
        "{retrains:#?}"
    );
    let versions = liftos::retrain::versions(&store).unwrap();
    assert_eq!(versions.len(), 4);
    let through: Vec<String> = versions
        .iter()
        .map(|v| v.fingerprint.data.complete_through.to_string())
        .collect();
    assert_eq!(
        through,
        ["2024-01-19", "2024-01-26", "2024-02-02", "2024-02-09"]
    );
    for v in &versions {
        for f in [
            "results.json",
            "run.json",
            "settings.toml",
            "fingerprint.json",
        ] {
            assert!(v.dir.join(f).is_file(), "{} has no {f}", v.id);
        }
    }
    let out = liftos_run!("history", "--store", &store);
    let stdout = assert_success(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    // Two channels, each a name line and one line per version, then the summary.
    assert_eq!(lines.len(), 2 * (1 + 4) + 1, "{stdout}");
    assert_eq!(lines[0], "google_ads");
    assert_eq!(lines[5], "meta");
    assert!(lines[10].starts_with("4 version(s); "), "{stdout}");
    // The flag is exactly the channels whose interval excludes the previous estimate.
    let h = liftos::retrain::history(&store).unwrap();
    for (channel, series) in &h {
        for pair in series.windows(2) {
            let excluded = pair[0].iroas < pair[1].lower || pair[0].iroas > pair[1].upper;
            assert_eq!(pair[1].shifted, excluded, "{channel}");
            let line = lines.iter().find(|l| {
                l.contains(&pair[1].version) && {
                    let i = lines.iter().position(|x| *x == channel.as_str()).unwrap();
                    lines[i..].iter().take(5).any(|x| x == *l)
                }
            });
            assert_eq!(line.unwrap().contains("SHIFT"), excluded, "{stdout}");
        }
    }
}

/// Spawns `cmd` and returns it with a channel of its stdout lines.
fn spawn_with_lines(
    cmd: &mut Command,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<()>,
) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx, reader)
}

fn sigterm(child: &std::process::Child) {
    send_signal(child, "-TERM");
}

#[test]
fn sigterm_stops_watch_cleanly_between_steps_and_mid_sync() {
    let world = world();
    let dir = tempfile::tempdir().unwrap();
    // Between steps: after its first tick the watch sleeps (--every 1h) and SIGTERM ends it.
    let fakes = start_fakes(world.clone(), FaultConfig::none());
    fakes.servers.set_clock(Some(day("2024-02-01")), 3);
    let config = ads_config(dir.path(), &fakes, "2024-01-01");
    let store = dir.path().join("store");
    let (mut child, lines, reader) = spawn_with_lines(&mut watch_command(
        &fakes,
        &config,
        &store,
        &["--every", "1h", "--today", "2024-02-01"],
    ));
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the first tick ends");
        let done = line.starts_with("retrained: ") || line.starts_with("no retrain");
        seen.push(line);
        if done {
            break;
        }
    }
    sigterm(&child);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(lines.try_iter());
    assert!(status.success(), "{status}: {seen:#?}");
    assert!(
        seen.iter()
            .any(|l| l == "stopped by SIGTERM after 1 tick(s)"),
        "{seen:#?}"
    );
    assert_eq!(liftos::retrain::versions(&store).unwrap().len(), 1);
    let committed = Store::open(&store).unwrap().commits();
    // Mid-sync: every answer is slow; SIGTERM while the pull runs leaves the store at its
    // last commit.
    let slow = start_fakes(
        world,
        FaultConfig::none().with_slow(1.0, Duration::from_secs(3)),
    );
    slow.servers.set_clock(Some(day("2024-02-05")), 3);
    let config = ads_config(dir.path(), &slow, "2024-01-01");
    let (mut child, lines, reader) = spawn_with_lines(&mut watch_command(
        &slow,
        &config,
        &store,
        &["--every", "1h", "--today", "2024-02-05"],
    ));
    let first = lines.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(first.starts_with("tick 1 at "), "{first}");
    std::thread::sleep(Duration::from_millis(500));
    sigterm(&child);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(status.success(), "{status}: {rest:#?}");
    assert_eq!(
        rest.first().map(String::as_str),
        Some("stopped by SIGTERM during the sync of tick 1; the store is as of its last commit"),
        "{rest:#?}"
    );
    let s = Store::open(&store).unwrap();
    assert_eq!(s.commits(), committed);
    assert_eq!(s.source("meta").unwrap().last_complete_day, "2024-01-31");
    s.read("meta").unwrap();
    s.read("google_ads").unwrap();
}

#[test]
fn a_failing_tick_is_reported_and_the_watch_goes_on() {
    let world = world();
    let fakes = start_fakes(world, FaultConfig::none().with_never_recover());
    fakes.servers.set_clock(Some(day("2024-02-01")), 3);
    let dir = tempfile::tempdir().unwrap();
    let config = ads_config(dir.path(), &fakes, "2024-01-01");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("[http]\nmax_retries = 1\n\n{text}")).unwrap();
    let store = dir.path().join("store");
    let out = watch_command(
        &fakes,
        &config,
        &store,
        &["--every", "1s", "--max-ticks", "2", "--today", "2024-02-01"],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    let failures = stdout
        .lines()
        .filter(|l| {
            l.starts_with("sync failed: ") && l.ends_with("the store is as of its last commit")
        })
        .count();
    assert_eq!(failures, 2, "{stdout}");
    assert!(stdout.contains("tick 2 at "), "{stdout}");
    assert!(stderr.contains("2 of 2 tick(s) failed"), "{stderr}");
    // Nothing was committed; the store is still an empty, valid store.
    let s = Store::open(&store).unwrap();
    assert_eq!(s.commits(), 0);
    assert!(s.sources().is_empty());
}

/// `ads.csv` of a file source `snap`: numeric campaign ids, two campaigns a day.
const SNAP_ROWS: &str = "date,campaign_id,campaign,currency,spend,impressions,clicks,conversions,revenue\n\
2024-01-01,101,Alpha,USD,10,100,5,1,30\n\
2024-01-01,102,Beta,USD,20,200,6,2,40\n\
2024-01-02,101,Alpha,USD,11,110,5,1,31\n\
2024-01-02,102,Beta,USD,21,210,6,2,41\n";

/// A directory with `ads.csv` (`rows`) and `liftos.toml` reading it as source `snap`
/// (`channel` its channel), and the config's path.
fn snap_dir(rows: &str, channel: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ads.csv"), rows).unwrap();
    let config = snap_config(dir.path(), channel);
    (dir, config)
}

fn snap_config(dir: &Path, channel: &str) -> PathBuf {
    let text = format!(
        "[pipeline]\nstart = \"2024-01-01\"\nend = \"2024-01-10\"\n\n\
         [[sources]]\nname = \"snap\"\ntype = \"file\"\npath = \"ads.csv\"\n\n\
         [mapping.sources.snap]\nextends = \"unified\"\nchannel = \"{channel}\"\n"
    );
    let path = dir.join("liftos.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `liftos sync` of a config without platform sources.
fn file_sync(config: &Path, store: &Path, args: &[&str]) -> Output {
    liftos()
        .arg("sync")
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store)
        .args(args)
        .env("LIFTOS_LOG", "off")
        .output()
        .unwrap()
}

#[test]
fn numeric_ids_stay_in_the_key_and_a_repeated_key_is_refused_not_dropped() {
    let (dir, config) = snap_dir(SNAP_ROWS, "snap");
    let store = dir.path().join("st");
    assert_success(&file_sync(&config, &store, &["--today", "2024-01-03"]));
    let s = Store::open(&store).unwrap();
    assert_eq!(s.source("snap").unwrap().key, ["date", "campaign_id"]);
    assert_eq!(s.read("snap").unwrap().num_rows(), 4);
    drop(s);
    // Two rows of one campaign and day: which one is right cannot be known.
    let repeated = format!("{SNAP_ROWS}2024-01-02,102,Beta,USD,5,50,1,0,9\n");
    std::fs::write(dir.path().join("ads.csv"), repeated).unwrap();
    let manifest = std::fs::read_to_string(store.join(MANIFEST)).unwrap();
    let out = file_sync(&config, &store, &["--today", "2024-01-03"]);
    assert_failure_with(
        &out,
        &[
            "source `snap`",
            "date=2024-01-02, campaign_id=102",
            "no row was stored",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(store.join(MANIFEST)).unwrap(),
        manifest
    );
}

#[test]
fn run_outputs_inside_the_store_are_refused_and_a_sync_removes_only_its_own_files() {
    let (dir, config) = snap_dir(SNAP_ROWS, "snap");
    let store = dir.path().join("s5");
    assert_success(&file_sync(&config, &store, &["--today", "2024-01-03"]));
    for out in [store.clone(), store.join("data"), store.join("data/run")] {
        let output = liftos()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--store")
            .arg(&store)
            .arg("--out")
            .arg(&out)
            .env("LIFTOS_LOG", "off")
            .output()
            .unwrap();
        assert_failure_with(&output, &["inside the store", "nothing was written"]);
        assert!(!out.join("results.json").exists());
    }
    // Files someone else put in the store's data directory survive the next sync.
    let mine = store.join("data").join("results.json");
    std::fs::write(&mine, "{}").unwrap();
    std::fs::write(
        dir.path().join("ads.csv"),
        SNAP_ROWS.replace(",10,100,", ",12,100,"),
    )
    .unwrap();
    let out = assert_success(&file_sync(&config, &store, &["--today", "2024-01-03"]));
    assert!(counts_of(&out, "snap").contains("1 restated"), "{out}");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "{}");
}

#[test]
fn a_currency_change_is_refused_and_the_store_kept() {
    let (dir, config) = snap_dir(SNAP_ROWS, "snap");
    let store = dir.path().join("st");
    assert_success(&file_sync(&config, &store, &["--today", "2024-01-03"]));
    let manifest = std::fs::read_to_string(store.join(MANIFEST)).unwrap();
    std::fs::write(dir.path().join("ads.csv"), SNAP_ROWS.replace("USD", "JPY")).unwrap();
    let out = file_sync(&config, &store, &["--today", "2024-01-03"]);
    assert_failure_with(&out, &["source `snap`", "JPY", "USD", "nothing was stored"]);
    assert_eq!(
        std::fs::read_to_string(store.join(MANIFEST)).unwrap(),
        manifest
    );
}

/// One sync whose today was ahead (a `--today` typo, a clock that jumped) once left the
/// store complete through a day that had not come: later syncs read only their today,
/// never the lookback, and lost the days between and every restatement. The next sync
/// with the right date now reads the lookback from yesterday again, says why, and the
/// store equals a fresh pull.
#[test]
fn a_sync_whose_today_was_ahead_does_not_freeze_the_lookback() {
    let (fakes, _dir, config, store) = clocked("2024-02-01", "2024-01-10", "2024-02-14");
    sync(&fakes, &config, &store, &["--today", "2024-02-01"]);
    sync(&fakes, &config, &store, &["--today", "2024-03-15"]);
    assert_eq!(
        Store::open(&store)
            .unwrap()
            .source("meta")
            .unwrap()
            .last_complete_day,
        "2024-03-14"
    );
    fakes.servers.advance_days(3);
    let out = sync(&fakes, &config, &store, &["--today", "2024-02-04"]);
    assert!(
        out.contains("the store said complete through 2024-03-14, after yesterday (2024-02-03)"),
        "{out}"
    );
    assert_store_equals_fresh_pulls(&fakes, &store, "2024-01-10", "2024-02-04");
    let s = Store::open(&store).unwrap();
    let meta = s.source("meta").unwrap();
    assert_eq!(meta.last_complete_day, "2024-02-03");
    assert_eq!(meta.partial_days, ["2024-02-04"]);
}

#[test]
fn a_full_reread_after_a_mapping_change_says_so_and_counts_the_history_it_drops() {
    let (dir, config) = snap_dir(SNAP_ROWS, "snap");
    let store = dir.path().join("st");
    assert_success(&file_sync(&config, &store, &["--today", "2024-01-03"]));
    // The mapping changes and the file no longer has the first day.
    snap_config(dir.path(), "snapchat");
    let day2: String = SNAP_ROWS
        .lines()
        .filter(|l| !l.starts_with("2024-01-01"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("ads.csv"), day2).unwrap();
    let out = assert_success(&file_sync(
        &config,
        &store,
        &["--today", "2024-01-03", "--start", "2024-01-02"],
    ));
    assert!(out.contains("(full read, "), "{out}");
    assert!(
        counts_of(&out, "snap")
            .starts_with("0 new, 0 restated, 2 unchanged, 2 removed; 2 rows stored"),
        "{out}"
    );
    // The re-read starts at the first stored day, not `--start`: the days before it
    // are read again, not dropped; the file no longer has the first day's rows.
    assert_contains_all(
        &out,
        &[
            "re-read in full from 2024-01-01",
            "WARNING: the re-read from 2024-01-01 did not return 2 stored rows",
        ],
    );
    assert_eq!(
        Store::open(&store)
            .unwrap()
            .read("snap")
            .unwrap()
            .num_rows(),
        2
    );
}

#[test]
fn ranges_past_today_or_longer_than_ten_years_are_refused_naming_the_option() {
    let (dir, config) = snap_dir(SNAP_ROWS, "snap");
    let store = dir.path().join("st");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--today", "2024-01-03", "--start", "1950-01-01"],
            "--start",
        ),
        (&["--today", "2024-01-03", "--end", "9999-12-31"], "--end"),
        (
            &["--today", "2024-01-03", "--lookback-days", "0"],
            "--lookback-days",
        ),
    ];
    for (args, option) in cases {
        let out = file_sync(&config, &store, args);
        assert_failure_with(&out, &[option]);
    }
    let out = liftos()
        .arg("watch")
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .args([
            "--start",
            "1900-01-01",
            "--today",
            "2024-01-03",
            "--every",
            "1s",
        ])
        .env("LIFTOS_LOG", "off")
        .output()
        .unwrap();
    assert_failure_with(&out, &["--start", "10 years"]);
    assert!(!store.join(MANIFEST).exists(), "nothing synced");
}

#[test]
fn a_setting_that_changes_the_numbers_rereads_the_source_in_full() {
    let (fakes, dir, _, store) = clocked_with(
        FaultConfig::none(),
        "2024-02-01",
        "2024-01-01",
        "2024-02-01",
    );
    let path = dir.path().join("klaviyo.toml");
    let text = config_text(&fakes, "2024-01-01", "2024-02-01", &["klaviyo"]);
    std::fs::write(&path, &text).unwrap();
    // The stored table, ordered by its key: a fresh store of the new config must equal it.
    let stored = |store: &Path| {
        sorted(
            Store::open(store).unwrap().read("klaviyo").unwrap(),
            "sent_at, account_id, campaign_id",
        )
    };
    sync(&fakes, &path, &store, &["--today", "2024-02-01"]);
    let before = stored(&store);
    let changed = text.replace("cost_per_recipient = 0.01", "cost_per_recipient = 1.0");
    assert_ne!(changed, text);
    std::fs::write(&path, changed).unwrap();
    let out = sync(&fakes, &path, &store, &["--today", "2024-02-01"]);
    assert!(out.contains("(full read, "), "{out}");
    assert!(out.contains("re-read in full from 2024-01-01"), "{out}");
    // Every stored row has the new cost (rows past the 7-day lookback too): the store
    // equals a fresh one of the new config, and differs from the old one.
    let fresh = dir.path().join("fresh");
    sync(&fakes, &path, &fresh, &["--today", "2024-02-01"]);
    let after = stored(&store);
    assert_eq!(after, stored(&fresh));
    assert_ne!(after, before);
}

/// The last complete day and partial days the store holds for `source`.
fn state(store: &Path, source: &str) -> (String, Vec<String>) {
    let s = Store::open(store).unwrap();
    let src = s.source(source).unwrap();
    (src.last_complete_day.clone(), src.partial_days.clone())
}

/// [`ads_config`] against fakes whose accounts are in `meta_zone` (Meta) and
/// `google_zone` (Google Ads) and whose clock says `today` (their accounts' date).
fn zoned(
    meta_zone: &str,
    google_zone: &str,
    today: &str,
) -> (Fakes, tempfile::TempDir, PathBuf, PathBuf) {
    let faults = FaultConfig::none()
        .with_meta_timezone_name(meta_zone)
        .with_google_time_zone(google_zone);
    let (fakes, dir, _, store) = clocked_with(faults, today, "2024-01-01", "2024-02-14");
    let config = ads_config(dir.path(), &fakes, "2024-01-01");
    (fakes, dir, config, store)
}

/// Audit 49, r9: "today" was the UTC date, but the platforms' days are the accounts'.
/// At 03:00 UTC on 2024-02-11 an account in Los Angeles is at 19:00 on 2024-02-10 and one
/// in New York at 22:00: their 2024-02-10 is still running. It was stored complete (and
/// read by `run --store` and `watch`) and grew on the next sync; it is now partial, and
/// complete once the accounts' day has ended.
#[test]
fn a_day_still_running_in_a_western_account_is_partial_after_utc_midnight() {
    let (fakes, _dir, config, store) =
        zoned("America/Los_Angeles", "America/New_York", "2024-02-10");
    let out = sync(&fakes, &config, &store, &["--now", "2024-02-11T03:00:00Z"]);
    for source in ["meta", "google_ads"] {
        assert_eq!(
            state(&store, source),
            ("2024-02-09".to_owned(), vec!["2024-02-10".to_owned()]),
            "{source}: {out}"
        );
    }
    assert_contains_all(
        &out,
        &[
            "today 2024-02-10 in America/Los_Angeles (timezone_name of act_",
            "today 2024-02-10 in America/New_York (customer.time_zone of ",
            "complete through 2024-02-09; store commit 1",
        ],
    );
    assert!(!out.contains("no time zone is known"), "{out}");
    // The accounts' day has ended (08:00 UTC is midnight in Los Angeles): complete.
    fakes.servers.set_clock(Some(day("2024-02-11")), 3);
    sync(&fakes, &config, &store, &["--now", "2024-02-11T08:00:00Z"]);
    for source in ["meta", "google_ads"] {
        assert_eq!(
            state(&store, source),
            ("2024-02-10".to_owned(), vec!["2024-02-11".to_owned()]),
            "{source}"
        );
    }
}

/// East of UTC the accounts' day begins first: at 20:00 UTC on 2024-02-10 it is 05:00 on
/// 2024-02-11 in Tokyo. 2024-02-10 is complete there and 2024-02-11 is the partial day,
/// pulled already (the UTC date kept 2024-02-10 partial and never asked for 2024-02-11).
#[test]
fn an_eastern_account_has_its_own_today_before_utc() {
    let (fakes, _dir, config, store) = zoned("Asia/Tokyo", "Asia/Tokyo", "2024-02-11");
    let out = sync(&fakes, &config, &store, &["--now", "2024-02-10T20:00:00Z"]);
    for source in ["meta", "google_ads"] {
        assert_eq!(
            state(&store, source),
            ("2024-02-10".to_owned(), vec!["2024-02-11".to_owned()]),
            "{source}: {out}"
        );
    }
    assert_contains_all(
        &out,
        &[
            "2024-01-01 .. 2024-02-11",
            "today 2024-02-11 in Asia/Tokyo (timezone_name of act_",
        ],
    );
}

/// Sources in different zones are complete through different days; `run --store` stops
/// at the least complete one, and the summary says which day that is.
#[test]
fn run_from_a_store_stops_at_the_westernmost_sources_complete_day() {
    let (fakes, dir, config, store) = zoned("America/Los_Angeles", "Asia/Tokyo", "2024-02-11");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text + "\n[output]\ndir = \"out\"\nreport = false\n",
    )
    .unwrap();
    let out = sync(&fakes, &config, &store, &["--now", "2024-02-11T03:00:00Z"]);
    assert_eq!(state(&store, "meta").0, "2024-02-09");
    assert_eq!(state(&store, "google_ads").0, "2024-02-10");
    assert!(
        out.contains("complete through 2024-02-09 (the least complete source's day"),
        "{out}"
    );
    let mut cmd = liftos();
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .env("LIFTOS_LOG", "off")
        .current_dir(dir.path());
    with_credentials(&mut cmd, &fakes);
    // 40 days (2024-01-01 ..= 2024-02-09) × 2 campaigns, for Google Ads too.
    let out = assert_success_with(&cmd.output().unwrap(), "source google_ads          80 rows");
    assert!(out.contains("source meta                80 rows"), "{out}");
    let results = std::fs::read_to_string(dir.path().join("out").join("results.json")).unwrap();
    assert!(
        results.contains("The run stops at 2024-02-09, not 2024-02-14"),
        "{out}"
    );
}

/// A `timezone` in the source's mapping is its account's zone: one the platform
/// contradicts is refused naming both (the platform's days are in its own zone), one that
/// agrees (an alias) is used, and for a source that cannot report a zone (a file) it
/// decides today alone.
#[test]
fn a_configured_time_zone_is_checked_against_the_platforms() {
    let (fakes, dir, config, store) =
        zoned("America/Los_Angeles", "America/New_York", "2024-02-10");
    let text = std::fs::read_to_string(&config).unwrap();
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        format!("{text}\n[mapping.sources.meta]\ntimezone = \"America/New_York\"\n"),
    )
    .unwrap();
    let out = sync_command(&fakes, &wrong, &store, &["--now", "2024-02-11T03:00:00Z"])
        .output()
        .unwrap();
    assert_failure_with(
        &out,
        &[
            "mapping.sources.meta.timezone",
            "`America/New_York`, but the platform reports account act_",
            "in `America/Los_Angeles` (timezone_name)",
        ],
    );
    assert!(
        Store::open(&store).unwrap().sources().is_empty(),
        "nothing committed"
    );
    let alias = dir.path().join("alias.toml");
    std::fs::write(
        &alias,
        format!("{text}\n[mapping.sources.meta]\ntimezone = \"US/Pacific\"\n"),
    )
    .unwrap();
    let out = sync(&fakes, &alias, &store, &["--now", "2024-02-11T03:00:00Z"]);
    assert!(
        out.contains(
            "today 2024-02-10 in US/Pacific (its mapping's timezone): complete through 2024-02-09"
        ),
        "{out}"
    );
    assert_eq!(state(&store, "meta").0, "2024-02-09");
}

/// A file source knows no zone: today is the UTC date and the summary says so once; a
/// `timezone` in its mapping makes it the account's date.
#[test]
fn a_source_without_a_known_zone_uses_the_utc_date_and_says_so() {
    let (dir, config) = snap_dir(SNAP_ROWS, "snap");
    let store = dir.path().join("st");
    let out = assert_success(&file_sync(
        &config,
        &store,
        &["--now", "2024-01-03T03:00:00Z"],
    ));
    assert_contains_all(
        &out,
        &[
            "today 2024-01-03 in UTC (no time zone known): complete through 2024-01-02",
            "note: no time zone is known for `snap`: today is the UTC date there",
        ],
    );
    assert_eq!(out.matches("no time zone is known").count(), 1, "{out}");
    assert_eq!(state(&store, "snap").0, "2024-01-02");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}timezone = \"America/Chicago\"\n")).unwrap();
    let zoned_store = dir.path().join("zoned");
    let out = assert_success(&file_sync(
        &config,
        &zoned_store,
        &["--now", "2024-01-03T03:00:00Z"],
    ));
    assert!(
        out.contains("today 2024-01-02 in America/Chicago (its mapping's timezone): complete through 2024-01-01"),
        "{out}"
    );
    assert!(!out.contains("no time zone is known"), "{out}");
    assert_eq!(
        state(&zoned_store, "snap"),
        ("2024-01-01".to_owned(), vec!["2024-01-02".to_owned()])
    );
}
