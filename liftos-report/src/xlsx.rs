//! `export_results`: the Excel workbook (and a CSV of the channel table).

use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use arrow::record_batch::RecordBatch;
use rust_xlsxwriter::{
    Chart, ChartLegendPosition, ChartType, Color, Format, FormatAlign, FormatBorder, Workbook,
    Worksheet, XlsxError,
};

use crate::explore::ExplorationSummary;
use crate::format::{date_string, money, p_value, percent, thousands};
use crate::{ReportError, Result, extension, write_bytes};
use liftos_causal::{AttributionResults, Estimate};
use liftos_transform::{Issue, QualityReport};

/// A quality issue's example rows as text (`4, 17, 90`), as the report shows them.
pub(crate) fn example_rows(issue: &Issue) -> String {
    issue
        .example_rows
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Options of [`export_results_with`].
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `currency` | `USD` | ISO 4217 code of money amounts (cell formats, words) | any text |
/// | `quality` | `None` | data-quality summary for the *Data quality* sheet | |
/// | `exploration` | `None` | exploration summary for the *Exploration* sheet | |
/// | `max_row_effects` | 1,000,000 | rows written to the *Row effects* sheet (the rest is noted) | 0–1,048,000 |
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// ISO 4217 code of money amounts.
    pub currency: String,
    /// Data-quality summary of the input.
    pub quality: Option<QualityReport>,
    /// Exploration summary of the input table.
    pub exploration: Option<ExplorationSummary>,
    /// Most per-row effects written.
    pub max_row_effects: usize,
    /// A budget plan made from the results (a "Budget plan" sheet).
    pub plan: Option<liftos_causal::plan::BudgetPlan>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            currency: "USD".into(),
            quality: None,
            exploration: None,
            max_row_effects: 1_000_000,
            plan: None,
        }
    }
}

