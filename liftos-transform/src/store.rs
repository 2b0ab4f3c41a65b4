//! A local store of source tables kept current by incremental syncs.
//!
//! A store is a directory:
//!
//! ```text
//! DIR/manifest.json          what the store holds (the commit point)
//! DIR/data/<source>-<id>.parquet   one Parquet file per source and commit
//! DIR/.write.lock            held by the one writer (exclusive) while it is open
//! DIR/.lock                  held by readers (shared) while they read; the writer takes it
//!                            (exclusive) only to remove files no commit names
//! ```
//!
//! `manifest.json` names its format (`"format": "liftos-store"`) and version
//! ([`STORE_FORMAT_VERSION`]), and per source: its files, rows, natural key, date column,
//! schema, and sync state (first day, last complete day, partial days, per account the
//! last complete day, the request fingerprint). Only files the manifest names are part
//! of the store.
//!
//! A write never changes a file the manifest names: [`Store::upsert`] writes the merged
//! table of a source to a new, uniquely named Parquet file (temporary file, fsync,
//! rename), and [`Store::commit`] makes every staged source current at once by writing
//! the manifest the same way (temporary file, fsync, atomic rename, fsync of the
//! directory). A process killed at any moment (SIGKILL included) therefore leaves the
//! old manifest with all its files, or the new one with all its files; files of an
//! unfinished commit are ignored, and removed by the next writer.
//!
//! **Locking.** Readers never wait for a writer's pulls, only for its removal of stale
//! files, which is short. A writer holds `.write.lock` from [`Store::create_or_open`] to
//! drop, so that writers follow one another (the second one waits, up to 10 minutes, and
//! then reads the first one's commit). Readers ([`Store::open`]) hold `.lock` shared while
//! they read; a writer does not hold it while it pulls and upserts, since it then only
//! writes files no manifest names, and its commit is one atomic rename: a reader sees the
//! old manifest with all its files or the new one with all of its. The files a commit
//! leaves unnamed are removed under `.lock` exclusive, so never under a reader that still
//! reads them: at open the writer waits for the readers (up to 10 minutes; a writer of an
//! earlier version, which held `.lock` for its whole sync, is waited for the same way),
//! after a commit it removes them only when no reader is in, else the next writer does.
//! A reader that cannot create `.lock` (a read-only directory) opens an existing one
//! read-only, or reads without it when there is none and it may not create one: no
//! writer can then work in that directory either.
//!
//! Rows are upserted by natural key: a row whose key is stored already replaces the
//! stored one (counted `restated` when any value differs, else `unchanged`); stored rows
//! inside the re-read window whose key the new pull no longer has are removed (the
//! platform restated them away); rows outside the window are kept as they are. A key
//! repeated within one pull, or a currency other than the stored one of the same account,
//! is an error and nothing is upserted: no row is dropped to resolve it. A full refresh (a
//! changed request or key) replaces every stored row and counts the ones it removes.
//! Only files named by this module's pattern are ever removed from `data/`.
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Date32Array, Float64Array, RecordBatch, StringArray};
//! use liftos_transform::store::{Store, SourceUpdate};
//!
//! let dir = tempfile::tempdir()?;
//! let rows = |revenue: Vec<f64>| RecordBatch::try_from_iter([
//!     ("date", Arc::new(Date32Array::from(vec![20_000, 20_001])) as _),
//!     ("campaign_id", Arc::new(StringArray::from(vec!["c1", "c1"])) as _),
//!     ("revenue", Arc::new(Float64Array::from(revenue)) as _),
//! ]);
//! let day = |d: i32| chrono::NaiveDate::from_num_days_from_ce_opt(719_163 + d).unwrap();
//! let update = |batch| SourceUpdate::new(batch, ["date", "campaign_id"], "date", (day(20_000), day(20_001)))
//!     .with_complete_through(day(20_001));
//!
//! let mut store = Store::create_or_open(dir.path())?;
//! let first = store.upsert("meta", update(rows(vec![10.0, 20.0])?))?;
//! store.commit()?;
//! assert_eq!((first.new, first.restated), (2, 0));
//!
//! let second = store.upsert("meta", update(rows(vec![10.0, 25.0])?))?;
//! store.commit()?;
//! assert_eq!((second.new, second.restated, second.unchanged), (0, 1, 1));
//! // A reader does not wait for the open writer: it reads the last commit.
//! assert_eq!(Store::open(dir.path())?.read("meta")?.num_rows(), 2);
//! drop(store);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Date32Type, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::io::{read_table, write_table};
use crate::{Error, Result};

/// The format version this crate writes and the newest it reads.
pub const STORE_FORMAT_VERSION: u32 = 1;
/// The `format` field of every LiftOS store manifest.
pub const STORE_FORMAT: &str = "liftos-store";
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The data directory's name.
pub const DATA_DIR: &str = "data";
const LOCK: &str = ".lock";
const WRITE_LOCK: &str = ".write.lock";
/// Longest wait for another process's lock on the store.
const LOCK_WAIT: Duration = Duration::from_secs(600);

fn store_error(path: &Path, message: impl Into<String>) -> Error {
    Error::File {
        path: path.to_owned(),
        line: None,
        message: message.into(),
    }
}

/// One column of a stored table's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredColumn {
    /// Column name.
    pub name: String,
    /// Arrow type, as Arrow prints it.
    pub data_type: String,
    /// Whether nulls are allowed.
    pub nullable: bool,
}

/// Sync state and files of one source in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSource {
    /// Files holding its rows, relative to the store directory.
    pub files: Vec<String>,
    /// Rows in those files.
    pub rows: u64,
    /// Natural key columns.
    pub key: Vec<String>,
    /// The date column (re-read windows and state are in its days).
    pub date_column: String,
    /// The column holding the account, when the source has one.
    #[serde(default)]
    pub account_column: Option<String>,
    /// Schema of the stored table.
    pub schema: Vec<StoredColumn>,
    /// First day the store covers (`YYYY-MM-DD`).
    pub first_day: String,
    /// Last day known complete (`YYYY-MM-DD`); later stored days are partial.
    pub last_complete_day: String,
    /// Days stored but not complete yet (today's partial day), excluded from
    /// [`Store::read_complete`].
    #[serde(default)]
    pub partial_days: Vec<String>,
    /// Per account (value of the account column): the last complete day synced.
    #[serde(default)]
    pub accounts: BTreeMap<String, String>,
    /// What was asked of the source (settings, level, breakdowns); a different request
    /// re-reads the source from its first day.
    pub request: String,
    /// When the source was last synced (RFC 3339, UTC).
    pub synced_at: String,
}

impl StoredSource {
    /// The last complete day.
    pub fn last_complete(&self) -> Option<NaiveDate> {
        parse_day(&self.last_complete_day)
    }

    /// The first day stored.
    pub fn first(&self) -> Option<NaiveDate> {
        parse_day(&self.first_day)
    }
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    /// Commit counter (one more at every commit).
    commit: u64,
    sources: BTreeMap<String, StoredSource>,
}

impl Manifest {
    fn empty() -> Self {
        Manifest {
            format: STORE_FORMAT.to_owned(),
            version: STORE_FORMAT_VERSION,
            commit: 0,
            sources: BTreeMap::new(),
        }
    }
}

