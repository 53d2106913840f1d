//! Portable saved plans, as CI runs them: a plan saved in one clone is
//! applied from another clone of the same commit, in another folder, with
//! its own state dir and the age key only in `BERTH_AGE_KEY`; a checkout
//! of another commit, or without the planned uncommitted files, is refused
//! saying what the plan needs.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SLEEPER: &str = "[\"sleep\", \"3600\"]";
const DOCKERFILE: &str =
    "FROM busybox:1.36\nCOPY . /ctx\nCMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n";
/// Any 32 bytes, the same for every runner (the secret fingerprints' key).
const FINGERPRINT_KEY: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

/// Removes the project's containers, then the local images of `<repo>`
/// (`docker rmi` refuses an image a container still runs).
struct BuiltImages {
    project: String,
    repo: String,
}

impl Drop for BuiltImages {
    fn drop(&mut self) {
        remove_project(&self.project);
        let out = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", &self.repo]);
        for image in stdout(&out).lines() {
            docker(&["rmi", "-f", image]);
        }
    }
}

/// A runner: `berth ARGS` in `cwd`, with its own state dir, no identity
/// file, and the age key (when given) only in `BERTH_AGE_KEY`.
fn runner(repo: &TestRepo, cwd: &Path, state: &Path, age_key: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = repo.command();
    cmd.current_dir(cwd).env("BERTH_STATE_DIR", state).env("BERTH_FINGERPRINT_KEY", FINGERPRINT_KEY).args(args);
    cmd.env_remove("BERTH_AGE_IDENTITY");
    if let Some(k) = age_key {
        cmd.env("BERTH_AGE_KEY", k);
    }
    cmd.output().expect("berth runs")
}

/// `git clone` of the repository into `dest`; returns `dest`.
fn clone(repo: &TestRepo, dest: PathBuf) -> PathBuf {
    clone_with(repo, dest, &[])
}

/// `clone`, with `git clone` options (`--depth 1`: as CI checks out).
fn clone_with(repo: &TestRepo, dest: PathBuf, options: &[&str]) -> PathBuf {
    // A file:// URL, so that --depth is honoured.
    let url = format!("file://{}", repo.dir().display());
    let out = Command::new("git").args(["clone", "-q"]).args(options).arg(url).arg(&dest).output().expect("git runs");
    assert!(out.status.success(), "git clone failed:\n{}", stderr(&out));
    dest
}

fn git_in(dir: &Path, args: &[&str]) {
    let out = Command::new("git").args(args).current_dir(dir).output().expect("git runs");
    assert!(out.status.success(), "git {} failed:\n{}", args.join(" "), stderr(&out));
}

fn write(dir: &Path, rel: &str, text: &str) {
    std::fs::write(dir.join(rel), text).unwrap_or_else(|e| panic!("failed to write {rel}: {e}"));
}

fn read_json(file: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

#[test]
fn a_saved_plan_applies_from_another_clone_of_its_commit() {
    require_engine();
    let repo = TestRepo::new("savedclone");
    let project = repo.project().to_string();
    let _images = BuiltImages { project: project.clone(), repo: format!("{project}-web") };
    let key = keygen(&repo.state_dir());
    let age_key = std::fs::read_to_string(&key.file).unwrap();
    let age_key = age_key.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap().to_string();
    let secret = format!("token-{project}");
    repo.git_init();
    // No `project:`: the project is the name of the folder runner A plans in,
    // and the plan keeps it wherever it is applied.
    repo.file("berth.yaml", &format!("recipients: [{}]\n", key.public));
    age_encrypt(&repo, "db", &key.public, &format!("kind: env\nvalues:\n  TOKEN: {secret}\n"));
    repo.file("services/web/Dockerfile", DOCKERFILE);
    repo.file("services/web/app.txt", &format!("{project} as committed\n"));
    let app = |mode: &str| {
        format!(
            "build:\n  context: services/web\nregistry:\n  image-repo: {project}-web\nsecret-env: [db]\nenv: {{MODE: {mode}}}\n"
        )
    };
    repo.app("web", &app("committed"));
    let commit = repo.commit("first");

    let (dir_a, dir_b, elsewhere) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (state_a, state_b) = (dir_a.path().join("state"), dir_b.path().join("state"));
    let a = clone(&repo, dir_a.path().join(&project));
    // Runner B checks out as CI does: one commit deep.
    let b = clone_with(&repo, dir_b.path().join("checkout"), &["--depth", "1"]);
    let plan_file = elsewhere.path().join("plan.json");
    let out = runner(&repo, &a, &state_a, Some(&age_key), &["plan", "--out", plan_file.to_str().unwrap()]);
    assert_exit(&out, 0);
    let saved = read_json(&plan_file);
    assert_eq!(saved["format_version"], 3);
    assert_eq!(saved["project"], project.as_str());
    assert_eq!(saved["source"]["commit"], commit.as_str());
    assert_eq!(saved["source"]["uncommitted"], false);
    let text = std::fs::read_to_string(&plan_file).unwrap();
    assert!(!text.contains(dir_a.path().to_str().unwrap()), "the plan names no path of runner A: {text}");
    assert!(!text.contains(&secret), "no secret in the plan");

    // Runner A's workspace is gone: nothing may read it any more.
    std::fs::remove_dir_all(&a).unwrap();
    // Runner B's working tree has edits of its own: the plan is applied from the commit.
    write(&b, "apps/web.yaml", &app("edited"));
    write(&b, "services/web/app.txt", "edited in runner B\n");

    // From a folder that is no checkout, without --repo: refused, naming the commit.
    let out = runner(&repo, elsewhere.path(), &state_b, Some(&age_key), &["apply", plan_file.to_str().unwrap()]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains(&format!("it was made from commit {commit}; this folder is not a git checkout")), "{err}");
    assert!(repo.containers().is_empty());

    let args = ["apply", plan_file.to_str().unwrap(), "--repo", b.to_str().unwrap()];
    let out = runner(&repo, elsewhere.path(), &state_b, Some(&age_key), &args);
    assert_exit(&out, 0);
    let containers = repo.containers();
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [format!("{project}-web-web-1")], "the plan's project, not runner B's folder name");
    let c = &containers[0];
    assert_eq!(c.state, "running");
    assert_eq!(c.env_var("MODE"), Some("committed"));
    assert_eq!(c.env_var("TOKEN"), Some(secret.as_str()), "the secret, decrypted from runner B's checkout");
    let built = docker_ok(&["exec", &c.name, "cat", "/ctx/app.txt"]);
    assert_eq!(built, format!("{project} as committed"), "built from the commit's objects in runner B's clone");
}

