//! `berth watch` on a local repository: which file changes wake the loop
//! (`berth::watch::LocalWatch` on a real temporary git repository, real
//! inotify). No engine involved.

use crate::common::TestRepo;
use berth::watch::{LocalWatch, Reasons, Trigger, Triggers, WatchPaths};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Longer than the debounce and the burst gathering together, with room
/// for a loaded machine.
const QUIET: Duration = Duration::from_millis(1500);
const WITHIN: Duration = Duration::from_secs(5);

fn repo(name: &str) -> TestRepo {
    let repo = TestRepo::new(name);
    repo.app("web", "image: busybox:1.36\n").git_init();
    repo.commit("first");
    repo
}

fn watch(root: &Path) -> (LocalWatch, Triggers) {
    let triggers = Triggers::default();
    let watch = LocalWatch::start(root, triggers.clone()).expect("watching starts");
    (watch, triggers)
}

async fn trigger(t: &Triggers) -> Reasons {
    tokio::time::timeout(WITHIN, t.next()).await.expect("a trigger within 5 s")
}

async fn assert_quiet(t: &Triggers, what: &str) {
    if let Ok(r) = tokio::time::timeout(QUIET, t.next()).await {
        panic!("{what} triggered a pass: {r}");
    }
}

fn files(r: &Reasons) -> (String, usize) {
    match r.list.as_slice() {
        [Trigger::Files { first, count }] => (first.clone(), *count),
        other => panic!("expected one Files trigger, got {other:?}"),
    }
}

#[tokio::test]
async fn an_app_change_triggers_once_and_a_burst_once() {
    let repo = repo("watch files app");
    let (_watch, t) = watch(repo.path());
    repo.app("web", "image: busybox:1.37\n");
    assert_eq!(files(&trigger(&t).await), ("apps/web.yaml".to_string(), 1));
    assert_quiet(&t, "nothing more").await;

    for i in 0..20 {
        repo.app("web", &format!("image: busybox:1.36\nenv: {{N: \"{i}\"}}\n"));
    }
    assert_eq!(files(&trigger(&t).await).0, "apps/web.yaml");
    assert_quiet(&t, "the rest of the burst").await;

    // Several files at once are one burst too.
    for name in ["a", "b", "c"] {
        repo.app(name, "image: busybox:1.36\n");
    }
    repo.berth_yaml("# changed\n");
    let (_, count) = files(&trigger(&t).await);
    assert_eq!(count, 4);
    assert_quiet(&t, "the rest of the burst").await;
}

#[tokio::test]
async fn swap_files_unrelated_folders_and_git_internals_trigger_nothing() {
    let repo = repo("watch files noise");
    let (_watch, t) = watch(repo.path());
    repo.file("apps/.web.yaml.swp", "swap");
    repo.file("apps/web.yaml~", "backup");
    repo.file("apps/4913", "");
    repo.file("docs/notes.md", "notes");
    repo.file("services/web/Dockerfile", "FROM busybox:1.36\n");
    repo.file(".git/objects/ab/cdef0123", "not really an object");
    repo.file(".git/index.lock", "");
    repo.file(".git/ORIG_HEAD", "0000");
    std::fs::remove_file(repo.path().join("apps/.web.yaml.swp")).unwrap();
    // git itself, when no ref moves: status refreshes the index.
    repo.git(&["status", "--porcelain"]);
    assert_quiet(&t, "noise").await;
    // The watch still works.
    repo.app("web", "image: busybox:1.37\n");
    assert_eq!(files(&trigger(&t).await).0, "apps/web.yaml");
}

#[tokio::test]
async fn a_commit_triggers() {
    let repo = repo("watch files commit");
    let (_watch, t) = watch(repo.path());
    repo.git(&["commit", "-q", "--allow-empty", "-m", "nothing but a commit"]);
    let (first, _) = files(&trigger(&t).await);
    assert!(first.starts_with(".git/refs/heads/main"), "{first}");
    assert_quiet(&t, "the commit").await;
    // A new branch's folder is watched as it appears; a checkout moves HEAD.
    repo.git(&["branch", "feature/x"]);
    trigger(&t).await;
    repo.git(&["checkout", "-q", "feature/x"]);
    trigger(&t).await;
    repo.git(&["commit", "-q", "--allow-empty", "-m", "on the branch"]);
    let (first, _) = files(&trigger(&t).await);
    assert!(first.contains("feature/x") || first.ends_with("HEAD"), "{first}");
}

