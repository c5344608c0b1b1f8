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
//!   [u_k(x_n) ≥ 0] differs from the initial one;
//! * `dist_*` ([`pooled_distances`]): the distance of the network's trained part net − ∇f_0 to
//!   each of the three predictions of §13.3, pooled over the training inputs — Frobenius norms of
//!   the N×d matrices, all divided by the same ‖sum‖_F:
//!
//!   ```text
//!   dist_net_lin    = ‖(net − ∇f_0) − (lin − ∇f_0)‖_F / ‖sum‖_F = ‖net − lin‖_F / ‖sum‖_F,
//!   dist_net_kernel = ‖(net − ∇f_0) − kernel‖_F / ‖sum‖_F,
//!   dist_net_sum    = ‖(net − ∇f_0) − sum‖_F / ‖sum‖_F,
//!   dist_kernel_sum = ‖kernel − sum‖_F / ‖sum‖_F.
//!   ```
//!
//!   A pooled ratio is not dominated by the few inputs where ‖sum‖ is small, unlike a mean of
//!   per-input ratios; with one training input the two agree.
//!
//! Which theory the wide network follows (§5.3, §13.3): if net − ∇f_0 converges to `kernel` as
//! m → ∞ at fixed T, `dist_net_kernel` falls with m while `dist_net_lin` and `dist_net_sum` level
//! off at `dist_kernel_sum` (lin − ∇f_0 → sum, since Φ_m → Φ_γ, §4.5); if it converges to `sum`,
//! the roles swap. [`fit_widths`] fits log(distance) against log m for each time.

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
use crate::study::crosscheck::fit_power_law;

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
                for (quantity, value) in pooled_distances(&d).named() {
                    rows.push(ParallelRow {
                        width,
                        time,
                        seed,
                        quantity,
                        value,
                    });
                }
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

/// The distances of the trained part net − ∇f_0 to `lin` − ∇f_0, `kernel` and `sum`, and of
/// `kernel` to `sum`, pooled over the training inputs (module documentation, §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PooledDistances {
    /// ‖net − lin‖_F / ‖sum‖_F.
    pub net_lin: Option<f64>,
    /// ‖net − ∇f_0 − kernel‖_F / ‖sum‖_F.
    pub net_kernel: Option<f64>,
    /// ‖net − ∇f_0 − sum‖_F / ‖sum‖_F.
    pub net_sum: Option<f64>,
    /// ‖kernel − sum‖_F / ‖sum‖_F: how far apart the two infinite-width predictions are.
    pub kernel_sum: Option<f64>,
}

