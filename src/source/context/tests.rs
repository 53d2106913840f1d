//! Build contexts on real folders and git repositories: versions and
//! content ids (`versions`), the tar (`tars`), `.dockerignore` (`ignore`).

use super::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

mod ignore;
mod tars;
mod versions;

struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: Option<git2::Repository>,
}

impl Repo {
    fn git() -> Self {
        let mut r = Self::plain();
        r.repo = Some(git2::Repository::init(&r.root).unwrap());
        r
    }

    fn plain() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        Repo { _dir: dir, root, repo: None }
    }

    fn write(&self, path: &str, content: &str) -> &Self {
        let p = self.root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    fn chmod(&self, path: &str, mode: u32) -> &Self {
        fs::set_permissions(self.root.join(path), fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    fn symlink(&self, target: &str, path: &str) -> &Self {
        let p = self.root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    /// Stage everything (additions, changes, deletions) and commit.
    fn commit(&self, message: &str) -> String {
        let repo = self.repo.as_ref().unwrap();
        let sig = git2::Signature::new("Test", "test@example.com", &git2::Time::new(1_700_000_000, 0)).unwrap();
        let mut index = repo.index().unwrap();
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let parent = repo.head().ok().map(|h| h.peel_to_commit().unwrap());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).unwrap().to_string()
    }

    fn version(&self, context: &str) -> ContextVersion {
        context_version(&self.root, context).unwrap()
    }

    /// The version of `context` as committed in `id`, whatever HEAD is.
    fn at(&self, context: &str, dockerfile: &str, id: &str) -> ContextVersion {
        let ctx = Ctx::new(&self.root, context).unwrap();
        let (repo, folder) = ctx.commit_folder(id).unwrap();
        let tree = repo.find_tree(folder).unwrap();
        let entries = ctx.tree_entries(&repo, &tree, dockerfile).unwrap();
        let hashed = tar::hash_entries(&entries, dockerfile).unwrap();
        let from = ContextFrom::Commit { commit: id.to_string() };
        ContextVersion {
            from,
            content: hashed.content,
            dockerfile_blob: hashed.dockerfile_blob,
            other_files: hashed.other_files,
        }
    }

    /// The version of `context` from the disk, even when it is committed.
    fn working(&self, context: &str, dockerfile: &str) -> ContextVersion {
        let ctx = Ctx::new(&self.root, context).unwrap();
        let dir = ctx.disk_dir().unwrap();
        ctx.working_tree(&dir, dockerfile, "test".into(), Vec::new()).unwrap()
    }

    fn tar(&self, context: &str, version: &ContextVersion) -> Tarred {
        let chunks = collect(context_tar(&self.root, context, "Dockerfile", version).unwrap()).unwrap();
        Tarred::read(&chunks.concat())
    }
}

/// A version naming commit `id` with no content id: for the paths that
/// fail before hashing.
fn commit_version(id: &str) -> ContextVersion {
    ContextVersion {
        from: ContextFrom::Commit { commit: id.to_string() },
        content: String::new(),
        dockerfile_blob: String::new(),
        other_files: String::new(),
    }
}

fn is_working(v: &ContextVersion) -> bool {
    matches!(v.from, ContextFrom::WorkingTree { .. })
}

fn collect(stream: ContextStream) -> std::io::Result<Vec<Bytes>> {
    use futures_util::StreamExt;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async move {
        let mut stream = stream;
        let mut chunks = Vec::new();
        while let Some(chunk) = stream.next().await {
            chunks.push(chunk?);
        }
        Ok(chunks)
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Item {
    Dir,
    File { mode: u32, content: String },
    Link(String),
}

/// A tar read back: path → item, in archive order.
struct Tarred {
    order: Vec<String>,
    items: BTreeMap<String, Item>,
}

impl Tarred {
    fn read(bytes: &[u8]) -> Self {
        let mut archive = ::tar::Archive::new(bytes);
        let mut order = Vec::new();
        let mut items = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            assert_eq!(header.mtime().unwrap(), 0);
            assert_eq!(header.uid().unwrap(), 0);
            assert_eq!(header.gid().unwrap(), 0);
            assert_eq!(header.username().unwrap(), Some(""));
            let path = entry.path().unwrap().to_string_lossy().trim_end_matches('/').to_string();
            let item = match header.entry_type() {
                ::tar::EntryType::Directory => Item::Dir,
                ::tar::EntryType::Symlink => {
                    Item::Link(entry.link_name().unwrap().unwrap().to_string_lossy().into_owned())
                }
                ::tar::EntryType::Regular => {
                    let mut content = String::new();
                    entry.read_to_string(&mut content).unwrap();
                    Item::File { mode: header.mode().unwrap(), content }
                }
                other => panic!("unexpected entry type {other:?}"),
            };
            order.push(path.clone());
            items.insert(path, item);
        }
        Tarred { order, items }
    }

    fn paths(&self) -> Vec<&str> {
        self.order.iter().map(String::as_str).collect()
    }

    fn content(&self, path: &str) -> &str {
        match self.items.get(path) {
            Some(Item::File { content, .. }) => content,
            other => panic!("{path}: {other:?}"),
        }
    }

    fn mode(&self, path: &str) -> u32 {
        match self.items.get(path) {
            Some(Item::File { mode, .. }) => *mode,
            other => panic!("{path}: {other:?}"),
        }
    }
}

fn invalid_problem(e: ContextError) -> String {
    match e {
        ContextError::Invalid { problem, .. } => problem,
        other => panic!("expected Invalid, got {other:?}"),
    }
}
