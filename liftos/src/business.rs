//! The business-level analysis from files: the business's own revenue per day
//! (`--business-outcome`), every channel's spend from the unified table, and lift tests
//! (`--lift-tests`) as calibration ([`liftos_causal::business`]).
//!
//! Business outcome file (CSV or Parquet): `date` (YYYY-MM-DD), `revenue` (≥ 0), optional
//! `orders` and `geo`. Every day between the first and the last must be present once (with
//! a `geo` column, every geo on every day; geos are summed per day, the model is national).
//!
//! Lift-test file (CSV or Parquet): `channel`, `start`, `end` (YYYY-MM-DD, inclusive),
//! `incremental_revenue` or `iroas`, `standard_error` (in the unit of the measurement), and
//! optional `geo` and `spend`. The model is national, so a test enters as the return it
//! measured applied to the channel's national spend over its window: an `iroas` as given;
//! an `incremental_revenue` with `spend` (the spend whose revenue the test measured) as
//! their ratio; an `incremental_revenue` without `spend` as the national revenue of the
//! window. A test in a geo measured that geo's revenue only, so its `incremental_revenue`
//! needs its `spend` (an error naming the row otherwise): read as national, a holdout in
//! a region with a tenth of the sales would say the channel earns a tenth of what it does.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use liftos_causal::business::{BusinessData, BusinessOptions, BusinessResults, LiftTest, SpendRow};

use crate::{Error, Result};

/// The business's revenue per day, as read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessOutcome {
    /// Every day from the first to the last, in order.
    pub dates: Vec<NaiveDate>,
    /// Revenue of each day (summed over geos).
    pub revenue: Vec<f64>,
    /// Number of geos in the file (1 without a `geo` column).
    pub geos: usize,
    /// The currencies of its `currency` column (as `liftos pull --source shopify` writes
    /// it), distinct, sorted; empty without one.
    pub currencies: Vec<String>,
}

fn input_error(path: &Path, row: Option<usize>, field: &str, message: impl Into<String>) -> Error {
    Error::Input {
        path: path.display().to_string(),
        row,
        field: field.to_string(),
        message: message.into(),
    }
}

/// The column `name` of `table`: the one of that exact name, else the one whose name is
/// `name` but for letter case and surrounding spaces (`Date`, ` Revenue ` from a
/// spreadsheet export); `None` when there is none; an error naming both when two columns
/// match that way.
fn find_column<'a>(
    path: &Path,
    table: &'a RecordBatch,
    name: &str,
) -> Result<Option<&'a ArrayRef>> {
    if let Some(c) = table.column_by_name(name) {
        return Ok(Some(c));
    }
    let schema = table.schema();
    let alike: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name().trim().eq_ignore_ascii_case(name))
        .collect();
    match alike[..] {
        [] => Ok(None),
        [i] => Ok(Some(table.column(i))),
        [a, b, ..] => Err(input_error(
            path,
            None,
            name,
            format!(
                "two columns could be it: `{}` and `{}`; rename one",
                schema.field(a).name(),
                schema.field(b).name()
            ),
        )),
    }
}

/// A column of `table` as text, row by row (`None` for nulls), or an error naming it
/// ([`find_column`] finds it).
fn text_column(path: &Path, table: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let Some(col) = find_column(path, table, name)? else {
        return Err(input_error(
            path,
            None,
            name,
            missing_column_message(&table.schema()),
        ));
    };
    let text = arrow::compute::cast(col, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    Ok((0..text.len())
        .map(|i| text.is_valid(i).then(|| text.value(i).trim().to_string()))
        .collect())
}

/// Why a table lacks a column: the columns it has, and when its header is one column
/// holding `;`, that the file seems to be `;`-separated (a CSV file is read `,`-separated).
/// `liftos analyze` says so of its input; the business-level readers of theirs.
pub fn missing_column_message(schema: &arrow::datatypes::Schema) -> String {
    let mut message = format!(
        "the column is missing; the file has: {}",
        liftos_core::column_list(schema)
    );
    if let [only] = &schema.fields()[..]
        && only.name().contains(';')
    {
        message.push_str(
            "; the header is one column holding `;`: the file seems to be `;`-separated, and CSV \
             files are read `,`-separated (save it with commas)",
        );
    }
    message
}

/// What a text that is not a `YYYY-MM-DD` date seems to be: `NN/NN/YYYY` as month first
/// (US) or, when the first number is above 12, day first; a `YYYY-MM-DD` shape that is no
/// day of the calendar. `None` for anything else.
pub fn date_hint(value: &str) -> Option<String> {
    let v = value.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = v.split('/').collect();
    if let [a, b, y] = parts[..]
        && digits(a)
        && digits(b)
        && y.len() == 4
        && digits(y)
        && a.len() <= 2
        && b.len() <= 2
    {
        let first: u32 = a.parse().unwrap_or(0);
        let second: u32 = b.parse().unwrap_or(0);
        return Some(if first > 12 && second <= 12 {
            "it looks like DD/MM/YYYY (day first)".into()
        } else {
            "it looks like MM/DD/YYYY (US, month first)".into()
        });
    }
    let b = v.as_bytes();
    let iso_shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [&v[..4], &v[5..7], &v[8..]].iter().all(|p| digits(p));
    (iso_shape && NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err())
        .then(|| "there is no such day in the calendar".into())
}

/// Whether `value` starts with a `YYYY-MM-DD` shape (a day or a date and time): a value
/// that does not is in another date format, one `liftos unify` can read.
pub fn is_iso_shaped(value: &str) -> bool {
    let b = value.trim().as_bytes();
    b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
}

/// The advice for a unified table's date in another format than `YYYY-MM-DD`.
pub const UNIFY_DATE_ADVICE: &str = "`liftos unify` reads other date formats (detected per \
     column, or a mapping's `date_format`, e.g. \"%m/%d/%Y\") and writes YYYY-MM-DD dates";

/// Whether `table` has the column `name` as [`find_column`] finds it (an ambiguous name
/// counts: reading it gives the error).
fn has_column(table: &RecordBatch, name: &str) -> bool {
    !matches!(find_column(Path::new(""), table, name), Ok(None))
}

/// A `YYYY-MM-DD` date, the year in four digits (chrono's `%Y` alone would read `24-01-05`
/// as the year 24). A column the reader typed as timestamps (one cell with a time makes
/// every cell one) gives `YYYY-MM-DDT00:00:00`: midnight is that day; another time of day
/// is an error.
fn parse_date(path: &Path, row: usize, field: &str, v: Option<&String>) -> Result<NaiveDate> {
    let v = v.ok_or_else(|| input_error(path, Some(row), field, "is empty"))?;
    let bad = |why: &str| input_error(path, Some(row), field, format!("`{v}` {why}"));
    let four_digit_year = v.len() >= 10 && v.as_bytes()[..4].iter().all(u8::is_ascii_digit);
    let not_a_date = || match date_hint(v) {
        Some(hint) => bad(&format!("is not a date (YYYY-MM-DD): {hint}")),
        None => bad("is not a date (YYYY-MM-DD)"),
    };
    if !four_digit_year {
        return Err(not_a_date());
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d);
    }
    match chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f") {
        Ok(t) if t.time() == chrono::NaiveTime::MIN => Ok(t.date()),
        Ok(_) => Err(bad("has a time of day: give the day alone (YYYY-MM-DD)")),
        Err(_) => Err(not_a_date()),
    }
}

