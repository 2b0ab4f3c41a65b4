//! Charts, workbook, HTML report and exploration summary.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Date32Type, Float64Type, UInt64Type};
use arrow::record_batch::RecordBatch;
use calamine::{Data, Reader, Xlsx, open_workbook};
use chrono::{Datelike, NaiveDate};
use liftos_causal::attribution::{MONTHS, WEEKDAYS};
use liftos_causal::inference::{Calibration, Coefficient};
use liftos_causal::{
    AttributionResults, CausalDataset, CausalForestParams, ChannelEffect, Diagnostics, Estimate,
    Estimator, ModelAccuracy, RowEffect, RowIndex, TemporalEffects,
};
use liftos_report::{self as report, ExportOptions, PlotOptions, ReportError, ReportOptions};
use liftos_sandbox::{World, WorldConfig};
use liftos_testkit::{codes, flags, floats, texts};
use liftos_transform::{Issue, QualityReport, Severity};
use statrs::distribution::{ContinuousCDF, Normal};

/// A fresh, empty directory under the system temp dir for one test.
fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("liftos-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes a test's output directory, unless `LIFTOS_KEEP_TEST_OUTPUT` is set (to look
/// at the charts and the report by eye).
fn cleanup(dir: &Path) {
    if std::env::var_os("LIFTOS_KEEP_TEST_OUTPUT").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        println!("kept {}", dir.display());
    }
}

fn estimate(name: &str, values: &[f64], reference: f64) -> Estimate {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let est = mean / reference - 1.0;
    let se = sd / n.sqrt() / reference;
    let z = Normal::standard();
    Estimate {
        name: name.to_string(),
        estimate: est,
        std_err: se,
        ci_lower: est - 1.96 * se,
        ci_upper: est + 1.96 * se,
        p_value: 2.0 * (1.0 - z.cdf((est / se).abs())),
        rows: values.len(),
    }
}

/// The sandbox table and results fitted on it (computed once; 1,092 rows, 200 trees).
///
/// The fit gives channel and per-row effects; the row index, per-channel outcome totals
/// and temporal effects (baseline = revenue − τ̂·spend, by weekday, month and holiday,
/// from daily totals) are filled here, as `analyze_attribution` does.
fn sandbox() -> &'static (RecordBatch, AttributionResults) {
    static FIT: OnceLock<(RecordBatch, AttributionResults)> = OnceLock::new();
    FIT.get_or_init(|| {
        let world = World::generate(&WorldConfig::standard(2).with_days(182).with_seed(3)).unwrap();
        let table = world.unified_table().unwrap();
        let truth = world.truth_table().unwrap();
        let n = table.num_rows();
        let dates: Vec<i32> = table
            .column_by_name("date")
            .unwrap()
            .as_primitive::<Date32Type>()
            .values()
            .to_vec();
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let day = |d: i32| epoch + chrono::Days::new(d as u64);
        let dow: Vec<f64> = dates
            .iter()
            .map(|d| day(*d).weekday().num_days_from_monday() as f64)
            .collect();
        let doy: Vec<f64> = dates.iter().map(|d| day(*d).ordinal() as f64).collect();
        let hol = flags(&truth, "is_holiday");
        let channel = texts(&table, "channel");
        let campaign = texts(&table, "campaign");
        let code: Vec<f64> = codes(&campaign).iter().map(|c| f64::from(*c)).collect();
        let (revenue, spend) = (floats(&table, "revenue"), floats(&table, "spend"));
        let data = CausalDataset::new(&revenue, &spend)
            .unwrap()
            .with_names("revenue", "spend")
            .with_covariates([
                ("day_of_week", &dow[..]),
                ("day_of_year", &doy[..]),
                ("is_holiday", &hol[..]),
                ("campaign", &code[..]),
            ])
            .unwrap()
            .with_groups(&channel)
            .unwrap();
        let mut results = CausalForestParams::default()
            .with_num_trees(200)
            .with_seed(11)
            .build()
            .unwrap()
            .fit(&data)
            .unwrap();
        for c in &mut results.channels {
            c.outcome_total = (0..n)
                .filter(|i| channel[*i] == c.channel)
                .map(|i| revenue[i])
                .sum();
            c.naive_roas = c.outcome_total / c.spend;
        }
        // Baseline daily totals by date.
        let mut daily: std::collections::BTreeMap<i32, (f64, bool)> = Default::default();
        for i in 0..n {
            let e = daily.entry(dates[i]).or_insert((0.0, hol[i] > 0.5));
            e.0 += revenue[i] - results.treatment_effects[i].tau * spend[i];
        }
        let all: Vec<f64> = daily.values().map(|v| v.0).collect();
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        let group = |keep: &dyn Fn(i32, bool) -> bool| -> Vec<f64> {
            daily
                .iter()
                .filter(|(d, (_, h))| keep(**d, *h))
                .map(|(_, (v, _))| *v)
                .collect()
        };
        let months = &MONTHS[..6];
        let mut temporal = TemporalEffects::default();
        temporal.day_effects = WEEKDAYS
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let v = group(&|d, _| day(d).weekday().num_days_from_monday() as usize == k);
                estimate(name, &v, mean)
            })
            .collect();
        temporal.seasonal_effects = months
            .iter()
            .enumerate()
            .map(|(k, name)| estimate(name, &group(&|d, _| day(d).month0() as usize == k), mean))
            .collect();
        let on = group(&|_, h| h);
        if on.len() >= 2 {
            temporal.holiday_lift = Some(estimate("holiday", &on, mean));
        }
        results.temporal = Some(temporal);
        results.row_index = Some(RowIndex {
            date: dates,
            channel,
            entity: campaign,
            treatment: spend,
            outcome: revenue,
        });
        results.settings = vec![
            ("num_trees".into(), "200".into()),
            ("seed".into(), "11".into()),
        ];
        (table, results)
    })
}

