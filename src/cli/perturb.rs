//! `ntk-perturb perturb`: adversarial perturbations of the training set along one of the four
//! directions of §13.3, and the pairwise comparison of all of them (§5.1, §5.3).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use faer::Mat;
use serde::Serialize;

use super::args::choice;
use super::output::{progress_bar, say};
use super::{CommonArgs, DataArgs, NetworkArgs, Outputs};
use ntk_perturb::error::{Error, Result};
use ntk_perturb::model::Loss;
use ntk_perturb::perturbation::{self, Budget, Norm, PerturbSpec, Source, TargetKind};

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
    #[arg(long, value_parser = choice::<Loss>(), default_value = "identity")]
    pub loss: Loss,
    /// Perturbation size ε.
    #[arg(
        long,
        value_name = "EPS",
        required_unless_present = "eps_per_coordinate",
        conflicts_with = "eps_per_coordinate"
    )]
    pub eps: Option<f64>,
    /// Perturbation size per coordinate c: ε = c·√d with `--norm l2` (the L2 size of a change of c
    /// in every coordinate), ε = c with `--norm linf` (§5.1).
    #[arg(long, value_name = "C")]
    pub eps_per_coordinate: Option<f64>,
    /// Adversarial target labels.
    #[arg(long, value_parser = choice::<TargetKind>(), default_value = "random")]
    pub targets: TargetKind,
    /// Norm of the budget.
    #[arg(long, value_parser = choice::<Norm>(), default_value = "l2")]
    pub norm: Norm,
    /// Direction the perturbation follows (§13.3).
    #[arg(long, value_parser = choice::<Source>(), default_value = "net")]
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

/// Runs `perturb`: parse, one library call ([`perturbation::perturb_dataset`]), write.
pub fn run(args: PerturbArgs) -> Result<()> {
    let threads = super::init_threads(args.common.threads)?;
    let spec = PerturbSpec {
        network: args.network.config(args.width),
        seed: args.common.seed,
        loss: args.loss,
        lr: args.lr,
        time: args.time,
        budget: match (args.eps, args.eps_per_coordinate) {
            (Some(eps), _) => Budget::Eps(eps),
            (None, Some(c)) => Budget::PerCoordinate(c),
            (None, None) => Budget::Eps(0.0),
        },
        norm: args.norm,
        steps: args.steps,
        step_size: args.step_size,
        targets: args.targets,
        source: args.source,
    };
    spec.validate()?;
    if args.data.test.is_some() {
        return Err(Error::invalid(
            "--test",
            "perturb works on the training set only",
        ));
    }
    let out = Outputs::prepare(&args.out, args.force)?;
    let (train, _) = args.data.load(&out)?;
    let start = Instant::now();
    let bar = progress_bar(
        perturbation::directions::steps_for(spec.time, spec.lr)? as u64,
        "train",
        args.common.quiet,
    );
    let run = perturbation::perturb_dataset(&train, &spec, |s| bar.set_position(s as u64))?;
    bar.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    let (time, train_steps, attack, summary) =
        (run.time, run.train_steps, run.attack, &run.summary);
    let pert = &run.perturbations;

    write_perturbations(&out.file("perturbations.csv.gz"), &run.targets, &pert.eta)?;
    ntk_perturb::io::write_rows(&out.file("directions.csv"), &run.rows)?;
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
    for s in summary {
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
    let index: Vec<f64> = (0..targets.len()).map(|i| i as f64).collect();
    ntk_perturb::io::write_matrix_table(
        path,
        &[("index", &index), ("target", targets)],
        "eta_",
        eta.as_ref(),
    )
}
