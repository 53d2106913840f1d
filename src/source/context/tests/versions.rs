//! Where a context's files come from, and their content id.

use super::*;

fn commit_of(v: &ContextVersion) -> &str {
    v.commit().unwrap_or_else(|| panic!("expected a committed version, got {v:?}"))
}

fn uncommitted(v: &ContextVersion) -> (&str, Vec<&str>, usize) {
    match &v.from {
        ContextFrom::WorkingTree { why, files, more } => (why, files.iter().map(String::as_str).collect(), *more),
        other => panic!("expected a working-tree version, got {other:?}"),
    }
}

/// A commit of `tree` with the given parents, made without touching HEAD's
/// history order (as a merge or a history-less clone leaves it).
fn commit_tree(r: &Repo, tree: git2::Oid, parents: &[git2::Oid], message: &str) -> String {
    let repo = r.repo.as_ref().unwrap();
    let sig = git2::Signature::new("Other", "other@example.com", &git2::Time::new(1_800_000_000, 0)).unwrap();
    let tree = repo.find_tree(tree).unwrap();
    let parents: Vec<git2::Commit<'_>> = parents.iter().map(|p| repo.find_commit(*p).unwrap()).collect();
    let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
    let id = repo.commit(None, &sig, &sig, message, &tree, &parents).unwrap();
    repo.set_head_detached(id).unwrap();
    id.to_string()
}

fn tree_of(r: &Repo, commit: &str) -> git2::Oid {
    let repo = r.repo.as_ref().unwrap();
    repo.find_commit(git2::Oid::from_str(commit).unwrap()).unwrap().tree_id()
}

#[test]
fn the_content_id_follows_the_context_not_the_commits() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("other/x", "1").write("Dockerfile", "FROM scratch\n");
    let first = r.commit("first");
    let v1 = r.version("app");
    assert_eq!(commit_of(&v1), first);
    assert_eq!(v1.content.len(), 64);
    assert_eq!(v1.dockerfile_blob, content::blob_id(b"FROM scratch\n"), "the Dockerfile's git blob id");

    r.write("other/x", "2");
    r.commit("elsewhere");
    r.write("README", "hi");
    let third = r.commit("readme");
    let v3 = r.version("app");
    assert_eq!(commit_of(&v3), third, "the commit is HEAD's, for people");
    assert_eq!(v3.content, v1.content, "commits elsewhere keep the content id");
    assert_eq!(r.version("./app/").content, v1.content, "the context path is normalized");
    assert_ne!(r.version(".").content, v1.content);
    assert_eq!(r.version("").content, r.version(".").content);

    r.write("app/Dockerfile", "FROM scratch\nCMD [\"x\"]\n");
    r.commit("touch app");
    let touched = r.version("app");
    assert_ne!(touched.content, v1.content);
    assert_ne!(touched.dockerfile_blob, v1.dockerfile_blob);

    // A change reverted later: the same files, the same content id.
    r.write("app/Dockerfile", "FROM busybox\n");
    r.commit("change");
    r.write("app/Dockerfile", "FROM scratch\nCMD [\"x\"]\n");
    r.commit("revert");
    assert_eq!(r.version("app").content, touched.content);
}

#[test]
fn shallow_clones_merges_and_cherry_picks_agree() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/src/a.sh", "echo a\n").write("other/x", "1");
    let base = r.commit("base");
    let content = r.version("app").content;

    // A commit with no parents and the same tree: what a depth-1 clone has.
    let lone = commit_tree(&r, tree_of(&r, &base), &[], "shallow");
    assert_eq!(commit_of(&r.version("app")), lone);
    assert_eq!(r.version("app").content, content);

    // A `--no-ff` merge of a branch that changed only other files.
    r.repo.as_ref().unwrap().set_head_detached(git2::Oid::from_str(&base).unwrap()).unwrap();
    r.write("other/x", "2");
    let side = r.commit("side");
    let merge = commit_tree(&r, tree_of(&r, &side), &[base.parse().unwrap(), side.parse().unwrap()], "merge");
    assert_eq!(commit_of(&r.version("app")), merge);
    assert_eq!(r.version("app").content, content);

    // A cherry-pick of a context change onto another line of history gives
    // the files of the original.
    r.write("app/src/a.sh", "echo b\n");
    let picked_from = r.commit("change a");
    let changed = r.version("app").content;
    assert_ne!(changed, content);
    let elsewhere = commit_tree(&r, tree_of(&r, &picked_from), &[lone.parse().unwrap()], "cherry-pick");
    assert_eq!(commit_of(&r.version("app")), elsewhere);
    assert_eq!(r.version("app").content, changed);
}

