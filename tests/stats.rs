//! Summaries over seeds against hand-computed values: Student-t quantiles against their closed
//! forms, t-intervals, quartiles, and the slope intervals of the cross-check fit.

use ntk_perturb::model::Init;
use ntk_perturb::stats::{mean_std, quantile, student_t_cdf, student_t_quantile, t_interval};
use ntk_perturb::study::crosscheck::{CrosscheckRun, fit_errors, per_seed_slopes};

#[test]
fn t_quantiles_match_their_closed_forms() {
    let pi = std::f64::consts::PI;
    for p in [0.6, 0.9, 0.975, 0.995, 0.3] {
        // ν = 1 (Cauchy): tan(π(p − ½)).
        let t1 = (pi * (p - 0.5)).tan();
        assert!(
            (student_t_quantile(p, 1.0) - t1).abs() <= 1e-12 * t1.abs().max(1.0),
            "{p}"
        );
        // ν = 2: (2p − 1)/√(2p(1 − p)).
        let t2 = (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt();
        assert!(
            (student_t_quantile(p, 2.0) - t2).abs() <= 1e-12 * t2.abs().max(1.0),
            "{p}"
        );
        // ν = 4: with α = 4p(1 − p), q = cos(arccos(√α)/3)/√α, t = ±2√(q − 1).
        let alpha = 4.0 * p * (1.0 - p);
        let q = (alpha.sqrt().acos() / 3.0).cos() / alpha.sqrt();
        let t4 = (p - 0.5).signum() * 2.0 * (q - 1.0).sqrt();
        assert!(
            (student_t_quantile(p, 4.0) - t4).abs() <= 1e-11 * t4.abs().max(1.0),
            "{p}"
        );
    }
    // Many degrees of freedom: the normal quantile 1.959963984540054 plus (z³ + z)/(4ν).
    let z = 1.959_963_984_540_054;
    let t = student_t_quantile(0.975, 1e6);
    assert!((t - z - (z * z * z + z) / 4e6).abs() < 1e-9, "{t}");
    assert_eq!(student_t_cdf(0.0, 3.0), 0.5);
}

#[test]
fn t_interval_and_quartiles_by_hand() {
    // [1, 2, 3]: mean 2, s = 1, t_{0.975,2} = 0.95/√0.04875.
    let half = 0.95 / 0.04875f64.sqrt() / 3f64.sqrt();
    let (lo, hi) = t_interval(&[1.0, 2.0, 3.0], 0.95).unwrap();
    assert!((lo - (2.0 - half)).abs() < 1e-12 && (hi - (2.0 + half)).abs() < 1e-12);
    // Tables give t_{0.975,2} = 4.3027.
    assert!((half * 3f64.sqrt() - 4.3027).abs() < 5e-5);
    assert_eq!(t_interval(&[1.0], 0.95), None);
    // Linear interpolation between order statistics, h = (n − 1)p.
    let v = [4.0, 1.0, 3.0, 2.0];
    assert_eq!(
        [quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75)],
        [1.75, 2.5, 3.25]
    );
    let v = [3.0, 1.0, 4.0, 1.0, 5.0];
    assert_eq!(
        [quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75)],
        [1.0, 3.0, 4.0]
    );
    assert_eq!(mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).0, 5.0);
}

/// A run at `width` and `seed` whose three errors are `err`.
fn run(width: usize, seed: u64, err: f64) -> CrosscheckRun {
    CrosscheckRun {
        width,
        seed,
        rel_error_lin: err,
        rel_error_inf: err,
        rel_error_inf_plus_f0: err,
        sign_agreement_lin: 1.0,
        sign_agreement_inf: 1.0,
        sign_agreement_inf_plus_f0: 1.0,
        grad_cosine_lin: 1.0,
        weight_change: 0.1,
        pattern_flip_fraction: 0.0,
    }
}

#[test]
fn slope_intervals_are_t_intervals_of_the_per_seed_slopes() {
    // Seed s has error 4^{b_s} at width 4 and 1 at width 1, so its own slope is exactly b_s.
    let slopes = [-0.4, -0.5, -0.6];
    let mut runs = Vec::new();
    for width in [1usize, 4] {
        for (seed, b) in slopes.iter().enumerate() {
            runs.push(run(width, seed as u64, (width as f64).powf(*b)));
        }
    }
    let per_seed = per_seed_slopes(&runs, "rel_error_lin").unwrap();
    for (got, want) in per_seed.iter().zip(slopes) {
        assert!((got - want).abs() < 1e-12);
    }
    // Mean −0.5, s = 0.1, n = 3: −0.5 ∓ t_{0.975,2}·0.1/√3.
    let half = 0.95 / 0.04875f64.sqrt() * 0.1 / 3f64.sqrt();
    let fit = &fit_errors(&runs, Init::Standard)[0];
    assert_eq!(fit.quantity, "rel_error_lin");
    assert!((fit.slope_ci_low.unwrap() - (-0.5 - half)).abs() < 1e-12);
    assert!((fit.slope_ci_high.unwrap() - (-0.5 + half)).abs() < 1e-12);
    // The slope of the means: log of (4^−0.4 + 4^−0.5 + 4^−0.6)/3 over log 4.
    let mean4 = slopes.iter().map(|b| 4f64.powf(*b)).sum::<f64>() / 3.0;
    assert!((fit.slope.unwrap() - mean4.ln() / 4f64.ln()).abs() < 1e-12);
    // One seed: no interval.
    let one: Vec<CrosscheckRun> = runs.iter().filter(|r| r.seed == 0).cloned().collect();
    assert_eq!(fit_errors(&one, Init::Standard)[0].slope_ci_low, None);
}
