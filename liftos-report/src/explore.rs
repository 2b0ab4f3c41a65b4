//! Exploration summary of the (enriched) unified table: the seed's `describe()` and
//! per-channel totals.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Field, Float64Type, Schema};
use arrow::record_batch::RecordBatch;
use liftos_core::column_list;

use crate::charts::quantile;
use crate::{ReportError, Result};

/// The exploration summary shown in the workbook and the HTML report: [`describe`] and
/// [`channel_summary`] of the input table.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplorationSummary {
    /// Per numeric column statistics ([`describe`]).
    pub describe: RecordBatch,
    /// Per-channel totals ([`channel_summary`]), when the table has a `channel` column.
    pub channels: Option<RecordBatch>,
}

impl ExplorationSummary {
    /// Summarizes a table: [`describe`] always, [`channel_summary`] when the table has
    /// `channel` and `spend` columns.
    pub fn from_table(table: &RecordBatch) -> Result<Self> {
        let has = |n: &str| table.schema().column_with_name(n).is_some();
        Ok(ExplorationSummary {
            describe: describe(table)?,
            channels: if has("channel") && has("spend") {
                Some(channel_summary(table)?)
            } else {
                None
            },
        })
    }
}

fn is_numeric(t: &DataType) -> bool {
    t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(..))
}

/// The column `name`, or an error listing the table's columns.
fn column<'t>(table: &'t RecordBatch, name: &str) -> Result<&'t ArrayRef> {
    table
        .column_by_name(name)
        .ok_or_else(|| ReportError::Column {
            column: name.to_string(),
            problem: format!(
                "is not in the table; available columns: {}",
                column_list(&table.schema())
            ),
        })
}

