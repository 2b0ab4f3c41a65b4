//! Implementing `Connector` for a source LiftOS does not ship: a TikTok-Ads-like reporting
//! API that returns pages of 200 rows with its own field names. The connector declares
//! its schema, streams record batches lazily (no I/O until polled), and plugs into a
//! `Pipeline` with a `SourceMapping` from its columns to the unified table.
//!
//! Run with `cargo run -p liftos-examples --bin custom_connector`.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use futures::StreamExt;
use liftos::causal::{AttributionModel, AttributionOptions, CausalForestParams};
use liftos::connectors::{Connector, ConnectorRequest, RecordBatchStream};
use liftos::pipeline::Pipeline;
use liftos::sandbox::{World, WorldConfig};
use liftos::transform::{ColumnSpec, SchemaMapping, SourceMapping, unified};

/// One row as the (simulated) TikTok reporting API returns it.
#[derive(Debug, Clone)]
struct ApiRow {
    stat_time_day: NaiveDate,
    advertiser_id: String,
    campaign_id: String,
    campaign_name: String,
    spend: f64,
    impressions: i64,
    clicks: i64,
    conversion: i64,
    total_purchase_value: f64,
}

/// The platform's client: pages of at most `page_size` rows for a date range. Here it
/// serves a sandbox world's `tiktok` channel; a real one would make HTTP calls.
#[derive(Debug)]
struct TikTokApi {
    rows: Vec<ApiRow>,
    page_size: usize,
}

impl TikTokApi {
    async fn page(&self, start: NaiveDate, end: NaiveDate, page: usize) -> Vec<ApiRow> {
        self.rows
            .iter()
            .filter(|r| r.stat_time_day >= start && r.stat_time_day <= end)
            .skip(page * self.page_size)
            .take(self.page_size)
            .cloned()
            .collect()
    }
}

/// The connector: the platform's field names, typed.
#[derive(Debug, Clone)]
struct TikTokConnector {
    api: Arc<TikTokApi>,
}

fn tiktok_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("stat_time_day", DataType::Date32, false),
        Field::new("advertiser_id", DataType::Utf8, false),
        Field::new("campaign_id", DataType::Utf8, false),
        Field::new("campaign_name", DataType::Utf8, false),
        Field::new("spend", DataType::Float64, false),
        Field::new("impressions", DataType::Int64, false),
        Field::new("clicks", DataType::Int64, false),
        Field::new("conversion", DataType::Int64, false),
        Field::new("total_purchase_value", DataType::Float64, false),
    ]))
}

fn to_batch(rows: &[ApiRow]) -> liftos::connectors::Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from_iter_values(
            rows.iter()
                .map(|r| liftos::calendar::naive_to_date32(r.stat_time_day)),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.advertiser_id.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.campaign_id.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.campaign_name.as_str()),
        )),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.spend))),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.impressions),
        )),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.clicks))),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.conversion),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.total_purchase_value),
        )),
    ];
    Ok(RecordBatch::try_new(tiktok_schema(), columns)?)
}

#[async_trait::async_trait]
impl Connector for TikTokConnector {
    fn name(&self) -> &str {
        "tiktok"
    }

    fn schema(&self, _request: &ConnectorRequest) -> liftos::connectors::Result<SchemaRef> {
        Ok(tiktok_schema())
    }

    async fn check(&self) -> liftos::connectors::Result<()> {
        Ok(())
    }

    /// Lazy: each poll of the stream fetches the next page; an empty page ends it.
    fn read(&self, request: &ConnectorRequest) -> liftos::connectors::Result<RecordBatchStream> {
        let (api, start, end) = (self.api.clone(), request.start(), request.end());
        let pages = futures::stream::unfold(0usize, move |page| {
            let api = api.clone();
            async move {
                let rows = api.page(start, end, page).await;
                (!rows.is_empty()).then(|| (to_batch(&rows), page + 1))
            }
        });
        Ok(pages.boxed())
    }
}

/// The world's TikTok rows in the API's shape.
fn tiktok_rows(world: &World) -> Vec<ApiRow> {
    world
        .rows()
        .filter(|r| r.channel == "tiktok")
        .map(|r| ApiRow {
            stat_time_day: r.date,
            advertiser_id: r.account_id.to_owned(),
            campaign_id: r.campaign_id.to_owned(),
            campaign_name: r.campaign.to_owned(),
            spend: r.spend,
            impressions: r.impressions,
            clicks: r.clicks,
            conversion: r.conversions.round() as i64,
            total_purchase_value: r.revenue,
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> liftos::Result<()> {
    // A year of a business whose TikTok spend follows demand but causes nothing.
    let world = World::generate(
        &WorldConfig::standard(2)
            .with_days(366)
            .with_seed(5)
            .with_zero_effect_channel("tiktok"),
    )?;
    let connector = TikTokConnector {
        api: Arc::new(TikTokApi {
            rows: tiktok_rows(&world),
            page_size: 200,
        }),
    };

    // Pull on its own: the stream yields one batch per page.
    let request = ConnectorRequest::new(world.config().start, world.config().end())?;
    let mut stream = connector.read(&request)?;
    let (mut pages, mut rows) = (0, 0);
    while let Some(batch) = stream.next().await {
        pages += 1;
        rows += batch?.num_rows();
    }
    println!("tiktok connector: {rows} rows in {pages} pages");

    // Map its fields onto the unified table and run the whole pipeline on it.
    let mapping = SchemaMapping::default().with_source(
        "tiktok",
        SourceMapping::default()
            .with_channel("tiktok")
            .with_column(unified::DATE, ColumnSpec::column("stat_time_day"))
            .with_column(unified::ACCOUNT_ID, ColumnSpec::column("advertiser_id"))
            .with_column(unified::CAMPAIGN_ID, ColumnSpec::column("campaign_id"))
            .with_column(unified::CAMPAIGN, ColumnSpec::column("campaign_name"))
            .with_column(unified::CURRENCY, ColumnSpec::constant("USD"))
            .with_column(unified::SPEND, ColumnSpec::column("spend"))
            .with_column(unified::IMPRESSIONS, ColumnSpec::column("impressions"))
            .with_column(unified::CLICKS, ColumnSpec::column("clicks"))
            .with_column(unified::CONVERSIONS, ColumnSpec::column("conversion"))
            .with_column(unified::REVENUE, ColumnSpec::column("total_purchase_value")),
    );
    let model = AttributionModel::CausalForest(CausalForestParams::default().with_num_trees(500));
    let pipeline = Pipeline::builder()
        .source("tiktok", connector)
        .mapping(mapping)
        .date_range(world.config().start, world.config().end())
        .attribution(AttributionOptions::default().with_model(model).with_seed(5))
        .progress(false)
        .build()?;
    let run = pipeline.run().await?;
    print!("{}", run.summary());
    let results = run.attribution.primary();
    if let Some(t) = results.channel("tiktok") {
        println!(
            "tiktok: naive ROAS {:.2}, incremental ROAS {:.2} [{:.2}, {:.2}], p = {:.2} (true effect: 0)",
            t.naive_roas,
            t.incremental_roas,
            t.incremental_roas_ci_lower,
            t.incremental_roas_ci_upper,
            t.p_value
        );
    }
    Ok(())
}
