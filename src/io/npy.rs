//! NumPy `.npy` arrays: `f64` written (format version 1.0), numeric dtypes read (versions 1.0–3.0).

use std::path::Path;

use faer::{Mat, MatRef};

use super::write_atomic;
use crate::{Error, Result};

/// The six magic bytes every `.npy` file starts with.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Alignment of the data start required by the format.
const ALIGN: usize = 64;

/// Bytes converted per write in [`write_npy`].
const WRITE_CHUNK: usize = 1 << 20;

/// Writes `m` as a 2-D little-endian `f64` array in Fortran (column-major) order, atomically.
///
/// Column-major is the order faer keeps the matrix in, so the columns are written as they lie in
/// memory, without a transposition (NumPy's `np.load` returns the same array, F-contiguous; for
/// the symmetric Gram matrices the bytes are those of C order as well). The header is padded
/// with spaces and a final `\n` so the data start is 64-byte aligned.
pub fn write_npy(path: &Path, m: MatRef<'_, f64>) -> Result<()> {
    let (rows, cols) = (m.nrows(), m.ncols());
    let header = npy_header(rows, cols);
    write_atomic(path, |w| {
        w.write_all(&header).map_err(|e| Error::io(path, e))?;
        let mut chunk = Vec::with_capacity(WRITE_CHUNK.min(rows * cols * 8));
        let flush = |chunk: &mut Vec<u8>, w: &mut dyn std::io::Write| {
            let r = w.write_all(chunk).map_err(|e| Error::io(path, e));
            chunk.clear();
            r
        };
        for j in 0..cols {
            let col = m.col(j);
            for i in 0..rows {
                if chunk.len() + 8 > WRITE_CHUNK {
                    flush(&mut chunk, w)?;
                }
                chunk.extend_from_slice(&col[i].to_le_bytes());
            }
        }
        flush(&mut chunk, w)
    })
}

/// The complete version-1.0 header (magic, version, length, padded dict) for a `rows × cols` array.
pub(crate) fn npy_header(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f8', 'fortran_order': True, 'shape': ({rows}, {cols}), }}");
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

/// A NumPy array read as `f64`: its shape, its memory order and its values in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Whether `data` is in Fortran (column-major) order rather than C (row-major) order.
    pub fortran_order: bool,
    /// Every element, converted to `f64`, in the file's memory order.
    pub data: Vec<f64>,
}

impl NpyArray {
    /// The element at (`i`, `j`) of a 2-D array.
    fn at(&self, i: usize, j: usize) -> f64 {
        let (rows, cols) = (self.shape[0], self.shape[1]);
        if self.fortran_order {
            self.data[j * rows + i]
        } else {
            self.data[i * cols + j]
        }
    }

    /// The 2-D array as a matrix; `None` for another rank.
    pub fn to_mat(&self) -> Option<Mat<f64>> {
        match self.shape.as_slice() {
            &[rows, cols] => Some(Mat::from_fn(rows, cols, |i, j| self.at(i, j))),
            _ => None,
        }
    }
}

/// Reads a `.npy` array of any supported dtype (`f8 f4 i8 i4 i2 i1 u8 u4 u2 u1 b1`, either byte
/// order) and any rank, in C or Fortran order, converting every element to `f64` (64-bit integers
/// beyond 2⁵³ round to the nearest `f64`).
///
/// Anything else is an [`Error::File`] naming the file and what is wrong.
pub fn read_npy_array(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes).map_err(|message| Error::File {
        path: path.display().to_string(),
        message,
    })
}

/// Reads a 2-D `.npy` array (see [`read_npy_array`] for the dtypes) as a matrix.
pub fn read_npy(path: &Path) -> Result<Mat<f64>> {
    let array = read_npy_array(path)?;
    array.to_mat().ok_or_else(|| Error::File {
        path: path.display().to_string(),
        message: format!("shape {} is not 2-D", shape_text(&array.shape)),
    })
}

/// `(a, b)` / `(a,)` as NumPy prints a shape.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// Parses the bytes of a `.npy` file; errors say what is wrong (the caller names the file).
pub fn parse_npy(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    let (dict, data) = split_header(bytes)?;
    let header = parse_dict(dict)?;
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .ok_or_else(|| format!("shape {} is too large", shape_text(&header.shape)))?;
    let size = header.dtype.size;
    let expected = count
        .checked_mul(size)
        .ok_or_else(|| format!("shape {} is too large", shape_text(&header.shape)))?;
    if data.len() != expected {
        return Err(format!(
            "shape {} of '{}' needs {expected} data bytes but the file has {}{}",
            shape_text(&header.shape),
            header.dtype.descr,
            data.len(),
            if data.len() < expected {
                " (truncated?)"
            } else {
                ""
            }
        ));
    }
    Ok(NpyArray {
        shape: header.shape,
        fortran_order: header.fortran_order,
        data: header.dtype.convert(data),
    })
}

/// The element types [`parse_npy`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    F8,
    F4,
    I8,
    I4,
    I2,
    I1,
    U8,
    U4,
    U2,
    /// `u1` and `b1` (bool), one byte each.
    U1,
}