#[tokio::test]
async fn contexts_and_mounted_folders_count_once_named() {
    let repo = repo("watch files contexts");
    repo.file("services/web/Dockerfile", "FROM busybox:1.36\n")
        .file("services/web/.gitignore", "target/\n")
        .file("services/web/target/out.bin", "")
        .file("site/index.html", "hi");
    repo.commit("contexts");
    let (watch, t) = watch(repo.path());
    repo.file("services/web/Dockerfile", "FROM busybox:1.37\n");
    assert_quiet(&t, "a folder no app uses").await;

    watch.set_paths(WatchPaths { contexts: vec!["services/web".into()], folders: vec!["./site".into()] });
    watch.flush();
    repo.file("services/web/Dockerfile", "FROM busybox:1.36\n");
    assert_eq!(files(&trigger(&t).await).0, "services/web/Dockerfile");
    repo.file("site/index.html", "hello");
    assert_eq!(files(&trigger(&t).await).0, "site/index.html");
    // A new folder inside a context is watched from then on.
    repo.file("services/web/src/main.c", "int main;");
    trigger(&t).await;
    repo.file("services/web/src/main.c", "int main(void);");
    assert_eq!(files(&trigger(&t).await).0, "services/web/src/main.c");
    // What git ignores is not sent with the context.
    repo.file("services/web/target/out.bin", "built");
    repo.file("services/web/target/deep/er.o", "built");
    assert_quiet(&t, "an ignored build output").await;
    // A context that does not exist yet: its creation counts.
    watch.set_paths(WatchPaths { contexts: vec!["services/api".into()], folders: vec![] });
    watch.flush();
    repo.file("services/api/Dockerfile", "FROM busybox:1.36\n");
    trigger(&t).await;
}

#[tokio::test]
async fn a_repository_inside_a_larger_work_tree() {
    let repo = TestRepo::new("watch files nested");
    let deploy = repo.path().join("deploy");
    std::fs::create_dir_all(deploy.join("apps")).unwrap();
    std::fs::write(deploy.join("apps/web.yaml"), "image: busybox:1.36\n").unwrap();
    repo.git_init();
    repo.commit("first");
    let (_watch, t) = watch(&deploy);
    repo.file("other/apps/web.yaml", "image: busybox:1.37\n");
    assert_quiet(&t, "a file outside the watched folder").await;
    repo.git(&["commit", "-q", "--allow-empty", "-m", "second"]);
    let (first, _) = files(&trigger(&t).await);
    assert!(first.ends_with(".git/refs/heads/main"), "{first}");
    repo.file("deploy/apps/web.yaml", "image: busybox:1.37\n");
    assert_eq!(files(&trigger(&t).await).0, "apps/web.yaml");
}

#[tokio::test]
async fn a_linked_worktree() {
    let repo = repo("watch files worktree");
    let linked = repo.path().parent().unwrap().join("linked");
    repo.git(&["worktree", "add", "-q", "-b", "side", linked.to_str().unwrap()]);
    let (_watch, t) = watch(&linked);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&linked)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@berth.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@berth.invalid")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["commit", "-q", "--allow-empty", "-m", "in the worktree"]);
    let (first, _) = files(&trigger(&t).await);
    assert!(first.ends_with("refs/heads/side"), "{first}");
}

#[tokio::test]
async fn dropping_the_watch_stops_it() {
    let repo = repo("watch files drop");
    let (watch, t) = watch(repo.path());
    drop(watch);
    // The watching thread ends at its next message; give it one.
    std::thread::sleep(Duration::from_millis(100));
    repo.app("web", "image: busybox:1.37\n");
    assert_quiet(&t, "a dropped watch").await;
}
