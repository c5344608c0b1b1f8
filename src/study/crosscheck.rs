//! Theory against simulation (§3.3, §13.2, §13.3): networks of growing width trained by plain
//! gradient descent to flow time T, compared with
//!
//! * (a) `lin`: the linearised model at the same initial parameters,
//!   f_T^lin(z) = f_0(z) + Σ_n α_n(T) Θ_m(x_n, z) with the empirical NTK Θ_m of the initial network;
//! * (b) `inf`: the infinite-width prediction Σ_n α_n^∞(T) Θ(x_n, z) from f_0 = 0 (the paper's
//!   object);
//! * (b') `inf_plus_f0`: the infinite-width flow started from the network's own initial outputs,
//!   f_0(z) + Σ_n α_n(T) Θ(x_n, z) with α from the flow of Θ and F_0 = f_0(X) (for the identity
//!   loss α does not depend on F_0, and this is (b) plus f_0).
//!
//! With the standard initialisation f_0 is an O(1) Gaussian process at every width, so (b) keeps an
//! error floor of about ‖f_0‖/‖f_T − f_0‖ however wide the network (it converges only with the
//! antisymmetric init, where f_0 ≡ 0). (a) and (b') are the ones expected to converge, at least
//! like m^{−1/2} (the lazy-training bound): the error of (a) comes from the activation patterns
//! that flip during training, whose second-order terms carry the random sign of a_k and partly
//! cancel (measured: close to m^{−3/4}), and (b') adds the fluctuation Θ_m − Θ = O(m^{−1/2}) of the
//! initial kernel.
//!
//! Error quantities are relative, ‖f_T − f^pred‖/‖f_T − f_0‖ over the test inputs, and
//! [`fit_power_law`] fits the exponent of their mean over seeds against the width.

use faer::{Accum, Mat, MatRef};
use serde::Serialize;

use crate::dynamics::{LinearizedFlow, OdeOptions};
use crate::error::{Error, Result};
use crate::kernel::{
    KernelWhat, empirical_test_train, empirical_train_train, infinite_test_train,
    infinite_train_train, matrix_bytes,
};
use crate::linalg;
use crate::memory;
use crate::model::Loss;
use crate::model::params::{Init, NetworkConfig};
use crate::network::forward::{Network, check_inputs, check_labels};
use crate::network::train::TrainOptions;

/// The error quantities whose decay with the width is fitted, with the slope of the lazy-training
/// bound under the standard initialisation (the decay may be faster; `None`: no decay expected).
/// [`expected_slope`] gives it for any initialisation.
pub const ERROR_QUANTITIES: [(&str, Option<f64>); 3] = [
    ("rel_error_lin", Some(-0.5)),
    ("rel_error_inf", None),
    ("rel_error_inf_plus_f0", Some(-0.5)),
];

/// The slope of the lazy-training bound for `quantity` under `init`: −1/2 for the errors expected
/// to converge, `None` for `rel_error_inf` under the standard init, whose O(1) random f_0 keeps an
/// error floor. Under the antisymmetric init f_0 ≡ 0, so `inf` equals `inf_plus_f0` and decays too.
pub fn expected_slope(quantity: &str, init: Init) -> Option<f64> {
    let standard = ERROR_QUANTITIES
        .iter()
        .find(|(q, _)| *q == quantity)
        .and_then(|(_, s)| *s);
    match init {
        Init::Standard => standard,
        Init::Antisymmetric => ERROR_QUANTITIES
            .iter()
            .any(|(q, _)| *q == quantity)
            .then_some(-0.5),
    }
}

/// Training time, step size and loss of a cross-check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CrosscheckOptions {
    /// Flow time T > 0 to train to.
    pub time: f64,
    /// Learning rate η of plain gradient descent; T/η must be a whole number of steps.
    pub lr: f64,
    /// Per-sample loss of training and of the linearised flows.
    pub loss: Loss,
    /// Tolerances of the linearised flow for the logistic and exponential losses.
    pub ode: OdeOptions,
}

