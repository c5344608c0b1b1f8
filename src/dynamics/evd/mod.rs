//! Symmetric eigendecomposition A = V Λ Vᵀ from faer's building blocks, with a blocked
//! tridiagonalisation in place of faer's unblocked one.
//!
//! faer's `self_adjoint_evd` reduces A to tridiagonal form one column at a time: every step applies
//! the previous step's rank-2 update to the whole trailing lower triangle and multiplies it by the
//! next Householder vector in the same pass, so the trailing matrix is read and written once per
//! column. Beyond the last-level cache that is memory-bound: on the 2-core development machine, at
//! N = 4000 (NTK Gram, 2 threads), its phases took 5.2–5.6 s (tridiagonalisation), 1.2 s
//! (tridiagonal divide-and-conquer) and 1.4 s (back-transformation). [`tridiagonalize`] is LAPACK's
//! `dsytrd`/`dlatrd` scheme instead: within a panel of [`PANEL`] columns the trailing matrix is
//! only read (one symmetric matrix-vector product per column, [`symv`], which touches each stored
//! entry once), and the panel's rank-2k update is applied afterwards as one triangular matrix
//! product. That phase took 3.0–3.3 s (LAPACK's `dsytrd` through SciPy: 2.3–2.8 s), three quarters
//! of it in [`symv`], which streams the matrix at about 22 GB/s once it no longer fits in cache.
//! The Householder vectors are stored and blocked exactly as faer's own tridiagonalisation stores
//! them, so faer's block Householder products apply them. [`SymmetricEvd`] then solves the two
//! halves of the tridiagonal matrix with faer's divide-and-conquer and does the last merge itself,
//! keeping V = Q·diag(Z₁, Z₂)·(merge) as factors that are applied to blocks instead of multiplied
//! out: the 2N³ back-transformation and the N³ product of the last merge are left out, and the
//! memory besides A's own storage is 8N² bytes instead of 3·8N² (eigenvectors and faer's two N×N
//! scratch matrices).
//!
//! Every split of the work between threads is a fixed function of the size, so the bits depend on
//! `par` (always [`super::spectrum::EVD_THREADS`] threads here) and on nothing else.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::evd::{EvdError, tridiagonal_self_adjoint_evd};
use faer::linalg::householder;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::linalg::qr::no_pivoting::factor::recommended_block_size;
use faer::linalg::temp_mat_scratch;
use faer::prelude::*;
use faer::{Accum, Col, Conj, Mat, MatMut, MatRef, Par};

use crate::error::{Error, Result};

/// Columns per panel of the tridiagonalisation (LAPACK's default for `dsytrd`).
const PANEL: usize = 32;

