//! A typed view of a (possibly loosely typed) unified table, shared by validation and
//! cleaning, and grouping helpers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, PrimitiveArray, RecordBatch,
    StringArray, StringBuilder, UInt32Array, new_null_array,
};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::{concat, take};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Float64Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow::row::{RowConverter, SortField};
use rayon::prelude::*;

use crate::parse::{self, Parsed};
use crate::unified::{self, *};
use crate::{Error, Result};

/// The unified columns of a table, converted to their unified types where present.
/// Cells that do not convert are null and listed in `bad`.
#[derive(Debug)]
pub(crate) struct Frame {
    pub rows: usize,
    pub date: Option<Parsed<Date32Array>>,
    pub text: HashMap<&'static str, StringArray>,
    pub floats: HashMap<&'static str, Parsed<Float64Array>>,
    pub ints: HashMap<&'static str, Parsed<Int64Array>>,
    pub breakdowns: Vec<(String, StringArray)>,
}

pub(crate) const TEXT_COLUMNS: [&str; 6] = [
    CHANNEL,
    ACCOUNT_ID,
    CAMPAIGN_ID,
    CAMPAIGN,
    AD_GROUP,
    CURRENCY,
];
pub(crate) const FLOAT_COLUMNS: [&str; 3] = [SPEND, CONVERSIONS, REVENUE];
pub(crate) const INT_COLUMNS: [&str; 2] = [IMPRESSIONS, CLICKS];

impl Frame {
    /// Converts the unified columns `table` has; with `require_all`, a missing unified
    /// column is an error.
    pub fn new(name: &str, table: &RecordBatch, require_all: bool) -> Result<Self> {
        Self::new_read(name, table, require_all, None)
    }

    /// [`Frame::new`], with the readings of text columns decided beforehand (by
    /// column name; see [`parse::ColumnReading`]).
    pub fn new_read(
        name: &str,
        table: &RecordBatch,
        require_all: bool,
        readings: Option<&BTreeMap<String, parse::ColumnReading>>,
    ) -> Result<Self> {
        let reading = |c: &str| readings.and_then(|r| r.get(c));
        let schema = table.schema();
        let get = |col: &str| -> Result<Option<&ArrayRef>> {
            match schema.index_of(col) {
                Ok(i) => Ok(Some(table.column(i))),
                Err(_) if require_all => Err(Error::MissingColumn {
                    table: name.to_owned(),
                    column: col.to_owned(),
                }),
                Err(_) => Ok(None),
            }
        };
        let date = match get(DATE)? {
            Some(a) => Some(parse::to_date32_read(
                name,
                DATE,
                a,
                None,
                None,
                reading(DATE),
            )?),
            None => None,
        };
        let mut text = HashMap::new();
        for c in TEXT_COLUMNS {
            if let Some(a) = get(c)? {
                text.insert(c, parse::to_utf8(name, c, a)?);
            }
        }
        let mut floats = HashMap::new();
        for c in FLOAT_COLUMNS {
            if let Some(a) = get(c)? {
                floats.insert(c, parse::to_f64_read(name, c, a, None, None, reading(c))?);
            }
        }
        let mut ints = HashMap::new();
        for c in INT_COLUMNS {
            if let Some(a) = get(c)? {
                ints.insert(c, parse::to_i64_read(name, c, a, None, reading(c))?);
            }
        }
        // By position: a lookup by name per breakdown would be quadratic in the
        // number of columns.
        let mut breakdowns = Vec::new();
        for (f, a) in schema.fields().iter().zip(table.columns()) {
            let b = f.name();
            if !unified::is_unified(b) && !unified::is_metadata(b) {
                let s = parse::to_utf8(name, b, a)?;
                breakdowns.push((b.clone(), s));
            }
        }
        Ok(Frame {
            rows: table.num_rows(),
            date,
            text,
            floats,
            ints,
            breakdowns,
        })
    }

    /// The campaign entity of each row: `campaign_id`, or the campaign name (marked)
    /// where the id is null or absent.
    pub fn entity(&self) -> Option<StringArray> {
        let ids = self.text.get(CAMPAIGN_ID);
        let names = self.text.get(CAMPAIGN);
        if ids.is_none() && names.is_none() {
            return None;
        }
        if let Some(ids) = ids
            && ids.null_count() == 0
        {
            return Some(ids.clone());
        }
        let mut b = StringBuilder::with_capacity(self.rows, self.rows * 8);
        for r in 0..self.rows {
            match (
                ids.filter(|a| a.is_valid(r)),
                names.filter(|a| a.is_valid(r)),
            ) {
                (Some(ids), _) => b.append_value(ids.value(r)),
                (None, Some(n)) => b.append_value(format!("\u{1}name:{}", n.value(r))),
                (None, None) => b.append_null(),
            }
        }
        Some(b.finish())
    }

