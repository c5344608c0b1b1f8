//! Sweeps: a [`RunConfig`] in which any key may be a list, expanded to the cartesian product of
//! its lists, run cell by cell in parallel and written to one tidy, resumable `results.csv`.
//!
//! **Expansion order.** The swept keys are taken in the canonical key order of
//! [`KEYS`] (`dataset, n, n_test, d, …, attack_steps, seed`), each key's
//! values in the order written. Cells enumerate the product lexicographically: the first swept key
//! varies slowest, `seed` fastest. Cell `i` keeps index `i` however the sweep is sharded or
//! resumed. `seeds = K` stands for `seed = [s, s+1, …, s+K−1]` with `s` the scalar `seed` (0 when
//! absent). A cell's `run_id` is `key=value` for every swept key and the seed, joined by `;`.
//!
//! **results.csv** has the columns `cell, run_id, seed, <every swept key but seed>, metric, value`,
//! one row per metric of [`METRICS`](super::pipeline::METRICS). Each finished cell's rows are appended and flushed together,
//! so an interrupted sweep leaves complete cells plus at most one partial trailing block. On start
//! the file is read back: a cell is complete when all its metric rows are present; partial rows are
//! dropped by rewriting the file atomically, and complete cells are skipped. When the run ends the
//! file is rewritten atomically sorted by cell, so its bytes do not depend on completion order or
//! on interruptions. Run concurrent shards in separate output directories.
//!
//! **Shared first stages.** Cells whose configurations differ only in
//! [`SECOND_STAGE_KEYS`](super::pipeline::SECOND_STAGE_KEYS) (ε, targets, attack, g's training)
//! share one [`FirstStage`](super::pipeline::FirstStage): the data and f are computed once per
//! group and each cell continues from them, with the results of running it on its own. Cells
//! whose configurations differ only in keys their run does not read
//! ([`unread_keys`](super::pipeline::unread_keys): the width of the theory, …) are computed once
//! and their rows written for each of them. First stages on the same data and kernel architecture
//! ([`data_stage_key`]) share one
//! [`DataStage`](super::pipeline::DataStage): the data files are read once per process, and what
//! depends on the data alone (the N×N matrix Φ_γ(X, X) behind the cosine metric's direction, the
//! surrogate f̂ and the test-set products of ĝ) is computed once for all of them.
//!
//! **Memory.** With [`SweepOptions::record_out_of_memory`], a cell refused for lack of memory
//! ([`Error::OutOfMemory`]) does not stop the sweep: its rows are written with empty values and
//! the refusal is returned in [`SweepReport::not_evaluated`]. Such a cell counts as incomplete
//! when the file is read back, so it is tried again on every run.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use rayon::prelude::*;

use super::config::{KEYS, RunConfig, unknown_key};
use super::pipeline::{
    RunResult, data_stage, data_stage_key, first_stage_from, first_stage_key, metric_names, run,
    run_from, run_key,
};
use crate::error::{Error, Result};
use crate::io::{push_f64, write_atomic};

/// The CSV records of a results file by cell index.
pub(super) type CellRecords = BTreeMap<usize, Vec<Vec<String>>>;

/// The extra key of a sweep: `seeds = K`.
pub const SEEDS_KEY: &str = "seeds";

/// A sweep before expansion: scalar keys, list-valued keys and an optional seed count.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    base: toml::Table,
    axes: Vec<(String, Vec<toml::Value>)>,
    seeds: Option<u64>,
}

/// One cell of an expanded sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Stable index in the expansion order.
    pub index: usize,
    /// `key=value` pairs of the swept keys and the seed, joined by `;`.
    pub run_id: String,
    /// The cell's seed.
    pub seed: u64,
    /// Values of the swept keys (without seed), in [`Sweep::swept_keys`] order.
    pub swept: Vec<String>,
    /// The configuration of the run.
    pub config: RunConfig,
}

/// An expanded, validated sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    swept_keys: Vec<String>,
    cells: Vec<Cell>,
    resolved: toml::Table,
}

