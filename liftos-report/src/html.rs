//! The self-contained HTML report and the report directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use arrow::record_batch::RecordBatch;

use crate::charts::{Chart, PlotOptions};
use crate::explore::ExplorationSummary;
use crate::format::{html_escape as esc, money, p_value, percent, thousands};
use crate::xlsx::{ExportOptions, example_rows, headlines, model_rows, workbook_bytes};
use crate::{ReportError, Result, io_err, write_bytes};
use liftos_causal::business::CalibrationReport;
use liftos_causal::{AttributionResults, BusinessResults, Estimate};
use liftos_transform::QualityReport;

/// Options of the HTML report and the report directory.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `title` | `Marketing attribution report` | the page's heading | any text |
/// | `plot` | [`PlotOptions::default`] | size, currency and label length of the charts | see [`PlotOptions`] |
/// | `table` | `None` | the (enriched) unified table: adds the spend charts and, unless `exploration` is set, the exploration summary | `date`, `channel`, `spend`, `revenue` columns |
/// | `quality` | `None` | data-quality summary of the input | |
/// | `exploration` | `None` | exploration summary (computed from `table` when absent) | |
///
/// The currency of every money amount is `plot.currency`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// The page's heading.
    pub title: String,
    /// Chart options (size, currency, label length); `plot.title` is ignored.
    pub plot: PlotOptions,
    /// The unified table the results were fitted on.
    pub table: Option<RecordBatch>,
    /// Data-quality summary of the input.
    pub quality: Option<QualityReport>,
    /// Exploration summary of the input.
    pub exploration: Option<ExplorationSummary>,
    /// A budget plan made from these results (a section, a chart and a sheet).
    pub plan: Option<liftos_causal::plan::BudgetPlan>,
    /// What a business-level run adds: its revenue, the organic share, the calibration.
    pub business: Option<BusinessSection>,
}

/// The part of a business-level run ([`BusinessResults`]) the report shows besides the
/// channel table: the business's revenue, the organic (baseline) share with its interval,
/// and what calibration with lift tests did.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessSection {
    /// The business's total revenue over the window.
    pub revenue: f64,
    /// Share of that revenue no channel caused, with its interval.
    pub baseline_share: Estimate,
    /// Calibration with lift tests (`None` without tests).
    pub calibration: Option<CalibrationReport>,
}

impl From<&BusinessResults> for BusinessSection {
    fn from(r: &BusinessResults) -> Self {
        BusinessSection {
            revenue: r.revenue,
            baseline_share: r.baseline_share.clone(),
            calibration: r.calibration.clone(),
        }
    }
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            title: "Marketing attribution report".into(),
            plot: PlotOptions::default(),
            table: None,
            quality: None,
            exploration: None,
            plan: None,
            business: None,
        }
    }
}

impl ReportOptions {
    /// Sets the page's heading.
    pub fn with_title(mut self, title: &str) -> Self {
        self.title = title.to_string();
        self
    }

    /// Sets the chart options.
    pub fn with_plot_options(mut self, plot: PlotOptions) -> Self {
        self.plot = plot;
        self
    }

    /// Adds a budget plan made from the results.
    pub fn with_plan(mut self, plan: liftos_causal::plan::BudgetPlan) -> Self {
        self.plan = Some(plan);
        self
    }

    /// Adds the business-level part of a run ([`BusinessSection`]): a section with the
    /// business's revenue, the organic share and the calibration with lift tests.
    pub fn with_business(mut self, business: &BusinessResults) -> Self {
        self.business = Some(BusinessSection::from(business));
        self
    }

    /// Adds the unified table the results were fitted on.
    pub fn with_table(mut self, table: RecordBatch) -> Self {
        self.table = Some(table);
        self
    }

    /// Adds a data-quality summary.
    pub fn with_quality(mut self, quality: QualityReport) -> Self {
        self.quality = Some(quality);
        self
    }

    /// Adds an exploration summary.
    pub fn with_exploration(mut self, exploration: ExplorationSummary) -> Self {
        self.exploration = Some(exploration);
        self
    }

    fn plot(&self) -> PlotOptions {
        PlotOptions {
            title: None,
            ..self.plot.clone()
        }
    }

