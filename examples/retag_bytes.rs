//! What berth's manifest-only push of an extra tag sends, for
//! benches/push.sh: `RegistryClient::retag` of IMAGE to each TAG, one after
//! the other, with one client (as an apply does).
//!
//!     cargo run --release --example retag_bytes -- IMAGE TAG...
//!
//! A login comes from BERTH_BENCH_USER and BERTH_BENCH_PASSWORD (none:
//! anonymous). Prints `<tag> <bytes>` per tag, the bytes berth counted
//! itself (see `RegistryClient::retag`), then `total <bytes>`. Exit 1, with
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
    let mut total = 0;
    for tag in tags {
        match client.retag(image, tag, login.as_ref(), None).await {
            Ok(bytes) => {
                println!("{tag} {bytes}");
                total += bytes;
            }
            Err(e) => {
                eprintln!("retag_bytes: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("total {total}");
}
