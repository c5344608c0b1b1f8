//! Closed-form infinite-width kernels (§4) against hand values at special angles, and the Gram
//! matrices against the one-pair reference and against their defining properties.

mod common;

use std::f64::consts::PI;

use faer::{Mat, Side};
use ntk_perturb::kernel::{self, KernelWhat, kernel_value};
use ntk_perturb::model::Architecture;

fn arch(gamma: f64, bias: bool, train_readout: bool) -> Architecture {
    Architecture {
        gamma,
        bias,
        train_readout,
    }
}

const GAMMAS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 0.99];

#[test]
fn phi_at_theta_zero_is_half_of_one_plus_gamma_squared() {
    let x = [0.3, -1.2, 2.0, 0.5];
    for gamma in GAMMAS {
        let a = arch(gamma, true, false);
        let phi = kernel_value(&x, &x, &a, KernelWhat::Phi);
        assert_eq!(phi, (1.0 + gamma * gamma) / 2.0, "gamma {gamma}");
        // Θ(x, x) = Φ(x, x)·(‖x‖² + 1)
        let sq: f64 = x.iter().map(|v| v * v).sum();
        let ntk = kernel_value(&x, &x, &a, KernelWhat::Ntk);
        assert!((ntk - (1.0 + gamma * gamma) / 2.0 * (sq + 1.0)).abs() < 1e-14);
        // Σ(x, x) = E[φ(u)²] with u ~ N(0, s²): γ s² + (1−γ)² s²/2.
        let s2 = sq / 4.0 + 1.0;
        let sigma = kernel_value(&x, &x, &a, KernelWhat::Nngp);
        let expected = gamma * s2 + (1.0 - gamma).powi(2) * s2 / 2.0;
        assert!((sigma - expected).abs() < 1e-14, "{sigma} vs {expected}");
    }
}

#[test]
fn phi_at_right_angle_is_quarter_of_one_plus_gamma_squared() {
    // Without bias e1 ⟂ e2; with bias and d = 1, x = 1 and z = −1 give c = −1 + 1 = 0.
    let cases: [(&[f64], &[f64], bool); 2] =
        [(&[1.0, 0.0], &[0.0, 2.0], false), (&[1.0], &[-1.0], true)];
    for (x, z, bias) in cases {
        for gamma in GAMMAS {
            let a = arch(gamma, bias, false);
            let phi = kernel_value(x, z, &a, KernelWhat::Phi);
            assert!(
                (phi - (1.0 + gamma).powi(2) / 4.0).abs() < 1e-15,
                "gamma {gamma}"
            );
            let sx = (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64
                + if bias { 1.0 } else { 0.0 })
            .sqrt();
            let sz = (z.iter().map(|v| v * v).sum::<f64>() / z.len() as f64
                + if bias { 1.0 } else { 0.0 })
            .sqrt();
            let sigma = kernel_value(x, z, &a, KernelWhat::Nngp);
            assert!((sigma - (1.0 - gamma).powi(2) * sx * sz / (2.0 * PI)).abs() < 1e-15);
        }
    }
}

#[test]
fn phi_at_opposite_inputs_is_gamma() {
    let x = [0.7, -0.2, 1.5];
    let z = [-1.4, 0.4, -3.0];
    for gamma in GAMMAS {
        let a = arch(gamma, false, false);
        let phi = kernel_value(&x, &z, &a, KernelWhat::Phi);
        assert!((phi - gamma).abs() < 1e-15, "gamma {gamma}: {phi}");
        // Σ at θ = π is γ·c = γ x·z/d.
        let sigma = kernel_value(&x, &z, &a, KernelWhat::Nngp);
        let c: f64 = x.iter().zip(&z).map(|(a, b)| a * b).sum::<f64>() / 3.0;
        assert!((sigma - gamma * c).abs() < 1e-14);
        // NTK without bias: Φ · x·z
        let ntk = kernel_value(&x, &z, &a, KernelWhat::Ntk);
        assert!((ntk - gamma * c * 3.0).abs() < 1e-14);
    }
}

