//! The unified table: the one shape every source is mapped to (its schema, column names
//! and natural key live in [`liftos_core::unified`], re-exported here), and the check
//! that a table has it.

use arrow::datatypes::{DataType, Field, Schema};
pub use liftos_core::unified::*;

use crate::{Error, Result};

/// Checks that `schema` holds every unified column with its unified type.
///
/// Extra columns are allowed: breakdowns must be Utf8, metadata columns (named `_...`)
/// may have any type. Nullability is not
/// checked: a non-nullable unified column may arrive nullable from a file, and its
/// missing cells are a data-quality finding, not a broken contract.
pub fn check_schema(schema: &Schema) -> Result<()> {
    check_schema_of("unified table", schema)
}

/// Like [`check_schema`], naming `table` (a source or file) in the error.
pub fn check_schema_of(table: &str, schema: &Schema) -> Result<()> {
    let unified = liftos_core::unified::schema();
    for expected in unified.fields() {
        let Ok(found) = schema.field_with_name(expected.name()) else {
            return Err(Error::MissingColumn {
                table: table.to_owned(),
                column: expected.name().clone(),
            });
        };
        if found.data_type() != expected.data_type() {
            return Err(wrong_type(table, found, expected.data_type()));
        }
    }
    for extra in schema.fields() {
        if unified.field_with_name(extra.name()).is_err()
            && !is_metadata(extra.name())
            && extra.data_type() != &DataType::Utf8
        {
            return Err(wrong_type(table, extra, &DataType::Utf8));
        }
    }
    Ok(())
}

fn wrong_type(table: &str, found: &Field, expected: &DataType) -> Error {
    Error::WrongType {
        table: table.to_owned(),
        column: found.name().clone(),
        expected: expected.to_string(),
        actual: found.data_type().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakdown_columns_must_be_text() {
        let mut fields: Vec<Field> = schema().fields().iter().map(|f| (**f).clone()).collect();
        fields.push(Field::new("device", DataType::Utf8, true));
        assert!(check_schema(&Schema::new(fields.clone())).is_ok());
        let mut with_meta = fields.clone();
        with_meta.push(Field::new(PULLED_AT, DataType::Int64, true));
        assert!(check_schema(&Schema::new(with_meta.clone())).is_ok());
        assert_eq!(natural_key(&Schema::new(with_meta)).len(), 6);
        fields.push(Field::new("age", DataType::Int32, true));
        let err = check_schema_of("meta.csv", &Schema::new(fields)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "meta.csv: column `age` has type Int32, expected Utf8"
        );
    }

    #[test]
    fn a_wrongly_typed_money_column_is_named() {
        let fields: Vec<Field> = schema()
            .fields()
            .iter()
            .map(|f| {
                if f.name() == SPEND {
                    Field::new(SPEND, DataType::Utf8, false)
                } else {
                    (**f).clone()
                }
            })
            .collect();
        let err = check_schema_of("google", &Schema::new(fields)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "google: column `spend` has type Utf8, expected Float64"
        );
    }
}
