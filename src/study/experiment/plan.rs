//! Know before you run: what a preset (or any set of sweeps) will compute, how long it will take on
//! this machine and how much memory its largest cell needs, without running it.
//!
//! **Counts.** A panel's cells are its sweep's cells ([`super::reproduce::panel_spec`]); the sweep
//! computes one first stage (data and f) per [`first_stage_key`] and one second stage (targets,
//! perturbations and g) per [`run_key`] ([`super::sweep`]). So a network panel trains f once per
//! first-stage group and g once per distinct run, and the theory is evaluated once per distinct
//! run (its width panel once per seed).
//!
//! **Time.** Every stage is counted in machine-independent work ([`Work`]): multiply-adds of the
//! network's GEMMs, entries of its elementwise passes, multiply-adds of the kernels' products,
//! closed-form kernel entries, N³ of eigendecompositions, normal draws and data-file loads,
//! following the code of [`super::pipeline`] and [`super::conditions`] step by step. A
//! [`Calibration`] times a few GD steps, two small kernel blocks, a few normal draws (and a small
//! eigendecomposition when a run needs one) on one thread at the plan's sizes, fits seconds per unit
//! of each kind and loads each data file once, and runs one small run of each model (N = 300, on
//! subsets of the same files for file data) for the factors of its stages; the estimate is work × seconds per unit, summed.
//! The timings are scaled by the share of a core the calibration got (its process CPU time over its
//! wall time), so a machine busy with other work is calibrated by CPU time, not by waiting time.
//! The estimate is CPU time on one core; the wall time on T threads is taken as CPU / T (every
//! sweep runs its cells in parallel), which holds on a machine whose T cores are free.
//!
//! **Memory.** [`run_peak_bytes`] is the peak of one run: its data, what its stages keep, and the
//! largest of the matrices one step allocates at a time (the N×N kernels, the network's batch,
//! the M×N test kernels), with the same per-matrix models the stages check before allocating
//! ([`crate::kernel::matrix_bytes`], [`crate::dynamics::memory_bytes`], the network's
//! training model).
//!
//! **Shards.** [`Plan::shards_for`] finds the smallest n such that every shard `k/n` of the run
//! (cells with cell % n = k of every panel) fits a target wall time, counting the first stages each
//! shard repeats (a shard recomputes f for every group it touches).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::config::{DatasetKind, Model, RunConfig, Scenario};
use super::maps::MapPanel;
use super::pipeline::{first_stage_key, run_key};
use super::presets::Preset;
use super::reproduce::{ReproduceOptions, panel_spec};
use super::sweep::{Shard, Sweep};
use crate::data;
use crate::error::{Error, Result};
use crate::kernel::{KernelWhat, infinite_test_train, matrix_bytes};
use crate::model::{Architecture, Init, Loss, NetworkConfig, Readout};
use crate::network::{Network, TrainOptions};

/// The sizes and settings of one run that its cost depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunShape {
    /// Training samples N.
    pub n: usize,
    /// Test samples M.
    pub n_test: usize,
    /// Input dimension d.
    pub d: usize,
    /// Width m of the network (unused by the theory).
    pub width: usize,
    /// Gradient-descent steps of f.
    pub steps_f: usize,
    /// Gradient-descent steps of g.
    pub steps_g: usize,
    /// Network or theory.
    pub model: Model,
    /// The loss (mse adds an eigendecomposition per training).
    pub loss: Loss,
    /// Scenario (b) adds one M×N product to g_main.
    pub scenario: Scenario,
    /// Steps of the attack (more than one: the projected attack, one gradient per step).
    pub attack_steps: usize,
    /// Whether g_main is computed ([`super::conditions::main_term_g_defined`]).
    pub g_main: bool,
    /// Whether the data are synthetic (drawn) rather than read from files.
    pub synthetic: bool,
}

/// Machine-independent work of a stage; [`Calibration::seconds`] turns it into CPU seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Work {
    /// Floating-point operations (2 per multiply-add) of the network's GEMMs.
    pub net_flops: f64,
    /// Entries of the network's N×m elementwise passes (readout, φ', update).
    pub net_entries: f64,
    /// Floating-point operations of the kernels' products and the GEMMs with kernel matrices.
    pub kernel_flops: f64,
    /// Entries of closed-form kernel matrices (the per-pair angle map).
    pub kernel_pairs: f64,
    /// Σ N³ over eigendecompositions (mse flows).
    pub evd_cubes: f64,
    /// Standard-normal draws (synthetic data and initialisations).
    pub draws: f64,
}

impl Work {
    /// A closed-form kernel block of `rows × cols` entries in dimension `d` (cross product and map).
    fn kernel_block(&mut self, rows: usize, cols: usize, d: usize) {
        let (r, c) = (rows as f64, cols as f64);
        self.kernel_flops += 2.0 * r * c * d as f64;
        self.kernel_pairs += r * c;
    }

    /// The symmetric train Gram K(X, X): its lower triangle only.
    fn gram(&mut self, n: usize, d: usize) {
        let n = n as f64;
        self.kernel_flops += n * n * d as f64;
        self.kernel_pairs += n * n / 2.0;
    }

    /// A plain product of an `a × b` and a `b × c` matrix.
    fn gemm(&mut self, a: usize, b: usize, c: usize) {
        self.kernel_flops += 2.0 * a as f64 * b as f64 * c as f64;
    }

    /// The network's outputs at `rows` inputs: one product with W and the readout.
    fn forward(&mut self, rows: usize, m: usize, d: usize) {
        self.net_flops += 2.0 * rows as f64 * m as f64 * (d + 1) as f64;
        self.net_entries += rows as f64 * m as f64;
    }

    /// The network's input gradients at `rows` inputs: a forward pass and one product with W.
    fn input_gradients(&mut self, rows: usize, m: usize, d: usize) {
        self.forward(rows, m, d);
        self.forward(rows, m, d);
    }

