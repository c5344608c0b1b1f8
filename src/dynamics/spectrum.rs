//! Symmetric eigendecomposition K = V Λ Vᵀ of the train Gram matrix, computed once and shared by every
//! time t of the mse solver (§13.2).
//!
//! # Method
//!
//! [`Spectrum::from_gram`] runs `evd::SymmetricEvd` (src/dynamics/evd/) in the Gram matrix's own
//! storage: a two-stage tridiagonalisation (dense to band by matrix-matrix products, band to
//! tridiagonal by bulge chasing), faer's tridiagonal divide-and-conquer on the two halves, and the last
//! merge (a rank-one update solved through its secular equation). The decomposition is kept as a
//! value that applies V and Vᵀ to blocks ([`Spectrum::apply_v`], [`Spectrum::apply_vt`]); the
//! N×N matrix V is formed only when asked for ([`Spectrum::eigenvectors`]). The mse flow needs
//! V g(Λ) Vᵀ r for a few times, so it skips the 2N³ back-transformation and the last merge's N³
//! product, and the memory besides K's storage is 8N² bytes ([`extra_bytes`]).
//!
//! # Thread independence
//!
//! The EVD's bits depend on how its work is split between threads. To make the dynamics
//! bit-identical whatever `--threads` is, the EVD always runs with the same split: inside a
//! dedicated rayon pool of exactly [`EVD_THREADS`] threads, built once per process, with
//! `Par::rayon(EVD_THREADS)`, and every split inside it is a fixed function of N. That pool is used
//! even when the rest of the program runs on one thread. With faer's own EVD, N = 2000 took 0.70 s
//! on the fixed 2-thread split against 1.33 s with `Par::Seq` (ratio 0.53), so pinning two threads
//! keeps the parallel speed and still fixes the bits. The price is
//! that `--threads 1` still uses two threads during the EVD.
//!
//! # Conventions
//!
//! Eigenvalues are ascending. Round-off makes some eigenvalues of a positive semi-definite K slightly
//! negative; they are clamped to 0 and counted. An eigenvalue counts as numerically zero when
//! λ ≤ τ·λ_max with τ = [`RELATIVE_TOLERANCE_FACTOR`]·N·ε (ε the machine epsilon): the backward error
//! of the EVD is a small multiple of N·ε·‖K‖, so eigenvalues below that bound carry no information.

use std::sync::OnceLock;

use faer::{Mat, MatRef, Par};

use super::evd::{Reduction, SymmetricEvd};

use crate::error::{Error, Result};
use crate::memory;

/// Number of threads of the dedicated EVD pool (fixed, so the eigendecomposition's bits never depend
/// on `--threads`).
pub const EVD_THREADS: usize = 2;

/// τ = RELATIVE_TOLERANCE_FACTOR · N · ε is the relative threshold below which an eigenvalue is
/// treated as zero.
pub const RELATIVE_TOLERANCE_FACTOR: f64 = 10.0;

static EVD_POOL: OnceLock<std::result::Result<rayon::ThreadPool, String>> = OnceLock::new();

fn evd_pool() -> Result<&'static rayon::ThreadPool> {
    EVD_POOL
        .get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(EVD_THREADS)
                .thread_name(|i| format!("ntk-evd-{i}"))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::numerical("eigendecomposition", format!("thread pool: {e}")))
}

/// The eigendecomposition of a symmetric positive semi-definite matrix, with its numerical rank.
#[derive(Debug, Clone)]
pub struct Spectrum {
    /// Eigenvalues λ_1 ≤ … ≤ λ_N, negative round-off values clamped to 0.
    eigenvalues: Vec<f64>,
    /// The decomposition K = V Λ Vᵀ as factors of V (column i of V belongs to `eigenvalues[i]`;
    /// signs are arbitrary).
    decomposition: SymmetricEvd,
    /// How many raw eigenvalues were negative and clamped to 0.
    clamped: usize,
    /// Smallest raw eigenvalue, before clamping.
    min_raw: f64,
    /// Numerical rank: the number of eigenvalues above [`Spectrum::threshold`].
    rank: usize,
    /// λ_max/λ_min of the clamped eigenvalues (∞ when some eigenvalue is 0, NaN for K = 0).
    condition_number: f64,
    /// Absolute threshold τ·λ_max (τ = 10·N·ε): eigenvalues at or below it are numerically zero.
    threshold: f64,
}

