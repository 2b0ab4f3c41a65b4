//! Reading a plain CSV file straight into typed columns.
//!
//! [`crate::read_table`] first tries this reader. The body is cut into line-aligned
//! pieces, each piece's records are counted (line feeds), and each column gets a plan
//! from the types of the first thousand records. Then one pass over each piece, in
//! parallel, splits the records into fields (separators found 64 bytes at a time) in
//! batches of records worked column by column: every cell is typed with arrow-csv's
//! rules ([`crate::infer`]); cells of number and boolean columns are parsed straight
//! into the column's final buffer; cells of the other columns (text, dates, timestamps)
//! are copied into the piece's text buffer. Afterwards each column takes the type
//! arrow-csv infers from all its cells: text columns are joined; the other columns kept
//! as text (dates, timestamps, and columns empty in the first records that turn out
//! numbers or booleans) are parsed from their text; a number column whose later cells
//! changed its type (a decimal after integers, a word) is read again as that type. A column with a
//! cell its type's parser rejects (e.g. `2024-02-30` in a date column) stays text, so
//! the transforms can quarantine that cell with its row.
//!
//! Kept rather than DataFusion's CSV scan because it is faster at typed reading: the
//! three 3M-row exports of `transform_vs_peers.py` read with types inferred from every
//! row took 0.84 s here and 5.73 s with DataFusion (its schema inference over every row,
//! then its scan), 6.8× (medians of 3, `transform_engines` in `benches`, release build,
//! 2 cores at load 5–6.6, 2026-12-05; 5.2× in a second run at load 4.2). At text (every
//! column Utf8) it is not 1.5× faster: 0.82 s against 0.87 s for DataFusion's scan in one
//! partition per file, which keeps the rows' order (second run). DataFusion's scan in
//! parallel byte ranges did not reliably give the rows back in file order (one of two
//! `liftos unify` runs reading through it gave another row order), which unify's
//! quarantine row numbers and duplicate removal need. The text read still goes through
//! this reader (the same code as the typed read); by issue 19's rule it should move to
//! the ordered DataFusion scan (`SqlSession::read_file_as_text`), not done yet.
//!
//! Only plain files take this path: valid UTF-8, no quote character anywhere, line
//! feeds (optionally preceded by a carriage return) ending records, no blank line, and
//! every record holding as many fields as the header. Anything else (quoted fields,
//! lone carriage returns, ragged rows, invalid UTF-8, ...) returns `None` and the caller
//! decodes the file with arrow-csv, which reads it (or names the file and line of the
//! problem) exactly as before.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, PrimitiveArray, RecordBatch, RecordBatchOptions, StringArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::kernels::cast_utils::{Parser, string_to_datetime};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Field, Float64Type, Int64Type, Schema, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use chrono::Utc;
use rayon::prelude::*;

use crate::infer;

/// Bodies smaller than this are read in one piece.
const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// Low seven bits of every byte.
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `x` that is zero, and no other bit.
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    !((x & LOW7).wrapping_add(LOW7) | x | LOW7)
}

/// Bit i set where byte i of the eight in `word` (little-endian) is `,` or `\n`.
#[inline(always)]
fn separators8(word: u64) -> u64 {
    const COMMAS: u64 = 0x2c2c_2c2c_2c2c_2c2c;
    const LINE_FEEDS: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let high = zero_bytes(word ^ COMMAS) | zero_bytes(word ^ LINE_FEEDS);
    // Bits 7, 15, ..., 63 gathered into bits 0..8 (no two partial products overlap).
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Bit i set where byte i of `block` is `,` or `\n`.
#[inline(always)]
fn separators64(block: &[u8]) -> u64 {
    block
        .chunks_exact(8)
        .enumerate()
        .fold(0, |mask, (k, word)| {
            let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
            mask | separators8(word) << (8 * k)
        })
}

/// Records per [`Batch`] at most: small enough that a batch's bytes and field positions
/// stay in the core's cache while each column is processed in turn.
const BATCH_ROWS: usize = 256;

/// Fields per [`Batch`] at most (a very wide file gets fewer records per batch, down
/// to one).
const BATCH_CELLS: usize = 4096;

/// The fields of up to [`BATCH_ROWS`] consecutive records of a piece.
struct Batch<'a> {
    piece: &'a [u8],
    columns: usize,
    /// Records in the batch.
    rows: usize,
    /// Index within the piece of the batch's first record.
    first_row: usize,
    /// Per field (record-major): where it starts and ends in `piece`.
    starts: Vec<u32>,
    ends: Vec<u32>,
}

impl Batch<'_> {
    /// The field of record `row` (within the batch), column `column`.
    #[inline(always)]
    fn field(&self, row: usize, column: usize) -> &[u8] {
        let i = row * self.columns + column;
        &self.piece[self.starts[i] as usize..self.ends[i] as usize]
    }

    /// The fields of `column`, record by record.
    #[inline(always)]
    fn column(&self, column: usize) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.rows).map(move |r| self.field(r, column))
    }
}

