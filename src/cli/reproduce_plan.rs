//! `ntk-perturb reproduce NAME --plan`: what the command line would run and cost, without running it.

use ntk_perturb::error::{Result, human_bytes};
use ntk_perturb::study::experiment::plan::{Plan, parse_wall, plan_maps, plan_preset};

use super::Outputs;
use super::reproduce::{ReproduceArgs, chosen_maps, chosen_preset, options};

/// Plans `args` on `threads` threads, prints the plan and writes plan.csv with --out.
pub fn run(args: &ReproduceArgs, threads: usize) -> Result<()> {
    let target = parse_wall(args.plan_wall.as_deref().unwrap_or("1h"))?;
    let plan = if args.name == "maps" {
        let (panels, resolution) = chosen_maps(args)?;
        plan_maps(&panels, resolution, threads)?
    } else {
        let p = chosen_preset(args)?;
        plan_preset(&p, &options(args, None)?, threads)?
    };
    if let Some(dir) = &args.out {
        let out = Outputs::prepare(dir, args.force)?;
        ntk_perturb::io::write_rows(&out.file("plan.csv"), &plan.panels)?;
        out.write_config("reproduce", threads, args)?;
        out.commit();
    }
    print(args, &plan, target, threads);
    Ok(())
}

/// Prints a line of the plan on standard output (the plan is the command's result), unless quiet.
fn say(quiet: bool, text: impl AsRef<str>) {
    if !quiet {
        println!("{}", text.as_ref());
    }
}

/// Seconds in the largest sensible unit: `42 s`, `7.5 min`, `3.2 h`.
fn duration(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{seconds:.0} s")
    } else if seconds < 5400.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// The flags of `args` that choose what is run (no --out, --shard, --plan, threads or output
/// handling), as typed on a command line.
fn run_flags(args: &ReproduceArgs) -> String {
    let mut flags = Vec::new();
    if args.quick {
        flags.push("--quick".to_string());
    }
    if args.seeds != 5 {
        flags.push(format!("--seeds {}", args.seeds));
    }
    if args.lr_grid_max {
        flags.push("--lr-grid-max".into());
    }
    if let Some(seed) = args.seed {
        flags.push(format!("--seed {seed}"));
    }
    if !args.panel.is_empty() {
        flags.push(format!("--panel {}", args.panel.join(",")));
    }
    if let Some(m) = args.model {
        flags.push(format!(
            "--model {}",
            ntk_perturb::choice::Choice::choice_name(m)
        ));
    }
    if let Some(t) = args.targets {
        flags.push(format!(
            "--targets {}",
            ntk_perturb::choice::Choice::choice_name(t)
        ));
    }
    if args.per_seed {
        flags.push("--per-seed".into());
    }
    if let Some(r) = args.resolution {
        flags.push(format!("--resolution {r}"));
    }
    flags.iter().map(|f| format!(" {f}")).collect()
}

