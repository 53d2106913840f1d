//! What berth's manifest-only push of extra tags sends, for
//! benches/push.sh: `RegistryClient::retag_all` of IMAGE to every TAG in one
//! call, as an apply does (one session and one manifest GET, a PUT per tag).
//!
//!     cargo run --release --example retag_bytes -- IMAGE TAG...
//!
//! A login comes from BERTH_BENCH_USER and BERTH_BENCH_PASSWORD (none:
//! anonymous). Prints `total <bytes>`, the bytes berth counted itself
//! (see `RegistryClient::retag`). Exit 1, with
//! the error on stderr, when a retag fails.

use berth::observe::registry::{Login, RegistryClient, RegistryOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((image, tags)) = args.split_first().filter(|(_, t)| !t.is_empty()) else {
        eprintln!("usage: retag_bytes IMAGE TAG...");
        std::process::exit(64);
    };
    let login = match (std::env::var("BERTH_BENCH_USER"), std::env::var("BERTH_BENCH_PASSWORD")) {
        (Ok(username), Ok(password)) => Some(Login { username, password }),
        _ => None,
    };
    let client = RegistryClient::new(RegistryOptions::default());
    match client.retag_all(image, tags, login.as_ref(), None).await {
        Ok(total) => println!("total {total}"),
        Err(e) => {
            eprintln!("retag_bytes: {e}");
            std::process::exit(1);
        }
    }
}
