//! Invalid repositories: every error is found, all at once, at the right
//! place, and nothing reaches the engine.
//!
//! The cases live in `tests/bad_repos/<case>/`, each with an `expect.txt` of
//! `file:line` (or just `file` for a whole-file problem) per expected error;
//! see `tests/bad_repos/README.md`. These tests use only the library and the
//! `berth` binary, not the shared engine fixtures.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Case {
    name: String,
    dir: PathBuf,
    expect: Vec<String>,
}

fn cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_repos");
    let mut cases: Vec<Case> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", root.display()))
        .map(|entry| entry.expect("readable tests/bad_repos").path())
        .filter(|dir| dir.is_dir())
        .map(|dir| {
            let expect_file = dir.join("expect.txt");
            let text = std::fs::read_to_string(&expect_file)
                .unwrap_or_else(|e| panic!("failed to read {}: {e}", expect_file.display()));
            let expect: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
            assert!(!expect.is_empty(), "{} lists no expected error", expect_file.display());
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            Case { name, dir, expect }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(cases.len() >= 30, "expected at least 30 cases in {}, found {}", root.display(), cases.len());
    cases
}

/// `file:line`, or `file` for a diagnostic about the whole file.
fn position(d: &berth::diag::Diagnostic) -> String {
    if d.line > 0 {
        format!("{}:{}", d.file, d.line)
    } else {
        d.file.clone()
    }
}

#[test]
fn library_reports_every_error_at_its_position() {
    let mut failures = Vec::new();
    for case in cases() {
        let snapshot = berth::source::read_working_tree(&case.dir)
            .unwrap_or_else(|e| panic!("{}: failed to read the repo: {e}", case.name));
        let diags = match berth::spec::load(&snapshot) {
            Ok(_) => {
                failures.push(format!("{}: loaded without errors", case.name));
                continue;
            }
            Err(diags) => diags,
        };
        let found: BTreeSet<String> = diags.iter().map(position).collect();
        let expected: BTreeSet<String> = case.expect.iter().cloned().collect();
        if found != expected {
            let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            failures.push(format!(
                "{}: expected errors at {expected:?}, found {found:?}:\n{}",
                case.name,
                shown.join("\n")
            ));
        }
        for d in &diags {
            // One line first: `file:line:col: message`, then detail.
            let first = d.to_string().lines().next().unwrap_or_default().to_string();
            if !first.starts_with(&position(d)) || d.message.is_empty() || d.message.contains('\n') {
                failures.push(format!("{}: badly formed diagnostic {first:?}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn library_reports_errors_of_all_files_at_once() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_repos/errors-in-many-files");
    let snapshot = berth::source::read_working_tree(&dir).expect("readable case");
    let diags = berth::spec::load(&snapshot).expect_err("the case is invalid");
    let files: BTreeSet<&str> = diags.iter().map(|d| d.file.as_str()).collect();
    assert_eq!(
        files,
        BTreeSet::from(["berth.yaml", "apps/a.yaml", "apps/b.yaml", "apps/nested/c.yaml"]),
        "one error per file, all reported: {diags:#?}"
    );
}

/// The other side of the corpus: `.yml` files and top-level `x-*` keys are
/// read (anchors under them included), through the library and the CLI.
#[test]
fn yml_files_and_extension_keys_are_read() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let repo = tmp.path().join("yml-repo");
    std::fs::create_dir_all(repo.join("apps/nested")).unwrap();
    std::fs::write(repo.join("berth.yml"), "x-note: {anything: [goes]}\nproject: yml-repo\n").unwrap();
    std::fs::write(
        repo.join("apps/web.yml"),
        "x-env: &env {LOG: info}\nx-sleep: &sleep [\"sleep\", \"3600\"]\nimage: busybox:1.36\nenv: *env\n\
processes:\n  web: {command: *sleep}\n  worker: {command: \"sh -c 'sleep 3600'\"}\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("apps/nested/api.yaml"),
        "image: busybox:1.37\nstop-signal: quit\nstop-grace-period: 30s\n",
    )
    .unwrap();
    let snapshot = berth::source::read_working_tree(&repo).expect("a repository");
    let loaded = berth::spec::load(&snapshot).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(loaded.project, "yml-repo");
    let names: Vec<&str> = loaded.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["api", "web"]);
    let web = &loaded.apps[1].spec;
    let processes = web.processes.as_ref().unwrap();
    let argv: Vec<Vec<String>> = processes.values().map(|p| p.command.as_ref().unwrap().argv().to_vec()).collect();
    assert_eq!(argv, [vec!["sleep", "3600"], vec!["sh", "-c", "sleep 3600"]]);
    assert_eq!(loaded.apps[0].spec.stop_signal.as_ref().unwrap().as_str(), "SIGQUIT");

    let out = berth(&["validate", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("project yml-repo, 2 app(s), 3 container(s)"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "expect.txt" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn berth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env_remove("BERTH_PROJECT")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("failed to run the berth binary")
}

/// Plan action lines start with one of the plan's symbols, or are its summary.
fn action_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("Plan:") || ["+ ", "~ ", "- ", "↓ ", "↑ ", "✓ "].iter().any(|s| t.starts_with(s))
        })
        .collect()
}

fn is_valid_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() <= 63
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Containers of `project`, by name; fails when the engine cannot be asked.
fn project_containers(project: &str) -> String {
    let out = Command::new("docker")
        .args(["ps", "-a", "--format", "{{.Names}}", "--filter"])
        .arg(format!("label=berth.project={project}"))
        .output()
        .expect("failed to run `docker ps`: is the docker CLI installed?");
    assert!(out.status.success(), "`docker ps` failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn cli_refuses_invalid_repos_without_touching_the_engine() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let mut failures = Vec::new();
    for case in cases() {
        // The copy keeps the case's folder name: it is the project name.
        let repo = tmp.path().join(&case.name);
        copy_dir(&case.dir, &repo);
        let repo_arg = repo.to_str().expect("UTF-8 temp path");

        for (what, args) in
            [("validate", vec!["validate", repo_arg]), ("apply", vec!["apply", repo_arg, "--auto-approve"])]
        {
            let out = berth(&args);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let mut problems = Vec::new();
            if out.status.code() != Some(1) {
                problems.push(format!("exit code {:?}, expected 1", out.status.code()));
            }
            for line in &case.expect {
                if !stderr.contains(line.as_str()) {
                    problems.push(format!("`{line}` not on stderr"));
                }
            }
            let actions = action_lines(&stdout);
            if !actions.is_empty() {
                problems.push(format!("action lines on stdout: {actions:?}"));
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{} ({what}): {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
                    case.name,
                    problems.join("; ")
                ));
            }
        }
        if is_valid_name(&case.name) {
            let left = project_containers(&case.name);
            if !left.is_empty() {
                failures.push(format!("{}: apply of an invalid repo created containers: {left}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
