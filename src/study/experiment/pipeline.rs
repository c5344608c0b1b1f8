//! One run of the perturbation-learning pipeline of §1, end to end, with the metrics of §7.2 and
//! the condition bookkeeping of §6.3.
//!
//! data → f → targets → perturbations at x_n → adversarial set (r_n, y^adv_n) → fresh g → metrics.
//! Sub-seeds are `rng::derive_seed(seed, domain::OTHER, k)` with k = 0 training data, 1 test
//! data, 2 f's initialisation, 3 target labels, 4 g's initialisation ([`SubSeed`]).

use std::sync::{Arc, Mutex};

use faer::{Mat, MatRef};

use super::conditions::{self, ConditionSummary, ConditionTerms, GMainInputs};
use super::config::{DatasetKind, Model, RunConfig, Scenario};
use crate::data::{self, Dataset};
use crate::dynamics::{IdentitySolver, LinearizedFlow, OdeOptions};
use crate::error::{Error, Result};
use crate::kernel::{
    KernelWhat, infinite_test_train, infinite_train_train, kernel_gradient_direction,
    weighted_sum_direction,
};
use crate::model::loss::accuracy;
use crate::model::{Architecture, Loss};
use crate::network::Network;
use crate::perturbation::{TargetKind, draw_targets, projected, single_step};
use crate::rng::{self, domain};

/// Index k of each sub-seed `rng::derive_seed(seed, domain::OTHER, k)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum SubSeed {
    /// Training data (synthetic rows; the subsets of a file use `subset_seed` instead).
    TrainData = 0,
    /// Synthetic test data.
    TestData = 1,
    /// Initialisation of f.
    F = 2,
    /// Target labels y^adv.
    Targets = 3,
    /// Initialisation of g.
    G = 4,
}

/// The seed of one stage of the run with seed `seed`.
pub fn sub_seed(seed: u64, which: SubSeed) -> u64 {
    rng::derive_seed(seed, domain::OTHER, which as u64)
}

/// Names of the metrics of a run, in the order of [`RunResult::rows`].
pub const METRICS: &[&str] = &[
    "standard_train",
    "standard_test",
    "perturbation_train",
    "perturbation_test",
    "agreement",
    "mean_target",
    "mean_abs_cos",
    "cond_c1",
    "cond_c2",
    "cond_c3",
    "cond_c3_main",
    "cond_all",
    "cond_all_main",
    "agree_given_all",
    "agree_given_all_main",
    "predicted_disagree",
    "predicted_disagree_hit",
    "eps_threshold_pred",
];

/// The metrics of [`METRICS`] that come from the conditions of §6.3: absent from the rows of a run
/// with `conditions = false`.
/// (`cond_c1` … `predicted_disagree_hit`, entries 7 to 16 of [`METRICS`], named once.)
pub const CONDITION_METRICS: &[&str] = METRICS.split_at(7).1.split_at(10).0;

/// The metrics a run with configuration `cfg` reports, in the order of [`METRICS`]: all of them,
/// or without the [`CONDITION_METRICS`] when `conditions = false`.
pub fn metric_names(cfg: &RunConfig) -> Vec<&'static str> {
    METRICS
        .iter()
        .copied()
        .filter(|m| cfg.conditions || !CONDITION_METRICS.contains(m))
        .collect()
}

/// Metrics of §7.2 and extensions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Accuracy of f on its own training set.
    pub standard_train: f64,
    /// Accuracy of f on the test set.
    pub standard_test: f64,
    /// Accuracy of g on f's clean training set with the true labels.
    pub perturbation_train: f64,
    /// Accuracy of g on the test set with the true labels.
    pub perturbation_test: f64,
    /// Fraction of test inputs with sgn f = sgn g.
    pub agreement: f64,
    /// Mean of the target labels y^adv (§6.5).
    pub mean_target: f64,
    /// mean_n |cos(η_n, Σ_k y_k Φ_γ(x_n, x_k) x_k)| over the n with η_n ≠ 0 (NaN if none).
    pub mean_abs_cos: f64,
    /// Predicted ε threshold ε* of scenario (a) ([`super::threshold`], §6.6); NaN where undefined.
    pub eps_threshold_pred: f64,
}

