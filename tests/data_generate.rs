//! Synthetic datasets (§7.1), CSV round trips, subsets and centring.

use std::fs;
use std::path::Path;

use faer::Mat;
use ntk_perturb::Error;
use ntk_perturb::data::{
    DEFAULT_SHIFT, Dataset, Preprocess, gauss, load, random_subset, read_csv, shifted_gauss,
    write_csv,
};

/// Mean and (unbiased) variance of `x[(i, j)] - offset` over the given rows and all columns.
fn mean_var(
    ds: &Dataset,
    rows: impl Iterator<Item = usize> + Clone,
    offset: f64,
) -> (f64, f64, f64) {
    let vals: Vec<f64> = rows
        .flat_map(|i| (0..ds.d()).map(move |j| (i, j)))
        .map(|(i, j)| ds.x[(i, j)] - offset)
        .collect();
    let m = vals.len() as f64;
    let mean = vals.iter().sum::<f64>() / m;
    let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0);
    (mean, var, m)
}

#[test]
fn shifted_gauss_has_the_stated_means_and_unit_variance() {
    let (n, d, shift) = (2000, 40, DEFAULT_SHIFT);
    let ds = shifted_gauss(n, d, shift, 11).unwrap();
    assert_eq!((ds.n(), ds.d()), (n, d));
    assert!(ds.y[..n / 2].iter().all(|&v| v == 1.0));
    assert!(ds.y[n / 2..].iter().all(|&v| v == -1.0));
    for (rows, sign) in [(0..n / 2, 1.0), (n / 2..n, -1.0)] {
        let (mean, var, m) = mean_var(&ds, rows.clone(), 0.0);
        // Grand mean of m = N/2·d independent unit-variance entries: SE = 1/sqrt(m).
        let se_mean = 1.0 / m.sqrt();
        assert!(
            (mean - sign * shift).abs() < 5.0 * se_mean,
            "mean {mean} vs {}",
            sign * shift
        );
        // Variance of a normal sample: SE = sqrt(2/(m-1)).
        let se_var = (2.0 / (m - 1.0)).sqrt();
        assert!((var - 1.0).abs() < 5.0 * se_var, "variance {var}");
    }
}

#[test]
fn gauss_labels_are_balanced_and_features_standard() {
    let (n, d) = (4000, 10);
    let ds = gauss(n, d, 5).unwrap();
    let label_mean = ds.y.iter().sum::<f64>() / n as f64;
    assert!(
        label_mean.abs() < 5.0 / (n as f64).sqrt(),
        "label mean {label_mean}"
    );
    assert!(ds.y.iter().all(|&v| v == 1.0 || v == -1.0));
    let (mean, var, m) = mean_var(&ds, 0..n, 0.0);
    assert!(mean.abs() < 5.0 / m.sqrt(), "mean {mean}");
    assert!(
        (var - 1.0).abs() < 5.0 * (2.0 / (m - 1.0)).sqrt(),
        "variance {var}"
    );
    // Features are independent of labels: the +1 rows' mean is also ≈ 0.
    let pos: Vec<usize> = (0..n).filter(|&i| ds.y[i] > 0.0).collect();
    let (pos_mean, _, pm) = mean_var(&ds, pos.into_iter(), 0.0);
    assert!(pos_mean.abs() < 5.0 / pm.sqrt(), "+1 mean {pos_mean}");
}

/// The bytes of `write_csv` for a dataset generated inside a rayon pool of `threads` threads.
fn csv_bytes_with_threads(threads: usize, dir: &Path, make: fn() -> Dataset) -> Vec<u8> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let ds = pool.install(make);
    let path = dir.join(format!("t{threads}.csv"));
    write_csv(&ds, &path).unwrap();
    fs::read(&path).unwrap()
}

#[test]
fn generation_does_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let makers: [fn() -> Dataset; 2] = [
        || gauss(301, 7, 42).unwrap(),
        || shifted_gauss(300, 7, 0.3, 42).unwrap(),
    ];
    for make in makers {
        let one = csv_bytes_with_threads(1, dir.path(), make);
        let two = csv_bytes_with_threads(2, dir.path(), make);
        assert!(one.len() > 301 * 7 * 10);
        assert!(one == two, "1-thread and 2-thread outputs differ");
    }
}