#[test]
fn committed_and_working_tree_files_hash_alike() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/run.sh", "echo hi\n").write("app/.dockerignore", "*.log\n");
    r.chmod("app/run.sh", 0o755);
    r.symlink("run.sh", "app/start");
    let id = r.commit("first");
    let committed = r.version("app");
    assert_eq!(committed, r.at("app", "Dockerfile", &id));
    assert_eq!(r.working("app", "Dockerfile").content, committed.content, "the disk hashes as git does");
    assert_eq!(r.working("app", "Dockerfile").dockerfile_blob, committed.dockerfile_blob);

    // The same files in a folder without git.
    let plain = Repo::plain();
    plain
        .write("ctx/Dockerfile", "FROM scratch\n")
        .write("ctx/run.sh", "echo hi\n")
        .write("ctx/.dockerignore", "*.log\n");
    plain.chmod("ctx/run.sh", 0o755);
    plain.symlink("run.sh", "ctx/start");
    plain.write("ctx/debug.log", "not sent, not hashed");
    assert!(is_working(&plain.version("ctx")));
    assert_eq!(plain.version("ctx").content, committed.content);
}

#[test]
fn root_below_the_git_work_tree() {
    let r = Repo::git();
    r.write("deploy/app/Dockerfile", "FROM scratch\n").write("src/main.c", "int main;");
    let first = r.commit("first");
    r.write("src/main.c", "int main();");
    let second = r.commit("src");
    let root = r.root.join("deploy");
    let v = context_version(&root, "app").unwrap();
    assert_eq!(commit_of(&v), second);
    assert_eq!(v.content, r.at("deploy/app", "Dockerfile", &first).content);
    let tarred = Tarred::read(&collect(context_tar(&root, "app", "Dockerfile", &v).unwrap()).unwrap().concat());
    assert_eq!(tarred.paths(), ["Dockerfile"]);
    r.write("deploy/app/Dockerfile", "FROM busybox\n");
    let dirty = context_version(&root, "app").unwrap();
    assert_eq!(uncommitted(&dirty).1, ["app/Dockerfile"], "paths are relative to the berth repository");
}

#[test]
fn a_dirty_context_uses_the_working_tree_and_names_its_files() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/a.txt", "a").write("other/x", "1");
    let first = r.commit("first");
    let clean = r.version("app");

    r.write("other/x", "dirty elsewhere");
    assert_eq!(commit_of(&r.version("app")), first, "changes outside the context do not count");

    r.write("app/a.txt", "changed");
    let v1 = r.version("app");
    assert_eq!(uncommitted(&v1), ("uncommitted changes in app", vec!["app/a.txt"], 0));
    assert_ne!(v1.content, clean.content);
    assert_eq!(r.version("app"), v1, "stable while nothing changes");

    r.write("app/a.txt", "changed again");
    let v2 = r.version("app");
    assert_ne!(v1.content, v2.content, "the hash follows the content");

    r.chmod("app/a.txt", 0o755);
    let v3 = r.version("app");
    assert_ne!(v2.content, v3.content, "the hash follows the executable bit");

    // Back to the committed content: clean again, the committed id.
    r.chmod("app/a.txt", 0o644);
    r.write("app/a.txt", "a");
    assert_eq!(r.version("app").content, clean.content);

    for i in 0..13 {
        r.write(&format!("app/new{i:02}"), "x");
    }
    let many = r.version("app");
    let (_, files, more) = uncommitted(&many);
    assert_eq!((files.len(), files[0], more), (10, "app/new00", 3), "the first files are named, the rest counted");
}

#[test]
fn untracked_staged_and_deleted_files_make_the_context_dirty() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/old", "x");
    r.commit("first");

    r.write("app/deep/new/file", "x");
    assert_eq!(uncommitted(&r.version("app")).1, ["app/deep/new/file"], "untracked");
    fs::remove_dir_all(r.root.join("app/deep")).unwrap();

    fs::remove_file(r.root.join("app/old")).unwrap();
    assert_eq!(uncommitted(&r.version("app")).1, ["app/old"], "deleted");
    r.write("app/old", "x");

    r.write("app/staged", "x");
    let repo = r.repo.as_ref().unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("app/staged")).unwrap();
    index.write().unwrap();
    assert_eq!(uncommitted(&r.version("app")).1, ["app/staged"], "staged");
}

