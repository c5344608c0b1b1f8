//! # ntk-perturb
//!
//! Exact neural-tangent-kernel theory and finite-width simulation of *learning from adversarial
//! perturbations*, following Kumano, Kera and Yamasaki, "Wide Two-Layer Networks can Learn from
//! Adversarial Perturbations" (NeurIPS 2024, arXiv 2410.23677).
//!
//! # Layers
//!
//! Modules form layers; each imports only from the layers below it (a test checks this):
//!
//! 1. [`model`]: the network as vocabulary — architecture, parameters, activation, losses;
//! 2. [`kernel`] (closed-form and empirical NTKs) and [`network`] (the finite-width simulator),
//!    side by side;
//! 3. [`dynamics`]: the linearised gradient flow (identity, mse by one eigendecomposition, ODE);
//! 4. [`perturbation`]: target labels, attacks and the four perturbation directions;
//! 5. [`study`]: what combines stages — linearisation gap, theory against simulation, the
//!    parallel-perturbation study and perturbation-learning [`experiment`]s, sweeps and presets.
//!
//! At the edges, usable from every layer: [`data`] (datasets), [`io`] (tables and arrays),
//! [`plot`] (figures from series), and the utilities [`linalg`], [`memory`], [`rng`] and
//! [`error`]. The `ntk-perturb` binary's command line sits on top and is not part of the library.
//!
//! Section numbers (§) in the documentation refer to `docs/theory.md`, the mathematical reference
//! of the repository.

#![warn(missing_docs)]

pub mod choice;
pub mod data;
pub mod dynamics;
pub mod error;
pub mod io;
pub mod kernel;
pub mod linalg;
pub mod memory;
pub mod model;
pub mod network;
pub mod perturbation;
pub mod plot;
pub mod rng;
pub mod stats;
pub mod study;

pub use error::{ConfigProblem, Error, Result};
pub use study::experiment;
