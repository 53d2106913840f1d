//! Build apps in the planner, on plain values.

use crate::desired::{ContainerConfig, Desired, DesiredApp, DesiredBuild, DesiredContainer, DesiredPush};
use crate::observe::Pin;
use crate::observe::{ContainerState, Observed, ObservedContainer, RemoteDigest};
use crate::plan::diff::{diff, DiffOptions};
use crate::plan::{queries, ActionDetail, ActionKind, Plan};
use crate::source::{BuildInputs, ContextFrom, ContextVersion};
use crate::spec::PullPolicy;

const REPO: &str = "127.0.0.1:5000/app-web";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const ARTIFACT: &str = "127.0.0.1:5000/app-web:0123456789ab";
/// The identity the tag of `ARTIFACT` starts with (the planner takes it as given).
const IDENTITY: &str = "0123456789ab0000000000000000000000000000000000000000000000000000";
const ID: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn app(push: Option<DesiredPush>) -> DesiredApp {
    let build = DesiredBuild {
        context: "services/web".into(),
        dockerfile: "Dockerfile".into(),
        args: Default::default(),
        target: None,
        platform: None,
        credentials: vec![],
        version: ContextVersion {
            from: ContextFrom::Commit { commit: COMMIT.into() },
            content: "c".repeat(64),
            dockerfile_blob: "d".repeat(40),
            other_files: "o".repeat(64),
        },
        identity: IDENTITY.into(),
        repository: REPO.into(),
        push,
    };
    DesiredApp {
        name: "web".into(),
        suspended: false,
        image: ARTIFACT.into(),
        build: Some(build),
        pull_policy: PullPolicy::Missing,
        pull_credential: crate::resolve::Choice { name: Some("reg".into()), why: String::new() },
        containers: vec![DesiredContainer {
            name: "p-web-web-1".into(),
            app: "web".into(),
            process: "web".into(),
            replica: 1,
            config: ContainerConfig { image: ARTIFACT.into(), ..Default::default() },
            update_order: None,
            fingerprint_key: None,
            release: None,
            pin: None,
        }],
    }
}

fn push(on_release: bool) -> Option<DesiredPush> {
    Some(DesiredPush { credential: Some("reg".into()), extra_tags: vec!["latest".into()], on_release })
}

/// The plan for `app` on an engine that has `o` and the project network.
fn plan(app: DesiredApp, o: &Observed) -> Plan {
    let mut o = o.clone();
    let network = crate::observe::ObservedNetwork { id: "n".into(), project: Some("p".into()) };
    o.networks.insert("p_default".into(), network);
    diff(&Desired { project: "p".into(), apps: vec![app], empty: false }, &o, &DiffOptions::default())
}

fn plan_allowing_dirty(app: DesiredApp, o: &Observed) -> Plan {
    let opts = DiffOptions { allow_dirty: true, ..Default::default() };
    diff(&Desired { project: "p".into(), apps: vec![app], empty: false }, o, &opts)
}

fn kinds(p: &Plan) -> Vec<(ActionKind, &str)> {
    p.actions.iter().map(|a| (a.kind, a.target.as_str())).collect()
}

fn running(image: &str, id: &str) -> ObservedContainer {
    let config = ContainerConfig { image: image.into(), ..Default::default() };
    ObservedContainer {
        id: "c1".into(),
        name: "p-web-web-1".into(),
        app: "web".into(),
        process: "web".into(),
        replica: 1,
        state: ContainerState::Running,
        image_id: id.into(),
        spec_hash: Some(config.spec_hash(id)),
        live: Some(crate::observe::Live { config: config.clone(), ..Default::default() }),
        fingerprint_key: None,
        release: Some(1),
        pin: None,
        config: Some(config),
    }
}

/// The engine's record of release `n` of app `web`: its tag.
fn released(n: u32) -> String {
    crate::observe::releases::release_tag("p", "web", n)
}

/// What the engine lists after a push of `ARTIFACT`: a digest in its repository.
fn pushed_digest() -> String {
    format!("{REPO}@sha256:{}", "d".repeat(64))
}

