//! `clean_data`: fixes that make a unified table usable, losing nothing silently.

use std::borrow::Cow;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, PrimitiveArray,
    RecordBatch, StringArray, StringBuilder, UInt32Array, UInt64Array,
};
use arrow::compute::take;
use arrow::datatypes::{ArrowPrimitiveType, DataType, Field, Schema, SchemaRef, TimeUnit};
use rayon::prelude::*;
use regex::Regex;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::frame::{self, FLOAT_COLUMNS, Frame, INT_COLUMNS, TEXT_COLUMNS};
use crate::parse;
use crate::unified::{self, *};
use crate::unify::quarantine_schema;
use crate::{Error, Result, Transformer};

/// The fixes [`clean_data`] can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fix {
    /// Drop exact duplicates; for one natural key with different values keep the latest pull.
    RemoveDuplicates,
    /// Insert zero-activity rows for missing days inside each campaign's flight.
    FillMissingDates,
    /// Convert money to a reporting currency with a rates table.
    StandardizeCurrency,
    /// Trim, collapse whitespace, NFKC, case-fold and strip patterns from campaign names.
    NormalizeCampaignNames,
}

impl Fix {
    /// Every fix, in the order [`clean_data`] applies them.
    pub const ALL: [Fix; 4] = [
        Fix::RemoveDuplicates,
        Fix::NormalizeCampaignNames,
        Fix::StandardizeCurrency,
        Fix::FillMissingDates,
    ];

    /// The fix's snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Fix::RemoveDuplicates => "remove_duplicates",
            Fix::FillMissingDates => "fill_missing_dates",
            Fix::StandardizeCurrency => "standardize_currency",
            Fix::NormalizeCampaignNames => "normalize_campaign_names",
        }
    }
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fix {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Fix::ALL
            .into_iter()
            .find(|f| f.as_str() == s.trim())
            .ok_or_else(|| {
                Error::config(
                    "fix",
                    format!(
                        "unknown fix `{s}` (remove_duplicates, fill_missing_dates, standardize_currency, normalize_campaign_names)"
                    ),
                )
            })
    }
}

/// Options of `normalize_campaign_names`.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `nfkc` | `true` | Unicode NFKC normalization (full-width → ASCII, ligatures, ...) | bool |
/// | `case_fold` | `true` | lower-case (Unicode) | bool |
/// | `strip_patterns` | empty | regexes whose matches are removed (e.g. `"\\s*\\[test\\]"`, `"_v\\d+$"`) | valid `regex` syntax |
///
/// Whitespace is always trimmed and collapsed to single spaces, before and after the
/// patterns are stripped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NameNormalization {
    /// Unicode NFKC.
    pub nfkc: bool,
    /// Lower-case.
    pub case_fold: bool,
    /// Regexes whose matches are removed.
    pub strip_patterns: Vec<String>,
}

impl Default for NameNormalization {
    fn default() -> Self {
        NameNormalization {
            nfkc: true,
            case_fold: true,
            strip_patterns: Vec::new(),
        }
    }
}

impl NameNormalization {
    /// Adds a regex whose matches are removed.
    pub fn with_strip_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.strip_patterns.push(pattern.into());
        self
    }

    /// Turns case folding on or off.
    pub fn with_case_fold(mut self, on: bool) -> Self {
        self.case_fold = on;
        self
    }

    /// Validates the patterns and builds the normalizer.
    pub fn build(&self) -> Result<NameNormalizer> {
        let patterns = self
            .strip_patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Regex::new(p)
                    .map_err(|e| Error::config(format!("strip_patterns[{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(NameNormalizer {
            options: self.clone(),
            patterns,
        })
    }
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A validated [`NameNormalization`]; also a [`Transformer`] that rewrites `campaign` and
/// keeps the original name in `_campaign_original`.
#[derive(Debug, Clone)]
pub struct NameNormalizer {
    options: NameNormalization,
    patterns: Vec<Regex>,
}

impl NameNormalizer {
    /// Normalizes one name.
    pub fn normalize(&self, name: &str) -> String {
        let mut s: String = if self.options.nfkc {
            name.nfkc().collect()
        } else {
            name.to_owned()
        };
        s = collapse_whitespace(&s);
        if !self.patterns.is_empty() {
            for p in &self.patterns {
                s = p.replace_all(&s, "").into_owned();
            }
            s = collapse_whitespace(&s);
        }
        if self.options.case_fold {
            s = s.to_lowercase();
        }
        s
    }

    /// Normalizes every name (each distinct name once): per row, the index of its
    /// rewrite in the returned list, or [`UNCHANGED`] (also for nulls).
    fn rewrites(&self, names: &StringArray) -> (Vec<u32>, Vec<String>) {
        // Distinct name → index of its rewrite (UNCHANGED: none); a run of one name is
        // looked up once, and no cell allocates.
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut rewrites: Vec<String> = Vec::new();
        let mut last: Option<(&str, u32)> = None;
        let ids = names
            .iter()
            .map(|v| {
                let Some(v) = v else { return UNCHANGED };
                match last {
                    Some((l, i)) if l == v => i,
                    _ => {
                        let i = *index.entry(v).or_insert_with(|| {
                            let n = self.normalize(v);
                            if n == v {
                                UNCHANGED
                            } else {
                                rewrites.push(n);
                                (rewrites.len() - 1) as u32
                            }
                        });
                        last = Some((v, i));
                        i
                    }
                }
            })
            .collect();
        (ids, rewrites)
    }

    /// Normalizes every name (each distinct name once); returns the new names and how
    /// many changed.
    fn normalize_array(&self, names: &StringArray) -> (StringArray, usize) {
        let (ids, rewrites) = self.rewrites(names);
        let all: Vec<u32> = (0..names.len() as u32).collect();
        let changed = ids.iter().filter(|&&i| i != UNCHANGED).count();
        (rewritten(names, &ids, &rewrites, &all), changed)
    }
}

/// A row whose name [`NameNormalizer::rewrites`] leaves as it is.
const UNCHANGED: u32 = u32::MAX;

/// The names of rows `src`, rewritten where `ids` says so.
fn rewritten(names: &StringArray, ids: &[u32], rewrites: &[String], src: &[u32]) -> StringArray {
    let mut out = StringBuilder::with_capacity(
        src.len(),
        names.value_data().len().min(src.len().saturating_mul(32)),
    );
    for &r in src {
        let r = r as usize;
        match ids[r] {
            UNCHANGED if names.is_null(r) => out.append_null(),
            UNCHANGED => out.append_value(names.value(r)),
            i => out.append_value(&rewrites[i as usize]),
        }
    }
    out.finish()
}

impl Transformer for NameNormalizer {
    fn name(&self) -> &str {
        "normalize_campaign_names"
    }

    fn output_schema(&self, input: &Schema) -> Result<SchemaRef> {
        let mut fields: Vec<Field> = Vec::new();
        let mut found = false;
        for f in input.fields() {
            if f.name() == CAMPAIGN_ORIGINAL {
                continue;
            }
            if f.name() == CAMPAIGN {
                if !matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) {
                    return Err(Error::wrong_type("table", CAMPAIGN, "Utf8", f.data_type()));
                }
                found = true;
                fields.push(Field::new(CAMPAIGN, DataType::Utf8, f.is_nullable()));
            } else {
                fields.push((**f).clone());
            }
        }
        if !found {
            return Err(Error::MissingColumn {
                table: "table".to_owned(),
                column: CAMPAIGN.to_owned(),
            });
        }
        fields.push(Field::new(CAMPAIGN_ORIGINAL, DataType::Utf8, true));
        Ok(Arc::new(Schema::new(fields)))
    }

    fn transform(&self, table: &RecordBatch) -> Result<RecordBatch> {
        let schema = self.output_schema(table.schema_ref())?;
        let names = parse::to_utf8(
            "table",
            CAMPAIGN,
            table
                .column_by_name(CAMPAIGN)
                .ok_or_else(|| Error::MissingColumn {
                    table: "table".to_owned(),
                    column: CAMPAIGN.to_owned(),
                })?,
        )?;
        let original = match table.column_by_name(CAMPAIGN_ORIGINAL) {
            Some(o) => parse::to_utf8("table", CAMPAIGN_ORIGINAL, o)?,
            None => names.clone(),
        };
        let (normalized, _) = self.normalize_array(&names);
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (f, c) in table.schema().fields().iter().zip(table.columns()) {
            if f.name() == CAMPAIGN_ORIGINAL {
                continue;
            }
            if f.name() == CAMPAIGN {
                columns.push(Arc::new(normalized.clone()));
            } else {
                columns.push(c.clone());
            }
        }
        columns.push(Arc::new(original));
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// Exchange rates: `rate` = units of the reporting currency for one unit of `currency`
/// on `date`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateTable {
    rates: HashMap<String, DayRates>,
}

/// One currency's rates by epoch day.
type DayRates = HashMap<i32, f64>;

impl RateTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one rate (replacing any rate of the same date and currency).
    pub fn with_rate(mut self, date: chrono::NaiveDate, currency: &str, rate: f64) -> Self {
        self.insert(parse::date_to_days(date), currency, rate);
        self
    }

    fn insert(&mut self, days: i32, currency: &str, rate: f64) {
        self.rates
            .entry(currency_code(currency))
            .or_default()
            .insert(days, rate);
    }

    /// Reads a table with columns `date`, `currency`, `rate` (text is parsed). A row with
    /// a missing or unparseable value, or a rate that is not finite and > 0, is an error
    /// naming the row; so are two different rates for one date and currency (naming
    /// both rows, the date and the currency: neither is taken over the other). The same
    /// rate given twice is one rate.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] at `rates data row N` (`rates data rows N and M`), counted from
    /// 1 at the first row after a file's header; [`Error::MissingColumn`] and
    /// [`Error::WrongType`] for a column that is absent or not dates, text or numbers.
    pub fn from_batch(batch: &RecordBatch) -> Result<Self> {
        let get = |c: &str| {
            batch.column_by_name(c).ok_or_else(|| Error::MissingColumn {
                table: "rates".to_owned(),
                column: c.to_owned(),
            })
        };
        let dates = parse::to_date32("rates", "date", get("date")?, None, None)?.array;
        let currencies = parse::to_utf8("rates", "currency", get("currency")?)?;
        let rates = parse::to_f64("rates", "rate", get("rate")?, None, None)?.array;
        let mut table = RateTable::new();
        // The first row of each (currency, day), to name it beside a conflicting one.
        let mut first_rows: HashMap<(String, i32), usize> = HashMap::new();
        for r in 0..batch.num_rows() {
            let ok = dates.is_valid(r)
                && currencies.is_valid(r)
                && !parse::is_blank(currencies.value(r))
                && rates.is_valid(r)
                && rates.value(r).is_finite()
                && rates.value(r) > 0.0;
            if !ok {
                return Err(Error::config(
                    format!("rates data row {}", r + 1),
                    "needs a date, a currency and a finite rate > 0",
                ));
            }
            let (day, code, rate) = (
                dates.value(r),
                currency_code(currencies.value(r)),
                rates.value(r),
            );
            match first_rows.entry((code, day)) {
                std::collections::hash_map::Entry::Occupied(seen) => {
                    let first = *seen.get();
                    let earlier = rates.value(first);
                    if earlier != rate {
                        let (code, _) = seen.key();
                        return Err(Error::config(
                            format!("rates data rows {} and {}", first + 1, r + 1),
                            format!(
                                "two different rates for {code} on {} ({earlier} and {rate}); give one rate per date and currency",
                                parse::format_days(day)
                            ),
                        ));
                    }
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    table.insert(day, &v.key().0, rate);
                    v.insert(r);
                }
            }
        }
        Ok(table)
    }

    /// Number of (date, currency) rates.
    pub fn len(&self) -> usize {
        self.rates.values().map(HashMap::len).sum()
    }

    /// Whether the table holds no rate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Options of `standardize_currency`.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrencyConversion {
    /// ISO 4217 code money is converted to.
    pub reporting_currency: String,
    /// The rates (reporting units per unit of each currency, per date).
    pub rates: RateTable,
}

