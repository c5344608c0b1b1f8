//! `ntk-perturb crosscheck` end to end: the tables it writes, and bad flags exiting with code 2.

use std::path::Path;
use std::process::Command;

use ntk_perturb::data::{shifted_gauss, write_csv};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
}

fn write_data(dir: &Path) {
    write_csv(
        &shifted_gauss(30, 5, 0.3, 1).unwrap(),
        &dir.join("train.csv"),
    )
    .unwrap();
    write_csv(
        &shifted_gauss(16, 5, 0.3, 2).unwrap(),
        &dir.join("test.csv"),
    )
    .unwrap();
}

fn base(dir: &Path) -> Command {
    let mut cmd = bin();
    cmd.args(["crosscheck", "--train"])
        .arg(dir.join("train.csv"))
        .arg("--test")
        .arg(dir.join("test.csv"))
        .arg("--quiet");
    cmd
}

#[test]
fn crosscheck_writes_every_quantity_for_every_run_and_the_fits() {
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    let out = tmp.path().join("cc");
    let o = base(tmp.path())
        .args([
            "--widths", "8,32", "--seeds", "2", "--time", "0.5", "--lr", "0.05",
        ])
        .args(["--loss", "logistic", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut r = csv::Reader::from_path(out.join("crosscheck.csv")).unwrap();
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["width", "seed", "quantity", "value"]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    let quantities = [
        "rel_error_lin",
        "rel_error_inf",
        "rel_error_inf_plus_f0",
        "sign_agreement_lin",
        "sign_agreement_inf",
        "sign_agreement_inf_plus_f0",
        "grad_cosine_lin",
        "weight_change",
        "pattern_flip_fraction",
    ];
    assert_eq!(rows.len(), 2 * 2 * quantities.len());
    for width in ["8", "32"] {
        for seed in ["0", "1"] {
            for q in quantities {
                let row = rows
                    .iter()
                    .find(|r| &r[0] == width && &r[1] == seed && &r[2] == q)
                    .unwrap_or_else(|| panic!("missing {width},{seed},{q}"));
                assert!(row[3].parse::<f64>().unwrap().is_finite());
            }
        }
    }
    let mut f = csv::Reader::from_path(out.join("crosscheck_fit.csv")).unwrap();
    assert_eq!(
        f.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "quantity",
            "slope",
            "slope_ci_low",
            "slope_ci_high",
            "intercept",
            "theory_slope"
        ]
    );
    let fits: Vec<csv::StringRecord> = f.records().map(|x| x.unwrap()).collect();
    assert_eq!(fits.len(), 3);
    assert_eq!(&fits[0][0], "rel_error_lin");
    assert!(fits[0][1].parse::<f64>().unwrap().is_finite());
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("command = \"crosscheck\""));
}

#[test]
fn bad_crosscheck_flags_exit_with_code_2_name_the_flag_and_leave_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    for (flag, value) in [("--widths", "0"), ("--seeds", "0"), ("--time", "-1")] {
        let out = tmp.path().join("bad");
        let mut cmd = base(tmp.path());
        for (f, v) in [("--widths", "8"), ("--seeds", "1"), ("--time", "0.5")] {
            if f != flag {
                cmd.args([f, v]);
            }
        }
        let o = cmd
            .args([flag, value, "--lr", "0.1", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{flag}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains(&format!("invalid value for {flag}")),
            "{flag}: {stderr}"
        );
        assert!(!out.exists(), "{flag}: output directory left behind");
    }
}
