//! `liftos.toml`: a whole [`Pipeline`](crate::pipeline::Pipeline) in one file, for `liftos run` and schedulers.
//!
//! Credentials are never read from the file. Each secret comes from an environment
//! variable: the standard `LIFTOS_*` one, or the one the file names with a `<key>_env`
//! setting (`access_token_env = "META_TOKEN_PROD"`). A secret written in the file is an
//! error. Any other source setting may also name a variable the same way
//! (`base_url_env = "..."`). Settings left out fall back to their standard variables
//! (`LIFTOS_META_AD_ACCOUNT_IDS`, `LIFTOS_META_BASE_URL`, ...): each connector lists its
//! settings once, with their variables, in its config type's `KEYS`
//! ([`MetaAdsConfig::KEYS`], [`GoogleAdsConfig::KEYS`], [`KlaviyoConfig::KEYS`],
//! [`TikTokConfig::KEYS`]), and
//! this file reads that table. A platform source whose name has no mapping uses its
//! type's (a second Meta source `meta_eu` maps like `meta`); a file source needs
//! `[mapping.sources.<name>]`. Errors name the key and, where the file holds it, the line.
//!
//! The documented example is `liftos.example.toml` at the repository root:
//!
//! ```toml
//! [pipeline]
//! start = "2025-01-01"
//! end = "2025-06-30"
//!
//! [[sources]]
//! name = "meta"
//! type = "meta"
//! ad_account_ids = ["act_1234567890"]
//!
//! [[sources]]
//! name = "tiktok"
//! type = "file"
//! path = "exports/tiktok.csv"
//!
//! [mapping.sources.tiktok]
//! extends = "unified"
//!
//! [analysis]
//! model = "causal_forest"
//! confidence_level = 0.95
//!
//! [output]
//! dir = "liftos-out"
//! ```
//!
//! | Section | Keys |
//! |---|---|
//! | `[pipeline]` | `start`, `end` (YYYY-MM-DD, required), `level` (campaign), `continue_on_source_error` (false), `cluster` (`df://HOST:PORT`: file sources read on a Ballista cluster), `cluster_timeout` (seconds a file's read there may take; past it the job is cancelled) |
//! | `[http]` | timeouts and limits of every platform source: `timeout_secs` (overall deadline of a pull, 3600), `request_timeout_secs` (120), `connect_timeout_secs` (10), `max_retries` (10, per request), `retries_per_answer` (2: the pull's total is `max_retries` + this × answered requests), `max_pages` (50000), `pages_per_day` (100), `max_body_mib` (64) |
//! | `[[sources]]` | `name`, `type` (`meta`, `google_ads`, `klaviyo`, `tiktok`, `ga4`, `rest`, `postgres`, `file`), then the connector's settings; a platform source may also set any `[http]` key for itself |
//! | `[mapping]` | as a `--mapping` file: `[mapping.sources.<name>]` with `extends`, `channel`, `timezone`, `columns`, `breakdowns` |
//! | `[quality]` | as a `--rules` file: `required_fields`, `rules`, `builtin_checks`, `today`, `spike_threshold`, ... |
//! | `[clean]` | `fixes` (list; default all but currency), `reporting_currency`, `rates` (CSV/Parquet of date, currency, rate) |
//! | `[calendar]` | as a `liftos calendar --config` file: `country`, `commercial_events`, `custom_events`, `business`, `seasonality` |
//! | `[marketing]` | `enabled` (true): campaign-derived calendar features |
//! | `[business_outcome]` | `path` (a file) or `source = "shopify"` (pulled when the pipeline runs; `LIFTOS_SHOPIFY_SHOP`, `LIFTOS_SHOPIFY_ACCESS_TOKEN`, ... from the environment), `lift_tests`, `allow_negative_effects` |
//! | `[analysis]` | `outcomes`, `treatments`, `controls`, `entity`, `time`, `channel`, `model`, `trees`, `confidence_level`, `seed`, `cluster`, `adstock`, `response`, `pin_curves` (`["meta=0.3:1:1.5"]`), `assignment`, `cross_validation`, `common_spend`, `allow_negative_effects`, `credit_spillover`, `within_channel` |
//! | `[plan]` | a budget plan as the last stage (`plan.json`, a report section): `budget` (required), `period_days`, `objective` (revenue, profit, target_roas), `target_roas` (required with target_roas, refused otherwise), `margin` (a share in (0, 1]; required with profit, refused otherwise), `max_change` (0.5; a share in [0, 1]), `min`/`max` (`{ meta = 5000 }`), `hold` (list) |
//! | `[output]` (or `[outputs]`) | `dir` (liftos-out), `format` (parquet or csv), `report` (true), `postgres` (a URL without password: the run's tables are written there too), `postgres_url_env`, `postgres_password_env`, `postgres_schema`, `postgres_table_prefix` |
//! | `[sync]` | `lookback_days`: days `liftos sync` re-reads before the stored state, by source name or type (`{ meta = 28, google_ads = 28, klaviyo = 7 }`) |
//!
//! Source settings by type:
//!
//! | type | secrets (env) | other settings |
//! |---|---|---|
//! | `meta` | `access_token` (LIFTOS_META_ACCESS_TOKEN), `app_secret` (LIFTOS_META_APP_SECRET, optional) | `ad_account_ids`, `base_url`, `api_version`, `conversion_action_types`, `conversion_counting`, `attribution_windows` |
//! | `google_ads` | `developer_token`, `client_secret`, `refresh_token` (LIFTOS_GOOGLE_ADS_*) | `client_id`, `customer_ids`, `login_customer_id`, `token_url`, `base_url`, `api_version`, `query` |
//! | `klaviyo` | `api_key` (LIFTOS_KLAVIYO_API_KEY) | `conversion_metric`, `base_url`, `revision`, `cost_per_recipient`, `include_flows`, `report_daily_limit` |
//! | `tiktok` | `access_token` (LIFTOS_TIKTOK_ACCESS_TOKEN) | `advertiser_ids`, `base_url`, `api_version`, `metrics` |
//! | `ga4` | `client_secret`, `refresh_token` (LIFTOS_GA4_*) | `property_id`, `client_id`, `token_url`, `base_url`, `dimensions`, `metrics`; needs a `[mapping.sources.<name>]` |
//! | `rest` | the variables its spec names | `spec` (a declarative spec file, relative to the config file; see docs/rest/) |
//! | `file` | — | `path` (relative to the config file), `format` (csv, parquet, ndjson; default by extension) |
//! | `postgres` | the password: `password_env` names its variable, or the URL in LIFTOS_POSTGRES_URL / `url_env` holds it; a password in the file is refused | `url` (without password), `query` (`$1`/`$2` = first/last day), `batch_rows` |

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use liftos_calendar::{CalendarOptions, MarketingOptions};
use liftos_causal::plan::{Objective, PlanOptions};
use liftos_causal::{
    Adstock, AttributionModel, AttributionOptions, CausalRoles, ClusterBy, ResponseOptions,
    ResponseTransform,
    TreatmentAssignment,
};
use liftos_connectors::keys::find_key;
use liftos_core::fs::{MAX_WHOLE_FILE, read_to_string_limited};
use liftos_connectors::{
    ConfigKey, Connector, FileConnector, FileFormat, Ga4Builder, Ga4Config, GoogleAdsBuilder,
    GoogleAdsConfig, HttpSettings, KlaviyoBuilder, KlaviyoConfig, Level, MetaAdsBuilder,
    MetaAdsConfig, POSTGRES_URL_VARIABLE, PostgresBuilder, PostgresSink, Progress, RestBuilder,
    RestSpec, RetryConfig, ShopifyBuilder, TikTokBuilder, TikTokConfig, postgres_url_has_password,
};
use liftos_transform::{
    CurrencyConversion, Fixes, QualityRules, RateTable, SchemaMapping, SourceMapping,
};
use serde::Deserialize;
use toml::Spanned;

use crate::pipeline::{Outputs, PipelineBuilder, table_format};
use crate::{Error, Result};

