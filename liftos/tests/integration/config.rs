//! `liftos run --config`: the repository's example config against the fakes, and config
//! errors that name the key and line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::Datelike;

use liftos::sandbox::fake::FaultConfig;

use crate::common::*;

fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("liftos.example.toml")
}

/// `liftos run` with the fakes' credentials and base URLs in the environment, the way a
/// scheduler would set them.
fn run_command(fakes: &Fakes, config: &Path) -> Command {
    let s = &fakes.servers;
    let mut cmd = liftos();
    cmd.args(["run", "--config"])
        .arg(config)
        .env("LIFTOS_LOG", "off")
        .env("LIFTOS_META_BASE_URL", s.meta_base_url())
        .env("LIFTOS_GOOGLE_ADS_BASE_URL", s.google_base_url())
        .env("LIFTOS_KLAVIYO_BASE_URL", s.klaviyo_base_url());
    with_credentials(&mut cmd, fakes);
    cmd
}

#[test]
fn run_with_the_example_config_pulls_analyses_and_writes_everything() {
    let (world, fakes) = world_and_fakes();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (start, end) = first_and_last_day(&world);
    let output = run_command(&fakes, &example_config())
        .args(["--start", &start, "--end", &end])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = assert_success(&output);
    for source in ["meta", "google_ads", "klaviyo"] {
        let (rows, ..) = world_totals(&world, source);
        assert!(
            stdout.contains(&format!("source {source:<12} {rows:>9} rows")),
            "{source}: {stdout}"
        );
    }
    assert!(
        stdout.contains("incremental ROAS") || stdout.contains("iROAS"),
        "{stdout}"
    );
    assert!(stdout.contains("analyze"), "stage timings: {stdout}");
    let results = read_json(out.join("results.json"));
    let mut channels: Vec<&str> = results["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    channels.sort_unstable();
    assert_eq!(channels, ["google_ads", "klaviyo", "meta"]);
    assert_eq!(results["confidence_level"], 0.95);
    assert!(out.join("report").join("report.html").is_file());
    assert!(out.join("enriched.parquet").is_file());
    let unified = liftos::transform::read_table(out.join("unified.parquet")).unwrap();
    assert_eq!(unified.num_rows(), world.num_rows());
    // No secret reaches a written file.
    let secrets = [
        fakes.servers.credentials().meta_access_token.clone(),
        fakes.servers.credentials().klaviyo_api_key.clone(),
        fakes.servers.credentials().google_refresh_token.clone(),
    ];
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut files = vec![out.clone()];
    let mut seen = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        seen += 1;
        for s in &secrets {
            let found = bytes.windows(s.len()).any(|w| w == s.as_bytes());
            assert!(!found, "a secret in {}", path.display());
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.contains("partial") && !name.contains("tmp"), "{name}");
    }
    assert!(seen > 20, "{seen} files");
    for s in &secrets {
        assert!(!stdout.contains(s.as_str()) && !stderr.contains(s.as_str()));
    }
}