impl CrosscheckOptions {
    /// Checks T and η (errors name `--time` and `--lr`) and that T is a whole number of steps of
    /// size η ([`steps_for`](crate::perturbation::directions::steps_for), the rule of every command
    /// that trains to a flow time), so the time reached is the time asked for.
    pub fn validate(&self) -> Result<()> {
        Error::require_positive("time", "flow time", self.time)?;
        Error::require_positive("lr", "learning rate", self.lr)?;
        crate::perturbation::directions::steps_for(self.time, self.lr)?;
        self.ode.validate()
    }

    /// Number of gradient steps T/η (rounded; [`CrosscheckOptions::validate`] checks that it is
    /// whole).
    pub fn steps(&self) -> usize {
        (self.time / self.lr).round() as usize
    }

    /// The flow time reached, η·(T/η), equal to T up to rounding (the linearised models are
    /// compared there).
    pub fn reached_time(&self) -> f64 {
        self.lr * self.steps() as f64
    }
}

/// Checks a list of widths and a seed count (errors name `--widths` and `--seeds`).
pub fn validate_grid(widths: &[usize], seeds: usize) -> Result<()> {
    if widths.is_empty() {
        return Err(Error::invalid("widths", "no widths given"));
    }
    if let Some(w) = widths.iter().find(|&&w| w == 0) {
        return Err(Error::invalid(
            "widths",
            format!("every width must be at least 1, got {w}"),
        ));
    }
    if seeds == 0 {
        return Err(Error::invalid("seeds", "need at least 1 seed"));
    }
    Ok(())
}

/// Everything measured for one (width, seed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrosscheckRun {
    /// Width m.
    pub width: usize,
    /// Seed of the network's initial parameters.
    pub seed: u64,
    /// ‖f_T − f_T^lin‖ / ‖f_T − f_0‖ over the test inputs.
    pub rel_error_lin: f64,
    /// ‖f_T − f_T^∞‖ / ‖f_T − f_0‖ with the infinite-width prediction from f_0 = 0.
    pub rel_error_inf: f64,
    /// The same with the infinite-width flow started from the network's own f_0.
    pub rel_error_inf_plus_f0: f64,
    /// Fraction of test inputs where f_T and f_T^lin have the same sign.
    pub sign_agreement_lin: f64,
    /// The same for f_T and the infinite-width prediction from f_0 = 0.
    pub sign_agreement_inf: f64,
    /// The same for f_T and the infinite-width flow from the network's f_0.
    pub sign_agreement_inf_plus_f0: f64,
    /// Mean over training inputs x_n of cos(∇_x f_T(x_n), ∇f_0(x_n) + Σ_k α_k Φ_m(x_k, x_n) x_k)
    /// (the `net` and `lin` directions of §13.3).
    pub grad_cosine_lin: f64,
    /// ‖W_T − W_0‖_F / ‖W_0‖_F.
    pub weight_change: f64,
    /// Fraction of (training input, neuron) pairs whose activation pattern flipped.
    pub pattern_flip_fraction: f64,
}

/// One row of crosscheck.csv.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantityRow {
    /// Width m.
    pub width: usize,
    /// Network seed.
    pub seed: u64,
    /// Quantity name (a field of [`CrosscheckRun`]).
    pub quantity: &'static str,
    /// Its value; empty when undefined (e.g. a cosine with no non-zero row).
    pub value: Option<f64>,
}

impl CrosscheckRun {
    /// The measured quantities by name, in a fixed order.
    pub fn quantities(&self) -> [(&'static str, f64); 9] {
        [
            ("rel_error_lin", self.rel_error_lin),
            ("rel_error_inf", self.rel_error_inf),
            ("rel_error_inf_plus_f0", self.rel_error_inf_plus_f0),
            ("sign_agreement_lin", self.sign_agreement_lin),
            ("sign_agreement_inf", self.sign_agreement_inf),
            (
                "sign_agreement_inf_plus_f0",
                self.sign_agreement_inf_plus_f0,
            ),
            ("grad_cosine_lin", self.grad_cosine_lin),
            ("weight_change", self.weight_change),
            ("pattern_flip_fraction", self.pattern_flip_fraction),
        ]
    }

    /// The quantity called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.quantities()
            .into_iter()
            .find(|(q, _)| *q == name)
            .map(|(_, v)| v)
    }

