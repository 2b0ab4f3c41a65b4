//! Reading and writing tables as CSV or Parquet, chosen by file extension.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StringArray, new_empty_array,
};
use arrow::compute::{BatchCoalescer, concat};
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

use crate::{Error, Result, direct, infer};

pub use liftos_core::format::FileFormat;

/// The format of `path` from its extension, when [`read_table`] and [`write_table`] can
/// read and write it (CSV and Parquet).
///
/// # Errors
///
/// A file error naming `path` for any other extension (NDJSON included).
pub fn table_format(path: &Path) -> Result<FileFormat> {
    match FileFormat::from_path(path) {
        Some(f @ (FileFormat::Csv | FileFormat::Parquet)) => Ok(f),
        _ => Err(file_error(
            path,
            None,
            "unsupported file type: expected a .csv or .parquet extension",
        )),
    }
}

/// How [`read_table_with`] types CSV columns.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `infer_types` | `true` | infer each CSV column's type from all its values; `false` reads every column as Utf8 (the unify step parses text, so raw exports need no inference) | bool |
/// | `batch_size` | 65 536 | rows per decoded batch | ≥ 1 |
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// Infer CSV column types (else every column is Utf8).
    pub infer_types: bool,
    /// Rows per decoded batch.
    pub batch_size: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            infer_types: true,
            batch_size: 65_536,
        }
    }
}

impl ReadOptions {
    /// Reads every CSV column as text.
    pub fn text() -> Self {
        ReadOptions {
            infer_types: false,
            ..Self::default()
        }
    }
}

pub(crate) fn file_error(path: &Path, line: Option<usize>, message: impl Into<String>) -> Error {
    Error::File {
        path: path.to_owned(),
        line,
        message: message.into(),
    }
}

/// The first `line N` in an Arrow/csv message.
fn line_in(message: &str) -> Option<usize> {
    message.match_indices("line").find_map(|(at, _)| {
        let digits: String = message[at + 4..]
            .trim_start_matches([':', ' '])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// Reads a CSV or Parquet file (by extension) into one table, inferring CSV types.
///
/// CSV columns are typed with arrow-csv's own inference rules over all their cells
/// (Boolean, Int64, Float64, Date32, Timestamp, else Utf8; empty cells are null) and
/// parsed with its parsers. A column with a cell its inferred type's parser rejects
/// (e.g. `2024-02-30` in a date column) stays text, so the transforms can quarantine
/// that cell with its row. Two kinds of column stay text where arrow-csv would type
/// them: integers written with a leading zero (identifiers), and date-times with a cell
/// written with a zone (`2024-01-05T03:00:00Z`, `…-05:00`), which arrow-csv would turn
/// into a timestamp without a zone holding UTC instants, though such a timestamp means
/// wall-clock time; as text each cell keeps its meaning (the unify step moves an
/// instant to the source's time zone). A column of date-times without a zone
/// (`2024-01-05 00:00:00`) is a timestamp without a zone: wall-clock time.
///
/// A plain file (valid UTF-8, no quote character, records ending in `\n` or `\r\n`,
/// no blank line, every record as wide as the header) is parsed straight into typed
/// columns in one pass over line-aligned pieces of its bytes in parallel (number
/// columns into their final buffers; a number column whose later cells change its type
/// is read again); a large file is also read from disk in parallel pieces. Any other file
/// is decoded by arrow-csv, every column as text, then typed column by column the same
/// way. Both give the same table.
///
/// # Errors
///
/// [`Error::File`] naming the file, and the line for CSV problems (ragged rows,
/// invalid UTF-8); unsupported extensions and unreadable files too.
pub fn read_table(path: impl AsRef<Path>) -> Result<RecordBatch> {
    read_table_with(path, &ReadOptions::default())
}

/// Reads several files at once (as [`read_table`] each), in parallel: a small file or
/// the serial steps of one read overlap with the others. The tables come back in the
/// order of `paths`.
///
/// # Errors
///
/// The error of the first file (in `paths` order) that cannot be read, as
/// [`read_table`] gives it.
pub fn read_tables<P: AsRef<Path> + Sync>(paths: &[P]) -> Result<Vec<RecordBatch>> {
    read_tables_with(paths, &ReadOptions::default())
}

/// Like [`read_tables`], with [`ReadOptions`].
pub fn read_tables_with<P: AsRef<Path> + Sync>(
    paths: &[P],
    options: &ReadOptions,
) -> Result<Vec<RecordBatch>> {
    paths
        .par_iter()
        .map(|p| read_table_with(p, options))
        .collect::<Vec<_>>()
        .into_iter()
        .collect()
}

/// Like [`read_table`], with [`ReadOptions`].
pub fn read_table_with(path: impl AsRef<Path>, options: &ReadOptions) -> Result<RecordBatch> {
    let path = path.as_ref();
    match table_format(path)? {
        FileFormat::Csv => read_csv(path, options),
        // `table_format` admits CSV and Parquet only.
        _ => read_parquet(path, options),
    }
}

/// The column names of the table file `path` (a CSV's header row, a Parquet file's
/// schema), without reading its rows.
///
/// # Errors
///
/// A file error naming `path`: not CSV or Parquet, unreadable, no header row.
pub fn column_names(path: &Path) -> Result<Vec<String>> {
    let schema = match table_format(path)? {
        FileFormat::Csv => csv_header(path, open(path)?)?,
        _ => parquet_checked(path)?.schema().as_ref().clone(),
    };
    Ok(schema.fields().iter().map(|f| f.name().clone()).collect())
}

/// The header row of the CSV `reader` (read from `path`) as a schema of its column names
/// (types not inferred): one clear error for a file without a header or with a column
/// named twice.
pub(crate) fn csv_header(path: &Path, reader: impl std::io::Read) -> Result<Schema> {
    let (header, _) = Format::default()
        .with_header(true)
        .infer_schema(reader, Some(0))
        .map_err(|e| arrow_file_error(path, &e))?;
    if header.fields().is_empty() {
        return Err(file_error(path, Some(1), "no header row"));
    }
    check_unique_names(
        path,
        Some(1),
        header.fields().iter().map(|f| f.name().as_str()),
    )?;
    Ok(header)
}

/// Refuses a table whose header names one column twice (which copy would be used is
/// a guess): the error names the column and both 1-based positions.
pub(crate) fn check_unique_names<'a>(
    path: &Path,
    line: Option<usize>,
    names: impl Iterator<Item = &'a str>,
) -> Result<()> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, name) in names.enumerate() {
        if let Some(first) = seen.insert(name, i) {
            return Err(file_error(
                path,
                line,
                format!(
                    "column `{name}` appears twice in the header (columns {} and {}); rename one",
                    first + 1,
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| file_error(path, None, e.to_string()))
}

/// `file` (opened from `path`) as a Parquet reader builder; an error names `path`.
pub(crate) fn parquet_builder(
    path: &Path,
    file: File,
) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| file_error(path, None, e.to_string()))
}

/// `path` as a Parquet reader builder, refused when a column name repeats
/// ([`check_unique_names`]).
pub(crate) fn parquet_checked(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let builder = parquet_builder(path, open(path)?)?;
    check_unique_names(
        path,
        None,
        builder.schema().fields().iter().map(|f| f.name().as_str()),
    )?;
    Ok(builder)
}

/// Files at least this large are read in parallel pieces.
const PARALLEL_READ_MIN_BYTES: u64 = 4 << 20;

/// The whole content of `path`. A large file is read in as many pieces as there are
/// threads, each piece by position into its share of one buffer, so the copies out of
/// the page cache run in parallel; a file that changes size meanwhile is read again in
/// one piece.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let err = |e: std::io::Error| file_error(path, None, e.to_string());
    let mut file = open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let len = file.metadata().map_err(err)?.len();
        let threads = rayon::current_num_threads();
        if len >= PARALLEL_READ_MIN_BYTES
            && threads > 1
            && let Ok(len) = usize::try_from(len)
        {
            let mut bytes = vec![0u8; len];
            let piece = len.div_ceil(threads);
            let whole = bytes
                .par_chunks_mut(piece)
                .enumerate()
                .try_for_each(|(i, chunk)| file.read_exact_at(chunk, (i * piece) as u64));
            // Nothing past the length read: the file did not grow meanwhile.
            let mut probe = [0u8; 1];
            if whole.is_ok() && matches!(file.read_at(&mut probe, len as u64), Ok(0)) {
                return Ok(bytes);
            }
        }
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(err)?;
    Ok(bytes)
}

fn read_csv(path: &Path, options: &ReadOptions) -> Result<RecordBatch> {
    if options.batch_size == 0 {
        return Err(Error::config("batch_size", "must be at least 1"));
    }
    let bytes = read_bytes(path)?;
    let format = Format::default().with_header(true);
    let header = csv_header(path, bytes.as_slice())?;
    // A plain file (no quotes, ...) is read straight into typed columns.
    if let Some(header_end) = bytes.iter().position(|&b| b == b'\n') {
        let names: Vec<String> = header.fields().iter().map(|f| f.name().clone()).collect();
        if let Some(result) = direct::read(&bytes, header_end, &names, options.infer_types) {
            return result.map_err(|e| arrow_file_error(path, &e));
        }
    }
    // Otherwise one pass over the file, every column as text (empty cells are null) ...
    let fields: Vec<Field> = header
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), DataType::Utf8, true))
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let batches = decode_csv(&bytes, path, format, &schema, options.batch_size)?;
    drop(bytes);
    let concat = |arrays: &[&dyn Array]| {
        if arrays.is_empty() {
            Ok(new_empty_array(&DataType::Utf8))
        } else {
            concat(arrays).map_err(|e| arrow_file_error(path, &e))
        }
    };
    if !options.infer_types {
        return concat_freeing(&schema, batches).map_err(|e| arrow_file_error(path, &e));
    }
    // ... then each column typed as arrow-csv's inference and decoder would type it
    // (columns in parallel, each from its decoded pieces, so only text is joined as
    // text); a column with a cell its type's parser rejects (e.g. 2024-02-30 in a date
    // column) stays text, and the transforms report the cell.
    let columns = (0..schema.fields().len())
        .into_par_iter()
        .map(|c| {
            let pieces: Vec<StringArray> = batches
                .iter()
                .filter_map(|b| b.column(c).as_string_opt::<i32>().cloned())
                .collect();
            let data_type = infer::infer_type_of(&pieces);
            let typed: Option<Vec<ArrayRef>> = pieces
                .iter()
                .map(|p| infer::parse_as(p, &data_type))
                .collect();
            match typed {
                Some(typed) => concat(&typed.iter().map(|a| a.as_ref()).collect::<Vec<_>>()),
                None => concat(&pieces.iter().map(|a| a as &dyn Array).collect::<Vec<_>>()),
            }
        })
        .collect::<Vec<Result<ArrayRef>>>()
        .into_iter()
        .collect::<Result<Vec<ArrayRef>>>()?;
    let typed_schema = Schema::new(
        schema
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    RecordBatch::try_new_with_options(
        Arc::new(typed_schema),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| arrow_file_error(path, &e))
}

