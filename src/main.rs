//! `ntk-perturb` binary: parses the command line and calls one library function per subcommand.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