/// Splits `piece` into records and fields and calls `each` with every [`Batch`] of
/// them, in order, with one pass over its bytes; returns the number of records, or
/// `None` for a blank line or a record without exactly `columns` fields (arrow-csv
/// skips blank lines and reports ragged rows). Records end at `\n`, a `\r` before it is
/// dropped. `each` may already have been called when `None` is returned; a piece
/// over 4 GiB is `None` too.
///
/// Separators are found 64 bytes at a time (eight bytes per word compared at once,
/// their positions gathered into one mask), so the per-byte work is a few word
/// operations and the per-field work one step over the mask; the callers then work
/// column by column over each batch, without a call per field.
fn for_each_batch(piece: &[u8], columns: usize, mut each: impl FnMut(&Batch<'_>)) -> Option<usize> {
    // Positions are kept as u32.
    if piece.len() > u32::MAX as usize {
        return None;
    }
    let batch_rows = (BATCH_CELLS / columns.max(1)).clamp(1, BATCH_ROWS);
    let mut batch = Batch {
        piece,
        columns,
        rows: 0,
        first_row: 0,
        starts: Vec::with_capacity(batch_rows * columns),
        ends: Vec::with_capacity(batch_rows * columns),
    };
    let (mut col, mut start) = (0, 0);
    // The last partial block is searched as a copy padded with zeros (no separator).
    let whole = piece.len() / 64 * 64;
    let mut padded = [0u8; 64];
    padded[..piece.len() - whole].copy_from_slice(&piece[whole..]);
    for base in (0..piece.len()).step_by(64) {
        let mut mask = if base < whole {
            separators64(&piece[base..base + 64])
        } else {
            separators64(&padded)
        };
        while mask != 0 {
            let i = base + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if piece[i] == b',' {
                if col + 1 >= columns {
                    return None;
                }
                batch.starts.push(start as u32);
                batch.ends.push(i as u32);
                col += 1;
            } else {
                let end = if i > start && piece[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                if col + 1 != columns || (col == 0 && end == start) {
                    return None;
                }
                batch.starts.push(start as u32);
                batch.ends.push(end as u32);
                col = 0;
                batch.rows += 1;
                if batch.rows == batch_rows {
                    each(&batch);
                    batch.first_row += batch.rows;
                    batch.rows = 0;
                    batch.starts.clear();
                    batch.ends.clear();
                }
            }
            start = i + 1;
        }
    }
    if start < piece.len() {
        // The last record, without a line feed (a trailing `\r` was ruled out).
        if col + 1 != columns {
            return None;
        }
        batch.starts.push(start as u32);
        batch.ends.push(piece.len() as u32);
        batch.rows += 1;
    } else if col != 0 {
        return None;
    }
    if batch.rows > 0 {
        each(&batch);
    }
    Some(batch.first_row + batch.rows)
}

/// What the single pass learns about one piece.
struct Scan {
    rows: usize,
    /// Per column: arrow-csv's inference bits, text bytes, rows (in the piece) of the
    /// empty cells, whether a cell did not parse as the column's plan.
    bits: Vec<u16>,
    bytes: Vec<usize>,
    nulls: Vec<Vec<u32>>,
    failed: Vec<bool>,
    /// Per column kept as text: its values and each row's end in them.
    text: Vec<Option<(Vec<u8>, Vec<u32>)>>,
}

/// Whether `piece` (whole lines) is plain: valid UTF-8, no quote character, and every
/// carriage return right before a line feed.
fn plain(piece: &[u8]) -> bool {
    memchr::memchr(b'"', piece).is_none()
        && memchr::memchr_iter(b'\r', piece).all(|i| piece.get(i + 1) == Some(&b'\n'))
        && std::str::from_utf8(piece).is_ok()
}

/// The type a column is read as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Bool,
    Int,
    Float,
    Date,
    Timestamp(TimeUnit),
}

impl Kind {
    fn of(data_type: &DataType) -> Kind {
        match data_type {
            DataType::Boolean => Kind::Bool,
            DataType::Int64 => Kind::Int,
            DataType::Float64 => Kind::Float,
            DataType::Date32 => Kind::Date,
            DataType::Timestamp(unit, None) => Kind::Timestamp(*unit),
            // Utf8, and Null (a column without any value stays all-null text).
            _ => Kind::Text,
        }
    }
}

/// A column's output buffers, sized for every row.
enum Buf {
    Text { offsets: Vec<i32>, values: Vec<u8> },
    Bool(Vec<bool>),
    Int(Vec<i64>),
    Float(Vec<f64>),
    Date(Vec<i32>),
    Timestamp(Vec<i64>, TimeUnit),
}

impl Buf {
    fn kind(&self) -> Kind {
        match self {
            Buf::Text { .. } => Kind::Text,
            Buf::Bool(_) => Kind::Bool,
            Buf::Int(_) => Kind::Int,
            Buf::Float(_) => Kind::Float,
            Buf::Date(_) => Kind::Date,
            Buf::Timestamp(_, unit) => Kind::Timestamp(*unit),
        }
    }
}

/// One piece's share of one column's buffers.
enum Out<'a> {
    /// `ends[i]` is the end offset of row i; the piece's text starts at `base`.
    Text {
        ends: &'a mut [i32],
        values: &'a mut [u8],
        base: usize,
    },
    Bool(&'a mut [bool]),
    Int(&'a mut [i64]),
    Float(&'a mut [f64]),
    Date(&'a mut [i32]),
    Timestamp(&'a mut [i64], TimeUnit),
}

struct ColOut<'a> {
    out: Out<'a>,
    valid: Option<&'a mut [bool]>,
}

/// `slice` cut into consecutive parts of `sizes`.
fn cut<T>(mut slice: &mut [T], sizes: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    sizes
        .map(|n| {
            let (head, tail) = std::mem::take(&mut slice).split_at_mut(n);
            slice = tail;
            head
        })
        .collect()
}

/// Parses `-?\d+` as arrow-csv's Int64 parser does.
#[inline]
fn parse_int(f: &[u8]) -> Option<i64> {
    parse_int_fast(f).or_else(|| Int64Type::parse(std::str::from_utf8(f).ok()?))
}

/// Whether `f` starts with a minus sign, and what follows it.
#[inline(always)]
fn split_sign(f: &[u8]) -> (bool, &[u8]) {
    match f.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, f),
    }
}

/// `-?\d{1,18}` (always an i64; inferred as an integer), else `None`.
#[inline(always)]
fn parse_int_fast(f: &[u8]) -> Option<i64> {
    let (negative, digits) = split_sign(f);
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v = 0i64;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d >= 10 {
            return None;
        }
        // At most 18 digits: no overflow.
        v = v * 10 + i64::from(d);
    }
    Some(if negative { -v } else { v })
}

/// Powers of ten exactly representable as f64.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Parses a number as arrow-csv's Float64 parser does (correctly rounded).
#[inline]
fn parse_float(f: &[u8]) -> Option<f64> {
    match parse_float_fast(f) {
        Some((x, _)) => Some(x),
        None => Float64Type::parse(std::str::from_utf8(f).ok()?),
    }
}

/// Plain decimals `-?\d+(\.\d+)?` with at most 15 digits, and whether the cell has a
/// decimal point (inferred as a decimal, else as an integer); `None` for any other
/// cell. They are one exact integer divided by an exact power of ten, which IEEE
/// division rounds correctly, as arrow-csv's parser does.
#[inline(always)]
fn parse_float_fast(f: &[u8]) -> Option<(f64, bool)> {
    let (negative, body) = split_sign(f);
    if body.is_empty() || body.len() > 16 {
        return None;
    }
    // One pass: the digits as one integer, and where the point is.
    let mut m = 0u64;
    let mut digits = 0usize;
    let mut point: Option<usize> = None;
    for (i, &b) in body.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            m = m * 10 + u64::from(d);
            digits += 1;
        } else if b == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    // At least one digit before the point and one after it, at most 15 in all.
    let frac = point.map_or(0, |p| body.len() - p - 1);
    if digits > 15 || point.is_some_and(|p| p == 0 || frac == 0) {
        return None;
    }
    let v = m as f64 / POW10[frac];
    Some((if negative { -v } else { v }, point.is_some()))
}

