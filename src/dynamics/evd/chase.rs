//! Second stage of the tridiagonalisation: a symmetric band matrix to tridiagonal form by bulge
//! chasing (LAPACK `dsytrd_sb2st`), T = Q₂ᵀ B Q₂ (docs/theory.md §8.3).
//!
//! Sweep s clears column s below its sub-diagonal with one reflector H on rows s + 1..s + b,
//! applied from both sides. Multiplying from the right fills the b × b block below the band (the
//! bulge); a reflector on the bulge's first column clears it, is applied to the rest of its rows
//! and to the next diagonal block from both sides, and pushes the bulge b rows further down, until
//! it falls off the end. Every step touches a few b × b blocks of the band (about 12b² flops), so
//! the band, stored compactly (2b entries per column), stays in cache: about 6bN² flops for all.
//!
//! Each reflector H = I − τ v vᵀ (v₀ = 1, LAPACK's convention) is kept for Q₂ = H₁ H₂ ⋯ in
//! generation order. Sweep s produces reflectors on consecutive row blocks that partition rows
//! s + 1..N, so its N − 1 − s numbers (τ and the essential part of v for each) fill exactly the
//! strict upper triangle of column N − 1 − s of the input matrix, which the lower-triangle
//! algorithms leave free.

use faer::prelude::*;
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// Columns of a block that one task applies the reflectors to (a fixed split: each column's
/// arithmetic is its own, so the bits do not depend on the split either).
const APPLY_COLUMNS: usize = 8;

/// Blocks at least this wide go through [`apply_grouped`], in parallel column blocks of this width.
const GROUPED_COLUMNS: usize = 64;

/// Sweeps whose reflectors [`apply_grouped`] combines into one block reflector.
const GROUP: usize = 16;

/// Reflector length with a fixed-size fast path in [`apply_sweep`] (the band width the
/// eigendecomposition uses; other lengths take the general loop).
const FAST: usize = 32;

/// Reduces the band matrix B with `b` sub-diagonals held in the lower band of `a` (A[i, k] for
/// k ≤ i ≤ k + b; entries further down are not read) to tridiagonal form. Returns T's diagonal
/// and sub-diagonal; the reflectors go to the strict upper triangle of `a`.
///
///
/// Every a·b + c is an explicit `mul_add` (one rounding): an FMA instruction in the AVX2 build, the
/// correctly rounded library `fma` elsewhere, so every build gives the same bits.
pub(super) fn band_to_tridiagonal(a: MatMut<'_, f64>, b: usize) -> (Vec<f64>, Vec<f64>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function was compiled for.
            return unsafe { chase_avx2(a, b) };
        }
    }
    chase(a, b)
}

/// [`chase`] compiled for AVX2 + FMA (a named function: through a closure the kernels were not
/// compiled with the features).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn chase_avx2(a: MatMut<'_, f64>, b: usize) -> (Vec<f64>, Vec<f64>) {
    chase(a, b)
}

/// The chase without target features (the build every x86_64 CPU runs), for tests.
#[cfg(test)]
pub(super) fn chase_portable(a: MatMut<'_, f64>, b: usize) -> (Vec<f64>, Vec<f64>) {
    chase(a, b)
}

/// The reflector product without target features, for tests.
#[cfg(test)]
pub(super) fn apply_portable(a: MatRef<'_, f64>, b: usize, x: MatMut<'_, f64>, transpose: bool) {
    if a.nrows() >= 3 {
        apply_block::<false>(a, b, x, transpose)
    }
}