/// Below this many trailing rows the symmetric matrix-vector product runs on one thread.
const SYMV_PAR_MIN: usize = 256;

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
/// * Q: the Householder reflectors of the tridiagonalisation T = Qᵀ A Q, kept in A's own storage
///   (faer's layout, see [`tridiagonalize`]);
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
    /// The tridiagonalised matrix: T's diagonals and the Householder vectors (faer's layout).
    reflectors: Mat<f64>,
    /// Block triangular factors of the reflectors.
    factors: Mat<f64>,
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
    /// not read), in `a`'s own storage.
    pub fn new(mut a: Mat<f64>, par: Par) -> Result<SymmetricEvd> {
        let n = a.nrows();
        if a.ncols() != n {
            return Err(Error::Mismatch(format!(
                "eigendecomposition of a {}×{} matrix",
                n,
                a.ncols()
            )));
        }
        let bs = recommended_block_size::<f64>(n, n).max(1);
        let mut h = Mat::<f64>::zeros(bs, n.saturating_sub(1));
        if n > 1 {
            tridiagonalize(a.as_mut(), h.as_mut(), par)?;
        }
        let diag: Vec<f64> = (0..n).map(|i| a[(i, i)]).collect();
        let sub: Vec<f64> = (0..n.saturating_sub(1)).map(|i| a[(i + 1, i)]).collect();
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
        self.apply_q(out.as_mut(), false, par);
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

    /// The N×N eigenvectors V, formed [`SECULAR_BLOCK`] columns at a time as V·I.
    pub fn eigenvectors(&self, par: Par) -> Mat<f64> {
        let n = self.dim();
        let mut v = Mat::<f64>::zeros(n, n);
        for j0 in (0..n).step_by(SECULAR_BLOCK) {
            let b = SECULAR_BLOCK.min(n - j0);
            let id = Mat::<f64>::from_fn(n, b, |i, c| if i == j0 + c { 1.0 } else { 0.0 });
            v.as_mut()
                .subcols_mut(j0, b)
                .copy_from(self.apply_v(id.as_ref(), par));
        }
        v
    }

    /// B ← Q B (or Qᵀ B), Q the reflectors of the tridiagonalisation (they act on rows 1..N).
    fn apply_q(&self, b: MatMut<'_, f64>, transpose: bool, par: Par) {
        let n = self.dim();
        if n < 2 {
            return;
        }
        let basis = self.reflectors.as_ref().submatrix(1, 0, n - 1, n - 1);
        let h = self.factors.as_ref();
        let mut mem = MemBuffer::new(
            householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(
                n - 1,
                h.nrows(),
                b.ncols(),
            ),
        );
        let stack = MemStack::new(&mut mem);
        let rows = b.subrows_mut(1, n - 1);
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

/// Reduces the symmetric matrix whose lower triangle is `a` to tridiagonal form T = Qᴴ A Q, in
/// faer's layout: T's diagonal and subdiagonal overwrite A's, Householder vector k (unit first
/// entry implied) lies below the subdiagonal in column k, and `h` (b × (n − 1)) receives the
/// block triangular factors for blocks of b = `h.nrows()` reflectors.
///
/// Panel step for column c (faer's reflectors are I − v vᵀ/τ; write t = 1/τ): with V, W the panel's
/// earlier vectors, the current matrix is A − V Wᵀ − W Vᵀ. Column c is brought up to date, its
/// reflector v is formed below the diagonal, and w = t·(A − V Wᵀ − W Vᵀ)v − (t²/2)(vᵀAv)v joins W,
/// so that H A H = A − v wᵀ − w vᵀ. After the panel the trailing lower triangle takes
/// A −= [V W][W V]ᵀ.
pub fn tridiagonalize(mut a: MatMut<'_, f64>, mut h: MatMut<'_, f64>, par: Par) -> Result<()> {
    let n = a.nrows();
    if a.ncols() != n || n == 0 || h.ncols() != n - 1 {
        return Err(Error::Mismatch(format!(
            "tridiagonalisation of a {}×{} matrix with {} Householder factors",
            n,
            a.ncols(),
            h.ncols()
        )));
    }
    // The panel's reflectors V and the matching W, rows c + 1.. of column j for step j.
    let mut vs = Mat::<f64>::zeros(n, PANEL);
    let mut ws = Mat::<f64>::zeros(n, PANEL);
    let mut tmp = Col::<f64>::zeros(PANEL);
    let mut k0 = 0;
    while k0 + 1 < n {
        let b = PANEL.min(n - 1 - k0);
        for j in 0..b {
            let c = k0 + j;
            let (vp, mut v) = vs.as_mut().subcols_mut(0, j + 1).split_at_col_mut(j);
            let (wp, mut w) = ws.as_mut().subcols_mut(0, j + 1).split_at_col_mut(j);
            let (vp, wp) = (vp.rb(), wp.rb());
            // Column c up to date: A[c.., c] −= V[c..] W[c]ᵀ + W[c..] V[c]ᵀ.
            if j > 0 {
                let mut col = a.rb_mut().col_mut(c).subrows_mut(c, n - c);
                for (x, y) in [(vp, wp), (wp, vp)] {
                    matmul(
                        col.rb_mut().as_mat_mut(),
                        Accum::Add,
                        x.subrows(c, n - c),
                        y.row(c).transpose().as_mat(),
                        -1.0,
                        Par::Seq,
                    );
                }
            }
            // Reflector from A[c + 1.., c]; faer's τ is ∞ (t = 0) when there is nothing to zero.
            let m = n - c - 1;
            let (mut head, tail) = a
                .rb_mut()
                .col_mut(c)
                .subrows_mut(c + 1, m)
                .split_at_row_mut(1);
            let info = householder::make_householder_in_place(&mut head[0], tail);
            h[(0, c)] = info.tau;
            let t = info.tau.recip();
            let mut v = v.rb_mut().col_mut(0).subrows_mut(c + 1, m);
            v[0] = 1.0;
            v.rb_mut()
                .subrows_mut(1, m - 1)
                .copy_from(a.rb().col(c).subrows(c + 2, m - 1));
            // w = t·(A v − V (Wᵀv) − W (Vᵀv)), then w −= (t/2)(wᵀv)·v, on rows c + 1...
            let mut w = w.rb_mut().col_mut(0).subrows_mut(c + 1, m);
            symv(
                a.rb().submatrix(c + 1, c + 1, m, m),
                v.rb(),
                w.rb_mut(),
                par,
            )
            .ok_or_else(|| failed("a column of the trailing matrix is not contiguous".into()))?;
            if j > 0 {
                for (x, y) in [(wp, vp), (vp, wp)] {
                    let mut tmp = tmp.as_mut().subrows_mut(0, j);
                    matmul(
                        tmp.rb_mut().as_mat_mut(),
                        Accum::Replace,
                        x.subrows(c + 1, m).transpose(),
                        v.rb().as_mat(),
                        1.0,
                        Par::Seq,
                    );
                    matmul(
                        w.rb_mut().as_mat_mut(),
                        Accum::Add,
                        y.subrows(c + 1, m),
                        tmp.rb().as_mat(),
                        -1.0,
                        Par::Seq,
                    );
                }
            }
            let mut wtv = 0.0;
            for i in 0..m {
                w[i] *= t;
                wtv += w[i] * v[i];
            }
            let alpha = -0.5 * t * wtv;
            for i in 0..m {
                w[i] += alpha * v[i];
            }
        }
        // Trailing update A[e.., e..] −= [V W][W V]ᵀ, lower triangle only (e = end of the panel).
        let e = k0 + b;
        let (vt, wt) = (
            vs.as_ref().submatrix(e, 0, n - e, b),
            ws.as_ref().submatrix(e, 0, n - e, b),
        );
        let lhs = Mat::<f64>::from_fn(n - e, 2 * b, |i, j| {
            if j < b { vt[(i, j)] } else { wt[(i, j - b)] }
        });
        let rhs = Mat::<f64>::from_fn(n - e, 2 * b, |i, j| {
            if j < b { wt[(i, j)] } else { vt[(i, j - b)] }
        });
        triangular::matmul(
            a.rb_mut().submatrix_mut(e, e, n - e, n - e),
            BlockStructure::TriangularLower,
            Accum::Add,
            lhs.as_ref(),
            BlockStructure::Rectangular,
            rhs.as_ref().transpose(),
            BlockStructure::Rectangular,
            -1.0,
            par,
        );
        k0 = e;
    }
    // Block triangular factors, exactly as faer's `tridiag_in_place` builds them.
    let n = n - 1;
    let bs = h.nrows();
    let basis = a.rb().submatrix(1, 0, n, n);
    let mut j = 0;
    while j < n {
        let b = bs.min(n - j);
        let mut hb = h.rb_mut().submatrix_mut(0, j, b, b);
        for k in 0..b {
            hb[(k, k)] = hb[(0, k)];
        }
        householder::upgrade_householder_factor(hb, basis.submatrix(j, j, n - j, b), b, 1, par);
        j += b;
    }
    Ok(())
}

fn failed(message: String) -> Error {
    Error::numerical("eigendecomposition", message)
}

/// y = A x for the symmetric A whose lower triangle is `a`, each stored entry read once. On two or
/// more threads the columns are split in two parts of equal triangle area, at a point fixed by the
/// size alone, and the two partial products are added. `None` when x, y or a column of `a` is not
/// contiguous (never for columns of an owned matrix).
pub fn symv(
    a: MatRef<'_, f64>,
    x: faer::ColRef<'_, f64>,
    mut y: faer::ColMut<'_, f64>,
    par: Par,
) -> Option<()> {
    let m = a.nrows();
    let x = x.try_as_col_major()?.as_slice();
    let y = y.rb_mut().try_as_col_major_mut()?.as_slice_mut();
    let cols: Vec<&[f64]> = (0..m)
        .map(|j| a.col(j).try_as_col_major().map(|c| c.as_slice()))
        .collect::<Option<_>>()?;
    y.fill(0.0);
    if par.degree() < 2 || m < SYMV_PAR_MIN {
        symv_columns(&cols, x, y, 0, m);
        return Some(());
    }
    let split = (m as f64 * (1.0 - std::f64::consts::FRAC_1_SQRT_2)) as usize;
    let mut y1 = vec![0.0; m - split];
    let y0 = &mut *y;
    // The trailing block A[split.., split..] as its own matrix: its columns start at row `split`.
    let tail: Vec<&[f64]> = cols[split..].iter().map(|c| &c[split..]).collect();
    rayon::join(
        || symv_columns(&cols, x, y0, 0, split),
        || symv_columns(&tail, &x[split..], &mut y1, 0, m - split),
    );
    for (yi, zi) in y[split..].iter_mut().zip(&y1) {
        *yi += zi;
    }
    Some(())
}

/// Adds columns `j0..j1` of the symmetric product A x to `y` (column j of A's lower triangle in
/// `cols[j]`, all of length m).
fn symv_columns(cols: &[&[f64]], x: &[f64], y: &mut [f64], j0: usize, j1: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function was compiled for.
            unsafe { symv_columns_avx2(cols, x, y, j0, j1) };
            return;
        }
    }
    symv_columns_impl(cols, x, y, j0, j1)
}

