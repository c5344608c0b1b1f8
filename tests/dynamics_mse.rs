//! MSE closed form (§13.2) against an independent matrix exponential: F_t = Y + expm(−tK/N)(F_0 − Y),
//! with expm by scaling and squaring of a truncated Taylor series written here.

mod common;

use faer::Mat;
use faer::linalg::solvers::Solve;
use ntk_perturb::dynamics::{LinearizedFlow, OdeOptions};
use ntk_perturb::kernel::{KernelWhat, infinite_train_train};
use ntk_perturb::model::Architecture;
use ntk_perturb::model::Loss;

/// expm(A) by scaling and squaring: A/2^s with ‖A‖₁/2^s ≤ 1/4, Taylor series to 24 terms, s squarings.
fn expm(a: &Mat<f64>) -> Mat<f64> {
    let n = a.nrows();
    let norm1 = (0..n)
        .map(|j| (0..n).map(|i| a[(i, j)].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let mut s = 0;
    while norm1 / 2f64.powi(s) > 0.25 {
        s += 1;
    }
    let scaled = Mat::from_fn(n, n, |i, j| a[(i, j)] / 2f64.powi(s));
    let mut term = Mat::<f64>::identity(n, n);
    let mut sum = Mat::<f64>::identity(n, n);
    for k in 1..=24 {
        term = &term * &scaled * (1.0 / k as f64);
        sum = &sum + &term;
    }
    for _ in 0..s {
        sum = &sum * &sum;
    }
    sum
}

fn expm_outputs(k: &Mat<f64>, y: &[f64], f0: &[f64], t: f64) -> Vec<f64> {
    let n = y.len();
    let a = Mat::from_fn(n, n, |i, j| -t * k[(i, j)] / n as f64);
    let e = expm(&a);
    (0..n)
        .map(|i| y[i] + (0..n).map(|j| e[(i, j)] * (f0[j] - y[j])).sum::<f64>())
        .collect()
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p - q).powi(2))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|q| q * q).sum::<f64>().sqrt();
    num / den
}

fn col(m: &Mat<f64>, j: usize) -> Vec<f64> {
    (0..m.nrows()).map(|i| m[(i, j)]).collect()
}

fn data(n: usize, d: usize, seed: u64, duplicate: bool) -> (Mat<f64>, Vec<f64>, Vec<f64>) {
    let mut x = common::normal_matrix(n, d, seed);
    if duplicate {
        for j in 0..d {
            x[(1, j)] = x[(0, j)];
        }
    }
    let k = infinite_train_train(x.as_ref(), &Architecture::default(), KernelWhat::Ntk).unwrap();
    let mut y: Vec<f64> = (0..n)
        .map(|i| if x[(i, 2)] > 0.0 { 1.0 } else { -1.0 })
        .collect();
    let mut f0: Vec<f64> = (0..n).map(|i| 0.2 * x[(i, 3)]).collect();
    if duplicate {
        // The same input with opposite labels: the residual has a component along the null vector.
        y[0] = 1.0;
        y[1] = -1.0;
        f0[1] = f0[0];
    }
    (k, y, f0)
}

#[test]
fn closed_form_matches_the_matrix_exponential() {
    let (k, y, f0) = data(20, 5, 21, false);
    let flow = LinearizedFlow::new(k.as_ref(), &y, &f0, Loss::Mse, OdeOptions::default()).unwrap();
    let times = [0.0, 0.1, 1.0, 10.0, 100.0];
    let sol = flow.solve(&times).unwrap();
    assert_eq!(col(&sol.train_outputs, 0), f0, "t = 0 gives F_0 exactly");
    assert!(col(&sol.coefficients, 0).iter().all(|&a| a == 0.0));
    for (j, &t) in times.iter().enumerate().skip(1) {
        let expected = expm_outputs(&k, &y, &f0, t);
        let ours = col(&sol.train_outputs, j);
        assert!(
            rel(&ours, &expected) <= 1e-10,
            "t = {t}: {:e}",
            rel(&ours, &expected)
        );
        // F_0 + K α reproduces the same outputs, so α is right too.
        let via_alpha = LinearizedFlow::predict(k.as_ref(), &f0, &col(&sol.coefficients, j));
        assert!(rel(&via_alpha, &expected) <= 1e-10, "t = {t}");
        let single = flow.train_outputs(t, &col(&sol.coefficients, j));
        assert!(rel(&single, &ours) <= 1e-14, "t = {t}");
    }
}

#[test]
fn infinite_time_interpolates_the_labels_when_k_is_nonsingular() {
    let (k, y, f0) = data(30, 6, 22, false);
    let flow = LinearizedFlow::new(k.as_ref(), &y, &f0, Loss::Mse, OdeOptions::default()).unwrap();
    let sol = flow.solve(&[1e3, f64::INFINITY]).unwrap();
    assert!(!sol.singular);
    assert_eq!(sol.dropped, 0);
    let f_inf = col(&sol.train_outputs, 1);
    assert!(rel(&f_inf, &y) <= 1e-8);
    // F_0 + K α_∞ = Y as well (α_∞ solves K α = Y − F_0).
    let via_alpha = LinearizedFlow::predict(k.as_ref(), &f0, &col(&sol.coefficients, 1));
    assert!(rel(&via_alpha, &y) <= 1e-8, "{:e}", rel(&via_alpha, &y));
}

