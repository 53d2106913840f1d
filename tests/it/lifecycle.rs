//! plan → apply → converged, on the real engine: creates, replaces, drift,
//! prune, saved plans, failures, and the zero-mutation guarantee.

use crate::common::*;
use std::time::Duration;

/// A long-running process that stops at once on SIGTERM (busybox as PID 1
/// ignores it otherwise, which would make every stop wait 10 s).
const SLEEPER: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;

fn web_app(port: u16, log_level: &str) -> String {
    format!(
        r#"image: busybox:1.36
processes:
  web:
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www && echo hello-$LOG_LEVEL > /www/index.html && httpd -f -p 4000 -h /www & wait"]
    replicas: 2
    ports: ["{port}:4000"]
  worker:
    command: {SLEEPER}
env:
  LOG_LEVEL: {log_level}
"#
    )
}

fn plan_json(repo: &TestRepo) -> serde_json::Value {
    let out = repo.berth(&["plan", "--output", "json"]);
    assert_exit(&out, 0);
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("plan JSON unreadable: {e}\n{}", stdout(&out)))
}

fn assert_no_changes(repo: &TestRepo) {
    let out = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("No changes. The engine matches the repository."), "{}", stdout(&out));
}

#[test]
fn apply_converges_and_an_unchanged_repo_makes_no_engine_calls() {
    require_engine();
    let repo = TestRepo::new("converge");
    let port = free_port();
    let _second = free_port(); // replica 2 publishes port + 1; keep others off it
    repo.app("shop", &web_app(port, "info"));

    let plan = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 2);
    assert!(
        stdout(&plan).contains("Plan: 0 to build, 0 to pull, 0 to push, 3 to create, 0 to replace, 0 to remove."),
        "{}",
        stdout(&plan)
    );

    let first = EventCounter::start(repo.project());
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    // The counter sees real work (so its silence below means something).
    assert!(first.mutating().iter().filter(|e| e.action == "create").count() == 3, "{:?}", first.mutating());
    let p = repo.project();
    let mut names: Vec<String> = repo.containers().iter().map(|c| c.name.clone()).collect();
    names.sort();
    assert_eq!(names, vec![format!("{p}-shop-web-1"), format!("{p}-shop-web-2"), format!("{p}-shop-worker-1")]);
    let web1 = repo.containers().into_iter().find(|c| c.name.ends_with("web-1")).unwrap();
    assert_eq!(web1.label("berth.project"), Some(p));
    assert_eq!(web1.label("berth.app"), Some("shop"));
    assert_eq!(web1.label("berth.process"), Some("web"));
    assert_eq!(web1.label("berth.replica"), Some("1"));
    assert!(web1.label("berth.spec-hash").is_some_and(|h| !h.is_empty()));
    assert_eq!(web1.env_var("PORT"), Some("4000"), "Scalingo-style PORT");
    assert_eq!(wait_for("web replica 1", Duration::from_secs(10), || http_get(port, "/")).trim(), "hello-info");
    assert_eq!(wait_for("web replica 2", Duration::from_secs(10), || http_get(port + 1, "/")).trim(), "hello-info");

    assert_no_changes(&repo);
    let events = EventCounter::start(repo.project());
    let again = repo.berth(&["apply", "--auto-approve"]);
    assert_exit(&again, 0);
    assert!(stdout(&again).contains("No changes."), "{}", stdout(&again));
    assert_eq!(events.mutating(), vec![], "an unchanged repo must make no mutating engine call");
}

