//! Every output of train and experiment is byte-identical for --threads 1 and --threads 2 (gram and
//! dynamics are covered in their own CLI tests).

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn files(dir: &Path, names: &[&str]) -> Vec<Vec<u8>> {
    names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).unwrap())
        .collect()
}

#[test]
fn train_and_experiment_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.csv");
    let test = dir.path().join("test.csv");
    run(&[
        "data",
        "shifted-gauss",
        "--n",
        "120",
        "--d",
        "8",
        "--seed",
        "3",
        "--quiet",
        "--out",
        train.to_str().unwrap(),
    ]);
    run(&[
        "data",
        "shifted-gauss",
        "--n",
        "40",
        "--d",
        "8",
        "--seed",
        "4",
        "--quiet",
        "--out",
        test.to_str().unwrap(),
    ]);
    let config = dir.path().join("sweep.toml");
    std::fs::write(&config, "n = 60\nd = 6\nn_test = 30\nwidth = 64\nsteps_f = 20\nsteps_g = 20\nlr_f = 0.5\nlr_g = 0.5\neps_per_coordinate = [0.0, 0.05]\nseeds = 2\n").unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let t = dir.path().join(format!("train{threads}"));
        run(&[
            "train",
            "--train",
            train.to_str().unwrap(),
            "--test",
            test.to_str().unwrap(),
            "--width",
            "300",
            "--lr",
            "0.5",
            "--steps",
            "30",
            "--record-every",
            "10",
            "--threads",
            threads,
            "--quiet",
            "--out",
            t.to_str().unwrap(),
        ]);
        let e = dir.path().join(format!("exp{threads}"));
        run(&[
            "experiment",
            config.to_str().unwrap(),
            "--threads",
            threads,
            "--quiet",
            "--out",
            e.to_str().unwrap(),
        ]);
        let mut got = files(&t, &["trajectory.csv", "predictions.csv", "w.npy", "b.npy"]);
        got.extend(files(&e, &["results.csv", "cells.csv"]));
        outputs.push(got);
    }
    assert!(
        outputs[0] == outputs[1],
        "outputs differ between --threads 1 and 2"
    );
    // The runs did real work: the experiment has one row per cell and metric.
    let results = String::from_utf8(outputs[0][4].clone()).unwrap();
    assert!(results.lines().count() > 4 * 10, "{results}");
}
