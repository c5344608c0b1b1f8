//! Symmetric eigendecomposition K = V Λ Vᵀ of the train Gram matrix, computed once and shared by every
//! time t of the mse solver (§13.2).
//!
//! # Method
//!
//! [`Spectrum::compute`] runs `evd::self_adjoint_evd` (src/dynamics/evd.rs): a blocked (LAPACK
//! `dsytrd`-style) tridiagonalisation with a hand-written symmetric matrix-vector product, then
//! faer's tridiagonal divide-and-conquer and block Householder back-transformation. On the 2-core
//! development machine, for the NTK Gram of `data gauss --n 4000 --d 50 --seed 1`, it took 6.2 s
//! (median over 5 rounds of 3 runs) against 8.5 s for faer's own `self_adjoint_evd` and 5.6 s for
//! LAPACK `dsyevd` through SciPy (`benches/lapack_evd.py`), interleaved in the same session; that
//! file says where the time goes. At N = 2000, where the matrix fits in cache, all three take
//! 0.6–0.8 s.
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

use super::evd;

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
    /// Orthonormal eigenvectors V (N×N), column i belongs to `eigenvalues[i]`. Signs are arbitrary.
    eigenvectors: Mat<f64>,
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
    /// symmetry is checked to a relative 1e-10 of the largest entry).
    pub fn compute(k: MatRef<'_, f64>) -> Result<Spectrum> {
        let n = k.nrows();
        if k.ncols() != n {
            return Err(Error::Mismatch(format!(
                "the train Gram matrix must be square, got {}×{}",
                n,
                k.ncols()
            )));
        }
        check_symmetric_finite(k)?;
        // The working copy, U and faer's EVD scratch (3·8N², of which the tridiagonal
        // divide-and-conquer touches at most 2·8N²).
        memory::ensure_fits(
            "the eigendecomposition of the train Gram matrix",
            5 * crate::kernel::matrix_bytes(n, n),
        )?;
        let (raw, v) = if n > 0 {
            evd_pool()?.install(|| evd::self_adjoint_evd(k, Par::rayon(EVD_THREADS)))?
        } else {
            (Vec::new(), Mat::zeros(0, 0))
        };
        Ok(Self::from_parts(raw, v))
    }

    /// Builds the spectrum from raw ascending eigenvalues and their eigenvectors: clamps negatives,
    /// and derives the rank, threshold and condition number.
    fn from_parts(raw: Vec<f64>, eigenvectors: Mat<f64>) -> Spectrum {
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
            eigenvectors,
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

    /// Orthonormal eigenvectors V (N×N); column i belongs to eigenvalue i. Signs are arbitrary.
    pub fn eigenvectors(&self) -> MatRef<'_, f64> {
        self.eigenvectors.as_ref()
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
