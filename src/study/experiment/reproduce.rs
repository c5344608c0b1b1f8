//! Running a figure preset ([`super::presets`]): one resumable sweep per panel, a summary table of
//! mean ± standard deviation over seeds (and every seed's own value), and one plot per panel (SVG
//! and PNG).
//!
//! Every panel point is run with the finite-width network, the infinite-width theory
//! (`model = "theory"`, §3.3) or both ([`Models`]); with both, `model` is one more swept key of the
//! panel's sweep, so the panel's `results.csv` and `config.toml` hold both. A point whose run is
//! refused for lack of memory (the theory's N×N Gram matrix, [`crate::memory::ensure_fits`]) is
//! kept as a row with empty values and a note, in the table and in the figure.
//!
//! With `lr_grid_max`, every cell also sweeps the authors' learning-rate grid (§7.2) and each metric
//! is first maximised over the grid, separately per metric and seed, as the authors did; the summary
//! labels such rows `lr-grid max` so they are never mistaken for a single training run.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Serialize, Serializer};
use toml::Value;

use super::config::{KEYS, Model};
use super::presets::{Panel, Preset};
use super::sweep::{Shard, SweepOptions, SweepSpec};
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::perturbation::TargetKind;
use crate::plot::{LegendEntry, LineChart, LineStyle, Series, Spread, line_chart};

crate::named_enum! {
    /// Which models a preset runs at every panel point.
    pub enum Models {
        /// The finite-width network and the infinite-width theory side by side.
        Both = "both",
        /// The finite-width network trained by gradient descent (the simulation).
        Network = "network",
        /// The infinite-width linearised predictor (`model = "theory"`).
        Theory = "theory",
    }
}

impl Models {
    /// The models run, network first.
    pub fn list(self) -> &'static [Model] {
        match self {
            Models::Both => &[Model::Network, Model::Theory],
            Models::Network => &[Model::Network],
            Models::Theory => &[Model::Theory],
        }
    }
}

/// How a preset is run.
#[derive(Clone, Copy)]
pub struct ReproduceOptions<'a> {
    /// Number of seeds per point.
    pub seeds: u64,
    /// Maximise each metric over the learning-rate grid before averaging over seeds.
    pub lr_grid_max: bool,
    /// The models run at every point.
    pub models: Models,
    /// Draw every seed's curve as a thin line beside the mean (the table always has them).
    pub per_seed: bool,
    /// Target labels for every panel instead of the preset's (random, as in the authors' code).
    pub targets: Option<TargetKind>,
    /// Run only this shard's cells of every panel, and write neither summary nor figures (they come
    /// from [`super::merge::merge_preset`] once every shard is done).
    pub shard: Option<Shard>,
    /// Called with (panel index, cells finished, cells to run).
    pub progress: Option<&'a (dyn Fn(usize, usize, usize) + Sync)>,
}

/// The `aggregate` of a row of one seed.
pub const AGGREGATE_SEED: &str = "seed";
/// The `aggregate` of a row of one seed's maximum over the learning-rate grid.
pub const AGGREGATE_SEED_LR_MAX: &str = "lr-grid max, seed";
/// The `aggregate` of a row of statistics over seeds.
pub const AGGREGATE_MEAN: &str = "mean over seeds";
/// The `aggregate` of a row of statistics over seeds of maxima over the learning-rate grid.
pub const AGGREGATE_MEAN_LR_MAX: &str = "lr-grid max, then mean over seeds";

