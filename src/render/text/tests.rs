//! Snapshot tests of the text plan: a wording change is a reviewed diff.

use super::*;
use crate::desired::{ContainerConfig, DesiredContainer};
use crate::plan::{Action, ActionDetail, ActionKind, Note, ReplaceStrategy, Summary, Unknown};

fn container(name: &str) -> DesiredContainer {
    DesiredContainer {
        name: name.into(),
        app: "web".into(),
        process: "web".into(),
        replica: 1,
        config: ContainerConfig::default(),
        update_order: None,
        fingerprint_key: None,
        release: None,
        pin: None,
    }
}

fn change(path: &str, old: Option<&str>, new: Option<&str>) -> FieldChange {
    FieldChange { path: path.into(), old: old.map(Into::into), new: new.map(Into::into), sensitive: false }
}

fn plan(actions: Vec<Action>) -> Plan {
    Plan {
        format_version: 1,
        project: "demo".into(),
        source: Default::default(),
        observed_fingerprint: "f".into(),
        images: vec![],
        registry: Default::default(),
        summary: Summary::of(&actions),
        actions,
        notes: vec![],
        releases: vec![],
        unknowns: vec![],
        errors: vec![],
        unpruned: 0,
    }
}

fn render(p: &Plan) -> String {
    let mut out = Vec::new();
    plan_text(p, &mut out, Style::PLAIN).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn empty_plan() {
    insta::assert_snapshot!(render(&plan(vec![])), @"No changes. The engine matches the repository.");
}

#[test]
fn every_kind_of_action() {
    let p = plan(vec![
        Action {
            kind: ActionKind::Pull,
            app: "web".into(),
            target: "busybox:1.36".into(),
            reason: "image not present locally".into(),
            changes: vec![],
            detail: ActionDetail::Pull {
                image: "docker.io/library/busybox:1.36".into(),
                platform: None,
                credential: None,
                build_of: None,
                digest: None,
            },
        },
        Action {
            kind: ActionKind::Create,
            app: "web".into(),
            target: "demo-web-web-1".into(),
            reason: "container missing".into(),
            changes: vec![change("image", None, Some("busybox:1.36")), change("env.PORT", None, Some("4000"))],
            detail: ActionDetail::Create { container: container("demo-web-web-1") },
        },
        Action {
            kind: ActionKind::Replace,
            app: "web".into(),
            target: "demo-web-web-2".into(),
            reason: "env.LOG_LEVEL, env.TOKEN changed".into(),
            changes: vec![
                change("env.LOG_LEVEL", Some("info"), Some("debug")),
                FieldChange {
                    path: "env.TOKEN".into(),
                    old: Some("(sensitive)".into()),
                    new: Some("(sensitive)".into()),
                    sensitive: true,
                },
                FieldChange { path: "env.API_KEY".into(), old: None, new: Some("(sensitive)".into()), sensitive: true },
                change("env.MOTD", Some("hello\nworld\n"), Some("hello\nthere\n")),
            ],
            detail: ActionDetail::Replace {
                old_id: "x".into(),
                old_name: "demo-web-web-2".into(),
                container: container("demo-web-web-2"),
                strategy: ReplaceStrategy::StartFirst,
                order_reason: "no named volume or host port".into(),
            },
        },
        Action {
            kind: ActionKind::Remove,
            app: "old".into(),
            target: "demo-old-web-1".into(),
            reason: "app not in repository".into(),
            changes: vec![],
            detail: ActionDetail::Remove { id: "y".into(), stop_grace_secs: Some(10) },
        },
        Action {
            kind: ActionKind::Update,
            app: "db".into(),
            target: "demo-db-web-1".into(),
            reason: "resources.memory changed by hand: 64MiB → none".into(),
            changes: vec![change("resources.memory", None, Some("64MiB"))],
            detail: ActionDetail::Update {
                id: "z".into(),
                rename_to: None,
                resources: crate::observe::ResourceUpdate { memory: Some(64 << 20), ..Default::default() },
                connect: vec![],
            },
        },
        Action {
            kind: ActionKind::Replace,
            app: "db".into(),
            target: "demo-db-web-2".into(),
            reason: "env.A changed".into(),
            changes: vec![change("env.A", Some("1"), Some("2"))],
            detail: ActionDetail::Replace {
                old_id: "w".into(),
                old_name: "demo-db-web-2".into(),
                container: container("demo-db-web-2"),
                strategy: ReplaceStrategy::StopFirst,
                order_reason: "named volume data".into(),
            },
        },
    ]);
    let mut p = p;
    let network = Action {
        kind: ActionKind::Network,
        app: String::new(),
        target: "demo_default".into(),
        reason: "project network missing: apps reach each other by name on it".into(),
        changes: vec![],
        detail: ActionDetail::CreateNetwork { name: "demo_default".into() },
    };
    let volume = Action {
        kind: ActionKind::Volume,
        app: "db".into(),
        target: "demo_data".into(),
        reason: "named volume of app db missing".into(),
        changes: vec![],
        detail: ActionDetail::CreateVolume { name: "demo_data".into(), files: None },
    };
    p.actions.insert(1, volume);
    p.actions.insert(1, network);
    p.summary = Summary::of(&p.actions);
    insta::assert_snapshot!(render(&p));
}

#[test]
fn notes_and_unknowns() {
    let mut p = plan(vec![]);
    p.notes.push(Note {
        app: Some("cache".into()),
        message: "app cache is suspended: berth neither changes nor prunes it".into(),
    });
    p.unknowns.push(Unknown { app: "web".into(), message: "registry.example.com did not answer".into() });
    insta::assert_snapshot!(render(&p));
}

#[test]
fn an_empty_repository_that_prunes_nothing_does_not_claim_a_match() {
    let mut p = plan(vec![]);
    p.unpruned = 3;
    let text = render(&p);
    assert!(!text.contains("matches"), "{text}");
    assert!(text.contains("3 of the project's container(s)"), "{text}");
}

#[test]
fn plan_errors_refuse_the_plan() {
    let mut p = plan(vec![]);
    p.errors.push(crate::plan::PlanError { app: Some("web".into()), message: "host port 8080/tcp is taken".into() });
    insta::assert_snapshot!(render(&p), @r"
    error: app web: host port 8080/tcp is taken

    Plan refused: 1 error(s); nothing will be applied.
    ");
}

#[test]
fn color_only_when_asked() {
    let p = plan(vec![Action {
        kind: ActionKind::Remove,
        app: "old".into(),
        target: "demo-old-web-1".into(),
        reason: "app not in repository".into(),
        changes: vec![],
        detail: ActionDetail::Remove { id: "y".into(), stop_grace_secs: Some(10) },
    }]);
    let mut colored = Vec::new();
    plan_text(&p, &mut colored, Style { color: true }).unwrap();
    assert!(String::from_utf8(colored).unwrap().contains("\x1b[31m"));
    assert!(!render(&p).contains('\x1b'));
}
