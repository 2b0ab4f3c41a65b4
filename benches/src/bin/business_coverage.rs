//! `business_coverage [--seeds N] [--first-seed S] [--bootstrap B] [--presets a,b,c]
//! [--per-world] [--channel-totals] [--oracle-curves] [--calendar-config FILE]
//! [--no-common-spend] [--budget-shock-only] [--adstock-grid D1,D2,…] [--knot-days N]
//! [--level-selection] [--no-flights] [--equal-returns] [--constant-returns]
//! [--constant-weekend-return] [--constant-holiday-return] [--weekend-return]`: the
//! business-level analysis (`liftos analyze --business-outcome`) on sandbox worlds of each
//! preset, against the re-simulated truth: per channel the mean relative error of the
//! switch-off iROAS and the coverage of its 95% interval, the zero-effect channel's
//! false-positive rate, the baseline share's coverage, the worlds with the placebo's
//! warning (`placebo_warning`, the count in the `worlds` column), and the seconds per fit.
//!
//! Columns: `mean_rel_error`, `coverage` and `significant` of the switch-off iROAS;
//! `median_rel_width` the median width of its interval over the truth (absolute width for
//! the zero-effect channel); `m_error`, `m_coverage` and `m_median_rel_width` the same for
//! the marginal return (against the sandbox's `business_marginal_roas`; the switch-off against
//! `business_incremental_roas`: the business total's truth); `plausible` the mean
//! number of plausible transforms reported. `--per-world` also prints every world's
//! estimates and intervals to standard error. Each channel's campaigns (their daily spend
//! and platform-reported revenue, [`BusinessData::with_campaigns`]) are given, as the
//! facade gives them from the unified table; `--channel-totals` leaves them out (each
//! channel's daily total alone). `--oracle-curves` pins every channel's transform to its
//! world's own (what the error would be with the curve known). `--no-common-spend` runs
//! without the control for hidden demand ([`BusinessOptions::common_spend`]);
//! `--budget-shock-only` keeps a preset's latent shock on the budgets and takes it off
//! demand (`LatentShock::baseline_elasticity` 0: budgets that move together for no
//! reason of demand, what that control must not pay much for). `--adstock-grid` replaces
//! the decays searched (`BusinessOptions::default_response`'s 0, 0.2, …, 0.8);
//! `--knot-days N` the spacing of the baseline's level knots (`BusinessOptions::knot_days`,
//! the finest searched with `--level-selection`); `--level-selection` lets the data choose
//! among none, 4N, 2N and N (`BusinessOptions::level_selection`) instead of keeping N. The
//! `level` row of each preset counts the worlds per chosen spacing (`days:worlds`);
//! `--weekend-return` lets the data choose the weekend's change of the return
//! (`BusinessOptions::weekend_return`), and a `weekend_return` row counts the values chosen.
//! `--no-flights` runs every campaign over the whole window (no late starts or early
//! ends); `--equal-returns` gives every campaign its channel's return (multiplier 1);
//! `--constant-returns` takes the weekend and holiday changes of the return out
//! (`WorldConfig::weekend_effect` and `holiday_effect` 0), `--constant-weekend-return` and
//! `--constant-holiday-return` one of them each.
//!
//! The calendar flags are the facade's: one baseline flag per named US holiday, commercial
//! event and peak season (liftos-calendar), the seasons those of `--calendar-config` when
//! given (e.g. the business's own Q4; the sandbox's demand is up from November 15 to
//! December 24, the calendar's default seasons are Black Friday week and December). For
//! the zero-effect channel the error column is the mean absolute iROAS (its truth is 0).

use std::collections::BTreeMap;
use std::time::Instant;

use liftos_benches::{BoxError, arg, median, world_curves};
use liftos_calendar::arrow::array::{Array, ArrayRef, AsArray};
use liftos_calendar::arrow::compute::cast;
use liftos_calendar::arrow::datatypes::DataType;
use liftos_calendar::{CalendarDimension, CalendarOptions};
use liftos_causal::ResponseTransform;
use liftos_causal::business::{BusinessData, BusinessOptions, CampaignSeries};
use liftos_sandbox::{Intervention, Preset, World, WorldConfig};