/// A number above zero ([`parse_number`], then `x > 0`).
fn parse_positive(path: &Path, row: usize, field: &str, v: Option<&String>) -> Result<f64> {
    let x = parse_number(path, row, field, v)?;
    if x > 0.0 {
        Ok(x)
    } else {
        Err(input_error(
            path,
            Some(row),
            field,
            format!("{x} is not > 0"),
        ))
    }
}

fn parse_number(path: &Path, row: usize, field: &str, v: Option<&String>) -> Result<f64> {
    let v = v
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| input_error(path, Some(row), field, "is empty"))?;
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(input_error(
            path,
            Some(row),
            field,
            format!("`{v}` is not a number"),
        )),
    }
}

/// Reads a business-outcome file. Rows are numbered from 1 (the first data row; a CSV
/// file's line is the row + 1).
///
/// # Errors
///
/// [`Error::Input`] naming the file, the row and the field: a missing column (names match
/// regardless of letter case and surrounding spaces when no column has the exact name),
/// two columns that could be the same one, a bad date, a negative or non-numeric revenue,
/// a date (or date and geo) given twice, a missing day.
pub fn read_business_outcome(path: &Path) -> Result<BusinessOutcome> {
    let table = liftos_transform::read_table(path)?;
    business_outcome_from_table(&table, path)
}

/// The business outcome of a table already in memory (the table a
/// [`ShopifyConnector`](liftos_connectors::ShopifyConnector) pulls, say); `path` names it
/// in errors. The checks of [`read_business_outcome`].
///
/// # Errors
///
/// As [`read_business_outcome`].
pub fn business_outcome_from_table(table: &RecordBatch, path: &Path) -> Result<BusinessOutcome> {
    let table = table.clone();
    let dates = text_column(path, &table, "date")?;
    let revenue = text_column(path, &table, "revenue")?;
    let geo = if has_column(&table, "geo") {
        Some(text_column(path, &table, "geo")?)
    } else {
        None
    };
    if table.num_rows() == 0 {
        return Err(input_error(path, None, "date", "the file has no rows"));
    }
    let mut by_day: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    let mut seen: BTreeMap<(NaiveDate, String), usize> = BTreeMap::new();
    for i in 0..table.num_rows() {
        let row = i + 1;
        let d = parse_date(path, row, "date", dates[i].as_ref())?;
        let r = parse_number(path, row, "revenue", revenue[i].as_ref())?;
        if r < 0.0 {
            return Err(input_error(
                path,
                Some(row),
                "revenue",
                format!("{r} is negative"),
            ));
        }
        let g = geo
            .as_ref()
            .map(|g| g[i].clone().unwrap_or_default())
            .unwrap_or_default();
        if let Some(first) = seen.insert((d, g.clone()), row) {
            let what = if geo.is_some() {
                format!("{d} (geo `{g}`) is also on row {first}")
            } else {
                format!("{d} is also on row {first}")
            };
            return Err(input_error(path, Some(row), "date", what));
        }
        if geo.is_some() && g.trim().is_empty() {
            return Err(input_error(path, Some(row), "geo", "is empty"));
        }
        *by_day.entry(d).or_insert(0.0) += r;
    }
    // With geos, every geo on every day: a geo missing on a day would lower that day's
    // total silently.
    if geo.is_some() {
        let geos: std::collections::BTreeSet<&String> = seen.keys().map(|(_, g)| g).collect();
        for d in by_day.keys() {
            if let Some(g) = geos
                .iter()
                .find(|g| !seen.contains_key(&(*d, (**g).clone())))
            {
                return Err(input_error(
                    path,
                    None,
                    "geo",
                    format!(
                        "geo `{g}` has no row for {d}: with a `geo` column every geo needs every \
                         day, or that day's total would be short"
                    ),
                ));
            }
        }
    }
    let currencies: Vec<String> = match value_counts(&table, "currency", true)? {
        Some(v) => v
            .into_iter()
            .map(|(c, _)| c)
            .filter(|c| !c.is_empty())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        None => Vec::new(),
    };
    let first = *by_day.keys().next().unwrap_or(&NaiveDate::MIN);
    let mut out = BusinessOutcome {
        currencies,
        dates: Vec::with_capacity(by_day.len()),
        revenue: Vec::with_capacity(by_day.len()),
        geos: seen
            .keys()
            .map(|(_, g)| g)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
    };
    for (k, (d, r)) in by_day.into_iter().enumerate() {
        let expected = first + chrono::Days::new(k as u64);
        if d != expected {
            return Err(input_error(
                path,
                None,
                "date",
                format!(
                    "{expected} is missing: the outcome needs every day from its first ({first}) to its last"
                ),
            ));
        }
        out.dates.push(d);
        out.revenue.push(r);
    }
    Ok(out)
}

/// A lift test as read, before its `iroas` (if that is what it gives) is turned into
/// revenue with the channel's spend over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct LiftTestRow {
    /// The channel.
    pub channel: String,
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
    /// Measured incremental revenue, or incremental return (`is_roas`).
    pub value: f64,
    /// Standard error, in the unit of `value`.
    pub standard_error: f64,
    /// Whether `value` is an incremental return rather than revenue.
    pub is_roas: bool,
    /// The geo the test ran in (`None`: national).
    pub geo: Option<String>,
    /// The spend whose revenue the test measured (what it withheld), when given: an
    /// `incremental_revenue` is then read as the return `value / spend`.
    pub spend: Option<f64>,
}

/// Reads a lift-test file (its columns: the module's documentation).
///
/// # Errors
///
/// [`Error::Input`] naming the file, the row and the field: a missing column, a bad date or
/// number, an end before the start, a standard error or `spend` ≤ 0, a test in a geo
/// giving `incremental_revenue` without `spend`.
pub fn read_lift_tests(path: &Path) -> Result<Vec<LiftTestRow>> {
    lift_tests_from_table(&liftos_transform::read_table(path)?, path)
}

