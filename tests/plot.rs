//! Figures: SVG/PNG output of line charts and decision maps, and the marching-squares contours.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use ntk_perturb::Error;
use ntk_perturb::plot::{DecisionMap, LineChart, Series, decision_map, line_chart, zero_contour};

/// Three accuracy-like curves over d = 10, 20, …, 100 (one given out of order, one with a NaN).
fn chart() -> LineChart {
    let xs: Vec<f64> = (1..=10).map(|k| 10.0 * k as f64).collect();
    let mut perturbation: Vec<(f64, f64)> = xs.iter().map(|&x| (x, 0.5 + 0.004 * x)).collect();
    perturbation.reverse();
    let mut agreement: Vec<(f64, f64)> = xs.iter().map(|&x| (x, 0.55 + 0.0035 * x)).collect();
    agreement[4].1 = f64::NAN;
    LineChart {
        title: "Accuracy versus input dimension".into(),
        x_label: "input dimension d".into(),
        y_label: "accuracy".into(),
        log_x: false,
        y_range: Some((0.0, 1.05)),
        series: vec![
            Series {
                label: "standard".into(),
                points: xs.iter().map(|&x| (x, 1.0)).collect(),
                errors: None,
                ..Default::default()
            },
            Series {
                label: "perturbation".into(),
                points: perturbation,
                errors: Some(vec![0.02; 10]),
                ..Default::default()
            },
            Series {
                label: "agreement".into(),
                points: agreement,
                errors: None,
                ..Default::default()
            },
        ],
        legend: Vec::new(),
    }
}

/// The grid point coordinates of a `n × n` grid over `[lo, hi]²`, row-major from the bottom-left.
fn grid(n: usize, lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let at = |k: usize| lo + (hi - lo) * (k as f64 / (n - 1) as f64);
    (0..n)
        .flat_map(|r| (0..n).map(move |c| (at(c), at(r))))
        .collect()
}

/// A 60 × 60 decision map with two straight zero lines and four points.
fn map() -> DecisionMap {
    let n = 60;
    let g = grid(n, -2.0, 2.0);
    let f: Vec<f64> = g.iter().map(|&(x, y)| x + y - 0.1).collect();
    let h: Vec<f64> = g.iter().map(|&(x, y)| x - 0.5 * y + 0.3).collect();
    let agree = f
        .iter()
        .zip(&h)
        .map(|(a, b)| (*a > 0.0) == (*b > 0.0))
        .collect();
    DecisionMap {
        title: "Decision map".into(),
        x_label: "first direction".into(),
        y_label: "second direction".into(),
        x_range: (-2.0, 2.0),
        y_range: (-2.0, 2.0),
        resolution: n,
        agree,
        fields: vec![("fhat".into(), f), ("ghat".into(), h)],
        points: vec![
            (1.0, 1.0, 1.0),
            (-1.0, -1.0, -1.0),
            (1.5, -0.5, 1.0),
            (f64::NAN, 0.0, 1.0),
        ],
    }
}

/// The file names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The point lists of all `<polyline>` elements of an SVG document.
fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.split("<polyline")
        .skip(1)
        .map(|el| {
            let start = el.find("points=\"").expect("polyline without points") + 8;
            let end = start + el[start..].find('"').unwrap();
            el[start..end]
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

/// Decodes a PNG file into (width, height, RGB bytes), after checking signature and IHDR.
fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let bytes = fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (w, h));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (w, h, buf)
}

/// Number of distinct colours among the pixels of rows `rows` of an RGB image of width `w`.
fn colours(rgb: &[u8], w: u32, rows: std::ops::Range<usize>) -> usize {
    let row = 3 * w as usize;
    rgb[rows.start * row..rows.end * row]
        .chunks_exact(3)
        .map(|p| (p[0], p[1], p[2]))
        .collect::<HashSet<_>>()
        .len()
}

