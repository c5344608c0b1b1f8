//! Symmetric eigendecomposition A = V Λ Vᵀ from faer's building blocks, with a two-stage
//! tridiagonalisation in place of faer's one-stage one (docs/theory.md §8.3).
//!
//! faer's `self_adjoint_evd`, like LAPACK's `dsytrd`, reduces A to tridiagonal form one column at a
//! time, and every column needs a matrix-vector product with the whole trailing matrix: half of the
//! 4N³/3 flops stream the matrix from memory, and beyond the last-level cache that phase is bound
//! by memory bandwidth (at N = 4000 on the 2-core development machine it took three quarters of the
//! reduction, at about 22 GB/s). The reduction here has two stages: [`band`] takes A to a band
//! matrix with [`BAND`] sub-diagonals by panel QR factorisations and symmetric rank-2b updates,
//! matrix-matrix products only (LAPACK `dsytrd_sy2sb`); [`chase`] takes the band to tridiagonal
//! form by bulge chasing on a compact copy of the band that stays in cache (LAPACK
//! `dsytrd_sb2st`). [`SymmetricEvd`] then solves the two halves of the tridiagonal matrix with
//! faer's divide-and-conquer and does the last merge itself, keeping
//! V = Q₁·Q₂·diag(Z₁, Z₂)·(merge) as factors that are applied to blocks instead of multiplied out:
//! the back-transformation and the product of the last merge are left out, and the memory besides
//! A's own storage (which keeps both stages' reflectors) is 8N² bytes.
//!
//! Every split of the work between threads is a fixed function of the size, so the bits depend on
//! `par` (always [`super::spectrum::EVD_THREADS`] threads here) and on nothing else.

mod band;
mod chase;
mod direct;

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::evd::{EvdError, tridiagonal_self_adjoint_evd};
use faer::linalg::householder;
use faer::linalg::matmul::matmul;
use faer::linalg::temp_mat_scratch;
use faer::prelude::*;
use faer::{Accum, Conj, Mat, MatMut, MatRef, Par};

use crate::error::{Error, Result};

/// Sub-diagonals of the band matrix between the two stages of the tridiagonalisation: the panel
/// width of the first stage's matrix products and the reflector length of the bulge chasing.
const BAND: usize = 32;

/// How A is brought to tridiagonal form, chosen by what will be done with V.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// Dense to band to tridiagonal ([`band`], [`chase`]): matrix products and cache-resident
    /// bulge chasing, the fastest reduction, but Q₂'s N²/b short reflectors cost about 4N³ more
    /// flops whenever V is applied to N columns. For V applied to a few vectors (the mse flow).
    TwoStage,
    /// One column at a time ([`direct`], LAPACK `dsytrd`): half its flops stream the trailing
    /// matrix, but Q is one block Householder sequence, about 2N³ flops at matrix-product speed
    /// for N columns. For forming V ([`SymmetricEvd::eigenvectors`]); LAPACK's two-stage drivers
    /// do not form V at all.
    OneStage,
}

/// Columns of the secular eigenvector matrix built at a time when it is applied to a block.
const SECULAR_BLOCK: usize = 256;

/// Iteration cap of one secular root (the safeguarded rational model converges in a handful of
/// steps; bisection alone would need about 60).
const SECULAR_MAX_ITER: usize = 200;

/// The symmetric eigendecomposition A = V Λ Vᵀ held as a value that applies V and Vᵀ to blocks,
/// without forming the N×N matrix V (§8.3).
///
/// V = Q · diag(Z₁, Z₂) · P · Rᵀ · W̃, factor by factor:
///
/// * Q = Q₁ Q₂: the Householder reflectors of the two-stage tridiagonalisation T = Qᵀ A Q, dense
///   to band ([`band`]) and band to tridiagonal ([`chase`]), both kept in A's own storage;
/// * Z₁, Z₂: the eigenvectors of the two halves of T torn apart at row N/2 (T = diag(T₁, T₂) +
///   |β| v vᵀ, β = T[N/2, N/2 − 1], v = e_{N/2−1} + sign(β) e_{N/2}, with |β| subtracted from the
///   two diagonal entries it touches), each from faer's tridiagonal divide-and-conquer;
/// * P: the permutation that sorts the halves' eigenvalues d into one ascending list;
/// * R: the Givens rotations of the deflation (pairs of eigenvalues closer than the tolerance);
/// * W̃: the eigenvectors of the rank-one update D + ρ z zᵀ (ρ = 2|β|, z = P diag(Z₁, Z₂)ᵀ v/√2),
///   the identity on the deflated coordinates and, on the other k, column j equal to
///   ẑ_a/(d_a − λ_j) normalised, with λ_j the roots of the secular equation
///   1 + ρ Σ_a z_a²/(d_a − λ) = 0 and ẑ from the Gu–Eisenstat formula
///   ẑ_a² = Π_b (λ_b − d_a) / (ρ Π_{b≠a} (d_b − d_a)), which makes W̃ orthogonal to working
///   accuracy. W̃ is never stored: its columns are rebuilt in blocks of [`SECULAR_BLOCK`].
///
/// This is the top level of a divide-and-conquer (LAPACK `dstedc`'s merge, `dlaed2`–`dlaed4`)
/// whose last product diag(Z₁, Z₂)·W̃ and the back-transformation Q·Z are applied to the blocks
/// that need them instead of being formed: the mse flow needs V g(Λ) Vᵀ r for a few times, not V.
/// Memory besides A's storage: Z₁ and Z₂ (2·(N/2)² entries) and, while the halves are solved,
/// faer's divide-and-conquer scratch for N/2 (two (N/2)² matrices): 8N² bytes in all.
#[derive(Debug, Clone)]
pub struct SymmetricEvd {
    /// A's storage after the reduction: the first stage's Householder vectors below the band
    /// (faer's layout, see [`band`]), the second stage's in the strict upper triangle (see
    /// [`chase`]).
    reflectors: Mat<f64>,
    /// Block triangular factors of the first stage's reflectors (one block per panel).
    factors: Mat<f64>,
    /// Sub-diagonals after the first stage: [`BAND`] for [`Reduction::TwoStage`], 1 (no second
    /// stage) for [`Reduction::OneStage`].
    band: usize,
    /// Eigenvalues, ascending.
    eigenvalues: Vec<f64>,
    /// Size of the first half.
    n1: usize,
    /// Eigenvectors of the first and second half.
    z1: Mat<f64>,
    z2: Mat<f64>,
    /// `src[s]`: the half-eigenvector (0..n1 first half, n1.. second) at sorted position s.
    src: Vec<usize>,
    /// Deflation rotations (p, q, c, s) in sorted positions, in the order they were made.
    rotations: Vec<(usize, usize, f64, f64)>,
    /// Sorted positions of the k non-deflated coordinates.
    kept: Vec<usize>,
    /// Their eigenvalues d_a and Gu–Eisenstat ẑ_a.
    d_kept: Vec<f64>,
    z_hat: Vec<f64>,
    /// Secular root j: λ_j = d_kept[origin[j]] + mu[j], eigenvector scale 1/‖w_j‖.
    origin: Vec<usize>,
    mu: Vec<f64>,
    inv_norm: Vec<f64>,
    /// At ascending position p: `Ok(j)` for secular root j, `Err(s)` for the deflated position s.
    order: Vec<std::result::Result<usize, usize>>,
}

