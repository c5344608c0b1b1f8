//! Per-sample training losses (§3.1, §13.1).
//!
//! The margin losses are functions of s = −y f: identity ℓ(s) = s, logistic ℓ(s) = log(1 + eˢ) and
//! exponential ℓ(s) = eˢ. `mse` is ½(f − y)², outside the paper's loss class (§3.3). The empirical
//! risk is always the mean over the N samples.

crate::named_enum! {
    /// A per-sample loss as a function of the network output f and the label y.
    pub enum Loss {
        /// ℓ(s) = s with s = −y f: the per-sample loss −y f (the authors' default, §3.1).
        Identity = "identity",
        /// ½(f − y)².
        Mse = "mse",
        /// ℓ(s) = log(1 + eˢ) with s = −y f, computed as a stable softplus.
        Logistic = "logistic",
        /// ℓ(s) = eˢ with s = −y f.
        Exponential = "exponential",
    }
}

/// softplus(s) = log(1 + eˢ) without overflow for large s or loss of precision for very negative s.
#[inline]
pub fn softplus(s: f64) -> f64 {
    s.max(0.0) + (-s.abs()).exp().ln_1p()
}

/// The logistic sigmoid 1/(1 + e^{−s}), evaluated through e^{−|s|} so it never overflows.
#[inline]
pub fn sigmoid(s: f64) -> f64 {
    let e = (-s.abs()).exp();
    if s >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

impl Loss {
    /// The loss of one sample with output `f` and label `y`.
    #[inline]
    pub fn value(self, f: f64, y: f64) -> f64 {
        let s = -y * f;
        match self {
            Loss::Identity => s,
            Loss::Mse => 0.5 * (f - y) * (f - y),
            Loss::Logistic => softplus(s),
            Loss::Exponential => s.exp(),
        }
    }

    /// ∂loss/∂f for one sample: −y ℓ'(−y f) for the margin losses, f − y for `mse`.
    #[inline]
    pub fn derivative(self, f: f64, y: f64) -> f64 {
        let s = -y * f;
        match self {
            Loss::Identity => -y,
            Loss::Mse => f - y,
            Loss::Logistic => -y * sigmoid(s),
            Loss::Exponential => -y * s.exp(),
        }
    }

    /// The flag spelling (`identity`, `mse`, `logistic`, `exponential`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::Identity => "identity",
            Loss::Mse => "mse",
            Loss::Logistic => "logistic",
            Loss::Exponential => "exponential",
        }
    }

    /// Empirical risk: the mean of [`Loss::value`] over the samples (0 for no samples).
    pub fn mean(self, f: &[f64], y: &[f64]) -> f64 {
        if f.is_empty() {
            return 0.0;
        }
        f.iter()
            .zip(y)
            .map(|(&a, &b)| self.value(a, b))
            .sum::<f64>()
            / f.len() as f64
    }
}

/// Fraction of samples with y·f > 0 (an output of exactly 0 counts as wrong; 0 for no samples).
pub fn accuracy(f: &[f64], y: &[f64]) -> f64 {
    if f.is_empty() {
        return 0.0;
    }
    f.iter().zip(y).filter(|(a, b)| *a * *b > 0.0).count() as f64 / f.len() as f64
}