#[test]
fn phi_tends_to_one_for_a_linear_network() {
    let x = [0.3, -1.0, 2.0];
    let z = [-0.5, 0.8, 1.0];
    let a = arch(1.0 - 1e-9, true, false);
    let phi = kernel_value(&x, &z, &a, KernelWhat::Phi);
    assert!((phi - 1.0).abs() < 1e-8, "{phi}");
    // Linear network: Σ = E[uv] = c exactly.
    let c = (x.iter().zip(&z).map(|(a, b)| a * b).sum::<f64>()) / 3.0 + 1.0;
    let sigma = kernel_value(&x, &z, &a, KernelWhat::Nngp);
    assert!((sigma - c).abs() < 1e-8);
}

#[test]
fn gamma_at_or_above_one_is_refused() {
    let x = Mat::<f64>::from_fn(3, 2, |i, j| (i + j) as f64);
    let err = kernel::infinite_train_train(x.as_ref(), &arch(1.0, true, false), KernelWhat::Ntk)
        .unwrap_err();
    assert!(err.to_string().contains("`gamma`"), "{err}");
    assert_eq!(err.exit_code(), 2);
}

fn sample_inputs(n: usize, d: usize, seed: u64) -> Mat<f64> {
    common::normal_matrix(n, d, seed)
}

#[test]
fn gram_matrices_match_the_one_pair_reference() {
    let x = sample_inputs(17, 6, 1);
    let z = sample_inputs(5, 6, 2);
    for (gamma, bias, tr) in [(0.0, true, false), (0.3, false, true), (0.9, true, true)] {
        let a = arch(gamma, bias, tr);
        for what in [KernelWhat::Ntk, KernelWhat::Phi, KernelWhat::Nngp] {
            let k = kernel::infinite_train_train(x.as_ref(), &a, what).unwrap();
            let kt = kernel::infinite_test_train(z.as_ref(), x.as_ref(), &a, what).unwrap();
            let row = common::row;
            for i in 0..17 {
                for j in 0..17 {
                    let r = kernel_value(&row(&x, i), &row(&x, j), &a, what);
                    assert!(
                        (k[(i, j)] - r).abs() <= 1e-12 * (1.0 + r.abs()),
                        "{what:?} ({i},{j})"
                    );
                }
            }
            for i in 0..5 {
                for j in 0..17 {
                    let r = kernel_value(&row(&z, i), &row(&x, j), &a, what);
                    assert!((kt[(i, j)] - r).abs() <= 1e-12 * (1.0 + r.abs()));
                }
            }
        }
    }
}

#[test]
fn gram_is_symmetric_with_exact_diagonal_and_positive_semidefinite() {
    // N > d makes X Xᵀ rank deficient, the hard case for positive semi-definiteness.
    let x = sample_inputs(120, 10, 3);
    for gamma in [0.0, 0.5] {
        let a = arch(gamma, true, false);
        for what in [KernelWhat::Ntk, KernelWhat::Phi, KernelWhat::Nngp] {
            let k = kernel::infinite_train_train(x.as_ref(), &a, what).unwrap();
            for i in 0..120 {
                for j in 0..i {
                    assert_eq!(k[(i, j)], k[(j, i)]);
                }
            }
            if what == KernelWhat::Phi {
                for i in 0..120 {
                    assert_eq!(k[(i, i)], (1.0 + gamma * gamma) / 2.0);
                }
            }
            let eig = k.self_adjoint_eigenvalues(Side::Lower).unwrap();
            let norm = k.norm_l2();
            let min = eig.iter().cloned().fold(f64::INFINITY, f64::min);
            assert!(
                min >= -1e-10 * norm,
                "{what:?}: λ_min = {min}, ‖K‖ = {norm}"
            );
        }
    }
}

