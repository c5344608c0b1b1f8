//! Every output of every subcommand that computes numbers is byte-identical for `--threads` 1, 2
//! and 3, at sizes where every parallel split of the code is taken.
//!
//! The sizes (N = 400 training rows, M = 300 test rows, d = 16, width m = 3000) exceed every
//! threshold above which work is split:
//!
//! * products run on output tiles of `linalg::TILE` = 256 rows and columns, in parallel from
//!   `linalg::PAR_WORK` = 2¹⁶ multiply-adds: the N×N, M×N and N×m products have at least two tiles
//!   along each side, and every Gram, feature, direction and flow product exceeds
//!   2¹⁶, the smallest being the test predictions K(Z, X) α at one time with M·N = 120 000;
//! * the network's products run in parallel from 2²⁴ multiply-adds (`network::forward`):
//!   N·m·(d + 1) = 2.04·10⁷; its readout sums rows in blocks of 256, in parallel from 2¹⁸ entries
//!   (N·m = 1.2·10⁶);
//! * element-wise maps run on column blocks of `linalg::COLUMN_BLOCK` = 64 columns;
//! * the eigendecomposition's symmetric products run in parallel on their two threads from a
//!   trailing size of 256 (`dynamics::evd`);
//! * faer's own parallel kernels, which the products used before, split matrix-vector products
//!   from 256² = 65 536 entries and GEMMs from 32 768 multiply-adds.
//!
//! `reproduce shifted-gauss-a --quick` (N = 400, widths up to 1000, d = 100) takes the network's
//! parallel products in its width-1000 cells: 400·1000·101 = 4.04·10⁷ multiply-adds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn run_in(dir: &Path, args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn run(args: &[&str]) {
    run_in(Path::new("."), args);
}

fn files(dir: &Path, names: &[&str]) -> Vec<Vec<u8>> {
    names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).unwrap())
        .collect()
}

/// Every file below `root`, by path relative to `root`. In the resolved configurations
/// (`config.toml`, `<data file>.config.toml`) the line recording the thread count is dropped: it is
/// the one line that is meant to differ.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let mut bytes = std::fs::read(&path).unwrap();
            if path.to_str().unwrap().ends_with("config.toml") {
                let text = String::from_utf8(bytes).unwrap();
                // Run configurations record the thread count; a panel's rerunnable
                // configuration does not.
                bytes = text
                    .lines()
                    .filter(|l| !l.starts_with("threads = "))
                    .flat_map(|l| format!("{l}\n").into_bytes())
                    .collect();
            }
            out.insert(path.strip_prefix(root).unwrap().to_path_buf(), bytes);
        }
    }
    out
}