/// Files smaller than this are decoded in one piece.
const PARALLEL_MIN_BYTES: usize = 4 << 20;

/// Decodes the whole file with `schema` (all text), as batches in file order.
///
/// A file without any quote character has a record boundary at every line feed, so its
/// body (after a header line ending in the first line feed) is cut at line feeds into
/// pieces decoded in parallel. With quotes (a field may hold a line feed), an unusual
/// header line (empty, or holding a carriage return other than before the line feed),
/// for a small file, or when a piece fails (the error must name the file's own line),
/// the file is decoded in one piece.
fn decode_csv(
    bytes: &[u8],
    path: &Path,
    format: Format,
    schema: &SchemaRef,
    batch_size: usize,
) -> Result<Vec<RecordBatch>> {
    let threads = rayon::current_num_threads();
    let header_end = bytes.iter().position(|&b| b == b'\n');
    let plain_header = header_end.is_some_and(|end| {
        let line = bytes[..end].strip_suffix(b"\r").unwrap_or(&bytes[..end]);
        !line.is_empty() && !line.contains(&b'\r')
    });
    if let Some(header_end) = header_end
        && plain_header
        && bytes.len() >= PARALLEL_MIN_BYTES
        && threads > 1
        && !bytes.contains(&b'"')
    {
        let pieces = threads * 4;
        let body = &bytes[header_end + 1..];
        let mut cuts = vec![0];
        for k in 1..pieces {
            let from = (body.len() * k / pieces).max(*cuts.last().unwrap_or(&0));
            match body[from..].iter().position(|&b| b == b'\n') {
                Some(i) => cuts.push(from + i + 1),
                None => break,
            }
        }
        cuts.push(body.len());
        cuts.dedup();
        let body_format = format.clone().with_header(false);
        let parts: std::result::Result<Vec<Vec<RecordBatch>>, _> = cuts
            .par_windows(2)
            .map(|w| decode_slice(&body[w[0]..w[1]], schema, body_format.clone(), batch_size))
            .collect();
        if let Ok(parts) = parts {
            return Ok(parts.into_iter().flatten().collect());
        }
    }
    decode_slice(bytes, schema, format, batch_size).map_err(|e| arrow_file_error(path, &e))
}

fn decode_slice(
    bytes: &[u8],
    schema: &SchemaRef,
    format: Format,
    batch_size: usize,
) -> std::result::Result<Vec<RecordBatch>, arrow::error::ArrowError> {
    arrow::csv::ReaderBuilder::new(schema.clone())
        .with_format(format)
        .with_batch_size(batch_size)
        .build_buffered(bytes)?
        .collect()
}

pub(crate) fn arrow_file_error(path: &Path, e: &arrow::error::ArrowError) -> Error {
    let message = e.to_string();
    let line = line_in(&message);
    match not_csv_text(path) {
        Some(what) => file_error(path, line, format!("{what} ({message})")),
        None => file_error(path, line, message),
    }
}

