//! Contracts that span crates.

use liftos::prelude::*;

#[test]
fn the_sandbox_emits_exactly_the_unified_schema_of_the_transform_crate() {
    assert_eq!(liftos::sandbox::unified_schema(), unified::schema());
    let world = World::generate(&WorldConfig::standard(2).with_days(30)).unwrap();
    let table = world.unified_table().unwrap();
    unified::check_schema_of("sandbox", &table.schema()).unwrap();
}
