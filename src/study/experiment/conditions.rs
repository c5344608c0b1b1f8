//! The three conditions of the agreement theorem, evaluated per test point (§6.1–§6.3, §10.2).
//!
//! **Our reconstruction.** The paper's exact conditions could not be verified (§6.3); the exact
//! definitions used here are:
//!
//! * surrogates of the authors' code (§6.2, weights-only dot product, no ε/‖∇f‖ factor):
//!   f̂(z) = (1/N) Σ_n y_n Φ_γ(x_n, z)(x_n·z),
//!   ĝ(z) = (1/N) Σ_n Φ_γ(r_n, z) · (1/N) Σ_k y_k Φ_γ(x_n, x_k)(x_k·z);
//! * main terms (§6.1): f_main(z) = Σ_n α^f_n Θ(x_n, z) with α^f = λ ⊙ y / N the coefficients of
//!   the linearised flow of f on the infinite-width NTK (λ from the dynamics; the network's f_0 at
//!   the training inputs enters λ for non-identity losses), and, with α^g = μ ⊙ y^adv / N the
//!   coefficients of g's flow on Θ(R, R) and s_n = Σ_k α^f_k Φ_γ(x_k, x_n) x_k,
//!
//!   ```text
//!   g_main(z) = Σ_n α^g_n y^adv_n Φ_γ(r_n, z) (ε/‖∇f(x_n)‖) (s_n·z)   signal
//!             + Σ_n α^g_n Φ_γ(r_n, z)                            scenario (a): bias-gradient term
//!             + Σ_n α^g_n Φ_γ(r_n, z)(x_n·z + 1)                 scenario (b): mislabeled-sample term
//!   ```
//!
//!   (the "+1" only with biases; ‖∇f(x_n)‖ is the norm of the gradient the attack used at x_n,
//!   and the signal term is 0 where that gradient is 0; a Σ_γ part of the NTK (trained readout)
//!   is left in the residual);
//! * residuals r_f = f − f_main and r_g = g − g_main (f_0, g_0, finite-width, pattern-change and
//!   gradient-direction errors are all in the residual);
//! * C1: |f_main(z)| > |r_f(z)|; C2: |g_main(z)| > |r_g(z)|; C3: sgn f̂(z) = sgn ĝ(z);
//!   C3_main: sgn f_main(z) = sgn g_main(z);
//! * predicted disagreement: C1 ∧ C2 ∧ ¬C3 (the surrogates' signs differ); it is a hit where
//!   sgn f(z) ≠ sgn g(z) is also observed.
//!
//! **Where g_main is defined.** g_main assumes the paper's perturbation, one normalised L2 step
//! η_n = ε y^adv_n ∇f(x_n)/‖∇f(x_n)‖ (§5.1), whose direction is the kernel-weighted sum s_n. One L∞
//! step is ε y^adv_n sign(∇f(x_n)), which is not a weighted sum of training samples, and a projected
//! multi-step attack follows the gradient at the moving point x_n + η; neither has a clean main
//! term. For `norm = "linf"` or `attack_steps > 1` ([`main_term_g_defined`]) g_main is therefore
//! not computed and every summary that needs it (C2, C3_main and all combinations, the
//! conditional agreements and the predicted disagreement) is undefined (NaN, an empty cell);
//! C1 and C3 stay defined.
//!
//! **Fixed by construction.** C1 implies sgn f = sgn f_main (f = f_main + r_f with |r_f| < |f_main|),
//! C2 likewise for g, so under C1 ∧ C2 ∧ C3_main the signs of f and g agree: `agree_given_all_main`
//! is 1 whenever it is defined, and a disagreement predicted from C3_main would always be a hit,
//! which is why the prediction uses the testable C3. With `model = "theory"`, f is its own main
//! term (f_0 = 0 and the same α on the same kernel), so r_f = 0 and C1 holds at every z with
//! f(z) ≠ 0: `cond_c1` = 1. The surrogate version C1 ∧ C2 ∧ C3 is the testable one.
//! Every product over test and training points is a GEMM or an element-wise map of one.

use faer::{Mat, MatRef};

use crate::dynamics::LinearizedFlow;
use crate::error::{Error, Result};
use crate::kernel::{KernelWhat, infinite_test_train, weighted_sum_direction};
use crate::linalg;
use crate::model::Architecture;

