//! Builds and registries end to end (SPEC §3.3), on the real engine and a
//! local `docker-registry` with basic auth: build from the committed tree,
//! push with extra tags (one digest, checked through the registry API),
//! nothing rebuilt or pushed again, release numbers without gaps across a
//! failed push, re-pull after the image is gone locally, `.dockerignore`,
//! working-tree builds, failed builds, and rollback. Build identity and
//! dirty builds are in the submodules.

mod dirty;
mod identity;

use crate::common::*;
use std::process::{Command, Output};

const DOCKERFILE: &str =
    "FROM busybox:1.36\nCOPY . /ctx\nCMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n";
const PASSWORD: &str = "canary-push-password-9f3a";

/// The registry API, read with curl as bob.
trait RegistryApi {
    fn tags(&self, repo: &str) -> Vec<String>;
    fn digest(&self, repo: &str, tag: &str) -> String;
}

impl RegistryApi for LocalRegistry {
    /// `GET /v2/<repo>/tags/list`, sorted.
    fn tags(&self, repo: &str) -> Vec<String> {
        let out =
            curl(&["-fsS", "-u", &format!("bob:{PASSWORD}"), &format!("http://{}/v2/{repo}/tags/list", self.host())]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let mut tags: Vec<String> =
            v["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(String::from)).collect();
        tags.sort();
        tags
    }

    /// The manifest digest a tag names, from the registry's own answer.
    fn digest(&self, repo: &str, tag: &str) -> String {
        let out = curl(&[
            "-fsSI",
            "-u",
            &format!("bob:{PASSWORD}"),
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
            &format!("http://{}/v2/{repo}/manifests/{tag}", self.host()),
        ]);
        out.lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("docker-content-digest:").map(|d| d.trim().to_string()))
            .unwrap_or_else(|| panic!("no digest for {repo}:{tag}: {out}"))
    }
}

fn registry() -> LocalRegistry {
    LocalRegistry::with_auth("bob", PASSWORD)
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").args(args).output().expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repo with a git history, an age key, the push credential, and one
/// build app `web` (context `services/web`).
struct BuildRepo {
    repo: TestRepo,
    key: Key,
    /// The app's `registry:` settings.
    registry_yaml: String,
}

impl BuildRepo {
    /// A build without a registry, its image repository named after the
    /// project (`<project>-web`), so that tests running at once never
    /// share (or remove) each other's images.
    fn local(name: &str) -> (Self, Images) {
        let b = Self::new(name, None, "registry:\n  image-repo: {project}-web\n");
        let images = Images(b.local_repo());
        (b, images)
    }

    /// The image repository of a `local` build, as docker names it.
    fn local_repo(&self) -> String {
        format!("{}-web", self.repo.project())
    }

    /// `registry_yaml`: the app's `registry:` block; `{project}` in it
    /// becomes the project name.
    fn new(name: &str, registry: Option<&LocalRegistry>, registry_yaml: &str) -> Self {
        let repo = TestRepo::new(name);
        let key = keygen(&repo.state_dir());
        repo.git_init();
        repo.berth_yaml(&format!("recipients: [{}]\n", key.public));
        if let Some(r) = registry {
            let cred = format!("kind: registry\nserver: {}\nusername: bob\npassword: {PASSWORD}\n", r.host());
            age_encrypt(&repo, "reg", &key.public, &cred);
        }
        repo.file("services/web/Dockerfile", DOCKERFILE);
        repo.file("services/web/app.txt", "version 1\n");
        let registry_yaml = registry_yaml.replace("{project}", repo.project());
        repo.app("web", &format!("build:\n  context: services/web\n{registry_yaml}"));
        repo.commit("first");
        Self { repo, key, registry_yaml }
    }

    /// `berth SUBCOMMAND <repo> REST...`
    fn run(&self, args: &[&str]) -> Output {
        let (sub, rest) = args.split_first().unwrap();
        let dir = self.repo.dir();
        self.run_raw(&[&[*sub, dir.to_str().unwrap()], rest].concat())
    }

    /// `berth ARGS...`, with the repository's identity.
    fn run_raw(&self, args: &[&str]) -> Output {
        let mut cmd = self.repo.command();
        cmd.env("BERTH_AGE_IDENTITY", &self.key.file).args(args);
        let out = cmd.output().expect("berth runs");
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains(PASSWORD), "the push password leaked into berth's output:\n{all}");
        out
    }

    fn apply(&self) -> String {
        let out = self.run(&["apply", "--auto-approve"]);
        assert_exit(&out, 0);
        stdout(&out)
    }

    fn plan_is_empty(&self) {
        let out = self.run(&["plan", "--detailed-exitcode"]);
        assert_exit(&out, 0);
    }

    fn image(&self) -> String {
        self.repo.containers()[0].image.clone()
    }

    /// The plan as JSON (exit code not checked).
    fn plan_json(&self, extra: &[&str]) -> serde_json::Value {
        let out = self.run(&[&["plan", "--output", "json"], extra].concat());
        serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("plan JSON: {e}\n{}{}", stdout(&out), stderr(&out)))
    }

