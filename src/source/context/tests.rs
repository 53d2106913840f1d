use super::dockerignore::DockerIgnore;
use super::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;

// ---------------------------------------------------------------- helpers

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

    fn tar(&self, context: &str, version: &ContextVersion) -> Tarred {
        let chunks = collect(context_tar(&self.root, context, "Dockerfile", version).unwrap()).unwrap();
        Tarred::read(&chunks.concat())
    }
}

fn commit_version(id: &str) -> ContextVersion {
    ContextVersion::Commit { id: id.to_string() }
}

fn working_hash(v: &ContextVersion) -> String {
    match v {
        ContextVersion::WorkingTree { hash, .. } => hash.clone(),
        other => panic!("expected a working-tree version, got {other:?}"),
    }
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

// ---------------------------------------------------------------- versions

#[test]
fn commit_id_is_the_newest_commit_touching_the_context() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("other/x", "1");
    let first = r.commit("first");
    assert_eq!(r.version("app"), commit_version(&first));

    r.write("other/x", "2");
    r.commit("elsewhere");
    r.write("README", "hi");
    let third = r.commit("readme");
    assert_eq!(r.version("app"), commit_version(&first), "commits elsewhere keep the tag");
    assert_eq!(r.version("./app/"), commit_version(&first), "the context path is normalized");
    assert_eq!(r.version("."), commit_version(&third));
    assert_eq!(r.version(""), commit_version(&third));

    r.write("app/Dockerfile", "FROM scratch\nCMD [\"x\"]\n");
    let touched = r.commit("touch app");
    assert_eq!(r.version("app"), commit_version(&touched));
    assert_eq!(r.version("app").tag(), touched[..12]);

    // A change reverted later: the folder is as at `touched`, but it changed
    // in between, so the newest change is the revert.
    r.write("app/Dockerfile", "FROM busybox\n");
    r.commit("change");
    r.write("app/Dockerfile", "FROM scratch\nCMD [\"x\"]\n");
    let revert = r.commit("revert");
    assert_eq!(r.version("app"), commit_version(&revert));
}

#[test]
fn context_absent_from_a_parent_counts_as_changed() {
    let r = Repo::git();
    r.write("README", "hi");
    r.commit("readme");
    r.write("app/Dockerfile", "FROM scratch\n");
    let added = r.commit("add app");
    r.write("README", "hello");
    r.commit("readme again");
    assert_eq!(r.version("app"), commit_version(&added));
}

#[test]
fn commit_walk_is_fast_over_many_commits() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n");
    let first = r.commit("app");
    // Commits that only touch `other/n`, made straight from the index.
    let repo = r.repo.as_ref().unwrap();
    let sig = git2::Signature::new("Test", "test@example.com", &git2::Time::new(1_700_000_000, 0)).unwrap();
    let mut index = repo.index().unwrap();
    for i in 0..1000 {
        r.write("other/n", &i.to_string());
        index.add_path(Path::new("other/n")).unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let parent = repo.head().unwrap().peel_to_commit().unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "elsewhere", &tree, &[&parent]).unwrap();
    }
    index.write().unwrap();
    let started = std::time::Instant::now();
    assert_eq!(r.version("app"), commit_version(&first));
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[test]
fn root_below_the_git_work_tree() {
    let r = Repo::git();
    r.write("deploy/app/Dockerfile", "FROM scratch\n").write("src/main.c", "int main;");
    let first = r.commit("first");
    r.write("src/main.c", "int main();");
    r.commit("src");
    let root = r.root.join("deploy");
    assert_eq!(context_version(&root, "app").unwrap(), commit_version(&first));
    let tarred = Tarred::read(
        &collect(context_tar(&root, "app", "Dockerfile", &commit_version(&first)).unwrap()).unwrap().concat(),
    );
    assert_eq!(tarred.paths(), ["Dockerfile"]);
    r.write("deploy/app/Dockerfile", "FROM busybox\n");
    assert!(matches!(context_version(&root, "app").unwrap(), ContextVersion::WorkingTree { .. }));
}

