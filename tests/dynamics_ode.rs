//! Logistic and exponential flows (§3.3, §13.2) integrated by Dormand–Prince 5(4): against a tight
//! solve, an independent fixed-step RK4 written here, the constant-ℓ' limits, monotone training
//! loss, and the failure modes (overflow, step limit).

mod common;

use faer::Mat;
use ntk_perturb::Error;
use ntk_perturb::dynamics::{LinearizedFlow, OdeOptions, dormand_prince};
use ntk_perturb::kernel::{KernelWhat, infinite_train_train};
use ntk_perturb::model::Architecture;
use ntk_perturb::model::{Loss, sigmoid, softplus};

fn data(n: usize, d: usize, seed: u64, f0_scale: f64) -> (Mat<f64>, Vec<f64>, Vec<f64>) {
    let x = common::normal_matrix(n, d, seed);
    let k = infinite_train_train(x.as_ref(), &Architecture::default(), KernelWhat::Ntk).unwrap();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            if x[(i, 0)] + 0.5 * x[(i, 1)] > 0.0 {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    let f0: Vec<f64> = (0..n).map(|i| f0_scale * x[(i, 2)]).collect();
    (k, y, f0)
}

fn col(m: &Mat<f64>, j: usize) -> Vec<f64> {
    (0..m.nrows()).map(|i| m[(i, j)]).collect()
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0_f64, |m, (p, q)| m.max((p - q).abs()))
        / scale
}