#[test]
fn zero_input_without_bias_follows_the_derivative_convention() {
    let zero = [0.0, 0.0];
    let z = [1.0, -2.0];
    for gamma in [0.0, 0.4] {
        let a = arch(gamma, false, false);
        assert_eq!(kernel_value(&zero, &zero, &a, KernelWhat::Phi), 1.0);
        assert_eq!(
            kernel_value(&zero, &z, &a, KernelWhat::Phi),
            0.5 * (1.0 + gamma)
        );
        assert_eq!(kernel_value(&zero, &z, &a, KernelWhat::Nngp), 0.0);
    }
}

#[test]
fn zero_rows_in_a_gram_without_bias_get_their_limits() {
    let mut x = common::normal_matrix(6, 3, 9);
    for j in 0..3 {
        x[(2, j)] = 0.0;
    }
    let z = common::normal_matrix(2, 3, 10);
    for gamma in [0.0, 0.3] {
        let a = arch(gamma, false, true);
        for what in [KernelWhat::Ntk, KernelWhat::Phi, KernelWhat::Nngp] {
            let k = kernel::infinite_train_train(x.as_ref(), &a, what).unwrap();
            let kt = kernel::infinite_test_train(z.as_ref(), x.as_ref(), &a, what).unwrap();
            for i in 0..6 {
                for j in 0..6 {
                    let r = kernel_value(&common::row(&x, i), &common::row(&x, j), &a, what);
                    assert!(
                        (k[(i, j)] - r).abs() <= 1e-12 * (1.0 + r.abs()),
                        "{what:?} ({i},{j}) {} vs {r}",
                        k[(i, j)]
                    );
                }
                for t in 0..2 {
                    let r = kernel_value(&common::row(&z, t), &common::row(&x, i), &a, what);
                    assert!((kt[(t, i)] - r).abs() <= 1e-12 * (1.0 + r.abs()));
                }
            }
        }
    }
}

/// Identical inputs have angle exactly 0 and opposite ones (no bias) exactly π, wherever they sit:
/// off the diagonal of the train Gram, and between a test row and the training row it repeats.
#[test]
fn repeated_inputs_give_exactly_the_diagonal_kernel() {
    let (u, d) = (300, 12);
    let base = common::normal_matrix(u, d, 41);
    // Rows u.. repeat every third distinct row; test rows repeat training rows.
    let copies: Vec<usize> = (0..u).step_by(3).collect();
    let n = u + copies.len();
    let src = |i: usize| if i < u { i } else { copies[i - u] };
    let x = Mat::from_fn(n, d, |i, j| base[(src(i), j)]);
    let test_src: Vec<usize> = (0..n).step_by(7).collect();
    let z = Mat::from_fn(test_src.len(), d, |i, j| x[(test_src[i], j)]);
    for gamma in [0.0, 0.5] {
        for (bias, train_readout) in [(true, false), (false, false), (true, true)] {
            let a = arch(gamma, bias, train_readout);
            for what in [KernelWhat::Phi, KernelWhat::Ntk, KernelWhat::Nngp] {
                let k = kernel::infinite_train_train(x.as_ref(), &a, what).unwrap();
                let kt = kernel::infinite_test_train(z.as_ref(), x.as_ref(), &a, what).unwrap();
                // A copy's row equals its original's up to the rounding of the GEMM's inner
                // products (which depend on the row's position in the blocking), and the entry
                // pairing copy and original is exactly the diagonal value.
                let scale = (0..n).map(|i| k[(i, i)].abs()).fold(0.0, f64::max);
                for i in u..n {
                    let o = src(i);
                    assert_eq!(
                        k[(i, o)].to_bits(),
                        k[(o, o)].to_bits(),
                        "{what:?} K[{i},{o}]"
                    );
                    for j in 0..n {
                        let diff = (k[(i, j)] - k[(o, j)]).abs();
                        assert!(
                            diff <= 8.0 * f64::EPSILON * scale,
                            "{what:?} K[{i},{j}]: {diff:e}"
                        );
                    }
                }
                if what == KernelWhat::Phi {
                    for i in u..n {
                        assert_eq!(k[(i, src(i))], (1.0 + gamma * gamma) / 2.0);
                    }
                }
                for (a_row, &t) in test_src.iter().enumerate() {
                    for j in 0..n {
                        let (ours, train) = (kt[(a_row, j)], k[(t, j)]);
                        if src(j) == src(t) {
                            assert_eq!(
                                ours.to_bits(),
                                k[(t, t)].to_bits(),
                                "{what:?} test {a_row}, {j}"
                            );
                        } else {
                            let diff = (ours - train).abs();
                            assert!(
                                diff <= 8.0 * f64::EPSILON * scale,
                                "{what:?} test {a_row}, {j}: {diff:e}"
                            );
                        }
                    }
                }
            }
        }
    }
    // Opposite inputs without bias: θ = π exactly, so Φ_γ = γ up to the rounding of one product.
    let x2 = Mat::from_fn(
        2,
        d,
        |i, j| if i == 0 { base[(0, j)] } else { -base[(0, j)] },
    );
    for gamma in GAMMAS {
        let a = arch(gamma, false, false);
        let k = kernel::infinite_train_train(x2.as_ref(), &a, KernelWhat::Phi).unwrap();
        assert!(
            (k[(1, 0)] - gamma).abs() <= 2.0 * f64::EPSILON,
            "γ = {gamma}: {}",
            k[(1, 0)]
        );
        let per_pair = kernel_value(
            &common::row(&x2, 0),
            &common::row(&x2, 1),
            &a,
            KernelWhat::Phi,
        );
        assert_eq!(per_pair, k[(1, 0)]);
    }
}

