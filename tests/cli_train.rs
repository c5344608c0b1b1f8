//! `ntk-perturb train` end to end: the files it writes must agree with each other and with a
//! network evaluated by hand from the saved parameters; bad flags exit with code 2.

use std::path::Path;
use std::process::Command;

use ntk_perturb::data::{shifted_gauss, write_csv};
use ntk_perturb::io::read_npy;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
}

fn write_data(dir: &Path) {
    let train = shifted_gauss(40, 6, 0.3, 1).unwrap();
    let test = shifted_gauss(20, 6, 0.3, 2).unwrap();
    write_csv(&train, &dir.join("train.csv")).unwrap();
    write_csv(&test, &dir.join("test.csv")).unwrap();
}

fn read_table(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn train_writes_consistent_trajectory_predictions_and_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    let out = tmp.path().join("run");
    let status = bin()
        .args(["train", "--train"])
        .arg(tmp.path().join("train.csv"))
        .arg("--test")
        .arg(tmp.path().join("test.csv"))
        .args([
            "--width", "16", "--lr", "0.05", "--steps", "20", "--loss", "logistic",
        ])
        .args([
            "--momentum",
            "0.9",
            "--record-every",
            "5",
            "--gamma",
            "0.1",
            "--quiet",
        ])
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    for f in [
        "trajectory.csv",
        "predictions.csv",
        "w.npy",
        "b.npy",
        "a.npy",
        "config.toml",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }

    let (header, rows) = read_table(&out.join("trajectory.csv"));
    assert_eq!(
        header,
        [
            "step",
            "lr_time",
            "flow_time",
            "loss",
            "train_accuracy",
            "test_accuracy",
            "weight_change",
            "pattern_flip_fraction",
            "lin_gap_max",
            "lin_gap_rms"
        ]
    );
    let steps: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(steps, ["0", "5", "10", "15", "20"]);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let num = |row: &[String], name: &str| row[col(name)].parse::<f64>().unwrap();
    // Momentum 0.9: lr_time = η·step, flow_time = Σ_s η·v_s with v ← 0.9v + 1 (the displacement
    // of the steps under a constant gradient), 6.047 at step 20 where lr_time is 1.
    let (mut v, mut flow) = (0.0, 0.0);
    for step in 0..=20 {
        if step % 5 == 0 {
            let row = &rows[step / 5];
            assert_eq!(num(row, "lr_time"), 0.05 * step as f64);
            assert!(
                (num(row, "flow_time") - flow).abs() <= 1e-14 * (1.0 + flow),
                "step {step}: {} vs {flow}",
                num(row, "flow_time")
            );
        }
        v = 0.9 * v + 1.0;
        flow += 0.05 * v;
    }
    assert!((num(&rows[4], "flow_time") - 6.047).abs() < 1e-3);

    // Recompute the final outputs from the saved parameters, neuron by neuron.
    let (w, b, a) = (
        read_npy(&out.join("w.npy")).unwrap(),
        read_npy(&out.join("b.npy")).unwrap(),
        read_npy(&out.join("a.npy")).unwrap(),
    );
    assert_eq!(
        (w.nrows(), w.ncols(), b.nrows(), a.nrows()),
        (16, 6, 16, 16)
    );
    let train = ntk_perturb::data::read_csv(&tmp.path().join("train.csv")).unwrap();
    let (_, preds) = read_table(&out.join("predictions.csv"));
    assert_eq!(preds.len(), 40 + 20);
    let mut loss = 0.0;
    let mut correct = 0;
    for (i, row) in preds.iter().enumerate().take(40) {
        assert_eq!(
            (row[0].as_str(), row[1].parse::<usize>().unwrap()),
            ("train", i)
        );
        let mut f = 0.0;
        for k in 0..16 {
            let u: f64 = b[(k, 0)] + (0..6).map(|j| w[(k, j)] * train.x[(i, j)]).sum::<f64>();
            f += a[(k, 0)] * if u >= 0.0 { u } else { 0.1 * u };
        }
        let saved: f64 = row[3].parse().unwrap();
        assert!(
            (saved - f).abs() <= 1e-12 * (1.0 + f.abs()),
            "row {i}: {saved} vs {f}"
        );
        let y = train.y[i];
        loss += (1.0 + (-y * f).exp()).ln() / 40.0;
        correct += usize::from(y * f > 0.0);
    }
    let last = &rows[4];
    assert!((num(last, "loss") - loss).abs() <= 1e-12);
    assert_eq!(num(last, "train_accuracy"), correct as f64 / 40.0);
    assert!(
        !last[col("test_accuracy")].is_empty(),
        "test accuracy recorded"
    );
    // The linearisation gap is computed by default and vanishes at step 0.
    assert_eq!(num(&rows[0], "lin_gap_max"), 0.0);
    assert!(num(last, "lin_gap_max") > 0.0);
    assert!(num(last, "lin_gap_rms") <= num(last, "lin_gap_max"));
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("command = \"train\"") && config.contains("momentum = 0.9"));
}

#[test]
fn invalid_training_flags_exit_with_code_2_and_leave_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    for (flag, value) in [("--lr", "0"), ("--momentum", "1"), ("--record-every", "0")] {
        let out = tmp.path().join("bad");
        let mut cmd = bin();
        cmd.args(["train", "--train"])
            .arg(tmp.path().join("train.csv"))
            .args(["--steps", "3", flag, value, "--quiet", "--out"])
            .arg(&out);
        if flag != "--lr" {
            cmd.args(["--lr", "0.1"]);
        }
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{flag}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        // The library's message (not clap's), naming the flag.
        assert!(
            stderr.contains(&format!("invalid value for {flag}")),
            "{flag}: {stderr}"
        );
        assert!(!out.exists(), "{flag}: output directory left behind");
    }
    // A negative step count is refused by the parser.
    let o = bin()
        .args(["train", "--train"])
        .arg(tmp.path().join("train.csv"))
        .args(["--lr", "0.1", "--steps", "-1", "--out"])
        .arg(tmp.path().join("neg"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
