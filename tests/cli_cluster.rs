//! Runs spread over a cluster: shards run as separate processes (`--shard k/n`) and `merge`
//! combine into the directory a single unsharded run writes, byte for byte; an incomplete set of
//! shards, or shards of different configurations, are refused with exit code 2 and named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small sweep: 3 ε values × 2 seeds = 6 cells.
const SWEEP: &str = "dataset = \"shifted-gauss\"\nn = 40\nn_test = 40\nd = 5\nwidth = 30\n\
                     steps_f = 30\nsteps_g = 30\nscenario = \"a\"\neps = [0.0, 0.1, 0.5]\nseeds = 2\n";

/// Runs the binary in `cwd` (so that every run is given the same `--out out`).
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    std::fs::create_dir_all(cwd).unwrap();
    Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every file under `dir` by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Asserts that two output directories hold the same files with the same bytes.
fn assert_same_tree(single: &Path, merged: &Path) {
    let (a, b) = (tree(single), tree(merged));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "file lists differ"
    );
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{} differs", name.display());
    }
}

/// Cell indices of the data lines of a results.csv.
fn cells_of(results: &Path) -> Vec<usize> {
    let text = std::fs::read_to_string(results).unwrap();
    let mut cells: Vec<usize> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    cells.dedup();
    cells
}

#[test]
fn experiment_shards_merge_to_the_unsharded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::write(root.join("sweep.toml"), SWEEP).unwrap();
    let cfg = root.join("sweep.toml").display().to_string();
    let common = ["--quiet", "--threads", "1", "--out", "out"];
    let run = |cwd: &str, extra: &[&str]| {
        let mut args = vec!["experiment", cfg.as_str()];
        args.extend(common);
        args.extend(extra);
        run_in(&root.join(cwd), &args)
    };
    ok(&run("single", &[]));
    for k in 0..3 {
        ok(&run(&format!("s{k}"), &["--shard", &format!("{k}/3")]));
        // Shard k holds exactly the cells k, k+3 of the six.
        assert_eq!(
            cells_of(&root.join(format!("s{k}/out/results.csv"))),
            vec![k, k + 3]
        );
    }
    // In an order other than the shards'.
    let merge = run_in(
        &root.join("merged"),
        &[
            "merge",
            "--quiet",
            "--out",
            "out",
            "../s2/out",
            "../s0/out",
            "../s1/out",
        ],
    );
    ok(&merge);
    assert_eq!(
        cells_of(&root.join("merged/out/results.csv")),
        (0..6).collect::<Vec<_>>()
    );
    assert_same_tree(&root.join("single/out"), &root.join("merged/out"));

    // Shard 1/3 missing: exit 2, its cells named, no output left behind.
    let o = run_in(
        &root.join("merged"),
        &["merge", "--out", "partial", "../s0/out", "../s2/out"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("shard 1/3 is missing"), "{err}");
    assert!(err.contains("cells 1, 4"), "{err}");
    assert!(!root.join("merged/partial").exists());

    // An interrupted shard: its last cell cut in the middle of a line. The merge names the cell,
    // and after --resume of that shard it succeeds with the same bytes.
    let s1 = root.join("s1/out/results.csv");
    let full = std::fs::read_to_string(&s1).unwrap();
    let cut = full.find("\n4,").unwrap() + 20;
    std::fs::write(&s1, &full[..cut]).unwrap();
    let o = run_in(
        &root.join("merged"),
        &[
            "merge",
            "--out",
            "again",
            "../s0/out",
            "../s1/out",
            "../s2/out",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("shard 1/3 in ../s1/out is incomplete (1 of its cells missing: 4)"),
        "{err}"
    );
    ok(&run("s1", &["--shard", "1/3", "--resume"]));
    assert_eq!(std::fs::read_to_string(&s1).unwrap(), full);

    // A shard of another configuration (another width) is refused, naming the key.
    std::fs::write(
        root.join("other.toml"),
        SWEEP.replace("width = 30", "width = 20"),
    )
    .unwrap();
    let other = root.join("other.toml").display().to_string();
    let mut args = vec!["experiment", other.as_str()];
    args.extend(common);
    args.extend(["--shard", "1/3"]);
    ok(&run_in(&root.join("x1"), &args));
    let o = run_in(
        &root.join("merged"),
        &[
            "merge",
            "--out",
            "mixed",
            "../s0/out",
            "../x1/out",
            "../s2/out",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("key `args.sweep.width` is 30"), "{err}");
    assert!(err.contains("and 20 in the second"), "{err}");
    assert!(!root.join("merged/mixed").exists());
}

#[test]
fn reproduce_shards_merge_to_the_unsharded_run_with_summary_and_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let base = [
        "reproduce",
        "shifted-gauss-a",
        "--quick",
        "--seeds",
        "2",
        "--panel",
        "eps,gamma",
        "--quiet",
        "--threads",
        "1",
        "--out",
        "out",
    ];
    let run = |cwd: &str, extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend(extra);
        run_in(&root.join(cwd), &args)
    };
    ok(&run("single", &[]));
    for k in 0..3 {
        let dir = format!("s{k}");
        ok(&run(&dir, &["--shard", &format!("{k}/3")]));
        // A shard writes its panels' cells but no summary or figure.
        assert!(!root.join(&dir).join("out/summary.csv").exists());
        let eps = cells_of(&root.join(&dir).join("out/eps/results.csv"));
        // eps: 4 values × 2 models (network, theory) × 2 seeds = 16 cells.
        assert_eq!(eps, (k..16).step_by(3).collect::<Vec<_>>());
    }
    let o = run_in(
        &root.join("merged"),
        &[
            "merge",
            "--quiet",
            "--out",
            "out",
            "../s0/out",
            "../s1/out",
            "../s2/out",
        ],
    );
    ok(&o);
    let single = root.join("single/out");
    for file in [
        "summary.csv",
        "shifted-gauss-a-eps.png",
        "shifted-gauss-a-gamma.svg",
        "gamma/results.csv",
        "gamma/config.toml",
        "config.toml",
    ] {
        assert!(single.join(file).exists(), "{file}");
    }
    assert_same_tree(&single, &root.join("merged/out"));

    // Without shard 2/3: both panels name their missing cells.
    let o = run_in(
        &root.join("merged"),
        &["merge", "--out", "partial", "../s0/out", "../s1/out"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("panel eps: shard 2/3 is missing (no directory given ran it): cells 2, 5"),
        "{err}"
    );
    assert!(
        err.contains("panel gamma: shard 2/3 is missing (no directory given ran it): cells 2, 5"),
        "{err}"
    );

    // A shard run with another seed count is refused, naming the key.
    let mut args = base.to_vec();
    args[4] = "1";
    args.extend(["--shard", "2/3"]);
    ok(&run_in(&root.join("x2"), &args));
    let o = run_in(
        &root.join("merged"),
        &[
            "merge",
            "--out",
            "mixed",
            "../s0/out",
            "../s1/out",
            "../x2/out",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("key `args.seeds` is 2 in the first and 1 in the second"),
        "{err}"
    );
}