impl Spectrum {
    /// Eigendecomposition of the full symmetric N×N matrix `k` (both triangles must be filled; the
    /// symmetry is checked to a relative 1e-10 of the largest entry), on a copy of `k`; see
    /// [`Spectrum::from_gram`] to decompose in K's own storage.
    pub fn compute(k: MatRef<'_, f64>) -> Result<Spectrum> {
        Self::decompose(Self::checked_copy(k)?, Reduction::TwoStage)
    }

    /// A copy of `k` to decompose, after the checks of [`Spectrum::compute`].
    fn checked_copy(k: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_square(k)?;
        check_symmetric_finite(k)?;
        memory::ensure_fits(
            "the eigendecomposition of the train Gram matrix (a copy of it and its factors)",
            crate::kernel::matrix_bytes(k.nrows(), k.nrows()) + extra_bytes(k.nrows()),
        )?;
        Ok(k.to_owned())
    }

    /// Eigendecomposition of the full symmetric N×N matrix `k`, consumed: it is tridiagonalised in
    /// its own storage, which then holds the Householder reflectors of V.
    pub fn from_gram(k: Mat<f64>) -> Result<Spectrum> {
        check_square(k.as_ref())?;
        check_symmetric_finite(k.as_ref())?;
        memory::ensure_fits(
            "the eigendecomposition of the train Gram matrix (its factors besides K)",
            extra_bytes(k.nrows()),
        )?;
        Self::decompose(k, Reduction::TwoStage)
    }

    /// [`Spectrum::compute`] for a caller that will form V itself ([`Spectrum::eigenvectors`]):
    /// the one-stage reduction, whose back-transformation to N columns costs about 2N³ flops
    /// instead of the two-stage reduction's 6N³ (docs/theory.md §8.3). The eigenvalues agree with
    /// [`Spectrum::compute`]'s to round-off, not bit for bit.
    pub fn compute_for_vectors(k: MatRef<'_, f64>) -> Result<Spectrum> {
        Self::decompose(Self::checked_copy(k)?, Reduction::OneStage)
    }

    fn decompose(k: Mat<f64>, reduction: Reduction) -> Result<Spectrum> {
        let evd = evd_pool()?
            .install(|| SymmetricEvd::with_reduction(k, reduction, Par::rayon(EVD_THREADS)))?;
        Ok(Self::from_parts(evd))
    }

    /// Builds the spectrum from raw ascending eigenvalues and their eigenvectors: clamps negatives,
    /// and derives the rank, threshold and condition number.
    fn from_parts(decomposition: SymmetricEvd) -> Spectrum {
        let raw = decomposition.eigenvalues();
        let n = raw.len();
        let min_raw = raw.first().copied().unwrap_or(0.0);
        let clamped = raw.iter().filter(|&&l| l < 0.0).count();
        let eigenvalues: Vec<f64> = raw.iter().map(|&l| l.max(0.0)).collect();
        let max = eigenvalues.last().copied().unwrap_or(0.0);
        let min = eigenvalues.first().copied().unwrap_or(0.0);
        let threshold = RELATIVE_TOLERANCE_FACTOR * n as f64 * f64::EPSILON * max;
        let rank = if max > 0.0 {
            eigenvalues.iter().filter(|&&l| l > threshold).count()
        } else {
            0
        };
        let condition_number = if max > 0.0 { max / min } else { f64::NAN };
        Spectrum {
            eigenvalues,
            decomposition,
            clamped,
            min_raw,
            rank,
            condition_number,
            threshold,
        }
    }

    /// Eigenvalues λ_1 ≤ … ≤ λ_N, negative round-off values clamped to 0.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// Orthonormal eigenvectors V (N×N), formed on request (8N² bytes; about 3N³ flops after
    /// [`Spectrum::compute_for_vectors`], 7N³ after [`Spectrum::compute`] or
    /// [`Spectrum::from_gram`]); column i belongs to eigenvalue i. Signs are arbitrary.
    pub fn eigenvectors(&self) -> Result<Mat<f64>> {
        let n = self.dim();
        memory::ensure_fits(
            "the eigenvectors of the train Gram matrix",
            crate::kernel::matrix_bytes(n, n),
        )?;
        evd_pool()?.install(|| Ok(self.decomposition.eigenvectors(Par::rayon(EVD_THREADS))))
    }