/// One line of `summary.csv`: statistics over the seeds of one (model, x, metric), or one seed's
/// own value (`aggregate` = `seed`, `seeds` = 1). Undefined numbers are empty cells.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    /// Preset name.
    pub preset: String,
    /// Panel name.
    pub panel: String,
    /// `network` or `theory`.
    pub model: &'static str,
    /// Swept key.
    pub key: String,
    /// Name of the plotted quantity x (`eps` when the key is `eps_per_coordinate`, …).
    pub x_name: String,
    /// Shown x value (the swept value × the panel's scale, e.g. ε = c·√d); empty for the
    /// ε thresholds, which belong to a seed, not to a point.
    #[serde(serialize_with = "finite_or_empty")]
    pub x: f64,
    /// Metric name.
    pub metric: String,
    /// Mean over the row's seeds (the value itself for one seed); empty when not evaluated.
    #[serde(serialize_with = "finite_or_empty")]
    pub mean: f64,
    /// Sample standard deviation over seeds (0 for one seed).
    #[serde(serialize_with = "finite_or_empty")]
    pub std: f64,
    /// Median over seeds ([`crate::stats::quantile`] at ½).
    #[serde(serialize_with = "finite_or_empty")]
    pub median: f64,
    /// First quartile over seeds (linear interpolation, as NumPy's default).
    #[serde(serialize_with = "finite_or_empty")]
    pub q1: f64,
    /// Third quartile over seeds.
    #[serde(serialize_with = "finite_or_empty")]
    pub q3: f64,
    /// Number of seeds the statistics are over (those evaluated).
    pub seeds: usize,
    /// `mean over seeds`, `seed`, or either after an `lr-grid max`.
    pub aggregate: &'static str,
    /// The seed of a row of one seed; empty for statistics over seeds.
    pub seed: Option<u64>,
    /// Why values are missing (a run refused for lack of memory), empty otherwise.
    pub note: String,
}

/// Writes a non-finite number as an empty cell.
fn finite_or_empty<S: Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_some(v)
    } else {
        s.serialize_none()
    }
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
        let report = sweep.run_to_file(
            &results,
            &SweepOptions {
                shard: opts.shard,
                progress: Some(&progress),
                record_out_of_memory: true,
            },
        )?;
        if opts.shard.is_some() {
            continue;
        }
        let notes: BTreeMap<usize, String> = report.not_evaluated.into_iter().collect();
        let rows = summarize_panel(preset, panel, &results, opts, &notes)?;
        let stem = dir.join(format!("{}-{}", preset.name, panel.name));
        plot_panel(preset, panel, &rows, opts, &stem)?;
        summary.extend(rows);
        summary.extend(threshold_rows(preset, panel, &results, opts, &stem)?);
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

