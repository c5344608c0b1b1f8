//! The parallel-perturbation claim of §5.3 as a table over widths m, flow times T and seeds.
//!
//! For each (m, seed) one network is sampled and trained by plain gradient descent through the
//! sorted times (training in pieces is exact with momentum 0), and at each T the five directions of
//! [`crate::perturbation::directions`] are computed at every training input. Each quantity is a mean over the
//! training inputs where it is defined:
//!
//! * `cos_A_B`: cos(A, B) for the pairs net–sum, net–lin, net–kernel, net–init, lin–sum,
//!   kernel–sum;
//! * `cos_net_minus_init_kernel`, `cos_net_minus_init_sum`: cos(net − ∇f_0, kernel / sum), the
//!   network's trained part against the infinite-width directions;
//! * `rel_*`: the split of net − sum relative to ‖sum‖ ([`crate::perturbation::directions::PointResiduals`]):
//!   `rel_init` = ‖∇f_0‖, `rel_finite_width` = ‖lin − ∇f_0 − sum‖, `rel_pattern_flip` = ‖net − lin‖,
//!   `rel_net_kernel` = ‖net − ∇f_0 − kernel‖, `rel_kernel_term` = ‖kernel − sum‖,
//!   `rel_total` = ‖net − sum‖;
//! * `pattern_flip_fraction`: share of (training input, neuron) pairs whose activation pattern
//!   [u_k(x_n) ≥ 0] differs from the initial one.
//!
//! Whether the wide network's perturbation approaches `lin`, `sum` or `kernel` is read off
//! `cos_net_*` (and `rel_pattern_flip` against `rel_kernel_term`) as m grows at fixed T.

use faer::MatRef;
use serde::Serialize;

use crate::data::Dataset;
use crate::dynamics::OdeOptions;
use crate::error::{Error, Result};
use crate::kernel;
use crate::model::Loss;
use crate::model::NetworkConfig;
use crate::perturbation::directions::{
    self, Directions, Linearization, cosine, mean, row, steps_for,
};

/// The sweep: every width × seed, each trained through every time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grid {
    /// Widths m.
    pub widths: Vec<usize>,
    /// Flow times T, non-decreasing, each a whole number of steps of size `lr`.
    pub times: Vec<f64>,
    /// Seeds of the network initialisation.
    pub seeds: Vec<u64>,
    /// Learning rate η of plain gradient descent.
    pub lr: f64,
    /// Training loss (also the loss of both linearised flows).
    pub loss: Loss,
    /// Tolerances of the flow solver (logistic, exponential).
    pub ode: OdeOptions,
    /// The network; its width is replaced by each of `widths`.
    pub network: NetworkConfig,
}

impl Grid {
    /// Checks every width's configuration, the times against `lr`, and that nothing is empty.
    /// Returns the number of GD steps of each time.
    pub fn validate(&self) -> Result<Vec<usize>> {
        if self.widths.is_empty() {
            return Err(Error::invalid("widths", "no widths given"));
        }
        for &w in &self.widths {
            self.config(w).validate()?;
        }
        if self.seeds.is_empty() {
            return Err(Error::invalid("seeds", "at least one seed"));
        }
        if self.times.is_empty() {
            return Err(Error::invalid("times", "no times given"));
        }
        let steps = self
            .times
            .iter()
            .map(|&t| steps_for(t, self.lr).map_err(|e| retag(e, "times")))
            .collect::<Result<Vec<usize>>>()?;
        if steps.windows(2).any(|w| w[1] < w[0]) {
            return Err(Error::invalid("times", "times must be non-decreasing"));
        }
        if matches!(self.loss, Loss::Logistic | Loss::Exponential) {
            self.ode.validate()?;
        }
        Ok(steps)
    }

    /// The network configuration at width `width`.
    pub fn config(&self, width: usize) -> NetworkConfig {
        NetworkConfig {
            width,
            ..self.network
        }
    }

