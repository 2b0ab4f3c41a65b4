//! The business-level analysis against the sandbox's truth: the business's own revenue as
//! the outcome, every channel's spend at once.

use chrono::NaiveDate;
use liftos_causal::analyze_business;
use liftos_causal::business::{
    BusinessData, BusinessOptions, BusinessResults, CampaignSeries, LiftTest, SpendRow,
};
use liftos_sandbox::{Intervention, Preset, World, WorldConfig};

/// Asserts that `result` is an error whose message contains each of `parts`.
#[track_caller]
fn assert_error<T>(result: liftos_causal::Result<T>, parts: &[&str]) {
    match result {
        Ok(_) => panic!("no error, where one should say {parts:?}"),
        Err(e) => {
            let e = e.to_string();
            assert!(parts.iter().all(|p| e.contains(p)), "{e}");
        }
    }
}

fn date32(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
}

/// `BusinessData::from_spend_rows` on the world's rows gives the sandbox's own daily sums:
/// each channel's spend and platform revenue and its campaigns' (channels in the order of
/// their first day, then by name, whatever the rows' order); a row outside the days is left out; an iROAS lift test becomes
/// revenue with the channel's spend over its window, and an unknown channel is an error
/// naming the channels there are.
#[test]
fn spend_rows_give_the_sandboxs_own_daily_sums() {
    let world = World::generate(&WorldConfig::preset(Preset::Linear, 1)).unwrap();
    let want = business_data_with_campaigns(&world);
    let before = NaiveDate::from_ymd_opt(2023, 12, 31).unwrap();
    assert_eq!(date32(before) + 1, want.dates[0]);
    let after = date32(before) + 1 + want.dates.len() as i32;
    assert_eq!(after, want.dates.last().unwrap() + 1);
    // The rows backwards, so that the order channels first appear in is not their names'.
    let all: Vec<_> = world.rows().collect();
    fn spend_row<'a>(r: &liftos_sandbox::WorldRow<'a>) -> SpendRow<'a> {
        SpendRow {
            date: date32(r.date),
            channel: r.channel,
            campaign: Some(r.campaign),
            spend: r.spend,
            platform_revenue: r.revenue,
        }
    }
    let outside = |date: i32| SpendRow {
        date,
        channel: "meta",
        campaign: Some("outside"),
        spend: 1e6,
        platform_revenue: 1e6,
    };
    let rows = all
        .iter()
        .rev()
        .map(spend_row)
        .chain([outside(date32(before)), outside(after)]);
    let got = BusinessData::from_spend_rows(
        want.dates.clone(),
        want.revenue.clone(),
        rows,
        want.holiday.clone(),
        want.event.clone(),
    )
    .unwrap();
    // The rows' own order changes nothing: the same data, bit for bit, as from the rows
    // in the world's order, channels in the order of their first day, then by name.
    let forward = BusinessData::from_spend_rows(
        want.dates.clone(),
        want.revenue.clone(),
        all.iter().map(spend_row),
        want.holiday.clone(),
        want.event.clone(),
    )
    .unwrap();
    assert_eq!(got, forward);
    let mut first_day: Vec<(chrono::NaiveDate, &str)> = Vec::new();
    for r in &all {
        match first_day.iter_mut().find(|(_, c)| *c == r.channel) {
            Some(f) => f.0 = f.0.min(r.date),
            None => first_day.push((r.date, r.channel)),
        }
    }
    first_day.sort();
    assert_eq!(
        got.channels,
        first_day.iter().map(|(_, c)| *c).collect::<Vec<_>>()
    );
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    for (c, name) in got.channels.iter().enumerate() {
        let w = want.channels.iter().position(|x| x == name).unwrap();
        assert!(
            close(got.platform_revenue[c], want.platform_revenue[w]),
            "{name}"
        );
        let days = got.spend[c].iter().zip(&want.spend[w]);
        assert!(days.clone().all(|(a, b)| close(*a, *b)), "{name}");
        let (ks, kw) = (&got.campaigns[c], &want.campaigns[w]);
        assert!(!ks.is_empty() && ks.len() == kw.len(), "{name}");
        for (a, b) in ks.iter().zip(kw) {
            assert_eq!(a.name, b.name, "{name}");
            let same = |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(p, q)| close(*p, *q));
            assert!(same(&a.spend, &b.spend), "{name} / {}", a.name);
            assert!(same(&a.platform_revenue, &b.platform_revenue), "{name}");
        }
    }
    let meta = got.channel_index("meta").unwrap();
    let window = (got.dates[10], got.dates[40]);
    let spend: f64 = got.spend[meta][10..=40].iter().sum();
    let test = got.lift_test_from_iroas("meta", window, 2.0, 0.5).unwrap();
    assert_eq!((test.start, test.end), window);
    assert!(
        close(test.incremental_revenue, 2.0 * spend) && close(test.standard_error, 0.5 * spend)
    );
    assert_error(
        got.lift_test_from_iroas("bing", window, 2.0, 0.5),
        &["`bing`", "meta", "google_ads"],
    );
    // Without campaigns: the channels' totals alone.
    let plain = BusinessData::from_spend_rows(
        want.dates.clone(),
        want.revenue.clone(),
        all.iter().map(|r| SpendRow {
            campaign: None,
            ..spend_row(r)
        }),
        Vec::new(),
        Vec::new(),
    )
    .unwrap();
    assert!(plain.campaigns.iter().all(|k| k.is_empty()));
    assert_eq!(plain.spend.len(), got.spend.len());
    // A value that is not finite is an error naming the row.
    let nan = all.iter().map(spend_row).enumerate().map(|(i, mut r)| {
        if i == 5 {
            r.spend = f64::NAN;
        }
        r
    });
    let bad = BusinessData::from_spend_rows(
        want.dates.clone(),
        want.revenue.clone(),
        nan,
        Vec::new(),
        Vec::new(),
    );
    assert_error(bad, &["spend NaN in row 5", "finite"]);
}

/// The world's business days and every channel's daily spend (calendar flags from the
/// rows, which are calendar facts).
pub fn business_data(world: &World) -> BusinessData {
    let days = world.business_days(Intervention::None).unwrap();
    let first = days[0].date;
    let n = days.len();
    let spend = world.channel_spend();
    let mut holiday = vec![false; n];
    let mut event = vec![false; n];
    for r in world.rows() {
        let t = (r.date - first).num_days() as usize;
        holiday[t] |= r.is_holiday;
        event[t] |= r.is_commercial_event;
    }
    BusinessData::new(
        days.iter().map(|d| date32(d.date)).collect(),
        days.iter().map(|d| d.revenue).collect(),
        spend.channels,
        spend.spend,
        holiday,
        event,
    )
    .unwrap()
    .with_platform_revenue(spend.platform_revenue)
}