/// The sweep of one panel: its key over its values, the models (a swept key `model` when both
/// are run), seeds, and the learning-rate grid if asked (except for the learning rate a
/// training-time panel fixes, as the authors did).
pub fn panel_spec(
    preset: &Preset,
    panel: &Panel,
    opts: &ReproduceOptions<'_>,
) -> Result<SweepSpec> {
    let mut base = panel.base.clone();
    if let Some(targets) = opts.targets {
        base.targets = targets;
    }
    let models = opts.models.list();
    base.model = models[0];
    let mut spec = SweepSpec::from_run(&base)?.vary(panel.key, panel.values.clone())?;
    if models.len() > 1 {
        let names = models
            .iter()
            .map(|m| Value::String(m.choice_name().into()))
            .collect();
        spec = spec.vary("model", names)?;
    }
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

/// One seed's value at one point: the value (its maximum over the learning-rate grid), or the
/// reason it was not evaluated.
#[derive(Debug, Clone)]
enum SeedValue {
    Value(f64),
    Missing(String),
}

/// (model, x, metric) of a summary point, ordered network first.
type PointKey = (usize, OrderedX, String);

/// Reads a panel's results.csv and reduces it, per (model, x, metric), to the statistics over seeds
/// and one row per seed. `notes` holds the cells refused for lack of memory, with the reason.
fn summarize_panel(
    preset: &Preset,
    panel: &Panel,
    results: &Path,
    opts: &ReproduceOptions<'_>,
    notes: &BTreeMap<usize, String>,
) -> Result<Vec<SummaryRow>> {
    let mut reader = csv::Reader::from_path(results).map_err(|e| csv_error(results, e))?;
    let headers = reader.headers().map_err(|e| csv_error(results, e))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let need = |name: &str| {
        col(name).ok_or_else(|| Error::File {
            path: results.display().to_string(),
            message: format!("no column {name}"),
        })
    };
    let (cell_col, key_col, seed_col, metric_col, value_col) = (
        need("cell")?,
        need(panel.key)?,
        need("seed")?,
        need("metric")?,
        need("value")?,
    );
    let models = opts.models.list();
    let model_col = col("model");
    let mut by_point: BTreeMap<PointKey, BTreeMap<u64, SeedValue>> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(results, e))?;
        let metric = record.get(metric_col).unwrap_or_default().to_string();
        if !preset.metrics.contains(&metric.as_str()) {
            continue;
        }
        let parse = |i: usize| record.get(i).and_then(|s| s.parse::<f64>().ok());
        let (Some(x), Some(seed), Some(cell)) = (
            parse(key_col),
            record.get(seed_col).and_then(|s| s.parse::<u64>().ok()),
            record.get(cell_col).and_then(|s| s.parse::<usize>().ok()),
        ) else {
            continue;
        };
        let model = model_index(models, model_col, &record);
        let Some(model) = model else {
            continue;
        };
        let value = parse(value_col).filter(|v| v.is_finite());
        let slot = by_point
            .entry((model, OrderedX(x * panel.x_scale), metric))
            .or_default()
            .entry(seed);
        match (value, notes.get(&cell)) {
            (Some(v), _) => {
                let best = match slot.or_insert(SeedValue::Value(v)) {
                    SeedValue::Value(b) => b,
                    missing @ SeedValue::Missing(_) => {
                        *missing = SeedValue::Value(v);
                        continue;
                    }
                };
                *best = best.max(v);
            }
            // Refused for lack of memory: missing unless another grid point has a value.
            (None, Some(note)) => {
                slot.or_insert_with(|| SeedValue::Missing(note.clone()));
            }
            // An undefined quantity (the cosine at ε = 0): no row, as for a NaN anywhere.
            (None, None) => {}
        }
    }
    let (mean_label, seed_label) = if opts.lr_grid_max {
        (AGGREGATE_MEAN_LR_MAX, AGGREGATE_SEED_LR_MAX)
    } else {
        (AGGREGATE_MEAN, AGGREGATE_SEED)
    };
    let mut rows = Vec::new();
    for ((model, x, metric), seeds) in by_point {
        let row = |values: &[f64], aggregate, seed, note: String| {
            let (mean, std) = if values.is_empty() {
                (f64::NAN, f64::NAN)
            } else {
                mean_std(values)
            };
            let quartile = |p: f64| {
                if values.is_empty() {
                    f64::NAN
                } else {
                    crate::stats::quantile(values, p)
                }
            };
            SummaryRow {
                preset: preset.name.to_string(),
                panel: panel.name.clone(),
                model: models[model].choice_name(),
                key: panel.key.to_string(),
                x_name: panel.x_name.to_string(),
                x: x.0,
                metric: metric.clone(),
                mean,
                std,
                median: quartile(0.5),
                q1: quartile(0.25),
                q3: quartile(0.75),
                seeds: values.len(),
                aggregate,
                seed,
                note,
            }
        };
        let values: Vec<f64> = seeds
            .values()
            .filter_map(|v| match v {
                SeedValue::Value(v) => Some(*v),
                SeedValue::Missing(_) => None,
            })
            .collect();
        let missing: Vec<&String> = seeds
            .values()
            .filter_map(|v| match v {
                SeedValue::Missing(note) => Some(note),
                SeedValue::Value(_) => None,
            })
            .collect();
        let note = match missing.first() {
            None => String::new(),
            Some(first) => format!(
                "not evaluated for {} of {} seeds: {first}",
                missing.len(),
                seeds.len()
            ),
        };
        rows.push(row(&values, mean_label, None, note));
        for (&seed, v) in &seeds {
            rows.push(match v {
                SeedValue::Value(v) => row(&[*v], seed_label, Some(seed), String::new()),
                SeedValue::Missing(note) => row(
                    &[],
                    seed_label,
                    Some(seed),
                    format!("not evaluated: {note}"),
                ),
            });
        }
    }
    Ok(rows)
}

pub use crate::stats::mean_std;

/// The `aggregate` of a correlation over seeds between predicted and observed ε thresholds.
pub const AGGREGATE_CORRELATION: &str = "correlation over seeds";

