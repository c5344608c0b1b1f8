//! The width study of `parallel` (§5.4, §13.3): the pooled distances of net − ∇f_0 to lin, kernel
//! and sum against the per-input residuals of `perturbation::directions`, the power-law fits
//! against closed forms, and the wide network's gradient against the closed-form kernel direction.

mod common;

use faer::Mat;
use ntk_perturb::data::{Dataset, shifted_gauss};
use ntk_perturb::dynamics::OdeOptions;
use ntk_perturb::model::{Architecture, Init, Loss, NetworkConfig, Readout};
use ntk_perturb::perturbation::Directions;
use ntk_perturb::perturbation::directions::residuals;
use ntk_perturb::study::parallel::{
    self, FIT_QUANTITIES, Grid, ParallelRow, fit_widths, pooled_distances,
};

fn config(width: usize) -> NetworkConfig {
    NetworkConfig {
        width,
        arch: Architecture {
            gamma: 0.0,
            bias: true,
            train_readout: false,
        },
        readout: Readout::Gaussian,
        init: Init::Standard,
    }
}

/// Shifted Gauss with N = n, d = 2, every input divided by 5 (class means ±0.06·1, sd 0.2): a
/// dataset on which `kernel` and `sum` differ by about half of ‖sum‖.
fn small_inputs(n: usize) -> Dataset {
    let raw = shifted_gauss(n, 2, 0.3, 0).unwrap();
    let x = Mat::from_fn(n, 2, |i, j| raw.x[(i, j)] / 5.0);
    Dataset::new(x, raw.y).unwrap()
}

fn row_norm(m: &Mat<f64>, i: usize) -> f64 {
    common::row(m, i).iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// dist² = Σ_n r_n² ‖sum_n‖² / Σ_n ‖sum_n‖² for the per-input ratios r_n = ‖a_n − b_n‖/‖sum_n‖.
fn pooled_from_ratios(ratios: &[f64], d: &Directions) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (i, r) in ratios.iter().enumerate() {
        let s2 = row_norm(&d.sum, i).powi(2);
        num += r * r * s2;
        den += s2;
    }
    (num / den).sqrt()
}

