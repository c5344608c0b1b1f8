//! Full-batch gradient descent on the mean loss (§3.2), optionally with the momentum of the
//! authors' `torch.optim.SGD` (no dampening, no Nesterov, no weight decay):
//! v ← μ v + g, θ ← θ − η v, with v = 0 before the first step (so the first step is plain GD).
//!
//! Trained are W, b (with biases) and, with a trained readout, ã = √m a (§13.1).
//!
//! **Time.** Two clocks are reported for step s: the learning-rate time η·s and the gradient-flow
//! time [`TrainOptions::flow_time`], the flow time whose displacement s optimiser steps reproduce
//! under a constant gradient (§3.2). They coincide for plain GD; with momentum μ = 0.9 the flow
//! time approaches 10·η·s. Every comparison with gradient flow uses the flow time.

use faer::{Mat, MatRef};
use rayon::prelude::*;
use serde::Serialize;

use super::forward::{Network, Paired, batch_bytes, check_inputs, check_labels};
use crate::error::{Error, Result};
use crate::memory;
use crate::model::Loss;

/// Options of a training run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrainOptions {
    /// Learning rate η > 0.
    pub lr: f64,
    /// Number of full-batch steps.
    pub steps: usize,
    /// Momentum μ ∈ [0, 1); 0 is plain gradient descent.
    pub momentum: f64,
    /// Per-sample loss.
    pub loss: Loss,
    /// Record a trajectory point every this many steps (the last step is always recorded).
    pub record_every: usize,
}

impl TrainOptions {
    /// Checks η, μ and the recording interval; errors name the command-line flag.
    pub fn validate(&self) -> Result<()> {
        Error::require_positive("lr", "learning rate", self.lr)?;
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err(Error::invalid(
                "momentum",
                format!("the momentum must lie in [0, 1), got {}", self.momentum),
            ));
        }
        if self.record_every == 0 {
            return Err(Error::invalid(
                "record_every",
                "the recording interval must be at least 1 step",
            ));
        }
        if !(self.lr * self.steps as f64).is_finite() {
            return Err(Error::invalid(
                "steps",
                "the flow time lr × steps is not finite",
            ));
        }
        Ok(())
    }

    /// Gradient-flow time matched to `steps` optimiser steps (§3.2).
    ///
    /// Under a constant gradient g the velocity after s steps is v_s = (1 − μ^s)/(1 − μ)·g (v_1 = g),
    /// so `steps` = S steps move θ by −η Σ_{s=1..S} v_s = −t·g with
    ///
    /// ```text
    /// t = η·S                                         (μ = 0)
    /// t = η/(1 − μ) · (S − μ(1 − μ^S)/(1 − μ))        (momentum μ)
    /// ```
    ///
    /// the time gradient flow dθ/dt = −g needs for the same displacement. The gradient is constant
    /// for the identity loss while no activation pattern changes (the lazy regime), where the
    /// match is exact; otherwise momentum adds its own discretisation error.
    pub fn flow_time(&self, steps: usize) -> f64 {
        let (lr, mu, s) = (self.lr, self.momentum, steps as f64);
        if mu == 0.0 {
            lr * s
        } else {
            let q = 1.0 - mu;
            lr / q * (s - mu * (1.0 - mu.powf(s)) / q)
        }
    }
}

/// The state of the network after `step` steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrajectoryPoint {
    /// Steps taken.
    pub step: usize,
    /// Learning-rate time η · step.
    pub lr_time: f64,
    /// Gradient-flow time matched to `step` steps ([`TrainOptions::flow_time`]; η · step without
    /// momentum): the time at which the linearisation gap compares with the flow.
    pub flow_time: f64,
    /// Mean training loss.
    pub loss: f64,
    /// Fraction of training inputs with y f(x) > 0 (an output of exactly 0 counts as wrong).
    pub train_accuracy: f64,
    /// The same on the test set, when one was given.
    pub test_accuracy: Option<f64>,
    /// ‖W_t − W_0‖_F / ‖W_0‖_F (first-layer weights only).
    pub weight_change: f64,
    /// Fraction of (training input, neuron) pairs whose activation pattern [u_k(x) ≥ 0] differs
    /// from the initial one.
    pub pattern_flip_fraction: f64,
    /// max_z |f_t(z) − f_t^lin(z)| over the test inputs (the training inputs when there is no test
    /// set), with f^lin the linearised model at the same initial parameters
    /// ([`crate::study::linearization`]); `None` when not computed.
    pub lin_gap_max: Option<f64>,
    /// The root mean square of the same differences; `None` when not computed.
    pub lin_gap_rms: Option<f64>,
}