#[test]
fn line_chart_svg_has_the_text_and_one_increasing_polyline_per_series() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("acc.d=10");
    let c = chart();
    line_chart(&c, &stem).unwrap();
    // The dot in the stem is kept, and nothing else (no temporary file) is left behind.
    assert_eq!(names(dir.path()), ["acc.d=10.png", "acc.d=10.svg"]);

    let svg = fs::read_to_string(dir.path().join("acc.d=10.svg")).unwrap();
    for text in [&c.title, &c.x_label, &c.y_label] {
        assert!(svg.contains(text.as_str()), "SVG lacks {text:?}");
    }
    for s in &c.series {
        assert!(
            svg.contains(&s.label),
            "SVG lacks series label {:?}",
            s.label
        );
    }
    let lines = polylines(&svg);
    // Every polyline (data curves, axes, ticks, error bars, legend samples) runs left to right.
    for l in &lines {
        assert!(
            l.windows(2).all(|w| w[0].0 <= w[1].0),
            "polyline not monotone in x: {l:?}"
        );
    }
    // The data curves: 10, 10 and 9 points (a NaN skipped), strictly increasing in x.
    for n in [10, 10, 9] {
        assert!(
            lines
                .iter()
                .any(|l| l.len() == n && l.windows(2).all(|w| w[0].0 < w[1].0)),
            "no strictly increasing polyline with {n} points"
        );
    }
    // The perturbation curve was given in decreasing x and rising y: drawn sorted, so y in SVG
    // coordinates (downwards) must fall along it.
    let rising = lines
        .iter()
        .filter(|l| l.len() == 10)
        .any(|l| l.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 > w[1].1));
    assert!(rising);
}

#[test]
fn a_fixed_y_range_clips_the_curves_to_the_plot_area() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("clipped");
    let mut c = chart();
    // The standard curve at 1.0 lies entirely above, the others cross 0.8 on the way up.
    c.y_range = Some((0.0, 0.8));
    line_chart(&c, &stem).unwrap();
    let svg = fs::read_to_string(dir.path().join("clipped.svg")).unwrap();
    assert!(
        svg.contains("standard"),
        "the legend keeps a fully clipped series"
    );
    // The y axis is the longest vertical polyline; the curves (stroke width 2) stay within it.
    let lines = polylines(&svg);
    let (top, bottom) = lines
        .iter()
        .filter(|l| l.len() == 2 && l[0].0 == l[1].0)
        .map(|l| (l[0].1.min(l[1].1), l[0].1.max(l[1].1)))
        .max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)))
        .unwrap();
    let curves: Vec<_> = svg
        .split("<polyline")
        .skip(1)
        .zip(&lines)
        .filter(|(el, _)| el.contains("stroke-width=\"2\""))
        .map(|(_, l)| l)
        // The legend's line samples lie below the 560-pixel plot.
        .filter(|l| l.iter().any(|p| p.1 < 560.0))
        .collect();
    assert!(!curves.is_empty());
    for l in curves {
        for &(_, y) in l {
            assert!(
                (top..=bottom).contains(&y),
                "curve point y = {y} outside [{top}, {bottom}]"
            );
        }
    }
}

#[test]
fn line_chart_png_decodes_with_rendered_text() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("acc");
    let mut c = chart();
    c.log_x = true;
    c.y_range = None;
    line_chart(&c, &stem).unwrap();
    let (w, h, rgb) = decode_png(&dir.path().join("acc.png"));
    // The 800 × 560 plot, then the legend: three samples in two columns are two lines of 20
    // pixels, plus 10 pixels of padding.
    assert_eq!((w, h), (800, 610));
    assert!(colours(&rgb, w, 0..h as usize) > 20, "PNG looks blank");
    // The title band holds only the caption: anti-aliased glyphs give many grey levels.
    assert!(colours(&rgb, w, 10..40) > 5, "caption text did not render");
    // The x-axis description under the tick labels.
    assert!(colours(&rgb, w, 520..555) > 5, "axis text did not render");
    assert!(colours(&rgb, w, 565..605) > 5, "legend text did not render");
}