use super::config::{RunConfig, Scenario};
use crate::perturbation::Norm;

/// Per-test-point values that the conditions compare.
#[derive(Debug, Clone, Default)]
pub struct ConditionTerms {
    /// f(z) of the trained classifier.
    pub f: Vec<f64>,
    /// g(z) of the classifier trained on perturbations.
    pub g: Vec<f64>,
    /// f_main(z) (§6.1).
    pub f_main: Vec<f64>,
    /// g_main(z) (§6.1); `None` where it is not defined ([`main_term_g_defined`]).
    pub g_main: Option<Vec<f64>>,
    /// The code's surrogate f̂(z) (§6.2).
    pub f_hat: Vec<f64>,
    /// The code's surrogate ĝ(z) (§6.2).
    pub g_hat: Vec<f64>,
}

/// Fractions of test points satisfying the conditions (see the module documentation). Every
/// field but `c1` and `c3` needs g_main and is NaN when it is not defined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConditionSummary {
    /// Fraction with C1 (1 by construction for `model = "theory"`).
    pub c1: f64,
    /// Fraction with C2.
    pub c2: f64,
    /// Fraction with C3 (surrogates f̂, ĝ).
    pub c3: f64,
    /// Fraction with C3_main (main terms).
    pub c3_main: f64,
    /// Fraction with C1 ∧ C2 ∧ C3.
    pub all: f64,
    /// Fraction with C1 ∧ C2 ∧ C3_main.
    pub all_main: f64,
    /// P(sgn f = sgn g | C1 ∧ C2 ∧ C3); NaN when no point satisfies all three.
    pub agree_given_all: f64,
    /// P(sgn f = sgn g | C1 ∧ C2 ∧ C3_main): 1 by construction; NaN when no point qualifies.
    pub agree_given_all_main: f64,
    /// Fraction with C1 ∧ C2 ∧ ¬C3: the conditions predict disagreement.
    pub predicted_disagree: f64,
    /// Fraction with C1 ∧ C2 ∧ ¬C3 and sgn f ≠ sgn g: predicted and observed disagreement.
    pub predicted_disagree_hit: f64,
}

impl ConditionSummary {
    /// Every fraction NaN (undefined).
    pub fn undefined() -> ConditionSummary {
        let nan = f64::NAN;
        ConditionSummary {
            c1: nan,
            c2: nan,
            c3: nan,
            c3_main: nan,
            all: nan,
            all_main: nan,
            agree_given_all: nan,
            agree_given_all_main: nan,
            predicted_disagree: nan,
            predicted_disagree_hit: nan,
        }
    }
}