/// Rows 0..u are distinct Gaussian inputs; rows u..u+dups repeat rows 0..dups. Labels are drawn
/// independently per row, so some copies disagree; F_0 is a function of the input, as it is for a
/// network. Returns (x, y, f0, group of each row).
fn duplicated_data(
    u: usize,
    dups: usize,
    d: usize,
    seed: u64,
) -> (Mat<f64>, Vec<f64>, Vec<f64>, Vec<usize>) {
    let base = common::normal_matrix(u, d, seed);
    let signs = common::normal_matrix(u + dups, 1, seed + 1);
    let group: Vec<usize> = (0..u + dups)
        .map(|i| if i < u { i } else { i - u })
        .collect();
    let x = Mat::from_fn(u + dups, d, |i, j| base[(group[i], j)]);
    let y = (0..u + dups)
        .map(|i| if signs[(i, 0)] > 0.0 { 1.0 } else { -1.0 })
        .collect();
    let f0 = (0..u + dups).map(|i| 0.2 * x[(i, 1)]).collect();
    (x, y, f0, group)
}

/// With exact duplicates K = P K_u Pᵀ (P the N×U membership matrix, K_u the Gram of the distinct
/// inputs, nonsingular), so the minimum-norm solution of K α = r is α_i = β_g/|g| with
/// K_u β = r̄ (r̄_g the mean residual of group g), and F_∞ is the group mean of the labels. β comes
/// from an LU solve of K_u here, an algorithm independent of the eigendecomposition. The second
/// size is above every parallel threshold of the eigendecomposition (halves of 330 > 128 for the
/// divide-and-conquer, the symmetric product's 256 rows, blocks of 256 secular vectors).
#[test]
fn many_duplicated_pairs_match_the_minimum_norm_least_squares_solution() {
    for (u, dups, d) in [(150, 60, 8), (500, 160, 12)] {
        duplicated_pairs_case(u, dups, d);
    }
}

fn duplicated_pairs_case(u: usize, dups: usize, d: usize) {
    let n = u + dups;
    let (x, y, f0, group) = duplicated_data(u, dups, d, 31);
    let k = infinite_train_train(x.as_ref(), &Architecture::default(), KernelWhat::Ntk).unwrap();
    // Copy and original: θ = 0 exactly, so the pair has exactly the diagonal value.
    for i in u..n {
        let o = group[i];
        assert_eq!(k[(i, o)].to_bits(), k[(o, o)].to_bits(), "K[{i},{o}]");
    }
    let flow = LinearizedFlow::new(k.as_ref(), &y, &f0, Loss::Mse, OdeOptions::default()).unwrap();
    let sol = flow.solve(&[f64::INFINITY]).unwrap();
    assert!(sol.singular);
    assert_eq!(sol.dropped, dups, "one zero eigenvalue per duplicated pair");

    let size = |g: usize| group.iter().filter(|&&h| h == g).count() as f64;
    let mut mean_residual = vec![0.0; u];
    for i in 0..n {
        mean_residual[group[i]] += (y[i] - f0[i]) / size(group[i]);
    }
    let k_u = Mat::from_fn(u, u, |i, j| k[(i, j)]);
    let rhs = Mat::from_fn(u, 1, |i, _| mean_residual[i]);
    let beta = k_u.partial_piv_lu().solve(&rhs);
    let alpha_ref: Vec<f64> = (0..n)
        .map(|i| beta[(group[i], 0)] / size(group[i]))
        .collect();
    let alpha = col(&sol.coefficients, 0);
    assert!(
        rel(&alpha, &alpha_ref) <= 1e-8,
        "α vs minimum-norm: {:e}",
        rel(&alpha, &alpha_ref)
    );

    let mut mean_label = vec![0.0; u];
    for i in 0..n {
        mean_label[group[i]] += y[i] / size(group[i]);
    }
    let f_inf = col(&sol.train_outputs, 0);
    let min_loss: f64 = (0..n)
        .map(|i| 0.5 * (y[i] - mean_label[group[i]]).powi(2))
        .sum::<f64>()
        / n as f64;
    let loss: f64 = (0..n).map(|i| 0.5 * (y[i] - f_inf[i]).powi(2)).sum::<f64>() / n as f64;
    assert!(
        min_loss > 0.05,
        "some copies disagree: minimum loss {min_loss}"
    );
    assert!(
        (loss - min_loss).abs() <= 1e-9,
        "loss {loss} vs achievable minimum {min_loss}"
    );
    for i in 0..n {
        assert!((f_inf[i] - mean_label[group[i]]).abs() <= 1e-8, "F_∞[{i}]");
    }
}

#[test]
fn a_duplicated_sample_gives_finite_values_equal_to_the_exponential() {
    let n = 16;
    let (k, y, f0) = data(n, 4, 23, true);
    let flow = LinearizedFlow::new(k.as_ref(), &y, &f0, Loss::Mse, OdeOptions::default()).unwrap();
    let times = [0.5, 5.0, 50.0, f64::INFINITY];
    let sol = flow.solve(&times).unwrap();
    assert!(sol.singular);
    assert_eq!(sol.dropped, 1);
    assert!(
        sol.coefficients
            .col_iter()
            .all(|c| c.iter().all(|v| v.is_finite()))
    );
    for (j, &t) in times.iter().enumerate().take(3) {
        let expected = expm_outputs(&k, &y, &f0, t);
        assert!(
            rel(&col(&sol.train_outputs, j), &expected) <= 1e-10,
            "t = {t}"
        );
    }
    // t = ∞: the null direction (e_0 − e_1)/√2 keeps its component, so both copies end at the mean
    // of their labels, (1 + (−1))/2 = 0, and every other sample at its label.
    let f_inf = col(&sol.train_outputs, 3);
    assert!(f_inf[0].abs() < 1e-8 && f_inf[1].abs() < 1e-8, "{f_inf:?}");
    for i in 2..n {
        assert!((f_inf[i] - y[i]).abs() < 1e-8);
    }
    let via_alpha = LinearizedFlow::predict(k.as_ref(), &f0, &col(&sol.coefficients, 3));
    assert!(rel(&via_alpha, &f_inf) < 1e-8);
}
