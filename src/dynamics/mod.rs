//! Linearised gradient flow of the two-layer network in the kernel regime (§3.3, §13.2).
//!
//! With K = Θ(X, X) (N×N), F_t = f_t(X) and the empirical risk L = (1/N) Σ_n loss(f(x_n), y_n), the
//! lazy dynamics keep every prediction in the span of the kernel sections at the training points:
//!
//! ```text
//! f_t(z) = f_0(z) + Σ_n α_n(t) Θ(x_n, z)        for every input z (train or test).
//! ```
//!
//! [`LinearizedFlow`] computes α(t) for a list of times with one of three solvers (§13.2):
//!
//! * [`identity`]: ℓ(s) = s, α(t) = (t/N)·Y exactly;
//! * [`mse`]: ½(f − y)², closed form from one eigendecomposition ([`spectrum`]) for every t, t = ∞
//!   included;
//! * [`ode`]: logistic ℓ(s) = log(1 + e^s) and exponential ℓ(s) = e^s, by an adaptive
//!   Dormand–Prince 5(4) integration of the N-dimensional flow.
//!
//! Predictions at test inputs for many times are one GEMM K(Z, X)·[α(t_1) … α(t_T)]
//! ([`LinearizedFlow::predict_many`]).

pub mod dataset_flow;
mod evd;
pub mod identity;
pub mod mse;
pub mod ode;
pub mod spectrum;

use faer::{Accum, Mat, MatRef};
use serde::{Deserialize, Serialize};

pub use dataset_flow::{FlowRun, FlowSpec, InitialOutputs, flow_of_dataset};
pub use identity::IdentitySolver;
pub use mse::MseSolver;
pub use ode::{OdeSolver, dormand_prince};
pub use spectrum::Spectrum;

use crate::error::{Error, Result};
use crate::linalg;
use crate::model::Loss;

/// Tolerances of the adaptive integrator used by the logistic and exponential losses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OdeOptions {
    /// Relative tolerance of the local error per step.
    pub rtol: f64,
    /// Absolute tolerance of the local error per step.
    pub atol: f64,
    /// Largest number of attempted steps (accepted and rejected) over the whole integration.
    pub max_steps: usize,
}

impl Default for OdeOptions {
    fn default() -> Self {
        OdeOptions {
            rtol: 1e-8,
            atol: 1e-10,
            max_steps: 1_000_000,
        }
    }
}

impl OdeOptions {
    /// Checks rtol ∈ [1e-14, 1), atol ≥ 0 (both finite) and max_steps ≥ 1.
    pub fn validate(&self) -> Result<()> {
        if !(self.rtol.is_finite() && self.rtol >= 1e-14 && self.rtol < 1.0) {
            return Err(Error::invalid(
                "rtol",
                format!("must lie in [1e-14, 1), got {}", self.rtol),
            ));
        }
        if !(self.atol.is_finite() && self.atol >= 0.0) {
            return Err(Error::invalid(
                "atol",
                format!("must be finite and non-negative, got {}", self.atol),
            ));
        }
        if self.max_steps == 0 {
            return Err(Error::invalid("max_steps", "must be at least 1"));
        }
        Ok(())
    }
}

/// α(t) and F_t at a list of times.
#[derive(Debug, Clone)]
pub struct Solution {
    /// The requested times.
    pub times: Vec<f64>,
    /// N×T; column j is α(t_j).
    pub coefficients: Mat<f64>,
    /// N×T; column j is F_{t_j} = f_{t_j}(X) (closed form for mse, integrated for the ODE losses).
    pub train_outputs: Mat<f64>,
    /// Eigenvalues of K treated as zero by the mse solver (their directions never move and the
    /// t = ∞ pseudo-inverse ignores them); 0 for the other losses.
    pub dropped: usize,
    /// Warning: K is numerically singular (`dropped > 0`), so the mse limit t = ∞ does not
    /// interpolate Y in the dropped directions.
    pub singular: bool,
}