#[test]
fn a_local_build_is_built_once() {
    let p = plan(app(None), &Observed::default());
    assert_eq!(
        kinds(&p),
        [(ActionKind::Build, "127.0.0.1:5000/app-web:0123456789ab"), (ActionKind::Create, "p-web-web-1")]
    );
    assert!(p.actions[0].reason.contains("build 0123456789ab"), "{}", p.actions[0].reason);
    let ActionDetail::Build { tags, .. } = &p.actions[0].detail else { panic!() };
    assert_eq!(tags, &[ARTIFACT.to_string(), format!("{REPO}:latest")]);
    assert_eq!(p.releases.len(), 1, "the first deploy is release 1");
    assert_eq!(p.releases[0].number, 1);

    // Built, released and running: nothing to do, nothing to ask.
    let o = Observed {
        images: [(ARTIFACT.to_string(), ID.to_string()), (released(1), ID.to_string())].into(),
        containers: vec![running(ARTIFACT, ID)],
        ..Default::default()
    };
    let p = plan(app(None), &o);
    assert!(p.is_empty() && p.releases.is_empty(), "{:?}", p.actions);
    assert!(queries(&Desired { project: "p".into(), apps: vec![app(None)], empty: false }, &o, false, None).is_empty());
}

#[test]
fn a_new_build_is_pushed_with_its_extra_tags() {
    let o = Observed { remote: [(ARTIFACT.to_string(), RemoteDigest::Absent)].into(), ..Default::default() };
    let p = plan(app(push(false)), &o);
    assert_eq!(
        kinds(&p).iter().map(|k| k.0).collect::<Vec<_>>(),
        [ActionKind::Build, ActionKind::Push, ActionKind::Create]
    );
    let ActionDetail::Push { image, tags, release, credential } = &p.actions[1].detail else { panic!() };
    assert_eq!((image.as_str(), tags.as_slice(), *release), (ARTIFACT, &["latest".to_string()][..], None));
    assert_eq!(credential.as_deref(), Some("reg"));
    assert_eq!(p.summary.build, 1);
    assert_eq!(p.summary.push, 1);
}

#[test]
fn a_build_in_the_registry_is_pulled_not_rebuilt() {
    let o = Observed { remote: [(ARTIFACT.to_string(), RemoteDigest::Digest(ID.into()))].into(), ..Default::default() };
    let p = plan(app(push(false)), &o);
    assert_eq!(kinds(&p)[0], (ActionKind::Pull, "127.0.0.1:5000/app-web:0123456789ab"));
    assert_eq!(p.actions[0].reason, "missing locally");
    assert!(matches!(&p.actions[0].detail, ActionDetail::Pull { build_of: Some(a), .. } if a == "web"));
    assert!(!p.actions.iter().any(|a| matches!(a.kind, ActionKind::Build | ActionKind::Push)));
}

#[test]
fn a_local_build_not_yet_pushed_is_pushed_once() {
    let mut o = Observed { images: [(ARTIFACT.to_string(), ID.to_string())].into(), ..Default::default() };
    o.containers.push(running(ARTIFACT, ID));
    o.images.insert(released(1), ID.into());
    assert_eq!(kinds(&plan(app(push(false)), &o)), [(ActionKind::Push, "127.0.0.1:5000/app-web:0123456789ab")]);
    // The engine knows a digest of it in its repository: pushed (from any machine).
    o.images.insert(pushed_digest(), ID.into());
    assert!(plan(app(push(false)), &o).is_empty());
}

#[test]
fn an_unreachable_registry_is_unknown_not_a_build() {
    let o = Observed {
        remote: [(ARTIFACT.to_string(), RemoteDigest::Unknown("registry down".into()))].into(),
        ..Default::default()
    };
    let p = plan(app(push(false)), &o);
    assert!(p.is_incomplete() && p.actions.is_empty());
    assert_eq!(p.unknowns[0].message, "registry down");
}

