//! Response transforms (carryover and saturation searched per channel) on the sandbox's
//! hard presets, against the worlds' re-simulated truth.

use liftos_causal::{
    Adstock, Attribution, AttributionModel, AttributionOptions, CausalForestParams, CausalRoles,
    ChannelEffect, ResponseOptions, ResponseTransform, analyze_attribution, credit_spillover,
    prepare_causal_data,
};
use liftos_sandbox::{ChannelTruth, Preset, Saturation, World, WorldConfig};

/// The attribution with the searched response (300 trees, seed 1, no cross-validation).
pub(crate) fn analyze(world: &World, placebo: bool) -> Attribution {
    analyze_with_seed(world, placebo, 1)
}

/// [`analyze`] with the estimator's seed `seed` (`sandbox_coverage` uses the world's).
fn analyze_with_seed(world: &World, placebo: bool, seed: u64) -> Attribution {
    analyze_with(world, placebo, seed, true)
}

/// [`analyze_with_seed`] with `non_negative` as given.
fn analyze_with(world: &World, placebo: bool, seed: u64, non_negative: bool) -> Attribution {
    let table = world.unified_table_with_calendar_flags().unwrap();
    let roles = CausalRoles::default().with_adstock(Adstock::Auto);
    let panel = prepare_causal_data(&table, &roles).unwrap();
    let options = AttributionOptions::default()
        .with_non_negative(non_negative)
        .with_model(AttributionModel::CausalForest(
            CausalForestParams::default().with_num_trees(300),
        ))
        .with_cross_validation(false)
        .with_placebo_lead_days(placebo.then_some(7))
        .with_response(ResponseOptions::auto())
        .with_seed(seed);
    analyze_attribution(&panel, &options).unwrap()
}

/// Prints a channel's estimates next to the truth (shown when a test fails).
fn show(ch: &ChannelEffect, t: &ChannelTruth) {
    let r = ch.response.as_ref().unwrap();
    eprintln!(
        "{}: switch-off {:.3} [{:.3}, {:.3}] truth {:.3}; marginal {:.3} [{:.3}, {:.3}] truth {:.3}; {} ({} plausible)",
        ch.channel,
        ch.incremental_roas,
        ch.incremental_roas_ci_lower,
        ch.incremental_roas_ci_upper,
        t.incremental_roas,
        ch.marginal_roas,
        r.marginal_roas_ci_lower,
        r.marginal_roas_ci_upper,
        t.marginal_roas_total,
        r.transform.describe(),
        r.plausible_transforms
    );
}

/// The interval `[lower, upper]` covers `truth` (else `what` is said to miss).
#[track_caller]
fn covers(lower: f64, truth: f64, upper: f64, what: &str) {
    assert!(lower <= truth && truth <= upper, "{what} misses");
}

/// The switch-off interval covers the truth.
fn switch_off_covers(ch: &ChannelEffect, t: &ChannelTruth) {
    let what = format!("{} switch-off interval", ch.channel);
    let (lower, upper) = (ch.incremental_roas_ci_lower, ch.incremental_roas_ci_upper);
    covers(lower, t.incremental_roas, upper, &what);
}

/// Every channel of `a` (an analysis of `world`) shown next to its truth: the zero-effect
/// channel not significant; every other one's switch-off interval covering the truth,
/// then `each` called with it and its switch-off error relative to the truth.
#[track_caller]
fn each_effect_channel(
    world: &World,
    a: &Attribution,
    mut each: impl FnMut(&ChannelEffect, &ChannelTruth, f64),
) {
    for ch in &a.primary().channels {
        let t = world.truth().channel(&ch.channel).unwrap();
        show(ch, t);
        if t.zero_effect {
            assert!(ch.p_value > 0.05, "{} p {}", ch.channel, ch.p_value);
            continue;
        }
        switch_off_covers(ch, t);
        let rel = (ch.incremental_roas - t.incremental_roas).abs() / t.incremental_roas;
        each(ch, t, rel);
    }
}

