//! The finite-width two-layer network of §2.1:
//! f(x) = Σ_{k=1..m} a_k φ_γ(w_k·x + b_k), with φ_γ(u) = max(u, γu).
//!
//! [`params`] samples (W, b, a) for a given width and seed; the same parameters define the empirical
//! kernels in [`crate::kernel`], so "the network" and "its empirical NTK" are one object.
//! [`forward`] evaluates outputs, input gradients and loss gradients of a [`Network`] as GEMMs,
//! [`train`] runs full-batch gradient descent (§3.2) on one of the [`Loss`]es of §13.1,
//! [`linearization`] measures its distance to the linearised model along the run, and
//! [`crosscheck`] compares trained networks of growing width with the kernel theory.

pub mod crosscheck;
pub mod forward;
pub mod linearization;
pub mod loss;
pub mod params;
pub mod train;

pub use forward::{Gradient, Network};
pub use linearization::{LinGap, linearization_gaps, linearized_outputs};
pub use loss::Loss;
pub use params::{Architecture, Init, NetworkConfig, Params, Readout};
pub use train::{TrainOptions, TrajectoryPoint};

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