/// One tidy row of results.
#[derive(Debug, Clone, PartialEq)]
pub struct TidyRow {
    /// Cell index.
    pub cell: usize,
    /// The cell's run id.
    pub run_id: String,
    /// The cell's seed.
    pub seed: u64,
    /// Values of the swept keys (without seed), in [`Sweep::swept_keys`] order.
    pub swept: Vec<String>,
    /// Metric name (one of [`METRICS`](super::pipeline::METRICS)).
    pub metric: &'static str,
    /// Its value (NaN when undefined).
    pub value: f64,
}

impl TidyRow {
    /// The CSV record of the row.
    pub fn record(&self) -> Vec<String> {
        let mut r = vec![
            self.cell.to_string(),
            self.run_id.clone(),
            self.seed.to_string(),
        ];
        r.extend(self.swept.iter().cloned());
        r.push(self.metric.to_string());
        let mut v = String::new();
        push_f64(&mut v, self.value);
        r.push(v);
        r
    }
}

/// Run cells with `cell % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// k in 0..n.
    pub index: usize,
    /// n ≥ 1.
    pub count: usize,
}

impl Shard {
    /// Parses `k/n` with 0 ≤ k < n.
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || {
            Error::invalid(
                "shard",
                format!("expected k/n with 0 ≤ k < n, got `{text}`"),
            )
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether the shard runs cell `cell`.
    pub fn contains(&self, cell: usize) -> bool {
        cell % self.count == self.index
    }
}

/// What a call of [`Sweep::run_to_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Cells of the whole sweep.
    pub total: usize,
    /// Cells of the shard.
    pub in_shard: usize,
    /// Shard cells already complete in results.csv.
    pub skipped: usize,
    /// Cells run now.
    pub ran: usize,
    /// Cells refused for lack of memory (with [`SweepOptions::record_out_of_memory`]), as (cell,
    /// the refusal's message), sorted by cell.
    pub not_evaluated: Vec<(usize, String)>,
}

/// Options of [`Sweep::run_to_file`].
#[derive(Default, Clone, Copy)]
pub struct SweepOptions<'a> {
    /// Only the cells of this shard.
    pub shard: Option<Shard>,
    /// Called with (cells finished, cells to run) after each cell.
    pub progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
    /// Record cells refused for lack of memory as empty values instead of failing (see the module
    /// documentation).
    pub record_out_of_memory: bool,
}

/// The text of a swept value in `run_id` and the CSV columns.
pub fn format_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => {
            let mut s = String::new();
            push_f64(&mut s, *f);
            s
        }
        toml::Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

fn key_rank(key: &str) -> usize {
    KEYS.iter().position(|k| *k == key).unwrap_or(KEYS.len())
}

fn all_keys() -> Vec<&'static str> {
    let mut k = KEYS.to_vec();
    k.push(SEEDS_KEY);
    k
}

impl SweepSpec {
    /// A sweep of one run (add lists with [`SweepSpec::vary`]).
    pub fn from_run(cfg: &RunConfig) -> Result<SweepSpec> {
        Self::from_table(&cfg.to_table()?)
    }

