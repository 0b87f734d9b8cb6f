//! The `kiln` binary: parse arguments, set up logging, run, map the outcome to an exit code
//! (0 ok, 1 bad input, 2 environment/internal failure, 130 interrupted).

mod cli;

fn main() {
    let code = cli::main();
    std::process::exit(code);
}