/// A parsed `liftos.toml`.
///
/// Its `Debug` shows the sections but not the file's text nor the sources' setting
/// values (a secret written in the file by mistake must not reach a log).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// `[pipeline]`.
    pub pipeline: RunSection,
    /// `[http]`: timeouts and limits of every platform source (a source's own keys win).
    #[serde(default)]
    pub http: HttpSettings,
    /// `[[sources]]`, each with its span in the file.
    #[serde(default)]
    pub sources: Vec<Spanned<SourceSection>>,
    /// `[mapping]`, as a mapping file.
    pub mapping: Option<toml::Table>,
    /// `[quality]`.
    pub quality: Option<QualityRules>,
    /// `[clean]`.
    #[serde(default)]
    pub clean: CleanSection,
    /// `[calendar]`.
    pub calendar: Option<CalendarOptions>,
    /// `[marketing]`.
    #[serde(default)]
    pub marketing: MarketingSection,
    /// `[analysis]`.
    #[serde(default)]
    pub analysis: AnalysisSection,
    /// `[plan]`: a budget plan as the last stage.
    pub plan: Option<PlanSection>,
    /// `[business_outcome]`: the business's own revenue per day, analysed against every
    /// channel's spend at once.
    pub business_outcome: Option<BusinessOutcomeSection>,
    /// `[output]` (or `[outputs]`).
    #[serde(default, alias = "outputs")]
    pub output: OutputSection,
    /// `[sync]`: how `liftos sync` and `liftos watch` keep a store current.
    #[serde(default)]
    pub sync: SyncSection,
    /// The file's directory (relative paths are resolved against it).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file's text (for line numbers).
    #[serde(skip)]
    text: String,
    /// The file's name, for messages.
    #[serde(skip)]
    origin: String,
}

impl fmt::Debug for PipelineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineConfig")
            .field("origin", &self.origin)
            .field("pipeline", &self.pipeline)
            .field("http", &self.http)
            .field(
                "sources",
                &self
                    .sources
                    .iter()
                    .map(Spanned::get_ref)
                    .collect::<Vec<_>>(),
            )
            .field("mapping", &self.mapping.is_some())
            .field("quality", &self.quality)
            .field("clean", &self.clean)
            .field("calendar", &self.calendar)
            .field("marketing", &self.marketing)
            .field("analysis", &self.analysis)
            .field("plan", &self.plan)
            .field("output", &self.output)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SourceSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceSection")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `[pipeline]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// First day.
    pub start: Spanned<String>,
    /// Last day, inclusive.
    pub end: Spanned<String>,
    /// Row level.
    pub level: Option<Spanned<String>>,
    /// Go on when a source fails.
    #[serde(default)]
    pub continue_on_source_error: bool,
    /// `df://HOST:PORT`: the file sources are read on this Apache Ballista cluster
    /// ([`PipelineBuilder::cluster`]).
    pub cluster: Option<Spanned<String>>,
    /// Seconds each file's read on the cluster may take: past it the job is cancelled on
    /// the scheduler ([`PipelineBuilder::cluster_timeout`]).
    pub cluster_timeout: Option<Spanned<f64>>,
}

/// The kinds of `[[sources]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Meta Ads.
    Meta,
    /// Google Ads.
    GoogleAds,
    /// Klaviyo.
    Klaviyo,
    /// TikTok Ads.
    #[serde(rename = "tiktok")]
    TikTok,
    /// Any JSON API described by a declarative spec file (`spec = "path.toml"`).
    Rest,
    /// Google Analytics 4 (sessions, key events and revenue by day and channel group;
    /// needs its own mapping).
    #[serde(rename = "ga4")]
    Ga4,
    /// A CSV, Parquet or NDJSON file.
    File,
    /// A SQL query on PostgreSQL.
    Postgres,
}

/// One `[[sources]]` entry (its `Debug` lists the setting names, not their values).
#[derive(Clone, Deserialize)]
pub struct SourceSection {
    /// Name (the mapping's key).
    pub name: String,
    /// Kind.
    #[serde(rename = "type")]
    pub kind: SourceKind,
    /// The connector's settings.
    #[serde(flatten)]
    pub settings: toml::Table,
}

/// `[clean]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanSection {
    /// Fixes to apply (default: duplicates, names, missing dates).
    pub fixes: Option<Vec<String>>,
    /// Currency money is converted to (with `rates`).
    pub reporting_currency: Option<String>,
    /// Rates table (date, currency, rate).
    pub rates: Option<PathBuf>,
}

/// `[marketing]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketingSection {
    /// Whether the marketing features are joined.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for MarketingSection {
    fn default() -> Self {
        MarketingSection { enabled: true }
    }
}

fn yes() -> bool {
    true
}

/// `[analysis]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisSection {
    /// Outcome columns.
    pub outcomes: Vec<String>,
    /// Treatment columns.
    pub treatments: Vec<String>,
    /// Control columns.
    pub controls: Vec<String>,
    /// Entity column (`none` for none).
    pub entity: String,
    /// Date column.
    pub time: String,
    /// Channel column.
    pub channel: String,
    /// `causal_forest` or `dml`.
    pub model: String,
    /// Trees of the causal forest.
    pub trees: usize,
    /// Interval level.
    pub confidence_level: f64,
    /// Seed.
    pub seed: u64,
    /// `entity`, `time` or `none`.
    pub cluster: String,
    /// `none`, `auto`, `grid` or a decay (empty: `auto`, or `none` with
    /// `response = "linear"`).
    pub adstock: String,
    /// `auto` (default: carryover and saturation chosen per channel) or `linear` (the
    /// opt-out).
    pub response: String,
    /// Channels' known response curves, not searched: `CHANNEL=DECAY` or
    /// `CHANNEL=DECAY:HALF_SATURATION:SHAPE` (as `liftos analyze --pin-curve`).
    pub pin_curves: Vec<String>,
    /// `observational` or `randomized`.
    pub assignment: String,
    /// Time-blocked cross-validation.
    pub cross_validation: bool,
    /// The other campaigns' spend of the day among the controls (default `true`; see
    /// `CausalRoles::common_spend_controls`).
    pub common_spend: bool,
    /// Report effects below zero as fitted instead of at zero (campaign and business
    /// level; `[business_outcome]`'s key of the same name does the same).
    pub allow_negative_effects: bool,
    /// Credit a channel with its effect found with confidence in another channel's rows
    /// (default `true`; see `AttributionOptions::credit_spillover`).
    pub credit_spillover: bool,
    /// Count campaigns of one channel competing for one audience in its marginal return
    /// (default `true`; see `AttributionOptions::within_channel`).
    pub within_channel: bool,
}

impl Default for AnalysisSection {
    fn default() -> Self {
        AnalysisSection {
            outcomes: vec!["revenue".into()],
            treatments: vec!["spend".into()],
            controls: Vec::new(),
            entity: "campaign".into(),
            time: "date".into(),
            channel: "channel".into(),
            model: "causal_forest".into(),
            trees: 2000,
            confidence_level: 0.95,
            seed: 42,
            cluster: "entity".into(),
            adstock: String::new(),
            response: "auto".into(),
            pin_curves: Vec::new(),
            assignment: "observational".into(),
            cross_validation: true,
            common_spend: true,
            allow_negative_effects: false,
            credit_spillover: true,
            within_channel: true,
        }
    }
}

/// `[business_outcome]`: the business's own daily revenue (`date`, `revenue`[, `orders`,
/// `geo`]; CSV or Parquet) from a file (`path`) or pulled from the shop when the pipeline
/// runs (`source = "shopify"`, settings and token from the `LIFTOS_SHOPIFY_*` variables,
/// timeouts from `[http]`), and optionally lift tests to calibrate with; paths relative
/// to the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusinessOutcomeSection {
    /// The business outcome file.
    pub path: Option<PathBuf>,
    /// A source of the business outcome instead of a file: `shopify`.
    pub source: Option<String>,
    /// A lift-test file (`channel`, `start`, `end`, `incremental_revenue` or `iroas`,
    /// `standard_error`).
    pub lift_tests: Option<PathBuf>,
    /// Report effects below zero as fitted instead of at zero (campaign and business
    /// level, as `[analysis]`'s key of the same name).
    pub allow_negative_effects: bool,
}

