//! The finite-width simulator (§2.1, §3.2): the network of [`crate::model`] evaluated and trained.
//!
//! [`forward`] evaluates outputs, input gradients and loss gradients of a [`Network`] as GEMMs;
//! [`train`] runs full-batch gradient descent with optional momentum on one of the losses of
//! §13.1. The same sampled parameters define the empirical kernels of [`crate::kernel`], which sits
//! beside this module on the same layer; studies that compare the two live in [`crate::study`].

pub mod forward;
pub mod train;

pub use forward::{Gradient, Network};
pub use train::{TrainOptions, TrajectoryPoint};
