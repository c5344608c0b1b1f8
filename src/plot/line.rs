//! Line charts: metric curves against a swept parameter, optionally with error bars.

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{FAMILY, Figure, PALETTE, check_range, plot_err, render};
use crate::{Error, Result};

/// One curve of a [`LineChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub label: String,
    /// `(x, y)` data points, in any order (they are drawn sorted by x).
    pub points: Vec<(f64, f64)>,
    /// Optional ± half-width per point, drawn as a vertical error bar; same length as `points`.
    pub errors: Option<Vec<f64>>,
}

/// A chart of several curves against a common x axis.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Caption above the plot.
    pub title: String,
    /// x-axis description.
    pub x_label: String,
    /// y-axis description.
    pub y_label: String,
    /// Logarithmic x axis; points with x ≤ 0 are then skipped like non-finite ones.
    pub log_x: bool,
    /// Fixed y range; `None` fits the data (and error bars) with a small margin.
    pub y_range: Option<(f64, f64)>,
    /// The curves, coloured in order.
    pub series: Vec<Series>,
}

/// Draws `chart` to `{stem}.svg` and `{stem}.png` (800 × 560 pixels).
///
/// Points with a non-finite coordinate (or x ≤ 0 on a logarithmic axis) are skipped, and so are
/// error bars with a non-finite half-width. Errors: no series, a series without points, an
/// `errors` vector whose length differs from `points`, a negative half-width or an invalid
/// `y_range` ([`Error::InvalidArgument`]/[`Error::Mismatch`]); a series with no drawable point left
/// ([`Error::Numerical`]); a failed write ([`Error::Write`]). Nothing is written on error.
pub fn line_chart(chart: &LineChart, stem: &Path) -> Result<()> {
    let prepared = Prepared::new(chart)?;
    render(&prepared, stem)
}

/// A drawable point: x, y and the error-bar half-width if any.
type Point = (f64, f64, Option<f64>);

/// A validated chart: finite points sorted by x, and the axis ranges.
struct Prepared<'a> {
    chart: &'a LineChart,
    curves: Vec<Vec<Point>>,
    x: (f64, f64),
    y: (f64, f64),
}

impl<'a> Prepared<'a> {
    fn new(chart: &'a LineChart) -> Result<Self> {
        if chart.series.is_empty() {
            return Err(Error::invalid(
                "series",
                format!("line chart \"{}\" has no series", chart.title),
            ));
        }
        if let Some(r) = chart.y_range {
            check_range("y range", r)?;
        }
        let mut curves = Vec::with_capacity(chart.series.len());
        for s in &chart.series {
            curves.push(prepare_series(s, chart.log_x)?);
        }
        let all = || curves.iter().flatten();
        let (mut x_min, mut x_max) = min_max(all().map(|p| p.0));
        if chart.log_x {
            // Pad by a fixed factor on a log axis, 3% of the decades spanned otherwise.
            let pad = if x_min == x_max {
                2.0
            } else {
                (x_max / x_min).powf(0.03)
            };
            x_min /= pad;
            x_max *= pad;
        } else {
            (x_min, x_max) = pad(x_min, x_max, 0.03);
        }
        let y = match chart.y_range {
            Some(r) => r,
            None => {
                let lo = min_max(all().map(|p| p.1 - p.2.unwrap_or(0.0))).0;
                let hi = min_max(all().map(|p| p.1 + p.2.unwrap_or(0.0))).1;
                pad(lo, hi, 0.05)
            }
        };
        Ok(Self {
            chart,
            curves,
            x: (x_min, x_max),
            y,
        })
    }
}