    /// V G for an N×T block G whose row i belongs to eigenvalue i (on the fixed EVD split, so the
    /// bits do not depend on `--threads`).
    pub fn apply_v(&self, g: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.check_rows(g)?;
        evd_pool()?.install(|| Ok(self.decomposition.apply_v(g, Par::rayon(EVD_THREADS))))
    }

    /// Vᵀ B for an N×T block B; row i of the result belongs to eigenvalue i.
    pub fn apply_vt(&self, b: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.check_rows(b)?;
        evd_pool()?.install(|| Ok(self.decomposition.apply_vt(b, Par::rayon(EVD_THREADS))))
    }

    fn check_rows(&self, b: MatRef<'_, f64>) -> Result<()> {
        if b.nrows() != self.dim() {
            return Err(Error::Mismatch(format!(
                "a block of {} rows cannot be multiplied by the {n}×{n} eigenvectors",
                b.nrows(),
                n = self.dim()
            )));
        }
        Ok(())
    }

    /// How many raw eigenvalues were negative and clamped to 0.
    pub fn clamped(&self) -> usize {
        self.clamped
    }

    /// Smallest raw eigenvalue, before clamping.
    pub fn min_raw(&self) -> f64 {
        self.min_raw
    }

    /// Numerical rank: the number of eigenvalues above [`Spectrum::threshold`].
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// λ_max/λ_min of the clamped eigenvalues (∞ when some eigenvalue is 0, NaN for K = 0).
    pub fn condition_number(&self) -> f64 {
        self.condition_number
    }

    /// Absolute threshold τ·λ_max (τ = 10·N·ε, §8.4): eigenvalues at or below it are numerically
    /// zero.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Dimension N.
    pub fn dim(&self) -> usize {
        self.eigenvalues.len()
    }

    /// Whether eigenvalue `i` is above the threshold (kept by the pseudo-inverse).
    pub fn is_retained(&self, i: usize) -> bool {
        self.rank > 0 && self.eigenvalues[i] > self.threshold
    }

    /// How many eigenvalues are numerically zero (N − rank).
    pub fn dropped(&self) -> usize {
        self.dim() - self.rank
    }
}

/// Bytes the eigendecomposition needs besides K's own storage: the eigenvectors of the two halves
/// of the tridiagonal matrix (2·(N/2)² entries) and faer's divide-and-conquer scratch for one half
/// (two (N/2)² matrices), together 8N² bytes (§8.3).
pub fn extra_bytes(n: usize) -> u64 {
    let (n1, n2) = (n / 2, n - n / 2);
    crate::kernel::matrix_bytes(n1, n1) + 3 * crate::kernel::matrix_bytes(n2, n2)
}

fn check_square(k: MatRef<'_, f64>) -> Result<()> {
    if k.ncols() != k.nrows() {
        return Err(Error::Mismatch(format!(
            "the train Gram matrix must be square, got {}×{}",
            k.nrows(),
            k.ncols()
        )));
    }
    Ok(())
}

fn check_symmetric_finite(k: MatRef<'_, f64>) -> Result<()> {
    let n = k.nrows();
    let mut scale: f64 = 0.0;
    for j in 0..n {
        for i in 0..n {
            let v = k[(i, j)];
            if !v.is_finite() {
                return Err(Error::Mismatch(format!(
                    "the train Gram matrix has a non-finite entry {v} at ({i}, {j})"
                )));
            }
            scale = scale.max(v.abs());
        }
    }
    let tol = 1e-10 * scale;
    for j in 0..n {
        for i in (j + 1)..n {
            if (k[(i, j)] - k[(j, i)]).abs() > tol {
                return Err(Error::Mismatch(format!(
                    "the train Gram matrix is not symmetric: K[{i},{j}] = {} but K[{j},{i}] = {}",
                    k[(i, j)],
                    k[(j, i)]
                )));
            }
        }
    }
    Ok(())
}