    /// The exploration summary given, or computed from the table.
    fn exploration(&self) -> Result<Option<ExplorationSummary>> {
        match (&self.exploration, &self.table) {
            (Some(x), _) => Ok(Some(x.clone())),
            (None, Some(t)) => ExplorationSummary::from_table(t).map(Some),
            (None, None) => Ok(None),
        }
    }
}

/// The charts of a report: (file stem, chart) or (file stem, why it was skipped).
fn report_charts(
    results: &AttributionResults,
    options: &ReportOptions,
) -> Result<Vec<(&'static str, Result<Chart, String>)>> {
    let skip = |r: Result<Chart>| -> Result<Result<Chart, String>> {
        match r {
            Ok(c) => Ok(Ok(c)),
            Err(
                e @ (ReportError::MissingData { .. }
                | ReportError::EmptyInput { .. }
                | ReportError::Column { .. }),
            ) => Ok(Err(e.to_string())),
            Err(e) => Err(e),
        }
    };
    let no_table = || "no input table was given with the results".to_string();
    let mut out = vec![
        ("treatment_effects", skip(Chart::effects(results))?),
        ("attribution_waterfall", skip(Chart::waterfall(results))?),
    ];
    match &options.table {
        Some(t) => {
            out.push(("spend_by_channel", skip(Chart::spend_by_channel(t))?));
            out.push((
                "spend_over_time",
                skip(Chart::over_time(t, &results.outcome))?,
            ));
        }
        None => {
            out.push(("spend_by_channel", Err(no_table())));
            out.push(("spend_over_time", Err(no_table())));
        }
    }
    out.push(("temporal_effects", skip(Chart::temporal(results))?));
    out.push(("effect_distribution", skip(Chart::distribution(results))?));
    out.push(("response_curve", skip(Chart::response(results))?));
    if let Some(plan) = &options.plan {
        out.push(("budget_plan", skip(Chart::plan(results, plan))?));
    }
    Ok(out)
}

