//! Unifying source files too large to hold in memory: read, converted and written piece
//! by piece.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt64Array};
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use rayon::prelude::*;

use crate::io::{
    TableWriter, arrow_file_error, csv_header, file_error, open, parquet_builder, parquet_checked,
    write_behind,
};
use crate::mapping::SchemaMapping;
use crate::parse::ColumnEvidence;
use crate::unify::{QUARANTINE_ROW, Readings, column_input, unify_sources};
use crate::{FileFormat, Result, table_format, unified};

/// Rows read, converted and written at a time by [`unify_files`].
pub const UNIFY_BATCH_ROWS: usize = 131_072;

/// The number of rows of a table file: a Parquet file's (from its footer), or a CSV
/// file's size in bytes / 64 (about the width of a row of a platform export or a
/// unified table), to choose between reading a table whole and in parts.
///
/// # Errors
///
/// [`Error::File`](crate::Error::File) naming a file that cannot be opened or read.
pub fn estimated_rows(path: impl AsRef<Path>) -> Result<usize> {
    let path = path.as_ref();
    let format = table_format(path)?;
    let file = open(path)?;
    match format {
        FileFormat::Csv => {
            let bytes = file
                .metadata()
                .map_err(|e| file_error(path, None, e.to_string()))?
                .len();
            Ok(usize::try_from(bytes / 64).unwrap_or(usize::MAX))
        }
        _ => {
            let builder = parquet_builder(path, file)?;
            Ok(usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0))
        }
    }
}

/// What [`unify_files`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct UnifiedFiles {
    /// Rows read from every source.
    pub rows_in: usize,
    /// Rows written to the unified table.
    pub rows_out: usize,
    /// Rows written to the quarantine table.
    pub quarantined: usize,
    /// Whether the quarantine file was written.
    pub quarantine_written: bool,
    /// How ambiguous or absent values were read ([`Unified::notes`](crate::Unified::notes)).
    pub notes: Vec<String>,
    /// Rows and total spend of the unified table per channel, by channel name.
    pub channels: Vec<(String, usize, f64)>,
}

/// One source file: its name, path and columns (every CSV column as text).
pub(crate) struct SourceFile {
    pub name: String,
    pub path: PathBuf,
    pub format: FileFormat,
    pub schema: SchemaRef,
}

type Pieces = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

impl SourceFile {
    /// Opens `path` and reads its columns (a CSV file's header).
    pub(crate) fn open(name: &str, path: &Path) -> Result<Self> {
        let format = table_format(path)?;
        let schema: SchemaRef = match format {
            FileFormat::Csv => {
                let header = csv_header(path, std::io::BufReader::new(open(path)?))?;
                Arc::new(Schema::new(
                    header
                        .fields()
                        .iter()
                        .map(|f| Field::new(f.name(), DataType::Utf8, true))
                        .collect::<Vec<_>>(),
                ))
            }
            _ => parquet_checked(path)?.schema().clone(),
        };
        Ok(SourceFile {
            name: name.to_owned(),
            path: path.to_owned(),
            format,
            schema,
        })
    }

    /// The file's rows, `batch_rows` at a time, in file order.
    pub(crate) fn pieces(&self, batch_rows: usize) -> Result<Pieces> {
        let path = self.path.clone();
        let file = open(&self.path)?;
        Ok(match self.format {
            FileFormat::Csv => Box::new(CsvPieces::new(
                path,
                file,
                self.schema.clone(),
                batch_rows.max(1),
            )?),
            _ => Box::new(
                parquet_builder(&path, file)?
                    .with_batch_size(batch_rows)
                    .build()
                    .map_err(|e| file_error(&path, None, e.to_string()))?
                    .map(move |b| b.map_err(|e| arrow_file_error(&path, &e))),
            ),
        })
    }

    pub(crate) fn empty(&self) -> RecordBatch {
        RecordBatch::new_empty(self.schema.clone())
    }

    /// The number of rows ([`estimated_rows`]).
    pub(crate) fn estimated_rows(&self) -> Result<usize> {
        estimated_rows(&self.path)
    }
}

/// Calls `each` with the items of `items` in order while another thread reads the next
/// one: decoding a file's next piece overlaps with working on the current one. Stops at
/// the first error of `each`.
pub(crate) fn read_ahead<T: Send>(
    items: impl Iterator<Item = T> + Send,
    mut each: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<T>(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for item in items {
                // The receiver is gone when `each` failed: nothing more to read.
                if tx.send(item).is_err() {
                    break;
                }
            }
        });
        // Every item, then the channel closes when the reader is done.
        rx.into_iter().try_for_each(&mut each)
    })
}

/// Bytes read from a CSV file at a time by [`CsvPieces`].
const CSV_READ_BYTES: usize = 8 << 20;

