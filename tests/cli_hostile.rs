//! Hostile inputs at the command line (issue: reliability): every case must exit with code 2, print
//! one message naming the file and position or the flag, and write no output at all.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    name: &'static str,
    /// Command line; `{train}`, `{test}`, `{bad}` and `{out}` are replaced by paths.
    args: &'static str,
    /// Content of `{bad}` (bytes), if the case uses it.
    bad: Option<&'static [u8]>,
    /// Substrings the error message must contain.
    expect: &'static [&'static str],
}

const VALID: &[u8] = b"x0,x1,y\n1,2,1\n3,4,-1\n5,6,1\n7,8,-1\n";

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn cases() -> Vec<Case> {
    let c = |name, args, bad, expect| Case {
        name,
        args,
        bad,
        expect,
    };
    vec![
        c(
            "ragged row",
            "gram --train {bad} --out {out}",
            Some(b"x0,x1,y\n1,2,1\n3,-1\n"),
            &["bad.csv:3", "expected 3"],
        ),
        c(
            "non-numeric cell",
            "gram --train {bad} --out {out}",
            Some(b"x0,x1,y\n1,abc,1\n"),
            &["bad.csv:2:2", "abc"],
        ),
        c(
            "NaN cell",
            "gram --train {bad} --out {out}",
            Some(b"x0,x1,y\n1,NaN,1\n"),
            &["bad.csv:2:2"],
        ),
        c(
            "infinite cell",
            "gram --train {bad} --out {out}",
            Some(b"x0,x1,y\ninf,1,1\n"),
            &["bad.csv:2:1"],
        ),
        c(
            "label 0",
            "gram --train {bad} --out {out}",
            Some(b"x0,x1,y\n1,2,0\n"),
            &["bad.csv:2:3", "0"],
        ),
        c(
            "label 2",
            "gram --train {bad} --out {out}",
            Some(b"x0,x1,y\n1,2,2\n"),
            &["bad.csv:2:3", "2"],
        ),
        c(
            "missing label column",
            "gram --train {bad} --out {out}",
            Some(b"x0,x1,label\n1,2,1\n"),
            &["bad.csv", "y"],
        ),
        c(
            "duplicate header",
            "gram --train {bad} --out {out}",
            Some(b"x0,x0,y\n1,2,1\n"),
            &["bad.csv", "x0"],
        ),
        c(
            "empty file",
            "gram --train {bad} --out {out}",
            Some(b""),
            &["bad.csv", "empty"],
        ),
        c(
            "header only",
            "gram --train {bad} --out {out}",
            Some(b"x0,x1,y\n"),
            &["bad.csv"],
        ),
        c(
            "no feature column",
            "gram --train {bad} --out {out}",
            Some(b"y\n1\n-1\n"),
            &["bad.csv"],
        ),
        c(
            "non-UTF-8 bytes",
            "gram --train {bad} --out {out}",
            Some(b"x0,x1,y\n1,\xff\xfe,1\n"),
            &["bad.csv:2"],
        ),
        c(
            "corrupt gzip",
            "gram --train {bad} --out {out}",
            Some(b"\x1f\x8b\x08\x00garbage-garbage-garbage"),
            &["bad.csv", "gzip"],
        ),
        c(
            "missing file",
            "gram --train {dir}/nope.csv --out {out}",
            None,
            &["nope.csv"],
        ),
        c(
            "dimension mismatch",
            "gram --train {train} --test {bad} --out {out}",
            Some(b"x0,y\n1,1\n"),
            &["bad.csv", "train.csv"],
        ),
        c(
            "gamma at one",
            "gram --train {train} --gamma 1 --out {out}",
            None,
            &["--gamma"],
        ),
        c(
            "negative gamma",
            "gram --train {train} --gamma -0.5 --out {out}",
            None,
            &["--gamma"],
        ),
        c(
            "width zero",
            "gram --train {train} --kernel empirical --width 0 --out {out}",
            None,
            &["--width"],
        ),
        c(
            "odd antisymmetric width",
            "gram --train {train} --kernel empirical --init antisymmetric --width 5 --out {out}",
            None,
            &["--width", "even"],
        ),
        c(
            "zero threads",
            "gram --train {train} --threads 0 --out {out}",
            None,
            &["--threads"],
        ),
        c(
            "scale zero",
            "gram --train {train} --scale 0 --out {out}",
            None,
            &["--scale"],
        ),
        c(
            "subset too large",
            "gram --train {train} --subset 99 --out {out}",
            None,
            &["--subset"],
        ),
        c(
            "test subset without test",
            "gram --train {train} --test-subset 2 --out {out}",
            None,
            &["--test-subset"],
        ),
        c(
            "unknown flag",
            "gram --train {train} --frobnicate --out {out}",
            None,
            &["--frobnicate"],
        ),
        c(
            "unknown kernel value",
            "gram --train {train} --kernel huge --out {out}",
            None,
            &["--kernel"],
        ),
        c(
            "odd shifted gauss",
            "data shifted-gauss --n 7 --d 3 --out {out}",
            None,
            &["--n"],
        ),
        c(
            "zero samples",
            "data gauss --n 0 --d 3 --out {out}",
            None,
            &["--n"],
        ),
        c(
            "zero dimension",
            "data gauss --n 4 --d 0 --out {out}",
            None,
            &["--d"],
        ),
        c(
            "nan shift",
            "data shifted-gauss --n 4 --d 3 --shift NaN --out {out}",
            None,
            &["--shift"],
        ),
        c(
            "too much memory",
            "data gauss --n 4000000000 --d 1000 --out {out}",
            None,
            &["memory"],
        ),
        c(
            "times not increasing",
            "dynamics --train {train} --loss mse --times 1,0 --out {out}",
            None,
            &["--times"],
        ),
        c(
            "negative time",
            "dynamics --train {train} --loss mse --times -1 --out {out}",
            None,
            &["--times"],
        ),
        c(
            "garbage times",
            "dynamics --train {train} --loss mse --times logspace:a:b --out {out}",
            None,
            &["--times"],
        ),
        c(
            "zero tolerance",
            "dynamics --train {train} --loss logistic --times 1 --rtol 0 --out {out}",
            None,
            &["--rtol"],
        ),
        c(
            "infinite time for identity",
            "dynamics --train {train} --loss identity --times inf --out {out}",
            None,
            &["inf"],
        ),
        c(
            "zero learning rate",
            "train --train {train} --lr 0 --steps 3 --out {out}",
            None,
            &["--lr"],
        ),
        c(
            "negative learning rate",
            "train --train {train} --lr -1 --steps 3 --out {out}",
            None,
            &["--lr"],
        ),
        c(
            "momentum one",
            "train --train {train} --lr 0.1 --steps 3 --momentum 1 --out {out}",
            None,
            &["--momentum"],
        ),
        c(
            "record every zero",
            "train --train {train} --lr 0.1 --steps 3 --record-every 0 --out {out}",
            None,
            &["--record-every"],
        ),
        c(
            "train width zero",
            "train --train {train} --lr 0.1 --steps 3 --width 0 --out {out}",
            None,
            &["--width"],
        ),
    ]
}