fn run_config(fakes: &Fakes, text: &str) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("liftos.toml");
    std::fs::write(&path, text).unwrap();
    let output = run_command(fakes, &path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

const HEAD: &str = "[pipeline]\nstart = \"2024-01-01\"\nend = \"2024-02-14\"\n\n";

#[test]
fn config_errors_name_the_key_and_the_line() {
    let world = world();
    let fakes = start_fakes(world, FaultConfig::none());
    let mut cases: Vec<(String, &[&str])> = vec![
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\naccess_token = \"EAAB-secret\"\n"),
            &["line 8", "`sources[0].access_token`", "never read from the config file", "LIFTOS_META_ACCESS_TOKEN"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"tt\"\ntype = \"tiktok\"\naccess_token = \"EAAB-secret\"\n"),
            &["line 8", "`sources[0].access_token`", "never read from the config file", "LIFTOS_TIKTOK_ACCESS_TOKEN"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"x\"\ntype = \"tiktok_ads\"\n"),
            &["line 7", "unknown variant `tiktok_ads`"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n\n[analysis]\ntrees = 100\nconfidence = 0.9\n"),
            &["line 11", "unknown field `confidence`"],
        ),
        (
            "[pipeline]\nstart = \"2024-13-01\"\nend = \"2024-02-14\"\n[[sources]]\nname = \"meta\"\ntype = \"meta\"\n".to_owned(),
            &["line 2", "`pipeline.start`", "not a date"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"klaviyo\"\ntype = \"klaviyo\"\napi_key_env = \"NO_SUCH_VARIABLE_XYZ\"\n"),
            &["line 8", "`sources[0].api_key_env`", "NO_SUCH_VARIABLE_XYZ is not set"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\npage_size = 3\n"),
            &["line 8", "sources[0] (meta)", "unknown field `page_size`"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n[analysis]\nmodel = \"random_forest\"\n"),
            &["`analysis.model`", "random_forest"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n[analysis]\npin_curves = [\"meta=0.3:1\"]\n"),
            &["`analysis.pin_curves`", "CHANNEL=DECAY"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n[plan]\nbudget = -5\n"),
            &["`plan.budget`", "-5"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n[plan]\nbudget = 100\nmin = {{ meta = 50 }}\nmax = {{ meta = 10 }}\n"),
            &["`plan.min`", "meta=50"],
        ),
        // The margin is a share: 1e305 overflowed the profit and planned worse, silently.
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n[plan]\nbudget = 100\nobjective = \"profit\"\nmargin = 1e305\n"),
            &["`plan.margin`", "(0, 1]"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n[plan]\nbudget = 100\nobjective = \"profit\"\nmargin = 2\n"),
            &["`plan.margin`", "(0, 1]"],
        ),
        // An option the objective would not use is refused, not ignored; profit needs
        // its margin (1 was assumed silently); max_change past 1 is no bound.
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n[plan]\nbudget = 100\nobjective = \"profit\"\n"),
            &["`plan.margin`", "(missing)", "required with objective profit"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n[plan]\nbudget = 100\nmargin = 0.4\n"),
            &["`plan.margin`", "only with objective profit"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n[plan]\nbudget = 100\ntarget_roas = 2\n"),
            &["`plan.target_roas`", "only with objective target_roas"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n[plan]\nbudget = 100\nmax_change = 1e308\n"),
            &["`plan.max_change`", "1e308", "[0, 1]"],
        ),
        (
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n[plan]\nbudget = 100\nhold = [\"meta\", \"meta\"]\n"),
            &["`plan.hold`", "`meta` twice"],
        ),
    ];
    // A cluster that is not a Ballista scheduler's URL (the check needs the cluster
    // client: the `distributed` feature).
    #[cfg(feature = "distributed")]
    cases.push((
        "[pipeline]\nstart = \"2024-01-01\"\nend = \"2024-02-14\"\ncluster = \"http://scheduler:50050\"\n[[sources]]\nname = \"meta\"\ntype = \"meta\"\n".to_owned(),
        &["line 4", "`pipeline.cluster`", "scheme is `http`", "df://HOST:PORT"],
    ));
    // A time limit for cluster reads that is no positive number of seconds.
    #[cfg(feature = "distributed")]
    cases.push((
        "[pipeline]\nstart = \"2024-01-01\"\nend = \"2024-02-14\"\ncluster = \"df://scheduler:50050\"\ncluster_timeout = 0\n[[sources]]\nname = \"meta\"\ntype = \"meta\"\n".to_owned(),
        &["line 5", "`pipeline.cluster_timeout`", "more than 0"],
    ));
    for (text, wants) in &cases {
        let (output, stderr) = run_config(&fakes, text);
        assert!(!output.status.success(), "{text}");
        for want in *wants {
            assert!(
                stderr.contains(want),
                "want {want:?} in {stderr:?} for\n{text}"
            );
        }
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(!stderr.contains("EAAB-secret"), "{stderr}");
    }
    assert!(
        fakes.servers.requests().is_empty(),
        "a bad config made a request"
    );
}

/// The error of building the pipeline of config `text` (in `dir`) against `env`.
fn builder_error(text: &str, dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> String {
    parse_config(text, dir)
        .to_builder_with(env)
        .unwrap_err()
        .to_string()
}

/// Asserts that config `text` (in `dir`) builds a pipeline against `env`.
#[track_caller]
fn assert_builds(text: &str, dir: &Path, env: &dyn Fn(&str) -> Option<String>) {
    let pipeline = parse_config(text, dir)
        .to_builder_with(env)
        .unwrap()
        .build();
    assert!(pipeline.is_ok(), "{:?}", pipeline.err());
}

fn fake_env(fakes: &Fakes) -> impl Fn(&str) -> Option<String> + '_ {
    let c = fakes.servers.credentials().clone();
    move |k: &str| match k {
        "LIFTOS_META_ACCESS_TOKEN" => Some(c.meta_access_token.clone()),
        "LIFTOS_META_AD_ACCOUNT_IDS" => Some("act_1000000001".into()),
        "LIFTOS_META_BASE_URL" => Some(fakes.servers.meta_base_url()),
        "LIFTOS_TIKTOK_ACCESS_TOKEN" => Some(c.tiktok_access_token.clone()),
        "LIFTOS_TIKTOK_ADVERTISER_IDS" => Some("7000000000000000001".into()),
        "LIFTOS_TIKTOK_BASE_URL" => Some(fakes.servers.tiktok_base_url()),
        _ => None,
    }
}

#[test]
fn a_second_platform_source_uses_its_type_mapping_and_a_file_needs_one() {
    let (_, fakes) = world_and_fakes();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}[[sources]]\nname = \"meta_eu\"\ntype = \"meta\"\n[[sources]]\nname = \"tt\"\ntype = \"tiktok\"\n"
    );
    assert_builds(&text, dir.path(), &fake_env(&fakes));

    let text = format!("{HEAD}[[sources]]\nname = \"tiktok\"\ntype = \"file\"\npath = \"t.csv\"\n");
    std::fs::write(dir.path().join("t.csv"), "date\n").unwrap();
    let e = builder_error(&text, dir.path(), &fake_env(&fakes));
    assert!(
        e.contains("line 5") && e.contains("[mapping.sources.tiktok]") && e.contains("unified"),
        "{e}"
    );

    // A declarative REST source: its spec file, relative to the config file; named like
    // a connector preset it maps with it, otherwise it needs a mapping like a file.
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rest/tiktok.toml");
    std::fs::copy(spec, dir.path().join("tiktok.toml")).unwrap();
    let text = format!(
        "{HEAD}[[sources]]\nname = \"tiktok\"\ntype = \"rest\"\nspec = \"tiktok.toml\"\nmax_retries = 3\n"
    );
    assert_builds(&text, dir.path(), &fake_env(&fakes));
    let text = text.replace("name = \"tiktok\"", "name = \"tt_api\"");
    let e = builder_error(&text, dir.path(), &fake_env(&fakes));
    assert!(e.contains("rest source `tt_api` has no mapping"), "{e}");
    let text = text.replace("spec = \"tiktok.toml\"", "spec = \"missing.toml\"");
    let e = builder_error(&text, dir.path(), &fake_env(&fakes));
    assert!(
        e.contains("sources[0].spec") && e.contains("missing.toml"),
        "{e}"
    );

    // GA4 reports sessions and revenue by channel group, no spend: it needs a mapping.
    let ga4 = |extra: &str| {
        format!(
            "{HEAD}[[sources]]\nname = \"ga4\"\ntype = \"ga4\"\nproperty_id = \"123456789\"\nclient_id = \"id\"\nclient_secret_env = \"GA4_SECRET\"\nrefresh_token_env = \"GA4_REFRESH\"\n{extra}"
        )
    };
    let env = |k: &str| match k {
        "GA4_SECRET" | "GA4_REFRESH" => Some("x".to_owned()),
        other => fake_env(&fakes)(other),
    };
    let e = builder_error(&ga4(""), dir.path(), &env);
    assert!(e.contains("ga4 source `ga4` has no mapping"), "{e}");
    let mapping = "[mapping.sources.ga4]\nchannel = \"ga4\"\n[mapping.sources.ga4.columns]\ndate = \"date\"\ncampaign = \"sessionDefaultChannelGroup\"\ncampaign_id = \"sessionDefaultChannelGroup\"\ncurrency = \"currency\"\nspend = { value = \"0\" }\nimpressions = \"sessions\"\nclicks = \"sessions\"\nconversions = \"keyEvents\"\nrevenue = \"totalRevenue\"\n";
    assert_builds(&ga4(mapping), dir.path(), &env);
    let text = ga4("").replace(
        "client_secret_env = \"GA4_SECRET\"",
        "client_secret = \"in-the-file-QWE\"",
    );
    let e = builder_error(&text, dir.path(), &env);
    assert!(
        e.contains("LIFTOS_GA4_CLIENT_SECRET") && !e.contains("QWE"),
        "{e}"
    );
    assert!(fakes.servers.requests().is_empty());
}

#[test]
fn secrets_in_a_config_never_reach_debug_or_errors() {
    let (_, fakes) = world_and_fakes();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\naccess_token = \"EAAB-secret-1\"\n"
    );
    let config = parse_config(&text, dir.path());
    let debug = format!("{config:?}");
    assert!(!debug.contains("EAAB-secret-1"), "{debug}");
    assert!(debug.contains("access_token"), "{debug}");
    // A token pasted where a variable's name belongs is not echoed.
    let text = format!(
        "{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\naccess_token_env = \"EAAB-secret-2|x\"\n"
    );
    let e = builder_error(&text, dir.path(), &fake_env(&fakes));
    assert!(!e.contains("EAAB-secret-2"), "{e}");
    assert!(
        e.contains("line 8") && e.contains("name of an environment variable"),
        "{e}"
    );
}

