//! Perturbation sizes, target balance and the projected attack against closed forms.
#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

mod common;

use faer::Mat;
use ntk_perturb::perturbation::{
    AttackOptions, Norm, TargetKind, draw_targets, eps_from_per_coordinate, projected, single_step,
};

#[test]
fn l2_perturbations_have_norm_eps_and_point_along_the_target_gradient() {
    let g = common::normal_matrix(50, 30, 1);
    let t = draw_targets(&vec![1.0; 50], TargetKind::Random, 3);
    let eps = 0.37;
    let p = single_step(g.as_ref(), &t, eps, Norm::L2).unwrap();
    for i in 0..50 {
        let row = common::row(&p.eta, i);
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - eps).abs() <= 1e-12 * eps, "row {i}: {norm}");
        let gi = common::row(&g, i);
        let cos = row.iter().zip(&gi).map(|(a, b)| a * b).sum::<f64>()
            / (norm * gi.iter().map(|v| v * v).sum::<f64>().sqrt());
        assert!(
            (cos - t[i]).abs() < 1e-12,
            "row {i}: cos {cos} target {}",
            t[i]
        );
    }
}

#[test]
fn linf_perturbations_have_max_abs_eps_and_the_gradient_signs() {
    let g = common::normal_matrix(20, 10, 2);
    let t = draw_targets(&[1.0; 20], TargetKind::Random, 4);
    let p = single_step(g.as_ref(), &t, 0.05, Norm::Linf).unwrap();
    for i in 0..20 {
        for j in 0..10 {
            assert_eq!(p.eta[(i, j)], 0.05 * t[i] * g[(i, j)].signum());
        }
    }
}

#[test]
fn zero_gradients_give_zero_perturbations_and_are_reported() {
    let mut g = common::normal_matrix(4, 3, 5);
    for j in 0..3 {
        g[(2, j)] = 0.0;
    }
    let p = single_step(g.as_ref(), &[1.0, -1.0, 1.0, -1.0], 1.0, Norm::L2).unwrap();
    assert_eq!(p.zero_gradient, vec![2]);
    assert!((0..3).all(|j| p.eta[(2, j)] == 0.0));
    assert!(p.eta.col_iter().all(|c| c.iter().all(|v| v.is_finite())));
}

#[test]
fn targets_have_the_requested_balance() {
    let y: Vec<f64> = (0..1001)
        .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
        .collect();
    let flipped = draw_targets(&y, TargetKind::Flipped, 0);
    assert!(flipped.iter().zip(&y).all(|(a, b)| *a == -*b));
    let balanced = draw_targets(&y, TargetKind::Balanced, 9);
    let pos = balanced.iter().filter(|&&v| v > 0.0).count();
    assert!(pos == 500 || pos == 501, "{pos}");
    let even = draw_targets(&y[..1000], TargetKind::Balanced, 9);
    assert_eq!(even.iter().filter(|&&v| v > 0.0).count(), 500);
    // Random targets: mean within 5 standard errors (1/√N) of 0, and independent of y.
    let random = draw_targets(&y, TargetKind::Random, 11);
    let mean = random.iter().sum::<f64>() / 1001.0;
    assert!(mean.abs() < 5.0 / 1001f64.sqrt(), "{mean}");
    assert_eq!(
        random,
        draw_targets(&vec![1.0; 1001], TargetKind::Random, 11)
    );
}

#[test]
fn projected_steps_on_a_linear_function_follow_the_closed_form() {
    // f(x) = w·x has ∇f ≡ w: k steps of size s give η = y^adv min(k s, ε) w/‖w‖ (L2) and
    // y^adv min(k s, ε) sign(w) (L∞).
    let x = common::normal_matrix(3, 4, 7);
    let w = [0.5, -2.0, 1.0, 0.0];
    let wn = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    let grad = |z: faer::MatRef<'_, f64>| Ok(Mat::from_fn(z.nrows(), 4, |_, j| w[j]));
    let targets = [1.0, -1.0, 1.0];
    for (steps, s, eps) in [(3, 0.1, 1.0), (10, 0.3, 1.0)] {
        let expected = (steps as f64 * s).min(eps);
        for norm in [Norm::L2, Norm::Linf] {
            let opts = AttackOptions {
                eps,
                norm,
                steps,
                step_size: Some(s),
            };
            let p = projected(x.as_ref(), &targets, &opts, grad).unwrap();
            for i in 0..3 {
                for j in 0..4 {
                    let dir = match norm {
                        Norm::L2 => w[j] / wn,
                        Norm::Linf => w[j].signum() * f64::from(w[j] != 0.0),
                    };
                    assert!(
                        (p.eta[(i, j)] - targets[i] * expected * dir).abs() < 1e-12,
                        "{norm:?} {steps}"
                    );
                }
            }
        }
    }
    assert!((eps_from_per_coordinate(0.01, 784, Norm::L2) - 0.28).abs() < 1e-15);
}
