//! Configuration of one perturbation-learning run (§1, §7.3) and its TOML form.
//!
//! Every key of [`RunConfig`] is a flat TOML key; unknown keys are refused with the nearest valid
//! key (edit distance) in the message. Defaults are the paper's synthetic scenario-(a) setting
//! (§7.3, §13.1): width 100, γ = 0, trained biases, identity loss, lr 1, 1000 steps, L2 single-step
//! perturbations toward uniformly random targets.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::{Center, Preprocess};
use crate::error::{Error, Result};
use crate::model::{Architecture, Init, Loss, NetworkConfig, Readout};
use crate::network::TrainOptions;
use crate::perturbation::{AttackOptions, Norm, TargetKind, eps_from_per_coordinate};

crate::named_enum! {
    /// Where the data of a run comes from (§7.1).
    pub enum DatasetKind {
        /// N/2 samples from N(+shift·1, I) labelled +1, N/2 from N(−shift·1, I) labelled −1.
        ShiftedGauss = "shifted-gauss",
        /// x ~ N(0, I), labels uniform ±1 independent of x.
        Gauss = "gauss",
        /// CSV / CSV.gz files given by `train` and `test`.
        File = "file",
    }
}

crate::named_enum! {
    /// How f and g are obtained.
    pub enum Model {
        /// A finite-width network trained by full-batch gradient descent (§3.2).
        Network = "network",
        /// The infinite-width linearised predictor f_T(z) = Σ_n α_n(T) Θ(x_n, z) with f_0 = 0 (§3.3, §13.2).
        Theory = "theory",
    }
}

crate::named_enum! {
    /// What g is trained on (§1 step 4).
    pub enum Scenario {
        /// r_n = η_n: perturbations alone.
        A = "a",
        /// r_n = x_n + η_n: adversarial examples.
        B = "b",
    }
}

