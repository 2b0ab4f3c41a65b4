//! The seed's notebook flow, cell by cell, against the sandbox: pull the three platforms
//! over HTTP (local fake APIs), unify, check quality, build the calendar with marketing
//! features, explore, estimate each channel's causal effect, plot and export.
//!
//! Run with `cargo run -p liftos-examples --bin quickstart [-- OUT_DIR]`.
//! The same flow as one call is `liftos::pipeline::Pipeline` (see the README).

use std::path::PathBuf;
use std::time::Duration;

use liftos::calendar::{CalendarDimension, CalendarOptions};
use liftos::causal::{
    AttributionModel, AttributionOptions, CausalForestParams, CausalRoles, analyze_attribution,
    prepare_causal_data,
};
use liftos::connectors::{
    Connector, ConnectorRequest, GoogleAdsBuilder, KlaviyoBuilder, MetaAdsBuilder,
};
use liftos::report::{
    PlotOptions, channel_summary, export_results, plot_attribution_waterfall,
    plot_treatment_effects,
};
use liftos::sandbox::fake::{FakeServers, FaultConfig};
use liftos::sandbox::{World, WorldConfig};
use liftos::transform::{
    QualityRules, SchemaMapping, pretty_format, unify_marketing_data, validate_data_quality,
};

fn report(e: impl std::fmt::Display) -> liftos::Error {
    liftos::Error::Report(e.to_string())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> liftos::Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("liftos-quickstart"));
    std::fs::create_dir_all(&out).map_err(|source| liftos::Error::Io {
        path: out.display().to_string(),
        source,
    })?;

    // Cell 1: setup. A year of a simulated business, served by local fake APIs that
    // speak the platforms' own protocols (in real use: MetaAdsBuilder::from_env() etc.).
    let world = World::generate(&WorldConfig::standard(3).with_days(366).with_seed(3))?;
    let servers = FakeServers::start(world.clone(), FaultConfig::none())
        .await
        .map_err(|source| liftos::Error::Io {
            path: "fake APIs".into(),
            source,
        })?;
    let creds = servers.credentials().clone();
    println!("Cell 1: fake APIs listening at {}", servers.meta_base_url());

    // Cell 2: data import, one connector per platform.
    let request = ConnectorRequest::new(world.config().start, world.config().end())?;
    let meta = MetaAdsBuilder::new()
        .with_access_token(creds.meta_access_token.clone())
        .with_ad_account_ids(["act_1000000001", "act_1000000002"])
        .with_base_url(servers.meta_base_url())
        .with_async_polling(Duration::from_millis(20), Duration::from_secs(60))
        .build()?;
    let google = GoogleAdsBuilder::new()
        .with_developer_token(creds.google_developer_token.clone())
        .with_oauth(
            creds.google_client_id.clone(),
            creds.google_client_secret.clone(),
            creds.google_refresh_token.clone(),
        )
        .with_customer_ids(["123-456-7890"])
        .with_base_url(servers.google_base_url())
        .with_token_url(servers.google_token_url())
        .build()?;
    let klaviyo = KlaviyoBuilder::new()
        .with_api_key(creds.klaviyo_api_key.clone())
        .with_base_url(servers.klaviyo_base_url())
        .with_cost_per_recipient(0.01)
        .with_report_interval(Duration::from_millis(20))
        .build()?;
    let meta_data = meta.get_campaign_data(&request).await?;
    let google_data = google.get_campaign_data(&request).await?;
    let klaviyo_data = klaviyo.get_campaign_data(&request).await?;
    println!(
        "Cell 2: pulled meta {} rows, google_ads {} rows, klaviyo {} rows",
        meta_data.num_rows(),
        google_data.num_rows(),
        klaviyo_data.num_rows()
    );

    // Cell 3: transformation into the unified table, and its quality.
    let unified = unify_marketing_data(
        [
            ("meta", &meta_data),
            ("google_ads", &google_data),
            ("klaviyo", &klaviyo_data),
        ],
        &SchemaMapping::default(),
    )?;
    let rules = QualityRules::default();
    let quality =
        validate_data_quality(&unified.table, &rules.required_fields_or_default(), &rules)?;
    println!(
        "Cell 3: unified {} rows ({} quarantined); completeness {:.1}%, accuracy {:.1}%, {} issue(s)",
        unified.table.num_rows(),
        unified.quarantine.num_rows(),
        100.0 * quality.completeness_score,
        100.0 * quality.accuracy_score,
        quality.issues.len()
    );

    // Cell 4: calendar dimension (US holidays, commercial events, seasonality), joined
    // onto every row together with the campaign-derived marketing features.
    let calendar_dim = CalendarDimension::new(CalendarOptions::default())?;
    let calendar_table = calendar_dim.create(world.config().start, world.config().end())?;
    let enriched = calendar_dim.add_marketing_features(&calendar_table, &unified.table)?;
    println!(
        "Cell 4: calendar {} days × {} columns; enriched table {} columns",
        calendar_table.num_rows(),
        calendar_table.num_columns(),
        enriched.num_columns()
    );

    // Cell 5: exploration.
    println!("Cell 5: spend and revenue by channel");
    println!(
        "{}",
        pretty_format(&[channel_summary(&enriched).map_err(report)?])?
    );

    // Cell 6: causal analysis of two outcomes, with the seed's control variables (the
    // day of week and weekend flag are derived from the date automatically).
    let roles = CausalRoles::new(["spend"], ["revenue", "conversions"], ["seasonality_index"]);
    let panel = prepare_causal_data(&enriched, &roles)?;
    let options = AttributionOptions::default()
        .with_model(AttributionModel::CausalForest(
            CausalForestParams::default().with_num_trees(500),
        ))
        .with_seed(3);
    let causal_results = analyze_attribution(&panel, &options)?;
    println!("Cell 6: incremental return per channel (truth known in the sandbox)");
    for r in &causal_results.results {
        for c in &r.channels {
            let truth = world.truth().channel(&c.channel);
            println!(
                "  {:<11} {:<10} {:>10.2} [{:.2}, {:.2}]  p = {:.3}  naive {:.2}{}",
                r.outcome,
                c.channel,
                c.incremental_roas,
                c.incremental_roas_ci_lower,
                c.incremental_roas_ci_upper,
                c.p_value,
                c.naive_roas,
                match (r.outcome.as_str(), truth) {
                    ("revenue", Some(t)) => format!("  true {:.2}", t.incremental_roas),
                    _ => String::new(),
                }
            );
        }
    }

    // Cell 7: visualisation and export.
    let revenue = causal_results.primary();
    let plot = PlotOptions::default();
    plot_treatment_effects(revenue, out.join("treatment_effects.png"), &plot).map_err(report)?;
    plot_attribution_waterfall(revenue, out.join("attribution_waterfall.png"), &plot)
        .map_err(report)?;
    export_results(revenue, out.join("causal_analysis_results.xlsx")).map_err(report)?;
    println!(
        "Cell 7: wrote treatment_effects.png, attribution_waterfall.png and causal_analysis_results.xlsx into {}",
        out.display()
    );
    Ok(())
}