#[inline(always)]
fn chase(mut a: MatMut<'_, f64>, b: usize) -> (Vec<f64>, Vec<f64>) {
    let n = a.nrows();
    let ld = 2 * b;
    // Compact band: entry (i, k), 0 ≤ i − k < 2b, at k·ld + (i − k); rows b + 1.. hold bulges.
    let mut ab = vec![0.0; ld * n];
    for k in 0..n {
        for o in 0..=b.min(n - 1 - k) {
            ab[k * ld + o] = a[(k + o, k)];
        }
    }
    let mut v = vec![0.0; b];
    let mut w = vec![0.0; b];
    for s in 0..n.saturating_sub(2) {
        let store = n - 1 - s;
        let mut pos = 0;
        // Step 0: clear column s below row s + 1.
        let (mut j0, mut lj) = (s + 1, b.min(n - 1 - s));
        let mut tau = reflector(&mut ab[s * ld + 1..s * ld + 1 + lj], &mut v[..lj]);
        save(a.rb_mut(), store, &mut pos, tau, &v[..lj]);
        two_sided(&mut ab, ld, j0, &v[..lj], tau, &mut w);
        loop {
            let r0 = j0 + lj;
            if r0 >= n {
                break;
            }
            let lr = b.min(n - r0);
            // The bulge: A[r0.., j0..] ← A[r0.., j0..] H.
            if tau != 0.0 {
                let w = &mut w[..lr];
                w.fill(0.0);
                for (k, &vk) in v[..lj].iter().enumerate() {
                    let at = (j0 + k) * ld + (r0 - j0 - k);
                    for (wi, &x) in w.iter_mut().zip(&ab[at..at + lr]) {
                        *wi = x.mul_add(vk, *wi);
                    }
                }
                for (k, &vk) in v[..lj].iter().enumerate() {
                    let at = (j0 + k) * ld + (r0 - j0 - k);
                    let f = tau * vk;
                    for (x, &wi) in ab[at..at + lr].iter_mut().zip(w.iter()) {
                        *x = (-wi).mul_add(f, *x);
                    }
                }
            }
            // Clear the bulge's first column, apply the reflector to the rest of its rows.
            let at = j0 * ld + (r0 - j0);
            tau = reflector(&mut ab[at..at + lr], &mut v[..lr]);
            if tau != 0.0 {
                for k in 1..lj {
                    let at = (j0 + k) * ld + (r0 - j0 - k);
                    let col = &mut ab[at..at + lr];
                    let dot = dot(col, &v[..lr]);
                    let f = tau * dot;
                    for (x, &vi) in col.iter_mut().zip(&v[..lr]) {
                        *x = (-f).mul_add(vi, *x);
                    }
                }
            }
            save(a.rb_mut(), store, &mut pos, tau, &v[..lr]);
            two_sided(&mut ab, ld, r0, &v[..lr], tau, &mut w);
            (j0, lj) = (r0, lr);
        }
        debug_assert_eq!(pos, store);
    }
    let d = (0..n).map(|k| ab[k * ld]).collect();
    let e = (0..n.saturating_sub(1)).map(|k| ab[k * ld + 1]).collect();
    (d, e)
}

#[inline(always)]
/// LAPACK `dlarfg`: for x = `x` returns τ and sets v (`v[0]` = 1) with (I − τ v vᵀ) x = β e₁,
/// |β| = ‖x‖; x becomes β e₁. τ = 0 (H = I) when x has nothing below its first entry.
fn reflector(x: &mut [f64], v: &mut [f64]) -> f64 {
    let alpha = x[0];
    let tail = x[1..].iter().fold(0.0f64, |m, y| m.max(y.abs()));
    v[0] = 1.0;
    if tail == 0.0 {
        v[1..].fill(0.0);
        return 0.0;
    }
    // ‖x[1..]‖ scaled by its largest entry, so that neither squares overflow nor underflow.
    let norm = tail
        * x[1..]
            .iter()
            .map(|y| (y / tail) * (y / tail))
            .sum::<f64>()
            .sqrt();
    let beta = -alpha.hypot(norm).copysign(alpha);
    let tau = (beta - alpha) / beta;
    let scale = (alpha - beta).recip();
    for (vi, xi) in v[1..].iter_mut().zip(x[1..].iter_mut()) {
        *vi = *xi * scale;
        *xi = 0.0;
    }
    x[0] = beta;
    tau
}

