//! `DockerEngine` against the real engine, through the `Engine` trait only:
//! create/start/observe/rename/stop/remove, readiness with and without a
//! healthcheck, failures that quote the container's log (secrets blanked),
//! and pulls from a local registry with in-memory credentials.

use crate::common::*;
use berth::desired::{ContainerConfig, DesiredContainer, EnvValue, Health, Mount, MountKind, PortBinding};
use berth::observe::docker::DockerEngine;
use berth::observe::{ContainerState, Engine, EngineError, PullAuth, SecretEnv};
use berth::spec::Restart;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const BUSYBOX: &str = "docker.io/library/busybox:1.36";

async fn engine() -> DockerEngine {
    require_engine();
    DockerEngine::connect().await.expect("DockerEngine::connect")
}

/// A container of `project`, app `web`, process `web`, replica 1.
fn container(project: &str, command: &[&str]) -> DesiredContainer {
    DesiredContainer {
        name: format!("{project}-web-web-1"),
        app: "web".into(),
        process: "web".into(),
        replica: 1,
        config: ContainerConfig {
            image: BUSYBOX.into(),
            command: Some(command.iter().map(|s| s.to_string()).collect()),
            restart: Restart::No,
            ..Default::default()
        },
        update_order: None,
        fingerprint_key: None,
        release: None,
        pin: None,
    }
}

fn secs(s: f64) -> i64 {
    (s * 1e9) as i64
}

async fn run(engine: &DockerEngine, project: &str, c: &DesiredContainer, secrets: &SecretEnv) -> String {
    let id = engine.create(project, c, "hash-1", secrets).await.expect("create");
    engine.start(&id).await.expect("start");
    id
}

#[tokio::test]
async fn container_lifecycle_through_the_engine_trait() {
    let engine = engine().await;
    let project = unique_project("engine-lifecycle");
    let _guard = ProjectGuard::new(&project);
    let port = free_port();

    let busybox_id = engine.image_id(BUSYBOX).await.expect("image_id").expect("busybox:1.36 stand-in is present");
    assert_eq!(busybox_id, docker_ok(&["image", "inspect", "--format", "{{.Id}}", "busybox:1.36"]));
    assert_eq!(engine.image_id("docker.io/library/busybox:no-such-tag").await.expect("image_id"), None);

    let mut c = container(&project, &["httpd", "-f", "-p", "8080", "-h", "/var/www"]);
    c.config.env = BTreeMap::from([
        ("GREETING".into(), EnvValue::Plain("hello".into())),
        ("TOKEN".into(), EnvValue::Secret { credential: "api".into(), fingerprint: "fp1".into() }),
    ]);
    c.config.ports = vec![PortBinding {
        host_ip: Some("127.0.0.1".into()),
        host_port: port,
        container_port: 8080,
        protocol: "tcp".into(),
    }];
    let volume = format!("{project}_data");
    c.config.mounts =
        vec![Mount { kind: MountKind::Volume, source: volume.clone(), target: "/data".into(), ..Default::default() }];
    c.config.memory = Some(64 * 1024 * 1024);
    c.config.nano_cpus = Some(500_000_000);
    c.config.restart = Restart::UnlessStopped;
    c.config.user = Some("app".into());
    let secrets = SecretEnv::from([("TOKEN".into(), "tok-s3cret-value".into())]);

    let id = run(&engine, &project, &c, &secrets).await;
    engine.wait_ready(&id, &c.name, Duration::from_secs(20)).await.expect("ready");
    let body = wait_for("httpd to answer", Duration::from_secs(10), || http_get(port, "/"));
    assert_eq!(body.trim(), "stand-in 1.36");

    // observe: labels, parsed config, state and image id from the listing.
    let observed = engine.observe(&project).await.expect("observe");
    assert_eq!(observed.containers.len(), 1, "{observed:#?}");
    let o = &observed.containers[0];
    assert_eq!(o.id, id);
    assert_eq!(o.name, c.name);
    assert_eq!((o.app.as_str(), o.process.as_str(), o.replica), ("web", "web", 1));
    assert_eq!(o.state, ContainerState::Running);
    assert_eq!(o.spec_hash.as_deref(), Some("hash-1"));
    assert_eq!(o.config.as_ref(), Some(&c.config));
    assert_eq!(o.image_id, busybox_id);
    assert_eq!(observed.images.get(BUSYBOX), Some(&busybox_id));
    assert_eq!(observed.images.get("docker.io/library/busybox:latest"), Some(&busybox_id));
    assert!(observed.images.contains_key("docker.io/library/busybox:1.37"));

    // What the engine holds: the secret is in the env, nowhere in labels.
    let listed = containers(&project);
    let d = &listed[0];
    assert_eq!(d.env_var("TOKEN"), Some("tok-s3cret-value"));
    assert_eq!(d.env_var("GREETING"), Some("hello"));
    assert!(d.labels.values().all(|v| !v.contains("tok-s3cret-value")));
    assert_eq!(d.label("berth.project"), Some(project.as_str()));
    assert_eq!(d.label("berth.replica"), Some("1"));
    let host = &d.inspect["HostConfig"];
    assert_eq!(host["Memory"], 64 * 1024 * 1024);
    assert_eq!(host["NanoCpus"], 500_000_000);
    assert_eq!(host["RestartPolicy"]["Name"], "unless-stopped");
    assert_eq!(d.inspect["Config"]["User"], "app");
    assert_eq!(d.inspect["Mounts"][0]["Name"], volume.as_str());

    // rename, stop, remove: the volume stays.
    let old = format!("{}-old", c.name);
    engine.rename(&id, &old).await.expect("rename");
    engine.stop(&id, Some(Duration::from_secs(10))).await.expect("stop");
    let observed = engine.observe(&project).await.expect("observe");
    assert_eq!(observed.containers[0].name, old);
    assert_eq!(observed.containers[0].state, ContainerState::Exited);
    engine.remove(&id).await.expect("remove");
    assert!(engine.observe(&project).await.expect("observe").containers.is_empty());
    engine.remove(&id).await.expect("removing a removed container is fine");
    assert_eq!(docker_ok(&["volume", "inspect", "--format", "{{.Name}}", &volume]), volume);
    assert_eq!(docker_ok(&["volume", "inspect", "--format", "{{index .Labels \"berth.project\"}}", &volume]), project);
}

