//! Forward pass, exact input gradients and parameter gradients of the mean loss (§2.1, §3.1), all as
//! GEMMs over a batch.
//!
//! With pre-activations H = X Wᵀ + 1 bᵀ (N×m) and r_n = ∂loss_n/∂f_n:
//!
//! * f(X) = φ_γ(H) a;
//! * ∇_x f(x_n) = row n of G = (φ'(H) ∘ 1 aᵀ) W (N×d);
//! * ∇_W L = (1/N) (φ'(H) ∘ r aᵀ)ᵀ X, ∇_b L = its column sums, and with a trained readout
//!   (NTK parametrisation ã = √m a, §13.1) ∇_ã L = (1/(N√m)) φ_γ(H)ᵀ r.
//!
//! Internally the neurons are reordered as [0, 2, 4, …, 1, 3, 5, …] so that the mirrored pairs
//! (2j, 2j+1) of the antisymmetric initialisation (§13.1) sit in two column blocks of equal shape.
//! For an antisymmetric network every product is split into one GEMM per block: the two blocks
//! have bitwise equal weights and opposite readouts, the two GEMMs return bitwise equal (or exactly
//! negated) results, and the pair sums f_0 and ∇f_0 are exactly zero. Other networks run each
//! product as one GEMM over all neurons (one wider GEMM is faster than two half-width ones). The bias is folded into the
//! GEMM as an extra input column of ones. The GEMMs are the fixed-tile products of
//! [`crate::linalg::matmul_tiled`] and every other reduction runs in a fixed order, so all results
//! are bit-identical for any number of threads.

use faer::{Accum, Col, ColMut, Mat, MatMut, MatRef};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::linalg::{self, matmul_tiled};
use crate::memory;
use crate::model::Loss;
use crate::model::params::{Init, NetworkConfig, Params};
use crate::model::{activation, activation_derivative};

/// Rows per parallel task in row-wise reductions (fixed, so results never depend on threads).
const ROW_BLOCK: usize = 256;

/// Below this many multiply-adds per product everything runs on one thread: hand-offs would cost
/// more than they save, and on a busy machine a descheduled worker stalls every parallel region.
/// Results are the same either way.
const PAR_THRESHOLD: usize = 1 << 24;

/// Whether a product of `work` multiply-adds runs in parallel.
fn parallel_for(work: usize) -> bool {
    work >= PAR_THRESHOLD
}

/// Applies `f(j, column_j)` to every column of `m`, in parallel when `parallel`.
fn for_each_col_mut<F>(m: &mut Mat<f64>, parallel: bool, f: F)
where
    F: Fn(usize, &mut [f64]) + Sync,
{
    let body = |(j, mut col): (usize, ColMut<'_, f64>)| {
        if let Some(c) = col.as_mut().try_as_col_major_mut() {
            f(j, c.as_slice_mut());
            return;
        }
        // Columns of an owned matrix are contiguous; kept for completeness.
        let mut buf: Vec<f64> = (0..col.nrows()).map(|i| col[i]).collect();
        f(j, &mut buf);
        for (i, v) in buf.into_iter().enumerate() {
            col[i] = v;
        }
    };
    if parallel {
        m.as_mut().par_col_iter_mut().enumerate().for_each(body);
    } else {
        m.as_mut().col_iter_mut().enumerate().for_each(body);
    }
}

/// A finite-width two-layer network: its parameters and the configuration they were sampled from.
#[derive(Debug, Clone)]
pub struct Network {
    /// Current parameters (W, b, a) in the natural neuron order.
    pub params: Params,
    /// Width, architecture, readout and initialisation.
    pub config: NetworkConfig,
}

/// Gradient of the mean loss with respect to the trained parameters, in the natural neuron order.
#[derive(Debug, Clone)]
pub struct Gradient {
    /// ∇_W L (m×d); row k is ∂L/∂w_k.
    pub w: Mat<f64>,
    /// ∇_b L (m), present when the architecture has biases.
    pub b: Option<Col<f64>>,
    /// ∇_ã L (m) for the NTK-parametrised readout ã = √m a, present when the readout is trained.
    pub a_tilde: Option<Col<f64>>,
}