#[inline(always)]
fn dot(x: &[f64], y: &[f64]) -> f64 {
    // Four lanes for instruction-level parallelism; a plain loop, so that it is compiled with the
    // caller's target features.
    let mut acc = [0.0f64; 4];
    let n4 = x.len() / 4 * 4;
    let mut i = 0;
    while i < n4 {
        for l in 0..4 {
            acc[l] = x[i + l].mul_add(y[i + l], acc[l]);
        }
        i += 4;
    }
    while i < x.len() {
        acc[0] = x[i].mul_add(y[i], acc[0]);
        i += 1;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

#[inline(always)]
/// The symmetric block C = A[j0..j0 + L, j0..j0 + L] (lower triangle in the compact band)
/// becomes H C H for H = I − τ v vᵀ (LAPACK `dlarfy`): w = τ C v − (τ²/2)(vᵀ C v) v,
/// C −= v wᵀ + w vᵀ.
fn two_sided(ab: &mut [f64], ld: usize, j0: usize, v: &[f64], tau: f64, w: &mut [f64]) {
    if tau == 0.0 {
        return;
    }
    let l = v.len();
    let w = &mut w[..l];
    w.fill(0.0);
    for k in 0..l {
        let col = &ab[(j0 + k) * ld..(j0 + k) * ld + (l - k)];
        let mut acc = col[0] * v[k];
        for (i, &c) in col.iter().enumerate().skip(1) {
            w[k + i] = c.mul_add(v[k], w[k + i]);
            acc = c.mul_add(v[k + i], acc);
        }
        w[k] += acc;
    }
    for wi in w.iter_mut() {
        *wi *= tau;
    }
    let alpha = -0.5 * tau * dot(w, v);
    for (wi, &vi) in w.iter_mut().zip(v) {
        *wi = alpha.mul_add(vi, *wi);
    }
    for k in 0..l {
        let col = &mut ab[(j0 + k) * ld..(j0 + k) * ld + (l - k)];
        for (i, c) in col.iter_mut().enumerate() {
            *c -= v[k + i] * w[k] + w[k + i] * v[k];
        }
    }
}

#[inline(always)]
/// Appends (τ, v[1..]) to the strict upper triangle of column `store`.
fn save(mut a: MatMut<'_, f64>, store: usize, pos: &mut usize, tau: f64, v: &[f64]) {
    a[(*pos, store)] = tau;
    for (i, &vi) in v.iter().enumerate().skip(1) {
        a[(*pos + i, store)] = vi;
    }
    *pos += v.len();
}

/// B ← Q₂ B (or Q₂ᵀ B) for an N × T block B, with the reflectors that [`band_to_tridiagonal`]
/// stored in `a` for band width `b`. The columns of B are split into fixed blocks of
/// [`APPLY_COLUMNS`] that run in parallel.
pub(super) fn apply_q2(
    a: MatRef<'_, f64>,
    b: usize,
    x: MatMut<'_, f64>,
    transpose: bool,
    par: Par,
) {
    use rayon::prelude::*;
    let n = a.nrows();
    if n < 3 {
        return;
    }
    let run = |block: MatMut<'_, f64>| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU supports the features the function was compiled for.
                unsafe { apply_block_avx2(a, b, block, transpose) };
                return;
            }
        }
        apply_block::<false>(a, b, block, transpose)
    };
    if x.ncols() >= GROUPED_COLUMNS {
        apply_grouped(a, b, x, transpose, par);
    } else if par.degree() < 2 || x.ncols() <= APPLY_COLUMNS {
        run(x);
    } else {
        x.par_col_chunks_mut(APPLY_COLUMNS).for_each(run);
    }
}

