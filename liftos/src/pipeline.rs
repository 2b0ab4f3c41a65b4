//! The whole flow as one thing: pull every source, unify, check quality, clean, build the
//! calendar, enrich, estimate, write.
//!
//! ```no_run
//! use liftos::pipeline::Pipeline;
//! use liftos::connectors::MetaAdsBuilder;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let meta = MetaAdsBuilder::from_env().build()?;
//! let pipeline = Pipeline::builder()
//!     .source("meta", meta)
//!     .date_range("2025-01-01".parse()?, "2025-06-30".parse()?)
//!     .output_dir("liftos-out")
//!     .build()?; // everything is checked here, before any request
//! let run = pipeline.run().await?;
//! println!("{}", run.summary());
//! # Ok(()) }
//! ```
//!
//! [`Pipeline::run`] returns every intermediate in a [`PipelineRun`] (each source's table,
//! the unified table and its quarantine, the quality report, the cleaned table, its
//! quarantine and change log, the calendar, the enriched table, the attribution) with
//! the wall time and peak memory of each stage. Each stage is also a public method
//! ([`Pipeline::pull`], [`Pipeline::unify`], [`Pipeline::validate`], [`Pipeline::clean`],
//! [`Pipeline::calendar`], [`Pipeline::enrich`], [`Pipeline::analyze`],
//! [`Pipeline::write_outputs`]) so a program can stop at any step, as in a notebook.
//!
//! Sources are pulled concurrently, each on its own Tokio task (so `run` needs a Tokio
//! runtime; a multi-threaded one pulls in parallel). A failing source fails the run
//! with its name, unless `continue_on_source_error` is set: then it is reported in
//! [`SourcePull::error`] and the other sources go on (at least one must succeed).
//! Progress goes, one line per source and stage, to a [`ProgressView`] when one is given
//! (`progress_view`; plain stderr lines with `progress(true)`), and as `tracing` events
//! at INFO level always. The library draws nothing itself: the `liftos` binary's view
//! draws live terminal lines.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use liftos_calendar::{CalendarDimension, CalendarOptions, MarketingOptions};
use liftos_causal::plan::{BudgetPlan, PlanOptions, plan_budget};
use liftos_causal::{Attribution, AttributionOptions, CausalPanel, CausalRoles};
use liftos_connectors::{Connector, ConnectorRequest, Level, PostgresSink, Progress};
use liftos_transform::{
    Cleaned, FileFormat, Fixes, QualityReport, QualityRules, SchemaMapping, Unified, clean_data,
    unify_marketing_data, validate_data_quality,
};

use crate::analysis::{analyze_table, attribution_json, write_report_with_quality};
use crate::io::{write_bytes_atomically, write_json_atomically, write_table_atomically};
use crate::progress::ProgressView;
use crate::{Error, Result};

/// Where the business outcome comes from: a file, or a connector pulled over the
/// pipeline's range (Shopify).
#[derive(Debug, Clone)]
enum BusinessInput {
    File(PathBuf),
    Source(Arc<dyn Connector>),
}

/// One source of a pipeline: a name (the key of its [`SchemaMapping`] entry) and a
/// connector.
#[derive(Clone)]
pub(crate) struct PipelineSource {
    pub(crate) name: String,
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) progress: Option<Progress>,
    /// What the source's settings ask (secrets left out), part of `liftos sync`'s
    /// request fingerprint: a change re-reads the source in full.
    pub(crate) settings: Option<String>,
}

impl fmt::Debug for PipelineSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineSource")
            .field("name", &self.name)
            .field("connector", &self.connector)
            .finish_non_exhaustive()
    }
}

/// The format of the tables a pipeline writes ([`FileFormat::Parquet`] by default, or
/// [`FileFormat::Csv`]), named by a setting (`parquet`, `csv`).
///
/// # Errors
///
/// [`Error::InvalidPipeline`] for any other name (NDJSON included: the tables keep their
/// Arrow types in Parquet, and CSV is readable anywhere).
pub fn table_format(name: &str) -> Result<FileFormat> {
    match FileFormat::from_name(name) {
        Some(f @ (FileFormat::Parquet | FileFormat::Csv)) => Ok(f),
        _ => Err(Error::InvalidPipeline {
            field: "output.format".into(),
            message: format!(
                "`{}` is not a table format (expected parquet or csv)",
                name.trim()
            ),
        }),
    }
}

/// What a pipeline writes, and where.
///
/// | Name | Default | Meaning |
/// |---|---|---|
/// | `dir` | — | output directory (created) |
/// | `format` | Parquet | format of every table |
/// | `report` | `true` | the HTML report, charts (PNG, SVG) and workbook in `dir/report` |
///
/// Files: `sources/<name>`, `unified`, `unified_quarantine`, `quality.json`, `cleaned`,
/// `quarantine`, `change_log.csv`, `calendar`, `enriched`, `results.json`, `plan.json` (with a plan), `run.json`
/// (sources, stage timings, files) and `report/`. Every file is written to a temporary
/// sibling and renamed, so none is ever half-written.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    /// Output directory.
    pub dir: PathBuf,
    /// Table format.
    pub format: FileFormat,
    /// Whether to write the report directory.
    pub report: bool,
}

impl Outputs {
    /// Parquet tables and the report in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Outputs {
            dir: dir.into(),
            format: FileFormat::Parquet,
            report: true,
        }
    }

    liftos_core::setters! {
        /// Sets the table format.
        with_format(format: FileFormat);
        /// Turns the report directory on or off.
        with_report(on: bool) => self.report = on;
    }
}

