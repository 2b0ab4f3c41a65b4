//! The self-contained HTML report and the report directory.
//!
//! The page comes from [maud] templates, which escape every value they interpolate; the
//! only markup inserted as it is (`PreEscaped`) is our own CSS constant and the SVG
//! charts our plotters code draws.

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use arrow::record_batch::RecordBatch;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::charts::{Chart, PlotOptions};
use crate::explore::ExplorationSummary;
use crate::format::{money, p_value, percent, thousands};
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
    liftos_core::setters! {
        /// Sets the page's heading.
        with_title(title: &str) => title.to_string();
        /// Sets the chart options.
        with_plot_options(plot: PlotOptions);
        /// Adds a budget plan made from the results.
        with_plan(plan: liftos_causal::plan::BudgetPlan) => Some(plan);
        /// Adds the business-level part of a run ([`BusinessSection`]): a section with the
        /// business's revenue, the organic share and the calibration with lift tests.
        with_business(business: &BusinessResults) => Some(BusinessSection::from(business));
        /// Adds the unified table the results were fitted on.
        with_table(table: RecordBatch) => Some(table);
        /// Adds a data-quality summary.
        with_quality(quality: QualityReport) => Some(quality);
        /// Adds an exploration summary.
        with_exploration(exploration: ExplorationSummary) => Some(exploration);
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
            "How the effect of one more unit of spend varies across the rows of each channel: the model's own row-level estimates, which can fall below zero even where the channel table, keeping effects at zero or above, reports 0."
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

/// One table cell: its content (escaped by the template) and whether it is text
/// (left-aligned) or a number (right-aligned).
struct Cell {
    body: Markup,
    text: bool,
}

/// A text cell.
fn text(s: &str) -> Cell {
    Cell {
        body: html! { (s) },
        text: true,
    }
}

/// A number cell (formatted already).
fn num(s: impl AsRef<str>) -> Cell {
    Cell {
        body: html! { (s.as_ref()) },
        text: false,
    }
}

/// A table with a header row; the first column's header is text, the others numbers.
fn table(header: &[&str], rows: &[Vec<Cell>]) -> Markup {
    html! {
        table {
            thead {
                tr {
                    @for (i, h) in header.iter().enumerate() {
                        th class=[(i == 0).then_some("text")] { (h) }
                    }
                }
            }
            tbody {
                @for row in rows {
                    tr {
                        @for cell in row {
                            td class=[cell.text.then_some("text")] { (cell.body) }
                        }
                    }
                }
            }
        }
    }
}

/// An Arrow table as an HTML table: text left, numbers with thousands separators.
fn batch_table(batch: &RecordBatch) -> Markup {
    let schema = batch.schema();
    let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let rows: Vec<Vec<Cell>> =
        (0..batch.num_rows())
            .map(|r| {
                batch
                    .columns()
                    .iter()
                    .map(|col| {
                        if col.is_null(r) {
                            return num("");
                        }
                        match col.data_type() {
                            DataType::Utf8 => text(col.as_string::<i32>().value(r)),
                            DataType::UInt64 => num(thousands(
                                col.as_primitive::<UInt64Type>().value(r) as f64,
                                0,
                            )),
                            DataType::Float64 => {
                                let v = col.as_primitive::<Float64Type>().value(r);
                                num(thousands(v, if v.abs() >= 1000.0 { 0 } else { 3 }))
                            }
                            _ => num(arrow::util::display::array_value_to_string(col, r)
                                .unwrap_or_default()),
                        }
                    })
                    .collect()
            })
            .collect();
    table(&header, &rows)
}

fn estimate_rows(estimates: &[&Estimate], relative: bool) -> Vec<Vec<Cell>> {
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
                text(&e.name),
                num(f(e.estimate)),
                num(f(e.ci_lower)),
                num(f(e.ci_upper)),
                num(p_value(e.p_value)),
                num(thousands(e.rows as f64, 0)),
            ]
        })
        .collect()
}

/// Headline findings and the results' warnings.
fn findings_section(results: &AttributionResults, cur: &str) -> Markup {
    html! {
        section #findings {
            h2 { "Headline findings" }
            ul.findings {
                @for line in headlines(results, cur) {
                    li { (line) }
                }
            }
            @for w in &results.diagnostics.warnings {
                div.warn { (w) }
            }
        }
    }
}

