//! Mean squared error ½·mean (f − y)² (§13.2; outside the paper's loss class, §3.3).
//!
//! The flow ∂_t F = −(1/N) K (F − Y) is linear. With K = V Λ Vᵀ and c = Vᵀ(Y − F_0):
//!
//! ```text
//! α(t) = V diag(−expm1(−t λ_i/N) / λ_i) c,        F_t = Y − V diag(exp(−t λ_i/N)) c.
//! ```
//!
//! Eigenvalues at or below the spectrum's threshold τ·λ_max (τ = 10·N·ε, see
//! [`super::spectrum`]) are treated as exactly 0: their coefficient is the λ → 0 limit t/N and their
//! direction of F does not move. At t = ∞ the coefficients are the pseudo-inverse on the retained
//! eigenvalues, α = V Λ⁺ c, and F_∞ = Y − V_0 V_0ᵀ (Y − F_0) with V_0 the dropped eigenvectors.
//! Every time costs two entries per eigenvalue; all times together are one product Vᵀ r and one
//! V·[G_α G_F] with the N×2T block of per-time coefficients, both applied through the
//! decomposition's factors without forming V (§8.5).

use faer::Mat;

use super::spectrum::Spectrum;
use crate::error::Result;

/// Closed-form solver of the mse flow from one eigendecomposition.
pub struct MseSolver<'a> {
    /// Eigendecomposition of K.
    pub spectrum: &'a Spectrum,
    /// Labels Y.
    pub y: &'a [f64],
    /// Initial training outputs F_0.
    pub f0: &'a [f64],
}

impl MseSolver<'_> {
    /// c = Vᵀ (Y − F_0).
    fn projected_residual(&self) -> Result<Mat<f64>> {
        let n = self.y.len();
        let r = Mat::from_fn(n, 1, |i, _| self.y[i] - self.f0[i]);
        self.spectrum.apply_vt(r.as_ref())
    }

    /// The per-eigenvalue factors (coefficient, decay) of eigenvalue `i` at time `t`.
    fn factors(&self, i: usize, t: f64) -> (f64, f64) {
        let nf = self.y.len() as f64;
        let lambda = self.spectrum.eigenvalues()[i];
        if !self.spectrum.is_retained(i) {
            // λ treated as 0: α grows like t/N (none at t = ∞, the pseudo-inverse), F does not move.
            let a = if t.is_infinite() { 0.0 } else { t / nf };
            return (a, 1.0);
        }
        if t.is_infinite() {
            return (1.0 / lambda, 0.0);
        }
        let x = t * lambda / nf;
        (-(-x).exp_m1() / lambda, (-x).exp())
    }

    /// α(t_k) and F_{t_k} as the columns of two N×T matrices. t = 0 gives α = 0 and F_0 exactly.
    pub fn solve(&self, times: &[f64]) -> Result<(Mat<f64>, Mat<f64>)> {
        let (n, nt) = (self.y.len(), times.len());
        let c = self.projected_residual()?;
        // Columns 0..T: diag(coefficient) c; columns T..2T: diag(decay) c.
        let mut g = Mat::<f64>::zeros(n, 2 * nt);
        for (j, &t) in times.iter().enumerate() {
            for i in 0..n {
                let (a, e) = self.factors(i, t);
                g[(i, j)] = a * c[(i, 0)];
                g[(i, nt + j)] = e * c[(i, 0)];
            }
        }
        let vg = self.spectrum.apply_v(g.as_ref())?;
        let mut alphas = vg.as_ref().subcols(0, nt).to_owned();
        // F = Y − V G_F
        let mut outputs = Mat::from_fn(n, nt, |i, j| self.y[i] - vg[(i, nt + j)]);
        for (j, &t) in times.iter().enumerate() {
            if t == 0.0 {
                for i in 0..n {
                    alphas[(i, j)] = 0.0;
                    outputs[(i, j)] = self.f0[i];
                }
            }
        }
        Ok((alphas, outputs))
    }

    /// F_t alone (one time), by the closed form.
    pub fn train_outputs(&self, t: f64) -> Result<Vec<f64>> {
        let (_, f) = self.solve(&[t])?;
        Ok((0..self.y.len()).map(|i| f[(i, 0)]).collect())
    }
}
