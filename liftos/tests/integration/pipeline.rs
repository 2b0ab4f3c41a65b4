//! `Pipeline` end to end against the sandbox fakes: faults change nothing, a failing
//! source is reported or fails the run, and every setting is checked before any request.

use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use liftos::causal::{AttributionModel, AttributionOptions, CausalForestParams};
use liftos::connectors::{KlaviyoBuilder, MetaAdsBuilder, Progress, RetryConfig};
use liftos::pipeline::{Outputs, Pipeline, PipelineBuilder, PipelineRun};
use liftos::sandbox::World;
use liftos::sandbox::fake::FaultConfig;
use liftos::transform::FileFormat;
use liftos::transform::SchemaMapping;

use crate::common::*;

/// Fast retries: the fakes answer at once, so the tests need not wait seconds.
fn retry() -> RetryConfig {
    RetryConfig {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        ..RetryConfig::default()
    }
}

/// A pipeline over the three fakes of `fakes` (forest of 200 trees, seed 5).
fn pipeline_for(fakes: &Fakes, world: &World, klaviyo_key: Option<&str>) -> PipelineBuilder {
    pipeline_over(fakes, fakes, world, klaviyo_key)
}

/// Meta from `meta_fakes`, Google Ads and Klaviyo from `fakes`.
fn pipeline_over(
    meta_fakes: &Fakes,
    fakes: &Fakes,
    world: &World,
    klaviyo_key: Option<&str>,
) -> PipelineBuilder {
    let s = &fakes.servers;
    let c = s.credentials().clone();
    let meta = MetaAdsBuilder::new()
        .with_access_token(c.meta_access_token.clone())
        .with_ad_account_ids(["act_1000000001", "1000000002"])
        .with_base_url(meta_fakes.servers.meta_base_url())
        .with_async_polling(Duration::from_millis(5), Duration::from_secs(30))
        .with_retry(retry())
        .build()
        .unwrap();
    let google = fake_google_ads(s).with_retry(retry()).build().unwrap();
    let progress = Progress::default();
    let klaviyo = KlaviyoBuilder::new()
        .with_api_key(klaviyo_key.unwrap_or(&c.klaviyo_api_key).to_owned())
        .with_base_url(s.klaviyo_base_url())
        .with_cost_per_recipient(0.01)
        .with_report_interval(Duration::from_millis(5))
        .with_retry(retry())
        .with_progress(progress.clone())
        .build()
        .unwrap();
    let model = AttributionModel::CausalForest(CausalForestParams::default().with_num_trees(200));
    Pipeline::builder()
        .source("meta", meta)
        .source("google_ads", google)
        .source_with_progress("klaviyo", klaviyo, progress)
        .date_range(world.config().start, world.config().end())
        .attribution(AttributionOptions::default().with_model(model).with_seed(5))
        .progress(false)
}

fn run(fakes: &Fakes, pipeline: &Pipeline) -> liftos::Result<PipelineRun> {
    fakes.runtime.block_on(pipeline.run())
}

/// Runs a pipeline without fakes (its sources are files) on a runtime of its own.
fn run_here(pipeline: &Pipeline) -> PipelineRun {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(pipeline.run()).unwrap()
}

