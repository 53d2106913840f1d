//! Planner tests on plain values: no engine, no files.

use super::*;
use crate::desired::{EnvValue, PortBinding};
use crate::plan::ActionKind::*;
use crate::spec::Restart;

const BUSYBOX: &str = "docker.io/library/busybox:1.36";
const ID_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const ID_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn container(app: &str, process: &str, replica: u32) -> DesiredContainer {
    DesiredContainer {
        name: format!("p-{app}-{process}-{replica}"),
        app: app.into(),
        process: process.into(),
        replica,
        config: ContainerConfig {
            image: BUSYBOX.into(),
            command: Some(vec!["sleep".into(), "3600".into()]),
            env: [("LOG_LEVEL".to_string(), EnvValue::Plain("info".into()))].into(),
            restart: Restart::UnlessStopped,
            ..Default::default()
        },
    }
}

fn app(name: &str, containers: Vec<DesiredContainer>) -> DesiredApp {
    DesiredApp {
        name: name.into(),
        suspended: false,
        image: BUSYBOX.into(),
        build: None,
        pull_policy: PullPolicy::Missing,
        pull_credential: crate::resolve::Choice { name: None, why: "anonymous".into() },
        containers,
    }
}

fn desired(apps: Vec<DesiredApp>) -> Desired {
    Desired { project: "p".into(), empty: apps.is_empty(), apps }
}

/// The container as berth would have created it from `c` with image `id`.
fn running(c: &DesiredContainer, id: &str) -> ObservedContainer {
    ObservedContainer {
        id: format!("id-{}", c.name),
        name: c.name.clone(),
        app: c.app.clone(),
        process: c.process.clone(),
        replica: c.replica,
        state: ContainerState::Running,
        image_id: id.into(),
        spec_hash: Some(c.config.spec_hash(id)),
        config: Some(c.config.clone()),
    }
}

fn observed(containers: Vec<ObservedContainer>) -> Observed {
    Observed { containers, images: [(BUSYBOX.to_string(), ID_A.to_string())].into(), ..Default::default() }
}

fn plan(d: &Desired, o: &Observed) -> Plan {
    diff(d, o, &DiffOptions::default())
}

fn kinds(p: &Plan) -> Vec<(ActionKind, &str)> {
    p.actions.iter().map(|a| (a.kind, a.target.as_str())).collect()
}

#[test]
fn nothing_desired_nothing_running_is_empty() {
    let p = plan(&desired(vec![]), &Observed::default());
    assert!(p.is_empty() && !p.is_incomplete());
    assert_eq!(p.summary, Summary::default());
}

#[test]
fn missing_container_is_created_with_its_values() {
    let c = container("web", "web", 1);
    let p = plan(&desired(vec![app("web", vec![c.clone()])]), &observed(vec![]));
    assert_eq!(kinds(&p), vec![(Create, "p-web-web-1")]);
    let a = &p.actions[0];
    assert_eq!(a.reason, "container missing");
    assert!(a.changes.iter().any(|f| f.path == "env.LOG_LEVEL" && f.new.as_deref() == Some("info")));
    assert!(a.changes.iter().any(|f| f.path == "image" && f.new.as_deref() == Some("busybox:1.36")));
    assert_eq!(a.detail, ActionDetail::Create { container: c });
    assert_eq!(p.summary.create, 1);
}

#[test]
fn converged_state_plans_nothing() {
    let cs = vec![container("web", "web", 1), container("web", "web", 2), container("web", "worker", 1)];
    let o = observed(cs.iter().map(|c| running(c, ID_A)).collect());
    let p = plan(&desired(vec![app("web", cs)]), &o);
    assert!(p.is_empty(), "{:#?}", p.actions);
}

