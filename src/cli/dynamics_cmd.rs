//! `ntk-perturb dynamics`: the linearised gradient flow of §3.3 / §13.2 on a dataset, at a list of
//! times, with train and test predictions f_t = f_0 + K(·, X) α(t).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use super::args::choice;
use super::output::say;
use super::{CommonArgs, DataArgs, NetworkArgs, Outputs};
use ntk_perturb::dynamics::{self, FlowSpec, InitialOutputs, OdeOptions};
use ntk_perturb::error::Result;
use ntk_perturb::kernel::{KernelKind, KernelWhat};
use ntk_perturb::model::{Loss, accuracy};

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
    #[arg(long, value_parser = choice::<Loss>(), default_value = "identity")]
    pub loss: Loss,
    /// Times: a comma-separated list of numbers (`inf` for mse only) and `logspace:A:B:K` items,
    /// non-decreasing.
    #[arg(long, default_value = "0,1,10,100,1000", allow_hyphen_values = true)]
    pub times: String,
    /// Infinite-width closed-form kernel, or the empirical kernel of the sampled network.
    #[arg(long, value_parser = choice::<KernelKind>(), default_value = "infinite")]
    pub kernel: KernelKind,
    /// Which kernel drives the flow (the NTK Θ unless studying Φ or Σ on their own).
    #[arg(long, value_parser = choice::<KernelWhat>(), default_value = "ntk")]
    pub what: KernelWhat,
    /// Width m of the sampled network (empirical kernel, and f_0 with --f0 network).
    #[arg(long, default_value_t = 1000)]
    pub width: usize,
    /// Network architecture.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Initial outputs f_0: the sampled network's, or zero.
    #[arg(long, value_parser = choice::<InitialOutputs>(), default_value = "network")]
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
    /// mse: eigenvalues of K at or below τ·λ_max (τ = 10·N·ε), left out by the flow and by the
    /// pseudo-inverse at t = ∞ (§8.4); empty for the other losses.
    zero_eigenvalues: Option<usize>,
}

#[derive(Serialize)]
struct SpectrumRow {
    index: usize,
    eigenvalue: f64,
}

/// Runs `dynamics`: parse, one library call ([`dynamics::flow_of_dataset`]), write.
pub fn run(args: DynamicsArgs) -> Result<()> {
    let threads = super::init_threads(args.common.threads)?;
    let spec = FlowSpec {
        loss: args.loss,
        times: dynamics::parse_times(&args.times)?,
        kernel: args.kernel,
        what: args.what,
        network: args.network.config(args.width),
        seed: args.common.seed,
        f0: args.f0,
        ode: OdeOptions {
            rtol: args.rtol,
            atol: args.atol,
            max_steps: args.max_steps,
        },
    };
    spec.validate()?;
    let out = Outputs::prepare(&args.out, args.force)?;
    let (train, test) = args.data.load(&out)?;
    let start = Instant::now();
    let run = dynamics::flow_of_dataset(&train, test.as_ref(), &spec)?;
    let elapsed = start.elapsed().as_secs_f64();
    if run.singular() {
        eprintln!(
            "warning: the train Gram matrix is numerically singular ({} of {} eigenvalues treated \
             as zero); the mse flow does not move in those directions and t = inf uses the \
             pseudo-inverse",
            run.zero_eigenvalues,
            train.n()
        );
    }

    let mut predictions = Vec::new();
    let mut coefficients = Vec::new();
    let mut summary = Vec::new();
    for (j, &t) in run.times.iter().enumerate() {
        let f_train = run.train_outputs_at(j);
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
                alpha: run.coefficients[(i, j)],
            });
        }
        let mut test_accuracy = None;
        if let (Some(ts), Some(f_test)) = (&test, run.test_outputs_at(j)) {
            for (i, (&f, &y)) in f_test.iter().zip(&ts.y).enumerate() {
                predictions.push(PredictionRow {
                    set: "test",
                    index: i,
                    t,
                    f,
                    y,
                });
            }
            test_accuracy = Some(accuracy(&f_test, &ts.y));
        }
        summary.push(SummaryRow {
            t,
            loss: args.loss.mean(&f_train, &train.y),
            train_accuracy: accuracy(&f_train, &train.y),
            test_accuracy,
            zero_eigenvalues: run.eigenvalues.as_ref().map(|_| run.zero_eigenvalues),
        });
    }
    ntk_perturb::io::write_rows(&out.file("predictions.csv"), &predictions)?;
    ntk_perturb::io::write_rows(&out.file("coefficients.csv"), &coefficients)?;
    ntk_perturb::io::write_rows(&out.file("summary.csv"), &summary)?;
    if let Some(values) = &run.eigenvalues {
        let rows: Vec<SpectrumRow> = values
            .iter()
            .enumerate()
            .map(|(index, &eigenvalue)| SpectrumRow { index, eigenvalue })
            .collect();
        ntk_perturb::io::write_rows(&out.file("spectrum.csv"), &rows)?;
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
                run.times.len(),
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