/// New rows for one source, and what they cover.
#[derive(Debug, Clone)]
pub struct SourceUpdate {
    /// The rows pulled (the whole window).
    pub rows: RecordBatch,
    /// Natural key columns.
    pub key: Vec<String>,
    /// Date column (Date32).
    pub date_column: String,
    /// Account column, if any.
    pub account_column: Option<String>,
    /// Currency column, if any: a pull whose currency differs from the stored one of
    /// the same account is refused.
    pub currency_column: Option<String>,
    /// First and last day re-read (inclusive): stored rows of these days that the pull
    /// no longer has are removed.
    pub window: (NaiveDate, NaiveDate),
    /// Last complete day; stored days after it are marked partial.
    pub complete_through: NaiveDate,
    /// Fingerprint of the request (see [`StoredSource::request`]).
    pub request: String,
    /// Replace every stored row of the source (a changed request).
    pub full_refresh: bool,
}

impl SourceUpdate {
    /// Rows covering `window`, upserted on `key`, dated by `date_column`; complete
    /// through the window's last day, no account column, empty request fingerprint.
    pub fn new<K: Into<String>>(
        rows: RecordBatch,
        key: impl IntoIterator<Item = K>,
        date_column: impl Into<String>,
        window: (NaiveDate, NaiveDate),
    ) -> Self {
        SourceUpdate {
            rows,
            key: key.into_iter().map(Into::into).collect(),
            date_column: date_column.into(),
            account_column: None,
            currency_column: None,
            window,
            complete_through: window.1,
            request: String::new(),
            full_refresh: false,
        }
    }

    liftos_core::setters! {
        /// Sets the last complete day.
        with_complete_through(day: NaiveDate) => self.complete_through = day;
        /// Sets the account column.
        with_account_column(column: impl Into<String>) => self.account_column = Some(column.into());
        /// Sets the currency column.
        with_currency_column(column: impl Into<String>) => self.currency_column = Some(column.into());
        /// Sets the request fingerprint.
        with_request(request: impl Into<String>) => request.into();
        /// Replaces every stored row of the source.
        with_full_refresh(on: bool) => self.full_refresh = on;
    }
}

/// What an upsert did to one source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// Rows whose key was not stored.
    pub new: usize,
    /// Stored rows replaced by a row with other values.
    pub restated: usize,
    /// Stored rows pulled again with the same values.
    pub unchanged: usize,
    /// Stored rows of the window the pull no longer has.
    pub removed: usize,
    /// Rows stored after the upsert.
    pub total: usize,
}

impl UpsertCounts {
    /// Whether the upsert changed any row.
    pub fn changed(&self) -> bool {
        self.new + self.restated + self.removed > 0
    }
}

/// A LiftOS store, open and locked; see the [module docs](self).
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    manifest: Manifest,
    /// Sources upserted since the last commit, with their new files.
    staged: BTreeMap<String, StoredSource>,
    writable: bool,
    /// A reader's shared `.lock` (`None` in a directory where it may not be created), or
    /// a writer's exclusive `.write.lock`; see "Locking" in the [module docs](self).
    _lock: Option<File>,
}

/// How to take a lock file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lock {
    /// Shared, waiting up to [`LOCK_WAIT`] for an exclusive holder.
    Shared,
    /// Exclusive, waiting up to [`LOCK_WAIT`].
    Exclusive,
    /// Exclusive if no one holds it now, else nothing (`Ok(None)`).
    ExclusiveIfFree,
}

/// The lock file `name` of the store in `dir`, locked as `how` asks; created when
/// missing. A shared lock opens the file read-only when it cannot open it for writing,
/// and is `None` when the file is missing and cannot be created (a read-only store).
fn lock_file(dir: &Path, name: &str, how: Lock) -> Result<Option<File>> {
    let path = dir.join(name);
    let cannot_write = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
        )
    };
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(&path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if how == Lock::Shared && cannot_write(&e) => match File::open(&path) {
            Ok(f) => f,
            Err(r) if r.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(r) => {
                return Err(store_error(
                    &path,
                    format!("cannot open the store's lock: {r}"),
                ));
            }
        },
        Err(e) => {
            return Err(store_error(
                &path,
                format!("cannot open the store's lock: {e}"),
            ));
        }
    };
    let started = std::time::Instant::now();
    loop {
        let tried = if how == Lock::Shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match tried {
            Ok(()) => return Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) if how == Lock::ExclusiveIfFree => {
                return Ok(None);
            }
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = if name == WRITE_LOCK {
                    "another sync has held the store"
                } else {
                    "a reader (or a sync of an earlier LiftOS) has held the store"
                };
                return Err(store_error(
                    &path,
                    format!("{holder} for {} s; try again later", LOCK_WAIT.as_secs()),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(store_error(&path, format!("cannot lock the store: {e}")));
            }
        }
    }
}

/// Whether `name` is a file a store may hold before its manifest exists (its locks, or
/// the temporary file of a first manifest never renamed).
fn is_store_scratch(name: &str) -> bool {
    name == LOCK
        || name == WRITE_LOCK
        || (name.starts_with(".manifest.json.") && name.ends_with(".partial.json"))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| store_error(dir, format!("cannot sync the directory: {e}")))
}

/// The store (a directory whose `manifest.json` is a LiftOS store's) that holds `path`
/// or one of its parents, if any: where a command's output must not go, since the
/// store's files are its own (a table written over a committed file destroys it). A
/// path that does not exist yet is judged by its nearest existing parent, through
/// symlinks.
pub fn store_holding(path: &Path) -> Option<PathBuf> {
    let mut at = path.parent().filter(|p| !p.as_os_str().is_empty());
    let existing = loop {
        let dir = at.unwrap_or(Path::new("."));
        if let Ok(canonical) = std::fs::canonicalize(dir) {
            break canonical;
        }
        at = dir.parent().filter(|p| !p.as_os_str().is_empty());
        at?;
    };
    existing
        .ancestors()
        .find(|dir| is_store_dir(dir))
        .map(Path::to_path_buf)
}

/// Whether `dir` holds a LiftOS store's manifest (a JSON file within
/// [`liftos_core::fs::MAX_WHOLE_FILE`] naming the store's format).
fn is_store_dir(dir: &Path) -> bool {
    let path = dir.join(MANIFEST);
    let limit = liftos_core::fs::MAX_WHOLE_FILE;
    std::fs::metadata(&path).is_ok_and(|m| m.is_file())
        && liftos_core::fs::read_limited(&path, limit).is_ok_and(|bytes| {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .is_ok_and(|v| v.get("format").and_then(|f| f.as_str()) == Some(STORE_FORMAT))
        })
}

fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    let limit = liftos_core::fs::MAX_WHOLE_FILE;
    let text = match liftos_core::fs::read_to_string_limited(&path, limit) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(store_error(&path, e.to_string())),
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        store_error(
            &path,
            format!("not a LiftOS store manifest (invalid JSON: {e}); nothing was changed"),
        )
    })?;
    if value.get("format").and_then(|f| f.as_str()) != Some(STORE_FORMAT) {
        return Err(store_error(
            &path,
            format!(
                "not a LiftOS store manifest (no \"format\": \"{STORE_FORMAT}\"); the directory belongs to something else; nothing was changed"
            ),
        ));
    }
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    match version {
        Some(v) if v > u64::from(STORE_FORMAT_VERSION) => {
            return Err(store_error(
                &path,
                format!(
                    "store format version {v} was written by a newer LiftOS (this one reads up to {STORE_FORMAT_VERSION}); upgrade LiftOS; nothing was changed"
                ),
            ));
        }
        None | Some(0) => {
            return Err(store_error(
                &path,
                "the manifest has no valid `version`; nothing was changed",
            ));
        }
        Some(_) => {}
    }
    let manifest: Manifest = serde_path_to_error::deserialize(value).map_err(|e| {
        store_error(
            &path,
            format!(
                "invalid manifest at `{}`: {}; nothing was changed",
                e.path(),
                e.inner()
            ),
        )
    })?;
    for (name, s) in &manifest.sources {
        for f in &s.files {
            let p = dir.join(f);
            let safe = Path::new(f)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !safe {
                return Err(store_error(
                    &path,
                    format!(
                        "source `{name}` names file `{f}` outside the store; nothing was changed"
                    ),
                ));
            }
            if !p.is_file() {
                return Err(store_error(
                    &p,
                    format!(
                        "the manifest ({}) names this file of source `{name}` but it is missing; the store is damaged; nothing was changed",
                        path.display()
                    ),
                ));
            }
        }
        if s.last_complete().is_none() || s.first().is_none() {
            return Err(store_error(
                &path,
                format!(
                    "source `{name}` has no valid first_day/last_complete_day; nothing was changed"
                ),
            ));
        }
    }
    Ok(Some(manifest))
}

