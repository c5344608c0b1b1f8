//! The four perturbation directions of §13.3 and their comparison (§5.3).
//!
//! For a network f(x) = Σ_k a_k φ_γ(w_k·x + b_k) trained by full-batch gradient descent for
//! s = T/η steps of size η (flow time T, §3.2), the directions at an input z are:
//!
//! * `net`: ∇_z f_T(z), the exact input gradient of the trained network;
//! * `init`: ∇_z f_0(z), the same for the initial network (the residual of §5.3 that does not
//!   shrink with m);
//! * `lin`: ∇_z f_lin,T(z) of the linearised network at the same width and the same initial weights,
//!   f_lin,T(z) = f_0(z) + Σ_n α^m_n Θ_m(x_n, z). Since Φ_m is piecewise constant in z,
//!   ∇_z f_lin,T(z) = ∇f_0(z) + Σ_n α^m_n Φ_m(x_n, z) x_n [+ (1/m) Σ_k (Σ_n α^m_n φ(u_k(x_n)))
//!   φ'(u_k(z)) w_k when the readout is trained, the ∇_z Σ_m term] almost everywhere;
//! * `sum`: Σ_n α^∞_n Φ_γ(x_n, z) x_n, the paper's weighted sum of training samples (§5.3);
//! * `kernel`: ∇_z Σ_n α^∞_n Θ(x_n, z), the exact input gradient of the infinite-width predictor,
//!   which adds Σ_n α^∞_n (x_n·z + 1) ∇_zΦ_γ(x_n, z) [+ the ∇Σ_γ term] to `sum`. At the kink z = x_n
//!   (θ = 0) the ∇Φ_γ term of that pair is taken as 0, a member of the Clarke subdifferential
//!   (see [`crate::kernel::gradient`]); perturbations are computed at training points, so this
//!   convention is always in use for the pair n = own sample.
//!
//! Coefficients (§13.2): α^m = α(T) of [`LinearizedFlow`] on the empirical Θ_m(X, X) of the
//! *initial* parameters with f_0(X) of the initial network; α^∞ = α(T) of the same solver on the
//! infinite-width Θ(X, X) with f_0 ≡ 0. `lin` uses α^m, `sum` and `kernel` use α^∞. For the identity
//! loss both are (T/N)·y exactly. T is the flow time of the simulated network, η·s.
//!
//! [`compare`] gives, for every input and every pair (a, b) of the five vectors, cos(a, b) and the
//! relative residual ‖a − b‖/‖b‖; [`residuals`] splits net − sum into the init, finite-width and
//! pattern-flip parts of §5.3. A zero vector makes a cosine (or a ratio) undefined: it is reported
//! as `None` (an empty CSV cell), never NaN.

use faer::{Accum, Mat, MatRef};
use serde::Serialize;

use crate::data::Dataset;
use crate::dynamics::{LinearizedFlow, OdeOptions};
use crate::error::{Error, Result};
use crate::kernel::{self, KernelWhat};
use crate::linalg;
use crate::model::Loss;
use crate::model::{NetworkConfig, activation, activation_derivative};
use crate::network::{Network, TrainOptions};

crate::named_enum! {
    /// The direction a perturbation follows (§13.3).
    pub enum Source {
        /// ∇_z f_T(z) of the trained finite network.
        Net = "net",
        /// ∇_z of the linearised network at the same width and initial weights.
        Lin = "lin",
        /// Σ_n α_n Φ_γ(x_n, z) x_n, the paper's weighted sum of training samples.
        Sum = "sum",
        /// ∇_z Σ_n α_n Θ(x_n, z), the exact gradient of the infinite-width predictor.
        Kernel = "kernel",
    }
}

impl Source {
    /// The flag spelling (`net`, `lin`, `sum`, `kernel`).
    pub fn name(self) -> &'static str {
        match self {
            Source::Net => "net",
            Source::Lin => "lin",
            Source::Sum => "sum",
            Source::Kernel => "kernel",
        }
    }
}