fn channel(name: &str, spend: f64, iroas: f64, naive: f64) -> ChannelEffect {
    let lift = iroas * spend;
    ChannelEffect {
        channel: name.to_string(),
        rows: 120,
        spend,
        revenue_lift: lift,
        ci_lower: lift - 0.3 * spend,
        ci_upper: lift + 0.3 * spend,
        std_err: 0.15 * spend,
        p_value: if iroas.abs() > 0.3 { 0.0004 } else { 0.4 },
        df: 5.0,
        incremental_roas: iroas,
        incremental_roas_ci_lower: iroas - 0.3,
        incremental_roas_ci_upper: iroas + 0.3,
        marginal_roas: iroas * 0.9,
        average_effect: iroas,
        average_effect_std_err: 0.15,
        outcome_total: naive * spend,
        naive_roas: naive,
        long_run_roas: Some(iroas / 0.7),
        adstock_decay: Some(0.3),
        response: None,
    }
}

/// Hand-built results with every part filled: channels as given, 120 rows each with
/// per-row effects rising with the row's spend, temporal effects, accuracy, diagnostics.
fn synthetic(channels: Vec<ChannelEffect>) -> AttributionResults {
    let mut index = RowIndex::default();
    let mut effects = Vec::new();
    for c in &channels {
        for i in 0..c.rows {
            let w = c.spend / c.rows as f64 * (0.5 + (i % 10) as f64 / 10.0);
            let tau = c.incremental_roas * (1.2 - 0.4 * (i % 10) as f64 / 10.0);
            index.date.push(19_723 + (i as i32));
            index.channel.push(c.channel.clone());
            index
                .entity
                .push(format!("{} campaign {}", c.channel, i % 3));
            index.treatment.push(w);
            index.outcome.push(tau * w + 500.0);
            effects.push(RowEffect {
                tau,
                std_err: 0.2,
                ci_lower: tau - 0.4,
                ci_upper: tau + 0.4,
            });
        }
    }
    let rows = effects.len();
    let est = |name: &str, v: f64| Estimate {
        name: name.into(),
        estimate: v,
        std_err: 0.02,
        ci_lower: v - 0.04,
        ci_upper: v + 0.04,
        p_value: 0.01,
        rows: 50,
    };
    let mut temporal = TemporalEffects::default();
    temporal.day_effects = WEEKDAYS
        .iter()
        .zip([-0.05, -0.03, 0.0, 0.01, 0.04, 0.08, -0.05])
        .map(|(n, v)| est(n, v))
        .collect();
    temporal.seasonal_effects = ["january", "february", "march", "november", "december"]
        .iter()
        .zip([-0.1, -0.08, 0.0, 0.15, 0.3])
        .map(|(n, v)| est(n, v))
        .collect();
    temporal.holiday_lift = Some(est("holiday", 0.23));
    temporal.event_lift = Some(est("black_friday", 0.6));
    temporal.effect_on_holidays = Some(est("on_holidays", 2.4));
    temporal.effect_off_holidays = Some(est("off_holidays", 2.0));
    let coef = |name: &str, v: f64| Coefficient {
        name: name.into(),
        estimate: v,
        std_err: 0.05,
        t_value: v / 0.05,
        p_value: 0.001,
        ci_lower: v - 0.1,
        ci_upper: v + 0.1,
    };
    let mut diagnostics = Diagnostics::default();
    diagnostics.calibration = Some(Calibration {
        mean_forest_prediction: coef("mean.forest.prediction", 1.01),
        differential_forest_prediction: coef("differential.forest.prediction", 0.8),
    });
    diagnostics.treatment_r2 = Some(0.42);
    diagnostics.low_overlap_share = Some(0.03);
    diagnostics.placebo = Some(est("placebo_lead_7", 0.01));
    diagnostics.warnings = vec!["3% of rows have weak overlap <check>".into()];
    let mut r = AttributionResults::new("causal_forest", "revenue", "spend", rows, 42)
        .with_channels(channels)
        .with_treatment_effects(effects);
    r.temporal = Some(temporal);
    r.row_index = Some(index);
    r.diagnostics = diagnostics;
    r.model_accuracy = Some(ModelAccuracy {
        r2: 0.91,
        mape: 0.12,
        folds: 5,
        gap_days: 7,
        fold_r2: vec![0.9, 0.92, 0.89, 0.93, 0.91],
    });
    r.settings = vec![
        ("num_trees".into(), "2000".into()),
        ("min_node_size".into(), "5".into()),
    ];
    r
}