    /// Total GD steps of the sweep (for a progress bar).
    pub fn total_steps(&self) -> Result<u64> {
        let steps = self.validate()?;
        let last = steps.last().copied().unwrap_or(0) as u64;
        Ok(last * (self.widths.len() * self.seeds.len()) as u64)
    }
}

fn retag(e: Error, parameter: &str) -> Error {
    match e {
        Error::InvalidArgument { message, .. } => Error::invalid(parameter, message),
        other => other,
    }
}

/// One line of `parallel.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParallelRow {
    /// Width m.
    pub width: usize,
    /// Flow time T.
    pub time: f64,
    /// Seed of the network.
    pub seed: u64,
    /// Quantity name (see the module documentation).
    pub quantity: &'static str,
    /// Mean over the training inputs where it is defined; None when it is defined nowhere.
    pub value: Option<f64>,
}

/// The rows of a sweep and the number of undefined per-input values (zero vectors) left out.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// Tidy rows, grouped by width, seed, time.
    pub rows: Vec<ParallelRow>,
    /// Per-input cosines or ratios that were undefined and left out of the means.
    pub undefined: usize,
}

/// Runs the sweep on `train`; `progress` receives the number of GD steps completed so far.
pub fn run(train: &Dataset, grid: &Grid, mut progress: impl FnMut(u64)) -> Result<Sweep> {
    let steps = grid.validate()?;
    let mut rows = Vec::new();
    let mut undefined = 0;
    let mut done = 0u64;
    for &width in &grid.widths {
        let config = grid.config(width);
        for &seed in &grid.seeds {
            let lz = Linearization::new(train, &config, seed, grid.loss, grid.ode)?;
            let flow_times: Vec<f64> = steps.iter().map(|&s| grid.lr * s as f64).collect();
            let coeffs = lz.coefficients(&flow_times)?;
            let x = lz.inputs();
            let initial_patterns = patterns(&lz, x);
            let mut net = lz.initial().clone();
            let mut at = 0usize;
            for ((&time, &s), c) in grid.times.iter().zip(&steps).zip(&coeffs) {
                let base = done;
                net = lz.train(net, grid.lr, s - at, |k| progress(base + k as u64))?;
                done += (s - at) as u64;
                at = s;
                let d = lz.directions(&net, c)?;
                let flip = flip_fraction(&initial_patterns, &patterns_of(&net, x));
                for (quantity, values) in quantities(&d) {
                    let defined: Vec<f64> = values.iter().filter_map(|v| *v).collect();
                    undefined += values.len() - defined.len();
                    rows.push(ParallelRow {
                        width,
                        time,
                        seed,
                        quantity,
                        value: mean(&defined),
                    });
                }
                rows.push(ParallelRow {
                    width,
                    time,
                    seed,
                    quantity: "pattern_flip_fraction",
                    value: Some(flip),
                });
            }
            progress(done);
        }
    }
    Ok(Sweep { rows, undefined })
}

/// Per-input values of every directional quantity.
fn quantities(d: &Directions) -> Vec<(&'static str, Vec<Option<f64>>)> {
    let n = d.net.nrows();
    let cos = |a: &faer::Mat<f64>, b: &faer::Mat<f64>| -> Vec<Option<f64>> {
        (0..n).map(|i| cosine(&row(a, i), &row(b, i))).collect()
    };
    let trained: faer::Mat<f64> = &d.net - &d.init;
    let res = directions::residuals(d);
    let pick = |f: fn(&directions::PointResiduals) -> Option<f64>| -> Vec<Option<f64>> {
        res.iter().map(f).collect()
    };
    vec![
        ("cos_net_sum", cos(&d.net, &d.sum)),
        ("cos_net_lin", cos(&d.net, &d.lin)),
        ("cos_net_kernel", cos(&d.net, &d.kernel)),
        ("cos_net_init", cos(&d.net, &d.init)),
        ("cos_lin_sum", cos(&d.lin, &d.sum)),
        ("cos_kernel_sum", cos(&d.kernel, &d.sum)),
        ("cos_net_minus_init_kernel", cos(&trained, &d.kernel)),
        ("cos_net_minus_init_sum", cos(&trained, &d.sum)),
        ("rel_init", pick(|r| r.init)),
        ("rel_finite_width", pick(|r| r.finite_width)),
        ("rel_pattern_flip", pick(|r| r.pattern_flip)),
        ("rel_net_kernel", pick(|r| r.net_kernel)),
        ("rel_kernel_term", pick(|r| r.kernel_term)),
        ("rel_total", pick(|r| r.total)),
    ]
}