/// One run of the pipeline of §1. Field names are the TOML keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    // --- data (§7.1) ---
    /// `shifted-gauss`, `gauss` or `file`.
    pub dataset: DatasetKind,
    /// Training set size N (synthetic datasets; even for shifted Gauss).
    pub n: Option<usize>,
    /// Test set size (synthetic datasets), used for the agreement metric.
    pub n_test: usize,
    /// Input dimension d (synthetic datasets).
    pub d: Option<usize>,
    /// Mean shift of shifted Gauss.
    pub shift: f64,
    /// Training file (`dataset = "file"`).
    pub train: Option<PathBuf>,
    /// Test file (`dataset = "file"`, required).
    pub test: Option<PathBuf>,
    /// Divide file features by this value.
    pub scale: Option<f64>,
    /// Subtract the training mean (`scalar` or `per-feature`).
    pub center: Option<Center>,
    /// Seeded random subset of the training file.
    pub subset: Option<usize>,
    /// Seeded random subset of the test file.
    pub test_subset: Option<usize>,
    /// Seed of `subset` and `test_subset`, separate from `seed` so that the rows stay the same
    /// when the seed of the run changes.
    pub subset_seed: u64,

    // --- network (§2.1, §13.1) ---
    /// Width m of f and g.
    pub width: usize,
    /// Leaky-ReLU slope γ ∈ [0, 1).
    pub gamma: f64,
    /// Trained hidden biases.
    pub bias: bool,
    /// Readout distribution.
    pub readout: Readout,
    /// Initialisation scheme.
    pub init: Init,
    /// Train the readout too (adds Σ_γ to the NTK).
    pub train_readout: bool,

    // --- training of f and g (§3) ---
    /// `network` (finite width, simulated) or `theory` (infinite-width linearised flow).
    pub model: Model,
    /// Per-sample loss of both trainings.
    pub loss: Loss,
    /// Learning rate of f.
    pub lr_f: f64,
    /// Learning rate of g.
    pub lr_g: f64,
    /// Gradient steps of f (flow time T_f = lr_f · steps_f without momentum; with momentum the
    /// matched time of [`TrainOptions::flow_time`]).
    pub steps_f: usize,
    /// Gradient steps of g.
    pub steps_g: usize,
    /// SGD momentum μ ∈ [0, 1) of both trainings.
    pub momentum: f64,

    // --- perturbation (§5) ---
    /// `a` (r_n = η_n) or `b` (r_n = x_n + η_n).
    pub scenario: Scenario,
    /// Size ε of the perturbation in the norm `norm` (‖η_n‖₂ = ε for L2, ‖η_n‖∞ = ε for L∞);
    /// exactly one of `eps` and `eps_per_coordinate` must be given.
    pub eps: Option<f64>,
    /// Size c per coordinate: ε = c·√d for L2 (the L2 size of a change of c in every
    /// coordinate), ε = c for L∞ ([`eps_from_per_coordinate`]).
    pub eps_per_coordinate: Option<f64>,
    /// Norm of the budget.
    pub norm: Norm,
    /// Target labels y^adv: `random` (the paper), `flipped` or `balanced`.
    pub targets: TargetKind,
    /// Steps of the projected attack (1 = the paper's single step).
    pub attack_steps: usize,

    // --- metrics (§7.2, §6.3) ---
    /// Evaluate the conditions of the agreement theorem (§6.3): the `cond_*`, `agree_given_*` and
    /// `predicted_disagree*` metrics. With `false` a run reports accuracies, agreement, the target
    /// mean and the cosine only, and skips the kernel terms of the conditions (for a network also
    /// the infinite-width flows of f and g that give their main terms).
    pub conditions: bool,

    /// Seed of the run; data, f, targets and g use seeds derived from it.
    pub seed: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            dataset: DatasetKind::ShiftedGauss,
            n: None,
            n_test: 1000,
            d: None,
            shift: crate::data::DEFAULT_SHIFT,
            train: None,
            test: None,
            scale: None,
            center: None,
            subset: None,
            test_subset: None,
            subset_seed: 0,
            width: 100,
            gamma: 0.0,
            bias: true,
            readout: Readout::Gaussian,
            init: Init::Standard,
            train_readout: false,
            model: Model::Network,
            loss: Loss::Identity,
            lr_f: 1.0,
            lr_g: 1.0,
            steps_f: 1000,
            steps_g: 1000,
            momentum: 0.0,
            scenario: Scenario::A,
            eps: None,
            eps_per_coordinate: None,
            norm: Norm::L2,
            targets: TargetKind::Random,
            attack_steps: 1,
            conditions: true,
            seed: 0,
        }
    }
}

/// Every key of [`RunConfig`], in the canonical order used for sweep expansion and `run_id`s.
pub const KEYS: &[&str] = &[
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
    "width",
    "gamma",
    "bias",
    "readout",
    "init",
    "train_readout",
    "model",
    "loss",
    "lr_f",
    "lr_g",
    "steps_f",
    "steps_g",
    "momentum",
    "scenario",
    "eps",
    "eps_per_coordinate",
    "norm",
    "targets",
    "attack_steps",
    "conditions",
    "seed",
];

/// The valid key closest to `key` among `valid` in Levenshtein distance (first one on ties).
pub fn nearest_key<'a>(key: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .copied()
        .min_by_key(|k| strsim::levenshtein(key, k))
}

/// The error for an unknown key, naming the nearest valid one.
pub(crate) fn unknown_key(key: &str, valid: &[&str]) -> Error {
    let hint = nearest_key(key, valid).map_or(String::new(), |k| format!("; did you mean `{k}`?"));
    Error::invalid(key, format!("unknown configuration key `{key}`{hint}"))
}

