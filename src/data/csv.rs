//! Reading and writing datasets as CSV (optionally gzip-compressed).
//!
//! Format: a header row naming the columns; numeric feature columns; one label column named
//! exactly `y` with values ±1. Gzip input is detected by its magic bytes; a UTF-8 byte-order mark
//! and CRLF line ends are accepted.
//!
//! Reading runs at disk speed: the whole (decompressed) text is held in memory, cut at line ends
//! into chunks whose number depends only on the text's length (never on the thread count), and
//! the chunks are parsed in parallel and concatenated in order, so the values are the same for any
//! `--threads`. Tables the chunk parser does not cover (quoted cells, lone carriage returns as line
//! ends) go through the general CSV reader instead; both report the same line and column for a
//! bad cell.

use std::io::{Cursor, Read};
use std::path::Path;

use csv::ByteRecord;
use faer::Mat;
use flate2::read::MultiGzDecoder;
use rayon::prelude::*;

use super::Dataset;
use crate::io::write_atomic;
use crate::{Error, Result};

/// Name of the label column.
const LABEL: &str = "y";

/// Longest excerpt of a bad cell quoted in an error message.
const QUOTE_MAX: usize = 40;

/// What to do with labels 0/1.
pub(super) const ZERO_ONE_HINT: &str =
    "labels 0/1 are not accepted; convert them with y = 2·label − 1 (0 becomes −1, 1 stays +1)";

/// Nominal bytes per parsing chunk: a text of L bytes is cut into ⌈L / CHUNK_BYTES⌉ chunks.
const CHUNK_BYTES: usize = 1 << 20;

/// Reads a dataset from a CSV file (plain or gzip), validating every cell.
///
/// Errors name the file and, for a bad cell or row, its 1-based line and column.
pub fn read_csv(path: &Path) -> Result<Dataset> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    refuse_numpy(path, &raw[..raw.len().min(6)])?;
    let gz = raw.starts_with(&[0x1f, 0x8b]);
    let ctx = Ctx { path, gz };
    if !gz {
        return parse_text(&ctx, strip_bom(&raw));
    }
    let mut text = Vec::with_capacity(gzip_size_hint(&raw));
    let decoded = MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut text);
    drop(raw);
    match decoded {
        Ok(_) => parse_text(&ctx, strip_bom(&text)),
        Err(source) => {
            // A bad cell before the point of damage is reported as such, as a streaming reader
            // would; otherwise the damage itself.
            let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            match parse_text(&ctx, strip_bom(&text[..complete])) {
                Err(e @ Error::Parse { .. }) => Err(e),
                _ => Err(gzip_error(path, gz, Error::io(path, source))),
            }
        }
    }
}

/// The uncompressed size a gzip file announces in its trailer (modulo 2³²), capped at 16× the
/// compressed size: a capacity hint only.
fn gzip_size_hint(raw: &[u8]) -> usize {
    let Some(tail) = raw.len().checked_sub(4).map(|at| &raw[at..]) else {
        return 0;
    };
    let isize = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
    isize.min(raw.len().saturating_mul(16))
}

/// `text` without a leading UTF-8 byte-order mark.
fn strip_bom(text: &[u8]) -> &[u8] {
    text.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(text)
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

/// Parses a whole table held in memory: by parallel chunks when the text is simple (no quotes,
/// `\n` or `\r\n` line ends), otherwise by the general CSV reader.
fn parse_text(ctx: &Ctx, text: &[u8]) -> Result<Dataset> {
    match parse_chunked(ctx, text, CHUNK_BYTES)? {
        Some(ds) => Ok(ds),
        None => parse_general(ctx, text),
    }
}

/// Parses `text` with the general CSV reader (quoting, any line ends), one record at a time.
fn parse_general(ctx: &Ctx, text: &[u8]) -> Result<Dataset> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Cursor::new(text));
    let mut record = ByteRecord::new();
    if !ctx.next_record(&mut reader, &mut record)? {
        return Err(ctx.file_error("the file is empty (no header row)"));
    }
    let fields: Vec<&[u8]> = record.iter().collect();
    let line = record.position().map_or(1, |p| record_line(text, p));
    let layout = Layout::from_header(ctx, line, &fields)?;
    let mut all = Chunk::default();
    let mut record = ByteRecord::new();
    while ctx.next_record(&mut reader, &mut record)? {
        let line = record.position().map_or(0, |p| record_line(text, p));
        let fields: Vec<&[u8]> = record.iter().collect();
        layout
            .parse_row(&fields, &mut all.values, &mut all.y)
            .map_err(|(column, m)| ctx.parse_error(line, column, m))?;
    }
    finish(ctx, layout, &[all])
}

