//! `--output json`: `validate`, `plan`, `drift` and `apply` print one JSON
//! document on stdout whatever happens (the errors with file, line, column
//! and hint; an apply's plan and outcome), the exit code stays 0/1/2,
//! stderr still says it in words, and no secret value is in any of it.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

const SLEEPER: &str = "[\"sleep\", \"3600\"]";

/// stdout as one JSON document (and nothing else).
#[track_caller]
fn json(out: &std::process::Output) -> Value {
    let text = stdout(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{text}"))
}

fn bad_repo(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_repos").join(name)
}

#[test]
fn validate_prints_every_error_with_its_position() {
    let repo = bad_repo("errors-in-many-files");
    let text = berth().arg("validate").arg(&repo).output().unwrap();
    let out = berth().arg("validate").arg(&repo).args(["--output", "json"]).output().unwrap();
    assert_exit(&text, 1);
    assert_exit(&out, 1);
    let doc = json(&out);
    assert_eq!(doc["valid"], false);
    let diags = doc["error"]["diagnostics"].as_array().expect("diagnostics");
    assert!(diags.len() >= 3, "{doc:#}");
    // The same problems as the text output, each at its place.
    let words = stderr(&text);
    for d in diags {
        let head = format!(
            "{}:{}:{}: {}",
            d["file"].as_str().unwrap(),
            d["line"].as_u64().unwrap(),
            d["col"].as_u64().unwrap(),
            d["message"].as_str().unwrap()
        );
        assert!(words.contains(&head), "{head:?} not in the text output:\n{words}");
        if let Some(hint) = d["hint"].as_str() {
            assert!(words.contains(&format!("hint: {hint}")), "{hint:?}:\n{words}");
        }
    }
    assert!(doc["error"]["message"].as_str().unwrap().contains(&format!("has {} error(s)", diags.len())), "{doc:#}");
    // stderr says it in words, as without the flag.
    assert_eq!(stderr(&out), words);
}

#[test]
fn validate_of_a_valid_repository_counts_what_it_found() {
    let repo = TestRepo::new("machine-valid");
    repo.app("web", "image: busybox:1.36\nprocesses:\n  web: {replicas: 2}\n  worker: {}\n");
    repo.app("cache", "image: busybox:1.37\n");
    let out = repo.berth(&["validate", "--output", "json"]);
    assert_exit(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["project"], repo.project());
    assert_eq!(
        (doc["apps"].as_u64(), doc["containers"].as_u64(), doc["credentials"].as_u64()),
        (Some(2), Some(4), Some(0))
    );
    assert!(doc.get("error").is_none(), "{doc:#}");
    // Text output unchanged.
    let text = stdout(&repo.berth(&["validate"]));
    assert_eq!(text, format!("Valid: project {}, 2 app(s), 4 container(s), 0 credential(s).\n", repo.project()));
}

#[test]
fn plan_and_drift_print_an_error_document_when_they_have_no_plan() {
    // An invalid repository: its diagnostics.
    let bad = bad_repo("unknown-key-top");
    for command in ["plan", "drift"] {
        let out = berth().arg(command).arg(&bad).args(["--output", "json"]).output().unwrap();
        assert_exit(&out, 1);
        let doc = json(&out);
        let d = &doc["error"]["diagnostics"][0];
        assert_eq!(d["file"], "apps/web.yaml", "{doc:#}");
        assert!(d["line"].as_u64().unwrap() > 0 && d["col"].as_u64().unwrap() > 0, "{doc:#}");
        assert!(stderr(&out).contains("error: the repository has 1 error(s)"), "{}", stderr(&out));
    }
    // Not a repository: the message, no diagnostics.
    let tmp = tempfile::tempdir().unwrap();
    let out = berth().arg("plan").arg(tmp.path()).args(["--output", "json"]).output().unwrap();
    assert_exit(&out, 1);
    let doc = json(&out);
    assert!(doc["error"]["message"].as_str().unwrap().contains("is not a berth repository"), "{doc:#}");
    assert_eq!(doc["error"]["diagnostics"], serde_json::json!([]));
}

#[test]
fn apply_prints_its_plan_and_what_it_did() {
    require_engine();
    let repo = TestRepo::new("machine-apply");
    repo.app("web", &format!("image: busybox:1.36\nprocesses:\n  web:\n    command: {SLEEPER}\n"));

    // A plan that cannot be saved: the error is the one document.
    let unsaved = repo.berth(&["plan", "--output", "json", "--out", "/nonexistent/dir/plan.json"]);
    assert_exit(&unsaved, 1);
    assert!(json(&unsaved)["error"]["message"].as_str().unwrap().starts_with("failed to write plan file"));

    // JSON asks nothing: without --auto-approve it refuses, with the plan.
    let refused = repo.berth(&["apply", "--output", "json"]);
    assert_exit(&refused, 1);
    let doc = json(&refused);
    assert!(doc["plan"]["actions"].as_array().is_some_and(|a| !a.is_empty()), "{doc:#}");
    assert!(doc.get("outcome").is_none(), "{doc:#}");
    assert!(doc["error"]["message"].as_str().unwrap().contains("--auto-approve"), "{doc:#}");
    assert!(repo.containers().is_empty());

    let out = repo.berth(&["apply", "--auto-approve", "--output", "json"]);
    assert_exit(&out, 0);
    let doc = json(&out);
    let planned: Vec<&str> =
        doc["plan"]["actions"].as_array().unwrap().iter().map(|a| a["target"].as_str().unwrap()).collect();
    let outcome = &doc["outcome"];
    let done: Vec<&str> =
        outcome["actions"].as_array().unwrap().iter().map(|a| a["target"].as_str().unwrap()).collect();
    assert_eq!(planned.len(), done.len(), "{doc:#}");
    for target in &planned {
        assert!(done.contains(target), "{target} planned but not reported: {doc:#}");
    }
    assert!(outcome["actions"].as_array().unwrap().iter().all(|a| a["result"] == "done" && a["seconds"].is_number()));
    assert_eq!(outcome["done"].as_u64(), Some(planned.len() as u64));
    assert_eq!(outcome["failed"], serde_json::json!([]));
    assert!(doc.get("error").is_none(), "{doc:#}");
    // Progress went to stderr, in words.
    assert!(stderr(&out).contains(&format!("✓ create {}-web-web-1", repo.project())), "{}", stderr(&out));
    assert_eq!(repo.containers().len(), 1);

    // Nothing left to do: the empty plan, no outcome.
    let again = repo.berth(&["apply", "--auto-approve", "--output", "json"]);
    assert_exit(&again, 0);
    let doc = json(&again);
    assert_eq!(doc["plan"]["actions"], serde_json::json!([]));
    assert!(doc.get("outcome").is_none() && doc.get("error").is_none(), "{doc:#}");
}

#[test]
fn a_refused_plan_is_applied_by_nothing_and_says_why() {
    require_engine();
    let repo = TestRepo::new("machine-refused");
    let p = repo.project().to_string();
    repo.app("web", &format!("image: busybox:1.36\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    let _name = Foreign::run(&format!("{p}-web-web-1"), &[]);
    let out = repo.berth(&["apply", "--auto-approve", "--output", "json"]);
    assert_exit(&out, 1);
    let doc = json(&out);
    let errors = doc["plan"]["errors"].as_array().expect("the plan's errors");
    assert!(errors.iter().any(|e| e.to_string().contains("is taken by container")), "{doc:#}");
    assert_eq!(doc["error"]["message"], "the plan is incomplete; nothing was applied");
    assert!(doc.get("outcome").is_none(), "{doc:#}");
    assert!(repo.containers().is_empty());
}

#[test]
fn a_failed_apply_names_each_failure_and_no_secret() {
    require_engine();
    let canary = format!("canary-{}-machine", std::process::id());
    let repo = TestRepo::new("machine-failed");
    let key = keygen(&repo.state_dir());
    repo.berth_yaml(&format!("recipients: [{}]\n", key.public));
    age_encrypt(&repo, "db", &key.public, &format!("kind: env\nvalues:\n  DB_PASSWORD: {canary}\n"));
    // Prints its secret, then exits: never ready.
    repo.app(
        "web",
        "image: busybox:1.36\nsecret-env: [db]\nrestart: \"no\"\nprocesses:\n  web:\n    command: [\"sh\", \"-c\", \"echo password is $DB_PASSWORD; exit 3\"]\n",
    );
    repo.app("ok", &format!("image: busybox:1.36\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    let out = repo
        .command()
        .arg("apply")
        .arg(repo.dir())
        .args(["--auto-approve", "--output", "json", "--identity"])
        .arg(&key.file)
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let doc = json(&out);
    assert_eq!(doc["error"]["message"], "apply failed for app(s): web", "{doc:#}");
    let failed = doc["outcome"]["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{doc:#}");
    assert_eq!(failed[0]["app"], "web");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("did not become ready") && error.contains("password is (sensitive value)"), "{error}");
    let actions = doc["outcome"]["actions"].as_array().unwrap();
    let failed_action = actions.iter().find(|a| a["result"] == "failed").expect("a failed action");
    assert_eq!(failed_action["message"].as_str(), Some(error), "{doc:#}");
    assert!(actions.iter().any(|a| a["result"] == "done" && a["target"] == format!("{}-ok-web-1", repo.project())));
    // The secret reached the container, and nothing berth printed.
    for (what, text) in [("stdout", stdout(&out)), ("stderr", stderr(&out))] {
        assert!(!text.contains(&canary), "the secret is in {what}:\n{text}");
    }
    assert!(stderr(&out).contains("error: apply failed for app(s): web"), "{}", stderr(&out));
}
