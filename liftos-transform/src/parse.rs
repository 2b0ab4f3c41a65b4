//! Turning loosely typed columns (text from files, other numeric widths, timestamps)
//! into the unified types, cell by cell, without failing the whole column.

use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, PrimitiveArray, StringArray,
};
use arrow::compute::cast;
use arrow::compute::kernels::cast_utils::string_to_datetime;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};

use crate::mapping::DecimalSeparator;
use crate::{Error, Result, infer};

/// A column converted to a unified type; `bad` lists the rows whose non-null value could
/// not be converted (they are null in `array`).
#[derive(Debug)]
pub(crate) struct Parsed<A> {
    pub array: A,
    pub bad: Vec<usize>,
    /// How an ambiguous column was read, for the user (e.g. dates read month first).
    pub note: Option<String>,
}

/// Parses a time zone name: an IANA name (`Europe/Berlin`) or a fixed offset (`+02:00`).
pub(crate) fn parse_tz(key: &str, name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|e| {
        Error::config(
            key,
            format!("`{name}` is not a time zone (IANA name or +HH:MM offset): {e}"),
        )
    })
}

pub(crate) use liftos_core::dates::{from_date32 as days_to_date, to_date32 as date_to_days};

/// Formats an epoch day as `YYYY-MM-DD` (or the raw number when out of range).
pub(crate) fn format_days(days: i32) -> String {
    days_to_date(days).map_or_else(|| days.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

/// The unambiguous date formats (`NN/NN/YYYY` and `NN.NN.YYYY` are read in their
/// column's [`DateOrder`]).
const DATE_FORMATS: &[&str] = &[
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%d %b %Y",
    "%b %d, %Y",
    "%d-%b-%Y",
    "%B %d, %Y",
    "%d %B %Y",
];
const OFFSET_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f %z",
];
const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// Which number comes first in a date such as `02/01/2024` or `02.01.2024`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlashOrder {
    /// `MM/DD/YYYY`, `MM.DD.YYYY`.
    MonthFirst,
    /// `DD/MM/YYYY`, `DD.MM.YYYY`.
    DayFirst,
}

/// The separators of `NN?NN?YYYY` dates whose order is decided per column.
const ORDER_SEPARATORS: [u8; 2] = [b'/', b'.'];

/// How a column's `NN/NN/YYYY` and `NN.NN.YYYY` dates are read: in the order any
/// unambiguous date of the column proves (one order for both), else each in its default,
/// month first with slashes (US) and day first with dots (European).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateOrder {
    slash: SlashOrder,
    dot: SlashOrder,
}

impl Default for DateOrder {
    /// Each separator's default: `MM/DD/YYYY` and `DD.MM.YYYY`.
    fn default() -> Self {
        DateOrder {
            slash: SlashOrder::MonthFirst,
            dot: SlashOrder::DayFirst,
        }
    }
}

impl DateOrder {
    /// Both separators in `order` (the one a column's dates prove).
    fn proven(order: SlashOrder) -> Self {
        DateOrder {
            slash: order,
            dot: order,
        }
    }

    /// The slash date format, then the slash date-time formats, in this order.
    fn slash_formats(self) -> &'static [&'static str] {
        match self.slash {
            SlashOrder::MonthFirst => &["%m/%d/%Y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"],
            SlashOrder::DayFirst => &["%d/%m/%Y", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"],
        }
    }

    /// The dot date format.
    fn dot_format(self) -> &'static str {
        match self.dot {
            SlashOrder::MonthFirst => "%m.%d.%Y",
            SlashOrder::DayFirst => "%d.%m.%Y",
        }
    }
}

/// The separator and two leading numbers of `NN/NN/YYYY...` or `NN.NN.YYYY...`, if the
/// cell is such a date (the same separator twice).
fn order_parts(s: &str) -> Option<(u8, u32, u32)> {
    let s = s.trim();
    let sep = *s
        .as_bytes()
        .get(1..3)?
        .iter()
        .find(|b| !b.is_ascii_digit())?;
    if !ORDER_SEPARATORS.contains(&sep) {
        return None;
    }
    let mut parts = s.splitn(3, char::from(sep));
    let a = parts.next()?;
    let b = parts.next()?;
    let rest = parts.next()?;
    let small = |p: &str| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit());
    let year = rest.get(..4)?;
    if !small(a) || !small(b) || !year.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((sep, a.parse().ok()?, b.parse().ok()?))
}

/// The order of a text date column's `NN/NN/YYYY` and `NN.NN.YYYY` dates (see
/// [`OrderEvidence::decide`]).
///
/// # Errors
///
/// [`Error::Format`] naming the column when it holds both orders.
fn slash_order(
    table: &str,
    column: &str,
    strings: &StringArray,
) -> Result<(DateOrder, Option<String>)> {
    let mut evidence = OrderEvidence::default();
    evidence.observe(0, strings);
    evidence.decide(table, column)
}

/// What a text date column's values say about the order of its `NN/NN/YYYY` and
/// `NN.NN.YYYY` dates, gathered over the column in pieces (row numbers are 0-based
/// indices from the column's first row; messages add 1).
#[derive(Debug, Clone, Default)]
pub(crate) struct OrderEvidence {
    day_first: Option<(usize, String)>,
    month_first: Option<(usize, String)>,
    /// Dates that could be either order, by separator (`/`, `.`).
    ambiguous: [usize; 2],
}

impl OrderEvidence {
    /// Adds the values of `strings`, whose first row is row `offset` of the column.
    pub(crate) fn observe(&mut self, offset: usize, strings: &StringArray) {
        for (row, v) in strings.iter().enumerate() {
            if let Some(v) = v {
                self.observe_value(offset + row, v);
            }
        }
    }

    /// Adds the value `v` of row `row` of the column (only a value with a `/` or a `.`
    /// can say anything).
    pub(crate) fn observe_value(&mut self, row: usize, v: &str) {
        let Some((sep, a, b)) = order_parts(v) else {
            return;
        };
        if a > 12 && b <= 12 {
            if self.day_first.is_none() {
                self.day_first = Some((row, v.to_owned()));
            }
        } else if b > 12 && a <= 12 {
            if self.month_first.is_none() {
                self.month_first = Some((row, v.to_owned()));
            }
        } else {
            self.ambiguous[usize::from(sep == b'.')] += 1;
        }
    }