/// Per model and seed of an ε panel (a panel of `eps` or `eps_per_coordinate` in a preset that
/// draws agreement, without the learning-rate grid): the observed threshold `eps_threshold_obs`,
/// the smallest ε of the grid with agreement ≥ 0.9, beside the predicted ε* of §6.6
/// (`eps_threshold_pred`, the run's metric, the same at every ε of the seed), as rows of one seed
/// (x empty); then, per model, their means over seeds, the ratio pred/obs over the seeds with
/// obs > 0 (`eps_threshold_ratio`), the share of seeds whose ε* lies in the grid bracket
/// [ε_{k−1}, ε_k) of the observed ε_k, or at or above the grid's last ε where agreement never
/// reaches 0.9 (`eps_threshold_in_bracket`), and the Pearson and Spearman
/// correlations of pred and obs (`eps_threshold_pearson`, `eps_threshold_spearman`, in `mean`,
/// over the `seeds` where both are finite). Draws them as `<stem>-threshold.svg/.png`.
fn threshold_rows(
    preset: &Preset,
    panel: &Panel,
    results: &Path,
    opts: &ReproduceOptions<'_>,
    stem: &Path,
) -> Result<Vec<SummaryRow>> {
    use super::threshold::{LEVEL, OBS_METRIC, PRED_METRIC, observed};
    if !matches!(panel.key, "eps" | "eps_per_coordinate")
        || !preset.metrics.contains(&"agreement")
        || opts.lr_grid_max
    {
        return Ok(Vec::new());
    }
    let mut reader = csv::Reader::from_path(results).map_err(|e| csv_error(results, e))?;
    let headers = reader.headers().map_err(|e| csv_error(results, e))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(key_col), Some(seed_col), Some(metric_col), Some(value_col)) =
        (col(panel.key), col("seed"), col("metric"), col("value"))
    else {
        return Ok(Vec::new());
    };
    let models = opts.models.list();
    let model_col = col("model");
    let mut points: BTreeMap<(usize, u64), Vec<(f64, f64)>> = BTreeMap::new();
    let mut pred: BTreeMap<(usize, u64), f64> = BTreeMap::new();
    let mut grid: Vec<f64> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(results, e))?;
        let metric = record.get(metric_col).unwrap_or_default();
        if metric != "agreement" && metric != PRED_METRIC {
            continue;
        }
        let model = model_index(models, model_col, &record);
        let parse = |i: usize| record.get(i).and_then(|s| s.parse::<f64>().ok());
        let (Some(model), Some(x), Some(seed)) = (
            model,
            parse(key_col).map(|v| v * panel.x_scale),
            record.get(seed_col).and_then(|s| s.parse::<u64>().ok()),
        ) else {
            continue;
        };
        let Some(v) = parse(value_col).filter(|v| v.is_finite()) else {
            continue;
        };
        if metric == PRED_METRIC {
            pred.entry((model, seed)).or_insert(v);
        } else {
            points.entry((model, seed)).or_default().push((x, v));
            grid.push(x);
        }
    }
    grid.sort_by(f64::total_cmp);
    grid.dedup();
    let row = |model: usize, metric: &str, values: &[f64], aggregate, seed, note: String| {
        let (mean, std) = mean_std(values);
        let q = |p: f64| crate::stats::quantile(values, p);
        SummaryRow {
            preset: preset.name.to_string(),
            panel: panel.name.clone(),
            model: models[model].choice_name(),
            key: panel.key.to_string(),
            x_name: panel.x_name.to_string(),
            x: f64::NAN,
            metric: metric.to_string(),
            mean,
            std,
            median: q(0.5),
            q1: q(0.25),
            q3: q(0.75),
            seeds: values.len(),
            aggregate,
            seed,
            note,
        }
    };
    let top = grid.last().copied().unwrap_or(f64::NAN);
    let below = |o: f64| {
        grid.iter()
            .copied()
            .rfind(|g| *g < o)
            .unwrap_or(f64::NEG_INFINITY)
    };
    let mut rows = Vec::new();
    let mut series = Vec::new();
    let mut legend = Vec::new();
    for model in 0..models.len() {
        let seeds: Vec<u64> = points
            .keys()
            .filter(|k| k.0 == model)
            .map(|k| k.1)
            .collect();
        if seeds.is_empty() {
            continue;
        }
        let (mut obs_all, mut pred_all, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
        let mut inside = Vec::new();
        for &seed in &seeds {
            let obs = observed(&points[&(model, seed)], LEVEL);
            let p = pred.get(&(model, seed)).copied();
            let one = |v: Option<f64>, metric, why: &str| match v {
                Some(v) => row(
                    model,
                    metric,
                    &[v],
                    AGGREGATE_SEED,
                    Some(seed),
                    String::new(),
                ),
                None => row(model, metric, &[], AGGREGATE_SEED, Some(seed), why.into()),
            };
            rows.push(one(
                obs,
                OBS_METRIC,
                &format!("agreement below {LEVEL} at every ε of the grid (up to {top})"),
            ));
            rows.push(one(
                p,
                PRED_METRIC,
                "ε* undefined for this configuration or the predicted agreement never reaches \
                 0.9 (theory §6.6)",
            ));
            obs_all.extend(obs);
            pred_all.extend(p);
            if let (Some(o), Some(p)) = (obs, p) {
                pairs.push((o, p));
            }
            // ε* is an infimum (A ≥ 0.9 just above it), so a first grid point ε_k at the level
            // brackets it as ε_{k−1} ≤ ε* < ε_k; no point at the level means ε* ≥ the grid's last.
            if let Some(p) = p {
                inside.push(f64::from(u8::from(match obs {
                    Some(o) => p >= below(o) && p < o,
                    None => p >= top,
                })));
            }
        }
        rows.push(row(
            model,
            OBS_METRIC,
            &obs_all,
            AGGREGATE_MEAN,
            None,
            String::new(),
        ));
        rows.push(row(
            model,
            PRED_METRIC,
            &pred_all,
            AGGREGATE_MEAN,
            None,
            String::new(),
        ));
        let ratios: Vec<f64> = pairs
            .iter()
            .filter(|(o, _)| *o > 0.0)
            .map(|(o, p)| p / o)
            .collect();
        rows.push(row(
            model,
            "eps_threshold_ratio",
            &ratios,
            AGGREGATE_MEAN,
            None,
            String::new(),
        ));
        rows.push(row(
            model,
            "eps_threshold_in_bracket",
            &inside,
            AGGREGATE_MEAN,
            None,
            String::new(),
        ));
        let (o, p): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        let (r, rho) = (
            crate::stats::pearson(&o, &p),
            crate::stats::spearman(&o, &p),
        );
        for (metric, v) in [
            ("eps_threshold_pearson", r),
            ("eps_threshold_spearman", rho),
        ] {
            let mut c = row(
                model,
                metric,
                &[v],
                AGGREGATE_CORRELATION,
                None,
                String::new(),
            );
            c.seeds = pairs.len();
            (c.std, c.median, c.q1, c.q3) = (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
            rows.push(c);
        }
        if pairs.is_empty() {
            continue;
        }
        let name = models[model].choice_name();
        series.push(Series {
            label: format!("{name}: one seed ({} of {})", pairs.len(), seeds.len()),
            points: pairs.clone(),
            style: LineStyle::Markers,
            color: Some(model),
            ..Series::default()
        });
        legend.push(LegendEntry {
            label: format!(
                "{name}: Pearson {r:.3}, Spearman {rho:.3}, median ε*/obs {:.3} ({} seeds); \
                 ε* in the grid's bracket: {} of {}",
                crate::stats::quantile(&ratios, 0.5),
                pairs.len(),
                inside.iter().sum::<f64>(),
                inside.len()
            ),
            ..LegendEntry::default()
        });
    }
    if !series.is_empty() {
        let hi = series
            .iter()
            .flat_map(|s| s.points.iter().flat_map(|p| [p.0, p.1]))
            .fold(0.0, f64::max);
        let step = grid
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        series.push(Series {
            label: "ε* = observed".into(),
            points: vec![(0.0, 0.0), (hi, hi)],
            style: LineStyle::Thin,
            color: Some(5),
            ..Series::default()
        });
        if step.is_finite() {
            series.push(Series {
                label: "ε* = observed − grid step (the bracket's lower end)".into(),
                points: vec![(step, 0.0), (hi, hi - step)],
                style: LineStyle::ThinDashed,
                color: Some(5),
                ..Series::default()
            });
        }
        line_chart(
            &LineChart {
                title: format!(
                    "{}, {}: predicted against observed ε threshold",
                    preset.name, panel.name
                ),
                x_label: format!(
                    "observed threshold: smallest ε of the grid with agreement ≥ {LEVEL}"
                ),
                y_label: "predicted threshold ε* (theory §6.6)".into(),
                log_x: false,
                y_range: None,
                series,
                legend,
            },
            &with_threshold_suffix(stem),
        )?;
    }
    Ok(rows)
}

/// `<stem>-threshold`.
fn with_threshold_suffix(stem: &Path) -> std::path::PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push("-threshold");
    s.into()
}

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

