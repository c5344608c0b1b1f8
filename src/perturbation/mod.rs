//! Adversarial perturbations (§5).
//!
//! * [`targets`]: the adversarial target labels y^adv (random as in the paper, flipped, balanced);
//! * [`attack`]: perturbations of size ε from input gradients — the paper's single L2-normalised
//!   step η_n = ε y^adv_n ∇f(x_n)/‖∇f(x_n)‖₂, its L∞ analogue, and a multi-step projected version.

pub mod attack;
pub mod targets;

pub use attack::{
    AttackOptions, Norm, Perturbations, eps_from_per_coordinate, projected, single_step,
};
pub use targets::{TargetKind, draw_targets};