#[test]
fn releases_take_the_next_number_from_the_registry_and_the_engine() {
    let d = Desired { project: "p".into(), apps: vec![app(push(true))], empty: false };
    let mut o = Observed { images: [(ARTIFACT.to_string(), ID.to_string())].into(), ..Default::default() };
    let q = queries(&d, &o, false, None);
    assert_eq!(q.tags.keys().collect::<Vec<_>>(), [REPO]);
    assert!(q.artifacts.is_empty(), "the build image is local");

    o.registry_tags.insert(REPO.into(), Ok(vec!["1".into(), "2".into(), "latest".into(), "07x".into()]));
    let p = plan(app(push(true)), &o);
    let ActionDetail::Push { tags, release, .. } = &p.actions[0].detail else { panic!("{:?}", p.actions) };
    assert_eq!((tags.clone(), *release), (vec!["latest".to_string(), "3".to_string()], Some(3)));
    let ActionDetail::Create { container } = &p.actions[1].detail else { panic!() };
    assert_eq!(container.config.image, format!("{REPO}:3"), "containers run the release tag");
    assert_eq!(container.release, Some(3), "and say so");
    assert_eq!((p.releases[0].number, p.releases[0].image.as_str()), (3, format!("{REPO}:3").as_str()));

    // The engine knows a higher number than the registry (a failed cleanup there).
    o.images.insert(released(7), "sha256:other".into());
    let p = plan(app(push(true)), &o);
    assert!(matches!(&p.actions[0].detail, ActionDetail::Push { release: Some(8), .. }));

    // Registry tags unknown: the number is unknown, never guessed.
    o.registry_tags.insert(REPO.into(), Err("registry down".into()));
    assert!(plan(app(push(true)), &o).is_incomplete());
}

#[test]
fn a_made_release_is_run_or_pulled_again() {
    let tag3 = format!("{REPO}:3");
    let mut running3 = running(&tag3, ID);
    running3.release = Some(3);
    let mut o = Observed {
        images: [(ARTIFACT.to_string(), ID.to_string()), (tag3.clone(), ID.to_string()), (released(3), ID.to_string())]
            .into(),
        containers: vec![running3],
        ..Default::default()
    };
    // Found from the engine's tags alone: no state dir needed.
    let d = Desired { project: "p".into(), apps: vec![app(push(true))], empty: false };
    assert!(queries(&d, &o, false, None).is_empty());
    assert!(plan(app(push(true)), &o).is_empty());

    // A new host (nothing local): the registry has the build, so it is pulled
    // back, never rebuilt, and released there under the next free number.
    o.images.clear();
    o.containers.clear();
    o.remote.insert(ARTIFACT.into(), RemoteDigest::Digest(ID.into()));
    o.registry_tags.insert(REPO.into(), Ok(vec!["1".into(), "2".into(), "3".into()]));
    let p = plan(app(push(true)), &o);
    assert_eq!(kinds(&p)[0], (ActionKind::Pull, ARTIFACT));
    assert!(!p.actions.iter().any(|a| a.kind == ActionKind::Build));
    assert!(matches!(&p.actions[1].detail, ActionDetail::Push { release: Some(4), .. }), "{:?}", p.actions);
}

/// `app` built from the working tree (uncommitted `services/web/app.txt`).
fn dirty(mut a: DesiredApp) -> DesiredApp {
    let b = a.build.as_mut().unwrap();
    b.version.from = ContextFrom::WorkingTree {
        why: "uncommitted changes in services/web".into(),
        files: vec!["services/web/app.txt".into()],
        more: 2,
    };
    a
}

#[test]
fn a_dirty_build_without_a_push_warns() {
    let p = plan(dirty(app(None)), &Observed::default());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let note = &p.notes[0].message;
    assert!(note.contains("uncommitted changes in services/web (services/web/app.txt and 2 more)"), "{note}");
    assert!(note.contains("tagged by its content (0123456789ab)"), "{note}");
    assert_eq!(p.actions[0].kind, ActionKind::Build);
    assert_eq!(p.actions[0].reason, "no image yet for build 0123456789ab (uncommitted changes in services/web)");
}

#[test]
fn a_dirty_build_is_never_pushed_or_released_unless_allowed() {
    let o = Observed { remote: [(ARTIFACT.to_string(), RemoteDigest::Absent)].into(), ..Default::default() };
    for on_release in [false, true] {
        let p = plan(dirty(app(push(on_release))), &o);
        assert!(p.is_incomplete(), "a plan error: never applied");
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].app.as_deref(), Some("web"));
        let e = &p.errors[0].message;
        assert!(
            e.contains("build context services/web has uncommitted files (services/web/app.txt and 2 more)"),
            "{e}"
        );
        assert!(e.contains("never pushed or released") && e.contains("--allow-dirty"), "{e}");
        assert!(!p.actions.iter().any(|a| a.kind == ActionKind::Push), "{:?}", p.actions);
        assert!(p.actions.iter().all(|a| !matches!(a.detail, ActionDetail::Push { .. })));
    }

    // Not committed at all: said so.
    let mut a = dirty(app(push(false)));
    a.build.as_mut().unwrap().version.from =
        ContextFrom::WorkingTree { why: "not a git repository".into(), files: vec![], more: 0 };
    let e = &plan(a, &o).errors[0].message;
    assert!(e.starts_with("build context services/web is not committed (not a git repository)"), "{e}");

    // --allow-dirty: pushed, with a warning.
    let mut o = o;
    o.registry_tags.insert(REPO.into(), Ok(vec![]));
    let p = plan_allowing_dirty(dirty(app(push(true))), &o);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert!(matches!(&p.actions[1].detail, ActionDetail::Push { release: Some(1), .. }), "{:?}", p.actions);
    assert!(p.notes[0].message.ends_with("pushed anyway (--allow-dirty)"), "{}", p.notes[0].message);
}

