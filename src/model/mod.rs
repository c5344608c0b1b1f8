//! The paper's network as vocabulary (§2.1, §13.1): the lowest layer of the crate.
//!
//! f(x) = Σ_{k=1..m} a_k φ_γ(w_k·x + b_k), with φ_γ(u) = max(u, γu). [`params`] holds the
//! architecture (γ, bias, trained readout), the initialisation schemes and the sampled parameters
//! (W, b, a); [`loss`] the per-sample losses. Kernels ([`crate::kernel`]) and the finite-width
//! simulator ([`crate::network`]) both build on these definitions and not on each other.

pub mod loss;
pub mod params;

pub use loss::{Loss, accuracy, sigmoid, softplus};
pub use params::{Architecture, Init, NetworkConfig, Params, Readout};

/// Leaky-ReLU φ_γ(u) = max(u, γu) for γ ∈ [0, 1).
#[inline]
pub fn activation(u: f64, gamma: f64) -> f64 {
    if u >= 0.0 { u } else { gamma * u }
}

/// Derivative φ'_γ(u) = 1 if u ≥ 0 else γ (the convention of §2.1; the kink has measure zero).
#[inline]
pub fn activation_derivative(u: f64, gamma: f64) -> f64 {
    if u >= 0.0 { 1.0 } else { gamma }
}