/// Writes the manifest all-or-nothing (temporary `.manifest.json.*.partial.json`, fsync,
/// atomic rename, fsync of the directory).
///
/// File modes: the manifest gets the mode every other file of the store gets (its data
/// files, `data/`, `.lock`), the one a created file gets: 0666 less the process's umask
/// (0644 under the usual 022), so whoever may read the tables may read what names them.
/// A mode set on an existing manifest (`chmod 640`) is kept by later commits
/// ([`liftos_core::fs`]'s writes keep the mode of the file they replace).
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(MANIFEST);
    let mut text =
        serde_json::to_string_pretty(manifest).map_err(|e| store_error(&path, e.to_string()))?;
    text.push('\n');
    liftos_core::fs::write_atomically_at(&path, |tmp| std::fs::write(tmp, &text), |e| e)
        .map_err(|e| store_error(&path, e.to_string()))?;
    sync_dir(dir)
}

fn schema_of(schema: &Schema) -> Vec<StoredColumn> {
    schema
        .fields()
        .iter()
        .map(|f| StoredColumn {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            nullable: f.is_nullable(),
        })
        .collect()
}

fn day_string(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn date32(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

fn date_values<'a>(
    table: &'a RecordBatch,
    column: &str,
    what: &str,
) -> Result<&'a arrow::array::PrimitiveArray<Date32Type>> {
    let array = table
        .column_by_name(column)
        .ok_or_else(|| Error::MissingColumn {
            table: what.to_owned(),
            column: column.to_owned(),
        })?;
    array
        .as_primitive_opt::<Date32Type>()
        .ok_or_else(|| Error::wrong_type(what, column, "Date32", array.data_type()))
}

fn key_columns(table: &RecordBatch, key: &[String], what: &str) -> Result<Vec<ArrayRef>> {
    key.iter()
        .map(|k| {
            table
                .column_by_name(k)
                .cloned()
                .ok_or_else(|| Error::MissingColumn {
                    table: what.to_owned(),
                    column: k.clone(),
                })
        })
        .collect()
}