/// The result of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunResult {
    /// Accuracies, agreement, target mean, cosine.
    pub metrics: Metrics,
    /// Condition fractions (§6.3, our reconstruction); those that need g_main are NaN where it is
    /// not defined ([`conditions::main_term_g_defined`]). All NaN when the run was configured
    /// with `conditions = false` (`conditions_evaluated` is then false).
    pub conditions: ConditionSummary,
    /// Whether the conditions were evaluated (`conditions = true`); without them [`RunResult::rows`]
    /// leaves out the [`CONDITION_METRICS`].
    pub conditions_evaluated: bool,
}

impl RunResult {
    /// (metric, value) pairs in the order of [`METRICS`], without the [`CONDITION_METRICS`] when
    /// the conditions were not evaluated.
    pub fn rows(&self) -> Vec<(&'static str, f64)> {
        let m = &self.metrics;
        let c = &self.conditions;
        let values = [
            m.standard_train,
            m.standard_test,
            m.perturbation_train,
            m.perturbation_test,
            m.agreement,
            m.mean_target,
            m.mean_abs_cos,
            c.c1,
            c.c2,
            c.c3,
            c.c3_main,
            c.all,
            c.all_main,
            c.agree_given_all,
            c.agree_given_all_main,
            c.predicted_disagree,
            c.predicted_disagree_hit,
            m.eps_threshold_pred,
        ];
        METRICS
            .iter()
            .copied()
            .zip(values)
            .filter(|(name, _)| self.conditions_evaluated || !CONDITION_METRICS.contains(name))
            .collect()
    }
}

/// Everything a run computed, for analyses beyond the summary metrics.
#[derive(Debug, Clone)]
pub struct RunDetail {
    /// Clean training set.
    pub train: Dataset,
    /// Test set.
    pub test: Dataset,
    /// Target labels y^adv.
    pub targets: Vec<f64>,
    /// Perturbations η (N×d).
    pub eta: Mat<f64>,
    /// Inputs g was trained on: η (a) or X + η (b).
    pub r: Mat<f64>,
    /// ε used.
    pub eps: f64,
    /// f and g on the training inputs.
    pub f_train: Vec<f64>,
    /// g on the training inputs.
    pub g_train: Vec<f64>,
    /// f, g, main terms and surrogates on the test inputs (with `conditions = false` only f and
    /// g; the other terms are empty).
    pub terms: ConditionTerms,
    /// The summary.
    pub result: RunResult,
    /// The classifier trained on clean data.
    pub f: Trained,
    /// The classifier trained on the adversarial data.
    pub g: Trained,
}

/// A trained classifier: a finite network or the infinite-width kernel predictor.
#[derive(Debug, Clone)]
pub enum Trained {
    /// A finite-width network trained by gradient descent.
    Net(Network),
    /// The infinite-width predictor z ↦ Σ_n α_n Θ(x_n, z).
    Kernel {
        /// Training inputs.
        x: Mat<f64>,
        /// Coefficients α(T).
        alpha: Vec<f64>,
        /// Architecture of the NTK.
        arch: Architecture,
    },
}

impl Trained {
    /// Outputs at the rows of `z`.
    pub fn predict(&self, z: MatRef<'_, f64>) -> Result<Vec<f64>> {
        match self {
            Trained::Net(net) => net.forward(z),
            Trained::Kernel { x, alpha, arch } => {
                let k = infinite_test_train(z, x.as_ref(), arch, KernelWhat::Ntk)?;
                Ok(LinearizedFlow::predict(
                    k.as_ref(),
                    &vec![0.0; z.nrows()],
                    alpha,
                ))
            }
        }
    }

    /// ∇f at the rows of z: backprop for a network, the exact kernel gradient for the theory.
    pub fn input_gradients(&self, z: MatRef<'_, f64>) -> Result<Mat<f64>> {
        match self {
            Trained::Net(net) => net.input_gradients(z),
            Trained::Kernel { x, alpha, arch } => {
                kernel_gradient_direction(z, x.as_ref(), alpha, arch)
            }
        }
    }
}

