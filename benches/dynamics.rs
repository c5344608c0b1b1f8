//! Timing of the mse dynamics (§13.2): the one eigendecomposition, and the predictions at 100 times
//! for 1000 test points that it then serves. A plain timing loop (median of a few runs), run with
//! `cargo bench --bench dynamics`; it is not part of `cargo test`.

use std::time::Instant;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{ComputeEigenvectors, self_adjoint_evd, self_adjoint_evd_scratch};
use faer::{Mat, Par};
use ntk_perturb::dynamics::{LinearizedFlow, Loss, OdeOptions, Spectrum};
use ntk_perturb::kernel::{KernelWhat, infinite_test_train, infinite_train_train};
use ntk_perturb::network::Architecture;
use ntk_perturb::rng;
use rand_distr::{Distribution, StandardNormal};

const D: usize = 50;

fn inputs(n: usize, seed: u64) -> Mat<f64> {
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut r = rng::stream(seed, rng::domain::DATA, i as u64);
            (0..D).map(|_| StandardNormal.sample(&mut r)).collect()
        })
        .collect();
    Mat::from_fn(n, D, |i, j| rows[i][j])
}

fn median_secs<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn sequential_evd(k: &Mat<f64>) {
    let n = k.nrows();
    let mut s = faer::diag::Diag::<f64>::zeros(n);
    let mut u = Mat::<f64>::zeros(n, n);
    let mut mem = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
        n,
        ComputeEigenvectors::Yes,
        Par::Seq,
        Default::default(),
    ));
    self_adjoint_evd(
        k.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .unwrap();
}

fn main() {
    let arch = Architecture::default();
    println!("global rayon threads: {}", rayon::current_num_threads());
    let mut evd_4000 = f64::NAN;
    for n in [1000, 2000, 4000] {
        let x = inputs(n, 1);
        let k = infinite_train_train(x.as_ref(), &arch, KernelWhat::Ntk).unwrap();
        let runs = if n >= 4000 { 3 } else { 5 };
        let fixed = median_secs(runs, || Spectrum::compute(k.as_ref()).unwrap());
        println!("evd N={n}: fixed 2-thread pool {fixed:.3} s (median of {runs})");
        if n == 2000 {
            let seq = median_secs(runs, || sequential_evd(&k));
            println!(
                "evd N={n}: Par::Seq {seq:.3} s, ratio fixed-pool/seq {:.2}",
                fixed / seq
            );
        }
        if n == 4000 {
            evd_4000 = fixed;
        }
    }

    let (n, m, t) = (4000, 1000, 100);
    let x = inputs(n, 1);
    let z = inputs(m, 2);
    let k = infinite_train_train(x.as_ref(), &arch, KernelWhat::Ntk).unwrap();
    let kz = infinite_test_train(z.as_ref(), x.as_ref(), &arch, KernelWhat::Ntk).unwrap();
    let y: Vec<f64> = (0..n).map(|i| x[(i, 0)].signum()).collect();
    let f0 = vec![0.0; n];
    let f0z = vec![0.0; m];
    let flow = LinearizedFlow::new(k.as_ref(), &y, &f0, Loss::Mse, OdeOptions::default()).unwrap();
    let times: Vec<f64> = (0..t)
        .map(|i| 10f64.powf(-2.0 + 6.0 * i as f64 / (t - 1) as f64))
        .collect();
    let predict = median_secs(5, || {
        let sol = flow.solve(&times).unwrap();
        LinearizedFlow::predict_many(kz.as_ref(), &f0z, sol.coefficients.as_ref())
    });
    println!("mse predictions N={n}, {m} test points, {t} times: {predict:.3} s (median of 5)");
    println!(
        "ratio predictions/eigendecomposition at N={n}: {:.4} (target ≤ 0.2)",
        predict / evd_4000
    );
}
