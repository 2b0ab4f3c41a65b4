//! `liftos-sandbox serve [--seed N] [--port P] [--campaigns N | --preset NAME] [--days D] [--klaviyo-flows N]`:
//! runs the fake Meta, Google Ads, Klaviyo, TikTok, GA4, generic REST and Shopify APIs (and
//! Shopify's storage origin for bulk results) over a sandbox world until Ctrl-C (a preset's
//! zero-effect channel `tiktok` is served by the TikTok fake).
//!
//! `liftos-sandbox export --out DIR [same world flags] [--holdout CHANNEL:START:DAYS:SE]`:
//! writes the world's `unified.csv`, the business's own revenue `business.csv`,
//! `truth.json`, and with `--holdout` a `lift_tests.csv` from a holdout experiment run in
//! the world (the channel off for DAYS days from START, measured with a standard error of
//! SE × its effect).

use liftos_core::fs::{write_atomically, write_bytes_atomically};
use liftos_sandbox::fake::{FakeServers, FaultConfig};
use liftos_sandbox::{Platform, Preset, World, WorldConfig};

const USAGE: &str = "usage: liftos-sandbox serve [--seed N] [--port P] [--campaigns N | --preset NAME] [--days D] [--klaviyo-flows N] [--return-scale F] [--today YYYY-MM-DD [--restate-days K]]\n\
       liftos-sandbox export --out DIR [--seed N] [--campaigns N | --preset NAME] [--days D] [--return-scale F] [--holdout CHANNEL:START:DAYS:SE]\n\
  export writes unified.csv, business.csv (the business's daily revenue), truth.json and, with --holdout, lift_tests.csv.\n\
  Serves the fake Meta (port P), Google Ads (P+1), Klaviyo (P+2), TikTok (P+3), generic REST (P+4), GA4 (P+5)\n\
  and Shopify (P+6; bulk results on P+7) APIs; P = 0 picks free ports. Shopify's orders add up to business.csv\n\
  per day (shop time zone America/New_York).\n\
  --preset NAME builds a named world for the seed instead of the standard one with N campaigns per channel:\n\
    linear      the standard world (4 campaigns per channel) plus a zero-effect channel `tiktok`\n\
    saturation  Hill saturation per channel, campaigns redrawn from the seed\n\
    carryover   geometric adstock per channel, linear response\n\
    realistic   saturation, carryover, budgets in steps, autocorrelated noise, 4-6 unbalanced campaigns\n\
    latent      realistic spend with an unobserved demand shock moving spend and revenue (hidden confounding)\n\
    feedback    realistic spend reacting to the same day's revenue shock (hidden confounding)\n\
    spillover   35% of Meta's effect reported in Google Ads' rows (the business total sees all of it)\n\
    steep           realistic, with steep S-shaped Hill curves (shape 2.5-3.5, half-saturation 0.5-2.5x)\n\
    long_carryover  realistic spend, linear response, carryover decay 0.8-0.92\n\
    shared_audience realistic, each paid channel's campaigns saturating one shared audience\n\
    pulsing         realistic, the paid channels running 14 days and pausing 14, all at once\n\
    drift           realistic, demand drifting slowly (over months) where no calendar column shows, budgets following\n\
  --return-scale F multiplies every channel's true return by F (spend, baselines and noise unchanged).\n\
  serve puts a preset's zero-effect channel `tiktok` on the TikTok fake (numeric advertiser and campaign ids);\n\
  export writes it with its plain ids, as a file source would have them.\n\
  --today D turns the fake clock on: Meta and Google Ads serve nothing after D, and the last K days' \n\
  conversions (--restate-days, default 3) are still growing (late attribution); POST /_sandbox/advance?days=N \n\
  on any server moves the clock on. Without --today every day is served as it is.";