/// A CSV file's rows, `batch_rows` at a time, every column as text, in file order.
///
/// Each piece of `batch_rows` lines is cut from the file at its line feeds and parsed by
/// the plain-CSV reader ([`crate::direct`]), in parallel sub-pieces, as reading the whole
/// file does. From the first piece that is not plain (a quote, a lone carriage return, a
/// ragged row, ...) on, arrow-csv decodes the rest of the file, from that piece's first
/// row (a plain piece ends on a record boundary), so its errors name the file's own line.
/// Both read every cell as the other does (empty cells are null).
///
/// Against arrow-csv alone in one thread (the reader before, and what DataFusion's scan
/// does in one partition, which file order needs when streaming), `liftos unify` of the
/// 30M-row benchmark's exports (2.5 GiB) took 39.3 s instead of 43.0 s (release builds,
/// 2 cores at load 6.5, 2026-12-05): less than the 1.5× that would justify it by speed
/// alone on that loaded machine; it stays because it is the same reader as the whole-file
/// path and needs no async runtime.
struct CsvPieces {
    path: PathBuf,
    file: std::fs::File,
    schema: SchemaRef,
    names: Vec<String>,
    batch_rows: usize,
    /// The header line (with its line feed), then the bytes read and not yet parsed.
    buffer: Vec<u8>,
    header_len: usize,
    /// Data rows given out so far.
    rows_done: usize,
    eof: bool,
    /// arrow-csv, once a piece was not plain.
    fallback: Option<Pieces>,
    done: bool,
}

impl CsvPieces {
    fn new(
        path: PathBuf,
        file: std::fs::File,
        schema: SchemaRef,
        batch_rows: usize,
    ) -> Result<Self> {
        let names = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut pieces = CsvPieces {
            path,
            file,
            schema,
            names,
            batch_rows,
            buffer: Vec::new(),
            header_len: 0,
            rows_done: 0,
            eof: false,
            fallback: None,
            done: false,
        };
        // The header line: up to the first line feed.
        loop {
            if let Some(i) = memchr::memchr(b'\n', &pieces.buffer) {
                pieces.header_len = i + 1;
                break;
            }
            if !pieces.fill()? {
                // No line feed at all: arrow-csv reads (or rejects) the header alone.
                pieces.start_fallback()?;
                break;
            }
        }
        Ok(pieces)
    }

    /// Reads more bytes into the buffer; `false` at the end of the file.
    fn fill(&mut self) -> Result<bool> {
        use std::io::Read;
        if self.eof {
            return Ok(false);
        }
        let at = self.buffer.len();
        self.buffer.resize(at + CSV_READ_BYTES, 0);
        let n = loop {
            match self.file.read(&mut self.buffer[at..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buffer.truncate(at);
                    return Err(file_error(&self.path, None, e.to_string()));
                }
            }
        };
        self.buffer.truncate(at + n);
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// arrow-csv from the first row not given out yet.
    fn start_fallback(&mut self) -> Result<()> {
        let path = self.path.clone();
        let reader = arrow::csv::ReaderBuilder::new(self.schema.clone())
            .with_format(Format::default().with_header(true))
            .with_batch_size(self.batch_rows)
            .with_bounds(self.rows_done, usize::MAX / 2)
            .build(open(&self.path)?)
            .map_err(|e| arrow_file_error(&path, &e))?;
        self.fallback = Some(Box::new(
            reader.map(move |b| b.map_err(|e| arrow_file_error(&path, &e))),
        ));
        self.buffer = Vec::new();
        Ok(())
    }

    /// The end of the next piece's bytes in the buffer (after its last line feed, or the
    /// buffer's end at the end of the file), reading as needed; `None`: no row left.
    fn next_cut(&mut self) -> Result<Option<usize>> {
        let mut searched = self.header_len;
        let mut lines = 0;
        loop {
            for i in memchr::memchr_iter(b'\n', &self.buffer[searched..]) {
                lines += 1;
                if lines == self.batch_rows {
                    return Ok(Some(searched + i + 1));
                }
            }
            searched = self.buffer.len();
            if !self.fill()? {
                return Ok((self.buffer.len() > self.header_len).then_some(self.buffer.len()));
            }
        }
    }

    fn next_piece(&mut self) -> Result<Option<RecordBatch>> {
        if let Some(fallback) = &mut self.fallback {
            return fallback.next().transpose();
        }
        let Some(cut) = self.next_cut()? else {
            return Ok(None);
        };
        let parsed =
            crate::direct::read(&self.buffer[..cut], self.header_len - 1, &self.names, false);
        match parsed {
            Some(Ok(batch)) => {
                let batch = RecordBatch::try_new_with_options(
                    self.schema.clone(),
                    batch.columns().to_vec(),
                    &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
                )?;
                self.rows_done += batch.num_rows();
                self.buffer.drain(self.header_len..cut);
                Ok(Some(batch))
            }
            // Not plain, or a cell the reader rejects: arrow-csv from this piece on.
            _ => {
                self.start_fallback()?;
                self.next_piece()
            }
        }
    }
}

impl Iterator for CsvPieces {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_piece();
        // After an error or the last piece, the iterator ends.
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
        }
        next.transpose()
    }
}

