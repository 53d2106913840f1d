//! Shared fixtures for the integration tests.
//!
//! - `berth()` / `TestRepo::berth` run the real binary, colour off, no
//!   `RUST_LOG`, and (through a `TestRepo`) with their own state dir and HOME;
//! - `require_engine()` fails a test, saying why, when no engine answers
//!   (tests never skip: `tests/run.sh` starts one);
//! - `TestRepo` is a temporary repository with its own project name; it
//!   removes the project's containers and volumes when dropped;
//! - `docker`, `containers`, `EventCounter`, `free_port` and `http_get` look at
//!   the engine from outside, as a user would;
//! - `TestRegistry` (token auth, TLS), `StubRegistry` (429/503),
//!   `HttpStub` and `docker_push` serve the registry tests (section at the end).
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
    for network in lines(&docker(&["network", "ls", "-q", "--filter", &filter])) {
        docker(&["network", "rm", &network]);
    }
    // An apply lock left by a test that failed while holding it.
    docker(&["rm", "-f", &format!("berth-lock-{project}")]);
    // Release tags on the engine.
    let reference = format!("reference=berth.local/{project}/*");
    for tag in lines(&docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", &reference])) {
        docker(&["rmi", &tag]);
    }
}

/// A network made by a test (e.g. a reverse proxy's), removed when dropped.
pub struct TestNetwork(pub String);

impl TestNetwork {
    pub fn create(name: &str) -> Self {
        docker_ok(&["network", "create", name]);
        TestNetwork(name.to_string())
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        for id in lines(&docker(&["ps", "-aq", "--filter", &format!("network={}", self.0)])) {
            docker(&["network", "disconnect", "-f", &self.0, &id]);
        }
        docker(&["network", "rm", &self.0]);
    }
}

/// A container made by hand in a test, outside any project: `docker rm -f` when dropped.
pub struct Foreign(pub String);

impl Foreign {
    /// `docker run -d --name NAME ARGS… busybox:1.36 sleep 600`.
    pub fn run(name: &str, args: &[&str]) -> Self {
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        all.extend_from_slice(&["busybox:1.36", "sleep", "600"]);
        docker_ok(&all);
        Foreign(name.to_string())
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        docker(&["rm", "-f", &self.0]);
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
    child: Option<std::process::Child>,
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
        std::fs::write(dir.path().join("config.yml"), config).expect("write registry config");
        let mut reg = Self { child: None, port, _dir: dir };
        reg.resume();
        reg
    }

    /// Stops the registry; its storage stays for `resume`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the registry (again), on the same port and storage.
    pub fn resume(&mut self) {
        let dir = self._dir.path();
        let log = std::fs::File::create(dir.join("registry.log")).expect("registry log");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("failed to start docker-registry (package docker-registry)");
        let started = Instant::now();
        while http_status(self.port, "/v2/").is_none() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("docker-registry exited ({status}):\n{}", self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "docker-registry did not answer in 20s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child = Some(child);
    }

    /// `127.0.0.1:<port>`, the registry host for image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The tags of `repo` (an open registry), from its API.
    pub fn open_tags(&self, repo: &str) -> Vec<String> {
        let out = Command::new("curl")
            .args(["-fsS", &format!("http://{}/v2/{repo}/tags/list", self.host())])
            .output()
            .expect("curl runs");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(String::from)).collect()
    }

    /// The registry's own log, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Tags a local image as `<host>/<repo>` and pushes it (logging in with
    /// the CLI first when credentials are given, in a throwaway config dir).
    pub fn push(&self, local: &str, repo: &str, login: Option<(&str, &str)>) -> String {
        let target = format!("{}/{repo}", self.host());
        let out = cli_push(&self.host(), local, &target, login);
        assert!(out.status.success(), "docker push {target} failed:\n{}{}", stdout(&out), stderr(&out));
        target
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        self.stop();
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

// --- Registries with token auth or TLS, and failing stand-ins ---------------
//
// `TestRegistry` is a docker-registry like `LocalRegistry`, with the setups
// real registries use: bearer tokens (the Docker Hub / GHCR challenge flow,
// with a token service started beside it) and TLS with a throwaway CA
// (keys and certificates from tests/fixtures/registry/make-certs.sh).
// `StubRegistry` answers every request with one status (429, 503, …).
// `HttpStub` is the tiny HTTP server both stand-ins are made of.

/// The output of `docker push`: the pushed reference and the digest the
/// registry reported.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `127.0.0.1:<port>/<repo>[:<tag>]`, as pushed.
    pub reference: String,
    /// The same without the tag.
    pub repository: String,
    /// `sha256:…`, from the `digest: … size: …` line.
    pub digest: String,
}

/// `docker tag local reference` and `docker push reference`, logging in to
/// `host` first in a throwaway config dir (~/.docker stays untouched).
fn cli_push(host: &str, local: &str, reference: &str, login: Option<(&str, &str)>) -> Output {
    let config = tempfile::tempdir().expect("temp docker config");
    let cfg = config.path().to_str().unwrap();
    docker_ok(&["tag", local, reference]);
    if let Some((user, password)) = login {
        let out = Command::new("docker")
            .args(["--config", cfg, "login", "-u", user, "--password-stdin", host])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(password.as_bytes())?;
                child.wait_with_output()
            })
            .expect("failed to run docker login");
        assert!(out.status.success(), "docker login {host} failed: {}", stderr(&out));
    }
    docker(&["--config", cfg, "push", reference])
}

