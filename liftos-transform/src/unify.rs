//! `unify`: several named source tables → one unified table.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, RecordBatch, RecordBatchOptions, StringArray,
    UInt64Array, new_null_array,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::{
    SortColumn, SortOptions, cast, concat_batches, filter, filter_record_batch, lexsort_to_indices,
    take_record_batch,
};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use liftos_core::dates::{from_date32, to_date32};

use rayon::prelude::*;

use crate::frame;
use crate::mapping::{ColumnSpec, SchemaMapping, SourceMapping};
use crate::parse::{self, Parsed};
use crate::unified;
use crate::{Error, Result};

/// Quarantine column: which step set the row aside (`unify:<source>`, `clean:<fix>`).
pub const QUARANTINE_STAGE: &str = "_stage";
/// Quarantine column: the row's 0-based index in the step's input table.
pub const QUARANTINE_ROW: &str = "_row";
/// Quarantine column: why the row cannot be used.
pub const QUARANTINE_REASON: &str = "_reason";

/// The output of [`unify_marketing_data`].
#[derive(Debug, Clone)]
pub struct Unified {
    /// The unified table: [`unified::schema`], then the breakdown columns (nullable Utf8)
    /// in the order first met, then the sources' metadata columns (named `_...`, e.g.
    /// `_pulled_at`) carried through unchanged.
    pub table: RecordBatch,
    /// Rows that could not be unified (an unparseable value, a missing required value),
    /// with `_stage`, `_row` (the row's 0-based index in its source table), `_reason` and
    /// the row's raw values as text.
    pub quarantine: RecordBatch,
    /// How ambiguous or absent values were read, one sentence each, for the user and
    /// the quality report: dates that could be day-first or month-first, documented
    /// defaults used for a missing column (e.g. Klaviyo spend 0).
    pub notes: Vec<String>,
}

impl Unified {
    /// Rows in = `table.num_rows() + quarantine.num_rows()`.
    pub fn rows_in(&self) -> usize {
        self.table.num_rows() + self.quarantine.num_rows()
    }
}

/// The quarantine schema for a table whose columns are `columns`: `_stage`, `_row`,
/// `_reason`, then every column as nullable Utf8.
pub fn quarantine_schema<'a>(columns: impl IntoIterator<Item = &'a str>) -> SchemaRef {
    let mut fields = vec![
        Field::new(QUARANTINE_STAGE, DataType::Utf8, false),
        Field::new(QUARANTINE_ROW, DataType::UInt64, false),
        Field::new(QUARANTINE_REASON, DataType::Utf8, false),
    ];
    fields.extend(
        columns
            .into_iter()
            .map(|c| Field::new(c, DataType::Utf8, true)),
    );
    Arc::new(Schema::new(fields))
}

/// One column of a source, converted, with per-row problems.
struct Mapped {
    array: ArrayRef,
    raw: ArrayRef,
}

/// One text array of `n` copies of `value` for each `(value, n)` of `parts`, in order
/// (`None` when the text would not fit i32 offsets).
fn repeated_text(parts: &[(&str, usize)]) -> Option<StringArray> {
    let rows: usize = parts.iter().map(|(_, n)| n).sum();
    let bytes: usize = parts.iter().map(|(v, n)| v.len() * n).sum();
    if bytes > i32::MAX as usize {
        return None;
    }
    let mut values: Vec<u8> = Vec::with_capacity(bytes);
    let mut offsets: Vec<i32> = Vec::with_capacity(rows + 1);
    offsets.push(0);
    for (value, n) in parts {
        let at = values.len();
        // Copies of the copies so far: log2(n) copies in all.
        let total = value.len() * n;
        if total > 0 {
            values.extend_from_slice(value.as_bytes());
            while values.len() - at < total {
                let have = values.len() - at;
                values.extend_from_within(at..at + have.min(total - have));
            }
        }
        offsets.extend((1..=*n).map(|i| (at + i * value.len()) as i32));
    }
    StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(values),
        None,
    )
    .ok()
}