/// Every channel of `a` (an analysis of `world`): the zero-effect channel not
/// significant; every other one with its switch-off return within 10% of the truth and
/// covered by its interval, then checked by `more`.
#[track_caller]
fn switch_off_recovered(
    world: &World,
    a: &Attribution,
    more: impl Fn(&ChannelEffect, &ChannelTruth),
) {
    each_effect_channel(world, a, |ch, t, rel| {
        assert!(rel < 0.10, "{} switch-off off by {rel:.3}", ch.channel);
        more(ch, t);
    });
}

/// The marginal return is within `tol` of the truth and its interval covers it.
fn marginal_within(ch: &ChannelEffect, t: &ChannelTruth, tol: f64) {
    let r = ch.response.as_ref().unwrap();
    let mrel = (ch.marginal_roas - t.marginal_roas_total).abs() / t.marginal_roas_total;
    assert!(mrel < tol, "{} marginal off by {mrel:.3}", ch.channel);
    let what = format!("{} marginal interval", ch.channel);
    covers(
        r.marginal_roas_ci_lower,
        t.marginal_roas_total,
        r.marginal_roas_ci_upper,
        &what,
    );
}

/// Carryover (geometric decays 0.2–0.7 drawn per channel): the searched transform gets the
/// switch-off return within 10% and the marginal return within 20% of the truth, both
/// intervals covering it, and the zero-effect channel is not significant. Before response
/// transforms the same world's meta estimate was off by half (issue 17's table).
#[test]
fn carryover_world_switch_off_and_marginal_returns() {
    let world = World::generate(&WorldConfig::preset(Preset::Carryover, 1)).unwrap();
    switch_off_recovered(&world, &analyze(&world, false), |ch, t| {
        marginal_within(ch, t, 0.20)
    });
}

/// Long carryover (true decays 0.8–0.92, linear response; seed 2): the grid's decays stop
/// at 0.8 and the refinement's longer ones did not fit enough better to replace it for
/// Google Ads and Meta, whose returns then come out low (13.9 against a true 19.1, 12.7
/// against 14.7). Both get a warning that their effect may last longer and their returns
/// be higher, and their switch-off intervals cover the truth; the carryover world's
/// channels (decays 0.2–0.7) get no such warning.
#[test]
fn a_decay_chosen_at_the_longest_searched_warns_that_returns_may_be_higher() {
    let long = |w: &String, c: &str| {
        w.starts_with(&format!(
            "Channel `{c}`: its carryover decay came out at the longest"
        ))
    };
    let world = World::generate(&WorldConfig::preset(Preset::LongCarryover, 2)).unwrap();
    let a = analyze_with_seed(&world, false, 2);
    let warnings = &a.primary().diagnostics.warnings;
    for ch in &a.primary().channels {
        let t = world.truth().channel(&ch.channel).unwrap();
        show(ch, t);
        if t.zero_effect {
            assert!(
                !warnings.iter().any(|w| long(w, &ch.channel)),
                "{warnings:#?}"
            );
            continue;
        }
        switch_off_covers(ch, t);
        let decay = ch.response.as_ref().unwrap().transform.adstock_decay;
        assert_eq!(
            warnings.iter().any(|w| long(w, &ch.channel)),
            (decay - 0.8).abs() < 1e-9,
            "{} at decay {decay}: {warnings:#?}",
            ch.channel
        );
    }
    for c in ["google_ads", "meta"] {
        assert!(warnings.iter().any(|w| long(w, c)), "{c}: {warnings:#?}");
    }
    let world = World::generate(&WorldConfig::preset(Preset::Carryover, 1)).unwrap();
    let a = analyze(&world, false);
    let warnings = &a.primary().diagnostics.warnings;
    assert!(
        !warnings
            .iter()
            .any(|w| w.contains("carryover decay came out at the longest")),
        "{warnings:#?}"
    );
}

