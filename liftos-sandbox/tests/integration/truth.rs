//! The truth a world reports equals what re-simulation gives.

use liftos_sandbox::{Intervention, Saturation, World, WorldConfig};

use crate::{carryover_config, revenue_derivative, small};

fn channel_sum(
    world: &World,
    channel: &str,
    f: impl Fn(&liftos_sandbox::WorldRow<'_>) -> f64,
) -> f64 {
    world
        .rows()
        .filter(|r| r.channel == channel)
        .map(|r| f(&r))
        .sum()
}

#[test]
fn without_carryover_incremental_revenue_is_tau_times_spend() {
    let world = small(11);
    for t in &world.truth().channels {
        let formula = channel_sum(&world, &t.channel, |r| r.tau * r.spend);
        assert!(
            (t.incremental_revenue - formula).abs() < 1e-6 * formula,
            "{}: truth {} vs Σ τ·s {}",
            t.channel,
            t.incremental_revenue,
            formula
        );
        assert!((t.incremental_roas - t.marginal_roas).abs() < 1e-9, "{t:?}");
        assert_eq!(t.marginal_roas, t.long_run_marginal_roas);
    }
}

#[test]
fn reported_truth_equals_an_independent_switch_off_resimulation() {
    let config = carryover_config();
    let world = World::generate(&config).unwrap();
    let actual = world.outcomes(Intervention::None).unwrap();
    // Intervention::None reproduces the emitted data (revenue is emitted in cents).
    for (r, rev) in world.rows().zip(&actual.revenue) {
        assert!((r.revenue - rev).abs() <= 0.005 + 1e-9, "{r:?} vs {rev}");
    }
    for t in &world.truth().channels {
        let off = world.outcomes(Intervention::SwitchOff(&t.channel)).unwrap();
        let diff: f64 = actual
            .revenue
            .iter()
            .zip(&off.revenue)
            .map(|(a, b)| a - b)
            .sum();
        assert!(
            (diff - t.incremental_revenue).abs() < 1e-6 * diff.abs().max(1.0),
            "{}",
            t.channel
        );
        // With saturation, the average return exceeds the marginal one.
        assert!(t.incremental_roas > t.marginal_roas, "{t:?}");
    }
    // Switching a channel off leaves the other channels' rows untouched.
    let off = world.outcomes(Intervention::SwitchOff("meta")).unwrap();
    for ((r, a), b) in world.rows().zip(&actual.revenue).zip(&off.revenue) {
        if r.channel != "meta" {
            assert_eq!(a, b);
        } else {
            assert!(a > b, "{r:?}");
        }
    }
}

#[test]
fn long_run_marginal_returns_match_a_finite_difference_of_spend() {
    let config = WorldConfig::standard(3)
        .with_days(365)
        .with_adstock("meta", 0.5)
        .with_saturation(Saturation::Hill {
            half_saturation: 1.2,
            shape: 1.0,
        });
    let world = World::generate(&config).unwrap();
    let t = world.truth().channel("meta").unwrap();
    let eps = 1e-4;
    let derivative = revenue_derivative(&world, "meta", eps);
    // d(total revenue)/d(scale) = Σ spend · long-run marginal return.
    let analytic = t.long_run_marginal_roas * t.spend;
    assert!(
        (derivative - analytic).abs() < 1e-4 * analytic,
        "finite difference {derivative} vs Σ s·τ_lr {analytic}"
    );
    // Carryover makes the long-run return larger than the same-day one.
    assert!(t.long_run_marginal_roas > 1.5 * t.marginal_roas, "{t:?}");
}

#[test]
fn temporal_truth_describes_the_baseline() {
    let world = small(5);
    let truth = world.truth();
    assert_eq!(truth.holiday_lift, 0.30);
    let mean: f64 = truth.day_of_week.iter().sum::<f64>() / 7.0;
    assert!(mean.abs() < 1e-12, "weekday lifts average to zero");
    assert!(
        truth.day_of_week[5] > 0.1,
        "Saturday is busy: {:?}",
        truth.day_of_week
    );
    assert!(
        truth.seasonal[11] > truth.seasonal[6] + 0.3,
        "December beats July: {:?}",
        truth.seasonal
    );
    // On a holiday the baseline is exactly (1 + lift) × the same day's demand without it.
    let holiday = world.rows().find(|r| r.is_holiday).unwrap();
    let config = WorldConfig {
        holiday_lift: 0.0,
        ..world.config().clone()
    };
    let flat = World::generate(&config).unwrap();
    let same = flat
        .rows()
        .find(|r| r.date == holiday.date && r.campaign_id == holiday.campaign_id)
        .unwrap();
    assert!((holiday.demand / same.demand - 1.3).abs() < 1e-12);
}