/// Classical RK4 with a fixed step on α' = (1/N) y ⊙ ℓ'(−y ⊙ (F_0 + K α)), written independently of
/// the library (only the per-sample ℓ' formula is restated).
fn rk4_alpha(k: &Mat<f64>, y: &[f64], f0: &[f64], loss: Loss, t: f64, steps: usize) -> Vec<f64> {
    let n = y.len();
    let lp = |s: f64| match loss {
        Loss::Logistic => 1.0 / (1.0 + (-s).exp()),
        Loss::Exponential => s.exp(),
        _ => unreachable!(),
    };
    let rhs = |a: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| {
                let f = f0[i] + (0..n).map(|j| k[(i, j)] * a[j]).sum::<f64>();
                y[i] * lp(-y[i] * f) / n as f64
            })
            .collect()
    };
    let h = t / steps as f64;
    let mut a = vec![0.0; n];
    let axpy =
        |a: &[f64], k: &[f64], c: f64| a.iter().zip(k).map(|(x, y)| x + c * y).collect::<Vec<_>>();
    for _ in 0..steps {
        let k1 = rhs(&a);
        let k2 = rhs(&axpy(&a, &k1, h / 2.0));
        let k3 = rhs(&axpy(&a, &k2, h / 2.0));
        let k4 = rhs(&axpy(&a, &k3, h));
        for i in 0..n {
            a[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }
    a
}

#[test]
fn integrator_is_accurate_on_a_linear_scalar_problem() {
    // z' = −z, z(t) = e^{−t}; z' = z·(1 − z) logistic growth, z(t) = 1/(1 + 9 e^{−t}) from 0.1.
    let opts = OdeOptions {
        rtol: 1e-10,
        atol: 1e-12,
        ..Default::default()
    };
    let times = [0.0, 0.5, 1.0, 4.0, 4.0, 20.0];
    let out = dormand_prince(
        &[1.0, 0.1],
        &times,
        |z, dz| {
            dz[0] = -z[0];
            dz[1] = z[1] * (1.0 - z[1]);
        },
        &opts,
        "test",
    )
    .unwrap();
    for (j, &t) in times.iter().enumerate() {
        assert!(
            (out[j][0] - (-t).exp()).abs() <= 1e-9 * (-t).exp().max(1e-3),
            "t = {t}"
        );
        let logistic = 1.0 / (1.0 + 9.0 * (-t).exp());
        assert!((out[j][1] - logistic).abs() <= 1e-9, "t = {t}");
    }
    assert_eq!(out[0], vec![1.0, 0.1]);
    assert_eq!(out[3], out[4]);
}

#[test]
fn default_tolerance_agrees_with_a_tight_solve_and_with_rk4() {
    let n = 24;
    let (k, y, f0) = data(n, 5, 31, 0.3);
    let times = [0.5, 2.0, 10.0];
    for loss in [Loss::Logistic, Loss::Exponential] {
        let loose = LinearizedFlow::new(k.as_ref(), &y, &f0, loss, OdeOptions::default()).unwrap();
        let tight_opts = OdeOptions {
            rtol: 1e-12,
            atol: 1e-14,
            ..Default::default()
        };
        let tight = LinearizedFlow::new(k.as_ref(), &y, &f0, loss, tight_opts).unwrap();
        let a = loose.solve(&times).unwrap();
        let b = tight.solve(&times).unwrap();
        for (j, &t) in times.iter().enumerate() {
            let err = max_rel(&col(&a.coefficients, j), &col(&b.coefficients, j));
            assert!(err <= 1e-6, "{loss:?} t = {t}: {err:e}");
            let errf = max_rel(&col(&a.train_outputs, j), &col(&b.train_outputs, j));
            assert!(errf <= 1e-6, "{loss:?} t = {t}: {errf:e}");
            // F_t = F_0 + K α(t) holds along the integration.
            let via = tight.train_outputs(t, &col(&b.coefficients, j));
            assert!(max_rel(&via, &col(&b.train_outputs, j)) <= 1e-10);
        }
        // Independent integrator: RK4 with 4000 steps to t = 2 (error ~ h⁴ ≈ 1e-12).
        let rk = rk4_alpha(&k, &y, &f0, loss, 2.0, 4000);
        let err = max_rel(&col(&b.coefficients, 1), &rk);
        assert!(err <= 1e-9, "{loss:?} vs RK4: {err:e}");
    }
}

#[test]
fn constant_derivative_limits_match_the_identity_solution() {
    let n = 20;
    let (k, y, _) = data(n, 4, 32, 0.0);
    let zero = vec![0.0; n];
    let nf = n as f64;
    // F_0 = 0 and small t: ℓ'(0) = 1/2 (logistic) or 1 (exponential), so α ≈ c·(t/N)·Y with an
    // error of order t·max|KY|/N relative.
    let t = 1e-4;
    let ky_max = (0..n)
        .map(|i| (0..n).map(|j| k[(i, j)] * y[j]).sum::<f64>().abs())
        .fold(0.0, f64::max);
    for (loss, c) in [(Loss::Logistic, 0.5), (Loss::Exponential, 1.0)] {
        let flow = LinearizedFlow::new(k.as_ref(), &y, &zero, loss, OdeOptions::default()).unwrap();
        let alpha = &flow.coefficients(&[t]).unwrap()[0];
        let expected: Vec<f64> = y.iter().map(|v| c * t / nf * v).collect();
        let err = max_rel(alpha, &expected);
        assert!(err <= t * ky_max / nf, "{loss:?}: {err:e}");
        assert!(
            err > 0.0,
            "the outputs do move, so ℓ' is not exactly constant"
        );
    }
    // K = 0: F never moves, ℓ' stays at its initial value, α(t) = (t/N) y ⊙ ℓ'(−y ⊙ F_0) exactly.
    let k0 = Mat::<f64>::zeros(n, n);
    let f0: Vec<f64> = (0..n).map(|i| 0.37 * (i as f64 - 9.5)).collect();
    for loss in [Loss::Logistic, Loss::Exponential] {
        let flow = LinearizedFlow::new(k0.as_ref(), &y, &f0, loss, OdeOptions::default()).unwrap();
        let times = [1.0, 7.0];
        let al = flow.coefficients(&times).unwrap();
        for (j, &t) in times.iter().enumerate() {
            for i in 0..n {
                let s = -y[i] * f0[i];
                let lp = match loss {
                    Loss::Logistic => 1.0 / (1.0 + (-s).exp()),
                    _ => s.exp(),
                };
                let e = t / nf * y[i] * lp;
                assert!((al[j][i] - e).abs() <= 1e-12 * e.abs(), "{loss:?} i={i}");
            }
        }
    }
}

#[test]
fn training_loss_never_increases() {
    let n = 30;
    let (k, y, f0) = data(n, 6, 33, 0.5);
    let times: Vec<f64> = (0..=30).map(|i| 0.05 * 1.4f64.powi(i) - 0.05).collect();
    for loss in [Loss::Logistic, Loss::Exponential] {
        let flow = LinearizedFlow::new(k.as_ref(), &y, &f0, loss, OdeOptions::default()).unwrap();
        let sol = flow.solve(&times).unwrap();
        let losses: Vec<f64> = (0..times.len())
            .map(|j| loss.mean(&col(&sol.train_outputs, j), &y))
            .collect();
        for w in losses.windows(2) {
            assert!(w[1] <= w[0] * (1.0 + 1e-12), "{loss:?}: {w:?}");
        }
        assert!(
            losses.last().unwrap() < &(0.5 * losses[0]),
            "{loss:?}: training makes progress"
        );
        assert_eq!(losses[0], loss.mean(&f0, &y));
    }
}

#[test]
fn overflow_and_step_limit_are_numerical_errors() {
    let n = 10;
    let (k, y, _) = data(n, 3, 34, 0.0);
    // Margins −y f_0 = 800: e^800 overflows at t = 0.
    let f0: Vec<f64> = y.iter().map(|v| -800.0 * v).collect();
    let flow = LinearizedFlow::new(
        k.as_ref(),
        &y,
        &f0,
        Loss::Exponential,
        OdeOptions::default(),
    )
    .unwrap();
    match flow.solve(&[1.0]) {
        Err(e @ Error::Numerical { .. }) => {
            assert!(e.to_string().contains("t = 0"), "{e}");
            assert_eq!(e.exit_code(), 1);
        }
        other => panic!("expected a numerical error, got {other:?}"),
    }
    // The logistic loss is fine at the same margins (σ saturates at 1).
    let flow =
        LinearizedFlow::new(k.as_ref(), &y, &f0, Loss::Logistic, OdeOptions::default()).unwrap();
    assert!(flow.solve(&[1.0]).is_ok());
    let opts = OdeOptions {
        max_steps: 3,
        ..Default::default()
    };
    let (k, y, f0) = data(n, 3, 35, 0.3);
    let flow = LinearizedFlow::new(k.as_ref(), &y, &f0, Loss::Logistic, opts).unwrap();
    assert!(matches!(flow.solve(&[100.0]), Err(Error::Numerical { .. })));
    assert!(flow.solve(&[f64::INFINITY]).is_err());
}

#[test]
fn stable_helpers_at_extreme_margins() {
    assert_eq!(sigmoid(1000.0), 1.0);
    assert_eq!(sigmoid(-1000.0), 0.0);
    assert_eq!(sigmoid(0.0), 0.5);
    assert_eq!(softplus(1000.0), 1000.0);
    assert_eq!(softplus(-1000.0), 0.0);
    assert!((softplus(-40.0) - (-40f64).exp()).abs() < 1e-30);
    assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-16);
    assert_eq!(Loss::Logistic.value(1e6, -1.0), 1e6);
    assert_eq!(Loss::Logistic.derivative(1e6, -1.0), 1.0);
    assert_eq!(Loss::Mse.derivative(3.0, 1.0), 2.0);
    assert_eq!(Loss::Identity.value(2.0, -1.0), 2.0);
}
