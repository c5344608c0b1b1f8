//! Infinite-width kernels of one input pair (§4).
//!
//! With w ~ N(0, I/d), b ~ N(0, 1) and pre-activations u = w·x + b, v = w·z + b:
//!
//! * c(x, z) = Cov(u, v) = x·z/d + 1 (x·z/d without bias), s_x = √c(x, x), s_z = √c(z, z);
//! * ρ = c/(s_x s_z) = cos θ, θ ∈ [0, π] the angle between the bias-augmented inputs
//!   x̃ = (x/√d, 1) and z̃ = (z/√d, 1);
//! * Φ_γ = E[φ'_γ(u) φ'_γ(v)] = [(1+γ²)(π − θ) + 2γθ]/(2π);
//! * Σ_γ = E[φ_γ(u) φ_γ(v)] = γ c + (1−γ)² s_x s_z [sin θ + (π − θ) cos θ]/(2π);
//! * Θ = Φ_γ·(x·z + 1) (x·z without bias) [+ Σ_γ when the readout is trained].
//!
//! Zero-variance inputs (x = 0 without bias) follow φ'_γ(0) = 1: u ≡ 0, so Φ = E[φ'(v)] = (1+γ)/2 and Σ = 0.
//!
//! # The angle θ, computed in one place (§8.2)
//!
//! Everywhere the crate needs θ it comes from this module, by one of two paths:
//!
//! * [`angle_fast`]: θ = arccos ρ with the branch-free [`super::fastmath::acos`], for
//!   |ρ| ≤ [`RHO_DIRECT`]. There the arccosine agrees with libm's to a few ulp (≤ 1e-15 absolute)
//!   and its condition number 1/sin θ is below 1/√(2·2⁻²⁰) ≈ 724.
//! * [`angle_from_rows`]: θ = 2·atan2(‖x̂ − ẑ‖, ‖x̂ + ẑ‖) of the normalised augmented inputs
//!   x̂ = x̃/‖x̃‖, used where |ρ| > [`RHO_DIRECT`]. Near ρ = ±1, arccos turns a rounding error δ of ρ
//!   into an error √(2δ) of θ (δ = 1e-16 gives θ ≈ 1.4e-8 for identical inputs); the difference
//!   formula has no such cancellation, gives exactly 0 for identical inputs and exactly π for
//!   opposite ones (possible only without bias).
//!
//! Gram matrices run the fast path for every entry, which marks the ill-conditioned entries with
//! NaN, and recompute those few entries from the rows ([`kernel_value`]).

use std::f64::consts::PI;

use super::KernelWhat;
use super::fastmath;
use crate::model::Architecture;

/// 1 − 2⁻²⁰: above this |ρ| the angle is computed from the rows ([`angle_from_rows`]), not from ρ.
pub const RHO_DIRECT: f64 = 1.0 - 1.0 / 1_048_576.0;

/// 1/(2π), the normalisation of Φ_γ and Σ_γ.
const INV_TWO_PI: f64 = 0.5 / PI;

/// The geometry of a pair of pre-activations: covariance c and standard deviations s_x, s_z.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairGeometry {
    /// Raw inner product x·z (not divided by d).
    pub dot: f64,
    /// Cov(u, v) = x·z/d (+1 with bias).
    pub c: f64,
    /// √Var(u).
    pub s_x: f64,
    /// √Var(v).
    pub s_z: f64,
    /// Angle θ between the bias-augmented inputs; exactly 0 for identical inputs.
    pub theta: f64,
}

/// Bias offset of the augmented inputs: 1 with trained biases, 0 without.
#[inline(always)]
pub(crate) fn bias_offset(bias: bool) -> f64 {
    if bias { 1.0 } else { 0.0 }
}

/// s = √(‖x‖²/d + offset), the standard deviation of a pre-activation.
#[inline(always)]
pub(crate) fn pre_activation_sd(sq: f64, inv_d: f64, offset: f64) -> f64 {
    (sq * inv_d + offset).sqrt()
}

