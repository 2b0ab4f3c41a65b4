//! Keeping a local store current: `liftos sync`.
//!
//! [`Pipeline::sync`] pulls each source of a pipeline incrementally into a
//! [`Store`]: per source it re-reads the days after the
//! stored state minus a lookback window (restatements: Meta and Google Ads 28 days,
//! Klaviyo 7), upserts the rows by natural key, and commits every source at once. The
//! store's format and guarantees are described in [`liftos_transform::store`]; this
//! module only decides which days each source is asked for.
//!
//! | Name | Default | Meaning |
//! |---|---|---|
//! | `start` | the pipeline's first day | first day the store covers |
//! | `end` | each source's `today` | last day pulled (today's rows are stored as partial); a source whose today is earlier stops at its today |
//! | `today` | each source's own date | the date of every source (a replay of a day): days before it are complete; no time zone is consulted |
//! | `now` | the system clock | the instant of the sync: each source's today is its date in its account's time zone |
//! | `lookback_days` | meta 28, google_ads 28, klaviyo 7, others 28 | days before the state re-read each sync (by source name, then connector name) |
//! | `lookback_override` | none | one lookback for every source (`--lookback-days`) |
//!
//! # Each source's today
//!
//! The platforms report days in each account's time zone, so "today" is a source's own:
//! the date, at `now`, in its account's zone. The zone comes from
//! `[mapping.sources.<name>] timezone` (the account's zone, the key the unification
//! already reads) and from the platform when its connector can tell
//! ([`Connector::time_zones`](liftos_connectors::Connector::time_zones): Meta
//! `timezone_name`, Google Ads `customer.time_zone`, Klaviyo `timezone`). The key wins;
//! when the platform reports another zone (another UTC offset now, on 1 January or on
//! 1 July) the source fails with an error naming both: its days are the platform's, so
//! one of the two is a mistake. With neither, the source's today is the UTC date, and
//! the summary says so once. A source of several accounts in different zones has the
//! least advanced account's date as its today (earlier days are complete in every
//! account) and pulls through the most advanced one's. With `today` set, every source's
//! today is that date and no zone is read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Instant;

use arrow::array::timezone::Tz;
use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Utc};
use futures::StreamExt;
use liftos_connectors::{AccountTimeZone, ConnectorRequest};
use liftos_transform::store::{SourceUpdate, Store, UpsertCounts, source_key};

use crate::pipeline::{Pipeline, every_source_failed};
use crate::{Error, Result};

/// Default lookback of a connector (days re-read before the stored state).
pub fn default_lookback_days(connector: &str) -> u32 {
    match connector {
        "klaviyo" => 7,
        _ => 28,
    }
}

/// Longest range a sync may ask of its sources.
pub const MAX_SYNC_YEARS: u32 = 10;

/// Refuses a range ending after `today` or longer than [`MAX_SYNC_YEARS`] years.
///
/// # Errors
///
/// [`Error::InvalidPipeline`] naming `--end` or `--start`.
pub fn check_range(start: NaiveDate, end: NaiveDate, today: NaiveDate) -> Result<()> {
    if end > today {
        return Err(Error::InvalidPipeline {
            field: "sync.end (--end)".into(),
            message: format!(
                "{end} is after today ({today}): days that have not happened cannot be synced"
            ),
        });
    }
    let earliest = end
        .checked_sub_months(chrono::Months::new(12 * MAX_SYNC_YEARS))
        .unwrap_or(NaiveDate::MIN);
    if start < earliest {
        return Err(Error::InvalidPipeline {
            field: "sync.start (--start, or pipeline.start)".into(),
            message: format!(
                "{start} .. {end} is longer than {MAX_SYNC_YEARS} years (the most one sync reads); start at {earliest} or later"
            ),
        });
    }
    Ok(())
}

/// A stable 64-bit FNV-1a hash of `text`, in hex.
pub(crate) fn fnv64(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Options of [`Pipeline::sync`]; see the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// First day (default: the pipeline's first day).
    pub start: Option<NaiveDate>,
    /// Last day (default: `today`).
    pub end: Option<NaiveDate>,
    /// Today of every source (default: each source's date at `now` in its account's
    /// time zone); earlier days are complete.
    pub today: Option<NaiveDate>,
    /// The instant of the sync (default: the system clock); each source's today is its
    /// date then in its account's time zone. Ignored when `today` is set.
    pub now: Option<DateTime<Utc>>,
    /// Lookback by source name or connector name.
    pub lookback_days: BTreeMap<String, u32>,
    /// One lookback for every source.
    pub lookback_override: Option<u32>,
}