    /// Adds `later`, the evidence of the rows that follow `rows` rows already observed
    /// (its row numbers count from its own first row): as if its values had been
    /// observed here.
    pub(crate) fn append(&mut self, rows: usize, later: OrderEvidence) {
        let shift = |(row, v): (usize, String)| (rows + row, v);
        if self.day_first.is_none() {
            self.day_first = later.day_first.map(shift);
        }
        if self.month_first.is_none() {
            self.month_first = later.month_first.map(shift);
        }
        for (n, m) in self.ambiguous.iter_mut().zip(later.ambiguous) {
            *n += m;
        }
    }

    /// The column's order and note: day first when some date has a first number above
    /// 12 and none a second above 12, month first in the opposite case (whether written
    /// with `/` or `.`); when every such date is ambiguous, `NN/NN/YYYY` month first and
    /// `NN.NN.YYYY` day first, with a note saying so.
    ///
    /// # Errors
    ///
    /// [`Error::Format`] naming the column and a date of each order with its data row
    /// (counted from 1 at the first row after a file's header, as validate's examples
    /// are) when it holds both orders.
    pub(crate) fn decide(&self, table: &str, column: &str) -> Result<(DateOrder, Option<String>)> {
        match (&self.day_first, &self.month_first) {
            (Some((r1, d)), Some((r2, m))) => {
                let example = if d.contains('.') {
                    "%d.%m.%Y"
                } else {
                    "%d/%m/%Y"
                };
                Err(Error::Format {
                    table: table.to_owned(),
                    column: column.to_owned(),
                    message: format!(
                        "mixes day-first dates ('{d}', data row {}) and month-first dates ('{m}', data row {}); \
                         set the source's `date_format` (e.g. date_format = \"{example}\") in the mapping",
                        r1 + 1,
                        r2 + 1,
                    ),
                })
            }
            (Some(_), None) => Ok((DateOrder::proven(SlashOrder::DayFirst), None)),
            (None, Some(_)) => Ok((DateOrder::proven(SlashOrder::MonthFirst), None)),
            (None, None) => {
                let [slashes, dots] = self.ambiguous;
                let mut notes = Vec::new();
                if slashes > 0 {
                    notes.push(format!(
                        "{table}: column `{column}`: all {slashes} dates like 02/01/2024 could be day-first or month-first; \
                         read as MM/DD/YYYY (the default). Set date_format = \"%d/%m/%Y\" in the mapping if they are DD/MM/YYYY"
                    ));
                }
                if dots > 0 {
                    notes.push(format!(
                        "{table}: column `{column}`: all {dots} dates like 02.01.2024 could be day-first or month-first; \
                         read as DD.MM.YYYY (the default). Set date_format = \"%m.%d.%Y\" in the mapping if they are MM.DD.YYYY"
                    ));
                }
                let note = (!notes.is_empty()).then(|| notes.join("; "));
                Ok((DateOrder::default(), note))
            }
        }
    }
}

/// A column's date order and its note, or the table, column and message of the error a
/// column holding both orders gives.
pub(crate) type DecidedOrder =
    std::result::Result<(DateOrder, Option<String>), (String, String, String)>;

/// How a text column is read, decided over all its values (for a column converted piece
/// by piece: each piece is read as the whole column would be).
#[derive(Debug, Clone, Default)]
pub(crate) struct ColumnReading {
    /// The order of `NN/NN/YYYY` and `NN.NN.YYYY` dates and the note about it, or the
    /// error of a column holding both orders (its table, column and message).
    pub slash: Option<DecidedOrder>,
    /// The decimal separator and the note about it.
    pub decimal: Option<(DecimalSeparator, Option<String>)>,
}

impl ColumnReading {
    /// The decided date order, or the error reading the whole column as dates gives.
    fn slash(&self) -> Option<Result<(DateOrder, Option<String>)>> {
        self.slash.as_ref().map(|s| match s {
            Ok(order) => Ok(order.clone()),
            Err((table, column, message)) => Err(Error::Format {
                table: table.clone(),
                column: column.clone(),
                message: message.clone(),
            }),
        })
    }
}

/// The evidence for a [`ColumnReading`], gathered piece by piece.
#[derive(Debug, Clone, Default)]
pub(crate) struct ColumnEvidence {
    slash: OrderEvidence,
    decimal: DecimalEvidence,
    rows: usize,
}

impl ColumnEvidence {
    /// Adds the next piece of the column (only text says anything).
    ///
    /// # Errors
    ///
    /// An Arrow error when a text piece cannot be read as Utf8.
    pub(crate) fn observe(&mut self, piece: &dyn Array) -> Result<()> {
        if is_text(piece.data_type()) {
            let strings = as_strings(piece)?;
            self.slash.observe(self.rows, &strings);
            self.decimal.observe(&strings);
        }
        self.rows += piece.len();
        Ok(())
    }

    /// Adds the text value `v` of row `row` of the piece being observed: after every
    /// value of a piece of `rows` rows, [`ColumnEvidence::end_piece`] with `rows` makes
    /// this the same evidence as [`ColumnEvidence::observe`] of that piece (its nulls
    /// and values without a `/`, `,` or `.` say nothing and can be left out).
    pub(crate) fn observe_value(&mut self, row: usize, v: &str) {
        self.slash.observe_value(self.rows + row, v);
        self.decimal.observe_value(v);
    }

    /// Whether a value with one `.` and no `/` can still change the evidence (a value
    /// with a `/` or two `.` can be a date and always can).
    pub(crate) fn decimal_open(&self) -> bool {
        self.decimal.open()
    }

    /// Ends a piece of `rows` rows whose values went to [`ColumnEvidence::observe_value`].
    pub(crate) fn end_piece(&mut self, rows: usize) {
        self.rows += rows;
    }

    /// Adds `later`, the evidence of the rows that follow: as if its pieces had been
    /// observed here.
    pub(crate) fn append(&mut self, later: ColumnEvidence) {
        self.slash.append(self.rows, later.slash);
        self.decimal.append(later.decimal);
        self.rows += later.rows;
    }

    /// The reading of the whole column as dates and as numbers (`given`: the mapping's
    /// decimal separator), named `table` and `column` in notes and errors.
    pub(crate) fn decide(
        &self,
        table: &str,
        column: &str,
        given: Option<DecimalSeparator>,
    ) -> ColumnReading {
        let slash = self.slash.decide(table, column).map_err(|e| match e {
            Error::Format {
                table,
                column,
                message,
            } => (table, column, message),
            other => (table.to_owned(), column.to_owned(), other.to_string()),
        });
        ColumnReading {
            slash: Some(slash),
            decimal: Some(self.decimal.decide(table, column, given)),
        }
    }
}

