//! Theory against simulation (§3.3, §13.2): finite networks of growing width, trained by plain
//! gradient descent on the identity loss, against the infinite-width linearised prediction.
//!
//! For the identity loss ℓ(s) = s the flow is exact: α(t) = (t/N) Y, so the prediction at a test
//! input z is f_T(z) = f_0(z) + (T/N) Σ_n y_n Θ(x_n, z), with f_0 the network's own initial
//! outputs and Θ the closed-form NTK (§4.4). T = η·steps is the flow time of the simulation (§3.2).
//! The relative error ‖f_T − f_pred‖/‖f_T − f_0‖ over the test inputs shrinks with the width m,
//! roughly like m^{−1/2} (the fluctuation of the empirical NTK around Θ, §4.5). The table gives
//! its mean over 5 networks per width and the mean fraction of test inputs where f_T and f_pred
//! have the same sign.
//!
//! ```sh
//! cargo run --release --example theory_vs_simulation            # widths 100, 1000, 10000
//! cargo run --release --example theory_vs_simulation -- --small # widths 50, 200, 800
//! ```
//!
//! Data: Shifted Gauss (§7.1), N = 200 training and 200 test samples in d = 20.

use std::process::ExitCode;

use ntk_perturb::data::{DEFAULT_SHIFT, shifted_gauss};
use ntk_perturb::dynamics::{LinearizedFlow, OdeOptions};
use ntk_perturb::kernel::{KernelWhat, infinite_test_train, infinite_train_train};
use ntk_perturb::model::{Init, Loss, NetworkConfig, Readout};
use ntk_perturb::network::{Network, TrainOptions};
use ntk_perturb::study::crosscheck::sign_agreement;
use ntk_perturb::{Error, Result};

/// Widths: default and `--small`.
const WIDTHS: [[usize; 3]; 2] = [[100, 1000, 10_000], [50, 200, 800]];
/// Samples, dimension, learning rate and steps (flow time T = 0.01 · 100 = 1); seeds 0..SEEDS.
const N: usize = 200;
const D: usize = 20;
const LR: f64 = 0.01;
const STEPS: usize = 100;
const SEEDS: u64 = 5;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--small` or nothing; anything else is refused.
fn small_flag() -> Result<bool> {
    let mut small = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--small" => small = true,
            other => return Err(Error::invalid(other, "unknown argument (only --small)")),
        }
    }
    Ok(small)
}

/// Euclidean norm of a − b.
fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q) * (p - q))
        .sum::<f64>()
        .sqrt()
}

fn run() -> Result<()> {
    let widths = WIDTHS[usize::from(small_flag()?)];
    let train = shifted_gauss(N, D, DEFAULT_SHIFT, 0)?;
    let test = shifted_gauss(N, D, DEFAULT_SHIFT, 1)?;
    let (x, z) = (train.x.as_ref(), test.x.as_ref());
    let opts = TrainOptions {
        lr: LR,
        steps: STEPS,
        momentum: 0.0,
        loss: Loss::Identity,
        record_every: STEPS,
    };
    let time = LR * STEPS as f64;

    // The infinite-width kernels depend on neither width nor seed: computed once.
    let mut config = NetworkConfig {
        width: widths[0],
        arch: Default::default(),
        readout: Readout::Gaussian,
        init: Init::Standard,
    };
    let k_train_train = infinite_train_train(x, &config.arch, KernelWhat::Ntk)?;
    let k_test_train = infinite_test_train(z, x, &config.arch, KernelWhat::Ntk)?;
    // Identity loss: α(T) = (T/N) Y, whatever K and F_0 (§13.2), so one flow serves every network.
    let flow = LinearizedFlow::new(
        k_train_train.as_ref(),
        &train.y,
        &vec![0.0; N],
        Loss::Identity,
        OdeOptions::default(),
    )?;
    let alpha = flow.coefficients(&[time])?.remove(0);

    println!("Shifted Gauss, N = {N}, d = {D}, identity loss, T = {time} ({STEPS} GD steps)");
    println!("means over {SEEDS} networks per width:");
    println!(" width   rel_error  sign_agreement");
    for width in widths {
        config.width = width;
        let (mut rel_error, mut signs) = (0.0, 0.0);
        for seed in 0..SEEDS {
            let mut net = Network::new(D, config, seed)?;
            let f0_test = net.forward(z)?;
            net.train(x, &train.y, None, &opts, |_| ())?;
            let f_t = net.forward(z)?;
            // f_pred = f_0(Z) + Θ(Z, X) α(T), with the network's own f_0.
            let f_pred = LinearizedFlow::predict(k_test_train.as_ref(), &f0_test, &alpha);
            rel_error += distance(&f_t, &f_pred) / distance(&f_t, &f0_test) / SEEDS as f64;
            signs += sign_agreement(&f_t, &f_pred) / SEEDS as f64;
        }
        println!("{width:>6}  {rel_error:>10.4e}  {signs:>14.4}");
    }
    Ok(())
}
