//! `liftos plan`.

use std::path::PathBuf;

use liftos::analysis::format_plan;
use liftos::causal::plan::{Objective, PlanInput, PlanOptions, plan_from_input};

/// Arguments of `liftos plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The results JSON of `liftos analyze --json` (or a pipeline's results.json).
    #[arg(long)]
    results: PathBuf,
    /// Total spend to split, for the period (the data's window unless --period-days).
    #[arg(long, allow_negative_numbers = true)]
    budget: f64,
    /// Write plan.json here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Days the budget covers (the curves are scaled from the data's window).
    #[arg(long)]
    period_days: Option<u32>,
    /// Least spend of a channel for the period, CHANNEL=AMOUNT (repeatable, each channel
    /// once).
    #[arg(long = "min", value_name = "CHANNEL=AMOUNT")]
    min: Vec<String>,
    /// Most spend of a channel for the period, CHANNEL=AMOUNT (repeatable, each channel
    /// once).
    #[arg(long = "max", value_name = "CHANNEL=AMOUNT")]
    max: Vec<String>,
    /// Keep a channel at its current spend (repeatable, each channel once).
    #[arg(long = "hold", value_name = "CHANNEL")]
    hold: Vec<String>,
    /// What to maximise: `revenue` (spend the budget), `profit` (margin × incremental
    /// revenue − spend) or `target_roas` (revenue keeping iROAS ≥ --target-roas).
    #[arg(long, default_value = "revenue")]
    objective: String,
    /// The iROAS the plan must keep; required with `--objective target_roas`, refused
    /// with the others.
    #[arg(long, allow_negative_numbers = true)]
    target_roas: Option<f64>,
    /// Profit per unit of incremental revenue, a share in (0, 1] (0.4 = 40%; 1 when the
    /// outcome is already profit); required with `--objective profit`, refused with the
    /// others.
    #[arg(long, allow_negative_numbers = true)]
    margin: Option<f64>,
    /// Most relative move of a channel from its current spend, a share in [0, 1]
    /// (0.5 = ±50%; past 1 there is no bound left: spend is never below 0 nor past the
    /// response curve, 2× what the channel spent).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    max_change: f64,
}

/// Each channel once in `flag`'s values: a repeated one is an error naming the flag and
/// the channel, never the last value silently kept.
fn once<'a>(flag: &'static str, channels: impl IntoIterator<Item = &'a str>) -> liftos::Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for ch in channels {
        if !seen.insert(ch) {
            return Err(liftos::causal::Error::InvalidParameter {
                name: flag,
                value: format!("`{ch}` given twice"),
                expected: format!("each channel once in {flag}"),
            }
            .into());
        }
    }
    Ok(())
}

/// The planner's error with the field it names written as this command's flag
/// (`margin` → `--margin`), so that the message names what the user typed.
fn flag_named(e: liftos::causal::Error) -> liftos::causal::Error {
    match e {
        liftos::causal::Error::InvalidParameter {
            name,
            value,
            expected,
        } => {
            let name = match name {
                "margin" => "--margin",
                "target_roas" => "--target-roas",
                "max_change" => "--max-change",
                "objective" => "--objective",
                "budget" => "--budget",
                "period_days" => "--period-days",
                other => other,
            };
            liftos::causal::Error::InvalidParameter {
                name,
                value,
                expected,
            }
        }
        other => other,
    }
}

/// `CHANNEL=AMOUNT` pairs, each channel once; the error names the flag and the pair.
fn pairs(flag: &'static str, values: &[String]) -> liftos::Result<Vec<(String, f64)>> {
    let pairs = values
        .iter()
        .map(|v| {
            let parsed = v.split_once('=').and_then(|(ch, x)| {
                let amount: f64 = x.trim().parse().ok()?;
                (!ch.trim().is_empty()).then(|| (ch.trim().to_string(), amount))
            });
            parsed.ok_or_else(|| {
                liftos::causal::Error::InvalidParameter {
                    name: flag,
                    value: v.clone(),
                    expected: "CHANNEL=AMOUNT, e.g. meta=5000".into(),
                }
                .into()
            })
        })
        .collect::<liftos::Result<Vec<_>>>()?;
    once(flag, pairs.iter().map(|(ch, _)| ch.as_str()))?;
    Ok(pairs)
}

pub fn run(args: Args) -> liftos::Result<()> {
    if let Some(out) = &args.out {
        liftos::io::check_distinct_files(&[("--results", &args.results)], &[("--out", out)])?;
    }
    // A margin outside (0, 1] (1e305 overflowed the profit), `--objective profit`
    // without one, and `--margin`/`--target-roas` with an objective that would ignore
    // them are refused here, each naming its flag.
    let objective =
        Objective::parse(&args.objective, args.margin, args.target_roas).map_err(flag_named)?;
    let mut options = PlanOptions::new(args.budget)
        .with_max_change(args.max_change)
        .with_objective(objective);
    options.period_days = args.period_days;
    for (ch, x) in pairs("--min", &args.min)? {
        options = options.with_min(&ch, x);
    }
    for (ch, x) in pairs("--max", &args.max)? {
        options = options.with_max(&ch, x);
    }
    once("--hold", args.hold.iter().map(String::as_str))?;
    for ch in &args.hold {
        options = options.with_hold(ch);
    }
    options.validate().map_err(flag_named)?;
    let path = args.results.display().to_string();
    let text = liftos_core::fs::read_limited(&args.results, liftos_core::fs::MAX_WHOLE_FILE)
        .map_err(|source| liftos::Error::Io {
            path: path.clone(),
            source,
        })?;
    let results: serde_json::Value =
        serde_json::from_slice(&text).map_err(|source| liftos::Error::Json {
            path: path.clone(),
            source,
        })?;
    let input = PlanInput::from_json(&results).map_err(|e| liftos::Error::Io {
        path: path.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    })?;
    let plan = plan_from_input(&input, &options).map_err(flag_named)?;
    print!("{}", format_plan(&plan));
    if let Some(out) = &args.out {
        liftos::io::write_json_atomically(out, &plan.to_json())?;
        println!("Wrote {}", out.display());
    }
    Ok(())
}