/// The channel table, with what the outcome is and the business-level part.
fn channels_section(
    results: &AttributionResults,
    business: Option<&BusinessSection>,
    level: &str,
    cur: &str,
) -> Markup {
    let rows: Vec<Vec<Cell>> = results
        .channels
        .iter()
        .map(|c| {
            let (r, g, b) = crate::channel_color(&c.channel);
            let swatch = format!("background:#{r:02x}{g:02x}{b:02x}");
            vec![
                Cell {
                    body: html! { span.swatch style=(swatch) {} (c.channel) },
                    text: true,
                },
                num(money(c.spend, cur, 0)),
                num(money(c.revenue_lift, cur, 0)),
                num(format!(
                    "{} – {}",
                    money(c.ci_lower, cur, 0),
                    money(c.ci_upper, cur, 0)
                )),
                num(thousands(c.incremental_roas, 2)),
                num(format!(
                    "{} – {}",
                    thousands(c.incremental_roas_ci_lower, 2),
                    thousands(c.incremental_roas_ci_upper, 2)
                )),
                num(thousands(c.marginal_roas, 2)),
                num(thousands(c.naive_roas, 2)),
                num(p_value(c.p_value)),
            ]
        })
        .collect();
    let lift_ci = format!("Lift interval ({level})");
    let roas_ci = format!("iROAS interval ({level})");
    let spend_h = format!("Spend ({cur})");
    let lift_h = format!("Caused {} ({cur})", results.outcome);
    let header = [
        "Channel",
        &spend_h,
        &lift_h,
        &lift_ci,
        "Incremental ROAS",
        &roas_ci,
        "Marginal ROAS",
        "Naive ROAS",
        "p-value",
    ];
    html! {
        section #channels {
            h2 { "Channel effects" }
            @if results.model == "business_mmm" {
                p {
                    "Outcome: the business's own revenue per day, against every channel's \
                     spend at once: it sees sales a channel caused wherever the platforms \
                     report them. The naive ROAS column is each platform's reported revenue \
                     / spend."
                }
            } @else {
                p {
                    "Outcome: " code { (results.outcome) } " as the platforms report it, per \
                     campaign. Platform-reported revenue is each platform's own attribution: \
                     it includes sales that would have happened anyway and credits a sale to \
                     every platform that touched it, so the naive ROAS column (that revenue / \
                     spend) overstates; a sale one channel caused can also land in another \
                     channel's rows, which a model of each channel's rows cannot see: the \
                     spillover check looks for it and credits what it finds with confidence \
                     to the channel that caused it (the business's own revenue, with "
                     code { "--business-outcome" } ", measures it directly)."
                }
                @for sp in results.diagnostics.spillover.iter().filter(|sp| sp.credited) {
                    p {
                        code { (sp.from) } "'s returns include "
                        (thousands(sp.roas, 2)) " [" (thousands(sp.ci_lower, 2)) ", "
                        (thousands(sp.ci_upper, 2)) "] per unit of its spend recorded in "
                        code { (sp.to) } "'s rows (spillover, credited; its own rows: "
                        (thousands(sp.source_roas, 2)) ")."
                    }
                }
            }
            @if let Some(b) = business {
                (business_part(b, level, cur))
            }
            (table(&header, &rows))
            @for n in &results.diagnostics.not_estimated {
                p.warn {
                    "Not estimated: " code { (n.channel) } " (" (thousands(n.rows as f64, 0))
                    " rows left out of the fit): " (n.reason) ". The other channels were \
                     estimated without its rows."
                }
            }
        }
    }
}

