//! Zero sets of scalar fields on a regular grid by marching squares.

use super::check_range;
use crate::{Error, Result};

/// A straight piece of a contour line, from one endpoint to the other, in data coordinates.
pub type Segment = [(f64, f64); 2];

/// The zero set `{v = 0}` of a field sampled on a `resolution × resolution` grid, as line segments.
///
/// `values` is row-major from the bottom-left: `values[row * resolution + col]` is the field at
/// `x = x_min + col·Δx`, `y = y_min + row·Δy` with `Δx = (x_max − x_min)/(resolution − 1)` (and
/// likewise `Δy`), so the grid includes both ends of each range. Along each cell edge whose ends
/// have opposite signs (`v > 0` against `v ≤ 0`) the crossing is placed by linear interpolation;
/// the two saddle configurations are resolved by the mean of the cell's four corners. Cells with
/// a non-finite corner are skipped.
///
/// Errors: `resolution < 2`, a `values` length other than `resolution²`, or a non-finite or
/// non-increasing range.
pub fn zero_contour(
    values: &[f64],
    resolution: usize,
    x_range: (f64, f64),
    y_range: (f64, f64),
) -> Result<Vec<Segment>> {
    let n = resolution;
    if n < 2 {
        return Err(Error::invalid(
            "resolution",
            format!("a contour grid needs at least 2 points per side, got {n}"),
        ));
    }
    let cells = n
        .checked_mul(n)
        .ok_or_else(|| Error::invalid("resolution", format!("{n} × {n} grid points overflow")))?;
    if values.len() != cells {
        return Err(Error::Mismatch(format!(
            "a {n} × {n} grid needs {cells} field values, got {}",
            values.len()
        )));
    }
    check_range("x range", x_range)?;
    check_range("y range", y_range)?;

    let last = (n - 1) as f64;
    let x_at = |col: usize| x_range.0 + (x_range.1 - x_range.0) * (col as f64 / last);
    let y_at = |row: usize| y_range.0 + (y_range.1 - y_range.0) * (row as f64 / last);
    let v = |row: usize, col: usize| values[row * n + col];
    // Crossing on the edge from value a at position p to value b at position q. Every edge is
    // always traversed from its lower to its higher index, so neighbouring cells agree exactly.
    let cross = |a: f64, b: f64, p: f64, q: f64| p + (q - p) * (a / (a - b));

    let mut segments = Vec::new();
    for row in 0..n - 1 {
        let (y0, y1) = (y_at(row), y_at(row + 1));
        for col in 0..n - 1 {
            let (x0, x1) = (x_at(col), x_at(col + 1));
            let (v00, v10, v01, v11) = (
                v(row, col),
                v(row, col + 1),
                v(row + 1, col),
                v(row + 1, col + 1),
            );
            if !(v00.is_finite() && v10.is_finite() && v01.is_finite() && v11.is_finite()) {
                continue;
            }
            let (p00, p10, p01, p11) = (v00 > 0.0, v10 > 0.0, v01 > 0.0, v11 > 0.0);
            // Edge crossings in the order bottom, right, top, left.
            let bottom = (p00 != p10).then(|| (cross(v00, v10, x0, x1), y0));
            let right = (p10 != p11).then(|| (x1, cross(v10, v11, y0, y1)));
            let top = (p01 != p11).then(|| (cross(v01, v11, x0, x1), y1));
            let left = (p00 != p01).then(|| (x0, cross(v00, v01, y0, y1)));
            match (bottom, right, top, left) {
                (Some(b), Some(r), Some(t), Some(l)) => {
                    // Saddle: v00 and v11 share a sign, v10 and v01 the other.
                    let centre_positive = (v00 + v10 + v01 + v11) / 4.0 > 0.0;
                    if centre_positive == p00 {
                        // v00 and v11 connect through the centre: cut off v10 and v01.
                        segments.push([b, r]);
                        segments.push([t, l]);
                    } else {
                        // v10 and v01 connect: cut off v00 and v11.
                        segments.push([b, l]);
                        segments.push([t, r]);
                    }
                }
                _ => {
                    let mut ends = [bottom, right, top, left].into_iter().flatten();
                    if let (Some(a), Some(b)) = (ends.next(), ends.next()) {
                        segments.push([a, b]);
                    }
                }
            }
        }
    }
    Ok(segments)
}