impl SymmetricEvd {
    /// Decomposes the symmetric matrix whose lower triangle is `a` (the strict upper triangle is
    /// not read), in `a`'s own storage, by the given reduction to tridiagonal form.
    pub fn with_reduction(mut a: Mat<f64>, reduction: Reduction, par: Par) -> Result<SymmetricEvd> {
        let n = a.nrows();
        if a.ncols() != n {
            return Err(Error::Mismatch(format!(
                "eigendecomposition of a {}×{} matrix",
                n,
                a.ncols()
            )));
        }
        let Tridiagonal {
            factors: h,
            band,
            diag,
            sub,
        } = match reduction {
            Reduction::TwoStage => {
                let mut h = Mat::<f64>::zeros(BAND, n.saturating_sub(BAND));
                band::reduce_to_band(a.as_mut(), h.as_mut(), BAND, par);
                let (diag, sub) = chase::band_to_tridiagonal(a.as_mut(), BAND);
                Tridiagonal {
                    factors: h,
                    band: BAND,
                    diag,
                    sub,
                }
            }
            Reduction::OneStage => one_stage(a.as_mut(), par)?,
        };
        let n1 = n / 2;
        // Tear T at row n1: β couples the halves and leaves |β| on each touching diagonal.
        let beta = if n1 > 0 { sub[n1 - 1] } else { 0.0 };
        let mut d1 = diag[..n1].to_vec();
        let mut d2 = diag[n1..].to_vec();
        if n1 > 0 {
            d1[n1 - 1] -= beta.abs();
            d2[0] -= beta.abs();
        }
        let e1 = &sub[..n1.saturating_sub(1)];
        let e2 = if n1 > 0 { &sub[n1..] } else { &sub[..] };
        let mut mem = MemBuffer::new(half_evd_scratch(n - n1, par));
        let (l1, z1) = half_evd(&d1, e1, par, MemStack::new(&mut mem))?;
        let (l2, z2) = half_evd(&d2, e2, par, MemStack::new(&mut mem))?;
        drop(mem);
        // z = P diag(Z₁, Z₂)ᵀ v / √2 and ρ = 2|β|.
        let mut src: Vec<usize> = (0..n).collect();
        let lam = |i: usize| if i < n1 { l1[i] } else { l2[i - n1] };
        src.sort_by(|&i, &j| lam(i).total_cmp(&lam(j)).then(i.cmp(&j)));
        let d: Vec<f64> = src.iter().map(|&i| lam(i)).collect();
        let sign = if beta < 0.0 { -1.0 } else { 1.0 };
        let mut z: Vec<f64> = src
            .iter()
            .map(|&i| {
                std::f64::consts::FRAC_1_SQRT_2
                    * if i < n1 {
                        z1[(n1 - 1, i)]
                    } else {
                        sign * z2[(0, i - n1)]
                    }
            })
            .collect();
        let rho = 2.0 * beta.abs();
        let mut evd = SymmetricEvd {
            reflectors: a,
            factors: h,
            band,
            eigenvalues: Vec::new(),
            n1,
            z1,
            z2,
            src,
            rotations: Vec::new(),
            kept: Vec::new(),
            d_kept: Vec::new(),
            z_hat: Vec::new(),
            origin: Vec::new(),
            mu: Vec::new(),
            inv_norm: Vec::new(),
            order: Vec::new(),
        };
        evd.deflate(&d, &mut z, rho);
        evd.solve_secular(&z, rho);
        evd.sort(&d);
        Ok(evd)
    }