/// Builder of a [`Pipeline`]; [`build`](Self::build) checks everything.
///
/// | Name | Default | Meaning |
/// |---|---|---|
/// | sources | none (≥ 1 needed) | named connectors; the name selects the mapping |
/// | `date_range` | — (required) | first and last day, inclusive |
/// | `level` | campaign | row level asked of the connectors |
/// | `mapping` | [`SchemaMapping::default`] (meta, google_ads, klaviyo) | source columns → unified table |
/// | `quality_rules` | [`QualityRules::default`] | data-quality rules and built-in checks |
/// | `fixes` | [`Fixes::default`] | cleaning fixes |
/// | `calendar` | [`CalendarOptions::default`] (US) | holidays, business calendar, peak seasons |
/// | `marketing_features` | `Some(default)` | campaign-derived calendar features; `None` joins the calendar only |
/// | `roles` | [`CausalRoles::default`] (revenue ~ spend by campaign) with the adstock the attribution's response implies ([`ResponseOptions::default_adstock`](liftos_causal::ResponseOptions::default_adstock): searched with the default response, none with [`ResponseOptions::linear`](liftos_causal::ResponseOptions::linear)) | causal roles |
/// | `attribution` | [`AttributionOptions::default`] (causal forest, carryover and saturation searched) | estimator and inference |
/// | `plan` | none | a budget plan as the last stage ([`PlanOptions`]; `plan.json` and a report section) |
/// | `business_outcome` | none | the business's own daily revenue (`date`, `revenue`[, `orders`, `geo`] file): a business-level analysis of every channel's spend at once ([`crate::business`]; `business_results.json`), calibrated with `lift_tests` when given; or `business_outcome_source`: the same table pulled from a connector (Shopify) when the pipeline runs |
/// | `allow_negative_effects` | `false` | the campaign-level and the business-level analyses report effects below zero as fitted instead of at zero ([`AttributionOptions::non_negative`], [`BusinessOptions::non_negative`](liftos_causal::BusinessOptions::non_negative)) |
/// | `outputs` | none | files to write ([`Outputs`]) |
/// | `continue_on_source_error` | `false` | report a failing source and go on with the rest |
/// | `progress` | off | plain progress lines on stderr ([`StderrProgress`](crate::progress::StderrProgress)) |
/// | `progress_view` | none | where progress lines go ([`ProgressView`]; the `liftos` binary draws live terminal lines); `tracing` events are emitted either way |
/// | `store` | none | read every source from a store kept by `liftos sync` (complete days only) instead of pulling; without sources, every source of the store |
/// | `cluster` | none | `df://HOST:PORT`: the CSV and Parquet file sources are read by an Apache Ballista cluster's executors (feature `distributed`), the rest here |
/// | `cluster_timeout` | none | how long each file's read on the cluster may take; past it the job is cancelled on the scheduler and the source fails saying so |
#[derive(Debug, Clone, Default)]
pub struct PipelineBuilder {
    store: Option<PathBuf>,
    sources: Vec<PipelineSource>,
    range: Option<(NaiveDate, NaiveDate)>,
    level: Level,
    mapping: Option<SchemaMapping>,
    rules: QualityRules,
    fixes: Option<Fixes>,
    calendar: CalendarOptions,
    marketing: Option<Option<MarketingOptions>>,
    roles: Option<CausalRoles>,
    attribution: AttributionOptions,
    plan: Option<PlanOptions>,
    business_outcome: Option<BusinessInput>,
    lift_tests: Option<PathBuf>,
    allow_negative_effects: bool,
    outputs: Option<Outputs>,
    postgres: Option<Arc<PostgresSink>>,
    continue_on_source_error: bool,
    progress: Option<bool>,
    progress_view: Option<Arc<dyn ProgressView>>,
    cluster: Option<String>,
    cluster_timeout: Option<std::time::Duration>,
}

impl PipelineBuilder {
    /// Adds a source called `name` (the key of its mapping, and the file name of its
    /// table).
    pub fn source(self, name: impl Into<String>, connector: impl Connector + 'static) -> Self {
        self.source_arc(name, Arc::new(connector))
    }

    /// Adds a shared connector.
    pub fn source_arc(mut self, name: impl Into<String>, connector: Arc<dyn Connector>) -> Self {
        self.sources.push(PipelineSource {
            name: name.into(),
            connector,
            progress: None,
            settings: None,
        });
        self
    }

    /// Adds a connector built with `progress` (its `with_progress`), so the run also
    /// reports the connector's pages and retries.
    pub fn source_with_progress(
        mut self,
        name: impl Into<String>,
        connector: impl Connector + 'static,
        progress: Progress,
    ) -> Self {
        self.sources.push(PipelineSource {
            name: name.into(),
            connector: Arc::new(connector),
            progress: Some(progress),
            settings: None,
        });
        self
    }

    /// Records what source `name`'s settings ask (any text without secrets, e.g. a
    /// hash of its non-secret settings): `liftos sync` re-reads the source in full when
    /// it differs from the stored one, so two definitions of a number are never mixed.
    pub fn source_settings(mut self, name: &str, settings: impl Into<String>) -> Self {
        let settings = settings.into();
        for s in self.sources.iter_mut().filter(|s| s.name == name) {
            s.settings = Some(settings.clone());
        }
        self
    }

    /// Sets the first and last day (inclusive).
    pub fn date_range(mut self, start: NaiveDate, end: NaiveDate) -> Self {
        self.range = Some((start, end));
        self
    }

    liftos_core::setters! {
        /// Sets the row level asked of the connectors.
        level(level: Level);
        /// Sets the schema mapping.
        mapping(mapping: SchemaMapping) => Some(mapping);
        /// Sets the quality rules.
        quality_rules(rules: QualityRules);
        /// Sets the cleaning fixes.
        fixes(fixes: Fixes) => Some(fixes);
        /// Sets the calendar options.
        calendar(options: CalendarOptions) => self.calendar = options;
        /// Sets (`Some`) or turns off (`None`) the marketing features.
        marketing_features(options: Option<MarketingOptions>) => self.marketing = Some(options);
        /// Sets the causal roles (their adstock is used as given).
        roles(roles: CausalRoles) => Some(roles);
        /// Sets the attribution options (estimator, confidence level, seed, clusters).
        attribution(options: AttributionOptions) => self.attribution = options;
        /// Plans a budget from the primary result's response curves as the last stage
        /// (`plan.json` and a report section).
        plan(options: PlanOptions) => self.plan = Some(options);
        /// Analyses the business's own revenue per day (a CSV or Parquet file with `date`,
        /// `revenue`[, `orders`, `geo`]) against every channel's spend at once, after the
        /// platform-level analysis ([`PipelineRun::business`], `business_results.json`).
        business_outcome(path: impl Into<PathBuf>)
            => self.business_outcome = Some(BusinessInput::File(path.into()));
        /// Like [`business_outcome`](Self::business_outcome), with the outcome pulled from a
        /// connector over the pipeline's date range when the pipeline runs (a
        /// [`ShopifyConnector`](liftos_connectors::ShopifyConnector): `date`, `revenue`,
        /// `orders`, `new_customer_orders`, `currency`). A failing pull fails the run.
        business_outcome_source(connector: impl Connector + 'static)
            => self.business_outcome = Some(BusinessInput::Source(Arc::new(connector)));
        /// Lift tests (`channel`, `start`, `end`, `incremental_revenue` or `iroas`,
        /// `standard_error`) that calibrate the business-level analysis.
        lift_tests(path: impl Into<PathBuf>) => self.lift_tests = Some(path.into());
        /// Reports effects below zero as fitted, at the campaign and the business level
        /// (by default spend cannot lower revenue: they are reported at zero, with a
        /// warning); `true` also switches off the attribution options'
        /// [`non_negative`](AttributionOptions::non_negative).
        allow_negative_effects(allow_negative_effects: bool);
    }

    /// Writes every table, the results and the report into `dir` (Parquet tables).
    pub fn output_dir(self, dir: impl Into<PathBuf>) -> Self {
        self.outputs(Outputs::new(dir))
    }

    liftos_core::setters! {
        /// Sets what is written.
        outputs(outputs: Outputs) => Some(outputs);
        /// Also writes the run's tables into PostgreSQL (see [`Pipeline::write_postgres`]).
        postgres_output(sink: PostgresSink) => self.postgres = Some(Arc::new(sink));
        /// Whether a failing source is reported while the others go on.
        continue_on_source_error(on: bool) => self.continue_on_source_error = on;
    }

    /// Plain progress lines on stderr, one as each source or stage ends
    /// ([`StderrProgress`](crate::progress::StderrProgress)); off by default (the
    /// library draws nothing unless asked). `false` also drops a
    /// [`progress_view`](Self::progress_view).
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = Some(on);
        if !on {
            self.progress_view = None;
        }
        self
    }

