//! Two CI runners against one engine: each a fresh clone in its own
//! directory, its own empty state dir, no HOME, no terminal, the age key only
//! in `BERTH_AGE_KEY`. Whatever berth must agree on lives in the repository,
//! the engine or the registry, so what one runner applied the other plans as
//! no change.

use crate::common::*;
use std::path::PathBuf;
use std::process::{Command, Output};

/// One CI runner: a clone of the origin repository and an empty state dir.
pub struct Runner {
    _dir: tempfile::TempDir,
    pub clone: PathBuf,
    state: PathBuf,
    age_key: String,
}

impl Runner {
    /// `git clone [--depth 1] file://ORIGIN` into a directory of its own.
    pub fn clone(origin: &TestRepo, key: &Key, shallow: bool) -> Runner {
        let dir = tempfile::Builder::new().prefix("berth-runner-").tempdir().unwrap();
        let clone = dir.path().join("workspace").join("repo");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let mut args = vec!["clone", "-q"];
        if shallow {
            args.extend(["--depth", "1"]);
        }
        let url = format!("file://{}", origin.path().display());
        let out = Command::new("git").args(&args).arg(&url).arg(&clone).output().unwrap();
        assert!(out.status.success(), "git clone: {}", stderr(&out));
        let age_key = std::fs::read_to_string(&key.file).unwrap();
        Runner { _dir: dir, clone, state, age_key }
    }

    /// `berth ARGS` in the clone, as a CI job runs it.
    pub fn berth(&self, args: &[&str]) -> Output {
        let mut cmd = berth();
        cmd.args(args)
            .current_dir(&self.clone)
            .env("BERTH_STATE_DIR", &self.state)
            .env("BERTH_AGE_KEY", &self.age_key)
            .env_remove("HOME")
            .env_remove("BERTH_AGE_IDENTITY")
            .env_remove("BERTH_FINGERPRINT_KEY");
        cmd.output().expect("berth runs")
    }
}

const DB: &str = r#"image: busybox:1.36
processes:
  db:
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
secret-env: [db]
"#;

#[test]
fn a_secret_applied_by_one_runner_is_no_change_for_another() {
    require_engine();
    let origin = TestRepo::new("runners-secret");
    let keydir = tempfile::tempdir().unwrap();
    let key = keygen(keydir.path());
    origin.git_init().berth_yaml(&format!("recipients: [{}]\n", key.public)).app("db", DB);
    // `berth secrets encrypt` makes the shared fingerprint key on first use.
    let mut encrypt = origin.command();
    encrypt
        .args(["secrets", "encrypt", "db", "--from", "-"])
        .env("BERTH_AGE_KEY", std::fs::read_to_string(&key.file).unwrap());
    let out = run_with_stdin(encrypt, "kind: env\nvalues: {DB_PASSWORD: canary-runner-s3cret}\n");
    assert_exit(&out, 0);
    assert!(stderr(&out).contains("made credentials/fingerprint-key.age"), "{}", stderr(&out));
    origin.commit("a database with a secret");

    let a = Runner::clone(&origin, &key, true);
    let b = Runner::clone(&origin, &key, true);
    assert_exit(&a.berth(&["apply", "--auto-approve"]), 0);
    let plan = b.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0);
    assert!(stdout(&plan).contains("No changes."), "{}", stdout(&plan));
    {
        let o = &plan;
        assert!(!stdout(o).contains("canary-runner") && !stderr(o).contains("canary-runner"));
    }
    let c = &origin.containers()[0];
    assert_eq!(c.env_var("DB_PASSWORD"), Some("canary-runner-s3cret"));
    assert!(c.label("berth.fingerprint-key").is_some_and(|k| k.len() == 12));
}

#[test]
fn without_a_shared_key_runners_still_agree_and_say_why_it_matters() {
    require_engine();
    let origin = TestRepo::new("runners-ownkey");
    let keydir = tempfile::tempdir().unwrap();
    let key = keygen(keydir.path());
    origin.git_init().berth_yaml(&format!("recipients: [{}]\n", key.public)).app("db", DB);
    // Made with the age CLI: no fingerprint key in the repository.
    age_encrypt(&origin, "db", &key.public, "kind: env\nvalues: {DB_PASSWORD: canary-own-key}\n");
    origin.commit("secrets without a shared key");
    let a = Runner::clone(&origin, &key, false);
    let b = Runner::clone(&origin, &key, false);
    let apply = a.berth(&["apply", "--auto-approve"]);
    assert_exit(&apply, 0);
    assert!(stdout(&apply).contains("secret fingerprints use this machine's own key"), "{}", stdout(&apply));
    // B's key differs; the values the engine runs are fingerprinted with B's key instead.
    let plan = b.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0);
    assert!(!stdout(&plan).contains("sensitive value changed"), "{}", stdout(&plan));
    // A real change is still seen.
    age_encrypt(&origin, "db", &key.public, "kind: env\nvalues: {DB_PASSWORD: canary-rotated}\n");
    origin.commit("rotate");
    let c = Runner::clone(&origin, &key, false);
    let plan = c.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 2);
    assert!(stdout(&plan).contains("env.DB_PASSWORD: (sensitive value changed)"), "{}", stdout(&plan));
}