/// An element type of a `.npy` array.
#[derive(Debug, Clone, PartialEq)]
struct Dtype {
    /// The descr text, e.g. `<f8`.
    descr: String,
    /// The element type.
    elem: Elem,
    /// Bytes per element.
    size: usize,
    /// Stored big-endian.
    big: bool,
}

impl Dtype {
    /// Parses a descr such as `<f8`, `>i4`, `|u1`, `|b1` (`=` is this machine's order).
    fn parse(descr: &str) -> std::result::Result<Self, String> {
        let unsupported = || {
            format!(
                "dtype '{descr}' is not supported; use a numeric dtype: float64/float32 ('<f8', \
                 '<f4'), signed or unsigned integers ('<i8' … '|u1') or bool, either byte order"
            )
        };
        let b = descr.as_bytes();
        if b.len() < 3 {
            return Err(unsupported());
        }
        let big = match b[0] {
            b'<' | b'|' => false,
            b'>' => true,
            b'=' => cfg!(target_endian = "big"),
            _ => return Err(unsupported()),
        };
        let size: usize = descr[2..].parse().map_err(|_| unsupported())?;
        let elem = match (b[1], size) {
            (b'f', 8) => Elem::F8,
            (b'f', 4) => Elem::F4,
            (b'i', 8) => Elem::I8,
            (b'i', 4) => Elem::I4,
            (b'i', 2) => Elem::I2,
            (b'i', 1) => Elem::I1,
            (b'u', 8) => Elem::U8,
            (b'u', 4) => Elem::U4,
            (b'u', 2) => Elem::U2,
            (b'u', 1) | (b'b', 1) => Elem::U1,
            _ => return Err(unsupported()),
        };
        Ok(Dtype {
            descr: descr.to_string(),
            elem,
            size,
            big,
        })
    }

    /// Converts raw element bytes (a whole number of elements) to `f64`.
    fn convert(&self, data: &[u8]) -> Vec<f64> {
        let big = self.big;
        macro_rules! each {
            ($t:ty, $n:expr) => {
                data.chunks_exact($n)
                    .map(|c| {
                        let mut a = [0u8; $n];
                        a.copy_from_slice(c);
                        let v = if big {
                            <$t>::from_be_bytes(a)
                        } else {
                            <$t>::from_le_bytes(a)
                        };
                        v as f64
                    })
                    .collect()
            };
        }
        match self.elem {
            Elem::F8 => each!(f64, 8),
            Elem::F4 => each!(f32, 4),
            Elem::I8 => each!(i64, 8),
            Elem::I4 => each!(i32, 4),
            Elem::I2 => each!(i16, 2),
            Elem::I1 => data.iter().map(|&v| f64::from(v as i8)).collect(),
            Elem::U8 => each!(u64, 8),
            Elem::U4 => each!(u32, 4),
            Elem::U2 => each!(u16, 2),
            Elem::U1 => data.iter().map(|&v| f64::from(v)).collect(),
        }
    }
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

/// What [`parse_npy`] needs from the header dict.
struct NpyHeader {
    dtype: Dtype,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parses the header dict: `descr` (a simple numeric dtype), `fortran_order` and `shape`.
fn parse_dict(dict: &str) -> std::result::Result<NpyHeader, String> {
    let descr = dict_value(dict, "descr")?.trim();
    if descr.starts_with('[') {
        return Err("structured dtypes (records with named fields) are not supported".into());
    }
    let dtype = Dtype::parse(descr.trim_matches(|c| c == '\'' || c == '"'))?;
    let fortran_order = match dict_value(dict, "fortran_order")?.trim() {
        "True" => true,
        "False" => false,
        other => return Err(format!("fortran_order '{other}' is not True or False")),
    };
    let shape = dict_value(dict, "shape")?;
    let shape = shape
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("bad shape entry '{s}'"))
        })
        .collect::<std::result::Result<Vec<usize>, String>>()?;
    Ok(NpyHeader {
        dtype,
        fortran_order,
        shape,
    })
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
    fn parses_fortran_and_shapes_and_rejects_non_numeric_dtypes() {
        let h = parse_dict("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 4), }").unwrap();
        assert!(h.fortran_order);
        assert_eq!(h.shape, [2, 4]);
        let h = parse_dict("{'descr': '>i4', 'fortran_order': False, 'shape': (8,), }").unwrap();
        assert_eq!(
            (h.dtype.elem, h.dtype.size, h.dtype.big),
            (Elem::I4, 4, true)
        );
        assert_eq!(h.shape, [8]);
        let h = parse_dict("{'descr': '|u1', 'fortran_order': False, 'shape': (), }").unwrap();
        assert!(h.shape.is_empty());
        for bad in ["'<c16'", "'|O'", "'<U3'", "'<f2'", "[('a', '<f8')]"] {
            let dict = format!("{{'descr': {bad}, 'fortran_order': False, 'shape': (2,), }}");
            assert!(parse_dict(&dict).is_err(), "{bad}");
        }
    }
}