/// The 1-based line on which the record read from `pos` starts. The reader's position is where it
/// began reading, before the line ends and blank lines it skipped; those are counted here.
fn record_line(text: &[u8], pos: &csv::Position) -> u64 {
    let from = usize::try_from(pos.byte()).map_or(text.len(), |b| b.min(text.len()));
    let skipped = text[from..]
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .filter(|&&b| b == b'\n')
        .count();
    pos.line() + skipped as u64
}

/// Columns filled per task when the parsed rows are assembled into the column-major matrix: a
/// cache line of row-major values at a time.
const ASSEMBLY_COLUMNS: usize = 8;

/// Builds the dataset from the parsed chunks, in order.
fn finish(ctx: &Ctx, layout: Layout, parts: &[Chunk]) -> Result<Dataset> {
    let n: usize = parts.iter().map(|p| p.y.len()).sum();
    if n == 0 {
        return Err(ctx.file_error("the file has a header but no data rows"));
    }
    let d = layout.names.len();
    let mut x = Mat::<f64>::zeros(n, d);
    x.par_col_chunks_mut(ASSEMBLY_COLUMNS)
        .enumerate()
        .for_each(|(b, mut block)| {
            let j0 = b * ASSEMBLY_COLUMNS;
            let mut i = 0;
            for part in parts {
                for row in part.values.chunks_exact(d) {
                    for (jj, &v) in row[j0..j0 + block.ncols()].iter().enumerate() {
                        block[(i, jj)] = v;
                    }
                    i += 1;
                }
            }
        });
    let mut y = Vec::with_capacity(n);
    parts.iter().for_each(|p| y.extend_from_slice(&p.y));
    Dataset::with_names(x, y, layout.names)
}

/// The chunked parser with chunks of about `chunk_bytes`; `Ok(None)` when `text` needs the
/// general reader.
fn parse_chunked(ctx: &Ctx, text: &[u8], chunk_bytes: usize) -> Result<Option<Dataset>> {
    // The header is the first non-empty line.
    let mut start = 0;
    let mut line: u64 = 1;
    let header = loop {
        if start >= text.len() {
            return Err(ctx.file_error("the file is empty (no header row)"));
        }
        let end = line_end(text, start);
        let content = trim_cr(&text[start..end]);
        let next = (end + 1).min(text.len());
        if !content.is_empty() {
            break (content, next);
        }
        start = next;
        line += 1;
    };
    let (content, data_start) = header;
    if needs_general(&text[..data_start]) {
        return Ok(None);
    }
    let fields: Vec<&[u8]> = content.split(|&b| b == b',').collect();
    let layout = Layout::from_header(ctx, line, &fields)?;
    let data = &text[data_start..];
    let first_line = line + 1;
    let parts: Vec<Chunk> = chunk_bounds(data, chunk_bytes)
        .par_windows(2)
        .map(|w| parse_chunk(&layout, &data[w[0]..w[1]]))
        .collect();
    if parts.iter().any(|p| p.general) {
        return Ok(None);
    }
    let mut base = first_line;
    for part in &parts {
        if let Some((rel, column, message)) = &part.error {
            return Err(ctx.parse_error(base + rel, *column, message.clone()));
        }
        base += part.newlines;
    }
    finish(ctx, layout, &parts).map(Some)
}

/// Whether `text` needs the general reader: it has a quote or a lone carriage return.
fn needs_general(text: &[u8]) -> bool {
    text.contains(&b'"') || has_lone_cr(text)
}

