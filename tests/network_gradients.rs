//! Gradients of the network against central finite differences of a forward pass written out
//! naively in this file (loops over neurons, no GEMM, no neuron reordering), for every loss, several
//! slopes γ and every combination of bias and readout training.
// Index loops mirror the written-out formulas.
#![allow(clippy::needless_range_loop)]

mod common;

use faer::Mat;
use ntk_perturb::model::{Architecture, Init, Loss, NetworkConfig, Readout};
use ntk_perturb::network::Network;

const LOSSES: [Loss; 4] = [Loss::Identity, Loss::Mse, Loss::Logistic, Loss::Exponential];

/// Trainable parameters in plain vectors: w (m×d, row-major), b, ã = √m a.
#[derive(Clone)]
struct Flat {
    m: usize,
    d: usize,
    w: Vec<f64>,
    b: Vec<f64>,
    a_tilde: Vec<f64>,
}

fn flat(net: &Network) -> Flat {
    let p = &net.params;
    let (m, d) = (p.width(), p.input_dim());
    Flat {
        m,
        d,
        w: (0..m * d).map(|i| p.w[(i / d, i % d)]).collect(),
        b: (0..m).map(|k| p.b[k]).collect(),
        a_tilde: (0..m).map(|k| p.a[k] * (m as f64).sqrt()).collect(),
    }
}

fn phi(u: f64, gamma: f64) -> f64 {
    if u >= 0.0 { u } else { gamma * u }
}

/// f(x) = Σ_k (ã_k/√m) φ(w_k·x + b_k), one neuron at a time.
fn naive_f(th: &Flat, x: &[f64], gamma: f64) -> f64 {
    let mut f = 0.0;
    for k in 0..th.m {
        let mut u = th.b[k];
        for j in 0..th.d {
            u += th.w[k * th.d + j] * x[j];
        }
        f += th.a_tilde[k] / (th.m as f64).sqrt() * phi(u, gamma);
    }
    f
}

/// The per-sample losses written from their definitions (not through `Loss`).
fn naive_loss(loss: Loss, f: f64, y: f64) -> f64 {
    let s = -y * f;
    match loss {
        Loss::Identity => s,
        Loss::Mse => 0.5 * (f - y).powi(2),
        Loss::Logistic => (1.0 + s.exp()).ln(),
        Loss::Exponential => s.exp(),
    }
}

fn naive_risk(th: &Flat, x: &Mat<f64>, y: &[f64], gamma: f64, loss: Loss) -> f64 {
    let n = x.nrows();
    (0..n)
        .map(|i| naive_loss(loss, naive_f(th, &common::row(x, i), gamma), y[i]))
        .sum::<f64>()
        / n as f64
}

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p - q).powi(2))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|q| q * q).sum::<f64>().sqrt();
    num / den.max(1e-300)
}

fn config(gamma: f64, bias: bool, train_readout: bool) -> NetworkConfig {
    NetworkConfig {
        width: 7,
        arch: Architecture {
            gamma,
            bias,
            train_readout,
        },
        readout: Readout::Gaussian,
        init: Init::Standard,
    }
}

fn data() -> (Mat<f64>, Vec<f64>) {
    let x = common::normal_matrix(5, 3, 11);
    let y = vec![1.0, -1.0, -1.0, 1.0, 1.0];
    (x, y)
}

/// Smallest |u_k(x_n)| over the data: finite differences must not step across a kink.
fn min_abs_preactivation(th: &Flat, x: &Mat<f64>) -> f64 {
    let mut min = f64::INFINITY;
    for i in 0..x.nrows() {
        for k in 0..th.m {
            let mut u = th.b[k];
            for j in 0..th.d {
                u += th.w[k * th.d + j] * x[(i, j)];
            }
            min = min.min(u.abs());
        }
    }
    min
}

/// Central difference of `g` in each coordinate of the selected parameter block.
fn fd(th: &Flat, block: usize, g: impl Fn(&Flat) -> f64) -> Vec<f64> {
    let h = 1e-6;
    let len = [th.w.len(), th.b.len(), th.a_tilde.len()][block];
    (0..len)
        .map(|i| {
            let mut plus = th.clone();
            let mut minus = th.clone();
            let (p, q) = match block {
                0 => (&mut plus.w[i], &mut minus.w[i]),
                1 => (&mut plus.b[i], &mut minus.b[i]),
                _ => (&mut plus.a_tilde[i], &mut minus.a_tilde[i]),
            };
            *p += h;
            *q -= h;
            (g(&plus) - g(&minus)) / (2.0 * h)
        })
        .collect()
}

