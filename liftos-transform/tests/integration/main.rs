//! Integration tests of liftos-transform (one binary, a module per area).

mod clean;
mod files;
mod formats;
mod props;
mod quality;
#[cfg(feature = "sql")]
mod sql;
mod unify;

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use chrono::NaiveDate;
use liftos_transform::unified;

/// Epoch day of `YYYY-MM-DD`.
pub fn day(s: &str) -> i32 {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date");
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// Pretty-printed lines of a table.
pub fn lines(batch: &RecordBatch) -> Vec<String> {
    liftos_transform::pretty_format(std::slice::from_ref(batch))
        .expect("pretty")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Asserts a table prints as `expected` (paste-able expectations).
#[track_caller]
pub fn assert_table(batch: &RecordBatch, expected: &[&str]) {
    let got = lines(batch);
    assert_eq!(
        got,
        expected,
        "\nactual:\n{}\n",
        got.iter()
            .map(|l| format!("        \"{l}\","))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// One unified row for building test tables.
#[derive(Debug, Clone)]
pub struct Row {
    pub date: i32,
    pub channel: &'static str,
    pub account: &'static str,
    pub campaign_id: &'static str,
    pub campaign: String,
    pub currency: &'static str,
    pub spend: f64,
    pub impressions: i64,
    pub clicks: i64,
    pub conversions: f64,
    pub revenue: f64,
}

impl Row {
    pub fn new(date: &str, campaign_id: &'static str, spend: f64) -> Self {
        Row {
            date: day(date),
            channel: "meta",
            account: "act_1",
            campaign_id,
            campaign: format!("Campaign {campaign_id}"),
            currency: "USD",
            spend,
            impressions: 1000,
            clicks: 20,
            conversions: 2.0,
            revenue: 3.0 * spend,
        }
    }
}

/// A unified table (no ad_group values, no breakdowns) from rows.
pub fn unified_table(rows: &[Row]) -> RecordBatch {
    let text = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let float = |f: fn(&Row) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(rows.iter().map(f)))
    };
    let int = |f: fn(&Row) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
    };
    RecordBatch::try_new(
        unified::schema(),
        vec![
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.date))),
            text(&|r| Some(r.channel.to_owned())),
            text(&|r| Some(r.account.to_owned())),
            text(&|r| Some(r.campaign_id.to_owned())),
            text(&|r| Some(r.campaign.clone())),
            text(&|_| None),
            text(&|r| Some(r.currency.to_owned())),
            float(|r| r.spend),
            int(|r| r.impressions),
            int(|r| r.clicks),
            float(|r| r.conversions),
            float(|r| r.revenue),
        ],
    )
    .expect("unified test table")
}

/// Two campaigns over 14 clean days, steady spend.
pub fn clean_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for d in 0..14 {
        let date = NaiveDate::from_ymd_opt(2024, 3, 1).expect("date") + chrono::Days::new(d);
        let date = date.format("%Y-%m-%d").to_string();
        rows.push(Row::new(&date, "c1", 100.0 + (d % 3) as f64));
        let mut r = Row::new(&date, "c2", 50.0 + (d % 2) as f64);
        r.channel = "google_ads";
        r.account = "123";
        rows.push(r);
    }
    rows
}