fn data(
    world: &World,
    campaigns: bool,
    options: &CalendarOptions,
) -> Result<BusinessData, BoxError> {
    let days = world.business_days(Intervention::None)?;
    let (first, last) = (days[0].date, days[days.len() - 1].date);
    let n = days.len();
    let spend = world.channel_spend();
    let calendar = CalendarDimension::create_calendar(first, last, options)?;
    let mut named: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    // One flag per configured season, overlaps included (as the facade has them).
    for season in &options.business.peak_seasons {
        let Some(c) = calendar.column_by_name(&format!("season_{}", season.name)) else {
            continue;
        };
        let flags = c.as_boolean();
        let days: Vec<bool> = (0..n)
            .map(|i| i < flags.len() && flags.is_valid(i) && flags.value(i))
            .collect();
        if days.iter().any(|d| *d) {
            named.insert(format!("peak_season:{}", season.name), days);
        }
    }
    for column in ["holiday_name", "event_name"] {
        let Some(c) = calendar.column_by_name(column) else {
            continue;
        };
        let text = arrow_text(c)?;
        for (i, v) in text.iter().enumerate().take(n) {
            if let Some(v) = v {
                named
                    .entry(format!("{column}:{v}"))
                    .or_insert_with(|| vec![false; n])[i] = true;
            }
        }
    }
    let data = BusinessData::new(
        days.iter()
            .map(|d| liftos_calendar::naive_to_date32(d.date))
            .collect(),
        days.iter().map(|d| d.revenue).collect(),
        spend.channels,
        spend.spend,
        Vec::new(),
        Vec::new(),
    )?
    .with_platform_revenue(spend.platform_revenue)
    .with_day_flags(named.into_iter().collect());
    if !campaigns {
        return Ok(data);
    }
    // Each channel's campaigns (by name), as the unified table's rows give them.
    let per_channel = world.campaign_spend_with(CampaignSeries::new);
    Ok(data.with_campaigns(per_channel)?)
}

/// A calendar column as text per day (`None` for nulls and empty names).
fn arrow_text(c: &ArrayRef) -> Result<Vec<Option<String>>, BoxError> {
    let t = cast(c, &DataType::Utf8)?;
    let t = t.as_string::<i32>();
    Ok((0..t.len())
        .map(|i| (t.is_valid(i) && !t.value(i).is_empty()).then(|| t.value(i).to_string()))
        .collect())
}