/// A named AVX2 + FMA function rather than [`crate::linalg::vectorized`]: passed as arguments, the
/// slices keep their no-alias guarantees and the main loop compiles to 256-bit FMAs (8 per pass);
/// through a closure's captures it compiled to half as many.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn symv_columns_avx2(cols: &[&[f64]], x: &[f64], y: &mut [f64], j0: usize, j1: usize) {
    symv_columns_impl(cols, x, y, j0, j1)
}

/// Columns of the product handled per pass over y.
const SYMV_COLUMNS: usize = 4;

/// [`SYMV_COLUMNS`] columns at a time: the small diagonal block entry by entry, then the rows below
/// it in one pass that updates y and accumulates each column's dot product in four lanes. Every
/// a·b + c is an explicit `mul_add` (one rounding): an FMA instruction in the AVX2 build, the
/// correctly rounded library `fma` elsewhere, so every build gives the same bits.
#[inline(always)]
fn symv_columns_impl(a: &[&[f64]], x: &[f64], y: &mut [f64], j0: usize, j1: usize) {
    const Q: usize = SYMV_COLUMNS;
    let m = x.len();
    let col = |j: usize| a[j];
    let mut j = j0;
    while j < j1 {
        // A last pass with q < Q columns repeats a column with a zero coefficient.
        let q = Q.min(j1 - j);
        let cols: [&[f64]; Q] = std::array::from_fn(|c| col(j + c.min(q - 1)));
        let xc: [f64; Q] = std::array::from_fn(|c| if c < q { x[j + c] } else { 0.0 });
        for c in 0..q {
            y[j + c] = cols[c][j + c].mul_add(xc[c], y[j + c]);
            for i in j + c + 1..j + q {
                y[i] = cols[c][i].mul_add(xc[c], y[i]);
                y[j + c] = cols[c][i].mul_add(x[i], y[j + c]);
            }
        }
        let start = j + q;
        let (xt, yt) = (&x[start..m], &mut y[start..m]);
        let ct: [&[f64]; Q] = std::array::from_fn(|c| &cols[c][start..m]);
        let c4: [&[[f64; 4]]; Q] = std::array::from_fn(|c| ct[c].as_chunks::<4>().0);
        let mut dots = [[0.0f64; 4]; Q];
        let rows4 = xt.len() / 4 * 4;
        let (y4, x4) = (yt.as_chunks_mut::<4>().0, xt.as_chunks::<4>().0);
        for (k, (yv, xv)) in y4.iter_mut().zip(x4).enumerate() {
            for c in 0..Q {
                let av = &c4[c][k];
                for l in 0..4 {
                    yv[l] = av[l].mul_add(xc[c], yv[l]);
                    dots[c][l] = av[l].mul_add(xv[l], dots[c][l]);
                }
            }
        }
        for i in rows4..xt.len() {
            for c in 0..Q {
                yt[i] = ct[c][i].mul_add(xc[c], yt[i]);
                dots[c][0] = ct[c][i].mul_add(xt[i], dots[c][0]);
            }
        }
        for c in 0..q {
            y[j + c] += (dots[c][0] + dots[c][1]) + (dots[c][2] + dots[c][3]);
        }
        j += q;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;
    use rand_distr::{Distribution, StandardNormal};

    /// A seeded symmetric matrix with standard normal entries (indefinite), upper triangle filled
    /// with junk to check that it is never read.
    fn random_symmetric(n: usize, seed: u64) -> (Mat<f64>, Mat<f64>) {
        let mut r = rng::stream(seed, rng::domain::OTHER, 0);
        let g = Mat::<f64>::from_fn(n, n, |_, _| StandardNormal.sample(&mut r));
        let a = Mat::from_fn(n, n, |i, j| g[(i.max(j), i.min(j))]);
        let lower = Mat::from_fn(n, n, |i, j| if i >= j { a[(i, j)] } else { f64::NAN });
        (a, lower)
    }

    /// Sizes around the panel width, the parallel threshold of the product and faer's Householder
    /// block sizes (8 up to N = 32, 32 up to 128, 48 up to 512, 64 up to 1024).
    const SIZES: [usize; 14] = [1, 2, 3, 5, 31, 32, 33, 65, 129, 255, 257, 300, 513, 1100];

    /// ‖AV − VΛ‖/‖A‖ and ‖VᵀV − I‖, with V formed through [`SymmetricEvd::eigenvectors`].
    fn check_residual(a: &Mat<f64>, lower: &Mat<f64>, par: Par, what: &str) {
        let n = a.nrows();
        let evd = SymmetricEvd::new(lower.clone(), par).unwrap();
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
            let evd = SymmetricEvd::new(a.clone(), Par::Seq).unwrap();
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
            for par in [Par::Seq, Par::rayon(2)] {
                let evd = SymmetricEvd::new(lower.clone(), par).unwrap();
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

    /// The AVX2 build of the product and the portable one (library `fma`) give the same bits.
    #[test]
    fn symv_builds_agree_bit_for_bit() {
        for &n in &[5, 33, 257] {
            let (_, lower) = random_symmetric(n, 200 + n as u64);
            let cols: Vec<&[f64]> = (0..n)
                .map(|j| lower.col(j).try_as_col_major().unwrap().as_slice())
                .collect();
            let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).cos()).collect();
            let (mut dispatched, mut portable) = (vec![0.0; n], vec![0.0; n]);
            symv_columns(&cols, &x, &mut dispatched, 0, n);
            symv_columns_impl(&cols, &x, &mut portable, 0, n);
            for i in 0..n {
                assert_eq!(
                    dispatched[i].to_bits(),
                    portable[i].to_bits(),
                    "N={n}, row {i}"
                );
            }
        }
    }

    #[test]
    fn symv_matches_the_dense_product() {
        for (seed, &n) in SIZES.iter().enumerate() {
            let (a, lower) = random_symmetric(n, 100 + seed as u64);
            let x = Col::<f64>::from_fn(n, |i| (i as f64 + 0.5).sin());
            let dense = &a * &x;
            for par in [Par::Seq, Par::rayon(2)] {
                let mut y = Col::<f64>::from_fn(n, |_| f64::NAN);
                symv(lower.as_ref(), x.as_ref(), y.as_mut(), par).unwrap();
                let err = (&y - &dense).norm_l2() / (a.norm_l2() * x.norm_l2());
                assert!(err <= 4.0 * n as f64 * f64::EPSILON, "N={n}: {err:e}");
            }
        }
    }
}
