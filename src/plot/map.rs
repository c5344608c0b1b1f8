//! Decision maps: where two classifiers agree on a 2-D plane, their zero sets, and the data.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::contour::{Segment, zero_contour};
use super::{FAMILY, Figure, check_range, plot_err, render};
use crate::{Error, Result};

/// A decision map on the plane spanned by two directions (§7, decision-map figure).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionMap {
    /// Caption above the plot.
    pub title: String,
    /// x-axis description.
    pub x_label: String,
    /// y-axis description.
    pub y_label: String,
    /// Range of the first plane coordinate; grid columns run from its min to its max inclusive.
    pub x_range: (f64, f64),
    /// Range of the second plane coordinate; grid rows run from its min to its max inclusive.
    pub y_range: (f64, f64),
    /// The grid is `resolution × resolution`, row-major from the bottom-left: index
    /// `row * resolution + col` is the point `x = x_min + col·Δx`, `y = y_min + row·Δy` with
    /// `Δ = (max − min)/(resolution − 1)`.
    pub resolution: usize,
    /// `sgn f = sgn g` per grid point, drawn as the cell around it.
    pub agree: Vec<bool>,
    /// Named scalar fields on the grid whose zero sets are drawn as contour lines (e.g. `f̂`, `ĝ`).
    pub fields: Vec<(String, Vec<f64>)>,
    /// Projected training samples `(x, y, label)` with label ±1 (the sign decides the colour).
    pub points: Vec<(f64, f64, f64)>,
}

/// Draws `map` to `{stem}.svg` and `{stem}.png` (760 × 700 pixels).
///
/// Agreement and disagreement cells are filled in two colours, each field's zero set (by
/// [`zero_contour`](super::zero_contour)) is drawn in its own colour with a legend entry, and the
/// points as small markers, red for positive labels and blue for the others. Points with a
/// non-finite coordinate or label, or outside the ranges, are skipped.
///
/// Errors: `resolution < 2`, `agree` or a field of the wrong length, or an invalid range
/// ([`Error::InvalidArgument`]/[`Error::Mismatch`]); a field with no finite value
/// ([`Error::Numerical`]); a failed write ([`Error::Write`]). Nothing is written on error.
pub fn decision_map(map: &DecisionMap, stem: &Path) -> Result<()> {
    let prepared = Prepared::new(map)?;
    render(&prepared, stem)
}

/// Cell fill for grid points where the two signs agree.
const AGREE: RGBColor = RGBColor(232, 232, 232);
/// Cell fill for grid points where the two signs differ.
const DISAGREE: RGBColor = RGBColor(255, 196, 120);
/// Zero-contour colours, one per field in order.
const CONTOUR: [RGBColor; 4] = [
    RGBColor(0, 0, 0),
    RGBColor(200, 0, 160),
    RGBColor(0, 130, 0),
    RGBColor(120, 60, 0),
];
/// Marker colours for positive and negative labels.
const POSITIVE: RGBColor = RGBColor(214, 39, 40);
const NEGATIVE: RGBColor = RGBColor(31, 119, 180);

/// A validated map: cell runs, contour segments and in-range points.
struct Prepared<'a> {
    map: &'a DecisionMap,
    /// Horizontal runs of equal agreement: `(x0, x1, y0, y1, agree)`.
    runs: Vec<(f64, f64, f64, f64, bool)>,
    contours: Vec<Vec<Segment>>,
    points: Vec<(f64, f64, bool)>,
}