/// Tags `local` as `<host>/<repo>` (`repo` may end in `:tag`) and pushes it with the CLI, logging in
/// first (in a throwaway config dir, so ~/.docker stays untouched) when
/// credentials are given. The local tag is removed afterwards.
pub fn docker_push(host: &str, local: &str, repo: &str, login: Option<(&str, &str)>) -> Pushed {
    let reference = format!("{host}/{repo}");
    let out = cli_push(host, local, &reference, login);
    docker(&["rmi", &reference]);
    assert!(out.status.success(), "docker push {reference} failed:\n{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let digest = text
        .split_whitespace()
        .skip_while(|w| *w != "digest:")
        .nth(1)
        .unwrap_or_else(|| panic!("no digest in the output of docker push {reference}:\n{text}"))
        .to_string();
    let repository = match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo.to_string(),
        _ => reference.clone(),
    };
    Pushed { reference, repository, digest }
}

/// One request as `HttpStub` saw it.
#[derive(Debug, Clone)]
pub struct StubRequest {
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// Query parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl StubRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == &name.to_ascii_lowercase()).map(|(_, v)| v.as_str())
    }
    pub fn params(&self, name: &str) -> Vec<&str> {
        self.query.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// An answer from `HttpStub`.
#[derive(Debug, Clone)]
pub struct StubResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl StubResponse {
    pub fn new(status: u16, body: &str) -> Self {
        Self { status, headers: vec![("Content-Type".into(), "application/json".into())], body: body.to_string() }
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

type StubHandler = dyn Fn(&StubRequest) -> StubResponse + Send + Sync;

/// A tiny HTTP/1.1 server on 127.0.0.1 (a free port), one thread per
/// connection, `Connection: close`. Keeps every request it saw. Stopped when
/// dropped.
pub struct HttpStub {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    seen: std::sync::Arc<Mutex<Vec<StubRequest>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpStub {
    pub fn start(handler: impl Fn(&StubRequest) -> StubResponse + Send + Sync + 'static) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a stub port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<StubHandler> = Arc::new(handler);
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (handler, seen) = (handler.clone(), seen2.clone());
                        std::thread::spawn(move || serve_stub(stream, &*handler, &seen));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { port, stop, seen, thread: Some(thread) }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<StubRequest> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_stub(mut stream: TcpStream, handler: &StubHandler, seen: &Mutex<Vec<StubRequest>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let request = StubRequest { method, path: path.to_string(), query, headers };
    let response = handler(&request);
    seen.lock().unwrap().push(request.clone());
    let mut out = format!(
        "HTTP/1.1 {} Stub\r\nConnection: close\r\nContent-Length: {}\r\n",
        response.status,
        response.body.len()
    );
    for (k, v) in &response.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    if request.method != "HEAD" {
        out.push_str(&response.body);
    }
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 (`url`: the URL-safe alphabet without padding, as JWTs use).
pub fn base64(data: &[u8], url: bool) -> String {
    let table: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

/// A stand-in registry that answers every request with one status.
pub struct StubRegistry {
    stub: HttpStub,
}

impl StubRegistry {
    /// 429 with Docker Hub's headers: `ratelimit-limit: 100;w=21600`,
    /// `ratelimit-remaining: 0;w=21600`.
    pub fn rate_limited() -> Self {
        Self::answering(
            StubResponse::new(
                429,
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#,
            )
            .header("ratelimit-limit", "100;w=21600")
            .header("ratelimit-remaining", "0;w=21600")
            .header("docker-ratelimit-source", "127.0.0.1"),
        )
    }

    /// 503 Service Unavailable.
    pub fn unavailable() -> Self {
        Self::answering(StubResponse::new(503, "service unavailable"))
    }

    pub fn answering(response: StubResponse) -> Self {
        Self { stub: HttpStub::start(move |_| response.clone()) }
    }

    pub fn host(&self) -> String {
        self.stub.host()
    }

    /// How many requests it got (each try of a client starts with `GET /v2/`).
    pub fn request_count(&self) -> usize {
        self.stub.requests().len()
    }
}

/// How a `TestRegistry` wants to be spoken to.
#[derive(Debug, Clone, Default)]
pub struct RegistrySetup {
    /// TLS with a throwaway CA (`TestRegistry::ca_pem`).
    pub tls: bool,
    /// With `tls`: write the CA to /etc/docker/certs.d/127.0.0.1:<port>/ca.crt
    /// for the engine (removed when dropped). berth's client reads it too.
    pub ca_in_certs_d: bool,
    /// Bearer tokens from a token service that wants this login.
    pub token_auth: Option<(String, String)>,
    /// htpasswd basic auth with this login.
    pub basic_auth: Option<(String, String)>,
}

/// docker-registry on a free loopback port, set up as `RegistrySetup` says;
/// stopped, and its files deleted, when dropped.
///
/// ```ignore
/// let reg = TestRegistry::with_token_auth("bob", "s3cret");
/// let pushed = reg.push("busybox:1.36", "app:1", Some(("bob", "s3cret")));
/// ```
pub struct TestRegistry {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
    token: Option<HttpStub>,
    certs_d: Option<PathBuf>,
    setup: RegistrySetup,
}

/// The `service` and `issuer` the test token service and registry agree on.
pub const TOKEN_SERVICE: &str = "berth-test-registry";
pub const TOKEN_ISSUER: &str = "berth-test-token-issuer";

impl TestRegistry {
    /// Bearer-token auth (the Docker Hub / GHCR flow) for `user`/`password`.
    pub fn with_token_auth(user: &str, password: &str) -> Self {
        Self::start(RegistrySetup { token_auth: Some((user.into(), password.into())), ..Default::default() })
    }

    /// TLS with a throwaway CA, which the engine is given in certs.d.
    pub fn with_tls() -> Self {
        Self::start(RegistrySetup { tls: true, ca_in_certs_d: true, ..Default::default() })
    }

    pub fn start(setup: RegistrySetup) -> Self {
        let dir = tempfile::Builder::new().prefix("berth-registry-").tempdir().expect("temp dir");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        let mut certs_d = None;
        if setup.tls {
            make_certs("tls", dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {0}/server.crt\n    key: {0}/server.key\n",
                dir.path().display()
            ));
            if setup.ca_in_certs_d {
                let d = PathBuf::from(format!("/etc/docker/certs.d/127.0.0.1:{port}"));
                std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("failed to create {}: {e}", d.display()));
                std::fs::copy(dir.path().join("ca.crt"), d.join("ca.crt")).expect("copy CA to certs.d");
                certs_d = Some(d);
            }
        }
        let mut token = None;
        if let Some((user, password)) = &setup.token_auth {
            make_certs("token", dir.path());
            let service = token_service(dir.path(), user, password);
            config.push_str(&format!(
                "auth:\n  token:\n    realm: http://{}/token\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                service.host(),
                dir.path().join("token.crt").display()
            ));
            token = Some(service);
        } else if let Some((user, password)) = &setup.basic_auth {
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
        let mut reg = Self { child, port, dir, token, certs_d, setup };
        // Any HTTP answer will do: 401 with auth, 400 (plain HTTP) with TLS.
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

    /// The CA that signed the server certificate (PEM); panics without TLS.
    pub fn ca_pem(&self) -> Vec<u8> {
        assert!(self.setup.tls, "ca_pem: this registry has no TLS");
        std::fs::read(self.dir.path().join("ca.crt")).expect("read ca.crt")
    }

    /// The registry's own log (with one access-log line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `METHOD path` of every request in the access log, in order.
    pub fn requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| {
                let quoted = l.split('"').nth(1)?;
                let mut parts = quoted.split_whitespace();
                let (method, path) = (parts.next()?, parts.next()?);
                path.starts_with("/v2").then(|| format!("{method} {path}"))
            })
            .collect()
    }

    /// Requests the token service got (empty without token auth).
    pub fn token_requests(&self) -> Vec<StubRequest> {
        self.token.as_ref().map(HttpStub::requests).unwrap_or_default()
    }

    /// Pushes `local` as `<host>/<repo>` (see `docker_push`).
    pub fn push(&self, local: &str, repo: &str, login: Option<(&str, &str)>) -> Pushed {
        docker_push(&self.host(), local, repo, login)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.certs_d {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn make_certs(kind: &str, dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry/make-certs.sh");
    let out = Command::new("bash").arg(&script).arg(kind).arg(dir).output().expect("failed to run make-certs.sh");
    assert!(out.status.success(), "make-certs.sh {kind} failed (is openssl installed?):\n{}", stderr(&out));
}

/// A token service for `user`/`password`, as Docker Hub's auth.docker.io:
/// `GET /token?service=…&scope=repository:<name>:<actions>` with Basic
/// credentials answers a JWT (RS256, signed with `dir/token.key` by the
/// openssl CLI, its certificate in the `x5c` header) granting what the
/// scopes ask; without credentials, a token that grants nothing; with wrong
/// ones, 401.
fn token_service(dir: &Path, user: &str, password: &str) -> HttpStub {
    let der = Command::new("openssl")
        .args(["x509", "-outform", "der", "-in"])
        .arg(dir.join("token.crt"))
        .output()
        .expect("failed to run openssl");
    assert!(der.status.success(), "openssl x509 failed: {}", stderr(&der));
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [base64(&der.stdout, false)]});
    let header = base64(header.to_string().as_bytes(), true);
    let key = dir.join("token.key");
    let expected = base64(format!("{user}:{password}").as_bytes(), false);
    let user = user.to_string();
    HttpStub::start(move |req| {
        if req.path != "/token" {
            return StubResponse::new(404, "{}");
        }
        let subject = match req.header("authorization") {
            None => String::new(),
            Some(a) if a.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("basic ")) && a[6..] == expected => {
                user.clone()
            }
            Some(_) => {
                return StubResponse::new(401, r#"{"details":"incorrect username or password"}"#)
                    .header("WWW-Authenticate", r#"Basic realm="berth-test-token-service""#)
            }
        };
        let access: Vec<serde_json::Value> = if subject.is_empty() {
            Vec::new()
        } else {
            req.params("scope")
                .iter()
                .flat_map(|s| s.split(' '))
                .filter_map(|scope| {
                    let mut parts = scope.splitn(3, ':');
                    let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                    Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
                })
                .collect()
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let claims = serde_json::json!({
            "iss": TOKEN_ISSUER, "sub": subject, "aud": TOKEN_SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{:x}", random_u64()),
            "access": access,
        });
        let signing_input = format!("{header}.{}", base64(claims.to_string().as_bytes(), true));
        let signature = openssl_sign(&key, signing_input.as_bytes());
        let jwt = format!("{signing_input}.{}", base64(&signature, true));
        StubResponse::new(200, &serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 300}).to_string())
    })
}

/// RSASSA-PKCS1-v1_5 SHA-256 of `data` with the PEM key at `key` (JWT RS256).
fn openssl_sign(key: &Path, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-binary", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to run openssl dgst");
    child.stdin.take().unwrap().write_all(data).expect("write to openssl");
    let out = child.wait_with_output().expect("openssl dgst");
    assert!(out.status.success(), "openssl dgst -sign failed: {}", stderr(&out));
    out.stdout
}

/// Removes a local image tag when dropped (also when the test fails).
pub struct Untag(pub String);

impl Drop for Untag {
    fn drop(&mut self) {
        docker(&["rmi", &self.0]);
    }
}

/// An age key pair made with the `age-keygen` CLI.
pub struct Key {
    pub file: PathBuf,
    pub public: String,
}

pub fn keygen(dir: &std::path::Path) -> Key {
    let file = dir.join("key.txt");
    let out = std::process::Command::new("age-keygen").arg("-o").arg(&file).output().expect("age-keygen runs");
    assert!(out.status.success(), "age-keygen: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&file).unwrap();
    let public = text.lines().find_map(|l| l.strip_prefix("# public key: ")).expect("public key line").to_string();
    Key { file, public }
}

/// Encrypt `plaintext` to `public` with the `age` CLI (armored) into the repo.
pub fn age_encrypt(repo: &TestRepo, name: &str, public: &str, plaintext: &str) {
    let path = repo.dir().join(format!("credentials/{name}.age"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut child = std::process::Command::new("age")
        .args(["-a", "-r", public, "-o"])
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("age runs");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(plaintext.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

/// A pull's progress, unwatched (`Engine::pull` called directly).
pub fn no_transfer() -> berth::observe::Transfer {
    std::sync::Arc::new(|_, _| {})
}
