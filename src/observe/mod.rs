//! Actual state: what the engine runs and holds.
//!
//! `Observed` is a plain snapshot the planner can diff without I/O: the
//! project's containers with the live value of every field berth declares
//! (one inspect each, in parallel and bounded), what other containers hold
//! (names, host ports, networks), images, networks and the project's
//! volumes, in a fixed number of listing calls. The `Engine` trait is the
//! narrow boundary to a target, with the few mutations `apply` needs; a
//! Docker Swarm target implements the same trait later.

pub mod docker;
pub mod registry;
pub mod releases;

pub use releases::Pin;
pub mod timeouts;

use crate::desired::{ContainerConfig, DesiredContainer, NetworkAttachment};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Labels berth puts on every container it creates (SPEC §3.1).
pub mod labels {
    pub const PROJECT: &str = "berth.project";
    pub const APP: &str = "berth.app";
    pub const PROCESS: &str = "berth.process";
    pub const REPLICA: &str = "berth.replica";
    pub const SPEC_HASH: &str = "berth.spec-hash";
    /// The declared config as JSON (secret env as fingerprints only), so a
    /// plan can show field-level diffs from the listing alone.
    pub const CONFIG: &str = "berth.config";
    /// Which key fingerprinted the container's secret env (an id of it, not the key).
    pub const FINGERPRINT_KEY: &str = "berth.fingerprint-key";
    /// The release the container runs.
    pub const RELEASE: &str = "berth.release";
    /// A rollback in force: the release run instead of the repository's image…
    pub const PIN: &str = "berth.pin";
    /// … its image …
    pub const PIN_IMAGE: &str = "berth.pin.image";
    /// … and the repository's image while which it holds.
    pub const PIN_WHILE: &str = "berth.pin.while";
    /// On build images: the build's inputs as JSON (`BuildInputs`), so a
    /// later plan can say which changed.
    pub const BUILD: &str = "berth.build";
    /// On build images: the commit the context came from (absent for a
    /// working-tree build), for people.
    pub const BUILD_COMMIT: &str = "berth.build.commit";
    /// On a volume of repository files: the content hash of the files in
    /// it; on the never-started helper that fills one: the volume's name.
    pub const FILES: &str = "berth.files";
}

/// What the engine holds that matters to one project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// Containers labelled `berth.project=<project>`.
    pub containers: Vec<ObservedContainer>,
    /// Local images by normalized reference (`docker.io/library/busybox:1.36`,
    /// and `…/busybox@sha256:…` for pulled digests) → image id.
    pub images: BTreeMap<String, String>,
    /// The `berth.build` label of local images that carry one, by image id.
    #[serde(default)]
    pub build_labels: BTreeMap<String, String>,
    /// What tags resolve to in their registries, for the images that were
    /// asked about (`pull.policy: always`, `plan --refresh-remote`).
    #[serde(default)]
    pub remote: BTreeMap<String, RemoteDigest>,
    /// Tags of image repositories, for release numbers (`push-on-release`),
    /// or why they could not be listed.
    #[serde(default)]
    pub registry_tags: BTreeMap<String, Result<Vec<String>, String>>,
    /// Platforms (`os/arch[/variant]`) offered by images about to be pulled,
    /// where the registry could say.
    #[serde(default)]
    pub platforms: BTreeMap<String, Vec<String>>,
    /// The engine's own platform, when a platform had to be checked.
    #[serde(default)]
    pub engine_platform: Option<String>,
    /// Containers that are not the project's: what they hold.
    #[serde(default)]
    pub others: Vec<OtherContainer>,
    /// Networks on the engine, by name.
    #[serde(default)]
    pub networks: BTreeMap<String, ObservedNetwork>,
    /// Volumes whose names start with `<project>_`.
    #[serde(default)]
    pub volumes: BTreeSet<String>,
    /// Host ports the desired containers publish that a process other than
    /// a container holds, when the engine runs on this host.
    #[serde(default)]
    pub busy_ports: BTreeSet<HostPort>,
    /// The engine's CPU count, when an app limits cpus.
    #[serde(default)]
    pub engine_cpus: Option<u32>,
    /// `os/arch[/variant]` of local images that apps with an explicit
    /// `platform:` would run.
    #[serde(default)]
    pub local_platforms: BTreeMap<String, String>,
}

/// A container outside the project, as far as it matters to the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherContainer {
    pub id: String,
    pub name: String,
    /// Its `berth.project` label, if it is another berth project's.
    pub project: Option<String>,
    pub running: bool,
    /// Host ports it publishes (only while running).
    pub ports: Vec<HostPort>,
    /// Names of the networks it is attached to.
    pub networks: Vec<String>,
}