/// Unifies source files (`(name, path)`, CSV or Parquet by extension) with `mapping`
/// into `out`, rows that cannot be unified into `quarantine`, holding `batch_rows` rows
/// of one source at a time instead of every table.
///
/// The files written are the tables [`unify_marketing_data`](crate::unify_marketing_data)
/// gives for the same files read whole with [`ReadOptions::text`](crate::ReadOptions::text)
/// (CSV columns as text): the same rows in the same order, the same quarantine rows,
/// reasons and `_row` numbers, and the same notes. To read each piece as its whole column
/// would be read (a column's day-first or month-first dates, its decimal separator), a
/// first pass over each source gathers what its text columns say, then a second pass
/// converts and writes. The quarantine file is written when it has rows or when
/// `keep_empty_quarantine` is set; both files appear only when everything succeeded.
///
/// # Errors
///
/// As [`unify_marketing_data`](crate::unify_marketing_data), and [`Error::File`](crate::Error::File)
/// naming the file (and line) that cannot be read or written.
pub fn unify_files(
    sources: &[(&str, &Path)],
    mapping: &SchemaMapping,
    out: &Path,
    quarantine: &Path,
    keep_empty_quarantine: bool,
    batch_rows: usize,
) -> Result<UnifiedFiles> {
    mapping.validate()?;
    let batch_rows = batch_rows.max(1);
    table_format(out)?;
    table_format(quarantine)?;
    let files = sources
        .iter()
        .map(|(name, path)| SourceFile::open(name, path))
        .collect::<Result<Vec<_>>>()?;
    // The files' first passes in parallel; the first file's error is the one reported.
    let readings: Readings = files
        .par_iter()
        .map(|file| {
            // The source's mapping errors first, as unifying the whole table reports them.
            unify_sources([(file.name.as_str(), &file.empty())], mapping, None)?;
            Ok((
                file.name.clone(),
                decide_readings(file, mapping, batch_rows)?,
            ))
        })
        .collect::<Vec<Result<_>>>()
        .into_iter()
        .collect::<Result<_>>()?;
    let empties: Vec<RecordBatch> = files.iter().map(SourceFile::empty).collect();
    let skeleton = unify_sources(
        files.iter().map(|f| f.name.as_str()).zip(&empties),
        mapping,
        Some(&readings),
    )?;
    let mut table = TableWriter::create(out, skeleton.table.schema())?;
    let mut set_aside = TableWriter::create(quarantine, skeleton.quarantine.schema())?;
    let mut channels: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    let mut rows_in = 0usize;
    // Reading and unifying here while another thread encodes the unified rows.
    let schema = skeleton.table.schema();
    write_behind(&mut table, &schema, |send| {
        for (i, file) in files.iter().enumerate() {
            let mut offset = 0usize;
            for piece in file.pieces(batch_rows)? {
                let piece = piece?;
                let rows = piece.num_rows();
                // Every other source empty, so the columns are those of the whole unify.
                let inputs = files.iter().enumerate().map(|(j, f)| {
                    let batch = if j == i { &piece } else { &empties[j] };
                    (f.name.as_str(), batch)
                });
                let unified = unify_sources(inputs, mapping, Some(&readings))?;
                count_channels(&unified.table, &mut channels);
                set_aside.write(&shift_rows(&unified.quarantine, offset)?)?;
                send(unified.table)?;
                offset += rows;
                rows_in += rows;
            }
        }
        Ok(())
    })?;
    let rows_out = table.rows();
    let quarantined = set_aside.rows();
    // The quarantine first: should the table's rename then fail, no quarantined row is
    // in no file.
    let quarantine_written = quarantined > 0 || keep_empty_quarantine;
    if quarantine_written {
        set_aside.finish()?;
    }
    table.finish()?;
    Ok(UnifiedFiles {
        rows_in,
        rows_out,
        quarantined,
        quarantine_written,
        notes: skeleton.notes,
        channels: channels
            .into_iter()
            .map(|(c, (rows, spend))| (c, rows, spend))
            .collect(),
    })
}

/// The readings of `file`'s text columns, from one pass over the file (none when no
/// unified column is converted from text).
fn decide_readings(
    file: &SourceFile,
    mapping: &SchemaMapping,
    batch_rows: usize,
) -> Result<BTreeMap<String, crate::parse::ColumnReading>> {
    let Some(source) = mapping.resolve(&file.name) else {
        return Ok(BTreeMap::new());
    };
    let empty = file.empty();
    // The unified columns read from text whose reading depends on all their values, and
    // the name the problem texts give their values.
    let mut columns: Vec<(Arc<Field>, String, ColumnEvidence)> = Vec::new();
    for field in unified::schema().fields() {
        let col = field.name().as_str();
        let spec = source.columns.get(col).cloned().unwrap_or_default();
        let decided = match field.data_type() {
            DataType::Date32 => spec.format.is_some() || source.date_format.is_some(),
            DataType::Float64 | DataType::Int64 => source.decimal.is_some(),
            _ => true,
        };
        if decided || col == unified::CHANNEL {
            continue;
        }
        let (input, label, _) = column_input(&file.name, &source, &empty, field)?;
        if matches!(
            input.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            let label = if label.is_empty() {
                col.to_owned()
            } else {
                label
            };
            columns.push((field.clone(), label, ColumnEvidence::default()));
        }
    }
    if columns.is_empty() {
        return Ok(BTreeMap::new());
    }
    // The file's own columns among them (as `column_input` finds them), by position.
    let in_file: Vec<Option<usize>> = columns
        .iter()
        .map(|(field, _, _)| {
            let spec = source.columns.get(field.name().as_str())?;
            match (&spec.value, &spec.column) {
                (None, Some(c)) => file.schema.index_of(c).ok(),
                _ => None,
            }
        })
        .collect();
    let wanted: Vec<usize> = in_file.iter().flatten().copied().collect();
    let scanned = match file.format {
        FileFormat::Csv if !wanted.is_empty() => csv_evidence(
            &file.path,
            file.schema.fields().len(),
            &wanted,
            EVIDENCE_READ_BYTES,
        )?,
        _ => None,
    };
    match scanned {
        Some((rows, found)) => {
            // The file's columns from its text; the others (constants, defaults, absent
            // columns) are the same for any content: observed on rows of nulls.
            let mut found = found.into_iter();
            for ((field, _, evidence), at) in columns.iter_mut().zip(&in_file) {
                if at.is_some() {
                    if let Some(e) = found.next() {
                        *evidence = e;
                    }
                    continue;
                }
                let mut done = 0;
                while done < rows {
                    let n = batch_rows.min(rows - done);
                    let nulls = RecordBatch::try_new_with_options(
                        file.schema.clone(),
                        file.schema
                            .fields()
                            .iter()
                            .map(|f| arrow::array::new_null_array(f.data_type(), n))
                            .collect(),
                        &arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
                    )?;
                    let (input, _, _) = column_input(&file.name, &source, &nulls, field)?;
                    evidence.observe(input.as_ref())?;
                    done += n;
                }
            }
        }
        // Not a plain CSV file (or no column of the file's own): every column read.
        None => {
            for piece in file.pieces(batch_rows)? {
                let piece = piece?;
                for (field, _, evidence) in &mut columns {
                    let (input, _, _) = column_input(&file.name, &source, &piece, field)?;
                    evidence.observe(input.as_ref())?;
                }
            }
        }
    }
    Ok(columns
        .into_iter()
        .map(|(field, label, evidence)| {
            let reading = evidence.decide(&file.name, &label, source.decimal);
            (field.name().clone(), reading)
        })
        .collect())
}

