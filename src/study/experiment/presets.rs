//! Every accuracy and cosine figure of the paper's experiments (§7.3) as a preset.
//!
//! A preset is a list of panels. Each panel is one configuration key swept over the values of §7.3,
//! every other key at the figure's base setting, run for several seeds. `quick` presets shrink the
//! data, widths and grids so that a preset finishes in about a minute on two cores; the full presets
//! use the paper's settings (hours for the largest). Training follows the authors' code (§3.2):
//! full-batch SGD with momentum 0.9, "T" counted in epochs (= steps), identity loss, γ = 0.

use std::path::PathBuf;

use toml::Value;

use super::config::{DatasetKind, RunConfig, Scenario};
use crate::data::Center;
use crate::error::{Error, Result};
use crate::perturbation::eps_from_per_coordinate;

/// One panel: a key swept over values, every other key at `base`.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Short name used in file names (`eps`, `width`, …).
    pub name: String,
    /// The swept configuration key.
    pub key: &'static str,
    /// Its values.
    pub values: Vec<Value>,
    /// Shown x = value × `x_scale` (e.g. ε = c·√d when `eps_per_coordinate` is swept).
    pub x_scale: f64,
    /// Name of the plotted quantity x (`eps`, `d`, `width`, …; the `x_name` column of
    /// summary.csv), which differs from `key` when x is not the swept value itself.
    pub x_name: &'static str,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// x-axis label.
    pub x_label: String,
    /// Configuration of every other key.
    pub base: RunConfig,
}

/// A figure: panels sharing metrics, a title and a learning-rate grid.
#[derive(Debug, Clone)]
pub struct Preset {
    /// Preset name (`shifted-gauss-a`, …).
    pub name: &'static str,
    /// Figure title.
    pub title: String,
    /// Panels.
    pub panels: Vec<Panel>,
    /// Metrics drawn in each panel (names of `experiment::METRICS`).
    pub metrics: &'static [&'static str],
    /// The authors' learning-rate grid for lr_f and lr_g (§7.2), used with `--lr-grid-max`.
    pub lr_grid: Vec<f64>,
}

/// Names of the presets, in the order of §7.3.
pub const NAMES: &[&str] = &[
    "shifted-gauss-a",
    "shifted-gauss-b",
    "gauss-a",
    "gauss-b",
    "mnist-a",
    "mnist-b",
    "fmnist-a",
    "fmnist-b",
    "cossim",
    "maps",
];

/// Metrics of the accuracy figures: "standard", "perturbation" and "agreement" of §7.2.
pub const ACCURACY: &[&str] = &["standard_train", "perturbation_train", "agreement"];
/// Metric of the cosine figure.
pub const COSINE: &[&str] = &["mean_abs_cos"];

fn ints(v: impl IntoIterator<Item = i64>) -> Vec<Value> {
    v.into_iter().map(Value::Integer).collect()
}

fn floats(v: impl IntoIterator<Item = f64>) -> Vec<Value> {
    v.into_iter().map(Value::Float).collect()
}

/// start, start+step, …, ≤ end.
fn span(start: i64, end: i64, step: i64) -> Vec<i64> {
    (start..=end).step_by(step.max(1) as usize).collect()
}

/// k·step for k = 0..=count (a grid from 0).
fn grid_from_zero(step: f64, count: usize) -> Vec<f64> {
    (0..=count).map(|k| k as f64 * step).collect()
}

/// Swept values of the synthetic panels: d, c (ε = c√d), m, γ, N, T_f, T_g.
type SyntheticGrids = (
    Vec<i64>,
    Vec<f64>,
    Vec<i64>,
    Vec<f64>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
);
/// Swept values of the real-data panels: ε, m, γ, T_f, T_g.
type RealGrids = (Vec<f64>, Vec<i64>, Vec<f64>, Vec<i64>, Vec<i64>);

/// §7.3 sizes of one synthetic figure: (d, width, N, c with ε = c√d).
struct Synthetic {
    kind: DatasetKind,
    scenario: Scenario,
    d: usize,
    n: usize,
    c: f64,
    seed: u64,
    lr_tf: f64,
}

