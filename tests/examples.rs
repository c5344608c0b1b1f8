//! Runs each program of `examples/` with `--small` and checks one quantity of its table against an
//! expectation derived independently of the code.
//!
//! `cargo test` builds the example binaries (into `<target>/<profile>/examples/`), but
//! `cargo test --test examples` does not, which would leave stale binaries behind. The test
//! therefore runs `cargo build --examples` for its own profile and target directory first (a no-op
//! when they are up to date) and takes the binaries from there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `<target>/<profile>`, the directory above `deps/` that holds this test executable, after the
/// examples have been built into it.
fn profile_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable has a path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test executable lies in <target>/<profile>/deps")
            .to_path_buf();
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(other) => other.to_string(),
            None => panic!("no profile directory above {}", exe.display()),
        };
        let target = dir.parent().expect("the profile directory has a parent");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--examples", "--profile", &profile])
            .arg("--target-dir")
            .arg(target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo can be started");
        assert!(status.success(), "cargo build --examples failed: {status}");
        dir
    })
}

/// Runs example `name` with `args`; returns (exit success, stdout, stderr).
fn run(name: &str, args: &[&str]) -> (bool, String, String) {
    let bin = profile_dir()
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let out = Command::new(&bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
    (out.status.success(), text(out.stdout), text(out.stderr))
}

/// Runs example `name --small`, asserting success, and returns its stdout.
fn run_small(name: &str) -> String {
    let (ok, stdout, stderr) = run(name, &["--small"]);
    assert!(ok, "{name} --small failed:\n{stderr}");
    stdout
}

/// The whitespace-separated cells of the table rows after the header line starting with `first`.
fn table(stdout: &str, first: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .skip_while(|l| l.split_whitespace().next() != Some(first))
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn num(cell: &str) -> f64 {
    if cell == "inf" {
        return f64::INFINITY;
    }
    cell.parse()
        .unwrap_or_else(|_| panic!("{cell:?} is not a number"))
}

#[test]
fn ntk_mse_flow_starts_at_one_half_decreases_and_interpolates() {
    let out = run_small("ntk_mse_flow");
    assert!(
        out.contains("dropped eigenvalues of Θ(X, X): 0"),
        "Θ(X, X) should be nonsingular on 200 distinct images:\n{out}"
    );
    let rows: Vec<[f64; 4]> = table(&out, "t")
        .iter()
        .map(|r| [num(&r[0]), num(&r[1]), num(&r[2]), num(&r[3])])
        .collect();
    assert_eq!(rows.len(), 8, "{out}");
    // t = 0: f_0 ≡ 0 and y = ±1, so ½·mean (f − y)² = ½ exactly.
    assert_eq!(rows[0][0], 0.0);
    assert!((rows[0][1] - 0.5).abs() < 1e-12, "{out}");
    // Gradient flow on a convex quadratic: dL/dt = −(1/N²) rᵀ K r ≤ 0 for the PSD kernel K.
    for w in rows.windows(2) {
        assert!(w[1][1] <= w[0][1], "the training loss increased:\n{out}");
    }
    // t = ∞ with K nonsingular: F_∞ = Y, so the loss vanishes and every label is reproduced.
    let last = rows[rows.len() - 1];
    assert!(last[0].is_infinite());
    assert!(last[1] < 1e-20, "{out}");
    assert_eq!(last[2], 1.0, "{out}");
}

#[test]
fn theory_vs_simulation_error_falls_with_width() {
    let out = run_small("theory_vs_simulation");
    let rows: Vec<(f64, f64)> = table(&out, "width")
        .iter()
        .map(|r| (num(&r[0]), num(&r[1])))
        .collect();
    let widths: Vec<f64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(widths, [50.0, 200.0, 800.0], "{out}");
    // The empirical NTK fluctuates around Θ by O(m^{−1/2}) (§4.5), so from m = 50 to 800 the
    // error should shrink by about (800/50)^{−1/2} = 1/4. The mean over five networks is allowed a
    // factor 2 of slack, i.e. it must at least halve (eight disjoint groups of five seeds gave
    // ratios 0.16–0.31).
    let (first, last) = (rows[0].1, rows[2].1);
    assert!(last < 0.5 * first, "{first} → {last}:\n{out}");
}

#[test]
fn perturbation_directions_net_is_closer_to_lin_than_to_sum() {
    let out = run_small("perturbation_directions");
    let rows = table(&out, "net");
    let net = rows
        .iter()
        .find(|r| r[0] == "net")
        .unwrap_or_else(|| panic!("no net row:\n{out}"));
    let (cos_net_lin, cos_net_sum) = (num(&net[2]), num(&net[3]));
    // At T = 1 the trained gradient is ∇f_0 + (learned part) + (flips). `lin` keeps ∇f_0 (expected
    // squared norm 1/2, larger than the learned part at this time) and misses only the flips;
    // `sum` misses ∇f_0 itself, so it must be the less parallel of the two.
    assert!(cos_net_lin > cos_net_sum, "{out}");
}

#[test]
fn unknown_argument_is_refused_by_name() {
    let (ok, _, stderr) = run("ntk_mse_flow", &["--bogus"]);
    assert!(!ok);
    assert!(stderr.contains("--bogus"), "{stderr}");
}
