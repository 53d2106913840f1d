//! Desired state: what should run, fully resolved, ready to diff.
//!
//! `resolve` builds these from the spec; the planner compares them with
//! `observe::Observed`; `apply` hands `ContainerConfig`s to the engine. The
//! config is target-neutral (no bollard types) so a Swarm target can map the
//! same values to services later.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Everything the repository asks for, for one project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    pub project: String,
    pub apps: Vec<DesiredApp>,
    /// True when the repository yielded no apps (prune is refused unless allowed).
    pub empty: bool,
}

/// One app, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredApp {
    pub name: String,
    /// `suspend: true`: neither changed nor pruned.
    pub suspended: bool,
    /// The runtime image, as normalized reference (`docker.io/library/busybox:1.36`).
    /// For a build app: the build's image, `<repository>:<tag>` (with
    /// `push-on-release`, containers run the release tag the plan picks).
    pub image: String,
    /// How the image is built, for `build:` apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<DesiredBuild>,
    pub pull_policy: crate::spec::PullPolicy,
    /// Which credential pulls the image, and why.
    pub pull_credential: crate::resolve::Choice,
    pub containers: Vec<DesiredContainer>,
}

/// A build from the repository (SPEC §3.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesiredBuild {
    /// Repository-relative context folder (`/`-separated, `.` for the root).
    pub context: String,
    /// Dockerfile path relative to the context.
    pub dockerfile: String,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Base-image pull credentials: `build.credentials` only.
    #[serde(default)]
    pub credentials: Vec<String>,
    /// Which files are built, and what they hash to.
    pub version: crate::source::ContextVersion,
    /// sha256 (64 hex) over every build input (`BuildInputs::identity`):
    /// the image tag is its first 12 hex digits.
    pub identity: String,
    /// The image repository without tag, normalized
    /// (`registry.example.com/app-web`, `docker.io/library/app-web`).
    pub repository: String,
    /// Where the image goes, when a registry server is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<DesiredPush>,
}

impl DesiredBuild {
    /// Everything the image depends on, as its `berth.build` label carries it.
    pub fn inputs(&self) -> crate::source::BuildInputs {
        crate::source::BuildInputs {
            content: self.version.content.clone(),
            dockerfile: self.dockerfile.clone(),
            dockerfile_blob: self.version.dockerfile_blob.clone(),
            other_files: self.version.other_files.clone(),
            args: self.args.clone(),
            target: self.target.clone(),
            platform: self.platform.clone(),
        }
    }

    /// The image tag: the start of the identity.
    pub fn tag(&self) -> &str {
        &self.identity[..crate::source::context::identity::TAG_LEN.min(self.identity.len())]
    }
}

/// Push settings of a build app with a registry server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DesiredPush {
    /// Push credential name (never its value); `None`: anonymous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// `push-extra-tags`, trimmed.
    #[serde(default)]
    pub extra_tags: Vec<String>,
    /// `push-on-release`: every release gets the next integer tag.
    #[serde(default)]
    pub on_release: bool,
}

/// One container to run: `<project>-<app>-<process>-<replica>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesiredContainer {
    pub name: String,
    pub app: String,
    pub process: String,
    pub replica: u32,
    pub config: ContainerConfig,
    /// `update-order:` as declared; `None`: the planner's default rule.
    /// Not part of the config: changing it replaces nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_order: Option<crate::spec::UpdateOrder>,
    /// Which key fingerprinted its secret env (`resolve::key_id`), when it
    /// has any: the `berth.fingerprint-key` label, so a plan made with
    /// another key knows the fingerprints cannot be compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_key: Option<String>,
    /// The release it runs (`berth.release`), decided by the planner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<u32>,
    /// The rollback pin in force (`berth.pin*`), decided by the planner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<crate::observe::Pin>,
}

/// The declared configuration of one container. Only these fields are
/// compared with the engine: whatever the image or engine defaults add
/// (image env, labels, entrypoint, networks) never shows up as drift.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContainerConfig {
    /// Normalized image reference.
    pub image: String,
    /// Command replacing the image's; `None` keeps the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, EnvValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Memory limit in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// CPU limit in units of 1e-9 CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    pub restart: crate::spec::Restart,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Health>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Signal that stops the process; `None`: the image's STOPSIGNAL, else SIGTERM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds between the stop signal and SIGKILL (`stop-grace-period`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_secs: Option<u64>,
    /// Networks the container joins, sorted by name: the project network
    /// (with the container's aliases) and the app's `networks:`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkAttachment>,
}

/// A network a container joins, with the names it answers to there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct NetworkAttachment {
    pub name: String,
    /// DNS aliases on that network (sorted); none on external networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// The project network's name: `<project>_default`, as docker compose names it.
pub fn project_network(project: &str) -> String {
    format!("{project}_default")
}

/// Seconds a container gets to stop when nothing else is declared (compose's default).
pub const DEFAULT_STOP_GRACE_SECS: u64 = 10;