    /// `steps` full-batch steps on `n` inputs ([`Network::train`]): steps + 1 forward passes and
    /// `steps` weight gradients, plus the initial draw of W.
    fn training(&mut self, steps: usize, n: usize, m: usize, d: usize) {
        self.draws += m as f64 * (d + 1) as f64;
        for _ in 0..2 {
            self.forward(n, m, d);
        }
        let s = steps as f64;
        let per_step = 4.0 * n as f64 * m as f64 * (d + 1) as f64;
        self.net_flops += s * per_step;
        self.net_entries += s * 2.0 * n as f64 * m as f64;
    }

    /// The coefficients of the infinite-width linearised flow (`flow_coefficients` of the
    /// pipeline): the train Gram, plus an eigendecomposition for mse.
    fn flow(&mut self, n: usize, d: usize, loss: Loss) {
        // The identity loss needs no kernel: α(t) = (t/N)·Y (§13.2).
        if loss == Loss::Identity {
            return;
        }
        self.gram(n, d);
        if loss == Loss::Mse {
            self.evd_cubes += (n as f64).powi(3);
            self.gemm(n, n, 2);
        }
    }

    /// The theory's input gradients at `rows` points against `n` training inputs
    /// ([`crate::kernel::kernel_gradient_direction`]): inner products, two per-pair coefficient
    /// maps, the weighted sum and one more product with X.
    fn kernel_gradients(&mut self, rows: usize, n: usize, d: usize) {
        self.gemm(rows, d, n);
        self.kernel_pairs += 2.0 * rows as f64 * n as f64;
        self.weighted_sum(rows, n, d);
        self.gemm(rows, n, d);
    }

    /// Σ_n α_n Φ_γ(x_n, z) x_n at `rows` points ([`crate::kernel::weighted_sum_direction`]).
    fn weighted_sum(&mut self, rows: usize, n: usize, d: usize) {
        self.kernel_block(rows, n, d);
        self.gemm(rows, n, d);
    }
}

/// Work of a run's first stage ([`super::pipeline::first_stage`]): the data, f, its outputs and
/// input gradients, the direction Σ_k y_k Φ_γ(x_k, x_n) x_k, f_main and f̂. File data are counted
/// apart (one load per first stage, [`Plan::data`]).
pub fn first_stage_work(s: &RunShape) -> Work {
    let (n, mt, d, m) = (s.n, s.n_test, s.d, s.width);
    let mut w = Work::default();
    if s.synthetic {
        w.draws += ((n + mt) * d) as f64;
    }
    match s.model {
        Model::Network => {
            w.training(s.steps_f, n, m, d);
            w.flow(n, d, s.loss);
            w.input_gradients(n, m, d);
            w.forward(n, m, d);
            w.forward(mt, m, d);
        }
        Model::Theory => {
            w.flow(n, d, s.loss);
            w.kernel_gradients(n, n, d);
            w.kernel_block(n, n, d);
            w.kernel_block(mt, n, d);
        }
    }
    // The direction, f_main = Θ(Z, X) α and f̂ (Φ(Z, X) and Z Xᵀ).
    w.weighted_sum(n, n, d);
    w.kernel_block(mt, n, d);
    w.kernel_block(mt, n, d);
    w.gemm(mt, d, n);
    w
}

/// Work of a run's second stage ([`super::pipeline::run_from`]): the attack, g, its outputs, g_main
/// (when defined) and ĝ.
pub fn second_stage_work(s: &RunShape) -> Work {
    let (n, mt, d, m) = (s.n, s.n_test, s.d, s.width);
    let mut w = Work::default();
    if s.attack_steps > 1 {
        for _ in 0..s.attack_steps {
            match s.model {
                Model::Network => w.input_gradients(n, m, d),
                Model::Theory => w.kernel_gradients(n, n, d),
            }
        }
    }
    match s.model {
        Model::Network => {
            w.training(s.steps_g, n, m, d);
            w.flow(n, d, s.loss);
            w.forward(n, m, d);
            w.forward(mt, m, d);
        }
        Model::Theory => {
            w.flow(n, d, s.loss);
            w.kernel_block(n, n, d);
            w.kernel_block(mt, n, d);
        }
    }
    if s.g_main {
        // Φ(Z, R), s_n = Σ_k α^f_k Φ(x_k, x_n) x_k, and Z sᵀ (+ Z Xᵀ in scenario b).
        w.kernel_block(mt, n, d);
        w.weighted_sum(n, n, d);
        w.gemm(mt, d, n);
        if s.scenario == Scenario::B {
            w.gemm(mt, d, n);
        }
    }
    // ĝ: Φ(Z, R) and Z Dᵀ.
    w.kernel_block(mt, n, d);
    w.gemm(mt, d, n);
    w
}

/// Work of one decision map beyond its run ([`super::maps::run_map`]): f and g on the `points`
/// grid inputs, f̂ and ĝ there.
pub fn map_grid_work(s: &RunShape, points: usize) -> Work {
    let (n, d, m) = (s.n, s.d, s.width);
    let mut w = Work::default();
    w.forward(points, m, d);
    w.forward(points, m, d);
    // f̂: Φ(G, X) and G Xᵀ; ĝ: the direction, Φ(G, R) and G Dᵀ.
    w.kernel_block(points, n, d);
    w.gemm(points, d, n);
    w.weighted_sum(n, n, d);
    w.kernel_block(points, n, d);
    w.gemm(points, d, n);
    w
}

