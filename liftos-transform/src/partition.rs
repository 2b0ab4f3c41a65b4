//! Cleaning a unified table larger than memory: split by campaign series into parts
//! that are cleaned a few at a time, then put back in order by DataFusion's streaming
//! merge (one batch of each part in memory).

use std::collections::BTreeMap;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::SortOptions;
use arrow::compute::{cast, concat_batches, take_record_batch};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef, UInt64Type};
use arrow::ipc::CompressionType;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::row::{RowConverter, SortField};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, UnboundedMemoryPool};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet};
use datafusion::physical_plan::sorts::streaming_merge::StreamingMergeBuilder;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use rayon::prelude::*;

use crate::clean::{
    CleanOutcome, Planned, QUARANTINED_DAYS_UNFILLED, clean_impl, fill_limit_error, plan_clean,
};
use crate::frame::{FLOAT_COLUMNS, Frame, INT_COLUMNS, TEXT_COLUMNS};
use crate::io::{TableWriter, file_error, write_behind, write_table};
use crate::parse::{self, ColumnEvidence, ColumnReading};
use crate::quality::{AccountCurrencies, WholeTable, observe_currencies, validate_impl};
use crate::stream::{SourceFile, read_ahead};
use crate::unified::{self, DATE, REVENUE, SPEND};
use crate::unify::QUARANTINE_ROW;
use crate::{
    Change, ChangeAction, DecimalSeparator, Error, Fixes, Result, RowAccounting, table_format,
};

/// Rows of the input cleaned together at most (about; a campaign series is never split).
pub const CLEAN_PART_ROWS: usize = 1_000_000;

/// Parts cleaned at the same time: memory holds about this many parts. Two parts at once
/// keep both cores of a small machine busy (30M rows: 54.7 s → 37.5 s with the split's
/// writes in parallel too; peak 0.50 → 0.84 GB); more would multiply the memory on a
/// machine with many cores, and each part's clean is itself parallel in places.
const PARTS_AT_ONCE: usize = 2;

/// Rows of a batch read from a part, and of a merged batch.
const MERGE_BATCH_ROWS: usize = 8192;

/// How part files are compressed: not at all. Part files are temporary and read once, so
/// they are Arrow IPC streams: writing one copies the columns' buffers and reading it
/// copies them back, where the Snappy Parquet parts before encoded and decoded every
/// value (about 40% of the CPU time of `liftos clean` in parts on the 3M-row benchmark
/// table, by `perf`). `liftos clean` on the 30M-row benchmark table: 79.0 s of CPU with
/// Parquet parts, 64.4 s with these (together with the one-number merge key of
/// [`order_key`]), the same files written; the parts take 4.4 GB of temporary disk at
/// their largest instead of 1.7 GB. LZ4 (`CompressionType::LZ4_FRAME`) cost more CPU
/// than it saved (3M rows in parts: 5.6–5.9 s against 4.5–5.4 s).
const PART_COMPRESSION: Option<CompressionType> = None;

/// Bytes buffered by each part file's writer (the split writes each part a few thousand
/// rows at a time).
const PART_BUFFER: usize = 256 * 1024;

/// A part file's writer: an Arrow IPC stream of the batches written, in order.
type PartWriter = StreamWriter<BufWriter<File>>;

/// Creates the part file `path` for batches of `schema`.
fn create_part(path: &Path, schema: &Schema) -> Result<PartWriter> {
    let file = File::create(path).map_err(|e| file_error(path, None, e.to_string()))?;
    let options = IpcWriteOptions::default()
        .try_with_compression(PART_COMPRESSION)
        .map_err(|e| file_error(path, None, e.to_string()))?;
    StreamWriter::try_new_with_options(BufWriter::with_capacity(PART_BUFFER, file), schema, options)
        .map_err(|e| file_error(path, None, e.to_string()))
}

/// The batches of the part file `path`, as they were written.
fn open_part(path: &Path) -> Result<StreamReader<BufReader<File>>> {
    let file = File::open(path).map_err(|e| file_error(path, None, e.to_string()))?;
    StreamReader::try_new(BufReader::new(file), None)
        .map_err(|e| file_error(path, None, e.to_string()))
}

/// The input row number carried through a part (a metadata column, dropped at the end).
pub(crate) const ROW: &str = "__liftos_row";
/// Sort key of the cleaned parts ([`order_key`]).
const KEY: &str = "__liftos_key";
/// The bit of [`KEY`] set for filled rows: they follow every kept row.
const FILLED_BIT: u64 = 1 << 63;

/// A cleaned row's place in the whole table's order, as one number: a kept row's input
/// row, or, for a filled row (after every kept row), [`FILLED_BIT`] with its series'
/// first input row. The filled rows of one series share their key; they lie in one part,
/// in date order, and the merge keeps the order of equal keys of one part. One `u64` key
/// lets DataFusion's merge compare the values themselves, where the three keys before
/// (filled, row, date) were compared through its row format (about 9% of `liftos
/// clean`'s CPU time in parts on the 3M-row benchmark table).
fn order_key(row: u64, filled: bool) -> u64 {
    debug_assert!(row < FILLED_BIT);
    if filled { FILLED_BIT | row } else { row }
}

/// What [`clean_file`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanedFile {
    /// The change log ([`Cleaned::change_log`](crate::Cleaned::change_log)).
    pub change_log: Vec<Change>,
    /// Input rows.
    pub rows_in: usize,
    /// Rows written to the clean table.
    pub rows_out: usize,
    /// Rows written to the quarantine table.
    pub quarantined: usize,
    /// Whether the quarantine file was written.
    pub quarantine_written: bool,
    /// Sum of the input's `spend` and `revenue` values that read as finite numbers, in
    /// row order.
    pub input_totals: (f64, f64),
    /// Sum of the clean table's `spend` and `revenue`, in row order.
    pub output_totals: (f64, f64),
    /// How ambiguous text columns were read ([`Cleaned::notes`](crate::Cleaned::notes)).
    pub notes: Vec<String>,
}

impl CleanedFile {
    /// Row accounting ([`Cleaned::accounting`](crate::Cleaned::accounting)).
    pub fn accounting(&self) -> RowAccounting {
        RowAccounting::from_log(self.rows_in, self.rows_out, &self.change_log)
    }
}