/// The business-level part: revenue, organic share, calibration before and after.
fn business_part(b: &BusinessSection, level: &str, cur: &str) -> Markup {
    let s = &b.baseline_share;
    let revenue = html! {
        p {
            "Business revenue over the window: " (money(b.revenue, cur, 0))
            ". Organic (baseline) share, the part no channel caused: "
            (percent(s.estimate, false)) " [" (percent(s.ci_lower, false)) ", "
            (percent(s.ci_upper, false)) "] (" (level) " interval)."
        }
    };
    let Some(cal) = &b.calibration else {
        return html! {
            (revenue)
            p.skip {
                "No lift tests were given: the returns below are the observational model's \
                 alone (" code { "--lift-tests FILE" } " calibrates them with experiments)."
            }
        };
    };
    let day = |d: i32| {
        liftos_core::dates::from_date32(d).map_or_else(|| d.to_string(), |d| d.to_string())
    };
    let tests: Vec<Vec<Cell>> = cal
        .tests
        .iter()
        .map(|test| {
            vec![
                text(&test.test.channel),
                text(&format!(
                    "{} to {}",
                    day(test.test.start),
                    day(test.test.end)
                )),
                num(money(test.spend, cur, 0)),
                num(format!(
                    "{} ± {}",
                    money(test.test.incremental_revenue, cur, 0),
                    money(test.test.standard_error, cur, 0)
                )),
                num(format!(
                    "{} ± {}",
                    money(test.model_estimate, cur, 0),
                    money(test.model_std_err, cur, 0)
                )),
            ]
        })
        .collect();
    let ci = |(e, lo, hi): (f64, f64, f64)| format!("{e:.2} [{lo:.2}, {hi:.2}]");
    let channels: Vec<Vec<Cell>> = cal
        .channels
        .iter()
        .map(|c| vec![text(&c.channel), num(ci(c.before)), num(ci(c.after))])
        .collect();
    html! {
        (revenue)
        h3 { "Calibration with lift tests" }
        (table(
            &["Test", "Window", "Spend", "Measured lift", "Model's lift before"],
            &tests,
        ))
        (table(
            &["Channel", "Incremental ROAS before", "After calibration"],
            &channels,
        ))
    }
}

/// The budget plan section: a table per channel, the totals and the planner's notes.
fn plan_section(plan: &liftos_causal::plan::BudgetPlan, cur: &str) -> Markup {
    let period = match (plan.period_days, plan.window_days) {
        (Some(p), _) => format!("{p} days"),
        (None, Some(w)) => format!("the data's {w} days"),
        (None, None) => "the data's window".into(),
    };
    let change = plan.uplift;
    let pct = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:+.0}%", 100.0 * (a / b - 1.0))
        } else {
            "—".into()
        }
    };
    let rows: Vec<Vec<Cell>> = plan
        .channels
        .iter()
        .map(|c| {
            vec![
                text(&c.channel),
                num(thousands(c.current_spend, 0)),
                num(thousands(c.recommended_spend, 0)),
                num(pct(c.recommended_spend, c.current_spend)),
                num(thousands(c.expected_incremental_revenue, 0)),
                num(format!(
                    "[{}, {}]",
                    thousands(c.ci_lower, 0),
                    thousands(c.ci_upper, 0)
                )),
                num(if c.marginal_roas_at_recommended.is_finite() {
                    format!("{:.2}", c.marginal_roas_at_recommended)
                } else {
                    "—".into()
                }),
                text(c.reason.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    let k = |v: f64| thousands(v, 0);
    html! {
        section #plan {
            h2 { "Budget plan" }
            p {
                "A budget of " (k(plan.total_budget)) " " (cur) " over " (period)
                ", objective " code { (plan.objective.as_str()) }
                ": expected incremental revenue " (k(plan.expected_incremental_revenue))
                " [" (k(plan.expected_ci.0)) ", " (k(plan.expected_ci.1)) "] against "
                (k(plan.current_incremental_revenue))
                " [" (k(plan.current_ci.0)) ", " (k(plan.current_ci.1))
                "] for today's split; change " (if change >= 0.0 { "+" } else { "" }) (k(change))
                " [" (k(plan.uplift_ci.0)) ", " (k(plan.uplift_ci.1)) "]."
            }
            (table(
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
            ))
            ul.findings {
                @for note in &plan.notes {
                    li { (note) }
                }
            }
        }
    }
}

/// Every chart as inline SVG, or why it was skipped.
fn charts_section(
    results: &AttributionResults,
    options: &ReportOptions,
    plot: &PlotOptions,
) -> Result<Markup> {
    let mut figures: Vec<(&str, Result<String, String>)> = Vec::new();
    for (stem, chart) in report_charts(results, options)? {
        let figure = match chart {
            Ok(chart) => Ok(inline_svg(&chart.svg(plot)?)),
            Err(why) => Err(why),
        };
        figures.push((stem, figure));
    }
    Ok(html! {
        section #charts {
            h2 { "Charts" }
            @for (stem, figure) in &figures {
                @match figure {
                    Ok(svg) => {
                        figure id=(format!("chart-{stem}")) {
                            // PreEscaped: besides the CSS, the only markup inserted as it
                            // is: an SVG our own plotters code drew (plotters escapes
                            // every text and attribute value it writes).
                            (PreEscaped(svg))
                            figcaption { (caption(stem)) }
                        }
                    }
                    Err(why) => {
                        p.skip id=(format!("chart-{stem}")) {
                            "Chart " (stem) " skipped: " (why) "."
                        }
                    }
                }
            }
        }
    })
}

/// Baseline by weekday, month and holiday; the effect by weekday and on holidays.
fn temporal_section(results: &AttributionResults, cur: &str) -> Markup {
    let effect_title = format!("Effect of one more {cur} of spend, by weekday and on holidays");
    let groups: Option<[(&str, Vec<&Estimate>, bool); 4]> = results.temporal.as_ref().map(|tm| {
        [
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
                effect_title.as_str(),
                tm.effect_by_day
                    .iter()
                    .chain(&tm.effect_on_holidays)
                    .chain(&tm.effect_off_holidays)
                    .collect(),
                false,
            ),
        ]
    });
    let header = ["Name", "Estimate", "Lower", "Upper", "p-value", "Rows"];
    html! {
        section #temporal {
            h2 { "Temporal effects" }
            @match &groups {
                None => {
                    p.skip {
                        "No temporal effects in these results (fitted without a time column)."
                    }
                }
                Some(groups) => {
                    @for (title, estimates, relative) in groups {
                        @if !estimates.is_empty() {
                            h3 { (title) }
                            (table(&header, &estimate_rows(estimates, *relative)))
                        }
                    }
                }
            }
        }
    }
}

