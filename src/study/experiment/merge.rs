//! Merging the output directories of the shards of one sweep or preset into the directory a
//! single unsharded run would have written.
//!
//! A shard (`--shard k/n`) runs the cells with `cell % n == k` and records `shard = "k/n"` in the
//! `[args]` of its `config.toml`. Merging
//!
//! 1. reads every directory's `config.toml` ([`ShardDir::read`]) and refuses directories whose
//!    configurations differ in any key but the ones that only say how a shard was run
//!    ([`check_same_configuration`]; the error names the first differing key);
//! 2. collects the complete cells of every `results.csv` (an interrupted shard contributes its
//!    complete cells), refuses a cell whose rows differ between two directories, and names every
//!    missing cell together with its shard ([`missing_cells_message`]);
//! 3. writes `results.csv` sorted by cell, `cells.csv` and the row lists with the same functions an
//!    unsharded run uses ([`merge_sweep`]); for a preset, the merged panels are then finished by
//!    [`run_preset`], which finds every cell complete, runs none, and writes `summary.csv` and the
//!    figures ([`merge_preset`]).
//!
//! The merged files are therefore byte for byte those of the unsharded run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::presets::Preset;
use super::reproduce::{ReproduceOptions, SummaryRow, panel_spec, run_preset};
use super::selection::write_selected_rows;
use super::sweep::{CellRecords, Shard, Sweep, SweepSpec, write_records};
use crate::error::{Error, Result};

/// One output directory to merge: its path, its parsed `config.toml` and its shard.
#[derive(Debug, Clone)]
pub struct ShardDir {
    /// The directory.
    pub path: PathBuf,
    /// Its `config.toml`.
    pub config: toml::Table,
    /// `args.shard` of the configuration (None for an unsharded run).
    pub shard: Option<Shard>,
}

impl ShardDir {
    /// Reads `dir/config.toml`; `args.shard`, when present, must be `k/n`.
    pub fn read(dir: &Path) -> Result<ShardDir> {
        let path = dir.join("config.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let config: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::File {
            path: path.display().to_string(),
            message: format!("not a configuration written by ntk-perturb: {e}"),
        })?;
        let shard = match config.get("args").and_then(|a| a.get("shard")) {
            None => None,
            Some(toml::Value::String(s)) => Some(Shard::parse(s).map_err(|_| Error::File {
                path: path.display().to_string(),
                message: format!("args.shard = {s:?} is not k/n"),
            })?),
            Some(other) => {
                return Err(Error::File {
                    path: path.display().to_string(),
                    message: format!("args.shard = {other} is not k/n"),
                });
            }
        };
        Ok(ShardDir {
            path: dir.to_path_buf(),
            config,
            shard,
        })
    }

    /// The value at a dotted key of the configuration (`args.sweep`, `command`, …).
    pub fn get(&self, dotted: &str) -> Option<&toml::Value> {
        let mut parts = dotted.split('.');
        let mut value = self.config.get(parts.next()?)?;
        for part in parts {
            value = value.get(part)?;
        }
        Some(value)
    }

    /// The shard as `k/n`, or `unsharded`.
    fn label(&self) -> String {
        self.shard.map_or_else(
            || "unsharded".to_string(),
            |s| format!("{}/{}", s.index, s.count),
        )
    }
}

/// Refuses directories whose configurations differ in a key other than the dotted keys of
/// `ignored` (e.g. `args.shard`, `threads`): the error names the first differing key in key order
/// and its values in both directories.
pub fn check_same_configuration(dirs: &[ShardDir], ignored: &[&str]) -> Result<()> {
    let Some(first) = dirs.first() else {
        return Err(Error::invalid(
            "DIR",
            "give at least one directory to merge",
        ));
    };
    for other in &dirs[1..] {
        if let Some((key, a, b)) = first_difference(&first.config, &other.config, "", ignored) {
            let show = |v: Option<&toml::Value>| v.map_or("absent".to_string(), |v| v.to_string());
            return Err(Error::Mismatch(format!(
                "{} and {} were run with different configurations: key `{key}` is {} in the first \
                 and {} in the second (config.toml); merge only the shards of one run",
                first.path.display(),
                other.path.display(),
                show(a),
                show(b)
            )));
        }
    }
    Ok(())
}