/// The drawable points of one series, sorted by x.
fn prepare_series(s: &Series, log_x: bool) -> Result<Vec<Point>> {
    let flag = || format!("series \"{}\"", s.label);
    if s.points.is_empty() {
        return Err(Error::invalid(flag(), "has no points"));
    }
    if let Some(errors) = &s.errors {
        if errors.len() != s.points.len() {
            return Err(Error::Mismatch(format!(
                "{} has {} points but {} error half-widths",
                flag(),
                s.points.len(),
                errors.len()
            )));
        }
        if let Some(e) = errors.iter().find(|e| **e < 0.0) {
            return Err(Error::invalid(
                flag(),
                format!("error half-width {e} is negative"),
            ));
        }
    }
    let mut points: Vec<Point> = s
        .points
        .iter()
        .enumerate()
        .filter(|(_, (x, y))| x.is_finite() && y.is_finite() && (!log_x || *x > 0.0))
        .map(|(i, &(x, y))| {
            let e = s.errors.as_ref().map(|e| e[i]).filter(|e| e.is_finite());
            (x, y, e)
        })
        .collect();
    if points.is_empty() {
        let why = if log_x {
            "no point with finite coordinates and x > 0 (logarithmic x axis)"
        } else {
            "no point with finite coordinates"
        };
        return Err(Error::numerical("plotting", format!("{}: {why}", flag())));
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(points)
}

/// Minimum and maximum of a non-empty sequence of finite values.
fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// Widens `[lo, hi]` by `frac` of its width on each side (to ±0.5 around a single value).
fn pad(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if hi > lo {
        let w = (hi - lo) * frac;
        (lo - w, hi + w)
    } else {
        let w = 0.5_f64.max(lo.abs() * 0.1);
        (lo - w, hi + w)
    }
}

/// Clips the polyline through `points` (sorted by x) to `y_lo ≤ y ≤ y_hi`, returning the pieces
/// that remain visible. Crossing points are interpolated along the straight screen segment, i.e.
/// in log x on a logarithmic axis.
fn clip_y(points: &[(f64, f64)], y_lo: f64, y_hi: f64, log_x: bool) -> Vec<Vec<(f64, f64)>> {
    let inside = |y: f64| (y_lo..=y_hi).contains(&y);
    if points.len() == 1 {
        return if inside(points[0].1) {
            vec![points.to_vec()]
        } else {
            Vec::new()
        };
    }
    let at = |a: (f64, f64), b: (f64, f64), t: f64| {
        if t == 0.0 {
            a
        } else if t == 1.0 {
            b
        } else if log_x {
            (
                (a.0.ln() + t * (b.0.ln() - a.0.ln())).exp(),
                a.1 + t * (b.1 - a.1),
            )
        } else {
            (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
        }
    };
    let mut pieces: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut open = false;
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let dy = b.1 - a.1;
        let (t0, t1) = if dy == 0.0 {
            if inside(a.1) { (0.0, 1.0) } else { (1.0, 0.0) }
        } else {
            let (ta, tb) = ((y_lo - a.1) / dy, (y_hi - a.1) / dy);
            (ta.min(tb).max(0.0), ta.max(tb).min(1.0))
        };
        if t0 > t1 {
            open = false;
            continue;
        }
        if !(open && t0 == 0.0) {
            pieces.push(vec![at(a, b, t0)]);
        }
        if let Some(piece) = pieces.last_mut() {
            piece.push(at(a, b, t1));
        }
        open = t1 == 1.0;
    }
    pieces
}

/// A short tick label: at most six decimals without trailing zeros, exponent form when extreme.
fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e6).contains(&a) {
        return format!("{v:e}");
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

impl Figure for Prepared<'_> {
    fn size(&self) -> (u32, u32) {
        (800, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let y = self.y.0..self.y.1;
        if self.chart.log_x {
            let x: LogCoord<f64> = (self.x.0..self.x.1).log_scale().into();
            self.draw_with(root, x, y)
        } else {
            let x: RangedCoordf64 = (self.x.0..self.x.1).into();
            self.draw_with(root, x, y)
        }
    }
}

impl Prepared<'_> {
    /// Draws the chart with a concrete x coordinate (linear or logarithmic).
    fn draw_with<DB, X>(&self, root: &DrawingArea<DB, Shift>, x: X, y: Range<f64>) -> Result<()>
    where
        DB: DrawingBackend,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.chart.title, (FAMILY, 24))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x, y)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(&self.chart.x_label)
            .y_desc(&self.chart.y_label)
            .x_labels(if self.chart.log_x { 8 } else { 10 })
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            .draw()
            .map_err(plot_err)?;

        let (y_lo, y_hi) = self.y;
        let inside = |y: f64| (y_lo..=y_hi).contains(&y);
        for (i, (series, points)) in self.chart.series.iter().zip(&self.curves).enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let bars = points
                .iter()
                .filter_map(|&(x, y, e)| e.map(|e| (x, y - e, y + e)));
            for (x, lo, hi) in bars {
                let (lo_c, hi_c) = (lo.max(y_lo), hi.min(y_hi));
                if lo_c > hi_c {
                    continue;
                }
                let bar = PathElement::new(vec![(x, lo_c), (x, hi_c)], color.stroke_width(1));
                chart.draw_series([bar]).map_err(plot_err)?;
                let caps = [lo, hi].into_iter().filter(|&yy| inside(yy)).map(|yy| {
                    EmptyElement::at((x, yy)) + PathElement::new(vec![(-4, 0), (4, 0)], color)
                });
                chart.draw_series(caps).map_err(plot_err)?;
            }
            let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
            let mut pieces = clip_y(&xy, y_lo, y_hi, self.chart.log_x).into_iter();
            // The legend entry hangs on the first piece (an empty series if all lies outside).
            let first = pieces.next().unwrap_or_default();
            chart
                .draw_series(LineSeries::new(first, color.stroke_width(2)))
                .map_err(plot_err)?
                .label(&series.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            for piece in pieces {
                chart
                    .draw_series(LineSeries::new(piece, color.stroke_width(2)))
                    .map_err(plot_err)?;
            }
            let markers = xy
                .iter()
                .filter(|p| inside(p.1))
                .map(|&p| Circle::new(p, 3, color.filled()));
            chart.draw_series(markers).map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)
    }
}

#[cfg(test)]
mod tests {
    use super::clip_y;

    #[test]
    fn clip_y_splits_at_the_range_edges() {
        // Up through the top edge, back down, then entirely below the range.
        let pts = [(0.0, 0.0), (1.0, 2.0), (2.0, 0.0), (3.0, -3.0), (4.0, -3.0)];
        let pieces = clip_y(&pts, -1.0, 1.0, false);
        assert_eq!(
            pieces,
            vec![
                vec![(0.0, 0.0), (0.5, 1.0)],
                vec![(1.5, 1.0), (2.0, 0.0), (2.0 + 1.0 / 3.0, -1.0)],
            ]
        );
        // Everything inside: one unchanged piece; everything outside: nothing.
        assert_eq!(clip_y(&pts, -5.0, 5.0, false), vec![pts.to_vec()]);
        assert!(clip_y(&pts, 10.0, 11.0, false).is_empty());
        assert_eq!(
            clip_y(&[(1.0, 0.5)], 0.0, 1.0, false),
            vec![vec![(1.0, 0.5)]]
        );
    }

    #[test]
    fn clip_y_interpolates_in_log_x() {
        let pieces = clip_y(&[(1.0, 0.0), (100.0, 2.0)], -1.0, 1.0, true);
        let end = pieces[0][1];
        assert!((end.0 - 10.0).abs() < 1e-12 && end.1 == 1.0, "{end:?}");
    }
}
