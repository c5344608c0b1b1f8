//! Output and array files: atomic writes, NumPy `.npy` arrays and `.npz` archives, CSV tables, run configuration and the
//! output directory of a run.
//!
//! Every writer goes through [`write_atomic`], so a crash or an error never leaves a half-written
//! file at the destination path. Paths ending in `.gz` are gzip-compressed transparently.

mod atomic;
mod npy;
mod npy_stream;
mod npz;
mod output_dir;
mod table;

pub use atomic::write_atomic;
pub use npy::{NpyArray, parse_npy, read_npy, read_npy_array, shape_text, write_npy};
pub use npy_stream::NpyMatrixFile;
pub use npz::read_npz_arrays;
pub use output_dir::OutputDir;
pub(crate) use table::csv_io_error;
pub use table::push_f64;
pub use table::{write_config, write_matrix_csv, write_matrix_table, write_rows};

use std::path::Path;

/// Whether `path` names a gzip file by its extension (`.gz`).
pub fn is_gz_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}