#[test]
fn dirty_context_uses_a_working_tree_hash() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/a.txt", "a").write("other/x", "1");
    let first = r.commit("first");

    r.write("other/x", "dirty elsewhere");
    assert_eq!(r.version("app"), commit_version(&first), "changes outside the context do not count");

    r.write("app/a.txt", "changed");
    let v1 = r.version("app");
    match &v1 {
        ContextVersion::WorkingTree { hash, why } => {
            assert_eq!(why, "uncommitted changes in app");
            assert_eq!(hash.len(), 64);
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.version("app"), v1, "stable while nothing changes");
    assert_eq!(v1.tag(), working_hash(&v1)[..12]);

    r.write("app/a.txt", "changed again");
    let v2 = r.version("app");
    assert_ne!(working_hash(&v1), working_hash(&v2), "the hash follows the content");

    r.chmod("app/a.txt", 0o755);
    let v3 = r.version("app");
    assert_ne!(working_hash(&v2), working_hash(&v3), "the hash follows the executable bit");
}

#[test]
fn untracked_staged_and_deleted_files_make_the_context_dirty() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/old", "x");
    r.commit("first");

    r.write("app/deep/new/file", "x");
    assert!(matches!(r.version("app"), ContextVersion::WorkingTree { .. }), "untracked");
    fs::remove_dir_all(r.root.join("app/deep")).unwrap();

    fs::remove_file(r.root.join("app/old")).unwrap();
    assert!(matches!(r.version("app"), ContextVersion::WorkingTree { .. }), "deleted");
    r.write("app/old", "x");

    r.write("app/staged", "x");
    let repo = r.repo.as_ref().unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("app/staged")).unwrap();
    index.write().unwrap();
    assert!(matches!(r.version("app"), ContextVersion::WorkingTree { .. }), "staged");
}

#[test]
fn gitignored_untracked_file_does_not_dirty_the_context() {
    let r = Repo::git();
    r.write(".gitignore", "*.log\nbuild/\n").write("app/Dockerfile", "FROM scratch\n");
    let first = r.commit("first");
    r.write("app/debug.log", "noise").write("app/build/out.bin", "noise");
    assert_eq!(r.version("app"), commit_version(&first));
}

#[test]
fn a_sibling_folder_sharing_the_prefix_is_not_the_context() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app2/x", "1");
    let first = r.commit("first");
    r.write("app2/x", "2").write("app2/y", "new");
    assert_eq!(r.version("app"), commit_version(&first));
}