/// Peak bytes of one run of shape `s`: its data (X, Z), what its two stages keep (∇f at X, the
/// direction, η, r and the theory's copies of X and R: up to six N×d matrices), and the largest
/// transient allocation of any step: the flow's Gram and its solver ([`crate::dynamics::memory_bytes`]
/// plus the flow's own copy of K), the theory's gradient (three N×N matrices at once), the network's
/// training ([`Network::train`]'s model: two N×m batches, X with a column of ones, the initial
/// activation patterns and five m×(d+1) parameter-sized matrices), or the M×N test kernels (three at
/// once in g_main), plus the packing buffers of the products on `threads` threads
/// ([`product_workspace_bytes`]).
pub fn run_peak_bytes(s: &RunShape, threads: usize) -> u64 {
    let (n, mt, d, m) = (s.n, s.n_test, s.d, s.width);
    let b = matrix_bytes;
    let data = b(n, d) + b(mt, d);
    let kept = 6 * b(n, d);
    let flow = crate::dynamics::memory_bytes(n, 0, s.loss) + b(n, n);
    let theory_gradient = 3 * b(n, n) + 3 * b(n, d);
    let direction = b(n, n) + b(n, d);
    let test_kernels = 3 * b(mt, n) + b(n, d);
    let training = match s.model {
        Model::Network => {
            8 * (n as u64) * (2 * m as u64 + d as u64 + 1)
                + (n * m) as u64
                + 5 * 8 * (m as u64) * (d as u64 + 1)
        }
        Model::Theory => 0,
    };
    let gradient = match s.model {
        Model::Network => 0,
        Model::Theory => theory_gradient,
    };
    let transient = [flow, gradient, direction, test_kernels, training]
        .into_iter()
        .max()
        .unwrap_or(0);
    data + kept + transient + product_workspace_bytes(n.max(d).max(m), threads)
}

/// Packing buffers of the tiled matrix products ([`crate::linalg::matmul_tiled`]): every thread
/// packs a [`crate::linalg::TILE`]-row block of the left factor and a `TILE`-column block of the
/// right one, each with `inner` entries along the summed dimension, 2·TILE·inner·8 bytes per
/// thread (measured: a theory run at N = 2000 on two threads peaks 16 MB above the matrices it
/// holds, and 2·2·256·2000·8 B = 16.4 MB).
pub fn product_workspace_bytes(inner: usize, threads: usize) -> u64 {
    (threads.max(1) * 2 * crate::linalg::TILE * inner * 8) as u64
}

/// Peak bytes of a decision map: its run, or f̂ and ĝ on the `points` grid inputs (two
/// points × N kernels at once, the grid itself and the data), whichever is larger.
pub fn map_peak_bytes(s: &RunShape, points: usize, threads: usize) -> u64 {
    let grid =
        2 * matrix_bytes(points, s.n) + matrix_bytes(points, s.d) + 4 * matrix_bytes(s.n, s.d);
    run_peak_bytes(s, threads).max(grid)
}

/// A data source read from files, identified by everything its loading reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct DataKey {
    train: PathBuf,
    test: PathBuf,
    preprocess: String,
}

fn data_key(cfg: &RunConfig) -> Option<DataKey> {
    (cfg.dataset == DatasetKind::File).then(|| DataKey {
        train: cfg.train.clone().unwrap_or_default(),
        test: cfg.test.clone().unwrap_or_default(),
        preprocess: format!(
            "{:?} {:?} {:?} {:?} {}",
            cfg.scale, cfg.center, cfg.subset, cfg.test_subset, cfg.subset_seed
        ),
    })
}

/// One data source loaded during calibration: its sizes after preprocessing and the seconds one
/// load took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataLoad {
    /// Training file.
    pub train: PathBuf,
    /// Training samples after the subset.
    pub n: usize,
    /// Test samples after the subset.
    pub n_test: usize,
    /// Input dimension.
    pub d: usize,
    /// Seconds of one load (read, subset, scale, center).
    pub seconds: f64,
}

/// Seconds per unit of each kind of [`Work`] on one core of this machine, measured at the sizes of
/// the runs planned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// Seconds per flop of the network's GEMMs.
    pub net_flop_seconds: f64,
    /// Seconds per entry of the network's elementwise passes.
    pub net_entry_seconds: f64,
    /// Seconds per flop of the kernels' products.
    pub kernel_flop_seconds: f64,
    /// Seconds per closed-form kernel entry.
    pub kernel_pair_seconds: f64,
    /// Seconds per N³ of an eigendecomposition (0 when no run needs one).
    pub evd_cube_seconds: f64,
    /// Seconds per standard-normal draw.
    pub draw_seconds: f64,
    /// Seconds of one panel's figure (SVG and PNG) and summary, written once per panel by an
    /// unsharded run.
    pub figure_seconds: f64,
    /// Factors on the kernel work (products, entries, draws) of the network's first and second
    /// stage and the theory's first and second stage: a small run of each, timed whole, over its
    /// estimate from the kernel blocks. They carry what the blocks do not see: the gradient
    /// kernels' heavier per-pair work, the exact recomputation of near-parallel pairs (the
    /// perturbations of scenario a all point nearly the same way), copies and reductions.
    pub stage_factors: [f64; 4],
    /// The sizes the network and kernel timings used: (N, d, m) and (rows, cols, d).
    pub sizes: String,
    /// Seconds the calibration took, data loads included.
    pub seconds: f64,
    /// Share of one core the calibration's thread got (its CPU time over its wall time; 1 on an
    /// idle machine). Every timing is scaled by it, so the calibration counts CPU time only.
    pub core_share: f64,
}

impl Calibration {
    /// CPU seconds of `w` on one core, from the unit timings alone.
    pub fn seconds(&self, w: &Work) -> f64 {
        self.network_seconds(w) + self.kernel_seconds(w)
    }

    /// CPU seconds of the network's part of `w`: its GEMMs and elementwise passes.
    fn network_seconds(&self, w: &Work) -> f64 {
        w.net_flops * self.net_flop_seconds + w.net_entries * self.net_entry_seconds
    }

    /// CPU seconds of the rest of `w`: kernels, eigendecompositions, draws.
    fn kernel_seconds(&self, w: &Work) -> f64 {
        w.kernel_flops * self.kernel_flop_seconds
            + w.kernel_pairs * self.kernel_pair_seconds
            + w.evd_cubes * self.evd_cube_seconds
            + w.draws * self.draw_seconds
    }

    /// CPU seconds of the first (`first`) or second stage of a run of `model` doing `w`: the
    /// kernel part scaled by the stage's factor ([`Calibration::stage_factors`]).
    pub fn stage_seconds(&self, model: Model, first: bool, w: &Work) -> f64 {
        let factor = self.stage_factors[stage_index(model, first)];
        self.network_seconds(w) + factor * self.kernel_seconds(w)
    }
}