fn synthetic_base(s: &Synthetic, quick: bool) -> RunConfig {
    let (d, n) = if quick {
        (s.d.min(100), s.n.min(400))
    } else {
        (s.d, s.n)
    };
    RunConfig {
        dataset: s.kind,
        n: Some(n),
        n_test: if quick { 400 } else { 1000 },
        d: Some(d),
        width: 100,
        lr_f: 1.0,
        lr_g: 1.0,
        steps_f: if quick { 100 } else { 1000 },
        steps_g: if quick { 100 } else { 1000 },
        momentum: 0.9,
        scenario: s.scenario,
        eps_per_coordinate: Some(s.c),
        seed: s.seed,
        ..RunConfig::default()
    }
}

fn panel(
    name: &str,
    key: &'static str,
    values: Vec<Value>,
    log_x: bool,
    x_label: &str,
    base: &RunConfig,
) -> Panel {
    Panel {
        name: name.to_string(),
        key,
        values,
        x_scale: 1.0,
        x_name: x_name_of(key),
        log_x,
        x_label: x_label.to_string(),
        base: base.clone(),
    }
}

/// The plotted quantity of a panel sweeping `key` with x = value × `x_scale`: ε for both ways
/// of giving the perturbation size, training time in epochs (one full-batch step is one epoch)
/// for the step counts, else the key itself.
pub fn x_name_of(key: &'static str) -> &'static str {
    match key {
        "eps" | "eps_per_coordinate" => "eps",
        "steps_f" => "epochs_f",
        "steps_g" => "epochs_g",
        other => other,
    }
}

/// The width panel shared by every figure.
fn width_panel(widths: Vec<i64>, base: &RunConfig) -> Panel {
    panel("width", "width", ints(widths), true, "width m", base)
}

/// The Leaky-ReLU slope panel shared by every figure.
fn gamma_panel(gammas: Vec<f64>, base: &RunConfig) -> Panel {
    panel(
        "gamma",
        "gamma",
        floats(gammas),
        false,
        "Leaky-ReLU slope γ",
        base,
    )
}

/// The shared panels of the synthetic figures: d (ε = c√d), ε, m, γ, N, T_f, T_g.
fn synthetic_panels(s: &Synthetic, quick: bool) -> Vec<Panel> {
    let base = synthetic_base(s, quick);
    let (ds, cs, widths, gammas, ns, tf, tg): SyntheticGrids = if quick {
        (
            vec![10, 25, 50, 100],
            vec![0.0, s.c / 4.0, s.c / 2.0, s.c],
            vec![10, 100, 1000],
            vec![0.0, 0.5, 0.99],
            vec![20, 100, 400],
            vec![1, 3, 10],
            vec![1, 10, 100],
        )
    } else {
        let mut ds = span(10, 100, 10);
        if s.d > 100 {
            ds.extend(span(200, 1000.min(s.d as i64), 100));
        }
        if s.d > 1000 {
            ds.extend(span(2000, s.d as i64, 1000));
        }
        let mut widths: Vec<i64> = span(1, 10, 1);
        widths.extend(span(20, 100, 10));
        widths.extend(span(200, 1000, 100));
        let mut ns: Vec<i64> = vec![2, 4, 6, 8, 10];
        ns.extend(span(20, 100, 10));
        ns.extend(span(200, 1000, 100));
        ns.extend(span(2000, s.n as i64, 1000));
        let mut tg: Vec<i64> = span(1, 10, 1);
        tg.extend(span(20, 100, 10));
        (
            ds,
            grid_from_zero(s.c / 10.0, 10),
            widths,
            vec![0.0, 0.25, 0.5, 0.75, 0.99],
            ns,
            span(1, 10, 1),
            tg,
        )
    };
    let mut eps = panel(
        "eps",
        "eps_per_coordinate",
        floats(cs),
        false,
        "perturbation size ε",
        &base,
    );
    // Shown as ε: the per-coordinate c times ε/c of the base's norm (√d for L2).
    eps.x_scale = eps_from_per_coordinate(1.0, base.d.unwrap_or(s.d), base.norm);
    let mut tf_base = base.clone();
    tf_base.lr_f = s.lr_tf;
    let mut tg_base = base.clone();
    tg_base.lr_g = s.lr_tf;
    vec![
        panel(
            "d",
            "d",
            ints(ds),
            true,
            "input dimension d (ε = c√d)",
            &base,
        ),
        eps,
        width_panel(widths, &base),
        gamma_panel(gammas, &base),
        panel(
            "n",
            "n",
            ints(ns.into_iter().filter(|v| v % 2 == 0)),
            true,
            "training samples N",
            &base,
        ),
        panel(
            "tf",
            "steps_f",
            ints(tf),
            true,
            "epochs of f (steps, the paper's T_f)",
            &tf_base,
        ),
        panel(
            "tg",
            "steps_g",
            ints(tg),
            true,
            "epochs of g (steps, the paper's T_g)",
            &tg_base,
        ),
    ]
}

/// The directory of the shipped datasets: ./data when run from the repository (and `file` is
/// there), else the build's own data/.
pub fn shipped_data_dir(file: &str) -> PathBuf {
    let local = PathBuf::from("data");
    if local.join(file).exists() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
    }
}

