//! CSV tables and the TOML run configuration.

use std::path::Path;

use faer::MatRef;

use super::write_atomic;
use crate::{Error, Result};

/// Writes `m` as CSV with header `c0,…,c{k-1}` and one line per row, atomically.
///
/// Values use Rust's shortest round-trip formatting, so reading them back gives the same `f64`s.
pub fn write_matrix_csv(path: &Path, m: MatRef<'_, f64>) -> Result<()> {
    write_matrix_table(path, &[], "c", m)
}

/// Writes a table whose columns are the `leading` named columns followed by the columns of `m`,
/// named `{prefix}0`, `{prefix}1`, …, one line per row of `m`, with the csv crate, atomically (gzip
/// when the name ends in `.gz`). Values are written as [`push_f64`] writes them.
pub fn write_matrix_table(
    path: &Path,
    leading: &[(&str, &[f64])],
    prefix: &str,
    m: MatRef<'_, f64>,
) -> Result<()> {
    write_atomic(path, |w| {
        let csv_err = |e: csv::Error| Error::io(path, std::io::Error::other(e));
        // csv's flush would also flush a gzip stream, adding a sync block: the stream is
        // finished by write_atomic instead.
        let mut writer = csv::Writer::from_writer(NoFlush(w));
        let header: Vec<String> = leading
            .iter()
            .map(|(name, _)| name.to_string())
            .chain((0..m.ncols()).map(|j| format!("{prefix}{j}")))
            .collect();
        writer.write_record(&header).map_err(csv_err)?;
        let mut record: Vec<String> = Vec::with_capacity(header.len());
        for i in 0..m.nrows() {
            record.clear();
            let values = leading
                .iter()
                .map(|(_, column)| column[i])
                .chain((0..m.ncols()).map(|j| m[(i, j)]));
            for v in values {
                let mut cell = String::new();
                push_f64(&mut cell, v);
                record.push(cell);
            }
            writer.write_record(&record).map_err(csv_err)?;
        }
        writer.flush().map_err(|e| Error::io(path, e))
    })
}

/// A writer whose flush does nothing (the data still reaches the inner writer on every write).
struct NoFlush<W>(W);

impl<W: std::io::Write> std::io::Write for NoFlush<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Appends the shortest round-trip text of `v` to `out`.
pub fn push_f64(out: &mut String, v: f64) {
    use std::fmt::Write as _;
    // An undefined quantity (NaN, ±inf) is an empty cell: no table ever holds NaN.
    if !v.is_finite() {
        return;
    }
    // Writing into a String cannot fail.
    let _ = write!(out, "{v}");
}

/// Writes serialisable records as a tidy CSV table with a header row, atomically
/// (gzip when the name ends in `.gz`). An empty slice gives an empty file.
pub fn write_rows<R: serde::Serialize>(path: &Path, rows: &[R]) -> Result<()> {
    write_atomic(path, |w| {
        let csv_err = |e: csv::Error| Error::io(path, csv_io_error(e));
        let mut writer = csv::Writer::from_writer(w);
        for row in rows {
            writer.serialize(row).map_err(csv_err)?;
        }
        writer.flush().map_err(|e| Error::io(path, e))
    })
}

/// The I/O error inside a csv-crate error (a full disk stays a full disk), or the error as text.
pub(crate) fn csv_io_error(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(source) => source,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Writes `config` as pretty TOML to `dir/config.toml`, atomically.
pub fn write_config<T: serde::Serialize>(dir: &Path, config: &T) -> Result<()> {
    let path = dir.join("config.toml");
    let text =
        toml::to_string_pretty(config).map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
    write_atomic(&path, |w| {
        w.write_all(text.as_bytes())
            .map_err(|e| Error::io(&path, e))
    })
}
