//! `ntk-perturb bench`: every heavy stage against its roofline operation timed in the same run.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::output::say;
use super::{CommonArgs, Outputs};
use ntk_perturb::error::{Error, Result, human_bytes};
use ntk_perturb::study::bench::{self, BenchRow};

/// Arguments of `bench`.
#[derive(Debug, Clone, Args, Serialize)]
#[command(
    after_help = "Example:\n  ntk-perturb bench --quick --out bench-quick\n\nWrites bench.csv (stage, size, seconds, baseline, baseline_seconds, ratio, target, gflops,\npeak_rss_bytes, model_bytes) and prints the same table."
)]
pub struct BenchArgs {
    /// Smaller sizes that finish in well under two minutes (ratios remain meaningful).
    #[arg(long)]
    pub quick: bool,
    /// Timed repetitions per measurement (median reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace the contents of an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Threads, seed, quiet.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let threads = super::init_threads(args.common.threads)?;
    let out = Outputs::prepare(&args.out, args.force)?;
    let reps = args.reps.max(1);
    let mut rows: Vec<BenchRow> = Vec::new();
    let (gram_n, emp_n, emp_m, evd_n, gd_n, sweep_runs) = if args.quick {
        (3000, 1000, 4000, 2000, 4000, 11)
    } else {
        (8000, 2000, 10_000, 4000, 10_000, 55)
    };
    let mse_n = if args.quick { 1000 } else { 4000 };
    let quick = args.quick;
    let stages: Vec<Box<dyn Fn() -> Result<BenchRow>>> = vec![
        Box::new(move || bench::infinite_gram(gram_n, 784, reps)),
        Box::new(move || bench::empirical_gram(emp_n, emp_m, 784, reps)),
        Box::new(move || bench::eigendecomposition(evd_n, reps)),
        Box::new(move || bench::mse_predictions(evd_n, 1000, 100, reps)),
        Box::new(move || bench::gd_step(gd_n, 1000, 784, reps)),
        Box::new(move || bench::base_run(reps)),
        Box::new(move || bench::sweep_throughput(sweep_runs)),
        Box::new(move || bench::mse_dynamics_process(mse_n, reps)),
        Box::new(move || bench::sweep_cost(!quick)),
    ];
    for stage in stages {
        rows.push(report(&args, stage()?));
    }
    let exe =
        std::env::current_exe().map_err(|e| Error::io(std::path::Path::new("ntk-perturb"), e))?;
    for row in bench::gram_whole_process(&exe, gram_n, 784, threads, reps)? {
        rows.push(report(&args, row));
    }
    ntk_perturb::io::write_rows(&out.file("bench.csv"), &rows)?;
    out.write_config("bench", threads, &args)?;
    out.commit();
    Ok(())
}

fn report(args: &BenchArgs, row: BenchRow) -> BenchRow {
    say(
        args.common.quiet,
        format!(
            "{:<28} {:<22} {:>9.4} s  vs {:<40} {:>9.4} s  ratio {:>5.2} (target ≤ {:.2}) {}  {:>6.1} GFLOP/s  peak {}",
            row.stage,
            row.size,
            row.seconds,
            row.baseline,
            row.baseline_seconds,
            row.ratio,
            row.target,
            if row.ratio <= row.target {
                "ok  "
            } else {
                "SLOW"
            },
            row.gflops,
            human_bytes(row.peak_rss_bytes)
        ),
    );
    row
}