fn parse_timestamp(f: &[u8], unit: TimeUnit) -> Option<i64> {
    let t = string_to_datetime(&Utc, std::str::from_utf8(f).ok()?).ok()?;
    match unit {
        TimeUnit::Second => Some(t.timestamp()),
        TimeUnit::Millisecond => Some(t.timestamp_millis()),
        TimeUnit::Microsecond => Some(t.timestamp_micros()),
        TimeUnit::Nanosecond => t.timestamp_nanos_opt(),
    }
}

fn parse_date(f: &[u8]) -> Option<i32> {
    std::str::from_utf8(f).ok().and_then(Date32Type::parse)
}

fn parse_bool(f: &[u8]) -> Option<bool> {
    if f.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else if f.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else {
        None
    }
}

/// Parses the non-empty fields of `column` in `batch` with `parse` into `out` (indexed
/// by the record's row in the piece); false when a field does not parse.
#[inline(always)]
fn parse_column<T>(
    batch: &Batch<'_>,
    column: usize,
    out: &mut [T],
    parse: impl Fn(&[u8]) -> Option<T>,
) -> bool {
    let out = &mut out[batch.first_row..batch.first_row + batch.rows];
    for (slot, f) in out.iter_mut().zip(batch.column(column)) {
        if f.is_empty() {
            continue;
        }
        match parse(f) {
            Some(x) => *slot = x,
            None => return false,
        }
    }
    true
}

/// Writes one piece's cells into its share of the buffers (`None`: column skipped),
/// column by column over each batch of records; returns, per column, whether a cell
/// did not parse as the column's type.
fn fill(piece: &[u8], columns: usize, outs: &mut [Option<ColOut<'_>>]) -> Vec<bool> {
    let mut failed = vec![false; columns];
    let mut written = vec![0usize; columns];
    // The first pass checked every record.
    let _ = for_each_batch(piece, columns, |batch| {
        let rows = batch.first_row..batch.first_row + batch.rows;
        for (c, col) in outs.iter_mut().enumerate() {
            let Some(col) = col else { continue };
            if let Some(valid) = col.valid.as_deref_mut() {
                for (v, f) in valid[rows.clone()].iter_mut().zip(batch.column(c)) {
                    *v = !f.is_empty();
                }
            }
            if failed[c] {
                continue;
            }
            let ok = match &mut col.out {
                Out::Text { ends, values, base } => {
                    let mut at = written[c];
                    for (end, f) in ends[rows.clone()].iter_mut().zip(batch.column(c)) {
                        values[at..at + f.len()].copy_from_slice(f);
                        at += f.len();
                        // The total was checked to fit in i32.
                        *end = (*base + at) as i32;
                    }
                    written[c] = at;
                    true
                }
                Out::Int(v) => parse_column(batch, c, v, parse_int),
                Out::Float(v) => parse_column(batch, c, v, parse_float),
                Out::Date(v) => parse_column(batch, c, v, parse_date),
                Out::Timestamp(v, unit) => {
                    let unit = *unit;
                    parse_column(batch, c, v, |f| parse_timestamp(f, unit))
                }
                Out::Bool(v) => parse_column(batch, c, v, parse_bool),
            };
            failed[c] = !ok;
        }
    });
    failed
}

/// How the single pass reads a column, from the types of the file's first records.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    Int,
    Float,
    Bool,
    /// Kept as text: text, dates and timestamps (parsed once the column's type is known
    /// from all its cells), and columns without a value in the first records.
    Text,
}

/// Records whose types choose each column's [`Plan`].
const PLAN_ROWS: usize = 1000;

