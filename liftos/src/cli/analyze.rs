//! `liftos analyze`.

use std::path::PathBuf;

use liftos::analysis::{
    add_calendar_columns, analyze_table, attribution_json, format_results, write_report,
};
use liftos::calendar::CalendarOptions;
use liftos::causal::{
    Adstock, AttributionModel, AttributionOptions, CausalRoles, ClusterBy, ResponseOptions,
    TreatmentAssignment,
};
use liftos::transform::read_table;

/// Arguments of `liftos analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The unified (or enriched) table: `.csv` or `.parquet`.
    #[arg(long)]
    input: PathBuf,
    /// Outcome column(s), comma-separated; each is analysed.
    #[arg(long, value_delimiter = ',', default_value = "revenue")]
    outcome: Vec<String>,
    /// Treatment column(s), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "spend")]
    treatment: Vec<String>,
    /// Extra control columns, comma-separated (calendar controls are added automatically).
    #[arg(long, value_delimiter = ',')]
    controls: Vec<String>,
    /// The entity (panel unit) column; `none` for no entity.
    #[arg(long, default_value = "campaign")]
    entity: String,
    /// The date column.
    #[arg(long, default_value = "date")]
    time: String,
    /// The channel column results are reported by.
    #[arg(long, default_value = "channel")]
    channel: String,
    /// The estimator: `causal_forest` or `dml`.
    #[arg(long, default_value = "causal_forest")]
    model: String,
    /// Level of every interval.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Seed of all randomness.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Trees of the causal forest.
    #[arg(long, default_value_t = 2000)]
    trees: usize,
    /// `observational` or `randomized`.
    #[arg(long, default_value = "observational")]
    assignment: String,
    /// Clusters of the standard errors: `entity`, `time` or `none`.
    #[arg(long, default_value = "entity")]
    cluster: String,
    /// Carryover: `none`, `auto` (chosen per channel with the response curve), `grid`
    /// (choose the decay per channel) or a fixed decay in [0, 1). Default: `auto`, or
    /// `none` with `--response linear`.
    #[arg(long)]
    adstock: Option<String>,
    /// Response to spend: `auto` (default: carryover and Hill saturation chosen per
    /// channel; reports switch-off and marginal returns, response curves), or `linear`
    /// (the opt-out: linear in spend, no carryover unless `--adstock` asks for it).
    #[arg(long, default_value = "auto")]
    response: String,
    /// A channel's known response curve, not searched (repeatable):
    /// `CHANNEL=DECAY` (linear after carryover) or `CHANNEL=DECAY:HALF_SATURATION:SHAPE`
    /// (Hill curve; half-saturation × the campaign's mean adstocked exposure), e.g.
    /// `meta=0.3:1:1.5`. Its intervals then carry no uncertainty about the curve.
    #[arg(long = "pin-curve", value_name = "CHANNEL=CURVE")]
    pin_curve: Vec<String>,
    /// Skip the time-blocked cross-validation.
    #[arg(long)]
    no_cross_validation: bool,
    /// Leave out the common-spend controls (the other campaigns' spend of the day, a
    /// proxy for a demand shock the calendar does not see; on by default with four or
    /// more campaigns). At the business level the check still runs and warns; the flag
    /// leaves out the budgets' common movement from the baseline.
    #[arg(long)]
    no_common_spend: bool,
    /// Public holidays of this country when the input has no calendar columns, and in the
    /// business-level baseline (default: `--calendar-config`'s country, else US).
    #[arg(long)]
    country: Option<String>,
    /// The calendar of the business-level baseline, a `liftos calendar --config` file:
    /// its country, custom events and peak seasons (name the business's own peak, e.g. a
    /// Q4 from November 15 to December 24: a demand period the calendar does not name
    /// moves spend and revenue together and is credited to every channel).
    #[arg(long, value_name = "FILE")]
    calendar_config: Option<PathBuf>,
    /// Write the results JSON (DESIGN.md) here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the HTML report, charts (PNG and SVG) and workbook into this directory.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the Excel workbook here.
    #[arg(long)]
    xlsx: Option<PathBuf>,
    /// The business's own revenue per day (`date`, `revenue`[, `orders`, `geo`]; CSV or
    /// Parquet): analyse it against every channel's spend at once instead of each
    /// platform's reported revenue.
    #[arg(long)]
    business_outcome: Option<PathBuf>,
    /// Lift tests to calibrate the business-level estimate with (`channel`, `start`, `end`,
    /// `incremental_revenue` or `iroas`, `standard_error`[, `geo`, `spend`]; a geo test's
    /// revenue needs the `spend` it measured); needs `--business-outcome`.
    #[arg(long)]
    lift_tests: Option<PathBuf>,
    /// Report effects below zero as fitted (by default spend cannot lower revenue: such an
    /// effect is reported at zero, its interval cut at zero, with a warning), at the
    /// campaign level and with `--business-outcome` at the business level.
    #[arg(long)]
    allow_negative_effects: bool,
    /// Report each channel's own rows only: a channel's effect found with confidence in
    /// another channel's rows (spillover) is warned of but not credited to it.
    #[arg(long)]
    no_spillover_credit: bool,
    /// Report each campaign's own rows' slope as the marginal return: campaigns of one
    /// channel found competing for one audience are warned of, not counted in it.
    #[arg(long)]
    no_within_channel: bool,
    /// Moving-block bootstrap replicates of the business-level analysis.
    #[arg(long, default_value_t = 199)]
    bootstrap: usize,
}

