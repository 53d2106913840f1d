//! The `berth` binary: logging, then `cli::main`, which owns exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    berth::cli::logging::init();
    berth::cli::main()
}