    /// The series key columns (natural key minus date, with the campaign entity).
    pub fn series_columns(&self) -> Vec<ArrayRef> {
        let mut cols: Vec<ArrayRef> = Vec::new();
        for c in [CHANNEL, ACCOUNT_ID] {
            if let Some(a) = self.text.get(c) {
                cols.push(Arc::new(a.clone()));
            }
        }
        if let Some(e) = self.entity() {
            cols.push(Arc::new(e));
        }
        if let Some(a) = self.text.get(AD_GROUP) {
            cols.push(Arc::new(a.clone()));
        }
        for (_, b) in &self.breakdowns {
            cols.push(Arc::new(b.clone()));
        }
        cols
    }

    /// The account key columns (channel, account_id).
    pub fn account_columns(&self) -> Vec<ArrayRef> {
        [CHANNEL, ACCOUNT_ID]
            .iter()
            .filter_map(|c| self.text.get(c).map(|a| Arc::new(a.clone()) as ArrayRef))
            .collect()
    }
}

/// Dense group ids (0..n in order of first appearance) of the rows of `columns`, and n.
/// With no columns every row is in group 0.
///
/// Each column is first turned into dense ids of its own values (text, integers, dates
/// and floats by value, null as a value of its own; other types through the Arrow row
/// format), then the columns are combined pairwise, renumbering in row order, so rows
/// are hashed as small integers rather than as encoded byte rows. Two rows share a
/// group exactly when every column holds the same value (or both null), as with
/// [`RowConverter`] rows.
pub(crate) fn group_ids(columns: &[ArrayRef], rows: usize) -> Result<(Vec<u32>, usize)> {
    let mut per_column = columns
        .par_iter()
        .map(|c| column_ids(c, rows))
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    // Fewest distinct values first keeps the pairs few enough for direct tables; the
    // result does not depend on the order (ids follow the rows' first appearance).
    per_column.sort_by_key(|(_, n)| *n);
    let mut acc: Option<(Vec<u32>, usize)> = None;
    for (ids, n) in per_column {
        acc = Some(match acc {
            None => (ids, n),
            Some((prev, pn)) => combine_ids(&prev, pn, &ids, n),
        });
    }
    Ok(acc.unwrap_or_else(|| (vec![0; rows], usize::from(rows > 0))))
}

/// Largest direct table (cells) for `rows` rows: as many cells as rows (so filling it
/// costs no more than a pass over them), at least 64 Ki and at most 4 Mi cells
/// (16 MiB); bigger products go through `combine_by_first_id`, linear in the rows.
fn direct_limit(rows: usize) -> usize {
    rows.clamp(1 << 16, 1 << 22)
}

/// The group ids `ids` (of `n` groups) refined by one more column: the same as
/// [`group_ids`] of the columns behind `ids` plus `column`.
pub(crate) fn refine_ids(ids: &[u32], n: usize, column: &ArrayRef) -> Result<(Vec<u32>, usize)> {
    let (col, cn) = column_ids(column, ids.len())?;
    Ok(combine_ids(ids, n, &col, cn))
}

/// Assigns dense ids in order of first appearance to a stream of hashable keys; a run
/// of equal keys (common in exports sorted by campaign) is looked up once.
struct Densifier<K> {
    map: HashMap<K, u32>,
    last: Option<(K, u32)>,
}

impl<K: std::hash::Hash + Eq + Copy> Densifier<K> {
    fn new() -> Self {
        Densifier {
            map: HashMap::new(),
            last: None,
        }
    }

