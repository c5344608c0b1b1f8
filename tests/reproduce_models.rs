//! `reproduce --model both --per-seed`: the theory's rows equal an `experiment` run with
//! `model = "theory"` bit for bit, the per-seed rows average to the aggregated rows, the figure
//! draws one thin polyline per seed, and a point whose theory does not fit in memory is a row with
//! a note instead of a failed preset.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use common::stderr;
use ntk_perturb::study::experiment::presets::{Panel, Preset};
use ntk_perturb::study::experiment::{Model, Models, ReproduceOptions, RunConfig, run, run_preset};

/// The rows of a CSV file as maps from column name to text.
fn table(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// The quick shifted-Gauss (a) setting of §7.3 (N = 400, d = 100, 400 test points, m = 100,
/// 100 epochs of momentum SGD at lr 1) with the ε panel's values c = 0, c/4, c/2, c for
/// c = 0.001, written by hand for an independent `experiment` run of the theory.
const THEORY_EPS: &str = r#"dataset = "shifted-gauss"
n = 400
d = 100
n_test = 400
width = 100
model = "theory"
lr_f = 1.0
lr_g = 1.0
steps_f = 100
steps_g = 100
momentum = 0.9
scenario = "a"
eps_per_coordinate = [0.0, 0.00025, 0.0005, 0.001]
seeds = 2
"#;

const METRICS: [&str; 3] = ["standard_train", "perturbation_train", "agreement"];

fn reproduce_eps(out: &Path, extra: &[&str]) {
    let mut args = vec![
        "reproduce",
        "shifted-gauss-a",
        "--quick",
        "--seeds",
        "2",
        "--panel",
        "eps",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = common::run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The polylines of an SVG drawn 1 px wide at opacity 0.5 (thin lines), as point counts and
/// colours.
fn thin_polylines(svg: &str) -> Vec<(usize, String)> {
    svg.split("<polyline")
        .skip(1)
        .map(|el| &el[..el.find("/>").unwrap()])
        .filter(|el| el.contains("opacity=\"0.5\"") && el.contains("stroke-width=\"1\""))
        .map(|el| {
            let start = el.find("points=\"").unwrap() + 8;
            let points = el[start..start + el[start..].find('"').unwrap()]
                .split_whitespace()
                .count();
            let s = el.find("stroke=\"").unwrap() + 8;
            (points, el[s..s + 7].to_string())
        })
        .collect()
}

#[test]
fn theory_and_per_seed_rows_of_the_eps_panel() {
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("rep");
    reproduce_eps(&rep, &["--per-seed"]);
    let summary = table(&rep.join("summary.csv"));
    let is = |r: &HashMap<String, String>, k: &str, v: &str| r[k] == v;

    // The theory's value of every seed, point and metric equals the `experiment` run of the
    // hand-written configuration, bit for bit.
    let config = dir.path().join("theory.toml");
    fs::write(&config, THEORY_EPS).unwrap();
    let exp = dir.path().join("exp");
    let o = common::run(&[
        "experiment",
        config.to_str().unwrap(),
        "--quiet",
        "--out",
        exp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut matched = 0;
    for r in table(&exp.join("results.csv")) {
        if !METRICS.contains(&r["metric"].as_str()) {
            continue;
        }
        // x = ε = c·√d with d = 100.
        let x = r["eps_per_coordinate"].parse::<f64>().unwrap() * 10.0;
        let rows: Vec<_> = summary
            .iter()
            .filter(|s| is(s, "model", "theory") && is(s, "aggregate", "seed"))
            .filter(|s| is(s, "seed", &r["seed"]) && is(s, "metric", &r["metric"]))
            .filter(|s| (s["x"].parse::<f64>().unwrap() - x).abs() < 1e-12)
            .collect();
        assert_eq!(rows.len(), 1, "{r:?}");
        let (a, b): (f64, f64) = (
            rows[0]["mean"].parse().unwrap(),
            r["value"].parse().unwrap(),
        );
        assert_eq!(a.to_bits(), b.to_bits(), "{r:?}");
        matched += 1;
    }
    assert_eq!(matched, 4 * 2 * 3);

    // A third path: the pipeline called directly at ε = c·√d = 0.01, seed 1.
    let cfg = RunConfig {
        n: Some(400),
        d: Some(100),
        n_test: 400,
        model: Model::Theory,
        steps_f: 100,
        steps_g: 100,
        momentum: 0.9,
        eps_per_coordinate: Some(0.001),
        seed: 1,
        ..RunConfig::default()
    };
    let direct = run(&cfg).unwrap().metrics.agreement;
    let row = summary
        .iter()
        .find(|s| {
            is(s, "model", "theory")
                && is(s, "seed", "1")
                && is(s, "metric", "agreement")
                && (s["x"].parse::<f64>().unwrap() - 0.01).abs() < 1e-12
        })
        .unwrap();
    assert_eq!(
        row["mean"].parse::<f64>().unwrap().to_bits(),
        direct.to_bits()
    );

    // Per model: one aggregated row per point and metric, one row per seed, point and metric, and
    // each aggregated mean is the mean of its seeds' rows.
    for model in ["network", "theory"] {
        let of = |agg: &str| -> Vec<&HashMap<String, String>> {
            summary
                .iter()
                .filter(|s| is(s, "model", model) && is(s, "aggregate", agg))
                .filter(|s| METRICS.contains(&s["metric"].as_str()))
                .collect()
        };
        let (means, seeds) = (of("mean over seeds"), of("seed"));
        assert_eq!(means.len(), 4 * 3, "{model}");
        assert_eq!(seeds.len(), 2 * 4 * 3, "{model}");
        for m in &means {
            assert!(m["seed"].is_empty() && m["note"].is_empty() && m["seeds"] == "2");
            let values: Vec<f64> = seeds
                .iter()
                .filter(|s| s["x"] == m["x"] && s["metric"] == m["metric"])
                .map(|s| s["mean"].parse().unwrap())
                .collect();
            assert_eq!(values.len(), 2);
            let hand = values.iter().sum::<f64>() / values.len() as f64;
            let mean: f64 = m["mean"].parse().unwrap();
            assert!((mean - hand).abs() <= 1e-12, "{model} {m:?}: {hand}");
        }
    }

    // The ε thresholds of every model and seed (theory §6.6): the observed one is the first x of
    // the seed's agreement rows at ≥ 0.9, the predicted one the run's own metric in results.csv.
    let results = table(&rep.join("eps/results.csv"));
    for model in ["network", "theory"] {
        for seed in ["0", "1"] {
            let of_seed = |metric: &str| -> Vec<&HashMap<String, String>> {
                summary
                    .iter()
                    .filter(|s| is(s, "model", model) && is(s, "seed", seed))
                    .filter(|s| is(s, "metric", metric))
                    .collect()
            };
            let mut agreement: Vec<(f64, f64)> = of_seed("agreement")
                .iter()
                .map(|s| (s["x"].parse().unwrap(), s["mean"].parse().unwrap()))
                .collect();
            agreement.sort_by(|a, b| a.0.total_cmp(&b.0));
            let first = agreement.iter().find(|p| p.1 >= 0.9).map(|p| p.0);
            let obs = of_seed("eps_threshold_obs");
            assert_eq!(obs.len(), 1);
            assert_eq!(obs[0]["mean"].parse::<f64>().ok(), first, "{model} {seed}");
            // An ε* the predicted agreement never reaches is an empty cell.
            let pred: Vec<Option<f64>> = results
                .iter()
                .filter(|r| r["model"] == model && r["seed"] == seed)
                .filter(|r| r["metric"] == "eps_threshold_pred")
                .map(|r| r["value"].parse().ok())
                .collect();
            assert_eq!(pred.len(), 4);
            assert!(pred.iter().all(|p| *p == pred[0]));
            let row = of_seed("eps_threshold_pred");
            assert_eq!(row[0]["mean"].parse::<f64>().ok(), pred[0]);
        }
    }

    // The figure: one thin polyline through the 4 points per metric and seed of the network
    // (3 × 2), the theory's seeds as thin dashes in every metric's colour, and the legend's
    // 2-point sample of a single seed.
    let svg = fs::read_to_string(rep.join("shifted-gauss-a-eps.svg")).unwrap();
    let thin = thin_polylines(&svg);
    assert_eq!(
        thin.iter().filter(|(n, _)| *n == 4).count(),
        3 * 2,
        "{thin:?}"
    );
    for colour in ["#1F77B4", "#FF7F0E", "#2CA02C"] {
        assert!(thin.iter().any(|(n, c)| *n < 4 && c == colour), "{colour}");
    }
    assert!(svg.contains("theory (infinite width)") && svg.contains("one seed"));

    // Without --per-seed (the same cells, resumed) the figure has no thin line at all.
    reproduce_eps(&rep, &["--resume"]);
    let svg = fs::read_to_string(rep.join("shifted-gauss-a-eps.svg")).unwrap();
    assert!(thin_polylines(&svg).is_empty());
    assert!(!svg.contains("one seed"));
}

#[test]
fn a_theory_point_that_does_not_fit_in_memory_is_a_noted_empty_row() {
    // N = 3·10⁶ needs a 72 TB Gram matrix: refused before allocation. N = 40 runs.
    let base = RunConfig {
        n: Some(40),
        d: Some(2),
        n_test: 40,
        steps_f: 10,
        steps_g: 10,
        eps_per_coordinate: Some(0.05),
        ..RunConfig::default()
    };
    let p = Preset {
        name: "huge",
        title: "huge".into(),
        panels: vec![Panel {
            name: "n".into(),
            key: "n",
            values: vec![40.into(), 3_000_000.into()],
            x_scale: 1.0,
            x_name: "n",
            log_x: true,
            x_label: "N".into(),
            base,
        }],
        metrics: &["agreement"],
        lr_grid: vec![1.0],
    };
    let dir = tempfile::tempdir().unwrap();
    let summary = run_preset(
        &p,
        dir.path(),
        &ReproduceOptions {
            seeds: 2,
            lr_grid_max: false,
            models: Models::Theory,
            per_seed: false,
            targets: None,
            shard: None,
            progress: None,
        },
    )
    .unwrap();
    // One aggregated row and two seed rows per point.
    assert_eq!(summary.len(), 2 * 3);
    for r in &summary {
        assert_eq!(r.model, "theory");
        if r.x == 40.0 {
            assert!(r.mean.is_finite() && r.note.is_empty(), "{r:?}");
        } else {
            assert_eq!(r.x, 3e6);
            assert!(r.mean.is_nan() && r.seeds == 0, "{r:?}");
            assert!(
                r.note.contains("not evaluated") && r.note.contains("memory"),
                "{r:?}"
            );
        }
    }
    // In the table the values are empty cells next to the note.
    let rows = table(&dir.path().join("summary.csv"));
    let huge: Vec<_> = rows.iter().filter(|r| r["x"] == "3000000.0").collect();
    assert_eq!(huge.len(), 3);
    assert!(
        huge.iter()
            .all(|r| r["mean"].is_empty() && !r["note"].is_empty())
    );
    let svg = fs::read_to_string(dir.path().join("huge-n.svg")).unwrap();
    assert!(svg.contains("theory not evaluated (out of memory) at n = 3000000"));
}

#[test]
fn the_keys_the_theory_does_not_read_leave_every_metric_unchanged() {
    use ntk_perturb::perturbation::TargetKind;
    use ntk_perturb::study::experiment::{DatasetKind, run_key, unread_keys};
    let dir = tempfile::tempdir().unwrap();
    let train = common::generate(dir.path(), "train.csv", "30", "0");
    let test = common::generate(dir.path(), "test.csv", "20", "1");
    let synthetic = RunConfig {
        n: Some(30),
        d: Some(4),
        n_test: 20,
        model: Model::Theory,
        steps_f: 10,
        steps_g: 10,
        eps: Some(0.3),
        ..RunConfig::default()
    };
    let files = RunConfig {
        dataset: DatasetKind::File,
        n: None,
        d: None,
        train: Some(train.into()),
        test: Some(test.into()),
        targets: TargetKind::Flipped,
        ..synthetic.clone()
    };
    for (base, unread) in [
        (&synthetic, vec!["width", "readout", "init"]),
        (&files, vec!["width", "readout", "init", "seed"]),
    ] {
        assert_eq!(unread_keys(base), unread);
        let mut other = base.clone();
        other.width = 8;
        other.readout = ntk_perturb::model::Readout::Sign;
        other.init = ntk_perturb::model::Init::Antisymmetric;
        other.seed = if unread.contains(&"seed") {
            5
        } else {
            base.seed
        };
        assert_eq!(run_key(base).unwrap(), run_key(&other).unwrap());
        let (a, b) = (run(base).unwrap(), run(&other).unwrap());
        for ((m, x), (_, y)) in a.rows().into_iter().zip(b.rows()) {
            assert_eq!(x.to_bits(), y.to_bits(), "{m}");
        }
    }
    // The network reads them all: a different width is a different run.
    let mut net = synthetic.clone();
    net.model = Model::Network;
    assert!(unread_keys(&net).is_empty());
    // The synthetic theory reads the seed (its data), so seeds are different runs.
    let mut seeded = synthetic.clone();
    seeded.seed = 1;
    let cos = |c: &RunConfig| run(c).unwrap().metrics.mean_abs_cos;
    assert_ne!(cos(&synthetic).to_bits(), cos(&seeded).to_bits());
}