/// Q₂ (or Q₂ᵀ) applied to a wide block through block reflectors: the step-t reflectors of
/// [`GROUP`] consecutive sweeps, on rows shifted by one from sweep to sweep, form
/// H_{s₀} ⋯ H_{s₀+g−1} = I − V S Vᵀ (V: (b + g − 1) × g, S from [`super::compact_wy`]), applied as
/// two matrix products per block. The order differs from one reflector after another only where
/// reflectors commute: within a group the steps run from the last to the first (for Qᵀ), and a
/// step-t reflector of a later sweep of the group never shares a row with a step-(t − 1) or
/// earlier reflector of an earlier sweep (its rows start more than b − 1 rows lower). About 1.5×
/// the flops of single reflectors, at matrix-product speed. Columns run in parallel in fixed
/// blocks of [`GROUPED_COLUMNS`].
fn apply_grouped(a: MatRef<'_, f64>, b: usize, mut x: MatMut<'_, f64>, transpose: bool, par: Par) {
    use rayon::prelude::*;
    let n = a.nrows();
    let sweeps = n - 2;
    let groups = sweeps.div_ceil(GROUP);
    for gi in 0..groups {
        let gi = if transpose { gi } else { groups - 1 - gi };
        let s0 = gi * GROUP;
        let g = GROUP.min(sweeps - s0);
        // Step t of sweep s acts on rows s + 1 + t·b.. (every earlier step is b long).
        let steps = (n - 1 - s0).div_ceil(b);
        let blocks: Vec<(usize, Mat<f64>, Mat<f64>)> = (0..steps)
            .map(|t| {
                let row0 = s0 + 1 + t * b;
                let cnt = g.min(n - 1 - s0 - t * b);
                let m = (b + cnt - 1).min(n - row0);
                let mut v = Mat::<f64>::zeros(m, cnt);
                let mut tau = vec![0.0; cnt];
                for i in 0..cnt {
                    let s = s0 + i;
                    let stored = a.col(n - 1 - s);
                    let len = b.min(n - (row0 + i));
                    tau[i] = stored[t * b];
                    v[(i, i)] = 1.0;
                    for k in 1..len {
                        v[(i + k, i)] = stored[t * b + k];
                    }
                }
                let mut s = super::compact_wy(&v, &tau);
                if transpose {
                    s = s.transpose().to_owned();
                }
                (row0, v, s)
            })
            .collect();
        let run = |mut cols: MatMut<'_, f64>| {
            let order: Box<dyn Iterator<Item = usize>> = if transpose {
                Box::new((0..steps).rev())
            } else {
                Box::new(0..steps)
            };
            for t in order {
                let (row0, v, s) = &blocks[t];
                let rows = cols.rb_mut().subrows_mut(*row0, v.nrows());
                let mut w = Mat::<f64>::zeros(v.ncols(), rows.ncols());
                faer::linalg::matmul::matmul(
                    w.as_mut(),
                    Accum::Replace,
                    v.transpose(),
                    rows.rb(),
                    1.0,
                    Par::Seq,
                );
                let mut sw = Mat::<f64>::zeros(v.ncols(), rows.ncols());
                faer::linalg::matmul::matmul(
                    sw.as_mut(),
                    Accum::Replace,
                    s.as_ref(),
                    w.as_ref(),
                    1.0,
                    Par::Seq,
                );
                faer::linalg::matmul::matmul(
                    rows,
                    Accum::Add,
                    v.as_ref(),
                    sw.as_ref(),
                    -1.0,
                    Par::Seq,
                );
            }
        };
        if par.degree() < 2 {
            run(x.rb_mut());
        } else {
            x.rb_mut().par_col_chunks_mut(GROUPED_COLUMNS).for_each(run);
        }
    }
}

/// [`apply_block`] compiled for AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn apply_block_avx2(a: MatRef<'_, f64>, b: usize, x: MatMut<'_, f64>, transpose: bool) {
    apply_block::<true>(a, b, x, transpose)
}

/// Every reflector, in the order of Q₂ (or Q₂ᵀ), applied to the columns of `x`.
#[inline(always)]
fn apply_block<const AVX: bool>(
    a: MatRef<'_, f64>,
    b: usize,
    mut x: MatMut<'_, f64>,
    transpose: bool,
) {
    let mut cols: Vec<&mut [f64]> = x
        .rb_mut()
        .col_iter_mut()
        .map(|c| {
            c.try_as_col_major_mut()
                .expect("owned column")
                .as_slice_mut()
        })
        .collect();
    // Plain loops: an iterator adapter's closure would be compiled without the target features.
    let sweeps = a.nrows() - 2;
    for i in 0..sweeps {
        let s = if transpose { i } else { sweeps - 1 - i };
        apply_sweep::<AVX>(a, b, s, &mut cols);
    }
}