    /// Parses TOML text in which any key may be a list.
    pub fn from_toml_str(text: &str) -> Result<SweepSpec> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            Error::invalid("config", e.to_string().trim().to_string())
        })?;
        Self::from_table(&table)
    }

    /// Reads a TOML file. Every mistake is reported at once, each with its line, column and key
    /// ([`Error::Config`]); relative data paths are resolved from the file's folder (see
    /// [`super::config_file`]).
    pub fn from_file(path: &Path) -> Result<SweepSpec> {
        super::config_file::load(path)
    }

    /// Splits a table into scalar keys and list-valued keys; unknown keys are refused with the
    /// nearest valid key.
    pub fn from_table(table: &toml::Table) -> Result<SweepSpec> {
        let mut spec = SweepSpec {
            base: toml::Table::new(),
            axes: Vec::new(),
            seeds: None,
        };
        for (key, value) in table {
            if key == SEEDS_KEY {
                match value {
                    toml::Value::Integer(k) if *k >= 1 => spec.seeds = Some(*k as u64),
                    _ => {
                        return Err(Error::invalid(
                            SEEDS_KEY,
                            format!(
                                "must be a positive integer (the number of seeds), got {value}"
                            ),
                        ));
                    }
                }
                continue;
            }
            if !KEYS.contains(&key.as_str()) {
                return Err(unknown_key(key, &all_keys()));
            }
            match value {
                toml::Value::Array(list) => spec = spec.vary(key, list.clone())?,
                toml::Value::Table(_) => {
                    return Err(Error::invalid(
                        key.as_str(),
                        "expected a value or a list of values, not a table",
                    ));
                }
                _ => {
                    spec.base.insert(key.clone(), value.clone());
                }
            }
        }
        if spec.seeds.is_some() && spec.axes.iter().any(|(k, _)| k == "seed") {
            return Err(Error::invalid(
                SEEDS_KEY,
                "give either seeds = K or a list of seed values, not both",
            ));
        }
        Ok(spec)
    }

    /// Sweeps `key` over `values` (replacing a scalar or an earlier list of the same key).
    pub fn vary(mut self, key: &str, values: Vec<toml::Value>) -> Result<SweepSpec> {
        if !KEYS.contains(&key) {
            return Err(unknown_key(key, &all_keys()));
        }
        if values.is_empty() {
            return Err(Error::invalid(key, "the list of values is empty"));
        }
        if let Some(v) = values
            .iter()
            .find(|v| matches!(v, toml::Value::Array(_) | toml::Value::Table(_)))
        {
            return Err(Error::invalid(
                key,
                format!("list entries must be plain values, got {v}"),
            ));
        }
        self.base.remove(key);
        self.axes.retain(|(k, _)| k != key);
        self.axes.push((key.to_string(), values));
        self.axes.sort_by_key(|(k, _)| key_rank(k));
        Ok(self)
    }

    /// Sets the number of seeds: seeds s, s+1, …, s+K−1 from the scalar seed s.
    pub fn with_seeds(mut self, count: u64) -> Result<SweepSpec> {
        if count == 0 {
            return Err(Error::invalid(SEEDS_KEY, "must be at least 1"));
        }
        self.axes.retain(|(k, _)| k != "seed");
        self.seeds = Some(count);
        Ok(self)
    }

    /// Replaces the seed (a scalar or list) by `seed`; with `seeds = K`, `seed` becomes the first
    /// of the K seeds.
    pub fn override_seed(mut self, seed: u64) -> SweepSpec {
        self.axes.retain(|(k, _)| k != "seed");
        self.base
            .insert("seed".into(), toml::Value::Integer(seed as i64));
        self
    }

    /// The axes with `seeds = K` resolved into a seed list.
    fn resolved_axes(&self) -> Result<Vec<(String, Vec<toml::Value>)>> {
        let mut axes = self.axes.clone();
        if let Some(k) = self.seeds {
            let first = match self.base.get("seed") {
                None => 0,
                Some(toml::Value::Integer(s)) if *s >= 0 => *s,
                Some(other) => {
                    return Err(Error::invalid(
                        "seed",
                        format!("must be a non-negative integer, got {other}"),
                    ));
                }
            };
            let values = (0..k as i64)
                .map(|i| toml::Value::Integer(first + i))
                .collect();
            axes.push(("seed".into(), values));
            axes.sort_by_key(|(k, _)| key_rank(k));
        }
        Ok(axes)
    }

    /// Expands to the cartesian product of the lists and validates every cell; errors name the
    /// key (and the cell's run id when the value only fails in combination).
    pub fn expand(&self) -> Result<Sweep> {
        let axes = self.resolved_axes()?;
        let mut base = self.base.clone();
        if self.seeds.is_some() {
            base.remove("seed");
        }
        let total = axes
            .iter()
            .try_fold(1usize, |acc, (_, v)| acc.checked_mul(v.len()));
        let total = total.ok_or_else(|| Error::invalid("config", "too many cells"))?;
        let swept_keys: Vec<String> = axes
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| k != "seed")
            .collect();
        let mut cells = Vec::with_capacity(total);
        for index in 0..total {
            let (table, swept, mut pairs) = cell_table(&base, &axes, index);
            let config = RunConfig::from_table(&table).map_err(|e| match e {
                Error::InvalidArgument {
                    parameter: flag,
                    message,
                } if total > 1 => Error::InvalidArgument {
                    parameter: flag,
                    message: format!("{message} (in cell {index}: {})", pairs.join(";")),
                },
                other => other,
            })?;
            pairs.push(format!("seed={}", config.seed));
            cells.push(Cell {
                index,
                run_id: pairs.join(";"),
                seed: config.seed,
                swept,
                config,
            });
        }
        // The resolved sweep: every key of the first cell (defaults filled in), lists for swept keys.
        let mut resolved = match cells.first() {
            Some(c) => c.config.to_table()?,
            None => toml::Table::new(),
        };
        for (key, values) in &axes {
            resolved.insert(key.clone(), toml::Value::Array(values.clone()));
        }
        Ok(Sweep {
            swept_keys,
            cells,
            resolved,
        })
    }
}