impl RunConfig {
    /// Parses one run from TOML text (every value a scalar).
    pub fn from_toml_str(text: &str) -> Result<RunConfig> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::invalid("config", e.to_string()))?;
        Self::from_table(&table)
    }

    /// Builds a run from a TOML table, refusing unknown keys (naming the nearest valid key) and
    /// ill-typed values (naming the key), then validates it.
    pub fn from_table(table: &toml::Table) -> Result<RunConfig> {
        let cfg = Self::from_table_unchecked(table)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// [`RunConfig::from_table`] without the final [`RunConfig::validate`]: keys and value types
    /// only, so that [`RunConfig::problems`] can list every range problem.
    pub(crate) fn from_table_unchecked(table: &toml::Table) -> Result<RunConfig> {
        for key in table.keys() {
            if !KEYS.contains(&key.as_str()) {
                return Err(unknown_key(key, KEYS));
            }
        }
        let table = &without_center_none(table);
        let cfg: RunConfig = match toml::Value::Table(table.clone()).try_into() {
            Ok(cfg) => cfg,
            Err(e) => return Err(blame_key(table, e)),
        };
        Ok(cfg)
    }

    /// The configuration as a TOML table (unset optional keys omitted).
    pub fn to_table(&self) -> Result<toml::Table> {
        match toml::Value::try_from(self) {
            Ok(toml::Value::Table(t)) => Ok(t),
            Ok(_) => Err(Error::invalid("config", "not a table")),
            Err(e) => Err(Error::invalid("config", e.to_string())),
        }
    }

    /// The preprocessing of data read from files: scale, centring and the row subsets.
    pub fn preprocess(&self) -> Preprocess {
        Preprocess {
            scale: self.scale,
            center: self.center,
            subset: self.subset,
            test_subset: self.test_subset,
            seed: self.subset_seed,
        }
    }

    /// The architecture shared by f, g and the infinite-width kernels.
    pub fn architecture(&self) -> Architecture {
        Architecture {
            gamma: self.gamma,
            bias: self.bias,
            train_readout: self.train_readout,
        }
    }

    /// The network configuration of f and g.
    pub fn network(&self) -> NetworkConfig {
        NetworkConfig {
            width: self.width,
            arch: self.architecture(),
            readout: self.readout,
            init: self.init,
        }
    }

    /// Training options of f (`g = false`) or g (`g = true`).
    pub fn train_options(&self, g: bool) -> TrainOptions {
        let (lr, steps) = if g {
            (self.lr_g, self.steps_g)
        } else {
            (self.lr_f, self.steps_f)
        };
        TrainOptions {
            lr,
            steps,
            momentum: self.momentum,
            loss: self.loss,
            record_every: steps.max(1),
        }
    }

    /// Gradient-flow times (T_f, T_g) of the two trainings, matched to their steps, learning rates
    /// and momentum by [`TrainOptions::flow_time`] (§3.2; lr·steps without momentum).
    pub fn flow_times(&self) -> (f64, f64) {
        (
            self.train_options(false).flow_time(self.steps_f),
            self.train_options(true).flow_time(self.steps_g),
        )
    }

    /// ε for input dimension `d` in the norm `norm`: `eps`, or from `eps_per_coordinate` c by
    /// [`eps_from_per_coordinate`] (c·√d for L2, c for L∞).
    pub fn epsilon(&self, d: usize) -> f64 {
        match (self.eps, self.eps_per_coordinate) {
            (Some(e), _) => e,
            (None, Some(c)) => eps_from_per_coordinate(c, d, self.norm),
            (None, None) => 0.0,
        }
    }

    /// Attack options for input dimension `d`.
    pub fn attack(&self, d: usize) -> AttackOptions {
        AttackOptions {
            eps: self.epsilon(d),
            norm: self.norm,
            steps: self.attack_steps,
            step_size: None,
        }
    }

    /// Checks that the keys fit together; every error names the offending key. Returns the first
    /// of [`RunConfig::problems`].
    pub fn validate(&self) -> Result<()> {
        match self.problems().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every problem of the configuration, at most one per key, each an
    /// [`Error::InvalidArgument`] naming its key; empty when the configuration is valid.
    pub fn problems(&self) -> Vec<Error> {
        let mut found: Vec<Error> = Vec::new();
        self.check_data(&mut found);
        let checks: [fn(&RunConfig) -> Result<()>; 6] = [
            Self::check_gamma,
            Self::check_width,
            Self::check_training,
            Self::check_momentum,
            Self::check_eps,
            Self::check_attack_steps,
        ];
        found.extend(checks.iter().filter_map(|check| check(self).err()));
        let mut seen: Vec<String> = Vec::new();
        found.retain(|e| match e {
            Error::InvalidArgument {
                parameter: flag, ..
            } if seen.contains(flag) => false,
            Error::InvalidArgument {
                parameter: flag, ..
            } => {
                seen.push(flag.clone());
                true
            }
            _ => true,
        });
        found
    }

    /// The data keys: sizes of a synthetic dataset or the files, and keys of the other source.
    fn check_data(&self, found: &mut Vec<Error>) {
        let synthetic = self.dataset != DatasetKind::File;
        if synthetic {
            match self.n {
                None => found.push(Error::invalid("n", "required for a synthetic dataset")),
                Some(0) => found.push(Error::invalid("n", "must be positive")),
                Some(n) if self.dataset == DatasetKind::ShiftedGauss && n % 2 == 1 => {
                    found.push(Error::invalid(
                        "n",
                        format!("shifted-gauss needs an even N, got {n}"),
                    ));
                }
                _ => {}
            }
            match self.d {
                None => found.push(Error::invalid("d", "required for a synthetic dataset")),
                Some(0) => found.push(Error::invalid("d", "must be positive")),
                _ => {}
            }
            if self.n_test == 0 {
                found.push(Error::invalid("n_test", "must be positive"));
            } else if self.dataset == DatasetKind::ShiftedGauss && self.n_test % 2 == 1 {
                found.push(Error::invalid(
                    "n_test",
                    format!("shifted-gauss needs an even size, got {}", self.n_test),
                ));
            }
            if !self.shift.is_finite() {
                found.push(Error::invalid("shift", "must be finite"));
            }
            for (key, set) in [
                ("train", self.train.is_some()),
                ("test", self.test.is_some()),
                ("scale", self.scale.is_some()),
                ("center", self.center.is_some()),
                ("subset", self.subset.is_some()),
                ("test_subset", self.test_subset.is_some()),
            ] {
                if set {
                    found.push(Error::invalid(key, "only for dataset = \"file\""));
                }
            }
        } else {
            if self.train.is_none() {
                found.push(Error::invalid("train", "required for dataset = \"file\""));
            }
            if self.test.is_none() {
                found.push(Error::invalid(
                    "test",
                    "required for dataset = \"file\" (agreement is measured on it)",
                ));
            }
            for (key, set) in [("n", self.n.is_some()), ("d", self.d.is_some())] {
                if set {
                    found.push(Error::invalid(
                        key,
                        "only for synthetic datasets (use subset for files)",
                    ));
                }
            }
            if let Some(s) = self.scale
                && !(s.is_finite() && s > 0.0)
            {
                found.push(Error::invalid(
                    "scale",
                    format!("must be finite and positive, got {s}"),
                ));
            }
            for (key, size) in [("subset", self.subset), ("test_subset", self.test_subset)] {
                if size == Some(0) {
                    found.push(Error::invalid(key, "must be at least 1 row"));
                }
            }
        }
    }

    /// γ ∈ [0, 1).
    fn check_gamma(&self) -> Result<()> {
        self.architecture().validate()
    }

    /// The width (≥ 1; even for the antisymmetric init), checked apart from γ.
    fn check_width(&self) -> Result<()> {
        let arch = Architecture {
            gamma: 0.0,
            ..self.architecture()
        };
        NetworkConfig {
            arch,
            ..self.network()
        }
        .validate()
    }

    /// Learning rates and step counts of f and g, checked apart from the momentum.
    fn check_training(&self) -> Result<()> {
        let plain = RunConfig {
            momentum: 0.0,
            ..self.clone()
        };
        plain
            .train_options(false)
            .validate()
            .map_err(|e| rename_parameter(e, &[("lr", "lr_f"), ("steps", "steps_f")]))?;
        plain
            .train_options(true)
            .validate()
            .map_err(|e| rename_parameter(e, &[("lr", "lr_g"), ("steps", "steps_g")]))
    }

    /// μ ∈ [0, 1).
    fn check_momentum(&self) -> Result<()> {
        TrainOptions {
            lr: 1.0,
            steps: 1,
            ..self.train_options(false)
        }
        .validate()
    }

    /// Exactly one of `eps` and `eps_per_coordinate`, finite and ≥ 0.
    fn check_eps(&self) -> Result<()> {
        let eps = match (self.eps, self.eps_per_coordinate) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "eps",
                    "give exactly one of eps and eps_per_coordinate, not both",
                ));
            }
            (None, None) => {
                return Err(Error::invalid(
                    "eps",
                    "give exactly one of eps and eps_per_coordinate",
                ));
            }
            (Some(e), None) => ("eps", e),
            (None, Some(c)) => ("eps_per_coordinate", c),
        };
        if !(eps.1.is_finite() && eps.1 >= 0.0) {
            return Err(Error::invalid(
                eps.0,
                format!("must be finite and ≥ 0, got {}", eps.1),
            ));
        }
        Ok(())
    }

    /// At least one attack step.
    fn check_attack_steps(&self) -> Result<()> {
        if self.attack_steps == 0 {
            return Err(Error::invalid("attack_steps", "at least one step"));
        }
        Ok(())
    }
}

