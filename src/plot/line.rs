//! Line charts: metric curves against a swept parameter, optionally with error bars or bands,
//! in solid, dashed or thin strokes, with the legend below the plot.

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::{FAMILY, Figure, PALETTE, check_range, plot_err, render};
use crate::{Error, Result};

/// How a curve is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineStyle {
    /// A solid line 2 px wide with a filled marker at every point.
    #[default]
    Solid,
    /// A dashed line 2 px wide with an open marker at every point.
    Dashed,
    /// A translucent solid line 1 px wide without markers (one of many, e.g. a single seed): one
    /// SVG `<polyline>` per visible piece.
    Thin,
    /// A translucent dashed line 1 px wide without markers.
    ThinDashed,
    /// Filled markers without a line: a scatter plot (the points are still sorted by x).
    Markers,
}

/// How the ± half-widths of a [`Series`] are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spread {
    /// A vertical error bar with caps at every point.
    #[default]
    Bars,
    /// A translucent band from y − e to y + e along the curve (an SVG `<polygon>`).
    Band,
}

/// One curve of a [`LineChart`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Legend entry; an empty label gives none.
    pub label: String,
    /// `(x, y)` data points, in any order (they are drawn sorted by x).
    pub points: Vec<(f64, f64)>,
    /// Optional ± half-width per point, drawn as `spread`; same length as `points`.
    pub errors: Option<Vec<f64>>,
    /// Stroke of the curve.
    pub style: LineStyle,
    /// How `errors` are drawn.
    pub spread: Spread,
    /// Colour: an index into the palette (taken modulo its length); `None` uses the series'
    /// position in the chart.
    pub color: Option<usize>,
}

/// A legend entry that is not the label of a series: a line sample with a text (e.g. what a line
/// style means), or a text alone (a note).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LegendEntry {
    /// The text.
    pub label: String,
    /// The line sample's style; `None` makes the entry a note, a text across the legend's width.
    pub style: Option<LineStyle>,
    /// Draw a band behind the line sample.
    pub band: bool,
    /// Palette index of the sample; `None` draws it in dark grey.
    pub color: Option<usize>,
}

/// A chart of several curves against a common x axis.
#[derive(Debug, Clone, PartialEq, Default)]
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
    /// The curves, coloured in order unless they name a colour.
    pub series: Vec<Series>,
    /// Legend entries after those of the labelled series (line styles, notes).
    pub legend: Vec<LegendEntry>,
}

/// Draws `chart` to `{stem}.svg` and `{stem}.png`: an 800 × 560 pixel plot with the legend
/// below it (two columns of line samples, then one line per note), 20 pixels per legend line.
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
    legend: Legend,
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
            legend: Legend::of(chart),
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
        (WIDTH, PLOT_HEIGHT + self.legend.height())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let (plot, legend) = root.split_vertically(PLOT_HEIGHT);
        let y = self.y.0..self.y.1;
        if self.chart.log_x {
            let x: LogCoord<f64> = (self.x.0..self.x.1).log_scale().into();
            self.draw_with(&plot, x, y)?;
        } else {
            let x: RangedCoordf64 = (self.x.0..self.x.1).into();
            self.draw_with(&plot, x, y)?;
        }
        self.legend.draw(&legend)
    }
}

impl Prepared<'_> {
    /// Draws the chart with a concrete x coordinate (linear or logarithmic).
    fn draw_with<DB, X>(&self, root: &DrawingArea<DB, Shift>, x: X, y: Range<f64>) -> Result<()>
    where
        DB: DrawingBackend,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
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
        let color_of = |i: usize, s: &Series| PALETTE[s.color.unwrap_or(i) % PALETTE.len()];
        // Bands first, under every line.
        for (i, (series, points)) in self.chart.series.iter().zip(&self.curves).enumerate() {
            if series.spread != Spread::Band || points.iter().all(|p| p.2.is_none()) {
                continue;
            }
            let clamp = |v: f64| v.clamp(y_lo, y_hi);
            let mut outline: Vec<(f64, f64)> = points
                .iter()
                .map(|&(x, y, e)| (x, clamp(y + e.unwrap_or(0.0))))
                .collect();
            outline.extend(
                points
                    .iter()
                    .rev()
                    .map(|&(x, y, e)| (x, clamp(y - e.unwrap_or(0.0)))),
            );
            let fill = color_of(i, series).mix(BAND_OPACITY).filled();
            chart
                .draw_series([Polygon::new(outline, fill)])
                .map_err(plot_err)?;
        }
        for (i, (series, points)) in self.chart.series.iter().zip(&self.curves).enumerate() {
            let color = color_of(i, series);
            if series.spread == Spread::Bars {
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
            }
            let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
            let stroke = line_stroke(series.style, color);
            let pieces = if series.style == LineStyle::Markers {
                Vec::new()
            } else {
                clip_y(&xy, y_lo, y_hi, self.chart.log_x)
            };
            for piece in pieces {
                if is_dashed(series.style) {
                    chart
                        .draw_series(DashedLineSeries::new(piece, DASH, GAP, stroke))
                        .map_err(plot_err)?;
                } else {
                    chart
                        .draw_series(LineSeries::new(piece, stroke))
                        .map_err(plot_err)?;
                }
            }
            let visible = xy.iter().filter(|p| inside(p.1));
            match series.style {
                LineStyle::Solid => chart
                    .draw_series(visible.map(|&p| Circle::new(p, 3, color.filled())))
                    .map(|_| ()),
                LineStyle::Markers => chart
                    .draw_series(visible.map(|&p| Circle::new(p, 4, color.mix(0.7).filled())))
                    .map(|_| ()),
                LineStyle::Dashed => chart
                    .draw_series(visible.map(|&p| Circle::new(p, 3, color.stroke_width(1))))
                    .map(|_| ()),
                LineStyle::Thin | LineStyle::ThinDashed => Ok(()),
            }
            .map_err(plot_err)?;
        }
        Ok(())
    }
}

