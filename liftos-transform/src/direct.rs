//! Reading a plain CSV file straight into typed columns.
//!
//! [`crate::read_table`] first tries this reader: two passes over the file's bytes, each
//! over line-aligned pieces in parallel. The first splits every record into fields and
//! infers each column's type from all its cells with arrow-csv's rules
//! ([`crate::infer`]), counting rows, empty cells and text bytes; the second parses every
//! cell straight into a preallocated buffer of the column's final type (text is copied
//! once into the final value buffer), so no column is ever materialised as text first.
//! A column with a cell its type's parser rejects (e.g. `2024-02-30` in a date column) is
//! read again as text, so the transforms can quarantine that cell with its row.
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

/// Calls `cell(row, column, field)` for every field of every record of `piece`, in
/// order, with one pass over its bytes; returns the number of records, or `None` for a
/// blank line or a record without exactly `columns` fields (arrow-csv skips blank lines
/// and reports ragged rows). Records end at `\n`, a `\r` before it is dropped.
#[inline(always)]
fn for_each_cell(
    piece: &[u8],
    columns: usize,
    mut cell: impl FnMut(usize, usize, &[u8]),
) -> Option<usize> {
    let (mut row, mut col, mut start) = (0, 0, 0);
    for (i, &b) in piece.iter().enumerate() {
        if b == b',' {
            if col + 1 >= columns {
                return None;
            }
            cell(row, col, &piece[start..i]);
            col += 1;
            start = i + 1;
        } else if b == b'\n' {
            let end = if i > start && piece[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            if col + 1 != columns || (col == 0 && end == start) {
                return None;
            }
            cell(row, col, &piece[start..end]);
            row += 1;
            col = 0;
            start = i + 1;
        }
    }
    if start < piece.len() {
        // The last record, without a line feed (a trailing `\r` was ruled out).
        if col + 1 != columns {
            return None;
        }
        cell(row, col, &piece[start..]);
        row += 1;
    } else if col != 0 {
        return None;
    }
    Some(row)
}

/// What the first pass learns about one piece.
struct Scan {
    rows: usize,
    /// Per column: arrow-csv's inference bits, empty cells, text bytes.
    bits: Vec<u16>,
    nulls: Vec<usize>,
    bytes: Vec<usize>,
}

/// Whether `piece` (whole lines) is plain: valid UTF-8, no quote character, and every
/// carriage return right before a line feed.
fn plain(piece: &[u8]) -> bool {
    memchr::memchr(b'"', piece).is_none()
        && memchr::memchr_iter(b'\r', piece).all(|i| piece.get(i + 1) == Some(&b'\n'))
        && std::str::from_utf8(piece).is_ok()
}

fn scan(piece: &[u8], columns: usize, infer_types: bool) -> Option<Scan> {
    if !plain(piece) {
        return None;
    }
    let mut bits = vec![0u16; columns];
    let mut nulls = vec![0usize; columns];
    let mut bytes = vec![0usize; columns];
    let rows = for_each_cell(piece, columns, |_, c, f| {
        if f.is_empty() {
            nulls[c] += 1;
            return;
        }
        bytes[c] += f.len();
        if infer_types && !infer::is_text_bits(bits[c]) {
            bits[c] |= infer::cell_bit_bytes(f);
        }
    })?;
    Some(Scan {
        rows,
        bits,
        nulls,
        bytes,
    })
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
fn parse_int(f: &[u8]) -> Option<i64> {
    let (negative, digits) = match f.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, f),
    };
    if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        let v = digits
            .iter()
            .fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0'));
        return Some(if negative { -v } else { v });
    }
    Int64Type::parse(std::str::from_utf8(f).ok()?)
}

/// Powers of ten exactly representable as f64.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Parses a number as arrow-csv's Float64 parser does (correctly rounded). Plain
/// decimals `-?\d+(\.\d+)?` with at most 15 digits are one exact integer divided by an
/// exact power of ten, which IEEE division rounds correctly; others go to that parser.
fn parse_float(f: &[u8]) -> Option<f64> {
    let (negative, body) = match f.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, f),
    };
    let int = body.iter().take_while(|b| b.is_ascii_digit()).count();
    let (frac, plain) = match body.get(int) {
        None => (&body[int..], true),
        Some(b'.') => {
            let frac = &body[int + 1..];
            let all_digits = !frac.is_empty() && frac.iter().all(u8::is_ascii_digit);
            (frac, all_digits)
        }
        Some(_) => (&body[int..], false),
    };
    if plain && int > 0 && int + frac.len() <= 15 {
        let m = body[..int]
            .iter()
            .chain(frac)
            .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
        let v = m as f64 / POW10[frac.len()];
        return Some(if negative { -v } else { v });
    }
    Float64Type::parse(std::str::from_utf8(f).ok()?)
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

fn parse_bool(f: &[u8]) -> Option<bool> {
    if f.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else if f.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else {
        None
    }
}