/// Cleans the unified table in `input` (CSV, read as text, or Parquet) with `fixes` into
/// `out`, unusable rows into `quarantine`, holding about `part_rows` input rows of each
/// of the two parts it cleans at a time.
///
/// The files written hold the tables [`clean_data`](crate::clean_data) gives for the
/// whole table read with [`ReadOptions::text`](crate::ReadOptions::text), in the same row
/// order, with the same change log. Every step of the clean depends only on the rows of
/// one campaign series (duplicates share a series; gaps are filled within one) or of one
/// row, so the input is split by series into parts of about `part_rows` rows (in
/// temporary Arrow IPC files, about as large as the table in memory), each part is
/// cleaned whole (two in parallel, each started as soon as one ends),
/// and the parts' rows are put back in the whole table's order (input order, then filled
/// rows by series and date) by DataFusion's streaming merge of the parts, each already in
/// that order, while another thread encodes the output. A first pass over the input also
/// decides each text column's date order and decimal separator over all its rows, as
/// reading the whole table does. The quarantine file is written when it has rows or when
/// `keep_empty_quarantine` is set; both files appear only when everything succeeded.
///
/// # Errors
///
/// As [`clean_data`](crate::clean_data) (a fill beyond `max_filled_rows` names the
/// whole table's count), and [`Error::File`] naming a file that cannot be read or
/// written.
pub fn clean_file(
    input: &Path,
    fixes: &Fixes,
    out: &Path,
    quarantine: &Path,
    keep_empty_quarantine: bool,
    part_rows: usize,
) -> Result<CleanedFile> {
    table_format(out)?;
    table_format(quarantine)?;
    let source = SourceFile::open("table", input)?;
    // The broken contracts first (a missing column, a bad pattern), as for a whole table,
    // and the output's columns and change log of an empty table.
    let skeleton = match clean_impl(&source.empty(), fixes, None)? {
        CleanOutcome::Done(c, _) => c,
        CleanOutcome::FillLimit { total } => {
            return Err(fill_limit_error(total, fixes.max_filled_rows));
        }
    };
    let dir = tempfile::Builder::new()
        .prefix("liftos-clean-")
        .tempdir()
        .map_err(|e| file_error(&std::env::temp_dir(), None, e.to_string()))?;
    let parts = split_by_series(&source, dir.path(), part_rows.max(1), &[], None)?;

    let out_schema = skeleton.table.schema();
    let q_schema = skeleton.quarantine.schema();
    let mut log = skeleton.change_log.clone();
    // The parts are cleaned [`PARTS_AT_ONCE`] at a time, each against the whole fill
    // limit, and what they gave is added up in part order below, as cleaning them one
    // after the other would.
    let cleaned_parts = each_part(&parts.files, PARTS_AT_ONCE, |p, path| {
        clean_part(p, path, dir.path(), fixes, &parts.readings)
    })?;
    let mut longest: Option<(u64, i32, i32, String)> = None;
    let mut notes: Vec<String> = Vec::new();
    let (mut filled_so_far, mut over_limit): (u64, Option<u64>) = (0, None);
    let (mut out_parts, mut q_parts) = (Vec::new(), Vec::new());
    for part in cleaned_parts {
        let done = match part {
            PartCleaned::Empty => continue,
            PartCleaned::OverLimit { total } => {
                *over_limit.get_or_insert(filled_so_far) += total;
                continue;
            }
            PartCleaned::Done(done) => done,
        };
        if let Some(total) = &mut over_limit {
            *total += done.filled;
            continue;
        }
        if filled_so_far + done.filled > fixes.max_filled_rows as u64 {
            over_limit = Some(filled_so_far + done.filled);
            continue;
        }
        filled_so_far += done.filled;
        merge_log(&mut log, &done.change_log);
        for note in done.notes {
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        if let Some((first, from, to, detail)) = done.longest {
            let longer = longest.as_ref().is_none_or(|(f, x, y, _)| {
                let (len, best) = (
                    i64::from(to) - i64::from(from),
                    i64::from(*y) - i64::from(*x),
                );
                len > best || (len == best && (first, from) < (*f, *x))
            });
            if longer {
                longest = Some((first, from, to, detail));
            }
        }
        out_parts.push(done.out);
        q_parts.extend(done.quarantine);
    }
    if let Some(total) = over_limit {
        return Err(fill_limit_error(total, fixes.max_filled_rows));
    }
    if let Some((_, _, _, detail)) = longest {
        set_unfilled(&mut log, detail);
    }

    let mut table = TableWriter::create(out, out_schema.clone())?;
    let mut set_aside = TableWriter::create(quarantine, q_schema.clone())?;
    // From -0.0, as `Iterator::sum` of floats adds (an empty sum is -0.0).
    let mut output_totals = (-0.0, -0.0);
    write_behind(&mut table, &out_schema, |send| {
        merged(&out_parts, &[KEY], &out_schema, |batch| {
            add_totals(batch, &mut output_totals);
            send(batch.clone())
        })
    })?;
    merged(&q_parts, &[QUARANTINE_ROW], &q_schema, |batch| {
        set_aside.write(batch)
    })?;
    let (rows_out, quarantined) = (table.rows(), set_aside.rows());
    // The quarantine first: should the table's rename then fail, no quarantined row is
    // in no file.
    let quarantine_written = quarantined > 0 || keep_empty_quarantine;
    if quarantine_written {
        set_aside.finish()?;
    }
    table.finish()?;
    Ok(CleanedFile {
        change_log: log,
        rows_in: parts.rows,
        rows_out,
        quarantined,
        quarantine_written,
        input_totals: parts.totals,
        output_totals,
        notes,
    })
}

/// Rows of the output built and handed to the writer at a time by [`clean_to_file`].
const OUTPUT_RANGE_ROWS: usize = 64 * 1024;

/// Cleans `table` (held in memory) with `fixes` into `out`, unusable rows into
/// `quarantine`: the files [`clean_data`](crate::clean_data)'s tables written with
/// [`write_table`](crate::write_table) would give, the same rows in the same order, but
/// the output is built and written 65,536 rows at a time (another thread
/// encoding one range while the next is built) instead of being held whole beside its
/// input. The quarantine file is written when it has rows or when
/// `keep_empty_quarantine` is set; both files appear only when everything succeeded.
///
/// Measured on `benches/transform_vs_peers.py`'s 3M raw rows (`liftos clean`, release
/// build, alternated with the build that built the whole output first): see the
/// README's transform benchmark.
///
/// # Errors
///
/// As [`clean_data`](crate::clean_data), and [`Error::File`] naming a file that cannot
/// be written.
pub fn clean_to_file(
    table: &RecordBatch,
    fixes: &Fixes,
    out: &Path,
    quarantine: &Path,
    keep_empty_quarantine: bool,
) -> Result<CleanedFile> {
    clean_to_file_by(
        table,
        fixes,
        (out, quarantine, keep_empty_quarantine),
        OUTPUT_RANGE_ROWS,
    )
}

/// [`clean_to_file`] with the output built `range_rows` rows at a time; `files` are the
/// output, the quarantine and whether an empty quarantine is written.
fn clean_to_file_by(
    table: &RecordBatch,
    fixes: &Fixes,
    (out, quarantine, keep_empty_quarantine): (&Path, &Path, bool),
    range_rows: usize,
) -> Result<CleanedFile> {
    let range_rows = range_rows.max(1);
    table_format(out)?;
    table_format(quarantine)?;
    let plan = match plan_clean(table, fixes, None)? {
        Planned::Plan(plan) => plan,
        Planned::FillLimit { total } => {
            return Err(fill_limit_error(total, fixes.max_filled_rows));
        }
    };
    let rows_out = plan.output_rows();
    let empty = plan.output(table, 0..0)?;
    let schema = empty.schema();
    let mut written = TableWriter::create(out, schema.clone())?;
    let mut output_totals = (-0.0, -0.0);
    write_behind(&mut written, &schema, |send| {
        for from in (0..rows_out).step_by(range_rows) {
            let batch = plan.output(table, from..rows_out.min(from + range_rows))?;
            add_totals(&batch, &mut output_totals);
            send(batch)?;
        }
        Ok(())
    })?;
    let (cleaned, _) = plan.into_cleaned(table, empty)?;
    let quarantined = cleaned.quarantine.num_rows();
    let quarantine_written = quarantined > 0 || keep_empty_quarantine;
    // The quarantine first: should the table's rename then fail, no quarantined row is
    // in no file.
    if quarantine_written {
        write_table(quarantine, &cleaned.quarantine)?;
    }
    written.finish()?;
    Ok(CleanedFile {
        change_log: cleaned.change_log,
        rows_in: cleaned.rows_in,
        rows_out,
        quarantined,
        quarantine_written,
        input_totals: cleaned.input_totals,
        output_totals,
        notes: cleaned.notes,
    })
}

/// Validates the unified table in `input` (CSV, read as text, or Parquet) as
/// [`validate_data_quality`](crate::validate_data_quality) validates the whole table read
/// with [`ReadOptions::text`](crate::ReadOptions::text), holding about `part_rows` rows at
/// a time: the same report (scores, issues in check order, counts, example rows and
/// messages).
///
/// Every check depends only on one row, one campaign series (gaps, spikes, repeated
/// natural keys) or one account (mixed currencies), so the input is split by series
/// into parts (temporary Arrow IPC files) in one pass that also gathers each account's
/// currencies and what each text column says about its date order and decimal
/// separator; each part is validated with those, and the parts' findings are added up
/// (examples and messages taken in the whole table's order). A `unique` rule over
/// chosen columns (which may repeat across series) is checked on the whole table read
/// at once.
///
/// # Errors
///
/// As [`validate_data_quality`](crate::validate_data_quality), and [`Error::File`]
/// naming a file that cannot be read.
pub fn validate_file(
    input: &Path,
    required_fields: &[&str],
    rules: &crate::QualityRules,
    part_rows: usize,
) -> Result<crate::QualityReport> {
    let chosen_unique = rules
        .rules
        .iter()
        .any(|r| matches!(r, crate::Rule::Unique { columns, .. } if !columns.is_empty()));
    if chosen_unique {
        let table = crate::read_table_with(input, &crate::ReadOptions::text())?;
        return crate::validate_data_quality(&table, required_fields, rules);
    }
    let source = SourceFile::open("table", input)?;
    // Broken contracts first, as for a whole table; and the checks, in order.
    let no_readings = BTreeMap::new();
    let no_currencies = AccountCurrencies::new();
    let skeleton = validate_impl(
        &source.empty(),
        required_fields,
        rules,
        Some(&WholeTable {
            readings: &no_readings,
            currencies: &no_currencies,
        }),
    )?;
    let dir = tempfile::Builder::new()
        .prefix("liftos-validate-")
        .tempdir()
        .map_err(|e| file_error(&std::env::temp_dir(), None, e.to_string()))?;
    // The columns the rules read as dates or numbers.
    let columns: Vec<String> = rules
        .rules
        .iter()
        .filter_map(|r| match r {
            crate::Rule::Range { column, .. }
            | crate::Rule::DateRange { column, .. }
            | crate::Rule::DataType { column, .. } => Some(column.clone()),
            _ => None,
        })
        .collect();
    let mut currencies = AccountCurrencies::new();
    let parts = split_by_series(
        &source,
        dir.path(),
        part_rows.max(1),
        &columns,
        Some(&mut currencies),
    )?;
    let whole = WholeTable {
        readings: &parts.readings,
        currencies: &currencies,
    };
    let mut slots: Vec<MergedSlot> = skeleton
        .slots
        .into_iter()
        .map(|s| MergedSlot {
            issue: s.issue,
            examples: Vec::new(),
            message_key: None,
            found: false,
        })
        .collect();
    let (mut present, mut failing) = (0usize, 0usize);
    let mut notes: Vec<String> = Vec::new();
    // The parts checked [`PARTS_AT_ONCE`] at a time, their findings added in part order.
    let checked = each_part(
        &parts.files,
        PARTS_AT_ONCE,
        |_, path| -> Result<Option<_>> {
            let Some((part, rows)) = take_part(path)? else {
                return Ok(None);
            };
            let done = validate_impl(&part, required_fields, rules, Some(&whole))?;
            Ok(Some((done, rows)))
        },
    )?;
    for (done, rows) in checked.into_iter().flatten() {
        present += done.present;
        failing += done.failing;
        for note in done.report.notes {
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        if done.slots.len() != slots.len() {
            return Err(Error::config(
                "validate",
                "a part of the table was checked differently from the whole (a bug)",
            ));
        }
        for (merged, slot) in slots.iter_mut().zip(done.slots) {
            merged.add(slot, &rows, rules.max_examples);
        }
    }
    let rows = parts.rows;
    let required = if required_fields.is_empty() {
        rules.required_fields_or_default().len()
    } else {
        required_fields.len()
    };
    Ok(crate::QualityReport {
        rows,
        completeness_score: if rows == 0 || required == 0 {
            1.0
        } else {
            present as f64 / (rows * required) as f64
        },
        accuracy_score: if rows == 0 {
            1.0
        } else {
            (rows - failing) as f64 / rows as f64
        },
        issues: slots
            .into_iter()
            .filter(|s| s.issue.row_count > 0)
            .map(|mut s| {
                s.issue.example_rows = s.examples.iter().map(|e| e.2).collect();
                s.issue
            })
            .collect(),
        notes,
    })
}

/// `work(p, file)` for each part file, in order, on `at_once` threads, each taking the
/// next part as soon as it is free (memory holds about `at_once` parts): the results in
/// part order, or the error of the first part that failed. After an error no new part is
/// started.
///
/// Each part waits only for a free thread, where running them in waves of `at_once` had
/// a wave wait for its slowest part (parts differ in size: a campaign series is never
/// split).
fn each_part<T: Send>(
    files: &[PathBuf],
    at_once: usize,
    work: impl Fn(usize, &Path) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<T>>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..at_once.clamp(1, files.len().max(1)) {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let p = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(p) else {
                        break;
                    };
                    let done = work(p, path);
                    if done.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut results) = results.lock() {
                        results[p] = Some(done);
                    }
                }
            });
        }
    });
    let results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = Vec::with_capacity(files.len());
    for done in results {
        match done {
            Some(Ok(t)) => out.push(t),
            Some(Err(e)) => return Err(e),
            // A part not started after an error: that error came earlier or is below.
            None => {}
        }
    }
    if out.len() != files.len() {
        return Err(Error::config(
            "parts",
            "a part was not processed and gave no error (a bug)",
        ));
    }
    Ok(out)
}