    liftos_core::setters! {
        /// Sends the run's progress (a line per source and per stage) to `view`.
        progress_view(view: Arc<dyn ProgressView>) => self.progress_view = Some(view);
        /// Analyses the store in `dir` (kept current by `liftos sync`) instead of pulling:
        /// each source is read from the store table of its name, complete days only
        /// ([`StoreConnector`](crate::sync::StoreConnector)). Without sources, every source
        /// of the store is read.
        store(dir: impl Into<PathBuf>) => self.store = Some(dir.into());
        /// Reads the file sources on an Apache Ballista cluster (`df://HOST:PORT`, started
        /// with `liftos cluster`): its executors open and decode each CSV or Parquet
        /// [`FileConnector`](liftos_connectors::FileConnector) file named by its extension,
        /// at its absolute path (which they must see: a shared or copied directory; this
        /// process reads it too, for the header and the inferred types), with the column
        /// types the connector infers here, and the rows come back whole. The tables are
        /// the ones the connectors read here, so every later stage, run here, gives the
        /// same results. Platform, store and NDJSON sources, a file whose format is set
        /// other than by its extension, and a Parquet file given its own schema are read
        /// here as always. A cluster read under way is stopped when the pull is (the
        /// source's stream dropped): its job is cancelled on the scheduler
        /// ([`wait_for_cluster_queries`](liftos_transform::wait_for_cluster_queries)
        /// waits for that and says what became of it). Needs the `distributed` feature
        /// (on in the `liftos` binary); the scheduler is first contacted when the
        /// pipeline runs.
        cluster(url: impl Into<String>) => self.cluster = Some(url.into());
        /// How long each file's read on the [`cluster`](PipelineBuilder::cluster) may
        /// take: past it the job is cancelled on the scheduler and the source fails with
        /// an error naming the limit and the job. No limit by default.
        cluster_timeout(limit: std::time::Duration) => self.cluster_timeout = Some(limit);
    }

    /// Checks everything and returns the pipeline. No network call is made, except that a
    /// PostgreSQL source asks its server for the query's columns (once; no rows are read).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPipeline`] naming the setting (no source, a duplicate source
    /// name, a source without a mapping, no date range, an output directory that is a
    /// file); the crates' own errors for invalid mapping, rules, calendar, roles or
    /// attribution options.
    pub fn build(mut self) -> Result<Pipeline> {
        let invalid = |field: &str, message: String| Error::InvalidPipeline {
            field: field.to_owned(),
            message,
        };
        if let Some(dir) = &self.store {
            if self.sources.is_empty() {
                let store = liftos_transform::store::Store::open(dir)?;
                self.sources = store
                    .sources()
                    .keys()
                    .map(|name| PipelineSource {
                        name: name.clone(),
                        connector: Arc::new(crate::sync::StoreConnector::new(dir, name)),
                        progress: None,
                        settings: None,
                    })
                    .collect();
                if self.sources.is_empty() {
                    return Err(invalid(
                        "store",
                        format!(
                            "the store {} holds no source yet; run `liftos sync` first",
                            dir.display()
                        ),
                    ));
                }
            } else {
                for s in &mut self.sources {
                    s.connector = Arc::new(crate::sync::StoreConnector::new(dir, &s.name));
                    s.progress = None;
                }
            }
        }
        if self.sources.is_empty() {
            return Err(invalid(
                "sources",
                "a pipeline needs at least one source".into(),
            ));
        }
        let mut names = BTreeSet::new();
        for s in &self.sources {
            // Names become file names (sources/<name>.parquet): keep them portable.
            let portable = !s.name.is_empty()
                && s.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !portable {
                return Err(invalid(
                    "sources",
                    format!(
                        "source name `{}` must be non-empty ASCII letters, digits, `_` or `-`",
                        s.name
                    ),
                ));
            }
            if !names.insert(s.name.to_ascii_lowercase()) {
                return Err(invalid(
                    "sources",
                    format!(
                        "two sources are called `{}` (names are compared ignoring case)",
                        s.name
                    ),
                ));
            }
        }
        let mapping = self.mapping.unwrap_or_default();
        mapping.validate()?;
        for s in &self.sources {
            if mapping.resolve(&s.name).is_none() {
                return Err(invalid(
                    "mapping",
                    format!(
                        "source `{}` has no mapping (mapped: {}); add one with SchemaMapping::with_source",
                        s.name,
                        mapping.source_list()
                    ),
                ));
            }
        }
        let (start, mut end) = self.range.ok_or_else(|| {
            invalid(
                "date_range",
                "set the first and last day with date_range".into(),
            )
        })?;
        // From a store, the run ends at the least complete source's last complete day:
        // a source that did not sync (a failed pull), or whose account's day had not ended
        // yet (its time zone is behind the others'), would otherwise read its days after
        // that as days without activity.
        let mut notes = Vec::new();
        if let Some(dir) = &self.store {
            let store = liftos_transform::store::Store::open(dir)?;
            let least = self
                .sources
                .iter()
                .filter_map(|s| {
                    let day = store.source(&s.name)?.last_complete()?;
                    Some((day, s.name.clone()))
                })
                .min();
            if let Some((day, name)) = least
                && day < end
                && day >= start
            {
                notes.push(format!(
                    "The run stops at {day}, not {end}: the store holds source `{name}` complete through {day} only (at its last successful sync, its account's next day had not ended or its pull failed), and its later days would read as days without its activity. Sync it (`liftos sync`) to analyse them."
                ));
                end = day;
            }
        }
        let request = ConnectorRequest::new(start, end)?.with_level(self.level);
        for s in &self.sources {
            s.connector.schema(&request)?;
        }
        self.rules.validate()?;
        self.calendar.validate()?;
        let roles = self.roles.unwrap_or_else(|| {
            CausalRoles::default().with_adstock(self.attribution.response.default_adstock())
        });
        roles.validate()?;
        self.attribution.validate()?;
        let cluster = self
            .cluster
            .as_deref()
            .map(parse_cluster)
            .transpose()
            .map_err(|message| invalid("cluster", message))?;
        if let Some(limit) = self.cluster_timeout {
            if limit.is_zero() {
                return Err(invalid(
                    "cluster_timeout",
                    "the time limit must be more than 0".into(),
                ));
            }
            if cluster.is_none() {
                return Err(invalid(
                    "cluster_timeout",
                    "a time limit for cluster reads needs a cluster: set cluster too".into(),
                ));
            }
        }
        if self.lift_tests.is_some() && self.business_outcome.is_none() {
            return Err(invalid(
                "lift_tests",
                "lift tests calibrate the business-level analysis: set business_outcome too".into(),
            ));
        }
        if let Some(o) = &self.outputs
            && o.dir.exists()
            && !o.dir.is_dir()
        {
            return Err(invalid(
                "outputs.dir",
                format!("{} exists and is not a directory", o.dir.display()),
            ));
        }
        Ok(Pipeline {
            sources: self.sources,
            request,
            mapping,
            rules: self.rules,
            fixes: self.fixes.unwrap_or_default(),
            calendar: self.calendar,
            marketing: self.marketing.unwrap_or(Some(MarketingOptions::default())),
            roles,
            attribution: AttributionOptions {
                non_negative: self.attribution.non_negative && !self.allow_negative_effects,
                ..self.attribution
            },
            plan: self.plan,
            business_outcome: self.business_outcome,
            lift_tests: self.lift_tests,
            outputs: self.outputs,
            postgres: self.postgres,
            continue_on_source_error: self.continue_on_source_error,
            progress: self.progress.unwrap_or(false),
            progress_view: self.progress_view,
            cluster,
            cluster_timeout: self.cluster_timeout,
            notes,
        })
    }
}

