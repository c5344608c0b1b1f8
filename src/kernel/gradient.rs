//! Input gradients of kernel predictors (§5.3, §13.3).
//!
//! For coefficients α ∈ R^N and training inputs x_n, the infinite-width predictor's kernel part is
//! h(z) = Σ_n α_n Θ(x_n, z). Two input-space directions are derived from it:
//!
//! * `sum`: Σ_n α_n Φ_γ(x_n, z) x_n — the paper's "weighted sum of training samples";
//! * `kernel`: ∇_z h(z) = `sum` + Σ_n α_n (x_n·z + 1) ∇_zΦ_γ(x_n, z) [+ Σ_n α_n ∇_z Σ_γ(x_n, z)].
//!
//! With ρ = c/(s_x s_z): ∇_z ρ = x/(d s_x s_z) − ρ z/(d s_z²), dΦ_γ/dθ = −(1−γ)²/(2π) and
//! dθ/dρ = −1/sin θ, so ∇_zΦ_γ = (1−γ)²/(2π sin θ) ∇_z ρ. At θ = 0 (z = x_n, the kink of Φ_γ as a
//! function of z) the term is taken as 0, a member of the Clarke subdifferential there.
//! For Σ_γ = γc + (1−γ)² s_x s_z J(θ)/(2π), J = sin θ + (π−θ) cos θ and J'(θ) = −(π−θ) sin θ:
//! ∇_z Σ_γ = γ x/d + (1−γ)²/(2π) [s_x J z/(d s_z) + s_x s_z (π−θ) ∇_z ρ].
//! Every direction is a combination C X + diag(c_z) Z, computed with one GEMM.

use std::f64::consts::PI;

use faer::{Mat, MatRef};
use rayon::prelude::*;

use super::KernelWhat;
use super::closed_form::PairGeometry;
use super::infinite::{check_dims, infinite_test_train};
use crate::error::{Error, Result};
use crate::linalg;
use crate::model::Architecture;

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

/// `sum` direction at each row z_i of `z`: Σ_n α_n Φ_γ(x_n, z_i) x_n (M×d).
pub fn weighted_sum_direction(
    z: MatRef<'_, f64>,
    x: MatRef<'_, f64>,
    alpha: &[f64],
    arch: &Architecture,
) -> Result<Mat<f64>> {
    check_alpha(x, alpha)?;
    let mut coeff = infinite_test_train(z, x, arch, KernelWhat::Phi)?;
    linalg::map_entries(coeff.as_mut(), false, |_, n, phi| phi * alpha[n]);
    let mut out = Mat::<f64>::zeros(z.nrows(), z.ncols());
    linalg::matmul(out.as_mut(), faer::Accum::Replace, coeff.as_ref(), x, 1.0);
    Ok(out)
}

/// Coefficients of x_n and of z in Σ_n α_n [(x_n·z + 1)∇_zΦ_γ + ∇_zΣ_γ (trained readout)] for one pair.
fn pair_gradient_coefficients(
    g: &PairGeometry,
    d: f64,
    arch: &Architecture,
    alpha: f64,
) -> (f64, f64) {
    if g.s_x <= 0.0 || g.s_z <= 0.0 {
        return (0.0, 0.0);
    }
    let gamma = arch.gamma;
    let k = (1.0 - gamma) * (1.0 - gamma) / (2.0 * PI);
    let rho = g.theta.cos();
    // ∇_z ρ = a_x x + a_z z
    let a_x = 1.0 / (d * g.s_x * g.s_z);
    let a_z = -rho / (d * g.s_z * g.s_z);
    let offset = if arch.bias { 1.0 } else { 0.0 };
    let sin = g.theta.sin();
    let (mut cx, mut cz) = (0.0, 0.0);
    if g.theta > 0.0 && sin > 0.0 {
        let scale = alpha * (g.dot + offset) * k / sin;
        cx += scale * a_x;
        cz += scale * a_z;
    }
    if arch.train_readout {
        let j = sin + (PI - g.theta) * rho;
        let ss = g.s_x * g.s_z * (PI - g.theta);
        cx += alpha * (gamma / d + k * ss * a_x);
        cz += alpha * k * (g.s_x * j / (d * g.s_z) + ss * a_z);
    }
    (cx, cz)
}

/// `kernel` direction at each row z_i of `z`: ∇_z Σ_n α_n Θ(x_n, z) at z = z_i (M×d), exact for the
/// infinite-width NTK of `arch` (θ = 0 pairs contribute no ∇Φ term; see the module documentation).
pub fn kernel_gradient_direction(
    z: MatRef<'_, f64>,
    x: MatRef<'_, f64>,
    alpha: &[f64],
    arch: &Architecture,
) -> Result<Mat<f64>> {
    check_alpha(x, alpha)?;
    check_dims(z, x)?;
    let d = x.ncols();
    let sq_z = linalg::row_sq_norms(z);
    let sq_x = linalg::row_sq_norms(x);
    let dots = linalg::cross_product(z, x, 1.0);
    let (z_rows, x_rows) = (linalg::to_row_major(z), linalg::to_row_major(x));
    let geometry = |i: usize, n: usize| {
        PairGeometry::from_products(
            dots[(i, n)],
            sq_x[n],
            sq_z[i],
            &x_rows[n * d..(n + 1) * d],
            &z_rows[i * d..(i + 1) * d],
            arch.bias,
        )
    };
    let mut coeff_x = Mat::<f64>::zeros(z.nrows(), x.nrows());
    linalg::map_entries(coeff_x.as_mut(), false, |i, n, _| {
        pair_gradient_coefficients(&geometry(i, n), d as f64, arch, alpha[n]).0
    });
    let coeff_z: Vec<f64> = (0..z.nrows())
        .into_par_iter()
        .map(|i| {
            (0..x.nrows())
                .map(|n| pair_gradient_coefficients(&geometry(i, n), d as f64, arch, alpha[n]).1)
                .sum()
        })
        .collect();
    let mut out = weighted_sum_direction(z, x, alpha, arch)?;
    linalg::matmul(out.as_mut(), faer::Accum::Add, coeff_x.as_ref(), x, 1.0);
    for j in 0..d {
        for (i, cz) in coeff_z.iter().enumerate() {
            out[(i, j)] += cz * z[(i, j)];
        }
    }
    Ok(out)
}
