//! `ntk-perturb reproduce`: a figure of the paper's experiments (§7.3) as a preset: sweeps, summary
//! table and plots.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use ntk_perturb::choice::Choice;
use serde::{Deserialize, Serialize};

use super::Outputs;
use super::args::choice;
use super::output::{progress_bar, say};
use ntk_perturb::error::{Error, Result};
use ntk_perturb::perturbation::TargetKind;
use ntk_perturb::study::experiment::maps::{MapPanel, map_panels, run_map};
use ntk_perturb::study::experiment::merge::{ShardDir, merge_preset};
use ntk_perturb::study::experiment::presets::{NAMES, Preset, preset};
use ntk_perturb::study::experiment::{Models, ReproduceOptions, Shard, run_preset};

/// Arguments of `reproduce`.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[command(
    after_help = "Example:\n  ntk-perturb reproduce shifted-gauss-a --quick --out out/shifted-gauss-a\n  ntk-perturb reproduce mnist-a --quick --out out/mnist-a\n  ntk-perturb reproduce mnist-a --seeds 5 --lr-grid-max --out out/mnist-a-full\n  ntk-perturb reproduce mnist-a --quick --panel eps,width --out out/mnist-a-eps-width\n  ntk-perturb reproduce shifted-gauss-a --panel eps --targets balanced --model both --per-seed --out out/sg-a-balanced\n  ntk-perturb reproduce mnist-a --quick --shard 0/2 --out out/part0   # and 1/2 into out/part1, then\n  ntk-perturb merge --out out/mnist-a out/part0 out/part1\n  ntk-perturb reproduce gauss-a --plan --plan-wall 2h   # cells, trainings, time, memory and shards; runs nothing\n\nPresets: shifted-gauss-a, shifted-gauss-b, gauss-a, gauss-b, mnist-a, mnist-b, fmnist-a,\nfmnist-b (accuracy figures of §7.3: standard accuracy, perturbation accuracy and agreement\nagainst d, ε, m, γ, N, T_f, T_g) cossim (cosine similarity of perturbations and the\nweighted sum of training samples) and maps (decision maps on the class-mean plane). Writes <panel>/results.csv (tidy, resumable),\n<panel>/config.toml (the panel's sweep; `ntk-perturb experiment <panel>/config.toml` reruns it),\nsummary.csv (preset,panel,model,key,x_name,x,metric,mean,std,median,q1,q3,seeds,aggregate,seed,note:\nstatistics over seeds and one row per seed; for an ε panel also eps_threshold_pred/obs per seed\nwith their correlations, docs/theory.md §6.6), NAME-<panel>.svg/.png (network solid with a ± sd\nband, theory dashed; NAME-eps-threshold.svg/.png for an ε panel) and config.toml."
)]
pub struct ReproduceArgs {
    /// Preset name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Reduced grids and data that finish in about a minute (the full presets take hours).
    #[arg(long)]
    pub quick: bool,
    /// Seeds per point (mean ± standard deviation are reported).
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Also sweep the authors' learning-rate grid and take each metric's maximum over it per seed
    /// (the authors' reporting, §7.2), labelled as such in summary.csv.
    #[arg(long)]
    pub lr_grid_max: bool,
    /// Output directory (must not exist or be empty, unless --force or --resume); with --plan,
    /// where plan.csv is written (optional).
    #[arg(long, value_name = "DIR", required_unless_present = "plan")]
    pub out: Option<PathBuf>,
    /// Start over in an existing output directory.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Continue an interrupted run: complete cells are kept and skipped.
    #[arg(long)]
    pub resume: bool,
    /// Worker threads [default: all cores]. Results are identical for any value.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// First seed (seeds s, s+1, …); default: each figure's seed in §7.2.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only these panels (comma-separated names, e.g. `eps,width`) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "P,Q")]
    pub panel: Vec<String>,
    /// Models run at every point: `network` (finite width, gradient descent), `theory` (the
    /// infinite-width linearised predictor, `model = "theory"`) or `both` (the theory drawn dashed
    /// beside the network) [default: both]. Not for `maps`.
    #[arg(long, value_parser = choice::<Models>(), value_name = "MODEL")]
    pub model: Option<Models>,
    /// Also draw every seed's curve as a thin line beside the mean (summary.csv always holds one
    /// row per seed).
    #[arg(long)]
    pub per_seed: bool,
    /// Target labels y^adv for every panel: `random` (the authors' code; the presets' default),
    /// `flipped` (the paper's framing, y^adv = −y) or `balanced` (random with equal counts, §6.5).
    #[arg(long, value_parser = choice::<TargetKind>(), value_name = "KIND")]
    pub targets: Option<TargetKind>,
    /// Run only the cells with cell % n == k of every panel (no summary or figures); combine the
    /// n output directories with `ntk-perturb merge`.
    #[arg(long, value_name = "k/n")]
    pub shard: Option<String>,
    /// Grid points per axis of the decision maps (`maps` only) [default: 400, 100 with --quick].
    #[arg(long)]
    pub resolution: Option<usize>,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
    /// Run nothing: print the cells, trainings, estimated CPU and wall time (from a calibration of
    /// a few seconds on this machine) and peak memory of exactly this command line, and a shard
    /// count for --plan-wall; with --out, also write plan.csv there.
    #[arg(long)]
    #[serde(skip)]
    pub plan: bool,
    /// Target wall time of one shard for the shard count --plan suggests (e.g. 30m, 1h, 2h30m).
    #[arg(long, value_name = "TIME", default_value = "1h", requires = "plan")]
    #[serde(skip)]
    pub plan_wall: Option<String>,
}