#[test]
fn env_change_is_a_field_level_replace_that_converges() {
    require_engine();
    let repo = TestRepo::new("envchange");
    let port = free_port();
    let _second = free_port();
    repo.app("shop", &web_app(port, "info"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let before: Vec<String> = repo.containers().iter().map(|c| c.id.clone()).collect();

    repo.app("shop", &web_app(port, "debug"));
    let plan = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 2);
    let text = stdout(&plan);
    assert!(text.contains(&format!("~ replace {}-shop-web-1 (env.LOG_LEVEL changed)", repo.project())), "{text}");
    assert!(text.contains(r#"env.LOG_LEVEL: "info" → "debug""#), "{text}");
    assert!(text.contains("3 to replace"), "{text}");

    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    assert_eq!(wait_for("new web", Duration::from_secs(10), || http_get(port, "/")).trim(), "hello-debug");
    let after = repo.containers();
    assert_eq!(after.len(), 3, "old containers are gone: {after:?}");
    assert!(after.iter().all(|c| !before.contains(&c.id)), "every container was replaced");
    assert!(after.iter().all(|c| c.env_var("LOG_LEVEL") == Some("debug")));
    assert_no_changes(&repo);
}

#[test]
fn drift_reports_stopped_removed_and_retagged_containers() {
    require_engine();
    let repo = TestRepo::new("drift");
    let tag = format!("berth-test/{}:v1", repo.project());
    docker_ok(&["tag", "busybox:1.36", &tag]);
    let _untag = Untag(tag.clone());
    repo.app("a", &format!("image: {tag}\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    repo.app("b", &format!("image: busybox:1.36\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    assert_exit(&repo.berth(&["drift"]), 0);
    let p = repo.project().to_string();

    docker_ok(&["stop", "-t", "1", &format!("{p}-a-web-1")]);
    docker_ok(&["rm", "-f", &format!("{p}-b-web-1")]);
    let drift = repo.berth(&["drift"]);
    assert_exit(&drift, 2);
    let text = stdout(&drift);
    assert!(
        text.contains(&format!("~ replace {p}-a-web-1 (container is exited with code 0 (expected running))")),
        "{text}"
    );
    assert!(text.contains(&format!("+ create {p}-b-web-1 (container missing)")), "{text}");

    let json = repo.berth(&["drift", "--output", "json"]);
    assert_exit(&json, 2);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["summary"]["replace"], 1);
    assert_eq!(v["summary"]["create"], 1);

    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    assert_exit(&repo.berth(&["drift"]), 0);

    // The tag now points at another image: the container is out of date.
    docker_ok(&["tag", "busybox:1.37", &tag]);
    let drift = repo.berth(&["drift"]);
    assert_exit(&drift, 2);
    let text = stdout(&drift);
    assert!(text.contains(&format!("~ replace {p}-a-web-1 (image tag {tag} now resolves to sha256:")), "{text}");
    assert!(!text.contains("-b-web-1"), "b's tag did not move: {text}");
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    assert_no_changes(&repo);
}

#[test]
fn removed_apps_are_pruned_but_volumes_stay_and_an_empty_repo_prunes_nothing() {
    require_engine();
    let repo = TestRepo::new("prune");
    let app = |name: &str| {
        format!("image: busybox:1.36\nprocesses:\n  web:\n    command: {SLEEPER}\nvolumes: [\"{name}-data:/data\"]\n")
    };
    repo.app("keep", &app("keep"));
    repo.app("gone", &app("gone"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let volume = format!("{}_gone-data", repo.project());
    assert!(docker(&["volume", "inspect", &volume]).status.success(), "named volume created as <project>_<name>");

    repo.remove_app("gone");
    let plan = repo.berth(&["plan"]);
    assert!(
        stdout(&plan).contains(&format!("- remove {}-gone-web-1 (app not in repository)", repo.project())),
        "{}",
        stdout(&plan)
    );
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let names: Vec<String> = repo.containers().into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec![format!("{}-keep-web-1", repo.project())]);
    assert!(docker(&["volume", "inspect", &volume]).status.success(), "volumes are never deleted");

    repo.remove_app("keep");
    let plan = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0);
    assert!(stdout(&plan).contains("--allow-empty"), "{}", stdout(&plan));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    assert_eq!(repo.containers().len(), 1, "an empty repo prunes nothing");
    assert_exit(&repo.berth(&["apply", "--auto-approve", "--allow-empty"]), 0);
    assert_eq!(repo.containers().len(), 0);
}

#[test]
fn suspended_app_is_left_alone() {
    require_engine();
    let repo = TestRepo::new("suspend");
    let spec = |env: &str, suspend: bool| {
        format!(
            "image: busybox:1.36\nsuspend: {suspend}\nenv: {{X: {env}}}\nprocesses:\n  web:\n    command: {SLEEPER}\n"
        )
    };
    repo.app("a", &spec("one", false));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    repo.app("a", &spec("two", true));
    let plan = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0);
    assert!(stdout(&plan).contains("app a is suspended"), "{}", stdout(&plan));
    repo.remove_app("a");
    repo.app("other", &spec("x", false));
    repo.app("a", &spec("two", true));
    let plan = stdout(&repo.berth(&["plan"]));
    assert!(!plan.contains("-a-web-1"), "suspended app is not pruned nor replaced: {plan}");
}

#[test]
fn saved_plan_is_applied_exactly_and_refused_when_stale() {
    require_engine();
    let repo = TestRepo::new("savedplan");
    repo.git_init();
    repo.app("a", &format!("image: busybox:1.36\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    repo.commit("a");
    let file = repo.state_dir().join("plan.json");
    let file = file.to_str().unwrap();
    assert_exit(&repo.berth(&["plan", "--out", file]), 0);
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(saved["summary"]["create"], 1);

    // The working tree changes after the plan was saved: the saved plan, made
    // from a commit, still wins.
    repo.app("b", &format!("image: busybox:1.36\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    let out = repo.command().args(["apply", file, "--auto-approve"]).output().unwrap();
    assert_exit(&out, 0);
    let names: Vec<String> = repo.containers().into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec![format!("{}-a-web-1", repo.project())], "exactly the saved plan");

    // Applying it again: the engine changed since, so it is refused.
    let out = repo.command().args(["apply", file, "--auto-approve"]).output().unwrap();
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("stale"), "{}", stderr(&out));
    assert_eq!(repo.containers().len(), 1);
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    require_engine();
    let repo = TestRepo::new("noapprove");
    repo.app("a", &format!("image: busybox:1.36\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    let out = repo.berth(&["apply"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("--auto-approve"), "{}", stderr(&out));
    assert_eq!(repo.containers().len(), 0);
}

#[test]
fn a_failing_app_does_not_stop_the_others() {
    require_engine();
    let repo = TestRepo::new("failing");
    repo.app("good", &format!("image: busybox:1.36\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    repo.app("bad", "image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sh\", \"-c\", \"echo boom-from-bad; exit 3\"]\nrestart: \"no\"\n");
    let out = repo.berth(&["apply", "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("bad"), "names the failed app: {err}");
    assert!(err.contains("boom-from-bad"), "shows the container's log: {err}");
    let good = repo.containers().into_iter().find(|c| c.name.ends_with("-good-web-1")).expect("good app created");
    assert_eq!(good.state, "running");
}

#[test]
fn failed_health_check_keeps_the_old_container() {
    require_engine();
    let repo = TestRepo::new("healthgate");
    let spec = |marker: &str| {
        format!(
            "image: busybox:1.36\nenv: {{MARK: {marker}}}\nprocesses:\n  web:\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; touch /tmp/$MARK; while true; do sleep 1; done\"]\n\
             healthcheck: {{command: [\"CMD-SHELL\", \"test -e /tmp/ok\"], interval: 1s, timeout: 1s, retries: 2}}\n"
        )
    };
    repo.app("a", &spec("ok"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let old = repo.containers();
    assert_eq!(old[0].health, "healthy");

    repo.app("a", &spec("broken"));
    let out = repo.berth(&["apply", "--auto-approve"]);
    assert_exit(&out, 1);
    let now = repo.containers();
    assert_eq!(now.len(), 1, "the failed new container is removed: {now:?}");
    assert_eq!(now[0].id, old[0].id, "the old container keeps running");
    assert_eq!(now[0].name, old[0].name, "under its own name");
    assert_eq!(now[0].state, "running");
}

#[test]
fn plan_json_matches_the_text_plan() {
    require_engine();
    let repo = TestRepo::new("planjson");
    repo.app("a", &format!("image: busybox:1.36\nenv: {{K: v}}\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    let v = plan_json(&repo);
    assert_eq!(v["format_version"], 3);
    assert_eq!(v["project"], repo.project());
    assert_eq!(v["actions"][0]["kind"], "network", "the project network first");
    assert_eq!(v["actions"][0]["detail"]["type"], "create-network");
    let a = &v["actions"][1];
    assert_eq!(a["kind"], "create");
    assert_eq!(a["target"], format!("{}-a-web-1", repo.project()));
    assert_eq!(a["reason"], "container missing");
    assert_eq!(a["detail"]["type"], "create");
    assert!(a["changes"].as_array().unwrap().iter().any(|c| c["path"] == "env.K" && c["new"] == "v"));
}
