//! `ntk-perturb perturb`: adversarial perturbations of the training set along one of the four
//! directions of §13.3, and the pairwise comparison of all of them (§5.1, §5.3).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use faer::{Mat, MatRef};
use serde::Serialize;

use super::output::{progress_bar, say};
use super::{CommonArgs, DataArgs, NetworkArgs, Outputs};
use crate::dynamics::{Loss, OdeOptions};
use crate::error::{Error, Result};
use crate::kernel;
use crate::perturbation::directions::{self, Linearization, Source, steps_for};
use crate::perturbation::{
    AttackOptions, Norm, TargetKind, draw_targets, eps_from_per_coordinate, projected,
};

/// Arguments of `perturb`.
#[derive(Debug, Clone, Args, Serialize)]
// It works on the training set only: the test-set flags of the shared data group are not offered.
#[command(mut_arg("test", |a| a.hide(true)), mut_arg("test_subset", |a| a.hide(true)))]
#[command(
    after_help = "Example:\n  ntk-perturb data shifted-gauss --n 1000 --d 100 --seed 0 --out train.csv\n  ntk-perturb perturb --train train.csv --width 1000 --time 100 --lr 1 --loss identity \\\n      --eps-per-coordinate 0.01 --targets random --norm l2 --source net --out pert\n\nWrites perturbations.csv.gz (index,target,eta_0..eta_{d-1}), directions.csv\n(index,pair,cosine,relative_residual for every pair of net, lin, kernel, sum, init; the\nresidual is ‖a − b‖/‖b‖ for pair a-b, empty when undefined) and config.toml, and prints the\nmean and minimum cosine of every pair."
)]
pub struct PerturbArgs {
    /// Input data (training set only).
    #[command(flatten)]
    pub data: DataArgs,
    /// Width m of the network.
    #[arg(long, default_value_t = 1000)]
    pub width: usize,
    /// Training (flow) time T; the network takes T/lr plain gradient steps.
    #[arg(long, value_name = "T")]
    pub time: f64,
    /// Learning rate η of the training run (T/η must be a whole number).
    #[arg(long, value_name = "ETA", default_value_t = 1.0)]
    pub lr: f64,
    /// Training loss (and the loss of the linearised flows giving α).
    #[arg(long, value_enum, default_value = "identity")]
    pub loss: Loss,
    /// Perturbation size ε.
    #[arg(
        long,
        value_name = "EPS",
        required_unless_present = "eps_per_coordinate",
        conflicts_with = "eps_per_coordinate"
    )]
    pub eps: Option<f64>,
    /// Perturbation size per coordinate c: ε = c·√d (§5.1).
    #[arg(long, value_name = "C")]
    pub eps_per_coordinate: Option<f64>,
    /// Adversarial target labels.
    #[arg(long, value_enum, default_value = "random")]
    pub targets: TargetKind,
    /// Norm of the budget.
    #[arg(long, value_enum, default_value = "l2")]
    pub norm: Norm,
    /// Direction the perturbation follows (§13.3).
    #[arg(long, value_enum, default_value = "net")]
    pub source: Source,
    /// Projected attack steps (1 = the paper's single step).
    #[arg(long, default_value_t = 1)]
    pub steps: usize,
    /// Step size of the projected attack [default: ε/4 with several steps, ε with one].
    #[arg(long, value_name = "S")]
    pub step_size: Option<f64>,
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