/// Whether `text` has a carriage return that does not end a line (`\r` other than before `\n`
/// or at the very end): the general reader treats those as line ends.
fn has_lone_cr(text: &[u8]) -> bool {
    if !text.contains(&b'\r') {
        return false;
    }
    let last = text.len() - 1;
    text.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && i != last && text[i + 1] != b'\n')
}

/// Index of the `\n` ending the line that starts at `start`, or `text.len()`.
fn line_end(text: &[u8], start: usize) -> usize {
    text[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| start + i)
}

/// `line` without one trailing `\r`.
fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Chunk boundaries of `data`: 0, the line starts nearest after k·L/n for k = 1..n, and L, where
/// n = ⌈L / chunk_bytes⌉ depends on the length L only.
fn chunk_bounds(data: &[u8], chunk_bytes: usize) -> Vec<usize> {
    let len = data.len();
    let n = len.div_ceil(chunk_bytes.max(1)).max(1);
    let mut bounds = vec![0];
    for k in 1..n {
        let nominal = (k * (len / n)).max(*bounds.last().unwrap_or(&0));
        let at = (line_end(data, nominal) + 1).min(len);
        if at > *bounds.last().unwrap_or(&0) && at < len {
            bounds.push(at);
        }
    }
    bounds.push(len);
    bounds
}

/// What one chunk yields: its rows (row-major values, labels), its number of `\n`, and the first
/// error as (line relative to the chunk's first line, column, message).
#[derive(Default)]
struct Chunk {
    values: Vec<f64>,
    y: Vec<f64>,
    newlines: u64,
    error: Option<(u64, u64, String)>,
    /// The chunk has a quote or a lone carriage return: the whole text needs the general reader.
    general: bool,
}

/// Parses the lines of one chunk (no quotes; `\n` line ends, each with an optional `\r`).
fn parse_chunk(layout: &Layout, chunk: &[u8]) -> Chunk {
    let d = layout.names.len();
    let mut out = Chunk {
        values: Vec::with_capacity(chunk.len() / 8),
        y: Vec::with_capacity(chunk.len() / (4 * d + 4)),
        newlines: 0,
        error: None,
        general: needs_general(chunk),
    };
    if out.general {
        return out;
    }
    let mut fields: Vec<&[u8]> = Vec::with_capacity(layout.width + 1);
    let len = chunk.len();
    let mut start = 0;
    while start < len {
        fields.clear();
        let mut at = start;
        let end = loop {
            let sep = next_separator(chunk, at);
            fields.push(&chunk[at..sep]);
            if sep >= len || chunk[sep] == b'\n' {
                break sep;
            }
            at = sep + 1;
        };
        if let Some(last) = fields.last_mut() {
            *last = trim_cr(last);
        }
        let blank = fields.len() == 1 && fields[0].is_empty();
        if !blank
            && let Err((column, message)) = layout.parse_row(&fields, &mut out.values, &mut out.y)
        {
            out.error = Some((out.newlines, column, message));
            return out;
        }
        if end < len {
            out.newlines += 1;
        }
        start = end + 1;
    }
    out
}