/// The lift tests of a table already in memory; `path` names it in errors. The checks of
/// [`read_lift_tests`].
///
/// # Errors
///
/// As [`read_lift_tests`].
pub fn lift_tests_from_table(table: &RecordBatch, path: &Path) -> Result<Vec<LiftTestRow>> {
    let table = table.clone();
    let channel = text_column(path, &table, "channel")?;
    let start = text_column(path, &table, "start")?;
    let end = text_column(path, &table, "end")?;
    let (value, is_roas) = if has_column(&table, "incremental_revenue") {
        (text_column(path, &table, "incremental_revenue")?, false)
    } else if has_column(&table, "iroas") {
        (text_column(path, &table, "iroas")?, true)
    } else {
        return Err(input_error(
            path,
            None,
            "incremental_revenue",
            "the file needs an `incremental_revenue` or an `iroas` column",
        ));
    };
    let se = text_column(path, &table, "standard_error")?;
    let optional = |name: &str| -> Result<Option<Vec<Option<String>>>> {
        if has_column(&table, name) {
            text_column(path, &table, name).map(Some)
        } else {
            Ok(None)
        }
    };
    let geo = optional("geo")?;
    let spend = optional("spend")?;
    let mut out = Vec::new();
    for i in 0..table.num_rows() {
        let row = i + 1;
        let ch = channel[i]
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| input_error(path, Some(row), "channel", "is empty"))?;
        let s = parse_date(path, row, "start", start[i].as_ref())?;
        let e = parse_date(path, row, "end", end[i].as_ref())?;
        if e < s {
            return Err(input_error(
                path,
                Some(row),
                "end",
                format!("{e} is before the start {s}"),
            ));
        }
        let field = if is_roas {
            "iroas"
        } else {
            "incremental_revenue"
        };
        let v = parse_number(path, row, field, value[i].as_ref())?;
        let sd = parse_positive(path, row, "standard_error", se[i].as_ref())?;
        let cell = |c: &Option<Vec<Option<String>>>| {
            c.as_ref()
                .and_then(|c| c[i].clone())
                .filter(|v| !v.trim().is_empty())
        };
        let g = cell(&geo).map(|g| g.trim().to_string());
        let sp = match cell(&spend) {
            Some(text) => Some(parse_positive(path, row, "spend", Some(&text))?),
            None => None,
        };
        if let (Some(g), false, None) = (&g, is_roas, sp) {
            return Err(input_error(
                path,
                Some(row),
                "spend",
                format!(
                    "is missing: a test in geo `{g}` measured that geo's revenue only, and the \
                     model is national; give `spend` (the spend whose revenue the test \
                     measured) so that its return applies to the channel's national spend, \
                     or give the test's `iroas`"
                ),
            ));
        }
        out.push(LiftTestRow {
            channel: ch,
            start: s,
            end: e,
            value: v,
            standard_error: sd,
            is_roas,
            geo: g,
            spend: sp,
        });
    }
    Ok(out)
}

fn date32(d: NaiveDate) -> i32 {
    liftos_calendar::naive_to_date32(d)
}

