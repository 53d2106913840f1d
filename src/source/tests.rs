//! The two readers on real folders and git repositories: a commit reads as
//! the working tree would have read it when it was checked out.

use super::*;
use std::fs;

struct Repo {
    _dir: tempfile::TempDir,
    /// The git work tree's top.
    top: PathBuf,
    git: git2::Repository,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().canonicalize().unwrap();
        let git = git2::Repository::init(&top).unwrap();
        Repo { _dir: dir, top, git }
    }

    fn write(&self, path: &str, content: &str) -> &Self {
        let p = self.top.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    fn remove(&self, path: &str) -> &Self {
        fs::remove_file(self.top.join(path)).unwrap();
        self
    }

    fn symlink(&self, target: &str, path: &str) -> &Self {
        let p = self.top.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    /// Stage everything (additions, changes, deletions) and commit.
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

    fn working(&self, folder: &str) -> Snapshot {
        read_working_tree(&self.top.join(folder)).unwrap()
    }

    fn revision(&self, folder: &str, rev: &str) -> Revision {
        read_revision(&self.top.join(folder), rev).unwrap()
    }
}

fn paths(files: &[SourceFile]) -> Vec<&str> {
    files.iter().map(|f| f.path.as_str()).collect()
}

/// Everything but `root`, which names the folder read, not the files.
fn assert_same_files(a: &Snapshot, b: &Snapshot) {
    let settings = |s: &Snapshot| s.settings.as_ref().map(|f| (f.path.clone(), f.bytes.clone()));
    let files = |v: &[SourceFile]| v.iter().map(|f| (f.path.clone(), f.bytes.clone())).collect::<Vec<_>>();
    assert_eq!(settings(a), settings(b));
    assert_eq!(files(&a.apps), files(&b.apps));
    assert_eq!(files(&a.credentials), files(&b.credentials));
    assert_eq!(a.twins, b.twins);
    assert_eq!(a.content_hash(), b.content_hash());
}

#[test]
fn a_commit_reads_as_its_checkout_did() {
    let r = Repo::new();
    r.write("berth.yaml", "project: p\n")
        .write("apps/web.yaml", "image: a\n")
        .write("apps/jobs.yml", "image: b\n")
        .write("apps/team/api.yaml", "image: c\n")
        .write("apps/team/deep/cron.yml", "image: d\n")
        // `a-b` sorts before the folder `a` in git's order, after it in the walk's.
        .write("apps/a-b.yaml", "image: e\n")
        .write("apps/a/x.yaml", "image: f\n")
        .write("apps/README.md", "not an app\n")
        .write("apps/.yaml", "no extension\n")
        .write("credentials/db.age", "age bytes\n")
        .write("credentials/notes.txt", "not a credential\n")
        .write("services/web/Dockerfile", "FROM x\n");
    let id = r.commit();
    let rev = r.revision("", "HEAD");
    assert_eq!(rev.commit, id);
    assert_eq!(rev.snapshot.tree.place(), r.top.display().to_string());
    assert_eq!(rev.snapshot.tree.commit_id(), Some(id.as_str()));
    assert_eq!(rev.snapshot.name, r.working("").name, "named after its folder, as the working tree is");
    assert_eq!(rev.snapshot.settings.as_ref().unwrap().bytes, b"project: p\n");
    assert_eq!(
        paths(&rev.snapshot.apps),
        [
            "apps/a/x.yaml",
            "apps/a-b.yaml",
            "apps/jobs.yml",
            "apps/team/api.yaml",
            "apps/team/deep/cron.yml",
            "apps/web.yaml"
        ]
    );
    assert_eq!(paths(&rev.snapshot.credentials), ["credentials/db.age"]);
    assert_same_files(&rev.snapshot, &r.working(""));
}

#[test]
fn a_commit_is_read_whatever_the_working_tree_holds() {
    let r = Repo::new();
    r.write("apps/web.yaml", "image: one\n").write("credentials/db.age", "v1\n");
    let first = r.commit();
    let committed = r.working("");
    r.write("apps/web.yaml", "image: two\n").write("apps/new.yaml", "image: x\n").remove("credentials/db.age");
    let second = r.commit();
    r.write("apps/web.yaml", "image: uncommitted\n").write("berth.yml", "project: q\n");

    let old = r.revision("", &first);
    assert_eq!(old.commit, first);
    assert_same_files(&old.snapshot, &committed);
    let head = r.revision("", "HEAD");
    assert_eq!(head.commit, second);
    assert_eq!(paths(&head.snapshot.apps), ["apps/new.yaml", "apps/web.yaml"]);
    assert_eq!(head.snapshot.apps[1].bytes, b"image: two\n");
    assert!(head.snapshot.settings.is_none() && head.snapshot.credentials.is_empty());
    assert_ne!(head.snapshot.content_hash(), r.working("").content_hash(), "uncommitted changes change the hash");
    assert_ne!(head.snapshot.content_hash(), old.snapshot.content_hash());
}

#[test]
fn a_folder_below_the_top_is_read_from_its_subtree() {
    let r = Repo::new();
    r.write("deploy/berth.yml", "project: p\n").write("deploy/apps/web.yaml", "image: a\n");
    r.write("apps/other.yaml", "image: not this one\n");
    r.commit();
    let rev = r.revision("deploy", "HEAD");
    assert_eq!(rev.snapshot.name, "deploy");
    assert!(matches!(rev.snapshot.tree.origin(), Origin::Commit { folder, .. } if folder == "deploy"));
    assert_eq!(rev.snapshot.settings.as_ref().unwrap().path, "berth.yml");
    assert_eq!(paths(&rev.snapshot.apps), ["apps/web.yaml"]);
    assert_same_files(&rev.snapshot, &r.working("deploy"));
}

#[test]
fn twins_are_set_aside_as_the_working_tree_does() {
    let r = Repo::new();
    r.write("berth.yaml", "a: 1\n").write("berth.yml", "b: 2\n");
    r.write("apps/web.yaml", "image: a\n").write("apps/web.yml", "image: b\n");
    r.commit();
    let rev = r.revision("", "HEAD");
    assert_eq!(rev.snapshot.settings.as_ref().unwrap().path, "berth.yaml");
    assert_eq!(
        rev.snapshot.twins,
        [("berth.yaml".into(), "berth.yml".into()), ("apps/web.yaml".into(), "apps/web.yml".into())]
    );
    assert_same_files(&rev.snapshot, &r.working(""));
}

#[test]
fn symlinks_are_followed_where_the_file_system_follows_them() {
    let r = Repo::new();
    r.write("shared/berth.yaml", "project: p\n").symlink("shared/berth.yaml", "berth.yaml");
    r.write("specs/web.yaml", "image: a\n").symlink("specs", "apps");
    // Inside a folder, the walk does not follow links; neither does the commit.
    r.write("elsewhere/api.yaml", "image: b\n").symlink("../elsewhere/api.yaml", "specs/api.yaml");
    r.commit();
    let rev = r.revision("", "HEAD");
    assert_eq!(rev.snapshot.settings.as_ref().unwrap().bytes, b"project: p\n");
    assert_eq!(paths(&rev.snapshot.apps), ["apps/web.yaml"]);
    assert_same_files(&rev.snapshot, &r.working(""));
}

#[test]
fn a_link_leaving_the_commit_is_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("berth.yaml"), "project: outside\n").unwrap();
    let r = Repo::new();
    r.write("apps/web.yaml", "image: a\n").symlink(outside.path().join("berth.yaml").to_str().unwrap(), "berth.yaml");
    r.commit();
    let rev = r.revision("", "HEAD");
    assert!(rev.snapshot.settings.is_none());
    // The working tree reads it: the hashes differ, so nothing mistakes one for the other.
    assert_ne!(rev.snapshot.content_hash(), r.working("").content_hash());
}