#[test]
fn no_git_or_no_commit_uses_the_working_tree() {
    let r = Repo::plain();
    r.write("app/Dockerfile", "FROM scratch\n");
    match r.version("app") {
        ContextVersion::WorkingTree { why, hash } => {
            assert_eq!(why, "not a git repository");
            assert_eq!(hash.len(), 64);
        }
        other => panic!("{other:?}"),
    }

    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n");
    match r.version("app") {
        ContextVersion::WorkingTree { why, .. } => assert_eq!(why, "no commit yet"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn working_tree_hash_covers_exactly_the_files_sent() {
    let r = Repo::plain();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/.dockerignore", "*.log\n").write("app/keep", "k");
    let before = working_hash(&r.version("app"));
    r.write("app/debug.log", "ignored");
    assert_eq!(working_hash(&r.version("app")), before, "an ignored file is not sent, so not hashed");
    r.write("app/keep", "changed");
    assert_ne!(working_hash(&r.version("app")), before);

    // Same files elsewhere: same hash (the hash is about content, not place).
    let other = Repo::plain();
    other.write("ctx/Dockerfile", "FROM scratch\n").write("ctx/.dockerignore", "*.log\n").write("ctx/keep", "changed");
    assert_eq!(working_hash(&other.version("ctx")), working_hash(&r.version("app")));
}

#[test]
fn dockerfile_excluded_by_dockerignore_is_still_hashed() {
    let r = Repo::plain();
    r.write("app/build.Dockerfile", "FROM scratch\n").write("app/.dockerignore", "*Dockerfile\n");
    let before = context_version_with(&r.root, "app", "build.Dockerfile").unwrap();
    r.write("app/build.Dockerfile", "FROM busybox\n");
    let after = context_version_with(&r.root, "app", "build.Dockerfile").unwrap();
    assert_ne!(before, after);
}

#[test]
fn escaping_and_symlinked_contexts_are_refused() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n");
    r.symlink("app", "linked");
    r.commit("first");
    assert_eq!(invalid_problem(context_version(&r.root, "../x").unwrap_err()), "escapes the repository");
    assert_eq!(invalid_problem(context_version(&r.root, "app/../..").unwrap_err()), "escapes the repository");
    assert_eq!(context_version(&r.root, "app/../app").unwrap(), r.version("app"));
    assert_eq!(
        invalid_problem(context_version(&r.root, "linked").unwrap_err()),
        "leaves the repository through a symlink",
        "a symlink in the committed tree"
    );
    let err = context_tar(&r.root, "linked", "Dockerfile", &r.version("app")).err().unwrap();
    assert_eq!(invalid_problem(err), "leaves the repository through a symlink");

    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let plain = Repo::plain();
    plain.symlink(outside.path().to_str().unwrap(), "out");
    assert_eq!(
        invalid_problem(context_version(&plain.root, "out").unwrap_err()),
        "leaves the repository through a symlink",
        "a working-tree symlink out of the repository"
    );
    assert_eq!(invalid_problem(context_version(&plain.root, "missing").unwrap_err()), "does not exist");
}

// ---------------------------------------------------------------- tar

#[test]
fn tar_from_a_commit_has_committed_content_not_the_disk() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n")
        .write("app/src/app.sh", "echo committed\n")
        .write("app/.gitignore", "*.tmp\n")
        .write("other/x", "1");
    r.chmod("app/src/app.sh", 0o755);
    r.symlink("src/app.sh", "app/run");
    let id = r.commit("first");

    r.write("app/src/app.sh", "echo dirty\n").write("app/new", "untracked").write("app/x.tmp", "ignored");
    let tarred = r.tar("app", &commit_version(&id));
    assert_eq!(tarred.paths(), [".gitignore", "Dockerfile", "run", "src", "src/app.sh"]);
    assert_eq!(tarred.content("src/app.sh"), "echo committed\n");
    assert_eq!(tarred.mode("src/app.sh"), 0o755);
    assert_eq!(tarred.mode("Dockerfile"), 0o644);
    assert_eq!(tarred.items["src"], Item::Dir);
    assert_eq!(tarred.items["run"], Item::Link("src/app.sh".into()));

    // The working tree sends the disk as it is.
    let working = ContextVersion::WorkingTree { hash: String::new(), why: String::new() };
    let tarred = r.tar("app", &working);
    assert_eq!(tarred.paths(), [".gitignore", "Dockerfile", "new", "run", "src", "src/app.sh", "x.tmp"]);
    assert_eq!(tarred.content("src/app.sh"), "echo dirty\n");
    assert_eq!(tarred.mode("src/app.sh"), 0o755);
    assert_eq!(tarred.items["run"], Item::Link("src/app.sh".into()));
}

#[test]
fn tar_is_deterministic() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/b/c", "c").write("app/a", "a");
    let id = r.commit("first");
    let once = collect(context_tar(&r.root, "app", "Dockerfile", &commit_version(&id)).unwrap()).unwrap().concat();
    let twice = collect(context_tar(&r.root, "app", "Dockerfile", &commit_version(&id)).unwrap()).unwrap().concat();
    assert_eq!(once, twice);
    let working = ContextVersion::WorkingTree { hash: String::new(), why: String::new() };
    let disk = collect(context_tar(&r.root, "app", "Dockerfile", &working).unwrap()).unwrap().concat();
    assert_eq!(once, disk, "the same files from git or disk make the same bytes");
}

