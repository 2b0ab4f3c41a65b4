//! Exploring data and results with SQL (DataFusion): the enriched table, the calendar,
//! the channel effects and each row's estimated return, registered in one session.
//!
//! Run with `cargo run -p liftos-examples --bin sql_exploration`.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema};
use liftos::analysis::join_calendar;
use liftos::calendar::{CalendarDimension, CalendarOptions};
use liftos::causal::{
    AttributionModel, AttributionOptions, CausalForestParams, CausalRoles, analyze_attribution,
    prepare_causal_data,
};
use liftos::sandbox::{World, WorldConfig};
use liftos::transform::{SqlSession, pretty_format};

fn main() -> liftos::Result<()> {
    let world = World::generate(&WorldConfig::standard(3).with_days(366).with_seed(21))?;
    let (start, end) = (world.config().start, world.config().end());
    let calendar = CalendarDimension::create_calendar(start, end, &CalendarOptions::default())?;
    let enriched = join_calendar(&world.unified_table()?, "date", &calendar)?;
    let panel = prepare_causal_data(&enriched, &CausalRoles::default())?;
    let options = AttributionOptions::default()
        .with_model(AttributionModel::CausalForest(
            CausalForestParams::default().with_num_trees(300),
        ))
        .with_seed(21);
    let attribution = analyze_attribution(&panel, &options)?;
    let results = attribution.primary();

    // Each row with its estimated return τ̂ (the panel keeps every row of this table; a
    // table with missing role values would need the panel's row index to align).
    if panel.num_rows() != enriched.num_rows() {
        return Err(liftos::Error::InvalidPipeline {
            field: "panel".into(),
            message: format!(
                "{} of {} rows were left out of the model",
                enriched.num_rows() - panel.num_rows(),
                enriched.num_rows()
            ),
        });
    }
    let effects = results.treatment_effects_table()?;
    let mut fields = enriched.schema().fields().to_vec();
    fields.push(Field::new("tau", arrow::datatypes::DataType::Float64, false).into());
    let mut columns = enriched.columns().to_vec();
    columns.push(effects.column(0).clone());
    let rows = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;

    let sql = SqlSession::new()?;
    sql.register_batch("daily", rows)?;
    sql.register_batch("calendar", calendar)?;
    sql.register_batch("effects", results.channel_table()?)?;
    println!("tables: {}", sql.table_names().join(", "));

    let queries = [
        (
            "Spend and revenue by channel and quarter",
            "SELECT channel, CAST(date_part('quarter', date) AS INT) AS quarter, \
                    round(sum(spend)) AS spend, round(sum(revenue)) AS revenue \
             FROM daily GROUP BY channel, date_part('quarter', date) ORDER BY channel, quarter",
        ),
        (
            "Naive and causal return by channel",
            "SELECT channel, round(naive_roas, 2) AS naive_roas, \
                    round(incremental_roas, 2) AS incremental_roas, \
                    round(incremental_roas_ci_lower, 2) AS ci_lower, \
                    round(incremental_roas_ci_upper, 2) AS ci_upper, \
                    round(p_value, 4) AS p_value \
             FROM effects ORDER BY incremental_roas DESC",
        ),
        (
            "Estimated return of spend on holidays vs other days",
            "SELECT channel, is_holiday, count(*) AS campaign_days, \
                    round(sum(tau * spend) / sum(spend), 2) AS spend_weighted_return \
             FROM daily GROUP BY channel, is_holiday ORDER BY channel, is_holiday",
        ),
        (
            "Holidays in the data (from the calendar)",
            "SELECT date, holiday_name FROM calendar WHERE is_holiday ORDER BY date LIMIT 5",
        ),
    ];
    for (title, query) in queries {
        println!("\n{title}\n{}", pretty_format(&sql.sql(query)?)?);
    }
    Ok(())
}
