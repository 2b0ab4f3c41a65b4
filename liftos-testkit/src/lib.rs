//! Fixtures that several LiftOS crates' tests share: what a sandbox world holds, the
//! fake servers' Google Ads builder, the PostgreSQL test server, the keys every results
//! JSON carries and column getters of record batches.
//!
//! A dev-dependency only (`publish = false`): library crates never depend on it, so they
//! stay independent of each other.

#![warn(missing_docs)]

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use chrono::NaiveDate;
use liftos_connectors::GoogleAdsBuilder;
use liftos_sandbox::World;
use liftos_sandbox::fake::FakeServers;

/// (rows, spend, impressions, clicks, conversions, revenue) of one channel.
pub type Totals = (usize, f64, i64, i64, f64, f64);

/// The [`Totals`] of one channel of the world.
pub fn world_totals(world: &World, channel: &str) -> Totals {
    let mut t = (0, 0.0, 0, 0, 0.0, 0.0);
    for r in world.rows().filter(|r| r.channel == channel) {
        t.0 += 1;
        t.1 += r.spend;
        t.2 += r.impressions;
        t.3 += r.clicks;
        t.4 += r.conversions;
        t.5 += r.revenue;
    }
    t
}

/// A Google Ads builder for the fakes: their credentials, customer (written with dashes,
/// as users paste it) and URLs.
pub fn fake_google_ads(servers: &FakeServers) -> GoogleAdsBuilder {
    let c = servers.credentials();
    GoogleAdsBuilder::new()
        .with_developer_token(c.google_developer_token.clone())
        .with_oauth(
            c.google_client_id.clone(),
            c.google_client_secret.clone(),
            c.google_refresh_token.clone(),
        )
        .with_customer_ids(["123-456-7890"])
        .with_base_url(servers.google_base_url())
        .with_token_url(servers.google_token_url())
}

/// The PostgreSQL test server's URL (`LIFTOS_TEST_POSTGRES_URL`, printed by
/// `.ci/postgres start`), or `None` with the reason printed; fails instead when
/// `LIFTOS_REQUIRE_POSTGRES=1` (set by `.ci/run`).
pub fn postgres_url() -> Option<String> {
    match std::env::var("LIFTOS_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("LIFTOS_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "LIFTOS_REQUIRE_POSTGRES=1 but LIFTOS_TEST_POSTGRES_URL is not set: start a server with `eval \"$(bash .ci/postgres start DIR)\"`"
            );
            eprintln!(
                "skipped: LIFTOS_TEST_POSTGRES_URL is not set (start one with `eval \"$(bash .ci/postgres start /tmp/pg)\"`)"
            );
            None
        }
    }
}

/// The keys every attribution results JSON has at its top level.
pub const RESULTS_KEYS: [&str; 9] = [
    "model",
    "outcome",
    "treatment",
    "rows",
    "confidence_level",
    "seed",
    "model_accuracy",
    "channels",
    "temporal",
];

/// The fields every channel of the results has, in its table and in the JSON.
pub const CHANNEL_FIELDS: [&str; 7] = [
    "channel",
    "spend",
    "revenue_lift",
    "ci_lower",
    "ci_upper",
    "p_value",
    "incremental_roas",
];

/// The column `name` of `table` (the test fails when it is missing).
pub fn column<'a>(table: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    table
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// The Float64 column `name` of `table` (the test fails on a missing or other column).
pub fn floats(table: &RecordBatch, name: &str) -> Vec<f64> {
    column(table, name)
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

/// The Utf8 column `name` of `table` as owned strings (nulls read as "").
pub fn texts(table: &RecordBatch, name: &str) -> Vec<String> {
    let s = column(table, name).as_string::<i32>();
    (0..table.num_rows())
        .map(|i| s.value(i).to_string())
        .collect()
}

/// The Date32 column `name` of `table` as dates (the test fails on a missing column or a
/// null).
pub fn days(table: &RecordBatch, name: &str) -> Vec<NaiveDate> {
    let d = column(table, name).as_primitive::<Date32Type>();
    assert_eq!(d.null_count(), 0, "{name} has nulls");
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    d.values()
        .iter()
        .map(|v| epoch + chrono::TimeDelta::days(i64::from(*v)))
        .collect()
}

/// The Boolean column `name` of `table` as 1.0 (true) and 0.0 (false, null).
pub fn flags(table: &RecordBatch, name: &str) -> Vec<f64> {
    let b = column(table, name).as_boolean();
    (0..table.num_rows())
        .map(|i| f64::from(u8::from(b.is_valid(i) && b.value(i))))
        .collect()
}

/// Each value's position among the distinct values in sorted order (a dense code).
pub fn codes(values: &[String]) -> Vec<u32> {
    let mut distinct: Vec<&String> = values.iter().collect();
    distinct.sort();
    distinct.dedup();
    values
        .iter()
        .map(|v| distinct.binary_search(&v).expect("every value is listed") as u32)
        .collect()
}

/// Sum of the numeric column `column` of `table`, Float64 or Int64 (CSV inference may
/// give either); the test fails on a missing column, another type or a null.
pub fn sum(table: &RecordBatch, column: &str) -> f64 {
    let c = self::column(table, column);
    assert_eq!(c.null_count(), 0, "{column} has nulls");
    match c.data_type() {
        DataType::Float64 => c.as_primitive::<Float64Type>().iter().flatten().sum(),
        DataType::Int64 => c
            .as_primitive::<Int64Type>()
            .iter()
            .flatten()
            .map(|v| v as f64)
            .sum(),
        other => panic!("{column} is {other}"),
    }
}
