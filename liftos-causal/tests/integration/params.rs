//! Parameter and data validation gives clear errors.

use liftos_causal::{CausalDataset, CausalForestParams, Error};

fn err(p: CausalForestParams) -> String {
    match p.build() {
        Err(e @ Error::InvalidParameter { .. }) => e.to_string(),
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

#[test]
fn invalid_parameters_are_named() {
    let d = CausalForestParams::default;
    assert_eq!(
        err(d().with_num_trees(0)),
        "invalid parameter `num_trees` = 0: expected from 1 to 100000"
    );
    // A typo cannot ask for memory without limit.
    assert_eq!(
        err(d().with_num_trees(1_000_000_000)),
        "invalid parameter `num_trees` = 1000000000: expected from 1 to 100000"
    );
    assert_eq!(
        err(d().with_sample_fraction(0.7)),
        "invalid parameter `sample_fraction` = 0.7: expected at most 0.5 (each little bag draws half of the clusters)"
    );
    assert!(err(d().with_honesty_fraction(1.0)).contains("`honesty_fraction` = 1"));
    assert!(err(d().with_min_node_size(0)).contains("`min_node_size`"));
    assert!(err(d().with_alpha(0.3)).contains("`alpha` = 0.3: expected a value in [0, 0.25]"));
    assert!(err(d().with_ci_group_size(1)).contains("`ci_group_size` = 1: expected at least 2"));
    assert_eq!(
        err(d().with_num_trees(1001)),
        "invalid parameter `num_trees` = 1001: expected a multiple of ci_group_size (2)"
    );
    assert!(err(d().with_confidence_level(1.0)).contains("`confidence_level`"));
    assert!(err(d().with_variance_floor(-0.1)).contains("`variance_floor`"));
    assert!(err(d().with_mtry(0)).contains("`mtry`"));
    assert!(err(d().with_nuisance_trees(0)).contains("`nuisance_trees`"));
    assert!(err(d().with_sample_fraction(f64::NAN)).contains("`sample_fraction` = NaN"));
    assert!(d().build().is_ok());
    let b = liftos_causal::BusinessOptions::default;
    let bootstrap = |n: usize| {
        liftos_causal::BusinessOptions {
            bootstrap: n,
            ..b()
        }
        .validate()
        .unwrap_err()
        .to_string()
    };
    assert!(bootstrap(19).contains("`business.bootstrap` = 19: expected from 20 to 10000"));
    assert!(bootstrap(1_000_000_000).contains("= 1000000000: expected from 20 to 10000"));
    // A treatment that is also the outcome cannot cause itself.
    let roles = liftos_causal::CausalRoles::new(["revenue"], ["revenue"], [] as [&str; 0])
        .validate()
        .unwrap_err()
        .to_string();
    assert!(roles.contains("`treatment_variables` = revenue"), "{roles}");
}

#[test]
fn data_problems_are_reported_at_fit() {
    let y: Vec<f64> = (0..40).map(|i| i as f64).collect();
    let w: Vec<f64> = (0..40).map(|i| (i % 5) as f64).collect();
    let x: Vec<f64> = (0..40).map(|i| (i % 7) as f64).collect();
    let data = CausalDataset::new(&y, &w)
        .unwrap()
        .with_covariate("x", &x)
        .unwrap();
    let e = CausalForestParams::default()
        .with_mtry(3)
        .build()
        .unwrap()
        .fit_forest(&data)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid parameter `mtry` = 3: expected at most the number of covariates (1)"
    );

    let few = CausalDataset::new(&y[..3], &w[..3])
        .unwrap()
        .with_covariate("x", &x[..3])
        .unwrap();
    let e = CausalForestParams::default()
        .build()
        .unwrap()
        .fit_forest(&few)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "not enough data for rows drawn per tree: found 1, need at least 2"
    );

    let clustered = data.clone().with_cluster_ids(&[1; 40]).unwrap();
    let e = CausalForestParams::default()
        .build()
        .unwrap()
        .fit_forest(&clustered)
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("not enough data for clusters drawn per tree"),
        "{e}"
    );

    let flat = CausalDataset::new(&y, &[3.0; 40])
        .unwrap()
        .with_names("revenue", "spend")
        .with_covariate("x", &x)
        .unwrap();
    let e = CausalForestParams::default()
        .build()
        .unwrap()
        .fit_forest(&flat)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the treatment `spend` does not vary, so the effect is not identified"
    );

    let none = CausalDataset::new(&y, &w).unwrap();
    let e = CausalForestParams::default()
        .build()
        .unwrap()
        .fit_forest(&none)
        .unwrap_err();
    assert!(e.to_string().contains("covariates"), "{e}");
}
