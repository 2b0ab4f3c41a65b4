//! Attribution on a unified table: calendar enrichment, roles, the estimator, and a
//! readable summary. Used by `liftos analyze` and `liftos demo`.

use std::fmt::Write as _;

use arrow::array::RecordBatch;
use liftos_calendar::CalendarOptions;
use liftos_causal::{
    Attribution, AttributionOptions, AttributionResults, CausalPanel, CausalRoles,
    analyze_attribution, prepare_causal_data,
};
use liftos_report::{ReportOptions, write_report_dir};
use liftos_transform::{QualityReport, QualityRules, validate_data_quality};

use crate::Result;

pub use liftos_calendar::{CALENDAR_FLAGS, join_calendar};

/// Adds the calendar's flag columns ([`CALENDAR_FLAGS`]) for `country` to a table with a
/// date column, joined on the date ([`liftos_calendar::add_calendar_flags`]). Columns the
/// table already has are kept as they are; a table that has them all is returned
/// unchanged.
///
/// # Errors
///
/// The calendar's errors: a missing or non-date date column, an unknown country.
pub fn add_calendar_columns(
    table: &RecordBatch,
    date_column: &str,
    country: &str,
) -> Result<RecordBatch> {
    let options = CalendarOptions::default().with_country(country);
    Ok(liftos_calendar::add_calendar_flags(
        table,
        date_column,
        &options,
    )?)
}

/// Prepares the panel and runs the attribution (the seed's `prepare_causal_data` then
/// `analyze_attribution`).
pub fn analyze_table(
    table: &RecordBatch,
    roles: &CausalRoles,
    options: &AttributionOptions,
) -> Result<(CausalPanel, Attribution)> {
    let panel = prepare_causal_data(table, roles)?;
    let attribution = analyze_attribution(&panel, options)?;
    Ok((panel, attribution))
}

/// The results JSON of an attribution (DESIGN.md): the primary result (first outcome ×
/// first treatment), with the other outcome × treatment results under `other_results`
/// when there are several.
pub fn attribution_json(attribution: &Attribution) -> serde_json::Value {
    let mut json = attribution.primary().to_json();
    if attribution.results.len() > 1
        && let Some(obj) = json.as_object_mut()
    {
        obj.insert(
            "other_results".into(),
            attribution.results[1..]
                .iter()
                .map(|r| r.to_json())
                .collect(),
        );
    }
    json
}