    fn id(&mut self, key: K) -> u32 {
        if let Some((k, id)) = self.last
            && k == key
        {
            return id;
        }
        let n = self.map.len() as u32;
        let id = *self.map.entry(key).or_insert(n);
        self.last = Some((key, id));
        id
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

fn dense<K: std::hash::Hash + Eq + Copy>(keys: impl Iterator<Item = K>) -> (Vec<u32>, usize) {
    let mut d = Densifier::new();
    let ids = keys.map(|k| d.id(k)).collect();
    (ids, d.len())
}

/// Dense ids (in order of first appearance) of integer keys; through a direct table
/// when their range is small (dates), else hashed.
fn dense_ints(keys: impl Iterator<Item = Option<i64>> + Clone, rows: usize) -> (Vec<u32>, usize) {
    let (lo, hi) = keys
        .clone()
        .flatten()
        .fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let span = if lo <= hi {
        hi.abs_diff(lo).saturating_add(2)
    } else {
        1
    };
    if span > direct_limit(rows) as u64 {
        return dense(keys);
    }
    const NONE: u32 = u32::MAX;
    // Slot 0 is null, slot v - lo + 1 the value v.
    let mut table = vec![NONE; span as usize];
    let mut n = 0u32;
    let ids = keys
        .map(|k| {
            let slot = &mut table[k.map_or(0, |v| v.abs_diff(lo) as usize + 1)];
            if *slot == NONE {
                *slot = n;
                n += 1;
            }
            *slot
        })
        .collect();
    (ids, n as usize)
}

/// [`dense_ints`] of a column of 32-bit integers (days of dates, say), widened.
fn dense_i32s<T: ArrowPrimitiveType<Native = i32>>(
    column: &ArrayRef,
    rows: usize,
) -> (Vec<u32>, usize) {
    dense_ints(
        column.as_primitive::<T>().iter().map(|v| v.map(i64::from)),
        rows,
    )
}

/// Dense ids of one column's values (null is a value of its own).
fn column_ids(column: &ArrayRef, rows: usize) -> Result<(Vec<u32>, usize)> {
    let ids = match column.data_type() {
        DataType::Utf8 => dense(column.as_string::<i32>().iter()),
        DataType::LargeUtf8 => dense(column.as_string::<i64>().iter()),
        DataType::Utf8View => dense(column.as_string_view().iter()),
        DataType::Date32 => dense_i32s::<Date32Type>(column, rows),
        DataType::Int32 => dense_i32s::<Int32Type>(column, rows),
        DataType::Int64 => dense_ints(column.as_primitive::<Int64Type>().iter(), rows),
        // By bit pattern, as the row format compares floats (-0.0 and 0.0 differ).
        DataType::Float64 => dense(
            column
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(f64::to_bits)),
        ),
        DataType::Boolean => dense(column.as_boolean().iter()),
        other => {
            let converter = RowConverter::new(vec![SortField::new(other.clone())])?;
            let converted = converter.convert_columns(std::slice::from_ref(column))?;
            dense((0..rows).map(|r| converted.row(r).data()))
        }
    };
    Ok(ids)
}

/// Dense ids (in order of first appearance) of the pairs (a[r], b[r]), where the a ids
/// are below `na` and the b ids below `nb`.
pub(crate) fn combine_ids(a: &[u32], na: usize, b: &[u32], nb: usize) -> (Vec<u32>, usize) {
    const NONE: u32 = u32::MAX;
    let cells = na.saturating_mul(nb);
    if cells <= direct_limit(a.len()) {
        // Few enough pairs for a direct table.
        let mut table = vec![NONE; cells];
        let mut n = 0u32;
        let ids = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| {
                let slot = &mut table[x as usize * nb + y as usize];
                if *slot == NONE {
                    *slot = n;
                    n += 1;
                }
                *slot
            })
            .collect();
        (ids, n as usize)
    } else {
        combine_by_first_id(a, na, b, nb)
    }
}

/// `combine_ids` without a table of every pair: rows are bucketed by their `a` id
/// (a counting sort), each bucket numbers its `b` ids through one reusable array, and
/// the pair ids are then renumbered in order of first appearance. Linear time and
/// memory, no hashing.
fn combine_by_first_id(a: &[u32], na: usize, b: &[u32], nb: usize) -> (Vec<u32>, usize) {
    const NONE: u32 = u32::MAX;
    let mut start = vec![0usize; na + 1];
    for &x in a {
        start[x as usize + 1] += 1;
    }
    for g in 1..=na {
        start[g] += start[g - 1];
    }
    let mut next = start.clone();
    let mut order = vec![0u32; a.len()];
    for (r, &x) in a.iter().enumerate() {
        order[next[x as usize]] = r as u32;
        next[x as usize] += 1;
    }
    let mut slot = vec![NONE; nb];
    let mut pair = vec![0u32; a.len()];
    let mut pairs = 0u32;
    for g in 0..na {
        let bucket = &order[start[g]..start[g + 1]];
        for &r in bucket {
            let s = &mut slot[b[r as usize] as usize];
            if *s == NONE {
                *s = pairs;
                pairs += 1;
            }
            pair[r as usize] = *s;
        }
        for &r in bucket {
            slot[b[r as usize] as usize] = NONE;
        }
    }
    let mut renumber = vec![NONE; pairs as usize];
    let mut n = 0u32;
    let ids = pair
        .iter()
        .map(|&p| {
            let id = &mut renumber[p as usize];
            if *id == NONE {
                *id = n;
                n += 1;
            }
            *id
        })
        .collect();
    (ids, n as usize)
}

