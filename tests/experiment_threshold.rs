//! The predicted ε threshold of scenario (a) (theory §6.6) against independent sources: a hand
//! case computed from the closed forms with the standard library's arccosine, and the expansion
//! g/T_g = ȳ Θ(0, z) + ε a(z) + O(ε²) against the linearised g of the dynamics module.

mod common;

use std::f64::consts::PI;

use faer::Mat;
use ntk_perturb::dynamics::{LinearizedFlow, OdeOptions};
use ntk_perturb::experiment::RunConfig;
use ntk_perturb::experiment::threshold::{LEVEL, for_run, offset_and_signal};
use ntk_perturb::kernel::{KernelWhat, infinite_test_train, infinite_train_train};
use ntk_perturb::model::{Architecture, Loss};

/// Φ_0(0, z) and Θ_p(z) = Φ_0(0, z) + 1/(2π√d‖z‖) for ReLU with biases (§6.6), by hand.
fn hand_theta0_and_slope(z: &[f64]) -> (f64, f64) {
    let d = z.len() as f64;
    let norm = z.iter().map(|v| v * v).sum::<f64>().sqrt();
    let s_z = (norm * norm / d + 1.0).sqrt();
    let theta0 = (1.0 / s_z).acos();
    let phi = (PI - theta0) / (2.0 * PI);
    (phi, phi + 1.0 / (2.0 * PI * d.sqrt() * norm))
}

/// All gradients along e₁ (ū = e₁), ȳ = 1/2 (three +1, one −1), four test points on both sides.
/// Every point with f < 0 must switch to the signal's sign, at ε_i = ȳ Φ(0, z_i)/(Θ_p(z_i)|t_i|),
/// so at level 0.9 ε* is the largest of them; at level 0.5 the two points with f > 0 suffice.
#[test]
fn threshold_of_a_hand_case() {
    let d = 3;
    let grad = Mat::from_fn(4, d, |i, j| if j == 0 { 0.5 + i as f64 } else { 0.0 });
    let targets = [1.0, 1.0, 1.0, -1.0];
    let rows = [
        [1.0, 0.0, 0.0],
        [2.0, 1.0, 0.0],
        [-1.0, 2.0, 0.0],
        [-3.0, 0.5, 1.0],
    ];
    let z = Mat::from_fn(4, d, |i, j| rows[i][j]);
    let f = [0.3, 1.2, -0.4, -2.0];
    let cfg = RunConfig::default();
    let (theta0, signal) =
        offset_and_signal(grad.as_ref(), z.as_ref(), &cfg.architecture()).unwrap();
    let mut expected: f64 = 0.0;
    for (i, row) in rows.iter().enumerate() {
        let (phi, slope) = hand_theta0_and_slope(row);
        assert!((theta0[i] - phi).abs() < 1e-15, "Θ(0, z_{i})");
        assert!((signal[i] - slope * row[0]).abs() < 1e-14, "a(z_{i})");
        if row[0] < 0.0 {
            expected = expected.max(0.5 * phi / (slope * -row[0]));
        }
    }
    let eps = for_run(&cfg, grad.as_ref(), &targets, z.as_ref(), &f).unwrap();
    assert_eq!(LEVEL, 0.9);
    assert!(
        (eps - expected).abs() < 1e-15 * expected,
        "{eps} vs {expected}"
    );
    // Flipped signs of f on one positive point: the signal can never agree there, 3/4 < 0.9.
    let wrong = [0.3, -1.2, -0.4, -2.0];
    assert_eq!(
        for_run(&cfg, grad.as_ref(), &targets, z.as_ref(), &wrong).unwrap(),
        f64::INFINITY
    );
    // Balanced targets: no offset, and sgn(ū·z) = sgn f everywhere, so ε* = 0.
    let balanced = [1.0, -1.0, 1.0, -1.0];
    assert_eq!(
        for_run(&cfg, grad.as_ref(), &balanced, z.as_ref(), &f).unwrap(),
        0.0
    );
    // Outside its setting (scenario b) ε* is undefined.
    let b = RunConfig {
        scenario: ntk_perturb::experiment::Scenario::B,
        ..RunConfig::default()
    };
    assert!(
        for_run(&b, grad.as_ref(), &targets, z.as_ref(), &f)
            .unwrap()
            .is_nan()
    );
}

/// g of the identity-loss flow on Θ(R, R), R = ε y^adv ⊙ u (the dynamics module's coefficients and
/// prediction), against T_g (ȳ Θ(0, z) + ε a(z)): the remainder is O(ε²), so it shrinks by 4 when
/// ε halves, and at ε = 10⁻⁶ it is below 10⁻⁹ of g while the signal term is not.
#[test]
fn the_expansion_matches_the_linearised_g() {
    let (n, d, m) = (40, 6, 25);
    let grad = common::normal_matrix(n, d, 11);
    let z = common::normal_matrix(m, d, 12);
    let signs = common::normal_matrix(n, 1, 13);
    let targets: Vec<f64> = (0..n)
        .map(|i| if signs[(i, 0)] > 0.3 { 1.0 } else { -1.0 })
        .collect();
    let y_bar = targets.iter().sum::<f64>() / n as f64;
    assert!(y_bar != 0.0);
    let t = 7.5;
    for arch in [
        Architecture::default(),
        Architecture {
            gamma: 0.3,
            bias: true,
            train_readout: true,
        },
    ] {
        let (theta0, a) = offset_and_signal(grad.as_ref(), z.as_ref(), &arch).unwrap();
        let remainder = |eps: f64| -> (Vec<f64>, Vec<f64>) {
            let r = Mat::from_fn(n, d, |i, j| {
                let norm = (0..d).map(|k| grad[(i, k)].powi(2)).sum::<f64>().sqrt();
                eps * targets[i] * grad[(i, j)] / norm
            });
            let k = infinite_train_train(r.as_ref(), &arch, KernelWhat::Ntk).unwrap();
            let flow = LinearizedFlow::new(
                k.as_ref(),
                &targets,
                &vec![0.0; n],
                Loss::Identity,
                OdeOptions::default(),
            )
            .unwrap();
            let alpha = flow.coefficients(&[t]).unwrap().remove(0);
            let kz = infinite_test_train(z.as_ref(), r.as_ref(), &arch, KernelWhat::Ntk).unwrap();
            let g = LinearizedFlow::predict(kz.as_ref(), &vec![0.0; m], &alpha);
            let rem = (0..m)
                .map(|i| g[i] / t - (y_bar * theta0[i] + eps * a[i]))
                .collect();
            (g, rem)
        };
        let (_, r1) = remainder(1e-3);
        let (_, r2) = remainder(5e-4);
        let max = |v: &[f64]| v.iter().fold(0.0_f64, |acc, x| acc.max(x.abs()));
        let ratio = max(&r1) / max(&r2);
        assert!((ratio - 4.0).abs() < 0.05, "remainder ratio {ratio}");
        let eps = 1e-6;
        let (g, r) = remainder(eps);
        for i in 0..m {
            assert!(r[i].abs() <= 1e-9 * (g[i] / t).abs(), "z_{i}: {}", r[i]);
            assert!(
                (eps * a[i]).abs() > 1e3 * r[i].abs(),
                "z_{i}: signal too small"
            );
        }
    }
}
