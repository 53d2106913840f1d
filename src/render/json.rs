//! The JSON documents berth prints for machines (`--output json`), besides
//! the plan itself: what `validate` and `apply` print, and the error every
//! command prints when it fails. Each is described by a schema in schema/
//! (`berth schema` writes them from these types).
//!
//! They carry what the text output says, no more: messages are the same
//! words as on stderr, and secret values never reach either (the plan has
//! only fingerprints; errors are made without them).

use crate::diag::Diagnostic;
use crate::plan::{ActionKind, Plan};
use schemars::JsonSchema;
use serde::Serialize;
use std::io::{self, Write};

/// Why a command failed: its first line, what caused it, and, when the
/// repository is invalid, every problem in its files.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ErrorInfo {
    /// The error, one line (as `error: …` on stderr).
    pub message: String,
    /// What caused it, outermost first (`caused by: …` on stderr).
    pub causes: Vec<String>,
    /// Problems in the repository's files (file, line, column, message,
    /// hint), when that is why the command failed; else empty.
    pub diagnostics: Vec<Diagnostic>,
}

/// What `plan` and `drift` print on stdout with `--output json` when they
/// fail before they have a plan (an invalid repository, an engine that
/// does not answer). A plan that could be made is printed as a plan, also
/// when it is refused or incomplete (its `errors` and `unknowns` say why).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(title = "berth error")]
pub struct ErrorDocument {
    pub error: ErrorInfo,
}

/// What `berth validate --output json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(title = "berth validate result")]
pub struct ValidateDocument {
    /// Whether the repository is valid (exit 0) or not (exit 1).
    pub valid: bool,
    /// The repository's project, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// How many apps, containers and credential files it has, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apps: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<usize>,
    /// Why it is not valid (or could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

/// What `berth apply --output json` prints: the plan, then how applying it
/// went. Exit 0 has no `error`; exit 1 always has one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[schemars(title = "berth apply result")]
pub struct ApplyDocument {
    /// The plan applied (or refused), as `plan --output json` prints it;
    /// absent when the command failed before it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// What was carried out; absent when nothing was (an empty, refused
    /// or stale plan, or a failure before applying).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ApplyOutcome>,
    /// Why the command failed: before applying (its cause chain), or
    /// `apply failed for app(s): …` when actions failed (see `outcome`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

/// How an apply went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct ApplyOutcome {
    /// Actions done.
    pub done: usize,
    /// Every action started, in the order each ended.
    pub actions: Vec<ActionResult>,
    /// What failed, by app (an empty app: the project's network), with the
    /// tail of a failed build's log.
    pub failed: Vec<ActionFailure>,
}

/// One action as it ended.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ActionResult {
    pub kind: ActionKind,
    /// What was acted on, as in the plan.
    pub target: String,
    pub result: ActionStatus,
    /// How long it took, for a done action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Why it failed, or why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ActionStatus {
    Done,
    Failed,
    /// Not tried, because something it depends on failed.
    Skipped,
}

/// One failure of an apply.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ActionFailure {
    /// The app it belongs to; empty for the project's network.
    pub app: String,
    pub target: String,
    pub error: String,
    /// The last lines of a failed build's output.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
}

/// Any of these documents as pretty JSON, one per run, newline-terminated.
pub fn document<T: Serialize>(doc: &T, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, doc)?;
    writeln!(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_repository_reads_as_an_error_with_its_diagnostics() {
        let doc = ValidateDocument {
            valid: false,
            project: None,
            apps: None,
            containers: None,
            credentials: None,
            error: Some(ErrorInfo {
                message: "the repository has 1 error(s); nothing was changed".into(),
                causes: vec![],
                diagnostics: vec![
                    Diagnostic::new("apps/web.yaml", 2, 3, "unknown key `imag`").hint("did you mean `image`?")
                ],
            }),
        };
        let mut out = Vec::new();
        document(&doc, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["valid"], false);
        assert!(v.get("project").is_none());
        let d = &v["error"]["diagnostics"][0];
        assert_eq!(
            (d["file"].as_str(), d["line"].as_u64(), d["col"].as_u64()),
            (Some("apps/web.yaml"), Some(2), Some(3))
        );
        assert_eq!(d["hint"], "did you mean `image`?");
        assert!(out.ends_with(b"}\n"));
    }

    #[test]
    fn an_apply_outcome_names_each_action_and_failure() {
        let doc = ApplyDocument {
            plan: None,
            outcome: Some(ApplyOutcome {
                done: 1,
                actions: vec![
                    ActionResult {
                        kind: ActionKind::Create,
                        target: "p-web-web-1".into(),
                        result: ActionStatus::Done,
                        seconds: Some(1.5),
                        message: None,
                    },
                    ActionResult {
                        kind: ActionKind::Build,
                        target: "app-api:abc".into(),
                        result: ActionStatus::Failed,
                        seconds: None,
                        message: Some("failed to build app-api:abc: exit 3".into()),
                    },
                ],
                failed: vec![ActionFailure {
                    app: "api".into(),
                    target: "app-api:abc".into(),
                    error: "failed to build app-api:abc: exit 3".into(),
                    log: vec!["Step 1/1 : RUN exit 3".into()],
                }],
            }),
            error: Some(ErrorInfo {
                message: "apply failed for app(s): api".into(),
                causes: vec![],
                diagnostics: vec![],
            }),
        };
        let v = serde_json::to_value(&doc).unwrap();
        assert!(v.get("plan").is_none());
        assert_eq!(v["outcome"]["actions"][0]["result"], "done");
        assert_eq!(v["outcome"]["actions"][1]["kind"], "build");
        assert_eq!(v["outcome"]["failed"][0]["log"][0], "Step 1/1 : RUN exit 3");
        assert_eq!(v["error"]["message"], "apply failed for app(s): api");
    }
}
