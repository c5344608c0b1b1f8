//! `reproduce --plan`: the counts of cells, trainings and theory evaluations against the preset
//! expansion counted by hand, and the wall-time parser. (Estimated times depend on the machine and
//! are not tested; README compares them with runs. The memory model is checked against the
//! operating system's count in `plan_memory.rs`.)

use ntk_perturb::study::experiment::plan::{PanelPlan, parse_wall, plan_preset};
use ntk_perturb::study::experiment::presets::preset;
use ntk_perturb::study::experiment::{Models, ReproduceOptions, Shard};

fn opts(models: Models, seeds: u64, shard: Option<Shard>) -> ReproduceOptions<'static> {
    ReproduceOptions {
        seeds,
        lr_grid_max: false,
        models,
        per_seed: false,
        targets: None,
        shard,
        progress: None,
    }
}

/// (cells, f trainings, g trainings, theory runs) of each panel, by name.
fn counts(panels: &[PanelPlan]) -> Vec<(&str, [usize; 4])> {
    panels
        .iter()
        .map(|p| {
            assert_eq!(p.trainings, p.f_trainings + p.g_trainings);
            (
                p.panel.as_str(),
                [p.cells, p.f_trainings, p.g_trainings, p.theory_runs],
            )
        })
        .collect()
}

#[test]
fn shifted_gauss_a_quick_counts_match_the_preset_by_hand() {
    // Quick shifted Gauss (a): d 4 values, ε 4, m 3, γ 3, N 3, T_f 3, T_g 3; 5 seeds; both models.
    // Cells: values × 2 models × 5 seeds. f is shared by the cells that differ only in a
    // second-stage key (ε, T_g): one f per seed there, one per value and seed elsewhere. g: one per
    // value and seed. The theory reads no width: its width panel is one run per seed.
    let p = preset("shifted-gauss-a", true).unwrap();
    let plan = plan_preset(&p, &opts(Models::Both, 5, None), 2).unwrap();
    assert_eq!(
        counts(&plan.panels),
        vec![
            ("d", [40, 20, 20, 20]),
            ("eps", [40, 5, 20, 20]),
            ("width", [30, 15, 15, 5]),
            ("gamma", [30, 15, 15, 15]),
            ("n", [30, 15, 15, 15]),
            ("tf", [30, 15, 15, 15]),
            ("tg", [30, 5, 15, 15]),
        ]
    );
    assert_eq!(plan.cells(), 230);
    assert_eq!(plan.trainings(), 90 + 115);
    assert_eq!(plan.theory_runs(), 105);
    // The largest run of the N panel is at N = 400 (the theory's three N×N matrices).
    let n = plan.panels.iter().find(|p| p.panel == "n").unwrap();
    assert!(n.peak_run.contains("N = 400"), "{}", n.peak_run);
}

#[test]
fn a_shard_counts_the_first_stages_it_repeats() {
    // ε panel, network only, 4 ε × 5 seeds: cell = 5·e + s. Shard 0/2 holds the 10 even cells,
    // which touch all 5 seeds (e even with s = 0, 2, 4; e odd with s = 1, 3): 5 trainings of f.
    // Shard 0/5 holds s = 0 only: 4 cells, one f.
    let mut p = preset("shifted-gauss-a", true).unwrap();
    p.panels.retain(|panel| panel.name == "eps");
    for (shard, expected) in [
        (Shard { index: 0, count: 2 }, [10, 5, 10, 0]),
        (Shard { index: 0, count: 5 }, [4, 1, 4, 0]),
    ] {
        let plan = plan_preset(&p, &opts(Models::Network, 5, Some(shard)), 2).unwrap();
        assert_eq!(counts(&plan.panels), vec![("eps", expected)], "{shard:?}");
    }
    // The whole panel trains f 5 times and g 20 times; split into 20 shards of one cell each, every
    // shard trains its own f: a slowest shard of one f and one g.
    let plan = plan_preset(&p, &opts(Models::Network, 5, None), 2).unwrap();
    assert_eq!(counts(&plan.panels), vec![("eps", [20, 5, 20, 0])]);
}

#[test]
fn file_data_theory_shares_one_first_stage_across_seeds() {
    // Quick MNIST (a), ε panel (3 values), 5 seeds, both models: the network trains f once per seed
    // and g per value and seed; the theory on file data reads no seed in its first stage, and its
    // random targets read the seed: 15 theory runs.
    let mut p = preset("mnist-a", true).unwrap();
    p.panels.retain(|panel| panel.name == "eps");
    let plan = plan_preset(&p, &opts(Models::Both, 5, None), 2).unwrap();
    assert_eq!(counts(&plan.panels), vec![("eps", [30, 5, 15, 15])]);
    // The quick subsets: 1000 training rows, 500 test rows, 784 pixels.
    let data = &plan.data[0];
    assert_eq!((data.n, data.n_test, data.d), (1000, 500, 784));
}

#[test]
fn wall_times_parse_in_seconds() {
    for (text, seconds) in [
        ("90", 90.0),
        ("90s", 90.0),
        ("45m", 2700.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("2.5h", 9000.0),
        ("1d", 86400.0),
    ] {
        assert_eq!(parse_wall(text).unwrap(), seconds, "{text}");
    }
    for bad in ["", "0", "1x", "h", "-1h"] {
        assert!(parse_wall(bad).is_err(), "{bad}");
    }
}
