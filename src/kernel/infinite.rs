//! Gram matrices of the infinite-width kernels (§4).
//!
//! One GEMM gives every inner product x_i·x_j (lower triangle only for train×train); the closed form
//! of [`super::closed_form`] is then applied entry by entry, tile by tile while each product tile is
//! still in cache (train×train: [`linalg::symmetric_tiles`], which also mirrors the tile, so the
//! 8N² bytes are written once). The squared norms (and the
//! diagonal of the train Gram) come from [`linalg::row_sq_norms`], the same sums [`kernel_value`]
//! forms, so that a repeated input, in the training set or between test and training sets, gives
//! exactly the kernel value of the diagonal. The element-wise map is written without branches or
//! library calls (θ from [`angle_fast`]) so that it vectorises; the rare entries it cannot compute
//! accurately — pairs with |ρ| > [`super::closed_form::RHO_DIRECT`] (near-duplicates, §8.2) and
//! inputs with zero variance (x = 0 without bias) — are recomputed from the rows in the same tile.
//! The map is compiled once per kernel (Φ, Σ, Θ with or without Σ), so that each loop carries only
//! its own terms, and runs in the widest vector build of the CPU.

use std::sync::OnceLock;

use faer::reborrow::ReborrowMut;
use faer::{Mat, MatMut, MatRef};
use rayon::prelude::*;

use super::KernelWhat;
use super::closed_form::{
    angle_fast, bias_offset, kernel_from_angle, kernel_value, pre_activation_sd,
};
use crate::error::{Error, Result};
use crate::linalg;
use crate::memory;
use crate::model::Architecture;

/// K(X, X) for the rows of `x` (N×d): a full symmetric N×N matrix computed from one triangle.
pub fn infinite_train_train(
    x: MatRef<'_, f64>,
    arch: &Architecture,
    what: KernelWhat,
) -> Result<Mat<f64>> {
    arch.validate()?;
    let n = x.nrows();
    memory::ensure_fits("the N×N train Gram matrix", super::matrix_bytes(n, n))?;
    let mut k = Mat::<f64>::zeros(n, n);
    infinite_train_train_into(x, arch, what, k.as_mut(), |_| {})?;
    Ok(k)
}

/// [`infinite_train_train`] written into `out` (N×N, any strides, for instance a memory-mapped
/// file), every entry once: the GEMM X Xᵀ, the element-wise map, the patches and the mirror run tile
/// by tile ([`linalg::symmetric_tiles`]). `ready(c)` is called whenever the leading c columns of
/// `out` have become final, with c increasing, so that they can be written out early.
pub fn infinite_train_train_into(
    x: MatRef<'_, f64>,
    arch: &Architecture,
    what: KernelWhat,
    out: MatMut<'_, f64>,
    ready: impl FnMut(usize) + Send,
) -> Result<()> {
    arch.validate()?;
    let n = x.nrows();
    if (out.nrows(), out.ncols()) != (n, n) {
        return Err(Error::Mismatch(format!(
            "the train Gram matrix of {n} inputs is {n}×{n}, but its destination is {}×{}",
            out.nrows(),
            out.ncols()
        )));
    }
    let sq = linalg::row_sq_norms(x);
    let ctx = MapContext::new(arch, what, x.ncols(), &sq, &sq);
    let rows = Rows::new(x);
    linalg::symmetric_tiles(
        out,
        x,
        |mut tile, i0, j0| {
            if i0 == j0 {
                // x·x summed as the norms are, so a duplicate input gets the diagonal's value.
                for k in 0..tile.ncols() {
                    tile[(k, k)] = sq[i0 + k];
                }
            }
            finish_block(tile, i0, j0, i0 == j0, &ctx, &rows, &rows);
        },
        ready,
    );
    Ok(())
}

/// K(Z, X) for test rows `z` (M×d) against training rows `x` (N×d): an M×N matrix.
pub fn infinite_test_train(
    z: MatRef<'_, f64>,
    x: MatRef<'_, f64>,
    arch: &Architecture,
    what: KernelWhat,
) -> Result<Mat<f64>> {
    arch.validate()?;
    check_dims(z, x)?;
    memory::ensure_fits(
        "the M×N test-train Gram matrix",
        super::matrix_bytes(z.nrows(), x.nrows()),
    )?;
    let sq_z = linalg::row_sq_norms(z);
    let sq_x = linalg::row_sq_norms(x);
    let mut k = linalg::cross_product(z, x, 1.0);
    let ctx = MapContext::new(arch, what, x.ncols(), &sq_z, &sq_x);
    let (rows, cols) = (Rows::new(z), Rows::new(x));
    k.as_mut()
        .par_col_chunks_mut(linalg::COLUMN_BLOCK)
        .enumerate()
        .for_each(|(block, chunk)| {
            finish_block(
                chunk,
                0,
                block * linalg::COLUMN_BLOCK,
                false,
                &ctx,
                &rows,
                &cols,
            );
        });
    Ok(k)
}

