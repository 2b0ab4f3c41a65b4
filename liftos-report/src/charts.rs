//! Charts of attribution results and of the unified table, to PNG or SVG.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use arrow::record_batch::RecordBatch;
use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::explore::{DailySeries, daily_by_channel, spend_by_channel};

/// A channel's (spend, effect) points.
type PointSeries = (String, Vec<(f64, f64)>);
use crate::format::{
    axis_decimals, money, month_string, percent, thousands, truncate, truncate_middle,
};
use crate::{ReportError, Result, extension, write_atomically, write_bytes};
use liftos_causal::{AttributionResults, CurvePoint, Estimate};

/// The bundled font (DejaVu Sans, Bitstream Vera license; see `fonts/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Options of every chart.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `width` | 1000 | image width in pixels | 300–8000 |
/// | `height` | 600 | image height in pixels | 200–8000 |
/// | `currency` | `USD` | ISO 4217 code of money amounts (`$`, `€`, `£`, `¥`, `₹` are shown as symbols) | any text |
/// | `title` | `None` | replaces the chart's own title | any text |
/// | `max_label_chars` | 28 | channel and campaign names longer than this end in `…` | 4–200 |
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// ISO 4217 code of the money amounts.
    pub currency: String,
    /// A title that replaces the chart's own.
    pub title: Option<String>,
    /// Longest name shown in full; longer names are truncated with an ellipsis.
    pub max_label_chars: usize,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            width: 1000,
            height: 600,
            currency: "USD".into(),
            title: None,
            max_label_chars: 28,
        }
    }
}

impl PlotOptions {
    /// Sets the image size in pixels.
    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    liftos_core::setters! {
        /// Sets the currency code of money amounts.
        with_currency(currency: &str) => currency.to_string();
        /// Replaces the chart's title.
        with_title(title: &str) => Some(title.to_string());
        /// Sets the longest name shown in full.
        with_max_label_chars(chars: usize) => self.max_label_chars = chars;
    }

    /// Checks every option; the chart functions call this first.
    pub fn validate(&self) -> Result<()> {
        let check = |name, v: u32, lo, hi, expected| {
            if v < lo || v > hi {
                Err(ReportError::InvalidOption {
                    name,
                    value: v.to_string(),
                    expected,
                })
            } else {
                Ok(())
            }
        };
        check("width", self.width, 300, 8000, "300 to 8000 pixels")?;
        check("height", self.height, 200, 8000, "200 to 8000 pixels")?;
        if !(4..=200).contains(&self.max_label_chars) {
            return Err(ReportError::InvalidOption {
                name: "max_label_chars",
                value: self.max_label_chars.to_string(),
                expected: "4 to 200",
            });
        }
        Ok(())
    }

    /// The unit of money axes (`USD`): tick labels carry the symbol.
    fn unit(&self) -> String {
        self.currency.clone()
    }
}

/// Colour-blind-friendly palette (Tableau 10).
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The colour (red, green, blue) of a channel: the same name gets the same colour in
/// every chart and every report. The built-in channels have fixed colours (`meta` blue,
/// `google_ads` orange, `klaviyo` green, `tiktok` purple); other names are hashed.
pub fn channel_color(name: &str) -> (u8, u8, u8) {
    let index = match name.to_ascii_lowercase().as_str() {
        "meta" | "facebook" => 0,
        "google_ads" | "google" => 1,
        "klaviyo" => 2,
        "tiktok" => 4,
        _ => {
            // FNV-1a: stable across runs and platforms.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in name.as_bytes() {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            (h % PALETTE.len() as u64) as usize
        }
    };
    PALETTE[index]
}

fn color(name: &str) -> RGBColor {
    let (r, g, b) = channel_color(name);
    RGBColor(r, g, b)
}

const NEUTRAL: RGBColor = RGBColor(70, 110, 160);
const NEGATIVE: RGBColor = RGBColor(200, 70, 60);
const GRID: RGBColor = RGBColor(225, 225, 225);
const TEXT: RGBColor = RGBColor(40, 40, 40);

fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok()
            && plotters::style::register_font(FAMILY, FontStyle::Bold, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(ReportError::Plot {
            chart: "chart",
            message: "the bundled font could not be loaded".into(),
        })
    }
}

/// One row of the treatment-effects chart.
#[derive(Debug, Clone)]
pub(crate) struct EffectRow {
    name: String,
    iroas: f64,
    lo: f64,
    hi: f64,
    naive: f64,
}

/// What a chart shows, independent of the output format.
#[derive(Debug, Clone)]
pub(crate) enum Chart {
    Effects(Vec<EffectRow>, f64),
    Waterfall {
        baseline: f64,
        steps: Vec<(String, f64)>,
        total: f64,
        outcome: String,
    },
    SpendByChannel(Vec<(String, f64)>),
    OverTime {
        series: Vec<DailySeries>,
        outcome: String,
    },
    Temporal {
        day: Vec<Estimate>,
        season: Vec<Estimate>,
        special: Vec<Estimate>,
        level: f64,
    },
    Distribution(Vec<(String, Quantiles)>),
    Response {
        curves: Vec<(String, Vec<CurvePoint>)>,
        outcome: String,
        /// A budget plan's recommended points: (channel, scale, incremental outcome).
        planned: Vec<(String, f64, f64)>,
    },
    /// Results without response curves: each row's effect against its spend.
    RowResponse {
        series: Vec<(String, Vec<(f64, f64)>)>,
        outcome: String,
    },
}

/// Five-number summary plus mean of per-row effects.
#[derive(Debug, Clone)]
pub(crate) struct Quantiles {
    p05: f64,
    p25: f64,
    p50: f64,
    p75: f64,
    p95: f64,
    mean: f64,
    n: usize,
}

