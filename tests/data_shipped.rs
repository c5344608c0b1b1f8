//! The shipped MNIST 1-vs-2 files load with the counts of data/README.md.
//!
//! Pixel sums were computed independently with Python's gzip + csv modules.

use std::path::Path;

use ntk_perturb::data::{Dataset, Preprocess, load, read_csv};

/// Path of a shipped data file.
fn shipped(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// Number of rows with label `label` and the sum of their pixels.
fn class_sum(ds: &Dataset, label: f64) -> (usize, f64) {
    let rows: Vec<usize> = (0..ds.n()).filter(|&i| ds.y[i] == label).collect();
    let sum = rows
        .iter()
        .flat_map(|&i| (0..ds.d()).map(move |j| (i, j)))
        .map(|(i, j)| ds.x[(i, j)])
        .sum();
    (rows.len(), sum)
}

#[test]
fn mnist_test_split_has_the_documented_counts() {
    let ds = read_csv(&shipped("mnist_1v2_test.csv.gz")).unwrap();
    assert_eq!((ds.n(), ds.d()), (2167, 784));
    assert_eq!(ds.feature_names.first().map(String::as_str), Some("x0"));
    assert_eq!(ds.feature_names.last().map(String::as_str), Some("x783"));
    let (pos, pos_sum) = class_sum(&ds, 1.0);
    let (neg, neg_sum) = class_sum(&ds, -1.0);
    assert_eq!((pos, neg), (1135, 1032));
    assert_eq!((pos_sum, neg_sum), (17_412_445.0, 30_985_788.0));
    assert!((0..ds.n()).all(|i| (0..ds.d()).all(|j| (0.0..=255.0).contains(&ds.x[(i, j)]))));
}

#[test]
fn mnist_train_class_means_match_an_independent_count() {
    let ds = read_csv(&shipped("mnist_1v2_train.csv.gz")).unwrap();
    assert_eq!((ds.n(), ds.d()), (12700, 784));
    let (pos, pos_sum) = class_sum(&ds, 1.0);
    let (neg, neg_sum) = class_sum(&ds, -1.0);
    assert_eq!((pos, neg), (6742, 5958));
    let pos_mean = pos_sum / (pos * 784) as f64 / 255.0;
    let neg_mean = neg_sum / (neg * 784) as f64 / 255.0;
    assert!(pos_mean.is_finite() && neg_mean.is_finite());
    assert!(
        (pos_mean - 0.075_998_642_559_960_79).abs() < 1e-12,
        "{pos_mean}"
    );
    assert!(
        (neg_mean - 0.148_975_128_822_928_96).abs() < 1e-12,
        "{neg_mean}"
    );
}

#[test]
fn paper_preprocessing_centres_the_training_pixels() {
    let pre = Preprocess {
        scale: Some(255.0),
        center: Some(ntk_perturb::data::Center::PerFeature),
        test_subset: Some(500),
        seed: 1,
        ..Default::default()
    };
    let (tr, te) = load(
        &shipped("mnist_1v2_train.csv.gz"),
        Some(&shipped("mnist_1v2_test.csv.gz")),
        &pre,
    )
    .unwrap();
    let te = te.unwrap();
    assert_eq!(te.n(), 500);
    let total: f64 = (0..tr.d())
        .map(|j| (0..tr.n()).map(|i| tr.x[(i, j)]).sum::<f64>())
        .sum();
    assert!((total / (tr.n() * tr.d()) as f64).abs() < 1e-12);
    // Pixel 0 (top-left corner) is 0 in every image, so after centring it is exactly 0.
    assert!((0..te.n()).all(|i| te.x[(i, 0)] == 0.0));
}
