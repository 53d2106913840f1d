//! The command line itself: exit codes of usage errors, folders that are not
//! repositories, how `report` and `rollback` read `[REPO] APP`, and when
//! `apply` asks.

use crate::common::{assert_exit, berth, require_engine, stderr, stdout, TestRepo};
use std::io::Write;
use std::process::{Command, Output, Stdio};

const SLEEPER: &str = "[\"sleep\", \"3600\"]";

#[test]
fn usage_errors_exit_1_help_and_version_0() {
    for args in [&["plan", "--bogus"][..], &[], &["rollback"], &["report", "a", "b", "c"], &["plan", "--output", "xml"]]
    {
        let out = berth().args(args).output().unwrap();
        assert_exit(&out, 1);
        assert!(stderr(&out).contains("--help"), "berth {args:?}: {}", stderr(&out));
    }
    for args in [&["--help"][..], &["--version"], &["rollback", "--help"], &["help", "report"]] {
        assert_exit(&berth().args(args).output().unwrap(), 0);
    }
    let help = stdout(&berth().args(["report", "--help"]).output().unwrap());
    assert!(help.contains("With one argument: a folder that is a berth repository"), "{help}");
    let help = stdout(&berth().args(["--help"]).output().unwrap());
    assert!(help.contains("1 error (usage errors included)"), "{help}");
}

#[test]
fn a_folder_that_is_not_a_repository_is_refused_by_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("not-a-repo");
    std::fs::create_dir_all(dir.join("credentials")).unwrap();
    std::fs::write(dir.join("README.md"), "notes\n").unwrap();
    let d = dir.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["validate", d],
        vec!["plan", d],
        vec!["plan", d, "--allow-empty"],
        vec!["apply", d, "--auto-approve", "--allow-empty"],
        vec!["drift", d],
        vec!["report", d, "web"],
        vec!["rollback", d, "web"],
        vec!["secrets", "rekey", "-C", d],
        vec!["secrets", "encrypt", "x", "-C", d],
        vec!["registry", "login", "-C", d, "ghcr.io", "bob", "--password-stdin"],
    ];
    for args in commands {
        let out = berth()
            .args(&args)
            .env("HOME", tmp.path())
            .env("BERTH_STATE_DIR", tmp.path().join("state"))
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(err.contains("is not a berth repository"), "berth {args:?}: {err}");
        assert!(err.contains("a repository needs apps/<name>.yaml"), "berth {args:?}: {err}");
        assert!(!stdout(&out).contains("Plan:"), "berth {args:?}: {}", stdout(&out));
    }
    // The same folder with an (empty) apps/ is a repository.
    std::fs::create_dir(dir.join("apps")).unwrap();
    let out = berth().args(["validate", d]).output().unwrap();
    assert_exit(&out, 0);
}

#[test]
fn report_and_rollback_read_repo_and_app_alike() {
    require_engine();
    let repo = TestRepo::new("repoapp");
    repo.app("web", "image: busybox:1.36\n");
    repo.app("api", "image: busybox:1.37\n");
    let d = repo.dir();
    let d = d.to_str().unwrap();
    let run = |args: &[&str]| repo.command().args(args).output().unwrap();
    let apps_in = |out: &Output| {
        assert_exit(out, 0);
        stdout(out).lines().filter(|l| l.starts_with("=====> ")).map(String::from).collect::<Vec<_>>()
    };
    let both = ["=====> api registry information", "=====> web registry information"];
    assert_eq!(apps_in(&run(&["report"])), both);
    assert_eq!(apps_in(&run(&["report", d])), both);
    assert_eq!(apps_in(&run(&["report", "web"])), ["=====> web registry information"]);
    assert_eq!(apps_in(&run(&["report", d, "web"])), ["=====> web registry information"]);
    let out = run(&["report", "nope"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("no app `nope`"), "{}", stderr(&out));

    // rollback needs APP: a repository folder alone is not one.
    let out = run(&["rollback", d]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("is a repository folder: name the app too"), "{}", stderr(&out));
    // One argument that is no folder is APP, of the repository here.
    for args in [&["rollback", "web"][..], &["rollback", d, "web"]] {
        let out = run(args);
        assert_exit(&out, 1);
        assert!(stderr(&out).contains("app web has no release to roll back to"), "{args:?}: {}", stderr(&out));
    }
}

/// Runs `berth ARGS` on a pseudo-terminal (util-linux `script`), typing `input`.
fn on_a_terminal(repo: &TestRepo, args: &[&str], input: &str) -> Output {
    let line = std::iter::once(env!("CARGO_BIN_EXE_berth")).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("NO_COLOR", "1")
        .env("BERTH_STATE_DIR", repo.state_dir())
        .env("HOME", repo.home())
        .current_dir(repo.dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_saved_plan_applies_without_asking_and_a_declined_prompt_exits_1() {
    require_engine();
    let repo = TestRepo::new("planfile");
    repo.app("web", &format!("image: busybox:1.36\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    let file = repo.state_dir().join("plan.json");
    let file = file.to_str().unwrap();
    assert_exit(&repo.berth(&["plan", "--out", file]), 0);
    // No terminal, no --auto-approve: the saved plan was the question.
    let out = repo.command().args(["apply", file]).output().unwrap();
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("Apply complete"), "{}", stdout(&out));
    assert_eq!(repo.containers().len(), 1);

    // On a terminal, answering anything but `yes` changes nothing and exits 1.
    repo.app("web", &format!("image: busybox:1.36\nenv: {{A: b}}\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    let before = repo.containers();
    let d = repo.dir();
    let out = on_a_terminal(&repo, &["apply", d.to_str().unwrap()], "no\n");
    assert_exit(&out, 1);
    assert!(stdout(&out).contains("Apply cancelled; nothing was changed."), "{}", stdout(&out));
    let after = repo.containers();
    assert_eq!(
        before.iter().map(|c| &c.id).collect::<Vec<_>>(),
        after.iter().map(|c| &c.id).collect::<Vec<_>>(),
        "nothing replaced"
    );
}
