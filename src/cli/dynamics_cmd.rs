//! `ntk-perturb dynamics`: the linearised gradient flow of §3.3 / §13.2 on a dataset, at a list of
//! times, with train and test predictions f_t = f_0 + K(·, X) α(t).

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use faer::{Mat, MatRef};
use serde::Serialize;

use super::output::say;
use super::{CommonArgs, DataArgs, NetworkArgs, Outputs};
use crate::dynamics::{self, LinearizedFlow, Loss, OdeOptions};
use crate::error::{Error, Result};
use crate::kernel::{self, KernelKind, KernelWhat};
use crate::network::Network;

/// Where the initial outputs f_0 come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum InitialOutputs {
    /// The sampled network of width --width (the authors' setting, §13.1).
    Network,
    /// f_0 ≡ 0 (what the antisymmetric initialisation gives exactly).
    Zero,
}

/// Arguments of `dynamics`.
#[derive(Debug, Clone, Args, Serialize)]
#[command(
    after_help = "Example:\n  ntk-perturb dynamics --train train.csv --test test.csv --loss mse \\\n      --times 0,1,10,100,inf --out dyn\n\nWrites predictions.csv (set,index,t,f,y), coefficients.csv (index,t,alpha),\nsummary.csv (t,loss,train_accuracy,test_accuracy), spectrum.csv (index,eigenvalue; mse only)\nand config.toml."
)]
pub struct DynamicsArgs {
    /// Input data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Training loss (empirical risk = mean over the samples).
    #[arg(long, value_enum, default_value = "identity")]
    pub loss: Loss,
    /// Times: a comma-separated list of numbers (`inf` for mse only) and `logspace:A:B:K` items,
    /// non-decreasing.
    #[arg(long, default_value = "0,1,10,100,1000", allow_hyphen_values = true)]
    pub times: String,
    /// Infinite-width closed-form kernel, or the empirical kernel of the sampled network.
    #[arg(long, value_enum, default_value = "infinite")]
    pub kernel: KernelKind,
    /// Which kernel drives the flow (the NTK Θ unless studying Φ or Σ on their own).
    #[arg(long, value_enum, default_value = "ntk")]
    pub what: KernelWhat,
    /// Width m of the sampled network (empirical kernel, and f_0 with --f0 network).
    #[arg(long, default_value_t = 1000)]
    pub width: usize,
    /// Network architecture.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Initial outputs f_0: the sampled network's, or zero.
    #[arg(long, value_enum, default_value = "network")]
    pub f0: InitialOutputs,
    /// Relative tolerance of the ODE integrator (logistic, exponential).
    #[arg(long, allow_negative_numbers = true, default_value_t = 1e-8)]
    pub rtol: f64,
    /// Absolute tolerance of the ODE integrator (logistic, exponential).
    #[arg(long, allow_negative_numbers = true, default_value_t = 1e-10)]
    pub atol: f64,
    /// Step limit of the ODE integrator.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_steps: usize,
    /// Output directory (must not exist or be empty, unless --force).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace the contents of an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Threads, seed, quiet.
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Serialize)]
struct PredictionRow {
    set: &'static str,
    index: usize,
    t: f64,
    f: f64,
    y: f64,
}

#[derive(Serialize)]
struct CoefficientRow {
    index: usize,
    t: f64,
    alpha: f64,
}

#[derive(Serialize)]
struct SummaryRow {
    t: f64,
    loss: f64,
    train_accuracy: f64,
    test_accuracy: Option<f64>,
}

#[derive(Serialize)]
struct SpectrumRow {
    index: usize,
    eigenvalue: f64,
}

