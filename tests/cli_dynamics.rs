//! The `dynamics` command end to end: identity-loss predictions against the per-pair closed form
//! (§3.3: f_t = f_0 + (t/N) Σ_n y_n Θ(x_n, ·)), mse interpolation at t = ∞, bit-identical output
//! for any --threads, and clean failures.

mod common;

use std::path::Path;

use ntk_perturb::kernel::{KernelWhat, kernel_value};
use ntk_perturb::model::Architecture;

use common::{generate, run, stderr};

/// (set, index, t, f, y) rows of predictions.csv.
fn predictions(path: &Path) -> Vec<(String, usize, f64, f64, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("set,index,t,f,y"));
    lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (
                c[0].to_string(),
                c[1].parse().unwrap(),
                c[2].parse().unwrap(),
                c[3].parse().unwrap(),
                c[4].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn identity_predictions_match_the_per_pair_closed_form() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "10", "0");
    let test = generate(dir.path(), "test.csv", "4", "1");
    let out = dir.path().join("dyn");
    let o = run(&[
        "dynamics",
        "--train",
        &train,
        "--test",
        &test,
        "--loss",
        "identity",
        "--f0",
        "zero",
        "--times",
        "0,2.5,40",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tr = ntk_perturb::data::read_csv(Path::new(&train)).unwrap();
    let te = ntk_perturb::data::read_csv(Path::new(&test)).unwrap();
    let arch = Architecture::default();
    let rows = predictions(&out.join("predictions.csv"));
    assert_eq!(rows.len(), 3 * (10 + 4));
    for (set, index, t, f, y) in rows {
        let ds = if set == "train" { &tr } else { &te };
        assert_eq!(y, ds.y[index]);
        let z = common::row(&ds.x, index);
        let expected: f64 = (0..10)
            .map(|n| {
                let x = common::row(&tr.x, n);
                t / 10.0 * tr.y[n] * kernel_value(&x, &z, &arch, KernelWhat::Ntk)
            })
            .sum();
        assert!(
            (f - expected).abs() <= 1e-12 * (1.0 + expected.abs()),
            "{set} {index} t={t}"
        );
    }
    for name in ["coefficients.csv", "summary.csv", "config.toml"] {
        assert!(out.join(name).exists(), "{name}");
    }
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(summary.starts_with("t,loss,train_accuracy,test_accuracy,zero_eigenvalues\n"));
}

#[test]
fn mse_interpolates_at_infinity_and_output_does_not_depend_on_threads() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "80", "2");
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("dyn{threads}"));
        let o = run(&[
            "dynamics",
            "--train",
            &train,
            "--loss",
            "mse",
            "--times",
            "0,1,100,inf",
            "--threads",
            threads,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        outputs.push(out);
    }
    for name in [
        "predictions.csv",
        "coefficients.csv",
        "summary.csv",
        "spectrum.csv",
    ] {
        let a = std::fs::read(outputs[0].join(name)).unwrap();
        let b = std::fs::read(outputs[1].join(name)).unwrap();
        assert!(a == b, "{name} differs between --threads 1 and 2");
    }
    let rows = predictions(&outputs[0].join("predictions.csv"));
    for (_, _, t, f, y) in rows {
        if t.is_infinite() {
            assert!((f - y).abs() < 1e-8, "F_∞ = Y: {f} vs {y}");
        }
    }
}

#[test]
fn bad_times_and_losses_fail_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "6", "3");
    for (loss, times) in [
        ("identity", "0,inf"),
        ("logistic", "1,inf"),
        ("mse", "3,1"),
        ("mse", "-1"),
    ] {
        let out = dir.path().join("bad");
        let o = run(&[
            "dynamics",
            "--train",
            &train,
            "--loss",
            loss,
            "--times",
            times,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{loss} {times}: {}", stderr(&o));
        assert!(stderr(&o).contains("--times"), "{}", stderr(&o));
        assert!(!out.exists(), "a failed run leaves nothing behind");
    }
}

/// With N chosen from the memory available now so that the train Gram alone would fit (8N² is 60 %
/// of it) but the mse dynamics (2·8N²: the Gram and the eigendecomposition's factors besides it)
/// would not, the command must refuse before building the Gram: exit code 2, a message naming the
/// dynamics and the bytes it would need, and no output.
#[test]
fn too_large_mse_dynamics_are_refused_before_the_gram_is_built() {
    let available = ntk_perturb::memory::available_bytes() as f64;
    let n = (0.6 * available / 8.0).sqrt().ceil() as usize;
    let needed = ntk_perturb::dynamics::memory_bytes(n, 0, ntk_perturb::model::Loss::Mse);
    assert!(needed as f64 > 1.15 * available && (8 * n * n) as f64 <= 0.61 * available);

    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("big.csv").display().to_string();
    let n_text = n.to_string();
    let o = run(&[
        "data", "gauss", "--n", &n_text, "--d", "1", "--seed", "0", "--quiet", "--out", &train,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("dyn");
    let o = run(&[
        "dynamics",
        "--train",
        &train,
        "--loss",
        "mse",
        "--times",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("training dynamics"), "{err}");
    assert!(
        err.contains(&needed.to_string()) || err.contains("GiB"),
        "{err}"
    );
    assert!(!out.join("predictions.csv").exists());
}