/// `center = "none"` means no centring: the key is dropped (an absent `center`).
fn without_center_none(table: &toml::Table) -> toml::Table {
    let mut table = table.clone();
    if table.get("center").and_then(toml::Value::as_str) == Some("none") {
        table.remove("center");
    }
    table
}

/// The names of the values of an enumeration as the configuration spells them.
fn choices<E: crate::choice::Choice>() -> Vec<String> {
    E::CHOICES
        .iter()
        .map(|(name, _, _)| name.to_string())
        .collect()
}

/// What a key accepts, in the words of the error message.
fn expected(key: &str) -> String {
    let one_of = |names: Vec<String>| format!("one of {}", names.join(", "));
    match key {
        "dataset" => one_of(choices::<DatasetKind>()),
        "center" => {
            let mut names = choices::<Center>();
            names.push("none".into());
            one_of(names)
        }
        "readout" => one_of(choices::<Readout>()),
        "init" => one_of(choices::<Init>()),
        "model" => one_of(choices::<Model>()),
        "loss" => one_of(choices::<Loss>()),
        "scenario" => one_of(choices::<Scenario>()),
        "norm" => one_of(choices::<Norm>()),
        "targets" => one_of(choices::<TargetKind>()),
        "bias" | "train_readout" | "conditions" => "true or false".into(),
        "train" | "test" => "a file path in quotes".into(),
        "shift" | "scale" | "gamma" | "lr_f" | "lr_g" | "momentum" | "eps"
        | "eps_per_coordinate" => "a number".into(),
        _ => "a whole number ≥ 0 (no quotes, no decimal point)".into(),
    }
}

