//! Fixtures that several LiftOS crates' tests share: what a sandbox world holds, the
//! fake servers' Google Ads builder, the PostgreSQL test server, the keys every results
//! JSON carries and column getters of record batches.
//!
//! A dev-dependency only (`publish = false`): library crates never depend on it, so they
//! stay independent of each other.

#![warn(missing_docs)]

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
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

/// The Float64 column `name` of `table` (the test fails on a missing or other column).
pub fn floats(table: &RecordBatch, name: &str) -> Vec<f64> {
    table
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

/// The Utf8 column `name` of `table` as owned strings (nulls read as "").
pub fn texts(table: &RecordBatch, name: &str) -> Vec<String> {
    let s = table
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_string::<i32>();
    (0..table.num_rows())
        .map(|i| s.value(i).to_string())
        .collect()
}

/// Sum of the numeric column `column` of `table`, Float64 or Int64 (CSV inference may
/// give either); the test fails on a missing column, another type or a null.
pub fn sum(table: &RecordBatch, column: &str) -> f64 {
    let c = table
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
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