/// Sign with sgn(0) = 0, so a zero output agrees only with a zero output.
fn sgn(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Whether two outputs have the same sign.
pub fn same_sign(a: f64, b: f64) -> bool {
    sgn(a) == sgn(b)
}

/// Whether g_main is defined for this run: one L2 step, the paper's perturbation (see the module
/// documentation). Otherwise the conditions that need it are undefined.
pub fn main_term_g_defined(cfg: &RunConfig) -> bool {
    cfg.norm == Norm::L2 && cfg.attack_steps == 1
}

/// Why g_main is not defined for `cfg`, or `None` when it is (or the conditions are off).
pub fn main_term_g_undefined_reason(cfg: &RunConfig) -> Option<String> {
    if main_term_g_defined(cfg) || !cfg.conditions {
        return None;
    }
    Some(format!(
        "g's main term assumes one L2 attack step; with norm = \"{}\" and attack_steps = {} the \
         condition columns that need it (cond_c2, cond_c3_main, cond_all, cond_all_main, \
         agree_given_all, agree_given_all_main, predicted_disagree, predicted_disagree_hit) are \
         left empty",
        match cfg.norm {
            Norm::L2 => "l2",
            Norm::Linf => "linf",
        },
        cfg.attack_steps
    ))
}

/// Evaluates C1, C2, C3 and C3_main at every test point and summarises them; without g_main
/// only C1 and C3 are defined and every other field is NaN.
pub fn summarize(t: &ConditionTerms) -> Result<ConditionSummary> {
    let m = t.f.len();
    let mut named: Vec<(&str, &Vec<f64>)> = vec![
        ("g", &t.g),
        ("f_main", &t.f_main),
        ("f_hat", &t.f_hat),
        ("g_hat", &t.g_hat),
    ];
    if let Some(g_main) = &t.g_main {
        named.push(("g_main", g_main));
    }
    for (name, v) in named {
        if v.len() != m {
            return Err(Error::Mismatch(format!(
                "condition terms: {} values of f but {} of {name}",
                m,
                v.len()
            )));
        }
    }
    let frac = |c: usize| {
        if m == 0 {
            f64::NAN
        } else {
            c as f64 / m as f64
        }
    };
    let cond = |num: usize, den: usize| {
        if den == 0 {
            f64::NAN
        } else {
            num as f64 / den as f64
        }
    };
    let c1_at = |i: usize| t.f_main[i].abs() > (t.f[i] - t.f_main[i]).abs();
    let c3_at = |i: usize| same_sign(t.f_hat[i], t.g_hat[i]);
    let c1 = frac((0..m).filter(|&i| c1_at(i)).count());
    let c3 = frac((0..m).filter(|&i| c3_at(i)).count());
    let Some(g_main) = &t.g_main else {
        return Ok(ConditionSummary {
            c1,
            c3,
            ..ConditionSummary::undefined()
        });
    };
    let mut count = [0usize; 8];
    for (i, &gm) in g_main.iter().enumerate() {
        let (c1, c3) = (c1_at(i), c3_at(i));
        let c2 = gm.abs() > (t.g[i] - gm).abs();
        let c3m = same_sign(t.f_main[i], gm);
        let agree = same_sign(t.f[i], t.g[i]);
        let flags = [
            c2,
            c3m,
            c1 && c2 && c3,
            c1 && c2 && c3m,
            c1 && c2 && c3 && agree,
            c1 && c2 && c3m && agree,
            c1 && c2 && !c3,
            c1 && c2 && !c3 && !agree,
        ];
        for (c, f) in count.iter_mut().zip(flags) {
            *c += usize::from(f);
        }
    }
    Ok(ConditionSummary {
        c1,
        c2: frac(count[0]),
        c3,
        c3_main: frac(count[1]),
        all: frac(count[2]),
        all_main: frac(count[3]),
        agree_given_all: cond(count[4], count[2]),
        agree_given_all_main: cond(count[5], count[3]),
        predicted_disagree: frac(count[6]),
        predicted_disagree_hit: frac(count[7]),
    })
}

/// Σ_n a[(i, n)]·b[(i, n)]·w_n for each row i (the row sums of a weighted Hadamard product).
fn weighted_row_sums(a: MatRef<'_, f64>, b: MatRef<'_, f64>, w: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; a.nrows()];
    for (n, &wn) in w.iter().enumerate() {
        if wn == 0.0 {
            continue;
        }
        let (ca, cb) = (a.col(n), b.col(n));
        for (i, o) in out.iter_mut().enumerate() {
            *o += ca[i] * cb[i] * wn;
        }
    }
    out
}

/// f̂(z) = (1/N) Σ_n y_n Φ_γ(x_n, z)(x_n·z) at every row of `z` (§6.2).
pub fn surrogate_f(
    x: MatRef<'_, f64>,
    y: &[f64],
    z: MatRef<'_, f64>,
    arch: &Architecture,
) -> Result<Vec<f64>> {
    check_len(x, y, "labels")?;
    let phi = infinite_test_train(z, x, arch, KernelWhat::Phi)?;
    let dots = linalg::cross_product(z, x, 1.0);
    let inv_n = 1.0 / x.nrows() as f64;
    let w: Vec<f64> = y.iter().map(|v| v * inv_n).collect();
    Ok(weighted_row_sums(phi.as_ref(), dots.as_ref(), &w))
}

/// ĝ(z) = (1/N) Σ_n Φ_γ(r_n, z)·(1/N) Σ_k y_k Φ_γ(x_n, x_k)(x_k·z) at every row of `z` (§6.2).
///
/// The inner sum is z·D_n with D = `weighted_sum_direction(X, X, y)` (row n = Σ_k y_k Φ(x_k, x_n) x_k),
/// so ĝ needs Φ(X, X) once, the GEMM Z Dᵀ and Φ(Z, R).
pub fn surrogate_g(
    x: MatRef<'_, f64>,
    y: &[f64],
    r: MatRef<'_, f64>,
    z: MatRef<'_, f64>,
    arch: &Architecture,
) -> Result<Vec<f64>> {
    check_len(x, y, "labels")?;
    let d = weighted_sum_direction(x, x, y, arch)?;
    surrogate_g_from_direction(d.as_ref(), r, z, arch)
}

