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
pub const FORMAT_VERSION: u32 = 1;

/// A computed plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "berth plan")]
pub struct Plan {
    /// Plan format version (currently 1).
    pub format_version: u32,
    pub project: String,
    /// Absolute path of the repository the plan was made from.
    pub repo: String,
    /// Hash of the observed engine state the plan was made against; a saved
    /// plan is refused when the engine no longer matches it.
    pub observed_fingerprint: String,
    /// Normalized references of every image the repository uses; their
    /// local ids are part of the fingerprint.
    #[serde(default)]
    pub images: Vec<String>,
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
    /// Counts per action kind.
    pub summary: Summary,
}

/// A release to record after its app applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedRelease {
    pub app: String,
    pub number: u32,
    /// The image the app's containers run.
    pub image: String,
    /// The build image it came from, for build apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
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
    Create,
    Replace,
    Remove,
}

impl ActionKind {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Build | Self::Create => "+",
            Self::Replace => "~",
            Self::Remove => "-",
            Self::Pull => "↓",
            Self::Push => "↑",
        }
    }
    pub fn verb(self) -> &'static str {
        match self {
            Self::Build => "build",
            Self::Push => "push",
            Self::Pull => "pull",
            Self::Create => "create",
            Self::Replace => "replace",
            Self::Remove => "remove",
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
    },
    Create {
        container: DesiredContainer,
    },
    Replace {
        /// Id of the container being replaced.
        old_id: String,
        container: DesiredContainer,
        /// `start-first` (no shared host port) or `stop-first`.
        strategy: ReplaceStrategy,
    },
    Remove {
        id: String,
    },
}

/// How a replace is sequenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReplaceStrategy {
    /// Start the new container, wait until ready, then remove the old one.
    StartFirst,
    /// The new container needs the old one's host ports: stop the old one
    /// first, start it again if the new one fails.
    StopFirst,
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
    /// True for secret values: `old`/`new` are then absent.
    #[serde(default)]
    pub sensitive: bool,
}

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
            }
        }
        s
    }
}