/// What a file named as CSV is when its first bytes say it is not UTF-8 text (read as
/// CSV, each of these failed as "invalid UTF-8 in field 0", which names no cause).
fn not_csv_text(path: &Path) -> Option<&'static str> {
    use std::io::Read as _;
    let mut head = [0u8; 4];
    let n = File::open(path)
        .and_then(|f| f.take(4).read(&mut head))
        .ok()?;
    match &head[..n] {
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] => Some(
            "the file is UTF-16 text (a spreadsheet's \"Unicode text\"), not UTF-8: save it \
             as \"CSV UTF-8\"",
        ),
        [0x1F, 0x8B, ..] => Some("the file is gzip-compressed: decompress it first (gunzip)"),
        [b'P', b'K', 3, 4] => {
            Some("the file is a ZIP archive (an .xlsx workbook?), not CSV: export the sheet as CSV")
        }
        b"PAR1" => Some("the file is Parquet, not CSV: name it .parquet"),
        _ => None,
    }
}

/// Row groups at least this large on average are decoded in parallel by [`read_parquet`]
/// (the tables this crate writes whole have groups of up to 1,048,576 rows).
const PARALLEL_DECODE_MIN_GROUP_ROWS: usize = 65_536;

/// A whole Parquet file as one table. A file of several large row groups is decoded a row
/// group per task on rayon's threads, from one snapshot of its bytes (each task its own
/// view of them, so no shared file offset), and the groups are joined in file order: the
/// same table as one reader's.
///
/// Measured together with the parallel write: see [`ParquetSink`]. The
/// snapshot costs the file's size in memory while the groups decode (`liftos clean`'s
/// peak on the 3M-row benchmark: 1.02 → 1.11 GB).
fn read_parquet(path: &Path, options: &ReadOptions) -> Result<RecordBatch> {
    fn read_all<T: parquet::file::reader::ChunkReader + 'static>(
        path: &Path,
        builder: ParquetRecordBatchReaderBuilder<T>,
        batch_size: usize,
    ) -> Result<Vec<RecordBatch>> {
        builder
            .with_batch_size(batch_size)
            .build()
            .map_err(|e| file_error(path, None, e.to_string()))?
            .map(|batch| batch.map_err(|e| arrow_file_error(path, &e)))
            .collect()
    }
    let pq = |e: parquet::errors::ParquetError| file_error(path, None, e.to_string());
    let builder = parquet_checked(path)?;
    let batch_size = options.batch_size.max(1);
    // Sequential for one row group, one thread, or small row groups (the 16k-row groups
    // of the part files `clean_file` and `validate_file` write and read back: there the
    // snapshot cost 0.2 GB of peak memory on the 30M-row benchmark and saved no time).
    let groups = builder.metadata().num_row_groups();
    let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    if groups < 2
        || rows / groups < PARALLEL_DECODE_MIN_GROUP_ROWS
        || rayon::current_num_threads() < 2
    {
        let schema = builder.schema().clone();
        let batches = read_all(path, builder, batch_size)?;
        return concat_freeing(&schema, batches).map_err(|e| arrow_file_error(path, &e));
    }
    drop(builder);
    let bytes = bytes::Bytes::from(read_bytes(path)?);
    let metadata = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::default()).map_err(pq)?;
    let schema = metadata.schema().clone();
    let groups: Vec<Vec<RecordBatch>> = (0..metadata.metadata().num_row_groups())
        .into_par_iter()
        .map(|group| {
            read_all(
                path,
                ParquetRecordBatchReaderBuilder::new_with_metadata(bytes.clone(), metadata.clone())
                    .with_row_groups(vec![group]),
                batch_size,
            )
        })
        .collect::<Result<_>>()?;
    drop(bytes);
    let batches: Vec<RecordBatch> = groups.into_iter().flatten().collect();
    concat_freeing(&schema, batches).map_err(|e| arrow_file_error(path, &e))
}

/// `batches` (of `schema`) joined into one, as
/// [`concat_batches`](arrow::compute::concat_batches) joins them, but column by column,
/// each column's pieces freed once joined: the table is held about once, plus one
/// column, where `concat_batches` holds it twice at its end (the pieces and the joined
/// table). Reading `benches/transform_vs_peers.py`'s 3M-row unified table
/// (337 MiB in Arrow, three row groups) was the peak of `liftos clean`.
fn concat_freeing(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    // Each batch's columns, taken out of their batch so that they can be freed one by one.
    let mut pieces: Vec<Vec<Option<ArrayRef>>> = batches
        .into_iter()
        .map(|b| b.columns().iter().cloned().map(Some).collect())
        .collect();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (c, field) in schema.fields().iter().enumerate() {
        let mut arrays: Vec<ArrayRef> = pieces.iter_mut().filter_map(|p| p[c].take()).collect();
        columns.push(if arrays.is_empty() {
            new_empty_array(field.data_type())
        } else if arrays.len() == 1 {
            arrays.remove(0)
        } else {
            concat(&arrays.iter().map(|a| a.as_ref()).collect::<Vec<_>>())?
        });
    }
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
}

/// Writes `batch` as CSV (with a header) or Parquet (Snappy), by extension.
///
/// The file is written to a uniquely named temporary sibling ([`PartialFile`]) and
/// renamed into place, so a failed or interrupted write leaves no half-written file and
/// two writers of one target never share a temporary file. Text cells of a CSV that a
/// spreadsheet would run as a formula get a leading `'` ([`escape_formula_cells`]).
pub fn write_table(path: impl AsRef<Path>, batch: &RecordBatch) -> Result<()> {
    let path = path.as_ref();
    let format = table_format(path)?;
    let partial = PartialFile::create(path)?;
    let file = partial.clone_handle()?;
    write_to(path, file, format, batch)?;
    partial.commit()
}

/// Temporary files being written, removed by [`remove_partial_files`] when the process
/// is interrupted (a signal handler cannot run their destructors).
static LIVE_PARTIALS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
/// Set by [`remove_partial_files`]: no new temporary file may be created.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn live_partials() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE_PARTIALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every temporary file a [`PartialFile`] is still writing and refuses new
/// ones; returns how many were removed. A command-line tool calls it when it is
/// interrupted (SIGINT, SIGTERM, SIGHUP) before it exits, so nothing half-written is
/// left behind even by a write still running on another thread.
pub fn remove_partial_files() -> usize {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut live = live_partials();
    live.drain(..)
        .filter(|p| std::fs::remove_file(p).is_ok())
        .count()
}

/// A file written all-or-nothing: the bytes go to a uniquely named temporary file in
/// the target's directory (`.<name>.<random>.partial.<ext>`, same extension so the
/// format by extension is the same), which [`commit`](Self::commit) renames into place.
/// Dropped without a commit (an error, a panic), it removes the temporary file; a
/// process interrupted by a signal removes it through [`remove_partial_files`].
#[derive(Debug)]
pub struct PartialFile {
    target: PathBuf,
    tmp: Option<tempfile::NamedTempFile>,
}