fn expand(args: &str, dir: &Path, out: &Path) -> Vec<String> {
    args.split_whitespace()
        .map(|a| {
            a.replace("{train}", &dir.join("train.csv").display().to_string())
                .replace("{bad}", &dir.join("bad.csv").display().to_string())
                .replace("{out}", &out.display().to_string())
                .replace("{dir}", &dir.display().to_string())
        })
        .collect()
}

#[test]
fn hostile_inputs_exit_2_with_a_located_message_and_no_output() {
    let all = cases();
    assert!(all.len() >= 30, "the suite must keep at least 30 cases");
    let mut failures = Vec::new();
    for case in &all {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train.csv"), VALID).unwrap();
        if let Some(bytes) = case.bad {
            std::fs::write(dir.path().join("bad.csv"), bytes).unwrap();
        }
        let out: PathBuf = dir.path().join("out");
        let o = Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
            .args(expand(case.args, dir.path(), &out))
            .output()
            .unwrap();
        let msg = String::from_utf8_lossy(&o.stderr).to_string();
        let missing: Vec<&&str> = case.expect.iter().filter(|s| !msg.contains(**s)).collect();
        if o.status.code() != Some(2)
            || !missing.is_empty()
            || out.exists()
            || msg.contains("panicked")
        {
            failures.push(format!(
                "{}: exit {:?}, missing {missing:?}, output exists {}: {msg}",
                case.name,
                o.status.code(),
                out.exists()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn a_truncated_gzip_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let full = gz(&VALID.repeat(200));
    let path = dir.path().join("cut.csv.gz");
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
        .args([
            "gram",
            "--train",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let msg = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{msg}");
    assert!(msg.contains("cut.csv.gz") && msg.contains("gzip"), "{msg}");
    assert!(!out.exists());
}

#[test]
fn bom_and_crlf_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("win.csv");
    std::fs::write(&path, b"\xef\xbb\xbfx0,x1,y\r\n1,2,1\r\n3,4,-1\r\n").unwrap();
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
        .args([
            "gram",
            "--train",
            path.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let k = ntk_perturb::io::read_npy(&out.join("k_train_train.npy")).unwrap();
    // Θ(x, x) = Φ(x, x)(‖x‖² + 1) = ½·(1 + 4 + 1) for x = (1, 2).
    assert_eq!(k[(0, 0)], 3.0);
}
