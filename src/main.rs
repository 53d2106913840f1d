//! The `berth` binary: logging, then `cli::run`, which owns exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Logs go to stderr; RUST_LOG controls them (default: warnings only).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    berth::cli::main()
}
