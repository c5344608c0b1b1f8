//! Gram matrices of the infinite-width kernels (§4).
//!
//! One GEMM gives every inner product x_i·x_j (lower triangle only for train×train); the closed form
//! of [`super::closed_form`] is then applied entry by entry in parallel, with the norms taken from the
//! same products so that the diagonal is exact.

use faer::{Mat, MatRef};

use super::KernelWhat;
use super::closed_form::{PairGeometry, kernel_from_geometry};
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
    let (n, d) = (x.nrows(), x.ncols());
    memory::ensure_fits("the N×N train Gram matrix", super::matrix_bytes(n, n))?;
    let mut k = linalg::lower_product(x, x, 1.0);
    let sq: Vec<f64> = (0..n).map(|i| k[(i, i)]).collect();
    linalg::map_entries(k.as_mut(), true, |i, j, dot| {
        let g = PairGeometry::new(dot, sq[i], sq[j], d, arch.bias, i == j);
        kernel_from_geometry(&g, arch, what)
    });
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
    let d = x.ncols();
    memory::ensure_fits(
        "the M×N test-train Gram matrix",
        super::matrix_bytes(z.nrows(), x.nrows()),
    )?;
    let sq_z = linalg::row_sq_norms(z);
    let sq_x = linalg::row_sq_norms(x);
    let mut k = linalg::cross_product(z, x, 1.0);
    linalg::map_entries(k.as_mut(), false, |i, j, dot| {
        let g = PairGeometry::new(dot, sq_z[i], sq_x[j], d, arch.bias, false);
        kernel_from_geometry(&g, arch, what)
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
