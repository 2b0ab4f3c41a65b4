//! `liftos demo`: the whole pipeline on a realistic sandbox world, over HTTP, next to the
//! truth.
//!
//! The demo generates the sandbox's `realistic` preset for its seed
//! ([`Preset::Realistic`]: Hill saturation and geometric carryover per channel, budgets
//! in autocorrelated steps, autocorrelated revenue noise, 4–6 unbalanced campaigns per
//! channel, and a zero-effect `tiktok` channel that no platform API serves), starts the
//! fake Meta, Google Ads and Klaviyo APIs on loopback, writes the TikTok rows as a CSV
//! export, and runs the [`Pipeline`]: the real connectors pull the three platforms over
//! HTTP and the file connector reads the export, concurrently; then unify, quality
//! report, cleaning, the US calendar with marketing features, and the causal forest
//! attribution with its defaults (carryover and saturation searched per channel). It
//! writes every table, the results, the report, charts and workbook, and the world's
//! truth, and prints each channel's estimated switch-off and marginal returns with their
//! intervals next to both true values and the naive ROAS, then the time and peak memory
//! of each stage.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::io::{write_json_atomically, write_table_atomically};
use crate::pipeline::{Pipeline, PipelineRun};
use crate::{Error, Result};
use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use liftos_causal::plan::{BudgetPlan, PlanOptions};
use liftos_causal::{AttributionModel, AttributionOptions, AttributionResults, CausalForestParams};
use liftos_connectors::{
    FileConnector, GoogleAdsBuilder, KlaviyoBuilder, MetaAdsBuilder, Progress,
};
use liftos_sandbox::fake::{FakeServers, FaultConfig};
use liftos_sandbox::{Platform, Preset, Saturation, World, WorldConfig};
use liftos_transform::{SchemaMapping, SourceMapping};

/// What the demo wrote.
#[derive(Debug, Clone)]
pub struct DemoOutput {
    /// The pipeline's output directory (tables, results.json, run.json, report/).
    pub pipeline_dir: PathBuf,
    /// The TikTok export the file connector read.
    pub export_csv: PathBuf,
    /// The world's own unified table, as CSV (what a perfect pull gives).
    pub unified_csv: PathBuf,
    /// The per-row truth, as CSV.
    pub truth_csv: PathBuf,
    /// The per-channel truth and temporal profile, as JSON.
    pub truth_json: PathBuf,
    /// The HTML report, charts and workbook.
    pub report_dir: PathBuf,
    /// The attribution results, as JSON (DESIGN.md).
    pub results_json: PathBuf,
    /// The attribution results.
    pub results: AttributionResults,
    /// Every intermediate of the pipeline run.
    pub run: Box<PipelineRun>,
    /// The budget plan of the world's total spend (the pipeline's `plan` stage) checked
    /// in the world itself.
    pub plan_check: PlanCheck,
    /// The summary table printed to the terminal.
    pub summary: String,
}

/// The demo's budget plan re-simulated in its world: true incremental revenue of the
/// plan, of today's split, and of the world's own best split for the same budget and
/// bounds (each channel within ±50% of what it spent, found by optimising over the world).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanCheck {
    /// The plan's true incremental revenue.
    pub planned: f64,
    /// Today's split's true incremental revenue.
    pub current: f64,
    /// The world's best split's true incremental revenue.
    pub optimum: f64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Options of the demo.
///
/// | Name | Default | Meaning |
/// |---|---|---|
/// | `seed` | 42 | seed of the world and of the estimator |
/// | `trees` | 2000 | trees of the causal forest |
/// | `faults` | none | faults the fake APIs inject (throttling, 5xx, dropped connections, ...) |
/// | `progress` | off | plain progress lines on stderr |
/// | `progress_view` | none | where the run's progress lines go ([`ProgressView`](crate::progress::ProgressView)) |
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seed of the world and of the estimator.
    pub seed: u64,
    /// Trees of the causal forest.
    pub trees: usize,
    /// Faults of the fake APIs.
    pub faults: FaultConfig,
    /// Plain progress lines on stderr (`None`: off).
    pub progress: Option<bool>,
    /// Where the run's progress lines go (the `liftos` binary's live terminal lines).
    pub progress_view: Option<std::sync::Arc<dyn crate::progress::ProgressView>>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            seed: 42,
            trees: 2000,
            faults: FaultConfig::none(),
            progress: None,
            progress_view: None,
        }
    }
}