/// Width, height and number of distinct pixel colours of a PNG file.
fn png_info(path: &Path) -> (u32, u32, usize) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let mut colours: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    colours.sort_unstable();
    colours.dedup();
    (w, h, colours.len())
}

/// A light well-formedness check: every opened tag is closed in order (void and
/// self-closed elements excepted), and no `<` is left unparsed.
fn assert_well_formed(doc: &str, void: &[&str]) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        if rest.starts_with("!--") {
            let end = rest.find("-->").expect("unclosed comment");
            rest = &rest[end + 3..];
            continue;
        }
        let end = rest.find('>').expect("unclosed tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        let self_closed = tag.ends_with('/');
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().unwrap_or_default();
            assert_eq!(
                open,
                name.trim(),
                "closing </{name}> does not match <{open}>"
            );
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ':')
            .collect();
        assert!(!name.is_empty(), "stray `<` before `{tag}`");
        if !self_closed && !void.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
}

fn assert_svg(path: &Path, must_contain: &[&str]) -> String {
    let svg = std::fs::read_to_string(path).unwrap();
    assert!(svg.trim_start().starts_with("<svg"), "{}", path.display());
    assert!(svg.trim_end().ends_with("</svg>"), "{}", path.display());
    assert_well_formed(&svg, &[]);
    for s in must_contain {
        assert!(svg.contains(s), "{} lacks `{s}`", path.display());
    }
    svg
}

type ResultsChart = fn(&AttributionResults, &Path, &PlotOptions) -> report::Result<()>;

fn results_charts() -> [(&'static str, ResultsChart); 5] {
    [
        ("treatment_effects", |r, p, o| {
            report::plot_treatment_effects(r, p, o)
        }),
        ("waterfall", |r, p, o| {
            report::plot_attribution_waterfall(r, p, o)
        }),
        ("temporal", |r, p, o| report::plot_temporal_effects(r, p, o)),
        ("distribution", |r, p, o| {
            report::plot_effect_distribution(r, p, o)
        }),
        ("response", |r, p, o| report::plot_response_curve(r, p, o)),
    ]
}

/// Draws every chart of `results` to `dir` as `{prefix}{name}.png` and `.svg`; asserts
/// each PNG is `size` with real content (more than 8 colours), and gives each SVG's
/// chart name and path to `check_svg`.
fn draw_results_charts(
    results: &AttributionResults,
    dir: &Path,
    prefix: &str,
    opts: &PlotOptions,
    size: (u32, u32),
    mut check_svg: impl FnMut(&str, &Path),
) {
    for (name, draw) in results_charts() {
        for ext in ["png", "svg"] {
            let path = dir.join(format!("{prefix}{name}.{ext}"));
            draw(results, &path, opts).unwrap_or_else(|e| panic!("{prefix}{name}.{ext}: {e}"));
            if ext == "png" {
                let (w, h, colours) = png_info(&path);
                assert_eq!((w, h), size, "{prefix}{name}");
                assert!(colours > 8, "{prefix}{name}.png has only {colours} colours");
            } else {
                check_svg(name, &path);
            }
        }
    }
}

/// Every chart of a sandbox fit renders to a PNG of the requested size with real
/// content and to a well-formed SVG that names the channels.
#[test]
fn every_chart_renders_for_a_sandbox_fit() {
    let (table, results) = sandbox();
    let dir = out_dir("sandbox-charts");
    let opts = PlotOptions::default().with_size(900, 540);
    let names: Vec<&str> = results
        .channels
        .iter()
        .map(|c| c.channel.as_str())
        .collect();
    assert_eq!(names.len(), 3);
    draw_results_charts(results, &dir, "", &opts, (900, 540), |name, path| {
        let channel_names: &[&str] = if name == "temporal" {
            &["Mon", "Jan"]
        } else {
            &names
        };
        assert_svg(path, channel_names);
    });
    for ext in ["png", "svg"] {
        let path = dir.join(format!("spend_by_channel.{ext}"));
        report::plot_spend_by_channel(table, &path, &opts).unwrap();
        let over = dir.join(format!("spend_over_time.{ext}"));
        report::plot_spend_over_time(table, &over, &opts).unwrap();
        if ext == "png" {
            assert_eq!(png_info(&path).0, 900);
            assert!(png_info(&over).2 > 8);
        } else {
            assert_svg(&path, &names);
            assert_svg(&over, &names);
        }
    }
    // No partial files are left behind.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "leftover temporary file {name}");
    }
    cleanup(&dir);
}