/// Writes the report directory for `results` fitted on `table`: the HTML report, the
/// charts (PNG and SVG), the workbook (with the table's data-quality report under the
/// default rules), and the channel and per-row effect tables as CSV/Parquet. Returns the
/// files written.
pub fn write_report(
    results: &AttributionResults,
    table: &RecordBatch,
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>> {
    write_report_with_quality(results, table, &default_quality(table)?, None, dir)
}

/// The table's data-quality report under the default rules (what a report shows when the
/// caller made none).
fn default_quality(table: &RecordBatch) -> Result<QualityReport> {
    let rules = QualityRules::default();
    Ok(validate_data_quality(
        table,
        &rules.required_fields_or_default(),
        &rules,
    )?)
}

/// [`write_report`] with a data-quality report already made (e.g. under the user's
/// rules, as the pipeline does), so the report shows the same findings as `quality.json`,
/// and optionally a budget plan made from the results (a section, a chart and a sheet).
pub fn write_report_with_quality(
    results: &AttributionResults,
    table: &RecordBatch,
    quality: &QualityReport,
    plan: Option<&liftos_causal::BudgetPlan>,
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>> {
    let mut options = ReportOptions::default()
        .with_table(table.clone())
        .with_quality(quality.clone());
    if let Some(plan) = plan {
        options = options.with_plan(plan.clone());
    }
    write_report_files(results, &options, dir)
}

/// The report directory of a business-level run ([`crate::business`]): the report of its
/// channel results fitted on the platform `table`, with a section for the business's
/// revenue, the organic share and the calibration with lift tests, and the result tables
/// as data files.
///
/// # Errors
///
/// A file that cannot be written, naming it.
pub fn write_business_report(
    results: &liftos_causal::BusinessResults,
    table: &RecordBatch,
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>> {
    let options = ReportOptions::default()
        .with_title("Marketing attribution report: the business's own revenue")
        .with_table(table.clone())
        .with_quality(default_quality(table)?)
        .with_business(results);
    write_report_files(&results.results, &options, dir)
}

/// The data files a report directory holds beside the report's own
/// ([`liftos_report::REPORT_DIR_FILES`]): the channel and per-row effect tables.
pub const REPORT_DATA_FILES: [&str; 3] = [
    "channel_effects.csv",
    "channel_effects.parquet",
    "row_effects.parquet",
];

/// The report directory, then the channel and per-row effect tables as CSV/Parquet.
fn write_report_files(
    results: &AttributionResults,
    options: &ReportOptions,
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>> {
    let mut files =
        write_report_dir(results, options, dir).map_err(|e| crate::Error::Report(e.to_string()))?;
    // The result tables as data files too.
    let channel_table = results.channel_table()?;
    let row_table = results.treatment_effects_table()?;
    let [channel_csv, channel_parquet, rows_parquet] = REPORT_DATA_FILES;
    for (name, table) in [
        (channel_csv, &channel_table),
        (channel_parquet, &channel_table),
        (rows_parquet, &row_table),
    ] {
        let path = dir.join(name);
        crate::io::write_table_atomically(&path, table)?;
        files.push(path);
    }
    Ok(files)
}

/// A money amount with thousands separators, no decimals (`—` when not finite).
pub fn money(v: f64) -> String {
    if v.is_finite() {
        liftos_report::thousands(v, 0)
    } else {
        "—".into()
    }
}

fn ratio(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "—".into()
    }
}

/// A readable summary of a budget plan: per channel current and recommended spend, the
/// expected incremental revenue with its interval, the marginal return there and why a
/// channel was held or stopped; then the totals and the planner's notes.
pub fn format_plan(plan: &liftos_causal::BudgetPlan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Budget plan: {} over {} ({} objective, moves of at most {:.0}%)",
        money(plan.total_budget),
        match (plan.period_days, plan.window_days) {
            (Some(p), _) => format!("{p} days"),
            (None, Some(w)) => format!("the data's {w} days"),
            (None, None) => "the data's window".to_string(),
        },
        plan.objective.as_str(),
        100.0 * plan.max_change
    );
    let _ = writeln!(
        s,
        "{:<14} {:>12} {:>12} {:>13} {:>27} {:>9}  note",
        "channel", "current", "recommended", "incremental", "interval", "marginal"
    );
    for c in &plan.channels {
        let line = format!(
            "{:<14} {:>12} {:>12} {:>13} {:>27} {:>9}  {}",
            c.channel,
            money(c.current_spend),
            money(c.recommended_spend),
            money(c.expected_incremental_revenue),
            format!("[{}, {}]", money(c.ci_lower), money(c.ci_upper)),
            ratio(c.marginal_roas_at_recommended),
            c.reason.as_deref().unwrap_or("")
        );
        let _ = writeln!(s, "{}", line.trim_end());
    }
    let change = plan.uplift;
    let _ = writeln!(
        s,
        "Expected incremental revenue: plan {} [{}, {}]; current split {} [{}, {}]",
        money(plan.expected_incremental_revenue),
        money(plan.expected_ci.0),
        money(plan.expected_ci.1),
        money(plan.current_incremental_revenue),
        money(plan.current_ci.0),
        money(plan.current_ci.1),
    );
    let _ = writeln!(
        s,
        "Change against the current split: {}{} [{}, {}] ({:+.1}%)",
        if change >= 0.0 { "+" } else { "" },
        money(change),
        money(plan.uplift_ci.0),
        money(plan.uplift_ci.1),
        if plan.current_incremental_revenue != 0.0 {
            100.0 * change / plan.current_incremental_revenue.abs()
        } else {
            f64::NAN
        }
    );
    for note in &plan.notes {
        let _ = writeln!(s, "- {note}");
    }
    s
}

/// A readable summary of one result: the channel table, temporal effects, accuracy,
/// diagnostics and warnings.
pub fn format_results(r: &AttributionResults) -> String {
    let pct = (r.confidence_level * 100.0).round();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Causal attribution of {} to {} ({}, {} rows, {pct}% intervals, seed {})",
        r.outcome, r.treatment, r.model, r.rows, r.seed
    );
    let _ = writeln!(
        s,
        "{:<14} {:>13} {:>13} {:>27} {:>8} {:>7} {:>17} {:>7}",
        "channel", "spend", "lift", "lift interval", "p", "iROAS", "iROAS interval", "naive"
    );
    for c in &r.channels {
        let _ = writeln!(
            s,
            "{:<14} {:>13} {:>13} {:>27} {:>8} {:>7} {:>17} {:>7}",
            c.channel,
            money(c.spend),
            money(c.revenue_lift),
            format!("[{}, {}]", money(c.ci_lower), money(c.ci_upper)),
            if c.p_value.is_finite() {
                format!("{:.4}", c.p_value)
            } else {
                "—".into()
            },
            ratio(c.incremental_roas),
            format!(
                "[{}, {}]",
                ratio(c.incremental_roas_ci_lower),
                ratio(c.incremental_roas_ci_upper)
            ),
            ratio(c.naive_roas),
        );
        if let Some(resp) = &c.response {
            let _ = writeln!(
                s,
                "{:<14} marginal ROAS {} [{}, {}]; response: {}; robustness value {:.1}%",
                "",
                ratio(c.marginal_roas),
                ratio(resp.marginal_roas_ci_lower),
                ratio(resp.marginal_roas_ci_upper),
                resp.transform.describe(),
                100.0 * resp.sensitivity.robustness_value,
            );
        }
        if let (Some(lr), Some(theta)) = (c.long_run_roas, c.adstock_decay) {
            let _ = writeln!(
                s,
                "{:<14} adstock decay {theta:.1}, long-run return {lr:.2}",
                ""
            );
        }
        for sp in r
            .diagnostics
            .spillover
            .iter()
            .filter(|sp| sp.credited && sp.from == c.channel)
        {
            let _ = writeln!(
                s,
                "{:<14} iROAS includes {} [{}, {}] recorded in {}'s rows (spillover, credited); its own rows: {}",
                "",
                ratio(sp.roas),
                ratio(sp.ci_lower),
                ratio(sp.ci_upper),
                sp.to,
                ratio(sp.source_roas),
            );
        }
    }
    for n in &r.diagnostics.not_estimated {
        let _ = writeln!(
            s,
            "{:<14} not estimated: left out of the fit ({} row{}; see the warnings)",
            n.channel,
            n.rows,
            if n.rows == 1 { "" } else { "s" }
        );
    }
    if let Some(t) = &r.temporal {
        let line = |v: &[liftos_causal::Estimate]| -> String {
            v.iter()
                .map(|e| {
                    format!(
                        "{} {:+.1}%",
                        &e.name[..3.min(e.name.len())],
                        100.0 * e.estimate
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(s, "Baseline by weekday: {}", line(&t.day_effects));
        let _ = writeln!(s, "Baseline by month:   {}", line(&t.seasonal_effects));
        if let Some(h) = &t.holiday_lift {
            let _ = writeln!(
                s,
                "Holiday lift: {:+.1}% [{:+.1}%, {:+.1}%]",
                100.0 * h.estimate,
                100.0 * h.ci_lower,
                100.0 * h.ci_upper
            );
        }
    }
    if let Some(a) = &r.model_accuracy {
        let _ = writeln!(
            s,
            "Model accuracy (time-blocked {}-fold CV, {}-day gap): R² {:.3}, MAPE {:.1}%",
            a.folds,
            a.gap_days,
            a.r2,
            100.0 * a.mape
        );
    }
    for p in r
        .diagnostics
        .placebo
        .iter()
        .chain(&r.diagnostics.placebo_next_day)
    {
        let _ = writeln!(
            s,
            "Placebo ({}): {:.3} [{:.3}, {:.3}], p = {:.3}",
            p.name, p.estimate, p.ci_lower, p.ci_upper, p.p_value
        );
    }
    let spill = &r.diagnostics.spillover;
    if !spill.is_empty() {
        let found: Vec<_> = spill.iter().filter(|c| c.p_value < 0.05).collect();
        let _ = writeln!(
            s,
            "Spillover checks (one channel's spend against another's rows): {} pairs, {} at p < 0.05",
            spill.len(),
            found.len()
        );
        for c in found {
            let _ = writeln!(
                s,
                "  {} spend -> revenue in {} rows: {:.3} [{:.3}, {:.3}] per unit of spend, p = {:.3}{}",
                c.from,
                c.to,
                c.roas,
                c.ci_lower,
                c.ci_upper,
                c.p_value,
                if c.credited {
                    format!(" (credited to {}: in its returns above)", c.from)
                } else {
                    String::new()
                }
            );
        }
    }
    let within = &r.diagnostics.cannibalization;
    if !within.is_empty() {
        let applied: Vec<_> = within.iter().filter(|c| c.applied).collect();
        let _ = writeln!(
            s,
            "Within-channel checks (a campaign's spend against its siblings' rows): {} channels, {} applied",
            within.len(),
            applied.len()
        );
        for c in applied {
            let _ = writeln!(
                s,
                "  {}: marginal return {:+.3} [{:.3}, {:.3}] per unit, p = {:.4} (in its returns above)",
                c.channel, c.marginal_shift, c.ci_lower, c.ci_upper, c.p_value
            );
        }
    }
    for w in &r.diagnostics.warnings {
        let _ = writeln!(s, "Warning: {w}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_thousands_separators() {
        assert_eq!(money(1234567.4), "1,234,567");
        assert_eq!(money(-999.6), "-1,000");
        assert_eq!(money(12.0), "12");
        assert_eq!(money(f64::NAN), "—");
    }
}