    /// The image the plan builds (`None`: no build planned), and why.
    fn planned_build(&self) -> Option<(String, String)> {
        let plan = self.plan_json(&[]);
        plan["actions"].as_array()?.iter().find(|a| a["kind"] == "build").map(|a| {
            let image = a["detail"]["tags"][0].as_str().unwrap_or_default().to_string();
            (image, a["reason"].as_str().unwrap_or_default().to_string())
        })
    }

    fn head(&self) -> String {
        stdout(&self.repo.git(&["rev-parse", "HEAD"])).trim().to_string()
    }
}

/// The tag of an image reference.
fn tag_of(image: &str) -> &str {
    image.rsplit_once(':').map_or("", |(_, t)| t)
}

/// Removes every local image of `repo` (any tag) when dropped.
struct Images(String);

impl Drop for Images {
    fn drop(&mut self) {
        let out = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", &self.0]);
        for image in stdout(&out).lines() {
            docker(&["rmi", "-f", image]);
        }
    }
}

fn short(commit: &str) -> &str {
    &commit[..12]
}

#[test]
fn builds_push_extra_tags_once_and_rebuild_only_on_context_changes() {
    require_engine();
    let registry = registry();
    let host = registry.host();
    let b = BuildRepo::new(
        "buildpush",
        Some(&registry),
        &format!("registry:\n  server: {host}\n  image-repo: team/web\n  push-extra-tags: [latest, stable]\n"),
    );
    let _images = Images(format!("{host}/team/web"));
    let commit = b.head();
    let (image, _) = b.planned_build().expect("a build is planned");
    let tag = tag_of(&image).to_string();
    assert!(image.starts_with(&format!("{host}/team/web:")) && tag.len() == 12, "{image}");

    let plan = b.run(&["plan"]);
    let text = stdout(&plan);
    assert!(
        text.contains(&format!(
            "+ build {image} (no image yet for build {tag} (services/web as committed in {}))",
            short(&commit)
        )),
        "{text}"
    );
    assert!(text.contains(&format!("↑ push {image} (a new build)")), "{text}");
    assert!(text.contains("tags: latest, stable"), "{text}");
    assert!(text.contains("Plan: 1 to build, 0 to pull, 1 to push, 1 to create"), "{text}");

    b.apply();
    assert_eq!(b.image(), image);
    assert_eq!(registry.tags("team/web"), [tag.as_str(), "latest", "stable"]);
    let digest = registry.digest("team/web", &tag);
    assert_eq!(registry.digest("team/web", "latest"), digest, "extra tags are the same manifest");
    assert_eq!(registry.digest("team/web", "stable"), digest);
    b.plan_is_empty();

    // A second apply builds and pushes nothing: not one mutating engine call.
    let events = EventCounter::start(b.repo.project());
    let out = stdout(&b.run(&["apply", "--auto-approve"]));
    assert!(out.contains("No changes."), "{out}");
    assert!(events.mutating().is_empty(), "{:?}", events.mutating());

    // Commits elsewhere do not rebuild.
    b.repo.file("README.md", "docs\n");
    let docs = b.repo.commit("docs only");
    let plan = b.run(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0);
    assert!(
        stdout(&plan).contains(&format!(
            "image {image} is up to date (same build inputs; services/web as committed in {})",
            short(&docs)
        )),
        "{}",
        stdout(&plan)
    );

    // A commit in the context does, and the plan says what changed.
    b.repo.file("services/web/app.txt", "version 2\n");
    b.repo.commit("v2");
    let (second, why) = b.planned_build().expect("a rebuild");
    assert_ne!(second, image);
    assert_eq!(why, "build inputs changed: context files");
    let plan = stdout(&b.run(&["plan"]));
    assert!(plan.contains(&format!("+ build {second} (build inputs changed: context files)")), "{plan}");
    assert!(plan.contains(&format!("~ replace {}-web-web-1", b.repo.project())), "{plan}");
    b.apply();
    assert_eq!(registry.digest("team/web", "latest"), registry.digest("team/web", tag_of(&second)));
    let content = docker_ok(&["exec", &b.repo.containers()[0].name, "cat", "/ctx/app.txt"]);
    assert_eq!(content.trim(), "version 2");
    b.plan_is_empty();
}

