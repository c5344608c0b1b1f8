//! Empirical (finite-width) kernels of sampled parameters (§3.3).
//!
//! With pre-activations H = X Wᵀ + 1 bᵀ (N×m):
//!
//! * Φ_m(x, z) = Σ_k a_k² φ'(u_k(x)) φ'(u_k(z)) = (D Dᵀ)(x, z) with D = φ'(H) diag(|a|);
//! * Σ_m(x, z) = (1/m) Σ_k φ(u_k(x)) φ(u_k(z)) = (A Aᵀ)(x, z) with A = φ(H)/√m;
//! * Θ_m = Φ_m ∘ (X Xᵀ + 1) [+ Σ_m when the readout is trained, NTK parametrisation ã = √m a].
//!
//! Θ_m(x, z) is exactly ⟨∇_θ f(x), ∇_θ f(z)⟩ over the trained parameters (W, b [, ã]).
//! Every sum over neurons is a GEMM; nothing loops over pairs and neurons.

use faer::{Mat, MatRef};

use super::KernelWhat;
use super::infinite::check_dims;
use crate::error::{Error, Result};
use crate::linalg;
use crate::memory;
use crate::model::{Params, activation, activation_derivative};

/// Per-input feature matrices whose row inner products give the empirical kernels.
struct Features {
    /// D = φ'(H) diag(|a|), N×m.
    derivative: Mat<f64>,
    /// A = φ(H)/√m, N×m (only when needed).
    activation: Option<Mat<f64>>,
}

/// Pre-activations H = X Wᵀ + 1 bᵀ (N×m).
pub fn preactivations(params: &Params, x: MatRef<'_, f64>) -> Mat<f64> {
    let mut h = linalg::cross_product(x, params.w.as_ref(), 1.0);
    let b = params.b.as_ref();
    linalg::map_entries(h.as_mut(), false, |_, k, v| v + b[k]);
    h
}

fn features(params: &Params, x: MatRef<'_, f64>, gamma: f64, need_activation: bool) -> Features {
    // X Wᵀ without the bias: the bias is added inside the element-wise maps (one pass fewer).
    let xw = linalg::cross_product(x, params.w.as_ref(), 1.0);
    let (a, b) = (params.a.as_ref(), params.b.as_ref());
    // A copy of X Wᵀ only when both maps need it.
    let activation = need_activation.then(|| {
        let inv_sqrt_m = 1.0 / (params.width() as f64).sqrt();
        let mut act = xw.clone();
        linalg::map_entries(act.as_mut(), false, |_, k, v| {
            activation(v + b[k], gamma) * inv_sqrt_m
        });
        act
    });
    let mut derivative = xw;
    linalg::map_entries(derivative.as_mut(), false, |_, k, v| {
        activation_derivative(v + b[k], gamma) * a[k].abs()
    });
    Features {
        derivative,
        activation,
    }
}

fn needs_activation(what: KernelWhat, train_readout: bool) -> bool {
    match what {
        KernelWhat::Phi => false,
        KernelWhat::Nngp => true,
        KernelWhat::Ntk => train_readout,
    }
}

fn check_params(params: &Params, x: MatRef<'_, f64>) -> Result<()> {
    if params.input_dim() != x.ncols() {
        return Err(Error::Mismatch(format!(
            "the network takes inputs of dimension {} but the data have dimension {}",
            params.input_dim(),
            x.ncols()
        )));
    }
    Ok(())
}

/// Peak bytes of the feature matrices for `rows` inputs (pre-activations, D and A).
fn feature_bytes(rows: usize, width: usize) -> u64 {
    3 * super::matrix_bytes(rows, width)
}

/// Empirical K(X, X) of the network `params` (N×N, symmetric, computed from one triangle).
/// `gamma`, `bias` and `train_readout` come from the network's architecture.
pub fn empirical_train_train(
    params: &Params,
    x: MatRef<'_, f64>,
    arch: &crate::model::Architecture,
    what: KernelWhat,
) -> Result<Mat<f64>> {
    arch.validate()?;
    check_params(params, x)?;
    let n = x.nrows();
    memory::ensure_fits(
        "the empirical train Gram matrix and its features",
        2 * super::matrix_bytes(n, n) + feature_bytes(n, params.width()),
    )?;
    let f = features(
        params,
        x,
        arch.gamma,
        needs_activation(what, arch.train_readout),
    );
    let mut k = match what {
        KernelWhat::Nngp => {
            let a = f.activation.as_ref().unwrap_or(&f.derivative);
            linalg::lower_product(a.as_ref(), a.as_ref(), 1.0)
        }
        KernelWhat::Phi | KernelWhat::Ntk => {
            linalg::lower_product(f.derivative.as_ref(), f.derivative.as_ref(), 1.0)
        }
    };
    if what == KernelWhat::Ntk {
        let dots = linalg::lower_product(x, x, 1.0);
        let offset = if arch.bias { 1.0 } else { 0.0 };
        linalg::zip_map(k.as_mut(), dots.as_ref(), true, |phi, dot| {
            phi * (dot + offset)
        });
        if let Some(a) = &f.activation {
            let sigma = linalg::lower_product(a.as_ref(), a.as_ref(), 1.0);
            linalg::zip_map(k.as_mut(), sigma.as_ref(), true, |v, s| v + s);
        }
    }
    linalg::mirror_lower(k.as_mut());
    Ok(k)
}

/// Empirical K(Z, X) of the network `params` for test rows `z` against training rows `x` (M×N).
pub fn empirical_test_train(
    params: &Params,
    z: MatRef<'_, f64>,
    x: MatRef<'_, f64>,
    arch: &crate::model::Architecture,
    what: KernelWhat,
) -> Result<Mat<f64>> {
    arch.validate()?;
    check_dims(z, x)?;
    check_params(params, x)?;
    let (mt, n) = (z.nrows(), x.nrows());
    memory::ensure_fits(
        "the empirical test-train Gram matrix and its features",
        2 * super::matrix_bytes(mt, n) + feature_bytes(mt + n, params.width()),
    )?;
    let need_act = needs_activation(what, arch.train_readout);
    let fz = features(params, z, arch.gamma, need_act);
    let fx = features(params, x, arch.gamma, need_act);
    let mut k = match (what, &fz.activation, &fx.activation) {
        (KernelWhat::Nngp, Some(az), Some(ax)) => {
            linalg::cross_product(az.as_ref(), ax.as_ref(), 1.0)
        }
        _ => linalg::cross_product(fz.derivative.as_ref(), fx.derivative.as_ref(), 1.0),
    };
    if what == KernelWhat::Ntk {
        let dots = linalg::cross_product(z, x, 1.0);
        let offset = if arch.bias { 1.0 } else { 0.0 };
        linalg::zip_map(k.as_mut(), dots.as_ref(), false, |phi, dot| {
            phi * (dot + offset)
        });
        if let (Some(az), Some(ax)) = (&fz.activation, &fx.activation) {
            let sigma = linalg::cross_product(az.as_ref(), ax.as_ref(), 1.0);
            linalg::zip_map(k.as_mut(), sigma.as_ref(), false, |v, s| v + s);
        }
    }
    Ok(k)
}
