//! Shared helpers: a small sandbox world served by the fake APIs, the `liftos` binary
//! with the fakes' credentials, table totals.

use std::path::Path;
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use liftos::sandbox::fake::{FakeServers, FaultConfig};
use liftos::sandbox::{World, WorldConfig};

/// The world every pull test serves: 2 campaigns per channel, 45 days from 2024-01-01.
pub fn world() -> World {
    World::generate(&WorldConfig::standard(2).with_days(45).with_seed(11)).unwrap()
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

pub fn liftos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_liftos"))
}

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
    let s = &fakes.servers;
    let (start, end) = first_and_last_day(world);
    let mut cmd = liftos();
    cmd.args(["pull", "--source", source, "--start", &start, "--end", &end])
        .arg("--out")
        .arg(out);
    with_credentials(&mut cmd, fakes);
    let base = match source {
        "meta" => s.meta_base_url(),
        "google_ads" => s.google_base_url(),
        "tiktok" => s.tiktok_base_url(),
        "ga4" => s.ga4_base_url(),
        _ => s.klaviyo_base_url(),
    };
    cmd.arg("--base-url").arg(base);
    if source == "klaviyo" {
        // The world charges one cent per recipient; Klaviyo itself reports no spend.
        cmd.args(["--cost-per-recipient", "0.01"]);
    }
    tweak(&mut cmd);
    cmd.output().unwrap()
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

/// (rows, spend, impressions, clicks, revenue) of one channel of the world.
pub fn world_totals(world: &World, channel: &str) -> (usize, f64, i64, i64, f64) {
    let mut t = (0, 0.0, 0, 0, 0.0);
    for r in world.rows().filter(|r| r.channel == channel) {
        t.0 += 1;
        t.1 += r.spend;
        t.2 += r.impressions;
        t.3 += r.clicks;
        t.4 += r.revenue;
    }
    t
}

/// Sum of a numeric column, whatever its numeric type (CSV inference may give Int64).
pub fn sum(table: &RecordBatch, column: &str) -> f64 {
    let c = table
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    assert_eq!(c.null_count(), 0, "{column} has nulls");
    match c.data_type() {
        DataType::Float64 => c.as_primitive::<Float64Type>().iter().flatten().sum(),
        DataType::Int64 => c
            .as_primitive::<Int64Type>()
            .iter()
            .flatten()
            .map(|v| v as f64)
            .sum(),
        other => panic!("{column} is {other}"),
    }
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
