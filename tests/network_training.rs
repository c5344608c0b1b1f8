//! Gradient descent of the network against updates written out by hand in this file: one plain step
//! for every loss, and a momentum sequence against PyTorch's SGD recurrence (v ← μv + g, θ ← θ − ηv).
//! Also: exact zeros of the antisymmetric initialisation, thread independence, option validation
//! and divergence reporting.
// Index loops mirror the written-out formulas.
#![allow(clippy::needless_range_loop)]

mod common;

use faer::Mat;
use ntk_perturb::Error;
use ntk_perturb::model::{Architecture, Init, Loss, NetworkConfig, Params, Readout};
use ntk_perturb::network::{Network, TrainOptions};

const LOSSES: [Loss; 4] = [Loss::Identity, Loss::Mse, Loss::Logistic, Loss::Exponential];

fn config(width: usize, gamma: f64, bias: bool, train_readout: bool, init: Init) -> NetworkConfig {
    NetworkConfig {
        width,
        arch: Architecture {
            gamma,
            bias,
            train_readout,
        },
        readout: Readout::Gaussian,
        init,
    }
}

fn opts(lr: f64, steps: usize, momentum: f64, loss: Loss) -> TrainOptions {
    TrainOptions {
        lr,
        steps,
        momentum,
        loss,
        record_every: 1,
    }
}

fn labels(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect()
}

/// ∂loss/∂f from the loss definitions.
fn dloss(loss: Loss, f: f64, y: f64) -> f64 {
    let s = -y * f;
    match loss {
        Loss::Identity => -y,
        Loss::Mse => f - y,
        Loss::Logistic => -y / (1.0 + (-s).exp()),
        Loss::Exponential => -y * s.exp(),
    }
}