/// One channel, a negative effect, names of 150 characters: all charts draw, long
/// names are cut with an ellipsis, and negative lifts show with a minus sign.
#[test]
fn edge_cases_render() {
    let long = format!("{}_END", "very_long_campaign_and_channel_name_".repeat(4));
    let cases = [
        ("one", synthetic(vec![channel("meta", 50_000.0, 2.1, 3.0)])),
        (
            "negative",
            synthetic(vec![
                channel("meta", 50_000.0, 2.1, 3.0),
                channel("tiktok", 20_000.0, -0.6, 1.1),
                channel("google_ads", 80_000.0, 1.3, 2.5),
            ]),
        ),
        (
            "long",
            synthetic(vec![
                channel(&long, 50_000.0, 2.1, 3.0),
                channel(&format!("{long}_2"), 10_000.0, 0.2, 0.9),
            ]),
        ),
    ];
    let dir = out_dir("edge");
    let opts = PlotOptions::default();
    for (case, results) in &cases {
        let prefix = format!("{case}-");
        draw_results_charts(results, &dir, &prefix, &opts, (1000, 600), |name, path| {
            let svg = assert_svg(path, &[]);
            if *case == "long" && name != "temporal" {
                assert!(svg.contains('…'), "{case}-{name}: long name not truncated");
                assert!(
                    !svg.contains(&long),
                    "{case}-{name}: long name shown in full"
                );
                assert!(
                    svg.contains("_END_2"),
                    "{case}-{name}: the ends of names are kept"
                );
            }
            if *case == "negative" && name == "waterfall" {
                assert!(svg.contains("-$12,000"), "negative lift not shown");
            }
            if *case == "negative" && name == "treatment_effects" {
                assert!(svg.contains("incremental -0.60"));
            }
        });
    }
    cleanup(&dir);
}

/// A channel has the same colour in every chart; 25 channels still draw with every
/// name on its own row.
#[test]
fn channel_colours_are_consistent_and_many_channels_fit() {
    let results = synthetic(
        (0..25)
            .map(|i| {
                channel(
                    &format!("channel_{i:02}"),
                    1000.0 * (i + 1) as f64,
                    0.1 * i as f64,
                    2.0,
                )
            })
            .collect(),
    );
    let dir = out_dir("colours");
    let opts = PlotOptions::default().with_size(1000, 900);
    let mut svgs = Vec::new();
    for (name, draw) in results_charts() {
        if name == "temporal" {
            continue;
        }
        let path = dir.join(format!("{name}.svg"));
        draw(&results, &path, &opts).unwrap();
        svgs.push((name, std::fs::read_to_string(&path).unwrap()));
        let png = dir.join(format!("{name}.png"));
        draw(&results, &png, &opts).unwrap();
        assert!(png_info(&png).2 > 8);
    }
    for c in &results.channels {
        let (r, g, b) = report::channel_color(&c.channel);
        let hex = format!("#{r:02X}{g:02X}{b:02X}");
        for (name, svg) in &svgs {
            assert!(
                svg.contains(&hex),
                "{name}: {} lacks its colour {hex}",
                c.channel
            );
            assert!(
                svg.contains(&format!("\n{}\n", c.channel)),
                "{name}: label of {}",
                c.channel
            );
        }
    }
    assert_eq!(report::channel_color("meta"), report::channel_color("meta"));
    assert_ne!(
        report::channel_color("meta"),
        report::channel_color("google_ads")
    );
    cleanup(&dir);
}