impl SyncOptions {
    /// Checks the options against the sync's days: the range ends by `today` and is
    /// at most [`MAX_SYNC_YEARS`] long, no lookback is 0.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPipeline`] naming the option.
    pub fn check(&self, start: NaiveDate, end: NaiveDate, today: NaiveDate) -> Result<()> {
        check_range(start, end, today)?;
        let zero = "0 re-reads nothing, not even the last synced day; give at least 1";
        if self.lookback_override == Some(0) {
            return Err(Error::InvalidPipeline {
                field: "--lookback-days".into(),
                message: zero.into(),
            });
        }
        if let Some((name, _)) = self.lookback_days.iter().find(|(_, d)| **d == 0) {
            return Err(Error::InvalidPipeline {
                field: format!("sync.lookback_days.{name}"),
                message: zero.into(),
            });
        }
        Ok(())
    }

    /// The first day, last day and latest today of a sync of `pipeline` with these
    /// options: `today` when set, else the latest date any time zone has at `now`
    /// (UTC+14), the bound [`check`](Self::check) holds the range to before each source's
    /// own today is known.
    pub fn days(&self, pipeline: &Pipeline) -> (NaiveDate, NaiveDate, NaiveDate) {
        let today = self.today.unwrap_or_else(|| {
            (self.now() + chrono::Duration::hours(LATEST_UTC_OFFSET_HOURS)).date_naive()
        });
        let start = self.start.unwrap_or(pipeline.request().start());
        (start, self.end.unwrap_or(today), today)
    }

    /// The instant of the sync: `now`, or the system clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }
}

/// The largest UTC offset of a time zone, in hours (Pacific/Kiritimati).
const LATEST_UTC_OFFSET_HOURS: i64 = 14;

/// Where a source's today came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TodayFrom {
    /// [`SyncOptions::today`] (`--today`): the same date for every source.
    Given,
    /// `[mapping.sources.<name>] timezone` (checked against the platform's zone when
    /// the connector reports one).
    Config {
        /// The zone as written.
        zone: String,
    },
    /// The platform's accounts ([`Connector::time_zones`](liftos_connectors::Connector::time_zones)).
    Platform {
        /// Each account's zone.
        accounts: Vec<AccountTimeZone>,
    },
    /// No zone known: the UTC date.
    Utc,
}

/// A source's today and the last day that has begun in its accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceToday {
    /// The source's today: days before it are complete in every account.
    pub today: NaiveDate,
    /// The latest date among its accounts (the last day a pull can return); `today`
    /// with one zone.
    pub latest: NaiveDate,
    /// Where the zone came from.
    pub from: TodayFrom,
}

impl SourceToday {
    /// How the summary shows it: `today 2024-02-10 in America/Los_Angeles (timezone_name of act_1)`.
    fn describe(&self) -> Option<String> {
        let zone = match &self.from {
            TodayFrom::Given => return None,
            TodayFrom::Config { zone } => format!("{zone} (its mapping's timezone)"),
            TodayFrom::Platform { accounts } => {
                let mut zones: Vec<String> = accounts
                    .iter()
                    .map(|a| format!("{} ({} of {})", a.zone, a.field, a.account))
                    .collect();
                zones.dedup();
                zones.join(", ")
            }
            TodayFrom::Utc => "UTC (no time zone known)".into(),
        };
        Some(if self.latest == self.today {
            format!("today {} in {zone}", self.today)
        } else {
            format!("today {} (through {}) in {zone}", self.today, self.latest)
        })
    }
}

/// Whether two zones keep the same UTC offset at `now` and on 1 January and 1 July of
/// its year (aliases such as `US/Eastern` and `America/New_York` agree; a fixed offset
/// and a zone with summer time do not).
fn same_zone(a: &Tz, b: &Tz, now: DateTime<Utc>) -> bool {
    let probes = [1, 7].map(|m| Utc.with_ymd_and_hms(now.year(), m, 1, 12, 0, 0).single());
    std::iter::once(Some(now))
        .chain(probes)
        .flatten()
        .all(|t| t.with_timezone(a).offset().fix() == t.with_timezone(b).offset().fix())
}

