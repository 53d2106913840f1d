//! Snapshot tests of the Markdown plan: one plan with every kind of action,
//! and a canary secret that must never show.

use super::*;
use crate::desired::{ContainerConfig, DesiredBuild, DesiredContainer};
use crate::plan::{ActionDetail, FieldChange, Note, PlanError, ReplaceStrategy, Summary, Unknown};
use crate::source::{ContextFrom, ContextVersion};

const CANARY: &str = "s3cr3t-canary-9f8e7d";

fn container(name: &str, app: &str) -> DesiredContainer {
    DesiredContainer {
        name: name.into(),
        app: app.into(),
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

/// A secret's change, carrying the canary where a value would be: the
/// renderer must print only that it changed.
fn secret(path: &str, old: bool, new: bool) -> FieldChange {
    let v = |on: bool| on.then(|| CANARY.to_string());
    FieldChange { path: path.into(), old: v(old), new: v(new), sensitive: true }
}

fn action(
    kind: ActionKind,
    app: &str,
    target: &str,
    reason: &str,
    changes: Vec<FieldChange>,
    detail: ActionDetail,
) -> Action {
    Action { kind, app: app.into(), target: target.into(), reason: reason.into(), changes, detail }
}

fn build() -> DesiredBuild {
    DesiredBuild {
        context: "services/api".into(),
        dockerfile: "Dockerfile".into(),
        args: [("RELEASE".to_string(), "2".to_string())].into(),
        target: None,
        platform: None,
        credentials: vec![],
        version: ContextVersion {
            from: ContextFrom::Commit { commit: "0".repeat(40) },
            content: "c".repeat(64),
            dockerfile_blob: "d".repeat(40),
            other_files: "o".repeat(64),
        },
        identity: format!("3237f1f5fbb2{}", "0".repeat(52)),
        repository: "registry.example.com/app-api".into(),
        push: None,
    }
}

fn every_kind() -> Plan {
    let image = "registry.example.com/app-api:3237f1f5fbb2";
    let actions = vec![
        action(
            ActionKind::Build,
            "api",
            image,
            "build inputs changed: args.RELEASE",
            vec![change("args.RELEASE", None, Some("2"))],
            ActionDetail::Build { tags: vec![image.into()], build: build() },
        ),
        action(
            ActionKind::Push,
            "api",
            image,
            "new build",
            vec![change("tags", None, Some("3237f1f5fbb2, latest"))],
            ActionDetail::Push {
                image: image.into(),
                tags: vec!["latest".into()],
                release: None,
                credential: Some("reg".into()),
            },
        ),
        action(
            ActionKind::Pull,
            "web",
            "busybox:1.36",
            "image not present locally",
            vec![],
            ActionDetail::Pull {
                image: "docker.io/library/busybox:1.36".into(),
                platform: None,
                credential: None,
                build_of: None,
                digest: None,
            },
        ),
        action(
            ActionKind::Network,
            "",
            "demo_default",
            "project network missing: apps reach each other by name on it",
            vec![],
            ActionDetail::CreateNetwork { name: "demo_default".into() },
        ),
        action(
            ActionKind::Volume,
            "db",
            "demo_data",
            "named volume of app db missing",
            vec![],
            ActionDetail::CreateVolume { name: "demo_data".into(), files: None },
        ),
        action(
            ActionKind::Create,
            "web",
            "demo-web-web-1",
            "container missing",
            vec![
                change("image", None, Some("busybox:1.36")),
                change("env.PORT", None, Some("4000")),
                secret("env.TOKEN", false, true),
            ],
            ActionDetail::Create { container: container("demo-web-web-1", "web") },
        ),
        action(
            ActionKind::Replace,
            "api",
            "demo-api-web-1",
            "image, env.TOKEN changed",
            vec![
                change("image", Some("registry.example.com/app-api:0123456789ab"), Some(image)),
                change("env.GREETING", Some("say `hi` <b>*now*</b>"), Some("say ```` hi")),
                secret("env.TOKEN", true, true),
                secret("env.OLD_KEY", true, false),
                change("env.MOTD", Some("hello\nworld\n"), Some("hello\nthere\n")),
            ],
            ActionDetail::Replace {
                old_id: "x".into(),
                old_name: "demo-api-web-1".into(),
                container: container("demo-api-web-1", "api"),
                strategy: ReplaceStrategy::StartFirst,
                order_reason: "no named volume or host port".into(),
            },
        ),
        action(
            ActionKind::Update,
            "db",
            "demo-db-web-1",
            "resources.memory changed by hand: 32MiB → 64MiB",
            vec![change("resources.memory", Some("32MiB"), Some("64MiB"))],
            ActionDetail::Update {
                id: "z".into(),
                rename_to: None,
                resources: crate::observe::ResourceUpdate { memory: Some(64 << 20), ..Default::default() },
                connect: vec![],
            },
        ),
        action(
            ActionKind::Remove,
            "old",
            "demo-old-web-1",
            "app not in repository",
            vec![],
            ActionDetail::Remove { id: "y".into(), stop_grace_secs: Some(10) },
        ),
        action(
            ActionKind::Network,
            "",
            "demo_legacy",
            "no app left on it",
            vec![],
            ActionDetail::RemoveNetwork { name: "demo_legacy".into() },
        ),
    ];
    Plan {
        format_version: crate::plan::FORMAT_VERSION,
        project: "demo".into(),
        source: crate::plan::PlanSource {
            commit: Some("3f2a9c81d0e4".repeat(4)[..40].into()),
            content: "c".into(),
            uncommitted: false,
        },
        observed_fingerprint: "f".into(),
        images: vec![],
        registry: Default::default(),
        summary: Summary::of(&actions),
        actions,
        notes: vec![Note {
            app: Some("cache".into()),
            message: "app cache is suspended: berth neither changes nor prunes it".into(),
        }],
        releases: vec![],
        unknowns: vec![Unknown {
            app: "edge".into(),
            message: "registry.example.com did not answer (HTTP 503)".into(),
        }],
        errors: vec![PlanError {
            app: Some("proxy".into()),
            message: "host port 8080/tcp is published by container other_web_1".into(),
        }],
        unpruned: 0,
    }
}

fn render(p: &Plan, title: MarkdownTitle) -> String {
    let mut out = Vec::new();
    plan_markdown(p, &mut out, title).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn every_kind_of_action() {
    let md = render(&every_kind(), MarkdownTitle::Plan);
    assert!(!md.contains(CANARY), "a secret value reached the Markdown plan:\n{md}");
    insta::assert_snapshot!(md);
}

#[test]
fn the_summary_comes_first_and_problems_stay_visible() {
    let md = render(&every_kind(), MarkdownTitle::Drift);
    assert!(md.starts_with("### berth drift: project <code>demo</code>"), "{md}");
    let summary = md.find("**Plan: 1 to build, 1 to pull, 1 to push").expect("summary line");
    let first_details = md.find("<details>").expect("foldable sections");
    assert!(summary < first_details, "{md}");
    for visible in ["**error:** app proxy", "**unknown:** edge", "note: app cache is suspended"] {
        let at = md.find(visible).unwrap_or_else(|| panic!("{visible:?} missing:\n{md}"));
        assert!(at < first_details, "{visible:?} is folded away:\n{md}");
    }
    // One foldable section per app, the project's network its own.
    assert_eq!(md.matches("<details>").count(), 5, "{md}");
    assert_eq!(md.matches("</details>").count(), 5, "{md}");
}

#[test]
fn a_code_block_is_never_closed_by_its_content() {
    let md = render(&every_kind(), MarkdownTitle::Plan);
    // The api block holds a run of 4 backticks: its fence is longer.
    assert!(md.contains("\n`````diff\n"), "{md}");
}

#[test]
fn no_changes() {
    let mut p = every_kind();
    p.actions.clear();
    p.errors.clear();
    p.unknowns.clear();
    p.notes.clear();
    p.summary = Summary::default();
    p.source.commit = None;
    insta::assert_snapshot!(render(&p, MarkdownTitle::Drift), @r"
    ### berth drift: project <code>demo</code>

    **No changes. The engine matches the repository.**
    ");
}

#[test]
fn an_error_without_a_plan() {
    let e = ErrorInfo {
        message: "the repository is invalid: 1 error(s)".into(),
        causes: vec!["cannot read apps/web.yaml".into()],
        diagnostics: vec![crate::diag::Diagnostic {
            file: "apps/web.yaml".into(),
            line: 2,
            col: 1,
            message: "unknown key `imgae`".into(),
            hint: Some("did you mean `image`?".into()),
            snippet: None,
        }],
    };
    let mut out = Vec::new();
    error_markdown(&e, &mut out, MarkdownTitle::Plan).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap(), @r"
    ### berth plan: failed

    **error:** the repository is invalid: 1 error(s)
    - caused by: cannot read apps/web.yaml

    ```
    apps/web.yaml:2:1: unknown key `imgae`
      hint: did you mean `image`?
    ```
    ");
}