/// Missing inputs give clear errors, never panics or half-written files.
#[test]
fn missing_data_gives_clear_errors() {
    let dir = out_dir("errors");
    let opts = PlotOptions::default();
    let mut r = synthetic(vec![channel("meta", 1000.0, 2.0, 3.0)]);
    r.temporal = None;
    r.row_index = None;
    let e = report::plot_temporal_effects(&r, dir.join("t.png"), &opts).unwrap_err();
    assert!(matches!(e, ReportError::MissingData { .. }), "{e}");
    assert!(e.to_string().contains("temporal effects"), "{e}");
    let e = report::plot_effect_distribution(&r, dir.join("d.svg"), &opts).unwrap_err();
    assert!(e.to_string().contains("row index"), "{e}");
    let empty = AttributionResults::new("causal_forest", "revenue", "spend", 0, 1);
    let e = report::plot_treatment_effects(&empty, dir.join("e.png"), &opts).unwrap_err();
    assert!(matches!(e, ReportError::EmptyInput { .. }), "{e}");
    let e = report::plot_treatment_effects(&r, dir.join("e.jpg"), &opts).unwrap_err();
    assert!(matches!(e, ReportError::UnsupportedFormat { .. }), "{e}");
    let e = report::plot_treatment_effects(&r, dir.join("e.png"), &opts.clone().with_size(10, 10))
        .unwrap_err();
    assert!(
        matches!(e, ReportError::InvalidOption { name: "width", .. }),
        "{e}"
    );
    let e = report::plot_treatment_effects(&r, dir.join("missing/dir/e.png"), &opts).unwrap_err();
    assert!(e.to_string().contains("e.png"), "{e}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "files were written"
    );
    // The report skips the charts it cannot draw and says why.
    let html = dir.join("r.html");
    report::write_html_report(&r, &ReportOptions::default(), &html).unwrap();
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.contains("Chart temporal_effects skipped"));
    assert!(text.contains("Chart effect_distribution skipped"));
    cleanup(&dir);
}

fn cell_f64(range: &calamine::Range<Data>, row: usize, col: usize) -> f64 {
    match range.get((row, col)) {
        Some(Data::Float(f)) => *f,
        Some(Data::Int(i)) => *i as f64,
        other => panic!("({row}, {col}) is {other:?}"),
    }
}

fn cell_str(range: &calamine::Range<Data>, row: usize, col: usize) -> String {
    match range.get((row, col)) {
        Some(Data::String(s)) => s.clone(),
        other => panic!("({row}, {col}) is {other:?}"),
    }
}

/// The workbook opens with calamine and holds every sheet and the channel values.
#[test]
fn workbook_has_sheets_and_values() {
    let (table, results) = sandbox();
    let dir = out_dir("xlsx");
    let path = dir.join("results.xlsx");
    let quality = QualityReport {
        rows: table.num_rows(),
        completeness_score: 0.998,
        accuracy_score: 0.97,
        issues: vec![Issue {
            rule: "negative_spend".into(),
            column: Some("spend".into()),
            row_count: 3,
            example_rows: vec![4, 17, 90],
            severity: Severity::Error,
            message: "spend below zero".into(),
        }],
        notes: Vec::new(),
    };
    let options = ExportOptions::default()
        .with_quality(quality)
        .with_exploration(report::ExplorationSummary::from_table(table).unwrap());
    report::export_results_with(results, &path, &options).unwrap();
    let mut wb: Xlsx<_> = open_workbook(&path).unwrap();
    assert_eq!(
        wb.sheet_names(),
        [
            "Summary",
            "Channel effects",
            "Temporal effects",
            "Data quality",
            "Model",
            "Row effects",
            "Exploration"
        ]
    );
    let ch = wb.worksheet_range("Channel effects").unwrap();
    assert_eq!(ch.height(), results.channels.len() + 1);
    for (i, c) in results.channels.iter().enumerate() {
        assert_eq!(cell_str(&ch, i + 1, 0), c.channel);
        assert_eq!(cell_f64(&ch, i + 1, 1), c.rows as f64);
        assert!((cell_f64(&ch, i + 1, 2) - c.spend).abs() < 1e-6 * c.spend);
        assert!((cell_f64(&ch, i + 1, 3) - c.revenue_lift).abs() < 1e-6 * c.revenue_lift.abs());
        assert!((cell_f64(&ch, i + 1, 8) - c.incremental_roas).abs() < 1e-12);
        assert!((cell_f64(&ch, i + 1, 12) - c.naive_roas).abs() < 1e-12);
    }
    let summary = wb.worksheet_range("Summary").unwrap();
    let first = cell_str(&summary, 2, 0);
    assert!(first.contains("caused an estimated"), "{first}");
    let rows = wb.worksheet_range("Row effects").unwrap();
    assert_eq!(rows.height(), results.treatment_effects.len() + 1);
    assert!((cell_f64(&rows, 1, 6) - results.treatment_effects[0].tau).abs() < 1e-12);
    let first_day = results.row_index.as_ref().unwrap().date[0];
    let expected = (NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
        + chrono::Days::new(first_day as u64))
    .to_string();
    assert_eq!(cell_str(&rows, 1, 1), expected);
    let temporal = wb.worksheet_range("Temporal effects").unwrap();
    assert_eq!(cell_str(&temporal, 1, 1), "monday");
    let quality = wb.worksheet_range("Data quality").unwrap();
    assert!((cell_f64(&quality, 2, 1) - 0.998).abs() < 1e-12);
    assert_eq!(cell_str(&quality, 7, 0), "negative_spend");
    let model = wb.worksheet_range("Model").unwrap();
    assert_eq!(cell_str(&model, 6, 1), "11", "seed row");
    // A native chart is embedded.
    let zip = std::fs::read(&path).unwrap();
    assert!(
        zip.windows(b"xl/charts/chart1.xml".len())
            .any(|w| w == b"xl/charts/chart1.xml")
    );
    // CSV of the channel table.
    let csv = dir.join("channels.csv");
    report::export_results(results, &csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), results.channels.len() + 1);
    assert!(text.starts_with("channel,rows,spend,revenue_lift"));
    // A channel name a spreadsheet would run as a formula is written as text.
    let mut named = results.clone();
    named.channels[0].channel = "=HYPERLINK(\"http://evil.example\",\"x\")".into();
    named.channels[1].channel = "@SUM(1+1)".into();
    report::export_results(&named, &csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.contains("\n\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",")
            && text.contains("\n'@SUM(1+1),"),
        "{text}"
    );
    let e = report::export_results(results, dir.join("r.parquet")).unwrap_err();
    assert!(matches!(e, ReportError::UnsupportedFormat { .. }));
    cleanup(&dir);
}