/// A published host port: address (`None`: all), port, `tcp`/`udp`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HostPort {
    pub ip: Option<String>,
    pub port: u16,
    pub protocol: String,
}

impl HostPort {
    /// Two bindings clash when port and protocol match and either takes
    /// every address (or both take the same one).
    pub fn clashes(&self, other: &HostPort) -> bool {
        let any = |ip: &Option<String>| ip.as_deref().is_none_or(|ip| ip == "0.0.0.0" || ip == "::");
        self.port == other.port
            && self.protocol == other.protocol
            && (any(&self.ip) || any(&other.ip) || self.ip == other.ip)
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.ip {
            Some(ip) => write!(f, "{ip}:{}/{}", self.port, self.protocol),
            None => write!(f, "{}/{}", self.port, self.protocol),
        }
    }
}

/// A network on the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedNetwork {
    pub id: String,
    /// Its `berth.project` label: set when berth created it for that project.
    pub project: Option<String>,
}

/// A tag's manifest digest in its registry, or why it is not known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemoteDigest {
    Digest(String),
    /// The registry answered that the tag does not exist.
    Absent,
    /// The registry could not be asked (down, 5xx, 429) or refused: the
    /// plan for this image is unknown, never a change.
    Unknown(String),
}

/// One container of the project, from the listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub app: String,
    pub process: String,
    pub replica: u32,
    pub state: ContainerState,
    /// The image id the container runs.
    pub image_id: String,
    /// `berth.spec-hash` label.
    pub spec_hash: Option<String>,
    /// `berth.config` label, parsed; `None` when missing or unreadable.
    pub config: Option<ContainerConfig>,
    /// `berth.fingerprint-key` label: which key made its secret fingerprints.
    #[serde(default)]
    pub fingerprint_key: Option<String>,
    /// `berth.release` label: the release it runs.
    #[serde(default)]
    pub release: Option<u32>,
    /// `berth.pin*` labels: the rollback in force when it was made.
    #[serde(default)]
    pub pin: Option<Pin>,
    /// What the engine really runs, from an inspect; `None` when the
    /// container vanished between listing and inspect.
    #[serde(default)]
    pub live: Option<Live>,
}

/// A container's live configuration and state, from an inspect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Live {
    /// The engine's values of the fields berth declares. `env` is empty
    /// until the pipeline fills it with the declared keys only (secret
    /// ones as fingerprints), from `raw_env`; `platform` is never known.
    pub config: ContainerConfig,
    /// Exit code of the last run, for an exited container.
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// The environment as the engine has it (image env included, secret
    /// values in clear): dropped by the pipeline right after observe, never
    /// serialized or printed.
    #[serde(skip)]
    pub raw_env: RawEnv,
}

/// Environment values in clear, only ever held in memory: Debug shows
/// the keys alone.
#[derive(Clone, Default, PartialEq)]
pub struct RawEnv(pub BTreeMap<String, String>);

impl std::fmt::Debug for RawEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Container state as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerState {
    Created,
    Running,
    Restarting,
    Paused,
    Exited,
    Dead,
    Removing,
    Unknown,
}

impl ContainerState {
    pub fn parse(s: &str) -> Self {
        match s {
            "created" => Self::Created,
            "running" => Self::Running,
            "restarting" => Self::Restarting,
            "paused" => Self::Paused,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            "removing" => Self::Removing,
            _ => Self::Unknown,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Restarting => "restarting",
            Self::Paused => "paused",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Removing => "removing",
            Self::Unknown => "unknown",
        }
    }
}

/// Registry credentials handed to the engine in memory for one pull.
#[derive(Clone)]
pub struct PullAuth {
    pub server: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for PullAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password, not even in debug logs.
        f.debug_struct("PullAuth")
            .field("server", &self.server)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("failed to connect to the Docker engine: {0}")]
    Connect(String),
    #[error("failed to {action}: {message}")]
    Call { action: String, message: String },
    #[error("failed to pull {image}: {message}")]
    Pull { image: String, message: String },
    #[error("container {name} did not become ready: {message}")]
    NotReady { name: String, message: String },
    /// A failed build; `log` is the tail of its output, shown after the error line.
    #[error("failed to build {image}: {message}")]
    Build { image: String, message: String, log: Vec<String> },
    #[error("failed to push {image}: {message}")]
    Push { image: String, message: String },
}