/// `[plan]`: the budget planner as the pipeline's last stage (`plan.json`, a report
/// section). Keys as the flags of `liftos plan`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSection {
    /// Total spend to split, for the period.
    pub budget: f64,
    /// Days the budget covers (default: the data's window).
    pub period_days: Option<u32>,
    /// `revenue`, `profit` or `target_roas`.
    #[serde(default = "revenue")]
    pub objective: String,
    /// The iROAS to keep with `objective = "target_roas"`.
    pub target_roas: Option<f64>,
    /// Profit per unit of incremental revenue, a share in (0, 1]: required with
    /// `objective = "profit"`, refused with the others.
    pub margin: Option<f64>,
    /// Most relative move of a channel (0.5 = ±50%).
    #[serde(default = "half")]
    pub max_change: f64,
    /// Least spend per channel, `{ meta = 5000 }`.
    #[serde(default)]
    pub min: std::collections::BTreeMap<String, f64>,
    /// Most spend per channel.
    #[serde(default)]
    pub max: std::collections::BTreeMap<String, f64>,
    /// Channels kept at their current spend.
    #[serde(default)]
    pub hold: Vec<String>,
}

fn revenue() -> String {
    "revenue".into()
}

fn half() -> f64 {
    0.5
}

/// `[output]` (also spelled `[outputs]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSection {
    /// Output directory (relative to the config file).
    pub dir: PathBuf,
    /// `parquet` or `csv`.
    pub format: String,
    /// Whether to write the report.
    pub report: bool,
    /// PostgreSQL URL without a password (`postgres://user@host/db`): the pipeline's
    /// tables are also written there.
    pub postgres: Option<String>,
    /// The variable holding the whole PostgreSQL URL instead of `postgres`.
    pub postgres_url_env: Option<String>,
    /// The variable holding the PostgreSQL password.
    pub postgres_password_env: Option<String>,
    /// The schema the tables are written into (default: the search path's).
    pub postgres_schema: Option<String>,
    /// A prefix of the written tables' names.
    pub postgres_table_prefix: Option<String>,
}

impl Default for OutputSection {
    fn default() -> Self {
        OutputSection {
            dir: PathBuf::from("liftos-out"),
            format: "parquet".into(),
            report: true,
            postgres: None,
            postgres_url_env: None,
            postgres_password_env: None,
            postgres_schema: None,
            postgres_table_prefix: None,
        }
    }
}

/// `[sync]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSection {
    /// Days re-read before the stored state at every sync, by source name or type
    /// (`{ meta = 28, google_ads = 28, klaviyo = 7 }`, the defaults).
    pub lookback_days: std::collections::BTreeMap<String, u32>,
}

/// The settings of a platform source type (empty for files): the connector's key table.
fn keys(kind: SourceKind) -> &'static [ConfigKey] {
    match kind {
        SourceKind::Meta => MetaAdsConfig::KEYS,
        SourceKind::GoogleAds => GoogleAdsConfig::KEYS,
        SourceKind::Klaviyo => KlaviyoConfig::KEYS,
        SourceKind::TikTok => TikTokConfig::KEYS,
        SourceKind::Ga4 => Ga4Config::KEYS,
        SourceKind::Rest | SourceKind::File | SourceKind::Postgres => &[],
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.bytes().filter(|b| *b == b'\n').count())
        + 1
}

