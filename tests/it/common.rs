//! Shared fixtures for the integration tests.
//!
//! - `berth()` / `TestRepo::berth` run the real binary, colour off, no
//!   `RUST_LOG`, and (through a `TestRepo`) with their own state dir and HOME;
//! - `require_engine()` fails a test, saying why, when no engine answers
//!   (tests never skip: `tests/run.sh` starts one);
//! - `TestRepo` is a temporary repository with its own project name; it
//!   removes the project's containers and volumes when dropped;
//! - `docker`, `containers`, `EventCounter`, `free_port` and `http_get` look at
//!   the engine from outside, as a user would.
#![allow(dead_code)] // each test module uses a different part

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The label every berth container carries.
pub const PROJECT_LABEL: &str = "berth.project";

/// The `berth` binary, with `NO_COLOR=1` and without `RUST_LOG`.
pub fn berth() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.env("NO_COLOR", "1").env_remove("RUST_LOG").stdin(Stdio::null());
    cmd
}

/// Panics, saying what to do, unless a Docker engine answers. Checked once
/// per test binary.
pub fn require_engine() {
    static ENGINE: OnceLock<Result<(), String>> = OnceLock::new();
    let state =
        ENGINE.get_or_init(|| match Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output() {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
            Err(e) => Err(format!("cannot run the docker CLI: {e}")),
        });
    if let Err(why) = state {
        panic!("no Docker engine answers: run the tests through tests/run.sh, which starts one ({why})");
    }
}

/// Runs `docker ARGS`; panics only when the CLI cannot be run at all.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("failed to run docker {}: {e}", args.join(" ")))
}

/// Runs `docker ARGS`, asserts success, returns trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {} failed:\n{}", args.join(" "), stderr(&out));
    stdout(&out).trim().to_string()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit code {code}, got {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// A project name for one test: `t-<test>-<4 random hex>`, valid as a
/// berth project and unique across concurrent runs.
pub fn unique_project(test_name: &str) -> String {
    let mut slug = String::new();
    for c in test_name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(24).collect();
    let slug = slug.trim_end_matches('-');
    format!("t-{slug}-{:04x}", random_u64() & 0xffff)
}

fn random_u64() -> u64 {
    static COUNTER: Mutex<u64> = Mutex::new(0);
    let n = {
        let mut c = COUNTER.lock().unwrap();
        *c += 1;
        *c
    };
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos());
    h.write_u32(std::process::id());
    h.finish()
}

/// Removes a project's containers and volumes when dropped (also when the
/// test panics). Use directly in tests that have no repository.
pub struct ProjectGuard {
    pub project: String,
}

impl ProjectGuard {
    pub fn new(project: &str) -> Self {
        Self { project: project.to_string() }
    }
}

impl Drop for ProjectGuard {
    fn drop(&mut self) {
        remove_project(&self.project);
    }
}

/// `docker rm -f` every container labelled with the project, then removes
/// its volumes (`<project>_*`, or labelled with the project).
pub fn remove_project(project: &str) {
    let filter = format!("label={PROJECT_LABEL}={project}");
    let ids = lines(&docker(&["ps", "-aq", "--filter", &filter]));
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(String::as_str));
        docker(&args);
    }
    let prefix = format!("{project}_");
    let mut volumes: Vec<String> = lines(&docker(&["volume", "ls", "-q", "--filter", &format!("name={prefix}")]))
        .into_iter()
        .filter(|v| v.starts_with(&prefix))
        .collect();
    volumes.extend(lines(&docker(&["volume", "ls", "-q", "--filter", &filter])));
    volumes.sort();
    volumes.dedup();
    if !volumes.is_empty() {
        let mut args = vec!["volume", "rm", "-f"];
        args.extend(volumes.iter().map(String::as_str));
        docker(&args);
    }
}

