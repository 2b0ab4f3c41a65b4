//! Shared helpers: a small sandbox world served by the fake APIs, the `liftos` binary
//! with the fakes' credentials, table totals.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{AsArray, RecordBatch};
use liftos::sandbox::fake::{FakeServers, FaultConfig};
use liftos::sandbox::{World, WorldConfig};
pub use liftos_testkit::{Totals, fake_google_ads, sum, world_totals};

/// The world every pull test serves: 2 campaigns per channel, 45 days from 2024-01-01.
pub fn world() -> World {
    world_over(45)
}

/// The pull tests' world over `days` days from 2024-01-01.
pub fn world_over(days: u32) -> World {
    World::generate(&WorldConfig::standard(2).with_days(days).with_seed(11)).unwrap()
}

/// The pull tests' world over `days` days with its zero-effect channel on TikTok.
pub fn tiktok_world(days: u32) -> World {
    World::generate(
        &WorldConfig::standard(2)
            .with_days(days)
            .with_seed(11)
            .with_zero_effect_channel("tiktok")
            .with_platform("tiktok", liftos::sandbox::Platform::TikTok),
    )
    .unwrap()
}

pub fn first_and_last_day(world: &World) -> (String, String) {
    let c = world.config();
    (c.start.to_string(), c.end().to_string())
}

/// The fake servers on a multi-threaded runtime, so they keep answering while the test
/// thread waits for a child process.
pub struct Fakes {
    pub servers: FakeServers,
    pub runtime: tokio::runtime::Runtime,
}

pub fn start_fakes(world: World, faults: FaultConfig) -> Fakes {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let servers = runtime.block_on(FakeServers::start(world, faults)).unwrap();
    Fakes { servers, runtime }
}

/// The standard [`world`] and fakes serving it without faults.
pub fn world_and_fakes() -> (World, Fakes) {
    let world = world();
    let fakes = start_fakes(world.clone(), FaultConfig::none());
    (world, fakes)
}

pub fn liftos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_liftos"))
}

/// Runs `liftos` with the given arguments (anything [`Command::arg`] takes: words,
/// paths, formatted strings) and returns its output.
macro_rules! liftos_run {
    ($($arg:expr),+ $(,)?) => {{
        let mut command = $crate::common::liftos();
        $(command.arg($arg);)+
        command.output().unwrap()
    }};
}
pub(crate) use liftos_run;

/// `liftos pull --source <source>` against the fakes, with their credentials in the
/// child's environment (the way a user configures a real pull).
pub fn pull(fakes: &Fakes, world: &World, source: &str, out: &Path) -> Output {
    pull_with(fakes, world, source, out, |c| c)
}

pub fn pull_with(
    fakes: &Fakes,
    world: &World,
    source: &str,
    out: &Path,
    tweak: impl FnOnce(&mut Command) -> &mut Command,
) -> Output {
    let (start, end) = first_and_last_day(world);
    pull_range(fakes, source, &start, &end, out, tweak)
}

/// `liftos pull --source <source>` of `start..=end` against the fakes, as [`pull_with`].
pub fn pull_range(
    fakes: &Fakes,
    source: &str,
    start: &str,
    end: &str,
    out: &Path,
    tweak: impl FnOnce(&mut Command) -> &mut Command,
) -> Output {
    let mut cmd = pull_command(fakes, source, start, end, out);
    if let Some(base) = fakes.servers.base_url(source) {
        cmd.arg("--base-url").arg(base);
    }
    if source == "klaviyo" {
        // The world charges one cent per recipient; Klaviyo itself reports no spend.
        cmd.args(["--cost-per-recipient", "0.01"]);
    }
    tweak(&mut cmd);
    cmd.output().unwrap()
}

/// `liftos pull --source <source> --start <start> --end <end> --out <out>` with the
/// fakes' credentials in its environment.
pub fn pull_command(fakes: &Fakes, source: &str, start: &str, end: &str, out: &Path) -> Command {
    let mut cmd = liftos();
    cmd.args(["pull", "--source", source, "--start", start, "--end", end])
        .arg("--out")
        .arg(out);
    with_credentials(&mut cmd, fakes);
    cmd
}

/// The fake GA4 property's credentials and token endpoint in `cmd`'s environment.
pub fn with_ga4_credentials<'a>(cmd: &'a mut Command, s: &FakeServers) -> &'a mut Command {
    let c = s.credentials();
    cmd.env("LIFTOS_GA4_PROPERTY_ID", &c.ga4_property_id)
        .env("LIFTOS_GA4_CLIENT_ID", &c.ga4_client_id)
        .env("LIFTOS_GA4_CLIENT_SECRET", &c.ga4_client_secret)
        .env("LIFTOS_GA4_REFRESH_TOKEN", &c.ga4_refresh_token)
        .env("LIFTOS_GA4_TOKEN_URL", s.ga4_token_url())
}

