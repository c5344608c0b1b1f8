//! First stage of the tridiagonalisation: a dense symmetric matrix to band form (LAPACK
//! `dsytrd_sy2sb`), B = Q₁ᵀ A Q₁ with b sub-diagonals (docs/theory.md §8.3).
//!
//! For the panel of columns j..j+b, the block below the band, A[j+b.., j..j+b], is factored by a
//! QR decomposition, P = Q R with Q = H₀ ⋯ H_{b−1} = I − V S Vᵀ (V unit lower trapezoidal, S upper
//! triangular). R stays in the band and the trailing matrix A₂₂ = A[j+b.., j+b..] becomes
//!
//! ```text
//! Qᵀ A₂₂ Q = A₂₂ − V Yᵀ − Y Vᵀ,   X = A₂₂ V S,   Y = X − ½ V (Sᵀ Vᵀ X),
//! ```
//!
//! a symmetric product and a symmetric rank-2b update of the lower triangle: matrix-matrix
//! products throughout (4N³/3 flops), where the one-stage reduction spends half of its flops in a
//! matrix-vector product per column that streams the whole trailing matrix from memory.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::linalg::qr::no_pivoting::factor::{qr_in_place, qr_in_place_scratch};
use faer::prelude::*;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use crate::linalg;

/// Reduces the symmetric matrix whose lower triangle is `a` (the strict upper triangle is neither
/// read nor written) to band form with `b` sub-diagonals, in place.
///
/// On return the band (A[i, k] for k ≤ i ≤ k + b) holds B; below it, column k holds the
/// essential part of Householder vector k (unit entry at row k + b implied), in faer's layout of
/// a block Householder sequence with basis A[b.., ..N − b] and block factors `h`
/// (b × (N − b), one block per panel), so that faer's block Householder products apply Q₁.
pub(super) fn reduce_to_band(mut a: MatMut<'_, f64>, mut h: MatMut<'_, f64>, b: usize, par: Par) {
    let n = a.nrows();
    debug_assert!(a.ncols() == n && b > 0 && h.nrows() == b && h.ncols() == n.saturating_sub(b));
    let mut mem = MemBuffer::new(qr_in_place_scratch::<f64>(n, b, b, par, Default::default()));
    let mut j = 0;
    while j + b < n {
        let r = n - j - b;
        let kp = r.min(b);
        qr_in_place(
            a.rb_mut().submatrix_mut(j + b, j, r, b),
            h.rb_mut().submatrix_mut(0, j, kp, kp),
            par,
            MemStack::new(&mut mem),
            Default::default(),
        );
        let panel = a.rb().submatrix(j + b, j, r, kp);
        let v = Mat::<f64>::from_fn(r, kp, |i, k| match i.cmp(&k) {
            std::cmp::Ordering::Less => 0.0,
            std::cmp::Ordering::Equal => 1.0,
            std::cmp::Ordering::Greater => panel[(i, k)],
        });
        // faer's factor has τ_k on its diagonal (H_k = I − v vᵀ/τ_k, τ = ∞ for H_k = I).
        let t: Vec<f64> = (0..kp).map(|k| h[(k, j + k)].recip()).collect();
        let s = super::compact_wy(&v, &t);
        let mut a22 = a.rb_mut().submatrix_mut(j + b, j + b, r, r);
        // X = A₂₂ V S.
        let mut av = Mat::<f64>::zeros(r, kp);
        symmetric_product(a22.rb(), v.as_ref(), av.as_mut());
        let mut x = Mat::<f64>::zeros(r, kp);
        linalg::matmul(x.as_mut(), Accum::Replace, av.as_ref(), s.as_ref(), 1.0);
        drop(av);
        // M = Sᵀ (Vᵀ X), Y = X − ½ V M.
        let mut vtx = Mat::<f64>::zeros(kp, kp);
        linalg::matmul(vtx.as_mut(), Accum::Replace, v.transpose(), x.as_ref(), 1.0);
        let mut m = Mat::<f64>::zeros(kp, kp);
        linalg::matmul(m.as_mut(), Accum::Replace, s.transpose(), vtx.as_ref(), 1.0);
        linalg::matmul(x.as_mut(), Accum::Add, v.as_ref(), m.as_ref(), -0.5);
        // A₂₂ −= [V Y][Y V]ᵀ, lower triangle only.
        let lhs = Mat::<f64>::from_fn(
            r,
            2 * kp,
            |i, c| {
                if c < kp { v[(i, c)] } else { x[(i, c - kp)] }
            },
        );
        let rhs = Mat::<f64>::from_fn(
            r,
            2 * kp,
            |i, c| {
                if c < kp { x[(i, c)] } else { v[(i, c - kp)] }
            },
        );
        linalg::lower_update(a22.rb_mut(), lhs.as_ref(), rhs.as_ref(), -1.0);
        j += b;
    }
}

/// `out = A V` for the symmetric A whose lower triangle is `a` (r × r), in parallel over fixed row
/// tiles of [`linalg::TILE`]: rows I of A V are A[I, ..I] V[..I] (below the diagonal), the
/// diagonal block (its lower triangle and the transpose of its strict lower triangle) times V[I],
/// and A[I⁺.., I]ᵀ V[I⁺..] (the part right of the diagonal, read from the column below it). Each
/// tile is a sequence of sequential products, so the bits do not depend on the thread count.
fn symmetric_product(a: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>) {
    use rayon::prelude::*;
    let r = a.nrows();
    let parallel = r.saturating_mul(r).saturating_mul(v.ncols()) >= linalg::PAR_WORK;
    out.par_row_chunks_mut(linalg::TILE)
        .enumerate()
        .with_min_len(if parallel { 1 } else { usize::MAX })
        .for_each(|(t, mut rows)| {
            let (i0, h) = (t * linalg::TILE, rows.nrows());
            let i1 = i0 + h;
            let diag = a.submatrix(i0, i0, h, h);
            let seq = Par::Seq;
            triangular::matmul(
                rows.rb_mut(),
                BlockStructure::Rectangular,
                Accum::Replace,
                diag,
                BlockStructure::TriangularLower,
                v.subrows(i0, h),
                BlockStructure::Rectangular,
                1.0,
                seq,
            );
            triangular::matmul(
                rows.rb_mut(),
                BlockStructure::Rectangular,
                Accum::Add,
                diag.transpose(),
                BlockStructure::StrictTriangularUpper,
                v.subrows(i0, h),
                BlockStructure::Rectangular,
                1.0,
                seq,
            );
            if i0 > 0 {
                let left = a.submatrix(i0, 0, h, i0);
                matmul(rows.rb_mut(), Accum::Add, left, v.subrows(0, i0), 1.0, seq);
            }
            if i1 < r {
                let below = a.submatrix(i1, i0, r - i1, h).transpose();
                matmul(
                    rows.rb_mut(),
                    Accum::Add,
                    below,
                    v.subrows(i1, r - i1),
                    1.0,
                    seq,
                );
            }
        });
}