/// Parameters with the neurons reordered so that mirrored pairs line up (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Paired {
    /// m×(d [+1]): row p holds w_k (and b_k when the network has biases) for k = [`Paired::neuron`](p).
    pub wa: Mat<f64>,
    /// Readout a_k in the same order.
    pub a: Vec<f64>,
    /// Number of even-indexed neurons ⌈m/2⌉; rows `even..m` are the odd ones.
    pub even: usize,
    /// Input dimension d (without the column of ones).
    pub d: usize,
    /// Whether the last column of `wa` is the bias.
    pub bias: bool,
    /// Leaky-ReLU slope.
    pub gamma: f64,
    /// Whether products run as one GEMM per neuron block (antisymmetric initialisation).
    pub split: bool,
}

impl Paired {
    pub fn new(params: &Params, config: &NetworkConfig) -> Paired {
        let (m, d) = (params.width(), params.input_dim());
        let bias = config.arch.bias;
        let even = m.div_ceil(2);
        let neuron = |p: usize| neuron_index(p, even);
        let da = d + usize::from(bias);
        let wa = Mat::from_fn(m, da, |p, j| {
            let k = neuron(p);
            if j < d { params.w[(k, j)] } else { params.b[k] }
        });
        let a = (0..m).map(|p| params.a[neuron(p)]).collect();
        Paired {
            wa,
            a,
            even,
            d,
            bias,
            gamma: config.arch.gamma,
            split: config.init == Init::Antisymmetric,
        }
    }

    pub fn width(&self) -> usize {
        self.wa.nrows()
    }

    /// Natural index k of the neuron in internal position p.
    pub fn neuron(&self, p: usize) -> usize {
        neuron_index(p, self.even)
    }

    /// Copies the parameters back into `params` in the natural order.
    pub fn write_back(&self, params: &mut Params) {
        for p in 0..self.width() {
            let k = self.neuron(p);
            for j in 0..self.d {
                params.w[(k, j)] = self.wa[(p, j)];
            }
            if self.bias {
                params.b[k] = self.wa[(p, self.d)];
            }
            params.a[k] = self.a[p];
        }
    }