/// One check's findings over the parts so far.
struct MergedSlot {
    issue: crate::Issue,
    /// The first examples in the table's order: (row, value, example row).
    examples: Vec<(u64, i64, usize)>,
    /// The row ordering the message now kept.
    message_key: Option<u64>,
    /// Whether a part found something.
    found: bool,
}

impl MergedSlot {
    /// Adds a part's findings (`rows`: the part's rows in the table).
    fn add(&mut self, slot: crate::quality::Slot, rows: &[u64], max_examples: usize) {
        if slot.issue.row_count == 0 {
            return;
        }
        self.issue.row_count += slot.issue.row_count;
        let key = slot.message_key.map(|r| rows[r]);
        let first = !std::mem::replace(&mut self.found, true);
        if first || key.is_some_and(|k| self.message_key.is_none_or(|m| k < m)) {
            self.issue.message = slot.issue.message;
            self.message_key = key;
        }
        self.examples.extend(
            slot.keys
                .iter()
                .zip(&slot.issue.example_rows)
                .map(|(&(r, v), &e)| (rows[r], v, rows[e] as usize)),
        );
        self.examples.sort_unstable();
        self.examples.truncate(max_examples);
    }
}

/// The input split by campaign series.
pub(crate) struct Parts {
    pub files: Vec<PathBuf>,
    pub rows: usize,
    pub readings: BTreeMap<String, ColumnReading>,
    /// Input spend and revenue totals (finite values that read as numbers, row order).
    pub totals: (f64, f64),
}