    /// The tidy rows (width, seed, quantity, value) of this run.
    pub fn rows(&self) -> Vec<QuantityRow> {
        self.quantities()
            .into_iter()
            .map(|(quantity, value)| QuantityRow {
                width: self.width,
                seed: self.seed,
                quantity,
                value: value.is_finite().then_some(value),
            })
            .collect()
    }
}

/// The infinite-width NTK Gram matrices K(X, X) and K(Z, X): they depend on neither width nor seed.
#[derive(Debug, Clone)]
pub struct InfiniteKernels {
    /// Θ(X, X), N×N.
    pub k_train_train: Mat<f64>,
    /// Θ(Z, X), M×N.
    pub k_test_train: Mat<f64>,
}

impl InfiniteKernels {
    /// Computes both Gram matrices of the closed-form NTK of `config`'s architecture.
    pub fn compute(
        x: MatRef<'_, f64>,
        z: MatRef<'_, f64>,
        config: &NetworkConfig,
    ) -> Result<InfiniteKernels> {
        let arch = config.arch;
        Ok(InfiniteKernels {
            k_train_train: infinite_train_train(x, &arch, KernelWhat::Ntk)?,
            k_test_train: infinite_test_train(z, x, &arch, KernelWhat::Ntk)?,
        })
    }
}

/// Estimated peak bytes of one run at width `width` (N training and M test inputs of dimension d):
/// the empirical Θ_m and Φ_m (N×N) and Θ_m(Z, X), the infinite kernels, the flows' copies, kernel
/// features and the training batch.
pub fn run_bytes(n: usize, m_test: usize, d: usize, width: usize) -> u64 {
    7 * matrix_bytes(n, n)
        + 3 * matrix_bytes(m_test, n)
        + 3 * matrix_bytes(n + m_test, width)
        + 3 * matrix_bytes(n + m_test, width + d + 1)
        + 5 * matrix_bytes(width, d + 1)
}

fn norm(v: impl Iterator<Item = f64>) -> f64 {
    v.map(|x| x * x).sum::<f64>().sqrt()
}

fn relative_error(ft: &[f64], f0: &[f64], pred: &[f64]) -> f64 {
    let den = norm(ft.iter().zip(f0).map(|(a, b)| a - b));
    let num = norm(ft.iter().zip(pred).map(|(a, b)| a - b));
    num / den
}

/// Fraction of entries where `a` and `b` have the same sign (both positive, both negative, or both
/// exactly zero).
pub fn sign_agreement(a: &[f64], b: &[f64]) -> f64 {
    let agree = a
        .iter()
        .zip(b)
        .filter(|&(&p, &q)| p * q > 0.0 || (p == 0.0 && q == 0.0))
        .count();
    agree as f64 / a.len().max(1) as f64
}

/// Mean over rows of the cosine between row i of `a` and row i of `b`, over the rows where both
/// are non-zero (a zero row has no direction, so it is left out rather than counted as 0); NaN,
/// written as an empty cell, when there is no such row.
pub fn mean_row_cosine(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    crate::linalg::mean_defined((0..a.nrows()).map(|i| crate::linalg::row_cosine(a, b, i)))
        .unwrap_or(f64::NAN)
}

fn first_column(m: &Mat<f64>) -> Vec<f64> {
    (0..m.nrows()).map(|i| m[(i, 0)]).collect()
}