    /// The weights without the bias column (m×d).
    pub fn w(&self) -> MatRef<'_, f64> {
        self.wa.as_ref().subcols(0, self.d)
    }

    /// The inputs as the GEMM sees them: X, with a column of ones appended when there are biases.
    pub fn augment(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let d = self.d;
        Mat::from_fn(x.nrows(), d + usize::from(self.bias), |i, j| {
            if j < d { x[(i, j)] } else { 1.0 }
        })
    }

    /// Multiply-adds of one product over `rows` inputs, to choose the parallelism.
    fn work(&self, rows: usize) -> usize {
        rows * self.wa.nrows() * self.wa.ncols()
    }

    /// H = [X 1] [W b]ᵀ into `h` (N×m), one GEMM per neuron block when split.
    pub fn preactivations_into(&self, xa: MatRef<'_, f64>, h: &mut Mat<f64>) {
        let m = self.width();
        let par = parallel_for(self.work(xa.nrows()));
        let w = self.wa.as_ref();
        if !self.split {
            matmul_tiled(h.as_mut(), Accum::Replace, xa, w.transpose(), 1.0, par);
            return;
        }
        let (he, ho) = h.as_mut().split_at_col_mut(self.even);
        matmul_tiled(
            he,
            Accum::Replace,
            xa,
            w.subrows(0, self.even).transpose(),
            1.0,
            par,
        );
        if m > self.even {
            matmul_tiled(
                ho,
                Accum::Replace,
                xa,
                w.subrows(self.even, m - self.even).transpose(),
                1.0,
                par,
            );
        }
    }

    pub fn preactivations(&self, xa: MatRef<'_, f64>) -> Mat<f64> {
        let mut h = Mat::zeros(xa.nrows(), self.width());
        self.preactivations_into(xa, &mut h);
        h
    }

    /// f_n = Σ_j (a_j φ(H_nj) + a_j' φ(H_nj')) over the pairs (j, j') in a fixed order, plus the
    /// unpaired last neuron of an odd width.
    pub fn readout(&self, h: &Mat<f64>) -> Vec<f64> {
        let n = h.nrows();
        let m = self.width();
        let (even, odd) = (self.even, m - self.even);
        let (a, gamma) = (&self.a, self.gamma);
        let mut out = vec![0.0; n];
        let body = |(block, chunk): (usize, &mut [f64])| {
            linalg::vectorized(
                #[inline(always)]
                || {
                    let r0 = block * ROW_BLOCK;
                    let rows = r0..r0 + chunk.len();
                    for j in 0..odd {
                        let ce = &h.col_as_slice(j)[rows.clone()];
                        let co = &h.col_as_slice(even + j)[rows.clone()];
                        let (ae, ao) = (a[j], a[even + j]);
                        for ((o, &ue), &uo) in chunk.iter_mut().zip(ce).zip(co) {
                            *o += ae * activation(ue, gamma) + ao * activation(uo, gamma);
                        }
                    }
                    if even > odd {
                        let c = &h.col_as_slice(even - 1)[rows];
                        let ae = a[even - 1];
                        for (o, &u) in chunk.iter_mut().zip(c) {
                            *o += ae * activation(u, gamma);
                        }
                    }
                },
            )
        };
        if n * m < PAR_THRESHOLD / 64 {
            out.chunks_mut(ROW_BLOCK).enumerate().for_each(body);
        } else {
            out.par_chunks_mut(ROW_BLOCK).enumerate().for_each(body);
        }
        out
    }

    /// G = (φ'(H) ∘ 1 aᵀ) W (N×d), as the sum of one GEMM per neuron block when split.
    pub fn input_gradients(&self, h: &Mat<f64>) -> Mat<f64> {
        let (n, m) = (h.nrows(), self.width());
        let (a, gamma) = (&self.a, self.gamma);
        let par = parallel_for(self.work(n));
        let mut dm = h.clone();
        for_each_col_mut(&mut dm, par, |p, col| {
            for u in col {
                *u = activation_derivative(*u, gamma) * a[p];
            }
        });
        let w = self.w();
        let mut g = Mat::zeros(n, self.d);
        if !self.split {
            matmul_tiled(g.as_mut(), Accum::Replace, dm.as_ref(), w, 1.0, par);
            return g;
        }
        matmul_tiled(
            g.as_mut(),
            Accum::Replace,
            dm.as_ref().subcols(0, self.even),
            w.subrows(0, self.even),
            1.0,
            par,
        );
        if m > self.even {
            let odd = m - self.even;
            let mut go = Mat::zeros(n, self.d);
            matmul_tiled(
                go.as_mut(),
                Accum::Replace,
                dm.as_ref().subcols(self.even, odd),
                w.subrows(self.even, odd),
                1.0,
                par,
            );
            linalg::map_entries(g.as_mut(), false, |i, j, v| v + go[(i, j)]);
        }
        g
    }

    /// Gradient of the mean loss given H and the scaled residuals `r_n = (1/N) ∂loss_n/∂f_n`.
    /// Writes ∇[W b] (m×(d [+1])) into `gwa` using `scratch` (N×m) and returns ∇ã when asked.
    pub fn loss_gradient_into(
        &self,
        h: &Mat<f64>,
        xa: MatRef<'_, f64>,
        r: &[f64],
        train_readout: bool,
        scratch: &mut Mat<f64>,
        gwa: MatMut<'_, f64>,
    ) -> Option<Vec<f64>> {
        let (a, gamma) = (&self.a, self.gamma);
        let par = parallel_for(self.work(h.nrows()));
        for_each_col_mut(scratch, par, |p, col| {
            let hp = h.col_as_slice(p);
            let ap = a[p];
            linalg::vectorized(
                #[inline(always)]
                || {
                    for ((s, &u), &ri) in col.iter_mut().zip(hp).zip(r) {
                        *s = activation_derivative(u, gamma) * (ri * ap);
                    }
                },
            )
        });
        matmul_tiled(
            gwa,
            Accum::Replace,
            scratch.as_ref().transpose(),
            xa,
            1.0,
            par,
        );
        train_readout.then(|| {
            let inv_sqrt_m = 1.0 / (self.width() as f64).sqrt();
            let column = |p: usize| {
                let mut s = 0.0;
                for (&u, &ri) in h.col_as_slice(p).iter().zip(r) {
                    s += ri * activation(u, gamma);
                }
                s * inv_sqrt_m
            };
            if !par {
                (0..self.width()).map(column).collect()
            } else {
                (0..self.width()).into_par_iter().map(column).collect()
            }
        })
    }
}

fn neuron_index(p: usize, even: usize) -> usize {
    if p < even { 2 * p } else { 2 * (p - even) + 1 }
}

