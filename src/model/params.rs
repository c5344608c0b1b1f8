//! Sampling of the network parameters (§2.1, §13.1).
//!
//! Defaults are the authors' network: w_k ~ N(0, I_d/d), b_k ~ N(0, 1), a_k ~ N(0, 1/m); W and b are
//! trained, the readout a is fixed. Neuron k draws from its own random stream (seed, k), so a
//! network of width m is the first m neurons of any wider network with the same seed (gaussian
//! readout aside, whose scale 1/√m depends on m) and sampling does not depend on the thread count.

use faer::{Col, Mat};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::{self, domain};

crate::named_enum! {
    /// Distribution of the fixed readout weights a_k.
    pub enum Readout {
        /// a_k ~ N(0, 1/m) (the authors' code).
        Gaussian = "gaussian",
        /// a_k = ±1/√m, alternating signs (even k positive).
        Sign = "sign",
    }
}

crate::named_enum! {
    /// How the neurons are initialised.
    pub enum Init {
        /// Every neuron independent.
        Standard = "standard",
        /// Neurons in mirrored pairs (2j, 2j+1) with equal (w, b) and opposite readout, so f_0 ≡ 0 and
        /// ∇f_0 ≡ 0 exactly. Needs an even width.
        Antisymmetric = "antisymmetric",
    }
}

/// Architecture choices that also determine the infinite-width kernels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// Leaky-ReLU slope γ ∈ [0, 1); 0 is ReLU.
    pub gamma: f64,
    /// Whether the hidden units have (trained) biases b_k.
    pub bias: bool,
    /// Whether the readout is trained too (NTK parametrisation a_k = ã_k/√m, ã trained), which adds
    /// Σ_γ to the NTK.
    pub train_readout: bool,
}

impl Default for Architecture {
    fn default() -> Self {
        Architecture {
            gamma: 0.0,
            bias: true,
            train_readout: false,
        }
    }
}

impl Architecture {
    /// Checks γ ∈ [0, 1).
    pub fn validate(&self) -> Result<()> {
        if !(self.gamma.is_finite() && (0.0..1.0).contains(&self.gamma)) {
            return Err(Error::invalid(
                "gamma",
                format!("γ must lie in [0, 1), got {}", self.gamma),
            ));
        }
        Ok(())
    }
}

/// Everything that defines a sampled network apart from the input dimension and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Width m (number of hidden units).
    pub width: usize,
    /// Activation slope, bias and readout training.
    pub arch: Architecture,
    /// Readout distribution.
    pub readout: Readout,
    /// Initialisation scheme.
    pub init: Init,
}

impl Default for NetworkConfig {
    /// The authors' network at width 1000: Gaussian readout, independent neurons, default
    /// architecture (ReLU, trained biases, fixed readout).
    fn default() -> Self {
        NetworkConfig {
            width: 1000,
            arch: Architecture::default(),
            readout: Readout::Gaussian,
            init: Init::Standard,
        }
    }
}

impl NetworkConfig {
    /// Checks the width and the architecture.
    pub fn validate(&self) -> Result<()> {
        self.arch.validate()?;
        if self.width == 0 {
            return Err(Error::invalid("width", "the width must be at least 1"));
        }
        if self.init == Init::Antisymmetric && self.width % 2 == 1 {
            return Err(Error::invalid(
                "width",
                format!(
                    "antisymmetric init pairs neurons, so the width must be even, got {}",
                    self.width
                ),
            ));
        }
        Ok(())
    }
}

/// Parameters of one network: W (m×d, row k = w_k), b (m), a (m).
#[derive(Debug, Clone)]
pub struct Params {
    /// First-layer weights, row k is w_k.
    pub w: Mat<f64>,
    /// Biases b_k (all zero when the architecture has no bias).
    pub b: Col<f64>,
    /// Readout weights a_k.
    pub a: Col<f64>,
}

/// One neuron's draw: w_k (d entries), b_k, and the standard normal ã_k behind a_k.
struct NeuronDraw {
    w: Vec<f64>,
    b: f64,
    a_tilde: f64,
}

fn draw_neuron(seed: u64, index: usize, d: usize, bias: bool) -> NeuronDraw {
    let mut rng = rng::stream(seed, domain::NETWORK, index as u64);
    let scale = 1.0 / (d as f64).sqrt();
    let w = (0..d)
        .map(|_| {
            let g: f64 = StandardNormal.sample(&mut rng);
            scale * g
        })
        .collect::<Vec<f64>>();
    let b_draw: f64 = StandardNormal.sample(&mut rng);
    let a_tilde: f64 = StandardNormal.sample(&mut rng);
    NeuronDraw {
        w,
        b: if bias { b_draw } else { 0.0 },
        a_tilde,
    }
}

impl Params {
    /// Samples a network for inputs of dimension `d`:
    /// w_k ~ N(0, I_d/d), b_k ~ N(0, 1) (or 0 without bias), a_k ~ N(0, 1/m) or ±1/√m.
    pub fn sample(d: usize, cfg: &NetworkConfig, seed: u64) -> Result<Params> {
        cfg.validate()?;
        if d == 0 {
            return Err(Error::invalid(
                "d",
                "the input dimension must be at least 1",
            ));
        }
        let m = cfg.width;
        let antisymmetric = cfg.init == Init::Antisymmetric;
        let distinct = if antisymmetric { m / 2 } else { m };
        let draws: Vec<NeuronDraw> = (0..distinct)
            .into_par_iter()
            .map(|k| draw_neuron(seed, k, d, cfg.arch.bias))
            .collect();
        let source = |k: usize| if antisymmetric { k / 2 } else { k };
        let w = Mat::from_fn(m, d, |k, j| draws[source(k)].w[j]);
        let b = Col::from_fn(m, |k| draws[source(k)].b);
        let inv_sqrt_m = 1.0 / (m as f64).sqrt();
        let a = Col::from_fn(m, |k| {
            let magnitude = match cfg.readout {
                Readout::Gaussian => draws[source(k)].a_tilde * inv_sqrt_m,
                Readout::Sign => inv_sqrt_m,
            };
            let sign_readout_negative = cfg.readout == Readout::Sign && k % 2 == 1;
            let mirrored = antisymmetric && k % 2 == 1;
            // For antisymmetric pairs the partner's readout is the negation of neuron 2j's.
            let negate = if antisymmetric {
                mirrored
            } else {
                sign_readout_negative
            };
            if negate { -magnitude } else { magnitude }
        });
        Ok(Params { w, b, a })
    }

    /// Width m.
    pub fn width(&self) -> usize {
        self.w.nrows()
    }

    /// Input dimension d.
    pub fn input_dim(&self) -> usize {
        self.w.ncols()
    }
}
