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
/// ([`Error::Numerical`]); a failed write ([`Error::Io`]). Nothing is written on error.
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

        for (i, (series, points)) in self.chart.series.iter().zip(&self.curves).enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let bars = points.iter().filter_map(|&(x, y, e)| e.map(|e| (x, y, e)));
            for (x, y, e) in bars {
                let bar = PathElement::new(vec![(x, y - e), (x, y + e)], color.stroke_width(1));
                let cap =
                    |yy| EmptyElement::at((x, yy)) + PathElement::new(vec![(-4, 0), (4, 0)], color);
                chart.draw_series([bar]).map_err(plot_err)?;
                chart
                    .draw_series([cap(y - e), cap(y + e)])
                    .map_err(plot_err)?;
            }
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(&series.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|p| Circle::new((p.0, p.1), 3, color.filled())),
                )
                .map_err(plot_err)?;
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
