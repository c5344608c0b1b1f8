//! Sweep configuration and resumable results: unknown keys name the nearest key, lists expand to
//! the cartesian product, and an interrupted sweep resumes to a byte-identical results.csv.

use std::path::Path;
use std::process::Command;

use ntk_perturb::Error;
use ntk_perturb::study::experiment::{
    KEYS, METRICS, RunConfig, SECOND_STAGE_KEYS, Scenario, Shard, SweepOptions, SweepSpec, TidyRow,
    first_stage_key, run,
};

const SWEEP: &str = r#"
dataset = "shifted-gauss"
n = 60
d = 8
n_test = 100
width = 32
steps_f = 30
steps_g = 30
eps = [0.0, 0.5]
seed = [3, 4]
"#;

#[test]
fn unknown_key_names_the_nearest_valid_key() {
    let err = SweepSpec::from_toml_str("n = 10\nd = 2\neps = 0.1\nwidht = 5\n").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    assert!(text.contains("widht") && text.contains("`width`"), "{text}");
    assert_eq!(err.exit_code(), 2);
    let err = SweepSpec::from_toml_str("eps_per_coord = 0.1\n").unwrap_err();
    assert!(err.to_string().contains("`eps_per_coordinate`"), "{err}");
    // A well-named key with an ill-typed value names the key.
    let err = SweepSpec::from_toml_str("n = 10\nd = 2\neps = 0.1\nwidth = \"wide\"\n")
        .unwrap()
        .expand()
        .unwrap_err();
    assert!(err.to_string().contains("width"), "{err}");
}

#[test]
fn list_valued_keys_expand_to_the_cartesian_product_in_fixed_order() {
    let spec = SweepSpec::from_toml_str(
        "n = 10\nd = 2\nn_test = 10\neps = [0.0, 0.1, 0.2]\nwidth = [10, 20]\nseeds = 2\nseed = 7\n",
    )
    .unwrap();
    let sweep = spec.expand().unwrap();
    assert_eq!(sweep.cells().len(), 12);
    assert_eq!(sweep.swept_keys(), ["width", "eps"]);
    let ids: Vec<&str> = sweep.cells().iter().map(|c| c.run_id.as_str()).collect();
    assert_eq!(ids[0], "width=10;eps=0;seed=7");
    assert_eq!(ids[1], "width=10;eps=0;seed=8");
    assert_eq!(ids[2], "width=10;eps=0.1;seed=7");
    assert_eq!(ids[11], "width=20;eps=0.2;seed=8");
    assert_eq!(sweep.cells()[11].config.width, 20);
    assert_eq!(sweep.cells()[11].config.eps, Some(0.2));
    assert_eq!(
        sweep.header().join(","),
        "cell,run_id,seed,width,eps,metric,value"
    );
    // seeds and a seed list together are refused.
    assert!(SweepSpec::from_toml_str("seeds = 2\nseed = [1, 2]\n").is_err());
}

fn run_all(dir: &Path, shard: Option<Shard>) {
    let sweep = SweepSpec::from_toml_str(SWEEP).unwrap().expand().unwrap();
    let opts = SweepOptions {
        shard,
        ..SweepOptions::default()
    };
    sweep.run_to_file(&dir.join("results.csv"), &opts).unwrap();
}

#[test]
fn interrupted_sweep_resumes_to_identical_results() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    for d in [&a, &b, &c] {
        std::fs::create_dir(d).unwrap();
    }
    run_all(&a, None);
    let full = std::fs::read(a.join("results.csv")).unwrap();
    let text = String::from_utf8(full.clone()).unwrap();
    assert_eq!(
        text.lines().count(),
        1 + 4 * ntk_perturb::study::experiment::METRICS.len()
    );

    // Interrupted in the middle of a line of the third cell.
    let cut = text.find("\n2,").unwrap() + 30;
    std::fs::write(b.join("results.csv"), &full[..cut]).unwrap();
    run_all(&b, None);
    assert_eq!(std::fs::read(b.join("results.csv")).unwrap(), full);

    // Two shards in turn, the second resuming the first's file.
    run_all(&c, Some(Shard::parse("1/2").unwrap()));
    let half = std::fs::read_to_string(c.join("results.csv")).unwrap();
    assert!(
        half.lines()
            .skip(1)
            .all(|l| l.starts_with("1,") || l.starts_with("3,"))
    );
    run_all(&c, Some(Shard::parse("0/2").unwrap()));
    assert_eq!(std::fs::read(c.join("results.csv")).unwrap(), full);
}