#[test]
fn a_checkout_of_another_commit_is_refused_naming_the_commit() {
    require_engine();
    let repo = TestRepo::new("savedothercommit");
    repo.git_init();
    let app = |mode: &str| {
        format!("image: busybox:1.36\nenv: {{MODE: {mode}}}\nprocesses:\n  web:\n    command: {SLEEPER}\n")
    };
    repo.app("web", &app("one"));
    let first = repo.commit("one");
    let plan_file = repo.state_dir().join("plan.json");
    assert_exit(&repo.berth(&["plan", "--out", plan_file.to_str().unwrap()]), 0);
    repo.app("web", &app("two"));
    let second = repo.commit("two");

    let clones = tempfile::tempdir().unwrap();
    let b = clone(&repo, clones.path().join("b"));
    let state_b = clones.path().join("state");
    let apply = || runner(&repo, &b, &state_b, None, &["apply", plan_file.to_str().unwrap()]);
    let out = apply();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains(&format!("it was made from commit {first}; this checkout is at {second}")), "{err}");
    assert!(err.contains(&format!("hint: apply it from a checkout of commit {first}")), "{err}");
    assert!(repo.containers().is_empty(), "nothing applied");

    // The same clone, checked out at the plan's commit (the current folder is the default).
    git_in(&b, &["checkout", "-q", &first]);
    let out = apply();
    assert_exit(&out, 0);
    let c = repo.containers();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].env_var("MODE"), Some("one"));

    // An older plan format asks for a new plan; --repo is only for a plan file.
    let mut old = read_json(&plan_file);
    old["format_version"] = 2.into();
    let old_file = repo.state_dir().join("old.json");
    std::fs::write(&old_file, old.to_string()).unwrap();
    let out = runner(&repo, &b, &state_b, None, &["apply", old_file.to_str().unwrap()]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("has format version 2, this berth reads 3; run `berth plan --out` again"),
        "{}",
        stderr(&out)
    );
    let out = runner(&repo, &b, &state_b, None, &["apply", b.to_str().unwrap(), "--repo", b.to_str().unwrap()]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("--repo is for a plan file"), "{}", stderr(&out));
}

#[test]
fn a_plan_of_uncommitted_files_applies_only_where_they_are() {
    require_engine();
    let repo = TestRepo::new("saveduncommitted");
    repo.git_init();
    let app = |mode: &str| {
        format!("image: busybox:1.36\nenv: {{MODE: {mode}}}\nprocesses:\n  web:\n    command: {SLEEPER}\n")
    };
    repo.app("web", &app("committed"));
    let commit = repo.commit("one");
    repo.app("web", &app("uncommitted"));
    let plan_file = repo.state_dir().join("plan.json");
    assert_exit(&repo.berth(&["plan", "--out", plan_file.to_str().unwrap()]), 0);
    let saved = read_json(&plan_file);
    assert_eq!(saved["source"]["commit"], commit.as_str());
    assert_eq!(saved["source"]["uncommitted"], true);
    let content = saved["source"]["content"].as_str().unwrap()[..12].to_string();

    // A clone of the commit lacks the uncommitted change: refused, naming commit and content.
    let clones = tempfile::tempdir().unwrap();
    let b = clone(&repo, clones.path().join("b"));
    let state_b = clones.path().join("state");
    let apply = || {
        runner(
            &repo,
            clones.path(),
            &state_b,
            None,
            &["apply", plan_file.to_str().unwrap(), "--repo", b.to_str().unwrap()],
        )
    };
    let out = apply();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "it was made from uncommitted files (berth.yaml, apps/ and credentials/ hashing to {content})"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "a checkout of commit {commit} whose berth.yaml, apps/ and credentials/ hold exactly the files planned"
        )),
        "{err}"
    );
    assert!(repo.containers().is_empty(), "nothing applied");

    // With the same uncommitted change, it applies.
    write(&b, "apps/web.yaml", &app("uncommitted"));
    let out = apply();
    assert_exit(&out, 0);
    let c = repo.containers();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].env_var("MODE"), Some("uncommitted"));
}