/// The first dotted key (in key order) whose values differ between `a` and `b`, skipping `ignored`.
fn first_difference<'v>(
    a: &'v toml::Table,
    b: &'v toml::Table,
    prefix: &str,
    ignored: &[&str],
) -> Option<(String, Option<&'v toml::Value>, Option<&'v toml::Value>)> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if ignored.contains(&dotted.as_str()) {
            continue;
        }
        match (a.get(key), b.get(key)) {
            (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                if let Some(found) = first_difference(x, y, &dotted, ignored) {
                    return Some(found);
                }
            }
            (x, y) if x != y => return Some((dotted, x, y)),
            _ => {}
        }
    }
    None
}

/// Reads the complete cells of `results` in every directory (`dir/sub/results.csv`, `sub` empty for
/// a sweep) and returns them merged, with the cells that are missing. A cell whose rows differ
/// between two directories is an error.
fn collect_cells(sweep: &Sweep, dirs: &[ShardDir], sub: &str) -> Result<(CellRecords, Vec<usize>)> {
    let header = sweep.header();
    let mut merged: CellRecords = BTreeMap::new();
    let mut source: BTreeMap<usize, &Path> = BTreeMap::new();
    for dir in dirs {
        let path = dir.path.join(sub).join("results.csv");
        let (cells, _) = sweep.read_complete(&path, &header)?;
        for (index, records) in cells {
            match merged.get(&index) {
                Some(existing) if *existing != records => {
                    return Err(Error::Mismatch(format!(
                        "cell {index} ({}) has different results in {} and {}; were they run \
                         with different versions?",
                        sweep.cells()[index].run_id,
                        source[&index].display(),
                        dir.path.display()
                    )));
                }
                Some(_) => {}
                None => {
                    merged.insert(index, records);
                    source.insert(index, &dir.path);
                }
            }
        }
    }
    let missing = (0..sweep.cells().len())
        .filter(|i| !merged.contains_key(i))
        .collect();
    Ok((merged, missing))
}

/// What is missing, shard by shard: for each shard `k/n` that owns missing cells, whether no
/// directory of that shard was given or which of its cells its directory lacks (an interrupted
/// shard, to finish with `--resume`). `what` names the sweep (`panel eps: `, or empty).
pub fn missing_cells_message(
    dirs: &[ShardDir],
    total: usize,
    missing: &[usize],
    what: &str,
) -> String {
    let mut text = String::new();
    let counts: Vec<usize> = {
        let mut c: Vec<usize> = dirs
            .iter()
            .filter_map(|d| d.shard.map(|s| s.count))
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let Some(&n) = counts.first().filter(|_| counts.len() == 1) else {
        let _ = write!(
            text,
            "{what}{} of {total} cells missing: {}",
            missing.len(),
            list_cells(missing)
        );
        return text;
    };
    let mut by_shard: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &c in missing {
        by_shard.entry(c % n).or_default().push(c);
    }
    for (k, cells) in by_shard {
        if !text.is_empty() {
            text.push('\n');
        }
        let holder = dirs
            .iter()
            .find(|d| d.shard.is_some_and(|s| s.index == k && s.count == n));
        match holder {
            None => {
                let _ = write!(
                    text,
                    "{what}shard {k}/{n} is missing (no directory given ran it): cells {}",
                    list_cells(&cells)
                );
            }
            Some(d) => {
                let _ = write!(
                    text,
                    "{what}shard {k}/{n} in {} is incomplete ({} of its cells missing: {}); \
                     finish it with --resume",
                    d.path.display(),
                    cells.len(),
                    list_cells(&cells)
                );
            }
        }
    }
    text
}

/// `a, b, c` for at most twelve cells, else the first twelve and the count.
fn list_cells(cells: &[usize]) -> String {
    const SHOWN: usize = 12;
    let head: Vec<String> = cells.iter().take(SHOWN).map(usize::to_string).collect();
    if cells.len() > SHOWN {
        format!("{}, … ({} in all)", head.join(", "), cells.len())
    } else {
        head.join(", ")
    }
}

/// The error for missing cells, or Ok when none are.
fn refuse_missing(dirs: &[ShardDir], problems: &[String]) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let given: Vec<String> = dirs
        .iter()
        .map(|d| format!("{} ({})", d.path.display(), d.label()))
        .collect();
    Err(Error::Mismatch(format!(
        "cannot merge: cells are missing\n{}\n(directories given: {})",
        problems.join("\n"),
        given.join(", ")
    )))
}