#[test]
fn cli_runs_resumes_and_refuses_bad_configs() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("sweep.toml");
    std::fs::write(&cfg, SWEEP).unwrap();
    let bin = || Command::new(env!("CARGO_BIN_EXE_ntk-perturb"));
    let one = tmp.path().join("one");
    let st = bin()
        .arg("experiment")
        .arg(&cfg)
        .arg("--out")
        .arg(&one)
        .arg("--quiet")
        .status()
        .unwrap();
    assert!(st.success());
    let two = tmp.path().join("two");
    for extra in [vec!["--shard", "0/3"], vec!["--resume"]] {
        let st = bin()
            .arg("experiment")
            .arg(&cfg)
            .arg("--out")
            .arg(&two)
            .args(&extra)
            .arg("--quiet")
            .status()
            .unwrap();
        assert!(st.success());
    }
    let r1 = std::fs::read(one.join("results.csv")).unwrap();
    assert_eq!(r1, std::fs::read(two.join("results.csv")).unwrap());
    let cells = std::fs::read_to_string(one.join("cells.csv")).unwrap();
    assert_eq!(cells.lines().count(), 5);
    assert!(one.join("config.toml").exists());

    // A non-empty directory without --resume/--force is refused.
    let st = bin()
        .arg("experiment")
        .arg(&cfg)
        .arg("--out")
        .arg(&one)
        .arg("--quiet")
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(2));

    // Bad key: exit code 2, the nearest key named, no output directory.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, SWEEP.replace("width", "widht")).unwrap();
    let out = tmp.path().join("bad-out");
    let o = bin()
        .arg("experiment")
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`width`"));
    assert!(!out.exists());
}

/// A sweep over keys that f does not read (ε, targets, attack, g's training) and keys that it
/// does (width, seed): cells that share f reuse one first stage, and every cell's metrics must
/// equal, bit for bit, those of running its configuration on its own.
#[test]
fn shared_first_stages_give_the_results_of_independent_runs() {
    let spec = SweepSpec::from_toml_str(
        r#"
dataset = "shifted-gauss"
n = 40
d = 6
n_test = 50
width = [16, 24]
steps_f = 20
steps_g = [10, 20]
momentum = 0.9
eps = [0.0, 0.3]
targets = ["random", "flipped"]
attack_steps = [1, 3]
seeds = 2
"#,
    )
    .unwrap();
    let sweep = spec.expand().unwrap();
    assert_eq!(sweep.cells().len(), 64);
    let keys: std::collections::BTreeSet<String> = sweep
        .cells()
        .iter()
        .map(|c| first_stage_key(&c.config).unwrap())
        .collect();
    assert_eq!(keys.len(), 4, "one first stage per (width, seed)");

    let rows = sweep.run_in_memory(None).unwrap();
    assert_eq!(rows.len(), sweep.cells().len() * METRICS.len());
    for cell in sweep.cells() {
        let alone = run(&cell.config).unwrap();
        let shared: Vec<&TidyRow> = rows.iter().filter(|r| r.cell == cell.index).collect();
        assert_eq!(shared.len(), METRICS.len());
        for (row, (metric, value)) in shared.iter().zip(alone.rows()) {
            assert_eq!(row.metric, metric);
            assert!(
                row.value.to_bits() == value.to_bits() || (row.value.is_nan() && value.is_nan()),
                "cell {} {metric}: shared {} vs alone {value}",
                cell.run_id,
                row.value
            );
        }
    }
    // Rows come back sorted by cell.
    assert!(rows.windows(2).all(|w| w[0].cell <= w[1].cell));
}