/// Trains one network of `config` (seed `seed`) on (`x`, `y`) to flow time `opts.time` by plain GD
/// and measures it against the linearised and infinite-width predictions on the test inputs `z`.
pub fn crosscheck_run(
    x: MatRef<'_, f64>,
    y: &[f64],
    z: MatRef<'_, f64>,
    config: NetworkConfig,
    seed: u64,
    opts: &CrosscheckOptions,
    infinite: &InfiniteKernels,
) -> Result<CrosscheckRun> {
    opts.validate()?;
    config.validate()?;
    let (n, d) = (x.nrows(), x.ncols());
    memory::ensure_fits(
        "one cross-check run",
        run_bytes(n, z.nrows(), d, config.width),
    )?;
    let arch = config.arch;
    let mut net = Network::new(d, config, seed)?;
    check_inputs(&net.params, x, "training inputs")?;
    check_labels(x, y, "training inputs")?;
    check_inputs(&net.params, z, "test inputs")?;
    let t = [opts.reached_time()];

    // The initial network: outputs, input gradients and its empirical kernels.
    let f0_x = net.forward(x)?;
    let f0_z = net.forward(z)?;
    let grad0 = net.input_gradients(x)?;
    let k_xx = empirical_train_train(&net.params, x, &arch, KernelWhat::Ntk)?;
    let k_zx = empirical_test_train(&net.params, z, x, &arch, KernelWhat::Ntk)?;
    let phi_xx = empirical_train_train(&net.params, x, &arch, KernelWhat::Phi)?;

    // (a) the linearised model at the same initial parameters.
    let flow = LinearizedFlow::new(k_xx.as_ref(), y, &f0_x, opts.loss, opts.ode)?;
    drop(k_xx);
    let alpha = first_column(&flow.solve(&t)?.coefficients);
    drop(flow);
    let f_lin = LinearizedFlow::predict(k_zx.as_ref(), &f0_z, &alpha);
    // `lin` input gradients: ∇f_0(x_n) + Σ_k α_k Φ_m(x_k, x_n) x_k = G_0 + Φ_m diag(α) X.
    let scaled_x = Mat::from_fn(n, d, |k, j| alpha[k] * x[(k, j)]);
    let mut lin_grad = grad0;
    linalg::matmul(
        lin_grad.as_mut(),
        Accum::Add,
        phi_xx.as_ref(),
        scaled_x.as_ref(),
        1.0,
    );
    drop(phi_xx);

    // (b) infinite width from f_0 = 0; (b') infinite width from the network's own f_0.
    let zeros_x = vec![0.0; n];
    let zeros_z = vec![0.0; z.nrows()];
    let k_inf = infinite.k_train_train.as_ref();
    let flow_inf = LinearizedFlow::new(k_inf, y, &zeros_x, opts.loss, opts.ode)?;
    let alpha_inf = first_column(&flow_inf.solve(&t)?.coefficients);
    drop(flow_inf);
    let f_inf = LinearizedFlow::predict(infinite.k_test_train.as_ref(), &zeros_z, &alpha_inf);
    let flow_inf0 = LinearizedFlow::new(k_inf, y, &f0_x, opts.loss, opts.ode)?;
    let alpha_inf0 = first_column(&flow_inf0.solve(&t)?.coefficients);
    drop(flow_inf0);
    let f_inf0 = LinearizedFlow::predict(infinite.k_test_train.as_ref(), &f0_z, &alpha_inf0);

    // The simulation: plain GD for T/η steps.
    let train_opts = TrainOptions {
        lr: opts.lr,
        steps: opts.steps(),
        momentum: 0.0,
        loss: opts.loss,
        record_every: opts.steps().max(1),
    };
    let trajectory = net.train(x, y, None, &train_opts, |_| {})?;
    let last = trajectory
        .last()
        .ok_or_else(|| Error::numerical("cross-check", "training recorded no step"))?;
    let f_t = net.forward(z)?;
    let grad_t = net.input_gradients(x)?;

    Ok(CrosscheckRun {
        width: config.width,
        seed,
        rel_error_lin: relative_error(&f_t, &f0_z, &f_lin),
        rel_error_inf: relative_error(&f_t, &f0_z, &f_inf),
        rel_error_inf_plus_f0: relative_error(&f_t, &f0_z, &f_inf0),
        sign_agreement_lin: sign_agreement(&f_t, &f_lin),
        sign_agreement_inf: sign_agreement(&f_t, &f_inf),
        sign_agreement_inf_plus_f0: sign_agreement(&f_t, &f_inf0),
        grad_cosine_lin: mean_row_cosine(grad_t.as_ref(), lin_grad.as_ref()),
        weight_change: last.weight_change,
        pattern_flip_fraction: last.pattern_flip_fraction,
    })
}

