//! 100 years of calendar with every feature (US holidays, commercial events, business
//! days, two peak seasons, seasonality index, 4-5-4 fiscal calendar), with the default
//! Fourier seasonality and with a leakage-safe index over 100 years of daily history.
//! Prints the size of the resulting table once.
//!
//! `cargo bench -p liftos-benches --bench calendar`

use criterion::{Criterion, criterion_group, criterion_main};
use liftos_calendar::chrono::{Datelike, NaiveDate};
use liftos_calendar::{CalendarDimension, CalendarOptions, SeasonalityOptions};

fn calendar(c: &mut Criterion) {
    let start = NaiveDate::from_ymd_opt(1950, 1, 1).expect("valid date");
    let end = NaiveDate::from_ymd_opt(2049, 12, 31).expect("valid date");
    let default_dim = CalendarDimension::new(CalendarOptions::default()).expect("valid options");
    let history: Vec<(NaiveDate, f64)> = start
        .iter_days()
        .take_while(|d| *d <= end)
        .map(|d| {
            (
                d,
                100.0 + 30.0 * f64::from(d.month()) + f64::from(d.day() % 7),
            )
        })
        .collect();
    let history_dim = CalendarDimension::new(
        CalendarOptions::default()
            .with_seasonality(SeasonalityOptions::default().with_history(history)),
    )
    .expect("valid options");

    let table = default_dim.create(start, end).expect("calendar");
    println!(
        "calendar 1950-2049: {} rows x {} columns, {} bytes (get_array_memory_size)",
        table.num_rows(),
        table.num_columns(),
        table.get_array_memory_size()
    );

    let mut group = c.benchmark_group("calendar");
    group.sample_size(10);
    group.bench_function("100y_all_features", |b| {
        b.iter(|| default_dim.create(start, end).expect("calendar"))
    });
    group.bench_function("100y_all_features_history_index", |b| {
        b.iter(|| history_dim.create(start, end).expect("calendar"))
    });
    group.finish();
}

criterion_group!(benches, calendar);
criterion_main!(benches);
