//! Spec: the repository's YAML as typed, validated values with positions.
//!
//! Input is a `source::Snapshot` (file bytes, and its `Tree` answering
//! validation's questions about repository paths); output is a `Repo` or every `Diagnostic` found.
//! Values written as strings (ports, volumes, memory, durations, signals,
//! commands, image references) are parsed once, while deserializing, into
//! the typed values of `scalars` and `values`; later stages read those.

pub mod at;
mod extensions;
mod parse;
pub mod reference;
pub mod scalars;
pub mod types;
mod validate;
pub mod values;

pub use at::At;
pub use types::*;

use crate::diag::Diagnostic;
use crate::source::Snapshot;

/// A parsed, validated repository.
#[derive(Debug, Clone)]
pub struct Repo {
    /// Where the files were read from: what later stages ask about build
    /// contexts and mounted folders.
    pub tree: crate::source::Tree,
    /// `project:` or the snapshot's name (the root folder's, or a remote's).
    pub project: String,
    pub settings: Settings,
    /// Apps sorted by name.
    pub apps: Vec<AppFile>,
    /// Names of the files under `credentials/` (without `.age`).
    pub credentials: Vec<String>,
}

/// One app file.
#[derive(Debug, Clone)]
pub struct AppFile {
    /// Repository-relative path, e.g. `apps/web.yaml`.
    pub path: String,
    /// `name:` or the file stem.
    pub name: String,
    pub spec: AppSpec,
}

/// Parse and validate every file of the snapshot; all problems at once.
pub fn load(snapshot: &Snapshot) -> Result<Repo, Vec<Diagnostic>> {
    let (settings, apps, mut diags) = parse::parse_all(snapshot);
    for (yaml, yml) in &snapshot.twins {
        diags.push(
            Diagnostic::new(yml, 0, 0, format!("{yml} and {yaml} are two spellings of one file"))
                .hint(format!("berth reads .yml like .yaml; keep one of them (only {yaml} was read)")),
        );
    }
    let repo = validate::validate(snapshot, settings, apps, &mut diags);
    parse::attach_snippets(snapshot, &mut diags);
    sort_by_file(snapshot, &mut diags);
    if diags.is_empty() {
        Ok(repo)
    } else {
        Err(diags)
    }
}

/// Parse the settings file alone, with no checks beyond its types: what
/// applying a saved plan needs of its checkout besides the credentials (the
/// plan, made from these very files, was checked whole).
pub fn load_settings(snapshot: &Snapshot) -> Result<Settings, Vec<Diagnostic>> {
    let alone = Snapshot {
        tree: snapshot.tree.clone(),
        name: snapshot.name.clone(),
        settings: snapshot.settings.clone(),
        apps: Vec::new(),
        credentials: Vec::new(),
        twins: Vec::new(),
    };
    let (settings, _, mut diags) = parse::parse_all(&alone);
    parse::attach_snippets(&alone, &mut diags);
    match settings {
        Some(s) if diags.is_empty() => Ok(s.value),
        _ => Err(diags),
    }
}

/// Order diagnostics as the files are listed (berth.yaml first), then by position.
fn sort_by_file(snapshot: &Snapshot, diags: &mut [Diagnostic]) {
    let order = |file: &str| {
        let files = snapshot.settings.iter().chain(&snapshot.apps);
        files.clone().position(|f| f.path == file).unwrap_or(usize::MAX)
    };
    diags.sort_by_cached_key(|d| (order(&d.file), d.line, d.col));
}