impl PooledDistances {
    /// The four values under their quantity names in `parallel.csv`.
    pub fn named(&self) -> [(&'static str, Option<f64>); 4] {
        [
            ("dist_net_lin", self.net_lin),
            ("dist_net_kernel", self.net_kernel),
            ("dist_net_sum", self.net_sum),
            ("dist_kernel_sum", self.kernel_sum),
        ]
    }
}

/// The quantities of [`PooledDistances`], in the order of [`PooledDistances::named`].
pub const DISTANCES: [&str; 4] = [
    "dist_net_lin",
    "dist_net_kernel",
    "dist_net_sum",
    "dist_kernel_sum",
];

/// [`PooledDistances`] of one set of directions; every value is None when ‖sum‖_F = 0 (T = 0).
pub fn pooled_distances(d: &Directions) -> PooledDistances {
    let sum_norm = frobenius(&[(1.0, &d.sum)]);
    let rel = |terms: &[(f64, &faer::Mat<f64>)]| {
        let r = frobenius(terms) / sum_norm;
        (sum_norm > 0.0 && r.is_finite()).then_some(r)
    };
    PooledDistances {
        net_lin: rel(&[(1.0, &d.net), (-1.0, &d.lin)]),
        net_kernel: rel(&[(1.0, &d.net), (-1.0, &d.init), (-1.0, &d.kernel)]),
        net_sum: rel(&[(1.0, &d.net), (-1.0, &d.init), (-1.0, &d.sum)]),
        kernel_sum: rel(&[(1.0, &d.kernel), (-1.0, &d.sum)]),
    }
}

/// ‖Σ_j c_j M_j‖_F, summed row by row in a fixed order.
fn frobenius(terms: &[(f64, &faer::Mat<f64>)]) -> f64 {
    let (n, d) = (terms[0].1.nrows(), terms[0].1.ncols());
    let mut total = 0.0;
    for i in 0..n {
        for j in 0..d {
            let v: f64 = terms.iter().map(|(c, m)| c * m[(i, j)]).sum();
            total += v * v;
        }
    }
    total.sqrt()
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

/// The quantities whose dependence on the width [`fit_widths`] fits: the three distances of the
/// trained part net − ∇f_0 and the finite-width part `rel_finite_width` of `lin` (expected to fall
/// like m^{−1/2}, §4.5).
pub const FIT_QUANTITIES: [&str; 4] = [
    "dist_net_lin",
    "dist_net_kernel",
    "dist_net_sum",
    "rel_finite_width",
];

/// One line of `parallel_fit.csv`: the power law value ∝ m^slope of one quantity at one time,
/// fitted over the widths from `from_width` to `to_width`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitRow {
    /// Flow time T.
    pub time: f64,
    /// Quantity name (one of [`FIT_QUANTITIES`]).
    pub quantity: &'static str,
    /// Smallest width of the fit.
    pub from_width: usize,
    /// Largest width of the fit.
    pub to_width: usize,
    /// Number of widths in the fit.
    pub widths: usize,
    /// Least-squares slope of log(mean over seeds) against log m (empty when it cannot be fitted:
    /// fewer than two widths, or a width without a positive value).
    pub slope: Option<f64>,
    /// Lower end of the 95 % interval of the slope: each seed's values are fitted on their own
    /// and the interval is the t-interval of the mean of those slopes, mean ∓ t_{0.975, S−1}·s/√S.
    /// The seeds are the independent units: a network of width m is the first m neurons of the
    /// wider networks of its seed (§2.1), so the widths of one seed are not independent.
    pub slope_ci_low: Option<f64>,
    /// Upper end of that interval.
    pub slope_ci_high: Option<f64>,
    /// Seeds with a per-seed slope (a defined, positive value at every width of the fit).
    pub seeds: usize,
    /// log of the prefactor of the fit of the means.
    pub intercept: Option<f64>,
}

/// Fits every quantity of [`FIT_QUANTITIES`] against the width at every time, once for each
/// smallest width in `from` (over the widths ≥ it; all widths when `from` is empty).
pub fn fit_widths(rows: &[ParallelRow], from: &[usize]) -> Vec<FitRow> {
    let mut times: Vec<f64> = Vec::new();
    let mut seeds: Vec<u64> = Vec::new();
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        if !times.contains(&r.time) {
            times.push(r.time);
        }
        if !seeds.contains(&r.seed) {
            seeds.push(r.seed);
        }
        if !widths.contains(&r.width) {
            widths.push(r.width);
        }
    }
    widths.sort_unstable();
    let starts: Vec<usize> = if from.is_empty() {
        widths.first().copied().into_iter().collect()
    } else {
        from.to_vec()
    };
    let value = |time: f64, quantity: &str, width: usize, seed: u64| -> Option<f64> {
        rows.iter()
            .find(|r| {
                r.time == time && r.quantity == quantity && r.width == width && r.seed == seed
            })
            .and_then(|r| r.value)
            .filter(|v| *v > 0.0)
    };
    let mut out = Vec::new();
    for &time in &times {
        for quantity in FIT_QUANTITIES {
            for &start in &starts {
                let ws: Vec<usize> = widths.iter().copied().filter(|&w| w >= start).collect();
                let x: Vec<f64> = ws.iter().map(|&w| w as f64).collect();
                let means: Option<Vec<f64>> = ws
                    .iter()
                    .map(|&w| {
                        let v: Vec<f64> = seeds
                            .iter()
                            .filter_map(|&s| value(time, quantity, w, s))
                            .collect();
                        mean(&v)
                    })
                    .collect();
                let fit = means.and_then(|m| fit_power_law(&x, &m).ok());
                let slopes: Vec<f64> = seeds
                    .iter()
                    .filter_map(|&s| {
                        let v: Option<Vec<f64>> =
                            ws.iter().map(|&w| value(time, quantity, w, s)).collect();
                        fit_power_law(&x, &v?).ok().map(|f| f.slope)
                    })
                    .collect();
                let ci = crate::stats::t_interval(&slopes, 0.95);
                out.push(FitRow {
                    time,
                    quantity,
                    from_width: ws.first().copied().unwrap_or(start),
                    to_width: ws.last().copied().unwrap_or(start),
                    widths: ws.len(),
                    slope: fit.map(|f| f.slope),
                    slope_ci_low: ci.map(|c| c.0),
                    slope_ci_high: ci.map(|c| c.1),
                    seeds: slopes.len(),
                    intercept: fit.map(|f| f.intercept),
                });
            }
        }
    }
    out
}

/// Plots the distances of the trained part net − ∇f_0 to `lin`, `kernel` and `sum` at flow time
/// `time` against the width (log axis), mean ± one standard deviation over seeds, with
/// `dist_kernel_sum` dashed: the level at which the distances to `lin` and `sum` stay if the
/// network follows `kernel`. Writes `{stem}.svg` and `{stem}.png`; returns false (and writes
/// nothing) when no distance is defined at that time (T = 0).
pub fn plot_distances_against_width(
    summary: &[SummaryRow],
    time: f64,
    title: &str,
    stem: &std::path::Path,
) -> Result<bool> {
    let curve = |quantity: &str| -> Vec<&SummaryRow> {
        let mut pts: Vec<&SummaryRow> = summary
            .iter()
            .filter(|r| r.time == time && r.quantity == quantity && r.mean.is_some())
            .collect();
        pts.sort_by_key(|r| r.width);
        pts
    };
    let labels = [
        ("dist_net_lin", "to lin − ∇f_0 (finite-width lazy)"),
        (
            "dist_net_kernel",
            "to kernel (∇ of the infinite-width predictor)",
        ),
        ("dist_net_sum", "to sum (weighted sum of training samples)"),
        ("dist_kernel_sum", "kernel to sum"),
    ];
    let series: Vec<crate::plot::Series> = labels
        .iter()
        .enumerate()
        .filter_map(|(k, &(quantity, label))| {
            let pts = curve(quantity);
            if pts.is_empty() {
                return None;
            }
            let reference = quantity == "dist_kernel_sum";
            Some(crate::plot::Series {
                label: label.to_string(),
                points: pts
                    .iter()
                    .map(|r| (r.width as f64, r.mean.unwrap_or(f64::NAN)))
                    .collect(),
                errors: (!reference).then(|| pts.iter().map(|r| r.std.unwrap_or(0.0)).collect()),
                style: if reference {
                    crate::plot::LineStyle::Dashed
                } else {
                    crate::plot::LineStyle::Solid
                },
                color: Some(k),
                ..Default::default()
            })
        })
        .collect();
    if series.is_empty() {
        return Ok(false);
    }
    crate::plot::line_chart(
        &crate::plot::LineChart {
            title: title.to_string(),
            x_label: "width m".into(),
            y_label: "distance of net − ∇f_0, / ‖sum‖_F".into(),
            log_x: true,
            y_range: None,
            series,
            legend: Vec::new(),
        },
        stem,
    )?;
    Ok(true)
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
