//! A typed view of a (possibly loosely typed) unified table, shared by validation and
//! cleaning, and grouping helpers.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray, StringBuilder,
};
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};

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
            Some(a) => Some(parse::to_date32(name, DATE, a, None, None)?),
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
                floats.insert(c, parse::to_f64(name, c, a, None)?);
            }
        }
        let mut ints = HashMap::new();
        for c in INT_COLUMNS {
            if let Some(a) = get(c)? {
                ints.insert(c, parse::to_i64(name, c, a)?);
            }
        }
        let mut breakdowns = Vec::new();
        for b in unified::breakdown_columns(&schema) {
            if let Some(a) = get(&b)? {
                let s = parse::to_utf8(name, &b, a)?;
                breakdowns.push((b, s));
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
pub(crate) fn group_ids(columns: &[ArrayRef], rows: usize) -> Result<(Vec<u32>, usize)> {
    if columns.is_empty() {
        return Ok((vec![0; rows], usize::from(rows > 0)));
    }
    // Fast path: one text column.
    if let [single] = columns
        && single.data_type() == &DataType::Utf8
        && let Some(s) = single.as_any().downcast_ref::<StringArray>()
    {
        let mut map: HashMap<Option<&str>, u32> = HashMap::new();
        let ids = (0..rows)
            .map(|r| {
                let k = s.is_valid(r).then(|| s.value(r));
                let n = map.len() as u32;
                *map.entry(k).or_insert(n)
            })
            .collect();
        return Ok((ids, map.len()));
    }
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    let converted = converter.convert_columns(columns)?;
    let mut map: HashMap<&[u8], u32> = HashMap::with_capacity(rows / 4 + 1);
    let ids = (0..rows)
        .map(|r| {
            let n = map.len() as u32;
            *map.entry(converted.row(r).data()).or_insert(n)
        })
        .collect();
    Ok((ids, map.len()))
}

/// Row indices (among `rows`) sorted by (group, date, row); rows without a date last.
pub(crate) fn order_by_group_date(rows: &[u32], group: &[u32], date: &Date32Array) -> Vec<u32> {
    let mut order = rows.to_vec();
    order.sort_unstable_by_key(|&r| {
        let r = r as usize;
        let d = if date.is_valid(r) {
            date.value(r)
        } else {
            i32::MAX
        };
        (group[r], d, r)
    });
    order
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
