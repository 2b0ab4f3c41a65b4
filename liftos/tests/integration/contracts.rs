//! Contracts that span crates.

use arrow::array::RecordBatch;
use liftos::prelude::*;

use crate::common::fake_google_ads;

#[test]
fn the_sandbox_emits_exactly_the_unified_schema_of_the_transform_crate() {
    assert_eq!(liftos::sandbox::unified_schema(), unified::schema());
    let world = World::generate(&WorldConfig::standard(2).with_days(30)).unwrap();
    let table = world.unified_table().unwrap();
    unified::check_schema_of("sandbox", &table.schema()).unwrap();
}

/// One row of a unified table as comparable values: the natural key, then the metrics
/// with money in cents (what the platforms report).
type KeyedRow = (
    i32,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
);

fn keyed_rows(table: &RecordBatch) -> Vec<KeyedRow> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
    let column = |c: &str| table.column_by_name(c).unwrap();
    let text = |c: &str| {
        let a = column(c).as_string::<i32>().clone();
        move |r: usize| {
            if a.is_valid(r) {
                a.value(r).to_owned()
            } else {
                String::new()
            }
        }
    };
    let f = |c: &str| column(c).as_primitive::<Float64Type>().clone();
    let i = |c: &str| column(c).as_primitive::<Int64Type>().clone();
    let date = column("date").as_primitive::<Date32Type>().clone();
    let (channel, account, campaign_id, campaign, currency) = (
        text("channel"),
        text("account_id"),
        text("campaign_id"),
        text("campaign"),
        text("currency"),
    );
    let (spend, conversions, revenue) = (f("spend"), f("conversions"), f("revenue"));
    let (impressions, clicks) = (i("impressions"), i("clicks"));
    let cents = |x: f64| (x * 100.0).round() as i64;
    let mut rows: Vec<KeyedRow> = (0..table.num_rows())
        .map(|r| {
            (
                date.value(r),
                channel(r),
                account(r),
                campaign_id(r),
                campaign(r),
                currency(r),
                cents(spend.value(r)),
                impressions.value(r),
                clicks.value(r),
                (conversions.value(r) * 1000.0).round() as i64,
                cents(revenue.value(r)),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn the_three_connectors_over_the_fakes_unify_to_the_worlds_table_exactly() {
    use liftos::connectors::{KlaviyoBuilder, MetaAdsBuilder};
    use liftos::transform::{SchemaMapping, unify_marketing_data};

    let world = crate::common::world();
    let fakes =
        crate::common::start_fakes(world.clone(), liftos::sandbox::fake::FaultConfig::none());
    let s = &fakes.servers;
    let c = s.credentials().clone();
    let (start, end) = (world.config().start, world.config().end());
    let request = ConnectorRequest::new(start, end).unwrap();
    let (meta, google, klaviyo) = fakes.runtime.block_on(async {
        let meta = MetaAdsBuilder::new()
            .with_access_token(c.meta_access_token.clone())
            .with_ad_account_ids(["act_1000000001", "1000000002"])
            .with_base_url(s.meta_base_url())
            .build()
            .unwrap();
        let google = fake_google_ads(s).build().unwrap();
        let klaviyo = KlaviyoBuilder::new()
            .with_api_key(c.klaviyo_api_key.clone())
            .with_base_url(s.klaviyo_base_url())
            .with_cost_per_recipient(0.01)
            .build()
            .unwrap();
        (
            meta.get_campaign_data(&request).await.unwrap(),
            google.get_campaign_data(&request).await.unwrap(),
            klaviyo.get_campaign_data(&request).await.unwrap(),
        )
    });
    let unified = unify_marketing_data(
        [
            ("meta", &meta),
            ("google_ads", &google),
            ("klaviyo", &klaviyo),
        ],
        &SchemaMapping::default(),
    )
    .unwrap();
    assert_eq!(unified.quarantine.num_rows(), 0);
    let want = world.unified_table().unwrap();
    assert_eq!(unified.table.num_rows(), want.num_rows(), "row count");
    // The unified columns come first, with exactly the unified types.
    for (got, expected) in unified
        .table
        .schema()
        .fields()
        .iter()
        .zip(want.schema().fields())
    {
        assert_eq!(got, expected);
    }
    for channel in ["meta", "google_ads", "klaviyo"] {
        let totals = |t: &RecordBatch| {
            keyed_rows(t)
                .into_iter()
                .filter(|r| r.1 == channel)
                .fold((0usize, 0i64, 0i64, 0i64), |a, r| {
                    (a.0 + 1, a.1 + r.6, a.2 + r.7, a.3 + r.10)
                })
        };
        assert_eq!(
            totals(&unified.table),
            totals(&want),
            "{channel}: rows, spend (cents), impressions, revenue (cents)"
        );
    }
    assert_eq!(keyed_rows(&unified.table), keyed_rows(&want), "row by row");
}