/// `x` rounded to six significant digits.
fn round6(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(5 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
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

/// The panel's figure: per metric (one colour each), the network's mean over seeds as a solid line
/// with a ± sd band and the theory's mean as a dashed line; with `per_seed`, every seed's curve
/// as a thin line (dashed for the theory) beside them. Points that were not evaluated are named
/// in a note under the legend.
fn plot_panel(
    preset: &Preset,
    panel: &Panel,
    rows: &[SummaryRow],
    opts: &ReproduceOptions<'_>,
    stem: &Path,
) -> Result<()> {
    let models = opts.models.list();
    let mut series = Vec::new();
    for (color, m) in preset.metrics.iter().enumerate() {
        for (k, model) in models.iter().enumerate() {
            let name = model.choice_name();
            let of = |r: &&SummaryRow| r.metric == *m && r.model == name && r.mean.is_finite();
            let means: Vec<&SummaryRow> = rows
                .iter()
                .filter(|r| r.seed.is_none())
                .filter(of)
                .collect();
            if means.is_empty() {
                continue;
            }
            let network = *model == Model::Network;
            series.push(Series {
                label: if k == 0 {
                    legend(m).into()
                } else {
                    String::new()
                },
                points: means.iter().map(|r| (r.x, r.mean)).collect(),
                errors: network.then(|| means.iter().map(|r| r.std).collect()),
                style: if network {
                    LineStyle::Solid
                } else {
                    LineStyle::Dashed
                },
                spread: Spread::Band,
                color: Some(color),
            });
            if !opts.per_seed {
                continue;
            }
            let mut by_seed: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
            for r in rows.iter().filter(of) {
                if let Some(seed) = r.seed {
                    by_seed.entry(seed).or_default().push((r.x, r.mean));
                }
            }
            for points in by_seed.into_values() {
                series.push(Series {
                    points,
                    style: if network {
                        LineStyle::Thin
                    } else {
                        LineStyle::ThinDashed
                    },
                    color: Some(color),
                    ..Series::default()
                });
            }
        }
    }
    if series.is_empty() {
        return Ok(());
    }
    let style = |label: String, style, band| LegendEntry {
        label,
        style: Some(style),
        band,
        color: None,
    };
    let mut legend = Vec::new();
    let seeds = |n: u64| {
        if n == 1 {
            "1 seed".to_string()
        } else {
            format!("{n} seeds")
        }
    };
    if models.contains(&Model::Network) {
        legend.push(style(
            format!("network: mean ± sd over {}", seeds(opts.seeds)),
            LineStyle::Solid,
            true,
        ));
    }
    if models.contains(&Model::Theory) {
        legend.push(style(
            format!("theory (infinite width): mean over {}", seeds(opts.seeds)),
            LineStyle::Dashed,
            false,
        ));
    }
    if opts.per_seed {
        legend.push(style("one seed".into(), LineStyle::Thin, false));
    }
    for model in models {
        let name = model.choice_name();
        let mut xs: Vec<f64> = rows
            .iter()
            .filter(|r| r.seed.is_none() && r.model == name && !r.note.is_empty())
            .map(|r| r.x)
            .collect();
        xs.dedup();
        if !xs.is_empty() {
            // Six significant digits are enough to name a point.
            let list: Vec<String> = xs.iter().map(|x| format!("{}", round6(*x))).collect();
            legend.push(LegendEntry {
                label: format!(
                    "{name} not evaluated (out of memory) at {} = {}: see note in summary.csv",
                    panel.x_name,
                    list.join(", ")
                ),
                ..LegendEntry::default()
            });
        }
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
            legend,
        },
        stem,
    )
}

/// The index in `models` of the model named in column `model_col` of `record` (the first model
/// when the table has no model column); `None` for a model not in the list.
fn model_index(
    models: &[Model],
    model_col: Option<usize>,
    record: &csv::StringRecord,
) -> Option<usize> {
    match model_col {
        Some(c) => models
            .iter()
            .position(|m| Some(m.choice_name()) == record.get(c)),
        None => Some(0),
    }
}