const WEB: &str = r#"build:
  context: services/web
processes:
  web:
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
volumes: ["./site:/srv:ro"]
"#;

/// A project with a secret, a build released to a registry on every
/// change, and repository files in a container: everything that must not
/// depend on the runner.
fn stack(origin: &TestRepo, key: &Key, registry: &LocalRegistry) {
    origin.git_init().berth_yaml(&format!(
        "recipients: [{}]\nregistry:\n  server: {}\n  push-on-release: true\n",
        key.public,
        registry.host()
    ));
    origin.app("db", DB).app("web", WEB);
    origin.file("services/web/Dockerfile", "FROM busybox:1.36\nCOPY . /app\n");
    origin.file("services/web/version", "1\n");
    origin.file("site/index.html", "hello\n");
    let mut encrypt = origin.command();
    encrypt
        .args(["secrets", "encrypt", "db", "--from", "-"])
        .env("BERTH_AGE_KEY", std::fs::read_to_string(&key.file).unwrap());
    assert_exit(&run_with_stdin(encrypt, "kind: env\nvalues: {DB_PASSWORD: canary-stack}\n"), 0);
    origin.commit("the stack");
}

fn running_image(origin: &TestRepo, app: &str) -> String {
    origin.containers().into_iter().find(|c| c.label("berth.app") == Some(app)).map(|c| c.image).unwrap_or_default()
}

#[test]
fn runners_agree_on_builds_files_releases_and_rollbacks() {
    require_engine();
    let registry = LocalRegistry::start();
    let repo = format!("{}/app-web", registry.host());
    let _images = ReleaseImages(repo.clone());
    let origin = TestRepo::new("runners-stack");
    let keydir = tempfile::tempdir().unwrap();
    let key = keygen(keydir.path());
    stack(&origin, &key, &registry);

    let a = Runner::clone(&origin, &key, true);
    let b = Runner::clone(&origin, &key, true);
    assert_exit(&a.berth(&["apply", "--auto-approve"]), 0);
    assert_eq!(running_image(&origin, "web"), format!("{repo}:1"));
    let plan = b.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0);

    // A commit elsewhere, in a depth-1 clone: no build, no release.
    origin.file("README.md", "docs\n");
    origin.commit("docs");
    let c = Runner::clone(&origin, &key, true);
    let plan = c.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0);
    assert!(!stdout(&plan).contains("+ build"), "{}", stdout(&plan));

    // A change of the build: release 2, and the other runner agrees.
    origin.file("services/web/version", "2\n");
    origin.commit("v2");
    let d = Runner::clone(&origin, &key, true);
    assert_exit(&d.berth(&["apply", "--auto-approve"]), 0);
    assert_eq!(running_image(&origin, "web"), format!("{repo}:2"));
    let e = Runner::clone(&origin, &key, true);
    assert_exit(&e.berth(&["plan", "--detailed-exitcode"]), 0);

    // A rollback from one runner is kept by the next; a fresh runner rolls
    // forward to release 2 by number (the engine and registry know it).
    assert_exit(&d.berth(&["rollback", "web"]), 0);
    assert_eq!(running_image(&origin, "web"), format!("{repo}:1"));
    let f = Runner::clone(&origin, &key, true);
    let plan = f.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0);
    assert!(stdout(&plan).contains("rolled back to release 1"), "{}", stdout(&plan));
    assert_exit(&f.berth(&["rollback", "web", "--to", "2"]), 0);
    assert_eq!(running_image(&origin, "web"), format!("{repo}:2"));

    // Two pipelines of the next commit at once: one waits for the other,
    // both succeed, and release 3 is claimed once.
    origin.file("services/web/version", "3\n");
    origin.commit("v3");
    let (g, h) = (Runner::clone(&origin, &key, true), Runner::clone(&origin, &key, true));
    let (first, second) = std::thread::scope(|s| {
        let one = s.spawn(|| g.berth(&["apply", "--auto-approve"]));
        let two = s.spawn(|| h.berth(&["apply", "--auto-approve"]));
        (one.join().unwrap(), two.join().unwrap())
    });
    assert_exit(&first, 0);
    assert_exit(&second, 0);
    assert_eq!(running_image(&origin, "web"), format!("{repo}:3"));
    let mut releases: Vec<String> = registry.open_tags("app-web").into_iter().filter(|t| t.len() < 3).collect();
    releases.sort();
    assert_eq!(releases, ["1", "2", "3"], "no number used twice or skipped");
    let files = origin.containers().into_iter().find(|c| c.label("berth.app") == Some("web")).unwrap();
    assert!(files.inspect["Mounts"].to_string().contains("files-"), "repository files in a volume, not a host path");
    for o in [&first, &second] {
        assert!(!stdout(o).contains("canary-stack") && !stderr(o).contains("canary-stack"));
    }
}

/// Removes the local images of a registry repository, and the project's
/// release tags go with the project (`remove_project`).
struct ReleaseImages(String);

impl Drop for ReleaseImages {
    fn drop(&mut self) {
        let out = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", &self.0]);
        for image in stdout(&out).lines() {
            docker(&["rmi", "-f", image]);
        }
    }
}

fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}