/// The plan of each column from the first [`PLAN_ROWS`] records of `body` (all text
/// without type inference), with the share of those records' bytes in the column
/// (to size text buffers); `None` if those records are not plain.
fn plan(body: &[u8], columns: usize, infer_types: bool) -> Option<Vec<(Plan, f64)>> {
    let end = memchr::memchr_iter(b'\n', body)
        .nth(PLAN_ROWS - 1)
        .map_or(body.len(), |i| i + 1);
    let mut bits = vec![0u16; columns];
    let mut bytes = vec![0usize; columns];
    for_each_batch(&body[..end], columns, |batch| {
        for (c, bits) in bits.iter_mut().enumerate() {
            for f in batch.column(c) {
                bytes[c] += f.len();
                if infer_types && !f.is_empty() && !infer::is_text_bits(*bits) {
                    *bits |= infer::cell_bit_bytes(f);
                }
            }
        }
    })?;
    let plans = bits.iter().zip(&bytes).map(|(&b, &n)| {
        let plan = match Kind::of(&infer::packed_type(b)) {
            _ if !infer_types => Plan::Text,
            Kind::Int => Plan::Int,
            Kind::Float => Plan::Float,
            Kind::Bool => Plan::Bool,
            _ => Plan::Text,
        };
        (plan, n as f64 / end.max(1) as f64)
    });
    Some(plans.collect())
}

/// One piece's share of a column in the single pass.
enum Slot<'a> {
    Int(&'a mut [i64]),
    Float(&'a mut [f64]),
    Bool(&'a mut [bool]),
    /// Kept as text; the share of the bytes the column is expected to hold.
    Text(f64),
}

/// The running totals of one column of one piece in the single pass.
struct ColumnScan<'s> {
    bits: &'s mut u16,
    bytes: &'s mut usize,
    nulls: &'s mut Vec<u32>,
    failed: &'s mut bool,
}

impl ColumnScan<'_> {
    /// Counts a non-empty cell and adds its inference bit (while that can matter).
    #[inline(always)]
    fn cell(&mut self, f: &[u8], infer_types: bool) {
        *self.bytes += f.len();
        if infer_types && !infer::is_text_bits(*self.bits) {
            *self.bits |= infer::cell_bit_bytes(f);
        }
    }
}

/// Parses the fields of `column` in `batch` into `out` (rows of the piece) as the
/// single pass does: empty cells are recorded as nulls, the others counted, typed and
/// parsed until one does not parse. `parse` gives a cell's value and, when its fast
/// path read it, its inference bit (else the bit is worked out here).
#[inline(always)]
fn parse_direct<T>(
    batch: &Batch<'_>,
    column: usize,
    out: &mut [T],
    scan: &mut ColumnScan<'_>,
    parse: impl Fn(&[u8]) -> (Option<T>, u16),
) {
    for (r, f) in batch.column(column).enumerate() {
        let row = batch.first_row + r;
        if f.is_empty() {
            scan.nulls.push(row as u32);
            continue;
        }
        if *scan.failed {
            scan.cell(f, true);
            continue;
        }
        *scan.bytes += f.len();
        let (value, bit) = parse(f);
        *scan.bits |= if bit == 0 {
            infer::cell_bit_bytes(f)
        } else {
            bit
        };
        match (value, out.get_mut(row)) {
            (Some(x), Some(slot)) => *slot = x,
            // A row past the counted ones is caught by the caller's row check.
            (Some(_), None) => {}
            (None, _) => *scan.failed = true,
        }
    }
}

/// [`parse_int`] with the cell's inference bit when its fast path read it (else 0).
#[inline(always)]
fn int_and_bit(f: &[u8]) -> (Option<i64>, u16) {
    match parse_int_fast(f) {
        Some(x) => (Some(x), infer::INTEGER_BIT),
        None => (parse_int(f), 0),
    }
}

/// [`parse_float`] with the cell's inference bit when its fast path read it (else 0).
#[inline(always)]
fn float_and_bit(f: &[u8]) -> (Option<f64>, u16) {
    match parse_float_fast(f) {
        Some((x, true)) => (Some(x), infer::DECIMAL_BIT),
        Some((x, false)) => (Some(x), infer::INTEGER_BIT),
        None => (parse_float(f), 0),
    }
}

/// [`parse_bool`] with the cell's inference bit when it is a boolean (else 0).
#[inline(always)]
fn bool_and_bit(f: &[u8]) -> (Option<bool>, u16) {
    match parse_bool(f) {
        Some(x) => (Some(x), infer::BOOLEAN_BIT),
        None => (None, 0),
    }
}