/// Linear-interpolation quantile (pandas' default) of sorted values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Chart {
    fn name(&self) -> &'static str {
        match self {
            Chart::Effects(..) => "treatment effects chart",
            Chart::Waterfall { .. } => "attribution waterfall",
            Chart::SpendByChannel(_) => "spend by channel chart",
            Chart::OverTime { .. } => "spend over time chart",
            Chart::Temporal { .. } => "temporal effects chart",
            Chart::Distribution(_) => "effect distribution chart",
            Chart::Response { planned, .. } if !planned.is_empty() => "budget plan chart",
            Chart::Response { .. } | Chart::RowResponse { .. } => "response curve chart",
        }
    }

    fn default_title(&self) -> String {
        match self {
            Chart::Effects(..) => "Incremental vs naive ROAS by channel".into(),
            Chart::Waterfall { outcome, .. } => {
                format!("Where the {outcome} came from: baseline and each channel's lift")
            }
            Chart::SpendByChannel(_) => "Spend by channel".into(),
            Chart::OverTime { outcome, .. } => format!("Daily spend and {outcome} by channel"),
            Chart::Temporal { .. } => "Baseline by weekday, month and holidays".into(),
            Chart::Distribution(_) => "Distribution of per-row effects by channel".into(),
            Chart::Response {
                outcome, planned, ..
            } if !planned.is_empty() => {
                format!("Budget plan: today's and the recommended spend on each curve of {outcome}")
            }
            Chart::Response { outcome, .. } => {
                format!("Response curves: incremental {outcome} against spend")
            }
            Chart::RowResponse { .. } => "Effect of spend against spend level".into(),
        }
    }

    pub(crate) fn effects(results: &AttributionResults) -> Result<Chart> {
        if results.channels.is_empty() {
            return Err(empty(
                "treatment effects chart",
                "the results have no channels",
            ));
        }
        Ok(Chart::Effects(
            results
                .channels
                .iter()
                .map(|c| EffectRow {
                    name: c.channel.clone(),
                    iroas: c.incremental_roas,
                    lo: c.incremental_roas_ci_lower,
                    hi: c.incremental_roas_ci_upper,
                    naive: c.naive_roas,
                })
                .collect(),
            results.confidence_level,
        ))
    }

    pub(crate) fn waterfall(results: &AttributionResults) -> Result<Chart> {
        const CHART: &str = "attribution waterfall";
        if results.channels.is_empty() {
            return Err(empty(CHART, "the results have no channels"));
        }
        let totals: Vec<f64> = results
            .channels
            .iter()
            .map(|c| c.outcome_total)
            .filter(|v| v.is_finite())
            .collect();
        let total = if totals.len() == results.channels.len() {
            totals.iter().sum()
        } else if let Some(index) = &results.row_index
            && !index.outcome.is_empty()
        {
            index.outcome.iter().sum()
        } else {
            return Err(ReportError::MissingData {
                chart: CHART,
                what: "the total outcome (channel outcome totals or the row index)",
            });
        };
        let steps: Vec<(String, f64)> = results
            .channels
            .iter()
            .map(|c| (c.channel.clone(), c.revenue_lift))
            .filter(|(_, v)| v.is_finite())
            .collect();
        let lifts: f64 = steps.iter().map(|(_, v)| v).sum();
        Ok(Chart::Waterfall {
            baseline: total - lifts,
            steps,
            total,
            outcome: results.outcome.clone(),
        })
    }

    pub(crate) fn spend_by_channel(table: &RecordBatch) -> Result<Chart> {
        let mut rows = spend_by_channel(table)?;
        if rows.is_empty() {
            return Err(empty("spend by channel chart", "the table has no rows"));
        }
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(Chart::SpendByChannel(rows))
    }

    pub(crate) fn over_time(table: &RecordBatch, outcome: &str) -> Result<Chart> {
        let series = daily_by_channel(table, outcome)?;
        if series.is_empty() {
            return Err(empty("spend over time chart", "the table has no rows"));
        }
        Ok(Chart::OverTime {
            series,
            outcome: outcome.to_string(),
        })
    }

    pub(crate) fn temporal(results: &AttributionResults) -> Result<Chart> {
        const CHART: &str = "temporal effects chart";
        let t = results.temporal.as_ref().ok_or(ReportError::MissingData {
            chart: CHART,
            what: "temporal effects (fit with a time column)",
        })?;
        let special: Vec<Estimate> = [&t.holiday_lift, &t.event_lift]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if t.day_effects.is_empty() && t.seasonal_effects.is_empty() && special.is_empty() {
            return Err(empty(CHART, "the temporal effects are empty"));
        }
        Ok(Chart::Temporal {
            day: t.day_effects.clone(),
            season: t.seasonal_effects.clone(),
            special,
            level: results.confidence_level,
        })
    }

    /// Per-row effects grouped by channel (in order of first appearance), with the
    /// row's treatment.
    fn per_channel_rows(
        results: &AttributionResults,
        chart: &'static str,
    ) -> Result<Vec<PointSeries>> {
        let index = results.row_index.as_ref().ok_or(ReportError::MissingData {
            chart,
            what: "the row index (date, channel and spend of each row)",
        })?;
        let n = results.treatment_effects.len();
        if n == 0 {
            return Err(ReportError::MissingData {
                chart,
                what: "per-row treatment effects",
            });
        }
        if index.channel.len() != n || index.treatment.len() != n {
            return Err(ReportError::Column {
                column: "row_index".into(),
                problem: format!(
                    "has {} channels and {} treatments for {n} per-row effects",
                    index.channel.len(),
                    index.treatment.len()
                ),
            });
        }
        let mut order: Vec<String> = Vec::new();
        let mut groups: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for ((ch, w), e) in index
            .channel
            .iter()
            .zip(&index.treatment)
            .zip(&results.treatment_effects)
        {
            if !e.tau.is_finite() || !w.is_finite() {
                continue;
            }
            let g = groups.entry(ch).or_insert_with(|| {
                order.push(ch.clone());
                Vec::new()
            });
            g.push((*w, e.tau));
        }
        Ok(order
            .into_iter()
            .filter_map(|ch| groups.remove(ch.as_str()).map(|g| (ch, g)))
            .collect())
    }

    pub(crate) fn distribution(results: &AttributionResults) -> Result<Chart> {
        const CHART: &str = "effect distribution chart";
        let groups = Self::per_channel_rows(results, CHART)?;
        let out: Vec<(String, Quantiles)> = groups
            .into_iter()
            .map(|(ch, rows)| {
                let mut tau: Vec<f64> = rows.iter().map(|r| r.1).collect();
                tau.sort_by(f64::total_cmp);
                let n = tau.len();
                let q = Quantiles {
                    p05: quantile(&tau, 0.05),
                    p25: quantile(&tau, 0.25),
                    p50: quantile(&tau, 0.5),
                    p75: quantile(&tau, 0.75),
                    p95: quantile(&tau, 0.95),
                    mean: tau.iter().sum::<f64>() / n as f64,
                    n,
                };
                (ch, q)
            })
            .collect();
        if out.is_empty() {
            return Err(empty(CHART, "no row has a finite effect"));
        }
        Ok(Chart::Distribution(out))
    }

    pub(crate) fn response(results: &AttributionResults) -> Result<Chart> {
        const CHART: &str = "response curve chart";
        let curves: Vec<(String, Vec<CurvePoint>)> = results
            .channels
            .iter()
            .filter_map(|c| {
                let r = c.response.as_ref()?;
                let pts: Vec<CurvePoint> = r
                    .response_curve
                    .iter()
                    .filter(|p| {
                        p.scale.is_finite()
                            && p.incremental_revenue.is_finite()
                            && p.ci_lower.is_finite()
                            && p.ci_upper.is_finite()
                    })
                    .copied()
                    .collect();
                (pts.len() >= 2).then(|| (c.channel.clone(), pts))
            })
            .collect();
        if curves.is_empty() {
            // Estimators without response curves: each row's effect against its spend.
            let series = Self::per_channel_rows(results, CHART)?;
            if series.is_empty() {
                return Err(empty(CHART, "no row has a finite effect"));
            }
            return Ok(Chart::RowResponse {
                series,
                outcome: results.outcome.clone(),
            });
        }
        Ok(Chart::Response {
            curves,
            outcome: results.outcome.clone(),
            planned: Vec::new(),
        })
    }

    /// The response curves with a budget plan's recommended spend marked on each.
    pub(crate) fn plan(
        results: &AttributionResults,
        plan: &liftos_causal::plan::BudgetPlan,
    ) -> Result<Chart> {
        let mut chart = Self::response(results)?;
        let Chart::Response { planned, .. } = &mut chart else {
            return Err(empty(
                "budget plan chart",
                "no channel has a response curve",
            ));
        };
        for p in &plan.channels {
            let Some(c) = results.channel(&p.channel) else {
                continue;
            };
            // The plan is in the period's units, the curve in the window's.
            let factor = if c.spend > 0.0 {
                p.current_spend / c.spend
            } else {
                0.0
            };
            if factor > 0.0 && p.current_spend > 0.0 && p.expected_incremental_revenue.is_finite() {
                planned.push((
                    p.channel.clone(),
                    p.recommended_spend / p.current_spend,
                    p.expected_incremental_revenue / factor,
                ));
            }
        }
        Ok(chart)
    }

    /// Draws the chart on `root`.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        opts: &PlotOptions,
    ) -> Result<(), String> {
        root.fill(&WHITE).ctx()?;
        let title = opts.title.clone().unwrap_or_else(|| self.default_title());
        let title = truncate(&title, (opts.width as usize / 11).max(20));
        let area = root
            .titled(&title, (FAMILY, 22).into_font().color(&TEXT))
            .ctx()?;
        match self {
            Chart::Effects(rows, level) => draw_effects(root, &area, rows, *level, opts),
            Chart::Waterfall {
                baseline,
                steps,
                total,
                outcome,
            } => draw_waterfall(root, &area, *baseline, steps, *total, outcome, opts),
            Chart::SpendByChannel(rows) => draw_spend(root, &area, rows, opts),
            Chart::OverTime { series, outcome } => {
                draw_over_time(root, &area, series, outcome, opts)
            }
            Chart::Temporal {
                day,
                season,
                special,
                level,
            } => draw_temporal(root, &area, day, season, special, *level, opts),
            Chart::Distribution(rows) => draw_distribution(root, &area, rows, opts),
            Chart::Response {
                curves,
                outcome,
                planned,
            } => draw_response(root, &area, curves, outcome, planned, opts),
            Chart::RowResponse { series, outcome } => {
                draw_row_response(root, &area, series, outcome, opts)
            }
        }?;
        root.present().ctx()
    }

    /// Renders the chart as an SVG document.
    pub(crate) fn svg(&self, opts: &PlotOptions) -> Result<String> {
        opts.validate()?;
        ensure_font()?;
        let mut out = String::new();
        {
            let root =
                SVGBackend::with_string(&mut out, (opts.width, opts.height)).into_drawing_area();
            self.draw(&root, opts)
                .map_err(|message| ReportError::Plot {
                    chart: self.name(),
                    message,
                })?;
        }
        Ok(out)
    }

    /// Writes the chart to `path` (`.png` or `.svg`), all-or-nothing.
    pub(crate) fn render(&self, path: &Path, opts: &PlotOptions) -> Result<()> {
        opts.validate()?;
        ensure_font()?;
        match extension(path).as_str() {
            "png" => write_atomically(path, |tmp| {
                let root = BitMapBackend::new(tmp, (opts.width, opts.height)).into_drawing_area();
                self.draw(&root, opts).map_err(|message| ReportError::Plot {
                    chart: self.name(),
                    message,
                })
            }),
            "svg" => write_bytes(path, self.svg(opts)?.as_bytes()),
            _ => Err(ReportError::UnsupportedFormat {
                path: path.to_path_buf(),
                expected: "`.png`, `.svg`",
            }),
        }
    }
}