/// Number of plain gradient-descent steps of size `lr` that reach flow time `time`.
/// `time / lr` must be a whole number (up to rounding of 1e-9 relative): every command that trains
/// to a flow time (`perturb`, `parallel`, `crosscheck`) refuses a time it cannot reach exactly, and
/// the message names the two nearest times it can reach.
pub fn steps_for(time: f64, lr: f64) -> Result<usize> {
    Error::require_positive("lr", "learning rate", lr)?;
    if !(time.is_finite() && time >= 0.0) {
        return Err(Error::invalid(
            "time",
            format!("the training time must be finite and ≥ 0, got {time}"),
        ));
    }
    let s = (time / lr).round();
    if (s * lr - time).abs() > 1e-9 * time.max(lr) {
        let below = (time / lr).floor();
        let near = if below >= 1.0 {
            format!(
                "{below} steps reach {}, {} reach {}",
                short(below * lr),
                below + 1.0,
                short((below + 1.0) * lr)
            )
        } else {
            format!("1 step reaches {}", short(lr))
        };
        return Err(Error::invalid(
            "time",
            format!(
                "the time {time} is not a whole number of steps of size `lr` = {lr} ({near}); \
                 give one of those times or a learning rate that divides {time}"
            ),
        ));
    }
    if s > 1e9 {
        return Err(Error::invalid(
            "time",
            format!("{time}/{lr} is too many gradient steps"),
        ));
    }
    Ok(s as usize)
}

/// `v` rounded to 12 significant digits for a message (3·0.3 reads 0.9, not 0.8999999999999999).
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let scale = 10f64.powi(11 - v.abs().log10().floor() as i32);
    ((v * scale).round() / scale).to_string()
}

/// The coefficients of one flow time.
#[derive(Debug, Clone, PartialEq)]
pub struct Coefficients {
    /// Flow time T.
    pub time: f64,
    /// α^m(T): the flow on the empirical Θ_m of the initial network, from f_0(X) (for `lin`).
    pub finite: Vec<f64>,
    /// α^∞(T): the flow on the infinite-width Θ, from f_0 ≡ 0 (for `sum` and `kernel`).
    pub infinite: Vec<f64>,
}

/// The five direction vectors at every training input (each N×d, row n at z = x_n).
#[derive(Debug, Clone)]
pub struct Directions {
    /// Flow time T.
    pub time: f64,
    /// ∇f_T(x_n) of the trained network.
    pub net: Mat<f64>,
    /// ∇f_0(x_n) of the initial network.
    pub init: Mat<f64>,
    /// Lazy prediction at the same width (uses α^m).
    pub lin: Mat<f64>,
    /// Σ_k α^∞_k Φ_γ(x_k, x_n) x_k.
    pub sum: Mat<f64>,
    /// ∇_z Σ_k α^∞_k Θ(x_k, z) at z = x_n.
    pub kernel: Mat<f64>,
}

impl Directions {
    /// The direction of one [`Source`].
    pub fn get(&self, source: Source) -> &Mat<f64> {
        match source {
            Source::Net => &self.net,
            Source::Lin => &self.lin,
            Source::Sum => &self.sum,
            Source::Kernel => &self.kernel,
        }
    }

    /// Trains a network of `config` (seed `seed`) on `train` for flow time `time` with steps of
    /// size `lr` (plain GD, no momentum) and computes all five directions at the training inputs.
    pub fn compute(
        train: &Dataset,
        config: &NetworkConfig,
        seed: u64,
        loss: Loss,
        lr: f64,
        time: f64,
    ) -> Result<Directions> {
        let steps = steps_for(time, lr)?;
        let lz = Linearization::new(train, config, seed, loss, OdeOptions::default())?;
        let net = lz.train(lz.initial().clone(), lr, steps, |_| ())?;
        let coeffs = lz.coefficients(&[lr * steps as f64])?;
        lz.directions(&net, &coeffs[0])
    }
}