impl SweepSpec {
    /// Every problem of every cell, at most one per key, as (key, message) in key order: unlike
    /// [`SweepSpec::expand`], which stops at the first. A problem of a swept key, or one that
    /// arises in some cells only, names the first cell it arises in.
    pub fn problems(&self) -> Vec<(String, String)> {
        let as_pair = |e: Error| match e {
            Error::InvalidArgument {
                parameter: flag,
                message,
            } => (flag, message),
            other => ("config".to_string(), other.to_string()),
        };
        let axes = match self.resolved_axes() {
            Ok(axes) => axes,
            Err(e) => return vec![as_pair(e)],
        };
        let mut base = self.base.clone();
        if self.seeds.is_some() {
            base.remove("seed");
        }
        let Some(total) = axes
            .iter()
            .try_fold(1usize, |acc, (_, v)| acc.checked_mul(v.len()))
        else {
            return vec![("config".into(), "too many cells".into())];
        };
        // key → (message, cell of its first occurrence, number of cells with a problem there).
        let mut found: Vec<(String, String, String, usize)> = Vec::new();
        for index in 0..total {
            let (table, _, pairs) = cell_table(&base, &axes, index);
            let problems = match RunConfig::from_table_unchecked(&table) {
                Ok(cfg) => cfg.problems(),
                Err(e) => vec![e],
            };
            for (key, message) in problems.into_iter().map(as_pair) {
                match found.iter_mut().find(|f| f.0 == key) {
                    Some(f) => f.3 += 1,
                    None => found.push((
                        key,
                        message,
                        format!("cell {index}: {}", pairs.join(";")),
                        1,
                    )),
                }
            }
        }
        found.sort_by_key(|f| key_rank(&f.0));
        found
            .into_iter()
            .map(|(key, message, cell, count)| {
                let swept = axes.iter().any(|(k, _)| *k == key);
                if total > 1 && (swept || count < total) {
                    (key, format!("{message} (in {cell})"))
                } else {
                    (key, message)
                }
            })
            .collect()
    }
}

/// Cell `index` of the product of `axes` (mixed radix, the last axis fastest): its table, the
/// texts of its swept values (without seed) and its `key=value` pairs (without seed).
fn cell_table(
    base: &toml::Table,
    axes: &[(String, Vec<toml::Value>)],
    index: usize,
) -> (toml::Table, Vec<String>, Vec<String>) {
    let mut rest = index;
    let mut choice = vec![0usize; axes.len()];
    for (a, (_, values)) in axes.iter().enumerate().rev() {
        choice[a] = rest % values.len();
        rest /= values.len();
    }
    let mut table = base.clone();
    let mut swept = Vec::new();
    let mut pairs = Vec::new();
    for (a, (key, values)) in axes.iter().enumerate() {
        let v = &values[choice[a]];
        table.insert(key.clone(), v.clone());
        let text = format_value(v);
        if key != "seed" {
            swept.push(text.clone());
            pairs.push(format!("{key}={text}"));
        }
    }
    (table, swept, pairs)
}

