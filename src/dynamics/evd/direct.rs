//! The one-stage tridiagonalisation T = Qᵀ A Q (LAPACK `dsytrd`/`dlatrd`), in faer's layout, for
//! eigendecompositions that form V (docs/theory.md §8.3, [`super::Reduction::OneStage`]).
//!
//! Panels of [`PANEL`] columns: each column needs one symmetric matrix-vector product with the
//! whole trailing matrix ([`symv`], each stored entry read once, in two parts of equal area on two
//! threads), then the panel updates the trailing matrix with one symmetric rank-2·[`PANEL`]
//! product. Its reflectors form one block Householder sequence, which is what makes applying Q to
//! N columns cheap.

use faer::linalg::householder;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::prelude::*;
use faer::{Accum, Col, Mat, MatMut, MatRef, Par};

use super::failed;
use crate::error::{Error, Result};

/// Columns per panel of the tridiagonalisation (LAPACK's default for `dsytrd`).
const PANEL: usize = 32;

/// Below this many trailing rows the symmetric matrix-vector product runs on one thread.
const SYMV_PAR_MIN: usize = 256;

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
    use super::super::tests::random_symmetric;
    use super::*;

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
        for (seed, &n) in [1usize, 2, 3, 5, 31, 32, 33, 65, 255, 257, 300, 513]
            .iter()
            .enumerate()
        {
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
