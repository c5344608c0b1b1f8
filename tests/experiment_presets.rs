//! Figure presets: every preset of the paper's experiments exists and expands to valid runs, and a
//! small preset run summarises its own results.csv into the right means and standard deviations.

use ntk_perturb::study::experiment::maps::map_panels;
use ntk_perturb::study::experiment::presets::{NAMES, Panel, Preset, preset};
use ntk_perturb::study::experiment::reproduce::{mean_std, panel_spec};
use ntk_perturb::study::experiment::{Models, ReproduceOptions, RunConfig, run_preset};

#[test]
fn every_preset_expands_to_valid_cells_quick_and_full() {
    for quick in [true, false] {
        for name in NAMES.iter().filter(|n| **n != "maps") {
            let p = preset(name, quick).unwrap();
            assert!(!p.panels.is_empty(), "{name}");
            for panel in &p.panels {
                for lr_grid_max in [false, true] {
                    let opts = ReproduceOptions {
                        seeds: 2,
                        lr_grid_max,
                        models: Models::Both,
                        per_seed: false,
                        targets: None,
                        shard: None,
                        progress: None,
                    };
                    let sweep = panel_spec(&p, panel, &opts).unwrap().expand().unwrap();
                    let grid = if lr_grid_max {
                        let lr_axes = usize::from(panel.key != "steps_f")
                            + usize::from(panel.key != "steps_g");
                        p.lr_grid.len().pow(lr_axes as u32)
                    } else {
                        1
                    };
                    // Values × two models × two seeds × the learning-rate grid.
                    assert_eq!(
                        sweep.cells().len(),
                        panel.values.len() * 2 * 2 * grid,
                        "{name}/{}",
                        panel.name
                    );
                }
            }
        }
    }
    assert_eq!(map_panels(true).len(), 8);
    assert!(
        preset("mnist-c", true)
            .unwrap_err()
            .to_string()
            .contains("mnist-a")
    );
}

#[test]
fn a_preset_run_summarises_mean_and_spread_over_seeds() {
    let base = RunConfig {
        n: Some(40),
        d: Some(5),
        n_test: 40,
        width: 32,
        steps_f: 20,
        steps_g: 20,
        lr_f: 0.5,
        lr_g: 0.5,
        eps_per_coordinate: Some(0.05),
        ..RunConfig::default()
    };
    let p = Preset {
        name: "tiny",
        title: "tiny".into(),
        panels: vec![Panel {
            name: "eps".into(),
            key: "eps_per_coordinate",
            values: vec![0.0.into(), 0.05.into()],
            x_scale: 5f64.sqrt(),
            x_name: "eps",
            log_x: false,
            x_label: "ε".into(),
            base,
        }],
        metrics: &["standard_train", "agreement"],
        lr_grid: vec![0.5],
    };
    let dir = tempfile::tempdir().unwrap();
    let summary = run_preset(
        &p,
        dir.path(),
        &ReproduceOptions {
            seeds: 3,
            lr_grid_max: false,
            models: Models::Network,
            per_seed: false,
            targets: None,
            shard: None,
            progress: None,
        },
    )
    .unwrap();
    // Two points × two metrics, each with the statistics over seeds and one row per seed (the ε
    // panel's threshold rows, which belong to a seed rather than a point, come after them).
    let points: Vec<_> = summary
        .iter()
        .filter(|r| !r.metric.starts_with("eps_threshold"))
        .collect();
    assert_eq!(points.iter().filter(|r| r.seed.is_none()).count(), 4);
    assert_eq!(points.len(), 4 * (1 + 3));
    // Recompute one summary point from the tidy results by hand.
    let text = std::fs::read_to_string(dir.path().join("eps/results.csv")).unwrap();
    let values: Vec<f64> = text
        .lines()
        .skip(1)
        .filter(|l| l.contains("eps_per_coordinate=0.05;") && l.contains(",agreement,"))
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(values.len(), 3);
    let (mean, std) = mean_std(&values);
    let row = summary
        .iter()
        .filter(|r| r.seed.is_none())
        .find(|r| r.metric == "agreement" && (r.x - 0.05 * 5f64.sqrt()).abs() < 1e-12)
        .unwrap();
    assert_eq!((row.mean, row.std, row.seeds), (mean, std, 3));
    assert!(dir.path().join("tiny-eps.svg").exists() && dir.path().join("tiny-eps.png").exists());
    assert_eq!(mean_std(&[1.0, 2.0, 3.0]), (2.0, 1.0));
}