/// [`business_data`] with each channel's campaigns (by name): their daily spend and
/// platform-reported revenue, as the unified table's rows give them.
pub fn business_data_with_campaigns(world: &World) -> BusinessData {
    business_data(world)
        .with_campaigns(world.campaign_spend_with(CampaignSeries::new))
        .unwrap()
}

/// The preset's world of `seed` and its business-level results with its campaigns given,
/// `bootstrap` replicates.
fn with_campaigns(preset: Preset, seed: u64, bootstrap: usize) -> (World, BusinessResults) {
    let world = World::generate(&WorldConfig::preset(preset, seed)).unwrap();
    let r = analyze_business(
        &business_data_with_campaigns(&world),
        &test_options(bootstrap),
        &[],
    )
    .unwrap();
    (world, r)
}

/// The default grids, `bootstrap` replicates.
pub fn test_options(bootstrap: usize) -> BusinessOptions {
    BusinessOptions::default().with_bootstrap(bootstrap)
}

pub fn run(world: &World, options: &BusinessOptions, tests: &[LiftTest]) -> BusinessResults {
    analyze_business(&business_data(world), options, tests).unwrap()
}

/// `estimate [lower, upper] truth t`, three decimals.
fn interval(estimate: f64, lower: f64, upper: f64, truth: f64) -> String {
    format!("{estimate:.3} [{lower:.3}, {upper:.3}] truth {truth:.3}")
}

fn report(p: &str, world: &World, r: &BusinessResults) {
    let truth = world.business_truth().unwrap();
    let share = &r.baseline_share;
    eprintln!(
        "{p}: baseline share {}; warnings {:?}",
        interval(
            share.estimate,
            share.ci_lower,
            share.ci_upper,
            truth.baseline_share
        ),
        r.results.diagnostics.warnings
    );
    for c in &r.results.channels {
        let t = world.truth().channel(&c.channel).unwrap();
        let resp = c.response.as_ref().unwrap();
        let iroas = interval(
            c.incremental_roas,
            c.incremental_roas_ci_lower,
            c.incremental_roas_ci_upper,
            t.business_incremental_roas,
        );
        let mroas = interval(
            c.marginal_roas,
            resp.marginal_roas_ci_lower,
            resp.marginal_roas_ci_upper,
            t.business_marginal_roas,
        );
        eprintln!(
            "  {:10} iROAS {iroas} | mROAS {mroas} | {}",
            c.channel,
            resp.transform.describe()
        );
    }
}

/// Asserts the channel's switch-off interval covers its truth, and, for `within`, that the
/// estimate is within that relative error.
fn check(world: &World, r: &BusinessResults, channel: &str, within: Option<f64>) {
    let c = r.channel(channel).unwrap();
    let t = world.truth().channel(channel).unwrap();
    let at = format!(
        "{channel}: {}",
        interval(
            c.incremental_roas,
            c.incremental_roas_ci_lower,
            c.incremental_roas_ci_upper,
            t.business_incremental_roas
        )
    );
    assert!(
        c.incremental_roas_ci_lower <= t.business_incremental_roas
            && t.business_incremental_roas <= c.incremental_roas_ci_upper,
        "{at}: the interval misses"
    );
    if let Some(tol) = within {
        let err =
            (c.incremental_roas - t.business_incremental_roas).abs() / t.business_incremental_roas;
        assert!(err <= tol, "{at}: relative error {err:.3} > {tol}");
    }
}

/// The results' setting `key`.
fn setting<'a>(r: &'a BusinessResults, key: &str) -> Option<&'a str> {
    r.results
        .settings
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Google Ads' plausible switch-off returns.
fn g_range(r: &BusinessResults) -> (f64, f64) {
    r.channel("google_ads")
        .unwrap()
        .response
        .as_ref()
        .unwrap()
        .switch_off_range
}

fn zero_effect_not_significant(r: &BusinessResults) {
    let c = r.channel("tiktok").unwrap();
    // The p-value is the unconstrained fit's: an effect significantly below zero, reported
    // at zero (`BusinessOptions::non_negative`), still fails here.
    assert!(
        c.ci_lower <= 0.0 && 0.0 <= c.ci_upper && c.p_value >= 0.05,
        "tiktok (no effect): lift {:.0} [{:.0}, {:.0}], p = {}",
        c.revenue_lift,
        c.ci_lower,
        c.ci_upper,
        c.p_value
    );
}