impl PairGeometry {
    /// Geometry of the pair (x, z) from the rows themselves. Inner products are summed in index
    /// order (as [`crate::linalg::row_sq_norms`] does), so identical rows give x·z = ‖x‖² = ‖z‖²
    /// to the bit and θ = 0 exactly.
    pub fn from_rows(x: &[f64], z: &[f64], bias: bool) -> PairGeometry {
        let dot: f64 = x.iter().zip(z).fold(0.0, |acc, (a, b)| acc + a * b);
        let sq_x: f64 = x.iter().fold(0.0, |acc, a| acc + a * a);
        let sq_z: f64 = z.iter().fold(0.0, |acc, a| acc + a * a);
        Self::from_products(dot, sq_x, sq_z, x, z, bias)
    }

    /// Geometry from the inner products x·z, ‖x‖², ‖z‖² of the rows `x`, `z`: θ by the fast path,
    /// and from the rows where that is ill-conditioned (then x·z is recomputed from the rows too,
    /// so that a duplicate pair has exactly the inner product of its diagonal).
    pub fn from_products(
        dot: f64,
        sq_x: f64,
        sq_z: f64,
        x: &[f64],
        z: &[f64],
        bias: bool,
    ) -> PairGeometry {
        let offset = bias_offset(bias);
        let inv_d = 1.0 / x.len().max(1) as f64;
        let s_x = pre_activation_sd(sq_x, inv_d, offset);
        let s_z = pre_activation_sd(sq_z, inv_d, offset);
        if s_x <= 0.0 || s_z <= 0.0 {
            // Zero variance: θ is unused (see `phi_from_geometry`).
            return PairGeometry {
                dot,
                c: dot * inv_d + offset,
                s_x,
                s_z,
                theta: 0.5 * PI,
            };
        }
        let rho = (dot * inv_d + offset) * (1.0 / s_x) * (1.0 / s_z);
        let fast = angle_fast(rho);
        let (dot, theta) = if fast.is_nan() {
            let dot = x.iter().zip(z).fold(0.0, |acc, (a, b)| acc + a * b);
            (dot, angle_from_rows(x, z, s_x, s_z, offset))
        } else {
            (dot, fast)
        };
        PairGeometry {
            dot,
            c: dot * inv_d + offset,
            s_x,
            s_z,
            theta,
        }
    }
}

/// θ = arccos ρ by the fast arccosine where |ρ| ≤ [`RHO_DIRECT`]; NaN elsewhere, where the caller
/// must use [`angle_from_rows`]. Branch-free, so that Gram maps vectorise.
#[inline(always)]
pub fn angle_fast(rho: f64) -> f64 {
    let theta = fastmath::acos(rho);
    if rho.abs() > RHO_DIRECT {
        f64::NAN
    } else {
        theta
    }
}

/// θ = 2·atan2(‖x̂ − ẑ‖, ‖x̂ + ẑ‖) with x̂ = (x/√d, √offset)/s_x and ẑ likewise: accurate for
/// every angle, exactly 0 for identical rows and π for opposite ones. `s_x`, `s_z` must be > 0.
pub fn angle_from_rows(x: &[f64], z: &[f64], s_x: f64, s_z: f64, offset: f64) -> f64 {
    let scale = 1.0 / (x.len().max(1) as f64).sqrt();
    let (a, b) = (scale / s_x, scale / s_z);
    let (mut diff, mut sum) = (0.0, 0.0);
    for (&xi, &zi) in x.iter().zip(z) {
        let (u, v) = (xi * a, zi * b);
        diff += (u - v) * (u - v);
        sum += (u + v) * (u + v);
    }
    let (bu, bv) = (1.0 / s_x, 1.0 / s_z);
    diff += offset * (bu - bv) * (bu - bv);
    sum += offset * (bu + bv) * (bu + bv);
    2.0 * diff.sqrt().atan2(sum.sqrt())
}