fn accuracy(f: &[f64], y: &[f64]) -> f64 {
    let correct = f.iter().zip(y).filter(|&(&fi, &yi)| yi * fi > 0.0).count();
    correct as f64 / f.len() as f64
}

fn frobenius_sq(m: MatRef<'_, f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            s += m[(i, j)] * m[(i, j)];
        }
    }
    s
}

fn frobenius_diff(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            let v = a[(i, j)] - b[(i, j)];
            s += v * v;
        }
    }
    s.sqrt()
}

/// Activation patterns [H ≥ 0], column-major like H.
fn patterns(h: MatRef<'_, f64>) -> Vec<bool> {
    let n = h.nrows();
    let mut out = vec![false; n * h.ncols()];
    out.par_chunks_mut(n.max(1))
        .enumerate()
        .for_each(|(p, chunk)| {
            let col = h.col(p);
            for (i, o) in chunk.iter_mut().enumerate() {
                *o = col[i] >= 0.0;
            }
        });
    out
}

fn flip_fraction(h: MatRef<'_, f64>, init: &[bool]) -> f64 {
    let n = h.nrows();
    let flips: usize = (0..h.ncols())
        .into_par_iter()
        .map(|p| {
            let col = h.col(p);
            (0..n)
                .filter(|&i| (col[i] >= 0.0) != init[p * n + i])
                .count()
        })
        .sum();
    flips as f64 / (n * h.ncols()) as f64
}

fn diverged(step: usize, what: &str) -> Error {
    Error::numerical(
        "network training",
        format!("{what} became non-finite at step {step}; the run diverged (lower `lr`)"),
    )
}