/// `rows` copies of the constant `spec_value` (set at mapping `key`).
///
/// # Errors
///
/// [`Error::Config`] when the copies exceed the 2 GiB of text one column can hold.
fn constant_array(spec_value: &str, rows: usize, key: &str) -> Result<ArrayRef> {
    match repeated_text(&[(spec_value, rows)]) {
        Some(a) => Ok(Arc::new(a)),
        None => Err(Error::config(
            key,
            format!(
                "the constant '{spec_value}' repeated for {rows} rows exceeds the 2 GiB of text one column can hold"
            ),
        )),
    }
}

/// Unifies named source tables with `mapping` (see [`SchemaMapping`]).
///
/// Each source is looked up by its name; its `channel` value is the mapping's `channel`
/// or the name. Rows are kept in source order, then row order. A row with an
/// unparseable value or a missing value in a non-nullable unified column goes to the
/// quarantine table with a reason; nothing is dropped silently:
/// `rows in = table rows + quarantine rows`.
///
/// # Errors
///
/// [`Error::Unmapped`] when a source has no mapping, or a mapped source column is absent
/// (naming source and column); [`Error::WrongType`] when a column cannot hold the
/// unified type at all (e.g. a list for `spend`); [`Error::Config`] for an invalid
/// mapping.
pub fn unify_marketing_data<'a, I, S>(sources: I, mapping: &SchemaMapping) -> Result<Unified>
where
    I: IntoIterator<Item = (S, &'a RecordBatch)>,
    S: AsRef<str>,
{
    unify_sources(sources, mapping, None)
}

/// How each source's text columns are read, decided beforehand over all their rows: by
/// source name, then unified column (see [`parse::ColumnReading`]).
pub(crate) type Readings = BTreeMap<String, BTreeMap<String, parse::ColumnReading>>;

/// [`unify_marketing_data`], with the readings of the sources' columns given (a source
/// unified piece by piece reads each piece as its whole column would be read).
pub(crate) fn unify_sources<'a, I, S>(
    sources: I,
    mapping: &SchemaMapping,
    readings: Option<&Readings>,
) -> Result<Unified>
where
    I: IntoIterator<Item = (S, &'a RecordBatch)>,
    S: AsRef<str>,
{
    mapping.validate()?;
    let sources: Vec<(String, &RecordBatch)> = sources
        .into_iter()
        .map(|(name, batch)| (name.as_ref().to_owned(), batch))
        .collect();
    // Sources are mapped in parallel; the first error in source order is returned, as a
    // one-by-one loop would.
    let mapped: Vec<Result<SourcePart>> = sources
        .par_iter()
        .map(|(name, batch)| {
            let name = name.as_str();
            let source = mapping.resolve(name).ok_or_else(|| Error::Unmapped {
                table: name.to_owned(),
                unified: "*".to_owned(),
                reason: format!(
                    "no mapping for this source (known: {})",
                    mapping.source_list()
                ),
            })?;
            map_source(name, &source, batch, readings.and_then(|r| r.get(name)))
        })
        .collect();
    let mut parts = Vec::with_capacity(mapped.len());
    let mut notes: Vec<String> = Vec::new();
    let mut breakdown_names: Vec<String> = Vec::new();
    let mut meta_fields: Vec<Field> = Vec::new();
    for part in mapped {
        let mut part = part?;
        notes.append(&mut part.notes);
        for (b, _) in &part.breakdowns {
            if !breakdown_names.contains(b) {
                breakdown_names.push(b.clone());
            }
        }
        for (m, a) in &part.metadata {
            if !meta_fields.iter().any(|f| f.name() == m) {
                meta_fields.push(Field::new(m, a.data_type().clone(), true));
            }
        }
        parts.push(part);
    }

    let mut fields: Vec<Field> = unified::schema()
        .fields()
        .iter()
        .map(|f| (**f).clone())
        .collect();
    fields.extend(
        breakdown_names
            .iter()
            .map(|b| Field::new(b, DataType::Utf8, true)),
    );
    fields.extend(meta_fields.iter().cloned());
    let schema = Arc::new(Schema::new(fields));
    let column_names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let q_schema = quarantine_schema(column_names.iter().copied());

    let finished: Vec<Result<Finished>> = parts
        .into_par_iter()
        .map(|part| part.finish(&schema, &q_schema, &breakdown_names, &meta_fields))
        .collect();
    let mut sources = Vec::with_capacity(finished.len());
    let mut quarantines = Vec::with_capacity(finished.len());
    for f in finished {
        let f = f?;
        sources.push((f.columns, f.kept, f.channel, f.per_row_channel));
        quarantines.push(f.quarantine);
    }
    let channel_at = schema.index_of(unified::CHANNEL).ok();
    // Each unified column is built once, from the kept rows of every source (no
    // per-source filtered copy to concatenate).
    let rows: usize = sources.iter().map(|(_, kept, _, _)| kept.len()).sum();
    let constant_channels = sources.iter().all(|(_, _, _, per_row)| !per_row);
    let table = if sources.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        let columns = (0..schema.fields().len())
            .into_par_iter()
            .map(|c| {
                // The channel: each source's name, once per kept row (gathered below
                // when a source takes it from a column of its own).
                if Some(c) == channel_at && constant_channels {
                    let parts: Vec<(&str, usize)> = sources
                        .iter()
                        .map(|(_, kept, channel, _)| (channel.as_str(), kept.len()))
                        .collect();
                    if let Some(a) = repeated_text(&parts) {
                        return Ok(Arc::new(a) as ArrayRef);
                    }
                }
                let parts: Vec<(&dyn Array, &[u32])> = sources
                    .iter()
                    .map(|(cols, kept, _, _)| (cols[c].as_ref(), kept.as_slice()))
                    .collect();
                frame::gather(&parts)
            })
            .collect::<Vec<Result<ArrayRef>>>()
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new_with_options(
            schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?
    };
    Ok(Unified {
        table,
        quarantine: concat_batches(&q_schema, &quarantines)?,
        notes,
    })
}

/// A source's unified columns (every row), the rows kept, and its quarantine.
struct Finished {
    columns: Vec<ArrayRef>,
    kept: Vec<u32>,
    channel: String,
    /// Whether the channel is the source's own column rather than `channel` on every row.
    per_row_channel: bool,
    quarantine: RecordBatch,
}

struct SourcePart {
    name: String,
    rows: usize,
    /// Unified columns (without channel), typed, in schema order.
    columns: Vec<(String, Mapped)>,
    channel: String,
    /// The source's own `channel` column (text, every row), when its mapping sets no
    /// channel: an already unified table of several channels keeps each row's.
    own_channel: Option<ArrayRef>,
    breakdowns: Vec<(String, Mapped)>,
    /// Source columns named `_...`, carried through as they are.
    metadata: Vec<(String, ArrayRef)>,
    /// Row → reasons.
    problems: BTreeMap<usize, Vec<String>>,
    /// How ambiguous columns were read.
    notes: Vec<String>,
}

fn resolve<'b>(
    name: &str,
    unified_col: &str,
    spec: &ColumnSpec,
    batch: &'b RecordBatch,
) -> Result<Option<(&'b ArrayRef, &'b str)>> {
    match &spec.column {
        Some(col) => match batch.schema().index_of(col) {
            Ok(i) => Ok(Some((
                batch.column(i),
                batch.schema_ref().field(i).name().as_str(),
            ))),
            Err(_) if spec.optional || spec.default.is_some() => Ok(None),
            Err(_) => {
                let have = column_list(&batch.schema());
                Err(Error::Unmapped {
                    table: name.to_owned(),
                    unified: unified_col.to_owned(),
                    reason: format!("source column `{col}` not found (the source has: {have})"),
                })
            }
        },
        None => Ok(None),
    }
}