fn fast_iso_date(s: &[u8]) -> Option<NaiveDate> {
    if s.len() != 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        s[r].iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

/// The local date of an instant: in `tz` when given, else in the offset it was written with.
fn offset_date(dt: DateTime<chrono::FixedOffset>, tz: Option<&Tz>) -> NaiveDate {
    match tz {
        Some(tz) => dt.with_timezone(tz).date_naive(),
        None => dt.date_naive(),
    }
}

/// The date of an ISO date-time written with a zone in one of the other forms arrow's
/// timestamp parser reads (`z`, an hour offset `+05`, a zone name ` Europe/Berlin`), the
/// cells [`crate::read_table`] keeps as text rather than type: in `tz` when given, else
/// the date as written (its own zone's), as [`offset_date`] does.
fn zoned_date(s: &str, tz: Option<&Tz>) -> Option<i32> {
    let instant = string_to_datetime(&Utc, s).ok()?;
    let written = fast_iso_date(s.as_bytes().get(..10)?)?;
    let day = match tz {
        Some(tz) => instant.with_timezone(tz).date_naive(),
        None => written,
    };
    four_digit_year(s, written).then(|| date_to_days(day))
}

/// The date of a date-time written without an offset: it is already wall-clock time in
/// the account's zone (a platform export's local time), so its date is its own calendar
/// date whatever zone is configured; only an instant written with an offset or `Z` is
/// moved into the configured zone ([`offset_date`]).
fn naive_date(dt: NaiveDateTime) -> NaiveDate {
    dt.date()
}

/// Whether a text cell is empty or only whitespace (`str::trim` semantics), deciding
/// most cells from their first byte.
#[inline]
pub(crate) fn is_blank(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        Some(b) if b.is_ascii() && !b.is_ascii_whitespace() => false,
        Some(_) => s.trim().is_empty(),
    }
}

/// Whether `date`, read from the text `s` with one of the common formats, has its year
/// written with four digits (1000 to 9999, no sign, not part of a longer number but
/// `YYYYMMDD`):
/// chrono's `%Y` also takes `24`, `-2024` or `+2024`, and `24-01-05` or `5 Jan 24` are
/// no dates of 2024 to guess at.
fn four_digit_year(s: &str, date: NaiveDate) -> bool {
    let year = date.year();
    if !(1000..=9999).contains(&year) {
        return false;
    }
    let bytes = s.as_bytes();
    if bytes.len() == 8 && bytes.iter().all(u8::is_ascii_digit) {
        return true; // YYYYMMDD
    }
    let digits = year.to_string();
    s.match_indices(&digits).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + 4).copied();
        !before.is_some_and(|b| b.is_ascii_digit() || b == b'+' || b == b'-')
            && !after.is_some_and(|b| b.is_ascii_digit())
    })
}

/// Checks a chrono date format (a mapping's `date_format`, a `date_format` rule).
///
/// # Errors
///
/// [`Error::Config`] at `key` when `format` has an unknown or incomplete specifier.
pub(crate) fn check_date_format(key: &str, format: &str) -> Result<()> {
    if chrono::format::StrftimeItems::new(format).parse().is_err() {
        return Err(Error::config(
            key,
            format!("`{format}` is not a chrono format"),
        ));
    }
    Ok(())
}

/// Parses one text cell as a date (see the crate docs for the accepted formats);
/// `NN/NN/YYYY` dates are read month first, `NN.NN.YYYY` day first (each separator's
/// default, [`DateOrder::default`]). Without `format`, a date's year is written
/// with four digits (see [`four_digit_year`]); with it, the year is 1000 to 9999.
pub(crate) fn parse_date_str(raw: &str, tz: Option<&Tz>, format: Option<&str>) -> Option<i32> {
    parse_date_ordered(raw, tz, format, DateOrder::default())
}

/// [`parse_date_str`] with `NN/NN/YYYY` and `NN.NN.YYYY` dates read in `order`.
fn parse_date_ordered(
    raw: &str,
    tz: Option<&Tz>,
    format: Option<&str>,
    order: DateOrder,
) -> Option<i32> {
    let s = raw.trim();
    if let Some(fmt) = format {
        // The year as written (before a time zone moves the day) is checked. An instant
        // (the format has an offset) first: a date alone would drop its offset.
        let plausible = |d: NaiveDate| (1000..=9999).contains(&d.year());
        let date = DateTime::parse_from_str(s, fmt)
            .ok()
            .filter(|d| plausible(d.date_naive()))
            .map(|d| offset_date(d, tz))
            .or_else(|| {
                NaiveDate::parse_from_str(s, fmt)
                    .ok()
                    .filter(|&d| plausible(d))
            })
            .or_else(|| {
                NaiveDateTime::parse_from_str(s, fmt)
                    .ok()
                    .filter(|d| plausible(d.date()))
                    .map(naive_date)
            })?;
        return Some(date_to_days(date));
    }
    if let Some(d) = fast_iso_date(s.as_bytes()) {
        return (d.year() >= 1000).then(|| date_to_days(d));
    }
    if s.len() > 10 {
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return four_digit_year(s, dt.date_naive()).then(|| date_to_days(offset_date(dt, tz)));
        }
        for fmt in OFFSET_FORMATS {
            if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
                return four_digit_year(s, dt.date_naive())
                    .then(|| date_to_days(offset_date(dt, tz)));
            }
        }
        if infer::is_zoned_timestamp(s.as_bytes()) {
            return zoned_date(s, tz);
        }
        for fmt in NAIVE_FORMATS.iter().chain(&order.slash_formats()[1..]) {
            if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
                return four_digit_year(s, dt.date()).then(|| date_to_days(naive_date(dt)));
            }
        }
    }
    DATE_FORMATS
        .iter()
        .chain(&order.slash_formats()[..1])
        .chain(std::iter::once(&order.dot_format()))
        .find_map(|fmt| NaiveDate::parse_from_str(s, fmt).ok())
        .filter(|&d| four_digit_year(s, d))
        .map(date_to_days)
}

fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _)
    )
}