/// Pixel width of a line chart.
const WIDTH: u32 = 800;
/// Pixel height of the plot above the legend.
const PLOT_HEIGHT: u32 = 560;
/// Height of one legend line.
const LEGEND_LINE: u32 = 20;
/// Dash and gap lengths of dashed lines, in pixels.
const DASH: u32 = 8;
const GAP: u32 = 5;
/// Opacity of a band and of a thin line.
const BAND_OPACITY: f64 = 0.18;
const THIN_OPACITY: f64 = 0.5;
/// Colour of legend samples without a palette colour.
const GREY: RGBColor = RGBColor(80, 80, 80);

fn is_dashed(style: LineStyle) -> bool {
    matches!(style, LineStyle::Dashed | LineStyle::ThinDashed)
}

/// The stroke of a line of `style` in `color`.
fn line_stroke(style: LineStyle, color: RGBColor) -> ShapeStyle {
    match style {
        LineStyle::Solid | LineStyle::Dashed | LineStyle::Markers => color.stroke_width(2),
        LineStyle::Thin | LineStyle::ThinDashed => color.mix(THIN_OPACITY).stroke_width(1),
    }
}

/// The legend below the plot: line samples (of the labelled series, then the chart's extra
/// entries) in one or two columns, then the notes, one per line.
struct Legend {
    samples: Vec<LegendEntry>,
    notes: Vec<String>,
    columns: usize,
}

impl Legend {
    /// Characters of a label that still fit in half the width.
    const HALF_WIDTH_CHARS: usize = 44;

    fn of(chart: &LineChart) -> Legend {
        let mut samples: Vec<LegendEntry> = chart
            .series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.label.is_empty())
            .map(|(i, s)| LegendEntry {
                label: s.label.clone(),
                style: Some(s.style),
                band: s.spread == Spread::Band && s.errors.is_some(),
                color: Some(s.color.unwrap_or(i)),
            })
            .collect();
        let mut notes = Vec::new();
        for entry in &chart.legend {
            match entry.style {
                Some(_) => samples.push(entry.clone()),
                None => notes.push(entry.label.clone()),
            }
        }
        let long = samples
            .iter()
            .any(|e| e.label.chars().count() > Self::HALF_WIDTH_CHARS);
        Legend {
            samples,
            notes,
            columns: if long { 1 } else { 2 },
        }
    }

    fn lines(&self) -> u32 {
        (self.samples.len().div_ceil(self.columns) + self.notes.len()) as u32
    }

    fn height(&self) -> u32 {
        match self.lines() {
            0 => 0,
            n => n * LEGEND_LINE + 10,
        }
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let (left, column_width) = (85, (WIDTH as i32 - 100) / self.columns as i32);
        let line_y = |row: usize| 2 + row as i32 * LEGEND_LINE as i32 + LEGEND_LINE as i32 / 2;
        let font = (FAMILY, 14).into_font();
        for (k, entry) in self.samples.iter().enumerate() {
            let (row, col) = (k / self.columns, k % self.columns);
            let (x, y) = (left + col as i32 * column_width, line_y(row));
            let color = entry.color.map_or(GREY, |c| PALETTE[c % PALETTE.len()]);
            let style = entry.style.unwrap_or_default();
            if entry.band {
                let fill = color.mix(BAND_OPACITY).filled();
                area.draw(&Rectangle::new([(x, y - 6), (x + 30, y + 6)], fill))
                    .map_err(plot_err)?;
            }
            let stroke = line_stroke(style, color);
            let ends = [(x, y), (x + 30, y)];
            if style == LineStyle::Markers {
                area.draw(&Circle::new((x + 15, y), 4, color.mix(0.7).filled()))
                    .map_err(plot_err)?;
            } else if is_dashed(style) {
                area.draw(&DashedPathElement::new(ends, DASH, GAP, stroke))
                    .map_err(plot_err)?;
            } else {
                area.draw(&PathElement::new(ends, stroke))
                    .map_err(plot_err)?;
            }
            let text = Text::new(entry.label.clone(), (x + 38, y - 8), font.clone());
            area.draw(&text).map_err(plot_err)?;
        }
        let first = self.samples.len().div_ceil(self.columns);
        for (k, note) in self.notes.iter().enumerate() {
            let text = Text::new(note.clone(), (left, line_y(first + k) - 8), font.clone());
            area.draw(&text).map_err(plot_err)?;
        }
        Ok(())
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