impl PartialFile {
    /// Creates the temporary file for `target`.
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming `target` when it is a directory, its directory does not
    /// exist or the file cannot be created, or when the process is being interrupted.
    pub fn create(target: &Path) -> Result<Self> {
        if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(file_error(target, None, "interrupted; not written"));
        }
        if target.is_dir() {
            return Err(file_error(
                target,
                None,
                "is a directory; name a file to write",
            ));
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(file_error(
                target,
                None,
                format!("the directory {} does not exist", dir.display()),
            ));
        }
        let tmp = liftos_core::fs::partial_file(target)
            .map_err(|e| file_error(target, None, e.to_string()))?;
        live_partials().push(tmp.path().to_owned());
        Ok(PartialFile {
            target: target.to_owned(),
            tmp: Some(tmp),
        })
    }

    /// The file this one becomes on [`commit`](Self::commit).
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file's path.
    pub fn temp_path(&self) -> Option<&Path> {
        self.tmp.as_ref().map(|t| t.path())
    }

    /// A second handle to the temporary file, to write through.
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming the target when the handle cannot be cloned.
    pub fn clone_handle(&self) -> Result<File> {
        match &self.tmp {
            Some(t) => t
                .as_file()
                .try_clone()
                .map_err(|e| file_error(&self.target, None, e.to_string())),
            None => Err(file_error(&self.target, None, "already committed")),
        }
    }

    /// Syncs the temporary file and renames it onto the target.
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming the target when the sync or the rename fails (the
    /// temporary file is then removed).
    pub fn commit(mut self) -> Result<()> {
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        let tmp_path = tmp.path().to_owned();
        let result = tmp
            .as_file()
            .sync_all()
            .map_err(|e| file_error(&self.target, None, e.to_string()))
            .and_then(|()| {
                tmp.persist(&self.target)
                    .map(|_| ())
                    .map_err(|e| file_error(&self.target, None, e.error.to_string()))
            });
        forget_partial(&tmp_path);
        result
    }
}

fn forget_partial(path: &Path) {
    live_partials().retain(|p| p != path);
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            forget_partial(tmp.path());
            // NamedTempFile removes the file when dropped.
        }
    }
}

