//! `liftos pull` end to end: the binary against the fake platform APIs.

use arrow::array::AsArray;
use liftos::sandbox::fake::FaultConfig;

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Pulls `source` into `file` and checks rows and totals against the world's `channel`.
fn pull_matches_the_world(source: &str, file: &str, spend_col: &str, revenue_col: &str) {
    let world = world();
    let want = world_totals(&world, source);
    assert!(want.0 > 10, "the world has {source} rows");
    let fakes = start_fakes(world.clone(), FaultConfig::none());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(file);
    let output = pull(&fakes, &world, source, &out);
    let stdout = assert_success(&output);
    let table = liftos::transform::read_table(&out).unwrap();
    assert_eq!(table.num_rows(), want.0, "{source}: row count");
    let spend = if spend_col == "metrics.cost_micros" {
        sum(&table, spend_col) / 1e6
    } else {
        sum(&table, spend_col)
    };
    assert_money(&format!("{source} spend"), spend, want.1);
    assert_money(
        &format!("{source} revenue"),
        sum(&table, revenue_col),
        want.5,
    );
    assert!(
        stdout.starts_with(&format!("Pulled {} rows from {source} (", want.0))
            && stdout.contains(" pages, 0 retries) in "),
        "{stdout}"
    );
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn pull_meta_writes_every_row_of_the_world_as_csv() {
    pull_matches_the_world("meta", "meta.csv", "spend", "conversion_values");
}

#[test]
fn pull_google_ads_writes_every_row_of_the_world_as_parquet() {
    pull_matches_the_world(
        "google_ads",
        "google.parquet",
        "metrics.cost_micros",
        "metrics.conversions_value",
    );
}

#[test]
fn pull_klaviyo_writes_one_row_per_send() {
    pull_matches_the_world("klaviyo", "klaviyo.csv", "spend", "revenue");
}

#[test]
fn throttling_and_server_errors_are_retried_to_the_same_rows() {
    let world = world();
    // Google answers throttling with retryDelay = 1 s and Klaviyo with Retry-After: 1;
    // Meta's regain time is in whole minutes, so it gets 5xx answers only.
    // Seeded: with seed 1 every source sees faults, and the retries (Google 5, Klaviyo 6,
    // Meta 4) stay within the default budget of 10 per pull.
    let seed = 1;
    let faults = FaultConfig::none()
        .with_seed(seed)
        .with_throttle_rate(0.3)
        .with_server_error_rate(0.3)
        .with_throttle_wait_secs(1)
        .with_google_batch_size(20);
    let mut faults = faults;
    faults.klaviyo_page_size = 3;
    let fakes = start_fakes(world.clone(), faults);
    let mut meta_faults = FaultConfig::none()
        .with_seed(seed)
        .with_server_error_rate(0.3);
    meta_faults.meta_page_limit_max = 10;
    let meta_fakes = start_fakes(world.clone(), meta_faults);
    let dir = tempfile::tempdir().unwrap();
    for (source, fakes) in [
        ("google_ads", &fakes),
        ("klaviyo", &fakes),
        ("meta", &meta_fakes),
    ] {
        let want = world_totals(&world, source);
        let out = dir.path().join(format!("{source}.csv"));
        let stdout = assert_success(&pull(fakes, &world, source, &out));
        let table = liftos::transform::read_table(&out).unwrap();
        assert_eq!(
            table.num_rows(),
            want.0,
            "{source}: same rows despite faults"
        );
        let spend = match source {
            "google_ads" => sum(&table, "metrics.cost_micros") / 1e6,
            _ => sum(&table, "spend"),
        };
        assert_money(source, spend, want.1);
        assert!(
            !stdout.contains(" 0 retries"),
            "{source}: faults were retried: {stdout}"
        );
        assert!(
            fakes
                .servers
                .requests_to(source)
                .iter()
                .any(|r| r.fault.is_some()),
            "{source}: a fault was injected"
        );
    }
}

#[test]
fn a_rejected_token_is_one_clear_error_without_the_secret_and_no_file() {
    let (world, fakes) = world_and_fakes();
    let dir = tempfile::tempdir().unwrap();
    let secret = "EAAB-not-the-right-token-0451";
    for (source, var, file) in [
        ("meta", "LIFTOS_META_ACCESS_TOKEN", "m.parquet"),
        ("klaviyo", "LIFTOS_KLAVIYO_API_KEY", "k.csv"),
        ("google_ads", "LIFTOS_GOOGLE_ADS_REFRESH_TOKEN", "g.csv"),
    ] {
        let out = dir.path().join(file);
        let output = pull_with(&fakes, &world, source, &out, |c| c.env(var, secret));
        assert!(!output.status.success(), "{source}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: "), "{source}: {stderr}");
        assert!(
            stderr.contains(source) && stderr.contains("rejected"),
            "{source}: the message says what failed: {stderr}"
        );
        assert!(
            stderr.contains(var) || source == "klaviyo" && stderr.contains("LIFTOS_KLAVIYO"),
            "{source}: the message says what to fix: {stderr}"
        );
        assert!(
            !stderr.contains(secret),
            "{source}: secret leaked: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{source}: no summary");
        assert!(!out.exists(), "{source}: no output file");
    }
    assert_nothing_written(dir.path(), "every source rejected");
}

