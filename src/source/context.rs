//! Build contexts: which files a build sends, and the tag they earn.
//!
//! A build's context is the committed git tree of `build.context` (SPEC
//! §3.3): the image tag is the 12-hex id of the newest commit that changed
//! that folder, so commits elsewhere never cause a rebuild. Uncommitted
//! changes in the folder (or no git at all) fall back to the working tree and
//! a content-hash tag. `.dockerignore` is honoured in both cases. The tar is
//! produced on a blocking thread and streamed in chunks: a large context is
//! never held in memory whole.

use bytes::Bytes;
use futures_util::Stream;
use std::path::{Path, PathBuf};
use std::pin::Pin;

mod dockerignore;
mod tar;
#[cfg(test)]
mod tests;

use dockerignore::{DockerIgnore, Filter};

/// A build context as tar bytes, in order.
pub type ContextStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static>>;

/// Where a build's files come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "from")]
pub enum ContextVersion {
    /// The committed tree at `id` (40 hex), the newest commit that changed the context.
    Commit { id: String },
    /// The working tree, with a hash (64 hex) of exactly the files sent.
    /// `why`: uncommitted changes in the context, or no git repository.
    WorkingTree { hash: String, why: String },
}

impl ContextVersion {
    /// The image tag: 12 hex of the commit id or of the content hash.
    pub fn tag(&self) -> String {
        match self {
            Self::Commit { id } => id[..12.min(id.len())].to_string(),
            Self::WorkingTree { hash, .. } => hash[..12.min(hash.len())].to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("build context `{context}` {problem}")]
    Invalid { context: String, problem: String },
    #[error("failed to read build context `{context}`: {message}")]
    Read { context: String, message: String },
}

const THROUGH_SYMLINK: &str = "leaves the repository through a symlink";

/// Decide where the files of `context` (repository-relative, `/`-separated,
/// already checked not to escape) come from, and their tag.
///
/// The working-tree hash covers what [`context_tar`] sends with the
/// Dockerfile at `Dockerfile`; with another Dockerfile, use
/// [`context_version_with`].
pub fn context_version(root: &Path, context: &str) -> Result<ContextVersion, ContextError> {
    context_version_with(root, context, "Dockerfile")
}

/// [`context_version`] for a build whose Dockerfile is `dockerfile`
/// (relative to the context): the Dockerfile is always sent, even when
/// `.dockerignore` excludes it, so the working-tree hash covers it too.
pub fn context_version_with(root: &Path, context: &str, dockerfile: &str) -> Result<ContextVersion, ContextError> {
    let ctx = Ctx::new(root, context)?;
    let dockerfile = ctx.dockerfile(dockerfile)?;
    let dir = ctx.disk_dir()?;
    let working = |why: String| ctx.working_tree(&dir, &dockerfile, why);
    let Some(git) = ctx.open_git() else {
        return working("not a git repository".into());
    };
    let head = match git.repo.head() {
        Ok(head) => head,
        Err(e) if matches!(e.code(), git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound) => {
            return working("no commit yet".into());
        }
        Err(e) => return Err(ctx.git_error(e)),
    };
    let head = head.peel_to_commit().map_err(|e| ctx.git_error(e))?;
    let head_tree = head.tree().map_err(|e| ctx.git_error(e))?;
    let committed = ctx.committed_folder(&git.repo, &head_tree, &git.path)?;
    if ctx.dirty(&git)? {
        return working(format!("uncommitted changes in {}", ctx.display()));
    }
    let Some(folder) = committed else {
        return working(format!("{} is not committed", ctx.display()));
    };
    let id = newest_change(head, folder, &git.path.join("/"));
    Ok(ContextVersion::Commit { id: id.to_string() })
}

/// The newest commit on HEAD's first-parent chain since which the context
/// (tree `folder` at `path`) has not changed.
fn newest_change(head: git2::Commit<'_>, folder: git2::Oid, path: &str) -> git2::Oid {
    let entry = |tree: &git2::Tree<'_>| {
        if path.is_empty() {
            Some(tree.id())
        } else {
            tree.get_path(Path::new(path)).ok().map(|e| e.id())
        }
    };
    let mut newest = head;
    loop {
        // A missing parent (a shallow clone) ends the walk.
        let Ok(parent) = newest.parent(0) else { break };
        let same = parent.tree_id() == newest.tree_id() || parent.tree().ok().and_then(|t| entry(&t)) == Some(folder);
        if !same {
            break;
        }
        newest = parent;
    }
    newest.id()
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
    match version {
        ContextVersion::Commit { id } => {
            let (repo, folder) = ctx.commit_folder(id)?;
            let tree = repo.find_tree(folder).map_err(|e| ctx.git_error(e))?;
            ctx.check_tree_dockerfile(&tree, &dockerfile)
        }
        ContextVersion::WorkingTree { .. } => {
            let dir = ctx.disk_dir()?;
            ctx.check_disk_dockerfile(&dir, &dockerfile)
        }
    }
}