impl Network {
    /// Trains W, b (and ã) by full-batch gradient descent on the mean loss over (`x`, `y`) and
    /// returns the trajectory recorded at steps 0, k, 2k, … and at the last step. `progress` is
    /// called with the number of completed steps after each step.
    ///
    /// On error (invalid options, mismatched data, divergence) the parameters are left unchanged.
    pub fn train(
        &mut self,
        x: MatRef<'_, f64>,
        y: &[f64],
        test: Option<(MatRef<'_, f64>, &[f64])>,
        opts: &TrainOptions,
        progress: impl FnMut(usize),
    ) -> Result<Vec<TrajectoryPoint>> {
        self.train_recording(x, y, test, opts, false, progress)
            .map(|(trajectory, _)| trajectory)
    }

    /// [`Network::train`] that, when `record_outputs`, also returns the network's outputs at every
    /// recorded step on the test inputs (on the training inputs when there is no test set): an
    /// M×T matrix whose column j belongs to trajectory point j.
    pub(crate) fn train_recording(
        &mut self,
        x: MatRef<'_, f64>,
        y: &[f64],
        test: Option<(MatRef<'_, f64>, &[f64])>,
        opts: &TrainOptions,
        record_outputs: bool,
        mut progress: impl FnMut(usize),
    ) -> Result<(Vec<TrajectoryPoint>, Option<Mat<f64>>)> {
        opts.validate()?;
        check_inputs(&self.params, x, "training inputs")?;
        check_labels(x, y, "training inputs")?;
        if let Some((z, yz)) = test {
            check_inputs(&self.params, z, "test inputs")?;
            check_labels(z, yz, "test inputs")?;
        }
        let (n, m, d) = (x.nrows(), self.params.width(), x.ncols());
        let test_rows = test.map_or(0, |(z, _)| z.nrows());
        memory::ensure_fits(
            "network training",
            batch_bytes(n, m, d)
                + batch_bytes(test_rows, m, d)
                + (n * m) as u64 // initial activation patterns
                + 5 * 8 * (m as u64) * (d as u64 + 1),
        )?;

        let train_readout = self.config.arch.train_readout;
        let mut p = Paired::new(&self.params, &self.config);
        let xa = p.augment(x);
        let za = test.map(|(z, yz)| (p.augment(z), yz));
        let w0 = p.w().to_owned();
        let w0_norm = frobenius_sq(w0.as_ref()).sqrt();
        let sqrt_m = (m as f64).sqrt();
        let inv_n = 1.0 / n as f64;
        let (lr, mu) = (opts.lr, opts.momentum);

        let mut h = Mat::<f64>::zeros(n, m);
        let mut scratch = Mat::<f64>::zeros(n, m);
        let mut grad = Mat::<f64>::zeros(m, p.wa.ncols());
        let mut velocity = Mat::<f64>::zeros(m, p.wa.ncols());
        let mut a_tilde: Option<Vec<f64>> =
            train_readout.then(|| p.a.iter().map(|a| a * sqrt_m).collect());
        let mut a_velocity = vec![0.0; if train_readout { m } else { 0 }];
        let mut init_patterns: Vec<bool> = Vec::new();
        let mut trajectory = Vec::new();
        let mut recorded: Vec<Vec<f64>> = Vec::new();

        for step in 0..=opts.steps {
            p.preactivations_into(xa.as_ref(), &mut h);
            let f = p.readout(&h);
            if f.iter().any(|v| !v.is_finite()) {
                return Err(diverged(step, "the network output"));
            }
            if step == 0 {
                init_patterns = patterns(h.as_ref());
            }
            if step % opts.record_every == 0 || step == opts.steps {
                let loss = opts.loss.mean(&f, y);
                if !loss.is_finite() {
                    return Err(diverged(step, "the training loss"));
                }
                let test_outputs = za.as_ref().map(|(za, _)| {
                    let hz = p.preactivations(za.as_ref());
                    p.readout(&hz)
                });
                let test_accuracy = test_outputs
                    .as_ref()
                    .zip(za.as_ref())
                    .map(|(fz, (_, yz))| accuracy(fz, yz));
                let weight_change = if w0_norm > 0.0 {
                    frobenius_diff(p.w(), w0.as_ref()) / w0_norm
                } else {
                    0.0
                };
                trajectory.push(TrajectoryPoint {
                    step,
                    lr_time: lr * step as f64,
                    flow_time: opts.flow_time(step),
                    loss,
                    train_accuracy: accuracy(&f, y),
                    test_accuracy,
                    weight_change,
                    pattern_flip_fraction: flip_fraction(h.as_ref(), &init_patterns),
                    lin_gap_max: None,
                    lin_gap_rms: None,
                });
                if record_outputs {
                    recorded.push(test_outputs.unwrap_or_else(|| f.clone()));
                }
            }
            if step == opts.steps {
                break;
            }

            let r: Vec<f64> = f
                .iter()
                .zip(y)
                .map(|(&fi, &yi)| opts.loss.derivative(fi, yi) * inv_n)
                .collect();
            if r.iter().any(|v| !v.is_finite()) {
                return Err(diverged(step, "the loss derivative"));
            }
            let ga = p.loss_gradient_into(
                &h,
                xa.as_ref(),
                &r,
                train_readout,
                &mut scratch,
                grad.as_mut(),
            );
            for j in 0..p.wa.ncols() {
                let (w, v, g) = (
                    p.wa.col_as_slice_mut(j),
                    velocity.col_as_slice_mut(j),
                    grad.col_as_slice(j),
                );
                for ((w, v), &g) in w.iter_mut().zip(v.iter_mut()).zip(g) {
                    *v = mu * *v + g;
                    *w -= lr * *v;
                }
            }
            if let (Some(at), Some(g)) = (a_tilde.as_mut(), ga) {
                for q in 0..m {
                    let v = mu * a_velocity[q] + g[q];
                    a_velocity[q] = v;
                    at[q] -= lr * v;
                    p.a[q] = at[q] / sqrt_m;
                }
            }
            progress(step + 1);
        }
        p.write_back(&mut self.params);
        let outputs = record_outputs.then(|| {
            let rows = recorded.first().map_or(0, Vec::len);
            Mat::from_fn(rows, recorded.len(), |i, j| recorded[j][i])
        });
        Ok((trajectory, outputs))
    }
}