/// Spend cannot lower revenue (the default, `BusinessOptions::non_negative`): a channel
/// whose fitted effect is below zero is reported at zero, its intervals cut at zero, with
/// a warning naming it, p = 1, and the baseline's share takes the difference (its interval
/// widened down to it); the standard errors and the other channels' numbers stay the
/// unconstrained fit's. Every effect here is ≥ 0, so no estimate
/// moves further from the truth and no interval that covered stops covering. Carryover
/// preset, seeds 1–4, 39 replicates: one effect is fitted below zero (the linear preset's
/// seeds 1–4 have none).
#[test]
fn effects_below_zero_are_reported_at_zero_with_a_warning() {
    let mut negative = 0;
    for seed in 1..=4 {
        let world = World::generate(&WorldConfig::preset(Preset::Carryover, seed)).unwrap();
        let data = business_data(&world);
        let free = BusinessOptions {
            non_negative: false,
            ..test_options(39)
        };
        let raw = analyze_business(&data, &free, &[]).unwrap();
        let r = analyze_business(&data, &test_options(39), &[]).unwrap();
        assert_eq!(setting(&raw, "non_negative"), Some("false"));
        assert_eq!(setting(&r, "non_negative"), Some("true"));
        let warned = |r: &BusinessResults, channel: &str| {
            let head = format!("`{channel}`: the data put its switch-off return below zero");
            r.results
                .diagnostics
                .warnings
                .iter()
                .any(|w| w.starts_with(&head))
        };
        let mut moved = 0.0;
        for (a, b) in raw.results.channels.iter().zip(&r.results.channels) {
            let at = format!("seed {seed} {}", a.channel);
            let truth = world
                .truth()
                .channel(&a.channel)
                .unwrap()
                .business_incremental_roas;
            assert!(truth >= 0.0);
            let floored = a.revenue_lift < 0.0;
            let p = if floored { 1.0 } else { a.p_value };
            assert_eq!(b.p_value, p, "{at}");
            assert_eq!(b.std_err, a.std_err, "{at}");
            let beta = if floored { 0.0 } else { a.average_effect };
            assert_eq!(b.average_effect, beta, "{at}");
            assert_eq!(b.incremental_roas, a.incremental_roas.max(0.0), "{at}");
            assert_eq!(b.revenue_lift, a.revenue_lift.max(0.0), "{at}");
            let lower = a.incremental_roas_ci_lower.max(0.0);
            assert_eq!(b.incremental_roas_ci_lower, lower, "{at}");
            let upper = a.incremental_roas_ci_upper.max(0.0);
            assert_eq!(b.incremental_roas_ci_upper, upper, "{at}");
            assert_eq!(b.marginal_roas, a.marginal_roas.max(0.0), "{at}");
            let (ra, rb) = (a.response.as_ref().unwrap(), b.response.as_ref().unwrap());
            let m = (ra.marginal_roas_ci_lower, ra.marginal_roas_ci_upper);
            assert_eq!(rb.marginal_roas_ci_lower, m.0.max(0.0), "{at}");
            assert_eq!(rb.marginal_roas_ci_upper, m.1.max(0.0), "{at}");
            let range = ra.switch_off_range;
            assert_eq!(rb.switch_off_range.0, range.0.max(0.0), "{at}");
            assert_eq!(rb.switch_off_range.1, range.1.max(0.0), "{at}");
            for (pa, pb) in ra.response_curve.iter().zip(&rb.response_curve) {
                let value = pa.incremental_revenue.max(0.0);
                assert_eq!(pb.incremental_revenue, value, "{at}");
                assert_eq!(pb.ci_lower, pa.ci_lower.max(0.0), "{at}");
                assert_eq!(pb.ci_upper, pa.ci_upper.max(0.0), "{at}");
            }
            if floored {
                let s = &rb.sensitivity;
                assert_eq!(
                    (s.robustness_value, s.robustness_value_ci),
                    (0.0, 0.0),
                    "{at}"
                );
            }
            assert!(
                (b.incremental_roas - truth).abs() <= (a.incremental_roas - truth).abs(),
                "{at}"
            );
            let covers = |c: &liftos_causal::ChannelEffect| {
                c.incremental_roas_ci_lower <= truth && truth <= c.incremental_roas_ci_upper
            };
            assert!(!covers(a) || covers(b), "{at}");
            assert_eq!(warned(&r, &a.channel), a.revenue_lift < 0.0, "{at}");
            assert!(!warned(&raw, &a.channel), "{at}");
            if a.revenue_lift < 0.0 {
                negative += 1;
                moved += a.revenue_lift;
            }
        }
        // The share takes the difference; its interval widens down to it.
        let (share, free) = (&r.baseline_share, &raw.baseline_share);
        let shift = share.estimate - free.estimate;
        let expected = moved / r.revenue;
        assert!(
            (shift - expected).abs() < 1e-12,
            "seed {seed}: {shift} vs {expected}"
        );
        let lower = share.ci_lower - free.ci_lower;
        assert!(
            (lower - expected).abs() < 1e-12,
            "seed {seed}: {lower} vs {expected}"
        );
        assert_eq!(share.ci_upper, free.ci_upper, "seed {seed}");
    }
    eprintln!("{negative} effects fitted below zero");
    assert!(negative > 0, "no effect was fitted below zero in seeds 1–4");
}

/// The part of `channel`'s true switch-off return that its own rows record (the rest,
/// in a spillover world, lands in another channel's rows), per unit of its spend.
pub(crate) fn own_rows_return(world: &World, channel: &str) -> f64 {
    let spend = world.truth().channel(channel).unwrap().spend;
    world
        .rows()
        .filter(|row| row.channel == channel)
        .map(|row| row.incremental_revenue)
        .sum::<f64>()
        / spend
}

/// Spillover (35% of Meta's effect in Google Ads' rows), seed 2, 99 replicates: the
/// business-level switch-off returns cover the truth (Meta 2.28 [1.97, 2.58] vs 2.10,
/// Google Ads 3.78 [3.29, 4.26] vs 3.72), Meta and Google Ads within 15%, and Meta's
/// interval lies above the share of its effect its own rows report (0.65 × 2.10 = 1.37),
/// which is all a model of platform-reported revenue can see; `tiktok` is not significant.
#[test]
fn spillover_business_level_sees_metas_whole_effect() {
    let world = World::generate(&WorldConfig::preset(Preset::Spillover, 2)).unwrap();
    let r = run(&world, &test_options(99), &[]);
    report("spillover", &world, &r);
    check(&world, &r, "meta", Some(0.15));
    check(&world, &r, "google_ads", Some(0.15));
    check(&world, &r, "klaviyo", None);
    zero_effect_not_significant(&r);
    let meta = r.channel("meta").unwrap();
    let truth = world.truth().channel("meta").unwrap();
    // What Meta's own rows show of its effect: the platform-level truth.
    let own_rows = own_rows_return(&world, "meta");
    assert!(
        (own_rows / truth.incremental_roas - 0.65).abs() < 0.01,
        "{own_rows}"
    );
    assert!(meta.incremental_roas_ci_lower > own_rows, "{meta:?}");
    // The baseline share covers the truth, within [0, 1].
    let share = world.business_truth().unwrap().baseline_share;
    assert!(0.0 <= r.baseline_share.ci_lower && r.baseline_share.ci_upper <= 1.0);
    assert!(
        r.baseline_share.ci_lower <= share && share <= r.baseline_share.ci_upper,
        "{:?} vs {share}",
        r.baseline_share
    );
    let json = r.to_json();
    assert_eq!(json["outcome"], "business");
    assert!(json["baseline_share"]["estimate"].as_f64().unwrap() > 0.0);
    assert!(json["calibration"].is_null());
}

/// Carryover, seed 2: every interval covers the business-level truth; Google Ads within
/// 15%. Klaviyo covers (8.27 [1.15, 13.55] vs 11.84) but is 30% low: its true return
/// counts the carryover on the days between its sends, 1.9× what its own rows show (6.27),
/// and over seeds 1–10 its error is 19% (`business_coverage --presets carryover`). Meta
/// is 15% off: the adstocked channels share credit.
#[test]
fn carryover_business_level_covers() {
    let world = World::generate(&WorldConfig::preset(Preset::Carryover, 2)).unwrap();
    let r = run(&world, &test_options(99), &[]);
    report("carryover", &world, &r);
    check(&world, &r, "meta", None);
    check(&world, &r, "google_ads", Some(0.15));
    check(&world, &r, "klaviyo", Some(0.35));
    zero_effect_not_significant(&r);
}

