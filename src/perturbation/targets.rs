//! Adversarial target labels (§1 step 3, §6.5).

use rand::RngExt;

use crate::rng::{self, domain};

crate::named_enum! {
    /// How the target label y^adv_n is chosen.
    pub enum TargetKind {
        /// Independent uniform ±1, independent of y_n (the paper's choice, "D_rand").
        Random = "random",
        /// y^adv_n = −y_n: every adversarial example carries the wrong label.
        Flipped = "flipped",
        /// Uniformly random labels with exactly ⌊N/2⌋ of one sign and ⌈N/2⌉ of the other, so that
        /// mean(y^adv) ≈ 0 and the bias-gradient offset of §6.5 vanishes.
        Balanced = "balanced",
    }
}

/// Draws the target labels for true labels `y`. Random targets use one stream per sample, so the
/// label of sample n does not depend on N; balanced targets shuffle a half/half vector.
pub fn draw_targets(y: &[f64], kind: TargetKind, seed: u64) -> Vec<f64> {
    match kind {
        TargetKind::Random => (0..y.len())
            .map(|n| {
                let mut r = rng::stream(seed, domain::TARGETS, n as u64);
                if r.random::<bool>() { 1.0 } else { -1.0 }
            })
            .collect(),
        TargetKind::Flipped => y.iter().map(|v| -v).collect(),
        TargetKind::Balanced => balanced(y.len(), seed),
    }
}

fn balanced(n: usize, seed: u64) -> Vec<f64> {
    let mut r = rng::stream(seed, domain::TARGETS, u64::MAX);
    // With odd N the sign of the extra label is itself random.
    let extra_positive = r.random::<bool>();
    let positives = n / 2 + usize::from(n % 2 == 1 && extra_positive);
    let mut labels: Vec<f64> = (0..n)
        .map(|i| if i < positives { 1.0 } else { -1.0 })
        .collect();
    for i in (1..n).rev() {
        let j = r.random_range(0..=i);
        labels.swap(i, j);
    }
    labels
}