/// The cluster a pipeline reads its files on.
#[cfg(feature = "distributed")]
type ClusterUrl = liftos_transform::ClusterUrl;
/// Without the `distributed` feature there is none.
#[cfg(not(feature = "distributed"))]
type ClusterUrl = std::convert::Infallible;

/// A `cluster` setting, checked (`df://HOST:PORT`), or why not.
pub(crate) fn parse_cluster(url: &str) -> std::result::Result<ClusterUrl, String> {
    #[cfg(feature = "distributed")]
    {
        url.parse::<ClusterUrl>().map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "distributed"))]
    {
        Err(format!(
            "`{url}`: this build of liftos has no cluster client (the `distributed` cargo \
             feature)"
        ))
    }
}

/// Reads a file source on the cluster: a lazy stream (nothing happens before the first
/// poll) of one batch, the whole file as the executors decoded it. A CSV file is decoded
/// with the connector's schema (inferred here, or given: its columns by position, as
/// Arrow's reader takes them), a Parquet file with its own. `None` for a source read
/// here: no cluster, not a file, an NDJSON file, a format set other than by the file's
/// extension (the engine reads by extension), a path DataFusion would take for a pattern
/// (`*`, `?`, `[`) or that is not UTF-8, or a Parquet file given a schema of its own
/// (the local reader does not apply it).
///
/// The read runs in a thread of its own. Dropping the stream (a failing source, a
/// dropped pull) stops it: its job is cancelled on the scheduler, in that thread. A read
/// longer than `limit` is stopped the same way and fails naming the limit and the job.
#[cfg(feature = "distributed")]
fn cluster_read(
    cluster: Option<&ClusterUrl>,
    limit: Option<std::time::Duration>,
    connector: &dyn Connector,
    schema: &arrow::datatypes::SchemaRef,
) -> Option<liftos_connectors::RecordBatchStream> {
    let url = cluster?.clone();
    let file = connector.as_file()?;
    let format = file.format();
    let plain_path = file
        .path()
        .to_str()
        .is_some_and(|p| !p.contains(['*', '?', '[']));
    if !plain_path || FileFormat::from_path(file.path()) != Some(format) {
        return None;
    }
    let schema = match format {
        FileFormat::Csv => Some(schema.clone()),
        FileFormat::Parquet if file.given_schema().is_none() => None,
        _ => return None,
    };
    let path = file.path().to_owned();
    // Stops the read when the stream is dropped before it ends.
    let stopper = liftos_transform::QueryStopper::new();
    let stop_on_drop = StopOnDrop(stopper.clone());
    let read = async move {
        let _stop_on_drop = stop_on_drop;
        let (tx, rx) = futures::channel::oneshot::channel();
        // The SQL session blocks on its own runtime: a thread of its own, outside the
        // pipeline's (where it could neither block nor be dropped).
        let thread_path = path.clone();
        std::thread::spawn(move || {
            let read = liftos_transform::SqlSession::remote(&url).and_then(|session| {
                let session = session.with_stopper(stopper);
                let session = match limit {
                    Some(limit) => session.with_time_limit(limit),
                    None => session,
                };
                session.read_file_as(&thread_path, schema)
            });
            let _ = tx.send(read.map_err(|e| e.to_string()));
        });
        let outcome = rx
            .await
            .unwrap_or_else(|_| Err("the reading thread stopped".to_owned()));
        outcome.map_err(|message| liftos_connectors::Error::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(format!("read on the cluster: {message}")),
        })
    };
    Some(Box::pin(futures::stream::once(read)))
}

/// Stops a cluster read when dropped (a no-op once the read has ended).
#[cfg(feature = "distributed")]
struct StopOnDrop(liftos_transform::QueryStopper);

#[cfg(feature = "distributed")]
impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop("the pipeline stopped reading the source");
    }
}

/// Without the `distributed` feature every source is read here.
#[cfg(not(feature = "distributed"))]
fn cluster_read(
    _cluster: Option<&ClusterUrl>,
    _limit: Option<std::time::Duration>,
    _connector: &dyn Connector,
    _schema: &arrow::datatypes::SchemaRef,
) -> Option<liftos_connectors::RecordBatchStream> {
    None
}

