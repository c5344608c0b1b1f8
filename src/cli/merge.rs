//! `ntk-perturb merge`: the output directories of the shards of one `experiment` or `reproduce`
//! run combined into the directory the unsharded run would have written.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::Outputs;
use super::output::say;
use super::reproduce::ReproduceArgs;
use ntk_perturb::error::{Error, Result};
use ntk_perturb::study::experiment::merge::{ShardDir, check_same_configuration};

/// Arguments of `merge`.
#[derive(Debug, Clone, Args, Serialize)]
#[command(
    after_help = "Example:\n  ntk-perturb experiment sweep.toml --shard 0/2 --out out/s0\n  ntk-perturb experiment sweep.toml --shard 1/2 --out out/s1\n  ntk-perturb merge --out out/sweep out/s0 out/s1\n\nThe directories must come from one run (the same configuration, differing only in --shard and in\nhow it was run: --out, --threads, --resume, --force, --quiet); the merge refuses others, naming\nthe first differing key of config.toml, and names every missing cell with its shard. The merged\ndirectory holds what the unsharded run writes: results.csv in cell order, cells.csv,\nconfig.toml (threads and flags of the first directory given) and, for `reproduce`, every panel,\nsummary.csv and the figures."
)]
pub struct MergeArgs {
    /// Output directories of the shards (`--shard k/n`), in any order.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Merged output directory (must not exist or be empty, unless --force).
    #[arg(long, value_name = "MERGED")]
    pub out: PathBuf,
    /// Write into a non-empty output directory.
    #[arg(long)]
    pub force: bool,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

/// Keys of config.toml that say how a shard was run, not what it computed.
const HOW_RUN: &[&str] = &[
    "threads",
    "args.shard",
    "args.out",
    "args.force",
    "args.resume",
    "args.quiet",
    "args.threads",
    "args.config",
];

/// Runs `merge`.
pub fn run(args: MergeArgs) -> Result<()> {
    let dirs: Vec<ShardDir> = args
        .dirs
        .iter()
        .map(|d| ShardDir::read(d))
        .collect::<Result<_>>()?;
    check_same_configuration(&dirs, HOW_RUN)?;
    let out_abs = std::path::absolute(&args.out).map_err(|e| Error::io(&args.out, e))?;
    for d in &args.dirs {
        if std::path::absolute(d).is_ok_and(|p| p == out_abs) {
            return Err(Error::invalid(
                "--out",
                format!("{} is one of the directories to merge", d.display()),
            ));
        }
    }
    let first = &dirs[0];
    let threads = first
        .get("threads")
        .and_then(toml::Value::as_integer)
        .and_then(|t| usize::try_from(t).ok())
        .unwrap_or(1);
    let command = first
        .get("command")
        .and_then(toml::Value::as_str)
        .unwrap_or_default()
        .to_string();
    let out = Outputs::prepare(&args.out, args.force)?;
    let what = match command.as_str() {
        "experiment" => {
            let cells = super::experiment::merge(threads, &dirs, &out)?;
            format!("{cells} cells")
        }
        "reproduce" => {
            let mut recorded: ReproduceArgs = first
                .get("args")
                .cloned()
                .unwrap_or(toml::Value::Table(Default::default()))
                .try_into()
                .map_err(|e: toml::de::Error| Error::File {
                    path: first.path.join("config.toml").display().to_string(),
                    message: format!("not the arguments of `reproduce`: {e}"),
                })?;
            recorded.shard = None;
            recorded.out = Some(args.out.clone());
            recorded.force = false;
            recorded.resume = false;
            let panels = super::reproduce::merge(&recorded, threads, &dirs, &out)?;
            format!("{panels} panels of `reproduce {}`", recorded.name)
        }
        "" => {
            return Err(Error::File {
                path: first.path.join("config.toml").display().to_string(),
                message: "no `command` key: not the directory of an `experiment` or `reproduce` \
                          run (for a preset, give the run's directory, not a panel's)"
                    .into(),
            });
        }
        other => {
            return Err(Error::File {
                path: first.path.join("config.toml").display().to_string(),
                message: format!(
                    "command = {other:?}: only the outputs of `experiment` and `reproduce` are merged"
                ),
            });
        }
    };
    let path = out.path().display().to_string();
    out.commit();
    say(
        args.quiet,
        format!(
            "merge: {what} from {} directories -> {path}",
            args.dirs.len()
        ),
    );
    Ok(())
}
