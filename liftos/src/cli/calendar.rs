//! `liftos calendar`.

use std::path::PathBuf;

use chrono::NaiveDate;
use liftos::calendar::{CalendarDimension, CalendarOptions};

/// Arguments of `liftos calendar`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    start: NaiveDate,
    /// Last day, inclusive (YYYY-MM-DD).
    #[arg(long)]
    end: NaiveDate,
    /// Public holidays of this country (US, GB, CA, AU, DE, FR, or a subdivision such as
    /// GB-ENG or DE-BY); overrides the config file's `country`.
    #[arg(long)]
    country: Option<String>,
    /// Calendar options as TOML (business days, peak seasons, custom holidays, features).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Comma-separated feature groups or columns to include (default: all).
    #[arg(long, value_delimiter = ',')]
    features: Vec<String>,
    /// Output file: `.csv` or `.parquet`.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> liftos::Result<()> {
    let inputs: Vec<(&str, &std::path::Path)> = args
        .config
        .iter()
        .map(|c| ("--config", c.as_path()))
        .collect();
    liftos::io::check_distinct_files(&inputs, &[("--out", &args.out)])?;
    let mut options = match &args.config {
        Some(path) => CalendarOptions::from_toml_file(path)?,
        None => CalendarOptions::default(),
    };
    if let Some(country) = &args.country {
        options = options.with_country(country.as_str());
    }
    if !args.features.is_empty() {
        options = options.with_features(args.features.iter().map(String::as_str));
    }
    let calendar = CalendarDimension::create_calendar(args.start, args.end, &options)?;
    liftos::io::write_table_atomically(&args.out, &calendar)?;
    println!(
        "Wrote {} days × {} columns to {}",
        calendar.num_rows(),
        calendar.num_columns(),
        args.out.display()
    );
    Ok(())
}
