//! Adversarial perturbations (§5).
//!
//! * [`targets`]: the adversarial target labels y^adv (random as in the paper, flipped, balanced);
//! * [`attack`]: perturbations of size ε from input gradients — the paper's single L2-normalised
//!   step η_n = ε y^adv_n ∇f(x_n)/‖∇f(x_n)‖₂, its L∞ analogue, and a multi-step projected version;
//! * [`directions`]: the four directions of §13.3 (`net`, `lin`, `sum`, `kernel`) plus ∇f_0, any of
//!   which can drive the attack, and their pairwise comparison (§5.3);
//! * [`dataset_perturb`]: all of it for a training set in one call, [`perturb_dataset`].

pub mod attack;
pub mod dataset_perturb;
pub mod directions;
pub mod targets;

pub use attack::{
    AttackOptions, Norm, Perturbations, eps_from_per_coordinate, projected, single_step,
};
pub use dataset_perturb::{Budget, PerturbRun, PerturbSpec, perturb_dataset};
pub use directions::{
    Coefficients, DirectionRow, Directions, Linearization, PairSummary, PointResiduals, Source,
    compare, lazy_gradient, lazy_output, residuals, summarize,
};
pub use targets::{TargetKind, draw_targets};