/// Near-parallel inputs: θ against an extended-precision reference computed from the difference
/// vector in the test (θ = 2 asin(‖x̂ − ẑ‖/2)), where arccos of the rounded ρ is off by ~1e-8.
#[test]
fn nearly_identical_inputs_keep_their_small_angle() {
    let d = 16;
    let base = common::normal_matrix(1, d, 43);
    let dir = common::normal_matrix(1, d, 44);
    for delta in [1e-3, 1e-5, 1e-7, 1e-9] {
        let x = Mat::from_fn(2, d, |i, j| {
            base[(0, j)] + if i == 1 { delta * dir[(0, j)] } else { 0.0 }
        });
        let a = arch(0.0, true, false);
        let k = kernel::infinite_train_train(x.as_ref(), &a, KernelWhat::Phi).unwrap();
        let theta = (0.5 - k[(1, 0)]) * 2.0 * PI; // Φ_0 = (π − θ)/(2π)
        // Reference: normalised augmented vectors; their difference is formed from δ·dir directly,
        // so it carries no cancellation.
        let aug = |i: usize| {
            let mut v: Vec<f64> = (0..d).map(|j| x[(i, j)] / (d as f64).sqrt()).collect();
            v.push(1.0);
            v
        };
        let (p, q) = (aug(0), aug(1));
        let (np, nq) = (
            p.iter().map(|v| v * v).sum::<f64>().sqrt(),
            q.iter().map(|v| v * v).sum::<f64>().sqrt(),
        );
        // ẑ − x̂ = (q − p)/nq + p (1/nq − 1/np), with q − p = (δ dir/√d, 0) exactly known.
        let diff: f64 = (0..=d)
            .map(|j| {
                let qp = if j < d {
                    delta * dir[(0, j)] / (d as f64).sqrt()
                } else {
                    0.0
                };
                qp / nq + p[j] * (np - nq) / (np * nq)
            })
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt();
        let reference = 2.0 * (diff / 2.0).asin();
        assert!(
            (theta - reference).abs() <= 1e-12 * reference.max(1e-6) + 1e-15,
            "δ = {delta}: θ = {theta:e}, reference {reference:e}"
        );
    }
}