/// Carryover seed 3 (linear response): spend and revenue both follow the seasons, and
/// the forest's fit of them is coarse in the fast weeks before Christmas. Comparing the
/// candidate curves on residuals across weeks, the search chose an S-shaped curve far
/// below its half-saturation for Meta (convex over today's spend) and reported a
/// switch-off return of 2.32 [1.69, 3.35] against a true 4.88. Compared within each
/// campaign's weeks, every effect channel's switch-off interval covers the truth and
/// Meta's estimate is within 35% of it.
#[test]
fn seasons_left_in_the_residuals_do_not_pass_for_a_convex_curve() {
    let world = World::generate(&WorldConfig::preset(Preset::Carryover, 3)).unwrap();
    let a = analyze(&world, false);
    for ch in &a.primary().channels {
        let t = world.truth().channel(&ch.channel).unwrap();
        show(ch, t);
        if t.zero_effect {
            continue;
        }
        switch_off_covers(ch, t);
        if ch.channel == "meta" {
            let rel = (ch.incremental_roas - t.incremental_roas).abs() / t.incremental_roas;
            assert!(rel < 0.35, "meta switch-off off by {rel:.3}");
        }
    }
}

/// Saturation (Hill shapes 1–2, half-saturation 0.5–2× budget): the marginal return is
/// within 20% of the truth with its interval covering; the switch-off return's interval
/// covers the truth (it includes every response curve the data cannot reject), the
/// response curve is 0 at zero spend, equals the switch-off lift at today's spend and
/// bends (the second half of the spend adds less than the first), and channels whose
/// switch-off return the data cannot pin down are named in a warning.
#[test]
fn saturation_world_marginal_return_and_honest_switch_off() {
    let world = World::generate(&WorldConfig::preset(Preset::Saturation, 1)).unwrap();
    let a = analyze(&world, false);
    let r0 = a.primary();
    for ch in &r0.channels {
        let t = world.truth().channel(&ch.channel).unwrap();
        let r = ch.response.as_ref().unwrap();
        show(ch, t);
        if t.zero_effect {
            assert!(ch.p_value > 0.05, "{} p {}", ch.channel, ch.p_value);
            continue;
        }
        marginal_within(ch, t, 0.20);
        switch_off_covers(ch, t);
        let curve = &r.response_curve;
        assert_eq!(curve.first().unwrap().incremental_revenue, 0.0);
        let at_one = curve.iter().find(|p| p.scale == 1.0).unwrap();
        assert!(
            (at_one.incremental_revenue - ch.revenue_lift).abs() < 1e-6 * ch.revenue_lift.abs()
        );
        let at_two = curve.iter().find(|p| p.scale == 2.0).unwrap();
        if r.transform.saturation.is_some() {
            assert!(
                at_two.incremental_revenue - at_one.incremental_revenue
                    < at_one.incremental_revenue,
                "{}: the curve does not bend",
                ch.channel
            );
        }
        for p in curve {
            assert!(p.ci_lower <= p.incremental_revenue && p.incremental_revenue <= p.ci_upper);
        }
        let wide = r.switch_off_range.0 > 0.0
            && r.switch_off_range.1
                > liftos_causal::attribution::SWITCH_OFF_SPREAD_WARNING * r.switch_off_range.0;
        let warned = r0
            .diagnostics
            .warnings
            .iter()
            .any(|w| w.contains(&format!("`{}`", ch.channel)) && w.contains("pin down"));
        let detected = ch.p_value < 0.05 || r.marginal_roas_ci_lower > 0.0;
        assert_eq!(wide && detected, warned, "{}", ch.channel);
    }
    let json = r0.to_json();
    let meta = json["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "meta")
        .unwrap();
    for key in [
        "marginal_roas_ci_lower",
        "marginal_roas_ci_upper",
        "response_curve",
        "sensitivity",
        "transform_selection",
    ] {
        assert!(!meta[key].is_null(), "{key} missing: {meta}");
    }
    assert_eq!(meta["response_curve"].as_array().unwrap().len(), 9);
}

/// One forest sees every channel, so a leaf can hold rows of several channels. On
/// saturation seed 24 the search puts the small Klaviyo channel far above its
/// half-saturation (`K` = ¼ of the mean exposure), where `f(a)` is a fifth of the spend:
/// measured per unit of `f`, its effect was five times the others' and the pooled leaves
/// averaged it away (marginal 0.05 [−0.14, 0.25] against a true 0.58; 17 of 18 Klaviyo
/// misses on 100 seeds were such). With every transform in spend units its marginal
/// return is within 25% of the truth and its interval covers.
#[test]
fn a_small_saturated_channel_is_not_pooled_away() {
    let world = World::generate(&WorldConfig::preset(Preset::Saturation, 24)).unwrap();
    let a = analyze(&world, false);
    let ch = a.primary().channel("klaviyo").unwrap();
    let t = world.truth().channel("klaviyo").unwrap();
    show(ch, t);
    marginal_within(ch, t, 0.25);
    switch_off_covers(ch, t);
}

/// A hidden AR(1) demand shock moving spend and revenue together: the effect cannot be
/// known for sure from these data, and the results say so (the common-spend warning, a
/// failed placebo or a robustness warning), whatever the numbers. The shock moves every
/// budget at once, so the common-spend check finds it and the other campaigns' spend of
/// the day enters the controls: the channels' marginal returns come out within 20% of the
/// truth and the zero-effect channel's marginal interval covers 0 (without the control,
/// 20/100 seeds covered 0; README). The effect channels' marginal intervals are not
/// asserted on this one seed: they cover in 59/60 channel-seeds of seeds 1–20, and the one
/// miss is this seed's Klaviyo (3.14 [2.84, 3.39] against 3.54).
#[test]
fn latent_world_warns() {
    let world = World::generate(&WorldConfig::preset(Preset::Latent, 1)).unwrap();
    assert!(world.truth().hidden_confounding);
    let a = analyze(&world, true);
    let primary = a.primary();
    let warnings = &primary.diagnostics.warnings;
    eprintln!("{warnings:#?}");
    assert!(
        warnings.iter().any(|w| w.contains("common-spend ratio")
            || w.contains("Placebo check failed")
            || w.contains("not robust")),
        "{warnings:?}"
    );
    let controls = primary
        .settings
        .iter()
        .find(|(k, _)| k == "control_variables")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(controls.contains("common_spend"), "{controls}");
    for ch in &primary.channels {
        let t = world.truth().channel(&ch.channel).unwrap();
        show(ch, t);
        let r = ch.response.as_ref().unwrap();
        if t.zero_effect {
            assert!(
                r.marginal_roas_ci_lower <= 0.0 && 0.0 <= r.marginal_roas_ci_upper,
                "{} marginal interval excludes 0",
                ch.channel
            );
            continue;
        }
        let mrel = (ch.marginal_roas - t.marginal_roas_total).abs() / t.marginal_roas_total;
        assert!(mrel < 0.20, "{} marginal off by {mrel:.3}", ch.channel);
    }
}

/// Spend cannot lower revenue (the default, `AttributionOptions::non_negative`), as at the
/// business level: a channel whose fitted switch-off lift is below zero is reported at
/// zero with p = 1, its average effect and robustness values at 0, every interval cut at
/// zero, and a warning naming it; every other number is the unconstrained fit's, floored.
/// Each true effect is ≥ 0, so no estimate moves further from the truth and no interval
/// that covered stops covering. Linear world, seed 3: the zero-effect channel is fitted
/// below zero (seeds 1, 2, 4 and 5 have no channel below zero; the test fails if none is).
#[test]
fn effects_below_zero_are_reported_at_zero_at_the_campaign_level() {
    let world = World::generate(&WorldConfig::preset(Preset::Linear, 3)).unwrap();
    let raw = analyze_with(&world, false, 1, false);
    let fit = analyze_with(&world, false, 1, true);
    let (raw, fit) = (raw.primary(), fit.primary());
    let setting = |r: &liftos_causal::AttributionResults| {
        r.settings
            .iter()
            .find(|(k, _)| k == "non_negative")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(setting(raw).as_deref(), Some("false"));
    assert_eq!(setting(fit).as_deref(), Some("true"));
    let warned = |r: &liftos_causal::AttributionResults, channel: &str, what: &str| {
        let head = format!("Channel `{channel}`: the data put its {what} below zero");
        r.diagnostics.warnings.iter().any(|w| w.starts_with(&head))
    };
    let mut floored_channels = 0;
    for (a, b) in raw.channels.iter().zip(&fit.channels) {
        let at = a.channel.as_str();
        let truth = world.truth().channel(at).unwrap();
        assert!(truth.incremental_roas >= 0.0 && truth.marginal_roas_total >= 0.0);
        let floored = a.revenue_lift < 0.0;
        floored_channels += usize::from(floored);
        assert_eq!(b.p_value, if floored { 1.0 } else { a.p_value }, "{at}");
        assert_eq!(b.std_err, a.std_err, "{at}");
        let beta = if floored { 0.0 } else { a.average_effect };
        assert_eq!(b.average_effect, beta, "{at}");
        for (x, y) in [
            (a.revenue_lift, b.revenue_lift),
            (a.ci_lower, b.ci_lower),
            (a.ci_upper, b.ci_upper),
            (a.incremental_roas, b.incremental_roas),
            (a.incremental_roas_ci_lower, b.incremental_roas_ci_lower),
            (a.incremental_roas_ci_upper, b.incremental_roas_ci_upper),
            (a.marginal_roas, b.marginal_roas),
        ] {
            assert_eq!(y, x.max(0.0), "{at}");
        }
        assert_eq!(b.long_run_roas, a.long_run_roas.map(|v| v.max(0.0)), "{at}");
        let (ra, rb) = (a.response.as_ref().unwrap(), b.response.as_ref().unwrap());
        for (x, y) in [
            (ra.marginal_roas_ci_lower, rb.marginal_roas_ci_lower),
            (ra.marginal_roas_ci_upper, rb.marginal_roas_ci_upper),
            (ra.switch_off_range.0, rb.switch_off_range.0),
            (ra.switch_off_range.1, rb.switch_off_range.1),
        ] {
            assert_eq!(y, x.max(0.0), "{at}");
        }
        for (pa, pb) in ra.response_curve.iter().zip(&rb.response_curve) {
            assert_eq!(
                pb.incremental_revenue,
                pa.incremental_revenue.max(0.0),
                "{at}"
            );
            assert_eq!(pb.ci_lower, pa.ci_lower.max(0.0), "{at}");
            assert_eq!(pb.ci_upper, pa.ci_upper.max(0.0), "{at}");
        }
        let s = (&ra.sensitivity, &rb.sensitivity);
        let robustness = if floored {
            (0.0, 0.0)
        } else {
            (s.0.robustness_value, s.0.robustness_value_ci)
        };
        assert_eq!(
            (s.1.robustness_value, s.1.robustness_value_ci),
            robustness,
            "{at}"
        );
        let t = truth.incremental_roas;
        assert!(
            (b.incremental_roas - t).abs() <= (a.incremental_roas - t).abs(),
            "{at}"
        );
        let covers = |c: &ChannelEffect| {
            c.incremental_roas_ci_lower <= t && t <= c.incremental_roas_ci_upper
        };
        assert!(!covers(a) || covers(b), "{at}");
        assert_eq!(warned(fit, at, "switch-off return"), floored, "{at}");
        let marginal_only = !floored && a.marginal_roas < 0.0;
        assert_eq!(warned(fit, at, "marginal return"), marginal_only, "{at}");
        assert!(!warned(raw, at, "switch-off return"), "{at}");
        if floored {
            assert!(
                truth.zero_effect,
                "{at}: a channel with an effect fitted below zero"
            );
        }
    }
    assert!(floored_channels > 0, "no channel is fitted below zero here");
}

/// Without a hidden shock the common-spend check stays quiet and the controls are the
/// calendar's and the campaigns' only (realistic world: budgets that step on their own).
#[test]
fn realistic_world_has_no_common_spend_control() {
    let world = World::generate(&WorldConfig::preset(Preset::Realistic, 2)).unwrap();
    let table = world.unified_table_with_calendar_flags().unwrap();
    let panel = prepare_causal_data(&table, &CausalRoles::default()).unwrap();
    let check = panel.common_spend.unwrap();
    assert!(!check.controlled, "{check:?}");
    assert!(check.variance_ratio < 1.6, "{check:?}");
    assert!(
        !panel
            .controls
            .iter()
            .any(|(n, _)| n.starts_with("common_spend"))
    );
}

/// Realistic seed 1 (saturation, carryover, budget steps, AR(1) noise, budgets 10×
/// apart): the search residualises revenue by a forest grown on revenue. With the
/// weights of the forest grown on spend (the search before), Google Ads' switch-off
/// return came out at 5.21 against a true 2.87, the three channels off by 40% on
/// average. Now they are off by less than 20% on average, every interval covers and the
/// zero-effect channel is not significant.
#[test]
fn revenue_residualised_by_its_own_forest() {
    let world = World::generate(&WorldConfig::preset(Preset::Realistic, 1)).unwrap();
    let a = analyze(&world, false);
    let mut errors = Vec::new();
    each_effect_channel(&world, &a, |_, _, rel| errors.push(rel));
    assert_eq!(errors.len(), 3);
    let mean = errors.iter().sum::<f64>() / 3.0;
    assert!(mean < 0.20, "switch-off off by {mean:.3} on average");
    // No spillover in this world, and none warned.
    let d = &a.primary().diagnostics;
    assert_eq!(d.spillover.len(), 12);
    assert!(
        !d.warnings.iter().any(|w| w.starts_with("Spillover:")),
        "{:?}",
        d.warnings
    );
}

/// Spillover (35% of Meta's effect recorded in Google Ads' rows), seed 2, at the campaign
/// level: Meta's own rows show 65% of its effect. The spillover check finds the rest in
/// Google Ads' rows (0.85 [0.74, 0.97] per unit of Meta's spend against a true 0.735,
/// p < 0.001: within 20%, though its interval alone just misses), and no other pair of
/// channels is warned of.
///
/// With `credit_spillover` off, Meta's returns are its own rows' (its interval misses the
/// whole truth) and the one warning says it is not credited. Crediting the same results
/// ([`credit_spillover`], what the default analysis does) gives Meta's switch-off return
/// within 10% of the truth with its interval covering, scales the marginal return and the
/// curve by the same factor, and leaves every other channel alone.
#[test]
fn spillover_into_another_channels_rows_is_found_warned_and_credited() {
    let world = World::generate(&WorldConfig::preset(Preset::Spillover, 2)).unwrap();
    let table = world.unified_table_with_calendar_flags().unwrap();
    let roles = CausalRoles::default().with_adstock(Adstock::Auto);
    let panel = prepare_causal_data(&table, &roles).unwrap();
    let options = AttributionOptions::default()
        .with_model(AttributionModel::CausalForest(
            CausalForestParams::default().with_num_trees(300),
        ))
        .with_cross_validation(false)
        .with_placebo_lead_days(None)
        .with_seed(1)
        .with_credit_spillover(false);
    let a = analyze_attribution(&panel, &options).unwrap();
    let own_only = a.primary();
    let d = &own_only.diagnostics;
    let truth = world.truth().channel("meta").unwrap();
    let spilled = truth.incremental_roas - crate::business::own_rows_return(&world, "meta");
    // Every ordered pair of the four channels is checked.
    assert_eq!(d.spillover.len(), 12, "{:?}", d.spillover);
    let check = d
        .spillover
        .iter()
        .find(|c| c.from == "meta" && c.to == "google_ads")
        .unwrap();
    eprintln!("{check:?}, true spilled return {spilled:.3}");
    assert!(check.p_value < 0.001, "{check:?}");
    assert!(
        (check.roas / spilled - 1.0).abs() < 0.2,
        "meta's return in google_ads' rows: {:.3} against {spilled:.3}",
        check.roas
    );
    assert!(d.spillover.iter().all(|c| !c.credited));
    let meta = own_only.channel("meta").unwrap();
    assert_eq!(check.source_roas, meta.incremental_roas);
    assert!(meta.incremental_roas_ci_upper < truth.incremental_roas);
    let warned: Vec<&String> = d
        .warnings
        .iter()
        .filter(|w| w.starts_with("Spillover:"))
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("`google_ads`'s rows moves with `meta`'s spend")
            && warned[0].contains("Not credited to `meta` (crediting is off)"),
        "{}",
        warned[0]
    );

    let mut credited = own_only.clone();
    credit_spillover(&mut credited, 0.95, true);
    let only: Vec<(&str, &str)> = credited
        .diagnostics
        .spillover
        .iter()
        .filter(|c| c.credited)
        .map(|c| (c.from.as_str(), c.to.as_str()))
        .collect();
    assert_eq!(only, [("meta", "google_ads")]);
    let after = credited.channel("meta").unwrap();
    show(after, truth);
    let rel = (after.incremental_roas / truth.incremental_roas - 1.0).abs();
    assert!(
        rel < 0.10,
        "meta's credited switch-off return off by {rel:.3}"
    );
    assert!(
        after.incremental_roas_ci_lower <= truth.incremental_roas
            && truth.incremental_roas <= after.incremental_roas_ci_upper
    );
    assert!((after.incremental_roas - meta.incremental_roas - check.roas).abs() < 1e-9);
    let factor = after.incremental_roas / meta.incremental_roas;
    assert!((after.marginal_roas / meta.marginal_roas - factor).abs() < 1e-9);
    assert!((after.revenue_lift / meta.revenue_lift - factor).abs() < 1e-9);
    let (before_curve, after_curve) = (
        &meta.response.as_ref().unwrap().response_curve,
        &after.response.as_ref().unwrap().response_curve,
    );
    for (b, c) in before_curve.iter().zip(after_curve) {
        assert!((c.incremental_revenue - factor * b.incremental_revenue).abs() < 1e-6);
        assert!(c.ci_lower >= b.ci_lower && c.ci_upper >= b.ci_upper);
    }
    // The curve at today's spend is the switch-off lift.
    let today = after_curve.iter().find(|p| p.scale == 1.0).unwrap();
    assert!((today.incremental_revenue / after.revenue_lift - 1.0).abs() < 1e-6);
    for (b, c) in own_only.channels.iter().zip(&credited.channels) {
        if b.channel != "meta" {
            assert_eq!(b, c);
        }
    }
}

/// Realistic seed 55 (nothing spills): the check finds the zero-effect channel's spend
/// moving the revenue of Meta's rows (0.93 [0.45, 1.41] per unit, p < 0.001), a false
/// finding. That channel's own rows show no significant effect, so the finding is warned
/// of as a budget that more likely follows demand, not credited, and its switch-off interval still reaches 0 (credited, before
/// the source's own significance was required, it read 1.02 [0.45, 1.96] against a true
/// 0, while its p-value said not significant). The estimator's seed is the world's, as
/// in `sandbox_coverage`.
#[test]
fn a_spillover_from_a_channel_without_a_significant_effect_is_not_credited() {
    let world = World::generate(&WorldConfig::preset(Preset::Realistic, 55)).unwrap();
    let a = analyze_with_seed(&world, true, 55);
    let r = a.primary();
    let check = r
        .diagnostics
        .spillover
        .iter()
        .find(|c| c.from == "tiktok" && c.to == "meta")
        .unwrap();
    assert!(check.p_value < 0.001 && !check.credited, "{check:?}");
    assert!(r.diagnostics.spillover.iter().all(|c| !c.credited));
    let tiktok = r.channel("tiktok").unwrap();
    assert!(tiktok.p_value >= 0.05, "{tiktok:?}");
    assert!(tiktok.incremental_roas_ci_lower <= 0.0, "{tiktok:?}");
    assert!(
        r.diagnostics.warnings.iter().any(|w| w
            .contains("while `tiktok`'s own rows show no significant effect")
            && w.contains("more likely `tiktok`'s budget follows a demand")
            && w.contains("Not credited to `tiktok`")),
        "{:?}",
        r.diagnostics.warnings
    );
}

/// A linear world with the search on: every channel with an effect keeps a switch-off
/// return within 10% of the truth (the search must not invent saturation), and the
/// zero-effect channel is not significant.
#[test]
fn linear_world_survives_the_search() {
    let world = World::generate(&WorldConfig::preset(Preset::Linear, 1)).unwrap();
    switch_off_recovered(&world, &analyze(&world, false), |_, _| {});
}

/// The realistic world's own curves, pinned (`ResponseOptions::pin`): not searched, and
/// the switch-off returns are within 10% of the truth, intervals covering, the
/// zero-effect channel not significant. The searched curves on the same world are off
/// by up to a third: the error is the curve's, which the data cannot pin down, not the
/// estimation's through it (see the README's oracle-curve figures).
#[test]
fn pinned_curves_are_used_as_given() {
    let world = World::generate(&WorldConfig::preset(Preset::Realistic, 2)).unwrap();
    let table = world.unified_table_with_calendar_flags().unwrap();
    let panel = prepare_causal_data(&table, &CausalRoles::default()).unwrap();
    let mut response = ResponseOptions::auto();
    for c in &world.config().channels {
        let Saturation::Hill {
            half_saturation,
            shape,
        } = c.saturation
        else {
            panic!("realistic channels saturate")
        };
        let text = format!("{}={}:{half_saturation}:{shape}", c.name, c.adstock_decay);
        let (name, transform) = ResponseTransform::parse_pin(&text).unwrap();
        response = response.pin(name, transform);
    }
    let options = AttributionOptions::default()
        .with_model(AttributionModel::CausalForest(
            CausalForestParams::default().with_num_trees(300),
        ))
        .with_cross_validation(false)
        .with_response(response.clone())
        .with_seed(1);
    let a = analyze_attribution(&panel, &options).unwrap();
    switch_off_recovered(&world, &a, |ch, _| {
        let r = ch.response.as_ref().unwrap();
        assert_eq!(Some(&r.transform), response.pinned.get(&ch.channel));
        assert_eq!(r.plausible_transforms, 1, "{}", ch.channel);
    });

    // A channel the data do not have is an error naming it and the data's channels.
    let options = options.with_response(ResponseOptions::auto().pin(
        "tv",
        ResponseTransform {
            adstock_decay: 0.5,
            saturation: None,
        },
    ));
    let err = analyze_attribution(&panel, &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tv") && err.contains("meta"), "{err}");
}

/// The 7-day placebo warns where spend reacts to the same day's revenue shock (feedback
/// seed 1: p < 0.001; seed 4: a negative estimate at p = 0.03) and not on a linear world
/// without hidden confounding whose placebo p-value is 0.016 with a positive estimate
/// (linear seed 4, estimator seed 4, as `sandbox_coverage` runs it; linear seed 3 was
/// that world, at p 0.015, until the search residualised revenue by a forest of its own,
/// which put it at 0.066): at the 0.05 level for either sign the warning fired on such
/// worlds and in 17 more of 100 linear worlds (`PLACEBO_WARNING_P`,
/// `PLACEBO_NEGATIVE_WARNING_P`).
#[test]
fn the_placebo_warns_on_feedback_and_not_on_a_null_worlds_noise() {
    let placebo_warning = |preset, seed| {
        let world = World::generate(&WorldConfig::preset(preset, seed)).unwrap();
        let a = analyze_with_seed(&world, true, seed);
        let p = a.primary().diagnostics.placebo.as_ref().unwrap().p_value;
        let warned = a
            .primary()
            .diagnostics
            .warnings
            .iter()
            .any(|w| w.contains("Placebo check failed"));
        (p, warned)
    };
    let (p, warned) = placebo_warning(Preset::Feedback, 1);
    assert!(p < 0.001 && warned, "feedback: p {p}, warned {warned}");
    // A negative placebo warns from p < 0.05 (`PLACEBO_NEGATIVE_WARNING_P`): feedback seed
    // 4 (p 0.031, estimate -0.12) was silent at 0.01.
    let (p, warned) = placebo_warning(Preset::Feedback, 4);
    assert!(
        (0.01..0.05).contains(&p) && warned,
        "feedback 4: p {p}, warned {warned}"
    );
    let (p, warned) = placebo_warning(Preset::Linear, 4);
    assert!(
        (0.01..0.05).contains(&p) && !warned,
        "linear: p {p}, warned {warned}"
    );
}
