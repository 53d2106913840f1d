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
use std::path::{Path, PathBuf};
use std::pin::Pin;

use super::Origin;

mod content;
mod dockerignore;
pub mod identity;
mod status;
pub(super) mod tar;
#[cfg(test)]
mod tests;

pub use identity::BuildInputs;

use dockerignore::{DockerIgnore, Filter};

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

/// A context folder: the repository and the folder's components.
struct Ctx {
    /// The context as given, for messages.
    name: String,
    base: Base,
    /// Normalized components below the repository's folder; empty for the folder itself.
    parts: Vec<String>,
}

/// Where the repository's files are.
enum Base {
    /// A canonical folder on disk, perhaps in a git work tree.
    Disk(PathBuf),
    /// A folder (components below the top) of a git repository's commits,
    /// opened at `git_dir`: no working tree.
    Git { git_dir: PathBuf, folder: Vec<String> },
}

/// The git repository holding the root, and the context's path in it
/// (relative to the work tree, which may be above the root).
struct Git {
    repo: git2::Repository,
    path: Vec<String>,
}

impl Ctx {
    fn new(root: &Path, context: &str) -> Result<Self, ContextError> {
        let parts = Self::parts(context)?;
        let root = root.canonicalize().map_err(|e| ContextError::Read {
            context: context.to_string(),
            message: format!("{}: {e}", root.display()),
        })?;
        Ok(Ctx { name: context.to_string(), base: Base::Disk(root), parts })
    }

