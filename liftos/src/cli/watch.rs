//! `liftos watch` and `liftos history`.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use liftos::config::PipelineConfig;
use liftos::retrain::{RetrainPolicy, format_history, history, models, retrain_if_due, shifts_in};
use liftos::sync::SyncOptions;
use liftos::transform::store::Store;

/// Arguments of `liftos watch`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each tick syncs every source into the store (today's partial day is \
    stored, marked partial and left out of the model), then fits a new model version under \
    STORE/models/<timestamp>/ when a trigger fires: the first fit, --retrain-days new complete \
    days, a data-quality change, or a drift of the spend mix. SIGINT or SIGTERM stops it \
    cleanly: between steps it exits at once; during a sync or a fit that step is abandoned \
    and the store stays at its last commit."
)]
pub struct WatchArgs {
    /// The pipeline's config file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// The store directory (created when absent or empty).
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// Time between ticks: `90s`, `30m`, `1h`, `1d` (at least 1 s).
    #[arg(long, default_value = "1h", value_parser = parse_every)]
    every: Duration,
    /// Stop after this many ticks, at least 1 (default: run until stopped; 0 is refused,
    /// not read as "no tick").
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_ticks: Option<u64>,
    /// First day of the store and the model (default: `pipeline.start`).
    #[arg(long)]
    start: Option<NaiveDate>,
    /// Days re-read before the stored state, for every source (overrides [sync]).
    #[arg(long, value_name = "DAYS")]
    lookback_days: Option<u32>,
    /// New complete days that trigger a retrain.
    #[arg(long, default_value_t = 7, value_name = "DAYS")]
    retrain_days: u32,
    /// Spend-mix drift (total variation distance of the channels' shares over 28 days)
    /// that triggers a retrain.
    #[arg(long, default_value_t = 0.10, value_name = "X")]
    spend_drift: f64,
    /// Move of the data-quality completeness or accuracy score that triggers a retrain
    /// (an issue appearing or going away does too); 1 turns the trigger off.
    #[arg(long, default_value_t = 0.05, value_name = "X")]
    quality_change: f64,
    /// Today's date of every source at every tick (default: each source's date in its
    /// account's time zone); for replays.
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "now")]
    today: Option<NaiveDate>,
    /// The instant of every tick (RFC 3339; default: the system clock): each source's
    /// today is its date then in its account's time zone. For replays and tests.
    #[arg(long, value_name = "RFC3339", value_parser = super::parse_instant)]
    now: Option<DateTime<Utc>>,
}

/// Arguments of `liftos history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The store directory.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
}

fn parse_every(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 90s, 30m, 1h or 1d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("`{s}`: the unit must be s, m, h or d")),
    };
    if secs == 0 {
        return Err("--every must be at least 1s".into());
    }
    Ok(Duration::from_secs(secs))
}