/// Index of (model, stage) in [`Calibration::stage_factors`].
fn stage_index(model: Model, first: bool) -> usize {
    let m = match model {
        Model::Network => 0,
        Model::Theory => 2,
    };
    m + usize::from(!first)
}

/// A small run like `cfg` for timing its stages: at most 300 training and test samples (subsets
/// of the same files for file data) and 1024 dimensions, two steps of f and g.
fn small_run(cfg: &RunConfig, shape: &RunShape) -> (RunConfig, RunShape) {
    let mut small = cfg.clone();
    let (n, n_test) = (shape.n.min(300) / 2 * 2, shape.n_test.min(300));
    let (n, n_test) = (n.max(2), n_test.max(1));
    let mut d = shape.d;
    if small.dataset == DatasetKind::File {
        small.subset = Some(n);
        small.test_subset = Some(n_test);
    } else {
        d = d.min(1024);
        small.n = Some(n);
        small.n_test = n_test;
        small.d = Some(d);
    }
    small.steps_f = small.steps_f.min(2);
    small.steps_g = small.steps_g.min(2);
    small.width = small.width.min(1000);
    let small_shape = RunShape {
        n,
        n_test,
        d,
        width: small.width,
        steps_f: small.steps_f,
        steps_g: small.steps_g,
        ..*shape
    };
    (small, small_shape)
}

/// The stage factors of [`Calibration::stage_factors`] from one small run per model of `runs`
/// (the model's run with the most kernel work), with the unit timings of `cal`.
fn stage_factors(cal: &Calibration, runs: &[(RunConfig, RunShape, f64)]) -> Result<[f64; 4]> {
    let mut factors = [1.0; 4];
    for model in [Model::Network, Model::Theory] {
        let Some((cfg, shape, load)) = runs.iter().find(|(_, s, _)| s.model == model) else {
            continue;
        };
        let (small, small_shape) = small_run(cfg, shape);
        // The first stage reads its data files each time; their load is priced apart.
        let t_first =
            (mean_of(2, || super::pipeline::first_stage(&small).map(|_| ()))? - load).max(0.0);
        let first = super::pipeline::first_stage(&small)?;
        let t_second = mean_of(2, || super::pipeline::run_from(&small, &first).map(|_| ()))?;
        for (is_first, t, w) in [
            (true, t_first, first_stage_work(&small_shape)),
            (false, t_second, second_stage_work(&small_shape)),
        ] {
            let kernel = cal.kernel_seconds(&w);
            if kernel > 0.0 {
                let f = (t - cal.network_seconds(&w)) / kernel;
                factors[stage_index(model, is_first)] = f.clamp(0.3, 30.0);
            }
        }
    }
    Ok(factors)
}

/// Seconds and unit counts of two timings `(seconds, a, b)`, solved for the seconds per unit of a
/// and of b (each at least 0; the first alone when the system is degenerate).
fn fit_two(first: (f64, f64, f64), second: (f64, f64, f64)) -> (f64, f64) {
    let (t1, a1, b1) = first;
    let (t2, a2, b2) = second;
    let det = a1 * b2 - a2 * b1;
    if det.abs() > 1e-12 * (a1 * b2).abs() {
        let pa = (t1 * b2 - t2 * b1) / det;
        let pb = (a1 * t2 - a2 * t1) / det;
        if pa > 0.0 && pb >= 0.0 {
            return (pa, pb);
        }
        if pa <= 0.0 && pb > 0.0 {
            // All of it per-unit-b work: the timing cannot see a.
            return (0.0, t1 / b1.max(1.0));
        }
    }
    (t1 / a1.max(1.0), 0.0)
}

/// The mean of five wall-clock timings of `f` after one warm-up call (the calibration scales it to
/// CPU time with [`Calibration::core_share`]).
fn mean_time(f: impl FnMut() -> Result<()>) -> Result<f64> {
    mean_of(5, f)
}

/// The mean of `reps` wall-clock timings of `f` after one warm-up call.
fn mean_of(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let start = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    Ok(start.elapsed().as_secs_f64() / reps as f64)
}

/// Seconds of one panel figure like a preset's (three metrics × two models, ± bands, eleven
/// points), SVG and PNG, drawn into a temporary directory that is removed again.
fn time_figure() -> Result<f64> {
    use crate::plot::{LineChart, LineStyle, Series, Spread, line_chart};
    // One directory per call: plans made at once in one process must not share it.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ntk-perturb-plan-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let series: Vec<Series> = (0..6)
        .map(|k| Series {
            label: format!("curve {k}"),
            points: (0..11)
                .map(|i| (i as f64, 0.5 + 0.04 * (i + k) as f64))
                .collect(),
            errors: Some(vec![0.05; 11]),
            style: if k % 2 == 0 {
                LineStyle::Solid
            } else {
                LineStyle::Dashed
            },
            spread: Spread::Band,
            color: Some(k / 2),
        })
        .collect();
    let chart = LineChart {
        title: "calibration".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        log_x: false,
        y_range: Some((0.0, 1.02)),
        series,
        legend: Vec::new(),
    };
    let stem = dir.join("figure");
    let seconds = mean_of(2, || line_chart(&chart, &stem));
    let _ = std::fs::remove_dir_all(&dir);
    seconds
}

/// CPU seconds (user + system) of this process so far, from `/proc/self/stat` (Linux; clock ticks
/// of 1/100 s), or None elsewhere.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<f64>().ok();
    Some((ticks(14)? + ticks(15)?) / 100.0)
}

/// Flops of one calibration timing: enough to time reliably, small enough for the whole
/// calibration to take well under a second.
const CALIBRATION_FLOPS: f64 = 1.5e8;