impl ExportOptions {
    /// Sets the currency code.
    pub fn with_currency(mut self, currency: &str) -> Self {
        self.currency = currency.to_string();
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

    /// Adds a budget plan (a "Budget plan" sheet).
    pub fn with_plan(mut self, plan: liftos_causal::plan::BudgetPlan) -> Self {
        self.plan = Some(plan);
        self
    }

    /// Sets the most per-row effects written.
    pub fn with_max_row_effects(mut self, rows: usize) -> Self {
        self.max_row_effects = rows;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.max_row_effects > 1_048_000 {
            return Err(ReportError::InvalidOption {
                name: "max_row_effects",
                value: self.max_row_effects.to_string(),
                expected: "at most 1,048,000 (Excel's row limit)",
            });
        }
        Ok(())
    }
}

/// Headline findings in words, shared by the workbook and the HTML report.
pub(crate) fn headlines(results: &AttributionResults, currency: &str) -> Vec<String> {
    let level = format!("{:.0}%", 100.0 * results.confidence_level);
    let mut out = Vec::new();
    let spend: f64 = results.channels.iter().map(|c| c.spend).sum();
    let lift: f64 = results
        .channels
        .iter()
        .map(|c| c.revenue_lift)
        .filter(|v| v.is_finite())
        .sum();
    let outcome: f64 = results.channels.iter().map(|c| c.outcome_total).sum();
    if spend > 0.0 {
        let mut s = format!(
            "Across {} channel(s), {} of spend caused an estimated {} of {} ({} per 1 {currency} spent)",
            results.channels.len(),
            money(spend, currency, 0),
            money(lift, currency, 0),
            results.outcome,
            thousands(lift / spend, 2),
        );
        if outcome.is_finite() && outcome > 0.0 {
            s.push_str(&format!(
                "; that is {} of the total {} of {}",
                percent(lift / outcome, false),
                money(outcome, currency, 0),
                results.outcome
            ));
        }
        s.push('.');
        out.push(s);
    }
    let mut ranked: Vec<_> = results
        .channels
        .iter()
        .filter(|c| c.incremental_roas.is_finite())
        .collect();
    ranked.sort_by(|a, b| b.incremental_roas.total_cmp(&a.incremental_roas));
    for c in ranked {
        let significance = if c.p_value < 1.0 - results.confidence_level {
            "clearly different from zero"
        } else {
            "not distinguishable from zero"
        };
        let mut s = format!(
            "{}: each 1 {currency} of spend caused {} of {} ({level} interval {} to {}, p {}; {significance})",
            c.channel,
            thousands(c.incremental_roas, 2),
            results.outcome,
            thousands(c.incremental_roas_ci_lower, 2),
            thousands(c.incremental_roas_ci_upper, 2),
            p_value(c.p_value),
        );
        if c.naive_roas.is_finite() {
            s.push_str(&format!(
                "; the platform-reported (naive) ROAS is {}",
                thousands(c.naive_roas, 2)
            ));
        }
        s.push('.');
        out.push(s);
    }
    if let Some(t) = &results.temporal {
        let best = |v: &[Estimate]| {
            v.iter()
                .filter(|e| e.estimate.is_finite())
                .max_by(|a, b| a.estimate.total_cmp(&b.estimate))
                .map(|e| format!("{} ({})", e.name, percent(e.estimate, true)))
        };
        if let Some(d) = best(&t.day_effects) {
            out.push(format!("Strongest weekday for the baseline: {d}."));
        }
        if let Some(m) = best(&t.seasonal_effects) {
            out.push(format!("Strongest month for the baseline: {m}."));
        }
        if let Some(h) = &t.holiday_lift {
            out.push(format!(
                "Holidays change the baseline by {} ({level} interval {} to {}).",
                percent(h.estimate, true),
                percent(h.ci_lower, true),
                percent(h.ci_upper, true)
            ));
        }
    }
    if let Some(a) = &results.model_accuracy {
        out.push(format!(
            "The outcome model explains {} of the variation out of sample (R², {} time-blocked folds).",
            percent(a.r2, false),
            a.folds
        ));
    }
    let warnings = results.diagnostics.warnings.len();
    if warnings > 0 {
        out.push(format!(
            "{warnings} diagnostic warning(s): see the model section before acting on these numbers."
        ));
    }
    out
}

/// Cell formats of the workbook.
struct Formats {
    header: Format,
    title: Format,
    money: Format,
    ratio: Format,
    pct: Format,
    signed_pct: Format,
    p: Format,
    int: Format,
    wrap: Format,
}

impl Formats {
    fn new(currency: &str) -> Self {
        let money = match crate::format::currency_symbol(currency) {
            Some(sym) => format!("\"{sym}\"#,##0;-\"{sym}\"#,##0"),
            None => format!("#,##0 \"{}\"", currency.replace('"', "")),
        };
        Formats {
            header: Format::new()
                .set_bold()
                .set_background_color(Color::RGB(0xDDE6F0))
                .set_border_bottom(FormatBorder::Thin)
                .set_text_wrap()
                .set_align(FormatAlign::Top),
            title: Format::new().set_bold().set_font_size(14),
            money: Format::new().set_num_format(money),
            ratio: Format::new().set_num_format("#,##0.00"),
            pct: Format::new().set_num_format("0.0%"),
            signed_pct: Format::new().set_num_format("+0.0%;-0.0%;0.0%"),
            p: Format::new().set_num_format("0.0000"),
            int: Format::new().set_num_format("#,##0"),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
        }
    }
}

/// A cell value with its kind of number format.
enum Cell {
    Text(String),
    Money(f64),
    Ratio(f64),
    Pct(f64),
    SignedPct(f64),
    P(f64),
    Int(f64),
    Empty,
}

fn xl(path: &Path) -> impl Fn(XlsxError) -> ReportError + '_ {
    move |e| ReportError::Workbook {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes cells to a worksheet, row by row.
struct SheetWriter<'w> {
    ws: &'w mut Worksheet,
    f: &'w Formats,
    path: &'w Path,
    row: u32,
}

impl SheetWriter<'_> {
    fn cell(&mut self, col: u16, cell: &Cell) -> Result<()> {
        let (r, f) = (self.row, self.f);
        let num = |ws: &mut Worksheet, v: f64, fmt: &Format| -> Result<(), XlsxError> {
            if v.is_finite() {
                ws.write_number_with_format(r, col, v, fmt).map(|_| ())
            } else {
                ws.write_string(r, col, "n/a").map(|_| ())
            }
        };
        let ws = &mut *self.ws;
        match cell {
            Cell::Text(s) => ws.write_string(r, col, s).map(|_| ()),
            Cell::Money(v) => num(ws, *v, &f.money),
            Cell::Ratio(v) => num(ws, *v, &f.ratio),
            Cell::Pct(v) => num(ws, *v, &f.pct),
            Cell::SignedPct(v) => num(ws, *v, &f.signed_pct),
            Cell::P(v) => num(ws, *v, &f.p),
            Cell::Int(v) => num(ws, *v, &f.int),
            Cell::Empty => Ok(()),
        }
        .map_err(xl(self.path))
    }