/// The sweep recorded as `args.sweep` in the configurations of `dirs` (checked to be the same).
pub fn recorded_sweep(dirs: &[ShardDir]) -> Result<Sweep> {
    let first = dirs
        .first()
        .ok_or_else(|| Error::invalid("DIR", "give at least one directory to merge"))?;
    let table = first
        .get("args.sweep")
        .and_then(toml::Value::as_table)
        .ok_or_else(|| Error::File {
            path: first.path.join("config.toml").display().to_string(),
            message: "no [args.sweep] table: not the output of `ntk-perturb experiment`".into(),
        })?;
    SweepSpec::from_table(table)?.expand()
}

/// How many cells a merge combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeReport {
    /// Cells of the merged sweep(s).
    pub cells: usize,
    /// Directories merged.
    pub dirs: usize,
}

/// Merges the `results.csv` of the shards of `sweep` in `dirs` into `out/results.csv` (sorted by
/// cell) and writes `out/cells.csv` and the row lists, as [`Sweep::run_to_file`] and the
/// experiment command do. Refuses missing cells, naming them and their shards.
pub fn merge_sweep(sweep: &Sweep, dirs: &[ShardDir], out: &Path) -> Result<MergeReport> {
    let (merged, missing) = collect_cells(sweep, dirs, "")?;
    if !missing.is_empty() {
        let problem = missing_cells_message(dirs, sweep.cells().len(), &missing, "");
        refuse_missing(dirs, &[problem])?;
    }
    write_merged(sweep, &merged, out)?;
    sweep.write_cells(&out.join("cells.csv"))?;
    write_selected_rows(sweep, out)?;
    Ok(MergeReport {
        cells: sweep.cells().len(),
        dirs: dirs.len(),
    })
}

/// Writes `out/results.csv` from complete cells, sorted by cell.
fn write_merged(sweep: &Sweep, merged: &CellRecords, out: &Path) -> Result<()> {
    let records: Vec<Vec<String>> = merged.values().flatten().cloned().collect();
    write_records(&out.join("results.csv"), &sweep.header(), &records)
}

/// Merges the shards of a preset run (`reproduce NAME --shard k/n`, one directory per shard) into
/// `out`: every panel's results are merged into `out/<panel>/results.csv` (all panels are checked
/// before anything is written), then [`run_preset`] finishes the merged panels exactly as an
/// unsharded run does: panel configurations, cells, row lists, `summary.csv` and the figures.
/// `opts` must be the options the shards ran with, without a shard.
pub fn merge_preset(
    preset: &Preset,
    opts: &ReproduceOptions<'_>,
    dirs: &[ShardDir],
    out: &Path,
) -> Result<Vec<SummaryRow>> {
    if opts.shard.is_some() {
        return Err(Error::invalid(
            "--shard",
            "the merged run is the whole preset, not a shard",
        ));
    }
    let mut panels = Vec::with_capacity(preset.panels.len());
    let mut problems = Vec::new();
    for panel in &preset.panels {
        let sweep = panel_spec(preset, panel, opts)?.expand()?;
        let (merged, missing) = collect_cells(&sweep, dirs, &panel.name)?;
        if !missing.is_empty() {
            let what = format!("panel {}: ", panel.name);
            problems.push(missing_cells_message(
                dirs,
                sweep.cells().len(),
                &missing,
                &what,
            ));
        }
        panels.push((sweep, merged));
    }
    refuse_missing(dirs, &problems)?;
    for (panel, (sweep, merged)) in preset.panels.iter().zip(&panels) {
        let dir = out.join(&panel.name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        write_merged(sweep, merged, &dir)?;
    }
    run_preset(preset, out, opts)
}
