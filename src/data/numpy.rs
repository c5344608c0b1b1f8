//! Datasets from NumPy files: a feature array `X.npy` (N × d) with a label array `y.npy` (N), or
//! one `.npz` archive holding arrays `X` and `y`; and [`read_dataset`], the one function that reads
//! a dataset file of any supported format.

use std::path::Path;

use faer::Mat;

use super::Dataset;
use super::csv::{ZERO_ONE_HINT, read_csv};
use crate::io::{NpyArray, read_npy_array, read_npz_arrays, shape_text};
use crate::{Error, Result};

/// What a dataset file is, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// A CSV table, plain or gzip.
    Csv,
    /// A NumPy `.npy` array (features only).
    Npy,
    /// A zip archive: a NumPy `.npz` file.
    Npz,
}

/// Looks at the magic bytes of `path`.
fn sniff(path: &Path) -> Result<Format> {
    use std::io::Read;
    let mut head = [0u8; 6];
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    let head = &head[..got];
    Ok(if head.starts_with(b"\x93NUMPY") {
        Format::Npy
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Format::Npz
    } else {
        Format::Csv
    })
}

/// Reads a dataset from `path`, whatever its format (told by its first bytes, not its name):
///
/// - a CSV or CSV.gz table with a label column `y` ([`read_csv`]); `labels` must be `None`;
/// - a `.npz` archive with a 2-D array `X` (N × d) and a label array `y` of N values ±1 (shape
///   `(N,)` or `(N, 1)`); `labels` must be `None`;
/// - a 2-D `.npy` feature array, with `labels` the `.npy` file of its N labels ±1.
///
/// Any numeric dtype is read and converted to `f64`; labels 0/1 are refused with the conversion
/// to use. `labels_param` names the parameter of `labels` in errors (e.g. `train_labels`).
pub fn read_dataset(path: &Path, labels: Option<&Path>, labels_param: &str) -> Result<Dataset> {
    let format = sniff(path)?;
    if let (Some(l), Format::Csv | Format::Npz) = (labels, format) {
        let what = if format == Format::Csv {
            "a CSV table, which carries its labels in column `y`"
        } else {
            "a .npz archive, which carries its labels as array `y`"
        };
        return Err(Error::invalid(
            labels_param,
            format!(
                "{} is given but {} is {what}; labels files go with .npy feature arrays only",
                l.display(),
                path.display()
            ),
        ));
    }
    match format {
        Format::Csv => read_csv(path),
        Format::Npz => {
            let mut arrays = read_npz_arrays(path, &["X", "y"])?.into_iter();
            match (arrays.next(), arrays.next()) {
                (Some(x), Some(y)) => from_arrays(path, &x, path, &y),
                _ => Err(Error::File {
                    path: path.display().to_string(),
                    message: "could not read arrays `X` and `y`".into(),
                }),
            }
        }
        Format::Npy => {
            let labels = labels.ok_or_else(|| {
                Error::invalid(
                    labels_param,
                    format!(
                        "{} is a .npy array of features only: give the labels too, a .npy array \
                         of N values ±1 (or pass one .npz archive with arrays `X` and `y`)",
                        path.display()
                    ),
                )
            })?;
            let x = read_npy_array(path)?;
            let y = read_npy_array(labels)?;
            from_arrays(path, &x, labels, &y)
        }
    }
}

/// Builds a dataset from a feature array (from `x_path`) and a label array (from `y_path`; the
/// same path for a `.npz` archive), checking shapes, finiteness and labels.
fn from_arrays(x_path: &Path, x: &NpyArray, y_path: &Path, y: &NpyArray) -> Result<Dataset> {
    let archive = x_path == y_path;
    // How a message names an array: by its name inside an archive, as "the array" in its own file.
    let subject = |name: &str| {
        if archive {
            format!("array `{name}`")
        } else {
            "the array".to_string()
        }
    };
    let file_error = |path: &Path, message: String| Error::File {
        path: path.display().to_string(),
        message,
    };
    let &[n, d] = x.shape.as_slice() else {
        return Err(file_error(
            x_path,
            format!(
                "{} has shape {}: features need a 2-D shape (N, d), one row per sample",
                subject("X"),
                shape_text(&x.shape)
            ),
        ));
    };
    if !matches!(y.shape.as_slice(), [m] | [m, 1] if *m == n) {
        return Err(if archive {
            file_error(
                y_path,
                format!(
                    "array `y` has shape {} but array `X` has shape {}: labels need shape ({n},) \
                     or ({n}, 1)",
                    shape_text(&y.shape),
                    shape_text(&x.shape)
                ),
            )
        } else {
            Error::Mismatch(format!(
                "labels {} have shape {} but features {} have shape {}: labels need shape ({n},) \
                 or ({n}, 1)",
                y_path.display(),
                shape_text(&y.shape),
                x_path.display(),
                shape_text(&x.shape)
            ))
        });
    }
    if n == 0 || d == 0 {
        return Err(file_error(
            x_path,
            format!(
                "{} has shape {}: it needs at least one sample and one feature",
                subject("X"),
                shape_text(&x.shape)
            ),
        ));
    }
    if let Some(k) = x.data.iter().position(|v| !v.is_finite()) {
        let (i, j) = if x.fortran_order {
            (k % n, k / n)
        } else {
            (k / d, k % d)
        };
        return Err(file_error(
            x_path,
            format!(
                "{} has {} at [{i}, {j}] (row {i}, feature {j}): features must be finite",
                subject("X"),
                x.data[k]
            ),
        ));
    }
    if let Some(k) = y.data.iter().position(|&v| v != 1.0 && v != -1.0) {
        let hint = if y.data.iter().all(|&v| v == 0.0 || v == 1.0) {
            format!("; {ZERO_ONE_HINT}")
        } else {
            String::new()
        };
        return Err(file_error(
            y_path,
            format!(
                "{} has {} at [{k}]: labels must be +1 or -1{hint}",
                subject("y"),
                y.data[k]
            ),
        ));
    }
    let x = x.to_mat().unwrap_or_else(|| Mat::zeros(n, d));
    Dataset::new(x, y.data.clone())
}
