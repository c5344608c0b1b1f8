//! The predicted ε threshold of scenario (a) (§6.6) and the observed one on an ε grid.
//!
//! In scenario (a) with trained biases and the identity loss, g's infinite-width linearised
//! predictor is g(z) = (T_g/N) Σ_n y^adv_n Θ(η_n, z) with η_n = ε y^adv_n u_n, u_n = ∇f(x_n)/‖∇f(x_n)‖
//! the attack's unit direction (u_n = 0 where the gradient is 0). To first order in ε (§6.6):
//!
//! ```text
//! g(z)/T_g = b(z) + ε a(z) + O(ε²),
//! b(z) = ȳ Θ(0, z),                 ȳ = (1/N) Σ_n y^adv_n          (bias-gradient offset)
//! a(z) = ū·∇_r Θ(r, z)|_{r=0},      ū = (1/N) Σ_n u_n               (signal per unit ε)
//! ```
//!
//! The predicted agreement is A(ε) = (1/M) #{z : sgn(b(z) + ε a(z)) = sgn f(z)} over the test
//! inputs, with f's own outputs, and the predicted threshold is
//!
//! ```text
//! ε* = inf { ε ≥ 0 : A(ε⁺) ≥ q }          (q = 0.9, the level of the observed threshold)
//! ```
//!
//! (+∞, an empty cell, when A never reaches q). A(ε) changes only at ε_z = −b(z)/a(z) > 0, where
//! the point z switches from the offset's sign to the signal's, so ε* is 0 or one of the ε_z.
//! ε is the L2 radius of the attack, the x of the ε panel (ε = c√d).
//!
//! The observed threshold is the smallest ε of a grid whose agreement is ≥ q ([`observed`]).
//!
//! Θ(0, z) is the closed-form kernel ([`crate::kernel::closed_form`]) and ∇_r Θ(r, z) at r = 0 the
//! exact kernel gradient of §5.3 ([`kernel_gradient_direction`]); both are properties of the NTK
//! and the test input alone, so ε* depends on the data, the targets and f, never on ε.

use faer::{Mat, MatRef};

use super::config::{RunConfig, Scenario};
use crate::error::{Error, Result};
use crate::kernel::{KernelWhat, kernel_gradient_direction, kernel_value};
use crate::model::{Architecture, Loss};
use crate::perturbation::Norm;

/// Agreement level of both thresholds: the smallest ε with agreement ≥ 0.9.
pub const LEVEL: f64 = 0.9;

/// Name of the per-run metric of the predicted threshold.
pub const PRED_METRIC: &str = "eps_threshold_pred";
/// Name of the summary metric of the observed threshold.
pub const OBS_METRIC: &str = "eps_threshold_obs";

/// Whether ε* is defined for `cfg`: scenario (a), one L2 attack step, trained biases and the
/// identity loss (g's coefficients (T_g/N) y^adv do not depend on ε). Otherwise the metric is an
/// empty cell.
pub fn defined(cfg: &RunConfig) -> bool {
    cfg.scenario == Scenario::A
        && cfg.norm == Norm::L2
        && cfg.attack_steps == 1
        && cfg.architecture().bias
        && cfg.loss == Loss::Identity
}

/// The offset b(z)/ȳ = Θ(0, z) and the signal a(z) = ū·∇_r Θ(r, z)|_{r=0} at every row of `z`,
/// given the attack's gradients ∇f(x_n) at the training inputs (N×d, rows normalised here).
pub fn offset_and_signal(
    grad_x: MatRef<'_, f64>,
    z: MatRef<'_, f64>,
    arch: &Architecture,
) -> Result<(Vec<f64>, Vec<f64>)> {
    if grad_x.ncols() != z.ncols() {
        return Err(Error::Mismatch(format!(
            "gradients of dimension {} but test inputs of dimension {}",
            grad_x.ncols(),
            z.ncols()
        )));
    }
    let (n, d) = (grad_x.nrows(), grad_x.ncols());
    // ū = (1/N) Σ_n u_n, the mean unit attack direction.
    let mut u_bar = vec![0.0; d];
    for i in 0..n {
        let norm = (0..d)
            .map(|j| grad_x[(i, j)] * grad_x[(i, j)])
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            for (j, u) in u_bar.iter_mut().enumerate() {
                *u += grad_x[(i, j)] / norm;
            }
        }
    }
    u_bar.iter_mut().for_each(|u| *u /= n.max(1) as f64);
    let origin = Mat::<f64>::zeros(1, d);
    let zero = vec![0.0; d];
    let mut offset = Vec::with_capacity(z.nrows());
    let mut signal = Vec::with_capacity(z.nrows());
    for i in 0..z.nrows() {
        let row: Vec<f64> = (0..d).map(|j| z[(i, j)]).collect();
        offset.push(kernel_value(&zero, &row, arch, KernelWhat::Ntk));
        // ∇_r Θ(z_i, r) at r = 0 (Θ is symmetric).
        let grad = kernel_gradient_direction(origin.as_ref(), z.subrows(i, 1), &[1.0], arch)?;
        signal.push((0..d).map(|j| grad[(0, j)] * u_bar[j]).sum());
    }
    Ok((offset, signal))
}

