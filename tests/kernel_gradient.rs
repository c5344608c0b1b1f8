//! Input gradients of the infinite-width predictor (§13.3 `sum` and `kernel` directions) against
//! central finite differences of the closed-form kernel and against a direct per-pair sum.

mod common;

use faer::Mat;
use ntk_perturb::kernel::{self, KernelWhat, kernel_value};
use ntk_perturb::model::Architecture;

/// h(z) = Σ_n α_n Θ(x_n, z) through the Gram routine.
fn predictor(z: &[f64], x: &Mat<f64>, alpha: &[f64], arch: &Architecture) -> f64 {
    let zm = Mat::from_fn(1, z.len(), |_, j| z[j]);
    let k = kernel::infinite_test_train(zm.as_ref(), x.as_ref(), arch, KernelWhat::Ntk).unwrap();
    (0..x.nrows()).map(|n| alpha[n] * k[(0, n)]).sum()
}

#[test]
fn kernel_direction_is_the_finite_difference_gradient_away_from_training_points() {
    let (n, d) = (9, 5);
    let x = common::normal_matrix(n, d, 41);
    let z = common::normal_matrix(4, d, 42);
    let alpha: Vec<f64> = (0..n).map(|i| ((i as f64) * 0.7).sin()).collect();
    for (gamma, bias, tr) in [
        (0.0, true, false),
        (0.3, true, true),
        (0.6, false, false),
        (0.1, false, true),
    ] {
        let arch = Architecture {
            gamma,
            bias,
            train_readout: tr,
        };
        let g = kernel::kernel_gradient_direction(z.as_ref(), x.as_ref(), &alpha, &arch).unwrap();
        for i in 0..4 {
            let zi = common::row(&z, i);
            let h = 1e-6;
            let mut max_err: f64 = 0.0;
            let mut max_g: f64 = 0.0;
            for j in 0..d {
                let mut plus = zi.clone();
                let mut minus = zi.clone();
                plus[j] += h;
                minus[j] -= h;
                let fd = (predictor(&plus, &x, &alpha, &arch)
                    - predictor(&minus, &x, &alpha, &arch))
                    / (2.0 * h);
                max_err = max_err.max((fd - g[(i, j)]).abs());
                max_g = max_g.max(fd.abs());
            }
            assert!(
                max_err <= 1e-6 * (1.0 + max_g),
                "γ={gamma} bias={bias} tr={tr} z{i}: err {max_err}"
            );
        }
    }
}

#[test]
fn sum_direction_matches_a_direct_per_pair_sum() {
    let (n, d) = (7, 4);
    let x = common::normal_matrix(n, d, 51);
    let z = common::normal_matrix(3, d, 52);
    let alpha: Vec<f64> = (0..n).map(|i| 1.0 - 0.3 * i as f64).collect();
    let arch = Architecture {
        gamma: 0.2,
        bias: true,
        train_readout: false,
    };
    let s = kernel::weighted_sum_direction(z.as_ref(), x.as_ref(), &alpha, &arch).unwrap();
    for i in 0..3 {
        for j in 0..d {
            let direct: f64 = (0..n)
                .map(|m| {
                    alpha[m]
                        * kernel_value(
                            &common::row(&x, m),
                            &common::row(&z, i),
                            &arch,
                            KernelWhat::Phi,
                        )
                        * x[(m, j)]
                })
                .sum();
            assert!((s[(i, j)] - direct).abs() < 1e-12 * (1.0 + direct.abs()));
        }
    }
}

#[test]
fn at_a_training_point_the_kink_term_is_dropped() {
    // At z = x_m the pair (m, m) has θ = 0 and contributes only Φ(x_m, x_m) x_m (the `sum` part).
    let (n, d) = (1, 3);
    let x = common::normal_matrix(n, d, 61);
    let arch = Architecture {
        gamma: 0.0,
        bias: true,
        train_readout: false,
    };
    let g = kernel::kernel_gradient_direction(x.as_ref(), x.as_ref(), &[2.0], &arch).unwrap();
    for j in 0..d {
        assert!((g[(0, j)] - 2.0 * 0.5 * x[(0, j)]).abs() < 1e-15);
    }
}