/// The output directory (required unless --plan, which clap enforces).
fn out_dir(args: &ReproduceArgs) -> Result<&std::path::Path> {
    args.out
        .as_deref()
        .ok_or_else(|| Error::invalid("--out", "required (unless --plan)"))
}

/// The preset `args` asks for: its panels chosen, its seed replaced.
pub(super) fn chosen_preset(args: &ReproduceArgs) -> Result<Preset> {
    let mut p = preset(&args.name, args.quick)?;
    let names: Vec<&str> = p.panels.iter().map(|panel| panel.name.as_str()).collect();
    let keep = chosen_panels(&args.name, &args.panel, &names)?;
    let mut index = 0;
    p.panels.retain(|_| {
        index += 1;
        keep.contains(&(index - 1))
    });
    if let Some(seed) = args.seed {
        p.panels.iter_mut().for_each(|panel| panel.base.seed = seed);
    }
    Ok(p)
}

/// The library options of `args`.
pub(super) fn options<'a>(
    args: &ReproduceArgs,
    progress: Option<&'a (dyn Fn(usize, usize, usize) + Sync)>,
) -> Result<ReproduceOptions<'a>> {
    Ok(ReproduceOptions {
        seeds: args.seeds,
        lr_grid_max: args.lr_grid_max,
        models: args.model.unwrap_or(Models::Both),
        per_seed: args.per_seed,
        targets: args.targets,
        shard: args.shard.as_deref().map(Shard::parse).transpose()?,
        progress,
    })
}

/// Runs `reproduce`.
pub fn run(args: ReproduceArgs) -> Result<()> {
    let threads = super::init_threads(args.threads)?;
    if args.seeds == 0 {
        return Err(Error::invalid("--seeds", "need at least one seed"));
    }
    if args.name == "maps" {
        if args.model.is_some() || args.per_seed {
            let flag = if args.per_seed {
                "--per-seed"
            } else {
                "--model"
            };
            return Err(Error::invalid(
                flag,
                "does not apply to `maps`: each map draws the trained network's f and g beside \
                 the theory's surrogates f̂ and ĝ, for one seed",
            ));
        }
        if args.shard.is_some() {
            return Err(Error::invalid(
                "--shard",
                "the decision maps are not a sweep; run `reproduce maps` whole",
            ));
        }
        if args.plan {
            return super::reproduce_plan::run(&args, threads);
        }
        return run_maps(&args, threads);
    }
    if args.plan {
        return super::reproduce_plan::run(&args, threads);
    }
    let p = chosen_preset(&args)?;
    options(&args, None)?;
    let out = Outputs::prepare(out_dir(&args)?, args.force || args.resume)?;
    if args.force {
        for panel in &p.panels {
            let dir = out.file(&panel.name);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
        }
    }
    out.write_config("reproduce", threads, &args)?;
    let dir = out.path().to_path_buf();
    // Results grow cell by cell and are kept on failure, for --resume.
    out.commit();
    let bar = progress_bar(p.panels.len() as u64, &args.name, args.quiet);
    let progress = |panel: usize, done: usize, total: usize| {
        bar.set_position(panel as u64);
        bar.set_message(format!("{} {done}/{total}", p.panels[panel].name));
    };
    let start = Instant::now();
    let summary = run_preset(&p, &dir, &options(&args, Some(&progress))?)?;
    bar.finish_and_clear();
    if let Some(shard) = &args.shard {
        say(
            args.quiet,
            format!(
                "reproduce {} shard {shard}: {} panels in {:.1} s -> {} (combine the shards with \
                 `ntk-perturb merge --out DIR <their directories>`)",
                args.name,
                p.panels.len(),
                start.elapsed().as_secs_f64(),
                dir.display()
            ),
        );
        return Ok(());
    }
    let models = args.model.unwrap_or(Models::Both).list();
    for panel in &p.panels {
        for model in models {
            let name = model.choice_name();
            let line: Vec<String> = p
                .metrics
                .iter()
                .map(|m| {
                    let pts: Vec<String> = summary
                        .iter()
                        .filter(|r| r.panel == panel.name && r.metric == *m)
                        .filter(|r| r.model == name && r.seed.is_none())
                        .map(|r| {
                            if r.mean.is_finite() {
                                format!("{:.3}±{:.3}", r.mean, r.std)
                            } else {
                                "n/a".into()
                            }
                        })
                        .collect();
                    format!("{m} [{}]", pts.join(" "))
                })
                .collect();
            say(
                args.quiet,
                format!(
                    "{:>18} ({}) {name:>7}: {}",
                    panel.name,
                    panel.key,
                    line.join("; ")
                ),
            );
        }
    }
    let missing = summary
        .iter()
        .filter(|r| r.seed.is_none() && !r.note.is_empty())
        .count();
    if missing > 0 {
        eprintln!(
            "warning: {missing} points were not evaluated for lack of memory (empty values with a \
             note in summary.csv)"
        );
    }
    say(
        args.quiet,
        format!(
            "reproduce {}: {} panels in {:.1} s -> {} (presets: {})",
            args.name,
            p.panels.len(),
            start.elapsed().as_secs_f64(),
            dir.display(),
            NAMES.join(", ")
        ),
    );
    Ok(())
}

