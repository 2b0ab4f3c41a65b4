//! Shared helpers of the LiftOS benchmark programs (`src/bin`); the Criterion benches
//! live in `benches/`.

/// The error type of the benchmark programs.
pub type BoxError = Box<dyn std::error::Error>;

/// The value after flag `name` in `args`, parsed, or `default` when the flag is absent;
/// an error names the flag and the value it could not parse.
pub fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, BoxError> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            let v = args.get(i + 1).ok_or(format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name}: `{v}` is not a valid value").into())
        }
    }
}
