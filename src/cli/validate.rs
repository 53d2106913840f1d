//! `berth validate`: load and resolve everything, print every error.

use super::EXIT_OK;
use std::path::Path;

pub fn run(repo: &Path) -> anyhow::Result<u8> {
    let loaded = crate::pipeline::load(repo)?;
    let n = loaded.desired.apps.len();
    let containers: usize = loaded.desired.apps.iter().map(|a| a.containers.len()).sum();
    println!("Valid: project {}, {n} app(s), {containers} container(s).", loaded.desired.project);
    Ok(EXIT_OK)
}