    /// Deflation (LAPACK `dlaed2`): with tol = 8ε·max(max|d|, max|z|), a coordinate with
    /// ρ|z_s| ≤ tol, or the earlier of two whose d differ by at most tol once a rotation has moved
    /// all of their z into the later one, keeps its d and its unit eigenvector.
    fn deflate(&mut self, d: &[f64], z: &mut [f64], rho: f64) {
        let eps = f64::EPSILON;
        let dmax = d.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let zmax = z.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let tol = 8.0 * eps * dmax.max(zmax);
        let mut pending: Option<usize> = None;
        for s in 0..d.len() {
            if rho * z[s].abs() <= tol {
                continue;
            }
            match pending {
                Some(p) if d[s] - d[p] <= tol => {
                    let r = z[p].hypot(z[s]);
                    let (c, sn) = (z[s] / r, z[p] / r);
                    z[p] = 0.0;
                    z[s] = r;
                    self.rotations.push((p, s, c, sn));
                }
                Some(p) => self.kept.push(p),
                None => {}
            }
            pending = Some(s);
        }
        if let Some(p) = pending {
            self.kept.push(p);
        }
        self.d_kept = self.kept.iter().map(|&s| d[s]).collect();
    }

    /// The k secular roots (in parallel, each on its own), then ẑ and the eigenvector norms.
    fn solve_secular(&mut self, z: &[f64], rho: f64) {
        use rayon::prelude::*;
        let k = self.kept.len();
        let zk: Vec<f64> = self.kept.iter().map(|&s| z[s]).collect();
        let d = &self.d_kept;
        let roots: Vec<(usize, f64)> = (0..k)
            .into_par_iter()
            .map(|j| secular_root(d, &zk, rho, j))
            .collect();
        self.origin = roots.iter().map(|r| r.0).collect();
        self.mu = roots.iter().map(|r| r.1).collect();
        let (origin, mu) = (&self.origin, &self.mu);
        // λ_b − d_a, from the root's own origin so that small differences stay accurate.
        let gap = |b: usize, a: usize| (d[origin[b]] - d[a]) + mu[b];
        self.z_hat = (0..k)
            .into_par_iter()
            .map(|a| {
                let mut prod = gap(a, a) / rho;
                for b in (0..k).filter(|&b| b != a) {
                    prod *= gap(b, a) / (d[b] - d[a]);
                }
                prod.abs().sqrt().copysign(zk[a])
            })
            .collect();
        let z_hat = &self.z_hat;
        self.inv_norm = (0..k)
            .into_par_iter()
            .map(|j| {
                let sq: f64 = (0..k).map(|a| (z_hat[a] / gap(j, a)).powi(2)).sum();
                sq.sqrt().recip()
            })
            .collect();
    }

    /// Merges the secular roots and the deflated eigenvalues (both ascending) into one order.
    fn sort(&mut self, d: &[f64]) {
        let k = self.kept.len();
        let mut is_kept = vec![false; d.len()];
        for &s in &self.kept {
            is_kept[s] = true;
        }
        let deflated: Vec<usize> = (0..d.len()).filter(|&s| !is_kept[s]).collect();
        let root = |j: usize| self.d_kept[self.origin[j]] + self.mu[j];
        let (mut j, mut i) = (0, 0);
        while j < k || i < deflated.len() {
            if i == deflated.len() || (j < k && root(j) <= d[deflated[i]]) {
                self.order.push(Ok(j));
                self.eigenvalues.push(root(j));
                j += 1;
            } else {
                self.order.push(Err(deflated[i]));
                self.eigenvalues.push(d[deflated[i]]);
                i += 1;
            }
        }
    }

    /// Dimension N.
    pub fn dim(&self) -> usize {
        self.eigenvalues.len()
    }

    /// Eigenvalues, ascending.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// Columns j0..j1 of W̃'s secular block (k × (j1 − j0)).
    fn secular_block(&self, j0: usize, j1: usize) -> Mat<f64> {
        let (d, z) = (&self.d_kept, &self.z_hat);
        Mat::from_fn(d.len(), j1 - j0, |a, c| {
            let j = j0 + c;
            z[a] / ((d[a] - d[self.origin[j]]) - self.mu[j]) * self.inv_norm[j]
        })
    }

    /// V G for an N×T block G (rows in the order of [`SymmetricEvd::eigenvalues`]).
    pub fn apply_v(&self, g: MatRef<'_, f64>, par: Par) -> Mat<f64> {
        let mut out = self.apply_z(g, par);
        self.apply_q(out.as_mut(), false, par);
        out
    }