#[test]
fn http_limits_come_from_the_http_table_and_each_source() {
    let (_, fakes) = world_and_fakes();
    let dir = tempfile::tempdir().unwrap();
    let connector_debug = |text: &str| {
        let config = parse_config(text, dir.path());
        config
            .connector(
                0,
                &fake_env(&fakes),
                liftos::connectors::Progress::default(),
            )
            .map(|c| format!("{c:?}"))
    };
    // [http] applies to every platform source; a source's own key wins.
    let text = format!(
        "{HEAD}[http]\ntimeout_secs = 90\nmax_body_mib = 2\n\n[[sources]]\nname = \"meta\"\ntype = \"meta\"\ntimeout_secs = 1.5\nmax_pages = 7\n"
    );
    let debug = connector_debug(&text).unwrap();
    assert!(
        debug.contains("deadline: 1.5s")
            && debug.contains("max_pages: 7")
            && debug.contains("max_body_bytes: 2097152"),
        "{debug}"
    );
    let text = format!(
        "{HEAD}[http]\nrequest_timeout_secs = 30\n\n[[sources]]\nname = \"meta\"\ntype = \"meta\"\n"
    );
    let debug = connector_debug(&text).unwrap();
    assert!(
        debug.contains("request_timeout: 30s") && debug.contains("deadline: 3600s"),
        "{debug}"
    );
    // Bad values name the source and the line.
    let text = format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\ntimeout_secs = -3\n");
    let e = connector_debug(&text).unwrap_err().to_string();
    assert!(e.contains("timeout_secs") && e.contains("line 5"), "{e}");
    let text = format!(
        "{HEAD}[http]\nmax_body_mib = \"big\"\n\n[[sources]]\nname = \"meta\"\ntype = \"meta\"\n"
    );
    let e = liftos::config::PipelineConfig::from_toml_str(&text, "liftos.toml", dir.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 6"), "{e}");
    assert!(fakes.servers.requests().is_empty());
}

/// The example config's commented-out `[header]` block, uncommented (it must contain
/// `must_contain`), after a meta source, parsed with `dir` as the config's directory.
fn parse_example_block(
    header: &str,
    must_contain: &str,
    dir: &std::path::Path,
) -> liftos::config::PipelineConfig {
    let text = std::fs::read_to_string(example_config()).unwrap();
    let start = format!("# [{header}]");
    let block: String = text
        .lines()
        .skip_while(|l| !l.starts_with(&start))
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
        .collect();
    assert!(block.contains(must_contain), "{block}");
    let config = format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n\n{block}");
    parse_config(&config, dir)
}

/// The example's `[plan]` block, uncommented, parses into the pipeline's plan stage.
#[test]
fn the_example_plan_block_parses() {
    let dir = tempfile::tempdir().unwrap();
    let parsed = parse_example_block("plan", "budget = 250000", dir.path());
    let plan = parsed.plan.as_ref().expect("a [plan] section");
    assert_eq!(plan.budget, 250_000.0);
    assert_eq!(plan.period_days, Some(90));
    assert_eq!(plan.min.get("klaviyo"), Some(&2000.0));
    assert_eq!(plan.hold, ["google_ads"]);
    let (_, fakes) = world_and_fakes();
    assert!(parsed.to_builder_with(&fake_env(&fakes)).is_ok());
}

#[test]
fn every_connector_setting_comes_from_its_key_table_in_the_file_or_its_variable() {
    let (_, fakes) = world_and_fakes();
    let dir = tempfile::tempdir().unwrap();
    let c = fakes.servers.credentials().clone();
    let env = |extra: &'static [(&'static str, &'static str)]| {
        let c = c.clone();
        let klaviyo = fakes.servers.klaviyo_base_url();
        move |k: &str| match k {
            "LIFTOS_KLAVIYO_API_KEY" => Some(c.klaviyo_api_key.clone()),
            "LIFTOS_KLAVIYO_BASE_URL" => Some(klaviyo.clone()),
            _ => extra
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned()),
        }
    };
    let build = |text: &str, lookup: &dyn Fn(&str) -> Option<String>| {
        parse_config(text, dir.path())
            .to_builder_with(lookup)
            .and_then(|b| b.build().map(|_| ()))
            .map_err(|e| e.to_string())
    };
    let klaviyo = |setting: &str| {
        format!("{HEAD}[[sources]]\nname = \"klaviyo\"\ntype = \"klaviyo\"\n{setting}\n")
    };
    // `report_interval_secs` was settable by variable only; now the file takes it too.
    assert_eq!(
        build(&klaviyo("report_interval_secs = 0.05"), &env(&[])),
        Ok(())
    );
    let e = build(&klaviyo("report_interval_secs = -1"), &env(&[])).unwrap_err();
    assert!(
        e.contains("report_interval_secs") && e.contains("-1"),
        "{e}"
    );
    // A variable filling a setting the file leaves out is read as the table says, and a
    // bad one is named.
    assert_eq!(
        build(
            &klaviyo(""),
            &env(&[("LIFTOS_KLAVIYO_INCLUDE_FLOWS", "yes")])
        ),
        Ok(())
    );
    let e = build(
        &klaviyo(""),
        &env(&[("LIFTOS_KLAVIYO_INCLUDE_FLOWS", "maybe")]),
    )
    .unwrap_err();
    assert!(
        e.contains("`sources[0].include_flows`")
            && e.contains("LIFTOS_KLAVIYO_INCLUDE_FLOWS=`maybe` is not a boolean"),
        "{e}"
    );
    // A required setting set nowhere names the key, its line and its variable.
    let meta = format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n");
    let only_token =
        |k: &str| (k == "LIFTOS_META_ACCESS_TOKEN").then(|| c.meta_access_token.clone());
    let e = build(&meta, &only_token).unwrap_err();
    assert!(
        e.contains("`sources[0].ad_account_ids`")
            && e.contains("line 5")
            && e.contains("LIFTOS_META_AD_ACCOUNT_IDS"),
        "{e}"
    );
    assert!(fakes.servers.requests().is_empty());
}

