//! Benchmarks that time each heavy stage against its roofline operation measured in the same run
//! (e.g. the infinite-width Gram against a plain faer GEMM of the same X), so the ratio, not the
//! absolute time, is what is reported and compared with a target.

use std::time::Instant;

use faer::Mat;
use serde::Serialize;

use crate::error::Result;
use crate::kernel::{self, KernelWhat};
use crate::linalg;
use crate::network::{Architecture, Init, NetworkConfig, Params, Readout};
use crate::rng;
use rand_distr::{Distribution, StandardNormal};

/// One benchmark row: a stage, its baseline and their ratio.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Stage name.
    pub stage: String,
    /// Problem size in words.
    pub size: String,
    /// Median seconds of the stage.
    pub seconds: f64,
    /// What the stage is compared with.
    pub baseline: String,
    /// Median seconds of the baseline, timed in the same run.
    pub baseline_seconds: f64,
    /// seconds / baseline_seconds.
    pub ratio: f64,
    /// Target for the ratio (the stage passes when ratio ≤ target).
    pub target: f64,
    /// Achieved GFLOP/s of the stage, counting the baseline's flops.
    pub gflops: f64,
    /// Peak resident memory during the stage, bytes (0 where the OS does not say).
    pub peak_rss_bytes: u64,
    /// Memory the stage's model predicts, bytes.
    pub model_bytes: u64,
}

/// Median of `reps` timings of `f` (after one warm-up run).
pub fn median_seconds(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Resets the kernel's peak-RSS counter (Linux `clear_refs` 5); harmless elsewhere.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size (VmHWM) in bytes, 0 if unknown.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn normal_matrix(n: usize, d: usize, seed: u64) -> Mat<f64> {
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut r = rng::stream(seed, rng::domain::OTHER, i as u64);
            (0..d).map(|_| StandardNormal.sample(&mut r)).collect()
        })
        .collect();
    Mat::from_fn(n, d, |i, j| rows[i][j])
}

/// Infinite-width NTK Gram of N inputs in dimension d against the lower-triangle GEMM X Xᵀ.
pub fn infinite_gram(n: usize, d: usize, reps: usize) -> Result<BenchRow> {
    let x = normal_matrix(n, d, 1);
    let arch = Architecture::default();
    let baseline = median_seconds(reps, || {
        std::hint::black_box(linalg::lower_product(x.as_ref(), x.as_ref(), 1.0));
    });
    reset_peak_rss();
    let mut result = Ok(());
    let seconds = median_seconds(reps, || {
        if let Err(e) = kernel::infinite_train_train(x.as_ref(), &arch, KernelWhat::Ntk) {
            result = Err(e);
        }
    });
    result?;
    let flops = (n as f64) * (n as f64) * (d as f64); // lower triangle: N²d multiply-adds
    Ok(BenchRow {
        stage: "infinite-width Gram (NTK)".into(),
        size: format!("N={n} d={d}"),
        seconds,
        baseline: "lower-triangle GEMM X·Xᵀ".into(),
        baseline_seconds: baseline,
        ratio: seconds / baseline,
        target: 1.5,
        gflops: flops / seconds / 1e9,
        peak_rss_bytes: peak_rss_bytes(),
        model_bytes: kernel::matrix_bytes(n, n) + kernel::matrix_bytes(n, d),
    })
}

/// Empirical NTK Θ_m of N inputs, width m, against the GEMMs it needs (X Wᵀ and D Dᵀ).
pub fn empirical_gram(n: usize, m: usize, d: usize, reps: usize) -> Result<BenchRow> {
    let x = normal_matrix(n, d, 2);
    let cfg = NetworkConfig {
        width: m,
        arch: Architecture::default(),
        readout: Readout::Gaussian,
        init: Init::Standard,
    };
    let params = Params::sample(d, &cfg, 3)?;
    let features = normal_matrix(n, m, 4);
    let baseline = median_seconds(reps, || {
        std::hint::black_box(linalg::cross_product(x.as_ref(), params.w.as_ref(), 1.0));
        std::hint::black_box(linalg::lower_product(
            features.as_ref(),
            features.as_ref(),
            1.0,
        ));
        std::hint::black_box(linalg::lower_product(x.as_ref(), x.as_ref(), 1.0));
    });
    drop(features);
    reset_peak_rss();
    let mut result = Ok(());
    let seconds = median_seconds(reps, || {
        if let Err(e) =
            kernel::empirical_train_train(&params, x.as_ref(), &cfg.arch, KernelWhat::Ntk)
        {
            result = Err(e);
        }
    });
    result?;
    let (nf, mf, df) = (n as f64, m as f64, d as f64);
    let flops = 2.0 * nf * mf * df + nf * nf * mf + nf * nf * df;
    Ok(BenchRow {
        stage: "empirical NTK Θ_m".into(),
        size: format!("N={n} m={m} d={d}"),
        seconds,
        baseline: "GEMMs X·Wᵀ, D·Dᵀ (lower), X·Xᵀ (lower)".into(),
        baseline_seconds: baseline,
        ratio: seconds / baseline,
        target: 1.5,
        gflops: flops / seconds / 1e9,
        peak_rss_bytes: peak_rss_bytes(),
        model_bytes: 2 * kernel::matrix_bytes(n, n) + 3 * kernel::matrix_bytes(n, m),
    })
}