#[test]
fn missing_image_is_pulled_once_before_container_changes() {
    let d = desired(vec![app("a", vec![container("a", "web", 1)]), app("b", vec![container("b", "web", 1)])]);
    let o = Observed::default();
    let p = plan(&d, &o);
    assert_eq!(kinds(&p), vec![(Pull, "busybox:1.36"), (Create, "p-a-web-1"), (Create, "p-b-web-1")]);
    assert_eq!(p.actions[0].reason, "image not present locally");
    assert_eq!(p.summary.pull, 1);
}

#[test]
fn pull_policy_never_with_missing_image_is_unknown_not_a_change() {
    let mut a = app("a", vec![container("a", "web", 1)]);
    a.pull_policy = PullPolicy::Never;
    let p = plan(&desired(vec![a]), &Observed::default());
    assert!(p.actions.is_empty());
    assert!(p.is_incomplete());
    assert!(p.unknowns[0].message.contains("pull.policy is never"), "{:?}", p.unknowns);
}

#[test]
fn env_change_replaces_with_field_diff() {
    let old = container("web", "web", 1);
    let mut new = old.clone();
    new.config.env.insert("LOG_LEVEL".into(), EnvValue::Plain("debug".into()));
    let p = plan(&desired(vec![app("web", vec![new])]), &observed(vec![running(&old, ID_A)]));
    assert_eq!(kinds(&p), vec![(Replace, "p-web-web-1")]);
    let a = &p.actions[0];
    assert_eq!(a.reason, "env.LOG_LEVEL changed");
    assert_eq!(
        a.changes,
        vec![FieldChange {
            path: "env.LOG_LEVEL".into(),
            old: Some("info".into()),
            new: Some("debug".into()),
            sensitive: false
        }]
    );
    assert!(matches!(a.detail, ActionDetail::Replace { strategy: ReplaceStrategy::StartFirst, .. }));
}

#[test]
fn tag_now_resolving_to_another_image_replaces() {
    let c = container("web", "web", 1);
    let mut o = observed(vec![running(&c, ID_A)]);
    o.images.insert(BUSYBOX.into(), ID_B.into());
    let p = plan(&desired(vec![app("web", vec![c])]), &o);
    assert_eq!(kinds(&p), vec![(Replace, "p-web-web-1")]);
    assert_eq!(p.actions[0].reason, "image tag busybox:1.36 now resolves to sha256:bbbbbbbbbbbb");
    assert_eq!(p.actions[0].changes[0].path, "image-id");
}

#[test]
fn changed_image_tag_shows_as_image_field() {
    let old = container("web", "web", 1);
    let mut new = old.clone();
    new.config.image = "docker.io/library/busybox:1.37".into();
    let mut a = app("web", vec![new]);
    a.image = "docker.io/library/busybox:1.37".into();
    let mut o = observed(vec![running(&old, ID_A)]);
    o.images.insert("docker.io/library/busybox:1.37".into(), ID_B.into());
    let p = plan(&desired(vec![a]), &o);
    assert_eq!(kinds(&p), vec![(Replace, "p-web-web-1")]);
    assert_eq!(p.actions[0].reason, "image changed");
    assert_eq!(p.actions[0].changes[0].old.as_deref(), Some("busybox:1.36"));
    assert_eq!(p.actions[0].changes[0].new.as_deref(), Some("busybox:1.37"));
}

#[test]
fn stopped_container_is_drift() {
    let c = container("web", "web", 1);
    let mut o = running(&c, ID_A);
    o.state = ContainerState::Exited;
    let p = plan(&desired(vec![app("web", vec![c])]), &observed(vec![o]));
    assert_eq!(kinds(&p), vec![(Replace, "p-web-web-1")]);
    assert_eq!(p.actions[0].reason, "container is exited (expected running)");
}

#[test]
fn container_without_config_label_but_other_hash_is_replaced() {
    let c = container("web", "web", 1);
    let mut o = running(&c, ID_A);
    o.config = None;
    o.spec_hash = Some("something-else".into());
    let p = plan(&desired(vec![app("web", vec![c])]), &observed(vec![o]));
    assert_eq!(p.actions[0].reason, "spec-hash differs from the desired configuration");
}