const CSS: &str = "
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif; margin: 0; color: #222; background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { font-size: 1.8em; margin: 0.2em 0; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 2px solid #dde6f0; padding-bottom: 4px; }
p.meta { color: #555; margin-top: 0; }
ul.findings li { margin: 0.4em 0; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #dde; padding: 4px 8px; text-align: right; vertical-align: top; }
th { background: #dde6f0; text-align: center; }
td.text, th.text { text-align: left; }
tr:nth-child(even) td { background: #fafbfc; }
figure { margin: 1.5em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; margin-top: 4px; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 6px; vertical-align: -0.1em; border-radius: 2px; }
.warn { background: #fff4e0; border-left: 4px solid #e0a030; padding: 6px 10px; margin: 6px 0; }
.ok { background: #eef8ee; border-left: 4px solid #40a040; padding: 6px 10px; }
.skip { color: #666; font-style: italic; }
code { background: #f0f0f0; padding: 1px 4px; border-radius: 3px; }
";

/// Prepares a chart's SVG for inlining in HTML: drops any XML declaration and the
/// namespace attribute (HTML parsers put `<svg>` in the SVG namespace themselves), so
/// the page names no URL at all.
fn inline_svg(svg: &str) -> String {
    let start = svg.find("<svg").unwrap_or(0);
    svg[start..]
        .replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
        .replace("xmlns:xlink=\"http://www.w3.org/1999/xlink\"", "")
}

fn caption(stem: &str) -> &'static str {
    match stem {
        "treatment_effects" => {
            "Incremental ROAS (what one more unit of spend caused, with its interval) next to the naive ROAS the platform reports."
        }
        "attribution_waterfall" => {
            "The baseline (what would have happened without ads), each channel's caused lift, and the total."
        }
        "spend_by_channel" => "Total spend per channel and its share.",
        "spend_over_time" => "Daily spend and outcome per channel.",
        "temporal_effects" => {
            "Baseline outcome by weekday, month and on holidays, relative to an average day, with intervals."
        }
        "effect_distribution" => {
            "How the effect of one more unit of spend varies across the rows of each channel."
        }
        "response_curve" => {
            "Incremental outcome each channel's spend would cause at 0 to 2 times today's spend (band: interval; dot: today). A curve that bends means saturation: the next dollar returns less than the average one."
        }
        "budget_plan" => {
            "The budget plan on each channel's response curve: dot, today's spend; triangle, the recommended spend (each channel's daily pattern scaled)."
        }
        _ => "",
    }
}

/// The budget plan section: a table per channel, the totals and the planner's notes.
fn plan_html(h: &mut String, plan: &liftos_causal::plan::BudgetPlan, cur: &str) {
    h.push_str("<section id=\"plan\">\n<h2>Budget plan</h2>\n");
    let period = match (plan.period_days, plan.window_days) {
        (Some(p), _) => format!("{p} days"),
        (None, Some(w)) => format!("the data's {w} days"),
        (None, None) => "the data's window".into(),
    };
    let change = plan.uplift;
    let _ = writeln!(
        h,
        "<p>A budget of {} {cur} over {}, objective <code>{}</code>: expected incremental \
         revenue {} [{}, {}] against {} [{}, {}] for today's split; change {}{} [{}, {}].</p>",
        thousands(plan.total_budget, 0),
        esc(&period),
        plan.objective.as_str(),
        thousands(plan.expected_incremental_revenue, 0),
        thousands(plan.expected_ci.0, 0),
        thousands(plan.expected_ci.1, 0),
        thousands(plan.current_incremental_revenue, 0),
        thousands(plan.current_ci.0, 0),
        thousands(plan.current_ci.1, 0),
        if change >= 0.0 { "+" } else { "" },
        thousands(change, 0),
        thousands(plan.uplift_ci.0, 0),
        thousands(plan.uplift_ci.1, 0),
    );
    let pct = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:+.0}%", 100.0 * (a / b - 1.0))
        } else {
            "—".into()
        }
    };
    let rows: Vec<Vec<(String, bool)>> = plan
        .channels
        .iter()
        .map(|c| {
            vec![
                t(&c.channel),
                n(thousands(c.current_spend, 0)),
                n(thousands(c.recommended_spend, 0)),
                n(pct(c.recommended_spend, c.current_spend)),
                n(thousands(c.expected_incremental_revenue, 0)),
                n(format!(
                    "[{}, {}]",
                    thousands(c.ci_lower, 0),
                    thousands(c.ci_upper, 0)
                )),
                n(if c.marginal_roas_at_recommended.is_finite() {
                    format!("{:.2}", c.marginal_roas_at_recommended)
                } else {
                    "—".into()
                }),
                t(c.reason.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    table_html(
        h,
        &[
            "Channel",
            "Current spend",
            "Recommended",
            "Change",
            "Expected incremental",
            "Interval",
            "Marginal ROAS there",
            "Note",
        ],
        &rows,
    );
    h.push_str("<ul class=\"findings\">\n");
    for note in &plan.notes {
        let _ = writeln!(h, "<li>{}</li>", esc(note));
    }
    h.push_str("</ul>\n</section>\n");
}

/// The business-level part: revenue, organic share, calibration before and after.
fn business_html(h: &mut String, b: &BusinessSection, level: &str, cur: &str) {
    let s = &b.baseline_share;
    let _ = writeln!(
        h,
        "<p>Business revenue over the window: {}. Organic (baseline) share, the part no \
         channel caused: {} [{}, {}] ({level} interval).</p>",
        esc(&money(b.revenue, cur, 0)),
        esc(&percent(s.estimate, false)),
        esc(&percent(s.ci_lower, false)),
        esc(&percent(s.ci_upper, false)),
    );
    let Some(cal) = &b.calibration else {
        h.push_str(
            "<p class=\"skip\">No lift tests were given: the returns below are the \
             observational model's alone (<code>--lift-tests FILE</code> calibrates them \
             with experiments).</p>\n",
        );
        return;
    };
    h.push_str("<h3>Calibration with lift tests</h3>\n");
    let tests: Vec<Vec<(String, bool)>> = cal
        .tests
        .iter()
        .map(|test| {
            let day = |d: i32| {
                liftos_core::dates::from_date32(d).map_or_else(|| d.to_string(), |d| d.to_string())
            };
            vec![
                t(&test.test.channel),
                t(&format!(
                    "{} to {}",
                    day(test.test.start),
                    day(test.test.end)
                )),
                n(money(test.spend, cur, 0)),
                n(format!(
                    "{} ± {}",
                    money(test.test.incremental_revenue, cur, 0),
                    money(test.test.standard_error, cur, 0)
                )),
                n(format!(
                    "{} ± {}",
                    money(test.model_estimate, cur, 0),
                    money(test.model_std_err, cur, 0)
                )),
            ]
        })
        .collect();
    table_html(
        h,
        &[
            "Test",
            "Window",
            "Spend",
            "Measured lift",
            "Model's lift before",
        ],
        &tests,
    );
    let channels: Vec<Vec<(String, bool)>> = cal
        .channels
        .iter()
        .map(|c| {
            let ci = |(e, lo, hi): (f64, f64, f64)| format!("{e:.2} [{lo:.2}, {hi:.2}]");
            vec![t(&c.channel), n(ci(c.before)), n(ci(c.after))]
        })
        .collect();
    table_html(
        h,
        &["Channel", "Incremental ROAS before", "After calibration"],
        &channels,
    );
}

fn table_html(out: &mut String, header: &[&str], rows: &[Vec<(String, bool)>]) {
    out.push_str("<table><thead><tr>");
    for (i, h) in header.iter().enumerate() {
        let class = if i == 0 { " class=\"text\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (cell, is_text) in row {
            let class = if *is_text { " class=\"text\"" } else { "" };
            let _ = write!(out, "<td{class}>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
}

fn t(s: &str) -> (String, bool) {
    (esc(s), true)
}

fn n(s: String) -> (String, bool) {
    (esc(&s), false)
}

fn batch_html(out: &mut String, batch: &RecordBatch) {
    let schema = batch.schema();
    let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let rows: Vec<Vec<(String, bool)>> =
        (0..batch.num_rows())
            .map(|r| {
                batch
                    .columns()
                    .iter()
                    .map(|col| {
                        if col.is_null(r) {
                            return n(String::new());
                        }
                        match col.data_type() {
                            DataType::Utf8 => t(col.as_string::<i32>().value(r)),
                            DataType::UInt64 => n(thousands(
                                col.as_primitive::<UInt64Type>().value(r) as f64,
                                0,
                            )),
                            DataType::Float64 => {
                                let v = col.as_primitive::<Float64Type>().value(r);
                                n(thousands(v, if v.abs() >= 1000.0 { 0 } else { 3 }))
                            }
                            _ => n(arrow::util::display::array_value_to_string(col, r)
                                .unwrap_or_default()),
                        }
                    })
                    .collect()
            })
            .collect();
    table_html(out, &header, &rows);
}

fn estimate_rows(estimates: &[&Estimate], relative: bool) -> Vec<Vec<(String, bool)>> {
    let f = |v: f64| {
        if relative {
            percent(v, true)
        } else {
            thousands(v, 3)
        }
    };
    estimates
        .iter()
        .map(|e| {
            vec![
                t(&e.name),
                n(f(e.estimate)),
                n(f(e.ci_lower)),
                n(f(e.ci_upper)),
                n(p_value(e.p_value)),
                n(thousands(e.rows as f64, 0)),
            ]
        })
        .collect()
}

/// The report as one HTML string.
fn html_string(results: &AttributionResults, options: &ReportOptions) -> Result<String> {
    let plot = options.plot();
    plot.validate()?;
    let cur = plot.currency.as_str();
    let level = format!("{:.0}%", 100.0 * results.confidence_level);
    let mut h = String::with_capacity(256 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        esc(&options.title),
        esc(&options.title)
    );
    let _ = writeln!(
        h,
        "<p class=\"meta\">Model <code>{}</code> · outcome <code>{}</code> · treatment <code>{}</code> · {} rows · {level} intervals · seed {}</p>",
        esc(&results.model),
        esc(&results.outcome),
        esc(&results.treatment),
        thousands(results.rows as f64, 0),
        results.seed
    );

    h.push_str("<section id=\"findings\">\n<h2>Headline findings</h2>\n<ul class=\"findings\">\n");
    for line in headlines(results, cur) {
        let _ = writeln!(h, "<li>{}</li>", esc(&line));
    }
    h.push_str("</ul>\n");
    for w in &results.diagnostics.warnings {
        let _ = writeln!(h, "<div class=\"warn\">{}</div>", esc(w));
    }
    h.push_str("</section>\n");

    h.push_str("<section id=\"channels\">\n<h2>Channel effects</h2>\n");
    let outcome_note = if results.model == "business_mmm" {
        "Outcome: the business's own revenue per day, against every channel's spend at once: \
         it sees sales a channel caused wherever the platforms report them. The naive ROAS \
         column is each platform's reported revenue / spend."
            .to_string()
    } else {
        format!(
            "Outcome: <code>{}</code> as the platforms report it, per campaign. Platform-reported \
             revenue is each platform's own attribution: it includes sales that would have \
             happened anyway and credits a sale to every platform that touched it, so the naive \
             ROAS column (that revenue / spend) overstates; a sale one channel caused can also \
             land in another channel's rows, which no per-campaign model sees (analyse the \
             business's own revenue with <code>--business-outcome</code>).",
            esc(&results.outcome)
        )
    };
    let _ = writeln!(h, "<p>{outcome_note}</p>");
    if let Some(b) = &options.business {
        business_html(&mut h, b, &level, cur);
    }
    let rows: Vec<Vec<(String, bool)>> = results
        .channels
        .iter()
        .map(|c| {
            let (r, g, b) = crate::channel_color(&c.channel);
            vec![
                (
                    format!(
                        "<span class=\"swatch\" style=\"background:#{r:02x}{g:02x}{b:02x}\"></span>{}",
                        esc(&c.channel)
                    ),
                    true,
                ),
                n(money(c.spend, cur, 0)),
                n(money(c.revenue_lift, cur, 0)),
                n(format!(
                    "{} – {}",
                    money(c.ci_lower, cur, 0),
                    money(c.ci_upper, cur, 0)
                )),
                n(thousands(c.incremental_roas, 2)),
                n(format!(
                    "{} – {}",
                    thousands(c.incremental_roas_ci_lower, 2),
                    thousands(c.incremental_roas_ci_upper, 2)
                )),
                n(thousands(c.marginal_roas, 2)),
                n(thousands(c.naive_roas, 2)),
                n(p_value(c.p_value)),
            ]
        })
        .collect();
    let lift_ci = format!("Lift interval ({level})");
    let roas_ci = format!("iROAS interval ({level})");
    let spend_h = format!("Spend ({cur})");
    let lift_h = format!("Caused {} ({cur})", results.outcome);
    table_html(
        &mut h,
        &[
            "Channel",
            &spend_h,
            &lift_h,
            &lift_ci,
            "Incremental ROAS",
            &roas_ci,
            "Marginal ROAS",
            "Naive ROAS",
            "p-value",
        ],
        &rows,
    );
    h.push_str("</section>\n");

    if let Some(plan) = &options.plan {
        plan_html(&mut h, plan, cur);
    }

    h.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
    for (stem, chart) in report_charts(results, options)? {
        match chart {
            Ok(chart) => {
                let svg = chart.svg(&plot)?;
                let _ = writeln!(
                    h,
                    "<figure id=\"chart-{stem}\">\n{}\n<figcaption>{}</figcaption>\n</figure>",
                    inline_svg(&svg),
                    esc(caption(stem))
                );
            }
            Err(why) => {
                let _ = writeln!(
                    h,
                    "<p class=\"skip\" id=\"chart-{stem}\">Chart {stem} skipped: {}.</p>",
                    esc(&why)
                );
            }
        }
    }
    h.push_str("</section>\n");

    h.push_str("<section id=\"temporal\">\n<h2>Temporal effects</h2>\n");
    match &results.temporal {
        None => h.push_str(
            "<p class=\"skip\">No temporal effects in these results (fitted without a time column).</p>\n",
        ),
        Some(tm) => {
            let header = ["Name", "Estimate", "Lower", "Upper", "p-value", "Rows"];
            let groups: [(&str, Vec<&Estimate>, bool); 4] = [
                (
                    "Baseline by weekday (relative to the average weekday)",
                    tm.day_effects.iter().collect(),
                    true,
                ),
                (
                    "Baseline by month (relative to the average day)",
                    tm.seasonal_effects.iter().collect(),
                    true,
                ),
                (
                    "Baseline on holidays and commercial events",
                    [&tm.holiday_lift, &tm.event_lift]
                        .into_iter()
                        .flatten()
                        .collect(),
                    true,
                ),
                (
                    &format!("Effect of one more {cur} of spend, by weekday and on holidays"),
                    tm.effect_by_day
                        .iter()
                        .chain(&tm.effect_on_holidays)
                        .chain(&tm.effect_off_holidays)
                        .collect(),
                    false,
                ),
            ];
            for (title, estimates, relative) in groups {
                if estimates.is_empty() {
                    continue;
                }
                let _ = writeln!(h, "<h3>{}</h3>", esc(title));
                table_html(&mut h, &header, &estimate_rows(&estimates, relative));
            }
        }
    }
    h.push_str("</section>\n");

    h.push_str("<section id=\"quality\">\n<h2>Data quality</h2>\n");
    match &options.quality {
        None => h.push_str(
            "<p class=\"skip\">No data-quality report was given with these results.</p>\n",
        ),
        Some(q) => {
            let _ = writeln!(
                h,
                "<p>{} rows checked · completeness {} · accuracy {} · {} issue(s)</p>",
                thousands(q.rows as f64, 0),
                percent(q.completeness_score, false),
                percent(q.accuracy_score, false),
                q.issues.len()
            );
            if !q.issues.is_empty() {
                let rows: Vec<Vec<(String, bool)>> = q
                    .issues
                    .iter()
                    .map(|i| {
                        vec![
                            t(&i.rule),
                            t(i.column.as_deref().unwrap_or_default()),
                            n(thousands(i.row_count as f64, 0)),
                            t(&i.severity.to_string()),
                            t(&example_rows(i)),
                            t(&i.message),
                        ]
                    })
                    .collect();
                table_html(
                    &mut h,
                    &["Rule", "Column", "Rows", "Severity", "Examples", "Message"],
                    &rows,
                );
            }
        }
    }
    h.push_str("</section>\n");

    if let Some(x) = options.exploration()? {
        h.push_str("<section id=\"exploration\">\n<h2>Input data</h2>\n<h3>Columns</h3>\n");
        batch_html(&mut h, &x.describe);
        if let Some(c) = &x.channels {
            h.push_str("<h3>Totals per channel</h3>\n");
            batch_html(&mut h, c);
        }
        h.push_str("</section>\n");
    }

    h.push_str("<section id=\"model\">\n<h2>Model diagnostics</h2>\n");
    match &results.model_accuracy {
        None => {
            h.push_str("<p class=\"skip\">Accuracy not computed (cross-validation was off).</p>\n")
        }
        Some(a) => {
            let _ = writeln!(
                h,
                "<p>Out-of-sample R² {} · MAPE {} · {} time-blocked folds with {} gap days (fold R²: {}).</p>",
                thousands(a.r2, 3),
                percent(a.mape, false),
                a.folds,
                a.gap_days,
                a.fold_r2
                    .iter()
                    .map(|r| thousands(*r, 3))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let d = &results.diagnostics;
    let mut rows: Vec<Vec<(String, bool)>> = Vec::new();
    if let Some(c) = &d.calibration {
        for (name, k) in [
            (
                "Calibration: mean forest prediction (1 = right on average)",
                &c.mean_forest_prediction,
            ),
            (
                "Calibration: differential prediction (> 0 = heterogeneity found)",
                &c.differential_forest_prediction,
            ),
        ] {
            rows.push(vec![
                t(name),
                n(thousands(k.estimate, 3)),
                n(format!(
                    "{} – {}",
                    thousands(k.ci_lower, 3),
                    thousands(k.ci_upper, 3)
                )),
                n(p_value(k.p_value)),
            ]);
        }
    }
    if let Some(r2) = d.treatment_r2 {
        rows.push(vec![
            t("Treatment explained by the controls (R²)"),
            n(thousands(r2, 3)),
            n(String::new()),
            n(String::new()),
        ]);
    }
    if let Some(s) = d.low_overlap_share {
        rows.push(vec![
            t("Rows with weak overlap"),
            n(percent(s, false)),
            n(String::new()),
            n(String::new()),
        ]);
    }
    if let Some(p) = &d.placebo {
        rows.push(vec![
            t(&format!("Placebo ({}), should be ≈ 0", p.name)),
            n(thousands(p.estimate, 3)),
            n(format!(
                "{} – {}",
                thousands(p.ci_lower, 3),
                thousands(p.ci_upper, 3)
            )),
            n(p_value(p.p_value)),
        ]);
    }
    if rows.is_empty() {
        h.push_str("<p class=\"skip\">No diagnostics were computed.</p>\n");
    } else {
        table_html(
            &mut h,
            &[
                "Check",
                "Estimate",
                &format!("Interval ({level})"),
                "p-value",
            ],
            &rows,
        );
    }
    if d.warnings.is_empty() {
        h.push_str("<p class=\"ok\">No warnings: every check passed.</p>\n");
    }
    for w in &d.warnings {
        let _ = writeln!(h, "<div class=\"warn\">{}</div>", esc(w));
    }
    h.push_str("</section>\n");

    h.push_str("<section id=\"settings\">\n<h2>Settings that reproduce these results</h2>\n");
    let rows: Vec<Vec<(String, bool)>> = model_rows(results)
        .iter()
        .chain(&results.settings)
        .map(|(k, v)| vec![t(k), t(v)])
        .collect();
    table_html(&mut h, &["Setting", "Value"], &rows);
    let _ = writeln!(
        h,
        "<p>Fitting the same data with these settings and seed {} gives the same numbers.</p>",
        results.seed
    );
    h.push_str("</section>\n</main>\n</body>\n</html>\n");
    Ok(h)
}

/// Writes one self-contained HTML file: headline findings, the channel table, every
/// chart as inline SVG (charts whose data is missing are listed as skipped, with the
/// reason), temporal effects, data quality, the exploration summary, model
/// diagnostics and warnings, and the exact settings and seed. The page names no
/// external URL and loads nothing: it works offline. All-or-nothing.
pub fn write_html_report(
    results: &AttributionResults,
    options: &ReportOptions,
    path: impl AsRef<Path>,
) -> Result<()> {
    let html = html_string(results, options)?;
    write_bytes(path.as_ref(), html.as_bytes())
}

/// Writes a report directory: `report.html`, `results.xlsx`, and every chart that the
/// results (and `options.table`) support as `charts/<name>.png` and `charts/<name>.svg`
/// (names: `treatment_effects`, `attribution_waterfall`, `spend_by_channel`,
/// `spend_over_time`, `temporal_effects`, `effect_distribution`, `response_curve`).
///
/// Creates the directory when needed; each file is written all-or-nothing. Returns the
/// paths written.
pub fn write_report_dir(
    results: &AttributionResults,
    options: &ReportOptions,
    dir: impl AsRef<Path>,
) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let charts_dir = dir.join("charts");
    std::fs::create_dir_all(&charts_dir).map_err(io_err(&charts_dir))?;
    let plot = options.plot();
    plot.validate()?;
    let mut written = Vec::new();
    for (stem, chart) in report_charts(results, options)? {
        if let Ok(chart) = chart {
            for ext in ["png", "svg"] {
                let path = charts_dir.join(format!("{stem}.{ext}"));
                chart.render(&path, &plot)?;
                written.push(path);
            }
        }
    }
    let xlsx = dir.join("results.xlsx");
    let export = ExportOptions {
        currency: plot.currency.clone(),
        quality: options.quality.clone(),
        exploration: options.exploration()?,
        plan: options.plan.clone(),
        ..ExportOptions::default()
    };
    write_bytes(&xlsx, &workbook_bytes(results, &export, &xlsx)?)?;
    written.push(xlsx);
    let html = dir.join("report.html");
    write_html_report(results, options, &html)?;
    written.push(html);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_svg_drops_the_namespace_url() {
        let svg = "<?xml version=\"1.0\"?>\n<svg width=\"10\" height=\"10\" xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>";
        let s = inline_svg(svg);
        assert!(s.starts_with("<svg width"));
        assert!(!s.contains("http"));
    }
}
