use super::*;
use crate::plan::{Action, ActionKind, Note, PlanError, PlanSource, PlannedRelease, Unknown};

fn action(kind: ActionKind, app: &str, target: &str, detail: ActionDetail) -> Action {
    Action { kind, app: app.into(), target: target.into(), reason: "r".into(), changes: Vec::new(), detail }
}

fn remove(app: &str, target: &str) -> Action {
    action(ActionKind::Remove, app, target, ActionDetail::Remove { id: target.into(), stop_grace_secs: None })
}

fn plan() -> Plan {
    let actions = vec![
        action(ActionKind::Create, "", "p_default", ActionDetail::CreateNetwork { name: "p_default".into() }),
        remove("web", "p-web-1"),
        remove("worker", "p-worker-1"),
        remove("db", "p-db-1"),
    ];
    Plan {
        format_version: crate::plan::FORMAT_VERSION,
        project: "p".into(),
        source: PlanSource::default(),
        observed_fingerprint: String::new(),
        images: Vec::new(),
        registry: Default::default(),
        summary: Summary::of(&actions),
        actions,
        notes: vec![
            Note { app: None, message: "project".into() },
            Note { app: Some("web".into()), message: "web".into() },
            Note { app: Some("db".into()), message: "db".into() },
        ],
        unknowns: vec![Unknown { app: "db".into(), message: "registry down".into() }],
        errors: vec![PlanError { app: Some("worker".into()), message: "port taken".into() }],
        releases: vec![PlannedRelease { app: "web".into(), number: 2, image: "i".into(), forget: Vec::new() }],
        unpruned: 0,
    }
}

fn targets(p: &Plan) -> Vec<&str> {
    p.actions.iter().map(|a| a.target.as_str()).collect()
}

#[test]
fn all_keeps_everything() {
    assert_eq!(scoped(plan(), &Scope::All), plan());
}

#[test]
fn only_keeps_one_app_and_the_project_network() {
    let p = scoped(plan(), &Scope::Only("web".into()));
    assert_eq!(targets(&p), ["p_default", "p-web-1"]);
    assert!(p.unknowns.is_empty() && p.errors.is_empty());
    assert_eq!(p.notes.iter().map(|n| n.message.as_str()).collect::<Vec<_>>(), ["web"]);
    assert_eq!(p.releases.len(), 1);
    assert_eq!(p.summary, Summary::of(&p.actions));
}

#[test]
fn except_leaves_suspended_apps_alone() {
    let skip: BTreeSet<String> = ["db".to_string(), "worker".to_string()].into();
    let p = scoped(plan(), &Scope::Except(skip));
    assert_eq!(targets(&p), ["p_default", "p-web-1"]);
    // Their unknowns and errors no longer stop the others' apply.
    assert!(!p.is_incomplete());
    assert_eq!(p.notes.iter().map(|n| n.message.as_str()).collect::<Vec<_>>(), ["project", "web"]);
}

#[test]
fn plans_with_the_same_actions_are_the_same_whatever_they_observed() {
    let a = plan();
    let mut b = plan();
    b.observed_fingerprint = "other".into();
    assert!(same_actions(&a, &b));
    b.actions.pop();
    assert!(!same_actions(&a, &b));
}
