//! Timeouts: an engine that accepts the connection and never answers, one
//! that goes away in the middle of an apply, a registry that never
//! answers, and a build that prints nothing for too long. Each ends in exit 1 with a message that says what happened and
//! where, within the timeout (bounds here are generous: the machine is shared).

use crate::common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SLEEPER: &str = "[\"sleep\", \"3600\"]";

/// A TCP port that takes connections (the kernel completes the handshake)
/// and never reads or answers: a wedged daemon, or registry.
fn silent_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Runs `cmd`; its output and how long it took.
fn timed(cmd: &mut std::process::Command) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = cmd.output().expect("failed to run berth");
    (out, started.elapsed())
}

#[test]
fn a_wedged_engine_fails_drift_within_the_default_timeout() {
    let repo = TestRepo::new("wedged-drift");
    repo.app("web", "image: busybox:1.36\n");
    let (_listener, port) = silent_listener();
    let host = format!("tcp://127.0.0.1:{port}");
    let (out, took) = timed(
        repo.command()
            .args(["drift", "--output", "json"])
            .arg(repo.dir())
            .env("DOCKER_HOST", &host)
            .env_remove("BERTH_ENGINE_TIMEOUT"),
    );
    assert_exit(&out, 1);
    assert!(took < Duration::from_secs(90), "took {took:?}");
    let err = stderr(&out);
    assert!(err.contains(&format!("the engine at {host} does not answer (no answer for 30s")), "{err}");
    assert!(err.contains("--engine-timeout"), "{err}");
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("an error document on stdout");
    assert!(doc["error"]["message"].as_str().unwrap().contains(&host), "{doc:#}");
}

#[test]
fn a_wedged_engine_fails_plan_and_apply_after_the_timeout_given() {
    let repo = TestRepo::new("wedged-apply");
    repo.app("web", "image: busybox:1.36\n");
    let (_listener, port) = silent_listener();
    let host = format!("tcp://127.0.0.1:{port}");
    let mut plan = repo.command();
    plan.arg("plan").arg(repo.dir()).env("DOCKER_HOST", &host).env("BERTH_ENGINE_TIMEOUT", "2s");
    let mut apply = repo.command();
    apply.arg("apply").arg(repo.dir()).args(["--auto-approve", "--engine-timeout", "2s"]).env("DOCKER_HOST", &host);
    for mut cmd in [plan, apply] {
        let (out, took) = timed(&mut cmd);
        assert_exit(&out, 1);
        assert!(took < Duration::from_secs(30), "took {took:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "failed to connect to the Docker engine: the engine at {host} does not answer (no answer for 2s"
            )),
            "{err}"
        );
    }
}

#[test]
fn timeouts_are_checked_as_arguments() {
    for (args, env) in [
        (&["plan", "--engine-timeout", "0s"][..], None),
        (&["plan"], Some("soon")),
        (&["plan", "--registry-timeout", "1.5s"], None),
    ] {
        let mut cmd = berth();
        cmd.args(args);
        if let Some(v) = env {
            cmd.env("BERTH_ENGINE_TIMEOUT", v);
        }
        let out = cmd.output().unwrap();
        assert_exit(&out, 1);
        assert!(stderr(&out).contains("timeout"), "{args:?}: {}", stderr(&out));
    }
}

