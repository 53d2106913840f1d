//! berth's push of a local image, for benches/push.sh: `Engine::push`
//! through `DockerEngine::connect()` (the engine uploads the layers the
//! registry lacks, then the manifest), as `berth apply` pushes a build.
//!
//!     cargo run --release --example engine_push -- IMAGE
//!
//! A login comes from BERTH_BENCH_USER and BERTH_BENCH_PASSWORD (none:
//! anonymous). Prints `<digest> <seconds>`: the digest the registry stored
//! and the time the push call took (without connecting to the engine).

use berth::observe::docker::DockerEngine;
use berth::observe::{Engine, PullAuth};
use std::time::Instant;

#[tokio::main]
async fn main() {
    let Some(image) = std::env::args().nth(1) else {
        eprintln!("usage: engine_push IMAGE");
        std::process::exit(64);
    };
    let auth = match (std::env::var("BERTH_BENCH_USER"), std::env::var("BERTH_BENCH_PASSWORD")) {
        (Ok(username), Ok(password)) => {
            let server = image.split('/').next().unwrap_or_default().to_string();
            Some(PullAuth { server, username, password })
        }
        _ => None,
    };
    let engine = match DockerEngine::connect().await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("engine_push: {e}");
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    match engine.push(&image, auth.as_ref()).await {
        Ok(digest) => println!("{digest} {:.3}", started.elapsed().as_secs_f64()),
        Err(e) => {
            eprintln!("engine_push: {e}");
            std::process::exit(1);
        }
    }
}
