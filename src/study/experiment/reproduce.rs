//! Running a figure preset ([`super::presets`]): one resumable sweep per panel, a summary table of
//! mean ± standard deviation over seeds, and one plot per panel (SVG and PNG).
//!
//! With `lr_grid_max`, every cell also sweeps the authors' learning-rate grid (§7.2) and each metric
//! is first maximised over the grid, separately per metric and seed, as the authors did; the summary
//! labels such rows `lr-grid max` so they are never mistaken for a single training run.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use toml::Value;

use super::config::KEYS;
use super::presets::{Panel, Preset};
use super::sweep::{Shard, SweepOptions, SweepSpec};
use crate::error::{Error, Result};
use crate::plot::{LineChart, Series, line_chart};

/// How a preset is run.
#[derive(Clone, Copy)]
pub struct ReproduceOptions<'a> {
    /// Number of seeds per point.
    pub seeds: u64,
    /// Maximise each metric over the learning-rate grid before averaging over seeds.
    pub lr_grid_max: bool,
    /// Run only this shard's cells of every panel, and write neither summary nor figures (they come
    /// from [`super::merge::merge_preset`] once every shard is done).
    pub shard: Option<Shard>,
    /// Called with (panel index, cells finished, cells to run).
    pub progress: Option<&'a (dyn Fn(usize, usize, usize) + Sync)>,
}

/// One line of `summary.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    /// Preset name.
    pub preset: String,
    /// Panel name.
    pub panel: String,
    /// Swept key.
    pub key: String,
    /// Name of the plotted quantity x (`eps` when the key is `eps_per_coordinate`, …).
    pub x_name: String,
    /// Shown x value (the swept value × the panel's scale, e.g. ε = c·√d).
    pub x: f64,
    /// Metric name.
    pub metric: String,
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation over seeds (0 for one seed).
    pub std: f64,
    /// Median over seeds ([`crate::stats::quantile`] at ½).
    pub median: f64,
    /// First quartile over seeds (linear interpolation, as NumPy's default).
    pub q1: f64,
    /// Third quartile over seeds.
    pub q3: f64,
    /// Number of seeds.
    pub seeds: usize,
    /// `mean over seeds` or `lr-grid max, then mean over seeds`.
    pub aggregate: &'static str,
}

/// Runs every panel of `preset` into `dir/<panel>/results.csv` (resuming complete cells), writes
/// `dir/summary.csv` and `dir/<preset>-<panel>.svg/.png`, and returns the summary (empty for a
/// shard, which writes only the panels' files).
pub fn run_preset(
    preset: &Preset,
    dir: &Path,
    opts: &ReproduceOptions<'_>,
) -> Result<Vec<SummaryRow>> {
    let mut summary = Vec::new();
    for (index, panel) in preset.panels.iter().enumerate() {
        let panel_dir = dir.join(&panel.name);
        std::fs::create_dir_all(&panel_dir).map_err(|e| Error::io(&panel_dir, e))?;
        let results = panel_dir.join("results.csv");
        let sweep = panel_spec(preset, panel, opts)?.expand()?;
        write_panel_config(preset, panel, sweep.resolved(), &panel_dir)?;
        sweep.write_cells(&panel_dir.join("cells.csv"))?;
        super::selection::write_selected_rows(&sweep, &panel_dir)?;
        let progress = |done: usize, total: usize| {
            if let Some(p) = opts.progress {
                p(index, done, total);
            }
        };
        sweep.run_to_file(
            &results,
            &SweepOptions {
                shard: opts.shard,
                progress: Some(&progress),
            },
        )?;
        if opts.shard.is_some() {
            continue;
        }
        let rows = summarize_panel(preset, panel, &results, opts.lr_grid_max)?;
        plot_panel(
            preset,
            panel,
            &rows,
            &dir.join(format!("{}-{}", preset.name, panel.name)),
        )?;
        summary.extend(rows);
    }
    if opts.shard.is_none() {
        crate::io::write_rows(&dir.join("summary.csv"), &summary)?;
    }
    Ok(summary)
}

/// Writes `dir/config.toml`: the panel's sweep with every key resolved (swept keys as lists, data
/// files as absolute paths), in the flat format `experiment` reads, so that
/// `ntk-perturb experiment <panel>/config.toml` reruns the panel alone into the same results.csv.
pub fn write_panel_config(
    preset: &Preset,
    panel: &Panel,
    resolved: &toml::Table,
    dir: &Path,
) -> Result<()> {
    let mut table = resolved.clone();
    for key in ["train", "test"] {
        if let Some(Value::String(p)) = table.get(key) {
            let path = Path::new(p);
            let abs = path
                .canonicalize()
                .or_else(|_| std::path::absolute(path))
                .map_err(|e| Error::io(path, e))?;
            table.insert(key.into(), Value::String(abs.display().to_string()));
        }
    }
    // One `key = value` line per key, in the canonical key order of the configuration.
    let mut body = String::new();
    let mut keys: Vec<&String> = table.keys().collect();
    keys.sort_by_key(|k| KEYS.iter().position(|c| c == k).unwrap_or(KEYS.len()));
    for key in keys {
        body.push_str(&format!("{key} = {}\n", table[key.as_str()]));
    }
    let text = format!(
        "# Panel `{}` of `reproduce {}`: the sweep it ran, every key resolved ({} swept).\n\
         # Rerun it alone with: ntk-perturb experiment {}/config.toml --out DIR\n{body}",
        panel.name, preset.name, panel.key, panel.name
    );
    let path = dir.join("config.toml");
    crate::io::write_atomic(&path, |w| {
        w.write_all(text.as_bytes())
            .map_err(|e| Error::io(&path, e))
    })
}

