//! The lazy regime (§3.3, §13.2): for the identity loss the linearised model trained for time t is
//! f_lin(z) = f_0(z) + (t/N) Σ_n y_n Θ_m(x_n, z), with Θ_m the empirical NTK of the *initial*
//! network. Its distance to the trained finite network must shrink as the width grows (≈ 1/√m).
// Index loops mirror the written-out formulas.
#![allow(clippy::needless_range_loop)]

mod common;

use faer::Mat;
use ntk_perturb::kernel::{KernelWhat, empirical_test_train, empirical_train_train};
use ntk_perturb::model::{Architecture, Init, Loss, NetworkConfig, Readout};
use ntk_perturb::network::{Network, TrainOptions};

/// Shifted-Gauss-like data: half N(+0.3·1, I) labelled +1, half N(−0.3·1, I) labelled −1 (§7.1).
fn shifted_gauss(n: usize, d: usize, seed: u64) -> (Mat<f64>, Vec<f64>) {
    let g = common::normal_matrix(n, d, seed);
    let y: Vec<f64> = (0..n).map(|i| if i < n / 2 { 1.0 } else { -1.0 }).collect();
    let x = Mat::from_fn(n, d, |i, j| g[(i, j)] + 0.3 * y[i]);
    (x, y)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// ‖f_T − f_lin‖ / ‖f_lin − f_0‖ over train and test inputs.
fn lazy_error(width: usize, seed: u64, train_readout: bool) -> f64 {
    let (d, n, t, steps) = (10, 40, 2.0, 200);
    let (x, y) = shifted_gauss(n, d, 100 + seed);
    let (z, _) = shifted_gauss(20, d, 200 + seed);
    let cfg = NetworkConfig {
        width,
        arch: Architecture {
            gamma: 0.0,
            bias: true,
            train_readout,
        },
        readout: Readout::Gaussian,
        init: Init::Standard,
    };
    let mut net = Network::new(d, cfg, seed).unwrap();
    let arch = cfg.arch;
    let k_xx = empirical_train_train(&net.params, x.as_ref(), &arch, KernelWhat::Ntk).unwrap();
    let k_zx =
        empirical_test_train(&net.params, z.as_ref(), x.as_ref(), &arch, KernelWhat::Ntk).unwrap();
    let f0_x = net.forward(x.as_ref()).unwrap();
    let f0_z = net.forward(z.as_ref()).unwrap();
    let opts = TrainOptions {
        lr: t / steps as f64,
        steps,
        momentum: 0.0,
        loss: Loss::Identity,
        record_every: steps,
    };
    net.train(x.as_ref(), &y, None, &opts, |_| {}).unwrap();
    let (ft_x, ft_z) = (
        net.forward(x.as_ref()).unwrap(),
        net.forward(z.as_ref()).unwrap(),
    );
    let mut err = Vec::new();
    let mut change = Vec::new();
    for (k, f0, ft) in [(&k_xx, &f0_x, &ft_x), (&k_zx, &f0_z, &ft_z)] {
        for i in 0..k.nrows() {
            let delta: f64 = (0..n).map(|j| k[(i, j)] * y[j]).sum::<f64>() * t / n as f64;
            err.push(ft[i] - (f0[i] + delta));
            change.push(delta);
        }
    }
    norm(&err) / norm(&change)
}

fn mean_error(width: usize, train_readout: bool) -> f64 {
    (0..3)
        .map(|s| lazy_error(width, s, train_readout))
        .sum::<f64>()
        / 3.0
}

#[test]
fn trained_network_approaches_its_linearisation_as_width_grows() {
    for train_readout in [false, true] {
        let narrow = mean_error(64, train_readout);
        let wide = mean_error(1024, train_readout);
        eprintln!("train_readout={train_readout}: m=64 {narrow:.3e}, m=1024 {wide:.3e}");
        assert!(
            narrow >= 2.5 * wide,
            "train_readout={train_readout}: error {narrow:e} at m=64 vs {wide:e} at m=1024"
        );
        // And the wide network is genuinely close to its linearisation.
        assert!(wide < 0.05, "{wide:e}");
    }
}
