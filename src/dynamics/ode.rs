//! Margin losses without a closed form: logistic ℓ(s) = log(1 + e^s) and exponential ℓ(s) = e^s
//! (§3.3, §13.2).
//!
//! The training outputs F and the coefficients α solve the 2N-dimensional autonomous system
//!
//! ```text
//! dF/dt = (1/N) K (y ⊙ ℓ'(−y ⊙ F)),        dα/dt = (1/N) y ⊙ ℓ'(−y ⊙ F),
//! F(0) = F_0,  α(0) = 0,
//! ```
//!
//! so that F_t = F_0 + K α(t) and α_n = λ_n y_n / N with λ_n = ∫_0^t ℓ'(−y_n F_n) of §3.3. It is
//! integrated by the explicit Dormand–Prince 5(4) pair (Dormand & Prince 1980; Hairer, Nørsett &
//! Wanner, *Solving ODEs I*, §II.5) with local extrapolation, the error norm
//! ‖e‖ = RMS_i e_i / (atol + rtol·max(|z_i|, |z_i'|)) and the step-size rule
//! h' = h·min(5, max(0.2, 0.9·‖e‖^{−1/5})). The integration stops exactly at each requested time
//! (times non-decreasing); no dense output is needed.
//!
//! Written here rather than taken from a crate: the Rust ODE crates integrate their own vector
//! types, while this system lives in faer matrices whose products must run on the fixed tiles
//! that make results independent of the thread count (§8.6), and the method is one tableau.

use faer::{Accum, Mat, MatMut, MatRef};

use super::OdeOptions;
use crate::error::{Error, Result};
use crate::linalg;
use crate::model::Loss;

// Dormand–Prince 5(4) tableau (the nodes c_i are not needed: the system is autonomous). Row 7 holds
// the fifth-order weights, so stage 7 is evaluated at the new point and reused (first same as last).
const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
/// Fifth-order weights minus fourth-order weights: the local error estimate.
const E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];

/// Integrates the autonomous system z' = rhs(z) from z(0) = `z0` with the Dormand–Prince 5(4) pair
/// and returns z at each of `times` (non-negative, finite, non-decreasing).
///
/// `rhs(z, dz)` writes the derivative. A step whose stages are not finite is rejected and retried
/// with a smaller step; the integration fails with [`Error::Numerical`] (naming `context` and the
/// time reached) when the state or its derivative is not finite at an accepted point, when the step
/// size underflows, or after `options.max_steps` attempted steps.
pub fn dormand_prince<R>(
    z0: &[f64],
    times: &[f64],
    mut rhs: R,
    options: &OdeOptions,
    context: &str,
) -> Result<Vec<Vec<f64>>>
where
    R: FnMut(&[f64], &mut [f64]),
{
    options.validate()?;
    let dim = z0.len();
    let mut z = z0.to_vec();
    let mut t = 0.0_f64;
    let mut k: Vec<Vec<f64>> = vec![vec![0.0; dim]; 7];
    let mut stage = vec![0.0; dim];
    let mut z_new = vec![0.0; dim];
    let mut out = Vec::with_capacity(times.len());
    let mut steps = 0usize;
    let fail = |t: f64, message: String| {
        Error::numerical(
            context,
            format!("{message} (integration reached t = {t:e})"),
        )
    };

    rhs(&z, &mut k[0]);
    if !all_finite(&z) || !all_finite(&k[0]) {
        return Err(fail(t, "non-finite state or derivative".into()));
    }
    let mut h = f64::NAN; // chosen at the first step

    for &target in times {
        if !(target.is_finite() && target >= t) {
            return Err(Error::invalid(
                "times",
                format!("ODE times must be finite and non-decreasing, got {target} after {t}"),
            ));
        }
        while t < target {
            if h.is_nan() {
                h = initial_step(&z, &k[0], &mut rhs, options);
            }
            if h <= 16.0 * f64::EPSILON * t.abs().max(f64::MIN_POSITIVE) {
                return Err(fail(t, format!("step size underflow (h = {h:e})")));
            }
            let remaining = target - t;
            // Land exactly on the target rather than a few ulps short of it.
            let clamped = h >= remaining - 16.0 * f64::EPSILON * target;
            let step = if clamped { remaining } else { h };
            steps += 1;
            if steps > options.max_steps {
                return Err(fail(
                    t,
                    format!(
                        "more than {} steps; raise the step limit or loosen rtol/atol",
                        options.max_steps
                    ),
                ));
            }
            // Stages 2..7 (stage 1 is the FSAL derivative at z).
            for s in 1..7 {
                for i in 0..dim {
                    let mut acc = 0.0;
                    for (q, kq) in k.iter().enumerate().take(s) {
                        acc += A[s][q] * kq[i];
                    }
                    stage[i] = z[i] + step * acc;
                }
                if s == 6 {
                    z_new.copy_from_slice(&stage);
                }
                rhs(&stage, &mut k[s]);
            }
            let finite = all_finite(&z_new) && k.iter().all(|kk| all_finite(kk));
            let err = if finite {
                let mut sum = 0.0;
                for i in 0..dim {
                    let mut e = 0.0;
                    for (q, kq) in k.iter().enumerate() {
                        e += E[q] * kq[i];
                    }
                    let scale = options.atol + options.rtol * z[i].abs().max(z_new[i].abs());
                    let r = step * e / scale;
                    sum += r * r;
                }
                (sum / dim.max(1) as f64).sqrt()
            } else {
                f64::INFINITY
            };
            if err <= 1.0 {
                t = if clamped { target } else { t + step };
                std::mem::swap(&mut z, &mut z_new);
                k.swap(0, 6); // first-same-as-last: k7 is the derivative at the new point
                let factor = if err == 0.0 {
                    5.0
                } else {
                    (0.9 * err.powf(-0.2)).clamp(0.2, 5.0)
                };
                // A step shortened to land on `target` does not shrink the natural step size.
                h = if clamped {
                    h.max(step * factor)
                } else {
                    step * factor
                };
            } else if finite {
                h = step * (0.9 * err.powf(-0.2)).clamp(0.2, 1.0);
            } else {
                h = step * 0.2;
            }
        }
        out.push(z.clone());
    }
    Ok(out)
}

