//! `berth validate`: load and resolve everything, print every error.

use super::EXIT_OK;
use std::path::Path;

pub fn run(repo: &Path, load: &crate::pipeline::LoadOptions) -> anyhow::Result<u8> {
    let loaded = crate::pipeline::load(repo, load)?;
    let n = loaded.desired.apps.len();
    let containers: usize = loaded.desired.apps.iter().map(|a| a.containers.len()).sum();
    let creds = loaded.credentials.items.len();
    println!(
        "Valid: project {}, {n} app(s), {containers} container(s), {creds} credential(s).",
        loaded.desired.project
    );
    Ok(EXIT_OK)
}