/// Writes each row of `source`, with its row number, to the part of its campaign series.
///
/// Also gathers the evidence for the readings of the unified date and metrics and of
/// `columns`, and, with `currencies`, each account's currencies.
pub(crate) fn split_by_series(
    source: &SourceFile,
    dir: &Path,
    part_rows: usize,
    columns: &[String],
    mut currencies: Option<&mut AccountCurrencies>,
) -> Result<Parts> {
    let n_parts = source.estimated_rows()?.div_ceil(part_rows).max(1);
    let mut schema_fields: Vec<Field> = source
        .schema
        .fields()
        .iter()
        .map(|f| (**f).clone())
        .collect();
    schema_fields.push(Field::new(ROW, DataType::UInt64, false));
    let schema: SchemaRef = Arc::new(Schema::new(schema_fields));
    let mut writers = Vec::with_capacity(n_parts);
    let mut files = Vec::with_capacity(n_parts);
    for p in 0..n_parts {
        let path = dir.join(format!("in-{p}.arrow"));
        writers.push(create_part(&path, &schema)?);
        files.push(path);
    }
    // The columns whose reading depends on all their values: the unified date and
    // metrics, and `columns`.
    let mut evidence: Vec<(String, ColumnEvidence)> = Vec::new();
    let wanted = [DATE]
        .into_iter()
        .chain(FLOAT_COLUMNS)
        .chain(INT_COLUMNS)
        .map(str::to_owned)
        .chain(columns.iter().cloned());
    for c in wanted {
        let text = source.schema.field_with_name(&c).is_ok_and(|f| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        });
        if text && !evidence.iter().any(|(e, _)| *e == c) {
            evidence.push((c, ColumnEvidence::default()));
        }
    }
    let series_at: Vec<usize> = source
        .schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            let n = f.name().as_str();
            TEXT_COLUMNS.contains(&n) || (!unified::is_unified(n) && !unified::is_metadata(n))
        })
        .map(|(i, _)| i)
        .collect();
    let series_schema = Arc::new(source.schema.project(&series_at)?);
    let mut rows = 0usize;
    let mut totals = [TextTotal::default(); 2];
    read_ahead(source.pieces(64 * 1024)?, |piece| {
        let piece = piece?;
        let n = piece.num_rows();
        for (c, e) in &mut evidence {
            if let Some(col) = piece.column_by_name(c) {
                e.observe(col.as_ref())?;
            }
        }
        add_text_totals(&piece, &mut totals);
        let series_cols = RecordBatch::try_new(
            series_schema.clone(),
            series_at.iter().map(|&i| piece.column(i).clone()).collect(),
        )?;
        let frame = Frame::new("table", &series_cols, false)?;
        if let Some(c) = currencies.as_deref_mut() {
            observe_currencies(&frame, c);
        }
        let key = frame.series_columns();
        let part_of: Vec<usize> = if key.is_empty() || n_parts == 1 {
            vec![0; n]
        } else {
            let converter = RowConverter::new(
                key.iter()
                    .map(|c| SortField::new(c.data_type().clone()))
                    .collect(),
            )?;
            let encoded = converter.convert_columns(&key)?;
            (0..n)
                .map(|r| {
                    let mut h = std::hash::DefaultHasher::new();
                    encoded.row(r).as_ref().hash(&mut h);
                    (h.finish() % n_parts as u64) as usize
                })
                .collect()
        };
        let mut columns: Vec<ArrayRef> = piece.columns().to_vec();
        columns.push(Arc::new(UInt64Array::from_iter_values(
            (rows as u64)..(rows + n) as u64,
        )));
        let numbered = RecordBatch::try_new(schema.clone(), columns)?;
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); n_parts];
        for (r, &p) in part_of.iter().enumerate() {
            members[p].push(r as u32);
        }
        // Each part's rows into its own writer, the parts' encoding in parallel.
        writers
            .par_iter_mut()
            .zip(members)
            .zip(&files)
            .try_for_each(|((writer, m), path)| -> Result<()> {
                if m.is_empty() {
                    return Ok(());
                }
                let batch = take_record_batch(&numbered, &UInt32Array::from(m))?;
                writer
                    .write(&batch)
                    .map_err(|e| file_error(path, None, e.to_string()))
            })?;
        rows += n;
        Ok(())
    })?;
    for (mut w, path) in writers.into_iter().zip(&files) {
        w.finish()
            .map_err(|e| file_error(path, None, e.to_string()))?;
    }
    let readings = evidence
        .into_iter()
        .map(|(c, e)| {
            let reading = e.decide("table", &c, None);
            (c, reading)
        })
        .collect::<BTreeMap<_, _>>();
    let totals = (
        totals[0].read(&readings, SPEND),
        totals[1].read(&readings, REVENUE),
    );
    Ok(Parts {
        files,
        rows,
        readings,
        totals,
    })
}

