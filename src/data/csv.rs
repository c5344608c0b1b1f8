//! Reading and writing datasets as CSV (optionally gzip-compressed).
//!
//! Format: a header row naming the columns; numeric feature columns; one label column named
//! exactly `y` with values ±1. Gzip input is detected by its magic bytes; a UTF-8 byte-order mark
//! and CRLF line ends are accepted.

use std::fs::File;
use std::io::{BufReader, Cursor, Read};
use std::path::Path;

use csv::ByteRecord;
use faer::Mat;
use flate2::read::MultiGzDecoder;

use super::Dataset;
use crate::io::write_atomic;
use crate::{Error, Result};

/// Name of the label column.
const LABEL: &str = "y";

/// Longest excerpt of a bad cell quoted in an error message.
const QUOTE_MAX: usize = 40;

/// Reads a dataset from a CSV file (plain or gzip), validating every cell.
///
/// Errors name the file and, for a bad cell or row, its 1-based line and column.
pub fn read_csv(path: &Path) -> Result<Dataset> {
    let (input, gz) = open_input(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let ctx = Ctx { path, gz };
    let mut record = ByteRecord::new();
    if !ctx.next_record(&mut reader, &mut record)? {
        return Err(ctx.file_error("the file is empty (no header row)"));
    }
    let layout = Layout::from_header(&ctx, &record)?;
    let mut values: Vec<f64> = Vec::new();
    let mut y: Vec<f64> = Vec::new();
    while ctx.next_record(&mut reader, &mut record)? {
        layout.parse_row(&ctx, &record, &mut values, &mut y)?;
    }
    if y.is_empty() {
        return Err(ctx.file_error("the file has a header but no data rows"));
    }
    let d = layout.names.len();
    let x = Mat::from_fn(y.len(), d, |i, j| values[i * d + j]);
    Dataset::with_names(x, y, layout.names)
}

/// Opens `path`, decompressing when it starts with the gzip magic bytes and skipping a UTF-8 BOM.
/// Returns the text stream and whether it was gzip.
fn open_input(path: &Path) -> Result<(Box<dyn Read>, bool)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let (magic, file) = peek(BufReader::with_capacity(1 << 16, file), 6, path)?;
    refuse_numpy(path, &magic)?;
    let gz = magic.starts_with(&[0x1f, 0x8b]);
    let raw = Cursor::new(magic).chain(file);
    let text: Box<dyn Read> = if gz {
        Box::new(MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let (bom, text) = peek(text, 3, path).map_err(|e| gzip_error(path, gz, e))?;
    let text: Box<dyn Read> = if bom == [0xEF, 0xBB, 0xBF] {
        Box::new(BufReader::with_capacity(1 << 16, text))
    } else {
        Box::new(BufReader::with_capacity(
            1 << 16,
            Cursor::new(bom).chain(text),
        ))
    };
    Ok((text, gz))
}

/// Refuses a NumPy array (`.npy`, magic `\x93NUMPY`) or archive (`.npz`, a zip file) given where a
/// table is expected, saying what the file is and what is expected instead.
fn refuse_numpy(path: &Path, magic: &[u8]) -> Result<()> {
    let what = if magic.starts_with(b"\x93NUMPY") {
        "a NumPy .npy array"
    } else if magic.starts_with(b"PK\x03\x04") {
        "a zip archive (a NumPy .npz file?)"
    } else {
        return Ok(());
    };
    Err(Error::File {
        path: path.display().to_string(),
        message: format!(
            "this is {what}, not a table: data files are CSV or CSV.gz with a header row naming \
             the feature columns and a label column `y` of ±1 (for example `x0,x1,y`)"
        ),
    })
}

/// Reads up to `n` leading bytes of `r`, returning them and a reader positioned after them.
fn peek<R: Read>(mut r: R, n: usize, path: &Path) -> Result<(Vec<u8>, R)> {
    let mut head = Vec::with_capacity(n);
    (&mut r)
        .take(n as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    Ok((head, r))
}

/// Turns a read error into "gzip stream is truncated or corrupt" when reading gzip input.
fn gzip_error(path: &Path, gz: bool, e: Error) -> Error {
    match e {
        Error::Io { source, .. } if gz => Error::File {
            path: path.display().to_string(),
            message: format!("the gzip stream is truncated or corrupt ({source})"),
        },
        other => other,
    }
}

/// The file being read, for error messages.
struct Ctx<'a> {
    path: &'a Path,
    gz: bool,
}

impl Ctx<'_> {
    /// Reads the next record; `Ok(false)` at end of input.
    fn next_record<R: Read>(
        &self,
        reader: &mut csv::Reader<R>,
        rec: &mut ByteRecord,
    ) -> Result<bool> {
        reader.read_byte_record(rec).map_err(|e| self.csv_error(e))
    }

    /// Maps a csv-crate error (in practice an I/O or decompression failure) to ours.
    fn csv_error(&self, e: csv::Error) -> Error {
        let line = e.position().map_or(0, |p| p.line());
        match e.into_kind() {
            csv::ErrorKind::Io(source) => {
                gzip_error(self.path, self.gz, Error::io(self.path, source))
            }
            other => self.parse_error(line, 0, format!("{other:?}")),
        }
    }

    /// An [`Error::File`] about this file.
    fn file_error(&self, message: impl Into<String>) -> Error {
        Error::File {
            path: self.path.display().to_string(),
            message: message.into(),
        }
    }

    /// An [`Error::Parse`] at 1-based `line` and `column`.
    fn parse_error(&self, line: u64, column: u64, message: impl Into<String>) -> Error {
        Error::Parse {
            path: self.path.display().to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// The column layout fixed by the header row.
struct Layout {
    /// Names of the feature columns, in file order.
    names: Vec<String>,
    /// 0-based field index of the label column.
    label: usize,
    /// Number of fields every row must have.
    width: usize,
}

impl Layout {
    /// Validates the header: UTF-8, non-empty and unique names, exactly one `y`, ≥ 1 feature.
    fn from_header(ctx: &Ctx, rec: &ByteRecord) -> Result<Self> {
        let line = rec.position().map_or(1, |p| p.line());
        if rec.iter().all(|field| parse_value(field).is_ok()) {
            return Err(ctx.parse_error(
                line,
                0,
                "the first line holds numbers, not column names: the file needs a header row \
                 naming the feature columns and the label column `y` (for example `x0,x1,y`)",
            ));
        }
        let mut names: Vec<String> = Vec::with_capacity(rec.len());
        for (j, field) in rec.iter().enumerate() {
            let col = j as u64 + 1;
            let name = std::str::from_utf8(field)
                .map_err(|_| ctx.parse_error(line, col, "header name is not valid UTF-8"))?
                .trim();
            if name.is_empty() {
                return Err(ctx.parse_error(line, col, "empty column name in the header"));
            }
            if let Some(first) = names.iter().position(|n| n == name) {
                return Err(ctx.parse_error(
                    line,
                    col,
                    format!(
                        "duplicate column name {:?} (also column {})",
                        name,
                        first + 1
                    ),
                ));
            }
            names.push(name.to_string());
        }
        let label = names.iter().position(|n| n == LABEL).ok_or_else(|| {
            ctx.file_error(format!("the header has no label column named `{LABEL}`"))
        })?;
        let width = names.len();
        names.remove(label);
        if names.is_empty() {
            return Err(ctx.file_error("the header has no feature columns (only `y`)"));
        }
        Ok(Layout {
            names,
            label,
            width,
        })
    }

    /// Parses one data row, appending its features to `values` and its label to `y`.
    fn parse_row(
        &self,
        ctx: &Ctx,
        rec: &ByteRecord,
        values: &mut Vec<f64>,
        y: &mut Vec<f64>,
    ) -> Result<()> {
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() != self.width {
            return Err(ctx.parse_error(
                line,
                0,
                format!("expected {} fields, found {}", self.width, rec.len()),
            ));
        }
        for (j, field) in rec.iter().enumerate() {
            let col = j as u64 + 1;
            if j == self.label {
                y.push(parse_label(field).map_err(|m| ctx.parse_error(line, col, m))?);
            } else {
                values.push(parse_value(field).map_err(|m| ctx.parse_error(line, col, m))?);
            }
        }
        Ok(())
    }
}

/// Parses a finite number. Plain non-negative integers take a fast exact path.
fn parse_value(field: &[u8]) -> std::result::Result<f64, String> {
    if let Some(v) = parse_small_uint(field) {
        return Ok(v);
    }
    let text =
        std::str::from_utf8(field).map_err(|_| "cell is not valid UTF-8 text".to_string())?;
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("not a number: \"{}\"", excerpt(text)))?;
    if !v.is_finite() {
        return Err(format!("value is not finite: \"{}\"", excerpt(text)));
    }
    Ok(v)
}

/// Parses 1–15 ASCII digits exactly (every such integer is representable in f64).
fn parse_small_uint(field: &[u8]) -> Option<f64> {
    if field.is_empty() || field.len() > 15 {
        return None;
    }
    let mut acc: u64 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        acc = acc * 10 + u64::from(b - b'0');
    }
    Some(acc as f64)
}

/// Parses a label: any number text equal to +1 or −1 ("1", "+1", "-1", "1.0", "-1.0", …).
fn parse_label(field: &[u8]) -> std::result::Result<f64, String> {
    let text = String::from_utf8_lossy(field);
    match text.trim().parse::<f64>() {
        Ok(v) if v == 1.0 || v == -1.0 => Ok(v),
        Ok(0.0) => Err(format!(
            "label must be +1 or -1, found \"{}\": labels 0/1 are not accepted; convert them \
             with y = 2·label − 1 (0 becomes −1, 1 stays +1)",
            excerpt(&text)
        )),
        _ => Err(format!(
            "label must be +1 or -1, found \"{}\"",
            excerpt(&text)
        )),
    }
}

/// The first 40 characters of `text`, with "…" when cut.
fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(QUOTE_MAX).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// Writes `ds` as CSV (`feature names…,y`), atomically; gzip when `path` ends in `.gz`.
///
/// Values use Rust's shortest round-trip formatting, so [`read_csv`] gives back identical `f64`s.
pub fn write_csv(ds: &Dataset, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        let csv_err = |e: csv::Error| Error::io(path, crate::io::csv_io_error(e));
        let mut writer = csv::Writer::from_writer(w);
        let mut header: Vec<&str> = ds.feature_names.iter().map(String::as_str).collect();
        header.push(LABEL);
        writer.write_record(&header).map_err(csv_err)?;
        let mut cell = String::new();
        for i in 0..ds.n() {
            for j in 0..ds.d() {
                cell.clear();
                crate::io::push_f64(&mut cell, ds.x[(i, j)]);
                writer.write_field(&cell).map_err(csv_err)?;
            }
            let label = if ds.y[i] > 0.0 { "1" } else { "-1" };
            writer.write_field(label).map_err(csv_err)?;
            writer.write_record(None::<&[u8]>).map_err(csv_err)?;
        }
        writer.flush().map_err(|e| Error::io(path, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_integer_path_agrees_with_std_parse() {
        for s in ["0", "7", "255", "000123", "999999999999999"] {
            assert_eq!(
                parse_value(s.as_bytes()),
                Ok(s.parse::<f64>().unwrap()),
                "{s}"
            );
        }
        assert_eq!(
            parse_value(b"-0").map(f64::to_bits),
            Ok((-0.0f64).to_bits())
        );
        assert_eq!(parse_value(b"1e3"), Ok(1000.0));
        assert!(parse_value(b"inf").is_err());
        assert!(parse_value(b"").is_err());
    }

    #[test]
    fn labels_accept_the_usual_spellings() {
        for (s, v) in [
            ("1", 1.0),
            ("+1", 1.0),
            ("-1", -1.0),
            ("1.0", 1.0),
            ("-1.0", -1.0),
        ] {
            assert_eq!(parse_label(s.as_bytes()), Ok(v), "{s}");
        }
        for s in ["0", "2", "yes", ""] {
            assert!(parse_label(s.as_bytes()).is_err(), "{s}");
        }
    }

    #[test]
    fn excerpt_truncates_to_forty_chars() {
        let long = "é".repeat(50);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), 41);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt("abc"), "abc");
    }
}