impl PipelineConfig {
    /// Parses a config; `origin` names it in messages, `base_dir` resolves relative paths.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the key and line (TOML syntax, unknown keys, wrong
    /// types).
    pub fn from_toml_str(text: &str, origin: &str, base_dir: &Path) -> Result<Self> {
        let mut config: PipelineConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            Error::Config {
                origin: origin.to_owned(),
                key: e.span().map(|s| key_at(text, s.start)).unwrap_or_default(),
                line,
                message: without_values(e.message().trim()),
            }
        })?;
        config.base_dir = base_dir.to_path_buf();
        config.text = text.to_owned();
        config.origin = origin.to_owned();
        // Checked at load, with the key and its line (not when the analysis starts).
        const TYPES: [&str; 8] = [
            "meta",
            "google_ads",
            "klaviyo",
            "tiktok",
            "ga4",
            "rest",
            "file",
            "postgres",
        ];
        for (name, days) in &config.sync.lookback_days {
            let key = format!("sync.lookback_days.{name}");
            let known = TYPES.contains(&name.as_str())
                || config.sources.iter().any(|s| &s.get_ref().name == name);
            if !known {
                let sources: Vec<&str> = config
                    .sources
                    .iter()
                    .map(|s| s.get_ref().name.as_str())
                    .collect();
                return Err(config.err(
                    key,
                    config.locate("sync.lookback_days"),
                    format!(
                        "`{name}` is neither a source of this file ({}) nor a source type ({})",
                        if sources.is_empty() { "none".to_owned() } else { sources.join(", ") },
                        TYPES.join(", ")
                    ),
                ));
            }
            if *days == 0 {
                return Err(config.err(
                    key,
                    config.locate("sync.lookback_days"),
                    "must be at least 1 (the days re-read before the stored state; 1 re-reads the last synced day)",
                ));
            }
        }
        if config.analysis.trees == 0 {
            return Err(config.err(
                "analysis.trees",
                None,
                "must be at least 1 (the causal forest needs trees; 2000 is the default)",
            ));
        }
        Ok(config)
    }

    /// The config's settings as TOML, for a record of what a run used (`watch` writes
    /// it as `models/<id>/settings.toml`): parsed again from the file, so its comments
    /// (which may hold anything) are left out, and with every value that may be a
    /// secret replaced by `"(redacted)"`: secret settings, `*_env` values that are not
    /// UPPER_CASE variable names, credentials in URLs and keys that name a password,
    /// secret, token or key.
    pub fn redacted_settings(&self) -> String {
        fn redact(key: &str, value: &mut toml::Value) {
            let lower = key.to_ascii_lowercase();
            match value {
                toml::Value::Table(t) => {
                    for (k, v) in t.iter_mut() {
                        redact(k, v);
                    }
                }
                toml::Value::Array(a) => {
                    for v in a.iter_mut() {
                        redact(key, v);
                    }
                }
                toml::Value::String(text) => {
                    let secret_name = ["password", "secret", "token", "api_key", "credential"]
                        .iter()
                        .any(|w| lower.contains(w));
                    let hidden = if lower.ends_with("_env") {
                        !shows_as_variable_name(text)
                    } else {
                        secret_name || url_has_credentials(text)
                    };
                    if hidden {
                        *text = "(redacted)".to_owned();
                    }
                }
                _ => {}
            }
        }
        let Ok(mut table) = toml::from_str::<toml::Table>(&self.text) else {
            return String::new();
        };
        for (k, v) in table.iter_mut() {
            redact(k, v);
        }
        toml::to_string(&table).unwrap_or_default()
    }

    /// Reads and parses a config file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read or holds more than
    /// [`MAX_WHOLE_FILE`] (64 MiB); [`Error::Config`] as
    /// [`from_toml_str`](Self::from_toml_str).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = read_to_string_limited(path, MAX_WHOLE_FILE).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::from_toml_str(&text, &path.display().to_string(), dir)
    }

    /// Refuses setting `k` of a source written in the config file when it is a secret
    /// (`keys`): the error names the variable to set instead, never the value.
    fn refuse_written_secret(
        &self,
        keys: &[ConfigKey],
        k: &str,
        key: String,
        at: Option<std::ops::Range<usize>>,
    ) -> Result<()> {
        if let Some(ConfigKey {
            variable: Some(var),
            secret: true,
            ..
        }) = find_key(keys, k)
        {
            return Err(self.err(
                key,
                at,
                format!(
                    "credentials are never read from the config file: remove `{k}` and set {var}, or name another variable with `{k}_env`"
                ),
            ));
        }
        Ok(())
    }

    fn err(
        &self,
        key: impl Into<String>,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) -> Error {
        let key = key.into();
        let span = span.or_else(|| self.locate(&key));
        Error::Config {
            origin: self.origin.clone(),
            key,
            line: span.map(|s| line_of(&self.text, s.start)),
            message: message.into(),
        }
    }

    /// The line of `section.key` (or of `[section]`) in the file, when it is there.
    fn locate(&self, key: &str) -> Option<std::ops::Range<usize>> {
        let (section, field) = match key.split_once('.') {
            Some((s, f)) => (s, Some(f)),
            None => (key, None),
        };
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            let t = line.trim();
            if t == format!("[{section}]") || t.starts_with(&format!("[{section}.")) {
                let header = offset..offset + line.len();
                return Some(match field {
                    Some(f) => self.key_span(header, f),
                    None => header,
                });
            }
            offset += line.len();
        }
        None
    }

    /// The span of `key`'s line in the table starting at `span` (up to the next table
    /// header), else `span`.
    /// The environment variable a `*_env` setting `v` names, and its value. A setting
    /// that is not a variable name is never echoed (it may be a pasted secret).
    fn named_variable<'v>(
        &self,
        key: String,
        at: Option<std::ops::Range<usize>>,
        v: &'v toml::Value,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(&'v str, String)> {
        let var = v.as_str().filter(|n| is_variable_name(n)).ok_or_else(|| {
            self.err(
                key.clone(),
                at.clone(),
                "must be the name of an environment variable (letters, digits, `_`)",
            )
        })?;
        let value = lookup(var).filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            let message = if shows_as_variable_name(var) {
                format!("environment variable {var} is not set")
            } else {
                // Not an UPPER_CASE name: it may be a pasted secret, never echoed.
                "the environment variable it names is not set (the name is not shown: it does not look like a variable name and may be a secret; name an UPPER_CASE variable)".to_owned()
            };
            self.err(key, at, message)
        })?;
        Ok((var, value))
    }

    fn key_span(&self, span: std::ops::Range<usize>, key: &str) -> std::ops::Range<usize> {
        let body = self.text.get(span.start..).unwrap_or_default();
        let mut offset = span.start;
        for (i, line) in body.split_inclusive('\n').enumerate() {
            let rest = line.trim_start();
            if i > 0 && rest.starts_with('[') {
                break;
            }
            if let Some(after) = rest.strip_prefix(key)
                && after.trim_start().starts_with('=')
            {
                return offset..offset + line.len();
            }
            offset += line.len();
        }
        span
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    fn date(&self, key: &str, value: &Spanned<String>) -> Result<NaiveDate> {
        value.get_ref().trim().parse().map_err(|_| {
            self.err(
                key,
                Some(value.span()),
                format!("`{}` is not a date (YYYY-MM-DD)", value.get_ref()),
            )
        })
    }

    /// The first and last day.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a malformed date or an end before the start.
    pub fn date_range(&self) -> Result<(NaiveDate, NaiveDate)> {
        let start = self.date("pipeline.start", &self.pipeline.start)?;
        let end = self.date("pipeline.end", &self.pipeline.end)?;
        if end < start {
            return Err(self.err(
                "pipeline.end",
                Some(self.pipeline.end.span()),
                format!("{end} is before pipeline.start {start}"),
            ));
        }
        Ok((start, end))
    }

    /// Builds the connector of source `index`, reading its secrets with `lookup` (the
    /// process environment in [`to_builder`](Self::to_builder)).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the source key and line: a secret written in the file,
    /// a variable that is not set, an unknown setting; the connector's own errors.
    pub fn connector(
        &self,
        index: usize,
        lookup: &dyn Fn(&str) -> Option<String>,
        progress: Progress,
    ) -> Result<Box<dyn Connector>> {
        self.connector_and_settings(index, lookup, progress)
            .map(|(c, _)| c)
    }

    /// [`connector`](Self::connector), with a fingerprint of what its settings ask
    /// ([`settings_fingerprint`]).
    fn connector_and_settings(
        &self,
        index: usize,
        lookup: &dyn Fn(&str) -> Option<String>,
        progress: Progress,
    ) -> Result<(Box<dyn Connector>, String)> {
        let spanned = &self.sources[index];
        let span = Some(spanned.span());
        let source = spanned.get_ref();
        if source.kind == SourceKind::Postgres {
            let query: toml::Table = source
                .settings
                .iter()
                .filter(|(k, _)| k.as_str() == "query")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            return Ok((
                self.postgres_connector(index, lookup)?,
                settings_fingerprint(&[], &query),
            ));
        }
        let key = |k: &str| format!("sources[{index}].{k}");
        let mut settings = toml::Table::new();
        let mut http = toml::Table::new();
        let keys = keys(source.kind);
        for (k, v) in &source.settings {
            let at = span.clone().map(|s| self.key_span(s, k));
            if k.ends_with("_url")
                && let Some(url) = v.as_str()
                && url_has_credentials(url)
            {
                return Err(self.err(
                    key(k),
                    at,
                    "a URL in the config file must not hold credentials (`user:password@`); remove them (the value is not shown)",
                ));
            }
            if source.kind != SourceKind::File && HttpSettings::KEYS.contains(&k.as_str()) {
                http.insert(k.clone(), v.clone());
                continue;
            }
            self.refuse_written_secret(keys, k, key(k), at.clone())?;
            if let Some(base) = k.strip_suffix("_env") {
                let (var, value) = self.named_variable(key(k), at.clone(), v, lookup)?;
                let value = setting_value(find_key(keys, base), var, &value)
                    .map_err(|e| self.err(key(k), at.clone(), e))?;
                settings.insert(base.to_owned(), value);
            } else {
                settings.insert(k.clone(), v.clone());
            }
        }
        // Settings the file leaves out: their standard variables; a required one that
        // is set nowhere is named here, with its variable.
        for k in keys {
            if settings.contains_key(k.name) {
                continue;
            }
            let Some(var) = k.variable else { continue };
            match lookup(var).filter(|s| !s.trim().is_empty()) {
                Some(v) => {
                    let value = setting_value(Some(k), var, &v)
                        .map_err(|e| self.err(key(k.name), span.clone(), e))?;
                    settings.insert(k.name.to_owned(), value);
                }
                None if k.required => {
                    let hint = if k.secret {
                        format!("set {var} (or name another variable with `{}_env`)", k.name)
                    } else {
                        format!(
                            "set `{}` here, or {var} (or name another variable with `{}_env`)",
                            k.name, k.name
                        )
                    };
                    return Err(self.err(key(k.name), span.clone(), hint));
                }
                None => {}
            }
        }
        let bad = |e: toml::de::Error| {
            let message = without_values(e.message().trim());
            // Point at the offending setting's line when the message names it.
            let field = message
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next());
            let at = match (span.clone(), field) {
                (Some(s), Some(f)) => Some(self.key_span(s, f)),
                (s, _) => s,
            };
            self.err(format!("sources[{index}] ({})", source.name), at, message)
        };
        let table = |settings: toml::Table| toml::Value::Table(settings);
        let retry = || -> Result<RetryConfig> {
            let own = HttpSettings::deserialize(table(http.clone())).map_err(bad)?;
            self.http
                .overridden_by(&own)
                .apply(&source.name, RetryConfig::default())
                .map_err(|e| {
                    let at = if own == HttpSettings::default() {
                        self.locate("http")
                    } else {
                        span.clone()
                    };
                    self.err(
                        format!("sources[{index}] ({})", source.name),
                        at,
                        e.to_string(),
                    )
                })
        };
        // A platform source: its config table, then the builder with the retry policy.
        macro_rules! platform {
            ($config:ty, $builder:ty) => {{
                let c = <$config>::deserialize(table(settings)).map_err(bad)?;
                let connector: Box<dyn Connector> = Box::new(
                    <$builder>::from_config(c)
                        .with_retry(retry()?)
                        .with_progress(progress)
                        .build()?,
                );
                connector
            }};
        }
        let mut fingerprint = settings_fingerprint(keys, &settings);
        let connector = match source.kind {
            SourceKind::File => self.file_connector(index, &settings)?,
            SourceKind::Rest => {
                let connector =
                    self.rest_connector(index, &settings, retry()?, progress, lookup)?;
                // The spec decides what each stored column holds (its fields, its
                // mapping of the response): a changed spec re-reads the source in full.
                // It holds no secret (those are variables it names).
                if let Some(text) = settings
                    .get("spec")
                    .and_then(toml::Value::as_str)
                    .and_then(|p| {
                        read_to_string_limited(&self.resolve(Path::new(p)), MAX_WHOLE_FILE).ok()
                    })
                {
                    fingerprint = format!("{fingerprint}; spec {}", crate::sync::fnv64(&text));
                }
                connector
            }
            SourceKind::Postgres => self.postgres_connector(index, lookup)?,
            SourceKind::Meta => platform!(MetaAdsConfig, MetaAdsBuilder),
            SourceKind::GoogleAds => platform!(GoogleAdsConfig, GoogleAdsBuilder),
            SourceKind::Klaviyo => platform!(KlaviyoConfig, KlaviyoBuilder),
            SourceKind::Ga4 => platform!(Ga4Config, Ga4Builder),
            SourceKind::TikTok => platform!(TikTokConfig, TikTokBuilder),
        };
        Ok((connector, fingerprint))
    }

    /// A `type = "rest"` source: its spec file (relative to the config file); the
    /// variables the spec names are read with `lookup`.
    fn rest_connector(
        &self,
        index: usize,
        t: &toml::Table,
        retry: RetryConfig,
        progress: Progress,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn Connector>> {
        let span = Some(self.sources[index].span());
        let key = |k: &str| format!("sources[{index}].{k}");
        for k in t.keys() {
            if k != "spec" {
                return Err(self.err(
                    key(k),
                    span.clone(),
                    "unknown setting of a rest source (spec, and the [http] keys)",
                ));
            }
        }
        let path = t.get("spec").and_then(toml::Value::as_str).ok_or_else(|| {
            self.err(
                key("spec"),
                span.clone(),
                "a rest source needs `spec`, the path of its spec file (see docs/rest/)",
            )
        })?;
        let spec = RestSpec::from_toml_file(self.resolve(Path::new(path)))
            .map_err(|e| self.err(key("spec"), span.clone(), e.to_string()))?;
        let mut names: Vec<String> = spec
            .secret_variables()
            .into_iter()
            .map(str::to_owned)
            .collect();
        names.extend(spec.request.accounts_env.clone());
        let vars: std::collections::HashMap<String, String> = names
            .into_iter()
            .filter_map(|n| lookup(&n).map(|v| (n, v)))
            .collect();
        Ok(Box::new(
            RestBuilder::new(spec)
                .with_env(move |k| vars.get(k).cloned())
                .with_retry(retry)
                .with_progress(progress)
                .build()?,
        ))
    }

    /// The connection of a PostgreSQL source (`sources[index]`) or of the output
    /// (`index` `None`): the URL from `url` (without a password), `url_env` or
    /// LIFTOS_POSTGRES_URL; the password from the variable `password_env` names, or the
    /// variable's URL. A password written in the file is refused, never echoed.
    fn postgres_builder(
        &self,
        key: &dyn Fn(&str) -> String,
        span: Option<std::ops::Range<usize>>,
        url: Option<&toml::Value>,
        url_env: Option<&toml::Value>,
        password_env: Option<&toml::Value>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PostgresBuilder> {
        let at = |k: &str| span.clone().map(|s| self.key_span(s, k));
        // The value of the variable a `*_env` setting names.
        let variable = |k: &str, v: &toml::Value| {
            let (_, value) = self.named_variable(key(k), at(k), v, lookup)?;
            Ok::<_, Error>(value)
        };
        let mut b = PostgresBuilder::new();
        match (url, url_env) {
            (Some(_), Some(_)) => {
                return Err(self.err(key("url"), at("url"), "set `url` or `url_env`, not both"));
            }
            (Some(u), None) => {
                let u = u
                    .as_str()
                    .ok_or_else(|| self.err(key("url"), at("url"), "must be a string"))?;
                if postgres_url_has_password(u) {
                    return Err(self.err(
                        key("url"),
                        at("url"),
                        "passwords are never read from the config file: remove the password from `url` and name the variable that holds it with `password_env = \"NAME\"` (or put the whole URL in LIFTOS_POSTGRES_URL)",
                    ));
                }
                b = b.with_url(u);
            }
            (None, Some(v)) => b = b.with_url(variable("url_env", v)?),
            (None, None) => {
                let u = lookup(POSTGRES_URL_VARIABLE)
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| {
                        self.err(
                            key("url"),
                            span.clone(),
                            format!(
                                "set `url` (without the password) and `password_env`, or {POSTGRES_URL_VARIABLE}"
                            ),
                        )
                    })?;
                b = b.with_url(u);
            }
        }
        if let Some(v) = password_env {
            let password = variable("password_env", v)?;
            b = b.with_password(password.into());
        }
        Ok(b)
    }

    fn postgres_connector(
        &self,
        index: usize,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn Connector>> {
        let span = Some(self.sources[index].span());
        let source = self.sources[index].get_ref();
        let t = &source.settings;
        let key = |k: &str| format!("sources[{index}].{k}");
        for k in t.keys() {
            if k == "password" {
                return Err(self.err(
                    key(k),
                    span.clone().map(|s| self.key_span(s, k)),
                    "passwords are never read from the config file: remove `password` and name the variable that holds it with `password_env = \"NAME\"`",
                ));
            }
            if !["url", "url_env", "password_env", "query", "batch_rows"].contains(&k.as_str()) {
                return Err(self.err(
                    key(k),
                    span.clone().map(|s| self.key_span(s, k)),
                    "unknown setting of a postgres source (url, url_env, password_env, query, batch_rows)",
                ));
            }
        }
        let mut b = self.postgres_builder(
            &key,
            span.clone(),
            t.get("url"),
            t.get("url_env"),
            t.get("password_env"),
            lookup,
        )?;
        let query = t
            .get("query")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| {
                self.err(
                    key("query"),
                    span.clone(),
                    "a postgres source needs `query`",
                )
            })?;
        b = b.with_query(query).with_name(source.name.clone());
        if let Some(n) = t.get("batch_rows") {
            let n = n
                .as_integer()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    self.err(
                        key("batch_rows"),
                        span.clone(),
                        "must be a whole number ≥ 1",
                    )
                })?;
            b = b.with_batch_rows(n);
        }
        Ok(Box::new(b.build()?))
    }

    /// The `[output]` PostgreSQL sink, when `postgres` (or `postgres_url_env`) is set.
    fn postgres_sink(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<PostgresSink>> {
        let o = &self.output;
        if o.postgres.is_none() && o.postgres_url_env.is_none() {
            return Ok(None);
        }
        let key = |k: &str| format!("output.{}", if k == "url" { "postgres" } else { k });
        let url = o.postgres.clone().map(toml::Value::String);
        let url_env = o.postgres_url_env.clone().map(toml::Value::String);
        let password_env = o.postgres_password_env.clone().map(toml::Value::String);
        let mut b = self
            .postgres_builder(
                &|k| match k {
                    "url_env" => "output.postgres_url_env".to_owned(),
                    "password_env" => "output.postgres_password_env".to_owned(),
                    other => key(other),
                },
                self.locate("output"),
                url.as_ref(),
                url_env.as_ref(),
                password_env.as_ref(),
                lookup,
            )
            .map_err(|e| match e {
                // The output's keys are `postgres*`: point at the section.
                Error::Config {
                    origin,
                    key,
                    message,
                    ..
                } => Error::Config {
                    line: self.locate("output").map(|s| line_of(&self.text, s.start)),
                    origin,
                    key,
                    message: message
                        .replace("`url_env`", "`postgres_url_env`")
                        .replace("`password_env", "`postgres_password_env")
                        .replace("from `url`", "from `postgres`"),
                },
                other => other,
            })?;
        if let Some(s) = &o.postgres_schema {
            b = b.with_schema(s.clone());
        }
        if let Some(p) = &o.postgres_table_prefix {
            b = b.with_table_prefix(p.clone());
        }
        b.build_sink()
            .map(Some)
            .map_err(|e| self.err("output.postgres", None, e.to_string()))
    }

    fn file_connector(&self, index: usize, t: &toml::Table) -> Result<Box<dyn Connector>> {
        let span = Some(self.sources[index].span());
        let key = |k: &str| format!("sources[{index}].{k}");
        for k in t.keys() {
            if k != "path" && k != "format" {
                return Err(self.err(
                    key(k),
                    span.clone(),
                    "unknown setting of a file source (path, format)",
                ));
            }
        }
        let path = t
            .get("path")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| self.err(key("path"), span.clone(), "a file source needs `path`"))?;
        let mut c = FileConnector::new(self.resolve(Path::new(path)))?;
        if let Some(f) = t.get("format") {
            let name = f.as_str().unwrap_or_default();
            let Some(format) = FileFormat::from_name(name) else {
                return Err(self.err(
                    key("format"),
                    span,
                    format!("`{name}` is not a file format (csv, parquet, ndjson)"),
                ));
            };
            c = c.with_format(format);
        }
        Ok(Box::new(c))
    }

    /// The pipeline this config describes, with secrets from the process environment.
    /// No network call is made; [`PipelineBuilder::build`] then checks the rest.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the key (and line) of the first problem.
    pub fn to_builder(&self) -> Result<PipelineBuilder> {
        self.to_builder_with(&|k| std::env::var(k).ok())
    }

    /// [`to_builder`](Self::to_builder) with secrets and settings from `lookup`.
    ///
    /// # Errors
    ///
    /// As [`to_builder`](Self::to_builder).
    pub fn to_builder_with(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PipelineBuilder> {
        self.builder(lookup, None)
    }

    /// The pipeline this config describes, its sources read from the store in `store`
    /// (kept by `liftos sync`) instead of pulled: `liftos run --store`. The sources'
    /// connectors are not built, so their credentials and settings from the environment
    /// (`LIFTOS_META_ACCESS_TOKEN`, `LIFTOS_META_AD_ACCOUNT_IDS`, ...) are not needed; a
    /// secret written in the file is still an error. The other sections are read as by
    /// [`to_builder`](Self::to_builder), with their secrets from the process
    /// environment (a Shopify business outcome and a PostgreSQL output still connect).
    ///
    /// # Errors
    ///
    /// As [`to_builder`](Self::to_builder).
    pub fn to_store_builder(&self, store: &Path) -> Result<PipelineBuilder> {
        self.to_store_builder_with(store, &|k| std::env::var(k).ok())
    }

    /// [`to_store_builder`](Self::to_store_builder) with the other sections' secrets
    /// and settings from `lookup`.
    ///
    /// # Errors
    ///
    /// As [`to_builder`](Self::to_builder).
    pub fn to_store_builder_with(
        &self,
        store: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PipelineBuilder> {
        Ok(self.builder(lookup, Some(store))?.store(store))
    }

    /// A source read from a store: what of its settings can be checked without its
    /// connector. A secret or a URL with credentials written in the file is refused, as
    /// when the source is pulled.
    fn check_stored_source(&self, index: usize) -> Result<()> {
        let spanned = &self.sources[index];
        let span = spanned.span();
        let source = spanned.get_ref();
        let key = |k: &str| format!("sources[{index}].{k}");
        let keys = keys(source.kind);
        for (k, v) in &source.settings {
            let at = Some(self.key_span(span.clone(), k));
            let url = v.as_str().unwrap_or_default();
            let credentials = match source.kind {
                SourceKind::Postgres => {
                    k == "password" || (k == "url" && postgres_url_has_password(url))
                }
                _ => k.ends_with("_url") && url_has_credentials(url),
            };
            if credentials {
                return Err(self.err(
                    key(k),
                    at,
                    "credentials are never read from the config file (the value is not shown): name the variable that holds them with a `_env` setting",
                ));
            }
            self.refuse_written_secret(keys, k, key(k), at.clone())?;
        }
        Ok(())
    }

    /// The builder, with the sources pulled by their connectors, or read from `store`.
    fn builder(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        store: Option<&Path>,
    ) -> Result<PipelineBuilder> {
        let (start, end) = self.date_range()?;
        let mut b = PipelineBuilder::default()
            .date_range(start, end)
            .continue_on_source_error(self.pipeline.continue_on_source_error);
        if let Some(level) = &self.pipeline.level {
            let parsed = level
                .get_ref()
                .parse::<Level>()
                .map_err(|e| self.err("pipeline.level", Some(level.span()), e.to_string()))?;
            b = b.level(parsed);
        }
        if let Some(url) = &self.pipeline.cluster {
            crate::pipeline::parse_cluster(url.get_ref())
                .map_err(|e| self.err("pipeline.cluster", Some(url.span()), e))?;
            b = b.cluster(url.get_ref().as_str());
        }
        if let Some(secs) = &self.pipeline.cluster_timeout {
            let value = *secs.get_ref();
            if !(value > 0.0 && value <= 31_536_000.0) {
                return Err(self.err(
                    "pipeline.cluster_timeout",
                    Some(secs.span()),
                    format!("{value} is not a time limit: seconds, more than 0 and at most a year"),
                ));
            }
            b = b.cluster_timeout(std::time::Duration::from_secs_f64(value));
        }
        if self.sources.is_empty() {
            return Err(self.err("sources", None, "add at least one [[sources]] entry"));
        }
        for (i, s) in self.sources.iter().enumerate() {
            if let Some(dir) = store {
                // Read from the store: no connector, so no credentials asked.
                self.check_stored_source(i)?;
                let name = s.get_ref().name.clone();
                b = b.source(name.clone(), crate::sync::StoreConnector::new(dir, name));
                continue;
            }
            let progress = Progress::default();
            let (c, settings) = self.connector_and_settings(i, lookup, progress.clone())?;
            let name = s.get_ref().name.clone();
            b = b
                .source_with_progress(name.clone(), c, progress)
                .source_settings(&name, settings);
        }
        let mut mapping = match &self.mapping {
            Some(m) => {
                let text =
                    toml::to_string(m).map_err(|e| self.err("mapping", None, e.to_string()))?;
                SchemaMapping::from_toml_str(&text)
                    .map_err(|e| self.err("mapping", None, e.to_string()))?
            }
            None => SchemaMapping::default(),
        };
        // A platform source without its own mapping uses its type's (e.g. a second Meta
        // source called `meta_eu`); a file source must say how its columns map.
        // A file source needs a section of its own in `[mapping]`: the built-in mapping
        // of a platform that shares its name (a file called `tiktok`) would not fit it.
        let explicit = |name: &str| {
            self.mapping
                .as_ref()
                .and_then(|m| m.get("sources"))
                .and_then(toml::Value::as_table)
                .is_some_and(|t| t.contains_key(name))
        };
        for (i, spanned) in self.sources.iter().enumerate() {
            let s = spanned.get_ref();
            let known = match s.kind {
                SourceKind::File | SourceKind::Ga4 | SourceKind::Postgres => explicit(&s.name),
                SourceKind::Rest => explicit(&s.name) || mapping.resolve(&s.name).is_some(),
                _ => mapping.source(&s.name).is_some(),
            };
            if known {
                continue;
            }
            let preset = match s.kind {
                SourceKind::Meta => SourceMapping::meta(),
                SourceKind::GoogleAds => SourceMapping::google_ads(),
                SourceKind::Klaviyo => SourceMapping::klaviyo(),
                SourceKind::TikTok => SourceMapping::tiktok(),
                SourceKind::File | SourceKind::Rest | SourceKind::Ga4 | SourceKind::Postgres => {
                    return Err(self.err(
                        format!("sources[{i}]"),
                        Some(spanned.span()),
                        format!(
                            "{} source `{}` has no mapping: add [mapping.sources.{}] with `extends = \"unified\"` (columns in the unified layout) or its columns",
                            match s.kind {
                                SourceKind::File => "file",
                                SourceKind::Ga4 => "ga4",
                                SourceKind::Postgres => "postgres",
                                _ => "rest",
                            },
                            s.name,
                            s.name
                        ),
                    ));
                }
            };
            mapping = mapping.with_source(s.name.clone(), preset);
        }
        b = b.mapping(mapping);
        if let Some(q) = &self.quality {
            b = b.quality_rules(q.clone());
        }
        b = b.fixes(self.fixes()?);
        if let Some(c) = &self.calendar {
            b = b.calendar(c.clone());
        }
        b = b.marketing_features(self.marketing.enabled.then(MarketingOptions::default));
        let (roles, attribution) = self.analysis()?;
        b = b.roles(roles).attribution(attribution);
        if let Some(p) = &self.plan {
            b = b.plan(self.plan_options(p)?);
        }
        if let Some(bo) = &self.business_outcome {
            b = match (&bo.path, bo.source.as_deref()) {
                (Some(path), None) => b.business_outcome(self.resolve(path)),
                (None, Some("shopify")) => {
                    let retry = self
                        .http
                        .apply("shopify", RetryConfig::default())
                        .map_err(|e| self.err("http", None, e.to_string()))?;
                    let c = ShopifyBuilder::from_env_with(|k| lookup(k))
                        .with_retry(retry)
                        .build()
                        .map_err(|e| self.err("business_outcome.source", None, e.to_string()))?;
                    b.business_outcome_source(c)
                }
                (None, Some(other)) => {
                    return Err(self.err(
                        "business_outcome.source",
                        None,
                        format!("`{other}` is not a source of the business outcome (shopify)"),
                    ));
                }
                (Some(_), Some(_)) | (None, None) => {
                    return Err(self.err(
                        "business_outcome",
                        None,
                        "set either `path` (a file) or `source = \"shopify\"`",
                    ));
                }
            };
            b = b.allow_negative_effects(bo.allow_negative_effects);
            if let Some(t) = &bo.lift_tests {
                b = b.lift_tests(self.resolve(t));
            }
        }
        let o = &self.output;
        let format = table_format(&o.format).map_err(|_| {
            self.err(
                "output.format",
                None,
                format!("`{}` is not a table format (parquet or csv)", o.format),
            )
        })?;
        b = b.outputs(
            Outputs::new(self.resolve(&o.dir))
                .with_format(format)
                .with_report(o.report),
        );
        if let Some(sink) = self.postgres_sink(lookup)? {
            b = b.postgres_output(sink);
        }
        Ok(b)
    }

    fn plan_options(&self, p: &PlanSection) -> Result<PlanOptions> {
        let objective = Objective::parse(&p.objective, p.margin, p.target_roas).map_err(|e| {
            let key = match &e {
                liftos_causal::Error::InvalidParameter { name, .. } => format!("plan.{name}"),
                _ => "plan.objective".to_string(),
            };
            self.err(key, None, e.to_string())
        })?;
        let mut options = PlanOptions::new(p.budget)
            .with_objective(objective)
            .with_max_change(p.max_change);
        options.period_days = p.period_days;
        options.min_spend = p.min.clone();
        options.max_spend = p.max.clone();
        options.hold = p.hold.clone();
        options.validate().map_err(|e| {
            let key = match &e {
                liftos_causal::Error::InvalidParameter { name, .. } => match *name {
                    "min_spend" => "plan.min".to_string(),
                    "max_spend" => "plan.max".to_string(),
                    other => format!("plan.{other}"),
                },
                _ => "plan".to_string(),
            };
            self.err(key, None, e.to_string())
        })?;
        Ok(options)
    }

    fn fixes(&self) -> Result<Fixes> {
        let c = &self.clean;
        let conversion = match (&c.reporting_currency, &c.rates) {
            (Some(currency), Some(rates)) => {
                let path = self.resolve(rates);
                let table = liftos_transform::read_table(&path)?;
                Some(CurrencyConversion::new(
                    currency.clone(),
                    RateTable::from_batch(&table)?,
                ))
            }
            (None, None) => None,
            _ => {
                return Err(self.err(
                    "clean.rates",
                    None,
                    "reporting_currency and rates go together",
                ));
            }
        };
        match &c.fixes {
            None => Ok(match conversion {
                Some(conv) => Fixes::default().with_currency(conv),
                None => Fixes::default(),
            }),
            Some(list) => {
                if conversion.is_some() && !list.iter().any(|f| f == "standardize_currency") {
                    return Err(self.err(
                        "clean.fixes",
                        None,
                        "reporting_currency and rates are set but `standardize_currency` is not in the list",
                    ));
                }
                Fixes::from_list(&list.join(","), conversion)
                    .map_err(|e| self.err("clean.fixes", None, e.to_string()))
            }
        }
    }

    fn analysis(&self) -> Result<(CausalRoles, AttributionOptions)> {
        let a = &self.analysis;
        let at = |k: &str| format!("analysis.{k}");
        let model = AttributionModel::parse(&a.model)
            .map_err(|e| self.err(at("model"), None, e.to_string()))?
            .with_num_trees(a.trees);
        let response = ResponseOptions::parse(&a.response)
            .map_err(|e| self.err(at("response"), None, e.to_string()))?;
        let response = a.pin_curves.iter().try_fold(response, |r, p| {
            let (channel, transform) = ResponseTransform::parse_pin(p)
                .map_err(|e| self.err(at("pin_curves"), None, e.to_string()))?;
            Ok::<_, Error>(r.pin(channel, transform))
        })?;
        let adstock = if a.adstock.trim().is_empty() {
            response.default_adstock()
        } else {
            Adstock::parse(&a.adstock).map_err(|_| {
                self.err(
                    at("adstock"),
                    None,
                    "`none`, `auto`, `grid` or a decay in [0, 1)",
                )
            })?
        };
        let entity = (a.entity != "none").then_some(a.entity.as_str());
        let roles = CausalRoles::new(&a.treatments, &a.outcomes, &a.controls)
            .with_time_variable(Some(&a.time))
            .with_entity_variable(entity)
            .with_channel_variable(Some(&a.channel))
            .with_adstock(adstock)
            .with_common_spend_controls(a.common_spend)
            .with_treatment_assignment(
                TreatmentAssignment::parse(&a.assignment)
                    .map_err(|e| self.err(at("assignment"), None, e.to_string()))?,
            );
        let options = AttributionOptions::default()
            .with_model(model)
            .with_confidence_level(a.confidence_level)
            .with_seed(a.seed)
            .with_cluster(
                ClusterBy::parse(&a.cluster)
                    .map_err(|e| self.err(at("cluster"), None, e.to_string()))?,
            )
            .with_cross_validation(a.cross_validation)
            .with_response(response)
            .with_non_negative(!a.allow_negative_effects)
            .with_credit_spillover(a.credit_spillover)
            .with_within_channel(a.within_channel);
        roles
            .validate()
            .map_err(|e| self.err("analysis", None, e.to_string()))?;
        options
            .validate()
            .map_err(|e| self.err("analysis", None, e.to_string()))?;
        Ok((roles, options))
    }
}

/// A value read from variable `var`, as the setting `key` expects it (its key table's
/// [`ValueKind`](crate::connectors::ValueKind): lists comma-separated, booleans, numbers);
/// text for a setting the table does not know (the connector's settings then name it).
fn setting_value(
    key: Option<&ConfigKey>,
    var: &str,
    value: &str,
) -> std::result::Result<toml::Value, String> {
    let Some(key) = key else {
        return Ok(toml::Value::String(value.trim().to_owned()));
    };
    let json = key.parse(value).map_err(|e| {
        // The key's message names its standard variable; name the one actually read.
        match key.variable {
            Some(standard) if standard != var => e.replacen(standard, var, 1),
            _ => e,
        }
    })?;
    toml::Value::try_from(json).map_err(|e| format!("{var}: {e}"))
}

/// Whether the variable name `name` may be shown in a message: UPPER_CASE letters,
/// digits and `_`, at most 64 long, with a `_` unless at most 16 long. Anything else
/// (`EAAGm0PX4ZCps...`) may be a secret pasted where a name belongs.
fn shows_as_variable_name(name: &str) -> bool {
    name.len() <= 64
        && (name.contains('_') || name.len() <= 16)
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// `message` (a serde or TOML error) with every double-quoted value left out: a wrong
/// type of a setting must not echo its value (a pasted secret).
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        // Skip to the closing quote (`\"` is an escaped quote inside).
        let mut escaped = false;
        for c in chars.by_ref() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => break,
                _ => escaped = false,
            }
        }
        out.push_str("(value not shown)");
    }
    out
}

