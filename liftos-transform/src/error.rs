//! The error type of this crate.

use std::path::PathBuf;

/// A broken contract: the input is not what a transform needs.
///
/// Data-quality problems are not errors; they are reported as data (a
/// [`QualityReport`](crate::QualityReport), a quarantine table).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required column is absent.
    #[error("{table}: missing column `{column}`")]
    MissingColumn {
        /// The table (source name or file) that lacks the column.
        table: String,
        /// The missing column.
        column: String,
    },
    /// A column has a type the transform cannot use.
    #[error("{table}: column `{column}` has type {actual}, expected {expected}")]
    WrongType {
        /// The table holding the column.
        table: String,
        /// The column.
        column: String,
        /// The type the transform needs.
        expected: String,
        /// The type found.
        actual: String,
    },
    /// A unified column cannot be mapped from a source: its mapping names a column the
    /// source does not have, or the source has no mapping for a required column.
    #[error("source `{table}`: cannot map unified column `{unified}`: {reason}")]
    Unmapped {
        /// The source (its name in the unify call).
        table: String,
        /// The unified column being mapped.
        unified: String,
        /// What is wrong, naming the source column.
        reason: String,
    },
    /// A column's values are written in formats that cannot be told apart (e.g. day-first
    /// and month-first dates in one column): the mapping must say which.
    #[error("{table}: column `{column}` {message}")]
    Format {
        /// The table (source name or file).
        table: String,
        /// The column.
        column: String,
        /// What is mixed, with examples and the setting that resolves it.
        message: String,
    },
    /// Several required unified columns cannot be filled from a source: every one is
    /// listed, with the mapping lines that would fill them.
    #[error("source `{table}`: cannot map unified columns {columns}: {reason}")]
    UnmappedColumns {
        /// The source (its name in the unify call).
        table: String,
        /// The unified columns, quoted and comma-separated.
        columns: String,
        /// Why each is missing, what the source has, and the TOML that fixes it.
        reason: String,
    },
    /// A configuration value (mapping, rules, fixes, options) is invalid.
    #[error("invalid configuration at `{key}`: {message}")]
    Config {
        /// The key (TOML path or option name) holding the bad value.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file could not be read or parsed.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    File {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the problem, when known (CSV, TOML).
        line: Option<usize>,
        /// What went wrong.
        message: String,
    },
    /// A SQL statement or table registration failed.
    #[error("SQL: {message}")]
    Sql {
        /// DataFusion's message.
        message: String,
    },
    /// A Ballista cluster (`df://HOST:PORT`) is named wrongly or cannot be used.
    #[error("cluster `{url}`: {message}")]
    Cluster {
        /// The cluster URL as given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// A query on a cluster was stopped before it finished (a time limit, a
    /// [`QueryStopper`](crate::QueryStopper), its caller gone), with what became of its
    /// job on the scheduler.
    #[cfg(feature = "distributed")]
    #[error("{0}")]
    ClusterQueryStopped(Box<crate::StoppedQuery>),
    /// An Arrow kernel failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    /// The error with a table named generically (`table`, as the whole-table functions
    /// name their input) renamed `name`, e.g. the file the table was read from; other
    /// errors unchanged.
    pub fn in_table(self, name: &str) -> Self {
        let rename = |t: String| if t == "table" { name.to_owned() } else { t };
        match self {
            Error::MissingColumn { table, column } => Error::MissingColumn {
                table: rename(table),
                column,
            },
            Error::WrongType {
                table,
                column,
                expected,
                actual,
            } => Error::WrongType {
                table: rename(table),
                column,
                expected,
                actual,
            },
            Error::Format {
                table,
                column,
                message,
            } => Error::Format {
                table: rename(table),
                column,
                message,
            },
            other => other,
        }
    }

    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }

    pub(crate) fn wrong_type(
        table: &str,
        column: &str,
        expected: impl Into<String>,
        actual: &arrow::datatypes::DataType,
    ) -> Self {
        Error::WrongType {
            table: table.to_owned(),
            column: column.to_owned(),
            expected: expected.into(),
            actual: actual.to_string(),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