/// Coefficients α(T) of the linearised flow on the infinite-width NTK Θ(X, X) with initial outputs
/// f0 (§3.3). For the identity loss α(T) = (T/N)·Y does not depend on Θ or f0
/// ([`IdentitySolver::coefficients`]), so neither the N×N Gram matrix nor `f0` is formed.
fn flow_coefficients(
    x: MatRef<'_, f64>,
    y: &[f64],
    f0: impl FnOnce() -> Result<Vec<f64>>,
    cfg: &RunConfig,
    t: f64,
) -> Result<Vec<f64>> {
    if cfg.loss == Loss::Identity {
        return IdentitySolver::coefficients(y, t);
    }
    let f0 = f0()?;
    let k = infinite_train_train(x, &cfg.architecture(), KernelWhat::Ntk)?;
    let flow = LinearizedFlow::from_gram(k, y, &f0, cfg.loss, OdeOptions::default())?;
    flow.coefficients(&[t])?
        .into_iter()
        .next()
        .ok_or_else(|| Error::numerical("linearised flow", "no coefficients returned"))
}

/// Trains f (`second = false`) or g on (x, y): returns the classifier and the coefficients α of the
/// infinite-width linearised flow that serves as its main term. A network's α is only needed by
/// the conditions, so it is computed only with `conditions = true` (the theory's α is the model).
fn train_model(
    cfg: &RunConfig,
    x: MatRef<'_, f64>,
    y: &[f64],
    seed: u64,
    second: bool,
) -> Result<(Trained, Option<Vec<f64>>)> {
    let (tf, tg) = cfg.flow_times();
    let t = if second { tg } else { tf };
    match cfg.model {
        Model::Network => {
            let mut net = Network::new(x.ncols(), cfg.network(), seed)?;
            let f0 = if cfg.conditions && cfg.loss != Loss::Identity {
                Some(net.forward(x)?)
            } else {
                None
            };
            net.train(x, y, None, &cfg.train_options(second), |_| {})?;
            let alpha = if cfg.conditions {
                let f0 = || f0.ok_or_else(|| Error::numerical("train", "f0 missing"));
                Some(flow_coefficients(x, y, f0, cfg, t)?)
            } else {
                None
            };
            Ok((Trained::Net(net), alpha))
        }
        Model::Theory => {
            let alpha = flow_coefficients(x, y, || Ok(vec![0.0; x.nrows()]), cfg, t)?;
            let model = Trained::Kernel {
                x: x.to_owned(),
                alpha: alpha.clone(),
                arch: cfg.architecture(),
            };
            Ok((model, Some(alpha)))
        }
    }
}

/// Training and test sets of the run. Data files are read and preprocessed once per process for
/// every run that uses them (a cache of the last pair of files read).
pub fn load_data(cfg: &RunConfig) -> Result<(Dataset, Dataset)> {
    let seed_train = sub_seed(cfg.seed, SubSeed::TrainData);
    let seed_test = sub_seed(cfg.seed, SubSeed::TestData);
    let missing = |key: &str| Error::invalid(key, "required for a synthetic dataset");
    match cfg.dataset {
        DatasetKind::ShiftedGauss | DatasetKind::Gauss => {
            let n = cfg.n.ok_or_else(|| missing("n"))?;
            let d = cfg.d.ok_or_else(|| missing("d"))?;
            if cfg.dataset == DatasetKind::ShiftedGauss {
                Ok((
                    data::shifted_gauss(n, d, cfg.shift, seed_train)?,
                    data::shifted_gauss(cfg.n_test, d, cfg.shift, seed_test)?,
                ))
            } else {
                Ok((
                    data::gauss(n, d, seed_train)?,
                    data::gauss(cfg.n_test, d, seed_test)?,
                ))
            }
        }
        DatasetKind::File => {
            let both = file_data(cfg)?;
            Ok((both.0.clone(), both.1.clone()))
        }
    }
}

