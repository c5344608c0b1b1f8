//! Identity loss ℓ(s) = s (§3.3, §13.2).
//!
//! ℓ' ≡ 1, so the linearised gradient flow ∂_t f_t(z) = (1/N) Σ_n y_n Θ(x_n, z) has the exact solution
//!
//! ```text
//! α(t) = (t/N)·Y,        F_t = F_0 + (t/N)·K Y.
//! ```
//!
//! f_t is affine in t and unbounded, so t = ∞ has no meaning and is refused.

use faer::{Accum, Mat, MatRef};

use crate::error::{Error, Result};
use crate::linalg;

/// Exact solver of the identity-loss flow.
pub struct IdentitySolver<'a> {
    /// Train Gram matrix K (N×N, full symmetric).
    pub k: MatRef<'a, f64>,
    /// Labels Y.
    pub y: &'a [f64],
    /// Initial training outputs F_0.
    pub f0: &'a [f64],
}

impl IdentitySolver<'_> {
    /// α(t_k) and F_{t_k} as the columns of two N×T matrices.
    pub fn solve(&self, times: &[f64]) -> Result<(Mat<f64>, Mat<f64>)> {
        if let Some(t) = times.iter().find(|t| t.is_infinite()) {
            return Err(Error::invalid(
                "times",
                format!("the identity loss grows without bound; t = {t} is not allowed"),
            ));
        }
        let n = self.y.len();
        let nf = n as f64;
        let mut ky = Mat::<f64>::zeros(n, 1);
        let y = MatRef::from_column_major_slice(self.y, n, 1);
        linalg::matmul(ky.as_mut(), Accum::Replace, self.k, y, 1.0);
        let alphas = Mat::from_fn(n, times.len(), |i, j| coefficient(times[j], nf, self.y[i]));
        let outputs = Mat::from_fn(n, times.len(), |i, j| {
            self.f0[i] + times[j] / nf * ky[(i, 0)]
        });
        Ok((alphas, outputs))
    }

    /// α(t) = (t/N)·Y alone: the coefficients do not depend on K, so a caller that needs only
    /// them (not F_t) need not form the Gram matrix. Equal, bit for bit, to the column of
    /// [`IdentitySolver::solve`] at t.
    pub fn coefficients(y: &[f64], t: f64) -> Result<Vec<f64>> {
        if t.is_nan() || t < 0.0 {
            return Err(Error::invalid(
                "times",
                format!("times must be non-negative numbers, got {t}"),
            ));
        }
        if t.is_infinite() {
            return Err(Error::invalid(
                "times",
                format!("the identity loss grows without bound; t = {t} is not allowed"),
            ));
        }
        let nf = y.len() as f64;
        Ok(y.iter().map(|&yi| coefficient(t, nf, yi)).collect())
    }
}

/// One coefficient α_i(t) = (t/N)·y_i.
#[inline]
fn coefficient(t: f64, n: f64, y: f64) -> f64 {
    t / n * y
}