/// Starting step of Hairer, Nørsett & Wanner (II.4): h from the sizes of z, z' and z''.
fn initial_step<R>(z: &[f64], dz: &[f64], rhs: &mut R, options: &OdeOptions) -> f64
where
    R: FnMut(&[f64], &mut [f64]),
{
    let dim = z.len().max(1) as f64;
    let scale = |i: usize| options.atol + options.rtol * z[i].abs();
    let norm = |v: &dyn Fn(usize) -> f64| {
        ((0..z.len()).map(|i| (v(i) / scale(i)).powi(2)).sum::<f64>() / dim).sqrt()
    };
    let d0 = norm(&|i| z[i]);
    let d1 = norm(&|i| dz[i]);
    let h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    let z1: Vec<f64> = z.iter().zip(dz).map(|(a, b)| a + h0 * b).collect();
    let mut dz1 = vec![0.0; z.len()];
    rhs(&z1, &mut dz1);
    let d2 = norm(&|i| dz1[i] - dz[i]) / h0;
    let h1 = if d1.max(d2) <= 1e-15 || !d2.is_finite() {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / d1.max(d2)).powf(0.2)
    };
    (100.0 * h0).min(h1)
}

fn all_finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// Adaptive solver of the logistic / exponential flow.
pub struct OdeSolver<'a> {
    /// Train Gram matrix K (N×N, full symmetric: the flow multiplies by Kᵀ, which reads K by its
    /// contiguous columns).
    pub k: MatRef<'a, f64>,
    /// Labels Y.
    pub y: &'a [f64],
    /// Initial training outputs F_0.
    pub f0: &'a [f64],
    /// Logistic or exponential.
    pub loss: Loss,
    /// Tolerances and step limit.
    pub options: OdeOptions,
}

impl OdeSolver<'_> {
    /// α(t_k) and F_{t_k} as the columns of two N×T matrices. t = ∞ is refused.
    pub fn solve(&self, times: &[f64]) -> Result<(Mat<f64>, Mat<f64>)> {
        if let Some(t) = times.iter().find(|t| t.is_infinite()) {
            return Err(Error::invalid(
                "times",
                format!(
                    "the {:?} loss is integrated numerically; t = {t} is not allowed",
                    self.loss
                ),
            ));
        }
        let n = self.y.len();
        let nf = n as f64;
        let mut z0 = vec![0.0; 2 * n];
        z0[..n].copy_from_slice(self.f0);
        let (loss, y, k) = (self.loss, self.y, self.k);
        let rhs = |z: &[f64], dz: &mut [f64]| {
            let (f, _) = z.split_at(n);
            let (df, da) = dz.split_at_mut(n);
            for i in 0..n {
                da[i] = -loss.derivative(f[i], y[i]) / nf;
            }
            let g = MatRef::from_column_major_slice(da, n, 1);
            let out = MatMut::from_column_major_slice_mut(df, n, 1);
            // K is symmetric, so K g = Kᵀ g: Kᵀ reads K by its contiguous columns, and each row
            // tile of the product is then a set of contiguous dot products.
            linalg::matmul(out, Accum::Replace, k.transpose(), g, 1.0);
        };
        let context = format!("the {} loss gradient flow", loss.name());
        let states = dormand_prince(&z0, times, rhs, &self.options, &context)?;
        let alphas = Mat::from_fn(n, times.len(), |i, j| states[j][n + i]);
        let outputs = Mat::from_fn(n, times.len(), |i, j| states[j][i]);
        Ok((alphas, outputs))
    }
}