/// A checked pipeline; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Pipeline {
    sources: Vec<PipelineSource>,
    request: ConnectorRequest,
    mapping: SchemaMapping,
    rules: QualityRules,
    fixes: Fixes,
    calendar: CalendarOptions,
    marketing: Option<MarketingOptions>,
    roles: CausalRoles,
    attribution: AttributionOptions,
    plan: Option<PlanOptions>,
    business_outcome: Option<BusinessInput>,
    lift_tests: Option<PathBuf>,
    outputs: Option<Outputs>,
    postgres: Option<Arc<PostgresSink>>,
    continue_on_source_error: bool,
    progress: bool,
    progress_view: Option<Arc<dyn ProgressView>>,
    /// Where the file sources are read (`None`: here).
    cluster: Option<ClusterUrl>,
    /// How long each file's read on the cluster may take.
    cluster_timeout: Option<std::time::Duration>,
    /// What the build changed that the results must say (a store's range cut at its
    /// least complete source), added to the primary results' warnings.
    notes: Vec<String>,
}

/// One source's pull.
#[derive(Debug, Clone)]
pub struct SourcePull {
    /// The source's name.
    pub name: String,
    /// The connector's name.
    pub connector: String,
    /// Its rows (`None` when it failed).
    pub table: Option<RecordBatch>,
    /// Why it failed (with `continue_on_source_error`).
    pub error: Option<String>,
    /// Rows received.
    pub rows: usize,
    /// Record batches received.
    pub batches: usize,
    /// Retries the connector spent (when it was added with progress).
    pub retries: Option<u64>,
    /// Wall time.
    pub seconds: f64,
}

/// Aborts the pull tasks when dropped (an error, or the caller dropping the future).
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::AbortHandle::abort);
    }
}

/// What one pull task returns: the table or the error, rows, batches, seconds.
type PullOutcome = (
    std::result::Result<RecordBatch, liftos_connectors::Error>,
    usize,
    usize,
    f64,
);

/// Wall time and memory of one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTiming {
    /// `pull`, `unify`, `validate`, `clean`, `calendar`, `enrich`, `analyze`, `plan` or `write`.
    pub stage: &'static str,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Rows the stage produced.
    pub rows: usize,
    /// Peak resident memory of the process so far, in MiB (Linux; `None` elsewhere).
    pub peak_rss_mib: Option<f64>,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct PipelineRun {
    /// Each source's pull, in the order the sources were added.
    pub sources: Vec<SourcePull>,
    /// The unified table and the rows that could not be unified.
    pub unified: Unified,
    /// Data quality of the unified table.
    pub quality: QualityReport,
    /// The cleaned table, its quarantine and change log.
    pub cleaned: Cleaned,
    /// The calendar dimension over the date range.
    pub calendar: RecordBatch,
    /// The cleaned table with the calendar (and marketing features) joined on the date.
    pub enriched: RecordBatch,
    /// The causal panel the model saw (its `dropped` lists the rows left out because a
    /// role value was missing).
    pub panel: CausalPanel,
    /// The attribution (one result per outcome × treatment).
    pub attribution: Attribution,
    /// The budget plan (with [`PipelineBuilder::plan`]).
    pub plan: Option<BudgetPlan>,
    /// The business-level analysis (with [`PipelineBuilder::business_outcome`]).
    pub business: Option<liftos_causal::business::BusinessResults>,
    /// Wall time per stage, in order.
    pub timings: Vec<StageTiming>,
    /// Files written (empty without outputs).
    pub files: Vec<PathBuf>,
    /// PostgreSQL tables written (with [`PipelineBuilder::postgres_output`]).
    pub postgres_tables: Vec<String>,
}

impl PipelineRun {
    /// Total wall time of the stages.
    pub fn total_seconds(&self) -> f64 {
        self.timings.iter().map(|t| t.seconds).sum()
    }

    /// A readable account of the run: sources, row accounting, quality, stage timings.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for p in &self.sources {
            match &p.error {
                None => {
                    let retries = p
                        .retries
                        .map(|r| format!(", {r} retries"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        s,
                        "source {:<12} {:>9} rows in {:.2} s ({} batches{retries})",
                        p.name, p.rows, p.seconds, p.batches
                    );
                }
                Some(e) => {
                    let _ = writeln!(s, "source {:<12} FAILED: {e}", p.name);
                }
            }
        }
        let _ = writeln!(
            s,
            "unified {} rows ({} quarantined); quality: completeness {:.1}%, accuracy {:.1}%, {} issue(s)",
            self.unified.table.num_rows(),
            self.unified.quarantine.num_rows(),
            100.0 * self.quality.completeness_score,
            100.0 * self.quality.accuracy_score,
            self.quality.issues.len()
        );
        let a = self.cleaned.accounting();
        let _ = writeln!(
            s,
            "cleaned {} rows: {} in, {} duplicates dropped, {} quarantined, {} filled",
            a.rows_out, a.rows_in, a.dropped_duplicates, a.quarantined, a.filled
        );
        if !self.panel.dropped.is_empty() {
            let _ = writeln!(
                s,
                "{} rows left out of the model (a role value was missing)",
                self.panel.dropped.len()
            );
        }
        let _ = writeln!(
            s,
            "{:<10} {:>9} {:>10} {:>14}",
            "stage", "seconds", "rows", "peak RSS MiB"
        );
        for t in &self.timings {
            let _ = writeln!(
                s,
                "{:<10} {:>9.2} {:>10} {:>14}",
                t.stage,
                t.seconds,
                t.rows,
                t.peak_rss_mib.map_or("—".into(), |m| format!("{m:.0}"))
            );
        }
        let _ = writeln!(s, "{:<10} {:>9.2}", "total", self.total_seconds());
        s
    }
}

/// Peak resident set size of this process in MiB (`VmHWM`, Linux).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn timed<T>(
    timings: &mut Vec<StageTiming>,
    view: &dyn ProgressView,
    stage: &'static str,
    f: impl FnOnce() -> Result<T>,
    rows: impl FnOnce(&T) -> usize,
) -> Result<T> {
    let line = view.start(stage);
    tracing::info!(stage, "stage started");
    let started = Instant::now();
    let out = f();
    let seconds = started.elapsed().as_secs_f64();
    match &out {
        Ok(v) => {
            let n = rows(v);
            tracing::info!(stage, seconds, rows = n, "stage done");
            line.finish(&format!("{n} rows"));
            timings.push(StageTiming {
                stage,
                seconds,
                rows: n,
                peak_rss_mib: peak_rss_mib(),
            });
        }
        Err(e) => {
            tracing::warn!(stage, error = %e, "stage failed");
            line.fail(&e.to_string());
        }
    }
    out
}

impl Pipeline {
    /// The run's progress view: the one given, plain stderr lines with `progress(true)`,
    /// else none.
    fn view(&self) -> Arc<dyn ProgressView> {
        crate::progress::view_for(self.progress, self.progress_view.clone())
    }

    /// A builder.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// The request every connector is asked.
    pub fn request(&self) -> &ConnectorRequest {
        &self.request
    }

