//! A build image's identity on the real engine: every build input
//! (`build.args`, `build.target`, `build.dockerfile` path and content — also
//! when `.dockerignore` leaves it out — and `platform`) rebuilds, saying
//! which changed; commits elsewhere, a `--no-ff` merge and a depth-1 clone
//! do not.

use super::*;

const STAGED: &str = "FROM busybox:1.36 AS base\nARG RELEASE=0\nRUN echo \"release $RELEASE\" > /release\nCOPY . /ctx\n\
CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\nFROM base AS runtime\nRUN echo runtime > /stage\n";

impl BuildRepo {
    /// Write `apps/web.yaml` (the build of `services/web` plus `yaml`) and commit.
    fn set_build(&self, yaml: &str, message: &str) {
        self.repo.app("web", &format!("build:\n  context: services/web\n{yaml}{}", self.registry_yaml));
        self.repo.commit(message);
    }

    /// Plans a rebuild for `why`, applies it, and checks the next plan is empty.
    fn rebuilds_for(&self, why: &str) -> String {
        let before = self.image();
        let (image, reason) = self.planned_build().unwrap_or_else(|| panic!("a rebuild for {why}"));
        assert_eq!(reason, format!("build inputs changed: {why}"));
        assert_ne!(image, before);
        self.apply();
        assert_eq!(self.image(), image);
        self.plan_is_empty();
        image
    }

    fn cat(&self, path: &str) -> String {
        docker_ok(&["exec", &self.repo.containers()[0].name, "cat", path]).trim().to_string()
    }
}

#[test]
fn every_build_input_rebuilds_and_says_which() {
    require_engine();
    let (b, _images) = BuildRepo::local("buildinputs");
    b.repo.file("services/web/Dockerfile", STAGED);
    b.set_build("  args: {RELEASE: \"1\"}\n", "staged");
    b.apply();
    let first = b.image();
    let labels = docker_ok(&["image", "inspect", "--format", "{{json .Config.Labels}}", &first]);
    assert!(labels.contains("berth.build") && labels.contains(&b.head()), "inputs and commit labelled: {labels}");
    assert_eq!(b.cat("/release"), "release 1");
    b.plan_is_empty();

    b.set_build("  args: {RELEASE: \"2\"}\n", "release 2");
    b.rebuilds_for("args.RELEASE");
    assert_eq!(b.cat("/release"), "release 2");

    b.set_build("  args: {RELEASE: \"2\"}\n  target: base\n", "target base");
    b.rebuilds_for("target");
    assert_eq!(docker(&["exec", &b.repo.containers()[0].name, "cat", "/stage"]).status.code(), Some(1));

    // The Dockerfile moves (another path, same content), then changes while
    // `.dockerignore` leaves it out of the other files.
    b.repo.file("services/web/docker/Prod.Dockerfile", STAGED);
    b.repo.file("services/web/.dockerignore", "docker/\n");
    b.set_build("  args: {RELEASE: \"2\"}\n  target: base\n  dockerfile: docker/Prod.Dockerfile\n", "prod");
    b.rebuilds_for("dockerfile, context files");
    b.repo.file("services/web/docker/Prod.Dockerfile", &STAGED.replace("release $RELEASE", "prod $RELEASE"));
    b.repo.commit("prod dockerfile");
    b.rebuilds_for("Dockerfile content");
    assert_eq!(b.cat("/release"), "prod 2");

    let platform = docker_ok(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"]).trim().to_string();
    b.set_build(
        &format!(
            "  args: {{RELEASE: \"2\"}}\n  target: base\n  dockerfile: docker/Prod.Dockerfile\nplatform: {platform}\n"
        ),
        "platform",
    );
    let last = b.rebuilds_for("platform");

    // Back to the first inputs: that image is still there, so no build.
    b.repo.file("services/web/Dockerfile", STAGED);
    std::fs::remove_dir_all(b.repo.dir().join("services/web/docker")).unwrap();
    std::fs::remove_file(b.repo.dir().join("services/web/.dockerignore")).unwrap();
    b.set_build("  args: {RELEASE: \"1\"}\n", "back");
    assert_eq!(b.planned_build(), None, "the same inputs are the same image");
    b.apply();
    assert_eq!(b.image(), first);
    assert_ne!(first, last);
}

#[test]
fn merges_and_shallow_clones_do_not_rebuild() {
    require_engine();
    let (b, _images) = BuildRepo::local("buildclone");
    b.apply();
    let image = b.image();

    // A side branch that changes other files, merged with --no-ff.
    b.repo.git(&["checkout", "-q", "-b", "docs"]);
    b.repo.file("README.md", "docs\n");
    b.repo.commit("docs");
    b.repo.git(&["checkout", "-q", "main"]);
    b.repo.git(&["merge", "-q", "--no-ff", "-m", "merge docs", "docs"]);
    let plan = b.run(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0);
    let up_to_date = |image: &str| format!("image {}:{} is up to date", b.local_repo(), tag_of(image));
    assert!(stdout(&plan).contains(&up_to_date(&image)), "{}", stdout(&plan));

    // A cherry-picked context change, then the same change merged: one build.
    b.repo.git(&["checkout", "-q", "-b", "feature"]);
    b.repo.file("services/web/app.txt", "version 2\n");
    let feature = b.repo.commit("v2");
    b.repo.git(&["checkout", "-q", "main"]);
    b.repo.git(&["cherry-pick", feature.as_str()]);
    let (picked, _) = b.planned_build().expect("a context change builds");
    b.apply();
    b.repo.git(&["merge", "-q", "--no-ff", "-m", "merge feature", "feature"]);
    b.plan_is_empty();
    assert_eq!(b.image(), picked);

    // A depth-1 clone elsewhere (as CI checks out) plans nothing either.
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", b.repo.dir().display());
    let dest = clone.path().join("repo");
    let out = Command::new("git").args(["clone", "-q", "--depth", "1", &url]).arg(&dest).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shallow = Command::new("git").arg("-C").arg(&dest).args(["rev-list", "--count", "HEAD"]).output().unwrap();
    assert_eq!(stdout(&shallow).trim(), "1", "a shallow clone");
    let out = b.run_raw(&["plan", dest.to_str().unwrap(), "--detailed-exitcode"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains(&up_to_date(&picked)), "{}", stdout(&out));
}