/// Every required unified column the source cannot fill, at once, with the mapping
/// lines that would fill each.
fn missing_columns(
    name: &str,
    source: &SourceMapping,
    batch: &RecordBatch,
    fields: &[&Arc<Field>],
) -> Result<()> {
    let schema = batch.schema();
    let mut missing: Vec<(String, String)> = Vec::new();
    for field in fields {
        let col = field.name().as_str();
        match source.columns.get(col) {
            None if field.is_nullable() => {}
            None => missing.push((
                col.to_owned(),
                "the mapping gives no source column".to_owned(),
            )),
            Some(spec) if spec.value.is_some() || spec.optional || spec.default.is_some() => {}
            Some(spec) => {
                if let Some(c) = &spec.column
                    && schema.index_of(c).is_err()
                {
                    missing.push((col.to_owned(), format!("source column `{c}` not found")));
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let have = column_list(&schema);
    let mut fix = format!("[sources.{name}.columns]");
    for (col, _) in &missing {
        let example = match col.as_str() {
            unified::CURRENCY => "{ value = \"USD\" }   # or unify --currency USD".to_owned(),
            unified::SPEND => "{ value = \"0\" }       # or \"<source column>\"".to_owned(),
            unified::DATE => "{ column = \"<source column>\", format = \"%Y-%m-%d\" }".to_owned(),
            _ => "\"<source column>\"".to_owned(),
        };
        fix.push_str(&format!("\n{col} = {example}"));
    }
    Err(Error::UnmappedColumns {
        table: name.to_owned(),
        columns: missing
            .iter()
            .map(|(c, _)| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
        reason: format!(
            "{}; the source has: {}. Add to the mapping file (--mapping):\n{fix}",
            missing
                .iter()
                .map(|(c, why)| format!("{c}: {why}"))
                .collect::<Vec<_>>()
                .join("; "),
            have
        ),
    })
}

/// The source's column names for an error: the first 40, each cut at 80 characters (a
/// file whose header is one 50 MB "column" made a 50 MB error), and how many more.
fn column_list(schema: &arrow::datatypes::Schema) -> String {
    const NAMES: usize = 40;
    const CHARS: usize = 80;
    let fields = schema.fields();
    let mut names: Vec<String> = fields
        .iter()
        .take(NAMES)
        .map(|f| {
            let name = f.name();
            match name.char_indices().nth(CHARS) {
                Some((cut, _)) => {
                    format!("{}… ({} characters)", &name[..cut], name.chars().count())
                }
                None => name.clone(),
            }
        })
        .collect();
    if fields.len() > NAMES {
        names.push(format!("and {} more", fields.len() - NAMES));
    }
    names.join(", ")
}

/// One unified column of a source, converted to its unified type.
struct Converted {
    array: ArrayRef,
    /// The source column (or constant, or nulls) it came from.
    input: ArrayRef,
    /// Rows whose value does not convert.
    bad: Vec<usize>,
    /// The rows of `bad` whose value is a number, but not a finite one (`1e400`, `NaN`).
    non_finite: Vec<usize>,
    /// What a value should be ("a date", ...), for the problem text.
    what: String,
    /// The source column's name (or the constant), for the problem text.
    src_name: String,
    /// How an ambiguous column was read.
    note: Option<String>,
}

/// The values a unified column of a source is converted from (a source column, a
/// constant, a default or nulls), a label naming them for problem texts (empty: the
/// unified column's name), and a note when a documented default is used.
pub(crate) fn column_input(
    name: &str,
    source: &SourceMapping,
    batch: &RecordBatch,
    field: &Field,
) -> Result<(ArrayRef, String, Option<String>)> {
    let rows = batch.num_rows();
    let col = field.name().as_str();
    let spec = source.columns.get(col);
    let mut note = None;
    let (input, label): (ArrayRef, String) = match spec {
        None if field.is_nullable() => (new_null_array(&DataType::Utf8, rows), String::new()),
        None => {
            return Err(Error::Unmapped {
                table: name.to_owned(),
                unified: col.to_owned(),
                reason: "the mapping gives no source column for it".to_owned(),
            });
        }
        Some(spec) => match (&spec.value, resolve(name, col, spec, batch)?) {
            (Some(v), _) => (
                constant_array(v, rows, &format!("sources.{name}.columns.{col}.value"))?,
                format!("constant '{v}'"),
            ),
            (None, Some((array, src))) => (array.clone(), src.to_owned()),
            (None, None) => match &spec.default {
                Some(d) => {
                    note = Some(format!(
                        "source `{name}`: no `{}` column; {col} is '{d}' for every row (documented default)",
                        spec.column.as_deref().unwrap_or(col)
                    ));
                    (
                        constant_array(d, rows, &format!("sources.{name}.columns.{col}.default"))?,
                        format!("default '{d}'"),
                    )
                }
                None => {
                    if col == unified::ACCOUNT_ID {
                        note = Some(format!(
                            "source `{name}`: no `{}` column; account_id is null (a single-account export)",
                            spec.column.as_deref().unwrap_or(col)
                        ));
                    }
                    (new_null_array(&DataType::Utf8, rows), String::new())
                }
            },
        },
    };
    Ok((input, label, note))
}

fn convert_column(
    name: &str,
    source: &SourceMapping,
    batch: &RecordBatch,
    field: &Field,
    tz: Option<&Tz>,
    readings: Option<&BTreeMap<String, parse::ColumnReading>>,
) -> Result<Converted> {
    let col = field.name().as_str();
    let dt = field.data_type();
    let (input, label, note) = column_input(name, source, batch, field)?;
    let reading = readings.and_then(|r| r.get(col));
    let spec = source.columns.get(col).cloned().unwrap_or_default();
    let src_name = if label.is_empty() {
        col.to_owned()
    } else {
        label
    };
    let format = spec.format.as_deref().or(source.date_format.as_deref());
    let in_format = |what: &str| match (format, source.decimal) {
        (Some(f), _) if what == "a date" => format!("a date in the format {f}"),
        (_, Some(d)) if what != "a date" => {
            let sep = if d == crate::DecimalSeparator::Comma {
                ','
            } else {
                '.'
            };
            format!("{what} with decimal '{sep}'")
        }
        _ => what.to_owned(),
    };
    let mut non_finite = Vec::new();
    let (array, bad, what, parse_note): (ArrayRef, Vec<usize>, String, Option<String>) = match dt {
        DataType::Date32 => {
            let Parsed { array, bad, note } =
                parse::to_date32_read(name, &src_name, &input, tz, format, reading)?;
            (Arc::new(array) as ArrayRef, bad, in_format("a date"), note)
        }
        DataType::Float64 => {
            let Parsed { array, bad, note } = parse::to_f64_read(
                name,
                &src_name,
                &input,
                spec.divide_by,
                source.decimal,
                reading,
            )?;
            // `1e400`, `inf`, `NaN` parse, but are no amount: such a row is quarantined,
            // as is a finite value that `divide_by` takes out of range.
            let (array, bad) = without_non_finite(array, bad, &mut non_finite);
            (
                Arc::new(array) as ArrayRef,
                bad,
                in_format("a number"),
                note,
            )
        }
        DataType::Int64 => {
            let Parsed { array, bad, note } =
                parse::to_i64_read(name, &src_name, &input, source.decimal, reading)?;
            (
                Arc::new(array) as ArrayRef,
                bad,
                in_format("an integer"),
                note,
            )
        }
        _ => {
            let s = parse::to_utf8(name, &src_name, &input)?;
            // Empty text in a required text column counts as missing.
            (Arc::new(s) as ArrayRef, Vec::new(), "text".to_owned(), None)
        }
    };
    Ok(Converted {
        array,
        input,
        bad,
        non_finite,
        what,
        src_name,
        note: note.or(parse_note),
    })
}

/// `array` with its non-finite values made null, their rows added to `bad` (kept
/// sorted) and listed in `non_finite`.
fn without_non_finite(
    array: Float64Array,
    mut bad: Vec<usize>,
    non_finite: &mut Vec<usize>,
) -> (Float64Array, Vec<usize>) {
    non_finite.extend(
        array
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_some_and(|v| !v.is_finite()))
            .map(|(row, _)| row),
    );
    if non_finite.is_empty() {
        return (array, bad);
    }
    let array: Float64Array = array.iter().map(|v| v.filter(|v| v.is_finite())).collect();
    bad.extend(non_finite.iter().copied());
    bad.sort_unstable();
    bad.dedup();
    (array, bad)
}

fn map_source(
    name: &str,
    source: &SourceMapping,
    batch: &RecordBatch,
    readings: Option<&BTreeMap<String, parse::ColumnReading>>,
) -> Result<SourcePart> {
    let rows = batch.num_rows();
    let tz = match &source.timezone {
        Some(t) => Some(parse::parse_tz(&format!("sources.{name}.timezone"), t)?),
        None => None,
    };
    // The columns are converted in parallel; their problems are then recorded in
    // schema order (an error is the first column's, as one by one).
    let schema = unified::schema();
    let fields: Vec<&Arc<Field>> = schema
        .fields()
        .iter()
        .filter(|f| f.name() != unified::CHANNEL)
        .collect();
    missing_columns(name, source, batch, &fields)?;
    let converted: Vec<Result<Converted>> = fields
        .par_iter()
        .map(|field| convert_column(name, source, batch, field, tz.as_ref(), readings))
        .collect();
    let mut problems: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut notes: Vec<String> = Vec::new();
    let mut columns = Vec::new();
    for (field, converted) in fields.iter().zip(converted) {
        let Converted {
            array,
            input,
            bad,
            non_finite,
            what,
            src_name,
            note,
        } = converted?;
        notes.extend(note);
        let col = field.name().as_str();
        let mut is_bad = vec![false; rows];
        for &row in &bad {
            is_bad[row] = true;
            let what = if non_finite.binary_search(&row).is_ok() {
                "a finite number"
            } else {
                what.as_str()
            };
            problems.entry(row).or_default().push(format!(
                "{src_name} '{}' is not {what}",
                parse::cell_text(&input, row)
            ));
        }
        // A NUL byte in text (a name, an id) breaks files and tools downstream.
        if let Some(texts) = array.as_any().downcast_ref::<StringArray>()
            && memchr::memchr(0, texts.values()).is_some()
        {
            for (row, v) in texts.iter().enumerate() {
                if v.is_some_and(|v| v.as_bytes().contains(&0)) {
                    is_bad[row] = true;
                    problems
                        .entry(row)
                        .or_default()
                        .push(format!("{src_name} contains a NUL byte"));
                }
            }
        }
        if !field.is_nullable() {
            let texts = array.as_any().downcast_ref::<StringArray>();
            // `Array::is_null` (physical nulls), without a virtual call per row.
            let nulls = array.nulls();
            for (row, &was_bad) in is_bad.iter().enumerate() {
                let missing = nulls.is_some_and(|n| n.is_null(row))
                    || texts.is_some_and(|t| parse::is_blank(t.value(row)));
                if missing && !was_bad {
                    problems
                        .entry(row)
                        .or_default()
                        .push(format!("missing {col} ({src_name})"));
                }
            }
        }
        columns.push((col.to_owned(), Mapped { array, raw: input }));
    }
    let mut breakdowns = Vec::new();
    for (b, spec) in &source.breakdowns {
        let input = match (&spec.value, resolve(name, b, spec, batch)?) {
            (Some(v), _) => {
                constant_array(v, rows, &format!("sources.{name}.breakdowns.{b}.value"))?
            }
            (None, Some((array, _))) => array.clone(),
            (None, None) => continue,
        };
        let s = parse::to_utf8(name, b, &input)?;
        breakdowns.push((
            b.clone(),
            Mapped {
                array: Arc::new(s),
                raw: input,
            },
        ));
    }
    // A source whose mapping sets no channel and whose table has a `channel` column of its
    // own (an already unified table, `extends = "unified"`) keeps each row's channel: every
    // row given the source's name would merge its channels silently. An empty cell is a
    // problem of its row.
    let own_channel = match (&source.channel, batch.column_by_name(unified::CHANNEL)) {
        (None, Some(column)) => {
            let text = arrow::compute::cast(column, &DataType::Utf8)?;
            let values = text.as_string::<i32>();
            for i in 0..rows {
                if !values.is_valid(i) || values.value(i).trim().is_empty() {
                    problems
                        .entry(i)
                        .or_default()
                        .push("the source's `channel` column is empty".to_owned());
                }
            }
            Some(text)
        }
        _ => None,
    };
    Ok(SourcePart {
        name: name.to_owned(),
        rows,
        columns,
        channel: source.channel.clone().unwrap_or_else(|| name.to_owned()),
        own_channel,
        breakdowns,
        metadata: batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .filter(|(f, _)| unified::is_metadata(f.name()))
            .map(|(f, a)| (f.name().clone(), a.clone()))
            .collect(),
        problems,
        notes,
    })
}

impl SourcePart {
    fn finish(
        self,
        schema: &SchemaRef,
        q_schema: &SchemaRef,
        breakdown_names: &[String],
        meta_fields: &[Field],
    ) -> Result<Finished> {
        let rows = self.rows;
        let per_row_channel = self.own_channel.is_some();
        let channel = match self.own_channel {
            Some(own) => own,
            None => constant_array(
                &self.channel,
                rows,
                &format!("sources.{}.channel", self.name),
            )?,
        };
        let mut typed: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        let mut raw: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        let mut cols = self.columns.into_iter();
        for field in unified::schema().fields() {
            if field.name() == unified::CHANNEL {
                typed.push(channel.clone());
                raw.push(channel.clone());
            } else if let Some((_, m)) = cols.next() {
                typed.push(m.array);
                raw.push(m.raw);
            }
        }
        for b in breakdown_names {
            match self.breakdowns.iter().find(|(n, _)| n == b) {
                Some((_, m)) => {
                    typed.push(m.array.clone());
                    raw.push(m.raw.clone());
                }
                None => {
                    typed.push(new_null_array(&DataType::Utf8, rows));
                    raw.push(new_null_array(&DataType::Utf8, rows));
                }
            }
        }
        for f in meta_fields {
            let array = match self.metadata.iter().find(|(n, _)| n == f.name()) {
                Some((_, a)) if a.data_type() == f.data_type() => a.clone(),
                Some((_, a)) => arrow::compute::cast(a, f.data_type()).map_err(|_| {
                    Error::wrong_type(
                        &self.name,
                        f.name(),
                        f.data_type().to_string(),
                        a.data_type(),
                    )
                })?,
                None => new_null_array(f.data_type(), rows),
            };
            typed.push(array.clone());
            raw.push(array);
        }
        let mut bad = vec![false; rows];
        for &r in self.problems.keys() {
            bad[r] = true;
        }
        let all = RecordBatch::try_new(
            Arc::new(Schema::new(
                schema
                    .fields()
                    .iter()
                    .map(|f| (**f).clone().with_nullable(true))
                    .collect::<Vec<_>>(),
            )),
            typed,
        )?;
        let kept: Vec<u32> = (0..rows as u32).filter(|&r| !bad[r as usize]).collect();

        let bad_mask = BooleanArray::from(bad);
        let n_bad = self.problems.len();
        let mut q_cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                format!("unify:{}", self.name);
                n_bad
            ])),
            Arc::new(UInt64Array::from_iter_values(
                self.problems.keys().map(|r| *r as u64),
            )),
            Arc::new(StringArray::from_iter_values(
                self.problems.values().map(|v| v.join("; ")),
            )),
        ];
        for r in &raw {
            let shown = filter(r.as_ref(), &bad_mask)?;
            q_cols.push(parse::display_column(shown.as_ref()));
        }
        let quarantine = RecordBatch::try_new(q_schema.clone(), q_cols)?;
        Ok(Finished {
            columns: all.columns().to_vec(),
            kept,
            channel: self.channel,
            per_row_channel,
            quarantine,
        })
    }
}