#[test]
fn releases_number_without_gaps_and_roll_back() {
    require_engine();
    let mut registry = registry();
    let host = registry.host();
    let b =
        BuildRepo::new("releases", Some(&registry), &format!("registry:\n  server: {host}\n  push-on-release: true\n"));
    let repo = format!("{host}/app-web");
    let _images = Images(repo.clone());

    b.apply();
    assert_eq!(b.image(), format!("{repo}:1"));
    b.plan_is_empty();

    // Release 2 is planned, then its push fails: no number is used up.
    b.repo.file("services/web/app.txt", "version 2\n");
    b.repo.commit("v2");
    let plan_file = b.repo.state_dir().join("release2.json");
    let plan = b.run(&["plan", "--out", plan_file.to_str().unwrap()]);
    assert!(stdout(&plan).contains("release 2 of a new build"), "{}", stdout(&plan));
    registry.stop();
    let failed = b.run_raw(&["apply", plan_file.to_str().unwrap(), "--auto-approve"]);
    assert_exit(&failed, 1);
    assert_eq!(b.image(), format!("{repo}:1"), "a failed push leaves the running release alone");
    registry.resume();
    let releases = |r: &LocalRegistry| r.tags("app-web").into_iter().filter(|t| t.len() < 12).collect::<Vec<_>>();
    assert_eq!(releases(&registry), ["1"]);
    b.apply();
    assert_eq!(b.image(), format!("{repo}:2"));

    b.repo.file("services/web/app.txt", "version 3\n");
    b.repo.commit("v3");
    b.apply();
    assert_eq!(b.image(), format!("{repo}:3"));
    assert_eq!(releases(&registry), ["1", "2", "3"]);
    b.plan_is_empty();
    let report = stdout(&b.run(&["report", "web", "--format", "json"]));
    assert!(report.contains("\"tag-version\": \"3\""), "{report}");

    // Roll back to the previous release; drift and plans keep it.
    let out = b.run(&["rollback", "web"]);
    assert_exit(&out, 0);
    assert_eq!(b.image(), format!("{repo}:2"));
    let plan = b.run(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0);
    assert!(stdout(&plan).contains("rolled back to release 2"), "{}", stdout(&plan));
    assert_exit(&b.run(&["rollback", "web", "--to", "1"]), 0);
    assert_eq!(b.image(), format!("{repo}:1"));

    // The next change of the context ends the rollback with release 4.
    b.repo.file("services/web/app.txt", "version 4\n");
    b.repo.commit("v4");
    b.apply();
    assert_eq!(b.image(), format!("{repo}:4"));
}

#[test]
fn an_image_gone_locally_is_pulled_back_not_rebuilt() {
    require_engine();
    let registry = registry();
    let host = registry.host();
    let b = BuildRepo::new("repull", Some(&registry), &format!("registry:\n  server: {host}\n"));
    let _images = Images(format!("{host}/app-web"));
    b.apply();
    let image = b.image();

    // The host is rebuilt: containers and images gone.
    for c in b.repo.containers() {
        docker_ok(&["rm", "-f", &c.id]);
    }
    let out = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", &format!("{host}/app-web")]);
    for i in stdout(&out).lines() {
        docker_ok(&["rmi", i]);
    }
    let plan = stdout(&b.run(&["plan"]));
    assert!(plan.contains(&format!("↓ pull {image} (missing locally)")), "{plan}");
    assert!(!plan.contains("+ build"), "{plan}");
    b.apply();
    assert_eq!(b.image(), image);
    b.plan_is_empty();
}