    /// Qᵀ V G: every factor of V but the reduction's Q.
    fn apply_z(&self, g: MatRef<'_, f64>, par: Par) -> Mat<f64> {
        let (n, t) = (self.dim(), g.ncols());
        assert_eq!(g.nrows(), n, "V G needs N rows");
        let k = self.kept.len();
        // y = W̃ G, in sorted positions.
        let mut y = Mat::<f64>::zeros(n, t);
        let mut roots = Mat::<f64>::zeros(k, t);
        for (p, slot) in self.order.iter().enumerate() {
            match *slot {
                Ok(j) => roots.row_mut(j).copy_from(g.row(p)),
                Err(s) => y.row_mut(s).copy_from(g.row(p)),
            }
        }
        let mut yk = Mat::<f64>::zeros(k, t);
        for j0 in (0..k).step_by(SECULAR_BLOCK) {
            let j1 = (j0 + SECULAR_BLOCK).min(k);
            let w = self.secular_block(j0, j1);
            let rhs = roots.as_ref().subrows(j0, j1 - j0);
            matmul(yk.as_mut(), Accum::Add, w.as_ref(), rhs, 1.0, par);
        }
        for (a, &s) in self.kept.iter().enumerate() {
            y.row_mut(s).copy_from(yk.row(a));
        }
        // y = Rᵀ y.
        for &(p, q, c, sn) in self.rotations.iter().rev() {
            for col in 0..t {
                let (yp, yq) = (y[(p, col)], y[(q, col)]);
                y[(p, col)] = c * yp + sn * yq;
                y[(q, col)] = c * yq - sn * yp;
            }
        }
        // diag(Z₁, Z₂) Pᵀ y, then Q.
        let n1 = self.n1;
        let mut halves = Mat::<f64>::zeros(n, t);
        for (s, &i) in self.src.iter().enumerate() {
            halves.row_mut(i).copy_from(y.row(s));
        }
        drop(y);
        let mut out = Mat::<f64>::zeros(n, t);
        let (mut top, mut bottom) = out.as_mut().split_at_row_mut(n1);
        let (h1, h2) = halves.as_ref().split_at_row(n1);
        matmul(top.rb_mut(), Accum::Replace, self.z1.as_ref(), h1, 1.0, par);
        matmul(
            bottom.rb_mut(),
            Accum::Replace,
            self.z2.as_ref(),
            h2,
            1.0,
            par,
        );
        drop(halves);
        out
    }

    /// Vᵀ B for an N×T block B (rows of the result in the order of
    /// [`SymmetricEvd::eigenvalues`]).
    pub fn apply_vt(&self, b: MatRef<'_, f64>, par: Par) -> Mat<f64> {
        let (n, t) = (self.dim(), b.ncols());
        assert_eq!(b.nrows(), n, "Vᵀ B needs N rows");
        let k = self.kept.len();
        let mut qb = b.to_owned();
        self.apply_q(qb.as_mut(), true, par);
        let n1 = self.n1;
        let mut halves = Mat::<f64>::zeros(n, t);
        {
            let (mut top, mut bottom) = halves.as_mut().split_at_row_mut(n1);
            let (b1, b2) = qb.as_ref().split_at_row(n1);
            let (z1, z2) = (self.z1.transpose(), self.z2.transpose());
            matmul(top.rb_mut(), Accum::Replace, z1, b1, 1.0, par);
            matmul(bottom.rb_mut(), Accum::Replace, z2, b2, 1.0, par);
        }
        drop(qb);
        let mut y = Mat::<f64>::zeros(n, t);
        for (s, &i) in self.src.iter().enumerate() {
            y.row_mut(s).copy_from(halves.row(i));
        }
        drop(halves);
        // y = R y.
        for &(p, q, c, sn) in &self.rotations {
            for col in 0..t {
                let (yp, yq) = (y[(p, col)], y[(q, col)]);
                y[(p, col)] = c * yp - sn * yq;
                y[(q, col)] = sn * yp + c * yq;
            }
        }
        let yk = Mat::<f64>::from_fn(k, t, |a, col| y[(self.kept[a], col)]);
        let mut roots = Mat::<f64>::zeros(k, t);
        for j0 in (0..k).step_by(SECULAR_BLOCK) {
            let j1 = (j0 + SECULAR_BLOCK).min(k);
            let w = self.secular_block(j0, j1);
            let dst = roots.as_mut().subrows_mut(j0, j1 - j0);
            matmul(dst, Accum::Replace, w.transpose(), yk.as_ref(), 1.0, par);
        }
        let mut g = Mat::<f64>::zeros(n, t);
        for (p, slot) in self.order.iter().enumerate() {
            match *slot {
                Ok(j) => g.row_mut(p).copy_from(roots.row(j)),
                Err(s) => g.row_mut(p).copy_from(y.row(s)),
            }
        }
        g
    }

    /// The N×N eigenvectors V: Z = Qᵀ V formed [`SECULAR_BLOCK`] columns at a time as Z·I, then
    /// Q applied to all N columns at once (the widest products).
    pub fn eigenvectors(&self, par: Par) -> Mat<f64> {
        let n = self.dim();
        let mut v = Mat::<f64>::zeros(n, n);
        for j0 in (0..n).step_by(SECULAR_BLOCK) {
            let b = SECULAR_BLOCK.min(n - j0);
            let id = Mat::<f64>::from_fn(n, b, |i, c| if i == j0 + c { 1.0 } else { 0.0 });
            v.as_mut()
                .subcols_mut(j0, b)
                .copy_from(self.apply_z(id.as_ref(), par));
        }
        self.apply_q(v.as_mut(), false, par);
        v
    }

    /// B ← Q B (or Qᵀ B) for Q = Q₁ Q₂, the reflectors of the two stages of the
    /// tridiagonalisation (Q₁ acts on rows b.., Q₂ on rows 1..).
    fn apply_q(&self, mut b: MatMut<'_, f64>, transpose: bool, par: Par) {
        let (n, band) = (self.dim(), self.band);
        let two_stage = band > 1;
        if !transpose && two_stage {
            chase::apply_q2(self.reflectors.as_ref(), band, b.rb_mut(), false, par);
        }
        if n > band {
            let m = n - band;
            let basis = self.reflectors.as_ref().submatrix(band, 0, m, m);
            let h = self.factors.as_ref();
            let mut mem = MemBuffer::new(
                householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(
                    m,
                    h.nrows(),
                    b.ncols(),
                ),
            );
            let stack = MemStack::new(&mut mem);
            let rows = b.rb_mut().subrows_mut(band, m);
            if transpose {
                householder::apply_block_householder_sequence_transpose_on_the_left_in_place_with_conj(
                    basis,
                    h,
                    Conj::No,
                    rows,
                    par,
                    stack,
                );
            } else {
                householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
                    basis,
                    h,
                    Conj::No,
                    rows,
                    par,
                    stack,
                );
            }
        }
        if transpose && two_stage {
            chase::apply_q2(self.reflectors.as_ref(), band, b, true, par);
        }
    }
}