pub fn run(args: Args) -> liftos::Result<()> {
    if let Some(outcome) = &args.business_outcome {
        return run_business(&args, outcome);
    }
    if args.lift_tests.is_some() {
        return Err(liftos::Error::InvalidPipeline {
            field: "--lift-tests".into(),
            message: "lift tests calibrate the business-level analysis: add --business-outcome"
                .into(),
        });
    }
    let mut inputs: Vec<(&str, &std::path::Path)> = vec![("--input", &args.input)];
    if let Some(p) = &args.calendar_config {
        inputs.push(("--calendar-config", p));
    }
    let mut outputs: Vec<(&str, &std::path::Path)> = Vec::new();
    if let Some(p) = &args.json {
        outputs.push(("--json", p));
    }
    if let Some(p) = &args.xlsx {
        outputs.push(("--xlsx", p));
    }
    liftos::io::check_distinct_files(&inputs, &outputs)?;
    if let Some(dir) = &args.report {
        liftos::io::check_dir_holds_no_input("--report", dir, &inputs)?;
        liftos::io::check_outside_report("--report", dir, &outputs)?;
    }
    let mut staged = Staged::new(&args)?;
    let model = AttributionModel::parse(&args.model)?.with_num_trees(args.trees);
    let response = pin_curves(ResponseOptions::parse(&args.response)?, &args.pin_curve)?;
    let adstock = match &args.adstock {
        Some(a) => Adstock::parse(a)?,
        None => response.default_adstock(),
    };
    let table = read_table(&args.input)?;
    if table.num_rows() == 0 {
        return Err(liftos::Error::Io {
            path: args.input.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the file has no rows (a header alone): there is nothing to analyse",
            ),
        });
    }
    for warning in negative_treatment_warnings(&table, &args.treatment) {
        eprintln!("warning: {warning}");
    }
    let notes = [
        liftos::business::duplicate_rows_note(&table, &args.input)?,
        liftos::business::channel_labels_note(&table, &args.input, &args.channel)?,
        liftos::business::mixed_currency_note(&table, &args.input, &args.channel)?,
    ];
    for warning in notes.into_iter().flatten() {
        eprintln!("warning: {warning}");
    }
    let calendar = calendar_options(&args)?;
    let table = add_calendar_columns(
        &table,
        &args.time,
        calendar.country.as_deref().unwrap_or("none"),
    )
    .map_err(|e| calendar_error(e, &args, &table))?;
    let entity = (args.entity != "none").then_some(args.entity.as_str());
    let roles = CausalRoles::new(&args.treatment, &args.outcome, &args.controls)
        .with_time_variable(Some(&args.time))
        .with_entity_variable(entity)
        .with_channel_variable(Some(&args.channel))
        .with_adstock(adstock)
        .with_common_spend_controls(!args.no_common_spend)
        .with_treatment_assignment(TreatmentAssignment::parse(&args.assignment)?);
    let options = AttributionOptions::default()
        .with_model(model)
        .with_confidence_level(args.confidence)
        .with_seed(args.seed)
        .with_cluster(ClusterBy::parse(&args.cluster)?)
        .with_cross_validation(!args.no_cross_validation)
        .with_response(response)
        .with_non_negative(!args.allow_negative_effects)
        .with_credit_spillover(!args.no_spillover_credit)
        .with_within_channel(!args.no_within_channel);
    let (panel, attribution) = analyze_table(&table, &roles, &options).map_err(|e| match e {
        // A column problem is the input file's: name it.
        liftos::Error::Causal(
            c @ (liftos::causal::Error::NonNumericColumn { .. }
            | liftos::causal::Error::MissingColumn { .. }),
        ) => liftos::Error::Input {
            path: args.input.display().to_string(),
            row: None,
            field: match &c {
                liftos::causal::Error::NonNumericColumn { column, .. }
                | liftos::causal::Error::MissingColumn { column, .. } => column.clone(),
                _ => String::new(),
            },
            message: match &c {
                liftos::causal::Error::MissingColumn { .. } => {
                    format!("{c}{}", role_case_hint(&args, &table.schema()))
                }
                _ => c.to_string(),
            },
        },
        other => other,
    })?;
    if !panel.dropped.is_empty() {
        println!(
            "{} of {} input rows left out (a role value was missing); see the warnings below.",
            panel.dropped.len(),
            table.num_rows()
        );
    }
    for r in &attribution.results {
        println!("{}", format_results(r));
    }
    if let Some(dir) = &staged.report {
        staged.report_files = write_report(attribution.primary(), &table, dir)?.len();
    }
    if let Some(path) = &staged.xlsx {
        liftos::report::export_results(attribution.primary(), path)
            .map_err(|e| liftos::Error::Report(e.to_string()))?;
    }
    if let Some(path) = &staged.json {
        write_json(path, &attribution_json(&attribution))?;
    }
    staged.commit(&args)
}