/// Checks that `x` has the network's input dimension and at least one row.
pub(crate) fn check_inputs(params: &Params, x: MatRef<'_, f64>, what: &str) -> Result<()> {
    if x.ncols() != params.input_dim() {
        return Err(Error::Mismatch(format!(
            "the network takes inputs of dimension {} but the {what} have dimension {}",
            params.input_dim(),
            x.ncols()
        )));
    }
    if x.nrows() == 0 {
        return Err(Error::Mismatch(format!("the {what} have no rows")));
    }
    Ok(())
}

/// Checks that there is one finite label per input row.
pub(crate) fn check_labels(x: MatRef<'_, f64>, y: &[f64], what: &str) -> Result<()> {
    if y.len() != x.nrows() {
        return Err(Error::Mismatch(format!(
            "the {what} have {} inputs but {} labels",
            x.nrows(),
            y.len()
        )));
    }
    if let Some(n) = y.iter().position(|v| !v.is_finite()) {
        return Err(Error::Mismatch(format!(
            "label {} of the {what} is not finite",
            n + 1
        )));
    }
    Ok(())
}

/// Bytes of pre-activations and their scratch copy for `rows` inputs.
pub(crate) fn batch_bytes(rows: usize, width: usize, dim: usize) -> u64 {
    let f = 8u64;
    f * (rows as u64) * (2 * width as u64 + dim as u64 + 1)
}

impl Network {
    /// Samples a network for inputs of dimension `d` (§2.1, §13.1).
    pub fn new(d: usize, config: NetworkConfig, seed: u64) -> Result<Network> {
        let params = Params::sample(d, &config, seed)?;
        Ok(Network { params, config })
    }

    /// Input dimension d.
    pub fn input_dim(&self) -> usize {
        self.params.input_dim()
    }

    fn paired(&self) -> Paired {
        Paired::new(&self.params, &self.config)
    }

    fn pre(&self, x: MatRef<'_, f64>, what: &str) -> Result<(Paired, Mat<f64>)> {
        check_inputs(&self.params, x, what)?;
        memory::ensure_fits(
            "the network's pre-activations",
            batch_bytes(x.nrows(), self.params.width(), x.ncols()),
        )?;
        let p = self.paired();
        let xa = p.augment(x);
        let h = p.preactivations(xa.as_ref());
        Ok((p, h))
    }

    /// Outputs f(x_n) for the rows of `x` (N×d).
    pub fn forward(&self, x: MatRef<'_, f64>) -> Result<Vec<f64>> {
        let (p, h) = self.pre(x, "inputs")?;
        Ok(p.readout(&h))
    }

    /// Exact input gradients: row n is ∇_x f(x_n) = Σ_k a_k φ'(u_k(x_n)) w_k (N×d, §13.3 `net`).
    pub fn input_gradients(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let (p, h) = self.pre(x, "inputs")?;
        Ok(p.input_gradients(&h))
    }

    /// Gradient of the mean loss L = (1/N) Σ_n loss(f(x_n), y_n) with respect to the trained
    /// parameters (W, and b / ã when the architecture trains them).
    pub fn loss_gradient(&self, x: MatRef<'_, f64>, y: &[f64], loss: Loss) -> Result<Gradient> {
        check_labels(x, y, "inputs")?;
        let (p, h) = self.pre(x, "inputs")?;
        let f = p.readout(&h);
        let inv_n = 1.0 / x.nrows() as f64;
        let r: Vec<f64> = f
            .iter()
            .zip(y)
            .map(|(&fi, &yi)| loss.derivative(fi, yi) * inv_n)
            .collect();
        let xa = p.augment(x);
        let (m, d) = (p.width(), p.d);
        let mut scratch = Mat::zeros(x.nrows(), m);
        let mut gwa = Mat::zeros(m, p.wa.ncols());
        let ga = p.loss_gradient_into(
            &h,
            xa.as_ref(),
            &r,
            self.config.arch.train_readout,
            &mut scratch,
            gwa.as_mut(),
        );
        let mut w = Mat::zeros(m, d);
        let mut b = p.bias.then(|| Col::zeros(m));
        let mut a_tilde = ga.as_ref().map(|_| Col::zeros(m));
        for q in 0..m {
            let k = p.neuron(q);
            for j in 0..d {
                w[(k, j)] = gwa[(q, j)];
            }
            if let Some(b) = b.as_mut() {
                b[k] = gwa[(q, d)];
            }
            if let (Some(at), Some(g)) = (a_tilde.as_mut(), ga.as_ref()) {
                at[k] = g[q];
            }
        }
        Ok(Gradient { w, b, a_tilde })
    }
}
