//! Harness: `liftos analyze` defaults on audit 46a's CSV worlds without the CLI (the
//! response search's off-grid curves, issue 17; README, "Saturation and carryover").
//!
//! ```text
//! cargo run --release -p liftos-benches --bin audit_curve -- DIR NAME...
//!     [--pin CHANNEL=CURVE] [--no-refine] [--refine-gate X]
//! ```
//! Reads DIR/NAME.csv (date, channel, campaign, spend, revenue), adds the US calendar
//! flags as the CLI does, runs `prepare_causal_data` + `analyze_attribution` with the
//! defaults, and prints each channel's estimates against DIR/NAME.truth.json (`iroas`,
//! `mroas` per channel), with `ok`/`MISS` for the intervals. `--no-refine`: the grid
//! alone (`ResponseOptions::refine = false`); `--refine-gate X`: the refinement's gate
//! (`ResponseOptions::refine_gate`; 0 = the refinement before the gate). A NAME
//! `sat:SEED` runs the saturation preset's world SEED with Meta's curve between the
//! grid's points instead.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Date32Array, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use liftos_calendar::{CalendarOptions, add_calendar_flags};
use liftos_causal::{
    AttributionOptions, CausalRoles, ResponseOptions, ResponseTransform, analyze_attribution,
    prepare_causal_data,
};

fn read(path: &str) -> RecordBatch {
    let text = std::fs::read_to_string(path).expect("csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).expect(n);
    let (cd, cc, cp, cs, cr) = (
        col("date"),
        col("channel"),
        col("campaign"),
        col("spend"),
        col("revenue"),
    );
    let epoch = liftos_calendar::chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let (mut d, mut ch, mut camp, mut s, mut r) = (vec![], vec![], vec![], vec![], vec![]);
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let date =
            liftos_calendar::chrono::NaiveDate::parse_from_str(f[cd], "%Y-%m-%d").expect("date");
        d.push((date - epoch).num_days() as i32);
        ch.push(f[cc].to_string());
        camp.push(f[cp].to_string());
        s.push(f[cs].parse::<f64>().expect("spend"));
        r.push(f[cr].parse::<f64>().expect("revenue"));
    }
    let schema = Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("campaign", DataType::Utf8, false),
        Field::new("spend", DataType::Float64, false),
        Field::new("revenue", DataType::Float64, false),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from(d)),
        Arc::new(StringArray::from(ch)),
        Arc::new(StringArray::from(camp)),
        Arc::new(Float64Array::from(s)),
        Arc::new(Float64Array::from(r)),
    ];
    RecordBatch::try_new(Arc::new(schema), cols).expect("batch")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = &args[0];
    let mut names = vec![];
    let mut response = ResponseOptions::auto();
    let mut i = 1;
    while i < args.len() {
        if args[i] == "--pin" {
            let (c, t) = ResponseTransform::parse_pin(&args[i + 1]).expect("pin");
            response = response.pin(c, t);
            i += 2;
        } else if args[i] == "--refine-gate" {
            response.refine_gate = args[i + 1].parse().expect("--refine-gate X");
            i += 2;
        } else if args[i] == "--no-refine" {
            response.refine = false;
            i += 1;
        } else {
            names.push(args[i].clone());
            i += 1;
        }
    }
    for name in names {
        if let Some(seed) = name.strip_prefix("sat:") {
            sandbox(seed.parse().expect("seed"), &response);
            continue;
        }
        let table = read(&format!("{dir}/{name}.csv"));
        let table = add_calendar_flags(
            &table,
            "date",
            &CalendarOptions::default().with_country("US"),
        )
        .expect("calendar");
        let roles = CausalRoles::new(["spend"], ["revenue"], &[] as &[&str])
            .with_time_variable(Some("date"))
            .with_entity_variable(Some("campaign"))
            .with_channel_variable(Some("channel"));
        let options = AttributionOptions::default().with_response(response.clone());
        let t0 = Instant::now();
        let panel = prepare_causal_data(&table, &roles).expect("panel");
        let att = analyze_attribution(&panel, &options).expect("analysis");
        let secs = t0.elapsed().as_secs_f64();
        let truth: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}/{name}.truth.json")).expect("truth"),
        )
        .expect("truth json");
        let res = &att.results[0];
        println!("== {name} ({secs:.1}s)");
        for c in &res.channels {
            let t = &truth["channels"][&c.channel];
            let (ti, tm) = (
                t["iroas"].as_f64().unwrap_or(f64::NAN),
                t["mroas"].as_f64().unwrap_or(f64::NAN),
            );
            let (mlo, mhi, tr, np, rng) = c.response.as_ref().map_or(
                (f64::NAN, f64::NAN, String::new(), 0, (f64::NAN, f64::NAN)),
                |r| {
                    (
                        r.marginal_roas_ci_lower,
                        r.marginal_roas_ci_upper,
                        r.transform.pin_text(),
                        r.plausible_transforms,
                        r.switch_off_range,
                    )
                },
            );
            let cov = |v: f64, lo: f64, hi: f64| if lo <= v && v <= hi { "ok" } else { "MISS" };
            let warned = res
                .diagnostics
                .warnings
                .iter()
                .any(|w| w.contains(&format!("`{}`", c.channel)) && w.contains("pin down"));
            let in_rng = rng.0 <= ti && ti <= rng.1;
            println!(
                "  {:8} iROAS {:6.2} est {:6.2} [{:6.2},{:6.2}] {:4} | mROAS {:6.2} est {:6.2} [{:6.2},{:6.2}] {:4} | {} n={} range [{:.2},{:.2}]{}{}",
                c.channel,
                ti,
                c.incremental_roas,
                c.incremental_roas_ci_lower,
                c.incremental_roas_ci_upper,
                cov(ti, c.incremental_roas_ci_lower, c.incremental_roas_ci_upper),
                tm,
                c.marginal_roas,
                mlo,
                mhi,
                cov(tm, mlo, mhi),
                tr,
                np,
                rng.0,
                rng.1,
                if warned { " WARN" } else { "" },
                if warned && in_rng {
                    "(truth in range)"
                } else {
                    ""
                },
            );
        }
    }
}