/// Runs `perturb`.
pub fn run(args: PerturbArgs) -> Result<()> {
    let threads = super::init_threads(args.common.threads)?;
    let config = args.network.config(args.width);
    config.validate()?;
    let train_steps = steps_for(args.time, args.lr)?;
    let mut attack = AttackOptions {
        eps: args.eps.or(args.eps_per_coordinate).unwrap_or(0.0),
        norm: args.norm,
        steps: args.steps,
        step_size: args.step_size,
    };
    attack.validate().map_err(|e| match (e, args.eps) {
        (Error::InvalidArgument { message, .. }, None) if message.starts_with('ε') => {
            Error::invalid("--eps-per-coordinate", message)
        }
        (e, _) => e,
    })?;
    if args.data.test.is_some() {
        return Err(Error::invalid(
            "--test",
            "perturb works on the training set only",
        ));
    }
    let out = Outputs::prepare(&args.out, args.force)?;
    let (train, _) = args.data.load(&out)?;
    if let Some(c) = args.eps_per_coordinate {
        attack.eps = eps_from_per_coordinate(c, train.d());
    }
    let start = Instant::now();
    let lz = Linearization::new(
        &train,
        &config,
        args.common.seed,
        args.loss,
        OdeOptions::default(),
    )?;
    let bar = progress_bar(train_steps as u64, "train", args.common.quiet);
    let net = lz.train(lz.initial().clone(), args.lr, train_steps, |s| {
        bar.set_position(s as u64)
    })?;
    bar.finish_and_clear();
    let time = args.lr * train_steps as f64;
    let coeffs = lz
        .coefficients(&[time])?
        .pop()
        .ok_or_else(|| Error::numerical("perturb", "the flow returned no coefficients"))?;
    let dirs = lz.directions(&net, &coeffs)?;
    let rows = directions::compare(&dirs);
    let summary = directions::summarize(&rows);

    let targets = draw_targets(&train.y, args.targets, args.common.seed);
    let x = train.x.as_ref();
    let arch = config.arch;
    let gradient_at = |z: MatRef<'_, f64>| -> Result<Mat<f64>> {
        match args.source {
            Source::Net => net.input_gradients(z),
            Source::Lin => directions::lazy_gradient(lz.initial(), x, &coeffs.finite, z),
            Source::Sum => kernel::weighted_sum_direction(z, x, &coeffs.infinite, &arch),
            Source::Kernel => kernel::kernel_gradient_direction(z, x, &coeffs.infinite, &arch),
        }
    };
    let pert = projected(x, &targets, &attack, gradient_at)?;
    let elapsed = start.elapsed().as_secs_f64();

    write_perturbations(&out.file("perturbations.csv.gz"), &targets, &pert.eta)?;
    crate::io::write_rows(&out.file("directions.csv"), &rows)?;
    out.write_config("perturb", threads, &args)?;

    let quiet = args.common.quiet;
    let undefined: usize = summary.iter().map(|s| s.undefined).sum();
    say(
        quiet,
        format!(
            "perturb: m = {}, T = {time} ({train_steps} steps), {} loss, source {}, ε = {} ({:?}, {} step{}) on N = {} in {elapsed:.2} s -> {}",
            args.width,
            args.loss.name(),
            args.source.name(),
            attack.eps,
            args.norm,
            attack.steps,
            if attack.steps == 1 { "" } else { "s" },
            train.n(),
            out.path().display()
        ),
    );
    say(
        quiet,
        format!(
            "{:<12} {:>12} {:>12} {:>22}",
            "pair", "mean_cosine", "min_cosine", "mean_relative_residual"
        ),
    );
    let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.6}"));
    for s in &summary {
        say(
            quiet,
            format!(
                "{:<12} {:>12} {:>12} {:>22}",
                s.pair,
                cell(s.mean_cosine),
                cell(s.min_cosine),
                cell(s.mean_relative_residual)
            ),
        );
    }
    if undefined > 0 {
        eprintln!(
            "warning: {undefined} cosines are undefined (a zero direction vector) and left empty in directions.csv"
        );
    }
    if !pert.zero_gradient.is_empty() {
        eprintln!(
            "warning: {} of {} inputs have a zero {} direction; their perturbation is 0",
            pert.zero_gradient.len(),
            train.n(),
            args.source.name()
        );
    }
    out.commit();
    Ok(())
}

/// perturbations.csv.gz: index, target, eta_0..eta_{d−1}.
fn write_perturbations(path: &Path, targets: &[f64], eta: &Mat<f64>) -> Result<()> {
    crate::io::write_atomic(path, |w| {
        let io = |e| Error::io(path, e);
        let mut line = String::from("index,target");
        for j in 0..eta.ncols() {
            line.push_str(&format!(",eta_{j}"));
        }
        line.push('\n');
        w.write_all(line.as_bytes()).map_err(io)?;
        for (i, &t) in targets.iter().enumerate() {
            line.clear();
            line.push_str(&i.to_string());
            line.push(',');
            crate::io::push_f64(&mut line, t);
            for j in 0..eta.ncols() {
                line.push(',');
                crate::io::push_f64(&mut line, eta[(i, j)]);
            }
            line.push('\n');
            w.write_all(line.as_bytes()).map_err(io)?;
        }
        Ok(())
    })
}