#[test]
fn seeds_and_rows_select_independent_streams() {
    let a = gauss(50, 4, 1).unwrap();
    let b = gauss(50, 4, 2).unwrap();
    assert_ne!(a.x[(0, 0)], b.x[(0, 0)]);
    // Row n depends only on (seed, n): a longer dataset starts with the same rows.
    let longer = gauss(80, 4, 1).unwrap();
    for i in 0..50 {
        assert_eq!(a.y[i], longer.y[i]);
        for j in 0..4 {
            assert_eq!(a.x[(i, j)].to_bits(), longer.x[(i, j)].to_bits());
        }
    }
}

#[test]
fn odd_n_and_empty_sizes_are_refused() {
    match shifted_gauss(101, 3, 0.3, 0) {
        Err(e @ Error::InvalidArgument { .. }) => {
            assert!(e.to_string().contains("`n`"), "{e}");
            assert_eq!(e.exit_code(), 2);
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    assert!(matches!(gauss(0, 3, 0), Err(Error::InvalidArgument { .. })));
    assert!(matches!(gauss(3, 0, 0), Err(Error::InvalidArgument { .. })));
    assert!(matches!(
        shifted_gauss(4, 3, f64::NAN, 0),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn csv_round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut ds = gauss(120, 9, 3).unwrap();
    ds.x[(0, 0)] = -0.0;
    ds.x[(1, 1)] = 1e-310;
    ds.x[(2, 2)] = -1.7976931348623157e308;
    for name in ["g.csv", "g.csv.gz"] {
        let path = dir.path().join(name);
        write_csv(&ds, &path).unwrap();
        let back = read_csv(&path).unwrap();
        assert_eq!(back.y, ds.y);
        assert_eq!(back.feature_names, ds.feature_names);
        for i in 0..ds.n() {
            for j in 0..ds.d() {
                assert_eq!(
                    back.x[(i, j)].to_bits(),
                    ds.x[(i, j)].to_bits(),
                    "{name} ({i}, {j})"
                );
            }
        }
    }
    let raw = fs::read(dir.path().join("g.csv.gz")).unwrap();
    assert_eq!(&raw[..2], &[0x1f, 0x8b]);
    let text = fs::read_to_string(dir.path().join("g.csv")).unwrap();
    assert!(text.starts_with("x0,x1,x2,x3,x4,x5,x6,x7,x8,y\n"));
}

/// A dataset whose first feature is the row index, so selections can be read off.
fn indexed(n: usize) -> Dataset {
    let x = Mat::from_fn(n, 2, |i, j| (i * 10 + j) as f64);
    let y = (0..n)
        .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
        .collect();
    Dataset::new(x, y).unwrap()
}

#[test]
fn subsets_are_seeded_in_order_and_bounded() {
    let ds = indexed(100);
    let a = random_subset(&ds, 30, 9).unwrap();
    let b = random_subset(&ds, 30, 9).unwrap();
    let c = random_subset(&ds, 30, 10).unwrap();
    let rows = |s: &Dataset| {
        (0..s.n())
            .map(|i| s.x[(i, 0)] as usize / 10)
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(&a), rows(&b));
    assert_ne!(rows(&a), rows(&c));
    let r = rows(&a);
    assert_eq!(r.len(), 30);
    assert!(
        r.windows(2).all(|w| w[0] < w[1]),
        "rows not strictly increasing: {r:?}"
    );
    for (k, &i) in r.iter().enumerate() {
        assert_eq!(a.y[k], ds.y[i]);
        assert_eq!(a.x[(k, 1)], ds.x[(i, 1)]);
    }
    assert_eq!(
        rows(&random_subset(&ds, 100, 1).unwrap()),
        (0..100).collect::<Vec<_>>()
    );
    assert!(matches!(
        random_subset(&ds, 101, 1),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(random_subset(&ds, 0, 1).is_err());
}

/// Writes a small CSV from rows of (features, label).
fn write_rows(path: &Path, header: &str, rows: &[(&[f64], i32)]) {
    let mut s = format!("{header}\n");
    for (x, y) in rows {
        let cells: Vec<String> = x.iter().map(|v| v.to_string()).collect();
        s.push_str(&format!("{},{y}\n", cells.join(",")));
    }
    fs::write(path, s).unwrap();
}

#[test]
fn centering_uses_the_training_mean_for_both_sets() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.csv");
    let test = dir.path().join("test.csv");
    write_rows(
        &train,
        "a,b,y",
        &[(&[2.0, 10.0], 1), (&[4.0, 30.0], -1), (&[12.0, 50.0], 1)],
    );
    write_rows(&test, "a,b,y", &[(&[1.0, 1.0], -1), (&[7.0, 3.0], 1)]);
    let pre = Preprocess {
        scale: Some(2.0),
        center: Some(ntk_perturb::data::Center::PerFeature),
        ..Default::default()
    };
    let (tr, te) = load(&train, Some(&test), &pre).unwrap();
    let te = te.unwrap();
    // By hand: scaled train columns are (1, 2, 6) and (5, 15, 25), means 3 and 15.
    let want_train = [[-2.0, -10.0], [-1.0, 0.0], [3.0, 10.0]];
    let want_test = [[0.5 - 3.0, 0.5 - 15.0], [3.5 - 3.0, 1.5 - 15.0]];
    for (i, row) in want_train.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            assert!(
                (tr.x[(i, j)] - v).abs() < 1e-12,
                "train ({i}, {j}) = {}",
                tr.x[(i, j)]
            );
        }
    }
    for (i, row) in want_test.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            assert!(
                (te.x[(i, j)] - v).abs() < 1e-12,
                "test ({i}, {j}) = {}",
                te.x[(i, j)]
            );
        }
    }
    assert_eq!(tr.y, [1.0, -1.0, 1.0]);
    assert_eq!(te.y, [-1.0, 1.0]);
}

#[test]
fn centered_generated_train_set_has_zero_column_means() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("s.csv.gz");
    write_csv(&shifted_gauss(200, 6, 0.3, 4).unwrap(), &train).unwrap();
    let pre = Preprocess {
        center: Some(ntk_perturb::data::Center::PerFeature),
        subset: Some(150),
        seed: 8,
        ..Default::default()
    };
    let (tr, te) = load(&train, None, &pre).unwrap();
    assert!(te.is_none());
    assert_eq!(tr.n(), 150);
    for j in 0..tr.d() {
        let mean = (0..tr.n()).map(|i| tr.x[(i, j)]).sum::<f64>() / tr.n() as f64;
        assert!(mean.abs() < 1e-12, "column {j} mean {mean}");
    }
    // The subset inside load is the same as random_subset with the same seed.
    let plain = random_subset(&read_csv(&train).unwrap(), 150, 8).unwrap();
    assert_eq!(plain.y, tr.y);
}

