//! Whole-process `gram` rows: the binary itself reads N × d inputs (from `.npy` and from CSV),
//! computes the infinite-width NTK Gram matrix (§4.4) and writes it as `.npy`, against NumPy's
//! in-memory computation of the same matrix on the same data (`benches/numpy_gram.py`, timed by its
//! own timer), measured in the same run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use faer::Mat;

use super::{BenchRow, vm_hwm};
use crate::data::{gauss, write_csv};
use crate::io::write_npy;
use crate::{Error, Result};

/// The NumPy baseline script, shipped in `benches/` and written into the scratch folder.
const SCRIPT: &str = include_str!("../../../benches/numpy_gram.py");

/// A scratch folder removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("ntk-perturb-bench-gram-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Wall seconds and peak resident bytes (sampled from `/proc`, 0 where unknown) of one run of
/// `cmd`, which must succeed.
fn run_timed(mut cmd: Command, what: &str) -> Result<(f64, u64)> {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(Path::new(what), e))?;
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::io(Path::new(what), e))?
        {
            break status;
        }
        peak = peak.max(vm_hwm(&status_file));
        std::thread::sleep(Duration::from_millis(5));
    };
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        return Err(Error::File {
            path: what.to_string(),
            message: format!("exited with {status}: {}", err.trim()),
        });
    }
    Ok((seconds, peak))
}

/// NumPy's in-memory NTK Gram of `x` (median of `reps` timings) and its largest absolute
/// difference from our `k`; `Err(reason)` when Python or NumPy is not available.
fn numpy_baseline(
    dir: &Path,
    x: &Path,
    k: &Path,
    threads: usize,
    reps: usize,
) -> std::result::Result<(f64, f64), String> {
    let script = dir.join("numpy_gram.py");
    std::fs::write(&script, SCRIPT).map_err(|e| e.to_string())?;
    let t = threads.to_string();
    let out = Command::new("python3")
        .arg(&script)
        .arg(x)
        .arg(k)
        .args(["--reps", &reps.to_string()])
        .env("OPENBLAS_NUM_THREADS", &t)
        .env("OMP_NUM_THREADS", &t)
        .env("MKL_NUM_THREADS", &t)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.lines().last().unwrap_or("python3 failed").to_string());
    }
    let field = |key: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse::<f64>().ok())
    };
    match (field("seconds="), field("max_abs_diff=")) {
        (Some(s), Some(d)) => Ok((s, d)),
        _ => Err(format!("unexpected output {:?}", text.trim())),
    }
}

/// `gram` as a whole process on N × d Gaussian inputs, once from `X.npy` + `y.npy` and once from a
/// CSV table (median of `reps` runs each, `--threads threads`), each against NumPy's in-memory
/// kernel of the same data timed in the same run (targets 1.0 and 1.3). `exe` is this program.
/// Without Python or NumPy the baseline is NaN and its description says why.
pub fn gram_whole_process(
    exe: &Path,
    n: usize,
    d: usize,
    threads: usize,
    reps: usize,
) -> Result<Vec<BenchRow>> {
    let scratch = Scratch::new()?;
    let dir = &scratch.0;
    let (csv, x_npy, y_npy) = (dir.join("x.csv"), dir.join("X.npy"), dir.join("y.npy"));
    {
        let ds = gauss(n, d, 1)?;
        write_csv(&ds, &csv)?;
        write_npy(&x_npy, ds.x.as_ref())?;
        write_npy(&y_npy, Mat::from_fn(n, 1, |i, _| ds.y[i]).as_ref())?;
    }
    let out = dir.join("k");
    let gram = |input: &[&Path]| -> Result<(f64, u64)> {
        let mut times = Vec::new();
        let mut peak = 0;
        for _ in 0..reps.max(1) {
            // Each run writes a new directory, as a user's run does: replacing the previous run's
            // 8N²-byte file would add the file system's cost of freeing it.
            if out.exists() {
                std::fs::remove_dir_all(&out).map_err(|e| Error::io(&out, e))?;
            }
            let mut cmd = Command::new(exe);
            cmd.arg("gram").arg("--train").arg(input[0]);
            if let Some(labels) = input.get(1) {
                cmd.arg("--train-labels").arg(labels);
            }
            cmd.arg("--out")
                .arg(&out)
                .args(["--quiet", "--threads", &threads.to_string()]);
            let (s, p) = run_timed(cmd, "ntk-perturb gram")?;
            times.push(s);
            peak = peak.max(p);
        }
        times.sort_by(f64::total_cmp);
        Ok((times[times.len() / 2], peak))
    };
    let from_csv = gram(&[&csv])?;
    let from_npy = gram(&[&x_npy, &y_npy])?;
    let k = out.join("k_train_train.npy");
    let (baseline, base_s) = match numpy_baseline(dir, &x_npy, &k, threads, reps) {
        Ok((s, diff)) => (format!("numpy in-memory NTK Gram (max |ΔK| {diff:.1e})"), s),
        Err(why) => (
            format!("numpy in-memory NTK Gram: unavailable ({why})"),
            f64::NAN,
        ),
    };
    let flops = (n as f64) * (n as f64) * (d as f64);
    let row = |input: &str, (seconds, peak): (f64, u64), target: f64| BenchRow {
        stage: format!("gram whole process, {input}"),
        size: format!("N={n} d={d}"),
        seconds,
        baseline: baseline.clone(),
        baseline_seconds: base_s,
        ratio: seconds / base_s,
        target,
        gflops: flops / seconds / 1e9,
        peak_rss_bytes: peak,
        model_bytes: crate::kernel::matrix_bytes(n, n) + crate::kernel::matrix_bytes(n, d),
    };
    Ok(vec![
        row(".npy input", from_npy, 1.0),
        row("CSV input", from_csv, 1.3),
    ])
}