fn print(args: &ReproduceArgs, plan: &Plan, target: f64, threads: usize) {
    let quiet = args.quiet;
    let flags = run_flags(args);
    let cal = &plan.calibration;
    let shard = args
        .shard
        .as_deref()
        .map(|s| format!(", shard {s}"))
        .unwrap_or_default();
    say(
        quiet,
        format!(
            "plan of `ntk-perturb reproduce {}{flags}`{shard} (nothing is run)",
            args.name
        ),
    );
    say(
        quiet,
        format!(
            "calibration ({:.1} s, {:.0} % of one core): network GEMMs {:.1} GFLOP/s + {:.1} ns per N×m \
             entry, kernel products {:.1} GFLOP/s + {:.0} ns per kernel entry, whole-stage factors {:.2}/{:.2} (network f/g) and \
             {:.2}/{:.2} (theory f/g); {}",
            cal.seconds,
            100.0 * cal.core_share,
            1e-9 / cal.net_flop_seconds.max(1e-30),
            cal.net_entry_seconds * 1e9,
            1e-9 / cal.kernel_flop_seconds.max(1e-30),
            cal.kernel_pair_seconds * 1e9,
            cal.stage_factors[0],
            cal.stage_factors[1],
            cal.stage_factors[2],
            cal.stage_factors[3],
            cal.sizes
        ),
    );
    for d in &plan.data {
        say(
            quiet,
            format!(
                "data {}: N = {}, M = {}, d = {}, one load {:.2} s (once per first stage)",
                d.train.display(),
                d.n,
                d.n_test,
                d.d,
                d.seconds
            ),
        );
    }
    say(
        quiet,
        format!(
            "{:>18} {:>6} {:>9} {:>9} {:>7} {:>10} {:>10} {:>10}  largest run",
            "panel", "cells", "f trains", "g trains", "theory", "CPU", "wall", "peak"
        ),
    );
    for p in &plan.panels {
        say(
            quiet,
            format!(
                "{:>18} {:>6} {:>9} {:>9} {:>7} {:>10} {:>10} {:>10}  {}",
                p.panel,
                p.cells,
                p.f_trainings,
                p.g_trainings,
                p.theory_runs,
                duration(p.est_cpu_seconds),
                duration(p.est_wall_seconds),
                human_bytes(p.est_peak_bytes),
                p.peak_run
            ),
        );
    }
    let (f, g) = plan
        .panels
        .iter()
        .fold((0, 0), |(f, g), p| (f + p.f_trainings, g + p.g_trainings));
    say(
        quiet,
        format!(
            "{:>18} {:>6} {:>9} {:>9} {:>7} {:>10} {:>10}",
            "total",
            plan.cells(),
            f,
            g,
            plan.theory_runs(),
            duration(plan.cpu_seconds()),
            duration(plan.wall_seconds())
        ),
    );
    say(
        quiet,
        format!(
            "estimated: {} trainings and {} theory evaluations, {} CPU, {} wall on {threads} \
             threads (CPU / threads; a loaded machine takes longer)",
            plan.trainings(),
            plan.theory_runs(),
            duration(plan.cpu_seconds()),
            duration(plan.wall_seconds())
        ),
    );
    if let Some(p) = plan.peak() {
        say(
            quiet,
            format!(
                "peak memory: {} for the largest run ({}, panel {}); cells run in parallel, so up \
                 to about {threads} × that; {} available now",
                human_bytes(p.est_peak_bytes),
                p.peak_run,
                p.panel,
                human_bytes(ntk_perturb::memory::available_bytes())
            ),
        );
    }
    let Some(advice) = plan.shards_for(target, threads) else {
        say(
            quiet,
            "`reproduce maps` runs whole (it is not a sweep): no shards",
        );
        return;
    };
    let n = advice.count;
    if n == 1 && advice.meets_target {
        say(
            quiet,
            format!(
                "fits in the target wall time of {} on {threads} threads: no shards needed",
                duration(target)
            ),
        );
        return;
    }
    let how = if advice.meets_target {
        format!(
            "for a wall time of at most {} per shard on {threads} threads: --shard k/{n} \
             (slowest shard about {}; shards repeat the first stages they share)",
            duration(target),
            duration(advice.slowest_wall_seconds)
        )
    } else {
        format!(
            "a wall time of {} per shard is out of reach (a single cell takes longer); the \
             fastest split is --shard k/{n}, slowest shard about {}",
            duration(target),
            duration(advice.slowest_wall_seconds)
        )
    };
    say(quiet, how);
    say(
        quiet,
        format!(
            "  for k in $(seq 0 {}); do ntk-perturb reproduce {}{flags} --shard $k/{n} --threads \
             {threads} --out out/shard-$k; done   # one per machine or job",
            n - 1,
            args.name
        ),
    );
    say(
        quiet,
        format!(
            "  ntk-perturb merge --out out/{} $(for k in $(seq 0 {}); do echo out/shard-$k; done)",
            args.name,
            n - 1
        ),
    );
    say(
        quiet,
        format!(
            "  Slurm: PRESET={} REPRODUCE_ARGS=\"{}\" examples/cluster/submit.sh {n}   (see \
             examples/cluster/README.md)",
            args.name,
            flags.trim()
        ),
    );
}
