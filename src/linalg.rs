//! Small dense linear-algebra helpers on top of faer shared by the kernel, dynamics and network stages.
//!
//! Every product is cut into output tiles of [`TILE`]×[`TILE`] entries (the last ones smaller) whose
//! boundaries depend only on the matrix sizes. Each tile is one sequential faer GEMM over the whole
//! inner dimension, and the tiles run in parallel. No sum is ever split across threads, so the
//! arithmetic of every entry is a fixed function of the problem size: faer's own parallel
//! matrix-vector product splits the inner dimension into one part per thread, which this layout
//! avoids. Element-wise maps are parallel over fixed column blocks. Every routine here therefore
//! gives the same bits for any `--threads`.

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Column block width for parallel element-wise maps (fixed, so results never depend on threads).
pub const COLUMN_BLOCK: usize = 64;

/// Edge of the output tiles of [`matmul`] and [`lower_product`]. Fixed, so that the tiles, and with
/// them the sequence of operations behind every entry, never depend on the number of threads.
pub const TILE: usize = 256;

/// Products of fewer multiply-adds than this run their tiles one after the other on the calling
/// thread (the same tiles, so the same bits): below it hand-offs cost more than they save. 2¹⁶ is
/// where faer starts to split a matrix-vector product between threads.
pub const PAR_WORK: usize = 1 << 16;

/// Minimum number of items per rayon task: 1 in parallel, everything in one task otherwise.
fn min_len(parallel: bool) -> usize {
    if parallel { 1 } else { usize::MAX }
}

/// `dst ← alpha · lhs · rhs` (`Accum::Replace`) or `dst ← dst + alpha · lhs · rhs` (`Accum::Add`),
/// in parallel over fixed output tiles when the product has at least [`PAR_WORK`] multiply-adds.
pub fn matmul(
    dst: MatMut<'_, f64>,
    accum: Accum,
    lhs: MatRef<'_, f64>,
    rhs: MatRef<'_, f64>,
    alpha: f64,
) {
    let work = dst
        .nrows()
        .saturating_mul(dst.ncols())
        .saturating_mul(lhs.ncols());
    matmul_tiled(dst, accum, lhs, rhs, alpha, work >= PAR_WORK);
}

/// [`matmul`] with the choice between parallel and sequential tiles left to the caller. Both give
/// the same bits.
pub fn matmul_tiled(
    dst: MatMut<'_, f64>,
    accum: Accum,
    lhs: MatRef<'_, f64>,
    rhs: MatRef<'_, f64>,
    alpha: f64,
    parallel: bool,
) {
    assert!(
        dst.nrows() == lhs.nrows() && dst.ncols() == rhs.ncols() && lhs.ncols() == rhs.nrows(),
        "matmul: {}×{} = {}×{} · {}×{}",
        dst.nrows(),
        dst.ncols(),
        lhs.nrows(),
        lhs.ncols(),
        rhs.nrows(),
        rhs.ncols()
    );
    if dst.nrows() == 0 || dst.ncols() == 0 {
        return;
    }
    dst.par_col_chunks_mut(TILE)
        .enumerate()
        .with_min_len(min_len(parallel))
        .for_each(|(bj, cols)| {
            let (j0, w) = (bj * TILE, cols.ncols());
            cols.par_row_chunks_mut(TILE)
                .enumerate()
                .with_min_len(min_len(parallel))
                .for_each(|(bi, tile)| {
                    let (i0, h) = (bi * TILE, tile.nrows());
                    faer::linalg::matmul::matmul(
                        tile,
                        accum,
                        lhs.subrows(i0, h),
                        rhs.subcols(j0, w),
                        alpha,
                        Par::Seq,
                    );
                });
        });
}

