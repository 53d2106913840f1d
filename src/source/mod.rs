//! Source: read the repository's files into an in-memory `Snapshot`.
//!
//! Two sources yield the same `Snapshot`: the working tree
//! (`read_working_tree`), and a commit's tree read through git2 with no
//! checkout (`read_revision` for a work tree's commit, what a saved plan is
//! applied from; `read_commit` for any repository, bare ones included:
//! what `remote` reads from its mirror). `Snapshot::content_hash` names
//! exactly the files read, whatever their source or folder.
//!
//! After `source`, nothing reads the disk: the snapshot carries its `Tree`
//! (`tree`), which answers every later question about the repository's
//! other files from the same origin — the paths validation checks, and, as
//! tar streams with a content hash, build contexts (`context`) and
//! repository folders mounted into containers (`files`). `remote` keeps a
//! bare mirror of a remote repository's branch, fetched with `git`.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
pub mod remote;
mod revision;
#[cfg(test)]
mod tests;
mod tree;

pub use revision::{head_commit, read_commit, read_revision, Revision};
pub use tree::{Origin, PathKind, Tree};

/// The files berth reads from a repository, as they are at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Where they were read from, and what answers questions about the
    /// repository's other files.
    pub tree: Tree,
    /// The default project name: a working tree's folder name, a remote's
    /// repository name from its URL (never the folder a clone is kept in).
    pub name: String,
    /// `berth.yaml` (or `berth.yml`), if present.
    pub settings: Option<SourceFile>,
    /// `apps/**/*.yaml` and `*.yml`, sorted by path.
    pub apps: Vec<SourceFile>,
    /// `credentials/*.age`, sorted by path.
    pub credentials: Vec<SourceFile>,
    /// Files present in both spellings, as (the `.yaml`, read; the `.yml`,
    /// left out): `berth.yaml` and `berth.yml`, `apps/web.yaml` and
    /// `apps/web.yml`. `spec` reports each as an error.
    pub twins: Vec<(String, String)>,
}

/// One file: its repository-relative path (with `/`) and contents.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("failed to open repository {path}: {source}")]
    Root { path: PathBuf, source: std::io::Error },
    #[error("failed to read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "{} is not a berth repository: it has neither berth.yaml (or berth.yml) nor an apps/ folder\n  \
hint: a repository needs apps/<name>.yaml (one file per app) and/or berth.yaml (global settings)",
        .path.display()
    )]
    NotARepository { path: PathBuf },
    #[error("failed to read {rev} of {place}: {message}")]
    Revision { place: String, rev: String, message: String },
    #[error(
        "{place} is not a berth repository in commit {commit}: the commit has neither berth.yaml (or berth.yml) nor an apps/ folder there"
    )]
    NotARepositoryAt { place: String, commit: String },
}

impl Snapshot {
    /// sha256 (64 hex) of the files read: each one's repository-relative
    /// path and bytes, in path order. The same files hash the same from a
    /// working tree or a commit, in any folder.
    pub fn content_hash(&self) -> String {
        let mut files: Vec<&SourceFile> = self.settings.iter().chain(&self.apps).chain(&self.credentials).collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut hash = Sha256::new();
        hash.update(b"berth source v1\0");
        for f in files {
            // Lengths first: no two lists of files hash alike by shifting bytes between path and content.
            hash.update((f.path.len() as u64).to_le_bytes());
            hash.update(f.path.as_bytes());
            hash.update((f.bytes.len() as u64).to_le_bytes());
            hash.update(&f.bytes);
        }
        hex::encode(hash.finalize())
    }
}

/// Whether `root` is a berth repository: it has `berth.yaml`/`berth.yml` or an `apps/` folder.
pub fn is_repository(root: &Path) -> bool {
    SETTINGS_NAMES.iter().any(|n| root.join(n).exists()) || root.join("apps").is_dir()
}

/// The settings file's names, the preferred one first.
const SETTINGS_NAMES: [&str; 2] = ["berth.yaml", "berth.yml"];