/// The fakes' credentials in `cmd`'s environment, under the standard `LIFTOS_*` names
/// (the way a user configures a real pull or run).
pub fn with_credentials<'a>(cmd: &'a mut Command, fakes: &Fakes) -> &'a mut Command {
    let s = &fakes.servers;
    let c = s.credentials();
    cmd.env("LIFTOS_META_ACCESS_TOKEN", &c.meta_access_token)
        .env("LIFTOS_META_AD_ACCOUNT_IDS", "act_1000000001,1000000002")
        .env(
            "LIFTOS_GOOGLE_ADS_DEVELOPER_TOKEN",
            &c.google_developer_token,
        )
        .env("LIFTOS_GOOGLE_ADS_CLIENT_ID", &c.google_client_id)
        .env("LIFTOS_GOOGLE_ADS_CLIENT_SECRET", &c.google_client_secret)
        .env("LIFTOS_GOOGLE_ADS_REFRESH_TOKEN", &c.google_refresh_token)
        .env("LIFTOS_GOOGLE_ADS_CUSTOMER_IDS", "123-456-7890")
        .env("LIFTOS_GOOGLE_ADS_TOKEN_URL", s.google_token_url())
        .env("LIFTOS_KLAVIYO_API_KEY", &c.klaviyo_api_key)
        .env("LIFTOS_TIKTOK_ACCESS_TOKEN", &c.tiktok_access_token)
}

#[track_caller]
pub fn assert_success(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Asserts that `output` is a success whose stdout contains `text`; returns the stdout.
#[track_caller]
pub fn assert_success_with(output: &Output, text: &str) -> String {
    let stdout = assert_success(output);
    assert!(stdout.contains(text), "{stdout}");
    stdout
}

/// Asserts that `output` is a success that says it pulled `rows` rows from `source`;
/// returns the stdout.
#[track_caller]
pub fn assert_pulled(output: &Output, source: &str, rows: usize) -> String {
    let stdout = assert_success(output);
    assert!(
        stdout.starts_with(&format!("Pulled {rows} rows from {source} (")),
        "{stdout}"
    );
    stdout
}

/// Asserts that `output` is a failure and returns its stderr.
#[track_caller]
pub fn assert_failure(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "succeeded\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

/// Asserts that `output` is a failure whose stderr contains each of `texts`; returns
/// the stderr.
#[track_caller]
pub fn assert_failure_with(output: &Output, texts: &[&str]) -> String {
    let stderr = assert_failure(output);
    assert_contains_all(&stderr, texts);
    stderr
}

/// Asserts that `text` contains each of `parts`.
#[track_caller]
pub fn assert_contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part} in {text}");
    }
}

/// Asserts that `dir` holds no file at all (`context` says which case failed).
#[track_caller]
pub fn assert_nothing_written(dir: &Path, context: &str) {
    assert!(
        std::fs::read_dir(dir).unwrap().next().is_none(),
        "{context}: nothing written, yet there is {:?}",
        leftovers(dir)
    );
}

/// The header line of a unified CSV file.
pub const UNIFIED_HEADER: &str = "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue";

/// Writes `contents` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// `text` as the `liftos.toml` of `dir`.
pub fn parse_config(text: &str, dir: &Path) -> liftos::config::PipelineConfig {
    liftos::config::PipelineConfig::from_toml_str(text, "liftos.toml", dir).unwrap()
}

/// The world of `config`, its unified table written to `path` (CSV or Parquet by the
/// extension).
pub fn write_world(config: &WorldConfig, path: &Path) -> World {
    let world = World::generate(config).unwrap();
    liftos::io::write_table_atomically(path, &world.unified_table().unwrap()).unwrap();
    world
}

/// The JSON document in the file at `path`.
pub fn read_json(path: impl AsRef<Path>) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The element of the array `json[array]` whose `key` is `value` (e.g. a channel of a
/// results or truth document, an issue of a validation report).
#[track_caller]
pub fn entry<'v>(
    json: &'v serde_json::Value,
    array: &str,
    key: &str,
    value: &str,
) -> &'v serde_json::Value {
    json[array]
        .as_array()
        .unwrap_or_else(|| panic!("no array {array} in {json:#}"))
        .iter()
        .find(|e| e[key] == value)
        .unwrap_or_else(|| panic!("no {key} {value} in {array} of {json:#}"))
}

/// The channel `name` of a results, truth or calibration document.
#[track_caller]
pub fn channel<'v>(json: &'v serde_json::Value, name: &str) -> &'v serde_json::Value {
    entry(json, "channels", "channel", name)
}