impl Sweep {
    /// The cells in expansion order.
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// Swept keys other than `seed`, in canonical order (the CSV columns between `seed` and `metric`).
    pub fn swept_keys(&self) -> &[String] {
        &self.swept_keys
    }

    /// The resolved sweep as a TOML table (defaults filled in, swept keys as lists); it expands to
    /// the same cells.
    pub fn resolved(&self) -> &toml::Table {
        &self.resolved
    }

    /// Header of results.csv.
    pub fn header(&self) -> Vec<String> {
        let mut h = vec!["cell".to_string(), "run_id".into(), "seed".into()];
        h.extend(self.swept_keys.iter().cloned());
        h.push("metric".into());
        h.push("value".into());
        h
    }

    /// Tidy rows of one cell's result.
    pub fn rows_of(&self, cell: &Cell, result: &RunResult) -> Vec<TidyRow> {
        result
            .rows()
            .into_iter()
            .map(|(metric, value)| TidyRow {
                cell: cell.index,
                run_id: cell.run_id.clone(),
                seed: cell.seed,
                swept: cell.swept.clone(),
                metric,
                value,
            })
            .collect()
    }

    /// The rows of a cell that was not evaluated: every metric with an empty value.
    fn rows_not_evaluated(&self, cell: &Cell) -> Vec<TidyRow> {
        metric_names(&cell.config)
            .into_iter()
            .map(|metric| TidyRow {
                cell: cell.index,
                run_id: cell.run_id.clone(),
                seed: cell.seed,
                swept: cell.swept.clone(),
                metric,
                value: f64::NAN,
            })
            .collect()
    }

    /// Runs one cell.
    pub fn run_cell(&self, cell: &Cell) -> Result<Vec<TidyRow>> {
        let result = run(&cell.config).map_err(|e| in_cell(e, cell))?;
        Ok(self.rows_of(cell, &result))
    }

    /// Runs the cells of `shard` (all when None) in parallel and returns their rows sorted by cell.
    pub fn run_in_memory(&self, shard: Option<Shard>) -> Result<Vec<TidyRow>> {
        let todo: Vec<&Cell> = self
            .cells
            .iter()
            .filter(|c| shard.is_none_or(|s| s.contains(c.index)))
            .collect();
        let done = Mutex::new(Vec::with_capacity(todo.len()));
        self.run_grouped(&todo, false, |cell, rows| {
            lock(&done)?.push((cell.index, rows));
            Ok(())
        })?;
        let mut done = done
            .into_inner()
            .map_err(|_| Error::numerical("sweep", "result list lock poisoned"))?;
        done.sort_by_key(|(index, _)| *index);
        Ok(done.into_iter().flat_map(|(_, rows)| rows).collect())
    }

