//! Perturbations of a training set, end to end (§5.1, §5.3, §13.3): sample the network, train it
//! by plain gradient descent to flow time T, solve the linearised flows to the same T, compute the
//! four directions (`net`, `lin`, `sum`, `kernel`) at every training input and compare them, draw
//! the target labels and attack along the chosen direction,
//!
//! η_n = ε · y^adv_n · v_n/‖v_n‖ (L2) or ε · y^adv_n · sign(v_n) (L∞), v_n the chosen direction
//! at x_n (one step; a projected multi-step attack with several steps).

use faer::{Mat, MatRef};

use super::attack::{AttackOptions, Norm, Perturbations, eps_from_per_coordinate, projected};
use super::directions::{self, DirectionRow, Linearization, PairSummary, Source, steps_for};
use super::targets::{TargetKind, draw_targets};
use crate::data::Dataset;
use crate::dynamics::OdeOptions;
use crate::error::{Error, Result};
use crate::kernel;
use crate::model::{Loss, NetworkConfig};

/// The size of the perturbation: ε itself, or a per-coordinate size c resolved with the input
/// dimension by [`eps_from_per_coordinate`] (c·√d for L2, c for L∞).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// ε in the attack's norm.
    Eps(f64),
    /// c per coordinate.
    PerCoordinate(f64),
}

/// What to perturb and how.
#[derive(Debug, Clone, PartialEq)]
pub struct PerturbSpec {
    /// The network: width, architecture, initialisation.
    pub network: NetworkConfig,
    /// Seed of the network and of the random target labels.
    pub seed: u64,
    /// Training loss.
    pub loss: Loss,
    /// Learning rate of plain gradient descent.
    pub lr: f64,
    /// Flow time T; T/lr must be a whole number of steps.
    pub time: f64,
    /// Size of the perturbation.
    pub budget: Budget,
    /// Norm of the attack.
    pub norm: Norm,
    /// Projected attack steps (1 = the paper's single step).
    pub steps: usize,
    /// Step size of the projected attack (default ε/4 with several steps, ε with one).
    pub step_size: Option<f64>,
    /// How the target labels are drawn.
    pub targets: TargetKind,
    /// Direction the attack follows.
    pub source: Source,
}

impl PerturbSpec {
    /// The attack options for inputs of dimension `d`.
    pub fn attack(&self, d: usize) -> AttackOptions {
        let eps = match self.budget {
            Budget::Eps(eps) => eps,
            Budget::PerCoordinate(c) => eps_from_per_coordinate(c, d, self.norm),
        };
        AttackOptions {
            eps,
            norm: self.norm,
            steps: self.steps,
            step_size: self.step_size,
        }
    }

    /// Checks the network, the step count of the training time and the attack (before any data
    /// is read); the budget is checked as given.
    pub fn validate(&self) -> Result<()> {
        self.network.validate()?;
        steps_for(self.time, self.lr)?;
        // ε = c·√d (L2) or c (L∞) is finite and ≥ 0 exactly when c is, so d = 1 checks the budget
        // as given; an error about ε is reported for the parameter the user set.
        let given = match self.budget {
            Budget::Eps(_) => "eps",
            Budget::PerCoordinate(_) => "eps_per_coordinate",
        };
        self.attack(1).validate().map_err(|e| match e {
            Error::InvalidArgument { parameter, message } if parameter == "eps" => {
                Error::invalid(given, message)
            }
            e => e,
        })
    }
}

/// The perturbations of a training set and the comparison of the four directions.
#[derive(Debug, Clone)]
pub struct PerturbRun {
    /// Gradient steps taken, T/lr.
    pub train_steps: usize,
    /// The flow time reached, lr·steps.
    pub time: f64,
    /// The attack actually run (ε resolved).
    pub attack: AttackOptions,
    /// y^adv_n.
    pub targets: Vec<f64>,
    /// η (N×d) and the inputs whose direction was zero.
    pub perturbations: Perturbations,
    /// cos and relative residual of every pair of directions at every input.
    pub rows: Vec<DirectionRow>,
    /// Their means over inputs, per pair.
    pub summary: Vec<PairSummary>,
}

/// Perturbs `train` as `spec` says; `progress(step)` is called during training.
pub fn perturb_dataset(
    train: &Dataset,
    spec: &PerturbSpec,
    progress: impl FnMut(usize),
) -> Result<PerturbRun> {
    spec.validate()?;
    let train_steps = steps_for(spec.time, spec.lr)?;
    let attack = spec.attack(train.d());
    let lz = Linearization::new(
        train,
        &spec.network,
        spec.seed,
        spec.loss,
        OdeOptions::default(),
    )?;
    let net = lz.train(lz.initial().clone(), spec.lr, train_steps, progress)?;
    let time = spec.lr * train_steps as f64;
    let coeffs = lz
        .coefficients(&[time])?
        .pop()
        .ok_or_else(|| Error::numerical("perturb", "the flow returned no coefficients"))?;
    let dirs = lz.directions(&net, &coeffs)?;
    let rows = directions::compare(&dirs);
    let summary = directions::summarize(&rows);
    let targets = draw_targets(&train.y, spec.targets, spec.seed);
    let x = train.x.as_ref();
    let arch = spec.network.arch;
    let gradient_at = |z: MatRef<'_, f64>| -> Result<Mat<f64>> {
        match spec.source {
            Source::Net => net.input_gradients(z),
            Source::Lin => directions::lazy_gradient(lz.initial(), x, &coeffs.finite, z),
            Source::Sum => kernel::weighted_sum_direction(z, x, &coeffs.infinite, &arch),
            Source::Kernel => kernel::kernel_gradient_direction(z, x, &coeffs.infinite, &arch),
        }
    };
    let perturbations = projected(x, &targets, &attack, gradient_at)?;
    Ok(PerturbRun {
        train_steps,
        time,
        attack,
        targets,
        perturbations,
        rows,
        summary,
    })
}
