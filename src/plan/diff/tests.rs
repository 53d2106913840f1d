//! Planner tests on plain values: no engine, no files.

use super::*;
use crate::desired::{ContainerConfig, DesiredContainer, EnvValue, Mount, MountKind, NetworkAttachment, PortBinding};
use crate::observe::{ContainerState, HostPort, Live, ObservedNetwork, OtherContainer, ResourceUpdate};
use crate::plan::ActionKind::*;
use crate::plan::{FieldChange, ReplaceStrategy};
use crate::spec::{Restart, UpdateOrder};

mod files;

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
            stop_grace_secs: Some(10),
            networks: vec![NetworkAttachment { name: "p_default".into(), aliases: vec![format!("{app}-{process}")] }],
            ..Default::default()
        },
        update_order: None,
        fingerprint_key: None,
        release: None,
        pin: None,
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
        fingerprint_key: None,
        release: None,
        pin: None,
        config: Some(c.config.clone()),
        live: Some(Live { config: c.config.clone(), ..Default::default() }),
    }
}

/// The engine with busybox, the project network and `containers`.
fn observed(containers: Vec<ObservedContainer>) -> Observed {
    Observed {
        containers,
        images: [(BUSYBOX.to_string(), ID_A.to_string())].into(),
        networks: [("p_default".to_string(), ObservedNetwork { id: "n1".into(), project: Some("p".into()) })].into(),
        ..Default::default()
    }
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
    // The first deploy is release 1, and the container says so.
    assert_eq!(a.detail, ActionDetail::Create { container: DesiredContainer { release: Some(1), ..c } });
    assert_eq!(p.summary.create, 1);
    assert_eq!(p.releases.iter().map(|r| (r.number, r.image.as_str())).collect::<Vec<_>>(), [(1, BUSYBOX)]);
}

#[test]
fn releases_are_recorded_on_the_engine_and_numbered_from_it() {
    let c = container("web", "web", 1);
    let tag = |n| crate::observe::releases::release_tag("p", "web", n);
    // Release 4 of this very image is on the engine: a new container runs release 4, nothing is recorded.
    let mut o = observed(vec![]);
    o.images.insert(tag(4), ID_A.into());
    o.images.insert(tag(6), ID_B.into());
    let p = plan(&desired(vec![app("web", vec![c.clone()])]), &o);
    assert!(matches!(&p.actions[0].detail, ActionDetail::Create { container } if container.release == Some(4)));
    assert!(p.releases.is_empty(), "{:?}", p.releases);
    // Another image: the next number after every one the engine knows.
    let mut moved = o.clone();
    moved.images.insert(BUSYBOX.into(), "sha256:cccc".into());
    let p = plan(&desired(vec![app("web", vec![c.clone()])]), &moved);
    assert_eq!(p.releases[0].number, 7);
    // Old tags beyond what is kept go, never one a container runs.
    let mut many = moved.clone();
    for n in 1..=12 {
        many.images.insert(tag(n), format!("sha256:{n:064}"));
    }
    let mut runs3 = running(&c, "sha256:x");
    runs3.release = Some(3);
    many.containers.push(runs3);
    let p = plan(&desired(vec![app("web", vec![c])]), &many);
    assert_eq!(p.releases[0].number, 13);
    assert_eq!(p.releases[0].forget, vec![2, 1], "12..4 kept with 13; 3 runs");
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
    let mut o = observed(vec![]);
    o.images.clear();
    let p = plan(&d, &o);
    assert_eq!(kinds(&p), vec![(Pull, "busybox:1.36"), (Create, "p-a-web-1"), (Create, "p-b-web-1")]);
    assert_eq!(p.actions[0].reason, "image not present locally");
    assert_eq!(p.summary.pull, 1);
}