/// Runs `f` compiled for AVX-512 or AVX2 + FMA when the CPU has them, so that element-wise loops
/// inlined into it use 512- or 256-bit vectors instead of the baseline's 128-bit ones. Rust never
/// fuses a·b + c into an FMA on its own and vectorising an element-wise loop does not reorder any
/// sum, so every build gives the same bits.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        let avx2_fma = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        if avx2_fma && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the features `avx512` was compiled for.
            return unsafe { avx512(f) };
        }
        if avx2_fma {
            // SAFETY: the CPU supports the features `avx2` was compiled for.
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// Lower triangle (diagonal included) of `alpha · A Bᵀ` where A and B are both N×k; the strict upper
/// triangle is zero. Half the flops of a full product. The tiles are those of [`matmul`] on or below
/// the diagonal; a diagonal tile computes only its own lower triangle.
pub fn lower_product(a: MatRef<'_, f64>, b: MatRef<'_, f64>, alpha: f64) -> Mat<f64> {
    let n = a.nrows();
    let mut out = Mat::<f64>::zeros(n, n);
    lower_tiles(out.as_mut(), Accum::Replace, a, b, alpha);
    out
}

/// `dst += alpha · A Bᵀ` on the lower triangle (diagonal included) of the square `dst`, whose
/// strict upper triangle is neither read nor written: a symmetric rank-k update when B's columns
/// pair up with A's (BLAS `dsyr2k` for A = [V Y], B = [Y V]). Tiles as in [`lower_product`].
pub fn lower_update(dst: MatMut<'_, f64>, a: MatRef<'_, f64>, b: MatRef<'_, f64>, alpha: f64) {
    lower_tiles(dst, Accum::Add, a, b, alpha);
}

/// The tiles on and below the diagonal of `alpha · A Bᵀ`, written into or added to `out`.
fn lower_tiles(
    out: MatMut<'_, f64>,
    accum: Accum,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
) {
    let (n, k) = (a.nrows(), a.ncols());
    assert!(
        b.nrows() == n && b.ncols() == k && out.nrows() == n && out.ncols() == n,
        "lower_product: A is {n}×{k}, B is {}×{}, the result {}×{}",
        b.nrows(),
        b.ncols(),
        out.nrows(),
        out.ncols()
    );
    if n == 0 {
        return;
    }
    let parallel = (n * n / 2).saturating_mul(k) >= PAR_WORK;
    out.par_col_chunks_mut(TILE)
        .enumerate()
        .with_min_len(min_len(parallel))
        .for_each(|(bj, cols)| {
            let (j0, w) = (bj * TILE, cols.ncols());
            let rhs = b.subrows(j0, w).transpose();
            cols.subrows_mut(j0, n - j0)
                .par_row_chunks_mut(TILE)
                .enumerate()
                .with_min_len(min_len(parallel))
                .for_each(|(bi, tile)| {
                    let (i0, h) = (j0 + bi * TILE, tile.nrows());
                    let lhs = a.subrows(i0, h);
                    if bi == 0 {
                        triangular::matmul(
                            tile,
                            BlockStructure::TriangularLower,
                            accum,
                            lhs,
                            BlockStructure::Rectangular,
                            rhs,
                            BlockStructure::Rectangular,
                            alpha,
                            Par::Seq,
                        );
                    } else {
                        faer::linalg::matmul::matmul(tile, accum, lhs, rhs, alpha, Par::Seq);
                    }
                });
        });
}

/// `out ← g(A Aᵀ)` for an N×N `out` and an element-wise g that keeps the matrix symmetric, in one
/// pass over memory: each tile on or below the diagonal (those of [`lower_product`]) is computed by
/// one sequential GEMM, turned into its final values by `finish(tile, i0, j0)` while it is still in
/// cache (a diagonal tile, i0 = j0, needs only its lower triangle, diagonal included), and copied
/// onto its mirror image above the diagonal. Without this fusion the map and the mirror are two more
/// passes over the 8N² bytes, which cost as much as the GEMM at N = 8000.
///
/// Tiles are handed to the threads in column order as they become free; each tile's arithmetic is
/// fixed, so the bits do not depend on the thread count. Column block J (columns J·[`TILE`] onwards)
/// is final once its own tiles and those of row block J to its left are; whenever the final columns
/// form a longer leading run, `ready(c)` is called with its length c (increasing, from one thread at
/// a time), so a caller can stream finished columns to a file while the rest is computed.
pub fn symmetric_tiles(
    out: MatMut<'_, f64>,
    a: MatRef<'_, f64>,
    finish: impl Fn(MatMut<'_, f64>, usize, usize) + Sync,
    ready: impl FnMut(usize) + Send,
) {
    let (n, k) = (a.nrows(), a.ncols());
    assert!(
        out.nrows() == n && out.ncols() == n,
        "symmetric_tiles: A is {n}×{k}, the result {}×{}",
        out.nrows(),
        out.ncols()
    );
    if n == 0 {
        return;
    }
    let blocks = n.div_ceil(TILE);
    let tiles: Vec<(usize, usize)> = (0..blocks)
        .flat_map(|bj| (bj..blocks).map(move |bi| (bi, bj)))
        .collect();
    let (rs, cs) = (out.row_stride(), out.col_stride());
    let base = SharedPtr(out.as_ptr_mut());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let progress = std::sync::Mutex::new(Progress {
        tiles_done: vec![0; blocks],
        final_blocks: 0,
        columns: n,
        ready,
    });
    let worker = |_| {
        let ptr = base;
        loop {
            let t = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&(bi, bj)) = tiles.get(t) else {
                break;
            };
            let (i0, j0) = (bi * TILE, bj * TILE);
            let (h, w) = (TILE.min(n - i0), TILE.min(n - j0));
            // SAFETY: tile (bi, bj) and its mirror image (bj, bi) lie inside `out` and are written
            // by this task only (every tile is handed out once); a diagonal tile is its own mirror.
            let mut tile = unsafe {
                MatMut::from_raw_parts_mut(
                    ptr.0.offset(i0 as isize * rs + j0 as isize * cs),
                    h,
                    w,
                    rs,
                    cs,
                )
            };
            let (lhs, rhs) = (a.subrows(i0, h), a.subrows(j0, w).transpose());
            if bi == bj {
                triangular::matmul(
                    tile.rb_mut(),
                    BlockStructure::TriangularLower,
                    Accum::Replace,
                    lhs,
                    BlockStructure::Rectangular,
                    rhs,
                    BlockStructure::Rectangular,
                    1.0,
                    Par::Seq,
                );
            } else {
                faer::linalg::matmul::matmul(
                    tile.rb_mut(),
                    Accum::Replace,
                    lhs,
                    rhs,
                    1.0,
                    Par::Seq,
                );
            }
            finish(tile.rb_mut(), i0, j0);
            if bi == bj {
                for j in 0..w {
                    for i in j + 1..h {
                        tile[(j, i)] = tile[(i, j)];
                    }
                }
            } else {
                // SAFETY: see above; the mirror image does not overlap the tile (bi ≠ bj).
                let mirror = unsafe {
                    MatMut::from_raw_parts_mut(
                        ptr.0.offset(j0 as isize * rs + i0 as isize * cs),
                        w,
                        h,
                        rs,
                        cs,
                    )
                };
                copy_transposed(tile.as_ref(), mirror);
            }
            let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
            p.tile_done(bi, bj, blocks);
        }
    };
    let parallel = (n * n / 2).saturating_mul(k) >= PAR_WORK;
    let workers = if parallel {
        rayon::current_num_threads().min(tiles.len())
    } else {
        1
    };
    (0..workers).into_par_iter().for_each(worker);
}

/// Which column blocks of [`symmetric_tiles`] are final, and whom to tell.
struct Progress<F> {
    /// Tiles finished per column block: its own tiles and those mirrored into it.
    tiles_done: Vec<usize>,
    /// Length of the leading run of final column blocks.
    final_blocks: usize,
    /// Columns of the matrix (the last block may be narrower than a tile).
    columns: usize,
    ready: F,
}

impl<F: FnMut(usize)> Progress<F> {
    /// Records tile (bi, bj); column block J is final after `blocks` tiles: the blocks − J below it
    /// and the J mirrored from row block J.
    fn tile_done(&mut self, bi: usize, bj: usize, blocks: usize) {
        self.tiles_done[bj] += 1;
        if bi != bj {
            self.tiles_done[bi] += 1;
        }
        let before = self.final_blocks;
        while self.final_blocks < blocks && self.tiles_done[self.final_blocks] == blocks {
            self.final_blocks += 1;
        }
        if self.final_blocks > before {
            (self.ready)((self.final_blocks * TILE).min(self.columns));
        }
    }
}

/// `dst ← srcᵀ` (`dst` is w×h for an h×w `src`), eight source rows at a time so that the strided
/// reads of a row reuse each cache line eight times while eight destination columns fill in step.
fn copy_transposed(src: MatRef<'_, f64>, mut dst: MatMut<'_, f64>) {
    let (h, w) = (src.nrows(), src.ncols());
    for i0 in (0..h).step_by(8) {
        let i1 = (i0 + 8).min(h);
        for j in 0..w {
            for i in i0..i1 {
                dst[(j, i)] = src[(i, j)];
            }
        }
    }
}

/// `alpha · A Bᵀ` for A (M×k) and B (N×k): the M×N matrix of scaled inner products of their rows.
pub fn cross_product(a: MatRef<'_, f64>, b: MatRef<'_, f64>, alpha: f64) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(a.nrows(), b.nrows());
    matmul(out.as_mut(), Accum::Replace, a, b.transpose(), alpha);
    out
}