#[test]
fn fewer_replicas_and_dropped_process_are_removed() {
    let keep = container("web", "web", 1);
    let extra = container("web", "web", 2);
    let gone = container("web", "worker", 1);
    let o = observed(vec![running(&keep, ID_A), running(&extra, ID_A), running(&gone, ID_A)]);
    let p = plan(&desired(vec![app("web", vec![keep])]), &o);
    assert_eq!(kinds(&p), vec![(Remove, "p-web-web-2"), (Remove, "p-web-worker-1")]);
    assert_eq!(p.actions[0].reason, "replica 2 of process web no longer declared");
    assert_eq!(p.actions[1].reason, "process worker not in repository");
}

#[test]
fn app_gone_from_repository_is_pruned() {
    let keep = container("a", "web", 1);
    let gone = container("b", "web", 1);
    let p =
        plan(&desired(vec![app("a", vec![keep.clone()])]), &observed(vec![running(&keep, ID_A), running(&gone, ID_A)]));
    assert_eq!(kinds(&p), vec![(Remove, "p-b-web-1")]);
    assert_eq!(p.actions[0].reason, "app not in repository");
    assert_eq!(p.actions[0].detail, ActionDetail::Remove { id: "id-p-b-web-1".into() });
}

#[test]
fn empty_repository_prunes_nothing_unless_allowed() {
    let gone = container("b", "web", 1);
    let o = observed(vec![running(&gone, ID_A)]);
    let p = plan(&desired(vec![]), &o);
    assert!(p.actions.is_empty());
    assert!(p.notes[0].message.contains("--allow-empty"), "{:?}", p.notes);
    let p = diff(&desired(vec![]), &o, &DiffOptions { allow_empty: true, ..Default::default() });
    assert_eq!(kinds(&p), vec![(Remove, "p-b-web-1")]);
}

#[test]
fn suspended_app_is_neither_changed_nor_pruned() {
    let old = container("web", "web", 1);
    let mut new = old.clone();
    new.config.env.insert("LOG_LEVEL".into(), EnvValue::Plain("debug".into()));
    let mut a = app("web", vec![new]);
    a.suspended = true;
    let p = plan(&desired(vec![a]), &observed(vec![running(&old, ID_A), running(&container("web", "web", 2), ID_A)]));
    assert!(p.actions.is_empty(), "{:#?}", p.actions);
    assert_eq!(p.notes[0].app.as_deref(), Some("web"));
    assert!(p.notes[0].message.contains("suspended"));
}

#[test]
fn shared_host_port_replaces_stop_first() {
    let mut old = container("web", "web", 1);
    old.config.ports = vec![PortBinding { host_ip: None, host_port: 8080, container_port: 80, protocol: "tcp".into() }];
    let mut new = old.clone();
    new.config.env.insert("X".into(), EnvValue::Plain("1".into()));
    let p = plan(&desired(vec![app("web", vec![new])]), &observed(vec![running(&old, ID_A)]));
    assert!(matches!(p.actions[0].detail, ActionDetail::Replace { strategy: ReplaceStrategy::StopFirst, .. }));
    assert_eq!(p.actions[0].changes[0].path, "env.X");
    assert_eq!(p.actions[0].changes[0].old, None);
}

#[test]
fn secret_values_never_reach_the_plan() {
    let secret = |fp: &str| EnvValue::Secret { credential: "db".into(), fingerprint: fp.into() };
    let mut old = container("web", "web", 1);
    old.config.env.insert("DATABASE_URL".into(), secret("f1"));
    let mut new = old.clone();
    new.config.env.insert("DATABASE_URL".into(), secret("f2"));
    let p = plan(&desired(vec![app("web", vec![new])]), &observed(vec![running(&old, ID_A)]));
    let c = &p.actions[0].changes[0];
    assert_eq!((c.path.as_str(), c.sensitive, &c.old, &c.new), ("env.DATABASE_URL", true, &None, &None));
}