/// The example's `[business_outcome]` block, uncommented, parses and builds a pipeline.
#[test]
fn the_example_business_outcome_block_parses() {
    let dir = tempfile::tempdir().unwrap();
    let parsed = parse_example_block("business_outcome", "path = ", dir.path());
    let b = parsed
        .business_outcome
        .as_ref()
        .expect("a [business_outcome] section");
    assert_eq!(
        b.path.as_deref(),
        Some(Path::new("exports/shop_daily_revenue.csv"))
    );
    assert_eq!(
        b.lift_tests.as_deref(),
        Some(Path::new("experiments/lift_tests.csv"))
    );
    let (_, fakes) = world_and_fakes();
    assert!(
        parsed
            .to_builder_with(&fake_env(&fakes))
            .unwrap()
            .build()
            .is_ok()
    );
    // Lift tests without a business outcome are refused by the builder.
    let e = liftos::pipeline::Pipeline::builder()
        .lift_tests("tests.csv")
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("sources") || e.contains("lift_tests"), "{e}");
}

#[test]
fn a_business_outcome_pulled_from_shopify_feeds_the_business_level_analysis() {
    // 70 days: the business-level analysis needs at least 8 weeks.
    let world = world_over(70);
    let fakes = start_fakes(world.clone(), FaultConfig::none());
    let s = &fakes.servers;
    let dir = tempfile::tempdir().unwrap();
    let (start, end) = first_and_last_day(&world);
    // A season of the business's own inside the window (the pipeline's [calendar]
    // reaches the business-level baseline).
    let first = world.config().start;
    let launch = (first + chrono::Days::new(20), first + chrono::Days::new(30));
    assert_eq!(launch.0.year(), launch.1.year());
    let config = dir.path().join("liftos.toml");
    std::fs::write(
        &config,
        format!(
            "[pipeline]\nstart = \"{start}\"\nend = \"{end}\"\n\n\
             [[sources]]\nname = \"meta\"\ntype = \"meta\"\n\n\
             [[sources]]\nname = \"google_ads\"\ntype = \"google_ads\"\n\n\
             [business_outcome]\nsource = \"shopify\"\nallow_negative_effects = true\n\n\
             [analysis]\ntrees = 20\ncredit_spillover = false\nwithin_channel = false\n\n\
             [calendar]\ncountry = \"US\"\n\n\
             [[calendar.business.peak_seasons]]\nname = \"launch\"\n\
             start = {{ date = {{ kind = \"fixed\", month = {}, day = {} }} }}\n\
             end = {{ date = {{ kind = \"fixed\", month = {}, day = {} }} }}\n\n\
             [output]\ndir = \"out\"\nformat = \"csv\"\nreport = false\n",
            launch.0.month(),
            launch.0.day(),
            launch.1.month(),
            launch.1.day(),
        ),
    )
    .unwrap();
    let output = with_shopify_credentials(&mut run_command(&fakes, &config), s)
        .output()
        .unwrap();
    assert_success(&output);
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out").join("business_results.json")).unwrap(),
    )
    .unwrap();
    assert!(
        results["channels"].as_array().is_some_and(|c| c.len() == 2),
        "{results}"
    );
    let days = results["settings"]["baseline_days"].as_str().unwrap();
    assert!(days.contains("peak_season:launch"), "{days}");
    assert!(!days.contains("peak_season:holiday_season"), "{days}");
    // `allow_negative_effects = true` reaches both analyses: their fits are reported
    // unconstrained.
    assert_eq!(results["settings"]["non_negative"], "false", "{results}");
    let campaign_level = read_json(dir.path().join("out").join("results.json"));
    assert_eq!(
        campaign_level["settings"]["non_negative"], "false",
        "{:#}",
        campaign_level["settings"]
    );
    // `credit_spillover = false` and `within_channel = false` reach the campaign-level
    // analysis.
    for key in ["credit_spillover", "within_channel"] {
        assert_eq!(
            campaign_level["settings"][key], "false",
            "{:#}",
            campaign_level["settings"]
        );
    }
    // The orders were pulled from the fake shop (one bulk operation for 70 days).
    let log = s.requests_to("shopify_storage");
    assert!(!log.is_empty() && log.iter().all(|r| r.fault != Some("credential_sent")));
    // Only `path` or `source`, and only sources that give a business outcome.
    for (section, want) in [
        ("source = \"meta\"", "not a source of the business outcome"),
        (
            "path = \"b.csv\"\nsource = \"shopify\"",
            "set either `path`",
        ),
    ] {
        let text = format!(
            "{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n\n[business_outcome]\n{section}\n"
        );
        let err = parse_config(&text, dir.path())
            .to_builder_with(&fake_env(&fakes))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
    }
}