    /// Runs `cells` in parallel and hands each cell's rows to `finished` as soon as it is done.
    /// Cells that share a [`first_stage_key`] (e.g. the ε values of one seed) are grouped: the
    /// group's first stage (data, f and what depends on f alone) is computed once and every cell
    /// of the group continues from it; cells that share a [`run_key`] are computed once. The
    /// results equal those of running each cell on its own. With `record_out_of_memory`, cells
    /// refused for lack of memory get empty rows and are returned with the refusal, sorted by cell.
    fn run_grouped<F>(
        &self,
        cells: &[&Cell],
        record_out_of_memory: bool,
        finished: F,
    ) -> Result<Vec<(usize, String)>>
    where
        F: Fn(&Cell, Vec<TidyRow>) -> Result<()> + Sync,
    {
        let groups = group_by_first_stage(cells)?;
        let missing = Mutex::new(Vec::new());
        let emit = |same: &[&Cell], result: Result<RunResult>| -> Result<()> {
            match result {
                Ok(result) => same
                    .iter()
                    .try_for_each(|cell| finished(cell, self.rows_of(cell, &result))),
                Err(e @ Error::OutOfMemory { .. }) if record_out_of_memory => {
                    let note = e.to_string();
                    same.iter().try_for_each(|cell| {
                        lock(&missing)?.push((cell.index, note.clone()));
                        finished(cell, self.rows_not_evaluated(cell))
                    })
                }
                Err(e) => Err(in_cell(e, same[0])),
            }
        };
        // Groups on the same data share its data stage; buckets of groups run in parallel, and so
        // do the groups of a bucket and the runs of a group.
        let buckets = group_by_data_stage(groups)?;
        // Read data files once before the buckets start, rather than in each at the same time.
        if buckets.len() > 1
            && let Some(lead) = buckets
                .iter()
                .map(|b| b[0][0][0])
                .find(|c| c.config.dataset == super::config::DatasetKind::File)
        {
            // An error is reported by the bucket that reads the files again.
            let _ = super::pipeline::load_data(&lead.config);
        }
        buckets.par_iter().try_for_each(|bucket| -> Result<()> {
            let lead = bucket[0][0][0];
            let data = match data_stage(&lead.config) {
                Ok(data) => data,
                Err(e) => {
                    let all: Vec<&Cell> = bucket.iter().flatten().flatten().copied().collect();
                    return emit(&all, Err(e));
                }
            };
            bucket.par_iter().try_for_each(|group| -> Result<()> {
                let configs: Vec<&RunConfig> = group.iter().map(|same| &same[0].config).collect();
                match first_stage_from(&data, &configs) {
                    Ok(first) => group
                        .par_iter()
                        .try_for_each(|same| emit(same, run_from(&same[0].config, &first))),
                    Err(e) => {
                        let all: Vec<&Cell> = group.iter().flatten().copied().collect();
                        emit(&all, Err(e))
                    }
                }
            })
        })?;
        let mut missing = missing
            .into_inner()
            .map_err(|_| Error::numerical("sweep", "note list lock poisoned"))?;
        missing.sort();
        Ok(missing)
    }

    /// Writes `cells.csv` (cell, run_id, seed, swept keys) atomically.
    pub fn write_cells(&self, path: &Path) -> Result<()> {
        let mut header = vec!["cell".to_string(), "run_id".into(), "seed".into()];
        header.extend(self.swept_keys.iter().cloned());
        let records: Vec<Vec<String>> = self
            .cells
            .iter()
            .map(|c| {
                let mut r = vec![c.index.to_string(), c.run_id.clone(), c.seed.to_string()];
                r.extend(c.swept.iter().cloned());
                r
            })
            .collect();
        write_records(path, &header, &records)
    }

    /// Runs the cells of the shard that `results` does not hold completely yet, appending each
    /// cell's rows as it finishes, then rewrites `results` sorted by cell (see the module docs).
    pub fn run_to_file(&self, results: &Path, opts: &SweepOptions<'_>) -> Result<SweepReport> {
        let header = self.header();
        let done = self.recover(results, &header)?;
        let in_shard: Vec<&Cell> = self
            .cells
            .iter()
            .filter(|c| opts.shard.is_none_or(|s| s.contains(c.index)))
            .collect();
        let todo: Vec<&Cell> = in_shard
            .iter()
            .copied()
            .filter(|c| !done.contains(&c.index))
            .collect();
        let file = OpenOptions::new()
            .append(true)
            .open(results)
            .map_err(|e| Error::io(results, e))?;
        let file = Mutex::new(file);
        let finished = std::sync::atomic::AtomicUsize::new(0);
        let total = todo.len();
        let not_evaluated = self.run_grouped(&todo, opts.record_out_of_memory, |_, rows| {
            let records: Vec<Vec<String>> = rows.iter().map(TidyRow::record).collect();
            let bytes = encode_records(None, &records).map_err(|e| Error::io(results, e))?;
            append_block(&mut *lock(&file)?, &bytes).map_err(|e| appended_error(results, e))?;
            let n = finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if let Some(p) = opts.progress {
                p(n, total);
            }
            Ok(())
        })?;
        drop(file);
        self.sort_file(results, &header)?;
        Ok(SweepReport {
            total: self.cells.len(),
            in_shard: in_shard.len(),
            skipped: in_shard.len() - todo.len(),
            ran: todo.len(),
            not_evaluated,
        })
    }

