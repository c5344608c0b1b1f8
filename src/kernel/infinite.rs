//! Gram matrices of the infinite-width kernels (§4).
//!
//! One GEMM gives every inner product x_i·x_j (lower triangle only for train×train); the closed form
//! of [`super::closed_form`] is then applied entry by entry in parallel, with the norms taken from the
//! same products so that the diagonal is exact. The element-wise map is written without branches or
//! library calls (θ from [`super::fastmath::acos`]) so that it vectorises; inputs with zero variance
//! (x = 0 without bias) are rare and patched afterwards with the general formula.

use std::f64::consts::PI;

use faer::{Mat, MatMut, MatRef};
use rayon::prelude::*;

use super::KernelWhat;
use super::closed_form::{PairGeometry, kernel_from_geometry};
use super::fastmath;
use crate::error::{Error, Result};
use crate::linalg;
use crate::memory;
use crate::network::Architecture;

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
    let sq: Vec<f64> = (0..n).map(|i| k[(i, i)]).collect();
    let ctx = MapContext::new(arch, what, x.ncols(), &sq, &sq);
    map_columns(k.as_mut(), true, &ctx);
    patch_zero_variance(k.as_mut(), true, &ctx, &sq, &sq);
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
    patch_zero_variance(k.as_mut(), false, &ctx, &sq_z, &sq_x);
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
    d: usize,
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
        let offset = if arch.bias { 1.0 } else { 0.0 };
        let inv_d = 1.0 / d as f64;
        let s =
            |sq: &[f64]| -> Vec<f64> { sq.iter().map(|v| (v * inv_d + offset).sqrt()).collect() };
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
            d,
            inv_d,
            offset,
            inv_s_row: inv(&s_row),
            inv_s_col: inv(&s_col),
            s_row,
            s_col,
        }
    }

    /// K for the pair (row i, column j) with inner product `dot`; θ = 0 exactly when `diagonal`.
    #[inline(always)]
    fn value(&self, dot: f64, i: usize, j: usize, diagonal: bool) -> f64 {
        let gamma = self.arch.gamma;
        let c = dot * self.inv_d + self.offset;
        let rho = c * self.inv_s_row[i] * self.inv_s_col[j];
        let theta = if diagonal { 0.0 } else { fastmath::acos(rho) };
        let phi = ((1.0 + gamma * gamma) * (PI - theta) + 2.0 * gamma * theta) * (0.5 / PI);
        let need_sigma = self.what == KernelWhat::Nngp
            || (self.what == KernelWhat::Ntk && self.arch.train_readout);
        let sigma = if need_sigma {
            let rho_c = if diagonal { 1.0 } else { rho.clamp(-1.0, 1.0) };
            let sin = ((1.0 - rho_c) * (1.0 + rho_c)).max(0.0).sqrt();
            let one_minus = 1.0 - gamma;
            gamma * c
                + one_minus
                    * one_minus
                    * self.s_row[i]
                    * self.s_col[j]
                    * (sin + (PI - theta) * rho_c)
                    * (0.5 / PI)
        } else {
            0.0
        };
        match self.what {
            KernelWhat::Phi => phi,
            KernelWhat::Nngp => sigma,
            KernelWhat::Ntk => phi * (dot + self.offset) + sigma,
        }
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

/// Recomputes the rows and columns of zero-variance inputs (x = 0 without bias) with the general
/// formula of [`kernel_from_geometry`], which knows their limits. The map left them wrong, and the
/// inner products are recovered from the stored values where needed.
fn patch_zero_variance(
    mut m: MatMut<'_, f64>,
    symmetric: bool,
    ctx: &MapContext,
    sq_row: &[f64],
    sq_col: &[f64],
) {
    let zero_rows: Vec<usize> = (0..m.nrows()).filter(|&i| ctx.s_row[i] <= 0.0).collect();
    let zero_cols: Vec<usize> = (0..m.ncols()).filter(|&j| ctx.s_col[j] <= 0.0).collect();
    if zero_rows.is_empty() && zero_cols.is_empty() {
        return;
    }
    // Zero variance without bias means the input is the zero vector, so every inner product with
    // it is 0: the pair's geometry is known without the overwritten dot product.
    let fix = |i: usize, j: usize| {
        let g = PairGeometry::new(
            0.0,
            sq_col[j],
            sq_row[i],
            ctx.d,
            ctx.arch.bias,
            symmetric && i == j,
        );
        kernel_from_geometry(&g, &ctx.arch, ctx.what)
    };
    let entries: Vec<(usize, usize)> = zero_rows
        .iter()
        .flat_map(|&i| (0..m.ncols()).map(move |j| (i, j)))
        .chain(
            zero_cols
                .iter()
                .flat_map(|&j| (0..m.nrows()).map(move |i| (i, j))),
        )
        .filter(|&(i, j)| !symmetric || i >= j)
        .collect();
    let values: Vec<f64> = entries.par_iter().map(|&(i, j)| fix(i, j)).collect();
    for (&(i, j), v) in entries.iter().zip(values) {
        m[(i, j)] = v;
    }
}