/// Φ_γ(θ) = [(1+γ²)(π − θ) + 2γθ]/(2π), evaluated as (1+γ²)/2 − θ(1−γ)²/(2π) so that θ = 0
/// gives (1+γ²)/2 exactly (dΦ_γ/dθ = −(1−γ)²/(2π) is constant).
#[inline(always)]
pub fn phi_from_angle(theta: f64, gamma: f64) -> f64 {
    let one_minus = 1.0 - gamma;
    0.5 * (1.0 + gamma * gamma) - theta * (one_minus * one_minus * INV_TWO_PI)
}

/// Σ_γ = γ c + (1−γ)² s_x s_z [sin θ + (π − θ) cos θ]/(2π), given cos θ and sin θ.
#[inline(always)]
pub fn nngp_from_angle(
    theta: f64,
    cos: f64,
    sin: f64,
    c: f64,
    s_x: f64,
    s_z: f64,
    gamma: f64,
) -> f64 {
    let one_minus = 1.0 - gamma;
    gamma * c + one_minus * one_minus * s_x * s_z * (sin + (PI - theta) * cos) * INV_TWO_PI
}

/// The requested kernel of a pair with positive variances, from θ (with its cosine and sine), the
/// inner product x·z and the covariance geometry: Φ_γ, Σ_γ or Θ = Φ_γ·(x·z + offset) [+ Σ_γ].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn kernel_from_angle(
    what: KernelWhat,
    arch: &Architecture,
    theta: f64,
    cos: f64,
    sin: f64,
    dot: f64,
    c: f64,
    s_x: f64,
    s_z: f64,
) -> f64 {
    let need_sigma = what == KernelWhat::Nngp || (what == KernelWhat::Ntk && arch.train_readout);
    let sigma = if need_sigma {
        nngp_from_angle(theta, cos, sin, c, s_x, s_z, arch.gamma)
    } else {
        0.0
    };
    match what {
        KernelWhat::Phi => phi_from_angle(theta, arch.gamma),
        KernelWhat::Nngp => sigma,
        KernelWhat::Ntk => {
            phi_from_angle(theta, arch.gamma) * (dot + bias_offset(arch.bias)) + sigma
        }
    }
}

/// Φ_γ of a pair, including the zero-variance cases (Φ = (1+γ)/2 with one zero input, 1 with two).
#[inline]
pub fn phi_from_geometry(g: &PairGeometry, gamma: f64) -> f64 {
    match (g.s_x > 0.0, g.s_z > 0.0) {
        (true, true) => phi_from_angle(g.theta, gamma),
        (false, false) => 1.0,
        _ => 0.5 * (1.0 + gamma),
    }
}

/// The requested infinite-width kernel of a pair from its geometry, including zero-variance inputs
/// (Σ = 0 there, since φ(0) = 0).
#[inline]
pub fn kernel_from_geometry(g: &PairGeometry, arch: &Architecture, what: KernelWhat) -> f64 {
    if g.s_x > 0.0 && g.s_z > 0.0 {
        let (sin, cos) = g.theta.sin_cos();
        return kernel_from_angle(what, arch, g.theta, cos, sin, g.dot, g.c, g.s_x, g.s_z);
    }
    let phi = phi_from_geometry(g, arch.gamma);
    match what {
        KernelWhat::Phi => phi,
        KernelWhat::Nngp => 0.0,
        KernelWhat::Ntk => phi * (g.dot + bias_offset(arch.bias)),
    }
}

/// The infinite-width kernel K(x, z) of two explicit vectors.
pub fn kernel_value(x: &[f64], z: &[f64], arch: &Architecture, what: KernelWhat) -> f64 {
    let g = PairGeometry::from_rows(x, z, arch.bias);
    kernel_from_geometry(&g, arch, what)
}
