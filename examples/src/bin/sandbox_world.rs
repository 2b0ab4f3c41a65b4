//! Generate a sandbox world and show why naive ROAS misleads.
//!
//! Run with `cargo run -p liftos-examples --bin sandbox_world`.

use liftos::prelude::*;

fn main() -> Result<()> {
    // Two years, four campaigns per channel, plus a channel whose true effect is zero.
    let config = WorldConfig::standard(4)
        .with_seed(7)
        .with_zero_effect_channel("tiktok");
    let world = World::generate(&config)?;
    let table = world.unified_table()?;
    println!(
        "{} rows × {} columns of daily campaign data",
        table.num_rows(),
        table.num_columns()
    );

    println!(
        "{:<12} {:>11} {:>11}",
        "channel", "naive ROAS", "true iROAS"
    );
    for t in &world.truth().channels {
        println!(
            "{:<12} {:>11.2} {:>11.2}",
            t.channel, t.naive_roas, t.incremental_roas
        );
    }
    let truth = world.truth();
    println!(
        "baseline holiday lift {:+.0}%, Saturday {:+.1}%, December {:+.1}%",
        100.0 * truth.holiday_lift,
        100.0 * truth.day_of_week[5],
        100.0 * truth.seasonal[11]
    );
    Ok(())
}
