//! A branch-free arccosine for the element-wise kernel maps.
//!
//! The Gram matrices of §4 need θ = arccos ρ for every pair; libm's `acos` is a function call that
//! blocks vectorisation and dominated the cost of the map. This version evaluates the same rational
//! approximation of arcsine as fdlibm (R(t) = P(t)/Q(t) on t ∈ [0, 1/4]) on both halves of the
//! domain and selects the result without branches:
//!
//! * |x| < 1/2: acos x = π/2 − (x + x·R(x²));
//! * |x| ≥ 1/2: with t = (1 − |x|)/2 and s = √t, acos |x| = 2(s + s·R(t)) and acos(−|x|) = π − acos |x|.
//!
//! The tests bound its error against `f64::acos` (a few units in the last place).

#![allow(clippy::excessive_precision)] // fdlibm's coefficients, kept digit for digit.

use std::f64::consts::{FRAC_PI_2, PI};

const P0: f64 = 1.666_666_666_666_666_57e-1;
const P1: f64 = -3.255_658_186_224_009_15e-1;
const P2: f64 = 2.012_125_321_348_629_26e-1;
const P3: f64 = -4.005_553_450_067_941_14e-2;
const P4: f64 = 7.915_349_942_898_145_32e-4;
const P5: f64 = 3.479_331_075_960_211_68e-5;
const Q1: f64 = -2.403_394_911_734_414_22;
const Q2: f64 = 2.020_945_760_233_505_69;
const Q3: f64 = -6.882_839_716_054_532_93e-1;
const Q4: f64 = 7.703_815_055_590_193_53e-2;

/// R(t) = t·P(t)/Q(t), the correction in asin v = v + v·R(v²) for v ∈ [0, 1/2].
#[inline(always)]
fn asin_ratio(t: f64) -> f64 {
    let p = t * (P0 + t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5)))));
    let q = 1.0 + t * (Q1 + t * (Q2 + t * (Q3 + t * Q4)));
    p / q
}

/// arccos of `x` ∈ [−1, 1] (inputs outside are clamped), without branches.
#[inline(always)]
pub fn acos(x: f64) -> f64 {
    let x = x.clamp(-1.0, 1.0);
    let ax = x.abs();
    let small = ax < 0.5;
    let t_large = 0.5 * (1.0 - ax);
    let t = if small { x * x } else { t_large };
    let v = if small { x } else { t_large.sqrt() };
    let asin_v = v + v * asin_ratio(t);
    let large_pos = 2.0 * asin_v;
    let large = if x < 0.0 { PI - large_pos } else { large_pos };
    if small { FRAC_PI_2 - asin_v } else { large }
}

#[cfg(test)]
mod tests {
    use super::acos;

    #[test]
    fn matches_libm_to_a_few_ulp_over_the_whole_domain() {
        let n = 2_000_001;
        let mut worst: f64 = 0.0;
        for k in 0..n {
            let x = -1.0 + 2.0 * k as f64 / (n - 1) as f64;
            let err = (acos(x) - x.acos()).abs();
            worst = worst.max(err / f64::EPSILON);
        }
        // Absolute error in units of ε (θ ≤ π, so this is at most a few ulp of the result).
        assert!(worst <= 4.0, "worst error {worst} ε");
        assert_eq!(acos(1.0), 0.0);
        assert_eq!(acos(-1.0), std::f64::consts::PI);
        assert_eq!(acos(0.0), std::f64::consts::FRAC_PI_2);
    }
}