#[test]
fn first_stage_keys_ignore_exactly_the_second_stage_keys() {
    for key in SECOND_STAGE_KEYS {
        assert!(KEYS.contains(key), "{key} is not a configuration key");
    }
    let base = RunConfig {
        n: Some(10),
        d: Some(3),
        ..RunConfig::default()
    };
    let key = first_stage_key(&base).unwrap();
    let second_only = RunConfig {
        lr_g: 0.5,
        steps_g: 7,
        scenario: Scenario::B,
        eps: Some(0.2),
        eps_per_coordinate: Some(0.1),
        norm: ntk_perturb::perturbation::Norm::Linf,
        targets: ntk_perturb::perturbation::TargetKind::Flipped,
        attack_steps: 4,
        ..base.clone()
    };
    assert_eq!(first_stage_key(&second_only).unwrap(), key);
    let changes_f = [
        RunConfig {
            lr_f: 0.5,
            ..base.clone()
        },
        RunConfig {
            steps_f: 7,
            ..base.clone()
        },
        RunConfig {
            width: 7,
            ..base.clone()
        },
        RunConfig {
            seed: 1,
            ..base.clone()
        },
        RunConfig {
            momentum: 0.5,
            ..base.clone()
        },
    ];
    for cfg in &changes_f {
        assert_ne!(first_stage_key(cfg).unwrap(), key, "{cfg:?}");
    }
}

#[test]
fn shared_data_stages_and_opting_out_of_conditions_keep_every_result() {
    // MSE flows (f_0 enters α), both scenarios' products, network and theory on one dataset, with
    // and without the conditions.
    let spec = SweepSpec::from_toml_str(
        r#"
dataset = "gauss"
n = 30
d = 5
n_test = 40
width = 16
loss = "mse"
steps_f = 15
steps_g = 15
model = ["network", "theory"]
scenario = ["a", "b"]
eps = [0.0, 0.4]
conditions = [true, false]
seeds = 2
"#,
    )
    .unwrap();
    let sweep = spec.expand().unwrap();
    assert_eq!(sweep.cells().len(), 32);
    let rows = sweep.run_in_memory(None).unwrap();
    let conditions = ntk_perturb::study::experiment::CONDITION_METRICS;
    let kept = METRICS.len() - conditions.len();
    assert_eq!(rows.len(), 16 * METRICS.len() + 16 * kept);
    let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    for cell in sweep.cells() {
        let shared: Vec<&TidyRow> = rows.iter().filter(|r| r.cell == cell.index).collect();
        let alone = run(&cell.config).unwrap().rows();
        assert_eq!(shared.len(), alone.len(), "{}", cell.run_id);
        for (row, (metric, value)) in shared.iter().zip(&alone) {
            assert_eq!(row.metric, *metric);
            assert!(same(row.value, *value), "{} {metric}", cell.run_id);
        }
        // Without the conditions, the other metrics are those of the run with them.
        if !cell.config.conditions {
            assert!(shared.iter().all(|r| !conditions.contains(&r.metric)));
            let with = RunConfig {
                conditions: true,
                ..cell.config.clone()
            };
            let full = run(&with).unwrap().rows();
            assert_eq!(full.len(), METRICS.len());
            for row in &shared {
                let (_, v) = full.iter().find(|(m, _)| *m == row.metric).unwrap();
                assert!(same(row.value, *v), "{} {}", cell.run_id, row.metric);
            }
        }
    }

    // A results file with cells of both kinds resumes to the same bytes.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("results.csv");
    sweep.run_to_file(&path, &SweepOptions::default()).unwrap();
    let full = std::fs::read_to_string(&path).unwrap();
    // Cut inside the first cell without the conditions.
    let cut = full.find("conditions=false").unwrap() + 5;
    std::fs::write(&path, &full[..cut]).unwrap();
    let report = sweep.run_to_file(&path, &SweepOptions::default()).unwrap();
    assert!(report.ran >= 1 && report.skipped >= 1, "{report:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), full);
}