/// The business-level data: the outcome's days, every channel's daily spend from the
/// unified table (`date`, `channel`, `spend`, `revenue`; rows outside the outcome's days are
/// left out), each channel's campaigns' daily spend and platform revenue when the table
/// has a `campaign` column ([`BusinessData::with_campaigns`]), and the named days of
/// `calendar` as flags of the baseline: one per public holiday and commercial event (its
/// country's and its custom events) and one per peak season. Each configured season
/// has a flag of its own even where seasons overlap (a business's own `q4` from November
/// 15 to December 24 beside the default `holiday_season`), so that the baseline can follow
/// the business's real peak: a demand period the calendar does not name moves spend and
/// revenue together and is credited to every channel (README, business-level analysis).
///
/// Also returns notes for the results' warnings (rows of the table outside the outcome's
/// days, left out).
///
/// # Errors
///
/// A missing column of the unified table, a value that is not a date or a number, an
/// empty spend, revenue or channel (naming file, row and field), no row inside the
/// outcome's days, outcome days before the table's first row or after its last (they
/// have no spend data), or the checks of [`BusinessData::from_spend_rows`].
pub fn business_data(
    unified: &RecordBatch,
    unified_path: &Path,
    outcome: &BusinessOutcome,
    calendar: &liftos_calendar::CalendarOptions,
) -> Result<(BusinessData, Vec<String>)> {
    let n = outcome.dates.len();
    let mut notes = Vec::new();
    let first = outcome.dates[0];
    let dates = text_column(unified_path, unified, "date")?;
    let channel = text_column(unified_path, unified, "channel")?;
    let spend = text_column(unified_path, unified, "spend")?;
    let revenue = text_column(unified_path, unified, "revenue")?;
    let campaign = if has_column(unified, "campaign") {
        Some(text_column(unified_path, unified, "campaign")?)
    } else {
        None
    };
    if unified.num_rows() == 0 {
        return Err(input_error(
            unified_path,
            None,
            "date",
            "the file has no rows",
        ));
    }
    let mut rows = Vec::with_capacity(unified.num_rows());
    let (mut span, mut outside) = (None::<(NaiveDate, NaiveDate)>, 0usize);
    for i in 0..unified.num_rows() {
        let row = i + 1;
        let d = parse_date(unified_path, row, "date", dates[i].as_ref()).map_err(|e| {
            match (e, dates[i].as_deref()) {
                (
                    Error::Input {
                        path,
                        row,
                        field,
                        message,
                    },
                    Some(v),
                ) if !is_iso_shaped(v) => Error::Input {
                    path,
                    row,
                    field,
                    message: format!("{message}; {UNIFY_DATE_ADVICE}"),
                },
                (e, _) => e,
            }
        })?;
        span = Some(span.map_or((d, d), |(a, b)| (a.min(d), b.max(d))));
        let t = (d - first).num_days();
        if t < 0 || t >= n as i64 {
            outside += 1;
            continue;
        }
        // An empty spend or channel is not 0 or a channel named "": one error naming it.
        let number =
            |field: &str, v: &Option<String>| parse_number(unified_path, row, field, v.as_ref());
        let channel = channel[i]
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| input_error(unified_path, Some(row), "channel", "is empty"))?;
        rows.push(SpendRow {
            date: date32(d),
            channel,
            campaign: campaign
                .as_ref()
                .map(|c| c[i].as_deref().unwrap_or_default()),
            spend: number("spend", &spend[i])?,
            platform_revenue: number("revenue", &revenue[i])?,
        });
    }
    let last = outcome.dates[n - 1];
    if rows.is_empty() {
        return Err(input_error(
            unified_path,
            None,
            "date",
            format!("no row falls inside the business outcome's days ({first} to {last})"),
        ));
    }
    // Days of the outcome before the table's first row or after its last have no spend
    // data at all; read as days without spend they would credit their revenue to no
    // channel and bend every curve. Days the table has beyond the outcome's are left out
    // and said so (`notes`).
    if let Some((a, b)) = span
        && (first < a || last > b)
    {
        return Err(input_error(
            unified_path,
            None,
            "date",
            format!(
                "the table's rows run from {a} to {b}, but the business outcome covers {first} to \
                 {last}: its days outside the table have no spend data, and read as days \
                 without spend they would bend every channel's curve; give the outcome from \
                 {a} to {b} only (or, if no channel spent on those days, rows with spend 0 for \
                 them in the table)"
            ),
        ));
    }
    notes.extend(duplicate_rows_note(unified, unified_path)?);
    notes.extend(channel_labels_note(unified, unified_path, "channel")?);
    notes.extend(mixed_currency_note(unified, unified_path, "channel")?);
    if outside > 0 {
        notes.push(format!(
            "{outside} row(s) of {} fall outside the business outcome's days ({first} to {last}) \
             and are left out of the business-level analysis",
            unified_path.display()
        ));
    }
    // Every column the flags come from, whatever features the options select.
    let options = liftos_calendar::CalendarOptions {
        include_features: None,
        ..calendar.clone()
    };
    let calendar =
        liftos_calendar::CalendarDimension::create_calendar(first, outcome.dates[n - 1], &options)?;
    let flag = |name: &str| -> Vec<bool> {
        calendar
            .column_by_name(name)
            .and_then(|c| {
                c.as_boolean_opt()
                    .map(|b| (0..b.len()).map(|i| b.is_valid(i) && b.value(i)).collect())
            })
            .unwrap_or_default()
    };
    let holiday = flag("is_holiday");
    let event = flag("is_commercial_event");
    // One flag per named holiday, event and peak season: each moves the baseline by its
    // own amount.
    let mut named: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for season in &options.business.peak_seasons {
        let days = flag(&format!("season_{}", season.name));
        if days.len() == n && days.iter().any(|d| *d) {
            named.insert(format!("peak_season:{}", season.name), days);
        }
    }
    for column in ["holiday_name", "event_name"] {
        let Some(c) = calendar.column_by_name(column) else {
            continue;
        };
        let Ok(text) = arrow::compute::cast(c, &DataType::Utf8) else {
            continue;
        };
        let text = text.as_string::<i32>();
        for i in 0..text.len().min(n) {
            if text.is_valid(i) && !text.value(i).is_empty() {
                named
                    .entry(format!("{column}:{}", text.value(i)))
                    .or_insert_with(|| vec![false; n])[i] = true;
            }
        }
    }
    let data = BusinessData::from_spend_rows(
        outcome.dates.iter().map(|d| date32(*d)).collect(),
        outcome.revenue.clone(),
        rows,
        if holiday.len() == n {
            holiday
        } else {
            Vec::new()
        },
        if event.len() == n { event } else { Vec::new() },
    )?;
    // A unit mismatch (the business's revenue in cents, the platforms' in units, or the
    // reverse) shows as a ratio no attribution explains: platforms report a share of
    // the business's sales, and double counting puts them above it at most a few times.
    let platform: f64 = data.platform_revenue.iter().filter(|v| v.is_finite()).sum();
    let business: f64 = outcome.revenue.iter().sum();
    if platform > 0.0 && business > 0.0 {
        let ratio = business / platform;
        if !(1.0 / 20.0..=50.0).contains(&ratio) {
            notes.push(format!(
                "The business's revenue ({business:.0} in total) is {} the revenue the \
                 platforms report in {} ({platform:.0}): check that both are in the same unit \
                 and currency (cents against units gives returns 100× off).",
                if ratio > 1.0 {
                    format!("{ratio:.0}×")
                } else {
                    format!("1/{:.0} of", 1.0 / ratio)
                },
                unified_path.display()
            ));
        }
    }
    // Revenue in one currency against spend in another: every return would be in
    // revenue units per spend unit, off by the exchange rate.
    if let Some(spent) = value_counts(unified, "currency", true)? {
        let spent: std::collections::BTreeSet<String> = spent
            .into_iter()
            .map(|(c, _)| c)
            .filter(|c| !c.is_empty())
            .collect();
        let earned: std::collections::BTreeSet<String> =
            outcome.currencies.iter().cloned().collect();
        if !spent.is_empty() && !earned.is_empty() && spent != earned {
            let list = |s: &std::collections::BTreeSet<String>| {
                s.iter().cloned().collect::<Vec<_>>().join(", ")
            };
            notes.push(format!(
                "The business's revenue is in {} but the channels' spend in {} ({}): every \
                 return is then revenue in one currency per unit of spend in another, off by \
                 the exchange rate. Convert one of them first (`liftos clean --rates FILE \
                 --currency CODE` for the platform table).",
                list(&earned),
                list(&spent),
                unified_path.display()
            ));
        }
    }
    Ok((data.with_day_flags(named.into_iter().collect()), notes))
}

/// A sentence when rows repeat another row's natural key (date, channel, account,
/// campaign, ad group and breakdowns; the campaign's name where there is no campaign id):
/// an uncleaned export pulled twice counts its spend and revenue twice. `None` when every
/// key is once. `liftos analyze` prints it; the business level adds it to its warnings.
///
/// # Errors
///
/// An Arrow error casting a key column to text.
pub fn duplicate_rows_note(
    table: &arrow::array::RecordBatch,
    path: &std::path::Path,
) -> Result<Option<String>> {
    use liftos_core::unified::{CAMPAIGN, CAMPAIGN_ID};
    let schema = table.schema();
    let mut key = liftos_core::unified::natural_key(&schema);
    if schema.field_with_name(CAMPAIGN_ID).is_err() && schema.field_with_name(CAMPAIGN).is_ok() {
        key.push(CAMPAIGN.to_owned());
    }
    let mut columns = Vec::with_capacity(key.len());
    for name in &key {
        let Some(c) = table.column_by_name(name) else {
            continue;
        };
        columns.push(arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)?);
    }
    if columns.len() < 2 {
        return Ok(None);
    }
    let mut first: std::collections::HashMap<Vec<Option<&str>>, usize> =
        std::collections::HashMap::with_capacity(table.num_rows());
    let (mut repeated, mut example) = (0usize, None);
    for i in 0..table.num_rows() {
        let k: Vec<Option<&str>> = columns
            .iter()
            .map(|c| {
                let c = c.as_string::<i32>();
                c.is_valid(i).then(|| c.value(i))
            })
            .collect();
        if let Some(&j) = first.get(&k) {
            repeated += 1;
            example.get_or_insert((j + 1, i + 1));
        } else {
            first.insert(k, i);
        }
    }
    Ok(example.map(|(a, b)| {
        format!(
            "{repeated} row(s) of {} repeat another row's {} (e.g. rows {a} and {b}): each is \
             analysed as more spend and revenue of that day; `liftos clean` removes duplicates",
            path.display(),
            key.join(", ")
        )
    }))
}

/// `1 row`, `n rows`.
fn row_count(n: usize) -> String {
    if n == 1 {
        "1 row".into()
    } else {
        format!("{n} rows")
    }
}

