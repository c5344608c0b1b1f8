//! `ntk-perturb experiment`: a perturbation-learning run or sweep from a TOML configuration
//! (§1, §6, §7).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use super::Outputs;
use super::output::{ResolvedConfig, progress_bar, say};
use ntk_perturb::error::{Error, Result};
use ntk_perturb::study::experiment::merge::{self, ShardDir};
use ntk_perturb::study::experiment::{
    Shard, SweepOptions, SweepSpec, conditions, write_selected_rows,
};

/// Arguments of `experiment`.
///
/// The thread/seed/quiet flags mirror [`super::CommonArgs`], except that `--seed` has no default:
/// it overrides the configuration's seed only when given.
#[derive(Debug, Clone, Args, Serialize)]
#[command(
    after_help = "Example:\n  ntk-perturb experiment examples/shifted_gauss_a.toml --out out/sg-a\n  ntk-perturb experiment examples/shifted_gauss_a_eps_sweep.toml --out out/sweep --shard 0/2\n  ntk-perturb experiment examples/shifted_gauss_a_eps_sweep.toml --out out/sweep --resume\n\nAny key of the configuration may be a list (or `seeds = K`); the sweep runs the cartesian\nproduct. Writes results.csv (cell,run_id,seed,<swept keys>,metric,value), cells.csv\n(cell,run_id,seed,<swept keys>), config.toml (the resolved sweep) and, for file subsets,\nrows.csv / test_rows.csv (output_row,source_row,label). results.csv is appended\ncell by cell: rerun with --resume after an interruption to run only the missing cells."
)]
pub struct ExperimentArgs {
    /// Configuration file (TOML): one run, or a sweep with list-valued keys.
    #[arg(value_name = "CONFIG.toml")]
    pub config: PathBuf,
    /// Output directory (must not exist or be empty, unless --force or --resume).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Run only the cells with cell % n == k.
    #[arg(long, value_name = "k/n")]
    pub shard: Option<String>,
    /// Start over: discard results already in the output directory.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Continue an interrupted sweep in DIR: complete cells of results.csv are kept and skipped.
    #[arg(long)]
    pub resume: bool,
    /// Worker threads [default: all cores]. Results are identical for any value.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Replace the configuration's seed (scalar or list) by this one; with `seeds = K`, the first
    /// of the K seeds.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print nothing but errors (no progress bar, no summary).
    #[arg(long)]
    pub quiet: bool,
}

/// The `args` part of config.toml.
#[derive(Serialize)]
struct Resolved<'a> {
    config: &'a Path,
    shard: Option<&'a str>,
    seed: Option<u64>,
    /// The resolved sweep: every key, defaults filled in, swept keys as lists.
    sweep: &'a toml::Table,
}

impl Resolved<'_> {
    /// Writes `dir/config.toml`.
    fn write(&self, dir: &Path, threads: usize) -> Result<()> {
        ntk_perturb::io::write_config(dir, &ResolvedConfig::new("experiment", threads, self))
    }
}

const RESULTS: &str = "results.csv";
const CELLS: &str = "cells.csv";

/// Runs `experiment`.
pub fn run(args: ExperimentArgs) -> Result<()> {
    let threads = super::init_threads(args.threads)?;
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let mut spec = SweepSpec::from_file(&args.config)?;
    if let Some(seed) = args.seed {
        spec = spec.override_seed(seed);
    }
    let sweep = spec.expand()?;

    if args.resume && args.out.join("config.toml").exists() {
        check_same_sweep(&args.out, sweep.resolved())?;
    }
    let out = Outputs::prepare(&args.out, args.force || args.resume)?;
    if args.force {
        let results = out.file(RESULTS);
        if results.exists() {
            std::fs::remove_file(&results).map_err(|e| Error::io(&results, e))?;
        }
    }
    let resolved = Resolved {
        config: &args.config,
        shard: args.shard.as_deref(),
        seed: args.seed,
        sweep: sweep.resolved(),
    };
    resolved.write(out.path(), threads)?;
    sweep.write_cells(&out.file(CELLS))?;
    write_selected_rows(&sweep, out.path())?;
    // From here on results.csv grows cell by cell and is kept on failure, for --resume.
    let dir = out.path().to_path_buf();
    out.commit();

    let in_shard = sweep
        .cells()
        .iter()
        .filter(|c| shard.is_none_or(|s| s.contains(c.index)))
        .count();
    // One warning for the whole sweep, naming the first cell whose g_main is undefined.
    if let Some((cell, reason)) = sweep
        .cells()
        .iter()
        .filter(|c| shard.is_none_or(|s| s.contains(c.index)))
        .find_map(|c| conditions::main_term_g_undefined_reason(&c.config).map(|r| (c, r)))
    {
        eprintln!(
            "warning: {reason} (cell {} `{}` and every cell like it)",
            cell.index, cell.run_id
        );
    }
    let bar = progress_bar(in_shard as u64, "experiment", args.quiet);
    let progress = |_done: usize, _total: usize| bar.inc(1);
    let opts = SweepOptions {
        shard,
        progress: Some(&progress),
        ..SweepOptions::default()
    };
    let start = Instant::now();
    let report = sweep.run_to_file(&dir.join(RESULTS), &opts)?;
    bar.finish_and_clear();
    say(
        args.quiet,
        format!(
            "experiment: {} of {} cells run ({} already complete) in {:.2} s -> {}",
            report.ran,
            report.total,
            report.skipped,
            start.elapsed().as_secs_f64(),
            dir.join(RESULTS).display()
        ),
    );
    Ok(())
}

/// Refuses to resume into a directory whose config.toml describes a different sweep.
fn check_same_sweep(dir: &Path, sweep: &toml::Table) -> Result<()> {
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let old: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let old_sweep = old
        .get("args")
        .and_then(|a| a.get("sweep"))
        .and_then(toml::Value::as_table);
    if old_sweep != Some(sweep) {
        return Err(Error::invalid(
            "--resume",
            format!(
                "{} describes a different sweep; use --force to start over",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Merges the shards of one `experiment` sweep in `dirs` into `out`, writing config.toml as the
/// unsharded run does (the first shard's arguments without the shard); returns the cell count.
pub fn merge(threads: usize, dirs: &[ShardDir], out: &Outputs) -> Result<usize> {
    let sweep = merge::recorded_sweep(dirs)?;
    let first = &dirs[0];
    let config = first
        .get("args.config")
        .and_then(toml::Value::as_str)
        .unwrap_or_default();
    let seed = match first.get("args.seed") {
        None => None,
        Some(v) => Some(
            v.as_integer()
                .and_then(|s| u64::try_from(s).ok())
                .ok_or_else(|| Error::File {
                    path: first.path.join("config.toml").display().to_string(),
                    message: format!("args.seed = {v} is not a seed"),
                })?,
        ),
    };
    let report = merge::merge_sweep(&sweep, dirs, out.path())?;
    let recorded = first.get("args.sweep").and_then(toml::Value::as_table);
    Resolved {
        config: Path::new(config),
        shard: None,
        seed,
        sweep: recorded.unwrap_or(sweep.resolved()),
    }
    .write(out.path(), threads)?;
    Ok(report.cells)
}
