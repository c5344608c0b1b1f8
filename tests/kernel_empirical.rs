//! Empirical kernels of sampled networks: against finite-difference parameter gradients (an
//! independent route to ⟨∇_θ f(x), ∇_θ f(z)⟩) and, averaged over many networks, against the
//! infinite-width closed forms with a tolerance from the sample standard error.

mod common;

use faer::Mat;
use ntk_perturb::kernel::{self, KernelWhat};
use ntk_perturb::model::{Architecture, Init, NetworkConfig, Params, Readout, activation};

fn config(
    width: usize,
    gamma: f64,
    bias: bool,
    train_readout: bool,
    readout: Readout,
) -> NetworkConfig {
    NetworkConfig {
        width,
        arch: Architecture {
            gamma,
            bias,
            train_readout,
        },
        readout,
        init: Init::Standard,
    }
}

/// Flattened trainable parameters: W row by row, then b (with bias), then ã = √m a (trained readout).
fn flatten(p: &Params, cfg: &NetworkConfig) -> Vec<f64> {
    let (m, d) = (p.width(), p.input_dim());
    let mut v = Vec::new();
    for k in 0..m {
        for j in 0..d {
            v.push(p.w[(k, j)]);
        }
    }
    if cfg.arch.bias {
        v.extend((0..m).map(|k| p.b[k]));
    }
    if cfg.arch.train_readout {
        v.extend((0..m).map(|k| p.a[k] * (m as f64).sqrt()));
    }
    v
}

/// f(x) = Σ_k a_k φ(w_k·x + b_k) written out directly from a flat parameter vector.
fn forward_flat(theta: &[f64], template: &Params, cfg: &NetworkConfig, x: &[f64]) -> f64 {
    let (m, d) = (template.width(), template.input_dim());
    let mut f = 0.0;
    for k in 0..m {
        let mut u = if cfg.arch.bias { theta[m * d + k] } else { 0.0 };
        for j in 0..d {
            u += theta[k * d + j] * x[j];
        }
        let a = if cfg.arch.train_readout {
            let off = m * d + if cfg.arch.bias { m } else { 0 };
            theta[off + k] / (m as f64).sqrt()
        } else {
            template.a[k]
        };
        f += a * activation(u, cfg.arch.gamma);
    }
    f
}

fn fd_gradient(theta: &[f64], p: &Params, cfg: &NetworkConfig, x: &[f64]) -> Vec<f64> {
    let h = 1e-6;
    (0..theta.len())
        .map(|i| {
            let mut plus = theta.to_vec();
            let mut minus = theta.to_vec();
            plus[i] += h;
            minus[i] -= h;
            (forward_flat(&plus, p, cfg, x) - forward_flat(&minus, p, cfg, x)) / (2.0 * h)
        })
        .collect()
}

#[test]
fn empirical_ntk_is_the_inner_product_of_parameter_gradients() {
    let x = common::normal_matrix(5, 3, 11);
    let z = common::normal_matrix(4, 3, 12);
    for (gamma, bias, tr) in [
        (0.0, true, false),
        (0.2, true, true),
        (0.5, false, false),
        (0.0, false, true),
    ] {
        let cfg = config(7, gamma, bias, tr, Readout::Gaussian);
        let p = Params::sample(3, &cfg, 5).unwrap();
        let theta = flatten(&p, &cfg);
        let gx: Vec<Vec<f64>> = (0..5)
            .map(|i| fd_gradient(&theta, &p, &cfg, &common::row(&x, i)))
            .collect();
        let gz: Vec<Vec<f64>> = (0..4)
            .map(|i| fd_gradient(&theta, &p, &cfg, &common::row(&z, i)))
            .collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
        let k = kernel::empirical_train_train(&p, x.as_ref(), &cfg.arch, KernelWhat::Ntk).unwrap();
        let kt =
            kernel::empirical_test_train(&p, z.as_ref(), x.as_ref(), &cfg.arch, KernelWhat::Ntk)
                .unwrap();
        for i in 0..5 {
            for j in 0..5 {
                let r = dot(&gx[i], &gx[j]);
                assert!(
                    (k[(i, j)] - r).abs() <= 1e-6 * (1.0 + r.abs()),
                    "train ({i},{j}): {} vs {r}",
                    k[(i, j)]
                );
            }
            for t in 0..4 {
                let r = dot(&gz[t], &gx[i]);
                assert!(
                    (kt[(t, i)] - r).abs() <= 1e-6 * (1.0 + r.abs()),
                    "test ({t},{i})"
                );
            }
        }
    }
}