    /// Reads an existing results file, drops incomplete cells (rewriting the file atomically when
    /// it had any) and returns the complete cells. Creates the file with its header when absent.
    fn recover(&self, path: &Path, header: &[String]) -> Result<BTreeSet<usize>> {
        let (complete, dirty) = self.read_complete(path, header)?;
        if dirty {
            let kept: Vec<Vec<String>> = complete.values().flatten().cloned().collect();
            write_records(path, header, &kept)?;
        }
        Ok(complete.into_keys().collect())
    }

    /// The complete cells of the results file at `path` (by index, each with its records in file
    /// order; a missing file has none), and whether the file holds anything else: a missing header,
    /// a partial line, an incomplete or repeated cell. Only the first complete block of a cell
    /// counts. The file is not changed.
    pub(super) fn read_complete(
        &self,
        path: &Path,
        header: &[String],
    ) -> Result<(CellRecords, bool)> {
        let (records, dirty) = match std::fs::read(path) {
            Ok(bytes) if !bytes.is_empty() => self.read_records(path, &bytes, header)?,
            Ok(_) => (Vec::new(), true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), true),
            Err(e) => return Err(Error::io(path, e)),
        };
        let metric_col = header.len() - 2;
        let mut done = BTreeMap::new();
        let mut dropped = false;
        let mut i = 0;
        while i < records.len() {
            let cell = &records[i][0];
            let mut j = i;
            while j < records.len() && &records[j][0] == cell {
                j += 1;
            }
            let block = &records[i..j];
            let index: usize = cell
                .parse()
                .map_err(|_| bad_results(path, "a cell index is not a number"))?;
            let expected = self.cells.get(index).ok_or_else(|| {
                bad_results(path, &format!("cell {index} is not part of this sweep"))
            })?;
            if block.iter().any(|r| r[1] != expected.run_id) {
                return Err(bad_results(
                    path,
                    &format!(
                        "cell {index} has run_id `{}` but this sweep's cell {index} is `{}`",
                        block[0][1], expected.run_id
                    ),
                ));
            }
            // A block of empty values is a cell refused for lack of memory: tried again.
            let metrics = metric_names(&expected.config);
            let complete = block.len() == metrics.len()
                && block.iter().zip(&metrics).all(|(r, m)| r[metric_col] == *m)
                && block.iter().any(|r| !r[metric_col + 1].is_empty())
                && !done.contains_key(&index);
            if complete {
                done.insert(index, block.to_vec());
            } else {
                dropped = true;
            }
            i = j;
        }
        Ok((done, dirty || dropped))
    }

    /// Parses the complete lines of a results file; returns the records and whether a partial last
    /// line was found.
    fn read_records(
        &self,
        path: &Path,
        bytes: &[u8],
        header: &[String],
    ) -> Result<(Vec<Vec<String>>, bool)> {
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let partial = end < bytes.len();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&bytes[..end]);
        let mut records = Vec::new();
        let mut first = true;
        for rec in reader.records() {
            let rec = rec.map_err(|e| bad_results(path, &e.to_string()))?;
            let rec: Vec<String> = rec.iter().map(String::from).collect();
            if first {
                first = false;
                if rec != header {
                    return Err(bad_results(
                        path,
                        &format!(
                            "its header `{}` differs from this sweep's `{}`",
                            rec.join(","),
                            header.join(",")
                        ),
                    ));
                }
                continue;
            }
            if rec.len() != header.len() {
                // A torn line; drop it and everything of its cell.
                continue;
            }
            records.push(rec);
        }
        Ok((records, partial || first))
    }

    /// Rewrites the results file sorted by cell (stable: metric order within a cell is kept).
    fn sort_file(&self, path: &Path, header: &[String]) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let (mut records, _) = self.read_records(path, &bytes, header)?;
        records.sort_by_key(|r| r[0].parse::<usize>().unwrap_or(usize::MAX));
        write_records(path, header, &records)
    }
}

