//! Timing of the network simulator (run with `cargo bench --bench network`; not a test).
//!
//! 1. One full-batch GD step at N = 10 000, m = 1000, d = 784 against the two GEMMs it cannot avoid
//!    (H = X Wᵀ and the weight gradient Mᵀ X), timed in the same run; target ratio ≤ 2.
//! 2. The paper's base run (§7.3: d = 100, m = 100, N = 1000, 1000 steps, identity loss); target
//!    well under a second.
//!
//! The per-step time is (T(S steps) − T(0 steps))/S, so set-up and the recorded forward passes at
//! the ends are not charged to the step. Every figure is the median of a few runs after a warm-up.

use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use ntk_perturb::linalg::par;
use ntk_perturb::network::{
    Architecture, Init, Loss, Network, NetworkConfig, Readout, TrainOptions,
};
use ntk_perturb::rng;
use rand_distr::{Distribution, StandardNormal};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn normal_matrix(n: usize, d: usize, seed: u64) -> Mat<f64> {
    let mut r = rng::stream(seed, rng::domain::OTHER, 0);
    let vals: Vec<f64> = (0..n * d).map(|_| StandardNormal.sample(&mut r)).collect();
    Mat::from_fn(n, d, |i, j| vals[i * d + j])
}

fn labels(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect()
}

fn network(d: usize, width: usize) -> Network {
    let cfg = NetworkConfig {
        width,
        arch: Architecture::default(),
        readout: Readout::Gaussian,
        init: Init::Standard,
    };
    match Network::new(d, cfg, 0) {
        Ok(net) => net,
        Err(e) => panic!("sampling the benchmark network failed: {e}"),
    }
}

fn train_seconds(net: &Network, x: &Mat<f64>, y: &[f64], opts: &TrainOptions) -> f64 {
    let mut net = net.clone();
    let start = Instant::now();
    if let Err(e) = net.train(x.as_ref(), y, None, opts, |_| {}) {
        panic!("benchmark training failed: {e}");
    }
    start.elapsed().as_secs_f64()
}

fn median_of(reps: usize, mut f: impl FnMut() -> f64) -> f64 {
    f();
    let mut v: Vec<f64> = (0..reps).map(|_| f()).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    println!("threads: {}", rayon::current_num_threads());

    // 1. One GD step against its GEMMs.
    let (n, m, d) = (10_000, 1000, 784);
    let x = normal_matrix(n, d, 1);
    let y = labels(n);
    let net = network(d, m);
    let w = normal_matrix(m, d, 2);
    let mut h = Mat::<f64>::zeros(n, m);
    let mut g = Mat::<f64>::zeros(m, d);
    let opts = |steps| TrainOptions {
        lr: 0.01,
        steps,
        momentum: 0.9,
        loss: Loss::Logistic,
        record_every: steps.max(1),
    };
    let s = 3;
    // Interleaved repetitions, so that load from other processes hits stage and baseline alike.
    let (mut th, mut tg, mut t0, mut ts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rep in 0..4 {
        let start = Instant::now();
        matmul(
            h.as_mut(),
            Accum::Replace,
            x.as_ref(),
            w.transpose(),
            1.0,
            par(),
        );
        let a = start.elapsed().as_secs_f64();
        let start = Instant::now();
        matmul(
            g.as_mut(),
            Accum::Replace,
            h.transpose(),
            x.as_ref(),
            1.0,
            par(),
        );
        let b = start.elapsed().as_secs_f64();
        let z = train_seconds(&net, &x, &y, &opts(0));
        let t = train_seconds(&net, &x, &y, &opts(s));
        if rep > 0 {
            th.push(a);
            tg.push(b);
            t0.push(z);
            ts.push(t);
        }
    }
    drop(h);
    let (gemm_h, gemm_g, t0, ts) = (median(th), median(tg), median(t0), median(ts));
    let gemms = gemm_h + gemm_g;
    let flops = 2.0 * 2.0 * (n * m * d) as f64;
    println!(
        "GEMMs N={n} m={m} d={d}: X Wᵀ {gemm_h:.3} s + Mᵀ X {gemm_g:.3} s = {gemms:.3} s ({:.0} GFLOP/s)",
        flops / gemms / 1e9
    );
    let step = (ts - t0) / s as f64;
    println!(
        "GD step (logistic, momentum): {step:.3} s per step [train 0 steps {t0:.3} s, {s} steps {ts:.3} s]"
    );
    println!("ratio step / GEMMs = {:.2} (target ≤ 2)", step / gemms);

    // 2. The paper's base run.
    let (n, m, d, steps) = (1000, 100, 100, 1000);
    let x = normal_matrix(n, d, 3);
    let y = labels(n);
    let net = network(d, m);
    let base = TrainOptions {
        lr: 1.0,
        steps,
        momentum: 0.9,
        loss: Loss::Identity,
        record_every: 100,
    };
    let total = median_of(3, || train_seconds(&net, &x, &y, &base));
    // The same 1000 steps' GEMMs alone (X Wᵀ and Mᵀ X with the bias column, one thread as in the run).
    let xa = Mat::from_fn(n, d + 1, |i, j| if j < d { x[(i, j)] } else { 1.0 });
    let wa = normal_matrix(m, d + 1, 4);
    let mut h = Mat::<f64>::zeros(n, m);
    let mut g = Mat::<f64>::zeros(m, d + 1);
    let gemms = median_of(3, || {
        let start = Instant::now();
        for _ in 0..steps {
            matmul(
                h.as_mut(),
                Accum::Replace,
                xa.as_ref(),
                wa.transpose(),
                1.0,
                Par::Seq,
            );
            matmul(
                g.as_mut(),
                Accum::Replace,
                h.transpose(),
                xa.as_ref(),
                1.0,
                Par::Seq,
            );
        }
        start.elapsed().as_secs_f64()
    });
    println!(
        "base run GEMMs alone: {gemms:.3} s (ratio {:.2})",
        total / gemms
    );
    println!(
        "base run d={d} m={m} N={n}, {steps} steps, identity loss: {total:.3} s total ({:.2} ms per step; target well under 1 s)",
        1e3 * total / steps as f64
    );
}