/// `analyze`'s outputs, staged next to their targets before the analysis (a missing
/// directory fails at once) and moved into place together once every one is written:
/// an analysis or a writer that fails leaves none of them.
struct Staged {
    outputs: liftos::io::Outputs,
    json: Option<PathBuf>,
    xlsx: Option<PathBuf>,
    report: Option<PathBuf>,
    report_files: usize,
}

impl Staged {
    fn new(args: &Args) -> liftos::Result<Self> {
        let mut outputs = liftos::io::Outputs::new();
        if let Some(path) = &args.xlsx {
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase());
            if ext.as_deref() != Some("xlsx") {
                return Err(liftos::Error::Io {
                    path: path.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "--xlsx writes an Excel workbook: name a file ending in .xlsx",
                    ),
                });
            }
        }
        let json = args.json.as_deref().map(|p| outputs.file(p)).transpose()?;
        let xlsx = args.xlsx.as_deref().map(|p| outputs.file(p)).transpose()?;
        let report = args.report.as_deref().map(|p| outputs.dir(p)).transpose()?;
        Ok(Staged {
            outputs,
            json,
            xlsx,
            report,
            report_files: 0,
        })
    }

    fn commit(self, args: &Args) -> liftos::Result<()> {
        self.outputs.commit()?;
        if let Some(path) = &args.json {
            println!("Wrote {}", path.display());
        }
        if let Some(path) = &args.xlsx {
            println!("Wrote {}", path.display());
        }
        if let Some(dir) = &args.report {
            println!(
                "Wrote {} report files into {}",
                self.report_files,
                dir.display()
            );
        }
        Ok(())
    }
}

