//! Typing CSV columns with the same rules and the same per-cell parsers as arrow-csv's
//! schema inference and typed decoder.
//!
//! A column's type is inferred from all its non-empty cells exactly as
//! `arrow::csv::reader::Format::infer_schema` does, and cells are parsed exactly as
//! `arrow::csv::Reader` would parse them for that type. [`crate::read_table`] uses the
//! per-cell rules ([`cell_bit_bytes`]) when it reads a plain file straight into typed
//! columns, and types the text columns of other files (decoded by arrow-csv as text)
//! here. A column with a cell the parser rejects (e.g. `2024-02-30` in a date column)
//! stays text, so the transforms can report the cell with its row, and so does a column
//! with an integer written with a leading zero (`0123`: an identifier, which as a number
//! would lose its zeros and merge with `123`).
//!
//! One more departure from arrow-csv: a column with a date-time written with a zone
//! (`2024-01-05T03:00:00Z`, `…+02:00`, `… Europe/Berlin`) stays text. arrow-csv would
//! type it as a timestamp without a zone holding the UTC instant, but an Arrow timestamp
//! without a zone is wall-clock time (its date is the date it shows), so the instant
//! would later be read as a local time on another day. As text, each cell is read as
//! written: an instant becomes its date in the source's time zone, a date-time without a
//! zone keeps its own date (`crate::parse`). A column of date-times without a zone
//! (`2024-01-05 00:00:00`) is still a timestamp without a zone: it is wall-clock time.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, BooleanArray, PrimitiveArray, StringArray};
use arrow::compute::kernels::cast_utils::{Parser, string_to_datetime};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Float64Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use chrono::Utc;
use regex::RegexSet;

/// The patterns of arrow-csv's inference, in its order; used for cells that are not
/// ASCII (where `\d` also matches other Unicode digits), ASCII cells take the hand
/// matchers below, which accept the same strings.
static REGEX_SET: LazyLock<Option<RegexSet>> = LazyLock::new(|| {
    RegexSet::new([
        r"(?i)^(true)$|^(false)$(?-i)",
        r"^-?(\d+)$",
        r"^-?((\d*\.\d+|\d+\.\d*)([eE][-+]?\d+)?|\d+([eE][-+]?\d+))$",
        r"^\d{4}-\d\d-\d\d$",
        r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[^\d\.].*)?$",
        r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d{1,3}(?:[^\d].*)?$",
        r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d{1,6}(?:[^\d].*)?$",
        r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d{1,9}(?:[^\d].*)?$",
    ])
    .ok()
});

const BOOLEAN: u8 = 0;
const INTEGER: u8 = 1;
const DECIMAL: u8 = 2;
/// [`cell_bit_bytes`] of a cell `true` or `false` (any case).
pub(crate) const BOOLEAN_BIT: u16 = 1 << BOOLEAN;
/// [`cell_bit_bytes`] of a cell `-?\d+` that fits in an i64.
pub(crate) const INTEGER_BIT: u16 = 1 << INTEGER;
/// [`cell_bit_bytes`] of a cell `-?\d+\.\d+`.
pub(crate) const DECIMAL_BIT: u16 = 1 << DECIMAL;
const DATE: u8 = 3;
/// The timestamp patterns: seconds, then a fraction of up to 3, 6 and 9 digits.
const TIMESTAMPS: std::ops::RangeInclusive<u8> = 4..=7;
const TEXT: u8 = 8;

