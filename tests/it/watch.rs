//! `berth watch` against the real engine: a change of the repository is
//! applied, drift is reported (or healed, up to the crash-loop limit), a
//! webhook triggers a pass, an unchanged repository makes no mutating
//! call, and SIGTERM finishes the pass in flight.

use crate::common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `berth watch`, stopped with SIGTERM when dropped.
pub struct Watcher {
    child: Option<Child>,
    log: Arc<Mutex<String>>,
    pub addr: Option<String>,
}

impl Watcher {
    /// `berth watch <repo> ARGS --listen 127.0.0.1:0`, logging at info.
    pub fn start(repo: &TestRepo, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_with(repo, Some(repo.dir()), args, env)
    }

    /// `berth watch [REPO] ARGS --listen 127.0.0.1:0` (no REPO: a remote in ARGS).
    pub fn start_with(
        repo: &TestRepo,
        folder: Option<std::path::PathBuf>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut cmd = repo.command();
        cmd.arg("watch");
        if let Some(f) = folder {
            cmd.arg(f);
        }
        cmd.args(args).args(["--listen", "127.0.0.1:0"]);
        cmd.env("RUST_LOG", "berth=info").stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("failed to start berth watch");
        let log = Arc::new(Mutex::new(String::new()));
        let (sink, stderr) = (log.clone(), child.stderr.take().expect("stderr"));
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut w = Watcher { child: Some(child), log, addr: None };
        let addr = w.wait_log("the listener", Duration::from_secs(30), |log| {
            log.lines()
                .find(|l| l.contains("listening"))
                .and_then(|l| l.split("addr=").nth(1))
                .map(|a| a.trim().to_string())
        });
        w.addr = Some(addr);
        w
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait until `f` finds something in the log.
    pub fn wait_log<T>(&self, what: &str, timeout: Duration, f: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f(&self.log()) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET path` on the listener: (status code, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.addr.as_deref().unwrap(), &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    }

    /// `POST /webhook` with these headers and body.
    pub fn webhook(&self, headers: &[(&str, String)], body: &str) -> u16 {
        let mut req = format!("POST /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        http(self.addr.as_deref().unwrap(), &req).0
    }

    /// The /status document.
    pub fn status(&self) -> serde_json::Value {
        let (code, body) = self.get("/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/status is not JSON ({e}): {body}"))
    }

    /// Passes counted by /metrics, all results.
    pub fn passes(&self) -> u64 {
        let (_, body) = self.get("/metrics");
        body.lines()
            .filter(|l| l.starts_with("berth_reconcile_passes_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Whether the process is still running (it has not exited).
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM; the exit code and how long it took.
    pub fn stop(&mut self) -> (Option<i32>, Duration) {
        let mut child = self.child.take().expect("running");
        let t = Instant::now();
        unsafe_kill(child.id(), "TERM");
        let status = child.wait().expect("wait");
        (status.code(), t.elapsed())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe_kill(c.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `kill -SIG pid` (the kill command: no libc in the tests).
fn unsafe_kill(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status();
}

/// One HTTP/1.1 exchange over a plain socket: (status, body).
fn http(addr: &str, request: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    // Chunked bodies (axum streams JSON that way sometimes): keep the JSON part.
    let body = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if out.to_ascii_lowercase().contains("transfer-encoding: chunked") => {
            body[a..=b].to_string()
        }
        _ => body,
    };
    (code, body)
}

pub fn sleeper(extra: &str) -> String {
    format!(
        "image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sleep\", \"600\"]\nstop-grace-period: 1s\n{extra}"
    )
}

fn web_state(w: &Watcher) -> String {
    w.status()["apps"]["web"]["state"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_commit_is_applied_and_drift_is_reported_not_healed() {
    require_engine();
    let repo = TestRepo::new("watch-report");
    repo.git_init();
    repo.app("web", &sleeper(""));
    let first = repo.commit("web");
    let mut w = Watcher::start(&repo, &["--drift-interval", "1s"], &[]);
    w.wait_log("the first apply", Duration::from_secs(60), |l| l.contains("s: applied (").then_some(()));
    let s = w.status();
    assert_eq!(s["applied"]["commit"], first, "{s}");
    assert_eq!(s["attempted"]["result"], "applied", "{s}");
    let name = format!("{}-web-web-1", repo.project());
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]).trim(), "true");

    // Drift: reported, never fixed.
    docker_ok(&["stop", "-t", "1", &name]);
    wait_for("drift in /status", Duration::from_secs(15), || (web_state(&w) == "drifted").then_some(()));
    let passes = w.passes();
    wait_for("more drift checks", Duration::from_secs(15), || (w.passes() >= passes + 3).then_some(()));
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]).trim(),
        "false",
        "drift was fixed without --heal"
    );
    assert_eq!(w.log().matches("drift found").count(), 1, "the same drift is reported once:\n{}", w.log());

    // A new commit is applied (and replaces the stopped container too).
    repo.app("web", &sleeper("env: {V: \"2\"}\n"));
    let second = repo.commit("v2");
    wait_for("the new commit applied", Duration::from_secs(60), || {
        (w.status()["applied"]["commit"] == second.as_str()).then_some(())
    });
    let c = repo.containers();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].env_var("V"), Some("2"));
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]).trim(), "true");
    assert_eq!(web_state(&w), "in-sync");

    let (code, took) = w.stop();
    assert_eq!(code, Some(0), "{}", w.log());
    assert!(took < Duration::from_secs(15), "stopping took {took:?}");
    // What watch applied, a plan agrees with.
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);
    // The commit applied is recorded for `berth report`.
    let report = repo.berth(&["report", "web"]);
    assert!(stdout(&report).contains(&second), "{}", stdout(&report));
}

#[test]
fn heal_corrects_drift_until_an_app_crash_loops() {
    require_engine();
    let repo = TestRepo::new("watch-heal");
    // Up long enough to be ready, then dies: drift at every check.
    repo.app(
        "web",
        "image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sh\", \"-c\", \"sleep 2; exit 3\"]\nrestart: \"no\"\nstop-grace-period: 1s\n",
    );
    let w = Watcher::start(&repo, &["--drift-interval", "1s", "--heal"], &[]);
    w.wait_log("5 heals, then crash-looping", Duration::from_secs(120), |l| l.contains("crash-looping").then_some(()));
    assert_eq!(w.log().matches("drift healed").count(), 5, "{}", w.log());
    wait_for("suspended in /status", Duration::from_secs(10), || (web_state(&w) == "suspended").then_some(()));
    // Left alone: no more heals over several checks.
    let passes = w.passes();
    wait_for("more drift checks", Duration::from_secs(15), || (w.passes() >= passes + 3).then_some(()));
    assert_eq!(w.log().matches("drift healed").count(), 5, "{}", w.log());
}

#[test]
fn an_unchanged_repository_makes_no_mutating_call_over_20_passes() {
    require_engine();
    let repo = TestRepo::new("watch-idle");
    repo.git_init();
    repo.app("web", &sleeper(""));
    repo.commit("web");
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let events = EventCounter::start(repo.project());
    let t = Instant::now();
    let w = Watcher::start(&repo, &["--drift-interval", "100ms"], &[]);
    wait_for("20 passes", Duration::from_secs(60), || (w.passes() >= 20).then_some(()));
    assert!(w.log().contains("in-sync"), "{}", w.log());
    assert!(!w.log().contains("applied ("), "{}", w.log());
    let mutating: Vec<Event> = events.events().into_iter().filter(|e| MUTATING.contains(&e.action.as_str())).collect();
    assert_eq!(mutating, vec![], "over {:?}", t.elapsed());
    // Nor the lock: it is taken only to apply.
    let lock = format!("berth-lock-{}", repo.project());
    assert!(!w.log().contains("waiting for an apply"), "{}", w.log());
    assert!(!docker(&["inspect", &lock]).status.success());
}

#[test]
fn a_signed_webhook_triggers_a_pass_and_a_bad_one_is_refused() {
    require_engine();
    let repo = TestRepo::new("watch-hook");
    repo.git_init();
    repo.app("web", &sleeper(""));
    repo.commit("web");
    let secret = "hook-secret-canary-51";
    let w = Watcher::start(&repo, &["--drift-interval", "1h"], &[("BERTH_WEBHOOK_SECRET", secret)]);
    w.wait_log("the first pass", Duration::from_secs(60), |l| l.contains("pass (start)").then_some(()));
    let before = w.passes();
    let body = r#"{"ref":"refs/heads/main"}"#;
    // Bad: 401, no pass.
    assert_eq!(w.webhook(&[("X-Hub-Signature-256", "sha256=00".into()), ("X-GitHub-Event", "push".into())], body), 401);
    assert_eq!(w.webhook(&[("X-Gitlab-Token", "wrong".into())], body), 401);
    assert_eq!(w.webhook(&[], body), 401);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(w.passes(), before, "a refused delivery triggered a pass");
    // Good: GitHub's HMAC, then GitLab's token; each a pass.
    let sig = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    assert_eq!(w.webhook(&[("X-Hub-Signature-256", sig), ("X-GitHub-Event", "push".into())], body), 202);
    wait_for("a pass after the GitHub delivery", Duration::from_secs(15), || (w.passes() > before).then_some(()));
    let after_github = w.passes();
    assert_eq!(w.webhook(&[("X-Gitlab-Token", secret.into()), ("X-Gitlab-Event", "Push Hook".into())], body), 202);
    wait_for("a pass after the GitLab delivery", Duration::from_secs(15), || (w.passes() > after_github).then_some(()));
    assert!(w.log().contains("github webhook") && w.log().contains("gitlab webhook"), "{}", w.log());
    assert!(!w.log().contains(secret), "the secret reached the log");
}

#[test]
fn sigterm_during_a_replace_finishes_it_and_exits_0() {
    require_engine();
    let repo = TestRepo::new("watch-term");
    // Ready after 3 s: the replace is surely in flight when SIGTERM comes.
    let slow = |v: &str| {
        format!(
            "image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3; touch /tmp/ready; while true; do sleep 1; done\"]\nenv: {{V: \"{v}\"}}\nhealthcheck: {{command: [\"CMD\", \"test\", \"-f\", \"/tmp/ready\"], interval: 1s, timeout: 1s, retries: 10}}\n"
        )
    };
    repo.app("web", &slow("1"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    repo.app("web", &slow("2"));
    let mut w = Watcher::start(&repo, &["--drift-interval", "1h"], &[]);
    wait_for("the replace to start", Duration::from_secs(30), || (repo.containers().len() == 2).then_some(()));
    let (code, took) = w.stop();
    assert_eq!(code, Some(0), "{}", w.log());
    assert!(took < Duration::from_secs(20), "stopping took {took:?}: {}", w.log());
    assert!(w.log().contains("applied"), "the pass in flight finished: {}", w.log());
    // Nothing half done: one container, the new one.
    let c = repo.containers();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].env_var("V"), Some("2"));
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);
}

#[test]
fn a_watch_and_an_apply_of_the_same_change_make_one_container() {
    require_engine();
    let repo = TestRepo::new("watch-race");
    repo.git_init();
    // Ready after 2 s: the first applier surely holds the lock when the second comes.
    let slow = |v: &str| {
        format!(
            "image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 2; touch /tmp/ready; while true; do sleep 1; done\"]\nenv: {{V: \"{v}\"}}\nhealthcheck: {{command: [\"CMD\", \"test\", \"-f\", \"/tmp/ready\"], interval: 1s, timeout: 1s, retries: 10}}\n"
        )
    };
    repo.app("web", &slow("1"));
    repo.commit("v1");
    let w = Watcher::start(&repo, &["--drift-interval", "1h"], &[]);
    wait_for("v1 applied", Duration::from_secs(60), || {
        (web_state(&w) == "in-sync" && repo.containers().len() == 1).then_some(())
    });
    // The change seen by both: the watch (a file change) and a CI apply (another machine's state dir).
    repo.app("web", &slow("2"));
    let other = tempfile::tempdir().unwrap();
    let apply =
        repo.command().env("BERTH_STATE_DIR", other.path()).args(["apply", ".", "--auto-approve"]).output().unwrap();
    assert_exit(&apply, 0);
    wait_for("the watch to settle", Duration::from_secs(60), || {
        let s = w.status();
        (s["last-pass"]["result"] != "applied" || s["apps"]["web"]["state"] == "in-sync").then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let c = repo.containers();
    assert_eq!(c.len(), 1, "{c:?}\n{}", w.log());
    assert_eq!(c[0].env_var("V"), Some("2"));
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);
    assert!(!w.log().contains("pass failed"), "{}", w.log());
}

/// A receiver for `--notify`: every POST body it got.
struct Receiver {
    addr: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let sink = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let mut r = BufReader::new(stream);
                let mut len = 0usize;
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                sink.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                let _ = r.get_mut().write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            }
        });
        Receiver { addr, bodies }
    }

    fn events(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().iter().map(|b| serde_json::from_str(b).unwrap()).collect()
    }
}

#[test]
fn notify_hears_each_change_and_drift_once_and_never_a_secret() {
    require_engine();
    let repo = TestRepo::new("watch-notify");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.txt");
    let out = repo.command().args(["secrets", "keygen", "--out"]).arg(&key).output().unwrap();
    assert_exit(&out, 0);
    let public = stdout(&out)
        .lines()
        .chain(stderr(&out).lines())
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("age1")).map(String::from))
        .expect("a public key");
    repo.berth_yaml(&format!("recipients: [\"{public}\"]\n"));
    let canary = "notify-canary-secret-4411";
    let mut enc = repo
        .command()
        .args(["secrets", "encrypt", "db", "-C", "."])
        .env("BERTH_AGE_IDENTITY", &key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    enc.stdin.take().unwrap().write_all(format!("kind: env\nvalues: {{PASSWORD: {canary}}}\n").as_bytes()).unwrap();
    assert_exit(&enc.wait_with_output().unwrap(), 0);
    repo.app("web", &sleeper("secret-env: [db]\n"));
    let receiver = Receiver::start();
    let url = format!("http://{}/hook", receiver.addr);
    let key_s = key.to_str().unwrap();
    let w = Watcher::start(&repo, &["--drift-interval", "1s", "--notify", &url], &[("BERTH_AGE_IDENTITY", key_s)]);
    wait_for("an applied event", Duration::from_secs(60), || {
        receiver.events().iter().any(|e| e["result"] == "applied").then_some(())
    });
    let name = format!("{}-web-web-1", repo.project());
    docker_ok(&["stop", "-t", "1", &name]);
    wait_for("a drifted event", Duration::from_secs(30), || {
        receiver.events().iter().any(|e| e["result"] == "drifted").then_some(())
    });
    // Several more checks of the same drift: no new event.
    let passes = w.passes();
    wait_for("more drift checks", Duration::from_secs(20), || (w.passes() >= passes + 3).then_some(()));
    let events = receiver.events();
    assert_eq!(events.iter().filter(|e| e["result"] == "drifted").count(), 1, "{events:?}");
    let applied = events.iter().find(|e| e["result"] == "applied").unwrap();
    assert_eq!(applied["project"], repo.project());
    assert!(applied["changes"].as_array().is_some_and(|c| c.iter().any(|c| c["app"] == "web")), "{applied}");
    for b in receiver.bodies.lock().unwrap().iter() {
        assert!(!b.contains(canary), "a secret value reached a notification: {b}");
    }
    assert!(!w.log().contains(canary));
}