#[test]
fn load_checks_dimensions_scale_and_subset_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train3.csv");
    let test = dir.path().join("test2.csv");
    write_rows(
        &train,
        "a,b,c,y",
        &[(&[1.0, 2.0, 3.0], 1), (&[4.0, 5.0, 6.0], -1)],
    );
    write_rows(&test, "a,b,y", &[(&[1.0, 2.0], 1)]);
    match load(&train, Some(&test), &Preprocess::default()) {
        Err(e @ Error::Mismatch(_)) => {
            let msg = e.to_string();
            for part in ["train3.csv", "test2.csv", "d = 3", "d = 2"] {
                assert!(msg.contains(part), "{msg} lacks {part}");
            }
            assert_eq!(e.exit_code(), 2);
        }
        other => panic!("expected Mismatch, got {other:?}"),
    }
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let pre = Preprocess {
            scale: Some(bad),
            ..Default::default()
        };
        let err = load(&train, None, &pre).unwrap_err();
        assert!(err.to_string().contains("`scale`"), "{err}");
    }
    let pre = Preprocess {
        subset: Some(3),
        ..Default::default()
    };
    assert!(
        load(&train, None, &pre)
            .unwrap_err()
            .to_string()
            .contains("`subset`")
    );
    let pre = Preprocess {
        test_subset: Some(1),
        ..Default::default()
    };
    assert!(
        load(&train, None, &pre)
            .unwrap_err()
            .to_string()
            .contains("`test_subset`")
    );
}

#[test]
fn scalar_centering_subtracts_one_grand_training_mean() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.csv");
    let test = dir.path().join("test.csv");
    write_rows(&train, "a,b,y", &[(&[2.0, 10.0], 1), (&[4.0, 30.0], -1)]);
    write_rows(&test, "a,b,y", &[(&[1.0, 1.0], -1)]);
    let pre = Preprocess {
        center: Some(ntk_perturb::data::Center::Scalar),
        ..Default::default()
    };
    let (tr, te) = load(&train, Some(&test), &pre).unwrap();
    // By hand: the grand mean of {2, 10, 4, 30} is 11.5.
    assert_eq!(tr.x[(0, 0)], 2.0 - 11.5);
    assert_eq!(tr.x[(1, 1)], 30.0 - 11.5);
    assert_eq!(te.unwrap().x[(0, 1)], 1.0 - 11.5);
}