/// Test and train inputs must have the same dimension.
pub(crate) fn check_dims(z: MatRef<'_, f64>, x: MatRef<'_, f64>) -> Result<()> {
    if z.ncols() != x.ncols() {
        return Err(Error::Mismatch(format!(
            "test inputs have dimension {} but training inputs have dimension {}",
            z.ncols(),
            x.ncols()
        )));
    }
    Ok(())
}

/// The scalar constants of the element-wise map, copied by value into each loop (read through a
/// reference, the compiler would have to reload them after every store, as far as it knows into
/// the same memory, and would not vectorise).
#[derive(Clone, Copy)]
struct MapScalars {
    arch: Architecture,
    inv_d: f64,
    offset: f64,
}

/// Loop-invariant data of the element-wise map from x·z to K(x, z).
struct MapContext {
    scalars: MapScalars,
    arch: Architecture,
    what: KernelWhat,
    /// 1/s for row inputs (0 where the variance is zero).
    inv_s_row: Vec<f64>,
    /// s for row inputs.
    s_row: Vec<f64>,
    /// 1/s for column inputs (0 where the variance is zero).
    inv_s_col: Vec<f64>,
    /// s for column inputs.
    s_col: Vec<f64>,
}

impl MapContext {
    fn new(
        arch: &Architecture,
        what: KernelWhat,
        d: usize,
        sq_row: &[f64],
        sq_col: &[f64],
    ) -> Self {
        let offset = bias_offset(arch.bias);
        let inv_d = 1.0 / d as f64;
        let s = |sq: &[f64]| -> Vec<f64> {
            sq.iter()
                .map(|&v| pre_activation_sd(v, inv_d, offset))
                .collect()
        };
        let inv = |s: &[f64]| -> Vec<f64> {
            s.iter()
                .map(|&v| if v > 0.0 { 1.0 / v } else { 0.0 })
                .collect()
        };
        let s_row = s(sq_row);
        let s_col = s(sq_col);
        MapContext {
            scalars: MapScalars {
                arch: *arch,
                inv_d,
                offset,
            },
            arch: *arch,
            what,
            inv_s_row: inv(&s_row),
            inv_s_col: inv(&s_col),
            s_row,
            s_col,
        }
    }
}

impl MapScalars {
    /// K for the pair (row i, column j) with inner product `dot`; θ = 0 exactly when `diagonal`.
    /// NaN where θ must come from the rows (|ρ| > RHO_DIRECT off the diagonal). `what` and
    /// `readout` are passed as constants by [`finish_block`], so that each kernel compiles to a
    /// loop without the branches and terms of the others (Σ_γ, its sine and its cosine only where
    /// they are used).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn value(
        self,
        what: KernelWhat,
        readout: bool,
        dot: f64,
        (inv_s_row, s_row): (f64, f64),
        (inv_s_col, s_col): (f64, f64),
        diagonal: bool,
    ) -> f64 {
        let arch = Architecture {
            train_readout: readout,
            ..self.arch
        };
        let c = dot * self.inv_d + self.offset;
        let rho = c * inv_s_row * inv_s_col;
        let theta = if diagonal { 0.0 } else { angle_fast(rho) };
        let cos = if diagonal { 1.0 } else { rho.clamp(-1.0, 1.0) };
        let sin = ((1.0 - cos) * (1.0 + cos)).max(0.0).sqrt();
        kernel_from_angle(what, &arch, theta, cos, sin, dot, c, s_row, s_col)
    }
}

/// Row access to an input matrix for the few entries recomputed from the rows: a row-major copy,
/// made by the first block that needs one.
struct Rows<'a> {
    x: MatRef<'a, f64>,
    row_major: OnceLock<Vec<f64>>,
}

impl<'a> Rows<'a> {
    fn new(x: MatRef<'a, f64>) -> Self {
        Rows {
            x,
            row_major: OnceLock::new(),
        }
    }

    fn row(&self, i: usize) -> &[f64] {
        let d = self.x.ncols();
        let all = self.row_major.get_or_init(|| linalg::to_row_major(self.x));
        &all[i * d..(i + 1) * d]
    }
}

