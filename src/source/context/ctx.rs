//! A build context's folder (`Ctx`): where the repository's files are (a
//! folder on disk, or a folder of a git repository's commits), the
//! context's place in it, and the reads both kinds of place answer: the
//! committed tree, uncommitted files, the `.dockerignore`, the Dockerfile.

use super::dockerignore::{self, DockerIgnore, Filter};
use super::{status, tar, ContextError, ContextFrom, ContextVersion, Origin, LISTED, THROUGH_SYMLINK};
use std::path::{Path, PathBuf};

/// A context folder: the repository and the folder's components.
pub(super) struct Ctx {
    /// The context as given, for messages.
    pub(super) name: String,
    base: Base,
    /// Normalized components below the repository's folder; empty for the folder itself.
    pub(super) parts: Vec<String>,
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
pub(super) struct Git {
    pub(super) repo: git2::Repository,
    pub(super) path: Vec<String>,
}

impl Ctx {
    pub(super) fn new(root: &Path, context: &str) -> Result<Self, ContextError> {
        let parts = Self::parts(context)?;
        let root = root.canonicalize().map_err(|e| ContextError::Read {
            context: context.to_string(),
            message: format!("{}: {e}", root.display()),
        })?;
        Ok(Ctx { name: context.to_string(), base: Base::Disk(root), parts })
    }

    /// The context's normalized components; it must stay inside.
    pub(super) fn parts(context: &str) -> Result<Vec<String>, ContextError> {
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

    pub(super) fn at(origin: &Origin, context: &str) -> Result<Self, ContextError> {
        match origin {
            Origin::WorkTree { root } => Ctx::new(root, context),
            Origin::Commit { git_dir, folder, .. } => Ok(Ctx {
                name: context.to_string(),
                base: Base::Git { git_dir: git_dir.clone(), folder: crate::source::tree::components(folder) },
                parts: Self::parts(context)?,
            }),
        }
    }

    /// The version of the context in `commit`, from its tree alone.
    pub(super) fn commit_version(&self, commit: &str, dockerfile: &str) -> Result<ContextVersion, ContextError> {
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

    pub(super) fn display(&self) -> String {
        if self.parts.is_empty() {
            ".".to_string()
        } else {
            self.parts.join("/")
        }
    }

    pub(super) fn invalid(&self, problem: impl Into<String>) -> ContextError {
        ContextError::Invalid { context: self.name.clone(), problem: problem.into() }
    }

    pub(super) fn read_error(&self, message: impl Into<String>) -> ContextError {
        ContextError::Read { context: self.name.clone(), message: message.into() }
    }

    pub(super) fn git_error(&self, e: git2::Error) -> ContextError {
        self.read_error(format!("git: {}", e.message()))
    }

    /// The Dockerfile's path relative to the context, normalized.
    pub(super) fn dockerfile(&self, dockerfile: &str) -> Result<String, ContextError> {
        let cleaned = dockerignore::clean(dockerfile);
        if cleaned.starts_with('/') || cleaned == "." || cleaned == ".." || cleaned.starts_with("../") {
            return Err(self.invalid(format!("has no {dockerfile}: the Dockerfile must be a file inside the context")));
        }
        Ok(cleaned)
    }

    /// The folder on disk (canonical), which must stay inside the root.
    pub(super) fn disk_dir(&self) -> Result<PathBuf, ContextError> {
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
    pub(super) fn open_git(&self) -> Option<Git> {
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
    pub(super) fn committed_folder(
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
    pub(super) fn uncommitted(&self, git: &Git, sent: &Filter) -> Result<Vec<String>, ContextError> {
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
    pub(super) fn repo_path(&self, rel: &str) -> String {
        if self.parts.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.parts.join("/"))
        }
    }

    /// The entries of the context's committed `tree` that are sent, with
    /// its committed `.dockerignore`.
    pub(super) fn tree_entries(
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
    pub(super) fn commit_folder(&self, id: &str) -> Result<(git2::Repository, git2::Oid), ContextError> {
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

    pub(super) fn check_tree_dockerfile(&self, tree: &git2::Tree<'_>, dockerfile: &str) -> Result<(), ContextError> {
        match tree.get_path(Path::new(dockerfile)) {
            Ok(entry) if entry.kind() == Some(git2::ObjectType::Blob) => Ok(()),
            _ => Err(self.invalid(format!("has no {dockerfile}"))),
        }
    }

    pub(super) fn check_disk_dockerfile(&self, dir: &Path, dockerfile: &str) -> Result<(), ContextError> {
        if dir.join(dockerfile).is_file() {
            Ok(())
        } else {
            Err(self.invalid(format!("has no {dockerfile}")))
        }
    }

    pub(super) fn parse_ignore(&self, text: &str) -> Result<DockerIgnore, ContextError> {
        DockerIgnore::parse(text).map_err(|e| self.invalid(format!("has an invalid .dockerignore: {e}")))
    }

    pub(super) fn disk_ignore(&self, dir: &Path) -> Result<DockerIgnore, ContextError> {
        let path = dir.join(".dockerignore");
        match std::fs::read(&path) {
            Ok(bytes) => self.parse_ignore(&String::from_utf8_lossy(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerIgnore::default()),
            Err(e) => Err(self.read_error(format!("{}: {e}", path.display()))),
        }
    }

    /// The working-tree version: a hash of exactly the files sent.
    pub(super) fn working_tree(
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