    /// What the pipeline writes, if anything.
    pub fn outputs(&self) -> Option<&Outputs> {
        self.outputs.as_ref()
    }

    /// The schema mapping.
    pub fn mapping(&self) -> &SchemaMapping {
        &self.mapping
    }

    /// Whether a failing source is reported while the others go on.
    pub fn continue_on_source_error(&self) -> bool {
        self.continue_on_source_error
    }

    pub(crate) fn sources(&self) -> &[PipelineSource] {
        &self.sources
    }

    /// The source names, in order.
    pub fn source_names(&self) -> Vec<&str> {
        self.sources.iter().map(|s| s.name.as_str()).collect()
    }

    /// Pulls every source concurrently (one Tokio task each).
    ///
    /// # Errors
    ///
    /// [`Error::SourceFailed`] for the first source to fail (the others are stopped at
    /// once) unless `continue_on_source_error` is set; with it, an error only when every
    /// source failed. Dropping the returned future stops every pull.
    pub async fn pull(&self) -> Result<Vec<SourcePull>> {
        self.pull_with(self.view().as_ref()).await
    }

    async fn pull_with(&self, view: &dyn ProgressView) -> Result<Vec<SourcePull>> {
        // Every schema first: a failure here leaves no pull running.
        let schemas = self
            .sources
            .iter()
            .map(|s| s.connector.schema(&self.request))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut tasks = Vec::new();
        for (s, schema) in self.sources.iter().zip(schemas) {
            let stream = match cluster_read(
                self.cluster.as_ref(),
                self.cluster_timeout,
                s.connector.as_ref(),
                &schema,
            ) {
                Some(stream) => Ok(stream),
                None => s.connector.read(&self.request),
            };
            let line = view.start(&s.name);
            line.update("starting");
            let name = s.name.clone();
            tracing::info!(source = %name, connector = s.connector.name(), "pull started");
            let progress = s.progress.clone();
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                let (mut rows, mut batches) = (0usize, 0usize);
                let result: std::result::Result<RecordBatch, liftos_connectors::Error> = async {
                    let mut stream = stream?;
                    let mut parts = Vec::new();
                    while let Some(batch) = stream.next().await {
                        let batch = batch?;
                        rows += batch.num_rows();
                        batches += 1;
                        let retries = progress
                            .as_ref()
                            .map(|p| format!(" · {} retries", p.snapshot().retries))
                            .unwrap_or_default();
                        line.update(&format!("{rows} rows · {batches} batches{retries}"));
                        parts.push(batch);
                    }
                    Ok(arrow::compute::concat_batches(&schema, &parts)?)
                }
                .await;
                let seconds = started.elapsed().as_secs_f64();
                match &result {
                    Ok(_) => {
                        tracing::info!(source = %name, rows, seconds, "pull done");
                        line.finish(&format!("{rows} rows in {seconds:.1} s"));
                    }
                    Err(e) => {
                        tracing::warn!(source = %name, error = %e, "pull failed");
                        line.fail(&e.to_string());
                    }
                }
                (result, rows, batches, seconds)
            }));
        }
        // Results as they finish; without continue_on_source_error the first failure
        // stops the other pulls at once instead of waiting for them.
        let _stop_on_drop = AbortOnDrop(tasks.iter().map(|t| t.abort_handle()).collect());
        let mut pending: FuturesUnordered<_> = tasks
            .into_iter()
            .enumerate()
            .map(|(i, t)| async move { (i, t.await) })
            .collect();
        let mut finished: Vec<Option<PullOutcome>> =
            (0..self.sources.len()).map(|_| None).collect();
        while let Some((i, joined)) = pending.next().await {
            let s = &self.sources[i];
            // A connector that panicked is a failed source like any other.
            let outcome = joined.unwrap_or_else(|e| {
                let error = liftos_connectors::Error::InvalidRequest {
                    message: format!("the pull task stopped: {e}"),
                };
                (Err(error), 0, 0, 0.0)
            });
            match outcome {
                (Err(e), ..) if !self.continue_on_source_error => {
                    // `_stop_on_drop` aborts the other pulls.
                    return Err(Error::SourceFailed {
                        name: s.name.clone(),
                        source: e,
                    });
                }
                o => finished[i] = Some(o),
            }
        }
        let mut pulls = Vec::new();
        for (s, outcome) in self.sources.iter().zip(finished) {
            let Some((result, rows, batches, seconds)) = outcome else {
                continue;
            };
            let retries = s.progress.as_ref().map(|p| p.snapshot().retries);
            let (table, error) = match result {
                Ok(t) => (Some(t), None),
                Err(e) => (None, Some(e.to_string())),
            };
            pulls.push(SourcePull {
                name: s.name.clone(),
                connector: s.connector.name().to_owned(),
                table,
                error,
                rows,
                batches,
                retries,
                seconds,
            });
        }
        if pulls.iter().all(|p| p.table.is_none()) {
            let failures = pulls.iter().map(|p| (&p.name, &p.error));
            return Err(every_source_failed(failures, ""));
        }
        Ok(pulls)
    }

    /// Unifies the pulled tables (failed sources are skipped), moves rows dated outside
    /// the pipeline's range to the quarantine (a file export may cover more days), and
    /// sorts the unified table by its natural key (date, channel, account, campaign, ad group), so that
    /// every later stage, the estimates included, does not depend on the order in which
    /// the platforms returned their rows.
    ///
    /// # Errors
    ///
    /// The transform crate's errors (an unmapped column, a wrong type).
    pub fn unify(&self, pulls: &[SourcePull]) -> Result<Unified> {
        let unified = unify_marketing_data(
            pulls
                .iter()
                .filter_map(|p| p.table.as_ref().map(|t| (p.name.as_str(), t))),
            &self.mapping,
        )?;
        Ok(unified
            .keep_date_range(self.request.start(), self.request.end())?
            .in_natural_key_order()?)
    }

    /// The data-quality report of a (unified) table.
    ///
    /// # Errors
    ///
    /// Only for broken contracts (see [`validate_data_quality`]).
    pub fn validate(&self, table: &RecordBatch) -> Result<QualityReport> {
        Ok(validate_data_quality(
            table,
            &self.rules.required_fields_or_default(),
            &self.rules,
        )?)
    }

    /// Cleans a (unified) table with the pipeline's fixes.
    ///
    /// # Errors
    ///
    /// Only for broken contracts (see [`clean_data`]).
    pub fn clean(&self, table: &RecordBatch) -> Result<Cleaned> {
        Ok(clean_data(table, &self.fixes)?)
    }

    /// The calendar dimension over the pipeline's date range.
    ///
    /// # Errors
    ///
    /// The calendar crate's errors.
    pub fn calendar(&self) -> Result<RecordBatch> {
        Ok(CalendarDimension::create_calendar(
            self.request.start(),
            self.request.end(),
            &self.calendar,
        )?)
    }

    /// The cleaned table with the calendar's columns (and, when on, the marketing
    /// features) joined on its date.
    ///
    /// # Errors
    ///
    /// The calendar crate's errors (e.g. a date outside the calendar).
    pub fn enrich(&self, cleaned: &RecordBatch, calendar: &RecordBatch) -> Result<RecordBatch> {
        match &self.marketing {
            Some(options) => Ok(liftos_calendar::add_marketing_features_with(
                calendar, cleaned, options,
            )?),
            None => Ok(liftos_calendar::join_calendar(
                cleaned,
                liftos_transform::unified::DATE,
                calendar,
            )?),
        }
    }

    /// Prepares the causal panel and runs the attribution.
    ///
    /// # Errors
    ///
    /// The causal crate's errors (a missing role column, too few rows).
    pub fn analyze(&self, enriched: &RecordBatch) -> Result<(CausalPanel, Attribution)> {
        analyze_table(enriched, &self.roles, &self.attribution)
    }

    /// Runs every stage and writes the outputs.
    ///
    /// # Errors
    ///
    /// The first stage's error; see each stage.
    pub async fn run(&self) -> Result<PipelineRun> {
        let view = self.view();
        let started = Instant::now();
        let sources = self.pull_with(view.as_ref()).await?;
        let business_table = match &self.business_outcome {
            Some(BusinessInput::Source(c)) => {
                let request = ConnectorRequest::new(self.request.start(), self.request.end())?;
                Some(c.get_campaign_data(&request).await?)
            }
            _ => None,
        };
        let pull_timing = StageTiming {
            stage: "pull",
            seconds: started.elapsed().as_secs_f64(),
            rows: sources.iter().map(|p| p.rows).sum(),
            peak_rss_mib: peak_rss_mib(),
        };
        // The CPU-bound stages run on a blocking thread, not on the async workers.
        let this = self.clone();
        let mut run = tokio::task::spawn_blocking(move || {
            this.process(sources, pull_timing, business_table, view.as_ref())
        })
        .await
        .map_err(|e| Error::InvalidPipeline {
            field: "run".into(),
            message: format!("the pipeline's worker stopped: {e}"),
        })??;
        if self.postgres.is_some() {
            let started = Instant::now();
            run.postgres_tables = self.write_postgres(&run).await?;
            run.timings.push(StageTiming {
                stage: "postgres",
                seconds: started.elapsed().as_secs_f64(),
                rows: run.unified.table.num_rows(),
                peak_rss_mib: peak_rss_mib(),
            });
        }
        Ok(run)
    }

    /// The tables of a run as the PostgreSQL sink writes them: `source_<name>` (the
    /// name's characters other than letters, digits and `_` as `_`), `unified`,
    /// `unified_quarantine`, `cleaned`, `quarantine`, `calendar`, `enriched`.
    pub fn postgres_tables(run: &PipelineRun) -> Vec<(String, &RecordBatch)> {
        let mut tables = Vec::new();
        for p in &run.sources {
            if let Some(t) = &p.table {
                let name: String = p
                    .name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_lowercase()
                        } else {
                            '_'
                        }
                    })
                    .collect();
                tables.push((format!("source_{name}"), t));
            }
        }
        tables.push(("unified".into(), &run.unified.table));
        tables.push(("unified_quarantine".into(), &run.unified.quarantine));
        tables.push(("cleaned".into(), &run.cleaned.table));
        tables.push(("quarantine".into(), &run.cleaned.quarantine));
        tables.push(("calendar".into(), &run.calendar));
        tables.push(("enriched".into(), &run.enriched));
        tables
    }

    /// Writes the run's tables ([`postgres_tables`](Self::postgres_tables)) into
    /// PostgreSQL in one transaction, each replacing the previous run's atomically;
    /// returns the qualified names written (none without a PostgreSQL output).
    ///
    /// # Errors
    ///
    /// The sink's: connection, a column type it does not write, `COPY`; the previous
    /// tables are left as they were.
    pub async fn write_postgres(&self, run: &PipelineRun) -> Result<Vec<String>> {
        let Some(sink) = &self.postgres else {
            return Ok(Vec::new());
        };
        let tables = Self::postgres_tables(run);
        let refs: Vec<(&str, &RecordBatch)> =
            tables.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        sink.write_tables(&refs).await?;
        Ok(tables.iter().map(|(n, _)| sink.table_name(n)).collect())
    }

    /// Every stage after the pull, on the pulled tables.
    fn process(
        &self,
        sources: Vec<SourcePull>,
        pull_timing: StageTiming,
        business_table: Option<RecordBatch>,
        view: &dyn ProgressView,
    ) -> Result<PipelineRun> {
        let mut t = vec![pull_timing];
        let unified = timed(
            &mut t,
            view,
            "unify",
            || self.unify(&sources),
            |u| u.table.num_rows(),
        )?;
        let quality = timed(
            &mut t,
            view,
            "validate",
            || self.validate(&unified.table),
            |q| q.rows,
        )?;
        let cleaned = timed(
            &mut t,
            view,
            "clean",
            || self.clean(&unified.table),
            |c| c.table.num_rows(),
        )?;
        let calendar = timed(
            &mut t,
            view,
            "calendar",
            || self.calendar(),
            |c| c.num_rows(),
        )?;
        let enriched = timed(
            &mut t,
            view,
            "enrich",
            || self.enrich(&cleaned.table, &calendar),
            |e| e.num_rows(),
        )?;
        let (panel, mut attribution) = timed(
            &mut t,
            view,
            "analyze",
            || self.analyze(&enriched),
            |(p, _)| p.num_rows(),
        )?;
        for note in &self.notes {
            tracing::warn!("{note}");
            if let Some(primary) = attribution.results.first_mut() {
                primary.diagnostics.warnings.insert(0, note.clone());
            }
        }
        let plan = match &self.plan {
            Some(options) => Some(timed(
                &mut t,
                view,
                "plan",
                || Ok(plan_budget(attribution.primary(), options)?),
                |p| p.channels.len(),
            )?),
            None => None,
        };
        let business = match (&self.business_outcome, &business_table) {
            (Some(BusinessInput::File(path)), _) => Some(timed(
                &mut t,
                view,
                "business",
                || self.analyze_business(&cleaned.table, path),
                |b| b.results.channels.len(),
            )?),
            (Some(BusinessInput::Source(c)), Some(table)) => Some(timed(
                &mut t,
                view,
                "business",
                || {
                    let origin = std::path::Path::new(c.name());
                    let outcome = crate::business::business_outcome_from_table(table, origin)?;
                    self.analyze_business_outcome(&cleaned.table, &outcome)
                },
                |b| b.results.channels.len(),
            )?),
            _ => None,
        };
        let mut run = PipelineRun {
            sources,
            unified,
            quality,
            cleaned,
            calendar,
            enriched,
            panel,
            attribution,
            plan,
            business,
            timings: t,
            files: Vec::new(),
            postgres_tables: Vec::new(),
        };
        if self.outputs.is_some() {
            let mut timings = std::mem::take(&mut run.timings);
            let files = timed(
                &mut timings,
                view,
                "write",
                || self.write_outputs(&run),
                Vec::len,
            )?;
            run.timings = timings;
            run.files = files;
            // run.json again, now with the write stage's timing.
            if let Some(o) = &self.outputs {
                write_manifest(&run, &o.dir)?;
            }
        }
        Ok(run)
    }

    /// The business-level analysis of the cleaned table's spend against the business
    /// outcome in `path` (calibrated with the pipeline's lift tests).
    pub fn analyze_business(
        &self,
        cleaned: &RecordBatch,
        path: &std::path::Path,
    ) -> Result<liftos_causal::business::BusinessResults> {
        let outcome = crate::business::read_business_outcome(path)?;
        self.analyze_business_outcome(cleaned, &outcome)
    }

    fn analyze_business_outcome(
        &self,
        cleaned: &RecordBatch,
        outcome: &crate::business::BusinessOutcome,
    ) -> Result<liftos_causal::business::BusinessResults> {
        let (data, notes) = crate::business::business_data(
            cleaned,
            std::path::Path::new("cleaned table"),
            outcome,
            &self.calendar,
        )?;
        let (tests, test_notes) = match &self.lift_tests {
            Some(p) => crate::business::lift_tests_with_notes(
                &data,
                &crate::business::read_lift_tests(p)?,
                p,
            )?,
            None => (Vec::new(), Vec::new()),
        };
        let options = liftos_causal::business::BusinessOptions {
            seed: self.attribution.seed,
            confidence_level: self.attribution.confidence_level,
            response: liftos_causal::business::BusinessOptions::response_like(
                &self.attribution.response,
            ),
            non_negative: self.attribution.non_negative,
            common_spend: self.roles.common_spend_controls,
            ..Default::default()
        };
        let mut results = liftos_causal::analyze_business(&data, &options, &tests)?;
        results.results.diagnostics.warnings.extend(notes);
        results.results.diagnostics.warnings.extend(test_notes);
        Ok(results)
    }

    /// Writes a run's tables, results, report and `run.json` into the output
    /// directory; returns the files written (none without outputs).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file; Arrow, Parquet or report errors.
    pub fn write_outputs(&self, run: &PipelineRun) -> Result<Vec<PathBuf>> {
        let Some(o) = &self.outputs else {
            return Ok(Vec::new());
        };
        // A previous run's manifest must not describe this run's files if a write fails.
        let manifest = o.dir.join("run.json");
        if manifest.exists() {
            std::fs::remove_file(&manifest).map_err(|source| Error::Io {
                path: manifest.display().to_string(),
                source,
            })?;
        }
        let ext = o.format.extension();
        let mut files = Vec::new();
        let mut table = |name: String, batch: &RecordBatch| -> Result<()> {
            let path = o.dir.join(format!("{name}.{ext}"));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            write_table_atomically(&path, batch)?;
            files.push(path);
            Ok(())
        };
        for p in &run.sources {
            if let Some(t) = &p.table {
                table(format!("sources/{}", p.name), t)?;
            }
        }
        table("unified".into(), &run.unified.table)?;
        table("unified_quarantine".into(), &run.unified.quarantine)?;
        table("cleaned".into(), &run.cleaned.table)?;
        table("quarantine".into(), &run.cleaned.quarantine)?;
        table("calendar".into(), &run.calendar)?;
        table("enriched".into(), &run.enriched)?;
        let change_log = o.dir.join("change_log.csv");
        write_table_atomically(&change_log, &run.cleaned.change_log_table()?)?;
        files.push(change_log);
        let quality = o.dir.join("quality.json");
        write_bytes_atomically(&quality, run.quality.to_json()?.as_bytes())?;
        files.push(quality);
        let results = o.dir.join("results.json");
        write_json_atomically(&results, &attribution_json(&run.attribution))?;
        files.push(results);
        if let Some(b) = &run.business {
            let path = o.dir.join("business_results.json");
            write_json_atomically(&path, &b.to_json())?;
            files.push(path);
        }
        if let Some(plan) = &run.plan {
            let path = o.dir.join("plan.json");
            write_json_atomically(&path, &plan.to_json())?;
            files.push(path);
        }
        if o.report {
            let dir = o.dir.join("report");
            files.extend(write_report_with_quality(
                run.attribution.primary(),
                &run.enriched,
                &run.quality,
                run.plan.as_ref(),
                &dir,
            )?);
        }
        files.push(write_manifest(run, &o.dir)?);
        Ok(files)
    }
}

