//! The `ntk-perturb` command line: argument groups shared by every subcommand, thread set-up,
//! progress bars and the dispatcher. Each subcommand lives in its own file and is a thin layer over
//! the library API.

mod args;
mod bench_cmd;
mod crosscheck;
mod data_cmd;
mod dynamics_cmd;
mod experiment;
mod gram;
mod merge;
mod output;
mod parallel;
mod perturb;
mod reproduce;
mod reproduce_plan;
mod train;

use clap::{Parser, Subcommand};

pub use args::{CommonArgs, DataArgs, NetworkArgs};
pub use output::Outputs;

use ntk_perturb::error::{Error, Result};

/// Exact NTK theory and finite-width simulation of learning from adversarial perturbations.
#[derive(Debug, Parser)]
#[command(name = "ntk-perturb", version, about, long_about = None)]
#[command(
    after_help = "Run `ntk-perturb <COMMAND> --help` for each command's flags and an example."
)]
pub struct Cli {
    /// The stage to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands, one per pipeline stage.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a synthetic dataset (Gauss or shifted Gauss, §7.1) as CSV.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// NTK Gram matrices, infinite-width closed form or empirical (§4), as .npy or CSV.
    Gram(gram::GramArgs),
    /// Linearised gradient flow (§3.3, §13.2): coefficients α(t) and train/test predictions.
    Dynamics(dynamics_cmd::DynamicsArgs),
    /// Time every heavy stage against its roofline operation measured in the same run.
    Bench(bench_cmd::BenchArgs),
    /// Train the finite-width network by full-batch gradient descent (§3.2) and record its trajectory.
    Train(train::TrainArgs),
    /// Perturbation learning end to end (§1, §7): train f, perturb, train g, measure; sweeps from TOML.
    Experiment(experiment::ExperimentArgs),
    /// Reproduce a figure of the paper (§7.3) from a preset: sweeps, summary and plots.
    Reproduce(reproduce::ReproduceArgs),
    /// Combine the output directories of the shards (--shard k/n) of one experiment or reproduce run.
    Merge(merge::MergeArgs),
    /// Adversarial perturbations along the net, lin, sum or kernel direction (§5, §13.3).
    Perturb(perturb::PerturbArgs),
    /// Cosines and residual split of the network's perturbation over widths and times (§5.3).
    Parallel(parallel::ParallelArgs),
    /// Trained networks of growing width against the linearised and infinite-width theory.
    Crosscheck(crosscheck::CrosscheckArgs),
}

/// Parses the process arguments, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", user_message(&e, &long_flags()));
            e.exit_code()
        }
    }
}

/// Every long flag of every subcommand, without the dashes.
fn long_flags() -> std::collections::BTreeSet<String> {
    use clap::CommandFactory;
    let mut flags = std::collections::BTreeSet::new();
    let mut stack = vec![Cli::command()];
    while let Some(cmd) = stack.pop() {
        flags.extend(
            cmd.get_arguments()
                .filter_map(|a| a.get_long())
                .map(String::from),
        );
        stack.extend(cmd.get_subcommands().cloned());
    }
    flags
}

/// The flag of a library parameter (`record_every` → `--record-every`) when the command line has
/// one, otherwise the parameter in backquotes: the one place where parameter names become flags.
fn flag_of(parameter: &str, flags: &std::collections::BTreeSet<String>) -> String {
    let kebab = parameter.trim_start_matches('-').replace('_', "-");
    if flags.contains(&kebab) {
        format!("--{kebab}")
    } else {
        format!("`{parameter}`")
    }
}

/// An error as the command line says it: the parameter of an invalid value becomes its flag.
/// Messages keep the library's words (parameters quoted as `` `name` ``), and configuration-file
/// errors keep their keys.
fn user_message(e: &Error, flags: &std::collections::BTreeSet<String>) -> String {
    match e {
        Error::InvalidArgument { parameter, message } => {
            format!("invalid value for {}: {message}", flag_of(parameter, flags))
        }
        other => other.to_string(),
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Data(cmd) => data_cmd::run(cmd),
        Command::Gram(args) => gram::run(args),
        Command::Dynamics(args) => dynamics_cmd::run(args),
        Command::Bench(args) => bench_cmd::run(args),
        Command::Train(args) => train::run(args),
        Command::Experiment(args) => experiment::run(args),
        Command::Reproduce(args) => reproduce::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Perturb(args) => perturb::run(args),
        Command::Parallel(args) => parallel::run(args),
        Command::Crosscheck(args) => crosscheck::run(args),
    }
}

/// Sets the global rayon pool and faer's parallelism to `threads` (default: all cores).
/// Returns the thread count in force. Calling it twice keeps the first pool.
pub fn init_threads(threads: Option<usize>) -> Result<usize> {
    let n = match threads {
        Some(0) => return Err(Error::invalid("--threads", "must be at least 1")),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    // A second call (tests running several commands in one process) keeps the existing pool.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global();
    let actual = rayon::current_num_threads();
    faer::set_global_parallelism(if actual <= 1 {
        faer::Par::Seq
    } else {
        faer::Par::rayon(actual)
    });
    Ok(actual)
}