/// Each value of a column with its rows (0-based).
type ValueRows = Vec<(String, Vec<usize>)>;

/// The rows of each text value of a column, in first-seen order (trimmed as `trim` says;
/// nulls and empty cells left out). `None` when the table has no such column.
fn value_counts(table: &RecordBatch, column: &str, trim: bool) -> Result<Option<ValueRows>> {
    let Some(c) = table.column_by_name(column) else {
        return Ok(None);
    };
    let text = arrow::compute::cast(c, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    let mut out: ValueRows = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for i in 0..text.len() {
        if !text.is_valid(i) {
            continue;
        }
        let v = if trim {
            text.value(i).trim()
        } else {
            text.value(i)
        };
        if v.trim().is_empty() {
            continue;
        }
        let k = *index.entry(v).or_insert_with(|| {
            out.push((v.to_owned(), Vec::new()));
            out.len() - 1
        });
        out[k].1.push(i);
    }
    Ok(Some(out))
}

/// A sentence when labels of the `channel` column differ only in letter case or spaces
/// around them (`meta` and `Meta`): each is analysed as a channel of its own, and none is
/// merged here. `None` when every channel is written one way or there is no such column.
///
/// # Errors
///
/// An Arrow error casting the column to text.
pub fn channel_labels_note(
    table: &RecordBatch,
    path: &Path,
    channel: &str,
) -> Result<Option<String>> {
    let Some(labels) = value_counts(table, channel, false)? else {
        return Ok(None);
    };
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (label, rows) in &labels {
        let key = label.trim().to_lowercase();
        let entry = format!("`{label}` ({})", row_count(rows.len()));
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, entries)) => entries.push(entry),
            None => groups.push((key, vec![entry])),
        }
    }
    let alike: Vec<String> = groups
        .into_iter()
        .filter(|(_, entries)| entries.len() > 1)
        .map(|(_, entries)| entries.join(" and "))
        .collect();
    if alike.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "`{channel}` labels of {} differ only in letter case or spaces around them: {}; each \
         is analysed as a channel of its own. Write each channel one way in the file (`liftos \
         clean` does not rewrite channel labels)",
        path.display(),
        alike.join("; ")
    )))
}

/// A sentence when the `currency` column holds more than one currency: spend and revenue
/// are summed and compared as they are, across currencies. Names each channel's
/// currencies with their rows. `None` with one currency or no such column.
///
/// # Errors
///
/// An Arrow error casting a column to text.
pub fn mixed_currency_note(
    table: &RecordBatch,
    path: &Path,
    channel: &str,
) -> Result<Option<String>> {
    let Some(currencies) = value_counts(table, "currency", true)? else {
        return Ok(None);
    };
    if currencies.len() < 2 {
        return Ok(None);
    }
    let mut row_currency = vec![None; table.num_rows()];
    for (code, rows) in &currencies {
        for &i in rows {
            row_currency[i] = Some(code.as_str());
        }
    }
    let channels = value_counts(table, channel, false)?
        .unwrap_or_else(|| vec![("(all rows)".to_owned(), (0..table.num_rows()).collect())]);
    let per_channel: Vec<String> = channels
        .iter()
        .map(|(name, rows)| {
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for code in rows.iter().filter_map(|&i| row_currency[i]) {
                match counts.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((code, 1)),
                }
            }
            let counts: Vec<String> = counts
                .iter()
                .map(|(c, n)| format!("{c} {}", row_count(*n)))
                .collect();
            format!("{name}: {}", counts.join(", "))
        })
        .collect();
    Ok(Some(format!(
        "{} holds more than one currency ({}): spend and revenue are summed and compared as \
         they are, across currencies ({}). `liftos clean --rates FILE [--currency CODE]` \
         converts them to one currency",
        path.display(),
        currencies
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        per_channel.join("; ")
    )))
}

/// The lift tests in the estimator's units: an `iroas`, or an `incremental_revenue` over
/// its `spend`, becomes revenue with the channel's spend in the data over the window (the
/// model is national; see the module's documentation). Tests the data cannot check are set
/// aside, as [`lift_tests_with_notes`] says.
///
/// # Errors
///
/// As [`lift_tests_with_notes`].
pub fn lift_tests(data: &BusinessData, rows: &[LiftTestRow], path: &Path) -> Result<Vec<LiftTest>> {
    lift_tests_with_notes(data, rows, path).map(|(tests, _)| tests)
}

/// [`lift_tests`], and a note for the results' warnings for each test set aside or read
/// differently:
/// - a test naming a channel the data do not have, or whose window is not wholly within
///   the data's days, is set aside (a file of every test a team has run commonly holds
///   tests of other periods and channels), its row named;
/// - a holdout (a window in which the channel spent nothing in the data: it was switched
///   off to measure it) has no spend of its own to apply the test's return to, so its
///   return (`iroas`, or `incremental_revenue` over the `spend` it withheld) measures the
///   channel's return over all the data's days.
///
/// # Errors
///
/// [`Error::Input`] naming the file, the row and the field: a holdout's
/// `incremental_revenue` without its `spend`; the estimator's own checks of a test.
pub fn lift_tests_with_notes(
    data: &BusinessData,
    rows: &[LiftTestRow],
    path: &Path,
) -> Result<(Vec<LiftTest>, Vec<String>)> {
    let (Some(&first), Some(&last)) = (data.dates.first(), data.dates.last()) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut notes = Vec::new();
    let mut set_aside = |row: usize, t: &LiftTestRow, why: String| {
        notes.push(format!(
            "The lift test on row {row} of {} (`{}`, {} to {}) was set aside: {why}.",
            path.display(),
            t.channel,
            t.start,
            t.end
        ));
    };
    let mut tests = Vec::with_capacity(rows.len());
    let mut holdouts = Vec::new();
    for (i, t) in rows.iter().enumerate() {
        let row = i + 1;
        let Ok(c) = data.channel_index(&t.channel) else {
            let hint = data
                .channels
                .iter()
                .find(|c| c.eq_ignore_ascii_case(&t.channel))
                .map(|c| format!(" (the data spell it `{c}`)"))
                .unwrap_or_default();
            set_aside(
                row,
                t,
                format!(
                    "`{}` is not a channel of the data ({}){hint}",
                    t.channel,
                    data.channels.join(", ")
                ),
            );
            continue;
        };
        let window = (date32(t.start), date32(t.end));
        if window.0 < first || window.1 > last {
            let how = if window.1 < first || window.0 > last {
                "is outside"
            } else {
                "reaches beyond"
            };
            set_aside(
                row,
                t,
                format!(
                    "its window {how} the data's days ({} to {}); a test is compared with the \
                     model's lift over the same days, so its whole window must be in the data",
                    liftos_calendar::date32_to_naive(first),
                    liftos_calendar::date32_to_naive(last)
                ),
            );
            continue;
        }
        let iroas = if t.is_roas {
            Some((t.value, t.standard_error))
        } else {
            t.spend.map(|s| (t.value / s, t.standard_error / s))
        };
        let spent = data
            .dates
            .iter()
            .zip(&data.spend[c])
            .any(|(d, s)| (window.0..=window.1).contains(d) && *s > 0.0);
        let Some((iroas, se)) = iroas else {
            if !spent {
                return Err(input_error(
                    path,
                    Some(row),
                    "spend",
                    format!(
                        "is missing: `{}` spends nothing from {} to {} in the data (a \
                         holdout), so the revenue the test measured is a return only \
                         with the spend that was withheld; give `spend`, or the test's \
                         `iroas`",
                        t.channel, t.start, t.end
                    ),
                ));
            }
            tests.push(LiftTest {
                channel: t.channel.clone(),
                start: window.0,
                end: window.1,
                incremental_revenue: t.value,
                standard_error: t.standard_error,
            });
            continue;
        };
        let window = if spent {
            window
        } else {
            holdouts.push(format!(
                "The lift test of `{}` ({} to {}) is a holdout (the channel spends nothing \
                 then in the data): its return {iroas:.2} ± {se:.2} is compared with the \
                 channel's return over all the data's days, not over its window.",
                t.channel, t.start, t.end
            ));
            (first, last)
        };
        tests.push(data.lift_test_from_iroas(&t.channel, window, iroas, se)?);
    }
    notes.extend(holdouts);
    Ok((tests, notes))
}