/// Whether a spreadsheet would read a text cell as a formula: it starts with `=`, `+`,
/// `-`, `@`, a tab or a carriage return (OWASP's list), and is not a plain number such
/// as `-12.5` or `+3` (which a spreadsheet reads as that number).
pub fn is_formula_like(cell: &str) -> bool {
    matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    ) && !cell.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The batch with every text cell that [`is_formula_like`] prefixed with `'` (CSV
/// injection, as OWASP advises for files opened in spreadsheets); numeric, date and
/// other non-text columns are unchanged. Returns the batch itself when no cell needs it.
///
/// # Errors
///
/// An Arrow error when the batch cannot be rebuilt (never for a valid batch).
pub fn escape_formula_cells(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let mut changed = false;
    for (i, c) in batch.columns().iter().enumerate() {
        let Some(text) = c.as_string_opt::<i32>() else {
            continue;
        };
        if !text.iter().flatten().any(is_formula_like) {
            continue;
        }
        let escaped: StringArray = text
            .iter()
            .map(|v| {
                v.map(|s| {
                    if is_formula_like(s) {
                        format!("'{s}")
                    } else {
                        s.to_owned()
                    }
                })
            })
            .collect();
        columns[i] = Arc::new(escaped);
        changed = true;
    }
    if !changed {
        return Ok(batch.clone());
    }
    Ok(RecordBatch::try_new_with_options(
        batch.schema(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

fn write_to(path: &Path, file: File, format: FileFormat, batch: &RecordBatch) -> Result<()> {
    let out = std::io::BufWriter::with_capacity(1 << 20, file);
    match format {
        FileFormat::Csv => {
            let batch = escape_formula_cells(batch)?;
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            writer
                .write(&batch)
                .map_err(|e| arrow_file_error(path, &e))?;
            let mut out = writer.into_inner();
            std::io::Write::flush(&mut out).map_err(|e| file_error(path, None, e.to_string()))?;
        }
        // `table_format` admits CSV and Parquet only.
        _ => {
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let pq = |e: parquet::errors::ParquetError| file_error(path, None, e.to_string());
            let mut sink = ParquetSink::new(out, batch.schema(), props).map_err(pq)?;
            sink.write(batch).map_err(pq)?;
            sink.close().map_err(pq)?;
        }
    }
    Ok(())
}

/// A Parquet file written as [`ArrowWriter`] writes it, byte for byte (the same row
/// groups, pages and footer, Arrow schema included; a test compares the two files), but
/// with each batch's columns encoded in parallel on rayon's threads, where `ArrowWriter`
/// encodes one column after the other on one thread. It holds the parquet crate's own
/// column writers ([`ArrowWriter::into_serialized_writer`]) for the row group in progress
/// and feeds each column its leaves of every batch in order, as `ArrowWriter` does, so it
/// buffers no more than `ArrowWriter` (encoded pages, not rows). For properties without
/// a byte limit on row groups or content-defined chunking (this module sets neither).
///
/// Measured on `benches/transform_vs_peers.py`'s 3M raw rows (release build, 2 threads):
/// with one thread each, the Parquet write was 40% and the read 24% of `liftos clean`'s
/// time (perf). With the whole-table write encoding its columns in parallel and the
/// parallel read in [`read_parquet`], the build before and after alternated three times:
/// `liftos unify` 1.52–1.74 → 1.33–1.36 s, `liftos clean` 1.48–1.55 → 1.18–1.24 s,
/// output files byte-identical. On 30M raw rows (written batch by batch through
/// [`TableWriter`]), twice each: unify 26.7–31.6 → 21.6–25.2 s, clean 53.6–54.7 →
/// 48.4–51.4 s, peaks unchanged.
struct ParquetSink<W: std::io::Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Parquet leaf columns of each field (one for a flat field).
    leaves: Vec<usize>,
    max_rows: Option<usize>,
    /// The row group in progress: each field's column writers.
    group: Option<Vec<Vec<ArrowColumnWriter>>>,
    group_rows: usize,
}

impl<W: std::io::Write + Send> ParquetSink<W> {
    fn new(out: W, schema: SchemaRef, props: WriterProperties) -> parquet::errors::Result<Self> {
        fn leaf_count(t: &parquet::schema::types::Type) -> usize {
            if t.is_primitive() {
                1
            } else {
                t.get_fields().iter().map(|f| leaf_count(f)).sum()
            }
        }
        let (file, factory) =
            ArrowWriter::try_new(out, schema.clone(), Some(props))?.into_serialized_writer()?;
        let leaves = file
            .schema_descr()
            .root_schema()
            .get_fields()
            .iter()
            .map(|f| leaf_count(f))
            .collect();
        let max_rows = file.properties().max_row_group_row_count();
        Ok(ParquetSink {
            file,
            factory,
            schema,
            leaves,
            max_rows,
            group: None,
            group_rows: 0,
        })
    }

    /// Appends `batch`, cutting row groups where `ArrowWriter` cuts them.
    fn write(&mut self, batch: &RecordBatch) -> parquet::errors::Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        if let Some(max) = self.max_rows
            && self.group_rows + rows > max
        {
            let head = max - self.group_rows;
            self.write(&batch.slice(0, head))?;
            return self.write(&batch.slice(head, rows - head));
        }
        let group = match &mut self.group {
            Some(group) => group,
            slot => {
                let index = self.file.flushed_row_groups().len();
                let mut writers = self.factory.create_column_writers(index)?.into_iter();
                slot.insert(
                    self.leaves
                        .iter()
                        .map(|&n| writers.by_ref().take(n).collect())
                        .collect(),
                )
            }
        };
        group
            .par_iter_mut()
            .zip(self.schema.fields().par_iter())
            .zip(batch.columns().par_iter())
            .try_for_each(
                |((writers, field), column)| -> parquet::errors::Result<()> {
                    for (writer, leaf) in writers.iter_mut().zip(compute_leaves(field, column)?) {
                        writer.write(&leaf)?;
                    }
                    Ok(())
                },
            )?;
        self.group_rows += rows;
        if self.max_rows.is_some_and(|max| self.group_rows >= max) {
            self.flush()?;
        }
        Ok(())
    }

    /// Closes the row group in progress (its last pages compressed in parallel) and
    /// appends it to the file.
    fn flush(&mut self) -> parquet::errors::Result<()> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        self.group_rows = 0;
        let chunks = group
            .into_par_iter()
            .map(|writers| {
                writers
                    .into_iter()
                    .map(ArrowColumnWriter::close)
                    .collect::<parquet::errors::Result<Vec<_>>>()
            })
            .collect::<parquet::errors::Result<Vec<_>>>()?;
        let mut row_group = self.file.next_row_group()?;
        for chunk in chunks.into_iter().flatten() {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Writes the last row group and the footer.
    fn close(mut self) -> parquet::errors::Result<()> {
        self.flush()?;
        self.file.close()?;
        Ok(())
    }
}

/// A table written batch by batch as CSV (with a header) or Parquet (Snappy), by
/// extension, as [`write_table`] writes a whole table: to a [`PartialFile`] renamed into
/// place by [`finish`](TableWriter::finish), so an error or an interruption on the way
/// leaves no half-written file (dropping the writer removes its temporary file).
pub struct TableWriter {
    path: PathBuf,
    schema: SchemaRef,
    partial: PartialFile,
    sink: Sink,
    rows: usize,
    batches: usize,
}

enum Sink {
    Csv(arrow::csv::Writer<std::io::BufWriter<File>>),
    Parquet(Box<ParquetSink<std::io::BufWriter<File>>>),
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl TableWriter {
    /// Starts writing a table of `schema` to `path` (`.csv` or `.parquet`).
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming `path` for another extension, a missing directory or a
    /// file that cannot be created.
    pub fn create(path: impl AsRef<Path>, schema: SchemaRef) -> Result<Self> {
        let path = path.as_ref();
        let format = table_format(path)?;
        let partial = PartialFile::create(path)?;
        let out = std::io::BufWriter::with_capacity(1 << 20, partial.clone_handle()?);
        let sink = match format {
            FileFormat::Csv => Sink::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
            ),
            // `table_format` admits CSV and Parquet only.
            _ => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                Sink::Parquet(Box::new(
                    ParquetSink::new(out, schema.clone(), props)
                        .map_err(|e| file_error(path, None, e.to_string()))?,
                ))
            }
        };
        Ok(TableWriter {
            path: path.to_owned(),
            schema,
            partial,
            sink,
            rows: 0,
            batches: 0,
        })
    }

    /// Appends `batch` (of the writer's schema).
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming the file when the batch cannot be written.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let path = &self.path;
        match &mut self.sink {
            Sink::Csv(w) => w
                .write(&escape_formula_cells(batch)?)
                .map_err(|e| arrow_file_error(path, &e))?,
            Sink::Parquet(w) => w
                .write(batch)
                .map_err(|e| file_error(path, None, e.to_string()))?,
        }
        self.rows += batch.num_rows();
        self.batches += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Completes the file and renames it into place.
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming the file when it cannot be completed or renamed.
    pub fn finish(mut self) -> Result<()> {
        if self.batches == 0 {
            // A table without rows still has its header (CSV) or schema (Parquet).
            self.write(&RecordBatch::new_empty(self.schema.clone()))?;
        }
        let path = self.path;
        match self.sink {
            Sink::Csv(w) => {
                let mut out = w.into_inner();
                std::io::Write::flush(&mut out)
                    .map_err(|e| file_error(&path, None, e.to_string()))?;
            }
            Sink::Parquet(w) => {
                w.close()
                    .map_err(|e| file_error(&path, None, e.to_string()))?;
            }
        }
        self.partial.commit()
    }
}

/// Rows of a batch handed to an output file's writer: enough for its columns to be
/// encoded in parallel ([`TableWriter`]'s Parquet sink).
const WRITE_BATCH_ROWS: usize = 64 * 1024;

/// Batches on their way to the output writer, at most (each of up to
/// [`crate::UNIFY_BATCH_ROWS`] rows when unifying).
const WRITE_QUEUE_BATCHES: usize = 2;

/// Runs `produce`, which hands its batches to the function it is given, while another
/// thread gathers them into batches of about [`WRITE_BATCH_ROWS`] rows and writes them to
/// `table` (batches of that size or more as they are): producing the rows (merging the
/// cleaned parts, unifying pieces of files) overlaps with encoding them. At 30M rows the
/// clean's merge and its output's encoding each took about half of a single-threaded
/// 16 s. The file holds the same rows as writing the batches as they come gives: the
/// Parquet writer cuts row groups by rows, not by batches (pages may be cut elsewhere),
/// and CSV rows do not depend on batches.
pub(crate) fn write_behind(
    table: &mut TableWriter,
    schema: &SchemaRef,
    produce: impl FnOnce(&mut dyn FnMut(RecordBatch) -> Result<()>) -> Result<()>,
) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(WRITE_QUEUE_BATCHES);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<()> {
            let mut coalescer = BatchCoalescer::new(schema.clone(), WRITE_BATCH_ROWS)
                .with_biggest_coalesce_batch_size(Some(WRITE_BATCH_ROWS));
            for batch in rx {
                coalescer.push_batch(batch)?;
                while let Some(b) = coalescer.next_completed_batch() {
                    table.write(&b)?;
                }
            }
            coalescer.finish_buffered_batch()?;
            while let Some(b) = coalescer.next_completed_batch() {
                table.write(&b)?;
            }
            Ok(())
        });
        let produced = produce(&mut |batch| {
            tx.send(batch)
                .map_err(|_| Error::config("write", "the output writer stopped"))
        });
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A failed send means the writer stopped: its error is the one to report.
        written.and(produced)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::compute::concat_batches;
    use std::io::BufReader;

    /// A file named .csv that is UTF-16, gzip, a workbook or Parquet is named as such
    /// (each was "invalid UTF-8 in field 0"); its header is not read as columns either.
    #[test]
    fn a_csv_that_is_not_utf8_text_is_named_for_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "date,spend\n2024-01-01,5\n".encode_utf16() {
            utf16.extend(u.to_le_bytes());
        }
        let cases: [(&str, Vec<u8>, &str); 4] = [
            ("utf16.csv", utf16, "UTF-16"),
            (
                "gz.csv",
                vec![0x1F, 0x8B, 8, 0, 0xC3, 0x28, 0xA0, 0xA1],
                "gzip",
            ),
            (
                "book.csv",
                b"PK\x03\x04\x14\x00\xC3\x28\xA0\xA1".to_vec(),
                "ZIP archive",
            ),
            (
                "data.csv",
                b"PAR1\x15\x04\xC3\x28\xA0\xA1\n".to_vec(),
                "is Parquet",
            ),
        ];
        for (name, bytes, needle) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let e = read_table(&path).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains(needle), "{e}");
        }
    }

    /// 2,500 rows of the column types a unified table has (text with nulls and repeats,
    /// dates, whole and fractional numbers, a zoned timestamp).
    fn mixed_table() -> RecordBatch {
        mixed_rows(2_500)
    }

    /// `n` rows of [`mixed_table`]'s columns.
    fn mixed_rows(n: i32) -> RecordBatch {
        use arrow::array::{Date32Array, Float64Array, Int64Array, TimestampSecondArray};
        let text = StringArray::from_iter(
            (0..n).map(|i| (i % 7 != 3).then(|| format!("campaign {}", i % 31))),
        );
        let day = Date32Array::from_iter_values((0..n).map(|i| 19_000 + i / 9));
        let whole =
            Int64Array::from_iter((0..n).map(|i| (i % 11 != 0).then_some(i64::from(i) * 37)));
        let money = Float64Array::from_iter_values((0..n).map(|i| f64::from(i) * 0.25 - 3.0));
        let at = TimestampSecondArray::from_iter_values(
            (0..n).map(|i| 1_700_000_000 + i64::from(i) * 3_600),
        )
        .with_timezone("America/New_York");
        let fields = vec![
            Field::new("campaign", DataType::Utf8, true),
            Field::new("date", DataType::Date32, false),
            Field::new("clicks", DataType::Int64, true),
            Field::new("spend", DataType::Float64, false),
            Field::new("at", at.data_type().clone(), false),
        ];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(text),
            Arc::new(day),
            Arc::new(whole),
            Arc::new(money),
            Arc::new(at),
        ];
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    fn small_groups() -> WriterProperties {
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(1_000))
            .build()
    }

    /// The bytes `ArrowWriter` writes for `batches` with `props`, and those [`ParquetSink`]
    /// writes on two threads.
    fn both_writers(batches: &[RecordBatch], props: &WriterProperties) -> (Vec<u8>, Vec<u8>) {
        let schema = batches[0].schema();
        let mut one_thread = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut one_thread, schema.clone(), Some(props.clone())).unwrap();
        for b in batches {
            writer.write(b).unwrap();
        }
        writer.close().unwrap();
        let mut parallel = Vec::new();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            let mut sink = ParquetSink::new(&mut parallel, schema, props.clone()).unwrap();
            for b in batches {
                sink.write(b).unwrap();
            }
            sink.close().unwrap();
        });
        (one_thread, parallel)
    }

    #[test]
    fn columns_encoded_in_parallel_give_arrow_writers_bytes() {
        let table = mixed_table();
        // The whole table at once, in three row groups of at most 1,000 rows.
        let (one, parallel) = both_writers(std::slice::from_ref(&table), &small_groups());
        assert_eq!(parallel, one);
        let back = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(parallel)).unwrap();
        assert_eq!(back.metadata().num_row_groups(), 3);
        // Batches of uneven sizes across the row groups' edges, an empty one among them.
        let cuts = [0, 700, 1_000, 1_000, 2_499, 2_500];
        let batches: Vec<RecordBatch> = cuts
            .windows(2)
            .map(|w| table.slice(w[0], w[1] - w[0]))
            .collect();
        let (one, parallel) = both_writers(&batches, &small_groups());
        assert_eq!(parallel, one);
        // The default properties (one row group) and a table without rows.
        let (one, parallel) = both_writers(&batches, &WriterProperties::default());
        assert_eq!(parallel, one);
        let (one, parallel) = both_writers(&[table.slice(0, 0)], &WriterProperties::default());
        assert_eq!(parallel, one);
    }

    #[test]
    fn a_parquet_file_of_several_row_groups_reads_back_whole_and_in_order() {
        // Row groups of 100,000, 100,000 and 50,000 rows: on average large enough
        // (PARALLEL_DECODE_MIN_GROUP_ROWS) to be decoded in parallel on two threads.
        let table = mixed_rows(250_000);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.parquet");
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(100_000))
            .build();
        let mut writer =
            ArrowWriter::try_new(File::create(&path).unwrap(), table.schema(), Some(props))
                .unwrap();
        writer.write(&table).unwrap();
        writer.close().unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let options = ReadOptions {
            batch_size: 300,
            ..ReadOptions::default()
        };
        let parallel = pool.install(|| read_table_with(&path, &options)).unwrap();
        assert_eq!(parallel, table);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(
            one.install(|| read_table_with(&path, &options)).unwrap(),
            table
        );
    }

    #[test]
    fn messages_yield_the_line() {
        assert_eq!(
            line_in("incorrect number of fields for line 3, expected 2"),
            Some(3)
        );
        assert_eq!(
            line_in("record 2 (line: 3, byte: 8): invalid utf-8"),
            Some(3)
        );
        assert_eq!(line_in("nothing here"), None);
    }

    fn column_types(batch: &RecordBatch) -> Vec<String> {
        batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect()
    }

    /// What arrow-csv itself reads: the schema inferred from every row, then a typed
    /// decode; but a timestamp column with a cell written with a zone (anything after
    /// the time, which arrow-csv would convert to UTC and drop) is read as text, as
    /// [`read_table`] keeps it.
    fn arrow_read(path: &Path) -> RecordBatch {
        let format = Format::default().with_header(true);
        let (schema, _) = format
            .infer_schema(BufReader::new(File::open(path).unwrap()), None)
            .unwrap();
        let as_text = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let text = arrow::csv::ReaderBuilder::new(as_text.clone())
            .with_format(format.clone())
            .build(File::open(path).unwrap())
            .unwrap()
            .map(|b| b.unwrap())
            .collect::<Vec<_>>();
        let text = concat_batches(&as_text, &text).unwrap();
        let local = regex::Regex::new(r"^\d{4}-\d\d-\d\d([T ]\d\d:\d\d:\d\d(\.\d+)?)?$").unwrap();
        let schema = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| match f.data_type() {
                    DataType::Null => Field::new(f.name(), DataType::Utf8, true),
                    DataType::Timestamp(..)
                        if text
                            .column(i)
                            .as_string::<i32>()
                            .iter()
                            .flatten()
                            .any(|cell| !local.is_match(cell)) =>
                    {
                        Field::new(f.name(), DataType::Utf8, true)
                    }
                    _ => (**f).clone(),
                })
                .collect::<Vec<_>>(),
        ));
        let reader = arrow::csv::ReaderBuilder::new(schema.clone())
            .with_format(format)
            .build(File::open(path).unwrap())
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        concat_batches(&schema, &batches).unwrap()
    }

    #[test]
    fn csv_columns_are_typed_as_arrow_csv_types_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut text = String::from("id,n,x,flag,day,at,ms,name,empty,big,zoned\n");
        for r in 0..300 {
            text.push_str(&format!(
                "{r},{},{},{},2024-01-{:02},2024-01-01T10:00:{:02},2024-01-01 10:00:00.{},\"c {r}, x\",,{},2024-01-01T10:00:00{}\n",
                if r % 7 == 0 { String::new() } else { format!("-{r}") },
                if r % 5 == 0 { "1e3".to_owned() } else { format!("{r}.5") },
                if r % 2 == 0 { "TRUE" } else { "false" },
                r % 28 + 1,
                r % 60,
                r % 1000,
                if r == 150 { "99999999999999999999".to_owned() } else { r.to_string() },
                ["Z", "+02:00", "-0500"][r % 3],
            ));
        }
        std::fs::write(&path, &text).unwrap();
        let ours = read_table(&path).unwrap();
        let theirs = arrow_read(&path);
        assert_eq!(ours.schema(), theirs.schema());
        assert_eq!(ours, theirs);
        let types = column_types(&ours);
        // Date-times written with a zone are instants: text, each read as written.
        assert_eq!(
            types,
            [
                "Int64",
                "Int64",
                "Float64",
                "Boolean",
                "Date32",
                "Timestamp(s)",
                "Timestamp(ms)",
                "Utf8",
                "Utf8",
                "Utf8",
                "Utf8"
            ]
        );
        assert_eq!(
            ours.column(10).as_string::<i32>().value(1),
            "2024-01-01T10:00:00+02:00"
        );
    }

    /// A CSV larger than [`PARALLEL_MIN_BYTES`], without quotes: decoded in pieces.
    fn big_csv(rows: usize, bad_row: Option<usize>) -> String {
        let mut text = String::from("date,campaign,spend,clicks\r\n");
        for r in 0..rows {
            if Some(r) == bad_row {
                text.push_str("2024-01-01,ragged\r\n");
                continue;
            }
            text.push_str(&format!(
                "2024-{:02}-{:02},campaign {} summer sale,{}.{:02},{}\r\n",
                r % 12 + 1,
                r % 28 + 1,
                r % 977,
                r % 5000,
                r % 100,
                if r % 1000 == 7 {
                    String::new()
                } else {
                    (r % 313).to_string()
                },
            ));
        }
        assert!(text.len() > PARALLEL_MIN_BYTES);
        text
    }

    #[test]
    fn a_big_csv_decoded_in_pieces_equals_the_whole_decode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        let rows = 120_000;
        std::fs::write(&path, big_csv(rows, None)).unwrap();
        let ours = read_table(&path).unwrap();
        assert_eq!(ours.num_rows(), rows);
        assert_eq!(ours, arrow_read(&path));
        let text = read_table_with(&path, &ReadOptions::text()).unwrap();
        assert_eq!(text.num_rows(), rows);
        assert_eq!(
            text.column(1).as_string::<i32>().value(rows - 1),
            format!("campaign {} summer sale", (rows - 1) % 977)
        );
    }

    #[test]
    fn a_ragged_row_deep_in_a_big_csv_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        std::fs::write(&path, big_csv(120_000, Some(100_000))).unwrap();
        match read_table(&path).unwrap_err() {
            // Row 100 000 is on line 100 002 (after the header).
            Error::File { line, .. } => assert_eq!(line, Some(100_002)),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn unusual_line_ends_in_a_big_csv_read_as_arrow_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let text = big_csv(120_000, None);
        for (name, variant) in [
            // Carriage returns only: no line feed to cut at.
            ("cr.csv", text.replace("\r\n", "\r")),
            // A header ending in a lone carriage return, then line feeds.
            (
                "mixed.csv",
                text.replacen("\r\n", "\r", 1).replace("\r\n", "\n"),
            ),
            // Line feeds only, with a blank line inside.
            (
                "blank.csv",
                text.replace("\r\n", "\n")
                    .replacen("\n2024-02", "\n\n2024-02", 1),
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, variant).unwrap();
            let ours = read_table(&path).unwrap();
            assert_eq!(ours, arrow_read(&path), "{name}");
            assert!(ours.num_rows() >= 119_999, "{name}: {}", ours.num_rows());
        }
    }

    /// A plain file (no quotes) over 1 MiB, read straight into typed columns in pieces,
    /// with the awkward cells: empty cells, CRLF, huge and 19-digit ints, timestamps
    /// with offsets, exponents, NaN, negative zero, non-ASCII text, a BOM, and a bad
    /// number on line 100 002 (which makes that column text, so the cell can be
    /// quarantined).
    fn tricky_plain_csv(rows: usize) -> String {
        let mut text = String::from(
            "\u{feff}id,n,bad_at_100002,x,big,fits,at,flag,day,bad_day,empty,name\r\n",
        );
        for r in 0..rows {
            text.push_str(&format!(
                "{r},{},{},{},{},{},2024-01-01T10:00:{:02}{},{},2024-03-{:02},2024-02-{:02},,c {r} é\r\n",
                if r % 7 == 0 {
                    String::new()
                } else {
                    format!("-{r}")
                },
                if r == 100_000 {
                    "12x".to_owned()
                } else {
                    (r % 97).to_string()
                },
                match r % 6 {
                    0 => "1e3".to_owned(),
                    1 => "NaN".to_owned(),
                    2 => "-0.0".to_owned(),
                    3 => format!("{r}.123456789012345678"),
                    4 => String::new(),
                    _ => format!("{}.{:02}", r % 1000, r % 100),
                },
                if r == 777 {
                    "99999999999999999999".to_owned()
                } else {
                    r.to_string()
                },
                if r % 2 == 0 {
                    "9223372036854775807"
                } else {
                    "-9223372036854775808"
                },
                r % 60,
                if r % 3 == 0 { "Z" } else { "+02:00" },
                if r % 2 == 0 { "TRUE" } else { "false" },
                r % 28 + 1,
                r % 28 + 1,
            ));
        }
        text
    }

    #[test]
    fn plain_files_read_straight_into_columns_equal_arrow_csv() {
        let dir = tempfile::tempdir().unwrap();
        let rows = 120_000;
        let crlf = tricky_plain_csv(rows);
        assert!(crlf.len() > 4 * direct_min_bytes());
        let lf = crlf.replace("\r\n", "\n");
        // No line end after the last record.
        let unterminated = lf.trim_end_matches('\n').to_owned();
        for (name, text) in [
            ("crlf.csv", &crlf),
            ("lf.csv", &lf),
            ("end.csv", &unterminated),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let ours = read_table(&path).unwrap();
            let theirs = arrow_read(&path);
            assert_eq!(ours.schema(), theirs.schema(), "{name}");
            assert_eq!(ours, theirs, "{name}");
            assert_eq!(ours.num_rows(), rows, "{name}");
            let types = column_types(&ours);
            assert_eq!(
                types,
                [
                    "Int64", "Int64", "Utf8", "Float64", "Utf8", "Int64", "Utf8", "Boolean",
                    "Date32", "Date32", "Utf8", "Utf8"
                ],
                "{name}"
            );
            assert_eq!(ours.schema().field(0).name(), "id", "{name}: BOM stripped");
            let bad = ours.column(2).as_string::<i32>();
            assert_eq!(bad.value(100_000), "12x", "{name}");
            assert_eq!(ours.column(10).null_count(), rows, "{name}");
            // Read as text, every cell is the file's text (empty cells null).
            let text_read = read_table_with(&path, &ReadOptions::text()).unwrap();
            let fields: Vec<Field> = ours
                .schema()
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), DataType::Utf8, true))
                .collect();
            let schema = Arc::new(Schema::new(fields));
            let reader = arrow::csv::ReaderBuilder::new(schema.clone())
                .with_format(Format::default().with_header(true))
                .build(File::open(&path).unwrap())
                .unwrap();
            let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
            let text_theirs = concat_batches(&schema, &batches).unwrap();
            assert_eq!(text_read, text_theirs, "{name}");
            // An impossible date (arrow-csv fails the whole file) keeps its column text;
            // the other columns are as before.
            let path = dir.path().join(format!("bad_{name}"));
            std::fs::write(
                &path,
                text.replacen("2024-02-06,,c 5", "2024-02-30,,c 5", 1),
            )
            .unwrap();
            let with_bad = read_table(&path).unwrap();
            assert_eq!(with_bad.column(9).as_string::<i32>().value(5), "2024-02-30");
            let bad_text = read_table_with(&path, &ReadOptions::text()).unwrap();
            assert_eq!(with_bad.column(9), bad_text.column(9));
            for c in (0..12).filter(|&c| c != 9) {
                assert_eq!(with_bad.column(c), ours.column(c), "{name} column {c}");
            }
        }
    }

    fn direct_min_bytes() -> usize {
        1 << 20
    }

    #[test]
    fn several_files_read_at_once_equal_one_by_one_and_errors_name_the_first_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..4)
            .map(|k| {
                let path = dir.path().join(format!("t{k}.csv"));
                let rows = if k == 1 { 20_000 } else { 50 * (k + 1) };
                let body: String = (0..rows).map(|r| format!("{r},{},x{k}\n", r * k)).collect();
                std::fs::write(&path, format!("a,b,c\n{body}")).unwrap();
                path
            })
            .collect();
        let together = read_tables(&paths).unwrap();
        assert_eq!(together.len(), 4);
        for (path, table) in paths.iter().zip(&together) {
            assert_eq!(table, &read_table(path).unwrap());
        }
        let text = read_tables_with(&paths, &ReadOptions::text()).unwrap();
        assert_eq!(text[2].column(0).data_type(), &DataType::Utf8);
        let mut bad = paths.clone();
        bad.insert(1, dir.path().join("missing.csv"));
        bad.push(dir.path().join("also_missing.csv"));
        let err = read_tables(&bad).unwrap_err().to_string();
        assert!(
            err.contains("missing.csv") && !err.contains("also_missing"),
            "{err}"
        );
    }

    /// A very wide file (fewer records per batch than usual, down to one) reads as
    /// arrow-csv reads it, and a column of non-ASCII digits (typed Int64 by arrow-csv's
    /// inference, which the integer parser rejects) stays text.
    #[test]
    fn wide_files_and_unicode_digits_read_as_arrow_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let columns = 5_000;
        let header: Vec<String> = (0..columns).map(|c| format!("c{c}")).collect();
        let mut text = header.join(",") + "\n";
        for r in 0..3 {
            let row: Vec<String> = (0..columns).map(|c| format!("{}", r * c)).collect();
            text.push_str(&row.join(","));
            text.push('\n');
        }
        let path = dir.path().join("wide.csv");
        std::fs::write(&path, &text).unwrap();
        let ours = read_table(&path).unwrap();
        assert_eq!(ours.num_columns(), columns);
        assert_eq!(ours, arrow_read(&path));

        let path = dir.path().join("digits.csv");
        std::fs::write(&path, "a,b\n١٢٣٤٥٦٧٨٩,1\n").unwrap();
        let digits = read_table(&path).unwrap();
        assert_eq!(digits.column(0).data_type(), &DataType::Utf8);
        assert_eq!(digits.column(0).as_string::<i32>().value(0), "١٢٣٤٥٦٧٨٩");
        assert_eq!(digits.column(1).data_type(), &DataType::Int64);
    }

    /// Columns whose first thousand records suggest one type and whose later records
    /// make another (the direct reader plans from the first records and must end with
    /// arrow-csv's type over all of them), in a file read in several pieces.
    #[test]
    fn types_that_change_after_the_first_records_equal_arrow_csv() {
        let dir = tempfile::tempdir().unwrap();
        let rows = 6_000;
        let mut text = String::from(
            "int_then_float,empty_then_int,float_then_text,bool_then_text,date_then_ts,\
             ts_then_ms,int_then_empty,filler\n",
        );
        let filler = "x".repeat(200);
        for r in 0..rows {
            text.push_str(&format!(
                "{},{},{},{},{},{},{},{filler}\n",
                if r < 3_000 {
                    format!("{r}")
                } else {
                    format!("{r}.5")
                },
                if r < 2_000 {
                    String::new()
                } else {
                    format!("-{r}")
                },
                if r == 4_000 {
                    "x".to_owned()
                } else {
                    format!("{r}.25")
                },
                if r == 4_500 {
                    "maybe"
                } else if r % 2 == 0 {
                    "true"
                } else {
                    "FALSE"
                },
                if r < 3_000 {
                    format!("2024-01-{:02}", r % 28 + 1)
                } else {
                    format!("2024-01-{:02}T10:{:02}:00", r % 28 + 1, r % 60)
                },
                if r < 5_000 {
                    format!("2024-03-01T10:00:{:02}", r % 60)
                } else {
                    format!("2024-03-01T10:00:{:02}.125", r % 60)
                },
                if r < 1_500 {
                    format!("{r}")
                } else {
                    String::new()
                },
            ));
        }
        assert!(text.len() > direct_min_bytes());
        let path = dir.path().join("changing.csv");
        std::fs::write(&path, &text).unwrap();
        let ours = read_table(&path).unwrap();
        let theirs = arrow_read(&path);
        assert_eq!(ours.schema(), theirs.schema());
        assert_eq!(ours, theirs);
        assert_eq!(
            column_types(&ours),
            [
                "Float64",
                "Int64",
                "Utf8",
                "Utf8",
                "Timestamp(s)",
                "Timestamp(ms)",
                "Int64",
                "Utf8"
            ]
        );
    }

    #[test]
    fn quoted_and_unusual_files_still_read_as_arrow_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let plain = tricky_plain_csv(3_000);
        let mut quoted = plain.clone();
        // A quoted field with an embedded comma and line break.
        quoted = quoted.replacen("c 10 é", "\"c 10, with\r\na break\"", 1);
        for (name, text) in [
            ("quoted.csv", quoted),
            // A lone carriage return ends a record for arrow-csv.
            ("cr.csv", plain.replacen("\r\n", "\r", 3)),
            // A blank line is skipped.
            ("blank.csv", plain.replacen("\r\n", "\r\n\r\n", 7)),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &text).unwrap();
            assert_eq!(read_table(&path).unwrap(), arrow_read(&path), "{name}");
        }
        // A ragged record in a plain file names its line.
        let mut lines: Vec<&str> = plain.split("\r\n").collect();
        lines[1_500] = "1,2";
        let path = dir.path().join("ragged.csv");
        std::fs::write(&path, lines.join("\r\n")).unwrap();
        match read_table(&path).unwrap_err() {
            Error::File { line, .. } => assert_eq!(line, Some(1_501)),
            other => panic!("{other}"),
        }
        // Invalid UTF-8 names its line.
        let mut bytes = plain.into_bytes();
        let at = bytes.iter().position(|&b| b == b'\xc3').unwrap();
        bytes[at] = 0xff;
        let path = dir.path().join("utf8.csv");
        std::fs::write(&path, &bytes).unwrap();
        match read_table(&path).unwrap_err() {
            Error::File { line, .. } => assert!(line.is_some()),
            other => panic!("{other}"),
        }
    }
}