    fn row(&mut self, cells: &[Cell]) -> Result<()> {
        for (c, cell) in cells.iter().enumerate() {
            self.cell(c as u16, cell)?;
        }
        self.row += 1;
        Ok(())
    }

    fn header(&mut self, names: &[&str]) -> Result<()> {
        // Two lines of room: long headers wrap.
        self.ws
            .set_row_height(self.row, 30.0)
            .map_err(xl(self.path))?;
        for (c, name) in names.iter().enumerate() {
            self.ws
                .write_string_with_format(self.row, c as u16, *name, &self.f.header)
                .map_err(xl(self.path))?;
        }
        self.row += 1;
        Ok(())
    }

    fn title(&mut self, text: &str) -> Result<()> {
        self.ws
            .write_string_with_format(self.row, 0, text, &self.f.title)
            .map_err(xl(self.path))?;
        self.row += 1;
        Ok(())
    }

    fn widths(&mut self, widths: &[f64]) -> Result<()> {
        for (c, w) in widths.iter().enumerate() {
            self.ws
                .set_column_width(c as u16, *w)
                .map_err(xl(self.path))?;
        }
        Ok(())
    }

    fn freeze(&mut self, rows: u32) -> Result<()> {
        self.ws.set_freeze_panes(rows, 0).map_err(xl(self.path))?;
        Ok(())
    }
}