#[test]
fn pooled_distances_combine_the_per_input_residuals() {
    let train = small_inputs(12);
    let d = Directions::compute(&train, &config(300), 4, Loss::Identity, 1.0, 5.0).unwrap();
    let pooled = pooled_distances(&d);
    let res = residuals(&d);
    let pick = |f: fn(&ntk_perturb::perturbation::directions::PointResiduals) -> Option<f64>| {
        res.iter().map(|r| f(r).unwrap()).collect::<Vec<f64>>()
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
    let want = pooled_from_ratios(&pick(|r| r.pattern_flip), &d);
    assert!(close(pooled.net_lin.unwrap(), want), "{pooled:?} vs {want}");
    let want = pooled_from_ratios(&pick(|r| r.net_kernel), &d);
    assert!(
        close(pooled.net_kernel.unwrap(), want),
        "{pooled:?} vs {want}"
    );
    let want = pooled_from_ratios(&pick(|r| r.kernel_term), &d);
    assert!(
        close(pooled.kernel_sum.unwrap(), want),
        "{pooled:?} vs {want}"
    );
    // net − ∇f_0 − sum is the total residual of the directions whose net is net − ∇f_0.
    let trained = Directions {
        net: &d.net - &d.init,
        init: Mat::zeros(d.init.nrows(), d.init.ncols()),
        ..d.clone()
    };
    let total: Vec<f64> = residuals(&trained)
        .iter()
        .map(|r| r.total.unwrap())
        .collect();
    let want = pooled_from_ratios(&total, &d);
    assert!(close(pooled.net_sum.unwrap(), want), "{pooled:?} vs {want}");
    // At T = 0 sum is zero and no distance is defined.
    let d0 = Directions::compute(&train, &config(300), 4, Loss::Identity, 1.0, 0.0).unwrap();
    let p0 = pooled_distances(&d0);
    assert_eq!(
        [p0.net_lin, p0.net_kernel, p0.net_sum, p0.kernel_sum],
        [None; 4]
    );
}

#[test]
fn one_training_input_gives_the_per_input_ratio() {
    let train = small_inputs(2);
    let one = Dataset::new(Mat::from_fn(1, 2, |_, j| train.x[(0, j)]), vec![train.y[0]]).unwrap();
    let d = Directions::compute(&one, &config(50), 1, Loss::Identity, 1.0, 3.0).unwrap();
    let p = pooled_distances(&d);
    let r = residuals(&d)[0];
    assert!((p.net_lin.unwrap() - r.pattern_flip.unwrap()).abs() < 1e-14);
    assert!((p.net_kernel.unwrap() - r.net_kernel.unwrap()).abs() < 1e-14);
    // With one sample the kernel term of its own pair is the θ = 0 convention: kernel = sum.
    assert_eq!(p.kernel_sum, Some(0.0));
}

fn rows(values: impl Fn(usize, u64) -> Option<f64>, widths: &[usize]) -> Vec<ParallelRow> {
    let mut out = Vec::new();
    for &width in widths {
        for seed in 0..3u64 {
            for quantity in FIT_QUANTITIES {
                out.push(ParallelRow {
                    width,
                    time: 2.0,
                    seed,
                    quantity,
                    value: values(width, seed),
                });
            }
        }
    }
    out
}

#[test]
fn fits_recover_exact_power_laws_and_the_t_interval_of_the_seed_slopes() {
    // Same exponent −1/4 for every seed, prefactors 1, 2, 3: the mean over seeds is 2·m^{−1/4}
    // and every per-seed slope is −1/4, so the interval has zero width.
    let widths = [100, 1000, 10_000];
    let r = rows(
        |m, s| Some((s + 1) as f64 * (m as f64).powf(-0.25)),
        &widths,
    );
    let fits = fit_widths(&r, &[]);
    assert_eq!(fits.len(), FIT_QUANTITIES.len());
    for f in &fits {
        assert_eq!(
            (f.from_width, f.to_width, f.widths, f.seeds),
            (100, 10_000, 3, 3)
        );
        assert!((f.slope.unwrap() + 0.25).abs() < 1e-12, "{f:?}");
        assert!((f.intercept.unwrap() - 2f64.ln()).abs() < 1e-12, "{f:?}");
        assert!((f.slope_ci_low.unwrap() + 0.25).abs() < 1e-12, "{f:?}");
        assert!((f.slope_ci_high.unwrap() + 0.25).abs() < 1e-12, "{f:?}");
    }
    // Exponents −0.4, −0.5, −0.6: mean −0.5, sd 0.1, and with t_{0.975, 2} = 4.302652729911275
    // (Student's t table) the interval is −0.5 ± 4.302652729911275·0.1/√3. A width of 10 that
    // breaks the law is left out by fitting from 100 on.
    let r = rows(
        |m, s| {
            let p = -0.4 - 0.1 * s as f64;
            Some(if m == 10 { 7.0 } else { (m as f64).powf(p) })
        },
        &[10, 100, 1000, 10_000],
    );
    let fits = fit_widths(&r, &[10, 100]);
    assert_eq!(fits.len(), 2 * FIT_QUANTITIES.len());
    let half = 4.302652729911275 * 0.1 / 3f64.sqrt();
    for f in fits.iter().filter(|f| f.from_width == 100) {
        assert_eq!(f.widths, 3);
        assert!(
            (f.slope_ci_low.unwrap() - (-0.5 - half)).abs() < 1e-9,
            "{f:?}"
        );
        assert!(
            (f.slope_ci_high.unwrap() - (-0.5 + half)).abs() < 1e-9,
            "{f:?}"
        );
    }
    for f in fits.iter().filter(|f| f.from_width == 10) {
        assert_eq!(f.widths, 4);
        assert!(
            f.slope.unwrap() < -0.6,
            "the outlier at m = 10 steepens the fit: {f:?}"
        );
    }
    // A seed with an undefined value drops out of the interval; one width without any value
    // leaves the fit of the means undefined.
    let r = rows(
        |m, s| (s != 2 || m != 1000).then(|| (m as f64).powf(-0.5 + 0.1 * s as f64)),
        &widths,
    );
    let f = &fit_widths(&r, &[])[0];
    assert_eq!(f.seeds, 2);
    let (lo, hi) = (f.slope_ci_low.unwrap(), f.slope_ci_high.unwrap());
    // Two slopes −0.5 and −0.4: t_{0.975, 1} = 12.706204736174705, s = 0.1/√2, n = 2.
    let half = 12.706204736174705 * (0.1 / 2f64.sqrt()) / 2f64.sqrt();
    assert!((lo - (-0.45 - half)).abs() < 1e-9 && (hi - (-0.45 + half)).abs() < 1e-9);
    let r = rows(|m, _| (m != 1000).then_some(1.0), &widths);
    assert_eq!(fit_widths(&r, &[])[0].slope, None);
}

#[test]
fn the_wide_network_follows_the_gradient_of_the_infinite_width_predictor() {
    // §13.3: the pattern flips of a wide lazy network carry the ∇Φ_γ term, so net − ∇f_0
    // approaches `kernel`, not `sum` (nor lin − ∇f_0, which tends to sum). On these inputs the two
    // differ by about half of ‖sum‖; measured at m = 20 000: 0.07 ± 0.01 over three seeds.
    let train = small_inputs(20);
    let grid = Grid {
        widths: vec![200, 20_000],
        times: vec![30.0],
        seeds: vec![0],
        lr: 1.0,
        loss: Loss::Identity,
        ode: OdeOptions::default(),
        network: config(1),
    };
    let sweep = parallel::run(&train, &grid, |_| ()).unwrap();
    let get = |width: usize, quantity: &str| {
        sweep
            .rows
            .iter()
            .find(|r| r.width == width && r.quantity == quantity)
            .and_then(|r| r.value)
            .unwrap()
    };
    let gap = get(20_000, "dist_kernel_sum");
    assert!(gap > 0.4, "kernel and sum differ by {gap}");
    let to_kernel = get(20_000, "dist_net_kernel");
    assert!(to_kernel < 0.25 * gap, "{to_kernel} vs {gap}");
    assert!(to_kernel < get(200, "dist_net_kernel"));
    // By the triangle inequality the distances to sum and lin stay near the gap.
    for q in ["dist_net_sum", "dist_net_lin"] {
        assert!(
            get(20_000, q) > 0.7 * gap,
            "{q}: {} vs {gap}",
            get(20_000, q)
        );
    }
}
