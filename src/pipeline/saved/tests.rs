//! What a plan records of its source, and which checkouts a saved plan
//! accepts, on real git repositories (the engine is not needed).

use super::*;
use std::fs;

struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    git: git2::Repository,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("repo");
        let git = git2::Repository::init(&root).unwrap();
        Repo { _dir: dir, root, git }
    }

    /// A clone of `self` in a folder of its own.
    fn clone_of(&self) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("elsewhere");
        let git = git2::Repository::clone(self.root.to_str().unwrap(), &root).unwrap();
        Repo { _dir: dir, root, git }
    }

    fn write(&self, path: &str, content: &str) -> &Self {
        let p = self.root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    fn commit(&self) -> String {
        let sig = git2::Signature::now("Test", "test@example.com").unwrap();
        let mut index = self.git.index().unwrap();
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = self.git.find_tree(index.write_tree().unwrap()).unwrap();
        let parent = self.git.head().ok().map(|h| h.peel_to_commit().unwrap());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.git.commit(Some("HEAD"), &sig, &sig, "c", &tree, &parents).unwrap().to_string()
    }

    fn source(&self) -> PlanSource {
        let content = crate::source::read_working_tree(&self.root).unwrap().content_hash();
        plan_source(&crate::source::Tree::work_tree(self.root.clone()), content)
    }
}

#[track_caller]
fn refused(source: &PlanSource, dir: &Path) -> String {
    match checkout(source, dir) {
        Err(e @ PipelineError::Checkout { .. }) => e.to_string(),
        Err(e) => panic!("expected a refusal of the checkout, got: {e}"),
        Ok(_) => panic!("expected a refusal of the checkout"),
    }
}

fn app_bytes(snapshot: &Snapshot) -> Vec<&[u8]> {
    snapshot.apps.iter().map(|f| f.bytes.as_slice()).collect()
}

#[test]
fn a_plan_records_head_and_whether_the_files_read_are_its() {
    let r = Repo::new();
    r.write("berth.yaml", "project: p\n").write("apps/web.yaml", "image: a\n").write(".gitignore", "apps/local.yaml\n");
    let head = r.commit();
    let clean = r.source();
    assert_eq!(clean.commit.as_deref(), Some(head.as_str()));
    assert!(!clean.uncommitted);
    assert_eq!(clean.content, crate::source::read_revision(&r.root, "HEAD").unwrap().snapshot.content_hash());

    // Only the files berth reads count.
    r.write("README.md", "docs\n").write("services/web/app.txt", "changed\n");
    assert_eq!(r.source(), clean);
    // Changed, and untracked or ignored files that berth reads all do.
    for (path, text) in
        [("apps/web.yaml", "image: b\n"), ("apps/new.yaml", "image: c\n"), ("apps/local.yaml", "image: d\n")]
    {
        let before = fs::read(r.root.join(path)).ok();
        r.write(path, text);
        let dirty = r.source();
        assert!(dirty.uncommitted, "{path}");
        assert_eq!(dirty.commit.as_deref(), Some(head.as_str()));
        assert_ne!(dirty.content, clean.content);
        match before {
            Some(b) => fs::write(r.root.join(path), b).unwrap(),
            None => fs::remove_file(r.root.join(path)).unwrap(),
        }
    }
    assert_eq!(r.source(), clean);
}

#[test]
fn outside_git_a_plan_records_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("apps")).unwrap();
    fs::write(dir.path().join("apps/web.yaml"), "image: a\n").unwrap();
    let content = crate::source::read_working_tree(dir.path()).unwrap().content_hash();
    let source = plan_source(&crate::source::Tree::work_tree(dir.path().to_path_buf()), content.clone());
    assert_eq!(source, PlanSource { commit: None, content, uncommitted: true });
}

