//! `export_results`: the Excel workbook (and a CSV of the channel table).
//!
//! Each sheet is one function (`summary`, `channel_effects`, …) that writes through a
//! [`SheetWriter`], which carries the shared [`Context`] (results, options, cell formats,
//! the currency and confidence level headers name). A sheet's tables are declared as a
//! [`Table`] of columns (header, width, the cell of a row; `interval` adds the lower and
//! upper columns), and [`SheetWriter::table`] writes any of them: widths, header row,
//! rows.

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
use liftos_causal::plan::{BudgetPlan, PlannedChannel};
use liftos_causal::{AttributionResults, ChannelEffect, Estimate, RowEffect};
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
    liftos_core::setters! {
        /// Sets the currency code.
        with_currency(currency: &str) => currency.to_string();
        /// Adds a data-quality summary.
        with_quality(quality: QualityReport) => Some(quality);
        /// Adds an exploration summary.
        with_exploration(exploration: ExplorationSummary) => Some(exploration);
        /// Adds a budget plan (a "Budget plan" sheet).
        with_plan(plan: liftos_causal::plan::BudgetPlan) => Some(plan);
        /// Sets the most per-row effects written.
        with_max_row_effects(rows: usize) => self.max_row_effects = rows;
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

/// A text cell.
fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

fn xl(path: &Path) -> impl Fn(XlsxError) -> ReportError + '_ {
    move |e| ReportError::Workbook {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// What every sheet is built from: the results, the options, the cell formats and the
/// words headers repeat.
struct Context<'a> {
    results: &'a AttributionResults,
    options: &'a ExportOptions,
    formats: Formats,
    /// The currency code, as headers name it.
    cur: &'a str,
    /// The confidence level, as interval headers name it (`95%`).
    level: String,
    /// The workbook's path, for errors.
    path: &'a Path,
}

/// A column of a table: its header, its width and the cell it shows for a row.
struct Column<'a, T> {
    header: String,
    width: f64,
    cell: Box<dyn Fn(&T) -> Cell + 'a>,
}

/// A table's columns, declared in order; [`SheetWriter::table`] writes the header row,
/// sizes the columns and writes one row per item.
struct Table<'a, T> {
    level: &'a str,
    columns: Vec<Column<'a, T>>,
}

impl<'a, T> Table<'a, T> {
    /// No columns yet; `level` names the intervals' columns.
    fn new(level: &'a str) -> Self {
        Table {
            level,
            columns: Vec::new(),
        }
    }

    /// Adds a column.
    fn col(
        mut self,
        header: impl Into<String>,
        width: f64,
        cell: impl Fn(&T) -> Cell + 'a,
    ) -> Self {
        self.columns.push(Column {
            header: header.into(),
            width,
            cell: Box::new(cell),
        });
        self
    }

    /// Adds an interval's two columns, `Lower (95%)` and `Upper (95%)`, or with a `name`
    /// `{name} lower (95%)` and `{name} upper (95%)`.
    fn interval(
        self,
        name: &str,
        width: f64,
        lower: impl Fn(&T) -> Cell + 'a,
        upper: impl Fn(&T) -> Cell + 'a,
    ) -> Self {
        let (lo, hi) = match name {
            "" => ("Lower".to_string(), "Upper".to_string()),
            _ => (format!("{name} lower"), format!("{name} upper")),
        };
        let level = self.level;
        self.col(format!("{lo} ({level})"), width, lower).col(
            format!("{hi} ({level})"),
            width,
            upper,
        )
    }

    /// [`Table::interval`] of two numbers of one kind: `cell` of `lower` and of `upper`.
    fn interval_of(
        self,
        name: &str,
        width: f64,
        cell: fn(f64) -> Cell,
        lower: fn(&T) -> f64,
        upper: fn(&T) -> f64,
    ) -> Self
    where
        T: 'a,
    {
        self.interval(
            name,
            width,
            move |r| cell(lower(r)),
            move |r| cell(upper(r)),
        )
    }

    /// The position of the column called `header`.
    fn position(&self, header: &str) -> Option<u16> {
        let i = self.columns.iter().position(|c| c.header == header)?;
        u16::try_from(i).ok()
    }
}