fn converter(columns: &[ArrayRef]) -> Result<RowConverter> {
    Ok(RowConverter::new(
        columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?)
}

/// `table` sorted by the rows of `key` (their byte order is the key's order).
fn sort_by_key(table: &RecordBatch, key: &[String], what: &str) -> Result<RecordBatch> {
    let cols = key_columns(table, key, what)?;
    let rows = converter(&cols)?.convert_columns(&cols)?;
    let mut order: Vec<u32> = (0..table.num_rows() as u32).collect();
    order.sort_by(|a, b| rows.row(*a as usize).cmp(&rows.row(*b as usize)));
    Ok(take_record_batch(table, &UInt32Array::from(order))?)
}

/// `column=value, ...` of the `key` columns of row `row` of `table`.
fn key_text(table: &RecordBatch, key: &[String], row: usize) -> String {
    key.iter()
        .map(|k| {
            let value = table
                .column_by_name(k)
                .and_then(|c| {
                    arrow::util::display::ArrayFormatter::try_new(
                        c.as_ref(),
                        &arrow::util::display::FormatOptions::default().with_null("null"),
                    )
                    .ok()
                    .map(|f| f.value(row).to_string())
                })
                .unwrap_or_default();
            format!("{k}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text of `column` (any type) in `table`, or `None` when the table lacks it.
fn text_column(table: &RecordBatch, column: &str) -> Result<Option<ArrayRef>> {
    match table.column_by_name(column) {
        Some(c) => Ok(Some(arrow::compute::cast(c, &DataType::Utf8)?)),
        None => Ok(None),
    }
}

/// Refuses `new` rows whose currency differs from the stored currency of the same
/// account (of the whole source when it has no account column): a store holding one
/// account's numbers in two currencies would add them up as one.
fn check_currency(
    dir: &Path,
    old: &RecordBatch,
    new: &RecordBatch,
    update: &SourceUpdate,
    what: &str,
) -> Result<()> {
    let Some(currency) = &update.currency_column else {
        return Ok(());
    };
    let (Some(old_cur), Some(new_cur)) = (text_column(old, currency)?, text_column(new, currency)?)
    else {
        return Ok(());
    };
    let accounts = |t: &RecordBatch| match &update.account_column {
        Some(a) => text_column(t, a),
        None => Ok(None),
    };
    let (old_acc, new_acc) = (accounts(old)?, accounts(new)?);
    let account_of = |a: &Option<ArrayRef>, i: usize| -> String {
        a.as_ref()
            .map(|a| a.as_string::<i32>())
            .filter(|a| a.is_valid(i))
            .map(|a| a.value(i).to_owned())
            .unwrap_or_default()
    };
    let old_cur = old_cur.as_string::<i32>();
    let new_cur = new_cur.as_string::<i32>();
    let mut stored: BTreeMap<String, String> = BTreeMap::new();
    for j in 0..old.num_rows() {
        if old_cur.is_valid(j) {
            stored
                .entry(account_of(&old_acc, j))
                .or_insert_with(|| old_cur.value(j).to_owned());
        }
    }
    for i in 0..new.num_rows() {
        if !new_cur.is_valid(i) {
            continue;
        }
        let account = account_of(&new_acc, i);
        if let Some(was) = stored.get(&account)
            && was != new_cur.value(i)
        {
            let whose = match &update.account_column {
                Some(a) if !account.is_empty() => format!("account {a}={account}"),
                _ => "its rows".to_owned(),
            };
            return Err(store_error(
                dir,
                format!(
                    "source `{what}`: the pull reports {whose} in {} (column `{currency}`, e.g. {}) but the store holds them in {was}; nothing was stored (a store never mixes two currencies of one account: sync into a new store, or re-read it in full with a new start)",
                    new_cur.value(i),
                    key_text(new, &update.key, i)
                ),
            ));
        }
    }
    Ok(())
}

/// Merges `new` into `old` (same schema) on `key`; see the module docs.
fn merge(
    dir: &Path,
    old: Option<&RecordBatch>,
    new: &RecordBatch,
    update: &SourceUpdate,
    what: &str,
) -> Result<(RecordBatch, UpsertCounts)> {
    let schema = new.schema();
    let new_keys = key_columns(new, &update.key, what)?;
    let key_conv = converter(&new_keys)?;
    let new_key_rows = key_conv.convert_columns(&new_keys)?;
    // The last row of a key within the pull wins (a connector repeating a row).
    // A key repeated within one pull is refused: which row is right cannot be known,
    // and keeping one would drop the others.
    let mut by_key: HashMap<arrow::row::Row<'_>, usize> = HashMap::with_capacity(new.num_rows());
    let mut repeated = 0usize;
    let mut example = None;
    for i in 0..new.num_rows() {
        if let Some(first) = by_key.insert(new_key_rows.row(i), i) {
            repeated += 1;
            example.get_or_insert((first, i));
        }
    }
    if let Some((first, second)) = example {
        return Err(store_error(
            dir,
            format!(
                "source `{what}`: {repeated} row(s) repeat the key ({}) of an earlier row of the same pull, e.g. rows {} and {} both have {}; no row was stored (add the column that tells them apart to the mapping, e.g. as a breakdown, or remove the duplicates)",
                update.key.join(", "),
                first + 1,
                second + 1,
                key_text(new, &update.key, second)
            ),
        ));
    }
    let keep_new = vec![true; new.num_rows()];
    let mut counts = UpsertCounts::default();
    let mut kept_old = Vec::new();
    let mut matched = vec![false; new.num_rows()];
    if let Some(old) = old {
        if !update.full_refresh {
            check_currency(dir, old, new, update, what)?;
        }
        let old_keys = key_columns(old, &update.key, what)?;
        let old_key_rows = key_conv.convert_columns(&old_keys)?;
        let all_new: Vec<ArrayRef> = new.columns().to_vec();
        let all_old: Vec<ArrayRef> = old.columns().to_vec();
        let full_conv = converter(&all_new)?;
        let new_full = full_conv.convert_columns(&all_new)?;
        let old_full = full_conv.convert_columns(&all_old)?;
        let dates = date_values(old, &update.date_column, what)?;
        let (from, to) = (date32(update.window.0), date32(update.window.1));
        let mut seen_old: BTreeSet<arrow::row::Row<'_>> = BTreeSet::new();
        for j in 0..old.num_rows() {
            let k = old_key_rows.row(j);
            if !seen_old.insert(k) {
                // A duplicate key stored (cannot come from this crate): dropped.
                counts.removed += 1;
                continue;
            }
            match by_key.get(&k) {
                Some(&i) => {
                    matched[i] = true;
                    if new_full.row(i) == old_full.row(j) {
                        counts.unchanged += 1;
                    } else {
                        counts.restated += 1;
                    }
                }
                None => {
                    let d = dates.value(j);
                    if update.full_refresh || (dates.is_valid(j) && d >= from && d <= to) {
                        counts.removed += 1;
                    } else {
                        kept_old.push(j as u32);
                    }
                }
            }
        }
    }
    counts.new = (0..new.num_rows())
        .filter(|&i| keep_new[i] && !matched[i])
        .count();
    let mut parts = Vec::new();
    if let Some(old) = old
        && !kept_old.is_empty()
    {
        parts.push(take_record_batch(old, &UInt32Array::from(kept_old))?);
    }
    parts.push(filter_record_batch(new, &BooleanArray::from(keep_new))?);
    let merged = concat_batches(&schema, &parts)?;
    let merged = sort_by_key(&merged, &update.key, what)?;
    counts.total = merged.num_rows();
    Ok((merged, counts))
}

fn unique_file_name(source: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{source}-{nanos:x}-{}.parquet", std::process::id())
}

/// Whether `name` is a data file a store writes: `<source>-<hex>-<pid>.parquet`
/// ([`unique_file_name`]: the hex is a time in nanoseconds since 1970, 16 digits from
/// 2006 to 2554), or the temporary file of one (`.<that name>.<random>.partial.parquet`).
/// Nothing else is ever removed from a store's `data/`: a user's `backup-2024-01.parquet`
/// or `meta-2024-06.parquet` has the shape `<word>-<digits>-<digits>` but not the 16
/// digits, and stays.
fn is_store_data_file(name: &str) -> bool {
    let committed = |n: &str| {
        let Some(stem) = n.strip_suffix(".parquet") else {
            return false;
        };
        let mut parts = stem.rsplitn(3, '-');
        let (Some(pid), Some(nanos), Some(source)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        (1..=10).contains(&pid.len())
            && pid.bytes().all(|b| b.is_ascii_digit())
            && nanos.len() == 16
            && nanos
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && !source.is_empty()
            && source
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if let Some(rest) = name.strip_prefix('.')
        && let Some(rest) = rest.strip_suffix(".partial.parquet")
        && let Some((file, _random)) = rest.rsplit_once('.')
    {
        return committed(file);
    }
    committed(name)
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Store {
    /// Opens the store in `dir` for writing (`.write.lock`, waiting up to 10 minutes for
    /// another writer), creating it when `dir` does not exist or is empty, and removes
    /// files of unfinished commits (waiting for readers still in, up to 10 minutes).
    /// Readers are not kept out while it is open: see "Locking" in the
    /// [module docs](self).
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming the path, with nothing changed: `dir` is a file, holds
    /// other files but no manifest (not a store), a manifest of another format or of a
    /// newer version, or names a missing file.
    pub fn create_or_open(dir: impl AsRef<Path>) -> Result<Store> {
        let dir = dir.as_ref();
        if dir.exists() && !dir.is_dir() {
            return Err(store_error(
                dir,
                "exists and is not a directory (a store is a directory)",
            ));
        }
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| store_error(dir, e.to_string()))?;
        }
        if !dir.join(MANIFEST).exists() {
            // Checked before the lock file is created: a foreign directory stays as it was.
            // A manifest found now was written by another writer since the check above
            // (it writes it first, under the lock, before any other file): a store.
            let foreign: Vec<String> = std::fs::read_dir(dir)
                .map_err(|e| store_error(dir, e.to_string()))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != MANIFEST && !is_store_scratch(n))
                .collect();
            if !foreign.is_empty() {
                let mut shown: Vec<&str> = foreign.iter().map(String::as_str).take(3).collect();
                shown.sort_unstable();
                return Err(store_error(
                    dir,
                    format!(
                        "is not a LiftOS store: no {MANIFEST}, but it holds other files ({}{}); use a new or empty directory; nothing was changed",
                        shown.join(", "),
                        if foreign.len() > 3 { ", ..." } else { "" }
                    ),
                ));
            }
        }
        let lock = lock_file(dir, WRITE_LOCK, Lock::Exclusive)?;
        let manifest = match read_manifest(dir)? {
            Some(m) => m,
            None => {
                let m = Manifest::empty();
                write_manifest(dir, &m)?;
                m
            }
        };
        let store = Store {
            dir: dir.to_owned(),
            manifest,
            staged: BTreeMap::new(),
            writable: true,
            _lock: lock,
        };
        // Under `.lock` exclusive: no reader is in, and no writer of an earlier version
        // (which held it for its whole sync).
        let readers_out = lock_file(dir, LOCK, Lock::Exclusive)?;
        store.remove_garbage()?;
        drop(readers_out);
        Ok(store)
    }

    /// Opens an existing store for reading: the last commit, also while a sync is
    /// pulling (a shared `.lock`; it waits, up to 10 minutes, only while a writer removes
    /// stale files). In a directory where `.lock` may not be created it reads without it.
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming the path: no such directory, no manifest, a manifest of
    /// another format or a newer version, a missing file.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(store_error(
                dir,
                "no such store directory (create one with `liftos sync`)",
            ));
        }
        if !dir.join(MANIFEST).is_file() {
            return Err(store_error(
                dir,
                format!("is not a LiftOS store (no {MANIFEST}; create one with `liftos sync`)"),
            ));
        }
        let lock = lock_file(dir, LOCK, Lock::Shared)?;
        let manifest = read_manifest(dir)?.ok_or_else(|| {
            store_error(
                &dir.join(MANIFEST),
                "disappeared while the store was opened",
            )
        })?;
        Ok(Store {
            dir: dir.to_owned(),
            manifest,
            staged: BTreeMap::new(),
            writable: false,
            _lock: lock,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The committed sources, by name.
    pub fn sources(&self) -> &BTreeMap<String, StoredSource> {
        &self.manifest.sources
    }

    /// The committed source `name`.
    pub fn source(&self, name: &str) -> Option<&StoredSource> {
        self.manifest.sources.get(name)
    }

    /// How many commits the store has seen.
    pub fn commits(&self) -> u64 {
        self.manifest.commit
    }

    /// Files under `data/` the manifest does not name (a commit that never finished, the
    /// files a commit replaced), removed. Runs only under `.lock` exclusive (no reader in).
    fn remove_garbage(&self) -> Result<usize> {
        let data = self.dir.join(DATA_DIR);
        let Ok(entries) = std::fs::read_dir(&data) else {
            return Ok(0);
        };
        let named: BTreeSet<String> = self
            .manifest
            .sources
            .values()
            .chain(self.staged.values())
            .flat_map(|s| s.files.iter().cloned())
            .collect();
        let mut removed = 0;
        for e in entries.filter_map(|e| e.ok()) {
            let file_name = e.file_name().to_string_lossy().into_owned();
            let rel = format!("{DATA_DIR}/{file_name}");
            // Only files this module names ([`unique_file_name`], or their temporary
            // files): anything else someone put there is left alone.
            if !named.contains(&rel) && is_store_data_file(&file_name) && e.path().is_file() {
                std::fs::remove_file(e.path()).map_err(|err| {
                    store_error(&e.path(), format!("cannot remove a stale file: {err}"))
                })?;
                removed += 1;
            }
        }
        // Temporary manifests of a commit killed before its rename.
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.filter_map(|e| e.ok()) {
                let n = e.file_name().to_string_lossy().into_owned();
                if n != LOCK && is_store_scratch(&n) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(removed)
    }

    fn read_entry(&self, name: &str, s: &StoredSource) -> Result<RecordBatch> {
        let mut parts = Vec::with_capacity(s.files.len());
        for f in &s.files {
            parts.push(read_table(self.dir.join(f))?);
        }
        match parts.first() {
            None => Err(store_error(
                &self.dir.join(MANIFEST),
                format!("source `{name}` has no file"),
            )),
            Some(first) => {
                let schema = first.schema();
                let table = concat_batches(&schema, &parts)?;
                if schema_of(&schema) != s.schema {
                    return Err(store_error(
                        &self.dir.join(&s.files[0]),
                        format!(
                            "its schema differs from the one the manifest records for source `{name}`"
                        ),
                    ));
                }
                Ok(table)
            }
        }
    }

    /// Every stored row of source `name` (partial days included).
    ///
    /// # Errors
    ///
    /// [`Error::File`] for an unknown source or an unreadable file.
    pub fn read(&self, name: &str) -> Result<RecordBatch> {
        let s = self.source(name).ok_or_else(|| {
            store_error(
                &self.dir,
                format!(
                    "the store has no source `{name}` (it has: {})",
                    self.manifest
                        .sources
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        self.read_entry(name, s)
    }

    /// The rows of source `name` up to its last complete day (partial days left out).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn read_complete(&self, name: &str) -> Result<RecordBatch> {
        let table = self.read(name)?;
        let Some(s) = self.source(name) else {
            return Ok(table);
        };
        let Some(last) = s.last_complete() else {
            return Ok(table);
        };
        let dates = date_values(&table, &s.date_column, name)?;
        let last = date32(last);
        let keep: BooleanArray = dates
            .iter()
            .map(|d| Some(d.is_some_and(|d| d <= last)))
            .collect();
        Ok(filter_record_batch(&table, &keep)?)
    }

    /// Merges `update` into source `name` and writes the merged table to a new file.
    /// Nothing is visible until [`commit`](Self::commit).
    ///
    /// # Errors
    ///
    /// [`Error::File`] for a store opened read-only, a bad source name or a write
    /// failure; [`Error::MissingColumn`]/[`Error::WrongType`] when the key or date
    /// column is missing; [`Error::File`] naming the stored file when the pull's
    /// schema differs from the stored one without a full refresh.
    pub fn upsert(&mut self, name: &str, update: SourceUpdate) -> Result<UpsertCounts> {
        if !self.writable {
            return Err(store_error(
                &self.dir,
                "opened for reading; open it with create_or_open to write",
            ));
        }
        let portable = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !portable {
            return Err(store_error(
                &self.dir,
                format!("source name `{name}` must be ASCII letters, digits, `_` or `-`"),
            ));
        }
        date_values(&update.rows, &update.date_column, name)?;
        let previous = self
            .staged
            .get(name)
            .or_else(|| self.manifest.sources.get(name))
            .cloned();
        let new_schema = schema_of(&update.rows.schema());
        let full_refresh = update.full_refresh
            || previous
                .as_ref()
                .is_some_and(|p| p.request != update.request || p.key != update.key);
        // A full refresh replaces every stored row; the stored table is still read when
        // it has the pull's columns and key, to count what the refresh changes.
        let comparable = |p: &StoredSource| p.schema == new_schema && p.key == update.key;
        let old = match &previous {
            Some(p) if full_refresh && comparable(p) => Some(self.read_entry(name, p)?),
            Some(_) if full_refresh => None,
            Some(p) => {
                if p.schema != new_schema {
                    return Err(store_error(
                        &self.dir.join(MANIFEST),
                        format!(
                            "source `{name}`: the pull's columns differ from the stored ones with the same request; re-sync into a new store"
                        ),
                    ));
                }
                Some(self.read_entry(name, p)?)
            }
            _ => None,
        };
        let update = SourceUpdate {
            full_refresh,
            ..update
        };
        let (merged, mut counts) = merge(&self.dir, old.as_ref(), &update.rows, &update, name)?;
        if old.is_none()
            && let Some(p) = &previous
        {
            // Stored rows of other columns or another key: every one is replaced.
            counts.removed = usize::try_from(p.rows).unwrap_or(usize::MAX);
        }
        // Nothing moved: no new file, no commit (a re-run changes nothing on disk).
        if let Some(p) = &previous
            && !full_refresh
            && !counts.changed()
            && p.last_complete() == Some(update.complete_through)
            && p.first().is_some_and(|f| f <= update.window.0)
            && p.partial_days
                .iter()
                .all(|d| parse_day(d).is_some_and(|d| d > update.complete_through))
        {
            return Ok(counts);
        }
        let data = self.dir.join(DATA_DIR);
        std::fs::create_dir_all(&data).map_err(|e| store_error(&data, e.to_string()))?;
        let file = format!("{DATA_DIR}/{}", unique_file_name(name));
        write_table(self.dir.join(&file), &merged)?;
        sync_dir(&data)?;
        let first = match previous.as_ref().and_then(StoredSource::first) {
            Some(f) if !full_refresh => f.min(update.window.0),
            _ => update.window.0,
        };
        let mut accounts = if full_refresh {
            BTreeMap::new()
        } else {
            previous
                .as_ref()
                .map(|p| p.accounts.clone())
                .unwrap_or_default()
        };
        if let Some(col) = &update.account_column
            && let Some(values) = merged.column_by_name(col)
        {
            let values = arrow::compute::cast(values, &DataType::Utf8)?;
            for v in values.as_string::<i32>().iter().flatten() {
                accounts.insert(v.to_owned(), day_string(update.complete_through));
            }
        }
        let dates = date_values(&merged, &update.date_column, name)?;
        let last = date32(update.complete_through);
        let partial_days: BTreeSet<String> = dates
            .iter()
            .flatten()
            .filter(|d| *d > last)
            .filter_map(|d| {
                NaiveDate::from_ymd_opt(1970, 1, 1)
                    .and_then(|e| e.checked_add_signed(chrono::Duration::days(i64::from(d))))
            })
            .map(day_string)
            .collect();
        self.staged.insert(
            name.to_owned(),
            StoredSource {
                files: vec![file],
                rows: merged.num_rows() as u64,
                key: update.key.clone(),
                date_column: update.date_column.clone(),
                account_column: update.account_column.clone(),
                schema: new_schema,
                first_day: day_string(first),
                last_complete_day: day_string(update.complete_through),
                partial_days: partial_days.into_iter().collect(),
                accounts,
                request: update.request.clone(),
                synced_at: now_rfc3339(),
            },
        );
        Ok(counts)
    }

    /// Makes every upsert since the last commit current at once (atomic manifest
    /// rename), then removes the files no longer named.
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming the manifest when it cannot be written (the store then
    /// stays as it was).
    pub fn commit(&mut self) -> Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let mut next = self.manifest.clone();
        next.commit = next.commit.checked_add(1).ok_or_else(|| {
            store_error(
                &self.dir.join(MANIFEST),
                format!(
                    "its commit number {} is the largest there is (a manifest edited by hand?); nothing was changed",
                    next.commit
                ),
            )
        })?;
        next.version = STORE_FORMAT_VERSION;
        for (name, s) in std::mem::take(&mut self.staged) {
            next.sources.insert(name, s);
        }
        write_manifest(&self.dir, &next)?;
        self.manifest = next;
        // The replaced files go now if no reader is in (one may still read them), else
        // with the next writer's open.
        if let Some(readers_out) = lock_file(&self.dir, LOCK, Lock::ExclusiveIfFree)? {
            self.remove_garbage()?;
            drop(readers_out);
        }
        Ok(())
    }
}

/// The stored table's schema, for a source's schema checks.
pub fn stored_schema(schema: &SchemaRef) -> Vec<StoredColumn> {
    schema_of(schema)
}

/// The columns that identify a row of a source table, derived from its mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceKey {
    /// The source column mapped to the unified `date` (Date32).
    pub date: String,
    /// The natural key: the date, then the source columns mapped to the unified
    /// `channel`, `account_id`, `campaign_id` and `ad_group` and to breakdowns, whatever
    /// their type (a numeric `campaign_id` is as much an id as a text one), the column
    /// mapped to the `campaign` name when the table has no `campaign_id` column, then
    /// every other text column except those mapped to the `campaign` name and
    /// `currency` (attributes that a restatement or a rename may change).
    pub key: Vec<String>,
    /// The source column mapped to `account_id`, when the table has it.
    pub account: Option<String>,
    /// The source column mapped to `currency`, when the table has it (compared with
    /// the stored rows' currency at every sync).
    pub currency: Option<String>,
}

/// The [`SourceKey`] of a source table of `schema` read with `mapping`.
///
/// # Errors
///
/// [`Error::Config`] when the mapping gives no date column, or
/// [`Error::MissingColumn`]/[`Error::WrongType`] when the table lacks it or it is not
/// Date32.
pub fn source_key(
    name: &str,
    mapping: &crate::SourceMapping,
    schema: &Schema,
) -> Result<SourceKey> {
    use crate::unified::{ACCOUNT_ID, AD_GROUP, CAMPAIGN, CAMPAIGN_ID, CHANNEL, CURRENCY, DATE};
    let column_of = |role: &str| {
        mapping
            .columns
            .get(role)
            .and_then(|c| c.column.clone())
            .filter(|c| schema.field_with_name(c).is_ok())
    };
    let date = mapping
        .columns
        .get(DATE)
        .and_then(|c| c.column.clone())
        .ok_or_else(|| {
            Error::config(
                format!("mapping.sources.{name}.columns.date"),
                "a stored source needs a date column",
            )
        })?;
    let field = schema
        .field_with_name(&date)
        .map_err(|_| Error::MissingColumn {
            table: name.to_owned(),
            column: date.clone(),
        })?;
    if field.data_type() != &DataType::Date32 {
        return Err(Error::wrong_type(name, &date, "Date32", field.data_type()));
    }
    let mut key = vec![date.clone()];
    let mut push = |c: String| {
        if !key.contains(&c) {
            key.push(c);
        }
    };
    for role in [CHANNEL, ACCOUNT_ID, CAMPAIGN_ID, AD_GROUP] {
        if let Some(c) = column_of(role) {
            push(c);
        }
    }
    let campaign_id = column_of(CAMPAIGN_ID);
    if campaign_id.is_none()
        && let Some(c) = column_of(CAMPAIGN)
    {
        push(c);
    }
    for spec in mapping.breakdowns.values() {
        if let Some(c) = spec.column.clone()
            && schema.field_with_name(&c).is_ok()
        {
            push(c);
        }
    }
    let attributes: Vec<String> = [CAMPAIGN, CURRENCY]
        .iter()
        .filter_map(|r| column_of(r))
        .collect();
    for f in schema.fields() {
        let text = matches!(
            f.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        if text && !attributes.contains(f.name()) {
            push(f.name().clone());
        }
    }
    let account = column_of(ACCOUNT_ID);
    let currency = column_of(CURRENCY);
    Ok(SourceKey {
        date,
        key,
        account,
        currency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Float64Array, StringArray};
    use std::sync::Arc;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn table(rows: &[(&str, &str, f64)]) -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "date",
                Arc::new(Date32Array::from(
                    rows.iter().map(|r| date32(day(r.0))).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
            (
                "campaign_id",
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )) as _,
            ),
            (
                "revenue",
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )) as _,
            ),
        ])
        .unwrap()
    }

    /// Upserts one day of `meta` (2025-01-01, campaign `a`, spend `spend`) into `s`.
    fn upsert_day(s: &mut Store, spend: f64) {
        let day = update(&[("2025-01-01", "a", spend)], "2025-01-01", "2025-01-01");
        s.upsert("meta", day).unwrap();
    }

    fn update(rows: &[(&str, &str, f64)], from: &str, to: &str) -> SourceUpdate {
        SourceUpdate::new(
            table(rows),
            ["date", "campaign_id"],
            "date",
            (day(from), day(to)),
        )
    }

    #[test]
    fn a_window_reread_counts_new_restated_unchanged_and_removed_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(dir.path()).unwrap();
        let c = s
            .upsert(
                "meta",
                update(
                    &[
                        ("2025-01-01", "a", 1.0),
                        ("2025-01-02", "a", 2.0),
                        ("2025-01-02", "b", 3.0),
                    ],
                    "2025-01-01",
                    "2025-01-02",
                ),
            )
            .unwrap();
        s.commit().unwrap();
        assert_eq!(
            (c.new, c.restated, c.unchanged, c.removed, c.total),
            (3, 0, 0, 0, 3)
        );
        // Day 2 re-read: `a` restated, `b` gone, day 3 new; day 1 outside the window kept.
        let reread = || {
            update(
                &[("2025-01-02", "a", 2.5), ("2025-01-03", "a", 4.0)],
                "2025-01-02",
                "2025-01-03",
            )
        };
        let c = s.upsert("meta", reread()).unwrap();
        s.commit().unwrap();
        assert_eq!(
            (c.new, c.restated, c.unchanged, c.removed, c.total),
            (1, 1, 0, 1, 3)
        );
        let got = crate::pretty_format(&[s.read("meta").unwrap()]).unwrap();
        assert_eq!(
            got,
            "+------------+-------------+---------+\n\
             | date       | campaign_id | revenue |\n\
             +------------+-------------+---------+\n\
             | 2025-01-01 | a           | 1.0     |\n\
             | 2025-01-02 | a           | 2.5     |\n\
             | 2025-01-03 | a           | 4.0     |\n\
             +------------+-------------+---------+"
        );
        // The same pull again changes nothing.
        let c = s.upsert("meta", reread()).unwrap();
        assert!(!c.changed());
        assert_eq!(c.unchanged, 2);
        let (before, files) = (s.commits(), s.source("meta").unwrap().files.clone());
        s.commit().unwrap();
        assert_eq!(
            s.commits(),
            before,
            "a sync that changes nothing commits nothing"
        );
        assert_eq!(s.source("meta").unwrap().files, files);
    }

    #[test]
    fn files_outside_the_manifest_are_ignored_and_removed_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(dir.path()).unwrap();
        upsert_day(&mut s, 1.0);
        s.commit().unwrap();
        // An upsert never committed (a process killed before its manifest rename).
        upsert_day(&mut s, 9.0);
        drop(s);
        let files = std::fs::read_dir(dir.path().join(DATA_DIR))
            .unwrap()
            .count();
        assert_eq!(files, 2);
        let r = Store::open(dir.path()).unwrap();
        let revenue = r.read("meta").unwrap();
        assert_eq!(
            revenue
                .column(2)
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(0),
            1.0
        );
        drop(r);
        let _w = Store::create_or_open(dir.path()).unwrap();
        let files = std::fs::read_dir(dir.path().join(DATA_DIR))
            .unwrap()
            .count();
        assert_eq!(files, 1);
    }

    #[test]
    fn partial_days_are_kept_but_left_out_of_the_complete_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(dir.path()).unwrap();
        s.upsert(
            "meta",
            update(
                &[("2025-01-01", "a", 1.0), ("2025-01-02", "a", 0.5)],
                "2025-01-01",
                "2025-01-02",
            )
            .with_complete_through(day("2025-01-01")),
        )
        .unwrap();
        s.commit().unwrap();
        assert_eq!(s.read("meta").unwrap().num_rows(), 2);
        assert_eq!(s.read_complete("meta").unwrap().num_rows(), 1);
        assert_eq!(
            s.source("meta").unwrap().partial_days,
            vec!["2025-01-02".to_owned()]
        );
    }

    #[test]
    fn the_key_of_a_meta_table_is_its_date_ids_and_breakdowns() {
        let schema = Schema::new(vec![
            arrow::datatypes::Field::new("date_start", DataType::Date32, false),
            arrow::datatypes::Field::new("date_stop", DataType::Date32, false),
            arrow::datatypes::Field::new("account_id", DataType::Utf8, false),
            arrow::datatypes::Field::new("account_currency", DataType::Utf8, true),
            arrow::datatypes::Field::new("campaign_id", DataType::Utf8, true),
            arrow::datatypes::Field::new("campaign_name", DataType::Utf8, true),
            arrow::datatypes::Field::new("age", DataType::Utf8, true),
            arrow::datatypes::Field::new("spend", DataType::Float64, false),
        ]);
        let k = source_key("meta", &crate::SourceMapping::meta(), &schema).unwrap();
        assert_eq!(k.date, "date_start");
        assert_eq!(k.key, ["date_start", "account_id", "campaign_id", "age"]);
        assert_eq!(k.account.as_deref(), Some("account_id"));
    }

    #[test]
    fn bad_store_directories_are_refused_without_a_change() {
        let dir = tempfile::tempdir().unwrap();
        // Someone else's directory.
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let e = Store::create_or_open(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("is not a LiftOS store") && e.contains("notes.txt"),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A foreign manifest.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join(MANIFEST), r#"{"tables": []}"#).unwrap();
        let e = Store::create_or_open(other.path()).unwrap_err().to_string();
        assert!(e.contains("not a LiftOS store manifest"), "{e}");
        // A newer version.
        let newer = tempfile::tempdir().unwrap();
        let text = r#"{"format": "liftos-store", "version": 99, "commit": 1, "sources": {}}"#;
        std::fs::write(newer.path().join(MANIFEST), text).unwrap();
        let e = Store::create_or_open(newer.path()).unwrap_err().to_string();
        assert!(
            e.contains("version 99") && e.contains("newer LiftOS"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(newer.path().join(MANIFEST)).unwrap(),
            text
        );
        // A missing file.
        let damaged = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(damaged.path()).unwrap();
        upsert_day(&mut s, 1.0);
        s.commit().unwrap();
        let file = damaged.path().join(&s.source("meta").unwrap().files[0]);
        drop(s);
        std::fs::remove_file(&file).unwrap();
        let before = std::fs::read_to_string(damaged.path().join(MANIFEST)).unwrap();
        let e = Store::create_or_open(damaged.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&file.display().to_string()) && e.contains("missing"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(damaged.path().join(MANIFEST)).unwrap(),
            before
        );
    }

    /// `date, campaign_id (Int64), campaign, currency, spend` rows.
    fn ads(rows: &[(&str, i64, &str, &str, f64)]) -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "date",
                Arc::new(Date32Array::from(
                    rows.iter().map(|r| date32(day(r.0))).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
            (
                "campaign_id",
                Arc::new(arrow::array::Int64Array::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )) as _,
            ),
            (
                "campaign",
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )) as _,
            ),
            (
                "currency",
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.3).collect::<Vec<_>>(),
                )) as _,
            ),
            (
                "spend",
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.4).collect::<Vec<_>>(),
                )) as _,
            ),
        ])
        .unwrap()
    }

    fn ads_update(batch: RecordBatch, from: &str, to: &str) -> SourceUpdate {
        let k = source_key("snap", &crate::SourceMapping::unified(), &batch.schema()).unwrap();
        let mut u = SourceUpdate::new(batch, k.key, k.date, (day(from), day(to)));
        if let Some(c) = k.currency {
            u = u.with_currency_column(c);
        }
        u
    }

    #[test]
    fn a_numeric_campaign_id_is_part_of_the_key_and_every_row_is_kept() {
        let rows = ads(&[
            ("2024-01-01", 101, "Alpha", "USD", 10.0),
            ("2024-01-01", 102, "Beta", "USD", 20.0),
            ("2024-01-02", 101, "Alpha", "USD", 11.0),
            ("2024-01-02", 102, "Beta", "USD", 21.0),
        ]);
        let k = source_key("snap", &crate::SourceMapping::unified(), &rows.schema()).unwrap();
        assert_eq!(k.key, ["date", "campaign_id"]);
        assert_eq!(k.currency.as_deref(), Some("currency"));
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(dir.path()).unwrap();
        let c = s
            .upsert("snap", ads_update(rows, "2024-01-01", "2024-01-02"))
            .unwrap();
        s.commit().unwrap();
        assert_eq!((c.new, c.total), (4, 4));
        assert_eq!(s.read("snap").unwrap().num_rows(), 4);
    }

    #[test]
    fn without_a_campaign_id_the_campaign_name_is_part_of_the_key() {
        let schema = Schema::new(vec![
            arrow::datatypes::Field::new("date", DataType::Date32, false),
            arrow::datatypes::Field::new("campaign", DataType::Utf8, false),
            arrow::datatypes::Field::new("currency", DataType::Utf8, false),
            arrow::datatypes::Field::new("spend", DataType::Float64, false),
        ]);
        let k = source_key("snap", &crate::SourceMapping::unified(), &schema).unwrap();
        assert_eq!(k.key, ["date", "campaign"]);
    }

    #[test]
    fn a_key_repeated_within_one_pull_is_refused_naming_the_source_and_an_example() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(dir.path()).unwrap();
        let rows = ads(&[
            ("2024-01-01", 101, "Alpha", "USD", 10.0),
            ("2024-01-01", 101, "Alpha", "USD", 12.0),
            ("2024-01-01", 102, "Beta", "USD", 20.0),
        ]);
        let e = s
            .upsert("snap", ads_update(rows, "2024-01-01", "2024-01-01"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("source `snap`")
                && e.contains("rows 1 and 2")
                && e.contains("date=2024-01-01, campaign_id=101")
                && e.contains("no row was stored"),
            "{e}"
        );
        s.commit().unwrap();
        assert!(s.source("snap").is_none());
    }

    #[test]
    fn a_currency_other_than_the_stored_one_is_refused_and_the_store_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(dir.path()).unwrap();
        let usd = ads(&[("2024-01-01", 101, "Alpha", "USD", 10.0)]);
        s.upsert("snap", ads_update(usd, "2024-01-01", "2024-01-01"))
            .unwrap();
        s.commit().unwrap();
        let jpy = ads(&[("2024-01-01", 101, "Alpha", "JPY", 1500.0)]);
        let e = s
            .upsert("snap", ads_update(jpy, "2024-01-01", "2024-01-01"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("source `snap`") && e.contains("JPY") && e.contains("USD"),
            "{e}"
        );
        s.commit().unwrap();
        let stored = s.read("snap").unwrap();
        let currency = stored
            .column_by_name("currency")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(currency.value(0), "USD");
    }

    #[test]
    fn a_full_refresh_counts_the_stored_rows_it_removes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(dir.path()).unwrap();
        s.upsert(
            "meta",
            update(
                &[
                    ("2025-01-01", "a", 1.0),
                    ("2025-01-02", "a", 2.0),
                    ("2025-01-03", "a", 3.0),
                ],
                "2025-01-01",
                "2025-01-03",
            ),
        )
        .unwrap();
        s.commit().unwrap();
        // Another request from a later day: day 1 is dropped, day 2 restated.
        let c = s
            .upsert(
                "meta",
                update(
                    &[("2025-01-02", "a", 2.5), ("2025-01-03", "a", 3.0)],
                    "2025-01-02",
                    "2025-01-03",
                )
                .with_request("other"),
            )
            .unwrap();
        s.commit().unwrap();
        assert_eq!(
            (c.new, c.restated, c.unchanged, c.removed, c.total),
            (0, 1, 1, 1, 2)
        );
        assert_eq!(s.source("meta").unwrap().first_day, "2025-01-02");
    }

    #[test]
    fn files_the_store_did_not_write_are_never_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(dir.path()).unwrap();
        upsert_day(&mut s, 1.0);
        s.commit().unwrap();
        let data = dir.path().join(DATA_DIR);
        // Names with the store's shape `<word>-<hex>-<digits>` but not its 16 hex digits
        // (a user's monthly backups, dated exports) were once removed too.
        let shaped = [
            "backup-2024-01.parquet",
            "meta-2024-06.parquet",
            "spend-20240101-2.parquet",
        ];
        for name in [
            "results.json",
            "unified.parquet",
            "report.html",
            "meta-notes.parquet",
        ]
        .into_iter()
        .chain(shaped)
        {
            std::fs::write(data.join(name), "mine").unwrap();
        }
        // A store file of a commit that never finished, and its temporary file.
        let stale = unique_file_name("meta");
        std::fs::write(data.join(&stale), "x").unwrap();
        std::fs::write(data.join(format!(".{stale}.abc123.partial.parquet")), "x").unwrap();
        upsert_day(&mut s, 2.0);
        s.commit().unwrap();
        drop(s);
        drop(Store::create_or_open(dir.path()).unwrap());
        let mut left: Vec<String> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let stored = Store::open(dir.path())
            .unwrap()
            .source("meta")
            .unwrap()
            .files[0]
            .clone();
        let mut want = vec![
            "meta-notes.parquet".to_owned(),
            "report.html".to_owned(),
            "results.json".to_owned(),
            "unified.parquet".to_owned(),
            stored.trim_start_matches("data/").to_owned(),
        ];
        want.extend(shaped.map(str::to_owned));
        want.sort();
        assert_eq!(left, want);
        assert!(is_store_data_file(&unique_file_name("google_ads")));
    }

    /// A commit number at its largest (a manifest edited by hand) is one error naming the
    /// manifest, not an overflow, and the store stays as it was.
    #[test]
    fn a_commit_number_at_its_largest_is_an_error_not_an_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(dir.path()).unwrap();
        upsert_day(&mut s, 1.0);
        s.commit().unwrap();
        drop(s);
        let path = dir.path().join(MANIFEST);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        manifest["commit"] = serde_json::json!(u64::MAX);
        let edited = serde_json::to_string(&manifest).unwrap();
        std::fs::write(&path, &edited).unwrap();
        let mut s = Store::create_or_open(dir.path()).unwrap();
        upsert_day(&mut s, 2.0);
        let e = s.commit().unwrap_err().to_string();
        assert!(e.contains("manifest.json") && e.contains("largest"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
    }

    /// The manifest gets the mode its data files get, the one a created file gets (0666
    /// less the umask): it was 0600 (a temporary file's) while they were 0644, so a
    /// group that could read the tables could not read what names them. A mode the user
    /// gave the manifest is kept by the next commit.
    #[cfg(unix)]
    #[test]
    fn the_manifest_has_the_mode_of_the_data_files_and_keeps_a_mode_set_on_it() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let created = elsewhere.path().join("created");
        File::create(&created).unwrap();
        let mut s = Store::create_or_open(dir.path()).unwrap();
        upsert_day(&mut s, 1.0);
        s.commit().unwrap();
        let manifest = dir.path().join(MANIFEST);
        let data = dir.path().join(&s.source("meta").unwrap().files[0]);
        assert_eq!(mode(&data), mode(&created));
        assert_eq!(mode(&manifest), mode(&data), "manifest vs data file");
        std::fs::set_permissions(&manifest, std::fs::Permissions::from_mode(0o640)).unwrap();
        upsert_day(&mut s, 2.0);
        s.commit().unwrap();
        assert_eq!(mode(&manifest), 0o640);
    }

    /// A reader opens while a writer is open (a sync pulling) and reads the last commit;
    /// the files a later commit replaces stay while that reader is in, and the next
    /// writer removes them. The reader waited for the writer's whole life before.
    #[test]
    fn a_reader_opens_beside_an_open_writer_and_keeps_the_files_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Store::create_or_open(dir.path()).unwrap();
        upsert_day(&mut w, 1.0);
        w.commit().unwrap();
        let first = dir.path().join(&w.source("meta").unwrap().files[0]);
        let path = dir.path().to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(Store::open(&path)));
        let r = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the reader waited for the open writer")
            .unwrap();
        upsert_day(&mut w, 2.0);
        w.commit().unwrap();
        assert!(first.is_file(), "a file the reader may read was removed");
        let spend = |s: &Store| {
            let t = s.read("meta").unwrap();
            t.column_by_name("revenue")
                .unwrap()
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(0)
        };
        assert_eq!(spend(&r), 1.0, "the reader reads its commit");
        assert_eq!(spend(&w), 2.0);
        drop(r);
        drop(w);
        let next = Store::create_or_open(dir.path()).unwrap();
        assert!(!first.exists(), "the next writer removes the replaced file");
        assert_eq!(spend(&next), 2.0);
    }
}
