//! The budget planner on sandbox worlds with saturation and carryover: the recommended
//! split, re-simulated in the world, against the world's own optimum for the same budget.

use liftos_causal::plan::{PlanOptions, plan_budget};
use liftos_causal::{
    AttributionModel, AttributionOptions, CausalForestParams, CausalRoles, analyze_attribution,
    prepare_causal_data,
};
use liftos_sandbox::{Preset, World, WorldConfig};

fn check(preset: Preset, seed: u64) {
    let world = World::generate(&WorldConfig::preset(preset, seed)).unwrap();
    let results = crate::response::analyze(&world, false);
    let results = results.primary();
    let budget: f64 = world.truth().channels.iter().map(|c| c.spend).sum();
    // Default bounds: each channel within ±50% of what it spent.
    let plan = plan_budget(results, &PlanOptions::new(budget)).unwrap();
    let split: Vec<(&str, f64)> = plan
        .channels
        .iter()
        .map(|c| (c.channel.as_str(), c.recommended_spend))
        .collect();
    let planned = world
        .allocation_revenue(&split)
        .unwrap()
        .incremental_revenue;
    let current = world.allocation_revenue(&[]).unwrap().incremental_revenue;
    // The world's own best split with the same bounds.
    let best = world.optimal_allocation(budget, 0.5, 1.5, 1000).unwrap();
    let optimum = best.incremental_revenue;
    eprintln!(
        "{}: plan {planned:.0} ({:.1}% of optimum {optimum:.0}); current split {current:.0} \
         ({:.1}%); planner expected {:.0} [{:.0}, {:.0}]; uplift {:.0} [{:.0}, {:.0}], true {:.0}",
        preset.as_str(),
        100.0 * planned / optimum,
        100.0 * current / optimum,
        plan.expected_incremental_revenue,
        plan.expected_ci.0,
        plan.expected_ci.1,
        plan.uplift,
        plan.uplift_ci.0,
        plan.uplift_ci.1,
        planned - current,
    );
    for c in &plan.channels {
        let est = results.channel(&c.channel).unwrap();
        let r = est.response.as_ref().unwrap();
        let t = world.truth().channel(&c.channel).unwrap();
        eprintln!(
            "  {}: {:.0} -> {:.0} [{:.0}, {:.0}] (optimum {:.0}) marginal {:.2} [{:.2}, {:.2}] truth {:.2}; held {} {:?}",
            c.channel,
            c.current_spend,
            c.recommended_spend,
            c.min_spend,
            c.max_spend,
            best.spend_of(&c.channel).unwrap(),
            est.marginal_roas,
            r.marginal_roas_ci_lower,
            r.marginal_roas_ci_upper,
            t.marginal_roas_total,
            c.held,
            c.reason
        );
    }
    assert!((plan.allocated_budget - budget).abs() < 1e-6 * budget);
    assert!(
        planned >= 0.95 * optimum,
        "plan reaches {planned} of {optimum}"
    );
    assert!(
        planned > current,
        "plan {planned} vs current split {current}"
    );
    // The uplift's interval carries the true uplift.
    let true_uplift = planned - current;
    assert!(
        plan.uplift_ci.0 <= true_uplift && true_uplift <= plan.uplift_ci.1,
        "true uplift {true_uplift} outside [{}, {}]",
        plan.uplift_ci.0,
        plan.uplift_ci.1
    );
}

/// Hill saturation per campaign: the plan reaches ≥ 95% of the world's optimum for the
/// same budget and beats the current split.
#[test]
fn saturation_world_plan_reaches_the_true_optimum() {
    check(Preset::Saturation, 1);
}

/// Saturation, carryover, budget steps, autocorrelated noise, unbalanced budgets.
#[test]
fn realistic_world_plan_reaches_the_true_optimum() {
    check(Preset::Realistic, 1);
}

/// On a linear world the plan keeps to `--max-change` instead of moving everything to the
/// channel with the best return.
#[test]
fn linear_world_plan_respects_max_change() {
    let world = World::generate(&WorldConfig::preset(Preset::Linear, 1)).unwrap();
    let table = world.unified_table_with_calendar_flags().unwrap();
    let panel = prepare_causal_data(&table, &CausalRoles::default()).unwrap();
    let options = AttributionOptions::default()
        .with_model(AttributionModel::CausalForest(
            CausalForestParams::default().with_num_trees(200),
        ))
        .with_cross_validation(false)
        .with_seed(1);
    let results = analyze_attribution(&panel, &options).unwrap();
    let results = results.primary();
    let budget: f64 = results.channels.iter().map(|c| c.spend).sum();
    let plan = plan_budget(results, &PlanOptions::new(budget).with_max_change(0.3)).unwrap();
    for c in &plan.channels {
        eprintln!("{c:?}");
        assert!(
            c.recommended_spend <= 1.3 * c.current_spend + 1e-6
                && c.recommended_spend >= 0.7 * c.current_spend - 1e-6,
            "{} moved beyond 30%",
            c.channel
        );
    }
    // The best channel gets more; the plan earns more than today's split.
    let best = results
        .channels
        .iter()
        .filter(|c| c.ci_lower > 0.0)
        .max_by(|a, b| a.incremental_roas.total_cmp(&b.incremental_roas))
        .unwrap();
    let p = plan.channel(&best.channel).unwrap();
    assert!(p.recommended_spend > p.current_spend, "{p:?}");
    assert!(plan.expected_incremental_revenue > plan.current_incremental_revenue);
    // The zero-effect channel gives budget up or is held; it never gets more.
    let tiktok = plan.channel("tiktok").unwrap();
    assert!(
        tiktok.recommended_spend <= tiktok.current_spend + 1e-6,
        "{tiktok:?}"
    );
}
