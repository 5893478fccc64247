//! The `meshgen` binary: parse the command line, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    meshgen::run(std::env::args_os())
}