/// Stream the context as tar: the committed tree of `version` (or the
/// working tree), minus what `.dockerignore` excludes (the Dockerfile and
/// `.dockerignore` are always sent, as the docker CLI does).
pub fn context_tar(
    root: &Path,
    context: &str,
    dockerfile: &str,
    version: &ContextVersion,
) -> Result<ContextStream, ContextError> {
    let ctx = Ctx::new(root, context)?;
    let dockerfile = ctx.dockerfile(dockerfile)?;
    let spawned = match version {
        ContextVersion::Commit { id } => {
            let (repo, folder) = ctx.commit_folder(id)?;
            let filter = {
                let tree = repo.find_tree(folder).map_err(|e| ctx.git_error(e))?;
                ctx.check_tree_dockerfile(&tree, &dockerfile)?;
                let ignore = match tree.get_name(".dockerignore") {
                    Some(e) if matches!(e.filemode(), 0o100644 | 0o100664 | 0o100755) => {
                        let blob = repo.find_blob(e.id()).map_err(|e| ctx.git_error(e))?;
                        ctx.parse_ignore(&String::from_utf8_lossy(blob.content()))?
                    }
                    _ => DockerIgnore::default(),
                };
                Filter::new(ignore, &dockerfile)
            };
            tar::spawn_stream(move |out| {
                let tree = repo.find_tree(folder).map_err(tar::git_io)?;
                let entries = tar::tree_entries(&repo, &tree, &filter)?;
                tar::write_tar(out, &entries, Some(&repo)).map(drop)
            })
        }
        ContextVersion::WorkingTree { .. } => {
            let dir = ctx.disk_dir()?;
            ctx.check_disk_dockerfile(&dir, &dockerfile)?;
            let filter = Filter::new(ctx.disk_ignore(&dir)?, &dockerfile);
            tar::spawn_stream(move |out| {
                let entries = tar::disk_entries(&dir, &filter)?;
                tar::write_tar(out, &entries, None).map(drop)
            })
        }
    };
    spawned.map_err(|e| ctx.read_error(format!("cannot start the tar thread: {e}")))
}

/// A context folder: the repository root and the folder's components.
struct Ctx {
    /// The context as given, for messages.
    name: String,
    /// Canonical repository root.
    root: PathBuf,
    /// Normalized components below `root`; empty for the root itself.
    parts: Vec<String>,
}

/// The git repository holding the root, and the context's path in it
/// (relative to the work tree, which may be above the root).
struct Git {
    repo: git2::Repository,
    path: Vec<String>,
}

impl Ctx {
    fn new(root: &Path, context: &str) -> Result<Self, ContextError> {
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
        let root = root.canonicalize().map_err(|e| ContextError::Read {
            context: context.to_string(),
            message: format!("{}: {e}", root.display()),
        })?;
        Ok(Ctx { name: context.to_string(), root, parts })
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
        let joined = self.parts.iter().fold(self.root.clone(), |p, c| p.join(c));
        let dir = match joined.canonicalize() {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(self.invalid("does not exist")),
            Err(e) => return Err(self.read_error(format!("{}: {e}", joined.display()))),
        };
        if !dir.starts_with(&self.root) {
            return Err(self.invalid(THROUGH_SYMLINK));
        }
        if !dir.is_dir() {
            return Err(self.invalid("is not a folder"));
        }
        Ok(dir)
    }

    /// The git repository whose work tree holds the root, if any.
    fn open_git(&self) -> Option<Git> {
        let repo = git2::Repository::discover(&self.root).ok()?;
        let workdir = repo.workdir()?.canonicalize().ok()?;
        let below = self.root.strip_prefix(&workdir).ok()?;
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

    /// Uncommitted changes inside the context: modified, staged, deleted or
    /// untracked (not ignored) files. Submodules are not sent, so not weighed.
    fn dirty(&self, git: &Git) -> Result<bool, ContextError> {
        let prefix = git.path.join("/");
        let mut options = git2::StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .include_unmodified(false)
            .exclude_submodules(true)
            .disable_pathspec_match(true);
        if !prefix.is_empty() {
            options.pathspec(&prefix);
        }
        let statuses = git.repo.statuses(Some(&mut options)).map_err(|e| self.git_error(e))?;
        let inside = |p: &[u8]| {
            prefix.is_empty()
                || p == prefix.as_bytes()
                || (p.len() > prefix.len() && p.starts_with(prefix.as_bytes()) && p[prefix.len()] == b'/')
        };
        Ok(statuses.iter().any(|s| {
            let status = s.status();
            status != git2::Status::CURRENT && !status.is_ignored() && inside(s.path_bytes())
        }))
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
    fn working_tree(&self, dir: &Path, dockerfile: &str, why: String) -> Result<ContextVersion, ContextError> {
        let filter = Filter::new(self.disk_ignore(dir)?, dockerfile);
        let entries = tar::disk_entries(dir, &filter).map_err(|e| self.read_error(e.to_string()))?;
        let hash = tar::hash_disk_entries(&entries).map_err(|e| self.read_error(e.to_string()))?;
        Ok(ContextVersion::WorkingTree { hash, why })
    }
}