/// Seconds of `steps` training steps on `n` inputs of dimension `d` at width `m`, net of the
/// setup (the difference with a zero-step training).
fn time_steps(n: usize, d: usize, m: usize, steps: usize) -> Result<f64> {
    let x = data::gauss(n, d, 7)?;
    let cfg = NetworkConfig {
        width: m,
        arch: Architecture::default(),
        readout: Readout::Gaussian,
        init: Init::Standard,
    };
    let net = Network::new(d, cfg, 0)?;
    let train = |steps: usize| -> Result<f64> {
        let opts = TrainOptions {
            lr: 1e-3,
            steps,
            momentum: 0.9,
            loss: Loss::Identity,
            record_every: steps.max(1),
        };
        mean_time(|| {
            let mut net = net.clone();
            net.train(x.x.as_ref(), &x.y, None, &opts, |_| {})
                .map(|_| ())
        })
    };
    Ok((train(steps)? - train(0)?).max(0.0))
}

/// Seconds of one closed-form NTK block of `rows × cols` entries in dimension `d`.
fn time_kernel(rows: usize, cols: usize, d: usize) -> Result<f64> {
    let z = data::gauss(rows, d, 8)?;
    let x = data::gauss(cols, d, 9)?;
    let arch = Architecture::default();
    mean_time(|| {
        infinite_test_train(z.x.as_ref(), x.x.as_ref(), &arch, KernelWhat::Ntk).map(|_| ())
    })
}

/// One thread of this machine: a pool of one, so the timings are CPU seconds of one core.
fn one_thread<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| Error::numerical("calibration", e.to_string()))?
        .install(f)
}

/// Measures the machine on one thread at the sizes of `shapes`.
fn calibrate(shapes: &[RunShape], runs: &[(RunConfig, RunShape, f64)]) -> Result<Calibration> {
    let start = Instant::now();
    one_thread(|| {
        // The sizes that matter: the network shape with the most GD work, the largest d.
        let net = shapes
            .iter()
            .filter(|s| s.model == Model::Network)
            .max_by(|a, b| {
                let cost = |s: &RunShape| (s.n * s.width * (s.d + 1)) as f64 * s.steps_f as f64;
                cost(a).total_cmp(&cost(b))
            });
        let d_max = shapes.iter().map(|s| s.d).max().unwrap_or(100);
        let (dn, m) = net.map_or((100, 100), |s| (s.d.clamp(32, 2048), s.width.max(1)));
        let per_step = 4.0 * m as f64 * (dn + 1) as f64;
        let n_cal = ((CALIBRATION_FLOPS / per_step) as usize).clamp(64, 4096);
        let steps = 6;
        let t_big = time_steps(n_cal, dn, m, steps)?;
        let t_small = time_steps(n_cal, 1, m, steps)?;
        let units = |d: usize| {
            let f = steps as f64 * 4.0 * (n_cal * m * (d + 1)) as f64;
            let e = steps as f64 * 2.0 * (n_cal * m) as f64;
            (f, e)
        };
        let (fb, eb) = units(dn);
        let (fs, es) = units(1);
        let (net_flop_seconds, net_entry_seconds) = fit_two((t_big, fb, eb), (t_small, fs, es));

        // d of at least 512, so that the products are a large enough share of the time to be
        // told apart from the per-entry map.
        let dk = d_max.clamp(512, 1024);
        let rows = 384;
        let t_kbig = time_kernel(rows, rows, dk)?;
        let t_ksmall = time_kernel(rows, rows, 1)?;
        let pairs = (rows * rows) as f64;
        let (kernel_flop_seconds, kernel_pair_seconds) = fit_two(
            (t_kbig, 2.0 * pairs * dk as f64, pairs),
            (t_ksmall, 2.0 * pairs, pairs),
        );

        let draws = 256 * d_max.clamp(32, 1024);
        let draw_seconds =
            mean_time(|| data::gauss(256, d_max.clamp(32, 1024), 3).map(|_| ()))? / draws as f64;

        let evd_n = shapes
            .iter()
            .filter(|s| s.loss == Loss::Mse)
            .map(|s| s.n.min(500))
            .max();
        let evd_cube_seconds = match evd_n {
            Some(n) if n >= 2 => {
                let x = data::gauss(n, 8, 4)?;
                let k = crate::kernel::infinite_train_train(
                    x.x.as_ref(),
                    &Architecture::default(),
                    KernelWhat::Ntk,
                )?;
                // The eigendecomposition runs on its own two threads: its CPU time is twice its
                // wall time.
                2.0 * mean_time(|| crate::dynamics::Spectrum::compute(k.as_ref()).map(|_| ()))?
                    / (n as f64).powi(3)
            }
            _ => 0.0,
        };
        let figure_seconds = time_figure()?;
        let mut cal = Calibration {
            net_flop_seconds,
            net_entry_seconds,
            kernel_flop_seconds,
            kernel_pair_seconds,
            evd_cube_seconds,
            draw_seconds,
            figure_seconds,
            sizes: format!(
                "GD steps at N = {n_cal}, d = {dn}, m = {m} (and d = 1); kernel blocks \
                     {rows}×{rows} at d = {dk} (and d = 1)"
            ),
            seconds: start.elapsed().as_secs_f64(),
            core_share: 1.0,
            stage_factors: [1.0; 4],
        };
        cal.stage_factors = stage_factors(&cal, runs)?;
        Ok(cal)
    })
}

/// The shape of the run `cfg`, with file data sized by `loads`.
fn shape_of(cfg: &RunConfig, loads: &BTreeMap<DataKey, DataLoad>) -> Result<RunShape> {
    let (n, n_test, d) = match data_key(cfg) {
        Some(key) => {
            let l = loads
                .get(&key)
                .ok_or_else(|| Error::numerical("plan", "a data source was not loaded"))?;
            (l.n, l.n_test, l.d)
        }
        None => (
            cfg.n
                .ok_or_else(|| Error::invalid("n", "required for a synthetic dataset"))?,
            cfg.n_test,
            cfg.d
                .ok_or_else(|| Error::invalid("d", "required for a synthetic dataset"))?,
        ),
    };
    Ok(RunShape {
        n,
        n_test,
        d,
        width: cfg.width,
        steps_f: cfg.steps_f,
        steps_g: cfg.steps_g,
        model: cfg.model,
        loss: cfg.loss,
        scenario: cfg.scenario,
        attack_steps: cfg.attack_steps,
        g_main: super::conditions::main_term_g_defined(cfg),
        synthetic: cfg.dataset != DatasetKind::File,
    })
}

