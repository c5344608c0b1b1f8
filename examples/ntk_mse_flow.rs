//! The infinite-width NTK and the mse gradient flow it implies (§4.4, §13.2), on shipped MNIST 1 vs 2.
//!
//! Builds the Gram matrices k_train_train = Θ(X, X) and k_test_train = Θ(Z, X) of the closed-form
//! kernel, then one [`LinearizedFlow`] for the loss ½(f − y)² from f_0 ≡ 0. The flow
//! eigendecomposes Θ(X, X) once (§8.3) and is then queried at several times, t = ∞ included, where
//! it interpolates the training labels whenever Θ(X, X) is nonsingular (§8.4). Preprocessing is the
//! paper's (§7.1): pixels/255 minus the scalar training mean.
//!
//! ```sh
//! cargo run --release --example ntk_mse_flow            # N = 1000 train, 500 test
//! cargo run --release --example ntk_mse_flow -- --small # N = 200 train, 100 test
//! ```
//!
//! Output: one row per time t with the mean training loss and the training and test accuracies
//! (an output of exactly 0, as every output at t = 0, counts as wrong).

use std::path::Path;
use std::process::ExitCode;

use ntk_perturb::data::{self, Center, Preprocess};
use ntk_perturb::dynamics::{LinearizedFlow, OdeOptions};
use ntk_perturb::kernel::{KernelWhat, infinite_test_train, infinite_train_train};
use ntk_perturb::model::{Architecture, Loss, accuracy};
use ntk_perturb::{Error, Result};

/// Training and test subset sizes: (default, `--small`).
const SIZES: [(usize, usize); 2] = [(1000, 500), (200, 100)];

/// Flow times at which the one flow is queried.
const TIMES: [f64; 8] = [0.0, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, f64::INFINITY];

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
    let (n, n_test) = SIZES[usize::from(small_flag()?)];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let pre = Preprocess {
        scale: Some(255.0),
        center: Some(Center::Scalar),
        subset: Some(n),
        test_subset: Some(n_test),
        seed: 0,
    };
    let (train, test) = data::load(
        &dir.join("mnist_1v2_train.csv.gz"),
        Some(&dir.join("mnist_1v2_test.csv.gz")),
        &pre,
    )?;
    let test = test.ok_or_else(|| Error::Mismatch("the test set was not loaded".into()))?;

    // The paper's architecture: ReLU (γ = 0), trained biases, fixed readout.
    let arch = Architecture::default();
    let (x, z) = (train.x.as_ref(), test.x.as_ref());
    let k_train_train = infinite_train_train(x, &arch, KernelWhat::Ntk)?;
    let k_test_train = infinite_test_train(z, x, &arch, KernelWhat::Ntk)?;

    // Infinite-width theory starts from f_0 ≡ 0; `new` eigendecomposes Θ(X, X) once.
    let f0_train = vec![0.0; train.n()];
    let f0_test = vec![0.0; test.n()];
    let flow = LinearizedFlow::new(
        k_train_train.as_ref(),
        &train.y,
        &f0_train,
        Loss::Mse,
        OdeOptions::default(),
    )?;
    let solution = flow.solve(&TIMES)?;
    // f_t(Z) = f_0(Z) + Θ(Z, X) α(t) for every time at once: one GEMM.
    let test_out = LinearizedFlow::predict_many(
        k_test_train.as_ref(),
        &f0_test,
        solution.coefficients.as_ref(),
    );

    println!(
        "MNIST 1 vs 2, N = {} train / {} test, d = {}; dropped eigenvalues of Θ(X, X): {}",
        train.n(),
        test.n(),
        train.d(),
        solution.dropped
    );
    println!(
        "{:>8}  {:>12}  {:>9}  {:>9}",
        "t", "train_loss", "train_acc", "test_acc"
    );
    for (j, &t) in TIMES.iter().enumerate() {
        let f_train: Vec<f64> = solution.train_outputs.col(j).iter().copied().collect();
        let f_test: Vec<f64> = test_out.col(j).iter().copied().collect();
        println!(
            "{t:>8}  {:>12.4e}  {:>9.4}  {:>9.4}",
            Loss::Mse.mean(&f_train, &train.y),
            accuracy(&f_train, &train.y),
            accuracy(&f_test, &test.y)
        );
    }
    Ok(())
}
