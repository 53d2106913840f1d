//! The plan: one type shared by `plan`, `plan --out`, `apply` and `drift`.
//!
//! A `Plan` is data: ordered actions, each with its reason and field-level
//! changes, plus what could not be known. `diff` computes it with no I/O;
//! `apply` walks it and decides nothing new; `render` prints it. Its JSON form
//! is the saved plan file and is described by `schema/plan.schema.json`.

pub mod diff;
pub mod pin;
pub mod queries;

pub use diff::diff;
pub use queries::{queries, Queries};

use crate::desired::{DesiredBuild, DesiredContainer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the plan JSON format; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 3;

/// A computed plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "berth plan")]
pub struct Plan {
    /// Plan format version (currently 3).
    pub format_version: u32,
    /// The project, as the plan was made (a saved plan never derives it
    /// again from the folder it is applied from).
    pub project: String,
    /// The commit and files the plan was made from: a saved plan is applied
    /// only from a checkout of that commit (with those files).
    pub source: PlanSource,
    /// Hash of the observed engine state the plan was made against; a saved
    /// plan is refused when the engine no longer matches it.
    pub observed_fingerprint: String,
    /// Normalized references of every image the repository uses; their
    /// local ids are part of the fingerprint.
    #[serde(default)]
    pub images: Vec<String>,
    /// The registry's answers the plan relied on, by image tag. Part of the
    /// fingerprint: a saved plan is stale once a tag moves.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub registry: std::collections::BTreeMap<String, RegistryAnswer>,
    /// Actions in execution order: builds, pushes, pulls, then container changes.
    pub actions: Vec<Action>,
    /// Apps left alone (`suspend: true`), and other remarks.
    #[serde(default)]
    pub notes: Vec<Note>,
    /// Parts of the plan that could not be computed (e.g. a registry down).
    /// A plan with unknowns is incomplete: exit 1, never applied.
    #[serde(default)]
    pub unknowns: Vec<Unknown>,
    /// What the plan refuses, with the data it has: a host port another
    /// container publishes, a name taken outside the project, a dirty build
    /// that would be pushed… A plan with errors exits 1 and is never applied.
    #[serde(default)]
    pub errors: Vec<PlanError>,
    /// Releases recorded in the local history once their app applied
    /// cleanly (`push-on-release` releases are recorded by their push).
    #[serde(default)]
    pub releases: Vec<PlannedRelease>,
    /// Containers an empty repository left alone (pruning them needs
    /// `--allow-empty`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unpruned: usize,
    /// Counts per action kind.
    pub summary: Summary,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What a plan was made from: never a path, so that any checkout of the
/// same commit can apply it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanSource {
    /// HEAD (40 hex) when the repository is a git work tree with a commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// sha256 (64 hex) of exactly the files read — berth.yaml (or
    /// berth.yml), apps/, credentials/ —: each one's repository-relative
    /// path and bytes, in path order.
    pub content: String,
    /// The files read are not those of `commit` (changed, added or deleted
    /// and not committed), or there is no commit: a saved plan then needs a
    /// working tree holding exactly `content`. Otherwise it is applied from
    /// the commit, whatever the working tree holds.
    pub uncommitted: bool,
}

/// What a tag resolved to in its registry when the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RegistryAnswer {
    /// Manifest digest.
    pub digest: String,
    /// The credential it was asked with (its name, never its value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// A release to record after its app applied: its image is tagged
/// `berth.local/<project>/<app>:<number>` on the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedRelease {
    pub app: String,
    pub number: u32,
    /// The image the app's containers run.
    pub image: String,
    /// Older release tags to remove (beyond the newest kept per app; never
    /// one that containers run or a pin names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forget: Vec<u32>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Action {
    pub kind: ActionKind,
    /// The app this action belongs to.
    pub app: String,
    /// What is acted on: a container name or an image reference.
    pub target: String,
    /// Why this action is needed, in words.
    pub reason: String,
    /// Field-level differences (replace) or the values set (create).
    #[serde(default)]
    pub changes: Vec<FieldChange>,
    /// What the action needs to be carried out exactly.
    pub detail: ActionDetail,
}

/// The kind of an action, with its plan symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    Build,
    Push,
    Pull,
    /// Create (or, last of all, remove) the project network.
    Network,
    /// Create a named volume (and fill one with repository files).
    Volume,
    Create,
    /// Change a running container in place (resources, restart policy,
    /// networks, its name).
    Update,
    Replace,
    Remove,
}

impl ActionKind {
    pub fn verb(self) -> &'static str {
        match self {
            Self::Build => "build",
            Self::Push => "push",
            Self::Pull => "pull",
            Self::Network => "network",
            Self::Volume => "volume",
            Self::Create => "create",
            Self::Update => "update",
            Self::Replace => "replace",
            Self::Remove => "remove",
        }
    }
}

impl Action {
    /// The plan symbol: `+` makes, `~` changes, `-` removes, `↓`/`↑` pull/push.
    pub fn symbol(&self) -> &'static str {
        match (self.kind, &self.detail) {
            (_, ActionDetail::RemoveNetwork { .. }) => "-",
            (ActionKind::Build | ActionKind::Create | ActionKind::Network | ActionKind::Volume, _) => "+",
            (ActionKind::Update | ActionKind::Replace, _) => "~",
            (ActionKind::Remove, _) => "-",
            (ActionKind::Pull, _) => "↓",
            (ActionKind::Push, _) => "↑",
        }
    }
}