/// A panel's cells with their first-stage group and distinct run, as indices into the panel's
/// group and run costs.
#[derive(Debug, Clone)]
struct PanelCells {
    /// (cell index, group, run).
    cells: Vec<(usize, usize, usize)>,
    /// CPU seconds of each first stage, data loading included.
    group_seconds: Vec<f64>,
    /// Whether each group trains a network f.
    group_network: Vec<bool>,
    /// CPU seconds of each second stage.
    run_seconds: Vec<f64>,
    /// Whether each run trains a network g.
    run_network: Vec<bool>,
    /// Peak bytes and shape of each run.
    run_peak: Vec<(u64, RunShape)>,
}

impl PanelCells {
    /// Counts and cost of the cells `cell % n == k` (all with `None`).
    fn tally(&self, shard: Option<Shard>) -> Tally {
        let mut groups = HashSet::new();
        let mut runs = HashSet::new();
        let mut t = Tally::default();
        for &(cell, g, r) in &self.cells {
            if shard.is_some_and(|s| !s.contains(cell)) {
                continue;
            }
            t.cells += 1;
            if groups.insert(g) {
                t.cpu_seconds += self.group_seconds[g];
                if self.group_network[g] {
                    t.f_trainings += 1;
                }
            }
            if runs.insert(r) {
                t.cpu_seconds += self.run_seconds[r];
                if self.run_network[r] {
                    t.g_trainings += 1;
                } else {
                    t.theory_runs += 1;
                }
                if self.run_peak[r].0 > t.peak_bytes {
                    t.peak_bytes = self.run_peak[r].0;
                    t.peak_shape = Some(self.run_peak[r].1);
                }
            }
        }
        t
    }

    /// CPU seconds of every shard of `count`, by shard index.
    fn shard_seconds(&self, count: usize, out: &mut [f64]) {
        let mut seen: HashSet<(usize, bool, usize)> = HashSet::new();
        for &(cell, g, r) in &self.cells {
            let k = cell % count;
            if seen.insert((k, false, g)) {
                out[k] += self.group_seconds[g];
            }
            if seen.insert((k, true, r)) {
                out[k] += self.run_seconds[r];
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    cells: usize,
    f_trainings: usize,
    g_trainings: usize,
    theory_runs: usize,
    cpu_seconds: f64,
    peak_bytes: u64,
    peak_shape: Option<RunShape>,
}

/// The plan of one panel (one row of `plan.csv`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PanelPlan {
    /// Panel name.
    pub panel: String,
    /// Cells run (those of the shard, when sharded).
    pub cells: usize,
    /// Network trainings: f (one per first-stage group) and g (one per distinct run).
    pub trainings: usize,
    /// Trainings of f.
    pub f_trainings: usize,
    /// Trainings of g.
    pub g_trainings: usize,
    /// Evaluations of the infinite-width theory (one per distinct run, f and g together).
    pub theory_runs: usize,
    /// Estimated CPU seconds on one core.
    pub est_cpu_seconds: f64,
    /// Estimated wall seconds on the plan's threads (CPU / threads).
    pub est_wall_seconds: f64,
    /// Estimated peak bytes of the panel's largest run.
    pub est_peak_bytes: u64,
    /// N, d, m and the model of that run, in words.
    #[serde(skip)]
    pub peak_run: String,
}

/// A shard count that fits a target wall time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ShardAdvice {
    /// Number of shards n (1: no sharding needed).
    pub count: usize,
    /// Estimated wall seconds of the slowest shard on the plan's threads.
    pub slowest_wall_seconds: f64,
    /// Whether the target is met (false when even one cell per shard is slower).
    pub meets_target: bool,
}

/// What a command will run and what it will cost.
#[derive(Debug, Clone)]
pub struct Plan {
    /// One entry per panel.
    pub panels: Vec<PanelPlan>,
    /// The machine's calibration.
    pub calibration: Calibration,
    /// Data sources loaded (one per file set and preprocessing).
    pub data: Vec<DataLoad>,
    /// Threads the wall time assumes.
    pub threads: usize,
    /// Whether the plan can be sharded (`reproduce maps` cannot).
    pub shardable: bool,
    cells: Vec<PanelCells>,
}

impl Plan {
    /// Cells of every panel.
    pub fn cells(&self) -> usize {
        self.panels.iter().map(|p| p.cells).sum()
    }

    /// Network trainings of every panel.
    pub fn trainings(&self) -> usize {
        self.panels.iter().map(|p| p.trainings).sum()
    }

    /// Theory evaluations of every panel.
    pub fn theory_runs(&self) -> usize {
        self.panels.iter().map(|p| p.theory_runs).sum()
    }

    /// Estimated CPU seconds of every panel.
    pub fn cpu_seconds(&self) -> f64 {
        self.panels.iter().map(|p| p.est_cpu_seconds).sum()
    }

    /// Estimated wall seconds on [`Plan::threads`] threads.
    pub fn wall_seconds(&self) -> f64 {
        self.cpu_seconds() / self.threads as f64
    }

    /// The largest peak of one run and the panel it belongs to.
    pub fn peak(&self) -> Option<&PanelPlan> {
        self.panels.iter().reduce(|a, b| {
            if b.est_peak_bytes > a.est_peak_bytes {
                b
            } else {
                a
            }
        })
    }

