//! Attribution on a unified table: calendar enrichment, roles, the estimator, and a
//! readable summary. Used by `liftos analyze` and `liftos demo`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::cast;
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
    let missing: Vec<&str> = CALENDAR_FLAGS
        .iter()
        .copied()
        .filter(|c| table.column_by_name(c).is_none())
        .collect();
    if missing.is_empty() || table.num_rows() == 0 {
        return Ok(table.clone());
    }
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
    let dates = cast(col, &DataType::Date32)?;
    let dates = dates.as_primitive::<Date32Type>();
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    for i in 0..dates.len() {
        if dates.is_valid(i) {
            lo = lo.min(dates.value(i));
            hi = hi.max(dates.value(i));
        }
    }
    if lo > hi {
        return Ok(table.clone());
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let day = |d: i32| epoch + chrono::Duration::days(i64::from(d));
    let options = CalendarOptions::default().with_country(country);
    let calendar = CalendarDimension::create_calendar(day(lo), day(hi), &options)?;
    let cal_dates = calendar
        .column_by_name("date")
        .map(|c| c.as_primitive::<Date32Type>().clone());
    let Some(cal_dates) = cal_dates else {
        return Ok(table.clone());
    };
    let index: HashMap<i32, usize> = (0..cal_dates.len())
        .map(|i| (cal_dates.value(i), i))
        .collect();
    let mut fields: Vec<Field> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = table.columns().to_vec();
    for name in missing {
        let Some(flag) = calendar.column_by_name(name) else {
            continue;
        };
        let flag = cast(flag, &DataType::Boolean)?;
        let flag = flag.as_boolean();
        let values: BooleanArray = (0..dates.len())
            .map(|i| {
                dates
                    .is_valid(i)
                    .then(|| index.get(&dates.value(i)).map(|&k| flag.value(k)))
                    .flatten()
            })
            .collect();
        fields.push(Field::new(name, DataType::Boolean, true));
        columns.push(Arc::new(values));
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
    let options = ReportOptions::default()
        .with_table(table.clone())
        .with_quality(quality_summary(&quality));
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

fn money(v: f64) -> String {
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
    if let Some(p) = &r.diagnostics.placebo {
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
