//! Eigendecomposition of the train Gram matrix (§13.2): residual and orthogonality bounds on NTK
//! Gram matrices of random data, clamping of round-off negative eigenvalues, and bit-identical
//! results whatever the size of the calling thread pool.

mod common;

use faer::Mat;
use ntk_perturb::dynamics::Spectrum;
use ntk_perturb::kernel::{KernelWhat, infinite_train_train};
use ntk_perturb::model::Architecture;

fn ntk_gram(n: usize, d: usize, seed: u64) -> Mat<f64> {
    let x = common::normal_matrix(n, d, seed);
    infinite_train_train(x.as_ref(), &Architecture::default(), KernelWhat::Ntk).unwrap()
}

fn frobenius(m: &Mat<f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            s += m[(i, j)] * m[(i, j)];
        }
    }
    s.sqrt()
}

#[test]
fn residual_and_orthogonality_are_at_round_off_level() {
    for (n, seed) in [(10, 1), (50, 2), (200, 3)] {
        let k = ntk_gram(n, 8, seed);
        let s = Spectrum::compute(k.as_ref()).unwrap();
        let v = &s.eigenvectors().unwrap();
        let lam = Mat::from_fn(n, n, |i, j| if i == j { s.eigenvalues()[i] } else { 0.0 });
        let residual = &k * v - v * &lam;
        let eps = f64::EPSILON;
        let bound = 100.0 * n as f64 * eps * frobenius(&k);
        assert!(
            frobenius(&residual) <= bound,
            "N={n}: ‖KV − VΛ‖ = {:e} > {bound:e}",
            frobenius(&residual)
        );
        let gram = v.transpose() * v - Mat::<f64>::identity(n, n);
        assert!(
            frobenius(&gram) <= 100.0 * n as f64 * eps,
            "N={n}: ‖VᵀV − I‖ = {:e}",
            frobenius(&gram)
        );
        assert!(
            s.eigenvalues().windows(2).all(|w| w[0] <= w[1]),
            "ascending"
        );
        // Trace is invariant: Σλ = tr K.
        let trace: f64 = (0..n).map(|i| k[(i, i)]).sum();
        let sum: f64 = s.eigenvalues().iter().sum();
        assert!((trace - sum).abs() <= 1e-12 * trace, "N={n}");
        assert_eq!(
            s.rank(),
            n,
            "the ReLU NTK of distinct points is positive definite"
        );
    }
}

#[test]
fn negative_round_off_eigenvalues_are_clamped_and_counted() {
    // Diagonal matrix: the eigenvalues are the diagonal, exactly.
    let d = [-1e-17, 0.0, 2.0, 5.0];
    let k = Mat::from_fn(4, 4, |i, j| if i == j { d[i] } else { 0.0 });
    let s = Spectrum::compute(k.as_ref()).unwrap();
    assert_eq!(s.eigenvalues(), vec![0.0, 0.0, 2.0, 5.0]);
    assert_eq!(s.clamped(), 1);
    assert_eq!(s.min_raw(), -1e-17);
    assert_eq!(s.rank(), 2);
    assert!(s.condition_number().is_infinite());
    assert_eq!(s.dropped(), 2);

    let k = Mat::from_fn(2, 2, |i, j| if i == j { [1.0, 4.0][i] } else { 0.0 });
    let s = Spectrum::compute(k.as_ref()).unwrap();
    assert_eq!(s.condition_number(), 4.0);
}

#[test]
fn invalid_matrices_are_refused() {
    let k = Mat::from_fn(3, 3, |i, j| (i + 2 * j) as f64);
    assert!(Spectrum::compute(k.as_ref()).is_err(), "non-symmetric");
    let k = Mat::from_fn(2, 3, |_, _| 1.0);
    assert!(Spectrum::compute(k.as_ref()).is_err(), "non-square");
    let k = Mat::from_fn(2, 2, |i, j| if i == j { f64::NAN } else { 0.0 });
    assert!(Spectrum::compute(k.as_ref()).is_err(), "NaN");
}

#[test]
fn bits_do_not_depend_on_the_calling_pool() {
    // N = 300: above the one-stage reduction's parallel matrix-vector product (256 rows) and the
    // 256-row product tiles; both reductions, pools of 1, 2 and 3 threads.
    let n = 300;
    let k = ntk_gram(n, 10, 4);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for for_vectors in [false, true] {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let s = pool.install(|| {
                if for_vectors {
                    Spectrum::compute_for_vectors(k.as_ref()).unwrap()
                } else {
                    Spectrum::compute(k.as_ref()).unwrap()
                }
            });
            let v = pool.install(|| s.eigenvectors().unwrap());
            let v_bits: Vec<u64> = (0..n)
                .flat_map(|j| (0..n).map(move |i| (i, j)))
                .map(|(i, j)| v[(i, j)].to_bits())
                .collect();
            (bits(s.eigenvalues()), v_bits)
        };
        let one = run(1);
        for threads in [2, 3] {
            let other = run(threads);
            assert_eq!(
                one.0, other.0,
                "eigenvalues, {threads} threads, {for_vectors}"
            );
            assert!(one.1 == other.1, "V, {threads} threads, {for_vectors}");
        }
    }
}

/// The one-stage reduction for callers that form V gives the same spectrum as the two-stage one
/// (to round-off: a different sequence of reflectors) and a V that diagonalises K, at N = 700
/// (above the product's parallel threshold and several reduction panels).
#[test]
fn the_reduction_for_formed_vectors_agrees_with_the_default_one() {
    let n = 700;
    let k = ntk_gram(n, 8, 11);
    let two = Spectrum::compute(k.as_ref()).unwrap();
    let one = Spectrum::compute_for_vectors(k.as_ref()).unwrap();
    let scale = two.eigenvalues()[n - 1];
    for (i, (a, b)) in one.eigenvalues().iter().zip(two.eigenvalues()).enumerate() {
        assert!(
            (a - b).abs() <= 10.0 * n as f64 * f64::EPSILON * scale,
            "λ_{i}: {a} vs {b}"
        );
    }
    let v = one.eigenvectors().unwrap();
    let lam = Mat::from_fn(n, n, |i, j| if i == j { one.eigenvalues()[i] } else { 0.0 });
    let residual = frobenius(&(&k * &v - &v * &lam));
    assert!(
        residual <= 100.0 * n as f64 * f64::EPSILON * frobenius(&k),
        "{residual:e}"
    );
    let gram = frobenius(&(v.transpose() * &v - Mat::<f64>::identity(n, n)));
    assert!(gram <= 100.0 * n as f64 * f64::EPSILON, "{gram:e}");
}
