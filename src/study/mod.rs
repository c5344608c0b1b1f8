//! Studies: what combines the lower layers into measurements (§5.3, §6, §7, §10.2).
//!
//! * [`linearization`]: the gap between a trained network and its linearised model along a run;
//! * [`crosscheck`]: trained networks of growing width against the linearised and infinite-width
//!   theory;
//! * [`parallel`]: the claim that perturbations are parallel to a weighted sum of training samples,
//!   as a table over widths, training times and seeds;
//! * [`experiment`]: perturbation learning end to end — one run, conditions, sweeps, presets of the
//!   paper's figures, decision maps.

/// Timings of every heavy stage against its roofline operation, for the `bench` subcommand; not
/// part of the public API.
#[doc(hidden)]
pub mod bench;
pub mod crosscheck;
pub mod experiment;
pub mod linearization;
pub mod parallel;