const HTML_VOID: [&str; 6] = ["meta", "br", "hr", "img", "link", "input"];

fn assert_self_contained(html: &str) {
    for bad in [
        "http://",
        "https://",
        "src=",
        "url(",
        "@import",
        "href=\"//",
    ] {
        assert!(!html.contains(bad), "the report contains `{bad}`");
    }
}

/// The HTML report is self-contained, well-formed, and holds findings, charts, tables,
/// data quality, diagnostics, warnings and the seed; the report directory holds the
/// charts, the workbook and the page.
#[test]
fn html_report_is_self_contained() {
    let results = synthetic(vec![
        channel("meta", 50_000.0, 2.1, 3.0),
        channel("tiktok <&> \"ads\"", 20_000.0, -0.6, 1.1),
    ]);
    let dir = out_dir("html");
    let options = ReportOptions::default().with_quality(QualityReport {
        rows: 240,
        completeness_score: 0.99,
        accuracy_score: 0.95,
        issues: vec![],
        notes: Vec::new(),
    });
    let path = dir.join("report.html");
    report::write_html_report(&results, &options, &path).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_self_contained(&html);
    assert_well_formed(&html, &HTML_VOID);
    for s in [
        "Headline findings",
        "meta",
        "tiktok &lt;&amp;&gt; &quot;ads&quot;",
        "seed 42",
        "weak overlap &lt;check&gt;",
        "completeness 99.0%",
        "Out-of-sample R² 0.910",
        "num_trees",
        "<svg",
    ] {
        assert!(html.contains(s), "report lacks `{s}`");
    }
    assert_eq!(
        html.matches("<svg").count(),
        5,
        "five charts without a table"
    );

    let (table, fitted) = sandbox();
    let out = dir.join("out");
    let written = report::write_report_dir(
        fitted,
        &ReportOptions::default().with_table(table.clone()),
        &out,
    )
    .unwrap();
    assert_eq!(written.len(), 7 * 2 + 2);
    for f in &written {
        assert!(std::fs::metadata(f).unwrap().len() > 100, "{}", f.display());
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_self_contained(&html);
    assert_well_formed(&html, &HTML_VOID);
    assert_eq!(html.matches("<svg").count(), 7);
    assert!(html.contains("Totals per channel"));
    assert!(png_info(&out.join("charts/spend_over_time.png")).2 > 8);
    cleanup(&dir);
}

/// Markup in a channel or campaign name, the title or the currency reaches the page as
/// text: the template escapes it (`'` needs no escape in text or in double-quoted
/// attributes), in the tables, the plan, the charts' SVG and the exploration summary.
/// (The old string-built page wrote the currency into the plan's sentence unescaped.)
#[test]
fn html_report_escapes_names_title_and_currency() {
    const EVIL: &str = "<script>alert(1)</script> &\"'";
    const ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt; &amp;&quot;'";
    let evil_channel = format!("meta {EVIL}");
    let mut results = synthetic(vec![
        curved(&evil_channel, 10_000.0, 80_000.0),
        curved("google_ads", 10_000.0, 20_000.0),
    ]);
    let plan =
        liftos_causal::plan_budget(&results, &liftos_causal::PlanOptions::new(20_000.0)).unwrap();
    // A channel left out of the fit is named below the channel table.
    results
        .diagnostics
        .not_estimated
        .push(liftos_causal::NotEstimated {
            channel: format!("pinterest {EVIL}"),
            rows: 1_234,
            reason: format!("too little data {EVIL}"),
        });
    // The sandbox table with Meta's channel and campaign names carrying the markup.
    let (table, _) = sandbox();
    let renamed = |name: &str, f: &dyn Fn(&str) -> String| -> std::sync::Arc<dyn Array> {
        let col = table.column_by_name(name).unwrap().as_string::<i32>();
        std::sync::Arc::new(arrow::array::StringArray::from(
            col.iter().map(|v| v.map(f)).collect::<Vec<_>>(),
        ))
    };
    let schema = table.schema();
    let columns = schema
        .fields()
        .iter()
        .zip(table.columns())
        .map(|(field, col)| match field.name().as_str() {
            "channel" => renamed("channel", &|v| {
                if v == "meta" {
                    evil_channel.clone()
                } else {
                    v.to_string()
                }
            }),
            "campaign" => renamed("campaign", &|v| format!("{v} {EVIL}")),
            _ => col.clone(),
        })
        .collect();
    let table = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut options = ReportOptions::default()
        .with_title(&format!("Report {EVIL}"))
        .with_plan(plan)
        .with_table(table)
        .with_quality(QualityReport {
            rows: 10,
            completeness_score: 1.0,
            accuracy_score: 1.0,
            issues: vec![Issue {
                rule: format!("rule {EVIL}"),
                column: Some(format!("campaign {EVIL}")),
                row_count: 1,
                example_rows: vec![0],
                severity: Severity::Warning,
                message: format!("campaign `x {EVIL}` looks odd"),
            }],
            notes: Vec::new(),
        });
    options.plot = PlotOptions::default().with_currency(&format!("EUR{EVIL}"));
    let dir = out_dir("escape");
    let path = dir.join("report.html");
    report::write_html_report(&results, &options, &path).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "raw <script> in the page"
    );
    assert!(!html.contains("alert(1)</script>"));
    assert_well_formed(&html, &HTML_VOID);
    assert_self_contained(&html);
    let channels = &html[html.find("<section id=\"channels\">").unwrap()..];
    let channels = &channels[..channels.find("</section>").unwrap()];
    assert!(
        channels.contains(&format!(
            "Not estimated: <code>pinterest {ESCAPED}</code> (1,234 rows left out of the \
             fit): too little data {ESCAPED}."
        )),
        "{channels}"
    );
    let exploration = &html[html.find("<section id=\"exploration\">").unwrap()..];
    assert!(exploration.contains(&format!("meta {ESCAPED}")));
    for s in [
        format!("<title>Report {ESCAPED}</title>"),
        format!("<h1>Report {ESCAPED}</h1>"),
        format!("</span>meta {ESCAPED}</td>"),
        format!("<td class=\"text\">meta {ESCAPED}</td>"),
        format!("Spend (EUR{ESCAPED})"),
        format!("20,000 EUR{ESCAPED} over"),
        format!("rule {ESCAPED}"),
    ] {
        assert!(html.contains(&s), "the page lacks `{s}`");
    }
    cleanup(&dir);
}

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Headless Chromium renders the report to a screenshot that is not blank.
///
/// With `LIFTOS_REQUIRE_CHROMIUM=1` (set by `.ci/run`) a missing browser fails the
/// test; otherwise the test says that it skipped.
#[test]
fn html_report_renders_in_headless_chromium() {
    let required = std::env::var("LIFTOS_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
    let Some(chromium) = find_chromium() else {
        assert!(
            !required,
            "LIFTOS_REQUIRE_CHROMIUM=1 but no chromium or chromium-browser on PATH"
        );
        println!("skipped: no chromium on PATH (set LIFTOS_REQUIRE_CHROMIUM=1 to require it)");
        return;
    };
    let (table, results) = sandbox();
    let dir = out_dir("chromium");
    let html = dir.join("report.html");
    report::write_html_report(
        results,
        &ReportOptions::default().with_table(table.clone()),
        &html,
    )
    .unwrap();
    let shot = dir.join("screenshot.png");
    let profile = dir.join("profile");
    let output = std::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,3000",
        ])
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        shot.is_file(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (w, h, colours) = png_info(&shot);
    assert_eq!((w, h), (1200, 3000));
    assert!(colours > 50, "screenshot is blank ({colours} colours)");
    cleanup(&dir);
}

