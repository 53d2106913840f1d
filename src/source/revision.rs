//! A git revision as a `Snapshot`: berth's files read from a commit's tree
//! through git2, with no checkout and nothing read from the working tree.
//!
//! It reads what `read_working_tree` reads, in the same order: `berth.yaml`
//! (or `berth.yml`), `apps/**/*.yaml|yml` and `credentials/**/*.age`, with
//! symlinks followed inside the commit where the file system would follow
//! them (the settings file, the `apps/` and `credentials/` folders) and
//! skipped inside the folders, as the working-tree walk skips them. Where the
//! two readers could still differ (a symlink leaving the commit, a file name
//! that is not UTF-8), the content hashes differ: never a silent mismatch.

use super::{set_app_twins_aside, settings_twins, Snapshot, SourceError, SourceFile, SETTINGS_NAMES};
use git2::{ObjectType, Oid, Repository, Tree};
use std::path::Path;

/// A commit's snapshot.
#[derive(Debug, Clone)]
pub struct Revision {
    /// The commit read (40 hex).
    pub commit: String,
    /// Its files; its tree is the commit's (`Origin::Commit`).
    pub snapshot: Snapshot,
}

/// File modes of a regular file in git (`100664` is an old spelling).
pub(super) const MODES_FILE: [i32; 3] = [0o100644, 0o100755, 0o100664];
const MODE_LINK: i32 = 0o120000;
const MODE_TREE: i32 = 0o040000;
/// Symlinks followed in one lookup before giving up (Linux's limit).
const MAX_HOPS: usize = 40;

/// The commit HEAD names in the git repository holding `root`; `None`
/// outside git, or before the first commit.
pub fn head_commit(root: &Path) -> Option<String> {
    let repo = Repository::discover(root).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?;
    Some(head.id().to_string())
}

/// Read the repository at `root` (a folder of a git work tree, perhaps below
/// its top) as it is in `rev`: a commit id, `HEAD`, a branch or tag name.
/// The commit must hold the folder, with `berth.yaml`/`berth.yml` or `apps/`.
/// The project name defaults to the folder's name, as for the working tree.
pub fn read_revision(root: &Path, rev: &str) -> Result<Revision, SourceError> {
    let root = root.canonicalize().map_err(|source| SourceError::Root { path: root.to_path_buf(), source })?;
    let place = root.display().to_string();
    let fail = |message: String| SourceError::Revision { place: place.clone(), rev: rev.to_string(), message };
    let repo = Repository::discover(&root).map_err(|_| fail("not a git repository".into()))?;
    let folder = folder_in_work_tree(&repo, &root).ok_or_else(|| fail("not inside the git work tree".into()))?;
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    read_commit(&repo, &folder.join("/"), rev, name, place)
}

/// Read `folder` (below the top, `/`-separated; empty for the top) of
/// `rev` in `repo` — a work tree's repository or a bare one. `name` is the
/// default project name; `place` names the repository in messages.
pub fn read_commit(
    repo: &Repository,
    folder: &str,
    rev: &str,
    name: String,
    place: String,
) -> Result<Revision, SourceError> {
    let fail = |message: String| SourceError::Revision { place: place.clone(), rev: rev.to_string(), message };
    let git = |e: git2::Error| fail(e.message().to_string());
    let folder: Vec<String> = super::tree::components(folder);
    let commit = repo.revparse_single(rev).and_then(|o| o.peel_to_commit()).map_err(git)?;
    let id = commit.id().to_string();
    let top = commit.tree().map_err(git)?;
    let not_a_repository = || SourceError::NotARepositoryAt { place: place.clone(), commit: id.clone() };
    let reader = Reader { repo, top: &top };

    let found = |name: &str| reader.resolve(folder.iter().cloned().chain([name.to_string()]).collect()).map_err(git);
    let mut present = Vec::new();
    for name in SETTINGS_NAMES {
        if let Some(Found { kind: ObjectType::Blob, id, .. }) = found(name)? {
            present.push((name, id));
        }
    }
    let mut twins = settings_twins(&present.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    let settings = match present.first() {
        Some((name, id)) => Some(SourceFile { path: name.to_string(), bytes: reader.blob(*id).map_err(git)? }),
        None => None,
    };
    let apps_tree = found("apps")?.filter(|f| f.kind == ObjectType::Tree);
    if settings.is_none() && apps_tree.is_none() {
        return Err(not_a_repository());
    }
    let mut apps = Vec::new();
    if let Some(t) = apps_tree {
        reader.walk(t.id, "apps", &["yaml", "yml"], &mut apps).map_err(git)?;
    }
    set_app_twins_aside(&mut apps, &mut twins);
    let mut credentials = Vec::new();
    if let Some(t) = found("credentials")?.filter(|f| f.kind == ObjectType::Tree) {
        reader.walk(t.id, "credentials", &["age"], &mut credentials).map_err(git)?;
    }
    // A work tree's repository is opened again by its `.git`; a bare one by itself.
    let git_dir = repo.path().to_path_buf();
    let tree = super::Tree::commit(git_dir, folder.join("/"), id.clone(), place);
    let snapshot = Snapshot { tree, name, settings, apps, credentials, twins };
    Ok(Revision { commit: id, snapshot })
}

/// `root`'s path below the work tree's top, as components (empty for the
/// top, and for a bare repository).
fn folder_in_work_tree(repo: &Repository, root: &Path) -> Option<Vec<String>> {
    let Some(workdir) = repo.workdir() else { return Some(Vec::new()) };
    let workdir = workdir.canonicalize().ok()?;
    let below = root.strip_prefix(&workdir).ok()?;
    below.components().map(|c| c.as_os_str().to_str().map(String::from)).collect()
}

/// What a path leads to in a commit.
#[derive(Debug, Clone, Copy)]
struct Found {
    kind: ObjectType,
    id: Oid,
}

/// What a path leads to in a commit, symlinks followed.
pub(super) enum Located {
    Absent,
    /// A symlink on the way leaves the commit.
    Outside,
    /// `real`: the path it ends at, symlinks resolved.
    At {
        kind: ObjectType,
        id: Oid,
        mode: i32,
        real: Vec<String>,
    },
}

pub(super) struct Reader<'r> {
    pub(super) repo: &'r Repository,
    /// The commit's top tree.
    pub(super) top: &'r Tree<'r>,
}