/// Everything fixed at initialisation: the data, the initial network, its input gradients and
/// empirical kernels, and the finite- and infinite-width flows. One instance serves every time.
#[derive(Debug, Clone)]
pub struct Linearization {
    x: Mat<f64>,
    y: Vec<f64>,
    loss: Loss,
    initial: Network,
    grad0: Mat<f64>,
    phi_m: Mat<f64>,
    arch: crate::model::Architecture,
    flow_finite: LinearizedFlow,
    flow_infinite: LinearizedFlow,
}

impl Linearization {
    /// Samples the initial network and builds Φ_m(X, X), Θ_m(X, X), Θ(X, X) and both flows.
    pub fn new(
        train: &Dataset,
        config: &NetworkConfig,
        seed: u64,
        loss: Loss,
        ode: OdeOptions,
    ) -> Result<Linearization> {
        config.validate()?;
        let x = train.x.as_ref();
        let arch = config.arch;
        let initial = Network::new(train.d(), *config, seed)?;
        let grad0 = initial.input_gradients(x)?;
        let f0 = initial.forward(x)?;
        let phi_m = kernel::empirical_train_train(&initial.params, x, &arch, KernelWhat::Phi)?;
        // Θ_m = Φ_m ∘ (X Xᵀ + 1) [+ Σ_m], from Φ_m without a second pass over the neurons.
        let mut theta_m = linalg::cross_product(x, x, 1.0);
        let offset = if arch.bias { 1.0 } else { 0.0 };
        linalg::zip_map(theta_m.as_mut(), phi_m.as_ref(), false, |dot, phi| {
            phi * (dot + offset)
        });
        if arch.train_readout {
            let sigma = kernel::empirical_train_train(&initial.params, x, &arch, KernelWhat::Nngp)?;
            linalg::zip_map(theta_m.as_mut(), sigma.as_ref(), false, |v, s| v + s);
        }
        // The flows take the Gram matrices themselves (no copy: for mse they are decomposed in
        // their own storage).
        let flow_finite = LinearizedFlow::from_gram(theta_m, &train.y, &f0, loss, ode)?;
        let theta = kernel::infinite_train_train(x, &arch, KernelWhat::Ntk)?;
        let zeros = vec![0.0; train.n()];
        let flow_infinite = LinearizedFlow::from_gram(theta, &train.y, &zeros, loss, ode)?;
        Ok(Linearization {
            x: train.x.clone(),
            y: train.y.clone(),
            loss,
            initial,
            grad0,
            phi_m,
            arch,
            flow_finite,
            flow_infinite,
        })
    }

    /// The initial network.
    pub fn initial(&self) -> &Network {
        &self.initial
    }

    /// ∇f_0 at the training inputs (N×d).
    pub fn initial_gradients(&self) -> &Mat<f64> {
        &self.grad0
    }

    /// Continues training `net` on the data for `steps` plain GD steps of size `lr` (momentum 0, so
    /// training in pieces gives bit for bit the same parameters as one run).
    pub fn train(
        &self,
        mut net: Network,
        lr: f64,
        steps: usize,
        progress: impl FnMut(usize),
    ) -> Result<Network> {
        let opts = TrainOptions {
            lr,
            steps,
            momentum: 0.0,
            loss: self.loss,
            record_every: steps.max(1),
        };
        net.train(self.x.as_ref(), &self.y, None, &opts, progress)?;
        Ok(net)
    }

    /// α^m(T) and α^∞(T) for every time (non-negative, non-decreasing).
    pub fn coefficients(&self, times: &[f64]) -> Result<Vec<Coefficients>> {
        let finite = self.flow_finite.coefficients(times)?;
        let infinite = self.flow_infinite.coefficients(times)?;
        Ok(times
            .iter()
            .zip(finite.into_iter().zip(infinite))
            .map(|(&time, (finite, infinite))| Coefficients {
                time,
                finite,
                infinite,
            })
            .collect())
    }

