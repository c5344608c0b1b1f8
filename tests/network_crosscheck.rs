//! The linearisation gap along a training run and the theory-versus-simulation cross-check
//! (§3.3, §13.2): the gap vanishes at t = 0 and for tiny steps, the linearised model's relative
//! error falls with the width at about the m^{−1/2} rate, and the power-law fit is exact on exact
//! power laws.
// Index loops mirror the written-out formulas.
#![allow(clippy::needless_range_loop)]

mod common;

use faer::Mat;
use ntk_perturb::kernel::{KernelWhat, empirical_test_train};
use ntk_perturb::model::{Architecture, Init, Loss, NetworkConfig, Readout};
use ntk_perturb::network::{Network, TrainOptions};
use ntk_perturb::study::crosscheck::{
    CrosscheckOptions, crosscheck, fit_errors, fit_power_law, mean_by_width,
};

fn shifted_gauss(n: usize, d: usize, seed: u64) -> (Mat<f64>, Vec<f64>) {
    let g = common::normal_matrix(n, d, seed);
    let y: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let x = Mat::from_fn(n, d, |i, j| g[(i, j)] + 0.3 * y[i]);
    (x, y)
}

fn config(width: usize) -> NetworkConfig {
    NetworkConfig {
        width,
        arch: Architecture {
            gamma: 0.0,
            bias: true,
            train_readout: false,
        },
        readout: Readout::Gaussian,
        init: Init::Standard,
    }
}

fn opts(lr: f64, steps: usize, loss: Loss, record_every: usize) -> TrainOptions {
    TrainOptions {
        lr,
        steps,
        momentum: 0.0,
        loss,
        record_every,
    }
}

#[test]
fn lin_gap_is_zero_at_step_zero_and_matches_the_identity_formula() {
    let (x, y) = shifted_gauss(30, 6, 1);
    let (z, yz) = shifted_gauss(12, 6, 2);
    let mut net = Network::new(6, config(40), 3).unwrap();
    let init = net.clone();
    let o = opts(0.05, 20, Loss::Identity, 10);
    let traj = net
        .train_with_lin_gap(x.as_ref(), &y, Some((z.as_ref(), &yz)), &o, |_| {})
        .unwrap();
    assert_eq!(traj.len(), 3);
    assert_eq!(traj[0].lin_gap_max, Some(0.0), "f_0 = f_0^lin exactly");
    assert_eq!(traj[0].lin_gap_rms, Some(0.0));

    // By hand at the last step: f_lin(z) = f_0(z) + (t/N) Σ_n y_n Θ_m(x_n, z).
    let k = empirical_test_train(
        &init.params,
        z.as_ref(),
        x.as_ref(),
        &init.config.arch,
        KernelWhat::Ntk,
    )
    .unwrap();
    let (f0, ft) = (
        init.forward(z.as_ref()).unwrap(),
        net.forward(z.as_ref()).unwrap(),
    );
    let t = 0.05 * 20.0;
    let (mut max, mut sq) = (0.0f64, 0.0);
    for i in 0..z.nrows() {
        let lin = f0[i] + (0..30).map(|n| k[(i, n)] * y[n]).sum::<f64>() * t / 30.0;
        max = max.max((ft[i] - lin).abs());
        sq += (ft[i] - lin).powi(2);
    }
    let last = traj.last().unwrap();
    let (gmax, grms) = (last.lin_gap_max.unwrap(), last.lin_gap_rms.unwrap());
    assert!(
        gmax > 0.0 && (gmax - max).abs() <= 1e-12 * (1.0 + max),
        "{gmax} vs {max}"
    );
    assert!((grms - (sq / 12.0).sqrt()).abs() <= 1e-12);

    // Plain `train` leaves the gap empty and trains identically.
    let mut again = init.clone();
    let plain = again
        .train(x.as_ref(), &y, Some((z.as_ref(), &yz)), &o, |_| {})
        .unwrap();
    assert!(plain.iter().all(|p| p.lin_gap_max.is_none()));
    assert_eq!(again.params.w, net.params.w);
}

#[test]
fn lin_gap_is_tiny_for_tiny_steps_of_the_identity_loss() {
    let (x, y) = shifted_gauss(30, 6, 4);
    let mut net = Network::new(6, config(64), 5).unwrap();
    let f0 = net.forward(x.as_ref()).unwrap();
    // No test set: the gap is measured on the training inputs.
    let traj = net
        .train_with_lin_gap(
            x.as_ref(),
            &y,
            None,
            &opts(1e-5, 10, Loss::Identity, 5),
            |_| {},
        )
        .unwrap();
    let ft = net.forward(x.as_ref()).unwrap();
    let moved = ft
        .iter()
        .zip(&f0)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let gap = traj.last().unwrap().lin_gap_max.unwrap();
    assert!(moved > 1e-6, "the outputs moved by {moved}");
    assert!(
        gap <= 1e-9 * moved.max(1e-300) + 1e-13,
        "gap {gap} vs change {moved}"
    );
}

#[test]
fn rel_error_lin_falls_at_least_2_5x_when_the_width_grows_16x() {
    let (x, y) = shifted_gauss(40, 10, 6);
    let (z, _) = shifted_gauss(20, 10, 7);
    let o = CrosscheckOptions {
        time: 2.0,
        lr: 0.02,
        loss: Loss::Identity,
        ode: Default::default(),
    };
    let runs = crosscheck(
        x.as_ref(),
        &y,
        Some(z.as_ref()),
        config(64),
        &[64, 1024],
        &[0, 1, 2],
        &o,
        |_| {},
    )
    .unwrap();
    assert_eq!(runs.len(), 6);
    let means = mean_by_width(&runs, "rel_error_lin");
    let (narrow, wide) = (means[0].1, means[1].1);
    assert!(
        narrow >= 2.5 * wide,
        "rel_error_lin {narrow} at m = 64 vs {wide} at m = 1024"
    );
    for r in &runs {
        assert!(r.grad_cosine_lin > 0.5 && r.grad_cosine_lin <= 1.0 + 1e-12);
        assert!((0.0..=1.0).contains(&r.sign_agreement_lin));
    }
    let fits = fit_errors(&runs, ntk_perturb::model::Init::Standard);
    assert_eq!(fits[0].quantity, "rel_error_lin");
    assert!(fits[0].slope.unwrap() < -0.33);
}

#[test]
fn power_law_fit_recovers_an_exact_exponent() {
    let x = [10.0, 100.0, 1000.0, 3000.0, 12345.0];
    let y: Vec<f64> = x.iter().map(|w: &f64| 2.5 * w.powf(-0.37)).collect();
    let fit = fit_power_law(&x, &y).unwrap();
    assert!((fit.slope + 0.37).abs() <= 1e-12, "{}", fit.slope);
    assert!((fit.intercept - 2.5f64.ln()).abs() <= 1e-12);
    assert!(fit_power_law(&[10.0, 10.0], &[1.0, 2.0]).is_err());
    assert!(fit_power_law(&[10.0, 20.0], &[1.0, 0.0]).is_err());
}