const SWEEP: &str = "dataset = \"shifted-gauss\"
n = 400
d = 16
n_test = 300
width = 3000
lr_f = 0.5
lr_g = 0.5
steps_f = 4
steps_g = 4
model = [\"network\", \"theory\"]
eps_per_coordinate = [0.0, 0.05]
seeds = 2
";

/// Runs every number-producing subcommand in `dir` with `--threads threads`, all paths relative to
/// `dir` so that the runs of different thread counts write identical configurations.
fn run_everything(dir: &Path, threads: &str) {
    let data = |extra: &[&str]| {
        let mut args: Vec<&str> = vec!["data"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--threads", threads, "--quiet"]);
        run_in(dir, &args);
    };
    data(&[
        "shifted-gauss",
        "--n",
        "400",
        "--d",
        "16",
        "--seed",
        "1",
        "--out",
        "train.csv",
    ]);
    data(&[
        "gauss", "--n", "300", "--d", "16", "--seed", "2", "--out", "test.csv",
    ]);
    let cmd = |name: &str, out: &str, extra: &[&str]| {
        let mut args: Vec<&str> = vec![name, "--train", "train.csv"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--threads", threads, "--quiet", "--seed", "1", "--out", out]);
        run_in(dir, &args);
    };
    let test = ["--test", "test.csv"];
    cmd(
        "gram",
        "gram-infinite",
        &[&test[..], &["--kernel", "infinite"]].concat(),
    );
    cmd(
        "gram",
        "gram-empirical",
        &[
            &test[..],
            &[
                "--kernel",
                "empirical",
                "--width",
                "3000",
                "--train-readout",
            ],
        ]
        .concat(),
    );
    // One time somewhere for each loss: a single column takes the matrix-vector paths.
    for kernel in ["infinite", "empirical"] {
        for (loss, times) in [
            ("identity", if kernel == "infinite" { "10" } else { "1,10" }),
            (
                "mse",
                if kernel == "infinite" {
                    "1,10,inf"
                } else {
                    "10"
                },
            ),
            ("logistic", if kernel == "infinite" { "1,10" } else { "10" }),
        ] {
            cmd(
                "dynamics",
                &format!("dynamics-{kernel}-{loss}"),
                &[
                    &test[..],
                    &[
                        "--kernel", kernel, "--width", "3000", "--loss", loss, "--times", times,
                    ],
                ]
                .concat(),
            );
        }
    }
    cmd(
        "train",
        "train",
        &[
            &test[..],
            &[
                "--width",
                "3000",
                "--lr",
                "0.5",
                "--steps",
                "10",
                "--loss",
                "logistic",
                "--momentum",
                "0.9",
                "--record-every",
                "5",
            ],
        ]
        .concat(),
    );
    cmd(
        "train",
        "train-antisymmetric",
        &[
            "--width",
            "3000",
            "--lr",
            "0.5",
            "--steps",
            "6",
            "--loss",
            "mse",
            "--init",
            "antisymmetric",
            "--train-readout",
            "--record-every",
            "3",
        ],
    );
    // Every perturbation computes all five directions (directions.csv); the second run follows
    // the infinite-width kernel gradient with a projected attack.
    let perturb = [
        "--width",
        "3000",
        "--time",
        "2",
        "--lr",
        "0.5",
        "--eps-per-coordinate",
        "0.01",
    ];
    cmd("perturb", "perturb-net", &perturb);
    cmd(
        "perturb",
        "perturb-kernel",
        &[
            &perturb[..],
            &[
                "--source", "kernel", "--steps", "3", "--norm", "linf", "--loss", "logistic",
            ],
        ]
        .concat(),
    );
    cmd(
        "crosscheck",
        "crosscheck",
        &[
            &test[..],
            &[
                "--widths",
                "3000,3200",
                "--seeds",
                "1",
                "--time",
                "2",
                "--lr",
                "0.5",
                "--loss",
                "logistic",
            ],
        ]
        .concat(),
    );
    cmd(
        "parallel",
        "parallel",
        &[
            "--widths", "3000", "--times", "1,2", "--seeds", "1", "--lr", "0.5",
        ],
    );
    std::fs::write(dir.join("sweep.toml"), SWEEP).unwrap();
    run_in(
        dir,
        &[
            "experiment",
            "sweep.toml",
            "--threads",
            threads,
            "--quiet",
            "--out",
            "experiment",
        ],
    );
    run_in(
        dir,
        &[
            "reproduce",
            "shifted-gauss-a",
            "--quick",
            "--seeds",
            "1",
            "--threads",
            threads,
            "--quiet",
            "--out",
            "reproduce",
        ],
    );
}

#[test]
fn every_output_is_identical_for_one_two_and_three_threads_above_every_parallel_threshold() {
    let root = tempfile::tempdir().unwrap();
    let mut trees = Vec::new();
    for threads in ["1", "2", "3"] {
        let dir = root.path().join(threads);
        std::fs::create_dir(&dir).unwrap();
        run_everything(&dir, threads);
        trees.push(tree(&dir));
    }
    let reference = &trees[0];
    // Every command wrote its outputs: 2 data sets, 2 + 6 + 2 + 2 + 1 + 1 result directories, the
    // sweep file, and the reproduction's panels, plots and summary.
    assert!(reference.len() > 80, "{:?}", reference.keys());
    for (threads, other) in ["2", "3"].iter().zip(&trees[1..]) {
        assert_eq!(
            reference.keys().collect::<Vec<_>>(),
            other.keys().collect::<Vec<_>>(),
            "--threads 1 and --threads {threads} wrote different files"
        );
        let differing: Vec<&PathBuf> = reference
            .iter()
            .filter(|&(path, bytes)| other[path] != *bytes)
            .map(|(path, _)| path)
            .collect();
        assert!(
            differing.is_empty(),
            "{} of {} files differ between --threads 1 and --threads {threads}: {differing:?}",
            differing.len(),
            reference.len()
        );
    }
}

#[test]
fn train_and_experiment_do_not_depend_on_the_thread_count_at_small_sizes() {
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