/// Reads the files and runs the business-level analysis.
///
/// # Errors
///
/// Any error of the readers or of [`liftos_causal::analyze_business`].
pub fn analyze_business_files(
    unified_path: &Path,
    outcome_path: &Path,
    lift_tests_path: Option<&Path>,
    calendar: &liftos_calendar::CalendarOptions,
    options: &BusinessOptions,
) -> Result<(BusinessOutcome, BusinessResults)> {
    let outcome = read_business_outcome(outcome_path)?;
    let unified = liftos_transform::read_table(unified_path)?;
    let (data, notes) = business_data(&unified, unified_path, &outcome, calendar)?;
    let (tests, test_notes) = match lift_tests_path {
        Some(p) => lift_tests_with_notes(&data, &read_lift_tests(p)?, p)?,
        None => (Vec::new(), Vec::new()),
    };
    let mut results = liftos_causal::analyze_business(&data, options, &tests)?;
    results.results.diagnostics.warnings.extend(notes);
    results.results.diagnostics.warnings.extend(test_notes);
    Ok((outcome, results))
}

/// A readable summary: the outcome used and why platform revenue overstates, per channel
/// the switch-off and marginal returns with intervals next to the naive (platform) return,
/// the organic share, the calibration before/after, and the warnings.
pub fn format_business(r: &BusinessResults, outcome: &BusinessOutcome) -> String {
    let pct = r.results.confidence_level * 100.0;
    let mut s = format!(
        "Outcome: the business's own revenue ({} days, {:.0} in total{}), all channels' spend together.\n\
         Platform-reported revenue is each platform's own attribution: it counts sales that would have\n\
         happened anyway and credits a sale to every platform that touched it, and a sale one channel\n\
         caused can show up in another's rows. The naive column below is that revenue / spend.\n\n",
        outcome.dates.len(),
        r.revenue,
        if outcome.geos > 1 {
            format!(", {} geos summed per day", outcome.geos)
        } else {
            String::new()
        }
    );
    s.push_str(&format!(
        "{:<14} {:>12} {:>8} {:>22} {:>8} {:>22} {:>8}\n",
        "channel",
        "spend",
        "iROAS",
        format!("{pct:.0}% interval"),
        "mROAS",
        format!("{pct:.0}% interval"),
        "naive"
    ));
    for c in &r.results.channels {
        let (ml, mu) = c.response.as_ref().map_or((f64::NAN, f64::NAN), |x| {
            (x.marginal_roas_ci_lower, x.marginal_roas_ci_upper)
        });
        s.push_str(&format!(
            "{:<14} {:>12.0} {:>8.2} {:>22} {:>8.2} {:>22} {:>8.2}\n",
            c.channel,
            c.spend,
            c.incremental_roas,
            format!(
                "[{:.2}, {:.2}]",
                c.incremental_roas_ci_lower, c.incremental_roas_ci_upper
            ),
            c.marginal_roas,
            format!("[{ml:.2}, {mu:.2}]"),
            c.naive_roas
        ));
    }
    for n in &r.results.diagnostics.not_estimated {
        s.push_str(&format!(
            "{:<14} not estimated: left out ({} day{} with spend; see the warnings)\n",
            n.channel,
            n.rows,
            if n.rows == 1 { "" } else { "s" }
        ));
    }
    let b = &r.baseline_share;
    s.push_str(&format!(
        "\nOrganic (baseline) share of revenue: {:.1}% [{:.1}%, {:.1}%]\n",
        b.estimate * 100.0,
        b.ci_lower * 100.0,
        b.ci_upper * 100.0
    ));
    if let Some(cal) = &r.calibration {
        s.push_str("\nCalibration with lift tests (switch-off iROAS before -> after):\n");
        for t in &cal.tests {
            s.push_str(&format!(
                "  test {} {} to {}: measured {:.0} ± {:.0}, the model said {:.0} ± {:.0}\n",
                t.test.channel,
                liftos_calendar::date32_to_naive(t.test.start),
                liftos_calendar::date32_to_naive(t.test.end),
                t.test.incremental_revenue,
                t.test.standard_error,
                t.model_estimate,
                t.model_std_err
            ));
        }
        for c in &cal.channels {
            if (c.before.0 - c.after.0).abs() > 1e-12 || (c.before.2 - c.after.2).abs() > 1e-12 {
                s.push_str(&format!(
                    "  {:<14} {:.2} [{:.2}, {:.2}] -> {:.2} [{:.2}, {:.2}]\n",
                    c.channel, c.before.0, c.before.1, c.before.2, c.after.0, c.after.1, c.after.2
                ));
            }
        }
    }
    if let Some(p) = &r.results.diagnostics.placebo {
        s.push_str(&format!(
            "Placebo (revenue against spend {} days later, should be ≈ 0): {:.3} [{:.3}, {:.3}], p = {:.3}\n",
            p.name.trim_start_matches("placebo_lead_"),
            p.estimate,
            p.ci_lower,
            p.ci_upper,
            p.p_value
        ));
    }
    for w in &r.results.diagnostics.warnings {
        s.push_str(&format!("\nwarning: {w}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use std::sync::Arc;

    fn table(names: &[&str], rows: &[&[&str]]) -> RecordBatch {
        RecordBatch::try_from_iter(names.iter().enumerate().map(|(j, n)| {
            let col: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r[j])));
            (*n, col)
        }))
        .unwrap()
    }

    /// Column names from a spreadsheet export (`Date`, ` Revenue `) are the outcome's
    /// columns; an exact name wins over a look-alike; two look-alikes are one clear error.
    #[test]
    fn outcome_columns_match_regardless_of_case_and_spaces() {
        let path = Path::new("shop.csv");
        let days: &[&[&str]] = &[&["2024-01-01", "10", "1"], &["2024-01-02", "12", "2"]];
        let t = table(&["Date", " Revenue ", "orders"], days);
        let outcome = business_outcome_from_table(&t, path).unwrap();
        assert_eq!(outcome.revenue, [10.0, 12.0]);
        let t = table(&["date", "revenue", "REVENUE"], days);
        assert_eq!(
            business_outcome_from_table(&t, path).unwrap().revenue,
            [10.0, 12.0]
        );
        let t = table(&["date", "Revenue", "REVENUE"], days);
        let e = business_outcome_from_table(&t, path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("shop.csv") && e.contains("`Revenue`") && e.contains("`REVENUE`"),
            "{e}"
        );
        let t = table(&["date", "sales", "orders"], days);
        let e = business_outcome_from_table(&t, path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`revenue`") && e.contains("missing"), "{e}");
    }
    /// A test in a geo measured that geo's revenue only: without the spend it measured it
    /// is refused (read as national revenue it would understate the channel by the geo's
    /// share); with it, it enters as its return on the channel's national spend, exactly as
    /// the same test given as `iroas`. A national test's revenue is taken as it is.
    #[test]
    fn a_geo_tests_revenue_enters_as_its_return_on_the_national_spend() {
        let path = Path::new("tests.csv");
        let first = date32(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        let n = 70;
        // 50 a day, nothing in the last ten days.
        let spend: Vec<f64> = (0..n).map(|t| if t < 60 { 50.0 } else { 0.0 }).collect();
        let data = BusinessData::new(
            (first..first + n).collect(),
            vec![1000.0; n as usize],
            vec!["meta".into()],
            vec![spend],
            Vec::new(),
            Vec::new(),
        )
        .unwrap();
        let head = [
            "channel",
            "start",
            "end",
            "incremental_revenue",
            "standard_error",
            "geo",
        ];
        let week: &[&str] = &["meta", "2024-01-08", "2024-01-14", "300", "60", "CA"];
        let e = lift_tests_from_table(&table(&head, &[week]), path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tests.csv")
                && e.contains("row 1")
                && e.contains("`spend`")
                && e.contains("`CA`"),
            "{e}"
        );
        let with_spend = [
            "channel",
            "start",
            "end",
            "incremental_revenue",
            "standard_error",
            "geo",
            "spend",
        ];
        let rows = lift_tests_from_table(
            &table(
                &with_spend,
                &[
                    &[week, &["100"]].concat(),
                    &["meta", "2024-01-08", "2024-01-14", "300", "60", "", ""],
                ],
            ),
            path,
        )
        .unwrap();
        assert_eq!(rows[0].geo.as_deref(), Some("CA"));
        assert_eq!((rows[1].geo.clone(), rows[1].spend), (None, None));
        let tests = lift_tests(&data, &rows, path).unwrap();
        // A return of 3 ± 0.6 on the week's national spend (7 × 50).
        assert!(
            (tests[0].incremental_revenue - 1050.0).abs() < 1e-9,
            "{tests:?}"
        );
        assert!((tests[0].standard_error - 210.0).abs() < 1e-9, "{tests:?}");
        // The national test as it is.
        assert_eq!(
            (tests[1].incremental_revenue, tests[1].standard_error),
            (300.0, 60.0)
        );
        let as_roas = lift_tests_from_table(
            &table(
                &["channel", "start", "end", "iroas", "standard_error", "geo"],
                &[&["meta", "2024-01-08", "2024-01-14", "3", "0.6", "CA"]],
            ),
            path,
        )
        .unwrap();
        assert_eq!(lift_tests(&data, &as_roas, path).unwrap()[0], tests[0]);
        // A spend of 0, a window outside the data, a return where the channel spends nothing.
        let e = lift_tests_from_table(&table(&with_spend, &[&[week, &["0"]].concat()]), path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 1") && e.contains("`spend`") && e.contains("not > 0"),
            "{e}"
        );
        // Tests the data cannot check (another period, a channel the data do not have,
        // spelled otherwise) are set aside with a note naming the row; the others are
        // kept. (A window outside the data stopped the whole analysis.)
        {
            let rows = lift_tests_from_table(
                &table(
                    &with_spend,
                    &[
                        &["meta", "2023-01-01", "2023-01-31", "300", "60", "CA", "100"],
                        &["Meta", "2024-01-08", "2024-01-14", "300", "60", "CA", "100"],
                        &[
                            "tiktok",
                            "2024-01-08",
                            "2024-01-14",
                            "300",
                            "60",
                            "CA",
                            "100",
                        ],
                        &["meta", "2024-01-08", "2024-01-14", "300", "60", "CA", "100"],
                    ],
                ),
                path,
            )
            .unwrap();
            let (kept, notes) = lift_tests_with_notes(&data, &rows, path).unwrap();
            assert_eq!(kept, tests[..1], "{notes:?}");
            assert_eq!(notes.len(), 3, "{notes:?}");
            for (note, needle) in notes.iter().zip([
                "row 1 of tests.csv (`meta`, 2023-01-01 to 2023-01-31) was set aside: its window is outside the data's days",
                "row 2 of tests.csv (`Meta`, 2024-01-08 to 2024-01-14) was set aside: `Meta` is not a channel of the data",
                "row 3 of tests.csv (`tiktok`",
            ]) {
                assert!(note.contains(needle), "{note}");
            }
            assert!(notes[1].contains("(the data spell it `meta`)"), "{notes:?}");
        }
        // A holdout (the channel off in the window): its return, 300 over the 100 it
        // withheld, measures the return over all the data's days (3 × 60 × 50), with a
        // note; without the spend it withheld it has no return (it was "the model said
        // 0 ± 0", accepted without a word, or refused when the return was given).
        let holdout = |spend: &str| {
            lift_tests_from_table(
                &table(
                    &with_spend,
                    &[&["meta", "2024-03-02", "2024-03-08", "300", "60", "", spend]],
                ),
                path,
            )
            .unwrap()
        };
        let (tests, notes) = lift_tests_with_notes(&data, &holdout("100"), path).unwrap();
        assert_eq!((tests[0].start, tests[0].end), (first, first + n - 1));
        assert!(
            (tests[0].incremental_revenue - 9000.0).abs() < 1e-6,
            "{tests:?}"
        );
        assert!((tests[0].standard_error - 1800.0).abs() < 1e-6, "{tests:?}");
        assert!(notes[0].contains("is a holdout"), "{notes:?}");
        let e = lift_tests(&data, &holdout(""), path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 1") && e.contains("`spend`") && e.contains("(a holdout)"),
            "{e}"
        );
    }
    /// Dates are `YYYY-MM-DD` with a four-digit year; a timestamp column's midnight is
    /// that day, another time of day an error naming its row.
    #[test]
    fn dates_need_four_digit_years_and_no_time_of_day() {
        let path = Path::new("shop.csv");
        let one = |d: &str| {
            let days: &[&[&str]] = &[&[d, "10"]];
            business_outcome_from_table(&table(&["date", "revenue"], days), path)
        };
        assert_eq!(
            one("2024-01-05").unwrap().dates[0].to_string(),
            "2024-01-05"
        );
        assert_eq!(
            one("2024-01-05T00:00:00").unwrap().dates[0].to_string(),
            "2024-01-05"
        );
        for (d, why) in [
            ("24-01-05", "is not a date"),
            ("0024-01-05x", "is not a date"),
            ("2024-01-05T15:00:00", "has a time of day"),
        ] {
            let e = one(d).unwrap_err().to_string();
            assert!(
                e.contains("row 1") && e.contains(d) && e.contains(why),
                "{e}"
            );
        }
    }

    /// With geos, every geo needs every day (a missing one would lower that day's total
    /// silently) and an empty geo is no geo.
    #[test]
    fn every_geo_needs_every_day() {
        let path = Path::new("shop.csv");
        let head = ["date", "revenue", "geo"];
        let full: &[&[&str]] = &[
            &["2024-01-01", "10", "CA"],
            &["2024-01-01", "5", "NY"],
            &["2024-01-02", "12", "CA"],
            &["2024-01-02", "6", "NY"],
        ];
        let outcome = business_outcome_from_table(&table(&head, full), path).unwrap();
        assert_eq!(
            (outcome.revenue.clone(), outcome.geos),
            (vec![15.0, 18.0], 2)
        );
        let e = business_outcome_from_table(&table(&head, &full[..3]), path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("shop.csv") && e.contains("geo `NY` has no row for 2024-01-02"),
            "{e}"
        );
        let blank: &[&[&str]] = &[&["2024-01-01", "10", "CA"], &["2024-01-01", "5", " "]];
        let e = business_outcome_from_table(&table(&head, blank), path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 2") && e.contains("`geo`") && e.contains("is empty"),
            "{e}"
        );
    }

    /// Revenue in another currency or unit than the spend is warned of: a `currency`
    /// column of the business file that differs from the platform table's, and business
    /// revenue 288× what the platforms report (cents against units: returns came out at
    /// 178 against a true 2.0 with no word).
    #[test]
    fn another_currency_or_unit_than_the_spend_is_warned_of() {
        let calendar = liftos_calendar::CalendarOptions::default();
        let path = Path::new("unified.csv");
        let day = |k: u64| NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(k);
        let rows: Vec<Vec<String>> = (0..70)
            .map(|k| {
                vec![
                    day(k).to_string(),
                    "meta".into(),
                    "USD".into(),
                    format!("{}", 40 + k % 7),
                    "80".into(),
                ]
            })
            .collect();
        let refs: Vec<Vec<&str>> = rows
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect();
        let refs: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
        let unified = table(&["date", "channel", "currency", "spend", "revenue"], &refs);
        let outcome = |revenue: f64, currencies: &[&str]| BusinessOutcome {
            dates: (0..70).map(day).collect(),
            revenue: vec![revenue; 70],
            geos: 1,
            currencies: currencies.iter().map(|c| (*c).to_owned()).collect(),
        };
        let notes = |o: &BusinessOutcome| business_data(&unified, path, o, &calendar).unwrap().1;
        assert!(notes(&outcome(200.0, &["USD"])).is_empty());
        let n = notes(&outcome(200.0, &["EUR"]));
        assert!(
            n.iter()
                .any(|x| x.contains("revenue is in EUR but the channels' spend in USD")),
            "{n:?}"
        );
        let n = notes(&outcome(200.0 * 100.0, &[]));
        assert!(
            n.iter()
                .any(|x| x.contains("250× the revenue the platforms report")),
            "{n:?}"
        );
    }

    /// The unified table's rows against the outcome's days: days of the outcome the table
    /// does not reach are refused (no spend data is not zero spend), rows of the table
    /// beyond the outcome are left out with a note, and an empty spend or channel is one
    /// error naming its row.
    #[test]
    fn the_tables_days_and_cells_are_checked_against_the_outcome() {
        let calendar = liftos_calendar::CalendarOptions::default();
        let day = |k: u64| NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(k);
        let outcome = |from: u64, days: u64| BusinessOutcome {
            dates: (from..from + days).map(day).collect(),
            revenue: vec![1000.0; days as usize],
            geos: 1,
            currencies: Vec::new(),
        };
        let head = ["date", "channel", "spend", "revenue"];
        let rows: Vec<[String; 4]> = (0..70)
            .map(|k| {
                [
                    day(k).to_string(),
                    "meta".into(),
                    format!("{}", 40 + k % 7),
                    "80".into(),
                ]
            })
            .collect();
        let unified = |rows: &[[String; 4]]| {
            let refs: Vec<Vec<&str>> = rows
                .iter()
                .map(|r| r.iter().map(String::as_str).collect())
                .collect();
            let refs: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
            table(&head, &refs)
        };
        let path = Path::new("unified.csv");
        let (data, notes) =
            business_data(&unified(&rows), path, &outcome(0, 70), &calendar).unwrap();
        assert_eq!((data.dates.len(), notes.len()), (70, 0));
        let mut twice = rows.clone();
        twice.push(rows[3].clone());
        let (_, notes) = business_data(&unified(&twice), path, &outcome(0, 70), &calendar).unwrap();
        assert!(
            notes[0].starts_with(
                "1 row(s) of unified.csv repeat another row's date, channel (e.g. rows 4 and 71)"
            ),
            "{notes:?}"
        );
        let (data, notes) =
            business_data(&unified(&rows), path, &outcome(10, 60), &calendar).unwrap();
        assert_eq!(data.dates.len(), 60);
        assert!(
            notes[0].starts_with("10 row(s) of unified.csv fall outside"),
            "{notes:?}"
        );
        let e = business_data(&unified(&rows), path, &outcome(20, 60), &calendar)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run from 2024-01-01 to 2024-03-10")
                && e.contains("2024-01-21 to 2024-03-20"),
            "{e}"
        );
        for (field, column) in [("spend", 2), ("channel", 1)] {
            let mut holed = rows.clone();
            holed[4][column] = String::new();
            let e = business_data(&unified(&holed), path, &outcome(0, 70), &calendar)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("unified.csv")
                    && e.contains("row 5")
                    && e.contains(&format!("`{field}`")),
                "{e}"
            );
        }
    }
}