/// Read a working tree. A folder that is not a repository (neither settings
/// nor `apps/`) is refused, so no command mistakes it for an empty one.
pub fn read_working_tree(root: &Path) -> Result<Snapshot, SourceError> {
    let root = root.canonicalize().map_err(|source| SourceError::Root { path: root.to_path_buf(), source })?;
    if !root.is_dir() {
        let source = std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory");
        return Err(SourceError::Root { path: root, source });
    }
    if !is_repository(&root) {
        return Err(SourceError::NotARepository { path: root });
    }
    let present: Vec<&str> = SETTINGS_NAMES.into_iter().filter(|n| root.join(n).exists()).collect();
    let mut twins = settings_twins(&present);
    let settings = match present.first() {
        Some(name) => Some(read(&root, &root.join(name))?),
        None => None,
    };
    let mut apps = collect(&root, "apps", &["yaml", "yml"])?;
    set_app_twins_aside(&mut apps, &mut twins);
    let credentials = collect(&root, "credentials", &["age"])?;
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Snapshot { tree: Tree::work_tree(root), name, settings, apps, credentials, twins })
}

/// Both settings files present (names as in `SETTINGS_NAMES`, in order):
/// the `.yml` one is a twin, left out.
fn settings_twins(present: &[&str]) -> Vec<(String, String)> {
    match present {
        [yaml, yml] => vec![(yaml.to_string(), yml.to_string())],
        _ => Vec::new(),
    }
}

/// Leave out `apps/x.yml` when `apps/x.yaml` is there too, as a twin.
fn set_app_twins_aside(apps: &mut Vec<SourceFile>, twins: &mut Vec<(String, String)>) {
    let paths: std::collections::BTreeSet<String> = apps.iter().map(|f| f.path.clone()).collect();
    apps.retain(|f| {
        let twin = f.path.strip_suffix(".yml").map(|stem| format!("{stem}.yaml")).filter(|p| paths.contains(p));
        match twin {
            Some(yaml) => {
                twins.push((yaml, f.path.clone()));
                false
            }
            None => true,
        }
    });
}

fn collect(root: &Path, dir: &str, exts: &[&str]) -> Result<Vec<SourceFile>, SourceError> {
    let base = root.join(dir);
    if !base.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(&base).sort_by_file_name() {
        let entry = entry.map_err(|e| SourceError::Read { path: base.clone(), source: e.into() })?;
        let p = entry.path();
        let matches = p.extension().and_then(|e| e.to_str()).is_some_and(|e| exts.contains(&e));
        if entry.file_type().is_file() && matches {
            files.push(read(root, p)?);
        }
    }
    Ok(files)
}

fn read(root: &Path, p: &Path) -> Result<SourceFile, SourceError> {
    let bytes = std::fs::read(p).map_err(|source| SourceError::Read { path: p.to_path_buf(), source })?;
    let rel = p.strip_prefix(root).unwrap_or(p);
    let path = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    Ok(SourceFile { path, bytes })
}

/// Credential names (file stems under `credentials/`) in the order they were
/// first added to the repository's git history, oldest first. `None` when the
/// repository is not a git work tree or has no commits.
pub fn credentials_added_order(root: &Path) -> Option<Vec<String>> {
    // The berth repository may be a folder inside a larger git repository.
    let repo = git2::Repository::discover(root).ok()?;
    let workdir = repo.workdir()?.canonicalize().ok()?;
    let folder = root.canonicalize().ok()?.strip_prefix(&workdir).ok()?.to_path_buf();
    let head = repo.head().ok()?.peel_to_commit().ok()?.id();
    added_order(&repo, head, &folder)
}

/// [`credentials_added_order`] of `folder` (below the top) in the history
/// of commit `start`.
fn added_order(repo: &git2::Repository, start: git2::Oid, folder: &Path) -> Option<Vec<String>> {
    let prefix = folder.join("credentials");
    let mut walk = repo.revwalk().ok()?;
    walk.push(start).ok()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME | git2::Sort::REVERSE).ok()?;
    let mut order: Vec<String> = Vec::new();
    for oid in walk.flatten() {
        let Ok(tree) = repo.find_commit(oid).and_then(|c| c.tree()) else { continue };
        let Ok(dir) = tree.get_path(&prefix) else { continue };
        let Ok(dir) = repo.find_tree(dir.id()) else { continue };
        let mut names: Vec<String> = dir
            .iter()
            .filter_map(|e| e.name().ok().and_then(|n| n.strip_suffix(".age")).map(String::from))
            .filter(|n| !order.contains(n))
            .collect();
        names.sort(); // several added in one commit: alphabetical among them
        order.extend(names);
    }
    Some(order)
}

pub mod context;
pub mod files;
pub use context::{
    context_tar, context_version, BuildInputs, ContextError, ContextFrom, ContextStream, ContextVersion,
};
pub use files::{files_tar, files_version, FilesError, FilesVersion};