fn opt(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

/// Writes the results to `path`: `.xlsx` (the workbook described at
/// [`export_results_with`]) or `.csv` (the channel table, one row per channel).
pub fn export_results(results: &AttributionResults, path: impl AsRef<Path>) -> Result<()> {
    export_results_with(results, path, &ExportOptions::default())
}

/// Writes the results to `path` by its extension, all-or-nothing.
///
/// - `.xlsx`: a workbook with the sheets *Summary* (headline findings in words and
///   numbers), *Channel effects* (with a native bar chart of incremental vs naive
///   ROAS), *Temporal effects*, *Data quality*, *Model* (settings, accuracy,
///   diagnostics, warnings), *Row effects* and, when given, *Exploration*. Money
///   cells carry a currency format, shares a percentage format; header rows are frozen
///   and columns sized.
/// - `.csv`: the channel table ([`AttributionResults::channel_table`] plus
///   `naive_roas` and `outcome_total`).
///
/// - `.json`: the results JSON of DESIGN.md ([`AttributionResults::to_json`]).
///
/// Other extensions give [`ReportError::UnsupportedFormat`].
pub fn export_results_with(
    results: &AttributionResults,
    path: impl AsRef<Path>,
    options: &ExportOptions,
) -> Result<()> {
    let path = path.as_ref();
    options.validate()?;
    match extension(path).as_str() {
        "xlsx" => {
            let bytes = workbook_bytes(results, options, path)?;
            write_bytes(path, &bytes)
        }
        "csv" => write_bytes(path, channel_csv(results).as_bytes()),
        "json" => {
            let text = serde_json::to_string_pretty(&results.to_json())
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            write_bytes(path, text.as_bytes())
        }
        _ => Err(ReportError::UnsupportedFormat {
            path: path.to_path_buf(),
            expected: "`.xlsx`, `.csv`, `.json`",
        }),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn channel_csv(results: &AttributionResults) -> String {
    let mut out = String::from(
        "channel,rows,spend,revenue_lift,ci_lower,ci_upper,std_err,p_value,incremental_roas,\
         incremental_roas_ci_lower,incremental_roas_ci_upper,marginal_roas,naive_roas,outcome_total,\
         long_run_roas,adstock_decay\n",
    );
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v}")
        } else {
            String::new()
        }
    };
    for c in &results.channels {
        let fields = [
            csv_field(&c.channel),
            c.rows.to_string(),
            num(c.spend),
            num(c.revenue_lift),
            num(c.ci_lower),
            num(c.ci_upper),
            num(c.std_err),
            num(c.p_value),
            num(c.incremental_roas),
            num(c.incremental_roas_ci_lower),
            num(c.incremental_roas_ci_upper),
            num(c.marginal_roas),
            num(c.naive_roas),
            num(c.outcome_total),
            num(opt(c.long_run_roas)),
            num(opt(c.adstock_decay)),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// The workbook as bytes.
pub(crate) fn workbook_bytes(
    results: &AttributionResults,
    options: &ExportOptions,
    path: &Path,
) -> Result<Vec<u8>> {
    let f = Formats::new(&options.currency);
    let mut wb = Workbook::new();
    let cur = options.currency.as_str();
    let level = format!("{:.0}%", 100.0 * results.confidence_level);

    // Summary.
    {
        let ws = wb.add_worksheet();
        ws.set_name("Summary").map_err(xl(path))?;
        let mut w = SheetWriter {
            ws,
            f: &f,
            path,
            row: 0,
        };
        w.title(&format!(
            "What each channel's spend caused ({} model, {} rows, seed {})",
            results.model, results.rows, results.seed
        ))?;
        w.header(&["Finding"])?;
        for line in headlines(results, cur) {
            // One finding per row, across the eight columns of the table below, with
            // room for its wrapped lines (Excel does not size merged rows itself).
            w.ws.merge_range(w.row, 0, w.row, 7, &line, &f.wrap)
                .map_err(xl(path))?;
            let lines = line.chars().count().div_ceil(105).max(1);
            w.ws.set_row_height(w.row, 15.0 * lines as f64 + 3.0)
                .map_err(xl(path))?;
            w.row += 1;
        }
        w.row += 1;
        w.header(&[
            "Channel",
            &format!("Spend ({cur})"),
            &format!("Caused {} ({cur})", results.outcome),
            "Incremental ROAS",
            &format!("Lower ({level})"),
            &format!("Upper ({level})"),
            "Naive ROAS",
            "p-value",
        ])?;
        for c in &results.channels {
            w.row(&[
                Cell::Text(c.channel.clone()),
                Cell::Money(c.spend),
                Cell::Money(c.revenue_lift),
                Cell::Ratio(c.incremental_roas),
                Cell::Ratio(c.incremental_roas_ci_lower),
                Cell::Ratio(c.incremental_roas_ci_upper),
                Cell::Ratio(c.naive_roas),
                Cell::P(c.p_value),
            ])?;
        }
        w.widths(&[24.0, 16.0, 18.0, 16.0, 12.0, 12.0, 12.0, 10.0])?;
        w.freeze(2)?;
    }

    // Channel effects, with a native chart.
    {
        let ws = wb.add_worksheet();
        ws.set_name("Channel effects").map_err(xl(path))?;
        let mut w = SheetWriter {
            ws,
            f: &f,
            path,
            row: 0,
        };
        w.header(&[
            "Channel",
            "Rows",
            &format!("Spend ({cur})"),
            &format!("Revenue lift ({cur})"),
            &format!("Lift lower ({level})"),
            &format!("Lift upper ({level})"),
            "Lift std. error",
            "p-value",
            "Incremental ROAS",
            &format!("iROAS lower ({level})"),
            &format!("iROAS upper ({level})"),
            "Marginal ROAS",
            "Naive ROAS",
            &format!("Total {} ({cur})", results.outcome),
            "Long-run ROAS",
            "Adstock decay",
            "Average effect per unit",
            "Average effect std. error",
        ])?;
        for c in &results.channels {
            w.row(&[
                Cell::Text(c.channel.clone()),
                Cell::Int(c.rows as f64),
                Cell::Money(c.spend),
                Cell::Money(c.revenue_lift),
                Cell::Money(c.ci_lower),
                Cell::Money(c.ci_upper),
                Cell::Money(c.std_err),
                Cell::P(c.p_value),
                Cell::Ratio(c.incremental_roas),
                Cell::Ratio(c.incremental_roas_ci_lower),
                Cell::Ratio(c.incremental_roas_ci_upper),
                Cell::Ratio(c.marginal_roas),
                Cell::Ratio(c.naive_roas),
                Cell::Money(c.outcome_total),
                Cell::Ratio(opt(c.long_run_roas)),
                Cell::Ratio(opt(c.adstock_decay)),
                Cell::Ratio(c.average_effect),
                Cell::Ratio(c.average_effect_std_err),
            ])?;
        }
        let mut widths = vec![24.0, 8.0];
        widths.extend([15.0; 16]);
        w.widths(&widths)?;
        w.freeze(1)?;
        let n = results.channels.len() as u32;
        if n > 0 {
            let sheet = "Channel effects";
            let mut chart = Chart::new(ChartType::Bar);
            chart
                .add_series()
                .set_name("Incremental ROAS")
                .set_categories((sheet, 1, 0, n, 0))
                .set_values((sheet, 1, 8, n, 8));
            chart
                .add_series()
                .set_name("Naive (platform-reported) ROAS")
                .set_categories((sheet, 1, 0, n, 0))
                .set_values((sheet, 1, 12, n, 12));
            chart.title().set_name("Incremental vs naive ROAS");
            chart
                .set_width(760)
                .set_height((120 + 40 * n.min(30)).max(300));
            chart.legend().set_position(ChartLegendPosition::Bottom);
            let axis = format!("{} per 1 {cur} of spend", results.outcome);
            chart.x_axis().set_name(axis.as_str());
            w.ws.insert_chart(n + 2, 0, &chart).map_err(xl(path))?;
        }
    }

    // Temporal effects.
    {
        let ws = wb.add_worksheet();
        ws.set_name("Temporal effects").map_err(xl(path))?;
        let mut w = SheetWriter {
            ws,
            f: &f,
            path,
            row: 0,
        };
        w.header(&[
            "Pattern",
            "Name",
            "Estimate",
            "Std. error",
            &format!("Lower ({level})"),
            &format!("Upper ({level})"),
            "p-value",
            "Rows",
        ])?;
        w.widths(&[44.0, 16.0, 12.0, 12.0, 12.0, 12.0, 10.0, 10.0])?;
        w.freeze(1)?;
        match &results.temporal {
            None => w.row(&[Cell::Text(
                "No temporal effects in these results (the model was fitted without a time column)."
                    .into(),
            )])?,
            Some(t) => {
                let baseline = "Baseline lift, weekday (share of baseline)";
                let groups: [(&str, Vec<&Estimate>, bool); 5] = [
                    (baseline, t.day_effects.iter().collect(), true),
                    (
                        "Baseline lift, month (share of baseline)",
                        t.seasonal_effects.iter().collect(),
                        true,
                    ),
                    (
                        "Baseline lift, holidays and events (share of baseline)",
                        [&t.holiday_lift, &t.event_lift]
                            .into_iter()
                            .flatten()
                            .collect(),
                        true,
                    ),
                    (
                        "Effect per unit of spend, by weekday",
                        t.effect_by_day.iter().collect(),
                        false,
                    ),
                    (
                        "Effect per unit of spend, holidays vs other days",
                        [&t.effect_on_holidays, &t.effect_off_holidays]
                            .into_iter()
                            .flatten()
                            .collect(),
                        false,
                    ),
                ];
                for (pattern, estimates, relative) in groups {
                    for e in estimates {
                        let v = |x: f64| {
                            if relative {
                                Cell::SignedPct(x)
                            } else {
                                Cell::Ratio(x)
                            }
                        };
                        w.row(&[
                            Cell::Text(pattern.into()),
                            Cell::Text(e.name.clone()),
                            v(e.estimate),
                            v(e.std_err),
                            v(e.ci_lower),
                            v(e.ci_upper),
                            Cell::P(e.p_value),
                            Cell::Int(e.rows as f64),
                        ])?;
                    }
                }
            }
        }
    }

    // Data quality.
    {
        let ws = wb.add_worksheet();
        ws.set_name("Data quality").map_err(xl(path))?;
        let mut w = SheetWriter {
            ws,
            f: &f,
            path,
            row: 0,
        };
        w.widths(&[28.0, 20.0, 12.0, 12.0, 30.0, 70.0])?;
        match &options.quality {
            None => {
                w.header(&["Data quality"])?;
                w.row(&[Cell::Text(
                    "No data-quality report was given with these results.".into(),
                )])?;
            }
            Some(q) => {
                w.header(&["Measure", "Value"])?;
                w.row(&[Cell::Text("Rows checked".into()), Cell::Int(q.rows as f64)])?;
                w.row(&[
                    Cell::Text("Completeness score".into()),
                    Cell::Pct(q.completeness_score),
                ])?;
                w.row(&[
                    Cell::Text("Accuracy score".into()),
                    Cell::Pct(q.accuracy_score),
                ])?;
                w.row(&[
                    Cell::Text("Issues found".into()),
                    Cell::Int(q.issues.len() as f64),
                ])?;
                w.row += 1;
                w.header(&["Rule", "Column", "Rows", "Severity", "Examples", "Message"])?;
                for i in &q.issues {
                    w.row(&[
                        Cell::Text(i.rule.clone()),
                        Cell::Text(i.column.clone().unwrap_or_default()),
                        Cell::Int(i.row_count as f64),
                        Cell::Text(i.severity.to_string()),
                        Cell::Text(example_rows(i)),
                        Cell::Text(i.message.clone()),
                    ])?;
                }
            }
        }
        w.freeze(1)?;
    }

    // Model.
    {
        let ws = wb.add_worksheet();
        ws.set_name("Model").map_err(xl(path))?;
        let mut w = SheetWriter {
            ws,
            f: &f,
            path,
            row: 0,
        };
        w.widths(&[44.0, 22.0, 14.0, 14.0, 14.0, 12.0])?;
        w.header(&["Setting", "Value"])?;
        w.freeze(1)?;
        for (k, v) in model_rows(results) {
            w.row(&[Cell::Text(k), Cell::Text(v)])?;
        }
        for (k, v) in &results.settings {
            w.row(&[Cell::Text(k.clone()), Cell::Text(v.clone())])?;
        }
        w.row += 1;
        w.title("Accuracy of the outcome model")?;
        match &results.model_accuracy {
            None => w.row(&[Cell::Text(
                "Not computed (cross-validation was off).".into(),
            )])?,
            Some(a) => {
                w.row(&[Cell::Text("Out-of-sample R²".into()), Cell::Ratio(a.r2)])?;
                w.row(&[Cell::Text("MAPE".into()), Cell::Pct(a.mape)])?;
                w.row(&[Cell::Text("Folds".into()), Cell::Int(a.folds as f64)])?;
                w.row(&[
                    Cell::Text("Gap days".into()),
                    Cell::Int(f64::from(a.gap_days)),
                ])?;
                for (i, r2) in a.fold_r2.iter().enumerate() {
                    w.row(&[
                        Cell::Text(format!("R² of fold {}", i + 1)),
                        Cell::Ratio(*r2),
                    ])?;
                }
            }
        }
        w.row += 1;
        w.title("Diagnostics")?;
        w.header(&[
            "Check",
            "Estimate",
            "Std. error",
            &format!("Lower ({level})"),
            &format!("Upper ({level})"),
            "p-value",
        ])?;
        let d = &results.diagnostics;
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
                w.row(&[
                    Cell::Text(name.into()),
                    Cell::Ratio(k.estimate),
                    Cell::Ratio(k.std_err),
                    Cell::Ratio(k.ci_lower),
                    Cell::Ratio(k.ci_upper),
                    Cell::P(k.p_value),
                ])?;
            }
        }
        if let Some(r2) = d.treatment_r2 {
            w.row(&[
                Cell::Text("Treatment explained by the controls (R²)".into()),
                Cell::Ratio(r2),
            ])?;
        }
        if let Some(s) = d.low_overlap_share {
            w.row(&[Cell::Text("Rows with weak overlap".into()), Cell::Pct(s)])?;
        }
        if let Some(p) = &d.placebo {
            w.row(&[
                Cell::Text(format!("Placebo ({}), should be ≈ 0", p.name)),
                Cell::Ratio(p.estimate),
                Cell::Ratio(p.std_err),
                Cell::Ratio(p.ci_lower),
                Cell::Ratio(p.ci_upper),
                Cell::P(p.p_value),
            ])?;
        }
        w.row += 1;
        w.title("Warnings")?;
        if d.warnings.is_empty() {
            w.row(&[Cell::Text("None: every check passed.".into())])?;
        }
        for warning in &d.warnings {
            w.row(&[Cell::Text(warning.clone())])?;
        }
    }

    // Row effects.
    {
        let ws = wb.add_worksheet();
        ws.set_name("Row effects").map_err(xl(path))?;
        let mut w = SheetWriter {
            ws,
            f: &f,
            path,
            row: 0,
        };
        w.header(&[
            "Row",
            "Date",
            "Channel",
            "Entity",
            &format!("Treatment ({})", results.treatment),
            &format!("Outcome ({})", results.outcome),
            "Effect per unit (τ)",
            "Std. error",
            &format!("Lower ({level})"),
            &format!("Upper ({level})"),
        ])?;
        w.widths(&[8.0, 12.0, 20.0, 28.0, 16.0, 16.0, 16.0, 12.0, 12.0, 12.0])?;
        w.freeze(1)?;
        let index = results.row_index.as_ref();
        let n = results.treatment_effects.len();
        for (i, e) in results
            .treatment_effects
            .iter()
            .enumerate()
            .take(options.max_row_effects)
        {
            let text = |v: Option<&Vec<String>>| {
                v.and_then(|v| v.get(i))
                    .map_or(Cell::Empty, |s| Cell::Text(s.clone()))
            };
            let num = |v: Option<&Vec<f64>>| {
                v.and_then(|v| v.get(i))
                    .map_or(Cell::Empty, |x| Cell::Money(*x))
            };
            w.row(&[
                Cell::Int(i as f64),
                index
                    .and_then(|x| x.date.get(i))
                    .map_or(Cell::Empty, |d| Cell::Text(date_string(*d))),
                text(index.map(|x| &x.channel)),
                text(index.map(|x| &x.entity)),
                num(index.map(|x| &x.treatment)),
                num(index.map(|x| &x.outcome)),
                Cell::Ratio(e.tau),
                Cell::Ratio(e.std_err),
                Cell::Ratio(e.ci_lower),
                Cell::Ratio(e.ci_upper),
            ])?;
        }
        if n > options.max_row_effects {
            w.row(&[Cell::Text(format!(
                "{} more rows not written (max_row_effects = {}).",
                n - options.max_row_effects,
                options.max_row_effects
            ))])?;
        }
    }

    // Budget plan.
    if let Some(plan) = &options.plan {
        let ws = wb.add_worksheet();
        ws.set_name("Budget plan").map_err(xl(path))?;
        let mut w = SheetWriter {
            ws,
            f: &f,
            path,
            row: 0,
        };
        w.widths(&[
            18.0, 16.0, 16.0, 10.0, 18.0, 16.0, 16.0, 18.0, 14.0, 10.0, 60.0,
        ])?;
        w.header(&[
            "Channel",
            &format!("Current spend ({cur})"),
            &format!("Recommended ({cur})"),
            "Change",
            &format!("Expected incremental ({cur})"),
            &format!("Lower ({level})"),
            &format!("Upper ({level})"),
            &format!("Incremental at current ({cur})"),
            "Marginal ROAS at recommended",
            "Held",
            "Note",
        ])?;
        for c in &plan.channels {
            w.row(&[
                Cell::Text(c.channel.clone()),
                Cell::Money(c.current_spend),
                Cell::Money(c.recommended_spend),
                if c.current_spend > 0.0 {
                    Cell::SignedPct(c.recommended_spend / c.current_spend - 1.0)
                } else {
                    Cell::Empty
                },
                Cell::Money(c.expected_incremental_revenue),
                Cell::Money(c.ci_lower),
                Cell::Money(c.ci_upper),
                Cell::Money(c.current_incremental_revenue),
                Cell::Ratio(c.marginal_roas_at_recommended),
                Cell::Text(if c.held { "yes" } else { "no" }.into()),
                Cell::Text(c.reason.clone().unwrap_or_default()),
            ])?;
        }
        w.row(&[
            Cell::Text("Total".into()),
            Cell::Money(plan.current_spend),
            Cell::Money(plan.allocated_budget),
            Cell::Empty,
            Cell::Money(plan.expected_incremental_revenue),
            Cell::Money(plan.expected_ci.0),
            Cell::Money(plan.expected_ci.1),
            Cell::Money(plan.current_incremental_revenue),
        ])?;
        w.row += 1;
        w.title(&format!(
            "Budget {} {cur}, objective {}",
            crate::format::thousands(plan.total_budget, 0),
            plan.objective.as_str()
        ))?;
        for note in &plan.notes {
            w.row(&[Cell::Text(note.clone())])?;
        }
        w.freeze(1)?;
    }

    // Exploration.
    if let Some(x) = &options.exploration {
        let ws = wb.add_worksheet();
        ws.set_name("Exploration").map_err(xl(path))?;
        let mut w = SheetWriter {
            ws,
            f: &f,
            path,
            row: 0,
        };
        w.widths(&[22.0, 12.0, 14.0, 14.0, 14.0, 14.0, 14.0, 14.0, 14.0, 14.0])?;
        w.title("Columns of the input table")?;
        write_batch(&mut w, &x.describe)?;
        if let Some(c) = &x.channels {
            w.row += 1;
            w.title("Totals per channel")?;
            write_batch(&mut w, c)?;
        }
    }

    wb.save_to_buffer().map_err(xl(path))
}

/// Settings every model has, as (name, value) text.
pub(crate) fn model_rows(results: &AttributionResults) -> Vec<(String, String)> {
    let a = &results.average_effect;
    vec![
        ("Model".into(), results.model.clone()),
        ("Outcome".into(), results.outcome.clone()),
        ("Treatment".into(), results.treatment.clone()),
        ("Rows".into(), thousands(results.rows as f64, 0)),
        (
            "Confidence level".into(),
            percent(results.confidence_level, false),
        ),
        ("Seed".into(), results.seed.to_string()),
        (
            "Average effect per unit (all rows)".into(),
            format!(
                "{} [{} – {}]",
                thousands(a.estimate, 3),
                thousands(a.ci_lower, 3),
                thousands(a.ci_upper, 3)
            ),
        ),
    ]
}

/// Writes an Arrow table (Utf8, integer and float columns) with a header row.
fn write_batch(w: &mut SheetWriter<'_>, batch: &RecordBatch) -> Result<()> {
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    w.header(&names)?;
    for r in 0..batch.num_rows() {
        let cells: Vec<Cell> = batch
            .columns()
            .iter()
            .map(|col| {
                if col.is_null(r) {
                    return Cell::Empty;
                }
                match col.data_type() {
                    DataType::Utf8 => Cell::Text(col.as_string::<i32>().value(r).to_string()),
                    DataType::UInt64 => Cell::Int(col.as_primitive::<UInt64Type>().value(r) as f64),
                    DataType::Float64 => Cell::Ratio(col.as_primitive::<Float64Type>().value(r)),
                    _ => Cell::Text(
                        arrow::util::display::array_value_to_string(col, r).unwrap_or_default(),
                    ),
                }
            })
            .collect();
        w.row(&cells)?;
    }
    Ok(())
}