#[test]
fn pull_policy_never_with_missing_image_is_unknown_not_a_change() {
    let mut a = app("a", vec![container("a", "web", 1)]);
    a.pull_policy = PullPolicy::Never;
    let mut o = observed(vec![]);
    o.images.clear();
    let p = plan(&desired(vec![a]), &o);
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
    assert!(matches!(
        &a.detail,
        ActionDetail::Replace { strategy: ReplaceStrategy::StartFirst, order_reason, .. } if order_reason == "no named volume or host port"
    ));
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
fn a_finished_job_is_complete_and_a_failed_one_is_drift() {
    let mut c = container("job", "web", 1);
    c.config.restart = Restart::No;
    let mut o = running(&c, ID_A);
    o.state = ContainerState::Exited;
    o.live.as_mut().unwrap().exit_code = Some(0);
    let p = plan(&desired(vec![app("job", vec![c.clone()])]), &observed(vec![o.clone()]));
    assert!(p.is_empty(), "{:#?}", p.actions);
    o.live.as_mut().unwrap().exit_code = Some(3);
    let p = plan(&desired(vec![app("job", vec![c])]), &observed(vec![o]));
    assert_eq!(p.actions[0].reason, "container is exited with code 3 (expected running)");
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
    assert_eq!(p.actions[0].detail, ActionDetail::Remove { id: "id-p-b-web-1".into(), stop_grace_secs: Some(10) });
}

#[test]
fn empty_repository_prunes_nothing_unless_allowed() {
    let gone = container("b", "web", 1);
    let o = observed(vec![running(&gone, ID_A)]);
    let p = plan(&desired(vec![]), &o);
    assert!(p.actions.is_empty());
    assert!(p.notes[0].message.contains("--allow-empty"), "{:?}", p.notes);
    assert_eq!(p.unpruned, 1);
    let p = diff(&desired(vec![]), &o, &DiffOptions { allow_empty: true, ..Default::default() });
    assert_eq!(kinds(&p), vec![(Remove, "p-b-web-1"), (Network, "p_default")]);
    assert_eq!(p.actions[1].detail, ActionDetail::RemoveNetwork { name: "p_default".into() });
    assert_eq!(p.actions[1].symbol(), "-");
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

fn order_of(p: &Plan) -> (ReplaceStrategy, String) {
    match &p.actions[0].detail {
        ActionDetail::Replace { strategy, order_reason, .. } => (*strategy, order_reason.clone()),
        other => panic!("not a replace: {other:?}"),
    }
}

#[test]
fn a_host_port_replaces_stop_first() {
    let mut old = container("web", "web", 1);
    old.config.ports = vec![PortBinding { host_ip: None, host_port: 8080, container_port: 80, protocol: "tcp".into() }];
    let mut new = old.clone();
    new.config.env.insert("X".into(), EnvValue::Plain("1".into()));
    let p = plan(&desired(vec![app("web", vec![new])]), &observed(vec![running(&old, ID_A)]));
    assert_eq!(order_of(&p), (ReplaceStrategy::StopFirst, "host port 8080/tcp".into()));
    assert_eq!(p.actions[0].changes[0].path, "env.X");
    assert_eq!(p.actions[0].changes[0].old, None);
}

#[test]
fn a_named_volume_replaces_stop_first_unless_update_order_says() {
    let mut old = container("db", "web", 1);
    old.config.mounts =
        vec![Mount { kind: MountKind::Volume, source: "p_data".into(), target: "/data".into(), ..Default::default() }];
    let mut new = old.clone();
    new.config.env.insert("X".into(), EnvValue::Plain("1".into()));
    let mut o = observed(vec![running(&old, ID_A)]);
    o.volumes.insert("p_data".into());
    let p = plan(&desired(vec![app("db", vec![new.clone()])]), &o);
    assert_eq!(order_of(&p), (ReplaceStrategy::StopFirst, "named volume data".into()));
    new.update_order = Some(UpdateOrder::StartFirst);
    let p = plan(&desired(vec![app("db", vec![new])]), &o);
    assert_eq!(order_of(&p), (ReplaceStrategy::StartFirst, "update-order".into()));
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
    let hidden = Some(crate::plan::SENSITIVE.to_string());
    assert_eq!((c.path.as_str(), c.sensitive, &c.old, &c.new), ("env.DATABASE_URL", true, &hidden, &hidden));
    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains("f1") || json.contains("fingerprint"), "only fingerprints, never values");

    // Added: nothing before.
    let mut plain = old.clone();
    plain.config.env.remove("DATABASE_URL");
    let p = plan(&desired(vec![app("web", vec![old])]), &observed(vec![running(&plain, ID_A)]));
    let c = &p.actions[0].changes[0];
    assert_eq!((&c.old, &c.new), (&None, &hidden));
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
    let mut updated = o.clone();
    updated.containers[0].live.as_mut().unwrap().config.memory = Some(1 << 30);
    assert_ne!(base, plan(&d, &updated).observed_fingerprint, "a docker update is a change");
    let mut no_network = o.clone();
    no_network.networks.clear();
    assert_ne!(base, plan(&d, &no_network).observed_fingerprint);
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

fn always(name: &str, c: DesiredContainer) -> DesiredApp {
    let mut a = app(name, vec![c]);
    a.pull_policy = PullPolicy::Always;
    a
}

#[test]
fn tag_unchanged_in_registry_plans_nothing() {
    let c = container("web", "web", 1);
    let mut o = observed(vec![running(&c, ID_A)]);
    o.images.insert(format!("docker.io/library/busybox@{DIGEST_A}"), ID_A.into());
    o.remote.insert(BUSYBOX.into(), RemoteDigest::Digest(DIGEST_A.into()));
    let p = plan(&desired(vec![always("web", c)]), &o);
    assert!(p.is_empty() && !p.is_incomplete(), "{:#?}", p);
}

#[test]
fn tag_moved_in_registry_pulls_and_replaces() {
    let c = container("web", "web", 1);
    let mut o = observed(vec![running(&c, ID_A)]);
    o.images.insert(format!("docker.io/library/busybox@{DIGEST_A}"), ID_A.into());
    o.remote.insert(BUSYBOX.into(), RemoteDigest::Digest(DIGEST_B.into()));
    let p = plan(&desired(vec![always("web", c)]), &o);
    assert_eq!(kinds(&p), vec![(Pull, "busybox:1.36"), (Replace, "p-web-web-1")]);
    assert_eq!(p.actions[0].reason, "image tag busybox:1.36 now resolves to sha256:222222222222 in the registry");
    assert_eq!(p.actions[1].reason, p.actions[0].reason);
}

#[test]
fn unreachable_registry_is_unknown_never_a_change() {
    let c = container("web", "web", 1);
    let mut o = observed(vec![running(&c, ID_A)]);
    o.remote.insert(BUSYBOX.into(), RemoteDigest::Unknown("registry docker.io did not answer".into()));
    let p = plan(&desired(vec![always("web", c.clone())]), &o);
    assert!(p.actions.is_empty());
    assert!(p.is_incomplete());
    assert_eq!(p.unknowns[0].message, "registry docker.io did not answer");
    // Another app on the same image that did not ask is planned as usual.
    let other = container("other", "web", 1);
    o.containers.push(running(&other, ID_A));
    let p = plan(&desired(vec![always("web", c), app("other", vec![other])]), &o);
    assert_eq!(p.unknowns.iter().map(|u| u.app.as_str()).collect::<Vec<_>>(), ["web"]);
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

#[test]
fn a_fresh_project_gets_its_network_and_volumes_first() {
    let mut c = container("db", "web", 1);
    c.config.mounts =
        vec![Mount { kind: MountKind::Volume, source: "p_data".into(), target: "/data".into(), ..Default::default() }];
    let mut o = observed(vec![]);
    o.networks.clear();
    let p = plan(&desired(vec![app("db", vec![c])]), &o);
    assert_eq!(kinds(&p), vec![(Network, "p_default"), (Volume, "p_data"), (Create, "p-db-web-1")]);
    assert_eq!(p.actions[0].symbol(), "+");
    assert_eq!(p.actions[1].reason, "named volume of app db missing");
    // Existing: nothing to do.
    let mut o = observed(vec![]);
    o.volumes.insert("p_data".into());
    let mut c = container("db", "web", 1);
    c.config.mounts =
        vec![Mount { kind: MountKind::Volume, source: "p_data".into(), target: "/data".into(), ..Default::default() }];
    let o = Observed { containers: vec![running(&c, ID_A)], ..o };
    assert!(plan(&desired(vec![app("db", vec![c])]), &o).is_empty());
}

#[test]
fn values_changed_by_hand_are_set_again_in_place() {
    let mut c = container("web", "web", 1);
    c.config.memory = Some(64 << 20);
    let mut o = running(&c, ID_A);
    let live = &mut o.live.as_mut().unwrap().config;
    live.memory = None;
    live.networks.clear();
    let p = plan(&desired(vec![app("web", vec![c.clone()])]), &observed(vec![o]));
    assert_eq!(kinds(&p), vec![(Update, "p-web-web-1")]);
    let a = &p.actions[0];
    assert!(a.reason.starts_with("resources.memory changed by hand: 64MiB → none"), "{}", a.reason);
    assert_eq!(
        a.detail,
        ActionDetail::Update {
            id: "id-p-web-web-1".into(),
            rename_to: None,
            resources: ResourceUpdate { memory: Some(64 << 20), ..Default::default() },
            connect: c.config.networks.clone(),
        }
    );
}

#[test]
fn a_value_the_engine_cannot_set_again_replaces() {
    let c = container("web", "web", 1);
    let mut o = running(&c, ID_A);
    o.live.as_mut().unwrap().config.env.insert("LOG_LEVEL".into(), EnvValue::Plain("trace".into()));
    let p = plan(&desired(vec![app("web", vec![c])]), &observed(vec![o]));
    assert_eq!(kinds(&p), vec![(Replace, "p-web-web-1")]);
    assert_eq!(p.actions[0].reason, r#"env.LOG_LEVEL changed by hand: info → trace"#);
    assert_eq!(p.actions[0].changes[0].old.as_deref(), Some("trace"));
}

#[test]
fn a_container_renamed_by_hand_gets_its_name_back() {
    let c = container("web", "web", 1);
    let mut o = running(&c, ID_A);
    o.name = "my-web".into();
    let p = plan(&desired(vec![app("web", vec![c])]), &observed(vec![o]));
    assert_eq!(kinds(&p), vec![(Update, "p-web-web-1")]);
    assert_eq!(p.actions[0].reason, "renamed by hand to my-web");
    assert!(matches!(&p.actions[0].detail, ActionDetail::Update { rename_to: Some(n), .. } if n == "p-web-web-1"));
}

#[test]
fn a_second_container_in_one_slot_is_removed() {
    let c = container("web", "web", 1);
    let keep = running(&c, ID_A);
    let mut left = running(&c, ID_A);
    left.id = "id-left".into();
    left.name = "p-web-web-1-old-12345678".into();
    left.state = ContainerState::Exited;
    let p = plan(&desired(vec![app("web", vec![c])]), &observed(vec![left, keep]));
    assert_eq!(kinds(&p), vec![(Remove, "p-web-web-1-old-12345678")]);
    assert!(p.actions[0].reason.contains("interrupted replace"), "{}", p.actions[0].reason);
}

fn other(name: &str, port: Option<u16>, networks: &[&str]) -> OtherContainer {
    OtherContainer {
        id: format!("{name}-id-0123456789"),
        name: name.into(),
        project: None,
        running: true,
        ports: port.map(|p| HostPort { ip: None, port: p, protocol: "tcp".into() }).into_iter().collect(),
        networks: networks.iter().map(|n| n.to_string()).collect(),
    }
}

#[test]
fn names_and_ports_held_outside_the_project_are_plan_errors() {
    let mut c = container("web", "web", 1);
    c.config.ports = vec![PortBinding { host_ip: None, host_port: 8080, container_port: 80, protocol: "tcp".into() }];
    let d = desired(vec![app("web", vec![c])]);
    let mut o = observed(vec![]);
    o.others = vec![other("p-web-web-1", None, &[]), other("proxy", Some(8080), &[])];
    let p = plan(&d, &o);
    assert!(p.is_incomplete());
    let messages: Vec<&str> = p.errors.iter().map(|e| e.message.as_str()).collect();
    assert!(messages[0].starts_with("container name p-web-web-1 is taken by container p-web-web-1"), "{messages:?}");
    assert!(
        messages[1]
            .starts_with("host port 8080/tcp of p-web-web-1 is already published by container proxy (not berth's)"),
        "{messages:?}"
    );
    // A process holding it: another error.
    let mut o = observed(vec![]);
    o.busy_ports.insert(HostPort { ip: None, port: 8080, protocol: "tcp".into() });
    let p = plan(&d, &o);
    assert!(p.errors[0].message.contains("in use by another process on this host"), "{:?}", p.errors);
    // A stopped container holds nothing; another protocol is no clash.
    let mut o = observed(vec![]);
    let mut stopped = other("proxy", None, &[]);
    stopped.running = false;
    o.others = vec![stopped];
    o.busy_ports.insert(HostPort { ip: None, port: 8080, protocol: "udp".into() });
    assert!(plan(&d, &o).errors.is_empty());
}

#[test]
fn more_cpus_than_the_engine_has_and_missing_networks_are_plan_errors() {
    let mut c = container("web", "web", 1);
    c.config.nano_cpus = Some(4_000_000_000);
    c.config.networks.push(NetworkAttachment { name: "proxy".into(), aliases: vec![] });
    let mut o = observed(vec![]);
    o.engine_cpus = Some(2);
    let p = plan(&desired(vec![app("web", vec![c])]), &o);
    let messages: Vec<&str> = p.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages.iter().any(|m| m.starts_with("network proxy (in `networks:`) does not exist")), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.starts_with("resources.cpus 4 is more than the engine's 2 CPU(s)")),
        "{messages:?}"
    );
}

#[test]
fn a_local_image_for_another_platform_is_a_plan_error() {
    let mut c = container("web", "web", 1);
    c.config.platform = Some("linux/arm64".into());
    let mut o = observed(vec![]);
    o.local_platforms.insert(BUSYBOX.into(), "linux/amd64".into());
    let p = plan(&desired(vec![app("web", vec![c.clone()])]), &o);
    assert!(p.errors[0].message.starts_with("the local image busybox:1.36 is for linux/amd64"), "{:?}", p.errors);
    o.local_platforms.insert(BUSYBOX.into(), "linux/arm64".into());
    assert!(plan(&desired(vec![app("web", vec![c])]), &o).errors.is_empty());
}

#[test]
fn the_project_network_stays_while_another_container_uses_it() {
    let gone = container("b", "web", 1);
    let mut o = observed(vec![running(&gone, ID_A)]);
    o.others = vec![other("debug-shell", None, &["p_default"])];
    let p = diff(&desired(vec![]), &o, &DiffOptions { allow_empty: true, ..Default::default() });
    assert_eq!(kinds(&p), vec![(Remove, "p-b-web-1")]);
    assert!(p.notes.iter().any(|n| n.message.contains("debug-shell")), "{:?}", p.notes);
    // A network berth did not make is never removed.
    let mut o = observed(vec![running(&gone, ID_A)]);
    o.networks.get_mut("p_default").unwrap().project = None;
    let p = diff(&desired(vec![]), &o, &DiffOptions { allow_empty: true, ..Default::default() });
    assert_eq!(kinds(&p), vec![(Remove, "p-b-web-1")]);
}