/// The single pass over one piece: splits it, types every cell (arrow-csv's rules),
/// parses the cells of number and boolean columns into their final buffers (`slots`,
/// this piece's rows) and copies the cells of the other columns into text buffers.
/// `None` if the piece is not plain (see the module docs).
fn single_pass(
    piece: &[u8],
    rows: usize,
    columns: usize,
    infer_types: bool,
    slots: &mut [Slot<'_>],
) -> Option<Scan> {
    if !plain(piece) || piece.len() > u32::MAX as usize {
        return None;
    }
    let mut bits = vec![0u16; columns];
    let mut bytes = vec![0usize; columns];
    let mut nulls: Vec<Vec<u32>> = vec![Vec::new(); columns];
    let mut failed = vec![false; columns];
    // Text buffers sized from the first records (a little more, to grow rarely).
    let mut text: Vec<Option<(Vec<u8>, Vec<u32>)>> = slots
        .iter()
        .map(|s| match s {
            Slot::Text(share) => Some((
                Vec::with_capacity((piece.len() as f64 * share * 1.1) as usize + 64),
                Vec::with_capacity(rows),
            )),
            _ => None,
        })
        .collect();
    let rows = for_each_batch(piece, columns, |batch| {
        for (c, slot) in slots.iter_mut().enumerate() {
            let mut scan = ColumnScan {
                bits: &mut bits[c],
                bytes: &mut bytes[c],
                nulls: &mut nulls[c],
                failed: &mut failed[c],
            };
            match slot {
                Slot::Int(out) => parse_direct(batch, c, out, &mut scan, int_and_bit),
                Slot::Float(out) => parse_direct(batch, c, out, &mut scan, float_and_bit),
                Slot::Bool(out) => parse_direct(batch, c, out, &mut scan, bool_and_bit),
                Slot::Text(_) => {
                    let Some((values, ends)) = &mut text[c] else {
                        continue;
                    };
                    for (r, f) in batch.column(c).enumerate() {
                        if f.is_empty() {
                            scan.nulls.push((batch.first_row + r) as u32);
                        } else {
                            scan.cell(f, infer_types);
                            values.extend_from_slice(f);
                        }
                        // At most the piece's length, checked to fit.
                        ends.push(values.len() as u32);
                    }
                }
            }
        }
    })?;
    Some(Scan {
        rows,
        bits,
        bytes,
        nulls,
        failed,
        text,
    })
}

/// Parses `f` as `out`'s type into its row `r`; false if it does not parse.
fn parse_into(out: &mut Out<'_>, r: usize, f: &[u8]) -> bool {
    fn put<T>(v: &mut [T], r: usize, x: Option<T>) -> bool {
        match (x, v.get_mut(r)) {
            (Some(x), Some(slot)) => {
                *slot = x;
                true
            }
            _ => false,
        }
    }
    match out {
        Out::Int(v) => put(v, r, parse_int(f)),
        Out::Float(v) => put(v, r, parse_float(f)),
        Out::Bool(v) => put(v, r, parse_bool(f)),
        Out::Date(v) => put(v, r, parse_date(f)),
        Out::Timestamp(v, unit) => {
            let unit = *unit;
            put(v, r, parse_timestamp(f, unit))
        }
        Out::Text { .. } => false,
    }
}

/// Records in `piece` (whole lines, the last one perhaps without its line feed).
fn count_rows(piece: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', piece).count()
        + usize::from(piece.last().is_some_and(|&b| b != b'\n'))
}

/// The validity of a column from its pieces' null rows (`None`: no null).
fn validity(scans: &[Scan], column: usize, rows: usize) -> Option<Vec<bool>> {
    if scans.iter().all(|s| s.nulls[column].is_empty()) {
        return None;
    }
    let mut valid = vec![true; rows];
    let mut offset = 0;
    for s in scans {
        for &r in &s.nulls[column] {
            valid[offset + r as usize] = false;
        }
        offset += s.rows;
    }
    Some(valid)
}

/// A column kept as text by the single pass: joined as one Arrow text buffer, and
/// parsed as `kind` when that is not text (the text stays if a cell does not parse).
fn text_column(scans: &[Scan], column: usize, rows: usize, kind: Kind) -> Result<(Buf, Kind), ()> {
    let parts: Vec<&(Vec<u8>, Vec<u32>)> = scans
        .iter()
        .map(|s| s.text[column].as_ref().ok_or(()))
        .collect::<Result<_, _>>()?;
    if kind != Kind::Text {
        let mut buf = alloc(kind, rows, 0);
        let sizes: Vec<usize> = parts.iter().map(|p| p.1.len()).collect();
        let outs = split_buf(&mut buf, &sizes, &[]);
        let parsed = outs
            .into_par_iter()
            .zip(parts.par_iter())
            .all(|(mut out, (values, ends))| {
                let mut start = 0usize;
                ends.iter().enumerate().all(|(r, &end)| {
                    let f = &values[start..end as usize];
                    start = end as usize;
                    f.is_empty() || parse_into(&mut out, r, f)
                })
            });
        if parsed {
            return Ok((buf, kind));
        }
    }
    let bytes: usize = parts.iter().map(|p| p.0.len()).sum();
    if bytes > i32::MAX as usize {
        return Err(());
    }
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0i32);
    let mut values = Vec::with_capacity(bytes);
    for (v, ends) in parts {
        let base = values.len();
        values.extend_from_slice(v);
        offsets.extend(ends.iter().map(|&e| (base + e as usize) as i32));
    }
    Ok((Buf::Text { offsets, values }, Kind::Text))
}

/// Allocates `kind`'s buffers for `rows` rows and `bytes` text bytes.
fn alloc(kind: Kind, rows: usize, bytes: usize) -> Buf {
    match kind {
        Kind::Text => Buf::Text {
            offsets: vec![0; rows + 1],
            values: vec![0; bytes],
        },
        Kind::Bool => Buf::Bool(vec![false; rows]),
        Kind::Int => Buf::Int(vec![0; rows]),
        Kind::Float => Buf::Float(vec![0.0; rows]),
        Kind::Date => Buf::Date(vec![0; rows]),
        Kind::Timestamp(unit) => Buf::Timestamp(vec![0; rows], unit),
    }
}