/// The keys that say which rows of which files a run with data from files reads, and how they are
/// preprocessed.
const FILE_DATA_KEYS: &[&str] = &[
    "train",
    "test",
    "scale",
    "center",
    "subset",
    "test_subset",
    "subset_seed",
];

/// The last pair of data files read by [`file_data`], preprocessed, under its key. One entry, so a
/// process holds at most one dataset beyond those its runs hold.
type FileDataCache = Option<(String, Arc<(Dataset, Dataset)>)>;
static FILE_DATA: Mutex<FileDataCache> = Mutex::new(None);

/// The preprocessed training and test sets of a run with `dataset = "file"`, read once per
/// process: the files' names, sizes and modification times and the preprocessing keys identify
/// them, so every run, sweep cell and preset panel that reads the same files again gets the cached
/// sets.
fn file_data(cfg: &RunConfig) -> Result<Arc<(Dataset, Dataset)>> {
    let train = cfg
        .train
        .as_deref()
        .ok_or_else(|| Error::invalid("train", "required for dataset = \"file\""))?;
    let test = cfg
        .test
        .as_deref()
        .ok_or_else(|| Error::invalid("test", "required for dataset = \"file\""))?;
    let mut table = cfg.to_table()?;
    table.retain(|k, _| FILE_DATA_KEYS.contains(&k));
    let stamp = |p: &std::path::Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    };
    let key = format!("{table}{:?}{:?}", stamp(train), stamp(test));
    let poisoned = || Error::numerical("data cache", "its lock was poisoned");
    {
        let mut cached = FILE_DATA.lock().map_err(|_| poisoned())?;
        match cached.as_ref() {
            Some((k, both)) if *k == key => return Ok(Arc::clone(both)),
            // Free the old sets before reading the new ones.
            _ => *cached = None,
        }
    }
    let pre = cfg.preprocess();
    let (train, test) = data::load(train, Some(test), &pre)?;
    let test = test.ok_or_else(|| Error::invalid("test", "could not be read"))?;
    let both = Arc::new((train, test));
    *FILE_DATA.lock().map_err(|_| poisoned())? = Some((key, Arc::clone(&both)));
    Ok(both)
}

/// Fraction of entries with sgn a = sgn b.
fn agreement(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    let n = a
        .iter()
        .zip(b)
        .filter(|&(&u, &v)| conditions::same_sign(u, v))
        .count();
    n as f64 / a.len() as f64
}

/// mean_n |cos(a_n, b_n)| over the rows where both are non-zero; NaN if there is none.
fn mean_abs_cos(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    crate::linalg::mean_defined(
        (0..a.nrows()).map(|i| crate::linalg::row_cosine(a, b, i).map(f64::abs)),
    )
    .unwrap_or(f64::NAN)
}

fn row_norms(m: MatRef<'_, f64>) -> Vec<f64> {
    crate::linalg::row_sq_norms(m)
        .into_iter()
        .map(f64::sqrt)
        .collect()
}

/// Runs the pipeline of §1 for one configuration and returns its metrics.
pub fn run(cfg: &RunConfig) -> Result<RunResult> {
    let first = first_stage(cfg)?;
    second_stage(cfg, &first).map(|s| s.result)
}

/// The keys that only the second stage (targets, perturbations, g) reads. Runs whose
/// configurations differ in these keys alone share their [`FirstStage`].
pub const SECOND_STAGE_KEYS: &[&str] = &[
    "lr_g",
    "steps_g",
    "scenario",
    "eps",
    "eps_per_coordinate",
    "norm",
    "targets",
    "attack_steps",
];