/// Merges the shards of one `reproduce` run, recorded in `dirs` with the arguments `recorded`
/// (those of the shards with the shard removed), into `out`; writes config.toml as the unsharded
/// run does and returns the number of panels.
pub fn merge(
    recorded: &ReproduceArgs,
    threads: usize,
    dirs: &[ShardDir],
    out: &Outputs,
) -> Result<usize> {
    if recorded.name == "maps" {
        return Err(Error::invalid(
            "DIR",
            "`reproduce maps` is not run in shards; there is nothing to merge",
        ));
    }
    let p = chosen_preset(recorded)?;
    out.write_config("reproduce", threads, recorded)?;
    merge_preset(&p, &options(recorded, None)?, dirs, out.path())?;
    Ok(p.panels.len())
}

/// `reproduce maps`: the eight decision maps of §7.3.
fn run_maps(args: &ReproduceArgs, threads: usize) -> Result<()> {
    let (panels, resolution) = chosen_maps(args)?;
    let out = Outputs::prepare(out_dir(args)?, args.force || args.resume)?;
    let bar = progress_bar(panels.len() as u64, "maps", args.quiet);
    let start = Instant::now();
    let mut summary = Vec::new();
    for panel in &panels {
        bar.set_message(panel.name);
        summary.push(run_map(panel, resolution, out.path())?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    ntk_perturb::io::write_rows(&out.file("maps_summary.csv"), &summary)?;
    out.write_config("reproduce", threads, args)?;
    for s in &summary {
        say(
            args.quiet,
            format!(
                "{:>16}: sgn f = sgn g on {:.3} of the plane, f̂/ĝ on {:.3}, test agreement {:.3}",
                s.panel, s.agreement_f_g, s.agreement_surrogates, s.agreement_test
            ),
        );
    }
    say(
        args.quiet,
        format!(
            "reproduce maps: {} panels in {:.1} s -> {}",
            panels.len(),
            start.elapsed().as_secs_f64(),
            out.path().display()
        ),
    );
    out.commit();
    Ok(())
}

/// The map panels and resolution `args` asks for.
pub(super) fn chosen_maps(args: &ReproduceArgs) -> Result<(Vec<MapPanel>, usize)> {
    let resolution = args
        .resolution
        .unwrap_or(if args.quick { 100 } else { 400 });
    if resolution < 2 {
        return Err(Error::invalid(
            "--resolution",
            "need at least 2 grid points per axis",
        ));
    }
    let mut panels = map_panels(args.quick);
    let names: Vec<&str> = panels.iter().map(|panel| panel.name).collect();
    let keep = chosen_panels(&args.name, &args.panel, &names)?;
    let mut index = 0;
    panels.retain(|_| {
        index += 1;
        keep.contains(&(index - 1))
    });
    if let Some(seed) = args.seed {
        panels.iter_mut().for_each(|p| p.config.seed = seed);
    }
    Ok((panels, resolution))
}

/// Indices of the panels `wanted` among `names` (all of them when `wanted` is empty); an unknown
/// name is an error listing the valid ones.
fn chosen_panels(preset: &str, wanted: &[String], names: &[&str]) -> Result<Vec<usize>> {
    if wanted.is_empty() {
        return Ok((0..names.len()).collect());
    }
    let mut keep = Vec::new();
    for w in wanted {
        match names.iter().position(|n| n == w) {
            Some(i) if !keep.contains(&i) => keep.push(i),
            Some(_) => {}
            None => {
                let near = ntk_perturb::study::experiment::config::nearest_key(w, names)
                    .map(|k| format!("did you mean `{k}`? "))
                    .unwrap_or_default();
                return Err(Error::invalid(
                    "--panel",
                    format!(
                        "`{preset}` has no panel `{w}`; {near}its panels are: {}",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(keep)
}