/// Bytes of a CSV file read at a time by [`csv_evidence`] (about two such chunks in
/// memory per file: the one scanned and the one being read).
const EVIDENCE_READ_BYTES: usize = 16 << 20;

/// The number of data rows of the CSV file `path` (of `columns` columns, read
/// `chunk_bytes` at a time, cut at line feeds) and the evidence
/// ([`ColumnEvidence::observe`]) of its columns `wanted` (by position, read as text),
/// from one pass over its bytes that builds no column: the same evidence as observing
/// the columns of [`SourceFile::pieces`], which copies every cell of every column, for
/// a first pass that only looks at a few values (those with a `/`, a `,` or a `.`). `None` when the file is not plain ([`crate::direct`]): the caller reads
/// it with [`SourceFile::pieces`], which decodes such a file with arrow-csv.
///
/// `liftos unify` of the 30M-row exports of `transform_vs_peers.py` (2.5 GiB) took
/// 20.6–21.6 s of CPU with this pass instead of 26.5–28.7 s with the pieces' (release
/// builds, 2 cores with other work beside, 2026-12-05; the same files written).
fn csv_evidence(
    path: &Path,
    columns: usize,
    wanted: &[usize],
    chunk_bytes: usize,
) -> Result<Option<(usize, Vec<ColumnEvidence>)>> {
    use std::io::Read;
    let mut file = open(path)?;
    let mut read_some = |buffer: &mut Vec<u8>, want: usize| -> Result<bool> {
        let at = buffer.len();
        buffer.resize(at + want, 0);
        let mut filled = at;
        while filled < buffer.len() {
            match file.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(file_error(path, None, e.to_string())),
            }
        }
        let more = filled == buffer.len();
        buffer.truncate(filled);
        Ok(more)
    };
    // The header line.
    let mut buffer = Vec::new();
    let mut more = true;
    let header_len = loop {
        if let Some(i) = memchr::memchr(b'\n', &buffer) {
            break i + 1;
        }
        if !more {
            return Ok(None);
        }
        more = read_some(&mut buffer, chunk_bytes.max(1))?;
    };
    if !crate::direct::plain_header(&buffer[..header_len], columns) {
        return Ok(None);
    }
    buffer.drain(..header_len);
    // The body in chunks of whole lines, read by another thread while one is scanned;
    // the reading stops at the first piece that is not plain.
    let not_plain = std::sync::atomic::AtomicBool::new(false);
    let chunks = std::iter::from_fn(|| {
        if not_plain.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        // Up to the last line feed read (the file's last line may have none).
        let cut = loop {
            if more {
                match read_some(&mut buffer, chunk_bytes.max(1)) {
                    Ok(m) => more = m,
                    Err(e) => {
                        more = false;
                        buffer.clear();
                        return Some(Err(e));
                    }
                }
            }
            if !more {
                break buffer.len();
            }
            if let Some(i) = memchr::memrchr(b'\n', &buffer) {
                break i + 1;
            }
        };
        if cut == 0 {
            return None;
        }
        let rest = buffer.split_off(cut);
        Some(Ok(std::mem::replace(&mut buffer, rest)))
    });
    let mut rows = 0usize;
    let mut evidence: Vec<ColumnEvidence> = vec![ColumnEvidence::default(); wanted.len()];
    read_ahead(chunks, |chunk| {
        let chunk = chunk?;
        if not_plain.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let scanned: Option<Vec<(usize, Vec<ColumnEvidence>)>> = crate::direct::line_pieces(&chunk)
            .into_par_iter()
            .map(|piece| piece_evidence(piece, columns, wanted))
            .collect();
        match scanned {
            Some(pieces) => {
                for (n, found) in pieces {
                    rows += n;
                    for (total, e) in evidence.iter_mut().zip(found) {
                        total.append(e);
                    }
                }
            }
            None => not_plain.store(true, std::sync::atomic::Ordering::Relaxed),
        }
        Ok(())
    })?;
    let plain = !not_plain.load(std::sync::atomic::Ordering::Relaxed);
    Ok(plain.then_some((rows, evidence)))
}