/// One channel's tallies over the worlds of a preset.
#[derive(Default)]
struct Stats {
    worlds: usize,
    error: f64,
    covered: usize,
    significant: usize,
    widths: Vec<f64>,
    m_error: f64,
    m_covered: usize,
    m_widths: Vec<f64>,
    plausible: usize,
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u64 = arg(&args, "--seeds", 20)?;
    let first: u64 = arg(&args, "--first-seed", 1)?;
    let bootstrap: usize = arg(&args, "--bootstrap", 199)?;
    let presets: String = arg(
        &args,
        "--presets",
        "spillover,saturation,carryover,realistic".to_string(),
    )?;
    let per_world = args.iter().any(|a| a == "--per-world");
    let campaigns = !args.iter().any(|a| a == "--channel-totals");
    let oracle = args.iter().any(|a| a == "--oracle-curves");
    let common_spend = !args.iter().any(|a| a == "--no-common-spend");
    let budget_shock_only = args.iter().any(|a| a == "--budget-shock-only");
    let no_flights = args.iter().any(|a| a == "--no-flights");
    let equal_returns = args.iter().any(|a| a == "--equal-returns");
    let constant_returns = args.iter().any(|a| a == "--constant-returns");
    let weekend_return = args.iter().any(|a| a == "--weekend-return");
    let constant_weekend =
        constant_returns || args.iter().any(|a| a == "--constant-weekend-return");
    let constant_holiday =
        constant_returns || args.iter().any(|a| a == "--constant-holiday-return");
    // The baseline's calendar: a `liftos calendar --config` file (`--calendar-config`, as
    // `liftos analyze --calendar-config` takes it), or the defaults with US holidays.
    let calendar = match args
        .iter()
        .position(|a| a == "--calendar-config")
        .and_then(|i| args.get(i + 1))
    {
        Some(path) => CalendarOptions::from_toml_file(path)?,
        None => CalendarOptions::default().with_country("US"),
    };
    let mut options = BusinessOptions {
        common_spend,
        ..BusinessOptions::default().with_bootstrap(bootstrap)
    };
    // `--knot-days N`: the spacing of the baseline's piecewise-linear level
    // (`BusinessOptions::knot_days`, 28; 0: none).
    options.knot_days = arg(&args, "--knot-days", options.knot_days)?;
    options.level_selection = args.iter().any(|a| a == "--level-selection");
    options.weekend_return = weekend_return;
    // `--adstock-grid D1,D2,…`: the decays searched (`ResponseOptions::adstock_grid`).
    if let Some(list) = args
        .iter()
        .position(|a| a == "--adstock-grid")
        .map(|i| {
            args.get(i + 1)
                .ok_or("--adstock-grid needs a list such as 0,0.2,0.9")
        })
        .transpose()?
    {
        options.response.adstock_grid = list
            .split(',')
            .map(|d| d.trim().parse::<f64>())
            .collect::<Result<Vec<f64>, _>>()
            .map_err(|e| format!("--adstock-grid: {e}"))?;
    }
    println!(
        "preset,channel,worlds,mean_rel_error,coverage,significant,median_rel_width,m_error,m_coverage,m_median_rel_width,plausible,seconds_per_fit"
    );
    for name in presets.split(',') {
        let preset = Preset::parse(name)?;
        let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
        let mut share = (0usize, 0usize);
        let mut placebo_warned = 0usize;
        let mut levels: BTreeMap<usize, usize> = BTreeMap::new();
        let mut weekends: BTreeMap<String, usize> = BTreeMap::new();
        let mut seconds = 0.0;
        for seed in first..first + seeds {
            let mut config = WorldConfig::preset(preset, seed);
            if budget_shock_only && let Some(shock) = &mut config.latent_shock {
                shock.baseline_elasticity = 0.0;
            }
            if equal_returns {
                for ch in &mut config.channels {
                    for k in &mut ch.campaigns {
                        k.roas_multiplier = 1.0;
                    }
                }
            }
            if constant_weekend {
                config.weekend_effect = 0.0;
            }
            if constant_holiday {
                config.holiday_effect = 0.0;
            }
            if no_flights {
                for ch in &mut config.channels {
                    for k in &mut ch.campaigns {
                        k.flight_start = None;
                        k.flight_end = None;
                    }
                }
            }
            let world = World::generate(&config)?;
            let d = data(&world, campaigns, &calendar)?;
            let t0 = Instant::now();
            let r = if oracle {
                let pinned = options
                    .clone()
                    .with_response(world_curves(&world, BusinessOptions::default_response()));
                liftos_causal::analyze_business(&d, &pinned, &[])?
            } else {
                liftos_causal::analyze_business(&d, &options, &[])?
            };
            seconds += t0.elapsed().as_secs_f64();
            let setting = |key: &str| {
                r.results
                    .settings
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or(String::new(), |(_, v)| v.clone())
            };
            *levels
                .entry(setting("knot_days").parse().unwrap_or(usize::MAX))
                .or_default() += 1;
            if weekend_return {
                *weekends.entry(setting("weekend_return")).or_default() += 1;
            }
            if per_world {
                eprintln!(
                    "{name} seed {seed} level: {} days (searched: {})",
                    setting("knot_days"),
                    setting("knot_days_searched")
                );
                let p = r
                    .results
                    .settings
                    .iter()
                    .find(|(k, _)| k == "common_spend_p")
                    .map_or("", |(_, v)| v.as_str());
                if let Some(pl) = &r.results.diagnostics.placebo {
                    eprintln!(
                        "{name} seed {seed} {}: {:.4} [{:.4}, {:.4}] p {:.5}",
                        pl.name, pl.estimate, pl.ci_lower, pl.ci_upper, pl.p_value
                    );
                }
                eprintln!(
                    "{name} seed {seed} common spend p {p}: {}",
                    r.common_spend.map_or_else(
                        || "none".to_string(),
                        |c| format!(
                            "ratio {:.2} over {} entities, correlation {:.3}",
                            c.variance_ratio, c.entities, c.correlation
                        )
                    )
                );
            }
            for c in &r.results.channels {
                let Some(t) = world.truth().channel(&c.channel) else {
                    continue;
                };
                // The business-level truth: the channel's effect on the business total,
                // its carryover on days without a row included.
                let (t_switch_off, t_marginal) =
                    (t.business_incremental_roas, t.business_marginal_roas);
                if per_world && let Some(resp) = &c.response {
                    eprintln!(
                        "{name} seed {seed} {}: iROAS {:.2} [{:.2}, {:.2}] truth {:.2} | mROAS {:.2} [{:.2}, {:.2}] truth {:.2} | {} plausible, range {:.2}..{:.2}, {}{} (world: {})",
                        c.channel,
                        c.incremental_roas,
                        c.incremental_roas_ci_lower,
                        c.incremental_roas_ci_upper,
                        t_switch_off,
                        c.marginal_roas,
                        resp.marginal_roas_ci_lower,
                        resp.marginal_roas_ci_upper,
                        t_marginal,
                        resp.plausible_transforms,
                        resp.switch_off_range.0,
                        resp.switch_off_range.1,
                        resp.transform.describe(),
                        if decay_warned(&r.results, &c.channel) {
                            " [warned: the longest decay searched]"
                        } else {
                            ""
                        },
                        world_curves(&world, BusinessOptions::default_response())
                            .pinned
                            .get(&c.channel)
                            .map_or_else(String::new, ResponseTransform::describe)
                    );
                }
                let e = stats.entry(c.channel.clone()).or_default();
                e.worlds += 1;
                let rel = |v: f64, truth: f64| {
                    if t.zero_effect {
                        v.abs()
                    } else {
                        v.abs() / truth
                    }
                };
                e.error += rel(c.incremental_roas - t_switch_off, t_switch_off);
                e.covered += usize::from(
                    c.incremental_roas_ci_lower <= t_switch_off
                        && t_switch_off <= c.incremental_roas_ci_upper,
                );
                e.significant += usize::from(c.ci_lower > 0.0 || c.ci_upper < 0.0);
                e.widths.push(rel(
                    c.incremental_roas_ci_upper - c.incremental_roas_ci_lower,
                    t_switch_off,
                ));
                if let Some(resp) = &c.response {
                    let m = t_marginal;
                    e.m_error += rel(c.marginal_roas - m, m);
                    e.m_covered += usize::from(
                        resp.marginal_roas_ci_lower <= m && m <= resp.marginal_roas_ci_upper,
                    );
                    e.m_widths.push(rel(
                        resp.marginal_roas_ci_upper - resp.marginal_roas_ci_lower,
                        m,
                    ));
                    e.plausible += resp.plausible_transforms;
                }
            }
            placebo_warned += usize::from(
                r.results
                    .diagnostics
                    .warnings
                    .iter()
                    .any(|w| w.starts_with("Placebo check failed")),
            );
            let truth = world.business_truth()?.baseline_share;
            share.0 += 1;
            share.1 += usize::from(
                r.baseline_share.ci_lower <= truth && truth <= r.baseline_share.ci_upper,
            );
        }
        let fits = seeds.max(1) as f64;
        for (channel, e) in &mut stats {
            let k = e.worlds as f64;
            println!(
                "{name},{channel},{k},{:.3},{:.2},{:.2},{:.2},{:.3},{:.2},{:.2},{:.1},{:.1}",
                e.error / k,
                e.covered as f64 / k,
                e.significant as f64 / k,
                median(&e.widths),
                e.m_error / k,
                e.m_covered as f64 / k,
                median(&e.m_widths),
                e.plausible as f64 / k,
                seconds / fits
            );
        }
        println!(
            "{name},baseline_share,{},,{:.2},,,,,,,",
            share.0,
            share.1 as f64 / share.0.max(1) as f64
        );
        // Worlds with the placebo's warning, in the `worlds` column.
        println!("{name},placebo_warning,{placebo_warned},,,,,,,,,");
        // Worlds per chosen knot spacing (days:worlds), in the `worlds` column.
        let chosen: Vec<String> = levels.iter().map(|(d, k)| format!("{d}:{k}")).collect();
        println!("{name},level,{},,,,,,,,,", chosen.join(" "));
        // With `--weekend-return`, worlds per chosen weekend change (value:worlds).
        if weekend_return {
            let chosen: Vec<String> = weekends.iter().map(|(w, k)| format!("{w}:{k}")).collect();
            println!("{name},weekend_return,{},,,,,,,,,", chosen.join(" "));
        }
    }
    Ok(())
}

/// Whether the results warn that `channel`'s carryover decay is the longest searched.
fn decay_warned(results: &liftos_causal::AttributionResults, channel: &str) -> bool {
    let prefix = format!("`{channel}`: its carryover decay came out at");
    results
        .diagnostics
        .warnings
        .iter()
        .any(|w| w.starts_with(&prefix))
}
