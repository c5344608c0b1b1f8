//! Perturbations of size ε toward a target label (§5.1).
//!
//! The paper's perturbation is one normalised gradient step of the loss ℓ(−y^adv f(x)) with respect
//! to the input; since ℓ' > 0 the loss drops out and
//!
//! η_n = ε y^adv_n ∇f(x_n)/‖∇f(x_n)‖₂          (L2, the paper)
//! η_n = ε y^adv_n sign(∇f(x_n))               (L∞)
//!
//! The projected multi-step version repeats η ← Proj_ε(η + s·y^adv·dir(∇f(x + η))) from η = 0, with
//! dir the normalised gradient (L2) or its sign (L∞) and Proj_ε the projection onto the ε-ball.
//! A zero gradient gives a zero perturbation and is reported, never a NaN.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

crate::named_enum! {
    /// Norm of the perturbation budget.
    pub enum Norm {
        /// ‖η‖₂ = ε (the paper).
        L2 = "l2",
        /// ‖η‖∞ = ε.
        Linf = "linf",
    }
}

/// Size, norm and number of steps of an attack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AttackOptions {
    /// Budget ε ≥ 0.
    pub eps: f64,
    /// Norm of the budget.
    pub norm: Norm,
    /// Number of projected steps; 1 is the paper's single step.
    pub steps: usize,
    /// Step size s of the projected version (default ε/4 when None).
    pub step_size: Option<f64>,
}

impl AttackOptions {
    /// The paper's attack: one L2 step of size ε.
    pub fn paper(eps: f64) -> Self {
        AttackOptions {
            eps,
            norm: Norm::L2,
            steps: 1,
            step_size: None,
        }
    }

    /// Checks ε ≥ 0, steps ≥ 1 and a positive step size.
    pub fn validate(&self) -> Result<()> {
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return Err(Error::invalid(
                "eps",
                format!("ε must be finite and ≥ 0, got {}", self.eps),
            ));
        }
        if self.steps == 0 {
            return Err(Error::invalid("steps", "at least one step"));
        }
        if let Some(s) = self.step_size
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::invalid(
                "step_size",
                format!("must be finite and > 0, got {s}"),
            ));
        }
        Ok(())
    }
}

/// The budget ε of a perturbation given per coordinate: a change of c in every one of the d
/// coordinates (§5.1).
///
/// ```text
/// L2:  ε = c·√d   (the L2 size of that change, the paper's scaling)
/// L∞:  ε = c      (the L∞ size of that change)
/// ```
///
/// So an L∞ attack with per-coordinate size c moves every coordinate by at most c, and an L2 attack
/// has the L2 length of a change of c in every coordinate.
pub fn eps_from_per_coordinate(c: f64, d: usize, norm: Norm) -> f64 {
    match norm {
        Norm::L2 => c * (d as f64).sqrt(),
        Norm::Linf => c,
    }
}

/// Perturbations η (N×d, row n = η_n) and the samples whose gradient was zero.
#[derive(Debug, Clone)]
pub struct Perturbations {
    /// Row n is η_n.
    pub eta: Mat<f64>,
    /// Indices n with ∇f(x_n) = 0 (η_n = 0 there).
    pub zero_gradient: Vec<usize>,
}

/// Unit direction of one gradient row in the given norm: g/‖g‖₂ or sign(g). None for a zero row.
fn unit_direction(grad: MatRef<'_, f64>, n: usize, norm: Norm) -> Option<Vec<f64>> {
    let d = grad.ncols();
    let row: Vec<f64> = (0..d).map(|j| grad[(n, j)]).collect();
    if row.iter().all(|&v| v == 0.0) {
        return None;
    }
    Some(match norm {
        Norm::L2 => {
            let scale = row.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let norm2 = scale * row.iter().map(|v| (v / scale).powi(2)).sum::<f64>().sqrt();
            row.iter().map(|v| v / norm2).collect()
        }
        Norm::Linf => row
            .iter()
            .map(|&v| {
                if v > 0.0 {
                    1.0
                } else if v < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            })
            .collect(),
    })
}

fn check_shapes(grad: MatRef<'_, f64>, targets: &[f64]) -> Result<()> {
    if grad.nrows() != targets.len() {
        return Err(Error::Mismatch(format!(
            "{} gradients but {} target labels",
            grad.nrows(),
            targets.len()
        )));
    }
    Ok(())
}

/// The single-step perturbation η_n = ε y^adv_n dir(∇f(x_n)) for gradient rows `grad` (N×d).
pub fn single_step(
    grad: MatRef<'_, f64>,
    targets: &[f64],
    eps: f64,
    norm: Norm,
) -> Result<Perturbations> {
    check_shapes(grad, targets)?;
    let (n, d) = (grad.nrows(), grad.ncols());
    let mut eta = Mat::<f64>::zeros(n, d);
    let mut zero_gradient = Vec::new();
    for (i, &t) in targets.iter().enumerate() {
        match unit_direction(grad, i, norm) {
            Some(u) => {
                for (j, v) in u.iter().enumerate() {
                    eta[(i, j)] = eps * t * v;
                }
            }
            None => zero_gradient.push(i),
        }
    }
    Ok(Perturbations { eta, zero_gradient })
}

/// Projects each row of `eta` onto the ε-ball of `norm`.
fn project(eta: &mut Mat<f64>, eps: f64, norm: Norm) {
    for i in 0..eta.nrows() {
        match norm {
            Norm::L2 => {
                let len = (0..eta.ncols())
                    .map(|j| eta[(i, j)].powi(2))
                    .sum::<f64>()
                    .sqrt();
                if len > eps {
                    let s = eps / len;
                    for j in 0..eta.ncols() {
                        eta[(i, j)] *= s;
                    }
                }
            }
            Norm::Linf => {
                for j in 0..eta.ncols() {
                    eta[(i, j)] = eta[(i, j)].clamp(-eps, eps);
                }
            }
        }
    }
}

/// Multi-step projected perturbation of the inputs `x` (N×d): `opts.steps` steps of size
/// `opts.step_size` (default ε/4) along dir(∇f(x + η)), each followed by the projection onto the
/// ε-ball. `gradient_at(z)` returns the input gradients ∇f at the rows of z. With one step and
/// step size ε this is exactly [`single_step`].
pub fn projected(
    x: MatRef<'_, f64>,
    targets: &[f64],
    opts: &AttackOptions,
    mut gradient_at: impl FnMut(MatRef<'_, f64>) -> Result<Mat<f64>>,
) -> Result<Perturbations> {
    opts.validate()?;
    if opts.steps == 1 && opts.step_size.is_none() {
        let g = gradient_at(x)?;
        return single_step(g.as_ref(), targets, opts.eps, opts.norm);
    }
    let step = opts.step_size.unwrap_or(opts.eps / 4.0);
    let (n, d) = (x.nrows(), x.ncols());
    let mut eta = Mat::<f64>::zeros(n, d);
    let mut zero_gradient = Vec::new();
    for s in 0..opts.steps {
        let z = Mat::from_fn(n, d, |i, j| x[(i, j)] + eta[(i, j)]);
        let g = gradient_at(z.as_ref())?;
        let p = single_step(g.as_ref(), targets, step, opts.norm)?;
        if s == 0 {
            zero_gradient = p.zero_gradient.clone();
        }
        eta = Mat::from_fn(n, d, |i, j| eta[(i, j)] + p.eta[(i, j)]);
        project(&mut eta, opts.eps, opts.norm);
    }
    Ok(Perturbations { eta, zero_gradient })
}
