//! The linearisation gap along a training run (§3.3, §13.2).
//!
//! The linearised model at the initial parameters θ_0 is
//!
//! ```text
//! f_t^lin(z) = f_0(z) + Σ_n α_n(t) Θ_m(x_n, z),
//! ```
//!
//! with Θ_m the empirical NTK of the *initial* network, f_0 its outputs and α(t) the coefficients of
//! the [`LinearizedFlow`] of the same loss. The gap f_t(z) − f_t^lin(z) measures how far the trained
//! finite network has left the kernel regime; it is 0 at t = 0 and shrinks like m^{−1/2} with the
//! width m at fixed t.
//!
//! **Time.** After s optimiser steps the network is compared with the flow at the matched flow
//! time [`TrainOptions::flow_time`]: η·s for plain gradient descent, the displacement of s momentum
//! steps under a constant gradient with momentum (exact for the identity loss in the lazy regime,
//! where the parameter gradient is constant; §3.2). For other losses with momentum the gap also
//! contains the discretisation error of momentum against gradient flow, so it is only a clean
//! measure of non-linearity for plain GD.
//!
//! The linearised trajectory is computed once for all recorded times: one [`LinearizedFlow::solve`]
//! and one GEMM [`LinearizedFlow::predict_many`].

use faer::{Mat, MatRef};

use crate::dynamics::{LinearizedFlow, OdeOptions};
use crate::error::{Error, Result};
use crate::kernel::{KernelWhat, empirical_test_train, empirical_train_train, matrix_bytes};
use crate::memory;
use crate::network::forward::{Network, check_inputs, check_labels};
use crate::network::train::{TrainOptions, TrajectoryPoint};

/// Max and RMS of f_t(z) − f_t^lin(z) over the evaluation inputs at one recorded time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinGap {
    /// max_z |f_t(z) − f_t^lin(z)|.
    pub max: f64,
    /// sqrt(mean_z (f_t(z) − f_t^lin(z))²).
    pub rms: f64,
}

/// Estimated peak bytes of the linearisation gap: the empirical N×N kernel (with its copy in the
/// flow and, for mse, the eigendecomposition), the M×N test-train kernel, the kernel features and
/// the N×T / M×T coefficient and output matrices. `eval_rows` is M, or 0 when the evaluation
/// inputs are the training inputs.
pub fn lin_gap_bytes(n: usize, eval_rows: usize, width: usize, times: usize) -> u64 {
    5 * matrix_bytes(n, n)
        + 2 * matrix_bytes(eval_rows, n)
        + 3 * matrix_bytes(n + eval_rows, width)
        + 2 * matrix_bytes(n + eval_rows.max(n), times)
}

/// Refuses up front, with the memory needed, a linearisation gap that would not fit.
pub fn ensure_lin_gap_fits(n: usize, eval_rows: usize, width: usize, times: usize) -> Result<()> {
    memory::ensure_fits(
        "the linearisation gap (the N×N empirical NTK; pass `no_lin_gap` to skip it)",
        lin_gap_bytes(n, eval_rows, width, times),
    )
}

/// Outputs f_t^lin(Z) of the linearised model of `init` (its empirical NTK Θ_m and outputs f_0)
/// trained on (`x`, `y`) with `loss`, at every time of `times` (non-negative, non-decreasing):
/// an M×T matrix, column j for `times[j]`. `z` = `None` evaluates at the training inputs.
pub fn linearized_outputs(
    init: &Network,
    x: MatRef<'_, f64>,
    y: &[f64],
    z: Option<MatRef<'_, f64>>,
    loss: crate::model::Loss,
    times: &[f64],
) -> Result<Mat<f64>> {
    check_inputs(&init.params, x, "training inputs")?;
    check_labels(x, y, "training inputs")?;
    if let Some(z) = z {
        check_inputs(&init.params, z, "test inputs")?;
    }
    let arch = init.config.arch;
    let k_xx = empirical_train_train(&init.params, x, &arch, KernelWhat::Ntk)?;
    let f0_x = init.forward(x)?;
    let flow = LinearizedFlow::new(k_xx.as_ref(), y, &f0_x, loss, OdeOptions::default())?;
    let solution = flow.solve(times)?;
    let alphas = solution.coefficients.as_ref();
    Ok(match z {
        Some(z) => {
            let k_zx = empirical_test_train(&init.params, z, x, &arch, KernelWhat::Ntk)?;
            let f0_z = init.forward(z)?;
            LinearizedFlow::predict_many(k_zx.as_ref(), &f0_z, alphas)
        }
        None => LinearizedFlow::predict_many(k_xx.as_ref(), &f0_x, alphas),
    })
}