/// What `serve` was asked for.
#[derive(Debug, PartialEq)]
struct Options {
    seed: u64,
    port: u16,
    campaigns: Option<usize>,
    preset: Option<Preset>,
    days: u32,
    flows: usize,
    today: Option<chrono::NaiveDate>,
    restate_days: u32,
    export: bool,
    out: Option<std::path::PathBuf>,
    holdout: Option<String>,
    return_scale: f64,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let export = match args.first().map(String::as_str) {
        Some("serve") => false,
        Some("export") => true,
        _ => return Err(USAGE.into()),
    };
    let mut o = Options {
        seed: 42,
        port: 0,
        campaigns: None,
        preset: None,
        days: 730,
        flows: 0,
        today: None,
        restate_days: 3,
        export,
        out: None,
        holdout: None,
        return_scale: 1.0,
    };
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |_| format!("{flag}: `{value}` is not a valid number");
        match flag.as_str() {
            "--seed" => o.seed = value.parse().map_err(bad)?,
            "--port" => o.port = value.parse().map_err(bad)?,
            "--campaigns" => o.campaigns = Some(value.parse().map_err(bad)?),
            "--preset" => o.preset = Some(Preset::parse(value).map_err(|e| e.to_string())?),
            "--days" => o.days = value.parse().map_err(bad)?,
            "--klaviyo-flows" => o.flows = value.parse().map_err(bad)?,
            "--restate-days" => o.restate_days = value.parse().map_err(bad)?,
            "--return-scale" => {
                o.return_scale = value
                    .parse()
                    .map_err(|_| format!("{flag}: `{value}` is not a valid number"))?;
                if !(o.return_scale.is_finite() && o.return_scale >= 0.0) {
                    return Err(format!(
                        "--return-scale: `{value}` must be a number of 0 or more"
                    ));
                }
            }
            "--today" => {
                o.today = Some(
                    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                        .map_err(|_| format!("--today: `{value}` is not a YYYY-MM-DD date"))?,
                );
            }
            "--out" if export => o.out = Some(value.into()),
            "--holdout" if export => o.holdout = Some(value.clone()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if o.preset.is_some() && o.campaigns.is_some() {
        return Err(format!(
            "--campaigns and --preset exclude each other (a preset draws its own campaigns)\n{USAGE}"
        ));
    }
    if export && o.out.is_none() {
        return Err(format!("export needs --out DIR\n{USAGE}"));
    }
    Ok(o)
}

/// `export`: the world's files into `--out`.
fn export(o: &Options, world: &World) -> Result<Vec<std::path::PathBuf>, String> {
    let dir = o.out.clone().ok_or("export needs --out DIR")?;
    // The holdout is checked before anything is written.
    let holdout = match &o.holdout {
        None => None,
        Some(h) => {
            let parts: Vec<&str> = h.split(':').collect();
            let bad = || {
                format!(
                    "--holdout `{h}`: expected CHANNEL:START:DAYS:SE, e.g. meta:2025-03-03:56:0.1"
                )
            };
            if parts.len() != 4 {
                return Err(bad());
            }
            let start =
                chrono::NaiveDate::parse_from_str(parts[1], "%Y-%m-%d").map_err(|_| bad())?;
            let days: u32 = parts[2].parse().map_err(|_| bad())?;
            let se: f64 = parts[3].parse().map_err(|_| bad())?;
            Some((parts[0].to_string(), start, days, se))
        }
    };
    let io = |p: &std::path::Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let mut written = Vec::new();
    let unified = dir.join("unified.csv");
    let table = world.unified_table().map_err(|e| e.to_string())?;
    // Every file all-or-nothing: a failed export leaves the previous one whole.
    write_atomically(&unified, |file| {
        arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(file)
            .write(&table)
            .map_err(std::io::Error::other)
    })
    .map_err(|e| io(&unified, e))?;
    written.push(unified);
    let business = dir.join("business.csv");
    write_bytes_atomically(
        &business,
        world.business_csv().map_err(|e| e.to_string())?.as_bytes(),
    )
    .map_err(|e| io(&business, e))?;
    written.push(business);
    let truth = dir.join("truth.json");
    let mut value = serde_json::to_value(world.truth()).map_err(|e| e.to_string())?;
    let b = world.business_truth().map_err(|e| e.to_string())?;
    value["business"] = serde_json::json!({
        "revenue": b.revenue, "baseline_revenue": b.baseline_revenue,
        "baseline_share": b.baseline_share,
    });
    let text = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
    write_bytes_atomically(&truth, text.as_bytes()).map_err(|e| io(&truth, e))?;
    written.push(truth);
    if let Some((channel, start, days, se)) = &holdout {
        let test = world
            .holdout_experiment(channel, *start, *days, *se, 1)
            .map_err(|e| e.to_string())?;
        let path = dir.join("lift_tests.csv");
        write_bytes_atomically(
            &path,
            format!(
                "{}\n{}\n",
                liftos_sandbox::LIFT_TEST_HEADER,
                test.csv_line()
            )
            .as_bytes(),
        )
        .map_err(|e| io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// The world `serve` runs on.
fn world_config(o: &Options) -> WorldConfig {
    let base = match o.preset {
        Some(p) => WorldConfig::preset(p, o.seed),
        None => WorldConfig::standard(o.campaigns.unwrap_or(4)).with_seed(o.seed),
    };
    base.with_days(o.days)
        .with_klaviyo_flows(o.flows)
        .with_return_scale(o.return_scale)
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let port = options.port;
    let clock = (options.today, options.restate_days);
    let mut config = world_config(&options);
    if !options.export {
        config = config.with_platform("tiktok", Platform::TikTok);
    }
    let world = match World::generate(&config) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("liftos-sandbox: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if options.export {
        return match export(&options, &world) {
            Ok(files) => {
                for f in files {
                    println!("Wrote {}", f.display());
                }
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("liftos-sandbox: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
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
    let mut world_tiktok = world.tiktok_rows();
    world_tiktok.sort_by(|a, b| a.advertiser_id.cmp(&b.advertiser_id));
    let result: std::io::Result<()> = runtime.block_on(async move {
        let servers =
            FakeServers::start_with(world, FaultConfig::default(), Default::default(), port)
                .await?;
        servers.set_clock(clock.0, clock.1);
        let c = servers.credentials();
        let mut advertisers: Vec<String> = world_tiktok
            .iter()
            .map(|r| r.advertiser_id.clone())
            .collect();
        advertisers.dedup();
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
        println!("LIFTOS_SHOPIFY_BASE_URL={}", servers.shopify_base_url());
        println!("LIFTOS_SHOPIFY_SHOP=liftos-sandbox");
        println!("LIFTOS_SHOPIFY_ACCESS_TOKEN={}", c.shopify_access_token);
        println!("LIFTOS_GA4_BASE_URL={}", servers.ga4_base_url());
        println!("LIFTOS_GA4_TOKEN_URL={}", servers.ga4_token_url());
        println!("LIFTOS_GA4_PROPERTY_ID={}", c.ga4_property_id);
        println!("LIFTOS_GA4_CLIENT_ID={}", c.ga4_client_id);
        println!("LIFTOS_GA4_CLIENT_SECRET={}", c.ga4_client_secret);
        println!("LIFTOS_GA4_REFRESH_TOKEN={}", c.ga4_refresh_token);
        println!(
            "# generic REST API (docs: liftos-sandbox fake::rest) at {}",
            servers.rest_base_url()
        );
        if !advertisers.is_empty() {
            println!("LIFTOS_TIKTOK_BASE_URL={}", servers.tiktok_base_url());
            println!("LIFTOS_TIKTOK_ACCESS_TOKEN={}", c.tiktok_access_token);
            println!("LIFTOS_TIKTOK_ADVERTISER_IDS={}", advertisers.join(","));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_preset_builds_its_world_for_the_seed() {
        let o = parse_args(&args("serve --preset realistic --seed 9 --days 100")).unwrap();
        assert_eq!(o.preset, Some(Preset::Realistic));
        let expected = WorldConfig::preset(Preset::Realistic, 9).with_days(100);
        assert_eq!(world_config(&o), expected);
        let o = parse_args(&args("serve --seed 3")).unwrap();
        assert_eq!(world_config(&o), WorldConfig::standard(4).with_seed(3));
    }

    #[test]
    fn export_writes_the_world_the_business_outcome_and_a_lift_test() {
        let dir =
            std::env::temp_dir().join(format!("liftos-sandbox-export-{}", std::process::id()));
        let o = parse_args(&[
            "export".to_string(),
            "--preset".into(),
            "spillover".into(),
            "--days".into(),
            "120".into(),
            "--out".into(),
            dir.display().to_string(),
            "--holdout".into(),
            "meta:2024-02-01:28:0.1".into(),
        ])
        .unwrap();
        let world = World::generate(&world_config(&o)).unwrap();
        let files = export(&o, &world).unwrap();
        assert_eq!(files.len(), 4);
        let business = std::fs::read_to_string(dir.join("business.csv")).unwrap();
        assert_eq!(business.lines().count(), 121);
        let tests = std::fs::read_to_string(dir.join("lift_tests.csv")).unwrap();
        assert!(
            tests.starts_with(liftos_sandbox::LIFT_TEST_HEADER)
                && tests.contains("meta,2024-02-01,2024-02-28,"),
            "{tests}"
        );
        let bad_dir = dir.join("bad");
        let o = parse_args(&args(&format!(
            "export --preset spillover --out {} --holdout meta",
            bad_dir.display()
        )))
        .unwrap();
        assert!(
            export(&o, &world)
                .unwrap_err()
                .contains("CHANNEL:START:DAYS:SE")
        );
        assert!(
            !bad_dir.exists(),
            "nothing is written when --holdout is bad"
        );
        assert!(
            parse_args(&args("export --preset linear"))
                .unwrap_err()
                .contains("--out")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_return_scale_multiplies_every_effect_and_nothing_else() {
        let plain = World::generate(&world_config(
            &parse_args(&args(
                "export --out x --preset saturation --seed 2 --days 120",
            ))
            .unwrap(),
        ))
        .unwrap();
        let scaled = World::generate(&world_config(
            &parse_args(&args(
                "export --out x --preset saturation --seed 2 --days 120 --return-scale 2.5",
            ))
            .unwrap(),
        ))
        .unwrap();
        for (a, b) in plain.truth().channels.iter().zip(&scaled.truth().channels) {
            assert_eq!(a.spend, b.spend, "{}", a.channel);
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(1.0);
            assert!(
                close(2.5 * a.incremental_revenue, b.incremental_revenue)
                    && close(2.5 * a.incremental_roas, b.incremental_roas),
                "{}: {} -> {}",
                a.channel,
                a.incremental_roas,
                b.incremental_roas
            );
        }
        // Every row's spend and baseline (its noise draw included) stay, and so does the
        // business's baseline.
        for (a, b) in plain.rows().zip(scaled.rows()) {
            assert_eq!((a.spend, a.baseline_revenue), (b.spend, b.baseline_revenue));
        }
        let baselines = |w: &World| -> Vec<f64> {
            w.business_days(liftos_sandbox::Intervention::None)
                .unwrap()
                .iter()
                .map(|d| d.baseline)
                .collect()
        };
        assert_eq!(baselines(&plain), baselines(&scaled));
        for bad in ["-1", "nan", "x"] {
            let e = parse_args(&args(&format!("serve --return-scale {bad}"))).unwrap_err();
            assert!(e.contains("--return-scale"), "{e}");
        }
    }

    #[test]
    fn bad_presets_and_conflicting_flags_are_errors() {
        let e = parse_args(&args("serve --preset nope")).unwrap_err();
        assert!(
            e.contains("`nope` is not a preset") && e.contains("realistic"),
            "{e}"
        );
        let e = parse_args(&args("serve --preset linear --campaigns 3")).unwrap_err();
        assert!(e.contains("exclude each other"), "{e}");
    }
}