/// Everything a run computes before the perturbations: the data, f and the quantities that depend
/// on f alone (its input gradients at the training inputs, its outputs, α_f, f_main and the
/// products Z Sᵀ of g_main's signal term), with what it shares from its [`DataStage`] (f̂ and the
/// direction Σ_k y_k Φ_γ(x_k, x_n) x_k). It is a function of the configuration without the
/// [`SECOND_STAGE_KEYS`], so a sweep over ε, the targets, the attack or g's training computes it
/// once per [`first_stage_key`] and reuses it for every such run, with the same results as
/// running each configuration on its own.
#[derive(Debug, Clone)]
pub struct FirstStage {
    /// Clean training set.
    pub train: Dataset,
    /// Test set.
    pub test: Dataset,
    /// The classifier trained on clean data.
    pub f: Trained,
    /// Coefficients α_f of f's infinite-width main term (a network's only with the conditions).
    alpha_f: Option<Vec<f64>>,
    /// ∇f(x_n) at the training inputs (N×d).
    grad_x: Mat<f64>,
    /// f on the training inputs.
    f_train: Vec<f64>,
    /// f on the test inputs.
    f_test: Vec<f64>,
    /// Σ_k y_k Φ_γ(x_k, x_n) x_k (N×d): the cosine metric's direction and ĝ's inner sum.
    direction: Arc<Mat<f64>>,
    /// What the conditions need of the first stage; `None` with `conditions = false`.
    conditions: Option<FirstConditions>,
}

/// The condition terms of §6.1–§6.2 that do not depend on g.
#[derive(Debug, Clone)]
struct FirstConditions {
    /// f_main on the test inputs (§6.1).
    f_main: Vec<f64>,
    /// f̂ on the test inputs (§6.2).
    f_hat: Vec<f64>,
    /// z·D_n for every test input z and training direction D_n (M×N), ĝ's inner sums.
    zd: Arc<Mat<f64>>,
    /// z·s_n (M×N) of g_main's signal term, when some run of the group has g_main.
    zs: Option<Arc<Mat<f64>>>,
    /// z·x_n + 1 (M×N) of g_main's scenario-(b) term, when some run of the group needs it.
    zx: Option<Mat<f64>>,
}

/// What a run computes from its data and the kernel's architecture alone: the data, read and
/// preprocessed, the direction D_n = Σ_k y_k Φ_γ(x_k, x_n) x_k (N×d, from the N×N matrix
/// Φ_γ(X, X)) and, with the conditions, f̂ on the test inputs and the products Z Dᵀ of ĝ (§6.2).
/// Every first stage with the same [`data_stage_key`] shares it, whatever f: the seeds of a
/// network on data from files, the network and the theory, the learning rates and step counts.
#[derive(Debug)]
pub struct DataStage {
    train: Dataset,
    test: Dataset,
    direction: Arc<Mat<f64>>,
    /// f̂ on the test inputs and Z Dᵀ, with the conditions.
    surrogates: Option<(Vec<f64>, Arc<Mat<f64>>)>,
    /// The last [`conditions::signal_products`] formed on this data, with the α_f they were formed
    /// for: first stages with the same α_f (with the identity loss α_f = (T_f/N)·Y, the same for
    /// every seed and for the network and the theory) reuse them.
    signal: Mutex<Option<SignalProducts>>,
}

/// Signal products Z·Sᵀ and the α_f they were formed for.
type SignalProducts = (Vec<f64>, Arc<Mat<f64>>);

impl DataStage {
    /// [`conditions::signal_products`] for α_f, reused when the last ones were formed for the same
    /// α_f (bit for bit). The lock is not held while they are formed.
    fn signal_products(&self, alpha_f: &[f64], arch: &Architecture) -> Result<Arc<Mat<f64>>> {
        let poisoned = || Error::numerical("signal products", "their lock was poisoned");
        let same = |a: &[f64]| {
            a.len() == alpha_f.len()
                && a.iter()
                    .zip(alpha_f)
                    .all(|(u, v)| u.to_bits() == v.to_bits())
        };
        if let Some((alpha, zs)) = self.signal.lock().map_err(|_| poisoned())?.as_ref()
            && same(alpha)
        {
            return Ok(Arc::clone(zs));
        }
        let (x, z) = (self.train.x.as_ref(), self.test.x.as_ref());
        let zs = Arc::new(conditions::signal_products(x, alpha_f, z, arch)?);
        *self.signal.lock().map_err(|_| poisoned())? = Some((alpha_f.to_vec(), Arc::clone(&zs)));
        Ok(zs)
    }
}

