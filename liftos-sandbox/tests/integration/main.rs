//! Integration tests of the sandbox world.

mod native;
mod presets;
mod truth;
mod world;

use liftos_sandbox::{Intervention, World, WorldConfig};

/// A small world that still has every feature: 3 channels × 3 campaigns, one year.
pub fn small(seed: u64) -> World {
    let config = WorldConfig::standard(3).with_days(365).with_seed(seed);
    World::generate(&config).expect("standard worlds are valid")
}

/// A world of `campaigns` campaigns per channel over `days` days whose TikTok channel has
/// no effect.
pub fn zero_effect_world(campaigns: usize, days: u32) -> World {
    let config = WorldConfig::standard(campaigns)
        .with_days(days)
        .with_zero_effect_channel("tiktok");
    World::generate(&config).unwrap()
}

/// Three channels over a year with carryover (Meta 0.6, Klaviyo 0.3) and Hill saturation
/// (half-saturation 1, shape 1.5).
pub fn carryover_config() -> WorldConfig {
    WorldConfig::standard(3)
        .with_days(365)
        .with_adstock("meta", 0.6)
        .with_adstock("klaviyo", 0.3)
        .with_saturation(liftos_sandbox::Saturation::Hill {
            half_saturation: 1.0,
            shape: 1.5,
        })
}

/// The rows the fake Meta, Google Ads and Klaviyo APIs serve of `world`, as JSON bytes.
pub fn native_json(world: &World) -> Vec<u8> {
    let mut out = serde_json::to_vec(&world.meta_insights()).unwrap();
    out.extend(serde_json::to_vec(&world.google_ads_rows()).unwrap());
    out.extend(serde_json::to_vec(&world.klaviyo_campaign_values()).unwrap());
    out
}

/// The Pearson correlation of `x` and `y`.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

/// d(total revenue)/d(scale of `channel`'s spend) at scale 1, as a central finite
/// difference with step `h` of the re-simulated revenue.
pub fn revenue_derivative(world: &World, channel: &str, h: f64) -> f64 {
    let up = world
        .outcomes(Intervention::ScaleSpend(channel, 1.0 + h))
        .unwrap();
    let down = world
        .outcomes(Intervention::ScaleSpend(channel, 1.0 - h))
        .unwrap();
    up.revenue
        .iter()
        .zip(&down.revenue)
        .map(|(a, b)| a - b)
        .sum::<f64>()
        / (2.0 * h)
}