/// Runs [`crosscheck_run`] for every width (outer) and seed (inner), with `config`'s architecture
/// at each width. `z` = `None` measures on the training inputs. `progress` is called with the
/// number of completed runs.
#[allow(clippy::too_many_arguments)]
pub fn crosscheck(
    x: MatRef<'_, f64>,
    y: &[f64],
    z: Option<MatRef<'_, f64>>,
    config: NetworkConfig,
    widths: &[usize],
    seeds: &[u64],
    opts: &CrosscheckOptions,
    mut progress: impl FnMut(usize),
) -> Result<Vec<CrosscheckRun>> {
    validate_grid(widths, seeds.len())?;
    opts.validate()?;
    for &w in widths {
        NetworkConfig { width: w, ..config }
            .validate()
            .map_err(|e| match e {
                Error::InvalidArgument { message, .. } => Error::invalid("widths", message),
                other => other,
            })?;
    }
    let z = z.unwrap_or(x);
    let widest = widths.iter().copied().max().unwrap_or(1);
    memory::ensure_fits(
        "the cross-check at its largest width",
        run_bytes(x.nrows(), z.nrows(), x.ncols(), widest),
    )?;
    let infinite = InfiniteKernels::compute(x, z, &config)?;
    let mut runs = Vec::with_capacity(widths.len() * seeds.len());
    for &width in widths {
        for &seed in seeds {
            let cfg = NetworkConfig { width, ..config };
            runs.push(crosscheck_run(x, y, z, cfg, seed, opts, &infinite)?);
            progress(runs.len());
        }
    }
    Ok(runs)
}

/// A least-squares fit log(value) = intercept + slope · log(width).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PowerLawFit {
    /// The exponent.
    pub slope: f64,
    /// log of the prefactor.
    pub intercept: f64,
}

/// Least-squares fit of log y against log x for positive finite points (at least two distinct x).
pub fn fit_power_law(x: &[f64], y: &[f64]) -> Result<PowerLawFit> {
    if x.len() != y.len() {
        return Err(Error::Mismatch(format!(
            "{} abscissae for {} values",
            x.len(),
            y.len()
        )));
    }
    if let Some(i) =
        (0..x.len()).find(|&i| !(x[i] > 0.0 && y[i] > 0.0 && x[i].is_finite() && y[i].is_finite()))
    {
        return Err(Error::numerical(
            "power-law fit",
            format!(
                "point ({}, {}) is not positive and finite; a log-log fit needs positive values",
                x[i], y[i]
            ),
        ));
    }
    let lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
    let k = lx.len() as f64;
    let mx = lx.iter().sum::<f64>() / k;
    let my = ly.iter().sum::<f64>() / k;
    let sxx: f64 = lx.iter().map(|a| (a - mx) * (a - mx)).sum();
    if sxx <= 0.0 || sxx.is_nan() {
        return Err(Error::numerical(
            "power-law fit",
            "need at least two distinct widths",
        ));
    }
    let sxy: f64 = lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    Ok(PowerLawFit {
        slope,
        intercept: my - slope * mx,
    })
}