impl Pipeline {
    /// The today of source `s` at `options`' instant; see the [module docs](self).
    ///
    /// # Errors
    ///
    /// [`Error::SourceFailed`] when the platform's zone cannot be read;
    /// [`Error::InvalidPipeline`] naming `mapping.sources.<name>.timezone` when it is not
    /// a zone or not the platform's.
    pub(crate) async fn source_today(
        &self,
        s: &crate::pipeline::PipelineSource,
        options: &SyncOptions,
    ) -> Result<SourceToday> {
        if let Some(today) = options.today {
            return Ok(SourceToday {
                today,
                latest: today,
                from: TodayFrom::Given,
            });
        }
        let now = options.now();
        let key = format!("mapping.sources.{}.timezone", s.name);
        let config = match self.mapping().source(&s.name).and_then(|m| m.timezone.clone()) {
            Some(z) => {
                let tz = z.parse::<Tz>().map_err(|e| Error::InvalidPipeline {
                    field: key.clone(),
                    message: format!("`{z}` is not a time zone (IANA name or +HH:MM offset): {e}"),
                })?;
                Some((z, tz))
            }
            None => None,
        };
        let accounts =
            s.connector
                .time_zones()
                .await
                .map_err(|e| Error::SourceFailed {
                    name: s.name.clone(),
                    source: e,
                })?;
        let mut zones = Vec::new();
        for a in &accounts {
            let tz = a.zone.parse::<Tz>().map_err(|e| Error::InvalidPipeline {
                field: format!("{} ({} of {})", s.name, a.field, a.account),
                message: format!("`{}` is not a time zone: {e}", a.zone),
            })?;
            if let Some((z, c)) = &config
                && !same_zone(c, &tz, now)
            {
                return Err(Error::InvalidPipeline {
                    field: key,
                    message: format!(
                        "`{z}`, but the platform reports account {} in `{}` ({}): its days are `{}` days, so `{z}` would cut them at the wrong hour; set timezone = \"{}\" or remove the key",
                        a.account, a.zone, a.field, a.zone, a.zone
                    ),
                });
            }
            zones.push(tz);
        }
        let (zones, from) = match config {
            Some((zone, tz)) => (vec![tz], TodayFrom::Config { zone }),
            None if !zones.is_empty() => (zones, TodayFrom::Platform { accounts }),
            None => (Vec::new(), TodayFrom::Utc),
        };
        let dates: Vec<NaiveDate> = if zones.is_empty() {
            vec![now.date_naive()]
        } else {
            zones
                .iter()
                .map(|z| now.with_timezone(z).date_naive())
                .collect()
        };
        let today = dates.iter().copied().min().unwrap_or(now.date_naive());
        let latest = dates.iter().copied().max().unwrap_or(today);
        Ok(SourceToday {
            today,
            latest,
            from,
        })
    }
}

/// What one source's sync did.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSync {
    /// Source name (the store's table name).
    pub name: String,
    /// Days asked of the platform.
    pub window: (NaiveDate, NaiveDate),
    /// Lookback used.
    pub lookback_days: u32,
    /// Whether every stored row was replaced (new source, or a changed request).
    pub full: bool,
    /// Rows new, restated, unchanged, removed (zero when it failed).
    pub counts: UpsertCounts,
    /// Why it failed (with `continue_on_source_error`).
    pub error: Option<String>,
    /// What the user should know about this source's sync: why it was re-read in full
    /// (a changed request), and which stored rows a full re-read dropped.
    pub notes: Vec<String>,
    /// Wall time of the pull and merge.
    pub seconds: f64,
    /// Its today and where its time zone came from (`None` when that could not be
    /// read).
    pub today: Option<SourceToday>,
    /// The last complete day stored for it by this sync (`None` when it failed).
    pub complete_through: Option<NaiveDate>,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    /// One entry per source, in the pipeline's order.
    pub sources: Vec<SourceSync>,
    /// Last complete day of this sync: the least complete source's (what
    /// `run --store` and `watch` read through).
    pub complete_through: NaiveDate,
    /// The store's commit number after the sync.
    pub commit: u64,
}