/// `buf` cut into one [`Out`] per piece, of `rows[k]` rows (and, for text, `bytes[k]`
/// value bytes) each.
fn split_buf<'a>(buf: &'a mut Buf, rows: &[usize], bytes: &[usize]) -> Vec<Out<'a>> {
    let rows = || rows.iter().copied();
    match buf {
        Buf::Text { offsets, values } => {
            let bases = bytes.iter().scan(0, |base, &b| {
                let at = *base;
                *base += b;
                Some(at)
            });
            cut(&mut offsets[1..], rows())
                .into_iter()
                .zip(cut(values, bytes.iter().copied()))
                .zip(bases)
                .map(|((ends, values), base)| Out::Text { ends, values, base })
                .collect()
        }
        Buf::Bool(v) => cut(v, rows()).into_iter().map(Out::Bool).collect(),
        Buf::Int(v) => cut(v, rows()).into_iter().map(Out::Int).collect(),
        Buf::Float(v) => cut(v, rows()).into_iter().map(Out::Float).collect(),
        Buf::Date(v) => cut(v, rows()).into_iter().map(Out::Date).collect(),
        Buf::Timestamp(v, unit) => {
            let unit = *unit;
            cut(v, rows())
                .into_iter()
                .map(|s| Out::Timestamp(s, unit))
                .collect()
        }
    }
}

/// Runs the second pass over `pieces` for the columns with a buffer in `bufs`; returns
/// per column whether a cell failed to parse.
fn fill_all(
    pieces: &[&[u8]],
    scans: &[Scan],
    bufs: &mut [Option<Buf>],
    valid: &mut [Option<Vec<bool>>],
) -> Vec<bool> {
    let columns = bufs.len();
    let mut per_piece: Vec<Vec<Option<ColOut<'_>>>> = (0..pieces.len())
        .map(|_| Vec::with_capacity(columns))
        .collect();
    let piece_rows: Vec<usize> = scans.iter().map(|s| s.rows).collect();
    for (c, (buf, valid)) in bufs.iter_mut().zip(valid.iter_mut()).enumerate() {
        let Some(buf) = buf else {
            per_piece.iter_mut().for_each(|p| p.push(None));
            continue;
        };
        let mut valids: Vec<Option<&mut [bool]>> = match valid {
            Some(v) => cut(v, piece_rows.iter().copied())
                .into_iter()
                .map(Some)
                .collect(),
            None => (0..pieces.len()).map(|_| None).collect(),
        };
        let piece_bytes: Vec<usize> = scans.iter().map(|s| s.bytes[c]).collect();
        let outs = split_buf(buf, &piece_rows, &piece_bytes);
        for ((p, out), valid) in per_piece.iter_mut().zip(outs).zip(valids.iter_mut()) {
            p.push(Some(ColOut {
                out,
                valid: valid.take(),
            }));
        }
    }
    per_piece
        .into_par_iter()
        .zip(pieces.par_iter())
        .map(|(mut outs, piece)| fill(piece, columns, &mut outs))
        .reduce(
            || vec![false; columns],
            |a, b| a.iter().zip(&b).map(|(x, y)| *x || *y).collect(),
        )
}

fn primitive<T: ArrowPrimitiveType>(values: Vec<T::Native>, nulls: Option<NullBuffer>) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), nulls))
}

fn finish(buf: Buf, nulls: Option<NullBuffer>) -> Result<ArrayRef, arrow::error::ArrowError> {
    Ok(match buf {
        Buf::Text { offsets, values } => Arc::new(StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(values),
            nulls,
        )?),
        Buf::Bool(v) => Arc::new(BooleanArray::new(BooleanBuffer::from(v), nulls)),
        Buf::Int(v) => primitive::<Int64Type>(v, nulls),
        Buf::Float(v) => primitive::<Float64Type>(v, nulls),
        Buf::Date(v) => primitive::<Date32Type>(v, nulls),
        Buf::Timestamp(v, unit) => match unit {
            TimeUnit::Second => primitive::<TimestampSecondType>(v, nulls),
            TimeUnit::Millisecond => primitive::<TimestampMillisecondType>(v, nulls),
            TimeUnit::Microsecond => primitive::<TimestampMicrosecondType>(v, nulls),
            TimeUnit::Nanosecond => primitive::<TimestampNanosecondType>(v, nulls),
        },
    })
}

/// Whether `line` (a header line with its line feed) is plain (see the module docs) and
/// names `columns` columns, as [`read`] needs.
pub(crate) fn plain_header(line: &[u8], columns: usize) -> bool {
    if columns == 0 || !plain(line) {
        return false;
    }
    let header = line.strip_suffix(b"\n").unwrap_or(line);
    let header = header.strip_suffix(b"\r").unwrap_or(header);
    !header.is_empty() && memchr::memchr_iter(b',', header).count() + 1 == columns
}

/// `body` (whole lines) cut at line feeds into pieces for the cores to work on in
/// parallel (one piece when it is small).
pub(crate) fn line_pieces(body: &[u8]) -> Vec<&[u8]> {
    let threads = rayon::current_num_threads();
    let n_pieces = if body.len() >= PARALLEL_MIN_BYTES && threads > 1 {
        threads * 4
    } else {
        1
    };
    let mut cuts = vec![0];
    for k in 1..n_pieces {
        let from = (body.len() * k / n_pieces).max(*cuts.last().unwrap_or(&0));
        match memchr::memchr(b'\n', &body[from..]) {
            Some(i) => cuts.push(from + i + 1),
            None => break,
        }
    }
    cuts.push(body.len());
    cuts.dedup();
    cuts.windows(2).map(|w| &body[w[0]..w[1]]).collect()
}

