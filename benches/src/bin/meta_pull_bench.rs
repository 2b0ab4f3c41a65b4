//! Meta pull benchmark: pulls N Ads Insights rows from the sandbox's fake Graph API with
//! `MetaAdsConnector` (HTTP, paging, decoding, Arrow batches), and in the same run times
//! merely parsing the same page bodies with `serde_json::from_slice::<Value>`.
//!
//! ```text
//! meta_pull_bench [--rows 1000000] [--limit 5000]
//! ```
//!
//! It pulls N/4, N/2 and N rows and prints, for each: rows, seconds, rows/second, the
//! peak resident memory sampled during the pull (flat when the pull streams), and the
//! ratio of pull time to serde_json parse time of the same bodies.

use std::time::{Duration, Instant};

use futures::StreamExt;
use liftos_connectors::{Connector, ConnectorRequest, MetaAdsBuilder, RetryConfig};
use liftos_sandbox::fake::{FakeServers, FaultConfig};
use liftos_sandbox::{World, WorldConfig};

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn arg(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a positive integer")),
    }
}

struct Run {
    rows: usize,
    secs: f64,
    peak_rss: f64,
    parse_secs: f64,
}

async fn run(
    world: World,
    per_copy: usize,
    target: usize,
    limit: usize,
    request: &ConnectorRequest,
) -> Result<Run, String> {
    let repeat = target.div_ceil(per_copy.max(1));
    let servers = FakeServers::start(world, FaultConfig::none().with_meta_repeat(repeat))
        .await
        .map_err(|e| e.to_string())?;
    let creds = servers.credentials().clone();
    let connector = MetaAdsBuilder::new()
        .with_access_token(creds.meta_access_token.clone())
        .with_ad_account_ids(["1000000001"])
        .with_base_url(servers.meta_base_url())
        .with_page_limit(limit)
        .with_async_threshold_days(10_000)
        .with_retry(RetryConfig::default().with_request_timeout(Duration::from_secs(300)))
        .build()
        .map_err(|e| e.to_string())?;

    // 1. The connector: HTTP + paging + decode + Arrow, streaming.
    let start = Instant::now();
    let mut stream = connector.read(request).map_err(|e| e.to_string())?;
    let mut rows = 0usize;
    let mut peak = rss_mib();
    while let Some(batch) = stream.next().await {
        rows += batch.map_err(|e| e.to_string())?.num_rows();
        peak = peak.max(rss_mib());
    }
    let secs = start.elapsed().as_secs_f64();

    // 2. Baseline: fetch the same pages and time only serde_json parsing of each body.
    let client = reqwest::Client::new();
    let mut url = format!(
        "{}/v25.0/act_1000000001/insights?access_token={}&level=campaign&fields=account_id,account_currency,campaign_id,campaign_name,spend,impressions,clicks,actions,action_values&time_increment=1&time_range={}&limit={limit}",
        servers.meta_base_url(),
        creds.meta_access_token,
        serde_json::json!({"since": request.start().to_string(), "until": request.end().to_string()})
    );
    let mut parse = Duration::ZERO;
    loop {
        let body = client
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .bytes()
            .await
            .map_err(|e| e.to_string())?;
        let t = Instant::now();
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        parse += t.elapsed();
        match v["paging"]["next"].as_str() {
            Some(n) => url = n.to_owned(),
            None => break,
        }
    }
    Ok(Run {
        rows,
        secs,
        peak_rss: peak,
        parse_secs: parse.as_secs_f64(),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (n, limit) = match (arg(&args, "--rows", 1_000_000), arg(&args, "--limit", 5000)) {
        (Ok(n), Ok(l)) => (n, l),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("meta_pull_bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let config = WorldConfig::standard(4).with_days(365).with_seed(1);
    println!(
        "meta_pull_bench: account 1000000001 of WorldConfig::standard(4).with_days(365), served repeatedly; page limit {limit}"
    );
    println!(
        "{:>9} {:>8} {:>11} {:>13} {:>10} {:>12}",
        "rows", "seconds", "rows/s", "peak RSS MiB", "parse s", "pull/parse"
    );
    for target in [n / 4, n / 2, n] {
        let world = match World::generate(&config) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("meta_pull_bench: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let per_copy = world
            .meta_insights()
            .iter()
            .filter(|r| r.account_id == "1000000001")
            .count();
        let dates: Vec<_> = world.rows().map(|r| r.date).collect();
        let (Some(s), Some(e)) = (dates.iter().min().copied(), dates.iter().max().copied()) else {
            eprintln!("meta_pull_bench: empty world");
            return std::process::ExitCode::FAILURE;
        };
        let request = match ConnectorRequest::new(s, e) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("meta_pull_bench: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        match run(world, per_copy, target, limit, &request).await {
            Ok(r) => println!(
                "{:>9} {:>8.2} {:>11.0} {:>13.1} {:>10.2} {:>12.2}",
                r.rows,
                r.secs,
                r.rows as f64 / r.secs,
                r.peak_rss,
                r.parse_secs,
                r.secs / r.parse_secs
            ),
            Err(e) => {
                eprintln!("meta_pull_bench: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    std::process::ExitCode::SUCCESS
}