/// Hand-written backpropagation: (∇W, ∇b, ∇ã) of the mean loss at `p`, neuron by neuron.
fn hand_gradient(
    p: &Params,
    x: &Mat<f64>,
    y: &[f64],
    gamma: f64,
    loss: Loss,
) -> (Vec<Vec<f64>>, Vec<f64>, Vec<f64>) {
    let (m, d, n) = (p.width(), p.input_dim(), x.nrows());
    let mut gw = vec![vec![0.0; d]; m];
    let mut gb = vec![0.0; m];
    let mut ga = vec![0.0; m];
    for i in 0..n {
        let u: Vec<f64> = (0..m)
            .map(|k| p.b[k] + (0..d).map(|j| p.w[(k, j)] * x[(i, j)]).sum::<f64>())
            .collect();
        let f: f64 = (0..m)
            .map(|k| p.a[k] * if u[k] >= 0.0 { u[k] } else { gamma * u[k] })
            .sum();
        let r = dloss(loss, f, y[i]) / n as f64;
        for k in 0..m {
            let dphi = if u[k] >= 0.0 { 1.0 } else { gamma };
            let phi = if u[k] >= 0.0 { u[k] } else { gamma * u[k] };
            for j in 0..d {
                gw[k][j] += r * p.a[k] * dphi * x[(i, j)];
            }
            gb[k] += r * p.a[k] * dphi;
            ga[k] += r * phi / (m as f64).sqrt();
        }
    }
    (gw, gb, ga)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn one_gd_step_equals_hand_written_update_for_every_loss() {
    let x = common::normal_matrix(9, 4, 21);
    let y = labels(9);
    for (gamma, bias, train_readout) in [(0.0, true, false), (0.4, true, true), (0.2, false, true)]
    {
        for loss in LOSSES {
            let cfg = config(6, gamma, bias, train_readout, Init::Standard);
            let mut net = Network::new(4, cfg, 3).unwrap();
            let p0 = net.params.clone();
            let eta = 0.3;
            net.train(x.as_ref(), &y, None, &opts(eta, 1, 0.0, loss), |_| {})
                .unwrap();
            let (gw, gb, ga) = hand_gradient(&p0, &x, &y, gamma, loss);
            let sqrt_m = 6f64.sqrt();
            for k in 0..6 {
                for j in 0..4 {
                    let want = p0.w[(k, j)] - eta * gw[k][j];
                    assert!(
                        close(net.params.w[(k, j)], want, 1e-13),
                        "{loss:?} w[{k},{j}]"
                    );
                }
                let want_b = if bias { p0.b[k] - eta * gb[k] } else { 0.0 };
                assert!(close(net.params.b[k], want_b, 1e-13), "{loss:?} b[{k}]");
                let want_a = if train_readout {
                    (p0.a[k] * sqrt_m - eta * ga[k]) / sqrt_m
                } else {
                    p0.a[k]
                };
                assert!(close(net.params.a[k], want_a, 1e-13), "{loss:?} a[{k}]");
            }
            // A fixed readout stays bitwise fixed.
            if !train_readout {
                assert!((0..6).all(|k| net.params.a[k] == p0.a[k]));
            }
        }
    }
}

#[test]
fn momentum_follows_the_pytorch_recurrence() {
    let x = common::normal_matrix(8, 3, 5);
    let y = labels(8);
    let (gamma, eta, mu, steps) = (0.1, 0.5, 0.9, 4);
    for loss in [Loss::Logistic, Loss::Mse] {
        let cfg = config(5, gamma, true, true, Init::Standard);
        let mut net = Network::new(3, cfg, 8).unwrap();
        let mut p = net.params.clone();
        let traj = net
            .train(x.as_ref(), &y, None, &opts(eta, steps, mu, loss), |_| {})
            .unwrap();
        assert_eq!(traj.len(), steps + 1);
        // θ = (W, b, ã); v starts at 0 so the first step is v = g.
        let sqrt_m = 5f64.sqrt();
        let mut vw = vec![vec![0.0; 3]; 5];
        let mut vb = [0.0; 5];
        let mut va = [0.0; 5];
        for _ in 0..steps {
            let (gw, gb, ga) = hand_gradient(&p, &x, &y, gamma, loss);
            for k in 0..5 {
                for j in 0..3 {
                    vw[k][j] = mu * vw[k][j] + gw[k][j];
                    p.w[(k, j)] -= eta * vw[k][j];
                }
                vb[k] = mu * vb[k] + gb[k];
                p.b[k] -= eta * vb[k];
                va[k] = mu * va[k] + ga[k];
                p.a[k] = (p.a[k] * sqrt_m - eta * va[k]) / sqrt_m;
            }
        }
        for k in 0..5 {
            for j in 0..3 {
                assert!(close(net.params.w[(k, j)], p.w[(k, j)], 1e-11));
            }
            assert!(close(net.params.b[k], p.b[k], 1e-11));
            assert!(close(net.params.a[k], p.a[k], 1e-11));
        }
        // The recorded loss at the end is the loss of the final parameters.
        let f = net.forward(x.as_ref()).unwrap();
        let mean: f64 = f
            .iter()
            .zip(&y)
            .map(|(&f, &y)| loss.value(f, y))
            .sum::<f64>()
            / 8.0;
        assert_eq!(traj[steps].loss, mean);
        // Two clocks: η·s, and the flow time whose displacement the momentum steps reproduce
        // under a constant gradient: Σ_s η·v_s with the scalar recurrence v ← μv + 1 (v_1 = 1).
        let (mut v, mut t) = (0.0, 0.0);
        for (s, point) in traj.iter().enumerate() {
            assert_eq!(point.lr_time, eta * s as f64);
            assert!(
                close(point.flow_time, t, 1e-14),
                "step {s}: {} vs {t}",
                point.flow_time
            );
            v = mu * v + 1.0;
            t += eta * v;
        }
    }
}

/// Θ_m(x, z) = Σ_k a_k² φ'_γ(u_k(x)) φ'_γ(u_k(z)) (x·z + 1) of the network `p`, written out (§3.3).
fn hand_ntk(p: &Params, x: &[f64], z: &[f64], gamma: f64) -> f64 {
    let d = x.len();
    let dphi = |k: usize, v: &[f64]| {
        let u = p.b[k] + (0..d).map(|j| p.w[(k, j)] * v[j]).sum::<f64>();
        if u >= 0.0 { 1.0 } else { gamma }
    };
    let dot: f64 = x.iter().zip(z).map(|(a, b)| a * b).sum();
    (0..p.width())
        .map(|k| p.a[k] * p.a[k] * dphi(k, x) * dphi(k, z))
        .sum::<f64>()
        * (dot + 1.0)
}

/// The matched flow time against an actual momentum run: with the identity loss and no activation
/// pattern change, f is affine in (W, b) along the whole run, so the parameter gradient is exactly
/// constant and gradient flow for time t moves f(x_i) by exactly t·K̄_i with
/// K̄_i = (1/N) Σ_n y_n Θ_m(x_n, x_i) (Θ_m written out above from the initial weights). A momentum
/// run of S steps must move f by `flow_time`·K̄, not by `lr_time`·K̄ (7× less here).
///
/// Tolerance: the only error is rounding. Each of the S updates w ← w − ηv rounds w (|w| ≲ 1) to
/// ε_mach ≈ 1.1e-16, while the run moves each weight by |Δw| ≈ 1e-4 (t ≈ 2e-3), so the relative error
/// of Δf is about S·ε_mach·|w|/|Δw| ≈ 30·1.1e-16·1e4 ≈ 3e-11; we allow 1e-9.
#[test]
fn a_momentum_run_moves_f_like_gradient_flow_for_the_matched_time() {
    let (n, d, m, gamma) = (8, 3, 64, 0.3);
    let x = common::normal_matrix(n, d, 41);
    let y = labels(n);
    let net0 = Network::new(d, config(m, gamma, true, false, Init::Standard), 12).unwrap();
    let rows: Vec<Vec<f64>> = (0..n).map(|i| common::row(&x, i)).collect();
    let k_bar: Vec<f64> = (0..n)
        .map(|i| {
            (0..n)
                .map(|k| y[k] * hand_ntk(&net0.params, &rows[k], &rows[i], gamma))
                .sum::<f64>()
                / n as f64
        })
        .collect();
    let f0 = net0.forward(x.as_ref()).unwrap();
    for (mu, steps) in [(0.9, 30), (0.5, 30), (0.0, 30), (0.9, 1)] {
        let o = opts(1e-5, steps, mu, Loss::Identity);
        let mut net = net0.clone();
        let traj = net
            .train_with_lin_gap(x.as_ref(), &y, None, &o, |_| {})
            .unwrap();
        // Precondition: no activation pattern changed at any step, so the gradient was constant.
        assert!(traj.iter().all(|p| p.pattern_flip_fraction == 0.0));
        let last = traj.last().unwrap();
        let moved: Vec<f64> = net
            .forward(x.as_ref())
            .unwrap()
            .iter()
            .zip(&f0)
            .map(|(a, b)| a - b)
            .collect();
        // The time the displacement implies: least squares of Δf on K̄.
        let implied = moved.iter().zip(&k_bar).map(|(a, b)| a * b).sum::<f64>()
            / k_bar.iter().map(|b| b * b).sum::<f64>();
        assert!(
            (implied - last.flow_time).abs() <= 1e-9 * last.flow_time,
            "μ = {mu}, S = {steps}: implied time {implied}, flow_time {}, lr_time {}",
            last.flow_time,
            last.lr_time
        );
        let scale = moved.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for i in 0..n {
            assert!(
                (moved[i] - last.flow_time * k_bar[i]).abs() <= 1e-9 * scale,
                "μ = {mu} x{i}"
            );
        }
        // The linearisation gap is measured at the same time, so it is rounding only.
        let gap = last.lin_gap_max.unwrap();
        assert!(gap <= 1e-9 * scale, "μ = {mu}: gap {gap} vs Δf {scale}");
    }
}

#[test]
fn antisymmetric_init_gives_exactly_zero_output_and_input_gradient() {
    // Sizes past faer's GEMM blocking, odd dimensions, with and without bias.
    for (n, d, m) in [(5, 3, 2), (137, 33, 64), (301, 97, 1000)] {
        for gamma in [0.0, 0.5] {
            for bias in [true, false] {
                let cfg = config(m, gamma, bias, false, Init::Antisymmetric);
                let net = Network::new(d, cfg, 17).unwrap();
                let x = common::normal_matrix(n, d, 2);
                let f = net.forward(x.as_ref()).unwrap();
                assert!(f.iter().all(|&v| v == 0.0), "f_0 ≠ 0 at n={n} m={m}");
                let g = net.input_gradients(x.as_ref()).unwrap();
                for j in 0..d {
                    for i in 0..n {
                        assert!(g[(i, j)] == 0.0, "∇f_0 ≠ 0 at n={n} m={m}");
                    }
                }
                // The same network trained does move away from zero (at m = 2 the one ReLU pair
                // may be inactive on all five inputs, so only the wide cases are checked).
                let mut trained = net.clone();
                let y = labels(n);
                let traj = trained
                    .train(
                        x.as_ref(),
                        &y,
                        None,
                        &opts(0.1, 1, 0.0, Loss::Identity),
                        |_| {},
                    )
                    .unwrap();
                assert_eq!(traj[0].loss, 0.0);
                assert_eq!(traj[0].train_accuracy, 0.0);
                assert!(
                    m == 2 || traj[1].loss < 0.0,
                    "n={n} m={m} γ={gamma} bias={bias}: {}",
                    traj[1].loss
                );
            }
        }
    }
}

fn run_in_pool(threads: usize) -> (Params, String, Vec<f64>, Mat<f64>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let (n, d, m) = (1200, 60, 300); // above the size where work goes parallel
        let x = common::normal_matrix(n, d, 31);
        let z = common::normal_matrix(150, d, 32);
        let y = labels(n);
        let yz = labels(150);
        let cfg = config(m, 0.2, true, true, Init::Standard);
        let mut net = Network::new(d, cfg, 4).unwrap();
        let o = TrainOptions {
            lr: 0.5,
            steps: 12,
            momentum: 0.9,
            loss: Loss::Logistic,
            record_every: 5,
        };
        let traj = net
            .train(x.as_ref(), &y, Some((z.as_ref(), &yz)), &o, |_| {})
            .unwrap();
        let f = net.forward(z.as_ref()).unwrap();
        let g = net.input_gradients(z.as_ref()).unwrap();
        (net.params, format!("{traj:?}"), f, g)
    })
}