impl Unified {
    /// Moves the rows dated outside `[start, end]` (or without a date) to the quarantine,
    /// stage `pipeline:date_range`, with the date and the range in the reason, so that
    /// nothing outside a requested range (e.g. a file export covering more days) reaches
    /// the calendar and the model. A table without a `date` column is returned as it is.
    ///
    /// # Errors
    ///
    /// An Arrow error when the date column cannot be read as dates.
    pub fn keep_date_range(self, start: NaiveDate, end: NaiveDate) -> Result<Unified> {
        let table = &self.table;
        let Some(dates) = table.column_by_name(unified::DATE) else {
            return Ok(self);
        };
        let dates = cast(dates, &DataType::Date32)?;
        let dates = dates.as_primitive::<Date32Type>();
        let (lo, hi) = (to_date32(start), to_date32(end));
        let inside: BooleanArray = dates
            .iter()
            .map(|d| Some(d.is_some_and(|d| (lo..=hi).contains(&d))))
            .collect();
        let outside_rows: Vec<usize> = (0..inside.len()).filter(|&i| !inside.value(i)).collect();
        if outside_rows.is_empty() {
            return Ok(self);
        }
        // The quarantine rows: stage, row of the unified table, reason, values as text.
        let outside = arrow::compute::not(&inside)?;
        let bad = filter_record_batch(table, &outside)?;
        let q_schema = self.quarantine.schema();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(q_schema.fields().len());
        let n = bad.num_rows();
        for field in q_schema.fields() {
            let column: ArrayRef = match field.name().as_str() {
                QUARANTINE_STAGE => Arc::new(StringArray::from(vec!["pipeline:date_range"; n])),
                QUARANTINE_ROW => Arc::new(UInt64Array::from_iter_values(
                    outside_rows.iter().map(|&r| r as u64),
                )),
                QUARANTINE_REASON => Arc::new(StringArray::from_iter_values(
                    // The dates already read above, one per quarantined row.
                    outside_rows.iter().map(|&r| {
                        match dates
                            .is_valid(r)
                            .then(|| dates.value(r))
                            .and_then(from_date32)
                        {
                            Some(day) => format!(
                                "date {day} is outside the pipeline's range {start} to {end}"
                            ),
                            None => "the row has no date".to_owned(),
                        }
                    }),
                )),
                name => match bad.column_by_name(name) {
                    Some(c) => cast(c, field.data_type())?,
                    None => new_null_array(field.data_type(), n),
                },
            };
            columns.push(column);
        }
        let moved = RecordBatch::try_new(q_schema.clone(), columns)?;
        Ok(Unified {
            table: filter_record_batch(table, &inside)?,
            quarantine: concat_batches(&q_schema, [&self.quarantine, &moved])?,
            notes: self.notes,
        })
    }

