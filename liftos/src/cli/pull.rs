//! `liftos pull`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use liftos::connectors::{
    Connector, ConnectorRequest, Ga4Builder, GoogleAdsBuilder, HttpSettings, KlaviyoBuilder, Level,
    MetaAdsBuilder, PostgresBuilder, Progress, ProgressEvent, RestBuilder, RestSpec, RetryConfig,
    ShopifyBuilder, TikTokBuilder,
};
use liftos::io::TableWriter;

/// The platforms `liftos pull` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// Meta Ads (Ads Insights).
    #[value(name = "meta")]
    Meta,
    /// Google Ads (searchStream).
    #[value(name = "google_ads")]
    GoogleAds,
    /// Klaviyo (campaign values reports; flows with `--include-flows`).
    #[value(name = "klaviyo")]
    Klaviyo,
    /// Shopify (the shop's orders as a daily business outcome: date, revenue, orders,
    /// new_customer_orders, currency; `liftos analyze --business-outcome` reads it).
    #[value(name = "shopify")]
    Shopify,
    /// TikTok Ads (synchronous integrated reports, campaign × day).
    #[value(name = "tiktok")]
    TikTok,
    /// Google Analytics 4 (runReport: sessions, key events, revenue by day and channel
    /// group).
    #[value(name = "ga4")]
    Ga4,
    /// A SQL query on PostgreSQL (`--query`; `$1`/`$2` are `--start`/`--end`).
    #[value(name = "postgres")]
    Postgres,
}

/// What `--source` names: a built-in platform, or `rest:<spec.toml>` (any JSON API
/// described by a declarative spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceArg {
    /// A built-in connector.
    Builtin(Source),
    /// A declarative REST spec file.
    Rest(PathBuf),
}

fn parse_source(text: &str) -> Result<SourceArg, String> {
    if let Some(path) = text.strip_prefix("rest:") {
        if path.trim().is_empty() {
            return Err("rest: needs the spec file, e.g. rest:docs/rest/tiktok.toml".into());
        }
        return Ok(SourceArg::Rest(PathBuf::from(path)));
    }
    use clap::ValueEnum;
    Source::from_str(text, false)
        .map(SourceArg::Builtin)
        .map_err(|_| {
            let names: Vec<String> = Source::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
                .collect();
            format!(
                "unknown source `{text}`; expected {} or rest:<spec.toml>",
                names.join(", ")
            )
        })
}

