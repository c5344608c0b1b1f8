//! The decision-map figure (§7.3): f and g on the plane spanned by the class means.
//!
//! With e1 = the normalised mean of the positive training samples and e2 = that of the negative
//! ones, the grid z = c1·e1 + c2·e2 (c1, c2 over the panel's range) is evaluated by the trained f
//! and g; the map shows where sgn f = sgn g, the zero sets of the authors' surrogates f̂ and ĝ
//! (§6.2, here with the exact closed-form Φ_γ instead of a 100-sample Monte-Carlo estimate) and the
//! training samples projected onto the plane.

use std::path::Path;

use faer::{Mat, MatRef};
use serde::Serialize;

use super::conditions::{surrogate_f, surrogate_g};
use super::config::{DatasetKind, RunConfig, Scenario};
use super::pipeline::run_detailed;
use crate::data::Center;
use crate::error::{Error, Result};
use crate::plot::{DecisionMap, decision_map};

/// One panel of the map figure: a run configuration and the plotted range of (c1, c2).
#[derive(Debug, Clone)]
pub struct MapPanel {
    /// Short name (`shifted-gauss-a`, …).
    pub name: &'static str,
    /// The run.
    pub config: RunConfig,
    /// Range of both plane coordinates.
    pub range: (f64, f64),
}

/// One grid point of a map (the rows of `<panel>.csv`).
#[derive(Debug, Clone, Serialize)]
pub struct MapPoint {
    /// Coordinate along e1.
    pub c1: f64,
    /// Coordinate along e2.
    pub c2: f64,
    /// f(z).
    pub f: f64,
    /// g(z).
    pub g: f64,
    /// The surrogate f̂(z).
    pub f_hat: f64,
    /// The surrogate ĝ(z).
    pub g_hat: f64,
}

/// Summary of one map: the share of the grid where f and g (or f̂ and ĝ) agree in sign.
#[derive(Debug, Clone, Serialize)]
pub struct MapSummary {
    /// Panel name.
    pub panel: String,
    /// Fraction of grid points with sgn f = sgn g.
    pub agreement_f_g: f64,
    /// Fraction of grid points with sgn f̂ = sgn ĝ.
    pub agreement_surrogates: f64,
    /// Agreement of f and g on the run's test set.
    pub agreement_test: f64,
}

/// A synthetic panel: (d, m, N) and (ε, lr, epochs, seed) of the §7.3 map table.
fn synthetic(
    kind: DatasetKind,
    scenario: Scenario,
    (d, m, n): (usize, usize, usize),
    (eps, lr, steps, seed): (f64, f64, usize, u64),
) -> RunConfig {
    RunConfig {
        dataset: kind,
        n: Some(n),
        n_test: 1000,
        d: Some(d),
        width: m,
        lr_f: lr,
        lr_g: lr,
        steps_f: steps,
        steps_g: steps,
        momentum: 0.9,
        scenario,
        eps: Some(eps),
        seed,
        ..RunConfig::default()
    }
}

fn real(
    files: (&str, &str),
    scenario: Scenario,
    eps: f64,
    lr: f64,
    steps: usize,
    seed: u64,
) -> RunConfig {
    let root = super::presets::shipped_data_dir(files.0);
    RunConfig {
        dataset: DatasetKind::File,
        train: Some(root.join(files.0)),
        test: Some(root.join(files.1)),
        scale: Some(255.0),
        center: Some(Center::Scalar),
        width: 1000,
        lr_f: lr,
        lr_g: lr,
        steps_f: steps,
        steps_g: steps,
        momentum: 0.9,
        scenario,
        eps: Some(eps),
        seed,
        ..RunConfig::default()
    }
}

/// The eight panels of the map figure (§7.3 map table); `quick` caps N, m, the test set and steps.
pub fn map_panels(quick: bool) -> Vec<MapPanel> {
    use DatasetKind::{Gauss, ShiftedGauss};
    use Scenario::{A, B};
    let mnist = ("mnist_1v2_train.csv.gz", "mnist_1v2_test.csv.gz");
    let fmnist = ("fmnist_0v9_train.csv.gz", "fmnist_0v9_test.csv.gz");
    let mut panels = vec![
        MapPanel {
            name: "shifted-gauss-a",
            config: synthetic(ShiftedGauss, A, (100, 100, 1000), (0.01, 1.0, 100, 0)),
            range: (-7.0, 7.0),
        },
        MapPanel {
            name: "shifted-gauss-b",
            config: synthetic(ShiftedGauss, B, (100, 100, 5000), (0.1, 1.0, 100, 1)),
            range: (-8.0, 8.0),
        },
        MapPanel {
            name: "gauss-a",
            config: synthetic(Gauss, A, (1000, 1000, 2000), (0.031, 1.0, 1000, 0)),
            range: (-4.0, 5.0),
        },
        MapPanel {
            name: "gauss-b",
            config: synthetic(Gauss, B, (1000, 1000, 10_000), (0.31, 0.1, 1000, 0)),
            range: (-4.0, 5.0),
        },
        MapPanel {
            name: "mnist-a",
            config: real(mnist, A, 0.14, 0.01, 100, 0),
            range: (0.0, 10.0),
        },
        MapPanel {
            name: "mnist-b",
            config: real(mnist, B, 0.14, 0.01, 1000, 1),
            range: (0.0, 10.0),
        },
        MapPanel {
            name: "fmnist-a",
            config: real(fmnist, A, 0.14, 0.01, 100, 0),
            range: (-2.0, 13.0),
        },
        MapPanel {
            name: "fmnist-b",
            config: real(fmnist, B, 1.4, 0.001, 100, 2),
            range: (-2.0, 13.0),
        },
    ];
    if quick {
        for p in &mut panels {
            let c = &mut p.config;
            c.width = c.width.min(200);
            c.steps_f = c.steps_f.min(100);
            c.steps_g = c.steps_g.min(100);
            c.n_test = 300;
            if c.dataset == DatasetKind::File {
                c.subset = Some(800);
                c.test_subset = Some(300);
            } else {
                c.n = c.n.map(|n| n.min(800));
            }
        }
    }
    panels
}