/// Adds the finite values of `spend` and `revenue` that read as numbers (the input),
/// for each column read with a decimal point and read with a decimal comma: which
/// reading is the column's is decided once the whole column has been seen.
fn add_text_totals(batch: &RecordBatch, totals: &mut [TextTotal; 2]) {
    for (c, total) in [SPEND, REVENUE].into_iter().zip(totals.iter_mut()) {
        let Some(col) = batch.column_by_name(c) else {
            continue;
        };
        if let Some(text) = col.as_string_opt::<i32>() {
            for v in text.iter().flatten() {
                for (decimal, sum) in [
                    (DecimalSeparator::Point, &mut total.point),
                    (DecimalSeparator::Comma, &mut total.comma),
                ] {
                    if let Some(x) = parse::parse_number(v, decimal)
                        && x.is_finite()
                    {
                        *sum += x;
                    }
                }
            }
        } else if let Ok(values) = cast(col, &DataType::Float64) {
            for v in values.as_primitive::<Float64Type>().iter().flatten() {
                if v.is_finite() {
                    total.point += v;
                    total.comma += v;
                }
            }
        }
    }
}

/// A text column's total read with either decimal separator (see [`add_text_totals`]);
/// from -0.0, as `Iterator::sum` of floats adds (an empty sum is -0.0).
#[derive(Debug, Clone, Copy)]
struct TextTotal {
    point: f64,
    comma: f64,
}

impl Default for TextTotal {
    fn default() -> Self {
        TextTotal {
            point: -0.0,
            comma: -0.0,
        }
    }
}

impl TextTotal {
    /// The total with the decimal separator `readings` decided for `column`.
    fn read(self, readings: &BTreeMap<String, ColumnReading>, column: &str) -> f64 {
        match readings.get(column).and_then(|r| r.decimal.as_ref()) {
            Some((DecimalSeparator::Comma, _)) => self.comma,
            _ => self.point,
        }
    }
}

/// Adds the values of `spend` and `revenue` (the output).
fn add_totals(batch: &RecordBatch, totals: &mut (f64, f64)) {
    for (c, total) in [(SPEND, &mut totals.0), (REVENUE, &mut totals.1)] {
        if let Some(col) = batch
            .column_by_name(c)
            .and_then(|c| c.as_primitive_opt::<Float64Type>())
        {
            for v in col.iter().flatten() {
                *total += v;
            }
        }
    }
}

/// What cleaning one part of the table gave ([`clean_part`]).
enum PartCleaned {
    /// The part had no rows.
    Empty,
    /// Filling would insert `total` rows, more than the whole table's limit.
    OverLimit {
        total: u64,
    },
    Done(PartDone),
}

/// A cleaned part, written as keyed part files.
struct PartDone {
    /// Rows filled in.
    filled: u64,
    change_log: Vec<Change>,
    notes: Vec<String>,
    /// The longest gap left unfilled: its series' first input row, the days before and
    /// after it, and its change-log detail.
    longest: Option<(u64, i32, i32, String)>,
    /// The clean rows with the whole table's order keys.
    out: PathBuf,
    /// The quarantined rows, renumbered to input rows, when there are some.
    quarantine: Option<PathBuf>,
}

/// Cleans part `p` (the file `path`, removed once read) with `fixes` and the whole
/// table's column readings, writing its rows into `dir`.
fn clean_part(
    p: usize,
    path: &Path,
    dir: &Path,
    fixes: &Fixes,
    readings: &BTreeMap<String, ColumnReading>,
) -> Result<PartCleaned> {
    let Some((part, rows)) = take_part(path)? else {
        return Ok(PartCleaned::Empty);
    };
    let (cleaned, detail) = match clean_impl(&part, fixes, Some(readings))? {
        CleanOutcome::FillLimit { total } => return Ok(PartCleaned::OverLimit { total }),
        CleanOutcome::Done(c, d) => (c, d),
    };
    drop(part);
    let longest = detail.longest.map(|(first, from, to)| {
        let detail = cleaned
            .change_log
            .iter()
            .find(|c| c.action == ChangeAction::Unfilled)
            .map(|c| c.detail.clone())
            .unwrap_or_default();
        (rows[first as usize], from, to, detail)
    });
    let keyed = with_order_keys(&cleaned.table, &rows, &detail)?;
    let out = write_part(dir, &format!("out-{p}"), &keyed)?;
    drop(keyed);
    let q = renumber_quarantine(&cleaned.quarantine, &rows)?;
    let quarantine = if q.num_rows() > 0 {
        Some(write_part(dir, &format!("q-{p}"), &q)?)
    } else {
        None
    };
    Ok(PartCleaned::Done(PartDone {
        filled: detail.filled_series_first.len() as u64,
        change_log: cleaned.change_log,
        notes: cleaned.notes,
        longest,
        out,
        quarantine,
    }))
}