/// The demo's world configuration: the sandbox's realistic preset for `seed` (saturation
/// and carryover on, a zero-effect `tiktok` channel).
pub fn world_config(seed: u64) -> WorldConfig {
    WorldConfig::preset(Preset::Realistic, seed)
}

/// The demo's world: [`world_config`] generated.
///
/// # Errors
///
/// The sandbox's errors (none for valid seeds).
pub fn world(seed: u64) -> Result<World> {
    Ok(World::generate(&world_config(seed))?)
}

/// Runs the demo with `seed` into `out`.
///
/// # Errors
///
/// Any stage's error, or a file that cannot be written.
pub fn run(out: &Path, seed: u64) -> Result<DemoOutput> {
    run_with(
        out,
        &DemoOptions {
            seed,
            ..DemoOptions::default()
        },
    )
}

/// Account ids of the world's campaigns on `platform`.
fn accounts(world: &World, platform: Platform) -> Vec<String> {
    let ids: BTreeSet<String> = world
        .config()
        .channels
        .iter()
        .filter(|c| c.platform == Some(platform))
        .flat_map(|c| c.campaigns.iter().map(|k| k.account_id.clone()))
        .collect();
    ids.into_iter().collect()
}

/// The rows of the world's channels that no platform API serves (the export files).
fn unserved_rows(world: &World) -> Result<Vec<(String, RecordBatch)>> {
    let table = world.unified_table()?;
    let mut out = Vec::new();
    for c in world
        .config()
        .channels
        .iter()
        .filter(|c| c.platform.is_none())
    {
        let Some(channel) = table.column_by_name("channel") else {
            continue;
        };
        let keep: BooleanArray = channel
            .as_string::<i32>()
            .iter()
            .map(|v| Some(v == Some(c.name.as_str())))
            .collect();
        out.push((c.name.clone(), filter_record_batch(&table, &keep)?));
    }
    Ok(out)
}

