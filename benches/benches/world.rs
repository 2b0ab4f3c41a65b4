//! How fast the sandbox world generates: 2 years × ~50 campaigns (target: well under a
//! second in release mode).
//!
//! `cargo bench -p liftos-benches --bench world`

use criterion::{Criterion, criterion_group, criterion_main};
use liftos_sandbox::{World, WorldConfig};

fn generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("world");
    group.sample_size(10);
    let config = WorldConfig::standard(17);
    group.bench_function("generate_2y_51_campaigns", |b| {
        b.iter(|| World::generate(&config).expect("valid config"))
    });
    let world = World::generate(&config).expect("valid config");
    group.bench_function("unified_table_2y_51_campaigns", |b| {
        b.iter(|| world.unified_table().expect("table"))
    });
    group.finish();
}

criterion_group!(benches, generate);
criterion_main!(benches);
