//! The linearised flow of a dataset, end to end (§3.3, §13.2): the kernel of the training inputs
//! (infinite-width closed form or the empirical kernel of a sampled network), the initial outputs
//! f_0, one [`LinearizedFlow`] (one eigendecomposition for mse) and its outputs at every requested
//! time on the training and test inputs,
//!
//! f_t(z) = f_0(z) + Σ_n α_n(t) K(x_n, z).
//!
//! ```no_run
//! use ntk_perturb::data::Dataset;
//! use ntk_perturb::dynamics::{FlowSpec, flow_of_dataset};
//! use ntk_perturb::model::Loss;
//! # fn demo(train: &Dataset, test: &Dataset) -> ntk_perturb::Result<()> {
//! let spec = FlowSpec { loss: Loss::Mse, times: vec![0.0, 10.0, f64::INFINITY], ..FlowSpec::default() };
//! let run = flow_of_dataset(train, Some(test), &spec)?;
//! println!("test outputs at t = 10: {:?}", run.test_outputs_at(1));
//! # Ok(()) }
//! ```

use faer::{Mat, MatRef};

use super::{LinearizedFlow, OdeOptions, memory_bytes};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernel::{self, KernelKind, KernelWhat};
use crate::memory;
use crate::model::{Loss, NetworkConfig};
use crate::network::Network;

crate::named_enum! {
    /// Where the initial outputs f_0 come from.
    pub enum InitialOutputs {
        /// The sampled network of width `width` (the authors' setting, §13.1).
        Network = "network",
        /// f_0 ≡ 0 (what the antisymmetric initialisation gives exactly).
        Zero = "zero",
    }
}

/// What to compute: loss, times, kernel and the network that supplies f_0 (and the empirical
/// kernel).
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSpec {
    /// Training loss (empirical risk = mean over the samples).
    pub loss: Loss,
    /// Non-negative, non-decreasing times; t = ∞ for mse only.
    pub times: Vec<f64>,
    /// Infinite-width closed form or the empirical kernel of the sampled network.
    pub kernel: KernelKind,
    /// Which kernel drives the flow (the NTK Θ unless Φ or Σ are studied on their own).
    pub what: KernelWhat,
    /// The sampled network: width, architecture and initialisation.
    pub network: NetworkConfig,
    /// Seed of the sampled network.
    pub seed: u64,
    /// Initial outputs f_0.
    pub f0: InitialOutputs,
    /// Tolerances of the ODE integrator (logistic, exponential).
    pub ode: OdeOptions,
}

impl Default for FlowSpec {
    fn default() -> Self {
        FlowSpec {
            loss: Loss::Identity,
            times: vec![0.0, 1.0, 10.0, 100.0, 1000.0],
            kernel: KernelKind::Infinite,
            what: KernelWhat::Ntk,
            network: NetworkConfig::default(),
            seed: 0,
            f0: InitialOutputs::Network,
            ode: OdeOptions::default(),
        }
    }
}

/// The flow of a dataset at every requested time.
#[derive(Debug, Clone)]
pub struct FlowRun {
    /// The times, as requested.
    pub times: Vec<f64>,
    /// α(t_j) in column j (N×T).
    pub coefficients: Mat<f64>,
    /// f_{t_j}(x_n) on the training inputs (N×T).
    pub train_outputs: Mat<f64>,
    /// f_{t_j}(z_i) on the test inputs (M×T), when a test set was given.
    pub test_outputs: Option<Mat<f64>>,
    /// Ascending eigenvalues of the train Gram matrix (mse only).
    pub eigenvalues: Option<Vec<f64>>,
    /// Eigenvalues treated as zero (mse only, §8.4); 0 otherwise.
    pub zero_eigenvalues: usize,
}

impl FlowRun {
    /// Training outputs at time index `j`.
    pub fn train_outputs_at(&self, j: usize) -> Vec<f64> {
        column(self.train_outputs.as_ref(), j)
    }

    /// Test outputs at time index `j`, when a test set was given.
    pub fn test_outputs_at(&self, j: usize) -> Option<Vec<f64>> {
        self.test_outputs.as_ref().map(|m| column(m.as_ref(), j))
    }

    /// Whether the train Gram matrix was numerically singular (mse).
    pub fn singular(&self) -> bool {
        self.zero_eigenvalues > 0
    }
}

fn column(m: MatRef<'_, f64>, j: usize) -> Vec<f64> {
    (0..m.nrows()).map(|i| m[(i, j)]).collect()
}

impl FlowSpec {
    /// Checks the specification: ODE tolerances for logistic/exponential, t = ∞ for mse only, a
    /// valid architecture, and a valid network when one is sampled.
    pub fn validate(&self) -> Result<()> {
        if matches!(self.loss, Loss::Logistic | Loss::Exponential) {
            self.ode.validate()?;
        }
        if self.loss != Loss::Mse
            && let Some(t) = self.times.iter().find(|t| t.is_infinite())
        {
            return Err(Error::invalid(
                "times",
                format!("t = {t} is only defined for `loss` = mse"),
            ));
        }
        self.network.arch.validate()?;
        if needs_network(self) {
            self.network.validate()?;
        }
        Ok(())
    }
}

fn needs_network(spec: &FlowSpec) -> bool {
    spec.kernel == KernelKind::Empirical || spec.f0 == InitialOutputs::Network
}

/// The linearised flow of `train` at `spec.times`, with test outputs when `test` is given.
/// Refuses, before building anything, a problem whose Gram matrices and solver would not fit in
/// memory.
pub fn flow_of_dataset(
    train: &Dataset,
    test: Option<&Dataset>,
    spec: &FlowSpec,
) -> Result<FlowRun> {
    spec.validate()?;
    memory::ensure_fits(
        "the training dynamics (Gram matrices and their solver)",
        memory_bytes(train.n(), test.map_or(0, |t| t.n()), spec.loss),
    )?;
    let net = if needs_network(spec) {
        Some(Network::new(train.d(), spec.network, spec.seed)?)
    } else {
        None
    };
    let empirical = match (spec.kernel, &net) {
        (KernelKind::Empirical, Some(net)) => Some(&net.params),
        _ => None,
    };
    let (k_train, k_test) = kernel::train_and_test_grams(
        train.x.as_ref(),
        test.map(|t| t.x.as_ref()),
        empirical,
        &spec.network.arch,
        spec.what,
    )?;
    let f0_of = |x: MatRef<'_, f64>| match &net {
        Some(net) if spec.f0 == InitialOutputs::Network => net.forward(x),
        _ => Ok(vec![0.0; x.nrows()]),
    };
    let f0_train = f0_of(train.x.as_ref())?;
    let flow = LinearizedFlow::from_gram(k_train, &train.y, &f0_train, spec.loss, spec.ode)?;
    let sol = flow.solve(&spec.times)?;
    let test_outputs = match (test, &k_test) {
        (Some(t), Some(kt)) => Some(LinearizedFlow::predict_many(
            kt.as_ref(),
            &f0_of(t.x.as_ref())?,
            sol.coefficients.as_ref(),
        )),
        _ => None,
    };
    Ok(FlowRun {
        times: spec.times.clone(),
        coefficients: sol.coefficients,
        train_outputs: sol.train_outputs,
        test_outputs,
        eigenvalues: flow.spectrum().map(|s| s.eigenvalues().to_vec()),
        zero_eigenvalues: sol.dropped,
    })
}
