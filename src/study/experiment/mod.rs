//! Perturbation learning end to end (§1, §6, §7): one run of the pipeline, the metrics of §7.2, the
//! condition bookkeeping of §6.3 and resumable sweeps.
//!
//! * [`config`]: [`RunConfig`], the TOML form of one run (unknown keys name the nearest valid key);
//! * [`pipeline`]: [`run`] — data → f → targets → perturbations → g → [`RunResult`];
//! * [`conditions`]: the surrogates f̂, ĝ (§6.2), the main terms of §6.1 and conditions C1–C3
//!   per test point (our reconstruction of §6.3; the paper's exact form is unverified);
//! * [`sweep`]: list-valued keys expanded to cells ([`SweepSpec`], [`Sweep`]), run in parallel into
//!   one tidy `results.csv` that survives interruptions, whole or as shards `k/n`;
//! * [`threshold`]: the predicted ε threshold ε* of scenario (a) (§6.6) and the observed one;
//! * [`merge`]: the output directories of the shards of a sweep or preset combined into the
//!   directory of the unsharded run ([`merge_sweep`], [`merge_preset`]).
//!
//! From Rust, a sweep is built from a configuration value and run in memory or to a file:
//!
//! ```no_run
//! use ntk_perturb::experiment::{RunConfig, SweepSpec};
//! let base = RunConfig { n: Some(200), d: Some(20), eps_per_coordinate: Some(0.01), ..RunConfig::default() };
//! let sweep = SweepSpec::from_run(&base)?
//!     .vary("eps_per_coordinate", vec![0.0.into(), 0.01.into()])?
//!     .with_seeds(3)?
//!     .expand()?;
//! let rows = sweep.run_in_memory(None)?; // or sweep.run_to_file(path, &options)
//! # Ok::<(), ntk_perturb::Error>(())
//! ```

pub mod conditions;
pub mod config;
pub mod config_file;
pub mod maps;
pub mod merge;
pub mod pipeline;
pub mod plan;
pub mod presets;
pub mod reproduce;
pub mod selection;
pub mod sweep;
pub mod threshold;

pub use conditions::{ConditionSummary, ConditionTerms};
pub use config::{DatasetKind, KEYS, Model, RunConfig, Scenario};
pub use merge::{MergeReport, ShardDir, merge_preset, merge_sweep};
pub use pipeline::{
    CONDITION_METRICS, DATA_STAGE_KEYS, DataStage, FirstStage, METRICS, Metrics, RunDetail,
    RunResult, SECOND_STAGE_KEYS, data_stage, data_stage_key, first_stage, first_stage_from,
    first_stage_key, load_data, metric_names, run, run_detailed, run_from, run_key, unread_keys,
};
pub use presets::{Panel, Preset, preset};
pub use reproduce::{Models, ReproduceOptions, SummaryRow, run_preset};
pub use selection::write_selected_rows;
pub use sweep::{Cell, Shard, Sweep, SweepOptions, SweepReport, SweepSpec, TidyRow};