impl<'a, 'c: 'a> Table<'a, &'c ChannelEffect> {
    /// Adds a channel's incremental ROAS (`width` wide) and its interval's two columns
    /// (`interval_width` wide, named as [`Table::interval`] names them with `name`).
    fn incremental_roas(self, width: f64, name: &str, interval_width: f64) -> Self {
        self.col("Incremental ROAS", width, |c| {
            Cell::Ratio(c.incremental_roas)
        })
        .interval_of(
            name,
            interval_width,
            Cell::Ratio,
            |c| c.incremental_roas_ci_lower,
            |c| c.incremental_roas_ci_upper,
        )
    }
}

/// Writes cells to a worksheet, row by row.
struct SheetWriter<'w> {
    ws: &'w mut Worksheet,
    cx: &'w Context<'w>,
    row: u32,
}

impl SheetWriter<'_> {
    fn cell(&mut self, col: u16, cell: &Cell) -> Result<()> {
        let (r, f) = (self.row, &self.cx.formats);
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
        .map_err(xl(self.cx.path))
    }

    fn row(&mut self, cells: &[Cell]) -> Result<()> {
        for (c, cell) in cells.iter().enumerate() {
            self.cell(c as u16, cell)?;
        }
        self.row += 1;
        Ok(())
    }

    /// A row of a label and a value.
    fn pair(&mut self, label: &str, value: Cell) -> Result<()> {
        self.row(&[text(label), value])
    }

    fn header(&mut self, names: &[&str]) -> Result<()> {
        // Two lines of room: long headers wrap.
        self.ws
            .set_row_height(self.row, 30.0)
            .map_err(xl(self.cx.path))?;
        for (c, name) in names.iter().enumerate() {
            self.ws
                .write_string_with_format(self.row, c as u16, *name, &self.cx.formats.header)
                .map_err(xl(self.cx.path))?;
        }
        self.row += 1;
        Ok(())
    }

    fn title(&mut self, text: &str) -> Result<()> {
        self.ws
            .write_string_with_format(self.row, 0, text, &self.cx.formats.title)
            .map_err(xl(self.cx.path))?;
        self.row += 1;
        Ok(())
    }

    fn widths(&mut self, widths: &[f64]) -> Result<()> {
        for (c, w) in widths.iter().enumerate() {
            self.ws
                .set_column_width(c as u16, *w)
                .map_err(xl(self.cx.path))?;
        }
        Ok(())
    }

    /// Sizes the sheet's columns by a table's.
    fn widths_of<T>(&mut self, table: &Table<'_, T>) -> Result<()> {
        let widths: Vec<f64> = table.columns.iter().map(|c| c.width).collect();
        self.widths(&widths)
    }

    /// Writes a table's rows (without its header).
    fn rows<T>(&mut self, table: &Table<'_, T>, rows: impl IntoIterator<Item = T>) -> Result<()> {
        for item in rows {
            let cells: Vec<Cell> = table.columns.iter().map(|c| (c.cell)(&item)).collect();
            self.row(&cells)?;
        }
        Ok(())
    }

    /// Sizes the columns by the table's, writes its header row and its rows.
    fn table<T>(&mut self, table: &Table<'_, T>, rows: impl IntoIterator<Item = T>) -> Result<()> {
        self.widths_of(table)?;
        let headers: Vec<&str> = table.columns.iter().map(|c| c.header.as_str()).collect();
        self.header(&headers)?;
        self.rows(table, rows)
    }

    fn freeze(&mut self, rows: u32) -> Result<()> {
        self.ws
            .set_freeze_panes(rows, 0)
            .map_err(xl(self.cx.path))?;
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

/// A text field of the CSV fallback: a cell a spreadsheet would run as a formula gets a
/// leading `'` (CSV injection, as the CSV tables of `liftos_transform` write them), then
/// quoting where needed.
fn csv_field(s: &str) -> String {
    let escaped;
    let s = if liftos_transform::is_formula_like(s) {
        escaped = format!("'{s}");
        escaped.as_str()
    } else {
        s
    };
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

/// The workbook as bytes: one sheet a function below, in this order.
pub(crate) fn workbook_bytes(
    results: &AttributionResults,
    options: &ExportOptions,
    path: &Path,
) -> Result<Vec<u8>> {
    let cx = Context {
        results,
        options,
        formats: Formats::new(&options.currency),
        cur: options.currency.as_str(),
        level: format!("{:.0}%", 100.0 * results.confidence_level),
        path,
    };
    let mut wb = Workbook::new();
    let mut sheet = |name: &str, build: &dyn Fn(&mut SheetWriter<'_>) -> Result<()>| {
        let ws = wb.add_worksheet();
        ws.set_name(name).map_err(xl(path))?;
        build(&mut SheetWriter {
            ws,
            cx: &cx,
            row: 0,
        })
    };
    sheet("Summary", &summary)?;
    sheet("Channel effects", &channel_effects)?;
    sheet("Temporal effects", &temporal_effects)?;
    sheet("Data quality", &data_quality)?;
    sheet("Model", &model)?;
    sheet("Row effects", &row_effects)?;
    if let Some(plan) = &options.plan {
        sheet("Budget plan", &|w| budget_plan(w, plan))?;
    }
    if let Some(x) = &options.exploration {
        sheet("Exploration", &|w| exploration(w, x))?;
    }
    wb.save_to_buffer().map_err(xl(path))
}

/// Headline findings in words, then the channels' returns.
fn summary(w: &mut SheetWriter<'_>) -> Result<()> {
    let cx = w.cx;
    let (results, cur) = (cx.results, cx.cur);
    w.title(&format!(
        "What each channel's spend caused ({} model, {} rows, seed {})",
        results.model, results.rows, results.seed
    ))?;
    w.header(&["Finding"])?;
    for line in headlines(results, cur) {
        // One finding per row, across the eight columns of the table below, with
        // room for its wrapped lines (Excel does not size merged rows itself).
        w.ws.merge_range(w.row, 0, w.row, 7, &line, &cx.formats.wrap)
            .map_err(xl(cx.path))?;
        let lines = line.chars().count().div_ceil(105).max(1);
        w.ws.set_row_height(w.row, 15.0 * lines as f64 + 3.0)
            .map_err(xl(cx.path))?;
        w.row += 1;
    }
    w.row += 1;
    let table = Table::new(&cx.level)
        .col("Channel", 24.0, |c: &&ChannelEffect| text(&c.channel))
        .col(format!("Spend ({cur})"), 16.0, |c| Cell::Money(c.spend))
        .col(format!("Caused {} ({cur})", results.outcome), 18.0, |c| {
            Cell::Money(c.revenue_lift)
        })
        .incremental_roas(16.0, "", 12.0)
        .col("Naive ROAS", 12.0, |c| Cell::Ratio(c.naive_roas))
        .col("p-value", 10.0, |c| Cell::P(c.p_value));
    w.table(&table, &results.channels)?;
    w.freeze(2)
}

/// Every number of every channel, with a native chart of incremental vs naive ROAS.
fn channel_effects(w: &mut SheetWriter<'_>) -> Result<()> {
    let cx = w.cx;
    let (results, cur) = (cx.results, cx.cur);
    let table = Table::new(&cx.level)
        .col("Channel", 24.0, |c: &&ChannelEffect| text(&c.channel))
        .col("Rows", 8.0, |c| Cell::Int(c.rows as f64))
        .col(format!("Spend ({cur})"), 15.0, |c| Cell::Money(c.spend))
        .col(format!("Revenue lift ({cur})"), 15.0, |c| {
            Cell::Money(c.revenue_lift)
        })
        .interval_of("Lift", 15.0, Cell::Money, |c| c.ci_lower, |c| c.ci_upper)
        .col("Lift std. error", 15.0, |c| Cell::Money(c.std_err))
        .col("p-value", 15.0, |c| Cell::P(c.p_value))
        .incremental_roas(15.0, "iROAS", 15.0)
        .col("Marginal ROAS", 15.0, |c| Cell::Ratio(c.marginal_roas))
        .col("Naive ROAS", 15.0, |c| Cell::Ratio(c.naive_roas))
        .col(format!("Total {} ({cur})", results.outcome), 15.0, |c| {
            Cell::Money(c.outcome_total)
        })
        .col("Long-run ROAS", 15.0, |c| Cell::Ratio(opt(c.long_run_roas)))
        .col("Adstock decay", 15.0, |c| Cell::Ratio(opt(c.adstock_decay)))
        .col("Average effect per unit", 15.0, |c| {
            Cell::Ratio(c.average_effect)
        })
        .col("Average effect std. error", 15.0, |c| {
            Cell::Ratio(c.average_effect_std_err)
        });
    w.table(&table, &results.channels)?;
    w.freeze(1)?;
    // The chart's series are the table's columns of the same names.
    let n = results.channels.len() as u32;
    let iroas = table.position("Incremental ROAS");
    let naive = table.position("Naive ROAS");
    if let (1.., Some(iroas), Some(naive)) = (n, iroas, naive) {
        let sheet = "Channel effects";
        let mut chart = Chart::new(ChartType::Bar);
        chart
            .add_series()
            .set_name("Incremental ROAS")
            .set_categories((sheet, 1, 0, n, 0))
            .set_values((sheet, 1, iroas, n, iroas));
        chart
            .add_series()
            .set_name("Naive (platform-reported) ROAS")
            .set_categories((sheet, 1, 0, n, 0))
            .set_values((sheet, 1, naive, n, naive));
        chart.title().set_name("Incremental vs naive ROAS");
        chart
            .set_width(760)
            .set_height((120 + 40 * n.min(30)).max(300));
        chart.legend().set_position(ChartLegendPosition::Bottom);
        let axis = format!("{} per 1 {cur} of spend", results.outcome);
        chart.x_axis().set_name(axis.as_str());
        w.ws.insert_chart(n + 2, 0, &chart).map_err(xl(cx.path))?;
    }
    Ok(())
}

/// The baseline's lifts by weekday, month and holidays, and the effect per unit of
/// spend by weekday and on holidays.
fn temporal_effects(w: &mut SheetWriter<'_>) -> Result<()> {
    let cx = w.cx;
    // A row: its pattern, the estimate, and whether it is a share of the baseline.
    type Row<'r> = (&'r str, &'r Estimate, bool);
    let value = |relative: bool, x: f64| {
        if relative {
            Cell::SignedPct(x)
        } else {
            Cell::Ratio(x)
        }
    };
    let table = Table::new(&cx.level)
        .col("Pattern", 44.0, |r: &Row<'_>| text(r.0))
        .col("Name", 16.0, |r| text(&r.1.name))
        .col("Estimate", 12.0, move |r| value(r.2, r.1.estimate))
        .col("Std. error", 12.0, move |r| value(r.2, r.1.std_err))
        .interval(
            "",
            12.0,
            move |r| value(r.2, r.1.ci_lower),
            move |r| value(r.2, r.1.ci_upper),
        )
        .col("p-value", 10.0, |r| Cell::P(r.1.p_value))
        .col("Rows", 10.0, |r| Cell::Int(r.1.rows as f64));
    let Some(t) = &cx.results.temporal else {
        w.table(&table, [])?;
        w.freeze(1)?;
        return w.row(&[text(
            "No temporal effects in these results (the model was fitted without a time column).",
        )]);
    };
    fn group<'e>(
        pattern: &'e str,
        relative: bool,
        estimates: impl IntoIterator<Item = &'e Estimate>,
    ) -> impl Iterator<Item = Row<'e>> {
        estimates.into_iter().map(move |e| (pattern, e, relative))
    }
    let rows = group(
        "Baseline lift, weekday (share of baseline)",
        true,
        &t.day_effects,
    )
    .chain(group(
        "Baseline lift, month (share of baseline)",
        true,
        &t.seasonal_effects,
    ))
    .chain(group(
        "Baseline lift, holidays and events (share of baseline)",
        true,
        t.holiday_lift.iter().chain(&t.event_lift),
    ))
    .chain(group(
        "Effect per unit of spend, by weekday",
        false,
        &t.effect_by_day,
    ))
    .chain(group(
        "Effect per unit of spend, holidays vs other days",
        false,
        t.effect_on_holidays.iter().chain(&t.effect_off_holidays),
    ));
    w.table(&table, rows)?;
    w.freeze(1)
}

/// The data-quality summary and its issues.
fn data_quality(w: &mut SheetWriter<'_>) -> Result<()> {
    let cx = w.cx;
    let issues = Table::new(&cx.level)
        .col("Rule", 28.0, |i: &&Issue| text(&i.rule))
        .col("Column", 20.0, |i| {
            text(i.column.as_deref().unwrap_or_default())
        })
        .col("Rows", 12.0, |i| Cell::Int(i.row_count as f64))
        .col("Severity", 12.0, |i| Cell::Text(i.severity.to_string()))
        .col("Examples", 30.0, |i| Cell::Text(example_rows(i)))
        .col("Message", 70.0, |i| text(&i.message));
    w.widths_of(&issues)?;
    match &cx.options.quality {
        None => {
            w.header(&["Data quality"])?;
            w.row(&[text("No data-quality report was given with these results.")])?;
        }
        Some(q) => {
            w.header(&["Measure", "Value"])?;
            w.pair("Rows checked", Cell::Int(q.rows as f64))?;
            w.pair("Completeness score", Cell::Pct(q.completeness_score))?;
            w.pair("Accuracy score", Cell::Pct(q.accuracy_score))?;
            w.pair("Issues found", Cell::Int(q.issues.len() as f64))?;
            w.row += 1;
            w.table(&issues, &q.issues)?;
        }
    }
    w.freeze(1)
}

/// The model's settings, its accuracy, its diagnostics and its warnings.
fn model(w: &mut SheetWriter<'_>) -> Result<()> {
    let cx = w.cx;
    let results = cx.results;
    // A check with its interval: name, estimate, std. error, lower, upper, p-value.
    type Check = (String, [f64; 5]);
    let checks = Table::new(&cx.level)
        .col("Check", 44.0, |c: &Check| text(&c.0))
        .col("Estimate", 22.0, |c| Cell::Ratio(c.1[0]))
        .col("Std. error", 14.0, |c| Cell::Ratio(c.1[1]))
        .interval_of("", 14.0, Cell::Ratio, |c| c.1[2], |c| c.1[3])
        .col("p-value", 12.0, |c| Cell::P(c.1[4]));
    w.widths_of(&checks)?;
    w.header(&["Setting", "Value"])?;
    w.freeze(1)?;
    for (k, v) in model_rows(results).iter().chain(&results.settings) {
        w.row(&[text(k), text(v)])?;
    }
    w.row += 1;
    w.title("Accuracy of the outcome model")?;
    match &results.model_accuracy {
        None => w.row(&[text("Not computed (cross-validation was off).")])?,
        Some(a) => {
            w.pair("Out-of-sample R²", Cell::Ratio(a.r2))?;
            w.pair("MAPE", Cell::Pct(a.mape))?;
            w.pair("Folds", Cell::Int(a.folds as f64))?;
            w.pair("Gap days", Cell::Int(f64::from(a.gap_days)))?;
            for (i, r2) in a.fold_r2.iter().enumerate() {
                w.pair(&format!("R² of fold {}", i + 1), Cell::Ratio(*r2))?;
            }
        }
    }
    w.row += 1;
    w.title("Diagnostics")?;
    let d = &results.diagnostics;
    let calibration = d.calibration.iter().flat_map(|c| {
        [
            (
                "Calibration: mean forest prediction (1 = right on average)",
                &c.mean_forest_prediction,
            ),
            (
                "Calibration: differential prediction (> 0 = heterogeneity found)",
                &c.differential_forest_prediction,
            ),
        ]
        .map(|(name, k)| {
            let values = [k.estimate, k.std_err, k.ci_lower, k.ci_upper, k.p_value];
            (name.to_string(), values)
        })
    });
    w.table(&checks, calibration)?;
    if let Some(r2) = d.treatment_r2 {
        w.pair("Treatment explained by the controls (R²)", Cell::Ratio(r2))?;
    }
    if let Some(s) = d.low_overlap_share {
        w.pair("Rows with weak overlap", Cell::Pct(s))?;
    }
    let placebo = d.placebo.iter().map(|p| {
        let values = [p.estimate, p.std_err, p.ci_lower, p.ci_upper, p.p_value];
        (format!("Placebo ({}), should be ≈ 0", p.name), values)
    });
    w.rows(&checks, placebo)?;
    let spillover = d.spillover.iter().map(|s| {
        let values = [s.roas, s.std_err, s.ci_lower, s.ci_upper, s.p_value];
        (s.label(), values)
    });
    w.rows(&checks, spillover)?;
    let within = d.cannibalization.iter().map(|c| {
        let values = [
            c.marginal_shift,
            c.std_err,
            c.ci_lower,
            c.ci_upper,
            c.p_value,
        ];
        (c.label(), values)
    });
    w.rows(&checks, within)?;
    w.row += 1;
    w.title("Warnings")?;
    if d.warnings.is_empty() {
        w.row(&[text("None: every check passed.")])?;
    }
    for warning in &d.warnings {
        w.row(&[text(warning)])?;
    }
    Ok(())
}

/// Each row's effect per unit, with the row's date, channel, entity, treatment and
/// outcome, up to `max_row_effects` rows.
fn row_effects(w: &mut SheetWriter<'_>) -> Result<()> {
    let cx = w.cx;
    let (results, max) = (cx.results, cx.options.max_row_effects);
    let index = results.row_index.as_ref();
    let text_at = move |v: Option<&'_ Vec<String>>, i: usize| {
        v.and_then(|v| v.get(i)).map_or(Cell::Empty, |s| text(s))
    };
    let money_at = move |v: Option<&'_ Vec<f64>>, i: usize| {
        v.and_then(|v| v.get(i))
            .map_or(Cell::Empty, |x| Cell::Money(*x))
    };
    let table = Table::new(&cx.level)
        .col("Row", 8.0, |r: &(usize, &RowEffect)| Cell::Int(r.0 as f64))
        .col("Date", 12.0, move |r| {
            index
                .and_then(|x| x.date.get(r.0))
                .map_or(Cell::Empty, |d| Cell::Text(date_string(*d)))
        })
        .col("Channel", 20.0, move |r| {
            text_at(index.map(|x| &x.channel), r.0)
        })
        .col("Entity", 28.0, move |r| {
            text_at(index.map(|x| &x.entity), r.0)
        })
        .col(
            format!("Treatment ({})", results.treatment),
            16.0,
            move |r| money_at(index.map(|x| &x.treatment), r.0),
        )
        .col(format!("Outcome ({})", results.outcome), 16.0, move |r| {
            money_at(index.map(|x| &x.outcome), r.0)
        })
        .col("Effect per unit (τ)", 16.0, |r| Cell::Ratio(r.1.tau))
        .col("Std. error", 12.0, |r| Cell::Ratio(r.1.std_err))
        .interval_of("", 12.0, Cell::Ratio, |r| r.1.ci_lower, |r| r.1.ci_upper);
    w.table(
        &table,
        results.treatment_effects.iter().enumerate().take(max),
    )?;
    w.freeze(1)?;
    let n = results.treatment_effects.len();
    if n > max {
        w.row(&[Cell::Text(format!(
            "{} more rows not written (max_row_effects = {max}).",
            n - max
        ))])?;
    }
    Ok(())
}