fn lines(o: &Output) -> Vec<String> {
    if !o.status.success() {
        return Vec::new();
    }
    stdout(o).lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

/// A repository in a temp dir, with its own project name, state dir and HOME.
///
/// ```ignore
/// let repo = TestRepo::new("replace_on_env_change");
/// repo.app("web", "image: busybox:1.36\n");
/// assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
/// ```
pub struct TestRepo {
    // Dropped after the guard: containers go before the folders they mount.
    guard: ProjectGuard,
    root: tempfile::TempDir,
    repo: PathBuf,
}

impl TestRepo {
    /// A repo whose berth.yaml says only `project: t-<test_name>-<rand>`.
    pub fn new(test_name: &str) -> Self {
        let project = unique_project(test_name);
        let root = tempfile::Builder::new().prefix(&format!("berth-{project}-")).tempdir().expect("temp dir");
        for d in ["repo", "state", "home"] {
            std::fs::create_dir_all(root.path().join(d)).expect("temp subdir");
        }
        let repo = Self { guard: ProjectGuard::new(&project), repo: root.path().join("repo"), root };
        repo.berth_yaml("");
        repo
    }

    pub fn project(&self) -> &str {
        &self.guard.project
    }

    /// The repository folder.
    pub fn path(&self) -> &Path {
        &self.repo
    }

    /// The repository folder, as an owned path.
    pub fn dir(&self) -> PathBuf {
        self.repo.clone()
    }

    /// `BERTH_STATE_DIR` for commands run through `berth`.
    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join("state")
    }

    /// `HOME` for commands run through `berth` (nothing from the real one leaks in).
    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// Writes berth.yaml: `project:` followed by `extra` (YAML lines).
    pub fn berth_yaml(&self, extra: &str) -> &Self {
        self.file("berth.yaml", &format!("project: {}\n{extra}", self.project()))
    }

    /// Writes `apps/<name>.yaml`.
    pub fn app(&self, name: &str, yaml: &str) -> &Self {
        self.file(&format!("apps/{name}.yaml"), yaml)
    }

    /// Deletes `apps/<name>.yaml`.
    pub fn remove_app(&self, name: &str) -> &Self {
        let path = self.dir().join(format!("apps/{name}.yaml"));
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("failed to remove {}: {e}", path.display()));
        self
    }

    /// Writes a file at a repo-relative path, creating folders.
    pub fn file(&self, rel: &str, text: &str) -> &Self {
        let path = self.dir().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("failed to create {}: {e}", parent.display()));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("failed to write {}: {e}", path.display()));
        self
    }

    /// A `berth` command with this repo's state dir and HOME; add arguments
    /// yourself (the repo path is not added: see `berth`).
    pub fn command(&self) -> Command {
        let mut cmd = berth();
        cmd.env("BERTH_STATE_DIR", self.state_dir()).env("HOME", self.home()).current_dir(self.dir());
        cmd
    }

    /// Runs `berth SUBCOMMAND <repo> REST...`: `repo.berth(&["plan", "--detailed-exitcode"])`.
    pub fn berth(&self, args: &[&str]) -> Output {
        let (sub, rest) = args.split_first().expect("a berth subcommand");
        let dir = self.dir();
        let mut cmd = self.command();
        cmd.arg(sub).arg(&dir).args(rest);
        cmd.output().expect("failed to run berth")
    }

    /// Runs git in the repo (author and committer fixed).
    pub fn git(&self, args: &[&str]) -> Output {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.dir())
            .env("GIT_AUTHOR_NAME", "berth tests")
            .env("GIT_AUTHOR_EMAIL", "tests@berth.invalid")
            .env("GIT_COMMITTER_NAME", "berth tests")
            .env("GIT_COMMITTER_EMAIL", "tests@berth.invalid")
            .env("HOME", self.home())
            .output()
            .expect("failed to run git");
        assert!(out.status.success(), "git {} failed:\n{}", args.join(" "), stderr(&out));
        out
    }

    /// `git init` (branch main).
    pub fn git_init(&self) -> &Self {
        self.git(&["init", "-q", "-b", "main"]);
        self
    }

    /// Commits everything; returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        stdout(&self.git(&["rev-parse", "HEAD"])).trim().to_string()
    }

    /// The project's containers, as the engine reports them.
    pub fn containers(&self) -> Vec<Container> {
        containers(self.project())
    }
}

/// One container of a project, from `docker inspect`.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// `running`, `exited`, ...
    pub state: String,
    /// `none`, `starting`, `healthy`, `unhealthy`.
    pub health: String,
    /// The image id the container runs.
    pub image_id: String,
    /// The image reference it was created from.
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// `KEY=value` as the engine has them (image env included).
    pub env: Vec<String>,
    /// The whole inspection, for anything else.
    pub inspect: serde_json::Value,
}

impl Container {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// The value of `KEY` in the container's environment.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env.iter().find_map(|kv| kv.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }
}