/// Whether the results warn that `channel`'s carryover decay came out at the longest
/// searched.
fn decay_at_the_edge_warned(r: &BusinessResults, channel: &str) -> bool {
    let head = format!("`{channel}`: its carryover decay came out at");
    r.results
        .diagnostics
        .warnings
        .iter()
        .any(|w| w.starts_with(&head) && w.contains("the longest searched"))
}

/// The longest carryover decay `channel` searched: the grid's (0.8) or the last it added
/// (setting `adstock_decays_added`, `channel d1 d2; other d1`).
fn longest_decay_searched(r: &BusinessResults, channel: &str) -> f64 {
    setting(r, "adstock_decays_added")
        .into_iter()
        .flat_map(|v| v.split("; "))
        .filter_map(|entry| entry.strip_prefix(channel)?.strip_prefix(' '))
        .flat_map(|decays| decays.split(' ').map(|d| d.parse::<f64>().unwrap()))
        .fold(0.8, f64::max)
}

/// Carryover beyond the grid, and the warning at the longest decay searched. On
/// `long_carryover` seed 1 (true decays 0.897 for Meta, 0.909 for Google Ads) both paid
/// channels search 0.9 beyond the grid's 0.8 and come out there, 20–25% below the truth
/// (at 0.8, before the search went beyond the grid, they were 42–49% below: 8.35 against
/// 14.43, 18.00 against 35.17). In every world here a channel is warned of exactly when
/// its decay is the longest it searched and it shows an effect; `carryover` seed 1
/// (true decays 0.25–0.70) adds no decay, and its Google Ads (0.8, 12.5 against 9.85) is
/// warned of. Google Ads searched 0.95 too and rejected it; Meta did not, and is warned
/// of, as is the zero-effect channel (0.8, its marginal return's interval just above 0).
#[test]
fn carryover_beyond_the_grid_is_searched_and_its_edge_warned_of() {
    let (world, r) = with_campaigns(Preset::LongCarryover, 1, 49);
    report("long_carryover", &world, &r);
    assert_eq!(
        setting(&r, "adstock_decays_added"),
        Some("meta 0.9; google_ads 0.9 0.95")
    );
    assert_eq!(longest_decay_searched(&r, "google_ads"), 0.95);
    assert_eq!(longest_decay_searched(&r, "meta"), 0.9);
    for channel in ["google_ads", "meta"] {
        let c = r.channel(channel).unwrap();
        let decay = c.response.as_ref().unwrap().transform.adstock_decay;
        assert_eq!(decay, 0.9, "{channel}");
        let truth = world
            .truth()
            .channel(channel)
            .unwrap()
            .business_incremental_roas;
        let relative = c.incremental_roas / truth;
        assert!(
            (0.7..1.0).contains(&relative),
            "{channel}: {} vs {truth}",
            c.incremental_roas
        );
    }
    let (world, carryover) = with_campaigns(Preset::Carryover, 1, 49);
    report("carryover", &world, &carryover);
    assert_eq!(setting(&carryover, "adstock_decays_added"), None);
    let mut warned = Vec::new();
    for r in [&r, &carryover] {
        for c in &r.results.channels {
            let resp = c.response.as_ref().unwrap();
            let edge = resp.transform.adstock_decay == longest_decay_searched(r, &c.channel);
            let effect = c.ci_lower > 0.0 || resp.marginal_roas_ci_lower > 0.0;
            let w = decay_at_the_edge_warned(r, &c.channel);
            assert_eq!(
                w,
                edge && effect,
                "{}: {:?}",
                c.channel,
                r.results.diagnostics.warnings
            );
            if w {
                warned.push(format!("{} {}", c.channel, resp.transform.adstock_decay));
            }
        }
    }
    assert_eq!(warned, ["meta 0.9", "tiktok 0.8", "google_ads 0.8"]);
}

/// The setting `key` of the results as a number.
fn setting_f64(r: &BusinessResults, key: &str) -> Option<f64> {
    setting(r, key).and_then(|v| v.parse().ok())
}

/// The weekend's return (opt-in): on `long_carryover` seed 1, where every channel's return
/// is 20% lower on weekends, the data choose −0.2, and Google Ads and Meta come closer to
/// the truth than with one return every day (both are low either way); the same world
/// with the weekend's change taken out chooses 0 or ±0.1. Off, nothing is searched and
/// no setting says so.
#[test]
fn the_weekends_return_is_chosen_by_the_data() {
    let on = BusinessOptions {
        weekend_return: true,
        ..test_options(20)
    };
    let (world, off) = with_campaigns(Preset::LongCarryover, 1, 20);
    assert!(setting(&off, "weekend_return").is_none());
    assert!(setting(&off, "weekend_return_searched").is_none());
    let data = business_data_with_campaigns(&world);
    let r = analyze_business(&data, &on, &[]).unwrap();
    report("long_carryover, weekend return", &world, &r);
    assert_eq!(
        setting_f64(&r, "weekend_return"),
        Some(-0.2),
        "{:?}",
        r.results.settings
    );
    assert!(
        setting(&r, "weekend_return_searched")
            .unwrap()
            .contains("+0.0 (")
    );
    for channel in ["google_ads", "meta"] {
        let truth = world
            .truth()
            .channel(channel)
            .unwrap()
            .business_incremental_roas;
        let err =
            |r: &BusinessResults| (r.channel(channel).unwrap().incremental_roas - truth).abs();
        assert!(
            err(&r) < err(&off),
            "{channel}: {} vs {}",
            err(&r),
            err(&off)
        );
    }
    let mut config = WorldConfig::preset(Preset::LongCarryover, 1);
    config.weekend_effect = 0.0;
    let flat = World::generate(&config).unwrap();
    let r = analyze_business(&business_data_with_campaigns(&flat), &on, &[]).unwrap();
    let w = setting_f64(&r, "weekend_return").unwrap();
    assert!(w.abs() <= 0.1 + 1e-9, "{w}: {:?}", r.results.settings);
}