#[test]
fn a_commit_without_berth_files_is_not_a_repository() {
    let r = Repo::new();
    r.write("README.md", "hello\n");
    let id = r.commit();
    r.write("apps/web.yaml", "image: a\n");
    match read_revision(&r.top, "HEAD") {
        Err(SourceError::NotARepositoryAt { commit, .. }) => assert_eq!(commit, id),
        other => panic!("expected NotARepositoryAt, got {other:?}"),
    }
    // The folder is absent from the commit altogether.
    fs::create_dir_all(r.top.join("new")).unwrap();
    r.write("new/berth.yaml", "project: p\n");
    assert!(matches!(read_revision(&r.top.join("new"), "HEAD"), Err(SourceError::NotARepositoryAt { .. })));
}

#[test]
fn outside_git_or_at_an_unknown_revision_it_says_so() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("apps")).unwrap();
    let err = read_revision(dir.path(), "HEAD").unwrap_err();
    assert!(err.to_string().contains("not a git repository"), "{err}");
    assert_eq!(head_commit(dir.path()), None);

    let r = Repo::new();
    r.write("apps/web.yaml", "image: a\n");
    assert_eq!(head_commit(&r.top), None, "no commit yet");
    r.commit();
    let err = read_revision(&r.top, "0123456789012345678901234567890123456789").unwrap_err();
    assert!(err.to_string().starts_with("failed to read 0123456789012345678901234567890123456789 of"), "{err}");
}

#[test]
fn the_content_hash_names_paths_and_bytes_not_the_folder() {
    let file = |path: &str, bytes: &[u8]| SourceFile { path: path.into(), bytes: bytes.to_vec() };
    let snap = |root: &str, apps: Vec<SourceFile>| Snapshot {
        tree: Tree::work_tree(root.into()),
        name: root.trim_start_matches('/').into(),
        settings: Some(file("berth.yaml", b"project: p\n")),
        apps,
        credentials: vec![file("credentials/db.age", b"x")],
        twins: Vec::new(),
    };
    let base = snap("/a", vec![file("apps/web.yaml", b"image: a\n")]);
    assert_eq!(base.content_hash(), snap("/elsewhere", vec![file("apps/web.yaml", b"image: a\n")]).content_hash());
    assert_eq!(base.content_hash().len(), 64);
    for other in [
        snap("/a", vec![file("apps/web.yaml", b"image: b\n")]),
        snap("/a", vec![file("apps/web.yml", b"image: a\n")]),
        snap("/a", vec![file("apps/web.yaml", b"image: a\n"), file("apps/x.yaml", b"")]),
        // Bytes moved from the path into the content.
        snap("/a", vec![file("apps/web.yam", b"limage: a\n")]),
    ] {
        assert_ne!(base.content_hash(), other.content_hash());
    }
}
