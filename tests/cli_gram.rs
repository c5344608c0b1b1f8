//! The `data` and `gram` commands end to end: outputs against the kernel derived here by another
//! route (Sheppard's orthant probabilities), thread-count independence, and clean failures.

mod common;

use std::path::Path;

use common::{generate, run, stderr};

/// Θ(x, z) = Φ_γ(x, z)·(x·z + 1) with Φ_γ = E[φ'(u)φ'(v)] written as orthant probabilities of the
/// centred Gaussian pair (u, v) with correlation ρ: P(u ≥ 0, v ≥ 0) = P(u < 0, v < 0) =
/// 1/4 + asin(ρ)/(2π) (Sheppard), the mixed orthants 1/4 − asin(ρ)/(2π), so
/// Φ_γ = (1 + γ²)·P(++) + 2γ·P(+−). This uses arcsine and no angle, unlike the crate's formula.
fn sheppard_ntk(x: &[f64], z: &[f64], gamma: f64) -> f64 {
    let d = x.len() as f64;
    let dot: f64 = x.iter().zip(z).map(|(a, b)| a * b).sum();
    let var = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>() / d + 1.0;
    let rho = (dot / d + 1.0) / (var(x) * var(z)).sqrt();
    let same = 0.25 + rho.asin() / (2.0 * std::f64::consts::PI);
    let mixed = 0.5 - same;
    ((1.0 + gamma * gamma) * same + 2.0 * gamma * mixed) * (dot + 1.0)
}

#[test]
fn gram_writes_the_closed_form_kernel_and_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "12", "0");
    let test = generate(dir.path(), "test.csv", "4", "1");
    let out = dir.path().join("gram");
    let o = run(&[
        "gram",
        "--train",
        &train,
        "--test",
        &test,
        "--gamma",
        "0.25",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let k = ntk_perturb::io::read_npy(&out.join("k_train_train.npy")).unwrap();
    let kt = ntk_perturb::io::read_npy(&out.join("k_test_train.npy")).unwrap();
    let tr = ntk_perturb::data::read_csv(Path::new(&train)).unwrap();
    let te = ntk_perturb::data::read_csv(Path::new(&test)).unwrap();
    for i in 0..12 {
        for j in 0..12 {
            let r = sheppard_ntk(&common::row(&tr.x, i), &common::row(&tr.x, j), 0.25);
            assert!(
                (k[(i, j)] - r).abs() <= 1e-12 * (1.0 + r.abs()),
                "K[{i},{j}]"
            );
        }
        for t in 0..4 {
            let r = sheppard_ntk(&common::row(&te.x, t), &common::row(&tr.x, i), 0.25);
            assert!(
                (kt[(t, i)] - r).abs() <= 1e-12 * (1.0 + r.abs()),
                "K_test[{t},{i}]"
            );
        }
    }
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        config.contains("gamma = 0.25") && config.contains("command = \"gram\""),
        "{config}"
    );
}

#[test]
fn gram_and_data_are_identical_for_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for threads in ["1", "2"] {
        let train = dir.path().join(format!("train{threads}.csv"));
        let o = run(&[
            "data",
            "gauss",
            "--n",
            "300",
            "--d",
            "20",
            "--seed",
            "7",
            "--threads",
            threads,
            "--quiet",
            "--out",
            train.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        for kernel in ["infinite", "empirical"] {
            let out = dir.path().join(format!("{kernel}{threads}"));
            let o = run(&[
                "gram",
                "--train",
                train.to_str().unwrap(),
                "--kernel",
                kernel,
                "--width",
                "257",
                "--threads",
                threads,
                "--quiet",
                "--out",
                out.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
            bytes.push((
                std::fs::read(&train).unwrap(),
                std::fs::read(out.join("k_train_train.npy")).unwrap(),
            ));
        }
    }
    assert_eq!(
        bytes[0], bytes[2],
        "infinite kernel differs between 1 and 2 threads"
    );
    assert_eq!(
        bytes[1], bytes[3],
        "empirical kernel differs between 1 and 2 threads"
    );
}

#[test]
fn a_failed_gram_leaves_no_output_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "x0,x1,y\n1,2,1\n3,oops,-1\n").unwrap();
    let out = dir.path().join("never");
    let o = run(&[
        "gram",
        "--train",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let msg = stderr(&o);
    assert!(msg.contains("bad.csv:3:2") && msg.contains("oops"), "{msg}");
    assert!(!out.exists(), "a failed run left {out:?}");
}

#[test]
fn invalid_flags_are_refused_with_the_flag_named() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "6", "0");
    let cases: [(&[&str], &str); 4] = [
        (&["--gamma", "1.0"], "--gamma"),
        (&["--kernel", "empirical", "--width", "0"], "--width"),
        (
            &[
                "--kernel",
                "empirical",
                "--init",
                "antisymmetric",
                "--width",
                "3",
            ],
            "--width",
        ),
        (&["--threads", "0"], "--threads"),
    ];
    for (extra, flag) in cases {
        let out = dir.path().join("o");
        let mut args = vec!["gram", "--train", &train, "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        assert!(stderr(&o).contains(flag), "{extra:?}: {}", stderr(&o));
        assert!(!out.exists());
    }
}

#[test]
fn existing_outputs_need_force() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), "train.csv", "6", "0");
    let o = run(&[
        "data",
        "shifted-gauss",
        "--n",
        "6",
        "--d",
        "5",
        "--out",
        &train,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"));
    let out = dir.path().join("g");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "x").unwrap();
    let o = run(&["gram", "--train", &train, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(out.join("keep.txt").exists());
    let o = run(&[
        "gram",
        "--train",
        &train,
        "--quiet",
        "--force",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn odd_sample_count_for_shifted_gauss_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.csv");
    let o = run(&[
        "data",
        "shifted-gauss",
        "--n",
        "7",
        "--d",
        "3",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--n"));
    assert!(!path.exists());
}

#[test]
fn every_subcommand_help_has_an_example() {
    for cmd in [
        &["gram"][..],
        &["bench"],
        &["data", "gauss"],
        &["data", "shifted-gauss"],
        &["dynamics"],
        &["train"],
        &["crosscheck"],
        &["perturb"],
        &["parallel"],
        &["experiment"],
        &["reproduce"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let o = run(&args);
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("Example") && text.contains("--threads") && text.contains("--seed"),
            "{cmd:?}"
        );
    }
}