/// [`run`] with options.
///
/// # Errors
///
/// As [`run`].
pub fn run_with(out: &Path, options: &DemoOptions) -> Result<DemoOutput> {
    let seed = options.seed;
    let world = world(seed)?;
    fs::create_dir_all(out).map_err(io_err(out))?;
    let unified_csv = out.join("world_unified.csv");
    let truth_csv = out.join("truth_rows.csv");
    let truth_json = out.join("truth.json");
    write_table_atomically(&unified_csv, &world.unified_table()?)?;
    write_table_atomically(&truth_csv, &world.truth_table()?)?;
    write_json_atomically(&truth_json, world.truth())?;
    let exports = out.join("exports");
    fs::create_dir_all(&exports).map_err(io_err(&exports))?;
    let mut export_csv = exports.join("tiktok.csv");
    let mut files = Vec::new();
    for (channel, rows) in unserved_rows(&world)? {
        let path = exports.join(format!("{channel}.csv"));
        write_table_atomically(&path, &rows)?;
        if channel == "tiktok" {
            export_csv = path.clone();
        }
        files.push((channel, path));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io_err(Path::new("tokio runtime")))?;
    let servers = runtime
        .block_on(FakeServers::start(world.clone(), options.faults.clone()))
        .map_err(io_err(Path::new("fake API servers")))?;
    let c = servers.credentials().clone();
    let (meta_p, google_p, klaviyo_p) = (
        Progress::default(),
        Progress::default(),
        Progress::default(),
    );
    // Loopback fakes answer at once: poll async Meta reports and space Klaviyo report
    // calls in milliseconds instead of the real APIs' seconds.
    let meta = MetaAdsBuilder::new()
        .with_access_token(c.meta_access_token.clone())
        .with_ad_account_ids(accounts(&world, Platform::Meta))
        .with_base_url(servers.meta_base_url())
        .with_async_polling(Duration::from_millis(20), Duration::from_secs(120))
        .with_progress(meta_p.clone())
        .build()?;
    let google = GoogleAdsBuilder::new()
        .with_developer_token(c.google_developer_token.clone())
        .with_oauth(
            c.google_client_id.clone(),
            c.google_client_secret.clone(),
            c.google_refresh_token.clone(),
        )
        .with_customer_ids(accounts(&world, Platform::GoogleAds))
        .with_base_url(servers.google_base_url())
        .with_token_url(servers.google_token_url())
        .with_progress(google_p.clone())
        .build()?;
    let cost_per_recipient = world
        .config()
        .channels
        .iter()
        .find(|c| c.platform == Some(Platform::Klaviyo))
        .map_or(0.0, |c| c.cost_per_recipient);
    let klaviyo = KlaviyoBuilder::new()
        .with_api_key(c.klaviyo_api_key.clone())
        .with_base_url(servers.klaviyo_base_url())
        .with_cost_per_recipient(cost_per_recipient)
        .with_report_interval(Duration::from_millis(20))
        .with_progress(klaviyo_p.clone())
        .build()?;
    let mut mapping = SchemaMapping::default();
    let model =
        AttributionModel::CausalForest(CausalForestParams::default().with_num_trees(options.trees));
    let attribution = AttributionOptions::default()
        .with_model(model)
        .with_seed(seed);
    let pipeline_dir = out.join("pipeline");
    // Plan the world's total spend again, moving each channel at most ±50%.
    let budget: f64 = world.truth().channels.iter().map(|c| c.spend).sum();
    let mut builder = Pipeline::builder()
        .source_with_progress("meta", meta, meta_p)
        .source_with_progress("google_ads", google, google_p)
        .source_with_progress("klaviyo", klaviyo, klaviyo_p)
        .date_range(world.config().start, world.config().end())
        .attribution(attribution)
        .plan(PlanOptions::new(budget))
        .output_dir(&pipeline_dir);
    for (channel, path) in &files {
        mapping = mapping.with_source(channel.clone(), SourceMapping::unified());
        builder = builder.source(channel.clone(), FileConnector::new(path)?);
    }
    if let Some(p) = options.progress {
        builder = builder.progress(p);
    }
    if let Some(view) = &options.progress_view {
        builder = builder.progress_view(view.clone());
    }
    let pipeline = builder.mapping(mapping).build()?;
    let run = runtime.block_on(pipeline.run());
    drop(servers);
    let run = run?;
    let results = run.attribution.primary().clone();
    let plan = run.plan.as_ref().ok_or_else(|| Error::InvalidPipeline {
        field: "plan".into(),
        message: "the demo's pipeline made no plan".into(),
    })?;
    let plan_check = check_plan(&world, plan)?;
    Ok(DemoOutput {
        report_dir: pipeline_dir.join("report"),
        results_json: pipeline_dir.join("results.json"),
        summary: format!(
            "{}\n{}{}\n{}",
            summary(&world, &results),
            crate::analysis::format_plan(plan),
            plan_summary(&plan_check),
            run.summary()
        ),
        plan_check,
        pipeline_dir,
        export_csv,
        unified_csv,
        truth_csv,
        truth_json,
        results,
        run: Box::new(run),
    })
}

/// Re-simulates a plan in the world: its true revenue, today's and the world's best for
/// the same budget within the plan's bounds (±`max_change`).
///
/// # Errors
///
/// [`Error::InvalidPipeline`] when the world cannot re-simulate the split (a channel it
/// does not have).
pub fn check_plan(world: &World, plan: &BudgetPlan) -> Result<PlanCheck> {
    let err = |e: liftos_sandbox::Error| Error::InvalidPipeline {
        field: "plan".into(),
        message: e.to_string(),
    };
    let split: Vec<(&str, f64)> = plan
        .channels
        .iter()
        .map(|c| (c.channel.as_str(), c.recommended_spend))
        .collect();
    let m = plan.max_change.min(1.0);
    Ok(PlanCheck {
        planned: world
            .allocation_revenue(&split)
            .map_err(err)?
            .incremental_revenue,
        current: world
            .allocation_revenue(&[])
            .map_err(err)?
            .incremental_revenue,
        optimum: world
            .optimal_allocation(plan.allocated_budget, 1.0 - m, 1.0 + m, 1000)
            .map_err(err)?
            .incremental_revenue,
    })
}

/// The plan's check in words.
pub fn plan_summary(check: &PlanCheck) -> String {
    format!(
        "Re-simulated in the world: the plan earns {} of incremental revenue against {} for \
         today's split ({:+.1}%), {:.1}% of the world's best split for the same budget and \
         bounds ({}, found by optimising over the world itself).\n",
        crate::analysis::money(check.planned),
        crate::analysis::money(check.current),
        100.0 * (check.planned / check.current - 1.0),
        100.0 * check.planned / check.optimum,
        crate::analysis::money(check.optimum),
    )
}