#[test]
fn a_committed_plan_reads_the_commit_from_any_clone_of_it() {
    let a = Repo::new();
    a.write("apps/web.yaml", "image: a\n");
    let first = a.commit();
    let source = a.source();
    let b = a.clone_of();
    // Whatever b's working tree holds, the commit's files are read.
    b.write("apps/web.yaml", "image: edited\n").write("apps/extra.yaml", "image: x\n");
    let (root, snapshot) = checkout(&source, &b.root).unwrap();
    assert_eq!(root, b.root);
    assert_eq!(app_bytes(&snapshot), [b"image: a\n"]);

    // A clone at another commit is refused, naming both commits.
    a.write("apps/web.yaml", "image: two\n");
    let second = a.commit();
    let c = a.clone_of();
    let err = refused(&source, &c.root);
    assert!(err.contains(&format!("it was made from commit {first}; this checkout is at {second}")), "{err}");
    assert!(err.contains(&format!("hint: apply it from a checkout of commit {first}")), "{err}");

    // A folder that is not a git checkout.
    let plain = tempfile::tempdir().unwrap();
    fs::create_dir(plain.path().join("apps")).unwrap();
    let err = refused(&source, plain.path());
    assert!(err.contains("this folder is not a git checkout"), "{err}");
}

#[test]
fn a_plan_of_uncommitted_files_needs_exactly_those_files() {
    let a = Repo::new();
    a.write("apps/web.yaml", "image: a\n");
    let head = a.commit();
    a.write("apps/web.yaml", "image: uncommitted\n");
    let source = a.source();
    assert!(source.uncommitted);

    let b = a.clone_of();
    let err = refused(&source, &b.root);
    assert!(err.contains(&format!("hashing to {}", &source.content[..12])), "names the content it needs: {err}");
    assert!(err.contains(&format!("a checkout of commit {head} whose berth.yaml, apps/ and credentials/")), "{err}");
    b.write("apps/web.yaml", "image: uncommitted\n");
    let (_, snapshot) = checkout(&source, &b.root).unwrap();
    assert_eq!(app_bytes(&snapshot), [b"image: uncommitted\n"]);

    // Without git: the files alone.
    let plain = tempfile::tempdir().unwrap();
    fs::create_dir(plain.path().join("apps")).unwrap();
    fs::write(plain.path().join("apps/web.yaml"), "image: a\n").unwrap();
    let content = crate::source::read_working_tree(plain.path()).unwrap().content_hash();
    let source = plan_source(&crate::source::Tree::work_tree(plain.path().to_path_buf()), content);
    fs::write(plain.path().join("apps/web.yaml"), "image: b\n").unwrap();
    let err = refused(&source, plain.path());
    assert!(err.contains("it was made from uncommitted files"), "{err}");
    assert!(err.contains("hint: apply it from a folder whose berth.yaml"), "{err}");
}

#[test]
fn another_folder_of_the_same_commit_is_refused() {
    let a = Repo::new();
    a.write("one/apps/web.yaml", "image: a\n").write("two/apps/web.yaml", "image: b\n");
    a.commit();
    let content = crate::source::read_working_tree(&a.root.join("one")).unwrap().content_hash();
    let source = plan_source(&crate::source::Tree::work_tree(a.root.join("one")), content);
    assert!(!source.uncommitted);
    assert!(checkout(&source, &a.root.join("one")).is_ok());
    let err = refused(&source, &a.root.join("two"));
    assert!(err.contains("is this the folder the plan was made in?"), "{err}");
}

#[test]
fn an_older_plan_format_asks_for_a_new_plan() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    fs::write(&file, r#"{"format_version": 2, "project": "p", "repo": "/somewhere"}"#).unwrap();
    let err = read_plan(&file).unwrap_err().to_string();
    assert!(err.contains("has format version 2, this berth reads 3; run `berth plan --out` again"), "{err}");
    fs::write(&file, "[1, 2]").unwrap();
    assert!(read_plan(&file).unwrap_err().to_string().contains("not a berth plan"));
}
