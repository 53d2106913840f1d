//! Build contexts: which files a build sends, what they hash to, and the
//! tar that carries them.
//!
//! A build's context is the committed git tree of `build.context` at HEAD
//! (SPEC §3.3) — or, for a snapshot read from a commit (`Origin::Commit`),
//! at that commit, with no working tree at all — read from git objects by id; its content id (`content`) is
//! a hash over the paths, modes and blob ids of the files sent, so commits
//! elsewhere, merges, cherry-picks and shallow clones never change it.
//! Uncommitted changes among the files sent (modified, staged, deleted, or
//! untracked and not ignored), or no git at all, fall back to the working
//! tree; its tar is written once to a private temporary file while hashed,
//! and refused if the hash is not the plan's, so new content never builds
//! under an old tag. `.dockerignore` is honoured in both cases. The tar is
//! streamed in chunks: a large context is never held in memory whole.

use bytes::Bytes;
use futures_util::Stream;
use std::io::{Seek, SeekFrom};
use std::path::Path;
use std::pin::Pin;

use super::Origin;

mod content;
mod ctx;
mod dockerignore;
pub mod identity;
mod status;
pub(super) mod tar;
#[cfg(test)]
mod tests;

pub use identity::BuildInputs;

use ctx::Ctx;
use dockerignore::Filter;

/// A build context as tar bytes, in order.
pub type ContextStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static>>;

/// Which files a build sends, and what they hash to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ContextVersion {
    /// Where the files come from.
    pub from: ContextFrom,
    /// sha256 (64 hex) over the git mode, path and git blob id of every
    /// file, symlink and folder sent, in order: the same files hash the same
    /// from any commit, clone or the disk.
    pub content: String,
    /// Git blob id of the Dockerfile (also covered by `content`).
    pub dockerfile_blob: String,
    /// `content` without the Dockerfile: what changed, for messages.
    pub other_files: String,
}

/// Where a context's files come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ContextFrom {
    /// The committed tree of `commit` (40 hex, HEAD when planned), read
    /// from git objects by id.
    Commit { commit: String },
    /// The working tree. `why`: uncommitted changes, no git repository, no
    /// commit yet. `files`: the first uncommitted files (repository-relative),
    /// `more`: how many others.
    WorkingTree {
        why: String,
        #[serde(default)]
        files: Vec<String>,
        #[serde(default)]
        more: usize,
    },
}

impl ContextVersion {
    /// The commit the files come from, when they are committed.
    pub fn commit(&self) -> Option<&str> {
        match &self.from {
            ContextFrom::Commit { commit } => Some(commit),
            ContextFrom::WorkingTree { .. } => None,
        }
    }
}

/// Uncommitted files listed by name in a `ContextFrom::WorkingTree`.
const LISTED: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("build context `{context}` {problem}")]
    Invalid { context: String, problem: String },
    #[error("failed to read build context `{context}`: {message}")]
    Read { context: String, message: String },
    #[error(
        "build context `{context}` changed since the plan (its files no longer hash to the planned {planned}): nothing was built from it; run `berth plan` again"
    )]
    Changed { context: String, planned: String },
}

const THROUGH_SYMLINK: &str = "leaves the repository through a symlink";

/// [`context_version_with`] for the Dockerfile at `Dockerfile`.
pub fn context_version(root: &Path, context: &str) -> Result<ContextVersion, ContextError> {
    context_version_with(root, context, "Dockerfile")
}

/// Decide where the files of `context` (repository-relative, `/`-separated,
/// already checked not to escape) come from, and hash them, for a build
/// whose Dockerfile is `dockerfile` (relative to the context). The
/// Dockerfile is always sent, even when `.dockerignore` excludes it, so it
/// is always hashed.
pub fn context_version_with(root: &Path, context: &str, dockerfile: &str) -> Result<ContextVersion, ContextError> {
    version_at(&Origin::WorkTree { root: root.to_path_buf() }, context, dockerfile)
}

/// [`context_version_with`] of a snapshot's origin: a commit's context is
/// its tree in that commit, clean by definition.
pub(super) fn version_at(origin: &Origin, context: &str, dockerfile: &str) -> Result<ContextVersion, ContextError> {
    let ctx = Ctx::at(origin, context)?;
    if let Origin::Commit { commit, .. } = origin {
        return ctx.commit_version(commit, dockerfile);
    }
    let dockerfile = ctx.dockerfile(dockerfile)?;
    let dir = ctx.disk_dir()?;
    let working = |why: String, files: Vec<String>| ctx.working_tree(&dir, &dockerfile, why, files);
    let Some(git) = ctx.open_git() else {
        return working("not a git repository".into(), Vec::new());
    };
    let head = match git.repo.head() {
        Ok(head) => head,
        Err(e) if matches!(e.code(), git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound) => {
            return working("no commit yet".into(), Vec::new());
        }
        Err(e) => return Err(ctx.git_error(e)),
    };
    let head = head.peel_to_commit().map_err(|e| ctx.git_error(e))?;
    let head_tree = head.tree().map_err(|e| ctx.git_error(e))?;
    let committed = ctx.committed_folder(&git.repo, &head_tree, &git.path)?;
    let sent = Filter::new(ctx.disk_ignore(&dir)?, &dockerfile);
    let dirty = ctx.uncommitted(&git, &sent)?;
    if !dirty.is_empty() {
        return working(format!("uncommitted changes in {}", ctx.display()), dirty);
    }
    let Some(folder) = committed else {
        return working(format!("{} is not committed", ctx.display()), Vec::new());
    };
    let tree = git.repo.find_tree(folder).map_err(|e| ctx.git_error(e))?;
    let entries = ctx.tree_entries(&git.repo, &tree, &dockerfile)?;
    let hashed = tar::hash_entries(&entries, &dockerfile).map_err(|e| ctx.read_error(e.to_string()))?;
    Ok(ContextVersion {
        from: ContextFrom::Commit { commit: head.id().to_string() },
        content: hashed.content,
        dockerfile_blob: hashed.dockerfile_blob,
        other_files: hashed.other_files,
    })
}

