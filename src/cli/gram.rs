//! `ntk-perturb gram`: NTK Gram matrices of a dataset (§4).

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use faer::{Mat, MatRef};
use serde::Serialize;

use super::args::choice;
use super::output::say;
use super::{CommonArgs, DataArgs, NetworkArgs, Outputs};
use ntk_perturb::error::Result;
use ntk_perturb::io::NpyMatrixFile;
use ntk_perturb::kernel::{self, KernelKind, KernelWhat};
use ntk_perturb::model::Params;

/// Matrix file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MatrixFormat {
    /// NumPy .npy, float64, Fortran (column-major) order as computed.
    Npy,
    /// CSV with a header c0..c{N-1}, one row per matrix row.
    Csv,
}

/// Arguments of `gram`.
#[derive(Debug, Clone, Args, Serialize)]
#[command(
    after_help = "Example:\n  ntk-perturb gram --train data/mnist_1v2_train.csv.gz --scale 255 --center \\\n      --subset 2000 --kernel infinite --out gram-mnist\n\nWrites k_train_train.npy (N×N), k_test_train.npy (M×N, with --test) and config.toml."
)]
pub struct GramArgs {
    /// Input data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Infinite-width closed form, or the empirical kernel of a sampled network of width --width.
    #[arg(long, value_parser = choice::<KernelKind>(), default_value = "infinite")]
    pub kernel: KernelKind,
    /// Which kernel: the NTK Θ, the derivative kernel Φ, or the NNGP kernel Σ.
    #[arg(long, value_parser = choice::<KernelWhat>(), default_value = "ntk")]
    pub what: KernelWhat,
    /// Width m of the sampled network (empirical kernel only).
    #[arg(long, default_value_t = 1000)]
    pub width: usize,
    /// Network architecture.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Output format of the matrices.
    #[arg(long, value_enum, default_value = "npy")]
    pub format: MatrixFormat,
    /// Output directory (must not exist or be empty, unless --force).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace the contents of an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Threads, seed, quiet.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `gram`.
pub fn run(args: GramArgs) -> Result<()> {
    let threads = super::init_threads(args.common.threads)?;
    let arch = args.network.architecture();
    arch.validate()?;
    let config = args.network.config(args.width);
    if args.kernel == KernelKind::Empirical {
        config.validate()?;
    }
    let out = Outputs::prepare(&args.out, args.force)?;
    let (train, test) = args.data.load(&out)?;
    let start = Instant::now();
    let params = match args.kernel {
        KernelKind::Empirical => Some(Params::sample(train.d(), &config, args.common.seed)?),
        KernelKind::Infinite => None,
    };
    let (x, n) = (train.x.as_ref(), train.n());
    let trace = |k: MatRef<'_, f64>| (0..n).map(|i| k[(i, i)]).sum::<f64>();
    let (elapsed, trace) = match args.format {
        // Finished columns are written to the file while the rest is computed.
        MatrixFormat::Npy => {
            let mut file = NpyMatrixFile::create(&out.file("k_train_train.npy"), n, n)?;
            file.fill(|k, ready| {
                kernel::train_gram_into(x, params.as_ref(), &arch, args.what, k, ready)
            })?;
            let stats = (start.elapsed().as_secs_f64(), trace(file.matrix()));
            file.finish()?;
            stats
        }
        MatrixFormat::Csv => {
            let (k, _) = kernel::train_and_test_grams(x, None, params.as_ref(), &arch, args.what)?;
            let stats = (start.elapsed().as_secs_f64(), trace(k.as_ref()));
            write_matrix(&out, "k_train_train", &k, args.format)?;
            stats
        }
    };
    if let Some(t) = &test {
        let kt = kernel::test_gram(t.x.as_ref(), x, params.as_ref(), &arch, args.what)?;
        write_matrix(&out, "k_test_train", &kt, args.format)?;
    }
    out.write_config("gram", threads, &args)?;
    say(
        args.common.quiet,
        format!(
            "gram: {:?} {:?} kernel of N = {} inputs (d = {}) in {elapsed:.2} s, trace {trace:.6e} -> {}",
            args.kernel,
            args.what,
            n,
            train.d(),
            out.path().display()
        ),
    );
    out.commit();
    Ok(())
}

fn write_matrix(out: &Outputs, stem: &str, m: &Mat<f64>, format: MatrixFormat) -> Result<()> {
    match format {
        MatrixFormat::Npy => {
            ntk_perturb::io::write_npy(&out.file(&format!("{stem}.npy")), m.as_ref())
        }
        MatrixFormat::Csv => {
            ntk_perturb::io::write_matrix_csv(&out.file(&format!("{stem}.csv")), m.as_ref())
        }
    }
}