/// The sweep of one panel: its key over its values, seeds, and the learning-rate grid if asked
/// (except for the learning rate a training-time panel fixes, as the authors did).
pub fn panel_spec(
    preset: &Preset,
    panel: &Panel,
    opts: &ReproduceOptions<'_>,
) -> Result<SweepSpec> {
    let mut spec = SweepSpec::from_run(&panel.base)?.vary(panel.key, panel.values.clone())?;
    if opts.lr_grid_max {
        let grid: Vec<Value> = preset.lr_grid.iter().map(|&v| Value::Float(v)).collect();
        if panel.key != "steps_f" {
            spec = spec.vary("lr_f", grid.clone())?;
        }
        if panel.key != "steps_g" {
            spec = spec.vary("lr_g", grid)?;
        }
    }
    spec.with_seeds(opts.seeds)
}

/// Reads a panel's results.csv and reduces it to mean ± sd over seeds per (x, metric).
fn summarize_panel(
    preset: &Preset,
    panel: &Panel,
    results: &Path,
    lr_grid_max: bool,
) -> Result<Vec<SummaryRow>> {
    let mut reader = csv::Reader::from_path(results).map_err(|e| csv_error(results, e))?;
    let headers = reader.headers().map_err(|e| csv_error(results, e))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::File {
                path: results.display().to_string(),
                message: format!("no column {name}"),
            })
    };
    let (key_col, seed_col, metric_col, value_col) =
        (col(panel.key)?, col("seed")?, col("metric")?, col("value")?);
    // (x, metric) → seed → best value over the learning-rate grid (or the single value).
    let mut by_point: BTreeMap<(OrderedX, String), BTreeMap<u64, f64>> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(results, e))?;
        let metric = record.get(metric_col).unwrap_or_default().to_string();
        if !preset.metrics.contains(&metric.as_str()) {
            continue;
        }
        let parse = |i: usize| record.get(i).and_then(|s| s.parse::<f64>().ok());
        let (Some(x), Some(seed), Some(value)) =
            (parse(key_col), parse(seed_col), parse(value_col))
        else {
            continue;
        };
        if !value.is_finite() {
            continue;
        }
        let slot = by_point
            .entry((OrderedX(x * panel.x_scale), metric))
            .or_default()
            .entry(seed as u64)
            .or_insert(f64::NEG_INFINITY);
        *slot = slot.max(value);
    }
    let aggregate = if lr_grid_max {
        "lr-grid max, then mean over seeds"
    } else {
        "mean over seeds"
    };
    Ok(by_point
        .into_iter()
        .map(|((x, metric), seeds)| {
            let values: Vec<f64> = seeds.into_values().collect();
            let (mean, std) = mean_std(&values);
            let quartile = |p: f64| crate::stats::quantile(&values, p);
            SummaryRow {
                preset: preset.name.to_string(),
                panel: panel.name.clone(),
                key: panel.key.to_string(),
                x_name: panel.x_name.to_string(),
                x: x.0,
                metric,
                mean,
                std,
                median: quartile(0.5),
                q1: quartile(0.25),
                q3: quartile(0.75),
                seeds: values.len(),
                aggregate,
            }
        })
        .collect())
}

pub use crate::stats::mean_std;

/// An x value ordered by `total_cmp`, for grouping.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedX(f64);
impl Eq for OrderedX {}
impl PartialOrd for OrderedX {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrderedX {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    Error::File {
        path: path.display().to_string(),
        message: format!("cannot read results: {e}"),
    }
}

/// Human names of the metrics in the legends.
fn legend(metric: &str) -> &str {
    match metric {
        "standard_train" => "standard (f on its training set)",
        "perturbation_train" => "perturbation (g on clean training set)",
        "agreement" => "agreement sgn f = sgn g (test)",
        "mean_abs_cos" => "mean |cos(η, weighted sum)|",
        other => other,
    }
}

fn plot_panel(preset: &Preset, panel: &Panel, rows: &[SummaryRow], stem: &Path) -> Result<()> {
    let series: Vec<Series> = preset
        .metrics
        .iter()
        .filter_map(|m| {
            let pts: Vec<&SummaryRow> = rows
                .iter()
                .filter(|r| r.metric == *m && r.mean.is_finite())
                .collect();
            (!pts.is_empty()).then(|| Series {
                label: legend(m).to_string(),
                points: pts.iter().map(|r| (r.x, r.mean)).collect(),
                errors: Some(pts.iter().map(|r| r.std).collect()),
            })
        })
        .collect();
    if series.is_empty() {
        return Ok(());
    }
    let log_x = panel.log_x && series.iter().all(|s| s.points.iter().all(|p| p.0 > 0.0));
    line_chart(
        &LineChart {
            title: format!("{} — {}", preset.title, panel.name),
            x_label: panel.x_label.clone(),
            y_label: if preset.metrics == super::presets::COSINE {
                "cosine similarity".into()
            } else {
                "accuracy / agreement".into()
            },
            log_x,
            y_range: Some((0.0, 1.02)),
            series,
        },
        stem,
    )
}