/// `liftos analyze` with `args`, `--input input` and `--json json`; asserts success and
/// returns stdout.
pub fn analyze_json(input: &Path, json: &Path, args: &[&str]) -> String {
    let output = liftos()
        .arg("analyze")
        .args(args)
        .arg("--input")
        .arg(input)
        .arg("--json")
        .arg(json)
        .output()
        .unwrap();
    assert_success(&output)
}

/// `liftos analyze --bootstrap 20 --input unified --business-outcome business` with
/// `extra` arguments.
pub fn analyze_business(unified: &Path, business: &Path, extra: &[&OsStr]) -> Output {
    liftos()
        .args(["analyze", "--bootstrap", "20", "--input"])
        .arg(unified)
        .arg("--business-outcome")
        .arg(business)
        .args(extra)
        .output()
        .unwrap()
}

/// Money sums agree to the cent, after summing `rows` rounded values.
#[track_caller]
pub fn assert_money(label: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() < 0.005,
        "{label}: got {got:.4}, want {want:.4}"
    );
}

/// Files in `dir` whose name contains `partial` or `tmp`.
pub fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial") || n.contains("tmp"))
        .collect()
}

/// `liftos unify --input <name>=<file> [args…] --out <out>`; asserts success and reads
/// the unified table.
pub fn unify_file(name: &str, file: &Path, args: &[&str], out: &Path) -> RecordBatch {
    let output = liftos()
        .arg("unify")
        .arg("--input")
        .arg(format!("{name}={}", file.display()))
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert_success(&output);
    liftos::transform::read_table(out).unwrap()
}

/// A unified table carries the rows, spend, revenue and impressions of `want` (see
/// [`world_totals`]).
#[track_caller]
pub fn assert_unified_totals(unified: &RecordBatch, want: Totals) {
    assert_eq!(unified.num_rows(), want.0);
    assert_money("unified spend", sum(unified, "spend"), want.1);
    assert_money("unified revenue", sum(unified, "revenue"), want.5);
    assert_eq!(sum(unified, "impressions") as i64, want.2);
}

/// The `campaign_id` column of `table`, sorted.
pub fn campaign_ids(table: &RecordBatch) -> Vec<String> {
    let ids = table
        .column_by_name("campaign_id")
        .unwrap_or_else(|| panic!("no column campaign_id"))
        .as_string::<i32>();
    let mut v: Vec<String> = ids.iter().map(|s| s.unwrap().to_owned()).collect();
    v.sort();
    v
}

/// The campaign ids of the world's `channel` rows, sorted.
pub fn world_campaign_ids(world: &World, channel: &str) -> Vec<String> {
    let mut v: Vec<String> = world
        .rows()
        .filter(|r| r.channel == channel)
        .map(|r| r.campaign_id)
        .collect();
    v.sort();
    v
}

/// Sends `signal` (`-INT`, `-TERM`, `-HUP`, …) to `child` with `kill`; asserts it was sent.
pub fn send_signal(child: &std::process::Child, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {signal} failed");
}

/// A meta pull into `dir/file` against fakes that answer every request after 30 s,
/// stopped by `signal` once its partial file is there and its first request is in
/// flight; the pull's output.
pub fn interrupted_meta_pull(dir: &Path, file: &str, signal: &str) -> Output {
    let world = world();
    // Every answer takes 30 s: the pull is still waiting when it is interrupted.
    let fakes = start_fakes(
        world.clone(),
        FaultConfig::none().with_slow(1.0, std::time::Duration::from_secs(30)),
    );
    let out = dir.join(file);
    let (start, end) = first_and_last_day(&world);
    let s = &fakes.servers;
    let child = liftos()
        .args(["pull", "--source", "meta", "--start", &start, "--end", &end])
        .arg("--out")
        .arg(&out)
        .arg("--base-url")
        .arg(s.meta_base_url())
        .env(
            "LIFTOS_META_ACCESS_TOKEN",
            &s.credentials().meta_access_token,
        )
        .env("LIFTOS_META_AD_ACCOUNT_IDS", "1000000001")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The partial file appears before the first request; then the request is in flight.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while leftovers(dir).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(leftovers(dir).len(), 1, "the pull started");
    std::thread::sleep(std::time::Duration::from_millis(500));
    send_signal(&child, signal);
    child.wait_with_output().unwrap()
}

/// The fakes' Shopify shop, token and URL in `cmd`'s environment, with a fast bulk poll.
pub fn with_shopify_credentials<'a>(cmd: &'a mut Command, s: &FakeServers) -> &'a mut Command {
    cmd.env("LIFTOS_SHOPIFY_SHOP", "liftos-sandbox")
        .env(
            "LIFTOS_SHOPIFY_ACCESS_TOKEN",
            &s.credentials().shopify_access_token,
        )
        .env("LIFTOS_SHOPIFY_BASE_URL", s.shopify_base_url())
        .env("LIFTOS_SHOPIFY_BULK_POLL_SECS", "0.05")
}