/// Every container labelled `berth.project=<project>`, sorted by name.
pub fn containers(project: &str) -> Vec<Container> {
    let ids = lines(&docker(&["ps", "-aq", "--filter", &format!("label={PROJECT_LABEL}={project}")]));
    if ids.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["inspect"];
    args.extend(ids.iter().map(String::as_str));
    let out = docker(&args);
    // A container may vanish between the two calls: inspect still prints the rest.
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut list: Vec<Container> = all
        .into_iter()
        .map(|v| Container {
            id: s(&v["Id"]),
            name: s(&v["Name"]).trim_start_matches('/').to_string(),
            state: s(&v["State"]["Status"]),
            health: v["State"]["Health"]["Status"].as_str().unwrap_or("none").to_string(),
            image_id: s(&v["Image"]),
            image: s(&v["Config"]["Image"]),
            labels: v["Config"]["Labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, val)| (k.clone(), s(val))).collect())
                .unwrap_or_default(),
            env: v["Config"]["Env"].as_array().map(|a| a.iter().map(s).collect()).unwrap_or_default(),
            inspect: v,
        })
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

/// One engine event about a project's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `create`, `start`, `die`, ... (`health_status: healthy` → `health_status`).
    pub action: String,
    /// The container's name at the time.
    pub name: String,
    pub id: String,
}

/// Engine events that change a container (what "no mutating call" means).
pub const MUTATING: &[&str] =
    &["create", "start", "stop", "die", "kill", "destroy", "rename", "update", "pause", "unpause", "restart"];

/// Records a time window and then lists the engine's events about a
/// project's containers in it, with `docker events --since --until`:
///
/// ```ignore
/// let events = EventCounter::start(repo.project());
/// assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
/// assert_eq!(events.mutating(), vec![]);
/// ```
pub struct EventCounter {
    project: String,
    since: SystemTime,
}

impl EventCounter {
    pub fn start(project: &str) -> Self {
        // Events carry the engine's clock, which is this machine's, to the
        // nanosecond: whatever finished before this call is outside the window.
        Self { project: project.to_string(), since: SystemTime::now() }
    }

    /// Every event about the project's containers from the start until now.
    pub fn events(&self) -> Vec<Event> {
        // `--until` slightly in the future lets the engine deliver events
        // that happened just now; the call returns once that time passes.
        let until = SystemTime::now() + Duration::from_millis(300);
        let ts = |t: SystemTime| {
            let d = t.duration_since(UNIX_EPOCH).unwrap();
            format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
        };
        let out = docker_ok(&[
            "events",
            "--since",
            &ts(self.since),
            "--until",
            &ts(until),
            "--filter",
            "type=container",
            "--filter",
            &format!("label={PROJECT_LABEL}={}", self.project),
            "--format",
            "{{json .}}",
        ]);
        out.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("unreadable docker event {l}: {e}"));
                let action = v["Action"].as_str().or(v["status"].as_str()).unwrap_or_default();
                Event {
                    action: action.split(':').next().unwrap_or_default().trim().to_string(),
                    name: v["Actor"]["Attributes"]["name"].as_str().unwrap_or_default().to_string(),
                    id: v["Actor"]["ID"].as_str().or(v["id"].as_str()).unwrap_or_default().to_string(),
                }
            })
            .collect()
    }

    /// The events that changed something (see `MUTATING`).
    pub fn mutating(&self) -> Vec<Event> {
        self.events().into_iter().filter(|e| MUTATING.contains(&e.action.as_str())).collect()
    }
}

/// A host TCP port that is free now and not handed out before in this run.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap();
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let port = TcpListener::bind("0.0.0.0:0").and_then(|l| l.local_addr()).expect("bind a free port").port();
        if given.insert(port) {
            return port;
        }
    }
}

/// `GET path` on 127.0.0.1:port over HTTP/1.0; the body, or `None` when
/// nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/").then(|| body.to_string())
}

/// Polls `f` every 200ms until it returns `Some`, or panics after `timeout`
/// saying what was awaited.
#[track_caller]
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A private registry (Debian's `docker-registry`, distribution 2.8) on a
/// free loopback port, optionally with htpasswd auth. The engine speaks
/// plain HTTP to loopback registries, so no TLS is needed. Stopped and
/// deleted when dropped.
pub struct LocalRegistry {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl LocalRegistry {
    /// An open registry.
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// A registry that wants `user`/`password` (bcrypt htpasswd).
    pub fn with_auth(user: &str, password: &str) -> Self {
        Self::spawn(Some((user, password)))
    }

    fn spawn(auth: Option<(&str, &str)>) -> Self {
        let dir = tempfile::Builder::new().prefix("berth-registry-").tempdir().expect("temp dir");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("failed to run htpasswd (apache2-utils)");
            assert!(out.status.success(), "htpasswd failed: {}", stderr(&out));
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: berth-tests\n    path: {}\n", file.display()));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("failed to start docker-registry (package docker-registry)");
        let mut reg = Self { child, port, _dir: dir };
        let started = Instant::now();
        while http_status(port, "/v2/").is_none() {
            if let Ok(Some(status)) = reg.child.try_wait() {
                panic!("docker-registry exited ({status}):\n{}", reg.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "docker-registry did not answer in 20s:\n{}",
                reg.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        reg
    }

    /// `127.0.0.1:<port>`, the registry host for image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The registry's own log, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Tags a local image as `<host>/<repo>` and pushes it (logging in with
    /// the CLI first when credentials are given, in a throwaway config dir).
    pub fn push(&self, local: &str, repo: &str, login: Option<(&str, &str)>) -> String {
        let target = format!("{}/{repo}", self.host());
        let config = tempfile::tempdir().expect("temp docker config");
        let cfg = config.path().to_str().unwrap();
        docker_ok(&["tag", local, &target]);
        if let Some((user, password)) = login {
            let out = Command::new("docker")
                .args(["--config", cfg, "login", "-u", user, "--password-stdin", &self.host()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    child.stdin.take().unwrap().write_all(password.as_bytes())?;
                    child.wait_with_output()
                })
                .expect("failed to run docker login");
            assert!(out.status.success(), "docker login {} failed: {}", self.host(), stderr(&out));
        }
        docker_ok(&["--config", cfg, "push", &target]);
        target
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP status of `GET path` on 127.0.0.1:port, or `None`.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.split_whitespace().nth(1)?.parse().ok()
}
