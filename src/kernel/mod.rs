//! Neural tangent kernels of the two-layer network (§3.3, §4).
//!
//! * [`closed_form`]: the infinite-width kernels Φ_γ, Σ_γ and Θ as functions of one pair of inputs.
//! * [`infinite`]: Gram matrices of those closed forms, built from one GEMM X Xᵀ and an element-wise map.
//! * [`empirical`]: the finite-width kernels Φ_m, Σ_m, Θ_m of sampled parameters, as matrix products.
//!
//! Naming follows neural-tangents: `k_train_train` is N×N over training inputs, `k_test_train` is
//! M×N with entry (i, j) = K(z_i, x_j).

pub mod closed_form;
pub mod empirical;
pub mod fastmath;
pub mod gradient;
pub mod infinite;

pub use closed_form::{PairGeometry, kernel_value, nngp_from_angle, phi_from_angle};
pub use empirical::{empirical_test_train, empirical_train_train};
pub use gradient::{kernel_gradient_direction, weighted_sum_direction};
pub use infinite::{infinite_test_train, infinite_train_train, infinite_train_train_into};

crate::named_enum! {
    /// Which kernel of the network a Gram matrix holds.
    pub enum KernelWhat {
        /// The neural tangent kernel Θ(x, z) = Φ(x, z)·(x·z + 1) [+ Σ(x, z) when the readout is trained].
        Ntk = "ntk",
        /// The derivative kernel Φ(x, z) = Σ_k a_k² φ'(u_k(x)) φ'(u_k(z)) (→ E[φ'(u)φ'(v)]).
        Phi = "phi",
        /// The activation (NNGP) kernel Σ(x, z) = (1/m) Σ_k φ(u_k(x)) φ(u_k(z)) (→ E[φ(u)φ(v)]).
        Nngp = "nngp",
    }
}

crate::named_enum! {
    /// Infinite-width closed form or the empirical kernel of a sampled finite network.
    pub enum KernelKind {
        /// m → ∞ closed forms of §4.
        Infinite = "infinite",
        /// Finite width m, from sampled parameters.
        Empirical = "empirical",
    }
}

/// Bytes of an f64 matrix with `rows × cols` entries.
pub fn matrix_bytes(rows: usize, cols: usize) -> u64 {
    (rows as u64) * (cols as u64) * 8
}

/// K(X, X) and, when test inputs are given, K(Z, X): the infinite-width closed form when `params`
/// is None, else the empirical kernel of that network.
pub fn train_and_test_grams(
    x: faer::MatRef<'_, f64>,
    z: Option<faer::MatRef<'_, f64>>,
    params: Option<&crate::model::Params>,
    arch: &crate::model::Architecture,
    what: KernelWhat,
) -> crate::Result<(faer::Mat<f64>, Option<faer::Mat<f64>>)> {
    let k_train = match params {
        Some(p) => empirical_train_train(p, x, arch, what)?,
        None => infinite_train_train(x, arch, what)?,
    };
    let k_test = z.map(|z| test_gram(z, x, params, arch, what)).transpose()?;
    Ok((k_train, k_test))
}

/// K(X, X) written into `out` (N×N): the infinite-width closed form when `params` is None, else
/// the empirical kernel of that network. `ready(c)` is called whenever the leading c columns of
/// `out` are final, with c increasing (see [`infinite_train_train_into`]), so that a caller can
/// stream them to a file.
pub fn train_gram_into(
    x: faer::MatRef<'_, f64>,
    params: Option<&crate::model::Params>,
    arch: &crate::model::Architecture,
    what: KernelWhat,
    mut out: faer::MatMut<'_, f64>,
    mut ready: impl FnMut(usize) + Send,
) -> crate::Result<()> {
    match params {
        None => infinite_train_train_into(x, arch, what, out, ready),
        Some(p) => {
            let k = empirical_train_train(p, x, arch, what)?;
            if (out.nrows(), out.ncols()) != (k.nrows(), k.ncols()) {
                return Err(crate::Error::Mismatch(format!(
                    "the train Gram matrix is {}×{}, but its destination is {}×{}",
                    k.nrows(),
                    k.ncols(),
                    out.nrows(),
                    out.ncols()
                )));
            }
            out.copy_from(&k);
            ready(k.ncols());
            Ok(())
        }
    }
}

/// K(Z, X): the infinite-width closed form when `params` is None, else the empirical kernel.
pub fn test_gram(
    z: faer::MatRef<'_, f64>,
    x: faer::MatRef<'_, f64>,
    params: Option<&crate::model::Params>,
    arch: &crate::model::Architecture,
    what: KernelWhat,
) -> crate::Result<faer::Mat<f64>> {
    match params {
        Some(p) => empirical_test_train(p, z, x, arch, what),
        None => infinite_test_train(z, x, arch, what),
    }
}