/// Index of the first `,` or `\n` in `text[from..]`, or `text.len()`. Eight bytes at a time: a
/// byte b is found where (b ^ c) is zero, and the lowest set bit of
/// (w − 0x01…01) & !w & 0x80…80 marks the first zero byte of the word w.
#[inline]
fn next_separator(text: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let comma = ONES * u64::from(b',');
    let newline = ONES * u64::from(b'\n');
    let zero_byte = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let mut i = from;
    while let Some(bytes) = text.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        let w = u64::from_le_bytes(word);
        let hits = zero_byte(w ^ comma) | zero_byte(w ^ newline);
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < text.len() && text[i] != b',' && text[i] != b'\n' {
        i += 1;
    }
    i
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

    /// Maps a csv-crate error (in practice an I/O failure) to ours.
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
    /// Validates the header (the fields of 1-based `line`): UTF-8, non-empty and unique names,
    /// exactly one `y`, ≥ 1 feature.
    fn from_header(ctx: &Ctx, line: u64, fields: &[&[u8]]) -> Result<Self> {
        if fields.iter().all(|field| parse_value(field).is_ok()) {
            return Err(ctx.parse_error(
                line,
                0,
                "the first line holds numbers, not column names: the file needs a header row \
                 naming the feature columns and the label column `y` (for example `x0,x1,y`)",
            ));
        }
        let mut names: Vec<String> = Vec::with_capacity(fields.len());
        for (j, field) in fields.iter().enumerate() {
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

    /// Parses the fields of one data row, appending its features to `values` and its label to
    /// `y`. A wrong field count is reported before any bad cell, as (column 0, message); a bad
    /// cell as (its 1-based column, message).
    fn parse_row(
        &self,
        fields: &[&[u8]],
        values: &mut Vec<f64>,
        y: &mut Vec<f64>,
    ) -> std::result::Result<(), (u64, String)> {
        if fields.len() != self.width {
            return Err((
                0,
                format!("expected {} fields, found {}", self.width, fields.len()),
            ));
        }
        for (j, field) in fields.iter().enumerate() {
            let col = j as u64 + 1;
            if j == self.label {
                y.push(parse_label(field).map_err(|m| (col, m))?);
            } else {
                values.push(parse_value(field).map_err(|m| (col, m))?);
            }
        }
        Ok(())
    }
}

/// Parses a finite number. Plain decimals take an exact fast path ([`parse_decimal`]); anything
/// else (surrounding spaces, many digits, large exponents, `inf`, typos) goes through the
/// standard library's correctly rounded parser, which also words the errors.
fn parse_value(field: &[u8]) -> std::result::Result<f64, String> {
    // Longer cells hold 17 or more digits, beyond the fast path.
    if field.len() <= 19
        && let Some(v) = parse_decimal(field)
    {
        return Ok(v);
    }
    let text =
        std::str::from_utf8(field).map_err(|_| "cell is not valid UTF-8 text".to_string())?;
    // A cell that starts and ends with a visible ASCII character has nothing to trim.
    let visible = |b: Option<&u8>| b.is_some_and(u8::is_ascii_graphic);
    let trimmed = if visible(field.first()) && visible(field.last()) {
        text
    } else {
        text.trim()
    };
    let v: f64 = trimmed
        .parse()
        .map_err(|_| format!("not a number: \"{}\"", excerpt(text)))?;
    if !v.is_finite() {
        return Err(format!("value is not finite: \"{}\"", excerpt(text)));
    }
    Ok(v)
}

/// 10⁰ … 10²², every one exactly representable in f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses `[+-]digits[.digits][(e|E)[+-]digits]` when its digits form an integer m ≤ 2⁵³ and its
/// decimal exponent e has |e| ≤ 22: then m and 10^|e| are exact f64 values and one correctly
/// rounded multiplication or division gives the correctly rounded result (Clinger's fast path),
/// the same value as the standard parser. `None` for anything else.
fn parse_decimal(field: &[u8]) -> Option<f64> {
    const MAX_EXACT: u64 = 1 << 53;
    let (negative, s) = match field.first()? {
        b'-' => (true, &field[1..]),
        b'+' => (false, &field[1..]),
        _ => (false, field),
    };
    let digit = |i: usize| {
        s.get(i)
            .filter(|b| b.is_ascii_digit())
            .map(|b| u64::from(b - b'0'))
    };
    let mut m: u64 = 0;
    let mut exp: i32 = 0;
    let mut i = 0;
    while let Some(v) = digit(i) {
        m = m * 10 + v;
        if m > MAX_EXACT {
            return None;
        }
        i += 1;
    }
    if i == 0 {
        return None;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(v) = digit(i) {
            m = m * 10 + v;
            if m > MAX_EXACT {
                return None;
            }
            exp -= 1;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        let negative_exp = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i32 = 0;
        while let Some(v) = digit(i) {
            if i - start >= 4 {
                return None;
            }
            e = e * 10 + v as i32;
            i += 1;
        }
        if i == start {
            return None;
        }
        exp += if negative_exp { -e } else { e };
    }
    if i != s.len() || !(-22..=22).contains(&exp) {
        return None;
    }
    let scale = POW10[exp.unsigned_abs() as usize];
    let v = if exp < 0 {
        m as f64 / scale
    } else {
        m as f64 * scale
    };
    Some(if negative { -v } else { v })
}

/// Parses a label: any number text equal to +1 or −1 ("1", "+1", "-1", "1.0", "-1.0", …).
fn parse_label(field: &[u8]) -> std::result::Result<f64, String> {
    match field {
        b"1" => return Ok(1.0),
        b"-1" => return Ok(-1.0),
        _ => {}
    }
    let text = String::from_utf8_lossy(field);
    match text.trim().parse::<f64>() {
        Ok(v) if v == 1.0 || v == -1.0 => Ok(v),
        Ok(0.0) => Err(format!(
            "label must be +1 or -1, found \"{}\": {ZERO_ONE_HINT}",
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
    fn fast_decimal_path_agrees_with_std_parse_bit_for_bit() {
        let mut state: u64 = 12345;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 11
        };
        let mut fast = 0;
        for k in 0..200_000 {
            let u = next() as f64 / (1u64 << 53) as f64;
            let v = (u - 0.5) * 10f64.powi((next() % 40) as i32 - 20);
            let text = match k % 6 {
                0 => format!("{v}"),
                1 => format!("{v:e}"),
                2 => format!("{v:.5}"),
                3 => format!("{:.3E}", v),
                4 => format!("{}", next() % 100_000),
                _ => format!("{}e{}", next() % 1000, (next() % 50) as i32 - 25),
            };
            let want: f64 = text.parse().unwrap();
            if let Some(got) = parse_decimal(text.as_bytes()) {
                assert_eq!(got.to_bits(), want.to_bits(), "{text}");
                fast += 1;
            }
            assert_eq!(
                parse_value(text.as_bytes()).map(f64::to_bits),
                Ok(want.to_bits())
            );
        }
        assert!(fast > 100_000, "only {fast} took the fast path");
        for s in [
            "", "-", "+", ".5", "5.", "1e", "1e+", "1.2.3", "--1", "1 ", "0x10", "1e99999",
        ] {
            assert_eq!(parse_decimal(s.as_bytes()), None, "{s}");
        }
        assert_eq!(parse_decimal(b"9007199254740993"), None);
        assert_eq!(parse_decimal(b"9007199254740992"), Some(9007199254740992.0));
    }

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

    /// The reader of this file for in-memory texts.
    fn ctx() -> Ctx<'static> {
        Ctx {
            path: Path::new("t.csv"),
            gz: false,
        }
    }

    /// `Ok(bits of x, y)` or the error text.
    fn outcome(r: Result<Dataset>) -> std::result::Result<(Vec<u64>, Vec<f64>, usize), String> {
        r.map(|ds| {
            let bits = (0..ds.n())
                .flat_map(|i| (0..ds.d()).map(move |j| (i, j)))
                .map(|(i, j)| ds.x[(i, j)].to_bits())
                .collect();
            let d = ds.d();
            (bits, ds.y, d)
        })
        .map_err(|e| e.to_string())
    }

    /// A table of `rows` rows × 5 features in many number spellings, with CRLF and blank lines.
    fn varied_table(rows: usize, seed: u64) -> String {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 11
        };
        let mut text = String::from("a,b,y,c,d,e\n");
        for i in 0..rows {
            let mut cells: Vec<String> = (0..5)
                .map(|k| {
                    let u = next() as f64 / (1u64 << 53) as f64;
                    let v = (u - 0.5) * 10f64.powi((next() % 12) as i32 - 6);
                    match (next() + k) % 7 {
                        0 => format!("{v}"),
                        1 => format!("{v:e}"),
                        2 => format!("{}", next() % 256),
                        3 => format!(" {v:.3} "),
                        4 => format!("{v:E}"),
                        5 => format!("+{}", v.abs()),
                        _ => format!("{v:.17}"),
                    }
                })
                .collect();
            cells.insert(2, if next() % 2 == 0 { "1" } else { "-1.0" }.to_string());
            text.push_str(&cells.join(","));
            text.push_str(match i % 5 {
                0 => "\r\n",
                1 => "\n\n",
                _ => "\n",
            });
        }
        text
    }

    /// Parses `text` by chunks of `chunk` bytes on a pool of `threads` threads.
    fn chunked(text: &[u8], chunk: usize, threads: usize) -> Result<Option<Dataset>> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
            .install(|| parse_chunked(&ctx(), text, chunk))
    }

    #[test]
    fn chunks_give_the_general_readers_values_bit_for_bit_at_any_thread_count() {
        let text = varied_table(40_000, 7);
        assert!(text.len() > 2 * CHUNK_BYTES, "{} bytes", text.len());
        let general = outcome(parse_general(&ctx(), text.as_bytes()));
        let (bits, y, d) = general.clone().expect("valid table");
        assert_eq!((bits.len(), y.len(), d), (200_000, 40_000, 5));
        for threads in 1..=3 {
            for chunk in [CHUNK_BYTES, 4096, 97] {
                let got = chunked(text.as_bytes(), chunk, threads)
                    .map(|ds| ds.expect("a simple table takes the chunked path"));
                assert!(outcome(got) == general, "{threads} threads, chunks {chunk}");
            }
        }
    }

    #[test]
    fn errors_in_late_chunks_name_their_line_and_column() {
        let mut lines: Vec<String> = varied_table(30_000, 3)
            .replace("\r\n", "\n")
            .replace("\n\n", "\n")
            .lines()
            .map(str::to_string)
            .collect();
        // Line numbers are 1-based and the header is line 1, so lines[k] is line k + 1.
        let mut cells: Vec<&str> = lines[29_000].split(',').collect();
        cells[1] = "1x5";
        lines[29_000] = cells.join(",");
        let mut late = lines.clone();
        late[29_500] = "1,2,1,3,4".to_string();
        for (table, line, column, says) in [
            (lines.join("\n"), 29_001, 2, "not a number: \"1x5\""),
            (late.join("\n"), 29_001, 2, "not a number"),
        ] {
            let cells = table
                .lines()
                .nth(line - 1)
                .expect("line")
                .split(',')
                .count();
            assert_eq!(cells, 6, "the bad line keeps six cells");
            let general = parse_general(&ctx(), table.as_bytes()).expect_err("bad cell");
            for threads in 1..=3 {
                let err = chunked(table.as_bytes(), CHUNK_BYTES / 8, threads).expect_err("bad");
                assert_eq!(err.to_string(), general.to_string());
                match err {
                    Error::Parse {
                        line: l,
                        column: c,
                        message,
                        ..
                    } => {
                        assert_eq!((l, c), (line as u64, column));
                        assert!(message.contains(says), "{message}");
                    }
                    other => panic!("expected a parse error, got {other}"),
                }
            }
        }
        // A short row late in the file: a field-count error (column 0) at its line.
        let mut short = lines;
        short[29_000] = "1,2,1,3,4".to_string();
        let err = chunked(short.join("\n").as_bytes(), CHUNK_BYTES / 8, 2).expect_err("short");
        assert_eq!(err.to_string(), "t.csv:29001:0: expected 6 fields, found 5");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512,
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn chunked_and_general_readers_agree_on_mangled_tables(
            edits in proptest::collection::vec((0usize..4096, 0usize..19, 0u8..3), 0..6),
            chunk in 1usize..64,
        ) {
            const BYTES: &[u8] = b"0123456789,\n\r\" -.ey";
            let mut text = b"x0,y,x1\n1,1,2.5\n\n-3,-1,4e-2\r\n5,1,+6\n7,-1,8\n".to_vec();
            for (pos, byte, kind) in edits {
                let p = pos % (text.len() + 1);
                let b = BYTES[byte % BYTES.len()];
                match kind {
                    0 if p < text.len() => text[p] = b,
                    1 => text.insert(p, b),
                    _ if p < text.len() => { text.remove(p); }
                    _ => {}
                }
            }
            let general = outcome(parse_general(&ctx(), &text));
            if let Some(fast) = chunked(&text, chunk, 2).transpose() {
                proptest::prop_assert_eq!(outcome(fast), general);
            }
        }
    }
}