/// `berth.yaml`, `berth.yml` and files under `apps/` of the repository at
/// `root` that are not committed (repository-relative, sorted): they are
/// planned from the working tree, not from a commit. Empty outside git.
pub fn uncommitted_config(root: &Path) -> Vec<String> {
    let Ok(ctx) = Ctx::new(root, ".") else { return Vec::new() };
    let Some(git) = ctx.open_git() else { return Vec::new() };
    let base = git.path.join("/");
    let join = |name: &str| if base.is_empty() { name.to_string() } else { format!("{base}/{name}") };
    let paths = [join("berth.yaml"), join("berth.yml"), join("apps")];
    let prefixes: Vec<&str> = paths.iter().map(String::as_str).collect();
    match status::uncommitted(&git.repo, &prefixes) {
        Ok(found) => found.iter().filter_map(|p| status::below(p, &base)).map(String::from).collect(),
        Err(e) => {
            tracing::debug!("git status of the repository's own files failed: {}", e.message());
            Vec::new()
        }
    }
}

/// Check that `dockerfile` (relative to the context) exists in the files
/// `version` names: what [`context_tar`] checks first, for plan time.
pub fn check_dockerfile(
    root: &Path,
    context: &str,
    dockerfile: &str,
    version: &ContextVersion,
) -> Result<(), ContextError> {
    let ctx = Ctx::new(root, context)?;
    let dockerfile = ctx.dockerfile(dockerfile)?;
    match &version.from {
        ContextFrom::Commit { commit } => {
            let (repo, folder) = ctx.commit_folder(commit)?;
            let tree = repo.find_tree(folder).map_err(|e| ctx.git_error(e))?;
            ctx.check_tree_dockerfile(&tree, &dockerfile)
        }
        ContextFrom::WorkingTree { .. } => {
            let dir = ctx.disk_dir()?;
            ctx.check_disk_dockerfile(&dir, &dockerfile)
        }
    }
}

/// The context as tar: the committed tree of `version` (or the working
/// tree), minus what `.dockerignore` excludes (the Dockerfile and
/// `.dockerignore` are always sent, as the docker CLI does). Refused with
/// [`ContextError::Changed`] before a byte is sent when the files do not
/// hash to `version.content`.
///
/// Blocking: a working tree is written to a private temporary file first
/// (one read of each file, hashed as it is written), and only that file is
/// sent. Call it off the async threads.
pub fn context_tar(
    root: &Path,
    context: &str,
    dockerfile: &str,
    version: &ContextVersion,
) -> Result<ContextStream, ContextError> {
    tar_at(&Origin::WorkTree { root: root.to_path_buf() }, context, dockerfile, version)
}

/// [`context_tar`] from a snapshot's origin. From a commit, only committed
/// versions can be sent: there is no working tree.
pub(super) fn tar_at(
    origin: &Origin,
    context: &str,
    dockerfile: &str,
    version: &ContextVersion,
) -> Result<ContextStream, ContextError> {
    let ctx = Ctx::at(origin, context)?;
    let dockerfile = ctx.dockerfile(dockerfile)?;
    let changed = || ContextError::Changed { context: ctx.name.clone(), planned: short(&version.content) };
    let spawned = match &version.from {
        ContextFrom::Commit { commit } => {
            let (repo, folder) = ctx.commit_folder(commit)?;
            let entries = {
                let tree = repo.find_tree(folder).map_err(|e| ctx.git_error(e))?;
                ctx.tree_entries(&repo, &tree, &dockerfile)?
            };
            // Git objects never change under their id; this catches a plan
            // made by another berth, or a `.dockerignore` read differently.
            let hashed = tar::hash_entries(&entries, &dockerfile).map_err(|e| ctx.read_error(e.to_string()))?;
            if hashed.content != version.content {
                return Err(changed());
            }
            tar::spawn_stream(move |out| tar::write_tar(out, &entries, Some(&repo), &dockerfile).map(drop))
        }
        ContextFrom::WorkingTree { .. } => {
            let dir = ctx.disk_dir()?;
            ctx.check_disk_dockerfile(&dir, &dockerfile)?;
            let filter = Filter::new(ctx.disk_ignore(&dir)?, &dockerfile);
            let read = |e: std::io::Error| ctx.read_error(e.to_string());
            let entries = tar::disk_entries(&dir, &filter).map_err(read)?;
            let file =
                tempfile::tempfile().map_err(|e| ctx.read_error(format!("cannot create a temporary file: {e}")))?;
            let (mut file, hashed) = tar::write_tar(file, &entries, None, &dockerfile).map_err(read)?;
            if hashed.content != version.content {
                return Err(changed());
            }
            file.seek(SeekFrom::Start(0)).map_err(read)?;
            tar::spawn_stream(move |out| std::io::copy(&mut file, out).map(drop))
        }
    };
    spawned.map_err(|e| ctx.read_error(format!("cannot start the tar thread: {e}")))
}

fn short(hash: &str) -> String {
    hash[..identity::TAG_LEN.min(hash.len())].to_string()
}