impl Reader<'_> {
    fn blob(&self, id: Oid) -> Result<Vec<u8>, git2::Error> {
        Ok(self.repo.find_blob(id)?.content().to_vec())
    }

    /// Where `path` (components below the top) leads, following symlinks
    /// inside the commit as the file system would; `None` when absent, or
    /// when a symlink leaves the commit (an absolute target, `..` above the
    /// top) or loops.
    fn resolve(&self, path: Vec<String>) -> Result<Option<Found>, git2::Error> {
        Ok(match self.locate(path)? {
            Located::At { kind, id, .. } => Some(Found { kind, id }),
            Located::Absent | Located::Outside => None,
        })
    }

    /// Where `path` (components below the top) leads, following symlinks
    /// inside the commit as the file system would, and the real path it
    /// ends at. A loop, or a link target that is not UTF-8, is `Absent`.
    pub(super) fn locate(&self, path: Vec<String>) -> Result<Located, git2::Error> {
        let mut todo: std::collections::VecDeque<String> = path.into();
        let mut done: Vec<String> = Vec::new();
        let mut tree = self.top.clone();
        let mut hops = 0;
        while let Some(part) = todo.pop_front() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    if done.pop().is_none() {
                        return Ok(Located::Outside);
                    }
                    tree = self.tree_at(&done)?;
                    continue;
                }
                _ => {}
            }
            let Some((mode, kind, id)) = tree.get_name(&part).map(|e| (e.filemode(), e.kind(), e.id())) else {
                return Ok(Located::Absent);
            };
            if mode == MODE_LINK {
                hops += 1;
                let target = self.blob(id)?;
                let Ok(target) = String::from_utf8(target) else { return Ok(Located::Absent) };
                if hops > MAX_HOPS {
                    return Ok(Located::Absent);
                }
                if target.starts_with('/') {
                    return Ok(Located::Outside);
                }
                // The link's target takes its place, relative to its folder.
                for c in target.split('/').rev() {
                    todo.push_front(c.to_string());
                }
                continue;
            }
            let Some(kind) = kind else { return Ok(Located::Absent) };
            done.push(part);
            if todo.iter().all(|p| p.is_empty() || p == ".") {
                return Ok(Located::At { kind, id, mode, real: done });
            }
            if kind != ObjectType::Tree {
                return Ok(Located::Absent);
            }
            tree = self.repo.find_tree(id)?;
        }
        Ok(Located::At { kind: ObjectType::Tree, id: tree.id(), mode: MODE_TREE, real: done })
    }

    /// The tree at `path`, a path of real folders (no symlinks) below the top.
    fn tree_at(&self, path: &[String]) -> Result<Tree<'_>, git2::Error> {
        let mut tree = self.top.clone();
        for part in path {
            let id = tree.get_name(part).map(|e| e.id()).ok_or_else(|| git2::Error::from_str("folder vanished"))?;
            tree = self.repo.find_tree(id)?;
        }
        Ok(tree)
    }

    /// Every file below tree `id` whose extension is one of `exts`, as
    /// `dir/…` paths, in the working-tree walk's order: entries sorted by
    /// name, a folder's files right after its name. Symlinks and submodules
    /// are skipped, as the walk skips them.
    fn walk(&self, id: Oid, dir: &str, exts: &[&str], out: &mut Vec<SourceFile>) -> Result<(), git2::Error> {
        let tree = self.repo.find_tree(id)?;
        let mut entries: Vec<_> = tree.iter().collect();
        // Git orders a folder as if its name ended in `/`; the walk does not.
        entries.sort_by(|a, b| a.name_bytes().cmp(b.name_bytes()));
        for e in entries {
            let Ok(name) = e.name() else { continue };
            let path = format!("{dir}/{name}");
            match e.kind() {
                Some(ObjectType::Tree) => self.walk(e.id(), &path, exts, out)?,
                Some(ObjectType::Blob) if MODES_FILE.contains(&e.filemode()) && has_extension(name, exts) => {
                    out.push(SourceFile { path, bytes: self.blob(e.id())? });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Whether a file name has one of `exts` as its extension (as `Path::extension` reads it).
fn has_extension(name: &str, exts: &[&str]) -> bool {
    Path::new(name).extension().and_then(|e| e.to_str()).is_some_and(|e| exts.contains(&e))
}
