//! `ntk-perturb crosscheck`: trained networks of growing width against the linearised and
//! infinite-width theory (§3.3, §13.2, §13.3).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use super::args::choice;
use super::output::{progress_bar, say};
use super::{CommonArgs, DataArgs, NetworkArgs, Outputs};
use ntk_perturb::dynamics::OdeOptions;
use ntk_perturb::error::Result;
use ntk_perturb::model::Loss;
use ntk_perturb::study::crosscheck::{
    self, CrosscheckOptions, ERROR_QUANTITIES, QuantityRow, fit_errors, mean_std_by_width,
};

/// Arguments of `crosscheck`.
#[derive(Debug, Clone, Args, Serialize)]
#[command(
    after_help = "Example:\n  ntk-perturb data shifted-gauss --n 200 --d 20 --seed 0 --out train.csv\n  ntk-perturb data shifted-gauss --n 200 --d 20 --seed 1 --out test.csv\n  ntk-perturb crosscheck --train train.csv --test test.csv --widths 100,400,1600,6400 \\\n      --seeds 5 --time 1 --lr 0.01 --loss identity --out cc\n\nFor each width and seed, trains the network by plain gradient descent for T/lr steps (T must\nbe a whole number of steps) and compares it on the test inputs (training inputs without --test) with the linearised model\nat the same initial parameters (lin), the infinite-width prediction from f_0 = 0 (inf) and the\ninfinite-width flow from the network's own f_0 (inf_plus_f0; with the standard init f_0 is\nO(1) at every width, so only lin and inf_plus_f0 are expected to converge, like width^-1/2).\nWrites crosscheck.csv (width,seed,quantity,value) with rel_error_lin, rel_error_inf,\nrel_error_inf_plus_f0 (‖f_T − f_pred‖/‖f_T − f_0‖), sign_agreement_lin, sign_agreement_inf,\nsign_agreement_inf_plus_f0, grad_cosine_lin, weight_change, pattern_flip_fraction;\ncrosscheck_fit.csv (quantity,slope,slope_ci_low,slope_ci_high,intercept,theory_slope: least\nsquares of log(mean over seeds) against log(width); the 95% t-interval of the per-seed slopes); and config.toml. Network seeds are --seed, --seed+1, …"
)]
pub struct CrosscheckArgs {
    /// Input data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Widths m to compare, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "M,M,…", required = true)]
    pub widths: Vec<usize>,
    /// Number of network seeds per width.
    #[arg(long, value_name = "S", default_value_t = 5)]
    pub seeds: usize,
    /// Flow time T to train to: T/lr steps of plain gradient descent, a whole number.
    #[arg(long, allow_negative_numbers = true, value_name = "T")]
    pub time: f64,
    /// Learning rate η.
    #[arg(long, allow_negative_numbers = true, value_name = "ETA")]
    pub lr: f64,
    /// Per-sample loss: ℓ(−y f) with ℓ(s) = s, log(1+eˢ) or eˢ, or ½(f − y)² (§13.1).
    #[arg(long, value_parser = choice::<Loss>(), default_value = "identity")]
    pub loss: Loss,
    /// Relative tolerance of the linearised flow (logistic and exponential losses).
    #[arg(long, default_value_t = 1e-8)]
    pub rtol: f64,
    /// Absolute tolerance of the linearised flow (logistic and exponential losses).
    #[arg(long, default_value_t = 1e-10)]
    pub atol: f64,
    /// Network architecture.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Output directory (must not exist or be empty, unless --force).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace the contents of an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Threads, seed (of the first network), quiet.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `crosscheck`.
pub fn run(args: CrosscheckArgs) -> Result<()> {
    let threads = super::init_threads(args.common.threads)?;
    crosscheck::validate_grid(&args.widths, args.seeds)?;
    let opts = CrosscheckOptions {
        time: args.time,
        lr: args.lr,
        loss: args.loss,
        ode: OdeOptions {
            rtol: args.rtol,
            atol: args.atol,
            ..OdeOptions::default()
        },
    };
    opts.validate()?;
    let config = args.network.config(args.widths[0]);
    config.arch.validate()?;
    let out = Outputs::prepare(&args.out, args.force)?;
    let (train, test) = args.data.load(&out)?;
    let seeds: Vec<u64> = (0..args.seeds as u64)
        .map(|i| args.common.seed.wrapping_add(i))
        .collect();

    let total = (args.widths.len() * seeds.len()) as u64;
    let bar = progress_bar(total, "crosscheck", args.common.quiet);
    let start = Instant::now();
    let runs = crosscheck::crosscheck(
        train.x.as_ref(),
        &train.y,
        test.as_ref().map(|t| t.x.as_ref()),
        config,
        &args.widths,
        &seeds,
        &opts,
        |done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();

    let rows: Vec<QuantityRow> = runs.iter().flat_map(|r| r.rows()).collect();
    ntk_perturb::io::write_rows(&out.file("crosscheck.csv"), &rows)?;
    let fits = fit_errors(&runs, args.network.init);
    ntk_perturb::io::write_rows(&out.file("crosscheck_fit.csv"), &fits)?;
    out.write_config("crosscheck", threads, &args)?;

    if !args.common.quiet {
        say(
            false,
            format!(
                "crosscheck: {} runs ({} steps each, t = {}) in {elapsed:.2} s -> {}",
                runs.len(),
                opts.steps(),
                opts.reached_time(),
                out.path().display()
            ),
        );
        let names: Vec<&str> = ERROR_QUANTITIES.iter().map(|(q, _)| *q).collect();
        let mut header = format!("{:>8}", "width");
        for q in &names {
            header.push_str(&format!(" {q:>22}"));
        }
        println!("mean ± standard deviation over {} seeds:", seeds.len());
        println!("{header}");
        let columns: Vec<Vec<(usize, f64, f64)>> =
            names.iter().map(|q| mean_std_by_width(&runs, q)).collect();
        for (i, &(width, ..)) in columns[0].iter().enumerate() {
            let mut line = format!("{width:>8}");
            for col in &columns {
                let cell = format!("{:.4e}±{:.1e}", col[i].1, col[i].2);
                line.push_str(&format!(" {cell:>22}"));
            }
            println!("{line}");
        }
        for f in &fits {
            let slope = f.slope.map_or("n/a".to_string(), |s| format!("{s:+.3}"));
            let ci = match (f.slope_ci_low, f.slope_ci_high) {
                (Some(lo), Some(hi)) => format!(", 95% CI over seeds [{lo:+.3}, {hi:+.3}]"),
                _ => String::new(),
            };
            let theory = f.theory_slope.map_or("no decay expected".to_string(), |s| {
                format!("bound {s:+.1}")
            });
            println!("slope {:<22} {slope} ({theory}{ci})", f.quantity);
        }
    }
    out.commit();
    Ok(())
}
