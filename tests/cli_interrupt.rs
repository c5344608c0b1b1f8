//! A sweep killed with SIGKILL (or SIGINT) part-way resumes with --resume into a results.csv
//! byte-identical to an uninterrupted run: no row lost, none duplicated.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SWEEP: &str = "n = 200\nd = 20\nn_test = 100\nwidth = 128\nsteps_f = 150\nsteps_g = 150\nlr_f = 0.5\nlr_g = 0.5\neps_per_coordinate = [0.0, 0.01, 0.02, 0.03, 0.04, 0.05]\nseeds = 3\n";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
}

fn data_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

fn interrupted_then_resumed(dir: &Path, config: &Path, signal: &str) -> Vec<u8> {
    let out = dir.join(format!("killed-{signal}"));
    let mut child = bin()
        .args([
            "experiment",
            config.to_str().unwrap(),
            "--threads",
            "1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until a few cells are written, then kill.
    let results = out.join("results.csv");
    let start = Instant::now();
    while data_lines(&results) < 20 && start.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed_midway = child.try_wait().unwrap().is_none();
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    assert!(
        killed_midway,
        "the sweep finished before it could be interrupted"
    );
    let o = bin()
        .args([
            "experiment",
            config.to_str().unwrap(),
            "--resume",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(&results).unwrap()
}

#[test]
fn killed_sweeps_resume_without_lost_or_duplicated_rows() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sweep.toml");
    std::fs::write(&config, SWEEP).unwrap();
    let full = dir.path().join("full");
    let o = bin()
        .args([
            "experiment",
            config.to_str().unwrap(),
            "--quiet",
            "--out",
            full.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let expected = std::fs::read(full.join("results.csv")).unwrap();
    // 18 cells × 18 metrics, plus the header.
    assert_eq!(
        String::from_utf8_lossy(&expected).lines().count(),
        18 * 18 + 1
    );
    for signal in ["-KILL", "-INT"] {
        let got = interrupted_then_resumed(dir.path(), &config, signal);
        assert!(
            got == expected,
            "{signal}: resumed results differ from the uninterrupted run"
        );
    }
}

#[test]
fn resuming_with_a_different_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sweep.toml");
    std::fs::write(&config, "n = 20\nd = 3\nn_test = 10\nwidth = 8\nsteps_f = 2\nsteps_g = 2\neps_per_coordinate = 0.1\n").unwrap();
    let out = dir.path().join("out");
    assert!(
        bin()
            .args([
                "experiment",
                config.to_str().unwrap(),
                "--quiet",
                "--out",
                out.to_str().unwrap()
            ])
            .status()
            .unwrap()
            .success()
    );
    let before = std::fs::read(out.join("results.csv")).unwrap();
    std::fs::write(&config, "n = 20\nd = 3\nn_test = 10\nwidth = 8\nsteps_f = 3\nsteps_g = 2\neps_per_coordinate = 0.1\n").unwrap();
    let o = bin()
        .args([
            "experiment",
            config.to_str().unwrap(),
            "--resume",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--resume"));
    let o = bin()
        .args([
            "experiment",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "an existing output directory needs --force or --resume"
    );
    assert_eq!(std::fs::read(out.join("results.csv")).unwrap(), before);
}
