//! The world as Arrow tables: the unified table and its truth.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use liftos_core::dates::to_date32;

use crate::{Result, World, WorldRow};

/// The unified table's key columns ([`key_columns`]: date, channel, account_id,
/// campaign_id, as the unified schema declares them), then the truth of each row.
static TRUTH: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = unified_schema().fields()[..4].to_vec();
    let float = |name| Arc::new(Field::new(name, DataType::Float64, false));
    let flag = |name| Arc::new(Field::new(name, DataType::Boolean, false));
    fields.extend([
        float("tau"),
        float("tau_long_run"),
        float("incremental_revenue"),
        float("incremental_conversions"),
        float("baseline_revenue"),
        float("demand"),
        flag("is_holiday"),
        flag("is_commercial_event"),
    ]);
    Arc::new(Schema::new(fields))
});

/// The unified table's schema as DESIGN.md defines it ([`liftos_core::unified::schema`]).
pub fn unified_schema() -> SchemaRef {
    liftos_core::unified::schema()
}

/// The schema of [`World::truth_table`].
pub fn truth_schema() -> SchemaRef {
    TRUTH.clone()
}

/// A text column without nulls: `value` of every row.
fn texts<'a>(rows: &[WorldRow<'a>], value: for<'r> fn(&'r WorldRow<'a>) -> &'r str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(value)))
}

/// A Float64 column: `value` of every row.
fn floats(rows: &[WorldRow<'_>], value: fn(&WorldRow<'_>) -> f64) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(rows.iter().map(value)))
}

/// An Int64 column: `value` of every row.
fn ints(rows: &[WorldRow<'_>], value: fn(&WorldRow<'_>) -> i64) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(rows.iter().map(value)))
}

/// A Boolean column: `value` of every row.
fn flags(rows: &[WorldRow<'_>], value: fn(&WorldRow<'_>) -> bool) -> ArrayRef {
    Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(value(r)))))
}

/// The columns both tables start with: date, channel, account_id and campaign_id.
fn key_columns(rows: &[WorldRow<'_>]) -> Vec<ArrayRef> {
    vec![
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| to_date32(r.date)),
        )),
        texts(rows, |r| r.channel),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| Some(r.account_id)),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| Some(r.campaign_id.as_str())),
        )),
    ]
}

impl World {
    /// The world's data as the unified table (DESIGN.md), sorted by date, channel,
    /// account_id and campaign_id. `ad_group` is null: the world reports at campaign level.
    pub fn unified_table(&self) -> Result<RecordBatch> {
        let rows: Vec<_> = self.rows().collect();
        let mut columns = key_columns(&rows);
        let rest: Vec<ArrayRef> = vec![
            texts(&rows, |r| r.campaign),
            Arc::new(StringArray::from(vec![None::<&str>; rows.len()])),
            texts(&rows, |r| r.currency),
            floats(&rows, |r| r.spend),
            ints(&rows, |r| r.impressions),
            ints(&rows, |r| r.clicks),
            floats(&rows, |r| r.conversions),
            floats(&rows, |r| r.revenue),
        ];
        columns.extend(rest);
        Ok(RecordBatch::try_new(unified_schema(), columns)?)
    }

    /// [`World::unified_table`] plus the calendar flags the causal model uses as controls,
    /// `is_holiday` and `is_commercial_event` (the same facts liftos-calendar computes for
    /// the US; also in [`World::truth_table`]), row by row.
    pub fn unified_table_with_calendar_flags(&self) -> Result<RecordBatch> {
        let table = self.unified_table()?;
        let rows: Vec<_> = self.rows().collect();
        let mut fields = table.schema().fields().to_vec();
        fields.push(Field::new("is_holiday", DataType::Boolean, false).into());
        fields.push(Field::new("is_commercial_event", DataType::Boolean, false).into());
        let mut columns = table.columns().to_vec();
        columns.push(flags(&rows, |r| r.is_holiday));
        columns.push(flags(&rows, |r| r.is_commercial_event));
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    /// The true values of every row, aligned row by row with [`World::unified_table`].
    pub fn truth_table(&self) -> Result<RecordBatch> {
        let rows: Vec<_> = self.rows().collect();
        let f = |value: fn(&WorldRow<'_>) -> f64| floats(&rows, value);
        let mut columns = key_columns(&rows);
        let rest: Vec<ArrayRef> = vec![
            f(|r| r.tau),
            f(|r| r.tau_long_run),
            f(|r| r.incremental_revenue),
            f(|r| r.incremental_conversions),
            f(|r| r.baseline_revenue),
            f(|r| r.demand),
            flags(&rows, |r| r.is_holiday),
            flags(&rows, |r| r.is_commercial_event),
        ];
        columns.extend(rest);
        Ok(RecordBatch::try_new(truth_schema(), columns)?)
    }
}