/// Row indices (among `rows`) sorted by (group, date, row); rows without a date last
/// within their group.
///
/// A counting sort by group, then a sort of each group's run by (date, row) where it is
/// not already in that order (exports usually list a campaign's days in order).
pub(crate) fn order_by_group_date(rows: &[u32], group: &[u32], date: &Date32Array) -> Vec<u32> {
    let groups = rows
        .iter()
        .map(|&r| group[r as usize] as usize + 1)
        .max()
        .unwrap_or(0);
    let mut start = vec![0usize; groups + 1];
    for &r in rows {
        start[group[r as usize] as usize + 1] += 1;
    }
    for g in 1..=groups {
        start[g] += start[g - 1];
    }
    let mut next = start.clone();
    let mut order = vec![0u32; rows.len()];
    for &r in rows {
        let slot = &mut next[group[r as usize] as usize];
        order[*slot] = r;
        *slot += 1;
    }
    let day = |r: u32| {
        let r = r as usize;
        if date.is_valid(r) {
            date.value(r)
        } else {
            i32::MAX
        }
    };
    for g in 0..groups {
        let run = &mut order[start[g]..start[g + 1]];
        if run
            .windows(2)
            .any(|w| (day(w[0]), w[0]) > (day(w[1]), w[1]))
        {
            // Keys are unique, so a stable sort gives the same order; it is adaptive: a
            // sorted run plus a few appended rows (restatements) costs about one pass.
            run.sort_by_key(|&r| (day(r), r));
        }
    }
    order
}

/// Calls `f(start, end)` for each maximal run of consecutive values `start..end` in
/// `indices`, in order.
fn for_each_run(indices: &[u32], mut f: impl FnMut(usize, usize)) {
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i] as usize;
        let mut end = start + 1;
        i += 1;
        while i < indices.len() && indices[i] as usize == end {
            end += 1;
            i += 1;
        }
        f(start, end);
    }
}

/// The validity of the picked rows, `None` when no part has a null.
fn gather_nulls(parts: &[(&dyn Array, &[u32])], n: usize) -> Option<NullBuffer> {
    if parts.iter().all(|(a, _)| a.null_count() == 0) {
        return None;
    }
    let mut valid = Vec::with_capacity(n);
    for (a, idx) in parts {
        match a.nulls() {
            Some(nulls) => valid.extend(idx.iter().map(|&r| nulls.is_valid(r as usize))),
            None => valid.resize(valid.len() + idx.len(), true),
        }
    }
    Some(NullBuffer::from(valid))
}

fn gather_primitive<T: ArrowPrimitiveType>(
    parts: &[(&dyn Array, &[u32])],
    n: usize,
    data_type: &DataType,
) -> ArrayRef {
    let mut values: Vec<T::Native> = Vec::with_capacity(n);
    for (a, idx) in parts {
        let a = a.as_primitive::<T>().values();
        for_each_run(idx, |s, e| values.extend_from_slice(&a[s..e]));
    }
    Arc::new(
        PrimitiveArray::<T>::new(ScalarBuffer::from(values), gather_nulls(parts, n))
            .with_data_type(data_type.clone()),
    )
}

