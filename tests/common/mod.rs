//! Helpers shared by the integration tests.
#![allow(dead_code)]

use faer::Mat;
use ntk_perturb::rng;
use rand_distr::{Distribution, StandardNormal};

/// An n×d matrix of independent standard normals from a seeded stream.
pub fn normal_matrix(n: usize, d: usize, seed: u64) -> Mat<f64> {
    let mut r = rng::stream(seed, rng::domain::OTHER, 0);
    let vals: Vec<f64> = (0..n * d).map(|_| StandardNormal.sample(&mut r)).collect();
    Mat::from_fn(n, d, |i, j| vals[i * d + j])
}

/// Row i of a matrix as a Vec.
pub fn row(m: &Mat<f64>, i: usize) -> Vec<f64> {
    (0..m.ncols()).map(|j| m[(i, j)]).collect()
}

/// Largest absolute entry-wise difference.
pub fn max_abs_diff(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    let mut m: f64 = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = m.max((a[(i, j)] - b[(i, j)]).abs());
        }
    }
    m
}

/// Runs the `ntk-perturb` binary with `args`.
pub fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The standard error of a finished command as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes a shifted-Gauss dataset (d = 5) of `n` rows to `dir/name` and returns its path.
pub fn generate(dir: &std::path::Path, name: &str, n: &str, seed: &str) -> String {
    let path = dir.join(name).display().to_string();
    let o = run(&[
        "data",
        "shifted-gauss",
        "--n",
        n,
        "--d",
        "5",
        "--seed",
        seed,
        "--quiet",
        "--out",
        &path,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    path
}
