//! Prints every built-in public holiday of a country for a range of years, one
//! `date<TAB>name` line each, for cross-checking against other sources
//! (see `scripts/holidays_diff.py`).
//!
//! `cargo run -p liftos-calendar --example dump_holidays -- US 1990 2050`

use chrono::NaiveDate;
use liftos_calendar::{Error, HolidaySet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = args.first().map(String::as_str).unwrap_or("US");
    let first: i32 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1990);
    let last: i32 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2050);
    let range_err = || Error::InvalidOption {
        key: "years".into(),
        reason: format!("{first}..={last} is not a valid year range"),
    };
    let start = NaiveDate::from_ymd_opt(first, 1, 1).ok_or_else(range_err)?;
    let end = NaiveDate::from_ymd_opt(last, 12, 31).ok_or_else(range_err)?;
    for h in HolidaySet::public(code)?.between(start, end)? {
        println!("{}\t{}", h.date, h.name);
    }
    Ok(())
}
