//! Preprocessing of loaded datasets: random subsets, scaling and centring (§7.1).

use std::path::Path;

use rand::RngExt;
use serde::Serialize;

use super::{Dataset, read_csv};
use crate::rng::{self, domain};
use crate::{Error, Result};

crate::named_enum! {
    /// What `--center` subtracts.
    pub enum Center {
        /// One scalar: the mean of every training feature value (the paper's "minus the dataset mean").
        Scalar = "scalar",
        /// Each feature's own training mean.
        PerFeature = "per-feature",
    }
}

/// Preprocessing options, applied by [`load`] in the order subset → scale → center.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Preprocess {
    /// Divide every feature by this value (e.g. 255 for pixels); must be finite and positive.
    pub scale: Option<f64>,
    /// Subtract the training set's mean (one scalar over all features, as in §7.1, or per feature)
    /// from the training and test sets.
    pub center: Option<Center>,
    /// Keep this many randomly chosen training rows.
    pub subset: Option<usize>,
    /// Keep this many randomly chosen test rows.
    pub test_subset: Option<usize>,
    /// Seed of the random subsets.
    pub seed: u64,
}

/// A uniformly random subset of `n` rows of `ds`, kept in their original order.
///
/// Seeded by `rng::stream(seed, domain::SUBSET, 0)`; `n` must be between 1 and `N`.
pub fn random_subset(ds: &Dataset, n: usize, seed: u64) -> Result<Dataset> {
    subset_with_flag(ds, n, seed, "--subset")
}

/// [`random_subset`] with the flag to blame in errors.
fn subset_with_flag(ds: &Dataset, n: usize, seed: u64, flag: &str) -> Result<Dataset> {
    if n == 0 || n > ds.n() {
        return Err(Error::invalid(
            flag,
            format!(
                "{n} rows requested but the dataset has {} (need 1..={})",
                ds.n(),
                ds.n()
            ),
        ));
    }
    let mut rng = rng::stream(seed, domain::SUBSET, 0);
    // Partial Fisher–Yates shuffle: the first n entries are a uniform n-subset.
    let mut idx: Vec<usize> = (0..ds.n()).collect();
    for i in 0..n {
        let j = rng.random_range(i..ds.n());
        idx.swap(i, j);
    }
    idx.truncate(n);
    idx.sort_unstable();
    Ok(ds.select_rows(&idx))
}

/// Reads the training set (and optional test set) and applies `pre`.
///
/// Checks that both files have the same dimension ([`Error::Mismatch`] naming both), takes the
/// subsets (the test subset uses a seed derived from `pre.seed`), divides by `scale`, then
/// subtracts the *training* mean (scalar or per feature) from both sets when `center` is set.
pub fn load(
    train: &Path,
    test: Option<&Path>,
    pre: &Preprocess,
) -> Result<(Dataset, Option<Dataset>)> {
    check_options(pre, test.is_some())?;
    let mut train_ds = read_csv(train)?;
    let mut test_ds = match test {
        Some(path) => Some(read_test(train, &train_ds, path)?),
        None => None,
    };
    if let Some(n) = pre.subset {
        train_ds = subset_with_flag(&train_ds, n, pre.seed, "--subset")?;
    }
    if let (Some(n), Some(t)) = (pre.test_subset, test_ds.as_ref()) {
        let seed = rng::derive_seed(pre.seed, domain::SUBSET, 1);
        test_ds = Some(subset_with_flag(t, n, seed, "--test-subset")?);
    }
    if let Some(s) = pre.scale {
        scale(&mut train_ds, s);
        test_ds.iter_mut().for_each(|t| scale(t, s));
    }
    if let Some(mode) = pre.center {
        let mut mean = column_means(&train_ds);
        if mode == Center::Scalar {
            let grand = mean.iter().sum::<f64>() / mean.len().max(1) as f64;
            mean.iter_mut().for_each(|m| *m = grand);
        }
        subtract(&mut train_ds, &mean);
        test_ds.iter_mut().for_each(|t| subtract(t, &mean));
    }
    Ok((train_ds, test_ds))
}

/// Rejects a non-positive or non-finite scale and a test subset without a test file.
fn check_options(pre: &Preprocess, has_test: bool) -> Result<()> {
    if let Some(s) = pre.scale
        && !(s.is_finite() && s > 0.0)
    {
        return Err(Error::invalid(
            "--scale",
            format!("{s} must be finite and positive"),
        ));
    }
    if pre.test_subset.is_some() && !has_test {
        return Err(Error::invalid("--test-subset", "given without a test file"));
    }
    Ok(())
}

/// Reads the test file and checks that its dimension matches the training set's.
fn read_test(train: &Path, train_ds: &Dataset, path: &Path) -> Result<Dataset> {
    let t = read_csv(path)?;
    if t.d() != train_ds.d() {
        return Err(Error::Mismatch(format!(
            "training file {} has d = {} features but test file {} has d = {}",
            train.display(),
            train_ds.d(),
            path.display(),
            t.d()
        )));
    }
    Ok(t)
}

/// Divides every feature by `s`.
fn scale(ds: &mut Dataset, s: f64) {
    let inv = 1.0 / s;
    ds.x.as_mut()
        .col_iter_mut()
        .for_each(|c| c.iter_mut().for_each(|v| *v *= inv));
}

/// Per-feature mean over the rows of `ds`.
fn column_means(ds: &Dataset) -> Vec<f64> {
    let n = ds.n() as f64;
    (0..ds.d())
        .map(|j| ds.x.col(j).iter().sum::<f64>() / n)
        .collect()
}

/// Subtracts `mean[j]` from feature `j` of every row.
fn subtract(ds: &mut Dataset, mean: &[f64]) {
    for (j, c) in ds.x.as_mut().col_iter_mut().enumerate() {
        c.iter_mut().for_each(|v| *v -= mean[j]);
    }
}