/// Sign with sgn(0) = 0.
fn sgn(v: f64) -> i8 {
    if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }
}

/// ε* = inf{ε ≥ 0 : A(ε⁺) ≥ `level`} with A(ε) the fraction of points with
/// sgn(b_i + ε a_i) = sgn f_i (see the module documentation); +∞ when A never reaches `level`,
/// NaN for no points.
pub fn predicted(b: &[f64], a: &[f64], f: &[f64], level: f64) -> Result<f64> {
    if b.len() != a.len() || b.len() != f.len() {
        return Err(Error::Mismatch(format!(
            "{} offsets, {} signals and {} outputs of f",
            b.len(),
            a.len(),
            f.len()
        )));
    }
    let m = f.len();
    if m == 0 {
        return Ok(f64::NAN);
    }
    let need = level * m as f64;
    // Just above ε = 0 a point with a crossing ε_i > 0 still has the offset's sign; otherwise
    // (ε_i ≤ 0, or b_i = 0) it has the signal's sign for every ε > 0.
    let mut agree = 0usize;
    let mut events: Vec<(f64, i64)> = Vec::new();
    for i in 0..m {
        let (sb, sa, sf) = (sgn(b[i]), sgn(a[i]), sgn(f[i]));
        let crossing = if sa != 0 && sb != 0 && sa != sb {
            -b[i] / a[i]
        } else {
            0.0
        };
        let after = if sa != 0 { sa == sf } else { sb == sf };
        if crossing > 0.0 {
            agree += usize::from(sb == sf);
            events.push((crossing, i64::from(after) - i64::from(sb == sf)));
        } else {
            agree += usize::from(after);
        }
    }
    if agree as f64 >= need {
        return Ok(0.0);
    }
    events.sort_by(|p, q| p.0.total_cmp(&q.0));
    let mut count = agree as i64;
    let mut k = 0;
    while k < events.len() {
        let at = events[k].0;
        while k < events.len() && events[k].0 == at {
            count += events[k].1;
            k += 1;
        }
        if count as f64 >= need {
            return Ok(at);
        }
    }
    Ok(f64::INFINITY)
}

/// ε* of one run (§6.6): NaN where it is not [`defined`]. `grad_x` are the attack's gradients at
/// the training inputs, `f_test` f's outputs at the rows of `z`.
pub fn for_run(
    cfg: &RunConfig,
    grad_x: MatRef<'_, f64>,
    targets: &[f64],
    z: MatRef<'_, f64>,
    f_test: &[f64],
) -> Result<f64> {
    if !defined(cfg) {
        return Ok(f64::NAN);
    }
    if targets.len() != grad_x.nrows() {
        return Err(Error::Mismatch(format!(
            "{} target labels for {} gradients",
            targets.len(),
            grad_x.nrows()
        )));
    }
    let y_bar = targets.iter().sum::<f64>() / targets.len().max(1) as f64;
    let (theta0, a) = offset_and_signal(grad_x, z, &cfg.architecture())?;
    let b: Vec<f64> = theta0.iter().map(|t| y_bar * t).collect();
    predicted(&b, &a, f_test, LEVEL)
}

/// The observed threshold: the smallest ε of `points` (ε, agreement) whose agreement is ≥ `level`;
/// `None` when no point reaches it.
pub fn observed(points: &[(f64, f64)], level: f64) -> Option<f64> {
    points
        .iter()
        .filter(|(eps, agreement)| eps.is_finite() && *agreement >= level)
        .map(|p| p.0)
        .min_by(f64::total_cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four test points by hand: b = 0.2 everywhere, a = (1, 2, −1, −0.5), f = (+, +, −, −).
    /// The last two agree only above ε = 0.2 and 0.4: A = 0.5 on (0, 0.2), 0.75 on (0.2, 0.4), 1 after.
    #[test]
    fn threshold_of_four_points_by_hand() {
        let b = [0.2; 4];
        let a = [1.0, 2.0, -1.0, -0.5];
        let f = [1.0, 3.0, -1.0, -2.0];
        assert_eq!(predicted(&b, &a, &f, 0.5).unwrap(), 0.0);
        assert!((predicted(&b, &a, &f, 0.75).unwrap() - 0.2).abs() < 1e-15);
        assert!((predicted(&b, &a, &f, 0.9).unwrap() - 0.4).abs() < 1e-15);
        // A point whose signal disagrees with f caps the agreement at 0.75.
        let f2 = [1.0, -3.0, -1.0, -2.0];
        assert_eq!(predicted(&b, &a, &f2, 0.9).unwrap(), f64::INFINITY);
        // Balanced targets (b = 0): the signal's sign from any ε > 0.
        assert_eq!(predicted(&[0.0; 4], &a, &f, 0.9).unwrap(), 0.0);
    }

    #[test]
    fn observed_threshold_is_the_first_grid_point_at_the_level() {
        let pts = [
            (0.0, 0.5),
            (0.001, 0.5),
            (0.002, 0.93),
            (0.003, 0.88),
            (0.004, 0.99),
        ];
        assert_eq!(observed(&pts, 0.9), Some(0.002));
        assert_eq!(observed(&pts[..2], 0.9), None);
    }
}