/// The data-quality summary and its issues.
fn quality_section(quality: Option<&QualityReport>) -> Markup {
    html! {
        section #quality {
            h2 { "Data quality" }
            @match quality {
                None => {
                    p.skip { "No data-quality report was given with these results." }
                }
                Some(q) => {
                    p {
                        (thousands(q.rows as f64, 0)) " rows checked · completeness "
                        (percent(q.completeness_score, false)) " · accuracy "
                        (percent(q.accuracy_score, false)) " · " (q.issues.len()) " issue(s)"
                    }
                    @if !q.issues.is_empty() {
                        (table(
                            &["Rule", "Column", "Rows", "Severity", "Examples", "Message"],
                            &q.issues
                                .iter()
                                .map(|i| {
                                    vec![
                                        text(&i.rule),
                                        text(i.column.as_deref().unwrap_or_default()),
                                        num(thousands(i.row_count as f64, 0)),
                                        text(&i.severity.to_string()),
                                        text(&example_rows(i)),
                                        text(&i.message),
                                    ]
                                })
                                .collect::<Vec<_>>(),
                        ))
                    }
                }
            }
        }
    }
}

/// The exploration summary of the input table.
fn exploration_section(x: &ExplorationSummary) -> Markup {
    html! {
        section #exploration {
            h2 { "Input data" }
            h3 { "Columns" }
            (batch_table(&x.describe))
            @if let Some(c) = &x.channels {
                h3 { "Totals per channel" }
                (batch_table(c))
            }
        }
    }
}

/// A row of the diagnostics table: `name`, then the estimate, its interval and its
/// p-value of `[estimate, lower, upper, p]`.
fn estimate_row(name: &str, [estimate, lower, upper, p]: [f64; 4]) -> Vec<Cell> {
    vec![
        text(name),
        num(thousands(estimate, 3)),
        num(format!("{} – {}", thousands(lower, 3), thousands(upper, 3))),
        num(p_value(p)),
    ]
}

