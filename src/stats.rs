//! Summaries over seeds: mean and standard deviation, quartiles, Student-t confidence
//! intervals, and Pearson and Spearman correlations.

/// Mean and sample standard deviation √(Σ(v − v̄)²/(n − 1)) (0 for one value, NaN for none).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// The p-quantile (0 ≤ p ≤ 1) of `values` by linear interpolation between order statistics:
/// with x_(0) ≤ … ≤ x_(n−1) and h = (n − 1)·p, Q(p) = x_(⌊h⌋) + (h − ⌊h⌋)(x_(⌊h⌋+1) − x_(⌊h⌋))
/// (Hyndman and Fan's type 7, the default of R and NumPy). NaN for no values.
pub fn quantile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut x = values.to_vec();
    x.sort_by(f64::total_cmp);
    let h = (x.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(x.len() - 1);
    x[lo] + (h - lo as f64) * (x[hi] - x[lo])
}

/// The two-sided t-based confidence interval of the mean at `level` (e.g. 0.95):
/// x̄ ∓ t_{(1+level)/2, n−1} · s/√n, with s the sample standard deviation. `None` for fewer
/// than two values.
pub fn t_interval(values: &[f64], level: f64) -> Option<(f64, f64)> {
    if values.len() < 2 {
        return None;
    }
    let (mean, std) = mean_std(values);
    let n = values.len() as f64;
    let half = student_t_quantile(0.5 + level / 2.0, n - 1.0) * std / n.sqrt();
    Some((mean - half, mean + half))
}

/// The p-quantile of Student's t distribution with `df` > 0 degrees of freedom, found by
/// bisection on its distribution function [`student_t_cdf`] to a relative width of 1e-15.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    if p == 0.5 {
        return 0.0;
    }
    if p < 0.5 {
        return -student_t_quantile(1.0 - p, df);
    }
    let mut hi = 1.0;
    while student_t_cdf(hi, df) < p && hi < 1e300 {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    while hi - lo > 1e-15 * hi {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Distribution function of Student's t with `df` degrees of freedom:
/// F(t) = 1 − ½ I_{ν/(ν+t²)}(ν/2, ½) for t ≥ 0 and F(−t) = 1 − F(t), with I the regularised
/// incomplete beta function.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The regularised incomplete beta function I_x(a, b) = B(x; a, b)/B(a, b), from the continued
/// fraction of Numerical Recipes (§6.4), using I_x(a, b) = 1 − I_{1−x}(b, a) where it converges
/// faster.
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of I_x(a, b), evaluated by the modified Lentz method.
fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 by the Lanczos approximation (g = 7, nine coefficients; relative error
/// about 1e-15), with the reflection Γ(x)Γ(1 − x) = π/sin(πx) below ½.
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = C[0];
    for (i, &c) in C.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// Pearson's correlation r = Σ(x − x̄)(y − ȳ)/√(Σ(x − x̄)² Σ(y − ȳ)²) of paired values; NaN for
/// fewer than two pairs, lengths that differ, or a constant side.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    if x.len() != y.len() || x.len() < 2 {
        return f64::NAN;
    }
    // A constant sample has no correlation; its rounded mean would leave deviations of 1e-18.
    let constant = |v: &[f64]| v.iter().all(|&a| a == v[0]);
    if constant(x) || constant(y) {
        return f64::NAN;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks 1..n of `v`, ties given the mean of the ranks they span.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut k = 0;
    while k < order.len() {
        let mut end = k + 1;
        while end < order.len() && v[order[end]] == v[order[k]] {
            end += 1;
        }
        // Ranks k+1..=end share their mean (k + 1 + end)/2.
        let mean = (k + 1 + end) as f64 / 2.0;
        for &i in &order[k..end] {
            r[i] = mean;
        }
        k = end;
    }
    r
}

/// Spearman's rank correlation: [`pearson`] of the ranks, ties given their mean rank.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    if x.len() != y.len() {
        return f64::NAN;
    }
    pearson(&ranks(x), &ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_factorials_and_the_half_integer() {
        // Γ(n) = (n − 1)!, Γ(½) = √π.
        for (x, want) in [(1.0, 1.0f64), (5.0, 24.0), (10.0, 362_880.0)] {
            assert!((ln_gamma(x) - want.ln()).abs() < 1e-13, "{x}");
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-14);
    }

    #[test]
    fn correlations_of_small_cases_by_hand() {
        // x = (1, 2, 3), y = (1, 2, 4): Σdxdy = 3, Σdx² = 2, Σdy² = 42/9.
        let r = pearson(&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]);
        assert!((r - 3.0 / (2.0_f64 * 42.0 / 9.0).sqrt()).abs() < 1e-15);
        // Rank differences (−1, 1, −1, 1, 0): 1 − 6·4/(5·24) = 0.8.
        let rho = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[20.0, 10.0, 40.0, 30.0, 50.0]);
        assert!((rho - 0.8).abs() < 1e-15);
        // A tie: ranks (1.5, 1.5, 3) against (1, 2, 3) give 1.5/√3.
        let tied = spearman(&[7.0, 7.0, 9.0], &[1.0, 2.0, 3.0]);
        assert!((tied - 1.5 / 3.0_f64.sqrt()).abs() < 1e-15);
        assert!(pearson(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
        // Five equal thresholds whose mean rounds off 0.028 (as on the MNIST ε grid): undefined.
        let equal = [0.028; 5];
        assert_ne!(equal.iter().sum::<f64>() / 5.0, 0.028);
        assert!(pearson(&[0.003, 0.004, 0.005, 0.006, 0.007], &equal).is_nan());
        assert!(spearman(&[0.003, 0.004, 0.005, 0.006, 0.007], &equal).is_nan());
    }
}