/// `cells` converted by `convert`: a null stays null; a value `convert` refuses becomes
/// null and its row goes onto `bad`.
fn convert_cells<V, T: ArrowPrimitiveType>(
    cells: impl Iterator<Item = Option<V>>,
    bad: &mut Vec<usize>,
    convert: impl Fn(V) -> Option<T::Native>,
) -> PrimitiveArray<T> {
    cells
        .enumerate()
        .map(|(i, v)| {
            let x = convert(v?);
            if x.is_none() {
                bad.push(i);
            }
            x
        })
        .collect()
}

/// The cells of a text column, blank ones as nulls.
fn text_cells(strings: &StringArray) -> impl Iterator<Item = Option<&str>> {
    strings.iter().map(|v| v.filter(|v| !is_blank(v)))
}

/// The decimal separator of a text column and its note: `reading`'s when it has one,
/// else decided from the column ([`column_decimal`]).
fn decimal_of(
    table: &str,
    column: &str,
    strings: &StringArray,
    given: Option<DecimalSeparator>,
    reading: Option<&ColumnReading>,
) -> (DecimalSeparator, Option<String>) {
    match reading.and_then(|r| r.decimal.clone()) {
        Some(d) => d,
        None => column_decimal(table, column, strings, given),
    }
}

fn as_strings(array: &dyn Array) -> Result<StringArray> {
    let casted = cast(array, &DataType::Utf8)?;
    Ok(casted.as_string::<i32>().clone())
}

/// Converts any date-like column to Date32.
///
/// Text is parsed (`format` when given, else the common formats): a date-time written
/// with an offset or `Z` becomes its date in `tz` (else the date as written), one
/// without an offset keeps its own date (it is local time already). Arrow timestamps
/// follow the same rule: one with a zone is an instant and becomes its date in `tz`,
/// else in its own zone; one without a zone is wall-clock time (Arrow's definition: a
/// PostgreSQL `timestamp`, a pandas naive datetime, a Parquet timestamp not adjusted to
/// UTC) and keeps its own date whatever `tz` is. Integers are read as `YYYYMMDD`.
pub(crate) fn to_date32(
    table: &str,
    column: &str,
    array: &dyn Array,
    tz: Option<&Tz>,
    format: Option<&str>,
) -> Result<Parsed<Date32Array>> {
    to_date32_read(table, column, array, tz, format, None)
}

/// [`to_date32`], with the column's `NN/NN/YYYY` order (and its note) decided beforehand
/// when `reading` has one.
pub(crate) fn to_date32_read(
    table: &str,
    column: &str,
    array: &dyn Array,
    tz: Option<&Tz>,
    format: Option<&str>,
    reading: Option<&ColumnReading>,
) -> Result<Parsed<Date32Array>> {
    let mut bad = Vec::new();
    let mut note = None;
    let out: Date32Array = match array.data_type() {
        DataType::Date32 => array.as_primitive::<arrow::datatypes::Date32Type>().clone(),
        DataType::Date64 | DataType::Null => cast(array, &DataType::Date32)?.as_primitive().clone(),
        DataType::Timestamp(_, own_tz) => {
            let micros = cast(
                array,
                &DataType::Timestamp(TimeUnit::Microsecond, own_tz.clone()),
            )?;
            let micros = micros.as_primitive::<TimestampMicrosecondType>();
            let own: Option<Tz> = match own_tz {
                Some(name) => Some(parse_tz(column, name)?),
                None => None,
            };
            // Instants (a zoned column) move to `tz`; wall-clock times (no zone, stored
            // as if they were UTC) keep the date they show.
            let zone = own.as_ref().map(|own| tz.unwrap_or(own));
            convert_cells(micros.iter(), &mut bad, |v| {
                let dt = DateTime::from_timestamp_micros(v)?;
                let day = match zone {
                    Some(z) => dt.with_timezone(z).date_naive(),
                    None => dt.date_naive(),
                };
                Some(date_to_days(day))
            })
        }
        DataType::Int32 | DataType::Int64 | DataType::UInt32 | DataType::UInt64 => {
            let ints = cast(array, &DataType::Int64)?;
            convert_cells(ints.as_primitive::<Int64Type>().iter(), &mut bad, |v| {
                let day = (10_000_000..100_000_000)
                    .contains(&v)
                    .then(|| {
                        NaiveDate::from_ymd_opt(
                            (v / 10_000) as i32,
                            (v / 100 % 100) as u32,
                            (v % 100) as u32,
                        )
                    })
                    .flatten();
                day.map(date_to_days)
            })
        }
        dt if is_text(dt) => {
            let strings = as_strings(array)?;
            let decided = reading.and_then(ColumnReading::slash);
            let order = match format {
                Some(_) => DateOrder::default(),
                None => {
                    let (order, n) = match decided {
                        Some(d) => d?,
                        None => slash_order(table, column, &strings)?,
                    };
                    note = n;
                    order
                }
            };
            convert_cells(text_cells(&strings), &mut bad, |v| {
                parse_date_ordered(v, tz, format, order)
            })
        }
        other => {
            return Err(Error::wrong_type(
                table,
                column,
                "a date (Date32, timestamp or text)",
                other,
            ));
        }
    };
    Ok(Parsed {
        array: out,
        bad,
        note,
    })
}

/// What a number written as text says about the column's decimal separator: `12.5`,
/// `1,234.5` or `1,234,567` are point-decimal; `12,5`, `1.234,5` or `1.234.567` are
/// comma-decimal; `1,234`, `1.234` and `12` could be either.
fn decimal_evidence(s: &str) -> Option<DecimalSeparator> {
    let b = s.trim().as_bytes();
    let b = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    // Only a cell shaped like a number tells (`x,5` is not a number either way).
    if !b.first().is_some_and(u8::is_ascii_digit)
        || !b
            .iter()
            .all(|c| c.is_ascii_digit() || *c == b',' || *c == b'.')
    {
        return None;
    }
    let commas = memchr::memchr_iter(b',', b).count();
    let points = memchr::memchr_iter(b'.', b).count();
    // The digits right after the last separator, and whether they end the cell.
    let tail = |sep: u8| -> (usize, bool) {
        let at = b.iter().rposition(|&c| c == sep).map_or(b.len(), |p| p + 1);
        let run = b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
        (run, at + run == b.len())
    };
    match (commas, points) {
        (0, 0) => None,
        (c, p) if c > 0 && p > 0 => {
            let last_comma = b.iter().rposition(|&c| c == b',');
            let last_point = b.iter().rposition(|&c| c == b'.');
            if last_comma > last_point {
                Some(DecimalSeparator::Comma)
            } else {
                Some(DecimalSeparator::Point)
            }
        }
        (1, 0) => match tail(b',') {
            (3, true) => None,
            (n, true) if n > 0 => Some(DecimalSeparator::Comma),
            _ => None,
        },
        (_, 0) => Some(DecimalSeparator::Point),
        (0, 1) => match tail(b'.') {
            (3, true) => None,
            _ => Some(DecimalSeparator::Point),
        },
        _ => Some(DecimalSeparator::Comma),
    }
}