/// [`surrogate_g`] given D = `weighted_sum_direction(X, X, y)` (shared with the cosine metric).
pub fn surrogate_g_from_direction(
    direction: MatRef<'_, f64>,
    r: MatRef<'_, f64>,
    z: MatRef<'_, f64>,
    arch: &Architecture,
) -> Result<Vec<f64>> {
    if direction.nrows() != r.nrows() {
        return Err(Error::Mismatch(format!(
            "{} training directions but {} perturbed inputs",
            direction.nrows(),
            r.nrows()
        )));
    }
    let phi_r = infinite_test_train(z, r, arch, KernelWhat::Phi)?;
    let zd = direction_products(direction, z);
    surrogate_g_from_products(phi_r.as_ref(), zd.as_ref())
}

/// The products z·D_n (M×N) of every test input z with every training direction D_n of
/// [`surrogate_g_from_direction`]: they depend on the data alone, so a sweep forms them once.
pub fn direction_products(direction: MatRef<'_, f64>, z: MatRef<'_, f64>) -> Mat<f64> {
    linalg::cross_product(z, direction, 1.0)
}

/// ĝ(z) (§6.2) from Φ_γ(Z, R) (M×N) and the [`direction_products`] Z Dᵀ (M×N):
/// (1/N²) Σ_n Φ_γ(r_n, z)(z·D_n).
pub fn surrogate_g_from_products(phi_r: MatRef<'_, f64>, zd: MatRef<'_, f64>) -> Result<Vec<f64>> {
    check_shape(phi_r, zd, "direction products")?;
    let n = phi_r.ncols() as f64;
    let w = vec![1.0 / (n * n); phi_r.ncols()];
    Ok(weighted_row_sums(phi_r, zd, &w))
}

/// f_main(z) = Σ_n α^f_n Θ(x_n, z) at every row of `z` (§6.1, infinite-width NTK of `arch`).
pub fn main_term_f(
    x: MatRef<'_, f64>,
    alpha_f: &[f64],
    z: MatRef<'_, f64>,
    arch: &Architecture,
) -> Result<Vec<f64>> {
    check_len(x, alpha_f, "coefficients")?;
    let k = infinite_test_train(z, x, arch, KernelWhat::Ntk)?;
    Ok(LinearizedFlow::predict(
        k.as_ref(),
        &vec![0.0; z.nrows()],
        alpha_f,
    ))
}

/// Everything g_main needs (see the module documentation for the formula).
#[derive(Debug, Clone, Copy)]
pub struct GMainInputs<'a> {
    /// Clean training inputs X (N×d).
    pub x: MatRef<'a, f64>,
    /// Inputs g was trained on, R (N×d).
    pub r: MatRef<'a, f64>,
    /// Target labels y^adv.
    pub targets: &'a [f64],
    /// Coefficients α^f of f's linearised flow.
    pub alpha_f: &'a [f64],
    /// Coefficients α^g of g's linearised flow on Θ(R, R).
    pub alpha_g: &'a [f64],
    /// ‖∇f(x_n)‖ of the gradient the attack used at x_n.
    pub grad_norms: &'a [f64],
    /// Perturbation size ε.
    pub eps: f64,
    /// Scenario (a) or (b).
    pub scenario: Scenario,
}

/// g_main(z) at every row of `z` (§6.1).
pub fn main_term_g(
    inp: &GMainInputs<'_>,
    z: MatRef<'_, f64>,
    arch: &Architecture,
) -> Result<Vec<f64>> {
    check_g_inputs(inp)?;
    let phi_r = infinite_test_train(z, inp.r, arch, KernelWhat::Phi)?;
    let zs = signal_products(inp.x, inp.alpha_f, z, arch)?;
    let zx = match inp.scenario {
        Scenario::A => None,
        Scenario::B => Some(mislabel_products(z, inp.x, arch)),
    };
    main_term_g_from(
        inp,
        phi_r.as_ref(),
        zs.as_ref(),
        zx.as_ref().map(Mat::as_ref),
        arch,
    )
}

