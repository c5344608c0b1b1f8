//! `ntk-perturb data`: synthetic datasets of §7.1 written as CSV.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::Serialize;

use super::CommonArgs;
use super::output::{ResolvedConfig, say};
use ntk_perturb::data::{self, DEFAULT_SHIFT, Dataset};
use ntk_perturb::error::{Error, Result};

/// Which generator.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// x ~ N(0, I_d) with labels uniform ±1, independent of x (pure noise: f memorises).
    #[command(
        after_help = "Example:\n  ntk-perturb data gauss --n 1000 --d 100 --seed 0 --out gauss-train.csv"
    )]
    Gauss(GenerateArgs),
    /// N/2 samples from N(+s·1, I_d) labelled +1 and N/2 from N(−s·1, I_d) labelled −1.
    #[command(
        after_help = "Example:\n  ntk-perturb data shifted-gauss --n 1000 --d 100 --seed 0 --out train.csv\n  ntk-perturb data shifted-gauss --n 1000 --d 100 --seed 1 --out test.csv"
    )]
    ShiftedGauss(GenerateArgs),
}

/// Arguments of both generators.
#[derive(Debug, Clone, Args, Serialize)]
pub struct GenerateArgs {
    /// Number of samples N (even for shifted-gauss).
    #[arg(long)]
    pub n: usize,
    /// Input dimension d.
    #[arg(long)]
    pub d: usize,
    /// Mean shift s of the two classes (shifted-gauss only).
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_SHIFT)]
    pub shift: f64,
    /// Output CSV file (gzip-compressed when it ends in .gz); the configuration goes to FILE.config.toml.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Threads, seed, quiet.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `data`.
pub fn run(cmd: DataCommand) -> Result<()> {
    let (name, args) = match &cmd {
        DataCommand::Gauss(a) => ("gauss", a),
        DataCommand::ShiftedGauss(a) => ("shifted-gauss", a),
    };
    let threads = super::init_threads(args.common.threads)?;
    validate(args)?;
    let ds = match cmd {
        DataCommand::Gauss(_) => data::gauss(args.n, args.d, args.common.seed)?,
        DataCommand::ShiftedGauss(_) => {
            data::shifted_gauss(args.n, args.d, args.shift, args.common.seed)?
        }
    };
    let existed = args.out.exists();
    data::write_csv(&ds, &args.out)?;
    if let Err(e) = write_beside(
        &args.out,
        &ResolvedConfig::new(&format!("data {name}"), threads, args),
    ) {
        // A table without its configuration would not say what it was computed from.
        if !existed {
            let _ = std::fs::remove_file(&args.out);
        }
        return Err(e);
    }
    summary(args, name, &ds);
    Ok(())
}

fn validate(args: &GenerateArgs) -> Result<()> {
    if args.n == 0 {
        return Err(Error::invalid("--n", "need at least one sample"));
    }
    if args.d == 0 {
        return Err(Error::invalid("--d", "need at least one feature"));
    }
    if !args.shift.is_finite() {
        return Err(Error::invalid("--shift", "must be finite"));
    }
    let parent = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::invalid(
            "--out",
            format!("the directory {} does not exist", parent.display()),
        ));
    }
    if args.out.exists() && !args.force {
        return Err(Error::invalid(
            "--out",
            format!("{} exists; pass --force to replace it", args.out.display()),
        ));
    }
    Ok(())
}

/// Writes the resolved configuration to `FILE.config.toml` next to an output file.
fn write_beside<T: Serialize>(out: &Path, config: &T) -> Result<()> {
    let mut name = out.as_os_str().to_owned();
    name.push(".config.toml");
    let path = PathBuf::from(name);
    let text = toml::to_string_pretty(config)
        .map_err(|e| Error::numerical("writing the configuration", e.to_string()))?;
    ntk_perturb::io::write_atomic(&path, |w| {
        w.write_all(text.as_bytes())
            .map_err(|e| Error::io(&path, e))
    })
}

fn summary(args: &GenerateArgs, name: &str, ds: &Dataset) {
    let positives = ds.y.iter().filter(|&&v| v > 0.0).count();
    say(
        args.common.quiet,
        format!(
            "data {name}: N = {}, d = {}, {positives} labelled +1 -> {}",
            ds.n(),
            ds.d(),
            args.out.display()
        ),
    );
}
