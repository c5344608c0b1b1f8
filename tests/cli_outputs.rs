//! What every output says it was computed from, and errors a person can fix: write failures,
//! subsets and their rows, per-panel configurations, the swept unit, training times and the names
//! of printed columns.

mod common;

use std::fs;
use std::path::Path;

use common::{generate, stderr};

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs the binary under a file-size limit of `blocks` × 512 bytes with SIGXFSZ ignored, so a
/// write past the limit fails with EFBIG as on a full disk.
fn run_with_file_limit(blocks: u32, args: &[&str]) -> std::process::Output {
    let script = format!("ulimit -f {blocks} && trap '' XFSZ && exec \"$0\" \"$@\"");
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_ntk-perturb"))
        .args(args)
        .output()
        .expect("sh runs")
}

#[test]
fn a_write_past_the_file_size_limit_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "20", "0");
    let test = generate(dir.path(), "test.csv", "400", "1");
    // k_train_train.npy (20×20, 3.3 kB) fits under the 8 KiB limit, k_test_train.npy (400×20,
    // 64 kB) does not.
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let o = run_with_file_limit(
        16,
        &[
            "gram",
            "--train",
            &train,
            "--test",
            &test,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("k_test_train.npy") && err.contains("could not write"),
        "{err}"
    );
    assert!(!err.contains(".tmp."), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // No temporary file and nothing from the failed run (k_train_train.npy included) is left.
    assert!(names(&out).is_empty(), "{:?}", names(&out));

    // Into a directory the run creates: the directory is removed again.
    let fresh = dir.path().join("fresh");
    let o = run_with_file_limit(
        16,
        &[
            "gram",
            "--train",
            &test,
            "--quiet",
            "--out",
            fresh.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("k_train_train.npy"), "{}", stderr(&o));
    assert!(!fresh.exists());
}

/// A small sweep of 12 cells for the file-limit test.
const SMALL_SWEEP: &str = "n = 20\nd = 3\nn_test = 20\nwidth = 8\nsteps_f = 5\nsteps_g = 5\n\
eps = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]\n";

#[test]
fn a_sweep_that_runs_out_of_room_keeps_complete_cells_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sweep.toml");
    fs::write(&config, SMALL_SWEEP).unwrap();
    let cfg = config.to_str().unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    // 4 KiB holds a few cells of 18 metric rows each, not twelve.
    let o = run_with_file_limit(
        8,
        &[
            "experiment",
            cfg,
            "--quiet",
            "--threads",
            "1",
            "--out",
            out_s,
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("results.csv") && err.contains("`resume`"),
        "{err}"
    );
    let text = fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(text.ends_with('\n'));
    let rows = text.lines().count() - 1;
    assert!(
        rows > 0 && rows.is_multiple_of(18) && rows < 12 * 18,
        "{rows} rows"
    );
    assert!(
        !names(&out).iter().any(|n| n.contains(".tmp.")),
        "{:?}",
        names(&out)
    );

    // With room again, --resume completes the sweep to the bytes of an uninterrupted run.
    let o = common::run(&["experiment", cfg, "--quiet", "--resume", "--out", out_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    let whole = dir.path().join("whole");
    let o = common::run(&[
        "experiment",
        cfg,
        "--quiet",
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        fs::read(out.join("results.csv")).unwrap(),
        fs::read(whole.join("results.csv")).unwrap()
    );
}

/// Labels of the data rows of a CSV written by `data` (label last), read as plain text.
fn source_labels(path: &str) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().to_string())
        .collect()
}

/// Parses a row map (output_row, source_row, label) and checks it against the source file:
/// output rows count up from 0, source rows increase strictly, labels are the source's.
fn check_row_map(path: &Path, source: &str, expected_len: usize) -> Vec<usize> {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("output_row,source_row,label"));
    let labels = source_labels(source);
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], i.to_string());
        let src: usize = f[1].parse().unwrap();
        assert_eq!(f[2], labels[src], "{line}");
        if let Some(&prev) = rows.last() {
            assert!(src > prev, "{line}");
        }
        rows.push(src);
    }
    assert_eq!(rows.len(), expected_len);
    rows
}