/// The decimal separator of a text column: `given` when set, else comma when some
/// value is written with a decimal comma and none with a decimal point, else point.
/// A value written the other way is then not a number of the column (never reread).
///
/// When no value tells and some could be read either way (`1,234`, `1.234`), the column
/// is read with a decimal point and the returned note says so.
pub(crate) fn column_decimal(
    table: &str,
    column: &str,
    strings: &StringArray,
    given: Option<DecimalSeparator>,
) -> (DecimalSeparator, Option<String>) {
    if let Some(d) = given {
        return (d, None);
    }
    let mut evidence = DecimalEvidence::default();
    evidence.observe(strings);
    evidence.decide(table, column, None)
}

/// What a text number column's values say about its decimal separator, gathered over
/// the column in pieces.
#[derive(Debug, Clone, Default)]
pub(crate) struct DecimalEvidence {
    point: bool,
    comma: bool,
    ambiguous: Option<String>,
}

impl DecimalEvidence {
    /// Adds the values of `strings` (nothing more is looked at once a value shows a
    /// decimal point).
    pub(crate) fn observe(&mut self, strings: &StringArray) {
        for v in strings.iter().flatten() {
            if self.point {
                return;
            }
            self.observe_value(v);
        }
    }

    /// Whether a value can still change the evidence (no value showed a decimal point
    /// yet).
    pub(crate) fn open(&self) -> bool {
        !self.point
    }

    /// Adds the value `v` (only a value with a `,` or a `.` can say anything; nothing
    /// once a value showed a decimal point).
    pub(crate) fn observe_value(&mut self, v: &str) {
        if self.point {
            return;
        }
        match decimal_evidence(v) {
            Some(DecimalSeparator::Point) => self.point = true,
            Some(DecimalSeparator::Comma) => self.comma = true,
            None => {
                if self.ambiguous.is_none() && v.bytes().any(|c| c == b',' || c == b'.') {
                    self.ambiguous = Some(v.to_owned());
                }
            }
        }
    }

    /// Adds `later`, the evidence of the values that follow: as if its values had been
    /// observed here.
    pub(crate) fn append(&mut self, later: DecimalEvidence) {
        if self.point {
            return;
        }
        self.point = later.point;
        self.comma |= later.comma;
        if self.ambiguous.is_none() {
            self.ambiguous = later.ambiguous;
        }
    }

    /// The separator and note, as [`column_decimal`] gives them for the whole column.
    pub(crate) fn decide(
        &self,
        table: &str,
        column: &str,
        given: Option<DecimalSeparator>,
    ) -> (DecimalSeparator, Option<String>) {
        if let Some(d) = given {
            return (d, None);
        }
        if self.point {
            return (DecimalSeparator::Point, None);
        }
        if self.comma {
            return (DecimalSeparator::Comma, None);
        }
        let note = self.ambiguous.as_ref().map(|v| {
            format!(
                "{table}: column `{column}`: no value shows the decimal separator; values such as '{v}' \
                 were read with a decimal point (the default). Set decimal = \",\" in the mapping if it is a decimal comma"
            )
        });
        (DecimalSeparator::Point, note)
    }
}

/// Parses a number written as text with `decimal` as its decimal separator: surrounding
/// spaces, a sign, and thousands separators (the other of `,` and `.`) between groups
/// of exactly three digits are accepted; anything else is not a number (`12,5` with a
/// decimal point, `1,2,3`, `12.5` with a decimal comma).
pub(crate) fn parse_number(raw: &str, decimal: DecimalSeparator) -> Option<f64> {
    let s = raw.trim();
    let (group, point) = match decimal {
        DecimalSeparator::Point => (b',', b'.'),
        DecimalSeparator::Comma => (b'.', b','),
    };
    let bytes = s.as_bytes();
    if !bytes.contains(&group) {
        return match decimal {
            DecimalSeparator::Point => s.parse::<f64>().ok(),
            DecimalSeparator::Comma if bytes.contains(&b',') => {
                if bytes.iter().filter(|&&c| c == b',').count() > 1 {
                    return None;
                }
                s.replacen(',', ".", 1).parse::<f64>().ok()
            }
            DecimalSeparator::Comma => s.parse::<f64>().ok(),
        };
    }
    // Grouped digits: [sign] d{1,3} (G ddd)* [P d+]
    let (sign, body) = match bytes.first() {
        Some(b'-') => ("-", &s[1..]),
        Some(b'+') => ("", &s[1..]),
        _ => ("", s),
    };
    let (int, frac) = match body.as_bytes().iter().position(|&c| c == point) {
        Some(p) => (&body[..p], Some(&body[p + 1..])),
        None => (body, None),
    };
    let mut groups = int.split(group as char);
    let first = groups.next()?;
    if !(1..=3).contains(&first.len()) || !first.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut digits = String::with_capacity(s.len());
    digits.push_str(sign);
    digits.push_str(first);
    for g in groups {
        if g.len() != 3 || !g.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.push_str(g);
    }
    if let Some(frac) = frac {
        if frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.push('.');
        digits.push_str(frac);
    }
    digits.parse::<f64>().ok()
}

/// Parses an integer written as text (`12`, `12.0`, `1,200` with a decimal point).
pub(crate) fn parse_i64_str(raw: &str, decimal: DecimalSeparator) -> Option<i64> {
    let s = raw.trim();
    s.parse::<i64>()
        .ok()
        .or_else(|| parse_number(s, decimal).and_then(f64_to_i64))
}

fn f64_to_i64(v: f64) -> Option<i64> {
    // 2^63 is exactly representable; every float below it in magnitude fits in i64.
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.223_372_036_854_776e18).then_some(v as i64)
}

/// Converts any numeric or text column to Float64, dividing by `divide_by` when given.
pub(crate) fn to_f64(
    table: &str,
    column: &str,
    array: &dyn Array,
    divide_by: Option<f64>,
    decimal: Option<DecimalSeparator>,
) -> Result<Parsed<Float64Array>> {
    to_f64_read(table, column, array, divide_by, decimal, None)
}