#[test]
fn training_is_bit_identical_for_one_and_two_threads() {
    let (p1, t1, f1, g1) = run_in_pool(1);
    let (p2, t2, f2, g2) = run_in_pool(2);
    assert_eq!(t1, t2);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
    assert_eq!(bits(&f1), bits(&f2));
    let mat_bits = |m: &Mat<f64>| {
        (0..m.ncols())
            .flat_map(|j| (0..m.nrows()).map(move |i| m[(i, j)].to_bits()))
            .collect::<Vec<u64>>()
    };
    assert_eq!(mat_bits(&g1), mat_bits(&g2));
    assert_eq!(mat_bits(&p1.w), mat_bits(&p2.w));
    let col_bits = |c: &faer::Col<f64>| (0..c.nrows()).map(|i| c[i].to_bits()).collect::<Vec<_>>();
    assert_eq!(col_bits(&p1.b), col_bits(&p2.b));
    assert_eq!(col_bits(&p1.a), col_bits(&p2.a));
    // Recording at 0, 5, 10 and the last step 12.
    assert!(t1.contains("step: 10") && t1.contains("step: 12") && !t1.contains("step: 11"));
}

fn flag_of(e: Error) -> String {
    match e {
        Error::InvalidArgument {
            parameter: flag, ..
        } => flag,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn invalid_options_name_their_flag_and_leave_the_network_unchanged() {
    let x = common::normal_matrix(4, 2, 1);
    let y = labels(4);
    let mut net = Network::new(2, config(4, 0.0, true, false, Init::Standard), 1).unwrap();
    let before = net.params.w.clone();
    let cases = [
        (opts(0.0, 3, 0.0, Loss::Identity), "lr"),
        (opts(f64::NAN, 3, 0.0, Loss::Identity), "lr"),
        (opts(-1.0, 3, 0.0, Loss::Identity), "lr"),
        (opts(0.1, 3, 1.0, Loss::Identity), "momentum"),
        (opts(0.1, 3, -0.1, Loss::Identity), "momentum"),
        (opts(f64::MAX, 3, 0.0, Loss::Identity), "steps"),
        (
            TrainOptions {
                record_every: 0,
                ..opts(0.1, 3, 0.0, Loss::Identity)
            },
            "record_every",
        ),
    ];
    for (o, flag) in cases {
        let e = net.train(x.as_ref(), &y, None, &o, |_| {}).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(flag_of(e), flag);
    }
    assert_eq!(common::max_abs_diff(&before, &net.params.w), 0.0);
    // Mismatched data are input errors too.
    let e = net
        .train(
            x.as_ref(),
            &y[..3],
            None,
            &opts(0.1, 1, 0.0, Loss::Identity),
            |_| {},
        )
        .unwrap_err();
    assert!(matches!(e, Error::Mismatch(_)), "{e:?}");
    let wrong_dim = common::normal_matrix(4, 3, 1);
    assert!(matches!(
        net.forward(wrong_dim.as_ref()),
        Err(Error::Mismatch(_))
    ));
}

#[test]
fn divergence_is_a_numerical_error_naming_the_step() {
    let x = common::normal_matrix(6, 3, 9);
    let y = labels(6);
    let mut net = Network::new(3, config(8, 0.0, true, true, Init::Standard), 2).unwrap();
    let before = net.params.clone();
    let mut calls = 0;
    let e = net
        .train(
            x.as_ref(),
            &y,
            None,
            &opts(1e6, 50, 0.0, Loss::Exponential),
            |_| calls += 1,
        )
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let msg = e.to_string();
    assert!(matches!(e, Error::Numerical { .. }));
    assert!(
        msg.contains(&format!("step {calls}")),
        "{msg} after {calls} steps"
    );
    assert_eq!(common::max_abs_diff(&before.w, &net.params.w), 0.0);
}

#[test]
fn progress_counts_steps_and_without_momentum_both_times_are_lr_times_steps() {
    let x = common::normal_matrix(10, 2, 3);
    let y = labels(10);
    let mut net = Network::new(2, config(4, 0.0, true, false, Init::Standard), 6).unwrap();
    let mut seen = Vec::new();
    let o = TrainOptions {
        record_every: 3,
        ..opts(0.25, 7, 0.0, Loss::Identity)
    };
    let traj = net
        .train(x.as_ref(), &y, None, &o, |s| seen.push(s))
        .unwrap();
    assert_eq!(seen, (1..=7).collect::<Vec<_>>());
    let steps: Vec<usize> = traj.iter().map(|p| p.step).collect();
    assert_eq!(steps, vec![0, 3, 6, 7]);
    assert_eq!(traj[3].lr_time, 1.75);
    assert_eq!(traj[3].flow_time, 1.75);
    assert_eq!(traj[0].weight_change, 0.0);
    assert_eq!(traj[0].pattern_flip_fraction, 0.0);
    assert!(traj[3].weight_change > 0.0);
    // Zero steps: only the initial point.
    let traj = net
        .train(
            x.as_ref(),
            &y,
            None,
            &opts(0.1, 0, 0.0, Loss::Identity),
            |_| {},
        )
        .unwrap();
    assert_eq!(traj.len(), 1);
}
