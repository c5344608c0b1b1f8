//! Gram matrices of the infinite-width kernels (§4).
//!
//! One GEMM gives every inner product x_i·x_j (lower triangle only for train×train); the closed form
//! of [`super::closed_form`] is then applied entry by entry in parallel. The squared norms (and the
//! diagonal of the train Gram) come from [`linalg::row_sq_norms`], the same sums [`kernel_value`]
//! forms, so that a repeated input, in the training set or between test and training sets, gives
//! exactly the kernel value of the diagonal. The element-wise map is written without branches or
//! library calls (θ from [`angle_fast`]) so that it vectorises; the rare entries it cannot compute
//! accurately — pairs with |ρ| > [`super::closed_form::RHO_DIRECT`] (near-duplicates, §8.2) and
//! inputs with zero variance (x = 0 without bias) — are recomputed afterwards from the rows.

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
    let mut k = linalg::lower_product(x, x, 1.0);
    let sq = linalg::row_sq_norms(x);
    for (i, &v) in sq.iter().enumerate() {
        k[(i, i)] = v;
    }
    let ctx = MapContext::new(arch, what, x.ncols(), &sq, &sq);
    map_columns(k.as_mut(), true, &ctx);
    patch_from_rows(k.as_mut(), true, &ctx, x, x);
    linalg::mirror_lower(k.as_mut());
    Ok(k)
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
    map_columns(k.as_mut(), false, &ctx);
    patch_from_rows(k.as_mut(), false, &ctx, z, x);
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

/// Loop-invariant data of the element-wise map from x·z to K(x, z).
struct MapContext {
    arch: Architecture,
    what: KernelWhat,
    inv_d: f64,
    offset: f64,
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
            arch: *arch,
            what,
            inv_d,
            offset,
            inv_s_row: inv(&s_row),
            inv_s_col: inv(&s_col),
            s_row,
            s_col,
        }
    }

    /// K for the pair (row i, column j) with inner product `dot`; θ = 0 exactly when `diagonal`.
    /// NaN where θ must come from the rows (|ρ| > RHO_DIRECT off the diagonal).
    #[inline(always)]
    fn value(&self, dot: f64, i: usize, j: usize, diagonal: bool) -> f64 {
        let c = dot * self.inv_d + self.offset;
        let rho = c * self.inv_s_row[i] * self.inv_s_col[j];
        let theta = if diagonal { 0.0 } else { angle_fast(rho) };
        let cos = if diagonal { 1.0 } else { rho.clamp(-1.0, 1.0) };
        let sin = ((1.0 - cos) * (1.0 + cos)).max(0.0).sqrt();
        kernel_from_angle(
            self.what,
            &self.arch,
            theta,
            cos,
            sin,
            dot,
            c,
            self.s_row[i],
            self.s_col[j],
        )
    }
}

/// Maps one column slice: entries `start..` of column `j`.
#[inline(always)]
fn map_column_impl(col: &mut [f64], start: usize, j: usize, symmetric: bool, ctx: &MapContext) {
    for (i, v) in col.iter_mut().enumerate().skip(start) {
        *v = ctx.value(*v, i, j, symmetric && i == j);
    }
}

/// The column map in the widest vector build the CPU runs ([`linalg::vectorized`]).
fn map_column(col: &mut [f64], start: usize, j: usize, symmetric: bool, ctx: &MapContext) {
    linalg::vectorized(
        #[inline(always)]
        || map_column_impl(col, start, j, symmetric, ctx),
    )
}

/// Applies the map to every column (lower triangle only when `symmetric`) in parallel blocks.
fn map_columns(m: MatMut<'_, f64>, symmetric: bool, ctx: &MapContext) {
    m.par_col_chunks_mut(linalg::COLUMN_BLOCK)
        .enumerate()
        .for_each(|(block, mut cols)| {
            let j0 = block * linalg::COLUMN_BLOCK;
            for jj in 0..cols.ncols() {
                let j = j0 + jj;
                let start = if symmetric { j } else { 0 };
                let col = cols.as_mut().col_mut(jj);
                match col.try_as_col_major_mut() {
                    Some(c) => map_column(c.as_slice_mut(), start, j, symmetric, ctx),
                    None => {
                        let mut col = cols.as_mut().col_mut(jj);
                        for i in start..col.nrows() {
                            col[i] = ctx.value(col[i], i, j, symmetric && i == j);
                        }
                    }
                }
            }
        });
}

/// Recomputes from the rows, with [`kernel_value`], the entries the vectorised map leaves wrong:
/// those it marked NaN (ill-conditioned θ, near-duplicate pairs) and the rows and columns of
/// zero-variance inputs (x = 0 without bias), whose limits the general formula knows.
fn patch_from_rows(
    mut m: MatMut<'_, f64>,
    symmetric: bool,
    ctx: &MapContext,
    rows: MatRef<'_, f64>,
    cols: MatRef<'_, f64>,
) {
    let zero_row: Vec<bool> = ctx.s_row.iter().map(|&s| s <= 0.0).collect();
    let zero_col: Vec<bool> = ctx.s_col.iter().map(|&s| s <= 0.0).collect();
    let mref = m.as_ref();
    // Column by column in parallel; each column's list is in row order, and the lists are
    // concatenated in column order, so the result does not depend on the thread count.
    let entries: Vec<(usize, usize)> = (0..mref.ncols())
        .into_par_iter()
        .flat_map_iter(|j| {
            let start = if symmetric { j } else { 0 };
            let zero_row = &zero_row;
            let zc = zero_col[j];
            (start..mref.nrows())
                .filter(move |&i| zc || zero_row[i] || mref[(i, j)].is_nan())
                .map(move |i| (i, j))
                .collect::<Vec<_>>()
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    let (d, row_major, col_major) = (
        rows.ncols(),
        linalg::to_row_major(rows),
        linalg::to_row_major(cols),
    );
    let values: Vec<f64> = entries
        .par_iter()
        .map(|&(i, j)| {
            kernel_value(
                &row_major[i * d..(i + 1) * d],
                &col_major[j * d..(j + 1) * d],
                &ctx.arch,
                ctx.what,
            )
        })
        .collect();
    for (&(i, j), v) in entries.iter().zip(values) {
        m[(i, j)] = v;
    }
}