/// A TCP front for the engine's socket that forwards everything until a
/// container is started, then closes every connection and stops listening:
/// an engine that goes away in the middle of an apply.
struct VanishingEngine {
    port: u16,
    gone: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl VanishingEngine {
    fn start() -> Self {
        let socket = match std::env::var("DOCKER_HOST") {
            Ok(h) => h
                .strip_prefix("unix://")
                .unwrap_or_else(|| panic!("this test needs a unix socket engine, not {h}"))
                .to_string(),
            Err(_) => "/var/run/docker.sock".to_string(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let gone = Arc::new(AtomicBool::new(false));
        let clients: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let g = gone.clone();
        let thread = std::thread::spawn(move || {
            while !g.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let engine = UnixStream::connect(&socket).expect("reach the engine's socket");
                        clients.lock().unwrap().push(client.try_clone().unwrap());
                        forward(client, engine, g.clone());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // Gone: every connection closed, and (the listener dropped) no new one.
            for c in clients.lock().unwrap().iter() {
                let _ = c.shutdown(Shutdown::Both);
            }
        });
        Self { port, gone, thread: Some(thread) }
    }

    fn host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

impl Drop for VanishingEngine {
    fn drop(&mut self) {
        self.gone.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Copies both ways; a request to start a container goes through, then
/// the engine is gone.
fn forward(client: TcpStream, engine: UnixStream, gone: Arc<AtomicBool>) {
    let (mut from_client, mut to_engine) = (client.try_clone().unwrap(), engine.try_clone().unwrap());
    let (mut from_engine, mut to_client) = (engine, client);
    std::thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        while let Ok(n @ 1..) = from_client.read(&mut buf) {
            if to_engine.write_all(&buf[..n]).is_err() {
                break;
            }
            let chunk = &buf[..n];
            if chunk.starts_with(b"POST ") && chunk.windows(15).any(|w| w == b"/start HTTP/1.1") {
                gone.store(true, Ordering::SeqCst);
                break;
            }
        }
        let _ = to_engine.shutdown(Shutdown::Both);
        let _ = from_client.shutdown(Shutdown::Both);
    });
    std::thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        while let Ok(n @ 1..) = from_engine.read(&mut buf) {
            if to_client.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to_client.shutdown(Shutdown::Both);
    });
}

#[test]
fn an_engine_that_goes_away_mid_apply_is_named_in_words() {
    require_engine();
    let repo = TestRepo::new("engine-gone");
    repo.app("web", &format!("image: busybox:1.36\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    let engine = VanishingEngine::start();
    let (out, took) = timed(
        repo.command()
            .arg("apply")
            .arg(repo.dir())
            .args(["--auto-approve", "--output", "json"])
            .env("DOCKER_HOST", engine.host()),
    );
    assert_exit(&out, 1);
    assert!(took < Duration::from_secs(90), "took {took:?}");
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("one JSON document on stdout");
    let failed = doc["outcome"]["failed"].as_array().expect("failures");
    assert!(!failed.is_empty(), "{doc:#}");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains(&format!("the Docker engine at {} went away (", engine.host())), "{error}");
    let err = stderr(&out);
    assert!(err.contains("went away"), "{err}");
    assert!(!err.contains("os error 2"), "{err}");
}

#[test]
fn a_registry_that_never_answers_leaves_the_plan_unknown_after_the_timeout() {
    require_engine();
    let (_listener, port) = silent_listener();
    let repo = TestRepo::new("silent-registry");
    repo.app("web", &format!("image: 127.0.0.1:{port}/app:1\npull: {{policy: always}}\n"));
    let (out, took) =
        timed(repo.command().arg("plan").arg(repo.dir()).args(["--output", "json", "--registry-timeout", "2s"]));
    assert_exit(&out, 1);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("the plan as JSON");
    let unknowns = doc["unknowns"].to_string();
    assert!(unknowns.contains(&format!("127.0.0.1:{port}")) && unknowns.contains("no answer within 2s"), "{doc:#}");
    assert!(unknowns.contains("--registry-timeout"), "{unknowns}");
}

#[test]
fn a_build_silent_for_the_build_idle_timeout_fails_saying_so() {
    require_engine();
    let repo = TestRepo::new("build-idle");
    let label = format!("berth-test-build={}", repo.project());
    repo.file("svc/Dockerfile", &format!("FROM busybox:1.36\nLABEL {label}\nRUN echo working && sleep 20\n"));
    repo.app("web", "build:\n  context: svc\n");
    let (out, took) = timed(repo.command().arg("apply").arg(repo.dir()).args([
        "--auto-approve",
        "--output",
        "json",
        "--build-idle-timeout",
        "3s",
    ]));
    assert_exit(&out, 1);
    assert!(took < Duration::from_secs(18), "gave up before the step ended: took {took:?}");
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("one JSON document on stdout");
    let failed = &doc["outcome"]["failed"][0];
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("the build printed nothing for 3s; set --build-idle-timeout"), "{doc:#}");
    assert!(failed["log"].to_string().contains("working"), "the log so far is kept: {doc:#}");
    // The engine ends the build it was left with: no intermediate container stays.
    wait_for("the engine to clean up the build", Duration::from_secs(60), || {
        docker_ok(&["ps", "-aq", "--filter", &format!("label={label}")]).is_empty().then_some(())
    });
}