/// The keys a [`DataStage`] reads (with `seed` for synthetic data, whose rows it draws).
pub const DATA_STAGE_KEYS: &[&str] = &[
    "dataset",
    "n",
    "n_test",
    "d",
    "shift",
    "train",
    "test",
    "scale",
    "center",
    "subset",
    "test_subset",
    "subset_seed",
    "gamma",
    "bias",
    "train_readout",
    "conditions",
];

/// The identity of a run's [`DataStage`]: the [`DATA_STAGE_KEYS`] of its configuration (and its
/// seed for synthetic data), written as TOML. Runs with equal keys have equal data stages.
pub fn data_stage_key(cfg: &RunConfig) -> Result<String> {
    let mut table = cfg.to_table()?;
    let synthetic = cfg.dataset != DatasetKind::File;
    table.retain(|k, _| DATA_STAGE_KEYS.contains(&k) || (synthetic && k == "seed"));
    Ok(table.to_string())
}

/// Loads the data and evaluates everything that depends on it alone (see [`DataStage`]).
pub fn data_stage(cfg: &RunConfig) -> Result<DataStage> {
    cfg.validate()?;
    let arch = cfg.architecture();
    let (train, test) = load_data(cfg)?;
    let (x, z) = (train.x.as_ref(), test.x.as_ref());
    let direction = weighted_sum_direction(x, x, &train.y, &arch)?;
    let surrogates = if cfg.conditions {
        let f_hat = conditions::surrogate_f(x, &train.y, z, &arch)?;
        let zd = conditions::direction_products(direction.as_ref(), z);
        Some((f_hat, Arc::new(zd)))
    } else {
        None
    };
    Ok(DataStage {
        train,
        test,
        direction: Arc::new(direction),
        surrogates,
        signal: Mutex::new(None),
    })
}

/// The keys a run with configuration `cfg` never reads. The infinite-width predictor
/// (`model = "theory"`) has no finite network, so it reads neither `width`, `readout` nor `init`,
/// and of the seed only the sub-seeds of synthetic data and of random or balanced targets
/// ([`SubSeed`]): with data from files and flipped targets it reads no seed at all.
pub fn unread_keys(cfg: &RunConfig) -> Vec<&'static str> {
    match cfg.model {
        Model::Network => Vec::new(),
        Model::Theory => {
            let mut keys = vec!["width", "readout", "init"];
            if cfg.dataset == DatasetKind::File && cfg.targets == TargetKind::Flipped {
                keys.push("seed");
            }
            keys
        }
    }
}

/// The identity of a run's result: its configuration without the [`unread_keys`], written as
/// TOML. Runs with equal keys have equal results (e.g. the theory at every width of a width
/// panel).
pub fn run_key(cfg: &RunConfig) -> Result<String> {
    let mut table = cfg.to_table()?;
    for key in unread_keys(cfg) {
        table.remove(key);
    }
    Ok(table.to_string())
}

/// The identity of a run's [`FirstStage`]: its configuration without the keys of
/// [`SECOND_STAGE_KEYS`] and the [`unread_keys`], written as TOML. Runs with equal keys have equal
/// first stages. The theory's first stage on data from files reads no seed (the data's rows come
/// from `subset_seed`), so its seeds share one first stage.
pub fn first_stage_key(cfg: &RunConfig) -> Result<String> {
    let mut table = cfg.to_table()?;
    for key in SECOND_STAGE_KEYS.iter().copied().chain(unread_keys(cfg)) {
        table.remove(key);
    }
    if cfg.model == Model::Theory && cfg.dataset == DatasetKind::File {
        table.remove("seed");
    }
    Ok(table.to_string())
}

/// Loads the data, trains f and evaluates everything that depends on f alone.
pub fn first_stage(cfg: &RunConfig) -> Result<FirstStage> {
    first_stage_from(&data_stage(cfg)?, &[cfg])
}