/// Reads the pulled file at `out`: `want`'s rows, spend and revenue (in `revenue`).
#[track_caller]
fn assert_pulled_totals(out: &Path, want: Totals, revenue: &str) -> arrow::array::RecordBatch {
    let table = liftos::transform::read_table(out).unwrap();
    assert_eq!(table.num_rows(), want.0);
    assert_money("spend", sum(&table, "spend"), want.1);
    assert_money("revenue", sum(&table, revenue), want.5);
    table
}

/// `liftos pull --source meta` from 2024-01-01 to `end` into `out`, without the fakes'
/// credentials.
fn meta_pull(end: &str, out: &Path) -> Command {
    let mut cmd = liftos();
    cmd.args([
        "pull",
        "--source",
        "meta",
        "--start",
        "2024-01-01",
        "--end",
        end,
    ])
    .arg("--out")
    .arg(out);
    cmd
}

#[test]
fn missing_credentials_and_bad_flags_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.csv");
    let output = meta_pull("2024-01-31", &out)
        .env_remove("LIFTOS_META_ACCESS_TOKEN")
        .output()
        .unwrap();
    assert_failure_with(&output, &["LIFTOS_META_ACCESS_TOKEN"]);
    assert!(!out.exists());

    let output = liftos()
        .args(["pull", "--source", "snapchat", "--start", "2024-01-01"])
        .args(["--end", "2024-01-31", "--out", "x.csv"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--source") && stderr.contains("google_ads") && stderr.contains("rest:"),
        "{stderr}"
    );
}

#[test]
fn an_interrupted_pull_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = interrupted_meta_pull(dir.path(), "meta.parquet", "-INT");
    assert_failure_with(&output, &["interrupted", "meta.parquet"]);
    assert_nothing_written(dir.path(), "an interrupted pull");
}

#[test]
fn pull_tiktok_writes_every_row_under_faults_and_unifies_with_the_built_in_mapping() {
    // 45 days: two report requests of at most 30 days; the zero-effect channel on TikTok.
    let world = tiktok_world(45);
    let want = world_totals(&world, "tiktok");
    assert!(want.0 > 50, "{} rows", want.0);
    let advertiser = world.tiktok_rows()[0].advertiser_id.clone();
    let faults = FaultConfig::none()
        .with_seed(1)
        .with_throttle_rate(0.25)
        .with_server_error_rate(0.25);
    let fakes = start_fakes(world.clone(), faults);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiktok.csv");
    let output = pull_with(&fakes, &world, "tiktok", &out, |c| {
        c.env("LIFTOS_TIKTOK_ADVERTISER_IDS", &advertiser)
    });
    assert_pulled(&output, "tiktok", want.0);
    let log = fakes.servers.requests_to("tiktok");
    assert!(
        log.iter().any(|r| r.fault.is_some()),
        "faults were injected"
    );
    assert_pulled_totals(&out, want, "total_complete_payment_rate");

    // The built-in `tiktok` mapping unifies it: the world's rows, ids and totals.
    let unified = dir.path().join("unified.parquet");
    let u = unify_file("tiktok", &out, &[], &unified);
    assert_unified_totals(&u, want);
    assert_eq!(sum(&u, "clicks") as i64, want.3);
    assert_eq!(campaign_ids(&u), world_campaign_ids(&world, "tiktok"));
}