fn empty(chart: &'static str, what: &str) -> ReportError {
    ReportError::EmptyInput {
        chart,
        what: what.to_string(),
    }
}

trait Ctx<T> {
    fn ctx(self) -> Result<T, String>;
}

impl<T, E: Display> Ctx<T> for std::result::Result<T, E> {
    fn ctx(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// The mesh style every chart shares, on plotters' [`MeshStyle`].
trait HouseStyle {
    /// Labels in `size` pt and axis titles one point larger, in the text colour; no light
    /// grid lines, bold ones in the grid colour.
    fn house_style(&mut self, size: f64) -> &mut Self;
}

impl<X: Ranged, Y: Ranged, DB: DrawingBackend> HouseStyle for MeshStyle<'_, '_, X, Y, DB> {
    fn house_style(&mut self, size: f64) -> &mut Self {
        self.label_style((FAMILY, size).into_font().color(&TEXT))
            .axis_desc_style((FAMILY, size + 1.0).into_font().color(&TEXT))
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
    }
}

type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A range that holds every finite value and zero, padded by `pad` × span on the
/// right (room for value labels) and a little below a negative minimum.
fn padded_range(values: impl IntoIterator<Item = f64>, pad: f64) -> Range<f64> {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi - lo < 1e-12 {
        hi = lo + 1.0;
    }
    let span = hi - lo;
    let lo = if lo < 0.0 {
        lo - pad.min(0.08) * span
    } else {
        lo
    };
    (lo)..(hi + pad * span)
}

/// Pixel size of the font used for category labels, shrunk when rows are tight.
fn label_font(area_height: u32, rows: usize) -> u32 {
    let per_row = area_height / (rows.max(1) as u32 + 1);
    per_row.saturating_sub(4).clamp(9, 14)
}

/// Left label area that fits the longest (truncated) label.
fn label_width(labels: &[String], font: u32, width: u32) -> u32 {
    let chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4) as u32;
    (chars * font * 62 / 100 + 16).clamp(40, width * 45 / 100)
}

/// A horizontal chart with one category per row (first on top) and a numeric x axis;
/// draws the mesh and the category labels left of the plotting area.
fn horizontal<'a, DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &'a DrawingArea<DB, Shift>,
    labels: &[String],
    x_range: Range<f64>,
    x_desc: &str,
    x_fmt: &dyn Fn(&f64) -> String,
    opts: &PlotOptions,
) -> Result<Chart2d<'a, DB>, String> {
    let n = labels.len().max(1);
    let (_, h) = area.dim_in_pixel();
    let font = label_font(h.saturating_sub(80), n);
    let shown: Vec<String> = labels
        .iter()
        .map(|l| truncate_middle(l, opts.max_label_chars))
        .collect();
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .margin_right(28)
        .x_label_area_size(48)
        .y_label_area_size(label_width(&shown, font, opts.width))
        .build_cartesian_2d(x_range, -0.5..(n as f64 - 0.5))
        .ctx()?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(tick_count(opts.width))
        .x_desc(x_desc)
        .x_label_formatter(x_fmt)
        .house_style(13.0)
        .draw()
        .ctx()?;
    let x0 = chart.x_range().start;
    let style = text_style(font, HPos::Right, VPos::Center);
    for (i, label) in shown.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(x0, row_y(n, i)));
        root.draw(&Text::new(label.clone(), (px - 8, py), style.clone()))
            .ctx()?;
    }
    Ok(chart)
}