/// Mean of `quantity` over the seeds at each width, widths in first-seen order.
pub fn mean_by_width(runs: &[CrosscheckRun], quantity: &str) -> Vec<(usize, f64)> {
    let mut widths: Vec<usize> = Vec::new();
    for r in runs {
        if !widths.contains(&r.width) {
            widths.push(r.width);
        }
    }
    widths
        .into_iter()
        .map(|w| {
            let vals: Vec<f64> = runs
                .iter()
                .filter(|r| r.width == w)
                .filter_map(|r| r.get(quantity))
                .collect();
            (w, vals.iter().sum::<f64>() / vals.len().max(1) as f64)
        })
        .collect()
}

/// One row of crosscheck_fit.csv.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorFit {
    /// Error quantity.
    pub quantity: &'static str,
    /// Fitted exponent of the mean over seeds against the width (empty when it cannot be fitted:
    /// fewer than two widths, or a non-positive mean).
    pub slope: Option<f64>,
    /// Lower end of the 95 % confidence interval of the exponent over seeds: each seed's errors
    /// are fitted on their own, and the interval is the t-interval of the mean of those slopes,
    /// mean ∓ t_{0.975, S−1}·s/√S (empty with fewer than two seeds or a failed fit).
    pub slope_ci_low: Option<f64>,
    /// Upper end of that interval.
    pub slope_ci_high: Option<f64>,
    /// log of the prefactor.
    pub intercept: Option<f64>,
    /// The exponent of the lazy-training bound, −1/2 (empty: no decay expected).
    pub theory_slope: Option<f64>,
}

/// Fits every error quantity of [`ERROR_QUANTITIES`] of networks initialised by `init`.
pub fn fit_errors(runs: &[CrosscheckRun], init: Init) -> Vec<ErrorFit> {
    ERROR_QUANTITIES
        .iter()
        .map(|&(quantity, _)| {
            let theory_slope = expected_slope(quantity, init);
            let means = mean_by_width(runs, quantity);
            let w: Vec<f64> = means.iter().map(|&(w, _)| w as f64).collect();
            let v: Vec<f64> = means.iter().map(|&(_, v)| v).collect();
            let fit = fit_power_law(&w, &v).ok();
            let ci = per_seed_slopes(runs, quantity)
                .and_then(|slopes| crate::stats::t_interval(&slopes, 0.95));
            ErrorFit {
                quantity,
                slope: fit.map(|f| f.slope),
                slope_ci_low: ci.map(|c| c.0),
                slope_ci_high: ci.map(|c| c.1),
                intercept: fit.map(|f| f.intercept),
                theory_slope,
            }
        })
        .collect()
}

/// The fitted exponent of `quantity` against the width for each seed on its own, seeds in
/// first-seen order; `None` when a seed misses a width or a fit fails.
pub fn per_seed_slopes(runs: &[CrosscheckRun], quantity: &str) -> Option<Vec<f64>> {
    let mut seeds: Vec<u64> = Vec::new();
    for r in runs {
        if !seeds.contains(&r.seed) {
            seeds.push(r.seed);
        }
    }
    let widths = mean_by_width(runs, quantity);
    seeds
        .iter()
        .map(|&seed| {
            let (w, v): (Vec<f64>, Vec<f64>) = widths
                .iter()
                .map(|&(width, _)| {
                    let run = runs.iter().find(|r| r.seed == seed && r.width == width)?;
                    Some((width as f64, run.get(quantity)?))
                })
                .collect::<Option<Vec<(f64, f64)>>>()?
                .into_iter()
                .unzip();
            fit_power_law(&w, &v).ok().map(|f| f.slope)
        })
        .collect()
}

/// Mean and sample standard deviation of `quantity` over the seeds at each width, widths in
/// first-seen order.
pub fn mean_std_by_width(runs: &[CrosscheckRun], quantity: &str) -> Vec<(usize, f64, f64)> {
    mean_by_width(runs, quantity)
        .into_iter()
        .map(|(w, _)| {
            let vals: Vec<f64> = runs
                .iter()
                .filter(|r| r.width == w)
                .filter_map(|r| r.get(quantity))
                .collect();
            let (mean, std) = crate::stats::mean_std(&vals);
            (w, mean, std)
        })
        .collect()
}