impl SyncReport {
    /// Whether any row changed.
    pub fn changed(&self) -> bool {
        self.sources.iter().any(|s| s.counts.changed())
    }

    /// One line per source: window and row counts.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for p in &self.sources {
            match &p.error {
                None => {
                    let c = p.counts;
                    let _ = writeln!(
                        s,
                        "{:<12} {} .. {} ({}{} days lookback): {} new, {} restated, {} unchanged, {} removed; {} rows stored ({:.2} s)",
                        p.name,
                        p.window.0,
                        p.window.1,
                        if p.full { "full read, " } else { "" },
                        p.lookback_days,
                        c.new,
                        c.restated,
                        c.unchanged,
                        c.removed,
                        c.total,
                        p.seconds
                    );
                }
                Some(e) => {
                    let _ = writeln!(s, "{:<12} FAILED: {e}", p.name);
                }
            }
            if let (Some(day), Some(today)) = (
                p.complete_through,
                p.today.as_ref().and_then(SourceToday::describe),
            ) {
                let _ = writeln!(s, "{:<12} {today}: complete through {day}", "");
            }
            for note in &p.notes {
                let _ = writeln!(s, "{:<12} note: {note}", "");
            }
        }
        let unknown: Vec<String> = self
            .sources
            .iter()
            .filter(|p| p.today.as_ref().is_some_and(|t| t.from == TodayFrom::Utc))
            .map(|p| format!("`{}`", p.name))
            .collect();
        if !unknown.is_empty() {
            let _ = writeln!(
                s,
                "note: no time zone is known for {}: today is the UTC date there; set `timezone` in [mapping.sources.<name>] to the account's zone",
                unknown.join(", ")
            );
        }
        let days: BTreeSet<NaiveDate> = self
            .sources
            .iter()
            .filter_map(|p| p.complete_through)
            .collect();
        let _ = writeln!(
            s,
            "complete through {}{}; store commit {}",
            self.complete_through,
            if days.len() > 1 {
                " (the least complete source's day: `run --store` and `watch` read through it)"
            } else {
                ""
            },
            self.commit
        );
        s
    }
}

/// One source's plan: what to ask and how to store it.
struct Plan<'a> {
    s: &'a crate::pipeline::PipelineSource,
    schema: arrow::datatypes::SchemaRef,
    fingerprint: String,
    lookback: u32,
    from: NaiveDate,
    end: NaiveDate,
    full: bool,
    last_complete: NaiveDate,
    replace_to: NaiveDate,
    key: liftos_transform::store::SourceKey,
    notes: Vec<String>,
    today: SourceToday,
}

