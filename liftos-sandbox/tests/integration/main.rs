//! Integration tests of the sandbox world.

mod native;
mod presets;
mod truth;
mod world;

use liftos_sandbox::{World, WorldConfig};

/// A small world that still has every feature: 3 channels × 3 campaigns, one year.
pub fn small(seed: u64) -> World {
    let config = WorldConfig::standard(3).with_days(365).with_seed(seed);
    World::generate(&config).expect("standard worlds are valid")
}