/// Why `value` cannot be the value of `key` (a known key), in the user's words; `None` when its
/// type is right (its range is checked by [`RunConfig::problems`]).
pub(crate) fn value_problem(key: &str, value: &toml::Value) -> Option<String> {
    let mut one = toml::Table::new();
    one.insert(key.to_string(), value.clone());
    let accepted = toml::Value::Table(without_center_none(&one))
        .try_into::<RunConfig>()
        .is_ok();
    (!accepted).then(|| format!("must be {}, got {value}", expected(key)))
}

/// Renames the parameter of an [`Error::InvalidArgument`] to the configuration key it comes from
/// where the two differ (`lr` of g's training is the key `lr_g`). `map` lists (parameter, key)
/// pairs; other parameters are keys already.
fn rename_parameter(e: Error, map: &[(&str, &str)]) -> Error {
    match e {
        Error::InvalidArgument { parameter, message } => {
            let key = map
                .iter()
                .find(|(p, _)| *p == parameter)
                .map_or(parameter, |(_, k)| (*k).to_string());
            Error::invalid(key, message)
        }
        other => other,
    }
}

/// Turns a deserialisation error into one naming the key whose value is ill-typed: each key is
/// tried alone (every key has a default), the first that fails is blamed.
fn blame_key(table: &toml::Table, e: toml::de::Error) -> Error {
    for (key, value) in table {
        let mut one = toml::Table::new();
        one.insert(key.clone(), value.clone());
        if let Err(err) = toml::Value::Table(one).try_into::<RunConfig>() {
            return Error::invalid(key.as_str(), err.message().trim().to_string());
        }
    }
    Error::invalid("config", e.to_string())
}