pub fn watch(args: WatchArgs) -> liftos::Result<()> {
    let config = PipelineConfig::from_file(&args.config)?;
    // What each version records: the parsed settings, secrets redacted, never the raw
    // text (its comments may hold anything).
    let settings = config.redacted_settings();
    let (start, _) = config.date_range()?;
    let start = args.start.unwrap_or(start);
    let today = args
        .today
        .unwrap_or_else(|| args.now.unwrap_or_else(Utc::now).date_naive());
    liftos::sync::check_range(start, today.max(start), today).map_err(|e| match e {
        liftos::Error::InvalidPipeline { message, .. } => liftos::Error::InvalidPipeline {
            field: "--start (or pipeline.start)".into(),
            message,
        },
        other => other,
    })?;
    let pipeline = config.to_builder()?.progress(false).build()?;
    let analysis = config.to_builder()?;
    let policy = RetrainPolicy {
        new_days: args.retrain_days,
        spend_drift: args.spend_drift,
        quality: args.quality_change,
        ..RetrainPolicy::default()
    };
    if !(0.0..=1.0).contains(&policy.quality) {
        return Err(liftos::Error::InvalidPipeline {
            field: "--quality-change".into(),
            message: format!("{} is not in [0, 1]", policy.quality),
        });
    }
    if !(0.0..=1.0).contains(&policy.spend_drift) {
        return Err(liftos::Error::InvalidPipeline {
            field: "--spend-drift".into(),
            message: format!("{} is not in [0, 1]", policy.spend_drift),
        });
    }
    // Checked before the first tick: a foreign or damaged store stops here.
    drop(Store::create_or_open(&args.store)?);
    super::run::init_logging_at("warn");
    let runtime = super::runtime()?;
    let result: liftos::Result<()> = runtime.block_on(async {
        let signal = super::interrupted();
        tokio::pin!(signal);
        let mut tick = 0u64;
        let mut failed = 0u64;
        loop {
            tick += 1;
            println!(
                "tick {tick} at {}",
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            let options = SyncOptions {
                start: Some(start),
                end: None,
                today: args.today,
                now: args.now,
                lookback_days: config.sync.lookback_days.clone(),
                lookback_override: args.lookback_days,
            };
            let store_dir = args.store.clone();
            let synced = tokio::select! {
                r = async {
                    let mut store = tokio::task::spawn_blocking(move || Store::create_or_open(&store_dir))
                        .await
                        .map_err(|e| liftos::Error::Report(format!("opening the store stopped: {e}")))??;
                    pipeline.sync(&mut store, &options).await
                } => r,
                sig = &mut signal => {
                    println!("stopped by {sig} during the sync of tick {tick}; the store is as of its last commit");
                    return Ok(());
                }
            };
            // A failing tick (a platform down, a network error) is reported and the
            // watch goes on; the store stays at its last commit.
            match synced {
                Ok(report) => {
                    print!("{}", report.summary());
                    let retrained = tokio::select! {
                        r = retrain_if_due(analysis.clone(), &args.store, start, &settings, &policy, false) => r,
                        sig = &mut signal => {
                            println!("stopped by {sig} during the fit of tick {tick}; no version was written");
                            return Ok(());
                        }
                    };
                    match retrained {
                        Ok(r) => match (&r.version, &r.skipped) {
                            (Some(v), _) => {
                                println!(
                                    "retrained: version {} ({}), data through {}",
                                    v.id, v.fingerprint.trigger, r.state.complete_through
                                );
                                // Flag a channel whose new interval excludes its previous
                                // estimate (what `liftos history` marks SHIFT).
                                match history(&args.store) {
                                    Ok(h) => {
                                        for line in shifts_in(&h, &v.id) {
                                            println!("{line}");
                                        }
                                    }
                                    Err(e) => println!("history could not be read: {e}"),
                                }
                            }
                            (None, Some(why)) => println!("no retrain: {why}"),
                            (None, None) => println!("no retrain"),
                        },
                        Err(e) => {
                            failed += 1;
                            println!("retrain failed: {e}");
                        }
                    }
                }
                Err(e) => {
                    failed += 1;
                    println!("sync failed: {e}; the store is as of its last commit");
                }
            }
            if args.max_ticks.is_some_and(|m| tick >= m) {
                println!("stopped after {tick} tick(s)");
                return if failed == 0 {
                    Ok(())
                } else {
                    Err(liftos::Error::Report(format!(
                        "{failed} of {tick} tick(s) failed (see above)"
                    )))
                };
            }
            tokio::select! {
                () = tokio::time::sleep(args.every) => {}
                sig = &mut signal => {
                    println!("stopped by {sig} after {tick} tick(s)");
                    return Ok(());
                }
            }
        }
    });
    runtime.shutdown_background();
    let dir = args.store.join(liftos::retrain::MODELS_DIR);
    match models(&args.store) {
        Ok(m) => {
            println!("{} model version(s) in {}", m.versions.len(), dir.display());
            if let Some(note) = foreign_note(&dir, &m.foreign) {
                println!("{note}");
            }
        }
        Err(e) => println!(
            "the model versions in {} could not be listed: {e}",
            dir.display()
        ),
    }
    result
}

/// The note naming the entries of the models directory `dir` that are not versions.
fn foreign_note(dir: &std::path::Path, foreign: &[String]) -> Option<String> {
    (!foreign.is_empty()).then(|| {
        format!(
            "note: skipped in {}, not model versions (a version is a directory named by its \
             timestamp, with fingerprint.json): {}",
            dir.display(),
            foreign.join(", ")
        )
    })
}

pub fn history_cmd(args: HistoryArgs) -> liftos::Result<()> {
    // Refuses a directory that is not a store, with the store's own message.
    drop(Store::open(&args.store)?);
    let m = models(&args.store)?;
    let dir = args.store.join(liftos::retrain::MODELS_DIR);
    let note = foreign_note(&dir, &m.foreign);
    let h = history(&args.store)?;
    let n = m.versions.len();
    if n == 0 {
        if let Some(note) = note {
            println!("{note}");
        }
        println!(
            "no model version in {} yet (liftos watch fits them)",
            args.store.display()
        );
        return Ok(());
    }
    print!("{}", format_history(&h));
    let shifts = h.values().flatten().filter(|e| e.shifted).count();
    println!(
        "{n} version(s); {shifts} shift(s) where a new interval excludes the previous estimate"
    );
    if let Some(note) = note {
        println!("{note}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parses_units_and_refuses_the_rest() {
        assert_eq!(parse_every("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_every("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_every("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_every("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_every("5"), Ok(Duration::from_secs(5)));
        assert!(parse_every("0s").is_err());
        assert!(parse_every("1w").unwrap_err().contains("unit"));
        assert!(parse_every("h").is_err());
    }
}