/// Saturation, seed 1: every switch-off interval covers (Meta 0.77 [0, 1.86] vs 0.90,
/// Google Ads 1.42 [0, 3.09] vs 1.08, widened by the plausible curves, whose switch-off
/// returns run from 0.74 to 2.02); the switch-off return rests on the curve below today's
/// spend, which a daily series barely shows, so it is not within 15% (Google Ads is 32%
/// off) and a warning says the data cannot pin it down; the marginal return, which today's
/// spend does show, is (Google Ads 0.71 [0.47, 1.09] vs 0.63 true, within 15%).
#[test]
fn saturation_business_level_covers_and_the_marginal_return_is_close() {
    let world = World::generate(&WorldConfig::preset(Preset::Saturation, 1)).unwrap();
    let r = run(&world, &test_options(99), &[]);
    report("saturation", &world, &r);
    for c in ["meta", "google_ads", "klaviyo"] {
        check(&world, &r, c, None);
    }
    zero_effect_not_significant(&r);
    // The switch-off return that misses the 15% bar is flagged.
    let w = &r.results.diagnostics.warnings;
    assert!(
        w.iter().any(|w| w.contains("`google_ads`")
            && w.contains("saturating curve")
            && w.contains("pin down")),
        "{w:?}"
    );
    let range = g_range(&r);
    assert!(range.1 > 1.5 * range.0, "{range:?}");
    let g = r.channel("google_ads").unwrap();
    let t = world.truth().channel("google_ads").unwrap();
    assert!(
        (g.marginal_roas - t.business_marginal_roas).abs() / t.business_marginal_roas < 0.15,
        "{} vs {}",
        g.marginal_roas,
        t.business_marginal_roas
    );
}

/// Saturation, seed 1, with each channel's campaigns (their spend and platform-reported
/// revenue): the channel's regressor is the sum of its campaigns' curves and the
/// campaigns' revenue informs which curve. Every switch-off interval covers, and Google
/// Ads' switch-off return is within 15% (measured 1.23 [0.11, 2.36] vs 1.08, 14% off;
/// 1.42, 32% off, from the channels' daily totals above). Meta's is not (1.41 [0,
/// 2.20] vs 0.90, 57% off; 0.77 from the totals): on seeds 1–20 Meta's mean error fell
/// from 73% to 49%, but not in this world.
#[test]
fn saturation_with_campaigns_the_curve_comes_closer() {
    let (world, r) = with_campaigns(Preset::Saturation, 1, 99);
    report("saturation with campaigns", &world, &r);
    for c in ["meta", "klaviyo"] {
        check(&world, &r, c, None);
    }
    check(&world, &r, "google_ads", Some(0.15));
    zero_effect_not_significant(&r);
}

/// Campaigns must name the data's channels and add up to their spend.
#[test]
fn bad_campaigns_are_one_clear_error() {
    let n = 60;
    let data = BusinessData::new(
        (0..n).collect(),
        vec![10.0; n as usize],
        vec!["meta".into(), "google_ads".into()],
        vec![vec![2.0; n as usize], vec![1.0; n as usize]],
        vec![],
        vec![],
    )
    .unwrap();
    let campaign = |name: &str, spend: f64| CampaignSeries {
        name: name.into(),
        spend: vec![spend; n as usize],
        platform_revenue: vec![3.0; n as usize],
    };
    let with = |list: Vec<(String, Vec<CampaignSeries>)>| data.clone().with_campaigns(list);
    // Two campaigns adding up to Meta's spend; one that never spends is left out.
    let ok = with(vec![(
        "meta".into(),
        vec![
            campaign("a", 1.5),
            campaign("b", 0.5),
            campaign("idle", 0.0),
        ],
    )])
    .unwrap();
    assert_eq!(ok.campaigns[0].len(), 2);
    assert!(ok.campaigns[1].is_empty());
    assert_error(
        with(vec![("tv".into(), vec![campaign("a", 2.0)])]),
        &["tv", "meta, google_ads"],
    );
    assert_error(
        with(vec![("meta".into(), vec![campaign("a", 1.5)])]),
        &["adds up"],
    );
    assert_error(
        with(vec![
            ("meta".into(), vec![campaign("a", 2.0)]),
            ("meta".into(), vec![campaign("a", 2.0)]),
        ]),
        &["named once"],
    );
    let mut short = campaign("a", 2.0);
    short.spend.pop();
    assert_error(
        with(vec![("meta".into(), vec![short])]),
        &["meta / a (spend)"],
    );
    let mut bad = campaign("a", 2.0);
    bad.platform_revenue[3] = f64::NAN;
    assert_error(
        with(vec![("meta".into(), vec![bad])]),
        &["meta / a (platform revenue)"],
    );
    let mut neg = campaign("a", 2.0);
    neg.spend[4] = -1.0;
    neg.spend[5] = 5.0;
    assert_error(with(vec![("meta".into(), vec![neg])]), &["spend ≥ 0"]);
}

