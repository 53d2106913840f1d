//! The `berth` binary: logging, then `cli::run`, which owns exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Logs go to stderr; RUST_LOG controls them (default: warnings only).
    // bollard logs whole request bodies (container env included, so secret
    // values) at debug and trace: it is capped at info whatever RUST_LOG says.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn".into())
        .add_directive("bollard=info".parse().expect("static directive"))
        .add_directive("hyper=info".parse().expect("static directive"))
        .add_directive("reqwest=info".parse().expect("static directive"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).init();
    berth::cli::main()
}
