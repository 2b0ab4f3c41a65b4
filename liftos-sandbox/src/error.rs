//! The error type of this crate.

/// What can go wrong when building or emitting a world.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration field is out of range or inconsistent.
    #[error("invalid world configuration: `{field}` {message}")]
    InvalidConfig {
        /// The field, as a path such as `channels[1].campaigns[0].daily_budget`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Building an Arrow table failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
