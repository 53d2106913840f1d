//! The repository's YAML files as typed values: exactly what the user wrote.
//!
//! These types are the single source of the JSON Schemas (`berth schema`), so
//! every field carries a doc comment that becomes its schema description.
//! Nothing here is resolved: defaults, image names and credentials are
//! decided later, in `resolve`.

use super::at::At;
use super::extensions::top_level;
use super::scalars::{ByteSize, Cpus, DurationSpec, ImageRef, StopSignal, HINT};
use super::values::{PortSpec, VolumeSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `berth.yaml`: global settings of a berth repository. Top-level `x-*` keys
/// are ignored (a place for YAML anchors).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(rename = "Settings", title = "berth.yaml", extend("patternProperties" = { "^x-": {} }))]
pub struct Settings {
    /// Namespace on the engine; default: the repository folder's name. `[a-z0-9][a-z0-9-]*`
    pub project: Option<At<String>>,
    /// age recipients (`age1…`, `ssh-ed25519 …`) that credential files are encrypted to.
    #[serde(default)]
    pub recipients: Vec<At<String>>,
    /// Global registry properties; an app's `registry:` overrides each key.
    pub registry: Option<RegistrySettings>,
    /// Credential defaults.
    pub credentials: Option<CredentialSettings>,
    /// `host:port` registries spoken to over plain HTTP (loopback registries always are).
    #[serde(default)]
    pub insecure_registries: Vec<At<String>>,
}

top_level!(Settings);

/// Registry properties shared by all apps.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistrySettings {
    /// Push target; `docker.io` / `hub.docker.com` mean Docker Hub.
    pub server: Option<At<String>>,
    /// Template of the image repository; variables `.AppName`, `.Project`. Default `app-{{ .AppName }}`.
    pub image_repo_template: Option<At<String>>,
    /// Give every release the next integer tag and push it.
    pub push_on_release: Option<bool>,
    /// Extra tags every pushed build also gets (manifest-only pushes).
    pub push_extra_tags: Option<Vec<At<String>>>,
}

/// `credentials:` in berth.yaml.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CredentialSettings {
    /// Name of the default registry credential (a file `credentials/<name>.age`).
    pub default: Option<At<String>>,
}

/// `apps/<name>.yaml`: one app. Top-level `x-*` keys are ignored (a place
/// for YAML anchors).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(rename = "AppSpec", title = "berth app", extend("patternProperties" = { "^x-": {} }))]
pub struct AppSpec {
    /// App name; default: the file stem. Unique in the repository. `[a-z0-9][a-z0-9-]*`
    pub name: Option<At<String>>,
    /// An existing image to deploy, by tag or `@sha256:` digest. Exclusive with `build`.
    pub image: Option<At<ImageRef>>,
    /// Build the image from a folder of this repository. Exclusive with `image`.
    pub build: Option<At<BuildSpec>>,
    /// How the runtime image is pulled.
    pub pull: Option<PullSpec>,
    /// Platform such as `linux/amd64`; default: the engine's own.
    pub platform: Option<At<String>>,
    /// Per-app overrides of berth.yaml `registry:`.
    pub registry: Option<AppRegistry>,
    /// Process types; default: one process `web` running the image's own entrypoint and command.
    pub processes: Option<BTreeMap<At<String>, ProcessSpec>>,
    /// Plain environment variables, shown in plans.
    #[serde(default)]
    pub env: BTreeMap<At<String>, At<String>>,
    /// Names of `kind: env` credential files whose values become environment variables; never displayed.
    #[serde(default)]
    pub secret_env: Vec<At<String>>,
    /// User (name or uid[:gid]) the processes run as.
    pub user: Option<At<String>>,
    /// Resource limits.
    pub resources: Option<Resources>,
    /// `volume:/path[:ro]` (a named volume, never deleted) or `./repo/path:/path[:ro]` (a bind mount of a repository folder).
    #[serde(default)]
    pub volumes: Vec<At<VolumeSpec>>,
    /// Restart policy; default `unless-stopped`.
    pub restart: Option<At<Restart>>,
    /// `true`: berth neither changes nor prunes this app.
    #[serde(default)]
    pub suspend: bool,
    /// Container health check; runs in the `web` process (every process when none is named `web`).
    /// A replace waits for the new container to be healthy before removing the old one.
    pub healthcheck: Option<At<Healthcheck>>,
    /// Signal that asks the processes to stop, e.g. `SIGTERM`, `SIGQUIT`, `SIGINT`; default: the image's
    /// `STOPSIGNAL`, else `SIGTERM`.
    pub stop_signal: Option<At<StopSignal>>,
    /// How long a container may take to stop after its stop signal before it is killed, e.g. `30s`; default `10s`.
    pub stop_grace_period: Option<At<DurationSpec>>,
    /// How a container is replaced: `start-first` (the new one runs before the old one stops) or `stop-first`.
    /// Default: `start-first`, unless the process mounts a named volume or publishes a host port.
    pub update_order: Option<At<UpdateOrder>>,
    /// Existing networks to join besides the project network `<project>_default` (e.g. a reverse proxy's).
    #[serde(default)]
    pub networks: Vec<At<String>>,
}