/// `describe` and `channel_summary` agree with the table and with the fitted spend.
#[test]
fn exploration_summary_of_the_sandbox_table() {
    let (table, results) = sandbox();
    let d = report::describe(table).unwrap();
    let names: Vec<&str> = (0..d.num_rows())
        .map(|i| d.column(0).as_string::<i32>().value(i))
        .collect();
    assert_eq!(
        names,
        ["spend", "impressions", "clicks", "conversions", "revenue"]
    );
    let count = d
        .column_by_name("count")
        .unwrap()
        .as_primitive::<UInt64Type>();
    assert_eq!(count.value(0) as usize, table.num_rows());
    let stat = |n: &str, i: usize| {
        d.column_by_name(n)
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(i)
    };
    assert!(stat("min", 0) <= stat("p25", 0) && stat("p25", 0) <= stat("p50", 0));
    assert!(stat("p50", 0) <= stat("p75", 0) && stat("p75", 0) <= stat("max", 0));
    let s = report::channel_summary(table).unwrap();
    let spend = s
        .column_by_name("spend")
        .unwrap()
        .as_primitive::<Float64Type>();
    let naive = s
        .column_by_name("naive_roas")
        .unwrap()
        .as_primitive::<Float64Type>();
    for i in 0..s.num_rows() {
        let name = s.column(0).as_string::<i32>().value(i);
        let c = results.channel(name).unwrap();
        assert!((spend.value(i) - c.spend).abs() < 1e-6 * c.spend, "{name}");
        assert!((naive.value(i) - c.naive_roas).abs() < 1e-9, "{name}");
    }
    assert_eq!(s.column_by_name("rows").unwrap().null_count(), 0);
}