    /// The context's normalized components; it must stay inside.
    fn parts(context: &str) -> Result<Vec<String>, ContextError> {
        let invalid =
            |problem: &str| ContextError::Invalid { context: context.to_string(), problem: problem.to_string() };
        if context.starts_with('/') {
            return Err(invalid("is not relative to the repository"));
        }
        let mut parts: Vec<String> = Vec::new();
        for part in context.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(invalid("escapes the repository"));
                    }
                }
                _ => parts.push(part.to_string()),
            }
        }
        Ok(parts)
    }

    fn at(origin: &Origin, context: &str) -> Result<Self, ContextError> {
        match origin {
            Origin::WorkTree { root } => Ctx::new(root, context),
            Origin::Commit { git_dir, folder, .. } => Ok(Ctx {
                name: context.to_string(),
                base: Base::Git { git_dir: git_dir.clone(), folder: super::tree::components(folder) },
                parts: Self::parts(context)?,
            }),
        }
    }

    /// The version of the context in `commit`, from its tree alone.
    fn commit_version(&self, commit: &str, dockerfile: &str) -> Result<ContextVersion, ContextError> {
        let dockerfile = self.dockerfile(dockerfile)?;
        let (repo, folder) = self.commit_folder(commit)?;
        let tree = repo.find_tree(folder).map_err(|e| self.git_error(e))?;
        let entries = self.tree_entries(&repo, &tree, &dockerfile)?;
        let hashed = tar::hash_entries(&entries, &dockerfile).map_err(|e| self.read_error(e.to_string()))?;
        Ok(ContextVersion {
            from: ContextFrom::Commit { commit: commit.to_string() },
            content: hashed.content,
            dockerfile_blob: hashed.dockerfile_blob,
            other_files: hashed.other_files,
        })
    }

    fn display(&self) -> String {
        if self.parts.is_empty() {
            ".".to_string()
        } else {
            self.parts.join("/")
        }
    }

    fn invalid(&self, problem: impl Into<String>) -> ContextError {
        ContextError::Invalid { context: self.name.clone(), problem: problem.into() }
    }

    fn read_error(&self, message: impl Into<String>) -> ContextError {
        ContextError::Read { context: self.name.clone(), message: message.into() }
    }

    fn git_error(&self, e: git2::Error) -> ContextError {
        self.read_error(format!("git: {}", e.message()))
    }

    /// The Dockerfile's path relative to the context, normalized.
    fn dockerfile(&self, dockerfile: &str) -> Result<String, ContextError> {
        let cleaned = dockerignore::clean(dockerfile);
        if cleaned.starts_with('/') || cleaned == "." || cleaned == ".." || cleaned.starts_with("../") {
            return Err(self.invalid(format!("has no {dockerfile}: the Dockerfile must be a file inside the context")));
        }
        Ok(cleaned)
    }

    /// The folder on disk (canonical), which must stay inside the root.
    fn disk_dir(&self) -> Result<PathBuf, ContextError> {
        let root = match &self.base {
            Base::Disk(root) => root,
            Base::Git { .. } => {
                return Err(self.read_error(
                    "its files are not committed, and the repository is read from a commit: there is no working tree to send them from; run `berth plan` again",
                ))
            }
        };
        let joined = self.parts.iter().fold(root.clone(), |p, c| p.join(c));
        let dir = match joined.canonicalize() {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(self.invalid("does not exist")),
            Err(e) => return Err(self.read_error(format!("{}: {e}", joined.display()))),
        };
        if !dir.starts_with(root) {
            return Err(self.invalid(THROUGH_SYMLINK));
        }
        if !dir.is_dir() {
            return Err(self.invalid("is not a folder"));
        }
        Ok(dir)
    }

    /// The git repository whose work tree holds the root (or whose
    /// commits hold it), if any.
    fn open_git(&self) -> Option<Git> {
        let root = match &self.base {
            Base::Disk(root) => root,
            Base::Git { git_dir, folder } => {
                let repo = git2::Repository::open(git_dir).ok()?;
                return Some(Git { repo, path: folder.iter().chain(&self.parts).cloned().collect() });
            }
        };
        let repo = git2::Repository::discover(root).ok()?;
        let workdir = repo.workdir()?.canonicalize().ok()?;
        let below = root.strip_prefix(&workdir).ok()?;
        let mut path = Vec::new();
        for c in below.components() {
            path.push(c.as_os_str().to_str()?.to_string());
        }
        path.extend(self.parts.iter().cloned());
        Some(Git { repo, path })
    }

    /// The context's tree in `tree` (`path` relative to the work tree):
    /// `None` when absent (or not a folder); a symlink on the way is refused.
    fn committed_folder(
        &self,
        repo: &git2::Repository,
        tree: &git2::Tree<'_>,
        path: &[String],
    ) -> Result<Option<git2::Oid>, ContextError> {
        let mut current = tree.clone();
        for (i, part) in path.iter().enumerate() {
            let Some((mode, kind, id)) = current.get_name(part).map(|e| (e.filemode(), e.kind(), e.id())) else {
                return Ok(None);
            };
            if mode == tar::MODE_LINK {
                return Err(self.invalid(THROUGH_SYMLINK));
            }
            if kind != Some(git2::ObjectType::Tree) {
                return Ok(None);
            }
            if i + 1 == path.len() {
                return Ok(Some(id));
            }
            current = repo.find_tree(id).map_err(|e| self.git_error(e))?;
        }
        Ok(Some(current.id()))
    }

    /// The uncommitted files among those the context sends (`sent`), as
    /// repository-relative paths: an ignored file, or one `.dockerignore`
    /// leaves out, changes nothing that is built.
    fn uncommitted(&self, git: &Git, sent: &Filter) -> Result<Vec<String>, ContextError> {
        let prefix = git.path.join("/");
        let found = status::uncommitted(&git.repo, &[prefix.as_str()]).map_err(|e| self.git_error(e))?;
        Ok(found
            .iter()
            .filter_map(|p| status::below(p, &prefix))
            .filter(|rel| !rel.is_empty() && sent.decide(rel, false) == dockerignore::Decision::Send)
            .map(|rel| self.repo_path(rel))
            .collect())
    }

    /// A context-relative path as a repository-relative one.
    fn repo_path(&self, rel: &str) -> String {
        if self.parts.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.parts.join("/"))
        }
    }

    /// The entries of the context's committed `tree` that are sent, with
    /// its committed `.dockerignore`.
    fn tree_entries(
        &self,
        repo: &git2::Repository,
        tree: &git2::Tree<'_>,
        dockerfile: &str,
    ) -> Result<Vec<tar::Entry>, ContextError> {
        self.check_tree_dockerfile(tree, dockerfile)?;
        let ignore = match tree.get_name(".dockerignore") {
            Some(e) if matches!(e.filemode(), 0o100644 | 0o100664 | 0o100755) => {
                let blob = repo.find_blob(e.id()).map_err(|e| self.git_error(e))?;
                self.parse_ignore(&String::from_utf8_lossy(blob.content()))?
            }
            _ => DockerIgnore::default(),
        };
        let filter = Filter::new(ignore, dockerfile);
        tar::tree_entries(repo, tree, &filter).map_err(|e| self.read_error(e.to_string()))
    }

    /// The repository and the context's tree in commit `id`.
    fn commit_folder(&self, id: &str) -> Result<(git2::Repository, git2::Oid), ContextError> {
        let git = self.open_git().ok_or_else(|| self.read_error("not a git repository"))?;
        let oid = git2::Oid::from_str(id).map_err(|e| self.git_error(e))?;
        let commit = git.repo.find_commit(oid).map_err(|e| self.git_error(e))?;
        let tree = commit.tree().map_err(|e| self.git_error(e))?;
        let folder = self
            .committed_folder(&git.repo, &tree, &git.path)?
            .ok_or_else(|| self.invalid(format!("is not a folder in commit {}", &id[..12.min(id.len())])))?;
        drop(tree);
        drop(commit);
        Ok((git.repo, folder))
    }

    fn check_tree_dockerfile(&self, tree: &git2::Tree<'_>, dockerfile: &str) -> Result<(), ContextError> {
        match tree.get_path(Path::new(dockerfile)) {
            Ok(entry) if entry.kind() == Some(git2::ObjectType::Blob) => Ok(()),
            _ => Err(self.invalid(format!("has no {dockerfile}"))),
        }
    }

    fn check_disk_dockerfile(&self, dir: &Path, dockerfile: &str) -> Result<(), ContextError> {
        if dir.join(dockerfile).is_file() {
            Ok(())
        } else {
            Err(self.invalid(format!("has no {dockerfile}")))
        }
    }

    fn parse_ignore(&self, text: &str) -> Result<DockerIgnore, ContextError> {
        DockerIgnore::parse(text).map_err(|e| self.invalid(format!("has an invalid .dockerignore: {e}")))
    }

    fn disk_ignore(&self, dir: &Path) -> Result<DockerIgnore, ContextError> {
        let path = dir.join(".dockerignore");
        match std::fs::read(&path) {
            Ok(bytes) => self.parse_ignore(&String::from_utf8_lossy(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerIgnore::default()),
            Err(e) => Err(self.read_error(format!("{}: {e}", path.display()))),
        }
    }

    /// The working-tree version: a hash of exactly the files sent.
    fn working_tree(
        &self,
        dir: &Path,
        dockerfile: &str,
        why: String,
        mut files: Vec<String>,
    ) -> Result<ContextVersion, ContextError> {
        self.check_disk_dockerfile(dir, dockerfile)?;
        let filter = Filter::new(self.disk_ignore(dir)?, dockerfile);
        let read = |e: std::io::Error| self.read_error(e.to_string());
        let entries = tar::disk_entries(dir, &filter).map_err(read)?;
        let hashed = tar::hash_entries(&entries, dockerfile).map_err(read)?;
        let more = files.len().saturating_sub(LISTED);
        files.truncate(LISTED);
        Ok(ContextVersion {
            from: ContextFrom::WorkingTree { why, files, more },
            content: hashed.content,
            dockerfile_blob: hashed.dockerfile_blob,
            other_files: hashed.other_files,
        })
    }
}