/// The saturation preset's world `seed` with Meta's curve set to a Hill curve between the
/// grid's points (half-saturation 2.5 × budget, shape 3), analysed as the causal tests do.
fn sandbox(seed: u64, response: &ResponseOptions) {
    use liftos_causal::{Adstock, AttributionModel, CausalForestParams};
    use liftos_sandbox::{Preset, Saturation, World, WorldConfig};
    let mut config = WorldConfig::preset(Preset::Saturation, seed);
    for c in &mut config.channels {
        if c.name == "meta" {
            c.saturation = Saturation::Hill {
                half_saturation: 2.5,
                shape: 3.0,
            };
        }
    }
    let world = World::generate(&config).expect("world");
    let table = world.unified_table_with_calendar_flags().expect("table");
    let roles = CausalRoles::default().with_adstock(Adstock::Auto);
    let panel = prepare_causal_data(&table, &roles).expect("panel");
    let options = AttributionOptions::default()
        .with_model(AttributionModel::CausalForest(
            CausalForestParams::default().with_num_trees(300),
        ))
        .with_cross_validation(false)
        .with_response(response.clone())
        .with_seed(1);
    let t0 = Instant::now();
    let att = analyze_attribution(&panel, &options).expect("analysis");
    println!("== sat:{seed} ({:.1}s)", t0.elapsed().as_secs_f64());
    let res = &att.results[0];
    for c in &res.channels {
        let t = world.truth().channel(&c.channel).expect("truth");
        let r = c.response.as_ref();
        let warned = res
            .diagnostics
            .warnings
            .iter()
            .any(|w| w.contains(&format!("`{}`", c.channel)) && w.contains("pin down"));
        println!(
            "  {:10} iROAS {:6.2} est {:6.2} [{:6.2},{:6.2}] | mROAS {:6.2} est {:6.2} [{:6.2},{:6.2}] | {} n={} range {:?}{}",
            c.channel,
            t.incremental_roas,
            c.incremental_roas,
            c.incremental_roas_ci_lower,
            c.incremental_roas_ci_upper,
            t.marginal_roas_total,
            c.marginal_roas,
            r.map_or(f64::NAN, |r| r.marginal_roas_ci_lower),
            r.map_or(f64::NAN, |r| r.marginal_roas_ci_upper),
            r.map_or(String::new(), |r| r.transform.pin_text()),
            r.map_or(0, |r| r.plausible_transforms),
            r.map(|r| r.switch_off_range),
            if warned { " WARN" } else { "" },
        );
    }
}