    /// The smallest shard count n whose slowest shard (of the whole run, all panels) takes at most
    /// `target_seconds` of wall time on `threads` threads per shard; None when the plan cannot be
    /// sharded. When even one cell per shard is too slow, the count that gives the fastest slowest
    /// shard, with `meets_target` false.
    pub fn shards_for(&self, target_seconds: f64, threads: usize) -> Option<ShardAdvice> {
        if !self.shardable {
            return None;
        }
        let threads = threads.max(1) as f64;
        let max_cells = self
            .cells
            .iter()
            .map(|p| p.cells.iter().map(|c| c.0 + 1).max().unwrap_or(0))
            .max()
            .unwrap_or(1)
            .max(1);
        let total: f64 = self.cells.iter().map(|p| p.tally(None).cpu_seconds).sum();
        let slowest = |count: usize| {
            let mut per = vec![0.0; count];
            for p in &self.cells {
                p.shard_seconds(count, &mut per);
            }
            per.into_iter().fold(0.0, f64::max) / threads
        };
        let first = ((total / threads / target_seconds).ceil() as usize).clamp(1, max_cells);
        let mut best = ShardAdvice {
            count: first,
            slowest_wall_seconds: f64::INFINITY,
            meets_target: false,
        };
        for count in first..=max_cells {
            let wall = slowest(count);
            if wall <= target_seconds {
                return Some(ShardAdvice {
                    count,
                    slowest_wall_seconds: wall,
                    meets_target: true,
                });
            }
            if wall < best.slowest_wall_seconds {
                best = ShardAdvice {
                    count,
                    slowest_wall_seconds: wall,
                    meets_target: false,
                };
            }
        }
        Some(best)
    }
}

/// The panels of a preset as run with `opts`: their sweeps. `opts.shard` is not applied here.
fn preset_sweeps(preset: &Preset, opts: &ReproduceOptions<'_>) -> Result<Vec<(String, Sweep)>> {
    preset
        .panels
        .iter()
        .map(|panel| {
            Ok((
                panel.name.clone(),
                panel_spec(preset, panel, opts)?.expand()?,
            ))
        })
        .collect()
}

/// Plans `reproduce` of `preset` with `opts` (its shard included) on `threads` threads: counts,
/// estimated CPU and wall time and peak memory per panel, after a few seconds of calibration
/// (plus one load of each data file).
pub fn plan_preset(preset: &Preset, opts: &ReproduceOptions<'_>, threads: usize) -> Result<Plan> {
    plan_sweeps(&preset_sweeps(preset, opts)?, opts.shard, threads)
}

/// Plans named sweeps run as the shard `shard` (all cells with None) on `threads` threads.
pub fn plan_sweeps(
    sweeps: &[(String, Sweep)],
    shard: Option<Shard>,
    threads: usize,
) -> Result<Plan> {
    let configs: Vec<&RunConfig> = sweeps
        .iter()
        .flat_map(|(_, s)| s.cells().iter().map(|c| &c.config))
        .collect();
    let sources: Vec<RunConfig> = distinct_sources(&configs);
    // Sizes of file data are known only after loading; synthetic shapes are known now.
    let mut shapes = Vec::new();
    for cfg in &configs {
        if cfg.dataset != DatasetKind::File {
            shapes.push(shape_of(cfg, &BTreeMap::new())?);
        }
    }
    let (calibration, loads_for_shapes) = calibrate_with_files(&mut shapes, &sources, &configs)?;
    let mut panels = Vec::new();
    let mut all_cells = Vec::new();
    for (name, sweep) in sweeps {
        let cells = panel_cells(sweep, &calibration, &loads_for_shapes, threads)?;
        let mut t = cells.tally(shard);
        if shard.is_none() {
            t.cpu_seconds += calibration.figure_seconds;
        }
        panels.push(panel_plan(name, &t, threads));
        all_cells.push(cells);
    }
    Ok(Plan {
        panels,
        calibration,
        data: loads_for_shapes.into_values().collect(),
        threads: threads.max(1),
        shardable: true,
        cells: all_cells,
    })
}

/// One configuration per distinct data source of `configs`.
fn distinct_sources(configs: &[&RunConfig]) -> Vec<RunConfig> {
    let mut seen = HashSet::new();
    configs
        .iter()
        .filter(|c| data_key(c).is_some_and(|k| seen.insert(k)))
        .map(|c| (*c).clone())
        .collect()
}

/// Loads each data source of `sources` once (timed on one thread), then calibrates at the sizes
/// of `shapes` and of the file data of `configs`.
fn calibrate_with_files(
    shapes: &mut Vec<RunShape>,
    sources: &[RunConfig],
    configs: &[&RunConfig],
) -> Result<(Calibration, BTreeMap<DataKey, DataLoad>)> {
    let (wall0, cpu0) = (Instant::now(), process_cpu_seconds());
    let mut loads = one_thread(|| {
        let mut loads = BTreeMap::new();
        for cfg in sources {
            let Some(key) = data_key(cfg) else { continue };
            let pre = cfg.preprocess();
            let t = Instant::now();
            let (train, test) = data::load(&key.train, Some(&key.test), &pre)?;
            let seconds = t.elapsed().as_secs_f64();
            let load = DataLoad {
                train: key.train.clone(),
                n: train.n(),
                n_test: test.map_or(0, |t| t.n()),
                d: train.d(),
                seconds,
            };
            loads.insert(key, load);
        }
        Ok(loads)
    })?;
    for cfg in configs {
        if cfg.dataset == DatasetKind::File {
            shapes.push(shape_of(cfg, &loads)?);
        }
    }
    // The run of each model with the most kernel work stands for its model's stages.
    let mut runs: Vec<(RunConfig, RunShape, f64)> = Vec::new();
    for model in [Model::Network, Model::Theory] {
        let mut best: Option<(&RunConfig, RunShape)> = None;
        for cfg in configs.iter().filter(|c| c.model == model) {
            let s = shape_of(cfg, &loads)?;
            let size = |s: &RunShape| s.n * (s.n + s.n_test) * s.d;
            if best.as_ref().is_none_or(|(_, b)| size(&s) > size(b)) {
                best = Some((cfg, s));
            }
        }
        if let Some((cfg, s)) = best {
            let load = data_key(cfg)
                .and_then(|k| loads.get(&k))
                .map_or(0.0, |l| l.seconds);
            runs.push(((*cfg).clone(), s, load));
        }
    }
    let mut cal = calibrate(shapes, &runs)?;
    cal.seconds = wall0.elapsed().as_secs_f64();
    // Wall time counts the time other processes held the core; CPU time does not.
    let share = match (cpu0, process_cpu_seconds()) {
        (Some(a), Some(b)) if cal.seconds > 0.0 => ((b - a) / cal.seconds).clamp(0.02, 1.0),
        _ => 1.0,
    };
    cal.core_share = share;
    for v in [
        &mut cal.net_flop_seconds,
        &mut cal.net_entry_seconds,
        &mut cal.kernel_flop_seconds,
        &mut cal.kernel_pair_seconds,
        &mut cal.evd_cube_seconds,
        &mut cal.draw_seconds,
        &mut cal.figure_seconds,
    ] {
        *v *= share;
    }
    loads.values_mut().for_each(|l| l.seconds *= share);
    Ok((cal, loads))
}

fn panel_plan(name: &str, t: &Tally, threads: usize) -> PanelPlan {
    PanelPlan {
        panel: name.to_string(),
        cells: t.cells,
        trainings: t.f_trainings + t.g_trainings,
        f_trainings: t.f_trainings,
        g_trainings: t.g_trainings,
        theory_runs: t.theory_runs,
        est_cpu_seconds: t.cpu_seconds,
        est_wall_seconds: t.cpu_seconds / threads.max(1) as f64,
        est_peak_bytes: t.peak_bytes,
        peak_run: t.peak_shape.map(describe).unwrap_or_default(),
    }
}

/// N, d, m and the model of a run, in words.
fn describe(s: RunShape) -> String {
    match s.model {
        Model::Network => format!("network N = {}, d = {}, m = {}", s.n, s.d, s.width),
        Model::Theory => format!("theory N = {}, d = {}", s.n, s.d),
    }
}

/// Groups a sweep's cells by first stage and run (as the sweep does) and costs each.
fn panel_cells(
    sweep: &Sweep,
    cal: &Calibration,
    loads: &BTreeMap<DataKey, DataLoad>,
    threads: usize,
) -> Result<PanelCells> {
    let mut groups: HashMap<String, usize> = HashMap::new();
    let mut runs: HashMap<String, usize> = HashMap::new();
    let mut out = PanelCells {
        cells: Vec::new(),
        group_seconds: Vec::new(),
        group_network: Vec::new(),
        run_seconds: Vec::new(),
        run_network: Vec::new(),
        run_peak: Vec::new(),
    };
    for cell in sweep.cells() {
        let cfg = &cell.config;
        let shape = shape_of(cfg, loads)?;
        let next = out.group_seconds.len();
        let g = *groups.entry(first_stage_key(cfg)?).or_insert(next);
        if g == next {
            let load = data_key(cfg)
                .and_then(|k| loads.get(&k))
                .map_or(0.0, |l| l.seconds);
            out.group_seconds
                .push(cal.stage_seconds(cfg.model, true, &first_stage_work(&shape)) + load);
            out.group_network.push(cfg.model == Model::Network);
        }
        let next = out.run_seconds.len();
        let r = *runs.entry(run_key(cfg)?).or_insert(next);
        if r == next {
            out.run_seconds
                .push(cal.stage_seconds(cfg.model, false, &second_stage_work(&shape)));
            out.run_network.push(cfg.model == Model::Network);
            out.run_peak.push((run_peak_bytes(&shape, threads), shape));
        }
        out.cells.push((cell.index, g, r));
    }
    Ok(out)
}

/// Plans `reproduce maps` with `panels` at `resolution`² grid points on `threads` threads: one run
/// (f and g) per map and the evaluation of f, g, f̂ and ĝ on the grid.
pub fn plan_maps(panels: &[MapPanel], resolution: usize, threads: usize) -> Result<Plan> {
    let configs: Vec<&RunConfig> = panels.iter().map(|p| &p.config).collect();
    let sources = distinct_sources(&configs);
    let mut shapes = Vec::new();
    let empty = BTreeMap::new();
    for cfg in &configs {
        if cfg.dataset != DatasetKind::File {
            shapes.push(shape_of(cfg, &empty)?);
        }
    }
    let (calibration, loads) = calibrate_with_files(&mut shapes, &sources, &configs)?;
    let points = resolution * resolution;
    let mut plans = Vec::new();
    for p in panels {
        let shape = shape_of(&p.config, &loads)?;
        let model = p.config.model;
        let stages = calibration.stage_seconds(model, true, &first_stage_work(&shape))
            + calibration.stage_seconds(model, false, &second_stage_work(&shape));
        let load = data_key(&p.config)
            .and_then(|k| loads.get(&k))
            .map_or(0.0, |l| l.seconds);
        let t = Tally {
            cells: 1,
            f_trainings: 1,
            g_trainings: 1,
            theory_runs: 0,
            cpu_seconds: stages
                + calibration.seconds(&map_grid_work(&shape, points))
                + load
                + calibration.figure_seconds,
            peak_bytes: map_peak_bytes(&shape, points, threads),
            peak_shape: Some(shape),
        };
        plans.push(panel_plan(p.name, &t, threads));
    }
    Ok(Plan {
        panels: plans,
        calibration,
        data: loads.into_values().collect(),
        threads: threads.max(1),
        shardable: false,
        cells: Vec::new(),
    })
}

/// Parses a wall time such as `90`, `90s`, `45m`, `1h`, `1h30m`, `2.5h` or `1d` into seconds
/// (errors name `plan_wall`).
pub fn parse_wall(text: &str) -> Result<f64> {
    let bad = || {
        Error::invalid(
            "plan_wall",
            format!("expected a duration such as 90s, 45m, 1h, 1h30m or 2.5h, got `{text}`"),
        )
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(bad());
    }
    let mut total = 0.0;
    let mut number = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() || ch == '.' {
            number.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            _ => return Err(bad()),
        };
        let v: f64 = number.parse().map_err(|_| bad())?;
        total += v * unit;
        number.clear();
    }
    if !number.is_empty() {
        total += number.parse::<f64>().map_err(|_| bad())?;
    }
    if !(total.is_finite() && total > 0.0) {
        return Err(bad());
    }
    Ok(total)
}