#[tokio::test]
async fn observe_sees_only_its_own_project() {
    let engine = engine().await;
    let (a, b) = (unique_project("engine-own-a"), unique_project("engine-own-b"));
    let (_ga, _gb) = (ProjectGuard::new(&a), ProjectGuard::new(&b));
    let none = SecretEnv::new();
    engine.create(&a, &container(&a, &["sleep", "60"]), "h", &none).await.expect("create a");
    engine.create(&b, &container(&b, &["sleep", "60"]), "h", &none).await.expect("create b");
    let observed = engine.observe(&a).await.expect("observe");
    let names: Vec<_> = observed.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec![format!("{a}-web-web-1")]);
    assert_eq!(observed.containers[0].state, ContainerState::Created);
}

#[tokio::test]
async fn a_healthcheck_gates_readiness() {
    let engine = engine().await;
    let project = unique_project("engine-health");
    let _guard = ProjectGuard::new(&project);
    let mut c = container(&project, &["sh", "-c", "sleep 2; touch /tmp/ok; exec sleep 3600"]);
    c.config.healthcheck = Some(Health {
        test: vec!["CMD".into(), "test".into(), "-f".into(), "/tmp/ok".into()],
        interval_ns: secs(0.3),
        timeout_ns: secs(2.0),
        retries: 30,
        start_period_ns: 0,
    });
    let id = run(&engine, &project, &c, &SecretEnv::new()).await;
    let started = Instant::now();
    engine.wait_ready(&id, &c.name, Duration::from_secs(30)).await.expect("becomes healthy");
    assert!(started.elapsed() >= Duration::from_millis(1500), "ready before the check could pass");
    assert_eq!(containers(&project)[0].health, "healthy");
}

#[tokio::test]
async fn an_unhealthy_container_fails_fast() {
    let engine = engine().await;
    let project = unique_project("engine-unhealthy");
    let _guard = ProjectGuard::new(&project);
    let mut c = container(&project, &["sh", "-c", "echo up; exec sleep 3600"]);
    c.config.healthcheck = Some(Health {
        test: vec!["CMD-SHELL".into(), "echo probe says no; exit 1".into()],
        interval_ns: secs(0.3),
        timeout_ns: secs(2.0),
        retries: 2,
        start_period_ns: 0,
    });
    let id = run(&engine, &project, &c, &SecretEnv::new()).await;
    let started = Instant::now();
    let err = engine.wait_ready(&id, &c.name, Duration::from_secs(60)).await.expect_err("never healthy");
    assert!(started.elapsed() < Duration::from_secs(30), "did not fail fast: {err}");
    let EngineError::NotReady { name, message } = &err else { panic!("expected NotReady, got {err:?}") };
    assert_eq!(name, &c.name);
    assert!(message.contains("healthcheck failed: probe says no"), "{message}");
    assert!(message.contains("up"), "log lines missing: {message}");
}