#[test]
fn fingerprint_follows_containers_and_images() {
    let c = container("web", "web", 1);
    let d = desired(vec![app("web", vec![c.clone()])]);
    let o = observed(vec![running(&c, ID_A)]);
    let base = plan(&d, &o).observed_fingerprint;
    assert_eq!(base, plan(&d, &o).observed_fingerprint, "deterministic");
    let mut stopped = o.clone();
    stopped.containers[0].state = ContainerState::Exited;
    assert_ne!(base, plan(&d, &stopped).observed_fingerprint);
    let mut retagged = o.clone();
    retagged.images.insert(BUSYBOX.into(), ID_B.into());
    assert_ne!(base, plan(&d, &retagged).observed_fingerprint);
}

#[test]
fn plan_json_round_trips() {
    let d = desired(vec![app("web", vec![container("web", "web", 1)])]);
    let p = plan(&d, &Observed::default());
    let back: Plan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

const DIGEST_A: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const DIGEST_B: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

#[test]
fn tag_unchanged_in_registry_plans_nothing() {
    let c = container("web", "web", 1);
    let mut o = observed(vec![running(&c, ID_A)]);
    o.images.insert(format!("docker.io/library/busybox@{DIGEST_A}"), ID_A.into());
    o.remote.insert(BUSYBOX.into(), RemoteDigest::Digest(DIGEST_A.into()));
    let p = plan(&desired(vec![app("web", vec![c])]), &o);
    assert!(p.is_empty() && !p.is_incomplete(), "{:#?}", p);
}

#[test]
fn tag_moved_in_registry_pulls_and_replaces() {
    let c = container("web", "web", 1);
    let mut o = observed(vec![running(&c, ID_A)]);
    o.images.insert(format!("docker.io/library/busybox@{DIGEST_A}"), ID_A.into());
    o.remote.insert(BUSYBOX.into(), RemoteDigest::Digest(DIGEST_B.into()));
    let p = plan(&desired(vec![app("web", vec![c])]), &o);
    assert_eq!(kinds(&p), vec![(Pull, "busybox:1.36"), (Replace, "p-web-web-1")]);
    assert_eq!(p.actions[0].reason, "image tag busybox:1.36 now resolves to sha256:222222222222 in the registry");
    assert_eq!(p.actions[1].reason, p.actions[0].reason);
}

#[test]
fn unreachable_registry_is_unknown_never_a_change() {
    let c = container("web", "web", 1);
    let mut o = observed(vec![running(&c, ID_A)]);
    o.remote.insert(BUSYBOX.into(), RemoteDigest::Unknown("registry docker.io did not answer".into()));
    let p = plan(&desired(vec![app("web", vec![c])]), &o);
    assert!(p.actions.is_empty());
    assert!(p.is_incomplete());
    assert_eq!(p.unknowns[0].message, "registry docker.io did not answer");
}

#[test]
fn an_image_without_the_wanted_platform_is_a_plan_time_error() {
    let c = container("web", "web", 1);
    let mut o = observed(vec![]);
    o.images.clear();
    o.platforms.insert(BUSYBOX.into(), vec!["linux/arm64/v8".into()]);
    o.engine_platform = Some("linux/amd64".into());
    let p = plan(&desired(vec![app("web", vec![c.clone()])]), &o);
    assert!(p.actions.is_empty() && p.is_incomplete());
    assert!(p.unknowns[0].message.contains("no manifest for linux/amd64"), "{}", p.unknowns[0].message);
    assert!(p.unknowns[0].message.contains("linux/arm64/v8"));

    o.platforms.insert(BUSYBOX.into(), vec!["linux/arm64/v8".into(), "linux/amd64".into()]);
    let p = plan(&desired(vec![app("web", vec![c])]), &o);
    assert_eq!(kinds(&p), vec![(Pull, "busybox:1.36"), (Create, "p-web-web-1")]);
}