/// The first stage shared by the runs `cfgs` (non-empty, all with the [`first_stage_key`] of
/// `cfgs[0]` and the [`data_stage_key`] of `data`): trains f and evaluates everything that depends
/// on f alone, including the products of g_main that some run of `cfgs` needs. A run whose
/// products are missing computes them itself ([`run_from`]), with the same result.
pub fn first_stage_from(data: &DataStage, cfgs: &[&RunConfig]) -> Result<FirstStage> {
    let cfg = *cfgs
        .first()
        .ok_or_else(|| Error::invalid("config", "no run to compute a first stage for"))?;
    cfg.validate()?;
    let arch = cfg.architecture();
    let (train, test) = (data.train.clone(), data.test.clone());
    let (x, z) = (train.x.as_ref(), test.x.as_ref());
    let (f, alpha_f) = train_model(cfg, x, &train.y, sub_seed(cfg.seed, SubSeed::F), false)?;
    let grad_x = f.input_gradients(x)?;
    let f_train = f.predict(x)?;
    let f_test = f.predict(z)?;
    let conditions = match (&data.surrogates, &alpha_f) {
        (Some((f_hat, zd)), Some(alpha_f)) if cfg.conditions => {
            let f_main = conditions::main_term_f(x, alpha_f, z, &arch)?;
            let main = |c: &RunConfig| conditions::main_term_g_defined(c);
            let zs = match cfgs.iter().any(|c| main(c)) {
                true => Some(data.signal_products(alpha_f, &arch)?),
                false => None,
            };
            let zx = match cfgs.iter().any(|c| main(c) && c.scenario == Scenario::B) {
                true => Some(conditions::mislabel_products(z, x, &arch)),
                false => None,
            };
            Some(FirstConditions {
                f_main,
                f_hat: f_hat.clone(),
                zd: Arc::clone(zd),
                zs,
                zx,
            })
        }
        _ => None,
    };
    Ok(FirstStage {
        train,
        test,
        f,
        alpha_f,
        grad_x,
        f_train,
        f_test,
        direction: Arc::clone(&data.direction),
        conditions,
    })
}

/// What the second stage adds to a [`FirstStage`].
struct SecondStage {
    targets: Vec<f64>,
    eta: Mat<f64>,
    r: Mat<f64>,
    eps: f64,
    g: Trained,
    g_train: Vec<f64>,
    terms: ConditionTerms,
    result: RunResult,
}

/// Runs the pipeline of §1 for `cfg` from its first stage (which must have been computed for a
/// configuration with the same [`first_stage_key`]) and returns its metrics.
pub fn run_from(cfg: &RunConfig, first: &FirstStage) -> Result<RunResult> {
    second_stage(cfg, first).map(|s| s.result)
}