#[test]
fn subsets_keep_their_rows_when_the_network_seed_changes() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "40", "0");
    let test = generate(dir.path(), "test.csv", "30", "1");
    let run_train = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec![
            "train",
            "--train",
            &train,
            "--test",
            &test,
            "--subset",
            "7",
            "--test-subset",
            "5",
            "--width",
            "4",
            "--lr",
            "0.1",
            "--steps",
            "2",
            "--quiet",
            "--out",
        ];
        let o = out.to_str().unwrap().to_string();
        args.push(&o);
        args.extend_from_slice(extra);
        let r = common::run(&args);
        assert!(r.status.success(), "{}", stderr(&r));
        out
    };
    let a = run_train("a", &["--seed", "1"]);
    let b = run_train("b", &["--seed", "2"]);
    let c = run_train("c", &["--seed", "1", "--subset-seed", "5"]);
    let rows_a = check_row_map(&a.join("rows.csv"), &train, 7);
    let test_a = check_row_map(&a.join("test_rows.csv"), &test, 5);
    assert_eq!(
        fs::read(a.join("rows.csv")).unwrap(),
        fs::read(b.join("rows.csv")).unwrap()
    );
    assert_eq!(
        fs::read(a.join("test_rows.csv")).unwrap(),
        fs::read(b.join("test_rows.csv")).unwrap()
    );
    // The network did change with --seed, and the rows change with --subset-seed.
    assert_ne!(
        fs::read(a.join("predictions.csv")).unwrap(),
        fs::read(b.join("predictions.csv")).unwrap()
    );
    assert_ne!(check_row_map(&c.join("rows.csv"), &train, 7), rows_a);
    assert_ne!(check_row_map(&c.join("test_rows.csv"), &test, 5), test_a);
    // Without a subset there is no row map.
    let out = dir.path().join("whole");
    let r = common::run(&[
        "gram",
        "--train",
        &train,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(!out.join("rows.csv").exists());
}

#[test]
fn experiment_subsets_are_listed_and_do_not_follow_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "40", "0");
    let test = generate(dir.path(), "test.csv", "30", "1");
    let config = |seed: u64| {
        format!(
            "dataset = \"file\"\ntrain = \"{train}\"\ntest = \"{test}\"\nsubset = 10\ntest_subset = 6\n\
             width = 4\nsteps_f = 2\nsteps_g = 2\neps = 0.1\nseed = {seed}\n"
        )
    };
    let mut outs = Vec::new();
    for seed in [0, 1] {
        let cfg = dir.path().join(format!("s{seed}.toml"));
        fs::write(&cfg, config(seed)).unwrap();
        let out = dir.path().join(format!("out{seed}"));
        let o = common::run(&[
            "experiment",
            cfg.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        check_row_map(&out.join("rows.csv"), &train, 10);
        check_row_map(&out.join("test_rows.csv"), &test, 6);
        outs.push(out);
    }
    for name in ["rows.csv", "test_rows.csv"] {
        assert_eq!(
            fs::read(outs[0].join(name)).unwrap(),
            fs::read(outs[1].join(name)).unwrap(),
            "{name}"
        );
    }
    // The rows are those of the library's subset with the same subset seed.
    let full = ntk_perturb::data::read_csv(Path::new(&train)).unwrap();
    let sub = ntk_perturb::data::random_subset(&full, 10, 0).unwrap();
    let rows = check_row_map(&outs[0].join("rows.csv"), &train, 10);
    for (i, &r) in rows.iter().enumerate() {
        for j in 0..full.d() {
            assert_eq!(sub.x[(i, j)].to_bits(), full.x[(r, j)].to_bits());
        }
    }
}

/// Runs `reproduce` with `args` into `out`, then reruns each of `panels` with
/// `experiment <panel>/config.toml` (from another working directory) and checks that results.csv
/// and cells.csv are byte-identical, and that every other panel was left out.
fn rerun_panels_alone(preset: &str, args: &[&str], panels: &[&str], all: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rep");
    let panel_list = panels.join(",");
    let mut full = vec![
        "reproduce",
        preset,
        "--quick",
        "--quiet",
        "--panel",
        &panel_list,
    ];
    full.extend_from_slice(args);
    let o_s = out.to_str().unwrap().to_string();
    full.extend_from_slice(&["--out", &o_s]);
    let o = common::run(&full);
    assert!(o.status.success(), "{}", stderr(&o));
    for p in all {
        assert_eq!(out.join(p).exists(), panels.contains(p), "panel {p}");
    }
    let elsewhere = tempfile::tempdir().unwrap();
    for p in panels {
        let again = dir.path().join(format!("again-{p}"));
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
            .current_dir(elsewhere.path())
            .args([
                "experiment",
                out.join(p).join("config.toml").to_str().unwrap(),
            ])
            .args(["--quiet", "--out", again.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{p}: {}", stderr(&o));
        for f in ["results.csv", "cells.csv", "rows.csv", "test_rows.csv"] {
            let a = fs::read(out.join(p).join(f)).ok();
            let b = fs::read(again.join(f)).ok();
            assert_eq!(a, b, "{p}/{f}");
        }
        assert!(fs::read(again.join("results.csv")).unwrap().len() > 100);
        // Real data in --quick mode is a subset: its rows are listed in the panel.
        assert_eq!(
            out.join(p).join("rows.csv").exists(),
            preset.starts_with("mnist")
        );
    }
}

#[test]
fn a_panel_config_reruns_the_panel_alone() {
    let synthetic = ["d", "eps", "width", "gamma", "n", "tf", "tg"];
    rerun_panels_alone(
        "shifted-gauss-a",
        &["--seeds", "2"],
        &["eps", "tf"],
        &synthetic,
    );
}

#[test]
fn a_real_data_panel_config_names_its_files_and_rows() {
    let real = ["eps", "width", "gamma", "tf", "tg"];
    rerun_panels_alone("mnist-a", &["--seeds", "1"], &["tg"], &real);
}

#[test]
fn an_unknown_panel_lists_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rep");
    let o = common::run(&[
        "reproduce",
        "shifted-gauss-a",
        "--quick",
        "--panel",
        "eps,widht",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for part in [
        "--panel",
        "widht",
        "`width`",
        "d, eps, width, gamma, n, tf, tg",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    assert!(!out.exists());
}

/// The rows of a CSV as maps from column name to text.
fn read_table(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn the_summary_names_the_plotted_quantity() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rep");
    let o = common::run(&[
        "reproduce",
        "shifted-gauss-a",
        "--quick",
        "--quiet",
        "--seeds",
        "1",
        "--panel",
        "eps,d",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = read_table(&out.join("summary.csv"));
    // The swept values c of the ε panel and the panel's d, read from its own files.
    let config = fs::read_to_string(out.join("eps/config.toml")).unwrap();
    let d: f64 = config
        .lines()
        .find_map(|l| l.strip_prefix("d = "))
        .unwrap()
        .parse()
        .unwrap();
    let cs: Vec<f64> = read_table(&out.join("eps/cells.csv"))
        .iter()
        .map(|r| r["eps_per_coordinate"].parse().unwrap())
        .collect();
    let mut distinct = cs.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    // The ε thresholds (theory §6.6) belong to a seed, not to a point: their x is empty.
    let eps_rows: Vec<_> = summary
        .iter()
        .filter(|r| r["panel"] == "eps" && !r["metric"].starts_with("eps_threshold"))
        .collect();
    // 3 metrics × 2 models × (statistics over the seed + the seed's own row) per c.
    assert_eq!(eps_rows.len(), 3 * 2 * 2 * distinct.len());
    for r in &eps_rows {
        assert_eq!(r["key"], "eps_per_coordinate");
        assert_eq!(r["x_name"], "eps");
        let x: f64 = r["x"].parse().unwrap();
        assert!(
            cs.iter()
                .any(|c| (c * d.sqrt() - x).abs() <= 1e-15 * x.abs()),
            "x = {x} is not c·√d for any c in {cs:?} (d = {d})"
        );
    }
    for r in summary.iter().filter(|r| r["panel"] == "d") {
        assert_eq!((r["key"].as_str(), r["x_name"].as_str()), ("d", "d"));
    }
}

#[test]
fn a_time_that_is_not_a_whole_number_of_steps_is_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "20", "0");
    let out = dir.path().join("out");
    let o_s = out.to_str().unwrap();
    let common_args = ["--train", &train, "--lr", "0.3", "--quiet", "--out", o_s];
    for (cmd, time_flag) in [
        ("crosscheck", ["--time", "1", "--widths", "4,8"]),
        ("parallel", ["--times", "1", "--widths", "4"]),
        ("perturb", ["--time", "1", "--width", "4"]),
    ] {
        let mut args = vec![cmd];
        args.extend_from_slice(&time_flag);
        args.extend_from_slice(&common_args);
        if cmd == "perturb" {
            args.extend_from_slice(&["--eps", "0.1"]);
        }
        let o = common::run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {err}");
        // 3 steps of 0.3 reach 0.9 and 4 reach 1.2 (by hand), named without rounding noise.
        for part in ["--time", "3 steps reach 0.9,", "4 reach 1.2"] {
            assert!(err.contains(part), "{cmd}: {part}: {err}");
        }
        assert!(!out.exists(), "{cmd}");
    }
    // A time that is a whole number of steps runs, and its config.toml holds that time.
    let o = common::run(&[
        "crosscheck",
        "--train",
        &train,
        "--time",
        "0.9",
        "--lr",
        "0.3",
        "--widths",
        "4,8",
        "--seeds",
        "1",
        "--quiet",
        "--out",
        o_s,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let config = fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.lines().any(|l| l.trim() == "time = 0.9"), "{config}");
}

#[test]
fn printed_columns_carry_the_csv_names() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "20", "0");
    let out = dir.path().join("par");
    let o = common::run(&[
        "parallel",
        "--train",
        &train,
        "--widths",
        "4",
        "--times",
        "1,2",
        "--seeds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let header: Vec<&str> = err
        .lines()
        .find(|l| l.trim_start().starts_with("width"))
        .unwrap_or_else(|| panic!("no table header in {err}"))
        .split_whitespace()
        .collect();
    let quantities: Vec<String> = read_table(&out.join("parallel_summary.csv"))
        .iter()
        .map(|r| r["quantity"].clone())
        .collect();
    assert_eq!(header[..2], ["width", "time"]);
    assert!(header.len() > 4);
    for name in &header[2..] {
        assert!(
            quantities.iter().any(|q| q == name),
            "{name} is not a quantity of the CSV"
        );
    }
}

#[test]
fn help_shows_only_flags_that_work() {
    // parallel and perturb work on the training set only: no test-set flags are offered.
    for cmd in ["parallel", "perturb"] {
        let o = common::run(&[cmd, "--help"]);
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success());
        assert!(
            help.contains("--train") && help.contains("--subset-seed"),
            "{help}"
        );
        assert!(
            !help.contains("--test ") && !help.contains("--test-subset"),
            "{cmd}: {help}"
        );
    }
    // Where it is shown, --test works.
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "20", "0");
    let test = generate(dir.path(), "test.csv", "10", "1");
    for cmd in ["gram", "dynamics", "train", "crosscheck"] {
        let o = common::run(&[cmd, "--help"]);
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("--test <FILE>"),
            "{cmd}"
        );
    }
    let out = dir.path().join("g");
    let o = common::run(&[
        "gram",
        "--train",
        &train,
        "--test",
        &test,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        o.status.success() && out.join("k_test_train.npy").exists(),
        "{}",
        stderr(&o)
    );
}

#[test]
fn crosscheck_expects_decay_of_the_infinite_width_error_only_when_f0_vanishes() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "20", "0");
    for (init, inf_bound) in [("standard", ""), ("antisymmetric", "-0.5")] {
        let out = dir.path().join(init);
        let o = common::run(&[
            "crosscheck",
            "--train",
            &train,
            "--widths",
            "8,32",
            "--seeds",
            "1",
            "--time",
            "0.5",
            "--lr",
            "0.05",
            "--init",
            init,
            "--out",
            out.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{}", stderr(&o));
        let line = stdout
            .lines()
            .find(|l| l.starts_with("slope rel_error_inf "))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert_eq!(
            line.contains("no decay expected"),
            inf_bound.is_empty(),
            "{init}: {line}"
        );
        assert_eq!(
            line.contains("bound -0.5"),
            !inf_bound.is_empty(),
            "{init}: {line}"
        );
        let fits = read_table(&out.join("crosscheck_fit.csv"));
        let inf = fits
            .iter()
            .find(|r| r["quantity"] == "rel_error_inf")
            .unwrap();
        assert_eq!(inf["theory_slope"], inf_bound, "{init}");
        let lin = fits
            .iter()
            .find(|r| r["quantity"] == "rel_error_lin")
            .unwrap();
        assert_eq!(lin["theory_slope"], "-0.5", "{init}");
    }
}

#[test]
fn summaries_carry_quartiles_and_printed_tables_carry_the_spread() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rep");
    let o = common::run(&[
        "reproduce",
        "shifted-gauss-a",
        "--quick",
        "--seeds",
        "3",
        "--panel",
        "gamma",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let results = read_table(&out.join("gamma/results.csv"));
    let summary = read_table(&out.join("summary.csv"));
    // 3 γ × 3 metrics × 2 models, each with the statistics and one row per seed.
    assert_eq!(summary.len(), 3 * 3 * 2 * (1 + 3));
    let mut printed = Vec::new();
    for row in summary
        .iter()
        .filter(|r| r["aggregate"] == "mean over seeds")
    {
        let mut v: Vec<f64> = results
            .iter()
            .filter(|r| r["gamma"].parse::<f64>() == row["x"].parse::<f64>())
            .filter(|r| r["metric"] == row["metric"] && r["model"] == row["model"])
            .map(|r| r["value"].parse().unwrap())
            .collect();
        assert_eq!(v.len(), 3, "{row:?}");
        v.sort_by(f64::total_cmp);
        // Three values a ≤ b ≤ c: median b, quartiles (a+b)/2 and (b+c)/2 (linear interpolation).
        let (a, b, c) = (v[0], v[1], v[2]);
        let mean = (a + b + c) / 3.0;
        let std = (((a - mean).powi(2) + (b - mean).powi(2) + (c - mean).powi(2)) / 2.0).sqrt();
        let get = |k: &str| row[k].parse::<f64>().unwrap();
        assert!((get("median") - b).abs() < 1e-15, "{row:?}");
        assert!((get("q1") - (a + b) / 2.0).abs() < 1e-15, "{row:?}");
        assert!((get("q3") - (b + c) / 2.0).abs() < 1e-15, "{row:?}");
        assert!((get("mean") - mean).abs() < 1e-14 && (get("std") - std).abs() < 1e-14);
        printed.push((
            row["model"].clone(),
            row["metric"].clone(),
            format!("{mean:.3}±{std:.3}"),
        ));
    }
    assert_eq!(printed.len(), 3 * 3 * 2);
    for (model, metric, cell) in printed {
        let line = err
            .lines()
            .find(|l| l.contains("gamma (gamma)") && l.contains(&format!("{model}:")))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(
            line.contains(&metric) && line.contains(&cell),
            "{cell} not in {line}"
        );
    }

    // crosscheck prints mean ± standard deviation over its seeds.
    let train = generate(dir.path(), "train.csv", "20", "0");
    let cc = dir.path().join("cc");
    let o = common::run(&[
        "crosscheck",
        "--train",
        &train,
        "--widths",
        "8,32",
        "--seeds",
        "2",
        "--time",
        "0.5",
        "--lr",
        "0.05",
        "--out",
        cc.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let values: Vec<f64> = read_table(&cc.join("crosscheck.csv"))
        .iter()
        .filter(|r| r["width"] == "8" && r["quantity"] == "rel_error_lin")
        .map(|r| r["value"].parse().unwrap())
        .collect();
    // Two seeds: mean (a + b)/2, standard deviation |a − b|/√2.
    let cell = format!(
        "{:.4e}±{:.1e}",
        (values[0] + values[1]) / 2.0,
        (values[0] - values[1]).abs() / 2f64.sqrt()
    );
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("8 "))
        .unwrap();
    assert!(row.contains(&cell), "{cell} not in {row}");
    let fits = read_table(&cc.join("crosscheck_fit.csv"));
    assert!(fits.iter().all(|f| {
        let (lo, s, hi): (f64, f64, f64) = (
            f["slope_ci_low"].parse().unwrap(),
            f["slope"].parse().unwrap(),
            f["slope_ci_high"].parse().unwrap(),
        );
        lo < hi && lo.is_finite() && s.is_finite()
    }));
}