/// Calibration: spillover seed 1, where the observational estimate of Meta is high
/// (1.87 [1.36, 2.37] vs 1.39). One 8-week holdout of Meta in the world, measured with a
/// standard error of 10% of its effect, narrows Meta's interval and it still covers
/// (measured: 1.87 [1.36, 2.37] before, 1.51 [1.27, 1.75] after, truth 1.39).
#[test]
fn a_lift_test_narrows_the_channels_interval_and_it_still_covers() {
    let world = World::generate(&WorldConfig::preset(Preset::Spillover, 1)).unwrap();
    let start = NaiveDate::from_ymd_opt(2025, 3, 3).unwrap();
    let lt = world.holdout_experiment("meta", start, 56, 0.1, 1).unwrap();
    let test = LiftTest {
        channel: lt.channel.clone(),
        start: date32(lt.start),
        end: date32(lt.end),
        incremental_revenue: lt.incremental_revenue,
        standard_error: lt.standard_error,
    };
    let r = run(&world, &test_options(99), &[test]);
    report("calibrated", &world, &r);
    let cal = r.calibration.as_ref().unwrap();
    let meta = cal.channels.iter().find(|c| c.channel == "meta").unwrap();
    let truth = world
        .truth()
        .channel("meta")
        .unwrap()
        .business_incremental_roas;
    eprintln!(
        "before {:?} after {:?} truth {truth}",
        meta.before, meta.after
    );
    let width = |v: (f64, f64, f64)| v.2 - v.1;
    assert!(width(meta.after) < 0.8 * width(meta.before), "{meta:?}");
    assert!(
        meta.after.1 <= truth && truth <= meta.after.2,
        "{meta:?} vs {truth}"
    );
    assert!((meta.after.0 - truth).abs() < (meta.before.0 - truth).abs());
    // The results carry the calibrated numbers and the JSON shows both.
    let c = r.channel("meta").unwrap();
    assert!((c.incremental_roas - meta.after.0).abs() < 1e-9);
    let json = r.to_json();
    assert_eq!(json["calibration"]["tests"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_business_data_is_one_clear_error() {
    let n = 60;
    let dates: Vec<i32> = (0..n).collect();
    let spend = vec![vec![1.0; n as usize]];
    let ok = |dates: Vec<i32>, revenue: Vec<f64>| {
        BusinessData::new(
            dates,
            revenue,
            vec!["meta".into()],
            spend.clone(),
            vec![],
            vec![],
        )
    };
    assert!(ok(dates.clone(), vec![10.0; 60]).is_ok());
    let mut dup = dates.clone();
    dup[5] = 4;
    assert_error(ok(dup, vec![10.0; 60]), &["consecutive days"]);
    let mut neg = vec![10.0; 60];
    neg[7] = -1.0;
    assert_error(ok(dates.clone(), neg), &["revenue = -1 at row 7"]);
    assert_error(
        ok(dates[..30].to_vec(), vec![10.0; 30]),
        &["need at least 56"],
    );
}

/// The per-campaign model of platform-reported revenue (the causal forest with the
/// searched response, as `liftos analyze` runs it without `--business-outcome`) on the
/// spillover world of seed 2 sees only 65% of Meta's effect in Meta's own rows (1.34
/// [0.48, 1.87] against a true 2.10, measured); its spillover check finds the rest in
/// Google Ads' rows and credits it, so Meta's interval covers the truth, and the
/// business-level interval covers it too (2.28 [1.97, 2.58]), from the business's own
/// revenue.
#[test]
fn on_spillover_the_platform_model_credits_what_it_finds_and_the_business_model_covers() {
    let world = World::generate(&WorldConfig::preset(Preset::Spillover, 2)).unwrap();
    let truth = world.truth().channel("meta").unwrap().incremental_roas;
    let platform = crate::response::analyze(&world, false);
    let p = platform.primary().channel("meta").unwrap();
    eprintln!(
        "platform-level meta: {:.3} [{:.3}, {:.3}] vs truth {truth:.3}",
        p.incremental_roas, p.incremental_roas_ci_lower, p.incremental_roas_ci_upper
    );
    assert!(
        p.incremental_roas_ci_lower <= truth && truth <= p.incremental_roas_ci_upper,
        "the credited platform-level interval should cover Meta's whole effect"
    );
    let credited: Vec<&String> = platform
        .primary()
        .diagnostics
        .warnings
        .iter()
        .filter(|w| w.starts_with("Spillover:"))
        .collect();
    assert_eq!(credited.len(), 1, "{credited:?}");
    assert!(
        credited[0].contains("It is credited to `meta`"),
        "{}",
        credited[0]
    );
    let r = run(&world, &test_options(99), &[]);
    check(&world, &r, "meta", Some(0.15));
}

/// Two channels whose spend moves together (the second is the first times 1.02 with 1%
/// noise): the analysis says the data cannot separate them, naming both.
#[test]
fn channels_whose_spend_moves_together_are_reported_as_inseparable() {
    use rand::{Rng, SeedableRng};
    let n = 364;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let a: Vec<f64> = (0..n)
        .map(|_| 100.0 * (0.5 + rng.random::<f64>()))
        .collect();
    let b: Vec<f64> = a
        .iter()
        .map(|x| 1.02 * x * (0.99 + 0.02 * rng.random::<f64>()))
        .collect();
    let c: Vec<f64> = (0..n).map(|_| 80.0 * (0.5 + rng.random::<f64>())).collect();
    let revenue: Vec<f64> = (0..n)
        .map(|t| {
            let weekly = 1.0 + 0.1 * ((t % 7) as f64 / 6.0);
            2000.0 * weekly * (0.97 + 0.06 * rng.random::<f64>())
                + 2.0 * a[t]
                + 1.0 * b[t]
                + 1.5 * c[t]
        })
        .collect();
    let data = BusinessData::new(
        (19_000..19_000 + n as i32).collect(),
        revenue,
        vec!["meta".into(), "google_ads".into(), "klaviyo".into()],
        vec![a, b, c],
        vec![],
        vec![],
    )
    .unwrap();
    let r = analyze_business(&data, &test_options(20), &[]).unwrap();
    let w = &r.results.diagnostics.warnings;
    assert!(
        w.iter()
            .any(|w| w.contains("`meta` and `google_ads`") && w.contains("cannot separate")),
        "{w:?}"
    );
    assert!(!w.iter().any(|w| w.contains("klaviyo")), "{w:?}");
}

/// Relative error of Google Ads' and Meta's switch-off returns on the `latent` preset's
/// seed 1 with the common-spend control.
const TOL_LATENT: f64 = 0.35;

/// A demand shock no column shows (the `latent` preset: an AR(1) shock, persistence 0.9,
/// on the baseline and on every budget) moves the campaigns' budgets together: the
/// common-spend check finds it (variance ratio 2.4–5.4 on the preset's seeds 1–40, 0.78–1.27
/// on every other preset's), says so in a warning, and the baseline's control for the
/// budgets' common movement takes the shock out of the channels' effects: the zero-effect
/// channel is credited with less and is not significant, and Google Ads' and Meta's
/// errors fall. Without the control (`common_spend: false`) the warning says the
/// effects may be overstated. On `realistic` (no hidden shock) the check stays quiet.
/// Seed 1, 39 replicates.
#[test]
fn a_hidden_demand_shock_is_found_warned_about_and_controlled() {
    let world = World::generate(&WorldConfig::preset(Preset::Latent, 1)).unwrap();
    let data = business_data_with_campaigns(&world);
    let on = analyze_business(&data, &test_options(39), &[]).unwrap();
    report("latent, controlled", &world, &on);
    let off_options = BusinessOptions {
        common_spend: false,
        ..test_options(39)
    };
    let off = analyze_business(&data, &off_options, &[]).unwrap();
    report("latent, not controlled", &world, &off);
    let check_on = on.common_spend.expect("more than four campaigns spend");
    assert!(
        check_on.controlled
            && check_on.variance_ratio >= liftos_causal::COMMON_SPEND_GATE
            && check_on.correlation >= liftos_causal::business::COMMON_SPEND_MIN_CORRELATION,
        "{check_on:?}"
    );
    let check_off = off.common_spend.unwrap();
    assert_eq!(check_off.variance_ratio, check_on.variance_ratio);
    assert!(!check_off.controlled, "{check_off:?}");
    let warned = |r: &BusinessResults, says: &str| {
        r.results
            .diagnostics
            .warnings
            .iter()
            .filter(|w| w.contains("budgets move together") && w.contains(says))
            .count()
    };
    assert_eq!(warned(&on, "The baseline controls for"), 1);
    assert_eq!(warned(&off, "switched off"), 1);
    assert_eq!(setting(&on, "common_spend"), Some("true"));
    assert_eq!(setting(&off, "common_spend"), Some("false"));
    // The shock credited to spend: the zero-effect channel's lift and the paid channels'
    // errors, with and without the control.
    zero_effect_not_significant(&on);
    let share = world.business_truth().unwrap().baseline_share;
    let b = &on.baseline_share;
    assert!(
        b.ci_lower <= share && share <= b.ci_upper,
        "{b:?} truth {share}"
    );
    let tiktok = |r: &BusinessResults| r.channel("tiktok").unwrap().incremental_roas;
    assert!(
        tiktok(&on) < tiktok(&off),
        "{} {}",
        tiktok(&on),
        tiktok(&off)
    );
    for channel in ["google_ads", "meta"] {
        let truth = world
            .truth()
            .channel(channel)
            .unwrap()
            .business_incremental_roas;
        let err = |r: &BusinessResults| {
            (r.channel(channel).unwrap().incremental_roas - truth).abs() / truth
        };
        assert!(
            err(&on) < err(&off),
            "{channel}: {} {}",
            err(&on),
            err(&off)
        );
        check(&world, &on, channel, Some(TOL_LATENT));
    }
    // No hidden shock: the check stays quiet and nothing is added to the baseline.
    let (_, quiet) = with_campaigns(Preset::Realistic, 1, 39);
    let check = quiet.common_spend.unwrap();
    assert!(
        !check.controlled && check.variance_ratio < 1.5 && check.correlation < 0.03,
        "{check:?}"
    );
    // Without campaigns there is no check (four channels' totals cannot show it).
    let totals = analyze_business(&business_data(&world), &test_options(20), &[]).unwrap();
    assert!(totals.common_spend.is_none());
    assert_eq!(warned(&quiet, ""), 0);
}

/// Without campaigns (each channel's daily total alone) the common-spend check cannot
/// run, and a hidden demand shock is credited to the channels. The placebo (revenue
/// against the spend of a week later) sees it: on `latent` seed 5 it is negative at
/// p < 0.001 and warns, with the paid channels' returns far above the truth; on
/// `realistic` seed 2 (no hidden demand) it is not significant and nothing warns. 20
/// replicates.
#[test]
fn without_campaigns_the_placebo_warns_of_hidden_demand() {
    let warned = |r: &BusinessResults| {
        r.results
            .diagnostics
            .warnings
            .iter()
            .filter(|w| w.starts_with("Placebo check failed"))
            .count()
    };
    let world = World::generate(&WorldConfig::preset(Preset::Latent, 5)).unwrap();
    let r = analyze_business(&business_data(&world), &test_options(20), &[]).unwrap();
    report("latent, channel totals", &world, &r);
    assert!(r.common_spend.is_none());
    let placebo = r.results.diagnostics.placebo.as_ref().unwrap();
    assert_eq!(placebo.name, "placebo_lead_7");
    assert!(
        placebo.estimate < 0.0
            && placebo.p_value < liftos_causal::business::BUSINESS_PLACEBO_WARNING_P,
        "{placebo:?}"
    );
    assert!(placebo.ci_upper < 0.0, "{placebo:?}");
    assert_eq!(warned(&r), 1, "{:?}", r.results.diagnostics.warnings);
    let meta = r.channel("meta").unwrap().incremental_roas;
    let truth = world
        .truth()
        .channel("meta")
        .unwrap()
        .business_incremental_roas;
    assert!(meta > 1.3 * truth, "meta {meta} against {truth}");

    let world = World::generate(&WorldConfig::preset(Preset::Realistic, 2)).unwrap();
    let r = analyze_business(&business_data(&world), &test_options(20), &[]).unwrap();
    let placebo = r.results.diagnostics.placebo.as_ref().unwrap();
    assert!(placebo.p_value > 0.05, "{placebo:?}");
    assert!(
        placebo.ci_lower <= 0.0 && 0.0 <= placebo.ci_upper,
        "{placebo:?}"
    );
    assert_eq!(warned(&r), 0, "{:?}", r.results.diagnostics.warnings);
}

/// Budgets that move together while demand does not (the `latent` preset's shock on the
/// budgets only, `LatentShock::baseline_elasticity` 0: no confounding): the check fires,
/// but revenue does not move with the budgets' common movement (the likelihood-ratio
/// test's p is in the results' settings), so the baseline gets no control and no warning
/// is given. Seed 7, 39 replicates.
#[test]
fn budgets_moving_together_without_demand_get_no_control() {
    let mut config = WorldConfig::preset(Preset::Latent, 7);
    if let Some(shock) = &mut config.latent_shock {
        shock.baseline_elasticity = 0.0;
    }
    let world = World::generate(&config).unwrap();
    let r = analyze_business(
        &business_data_with_campaigns(&world),
        &test_options(39),
        &[],
    )
    .unwrap();
    report("budget-only shock", &world, &r);
    let common = r.common_spend.unwrap();
    assert!(
        common.variance_ratio >= liftos_causal::COMMON_SPEND_GATE
            && common.correlation >= liftos_causal::business::COMMON_SPEND_MIN_CORRELATION
            && !common.controlled,
        "{common:?}"
    );
    let p: f64 = setting(&r, "common_spend_p").unwrap().parse().unwrap();
    assert!(
        p >= liftos_causal::business::COMMON_MOVEMENT_TEST_P,
        "p = {p}"
    );
    assert!(
        !r.results
            .diagnostics
            .warnings
            .iter()
            .any(|w| w.contains("budgets move together")),
        "{:?}",
        r.results.diagnostics.warnings
    );
    for channel in ["google_ads", "meta"] {
        check(&world, &r, channel, Some(TOL_LATENT));
    }
    zero_effect_not_significant(&r);
}

/// A channel that spent on fewer days than a bootstrap block (none at all: a paused
/// channel; the last day only: launched yesterday) is left out with a warning and in
/// `diagnostics.not_estimated`, its lift test set aside, and the others' results are
/// exactly those without it. Before, the first stopped the analysis ("never above 0")
/// and the second came out significant and wrong (audit: 0.97 [0.26, 1.68] against a
/// true 2.0).
#[test]
fn a_channel_spending_on_too_few_days_is_left_out() {
    let world = World::generate(&WorldConfig::standard(2).with_days(180)).unwrap();
    let options = test_options(49);
    let base = business_data(&world);
    let plain = analyze_business(&base, &options, &[]).unwrap();
    let mut data = base.clone();
    let n = data.dates.len();
    let mut last_day = vec![0.0; n];
    last_day[n - 1] = 5_000.0;
    for (name, spend) in [("bing", vec![0.0; n]), ("snap", last_day)] {
        data.channels.push(name.into());
        data.spend.push(spend);
        data.platform_revenue.push(f64::NAN);
    }
    let test = LiftTest {
        channel: "snap".into(),
        start: data.dates[n - 1],
        end: data.dates[n - 1],
        incremental_revenue: 10_000.0,
        standard_error: 1_000.0,
    };
    let r = analyze_business(&data, &options, &[test]).unwrap();
    let names: Vec<&str> = r
        .results
        .channels
        .iter()
        .map(|c| c.channel.as_str())
        .collect();
    assert!(
        !names.contains(&"bing") && !names.contains(&"snap"),
        "{names:?}"
    );
    let left: Vec<(&str, usize)> = r
        .results
        .diagnostics
        .not_estimated
        .iter()
        .map(|x| (x.channel.as_str(), x.rows))
        .collect();
    assert_eq!(left, [("bing", 0), ("snap", 1)]);
    let w = &r.results.diagnostics.warnings;
    assert!(
        w.iter().any(|x| x.starts_with("Channel `snap` could not be estimated and was left out: its spend is above 0 on 1 day of 180")),
        "{w:#?}"
    );
    assert!(
        w.iter().any(|x| x.starts_with("The lift test of `snap`")),
        "{w:#?}"
    );
    for (a, b) in plain.results.channels.iter().zip(&r.results.channels) {
        assert_eq!(a.channel, b.channel);
        assert_eq!(a.incremental_roas, b.incremental_roas);
        assert_eq!(a.incremental_roas_ci_upper, b.incremental_roas_ci_upper);
    }
    // Only sparse channels: the error names the first.
    let mut only = data.clone();
    only.channels = vec!["bing".into()];
    only.spend = vec![vec![0.0; n]];
    only.platform_revenue = vec![f64::NAN];
    only.campaigns = Vec::new();
    assert_error(
        analyze_business(&only, &options, &[]),
        &["`bing`", "above 0 on 0 days"],
    );
}

/// A lift test far from what the data say is warned of (it was combined silently: a test
/// at 4.2 standard errors moved Meta from 1.85 to 5.63 and Google Ads, not tested, from
/// 2.97 to 6.43); an accurate test is not.
#[test]
fn a_lift_test_that_contradicts_the_data_is_warned_of() {
    let world = World::generate(&WorldConfig::preset(Preset::Spillover, 1)).unwrap();
    let start = NaiveDate::from_ymd_opt(2025, 3, 3).unwrap();
    let lt = world.holdout_experiment("meta", start, 56, 0.1, 1).unwrap();
    let test = |scale: f64| LiftTest {
        channel: lt.channel.clone(),
        start: date32(lt.start),
        end: date32(lt.end),
        incremental_revenue: lt.incremental_revenue * scale,
        standard_error: lt.standard_error,
    };
    let conflict = |r: &BusinessResults| {
        r.results.diagnostics.warnings.iter().any(|w| {
            w.starts_with("The lift test of `meta`") && w.contains("standard errors apart")
        })
    };
    let r = run(&world, &test_options(49), &[test(1.0)]);
    assert!(!conflict(&r), "{:#?}", r.results.diagnostics.warnings);
    let r = run(&world, &test_options(49), &[test(4.0)]);
    assert!(conflict(&r), "{:#?}", r.results.diagnostics.warnings);
}

/// The baseline's level chosen by the data (`BusinessOptions::level_selection`): none on
/// a world whose demand the calendar explains (`linear`, seed 1: no level fits better by
/// 28 or more on the criterion), knots where demand drifts (`drift`, seed 3: no level is
/// 331 worse than knots every 28 days), and there Google Ads' switch-off return within
/// 15% of the truth with its interval covering (without a level, `knot_days` 0, the
/// `drift` worlds' switch-off errors were 94 / 150 / 60% for Google Ads / Klaviyo / Meta
/// over seeds 1–10; README, "The level chosen by the data"). Release measurements:
/// `business_coverage --seeds 10 --bootstrap 99 --presets linear,drift --level-selection
/// --per-world`.
#[test]
fn the_level_is_chosen_by_the_data_none_on_a_calendar_world_knots_under_drift() {
    let options = BusinessOptions {
        level_selection: true,
        ..test_options(99)
    };
    let searched = |r: &BusinessResults| -> Vec<(usize, f64)> {
        setting(r, "knot_days_searched")
            .unwrap()
            .split(", ")
            .map(|s| {
                let (d, ic) = s.split_once(" (").unwrap();
                (
                    d.parse().unwrap(),
                    ic.trim_end_matches(')').parse().unwrap(),
                )
            })
            .collect()
    };
    let world = World::generate(&WorldConfig::preset(Preset::Linear, 1)).unwrap();
    let r = analyze_business(&business_data_with_campaigns(&world), &options, &[]).unwrap();
    report("linear 1", &world, &r);
    let s = searched(&r);
    assert_eq!(setting(&r, "knot_days"), Some("0"), "{s:?}");
    assert_eq!(
        s.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
        [0, 112, 56, 28]
    );
    assert!(s.iter().skip(1).all(|(_, ic)| *ic > 10.0), "{s:?}");

    let world = World::generate(&WorldConfig::preset(Preset::Drift, 3)).unwrap();
    let r = analyze_business(&business_data_with_campaigns(&world), &options, &[]).unwrap();
    report("drift 3", &world, &r);
    let s = searched(&r);
    assert_ne!(setting(&r, "knot_days"), Some("0"), "{s:?}");
    assert!(s[0].1 > 100.0, "no level should fit far worse: {s:?}");
    check(&world, &r, "google_ads", Some(0.15));

    // Off (the default), the level is `knot_days` as given and nothing is searched.
    let fixed = analyze_business(
        &business_data_with_campaigns(&world),
        &test_options(39),
        &[],
    )
    .unwrap();
    assert_eq!(setting(&fixed, "knot_days"), Some("28"));
    assert_eq!(setting(&fixed, "knot_days_searched"), None);
}