#[test]
fn decision_map_writes_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("map");
    let m = map();
    decision_map(&m, &stem).unwrap();
    assert_eq!(names(dir.path()), ["map.png", "map.svg"]);
    let svg = fs::read_to_string(dir.path().join("map.svg")).unwrap();
    for text in [
        "Decision map",
        "first direction",
        "second direction",
        "fhat = 0",
        "ghat = 0",
        "sgn f = sgn g",
        "sgn f ≠ sgn g",
        "y = +1",
        "y = −1",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    let (w, h, rgb) = decode_png(&dir.path().join("map.png"));
    assert_eq!((w, h), (760, 700));
    let pixels: HashSet<(u8, u8, u8)> = rgb.chunks_exact(3).map(|p| (p[0], p[1], p[2])).collect();
    // Both region colours, both contour colours and both marker colours are present.
    for c in [
        (232, 232, 232),
        (255, 196, 120),
        (0, 0, 0),
        (200, 0, 160),
        (214, 39, 40),
        (31, 119, 180),
    ] {
        assert!(pixels.contains(&c), "colour {c:?} missing from the PNG");
    }
}

#[test]
fn zero_contour_of_a_circle_stays_within_one_cell() {
    // r² = 0.3721 is not a sum of two squares of grid coordinates (multiples of 0.025), so no
    // grid point lies on the circle and the contour is one closed chain.
    let (n, r) = (81, 0.61);
    let g = grid(n, -1.0, 1.0);
    let values: Vec<f64> = g.iter().map(|&(x, y)| x * x + y * y - r * r).collect();
    let segments = zero_contour(&values, n, (-1.0, 1.0), (-1.0, 1.0)).unwrap();
    let cell = 2.0 / (n - 1) as f64;
    let mut length = 0.0;
    let mut max_dev: f64 = 0.0;
    for [a, b] in &segments {
        for (x, y) in [a, b] {
            max_dev = max_dev.max(((x * x + y * y).sqrt() - r).abs());
        }
        length += ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    }
    assert!(
        max_dev <= cell,
        "max deviation {max_dev} exceeds the cell size {cell}"
    );
    // A closed curve: total length close to the circumference.
    let circumference = 2.0 * std::f64::consts::PI * r;
    assert!(
        (length - circumference).abs() < 0.01 * circumference,
        "length {length}"
    );
    // Every endpoint is shared by exactly two segments (no gaps).
    let mut ends = std::collections::HashMap::new();
    for s in &segments {
        for p in s {
            *ends.entry((p.0.to_bits(), p.1.to_bits())).or_insert(0) += 1;
        }
    }
    assert!(ends.values().all(|&k| k == 2));
}

#[test]
fn zero_contour_of_a_straight_line_is_exact() {
    // x = 0.3 falls between grid columns (n = 8) or on one (n = 11).
    for n in [8, 11] {
        let g = grid(n, 0.0, 1.0);
        let values: Vec<f64> = g.iter().map(|&(x, _)| x - 0.3).collect();
        let segments = zero_contour(&values, n, (0.0, 1.0), (0.0, 1.0)).unwrap();
        assert_eq!(segments.len(), n - 1, "one segment per cell row");
        let mut length = 0.0;
        for [a, b] in &segments {
            assert!(
                (a.0 - 0.3).abs() <= 1e-12 && (b.0 - 0.3).abs() <= 1e-12,
                "{a:?} {b:?}"
            );
            length += (b.1 - a.1).abs();
        }
        assert!((length - 1.0).abs() <= 1e-12);
    }
}

#[test]
fn zero_contour_on_crossing_lines_resolves_saddles_and_skips_non_finite_cells() {
    // f = x·y on an even grid: the zero set is the two axes, crossing inside the centre cell.
    let n = 10;
    let g = grid(n, -1.0, 1.0);
    let mut values: Vec<f64> = g.iter().map(|&(x, y)| x * y).collect();
    let segments = zero_contour(&values, n, (-1.0, 1.0), (-1.0, 1.0)).unwrap();
    for [a, b] in &segments {
        for p in [a, b] {
            assert!(
                p.0.abs() < 1e-12 || p.1.abs() < 1e-12,
                "{p:?} is on neither axis"
            );
        }
    }
    // A NaN next to the axis x = 0 (between columns 4 and 5) removes the cells around it.
    values[2 * n + 4] = f64::NAN;
    let fewer = zero_contour(&values, n, (-1.0, 1.0), (-1.0, 1.0)).unwrap();
    assert!(fewer.len() < segments.len());
    assert!(
        fewer
            .iter()
            .flatten()
            .all(|p| p.0.is_finite() && p.1.is_finite())
    );

    // f = x·y ± δ: the centre cell is a saddle. Its zero set is a hyperbola in quadrants II and IV
    // (+δ) or I and III (−δ), so every segment stays within one quadrant; the wrong saddle choice
    // would join two opposite quadrants across the centre.
    for delta in [1e-3, -1e-3] {
        let values: Vec<f64> = g.iter().map(|&(x, y)| x * y + delta).collect();
        let segments = zero_contour(&values, n, (-1.0, 1.0), (-1.0, 1.0)).unwrap();
        let quadrant = |p: (f64, f64)| (p.0 > 0.0, p.1 > 0.0);
        for [a, b] in &segments {
            assert_eq!(quadrant(*a), quadrant(*b), "δ = {delta}: {a:?} → {b:?}");
            assert_eq!(a.0 * a.1 < 0.0, delta > 0.0, "δ = {delta}: {a:?}");
        }
    }
}