impl CurrencyConversion {
    /// Converts to `reporting_currency` with `rates`.
    pub fn new(reporting_currency: impl Into<String>, rates: RateTable) -> Self {
        CurrencyConversion {
            reporting_currency: currency_code(&reporting_currency.into()),
            rates,
        }
    }
}

/// Default [`Fixes::max_fill_gap_days`]: a year.
pub const DEFAULT_MAX_FILL_GAP_DAYS: u32 = 366;
/// Default [`Fixes::max_filled_rows`].
pub const DEFAULT_MAX_FILLED_ROWS: usize = 5_000_000;

/// Which fixes [`clean_data`] applies, with their options.
///
/// | Name | Default | Meaning |
/// |---|---|---|
/// | `remove_duplicates` | `true` | drop exact duplicates; one natural key with different values: the latest pull wins (the others dropped), or without a later `_pulled_at` the later row (the others quarantined) |
/// | `normalize_campaign_names` | `Some(default)` | rewrite campaign names, original kept in `_campaign_original` |
/// | `standardize_currency` | `None` | convert spend and revenue to a reporting currency (needs rates) |
/// | `fill_missing_dates` | `true` | insert zero-activity rows inside each campaign's flight, `_filled = true` (never on a day whose row is in the quarantine) |
/// | `latest_date` | `None` | a row dated after it (a typo such as 9999-12-31) is quarantined, never filled up to; the CLI passes tomorrow (UTC) | any date |
/// | `max_fill_gap_days` | `366` | a gap longer than this is left unfilled and counted in the change log | ≥ 1 |
/// | `max_filled_rows` | `5_000_000` | filling that would insert more rows is an error (no output) | ≥ 0 |
///
/// The fixes run in this order, after rows with unusable values are quarantined.
#[derive(Debug, Clone)]
pub struct Fixes {
    /// `remove_duplicates`.
    pub remove_duplicates: bool,
    /// `normalize_campaign_names` and its options.
    pub normalize_campaign_names: Option<NameNormalization>,
    /// `standardize_currency` and its options.
    pub standardize_currency: Option<CurrencyConversion>,
    /// `fill_missing_dates`.
    pub fill_missing_dates: bool,
    /// Rows dated after this day are quarantined as implausible.
    pub latest_date: Option<chrono::NaiveDate>,
    /// Longest gap (in days) `fill_missing_dates` fills.
    pub max_fill_gap_days: u32,
    /// Most rows `fill_missing_dates` may insert.
    pub max_filled_rows: usize,
}

impl Default for Fixes {
    fn default() -> Self {
        Fixes {
            remove_duplicates: true,
            normalize_campaign_names: Some(NameNormalization::default()),
            standardize_currency: None,
            fill_missing_dates: true,
            latest_date: None,
            max_fill_gap_days: DEFAULT_MAX_FILL_GAP_DAYS,
            max_filled_rows: DEFAULT_MAX_FILLED_ROWS,
        }
    }
}