#[test]
fn pull_ga4_writes_the_property_report_by_day_and_channel_group() {
    let world = world();
    let rows = world.ga4_rows().unwrap();
    let sessions: i64 = rows.iter().map(|r| r.sessions).sum();
    let revenue: f64 = rows.iter().map(|r| r.total_revenue).sum();
    let faults = FaultConfig::none().with_seed(2).with_throttle_rate(0.3);
    let fakes = start_fakes(world.clone(), faults);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ga4.csv");
    let c = fakes.servers.credentials().clone();
    let output = pull_with(&fakes, &world, "ga4", &out, |cmd| {
        with_ga4_credentials(cmd, &fakes.servers)
    });
    assert_pulled(&output, "ga4", rows.len());
    let table = liftos::transform::read_table(&out).unwrap();
    assert_eq!(sum(&table, "sessions") as i64, sessions);
    assert_money("revenue", sum(&table, "totalRevenue"), revenue);
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(!written.contains(&c.ga4_client_secret) && !written.contains(&c.ga4_refresh_token));
}

#[test]
fn tiktok_ga4_and_rest_pulls_never_print_or_write_their_secrets_even_at_debug_level() {
    let world = tiktok_world(100);
    let advertiser = world.tiktok_rows()[0].advertiser_id.clone();
    // Throttling, errors and an expired token (TikTok's fails the pull with 40105 in 100
    // days of 30-day requests): retries, refreshes and the error are printed.
    let faults = FaultConfig::none()
        .with_seed(4)
        .with_throttle_rate(0.3)
        .with_server_error_rate(0.2)
        .with_expire_token_after(2);
    let fakes = start_fakes(world.clone(), faults);
    let c = fakes.servers.credentials().clone();
    let dir = tempfile::tempdir().unwrap();
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rest/tiktok.toml");
    let secrets = [
        c.tiktok_access_token.clone(),
        c.ga4_client_secret.clone(),
        c.ga4_refresh_token.clone(),
        "ya29.fake-ga4-token".to_owned(),
    ];
    for (source, base) in [
        ("tiktok".to_owned(), fakes.servers.tiktok_base_url()),
        ("ga4".to_owned(), fakes.servers.ga4_base_url()),
        (format!("rest:{spec}"), fakes.servers.tiktok_base_url()),
    ] {
        let out = dir.path().join("out.csv");
        let (start, end) = first_and_last_day(&world);
        let mut cmd = pull_command(&fakes, &source, &start, &end, &out);
        cmd.arg("--base-url")
            .arg(&base)
            .env("LIFTOS_LOG", "debug")
            .env("LIFTOS_TIKTOK_ADVERTISER_IDS", &advertiser);
        let output = with_ga4_credentials(&mut cmd, &fakes.servers)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // TikTok's expired token is one clear error; GA4 refreshes and goes on.
        let written = std::fs::read_to_string(&out).unwrap_or_default();
        for s in &secrets {
            for (what, text) in [
                ("stdout", &*stdout),
                ("stderr", &*stderr),
                ("file", &*written),
            ] {
                assert!(
                    !text.contains(s.as_str()),
                    "{source}: {what} holds a secret: {text}"
                );
            }
        }
        assert!(
            stderr.contains("DEBUG"),
            "{source}: the debug log was on: {stderr}"
        );
        let _ = std::fs::remove_file(&out);
    }
    // The GA4 refresh issued access tokens at run time: none of them was printed either.
    let log = fakes.servers.requests_to("ga4");
    assert!(log.iter().any(|r| r.path == "/token"));
}

