//! Drift is what the engine really runs: values changed by hand are seen,
//! and what the engine can set again is set in place, on the real engine.

use crate::common::*;

const APP: &str = r#"image: busybox:1.36
processes:
  web:
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
resources: {memory: 64MiB, cpus: 0.5}
"#;

#[test]
fn limits_and_restart_changed_by_hand_are_drift_and_set_back_in_place() {
    require_engine();
    let repo = TestRepo::new("live-update");
    repo.app("web", APP);
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let name = format!("{}-web-web-1", repo.project());
    let id = repo.containers()[0].id.clone();
    docker_ok(&["update", "--memory", "32m", "--memory-swap", "64m", "--restart", "no", "--cpus", "1", &name]);

    let drift = repo.berth(&["drift"]);
    assert_exit(&drift, 2);
    let text = stdout(&drift);
    assert!(
        text.contains(&format!(
            "~ update {name} (resources.memory changed by hand: 64MiB → 32MiB; resources.cpus changed by hand: 0.5 → 1; restart changed by hand: unless-stopped → no)"
        )),
        "{text}"
    );
    assert!(text.contains("resources.memory: 32MiB → 64MiB"), "{text}");

    let events = EventCounter::start(repo.project());
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let actions: Vec<String> = events.mutating().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["update"], "set in place, not replaced");
    let c = &repo.containers()[0];
    assert_eq!(c.id, id);
    assert_eq!(c.inspect["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(c.inspect["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(c.inspect["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
    assert_exit(&repo.berth(&["drift"]), 0);
}

#[test]
fn a_network_left_and_a_name_changed_by_hand_are_put_back() {
    require_engine();
    let repo = TestRepo::new("live-network");
    repo.app("web", APP);
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let p = repo.project().to_string();
    let name = format!("{p}-web-web-1");
    let id = repo.containers()[0].id.clone();
    docker_ok(&["network", "disconnect", &format!("{p}_default"), &name]);
    docker_ok(&["rename", &name, "renamed-by-someone"]);
    let _renamed = Foreign("renamed-by-someone".into()); // cleanup if the test fails before berth renames it back

    let drift = repo.berth(&["drift"]);
    assert_exit(&drift, 2);
    let text = stdout(&drift);
    assert!(
        text.contains(&format!(
            "~ update {name} (renamed by hand to renamed-by-someone; disconnected by hand from network {p}_default)"
        )),
        "{text}"
    );
    assert!(!text.contains("no longer declared"), "{text}");
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let c = &repo.containers()[0];
    assert_eq!((c.id.as_str(), c.name.as_str()), (id.as_str(), name.as_str()));
    let aliases = &c.inspect["NetworkSettings"]["Networks"][format!("{p}_default")]["Aliases"];
    assert!(aliases.as_array().unwrap().iter().any(|a| a == "web"), "{aliases}");
    assert_exit(&repo.berth(&["drift"]), 0);
}

#[test]
fn a_finished_job_is_complete_not_drift() {
    require_engine();
    let repo = TestRepo::new("live-job");
    repo.app(
        "migrate",
        "image: busybox:1.36\nprocesses:\n  run:\n    command: [\"sh\", \"-c\", \"echo migrated\"]\nrestart: \"no\"\n",
    );
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let c = &repo.containers()[0];
    assert_eq!((c.state.as_str(), c.inspect["State"]["ExitCode"].as_i64()), ("exited", Some(0)));
    assert_exit(&repo.berth(&["drift"]), 0);
    // A failed run is drift.
    repo.app("migrate", "image: busybox:1.36\nprocesses:\n  run:\n    command: [\"sh\", \"-c\", \"sleep 2; exit 3\"]\nrestart: \"no\"\n");
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    wait_for("the job to fail", std::time::Duration::from_secs(20), || {
        (repo.containers()[0].state == "exited").then_some(())
    });
    let drift = repo.berth(&["drift"]);
    assert_exit(&drift, 2);
    assert!(stdout(&drift).contains("container is exited with code 3 (expected running)"), "{}", stdout(&drift));
}