    /// The table in natural-key order ([`sort_by_natural_key`]), so that every later
    /// stage, the estimates included, does not depend on the order in which the platforms
    /// returned their rows.
    ///
    /// # Errors
    ///
    /// An Arrow error from the sort.
    pub fn in_natural_key_order(mut self) -> Result<Unified> {
        self.table = sort_by_natural_key(&self.table)?;
        Ok(self)
    }
}

/// Sorts a unified table by its natural key: date, channel, account, campaign id, ad
/// group, then the breakdown columns in table order, then the campaign name; nulls first.
/// Columns the table lacks are skipped; a table with none of them is returned as it is.
///
/// # Errors
///
/// An Arrow error from the sort.
pub fn sort_by_natural_key(table: &RecordBatch) -> Result<RecordBatch> {
    use unified::{ACCOUNT_ID, AD_GROUP, CAMPAIGN, CAMPAIGN_ID, CHANNEL, DATE};
    let schema = table.schema();
    let breakdowns = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| !unified::is_unified(n) && !unified::is_metadata(n));
    let keys: Vec<&str> = [DATE, CHANNEL, ACCOUNT_ID, CAMPAIGN_ID, AD_GROUP]
        .into_iter()
        .chain(breakdowns)
        .chain([CAMPAIGN])
        .collect();
    let columns: Vec<SortColumn> = keys
        .iter()
        .filter_map(|c| table.column_by_name(c))
        .map(|values| SortColumn {
            values: values.clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: true,
            }),
        })
        .collect();
    if columns.is_empty() || table.num_rows() < 2 {
        return Ok(table.clone());
    }
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(table, &indices)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns an error lists are bounded: 40 names, each cut at 80 characters.
    #[test]
    fn an_errors_column_list_is_bounded() {
        let huge = "x".repeat(1_000_000);
        let mut names = vec![huge.clone()];
        names.extend((0..50).map(|i| format!("c{i}")));
        let schema = Schema::new(
            names
                .iter()
                .map(|n| Field::new(n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        );
        let list = column_list(&schema);
        assert!(list.len() < 1_000, "{}", list.len());
        assert!(
            list.starts_with(&format!("{}… (1000000 characters), c0, ", "x".repeat(80))),
            "{list}"
        );
        assert!(list.ends_with("c38, and 11 more"), "{list}");
    }
}