/// How an axis writes its tick values.
type TickLabel<'f> = dyn Fn(&f64) -> String + 'f;

/// Label text of `size` pixels in the house font and colour, anchored at (`h`, `v`).
fn text_style(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&TEXT).pos(Pos::new(h, v))
}

/// A chart of `x_range` × `y_range` on `area`, its ticks labelled by `x_fmt` and `y_fmt`
/// and its axes titled `x_desc` and `y_desc` (the response and row-response plots).
fn xy_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    (x_range, y_range): (Range<f64>, Range<f64>),
    (x_fmt, y_fmt): (&TickLabel<'_>, &TickLabel<'_>),
    (x_desc, y_desc): (&str, &str),
    opts: &PlotOptions,
) -> Result<Chart2d<'a, DB>, String> {
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .margin_right(24)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x_range, y_range)
        .ctx()?;
    chart
        .configure_mesh()
        .x_labels(tick_count(opts.width))
        .y_labels(6)
        .x_label_formatter(x_fmt)
        .y_label_formatter(y_fmt)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .house_style(12.0)
        .draw()
        .ctx()?;
    Ok(chart)
}

/// Ticks on a horizontal axis: one per 130 pixels, so money labels never touch.
fn tick_count(width: u32) -> usize {
    (width / 130).clamp(2, 10) as usize
}

/// The y coordinate of row `i` of `n` (row 0 on top).
fn row_y(n: usize, i: usize) -> f64 {
    (n - 1 - i) as f64
}

/// A vertical chart with one category per column and a numeric y axis.
#[allow(clippy::too_many_arguments)]
fn vertical<'a, DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    labels: &[String],
    y_range: Range<f64>,
    y_desc: &str,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Result<Chart2d<'a, DB>, String> {
    let n = labels.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 15).into_font().color(&TEXT))
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), y_range)
        .ctx()?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_desc(y_desc)
        .y_label_formatter(y_fmt)
        .house_style(12.0)
        .draw()
        .ctx()?;
    let (w, _) = area.dim_in_pixel();
    let per = (w.saturating_sub(90) / n as u32).max(1);
    let font = if per >= 30 { 12 } else { 11 };
    let max_chars = ((per * 100) / (font * 62)).max(3) as usize;
    let y0 = chart.y_range().start;
    let style = text_style(font, HPos::Center, VPos::Top);
    for (i, label) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64, y0));
        root.draw(&Text::new(
            truncate(label, max_chars),
            (px, py + 6),
            style.clone(),
        ))
        .ctx()?;
    }
    Ok(chart)
}

/// Text next to a data point (in chart coordinates), drawn on the root so it is never
/// clipped by the plotting area.
fn annotate<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart2d<'_, DB>,
    at: (f64, f64),
    text: String,
    right: bool,
    size: u32,
) -> Result<(), String> {
    let (px, py) = chart.backend_coord(&at);
    let (h, dx) = if right {
        (HPos::Left, 6)
    } else {
        (HPos::Right, -6)
    };
    let style = text_style(size, h, VPos::Center);
    root.draw(&Text::new(text, (px + dx, py), style)).ctx()
}

/// How a legend item is drawn.
#[derive(Clone, Copy)]
enum Swatch {
    Box,
    Light,
    Line,
}

