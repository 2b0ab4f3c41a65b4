//! No feature uses data from after its own date: features computed on the full data and on
//! the data truncated at day D are identical for every row dated on or before D.

use arrow::array::{Array, Date32Array, Float64Array, RecordBatch};
use liftos_calendar::{
    CalendarDimension, CalendarOptions, SeasonalityOptions, add_marketing_features,
    marketing::MARKETING_COLUMNS, naive_to_date32,
};

use crate::marketing::{calendar_2023, campaign_data};
use crate::{column, d};

/// Rows of `batch` dated on or before `cutoff` (days since epoch).
fn rows_until(batch: &RecordBatch, cutoff: i32) -> usize {
    let dates = column::<Date32Array>(batch, "date");
    (0..batch.num_rows())
        .filter(|i| dates.value(*i) <= cutoff)
        .count()
}

#[test]
fn marketing_features_are_unchanged_by_truncating_the_future() {
    let full = campaign_data(d(2023, 12, 31));
    let calendar = calendar_2023();
    let out_full = add_marketing_features(&calendar, &full).unwrap();
    for cutoff in [d(2023, 2, 14), d(2023, 8, 15), d(2023, 11, 24)] {
        let truncated = campaign_data(cutoff);
        let out_trunc = add_marketing_features(&calendar, &truncated).unwrap();
        let n = rows_until(&out_full, naive_to_date32(cutoff));
        assert_eq!(out_trunc.num_rows(), n);
        for col in MARKETING_COLUMNS {
            let a = out_full.column_by_name(col).unwrap().slice(0, n);
            let b = out_trunc.column_by_name(col).unwrap();
            assert_eq!(a.to_data(), b.to_data(), "{col} differs up to {cutoff}");
            assert!(
                b.len() > b.null_count(),
                "{col} is all null: the test would prove nothing"
            );
        }
    }
}

fn history(last: chrono::NaiveDate) -> Vec<(chrono::NaiveDate, f64)> {
    use chrono::Datelike;
    let mut out = Vec::new();
    let mut day = d(2019, 1, 1);
    while day <= last {
        let season = 1.0 + 0.5 * ((day.ordinal() as f64) / 58.0).sin();
        out.push((day, 100.0 * season + (day.day() % 7) as f64));
        day = day.succ_opt().unwrap();
    }
    out
}

fn index(hist: Vec<(chrono::NaiveDate, f64)>, leakage_safe: bool) -> Float64Array {
    let opts = CalendarOptions::default()
        .with_features(["seasonality"])
        .with_seasonality(
            SeasonalityOptions::default()
                .with_history(hist)
                .with_leakage_safe(leakage_safe),
        );
    let cal = CalendarDimension::create_calendar(d(2020, 1, 1), d(2023, 12, 31), &opts).unwrap();
    column::<Float64Array>(&cal, "seasonality_index").clone()
}

#[test]
fn seasonality_index_is_unchanged_by_truncating_the_future_when_leakage_safe() {
    let cutoff = d(2022, 6, 30);
    let n = (cutoff - d(2020, 1, 1)).num_days() as usize + 1;
    let full = index(history(d(2023, 12, 31)), true);
    let trunc = index(history(cutoff), true);
    assert_eq!(full.slice(0, n), trunc.slice(0, n));
    // Sanity: the index does vary, and without leakage_safe it does look ahead.
    assert!(full.values()[..n].iter().any(|v| (v - 1.0).abs() > 0.1));
    let leaky_full = index(history(d(2023, 12, 31)), false);
    let leaky_trunc = index(history(cutoff), false);
    assert_ne!(leaky_full.slice(0, n), leaky_trunc.slice(0, n));
}