/// The terminal table: per channel spend, naive ROAS, the estimated switch-off and
/// marginal returns with their intervals, each next to the world's true value (`*` marks
/// a true value outside its interval), and a line naming every miss.
pub fn summary(world: &World, results: &AttributionResults) -> String {
    let c = world.config();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Sandbox world ({}): {} rows, {} to {}, seed {}",
        c.preset.map_or("custom", |p| p.as_str()),
        world.num_rows(),
        c.start,
        c.end(),
        c.seed
    );
    let curves: Vec<String> = c
        .channels
        .iter()
        .filter(|ch| {
            !world
                .truth()
                .channel(&ch.name)
                .is_some_and(|t| t.zero_effect)
        })
        .map(|ch| {
            let sat = match ch.saturation {
                Saturation::Hill {
                    half_saturation,
                    shape,
                } => format!("Hill half-saturation {half_saturation}x exposure, shape {shape}"),
                Saturation::Off => "linear".to_string(),
            };
            format!("{} carryover {}, {sat}", ch.name, ch.adstock_decay)
        })
        .collect();
    if !curves.is_empty() {
        let _ = writeln!(s, "True response: {}", curves.join("; "));
    }
    let pct = (results.confidence_level * 100.0).round();
    let _ = writeln!(
        s,
        "{:<11} {:>11} {:>6} | {:>27} {:>6} | {:>27} {:>6}",
        "", "", "", "switch-off iROAS", "", "marginal ROAS", ""
    );
    let _ = writeln!(
        s,
        "{:<11} {:>11} {:>6} | {:>6} {:>20} {:>6} | {:>6} {:>20} {:>6}",
        "channel",
        "spend",
        "naive",
        "est.",
        format!("{pct}% interval"),
        "true",
        "est.",
        format!("{pct}% interval"),
        "true"
    );
    let mark = |lo: f64, hi: f64, t: f64| if lo <= t && t <= hi { " " } else { "*" };
    let mut misses = Vec::new();
    for t in &world.truth().channels {
        let Some(e) = results.channel(&t.channel) else {
            continue;
        };
        let (mlo, mhi) = e.response.as_ref().map_or((f64::NAN, f64::NAN), |r| {
            (r.marginal_roas_ci_lower, r.marginal_roas_ci_upper)
        });
        let (ilo, ihi) = (e.incremental_roas_ci_lower, e.incremental_roas_ci_upper);
        if !(ilo <= t.incremental_roas && t.incremental_roas <= ihi) {
            misses.push(format!("{} switch-off", t.channel));
        }
        if !(mlo <= t.marginal_roas_total && t.marginal_roas_total <= mhi) {
            misses.push(format!("{} marginal", t.channel));
        }
        let _ = writeln!(
            s,
            "{:<11} {:>11.0} {:>6.2} | {:>6.2} {:>20} {:>5.2}{} | {:>6.2} {:>20} {:>5.2}{}",
            t.channel,
            t.spend,
            t.naive_roas,
            e.incremental_roas,
            format!("[{ilo:.2}, {ihi:.2}]"),
            t.incremental_roas,
            mark(ilo, ihi, t.incremental_roas),
            e.marginal_roas,
            format!("[{mlo:.2}, {mhi:.2}]"),
            t.marginal_roas_total,
            mark(mlo, mhi, t.marginal_roas_total),
        );
    }
    let _ = writeln!(
        s,
        "Naive ROAS counts revenue that would have happened anyway. The switch-off iROAS is\n\
         what the channel's spend caused (revenue lost if it were zero); the marginal ROAS is\n\
         what one more dollar would bring at today's spend (lower when returns diminish).\n\
         The true values are known because the world is simulated (* = outside the interval).\n\
         Spend moves only within a band here, so many response curves fit about equally well\n\
         below it: the switch-off return's interval includes all of them and is wide; the\n\
         marginal return is better determined."
    );
    if misses.is_empty() {
        let _ = writeln!(s, "Every interval above covers its true value.");
    } else {
        let _ = writeln!(
            s,
            "Missed: the true value lies outside the interval for {} (marked *).",
            misses.join(", ")
        );
    }
    for w in &results.diagnostics.warnings {
        let _ = writeln!(s, "Warning: {w}");
    }
    s
}
