//! What `berth watch` knows about its project, for `/status`, the log and
//! `berth report`: the commits seen, applied and attempted, each app's
//! state, the last pass and the next check. Written by the loop only;
//! read by the HTTP listener (a snapshot, never held across an await).

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// The `/status` document.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct StatusDoc {
    /// The project, once a pass has read the repository.
    pub project: Option<String>,
    /// The repository watched: a folder, or a remote URL (without credentials).
    pub source: String,
    /// The remote branch followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The newest commit seen (the branch head, or the work tree's HEAD).
    pub head: Option<String>,
    /// The last source applied with success.
    pub applied: Option<SourceRef>,
    /// The last source a pass tried to apply, and how that went.
    pub attempted: Option<Attempt>,
    /// Per app, by name.
    pub apps: BTreeMap<String, AppStatus>,
    /// The last pass.
    pub last_pass: Option<Pass>,
    /// When the next scheduled check runs (RFC 3339, UTC).
    pub next_check: Option<String>,
    /// Set while transient failures are retried.
    pub backoff: Option<Backoff>,
}

/// A source that was planned: the commit (when committed) and the content
/// hash of the files read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct SourceRef {
    pub commit: Option<String>,
    pub content: String,
    /// RFC 3339, UTC.
    pub at: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Attempt {
    #[serde(flatten)]
    pub source: SourceRef,
    pub result: AttemptResult,
    /// What went wrong (never a secret value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptResult {
    /// Applied; the next plan was empty.
    Applied,
    /// Failed for a reason a retry would not fix: not retried until the repository changes.
    Failed,
    /// A rewritten remote branch, refused until a fast-forward or --allow-rewrite.
    Refused,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AppStatus {
    pub state: AppState,
    /// Why it is not in sync: the plan's reasons, or the error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AppState {
    #[default]
    InSync,
    /// The engine differs from the applied repository (reported, or healed with --heal).
    Drifted,
    /// Its last apply failed.
    Failed,
    /// Left alone: it kept dying after being healed (crash-looping), until the repository changes.
    Suspended,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Pass {
    /// What triggered it.
    pub trigger: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub duration_ms: u64,
    pub result: PassResult,
    /// The plan's summary line, when it planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// How a pass ended (also the `result` label of the pass metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PassResult {
    /// Nothing to do.
    InSync,
    /// Changes applied.
    Applied,
    /// Drift found and reported (not healed).
    Drifted,
    /// A failure that is retried with backoff (engine, registry, git unreachable).
    Transient,
    /// A failure that is not retried until the repository changes.
    Failed,
    /// Another apply held the lock; tried again later.
    Locked,
    /// A rewritten remote branch: nothing applied until a fast-forward or --allow-rewrite.
    Refused,
}

impl PassResult {
    pub fn as_str(self) -> &'static str {
        match self {
            PassResult::InSync => "in-sync",
            PassResult::Applied => "applied",
            PassResult::Drifted => "drifted",
            PassResult::Transient => "transient",
            PassResult::Failed => "failed",
            PassResult::Locked => "locked",
            PassResult::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Backoff {
    /// Failures in a row.
    pub attempt: u32,
    /// RFC 3339, UTC.
    pub retry_at: String,
    pub error: String,
}

/// The status, shared between the loop (writer) and the listener.
#[derive(Default)]
pub struct Shared {
    doc: RwLock<StatusDoc>,
}

impl Shared {
    pub fn new(doc: StatusDoc) -> Self {
        Shared { doc: RwLock::new(doc) }
    }

    /// A copy of the document now.
    pub fn get(&self) -> StatusDoc {
        self.doc.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Change the document (the loop only).
    pub fn update(&self, f: impl FnOnce(&mut StatusDoc)) {
        f(&mut self.doc.write().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Now, as RFC 3339 UTC (seconds).
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// `at`, as RFC 3339 UTC (seconds).
pub fn at(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