/// Arguments of `liftos pull`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Credentials come from the environment:\n  \
    meta:       LIFTOS_META_ACCESS_TOKEN, LIFTOS_META_AD_ACCOUNT_IDS, LIFTOS_META_APP_SECRET (optional)\n  \
    google_ads: LIFTOS_GOOGLE_ADS_DEVELOPER_TOKEN, LIFTOS_GOOGLE_ADS_CLIENT_ID, LIFTOS_GOOGLE_ADS_CLIENT_SECRET,\n              \
    LIFTOS_GOOGLE_ADS_REFRESH_TOKEN, LIFTOS_GOOGLE_ADS_CUSTOMER_IDS, LIFTOS_GOOGLE_ADS_LOGIN_CUSTOMER_ID (optional),\n              \
    LIFTOS_GOOGLE_ADS_TOKEN_URL (optional)\n  \
    klaviyo:    LIFTOS_KLAVIYO_API_KEY, LIFTOS_KLAVIYO_CONVERSION_METRIC (optional),\n              \
    LIFTOS_KLAVIYO_INCLUDE_FLOWS (optional, true/false), LIFTOS_KLAVIYO_REPORT_INTERVAL_SECS\n              \
    (optional; default 31, Klaviyo's steady limit of 2 report calls a minute)\n  \
    tiktok:     LIFTOS_TIKTOK_ACCESS_TOKEN, LIFTOS_TIKTOK_ADVERTISER_IDS, LIFTOS_TIKTOK_METRICS (optional,\n              \
    metrics added to spend, impressions, clicks, complete_payment, total_complete_payment_rate)\n  \
    ga4:        LIFTOS_GA4_PROPERTY_ID, LIFTOS_GA4_CLIENT_ID, LIFTOS_GA4_CLIENT_SECRET, LIFTOS_GA4_REFRESH_TOKEN,\n              \
    LIFTOS_GA4_TOKEN_URL (optional), LIFTOS_GA4_DIMENSIONS / LIFTOS_GA4_METRICS (optional lists)\n  \
    shopify:    LIFTOS_SHOPIFY_SHOP, LIFTOS_SHOPIFY_ACCESS_TOKEN, LIFTOS_SHOPIFY_API_VERSION (optional),\n              \
    LIFTOS_SHOPIFY_BULK_THRESHOLD_DAYS (optional; longer ranges run as one bulk operation, default 31)\n  \
    postgres:   LIFTOS_POSTGRES_URL (postgres://user:password@host:port/db; TLS is required\n              \
    for a host that is not loopback), and --query\n\
    The base URL defaults to LIFTOS_META_BASE_URL / LIFTOS_GOOGLE_ADS_BASE_URL / LIFTOS_KLAVIYO_BASE_URL /\n\
    LIFTOS_TIKTOK_BASE_URL / LIFTOS_GA4_BASE_URL / LIFTOS_SHOPIFY_BASE_URL,\n\
    else the platform's public API (Shopify: https://{shop}.myshopify.com).\n\
    rest:<spec.toml> reads the variables its spec names (auth.secret_env, request.accounts_env, ...).")]
pub struct Args {
    /// The platform to pull from: meta, google_ads, klaviyo, tiktok, or rest:<spec.toml>
    /// (a JSON API described by a declarative spec; see docs/rest/).
    #[arg(long, value_parser = parse_source)]
    source: SourceArg,
    /// First day (YYYY-MM-DD, account time zone).
    #[arg(long)]
    start: NaiveDate,
    /// Last day, inclusive (YYYY-MM-DD).
    #[arg(long)]
    end: NaiveDate,
    /// Output file: `.csv` or `.parquet`; written only when the whole pull succeeds.
    #[arg(long)]
    out: PathBuf,
    /// API base URL (tests, proxies); overrides the `LIFTOS_*_BASE_URL` variable. Plain
    /// http is accepted only for loopback addresses.
    #[arg(long)]
    base_url: Option<String>,
    /// Level of the rows: account, campaign, adset (ad_group) or ad.
    #[arg(long, default_value = "campaign", value_parser = parse_level)]
    level: Level,
    /// Comma-separated breakdowns (Meta: age, gender, publisher_platform, ...; Google
    /// Ads: segments.device, ...).
    #[arg(long, value_delimiter = ',')]
    breakdowns: Vec<String>,
    /// PostgreSQL only: the SQL query; `$1` and `$2` (when used) are the first and last
    /// day, of type date.
    #[arg(long)]
    query: Option<String>,
    /// PostgreSQL only: rows per batch read from the server (default 8192).
    #[arg(long, value_name = "N")]
    batch_rows: Option<usize>,
    /// Klaviyo only: estimated spend per recipient (Klaviyo reports no media spend).
    #[arg(long, default_value_t = 0.0)]
    cost_per_recipient: f64,
    /// Klaviyo only: also pull flows, one row per flow and send day (daily flow series
    /// reports of at most 60 days each); adds a `message_type` column (`campaign` or
    /// `flow`). Without the flag, LIFTOS_KLAVIYO_INCLUDE_FLOWS decides (default: off).
    #[arg(long)]
    include_flows: bool,
    /// Overall deadline of the pull, in seconds (default 3600): no request starts, and
    /// none runs on, past it.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Timeout of one HTTP request, body included, in seconds (default 120).
    #[arg(long, value_name = "SECS")]
    request_timeout: Option<f64>,
    /// Hard cap of the pages one listing may follow (default 50000; the bound of a
    /// range is min(this, 1000 + 100 per day)).
    #[arg(long, value_name = "N")]
    max_pages: Option<u64>,
    /// Largest response body read, in MiB (default 64).
    #[arg(long, value_name = "MIB")]
    max_body_mib: Option<f64>,
}

impl Args {
    /// The timeouts and limits set by flags.
    fn http_settings(&self) -> HttpSettings {
        HttpSettings {
            timeout_secs: self.timeout,
            request_timeout_secs: self.request_timeout,
            max_pages: self.max_pages,
            max_body_mib: self.max_body_mib,
            ..HttpSettings::default()
        }
    }
}

/// Retries, timeouts and failures as `tracing` lines on stderr when it is not a terminal
/// (a terminal shows the progress line instead). `LIFTOS_LOG` sets the level (default
/// warn: retries and failed jobs).
fn log_to_stderr() {
    super::run::log_to_stderr("warn", tracing::Level::WARN);
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse::<Level>().map_err(|e| e.to_string())
}

/// The pull's progress on stderr: a spinner line on a terminal, nothing otherwise.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn progress_message(e: &ProgressEvent) -> String {
    format!(
        "{} rows · {} pages · {} retries",
        e.rows, e.pages, e.retries
    )
}

fn connector(args: &Args, progress: Progress) -> liftos::Result<Box<dyn Connector>> {
    let source = match &args.source {
        SourceArg::Builtin(s) => *s,
        SourceArg::Rest(path) => {
            if args.query.is_some() || args.batch_rows.is_some() {
                return Err(liftos::connectors::Error::InvalidRequest {
                    message: "--query and --batch-rows apply to --source postgres only".to_owned(),
                }
                .into());
            }
            let spec = RestSpec::from_toml_file(path)?;
            let retry = args
                .http_settings()
                .apply(&spec.name, RetryConfig::default())?;
            let mut b = RestBuilder::new(spec).with_retry(retry);
            if let Some(url) = &args.base_url {
                b = b.with_base_url(url.as_str());
            }
            if args.include_flows || args.cost_per_recipient != 0.0 {
                return Err(liftos::connectors::Error::InvalidRequest {
                    message:
                        "--include-flows and --cost-per-recipient apply to --source klaviyo only"
                            .to_owned(),
                }
                .into());
            }
            return Ok(Box::new(b.with_progress(progress).build()?));
        }
    };
    if args.include_flows && source != Source::Klaviyo {
        return Err(liftos::connectors::Error::InvalidRequest {
            message: "--include-flows applies to --source klaviyo only".to_owned(),
        }
        .into());
    }
    let invalid = |message: &str| -> liftos::Error {
        liftos::connectors::Error::InvalidRequest {
            message: message.to_owned(),
        }
        .into()
    };
    if source != Source::Postgres && (args.query.is_some() || args.batch_rows.is_some()) {
        return Err(invalid(
            "--query and --batch-rows apply to --source postgres only",
        ));
    }
    let retry = |name: &str| args.http_settings().apply(name, RetryConfig::default());
    // An HTTP connector from the environment with the pull's retry policy, base URL (when
    // given) and progress; `$more` sets the connector's own flags.
    macro_rules! http {
        ($builder:ident, $name:literal $(, |$b:ident| $more:expr)?) => {{
            let mut b = $builder::from_env().with_retry(retry($name)?);
            if let Some(url) = &args.base_url {
                b = b.with_base_url(url.as_str());
            }
            $(let b = {
                let $b = b;
                $more
            };)?
            Box::new(b.with_progress(progress).build()?)
        }};
    }
    Ok(match source {
        Source::Meta => http!(MetaAdsBuilder, "meta"),
        Source::GoogleAds => http!(GoogleAdsBuilder, "google_ads"),
        Source::Klaviyo => http!(KlaviyoBuilder, "klaviyo", |b| {
            let b = b.with_cost_per_recipient(args.cost_per_recipient);
            if args.include_flows {
                b.with_include_flows(true)
            } else {
                b
            }
        }),
        Source::Ga4 => http!(Ga4Builder, "ga4"),
        Source::TikTok => http!(TikTokBuilder, "tiktok"),
        Source::Shopify => http!(ShopifyBuilder, "shopify"),
        Source::Postgres => {
            if args.base_url.is_some() {
                return Err(invalid(
                    "--base-url does not apply to --source postgres: the server is LIFTOS_POSTGRES_URL",
                ));
            }
            let query = args
                .query
                .as_deref()
                .ok_or_else(|| invalid("--source postgres needs --query \"SELECT ...\""))?;
            let mut b = PostgresBuilder::from_env().with_query(query);
            if let Some(n) = args.batch_rows {
                b = b.with_batch_rows(n);
            }
            Box::new(b.build()?)
        }
    })
}

pub fn run(args: Args) -> liftos::Result<()> {
    let started = Instant::now();
    log_to_stderr();
    let request = ConnectorRequest::new(args.start, args.end)?
        .with_level(args.level)
        .with_breakdowns(
            args.breakdowns
                .iter()
                .map(|b| b.trim())
                .filter(|b| !b.is_empty()),
        );
    let bar = progress_bar();
    let callback_bar = bar.clone();
    let progress = Progress::with_callback(Arc::new(move |e: &ProgressEvent| {
        callback_bar.set_message(progress_message(e));
    }));
    // The counters are shared: this handle sees what the connector counts.
    let counters = progress.clone();
    let connector = connector(&args, progress)?;
    let schema = connector.schema(&request)?;
    // Checked before any request: a bad extension or directory fails at once.
    let mut writer = TableWriter::create(&args.out, schema)?;
    let runtime = super::runtime()?;
    let pulled: liftos::Result<()> = runtime.block_on(async {
        let pull = async {
            let mut stream = connector.read(&request)?;
            while let Some(batch) = stream.next().await {
                writer.write(&batch?)?;
            }
            Ok(())
        };
        tokio::select! {
            done = pull => done,
            _ = super::interrupted() => Err(liftos::Error::Io {
                path: args.out.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "pull interrupted; nothing was written",
                ),
            }),
        }
    });
    bar.finish_and_clear();
    // On error the writer is dropped unfinished and removes its temporary file.
    pulled?;
    let rows = writer.rows();
    writer.finish()?;
    let stats = counters.snapshot();
    println!(
        "Pulled {rows} rows from {} ({} pages, {} retries) in {:.2} s into {}",
        connector.name(),
        stats.pages,
        stats.retries,
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
