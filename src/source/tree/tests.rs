//! A snapshot's tree answers from its origin: a commit's answers match what
//! its clean checkout would say, whatever the working tree holds now, and
//! a bare repository (no working tree at all) answers the same.

use super::*;
use crate::source::{read_commit, read_revision, read_working_tree, ContextFrom};
use std::fs;
use std::os::unix::fs::PermissionsExt;

struct Repo {
    dir: tempfile::TempDir,
    top: PathBuf,
    git: git2::Repository,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("work");
        fs::create_dir(&top).unwrap();
        let top = top.canonicalize().unwrap();
        let git = git2::Repository::init(&top).unwrap();
        Repo { dir, top, git }
    }

    fn write(&self, path: &str, content: &str) -> &Self {
        let p = self.top.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    fn link(&self, target: &str, path: &str) -> &Self {
        let p = self.top.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    fn commit(&self) -> String {
        let sig = git2::Signature::new("Test", "test@example.com", &git2::Time::new(1_700_000_000, 0)).unwrap();
        let mut index = self.git.index().unwrap();
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = self.git.find_tree(index.write_tree().unwrap()).unwrap();
        let parent = self.git.head().ok().map(|h| h.peel_to_commit().unwrap());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.git.commit(Some("HEAD"), &sig, &sig, "c", &tree, &parents).unwrap().to_string()
    }

    /// A bare clone beside the work tree, as a remote's mirror is.
    fn bare(&self) -> git2::Repository {
        let path = self.dir.path().join("mirror.git");
        git2::build::RepoBuilder::new().bare(true).clone(self.top.to_str().unwrap(), &path).unwrap()
    }
}

/// A berth repository in `deploy/`, with a web context, a site, links in and out.
fn sample() -> Repo {
    let r = Repo::new();
    r.write("deploy/berth.yaml", "project: p\n")
        .write("deploy/apps/web.yaml", "build: {context: web}\nvolumes: [\"./site:/srv:ro\"]\n")
        .write("deploy/web/Dockerfile", "FROM busybox:1.36\nCOPY . /app\n")
        .write("deploy/web/main.sh", "echo hi\n")
        .write("deploy/web/.dockerignore", "*.log\n")
        .write("deploy/web/debug.log", "ignored\n")
        .write("deploy/site/index.html", "<h1>hi</h1>\n")
        .write("deploy/site/css/a.css", "a{}\n")
        .write("deploy/conf/app.conf", "x=1\n")
        .write("beside/secret.txt", "outside the berth folder\n")
        .link("site", "deploy/www")
        .link("../beside", "deploy/away")
        .link("/etc", "deploy/abs")
        .link("index.html", "deploy/site/home.html");
    fs::set_permissions(r.top.join("deploy/web/main.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    r
}

const PATHS: [(&str, PathKind); 9] = [
    (".", PathKind::Folder),
    ("site", PathKind::Folder),
    ("www", PathKind::Folder),
    ("site/css/a.css", PathKind::File),
    ("conf/app.conf", PathKind::File),
    ("nope", PathKind::Missing),
    ("site/nope", PathKind::Missing),
    ("away", PathKind::Escapes),
    ("away/secret.txt", PathKind::Escapes),
];

#[test]
fn paths_read_alike_from_the_working_tree_the_commit_and_a_bare_mirror() {
    let r = sample();
    let id = r.commit();
    let work = read_working_tree(&r.top.join("deploy")).unwrap().tree;
    let commit = read_revision(&r.top.join("deploy"), "HEAD").unwrap().snapshot.tree;
    let bare = r.bare();
    let mirror = read_commit(&bare, "deploy", &id, "deploy".into(), "mirror".into()).unwrap().snapshot.tree;
    for (path, kind) in PATHS {
        assert_eq!(work.path_kind(path), kind, "working tree: {path}");
        assert_eq!(commit.path_kind(path), kind, "commit: {path}");
        assert_eq!(mirror.path_kind(path), kind, "bare mirror: {path}");
    }
    // An absolute link: the disk follows it (out), the commit cannot (out too).
    assert_eq!(work.path_kind("abs"), PathKind::Escapes);
    assert_eq!(mirror.path_kind("abs"), PathKind::Escapes);
}

#[test]
fn a_commit_answers_from_its_tree_whatever_the_working_tree_holds() {
    let r = sample();
    let id = r.commit();
    fs::remove_dir_all(r.top.join("deploy/site")).unwrap();
    r.write("deploy/web/main.sh", "echo changed\n").write("deploy/new/x", "x");
    let commit = read_revision(&r.top.join("deploy"), &id).unwrap().snapshot.tree;
    assert_eq!(commit.path_kind("site"), PathKind::Folder);
    assert_eq!(commit.path_kind("new"), PathKind::Missing);
    assert!(commit.uncommitted_config().is_empty());
    let work = read_working_tree(&r.top.join("deploy")).unwrap().tree;
    assert_eq!(work.path_kind("site"), PathKind::Missing);

    // The build context: the commit's files, clean, whatever the disk says.
    let v = commit.context_version("web", "Dockerfile").unwrap();
    assert_eq!(v.from, ContextFrom::Commit { commit: id.clone() });
    let dirty = work.context_version("web", "Dockerfile").unwrap();
    assert!(matches!(dirty.from, ContextFrom::WorkingTree { .. }), "{dirty:?}");
    assert_ne!(dirty.content, v.content);
    // A working-tree version cannot be sent from a commit: there is none.
    let err = commit.context_tar("web", "Dockerfile", &dirty).err().unwrap().to_string();
    assert!(err.contains("no working tree"), "{err}");
}

#[test]
fn a_commit_versions_contexts_and_folders_as_its_clean_checkout_does() {
    let r = sample();
    let id = r.commit();
    let work = read_working_tree(&r.top.join("deploy")).unwrap().tree;
    let bare = r.bare();
    let mirror = read_commit(&bare, "deploy", &id, "deploy".into(), "mirror".into()).unwrap().snapshot.tree;

    let (a, b) =
        (work.context_version("web", "Dockerfile").unwrap(), mirror.context_version("web", "Dockerfile").unwrap());
    assert_eq!(a, b, "a clean work tree's context is its HEAD's");
    assert_eq!(
        tar_paths(mirror.context_tar("web", "Dockerfile", &b).unwrap()),
        [(".dockerignore".to_string(), 0o644), ("Dockerfile".to_string(), 0o644), ("main.sh".to_string(), 0o755)]
    );

    for folder in ["site", "www", "conf/app.conf", "conf"] {
        let (a, b) = (work.files_version(folder).unwrap(), mirror.files_version(folder).unwrap());
        assert_eq!(a, b, "{folder}: the same files hash the same from the disk and from git");
    }
    let (a, b) = (work.files_version(".").unwrap_err(), mirror.files_version(".").unwrap_err());
    assert_eq!(a.to_string(), b.to_string(), "the links out are refused alike");
    let site = mirror.files_version("site").unwrap();
    assert_eq!((site.files, site.bytes), (3, 12 + 4), "index.html, css/a.css, and the link home.html (no bytes)");
    let from_git = tar_paths(mirror.files_tar("site", &site.content).unwrap());
    let from_disk = tar_paths(work.files_tar("site", &site.content).unwrap());
    assert_eq!(from_git, from_disk);
    assert!(mirror.files_tar("site", &"0".repeat(64)).is_err(), "another hash is refused");

    let err = mirror.files_version("away").unwrap_err().to_string();
    assert!(err.contains("leaves the repository through a symlink"), "{err}");
    let err = mirror.files_version("nope").unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
}

/// Path and mode of each tar entry, in order.
fn tar_paths(stream: crate::source::ContextStream) -> Vec<(String, u32)> {
    use futures_util::StreamExt;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let bytes: Vec<u8> = rt.block_on(async move {
        let mut stream = stream;
        let mut all = Vec::new();
        while let Some(chunk) = stream.next().await {
            all.extend_from_slice(&chunk.unwrap());
        }
        all
    });
    let mut archive = ::tar::Archive::new(&bytes[..]);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path().unwrap().to_string_lossy().into_owned(), e.header().mode().unwrap())
        })
        .collect()
}
