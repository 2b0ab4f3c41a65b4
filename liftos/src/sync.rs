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
//! | `end` | `today` | last day pulled (today's rows are stored as partial) |
//! | `today` | the UTC date | days before it are complete |
//! | `lookback_days` | meta 28, google_ads 28, klaviyo 7, others 28 | days before the state re-read each sync (by source name, then connector name) |
//! | `lookback_override` | none | one lookback for every source (`--lookback-days`) |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use chrono::NaiveDate;
use futures::StreamExt;
use liftos_connectors::ConnectorRequest;
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
    /// Today (default: the UTC date); earlier days are complete.
    pub today: Option<NaiveDate>,
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

    /// The first day, last day and today of a sync of `pipeline` with these options.
    pub fn days(&self, pipeline: &Pipeline) -> (NaiveDate, NaiveDate, NaiveDate) {
        let today = self
            .today
            .unwrap_or_else(|| chrono::Utc::now().date_naive());
        let start = self.start.unwrap_or(pipeline.request().start());
        (start, self.end.unwrap_or(today), today)
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
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    /// One entry per source, in the pipeline's order.
    pub sources: Vec<SourceSync>,
    /// Last complete day of this sync.
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
            for note in &p.notes {
                let _ = writeln!(s, "{:<12} note: {note}", "");
            }
        }
        let _ = writeln!(
            s,
            "complete through {}; store commit {}",
            self.complete_through, self.commit
        );
        s
    }
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
    /// refused by [`SyncOptions::check`]; the store's errors (a key repeated within a
    /// pull, a currency other than the stored one).
    pub async fn sync(&self, store: &mut Store, options: &SyncOptions) -> Result<SyncReport> {
        let (start, end, today) = options.days(self);
        if end < start {
            return Err(Error::InvalidPipeline {
                field: "sync.end".into(),
                message: format!("{end} is before the first day {start}"),
            });
        }
        options.check(start, end, today)?;
        let yesterday = today.pred_opt().unwrap_or(today);
        let complete = end.min(yesterday);
        // Windows first, from the committed state.
        let mut plans = Vec::new();
        for s in self.sources() {
            let request = self.request().clone();
            let schema = s.connector.schema(&request)?;
            let mapping =
                self.mapping()
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
            plans.push((
                s,
                schema,
                fingerprint,
                lookback,
                from,
                full,
                (last_complete, replace_to),
                key,
                notes,
            ));
        }
        let pulls = plans.iter().map(|(s, schema, _, _, from, ..)| {
            let request = ConnectorRequest::new(*from, end).map(|r| {
                let mut r = r.with_level(self.request().level);
                r.breakdowns = self.request().breakdowns.clone();
                r.fields = self.request().fields.clone();
                r
            });
            let connector = s.connector.clone();
            let schema = schema.clone();
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
        let mut report = Vec::new();
        for (
            (s, _, fingerprint, lookback, from, full, (last_complete, replace_to), key, notes),
            (result, seconds),
        ) in plans.into_iter().zip(results)
        {
            let table = match result {
                Ok(t) => t,
                Err(e) if self.continue_on_source_error() => {
                    tracing::warn!(source = %s.name, error = %e, "sync failed");
                    let mut notes = notes;
                    if let Some(kept) = store.source(&s.name).and_then(|p| p.last_complete()) {
                        notes.push(format!(
                            "the store keeps `{}` complete through {kept} (its last successful sync), not {complete}: `liftos run --store` stops there",
                            s.name
                        ));
                    }
                    report.push(SourceSync {
                        name: s.name.clone(),
                        window: (from, end),
                        lookback_days: lookback,
                        full,
                        counts: UpsertCounts::default(),
                        error: Some(e.to_string()),
                        notes,
                        seconds,
                    });
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
            let mut notes = notes;
            if full && counts.removed > 0 {
                notes.push(format!(
                    "WARNING: the re-read from {from} did not return {} stored rows (the source no longer has them); they are removed",
                    counts.removed
                ));
            }
            tracing::info!(source = %s.name, new = counts.new, restated = counts.restated, unchanged = counts.unchanged, removed = counts.removed, "sync merged");
            report.push(SourceSync {
                name: s.name.clone(),
                window: (from, end),
                lookback_days: lookback,
                full,
                counts,
                error: None,
                notes,
                seconds,
            });
        }
        if report.iter().all(|r| r.error.is_some()) {
            let failures = report.iter().map(|r| (&r.name, &r.error));
            return Err(every_source_failed(
                failures,
                "; the store was not changed",
            ));
        }
        store.commit()?;
        Ok(SyncReport {
            sources: report,
            complete_through: complete,
            commit: store.commits(),
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
