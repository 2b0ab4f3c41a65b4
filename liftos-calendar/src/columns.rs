//! Typed columns of an input table, or the error that names the table and column.

use arrow::array::{Array, ArrayRef, Date32Array, Float64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;

use crate::{Error, Result};

/// Column `name` of `batch` (called `table` in errors).
pub(crate) fn column<'a>(batch: &'a RecordBatch, table: &str, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::MissingColumn {
            table: table.into(),
            column: name.into(),
        })
}

/// The error of column `name` of `table`, whose type is `found` where `expected` was
/// needed.
pub(crate) fn wrong_type(table: &str, name: &str, expected: &str, found: &DataType) -> Error {
    Error::ColumnType {
        table: table.into(),
        column: name.into(),
        expected: expected.into(),
        found: found.to_string(),
    }
}

/// `col` (column `name` of `table`) as the array type `A`, called `expected` in the error.
pub(crate) fn downcast<A: Array + Clone + 'static>(
    col: &ArrayRef,
    table: &str,
    name: &str,
    expected: &str,
) -> Result<A> {
    col.as_any()
        .downcast_ref::<A>()
        .cloned()
        .ok_or_else(|| wrong_type(table, name, expected, col.data_type()))
}

/// Column `name` of `batch`, which must be `Date32`.
pub(crate) fn date32(batch: &RecordBatch, table: &str, name: &str) -> Result<Date32Array> {
    downcast(column(batch, table, name)?, table, name, "Date32")
}

/// Column `name` of `batch`, of any numeric type, as `Float64`.
pub(crate) fn float64(batch: &RecordBatch, table: &str, name: &str) -> Result<Float64Array> {
    let col = column(batch, table, name)?;
    if !col.data_type().is_numeric() {
        return Err(wrong_type(table, name, "a numeric type", col.data_type()));
    }
    downcast(&cast(col, &DataType::Float64)?, table, name, "Float64")
}
