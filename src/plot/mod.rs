//! Figures of §7: accuracy curves against a swept parameter ([`line_chart`]) and decision maps on a
//! 2-D plane ([`decision_map`]).
//!
//! Every figure is written twice, as `{stem}.svg` and `{stem}.png`, each atomically through
//! [`write_atomic`]: both images are rendered in memory first, so an invalid input or a drawing
//! failure writes nothing, and a failed write leaves no temporary file behind.
//!
//! Text is laid out and rasterized with DejaVu Sans, compiled into the binary, so PNG output needs
//! no system fonts or font libraries. SVG files name the generic `sans-serif` family.
//!
//! Errors: structurally wrong input (no series, length mismatches, an empty or reversed range, a
//! grid resolution below 2) is [`Error::InvalidArgument`]; data with no finite value left to draw and
//! failures inside the drawing library are [`Error::Numerical`] with context `plotting`.

mod contour;
mod line;
mod map;

pub use contour::{Segment, zero_contour};
pub use line::{LegendEntry, LineChart, LineStyle, Series, Spread, line_chart};
pub use map::{DecisionMap, decision_map};

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::io::write_atomic;
use crate::{Error, Result};

/// DejaVu Sans (Bitstream Vera licence, see `assets/fonts/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Font family name under which [`FONT`] is registered with plotters.
const FAMILY: &str = "sans-serif";

/// Registers the embedded font with plotters once per process.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::numerical(
            "plotting",
            "the embedded DejaVu Sans font could not be parsed",
        ))
    }
}

/// A figure that can draw itself on any plotters backend.
trait Figure {
    /// Pixel size of the PNG (and nominal size of the SVG).
    fn size(&self) -> (u32, u32);
    /// Draws the whole figure on `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Maps any plotters error into the crate's error type.
fn plot_err(e: impl std::fmt::Debug) -> Error {
    Error::numerical("plotting", format!("{e:?}"))
}

/// `{stem}.{ext}`, keeping any dots already in the stem's file name.
fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    let mut s: OsString = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Renders `fig` as SVG and PNG in memory, then writes `{stem}.svg` and `{stem}.png` atomically.
fn render(fig: &impl Figure, stem: &Path) -> Result<()> {
    ensure_font()?;
    if stem.file_name().is_none() {
        return Err(Error::File {
            path: stem.display().to_string(),
            message: "not a file name stem".into(),
        });
    }
    let (w, h) = fig.size();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        fig.draw(&root)?;
        root.present().map_err(plot_err)?;
    }

    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        fig.draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    let png_bytes = encode_png(&rgb, w, h)?;

    let svg_path = with_suffix(stem, "svg");
    write_atomic(&svg_path, |out| {
        out.write_all(svg.as_bytes())
            .map_err(|e| Error::io(&svg_path, e))
    })?;
    let png_path = with_suffix(stem, "png");
    write_atomic(&png_path, |out| {
        out.write_all(&png_bytes)
            .map_err(|e| Error::io(&png_path, e))
    })
}

/// Encodes an 8-bit RGB buffer as PNG.
fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(plot_err)?;
    writer.write_image_data(rgb).map_err(plot_err)?;
    writer.finish().map_err(plot_err)?;
    Ok(bytes)
}

/// Checks that `range` is finite and increasing.
fn check_range(what: &str, range: (f64, f64)) -> Result<()> {
    if range.0.is_finite() && range.1.is_finite() && range.0 < range.1 {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            format!(
                "range ({}, {}) must be finite with min < max",
                range.0, range.1
            ),
        ))
    }
}

/// Distinct line colours (the first of matplotlib's `tab10`).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