/// Writes `value` as pretty-printed JSON to a staged file.
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> liftos::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| liftos::Error::Json {
        path: path.display().to_string(),
        source,
    })?;
    std::fs::write(path, text).map_err(|source| liftos::Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The calendar options: `--calendar-config`'s (or the defaults), with `--country` over
/// its country.
fn calendar_options(args: &Args) -> liftos::Result<CalendarOptions> {
    let options = match &args.calendar_config {
        Some(path) => CalendarOptions::from_toml_file(path)?,
        None => CalendarOptions::default(),
    };
    Ok(match &args.country {
        Some(country) => options.with_country(country.as_str()),
        None => options,
    })
}

/// `liftos analyze --business-outcome`: the business's revenue against every channel's
/// spend at once, calibrated with `--lift-tests` when given.
fn run_business(args: &Args, outcome: &std::path::Path) -> liftos::Result<()> {
    let mut inputs: Vec<(&str, &std::path::Path)> =
        vec![("--input", &args.input), ("--business-outcome", outcome)];
    if let Some(p) = &args.lift_tests {
        inputs.push(("--lift-tests", p));
    }
    if let Some(p) = &args.calendar_config {
        inputs.push(("--calendar-config", p));
    }
    let mut outputs: Vec<(&str, &std::path::Path)> = Vec::new();
    if let Some(p) = &args.json {
        outputs.push(("--json", p));
    }
    if let Some(p) = &args.xlsx {
        outputs.push(("--xlsx", p));
    }
    liftos::io::check_distinct_files(&inputs, &outputs)?;
    if let Some(dir) = &args.report {
        liftos::io::check_dir_holds_no_input("--report", dir, &inputs)?;
        liftos::io::check_outside_report("--report", dir, &outputs)?;
    }
    let mut staged = Staged::new(args)?;
    let response = liftos::causal::BusinessOptions::response_like(&pin_curves(
        ResponseOptions::parse(&args.response)?,
        &args.pin_curve,
    )?);
    let options = liftos::causal::BusinessOptions {
        response,
        bootstrap: args.bootstrap,
        confidence_level: args.confidence,
        seed: args.seed,
        non_negative: !args.allow_negative_effects,
        common_spend: !args.no_common_spend,
        ..Default::default()
    };
    let (table, results) = liftos::business::analyze_business_files(
        &args.input,
        outcome,
        args.lift_tests.as_deref(),
        &calendar_options(args)?,
        &options,
    )?;
    println!("{}", liftos::business::format_business(&results, &table));
    if let Some(dir) = &staged.report {
        // The charts of spend over time need the platform table the model read.
        let unified = liftos::transform::read_table(&args.input)?;
        staged.report_files =
            liftos::analysis::write_business_report(&results, &unified, dir)?.len();
    }
    if let Some(path) = &staged.xlsx {
        liftos::report::export_results(&results.results, path)
            .map_err(|e| liftos::Error::Report(e.to_string()))?;
    }
    if let Some(path) = &staged.json {
        write_json(path, &results.to_json())?;
    }
    staged.commit(args)
}

/// The error of the calendar step as the input file's: a missing date column with the
/// columns the file has (and the flags naming columns that differ from the roles' only in
/// case), a text date column's first cell that is not a `YYYY-MM-DD` date with its row and
/// what it seems to be.
fn calendar_error(
    e: liftos::Error,
    args: &Args,
    table: &arrow::array::RecordBatch,
) -> liftos::Error {
    use liftos::calendar::Error as C;
    let path = args.input.display().to_string();
    match e {
        liftos::Error::Calendar(C::MissingColumn { column, .. }) => liftos::Error::Input {
            path,
            row: None,
            message: format!(
                "{}{}",
                liftos::business::missing_column_message(&table.schema()),
                role_case_hint(args, &table.schema())
            ),
            field: column,
        },
        liftos::Error::Calendar(C::InvalidValue { row, column, .. }) => {
            let value = table
                .column_by_name(&column)
                .and_then(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).ok())
                .map(|c| {
                    use arrow::array::AsArray;
                    c.as_string::<i32>().value(row).to_string()
                })
                .unwrap_or_default();
            let mut message = format!(
                "`{value}` is not a date (YYYY-MM-DD), the first such row (row {} of the data, the header \
                 not counted)",
                row + 1
            );
            if let Some(hint) = liftos::business::date_hint(&value) {
                message.push_str(&format!(": {hint}"));
            }
            if !liftos::business::is_iso_shaped(&value) {
                message.push_str(&format!("; {}", liftos::business::UNIFY_DATE_ADVICE));
            }
            liftos::Error::Input {
                path,
                row: Some(row + 1),
                field: column,
                message,
            }
        }
        // A date far from the others (9999-12-31, a typo) makes the calendar's range too
        // long: name the row holding the range's end that is out of line.
        liftos::Error::Calendar(C::InvalidRange { start, end, reason }) => {
            let texts = table
                .column_by_name(&args.time)
                .and_then(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).ok());
            let row_of = |day: chrono::NaiveDate| -> Option<usize> {
                use arrow::array::{Array, AsArray};
                let t = texts.as_ref()?.as_string::<i32>();
                let want = day.format("%Y-%m-%d").to_string();
                (0..t.len()).find(|&i| !t.is_null(i) && t.value(i).trim() == want)
            };
            // The end far in the future is the likelier typo; else the start.
            let far =
                if chrono::Datelike::year(&end) > 2100 || chrono::Datelike::year(&start) >= 1900 {
                    end
                } else {
                    start
                };
            let row = row_of(far);
            liftos::Error::Input {
                path,
                row: row.map(|r| r + 1),
                field: args.time.clone(),
                message: format!(
                    "the dates run from {start} to {end} ({reason}); {far}{} is likely a typo: \
                     fix or remove it (`liftos clean` quarantines dates after tomorrow)",
                    row.map_or(String::new(), |r| format!(
                        " (row {} of the data, the header not counted)",
                        r + 1
                    ))
                ),
            }
        }
        liftos::Error::Calendar(c @ C::ColumnType { .. }) => liftos::Error::Input {
            path,
            row: None,
            field: args.time.clone(),
            message: c.to_string(),
        },
        other => other,
    }
}

