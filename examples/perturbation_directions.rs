//! The four perturbation directions of §13.3 at the training points of one trained network, and how
//! parallel they are (§5.3, §5.4).
//!
//! * `net`: ∇_z f_T(z) of the trained finite network;
//! * `lin`: ∇_z of its linearisation at the same width and initial weights (includes ∇f_0);
//! * `sum`: Σ_n α_n Φ_γ(x_n, z) x_n, the paper's weighted sum of training samples (infinite width);
//! * `kernel`: ∇_z Σ_n α_n Θ(x_n, z), the exact input gradient of the infinite-width predictor.
//!
//! [`Directions::compute`] trains the network and evaluates all four (and ∇f_0) at every training
//! input; [`compare`] and [`summarize`] give the cosine of every pair at every input and its mean.
//! The first table is the symmetric matrix of mean cosines.
//!
//! ```sh
//! cargo run --release --example perturbation_directions            # width 2000
//! cargo run --release --example perturbation_directions -- --small # width 500
//! ```
//!
//! Data: Shifted Gauss (§7.1), N = 200 samples in d = 20; identity loss, T = 1 in 100 GD steps.
//! At this early time the initial gradient ∇f_0 (expected squared norm 1/2 at every input and
//! width) outweighs the learned part, so `net` and `lin`, which contain it, point away from `sum`
//! and `kernel`, which do not. The second table gives the mean squared norm of each direction and
//! of ∇f_0 (`init`).

use std::process::ExitCode;

use ntk_perturb::data::{DEFAULT_SHIFT, shifted_gauss};
use ntk_perturb::model::{Architecture, Init, Loss, NetworkConfig, Readout};
use ntk_perturb::perturbation::{Directions, Source, compare, summarize};
use ntk_perturb::{Error, Result};

/// Width: default and `--small`.
const WIDTHS: [usize; 2] = [2000, 500];
/// The four directions, in the order of the table.
const SOURCES: [Source; 4] = [Source::Net, Source::Lin, Source::Sum, Source::Kernel];
const N: usize = 200;
const D: usize = 20;
const LR: f64 = 0.01;
const TIME: f64 = 1.0;
const SEED: u64 = 3;

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

fn run() -> Result<()> {
    let width = WIDTHS[usize::from(small_flag()?)];
    let train = shifted_gauss(N, D, DEFAULT_SHIFT, 0)?;
    let config = NetworkConfig {
        width,
        arch: Architecture::default(),
        readout: Readout::Gaussian,
        init: Init::Standard,
    };
    let dirs = Directions::compute(&train, &config, SEED, Loss::Identity, LR, TIME)?;
    // Pairs are named "a-b"; look a pair up in either order.
    let summary = summarize(&compare(&dirs));
    let mean_cosine = |a: Source, b: Source| -> Option<f64> {
        if a == b {
            return Some(1.0);
        }
        let (ab, ba) = (
            format!("{}-{}", a.name(), b.name()),
            format!("{}-{}", b.name(), a.name()),
        );
        summary
            .iter()
            .find(|s| s.pair == ab || s.pair == ba)
            .and_then(|s| s.mean_cosine)
    };

    println!("Shifted Gauss, N = {N}, d = {D}, width {width}, identity loss, T = {TIME}");
    println!("mean cosine over the {N} training points:");
    print!("{:>8}", "");
    for b in SOURCES {
        print!("  {:>8}", b.name());
    }
    println!();
    for a in SOURCES {
        print!("{:>8}", a.name());
        for b in SOURCES {
            match mean_cosine(a, b) {
                Some(c) => print!("  {c:>8.4}"),
                None => print!("  {:>8}", "-"),
            }
        }
        println!();
    }
    println!("{:>8}  {:>12}", "vector", "mean_sq_norm");
    let named = SOURCES.map(|s| (s.name(), dirs.get(s)));
    for (name, v) in named.into_iter().chain([("init", &dirs.init)]) {
        let sq: f64 = v
            .col_iter()
            .map(|c| c.iter().map(|e| e * e).sum::<f64>())
            .sum();
        println!("{name:>8}  {:>12.4}", sq / v.nrows() as f64);
    }
    Ok(())
}