/// The rows of `piece` (whole lines of a CSV body of `columns` columns) and the
/// evidence of its columns `wanted`, or `None` when it is not plain. Only the values
/// that can say something are observed: with a `/` or two `.` (a date), or with a `.`
/// while the decimal separator is still open (a plain field holds no `,`).
fn piece_evidence(
    piece: &[u8],
    columns: usize,
    wanted: &[usize],
) -> Option<(usize, Vec<ColumnEvidence>)> {
    let mut evidence: Vec<ColumnEvidence> = vec![ColumnEvidence::default(); wanted.len()];
    // No `/` anywhere in the piece: only the decimal evidence can change.
    let slashes = memchr::memchr(b'/', piece).is_some();
    let mut open: Vec<bool> = evidence.iter().map(ColumnEvidence::decimal_open).collect();
    let rows = crate::direct::for_each_field(piece, columns, wanted, |k, row, f| {
        let tells = (slashes && memchr::memchr(b'/', f).is_some()) || {
            let mut dots = memchr::memchr_iter(b'.', f);
            dots.next().is_some() && (open[k] || dots.next().is_some())
        };
        if tells {
            // A plain piece is valid UTF-8, and a field is cut at ASCII separators.
            if let Ok(v) = std::str::from_utf8(f) {
                evidence[k].observe_value(row, v);
                open[k] = evidence[k].decimal_open();
            }
        }
    })?;
    for e in &mut evidence {
        e.end_piece(rows);
    }
    Some((rows, evidence))
}

/// The quarantine rows of a piece starting at row `offset` of its source, numbered in
/// the source.
fn shift_rows(quarantine: &RecordBatch, offset: usize) -> Result<RecordBatch> {
    if offset == 0 || quarantine.num_rows() == 0 {
        return Ok(quarantine.clone());
    }
    let at = quarantine.schema().index_of(QUARANTINE_ROW)?;
    let rows: UInt64Array = quarantine
        .column(at)
        .as_primitive::<UInt64Type>()
        .unary(|r| r + offset as u64);
    let mut columns: Vec<ArrayRef> = quarantine.columns().to_vec();
    columns[at] = Arc::new(rows);
    Ok(RecordBatch::try_new(quarantine.schema(), columns)?)
}