impl Pipeline {
    /// Pulls every source incrementally into `store` and commits once; see the
    /// [module docs](crate::sync).
    ///
    /// # Errors
    ///
    /// [`Error::SourceFailed`] for the first failing source (nothing is committed)
    /// unless `continue_on_source_error` is set (then the others are committed and it is
    /// reported); [`Error::InvalidPipeline`] for an end before the start, a range
    /// refused by [`SyncOptions::check`], a source's `timezone` that is not its
    /// platform's; the store's errors (a key repeated within a pull, a currency other
    /// than the stored one).
    pub async fn sync(&self, store: &mut Store, options: &SyncOptions) -> Result<SyncReport> {
        let (start, end, bound) = options.days(self);
        if end < start {
            return Err(Error::InvalidPipeline {
                field: "sync.end".into(),
                message: format!("{end} is before the first day {start}"),
            });
        }
        options.check(start, end, bound)?;
        // Each source's today, in its account's time zone (read from the platforms at
        // once).
        let todays =
            futures::future::join_all(self.sources().iter().map(|s| self.source_today(s, options)))
                .await;
        // Windows first, from the committed state.
        let mut plans = Vec::new();
        let mut failed = Vec::new();
        for (i, (s, today)) in self.sources().iter().zip(todays).enumerate() {
            let today = match today {
                Ok(t) => t,
                Err(e) if self.continue_on_source_error() => {
                    tracing::warn!(source = %s.name, error = %e, "sync failed");
                    failed.push((i, s, e.to_string()));
                    continue;
                }
                Err(e) => return Err(e),
            };
            plans.push((i, self.plan(store, s, options, start, today)?));
        }
        let pulls = plans.iter().map(|(_, p)| {
            let request = ConnectorRequest::new(p.from, p.end).map(|r| {
                let mut r = r.with_level(self.request().level);
                r.breakdowns = self.request().breakdowns.clone();
                r.fields = self.request().fields.clone();
                r
            });
            let connector = p.s.connector.clone();
            let schema = p.schema.clone();
            async move {
                let started = Instant::now();
                let result: std::result::Result<_, liftos_connectors::Error> = async {
                    let mut stream = connector.read(&request?)?;
                    let mut parts = Vec::new();
                    while let Some(batch) = stream.next().await {
                        parts.push(batch?);
                    }
                    Ok(arrow::compute::concat_batches(&schema, &parts)?)
                }
                .await;
                // This source's own time, taken when its pull ends (not after every
                // source's).
                (result, started.elapsed().as_secs_f64())
            }
        });
        let results = futures::future::join_all(pulls).await;
        let mut report: Vec<(usize, SourceSync)> = Vec::new();
        for (i, s, error) in failed {
            let mut notes = Vec::new();
            if let Some(kept) = store.source(&s.name).and_then(|p| p.last_complete()) {
                notes.push(format!(
                    "the store keeps `{}` complete through {kept} (its last successful sync): `liftos run --store` stops there",
                    s.name
                ));
            }
            report.push((
                i,
                SourceSync {
                    name: s.name.clone(),
                    window: (start, end),
                    lookback_days: 0,
                    full: false,
                    counts: UpsertCounts::default(),
                    error: Some(error),
                    notes,
                    seconds: 0.0,
                    today: None,
                    complete_through: None,
                },
            ));
        }
        for ((i, p), (result, seconds)) in plans.into_iter().zip(results) {
            let Plan {
                s,
                fingerprint,
                lookback,
                from,
                end,
                full,
                last_complete,
                replace_to,
                key,
                mut notes,
                today,
                ..
            } = p;
            // This source's entry of the report, failed or merged.
            let name = s.name.clone();
            let entry = move |counts, error, notes, complete_through| SourceSync {
                name,
                window: (from, end),
                lookback_days: lookback,
                full,
                counts,
                error,
                notes,
                seconds,
                today: Some(today),
                complete_through,
            };
            let table = match result {
                Ok(t) => t,
                Err(e) if self.continue_on_source_error() => {
                    tracing::warn!(source = %s.name, error = %e, "sync failed");
                    if let Some(kept) = store.source(&s.name).and_then(|p| p.last_complete()) {
                        notes.push(format!(
                            "the store keeps `{}` complete through {kept} (its last successful sync), not {last_complete}: `liftos run --store` stops there",
                            s.name
                        ));
                    }
                    report.push((
                        i,
                        entry(UpsertCounts::default(), Some(e.to_string()), notes, None),
                    ));
                    continue;
                }
                Err(e) => {
                    return Err(Error::SourceFailed {
                        name: s.name.clone(),
                        source: e,
                    });
                }
            };
            let mut update = SourceUpdate::new(table, key.key, key.date, (from, replace_to))
                .with_complete_through(last_complete)
                .with_request(fingerprint)
                .with_full_refresh(full);
            if let Some(a) = key.account {
                update = update.with_account_column(a);
            }
            if let Some(c) = key.currency {
                update = update.with_currency_column(c);
            }
            let counts = store.upsert(&s.name, update)?;
            if full && counts.removed > 0 {
                notes.push(format!(
                    "WARNING: the re-read from {from} did not return {} stored rows (the source no longer has them); they are removed",
                    counts.removed
                ));
            }
            tracing::info!(source = %s.name, new = counts.new, restated = counts.restated, unchanged = counts.unchanged, removed = counts.removed, "sync merged");
            report.push((i, entry(counts, None, notes, Some(last_complete))));
        }
        report.sort_by_key(|(i, _)| *i);
        let report: Vec<SourceSync> = report.into_iter().map(|(_, r)| r).collect();
        if report.iter().all(|r| r.error.is_some()) {
            let failures = report.iter().map(|r| (&r.name, &r.error));
            return Err(every_source_failed(
                failures,
                "; the store was not changed",
            ));
        }
        store.commit()?;
        let complete_through = report
            .iter()
            .filter_map(|r| r.complete_through)
            .min()
            .unwrap_or(end);
        Ok(SyncReport {
            sources: report,
            complete_through,
            commit: store.commits(),
        })
    }