/// Accuracy, the assumption checks and the warnings.
fn model_section(results: &AttributionResults, level: &str) -> Markup {
    let d = &results.diagnostics;
    let mut rows: Vec<Vec<Cell>> = Vec::new();
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
            rows.push(estimate_row(
                name,
                [k.estimate, k.ci_lower, k.ci_upper, k.p_value],
            ));
        }
    }
    if let Some(r2) = d.treatment_r2 {
        rows.push(vec![
            text("Treatment explained by the controls (R²)"),
            num(thousands(r2, 3)),
            num(""),
            num(""),
        ]);
    }
    if let Some(s) = d.low_overlap_share {
        rows.push(vec![
            text("Rows with weak overlap"),
            num(percent(s, false)),
            num(""),
            num(""),
        ]);
    }
    if let Some(p) = &d.placebo {
        let name = format!("Placebo ({}), should be ≈ 0", p.name);
        rows.push(estimate_row(
            &name,
            [p.estimate, p.ci_lower, p.ci_upper, p.p_value],
        ));
    }
    for s in &d.spillover {
        rows.push(estimate_row(
            &s.label(),
            [s.roas, s.ci_lower, s.ci_upper, s.p_value],
        ));
    }
    for c in &d.cannibalization {
        rows.push(estimate_row(
            &c.label(),
            [c.marginal_shift, c.ci_lower, c.ci_upper, c.p_value],
        ));
    }
    let interval = format!("Interval ({level})");
    html! {
        section #model {
            h2 { "Model diagnostics" }
            @match &results.model_accuracy {
                None => {
                    p.skip { "Accuracy not computed (cross-validation was off)." }
                }
                Some(a) => {
                    p {
                        "Out-of-sample R² " (thousands(a.r2, 3)) " · MAPE "
                        (percent(a.mape, false)) " · " (a.folds) " time-blocked folds with "
                        (a.gap_days) " gap days (fold R²: "
                        (a.fold_r2.iter().map(|r| thousands(*r, 3)).collect::<Vec<_>>().join(", "))
                        ")."
                    }
                }
            }
            @if rows.is_empty() {
                p.skip { "No diagnostics were computed." }
            } @else {
                (table(&["Check", "Estimate", &interval, "p-value"], &rows))
            }
            @if d.warnings.is_empty() {
                p.ok { "No warnings: every check passed." }
            }
            @for w in &d.warnings {
                div.warn { (w) }
            }
        }
    }
}

/// The settings and the seed that reproduce the results.
fn settings_section(results: &AttributionResults) -> Markup {
    let rows: Vec<Vec<Cell>> = model_rows(results)
        .iter()
        .chain(&results.settings)
        .map(|(k, v)| vec![text(k), text(v)])
        .collect();
    html! {
        section #settings {
            h2 { "Settings that reproduce these results" }
            (table(&["Setting", "Value"], &rows))
            p {
                "Fitting the same data with these settings and seed " (results.seed)
                " gives the same numbers."
            }
        }
    }
}

/// The report as one HTML string.
fn html_string(results: &AttributionResults, options: &ReportOptions) -> Result<String> {
    let plot = options.plot();
    plot.validate()?;
    let cur = plot.currency.as_str();
    let level = format!("{:.0}%", 100.0 * results.confidence_level);
    let charts = charts_section(results, options, &plot)?;
    let exploration = options.exploration()?;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (options.title) }
                // PreEscaped: our own CSS constant (no input in it), inserted as it is.
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    h1 { (options.title) }
                    p.meta {
                        "Model " code { (results.model) } " · outcome " code { (results.outcome) }
                        " · treatment " code { (results.treatment) } " · "
                        (thousands(results.rows as f64, 0)) " rows · " (level)
                        " intervals · seed " (results.seed)
                    }
                    (findings_section(results, cur))
                    (channels_section(results, options.business.as_ref(), &level, cur))
                    @if let Some(plan) = &options.plan {
                        (plan_section(plan, cur))
                    }
                    (charts)
                    (temporal_section(results, cur))
                    (quality_section(options.quality.as_ref()))
                    @if let Some(x) = &exploration {
                        (exploration_section(x))
                    }
                    (model_section(results, &level))
                    (settings_section(results))
                }
            }
        }
    };
    Ok(page.into_string())
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

/// The files [`write_report_dir`] writes at the top of its directory; its charts go into
/// [`REPORT_CHARTS_DIR`] below it.
pub const REPORT_DIR_FILES: [&str; 2] = ["report.html", "results.xlsx"];

/// The subdirectory of a report directory that [`write_report_dir`] writes its charts to.
pub const REPORT_CHARTS_DIR: &str = "charts";

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
    let charts_dir = dir.join(REPORT_CHARTS_DIR);
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
    let [html_name, xlsx_name] = REPORT_DIR_FILES;
    let xlsx = dir.join(xlsx_name);
    let export = ExportOptions {
        currency: plot.currency.clone(),
        quality: options.quality.clone(),
        exploration: options.exploration()?,
        plan: options.plan.clone(),
        ..ExportOptions::default()
    };
    write_bytes(&xlsx, &workbook_bytes(results, &export, &xlsx)?)?;
    written.push(xlsx);
    let html = dir.join(html_name);
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
