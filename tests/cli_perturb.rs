//! `ntk-perturb perturb` and `parallel` end to end: outputs parse, L2 perturbations have norm ε,
//! undefined cosines are empty cells, and bad flags exit with code 2 leaving no output directory.

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

#[test]
fn perturb_writes_l2_perturbations_of_norm_eps_and_all_pairs() {
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    for source in ["net", "lin", "sum", "kernel"] {
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
        let eps = 0.1 * 6f64.sqrt();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r[0], i.to_string());
            let t: f64 = r[1].parse().unwrap();
            assert!(t == 1.0 || t == -1.0);
            let norm = r[2..]
                .iter()
                .map(|v| v.parse::<f64>().unwrap().powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(
                (norm - eps).abs() <= 1e-12 * eps,
                "{source} row {i}: {norm}"
            );
        }
        let text = std::fs::read_to_string(dir.join("directions.csv")).unwrap();
        let (header, rows) = read_table(&text);
        assert_eq!(header, ["index", "pair", "cosine", "relative_residual"]);
        assert_eq!(rows.len(), 30 * 10);
        for r in &rows {
            let c: f64 = r[2].parse().unwrap();
            assert!((-1.0..=1.0).contains(&c), "{r:?}");
            assert!(r[3].parse::<f64>().unwrap() >= 0.0);
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
    let (_, pert) = read_table(&read_gz(&tmp.path().join("anti/perturbations.csv.gz")));
    for r in &pert {
        let max = r[2..]
            .iter()
            .map(|v| v.parse::<f64>().unwrap().abs())
            .fold(0.0, f64::max);
        assert!(max <= 0.5 && max > 0.0, "{max}");
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
    assert_eq!(rows.len(), 2 * 2 * 2 * 15);
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
    assert_eq!(rows.len(), 2 * 2 * 15);
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
