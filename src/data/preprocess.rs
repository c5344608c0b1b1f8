//! Preprocessing of loaded datasets: random subsets, scaling and centring (§7.1).

use std::path::Path;

use rand::RngExt;
use serde::Serialize;

use super::{Dataset, read_dataset};
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
    /// Seed of the random subsets (`--subset-seed`, the configuration key `subset_seed`): on its
    /// own, so the rows do not change with the seed of the network.
    pub seed: u64,
}

/// Which rows of the input files a loaded dataset holds: row i of the subset is row `train[i]`
/// (0-based, data rows after the header) of the training file; `None` when no subset was taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Source rows of the training subset.
    pub train: Option<Vec<usize>>,
    /// Source rows of the test subset.
    pub test: Option<Vec<usize>>,
}

/// File name of the training rows of a subset, written beside every output that used one.
pub const TRAIN_ROWS_FILE: &str = "rows.csv";
/// File name of the test rows of a test subset.
pub const TEST_ROWS_FILE: &str = "test_rows.csv";

impl Selection {
    /// Writes `rows.csv` and `test_rows.csv` into `dir` for the subsets that were taken:
    /// (output_row, source_row, label), with `train` and `test` the selected datasets.
    pub fn write(&self, dir: &Path, train: &Dataset, test: Option<&Dataset>) -> Result<()> {
        if let Some(rows) = &self.train {
            write_row_map(
                &dir.join(TRAIN_ROWS_FILE),
                &[],
                &[(Vec::new(), rows, &train.y)],
            )?;
        }
        if let (Some(rows), Some(test)) = (&self.test, test) {
            write_row_map(
                &dir.join(TEST_ROWS_FILE),
                &[],
                &[(Vec::new(), rows, &test.y)],
            )?;
        }
        Ok(())
    }
}

/// One block of a row map: values of the leading columns, source rows, and the labels of the
/// selected rows (in output order).
pub type RowBlock<'a> = (Vec<String>, &'a [usize], &'a [f64]);

/// Writes a row map `<lead columns…>,output_row,source_row,label`, one line per selected row of
/// each block, atomically.
pub fn write_row_map(path: &Path, lead: &[String], blocks: &[RowBlock<'_>]) -> Result<()> {
    let mut text = String::new();
    for name in lead {
        text.push_str(name);
        text.push(',');
    }
    text.push_str("output_row,source_row,label\n");
    for (values, rows, labels) in blocks {
        for (i, (&source, &label)) in rows.iter().zip(labels.iter()).enumerate() {
            for v in values {
                text.push_str(&csv_cell(v));
                text.push(',');
            }
            text.push_str(&format!("{i},{source},{label}\n"));
        }
    }
    crate::io::write_atomic(path, |w| {
        w.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))
    })
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
fn csv_cell(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// A uniformly random subset of `n` rows of `ds`, kept in their original order.
///
/// Seeded by `rng::stream(seed, domain::SUBSET, 0)`; `n` must be between 1 and `N`.
pub fn random_subset(ds: &Dataset, n: usize, seed: u64) -> Result<Dataset> {
    subset_with_flag(ds, n, seed, "subset")
}

/// [`random_subset`] with the flag to blame in errors.
fn subset_with_flag(ds: &Dataset, n: usize, seed: u64, flag: &str) -> Result<Dataset> {
    let rows = subset_rows(ds.n(), n, seed, flag)?;
    Ok(ds.select_rows(&rows))
}

/// The rows (ascending) of a uniformly random n-subset of `total` rows, seeded by
/// `rng::stream(seed, domain::SUBSET, 0)`.
fn subset_rows(total: usize, n: usize, seed: u64, flag: &str) -> Result<Vec<usize>> {
    if n == 0 || n > total {
        return Err(Error::invalid(
            flag,
            format!("{n} rows requested but the dataset has {total} (need 1..={total})"),
        ));
    }
    let mut rng = rng::stream(seed, domain::SUBSET, 0);
    // Partial Fisher–Yates shuffle: the first n entries are a uniform n-subset.
    let mut idx: Vec<usize> = (0..total).collect();
    for i in 0..n {
        let j = rng.random_range(i..total);
        idx.swap(i, j);
    }
    idx.truncate(n);
    idx.sort_unstable();
    Ok(idx)
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
    load_selected(train, test, pre).map(|(train, test, _)| (train, test))
}

/// [`load`], also returning which rows of the files the subsets hold.
pub fn load_selected(
    train: &Path,
    test: Option<&Path>,
    pre: &Preprocess,
) -> Result<(Dataset, Option<Dataset>, Selection)> {
    load_sources(train.into(), test.map(Source::from), pre)
}

/// A dataset on disk: a CSV / CSV.gz table or a `.npz` archive, or a `.npy` feature array with
/// the `.npy` array of its labels (see [`read_dataset`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// The table, archive or feature array.
    pub path: &'a Path,
    /// The labels of a `.npy` feature array.
    pub labels: Option<&'a Path>,
}

impl<'a> From<&'a Path> for Source<'a> {
    fn from(path: &'a Path) -> Self {
        Source { path, labels: None }
    }
}

/// [`load_selected`] from sources of any format: `.npy` labels are blamed on the parameters
/// `train_labels` and `test_labels`.
pub fn load_sources(
    train: Source<'_>,
    test: Option<Source<'_>>,
    pre: &Preprocess,
) -> Result<(Dataset, Option<Dataset>, Selection)> {
    check_options(pre, test.is_some())?;
    let mut train_ds = read_dataset(train.path, train.labels, "train_labels")?;
    let mut test_ds = match test {
        Some(source) => Some(read_test(train.path, &train_ds, source)?),
        None => None,
    };
    let mut selection = Selection::default();
    if let Some(n) = pre.subset {
        let rows = subset_rows(train_ds.n(), n, pre.seed, "subset")?;
        train_ds = train_ds.select_rows(&rows);
        selection.train = Some(rows);
    }
    if let (Some(n), Some(t)) = (pre.test_subset, test_ds.as_ref()) {
        let seed = rng::derive_seed(pre.seed, domain::SUBSET, 1);
        let rows = subset_rows(t.n(), n, seed, "test_subset")?;
        test_ds = Some(t.select_rows(&rows));
        selection.test = Some(rows);
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
    Ok((train_ds, test_ds, selection))
}

/// Rejects a non-positive or non-finite scale and a test subset without a test file.
fn check_options(pre: &Preprocess, has_test: bool) -> Result<()> {
    if let Some(s) = pre.scale
        && !(s.is_finite() && s > 0.0)
    {
        return Err(Error::invalid(
            "scale",
            format!("{s} must be finite and positive"),
        ));
    }
    if pre.test_subset.is_some() && !has_test {
        return Err(Error::invalid("test_subset", "given without a test file"));
    }
    Ok(())
}

/// Reads the test file and checks that its dimension matches the training set's.
fn read_test(train: &Path, train_ds: &Dataset, source: Source<'_>) -> Result<Dataset> {
    let path = source.path;
    let t = read_dataset(path, source.labels, "test_labels")?;
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
