//! `ntk-perturb perturb` and `parallel` end to end: L2 perturbations have norm ε and the `sum`
//! source matches the closed-form weighted sum, L∞ ones move each coordinate by the per-coordinate
//! size, the written cosines agree with the written vectors, undefined cosines are empty cells, and
//! bad flags exit with code 2 leaving no output directory.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Output};

use ntk_perturb::data::{shifted_gauss, write_csv};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
}

fn write_data(dir: &Path) {
    let train = shifted_gauss(30, 6, 0.3, 1).unwrap();
    write_csv(&train, &dir.join("train.csv")).unwrap();
}

fn run(args: &[&str], dir: &Path, out: &str) -> Output {
    bin()
        .args(args)
        .arg("--train")
        .arg(dir.join("train.csv"))
        .arg("--out")
        .arg(dir.join(out))
        .output()
        .unwrap()
}

fn read_table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn read_gz(path: &Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// The perturbations of perturbations.csv.gz: (targets, rows η_n).
fn read_perturbations(dir: &Path) -> (Vec<f64>, Vec<Vec<f64>>) {
    let (_, rows) = read_table(&read_gz(&dir.join("perturbations.csv.gz")));
    let targets = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let eta = rows
        .iter()
        .map(|r| r[2..].iter().map(|v| v.parse().unwrap()).collect())
        .collect();
    (targets, eta)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The paper's weighted sum Σ_k y_k Φ_0(x_k, x_n) x_k written out (identity loss: α ∝ y, so this
/// is the `sum` direction up to the factor T/N > 0). Φ_0 is the ReLU kernel with bias (§4):
/// (π − θ)/(2π) with cos θ = (x·z/d + 1)/√((‖x‖²/d + 1)(‖z‖²/d + 1)).
fn weighted_sum(n: usize) -> Vec<f64> {
    let train = shifted_gauss(30, 6, 0.3, 1).unwrap();
    let d = 6.0;
    let row = |i: usize| (0..6).map(|j| train.x[(i, j)]).collect::<Vec<f64>>();
    let xn = row(n);
    let mut s = vec![0.0; 6];
    for k in 0..30 {
        let xk = row(k);
        let c = (dot(&xk, &xn) / d + 1.0)
            / ((dot(&xk, &xk) / d + 1.0) * (dot(&xn, &xn) / d + 1.0)).sqrt();
        let theta = if k == n {
            0.0
        } else {
            c.clamp(-1.0, 1.0).acos()
        };
        let phi = (std::f64::consts::PI - theta) / (2.0 * std::f64::consts::PI);
        for j in 0..6 {
            s[j] += train.y[k] * phi * xk[j];
        }
    }
    s
}

/// Each source's L2 perturbation has norm ε = c√d; the cosines and residuals of directions.csv
/// agree with the written vectors (η_n = ε y^adv_n v/‖v‖, so cos(η^a_n, η^b_n) = cos(a, b) and
/// ‖a − b‖/‖b‖ ≥ sin∠(a, b)); the `sum` perturbation is the closed-form weighted sum.
#[test]
fn perturb_writes_l2_perturbations_of_norm_eps_and_all_pairs() {
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    let sources = ["net", "lin", "sum", "kernel"];
    let mut etas = Vec::new();
    let mut first_targets: Option<Vec<f64>> = None;
    let mut table = Vec::new();
    for source in sources {
        let out = format!("p-{source}");
        let o = run(
            &[
                "perturb",
                "--width",
                "20",
                "--time",
                "2",
                "--lr",
                "0.5",
                "--eps-per-coordinate",
                "0.1",
                "--source",
                source,
                "--quiet",
            ],
            tmp.path(),
            &out,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let dir = tmp.path().join(&out);
        assert!(dir.join("config.toml").exists());
        let (header, rows) = read_table(&read_gz(&dir.join("perturbations.csv.gz")));
        assert_eq!(header.len(), 2 + 6);
        assert_eq!(&header[..3], ["index", "target", "eta_0"]);
        assert_eq!(header[7], "eta_5");
        assert_eq!(rows.len(), 30);
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r[0], i.to_string());
        }
        let (targets, eta) = read_perturbations(&dir);
        assert!(targets.iter().all(|&t| t == 1.0 || t == -1.0));
        // The same seed draws the same targets for every source.
        assert_eq!(first_targets.get_or_insert(targets.clone()), &targets);
        let eps = 0.1 * 6f64.sqrt();
        for (i, e) in eta.iter().enumerate() {
            let norm = dot(e, e).sqrt();
            assert!(
                (norm - eps).abs() <= 1e-12 * eps,
                "{source} row {i}: {norm}"
            );
        }
        if source == "sum" {
            // Tolerance: rounding only (θ(x_n, x_n) is exactly 0, docs/theory.md §8.2), a few
            // hundred ε_mach of ε for sums of N terms in d = 6.
            for (i, e) in eta.iter().enumerate() {
                let s = weighted_sum(i);
                let len = dot(&s, &s).sqrt();
                for j in 0..6 {
                    let want = eps * targets[i] * s[j] / len;
                    assert!(
                        (e[j] - want).abs() <= 1e-13 * eps,
                        "sum row {i}: {} vs {want}",
                        e[j]
                    );
                }
            }
        }
        etas.push(eta);
        let text = std::fs::read_to_string(dir.join("directions.csv")).unwrap();
        let (header, rows) = read_table(&text);
        assert_eq!(header, ["index", "pair", "cosine", "relative_residual"]);
        assert_eq!(rows.len(), 30 * 10);
        table = rows;
    }
    // directions.csv compares all directions at the same trained network, so any run's table
    // holds every pair; check it against the cosines of the written perturbations.
    let mut checked = 0;
    for r in &table {
        let i: usize = r[0].parse().unwrap();
        let c: f64 = r[2].parse().unwrap();
        let rel: f64 = r[3].parse().unwrap();
        // ‖a − b‖ ≥ ‖b‖ sin∠(a, b): a lower bound on the residual from the cosine alone.
        assert!(rel >= (1.0 - c * c).max(0.0).sqrt() - 1e-9, "{r:?}");
        let (a, b) = r[1].split_once('-').unwrap();
        let (Some(ia), Some(ib)) = (
            sources.iter().position(|s| *s == a),
            sources.iter().position(|s| *s == b),
        ) else {
            continue;
        };
        let (ea, eb) = (&etas[ia][i], &etas[ib][i]);
        let want = dot(ea, eb) / (dot(ea, ea) * dot(eb, eb)).sqrt();
        assert!(
            (c - want).abs() <= 1e-12,
            "{r:?}: cos of the perturbations {want}"
        );
        checked += 1;
    }
    assert_eq!(checked, 30 * 6);
}

/// L∞ with a per-coordinate size c moves every coordinate by exactly c (ε = c, not c·√d), in the
/// sign of the target times the sign of the closed-form weighted sum.
#[test]
fn linf_per_coordinate_budget_moves_every_coordinate_by_c() {
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    let o = run(
        &[
            "perturb",
            "--width",
            "20",
            "--time",
            "2",
            "--lr",
            "0.5",
            "--eps-per-coordinate",
            "0.1",
            "--norm",
            "linf",
            "--source",
            "sum",
            "--quiet",
        ],
        tmp.path(),
        "linf",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (targets, eta) = read_perturbations(&tmp.path().join("linf"));
    for (i, e) in eta.iter().enumerate() {
        let s = weighted_sum(i);
        for j in 0..6 {
            assert_eq!(
                e[j],
                0.1 * targets[i] * s[j].signum(),
                "row {i} coordinate {j}"
            );
        }
    }
}

#[test]
fn antisymmetric_init_leaves_init_cosines_empty_and_warns() {
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    let o = run(
        &[
            "perturb",
            "--width",
            "20",
            "--time",
            "1",
            "--eps",
            "0.5",
            "--init",
            "antisymmetric",
            "--norm",
            "linf",
            "--steps",
            "3",
        ],
        tmp.path(),
        "anti",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains("net-sum"), "{stderr}");
    let text = std::fs::read_to_string(tmp.path().join("anti/directions.csv")).unwrap();
    let (_, rows) = read_table(&text);
    for r in &rows {
        if r[1].ends_with("-init") {
            assert_eq!((r[2].as_str(), r[3].as_str()), ("", ""), "{r:?}");
        } else {
            assert!(!r[2].is_empty(), "{r:?}");
        }
        assert!(!r[2].contains("NaN") && !r[3].contains("NaN"));
    }
    // Three L∞ steps of the default size ε/4 = 0.125 add ±0.125 to every coordinate each time and
    // never reach the projection at ±0.5: every coordinate is ±0.125 or ±0.375 exactly.
    let (_, eta) = read_perturbations(&tmp.path().join("anti"));
    for (i, e) in eta.iter().enumerate() {
        for (j, v) in e.iter().enumerate() {
            let k = v / 0.125;
            assert!(
                k.abs() == 1.0 || k.abs() == 3.0,
                "row {i} coordinate {j}: {v}"
            );
        }
    }
}

#[test]
fn parallel_writes_tidy_tables() {
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    let o = run(
        &[
            "parallel",
            "--widths",
            "10,20",
            "--times",
            "0.5,1",
            "--seeds",
            "2",
            "--lr",
            "0.5",
            "--threads",
            "1",
        ],
        tmp.path(),
        "par",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cos_net_sum"));
    let dir = tmp.path().join("par");
    let (header, rows) = read_table(&std::fs::read_to_string(dir.join("parallel.csv")).unwrap());
    assert_eq!(header, ["width", "time", "seed", "quantity", "value"]);
    assert_eq!(rows.len(), 2 * 2 * 2 * 19);
    for q in [
        "cos_net_sum",
        "cos_net_lin",
        "cos_net_kernel",
        "cos_net_minus_init_kernel",
        "rel_init",
        "rel_finite_width",
        "rel_pattern_flip",
    ] {
        assert_eq!(rows.iter().filter(|r| r[3] == q).count(), 8, "{q}");
    }
    let (header, rows) =
        read_table(&std::fs::read_to_string(dir.join("parallel_summary.csv")).unwrap());
    assert_eq!(
        header,
        ["width", "time", "quantity", "mean", "std", "seeds"]
    );
    assert_eq!(rows.len(), 2 * 2 * 19);
    let (header, rows) =
        read_table(&std::fs::read_to_string(dir.join("parallel_fit.csv")).unwrap());
    assert_eq!(
        header,
        [
            "time",
            "quantity",
            "from_width",
            "to_width",
            "widths",
            "slope",
            "slope_ci_low",
            "slope_ci_high",
            "seeds",
            "intercept"
        ]
    );
    // Two times × four fitted quantities, each over both widths.
    assert_eq!(rows.len(), 2 * 4);
    assert!(rows.iter().all(|r| r[2] == "10" && r[3] == "20"));
    for t in ["0.5", "1"] {
        assert!(dir.join(format!("distances_T{t}.svg")).exists(), "{t}");
    }
    assert!(dir.join("config.toml").exists());
}

#[test]
fn bad_flags_exit_2_and_leave_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    let base = ["--width", "10", "--time", "1"];
    let cases: Vec<Vec<&str>> = vec![
        vec!["--eps", "-1"],
        vec!["--eps-per-coordinate", "nan"],
        vec!["--eps", "1", "--eps-per-coordinate", "0.1"],
        vec![],
        vec!["--eps", "1", "--source", "bogus"],
        vec!["--eps", "1", "--lr", "0.3"],
        vec!["--eps", "1", "--steps", "0"],
        vec!["--eps", "1", "--step-size", "0"],
        vec!["--eps", "1", "--init", "antisymmetric", "--width", "11"],
        vec!["--eps", "1", "--loss", "mse", "--gamma", "1"],
    ];
    for (k, extra) in cases.iter().enumerate() {
        let mut args = vec!["perturb"];
        args.extend(base);
        args.extend(extra);
        let out = format!("bad{k}");
        let o = run(&args, tmp.path(), &out);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!tmp.path().join(&out).exists(), "{extra:?} left output");
    }
    // A malformed input file is found after the output directory was prepared: it is removed again.
    std::fs::write(tmp.path().join("bad.csv"), "a,y\n1,5\n").unwrap();
    let o = bin()
        .args([
            "perturb", "--width", "10", "--time", "1", "--eps", "1", "--train",
        ])
        .arg(tmp.path().join("bad.csv"))
        .arg("--out")
        .arg(tmp.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!tmp.path().join("missing").exists());
    for extra in [
        vec!["--widths", "0"],
        vec!["--seeds", "0"],
        vec!["--times", "1,0.5"],
        vec!["--times", "0.7", "--lr", "0.5"],
        vec!["--widths", "abc"],
        vec!["--widths", "10,20", "--fit-from", "30"],
    ] {
        let mut args = vec!["parallel"];
        args.extend(&extra);
        let o = run(&args, tmp.path(), "badpar");
        assert_eq!(
            o.status.code(),
            Some(2),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!tmp.path().join("badpar").exists(), "{extra:?} left output");
    }
}

#[test]
fn help_has_an_example() {
    for cmd in ["perturb", "parallel"] {
        let o = bin().args([cmd, "--help"]).output().unwrap();
        assert!(o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Example:"),
            "{cmd}"
        );
    }
}
