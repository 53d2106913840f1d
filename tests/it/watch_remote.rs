//! `berth watch --remote`: a branch of a bare repository (file://) and of
//! an https-style remote (`git http-backend` on 127.0.0.1 wanting a
//! token) is followed; a rewritten branch is refused; a webhook makes the
//! watch fetch at once.

use crate::common::*;
use crate::watch::Watcher;
use std::time::Duration;

#[path = "../../src/source/remote/tests/http.rs"]
mod git_http;

fn app(v: &str) -> String {
    format!("image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sleep\", \"600\"]\nstop-grace-period: 1s\nenv: {{V: \"{v}\"}}\n")
}

/// A bare repository `<name>.git` beside the test repo, with the repo pushed to it.
fn bare(repo: &TestRepo, parent: &std::path::Path, name: &str) -> std::path::PathBuf {
    let bare = parent.join(format!("{name}.git"));
    let out =
        std::process::Command::new("git").args(["init", "-q", "--bare", "-b", "main"]).arg(&bare).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    repo.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
    repo.git(&["push", "-q", "origin", "main"]);
    bare
}

fn running_v(repo: &TestRepo) -> Option<String> {
    let c = repo.containers();
    (c.len() == 1).then(|| c[0].env_var("V").map(String::from)).flatten()
}

#[test]
fn a_remote_branch_is_followed_and_a_rewrite_refused() {
    require_engine();
    let repo = TestRepo::new("watch-remote");
    repo.git_init();
    repo.app("web", &app("1"));
    repo.commit("v1");
    let parent = tempfile::tempdir().unwrap();
    let bare = bare(&repo, parent.path(), "infra");
    let url = format!("file://{}", bare.display());
    let w = Watcher::start_with(
        &repo,
        None,
        &["--remote", &url, "--branch", "main", "--interval", "1s", "--drift-interval", "1h"],
        &[],
    );
    wait_for("v1 running", Duration::from_secs(60), || (running_v(&repo).as_deref() == Some("1")).then_some(()));

    // A new commit pushed: applied.
    repo.app("web", &app("2"));
    let second = repo.commit("v2");
    repo.git(&["push", "-q", "origin", "main"]);
    wait_for("v2 applied", Duration::from_secs(60), || {
        (w.status()["applied"]["commit"] == second.as_str()).then_some(())
    });
    assert_eq!(running_v(&repo).as_deref(), Some("2"));
    assert_eq!(w.status()["branch"], "main");

    // The branch rewritten (a force-push of another v2): refused, nothing applied.
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.app("web", &app("3"));
    let rewritten = repo.commit("v3, rewritten");
    repo.git(&["push", "-q", "-f", "origin", "main"]);
    wait_for("the rewrite refused", Duration::from_secs(30), || {
        let s = w.status();
        (s["attempted"]["result"] == "refused" && s["attempted"]["commit"] == rewritten.as_str()).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(running_v(&repo).as_deref(), Some("2"), "a rewritten branch was applied");
    assert_eq!(w.status()["applied"]["commit"], second.as_str());
    assert_eq!(w.log().matches("was rewritten").count(), 1, "reported once:\n{}", w.log());

    // A fast-forward of the commit applied is applied again.
    repo.git(&["reset", "-q", "--hard", &second]);
    repo.app("web", &app("4"));
    let fourth = repo.commit("v4");
    repo.git(&["push", "-q", "-f", "origin", "main"]);
    wait_for("v4 applied", Duration::from_secs(60), || {
        (w.status()["applied"]["commit"] == fourth.as_str()).then_some(())
    });
    assert_eq!(running_v(&repo).as_deref(), Some("4"));
}

#[test]
fn an_https_remote_with_a_token_is_fetched_at_once_on_a_webhook() {
    require_engine();
    let repo = TestRepo::new("watch-https");
    repo.git_init();
    repo.app("web", &app("1"));
    repo.commit("v1");
    let parent = tempfile::tempdir().unwrap();
    bare(&repo, parent.path(), "infra");
    let token = "git-token-canary-77";
    let server = git_http::GitHttp::start(parent.path(), token);
    let url = server.url("infra.git");
    let secret = "hook-secret-canary-78";
    // Polls hourly: only the webhook can make it fetch soon.
    let w = Watcher::start_with(
        &repo,
        None,
        &["--remote", &url, "--interval", "1h", "--drift-interval", "1h"],
        &[("BERTH_GIT_TOKEN", token), ("BERTH_WEBHOOK_SECRET", secret)],
    );
    wait_for("v1 running", Duration::from_secs(60), || (running_v(&repo).as_deref() == Some("1")).then_some(()));
    repo.app("web", &app("2"));
    let second = repo.commit("v2");
    repo.git(&["push", "-q", "origin", "main"]);
    // A push to another branch is ignored; one to main fetches now.
    assert_eq!(w.webhook(&[("X-Gitlab-Token", secret.into())], r#"{"ref":"refs/heads/feature"}"#), 202);
    std::thread::sleep(Duration::from_secs(2));
    assert_ne!(w.status()["applied"]["commit"], second.as_str());
    assert_eq!(w.webhook(&[("X-Gitlab-Token", secret.into())], r#"{"ref":"refs/heads/main"}"#), 202);
    wait_for("v2 applied", Duration::from_secs(60), || {
        (w.status()["applied"]["commit"] == second.as_str()).then_some(())
    });
    assert_eq!(running_v(&repo).as_deref(), Some("2"));
    let log = w.log();
    assert!(!log.contains(token) && !log.contains(secret), "a secret reached the log:\n{log}");
    assert!(server.log().iter().any(|l| l.contains("fetch")), "{:?}", server.log());
}