/// A numeric column as `f64` values (nulls as `None`).
fn numeric(table: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>> {
    let col = column(table, name)?;
    if !is_numeric(col.data_type()) {
        return Err(ReportError::Column {
            column: name.to_string(),
            problem: format!("has type {}, expected a number", col.data_type()),
        });
    }
    let f = cast(col, &DataType::Float64)?;
    Ok(f.as_primitive::<Float64Type>().iter().collect())
}

/// A text column as strings (nulls as empty strings).
fn text(table: &RecordBatch, name: &str) -> Result<Vec<String>> {
    let col = column(table, name)?;
    let s = cast(col, &DataType::Utf8).map_err(|_| ReportError::Column {
        column: name.to_string(),
        problem: format!("has type {}, expected text", col.data_type()),
    })?;
    let s = s.as_string::<i32>();
    Ok((0..s.len())
        .map(|i| {
            if s.is_null(i) {
                String::new()
            } else {
                s.value(i).to_string()
            }
        })
        .collect())
}

/// The seed's `describe()`: one row per numeric column with `column`, `count`
/// (non-null, finite values), `missing` (nulls and non-finite values), `mean`, `std`
/// (sample, n − 1), `min`, `p25`, `p50`, `p75`, `max` (quartiles interpolate linearly,
/// as pandas does). Statistics of a column without values are NaN.
///
/// Errors: [`ReportError::EmptyInput`] when the table has no numeric column.
pub fn describe(table: &RecordBatch) -> Result<RecordBatch> {
    let schema = table.schema();
    let names: Vec<String> = schema
        .fields()
        .iter()
        .filter(|f| is_numeric(f.data_type()))
        .map(|f| f.name().clone())
        .collect();
    if names.is_empty() {
        return Err(ReportError::EmptyInput {
            chart: "exploration summary",
            what: format!("no numeric column among: {}", column_list(&table.schema())),
        });
    }
    let mut count = Vec::new();
    let mut missing = Vec::new();
    let mut stats: [Vec<f64>; 8] = Default::default();
    for name in &names {
        let values = numeric(table, name)?;
        let mut v: Vec<f64> = values
            .iter()
            .flatten()
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        count.push(n as u64);
        missing.push((values.len() - n) as u64);
        let mean = if n > 0 {
            v.iter().sum::<f64>() / n as f64
        } else {
            f64::NAN
        };
        let std = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            f64::NAN
        };
        let row = [
            mean,
            std,
            v.first().copied().unwrap_or(f64::NAN),
            quantile(&v, 0.25),
            quantile(&v, 0.5),
            quantile(&v, 0.75),
            v.last().copied().unwrap_or(f64::NAN),
        ];
        for (s, x) in stats.iter_mut().zip(row) {
            s.push(x);
        }
    }
    let mut fields = vec![
        Field::new("column", DataType::Utf8, false),
        Field::new("count", DataType::UInt64, false),
        Field::new("missing", DataType::UInt64, false),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(names)),
        Arc::new(UInt64Array::from(count)),
        Arc::new(UInt64Array::from(missing)),
    ];
    for (name, values) in ["mean", "std", "min", "p25", "p50", "p75", "max"]
        .into_iter()
        .zip(stats)
    {
        fields.push(Field::new(name, DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(values)));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// Columns summed by [`channel_summary`], in output order, when present.
const SUMMED: [&str; 5] = ["spend", "impressions", "clicks", "conversions", "revenue"];

/// Per-channel totals (the seed's groupby): `channel`, `rows`, then the sums of
/// `spend`, `impressions`, `clicks`, `conversions` and `revenue` (those that exist; nulls
/// count as zero) and `naive_roas` = revenue / spend (when both exist; NaN without spend).
/// Channels are in order of first appearance.
///
/// Errors: [`ReportError::Column`] when `channel` is missing.
pub fn channel_summary(table: &RecordBatch) -> Result<RecordBatch> {
    let channel = text(table, "channel")?;
    let mut order: Vec<String> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let group: Vec<usize> = channel
        .iter()
        .map(|c| {
            *index.entry(c.as_str()).or_insert_with(|| {
                order.push(c.clone());
                order.len() - 1
            })
        })
        .collect();
    let k = order.len();
    let mut rows = vec![0u64; k];
    for g in &group {
        rows[*g] += 1;
    }
    let mut fields = vec![
        Field::new("channel", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(order.clone())),
        Arc::new(UInt64Array::from(rows)),
    ];
    let mut sums: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for name in SUMMED {
        if table.schema().column_with_name(name).is_none() {
            continue;
        }
        let values = numeric(table, name)?;
        let mut s = vec![0.0; k];
        for (g, v) in group.iter().zip(values) {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                s[*g] += v;
            }
        }
        fields.push(Field::new(name, DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(s.clone())));
        sums.insert(name, s);
    }
    if let (Some(spend), Some(revenue)) = (sums.get("spend"), sums.get("revenue")) {
        let roas: Vec<f64> = spend
            .iter()
            .zip(revenue)
            .map(|(s, r)| if *s > 0.0 { r / s } else { f64::NAN })
            .collect();
        fields.push(Field::new("naive_roas", DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(roas)));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// Total spend per channel, in order of first appearance.
pub(crate) fn spend_by_channel(table: &RecordBatch) -> Result<Vec<(String, f64)>> {
    let summary = channel_summary(table)?;
    let spend = summary
        .column_by_name("spend")
        .ok_or_else(|| ReportError::Column {
            column: "spend".into(),
            problem: format!(
                "is not in the table; available columns: {}",
                column_list(&table.schema())
            ),
        })?
        .as_primitive::<Float64Type>();
    let names = summary.column(0).as_string::<i32>();
    Ok((0..summary.num_rows())
        .map(|i| (names.value(i).to_string(), spend.value(i)))
        .collect())
}

/// A channel's daily (date as Date32 days, spend, outcome).
pub(crate) type DailySeries = (String, Vec<(i32, f64, f64)>);

/// Daily (date, spend, outcome) per channel, dates ascending, channels in order of
/// first appearance.
pub(crate) fn daily_by_channel(table: &RecordBatch, outcome: &str) -> Result<Vec<DailySeries>> {
    let date_col = column(table, "date")?;
    let dates = date_col
        .as_primitive_opt::<Date32Type>()
        .ok_or_else(|| ReportError::Column {
            column: "date".into(),
            problem: format!("has type {}, expected Date32", date_col.data_type()),
        })?;
    let channel = text(table, "channel")?;
    let spend = numeric(table, "spend")?;
    let out = numeric(table, outcome)?;
    let mut order: Vec<String> = Vec::new();
    let mut series: BTreeMap<String, BTreeMap<i32, (f64, f64)>> = BTreeMap::new();
    for i in 0..table.num_rows() {
        if dates.is_null(i) {
            continue;
        }
        let entry = series.entry(channel[i].clone()).or_insert_with(|| {
            order.push(channel[i].clone());
            BTreeMap::new()
        });
        let day = entry.entry(dates.value(i)).or_insert((0.0, 0.0));
        day.0 += spend[i].filter(|v| v.is_finite()).unwrap_or(0.0);
        day.1 += out[i].filter(|v| v.is_finite()).unwrap_or(0.0);
    }
    Ok(order
        .into_iter()
        .filter_map(|ch| {
            series
                .remove(&ch)
                .map(|days| (ch, days.into_iter().map(|(d, (s, o))| (d, s, o)).collect()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn table() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "channel",
                Arc::new(StringArray::from(vec!["a", "b", "a", "a"])) as ArrayRef,
            ),
            (
                "spend",
                Arc::new(Float64Array::from(vec![
                    Some(1.0),
                    Some(2.0),
                    None,
                    Some(3.0),
                ])),
            ),
            ("clicks", Arc::new(Int64Array::from(vec![1, 2, 3, 4]))),
            (
                "revenue",
                Arc::new(Float64Array::from(vec![2.0, 2.0, 5.0, 1.0])),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn describe_matches_hand_computed_values() {
        let d = describe(&table()).unwrap();
        assert_eq!(d.num_rows(), 3);
        let col = |n: &str| {
            d.column_by_name(n)
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(0)
        };
        // spend: 1, 2, 3 (one null)
        assert_eq!(
            d.column_by_name("missing")
                .unwrap()
                .as_primitive::<arrow::datatypes::UInt64Type>()
                .value(0),
            1
        );
        assert_eq!(col("mean"), 2.0);
        assert_eq!(col("std"), 1.0);
        assert_eq!(col("p25"), 1.5);
        assert_eq!(col("max"), 3.0);
    }

    #[test]
    fn channel_summary_sums_and_naive_roas() {
        let s = channel_summary(&table()).unwrap();
        assert_eq!(s.num_rows(), 2);
        let f = |n: &str, i| {
            s.column_by_name(n)
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(i)
        };
        assert_eq!(f("spend", 0), 4.0);
        assert_eq!(f("clicks", 0), 8.0);
        assert_eq!(f("revenue", 0), 8.0);
        assert_eq!(f("naive_roas", 0), 2.0);
        assert_eq!(f("naive_roas", 1), 1.0);
        assert!(s.column_by_name("impressions").is_none());
    }
}
