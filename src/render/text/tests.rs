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
    }
}

fn change(path: &str, old: Option<&str>, new: Option<&str>) -> FieldChange {
    FieldChange { path: path.into(), old: old.map(Into::into), new: new.map(Into::into), sensitive: false }
}

fn plan(actions: Vec<Action>) -> Plan {
    Plan {
        format_version: 1,
        project: "demo".into(),
        repo: "/repo".into(),
        observed_fingerprint: "f".into(),
        images: vec![],
        summary: Summary::of(&actions),
        actions,
        notes: vec![],
        releases: vec![],
        unknowns: vec![],
        errors: vec![],
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
                FieldChange { path: "env.TOKEN".into(), old: None, new: None, sensitive: true },
                change("env.MOTD", Some("hello\nworld\n"), Some("hello\nthere\n")),
            ],
            detail: ActionDetail::Replace {
                old_id: "x".into(),
                container: container("demo-web-web-2"),
                strategy: ReplaceStrategy::StartFirst,
            },
        },
        Action {
            kind: ActionKind::Remove,
            app: "old".into(),
            target: "demo-old-web-1".into(),
            reason: "app not in repository".into(),
            changes: vec![],
            detail: ActionDetail::Remove { id: "y".into() },
        },
    ]);
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
fn color_only_when_asked() {
    let p = plan(vec![Action {
        kind: ActionKind::Remove,
        app: "old".into(),
        target: "demo-old-web-1".into(),
        reason: "app not in repository".into(),
        changes: vec![],
        detail: ActionDetail::Remove { id: "y".into() },
    }]);
    let mut colored = Vec::new();
    plan_text(&p, &mut colored, Style { color: true }).unwrap();
    assert!(String::from_utf8(colored).unwrap().contains("\x1b[31m"));
    assert!(!render(&p).contains('\x1b'));
}