/// Exact scratch of faer's `tridiagonal_self_adjoint_evd` with eigenvectors for an n×n real
/// tridiagonal matrix: its two real copies of the diagonals and, from faer's recursion threshold
/// (128) on, the divide-and-conquer's four index arrays, six vectors and two n×n matrices.
fn half_evd_scratch(n: usize, par: Par) -> StackReq {
    let _ = par;
    let base = StackReq::all_of(&[
        temp_mat_scratch::<f64>(n, 1).array(2),
        temp_mat_scratch::<f64>(n, 0).array(1),
    ]);
    if n < 128 {
        return base;
    }
    StackReq::all_of(&[
        base,
        StackReq::new::<usize>(n).array(4),
        temp_mat_scratch::<f64>(n, 1).array(6),
        temp_mat_scratch::<f64>(n, n).array(2),
    ])
}

/// Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal matrix with diagonal
/// `d` and subdiagonal `e`, by faer's divide-and-conquer.
fn half_evd(d: &[f64], e: &[f64], par: Par, stack: &mut MemStack) -> Result<(Vec<f64>, Mat<f64>)> {
    let n = d.len();
    let mut u = Mat::<f64>::zeros(n, n);
    if n == 0 {
        return Ok((Vec::new(), u));
    }
    let (mut diag, mut sub) = (Diag::<f64>::zeros(n), Diag::<f64>::zeros(n));
    for i in 0..n {
        diag[i] = d[i];
        if i < e.len() {
            sub[i] = e[i];
        }
    }
    let mut s = Diag::<f64>::zeros(n);
    tridiagonal_self_adjoint_evd(
        diag.as_ref(),
        sub.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        par,
        stack,
        Default::default(),
    )
    .map_err(|e: EvdError| failed(format!("the tridiagonal eigensolver failed: {e:?}")))?;
    Ok(((0..n).map(|i| s[i]).collect(), u))
}

/// Root j of the secular equation f(λ) = 1 + ρ Σ_a z_a²/(d_a − λ) = 0 (d ascending and distinct,
/// ρ > 0, z ≠ 0): λ_j ∈ (d_j, d_{j+1}), or (d_{k−1}, d_{k−1} + ρ zᵀz] for the last. Returned as
/// (origin K, μ) with λ_j = d_K + μ, K the nearer pole, so that d_a − λ_j = (d_a − d_K) − μ keeps
/// its relative accuracy. Each step fits f near μ by c + s/(δ_j − x) + S/(δ_{j+1} − x) matching
/// the value and the derivatives of the poles left and right of the root (LAPACK `dlaed4`'s
/// "middle way") and takes the model's root, or bisects when that leaves the bracket.
fn secular_root(d: &[f64], z: &[f64], rho: f64, j: usize) -> (usize, f64) {
    let k = d.len();
    let last = j + 1 == k;
    // Sums over the poles left (a ≤ j) and right (a > j) of the root, and their derivatives.
    let sums = |range: std::ops::Range<usize>, origin: usize, mu: f64| {
        let (mut s, mut ds) = (0.0, 0.0);
        for a in range {
            let inv = 1.0 / ((d[a] - d[origin]) - mu);
            let t = z[a] * z[a] * inv;
            s += t;
            ds += t * inv;
        }
        (rho * s, rho * ds)
    };
    let f_at = |origin: usize, mu: f64| -> (f64, f64, f64, f64) {
        let (psi, dpsi) = sums(0..j + 1, origin, mu);
        let (phi, dphi) = sums(j + 1..k, origin, mu);
        (psi, dpsi, phi, dphi)
    };
    let (origin, mut lo, mut hi) = if last {
        let zz: f64 = z.iter().map(|x| x * x).sum();
        (j, 0.0, rho * zz)
    } else {
        let half = 0.5 * (d[j + 1] - d[j]);
        let (psi, _, phi, _) = f_at(j, half);
        if 1.0 + psi + phi >= 0.0 {
            (j, 0.0, half)
        } else {
            (j + 1, -half, 0.0)
        }
    };
    let left = d[j] - d[origin];
    let right = if last {
        f64::INFINITY
    } else {
        d[j + 1] - d[origin]
    };
    let mut mu = 0.5 * (lo + hi);
    for _ in 0..SECULAR_MAX_ITER {
        let (psi, dpsi, phi, dphi) = f_at(origin, mu);
        let f = 1.0 + psi + phi;
        if f == 0.0 {
            break;
        }
        if f < 0.0 {
            lo = mu;
        } else {
            hi = mu;
        }
        let sl = dpsi * (left - mu) * (left - mu);
        let next = if last {
            let c = f - sl / (left - mu);
            if c > 0.0 { left + sl / c } else { f64::NAN }
        } else {
            let sr = dphi * (right - mu) * (right - mu);
            let c = f - sl / (left - mu) - sr / (right - mu);
            // c (l − x)(r − x) + sl (r − x) + sr (l − x) = 0; one of l, r is 0.
            let qa = c;
            let qb = -(c * (left + right) + sl + sr);
            let qc = c * left * right + sl * right + sr * left;
            quadratic_root_in(qa, qb, qc, lo, hi, mu)
        };
        let next = if next > lo && next < hi {
            next
        } else {
            0.5 * (lo + hi)
        };
        if (next - mu).abs() <= 2.0 * f64::EPSILON * mu.abs().max(f64::MIN_POSITIVE)
            || hi - lo <= 2.0 * f64::EPSILON * lo.abs().max(hi.abs())
        {
            mu = next;
            break;
        }
        mu = next;
    }
    (origin, mu)
}