/// The products z·s_n (M×N) of g_main's signal term, s_n = Σ_k α^f_k Φ_γ(x_k, x_n) x_k: they
/// depend on the data and f alone, so a sweep forms them once per f.
pub fn signal_products(
    x: MatRef<'_, f64>,
    alpha_f: &[f64],
    z: MatRef<'_, f64>,
    arch: &Architecture,
) -> Result<Mat<f64>> {
    check_len(x, alpha_f, "f coefficients")?;
    let s = weighted_sum_direction(x, x, alpha_f, arch)?;
    Ok(linalg::cross_product(z, s.as_ref(), 1.0))
}

/// The products z·x_n + 1 (M×N; + 0 without bias) of g_main's scenario-(b) term: data only.
pub fn mislabel_products(z: MatRef<'_, f64>, x: MatRef<'_, f64>, arch: &Architecture) -> Mat<f64> {
    let offset = if arch.bias { 1.0 } else { 0.0 };
    let mut zx = linalg::cross_product(z, x, 1.0);
    linalg::map_entries(zx.as_mut(), false, |_, _, v| v + offset);
    zx
}

/// g_main(z) (§6.1) from Φ_γ(Z, R) (M×N), the [`signal_products`] and, in scenario (b), the
/// [`mislabel_products`].
pub fn main_term_g_from(
    inp: &GMainInputs<'_>,
    phi_r: MatRef<'_, f64>,
    zs: MatRef<'_, f64>,
    zx: Option<MatRef<'_, f64>>,
    arch: &Architecture,
) -> Result<Vec<f64>> {
    check_g_inputs(inp)?;
    let n = inp.x.nrows();
    if phi_r.ncols() != n {
        return Err(Error::Mismatch(format!(
            "{n} training inputs but {} columns of Φ(Z, R)",
            phi_r.ncols()
        )));
    }
    check_shape(phi_r, zs, "signal products")?;
    // Signal: Σ_n w_n Φ(r_n, z)(z·s_n) with w_n = α^g_n y^adv_n ε/‖∇f(x_n)‖.
    let w: Vec<f64> = (0..n)
        .map(|i| {
            if inp.grad_norms[i] > 0.0 {
                inp.alpha_g[i] * inp.targets[i] * inp.eps / inp.grad_norms[i]
            } else {
                0.0
            }
        })
        .collect();
    let mut out = weighted_row_sums(phi_r, zs, &w);
    match inp.scenario {
        Scenario::A => {
            if arch.bias {
                let extra = LinearizedFlow::predict(phi_r, &vec![0.0; phi_r.nrows()], inp.alpha_g);
                out.iter_mut().zip(extra).for_each(|(o, e)| *o += e);
            }
        }
        Scenario::B => {
            let zx = zx.ok_or_else(|| {
                Error::Mismatch("scenario (b) needs the products z·x_n + 1".into())
            })?;
            check_shape(phi_r, zx, "mislabel products")?;
            let extra = weighted_row_sums(phi_r, zx, inp.alpha_g);
            out.iter_mut().zip(extra).for_each(|(o, e)| *o += e);
        }
    }
    Ok(out)
}

/// Every input of g_main has one entry per training input.
fn check_g_inputs(inp: &GMainInputs<'_>) -> Result<()> {
    let n = inp.x.nrows();
    for (what, len) in [
        ("perturbed inputs", inp.r.nrows()),
        ("target labels", inp.targets.len()),
        ("f coefficients", inp.alpha_f.len()),
        ("g coefficients", inp.alpha_g.len()),
        ("gradient norms", inp.grad_norms.len()),
    ] {
        if len != n {
            return Err(Error::Mismatch(format!(
                "{n} training inputs but {len} {what}"
            )));
        }
    }
    Ok(())
}

/// Two M×N matrices of products over test and training inputs have the same shape.
fn check_shape(a: MatRef<'_, f64>, b: MatRef<'_, f64>, what: &str) -> Result<()> {
    if (a.nrows(), a.ncols()) != (b.nrows(), b.ncols()) {
        return Err(Error::Mismatch(format!(
            "Φ(Z, R) is {}×{} but the {what} are {}×{}",
            a.nrows(),
            a.ncols(),
            b.nrows(),
            b.ncols()
        )));
    }
    Ok(())
}

fn check_len(x: MatRef<'_, f64>, v: &[f64], what: &str) -> Result<()> {
    if v.len() != x.nrows() {
        return Err(Error::Mismatch(format!(
            "{} training inputs but {} {what}",
            x.nrows(),
            v.len()
        )));
    }
    Ok(())
}
