//! Attribution on a unified table: calendar enrichment, roles, the estimator, and a
//! readable summary. Used by `liftos analyze` and `liftos demo`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Date32Array, RecordBatch, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Date32Type, Field, Schema};
use chrono::NaiveDate;
use liftos_calendar::{CalendarDimension, CalendarOptions};
use liftos_causal::report::{QualityIssue, QualitySummary, ReportOptions, write_report_dir};
use liftos_causal::{
    Attribution, AttributionOptions, AttributionResults, CausalPanel, CausalRoles,
    analyze_attribution, prepare_causal_data,
};
use liftos_transform::{QualityReport, QualityRules, validate_data_quality};

use crate::Result;

/// Calendar flag columns joined onto the table by [`add_calendar_columns`].
pub const CALENDAR_FLAGS: [&str; 4] = [
    "is_holiday",
    "is_commercial_event",
    "is_business_day",
    "is_month_end",
];

/// Adds the calendar's flag columns ([`CALENDAR_FLAGS`]) for `country` to a table with a
/// date column, joined on the date. Columns the table already has are kept as they are;
/// a table that has them all is returned unchanged.
pub fn add_calendar_columns(
    table: &RecordBatch,
    date_column: &str,
    country: &str,
) -> Result<RecordBatch> {
    let missing = CALENDAR_FLAGS
        .iter()
        .any(|c| table.column_by_name(c).is_none());
    if !missing || table.num_rows() == 0 {
        return Ok(table.clone());
    }
    let dates = date_column_of(table, date_column)?;
    let Some((lo, hi)) = date_bounds(&dates) else {
        return Ok(table.clone());
    };
    let options = CalendarOptions::default().with_country(country);
    let calendar = CalendarDimension::create_calendar(day(lo), day(hi), &options)?;
    let flags: Vec<&str> = CALENDAR_FLAGS.to_vec();
    join_columns(table, &dates, &calendar, Some(&flags))
}

/// Joins every column of `calendar` (one row per day, a `date` column) that `table` does
/// not already have onto `table`, by `table`'s `date_column`. Rows whose date is null or
/// outside the calendar get nulls.
///
/// # Errors
///
/// When `date_column` is missing or not a date, or the calendar has no `date` column.
pub fn join_calendar(
    table: &RecordBatch,
    date_column: &str,
    calendar: &RecordBatch,
) -> Result<RecordBatch> {
    let dates = date_column_of(table, date_column)?;
    join_columns(table, &dates, calendar, None)
}

fn date_column_of(table: &RecordBatch, date_column: &str) -> Result<Date32Array> {
    let Some(col) = table.column_by_name(date_column) else {
        return Err(liftos_causal::Error::MissingColumn {
            column: date_column.to_string(),
            role: "time variable",
            available: table
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into());
    };
    Ok(cast(col, &DataType::Date32)?
        .as_primitive::<Date32Type>()
        .clone())
}

fn date_bounds(dates: &Date32Array) -> Option<(i32, i32)> {
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    for d in dates.iter().flatten() {
        lo = lo.min(d);
        hi = hi.max(d);
    }
    (lo <= hi).then_some((lo, hi))
}

fn day(d: i32) -> NaiveDate {
    liftos_calendar::date32_to_naive(d)
}

/// Joins `calendar`'s columns (all, or `only`) that `table` lacks, by date.
fn join_columns(
    table: &RecordBatch,
    dates: &Date32Array,
    calendar: &RecordBatch,
    only: Option<&[&str]>,
) -> Result<RecordBatch> {
    let Some(cal_dates) = calendar.column_by_name("date") else {
        return Err(liftos_causal::Error::MissingColumn {
            column: "date".into(),
            role: "calendar date",
            available: String::new(),
        }
        .into());
    };
    let cal_dates = cast(cal_dates, &DataType::Date32)?;
    let cal_dates = cal_dates.as_primitive::<Date32Type>();
    let index: HashMap<i32, u32> = cal_dates
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Some((d?, u32::try_from(i).ok()?)))
        .collect();
    // One gather index per row: the calendar row of its date, or null.
    let take_index: UInt32Array = dates
        .iter()
        .map(|d| d.and_then(|d| index.get(&d).copied()))
        .collect();
    let schema = calendar.schema();
    let mut fields: Vec<Field> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = table.columns().to_vec();
    for (field, column) in schema.fields().iter().zip(calendar.columns()) {
        let name = field.name();
        if name == "date"
            || table.column_by_name(name).is_some()
            || only.is_some_and(|o| !o.contains(&name.as_str()))
        {
            continue;
        }
        let joined = take(column.as_ref(), &take_index, None)?;
        fields.push(Field::new(name, field.data_type().clone(), true));
        columns.push(joined);
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
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

/// The data-quality report of the transform crate in the report's shape.
pub fn quality_summary(report: &QualityReport) -> QualitySummary {
    QualitySummary {
        rows: report.rows,
        completeness_score: report.completeness_score,
        accuracy_score: report.accuracy_score,
        issues: report
            .issues
            .iter()
            .map(|i| QualityIssue {
                rule: i.rule.clone(),
                column: i.column.clone().unwrap_or_default(),
                rows: i.row_count,
                severity: i.severity.to_string(),
                examples: i
                    .example_rows
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                message: i.message.clone(),
            })
            .collect(),
    }
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
    let rules = QualityRules::default();
    let quality = validate_data_quality(table, &rules.required_fields_or_default(), &rules)?;
    write_report_with_quality(results, table, &quality, None, dir)
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
        .with_quality(quality_summary(quality));
    if let Some(plan) = plan {
        options = options.with_plan(plan.clone());
    }
    let mut files = write_report_dir(results, &options, dir)
        .map_err(|e| crate::Error::Report(e.to_string()))?;
    // The result tables as data files too.
    let channel_table = results.channel_table()?;
    let row_table = results.treatment_effects_table()?;
    for (name, table) in [
        ("channel_effects.csv", &channel_table),
        ("channel_effects.parquet", &channel_table),
        ("row_effects.parquet", &row_table),
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
        liftos_causal::report::thousands(v, 0)
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