/// Draws a legend in a strip at the top of `area` (wrapping onto more lines when the
/// items do not fit) and returns the area below it, so a legend never covers data.
fn legend_row<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    items: &[(String, RGBColor, Swatch)],
) -> Result<DrawingArea<DB, Shift>, String> {
    let (w, _) = area.dim_in_pixel();
    let (x0, y0) = area.get_base_pixel();
    let widths: Vec<i32> = items
        .iter()
        .map(|(t, _, _)| 14 + 6 + (t.chars().count() as i32 * 13 * 62 / 100) + 26)
        .collect();
    let (left, right) = (x0 + 70, x0 + w as i32 - 20);
    let mut positions = Vec::new();
    let (mut x, mut line) = (left, 0);
    for wd in &widths {
        if x + wd > right && x > left {
            x = left;
            line += 1;
        }
        positions.push((x, line));
        x += wd;
    }
    let height = 22 * (line + 1) as u32 + 6;
    let style = text_style(13, HPos::Left, VPos::Center);
    for ((text, c, kind), (x, line)) in items.iter().zip(positions) {
        let y = y0 + 14 + 22 * line;
        match kind {
            Swatch::Box => root.draw(&Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled())),
            Swatch::Light => root.draw(&Rectangle::new(
                [(x, y - 6), (x + 14, y + 6)],
                c.mix(0.3).filled(),
            )),
            Swatch::Line => root.draw(&PathElement::new(
                vec![(x, y), (x + 14, y)],
                c.stroke_width(3),
            )),
        }
        .ctx()?;
        root.draw(&Text::new(text.clone(), (x + 20, y), style.clone()))
            .ctx()?;
    }
    Ok(area.split_vertically(height).1)
}

fn channel_legend(names: &[&String], opts: &PlotOptions) -> Vec<(String, RGBColor, Swatch)> {
    names
        .iter()
        .map(|n| {
            (
                truncate_middle(n, opts.max_label_chars),
                color(n),
                Swatch::Line,
            )
        })
        .collect()
}

fn draw_effects<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    rows: &[EffectRow],
    level: f64,
    opts: &PlotOptions,
) -> Result<(), String> {
    let labels: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let values = rows
        .iter()
        .flat_map(|r| [r.iroas, r.lo, r.hi, r.naive, 1.0]);
    let range = padded_range(values, 0.38);
    let span = range.end - range.start;
    let dec = axis_decimals(span);
    let fmt = move |v: &f64| thousands(*v, dec);
    let x_desc = format!(
        "Return on ad spend: {} of revenue per 1 {} of spend",
        opts.currency, opts.currency
    );
    let grey = RGBColor(110, 110, 110);
    let area = legend_row(
        root,
        area,
        &[
            (
                format!(
                    "incremental ROAS with {}% interval (what spend caused)",
                    (100.0 * level).round()
                ),
                grey,
                Swatch::Box,
            ),
            ("naive (platform-reported) ROAS".into(), grey, Swatch::Light),
            (
                "break-even (ROAS 1)".into(),
                RGBColor(150, 150, 150),
                Swatch::Line,
            ),
        ],
    )?;
    let mut chart = horizontal(root, &area, &labels, range.clone(), &x_desc, &fmt, opts)?;
    let n = rows.len();
    // Break-even line at ROAS 1 and the zero line.
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, -0.5), (1.0, n as f64 - 0.5)],
            RGBColor(150, 150, 150).stroke_width(1),
        )))
        .ctx()?;
    if range.start < 0.0 {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, -0.5), (0.0, n as f64 - 0.5)],
                BLACK.stroke_width(1),
            )))
            .ctx()?;
    }
    let font = 12;
    for (i, r) in rows.iter().enumerate() {
        let y = row_y(n, i);
        let c = color(&r.name);
        if r.iroas.is_finite() {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y + 0.04), (r.iroas, y + 0.38)],
                    c.filled(),
                )))
                .ctx()?;
        }
        let mut right_end = r.iroas;
        if r.lo.is_finite() && r.hi.is_finite() {
            let yc = y + 0.21;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(r.lo, yc), (r.hi, yc)],
                    BLACK.stroke_width(2),
                )))
                .ctx()?;
            for x in [r.lo, r.hi] {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, yc - 0.12), (x, yc + 0.12)],
                        BLACK.stroke_width(2),
                    )))
                    .ctx()?;
            }
            right_end = right_end.max(r.hi);
        }
        let label = if r.iroas.is_finite() {
            format!(
                "incremental {} [{} – {}]",
                thousands(r.iroas, 2),
                thousands(r.lo, 2),
                thousands(r.hi, 2)
            )
        } else {
            "incremental n/a (no spend)".into()
        };
        let anchor = if right_end.is_finite() {
            right_end.max(0.0)
        } else {
            0.0
        };
        annotate(root, &chart, (anchor, y + 0.21), label, true, font)?;
        if r.naive.is_finite() {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y - 0.38), (r.naive, y - 0.04)],
                    c.mix(0.3).filled(),
                )))
                .ctx()?;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y - 0.38), (r.naive, y - 0.04)],
                    c.stroke_width(1),
                )))
                .ctx()?;
            annotate(
                root,
                &chart,
                (r.naive.max(0.0), y - 0.21),
                format!("naive {}", thousands(r.naive, 2)),
                true,
                font,
            )?;
        }
    }
    Ok(())
}