impl<'a> Prepared<'a> {
    fn new(map: &'a DecisionMap) -> Result<Self> {
        let n = map.resolution;
        if n < 2 {
            return Err(Error::invalid(
                "resolution",
                format!("a decision map needs at least 2 grid points per side, got {n}"),
            ));
        }
        let cells = n.checked_mul(n).ok_or_else(|| {
            Error::invalid("resolution", format!("{n} × {n} grid points overflow"))
        })?;
        check_range("x range", map.x_range)?;
        check_range("y range", map.y_range)?;
        if map.agree.len() != cells {
            return Err(Error::Mismatch(format!(
                "a {n} × {n} decision map needs {cells} agreement cells, got {}",
                map.agree.len()
            )));
        }
        let mut contours = Vec::with_capacity(map.fields.len());
        for (name, values) in &map.fields {
            if values.len() != cells {
                return Err(Error::Mismatch(format!(
                    "field \"{name}\" has {} values but a {n} × {n} grid needs {cells}",
                    values.len()
                )));
            }
            if !values.iter().any(|v| v.is_finite()) {
                return Err(Error::numerical(
                    "plotting",
                    format!("field \"{name}\" has no finite value"),
                ));
            }
            contours.push(zero_contour(values, n, map.x_range, map.y_range)?);
        }
        let (x_min, x_max) = map.x_range;
        let (y_min, y_max) = map.y_range;
        let points = map
            .points
            .iter()
            .filter(|(x, y, l)| {
                l.is_finite() && (x_min..=x_max).contains(x) && (y_min..=y_max).contains(y)
            })
            .map(|&(x, y, l)| (x, y, l > 0.0))
            .collect();
        Ok(Self {
            map,
            runs: agreement_runs(&map.agree, n, map.x_range, map.y_range),
            contours,
            points,
        })
    }
}

/// Merges each grid row's cells into runs of equal agreement. The cell of a grid point extends
/// half a grid step to each side, clipped to the ranges.
fn agreement_runs(
    agree: &[bool],
    n: usize,
    (x_min, x_max): (f64, f64),
    (y_min, y_max): (f64, f64),
) -> Vec<(f64, f64, f64, f64, bool)> {
    let last = (n - 1) as f64;
    // Cell boundary k (0..=n) lies between grid points k−1 and k.
    let x_edge = |k: usize| match k {
        0 => x_min,
        k if k == n => x_max,
        k => x_min + (x_max - x_min) * ((k as f64 - 0.5) / last),
    };
    let y_edge = |k: usize| match k {
        0 => y_min,
        k if k == n => y_max,
        k => y_min + (y_max - y_min) * ((k as f64 - 0.5) / last),
    };
    let mut runs = Vec::new();
    for row in 0..n {
        let cells = &agree[row * n..(row + 1) * n];
        let mut start = 0;
        for col in 1..=n {
            if col == n || cells[col] != cells[start] {
                runs.push((
                    x_edge(start),
                    x_edge(col),
                    y_edge(row),
                    y_edge(row + 1),
                    cells[start],
                ));
                start = col;
            }
        }
    }
    runs
}

impl Figure for Prepared<'_> {
    fn size(&self) -> (u32, u32) {
        (760, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let map = self.map;
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&map.title, (FAMILY, 24))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(map.x_range.0..map.x_range.1, map.y_range.0..map.y_range.1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(&map.x_label)
            .y_desc(&map.y_label)
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            .draw()
            .map_err(plot_err)?;

        for (value, color, label) in [
            (true, AGREE, "sgn f = sgn g"),
            (false, DISAGREE, "sgn f ≠ sgn g"),
        ] {
            if !self.runs.iter().any(|r| r.4 == value) {
                continue;
            }
            let rects = self
                .runs
                .iter()
                .filter(|r| r.4 == value)
                .map(|&(x0, x1, y0, y1, _)| Rectangle::new([(x0, y0), (x1, y1)], color.filled()));
            chart
                .draw_series(rects)
                .map_err(plot_err)?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 20, y + 6)], color.filled())
                });
        }

        for (i, ((name, _), segments)) in map.fields.iter().zip(&self.contours).enumerate() {
            let color = CONTOUR[i % CONTOUR.len()];
            let style = color.stroke_width(2);
            let lines = segments
                .iter()
                .map(move |s| PathElement::new(vec![s[0], s[1]], style));
            chart
                .draw_series(lines)
                .map_err(plot_err)?
                .label(format!("{name} = 0"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }

        for (positive, color, label) in [(true, POSITIVE, "y = +1"), (false, NEGATIVE, "y = −1")]
        {
            if !self.points.iter().any(|p| p.2 == positive) {
                continue;
            }
            let markers = self
                .points
                .iter()
                .filter(|p| p.2 == positive)
                .map(|&(x, y, _)| Circle::new((x, y), 2, color.filled()));
            chart
                .draw_series(markers)
                .map_err(plot_err)?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 3, color.filled()));
        }

        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)
    }
}