#[test]
fn parameter_gradients_match_finite_differences_for_every_loss() {
    let (x, y) = data();
    let mut checked = 0;
    for gamma in [0.0, 0.3, 0.9] {
        for bias in [true, false] {
            for train_readout in [false, true] {
                let cfg = config(gamma, bias, train_readout);
                let net = Network::new(3, cfg, 5).unwrap();
                let th = flat(&net);
                assert!(min_abs_preactivation(&th, &x) > 1e-3);
                for loss in LOSSES {
                    let g = net.loss_gradient(x.as_ref(), &y, loss).unwrap();
                    let risk = |t: &Flat| naive_risk(t, &x, &y, gamma, loss);
                    let gw: Vec<f64> = (0..7 * 3).map(|i| g.w[(i / 3, i % 3)]).collect();
                    let e = rel_err(&gw, &fd(&th, 0, risk));
                    assert!(e <= 1e-6, "W γ={gamma} bias={bias} {loss:?}: {e:e}");
                    match &g.b {
                        Some(gb) => {
                            assert!(bias);
                            let gb: Vec<f64> = (0..7).map(|k| gb[k]).collect();
                            let e = rel_err(&gb, &fd(&th, 1, risk));
                            assert!(e <= 1e-6, "b γ={gamma} {loss:?}: {e:e}");
                        }
                        None => assert!(!bias),
                    }
                    match &g.a_tilde {
                        Some(ga) => {
                            assert!(train_readout);
                            let ga: Vec<f64> = (0..7).map(|k| ga[k]).collect();
                            let e = rel_err(&ga, &fd(&th, 2, risk));
                            assert!(e <= 1e-6, "ã γ={gamma} {loss:?}: {e:e}");
                        }
                        None => assert!(!train_readout),
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 3 * 2 * 2 * 4);
}

#[test]
fn input_gradients_match_finite_differences() {
    let (x, _) = data();
    for gamma in [0.0, 0.3, 0.9] {
        for bias in [true, false] {
            let net = Network::new(3, config(gamma, bias, false), 5).unwrap();
            let th = flat(&net);
            assert!(min_abs_preactivation(&th, &x) > 1e-3);
            let g = net.input_gradients(x.as_ref()).unwrap();
            assert_eq!((g.nrows(), g.ncols()), (5, 3));
            let h = 1e-6;
            for i in 0..5 {
                let xi = common::row(&x, i);
                let numeric: Vec<f64> = (0..3)
                    .map(|j| {
                        let (mut p, mut q) = (xi.clone(), xi.clone());
                        p[j] += h;
                        q[j] -= h;
                        (naive_f(&th, &p, gamma) - naive_f(&th, &q, gamma)) / (2.0 * h)
                    })
                    .collect();
                let e = rel_err(&common::row(&g, i), &numeric);
                assert!(e <= 1e-6, "γ={gamma} bias={bias} row {i}: {e:e}");
            }
        }
    }
}

#[test]
fn forward_matches_naive_sum_and_losses_match_definitions() {
    let (x, y) = data();
    let net = Network::new(3, config(0.3, true, false), 5).unwrap();
    let th = flat(&net);
    let f = net.forward(x.as_ref()).unwrap();
    for i in 0..5 {
        let expect = naive_f(&th, &common::row(&x, i), 0.3);
        assert!((f[i] - expect).abs() <= 1e-13 * (1.0 + expect.abs()));
        for loss in LOSSES {
            let v = loss.value(f[i], y[i]);
            let want = naive_loss(loss, f[i], y[i]);
            assert!((v - want).abs() <= 1e-14 * (1.0 + want.abs()), "{loss:?}");
        }
    }
}

#[test]
fn logistic_loss_is_stable_for_large_margins() {
    // softplus(800) = 800 and σ(800) = 1; naive log(1+e^800) overflows.
    assert_eq!(Loss::Logistic.value(-800.0, 1.0), 800.0);
    assert_eq!(Loss::Logistic.derivative(-800.0, 1.0), -1.0);
    // log(1+e^{-800}) ≈ e^{-800} underflows to 0 but must not be NaN; σ(-800) = e^{-800} → 0.
    assert_eq!(Loss::Logistic.derivative(800.0, 1.0), -0.0);
    // s = −30: log(1 + e^{−30}) = ε − ε²/2 + … with ε = e^{−30}; the naive form keeps 3 digits.
    let eps = (-30.0f64).exp();
    let v = Loss::Logistic.value(-30.0, -1.0);
    assert!((v - (eps - eps * eps / 2.0)).abs() <= 1e-15 * eps, "{v:e}");
    let s = 1e-20;
    assert_eq!(
        Loss::Logistic.value(-s, 1.0),
        std::f64::consts::LN_2 + s / 2.0
    );
}