/// Rows as sorted text lines, decimals to the cent (order-free comparison).
fn sorted_rows(table: &RecordBatch) -> Vec<String> {
    let text = liftos::transform::pretty_format(std::slice::from_ref(table)).unwrap();
    let mut rows: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.split('|')
                .map(|cell| {
                    let cell = cell.trim();
                    // Money to the cent (Klaviyo spend is recipients × 0.01).
                    match cell.parse::<f64>() {
                        Ok(v) if cell.contains('.') => format!("{v:.2}"),
                        _ => cell.to_owned(),
                    }
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn the_pipeline_gives_the_same_results_with_faults_as_without() {
    let world = world();
    let clean = start_fakes(world.clone(), FaultConfig::none());
    // Google Ads and Klaviyo: throttling (their waits are 1 s) and 5xx answers, small
    // pages so there are many requests. Meta asks for minutes when it throttles, so it
    // gets 5xx answers and connections dropped mid-body.
    let mut faults = FaultConfig::none()
        .with_seed(1)
        .with_throttle_rate(0.3)
        .with_server_error_rate(0.3)
        .with_throttle_wait_secs(1)
        .with_google_batch_size(20);
    faults.klaviyo_page_size = 3;
    let faulty = start_fakes(world.clone(), faults);
    let mut meta_faults = FaultConfig::none()
        .with_seed(1)
        .with_server_error_rate(0.3)
        .with_drop_rate(0.05);
    meta_faults.meta_page_limit_max = 10;
    let meta_faulty = start_fakes(world.clone(), meta_faults);
    let a = run(&clean, &pipeline_for(&clean, &world, None).build().unwrap()).unwrap();
    let b = run(
        &faulty,
        &pipeline_over(&meta_faulty, &faulty, &world, None)
            .build()
            .unwrap(),
    )
    .unwrap();

    // The unified table is the world's: every row once.
    assert_eq!(a.unified.table.num_rows(), world.num_rows());
    assert_eq!(a.unified.quarantine.num_rows(), 0);
    let rows = sorted_rows(&a.unified.table);
    assert!(
        rows == sorted_rows(&b.unified.table),
        "faults changed the rows"
    );
    let want = sorted_rows(&world.unified_table().unwrap());
    let diff: Vec<_> = rows
        .iter()
        .zip(&want)
        .filter(|(a, b)| a != b)
        .take(2)
        .collect();
    assert!(
        diff.is_empty(),
        "the unified table is not the world's: {diff:?}"
    );
    // The faults happened, and were absorbed by retries.
    for (server, fakes) in [
        ("meta", &meta_faulty),
        ("google_ads", &faulty),
        ("klaviyo", &faulty),
    ] {
        let faulted = fakes
            .servers
            .requests_to(server)
            .iter()
            .filter(|r| r.fault.is_some())
            .count();
        assert!(faulted > 0, "{server}: no fault was injected");
    }
    assert!(b.sources[2].retries > Some(0), "{:?}", b.sources[2].retries);
    assert_eq!(a.sources[2].retries, Some(0));
    // Same data, same seed: the same estimates, to the last digit.
    let (ea, eb) = (a.attribution.primary(), b.attribution.primary());
    assert_eq!(ea.channels.len(), 3);
    for (x, y) in ea.channels.iter().zip(&eb.channels) {
        assert_eq!(x.channel, y.channel);
        assert_eq!(x.revenue_lift, y.revenue_lift, "{}", x.channel);
        assert_eq!(x.ci_lower, y.ci_lower, "{}", x.channel);
        assert_eq!(x.incremental_roas, y.incremental_roas, "{}", x.channel);
    }
    // Every stage is timed, in order.
    let stages: Vec<&str> = a.timings.iter().map(|t| t.stage).collect();
    assert_eq!(
        stages,
        [
            "pull", "unify", "validate", "clean", "calendar", "enrich", "analyze"
        ]
    );
    // The row accounting of the cleaning balances and the calendar covers the range.
    assert!(a.cleaned.accounting().balances());
    assert_eq!(a.calendar.num_rows(), world.config().days as usize);
    assert_eq!(a.enriched.num_rows(), a.cleaned.table.num_rows());
    assert!(a.enriched.column_by_name("is_holiday").is_some());
    assert!(a.enriched.column_by_name("media_cost_index").is_some());
}

#[test]
fn a_failing_source_fails_the_run_or_is_reported_and_skipped() {
    let (world, fakes) = world_and_fakes();
    let err = run(
        &fakes,
        &pipeline_for(&fakes, &world, Some("pk_wrong_key"))
            .build()
            .unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("source `klaviyo`:"), "{err}");
    assert!(!err.contains("pk_wrong_key"), "the key leaked: {err}");

    let run = run(
        &fakes,
        &pipeline_for(&fakes, &world, Some("pk_wrong_key"))
            .continue_on_source_error(true)
            .build()
            .unwrap(),
    )
    .unwrap();
    let k = &run.sources[2];
    assert_eq!(k.name, "klaviyo");
    assert!(k.table.is_none());
    assert!(k.error.as_deref().unwrap_or("").len() > 10, "{k:?}");
    assert!(run.summary().contains("klaviyo"), "{}", run.summary());
    assert!(run.summary().contains("FAILED"), "{}", run.summary());
    let (meta_rows, ..) = world_totals(&world, "meta");
    let (google_rows, ..) = world_totals(&world, "google_ads");
    assert_eq!(run.unified.table.num_rows(), meta_rows + google_rows);
    let mut channels: Vec<&str> = run
        .attribution
        .primary()
        .channels
        .iter()
        .map(|c| c.channel.as_str())
        .collect();
    channels.sort_unstable();
    assert_eq!(channels, ["google_ads", "meta"]);
}

#[test]
fn build_checks_every_setting_before_any_request() {
    let (world, fakes) = world_and_fakes();
    let msg = |b: PipelineBuilder| b.build().unwrap_err().to_string();

    let e = msg(Pipeline::builder());
    assert!(e.contains("`sources`") && e.contains("at least one"), "{e}");
    // A source named like a connector preset maps with it; any other needs a mapping.
    let e = msg(pipeline_for(&fakes, &world, None)
        .mapping(SchemaMapping::empty())
        .source(
            "snapchat",
            liftos::connectors::FileConnector::new("snapchat.csv").unwrap(),
        ));
    assert!(e.contains("`snapchat` has no mapping"), "{e}");
    let e = msg(pipeline_for(&fakes, &world, None)
        .attribution(AttributionOptions::default().with_confidence_level(1.5)));
    assert!(e.contains("confidence_level"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "a-file", "x");
    let e = msg(pipeline_for(&fakes, &world, None).output_dir(&file));
    assert!(e.contains("not a directory"), "{e}");
    let meta = MetaAdsBuilder::new()
        .with_access_token("t")
        .with_ad_account_ids(["1"])
        .build()
        .unwrap();
    let e = msg(Pipeline::builder().source("meta", meta));
    assert!(e.contains("date_range"), "{e}");
    assert!(
        fakes.servers.requests().is_empty(),
        "build() made a request"
    );
}

#[test]
fn outputs_hold_every_intermediate_and_the_manifest() {
    let (world, fakes) = world_and_fakes();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let pipeline = pipeline_for(&fakes, &world, None)
        .outputs(
            Outputs::new(&out)
                .with_format(FileFormat::Csv)
                .with_report(false),
        )
        .build()
        .unwrap();
    let run = run(&fakes, &pipeline).unwrap();
    for f in [
        "sources/meta.csv",
        "sources/google_ads.csv",
        "sources/klaviyo.csv",
        "unified.csv",
        "unified_quarantine.csv",
        "cleaned.csv",
        "quarantine.csv",
        "calendar.csv",
        "enriched.csv",
        "change_log.csv",
        "quality.json",
        "results.json",
        "run.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(!out.join("report").exists());
    let unified = liftos::transform::read_table(out.join("unified.csv")).unwrap();
    assert_eq!(unified.num_rows(), world.num_rows());
    let manifest = read_json(out.join("run.json"));
    let stages: Vec<&str> = manifest["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages.last(), Some(&"write"));
    assert_eq!(manifest["unified_rows"], world.num_rows());
    assert_eq!(manifest["sources"][0]["name"], "meta");
    assert_eq!(run.files.len(), manifest["files"].as_array().unwrap().len());
    let results = read_json(out.join("results.json"));
    assert_eq!(results["channels"].as_array().unwrap().len(), 3);
    assert!(leftovers(&out).is_empty());
}

/// `Pipeline::builder().plan(...)`: the planner runs as the last stage, plan.json is
/// written, and the report gains its section, chart and sheet.
#[test]
fn a_plan_stage_writes_plan_json_and_the_reports_plan_section() {
    let (world, fakes) = world_and_fakes();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let budget: f64 = world.truth().channels.iter().map(|c| c.spend).sum();
    let pipeline = pipeline_for(&fakes, &world, None)
        .plan(liftos::causal::PlanOptions::new(budget))
        .outputs(Outputs::new(&out).with_format(FileFormat::Csv))
        .build()
        .unwrap();
    let run = run(&fakes, &pipeline).unwrap();
    let plan = run.plan.as_ref().expect("a plan");
    assert!((plan.current_spend - budget).abs() < 1e-6 * budget);
    assert!(run.timings.iter().any(|t| t.stage == "plan"));
    let json = read_json(out.join("plan.json"));
    assert_eq!(json["channels"].as_array().unwrap().len(), 3);
    assert!((json["total_budget"].as_f64().unwrap() - budget).abs() < 1e-6);
    let html = std::fs::read_to_string(out.join("report/report.html")).unwrap();
    assert!(html.contains("<section id=\"plan\">"), "no plan section");
    assert!(html.contains("id=\"chart-budget_plan\""));
    assert!(out.join("report/charts/budget_plan.svg").is_file());
    assert!(leftovers(&out).is_empty());
}

/// The world's unified table written as the file `name` in `dir`, as an export a file
/// source reads.
fn unified_export(world: &World, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    liftos::io::write_table_atomically(&path, &world.unified_table().unwrap()).unwrap();
    path
}

#[test]
fn rows_outside_the_date_range_are_quarantined_not_lost() {
    use liftos::connectors::FileConnector;
    use liftos::transform::SourceMapping;
    let world = world();
    let dir = tempfile::tempdir().unwrap();
    // An export covering all 45 days, for a pipeline asking for days 6 to 45.
    let export = unified_export(&world, dir.path(), "export.csv");
    let start = world.config().start + chrono::Duration::days(5);
    let outside = world.rows().filter(|r| r.date < start).count();
    assert!(outside > 0);
    let model = AttributionModel::CausalForest(CausalForestParams::default().with_num_trees(100));
    let pipeline = Pipeline::builder()
        .source("export", FileConnector::new(&export).unwrap())
        .mapping(SchemaMapping::empty().with_source("export", SourceMapping::unified()))
        .date_range(start, world.config().end())
        .attribution(AttributionOptions::default().with_model(model))
        .progress(false)
        .build()
        .unwrap();
    let run = run_here(&pipeline);
    assert_eq!(run.sources[0].rows, world.num_rows());
    assert_eq!(run.unified.table.num_rows(), world.num_rows() - outside);
    assert_eq!(run.unified.quarantine.num_rows(), outside);
    let text = liftos::transform::pretty_format(&[run.unified.quarantine.slice(0, 1)]).unwrap();
    assert!(
        text.contains("pipeline:date_range") && text.contains("is outside the pipeline's range"),
        "{text}"
    );
    assert_eq!(run.enriched.num_rows(), run.cleaned.table.num_rows());
}

/// A file export whose dates are date-times: one written as the account's local time
/// (no offset) keeps its own date under the source's time zone, one written as a UTC
/// instant becomes New York's date (03:00 UTC is the evening before), as `liftos unify`
/// reads them; account and campaign ids written with leading zeros keep them. The file
/// connector once typed both date-time forms as zone-less timestamps (the local time
/// was then read as a UTC instant and moved back a day) and the ids as integers
/// (`001000000002` became `1000000002`).
#[test]
fn a_file_source_keeps_its_local_dates_and_its_ids_as_written() {
    use liftos::connectors::FileConnector;
    use liftos::transform::SourceMapping;
    let world = world();
    let dir = tempfile::tempdir().unwrap();
    let plain = unified_export(&world, dir.path(), "plain.csv");
    let text = std::fs::read_to_string(&plain).unwrap();
    let header = text.lines().next().unwrap().to_owned();
    let column = |name: &str| header.split(',').position(|c| c == name).unwrap();
    let (date, account) = (column("date"), column("account_id"));
    // The channels whose account ids are digits (Meta's and Google's): a column of
    // digits only is what a reader types as integers.
    let rows: Vec<&str> = text
        .lines()
        .skip(1)
        .filter(|r| {
            r.split(',')
                .nth(account)
                .unwrap()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .collect();
    assert!(rows.len() > world.num_rows() / 2, "{} rows", rows.len());
    let rewrite = |time: &str| {
        let mut out = format!("{header}\n");
        for row in &rows {
            let mut cells: Vec<String> = row.split(',').map(str::to_owned).collect();
            cells[date] = format!("{}{time}", cells[date]);
            cells[account] = format!("00{}", cells[account]);
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    };
    assert!(rows.iter().all(|r| !r.contains('"')), "plain cells only");
    let (local, utc) = (dir.path().join("local.csv"), dir.path().join("utc.csv"));
    std::fs::write(&local, rewrite(" 00:00:00")).unwrap();
    std::fs::write(&utc, rewrite("T03:00:00Z")).unwrap();
    let first = world.config().start;
    let unified_of = |path: &std::path::Path| {
        let ny = SourceMapping::unified().with_timezone("America/New_York");
        let pipeline = Pipeline::builder()
            .source("export", FileConnector::new(path).unwrap())
            .mapping(SchemaMapping::empty().with_source("export", ny))
            .date_range(first - chrono::Duration::days(1), world.config().end())
            .attribution(
                AttributionOptions::default().with_model(AttributionModel::CausalForest(
                    CausalForestParams::default().with_num_trees(50),
                )),
            )
            .progress(false)
            .build()
            .unwrap();
        run_here(&pipeline).unified.table
    };
    let dates = |t: &RecordBatch| -> std::collections::BTreeSet<chrono::NaiveDate> {
        let d = arrow::compute::cast(t.column_by_name("date").unwrap(), &DataType::Date32).unwrap();
        let d = arrow::compute::cast(&d, &DataType::Utf8).unwrap();
        d.as_string::<i32>()
            .iter()
            .map(|v| v.unwrap().parse().unwrap())
            .collect()
    };
    let local = unified_of(&local);
    assert_eq!(local.num_rows(), rows.len());
    assert_eq!(dates(&local).first(), Some(&first));
    assert_eq!(dates(&local).last(), Some(&world.config().end()));
    let utc = unified_of(&utc);
    assert_eq!(utc.num_rows(), rows.len());
    assert_eq!(
        dates(&utc).first(),
        Some(&(first - chrono::Duration::days(1)))
    );
    let ids =
        arrow::compute::cast(local.column_by_name("account_id").unwrap(), &DataType::Utf8).unwrap();
    let ids = ids.as_string::<i32>();
    assert!(
        (0..ids.len()).all(|i| ids.value(i).starts_with("00")),
        "{ids:?}"
    );
}

#[test]
fn source_names_must_be_portable_and_distinct() {
    let (world, fakes) = world_and_fakes();
    let meta = || {
        MetaAdsBuilder::new()
            .with_access_token("t")
            .with_ad_account_ids(["1"])
            .with_base_url(fakes.servers.meta_base_url())
            .build()
            .unwrap()
    };
    let range = (world.config().start, world.config().end());
    for (a, b, want) in [
        ("../meta", "x", "must be non-empty ASCII"),
        ("meta", "Meta", "ignoring case"),
        ("", "x", "must be non-empty ASCII"),
    ] {
        let e = Pipeline::builder()
            .source(a, meta())
            .source(b, meta())
            .date_range(range.0, range.1)
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{a}, {b}: {e}");
    }
}

/// `PipelineBuilder::postgres_output`: every table of the run lands in PostgreSQL in one
/// transaction; the unified table comes back exactly.
#[test]
fn a_postgres_output_holds_the_runs_tables_and_the_unified_table_exactly() {
    use liftos::connectors::{Connector, ConnectorRequest, PostgresBuilder};
    let Some(url) = liftos_testkit::postgres_url() else {
        return;
    };
    let (bare, password) = crate::postgres::split_password(&url);
    let (world, fakes) = world_and_fakes();
    let sink = PostgresBuilder::new()
        .with_url(bare.as_str())
        .with_password(password.into())
        .with_table_prefix("run_")
        .build_sink()
        .unwrap();
    let pipeline = pipeline_for(&fakes, &world, None)
        .postgres_output(sink)
        .build()
        .unwrap();
    let run = run(&fakes, &pipeline).unwrap();
    assert_eq!(
        run.postgres_tables,
        [
            "\"run_source_meta\"",
            "\"run_source_google_ads\"",
            "\"run_source_klaviyo\"",
            "\"run_unified\"",
            "\"run_unified_quarantine\"",
            "\"run_cleaned\"",
            "\"run_quarantine\"",
            "\"run_calendar\"",
            "\"run_enriched\"",
        ]
    );
    assert_eq!(run.timings.last().map(|t| t.stage), Some("postgres"));
    let request =
        ConnectorRequest::new("2000-01-01".parse().unwrap(), "2000-01-01".parse().unwrap())
            .unwrap();
    let read = |query: &str| {
        let source = PostgresBuilder::new()
            .with_url(url.as_str())
            .with_query(query)
            .build()
            .unwrap();
        fakes
            .runtime
            .block_on(source.get_campaign_data(&request))
            .unwrap()
    };
    let unified = read("SELECT * FROM run_unified");
    assert_eq!(unified, run.unified.table);
    let enriched = read("SELECT count(*) AS n FROM run_enriched");
    assert_eq!(sum(&enriched, "n") as usize, run.enriched.num_rows());
}