#[test]
fn submodules_are_skipped() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n");
    let repo = r.repo.as_ref().unwrap();
    // A gitlink entry in the index, as a submodule leaves it.
    let mut index = repo.index().unwrap();
    let entry = git2::IndexEntry {
        ctime: git2::IndexTime::new(0, 0),
        mtime: git2::IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o160000,
        uid: 0,
        gid: 0,
        file_size: 0,
        id: git2::Oid::from_str("0123456789012345678901234567890123456789").unwrap(),
        flags: 0,
        flags_extended: 0,
        path: b"app/sub".to_vec(),
    };
    index.add_path(Path::new("app/Dockerfile")).unwrap();
    index.add(&entry).unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::new("Test", "test@example.com", &git2::Time::new(1_700_000_000, 0)).unwrap();
    let id = repo.commit(Some("HEAD"), &sig, &sig, "with submodule", &tree, &[]).unwrap().to_string();
    let tarred = r.tar("app", &commit_version(&id));
    assert_eq!(tarred.paths(), ["Dockerfile"]);
}

#[test]
fn missing_dockerfile_is_refused_before_streaming() {
    let r = Repo::git();
    r.write("app/Containerfile", "FROM scratch\n");
    let id = r.commit("first");
    let err = context_tar(&r.root, "app", "Dockerfile", &commit_version(&id)).err().unwrap();
    assert_eq!(invalid_problem(err), "has no Dockerfile");
    let working = ContextVersion::WorkingTree { hash: String::new(), why: String::new() };
    let err = check_dockerfile(&r.root, "app", "Dockerfile", &working).unwrap_err();
    assert_eq!(invalid_problem(err), "has no Dockerfile");
    check_dockerfile(&r.root, "app", "./Containerfile", &commit_version(&id)).unwrap();
    check_dockerfile(&r.root, "app", "Containerfile", &working).unwrap();
    let err = check_dockerfile(&r.root, "app", "../Containerfile", &working).unwrap_err();
    assert!(invalid_problem(err).starts_with("has no ../Containerfile"));
}

#[test]
fn large_files_are_streamed_in_chunks() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n");
    let big: String = (0..5 * 1024 * 1024).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    r.write("app/big", &big);
    let id = r.commit("big");
    for version in [commit_version(&id), ContextVersion::WorkingTree { hash: String::new(), why: String::new() }] {
        let chunks = collect(context_tar(&r.root, "app", "Dockerfile", &version).unwrap()).unwrap();
        assert!(chunks.len() > 1, "{} chunk(s)", chunks.len());
        assert!(chunks.iter().all(|c| c.len() <= tar::CHUNK));
        let tarred = Tarred::read(&chunks.concat());
        assert_eq!(tarred.content("big").len(), big.len());
        assert!(tarred.content("big") == big);
    }
}

#[test]
fn dropping_the_stream_stops_the_producer() {
    let r = Repo::plain();
    r.write("app/Dockerfile", "FROM scratch\n");
    r.write("app/big", &"x".repeat(2 * 1024 * 1024));
    let working = ContextVersion::WorkingTree { hash: String::new(), why: String::new() };
    let stream = context_tar(&r.root, "app", "Dockerfile", &working).unwrap();
    drop(stream); // the thread sees a closed channel and ends; nothing hangs
}

// ---------------------------------------------------------------- .dockerignore

fn sent(ignore: &str, files: &[&str]) -> Vec<String> {
    let r = Repo::plain();
    r.write("Dockerfile", "FROM scratch\n").write(".dockerignore", ignore);
    for f in files {
        r.write(f, "x");
    }
    let working = ContextVersion::WorkingTree { hash: String::new(), why: String::new() };
    r.tar(".", &working).order
}

#[test]
fn dockerignore_plain_name_and_comments() {
    let got = sent("# a comment\n\n  secret.txt  \n#keep.txt\n", &["secret.txt", "keep.txt", "sub/secret.txt"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "keep.txt", "sub", "sub/secret.txt"]);
}