fn patterns(lz: &Linearization, x: MatRef<'_, f64>) -> Vec<bool> {
    patterns_of(lz.initial(), x)
}

/// Activation patterns [u_k(x_n) ≥ 0], column-major over (n, k).
fn patterns_of(net: &crate::network::Network, x: MatRef<'_, f64>) -> Vec<bool> {
    let h = kernel::empirical::preactivations(&net.params, x);
    let mut out = Vec::with_capacity(h.nrows() * h.ncols());
    for k in 0..h.ncols() {
        out.extend(h.col(k).iter().map(|&u| u >= 0.0));
    }
    out
}

fn flip_fraction(a: &[bool], b: &[bool]) -> f64 {
    let flips = a.iter().zip(b).filter(|(p, q)| p != q).count();
    flips as f64 / a.len().max(1) as f64
}

/// One line of `parallel_summary.csv`: a quantity over the seeds of one (width, time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    /// Width m.
    pub width: usize,
    /// Flow time T.
    pub time: f64,
    /// Quantity name.
    pub quantity: &'static str,
    /// Mean over the seeds where the value is defined.
    pub mean: Option<f64>,
    /// Sample standard deviation over those seeds (None with fewer than two).
    pub std: Option<f64>,
    /// Seeds with a defined value.
    pub seeds: usize,
}

/// Mean and standard deviation over seeds, in the order the (width, time, quantity) first appear.
pub fn summarize(rows: &[ParallelRow]) -> Vec<SummaryRow> {
    let mut keys: Vec<(usize, f64, &'static str)> = Vec::new();
    for r in rows {
        let key = (r.width, r.time, r.quantity);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(width, time, quantity)| {
            let v: Vec<f64> = rows
                .iter()
                .filter(|r| r.width == width && r.time == time && r.quantity == quantity)
                .filter_map(|r| r.value)
                .collect();
            let m = mean(&v);
            let std = (v.len() >= 2).then(|| crate::stats::mean_std(&v).1);
            SummaryRow {
                width,
                time,
                quantity,
                mean: m,
                std,
                seeds: v.len(),
            }
        })
        .collect()
}

/// Plots `quantity` against the flow time T, one curve per width with ± one standard deviation over
/// seeds (§5.3: the cosine of the network's perturbation with the weighted sum rising toward 1),
/// to `{stem}.svg` and `{stem}.png`.
pub fn plot_against_time(
    summary: &[SummaryRow],
    quantity: &str,
    title: &str,
    stem: &std::path::Path,
) -> Result<()> {
    let mut widths: Vec<usize> = summary.iter().map(|r| r.width).collect();
    widths.sort_unstable();
    widths.dedup();
    let series: Vec<crate::plot::Series> = widths
        .iter()
        .map(|&w| {
            let pts: Vec<&SummaryRow> = summary
                .iter()
                .filter(|r| r.width == w && r.quantity == quantity && r.mean.is_some())
                .collect();
            crate::plot::Series {
                label: format!("m = {w}"),
                points: pts
                    .iter()
                    .map(|r| (r.time, r.mean.unwrap_or(f64::NAN)))
                    .collect(),
                errors: Some(pts.iter().map(|r| r.std.unwrap_or(0.0)).collect()),
                ..Default::default()
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(());
    }
    let log_x = series.iter().all(|s| s.points.iter().all(|p| p.0 > 0.0));
    crate::plot::line_chart(
        &crate::plot::LineChart {
            title: title.to_string(),
            x_label: "training time T".into(),
            y_label: quantity.to_string(),
            log_x,
            y_range: None,
            series,
            legend: Vec::new(),
        },
        stem,
    )
}