    /// `lin` at the training inputs for coefficients α^m, from the cached Φ_m(X, X) and ∇f_0(X).
    pub fn lin(&self, alpha: &[f64]) -> Result<Mat<f64>> {
        let x = self.x.as_ref();
        let mut out = self.grad0.clone();
        weighted_rows_add(&mut out, &self.phi_m, alpha, x);
        if self.arch.train_readout {
            readout_term_add(&mut out, &self.initial, x, alpha, x);
        }
        Ok(out)
    }

    /// All five directions at the training inputs for the trained network `net` and the
    /// coefficients of its flow time.
    pub fn directions(&self, net: &Network, coeffs: &Coefficients) -> Result<Directions> {
        let x = self.x.as_ref();
        Ok(Directions {
            time: coeffs.time,
            net: net.input_gradients(x)?,
            init: self.grad0.clone(),
            lin: self.lin(&coeffs.finite)?,
            sum: kernel::weighted_sum_direction(x, x, &coeffs.infinite, &self.arch)?,
            kernel: kernel::kernel_gradient_direction(x, x, &coeffs.infinite, &self.arch)?,
        })
    }

    /// The training inputs X.
    pub fn inputs(&self) -> MatRef<'_, f64> {
        self.x.as_ref()
    }
}

/// out += (K ∘ 1 αᵀ) X for K (M×N) and X (N×d): one GEMM.
fn weighted_rows_add(out: &mut Mat<f64>, k: &Mat<f64>, alpha: &[f64], x: MatRef<'_, f64>) {
    let mut coeff = k.clone();
    linalg::map_entries(coeff.as_mut(), false, |_, n, v| v * alpha[n]);
    linalg::matmul(out.as_mut(), Accum::Add, coeff.as_ref(), x, 1.0);
}

/// out += Σ_n α_n ∇_z Σ_m(x_n, z) = (φ'(H_Z) ∘ 1 cᵀ) W with c_k = (1/m) Σ_n α_n φ(u_k(x_n)):
/// the first-order change of ∇f from training the readout ã = √m a (§13.1).
fn readout_term_add(
    out: &mut Mat<f64>,
    initial: &Network,
    x: MatRef<'_, f64>,
    alpha: &[f64],
    z: MatRef<'_, f64>,
) {
    let params = &initial.params;
    let gamma = initial.config.arch.gamma;
    let m = params.width();
    let hx = kernel::empirical::preactivations(params, x);
    let c: Vec<f64> = (0..m)
        .map(|k| {
            let col = hx.col(k);
            (0..x.nrows())
                .map(|n| alpha[n] * activation(col[n], gamma))
                .sum::<f64>()
                / m as f64
        })
        .collect();
    let mut dz = kernel::empirical::preactivations(params, z);
    linalg::map_entries(dz.as_mut(), false, |_, k, u| {
        activation_derivative(u, gamma) * c[k]
    });
    linalg::matmul(
        out.as_mut(),
        Accum::Add,
        dz.as_ref(),
        params.w.as_ref(),
        1.0,
    );
}

/// `lin` at arbitrary inputs `z`: ∇_z of f_0(z) + Σ_n α_n Θ_m(x_n, z) for the initial network
/// `initial` and training inputs `x` (exact wherever no pre-activation u_k(z) is 0).
pub fn lazy_gradient(
    initial: &Network,
    x: MatRef<'_, f64>,
    alpha: &[f64],
    z: MatRef<'_, f64>,
) -> Result<Mat<f64>> {
    check_alpha(x, alpha)?;
    let arch = initial.config.arch;
    let phi = kernel::empirical_test_train(&initial.params, z, x, &arch, KernelWhat::Phi)?;
    let mut out = initial.input_gradients(z)?;
    weighted_rows_add(&mut out, &phi, alpha, x);
    if arch.train_readout {
        readout_term_add(&mut out, initial, x, alpha, z);
    }
    Ok(out)
}