/// Appends one cell's rows; when the write fails (a full disk, a file-size limit) the file is cut
/// back to its length before the block, so it holds only complete cells.
fn append_block(file: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    let before = file.metadata()?.len();
    let written = file.write_all(bytes).and_then(|()| file.flush());
    if written.is_err() {
        // Best effort: a torn block that stays is dropped again by `recover` on --resume.
        let _ = file.set_len(before);
    }
    written
}

/// The error of a failed append to the results file of a sweep.
fn appended_error(path: &Path, source: std::io::Error) -> Error {
    Error::Write {
        path: path.display().to_string(),
        source,
        note: "the rows of the complete cells are kept: free some space, then run again with `resume`",
    }
}

/// Cells that share a run, runs that share a first stage, first stages that share a data stage.
type Buckets<'a> = Vec<Vec<Vec<Vec<&'a Cell>>>>;

/// Splits groups (of [`group_by_first_stage`]) into buckets with equal [`data_stage_key`]s, in
/// the order of their first group.
fn group_by_data_stage(groups: Vec<Vec<Vec<&Cell>>>) -> Result<Buckets<'_>> {
    let mut position: std::collections::HashMap<String, usize> = Default::default();
    let mut buckets: Buckets<'_> = Vec::new();
    for group in groups {
        let next = buckets.len();
        let b = *position
            .entry(data_stage_key(&group[0][0].config)?)
            .or_insert(next);
        if b == next {
            buckets.push(Vec::new());
        }
        buckets[b].push(group);
    }
    Ok(buckets)
}

/// Splits `cells` into groups with equal [`first_stage_key`]s, and each group into runs with
/// equal [`run_key`]s; groups, runs and cells in the order of their first cell.
fn group_by_first_stage<'a>(cells: &[&'a Cell]) -> Result<Vec<Vec<Vec<&'a Cell>>>> {
    let mut position: std::collections::HashMap<String, usize> = Default::default();
    let mut runs: std::collections::HashMap<String, (usize, usize)> = Default::default();
    let mut groups: Vec<Vec<Vec<&Cell>>> = Vec::new();
    for &cell in cells {
        let next = groups.len();
        let g = *position
            .entry(first_stage_key(&cell.config)?)
            .or_insert(next);
        if g == next {
            groups.push(Vec::new());
        }
        let next = groups[g].len();
        let (_, r) = *runs.entry(run_key(&cell.config)?).or_insert((g, next));
        if r == next {
            groups[g].push(Vec::new());
        }
        groups[g][r].push(cell);
    }
    Ok(groups)
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    m.lock()
        .map_err(|_| Error::numerical("sweep", "a lock was poisoned by a failed cell"))
}

fn in_cell(e: Error, cell: &Cell) -> Error {
    match e {
        Error::Numerical { context, message } => Error::Numerical {
            context: format!("{context} (cell {}: {})", cell.index, cell.run_id),
            message,
        },
        other => other,
    }
}

fn bad_results(path: &Path, message: &str) -> Error {
    Error::File {
        path: path.display().to_string(),
        message: format!("not the results of this sweep: {message}; use `force` to start over"),
    }
}

/// CSV bytes of an optional header and records.
fn encode_records(header: Option<&[String]>, records: &[Vec<String>]) -> std::io::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    if let Some(h) = header {
        w.write_record(h)?;
    }
    for r in records {
        w.write_record(r)?;
    }
    w.into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Writes a header and records as CSV, atomically.
pub(super) fn write_records(path: &Path, header: &[String], records: &[Vec<String>]) -> Result<()> {
    let bytes = encode_records(Some(header), records).map_err(|e| Error::io(path, e))?;
    write_atomic(path, |w| {
        w.write_all(&bytes).map_err(|e| Error::io(path, e))
    })
}