#[test]
fn pull_rest_spec_reads_tiktok_as_the_docs_spec_describes_it() {
    let world = tiktok_world(45);
    let want = world_totals(&world, "tiktok");
    let advertiser = world.tiktok_rows()[0].advertiser_id.clone();
    let fakes = start_fakes(world.clone(), FaultConfig::none());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiktok.parquet");
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rest/tiktok.toml");
    let (start, end) = first_and_last_day(&world);
    let output = pull_command(&fakes, &format!("rest:{spec}"), &start, &end, &out)
        .arg("--base-url")
        .arg(fakes.servers.tiktok_base_url())
        .env("LIFTOS_TIKTOK_ADVERTISER_IDS", &advertiser)
        .output()
        .unwrap();
    assert_pulled(&output, "tiktok", want.0);
    assert_pulled_totals(&out, want, "total_complete_payment_rate");
    // The built-in tiktok mapping takes it; the spec has no currency: --currency gives it.
    let unified = dir.path().join("unified.csv");
    let u = unify_file("tiktok", &out, &["--currency", "USD"], &unified);
    assert_eq!(u.num_rows(), want.0);
    assert_money("unified revenue", sum(&u, "revenue"), want.5);

    // A bad spec is one usage-free error naming the file and the key.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(spec)
            .unwrap()
            .replace("page_number", "scroll"),
    )
    .unwrap();
    let output = liftos()
        .args(["pull", "--source", &format!("rest:{}", bad.display())])
        .args(["--start", &start, "--end", &end, "--out"])
        .arg(dir.path().join("x.csv"))
        .output()
        .unwrap();
    assert_failure_with(&output, &["bad.toml", "scroll"]);
    assert!(!dir.path().join("x.csv").exists());
}

#[test]
fn pull_klaviyo_include_flows_adds_every_flow_row_and_unifies() {
    use liftos::sandbox::{MessageType, World, WorldConfig};
    // 75 days: two daily flow series calls (60 + 15 days); three flows.
    let world = World::generate(
        &WorldConfig::standard(2)
            .with_days(75)
            .with_seed(11)
            .with_klaviyo_flows(3),
    )
    .unwrap();
    let flow_rows = world
        .rows()
        .filter(|r| r.message_type == MessageType::Flow)
        .count();
    let want = world_totals(&world, "klaviyo");
    assert!(
        flow_rows > 100 && want.0 > flow_rows,
        "{flow_rows} of {}",
        want.0
    );
    let faults = FaultConfig::none()
        .with_seed(3)
        .with_throttle_rate(0.2)
        .with_server_error_rate(0.2)
        .with_throttle_wait_secs(1);
    let fakes = start_fakes(world.clone(), faults);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("klaviyo.csv");
    let output = pull_with(&fakes, &world, "klaviyo", &out, |c| {
        c.arg("--include-flows")
            .env("LIFTOS_KLAVIYO_REPORT_INTERVAL_SECS", "0.05")
    });
    assert_pulled(&output, "klaviyo", want.0);
    let log = fakes.servers.requests_to("klaviyo");
    let calls = |path: &str| {
        log.iter()
            .filter(|r| r.path == path && r.status == 200)
            .count()
    };
    assert_eq!(calls("/api/flow-series-reports"), 2, "≤ 60 days per call");
    assert!(
        log.iter().any(|r| r.fault.is_some()),
        "faults were injected"
    );
    let table = assert_pulled_totals(&out, want, "revenue");
    let types = table.column_by_name("message_type").unwrap();
    let types = arrow::array::AsArray::as_string::<i32>(types);
    assert_eq!(
        types.iter().filter(|t| *t == Some("flow")).count(),
        flow_rows
    );

    // The default mapping unifies the output; the klaviyo rows are the world's.
    let unified = dir.path().join("unified.parquet");
    let u = unify_file("klaviyo", &out, &[], &unified);
    assert_unified_totals(&u, want);
    assert_eq!(campaign_ids(&u), world_campaign_ids(&world, "klaviyo"));
}