    /// The window and state of one source's sync, from the committed state and its
    /// today.
    fn plan<'a>(
        &self,
        store: &Store,
        s: &'a crate::pipeline::PipelineSource,
        options: &SyncOptions,
        start: NaiveDate,
        today: SourceToday,
    ) -> Result<Plan<'a>> {
        // Its own days: it ends at the last day begun in its accounts, its complete days
        // end the day before its today.
        let end = options.end.unwrap_or(today.latest).min(today.latest);
        if end < start {
            return Err(Error::InvalidPipeline {
                field: "sync.start (--start, or pipeline.start)".into(),
                message: format!(
                    "{start} is after the today of source `{}` ({}{}): that day has not begun in its accounts",
                    s.name,
                    today.latest,
                    today.describe().map(|d| format!("; {d}")).unwrap_or_default()
                ),
            });
        }
        let yesterday = today.today.pred_opt().unwrap_or(today.today);
        let complete = end.min(yesterday);
        let request = self.request().clone();
        let schema = s.connector.schema(&request)?;
        let mapping = self
            .mapping()
            .source(&s.name)
            .ok_or_else(|| Error::InvalidPipeline {
                field: "mapping".into(),
                message: format!("source `{}` has no mapping", s.name),
            })?;
        // Everything that decides what a stored number means: a change re-reads the
        // source in full instead of mixing two definitions in one store.
        let fingerprint = format!(
            "{}; level={}; breakdowns={}; fields={}; columns={}; settings={}; mapping={}",
            s.connector.name(),
            request.level.as_str(),
            request.breakdowns.join(","),
            request.fields.join(","),
            schema
                .fields()
                .iter()
                .map(|f| format!("{}:{}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(","),
            s.settings.as_deref().unwrap_or("-"),
            fnv64(&serde_json::to_string(mapping).unwrap_or_default()),
        );
        let lookback = options
            .lookback_override
            .or_else(|| options.lookback_days.get(&s.name).copied())
            .or_else(|| options.lookback_days.get(s.connector.name()).copied())
            .unwrap_or_else(|| default_lookback_days(s.connector.name()));
        let key = source_key(&s.name, mapping, &schema)?;
        let mut notes = Vec::new();
        let previous = store.source(&s.name);
        let stored = previous.filter(|st| st.request == fingerprint && st.key == key.key);
        // A re-read in full starts at the first stored day when that is earlier:
        // the days before `start` are read again with the new settings, not lost.
        let full_from = previous
            .and_then(|p| p.first())
            .map_or(start, |first| first.min(start));
        if let Some(p) = previous
            && stored.is_none()
        {
            notes.push(format!(
                "re-read in full from {full_from}: {} changed since the last sync (settings, mapping, level, breakdowns or columns); the {} stored rows are replaced, never mixed with the new ones",
                if p.key == key.key { "the request" } else { "the natural key" },
                p.rows
            ));
        }
        // The last day the upsert replaces: `end`, or after a sync whose today was
        // ahead, the last day it stored (rows dated after yesterday cannot exist, and
        // a fresh pull returns none: they are removed).
        let mut replace_to = end;
        let (from, full, last_complete) = match stored {
            None => (full_from, true, complete),
            Some(st) => {
                let first = st.first().unwrap_or(start);
                let stored_last = st.last_complete().unwrap_or(start);
                // A day after yesterday cannot be complete: a state past it was written
                // by a sync whose today was ahead (a `--today` typo, a clock that
                // jumped). Read from yesterday's lookback as if the state ended there,
                // or the days between would never be read again.
                let last = stored_last.min(yesterday);
                if stored_last > yesterday {
                    let partial = st
                        .partial_days
                        .iter()
                        .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
                    replace_to = partial.fold(replace_to.max(stored_last), NaiveDate::max);
                    notes.push(format!(
                        "the store said complete through {stored_last}, after yesterday ({yesterday}): a sync whose today was ahead wrote it; the lookback is read again from {yesterday}, and the store is complete through {complete} from now on"
                    ));
                }
                // Per account state: the least advanced account decides.
                let state = st
                    .accounts
                    .values()
                    .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                    .min()
                    .unwrap_or(last)
                    .min(last);
                let from = if start < first {
                    start
                } else {
                    let back = state
                        .checked_sub_days(chrono::Days::new(u64::from(lookback - 1)))
                        .unwrap_or(start);
                    back.max(start)
                };
                (from.min(end), false, complete.max(last))
            }
        };
        Ok(Plan {
            s,
            schema,
            fingerprint,
            lookback,
            from: from.min(end),
            end,
            full,
            last_complete,
            replace_to,
            key,
            notes,
            today,
        })
    }
}