/// Runs `dynamics`.
pub fn run(args: DynamicsArgs) -> Result<()> {
    let threads = super::init_threads(args.common.threads)?;
    let times = dynamics::parse_times(&args.times)?;
    let ode = OdeOptions {
        rtol: args.rtol,
        atol: args.atol,
        max_steps: args.max_steps,
    };
    if matches!(args.loss, Loss::Logistic | Loss::Exponential) {
        ode.validate()?;
    }
    if args.loss != Loss::Mse
        && let Some(t) = times.iter().find(|t| t.is_infinite())
    {
        return Err(Error::invalid(
            "--times",
            format!("t = {t} is only defined for --loss mse"),
        ));
    }
    let arch = args.network.architecture();
    arch.validate()?;
    let config = args.network.config(args.width);
    let need_params = args.kernel == KernelKind::Empirical || args.f0 == InitialOutputs::Network;
    if need_params {
        config.validate()?;
    }
    let out = Outputs::prepare(&args.out, args.force)?;
    let (train, test) = args.data.load(&out)?;
    // Refuse before the Gram matrices are built, not after.
    crate::memory::ensure_fits(
        "the training dynamics (Gram matrices and their solver)",
        dynamics::memory_bytes(train.n(), test.as_ref().map_or(0, |t| t.n()), args.loss),
    )?;
    let start = Instant::now();
    let net = if need_params {
        Some(Network::new(train.d(), config, args.common.seed)?)
    } else {
        None
    };
    let empirical = match (&args.kernel, &net) {
        (KernelKind::Empirical, Some(net)) => Some(&net.params),
        _ => None,
    };
    let (k_train, k_test) = kernel::train_and_test_grams(
        train.x.as_ref(),
        test.as_ref().map(|t| t.x.as_ref()),
        empirical,
        &arch,
        args.what,
    )?;
    let f0_of = |x: MatRef<'_, f64>| match &net {
        Some(net) if args.f0 == InitialOutputs::Network => net.forward(x),
        _ => Ok(vec![0.0; x.nrows()]),
    };
    let f0_train = f0_of(train.x.as_ref())?;
    let flow = LinearizedFlow::new(k_train.as_ref(), &train.y, &f0_train, args.loss, ode)?;
    let sol = flow.solve(&times)?;
    let test_pred = match (&test, &k_test) {
        (Some(t), Some(kt)) => {
            let f0_test = f0_of(t.x.as_ref())?;
            Some(LinearizedFlow::predict_many(
                kt.as_ref(),
                &f0_test,
                sol.coefficients.as_ref(),
            ))
        }
        _ => None,
    };
    let elapsed = start.elapsed().as_secs_f64();
    if sol.singular {
        eprintln!(
            "warning: the train Gram matrix is numerically singular ({} of {} eigenvalues treated \
             as zero); the mse flow does not move in those directions and t = inf uses the \
             pseudo-inverse",
            sol.dropped,
            train.n()
        );
    }

    let column =
        |m: &Mat<f64>, j: usize| -> Vec<f64> { (0..m.nrows()).map(|i| m[(i, j)]).collect() };
    let mut predictions = Vec::new();
    let mut coefficients = Vec::new();
    let mut summary = Vec::new();
    for (j, &t) in times.iter().enumerate() {
        let f_train = column(&sol.train_outputs, j);
        for (i, (&f, &y)) in f_train.iter().zip(&train.y).enumerate() {
            predictions.push(PredictionRow {
                set: "train",
                index: i,
                t,
                f,
                y,
            });
            coefficients.push(CoefficientRow {
                index: i,
                t,
                alpha: sol.coefficients[(i, j)],
            });
        }
        let mut test_accuracy = None;
        if let (Some(ts), Some(p)) = (&test, &test_pred) {
            let f_test = column(p, j);
            for (i, (&f, &y)) in f_test.iter().zip(&ts.y).enumerate() {
                predictions.push(PredictionRow {
                    set: "test",
                    index: i,
                    t,
                    f,
                    y,
                });
            }
            test_accuracy = Some(dynamics::accuracy(&f_test, &ts.y));
        }
        summary.push(SummaryRow {
            t,
            loss: args.loss.mean(&f_train, &train.y),
            train_accuracy: dynamics::accuracy(&f_train, &train.y),
            test_accuracy,
        });
    }
    crate::io::write_rows(&out.file("predictions.csv"), &predictions)?;
    crate::io::write_rows(&out.file("coefficients.csv"), &coefficients)?;
    crate::io::write_rows(&out.file("summary.csv"), &summary)?;
    if let Some(s) = flow.spectrum() {
        let rows: Vec<SpectrumRow> = s
            .eigenvalues
            .iter()
            .enumerate()
            .map(|(index, &eigenvalue)| SpectrumRow { index, eigenvalue })
            .collect();
        crate::io::write_rows(&out.file("spectrum.csv"), &rows)?;
    }
    out.write_config("dynamics", threads, &args)?;
    if let Some(last) = summary.last() {
        say(
            args.common.quiet,
            format!(
                "dynamics: {} loss on N = {} inputs, {} times in {elapsed:.2} s; at t = {}: loss {:.6e}, \
             train accuracy {:.4} -> {}",
                args.loss.name(),
                train.n(),
                times.len(),
                last.t,
                last.loss,
                last.train_accuracy,
                out.path().display()
            ),
        );
    }
    out.commit();
    Ok(())
}