/// The linearised flow of one training set: K, Y, F_0 and the loss, with the eigendecomposition of
/// K when the loss is mse (computed once in [`LinearizedFlow::new`] and shared by every time).
#[derive(Debug, Clone)]
pub struct LinearizedFlow {
    k: Mat<f64>,
    y: Vec<f64>,
    f0: Vec<f64>,
    loss: Loss,
    ode: OdeOptions,
    spectrum: Option<Spectrum>,
}

impl LinearizedFlow {
    /// Validates the inputs and, for mse, computes the eigendecomposition of K (on a copy of K;
    /// [`LinearizedFlow::from_gram`] takes K itself and needs no copy).
    ///
    /// `k_train_train` must be the full symmetric N×N Gram matrix; `y` and `f0_train` have N
    /// finite entries each.
    pub fn new(
        k_train_train: MatRef<'_, f64>,
        y: &[f64],
        f0_train: &[f64],
        loss: Loss,
        ode: OdeOptions,
    ) -> Result<Self> {
        let n = k_train_train.nrows();
        crate::memory::ensure_fits(
            "a copy of the train Gram matrix",
            crate::kernel::matrix_bytes(n, k_train_train.ncols()),
        )?;
        Self::from_gram(k_train_train.to_owned(), y, f0_train, loss, ode)
    }