/// [`to_f64`], with the column's decimal separator (and its note) decided beforehand
/// when `reading` has one.
pub(crate) fn to_f64_read(
    table: &str,
    column: &str,
    array: &dyn Array,
    divide_by: Option<f64>,
    decimal: Option<DecimalSeparator>,
    reading: Option<&ColumnReading>,
) -> Result<Parsed<Float64Array>> {
    let mut bad = Vec::new();
    let mut note = None;
    let dt = array.data_type();
    let out: Float64Array = if dt.is_numeric() || dt == &DataType::Null {
        cast(array, &DataType::Float64)?
            .as_primitive::<Float64Type>()
            .clone()
    } else if is_text(dt) {
        let strings = as_strings(array)?;
        let (decimal, n) = decimal_of(table, column, &strings, decimal, reading);
        note = n;
        convert_cells(text_cells(&strings), &mut bad, |v| parse_number(v, decimal))
    } else {
        return Err(Error::wrong_type(
            table,
            column,
            "a number (numeric or text)",
            dt,
        ));
    };
    let out = match divide_by {
        Some(d) => out.unary::<_, Float64Type>(|x| x / d),
        None => out,
    };
    Ok(Parsed {
        array: out,
        bad,
        note,
    })
}

/// Converts any numeric or text column to Int64; fractional or out-of-range values are
/// bad. The column's decimal separator (and its note) is decided beforehand when
/// `reading` has one.
pub(crate) fn to_i64_read(
    table: &str,
    column: &str,
    array: &dyn Array,
    decimal: Option<DecimalSeparator>,
    reading: Option<&ColumnReading>,
) -> Result<Parsed<Int64Array>> {
    let mut bad = Vec::new();
    let mut note = None;
    let dt = array.data_type();
    let out: Int64Array = match dt {
        DataType::Int64 => array.as_primitive::<Int64Type>().clone(),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::Null => cast(array, &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .clone(),
        DataType::UInt64
        | DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => {
            let floats = cast(array, &DataType::Float64)?;
            convert_cells(
                floats.as_primitive::<Float64Type>().iter(),
                &mut bad,
                f64_to_i64,
            )
        }
        dt if is_text(dt) => {
            let strings = as_strings(array)?;
            let (decimal, n) = decimal_of(table, column, &strings, decimal, reading);
            note = n;
            convert_cells(text_cells(&strings), &mut bad, |v| {
                parse_i64_str(v, decimal)
            })
        }
        other => {
            return Err(Error::wrong_type(
                table,
                column,
                "an integer (numeric or text)",
                other,
            ));
        }
    };
    Ok(Parsed {
        array: out,
        bad,
        note,
    })
}

/// Converts any column to Utf8 text (ids given as numbers become their decimal text).
pub(crate) fn to_utf8(table: &str, column: &str, array: &dyn Array) -> Result<StringArray> {
    if let Some(s) = array.as_string_opt::<i32>() {
        return Ok(s.clone());
    }
    if let Some(text) = array.as_primitive_opt::<Int64Type>().and_then(ints_to_text) {
        return Ok(text);
    }
    match cast(array, &DataType::Utf8) {
        Ok(a) => Ok(a.as_string::<i32>().clone()),
        Err(_) => Err(Error::wrong_type(table, column, "text", array.data_type())),
    }
}

/// Integer ids as decimal text (what a cast to Utf8 gives), without a formatter call
/// per value: the text buffer is sized for the widest value up front, and a run of
/// equal values (an account's rows) is written once and copied; `None` when the text
/// might not fit i32 offsets (the cast handles it).
fn ints_to_text(ints: &Int64Array) -> Option<StringArray> {
    if ints.len() > i32::MAX as usize / 20 {
        return None;
    }
    let widest = ints
        .values()
        .iter()
        .map(|v| v.unsigned_abs())
        .max()
        .map_or(1, |m| m.checked_ilog10().map_or(1, |d| d as usize + 1))
        + 1;
    let mut values: Vec<u8> = Vec::with_capacity(ints.len() * widest);
    let mut offsets: Vec<i32> = Vec::with_capacity(ints.len() + 1);
    offsets.push(0);
    let mut digits = [0u8; 20];
    let mut last: Option<(i64, usize, usize)> = None;
    for (i, &v) in ints.values().iter().enumerate() {
        if ints.is_valid(i) {
            match last {
                Some((l, from, to)) if l == v => values.extend_from_within(from..to),
                _ => {
                    let from = values.len();
                    if v < 0 {
                        values.push(b'-');
                    }
                    let mut m = v.unsigned_abs();
                    let mut at = digits.len();
                    loop {
                        at -= 1;
                        digits[at] = b'0' + (m % 10) as u8;
                        m /= 10;
                        if m == 0 {
                            break;
                        }
                    }
                    values.extend_from_slice(&digits[at..]);
                    last = Some((v, from, values.len()));
                }
            }
        }
        // At most 20 bytes a value: fits (checked above).
        offsets.push(values.len() as i32);
    }
    StringArray::try_new(
        arrow::buffer::OffsetBuffer::new(arrow::buffer::ScalarBuffer::from(offsets)),
        arrow::buffer::Buffer::from_vec(values),
        ints.nulls().cloned(),
    )
    .ok()
}

/// Renders any column as text for a quarantine table, never failing.
pub(crate) fn display_column(array: &dyn Array) -> ArrayRef {
    if let Ok(a) = cast(array, &DataType::Utf8) {
        return a;
    }
    let options = arrow::util::display::FormatOptions::default();
    match arrow::util::display::ArrayFormatter::try_new(array, &options) {
        Ok(fmt) => Arc::new(
            (0..array.len())
                .map(|i| array.is_valid(i).then(|| fmt.value(i).to_string()))
                .collect::<StringArray>(),
        ),
        Err(_) => Arc::new(StringArray::new_null(array.len())),
    }
}

/// The raw text of one cell, for messages.
pub(crate) fn cell_text(array: &dyn Array, row: usize) -> String {
    if array.is_null(row) {
        return "null".to_owned();
    }
    let options = arrow::util::display::FormatOptions::default();
    arrow::util::display::ArrayFormatter::try_new(array, &options)
        .map(|f| f.value(row).to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> i32 {
        date_to_days(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn common_date_formats_parse() {
        for s in [
            "2024-03-05",
            " 2024-03-05 ",
            "2024/03/05",
            "20240305",
            "05.03.2024",
            "03/05/2024",
            "5 Mar 2024",
            "Mar 5, 2024",
            "2024-03-05T10:11:12",
            "2024-03-05 10:11:12.123",
            "2024-03-05T10:11:12+01:00",
            "2024-03-05T10:11:12.000+0000",
        ] {
            assert_eq!(parse_date_str(s, None, None), Some(d("2024-03-05")), "{s}");
        }
        assert_eq!(parse_date_str("2024-02-30", None, None), None);
        assert_eq!(parse_date_str("yesterday", None, None), None);
    }

    #[test]
    fn a_year_not_written_with_four_digits_is_not_a_date() {
        for s in [
            "24-01-05",
            "-2024-01-01",
            "+2024-01-01",
            "0-01-01",
            "0024-01-05",
            "02024-01-05",
            "5 Jan 24",
            "Jan 5, 24",
            "05.01.24",
            "03/04/24",
            "03/04/24 10:11:12",
            "24-01-05T10:11:12",
            "24-01-05 10:11:12+01:00",
            "-2024-01-05T10:11:12Z",
            "12345-01-05",
        ] {
            assert_eq!(parse_date_str(s, None, None), None, "{s}");
        }
        // A four-digit year still parses in every format, and a time zone moving the
        // day into another year does not matter.
        for (s, day) in [
            ("5 Jan 2024", "2024-01-05"),
            ("Jan 5, 2024", "2024-01-05"),
            ("05.01.2024", "2024-01-05"),
            ("01/05/2024", "2024-01-05"),
            ("2024-01-05T10:11:12", "2024-01-05"),
            ("1000-01-01", "1000-01-01"),
        ] {
            assert_eq!(parse_date_str(s, None, None), Some(d(day)), "{s}");
        }
        let berlin = parse_tz("tz", "Europe/Berlin").unwrap();
        assert_eq!(
            parse_date_str("2023-12-31T23:30:00Z", Some(&berlin), None),
            Some(d("2024-01-01"))
        );
        // With a format, %Y still needs a plausible year; %y is the user's choice.
        assert_eq!(parse_date_str("24-01-05", None, Some("%Y-%m-%d")), None);
        assert_eq!(parse_date_str("-2024-01-05", None, Some("%Y-%m-%d")), None);
        assert_eq!(
            parse_date_str("24-01-05", None, Some("%y-%m-%d")),
            Some(d("2024-01-05"))
        );
    }

    #[test]
    fn timestamps_become_the_account_timezone_date() {
        let berlin = parse_tz("tz", "Europe/Berlin").unwrap();
        let la = parse_tz("tz", "America/Los_Angeles").unwrap();
        // 23:30 UTC on March 5 is March 6 in Berlin and still March 5 in Los Angeles.
        let s = "2024-03-05T23:30:00Z";
        assert_eq!(
            parse_date_str(s, Some(&berlin), None),
            Some(d("2024-03-06"))
        );
        assert_eq!(parse_date_str(s, Some(&la), None), Some(d("2024-03-05")));
        let utc_micros = arrow::array::TimestampMicrosecondArray::from(vec![
            1_709_681_400_000_000, // 2024-03-05T23:30:00Z
        ])
        .with_timezone("UTC");
        let out = to_date32("t", "c", &utc_micros, Some(&berlin), None).unwrap();
        assert_eq!(out.array.value(0), d("2024-03-06"));
        let out = to_date32("t", "c", &utc_micros, None, None).unwrap();
        assert_eq!(out.array.value(0), d("2024-03-05"));
        assert!(parse_tz("tz", "Mars/Olympus").is_err());
        assert!(parse_tz("tz", "+05:30").is_ok());
    }

    #[test]
    fn a_timestamp_without_an_offset_keeps_its_own_date_in_any_zone() {
        let ny = parse_tz("tz", "America/New_York").unwrap();
        let tokyo = parse_tz("tz", "Asia/Tokyo").unwrap();
        for s in [
            "2024-01-05 00:00:00",
            "2024-01-05T00:00:00",
            "2024-01-05T23:59:59.999",
            "2024-01-05 00:30",
            "01/05/2024 00:00:00",
        ] {
            for tz in [None, Some(&ny), Some(&tokyo)] {
                assert_eq!(
                    parse_date_str(s, tz, None),
                    Some(d("2024-01-05")),
                    "{s} {tz:?}"
                );
            }
        }
        // So with a format that has no offset.
        assert_eq!(
            parse_date_str("05/01/2024 00:30", Some(&ny), Some("%d/%m/%Y %H:%M")),
            Some(d("2024-01-05"))
        );
        // An instant written with an offset or `Z` becomes the zone's date.
        assert_eq!(
            parse_date_str("2024-01-05T00:00:00Z", Some(&ny), None),
            Some(d("2024-01-04"))
        );
        assert_eq!(
            parse_date_str("2024-01-05 03:00:00+00:00", Some(&ny), None),
            Some(d("2024-01-04"))
        );
        assert_eq!(
            parse_date_str(
                "2024-01-05 20:00:00+0000",
                Some(&tokyo),
                Some("%Y-%m-%d %H:%M:%S%z")
            ),
            Some(d("2024-01-06"))
        );
    }

    /// An Arrow timestamp without a zone is wall-clock time (a PostgreSQL `timestamp`, a
    /// pandas naive datetime): its date is the one it shows, in any zone; a zoned one is
    /// an instant, moved to the configured zone, else read in its own.
    #[test]
    fn an_arrow_timestamp_without_a_zone_keeps_its_own_date_in_any_zone() {
        let ny = parse_tz("tz", "America/New_York").unwrap();
        let tokyo = parse_tz("tz", "Asia/Tokyo").unwrap();
        // 2024-01-05T00:30:00 and 2024-01-05T23:30:00, stored as if UTC.
        let shown = [1_704_414_600_i64, 1_704_497_400];
        let naive = arrow::array::TimestampSecondArray::from(shown.to_vec());
        for tz in [None, Some(&ny), Some(&tokyo)] {
            let out = to_date32("t", "c", &naive, tz, None).unwrap();
            assert_eq!(
                out.array.values().to_vec(),
                [d("2024-01-05"), d("2024-01-05")],
                "{tz:?}"
            );
            assert!(out.bad.is_empty());
        }
        let utc = naive.clone().with_timezone("+00:00");
        let days = |tz| {
            to_date32("t", "c", &utc, tz, None)
                .unwrap()
                .array
                .values()
                .to_vec()
        };
        assert_eq!(days(None), [d("2024-01-05"), d("2024-01-05")]);
        assert_eq!(days(Some(&ny)), [d("2024-01-04"), d("2024-01-05")]);
        assert_eq!(days(Some(&tokyo)), [d("2024-01-05"), d("2024-01-06")]);
        // A column in its own zone and no configured zone: the date there.
        let in_tokyo = naive.with_timezone("Asia/Tokyo");
        let out = to_date32("t", "c", &in_tokyo, None, None).unwrap();
        assert_eq!(
            out.array.values().to_vec(),
            [d("2024-01-05"), d("2024-01-06")]
        );
    }

    /// Every zone arrow's timestamp parser reads after an ISO date-time (the cells
    /// `read_table` keeps as text) is read as text too: the instant's date in the
    /// configured zone, else the date as written.
    #[test]
    fn date_times_with_any_zone_arrow_reads_are_instants() {
        let ny = parse_tz("tz", "America/New_York").unwrap();
        for s in [
            "2024-01-05T03:00:00Z",
            "2024-01-05 03:00:00z",
            "2024-01-05T03:00:00.5+00:00",
            "2024-01-05T08:00:00+05",
            "2024-01-05T08:00:00.123456789+0500",
            "2024-01-05 08:00:00 +05:00",
            "2024-01-05T04:00:00 Europe/Berlin",
        ] {
            assert!(infer::is_zoned_timestamp(s.as_bytes()), "{s}");
            assert_eq!(
                parse_date_str(s, Some(&ny), None),
                Some(d("2024-01-04")),
                "{s}"
            );
            assert_eq!(parse_date_str(s, None, None), Some(d("2024-01-05")), "{s}");
        }
        // A tail that is no zone is no date.
        for s in ["2024-01-05T03:00:00 tomorrow", "2024-01-05T03:00:00+5"] {
            assert_eq!(parse_date_str(s, Some(&ny), None), None, "{s}");
            assert_eq!(parse_date_str(s, None, None), None, "{s}");
        }
    }

    #[test]
    fn dot_dates_take_the_order_their_column_proves() {
        let read = |v: &[&str]| to_date32("t", "c", &StringArray::from(v.to_vec()), None, None);
        let days = |v: &[&str]| v.iter().map(|s| d(s)).collect::<Vec<_>>();
        // Month first, proven by 01.13.2024 (the last row).
        let out = read(&["01.03.2024", "01.05.2024", "01.13.2024"]).unwrap();
        assert_eq!(
            out.array.values().to_vec(),
            days(&["2024-01-03", "2024-01-05", "2024-01-13"])
        );
        assert!(out.bad.is_empty() && out.note.is_none(), "{out:?}");
        // Day first, proven by 13.01.2024.
        let out = read(&["01.03.2024", "13.01.2024"]).unwrap();
        assert_eq!(
            out.array.values().to_vec(),
            days(&["2024-03-01", "2024-01-13"])
        );
        assert!(out.note.is_none());
        // Every date ambiguous: day first (the default with dots), with a note.
        let out = read(&["01.03.2024", "02.03.2024"]).unwrap();
        assert_eq!(
            out.array.values().to_vec(),
            days(&["2024-03-01", "2024-03-02"])
        );
        let note = out.note.unwrap();
        assert!(
            note.contains("all 2 dates like 02.01.2024") && note.contains("DD.MM.YYYY"),
            "{note}"
        );
        // Both orders: an error naming the column and a date of each.
        let err = read(&["13.01.2024", "01.02.2024", "01.13.2024"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`c`") && err.contains("'13.01.2024'") && err.contains("'01.13.2024'"),
            "{err}"
        );
        // A column has one order whatever the separator.
        let out = read(&["01/13/2024", "01.05.2024"]).unwrap();
        assert_eq!(
            out.array.values().to_vec(),
            days(&["2024-01-13", "2024-01-05"])
        );
        assert!(read(&["13/01/2024", "01.13.2024"]).is_err());
        // Ambiguous dates of both kinds: each in its default, both noted.
        let out = read(&["01/02/2024", "01.02.2024"]).unwrap();
        assert_eq!(
            out.array.values().to_vec(),
            days(&["2024-01-02", "2024-02-01"])
        );
        let note = out.note.unwrap();
        assert!(
            note.contains("MM/DD/YYYY") && note.contains("DD.MM.YYYY"),
            "{note}"
        );
        // Not dates: a number with grouped thousands, a two-digit year.
        assert!(read(&["1.234.567"]).unwrap().bad == [0]);
        assert!(read(&["01.13.24"]).unwrap().bad == [0]);
    }

    #[test]
    fn integer_ids_become_the_text_a_cast_gives() {
        let ids = Int64Array::from(vec![
            Some(0),
            Some(7),
            None,
            Some(-12),
            Some(1_000_000_123),
            Some(i64::MAX),
            Some(i64::MIN),
            // Runs of equal values (written once, then copied), around nulls.
            Some(1_000_000_123),
            Some(1_000_000_123),
            None,
            Some(1_000_000_123),
            Some(-12),
            Some(-12),
            Some(9),
        ]);
        let ours = to_utf8("t", "c", &ids).unwrap();
        let cast = cast(&ids, &DataType::Utf8).unwrap();
        assert_eq!(&ours, cast.as_string::<i32>());
        assert_eq!(ours.value(6), "-9223372036854775808");
    }

    #[test]
    fn numbers_in_text_parse_and_bad_cells_are_listed() {
        let a = StringArray::from(vec![
            Some("1,234.5"),
            Some(" 7 "),
            Some("abc"),
            None,
            Some(""),
        ]);
        let p = to_f64("t", "c", &a, None, None).unwrap();
        assert_eq!(p.array.value(0), 1234.5);
        assert_eq!(p.array.value(1), 7.0);
        assert!(p.array.is_null(2) && p.array.is_null(3) && p.array.is_null(4));
        assert_eq!(p.bad, vec![2]);
        let i = to_i64_read(
            "t",
            "c",
            &StringArray::from(vec!["12", "12.0", "12.5"]),
            None,
            None,
        )
        .unwrap();
        assert_eq!(i.array.value(1), 12);
        assert_eq!(i.bad, vec![2]);
        let micros = Int64Array::from(vec![1_061_083_620]);
        let spend = to_f64("t", "c", &micros, Some(1e6), None).unwrap();
        assert_eq!(spend.array.value(0), 1061.08362);
    }
}
