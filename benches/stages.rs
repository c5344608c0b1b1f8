//! `cargo bench --bench stages`: every heavy stage against its roofline operation timed in the same
//! run (the same table as `ntk-perturb bench`, full sizes). Pass `--quick` after `--` for small sizes.

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = std::env::temp_dir().join(format!("ntk-perturb-bench-{}", std::process::id()));
    let dir_s = dir.display().to_string();
    let mut args = vec!["bench", "--force", "--out", dir_s.as_str()];
    if quick {
        args.push("--quick");
    }
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
        .args(&args)
        .status();
    let _ = std::fs::remove_dir_all(&dir);
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => std::process::exit(s.code().unwrap_or(1)),
        Err(e) => {
            eprintln!("error: cannot run ntk-perturb: {e}");
            std::process::exit(1);
        }
    }
}
