//! `--output json`: one JSON document on stdout for every outcome of a
//! command, failures included, while stderr says the same in words (as
//! without the flag) and the exit code stays 0/1/2. The documents are
//! `render::json`'s and the plan; this module turns outcomes into them.

use super::{OutputFormat, EXIT_ERROR, EXIT_OK};
use crate::apply::{Event, Outcome};
use crate::pipeline::PipelineError;
use crate::plan::Plan;
use crate::render::json::{
    document, ActionFailure, ActionResult, ActionStatus, ApplyDocument, ApplyOutcome, ErrorDocument, ErrorInfo,
};
use serde::Serialize;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// An error as the JSON documents carry it: its line, its causes, and the
/// repository's problems when it is invalid.
pub(super) fn error_info(e: &anyhow::Error) -> ErrorInfo {
    let diagnostics = match e.downcast_ref::<PipelineError>() {
        Some(PipelineError::Invalid(diags)) => diags.clone(),
        _ => Vec::new(),
    };
    ErrorInfo { message: e.to_string(), causes: e.chain().skip(1).map(|c| c.to_string()).collect(), diagnostics }
}

/// Prints one document on stdout.
pub(super) fn print<T: Serialize>(doc: &T) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    document(doc, &mut w)?;
    w.flush()?;
    Ok(())
}

/// With `--output json`, a failed command also prints `{"error": …}` on
/// stdout; the error goes on to stderr and exit 1 as always.
pub(super) fn or_error_document(format: OutputFormat, r: anyhow::Result<u8>) -> anyhow::Result<u8> {
    if let (OutputFormat::Json, Err(e)) = (format, &r) {
        if let Err(p) = print(&ErrorDocument { error: error_info(e) }) {
            tracing::debug!("failed to print the error document: {p}");
        }
    }
    r
}

/// What an apply prints: in words as it goes (text), or one document at
/// the end (JSON; progress lines then go to stderr).
pub(super) struct ApplyOutput {
    json: bool,
    doc: Mutex<ApplyDocument>,
    actions: Arc<Mutex<Vec<ActionResult>>>,
}

impl ApplyOutput {
    pub(super) fn new(format: OutputFormat) -> Self {
        Self { json: format == OutputFormat::Json, doc: Mutex::default(), actions: Arc::default() }
    }

    pub(super) fn is_json(&self) -> bool {
        self.json
    }

    /// The plan about to be applied: printed, or kept for the document.
    pub(super) fn plan(&self, plan: &Plan) -> anyhow::Result<()> {
        match self.json {
            true => self.lock().plan = Some(plan.clone()),
            false => super::plan::print_text(plan)?,
        }
        Ok(())
    }

    /// Keeps the actions' ends for the document (JSON only).
    pub(super) fn recorder(&self) -> Option<Recorder> {
        self.json.then(|| Recorder(self.actions.clone()))
    }

    /// How the apply went; the exit code.
    pub(super) fn outcome(&self, outcome: &Outcome) -> u8 {
        if !self.json {
            return super::apply::report(outcome);
        }
        let failed: Vec<ActionFailure> = outcome
            .failed
            .iter()
            .map(|f| ActionFailure {
                app: f.app.clone(),
                target: f.target.clone(),
                error: f.error.clone(),
                log: f.detail.clone(),
            })
            .collect();
        let actions = std::mem::take(&mut *self.actions.lock().unwrap_or_else(|p| p.into_inner()));
        let mut doc = self.lock();
        doc.outcome = Some(ApplyOutcome { done: outcome.done, actions, failed });
        if outcome.failed.is_empty() {
            return EXIT_OK;
        }
        super::apply::report_failures(outcome);
        let message = format!("apply failed for app(s): {}", failed_apps(outcome));
        doc.error = Some(ErrorInfo { message, causes: Vec::new(), diagnostics: Vec::new() });
        EXIT_ERROR
    }

    /// The end of the command: the document (JSON), with the error that
    /// ended it, if one did; `r` goes on unchanged.
    pub(super) fn finish(self, r: anyhow::Result<u8>) -> anyhow::Result<u8> {
        if !self.json {
            return r;
        }
        let mut doc = self.doc.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = &r {
            doc.error = Some(error_info(e));
        }
        print(&doc)?;
        r
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ApplyDocument> {
        self.doc.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The apps an apply failed for; the project's network belongs to none.
pub(super) fn failed_apps(outcome: &Outcome) -> String {
    let apps: std::collections::BTreeSet<&str> =
        outcome.failed.iter().map(|f| if f.app.is_empty() { "(the project)" } else { f.app.as_str() }).collect();
    apps.into_iter().collect::<Vec<_>>().join(", ")
}

/// Collects how each action ended, from the apply's progress events.
#[derive(Clone)]
pub(super) struct Recorder(Arc<Mutex<Vec<ActionResult>>>);

impl Recorder {
    pub(super) fn event(&self, e: &Event) {
        let (kind, target, result, seconds, message) = match e {
            Event::Started { .. } | Event::Output { .. } | Event::Transfer { .. } => return,
            Event::Done { kind, target, elapsed } => {
                (kind, target, ActionStatus::Done, Some(elapsed.as_millis() as f64 / 1000.0), None)
            }
            Event::Failed { kind, target, error } => (kind, target, ActionStatus::Failed, None, Some(error.clone())),
            Event::Skipped { kind, target, why } => (kind, target, ActionStatus::Skipped, None, Some(why.clone())),
        };
        let r = ActionResult { kind: *kind, target: target.clone(), result, seconds, message };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    }
}