top_level!(AppSpec);

/// How a container is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// Start the new container, wait until it is ready, then stop the old one.
    StartFirst,
    /// Stop the old container first (no two writers on one volume, a host port freed), then start the new one.
    StopFirst,
}

/// `build:` of an app.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildSpec {
    /// Repository-relative folder; must stay inside the repository.
    pub context: At<String>,
    /// Dockerfile path relative to the context; default `Dockerfile`.
    pub dockerfile: Option<At<String>>,
    /// Build arguments.
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    /// Build stage to stop at.
    pub target: Option<At<String>>,
    /// Credentials for pulling base images. Builds never fall back to the default credential.
    #[serde(default)]
    pub credentials: Vec<At<String>>,
}

/// `pull:` of an app.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PullSpec {
    /// Runtime-pull credential name; default: see the credential rules.
    pub credential: Option<At<String>>,
    /// `missing` (default), `always` or `never`.
    pub policy: Option<At<PullPolicy>>,
}

/// When the runtime image is pulled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    /// Pull only when the image is not present locally.
    #[default]
    Missing,
    /// Check the registry on every plan; pull when the tag moved.
    Always,
    /// Never pull; the image must be present locally.
    Never,
}

/// Per-app registry overrides.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AppRegistry {
    /// Push target of this app.
    pub server: Option<At<String>>,
    /// Image repository of this app (wins over any template).
    pub image_repo: Option<At<String>>,
    /// Template of the image repository for this app.
    pub image_repo_template: Option<At<String>>,
    /// Give every release the next integer tag and push it.
    pub push_on_release: Option<At<bool>>,
    /// Extra tags every pushed build also gets.
    pub push_extra_tags: Option<Vec<At<String>>>,
    /// Push credential; default: the credential whose server matches.
    pub credential: Option<At<String>>,
}

/// One process type of an app.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProcessSpec {
    /// Command replacing the image's command: a list (argv), or a string split as a shell would
    /// (quotes, no shell run); default: the image's own.
    pub command: Option<At<Command>>,
    /// Number of containers; default 1. Replica `i` publishes each host port plus `i-1`.
    pub replicas: Option<At<u32>>,
    /// `host:container[/tcp|udp]`, optionally `ip:host:container`.
    #[serde(default)]
    pub ports: Vec<At<PortSpec>>,
}

/// A process command: `["/start", "web"]`, or `/start web` split like a shell
/// would (quotes and backslashes honoured, no shell run), as compose does.
/// Split once, when the file is read; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    argv: Vec<String>,
    /// The string it was split from, when written as one.
    shell: Option<String>,
}

impl Command {
    /// A command from an argv, or `Err` when it is empty.
    pub fn from_argv(argv: Vec<String>) -> Result<Command, String> {
        if argv.is_empty() {
            return Err(format!("`command` is empty{HINT}leave `command` out to run the image's own command"));
        }
        Ok(Command { argv, shell: None })
    }

    /// A string split as a shell would; `Err` says why it cannot be (an unclosed quote).
    pub fn from_shell(s: &str) -> Result<Command, String> {
        let argv = shell_words::split(s).map_err(|e| {
            format!("cannot split command `{s}`: {e}{HINT}close the quote, or write the command as a list: [\"prog\", \"arg\"]")
        })?;
        Ok(Command { shell: Some(s.to_string()), ..Command::from_argv(argv)? })
    }

    /// The argv: a list as given, a string split as a shell would.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Command;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a command: a list of strings, or a string")
            }
            fn visit_str<E: Error>(self, s: &str) -> Result<Command, E> {
                Command::from_shell(s).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Command::from_argv(argv).map_err(A::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Command {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.shell {
            Some(shell) => s.serialize_str(shell),
            None => self.argv.serialize(s),
        }
    }
}

impl JsonSchema for Command {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Command".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "string", "description": "A string, split into words as a shell would.", "minLength": 1 },
                { "type": "array", "items": { "type": "string" }, "description": "The argv, as given.", "minItems": 1 }
            ]
        })
    }
}

/// Resource limits.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Resources {
    /// Memory limit such as `512MiB`, `1GiB`, `256m`.
    pub memory: Option<At<ByteSize>>,
    /// CPU limit in cores, e.g. `0.5`; at least 0.01.
    pub cpus: Option<At<Cpus>>,
}

/// Container restart policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Never restart.
    No,
    /// Always restart.
    Always,
    /// Restart unless stopped by hand (default).
    #[default]
    UnlessStopped,
    /// Restart when the process exits non-zero.
    OnFailure,
}

/// A health check, as in Docker.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Healthcheck {
    /// `["CMD", argv…]`, `["CMD-SHELL", "script"]` or `["NONE"]`.
    pub command: At<Vec<String>>,
    /// Time between checks, e.g. `5s`; default 30s.
    pub interval: Option<At<DurationSpec>>,
    /// Time one check may take, e.g. `2s`; default 30s.
    pub timeout: Option<At<DurationSpec>>,
    /// Failures in a row before unhealthy; default 3.
    pub retries: Option<u32>,
    /// Grace period after start, e.g. `10s`; default 0s.
    pub start_period: Option<At<DurationSpec>>,
}
