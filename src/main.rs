//! The `berth` binary: `cli::main` parses, sets up logging, runs and owns exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    berth::cli::main()
}
