//! JSON Schemas generated from the Rust types: `berth schema` writes them,
//! `schema/` in the project holds them, and a test keeps the two equal.
//! The input files (app, berth.yaml) and every document `--output json`
//! prints: the plan, validate's and apply's results, and the error a
//! failing command prints; `berth watch`'s `/status` document and `--notify` event.

use crate::plan::Plan;
use crate::render::json::{ApplyDocument, ErrorDocument, ValidateDocument};
use crate::spec::{AppSpec, Settings};
use std::path::Path;

/// File name → schema text, for every schema berth publishes.
pub fn all() -> Vec<(&'static str, String)> {
    let pretty = |s: schemars::Schema| serde_json::to_string_pretty(&s).expect("schema serializes") + "\n";
    vec![
        ("app.schema.json", pretty(schemars::schema_for!(AppSpec))),
        ("berth.schema.json", pretty(schemars::schema_for!(Settings))),
        ("plan.schema.json", pretty(schemars::schema_for!(Plan))),
        ("error.schema.json", pretty(schemars::schema_for!(ErrorDocument))),
        ("validate.schema.json", pretty(schemars::schema_for!(ValidateDocument))),
        ("apply.schema.json", pretty(schemars::schema_for!(ApplyDocument))),
        ("status.schema.json", pretty(schemars::schema_for!(crate::watch::StatusDoc))),
        ("notify.schema.json", pretty(schemars::schema_for!(crate::watch::notify::NotifyEvent))),
    ]
}

/// Write every schema into `dir`.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in all() {
        let p = dir.join(name);
        std::fs::write(&p, text)?;
        written.push(p);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_folder_is_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
        for (name, text) in super::all() {
            let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            assert!(on_disk == text, "schema/{name} is stale: run `cargo run -- schema --out schema`");
        }
    }
}
