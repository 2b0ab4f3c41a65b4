//! The `Estimator` trait on an Arrow table with channels: lift and incremental ROAS.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use arrow::record_batch::RecordBatch;
use liftos_causal::{CausalDataset, CausalForestParams, ColumnRoles, Estimator};
use liftos_testkit::CHANNEL_FIELDS;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Two channels × 30 campaigns × 100 days. Spend is skewed (log-normal) and rises with
/// a seasonal demand index that also raises revenue. Meta returns 1.5 + season per unit
/// of spend, Google a flat 0.5.
fn world() -> (RecordBatch, [f64; 2]) {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let nrm = Normal::new(0.0f64, 1.0).unwrap();
    let (mut revenue, mut spend, mut season, mut weekend, mut is_meta, mut channel, mut campaign) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut lift = [0.0; 2];
    let mut total = [0.0; 2];
    for ch in 0..2 {
        for c in 0..30 {
            let size = (0.5 * nrm.sample(&mut rng)).exp();
            for day in 0..100 {
                let s = (day as f64 / 100.0 * std::f64::consts::TAU).sin().abs();
                let we = if day % 7 >= 5 { 1.0 } else { 0.0 };
                let w = 10.0 * size * (0.8 * s + 0.3 * nrm.sample(&mut rng)).exp();
                let tau = if ch == 0 { 1.5 + s } else { 0.5 };
                let y = 100.0 * (1.0 + s) + 20.0 * we + tau * w + 5.0 * nrm.sample(&mut rng);
                lift[ch] += tau * w;
                total[ch] += w;
                revenue.push(y);
                spend.push(w);
                season.push(s);
                weekend.push(we);
                is_meta.push(if ch == 0 { 1.0 } else { 0.0 });
                channel.push(if ch == 0 { "meta" } else { "google_ads" });
                campaign.push(format!("{ch}-{c}"));
            }
        }
    }
    let _ = rng.random::<f64>();
    let batch = RecordBatch::try_from_iter(vec![
        ("revenue", Arc::new(Float64Array::from(revenue)) as ArrayRef),
        ("spend", Arc::new(Float64Array::from(spend)) as ArrayRef),
        ("season", Arc::new(Float64Array::from(season)) as ArrayRef),
        ("weekend", Arc::new(Float64Array::from(weekend)) as ArrayRef),
        ("is_meta", Arc::new(Float64Array::from(is_meta)) as ArrayRef),
        ("channel", Arc::new(StringArray::from(channel)) as ArrayRef),
        (
            "campaign_id",
            Arc::new(StringArray::from(campaign)) as ArrayRef,
        ),
    ])
    .unwrap();
    (batch, [lift[0] / total[0], lift[1] / total[1]])
}

#[test]
fn channel_lift_and_incremental_roas_match_the_truth() {
    let (batch, truth) = world();
    let roles = ColumnRoles::new("revenue", "spend")
        .with_covariates(["season", "weekend", "is_meta"])
        .with_cluster("campaign_id")
        .with_group("channel");
    let data = CausalDataset::from_record_batch(&batch, &roles).unwrap();
    assert_eq!((data.num_rows(), data.num_clusters()), (6000, 60));
    let est: Box<dyn Estimator> = Box::new(
        CausalForestParams::default()
            .with_num_trees(500)
            .with_seed(1)
            .build()
            .unwrap(),
    );
    assert_eq!(est.name(), "causal_forest");
    let results = est.fit(&data).unwrap();
    for (name, t) in [("meta", truth[0]), ("google_ads", truth[1])] {
        let ch = results.channel(name).unwrap();
        eprintln!("{ch:?} truth {t}");
        assert!(
            (ch.incremental_roas - t).abs() < 0.1 * t,
            "{name}: {} vs {t}",
            ch.incremental_roas
        );
        assert!(
            ch.incremental_roas_ci_lower < t && t < ch.incremental_roas_ci_upper,
            "{name} interval"
        );
        assert!(
            (ch.revenue_lift - ch.incremental_roas * ch.spend).abs() < 1e-6 * ch.revenue_lift.abs()
        );
        assert!(ch.p_value < 1e-4);
        assert!(
            (ch.marginal_roas - t).abs() < 0.15 * t,
            "{name} marginal {}",
            ch.marginal_roas
        );
        assert_eq!(ch.rows, 3000);
    }
    assert_eq!(
        (results.rows, results.seed, results.outcome.as_str()),
        (6000, 1, "revenue")
    );
    let table = results.channel_table().unwrap();
    assert_eq!(table.num_rows(), 2);
    let names: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for col in CHANNEL_FIELDS.into_iter().chain(["marginal_roas"]) {
        assert!(names.iter().any(|n| n == col), "missing {col}");
    }
    let rows = results.treatment_effects_table().unwrap();
    assert_eq!((rows.num_rows(), rows.num_columns()), (6000, 4));
    assert!(
        results
            .treatment_effects
            .iter()
            .all(|r| r.std_err > 0.0 && r.ci_lower < r.tau && r.tau < r.ci_upper)
    );
}
