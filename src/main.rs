//! `ntk-perturb` binary: a thin shell over [`ntk_perturb::cli`].

fn main() {
    std::process::exit(ntk_perturb::cli::main());
}