/// The linearised network's outputs f_0(z) + Σ_n α_n Θ_m(x_n, z) at the rows of `z`.
pub fn lazy_output(
    initial: &Network,
    x: MatRef<'_, f64>,
    alpha: &[f64],
    z: MatRef<'_, f64>,
) -> Result<Vec<f64>> {
    check_alpha(x, alpha)?;
    let arch = initial.config.arch;
    let k = kernel::empirical_test_train(&initial.params, z, x, &arch, KernelWhat::Ntk)?;
    let f0 = initial.forward(z)?;
    Ok(LinearizedFlow::predict(k.as_ref(), &f0, alpha))
}

fn check_alpha(x: MatRef<'_, f64>, alpha: &[f64]) -> Result<()> {
    if alpha.len() != x.nrows() {
        return Err(Error::Mismatch(format!(
            "{} coefficients for {} training inputs",
            alpha.len(),
            x.nrows()
        )));
    }
    Ok(())
}

/// The five vectors in the order used for pairs: each pair (a, b) has a before b, and b is the
/// reference of the relative residual ‖a − b‖/‖b‖.
pub const VECTORS: [&str; 5] = ["net", "lin", "kernel", "sum", "init"];

/// One line of `directions.csv`: the comparison of two directions at one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectionRow {
    /// Training sample n (z = x_n).
    pub index: usize,
    /// `a-b`, e.g. `net-sum`.
    pub pair: String,
    /// cos(a, b); None when either vector is zero.
    pub cosine: Option<f64>,
    /// ‖a − b‖/‖b‖; None when b is zero.
    pub relative_residual: Option<f64>,
}

fn vector<'a>(d: &'a Directions, name: &str) -> &'a Mat<f64> {
    match name {
        "net" => &d.net,
        "lin" => &d.lin,
        "kernel" => &d.kernel,
        "sum" => &d.sum,
        _ => &d.init,
    }
}

fn dot_row(a: &Mat<f64>, b: &Mat<f64>, i: usize) -> f64 {
    (0..a.ncols()).map(|j| a[(i, j)] * b[(i, j)]).sum()
}

fn norm_row(a: &Mat<f64>, i: usize) -> f64 {
    dot_row(a, a, i).sqrt()
}

/// Norm of a linear combination Σ_j c_j v_j of rows i.
fn combination_norm(terms: &[(f64, &Mat<f64>)], i: usize) -> f64 {
    let d = terms[0].1.ncols();
    (0..d)
        .map(|j| {
            let v: f64 = terms.iter().map(|(c, m)| c * m[(i, j)]).sum();
            v * v
        })
        .sum::<f64>()
        .sqrt()
}

pub use crate::linalg::cosine;

fn ratio(num: f64, den: f64) -> Option<f64> {
    if den == 0.0 {
        return None;
    }
    let r = num / den;
    r.is_finite().then_some(r)
}

/// cos and relative residual for every input and every pair of [`VECTORS`] (10 pairs per input).
pub fn compare(d: &Directions) -> Vec<DirectionRow> {
    let n = d.net.nrows();
    let mut rows = Vec::with_capacity(n * 10);
    for i in 0..n {
        for (p, a_name) in VECTORS.iter().enumerate() {
            for b_name in &VECTORS[p + 1..] {
                let (a, b) = (vector(d, a_name), vector(d, b_name));
                let nb = norm_row(b, i);
                let cos = crate::linalg::row_cosine(a.as_ref(), b.as_ref(), i);
                let diff = combination_norm(&[(1.0, a), (-1.0, b)], i);
                rows.push(DirectionRow {
                    index: i,
                    pair: format!("{a_name}-{b_name}"),
                    cosine: cos,
                    relative_residual: ratio(diff, nb),
                });
            }
        }
    }
    rows
}

