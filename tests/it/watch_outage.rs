//! The engine goes away under a running `berth watch` and comes back: the
//! watch stays up, backs off (visible in /status and /metrics), keeps a
//! repository change for later, and converges once the engine answers
//! again, its event subscription made anew.
//!
//! The engine stopped is a private dockerd started by the test: its own
//! socket, data root and exec root, and its own network namespace
//! (`unshare --net`), so that nothing it does to links touches the host's.
//! That matters: a second dockerd started again on its data root deletes
//! the `docker0` bridge (it clears its stale default network by that
//! name), and so does one with `--bridge=none`; the shared engine that
//! every other test uses needs it.

use crate::common::*;
use crate::watch::{sleeper, Watcher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// A dockerd of the test's own, stopped and deleted when dropped.
struct PrivateEngine {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateEngine {
    fn start() -> Self {
        // Short paths: containerd's socket lives under the exec root (108-byte limit).
        let dir = tempfile::Builder::new().prefix("bo-").tempdir_in("/tmp").expect("temp dir");
        // Not /etc/docker/daemon.json, whatever it says.
        std::fs::write(dir.path().join("daemon.json"), "{}").expect("write daemon.json");
        let mut engine = PrivateEngine { dir, child: None };
        engine.up();
        engine
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `DOCKER_HOST` for this engine.
    fn host(&self) -> String {
        format!("unix://{}", self.path("d.sock").display())
    }

    /// Start dockerd (again: same data root, same flags) and wait until it answers.
    fn up(&mut self) {
        assert!(self.child.is_none(), "the private engine is running already");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.path("dockerd.log")).expect("log");
        // unshare execs dockerd: the child is dockerd itself, for the signals below.
        let child = Command::new("unshare")
            .args(["--net", "dockerd", "--config-file"])
            .arg(self.path("daemon.json"))
            .args(["-H", &self.host()])
            .arg("--data-root")
            .arg(self.path("data"))
            .arg("--exec-root")
            .arg(self.path("x"))
            .arg("--pidfile")
            .arg(self.path("d.pid"))
            // Its containers need no way out: no NAT rules to make.
            .arg("--iptables=false")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("failed to start `unshare --net dockerd` (util-linux, docker.io)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.docker(&["info", "--format", "{{.ServerVersion}}"]).status.success() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                panic!("the private dockerd exited while starting ({status}):\n{}", self.log_tail());
            }
            assert!(Instant::now() < deadline, "the private dockerd did not answer in 60s:\n{}", self.log_tail());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, and wait for dockerd to exit (its containers stopped with it).
    fn down(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(45);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// `docker ARGS` against this engine.
    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.host())
            .stdin(Stdio::null())
            .output()
            .expect("failed to run docker")
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {} (private engine) failed:\n{}", args.join(" "), stderr(&out));
        stdout(&out).trim().to_string()
    }

    /// `docker save IMAGE` from the shared engine into this one.
    fn load_image(&self, image: &str) {
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .expect("failed to run docker save");
        let load = Command::new("docker")
            .arg("load")
            .env("DOCKER_HOST", self.host())
            .stdin(save.stdout.take().expect("save's stdout"))
            .output()
            .expect("failed to run docker load");
        assert!(save.wait().expect("docker save").success(), "docker save {image} failed");
        assert!(load.status.success(), "docker load of {image} failed:\n{}", stderr(&load));
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.path("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        self.down();
        // A dockerd killed hard may leave its mounts (overlay, shm) behind.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| Path::new(m).starts_with(self.dir.path()))
            .collect();
        for m in ours.iter().rev() {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        // The TempDir removes the folder; the network namespace ends with its processes.
    }
}

/// `berth_errors_total{part="engine"}` from /metrics (0 before the first).
fn engine_errors(w: &Watcher) -> u64 {
    let (_, body) = w.get("/metrics");
    body.lines()
        .find(|l| l.starts_with("berth_errors_total{part=\"engine\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

fn web_state(s: &serde_json::Value) -> &str {
    s["apps"]["web"]["state"].as_str().unwrap_or_default()
}

#[test]
fn the_engine_restarted_under_a_running_watch() {
    require_engine();
    let mut engine = PrivateEngine::start();
    engine.load_image("busybox:1.36");
    let repo = TestRepo::new("watch-outage");
    repo.git_init();
    // `restart` is left at its default, unless-stopped: the engine starts
    // it again itself when it comes back (live-restore is off).
    repo.app("web", &sleeper("env: {V: \"1\"}\n"));
    repo.commit("web");
    let host = engine.host();
    // No drift checks on a timer: what runs during the outage is the backoff's doing.
    let mut w = Watcher::start(&repo, &["--drift-interval", "1h"], &[("DOCKER_HOST", &host)]);
    let name = format!("{}-web-web-1", repo.project());
    wait_for("the first apply", Duration::from_secs(90), || {
        let s = w.status();
        (web_state(&s) == "in-sync" && !s["applied"].is_null()).then_some(())
    });
    assert_eq!(engine.docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]), "true");
    let errors_before = engine_errors(&w);

    // The engine goes away.
    engine.down();
    let passes_before = w.passes();
    // A change of the repository while the engine is away: tried, kept for later.
    repo.app("web", &sleeper("env: {V: \"2\"}\n"));
    repo.commit("v2");
    let s = wait_for("a backoff of 4 failures in a row", Duration::from_secs(90), || {
        let s = w.status();
        (s["backoff"]["attempt"].as_u64() >= Some(4)).then_some(s)
    });
    let passes = w.passes() - passes_before;
    assert!(w.running(), "berth watch exited with the engine:\n{}", w.log());
    assert_eq!(w.get("/healthz").0, 200);
    let retry_at = s["backoff"]["retry-at"].as_str().unwrap_or_default();
    let retry_at = humantime::parse_rfc3339(retry_at).unwrap_or_else(|e| panic!("retry-at {retry_at}: {e}\n{s}"));
    // RFC 3339 to the second: the fourth wait is ≥ 3.6 s, read within a poll.
    assert!(retry_at + Duration::from_secs(1) > SystemTime::now(), "the retry is not ahead: {s}");
    assert!(s["backoff"]["error"].as_str().unwrap_or_default().contains("d.sock"), "{s}");
    let attempt = s["backoff"]["attempt"].as_u64().unwrap_or_default();
    // Every pass in the outage is one of the backoff's tries (+1: /metrics is read first): no busy loop.
    assert!(passes <= attempt + 1, "{passes} passes for {attempt} tries:\n{}", w.log());
    assert!(engine_errors(&w) > errors_before, "no engine error counted in /metrics");
    assert!(w.log().contains("retrying in"), "{}", w.log());

    // The engine comes back: the watch converges on its own.
    engine.up();
    wait_for("the change applied after the outage", Duration::from_secs(120), || {
        let s = w.status();
        let c = engine.docker_ok(&["ps", "--filter", &format!("name={name}"), "--format", "{{.ID}}"]);
        let v2 = !c.is_empty()
            && engine
                .docker_ok(&["inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", &name])
                .lines()
                .any(|l| l == "V=2");
        (web_state(&s) == "in-sync" && s["backoff"].is_null() && v2).then_some(())
    });
    assert!(w.running(), "{}", w.log());
    assert_eq!(engine.docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]), "true");
    let project = repo.project().to_string();
    w.wait_log("the event subscription made again", Duration::from_secs(120), |l| {
        l.contains(&format!("following the engine's events for project {project} again")).then_some(())
    });
    let plan = repo
        .command()
        .arg("plan")
        .arg(repo.dir())
        .arg("--detailed-exitcode")
        .env("DOCKER_HOST", &host)
        .output()
        .expect("failed to run berth plan");
    assert_exit(&plan, 0);
    let (code, _) = w.stop();
    assert_eq!(code, Some(0), "{}", w.log());
}