/// The dotted key (`pipeline.continue_on_source_error`, `sync.lookback_days`) of the
/// line at `offset`: its table header, then the key before `=`.
fn key_at(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..).unwrap_or_default();
    let line = line.lines().next().unwrap_or_default();
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .unwrap_or_default();
    let section = before
        .get(..line_start)
        .unwrap_or_default()
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    match (section, key.is_empty()) {
        (Some(s), false) => format!("{s}.{key}"),
        (Some(s), true) => s,
        (None, _) => key,
    }
}

/// Whether `url` holds a user or password before its host (`http://user:pw@host`).
fn url_has_credentials(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.contains('@')
}

/// Settings that say where and how a platform is reached, not what its numbers mean.
const TRANSPORT_KEYS: [&str; 5] = [
    "base_url",
    "token_url",
    "client_id",
    "report_daily_limit",
    "revision",
];

/// A stable hash (FNV-1a, 64 bits, hex) of a source's resolved settings without its
/// secrets and transport settings: every setting that changes what its rows hold
/// (accounts, conversion definitions, attribution windows, costs, file paths, queries).
/// `liftos sync` keeps it with the stored rows and re-reads the source in full when it
/// changes. The secrets never enter it.
pub(crate) fn settings_fingerprint(keys: &[ConfigKey], settings: &toml::Table) -> String {
    let mut names: Vec<&String> = settings
        .keys()
        .filter(|k| !TRANSPORT_KEYS.contains(&k.as_str()))
        .filter(|k| !find_key(keys, k).is_some_and(|key| key.secret))
        .collect();
    names.sort();
    let mut text = String::new();
    for name in names {
        let value = settings
            .get(name)
            .map(|v| canonical_setting(v).to_string())
            .unwrap_or_default();
        text.push_str(&format!("{name}\u{0}{value}\u{0}"));
    }
    crate::sync::fnv64(&text)
}