#[test]
fn include_flows_is_refused_for_other_sources() {
    let (world, fakes) = world_and_fakes();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.csv");
    let output = pull_with(&fakes, &world, "meta", &out, |c| c.arg("--include-flows"));
    assert_failure_with(
        &output,
        &["--include-flows applies to --source klaviyo only"],
    );
    assert!(!out.exists());
}

#[test]
fn pull_timeout_flag_bounds_a_hanging_server() {
    // A listener that never accepts: every request hangs.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", hanging.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.csv");
    let started = std::time::Instant::now();
    let output = meta_pull("2024-01-02", &out)
        .args([
            "--base-url",
            &base,
            "--timeout",
            "1.5",
            "--request-timeout",
            "60",
        ])
        .env("LIFTOS_META_ACCESS_TOKEN", "EAAB-hanging-test-token")
        .env("LIFTOS_META_AD_ACCOUNT_IDS", "act_1")
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = assert_failure_with(&output, &["meta", "deadline of 1500 ms"]);
    assert!(!stderr.contains("EAAB-hanging-test-token"), "{stderr}");
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
    assert!(!out.exists());
    let output = meta_pull("2024-01-02", &out)
        .args(["--base-url", &base, "--max-body-mib", "0"])
        .env("LIFTOS_META_ACCESS_TOKEN", "EAAB-hanging-test-token")
        .env("LIFTOS_META_AD_ACCOUNT_IDS", "act_1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("max_body_mib"),
        "{stderr}"
    );
    drop(hanging);
}

#[test]
fn pull_shopify_writes_the_business_outcome_that_analyze_reads() {
    // 70 days: a business-level analysis needs at least 8 weeks.
    let world = world_over(70);
    let fakes = start_fakes(world.clone(), FaultConfig::none().with_drop_rate(0.2));
    let s = &fakes.servers;
    let dir = tempfile::tempdir().unwrap();
    let business = dir.path().join("business.csv");
    let (start, end) = first_and_last_day(&world);
    let mut pull = pull_command(&fakes, "shopify", &start, &end, &business);
    let output = with_shopify_credentials(&mut pull, s).output().unwrap();
    assert_pulled(&output, "shopify", 70);
    // The business table of the world, day by day (70 days: one bulk operation).
    let got = liftos::transform::read_table(&business).unwrap();
    let want = world.business_table().unwrap();
    assert_eq!(got.num_rows(), want.num_rows());
    assert_eq!(sum(&got, "revenue"), sum(&want, "revenue"));
    assert_eq!(sum(&got, "orders"), sum(&want, "orders"));
    assert!(sum(&got, "new_customer_orders") > 0.0);
    let outcome = liftos::business::read_business_outcome(&business).unwrap();
    assert_eq!(outcome.dates.len(), 70);
    let want_revenue = want
        .column(1)
        .as_primitive::<arrow::datatypes::Float64Type>();
    for (i, r) in outcome.revenue.iter().enumerate() {
        assert!((r - want_revenue.value(i)).abs() < 1e-9, "day {i}");
    }
    // `liftos analyze --business-outcome` takes the pulled file as it is.
    let unified = dir.path().join("unified.csv");
    liftos::io::write_table_atomically(&unified, &world.unified_table().unwrap()).unwrap();
    let output = analyze_business(&unified, &business, &[]);
    assert_success_with(&output, "Outcome: the business's own revenue");
    // The token went to the API only, never to the storage origin of the bulk result.
    let storage = s.requests_to("shopify_storage");
    assert!(!storage.is_empty());
    assert!(storage.iter().all(|r| r.fault != Some("credential_sent")));
}
