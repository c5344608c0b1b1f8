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
    // 4 KiB holds a few cells of 17 metric rows each, not twelve.
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
        err.contains("results.csv") && err.contains("--resume"),
        "{err}"
    );
    let text = fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(text.ends_with('\n'));
    let rows = text.lines().count() - 1;
    assert!(rows > 0 && rows % 17 == 0 && rows < 12 * 17, "{rows} rows");
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