impl Fixes {
    /// No fix: only rows with unusable values are quarantined.
    pub fn none() -> Self {
        Fixes {
            remove_duplicates: false,
            normalize_campaign_names: None,
            standardize_currency: None,
            fill_missing_dates: false,
            latest_date: None,
            max_fill_gap_days: DEFAULT_MAX_FILL_GAP_DAYS,
            max_filled_rows: DEFAULT_MAX_FILLED_ROWS,
        }
    }

    /// All four fixes, converting money with `conversion`.
    pub fn all(conversion: CurrencyConversion) -> Self {
        Fixes::default().with_currency(conversion)
    }

    liftos_core::setters! {
        /// Turns `remove_duplicates` on or off.
        with_remove_duplicates(on: bool) => self.remove_duplicates = on;
        /// Quarantines rows dated after `date` (implausible: a typo, a far-future date).
        with_latest_date(date: chrono::NaiveDate) => self.latest_date = Some(date);
    }

    /// Sets the longest gap `fill_missing_dates` fills and the most rows it may insert.
    pub fn with_fill_limits(mut self, max_gap_days: u32, max_rows: usize) -> Self {
        self.max_fill_gap_days = max_gap_days;
        self.max_filled_rows = max_rows;
        self
    }

    liftos_core::setters! {
        /// Turns `fill_missing_dates` on or off.
        with_fill_missing_dates(on: bool) => self.fill_missing_dates = on;
        /// Sets (`Some`) or turns off (`None`) `normalize_campaign_names`.
        with_name_normalization(options: Option<NameNormalization>)
            => self.normalize_campaign_names = options;
        /// Turns on `standardize_currency`.
        with_currency(conversion: CurrencyConversion)
            => self.standardize_currency = Some(conversion);
    }

    /// Fixes named in a comma-separated list (as `liftos clean --fix`), e.g.
    /// `remove_duplicates,fill_missing_dates`. `standardize_currency` needs `conversion`.
    pub fn from_list(list: &str, conversion: Option<CurrencyConversion>) -> Result<Self> {
        let mut fixes = Fixes::none();
        let mut conversion = conversion;
        for name in list.split(',').filter(|s| !s.trim().is_empty()) {
            match name.parse::<Fix>()? {
                Fix::RemoveDuplicates => fixes.remove_duplicates = true,
                Fix::FillMissingDates => fixes.fill_missing_dates = true,
                Fix::NormalizeCampaignNames => {
                    fixes.normalize_campaign_names = Some(NameNormalization::default());
                }
                Fix::StandardizeCurrency => {
                    fixes.standardize_currency = Some(conversion.take().ok_or_else(|| {
                        Error::config(
                            "fix",
                            "standardize_currency needs a reporting currency and a rates table",
                        )
                    })?);
                }
            }
        }
        Ok(fixes)
    }
}

/// What a change did to rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// Rows removed from the table (duplicates), counted here.
    Dropped,
    /// Rows moved to the quarantine table, with a reason.
    Quarantined,
    /// Rows inserted.
    Filled,
    /// Rows whose values were rewritten.
    Modified,
    /// Gaps `fill_missing_dates` left unfilled (too long), or days it left unfilled
    /// because their row is in the quarantine, counted here; no row changes.
    Unfilled,
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The fix (or `quarantine_unusable_values`).
    pub fix: String,
    /// What happened to the rows.
    pub action: ChangeAction,
    /// How many rows.
    pub rows_affected: usize,
    /// One sentence of detail.
    pub detail: String,
}

/// The output of [`clean_data`].
#[derive(Debug, Clone)]
pub struct Cleaned {
    /// The clean table: unified columns with unified types, breakdowns, metadata,
    /// `_campaign_original` (with name normalization) and `_filled` (with date filling).
    pub table: RecordBatch,
    /// Rows that cannot be used: `_stage`, `_row` (the row's 0-based index in the input
    /// table), `_reason`, then the input columns as text.
    pub quarantine: RecordBatch,
    /// What each step did, in order.
    pub change_log: Vec<Change>,
    /// Rows in the input table.
    pub rows_in: usize,
    /// Sum of the input's `spend` and `revenue` values that read as finite numbers
    /// (text with the column's decimal separator, as cleaning reads it), in row order.
    pub input_totals: (f64, f64),
    /// How ambiguous text columns were read (dates month first, `1,234` as thousands),
    /// as `unify` notes them: date, then money and count columns.
    pub notes: Vec<String>,
}

/// Row accounting of a [`Cleaned`]: `rows_in = rows_out − filled + quarantined + dropped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RowAccounting {
    /// Input rows.
    pub rows_in: usize,
    /// Output rows (including filled ones).
    pub rows_out: usize,
    /// Rows inserted by `fill_missing_dates`.
    pub filled: usize,
    /// Rows quarantined.
    pub quarantined: usize,
    /// Duplicate rows dropped.
    pub dropped_duplicates: usize,
}

impl RowAccounting {
    /// The accounting of `rows_in` rows cleaned into `rows_out` with `change_log`.
    pub(crate) fn from_log(rows_in: usize, rows_out: usize, change_log: &[Change]) -> Self {
        let sum = |a: ChangeAction| {
            change_log
                .iter()
                .filter(|c| c.action == a)
                .map(|c| c.rows_affected)
                .sum()
        };
        RowAccounting {
            rows_in,
            rows_out,
            filled: sum(ChangeAction::Filled),
            quarantined: sum(ChangeAction::Quarantined),
            dropped_duplicates: sum(ChangeAction::Dropped),
        }
    }

    /// Whether every input row is accounted for.
    pub fn balances(&self) -> bool {
        self.rows_in + self.filled == self.rows_out + self.quarantined + self.dropped_duplicates
    }
}

impl Cleaned {
    /// Row accounting, from the tables and the change log.
    pub fn accounting(&self) -> RowAccounting {
        RowAccounting::from_log(self.rows_in, self.table.num_rows(), &self.change_log)
    }

    /// The change log as a table (fix, action, rows_affected, detail).
    pub fn change_log_table(&self) -> Result<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("fix", DataType::Utf8, false),
            Field::new("action", DataType::Utf8, false),
            Field::new("rows_affected", DataType::UInt64, false),
            Field::new("detail", DataType::Utf8, false),
        ]));
        let action = |a: ChangeAction| match a {
            ChangeAction::Dropped => "dropped",
            ChangeAction::Quarantined => "quarantined",
            ChangeAction::Filled => "filled",
            ChangeAction::Modified => "modified",
            ChangeAction::Unfilled => "unfilled",
        };
        Ok(RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(
                    self.change_log.iter().map(|c| &c.fix),
                )),
                Arc::new(StringArray::from_iter_values(
                    self.change_log.iter().map(|c| action(c.action)),
                )),
                Arc::new(UInt64Array::from_iter_values(
                    self.change_log.iter().map(|c| c.rows_affected as u64),
                )),
                Arc::new(StringArray::from_iter_values(
                    self.change_log.iter().map(|c| &c.detail),
                )),
            ],
        )?)
    }
}