/// A budget plan: each channel's current and recommended spend with the expected
/// incremental revenue, the total, and the planner's notes.
fn budget_plan(w: &mut SheetWriter<'_>, plan: &BudgetPlan) -> Result<()> {
    let cx = w.cx;
    let cur = cx.cur;
    let table = Table::new(&cx.level)
        .col("Channel", 18.0, |c: &&PlannedChannel| text(&c.channel))
        .col(format!("Current spend ({cur})"), 16.0, |c| {
            Cell::Money(c.current_spend)
        })
        .col(format!("Recommended ({cur})"), 16.0, |c| {
            Cell::Money(c.recommended_spend)
        })
        .col("Change", 10.0, |c| {
            if c.current_spend > 0.0 {
                Cell::SignedPct(c.recommended_spend / c.current_spend - 1.0)
            } else {
                Cell::Empty
            }
        })
        .col(format!("Expected incremental ({cur})"), 18.0, |c| {
            Cell::Money(c.expected_incremental_revenue)
        })
        .interval_of("", 16.0, Cell::Money, |c| c.ci_lower, |c| c.ci_upper)
        .col(format!("Incremental at current ({cur})"), 18.0, |c| {
            Cell::Money(c.current_incremental_revenue)
        })
        .col("Marginal ROAS at recommended", 14.0, |c| {
            Cell::Ratio(c.marginal_roas_at_recommended)
        })
        .col("Held", 10.0, |c| text(if c.held { "yes" } else { "no" }))
        .col("Note", 60.0, |c| {
            text(c.reason.as_deref().unwrap_or_default())
        });
    w.table(&table, &plan.channels)?;
    w.row(&[
        text("Total"),
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
        thousands(plan.total_budget, 0),
        plan.objective.as_str()
    ))?;
    for note in &plan.notes {
        w.row(&[text(note)])?;
    }
    w.freeze(1)
}

/// The exploration summary: the input table's columns and the totals per channel.
fn exploration(w: &mut SheetWriter<'_>, x: &ExplorationSummary) -> Result<()> {
    w.widths(&[22.0, 12.0, 14.0, 14.0, 14.0, 14.0, 14.0, 14.0, 14.0, 14.0])?;
    w.title("Columns of the input table")?;
    write_batch(w, &x.describe)?;
    if let Some(c) = &x.channels {
        w.row += 1;
        w.title("Totals per channel")?;
        write_batch(w, c)?;
    }
    Ok(())
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