/// Writes one piece's cells into its share of the buffers (`None`: column skipped);
/// returns, per column, whether a cell did not parse as the column's type.
fn fill(piece: &[u8], columns: usize, outs: &mut [Option<ColOut<'_>>]) -> Vec<bool> {
    let mut failed = vec![false; columns];
    let mut written = vec![0usize; columns];
    // The first pass checked every record.
    let _ = for_each_cell(piece, columns, |row, c, f| {
        let Some(col) = &mut outs[c] else { return };
        if let Some(valid) = col.valid.as_deref_mut() {
            valid[row] = !f.is_empty();
        }
        match &mut col.out {
            Out::Text { ends, values, base } => {
                let at = written[c];
                values[at..at + f.len()].copy_from_slice(f);
                written[c] = at + f.len();
                // The total was checked to fit in i32.
                ends[row] = (*base + written[c]) as i32;
            }
            _ if f.is_empty() || failed[c] => {}
            Out::Int(v) => match parse_int(f) {
                Some(x) => v[row] = x,
                None => failed[c] = true,
            },
            Out::Float(v) => match parse_float(f) {
                Some(x) => v[row] = x,
                None => failed[c] = true,
            },
            Out::Date(v) => match std::str::from_utf8(f).ok().and_then(Date32Type::parse) {
                Some(x) => v[row] = x,
                None => failed[c] = true,
            },
            Out::Timestamp(v, unit) => match parse_timestamp(f, *unit) {
                Some(x) => v[row] = x,
                None => failed[c] = true,
            },
            Out::Bool(v) => match parse_bool(f) {
                Some(x) => v[row] = x,
                None => failed[c] = true,
            },
        }
    });
    failed
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
    let rows = || scans.iter().map(|s| s.rows);
    for (c, (buf, valid)) in bufs.iter_mut().zip(valid.iter_mut()).enumerate() {
        let Some(buf) = buf else {
            per_piece.iter_mut().for_each(|p| p.push(None));
            continue;
        };
        let mut valids: Vec<Option<&mut [bool]>> = match valid {
            Some(v) => cut(v, rows()).into_iter().map(Some).collect(),
            None => (0..pieces.len()).map(|_| None).collect(),
        };
        let outs: Vec<Out<'_>> = match buf {
            Buf::Text { offsets, values } => {
                let mut base = 0;
                let bases: Vec<usize> = scans
                    .iter()
                    .map(|s| {
                        let b = base;
                        base += s.bytes[c];
                        b
                    })
                    .collect();
                cut(&mut offsets[1..], rows())
                    .into_iter()
                    .zip(cut(values, scans.iter().map(|s| s.bytes[c])))
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
        };
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
    if columns == 0 || !plain(&bytes[..=header_end]) {
        return None;
    }
    let header = &bytes[..header_end];
    let header = header.strip_suffix(b"\r").unwrap_or(header);
    if header.is_empty() || memchr::memchr_iter(b',', header).count() + 1 != columns {
        return None;
    }
    let body = &bytes[header_end + 1..];
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
    let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &body[w[0]..w[1]]).collect();

    // Pass 1: rows, types, empty cells and text bytes.
    let scans: Vec<Scan> = pieces
        .par_iter()
        .map(|p| scan(p, columns, infer_types))
        .collect::<Option<Vec<_>>>()?;
    let rows: usize = scans.iter().map(|s| s.rows).sum();
    let total = |f: &dyn Fn(&Scan) -> usize| scans.iter().map(f).sum::<usize>();
    let bytes_of: Vec<usize> = (0..columns).map(|c| total(&|s| s.bytes[c])).collect();
    if rows >= i32::MAX as usize || bytes_of.iter().any(|&b| b > i32::MAX as usize) {
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
    let null_counts: Vec<usize> = (0..columns).map(|c| total(&|s| s.nulls[c])).collect();
    let new_valid = |c: usize| (null_counts[c] > 0).then(|| vec![true; rows]);

    // Pass 2: every cell straight into its column's final buffer.
    let mut bufs: Vec<Option<Buf>> = (0..columns)
        .map(|c| Some(alloc(kinds[c], rows, bytes_of[c])))
        .collect();
    let mut valid: Vec<Option<Vec<bool>>> = (0..columns).map(new_valid).collect();
    let failed = fill_all(&pieces, &scans, &mut bufs, &mut valid);

    // A column with a cell its type's parser rejects is read again, as text.
    let mut kinds = kinds;
    if failed.iter().any(|f| *f) {
        let mut text: Vec<Option<Buf>> = (0..columns)
            .map(|c| failed[c].then(|| alloc(Kind::Text, rows, bytes_of[c])))
            .collect();
        let mut text_valid: Vec<Option<Vec<bool>>> = (0..columns)
            .map(|c| if failed[c] { new_valid(c) } else { None })
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
