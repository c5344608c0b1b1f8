//! The memory model of `--plan` against the operating system's count: the peak resident memory of a
//! theory run, measured with the kernel's high-water mark (VmHWM, reset before the run), should lie
//! within 15 % of [`run_peak_bytes`] on the pool's threads. One test in its own process, so
//! nothing else allocates meanwhile.

use ntk_perturb::study::bench::{peak_rss_bytes, reset_peak_rss};
use ntk_perturb::study::experiment::config::{Model, RunConfig};
use ntk_perturb::study::experiment::plan::{RunShape, run_peak_bytes};
use ntk_perturb::study::experiment::run;

#[test]
fn theory_run_peak_matches_the_model() {
    let (n, n_test, d) = (2000, 50, 4);
    let cfg = RunConfig {
        n: Some(n),
        n_test,
        d: Some(d),
        model: Model::Theory,
        eps_per_coordinate: Some(0.01),
        steps_f: 10,
        steps_g: 10,
        ..RunConfig::default()
    };
    let shape = RunShape {
        n,
        n_test,
        d,
        width: cfg.width,
        steps_f: 10,
        steps_g: 10,
        model: Model::Theory,
        loss: cfg.loss,
        scenario: cfg.scenario,
        attack_steps: 1,
        g_main: true,
        synthetic: true,
    };
    // Warm up the thread pool and the allocator's arenas, then measure from the current RSS.
    run(&RunConfig {
        n: Some(20),
        ..cfg.clone()
    })
    .unwrap();
    let before = resident_bytes();
    reset_peak_rss();
    if before == 0 || peak_rss_bytes() == 0 {
        return; // no /proc: nothing to measure
    }
    run(&cfg).unwrap();
    let used = peak_rss_bytes().saturating_sub(before) as f64;
    let model = run_peak_bytes(&shape, rayon::current_num_threads()) as f64;
    // The three N×N matrices of the theory's input gradient are 96 MB here; the rest is small.
    assert!(
        (used / model - 1.0).abs() < 0.15,
        "measured {used} bytes, model {model}"
    );
}

/// Current resident set size (VmRSS) in bytes, 0 if unknown.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