/// Targets, perturbations at x_n (§5.1), g on the adversarial set, and the metrics.
fn second_stage(cfg: &RunConfig, first: &FirstStage) -> Result<SecondStage> {
    cfg.validate()?;
    let arch = cfg.architecture();
    let (train, test) = (&first.train, &first.test);
    let (x, z) = (train.x.as_ref(), test.x.as_ref());
    let f = &first.f;

    let targets = draw_targets(&train.y, cfg.targets, sub_seed(cfg.seed, SubSeed::Targets));
    let attack = cfg.attack(train.d());
    let pert = if attack.steps == 1 {
        single_step(first.grad_x.as_ref(), &targets, attack.eps, attack.norm)?
    } else {
        projected(x, &targets, &attack, |p| f.input_gradients(p))?
    };
    let eta = pert.eta;
    let r = match cfg.scenario {
        Scenario::A => eta.clone(),
        Scenario::B => Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] + eta[(i, j)]),
    };

    // g on the adversarial set.
    let (g, alpha_g) = train_model(
        cfg,
        r.as_ref(),
        &targets,
        sub_seed(cfg.seed, SubSeed::G),
        true,
    )?;
    let g_train = g.predict(x)?;
    let g_test = g.predict(z)?;

    let metrics = Metrics {
        standard_train: accuracy(&first.f_train, &train.y),
        standard_test: accuracy(&first.f_test, &test.y),
        perturbation_train: accuracy(&g_train, &train.y),
        perturbation_test: accuracy(&g_test, &test.y),
        agreement: agreement(&first.f_test, &g_test),
        mean_target: targets.iter().sum::<f64>() / targets.len().max(1) as f64,
        mean_abs_cos: mean_abs_cos(eta.as_ref(), Mat::as_ref(&first.direction)),
        eps_threshold_pred: super::threshold::for_run(
            cfg,
            first.grad_x.as_ref(),
            &targets,
            z,
            &first.f_test,
        )?,
    };

    let eps = attack.eps;
    let (terms, summary) = match &first.conditions {
        Some(fc) if cfg.conditions => {
            let alpha_f = first.alpha_f.as_deref();
            let (Some(alpha_f), Some(alpha_g)) = (alpha_f, alpha_g.as_deref()) else {
                return Err(Error::numerical(
                    "conditions",
                    "a flow's coefficients are missing",
                ));
            };
            // Φ_γ(r_n, z): shared by g_main and ĝ.
            let phi_r = infinite_test_train(z, r.as_ref(), &arch, KernelWhat::Phi)?;
            let grad_norms = row_norms(first.grad_x.as_ref());
            let g_inputs = GMainInputs {
                x,
                r: r.as_ref(),
                targets: &targets,
                alpha_f,
                alpha_g,
                grad_norms: &grad_norms,
                eps,
                scenario: cfg.scenario,
            };
            let g_main = if conditions::main_term_g_defined(cfg) {
                let zs = match &fc.zs {
                    Some(zs) => Arc::clone(zs),
                    None => Arc::new(conditions::signal_products(x, alpha_f, z, &arch)?),
                };
                let zx_own;
                let zx = match (cfg.scenario, &fc.zx) {
                    (Scenario::A, _) => None,
                    (Scenario::B, Some(zx)) => Some(zx.as_ref()),
                    (Scenario::B, None) => {
                        zx_own = conditions::mislabel_products(z, x, &arch);
                        Some(zx_own.as_ref())
                    }
                };
                Some(conditions::main_term_g_from(
                    &g_inputs,
                    phi_r.as_ref(),
                    Mat::as_ref(&zs),
                    zx,
                    &arch,
                )?)
            } else {
                None
            };
            let terms = ConditionTerms {
                f_main: fc.f_main.clone(),
                g_main,
                f_hat: fc.f_hat.clone(),
                g_hat: conditions::surrogate_g_from_products(phi_r.as_ref(), Mat::as_ref(&fc.zd))?,
                f: first.f_test.clone(),
                g: g_test,
            };
            let summary = conditions::summarize(&terms)?;
            (terms, Some(summary))
        }
        None if !cfg.conditions => {
            let terms = ConditionTerms {
                f: first.f_test.clone(),
                g: g_test,
                ..ConditionTerms::default()
            };
            (terms, None)
        }
        _ => {
            return Err(Error::invalid(
                "conditions",
                "the first stage was computed with another value of `conditions`",
            ));
        }
    };
    Ok(SecondStage {
        targets,
        eta,
        r,
        eps,
        g,
        g_train,
        terms,
        result: RunResult {
            metrics,
            conditions_evaluated: summary.is_some(),
            conditions: summary.unwrap_or_else(ConditionSummary::undefined),
        },
    })
}

/// [`run`], keeping every intermediate result.
pub fn run_detailed(cfg: &RunConfig) -> Result<RunDetail> {
    let first = first_stage(cfg)?;
    let second = second_stage(cfg, &first)?;
    Ok(RunDetail {
        train: first.train,
        test: first.test,
        targets: second.targets,
        eta: second.eta,
        r: second.r,
        eps: second.eps,
        f_train: first.f_train,
        g_train: second.g_train,
        terms: second.terms,
        result: second.result,
        f: first.f,
        g: second.g,
    })
}
