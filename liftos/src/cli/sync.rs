//! `liftos sync --config liftos.toml --store DIR`.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use liftos::config::PipelineConfig;
use liftos::sync::SyncOptions;
use liftos::transform::store::Store;

/// Arguments of `liftos sync`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each source of the config is pulled from the day after its stored \
    state minus its lookback window ([sync] lookback_days; Meta and Google Ads 28 days, \
    Klaviyo 7) through --end, and upserted by natural key; every source is committed at \
    once. Each source's today is its date in its account's time zone ([mapping.sources.<name>] \
    timezone, or the platform's: Meta timezone_name, Google Ads customer.time_zone, Klaviyo \
    timezone; the UTC date when neither is known, with a note); its days before today are \
    complete, today's rows are stored as partial. Secrets come from the environment as for \
    `liftos run`."
)]
pub struct Args {
    /// The pipeline's config file (TOML): its sources, level and mapping.
    #[arg(long)]
    config: PathBuf,
    /// The store directory (created when absent or empty).
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// First day (default: `pipeline.start`).
    #[arg(long)]
    start: Option<NaiveDate>,
    /// Last day, inclusive (default: today; today's rows are stored as partial).
    #[arg(long)]
    end: Option<NaiveDate>,
    /// Days re-read before the stored state, for every source (overrides [sync]).
    #[arg(long, value_name = "DAYS")]
    lookback_days: Option<u32>,
    /// Today's date of every source (default: each source's date in its account's time
    /// zone): days before it are complete; no time zone is read. For replays.
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "now")]
    today: Option<NaiveDate>,
    /// The instant of the sync (RFC 3339, e.g. 2024-02-11T03:00:00Z; default: the system
    /// clock): each source's today is its date then in its account's time zone. For
    /// replays and tests.
    #[arg(long, value_name = "RFC3339", value_parser = super::parse_instant)]
    now: Option<DateTime<Utc>>,
}

pub fn run(args: Args) -> liftos::Result<()> {
    let started = Instant::now();
    let config = PipelineConfig::from_file(&args.config)?;
    let pipeline = config.to_builder()?.progress(false).build()?;
    let options = SyncOptions {
        start: args.start,
        end: args.end,
        today: args.today,
        now: args.now,
        lookback_days: config.sync.lookback_days.clone(),
        lookback_override: args.lookback_days,
    };
    // Checked before the store is opened: a refused range creates nothing.
    let (start, end, today) = options.days(&pipeline);
    options.check(start, end.max(start), today)?;
    let mut store = Store::create_or_open(&args.store)?;
    super::run::init_logging_at("warn");
    let runtime = super::runtime()?;
    let outcome = runtime.block_on(async {
        tokio::select! {
            done = pipeline.sync(&mut store, &options) => done,
            sig = super::interrupted() => Err(super::interrupted_error(
                "liftos sync",
                sig,
                &format!("the store {} is as it was before this sync", args.store.display()),
            )),
        }
    });
    runtime.shutdown_background();
    let report = outcome?;
    print!("{}", report.summary());
    println!(
        "Synced {} source(s) into {} in {:.2} s",
        report.sources.len(),
        args.store.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
