//! Benchmarks that time each heavy stage against its roofline operation measured in the same run
//! (e.g. the infinite-width Gram against a plain faer GEMM of the same X), so the ratio, not the
//! absolute time, is what is reported and compared with a target.

use std::time::Instant;

use faer::Mat;
use serde::Serialize;

use crate::error::Result;
use crate::kernel::{self, KernelWhat};
use crate::linalg;
use crate::model::{Architecture, Init, NetworkConfig, Params, Readout};
use crate::rng;
use rand_distr::{Distribution, StandardNormal};

mod process;
pub use process::gram_whole_process;

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
    vm_hwm(std::path::Path::new("/proc/self/status"))
}

/// `VmHWM` of a `/proc/<pid>/status` file in bytes, 0 if unreadable.
fn vm_hwm(status: &std::path::Path) -> u64 {
    std::fs::read_to_string(status)
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

/// Symmetric eigendecomposition of an N×N NTK Gram with V formed (the fixed-split EVD, with the
/// one-stage reduction it uses when V is formed: `Spectrum::compute_for_vectors`) against faer's
/// plain `self_adjoint_eigen` on the same matrix with the global parallelism.
pub fn eigendecomposition(n: usize, reps: usize) -> Result<BenchRow> {
    let x = normal_matrix(n, 50, 5);
    let k = kernel::infinite_train_train(x.as_ref(), &Architecture::default(), KernelWhat::Ntk)?;
    let baseline = median_seconds(reps, || {
        std::hint::black_box(k.self_adjoint_eigen(faer::Side::Lower).is_ok());
    });
    reset_peak_rss();
    let mut result = Ok(());
    let seconds = median_seconds(reps, || {
        // Values and vectors, as the baseline computes them.
        if let Err(e) = crate::dynamics::Spectrum::compute_for_vectors(k.as_ref())
            .and_then(|s| s.eigenvectors())
        {
            result = Err(e);
        }
    });
    result?;
    let nf = n as f64;
    Ok(BenchRow {
        stage: "eigendecomposition (fixed split)".into(),
        size: format!("N={n}"),
        seconds,
        baseline: "faer self_adjoint_eigen, all threads".into(),
        baseline_seconds: baseline,
        ratio: seconds / baseline,
        target: 1.2,
        gflops: (4.0 / 3.0 + 4.0) * nf * nf * nf / seconds / 1e9,
        peak_rss_bytes: peak_rss_bytes(),
        // K, its working copy, the decomposition's factors and the formed V.
        model_bytes: 3 * kernel::matrix_bytes(n, n) + crate::dynamics::spectrum::extra_bytes(n),
    })
}

/// MSE predictions at `times` time points for `m` test inputs (solve + one GEMM) against the
/// eigendecomposition they reuse.
pub fn mse_predictions(n: usize, m: usize, times: usize, reps: usize) -> Result<BenchRow> {
    use crate::dynamics::{LinearizedFlow, OdeOptions};
    use crate::model::Loss;
    let arch = Architecture::default();
    let x = normal_matrix(n, 50, 6);
    let z = normal_matrix(m, 50, 7);
    let k = kernel::infinite_train_train(x.as_ref(), &arch, KernelWhat::Ntk)?;
    let kz = kernel::infinite_test_train(z.as_ref(), x.as_ref(), &arch, KernelWhat::Ntk)?;
    let y: Vec<f64> = (0..n)
        .map(|i| if x[(i, 0)] >= 0.0 { 1.0 } else { -1.0 })
        .collect();
    let (f0, f0z) = (vec![0.0; n], vec![0.0; m]);
    let mut flow = None;
    let evd = median_seconds(1, || {
        flow = Some(LinearizedFlow::new(
            k.as_ref(),
            &y,
            &f0,
            Loss::Mse,
            OdeOptions::default(),
        ));
    });
    let flow = flow.ok_or_else(|| crate::Error::numerical("bench", "no flow"))??;
    let grid: Vec<f64> = (0..times)
        .map(|i| 10f64.powf(-2.0 + 6.0 * i as f64 / (times.max(2) - 1) as f64))
        .collect();
    reset_peak_rss();
    let mut result = Ok(());
    let seconds = median_seconds(reps, || match flow.solve(&grid) {
        Ok(sol) => {
            std::hint::black_box(LinearizedFlow::predict_many(
                kz.as_ref(),
                &f0z,
                sol.coefficients.as_ref(),
            ));
        }
        Err(e) => result = Err(e),
    });
    result?;
    Ok(BenchRow {
        stage: "mse predictions".into(),
        size: format!("N={n} test={m} times={times}"),
        seconds,
        baseline: "the eigendecomposition it reuses".into(),
        baseline_seconds: evd,
        ratio: seconds / evd,
        target: 0.2,
        gflops: 2.0 * (m * n * times) as f64 / seconds / 1e9,
        peak_rss_bytes: peak_rss_bytes(),
        model_bytes: 2 * kernel::matrix_bytes(n, n)
            + crate::dynamics::spectrum::extra_bytes(n)
            + kernel::matrix_bytes(m, n),
    })
}

fn bench_network(d: usize, width: usize) -> Result<crate::network::Network> {
    let cfg = NetworkConfig {
        width,
        arch: Architecture::default(),
        readout: Readout::Gaussian,
        init: Init::Standard,
    };
    crate::network::Network::new(d, cfg, 0)
}

fn alternating_labels(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect()
}

fn train_seconds(
    net: &crate::network::Network,
    x: &Mat<f64>,
    y: &[f64],
    opts: &crate::network::TrainOptions,
) -> Result<f64> {
    let mut net = net.clone();
    let start = Instant::now();
    net.train(x.as_ref(), y, None, opts, |_| {})?;
    Ok(start.elapsed().as_secs_f64())
}

/// One full-batch GD step (logistic loss, momentum) against the two GEMMs it cannot avoid
/// (H = X Wᵀ and the weight gradient Mᵀ X). The step time is (T(s steps) − T(0 steps))/s.
pub fn gd_step(n: usize, m: usize, d: usize, reps: usize) -> Result<BenchRow> {
    use crate::model::Loss;
    use crate::network::TrainOptions;
    let x = normal_matrix(n, d, 8);
    let y = alternating_labels(n);
    let net = bench_network(d, m)?;
    let w = normal_matrix(m, d, 9);
    let mut h = Mat::<f64>::zeros(n, m);
    let mut g = Mat::<f64>::zeros(m, d);
    let baseline = median_seconds(reps, || {
        linalg::matmul(
            h.as_mut(),
            faer::Accum::Replace,
            x.as_ref(),
            w.transpose(),
            1.0,
        );
        linalg::matmul(
            g.as_mut(),
            faer::Accum::Replace,
            h.transpose(),
            x.as_ref(),
            1.0,
        );
    });
    drop(h);
    let opts = |steps: usize| TrainOptions {
        lr: 0.01,
        steps,
        momentum: 0.9,
        loss: Loss::Logistic,
        record_every: steps.max(1),
    };
    let steps = 3;
    reset_peak_rss();
    let mut per_step_times = Vec::new();
    for _ in 0..reps.max(1) {
        let ts = train_seconds(&net, &x, &y, &opts(steps))?;
        let t0 = train_seconds(&net, &x, &y, &opts(0))?;
        per_step_times.push(((ts - t0) / steps as f64).max(0.0));
    }
    per_step_times.sort_by(f64::total_cmp);
    let per_step = per_step_times[per_step_times.len() / 2];
    Ok(BenchRow {
        stage: "GD step (logistic, momentum)".into(),
        size: format!("N={n} m={m} d={d}"),
        seconds: per_step,
        baseline: "GEMMs X·Wᵀ and Mᵀ·X".into(),
        baseline_seconds: baseline,
        ratio: per_step / baseline,
        target: 2.0,
        gflops: 4.0 * (n * m * d) as f64 / per_step / 1e9,
        peak_rss_bytes: peak_rss_bytes(),
        model_bytes: 3 * kernel::matrix_bytes(n, m) + kernel::matrix_bytes(n, d),
    })
}

/// The paper's base run (§7.3: d = 100, m = 100, N = 1000, 1000 steps, identity loss) against the
/// same number of its two GEMMs alone.
pub fn base_run(reps: usize) -> Result<BenchRow> {
    use crate::model::Loss;
    use crate::network::TrainOptions;
    let (n, m, d, steps) = (1000, 100, 100, 1000);
    let x = normal_matrix(n, d, 10);
    let y = alternating_labels(n);
    let net = bench_network(d, m)?;
    let opts = TrainOptions {
        lr: 1.0,
        steps,
        momentum: 0.9,
        loss: Loss::Identity,
        record_every: 100,
    };
    let xa = Mat::from_fn(n, d + 1, |i, j| if j < d { x[(i, j)] } else { 1.0 });
    let wa = normal_matrix(m, d + 1, 11);
    let mut h = Mat::<f64>::zeros(n, m);
    let mut g = Mat::<f64>::zeros(m, d + 1);
    let baseline = median_seconds(reps, || {
        for _ in 0..steps {
            faer::linalg::matmul::matmul(
                h.as_mut(),
                faer::Accum::Replace,
                xa.as_ref(),
                wa.transpose(),
                1.0,
                faer::Par::Seq,
            );
            faer::linalg::matmul::matmul(
                g.as_mut(),
                faer::Accum::Replace,
                h.transpose(),
                xa.as_ref(),
                1.0,
                faer::Par::Seq,
            );
        }
    });
    reset_peak_rss();
    let mut times = Vec::new();
    for _ in 0..reps.max(1) {
        times.push(train_seconds(&net, &x, &y, &opts)?);
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    Ok(BenchRow {
        stage: "paper base run (1000 GD steps)".into(),
        size: format!("N={n} m={m} d={d}"),
        seconds,
        baseline: "its 2×1000 GEMMs alone".into(),
        baseline_seconds: baseline,
        ratio: seconds / baseline,
        target: 2.0,
        gflops: 4.0 * (n * m * d * steps) as f64 / seconds / 1e9,
        peak_rss_bytes: peak_rss_bytes(),
        model_bytes: 3 * kernel::matrix_bytes(n, m),
    })
}

/// Sweep throughput: `runs` perturbation-learning runs of the paper's shifted-Gauss (a) setting
/// (m = 100, d = 100, N = 1000, 1000 steps for f and for g) run as one parallel sweep over ε and
/// seeds, against the budget of 60 s per 55 runs. The sweep trains f once per seed (cells share
/// their first stage); GFLOP/s counts the GEMMs of the trainings actually run.
pub fn sweep_throughput(runs: usize) -> Result<BenchRow> {
    use crate::study::experiment::{RunConfig, SweepSpec};
    let base = RunConfig {
        n: Some(1000),
        d: Some(100),
        n_test: 1000,
        width: 100,
        steps_f: 1000,
        steps_g: 1000,
        eps_per_coordinate: Some(0.001),
        ..RunConfig::default()
    };
    let seeds = runs.div_ceil(11).max(1) as u64;
    let values: Vec<toml::Value> = (0..11)
        .map(|k| toml::Value::Float(0.0001 * k as f64))
        .collect();
    let take = runs.min(11);
    let sweep = SweepSpec::from_run(&base)?
        .vary("eps_per_coordinate", values[..take].to_vec())?
        .with_seeds(seeds)?
        .expand()?;
    reset_peak_rss();
    let start = Instant::now();
    sweep.run_in_memory(None)?;
    let seconds = start.elapsed().as_secs_f64();
    let cells = sweep.cells().len();
    let budget = 60.0 * cells as f64 / 55.0;
    // One training of g per cell and one of f per group of cells sharing their first stage.
    let first_stages: std::collections::BTreeSet<String> = sweep
        .cells()
        .iter()
        .map(|c| crate::study::experiment::first_stage_key(&c.config))
        .collect::<Result<_>>()?;
    let trainings = (cells + first_stages.len()) as f64;
    Ok(BenchRow {
        stage: "sweep throughput".into(),
        size: format!("{cells} runs, shifted Gauss (a) m=100 d=100 N=1000, 2×1000 steps"),
        seconds,
        baseline: "budget: 60 s per 55 runs".into(),
        baseline_seconds: budget,
        ratio: seconds / budget,
        target: 1.0,
        gflops: 4.0 * 1000.0 * 100.0 * 101.0 * 1000.0 * trainings / seconds / 1e9,
        peak_rss_bytes: peak_rss_bytes(),
        model_bytes: 3 * kernel::matrix_bytes(1000, 1000),
    })
}

/// Closed-form mse dynamics as a whole process (`dynamics --loss mse --f0 zero` on `data gauss`
/// with N inputs in d = 784, times 1, 10, 100, ∞: reading the CSV, the Gram, the flow and writing
/// its outputs), the median of `reps` runs, against neural-tangents' `gradient_descent_mse` on the
/// same Gram matrix and labels already in memory, with SciPy's `eigh(driver="evd")` alone beside it
/// (both from `benches/nt_mse.py`, same run). Without python3 or its packages the row keeps our
/// time and marks the baseline unavailable (NaN).
pub fn mse_dynamics_process(n: usize, reps: usize) -> Result<BenchRow> {
    use std::process::Command;
    let exe = std::env::current_exe()
        .map_err(|e| crate::Error::numerical("bench", format!("own executable: {e}")))?;
    let dir = std::env::temp_dir().join(format!("ntk-perturb-bench-mse-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| crate::Error::numerical("bench", format!("{}: {e}", dir.display())))?;
    let run = |args: &[&str]| -> Result<f64> {
        let start = Instant::now();
        let status = Command::new(&exe)
            .args(args)
            .args(["--quiet", "--force"])
            .status()
            .map_err(|e| crate::Error::numerical("bench", format!("spawn: {e}")))?;
        if !status.success() {
            return Err(crate::Error::numerical(
                "bench",
                format!("`{}` failed ({status})", args.join(" ")),
            ));
        }
        Ok(start.elapsed().as_secs_f64())
    };
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (x, g, out) = (path("x.csv"), path("gram"), path("dynamics"));
    let times = "1,10,100,inf";
    let result = (|| -> Result<BenchRow> {
        let ns = n.to_string();
        run(&[
            "data", "gauss", "--n", &ns, "--d", "784", "--seed", "1", "--out", &x,
        ])?;
        run(&["gram", "--train", &x, "--out", &g])?;
        let dynamics = [
            "dynamics", "--train", &x, "--loss", "mse", "--f0", "zero", "--times", times, "--out",
            &out,
        ];
        run(&dynamics)?;
        let mut ours: Vec<f64> = (0..reps.max(1))
            .map(|_| run(&dynamics))
            .collect::<Result<_>>()?;
        ours.sort_by(f64::total_cmp);
        let seconds = ours[ours.len() / 2];
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/nt_mse.py");
        let k = format!("{g}/k_train_train.npy");
        let baseline = Command::new("python3")
            .args([script, &k, &x, times, &reps.max(1).to_string()])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let find = |name: &str| {
            baseline
                .lines()
                .filter_map(|l| l.strip_prefix(name))
                .find_map(|v| v.split_whitespace().next()?.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        let (nt, scipy) = (find("neural_tangents "), find("scipy_evd "));
        let label = |s: f64| {
            if s.is_nan() {
                "unavailable".to_string()
            } else {
                format!("{s:.2} s")
            }
        };
        Ok(BenchRow {
            stage: "dynamics --loss mse (process)".into(),
            size: format!("N={n} d=784 times={times}"),
            seconds,
            baseline: format!(
                "neural-tangents gradient_descent_mse{} (SciPy eigh evd: {})",
                if nt.is_nan() { " unavailable" } else { "" },
                label(scipy)
            ),
            baseline_seconds: nt,
            ratio: seconds / nt,
            target: 1.0 / 1.3,
            gflops: (4.0 / 3.0) * (n as f64).powi(3) / seconds / 1e9,
            peak_rss_bytes: 0,
            model_bytes: crate::dynamics::memory_bytes(n, 0, crate::model::Loss::Mse),
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The cost of a sweep beyond its trainings: the MNIST (a) ε panel (`reproduce mnist-a`, the
/// network at every ε and seed, the conditions on) run as one sweep, against the same number of
/// network trainings of the same sizes and options (one per cell for g and one per seed for f),
/// run in parallel in the same process. Data stages, first stages and the file cache make the
/// rest — reading the data, the attack, the kernel terms of the conditions — a small addition.
/// `full = false` runs a scaled-down panel (2000 training rows, 3 ε, 2 seeds).
pub fn sweep_cost(full: bool) -> Result<BenchRow> {
    use crate::network::Network;
    use crate::study::experiment::{Model, SweepSpec, load_data, preset};
    use rayon::prelude::*;
    let preset = preset("mnist-a", !full)?;
    let panel = preset
        .panels
        .iter()
        .find(|p| p.name == "eps")
        .ok_or_else(|| crate::Error::invalid("preset", "mnist-a has no eps panel"))?;
    let mut base = panel.base.clone();
    base.model = Model::Network;
    let seeds = if full { 5 } else { 2 };
    if !full {
        base.subset = Some(2000);
    }
    let sweep = SweepSpec::from_run(&base)?
        .vary(panel.key, panel.values.clone())?
        .with_seeds(seeds)?
        .expand()?;
    reset_peak_rss();
    let start = Instant::now();
    sweep.run_in_memory(None)?;
    let seconds = start.elapsed().as_secs_f64();
    let peak = peak_rss_bytes();
    let cells = sweep.cells().len();

    // The trainings alone: g of every cell and f of every seed, on the panel's training inputs.
    let (train, _) = load_data(&base)?;
    let (n, d) = (train.n(), train.d());
    let jobs: Vec<(u64, bool)> = (0..seeds)
        .map(|s| (s, false))
        .chain((0..cells as u64).map(|c| (c, true)))
        .collect();
    let baseline_start = Instant::now();
    jobs.par_iter().try_for_each(|&(seed, g)| -> Result<()> {
        let mut net = Network::new(d, base.network(), seed)?;
        net.train(
            train.x.as_ref(),
            &train.y,
            None,
            &base.train_options(g),
            |_| {},
        )?;
        Ok(())
    })?;
    let baseline = baseline_start.elapsed().as_secs_f64();
    let m = base.width;
    let flops = jobs
        .iter()
        .map(|&(_, g)| {
            let steps = base.train_options(g).steps;
            6.0 * (n * m * (d + 1)) as f64 * steps as f64
        })
        .sum::<f64>();
    Ok(BenchRow {
        stage: "sweep cost (MNIST (a) ε panel)".into(),
        size: format!("{cells} runs, N={n} d={d} m={m}, {} steps", base.steps_f),
        seconds,
        baseline: format!("its {} trainings alone", jobs.len()),
        baseline_seconds: baseline,
        ratio: seconds / baseline,
        target: 1.5,
        gflops: flops / seconds / 1e9,
        peak_rss_bytes: peak,
        // Φ_γ(X, X) and its weighted copy while the data stage forms the direction.
        model_bytes: 2 * kernel::matrix_bytes(n, n),
    })
}
