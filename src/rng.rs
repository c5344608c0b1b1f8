//! Seeded random streams that do not depend on the number of threads.
//!
//! Every random object (a data row, a neuron, a target label) draws from its own stream, derived from
//! `(seed, domain, index)` by SplitMix64 mixing. Work can then be split over any number of threads and
//! still produce the same numbers. The generator is named (Xoshiro256++) rather than `StdRng`, whose
//! algorithm rand does not promise to keep across versions.

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

/// The generator behind every stream.
pub type StreamRng = Xoshiro256PlusPlus;

/// Stream domains: one per kind of random object, so that e.g. data row 3 and neuron 3 never share a stream.
pub mod domain {
    /// Rows of synthetic datasets.
    pub const DATA: u64 = 1;
    /// Neurons of a sampled network (W, b, a).
    pub const NETWORK: u64 = 2;
    /// Random subsets of a dataset.
    pub const SUBSET: u64 = 3;
    /// Adversarial target labels.
    pub const TARGETS: u64 = 4;
    /// Monte-Carlo kernel estimates.
    pub const MONTE_CARLO: u64 = 5;
    /// Anything else derived from the seed (second network of an experiment, …).
    pub const OTHER: u64 = 6;
}

/// SplitMix64 finaliser: a bijective mix of 64 bits.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream of object `index` in `domain` under `seed`.
pub fn stream(seed: u64, domain: u64, index: u64) -> StreamRng {
    let key = splitmix64(splitmix64(splitmix64(seed) ^ domain) ^ index);
    StreamRng::seed_from_u64(key)
}

/// A derived seed, for handing a sub-experiment its own seed (e.g. the second classifier g).
pub fn derive_seed(seed: u64, domain: u64, index: u64) -> u64 {
    splitmix64(splitmix64(splitmix64(seed) ^ domain) ^ index)
}
