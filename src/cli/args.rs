//! Argument groups shared by the subcommands.

use std::path::PathBuf;

use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use serde::Serialize;

use super::Outputs;
use ntk_perturb::choice::Choice;
use ntk_perturb::data::{Center, Dataset, Preprocess, Source};
use ntk_perturb::error::Result;
use ntk_perturb::model::{Architecture, Init, NetworkConfig, Readout};

/// The value parser of a library enum: its names from [`Choice::CHOICES`], each with its
/// description in `--help`.
pub fn choice<T: Choice + Clone + Send + Sync>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(
        T::CHOICES
            .iter()
            .map(|(name, _, help)| PossibleValue::new(*name).help(help.trim())),
    )
    .try_map(|name: String| T::from_name(&name).ok_or_else(|| format!("unknown value {name:?}")))
}

/// Flags every subcommand has.
#[derive(Debug, Clone, Args, Serialize)]
pub struct CommonArgs {
    /// Worker threads [default: all cores]. Results are identical for any value.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Seed for every random choice of the run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print nothing but errors (no progress bars, no summary).
    #[arg(long)]
    pub quiet: bool,
}

/// Input data and the paper's preprocessing (§7.1).
#[derive(Debug, Clone, Args, Serialize)]
pub struct DataArgs {
    /// Training set: CSV or CSV.gz with a header, feature columns and a label column `y` (±1); or
    /// a NumPy .npz archive with arrays X (N×d) and y (N labels ±1); or a .npy feature array
    /// X (N×d) with --train-labels.
    #[arg(long, value_name = "FILE")]
    pub train: PathBuf,
    /// Labels of a .npy training array: a .npy array of N values ±1.
    #[arg(long, value_name = "FILE")]
    pub train_labels: Option<PathBuf>,
    /// Held-out test set in any of the training set's formats.
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    /// Labels of a .npy test array: a .npy array of M values ±1.
    #[arg(long, value_name = "FILE", requires = "test")]
    pub test_labels: Option<PathBuf>,
    /// Divide every feature by this value (255 for raw pixels).
    #[arg(long, allow_negative_numbers = true, value_name = "S")]
    pub scale: Option<f64>,
    /// Subtract the training mean from train and test: `scalar` (one mean over all features, the
    /// paper's choice; the default when the flag has no value) or `per-feature`.
    #[arg(long, value_parser = choice::<Center>(), num_args = 0..=1, default_missing_value = "scalar", value_name = "MODE")]
    pub center: Option<Center>,
    /// Keep a random subset of this many training rows (listed in rows.csv).
    #[arg(long, value_name = "N")]
    pub subset: Option<usize>,
    /// Keep a random subset of this many test rows (listed in test_rows.csv).
    #[arg(long, value_name = "N")]
    pub test_subset: Option<usize>,
    /// Seed of the random subsets, separate from --seed so that the rows stay the same when the
    /// network's seed changes.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub subset_seed: u64,
}

impl DataArgs {
    /// Loads and preprocesses the training (and test) data and writes `rows.csv` /
    /// `test_rows.csv` (output_row, source_row, label) into `out` for the subsets taken.
    pub fn load(&self, out: &Outputs) -> Result<(Dataset, Option<Dataset>)> {
        let pre = Preprocess {
            scale: self.scale,
            center: self.center,
            subset: self.subset,
            test_subset: self.test_subset,
            seed: self.subset_seed,
        };
        let train = Source {
            path: &self.train,
            labels: self.train_labels.as_deref(),
        };
        let test = self.test.as_deref().map(|path| Source {
            path,
            labels: self.test_labels.as_deref(),
        });
        let (train, test, selection) = ntk_perturb::data::load_sources(train, test, &pre)?;
        selection.write(out.path(), &train, test.as_ref())?;
        Ok((train, test))
    }
}

/// The network of §2.1 / §13.1 (width given by each command).
#[derive(Debug, Clone, Args, Serialize)]
pub struct NetworkArgs {
    /// Leaky-ReLU slope γ ∈ [0, 1); 0 is ReLU.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.0)]
    pub gamma: f64,
    /// Hidden units without bias (the NTK loses its "+1" term).
    #[arg(long)]
    pub no_bias: bool,
    /// Readout distribution: N(0, 1/m) or ±1/√m.
    #[arg(long, value_parser = choice::<Readout>(), default_value = "gaussian")]
    pub readout: Readout,
    /// Initialisation: independent neurons, or mirrored pairs so that f_0 ≡ 0.
    #[arg(long, value_parser = choice::<Init>(), default_value = "standard")]
    pub init: Init,
    /// Train the readout too (NTK parametrisation; adds Σ_γ to the NTK).
    #[arg(long)]
    pub train_readout: bool,
}

impl NetworkArgs {
    /// The architecture part (what the infinite-width kernels depend on).
    pub fn architecture(&self) -> Architecture {
        Architecture {
            gamma: self.gamma,
            bias: !self.no_bias,
            train_readout: self.train_readout,
        }
    }

    /// The full network configuration at width `width`.
    pub fn config(&self, width: usize) -> NetworkConfig {
        NetworkConfig {
            width,
            arch: self.architecture(),
            readout: self.readout,
            init: self.init,
        }
    }
}
