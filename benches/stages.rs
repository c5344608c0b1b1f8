//! `cargo bench --bench stages`: every heavy stage against its roofline operation timed in the same
//! run (the same table as `ntk-perturb bench`, full sizes). Pass `--quick` after `--` for small sizes.

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = std::env::temp_dir().join(format!("ntk-perturb-bench-{}", std::process::id()));
    let dir_s = dir.display().to_string();
    let mut args = vec!["ntk-perturb", "bench", "--force", "--out", dir_s.as_str()];
    if quick {
        args.push("--quick");
    }
    let cli = <ntk_perturb::cli::Cli as clap::Parser>::parse_from(args);
    if let Err(e) = ntk_perturb::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