#[test]
fn a_committed_build_is_never_refused() {
    let o = Observed { remote: [(ARTIFACT.to_string(), RemoteDigest::Absent)].into(), ..Default::default() };
    let p = plan(app(push(false)), &o);
    assert!(p.errors.is_empty() && p.notes.is_empty(), "{:?} {:?}", p.errors, p.notes);
    assert_eq!(p.actions[0].reason, "no image yet for build 0123456789ab (services/web as committed in 0123456789ab)");
}

#[test]
fn the_build_reason_names_the_inputs_that_changed() {
    let old_id = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    let old_image = format!("{REPO}:aaaaaaaaaaaa");
    let mut label = app(None).build.unwrap().inputs();
    label.args.insert("RELEASE".into(), "1".into());
    label.target = Some("dev".into());
    let o = Observed {
        images: [(old_image.clone(), old_id.to_string())].into(),
        build_labels: [(old_id.to_string(), serde_json::to_string(&label).unwrap())].into(),
        containers: vec![running(&old_image, old_id)],
        ..Default::default()
    };
    let mut a = app(None);
    a.build.as_mut().unwrap().args.insert("RELEASE".into(), "2".into());
    let p = plan(a, &o);
    assert_eq!(p.actions[0].kind, ActionKind::Build);
    assert_eq!(p.actions[0].reason, "build inputs changed: args.RELEASE, target");

    // The same inputs under another tag (a label from an older berth, say):
    // the reason falls back to the identity.
    let p = plan(app(None), &Observed { build_labels: [(old_id.into(), "{not json".into())].into(), ..o.clone() });
    assert!(p.actions[0].reason.starts_with("no image yet for build 0123456789ab"), "{}", p.actions[0].reason);
    let same = BuildInputs { ..app(None).build.unwrap().inputs() };
    let p = plan(
        app(None),
        &Observed { build_labels: [(old_id.into(), serde_json::to_string(&same).unwrap())].into(), ..o },
    );
    assert!(p.actions[0].reason.starts_with("no image yet for build"), "{}", p.actions[0].reason);
}

#[test]
fn an_up_to_date_build_names_its_commit() {
    let o = Observed {
        images: [(ARTIFACT.to_string(), ID.to_string())].into(),
        containers: vec![running(ARTIFACT, ID)],
        ..Default::default()
    };
    let p = plan(app(None), &o);
    assert!(p.is_empty());
    assert_eq!(
        p.notes[0].message,
        "app web: image 127.0.0.1:5000/app-web:0123456789ab is up to date (same build inputs; services/web as committed in 0123456789ab): not rebuilt"
    );
}

#[test]
fn a_rollback_pin_holds_until_the_repository_image_changes() {
    let old = released(1);
    let pin = Pin { release: 1, image: old.clone(), while_repo_image: ARTIFACT.into() };
    let mut pinned = running(&old, &ID.replace('1', "2"));
    pinned.pin = Some(pin.clone());
    let o = Observed {
        images: [(ARTIFACT.to_string(), ID.to_string()), (old.clone(), ID.replace('1', "2")), (released(2), ID.into())]
            .into(),
        containers: vec![pinned],
        ..Default::default()
    };
    let p = plan(app(push(false)), &o);
    assert!(p.is_empty(), "{:?}", p.actions);
    assert!(p.notes.iter().any(|n| n.message.contains("rolled back to release 1")));

    let mut newer = app(push(false));
    newer.image = format!("{REPO}:bbbbbbbbbbbb");
    newer.containers[0].config.image = newer.image.clone();
    let o = Observed { remote: [(newer.image.clone(), RemoteDigest::Absent)].into(), ..o };
    let p = plan(newer, &o);
    assert!(p.actions.iter().any(|a| a.kind == ActionKind::Build), "a new image ends the pin");
}