/// Copies the strict lower triangle of a square matrix onto its upper triangle, in parallel over
/// fixed column blocks and in cache-sized tiles (the naive loop reads a row, i.e. strided memory).
pub fn mirror_lower(m: MatMut<'_, f64>) {
    let n = m.nrows();
    assert_eq!(n, m.ncols(), "mirror_lower needs a square matrix");
    if n < 2 {
        return;
    }
    let row_stride = m.row_stride();
    let col_stride = m.col_stride();
    let base = SharedPtr(m.as_ptr_mut());
    let blocks = n.div_ceil(COLUMN_BLOCK);
    (0..blocks).into_par_iter().for_each(|block| {
        let ptr = base;
        let j0 = block * COLUMN_BLOCK;
        let j1 = (j0 + COLUMN_BLOCK).min(n);
        for i0 in (0..j1).step_by(COLUMN_BLOCK) {
            let i1 = (i0 + COLUMN_BLOCK).min(j1);
            for i in i0..i1 {
                for j in j0.max(i + 1)..j1 {
                    // SAFETY: (i, j) with i < j lies in the strict upper triangle of this task's
                    // column block, written by no other task; (j, i) lies in the lower triangle,
                    // which no task writes. Both are in bounds since i < j < n.
                    unsafe {
                        let src = ptr
                            .0
                            .offset(j as isize * row_stride + i as isize * col_stride);
                        let dst = ptr
                            .0
                            .offset(i as isize * row_stride + j as isize * col_stride);
                        *dst = *src;
                    }
                }
            }
        }
    });
}

