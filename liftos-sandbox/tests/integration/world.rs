//! Determinism, shape and confounding.

use arrow::array::{Array, Float64Array, StringArray};
use arrow::util::pretty::pretty_format_batches;
use liftos_sandbox::{World, WorldConfig};

use crate::{native_json, pearson, small, zero_effect_world};

fn csv_bytes(world: &World) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = arrow::csv::Writer::new(&mut out);
    w.write(&world.unified_table().unwrap()).unwrap();
    w.write(&world.truth_table().unwrap()).unwrap();
    drop(w);
    out.extend(serde_json::to_vec(world.truth()).unwrap());
    out.extend(native_json(world));
    out
}

#[test]
fn same_config_and_seed_give_byte_identical_output() {
    let a = csv_bytes(&small(7));
    let b = csv_bytes(&small(7));
    assert!(a == b, "two generations of the same world differ");
    let c = csv_bytes(&small(8));
    assert!(a != c, "a different seed must give a different world");
}

#[test]
fn the_unified_table_starts_as_documented() {
    let config = WorldConfig::standard(2).with_days(3);
    let world = World::generate(&config).unwrap();
    let table = world.unified_table().unwrap();
    let head = table.slice(0, 4);
    let text = pretty_format_batches(&[head]).unwrap().to_string();
    let expected = "\
+------------+------------+------------+-------------+----------------------------+----------+----------+---------+-------------+--------+-------------+----------+
| date       | channel    | account_id | campaign_id | campaign                   | ad_group | currency | spend   | impressions | clicks | conversions | revenue  |
+------------+------------+------------+-------------+----------------------------+----------+----------+---------+-------------+--------+-------------+----------+
| 2024-01-01 | google_ads | 1234567890 | 1789000001  | Search - Brand             |          | USD      | 382.48  | 11273       | 541    | 30.0        | 2561.48  |
| 2024-01-01 | google_ads | 1234567890 | 1789000002  | Search - Generic           |          | USD      | 2016.26 | 56966       | 2817   | 139.0       | 11815.74 |
| 2024-01-01 | meta       | 1000000001 | 23850000001 | Prospecting - Broad        |          | USD      | 1632.52 | 178859      | 2107   | 121.0       | 8514.29  |
| 2024-01-01 | meta       | 1000000002 | 23850000002 | Retargeting - 30d Visitors |          | USD      | 1394.89 | 164465      | 1883   | 105.0       | 7350.8   |
+------------+------------+------------+-------------+----------------------------+----------+----------+---------+-------------+--------+-------------+----------+";
    // Sorted by date, channel, account, campaign; Klaviyo sends only on its send days
    // (2024-01-01 is a Monday and a holiday, not a send day).
    assert_eq!(text, expected, "\n{text}");
    let channels = table
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let firsts: Vec<_> = (0..4).map(|i| channels.value(i)).collect();
    assert_eq!(
        firsts,
        ["google_ads", "google_ads", "meta", "meta"],
        "{text}"
    );
    assert_eq!(
        table.column(5).null_count(),
        table.num_rows(),
        "ad_group is null"
    );
}

#[test]
fn natural_keys_are_unique_and_values_are_sane() {
    let world = small(3);
    let mut keys = std::collections::HashSet::new();
    for r in world.rows() {
        assert!(
            keys.insert((r.date, r.channel, r.account_id, r.campaign_id.clone())),
            "duplicate key {r:?}"
        );
        assert!(r.spend > 0.0 && r.revenue > 0.0, "{r:?}");
        assert!(r.clicks <= r.impressions, "{r:?}");
        assert!(
            r.conversions >= 0.0 && r.conversions.fract() == 0.0,
            "{r:?}"
        );
        assert_eq!((r.spend * 100.0).round() / 100.0, r.spend, "spend in cents");
    }
}

#[test]
fn two_years_of_fifty_campaigns_is_a_big_enough_world() {
    // 3 channels × 17 campaigns ≈ 50; the timing target is checked by the criterion
    // bench `world` (benches/), not here.
    let world = World::generate(&WorldConfig::standard(17)).unwrap();
    assert!(world.num_rows() > 20_000, "{}", world.num_rows());
}

/// Within one campaign, correlation between log spend and log baseline revenue.
fn spend_baseline_correlation(world: &World, campaign: &str) -> f64 {
    let (mut s, mut b) = (Vec::new(), Vec::new());
    for r in world.rows().filter(|r| r.campaign_id == campaign) {
        s.push(r.spend.ln());
        b.push(r.baseline_revenue.ln());
    }
    pearson(&s, &b)
}

#[test]
fn spend_is_confounded_with_the_baseline_in_the_configured_direction() {
    let campaign = "23850000001";
    let strong = World::generate(
        &WorldConfig::standard(3)
            .with_days(365)
            .with_confounding(1.5),
    )
    .unwrap();
    let none = World::generate(
        &WorldConfig::standard(3)
            .with_days(365)
            .with_confounding(0.0),
    )
    .unwrap();
    let r_strong = spend_baseline_correlation(&strong, campaign);
    let r_none = spend_baseline_correlation(&none, campaign);
    assert!(r_strong > 0.4, "confounded world: corr = {r_strong}");
    assert!(r_none.abs() < 0.12, "unconfounded world: corr = {r_none}");
    // ... and the naive return is biased upward by it.
    let t = strong.truth().channel("meta").unwrap();
    assert!(t.naive_roas > 1.3 * t.incremental_roas, "{t:?}");
}

#[test]
fn the_zero_effect_channel_really_has_zero_effect() {
    let world = zero_effect_world(3, 365);
    let t = world.truth().channel("tiktok").unwrap();
    assert!(t.zero_effect);
    assert_eq!(t.incremental_revenue, 0.0);
    assert_eq!(t.incremental_conversions, 0.0);
    assert_eq!(t.marginal_roas, 0.0);
    assert!(
        t.spend > 0.0 && t.naive_roas > 1.0,
        "a naive analysis credits it: {t:?}"
    );
    // Switching it off changes no row's revenue at all.
    let base = world.outcomes(liftos_sandbox::Intervention::None).unwrap();
    let off = world
        .outcomes(liftos_sandbox::Intervention::SwitchOff("tiktok"))
        .unwrap();
    assert_eq!(base, off);
    // Its rows reach the unified table like any other channel's.
    let table = world.unified_table().unwrap();
    let ch = table
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let spend = table
        .column(7)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let total: f64 = (0..table.num_rows())
        .filter(|&i| ch.value(i) == "tiktok")
        .map(|i| spend.value(i))
        .sum();
    assert!((total - t.spend).abs() < 1e-6 * t.spend);
}

#[test]
fn invalid_configs_are_rejected_before_simulating() {
    let err = World::generate(&WorldConfig::default().with_noise(-1.0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid world configuration: `noise` must be in [0, 2], got -1"
    );
    let err = World::generate(&WorldConfig::default().with_days(0)).unwrap_err();
    assert!(err.to_string().contains("`days`"), "{err}");
}