/// Calls `each(k, row, field)` for every field of the columns `wanted[k]` in `piece`
/// (whole records of a body of `columns` columns; `row` counts from the piece's first
/// record; each column's fields in row order) and returns the number of records,
/// without building any column: the same fields [`read`] gives as text (an
/// empty field is its null). `None` when the piece is not plain (see the module docs),
/// as [`read`] gives for it; `each` may already have been called then.
pub(crate) fn for_each_field(
    piece: &[u8],
    columns: usize,
    wanted: &[usize],
    mut each: impl FnMut(usize, usize, &[u8]),
) -> Option<usize> {
    if !plain(piece) || piece.len() > u32::MAX as usize || wanted.iter().any(|&c| c >= columns) {
        return None;
    }
    for_each_batch(piece, columns, |batch| {
        for (k, &c) in wanted.iter().enumerate() {
            for (r, f) in batch.column(c).enumerate() {
                each(k, batch.first_row + r, f);
            }
        }
    })
}

/// Reads the CSV in `bytes` whose header (of `names`) ends at the line feed at
/// `header_end`, typing columns as arrow-csv would (`infer_types`), else all as text.
/// `None` when the file is not plain (see the module docs): the caller decodes it with
/// arrow-csv.
pub(crate) fn read(
    bytes: &[u8],
    header_end: usize,
    names: &[String],
    infer_types: bool,
) -> Option<Result<RecordBatch, arrow::error::ArrowError>> {
    let columns = names.len();
    // The header here, the body's pieces in the first pass.
    if !plain_header(&bytes[..=header_end], columns) {
        return None;
    }
    let body = &bytes[header_end + 1..];
    let pieces = line_pieces(body);

    // The rows of each piece (so number columns are parsed straight into their final
    // buffers) and each column's plan from the first records' types.
    let counts: Vec<usize> = pieces.par_iter().map(|p| count_rows(p)).collect();
    let rows: usize = counts.iter().sum();
    if rows >= i32::MAX as usize {
        return None;
    }
    let plans = plan(body, columns, infer_types)?;
    let shares: Vec<f64> = plans.iter().map(|p| p.1).collect();

    // The single pass.
    let mut direct: Vec<Option<Buf>> = plans
        .iter()
        .map(|p| match p.0 {
            Plan::Int => Some(alloc(Kind::Int, rows, 0)),
            Plan::Float => Some(alloc(Kind::Float, rows, 0)),
            Plan::Bool => Some(alloc(Kind::Bool, rows, 0)),
            Plan::Text => None,
        })
        .collect();
    let scans: Vec<Scan> = {
        let mut per_piece: Vec<Vec<Slot<'_>>> = (0..pieces.len())
            .map(|_| Vec::with_capacity(columns))
            .collect();
        for (buf, &share) in direct.iter_mut().zip(&shares) {
            let sizes = counts.iter().copied();
            let slots: Vec<Slot<'_>> = match buf {
                Some(Buf::Int(v)) => cut(v, sizes).into_iter().map(Slot::Int).collect(),
                Some(Buf::Float(v)) => cut(v, sizes).into_iter().map(Slot::Float).collect(),
                Some(Buf::Bool(v)) => cut(v, sizes).into_iter().map(Slot::Bool).collect(),
                _ => (0..pieces.len()).map(|_| Slot::Text(share)).collect(),
            };
            for (p, slot) in per_piece.iter_mut().zip(slots) {
                p.push(slot);
            }
        }
        per_piece
            .into_par_iter()
            .zip(pieces.par_iter().zip(&counts))
            .map(|(mut slots, (piece, &rows))| {
                single_pass(piece, rows, columns, infer_types, &mut slots)
            })
            .collect::<Option<Vec<_>>>()?
    };
    // Every piece holds the records counted (a plain piece always does).
    if scans.iter().zip(&counts).any(|(s, &n)| s.rows != n) {
        return None;
    }
    let bytes_of: Vec<usize> = (0..columns)
        .map(|c| scans.iter().map(|s| s.bytes[c]).sum())
        .collect();
    if bytes_of.iter().any(|&b| b > i32::MAX as usize) {
        return None;
    }
    let kinds: Vec<Kind> = (0..columns)
        .map(|c| {
            if infer_types {
                Kind::of(&infer::packed_type(
                    scans.iter().fold(0, |acc, s| acc | s.bits[c]),
                ))
            } else {
                Kind::Text
            }
        })
        .collect();

    // Each column's buffer: columns kept as text joined (and parsed when all their cells
    // make another type: dates, timestamps, numbers), number columns as parsed when every
    // cell confirmed the plan, the others read again.
    let finished: Vec<(Option<Buf>, Kind, Option<Vec<bool>>)> = direct
        .into_par_iter()
        .enumerate()
        .map(|(c, buf)| {
            let failed = scans.iter().any(|s| s.failed[c]);
            let valid = validity(&scans, c, rows);
            match (buf, kinds[c]) {
                (None, kind) => match text_column(&scans, c, rows, kind) {
                    Ok((buf, kind)) => (Some(buf), kind, valid),
                    Err(()) => (None, kind, valid),
                },
                (Some(_), kind) if failed => (None, kind, valid),
                (Some(buf), kind) if buf.kind() == kind => (Some(buf), kind, valid),
                (Some(_), kind) => (None, kind, valid),
            }
        })
        .collect();
    let mut bufs: Vec<Option<Buf>> = Vec::with_capacity(columns);
    let mut kinds: Vec<Kind> = Vec::with_capacity(columns);
    let mut valid: Vec<Option<Vec<bool>>> = Vec::with_capacity(columns);
    for (b, k, v) in finished {
        bufs.push(b);
        kinds.push(k);
        valid.push(v);
    }

    // Columns whose plan did not hold are read again as their type, then as text.
    let redo: Vec<bool> = bufs.iter().map(Option::is_none).collect();
    if redo.iter().any(|r| *r) {
        let mut again: Vec<Option<Buf>> = (0..columns)
            .map(|c| redo[c].then(|| alloc(kinds[c], rows, bytes_of[c])))
            .collect();
        let mut again_valid: Vec<Option<Vec<bool>>> = (0..columns)
            .map(|c| if redo[c] { valid[c].take() } else { None })
            .collect();
        let failed = fill_all(&pieces, &scans, &mut again, &mut again_valid);
        for c in 0..columns {
            if redo[c] {
                bufs[c] = again[c].take();
                valid[c] = again_valid[c].take();
            }
        }
        if failed.iter().any(|f| *f) {
            let mut text: Vec<Option<Buf>> = (0..columns)
                .map(|c| failed[c].then(|| alloc(Kind::Text, rows, bytes_of[c])))
                .collect();
            let mut text_valid: Vec<Option<Vec<bool>>> = (0..columns)
                .map(|c| if failed[c] { valid[c].clone() } else { None })
                .collect();
            fill_all(&pieces, &scans, &mut text, &mut text_valid);
            for c in 0..columns {
                if failed[c] {
                    bufs[c] = text[c].take();
                    valid[c] = text_valid[c].take();
                    kinds[c] = Kind::Text;
                }
            }
        }
    }

    let mut fields = Vec::with_capacity(columns);
    let mut arrays = Vec::with_capacity(columns);
    for (c, (buf, valid)) in bufs.into_iter().zip(valid).enumerate() {
        let buf = buf?;
        let nulls = valid.map(NullBuffer::from);
        let array = match finish(buf, nulls) {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        fields.push(Field::new(&names[c], array.data_type().clone(), true));
        arrays.push(array);
    }
    Some(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separator_masks_match_a_byte_by_byte_search() {
        // Every byte value at every position, next to separators and high bytes.
        let mut block = [0u8; 64];
        for v in 0..=255u8 {
            for (i, b) in block.iter_mut().enumerate() {
                *b = match i % 5 {
                    0 => v,
                    1 => b',',
                    2 => v.wrapping_add(1),
                    3 => b'\n',
                    _ => 0x80 | v,
                };
            }
            block.rotate_left(usize::from(v) % 64);
            let naive = block
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b',' || **b == b'\n')
                .fold(0u64, |m, (i, _)| m | 1 << i);
            assert_eq!(separators64(&block), naive, "byte {v}");
        }
    }

    #[test]
    fn cells_are_split_as_a_byte_by_byte_reader_splits_them() {
        // Pieces of every length around the 64-byte blocks, CRLF and LF, with and
        // without a final line feed, empty fields.
        let row = b"a,bb,,dddd\r\n1,2.5,x,\n";
        for reps in [0usize, 1, 2, 3, 7, 8, 9, 511, 512, 513, 1500] {
            for cut in 0..3 {
                let mut piece: Vec<u8> = row.repeat(reps);
                piece.extend_from_slice(&b"e,f,g,h\n"[..8 - cut.min(1)]);
                let mut ours = Vec::new();
                let rows = for_each_batch(&piece, 4, |b| {
                    for r in 0..b.rows {
                        for c in 0..4 {
                            ours.push((b.first_row + r, c, b.field(r, c).to_vec()));
                        }
                    }
                });
                let text = String::from_utf8(piece.clone()).unwrap_or_default();
                let mut theirs = Vec::new();
                for (r, line) in text.trim_end_matches('\n').split('\n').enumerate() {
                    let line = line.strip_suffix('\r').unwrap_or(line);
                    for (c, f) in line.split(',').enumerate() {
                        theirs.push((r, c, f.as_bytes().to_vec()));
                    }
                }
                assert_eq!(rows, Some(2 * reps + 1), "reps {reps} cut {cut}");
                assert_eq!(ours, theirs, "reps {reps} cut {cut}");
            }
        }
        // Ragged rows and blank lines are refused wherever they fall.
        let mut ragged = row.repeat(9);
        ragged.extend_from_slice(b"1,2,3\n");
        assert_eq!(for_each_batch(&ragged, 4, |_| {}), None);
        let mut wide = row.repeat(9);
        wide.extend_from_slice(b"1,2,3,4,5\n");
        assert_eq!(for_each_batch(&wide, 4, |_| {}), None);
        let mut blank = row.repeat(9);
        blank.extend_from_slice(b"\n");
        assert_eq!(for_each_batch(&blank, 4, |_| {}), None);
    }

    #[test]
    fn numbers_parse_as_arrow_parses_them() {
        for s in [
            "0",
            "-0",
            "12",
            "-12",
            "007",
            "123456789012345678",
            "-123456789012345678",
            "9223372036854775807",
            "-9223372036854775808",
            // Not ASCII digits (18 bytes: as long as the fast path's longest).
            "١٢٣٤٥٦٧٨٩",
            "€€€€€€",
            "-€€€€€€",
            "12a",
        ] {
            assert_eq!(parse_int(s.as_bytes()), Int64Type::parse(s), "{s}");
        }
        assert_eq!(parse_int(b"9223372036854775808"), None);
        for s in [
            "0",
            "-0",
            "0.0",
            "-0.00",
            "1.5",
            "79.73",
            "0.1",
            "0.3",
            "123456789.123456",
            "999999999999999",
            "9999999999999999",
            "1.7976931348623157",
            "12345.678901234567",
            "5.",
            ".5",
            "1e3",
            "-1.5E-3",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "00012.50",
            "0.000000000000001",
            "4503599627370497.5",
        ] {
            let ours = parse_float(s.as_bytes());
            let theirs = Float64Type::parse(s);
            assert_eq!(
                ours.map(f64::to_bits),
                theirs.map(f64::to_bits),
                "{s}: {ours:?} vs {theirs:?}"
            );
        }
    }
}
