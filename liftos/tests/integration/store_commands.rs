//! `watch`, `history` and `run --store` on a store kept by `liftos sync`: what they
//! skip (directories LiftOS did not write), what they refuse (`--max-ticks 0`) and what
//! they do not need (the platforms' credentials, to read the store).

use std::path::Path;
use std::process::Command;

use liftos::sandbox::fake::FaultConfig;

use crate::common::*;
use crate::sync::{ads_config, day, sync_command, watch_command};

/// `liftos <args>` without any `LIFTOS_*` variable of the test's environment.
fn without_liftos_variables(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("LIFTOS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("LIFTOS_LOG", "off");
    cmd
}

/// A notes folder and a backup copy without `fingerprint.json` in `STORE/models/` made
/// `history` fail and every `watch` retrain fail ("retrain failed: …/notes/fingerprint.json:
/// No such file"), and watch then said "0 model version(s)". They are skipped and named
/// in a note, and left where they are.
#[test]
fn directories_in_models_that_are_no_versions_are_skipped_by_history_and_watch() {
    let fakes = start_fakes(world(), FaultConfig::none());
    fakes.servers.set_clock(Some(day("2024-02-01")), 3);
    let dir = tempfile::tempdir().unwrap();
    let config = ads_config(dir.path(), &fakes, "2024-01-01");
    let store = dir.path().join("store");
    let watch = |today: &str| {
        let out = watch_command(
            &fakes,
            &config,
            &store,
            &["--max-ticks", "1", "--today", today],
        )
        .output()
        .unwrap();
        assert_success(&out)
    };
    let stdout = watch("2024-02-01");
    assert!(stdout.contains("(first fit)"), "{stdout}");
    let models = store.join(liftos::retrain::MODELS_DIR);
    let version = liftos::retrain::versions(&store).unwrap().remove(0);
    let backup = models.join("backup-before-q1-review");
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::copy(
        version.dir.join("results.json"),
        backup.join("results.json"),
    )
    .unwrap();
    std::fs::create_dir_all(models.join("notes")).unwrap();
    let skipped = "backup-before-q1-review, notes";

    let out = liftos_run!("history", "--store", &store);
    let stdout = assert_success(&out);
    assert!(
        stdout.contains(&format!("  {}  through 2024-01-31", version.id)),
        "{stdout}"
    );
    assert!(stdout.contains("1 version(s); "), "{stdout}");
    let note = stdout.lines().last().unwrap();
    assert!(
        note.starts_with("note: skipped in ") && note.ends_with(skipped),
        "{stdout}"
    );

    fakes.servers.advance_days(8);
    let stdout = watch("2024-02-09");
    assert!(
        stdout.contains("retrained: ") && stdout.contains("(8 new complete days)"),
        "{stdout}"
    );
    assert!(stdout.contains("2 model version(s) in "), "{stdout}");
    assert!(stdout.lines().any(|l| l.ends_with(skipped)), "{stdout}");
    assert_eq!(liftos::retrain::versions(&store).unwrap().len(), 2);
    assert!(backup.join("results.json").is_file() && models.join("notes").is_dir());
}

/// `--max-ticks 0` ran a whole tick (a sync and a first fit); it is refused before
/// anything is read or written.
#[test]
fn watch_refuses_max_ticks_zero() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let out = liftos()
        .args([
            "watch",
            "--config",
            "no-such.toml",
            "--max-ticks",
            "0",
            "--store",
        ])
        .arg(&store)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--max-ticks") && stderr.contains("'0'"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
    assert!(!store.exists());
}

/// `run --store` reads the store only: it asked for LIFTOS_META_ACCESS_TOKEN and the
/// other platform secrets all the same. Without `--store` the run still needs them, and
/// a secret written in the file is refused either way.
#[test]
fn run_from_a_store_needs_no_platform_credentials() {
    let fakes = start_fakes(world(), FaultConfig::none());
    fakes.servers.set_clock(Some(day("2024-02-01")), 3);
    let dir = tempfile::tempdir().unwrap();
    let config = ads_config(dir.path(), &fakes, "2024-01-01");
    let store = dir.path().join("store");
    let out = sync_command(&fakes, &config, &store, &["--today", "2024-02-01"])
        .output()
        .unwrap();
    assert_success(&out);
    drop(fakes);
    let run = |config: &Path, store: Option<&Path>, out: &str| {
        let mut cmd = liftos();
        cmd.arg("run").arg("--config").arg(config);
        if let Some(store) = store {
            cmd.arg("--store").arg(store);
        }
        cmd.arg("--out").arg(dir.path().join(out));
        without_liftos_variables(cmd).output().unwrap()
    };
    let out = run(&config, Some(&store), "from-store");
    let stdout = assert_success(&out);
    // 31 complete days (today, 2024-02-01, is partial) × 2 campaigns.
    assert!(
        stdout.contains("source meta                62 rows"),
        "{stdout}"
    );
    assert!(dir.path().join("from-store/results.json").is_file());

    let out = run(&config, None, "pulled");
    let stderr = assert_failure(&out);
    assert!(stderr.contains("LIFTOS_META_ACCESS_TOKEN"), "{stderr}");
    assert!(!dir.path().join("pulled").exists());

    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "type = \"meta\"\n",
        "type = \"meta\"\naccess_token = \"EAAB-secret\"\n",
        1,
    );
    let leaky = write_file(dir.path(), "leaky.toml", text);
    let out = run(&leaky, Some(&store), "leaky");
    let stderr = assert_failure(&out);
    assert!(
        stderr.contains("`sources[0].access_token`")
            && stderr.contains("never read from the config file"),
        "{stderr}"
    );
    assert!(!stderr.contains("EAAB-secret"), "{stderr}");
    assert!(!dir.path().join("leaky").exists());
}