#[tokio::test]
async fn a_crashing_container_is_not_ready_and_its_log_is_quoted_without_secrets() {
    let engine = engine().await;
    let project = unique_project("engine-crash");
    let _guard = ProjectGuard::new(&project);
    let mut c = container(&project, &["sh", "-c", "echo starting; echo \"token is $TOKEN\"; echo boom >&2; exit 3"]);
    c.config.env =
        BTreeMap::from([("TOKEN".into(), EnvValue::Secret { credential: "api".into(), fingerprint: "fp".into() })]);
    let secrets = SecretEnv::from([("TOKEN".into(), "crash-s3cret".into())]);
    let id = run(&engine, &project, &c, &secrets).await;
    let err = engine.wait_ready(&id, &c.name, Duration::from_secs(20)).await.expect_err("exits");
    let text = err.to_string();
    assert!(text.starts_with(&format!("container {} did not become ready: exited with code 3", c.name)), "{text}");
    for line in ["starting", "boom", "token is (sensitive value)"] {
        assert!(text.contains(line), "missing {line:?} in {text}");
    }
    assert!(!text.contains("crash-s3cret"), "secret leaked: {text}");
}

#[tokio::test]
async fn a_crash_loop_under_a_restart_policy_is_not_ready() {
    let engine = engine().await;
    let project = unique_project("engine-crashloop");
    let _guard = ProjectGuard::new(&project);
    let mut c = container(&project, &["sh", "-c", "echo crash-loop; sleep 0.3; exit 1"]);
    c.config.restart = Restart::Always;
    let id = run(&engine, &project, &c, &SecretEnv::new()).await;
    let err = engine.wait_ready(&id, &c.name, Duration::from_secs(20)).await.expect_err("crash loop");
    assert!(err.to_string().contains("crash-loop"), "{err}");
}

#[tokio::test]
async fn waiting_for_health_times_out_with_what_was_awaited() {
    let engine = engine().await;
    let project = unique_project("engine-timeout");
    let _guard = ProjectGuard::new(&project);
    let mut c = container(&project, &["sleep", "3600"]);
    c.config.healthcheck = Some(Health {
        test: vec!["CMD".into(), "false".into()],
        interval_ns: secs(10.0),
        timeout_ns: secs(1.0),
        retries: 3,
        start_period_ns: secs(60.0),
    });
    let id = run(&engine, &project, &c, &SecretEnv::new()).await;
    let err = engine.wait_ready(&id, &c.name, Duration::from_secs(2)).await.expect_err("times out");
    assert!(
        err.to_string().contains("did not become ready: timed out after 2s waiting for its healthcheck to pass"),
        "{err}"
    );
}

#[tokio::test]
async fn create_fails_clearly_for_a_missing_image_or_secret() {
    let engine = engine().await;
    let project = unique_project("engine-create-fail");
    let _guard = ProjectGuard::new(&project);
    let mut c = container(&project, &["true"]);
    c.config.image = "docker.io/library/busybox:no-such-tag".into();
    let err = engine.create(&project, &c, "h", &SecretEnv::new()).await.expect_err("no image");
    let text = err.to_string();
    assert!(text.starts_with(&format!("failed to create container {}:", c.name)), "{text}");
    assert!(text.contains("No such image"), "{text}");

    let mut c = container(&project, &["true"]);
    c.config.env =
        BTreeMap::from([("DB".into(), EnvValue::Secret { credential: "db".into(), fingerprint: "f".into() })]);
    let err = engine.create(&project, &c, "h", &SecretEnv::new()).await.expect_err("no secret");
    assert!(err.to_string().contains("secret env DB (credential db)"), "{err}");
    assert!(containers(&project).is_empty());
}

#[tokio::test]
async fn pull_from_a_private_registry_with_credentials_in_memory() {
    let engine = engine().await;
    let registry = LocalRegistry::with_auth("bob", "pull-pa55");
    let pushed = registry.push("busybox:1.37", "stand/busybox:1.37", Some(("bob", "pull-pa55")));
    docker_ok(&["rmi", &pushed]);
    assert_eq!(engine.image_id(&pushed).await.expect("image_id"), None);

    // Without credentials: refused, and the error names the image.
    let err = engine.pull(&pushed, None, None, crate::common::no_transfer()).await.expect_err("needs auth");
    let EngineError::Pull { image, message } = &err else { panic!("expected Pull, got {err:?}") };
    assert_eq!(image, &pushed);
    assert!(!message.is_empty());

    // Wrong password: refused, the password is not echoed.
    let wrong = PullAuth { server: registry.host(), username: "bob".into(), password: "wrong-pa55".into() };
    let err = engine.pull(&pushed, None, Some(&wrong), crate::common::no_transfer()).await.expect_err("bad password");
    assert!(err.to_string().starts_with(&format!("failed to pull {pushed}:")), "{err}");
    assert!(!err.to_string().contains("wrong-pa55"), "{err}");

    let auth = PullAuth { server: registry.host(), username: "bob".into(), password: "pull-pa55".into() };
    engine
        .pull(&pushed, Some(&host_platform()), Some(&auth), crate::common::no_transfer())
        .await
        .expect("pull with credentials");
    let id = engine.image_id(&pushed).await.expect("image_id").expect("pulled image is present");
    assert_eq!(id, docker_ok(&["image", "inspect", "--format", "{{.Id}}", "busybox:1.37"]));
    docker(&["rmi", &pushed]);
}

fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("linux/{arch}")
}

#[tokio::test]
async fn pull_from_an_unreachable_registry_names_the_image() {
    let engine = engine().await;
    let image = format!("127.0.0.1:{}/nothing/here:1", free_port());
    let err = engine.pull(&image, None, None, crate::common::no_transfer()).await.expect_err("nothing listens");
    assert!(err.to_string().starts_with(&format!("failed to pull {image}:")), "{err}");
}

// The fixtures themselves: the event window and the repo's cleanup.

#[tokio::test]
async fn event_counter_sees_mutations_and_observe_makes_none() {
    let engine = engine().await;
    let project = unique_project("engine-events");
    let _guard = ProjectGuard::new(&project);
    let c = container(&project, &["sleep", "60"]);

    let events = EventCounter::start(&project);
    let id = run(&engine, &project, &c, &SecretEnv::new()).await;
    let refused = engine.remove(&id).await;
    assert!(refused.is_err(), "a running container is never force-removed: {refused:?}");
    engine.stop(&id, Some(Duration::from_secs(1))).await.expect("stop");
    engine.remove(&id).await.expect("remove");
    let actions: Vec<String> = events.mutating().into_iter().map(|e| e.action).collect();
    for expected in ["create", "start", "kill", "die", "destroy"] {
        assert!(actions.iter().any(|a| a == expected), "no {expected} in {actions:?}");
    }

    let id = run(&engine, &project, &c, &SecretEnv::new()).await;
    engine.wait_ready(&id, &c.name, Duration::from_secs(20)).await.expect("ready");
    let events = EventCounter::start(&project);
    engine.observe(&project).await.expect("observe");
    engine.image_id(BUSYBOX).await.expect("image_id");
    assert_eq!(events.mutating(), vec![], "reads must not change anything");
}

#[test]
fn test_repo_writes_files_and_cleans_up_its_project() {
    require_engine();
    let repo = TestRepo::new("Fixture Cleanup_Test");
    let project = repo.project().to_string();
    assert!(project.starts_with("t-fixture-cleanup-test-"), "{project}");
    assert!(project.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{project}");
    repo.app("web", "image: busybox:1.36\n").file("conf/app.conf", "x=1\n");
    let read = |rel: &str| std::fs::read_to_string(repo.path().join(rel)).unwrap();
    assert_eq!(read("berth.yaml"), format!("project: {project}\n"));
    assert_eq!(read("apps/web.yaml"), "image: busybox:1.36\n");
    assert_eq!(read("conf/app.conf"), "x=1\n");

    let label = format!("berth.project={project}");
    let volume = format!("{project}_data");
    docker_ok(&["create", "--label", &label, "-v", &format!("{volume}:/data"), "busybox:1.36", "true"]);
    assert_eq!(repo.containers().len(), 1);
    drop(repo);
    assert!(containers(&project).is_empty(), "containers left behind");
    assert!(!docker(&["volume", "inspect", &volume]).status.success(), "volume left behind");
}

#[tokio::test]
async fn a_pull_reports_the_bytes_it_moves() {
    let engine = engine().await;
    let registry = LocalRegistry::start();
    // One layer of random bytes no other image shares: it must be downloaded.
    let dir = tempfile::tempdir().unwrap();
    let blob: Vec<u8> = (0..1 << 20).map(|_| rand::random::<u8>()).collect();
    std::fs::write(dir.path().join("blob"), blob).unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY blob /blob\n").unwrap();
    let local = format!("{}:1", unique_project("transfer"));
    docker_ok(&["build", "-q", "-t", &local, dir.path().to_str().unwrap()]);
    let pushed = registry.push(&local, "transfer/blob:1", None);
    docker_ok(&["rmi", &local, &pushed]);

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let transfer: berth::observe::Transfer =
        std::sync::Arc::new(move |moved, known| sink.lock().unwrap().push((moved, known)));
    engine.pull(&pushed, None, None, transfer).await.expect("pull");
    docker(&["rmi", &pushed]);
    let seen = seen.lock().unwrap().clone();
    let &(moved, known) = seen.last().unwrap_or_else(|| panic!("no progress reported"));
    assert_eq!(moved, known, "the pull ends with every byte moved: {seen:?}");
    assert!(known > 500_000, "the random layer is counted: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "bytes only grow: {seen:?}");
}