/// Adds the rows and spend of each channel of `table`, in row order.
fn count_channels(table: &RecordBatch, channels: &mut BTreeMap<String, (usize, f64)>) {
    let (Some(channel), Some(spend)) = (
        table
            .column_by_name(unified::CHANNEL)
            .and_then(|c| c.as_string_opt::<i32>()),
        table
            .column_by_name(unified::SPEND)
            .and_then(|c| c.as_primitive_opt::<arrow::datatypes::Float64Type>()),
    ) else {
        return;
    };
    for r in 0..table.num_rows() {
        let name = if channel.is_valid(r) {
            channel.value(r)
        } else {
            ""
        };
        if !channels.contains_key(name) {
            channels.insert(name.to_owned(), (0, 0.0));
        }
        if let Some(entry) = channels.get_mut(name) {
            entry.0 += 1;
            if spend.is_valid(r) {
                entry.1 += spend.value(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ReadOptions, read_table, read_table_with, read_tables_with, unify_marketing_data,
        write_table,
    };

    #[test]
    fn read_ahead_gives_every_item_in_order_and_stops_at_the_first_error() {
        let mut seen = Vec::new();
        read_ahead(0..1000u32, |i| {
            seen.push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        // An endless reader stops once the work fails (else this would not return).
        let mut calls = 0;
        let err = read_ahead(0u64.., |i| {
            calls += 1;
            if i == 3 {
                Err(crate::Error::config("test", "stop"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!((calls, err.to_string().contains("stop")), (4, true));
    }

    /// Meta: ISO dates (one impossible), a missing spend, a quoted name with a comma,
    /// an `age` breakdown and a `_pulled_at` column; Google Ads: slash dates that could
    /// be either order, costs in micros, an unparseable click count; Klaviyo: time stamps
    /// in a time zone, decimal commas, no spend column (the documented default).
    fn sources(dir: &Path) -> Vec<(&'static str, PathBuf)> {
        let mut meta = String::from(
            "date_start,account_id,campaign_id,campaign_name,adset_name,account_currency,spend,impressions,clicks,conversions,conversion_values,age,_pulled_at\n",
        );
        for i in 0..23 {
            let date = if i == 5 {
                "2024-02-30".to_owned()
            } else {
                format!("2024-01-{:02}", 1 + i % 28)
            };
            let spend = if i == 11 {
                String::new()
            } else {
                format!("{}.5", 10 + i)
            };
            meta.push_str(&format!(
                "{date},act_1,{},\"Brand, {}\",set {},USD,{spend},{},{},{}.0,{}.25,{},2024-03-01T00:00:0{}\n",
                i % 4,
                i % 4,
                i % 2,
                1000 + i,
                10 + i,
                i % 3,
                i * 7,
                ["18-24", "25-34"][i % 2],
                i % 10,
            ));
        }
        let mut google = String::from(
            "segments.date,customer.id,campaign.id,campaign.name,customer.currency_code,metrics.cost_micros,metrics.impressions,metrics.clicks,metrics.conversions,metrics.conversions_value\n",
        );
        for i in 0..17 {
            let clicks = if i == 9 {
                "many".to_owned()
            } else {
                (5 + i).to_string()
            };
            google.push_str(&format!(
                "0{}/0{}/2024,99,{},Search {},EUR,{},{},{clicks},{},{}\n",
                1 + i % 9,
                1 + (i + 3) % 9,
                i % 3,
                i % 3,
                1_500_000 * (i + 1),
                500 + i,
                i % 2,
                i * 3,
            ));
        }
        let mut klaviyo = String::from(
            "sent_at,account_id,campaign_id,campaign_name,currency,recipients,clicks,placed_order_count,revenue\n",
        );
        for i in 0..9 {
            klaviyo.push_str(&format!(
                "2024-01-{:02}T03:00:00Z,k1,f{},Flow {},USD,{},{},{},\"{},5\"\n",
                1 + i,
                i % 2,
                i % 2,
                2000 + i,
                40 + i,
                i % 4,
                100 + i,
            ));
        }
        let mut out = Vec::new();
        for (name, text) in [("meta", meta), ("google_ads", google), ("klaviyo", klaviyo)] {
            let path = dir.join(format!("{name}.csv"));
            std::fs::write(&path, text).unwrap();
            out.push((name, path));
        }
        out
    }

    fn mapping() -> SchemaMapping {
        SchemaMapping::from_toml_str("[sources.klaviyo]\ntimezone = \"America/New_York\"\n")
            .unwrap()
    }

    #[test]
    fn unify_files_in_pieces_writes_what_unifying_whole_tables_gives() {
        let dir = tempfile::tempdir().unwrap();
        let sources = sources(dir.path());
        let mapping = mapping();
        let paths: Vec<&Path> = sources.iter().map(|(_, p)| p.as_path()).collect();
        let tables = read_tables_with(&paths, &ReadOptions::text()).unwrap();
        let whole =
            unify_marketing_data(sources.iter().map(|(n, _)| *n).zip(&tables), &mapping).unwrap();
        assert!(whole.quarantine.num_rows() >= 3, "the data has bad rows");
        assert!(!whole.notes.is_empty(), "the data has ambiguous columns");
        for ext in ["parquet", "csv"] {
            let expected = dir.path().join(format!("expected.{ext}"));
            let expected_q = dir.path().join(format!("expected_q.{ext}"));
            write_table(&expected, &whole.table).unwrap();
            write_table(&expected_q, &whole.quarantine).unwrap();
            let named: Vec<(&str, &Path)> =
                sources.iter().map(|(n, p)| (*n, p.as_path())).collect();
            for batch_rows in [1, 4, 7, 1000] {
                let out = dir.path().join(format!("u{batch_rows}.{ext}"));
                let q = dir.path().join(format!("q{batch_rows}.{ext}"));
                let done = unify_files(&named, &mapping, &out, &q, false, batch_rows).unwrap();
                assert_eq!(done.notes, whole.notes);
                assert_eq!(done.rows_in, whole.rows_in());
                assert_eq!(done.rows_out, whole.table.num_rows());
                assert_eq!(done.quarantined, whole.quarantine.num_rows());
                assert!(done.quarantine_written);
                assert_eq!(read_table(&out).unwrap(), read_table(&expected).unwrap());
                assert_eq!(read_table(&q).unwrap(), read_table(&expected_q).unwrap());
                let spend: f64 = done.channels.iter().map(|(_, _, s)| s).sum();
                assert!(spend > 0.0);
                assert_eq!(
                    done.channels.iter().map(|(_, n, _)| n).sum::<usize>(),
                    done.rows_out
                );
            }
        }
    }

    /// A CSV file's pieces, joined.
    fn joined_pieces(path: &Path, batch_rows: usize) -> Result<RecordBatch> {
        let file = SourceFile::open("t", path)?;
        let pieces = file.pieces(batch_rows)?.collect::<Result<Vec<_>>>()?;
        Ok(arrow::compute::concat_batches(&file.schema, &pieces)?)
    }

    #[test]
    fn csv_pieces_read_every_cell_as_the_whole_file_does() {
        let dir = tempfile::tempdir().unwrap();
        let row = |i: usize| format!("2024-01-{:02},c{},{}.5,,x{}", 1 + i % 28, i % 3, i, i);
        let plain: Vec<String> = (0..20).map(row).collect();
        let header = "date,campaign,spend,empty,name";
        let mut quoted = plain.clone();
        quoted[13] = "2024-01-14,\"c, 1\",13.5,,\"two\nlines\"".to_owned();
        let files = [
            ("plain", format!("{header}\n{}\n", plain.join("\n"))),
            (
                "no_final_line_feed",
                format!("{header}\n{}", plain.join("\n")),
            ),
            ("crlf", format!("{header}\r\n{}\r\n", plain.join("\r\n"))),
            ("quote_late", format!("{header}\n{}\n", quoted.join("\n"))),
            ("header_only", format!("{header}\n")),
        ];
        for (name, text) in files {
            let path = dir.path().join(format!("{name}.csv"));
            std::fs::write(&path, text).unwrap();
            let whole = crate::read_table_with(&path, &ReadOptions::text()).unwrap();
            for batch_rows in [1, 3, 13, 14, 1000] {
                let pieces = joined_pieces(&path, batch_rows).unwrap();
                assert_eq!(pieces, whole, "{name}, {batch_rows} rows a piece");
            }
        }
        // A ragged row late in the file: the error names its line, as reading it whole.
        let mut ragged = plain.clone();
        ragged[15].push_str(",extra");
        let path = dir.path().join("ragged.csv");
        std::fs::write(&path, format!("{header}\n{}\n", ragged.join("\n"))).unwrap();
        let whole = crate::read_table_with(&path, &ReadOptions::text())
            .unwrap_err()
            .to_string();
        assert!(whole.contains("ragged.csv, line 17:"), "{whole}");
        for batch_rows in [1, 4, 1000] {
            let err = joined_pieces(&path, batch_rows).unwrap_err().to_string();
            // arrow-csv words the count by its batch size ("got more than 5" for one row).
            assert!(err.contains("ragged.csv, line 17:"), "{batch_rows}: {err}");
        }
    }

    #[test]
    fn a_column_mixing_date_orders_across_pieces_is_the_same_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("google.csv");
        let mut text = String::from(
            "segments.date,campaign.id,campaign.name,customer.currency_code,metrics.cost_micros,metrics.impressions,metrics.clicks,metrics.conversions,metrics.conversions_value\n",
        );
        for date in ["01/02/2024", "25/01/2024", "02/03/2024", "01/28/2024"] {
            text.push_str(&format!("{date},1,A,USD,100,1,1,0,0\n"));
        }
        std::fs::write(&path, text).unwrap();
        let table = crate::read_table_with(&path, &ReadOptions::text()).unwrap();
        let whole = unify_marketing_data([("google_ads", &table)], &SchemaMapping::default())
            .unwrap_err()
            .to_string();
        assert!(
            whole.contains("('25/01/2024', data row 2)")
                && whole.contains("('01/28/2024', data row 4)"),
            "{whole}"
        );
        let out = dir.path().join("u.parquet");
        let q = dir.path().join("q.parquet");
        let pieces = unify_files(
            &[("google_ads", &path)],
            &SchemaMapping::default(),
            &out,
            &q,
            false,
            1,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(pieces, whole);
        assert!(!out.exists() && !q.exists(), "nothing written on an error");
    }

    #[test]
    fn dot_dates_are_read_in_pieces_in_the_order_the_whole_file_proves() {
        let dir = tempfile::tempdir().unwrap();
        let header = "segments.date,campaign.id,campaign.name,customer.currency_code,metrics.cost_micros,metrics.impressions,metrics.clicks,metrics.conversions,metrics.conversions_value\n";
        // Month first, proven only by the last row; every date ambiguous (day first, a
        // note); both orders (an error naming both); a plain decimal value in the
        // date column before a dot date (the first pass must still look at it).
        let cases: [(&str, Vec<&str>); 4] = [
            (
                "us",
                vec!["01.03.2024", "01.05.2024", "02.03.2024", "01.13.2024"],
            ),
            ("ambiguous", vec!["01.03.2024", "02.03.2024", "03.04.2024"]),
            (
                "mixed",
                vec!["01.03.2024", "13.01.2024", "02.03.2024", "01.13.2024"],
            ),
            ("point_first", vec!["1.5", "01.03.2024", "01.13.2024"]),
        ];
        for (name, dates) in cases {
            let path = dir.path().join(format!("{name}.csv"));
            let mut text = String::from(header);
            for date in &dates {
                text.push_str(&format!("{date},1,A,USD,100,1,1,0,0\n"));
            }
            std::fs::write(&path, text).unwrap();
            let table = crate::read_table_with(&path, &ReadOptions::text()).unwrap();
            let whole = unify_marketing_data([("google_ads", &table)], &SchemaMapping::default());
            for batch_rows in [1, 2, 1000] {
                let out = dir.path().join(format!("{name}{batch_rows}.csv"));
                let q = dir.path().join(format!("{name}{batch_rows}.q.csv"));
                let pieces = unify_files(
                    &[("google_ads", &path)],
                    &SchemaMapping::default(),
                    &out,
                    &q,
                    true,
                    batch_rows,
                );
                match (&whole, pieces) {
                    (Ok(whole), Ok(done)) => {
                        assert_eq!(done.notes, whole.notes, "{name}, {batch_rows}");
                        assert_eq!(read_table(&out).unwrap().num_rows(), whole.table.num_rows());
                        let written = read_table_with(&out, &ReadOptions::text()).unwrap();
                        let dates = written.column(0).as_string::<i32>();
                        let expected = arrow::compute::cast(
                            whole.table.column(0),
                            &arrow::datatypes::DataType::Utf8,
                        )
                        .unwrap();
                        assert_eq!(dates, expected.as_string::<i32>(), "{name}, {batch_rows}");
                    }
                    (Err(whole), Err(e)) => {
                        assert_eq!(e.to_string(), whole.to_string(), "{name}, {batch_rows}");
                    }
                    (whole, pieces) => panic!("{name}, {batch_rows}: {whole:?} vs {pieces:?}"),
                }
            }
            // The first pass over the bytes gives the evidence of the pieces.
            let (_, found) = csv_evidence(&path, 9, &[0], 1 << 20).unwrap().unwrap();
            assert_eq!(
                decided(&found),
                decided(&evidence_of_pieces(&path, &[0]).1),
                "{name}"
            );
            let whole = whole.map(|u| {
                u.table
                    .column(0)
                    .as_primitive::<arrow::datatypes::Date32Type>()
                    .values()
                    .iter()
                    .map(|&d| crate::parse::format_days(d))
                    .collect::<Vec<_>>()
            });
            match name {
                "us" => assert_eq!(
                    whole.unwrap(),
                    ["2024-01-03", "2024-01-05", "2024-02-03", "2024-01-13"]
                ),
                "ambiguous" => {
                    assert_eq!(whole.unwrap(), ["2024-03-01", "2024-03-02", "2024-04-03"])
                }
                "mixed" => {
                    let e = whole.unwrap_err().to_string();
                    assert!(
                        e.contains("'13.01.2024'") && e.contains("'01.13.2024'"),
                        "{e}"
                    );
                }
                _ => assert_eq!(whole.unwrap(), ["2024-01-03", "2024-01-13"]),
            }
        }
    }

    /// The evidence of `wanted` columns of a CSV file from its pieces read as text, as
    /// the first pass gathered it before [`csv_evidence`].
    fn evidence_of_pieces(path: &Path, wanted: &[usize]) -> (usize, Vec<ColumnEvidence>) {
        let file = SourceFile::open("t", path).unwrap();
        let mut evidence = vec![ColumnEvidence::default(); wanted.len()];
        let mut rows = 0;
        for piece in file.pieces(3).unwrap() {
            let piece = piece.unwrap();
            rows += piece.num_rows();
            for (e, &c) in evidence.iter_mut().zip(wanted) {
                e.observe(piece.column(c).as_ref()).unwrap();
            }
        }
        (rows, evidence)
    }

    /// What a column's evidence decides, as text (readings and errors).
    fn decided(evidence: &[ColumnEvidence]) -> Vec<String> {
        evidence
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{:?}", e.decide("t", &format!("c{i}"), None)))
            .collect()
    }

    #[test]
    fn csv_evidence_is_the_evidence_of_the_columns_read_as_text() {
        let dir = tempfile::tempdir().unwrap();
        // A date column ambiguous until a day-first date at row 61 and a month-first
        // one at row 88 (an error naming both as data rows 62 and 89); a count column that shows a
        // thousands-like value at row 20, then a decimal point only at row 95; a
        // column of amounts with a point from the start; a column empty but on the last
        // line, which has no line feed; a column that is never looked at; CRLF lines.
        let mut text = String::from("date,clicks,name,amount,blank\r\n");
        for i in 0..100 {
            let date = match i {
                61 => "25/01/2024".to_owned(),
                88 => "01/28/2024".to_owned(),
                _ if i % 7 == 0 => String::new(),
                _ => format!("{:02}/{:02}/2024", 1 + i % 12, 1 + i % 9),
            };
            let clicks = match i {
                20 => "1.234".to_owned(),
                95 => "3.5".to_owned(),
                _ => (i * 3).to_string(),
            };
            text.push_str(&format!("{date},{clicks},n/{i}/2024,{i}.25,\r\n"));
        }
        text.push_str("03/04/2024,7,x,1.5,z");
        let path = dir.path().join("t.csv");
        std::fs::write(&path, &text).unwrap();
        let wanted = [0, 1, 3, 4];
        let (rows, whole) = evidence_of_pieces(&path, &wanted);
        assert_eq!(rows, 101);
        let expected = decided(&whole);
        assert!(
            expected[0].contains("data row 62") && expected[0].contains("data row 89"),
            "{}",
            expected[0]
        );
        assert!(expected[1].contains("Point, None"), "{}", expected[1]);
        for chunk_bytes in [1, 10, 64, 1000, 1 << 20] {
            let (n, found) = csv_evidence(&path, 5, &wanted, chunk_bytes)
                .unwrap()
                .expect("a plain file");
            assert_eq!(n, rows, "{chunk_bytes} bytes a chunk");
            assert_eq!(decided(&found), expected, "{chunk_bytes} bytes a chunk");
        }
        // The same rows without the late decimal point: only the ambiguous value tells.
        let ambiguous = text.replace(",3.5,", ",35,");
        std::fs::write(&path, &ambiguous).unwrap();
        let expected = decided(&evidence_of_pieces(&path, &wanted).1);
        assert!(expected[1].contains("1.234"), "{}", expected[1]);
        for chunk_bytes in [1, 64, 1 << 20] {
            let (_, found) = csv_evidence(&path, 5, &wanted, chunk_bytes)
                .unwrap()
                .unwrap();
            assert_eq!(decided(&found), expected, "{chunk_bytes} bytes a chunk");
        }
        // Not plain (a quote late in the file, a ragged row): left to the reader of
        // pieces, whatever the chunks.
        for (name, late) in [("quote", "\"n,1\""), ("ragged", "n,1")] {
            let bad = text.replacen("n/97/2024", late, 1);
            std::fs::write(&path, &bad).unwrap();
            for chunk_bytes in [1, 64, 1 << 20] {
                let found = csv_evidence(&path, 5, &wanted, chunk_bytes).unwrap();
                assert!(found.is_none(), "{name}, {chunk_bytes} bytes a chunk");
            }
        }
    }

    #[test]
    fn an_empty_quarantine_is_written_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.csv");
        std::fs::write(
            &path,
            "date_start,campaign_id,campaign_name,account_currency,spend,impressions,clicks,conversions,conversion_values\n\
             2024-01-01,1,A,USD,1.5,10,1,0,0\n",
        )
        .unwrap();
        let out = dir.path().join("u.csv");
        let q = dir.path().join("q.csv");
        let named = [("meta", path.as_path())];
        let m = SchemaMapping::default();
        let done = unify_files(&named, &m, &out, &q, false, 10).unwrap();
        assert_eq!((done.rows_out, done.quarantined), (1, 0));
        assert!(out.exists() && !q.exists());
        let done = unify_files(&named, &m, &out, &q, true, 10).unwrap();
        assert!(done.quarantine_written && q.exists());
        assert_eq!(read_table(&q).unwrap().num_rows(), 0);
    }
}