struct Quarantine {
    entries: Vec<(&'static str, u32, String)>,
}

impl Quarantine {
    fn push(&mut self, stage: &'static str, row: u32, reason: String) {
        self.entries.push((stage, row, reason));
    }
}

/// Ordering key of the load-order column: larger = later pull. Nulls are oldest.
fn pulled_order(table: &RecordBatch) -> Result<Option<Vec<i64>>> {
    let Some(col) = table.column_by_name(PULLED_AT) else {
        return Ok(None);
    };
    let rows = col.len();
    let dt = col.data_type();
    let values: Vec<i64> = match dt {
        DataType::Timestamp(_, tz) => {
            let c =
                arrow::compute::cast(col, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?;
            let c = c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            (0..rows)
                .map(|r| if c.is_valid(r) { c.value(r) } else { i64::MIN })
                .collect()
        }
        dt if dt.is_integer() || dt.is_temporal() => {
            let c = arrow::compute::cast(col, &DataType::Int64)?;
            let c = c.as_primitive::<arrow::datatypes::Int64Type>();
            (0..rows)
                .map(|r| if c.is_valid(r) { c.value(r) } else { i64::MIN })
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let c = arrow::compute::cast(col, &DataType::Timestamp(TimeUnit::Microsecond, None))
                .or_else(|_| {
                    // Not all cells are timestamps: parse those that are, nulls for the rest.
                    arrow::compute::cast_with_options(
                        col,
                        &DataType::Timestamp(TimeUnit::Microsecond, None),
                        &arrow::compute::CastOptions {
                            safe: true,
                            ..Default::default()
                        },
                    )
                })?;
            let c = c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            (0..rows)
                .map(|r| if c.is_valid(r) { c.value(r) } else { i64::MIN })
                .collect()
        }
        other => {
            return Err(Error::wrong_type(
                "table",
                PULLED_AT,
                "a timestamp, date, integer or text timestamp",
                other,
            ));
        }
    };
    Ok(Some(values))
}

/// Cleans a unified table (columns may still be text, e.g. from a CSV).
///
/// Steps, in order:
///
/// 1. Rows with unusable values go to quarantine (`clean:unusable_values`): a missing or
///    unparseable date or metric, empty channel/campaign/currency, NaN or infinite
///    money, negative metrics. The reason names each bad cell.
/// 2. `remove_duplicates`: rows sharing the natural key (date, channel, account_id,
///    campaign, ad_group, breakdowns; the campaign is `campaign_id`, or the name where
///    the id is null). Identical rows are exact duplicates, dropped and counted;
///    otherwise the row with the largest `_pulled_at` wins and the rows pulled before it
///    are dropped and counted (a restatement). Rows with other values and nothing saying
///    which is newer (no `_pulled_at`, or the same one) keep the later row in load order
///    and go to quarantine (`clean:remove_duplicates`): which
///    is right is not known, so the other is not thrown away.
/// 3. `normalize_campaign_names` (the original kept in `_campaign_original`).
/// 4. `standardize_currency`: `spend` and `revenue` × rate of (date, currency); a row
///    without a rate goes to quarantine (`clean:standardize_currency`), never guessed.
/// 5. `fill_missing_dates`: for each campaign series (natural key without the date),
///    every missing day between its first and last date gets a row with zero spend,
///    impressions, clicks, conversions and revenue, the series' key, name and currency,
///    and `_filled = true`. Filled rows follow the original rows. A day with a quarantined
///    row of the series is not missing (its row is in the quarantine) and is not filled;
///    the change log counts such days (`unfilled`).
///
/// The invariant `rows in = rows out − filled + quarantined + dropped duplicates` holds
/// and every removed row is counted in the change log ([`Cleaned::accounting`]).
///
/// # Errors
///
/// A missing unified column, a column whose type cannot hold its unified type, an
/// invalid option (strip pattern).
pub fn clean_data(table: &RecordBatch, fixes: &Fixes) -> Result<Cleaned> {
    match clean_impl(table, fixes, None)? {
        CleanOutcome::Done(cleaned, _) => Ok(cleaned),
        CleanOutcome::FillLimit { total } => Err(fill_limit_error(total, fixes.max_filled_rows)),
    }
}

/// The detail of the change-log entry counting the days `fill_missing_dates` left
/// unfilled because a row of theirs is in the quarantine (logged when there are some,
/// after the unfilled long gaps).
pub(crate) const QUARANTINED_DAYS_UNFILLED: &str =
    "days not filled: their rows are in the quarantine (the day is not missing)";

/// The error of a fill that would insert `total` rows, more than `limit`.
pub(crate) fn fill_limit_error(total: u64, limit: usize) -> Error {
    Error::config(
        "fill_missing_dates",
        format!(
            "filling missing dates would insert {total} rows, more than the limit of {limit} (max_filled_rows); check the dates or turn the fix off"
        ),
    )
}

/// What [`clean_impl`] gives: the cleaned table, or the number of rows filling would
/// insert when that is more than `fixes.max_filled_rows` (nothing filled).
#[derive(Debug)]
pub(crate) enum CleanOutcome {
    Done(Cleaned, CleanDetail),
    FillLimit { total: u64 },
}

/// How the rows of a cleaned table relate to its input, for a table cleaned in parts.
#[derive(Debug, Default)]
pub(crate) struct CleanDetail {
    /// The input row of each output row that is not filled in (in output order).
    pub kept: Vec<u32>,
    /// For each filled row (in output order), the first input row of its campaign series.
    pub filled_series_first: Vec<u32>,
    /// The longest gap left unfilled: the first input row of its series, and the days
    /// before and after the gap.
    pub longest: Option<(u32, i32, i32)>,
}

/// [`clean_data`], with the readings of text columns decided beforehand (see
/// [`Frame::new_read`]), telling where its rows come from.
pub(crate) fn clean_impl(
    table: &RecordBatch,
    fixes: &Fixes,
    readings: Option<&BTreeMap<String, parse::ColumnReading>>,
) -> Result<CleanOutcome> {
    match plan_clean(table, fixes, readings)? {
        Planned::FillLimit { total } => Ok(CleanOutcome::FillLimit { total }),
        Planned::Plan(plan) => {
            let out = plan.output(table, 0..plan.output_rows())?;
            let (cleaned, detail) = plan.into_cleaned(table, out)?;
            Ok(CleanOutcome::Done(cleaned, detail))
        }
    }
}

/// What [`plan_clean`] gives: what the clean decided, or the number of rows filling
/// would insert when that is more than `fixes.max_filled_rows` (nothing filled).
pub(crate) enum Planned {
    Plan(Box<CleanPlan>),
    FillLimit { total: u64 },
}

/// What a clean decided about its input's rows (which are kept and in which order, which
/// days are filled, the rewritten names and the exchange rates), the change log and the
/// quarantine: the output's rows are built from it in ranges ([`CleanPlan::output`]), so
/// a large output can be written range by range instead of held whole.
pub(crate) struct CleanPlan {
    frame: Frame,
    rows: usize,
    kept: Vec<u32>,
    filled: Vec<(u32, i32)>,
    /// Each input row's rewritten name (or `UNCHANGED`), and the rewritten names.
    normalized: Option<(Vec<u32>, Vec<String>)>,
    reporting: Option<String>,
    rate: Vec<f64>,
    converted: Vec<bool>,
    fill: bool,
    log: Vec<Change>,
    quarantine: Quarantine,
    detail: CleanDetail,
}

impl CleanPlan {
    /// Rows of the output: the kept rows, then the filled ones.
    pub(crate) fn output_rows(&self) -> usize {
        self.kept.len() + self.filled.len()
    }

    /// The output rows at `positions` (within `0..output_rows()`) of the clean of
    /// `table` (the table this plan was made for), with the output's columns.
    pub(crate) fn output(
        &self,
        table: &RecordBatch,
        positions: std::ops::Range<usize>,
    ) -> Result<RecordBatch> {
        build_output(
            table,
            &self.frame,
            &self.kept,
            &self.filled,
            positions,
            self.normalized
                .as_ref()
                .map(|(ids, rewrites)| (ids.as_slice(), rewrites.as_slice())),
            self.reporting.as_deref(),
            &self.rate,
            &self.converted,
            self.fill,
        )
    }

    /// The clean of `table` with `out` as its table (the rows [`output`](Self::output)
    /// gives, or none when they were written elsewhere), and where its rows come from.
    pub(crate) fn into_cleaned(
        self,
        table: &RecordBatch,
        out: RecordBatch,
    ) -> Result<(Cleaned, CleanDetail)> {
        let q = build_quarantine(table, self.quarantine)?;
        let mut detail = self.detail;
        detail.kept = self.kept;
        let total = |c: &str| -> f64 {
            self.frame.floats.get(c).map_or(-0.0, |p| {
                p.array.iter().flatten().filter(|v| v.is_finite()).sum()
            })
        };
        let input_totals = (total(SPEND), total(REVENUE));
        let notes = reading_notes(&self.frame);
        Ok((
            Cleaned {
                table: out,
                quarantine: q,
                change_log: self.log,
                rows_in: self.rows,
                input_totals,
                notes,
            },
            detail,
        ))
    }
}

/// The decisions of [`clean_impl`], without building the output.
pub(crate) fn plan_clean(
    table: &RecordBatch,
    fixes: &Fixes,
    readings: Option<&BTreeMap<String, parse::ColumnReading>>,
) -> Result<Planned> {
    let normalizer = fixes
        .normalize_campaign_names
        .as_ref()
        .map(NameNormalization::build)
        .transpose()?;
    let rows = table.num_rows();
    let frame = Frame::new_read("table", table, true, readings)?;
    let pulled = pulled_order(table)?;
    let mut log = Vec::new();
    let mut quarantine = Quarantine {
        entries: Vec::new(),
    };

    // Independent work up front, in parallel: the unusable values, the campaign series
    // ids (shared by duplicate removal, with the date, and date filling) and the
    // rewritten campaign names.
    let campaign = &frame.text[CAMPAIGN];
    let series_cols = frame.series_columns();
    let (reasons, (series, rewrites)) = rayon::join(
        || unusable_reasons(table, &frame),
        || {
            rayon::join(
                || {
                    if fixes.remove_duplicates || fixes.fill_missing_dates {
                        frame::group_ids(&series_cols, rows)
                    } else {
                        Ok((Vec::new(), 0))
                    }
                },
                || normalizer.as_ref().map(|n| n.rewrites(campaign)),
            )
        },
    );
    let series = series?;

    // 1. Unusable values.
    let mut kept: Vec<u32> = Vec::with_capacity(rows - reasons.len());
    let mut next = 0u32;
    for (r, reason) in reasons {
        kept.extend(next..r as u32);
        next = r as u32 + 1;
        quarantine.push("clean:unusable_values", r as u32, reason);
    }
    kept.extend(next..rows as u32);
    log.push(Change {
        fix: "quarantine_unusable_values".to_owned(),
        action: ChangeAction::Quarantined,
        rows_affected: quarantine.entries.len(),
        detail: "rows with a missing, unparseable, non-finite or negative value".to_owned(),
    });

    let date = frame
        .date
        .as_ref()
        .map(|p| &p.array)
        .ok_or_else(|| Error::MissingColumn {
            table: "table".to_owned(),
            column: DATE.to_owned(),
        })?;
    // 1b. Implausible dates: after the latest plausible day (a typo such as 9999-12-31
    // would otherwise be filled up to, day by day).
    if let Some(latest) = fixes.latest_date {
        let latest_days = parse::date_to_days(latest);
        let before = quarantine.entries.len();
        let mut later = Vec::new();
        kept.retain(|&r| {
            let d = date.value(r as usize);
            if d > latest_days {
                later.push((r, d));
                false
            } else {
                true
            }
        });
        for (r, d) in later {
            quarantine.push(
                "clean:implausible_date",
                r,
                format!(
                    "date {} is after {latest}, the latest plausible day (a typo?); not used nor filled up to",
                    parse::format_days(d)
                ),
            );
        }
        log.push(Change {
            fix: "quarantine_implausible_dates".to_owned(),
            action: ChangeAction::Quarantined,
            rows_affected: quarantine.entries.len() - before,
            detail: format!("rows dated after {latest}"),
        });
    }
    // Duplicates (among the rows kept so far), every row's exchange rate and the kept
    // rows' order by campaign and date (for filling) do not depend on each other: they
    // run in parallel, and are applied in turn below (rates and order only for the rows
    // still kept then).
    let currency = &frame.text[CURRENCY];
    let (dups, (rates, order)) = rayon::join(
        || {
            fixes
                .remove_duplicates
                .then(|| {
                    remove_duplicates(
                        &frame,
                        date,
                        &series_cols,
                        &series,
                        pulled.as_deref(),
                        &kept,
                    )
                })
                .transpose()
        },
        || {
            rayon::join(
                || {
                    fixes
                        .standardize_currency
                        .as_ref()
                        .map(|conv| (conv, row_rates(conv, currency, date)))
                },
                || {
                    fixes
                        .fill_missing_dates
                        .then(|| frame::order_by_group_date(&kept, &series.0, date))
                },
            )
        },
    );

    // 2. Duplicates.
    if let Some(d) = dups? {
        kept = d.kept;
        log.push(Change {
            fix: Fix::RemoveDuplicates.as_str().to_owned(),
            action: ChangeAction::Dropped,
            rows_affected: d.exact,
            detail: "exact duplicate rows".to_owned(),
        });
        log.push(Change {
            fix: Fix::RemoveDuplicates.as_str().to_owned(),
            action: ChangeAction::Dropped,
            rows_affected: d.restated,
            detail: format!(
                "rows superseded by a later pull of the same natural key (restatement; latest `{PULLED_AT}`)"
            ),
        });
        if !d.conflicting.is_empty() {
            let stamp = if pulled.is_some() {
                format!("the same `{PULLED_AT}`")
            } else {
                format!("no `{PULLED_AT}` column")
            };
            // The reason names no row number: in parts (`clean_file`) a row's number
            // within its part is not the input's.
            let reason = format!(
                "a later row has the same natural key and other values, and {stamp} says which is newer: the later row was kept"
            );
            for &r in &d.conflicting {
                quarantine.push("clean:remove_duplicates", r, reason.clone());
            }
            log.push(Change {
                fix: Fix::RemoveDuplicates.as_str().to_owned(),
                action: ChangeAction::Quarantined,
                rows_affected: d.conflicting.len(),
                detail: format!(
                    "rows of a natural key with a later row of other values and nothing saying which is newer ({stamp}): the later row kept"
                ),
            });
        }
    }

    // 3. Names.
    let normalized = match rewrites {
        Some((ids, rewrites)) => {
            let changed = kept
                .iter()
                .filter(|&&r| ids[r as usize] != UNCHANGED)
                .count();
            log.push(Change {
                fix: Fix::NormalizeCampaignNames.as_str().to_owned(),
                action: ChangeAction::Modified,
                rows_affected: changed,
                detail: format!(
                    "campaign names rewritten (original kept in `{CAMPAIGN_ORIGINAL}`)"
                ),
            });
            Some((ids, rewrites))
        }
        None => None,
    };

    // 4. Currency.
    let (rate, converted) = match rates {
        Some((conv, rates)) => {
            let before = quarantine.entries.len();
            let mut n_converted = 0;
            kept.retain(|&r| {
                let ri = r as usize;
                if rates.missing[ri] {
                    let code = currency_code(currency.value(ri));
                    quarantine.push(
                        "clean:standardize_currency",
                        r,
                        format!(
                            "no {code}→{} rate for {}",
                            conv.reporting_currency,
                            parse::format_days(date.value(ri))
                        ),
                    );
                    return false;
                }
                n_converted += usize::from(rates.converted[ri]);
                true
            });
            log.push(Change {
                fix: Fix::StandardizeCurrency.as_str().to_owned(),
                action: ChangeAction::Modified,
                rows_affected: n_converted,
                detail: format!("spend and revenue converted to {}", conv.reporting_currency),
            });
            log.push(Change {
                fix: Fix::StandardizeCurrency.as_str().to_owned(),
                action: ChangeAction::Quarantined,
                rows_affected: quarantine.entries.len() - before,
                detail: "rows without an exchange rate for their date and currency".to_owned(),
            });
            (rates.rate, rates.converted)
        }
        None => (vec![1.0f64; rows], vec![false; rows]),
    };

    // 5. Filling: the order of the rows kept before, restricted to the rows kept now.
    let mut filled: Vec<(u32, i32)> = Vec::new();
    let mut detail = CleanDetail::default();
    if let Some(order) = order {
        let series = &series.0;
        // The first row of each series (series ids follow the rows' first appearance).
        let mut first: Vec<u32> = Vec::new();
        for (r, &g) in series.iter().enumerate() {
            if g as usize == first.len() {
                first.push(r as u32);
            }
        }
        let mut is_kept = vec![false; rows];
        for &r in &kept {
            is_kept[r as usize] = true;
        }
        let order: Vec<u32> = order.into_iter().filter(|&r| is_kept[r as usize]).collect();
        // The days of each series that have a quarantined row (sorted): such a day is
        // not missing, its row is in the quarantine, so it is never filled with zeros.
        let mut held: Vec<(u32, i32)> = quarantine
            .entries
            .iter()
            .filter(|e| date.is_valid(e.1 as usize))
            .map(|e| (series[e.1 as usize], date.value(e.1 as usize)))
            .collect();
        held.sort_unstable();
        held.dedup();
        // The quarantined days of series `g` strictly between days `a` and `b`.
        let held_between = |g: u32, a: i32, b: i32| {
            let from = held.partition_point(|&x| x <= (g, a));
            let to = held.partition_point(|&x| x < (g, b));
            &held[from..to.max(from)]
        };
        let mut not_filled_held = 0usize;
        // First count (bounded work and memory: nothing is allocated for a gap that
        // is not filled), then fill.
        let max_gap = i64::from(fixes.max_fill_gap_days);
        let mut total: u64 = 0;
        let mut long_gaps = 0usize;
        let mut longest: Option<(u32, i32, i32)> = None;
        for w in order.windows(2) {
            let (a, b) = (w[0] as usize, w[1] as usize);
            if series[a] == series[b] {
                let gap = i64::from(date.value(b)) - i64::from(date.value(a)) - 1;
                if gap > max_gap {
                    long_gaps += 1;
                    if longest.is_none_or(|(_, x, y)| i64::from(y) - i64::from(x) < gap + 1) {
                        longest = Some((first[series[a] as usize], date.value(a), date.value(b)));
                    }
                } else if gap > 0 {
                    let held = held_between(series[a], date.value(a), date.value(b)).len();
                    total += (gap as u64).saturating_sub(held as u64);
                    not_filled_held += held;
                }
            }
        }
        if total > fixes.max_filled_rows as u64 {
            return Ok(Planned::FillLimit { total });
        }
        filled.reserve(total as usize);
        detail.filled_series_first.reserve(total as usize);
        for w in order.windows(2) {
            let (a, b) = (w[0] as usize, w[1] as usize);
            if series[a] == series[b] {
                let gap = i64::from(date.value(b)) - i64::from(date.value(a)) - 1;
                if gap <= max_gap {
                    let mut held = held_between(series[a], date.value(a), date.value(b))
                        .iter()
                        .map(|&(_, d)| d)
                        .peekable();
                    for d in date.value(a) + 1..date.value(b) {
                        if held.next_if_eq(&d).is_some() {
                            continue;
                        }
                        filled.push((w[0], d));
                        detail.filled_series_first.push(first[series[a] as usize]);
                    }
                }
            }
        }
        detail.longest = longest;
        if let Some((_, from, to)) = longest {
            log.push(Change {
                fix: Fix::FillMissingDates.as_str().to_owned(),
                action: ChangeAction::Unfilled,
                rows_affected: long_gaps,
                detail: format!(
                    "gaps longer than {max_gap} days left unfilled (the longest: {} to {}); check those dates",
                    parse::format_days(from),
                    parse::format_days(to)
                ),
            });
        }
        if not_filled_held > 0 {
            log.push(Change {
                fix: Fix::FillMissingDates.as_str().to_owned(),
                action: ChangeAction::Unfilled,
                rows_affected: not_filled_held,
                detail: QUARANTINED_DAYS_UNFILLED.to_owned(),
            });
        }
        log.push(Change {
            fix: Fix::FillMissingDates.as_str().to_owned(),
            action: ChangeAction::Filled,
            rows_affected: filled.len(),
            detail: format!(
                "zero-activity rows inserted inside campaign flights (`{FILLED}` = true)"
            ),
        });
    }

    Ok(Planned::Plan(Box::new(CleanPlan {
        frame,
        rows,
        kept,
        filled,
        normalized,
        reporting: fixes
            .standardize_currency
            .as_ref()
            .map(|c| c.reporting_currency.clone()),
        rate,
        converted,
        fill: fixes.fill_missing_dates,
        log,
        quarantine,
        detail,
    })))
}

/// The notes of how `frame`'s ambiguous text columns were read: the date, then the
/// money and count columns, each once.
pub(crate) fn reading_notes(frame: &Frame) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    let all = frame
        .date
        .iter()
        .map(|p| &p.note)
        .chain(
            FLOAT_COLUMNS
                .iter()
                .filter_map(|c| frame.floats.get(c).map(|p| &p.note)),
        )
        .chain(
            INT_COLUMNS
                .iter()
                .filter_map(|c| frame.ints.get(c).map(|p| &p.note)),
        );
    for note in all.flatten() {
        if !notes.contains(note) {
            notes.push(note.clone());
        }
    }
    notes
}

/// The currency code of a cell (rates table, reporting currency, rows): trimmed,
/// upper case.
fn currency_code(raw: &str) -> String {
    raw.trim().to_ascii_uppercase()
}

/// Each row's exchange rate to the reporting currency (1 for rows already in it), and
/// whether it was converted or has no rate for its date and currency.
struct RowRates {
    rate: Vec<f64>,
    converted: Vec<bool>,
    missing: Vec<bool>,
}

/// [`RowRates`] of every row, in parallel chunks. A raw currency cell is resolved to
/// its code and rates once per chunk, a run of equal cells (an account's rows) once.
fn row_rates(conv: &CurrencyConversion, currency: &StringArray, date: &Date32Array) -> RowRates {
    let rows = currency.len();
    let mut out = RowRates {
        rate: vec![1.0; rows],
        converted: vec![false; rows],
        missing: vec![false; rows],
    };
    const CHUNK: usize = 1 << 16;
    out.rate
        .par_chunks_mut(CHUNK)
        .zip(out.converted.par_chunks_mut(CHUNK))
        .zip(out.missing.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(k, ((rate, converted), missing))| {
            let mut index: HashMap<&str, usize> = HashMap::new();
            let mut codes: Vec<(bool, Option<&DayRates>)> = Vec::new();
            let mut last: Option<(&str, usize)> = None;
            for (i, ((rate, converted), missing)) in rate
                .iter_mut()
                .zip(converted.iter_mut())
                .zip(missing.iter_mut())
                .enumerate()
            {
                let r = k * CHUNK + i;
                // (Rows without a currency or date were quarantined before.)
                let raw = if currency.is_null(r) {
                    ""
                } else {
                    currency.value(r)
                };
                let at = match last {
                    Some((l, at)) if l == raw => at,
                    _ => {
                        let at = *index.entry(raw).or_insert_with(|| {
                            let code = currency_code(raw);
                            let reporting = code == conv.reporting_currency;
                            codes.push((reporting, conv.rates.rates.get(&code)));
                            codes.len() - 1
                        });
                        last = Some((raw, at));
                        at
                    }
                };
                let (reporting, by_day) = codes[at];
                if reporting {
                    continue;
                }
                let day = date.is_valid(r).then(|| date.value(r));
                match day.and_then(|d| by_day.and_then(|b| b.get(&d).copied())) {
                    Some(x) => {
                        *rate = x;
                        *converted = true;
                    }
                    None => *missing = true,
                }
            }
        });
    out
}

/// Row → why it cannot be used (only the rows that cannot, in row order).
fn unusable_reasons(table: &RecordBatch, frame: &Frame) -> BTreeMap<usize, String> {
    let rows = frame.rows;
    let mut reasons: BTreeMap<usize, String> = BTreeMap::new();
    let mut add = |r: usize, msg: String| match reasons.entry(r) {
        Entry::Occupied(mut e) => {
            let s = e.get_mut();
            s.push_str("; ");
            s.push_str(&msg);
        }
        Entry::Vacant(e) => {
            e.insert(msg);
        }
    };
    let raw = |c: &str, r: usize| {
        table
            .column_by_name(c)
            .map_or_else(String::new, |a| parse::cell_text(a.as_ref(), r))
    };
    if let Some(d) = &frame.date {
        parsed_problems(DATE, d, rows, "a date", &raw, &mut add, |_| None);
    }
    for c in [CHANNEL, CAMPAIGN, CURRENCY] {
        let a = &frame.text[c];
        for r in 0..rows {
            if a.is_null(r) || parse::is_blank(a.value(r)) {
                add(r, format!("missing {c}"));
            }
        }
    }
    // A NUL byte in text (a name, an id) breaks files and tools downstream.
    for c in TEXT_COLUMNS {
        let Some(a) = frame.text.get(c) else {
            continue;
        };
        if memchr::memchr(0, a.values()).is_none() {
            continue;
        }
        for (r, v) in a.iter().enumerate() {
            if v.is_some_and(|v| v.as_bytes().contains(&0)) {
                add(r, format!("{c} contains a NUL byte"));
            }
        }
    }
    for c in FLOAT_COLUMNS {
        parsed_problems(c, &frame.floats[c], rows, "a number", &raw, &mut add, |v| {
            if v.is_nan() {
                Some(format!("{c} is NaN"))
            } else if v.is_infinite() {
                Some(format!("{c} is infinite"))
            } else {
                (v < 0.0).then(|| format!("negative {c} ({v})"))
            }
        });
    }
    for c in INT_COLUMNS {
        parsed_problems(c, &frame.ints[c], rows, "an integer", &raw, &mut add, |v| {
            (v < 0).then(|| format!("negative {c} ({v})"))
        });
    }
    reasons
}

/// Adds the problems of the parsed column `c` to `add`: first each value that did not
/// parse (`{c} '{raw}' is not {what}`), then, row by row, each other value that is
/// missing or that `check` finds wrong.
fn parsed_problems<T: ArrowPrimitiveType>(
    c: &str,
    p: &parse::Parsed<PrimitiveArray<T>>,
    rows: usize,
    what: &str,
    raw: &impl Fn(&str, usize) -> String,
    add: &mut impl FnMut(usize, String),
    check: impl Fn(T::Native) -> Option<String>,
) {
    let mut bad = vec![false; rows];
    for &r in &p.bad {
        bad[r] = true;
        add(r, format!("{c} '{}' is not {what}", raw(c, r)));
    }
    for (r, &was_bad) in bad.iter().enumerate() {
        if was_bad {
            continue;
        }
        if p.array.is_null(r) {
            add(r, format!("missing {c}"));
        } else if let Some(problem) = check(p.array.value(r)) {
            add(r, problem);
        }
    }
}

/// The rows of `kept` without duplicates (per natural key the latest pull, then the
/// last row), and the counts of exact and restated duplicates dropped.
///
/// Hand-written, not a DataFusion plan, because it is faster: on the unified table of 3M
/// raw rows, `clean_data` with only this fix (which also quarantines unusable rows) took
/// 0.51 s where one DataFusion query doing the same (filter, `row_number()` over the
/// natural key, latest row first, kept rows in input order) took 25.7 s, 51× (medians of
/// 3, `transform_engines` in `benches`, release build, 2 cores at load 5–6.6, 2026-12-05;
/// 0.33 s against 5.64 s, 17×, in a second run at load 4.2).
fn remove_duplicates(
    frame: &Frame,
    date: &Date32Array,
    series_cols: &[ArrayRef],
    series: &(Vec<u32>, usize),
    pulled: Option<&[i64]>,
    kept: &[u32],
) -> Result<Deduplicated> {
    let rows = frame.rows;
    let mut key_cols: Vec<ArrayRef> = vec![Arc::new(date.clone())];
    key_cols.extend(series_cols.iter().cloned());
    let (key, n_keys) = frame::refine_ids(&series.0, series.1, &key_cols[0])?;
    // Full-row identity (every unified and breakdown value) only matters between rows of
    // one key, so it is computed for the rows whose key repeats; the others get `NONE`.
    let mut key_rows = vec![0u32; n_keys];
    for &k in &key {
        key_rows[k as usize] += 1;
    }
    let repeated: Vec<u32> = (0..rows as u32)
        .filter(|&r| key_rows[key[r as usize] as usize] > 1)
        .collect();
    let mut full_cols = key_cols;
    for c in TEXT_COLUMNS {
        full_cols.push(Arc::new(frame.text[c].clone()));
    }
    for c in FLOAT_COLUMNS {
        full_cols.push(Arc::new(frame.floats[c].array.clone()));
    }
    for c in INT_COLUMNS {
        full_cols.push(Arc::new(frame.ints[c].array.clone()));
    }
    let picked = UInt32Array::from(repeated.clone());
    let full_cols = full_cols
        .iter()
        .map(|c| take(c.as_ref(), &picked, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let (sub_full, n_full) = frame::group_ids(&full_cols, repeated.len())?;
    let mut full = vec![u32::MAX; rows];
    for (&r, &f) in repeated.iter().zip(&sub_full) {
        full[r as usize] = f;
    }

    const NONE: u32 = u32::MAX;
    let mut winner = vec![NONE; n_keys];
    for &r in kept.iter() {
        let k = key[r as usize] as usize;
        let w = winner[k];
        let later = w == NONE || {
            let (pw, pr) = pulled.map_or((0, 0), |p| (p[w as usize], p[r as usize]));
            (pr, r) >= (pw, w)
        };
        if later {
            winner[k] = r;
        }
    }
    let mut seen_full = vec![false; n_full];
    for &w in winner.iter().filter(|w| **w != NONE) {
        if let Some(seen) = seen_full.get_mut(full[w as usize] as usize) {
            *seen = true;
        }
    }
    let mut out = Deduplicated {
        kept: Vec::with_capacity(kept.len()),
        ..Deduplicated::default()
    };
    for &r in kept {
        let w = winner[key[r as usize] as usize];
        if w == r {
            out.kept.push(r);
            continue;
        }
        let f = full[r as usize] as usize;
        if std::mem::replace(&mut seen_full[f], true) {
            out.exact += 1;
        } else if pulled.is_some_and(|p| p[r as usize] < p[w as usize]) {
            out.restated += 1;
        } else {
            out.conflicting.push(r);
        }
    }
    Ok(out)
}

/// What [`remove_duplicates`] keeps and removes.
#[derive(Debug, Default)]
struct Deduplicated {
    /// The rows kept, in their order.
    kept: Vec<u32>,
    /// Rows identical to a row kept or to an earlier row removed (dropped).
    exact: usize,
    /// Rows of a key pulled again later with other values (a restatement; dropped).
    restated: usize,
    /// Rows whose key has a later row with other values that no later `_pulled_at` makes
    /// the newer (none given, or the same): the later row in load order is kept, and
    /// these go to the quarantine, since which is right is not known.
    conflicting: Vec<u32>,
}

#[allow(clippy::too_many_arguments)]
fn build_output(
    table: &RecordBatch,
    frame: &Frame,
    kept: &[u32],
    filled: &[(u32, i32)],
    positions: std::ops::Range<usize>,
    normalized: Option<(&[u32], &[String])>,
    reporting: Option<&str>,
    rate: &[f64],
    converted: &[bool],
    fill: bool,
) -> Result<RecordBatch> {
    // The output rows are the kept rows, then the filled ones; those at `positions`.
    let n_kept = kept.len();
    let start = positions.start;
    // Output row `i`'s input row, and the day it fills (`None` for a kept row).
    let row_at = |i: usize| -> (u32, Option<i32>) {
        match kept.get(i) {
            Some(&r) => (r, None),
            None => {
                let (r, day) = filled[i - n_kept];
                (r, Some(day))
            }
        }
    };
    let src: UInt32Array = positions.clone().map(|i| row_at(i).0).collect();
    // Metadata of filled rows is null.
    let meta_src: UInt32Array = positions
        .clone()
        .map(|i| match row_at(i) {
            (r, None) => Some(r),
            (_, Some(_)) => None,
        })
        .collect();
    // `i` counts from the first row of `positions`.
    let is_filled = |i: usize| start + i >= n_kept;
    let date = &frame
        .date
        .as_ref()
        .ok_or_else(|| Error::MissingColumn {
            table: "table".to_owned(),
            column: DATE.to_owned(),
        })?
        .array;
    // Output row `i`'s date: its input row's, or the day it fills.
    let day_at = |i: usize| match row_at(i) {
        (r, None) => date.value(r as usize),
        (_, Some(day)) => day,
    };

    let mut fields: Vec<Field> = unified::schema()
        .fields()
        .iter()
        .map(|f| (**f).clone())
        .collect();
    // The unified columns are independent: built in parallel, and with the original
    // campaign names.
    let unified_schema = unified::schema();
    let original = || -> Result<Option<ArrayRef>> {
        if normalized.is_none() {
            return Ok(None);
        }
        let original = match table.column_by_name(CAMPAIGN_ORIGINAL) {
            Some(o) => parse::to_utf8("table", CAMPAIGN_ORIGINAL, o)?,
            None => frame.text[CAMPAIGN].clone(),
        };
        Ok(Some(frame::gather(&[(&original, src.values())])?))
    };
    let (built, original) = rayon::join(
        || {
            unified_schema
                .fields()
                .par_iter()
                .map(|field| -> Result<ArrayRef> {
                    let name = field.name().as_str();
                    let col: ArrayRef = match name {
                        DATE => {
                            Arc::new(Date32Array::from_iter_values(positions.clone().map(day_at)))
                        }
                        CAMPAIGN => match normalized {
                            Some((ids, rewrites)) => Arc::new(rewritten(
                                &frame.text[CAMPAIGN],
                                ids,
                                rewrites,
                                src.values(),
                            )),
                            None => frame::gather(&[(&frame.text[CAMPAIGN], src.values())])?,
                        },
                        CURRENCY => {
                            let cur = &frame.text[CURRENCY];
                            Arc::new(StringArray::from_iter_values(src.values().iter().map(
                                |&r| -> Cow<'_, str> {
                                    let r = r as usize;
                                    match reporting {
                                        Some(rep) if converted[r] => Cow::Borrowed(rep),
                                        Some(_) => {
                                            let code = cur.value(r).trim();
                                            if code.bytes().any(|b| b.is_ascii_lowercase()) {
                                                Cow::Owned(code.to_ascii_uppercase())
                                            } else {
                                                Cow::Borrowed(code)
                                            }
                                        }
                                        None => Cow::Borrowed(cur.value(r)),
                                    }
                                },
                            )))
                        }
                        SPEND | REVENUE | CONVERSIONS => {
                            let a = &frame.floats[name].array;
                            let money = name != CONVERSIONS;
                            Arc::new(Float64Array::from_iter_values(
                                src.values().iter().enumerate().map(|(i, &r)| {
                                    let r = r as usize;
                                    if is_filled(i) {
                                        0.0
                                    } else if money {
                                        a.value(r) * rate[r]
                                    } else {
                                        a.value(r)
                                    }
                                }),
                            ))
                        }
                        IMPRESSIONS | CLICKS => {
                            let a = &frame.ints[name].array;
                            Arc::new(Int64Array::from_iter_values(
                                src.values().iter().enumerate().map(|(i, &r)| {
                                    if is_filled(i) { 0 } else { a.value(r as usize) }
                                }),
                            ))
                        }
                        _ => frame::gather(&[(&frame.text[name], src.values())])?,
                    };
                    Ok(col)
                })
                .collect::<Vec<Result<ArrayRef>>>()
        },
        original,
    );
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len() + 4);
    for col in built {
        columns.push(col?);
    }
    for (name, b) in &frame.breakdowns {
        fields.push(Field::new(name, DataType::Utf8, true));
        columns.push(frame::gather(&[(b, src.values())])?);
    }
    let handled =
        |n: &str| (n == CAMPAIGN_ORIGINAL && normalized.is_some()) || (n == FILLED && fill);
    for (f, c) in table.schema().fields().iter().zip(table.columns()) {
        if unified::is_metadata(f.name()) && !handled(f.name()) {
            fields.push(Field::new(f.name(), f.data_type().clone(), true));
            columns.push(take(c, &meta_src, None)?);
        }
    }
    if let Some(original) = original? {
        fields.push(Field::new(CAMPAIGN_ORIGINAL, DataType::Utf8, true));
        columns.push(original);
    }
    if fill {
        let before = table
            .column_by_name(FILLED)
            .and_then(|c| c.as_boolean_opt().cloned());
        fields.push(Field::new(FILLED, DataType::Boolean, false));
        columns.push(Arc::new(BooleanArray::from_iter(positions.map(|i| {
            Some(
                i >= n_kept
                    || before
                        .as_ref()
                        .is_some_and(|b| b.is_valid(kept[i] as usize) && b.value(kept[i] as usize)),
            )
        }))));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn build_quarantine(table: &RecordBatch, mut q: Quarantine) -> Result<RecordBatch> {
    q.entries.sort_by_key(|e| e.1);
    let schema = quarantine_schema(table.schema().fields().iter().map(|f| f.name().as_str()));
    let idx = UInt32Array::from_iter_values(q.entries.iter().map(|e| e.1));
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(q.entries.iter().map(|e| e.0))),
        Arc::new(UInt64Array::from_iter_values(
            q.entries.iter().map(|e| u64::from(e.1)),
        )),
        Arc::new(StringArray::from_iter_values(
            q.entries.iter().map(|e| e.2.as_str()),
        )),
    ];
    for c in table.columns() {
        let picked = take(c.as_ref(), &idx, None)?;
        columns.push(parse::display_column(picked.as_ref()));
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}