/// Adds a part's change log to the whole table's (same entries in the same order; the
/// unfilled gaps, counted here, get their detail from the longest gap of all parts).
fn merge_log(log: &mut Vec<Change>, part: &[Change]) {
    // The unfilled long gaps (whose detail names the part's longest) are one entry.
    let gaps =
        |e: &Change| e.action == ChangeAction::Unfilled && e.detail != QUARANTINED_DAYS_UNFILLED;
    for c in part {
        let same = |e: &&mut Change| {
            e.fix == c.fix && e.action == c.action && ((gaps(c) && gaps(e)) || e.detail == c.detail)
        };
        if let Some(e) = log.iter_mut().find(same) {
            e.rows_affected += c.rows_affected;
        } else {
            // Only the unfilled gaps and days are logged when there are some: before the
            // fill, the gaps first.
            let at = log
                .iter()
                .position(|e| {
                    e.fix == c.fix
                        && (e.action == ChangeAction::Filled
                            || (gaps(c) && e.action == ChangeAction::Unfilled))
                })
                .unwrap_or(log.len());
            log.insert(at, c.clone());
        }
    }
}

fn set_unfilled(log: &mut [Change], detail: String) {
    if let Some(e) = log
        .iter_mut()
        .find(|e| e.action == ChangeAction::Unfilled && e.detail != QUARANTINED_DAYS_UNFILLED)
    {
        e.detail = detail;
    }
}