/// A raw matrix pointer shared by tasks that write disjoint entries.
#[derive(Clone, Copy)]
struct SharedPtr(*mut f64);
// SAFETY: only used by `mirror_lower` and `symmetric_tiles`, whose tasks touch disjoint entries.
unsafe impl Send for SharedPtr {}
unsafe impl Sync for SharedPtr {}

/// Squared Euclidean norms of the rows of `x`: ‖x_i‖².
pub fn row_sq_norms(x: MatRef<'_, f64>) -> Vec<f64> {
    let mut out = vec![0.0; x.nrows()];
    for j in 0..x.ncols() {
        let col = x.col(j);
        for (i, o) in out.iter_mut().enumerate() {
            let v = col[i];
            *o += v * v;
        }
    }
    out
}

/// Applies `f(i, j, value)` to every entry of `m` in parallel over fixed column blocks, each column
/// in the [`vectorized`] build.
/// With `lower_only`, only entries with `i ≥ j` are visited.
pub fn map_entries<F>(m: MatMut<'_, f64>, lower_only: bool, f: F)
where
    F: Fn(usize, usize, f64) -> f64 + Sync,
{
    m.par_col_chunks_mut(COLUMN_BLOCK)
        .enumerate()
        .for_each(|(block, mut cols)| {
            let j0 = block * COLUMN_BLOCK;
            for jj in 0..cols.ncols() {
                let j = j0 + jj;
                let start = if lower_only { j } else { 0 };
                let mut col = cols.as_mut().col_mut(jj);
                match col.rb_mut().try_as_col_major_mut() {
                    Some(c) => vectorized(
                        #[inline(always)]
                        || {
                            for (i, v) in c.as_slice_mut().iter_mut().enumerate().skip(start) {
                                *v = f(i, j, *v);
                            }
                        },
                    ),
                    None => {
                        for i in start..col.nrows() {
                            col[i] = f(i, j, col[i]);
                        }
                    }
                }
            }
        });
}

/// Applies `f(value, other)` entry by entry, where `other` has the same shape as `m`, in parallel
/// over fixed column blocks, each column in the [`vectorized`] build; with `lower_only`, only
/// entries with `i ≥ j`.
pub fn zip_map<F>(m: MatMut<'_, f64>, other: MatRef<'_, f64>, lower_only: bool, f: F)
where
    F: Fn(f64, f64) -> f64 + Sync,
{
    assert_eq!((m.nrows(), m.ncols()), (other.nrows(), other.ncols()));
    m.par_col_chunks_mut(COLUMN_BLOCK)
        .enumerate()
        .for_each(|(block, mut cols)| {
            let j0 = block * COLUMN_BLOCK;
            for jj in 0..cols.ncols() {
                let j = j0 + jj;
                let start = if lower_only { j } else { 0 };
                let mut col = cols.as_mut().col_mut(jj);
                let src = other.col(j);
                match (col.rb_mut().try_as_col_major_mut(), src.try_as_col_major()) {
                    (Some(c), Some(o)) => {
                        let (c, o) = (c.as_slice_mut(), o.as_slice());
                        vectorized(
                            #[inline(always)]
                            || {
                                for (v, &w) in c[start..].iter_mut().zip(&o[start..]) {
                                    *v = f(*v, w);
                                }
                            },
                        )
                    }
                    _ => {
                        for i in start..col.nrows() {
                            col[i] = f(col[i], src[i]);
                        }
                    }
                }
            }
        });
}

/// cos(a, b) = a·b / (‖a‖ ‖b‖), clamped to [−1, 1] against round-off; `None` (an empty cell in
/// every table, §13.4) when either vector is zero. The one cosine of the crate: every table and
/// study that reports a cosine calls this or [`row_cosine`].
pub fn cosine(a: &[f64], b: &[f64]) -> Option<f64> {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    cosine_from_sums(ab, aa, bb)
}

/// [`cosine`] of row `i` of `a` and row `i` of `b` (same sums, in column order).
pub fn row_cosine(a: MatRef<'_, f64>, b: MatRef<'_, f64>, i: usize) -> Option<f64> {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for j in 0..a.ncols() {
        let (x, y) = (a[(i, j)], b[(i, j)]);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    cosine_from_sums(ab, aa, bb)
}

/// a·b/(√(a·a) √(b·b)) from the three sums.
fn cosine_from_sums(ab: f64, aa: f64, bb: f64) -> Option<f64> {
    if aa == 0.0 || bb == 0.0 {
        return None;
    }
    let c = ab / (aa.sqrt() * bb.sqrt());
    c.is_finite().then(|| c.clamp(-1.0, 1.0))
}

/// Mean of the defined values (`None` when there is none), e.g. a mean cosine over rows that
/// skips zero rows instead of counting them as 0.
pub fn mean_defined(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let (mut sum, mut count) = (0.0, 0usize);
    for v in values.into_iter().flatten() {
        sum += v;
        count += 1;
    }
    (count > 0).then(|| sum / count as f64)
}

/// Copies the rows of a faer matrix into one contiguous row-major buffer (row n = `out[n*d..(n+1)*d]`).
pub fn to_row_major(x: MatRef<'_, f64>) -> Vec<f64> {
    let (n, d) = (x.nrows(), x.ncols());
    let mut out = vec![0.0; n * d];
    for j in 0..d {
        let col = x.col(j);
        for i in 0..n {
            out[i * d + j] = col[i];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand values: (1, 0)·(1, 1) → 1/√2, (0, 2)·(0, −3) → −1, a zero row → undefined, and a mean
    /// that skips the undefined row instead of counting it as 0.
    #[test]
    fn cosine_is_undefined_for_a_zero_vector_and_means_skip_it() {
        let a = Mat::from_fn(3, 2, |i, j| [[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]][i][j]);
        let b = Mat::from_fn(3, 2, |i, j| [[1.0, 1.0], [0.0, -3.0], [5.0, 1.0]][i][j]);
        let cos: Vec<Option<f64>> = (0..3)
            .map(|i| row_cosine(a.as_ref(), b.as_ref(), i))
            .collect();
        assert!((cos[0].unwrap() - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15);
        assert_eq!(cos[1], Some(-1.0));
        assert_eq!(cos[2], None);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), None);
        let mean = mean_defined(cos).unwrap();
        assert!((mean - (std::f64::consts::FRAC_1_SQRT_2 - 1.0) / 2.0).abs() < 1e-15);
        assert_eq!(mean_defined([None, None]), None);
    }

    /// A matrix of small integers (|v| ≤ 7), so every product below is exact in f64.
    fn integers(r: usize, c: usize, seed: usize) -> Mat<f64> {
        Mat::from_fn(r, c, |i, j| ((i * 7 + j * 13 + seed * 5) % 15) as f64 - 7.0)
    }

    /// The tiled products against the schoolbook triple loop, on shapes that straddle the tile
    /// edge, with both accumulation modes and a scale. Integer entries make both sides exact, so
    /// they must agree to the bit.
    #[test]
    fn tiled_products_equal_the_schoolbook_sums() {
        let (m, n, k) = (TILE + 45, 2 * TILE + 3, 70);
        let a = integers(m, k, 1);
        let b = integers(k, n, 2);
        let c0 = integers(m, n, 3);
        let schoolbook = |i: usize, j: usize| (0..k).map(|q| a[(i, q)] * b[(q, j)]).sum::<f64>();
        for parallel in [false, true] {
            let mut c = c0.clone();
            matmul_tiled(
                c.as_mut(),
                Accum::Add,
                a.as_ref(),
                b.as_ref(),
                2.0,
                parallel,
            );
            let mut r = c0.clone();
            matmul_tiled(
                r.as_mut(),
                Accum::Replace,
                a.as_ref(),
                b.as_ref(),
                -1.0,
                parallel,
            );
            for j in 0..n {
                for i in 0..m {
                    assert_eq!(c[(i, j)], c0[(i, j)] + 2.0 * schoolbook(i, j), "({i}, {j})");
                    assert_eq!(r[(i, j)], -schoolbook(i, j), "({i}, {j})");
                }
            }
        }
        // A matrix-vector product and a product with a row-major left factor.
        let v = integers(k, 1, 4);
        let mut mv = Mat::<f64>::zeros(m, 1);
        matmul(mv.as_mut(), Accum::Replace, a.as_ref(), v.as_ref(), 1.0);
        let at = a.transpose().to_owned();
        let mut tv = Mat::<f64>::zeros(m, 1);
        matmul(tv.as_mut(), Accum::Replace, at.transpose(), v.as_ref(), 1.0);
        for i in 0..m {
            let want = (0..k).map(|q| a[(i, q)] * v[(q, 0)]).sum::<f64>();
            assert_eq!(mv[(i, 0)], want);
            assert_eq!(tv[(i, 0)], want);
        }
        // The lower triangle of 0.5 · A Bᵀ, with a zero strict upper triangle.
        let bb = integers(m, k, 5);
        let lower = lower_product(a.as_ref(), bb.as_ref(), 0.5);
        for j in 0..m {
            for i in 0..m {
                let want = if i >= j {
                    0.5 * (0..k).map(|q| a[(i, q)] * bb[(j, q)]).sum::<f64>()
                } else {
                    0.0
                };
                assert_eq!(lower[(i, j)], want, "({i}, {j})");
            }
        }
    }

    /// With entries that round, the bits of every product are the same in pools of 1, 2 and 3
    /// threads, including the matrix-vector product faer would split by thread.
    #[test]
    fn products_give_the_same_bits_for_any_pool_size() {
        let (n, k) = (2 * TILE + 17, 300);
        let a = Mat::from_fn(n, k, |i, j| ((i * 31 + j * 17) as f64 * 0.37).sin());
        let b = Mat::from_fn(n, k, |i, j| ((i * 11 + j * 23) as f64 * 0.53).cos());
        let v = Mat::from_fn(n, 1, |i, _| (i as f64 * 0.29).sin());
        let products = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let gram = cross_product(a.as_ref(), b.as_ref(), 1.0);
                let lower = lower_product(a.as_ref(), a.as_ref(), 1.0);
                let mut mv = Mat::<f64>::zeros(n, 1);
                matmul(mv.as_mut(), Accum::Replace, gram.as_ref(), v.as_ref(), 1.0);
                [gram, lower, mv]
                    .iter()
                    .flat_map(|m| {
                        (0..m.ncols())
                            .flat_map(move |j| (0..m.nrows()).map(move |i| m[(i, j)].to_bits()))
                    })
                    .collect::<Vec<u64>>()
            })
        };
        let one = products(1);
        assert_eq!(one, products(2));
        assert_eq!(one, products(3));
    }

    /// The vectorised build must give the bits of the plain one: the map below has a product
    /// followed by a sum (which an FMA would round once instead of twice) and a select.
    #[test]
    fn vectorized_maps_give_the_bits_of_the_scalar_loop() {
        let (n, m) = (203, 67);
        let h = Mat::<f64>::from_fn(n, m, |i, j| ((i * 31 + j * 17) as f64 * 0.37).sin() * 3.0);
        let a: Vec<f64> = (0..m).map(|j| (j as f64 * 0.11).cos() / 7.0).collect();
        let f = |_: usize, j: usize, u: f64| {
            let act = if u >= 0.0 { u } else { 0.3 * u };
            act * a[j] + u * 1e-3
        };
        let mut mapped = h.clone();
        map_entries(mapped.as_mut(), false, f);
        let mut zipped = h.clone();
        zip_map(zipped.as_mut(), h.as_ref(), false, |v, w| v * 1.1 + w * 0.7);
        for j in 0..m {
            for i in 0..n {
                let u = h[(i, j)];
                assert_eq!(mapped[(i, j)].to_bits(), f(i, j, u).to_bits(), "({i}, {j})");
                assert_eq!(zipped[(i, j)].to_bits(), (u * 1.1 + u * 0.7).to_bits());
            }
        }
    }
}
