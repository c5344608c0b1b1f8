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
//! The rest is faer's: the Householder vectors are stored and blocked exactly as its own
//! tridiagonalisation stores them, so its divide-and-conquer and its block back-transformation
//! apply unchanged.
//!
//! Every split of the work between threads is a fixed function of the size, so the bits depend on
//! `par` (always [`super::spectrum::EVD_THREADS`] threads here) and on nothing else.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::evd::{
    ComputeEigenvectors, EvdError, self_adjoint_evd_scratch, tridiagonal_self_adjoint_evd,
};
use faer::linalg::householder;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::linalg::qr::no_pivoting::factor::recommended_block_size;
use faer::prelude::*;
use faer::{Accum, Col, Conj, Mat, MatMut, MatRef, Par};

use crate::error::{Error, Result};

/// Columns per panel of the tridiagonalisation (LAPACK's default for `dsytrd`).
const PANEL: usize = 32;

/// Below this many trailing rows the symmetric matrix-vector product runs on one thread.
const SYMV_PAR_MIN: usize = 256;

/// Eigenvalues (ascending) and orthonormal eigenvectors of the symmetric matrix whose lower
/// triangle is `a` (the strict upper triangle is not read).
pub fn self_adjoint_evd(a: MatRef<'_, f64>, par: Par) -> Result<(Vec<f64>, Mat<f64>)> {
    let n = a.nrows();
    let mut u = Mat::<f64>::zeros(n, n);
    if n == 0 {
        return Ok((Vec::new(), u));
    }
    let mut t = Mat::<f64>::zeros(n, n);
    t.copy_from_triangular_lower(a);
    let bs = recommended_block_size::<f64>(n, n);
    let mut h = Mat::<f64>::zeros(bs, n - 1);
    tridiagonalize(t.as_mut(), h.as_mut(), par)?;

    let mut diag = Diag::<f64>::zeros(n);
    let mut sub = Diag::<f64>::zeros(n);
    for i in 0..n {
        diag[i] = t[(i, i)];
        if i + 1 < n {
            sub[i] = t[(i + 1, i)];
        }
    }
    let mut s = Diag::<f64>::zeros(n);
    // The full EVD's scratch covers the tridiagonal EVD and the back-transformation.
    let mut mem = MemBuffer::new(StackReq::any_of(&[self_adjoint_evd_scratch::<f64>(
        n,
        ComputeEigenvectors::Yes,
        par,
        Default::default(),
    )]));
    let stack = MemStack::new(&mut mem);
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
    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
        t.as_ref().submatrix(1, 0, n - 1, n - 1),
        h.as_ref(),
        Conj::No,
        u.as_mut().subrows_mut(1, n - 1),
        par,
        stack,
    );
    Ok(((0..n).map(|i| s[i]).collect(), u))
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

    #[test]
    fn residual_and_orthogonality_at_round_off_level() {
        for (seed, &n) in SIZES.iter().enumerate() {
            let (a, lower) = random_symmetric(n, seed as u64);
            for par in [Par::Seq, Par::rayon(2)] {
                let (lam, v) = self_adjoint_evd(lower.as_ref(), par).unwrap();
                assert!(lam.windows(2).all(|w| w[0] <= w[1]), "N={n}: ascending");
                let scaled = Mat::from_fn(n, n, |i, j| v[(i, j)] * lam[j]);
                let residual = (&a * &v - scaled).norm_l2() / a.norm_l2();
                let orthogonality = (v.transpose() * &v - Mat::<f64>::identity(n, n)).norm_l2();
                let eps = f64::EPSILON;
                assert!(
                    residual <= 4.0 * n as f64 * eps,
                    "N={n}: ‖AV − VΛ‖/‖A‖ = {residual:e}"
                );
                assert!(
                    orthogonality <= 4.0 * n as f64 * eps,
                    "N={n}: ‖VᵀV − I‖ = {orthogonality:e}"
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