/// Everything `apply` needs, so it never re-decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum ActionDetail {
    /// Build `tags[0]` from the repository, and tag it with the rest.
    Build {
        tags: Vec<String>,
        build: DesiredBuild,
    },
    /// Push `image` (a build image) with the engine, then give its manifest
    /// each of `tags` in the same repository (manifest-only pushes).
    Push {
        image: String,
        #[serde(default)]
        tags: Vec<String>,
        /// `push-on-release`: the release this push makes; its tag is among
        /// `tags`, the local image gets it too, and it is recorded once pushed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release: Option<u32>,
        /// Name of the push credential, if any (never its value).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<String>,
    },
    Pull {
        image: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        platform: Option<String>,
        /// Name of the credential used, if any (never its value).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<String>,
        /// A build image pulled back from its registry: remembered as pushed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        build_of: Option<String>,
        /// The manifest digest the plan saw the tag resolve to: pulled by
        /// digest, then tagged, so the apply runs exactly that content.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
    },
    Create {
        container: DesiredContainer,
    },
    Replace {
        /// Id of the container being replaced.
        old_id: String,
        /// Its name now (the desired name, unless it was renamed by hand).
        old_name: String,
        container: DesiredContainer,
        /// `start-first` or `stop-first`.
        strategy: ReplaceStrategy,
        /// Why that order (`named volume data`, `host port 8080/tcp`, …).
        order_reason: String,
    },
    /// Change a container in place.
    Update {
        id: String,
        /// Give it back its name (it was renamed by hand).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rename_to: Option<String>,
        /// Resources and restart policy to set again.
        #[serde(default)]
        resources: crate::observe::ResourceUpdate,
        /// Networks to attach it to again.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        connect: Vec<crate::desired::NetworkAttachment>,
    },
    /// Stop (gracefully) and remove a container.
    Remove {
        id: String,
        /// Seconds between its stop signal and SIGKILL, as it was declared;
        /// `None`: the container's own setting.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_grace_secs: Option<u64>,
    },
    /// A bridge network labelled with the project.
    CreateNetwork {
        name: String,
    },
    /// The project network, once its last container is gone.
    RemoveNetwork {
        name: String,
    },
    /// A named volume labelled with the project (never deleted by berth);
    /// with `files`, filled with those repository files before any
    /// container that mounts it is made.
    CreateVolume {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        files: Option<crate::desired::RepoFiles>,
    },
}

/// How a replace is sequenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReplaceStrategy {
    /// Start the new container, wait until ready, then stop and remove the
    /// old one: no downtime.
    StartFirst,
    /// Stop the old one first (no two writers on a volume, a host port
    /// freed), then start the new one; the old one is started again if the
    /// new one fails.
    StopFirst,
}

impl ReplaceStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartFirst => "start-first",
            Self::StopFirst => "stop-first",
        }
    }
}

/// One field's change. Sensitive values are never carried, only the fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    /// Dotted path, e.g. `env.LOG_LEVEL`, `image`, `ports`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// True for secret values: `old`/`new` are then `(sensitive)` where a
    /// value is there and absent where none is, never the value.
    #[serde(default)]
    pub sensitive: bool,
}

/// What `old`/`new` of a sensitive change hold in place of a value.
pub const SENSITIVE: &str = "(sensitive)";

/// A remark shown with the plan (e.g. a suspended app).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub message: String,
}

/// Something the plan could not determine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Unknown {
    pub app: String,
    pub message: String,
}

/// Something the plan refuses to do, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanError {
    /// The app it concerns; `None` for the project as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub message: String,
}

/// Counts per action kind, as printed in the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub build: usize,
    pub pull: usize,
    pub push: usize,
    pub create: usize,
    pub replace: usize,
    pub remove: usize,
    /// Containers changed in place.
    #[serde(default)]
    pub update: usize,
    /// Networks created or removed.
    #[serde(default)]
    pub network: usize,
    /// Volumes created.
    #[serde(default)]
    pub volume: usize,
}

impl Plan {
    /// True when nothing is to be done.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
    /// True when the plan could not be fully computed, or refuses something:
    /// it is then never applied.
    pub fn is_incomplete(&self) -> bool {
        !self.unknowns.is_empty() || !self.errors.is_empty()
    }
}

impl std::fmt::Display for Summary {
    /// The counts that are not zero, e.g. `1 to build, 2 to replace`; `no changes`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts = [
            (self.build, "to build"),
            (self.pull, "to pull"),
            (self.push, "to push"),
            (self.network, "network(s) to change"),
            (self.volume, "volume(s) to create"),
            (self.create, "to create"),
            (self.update, "to update"),
            (self.replace, "to replace"),
            (self.remove, "to remove"),
        ];
        let parts: Vec<String> = counts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
        match parts.is_empty() {
            true => write!(f, "no changes"),
            false => write!(f, "{}", parts.join(", ")),
        }
    }
}

impl Summary {
    pub fn of(actions: &[Action]) -> Self {
        let mut s = Summary::default();
        for a in actions {
            match a.kind {
                ActionKind::Build => s.build += 1,
                ActionKind::Pull => s.pull += 1,
                ActionKind::Push => s.push += 1,
                ActionKind::Create => s.create += 1,
                ActionKind::Replace => s.replace += 1,
                ActionKind::Remove => s.remove += 1,
                ActionKind::Update => s.update += 1,
                ActionKind::Network => s.network += 1,
                ActionKind::Volume => s.volume += 1,
            }
        }
        s
    }
}
