//! `ntk-perturb train`: full-batch gradient descent of the finite-width network (§2.1, §3.2).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use faer::Col;
use serde::Serialize;

use super::args::choice;
use super::output::{progress_bar, say};
use super::{CommonArgs, DataArgs, NetworkArgs, Outputs};
use ntk_perturb::error::Result;
use ntk_perturb::model::Loss;
use ntk_perturb::network::{Network, TrainOptions};

/// Arguments of `train`.
#[derive(Debug, Clone, Args, Serialize)]
#[command(
    after_help = "Example:\n  ntk-perturb data shifted-gauss --n 1000 --d 100 --seed 0 --out train.csv\n  ntk-perturb data shifted-gauss --n 1000 --d 100 --seed 1 --out test.csv\n  ntk-perturb train --train train.csv --test test.csv --width 100 --lr 1 --steps 1000 \\\n      --loss identity --momentum 0.9 --record-every 10 --out run\n\nWrites trajectory.csv (step,lr_time,flow_time,loss,train_accuracy,test_accuracy,\nweight_change,pattern_flip_fraction,lin_gap_max,lin_gap_rms; lr_time = lr·step, flow_time the\nmatched gradient-flow time, lr·step without momentum and lr/(1−μ)·(step − μ(1−μ^step)/(1−μ))\nwith momentum μ; the lin_gap columns are the max and RMS over test inputs, or training inputs\nwithout --test, of f − f^lin, the gap to the linearised model at the same initial parameters at\nflow_time, empty with --no-lin-gap), predictions.csv (split,index,label,output), the final\nparameters w.npy (m×d), b.npy (m×1), a.npy (m×1), and config.toml."
)]
pub struct TrainArgs {
    /// Input data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Width m of the network.
    #[arg(long, default_value_t = 100)]
    pub width: usize,
    /// Learning rate η (flow time after s plain GD steps: t = η·s; with momentum see flow_time).
    #[arg(long, allow_negative_numbers = true, value_name = "ETA")]
    pub lr: f64,
    /// Number of full-batch gradient steps.
    #[arg(long, value_name = "S")]
    pub steps: usize,
    /// Per-sample loss: ℓ(−y f) with ℓ(s) = s, log(1+eˢ) or eˢ, or ½(f − y)² (§13.1).
    #[arg(long, value_parser = choice::<Loss>(), default_value = "identity")]
    pub loss: Loss,
    /// Momentum μ ∈ [0, 1) of PyTorch's SGD (v ← μv + g, θ ← θ − ηv); the authors use 0.9.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.0)]
    pub momentum: f64,
    /// Record the trajectory every K steps (the last step is always recorded).
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub record_every: usize,
    /// Skip the linearisation gap (lin_gap_max / lin_gap_rms stay empty): for very large N, where
    /// the N×N empirical kernel it needs would not fit in memory.
    #[arg(long)]
    pub no_lin_gap: bool,
    /// Network architecture.
    #[command(flatten)]
    pub network: NetworkArgs,
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

/// One line of predictions.csv: the trained network's output on one input.
#[derive(Serialize)]
struct Prediction {
    split: &'static str,
    index: usize,
    label: f64,
    output: f64,
}

/// Runs `train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let threads = super::init_threads(args.common.threads)?;
    let config = args.network.config(args.width);
    config.validate()?;
    let opts = TrainOptions {
        lr: args.lr,
        steps: args.steps,
        momentum: args.momentum,
        loss: args.loss,
        record_every: args.record_every,
    };
    opts.validate()?;
    let out = Outputs::prepare(&args.out, args.force)?;
    let (train, test) = args.data.load(&out)?;
    let mut net = Network::new(train.d(), config, args.common.seed)?;

    let bar = progress_bar(args.steps as u64, "train", args.common.quiet);
    let start = Instant::now();
    let test_view = test.as_ref().map(|t| (t.x.as_ref(), t.y.as_slice()));
    let progress = |s: usize| bar.set_position(s as u64);
    let trajectory = if args.no_lin_gap {
        net.train(train.x.as_ref(), &train.y, test_view, &opts, progress)?
    } else {
        net.train_with_lin_gap(train.x.as_ref(), &train.y, test_view, &opts, progress)?
    };
    bar.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();

    ntk_perturb::io::write_rows(&out.file("trajectory.csv"), &trajectory)?;
    let mut predictions = Vec::new();
    let mut splits = vec![("train", &train)];
    if let Some(t) = &test {
        splits.push(("test", t));
    }
    for (split, ds) in splits {
        let f = net.forward(ds.x.as_ref())?;
        predictions.extend(
            f.iter()
                .zip(&ds.y)
                .enumerate()
                .map(|(index, (&output, &label))| Prediction {
                    split,
                    index,
                    label,
                    output,
                }),
        );
    }
    ntk_perturb::io::write_rows(&out.file("predictions.csv"), &predictions)?;
    let p = &net.params;
    ntk_perturb::io::write_npy(&out.file("w.npy"), p.w.as_ref())?;
    ntk_perturb::io::write_npy(&out.file("b.npy"), column(&p.b).as_ref())?;
    ntk_perturb::io::write_npy(&out.file("a.npy"), column(&p.a).as_ref())?;
    out.write_config("train", threads, &args)?;

    if let Some(last) = trajectory.last() {
        let test_text = last
            .test_accuracy
            .map_or(String::new(), |a| format!(", test accuracy {a:.4}"));
        let gap_text = last
            .lin_gap_max
            .map_or(String::new(), |g| format!(", lin gap max {g:.3e}"));
        say(
            args.common.quiet,
            format!(
                "train: {} steps (flow time {}, lr·steps {}) in {elapsed:.2} s: loss {:.6e}, train accuracy {:.4}{test_text}, weight change {:.3e}{gap_text} -> {}",
                last.step,
                last.flow_time,
                last.lr_time,
                last.loss,
                last.train_accuracy,
                last.weight_change,
                out.path().display()
            ),
        );
    }
    out.commit();
    Ok(())
}

/// An owned m×1 copy of a column, for .npy output.
fn column(c: &Col<f64>) -> faer::Mat<f64> {
    c.as_mat().to_owned()
}