/// The real-data figure bases (§7.3): MNIST 1-vs-2 or Fashion-MNIST 0-vs-9 from `data/`.
fn real_base(
    files: (&str, &str),
    scenario: Scenario,
    eps: f64,
    seed: u64,
    quick: bool,
) -> RunConfig {
    let root = shipped_data_dir(files.0);
    RunConfig {
        dataset: DatasetKind::File,
        train: Some(root.join(files.0)),
        test: Some(root.join(files.1)),
        scale: Some(255.0),
        center: Some(Center::Scalar),
        subset: quick.then_some(1000),
        test_subset: quick.then_some(500),
        width: 100,
        lr_f: 0.01,
        lr_g: 0.01,
        steps_f: 100,
        steps_g: 100,
        momentum: 0.9,
        scenario,
        eps: Some(eps),
        seed,
        ..RunConfig::default()
    }
}

fn real_panels(
    files: (&str, &str),
    scenario: Scenario,
    seed: u64,
    eps_values: Vec<f64>,
    quick: bool,
) -> Vec<Panel> {
    let base = real_base(files, scenario, 0.14, seed, quick);
    let (eps, widths, gammas, tf, tg): RealGrids = if quick {
        let e: Vec<f64> = vec![
            eps_values[0],
            eps_values[eps_values.len() / 2],
            eps_values[eps_values.len() - 1],
        ];
        (
            e,
            vec![10, 100, 1000],
            vec![0.0, 0.5, 0.99],
            vec![10, 100],
            vec![10, 100],
        )
    } else {
        let mut widths = span(10, 100, 10);
        widths.extend(span(200, 1000, 100));
        let mut t = span(1, 10, 1);
        t.extend(span(20, 100, 10));
        (
            eps_values,
            widths,
            vec![0.0, 0.25, 0.5, 0.75, 0.99],
            t.clone(),
            t,
        )
    };
    vec![
        panel(
            "eps",
            "eps",
            floats(eps),
            false,
            "perturbation size ε",
            &base,
        ),
        width_panel(widths, &base),
        gamma_panel(gammas, &base),
        panel(
            "tf",
            "steps_f",
            ints(tf),
            true,
            "epochs of f (steps, the paper's T_f)",
            &base,
        ),
        panel(
            "tg",
            "steps_g",
            ints(tg),
            true,
            "epochs of g (steps, the paper's T_g)",
            &base,
        ),
    ]
}

const MNIST: (&str, &str) = ("mnist_1v2_train.csv.gz", "mnist_1v2_test.csv.gz");
const FMNIST: (&str, &str) = ("fmnist_0v9_train.csv.gz", "fmnist_0v9_test.csv.gz");

fn accuracy_preset(
    name: &'static str,
    title: &str,
    panels: Vec<Panel>,
    lr_grid: Vec<f64>,
) -> Preset {
    Preset {
        name,
        title: title.to_string(),
        panels,
        metrics: ACCURACY,
        lr_grid,
    }
}

/// The cosine-similarity figure: mean |cos(η_n, Σ_k y_k Φ(x_n, x_k) x_k)| for scenario (a) runs,
/// against d and T_f (synthetic) and against T_f (real data).
fn cossim(quick: bool) -> Preset {
    let sg = Synthetic {
        kind: DatasetKind::ShiftedGauss,
        scenario: Scenario::A,
        d: 100,
        n: 1000,
        c: 0.001,
        seed: 0,
        lr_tf: 0.1,
    };
    let ga = Synthetic {
        kind: DatasetKind::Gauss,
        scenario: Scenario::A,
        d: 10_000,
        n: 10_000,
        c: 0.001,
        seed: 0,
        lr_tf: 0.1,
    };
    let pick = |s: &Synthetic, names: &[&str]| -> Vec<Panel> {
        synthetic_panels(s, quick)
            .into_iter()
            .filter(|p| names.contains(&p.name.as_str()))
            .collect()
    };
    let mut panels = Vec::new();
    for (label, s) in [("shifted-gauss", &sg), ("gauss", &ga)] {
        for mut p in pick(s, &["d", "tf"]) {
            p.name = format!("{label}-{}", p.name);
            panels.push(p);
        }
    }
    for (label, files) in [("mnist", MNIST), ("fmnist", FMNIST)] {
        for mut p in real_panels(files, Scenario::A, 0, vec![0.14], quick)
            .into_iter()
            .filter(|p| p.name == "tf")
        {
            p.name = format!("{label}-{}", p.name);
            panels.push(p);
        }
    }
    Preset {
        name: "cossim",
        title: "Cosine similarity of perturbations and the weighted sum of training samples".into(),
        panels,
        metrics: COSINE,
        lr_grid: vec![1.0, 0.1],
    }
}

