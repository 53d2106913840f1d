//! Pull policies against a real local registry: `always` (and `plan
//! --refresh-remote`) compare the tag's digest in the registry by HEAD, pull
//! and replace when it moved, and make the plan unknown (exit 1) — never a
//! change — when the registry cannot be asked. `never` never pulls.

use crate::common::*;

const SLEEPER: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;

fn image_id(image: &str) -> String {
    docker_ok(&["image", "inspect", "--format", "{{.Id}}", image]).trim().to_string()
}

#[test]
fn always_follows_the_tag_in_the_registry() {
    require_engine();
    let registry = LocalRegistry::start();
    let image = registry.push("busybox:1.36", "pp/always:1", None);
    let _untag = Untag(image.clone());
    let repo = TestRepo::new("pullalways");
    repo.app("a", &format!("image: {image}\npull: {{policy: always}}\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let plan = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0);

    // Someone pushes a new image under the same tag.
    registry.push("busybox:1.37", "pp/always:1", None);
    docker_ok(&["tag", "busybox:1.36", &image]); // the local tag still names the old image
    let plan = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 2);
    let text = stdout(&plan);
    assert!(text.contains(&format!("↓ pull {image} (image tag {image} now resolves to sha256:")), "{text}");
    assert!(text.contains("in the registry"), "{text}");
    assert!(text.contains(&format!("~ replace {}-a-web-1", repo.project())), "{text}");
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    assert_eq!(repo.containers()[0].image_id, image_id("busybox:1.37"));
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);

    // The registry goes away: unknown, exit 1, no change planned.
    drop(registry);
    let plan = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 1);
    assert!(stdout(&plan).contains("? unknown a:"), "{}", stdout(&plan));
    assert!(!stdout(&plan).contains("Plan:"), "{}", stdout(&plan));
}

#[test]
fn refresh_remote_checks_tags_of_apps_with_policy_missing() {
    require_engine();
    let registry = LocalRegistry::start();
    let image = registry.push("busybox:1.36", "pp/refresh:1", None);
    let _untag = Untag(image.clone());
    let repo = TestRepo::new("refreshremote");
    repo.app("a", &format!("image: {image}\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    registry.push("busybox:1.37", "pp/refresh:1", None);
    docker_ok(&["tag", "busybox:1.36", &image]);
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0); // policy missing: the registry is not asked
    let plan = repo.berth(&["plan", "--detailed-exitcode", "--refresh-remote"]);
    assert_exit(&plan, 2);
    assert!(stdout(&plan).contains("now resolves to"), "{}", stdout(&plan));
}

#[test]
fn never_does_not_pull_a_missing_image() {
    require_engine();
    let repo = TestRepo::new("pullnever");
    repo.app("a", &format!("image: berth-test/absent-{}:1\npull: {{policy: never}}\n", repo.project()));
    let plan = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 1);
    assert!(stdout(&plan).contains("pull.policy is never"), "{}", stdout(&plan));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 1);
    assert_eq!(repo.containers().len(), 0);
}

#[test]
fn a_saved_plan_pulls_the_digest_it_saw_and_is_stale_once_the_tag_moves() {
    require_engine();
    let registry = LocalRegistry::start();
    let image = registry.push("busybox:1.36", "pp/saved:1", None);
    let _untag = Untag(image.clone());
    let repo = TestRepo::new("pullsaved");
    repo.app("a", &format!("image: {image}\npull: {{policy: always}}\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    // Another app on the same image that does not ask the registry.
    repo.app("b", &format!("image: {image}\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);

    registry.push("busybox:1.37", "pp/saved:1", None);
    docker_ok(&["tag", "busybox:1.36", &image]);
    let file = repo.state_dir().join("plan.json");
    assert_exit(&repo.berth(&["plan", "--out", file.to_str().unwrap()]), 0);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let pull = saved["actions"].as_array().unwrap().iter().find(|a| a["kind"] == "pull").expect("a pull");
    let digest = pull["detail"]["digest"].as_str().expect("the pull names the digest it saw").to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");

    // The tag moves back: the saved plan is stale.
    registry.push("busybox:1.36", "pp/saved:1", None);
    docker_ok(&["tag", "busybox:1.36", &image]);
    let out = repo.command().args(["apply", file.to_str().unwrap(), "--auto-approve"]).output().unwrap();
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("stale"), "{}", stderr(&out));

    // And forward again to the very digest the plan saw: it applies, by that digest.
    registry.push("busybox:1.37", "pp/saved:1", None);
    docker_ok(&["tag", "busybox:1.36", &image]);
    let out = repo.command().args(["apply", file.to_str().unwrap(), "--auto-approve"]).output().unwrap();
    assert_exit(&out, 0);
    let a = repo.containers().into_iter().find(|c| c.name.ends_with("-a-web-1")).unwrap();
    assert_eq!(a.image_id, image_id("busybox:1.37"));
    let digests = docker_ok(&["image", "inspect", "--format", "{{json .RepoDigests}}", &a.image_id]);
    assert!(digests.contains(&digest), "{digests} lacks {digest}");

    // The registry goes away: only the app that asks it is unknown.
    drop(registry);
    let plan = repo.berth(&["plan"]);
    assert_exit(&plan, 1);
    assert!(stdout(&plan).contains("? unknown a:"), "{}", stdout(&plan));
    assert!(!stdout(&plan).contains("? unknown b"), "{}", stdout(&plan));
}