/// Turns a block of inner products x_i·z_j (rows `i0..`, columns `j0..` of the Gram matrix) into
/// kernel values: the vectorised map of [`MapContext::value`] on every entry (on a `diagonal`
/// block, i0 = j0, only the lower triangle, diagonal included), then [`kernel_value`] from the
/// rows for the entries the map leaves wrong: those it marked NaN (ill-conditioned θ,
/// near-duplicate pairs) and those of zero-variance inputs (x = 0 without bias), whose limits the
/// general formula knows. Each entry's arithmetic depends only on its indices.
fn finish_block(
    mut block: MatMut<'_, f64>,
    i0: usize,
    j0: usize,
    diagonal: bool,
    ctx: &MapContext,
    rows: &Rows<'_>,
    cols: &Rows<'_>,
) {
    let mut to_patch = vec![false; block.ncols()];
    // One map per kernel, its kind a constant inside the loop.
    macro_rules! map_as {
        ($what:expr, $readout:expr) => {
            map_block(
                block.rb_mut(),
                i0,
                j0,
                diagonal,
                ctx,
                &mut to_patch,
                #[inline(always)]
                |k: MapScalars, v, row, col, d| k.value($what, $readout, v, row, col, d),
            )
        };
    }
    match (ctx.what, ctx.arch.train_readout) {
        (KernelWhat::Phi, _) => map_as!(KernelWhat::Phi, false),
        (KernelWhat::Nngp, _) => map_as!(KernelWhat::Nngp, false),
        (KernelWhat::Ntk, false) => map_as!(KernelWhat::Ntk, false),
        (KernelWhat::Ntk, true) => map_as!(KernelWhat::Ntk, true),
    }
    let zero_rows: Vec<usize> = (0..block.nrows())
        .filter(|&ii| ctx.s_row[i0 + ii] <= 0.0)
        .collect();
    for (jj, patch) in to_patch.iter().enumerate() {
        let j = j0 + jj;
        let start = if diagonal { jj } else { 0 };
        let whole = ctx.s_col[j] <= 0.0;
        if !(*patch || whole || !zero_rows.is_empty()) {
            continue;
        }
        for ii in start..block.nrows() {
            let i = i0 + ii;
            if whole || ctx.s_row[i] <= 0.0 || block[(ii, jj)].is_nan() {
                block[(ii, jj)] = kernel_value(rows.row(i), cols.row(j), &ctx.arch, ctx.what);
            }
        }
    }
}

/// Applies `value(scalars, x·z, (1/s_i, s_i), (1/s_j, s_j), diagonal)` to the entries of a block (see
/// [`finish_block`]) in the [`linalg::vectorized`] build, and marks the columns where it returned
/// NaN. The per-row factors are zipped with the column, not indexed, so that the loop has no bounds
/// checks and vectorises.
#[inline(always)]
fn map_block(
    mut block: MatMut<'_, f64>,
    i0: usize,
    j0: usize,
    diagonal: bool,
    ctx: &MapContext,
    nan_columns: &mut [bool],
    value: impl Fn(MapScalars, f64, (f64, f64), (f64, f64), bool) -> f64,
) {
    let h = block.nrows();
    let scalars = ctx.scalars;
    let (inv_s_row, s_row) = (&ctx.inv_s_row[i0..i0 + h], &ctx.s_row[i0..i0 + h]);
    linalg::vectorized(
        #[inline(always)]
        || {
            // A local copy: loop-invariant registers (see [`MapScalars`]).
            let k = scalars;
            for (jj, nan) in nan_columns.iter_mut().enumerate() {
                let j = j0 + jj;
                let col_factors = (ctx.inv_s_col[j], ctx.s_col[j]);
                let mut col = block.rb_mut().col_mut(jj);
                let first = if diagonal {
                    col[jj] = value(k, col[jj], (inv_s_row[jj], s_row[jj]), col_factors, true);
                    jj + 1
                } else {
                    0
                };
                match col.rb_mut().try_as_col_major_mut() {
                    Some(c) => {
                        let mut any = false;
                        let entries = c.as_slice_mut()[first..]
                            .iter_mut()
                            .zip(&inv_s_row[first..])
                            .zip(&s_row[first..]);
                        for ((v, &inv_s), &s) in entries {
                            let r = value(k, *v, (inv_s, s), col_factors, false);
                            any |= r.is_nan();
                            *v = r;
                        }
                        *nan = any;
                    }
                    None => {
                        for ii in first..h {
                            col[ii] =
                                value(k, col[ii], (inv_s_row[ii], s_row[ii]), col_factors, false);
                            *nan |= col[ii].is_nan();
                        }
                    }
                }
            }
        },
    )
}
