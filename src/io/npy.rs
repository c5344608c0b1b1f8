//! NumPy `.npy` arrays of `f64` (format version 1.0 on write; 1.0–3.0 on read).

use std::path::Path;

use faer::{Mat, MatRef};

use super::write_atomic;
use crate::{Error, Result};

/// The six magic bytes every `.npy` file starts with.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Alignment of the data start required by the format.
const ALIGN: usize = 64;

/// Writes `m` as a 2-D little-endian `f64` array in C (row-major) order, atomically.
///
/// The header is padded with spaces and a final `\n` so the data start is 64-byte aligned.
pub fn write_npy(path: &Path, m: MatRef<'_, f64>) -> Result<()> {
    let header = npy_header(m.nrows(), m.ncols());
    write_atomic(path, |w| {
        w.write_all(&header).map_err(|e| Error::io(path, e))?;
        let mut row = Vec::with_capacity(m.ncols() * 8);
        for i in 0..m.nrows() {
            row.clear();
            for j in 0..m.ncols() {
                row.extend_from_slice(&m[(i, j)].to_le_bytes());
            }
            w.write_all(&row).map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
}

/// The complete version-1.0 header (magic, version, length, padded dict) for a `rows × cols` array.
fn npy_header(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let prefix = MAGIC.len() + 2 + 2;
    let unpadded = prefix + dict.len() + 1;
    let total = unpadded.div_ceil(ALIGN) * ALIGN;
    let mut text = dict.into_bytes();
    text.resize(total - prefix - 1, b' ');
    text.push(b'\n');
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // The dict of a 2-D array is far shorter than u16::MAX, so this conversion cannot truncate.
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(&text);
    out
}

/// Reads a 2-D little-endian `f64` `.npy` array in either memory order.
///
/// Anything else (other dtypes, other ranks, a short or over-long data section) is an
/// [`Error::File`] naming the file.
pub fn read_npy(path: &Path) -> Result<Mat<f64>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |message: String| Error::File {
        path: path.display().to_string(),
        message,
    };
    let (dict, data) = split_header(&bytes).map_err(bad)?;
    let header = parse_dict(dict).map_err(bad)?;
    let (rows, cols) = header.shape;
    let expected = rows
        .checked_mul(cols)
        .and_then(|n| n.checked_mul(8))
        .ok_or_else(|| bad(format!("shape ({rows}, {cols}) is too large")))?;
    if data.len() != expected {
        return Err(bad(format!(
            "shape ({rows}, {cols}) needs {expected} data bytes but the file has {}",
            data.len()
        )));
    }
    let value = |k: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[8 * k..8 * k + 8]);
        f64::from_le_bytes(b)
    };
    Ok(if header.fortran_order {
        Mat::from_fn(rows, cols, |i, j| value(j * rows + i))
    } else {
        Mat::from_fn(rows, cols, |i, j| value(i * cols + j))
    })
}

/// Splits a `.npy` file into its header dict text and its data bytes.
fn split_header(bytes: &[u8]) -> std::result::Result<(&str, &[u8]), String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a NumPy .npy file (missing \\x93NUMPY magic)".into());
    }
    let (len, start): (usize, usize) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => {
            let raw = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (usize::try_from(raw).map_err(|e| e.to_string())?, 12)
        }
        v => return Err(format!("unsupported .npy format version {v}.{}", bytes[7])),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or("the .npy header is truncated")?;
    let dict =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| "the .npy header is not text")?;
    Ok((dict, &bytes[end..]))
}

/// What [`read_npy`] needs from the header dict.
struct NpyHeader {
    fortran_order: bool,
    shape: (usize, usize),
}

/// Parses the header dict, accepting only `'<f8'` (or `'float64'`-equivalent `'<f8'`) 2-D arrays.
fn parse_dict(dict: &str) -> std::result::Result<NpyHeader, String> {
    let descr = dict_value(dict, "descr")?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    if descr != "<f8" {
        return Err(format!(
            "dtype '{descr}' is not supported; only '<f8' (little-endian f64)"
        ));
    }
    let fortran_order = match dict_value(dict, "fortran_order")?.trim() {
        "True" => true,
        "False" => false,
        other => return Err(format!("fortran_order '{other}' is not True or False")),
    };
    let shape = dict_value(dict, "shape")?;
    let dims: Vec<&str> = shape
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let parse = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| format!("bad shape entry '{s}'"))
    };
    match dims.as_slice() {
        [r, c] => Ok(NpyHeader {
            fortran_order,
            shape: (parse(r)?, parse(c)?),
        }),
        _ => Err(format!("shape {} is not 2-D", shape.trim())),
    }
}

/// The raw text of the value of `key` in a NumPy header dict (up to the next top-level comma).
fn dict_value<'a>(dict: &'a str, key: &str) -> std::result::Result<&'a str, String> {
    let needle_single = format!("'{key}'");
    let needle_double = format!("\"{key}\"");
    let at = dict
        .find(&needle_single)
        .or_else(|| dict.find(&needle_double))
        .ok_or_else(|| format!("the .npy header has no '{key}' entry"))?;
    let rest = &dict[at + needle_single.len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')
        .ok_or_else(|| format!("malformed '{key}' entry in the .npy header"))?;
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' | '}' if depth == 0 => return Ok(&rest[..i]),
            _ => {}
        }
    }
    Err(format!("malformed '{key}' entry in the .npy header"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_for_many_shapes() {
        for (r, c) in [
            (0, 0),
            (1, 1),
            (3, 5),
            (123456, 7890),
            (usize::MAX, usize::MAX),
        ] {
            let h = npy_header(r, c);
            assert_eq!(h.len() % ALIGN, 0, "shape ({r}, {c})");
            assert_eq!(h.last(), Some(&b'\n'));
        }
    }

    #[test]
    fn parses_fortran_and_rejects_other_dtypes() {
        let h = parse_dict("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 4), }").unwrap();
        assert!(h.fortran_order);
        assert_eq!(h.shape, (2, 4));
        assert!(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }").is_err());
        assert!(parse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (8,), }").is_err());
        assert!(
            parse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 3), }").is_err()
        );
    }
}