#[test]
fn bad_inputs_are_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("fig");
    let input = |e: &Error| assert_eq!(e.exit_code(), 2, "{e}");

    let mut c = chart();
    c.series.clear();
    input(&line_chart(&c, &stem).unwrap_err());

    let mut c = chart();
    c.series[1].points.clear();
    c.series[1].errors = None;
    input(&line_chart(&c, &stem).unwrap_err());

    let mut c = chart();
    c.series[1].errors = Some(vec![0.1; 3]);
    input(&line_chart(&c, &stem).unwrap_err());

    let mut c = chart();
    c.series[1].errors.as_mut().unwrap()[0] = -0.1;
    input(&line_chart(&c, &stem).unwrap_err());

    let mut c = chart();
    c.y_range = Some((1.0, 1.0));
    input(&line_chart(&c, &stem).unwrap_err());

    let mut c = chart();
    c.series[0].points = vec![(f64::NAN, 1.0), (2.0, f64::INFINITY)];
    let e = line_chart(&c, &stem).unwrap_err();
    assert!(matches!(e, Error::Numerical { .. }), "{e}");
    assert!(e.to_string().contains("standard"), "{e}");

    let mut c = chart();
    c.log_x = true;
    c.series[2].points = vec![(0.0, 1.0), (-1.0, 0.5)];
    assert!(matches!(
        line_chart(&c, &stem),
        Err(Error::Numerical { .. })
    ));

    let mut m = map();
    m.agree.pop();
    input(&decision_map(&m, &stem).unwrap_err());

    let mut m = map();
    m.fields[1].1.push(0.0);
    input(&decision_map(&m, &stem).unwrap_err());

    let mut m = map();
    m.resolution = 1;
    m.agree = vec![true];
    m.fields.clear();
    input(&decision_map(&m, &stem).unwrap_err());

    let mut m = map();
    m.x_range = (1.0, f64::NAN);
    input(&decision_map(&m, &stem).unwrap_err());

    let mut m = map();
    m.fields[0].1.fill(f64::NAN);
    assert!(matches!(
        decision_map(&m, &stem),
        Err(Error::Numerical { .. })
    ));

    input(&zero_contour(&[0.0; 5], 2, (0.0, 1.0), (0.0, 1.0)).unwrap_err());
    input(&zero_contour(&[0.0; 1], 1, (0.0, 1.0), (0.0, 1.0)).unwrap_err());
    input(&zero_contour(&[0.0; 4], 2, (1.0, 0.0), (0.0, 1.0)).unwrap_err());

    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn unwritable_destination_is_a_write_error_without_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("fig");
    let e = line_chart(&chart(), &missing).unwrap_err();
    assert!(
        matches!(&e, Error::Write { path, .. } if path.ends_with("fig.svg")),
        "{e}"
    );
    // Output directories are checked when a command starts; a write failing later is a run-time
    // failure.
    assert_eq!(e.exit_code(), 1);
    let e = decision_map(&map(), &missing).unwrap_err();
    assert!(matches!(e, Error::Write { .. }), "{e}");

    // A directory where the SVG should go: the rename fails and the temporary file is removed.
    fs::create_dir(dir.path().join("fig.svg")).unwrap();
    let e = line_chart(&chart(), &dir.path().join("fig")).unwrap_err();
    assert!(matches!(e, Error::Write { .. }), "{e}");
    assert_eq!(names(dir.path()), ["fig.svg"]);
}
