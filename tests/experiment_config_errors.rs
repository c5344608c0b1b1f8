//! Configuration files a person can fix in one go: every mistake at once, each with its line,
//! column and key, in the user's words; relative data paths taken from the file's folder.

mod common;

use std::fs;
use std::path::Path;

use ntk_perturb::study::experiment::SweepSpec;
use ntk_perturb::{ConfigProblem, Error};

/// The problems of the configuration `text` written to `dir/name`.
fn problems(dir: &Path, name: &str, text: &str) -> (String, Vec<ConfigProblem>) {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    match SweepSpec::from_file(&path) {
        Err(e @ Error::Config { .. }) => {
            assert_eq!(e.exit_code(), 2);
            let rendered = e.to_string();
            match e {
                Error::Config { problems, .. } => (rendered, problems),
                _ => unreachable!(),
            }
        }
        other => panic!("expected Error::Config, got {other:?}"),
    }
}

/// (line, column, key, a part of the message) of each problem.
fn summary(problems: &[ConfigProblem]) -> Vec<(usize, usize, &str, &str)> {
    problems
        .iter()
        .map(|p| {
            let (l, c) = p.position.unwrap_or((0, 0));
            (l, c, p.key.as_str(), p.message.as_str())
        })
        .collect()
}

#[test]
fn every_mistake_is_reported_with_its_position_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
dataset = \"shifted-gauss\"
n = 10
d = 3
center = \"middle\"
loss = identity
widht = 100
width = 0
lr_f = -1
eps = [0.1, \"big\"]
targets = \"randm\"
momentum = 1.5
";
    let (rendered, found) = problems(dir.path(), "bad.toml", text);
    let got = summary(&found);
    // Types and choices are reported at the value, ranges at the key; `center` is also only for
    // files, but it was refused already and is not blamed twice.
    let want: [(usize, usize, &str, &str); 8] = [
        (
            4,
            10,
            "center",
            "must be one of scalar, per-feature, none, got \"middle\"",
        ),
        (5, 8, "loss", "text values need quotes: write \"identity\""),
        (6, 1, "widht", "unknown key; did you mean `width`?"),
        (7, 1, "width", "at least 1"),
        (8, 1, "lr_f", "positive"),
        (9, 13, "eps", "must be a number, got \"big\""),
        (
            10,
            11,
            "targets",
            "must be one of random, flipped, balanced, got \"randm\"",
        ),
        (11, 1, "momentum", "[0, 1), got 1.5"),
    ];
    assert_eq!(got.len(), want.len(), "{rendered}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.0, g.1, g.2), (w.0, w.1, w.2), "{rendered}");
        assert!(g.3.contains(w.3), "{} lacks {}", g.3, w.3);
    }
    // One line per problem, each `FILE:LINE:COLUMN: `key`: message`.
    let path = dir.path().join("bad.toml").display().to_string();
    assert!(
        rendered.starts_with(&format!("{path}: 8 mistakes")),
        "{rendered}"
    );
    assert!(
        rendered.contains(&format!("{path}:4:10: `center`: must be one of")),
        "{rendered}"
    );
    assert!(
        !rendered.contains("unit variant") && !rendered.contains("invalid type"),
        "{rendered}"
    );
}

#[test]
fn a_quoted_bare_word_is_still_checked_and_none_means_no_centring() {
    let dir = tempfile::tempdir().unwrap();
    let (_, found) = problems(
        dir.path(),
        "a.toml",
        "n = 10\nd = 3\neps = 0.1\nloss = identiti\n",
    );
    let got = summary(&found);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].0, got[0].1, got[0].2), (4, 8, "loss"));
    assert!(got[0].3.contains("quotes"));
    assert!(
        got[1]
            .3
            .contains("must be one of identity, mse, logistic, exponential")
    );

    let ok = dir.path().join("ok.toml");
    let train = common::generate(dir.path(), "train.csv", "10", "0");
    let test = common::generate(dir.path(), "test.csv", "10", "1");
    fs::write(
        &ok,
        format!("dataset = \"file\"\ntrain = \"{train}\"\ntest = \"{test}\"\ncenter = \"none\"\neps = 0.1\n"),
    )
    .unwrap();
    let sweep = SweepSpec::from_file(&ok).unwrap().expand().unwrap();
    assert_eq!(sweep.cells()[0].config.center, None);
}

#[test]
fn problems_of_some_cells_name_the_cell_and_missing_keys_have_no_position() {
    let dir = tempfile::tempdir().unwrap();
    let (rendered, found) = problems(dir.path(), "s.toml", "d = 3\neps = [0.1, -1]\nseeds = 2\n");
    let got = summary(&found);
    assert_eq!(got.len(), 2, "{rendered}");
    assert_eq!((got[0].0, got[0].2), (2, "eps"));
    assert!(
        got[0].3.contains("≥ 0, got -1") && got[0].3.contains("eps=-1"),
        "{}",
        got[0].3
    );
    // `n` is missing: no position, listed after the positioned ones.
    assert_eq!((got[1].0, got[1].2), (0, "n"));
    assert!(rendered.contains(&format!(
        "{}: `n`: required",
        dir.path().join("s.toml").display()
    )));
}

#[test]
fn relative_data_paths_are_taken_from_the_configuration_folder() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    fs::create_dir(&conf).unwrap();
    common::generate(&conf, "train.csv", "20", "0");
    common::generate(&conf, "test.csv", "20", "1");
    let file = conf.join("run.toml");
    fs::write(
        &file,
        "dataset = \"file\"\ntrain = \"train.csv\"\ntest = \"test.csv\"\nwidth = 4\nsteps_f = 2\nsteps_g = 2\neps = 0.1\n",
    )
    .unwrap();
    // Run from another folder: the files are found beside the configuration.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
        .current_dir(elsewhere.path())
        .args(["experiment", file.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let spec = SweepSpec::from_file(&file).unwrap().expand().unwrap();
    assert_eq!(
        spec.cells()[0].config.train.as_deref(),
        Some(conf.join("train.csv").as_path())
    );

    // A missing file is named where it is written, resolved from the folder.
    fs::write(
        &file,
        "dataset = \"file\"\ntrain = \"train.csv\"\ntest = \"tset.csv\"\neps = 0.1\n",
    )
    .unwrap();
    let (rendered, found) = problems(&conf, "run.toml", &fs::read_to_string(&file).unwrap());
    assert_eq!(
        summary(&found)[..1],
        [(3, 8, "test", found[0].message.as_str())]
    );
    assert!(
        found[0]
            .message
            .contains(&conf.join("tset.csv").display().to_string()),
        "{rendered}"
    );
}

#[test]
fn the_command_line_prints_every_mistake_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    fs::write(
        &file,
        "n = 11\nd = 0\neps = 0.1\nnorm = \"l3\"\nwidth = 10.5\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = common::run(&[
        "experiment",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = common::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let f = file.display().to_string();
    for line in [
        format!("{f}:1:1: `n`: shifted-gauss needs an even N, got 11"),
        format!("{f}:2:1: `d`: must be positive"),
        format!("{f}:4:8: `norm`: must be one of l2, linf, got \"l3\""),
        format!("{f}:5:9: `width`: must be a whole number"),
    ] {
        assert!(err.contains(&line), "missing {line} in {err}");
    }
    assert!(!out.exists());
}
