//! `ntk-perturb parallel`: the §5.3 claim — the network's perturbation is parallel to a weighted
//! sum of training samples — as a table over widths, training times and seeds (§13.3).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use super::args::choice;
use super::output::{progress_bar, say};
use super::{CommonArgs, DataArgs, NetworkArgs, Outputs};
use ntk_perturb::dynamics::{self, OdeOptions};
use ntk_perturb::error::{Error, Result};
use ntk_perturb::model::Loss;
use ntk_perturb::study::parallel::{self, Grid};

/// Arguments of `parallel`.
#[derive(Debug, Clone, Args, Serialize)]
// It works on the training set only: the test-set flags of the shared data group are not offered.
#[command(mut_arg("test", |a| a.hide(true)), mut_arg("test_subset", |a| a.hide(true)))]
#[command(
    after_help = "Example:\n  ntk-perturb data shifted-gauss --n 1000 --d 100 --seed 0 --out train.csv\n  ntk-perturb parallel --train train.csv --widths 100,1000,10000 --times 1,10,100,1000 \\\n      --seeds 3 --lr 1 --loss identity --out par\n\nWrites parallel.csv (width,time,seed,quantity,value), parallel_summary.csv\n(width,time,quantity,mean,std,seeds; over seeds), cos_net_sum.svg/.png (one curve per width),\ndistances_T<T>.svg/.png (the distances below against the width, one figure per time T > 0),\nparallel_fit.csv (time,quantity,from_width,to_width,widths,slope,slope_ci_low,slope_ci_high,\nseeds,intercept: log-log least squares of the mean over seeds against the width, with the 95%\nt-interval of the per-seed slopes) and config.toml, and prints the summary and the fits.\nQuantities (means over the training inputs): cos_net_sum, cos_net_lin, cos_net_kernel,\ncos_net_init, cos_lin_sum, cos_kernel_sum, cos_net_minus_init_kernel, cos_net_minus_init_sum,\nrel_init = ‖∇f_0‖/‖sum‖, rel_finite_width = ‖lin − ∇f_0 − sum‖/‖sum‖,\nrel_pattern_flip = ‖net − lin‖/‖sum‖, rel_net_kernel = ‖net − ∇f_0 − kernel‖/‖sum‖,\nrel_kernel_term = ‖kernel − sum‖/‖sum‖, rel_total = ‖net − sum‖/‖sum‖, pattern_flip_fraction;\npooled over the training inputs (Frobenius norms of the N×d matrices):\ndist_net_lin = ‖net − lin‖_F/‖sum‖_F, dist_net_kernel = ‖net − ∇f_0 − kernel‖_F/‖sum‖_F,\ndist_net_sum = ‖net − ∇f_0 − sum‖_F/‖sum‖_F, dist_kernel_sum = ‖kernel − sum‖_F/‖sum‖_F.\nFitted: dist_net_lin, dist_net_kernel, dist_net_sum, rel_finite_width."
)]
pub struct ParallelArgs {
    /// Input data (training set only).
    #[command(flatten)]
    pub data: DataArgs,
    /// Comma-separated widths m.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    pub widths: Vec<usize>,
    /// Flow times: numbers and `logspace:A:B:K` items, non-decreasing, each a whole number of
    /// steps of size --lr.
    #[arg(long, default_value = "1,10,100,1000")]
    pub times: String,
    /// Number of seeds per width: --seed, --seed + 1, ….
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub seeds: u64,
    /// Learning rate η of plain gradient descent.
    #[arg(long, value_name = "ETA", default_value_t = 1.0)]
    pub lr: f64,
    /// Fit the distances against the width from each of these widths on (comma-separated; the
    /// fit uses every width ≥ it). Default: one fit over all widths.
    #[arg(long, value_delimiter = ',', value_name = "WIDTHS")]
    pub fit_from: Vec<usize>,
    /// Training loss (and the loss of the linearised flows giving α).
    #[arg(long, value_parser = choice::<Loss>(), default_value = "identity")]
    pub loss: Loss,
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

/// The quantities printed in the summary table, in this order.
const PRINTED: [&str; 8] = [
    "cos_net_sum",
    "cos_net_lin",
    "cos_net_kernel",
    "cos_net_minus_init_kernel",
    "rel_init",
    "rel_finite_width",
    "rel_pattern_flip",
    "rel_kernel_term",
];

/// Runs `parallel`.
pub fn run(args: ParallelArgs) -> Result<()> {
    let threads = super::init_threads(args.common.threads)?;
    let times = dynamics::parse_times(&args.times)?;
    if args.seeds == 0 {
        return Err(Error::invalid("--seeds", "at least one seed"));
    }
    if args.data.test.is_some() {
        return Err(Error::invalid(
            "--test",
            "parallel works on the training set only",
        ));
    }
    let widest = args.widths.iter().copied().max().unwrap_or(0);
    if let Some(&w) = args.fit_from.iter().find(|&&w| w > widest) {
        return Err(Error::invalid(
            "--fit-from",
            format!("no width ≥ {w} to fit from; the widest is {widest}"),
        ));
    }
    let seeds: Vec<u64> = (0..args.seeds)
        .map(|k| args.common.seed.wrapping_add(k))
        .collect();
    let grid = Grid {
        widths: args.widths.clone(),
        times,
        seeds,
        lr: args.lr,
        loss: args.loss,
        ode: OdeOptions::default(),
        network: args.network.config(1),
    };
    let total = grid.total_steps()?;
    let out = Outputs::prepare(&args.out, args.force)?;
    let (train, _) = args.data.load(&out)?;
    let start = Instant::now();
    let bar = progress_bar(total, "parallel", args.common.quiet);
    let sweep = parallel::run(&train, &grid, |s| bar.set_position(s))?;
    bar.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    let summary = parallel::summarize(&sweep.rows);
    ntk_perturb::io::write_rows(&out.file("parallel.csv"), &sweep.rows)?;
    ntk_perturb::io::write_rows(&out.file("parallel_summary.csv"), &summary)?;
    let fits = parallel::fit_widths(&sweep.rows, &args.fit_from);
    ntk_perturb::io::write_rows(&out.file("parallel_fit.csv"), &fits)?;
    for &time in &grid.times {
        parallel::plot_distances_against_width(
            &summary,
            time,
            &format!("distance of net − ∇f_0 to each prediction at T = {time}"),
            &out.file(&format!("distances_T{time}")),
        )?;
    }
    parallel::plot_against_time(
        &summary,
        "cos_net_sum",
        "perturbation vs weighted sum of training samples: cos(net, sum)",
        &out.file("cos_net_sum"),
    )?;
    out.write_config("parallel", threads, &args)?;

    let quiet = args.common.quiet;
    say(
        quiet,
        format!(
            "parallel: {} loss, N = {}, d = {}, {} widths × {} times × {} seeds in {elapsed:.1} s -> {}",
            args.loss.name(),
            train.n(),
            train.d(),
            grid.widths.len(),
            grid.times.len(),
            grid.seeds.len(),
            out.path().display()
        ),
    );
    print_table(quiet, &grid, &summary, &PRINTED);
    say(
        quiet,
        "distances of net − ∇f_0, pooled over the training inputs, / ‖sum‖_F (mean±std over seeds):",
    );
    print_table(quiet, &grid, &summary, &parallel::DISTANCES);
    say(
        quiet,
        "fits value ∝ width^slope (slope of the means over seeds; 95% t-interval of the per-seed slopes):",
    );
    for f in &fits {
        let slope = f.slope.map_or("n/a".to_string(), |s| format!("{s:+.3}"));
        let ci = match (f.slope_ci_low, f.slope_ci_high) {
            (Some(lo), Some(hi)) => format!(" [{lo:+.3}, {hi:+.3}], {} seeds", f.seeds),
            _ => String::new(),
        };
        say(
            quiet,
            format!(
                "  T = {:<8} {:<17} widths {}–{}: {slope}{ci}",
                f.time, f.quantity, f.from_width, f.to_width
            ),
        );
    }
    if sweep.undefined > 0 {
        eprintln!(
            "warning: {} per-input cosines or ratios were undefined (a zero vector) and left out of the means",
            sweep.undefined
        );
    }
    out.commit();
    Ok(())
}

/// Prints mean±std over seeds of `quantities`, one line per (width, time); the columns carry the
/// quantity names of parallel.csv, each as wide as its name or a value.
fn print_table(quiet: bool, grid: &Grid, summary: &[parallel::SummaryRow], quantities: &[&str]) {
    if quiet {
        return;
    }
    let col_width = |q: &str| q.len().max(14);
    let mut header = format!("{:>7} {:>8}", "width", "time");
    for q in quantities {
        header.push_str(&format!(" {q:>w$}", w = col_width(q)));
    }
    say(quiet, header);
    for &width in &grid.widths {
        for &time in &grid.times {
            let mut line = format!("{width:>7} {time:>8}");
            for &q in quantities {
                let v = summary
                    .iter()
                    .find(|r| r.width == width && r.time == time && r.quantity == q);
                let cell = match v.and_then(|r| r.mean) {
                    Some(m) => match v.and_then(|r| r.std) {
                        Some(s) => format!("{m:.4}±{s:.4}"),
                        None => format!("{m:.4}"),
                    },
                    None => "-".into(),
                };
                line.push_str(&format!(" {cell:>w$}", w = col_width(q)));
            }
            say(quiet, line);
        }
    }
}