#[test]
fn ignored_files_do_not_dirty_the_context() {
    let r = Repo::git();
    r.write(".gitignore", "*.log\nbuild/\n")
        .write("app/Dockerfile", "FROM scratch\n")
        .write("app/.dockerignore", "notes/\n*.tmp\n");
    let first = r.commit("first");
    r.write("app/debug.log", "noise").write("app/build/out.bin", "noise");
    assert_eq!(commit_of(&r.version("app")), first, "git-ignored");
    r.write("app/notes/todo.md", "later").write("app/x.tmp", "scratch");
    assert_eq!(commit_of(&r.version("app")), first, "not sent (.dockerignore), so not what is built");
    r.write("app/.dockerignore", "notes/\n");
    assert_eq!(
        uncommitted(&r.version("app")).1,
        ["app/.dockerignore", "app/x.tmp"],
        "a changed .dockerignore is sent, and changes what is"
    );
}

#[test]
fn a_sibling_folder_sharing_the_prefix_is_not_the_context() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app2/x", "1");
    let first = r.commit("first");
    r.write("app2/x", "2").write("app2/y", "new");
    assert_eq!(commit_of(&r.version("app")), first);
}

#[test]
fn no_git_or_no_commit_uses_the_working_tree() {
    let r = Repo::plain();
    r.write("app/Dockerfile", "FROM scratch\n");
    let v = r.version("app");
    assert_eq!(uncommitted(&v), ("not a git repository", vec![], 0));
    assert_eq!(v.content.len(), 64);

    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n");
    assert_eq!(uncommitted(&r.version("app")).0, "no commit yet");
}

#[test]
fn working_tree_hash_covers_exactly_the_files_sent() {
    let r = Repo::plain();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/.dockerignore", "*.log\n").write("app/keep", "k");
    let before = r.version("app").content;
    r.write("app/debug.log", "ignored");
    assert_eq!(r.version("app").content, before, "an ignored file is not sent, so not hashed");
    r.write("app/keep", "changed");
    assert_ne!(r.version("app").content, before);

    // Same files elsewhere: same hash (the hash is about content, not place).
    let other = Repo::plain();
    other.write("ctx/Dockerfile", "FROM scratch\n").write("ctx/.dockerignore", "*.log\n").write("ctx/keep", "changed");
    assert_eq!(other.version("ctx").content, r.version("app").content);
}

#[test]
fn dockerfile_excluded_by_dockerignore_is_still_hashed() {
    let r = Repo::git();
    r.write("app/build.Dockerfile", "FROM scratch\n").write("app/.dockerignore", "*Dockerfile\n");
    r.commit("first");
    let before = context_version_with(&r.root, "app", "build.Dockerfile").unwrap();
    assert_eq!(before.dockerfile_blob, content::blob_id(b"FROM scratch\n"));
    r.write("app/build.Dockerfile", "FROM busybox\n");
    r.commit("second");
    let after = context_version_with(&r.root, "app", "build.Dockerfile").unwrap();
    assert_ne!(before.content, after.content);
    assert_eq!(after.dockerfile_blob, content::blob_id(b"FROM busybox\n"));

    // Uncommitted, in the working tree, too.
    r.write("app/build.Dockerfile", "FROM busybox:1.37\n");
    let dirty = context_version_with(&r.root, "app", "build.Dockerfile").unwrap();
    assert_eq!(uncommitted(&dirty).1, ["app/build.Dockerfile"]);
    assert_ne!(dirty.content, after.content);
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

#[test]
fn uncommitted_specs_are_listed() {
    let r = Repo::git();
    r.write("berth.yaml", "project: x\n").write("apps/web.yaml", "image: a\n").write("services/x", "1");
    r.commit("first");
    assert!(uncommitted_config(&r.root).is_empty());
    r.write("apps/web.yaml", "image: b\n").write("apps/team/new.yml", "image: c\n").write("services/x", "2");
    r.write("berth.yml", "project: y\n").write("apps.md", "not a spec");
    assert_eq!(uncommitted_config(&r.root), ["apps/team/new.yml", "apps/web.yaml", "berth.yml"]);

    // A berth repository inside a larger work tree: paths are its own.
    r.write("deploy/berth.yaml", "project: d\n");
    assert_eq!(uncommitted_config(&r.root.join("deploy")), ["berth.yaml"]);
    assert!(uncommitted_config(&Repo::plain().root).is_empty(), "no git, nothing to compare with");
}