impl EngineError {
    /// Whether trying again later may succeed: the engine or a registry
    /// went away, did not answer, or said it is overloaded — not a build
    /// that fails, an image that does not exist, or a container that never
    /// becomes ready.
    pub fn is_transient(&self) -> bool {
        const MARKS: [&str; 14] = [
            "went away",
            "does not answer",
            "timed out",
            "timeout",
            "connection refused",
            "connection reset",
            "no such host",
            "temporary failure",
            "too many requests",
            " 429",
            " 502",
            " 503",
            " 504",
            "unexpected eof",
        ];
        match self {
            EngineError::Connect(_) => true,
            EngineError::Call { message, .. }
            | EngineError::Pull { message, .. }
            | EngineError::Push { message, .. } => {
                let m = message.to_ascii_lowercase();
                MARKS.iter().any(|mark| m.contains(mark))
            }
            EngineError::NotReady { .. } | EngineError::Build { .. } => false,
        }
    }
}

/// One image build through the engine.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// Normalized references to tag the result with; the first names it in messages.
    pub tags: Vec<String>,
    /// Dockerfile path inside the context tar.
    pub dockerfile: String,
    pub args: BTreeMap<String, String>,
    /// Stage to stop at.
    pub target: Option<String>,
    /// `os/arch[/variant]`; `None`: the engine's own.
    pub platform: Option<String>,
    /// Labels of the image built.
    pub labels: BTreeMap<String, String>,
    /// Logins for pulling base images: `build.credentials` only, never the
    /// default credential (SPEC §3.2).
    pub auth: Vec<PullAuth>,
}

/// Receives build output line by line, as it comes (progress on a TTY).
pub type BuildLog = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Receives a pull's progress as it moves: bytes moved and bytes known so
/// far, over the layers that are downloaded.
pub type Transfer = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Secret env values, resolved at apply time and handed over in memory.
pub type SecretEnv = BTreeMap<String, String>;

/// Values the engine can change on a running container (`docker update`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResourceUpdate {
    /// Memory limit in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// CPU limit in units of 1e-9 CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<crate::spec::Restart>,
}

impl ResourceUpdate {
    pub fn is_empty(&self) -> bool {
        self.memory.is_none() && self.nano_cpus.is_none() && self.restart.is_none()
    }
}

