//! The apply lock lives on the engine: appliers from any machine take
//! turns, a crashed holder's lock expires, and plan waits for an apply in
//! progress instead of reporting it half done.

use crate::common::*;
use std::process::Stdio;
use std::time::Duration;

/// An app whose replace takes a few seconds (its health check passes
/// after 3 s), so a second command surely finds the first one working.
fn slow(v: &str) -> String {
    format!(
        r#"image: busybox:1.36
processes:
  web:
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3; touch /tmp/ready; while true; do sleep 1; done"]
env: {{V: "{v}"}}
healthcheck: {{command: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, timeout: 1s, retries: 10}}
"#
    )
}

#[test]
fn two_appliers_take_turns() {
    require_engine();
    let repo = TestRepo::new("lock-turns");
    repo.app("web", &slow("1"));
    let first = repo
        .command()
        .args(["apply", ".", "--auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = format!("berth-lock-{}", repo.project());
    wait_for("the first apply to take the lock", Duration::from_secs(30), || {
        docker(&["inspect", &lock]).status.success().then_some(())
    });
    let held = docker_ok(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"berth.lock.command\"}} {{index .Config.Labels \"berth.lock.pid\"}}",
        &lock,
    ]);
    assert!(held.starts_with("berth apply . --auto-approve "), "{held}");
    // A second applier, another state dir (another machine), the same engine.
    let other = tempfile::tempdir().unwrap();
    let second =
        repo.command().env("BERTH_STATE_DIR", other.path()).args(["apply", ".", "--auto-approve"]).output().unwrap();
    let first = first.wait_with_output().unwrap();
    assert_exit(&first, 0);
    assert_exit(&second, 0);
    assert!(
        stderr(&second).contains("waiting for an apply in progress: `berth apply . --auto-approve` by "),
        "{}",
        stderr(&second)
    );
    assert!(stdout(&second).contains("No changes."), "the second planned after the first: {}", stdout(&second));
    assert_eq!(repo.containers().len(), 1);
    assert!(!docker(&["inspect", &lock]).status.success(), "the lock is released");
}

#[test]
fn a_held_lock_refuses_after_the_timeout_and_plan_waits_for_it() {
    require_engine();
    let repo = TestRepo::new("lock-timeout");
    repo.app("web", &slow("1"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    repo.app("web", &slow("2"));
    let first = repo
        .command()
        .args(["apply", ".", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = format!("berth-lock-{}", repo.project());
    wait_for("the first apply to take the lock", Duration::from_secs(30), || {
        docker(&["inspect", &lock]).status.success().then_some(())
    });
    let refused = repo.berth(&["apply", "--auto-approve", "--lock-timeout", "1s"]);
    assert_exit(&refused, 1);
    assert!(stderr(&refused).contains("an apply is in progress for project"), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("berth apply . --auto-approve"), "names the holder: {}", stderr(&refused));
    let plan = repo.berth(&["plan", "--lock-timeout", "1s"]);
    assert_exit(&plan, 1);
    assert!(stderr(&plan).contains("an apply is in progress"), "{}", stderr(&plan));
    // Given time, plan waits and then sees the finished apply.
    let plan = repo.berth(&["plan", "--detailed-exitcode", "--lock-timeout", "60s"]);
    assert_exit(&plan, 0);
    let mut first = first;
    assert!(first.wait().unwrap().success());
}

#[test]
fn a_crashed_holders_lock_expires_and_is_taken_over() {
    require_engine();
    let repo = TestRepo::new("lock-stale");
    repo.app(
        "web",
        "image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sleep\", \"600\"]\nstop-grace-period: 1s\n",
    );
    // Make berth's empty image exist, then leave a lock as a crashed holder would: a 1 s lease, never renewed.
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let lock = format!("berth-lock-{}", repo.project());
    docker_ok(&[
        "create",
        "--name",
        &lock,
        "--label",
        &format!("berth.lock={}", repo.project()),
        "--label",
        "berth.lock.user=ghost",
        "--label",
        "berth.lock.host=gone-runner",
        "--label",
        "berth.lock.pid=4242",
        "--label",
        "berth.lock.command=berth apply .",
        "--label",
        "berth.lock.lease=1",
        "berth/empty:1",
        "berth-lock",
    ]);
    std::thread::sleep(Duration::from_secs(2));
    // A change to apply: an unchanged repository plans without taking the lock.
    repo.app(
        "web",
        "image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sleep\", \"600\"]\nstop-grace-period: 1s\nenv: {V: \"2\"}\n",
    );
    let apply = repo.berth(&["apply", "--auto-approve", "--lock-timeout", "5s"]);
    assert_exit(&apply, 0);
    assert!(stderr(&apply).contains("taking over the lock"), "{}", stderr(&apply));
    assert!(!docker(&["inspect", &lock]).status.success(), "taken over, then released");
}

#[test]
fn an_unchanged_repository_is_applied_without_taking_the_lock() {
    require_engine();
    let repo = TestRepo::new("lock-noop");
    repo.app(
        "web",
        "image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sleep\", \"600\"]\nstop-grace-period: 1s\n",
    );
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let again = repo.berth(&["apply", "--auto-approve"]);
    assert_exit(&again, 0);
    assert!(stdout(&again).contains("No changes."), "{}", stdout(&again));
    // No lock container was made (a create is a mutating call too).
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() + 0.3;
    let lock = format!("berth-lock-{}", repo.project());
    let events = docker_ok(&[
        "events",
        "--since",
        &format!("{since:.3}"),
        "--until",
        &format!("{until:.3}"),
        "--filter",
        &format!("container={lock}"),
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(events.trim(), "", "the lock was taken for no change");
}