#[test]
fn dockerignore_dirty_trees_and_failed_builds() {
    require_engine();
    let (b, _images) = BuildRepo::local("buildlocal");
    b.repo.file("services/web/.dockerignore", "# not sent\n*.log\nsecret.txt\ncache/\n!cache/keep.txt\n");
    b.repo.file("services/web/debug.log", "x\n");
    b.repo.file("services/web/secret.txt", "x\n");
    b.repo.file("services/web/cache/big.bin", "x\n");
    b.repo.file("services/web/cache/keep.txt", "x\n");
    b.repo.commit("ignore");
    let (committed, _) = b.planned_build().expect("a build");
    b.apply();
    assert_eq!(b.image(), committed);
    let name = b.repo.containers()[0].name.clone();
    let listing = docker_ok(&["exec", &name, "find", "/ctx", "-type", "f"]);
    let mut files: Vec<&str> = listing.lines().collect();
    files.sort();
    assert_eq!(files, ["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/app.txt", "/ctx/cache/keep.txt"]);

    // Uncommitted changes in the context: a warning and a content-hash tag.
    b.repo.file("services/web/app.txt", "work in progress\n");
    let plan = stdout(&b.run(&["plan"]));
    assert!(plan.contains("uncommitted changes in services/web (services/web/app.txt)"), "{plan}");
    b.apply();
    assert_ne!(b.image(), committed);
    assert_eq!(docker_ok(&["exec", &b.repo.containers()[0].name, "cat", "/ctx/app.txt"]).trim(), "work in progress");
    b.plan_is_empty();

    // A failing build: exit 1, its log shown, nothing changed, no leftovers.
    // Intermediate containers inherit the label: none may be left with it.
    let label = format!("berth-test-build={}", b.repo.project());
    b.repo.file(
        "services/web/Dockerfile",
        &format!("FROM busybox:1.36\nLABEL {label}\nRUN echo compiling-the-thing && exit 3\n"),
    );
    let out = b.run(&["apply", "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("failed to build"), "{err}");
    assert!(err.contains("compiling-the-thing"), "the build log is shown:\n{err}");
    let left = docker_ok(&["ps", "-aq", "--filter", &format!("label={label}")]);
    assert!(left.trim().is_empty(), "intermediate containers are removed: {left}");
    assert_eq!(b.repo.containers().len(), 1);
}

#[test]
fn contexts_outside_the_repository_are_refused() {
    let repo = TestRepo::new("ctxescape");
    repo.file("services/web/Dockerfile", DOCKERFILE);
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.dir().join("out")).unwrap();
    repo.app("a", "build:\n  context: ../elsewhere\n");
    repo.app("b", "build:\n  context: out\n");
    repo.app("c", "build:\n  context: services/web\n  dockerfile: ../../Dockerfile\n");
    let out = repo.berth(&["validate"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("apps/a.yaml:2:12") && err.contains("escapes the repository"), "{err}");
    assert!(err.contains("apps/b.yaml:2:12") && err.contains("leaves the repository through a symlink"), "{err}");
    assert!(err.contains("apps/c.yaml:3:15") && err.contains("leaves the build context"), "{err}");
}

#[test]
fn an_image_for_another_platform_is_refused_at_plan_time() {
    require_engine();
    let registry = LocalRegistry::start();
    let image = registry.push("busybox:1.36", "plat/only-amd64:1", None);
    docker_ok(&["rmi", &image]);
    let repo = TestRepo::new("platform");
    repo.app("a", &format!("image: {image}\nplatform: linux/arm64\n"));
    let out = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains(&format!("image {image} has no manifest for linux/arm64")), "{text}");
    assert!(text.contains("it offers linux/amd64"), "{text}");
    assert!(!text.contains("↓ pull"), "{text}");

    // The engine's own platform is offered: the pull is planned.
    repo.app("a", &format!("image: {image}\n"));
    let out = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&out, 2);
    assert!(stdout(&out).contains(&format!("↓ pull {image} (image not present locally)")), "{}", stdout(&out));
}