    /// As [`LinearizedFlow::new`], consuming K: for mse it is tridiagonalised in its own storage
    /// and holds the eigenvectors' Householder reflectors afterwards (§8.3), so the flow adds 8N²
    /// bytes to K's instead of copying it.
    pub fn from_gram(
        k_train_train: Mat<f64>,
        y: &[f64],
        f0_train: &[f64],
        loss: Loss,
        ode: OdeOptions,
    ) -> Result<Self> {
        let n = k_train_train.nrows();
        if k_train_train.ncols() != n || y.len() != n || f0_train.len() != n {
            return Err(Error::Mismatch(format!(
                "the train Gram matrix is {}×{} but there are {} labels and {} initial outputs",
                n,
                k_train_train.ncols(),
                y.len(),
                f0_train.len()
            )));
        }
        if n == 0 {
            return Err(Error::Mismatch("the training set is empty".into()));
        }
        for (what, v) in [("label", y), ("initial output", f0_train)] {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::Mismatch(format!(
                    "{what} {i} is not finite ({})",
                    v[i]
                )));
            }
        }
        if matches!(loss, Loss::Logistic | Loss::Exponential) {
            ode.validate()?;
        }
        let (k, spectrum) = if loss == Loss::Mse {
            (Mat::zeros(0, 0), Some(Spectrum::from_gram(k_train_train)?))
        } else {
            if let Some((i, j)) = first_non_finite(k_train_train.as_ref()) {
                return Err(Error::Mismatch(format!(
                    "the train Gram matrix has a non-finite entry at ({i}, {j})"
                )));
            }
            (k_train_train, None)
        };
        Ok(LinearizedFlow {
            k,
            y: y.to_vec(),
            f0: f0_train.to_vec(),
            loss,
            ode,
            spectrum,
        })
    }

    /// The loss being minimised.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// Number of training samples N.
    pub fn n(&self) -> usize {
        self.y.len()
    }

    /// Labels Y.
    pub fn labels(&self) -> &[f64] {
        &self.y
    }

    /// Initial training outputs F_0.
    pub fn initial_outputs(&self) -> &[f64] {
        &self.f0
    }

    /// The eigendecomposition of K (mse only).
    pub fn spectrum(&self) -> Option<&Spectrum> {
        self.spectrum.as_ref()
    }

    /// α(t) and F_t at every time of `times` (non-negative, non-decreasing; ∞ only for mse).
    pub fn solve(&self, times: &[f64]) -> Result<Solution> {
        check_times(times)?;
        let (coefficients, train_outputs) = match self.loss {
            Loss::Identity => IdentitySolver {
                k: self.k.as_ref(),
                y: &self.y,
                f0: &self.f0,
            }
            .solve(times)?,
            Loss::Mse => self.mse_solver()?.solve(times)?,
            Loss::Logistic | Loss::Exponential => OdeSolver {
                k: self.k.as_ref(),
                y: &self.y,
                f0: &self.f0,
                loss: self.loss,
                options: self.ode,
            }
            .solve(times)?,
        };
        let dropped = self.spectrum.as_ref().map_or(0, Spectrum::dropped);
        Ok(Solution {
            times: times.to_vec(),
            coefficients,
            train_outputs,
            dropped,
            singular: dropped > 0,
        })
    }

    /// α(t) for each time (see [`LinearizedFlow::solve`]).
    pub fn coefficients(&self, times: &[f64]) -> Result<Vec<Vec<f64>>> {
        let s = self.solve(times)?;
        Ok(columns(s.coefficients.as_ref()))
    }

    /// F_t at time `t` with coefficients `alpha` = α(t). For mse this is the closed form
    /// Y − V diag(e^{−tλ/N}) Vᵀ(Y − F_0), better conditioned than F_0 + K α (which it equals up to
    /// rounding); for the other losses it is F_0 + K α.
    pub fn train_outputs(&self, t: f64, alpha: &[f64]) -> Vec<f64> {
        assert_eq!(alpha.len(), self.n(), "α has the wrong length");
        if self.loss == Loss::Mse && t == 0.0 {
            return self.f0.clone();
        }
        if let (Loss::Mse, Ok(solver)) = (self.loss, self.mse_solver())
            && let Ok(f) = solver.train_outputs(t)
        {
            return f;
        }
        Self::predict(self.k.as_ref(), &self.f0, alpha)
    }

    /// f_t(Z) = f_0(Z) + K(Z, X) α for one coefficient vector.
    pub fn predict(k_test_train: MatRef<'_, f64>, f0_test: &[f64], alpha: &[f64]) -> Vec<f64> {
        let a = MatRef::from_column_major_slice(alpha, alpha.len(), 1);
        let p = Self::predict_many(k_test_train, f0_test, a);
        (0..p.nrows()).map(|i| p[(i, 0)]).collect()
    }

    /// f_{t_j}(Z) for every column α(t_j) of `alphas` (N×T): one GEMM K(Z, X)·A plus f_0(Z), M×T.
    ///
    /// Panics when the dimensions do not fit (M×N kernel, M initial outputs, N rows of α).
    pub fn predict_many(
        k_test_train: MatRef<'_, f64>,
        f0_test: &[f64],
        alphas: MatRef<'_, f64>,
    ) -> Mat<f64> {
        let (m, n) = (k_test_train.nrows(), k_test_train.ncols());
        assert_eq!(f0_test.len(), m, "f0_test must have one entry per test row");
        assert_eq!(
            alphas.nrows(),
            n,
            "α must have one entry per training sample"
        );
        let mut out = Mat::from_fn(m, alphas.ncols(), |i, _| f0_test[i]);
        linalg::matmul(out.as_mut(), Accum::Add, k_test_train, alphas, 1.0);
        out
    }

    /// The closed-form solver; the mse flow computes its spectrum in [`LinearizedFlow::new`].
    fn mse_solver(&self) -> Result<MseSolver<'_>> {
        let spectrum = self
            .spectrum
            .as_ref()
            .ok_or_else(|| Error::numerical("mse dynamics", "the eigendecomposition is missing"))?;
        Ok(MseSolver {
            spectrum,
            y: &self.y,
            f0: &self.f0,
        })
    }
}

/// The columns of a matrix as vectors.
pub fn columns(m: MatRef<'_, f64>) -> Vec<Vec<f64>> {
    (0..m.ncols())
        .map(|j| (0..m.nrows()).map(|i| m[(i, j)]).collect())
        .collect()
}