/// An environment value. Secret values are never stored in a config that
/// could be printed, saved or put in a label: only a keyed fingerprint is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum EnvValue {
    Plain(String),
    /// A value from a `kind: env` credential: which file, and a keyed hash of
    /// the value (changes when the secret changes, reveals nothing).
    Secret {
        credential: String,
        fingerprint: String,
    },
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct PortBinding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// A volume or bind mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// Volume name (`<project>_<name>`, `<project>_files-<hash>` for
    /// repository files) or absolute host path.
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
    /// `kind: files` and `file`: the repository folder (or file) and what
    /// its files hash to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<RepoFiles>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MountKind {
    /// A named volume, writable unless `:ro`.
    #[default]
    Volume,
    /// An absolute host path.
    Bind,
    /// Repository files, shipped to the engine in a content-addressed
    /// volume and mounted read-only: no host path, so any checkout and a
    /// remote engine mount the same thing.
    Files,
    /// One repository file, shipped like a folder (its volume holds just
    /// that file): the volume is mounted read-only at [`files_mount_point`]
    /// and the target is a symlink to the file there, as the engine cannot
    /// mount one file of a volume (before API 1.45).
    File,
}

/// A folder (or file) of the repository mounted into containers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct RepoFiles {
    /// Repository-relative, normalized (`site`, `.` for the root,
    /// `conf/app.conf` for a file).
    pub path: String,
    /// sha256 (64 hex) over the files shipped (`source::FilesVersion`).
    pub content: String,
    /// Files and symlinks shipped, and their size: for the plan to say.
    #[serde(default)]
    pub count: usize,
    #[serde(default)]
    pub bytes: u64,
}

/// The volume that holds repository files hashing to `content`: the same
/// files always fill the same volume, whichever app or checkout mounts them.
pub fn files_volume(project: &str, content: &str) -> String {
    format!("{project}_files-{}", crate::source::files::short(content))
}

/// Where a container mounts the volume of a repository file it links to.
pub fn files_mount_point(volume: &str) -> String {
    format!("/.berth/{volume}")
}

/// The never-started container that fills `volume` through the engine's
/// archive API; while it exists, the volume's filling did not finish.
pub fn files_helper(volume: &str) -> String {
    format!("{volume}-fill")
}

/// A health check with durations in nanoseconds, as the engine takes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    pub test: Vec<String>,
    pub interval_ns: i64,
    pub timeout_ns: i64,
    pub retries: i64,
    pub start_period_ns: i64,
}

impl Desired {
    /// Named volumes the apps that berth manages mount (`<project>_data`) →
    /// those apps, sorted.
    pub fn volumes(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for app in self.apps.iter().filter(|a| !a.suspended) {
            for m in app.containers.iter().flat_map(|c| &c.config.mounts).filter(|m| m.kind == MountKind::Volume) {
                let apps = out.entry(m.source.clone()).or_default();
                if !apps.contains(&app.name) {
                    apps.push(app.name.clone());
                }
            }
        }
        out
    }

    /// Volumes of repository files the apps that berth manages mount →
    /// what they hold, and those apps (sorted).
    pub fn repo_files(&self) -> BTreeMap<String, (RepoFiles, Vec<String>)> {
        let mut out: BTreeMap<String, (RepoFiles, Vec<String>)> = BTreeMap::new();
        for app in self.apps.iter().filter(|a| !a.suspended) {
            for m in app.containers.iter().flat_map(|c| &c.config.mounts) {
                let shipped = matches!(m.kind, MountKind::Files | MountKind::File);
                let Some(files) = m.files.as_ref().filter(|_| shipped) else { continue };
                let (_, apps) = out.entry(m.source.clone()).or_insert_with(|| (files.clone(), Vec::new()));
                if !apps.contains(&app.name) {
                    apps.push(app.name.clone());
                }
            }
        }
        for (_, apps) in out.values_mut() {
            apps.sort();
        }
        out
    }

    /// Networks other than the project's that the apps join → those apps.
    pub fn external_networks(&self) -> BTreeMap<String, Vec<String>> {
        let own = project_network(&self.project);
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for app in self.apps.iter().filter(|a| !a.suspended) {
            for n in app.containers.iter().flat_map(|c| &c.config.networks).filter(|n| n.name != own) {
                let apps = out.entry(n.name.clone()).or_default();
                if !apps.contains(&app.name) {
                    apps.push(app.name.clone());
                }
            }
        }
        out
    }
}

impl ContainerConfig {
    /// The `berth.spec-hash` label: a hash of the config and the image id the
    /// container runs. Secret env enters only through its keyed fingerprint.
    pub fn spec_hash(&self, image_id: &str) -> String {
        let json = serde_json::to_vec(self).expect("config serializes");
        let mut h = Sha256::new();
        h.update(&json);
        h.update(b"\0");
        h.update(image_id.as_bytes());
        hex::encode(&h.finalize()[..16])
    }
}