#[inline(always)]
/// Applies the reflectors of sweep `s` (they act on disjoint row blocks, so their order does not
/// matter) to every column in `cols`: y ← y − τ v (vᵀ y) with v = (1, stored essentials).
fn apply_sweep<const AVX: bool>(a: MatRef<'_, f64>, b: usize, s: usize, cols: &mut [&mut [f64]]) {
    let n = a.nrows();
    let store = a.col(n - 1 - s);
    let stored = store.try_as_col_major().expect("owned column").as_slice();
    let (mut r0, mut len) = (s + 1, b.min(n - 1 - s));
    let mut pos = 0;
    while r0 < n {
        let tau = stored[pos];
        if tau != 0.0 && len == FAST {
            // The common full-length reflector with fixed sizes, so that the loops unroll into
            // straight vector code.
            let mut v = [0.0f64; FAST];
            v[0] = 1.0;
            v[1..].copy_from_slice(&stored[pos + 1..pos + FAST]);
            for col in cols.iter_mut() {
                let seg: &mut [f64; FAST] =
                    (&mut col[r0..r0 + FAST]).try_into().expect("FAST rows");
                reflect::<AVX>(seg, &v, tau);
            }
        } else if tau != 0.0 {
            let ess = &stored[pos + 1..pos + len];
            for col in cols.iter_mut() {
                let (head, tail) = col[r0..r0 + len].split_first_mut().expect("len ≥ 1");
                let f = tau * (*head + dot(tail, ess));
                *head -= f;
                for (y, &vi) in tail.iter_mut().zip(ess) {
                    *y = (-f).mul_add(vi, *y);
                }
            }
        }
        pos += len;
        r0 += len;
        len = b.min(n - r0.min(n));
    }
}

/// y ← y − τ v (vᵀ y) for one full-length reflector: vᵀ y in eight lanes (lane 4(k mod 2) + l
/// sums entry 4k + l), added pairwise, then one multiply-add per entry. `AVX` selects the AVX2 + FMA instructions, which
/// do exactly the same roundings as the scalar `mul_add` loop.
#[inline(always)]
fn reflect<const AVX: bool>(y: &mut [f64; FAST], v: &[f64; FAST], tau: f64) {
    #[cfg(target_arch = "x86_64")]
    if AVX {
        // SAFETY: `AVX` is true only under `apply_block_avx2`, which runs on CPUs with AVX2 and FMA.
        unsafe { reflect_avx2(y, v, tau) };
        return;
    }
    let mut acc = [0.0f64; 8];
    for k in 0..FAST / 4 {
        for l in 0..4 {
            let a = 4 * (k % 2) + l;
            acc[a] = y[4 * k + l].mul_add(v[4 * k + l], acc[a]);
        }
    }
    let s: [f64; 4] = std::array::from_fn(|l| acc[l] + acc[4 + l]);
    let f = tau * ((s[0] + s[1]) + (s[2] + s[3]));
    for (yi, &vi) in y.iter_mut().zip(v) {
        *yi = (-f).mul_add(vi, *yi);
    }
}

/// [`reflect`] with AVX2 + FMA intrinsics (the compiler's own vectorisation of the dot product
/// mixed 128-bit halves and shuffles).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn reflect_avx2(y: &mut [f64; FAST], v: &[f64; FAST], tau: f64) {
    use std::arch::x86_64::{
        _mm256_add_pd, _mm256_fmadd_pd, _mm256_fnmadd_pd, _mm256_loadu_pd, _mm256_set1_pd,
        _mm256_setzero_pd, _mm256_storeu_pd,
    };
    // SAFETY: every load and store reads or writes 4 entries at 4k, k < FAST/4, inside the arrays.
    unsafe {
        let mut acc = [_mm256_setzero_pd(); 2];
        for k in 0..FAST / 4 {
            let yk = _mm256_loadu_pd(y.as_ptr().add(4 * k));
            acc[k % 2] = _mm256_fmadd_pd(yk, _mm256_loadu_pd(v.as_ptr().add(4 * k)), acc[k % 2]);
        }
        let mut lanes = [0.0f64; 4];
        _mm256_storeu_pd(lanes.as_mut_ptr(), _mm256_add_pd(acc[0], acc[1]));
        let f = _mm256_set1_pd(tau * ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])));
        for k in 0..FAST / 4 {
            let p = y.as_mut_ptr().add(4 * k);
            let vk = _mm256_loadu_pd(v.as_ptr().add(4 * k));
            _mm256_storeu_pd(p, _mm256_fnmadd_pd(f, vk, _mm256_loadu_pd(p)));
        }
    }
}