/// The root of a x² + b x + c in the open interval (lo, hi) nearest to `near` (NaN if none),
/// computed without cancellation.
fn quadratic_root_in(a: f64, b: f64, c: f64, lo: f64, hi: f64, near: f64) -> f64 {
    let inside = |x: f64| x > lo && x < hi;
    let candidates: [f64; 2] = if a == 0.0 {
        [-c / b, f64::NAN]
    } else {
        let disc = (b * b - 4.0 * a * c).max(0.0).sqrt();
        let q = -0.5 * (b + disc.copysign(b));
        [q / a, if q != 0.0 { c / q } else { f64::NAN }]
    };
    candidates
        .into_iter()
        .filter(|&x| inside(x))
        .min_by(|x, y| (x - near).abs().total_cmp(&(y - near).abs()))
        .unwrap_or(f64::NAN)
}

/// The upper triangular S of H₀ ⋯ H_{k−1} = I − V S Vᵀ, H_i = I − t_i v_i v_iᵀ (LAPACK `dlarft`):
/// S_ii = t_i, S[..i, i] = −t_i S[..i, ..i] V[.., ..i]ᵀ v_i.
fn compact_wy(v: &Mat<f64>, t: &[f64]) -> Mat<f64> {
    let k = t.len();
    let mut vtv = Mat::<f64>::zeros(k, k);
    crate::linalg::matmul(vtv.as_mut(), Accum::Replace, v.transpose(), v.as_ref(), 1.0);
    let mut s = Mat::<f64>::zeros(k, k);
    for c in 0..k {
        s[(c, c)] = t[c];
        for i in 0..c {
            let acc: f64 = (i..c).map(|l| s[(i, l)] * vtv[(l, c)]).sum();
            s[(i, c)] = -t[c] * acc;
        }
    }
    s
}

/// A reduction's result besides the reflectors in A's storage: their block factors, the band
/// width after the first stage, and T's diagonal and sub-diagonal.
struct Tridiagonal {
    factors: Mat<f64>,
    band: usize,
    diag: Vec<f64>,
    sub: Vec<f64>,
}

/// The one-stage reduction T = Qᵀ A Q ([`direct`]): Q's Householder vectors below the sub-diagonal
/// of `a` (basis A[1.., ..N − 1]) and their block factors, returned with T's diagonal and
/// sub-diagonal. The block size depends on N only.
fn one_stage(mut a: MatMut<'_, f64>, par: Par) -> Result<Tridiagonal> {
    let n = a.nrows();
    let bs = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(n, n).max(1);
    let mut h = Mat::<f64>::zeros(bs, n.saturating_sub(1));
    if n > 1 {
        direct::tridiagonalize(a.rb_mut(), h.as_mut(), par)?;
    }
    let diag = (0..n).map(|i| a[(i, i)]).collect();
    let sub = (0..n.saturating_sub(1)).map(|i| a[(i + 1, i)]).collect();
    Ok(Tridiagonal {
        factors: h,
        band: 1,
        diag,
        sub,
    })
}

