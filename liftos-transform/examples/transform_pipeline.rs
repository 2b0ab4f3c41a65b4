//! Runs unify → validate → clean (all four fixes) on raw platform exports and prints
//! totals, timings and peak memory as JSON.
//!
//! ```text
//! cargo run --release -p liftos-transform --no-default-features --example transform_pipeline -- DIR
//! ```
//!
//! `DIR` holds `meta.csv`, `google_ads.csv`, `klaviyo.csv` (the connectors' column names)
//! and `rates.csv` (date, currency, rate to USD); `benches/transform_vs_pandas.py`
//! generates them and runs the same steps in pandas.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use chrono::NaiveDate;
use liftos_transform::{
    CurrencyConversion, Fixes, QualityRules, RateTable, SchemaMapping, SourceMapping, clean_data,
    read_tables, unify_marketing_data, validate_data_quality,
};

/// Peak resident memory of this process in MiB (Linux `VmHWM`), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn sum_f64(t: &RecordBatch, c: &str) -> f64 {
    t.column_by_name(c).map_or(0.0, |a| {
        a.as_primitive::<Float64Type>().values().iter().sum()
    })
}

fn sum_i64(t: &RecordBatch, c: &str) -> i64 {
    t.column_by_name(c)
        .map_or(0, |a| a.as_primitive::<Int64Type>().values().iter().sum())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: transform_pipeline DIR")?,
    );
    let mut times = BTreeMap::new();
    let start = Instant::now();

    let t = Instant::now();
    let files = ["meta.csv", "google_ads.csv", "klaviyo.csv", "rates.csv"].map(|f| dir.join(f));
    let [meta, google, klaviyo, rates]: [RecordBatch; 4] =
        read_tables(&files)?.try_into().map_err(|_| "four tables")?;
    let rates = RateTable::from_batch(&rates)?;
    times.insert("1_read", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mapping = SchemaMapping::default().with_source(
        "klaviyo",
        SourceMapping::klaviyo().with_timezone("America/New_York"),
    );
    let unified = unify_marketing_data(
        [
            ("meta", &meta),
            ("google_ads", &google),
            ("klaviyo", &klaviyo),
        ],
        &mapping,
    )?;
    times.insert("2_unify", t.elapsed().as_secs_f64());
    // The raw tables are not needed any more.
    let rows_in = meta.num_rows() + google.num_rows() + klaviyo.num_rows();
    drop((meta, google, klaviyo));

    let t = Instant::now();
    let today = NaiveDate::from_ymd_opt(2024, 12, 31).ok_or("date")?;
    let report = validate_data_quality(
        &unified.table,
        &[],
        &QualityRules::default().with_today(today),
    )?;
    times.insert("3_validate", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let cleaned = clean_data(
        &unified.table,
        &Fixes::all(CurrencyConversion::new("USD", rates)),
    )?;
    times.insert("4_clean", t.elapsed().as_secs_f64());
    let total = start.elapsed().as_secs_f64();

    let acc = cleaned.accounting();
    if !acc.balances() {
        return Err(format!("row accounting does not balance: {acc:?}").into());
    }
    let mut issues = BTreeMap::new();
    for i in &report.issues {
        *issues
            .entry(format!(
                "{}{}",
                i.rule,
                i.column
                    .as_ref()
                    .map(|c| format!(":{c}"))
                    .unwrap_or_default()
            ))
            .or_insert(0) += i.row_count;
    }
    let out = &cleaned.table;
    let result = serde_json::json!({
        "rows_in": rows_in,
        "unified_rows": unified.table.num_rows(),
        "unify_quarantined": unified.quarantine.num_rows(),
        "issues": issues,
        "rows_out": acc.rows_out,
        "filled": acc.filled,
        "quarantined": acc.quarantined + unified.quarantine.num_rows(),
        "dropped_duplicates": acc.dropped_duplicates,
        "spend": sum_f64(out, "spend"),
        "revenue": sum_f64(out, "revenue"),
        "conversions": sum_f64(out, "conversions"),
        "impressions": sum_i64(out, "impressions"),
        "clicks": sum_i64(out, "clicks"),
        "seconds": times,
        "total_seconds": total,
        "peak_rss_mib": peak_rss_mib(),
    });
    println!("{result}");
    Ok(())
}