fn draw_waterfall<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    baseline: f64,
    steps: &[(String, f64)],
    total: f64,
    outcome: &str,
    opts: &PlotOptions,
) -> Result<(), String> {
    let mut labels = vec!["Baseline (without ads)".to_string()];
    labels.extend(steps.iter().map(|(n, _)| n.clone()));
    labels.push(format!("Total {outcome}"));
    let mut cum = baseline;
    let mut ends = vec![0.0, baseline];
    for (_, v) in steps {
        cum += v;
        ends.push(cum);
    }
    ends.push(total);
    let range = padded_range(ends, 0.25);
    let dec = axis_decimals(range.end - range.start);
    let cur = opts.currency.clone();
    let fmt = move |v: &f64| money(*v, &cur, dec);
    let x_desc = format!("{} ({})", capitalize(outcome), opts.unit());
    let chart = horizontal(root, area, &labels, range, &x_desc, &fmt, opts)?;
    let n = labels.len();
    let bar = |chart: &Chart2d<'_, DB>,
               i: usize,
               from: f64,
               to: f64,
               fill: RGBColor,
               text: String|
     -> Result<(), String> {
        let y = row_y(n, i);
        chart
            .plotting_area()
            .draw(&Rectangle::new(
                [(from, y - 0.32), (to, y + 0.32)],
                fill.filled(),
            ))
            .ctx()?;
        annotate(root, chart, (from.max(to), y), text, true, 12)
    };
    let total_share = |v: f64| {
        if total.abs() > 0.0 {
            format!(" ({})", percent(v / total, false))
        } else {
            String::new()
        }
    };
    bar(
        &chart,
        0,
        0.0,
        baseline,
        RGBColor(160, 160, 160),
        format!(
            "{}{}",
            money(baseline, &opts.currency, 0),
            total_share(baseline)
        ),
    )?;
    let mut cum = baseline;
    for (k, (name, v)) in steps.iter().enumerate() {
        let sign = if *v >= 0.0 { "+" } else { "" };
        bar(
            &chart,
            k + 1,
            cum,
            cum + v,
            color(name),
            format!("{sign}{}{}", money(*v, &opts.currency, 0), total_share(*v)),
        )?;
        let y = row_y(n, k + 1);
        if *v < 0.0 {
            // A negative lift keeps the channel's colour, outlined in red.
            chart
                .plotting_area()
                .draw(&Rectangle::new(
                    [(cum + v, y - 0.32), (cum, y + 0.32)],
                    NEGATIVE.stroke_width(3),
                ))
                .ctx()?;
        }
        // Connector to the next bar.
        chart
            .plotting_area()
            .draw(&PathElement::new(
                vec![(cum, y + 0.32), (cum, y + 0.68)],
                RGBColor(120, 120, 120).stroke_width(1),
            ))
            .ctx()?;
        cum += v;
    }
    bar(
        &chart,
        n - 1,
        0.0,
        total,
        RGBColor(60, 60, 60),
        money(total, &opts.currency, 0),
    )
}

fn draw_spend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    rows: &[(String, f64)],
    opts: &PlotOptions,
) -> Result<(), String> {
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let range = padded_range(rows.iter().map(|r| r.1), 0.22);
    let dec = axis_decimals(range.end - range.start);
    let cur = opts.currency.clone();
    let fmt = move |v: &f64| money(*v, &cur, dec);
    let x_desc = format!("Spend ({})", opts.unit());
    let chart = horizontal(root, area, &labels, range, &x_desc, &fmt, opts)?;
    let total: f64 = rows.iter().map(|r| r.1).sum();
    let n = rows.len();
    for (i, (name, v)) in rows.iter().enumerate() {
        let y = row_y(n, i);
        chart
            .plotting_area()
            .draw(&Rectangle::new(
                [(0.0, y - 0.34), (*v, y + 0.34)],
                color(name).filled(),
            ))
            .ctx()?;
        let share = if total > 0.0 {
            format!(" ({})", percent(v / total, false))
        } else {
            String::new()
        };
        annotate(
            root,
            &chart,
            (v.max(0.0), y),
            format!("{}{share}", money(*v, &opts.currency, 0)),
            true,
            12,
        )?;
    }
    Ok(())
}

fn draw_over_time<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    series: &[DailySeries],
    outcome: &str,
    opts: &PlotOptions,
) -> Result<(), String> {
    let (lo, hi) = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.0))
        .fold((i32::MAX, i32::MIN), |(a, b), d| (a.min(d), b.max(d)));
    let x_range = f64::from(lo)..f64::from(hi.max(lo + 1));
    let names: Vec<&String> = series.iter().map(|s| &s.0).collect();
    let area = legend_row(root, area, &channel_legend(&names, opts))?;
    let (_, h) = area.dim_in_pixel();
    let (top, bottom) = area.split_vertically(h / 2);
    for (panel, which) in [(&top, 0usize), (&bottom, 1)] {
        let y_range = padded_range(
            series
                .iter()
                .flat_map(|(_, s)| s.iter().map(move |p| if which == 0 { p.1 } else { p.2 })),
            0.08,
        );
        let dec = axis_decimals(y_range.end - y_range.start);
        let cur = opts.currency.clone();
        let y_fmt = move |v: &f64| money(*v, &cur, dec);
        let x_fmt = |v: &f64| month_string(v.round() as i32);
        let y_desc = if which == 0 {
            format!("Daily spend ({})", opts.unit())
        } else {
            format!("Daily {outcome} ({})", opts.unit())
        };
        let mut chart = ChartBuilder::on(panel)
            .margin(10)
            .margin_right(24)
            .x_label_area_size(if which == 0 { 24 } else { 40 })
            .y_label_area_size(92)
            .build_cartesian_2d(x_range.clone(), y_range)
            .ctx()?;
        chart
            .configure_mesh()
            .x_labels(tick_count(opts.width))
            .y_labels(5)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_desc(y_desc)
            .house_style(12.0)
            .draw()
            .ctx()?;
        for (name, s) in series {
            let c = color(name);
            let points = s
                .iter()
                .map(|p| (f64::from(p.0), if which == 0 { p.1 } else { p.2 }));
            chart
                .draw_series(LineSeries::new(points, c.stroke_width(1)))
                .ctx()?;
        }
    }
    Ok(())
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Short label of a temporal estimate (`monday` → `Mon`, `january` → `Jan`).
fn short_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mut known = liftos_causal::attribution::WEEKDAYS
        .iter()
        .chain(liftos_causal::attribution::MONTHS.iter());
    if known.any(|n| *n == lower) {
        capitalize(&lower[..3])
    } else {
        capitalize(&name.replace('_', " "))
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_temporal<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    day: &[Estimate],
    season: &[Estimate],
    special: &[Estimate],
    level: f64,
    _opts: &PlotOptions,
) -> Result<(), String> {
    let (w, _) = area.dim_in_pixel();
    let panels: Vec<(&str, &[Estimate], u32)> = [
        ("Weekday", day, 7u32),
        ("Month", season, 12),
        ("Holidays and events", special, 6),
    ]
    .into_iter()
    .filter(|(_, e, _)| !e.is_empty())
    .map(|(t, e, weight)| (t, e, weight.max(e.len() as u32)))
    .collect();
    let weights: u32 = panels.iter().map(|p| p.2).sum();
    let all = panels.iter().flat_map(|p| {
        p.1.iter()
            .flat_map(|e| [e.estimate, e.ci_lower, e.ci_upper])
    });
    let y_range = padded_range(all, 0.1);
    let y_fmt = |v: &f64| percent(*v, true);
    let y_desc = format!(
        "Lift of the baseline (bars: estimate, lines: {}% interval)",
        (100.0 * level).round()
    );
    let mut rest = area.clone();
    for (k, (title, estimates, weight)) in panels.iter().enumerate() {
        let panel = if k + 1 == panels.len() {
            rest.clone()
        } else {
            let (p, r) = rest.split_horizontally(w * weight / weights.max(1));
            rest = r;
            p
        };
        let labels: Vec<String> = estimates.iter().map(|e| short_name(&e.name)).collect();
        let desc = if k == 0 { y_desc.as_str() } else { "" };
        let chart = vertical(root, &panel, title, &labels, y_range.clone(), desc, &y_fmt)?;
        let plot = chart.plotting_area();
        plot.draw(&PathElement::new(
            vec![(-0.5, 0.0), (labels.len() as f64 - 0.5, 0.0)],
            BLACK.stroke_width(1),
        ))
        .ctx()?;
        for (i, e) in estimates.iter().enumerate() {
            let x = i as f64;
            if e.estimate.is_finite() {
                let fill = if e.estimate < 0.0 { NEGATIVE } else { NEUTRAL };
                plot.draw(&Rectangle::new(
                    [(x - 0.32, 0.0), (x + 0.32, e.estimate)],
                    fill.mix(0.85).filled(),
                ))
                .ctx()?;
            }
            if e.ci_lower.is_finite() && e.ci_upper.is_finite() {
                plot.draw(&PathElement::new(
                    vec![(x, e.ci_lower), (x, e.ci_upper)],
                    BLACK.stroke_width(2),
                ))
                .ctx()?;
                for y in [e.ci_lower, e.ci_upper] {
                    plot.draw(&PathElement::new(
                        vec![(x - 0.12, y), (x + 0.12, y)],
                        BLACK.stroke_width(2),
                    ))
                    .ctx()?;
                }
            }
        }
    }
    Ok(())
}