fn failed(message: String) -> Error {
    Error::numerical("eigendecomposition", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;
    use rand_distr::{Distribution, StandardNormal};

    /// A seeded symmetric matrix with standard normal entries (indefinite), upper triangle filled
    /// with junk to check that it is never read.
    pub(super) fn random_symmetric(n: usize, seed: u64) -> (Mat<f64>, Mat<f64>) {
        let mut r = rng::stream(seed, rng::domain::OTHER, 0);
        let g = Mat::<f64>::from_fn(n, n, |_, _| StandardNormal.sample(&mut r));
        let a = Mat::from_fn(n, n, |i, j| g[(i.max(j), i.min(j))]);
        let lower = Mat::from_fn(n, n, |i, j| if i >= j { a[(i, j)] } else { f64::NAN });
        (a, lower)
    }

    /// Sizes around the panel width, the parallel threshold of the product and faer's Householder
    /// block sizes (8 up to N = 32, 32 up to 128, 48 up to 512, 64 up to 1024).
    const SIZES: [usize; 14] = [1, 2, 3, 5, 31, 32, 33, 65, 129, 255, 257, 300, 513, 1100];

    /// ‖AV − VΛ‖/‖A‖ and ‖VᵀV − I‖, with V formed through [`SymmetricEvd::eigenvectors`], for
    /// both reductions.
    fn check_residual(a: &Mat<f64>, lower: &Mat<f64>, par: Par, what: &str) {
        for reduction in [Reduction::TwoStage, Reduction::OneStage] {
            check_residual_of(a, lower, par, reduction, &format!("{what} {reduction:?}"));
        }
    }

    fn check_residual_of(
        a: &Mat<f64>,
        lower: &Mat<f64>,
        par: Par,
        reduction: Reduction,
        what: &str,
    ) {
        let n = a.nrows();
        let evd = SymmetricEvd::with_reduction(lower.clone(), reduction, par).unwrap();
        let lam = evd.eigenvalues();
        assert!(lam.windows(2).all(|w| w[0] <= w[1]), "{what}: ascending");
        let v = evd.eigenvectors(par);
        let scaled = Mat::from_fn(n, n, |i, j| v[(i, j)] * lam[j]);
        let residual = (a * &v - scaled).norm_l2() / a.norm_l2().max(f64::MIN_POSITIVE);
        let orthogonality = (v.transpose() * &v - Mat::<f64>::identity(n, n)).norm_l2();
        let eps = f64::EPSILON;
        assert!(
            residual <= 4.0 * n as f64 * eps,
            "{what}: ‖AV − VΛ‖/‖A‖ = {residual:e}"
        );
        assert!(
            orthogonality <= 4.0 * n as f64 * eps,
            "{what}: ‖VᵀV − I‖ = {orthogonality:e}"
        );
    }

    #[test]
    fn residual_and_orthogonality_at_round_off_level() {
        for (seed, &n) in SIZES.iter().enumerate() {
            let (a, lower) = random_symmetric(n, seed as u64);
            for par in [Par::Seq, Par::rayon(2)] {
                check_residual(&a, &lower, par, &format!("N={n} {par:?}"));
            }
        }
    }

    /// Q diag(λ) Qᵀ with Q a random orthogonal matrix and λ taking only a few values (each many
    /// times), so that most of the last merge deflates through rotations; and the identity, where
    /// the halves do not couple at all.
    #[test]
    fn clustered_and_decoupled_spectra() {
        for &(n, values) in &[(40usize, 3usize), (300, 4), (600, 50)] {
            let (g, _) = random_symmetric(n, 500 + n as u64);
            let q = g.qr().compute_Q();
            let lam: Vec<f64> = (0..n).map(|i| 1.0 + (i % values) as f64).collect();
            let scaled = Mat::from_fn(n, n, |i, j| q[(i, j)] * lam[j]);
            let a = &scaled * q.transpose();
            let a = Mat::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]));
            check_residual(&a, &a, Par::rayon(2), &format!("clustered N={n}"));
            let evd =
                SymmetricEvd::with_reduction(a.clone(), Reduction::TwoStage, Par::Seq).unwrap();
            let mut sorted = lam.clone();
            sorted.sort_by(f64::total_cmp);
            for (x, y) in evd.eigenvalues().iter().zip(&sorted) {
                assert!(
                    (x - y).abs() <= 1e-12 * n as f64,
                    "clustered N={n}: {x} vs {y}"
                );
            }
        }
        for n in [1, 2, 7, 300] {
            let a = Mat::<f64>::from_fn(n, n, |i, j| if i == j { 2.0 } else { 0.0 });
            check_residual(&a, &a, Par::Seq, &format!("2·I N={n}"));
        }
    }

    /// V g(Λ) Vᵀ B through the factors equals U g(S) Uᵀ B with faer's own `self_adjoint_eigen`
    /// (an independent eigensolver), for g(λ) = 1/(1 + λ²); and Vᵀ(V G) = G.
    #[test]
    fn applied_factors_match_faers_explicit_eigenvectors() {
        for (seed, &n) in [5usize, 33, 129, 300, 1100].iter().enumerate() {
            let (a, lower) = random_symmetric(n, 300 + seed as u64);
            let b = Mat::<f64>::from_fn(n, 3, |i, j| ((i * 7 + j * 3) as f64).sin());
            let reference = a.self_adjoint_eigen(faer::Side::Lower).unwrap();
            let (u, s) = (reference.U(), reference.S());
            let mut utb = u.transpose() * &b;
            for i in 0..n {
                let g = 1.0 / (1.0 + s[i] * s[i]);
                for j in 0..3 {
                    utb[(i, j)] *= g;
                }
            }
            let expected = u * &utb;
            let cases = [Par::Seq, Par::rayon(2)]
                .into_iter()
                .flat_map(|p| [(p, Reduction::TwoStage), (p, Reduction::OneStage)]);
            for (par, reduction) in cases {
                let evd = SymmetricEvd::with_reduction(lower.clone(), reduction, par).unwrap();
                let mut c = evd.apply_vt(b.as_ref(), par);
                for i in 0..n {
                    let l = evd.eigenvalues()[i];
                    assert!(
                        (l - s[i]).abs() <= 1e-12 * (n as f64) * a.norm_l2(),
                        "N={n} λ_{i}"
                    );
                    for j in 0..3 {
                        c[(i, j)] *= 1.0 / (1.0 + l * l);
                    }
                }
                let got = evd.apply_v(c.as_ref(), par);
                let err = (&got - &expected).norm_l2() / b.norm_l2();
                assert!(err <= 1e-11, "N={n} {par:?}: {err:e}");
                let back = evd.apply_vt(evd.apply_v(b.as_ref(), par).as_ref(), par);
                let err = (&back - &b).norm_l2() / b.norm_l2();
                assert!(
                    err <= 4.0 * n as f64 * f64::EPSILON,
                    "N={n}: VᵀV G − G {err:e}"
                );
            }
        }
    }

    /// Q₁ formed from the stored reflectors with faer's block Householder product, an N×N matrix.
    fn q1_explicit(reduced: &Mat<f64>, h: &Mat<f64>) -> Mat<f64> {
        let n = reduced.nrows();
        let mut q = Mat::<f64>::identity(n, n);
        if n > BAND {
            let m = n - BAND;
            let mut mem = MemBuffer::new(
                householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(
                    m,
                    h.nrows(),
                    n,
                ),
            );
            householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
                reduced.as_ref().submatrix(BAND, 0, m, m),
                h.as_ref(),
                Conj::No,
                q.as_mut().subrows_mut(BAND, m),
                Par::Seq,
                MemStack::new(&mut mem),
            );
        }
        q
    }

    /// First stage: Q₁ᵀ A Q₁, multiplied out densely with Q₁ built by faer's Householder products
    /// from the stored reflectors, is zero outside the band and equals the band left in A's
    /// storage; Q₁ is orthogonal. Sizes around the band width and the product tile (256).
    #[test]
    fn band_stage_is_an_orthogonal_similarity_to_a_band_matrix() {
        for (seed, &n) in [1usize, 5, 32, 33, 64, 65, 97, 300].iter().enumerate() {
            let (a, lower) = random_symmetric(n, 700 + seed as u64);
            for par in [Par::Seq, Par::rayon(2)] {
                let mut w = lower.clone();
                let mut h = Mat::<f64>::zeros(BAND, n.saturating_sub(BAND));
                band::reduce_to_band(w.as_mut(), h.as_mut(), BAND, par);
                let q = q1_explicit(&w, &h);
                let b = q.transpose() * &a * &q;
                let scale = a.norm_l2();
                let tol = 8.0 * n as f64 * f64::EPSILON * scale;
                for k in 0..n {
                    for i in k..n {
                        let expected = if i - k <= BAND { w[(i, k)] } else { 0.0 };
                        assert!(
                            (b[(i, k)] - expected).abs() <= tol,
                            "N={n} {par:?}: B[{i},{k}] = {} vs {expected}",
                            b[(i, k)]
                        );
                    }
                }
                let orth = (q.transpose() * &q - Mat::<f64>::identity(n, n)).norm_l2();
                assert!(
                    orth <= 8.0 * n as f64 * f64::EPSILON,
                    "N={n}: ‖Q₁ᵀQ₁ − I‖ {orth:e}"
                );
            }
        }
    }

    /// A random symmetric band matrix with `b` sub-diagonals (lower triangle; the strict upper
    /// triangle NaN, which the chase overwrites with its reflectors).
    fn random_band(n: usize, b: usize, seed: u64) -> (Mat<f64>, Mat<f64>) {
        let (g, _) = random_symmetric(n, seed);
        let dense = Mat::from_fn(
            n,
            n,
            |i, j| if i.abs_diff(j) <= b { g[(i, j)] } else { 0.0 },
        );
        let lower = Mat::from_fn(n, n, |i, j| if i >= j { dense[(i, j)] } else { f64::NAN });
        (dense, lower)
    }

    /// Second stage: with Q₂ formed by applying the stored reflectors to the identity, Q₂ᵀ B Q₂ is
    /// the tridiagonal matrix returned, and Q₂ is orthogonal (Q₂ᵀ applied to Q₂ gives I).
    #[test]
    fn chase_is_an_orthogonal_similarity_to_the_tridiagonal_matrix() {
        for &(n, b) in &[(3usize, 1usize), (10, 3), (50, 4), (129, BAND), (300, BAND)] {
            let (dense, lower) = random_band(n, b, 900 + n as u64);
            let mut w = lower.clone();
            let (d, e) = chase::band_to_tridiagonal(w.as_mut(), b);
            let mut q = Mat::<f64>::identity(n, n);
            chase::apply_q2(w.as_ref(), b, q.as_mut(), false, Par::rayon(2));
            let t = q.transpose() * &dense * &q;
            let tol = 8.0 * n as f64 * f64::EPSILON * dense.norm_l2();
            for k in 0..n {
                for i in k..n {
                    let expected = match i - k {
                        0 => d[k],
                        1 => e[k],
                        _ => 0.0,
                    };
                    assert!(
                        (t[(i, k)] - expected).abs() <= tol,
                        "N={n} b={b}: T[{i},{k}] = {} vs {expected}",
                        t[(i, k)]
                    );
                }
            }
            let mut back = q.clone();
            chase::apply_q2(w.as_ref(), b, back.as_mut(), true, Par::Seq);
            let err = (back - Mat::<f64>::identity(n, n)).norm_l2();
            assert!(
                err <= 8.0 * n as f64 * f64::EPSILON,
                "N={n} b={b}: ‖Q₂ᵀQ₂ − I‖ {err:e}"
            );
        }
    }

    /// The AVX2 build of the chase and of the reflector product and the portable ones (library
    /// `fma`) give the same bits.
    #[test]
    fn chase_builds_agree_bit_for_bit() {
        for &n in &[5usize, 70, 257] {
            let (_, lower) = random_band(n, BAND.min(n - 1), 1100 + n as u64);
            let (mut dispatched, mut portable) = (lower.clone(), lower.clone());
            let t1 = chase::band_to_tridiagonal(dispatched.as_mut(), BAND.min(n - 1));
            let t2 = chase::chase_portable(portable.as_mut(), BAND.min(n - 1));
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&t1.0), bits(&t2.0), "N={n}: diagonal");
            assert_eq!(bits(&t1.1), bits(&t2.1), "N={n}: sub-diagonal");
            let g = Mat::<f64>::from_fn(n, 3, |i, j| ((i * 5 + j) as f64).cos());
            let (mut x1, mut x2) = (g.clone(), g.clone());
            chase::apply_q2(
                dispatched.as_ref(),
                BAND.min(n - 1),
                x1.as_mut(),
                true,
                Par::Seq,
            );
            chase::apply_portable(portable.as_ref(), BAND.min(n - 1), x2.as_mut(), true);
            for j in 0..3 {
                for i in 0..n {
                    assert_eq!(x1[(i, j)].to_bits(), x2[(i, j)].to_bits(), "N={n}: Q₂ᵀ G");
                }
            }
        }
    }
}