/// A setting's value as the fingerprint sees it: a list of text items (accounts,
/// customers, metrics, action types) is a set, so its items are sorted and deduplicated,
/// each written as the connectors read it (Meta's `act_` prefix left out, a Google Ads
/// customer id's dashes left out). The same accounts listed in another order or another
/// spelling then ask for the same numbers, and do not re-read the store in full. A list
/// already in that form gives the text it always gave.
fn canonical_setting(value: &toml::Value) -> toml::Value {
    let toml::Value::Array(items) = value else {
        return value.clone();
    };
    let Some(texts) = items
        .iter()
        .map(|v| v.as_str().map(str::trim))
        .collect::<Option<Vec<&str>>>()
    else {
        return value.clone();
    };
    let mut canonical: Vec<String> = texts
        .into_iter()
        .map(|t| {
            let t = t.strip_prefix("act_").unwrap_or(t);
            let id_with_dashes =
                t.contains('-') && t.bytes().all(|b| b.is_ascii_digit() || b == b'-');
            if id_with_dashes {
                t.replace('-', "")
            } else {
                t.to_owned()
            }
        })
        .collect();
    canonical.sort();
    canonical.dedup();
    toml::Value::Array(canonical.into_iter().map(toml::Value::String).collect())
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings fingerprint of a Meta source built against `accounts` and `token`.
    fn meta_fingerprint(extra: &str, accounts: &str, token: &str) -> String {
        let text = format!(
            "[pipeline]\nstart = \"2024-01-01\"\nend = \"2024-01-31\"\n\n[[sources]]\nname = \"meta\"\ntype = \"meta\"\n{extra}"
        );
        let config = PipelineConfig::from_toml_str(&text, "liftos.toml", Path::new(".")).unwrap();
        let lookup = |k: &str| match k {
            "LIFTOS_META_ACCESS_TOKEN" => Some(token.to_owned()),
            "LIFTOS_META_AD_ACCOUNT_IDS" => Some(accounts.to_owned()),
            _ => None,
        };
        let (_, fingerprint) = config
            .connector_and_settings(0, &lookup, Progress::default())
            .unwrap();
        assert!(!fingerprint.contains(token));
        fingerprint
    }

    #[test]
    fn the_settings_fingerprint_follows_what_the_numbers_mean_and_never_the_secrets() {
        let base = meta_fingerprint("", "act_1,act_2", "token-a");
        // A secret or a transport setting changes nothing.
        assert_eq!(base, meta_fingerprint("", "act_1,act_2", "token-b"));
        assert_eq!(
            base,
            meta_fingerprint("base_url = \"http://127.0.0.1:9\"\n", "act_1,act_2", "token-a")
        );
        // The same accounts in another order or spelling ask for the same numbers.
        assert_eq!(base, meta_fingerprint("", "act_2, act_1", "token-a"));
        assert_eq!(base, meta_fingerprint("", "1,act_2,2", "token-a"));
        // An account dropped from the variable, or another attribution window, does.
        assert_ne!(base, meta_fingerprint("", "act_1", "token-a"));
        assert_ne!(
            base,
            meta_fingerprint("attribution_windows = [\"1d_click\"]\n", "act_1,act_2", "token-a")
        );
        assert_eq!(base.len(), 16);
        // A Google Ads customer id with its dashes is the same customer.
        let dashed = toml::Value::Array(vec!["123-456-7890".into(), "42".into()]);
        let plain = toml::Value::Array(vec!["42".into(), "1234567890".into()]);
        assert_eq!(canonical_setting(&dashed), canonical_setting(&plain));
        // A list already sorted and plain keeps its text (its stores keep their state).
        let sorted = toml::Value::Array(vec!["1234567890".into(), "42".into()]);
        assert_eq!(canonical_setting(&sorted), sorted);
    }

    /// A REST source's fingerprint follows its spec file's contents, not only its path:
    /// a spec reading another field into `spend` re-reads the store in full.
    #[test]
    fn a_rest_sources_fingerprint_follows_its_spec_file() {
        let dir = tempfile::tempdir().unwrap();
        let spec = include_str!("../../docs/rest/tiktok.toml");
        let fingerprint = |spec_text: &str| {
            std::fs::write(dir.path().join("api.toml"), spec_text).unwrap();
            let text = "[pipeline]\nstart = \"2024-01-01\"\nend = \"2024-01-31\"\n\n[[sources]]\nname = \"api\"\ntype = \"rest\"\nspec = \"api.toml\"\n";
            let config = PipelineConfig::from_toml_str(text, "liftos.toml", dir.path()).unwrap();
            let lookup = |k: &str| match k {
                "LIFTOS_TIKTOK_ACCESS_TOKEN" => Some("token".to_owned()),
                "LIFTOS_TIKTOK_ADVERTISER_IDS" => Some("1".to_owned()),
                _ => None,
            };
            let (_, fingerprint) = config
                .connector_and_settings(0, &lookup, Progress::default())
                .unwrap();
            fingerprint
        };
        let base = fingerprint(spec);
        assert_eq!(base, fingerprint(spec));
        let other = spec.replace("path = \"metrics.spend\"", "path = \"metrics.cost\"");
        assert_ne!(other, spec);
        assert_ne!(base, fingerprint(&other));
    }
}