fn draw_distribution<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    rows: &[(String, Quantiles)],
    opts: &PlotOptions,
) -> Result<(), String> {
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let range = padded_range(rows.iter().flat_map(|(_, q)| [q.p05, q.p95]), 0.25);
    let dec = axis_decimals(range.end - range.start);
    let fmt = move |v: &f64| thousands(*v, dec);
    let x_desc = format!(
        "Effect of one more {} of spend ({} of revenue; box: 25–75%, whiskers: 5–95%, dot: mean)",
        opts.currency, opts.currency
    );
    let chart = horizontal(root, area, &labels, range, &x_desc, &fmt, opts)?;
    let n = rows.len();
    let plot = chart.plotting_area();
    for (i, (name, q)) in rows.iter().enumerate() {
        let y = row_y(n, i);
        let c = color(name);
        plot.draw(&PathElement::new(
            vec![(q.p05, y), (q.p95, y)],
            c.stroke_width(2),
        ))
        .ctx()?;
        for x in [q.p05, q.p95] {
            plot.draw(&PathElement::new(
                vec![(x, y - 0.15), (x, y + 0.15)],
                c.stroke_width(2),
            ))
            .ctx()?;
        }
        plot.draw(&Rectangle::new(
            [(q.p25, y - 0.3), (q.p75, y + 0.3)],
            c.mix(0.35).filled(),
        ))
        .ctx()?;
        plot.draw(&Rectangle::new(
            [(q.p25, y - 0.3), (q.p75, y + 0.3)],
            c.stroke_width(2),
        ))
        .ctx()?;
        plot.draw(&PathElement::new(
            vec![(q.p50, y - 0.3), (q.p50, y + 0.3)],
            BLACK.stroke_width(2),
        ))
        .ctx()?;
        plot.draw(&Circle::new((q.mean, y), 4, BLACK.filled()))
            .ctx()?;
        annotate(
            root,
            &chart,
            (q.p95, y),
            format!(
                "median {} · {} rows",
                thousands(q.p50, 2),
                thousands(q.n as f64, 0)
            ),
            true,
            12,
        )?;
    }
    Ok(())
}

fn draw_response<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    curves: &[(String, Vec<CurvePoint>)],
    outcome: &str,
    planned: &[(String, f64, f64)],
    opts: &PlotOptions,
) -> Result<(), String> {
    let x_range = padded_range(
        curves.iter().flat_map(|(_, s)| s.iter().map(|p| p.scale)),
        0.03,
    );
    let y_range = padded_range(
        curves
            .iter()
            .flat_map(|(_, s)| s.iter().flat_map(|p| [p.ci_lower, p.ci_upper, 0.0])),
        0.08,
    );
    let ydec = axis_decimals(y_range.end - y_range.start);
    let x_fmt = |v: &f64| format!("{v:.2}×");
    let y_fmt = move |v: &f64| thousands(*v, ydec);
    let names: Vec<&String> = curves.iter().map(|s| &s.0).collect();
    let area = legend_row(root, area, &channel_legend(&names, opts))?;
    let x_desc = if planned.is_empty() {
        "Each channel's spend as a multiple of today's (dot: today's spend)"
    } else {
        "Spend as a multiple of today's (dot: today; triangle: the plan)"
    };
    let y_desc = format!("Incremental {outcome} ({})", opts.unit());
    let mut chart = xy_chart(
        &area,
        (x_range, y_range),
        (&x_fmt, &y_fmt),
        (x_desc, &y_desc),
        opts,
    )?;
    for (name, points) in curves {
        let c = color(name);
        // The band: upper edge left to right, lower edge back.
        let band: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (p.scale, p.ci_upper))
            .chain(points.iter().rev().map(|p| (p.scale, p.ci_lower)))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(band, c.mix(0.15).filled())))
            .ctx()?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.scale, p.incremental_revenue)),
                c.stroke_width(3),
            ))
            .ctx()?;
        if let Some(today) = points.iter().find(|p| (p.scale - 1.0).abs() < 1e-9) {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (today.scale, today.incremental_revenue),
                    6,
                    c.filled(),
                )))
                .ctx()?;
        }
        for (_, k, v) in planned.iter().filter(|(n, _, _)| n == name) {
            chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    (*k, *v),
                    9,
                    BLACK.filled(),
                )))
                .ctx()?;
            chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    (*k, *v),
                    6,
                    c.filled(),
                )))
                .ctx()?;
        }
    }
    Ok(())
}