/// Mean and standard error, entry by entry, of the empirical kernel over `seeds` independent networks.
fn mc_mean_and_se(
    x: &Mat<f64>,
    cfg: &NetworkConfig,
    what: KernelWhat,
    seeds: u64,
) -> (Mat<f64>, Mat<f64>) {
    let n = x.nrows();
    let mut sum = Mat::<f64>::zeros(n, n);
    let mut sum_sq = Mat::<f64>::zeros(n, n);
    for s in 0..seeds {
        let p = Params::sample(x.ncols(), cfg, 1000 + s).unwrap();
        let k = kernel::empirical_train_train(&p, x.as_ref(), &cfg.arch, what).unwrap();
        for j in 0..n {
            for i in 0..n {
                sum[(i, j)] += k[(i, j)];
                sum_sq[(i, j)] += k[(i, j)] * k[(i, j)];
            }
        }
    }
    let s = seeds as f64;
    let mean = Mat::from_fn(n, n, |i, j| sum[(i, j)] / s);
    let se = Mat::from_fn(n, n, |i, j| {
        let var = (sum_sq[(i, j)] / s - mean[(i, j)].powi(2)) * s / (s - 1.0);
        (var.max(0.0) / s).sqrt()
    });
    (mean, se)
}

#[test]
fn empirical_kernels_average_to_the_closed_forms() {
    // E[Φ_m] = Σ_k E[a_k²] E[φ'φ'] = Φ_γ exactly, and likewise for Σ_m and Θ_m: the Monte-Carlo mean is
    // unbiased, so each entry must lie within a few standard errors of the closed form.
    let x = common::normal_matrix(6, 4, 21);
    for (gamma, bias, tr) in [(0.0, true, false), (0.5, true, true), (0.25, false, false)] {
        let cfg = config(64, gamma, bias, tr, Readout::Gaussian);
        for what in [KernelWhat::Ntk, KernelWhat::Phi, KernelWhat::Nngp] {
            let exact = kernel::infinite_train_train(x.as_ref(), &cfg.arch, what).unwrap();
            let (mean, se) = mc_mean_and_se(&x, &cfg, what, 400);
            for i in 0..6 {
                for j in 0..=i {
                    let z = (mean[(i, j)] - exact[(i, j)]) / se[(i, j)].max(1e-300);
                    // 21 entries × 9 settings: a 4.5σ bound fails by chance with probability < 2e-4.
                    assert!(
                        z.abs() < 4.5,
                        "{what:?} γ={gamma} ({i},{j}): mean {} exact {} se {}",
                        mean[(i, j)],
                        exact[(i, j)],
                        se[(i, j)]
                    );
                }
            }
        }
    }
}

/// Root-mean-square deviation of Φ_m from Φ_γ over entries and seeds.
fn rms_error(x: &Mat<f64>, width: usize, seeds: u64) -> f64 {
    let cfg = config(width, 0.0, true, false, Readout::Sign);
    let exact = kernel::infinite_train_train(x.as_ref(), &cfg.arch, KernelWhat::Phi).unwrap();
    let mut acc = 0.0;
    let mut count = 0.0;
    for s in 0..seeds {
        let p = Params::sample(x.ncols(), &cfg, 7000 + s).unwrap();
        let k = kernel::empirical_train_train(&p, x.as_ref(), &cfg.arch, KernelWhat::Phi).unwrap();
        for j in 0..x.nrows() {
            for i in (j + 1)..x.nrows() {
                acc += (k[(i, j)] - exact[(i, j)]).powi(2);
                count += 1.0;
            }
        }
    }
    (acc / count).sqrt()
}

#[test]
fn empirical_error_shrinks_like_inverse_square_root_of_width() {
    // Φ_m − Φ_γ is an average of m independent bounded terms: its RMS scales as m^(-1/2), so 16× the
    // width gives 4× less error. With 28 off-diagonal entries × 60 seeds the RMS estimates are good
    // to a few percent, so the ratio must land well inside [3, 5.3].
    let x = common::normal_matrix(8, 5, 31);
    let small = rms_error(&x, 50, 60);
    let large = rms_error(&x, 800, 60);
    let ratio = small / large;
    assert!(
        (3.0..5.3).contains(&ratio),
        "ratio {ratio} (small {small}, large {large})"
    );
}
