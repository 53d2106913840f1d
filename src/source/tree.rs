//! Where a snapshot's files come from (`Origin`), and the handle (`Tree`)
//! later stages ask about the repository's other files: whether a path
//! exists, is a folder or a file, or leaves the repository through a
//! symlink (validation); what a build context or a mounted folder hashes to
//! and the tar that carries it (load and apply); which spec files are
//! uncommitted, and the order credentials were added (notes, `report`).
//!
//! Every answer comes from the origin: a working tree from the disk, a
//! commit from its git tree — never a commit's question from a working tree
//! that happens to be near it. `Tree` holds paths and ids only: it is cheap
//! to clone and to send to the threads that stream tars.

use super::context::{self, ContextError, ContextStream, ContextVersion};
use super::files::{self, FilesError, FilesVersion};
use super::revision::{Located, Reader, MODES_FILE};
use std::path::{Path, PathBuf};

/// Where a snapshot was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A folder on disk (canonical), read as it is now.
    WorkTree { root: PathBuf },
    /// A folder of a commit's tree, read from git objects: the repository
    /// at `git_dir` (a work tree's `.git`, or a bare mirror), `folder` its
    /// path below the top (`/`-separated, empty for the top), `commit` 40 hex.
    Commit { git_dir: PathBuf, folder: String, commit: String },
}

/// What a repository path is, as validation needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Absent (or a symlink to nothing).
    Missing,
    Folder,
    File,
    /// Present, but neither (a socket, a submodule).
    Other,
    /// It resolves, through a symlink, outside the repository's folder.
    Escapes,
}

/// A snapshot's origin, and the questions asked of it after `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    origin: Origin,
    /// Where it is, for messages: a folder, or a remote's URL (no secret in it).
    place: String,
}

impl Tree {
    /// A working tree at `root` (canonical).
    pub fn work_tree(root: PathBuf) -> Tree {
        let place = root.display().to_string();
        Tree { origin: Origin::WorkTree { root }, place }
    }

    /// `folder` of `commit` in the git repository at `git_dir`; `place`
    /// names it in messages.
    pub fn commit(git_dir: PathBuf, folder: String, commit: String, place: String) -> Tree {
        Tree { origin: Origin::Commit { git_dir, folder, commit }, place }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Where the files are, for messages.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// The working tree's folder, for what only a working tree has (its
    /// credential files written by `berth secrets`).
    pub fn work_root(&self) -> Option<&Path> {
        match &self.origin {
            Origin::WorkTree { root } => Some(root),
            Origin::Commit { .. } => None,
        }
    }

    /// The commit read, when the files come from one.
    pub fn commit_id(&self) -> Option<&str> {
        match &self.origin {
            Origin::WorkTree { .. } => None,
            Origin::Commit { commit, .. } => Some(commit),
        }
    }

    /// What `rel` (repository-relative, normalized, `.` for the root) is,
    /// symlinks followed as the file system follows them. A git error reads
    /// as `Missing`: the snapshot itself was read from the same objects.
    pub fn path_kind(&self, rel: &str) -> PathKind {
        match &self.origin {
            Origin::WorkTree { root } => disk_kind(root, rel),
            Origin::Commit { git_dir, folder, commit } => {
                commit_kind(git_dir, folder, commit, rel).unwrap_or_else(|e| {
                    tracing::debug!("{rel} in commit {commit}: {}", e.message());
                    PathKind::Missing
                })
            }
        }
    }

    /// Where the files of build `context` come from and what they hash to
    /// (see [`context::context_version_with`]); from a commit, its tree.
    pub fn context_version(&self, context: &str, dockerfile: &str) -> Result<ContextVersion, ContextError> {
        context::version_at(&self.origin, context, dockerfile)
    }

    /// The build context as tar (see [`context::context_tar`]). Blocking.
    pub fn context_tar(
        &self,
        context: &str,
        dockerfile: &str,
        version: &ContextVersion,
    ) -> Result<ContextStream, ContextError> {
        context::tar_at(&self.origin, context, dockerfile, version)
    }

    /// What mounted repository `folder` ships (see [`files::files_version`]).
    pub fn files_version(&self, folder: &str) -> Result<FilesVersion, FilesError> {
        files::version_at(&self.origin, folder)
    }

    /// The files of `folder` as tar, refused unless they hash to `planned`
    /// (see [`files::files_tar`]). Blocking.
    pub fn files_tar(&self, folder: &str, planned: &str) -> Result<ContextStream, FilesError> {
        files::tar_at(&self.origin, folder, planned)
    }

    /// Spec files (`berth.yaml`, `apps/`) that are not committed; none
    /// from a commit.
    pub fn uncommitted_config(&self) -> Vec<String> {
        match &self.origin {
            Origin::WorkTree { root } => context::uncommitted_config(root),
            Origin::Commit { .. } => Vec::new(),
        }
    }

    /// Credential names in the order they were added (see
    /// [`super::credentials_added_order`]): up to HEAD of a working tree,
    /// up to the commit of a commit.
    pub fn credentials_added_order(&self) -> Option<Vec<String>> {
        match &self.origin {
            Origin::WorkTree { root } => super::credentials_added_order(root),
            Origin::Commit { git_dir, folder, commit } => {
                let repo = git2::Repository::open(git_dir).ok()?;
                let start = git2::Oid::from_str(commit).ok()?;
                super::added_order(&repo, start, Path::new(folder))
            }
        }
    }
}

fn disk_kind(root: &Path, rel: &str) -> PathKind {
    let full = root.join(rel);
    let Ok(real) = full.canonicalize() else { return PathKind::Missing };
    let root_real = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    if !real.starts_with(&root_real) {
        PathKind::Escapes
    } else if real.is_dir() {
        PathKind::Folder
    } else if real.is_file() {
        PathKind::File
    } else {
        PathKind::Other
    }
}

fn commit_kind(git_dir: &Path, folder: &str, commit: &str, rel: &str) -> Result<PathKind, git2::Error> {
    let repo = git2::Repository::open(git_dir)?;
    let commit = repo.find_commit(git2::Oid::from_str(commit)?)?;
    let top = commit.tree()?;
    let base = components(folder);
    let path: Vec<String> = base.iter().cloned().chain(components(rel)).collect();
    let reader = Reader { repo: &repo, top: &top };
    Ok(match reader.locate(path)? {
        Located::Absent => PathKind::Missing,
        Located::Outside => PathKind::Escapes,
        Located::At { real, .. } if !real.starts_with(&base) => PathKind::Escapes,
        Located::At { kind: git2::ObjectType::Tree, .. } => PathKind::Folder,
        Located::At { kind: git2::ObjectType::Blob, mode, .. } if MODES_FILE.contains(&mode) => PathKind::File,
        Located::At { .. } => PathKind::Other,
    })
}

/// A `/`-separated path's parts, without empty ones and `.`.
pub(in crate::source) fn components(path: &str) -> Vec<String> {
    path.split('/').filter(|p| !p.is_empty() && *p != ".").map(String::from).collect()
}

#[cfg(test)]
mod tests;