/// A part's clean table without the row numbers, with the key of the whole table's
/// order ([`order_key`]).
fn with_order_keys(
    table: &RecordBatch,
    rows: &[u64],
    detail: &crate::clean::CleanDetail,
) -> Result<RecordBatch> {
    let kept = detail.kept.len();
    let key = UInt64Array::from_iter_values((0..table.num_rows()).map(|i| {
        if i < kept {
            order_key(rows[detail.kept[i] as usize], false)
        } else {
            order_key(rows[detail.filled_series_first[i - kept] as usize], true)
        }
    }));
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (f, c) in table.schema().fields().iter().zip(table.columns()) {
        if f.name() != ROW {
            fields.push((**f).clone());
            columns.push(c.clone());
        }
    }
    fields.push(Field::new(KEY, DataType::UInt64, false));
    columns.push(Arc::new(key));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// A part's quarantine numbered by input row, without the row-number column.
fn renumber_quarantine(q: &RecordBatch, rows: &[u64]) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (f, c) in q.schema().fields().iter().zip(q.columns()) {
        match f.name().as_str() {
            ROW => {}
            QUARANTINE_ROW => {
                fields.push((**f).clone());
                columns.push(Arc::new(
                    c.as_primitive::<UInt64Type>()
                        .unary::<_, UInt64Type>(|r| rows[r as usize]),
                ));
            }
            _ => {
                fields.push((**f).clone());
                columns.push(c.clone());
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Writes `batch` as the part file `name` in `dir`, in batches of [`MERGE_BATCH_ROWS`]
/// rows (what the merge reads of each part at a time).
fn write_part(dir: &Path, name: &str, batch: &RecordBatch) -> Result<PathBuf> {
    let path = dir.join(format!("{name}.arrow"));
    let mut w = create_part(&path, &batch.schema())?;
    for at in (0..batch.num_rows()).step_by(MERGE_BATCH_ROWS) {
        let slice = batch.slice(at, MERGE_BATCH_ROWS.min(batch.num_rows() - at));
        w.write(&slice)
            .map_err(|e| file_error(&path, None, e.to_string()))?;
    }
    w.finish()
        .map_err(|e| file_error(&path, None, e.to_string()))?;
    Ok(path)
}

fn merge_error(e: impl std::fmt::Display) -> Error {
    Error::Sql {
        message: format!("putting the cleaned parts back in order: {e}"),
    }
}

/// Streams the rows of the part `files`, each sorted by the `keys` columns, in one
/// order by those keys (DataFusion's streaming merge, the one its sort-preserving merge
/// runs: one batch of each file in memory, nothing spilled), as batches of `schema` (the
/// keys dropped, types as in `schema`), to `each`.
fn merged(
    files: &[PathBuf],
    keys: &[&str],
    schema: &SchemaRef,
    mut each: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<()> {
    let Some(first) = files.first() else {
        return Ok(());
    };
    let part_schema = open_part(first)?.schema();
    let mut streams: Vec<SendableRecordBatchStream> = Vec::with_capacity(files.len());
    for path in files {
        let batches =
            futures::stream::iter(open_part(path)?.map(|b| b.map_err(DataFusionError::from)));
        streams.push(Box::pin(RecordBatchStreamAdapter::new(
            part_schema.clone(),
            batches,
        )));
    }
    let exprs = keys
        .iter()
        .map(|k| {
            let at = part_schema.index_of(k)?;
            Ok(PhysicalSortExpr::new(
                Arc::new(Column::new(k, at)),
                SortOptions::default(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let ordering = LexOrdering::new(exprs).ok_or_else(|| merge_error("no sort key"))?;
    let pool: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
    let metrics = ExecutionPlanMetricsSet::new();
    let mut stream = StreamingMergeBuilder::new()
        .with_streams(streams)
        .with_schema(part_schema)
        .with_expressions(&ordering)
        .with_metrics(BaselineMetrics::new(&metrics, 0))
        .with_batch_size(MERGE_BATCH_ROWS)
        .with_reservation(MemoryConsumer::new("liftos merge").register(&pool))
        .build()
        .map_err(merge_error)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(merge_error)?;
    runtime.block_on(async {
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(merge_error)?;
            let columns = schema
                .fields()
                .iter()
                .map(|f| {
                    let c = batch.column_by_name(f.name()).ok_or_else(|| {
                        merge_error(format!("a part lacks the column `{}`", f.name()))
                    })?;
                    Ok(cast(c, f.data_type())?)
                })
                .collect::<Result<Vec<_>>>()?;
            each(&RecordBatch::try_new(schema.clone(), columns)?)?;
        }
        Ok(())
    })
}

/// Reads one part file and deletes it (the part is in memory: its disk space is free for
/// what comes next); `None` for an empty part, else the part and its input row numbers.
fn take_part(path: &Path) -> Result<Option<(RecordBatch, Vec<u64>)>> {
    let reader = open_part(path)?;
    let schema = reader.schema();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, None, e.to_string()))?;
    let part = concat_batches(&schema, &batches)?;
    drop(batches);
    std::fs::remove_file(path).map_err(|e| file_error(path, None, e.to_string()))?;
    if part.num_rows() == 0 {
        return Ok(None);
    }
    let rows: Vec<u64> = part
        .column_by_name(ROW)
        .map(|c| c.as_primitive::<UInt64Type>().values().to_vec())
        .unwrap_or_default();
    Ok(Some((part, rows)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        CurrencyConversion, RateTable, ReadOptions, clean_data, read_table, read_table_with,
        write_table,
    };

    /// A unified table as text: 40 campaign series over two channels and accounts (some
    /// campaigns known by name only, one with an `age` breakdown), gaps short and long
    /// (equally long ones in several series), exact duplicates and restatements (later
    /// `_pulled_at`), unusable values, a date after the latest plausible day, EUR rows
    /// without a rate, names to normalize.
    fn unified_csv() -> String {
        let mut text = String::from(
            "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue,age,_pulled_at\n",
        );
        let mut n = 0usize;
        for s in 0..40usize {
            let channel = ["meta", "google_ads"][s % 2];
            let account = ["a1", "a2"][s / 20];
            let id = if s % 7 == 3 {
                String::new()
            } else {
                format!("c{}", s % 13)
            };
            let name = format!("  Campaign   {}  ", s % 9);
            let currency = if s % 11 == 5 { "EUR" } else { "USD" };
            let age = if s % 5 == 0 { "18-24" } else { "" };
            for k in 0..12usize {
                // Gaps: 3 missing days in some series, 400 (unfilled) in others.
                let day = k as i64
                    + if k >= 6 && s % 3 == 0 { 3 } else { 0 }
                    + if k >= 9 && s % 4 == 1 { 400 } else { 0 };
                let date = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap()
                    + chrono::Days::new(day as u64 + (s % 5) as u64);
                let date = if n % 97 == 13 {
                    "2099-01-01".to_owned()
                } else {
                    date.to_string()
                };
                let spend = if n % 53 == 7 {
                    "oops".to_owned()
                } else {
                    format!("{}.25", 10 + (n * 7) % 31)
                };
                let row = format!(
                    "{date},{channel},{account},{id},{name},g{},{currency},{spend},{},{},{}.0,{}.5,{age},{}\n",
                    k % 2,
                    100 + n,
                    n % 9,
                    n % 3,
                    n % 40,
                    n % 4,
                );
                text.push_str(&row);
                // Exact duplicates and restatements.
                if n % 17 == 2 {
                    text.push_str(&row);
                }
                if n % 19 == 4 {
                    text.push_str(&row.replace(&format!(",{}\n", n % 4), &format!(",{}\n", 9)));
                }
                n += 1;
            }
        }
        text
    }

    fn fixes() -> Vec<Fixes> {
        let rates = RateTable::new().with_rate(
            chrono::NaiveDate::from_ymd_opt(2023, 1, 3).unwrap(),
            "EUR",
            1.1,
        );
        let latest = chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
        vec![
            Fixes::default().with_latest_date(latest),
            Fixes::all(CurrencyConversion::new("USD", rates)).with_latest_date(latest),
            Fixes::from_list("remove_duplicates,normalize_campaign_names", None).unwrap(),
        ]
    }

    #[test]
    fn clean_file_in_parts_and_clean_to_file_write_what_cleaning_the_whole_table_gives() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("unified.csv");
        std::fs::write(&csv, unified_csv()).unwrap();
        let parquet = dir.path().join("unified.parquet");
        let typed = crate::read_table(&csv).unwrap();
        write_table(&parquet, &typed).unwrap();
        for (i, fixes) in fixes().iter().enumerate() {
            for input in [&csv, &parquet] {
                let table = read_table_with(input, &ReadOptions::text()).unwrap();
                let whole = clean_data(&table, fixes).unwrap();
                assert!(whole.accounting().balances());
                let a = whole.accounting();
                assert!(a.quarantined >= 5 && a.dropped_duplicates > 10, "{a:?}");
                if i < 2 {
                    assert!(a.filled > 10, "{a:?}");
                    assert!(
                        whole
                            .change_log
                            .iter()
                            .any(|c| c.action == ChangeAction::Unfilled && c.rows_affected > 3),
                        "{:?}",
                        whole.change_log
                    );
                }
                let expected = dir.path().join(format!("expected{i}.parquet"));
                let expected_q = dir.path().join(format!("expected_q{i}.parquet"));
                write_table(&expected, &whole.table).unwrap();
                write_table(&expected_q, &whole.quarantine).unwrap();
                let (expected, expected_q) = (
                    read_table(&expected).unwrap(),
                    read_table(&expected_q).unwrap(),
                );
                // The table held whole, its output written in ranges (across the kept
                // and the filled rows).
                let mut whole_totals = (-0.0, -0.0);
                add_totals(&whole.table, &mut whole_totals);
                for range_rows in [1, 7, OUTPUT_RANGE_ROWS] {
                    let out = dir.path().join(format!("r{i}-{range_rows}.parquet"));
                    let q = dir.path().join(format!("rq{i}-{range_rows}.parquet"));
                    let done =
                        clean_to_file_by(&table, fixes, (&out, &q, false), range_rows).unwrap();
                    let what = format!("fixes {i}, {}, ranges of {range_rows}", input.display());
                    assert_eq!(done.change_log, whole.change_log, "{what}");
                    assert_eq!(done.accounting(), whole.accounting(), "{what}");
                    assert_eq!(done.input_totals, whole.input_totals, "{what}");
                    assert_eq!(done.output_totals, whole_totals, "{what}");
                    assert_eq!(done.notes, whole.notes, "{what}");
                    assert!(done.quarantine_written, "{what}");
                    assert_eq!(read_table(&out).unwrap(), expected, "{what}");
                    assert_eq!(read_table(&q).unwrap(), expected_q, "{what}");
                }
                for part_rows in [1, 37, 150, 1_000_000] {
                    let out = dir.path().join(format!("c{i}-{part_rows}.parquet"));
                    let q = dir.path().join(format!("q{i}-{part_rows}.parquet"));
                    let done = clean_file(input, fixes, &out, &q, true, part_rows).unwrap();
                    let what = format!("fixes {i}, {}, parts of {part_rows}", input.display());
                    assert_eq!(done.change_log, whole.change_log, "{what}");
                    assert_eq!(done.accounting(), whole.accounting(), "{what}");
                    assert_eq!(read_table(&out).unwrap(), expected, "{what}");
                    assert_eq!(read_table(&q).unwrap(), expected_q, "{what}");
                }
            }
        }
    }

    #[test]
    fn validate_file_in_parts_reports_what_validating_the_whole_table_gives() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("unified.csv");
        // Spend spikes in some series.
        let text: String = unified_csv()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i % 29 == 11 {
                    l.replacen(".25,", "000.25,", 1) + "\n"
                } else {
                    l.to_owned() + "\n"
                }
            })
            .collect();
        std::fs::write(&csv, text).unwrap();
        let parquet = dir.path().join("unified.parquet");
        write_table(&parquet, &crate::read_table(&csv).unwrap()).unwrap();
        let today = chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
        let rules = crate::QualityRules::from_toml_str(
            r#"
            today = "2030-01-01"
            max_examples = 4
            [[rules]]
            kind = "range"
            column = "spend"
            max = 30.0
            [[rules]]
            kind = "data_type"
            column = "impressions"
            data_type = "integer"
            severity = "warning"
            [[rules]]
            kind = "date_range"
            column = "date"
            min = "2023-01-03"
            [[rules]]
            kind = "allowed_values"
            column = "channel"
            values = ["meta"]
            severity = "info"
            [[rules]]
            kind = "unique"
            "#,
        )
        .unwrap();
        let plain = crate::QualityRules::default().with_today(today);
        let no_examples = crate::QualityRules {
            max_examples: 0,
            ..plain.clone()
        };
        for (rules, required) in [
            (&rules, vec![]),
            (&plain, vec!["date", "spend", "age", "absent"]),
            (&no_examples, vec![]),
        ] {
            for input in [&csv, &parquet] {
                let table = read_table_with(input, &ReadOptions::text()).unwrap();
                let whole = crate::validate_data_quality(&table, &required, rules).unwrap();
                for rule in [
                    "date_gaps",
                    "spend_spike",
                    "duplicate_keys",
                    "mixed_currency",
                ] {
                    assert!(whole.issue(rule).is_some(), "{rule}: {whole}");
                }
                for part_rows in [1, 37, 1_000_000] {
                    let parts = validate_file(input, &required, rules, part_rows).unwrap();
                    assert_eq!(parts, whole, "{}, parts of {part_rows}", input.display());
                }
            }
        }
    }

    #[test]
    fn each_part_gives_the_results_in_part_order_and_the_first_error() {
        let files: Vec<PathBuf> = (0..9).map(|p| PathBuf::from(format!("p{p}"))).collect();
        for at_once in [1, 2, 3, 20] {
            // Uneven work: later parts finish first.
            let done = each_part(&files, at_once, |p, path| {
                std::thread::sleep(std::time::Duration::from_millis((9 - p as u64) * 3));
                Ok((p, path.to_owned()))
            })
            .unwrap();
            let expected: Vec<(usize, PathBuf)> = files.iter().cloned().enumerate().collect();
            assert_eq!(done, expected, "{at_once} at once");
            let started = std::sync::Mutex::new(Vec::new());
            // Part 5 fails first in time, part 2 first in order; after a failure each
            // thread ends the part it holds and starts no other.
            let err = each_part(&files, at_once, |p, _| {
                started.lock().unwrap().push(p);
                let ms = match p {
                    0 | 1 | 5 => 0,
                    2 => 10,
                    _ => 30,
                };
                std::thread::sleep(std::time::Duration::from_millis(ms));
                if p == 2 || p == 5 {
                    return Err(Error::config("part", format!("part {p}")));
                }
                Ok(p)
            })
            .unwrap_err();
            assert_eq!(err.to_string(), Error::config("part", "part 2").to_string());
            let started = started.into_inner().unwrap();
            assert!(started.len() <= 3 + at_once, "{at_once}: {started:?}");
        }
        assert!(each_part(&[], 2, |p, _| Ok(p)).unwrap().is_empty());
    }

    #[test]
    fn an_empty_table_in_parts_gives_what_the_whole_gives() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("empty.csv");
        std::fs::write(
            &csv,
            "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue\n",
        )
        .unwrap();
        let table = read_table_with(&csv, &ReadOptions::text()).unwrap();
        let fixes = Fixes::default();
        let whole = clean_data(&table, &fixes).unwrap();
        let (out, q) = (dir.path().join("c.csv"), dir.path().join("q.csv"));
        let done = clean_file(&csv, &fixes, &out, &q, false, 10).unwrap();
        assert_eq!(done.change_log, whole.change_log);
        assert_eq!((done.rows_in, done.rows_out, done.quarantined), (0, 0, 0));
        assert!(!done.quarantine_written && !q.exists());
        let expected = dir.path().join("expected.csv");
        write_table(&expected, &whole.table).unwrap();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&expected).unwrap()
        );
        // Sums as `Iterator::sum` gives them: an empty sum is -0.0.
        let empty: f64 = std::iter::empty::<f64>().sum();
        for total in [done.input_totals, done.output_totals] {
            assert_eq!(total.0.to_bits(), empty.to_bits());
            assert_eq!(total.1.to_bits(), empty.to_bits());
        }
        let rules = crate::QualityRules::default();
        assert_eq!(
            validate_file(&csv, &[], &rules, 10).unwrap(),
            crate::validate_data_quality(&table, &[], &rules).unwrap()
        );
    }

    #[test]
    fn a_fill_beyond_the_limit_names_the_whole_tables_count() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("unified.csv");
        std::fs::write(&csv, unified_csv()).unwrap();
        let table = read_table_with(&csv, &ReadOptions::text()).unwrap();
        let fixes = Fixes::default().with_fill_limits(366, 20);
        let whole = clean_data(&table, &fixes).unwrap_err().to_string();
        let out = dir.path().join("c.csv");
        let q = dir.path().join("q.csv");
        for part_rows in [1, 100, 1_000_000] {
            let parts = clean_file(&csv, &fixes, &out, &q, false, part_rows)
                .unwrap_err()
                .to_string();
            assert_eq!(parts, whole);
        }
        assert!(!out.exists() && !q.exists());
    }
}