fn draw_row_response<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    series: &[(String, Vec<(f64, f64)>)],
    outcome: &str,
    opts: &PlotOptions,
) -> Result<(), String> {
    let x_range = padded_range(series.iter().flat_map(|(_, s)| s.iter().map(|p| p.0)), 0.03);
    let y_range = padded_range(series.iter().flat_map(|(_, s)| s.iter().map(|p| p.1)), 0.08);
    let xdec = axis_decimals(x_range.end - x_range.start);
    let ydec = axis_decimals(y_range.end - y_range.start);
    let cur = opts.currency.clone();
    let x_fmt = move |v: &f64| money(*v, &cur, xdec);
    let y_fmt = move |v: &f64| thousands(*v, ydec);
    let names: Vec<&String> = series.iter().map(|s| &s.0).collect();
    let area = legend_row(root, area, &channel_legend(&names, opts))?;
    let x_desc = format!("Spend of the row ({})", opts.unit());
    let y_desc = format!(
        "Effect per {} of spend ({outcome} per {})",
        opts.currency, opts.currency
    );
    let mut chart = xy_chart(
        &area,
        (x_range, y_range),
        (&x_fmt, &y_fmt),
        (&x_desc, &y_desc),
        opts,
    )?;
    for (name, points) in series {
        let c = color(name);
        // At most 1,500 points per channel (evenly strided) keep files small.
        let stride = points.len().div_ceil(1500).max(1);
        chart
            .draw_series(
                points
                    .iter()
                    .step_by(stride)
                    .map(|p| Circle::new(*p, 2, c.mix(0.25).filled())),
            )
            .ctx()?;
        // Binned means: ten equal-count bins of spend.
        let mut sorted = points.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let bins = 10.min(sorted.len());
        let curve: Vec<(f64, f64)> = (0..bins)
            .filter_map(|b| {
                let s = &sorted[b * sorted.len() / bins..(b + 1) * sorted.len() / bins];
                (!s.is_empty()).then(|| {
                    let k = s.len() as f64;
                    (
                        s.iter().map(|p| p.0).sum::<f64>() / k,
                        s.iter().map(|p| p.1).sum::<f64>() / k,
                    )
                })
            })
            .collect();
        chart
            .draw_series(LineSeries::new(curve, c.stroke_width(3)))
            .ctx()?;
    }
    Ok(())
}

/// The public `plot_*` functions, one a line: each makes its [`Chart`] from its own
/// arguments and renders it to `path` (`.png` or `.svg` by the extension) with `options`.
macro_rules! plot_functions {
    ($($(#[$attr:meta])* $name:ident($($arg:ident: $ty:ty),+) => $chart:expr;)*) => {$(
        $(#[$attr])*
        pub fn $name(
            $($arg: $ty,)+
            path: impl AsRef<Path>,
            options: &PlotOptions,
        ) -> Result<()> {
            $chart?.render(path.as_ref(), options)
        }
    )*};
}

plot_functions! {
    /// Incremental ROAS per channel with its interval, next to the naive
    /// (platform-reported) ROAS; to `.png` or `.svg` by the path's extension.
    ///
    /// Errors: [`ReportError::EmptyInput`] when the results have no channels.
    plot_treatment_effects(results: &AttributionResults) => Chart::effects(results);
    /// Waterfall from the baseline outcome (total outcome − Σ lifts) through each channel's
    /// `revenue_lift` to the total outcome.
    ///
    /// A negative lift keeps the channel's colour and is outlined in red.
    /// The total is Σ `outcome_total` of the channels, or the sum of the row index's
    /// outcomes when a channel lacks it; [`ReportError::MissingData`] when neither is known.
    plot_attribution_waterfall(results: &AttributionResults) => Chart::waterfall(results);
    /// Total spend per channel (largest first) with each channel's share, from a table
    /// with `channel` (Utf8) and `spend` (numeric) columns.
    plot_spend_by_channel(table: &RecordBatch) => Chart::spend_by_channel(table);
    /// Daily spend (top) and daily `revenue` (bottom) per channel, from a table with
    /// `date` (Date32), `channel`, `spend` and `revenue` columns.
    plot_spend_over_time(table: &RecordBatch) => Chart::over_time(table, "revenue");
    /// Baseline lift by weekday, by month, and on holidays / commercial events, with
    /// intervals.
    ///
    /// Errors: [`ReportError::MissingData`] when the results have no temporal effects.
    plot_temporal_effects(results: &AttributionResults) => Chart::temporal(results);
    /// Distribution of the per-row effects τ̂ per channel (box: quartiles, whiskers: 5% and
    /// 95%, dot: mean).
    ///
    /// Errors: [`ReportError::MissingData`] without a row index or per-row effects.
    plot_effect_distribution(results: &AttributionResults) => Chart::distribution(results);
    /// Each channel's estimated response curve: the incremental outcome its spend would cause
    /// at 0–2× today's spend, with its interval as a band and today's spend marked. A curve
    /// that bends shows saturation (each extra unit returns less). Results without response
    /// curves (a custom estimator's) get each row's effect against its spend instead.
    /// Errors: [`ReportError::MissingData`] without curves and without a row index.
    plot_response_curve(results: &AttributionResults) => Chart::response(results);
    /// The response curves with a budget plan's recommended spend marked (triangle) next to
    /// today's (dot).
    ///
    /// # Errors
    ///
    /// [`ReportError::EmptyInput`] when no channel has a response curve; file errors.
    plot_budget_plan(results: &AttributionResults, plan: &liftos_causal::plan::BudgetPlan)
        => Chart::plan(results, plan);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_stable_per_name() {
        assert_eq!(channel_color("meta"), PALETTE[0]);
        assert_eq!(channel_color("google_ads"), PALETTE[1]);
        assert_eq!(channel_color("some channel"), channel_color("some channel"));
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert!((quantile(&v, 0.25) - 1.75).abs() < 1e-12);
    }

    #[test]
    fn options_are_validated() {
        assert!(PlotOptions::default().validate().is_ok());
        assert!(PlotOptions::default().with_size(10, 10).validate().is_err());
        assert!(
            PlotOptions::default()
                .with_max_label_chars(2)
                .validate()
                .is_err()
        );
    }
}
