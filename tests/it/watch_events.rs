//! `berth watch`'s engine events (`berth::watch::spawn_events`) against
//! the real engine: a project's container stopped or removed wakes the
//! loop; another project's containers do not.

use crate::common::{docker_ok, require_engine, unique_project, ProjectGuard, PROJECT_LABEL};
use berth::observe::docker::DockerEngine;
use berth::watch::{spawn_events, Reasons, Trigger, Triggers};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn run(project: &str) -> String {
    let name = format!("{project}-web-web-1");
    let label = format!("{PROJECT_LABEL}={project}");
    docker_ok(&["run", "-d", "--name", &name, "--label", &label, "busybox:1.36", "sleep", "300"]);
    name
}

async fn quiet(t: &Triggers, within: Duration, what: &str) {
    if let Ok(r) = tokio::time::timeout(within, t.next()).await {
        panic!("{what} triggered a check: {r}");
    }
}

async fn event(t: &Triggers, what: &str) -> Reasons {
    tokio::time::timeout(Duration::from_secs(2), t.next())
        .await
        .unwrap_or_else(|_| panic!("no trigger within 2 s of {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_or_removed_container_triggers_and_other_projects_do_not() {
    require_engine();
    let ours = ProjectGuard::new(&unique_project("watch events ours"));
    let theirs = ProjectGuard::new(&unique_project("watch events theirs"));
    let engine = Arc::new(DockerEngine::connect().await.expect("the engine answers"));
    let t = Triggers::default();
    let stop = CancellationToken::new();
    let task = spawn_events(engine, ours.project.clone(), t.clone(), stop.clone());

    let other = run(&theirs.project);
    docker_ok(&["stop", "-t", "1", &other]);
    docker_ok(&["rm", "-f", &other]);
    quiet(&t, Duration::from_millis(2500), "another project's container").await;

    let name = run(&ours.project);
    quiet(&t, Duration::from_millis(1500), "a container starting").await;

    docker_ok(&["stop", "-t", "1", &name]);
    let r = event(&t, "docker stop").await;
    match r.list.as_slice() {
        [Trigger::Event { container, action }] => {
            assert_eq!(container, &name);
            assert!(action.contains("kill") || action.contains("stop") || action.contains("die"), "{action}");
        }
        other => panic!("expected one engine event trigger, got {other:?}"),
    }

    // The rest of the stop (its last events may come after the first trigger).
    while tokio::time::timeout(Duration::from_millis(1500), t.next()).await.is_ok() {}
    docker_ok(&["rm", "-f", &name]);
    let r = event(&t, "docker rm -f").await;
    assert!(r.to_string().contains("destroy"), "{r}");

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(2), task).await.expect("the task ends on shutdown").unwrap();
}

/// The engine client's request timeout bounds waiting for an answer, not
/// how long an answer may stream: a quiet hour must not end the subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_outlives_the_request_timeout() {
    require_engine();
    let ours = ProjectGuard::new(&unique_project("watch events long"));
    let client = bollard::Docker::connect_with_defaults().expect("engine client").with_timeout(Duration::from_secs(1));
    let engine = Arc::new(DockerEngine::from_client(client));
    let t = Triggers::default();
    let stop = CancellationToken::new();
    let task = spawn_events(engine, ours.project.clone(), t.clone(), stop.clone());
    let name = run(&ours.project);
    tokio::time::sleep(Duration::from_secs(3)).await;
    docker_ok(&["rm", "-f", &name]);
    let r = event(&t, "docker rm -f").await;
    assert!(!r.to_string().contains("reconnect"), "the subscription was lost: {r}");
    stop.cancel();
    task.await.unwrap();
}