/// `run.json`: sources, stage timings, row accounting and files.
fn write_manifest(run: &PipelineRun, dir: &Path) -> Result<PathBuf> {
    let a = run.cleaned.accounting();
    let value = serde_json::json!({
        "sources": run.sources.iter().map(|p| serde_json::json!({
            "name": p.name, "connector": p.connector, "rows": p.rows, "batches": p.batches,
            "retries": p.retries, "seconds": p.seconds, "error": p.error,
        })).collect::<Vec<_>>(),
        "unified_rows": run.unified.table.num_rows(),
        "unified_quarantined": run.unified.quarantine.num_rows(),
        "cleaning": a,
        "model_rows": run.panel.num_rows(),
        "model_rows_left_out": run.panel.dropped.len(),
        "timings": run.timings.iter().map(|t| serde_json::json!({
            "stage": t.stage, "seconds": t.seconds, "rows": t.rows, "peak_rss_mib": t.peak_rss_mib,
        })).collect::<Vec<_>>(),
        "total_seconds": run.total_seconds(),
        "files": run.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
    });
    let path = dir.join("run.json");
    write_json_atomically(&path, &value)?;
    Ok(path)
}

/// The error of a run in which every source failed: "every source failed", then `more`,
/// then each source's name and error.
pub(crate) fn every_source_failed<'a>(
    failures: impl Iterator<Item = (&'a String, &'a Option<String>)>,
    more: &str,
) -> Error {
    let detail = failures
        .map(|(name, error)| format!("{name}: {}", error.as_deref().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("; ");
    Error::InvalidPipeline {
        field: "sources".into(),
        message: format!("every source failed{more} ({detail})"),
    }
}
