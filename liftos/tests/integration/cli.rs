//! The `liftos` binary end to end.

use std::process::Command;

fn liftos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_liftos"))
}

#[test]
fn demo_writes_the_world_and_prints_naive_next_to_true_roas() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let output = liftos()
        .args(["demo", "--seed", "7", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for channel in ["meta", "google_ads", "klaviyo", "tiktok"] {
        assert!(stdout.lines().any(|l| l.starts_with(channel)), "{channel} missing:\n{stdout}");
    }
    assert!(stdout.contains("naive ROAS") && stdout.contains("true iROAS"), "{stdout}");

    let csv = std::fs::read_to_string(out.join("unified.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue"
    );
    let rows = lines.count();
    let truth_rows = std::fs::read_to_string(out.join("truth_rows.csv")).unwrap().lines().count() - 1;
    assert_eq!(rows, truth_rows, "truth is aligned row by row");
    assert!(rows > 10_000, "{rows}");

    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("truth.json")).unwrap()).unwrap();
    let tiktok = truth["channels"].as_array().unwrap().iter().find(|c| c["channel"] == "tiktok").unwrap();
    assert_eq!(tiktok["incremental_revenue"], 0.0);
    assert!(!out.join("unified.csv.partial").exists(), "no partial files left");
}

#[test]
fn an_unwritable_output_directory_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let output = liftos().args(["demo", "--out"]).arg(blocker.join("sub")).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("file/sub"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
