//! The operator's comforts, through the real binary: `--log-format json`
//! (every stderr line one JSON object, berth's own lines and errors
//! included) and `--output markdown` of plan and drift.

use crate::common::{assert_exit, require_engine, stderr, stdout, TestRepo};

const SLEEPER: &str = "image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sleep\", \"3600\"]\n";

/// Every stderr line parsed as JSON; panics naming the first that is not.
fn json_lines(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\n--- stderr\n{stderr}"))
        })
        .collect()
}

fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key).and_then(|f| f.as_str()).unwrap_or("")
}

#[test]
fn json_logs_are_one_object_a_line_also_for_progress_and_errors() {
    require_engine();
    let repo = TestRepo::new("jsonlogs");
    repo.app("web", SLEEPER);
    let dir = repo.dir();
    let out = repo
        .command()
        .env("RUST_LOG", "debug")
        .args(["--log-format", "json", "apply"])
        .arg(&dir)
        .arg("--auto-approve")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let lines = json_lines(&stderr(&out));
    for l in &lines {
        assert!(!field(l, "timestamp").is_empty() && !field(l, "level").is_empty(), "{l}");
    }
    assert!(lines.iter().any(|l| field(l, "level") == "DEBUG"), "RUST_LOG=debug shows debug logs");
    let started = format!("create {}-web-web-1…", repo.project());
    assert!(
        lines.iter().any(|l| field(l, "target") == "berth::output" && field(l, "message") == started),
        "the apply's progress is a JSON line too:\n{}",
        stderr(&out)
    );
    // stdout is unchanged: the plan and the apply's lines in words.
    assert!(stdout(&out).contains("Apply complete"), "{}", stdout(&out));

    // An error, and an invalid repository's problems, are JSON objects too.
    repo.app("web", "image: busybox:1.36\nimgae: x\n");
    let out = repo.command().args(["plan", "--log-format", "json"]).arg(&dir).output().unwrap();
    assert_exit(&out, 1);
    let lines = json_lines(&stderr(&out));
    let problem = lines.iter().find(|l| field(l, "file") == "apps/web.yaml").expect("the problem as its own line");
    assert_eq!(problem["line"], 2, "{problem}");
    assert_eq!(field(problem, "level"), "ERROR");
    assert!(field(problem, "hint").contains("image"), "{problem}");
    assert!(lines.iter().any(|l| field(l, "message").contains("error(s)")), "the error line:\n{}", stderr(&out));

    // Without the flag nothing changed: words.
    let out = repo.berth(&["plan"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).lines().any(|l| l.starts_with("error: ")), "{}", stderr(&out));
}

#[test]
fn markdown_plan_and_drift() {
    require_engine();
    let repo = TestRepo::new("markdown");
    repo.app("web", SLEEPER);
    let out = repo.berth(&["plan", "--output", "markdown", "--detailed-exitcode", "--out", "plan.json"]);
    assert_exit(&out, 2);
    let md = stdout(&out);
    assert!(md.starts_with(&format!("### berth plan: project <code>{}</code>", repo.project())), "{md}");
    assert!(md.contains("**Plan: 0 to build, 0 to pull, 0 to push, 1 to create"), "{md}");
    assert!(md.contains("<details><summary><code>web</code>: 1 create</summary>"), "{md}");
    assert!(repo.dir().join("plan.json").is_file(), "--out still saves the plan");
    assert!(!md.contains("Saved the plan"), "stdout is the document only:\n{md}");

    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let out = repo.berth(&["drift", "--output", "markdown"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("**No changes. The engine matches the repository.**"), "{}", stdout(&out));

    // No plan at all: the error, as Markdown, for the pull request.
    repo.app("web", "image: busybox:1.36\nimgae: x\n");
    let out = repo.berth(&["plan", "--output", "markdown"]);
    assert_exit(&out, 1);
    let md = stdout(&out);
    assert!(md.starts_with("### berth plan: failed"), "{md}");
    assert!(md.contains("apps/web.yaml:2:1: unknown key `imgae`"), "{md}");
}
