//! `liftos-sandbox serve [--seed N] [--port P] [--campaigns N] [--days D] [--klaviyo-flows N]`:
//! runs the fake
//! Meta, Google Ads and Klaviyo APIs over a sandbox world until Ctrl-C.

use liftos_sandbox::fake::{FakeServers, FaultConfig};
use liftos_sandbox::{World, WorldConfig};

const USAGE: &str = "usage: liftos-sandbox serve [--seed N] [--port P] [--campaigns N] [--days D] [--klaviyo-flows N]\n\
  Serves the fake Meta (port P), Google Ads (P+1) and Klaviyo (P+2) APIs; P = 0 picks free ports.";

/// seed, port, campaigns per channel, days, Klaviyo flows.
type Options = (u64, u16, usize, u32, usize);

fn parse_args(args: &[String]) -> Result<Options, String> {
    if args.first().map(String::as_str) != Some("serve") {
        return Err(USAGE.into());
    }
    let (mut seed, mut port, mut campaigns, mut days, mut flows) =
        (42u64, 0u16, 4usize, 730u32, 0usize);
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |_| format!("{flag}: `{value}` is not a valid number");
        match flag.as_str() {
            "--seed" => seed = value.parse().map_err(bad)?,
            "--port" => port = value.parse().map_err(bad)?,
            "--campaigns" => campaigns = value.parse().map_err(bad)?,
            "--days" => days = value.parse().map_err(bad)?,
            "--klaviyo-flows" => flows = value.parse().map_err(bad)?,
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok((seed, port, campaigns, days, flows))
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (seed, port, campaigns, days, flows) = match parse_args(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let world = match World::generate(
        &WorldConfig::standard(campaigns)
            .with_days(days)
            .with_seed(seed)
            .with_klaviyo_flows(flows),
    ) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("liftos-sandbox: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("liftos-sandbox: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result: std::io::Result<()> = runtime.block_on(async move {
        let servers =
            FakeServers::start_with(world, FaultConfig::default(), Default::default(), port)
                .await?;
        let c = servers.credentials();
        println!("LIFTOS_META_BASE_URL={}", servers.meta_base_url());
        println!("LIFTOS_META_ACCESS_TOKEN={}", c.meta_access_token);
        println!("LIFTOS_META_AD_ACCOUNT_IDS=1000000001,1000000002");
        println!("LIFTOS_GOOGLE_ADS_BASE_URL={}", servers.google_base_url());
        println!("LIFTOS_GOOGLE_ADS_TOKEN_URL={}", servers.google_token_url());
        println!(
            "LIFTOS_GOOGLE_ADS_DEVELOPER_TOKEN={}",
            c.google_developer_token
        );
        println!("LIFTOS_GOOGLE_ADS_CLIENT_ID={}", c.google_client_id);
        println!("LIFTOS_GOOGLE_ADS_CLIENT_SECRET={}", c.google_client_secret);
        println!("LIFTOS_GOOGLE_ADS_REFRESH_TOKEN={}", c.google_refresh_token);
        println!("LIFTOS_GOOGLE_ADS_CUSTOMER_IDS=1234567890");
        println!("LIFTOS_KLAVIYO_BASE_URL={}", servers.klaviyo_base_url());
        println!("LIFTOS_KLAVIYO_API_KEY={}", c.klaviyo_api_key);
        println!("# fake credentials; press Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
        drop(servers);
        Ok(())
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liftos-sandbox: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