/// Normalised mean of the training rows with label `sign`.
fn class_direction(x: MatRef<'_, f64>, y: &[f64], sign: f64) -> Result<Vec<f64>> {
    let rows: Vec<usize> = (0..x.nrows()).filter(|&i| y[i] == sign).collect();
    if rows.is_empty() {
        return Err(Error::numerical(
            "decision map",
            format!("no training sample labelled {sign}"),
        ));
    }
    let mean: Vec<f64> = (0..x.ncols())
        .map(|j| rows.iter().map(|&i| x[(i, j)]).sum::<f64>() / rows.len() as f64)
        .collect();
    let norm = mean.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Err(Error::numerical("decision map", "a class mean is zero"));
    }
    Ok(mean.iter().map(|v| v / norm).collect())
}

/// Coordinates (c1, c2) of the least-squares projection of each row of `x` onto span(e1, e2).
fn project(x: MatRef<'_, f64>, e1: &[f64], e2: &[f64]) -> Vec<(f64, f64)> {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
    let g12 = dot(e1, e2);
    let det = 1.0 - g12 * g12;
    (0..x.nrows())
        .map(|i| {
            let row: Vec<f64> = (0..x.ncols()).map(|j| x[(i, j)]).collect();
            let (b1, b2) = (dot(e1, &row), dot(e2, &row));
            if det.abs() < 1e-12 {
                (b1, 0.0)
            } else {
                ((b1 - g12 * b2) / det, (b2 - g12 * b1) / det)
            }
        })
        .collect()
}

/// Runs one map panel at `resolution`² grid points; writes `dir/<name>.csv` and `.svg`/`.png`.
pub fn run_map(panel: &MapPanel, resolution: usize, dir: &Path) -> Result<MapSummary> {
    if resolution < 2 {
        return Err(Error::invalid(
            "resolution",
            "need at least 2 grid points per axis",
        ));
    }
    let detail = run_detailed(&panel.config)?;
    let x = detail.train.x.as_ref();
    let e1 = class_direction(x, &detail.train.y, 1.0)?;
    let e2 = class_direction(x, &detail.train.y, -1.0)?;
    let (lo, hi) = panel.range;
    let step = (hi - lo) / (resolution - 1) as f64;
    let coords: Vec<(f64, f64)> = (0..resolution * resolution)
        .map(|k| {
            (
                lo + (k % resolution) as f64 * step,
                lo + (k / resolution) as f64 * step,
            )
        })
        .collect();
    let arch = panel.config.architecture();
    let mut points = Vec::with_capacity(coords.len());
    // Evaluate in chunks so that the grid never needs more than a few thousand d-vectors at once.
    for chunk in coords.chunks(4096) {
        let z = Mat::from_fn(chunk.len(), x.ncols(), |i, j| {
            chunk[i].0 * e1[j] + chunk[i].1 * e2[j]
        });
        let f = detail.f.predict(z.as_ref())?;
        let g = detail.g.predict(z.as_ref())?;
        let f_hat = surrogate_f(x, &detail.train.y, z.as_ref(), &arch)?;
        let g_hat = surrogate_g(x, &detail.train.y, detail.r.as_ref(), z.as_ref(), &arch)?;
        for (i, &(c1, c2)) in chunk.iter().enumerate() {
            points.push(MapPoint {
                c1,
                c2,
                f: f[i],
                g: g[i],
                f_hat: f_hat[i],
                g_hat: g_hat[i],
            });
        }
    }
    crate::io::write_rows(&dir.join(format!("{}.csv", panel.name)), &points)?;
    let agree = |a: f64, b: f64| (a > 0.0) == (b > 0.0);
    let share = |pred: &dyn Fn(&MapPoint) -> bool| {
        points.iter().filter(|p| pred(p)).count() as f64 / points.len() as f64
    };
    let map = DecisionMap {
        title: format!("{}: where f and g agree in sign", panel.name),
        x_label: "c1 (positive class mean)".into(),
        y_label: "c2 (negative class mean)".into(),
        x_range: panel.range,
        y_range: panel.range,
        resolution,
        agree: points.iter().map(|p| agree(p.f, p.g)).collect(),
        fields: vec![
            ("f̂".into(), points.iter().map(|p| p.f_hat).collect()),
            ("ĝ".into(), points.iter().map(|p| p.g_hat).collect()),
        ],
        points: project(x, &e1, &e2)
            .into_iter()
            .zip(&detail.train.y)
            .map(|((a, b), &l)| (a, b, l))
            .collect(),
    };
    decision_map(&map, &dir.join(format!("map-{}", panel.name)))?;
    Ok(MapSummary {
        panel: panel.name.to_string(),
        agreement_f_g: share(&|p| agree(p.f, p.g)),
        agreement_surrogates: share(&|p| agree(p.f_hat, p.g_hat)),
        agreement_test: detail.result.metrics.agreement,
    })
}