#[test]
fn dockerignore_double_star() {
    let got = sent("**/*.log\n", &["a.log", "x/b.log", "x/y/c.log", "x/keep"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "x", "x/keep", "x/y"]);
}

#[test]
fn dockerignore_star_does_not_cross_slashes() {
    let got = sent("*.log\n/x/*.txt\n", &["a.log", "x/b.log", "x/c.txt", "x/y/d.txt"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "x", "x/b.log", "x/y", "x/y/d.txt"]);
}

#[test]
fn dockerignore_exceptions_last_match_wins() {
    let got = sent("*.md\n!README.md\nREADME-old.md\n", &["README.md", "CHANGES.md", "README-old.md"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "README.md"]);
    let got = sent("!README.md\n*.md\n", &["README.md"]);
    assert_eq!(got, [".dockerignore", "Dockerfile"]);
}

#[test]
fn dockerignore_directory_exclusion_and_exception_inside() {
    let got = sent("node_modules\n", &["node_modules/a/index.js", "node_modules/b.js", "src/node_modules/c"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "src", "src/node_modules", "src/node_modules/c"]);

    let got = sent("docs\n!docs/keep.md\n", &["docs/keep.md", "docs/drop.md", "docs/deep/x.md"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "docs/keep.md"]);

    let got = sent("vendor/\n!vendor/**/LICENSE\n", &["vendor/a/LICENSE", "vendor/a/code.go", "vendor/LICENSE"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "vendor/LICENSE", "vendor/a/LICENSE"]);
}

#[test]
fn dockerignore_never_drops_the_dockerfile_or_itself() {
    let got = sent("*\n", &["a", "b/c"]);
    assert_eq!(got, [".dockerignore", "Dockerfile"]);

    let r = Repo::git();
    r.write("app/docker/Dockerfile", "FROM scratch\n")
        .write("app/.dockerignore", "docker\n.dockerignore\n")
        .write("app/docker/other", "x");
    let id = r.commit("first");
    let chunks = collect(context_tar(&r.root, "app", "docker/Dockerfile", &commit_version(&id)).unwrap()).unwrap();
    assert_eq!(Tarred::read(&chunks.concat()).paths(), [".dockerignore", "docker/Dockerfile"]);
}

#[test]
fn dockerignore_is_read_from_the_commit() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n")
        .write("app/.dockerignore", "a\n")
        .write("app/a", "a")
        .write("app/b", "b");
    let id = r.commit("first");
    r.write("app/.dockerignore", "b\n");
    assert_eq!(r.tar("app", &commit_version(&id)).paths(), [".dockerignore", "Dockerfile", "b"]);
}

#[test]
fn dockerignore_matching_rules() {
    let ignore =
        DockerIgnore::parse("\u{feff}/abs/path\n./dot/../cleaned\nfoo/**\na/**/z\n[ab]?.c\n{x,y}\n  # not a comment\n")
            .unwrap();
    assert!(ignore.excludes("abs/path"));
    assert!(ignore.excludes("abs/path/below"));
    assert!(ignore.excludes("cleaned"));
    assert!(ignore.excludes("foo/x/y"));
    assert!(!ignore.excludes("foo"));
    assert!(ignore.excludes("a/z") && ignore.excludes("a/b/c/z"));
    assert!(ignore.excludes("b1.c") && !ignore.excludes("c1.c") && !ignore.excludes("b/.c"));
    assert!(ignore.excludes("{x,y}") && !ignore.excludes("x"), "braces are literal, as in moby");
    assert!(ignore.excludes("# not a comment"), "only lines starting with # are comments");
    assert!(DockerIgnore::parse("!\n").is_err());
    assert!(DockerIgnore::parse("[unclosed\n").is_err());
}

#[test]
fn invalid_dockerignore_is_reported() {
    let r = Repo::plain();
    r.write("Dockerfile", "FROM scratch\n").write(".dockerignore", "ok\n[bad\n");
    let problem = invalid_problem(context_version(&r.root, ".").unwrap_err());
    assert!(problem.starts_with("has an invalid .dockerignore: line 2"), "{problem}");
}
