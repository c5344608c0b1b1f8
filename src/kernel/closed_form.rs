//! Infinite-width kernels of one input pair (§4).
//!
//! With w ~ N(0, I/d), b ~ N(0, 1) and pre-activations u = w·x + b, v = w·z + b:
//!
//! * c(x, z) = Cov(u, v) = x·z/d + 1 (x·z/d without bias), s_x = √c(x, x), s_z = √c(z, z);
//! * ρ = c/(s_x s_z) = cos θ, θ ∈ [0, π];
//! * Φ_γ = E[φ'_γ(u) φ'_γ(v)] = [(1+γ²)(π − θ) + 2γθ]/(2π);
//! * Σ_γ = E[φ_γ(u) φ_γ(v)] = γ c + (1−γ)² s_x s_z [sin θ + (π − θ) cos θ]/(2π);
//! * Θ = Φ_γ·(x·z + 1) (x·z without bias) [+ Σ_γ when the readout is trained].
//!
//! Zero-variance inputs (x = 0 without bias) follow φ'_γ(0) = 1: u ≡ 0, so Φ = E[φ'(v)] = (1+γ)/2 and Σ = 0.

use std::f64::consts::PI;

use super::KernelWhat;
use crate::network::Architecture;

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
    /// Angle θ between the bias-augmented inputs; exactly 0 on the diagonal.
    pub theta: f64,
}

impl PairGeometry {
    /// Geometry from the raw inner products x·z, ‖x‖², ‖z‖². `same` marks a diagonal entry (x = z),
    /// whose angle is set to exactly 0 so that Φ_γ(x, x) = (1+γ²)/2 holds to the bit.
    pub fn new(dot: f64, sq_x: f64, sq_z: f64, d: usize, bias: bool, same: bool) -> PairGeometry {
        let offset = if bias { 1.0 } else { 0.0 };
        let inv_d = 1.0 / d as f64;
        let c = dot * inv_d + offset;
        let s_x = (sq_x * inv_d + offset).sqrt();
        let s_z = (sq_z * inv_d + offset).sqrt();
        let theta = if same { 0.0 } else { angle(c, s_x, s_z) };
        PairGeometry {
            dot,
            c,
            s_x,
            s_z,
            theta,
        }
    }
}

/// θ = atan2(sin, cos) with cos = ρ = c/(s_x s_z) clamped to [−1, 1] and sin = √((1−ρ)(1+ρ)).
/// Returns π/2 when either variance is zero (the value is then unused: see [`phi_from_geometry`]).
#[inline]
pub fn angle(c: f64, s_x: f64, s_z: f64) -> f64 {
    let denom = s_x * s_z;
    if denom <= 0.0 {
        return 0.5 * PI;
    }
    let rho = (c / denom).clamp(-1.0, 1.0);
    let sin = ((1.0 - rho) * (1.0 + rho)).sqrt();
    sin.atan2(rho)
}

/// Φ_γ(θ) = [(1+γ²)(π − θ) + 2γθ]/(2π).
#[inline]
pub fn phi_from_angle(theta: f64, gamma: f64) -> f64 {
    ((1.0 + gamma * gamma) * (PI - theta) + 2.0 * gamma * theta) / (2.0 * PI)
}

/// Σ_γ = γ c + (1−γ)² s_x s_z [sin θ + (π − θ) cos θ]/(2π).
#[inline]
pub fn nngp_from_angle(theta: f64, c: f64, s_x: f64, s_z: f64, gamma: f64) -> f64 {
    let one_minus = 1.0 - gamma;
    gamma * c
        + one_minus * one_minus * s_x * s_z * (theta.sin() + (PI - theta) * theta.cos())
            / (2.0 * PI)
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

/// Σ_γ of a pair, 0 when either input has zero variance (φ(0) = 0).
#[inline]
pub fn nngp_from_geometry(g: &PairGeometry, gamma: f64) -> f64 {
    if g.s_x > 0.0 && g.s_z > 0.0 {
        nngp_from_angle(g.theta, g.c, g.s_x, g.s_z, gamma)
    } else {
        0.0
    }
}

/// The requested infinite-width kernel of a pair from its geometry.
#[inline]
pub fn kernel_from_geometry(g: &PairGeometry, arch: &Architecture, what: KernelWhat) -> f64 {
    match what {
        KernelWhat::Phi => phi_from_geometry(g, arch.gamma),
        KernelWhat::Nngp => nngp_from_geometry(g, arch.gamma),
        KernelWhat::Ntk => {
            let offset = if arch.bias { 1.0 } else { 0.0 };
            let mut value = phi_from_geometry(g, arch.gamma) * (g.dot + offset);
            if arch.train_readout {
                value += nngp_from_geometry(g, arch.gamma);
            }
            value
        }
    }
}

/// The infinite-width kernel K(x, z) of two explicit vectors (reference implementation for one pair).
pub fn kernel_value(x: &[f64], z: &[f64], arch: &Architecture, what: KernelWhat) -> f64 {
    let dot: f64 = x.iter().zip(z).map(|(a, b)| a * b).sum();
    let sq_x: f64 = x.iter().map(|a| a * a).sum();
    let sq_z: f64 = z.iter().map(|a| a * a).sum();
    let same = x == z;
    let g = PairGeometry::new(dot, sq_x, sq_z, x.len(), arch.bias, same);
    kernel_from_geometry(&g, arch, what)
}