/// The linearisation gaps of a training run: `init` is the network before training, `steps` the
/// recorded steps and `outputs` (M×T) the trained network's outputs at those steps on `z` (on the
/// training inputs when `z` is `None`). The linearised model uses the loss of `opts` and the
/// matched flow times of [`TrainOptions::flow_time`]. Returns one [`LinGap`] per recorded step.
pub fn linearization_gaps(
    init: &Network,
    x: MatRef<'_, f64>,
    y: &[f64],
    z: Option<MatRef<'_, f64>>,
    opts: &TrainOptions,
    steps: &[usize],
    outputs: MatRef<'_, f64>,
) -> Result<Vec<LinGap>> {
    let rows = z.map_or(x.nrows(), |z| z.nrows());
    if outputs.nrows() != rows || outputs.ncols() != steps.len() {
        return Err(Error::Mismatch(format!(
            "{}×{} recorded outputs for {rows} inputs and {} recorded steps",
            outputs.nrows(),
            outputs.ncols(),
            steps.len()
        )));
    }
    let times: Vec<f64> = steps.iter().map(|&s| opts.flow_time(s)).collect();
    let lin = linearized_outputs(init, x, y, z, opts.loss, &times)?;
    Ok((0..steps.len())
        .map(|j| {
            let (mut max, mut sq) = (0.0f64, 0.0);
            for i in 0..rows {
                let g = outputs[(i, j)] - lin[(i, j)];
                max = max.max(g.abs());
                sq += g * g;
            }
            LinGap {
                max,
                rms: (sq / rows as f64).sqrt(),
            }
        })
        .collect())
}

impl Network {
    /// [`Network::train`] that also fills `lin_gap_max` / `lin_gap_rms` of every trajectory point
    /// with the gap to the linearised model at the initial parameters (see the module docs),
    /// measured on the test inputs (the training inputs when there is no test set).
    ///
    /// Refuses up front, before training, when the N×N empirical kernel would not fit in memory.
    pub fn train_with_lin_gap(
        &mut self,
        x: MatRef<'_, f64>,
        y: &[f64],
        test: Option<(MatRef<'_, f64>, &[f64])>,
        opts: &TrainOptions,
        progress: impl FnMut(usize),
    ) -> Result<Vec<TrajectoryPoint>> {
        opts.validate()?;
        check_inputs(&self.params, x, "training inputs")?;
        check_labels(x, y, "training inputs")?;
        let eval_rows = test.map_or(0, |(z, _)| z.nrows());
        let recorded = opts.steps / opts.record_every + 2;
        ensure_lin_gap_fits(x.nrows(), eval_rows, self.params.width(), recorded)?;
        let init = self.clone();
        let (mut trajectory, outputs) = self.train_recording(x, y, test, opts, true, progress)?;
        let outputs = outputs.ok_or_else(|| {
            Error::numerical("linearization gap", "the trained outputs were not recorded")
        })?;
        let steps: Vec<usize> = trajectory.iter().map(|p| p.step).collect();
        let gaps = linearization_gaps(
            &init,
            x,
            y,
            test.map(|(z, _)| z),
            opts,
            &steps,
            outputs.as_ref(),
        );
        let gaps = match gaps {
            Ok(g) => g,
            Err(e) => {
                // Leave the parameters unchanged on error, like `train`.
                *self = init;
                return Err(e);
            }
        };
        for (point, gap) in trajectory.iter_mut().zip(gaps) {
            point.lin_gap_max = Some(gap.max);
            point.lin_gap_rms = Some(gap.rms);
        }
        Ok(trajectory)
    }
}
