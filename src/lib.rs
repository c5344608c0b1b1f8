//! # ntk-perturb
//!
//! Exact neural-tangent-kernel theory and finite-width simulation of *learning from adversarial
//! perturbations*, following Kumano, Kera and Yamasaki, "Wide Two-Layer Networks can Learn from
//! Adversarial Perturbations" (NeurIPS 2024, arXiv 2410.23677).
//!
//! The modules follow the data flow of the pipeline:
//! [`data`] → [`kernel`] → [`dynamics`] → [`perturbation`] → [`experiment`], with the finite-width
//! [`network`] simulator beside it, [`io`] for tables and arrays, and [`cli`] as a thin command layer.
//! Section numbers (§) in the documentation refer to the project's mathematical specification.

pub mod bench;
pub mod cli;
pub mod data;
pub mod dynamics;
pub mod error;
pub mod experiment;
pub mod io;
pub mod kernel;
pub mod linalg;
pub mod memory;
pub mod network;
pub mod perturbation;
pub mod plot;
pub mod rng;
pub mod stats;

pub use error::{ConfigProblem, Error, Result};