fn first_non_finite(k: MatRef<'_, f64>) -> Option<(usize, usize)> {
    for j in 0..k.ncols() {
        for i in 0..k.nrows() {
            if !k[(i, j)].is_finite() {
                return Some((i, j));
            }
        }
    }
    None
}

fn check_times(times: &[f64]) -> Result<()> {
    if times.is_empty() {
        return Err(Error::invalid("times", "no times given"));
    }
    for (i, &t) in times.iter().enumerate() {
        if t.is_nan() || t < 0.0 {
            return Err(Error::invalid(
                "times",
                format!("times must be non-negative numbers, got {t}"),
            ));
        }
        if i > 0 && t < times[i - 1] {
            return Err(Error::invalid(
                "times",
                format!(
                    "times must be non-decreasing, but {t} follows {}",
                    times[i - 1]
                ),
            ));
        }
    }
    Ok(())
}

/// Peak bytes of the dynamics for `n` training and `n_test` test inputs with the given loss: the
/// N×N train Gram and the M×N test Gram (8 bytes per entry), plus, for `mse`, what the
/// eigendecomposition needs besides K's own storage (8N², [`spectrum::extra_bytes`]); the flow
/// consumes K ([`LinearizedFlow::from_gram`]) for every loss.
pub fn memory_bytes(n: usize, n_test: usize, loss: Loss) -> u64 {
    let square = crate::kernel::matrix_bytes(n, n);
    let grams = square + crate::kernel::matrix_bytes(n_test, n);
    grams
        + match loss {
            Loss::Identity => 0,
            Loss::Mse => spectrum::extra_bytes(n),
            Loss::Logistic | Loss::Exponential => 0,
        }
}

/// Parses a list of times: comma-separated items, each a number (`0`, `1e3`, `inf`) or
/// `logspace:A:B:K` (K ≥ 1 points from A to B, 0 < A ≤ B, equally spaced in log t, both ends
/// included), e.g. `0,1,10,100,inf` or `logspace:1e-2:1e4:50`. The result must be non-negative,
/// free of NaN and non-decreasing; errors name the flag `--times`.
pub fn parse_times(spec: &str) -> Result<Vec<f64>> {
    let bad = |m: String| Error::invalid("times", m);
    let mut out = Vec::new();
    for item in spec.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(bad(format!("empty item in {spec:?}")));
        }
        if let Some(rest) = item.strip_prefix("logspace:") {
            let parts: Vec<&str> = rest.split(':').collect();
            if parts.len() != 3 {
                return Err(bad(format!("{item:?}: expected logspace:START:END:COUNT")));
            }
            let a = parse_number(parts[0])?;
            let b = parse_number(parts[1])?;
            let count: usize = parts[2]
                .trim()
                .parse()
                .map_err(|_| bad(format!("{item:?}: COUNT must be a positive integer")))?;
            if !(a > 0.0 && b.is_finite() && a <= b) || count == 0 {
                return Err(bad(format!(
                    "{item:?}: need 0 < START ≤ END < ∞ and COUNT ≥ 1"
                )));
            }
            let (la, lb) = (a.log10(), b.log10());
            for i in 0..count {
                let t = if i == 0 {
                    a
                } else if i + 1 == count {
                    b
                } else {
                    10f64.powf(la + (lb - la) * i as f64 / (count - 1) as f64)
                };
                out.push(t);
            }
        } else {
            out.push(parse_number(item)?);
        }
    }
    check_times(&out)?;
    Ok(out)
}

fn parse_number(s: &str) -> Result<f64> {
    let s = s.trim();
    let v: f64 = s
        .parse()
        .map_err(|_| Error::invalid("times", format!("{s:?} is not a number")))?;
    if v.is_nan() {
        return Err(Error::invalid("times", "NaN is not a time"));
    }
    Ok(v)
}
