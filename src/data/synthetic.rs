//! Synthetic datasets of §7.1: Gauss (pure noise, random labels) and Shifted Gauss.
//!
//! Row `n` draws only from `rng::stream(seed, domain::DATA, n)`, so the result does not depend on
//! the number of threads generating it.

use faer::Mat;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::Dataset;
use crate::rng::{self, StreamRng, domain};
use crate::{Error, Result, memory};

/// Default mean shift of Shifted Gauss (the paper's 0.3).
pub const DEFAULT_SHIFT: f64 = 0.3;

/// Gauss: `x ~ N(0, I_d)` and `y` uniform on {±1}, independent.
///
/// Each row draws its label first, then its `d` features.
pub fn gauss(n: usize, d: usize, seed: u64) -> Result<Dataset> {
    generate(
        n,
        d,
        seed,
        |_, rng| {
            if rng.random::<bool>() { 1.0 } else { -1.0 }
        },
        |_| 0.0,
    )
}

/// Shifted Gauss: rows `0..N/2` from `N(+shift·1, I_d)` with label +1, the rest from
/// `N(−shift·1, I_d)` with label −1. `N` must be even.
pub fn shifted_gauss(n: usize, d: usize, shift: f64, seed: u64) -> Result<Dataset> {
    if !n.is_multiple_of(2) {
        return Err(Error::invalid(
            "n",
            format!("shifted_gauss needs an even number of samples, got {n}"),
        ));
    }
    if !shift.is_finite() {
        return Err(Error::invalid("shift", format!("{shift} is not finite")));
    }
    let half = n / 2;
    let label = move |row: usize| if row < half { 1.0 } else { -1.0 };
    generate(
        n,
        d,
        seed,
        move |row, _| label(row),
        move |row| shift * label(row),
    )
}

/// Generates `n` rows in parallel: row `r` gets label `label(r, rng)` and features
/// `mean(r) + z` with `z` standard normal, all from the row's own stream.
fn generate(
    n: usize,
    d: usize,
    seed: u64,
    label: impl Fn(usize, &mut StreamRng) -> f64 + Sync,
    mean: impl Fn(usize) -> f64 + Sync,
) -> Result<Dataset> {
    check_size(n, d)?;
    let mut buf = vec![0.0f64; n * d];
    let mut y = vec![0.0f64; n];
    buf.par_chunks_mut(d)
        .zip(y.par_iter_mut())
        .enumerate()
        .for_each(|(r, (row, yr))| {
            let mut rng = rng::stream(seed, domain::DATA, r as u64);
            *yr = label(r, &mut rng);
            let m = mean(r);
            for v in row.iter_mut() {
                let z: f64 = StandardNormal.sample(&mut rng);
                *v = m + z;
            }
        });
    let x = Mat::from_fn(n, d, |i, j| buf[i * d + j]);
    drop(buf);
    Dataset::new(x, y)
}

/// Refuses empty or over-large sizes before allocating (two copies of `n·d` f64 are held).
fn check_size(n: usize, d: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid(
            "n",
            "the number of samples must be positive",
        ));
    }
    if d == 0 {
        return Err(Error::invalid("d", "the dimension must be positive"));
    }
    let bytes = n
        .checked_mul(d)
        .and_then(|c| c.checked_mul(16))
        .ok_or_else(|| Error::invalid("n", format!("{n} × {d} samples is too large")))?;
    memory::ensure_fits("generating the dataset", bytes as u64)
}