#[test]
fn secrets_in_the_config_file_are_never_echoed_nor_written() {
    let (_, fakes) = world_and_fakes();
    let dir = tempfile::tempdir().unwrap();
    let token = "EAAGm0PX4ZCpsBAKZAZBsecretTokenValue123";
    // A token pasted where a variable's name belongs, and that variable not set.
    let text = format!(
        "{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\naccess_token_env = \"{token}\"\n"
    );
    let e = builder_error(&text, dir.path(), &fake_env(&fakes));
    assert!(!e.contains(token), "{e}");
    assert_contains_all(
        &e,
        &["line 8", "`sources[0].access_token_env`", "is not set"],
    );
    // A wrong type of a setting: its value is not echoed.
    let text = format!(
        "{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\nad_account_ids = \"{token}\"\n"
    );
    let e = builder_error(&text, dir.path(), &fake_env(&fakes));
    assert!(!e.contains(token), "{e}");
    assert_contains_all(
        &e,
        &["sources[0] (meta)", "invalid type", "expected a sequence"],
    );
    let text = format!(
        "[pipeline]\nstart = \"2024-01-01\"\nend = \"2024-02-14\"\ncontinue_on_source_error = \"{token}\"\n"
    );
    let e = liftos::config::PipelineConfig::from_toml_str(&text, "liftos.toml", dir.path())
        .unwrap_err()
        .to_string();
    assert!(!e.contains(token), "{e}");
    assert_contains_all(
        &e,
        &[
            "line 4",
            "`pipeline.continue_on_source_error`",
            "expected a boolean",
        ],
    );
    // A password in a base URL is refused without echoing it.
    let text = format!(
        "{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\nbase_url = \"http://admin:HUNTER2pw@127.0.0.1:9\"\n"
    );
    let e = builder_error(&text, dir.path(), &fake_env(&fakes));
    assert!(!e.contains("HUNTER2pw"), "{e}");
    assert_contains_all(&e, &["line 8", "`sources[0].base_url`", "credentials"]);
    // What `watch` records of a config: no comment, no secret.
    let text = format!(
        "# token for later: {token}\n{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n\
         access_token_env = \"{token}\"\nad_account_ids = [\"act_1\"]\n"
    );
    let saved = parse_config(&text, dir.path()).redacted_settings();
    assert!(!saved.contains(token), "{saved}");
    assert_contains_all(
        &saved,
        &[
            "act_1",
            "access_token_env = \"(redacted)\"",
            "start = \"2024-01-01\"",
        ],
    );
}

#[test]
fn sync_lookback_days_name_known_sources_and_at_least_one_day() {
    let dir = tempfile::tempdir().unwrap();
    let parse = |sync: &str| {
        let text =
            format!("{HEAD}[[sources]]\nname = \"meta\"\ntype = \"meta\"\n\n[sync]\n{sync}\n");
        liftos::config::PipelineConfig::from_toml_str(&text, "liftos.toml", dir.path())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let e = parse("lookback_days = { googel_ads = 3 }").unwrap_err();
    assert_contains_all(
        &e,
        &["line 10", "`sync.lookback_days.googel_ads`", "google_ads"],
    );
    let e = parse("lookback_days = { google_ads = 0 }").unwrap_err();
    assert_contains_all(
        &e,
        &["line 10", "`sync.lookback_days.google_ads`", "at least 1"],
    );
    parse("lookback_days = { meta = 3, klaviyo = 7 }").unwrap();
}
