//! Identity-loss flow (§3.3: λ_n = T exactly), predictions as one GEMM, and the `--times` parser.

mod common;

use faer::Mat;
use ntk_perturb::dynamics::{LinearizedFlow, OdeOptions, parse_times};
use ntk_perturb::kernel::{KernelWhat, infinite_test_train, infinite_train_train};
use ntk_perturb::model::Architecture;
use ntk_perturb::model::Loss;

fn setup(n: usize, d: usize, seed: u64) -> (Mat<f64>, Mat<f64>, Vec<f64>, Vec<f64>) {
    let x = common::normal_matrix(n, d, seed);
    let k = infinite_train_train(x.as_ref(), &Architecture::default(), KernelWhat::Ntk).unwrap();
    let y: Vec<f64> = (0..n)
        .map(|i| if x[(i, 0)] > 0.0 { 1.0 } else { -1.0 })
        .collect();
    let f0: Vec<f64> = (0..n).map(|i| 0.1 * x[(i, 1)]).collect();
    (x, k, y, f0)
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p - q).powi(2))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|q| q * q).sum::<f64>().sqrt();
    num / den.max(f64::MIN_POSITIVE)
}

#[test]
fn identity_outputs_are_affine_in_time_and_match_the_closed_form() {
    let n = 25;
    let (_, k, y, f0) = setup(n, 6, 11);
    let flow =
        LinearizedFlow::new(k.as_ref(), &y, &f0, Loss::Identity, OdeOptions::default()).unwrap();
    let (t1, t2) = (3.5, 17.25);
    let sol = flow.solve(&[0.0, t1, t2, t1 + t2]).unwrap();
    let col = |j: usize| {
        (0..n)
            .map(|i| sol.train_outputs[(i, j)])
            .collect::<Vec<_>>()
    };
    assert_eq!(col(0), f0, "t = 0 gives F_0 exactly");
    let d = |j: usize| {
        col(j)
            .iter()
            .zip(&f0)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>()
    };
    let sum: Vec<f64> = d(1).iter().zip(d(2)).map(|(a, b)| a + b).collect();
    assert!(rel(&d(3), &sum) < 1e-13);
    // Independent: F_0 + (t/N) K Y by explicit loops.
    for (j, t) in [(1, t1), (2, t2), (3, t1 + t2)] {
        let expected: Vec<f64> = (0..n)
            .map(|i| f0[i] + t / n as f64 * (0..n).map(|m| k[(i, m)] * y[m]).sum::<f64>())
            .collect();
        assert!(rel(&col(j), &expected) < 1e-13);
        for (i, yi) in y.iter().enumerate() {
            assert!((sol.coefficients[(i, j)] - t / n as f64 * yi).abs() < 1e-15);
        }
        let alpha: Vec<f64> = (0..n).map(|i| sol.coefficients[(i, j)]).collect();
        assert!(rel(&flow.train_outputs(t, &alpha), &expected) < 1e-13);
    }
    assert!(!sol.singular);
    assert!(flow.solve(&[1.0, f64::INFINITY]).is_err(), "∞ is refused");
}

#[test]
fn many_predictions_are_one_gemm_equal_to_per_time_loops() {
    let (n, m) = (30, 12);
    let (x, k, y, f0) = setup(n, 5, 12);
    let z = common::normal_matrix(m, 5, 99);
    let arch = Architecture::default();
    let kz = infinite_test_train(z.as_ref(), x.as_ref(), &arch, KernelWhat::Ntk).unwrap();
    let f0z: Vec<f64> = (0..m).map(|i| 0.3 * z[(i, 2)]).collect();
    let flow = LinearizedFlow::new(k.as_ref(), &y, &f0, Loss::Mse, OdeOptions::default()).unwrap();
    let times = [0.0, 1.0, 10.0, f64::INFINITY];
    let sol = flow.solve(&times).unwrap();
    let all = LinearizedFlow::predict_many(kz.as_ref(), &f0z, sol.coefficients.as_ref());
    let alphas = flow.coefficients(&times).unwrap();
    for (j, alpha) in alphas.iter().enumerate() {
        let one = LinearizedFlow::predict(kz.as_ref(), &f0z, alpha);
        let naive: Vec<f64> = (0..m)
            .map(|i| f0z[i] + (0..n).map(|q| kz[(i, q)] * alpha[q]).sum::<f64>())
            .collect();
        assert!(rel(&one, &naive) < 1e-12);
        let col: Vec<f64> = (0..m).map(|i| all[(i, j)]).collect();
        assert!(rel(&col, &naive) < 1e-12);
    }
    // Predicting at the training inputs reproduces F_t.
    let at_train = LinearizedFlow::predict_many(k.as_ref(), &f0, sol.coefficients.as_ref());
    for j in 0..times.len() {
        let a: Vec<f64> = (0..n).map(|i| at_train[(i, j)]).collect();
        let b: Vec<f64> = (0..n).map(|i| sol.train_outputs[(i, j)]).collect();
        assert!(rel(&a, &b) < 1e-8, "t = {}", times[j]);
    }
}

#[test]
fn parse_times_accepts_lists_and_logspaces() {
    assert_eq!(
        parse_times("0,1,10,100,inf").unwrap(),
        vec![0.0, 1.0, 10.0, 100.0, f64::INFINITY]
    );
    assert_eq!(parse_times(" 2.5 , 2.5 ").unwrap(), vec![2.5, 2.5]);
    let l = parse_times("logspace:1e-2:1e4:50").unwrap();
    assert_eq!(l.len(), 50);
    assert_eq!(l[0], 1e-2);
    assert_eq!(l[49], 1e4);
    for (i, t) in l.iter().enumerate() {
        let expected = 10f64.powf(-2.0 + 6.0 * i as f64 / 49.0);
        assert!((t / expected - 1.0).abs() < 1e-13);
    }
    assert!(l.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        parse_times("0,logspace:1:100:3,inf").unwrap(),
        vec![0.0, 1.0, 10.0, 100.0, f64::INFINITY]
    );
    assert_eq!(parse_times("logspace:5:5:1").unwrap(), vec![5.0]);
}

#[test]
fn parse_times_refuses_bad_specs() {
    for bad in [
        "",
        "1,,2",
        "-1",
        "0,-0.5",
        "nan",
        "1,NaN",
        "10,1",
        "inf,1",
        "abc",
        "1;2",
        "logspace:1:10",
        "logspace:0:10:5",
        "logspace:10:1:5",
        "logspace:1:10:0",
        "logspace:1:inf:3",
        "logspace:1:10:x",
    ] {
        let e = parse_times(bad).expect_err(bad);
        assert_eq!(e.exit_code(), 2, "{bad}");
        assert!(e.to_string().contains("`times`"), "{bad}: {e}");
    }
}