/// Who holds (or asks for) a project's apply lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub user: String,
    pub host: String,
    pub pid: u32,
    /// The command line, e.g. `berth apply .`.
    pub command: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` by {}@{} (pid {})", self.command, self.user, self.host, self.pid)
    }
}

/// A project's lock as the engine holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// The lock object's id (to remove exactly this one).
    pub id: String,
    pub holder: LockHolder,
    /// How long it has been held, by the engine's clock.
    pub held_for: Duration,
    pub lease: Duration,
    /// Not renewed within its lease: its holder is gone.
    pub expired: bool,
}

/// What asking for the lock gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAttempt {
    Acquired {
        id: String,
    },
    Held(LockInfo),
    /// It was released while we looked: ask again.
    Retry,
}

/// What the engine says happened, for `berth watch`'s drift checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// The engine answered: events from now on arrive.
    Subscribed,
    /// One of the project's containers died, stopped, was killed or
    /// removed, ran out of memory, or turned unhealthy.
    Container { name: String, action: String },
}

/// A subscription to engine events; it ends (or yields an error) when the
/// connection to the engine does.
pub type EventStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<EngineEvent, EngineError>> + Send + 'static>>;

/// The boundary to a container target. Every method is one (or a bounded few)
/// engine calls; `observe` makes a fixed number of listing calls plus one
/// inspect per project container.
#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    /// The project's containers with their live configuration, what other
    /// containers hold, the local images, the networks and the project's volumes.
    async fn observe(&self, project: &str) -> Result<Observed, EngineError>;
    /// How many CPUs the engine has.
    async fn cpus(&self) -> Result<u32, EngineError>;
    /// Pull an image (optionally for a platform), with credentials in memory.
    async fn pull(
        &self,
        image: &str,
        platform: Option<&str>,
        auth: Option<&PullAuth>,
        transfer: Transfer,
    ) -> Result<(), EngineError>;
    /// The local image id of a reference, if present.
    async fn image_id(&self, image: &str) -> Result<Option<String>, EngineError>;
    /// Create (not start) a container with berth's labels, attached to its
    /// networks; returns its id.
    async fn create(
        &self,
        project: &str,
        c: &DesiredContainer,
        spec_hash: &str,
        secrets: &SecretEnv,
    ) -> Result<String, EngineError>;
    async fn start(&self, id: &str) -> Result<(), EngineError>;
    /// Stop gracefully: the container's stop signal, then SIGKILL after
    /// `grace` (`None`: the container's own stop timeout). A stopped
    /// container is left as it is.
    async fn stop(&self, id: &str, grace: Option<Duration>) -> Result<(), EngineError>;
    /// Remove a stopped container (never its volumes). A running one is
    /// refused by the engine: callers stop first. Gone already is fine.
    async fn remove(&self, id: &str) -> Result<(), EngineError>;
    async fn rename(&self, id: &str, new_name: &str) -> Result<(), EngineError>;
    /// Change resources and restart policy in place.
    async fn update(&self, id: &str, update: &ResourceUpdate) -> Result<(), EngineError>;
    /// Attach a container to a network with its aliases there.
    async fn connect(&self, id: &str, network: &NetworkAttachment) -> Result<(), EngineError>;
    /// Create a bridge network labelled with the project.
    async fn create_network(&self, project: &str, name: &str) -> Result<(), EngineError>;
    async fn remove_network(&self, name: &str) -> Result<(), EngineError>;
    /// Create a named volume labelled with the project.
    async fn create_volume(&self, project: &str, name: &str) -> Result<(), EngineError>;
    /// Take the project's apply lock if nobody holds it (an atomic
    /// test-and-set on the engine, seen by every machine).
    async fn try_lock(&self, project: &str, holder: &LockHolder, lease: Duration) -> Result<LockAttempt, EngineError>;
    /// Renew a held lock's lease: it has been held for `held_for`.
    async fn renew_lock(&self, id: &str, held_for: Duration) -> Result<(), EngineError>;
    /// Release a lock (this one only, by id).
    async fn unlock(&self, id: &str) -> Result<(), EngineError>;
    /// The project's lock, if someone holds one.
    async fn lock_of(&self, project: &str) -> Result<Option<LockInfo>, EngineError>;
    /// Fill volume `name` (made, labelled with the project and `content`,
    /// when missing) with a tar of repository files, through the engine's
    /// archive API: no host path. A fill that does not finish leaves its
    /// helper container (`desired::files_helper`) as the sign.
    async fn fill_volume(
        &self,
        project: &str,
        name: &str,
        content: &str,
        files: crate::source::ContextStream,
    ) -> Result<(), EngineError>;
    /// Wait until the container runs (and is healthy, if it has a check).
    async fn wait_ready(&self, id: &str, name: &str, timeout: std::time::Duration) -> Result<(), EngineError>;
    /// Build an image from a tar context stream; returns the image id.
    /// Intermediate containers are removed, success or not; on failure the
    /// error carries the tail of the build log.
    async fn build(
        &self,
        req: &BuildRequest,
        context: crate::source::ContextStream,
        log: BuildLog,
    ) -> Result<String, EngineError>;
    /// Push a local image reference (layers the registry has are not sent
    /// again); returns the manifest digest the registry stored.
    async fn push(&self, image: &str, auth: Option<&PullAuth>) -> Result<String, EngineError>;
    /// Give a local image another reference (`docker tag`).
    async fn tag(&self, image: &str, new_ref: &str) -> Result<(), EngineError>;
    /// Remove one reference of a local image; the image goes with its last
    /// reference, unless a container uses it (then it stays, tag and all).
    async fn untag(&self, reference: &str) -> Result<(), EngineError>;
    /// `os/arch[/variant]` of a local image, if present.
    async fn image_platform(&self, image: &str) -> Result<Option<String>, EngineError>;
    /// The engine's own platform, `os/arch[/variant]` (e.g. `linux/amd64`).
    async fn platform(&self) -> Result<String, EngineError>;
    /// Events of the project's containers that may mean drift (die,
    /// destroy, stop, kill, oom, health_status: unhealthy): first
    /// `Subscribed` once the engine answered, then each as it happens.
    /// Callers subscribe again when it ends. A target without events never
    /// yields: its drift is found on the drift interval.
    fn container_events(&self, project: &str) -> EventStream {
        let _ = project;
        Box::pin(futures_util::stream::pending())
    }
}

#[cfg(test)]
mod transient_tests {
    use super::EngineError;

    #[test]
    fn outages_are_transient_and_refusals_are_not() {
        let call = |m: &str| EngineError::Call { action: "x".into(), message: m.into() };
        let pull = |m: &str| EngineError::Pull { image: "x".into(), message: m.into() };
        assert!(EngineError::Connect("refused".into()).is_transient());
        assert!(call("the Docker engine at unix:///run/docker.sock went away (broken pipe)").is_transient());
        assert!(pull("Get \"https://127.0.0.1:5000/v2/\": dial tcp 127.0.0.1:5000: connect: connection refused")
            .is_transient());
        assert!(pull("received unexpected HTTP status: 503 Service Unavailable").is_transient());
        assert!(!pull("manifest for 127.0.0.1:5000/x:9 not found: manifest unknown").is_transient());
        assert!(!call("Conflict. The container name \"/web\" is already in use").is_transient());
        let build = EngineError::Build { image: "x".into(), message: "exit code 1".into(), log: vec![] };
        assert!(!build.is_transient());
        assert!(!EngineError::NotReady { name: "x".into(), message: "unhealthy".into() }.is_transient());
    }
}