/// The entries recomputed from the rows (near-duplicate pairs) are the same bits in pools of 1, 2
/// and 3 threads, at N = 400 (above the 64-column map blocks and the 256-entry product tiles).
#[test]
fn gram_with_duplicates_does_not_depend_on_the_thread_count() {
    let (u, d) = (300, 12);
    let base = common::normal_matrix(u, d, 47);
    let n = u + 100;
    let x = Mat::from_fn(n, d, |i, j| base[(if i < u { i } else { 3 * (i - u) }, j)]);
    let z = Mat::from_fn(150, d, |i, j| x[(2 * i + 1, j)]);
    let a = arch(0.25, true, true);
    let grams = |threads: usize| -> Vec<u64> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let k = kernel::infinite_train_train(x.as_ref(), &a, KernelWhat::Ntk).unwrap();
            let kt =
                kernel::infinite_test_train(z.as_ref(), x.as_ref(), &a, KernelWhat::Ntk).unwrap();
            k.col_iter()
                .chain(kt.col_iter())
                .flat_map(|c| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                .collect()
        })
    };
    let one = grams(1);
    assert_eq!(one, grams(2));
    assert_eq!(one, grams(3));
}

/// Gram matrices spanning several 256-row product tiles (N = 600: tiles of 256, 256 and 88),
/// with zero rows (no bias) and repeated rows placed in different tiles, match the one-pair
/// reference entry by entry for every kernel, with and without a trained readout. The tiles are
/// computed, mapped, patched and mirrored one at a time, so a tile, patch or mirror boundary off by
/// one would show here and not on one tile.
#[test]
fn multi_tile_grams_with_zero_and_repeated_rows_match_the_one_pair_reference() {
    let (n, d) = (600, 5);
    let mut x = common::normal_matrix(n, d, 21);
    for &zero in &[3usize, 300, 599] {
        for j in 0..d {
            x[(zero, j)] = 0.0;
        }
    }
    // Row 40 repeated in the second and third tile; row 270 negated in the third.
    for j in 0..d {
        x[(400, j)] = x[(40, j)];
        x[(555, j)] = x[(40, j)];
        x[(520, j)] = -x[(270, j)];
    }
    let z = common::normal_matrix(70, d, 22);
    let rows: Vec<Vec<f64>> = (0..n).map(|i| common::row(&x, i)).collect();
    for (gamma, bias, readout) in [(0.0, false, false), (0.3, false, true), (0.5, true, true)] {
        let a = arch(gamma, bias, readout);
        for what in [KernelWhat::Ntk, KernelWhat::Phi, KernelWhat::Nngp] {
            let k = kernel::infinite_train_train(x.as_ref(), &a, what).unwrap();
            let kt = kernel::infinite_test_train(z.as_ref(), x.as_ref(), &a, what).unwrap();
            for j in 0..n {
                for i in 0..n {
                    let r = kernel_value(&rows[i], &rows[j], &a, what);
                    assert!(
                        (k[(i, j)] - r).abs() <= 1e-12 * (1.0 + r.abs()),
                        "{what:?} γ {gamma} bias {bias} ({i},{j}): {} vs {r}",
                        k[(i, j)]
                    );
                }
                for t in 0..70 {
                    let r = kernel_value(&common::row(&z, t), &rows[j], &a, what);
                    assert!((kt[(t, j)] - r).abs() <= 1e-12 * (1.0 + r.abs()));
                }
            }
            // A repeated pair has exactly the diagonal's value, across tiles.
            assert_eq!(k[(400, 40)], k[(40, 40)], "{what:?}");
            assert_eq!(k[(555, 400)], k[(40, 40)], "{what:?}");
        }
    }
}