/// Mean and minimum cosine of one pair over the inputs where it is defined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairSummary {
    /// `a-b`.
    pub pair: String,
    /// Mean cosine over defined inputs (None if none is defined).
    pub mean_cosine: Option<f64>,
    /// Minimum cosine over defined inputs.
    pub min_cosine: Option<f64>,
    /// Mean relative residual ‖a − b‖/‖b‖ over defined inputs.
    pub mean_relative_residual: Option<f64>,
    /// Inputs where the cosine is undefined (a zero vector).
    pub undefined: usize,
}

/// Per-pair summary of [`compare`]'s rows, pairs in their order of appearance.
pub fn summarize(rows: &[DirectionRow]) -> Vec<PairSummary> {
    let mut pairs: Vec<String> = Vec::new();
    for r in rows {
        if !pairs.contains(&r.pair) {
            pairs.push(r.pair.clone());
        }
    }
    pairs
        .into_iter()
        .map(|pair| {
            let cos: Vec<f64> = rows
                .iter()
                .filter(|r| r.pair == pair)
                .filter_map(|r| r.cosine)
                .collect();
            let res: Vec<f64> = rows
                .iter()
                .filter(|r| r.pair == pair)
                .filter_map(|r| r.relative_residual)
                .collect();
            let total = rows.iter().filter(|r| r.pair == pair).count();
            PairSummary {
                undefined: total - cos.len(),
                mean_cosine: mean(&cos),
                min_cosine: cos.iter().copied().reduce(f64::min),
                mean_relative_residual: mean(&res),
                pair,
            }
        })
        .collect()
}

/// Mean of a slice; None when empty.
pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The split of net − sum at one input (§5.3), every norm divided by ‖sum‖.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PointResiduals {
    /// ‖∇f_0‖/‖sum‖: the initialisation part.
    pub init: Option<f64>,
    /// ‖lin − ∇f_0 − sum‖/‖sum‖: the finite-width part (Φ_m − Φ_γ, α^m − α^∞, readout term).
    pub finite_width: Option<f64>,
    /// ‖net − lin‖/‖sum‖: pattern flips and other non-linear effects of training.
    pub pattern_flip: Option<f64>,
    /// ‖net − ∇f_0 − kernel‖/‖sum‖: what the infinite-width gradient leaves unexplained.
    pub net_kernel: Option<f64>,
    /// ‖kernel − sum‖/‖sum‖: the size of the ∇Φ_γ term.
    pub kernel_term: Option<f64>,
    /// ‖net − sum‖/‖sum‖: the whole residual.
    pub total: Option<f64>,
}

/// [`PointResiduals`] at every input.
pub fn residuals(d: &Directions) -> Vec<PointResiduals> {
    (0..d.net.nrows())
        .map(|i| {
            let s = norm_row(&d.sum, i);
            let rel = |terms: &[(f64, &Mat<f64>)]| ratio(combination_norm(terms, i), s);
            PointResiduals {
                init: rel(&[(1.0, &d.init)]),
                finite_width: rel(&[(1.0, &d.lin), (-1.0, &d.init), (-1.0, &d.sum)]),
                pattern_flip: rel(&[(1.0, &d.net), (-1.0, &d.lin)]),
                net_kernel: rel(&[(1.0, &d.net), (-1.0, &d.init), (-1.0, &d.kernel)]),
                kernel_term: rel(&[(1.0, &d.kernel), (-1.0, &d.sum)]),
                total: rel(&[(1.0, &d.net), (-1.0, &d.sum)]),
            }
        })
        .collect()
}

/// Row i of a matrix as a vector.
pub fn row(m: &Mat<f64>, i: usize) -> Vec<f64> {
    (0..m.ncols()).map(|j| m[(i, j)]).collect()
}