/// A channel with a saturating response curve R(x) = top·x/(x + spend), with intervals.
fn curved(name: &str, spend: f64, top: f64) -> ChannelEffect {
    let mut c = channel(name, spend, top / (2.0 * spend), 1.5);
    let curve = (0..=8)
        .map(|k| {
            let s = f64::from(k) / 4.0;
            let x = s * spend;
            let r = top * x / (x + spend);
            liftos_causal::CurvePoint {
                scale: s,
                spend: x,
                incremental_revenue: r,
                ci_lower: 0.8 * r,
                ci_upper: 1.2 * r,
            }
        })
        .collect();
    c.revenue_lift = top / 2.0;
    c.ci_lower = 0.8 * c.revenue_lift;
    c.ci_upper = 1.2 * c.revenue_lift;
    c.marginal_roas = top / (4.0 * spend);
    c.response = Some(liftos_causal::ChannelResponse {
        transform: liftos_causal::ResponseTransform::LINEAR,
        half_saturation_spend: Some(spend),
        marginal_roas_ci_lower: 0.8 * c.marginal_roas,
        marginal_roas_ci_upper: 1.2 * c.marginal_roas,
        long_run_roas_ci_lower: None,
        long_run_roas_ci_upper: None,
        response_curve: curve,
        sensitivity: liftos_causal::Sensitivity {
            robustness_value: 0.4,
            robustness_value_ci: 0.3,
            t_stat: 8.0,
        },
        plausible_transforms: 1,
        switch_off_range: (0.0, 0.0),
    });
    c
}

/// A budget plan in the report: an HTML section with its table and notes, a chart with
/// the recommended spend marked, and a "Budget plan" sheet with the plan's numbers.
#[test]
fn a_budget_plan_gets_a_section_a_chart_and_a_sheet() {
    let results = synthetic(vec![
        curved("meta", 10_000.0, 80_000.0),
        curved("google_ads", 10_000.0, 20_000.0),
    ]);
    let plan =
        liftos_causal::plan_budget(&results, &liftos_causal::PlanOptions::new(20_000.0)).unwrap();
    let meta = plan.channel("meta").unwrap();
    assert!((meta.recommended_spend - 15_000.0).abs() < 1.0, "{meta:?}");
    let dir = out_dir("plan");
    let options = ReportOptions::default().with_plan(plan.clone());
    let files = report::write_report_dir(&results, &options, &dir).unwrap();
    assert!(files.iter().any(|f| f.ends_with("charts/budget_plan.svg")));
    let svg = std::fs::read_to_string(dir.join("charts/budget_plan.svg")).unwrap();
    assert!(
        svg.contains("triangle: the plan"),
        "axis label names the marker"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_well_formed(&html, &HTML_VOID);
    let section = &html[html.find("<section id=\"plan\">").expect("plan section")..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(
        section.contains("15,000") && section.contains("+50%"),
        "{section}"
    );
    assert!(section.contains("max-change"), "{section}");
    let mut wb: Xlsx<_> = open_workbook(dir.join("results.xlsx")).unwrap();
    assert!(wb.sheet_names().contains(&"Budget plan".to_string()));
    let sheet = wb.worksheet_range("Budget plan").unwrap();
    assert_eq!(cell_str(&sheet, 1, 0), "meta");
    assert!((cell_f64(&sheet, 1, 2) - meta.recommended_spend).abs() < 1e-6);
    assert!((cell_f64(&sheet, 1, 4) - meta.expected_incremental_revenue).abs() < 1e-6);
    assert_eq!(cell_str(&sheet, 3, 0), "Total");
    assert!((cell_f64(&sheet, 3, 4) - plan.expected_incremental_revenue).abs() < 1e-6);
    cleanup(&dir);
}