fn gather_utf8(parts: &[(&dyn Array, &[u32])], n: usize) -> Result<Option<ArrayRef>> {
    let mut total = 0usize;
    for (a, idx) in parts {
        let offsets = a.as_string::<i32>().value_offsets();
        for_each_run(idx, |s, e| total += (offsets[e] - offsets[s]) as usize);
    }
    if total > i32::MAX as usize {
        return Ok(None);
    }
    let mut values: Vec<u8> = Vec::with_capacity(total);
    let mut offsets: Vec<i32> = Vec::with_capacity(n + 1);
    offsets.push(0);
    for (a, idx) in parts {
        let a = a.as_string::<i32>();
        let (src, data) = (a.value_offsets(), a.value_data());
        for_each_run(idx, |s, e| {
            // Fits: the total was checked.
            let shift = values.len() as i32 - src[s];
            values.extend_from_slice(&data[src[s] as usize..src[e] as usize]);
            offsets.extend(src[s + 1..=e].iter().map(|o| o + shift));
        });
    }
    Ok(Some(Arc::new(StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(values),
        gather_nulls(parts, n),
    )?)))
}

/// The rows `indices` of each part, one part after the other, as one array: the same
/// as `take` of each part then `concat`, in one pass that copies runs of consecutive
/// rows at once (the common case: most rows are kept, in order). Every part must have
/// the type of the first; at least one part.
pub(crate) fn gather(parts: &[(&dyn Array, &[u32])]) -> Result<ArrayRef> {
    let n = parts.iter().map(|(_, idx)| idx.len()).sum();
    let data_type = match parts.first() {
        Some((a, _)) => a.data_type().clone(),
        None => return Err(Error::config("gather", "no part")),
    };
    let same = parts.iter().all(|(a, _)| a.data_type() == &data_type);
    // All null (e.g. an unmapped optional column): nothing to copy.
    if same && parts.iter().all(|(a, _)| a.null_count() == a.len()) {
        return Ok(new_null_array(&data_type, n));
    }
    let fast = if !same {
        None
    } else {
        match &data_type {
            DataType::Utf8 => gather_utf8(parts, n)?,
            DataType::Float64 => Some(gather_primitive::<Float64Type>(parts, n, &data_type)),
            DataType::Int64 => Some(gather_primitive::<Int64Type>(parts, n, &data_type)),
            DataType::Date32 => Some(gather_primitive::<Date32Type>(parts, n, &data_type)),
            DataType::Int32 => Some(gather_primitive::<Int32Type>(parts, n, &data_type)),
            DataType::Timestamp(unit, _) => Some(match unit {
                TimeUnit::Second => gather_primitive::<TimestampSecondType>(parts, n, &data_type),
                TimeUnit::Millisecond => {
                    gather_primitive::<TimestampMillisecondType>(parts, n, &data_type)
                }
                TimeUnit::Microsecond => {
                    gather_primitive::<TimestampMicrosecondType>(parts, n, &data_type)
                }
                TimeUnit::Nanosecond => {
                    gather_primitive::<TimestampNanosecondType>(parts, n, &data_type)
                }
            }),
            _ => None,
        }
    };
    if let Some(array) = fast {
        return Ok(array);
    }
    let taken = parts
        .iter()
        .map(|(a, idx)| take(*a, &UInt32Array::from(idx.to_vec()), None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    match taken.as_slice() {
        [one] => Ok(one.clone()),
        many => Ok(concat(
            &many.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        )?),
    }
}

/// Median of a slice (reorders it); `None` when empty.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if n % 2 == 1 {
        Some(m)
    } else {
        let below = values[..mid]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        Some((below + m) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Date32Array, Float64Array, Int64Array, StringArray};

    /// Group ids the straightforward way: hash the Arrow row encoding of every row.
    fn reference(columns: &[ArrayRef], rows: usize) -> (Vec<u32>, usize) {
        let fields = columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields).unwrap();
        let converted = converter.convert_columns(columns).unwrap();
        dense((0..rows).map(|r| converted.row(r).data()))
    }

    #[test]
    fn group_ids_match_the_row_format_grouping() {
        let rows = 400;
        let text: ArrayRef = Arc::new(StringArray::from_iter((0..rows).map(|r| match r % 7 {
            0 => None,
            1 => Some(String::new()),
            k => Some(format!("c{}", (r / 3 + k) % 11)),
        })));
        let date: ArrayRef = Arc::new(Date32Array::from_iter(
            (0..rows).map(|r| (r % 13 != 0).then_some(19_000 + (r as i32 % 9))),
        ));
        let ints: ArrayRef = Arc::new(Int64Array::from_iter(
            (0..rows).map(|r| (r % 5 != 0).then_some(r as i64 % 4 - 1)),
        ));
        let floats: ArrayRef = Arc::new(Float64Array::from_iter((0..rows).map(|r| match r % 6 {
            0 => None,
            1 => Some(-0.0),
            2 => Some(0.0),
            3 => Some(f64::NAN),
            _ => Some((r % 3) as f64 * 0.5),
        })));
        let flags: ArrayRef = Arc::new(BooleanArray::from_iter(
            (0..rows).map(|r| (r % 4 != 0).then_some(r % 3 == 0)),
        ));
        let all = [text, date, ints, floats, flags];
        for k in 1..=all.len() {
            for start in 0..=all.len() - k {
                let cols = &all[start..start + k];
                assert_eq!(
                    group_ids(cols, rows).unwrap(),
                    reference(cols, rows),
                    "columns {start}..{}",
                    start + k
                );
            }
        }
        let (ids, n) = group_ids(&all[..3], rows).unwrap();
        assert_eq!(
            refine_ids(&ids, n, &all[3]).unwrap(),
            reference(&all[..4], rows)
        );
        assert_eq!(group_ids(&[], 3).unwrap(), (vec![0, 0, 0], 1));
        assert_eq!(group_ids(&[], 0).unwrap(), (vec![], 0));
    }

    #[test]
    fn rows_are_ordered_by_group_then_date_then_row() {
        let rows = 300usize;
        let group: Vec<u32> = (0..rows).map(|r| (r * 7 % 5) as u32).collect();
        let date = Date32Array::from_iter(
            (0..rows).map(|r| (r % 11 != 3).then_some((r * 13 % 17) as i32)),
        );
        let picked: Vec<u32> = (0..rows as u32).rev().filter(|r| r % 4 != 1).collect();
        let mut want = picked.clone();
        want.sort_unstable_by_key(|&r| {
            let r = r as usize;
            let d = if date.is_valid(r) {
                date.value(r)
            } else {
                i32::MAX
            };
            (group[r], d, r)
        });
        assert_eq!(order_by_group_date(&picked, &group, &date), want);
        assert!(order_by_group_date(&[], &group, &date).is_empty());
    }

    #[test]
    fn both_ways_of_combining_ids_agree() {
        // 3000 × 3000 pairs are too many for the direct table.
        let a: Vec<u32> = (0..5000u32).map(|r| r % 3000).collect();
        let b: Vec<u32> = (0..5000u32).map(|r| (r * 7) % 3000).collect();
        let want = dense(a.iter().zip(&b));
        assert_eq!(combine_ids(&a, 3000, &b, 3000), want);
        assert_eq!(combine_by_first_id(&a, 3000, &b, 3000), want);
        let a: Vec<u32> = (0..700u32).map(|r| r / 3 % 50).collect();
        let b: Vec<u32> = (0..700u32).map(|r| r % 9).collect();
        let want = dense(a.iter().zip(&b));
        assert_eq!(combine_ids(&a, 50, &b, 9), want);
        assert_eq!(combine_by_first_id(&a, 50, &b, 9), want);
    }

    #[test]
    fn gather_equals_take_then_concat() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            None,
            Some("ccc"),
            Some(""),
            Some("é e"),
            Some("f"),
        ]));
        let sliced = text.slice(1, 5);
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.5),
            None,
            Some(-0.0),
            Some(f64::NAN),
        ]));
        let dense: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4]));
        let flags: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]));
        let cases: Vec<Vec<(&ArrayRef, Vec<u32>)>> = vec![
            vec![(&text, vec![0, 1, 2, 3, 5]), (&sliced, vec![0, 1, 4, 2])],
            vec![(&text, vec![]), (&text, vec![4, 4, 0])],
            vec![(&floats, vec![0, 1, 2, 3]), (&floats, vec![3, 1])],
            vec![(&dense, vec![1, 2, 3, 0])],
            vec![(&flags, vec![2, 1]), (&flags, vec![0])],
        ];
        for parts in cases {
            let want = concat(
                &parts
                    .iter()
                    .map(|(a, idx)| take(a.as_ref(), &UInt32Array::from(idx.clone()), None))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_ref())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            let refs: Vec<(&dyn Array, &[u32])> = parts
                .iter()
                .map(|(a, idx)| (a.as_ref(), idx.as_slice()))
                .collect();
            let got = gather(&refs).unwrap();
            assert_eq!(got.to_data(), want.to_data(), "{parts:?}");
        }
        assert!(gather(&[]).is_err());
    }
}