/// The preset `name`, quick or at the paper's full settings.
pub fn preset(name: &str, quick: bool) -> Result<Preset> {
    let synthetic = |kind, scenario, d, n, c, seed, lr_tf| Synthetic {
        kind,
        scenario,
        d,
        n,
        c,
        seed,
        lr_tf,
    };
    let steps = |c: f64| grid_from_zero(c, 10);
    let Some(&name) = NAMES.iter().find(|n| **n == name) else {
        let near = super::config::nearest_key(name, NAMES)
            .map(|k| format!("; did you mean {k}?"))
            .unwrap_or_default();
        return Err(Error::invalid(
            "NAME",
            format!(
                "unknown preset {name:?}{near} (presets: {})",
                NAMES.join(", ")
            ),
        ));
    };
    Ok(match name {
        "shifted-gauss-a" => accuracy_preset(
            name,
            "Shifted Gauss, scenario (a): perturbations only",
            synthetic_panels(
                &synthetic(
                    DatasetKind::ShiftedGauss,
                    Scenario::A,
                    100,
                    1000,
                    0.001,
                    0,
                    0.1,
                ),
                quick,
            ),
            vec![1.0, 0.1],
        ),
        "shifted-gauss-b" => accuracy_preset(
            name,
            "Shifted Gauss, scenario (b): adversarial examples",
            synthetic_panels(
                &synthetic(
                    DatasetKind::ShiftedGauss,
                    Scenario::B,
                    5000,
                    10_000,
                    0.01,
                    1,
                    0.01,
                ),
                quick,
            ),
            vec![1.0, 0.1],
        ),
        "gauss-a" => accuracy_preset(
            name,
            "Gauss, scenario (a): perturbations only",
            synthetic_panels(
                &synthetic(
                    DatasetKind::Gauss,
                    Scenario::A,
                    10_000,
                    10_000,
                    0.001,
                    0,
                    0.1,
                ),
                quick,
            ),
            vec![1.0, 0.1],
        ),
        "gauss-b" => accuracy_preset(
            name,
            "Gauss, scenario (b): adversarial examples",
            synthetic_panels(
                &synthetic(DatasetKind::Gauss, Scenario::B, 10_000, 10_000, 0.1, 0, 0.1),
                quick,
            ),
            vec![1.0, 0.1],
        ),
        "mnist-a" => accuracy_preset(
            name,
            "MNIST 1 vs 2, scenario (a): perturbations only",
            real_panels(
                MNIST,
                Scenario::A,
                0,
                (2..=10).map(|k| 0.014 * k as f64).collect(),
                quick,
            ),
            vec![0.01, 0.001],
        ),
        "mnist-b" => accuracy_preset(
            name,
            "MNIST 1 vs 2, scenario (b): adversarial examples",
            real_panels(MNIST, Scenario::B, 1, steps(0.014), quick),
            vec![0.01, 0.001],
        ),
        "fmnist-a" => accuracy_preset(
            name,
            "Fashion-MNIST T-shirt vs ankle boot, scenario (a)",
            real_panels(FMNIST, Scenario::A, 0, steps(0.014), quick),
            vec![0.01, 0.001],
        ),
        "fmnist-b" => accuracy_preset(
            name,
            "Fashion-MNIST T-shirt vs ankle boot, scenario (b)",
            real_panels(FMNIST, Scenario::B, 2, steps(0.014), quick),
            vec![0.01, 0.001],
        ),
        "cossim" => cossim(quick),
        _ => {
            return Err(Error::invalid(
                "NAME",
                format!("{name} is the decision-map figure: see experiment::maps"),
            ));
        }
    })
}
