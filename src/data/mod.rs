//! Datasets: the in-memory [`Dataset`], synthetic generators (§7.1 Gauss and Shifted Gauss), CSV
//! reading and writing, NumPy input (`.npy` feature and label arrays, `.npz` archives) and
//! preprocessing (subset, scale, centre).

mod csv;
mod numpy;
mod preprocess;
mod synthetic;

pub use csv::{read_csv, write_csv};
pub use numpy::read_dataset;
pub use preprocess::{
    Center, Preprocess, RowBlock, Selection, Source, TEST_ROWS_FILE, TRAIN_ROWS_FILE, load,
    load_selected, load_sources, random_subset, write_row_map,
};
pub use synthetic::{DEFAULT_SHIFT, gauss, shifted_gauss};

use faer::Mat;

use crate::{Error, Result};

/// A binary classification dataset: `N` samples of dimension `d` with labels ±1.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Features, `N × d`: row `n` is sample `n`.
    pub x: Mat<f64>,
    /// Labels, each exactly `+1.0` or `-1.0`.
    pub y: Vec<f64>,
    /// One name per feature column.
    pub feature_names: Vec<String>,
}

impl Dataset {
    /// Builds a dataset with feature names `x0..x{d-1}`.
    ///
    /// Checks that there is one label per row, that every label is exactly ±1 and that every
    /// feature is finite.
    pub fn new(x: Mat<f64>, y: Vec<f64>) -> Result<Self> {
        let names = (0..x.ncols()).map(|j| format!("x{j}")).collect();
        Self::with_names(x, y, names)
    }

    /// Like [`Dataset::new`] with explicit feature names (one per column).
    pub(crate) fn with_names(x: Mat<f64>, y: Vec<f64>, feature_names: Vec<String>) -> Result<Self> {
        if y.len() != x.nrows() {
            return Err(Error::Mismatch(format!(
                "dataset has {} rows but {} labels",
                x.nrows(),
                y.len()
            )));
        }
        if feature_names.len() != x.ncols() {
            return Err(Error::Mismatch(format!(
                "dataset has {} feature columns but {} feature names",
                x.ncols(),
                feature_names.len()
            )));
        }
        if let Some(n) = y.iter().position(|&v| v != 1.0 && v != -1.0) {
            return Err(Error::invalid(
                "labels",
                format!("label of row {n} is {} (must be +1 or -1)", y[n]),
            ));
        }
        check_finite(&x)?;
        Ok(Dataset {
            x,
            y,
            feature_names,
        })
    }

    /// Number of samples `N`.
    pub fn n(&self) -> usize {
        self.x.nrows()
    }

    /// Feature dimension `d`.
    pub fn d(&self) -> usize {
        self.x.ncols()
    }

    /// The dataset restricted to `rows`, in the given order (indices may repeat).
    ///
    /// Panics if an index is `>= N`; callers pass indices they computed from `N`.
    pub fn select_rows(&self, rows: &[usize]) -> Dataset {
        Dataset {
            x: Mat::from_fn(rows.len(), self.d(), |i, j| self.x[(rows[i], j)]),
            y: rows.iter().map(|&r| self.y[r]).collect(),
            feature_names: self.feature_names.clone(),
        }
    }
}

/// Fails if any entry of `x` is NaN or infinite, naming its row and column (0-based).
fn check_finite(x: &Mat<f64>) -> Result<()> {
    for j in 0..x.ncols() {
        if let Some(i) = x.col(j).iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "features",
                format!("feature {j} of row {i} is {} (must be finite)", x[(i, j)]),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_validates_labels_lengths_and_finiteness() {
        let x = Mat::from_fn(2, 3, |i, j| (i * 3 + j) as f64);
        let ds = Dataset::new(x.clone(), vec![1.0, -1.0]).unwrap();
        assert_eq!((ds.n(), ds.d()), (2, 3));
        assert_eq!(ds.feature_names, ["x0", "x1", "x2"]);
        assert!(matches!(
            Dataset::new(x.clone(), vec![1.0]),
            Err(Error::Mismatch(_))
        ));
        assert!(Dataset::new(x.clone(), vec![1.0, 0.0]).is_err());
        let mut bad = x;
        bad[(1, 2)] = f64::NAN;
        assert!(Dataset::new(bad, vec![1.0, -1.0]).is_err());
    }

    #[test]
    fn select_rows_keeps_given_order() {
        let x = Mat::from_fn(4, 2, |i, j| (10 * i + j) as f64);
        let ds = Dataset::new(x, vec![1.0, -1.0, -1.0, 1.0]).unwrap();
        let s = ds.select_rows(&[3, 1]);
        assert_eq!(s.y, [1.0, -1.0]);
        assert_eq!(s.x[(0, 1)], 31.0);
        assert_eq!(s.x[(1, 0)], 10.0);
    }
}