/// The flags to pass when role columns are missing but the file has them in another case
/// or with spaces around (`Date` for `date`): "; did you mean `Date` for `date`? ... pass
/// --time Date", or nothing.
fn role_case_hint(args: &Args, schema: &arrow::datatypes::Schema) -> String {
    let mut roles: Vec<(&str, Vec<&str>)> = vec![
        ("--time", vec![args.time.as_str()]),
        ("--channel", vec![args.channel.as_str()]),
    ];
    if args.entity != "none" {
        roles.push(("--entity", vec![args.entity.as_str()]));
    }
    roles.push((
        "--treatment",
        args.treatment.iter().map(String::as_str).collect(),
    ));
    roles.push((
        "--outcome",
        args.outcome.iter().map(String::as_str).collect(),
    ));
    let (mut found, mut flags) = (Vec::new(), Vec::new());
    for (flag, names) in roles {
        let mut changed = false;
        let values: Vec<String> = names
            .iter()
            .map(|&name| {
                if schema.field_with_name(name).is_ok() {
                    return name.to_owned();
                }
                match schema
                    .fields()
                    .iter()
                    .find(|f| f.name().trim().eq_ignore_ascii_case(name.trim()))
                {
                    Some(f) => {
                        changed = true;
                        found.push(format!("`{}` for `{name}`", f.name()));
                        f.name().clone()
                    }
                    None => name.to_owned(),
                }
            })
            .collect();
        if changed {
            let value = values.join(",");
            let simple = value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-,.".contains(c));
            flags.push(if simple {
                format!("{flag} {value}")
            } else {
                format!("{flag} '{value}'")
            });
        }
    }
    if found.is_empty() {
        return String::new();
    }
    format!(
        "; did you mean {}? Column names must match exactly: pass {} (or rename the columns)",
        found.join(", "),
        flags.join(" ")
    )
}

/// One sentence per treatment column holding negative values (a refund, a credit, a
/// typo): the effect of spend is estimated as if they were real negative spend.
fn negative_treatment_warnings(
    table: &arrow::array::RecordBatch,
    treatments: &[String],
) -> Vec<String> {
    use arrow::array::{Array, AsArray};
    let mut out = Vec::new();
    for name in treatments {
        let Some(column) = table.column_by_name(name) else {
            continue;
        };
        let Ok(values) = arrow::compute::cast(column, &arrow::datatypes::DataType::Float64) else {
            continue;
        };
        let values = values.as_primitive::<arrow::datatypes::Float64Type>();
        let negative = (0..values.len())
            .filter(|&i| values.is_valid(i) && values.value(i) < 0.0)
            .count();
        if negative > 0 {
            out.push(format!(
                "`{name}` is negative in {negative} row(s) (refunds or typos?); they are analysed as \
                 negative spend. `liftos validate` lists them; `liftos clean` quarantines them"
            ));
        }
    }
    out
}

/// `response` with each `--pin-curve` value's transform fixed.
fn pin_curves(response: ResponseOptions, pins: &[String]) -> liftos::Result<ResponseOptions> {
    pins.iter().try_fold(response, |r, p| {
        let (channel, transform) = liftos::causal::ResponseTransform::parse_pin(p)?;
        Ok(r.pin(channel, transform))
    })
}