/// A connector over one source of a store: its complete days within the request's
/// range (partial days left out). [`PipelineBuilder::store`](crate::pipeline::PipelineBuilder::store)
/// puts one in place of each source, so the pipeline analyses the store instead of
/// pulling.
#[derive(Debug, Clone)]
pub struct StoreConnector {
    dir: std::path::PathBuf,
    name: String,
}

impl StoreConnector {
    /// Source `name` of the store in `dir`.
    pub fn new(dir: impl Into<std::path::PathBuf>, name: impl Into<String>) -> Self {
        StoreConnector {
            dir: dir.into(),
            name: name.into(),
        }
    }

    fn store_error(&self, e: liftos_transform::Error) -> liftos_connectors::Error {
        liftos_connectors::Error::InvalidRequest {
            message: format!("store {}: {e}", self.dir.display()),
        }
    }

    /// The stored rows of the source within `request`'s days, partial days left out.
    fn rows(
        &self,
        request: &ConnectorRequest,
    ) -> liftos_connectors::Result<arrow::array::RecordBatch> {
        let store = Store::open(&self.dir).map_err(|e| self.store_error(e))?;
        let table = store
            .read_complete(&self.name)
            .map_err(|e| self.store_error(e))?;
        let Some(date) = store.source(&self.name).map(|s| s.date_column.clone()) else {
            return Ok(table);
        };
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let (from, to) = (
            (request.start() - epoch).num_days() as i32,
            (request.end() - epoch).num_days() as i32,
        );
        let Some(days) = table
            .column_by_name(&date)
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::Date32Array>())
        else {
            return Ok(table);
        };
        let keep: arrow::array::BooleanArray = days
            .iter()
            .map(|d| Some(d.is_some_and(|d| d >= from && d <= to)))
            .collect();
        Ok(arrow::compute::filter_record_batch(&table, &keep)?)
    }
}

#[async_trait::async_trait]
impl liftos_connectors::Connector for StoreConnector {
    fn name(&self) -> &str {
        "store"
    }

    fn schema(
        &self,
        _request: &ConnectorRequest,
    ) -> liftos_connectors::Result<arrow::datatypes::SchemaRef> {
        let store = Store::open(&self.dir).map_err(|e| self.store_error(e))?;
        let s =
            store
                .source(&self.name)
                .ok_or_else(|| liftos_connectors::Error::InvalidRequest {
                    message: format!(
                        "store {} has no source `{}` (it has: {}); run `liftos sync` first",
                        self.dir.display(),
                        self.name,
                        store
                            .sources()
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
        let first = s.files.first().map(|f| self.dir.join(f)).ok_or_else(|| {
            liftos_connectors::Error::InvalidRequest {
                message: format!(
                    "store {}: source `{}` has no file",
                    self.dir.display(),
                    self.name
                ),
            }
        })?;
        let file =
            std::fs::File::open(&first).map_err(|e| liftos_connectors::Error::InvalidRequest {
                message: format!("{}: {e}", first.display()),
            })?;
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| liftos_connectors::Error::InvalidRequest {
                message: format!("{}: {e}", first.display()),
            })?;
        Ok(builder.schema().clone())
    }

    async fn check(&self) -> liftos_connectors::Result<()> {
        Store::open(&self.dir)
            .map(|_| ())
            .map_err(|e| self.store_error(e))
    }

    fn read(
        &self,
        request: &ConnectorRequest,
    ) -> liftos_connectors::Result<liftos_connectors::RecordBatchStream> {
        let this = self.clone();
        let request = request.clone();
        Ok(Box::pin(futures::stream::once(async move {
            tokio::task::spawn_blocking(move || this.rows(&request))
                .await
                .map_err(|e| liftos_connectors::Error::InvalidRequest {
                    message: format!("reading the store stopped: {e}"),
                })?
        })))
    }
}