fn digits(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// `\d{4}-\d\d-\d\d`
fn is_date(s: &[u8]) -> bool {
    s.len() == 10
        && digits(&s[..4]) == 4
        && s[4] == b'-'
        && digits(&s[5..7]) == 2
        && s[7] == b'-'
        && digits(&s[8..10]) == 2
}

/// `(?:X.*)?$` after a first character matched by X: the rest holds no line feed
/// (`.` does not match `\n`).
fn tail_ok(rest: &[u8]) -> bool {
    !rest.contains(&b'\n')
}

/// Which pattern an ASCII cell matches first (the index of arrow-csv's list), if any.
fn ascii_pattern(s: &[u8]) -> Option<u8> {
    if s.eq_ignore_ascii_case(b"true") || s.eq_ignore_ascii_case(b"false") {
        return Some(BOOLEAN);
    }
    let body = s.strip_prefix(b"-").unwrap_or(s);
    let int = digits(body);
    if int > 0 && int == body.len() {
        return Some(INTEGER);
    }
    if decimal(body, int) {
        return Some(DECIMAL);
    }
    if s.len() < 10 || !is_date(&s[..10]) {
        return None;
    }
    if s.len() == 10 {
        return Some(DATE);
    }
    // \d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d
    if s.len() < 19
        || !matches!(s[10], b'T' | b' ')
        || digits(&s[11..13]) != 2
        || s[13] != b':'
        || digits(&s[14..16]) != 2
        || s[16] != b':'
        || digits(&s[17..19]) != 2
    {
        return None;
    }
    let rest = &s[19..];
    match rest.first() {
        None => Some(4),
        Some(b'.') => {
            let k = digits(&rest[1..]);
            let after = &rest[1 + k..];
            // After the fraction: the end, or a non-digit (it is one: the run is
            // maximal) and then no line feed.
            if k == 0 || !(after.is_empty() || tail_ok(&after[1..])) {
                return None;
            }
            match k {
                1..=3 => Some(5),
                4..=6 => Some(6),
                7..=9 => Some(7),
                _ => None,
            }
        }
        Some(c) if !c.is_ascii_digit() && tail_ok(&rest[1..]) => Some(4),
        Some(_) => None,
    }
}

/// Whether a cell that matched one of the timestamp patterns (`\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d`,
/// then maybe `.` and digits) has anything after its time: a zone (`Z`, `+02:00`,
/// ` Europe/Berlin`) makes it an instant, which arrow's parser converts to UTC; any other
/// tail fails that parser. The cell is bytes so that a cell matched by the Unicode regexes
/// cannot make it panic.
fn has_zone(cell: &[u8]) -> bool {
    let Some(rest) = cell.get(19..) else {
        return false;
    };
    let rest = match rest.split_first() {
        Some((b'.', fraction)) => &fraction[digits(fraction)..],
        _ => rest,
    };
    !rest.is_empty()
}

/// Whether `cell` is an ISO date-time written with something after its time (a zone:
/// `Z`, an offset, a zone name), which arrow's timestamp parser would read as an instant:
/// one that [`crate::read_table`] keeps as text.
pub(crate) fn is_zoned_timestamp(cell: &[u8]) -> bool {
    cell.is_ascii()
        && ascii_pattern(cell).is_some_and(|m| TIMESTAMPS.contains(&m))
        && has_zone(cell)
}

/// `(\d*\.\d+|\d+\.\d*)([eE][-+]?\d+)?|\d+([eE][-+]?\d+)` for the whole of `body`,
/// which starts with `int` digits.
fn decimal(body: &[u8], int: usize) -> bool {
    let mut at = int;
    let mut mantissa = int > 0;
    let mut dot = false;
    if body.get(at) == Some(&b'.') {
        dot = true;
        let frac = digits(&body[at + 1..]);
        mantissa |= frac > 0;
        at += 1 + frac;
    }
    if !mantissa {
        return false;
    }
    if at == body.len() {
        return dot;
    }
    if !matches!(body[at], b'e' | b'E') {
        return false;
    }
    at += 1;
    if matches!(body.get(at), Some(b'-' | b'+')) {
        at += 1;
    }
    let exp = digits(&body[at..]);
    exp > 0 && at + exp == body.len()
}

/// [`cell_bit`] of a cell given as bytes (valid UTF-8: a field of a valid UTF-8 file
/// cut at ASCII separators).
pub(crate) fn cell_bit_bytes(cell: &[u8]) -> u16 {
    // The common numbers first: `-?\d+` (short enough to fit in an i64) and
    // `-?\d+\.\d+`, as the patterns below classify them.
    let body = cell.strip_prefix(b"-").unwrap_or(cell);
    let int = digits(body);
    // And dates `\d{4}-\d\d-\d\d`.
    if int == 4 && cell.len() == 10 && body.len() == 10 && is_date(cell) {
        return 1 << DATE;
    }
    if int > 0 {
        if int == body.len() {
            if int > 1 && body[0] == b'0' {
                return 1 << TEXT;
            }
            if cell.len() < 19 {
                return 1 << INTEGER;
            }
        } else if body[int] == b'.'
            && int + 1 < body.len()
            && digits(&body[int + 1..]) == body.len() - int - 1
        {
            return 1 << DECIMAL;
        }
    }
    if cell.is_ascii() && cell.first() != Some(&b'"') {
        let bit = match ascii_pattern(cell) {
            Some(INTEGER) if leading_zero(cell) => TEXT,
            Some(INTEGER) if cell.len() >= 19 && int_overflows(cell) => TEXT,
            Some(m) if TIMESTAMPS.contains(&m) && has_zone(cell) => TEXT,
            Some(m) => m,
            None if matches!(cell, b"NaN" | b"nan" | b"inf" | b"-inf") => DECIMAL,
            None => TEXT,
        };
        1 << bit
    } else {
        std::str::from_utf8(cell).map_or(1 << TEXT, cell_bit)
    }
}

/// Whether an integer-shaped cell has a leading zero (`0123`, `-007`): an identifier
/// (a campaign or account id, a postcode), not a number: read as an integer it would lose
/// its zeros and `0123` would become `123`, another id. Such a column stays text (where
/// arrow-csv's own inference makes it Int64).
fn leading_zero(cell: &[u8]) -> bool {
    let body = cell.strip_prefix(b"-").unwrap_or(cell);
    body.len() > 1 && body[0] == b'0' && body.iter().all(u8::is_ascii_digit)
}

/// Whether an ASCII `-?\d+` cell does not fit in an i64.
fn int_overflows(cell: &[u8]) -> bool {
    std::str::from_utf8(cell).map_or(true, |s| s.parse::<i64>().is_err())
}

/// Whether `packed` (the OR of [`cell_bit_bytes`]) already says text: no later cell can
/// change the column's type.
pub(crate) fn is_text_bits(packed: u16) -> bool {
    packed & (1 << TEXT) != 0
}

/// arrow-csv's `InferredDataType::update` for one non-null cell: the bit to set (text for
/// the module's departures: an integer with a leading zero, a date-time with a zone).
fn cell_bit(cell: &str) -> u16 {
    let pattern = if cell.starts_with('"') {
        None
    } else if cell.is_ascii() {
        ascii_pattern(cell.as_bytes())
    } else {
        REGEX_SET
            .as_ref()
            .and_then(|set| set.matches(cell).into_iter().next())
            .map(|m| m as u8)
    };
    let bit = match pattern {
        _ if cell.starts_with('"') => TEXT,
        Some(INTEGER) if leading_zero(cell.as_bytes()) => TEXT,
        Some(INTEGER) if cell.len() >= 19 && cell.parse::<i64>().is_err() => TEXT,
        Some(m) if TIMESTAMPS.contains(&m) && has_zone(cell.as_bytes()) => TEXT,
        Some(m) => m,
        None if matches!(cell, "NaN" | "nan" | "inf" | "-inf") => DECIMAL,
        None => TEXT,
    };
    1 << bit
}

/// arrow-csv's `InferredDataType::get`. A timestamp column has no zone: its cells are
/// date-times written without one (wall-clock time), a zoned cell having made its column
/// text.
pub(crate) fn packed_type(packed: u16) -> DataType {
    match packed {
        0 => DataType::Null,
        1 => DataType::Boolean,
        2 => DataType::Int64,
        4 | 6 => DataType::Float64,
        b if b != 0 && (b & !0b1111_1000) == 0 => match b.leading_zeros() {
            8 => DataType::Timestamp(TimeUnit::Nanosecond, None),
            9 => DataType::Timestamp(TimeUnit::Microsecond, None),
            10 => DataType::Timestamp(TimeUnit::Millisecond, None),
            11 => DataType::Timestamp(TimeUnit::Second, None),
            _ => DataType::Date32,
        },
        _ => DataType::Utf8,
    }
}

/// The type arrow-csv infers for a column with these cells (nulls are empty cells).
#[cfg(test)]
fn infer_type(text: &StringArray) -> DataType {
    infer_type_of(std::slice::from_ref(text))
}

/// The type arrow-csv infers for a column with these cells (nulls are empty cells),
/// given in pieces.
pub(crate) fn infer_type_of(pieces: &[StringArray]) -> DataType {
    let mut packed = 0u16;
    for cell in pieces.iter().flat_map(|p| p.iter().flatten()) {
        packed |= cell_bit(cell);
        if packed & (1 << TEXT) != 0 {
            break;
        }
    }
    packed_type(packed)
}

/// Parses every non-null cell with `parse`; `None` when one does not parse.
fn parse_all<T: ArrowPrimitiveType>(
    text: &StringArray,
    parse: impl Fn(&str) -> Option<T::Native>,
) -> Option<ArrayRef> {
    let mut values = Vec::with_capacity(text.len());
    for i in 0..text.len() {
        values.push(if text.is_valid(i) {
            parse(text.value(i))?
        } else {
            T::Native::default()
        });
    }
    Some(Arc::new(PrimitiveArray::<T>::new(
        values.into(),
        text.nulls().cloned(),
    )))
}

/// Date-times without a zone as a timestamp without a zone: the wall-clock time, stored
/// as arrow stores it (the time as if it were UTC).
fn timestamps<T: ArrowPrimitiveType<Native = i64>>(
    text: &StringArray,
    unit: &TimeUnit,
) -> Option<ArrayRef> {
    parse_all::<T>(text, |s| {
        let t = string_to_datetime(&Utc, s).ok()?;
        match unit {
            TimeUnit::Second => Some(t.timestamp()),
            TimeUnit::Millisecond => Some(t.timestamp_millis()),
            TimeUnit::Microsecond => Some(t.timestamp_micros()),
            TimeUnit::Nanosecond => t.timestamp_nanos_opt(),
        }
    })
}

/// The column typed as arrow-csv would read it; the text itself when the inferred type
/// is text (or nothing), or when a cell does not parse as the inferred type.
#[cfg(test)]
fn type_column(text: &StringArray) -> ArrayRef {
    parse_as(text, &infer_type(text)).unwrap_or_else(|| Arc::new(text.clone()))
}

/// The cells parsed as `data_type` (one of the types [`infer_type_of`] gives) as
/// arrow-csv's decoder parses them; `None` when a cell does not parse, or for text.
pub(crate) fn parse_as(text: &StringArray, data_type: &DataType) -> Option<ArrayRef> {
    match data_type {
        DataType::Boolean => {
            let mut values = Vec::with_capacity(text.len());
            for i in 0..text.len() {
                values.push(if text.is_valid(i) {
                    let s = text.value(i);
                    if s.eq_ignore_ascii_case("false") {
                        false
                    } else if s.eq_ignore_ascii_case("true") {
                        true
                    } else {
                        return None;
                    }
                } else {
                    false
                });
            }
            Some(Arc::new(BooleanArray::new(values.into(), text.nulls().cloned())) as ArrayRef)
        }
        DataType::Int64 => parse_all::<Int64Type>(text, Int64Type::parse),
        DataType::Float64 => parse_all::<Float64Type>(text, Float64Type::parse),
        DataType::Date32 => parse_all::<Date32Type>(text, Date32Type::parse),
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => timestamps::<TimestampSecondType>(text, unit),
            TimeUnit::Millisecond => timestamps::<TimestampMillisecondType>(text, unit),
            TimeUnit::Microsecond => timestamps::<TimestampMicrosecondType>(text, unit),
            TimeUnit::Nanosecond => timestamps::<TimestampNanosecondType>(text, unit),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which pattern the regexes match first, as arrow-csv decides.
    fn regex_pattern(s: &str) -> Option<u8> {
        REGEX_SET
            .as_ref()
            .unwrap()
            .matches(s)
            .into_iter()
            .next()
            .map(|m| m as u8)
    }

    #[test]
    fn ascii_matchers_agree_with_the_regexes() {
        let cells = [
            "true",
            "TRUE",
            "False",
            "fals",
            "truee",
            "0",
            "-0",
            "-",
            "12",
            "-12",
            "007",
            "1.5",
            "-1.5",
            ".5",
            "5.",
            ".",
            "-.",
            "1e5",
            "1E-5",
            "1.5e+3",
            "1e",
            "e5",
            "1.e5",
            ".e5",
            "1.5.5",
            "--1",
            "+1",
            "1 ",
            " 1",
            "2024-03-05",
            "2024-3-05",
            "20240305",
            "2024-03-05 ",
            "2024-03-05T10:11:12",
            "2024-03-05 10:11:12",
            "2024-03-05t10:11:12",
            "2024-03-05T10:11:12Z",
            "2024-03-05T10:11:12+01:00",
            "2024-03-05T10:11:12.",
            "2024-03-05T10:11:12.1",
            "2024-03-05T10:11:12.123",
            "2024-03-05T10:11:12.1234",
            "2024-03-05T10:11:12.123456",
            "2024-03-05T10:11:12.1234567",
            "2024-03-05T10:11:12.123456789",
            "2024-03-05T10:11:12.1234567890",
            "2024-03-05T10:11:12.123Z",
            "2024-03-05T10:11:12.123.4",
            "2024-03-05T10:11:123",
            "2024-03-05T10:11:12Z\nx",
            "2024-03-05T10:11:12\nx",
            "2024-03-05T10:11:12.5\n",
            "2024-03-05T10:11:12.5\nx",
            "2024-03-05T10:11:12.5x\ny",
            "2024-03-05T10:11",
            "2024-03-05T10:11:12..",
            "NaN",
            "inf",
            "",
            "abc",
            "9223372036854775807",
            "9223372036854775808",
            "1\n",
            "2024-03-05\n",
            "123456789012345678",
            "-123456789012345678",
            "-9223372036854775808",
            "-9223372036854775809",
            "12.",
            "-12.5",
            "1.2.3",
            "\"1\"",
        ];
        for cell in cells {
            assert_eq!(
                ascii_pattern(cell.as_bytes()),
                regex_pattern(cell),
                "{cell:?}"
            );
            assert_eq!(cell_bit_bytes(cell.as_bytes()), cell_bit(cell), "{cell:?}");
        }
        for cell in ["١٢", "é", "-١"] {
            assert_eq!(cell_bit_bytes(cell.as_bytes()), cell_bit(cell), "{cell:?}");
        }
    }

    #[test]
    fn column_types_follow_arrow_csv_inference() {
        let col = |cells: &[Option<&str>]| StringArray::from(cells.to_vec());
        let cases: Vec<(StringArray, DataType)> = vec![
            (col(&[Some("1"), None, Some("-2")]), DataType::Int64),
            // A leading zero is an identifier's (`0123` is not `123`): text, where
            // arrow-csv would read Int64; `0` alone and `0.5` stay numbers.
            (col(&[Some("0123"), Some("123")]), DataType::Utf8),
            (col(&[Some("-007")]), DataType::Utf8),
            (col(&[Some("0"), Some("10")]), DataType::Int64),
            (col(&[Some("0.5"), Some("1")]), DataType::Float64),
            (col(&[Some("1"), Some("2.5")]), DataType::Float64),
            (col(&[Some("1"), Some("NaN")]), DataType::Float64),
            (col(&[Some("true"), Some("FALSE")]), DataType::Boolean),
            (col(&[Some("true"), Some("1")]), DataType::Utf8),
            (col(&[Some("2024-01-01"), None]), DataType::Date32),
            (
                col(&[Some("2024-01-01"), Some("2024-01-01T10:00:00")]),
                DataType::Timestamp(TimeUnit::Second, None),
            ),
            (
                col(&[Some("2024-01-01T10:00:00.5"), Some("2024-01-01T10:00:00")]),
                DataType::Timestamp(TimeUnit::Millisecond, None),
            ),
            // A date-time with a zone is an instant: text (see the module docs).
            (col(&[Some("2024-01-01T10:00:00Z")]), DataType::Utf8),
            (
                col(&[
                    Some("2024-01-01T10:00:00"),
                    Some("2024-01-01T10:00:00.5+01:00"),
                ]),
                DataType::Utf8,
            ),
            (col(&[None, None]), DataType::Null),
            (col(&[Some("m1"), Some("2")]), DataType::Utf8),
            (col(&[Some("99999999999999999999")]), DataType::Utf8),
            (col(&[Some("١٢")]), DataType::Int64),
        ];
        for (cells, want) in cases {
            assert_eq!(infer_type(&cells), want, "{cells:?}");
        }
    }

    #[test]
    fn a_cell_the_parser_rejects_keeps_the_column_text() {
        let dates = StringArray::from(vec![Some("2024-02-28"), None, Some("2024-02-30")]);
        assert_eq!(type_column(&dates).data_type(), &DataType::Utf8);
        let unicode_digits = StringArray::from(vec!["١٢"]);
        assert_eq!(type_column(&unicode_digits).data_type(), &DataType::Utf8);
        let ok = StringArray::from(vec![Some("2024-02-28"), None]);
        let typed = type_column(&ok);
        assert_eq!(typed.data_type(), &DataType::Date32);
        assert!(typed.is_null(1));
        // Date-times without a zone: wall-clock time, stored as if it were UTC.
        let ts = StringArray::from(vec!["2024-01-01T10:00:00", "2024-01-01 12:00:00.5"]);
        let typed = type_column(&ts);
        let typed = typed
            .as_any()
            .downcast_ref::<arrow::array::TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(typed.value(0), 1_704_103_200_000);
        assert_eq!(typed.value(1), 1_704_110_400_500);
    }

    #[test]
    fn a_date_time_with_a_zone_keeps_its_column_text() {
        let col = |cells: &[&str]| StringArray::from(cells.to_vec());
        for cells in [
            &["2024-01-01T10:00:00Z", "2024-01-01 12:00:00+02:00"][..],
            &["2024-01-01T10:00:00.123z"],
            &["2024-01-01T10:00:00.123456-0500"],
            &["2024-01-01 10:00:00.123456789 +05"],
            &["2024-01-01T10:00:00 Europe/Berlin"],
            // Mixed with local times or dates: neither meaning may be lost.
            &["2024-01-01T10:00:00", "2024-01-01T10:00:00Z"],
            &["2024-01-01", "2024-01-01T10:00:00+01:00"],
            &["2024-01-01T10:00:00-05:00", "2024-01-01"],
        ] {
            let text = col(cells);
            assert_eq!(infer_type(&text), DataType::Utf8, "{cells:?}");
            let typed = type_column(&text);
            assert_eq!(typed.as_ref(), &text as &dyn Array, "{cells:?}");
            for cell in cells {
                let zoned = cell.len() > 19;
                assert_eq!(is_zoned_timestamp(cell.as_bytes()), zoned, "{cell}");
                assert_eq!(
                    cell_bit_bytes(cell.as_bytes()) == 1 << TEXT,
                    zoned,
                    "{cell}"
                );
            }
        }
        for cell in [
            "2024-01-01T10:00:00",
            "2024-01-01 10:00:00.5",
            "2024-01-01",
            "x",
        ] {
            assert!(!is_zoned_timestamp(cell.as_bytes()), "{cell}");
        }
        // Not ASCII (the regexes type it): a zone name with an accent is still a zone.
        assert_eq!(cell_bit("2024-01-01T10:00:00 Zürich"), 1 << TEXT);
    }
}
