//! The error type of `liftos-causal`.

/// Everything that can go wrong in `liftos-causal`.
///
/// Bad input (a missing column, a NaN, an invalid parameter) always gives one of these
/// variants with enough context to find the problem; the crate never panics on input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An Arrow operation failed (building an output table, casting a column).
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),

    /// A parameter is outside its valid range.
    #[error("invalid parameter `{name}` = {value}: expected {expected}")]
    InvalidParameter {
        /// The parameter's field name.
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// What would have been accepted.
        expected: String,
    },

    /// A column named in the roles is not in the input table.
    #[error("column `{column}` (the {role}) is not in the input; available columns: {available}")]
    MissingColumn {
        /// The missing column.
        column: String,
        /// The role it was meant to play (outcome, treatment, covariate, ...).
        role: &'static str,
        /// The columns that do exist, comma separated.
        available: String,
    },

    /// A column that must be numeric is not.
    #[error(
        "column `{column}` (the {role}) has type {data_type}, which is not numeric{example}; encode it as numbers first"
    )]
    NonNumericColumn {
        /// The offending column.
        column: String,
        /// Where it is not a number, e.g. `: row 5 holds `1,234.5`` (or empty).
        example: String,
        /// The role it was meant to play.
        role: &'static str,
        /// Its Arrow data type.
        data_type: String,
    },

    /// A value is missing (null).
    #[error("column `{column}` has a null at row {row}")]
    NullValue {
        /// The column.
        column: String,
        /// The zero-based row.
        row: usize,
    },

    /// A numeric value is NaN or infinite.
    #[error("column `{column}` has the non-finite value {value} at row {row}")]
    NonFinite {
        /// The column.
        column: String,
        /// The zero-based row.
        row: usize,
        /// The value found.
        value: f64,
    },

    /// Columns that must have one value per row have different lengths.
    #[error("column `{column}` has {found} values but the data has {expected} rows")]
    LengthMismatch {
        /// The column.
        column: String,
        /// The number of rows expected.
        expected: usize,
        /// The number of values found.
        found: usize,
    },

    /// Two covariates share a name.
    #[error("covariate `{column}` is given twice")]
    DuplicateColumn {
        /// The duplicated name.
        column: String,
    },

    /// There is not enough data for the requested computation.
    #[error("not enough data for {what}: found {found}, need at least {needed}")]
    TooLittleData {
        /// What needed the data.
        what: String,
        /// What was available.
        found: usize,
        /// The minimum required.
        needed: usize,
    },

    /// The treatment (or another variable) does not vary where it must.
    #[error("{what} does not vary, so the effect is not identified")]
    NoVariation {
        /// What was constant.
        what: String,
    },

    /// A linear system (calibration test, best linear projection) is singular.
    #[error("the design matrix of the {what} is singular (collinear or constant regressors)")]
    Singular {
        /// Which regression.
        what: &'static str,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// `TooLittleData` unless `found ≥ needed` (`what` names what was counted).
    pub(crate) fn at_least(
        found: usize,
        needed: usize,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        if found < needed {
            return Err(Error::TooLittleData {
                what: what(),
                found,
                needed,
            });
        }
        Ok(())
    }

    pub(crate) fn param(
        name: &'static str,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Error::InvalidParameter {
            name,
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}
