//! Builds from uncommitted files on the real engine: never pushed or
//! released without `--allow-dirty`, and never built from files that
//! changed after the plan.

use super::*;

#[test]
fn a_dirty_build_is_never_pushed_or_released_unless_allowed() {
    require_engine();
    let registry = registry();
    let host = registry.host();
    let b = BuildRepo::new(
        "dirtypush",
        Some(&registry),
        &format!("registry:\n  server: {host}\n  push-on-release: true\n"),
    );
    let _images = Images(format!("{host}/app-web"));
    b.repo.file("services/web/new.txt", "not committed\n");

    let out = b.run(&["plan"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(
            "error: app web: build context services/web has uncommitted files (services/web/new.txt): a build from uncommitted files is never pushed or released; commit them, or pass --allow-dirty to push it anyway"
        ),
        "{text}"
    );
    assert!(!text.contains("↑ push"), "{text}");
    let out = b.run(&["apply", "--auto-approve"]);
    assert_exit(&out, 1);
    assert!(registry.tags("app-web").is_empty(), "nothing pushed");
    assert!(b.repo.containers().is_empty(), "nothing applied");

    let out = b.run(&["plan", "--allow-dirty", "--detailed-exitcode"]);
    assert_exit(&out, 2);
    assert!(stdout(&out).contains("pushed anyway (--allow-dirty)"), "{}", stdout(&out));
    assert_exit(&b.run(&["apply", "--auto-approve", "--allow-dirty"]), 0);
    assert_eq!(b.image(), format!("{host}/app-web:1"));

    // Committed as built: the same content, the same image; nothing to do.
    b.repo.commit("new.txt");
    b.plan_is_empty();

    // Specs are planned from the working tree: said so.
    b.repo.app("web", &format!("build:\n  context: services/web\n{}env: {{A: \"1\"}}\n", b.registry_yaml));
    let text = stdout(&b.run(&["plan"]));
    assert!(
        text.contains("note: uncommitted changes in apps/web.yaml: planned from the working tree, not from a commit"),
        "{text}"
    );
}

#[test]
fn a_context_changed_after_the_plan_is_not_built() {
    require_engine();
    let (b, _images) = BuildRepo::local("dirtychange");
    b.repo.file("services/web/app.txt", "planned\n");
    let plan_file = b.repo.state_dir().join("dirty.json");
    let out = b.run(&["plan", "--out", plan_file.to_str().unwrap()]);
    assert_exit(&out, 0);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    let build = saved["actions"].as_array().unwrap().iter().find(|a| a["kind"] == "build").expect("a build");
    let planned = build["detail"]["tags"][0].as_str().unwrap().to_string();

    b.repo.file("services/web/app.txt", "edited after the plan\n");
    let out = b.run_raw(&["apply", plan_file.to_str().unwrap(), "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("build context `services/web` changed since the plan"), "{err}");
    assert!(err.contains("run `berth plan` again"), "{err}");
    assert!(!docker(&["image", "inspect", &planned]).status.success(), "no image got the planned tag");
    let latest = format!("{}:latest", b.local_repo());
    assert!(!docker(&["image", "inspect", &latest]).status.success(), "nor latest");
    assert!(b.repo.containers().is_empty());

    // A new plan builds what is there now.
    b.apply();
    assert_ne!(b.image(), planned);
    assert_eq!(
        docker_ok(&["exec", &b.repo.containers()[0].name, "cat", "/ctx/app.txt"]).trim(),
        "edited after the plan"
    );
    b.plan_is_empty();
}
