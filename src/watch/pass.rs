//! One pass of the loop: read the source, run the reconcile step, and
//! judge the result — applied, in sync, drift reported or healed, a
//! failure to retry with backoff, or one to leave until the repository
//! changes. Every trigger leads here; nothing here knows which one it was.

use super::notify::{AppChange, NotifyEvent, NotifyResult};
use super::record::{self, Applied, Record};
use super::status::{self, AppState, AppStatus, Attempt, AttemptResult, PassResult, SourceRef};
use super::{metrics::Part, Config};
use crate::apply::Progress;
use crate::observe::{Engine, LockInfo};
use crate::pipeline::{Loaded, PipelineError};
use crate::plan::Plan;
use crate::reconcile::{Decision, Done, Driver, Scope, Start, Step, StepError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A pass's verdict.
#[derive(Debug)]
pub(super) struct Verdict {
    pub result: PassResult,
    /// The plan's summary, when it planned.
    pub summary: Option<String>,
    /// The error, for transient and deterministic failures.
    pub error: Option<String>,
    /// Which outside part failed (metrics).
    pub part: Option<Part>,
    /// What to tell `--notify`, if anything.
    pub event: Option<NotifyEvent>,
    /// A refused source, for `/status`.
    pub attempt: Option<Attempt>,
    /// The commits of the pass for the log: `applied..planned`, or the one planned.
    pub commits: Option<String>,
}

impl Verdict {
    fn ok(result: PassResult, plan: &Plan) -> Self {
        Verdict {
            result,
            summary: Some(plan.summary.to_string()),
            error: None,
            part: None,
            event: None,
            attempt: None,
            commits: None,
        }
    }

    fn failed(result: PassResult, error: String, part: Option<Part>) -> Self {
        Verdict { result, summary: None, error: Some(error), part, event: None, attempt: None, commits: None }
    }

    /// With the event `--notify` hears.
    fn telling(mut self, project: &str, commit: Option<&str>, result: NotifyResult, plan: Option<&Plan>) -> Self {
        let changes = plan.map(app_changes).unwrap_or_default();
        let summary = self.summary.clone().or_else(|| self.error.clone()).unwrap_or_default();
        self.event = Some(NotifyEvent {
            project: project.to_string(),
            commit: commit.map(String::from),
            result,
            summary,
            changes,
            error: self.error.clone(),
        });
        self
    }

    /// The repository could not be read or is invalid: wait for a change.
    /// Only an engine that did not answer while loading is transient.
    pub fn invalid(e: PipelineError) -> Self {
        match &e {
            PipelineError::Invalid(diags) => {
                let lines: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
                Verdict::failed(PassResult::Failed, format!("{e}:\n{}", lines.join("\n")), None)
            }
            PipelineError::Engine(_) => Verdict::failed(PassResult::Transient, e.to_string(), Some(Part::Engine)),
            _ => Verdict::failed(PassResult::Failed, e.to_string(), None),
        }
    }

    pub fn invalid_text(error: String) -> Self {
        Verdict::failed(PassResult::Failed, error, None)
    }

    /// The remote could not be asked or fetched: transient (unreachable,
    /// 5xx, timeouts) or not (refused credentials, no such branch).
    pub fn git(e: crate::source::remote::GitError) -> Self {
        match e.is_transient() {
            true => Verdict::failed(PassResult::Transient, e.to_string(), Some(Part::Git)),
            false => Verdict::failed(PassResult::Failed, e.to_string(), Some(Part::Git)),
        }
    }
}

/// Refuse `head` unless it is a fast-forward of the commit last applied
/// to `project` (a rewritten branch is never applied silently).
pub(super) async fn check_fast_forward(
    remote: &Arc<crate::source::remote::Remote>,
    project: &str,
    head: &str,
    memory: &mut Memory,
) -> Result<(), Verdict> {
    memory.load_record(project).await;
    let Some(applied) =
        memory.record.as_ref().and_then(|(_, r)| r.applied.as_ref()).and_then(|a| a.source.commit.clone())
    else {
        return Ok(()); // nothing applied yet: anything goes
    };
    if applied == head {
        return Ok(());
    }
    let (mirror, old, new) = (remote.clone(), applied.clone(), head.to_string());
    let ff = tokio::task::spawn_blocking(move || mirror.is_fast_forward(&old, &new))
        .await
        .map_err(|e| Verdict::invalid_text(format!("the git task failed: {e}")))?
        .map_err(Verdict::git)?;
    if ff {
        return Ok(());
    }
    let error = format!(
        "branch {} was rewritten: {head} is not a fast-forward of {applied}, the commit applied; nothing applied \
(push a fast-forward, or restart berth watch with --allow-rewrite to apply it)",
        remote.branch()
    );
    let mut v = Verdict::failed(PassResult::Refused, error, Some(Part::Git));
    v.attempt = Some(Attempt {
        source: SourceRef { commit: Some(head.to_string()), content: String::new(), at: status::now() },
        result: AttemptResult::Refused,
        error: v.error.clone(),
    });
    Err(v.telling(project, Some(head), NotifyResult::Refused, None))
}

impl Verdict {}

/// What the loop keeps between passes.
pub(super) struct Memory {
    /// The project's record (state dir), once known.
    pub record: Option<(String, Record)>,
    /// The identity of a source whose apply failed for good: not retried.
    pub failed: Option<String>,
    /// Apps left alone: they kept dying after being healed.
    pub suspended: BTreeSet<String>,
    pub heals: super::crashloop::HealLimit,
    /// The drift last reported, so the same drift is not reported at every check.
    pub drift: Option<String>,
    /// The remote branch head last fetched.
    pub fetched: Option<String>,
}

impl Memory {
    /// Read `project`'s record from the state dir (off the async threads),
    /// unless it is the one held.
    async fn load_record(&mut self, project: &str) {
        if self.record.as_ref().is_some_and(|(p, _)| p == project) {
            return;
        }
        let p = project.to_string();
        let rec = tokio::task::spawn_blocking(move || record::read(&p)).await.unwrap_or_default();
        self.record = Some((project.to_string(), rec));
    }

    pub fn new() -> Self {
        Memory {
            record: None,
            failed: None,
            suspended: BTreeSet::new(),
            heals: Default::default(),
            drift: None,
            fetched: None,
        }
    }
}

/// The source read for a pass.
pub(super) struct Read {
    pub loaded: Loaded,
    /// The commit, when the files read are a commit's.
    pub commit: Option<String>,
}

/// Run one pass with `read` (the source already read, or why it could not be).
pub(super) async fn run(
    cfg: &Config,
    engine: &Arc<dyn Engine>,
    shared: &status::Shared,
    memory: &mut Memory,
    read: Read,
) -> Verdict {
    let Read { loaded, commit } = read;
    let project = loaded.desired.project.clone();
    let identity = loaded.identity();
    let source = SourceRef { commit: commit.clone(), content: loaded.content().to_string(), at: status::now() };
    memory.load_record(&project).await;
    shared.update(|s| {
        s.project = Some(project.clone());
        s.head = commit.clone().or(s.head.take());
    });

    let applied = memory.record.as_ref().and_then(|(_, r)| r.applied.as_ref());
    let applied_commit = applied.and_then(|a| a.source.commit.clone());
    let changed = applied.is_none_or(|a| a.identity != identity);
    if changed {
        // A new repository: crash-looping apps get another chance.
        memory.suspended.clear();
        memory.heals.reset();
    }
    if memory.failed.as_deref() == Some(identity.as_str()) {
        tracing::debug!("source {} failed before; waiting for a change", short(&source));
        return Verdict::failed(PassResult::Failed, "waiting for a change of the repository".into(), None);
    }

    let step = step(cfg, engine, &memory.suspended);
    let start = Start::Repo(Box::new(loaded));
    // A change of the repository is deployed; drift of an unchanged one is
    // only reported, unless --heal.
    let mode = if changed { Mode::Deploy } else { Mode::Drift { heal: cfg.heal } };
    let driver = WatchDriver {
        mode,
        heals: std::sync::Mutex::new(std::mem::take(&mut memory.heals)),
        suspend: std::sync::Mutex::default(),
    };
    let ran = step.run(&start, &driver).await;
    memory.heals = driver.heals.into_inner().unwrap_or_else(|e| e.into_inner());
    let newly: Vec<String> = driver.suspend.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().collect();
    let crash_event = (!newly.is_empty()).then(|| NotifyEvent {
        project: project.clone(),
        commit: commit.clone(),
        result: NotifyResult::CrashLooping,
        summary: format!("crash-looping, left alone until the repository changes: {}", newly.join(", ")),
        changes: Vec::new(),
        error: None,
    });
    for app in newly {
        tracing::warn!(project = %project, "app {app} was healed {} times in {} minutes and drifted again: crash-looping; left alone until the repository changes",
            super::crashloop::MAX_HEALS, super::crashloop::WINDOW.as_secs() / 60);
        memory.suspended.insert(app);
    }
    if !matches!(ran, Ok(Done::Planned(ref p)) if !p.is_empty()) {
        memory.drift = None; // no drift left to report
    }
    let this = This { start: &start, project: &project, source: &source, identity: &identity, changed };
    let mut verdict = judge_done(ran, shared, memory, &this).await;
    let short = |c: &str| c.chars().take(12).collect::<String>();
    verdict.commits = match (applied_commit, commit.as_deref()) {
        (Some(old), Some(new)) if old != new => Some(format!("{}..{}", short(&old), short(new))),
        (_, Some(new)) => Some(short(new)),
        _ => None,
    };
    let applied = memory.record.as_ref().and_then(|(_, r)| r.applied.as_ref()).map(|a| a.source.clone());
    shared.update(|s| s.applied = applied);
    if crash_event.is_some() {
        verdict.event = crash_event;
    }
    if changed && matches!(verdict.result, PassResult::Applied | PassResult::Failed | PassResult::InSync) {
        let result = match verdict.result {
            PassResult::Failed => AttemptResult::Failed,
            _ => AttemptResult::Applied,
        };
        let attempt = Attempt { source: source.clone(), result, error: verdict.error.clone() };
        shared.update(|s| s.attempted = Some(attempt.clone()));
        if let Some((_, rec)) = &mut memory.record {
            rec.attempted = Some(attempt);
        }
        save(memory).await;
    }
    verdict
}

/// What one pass planned from.
struct This<'a> {
    start: &'a Start,
    project: &'a str,
    source: &'a SourceRef,
    identity: &'a str,
    /// The repository changed since it was last applied.
    changed: bool,
}

/// How the step ended, as a verdict; the status and memory updated.
async fn judge_done(
    ran: Result<Done, StepError>,
    shared: &status::Shared,
    memory: &mut Memory,
    this: &This<'_>,
) -> Verdict {
    match ran {
        Ok(Done::Planned(plan)) if plan.is_empty() => {
            set_apps(shared, this.start, &plan, &BTreeMap::new(), &memory.suspended, false);
            if this.changed {
                remember_applied(memory, this).await;
            }
            Verdict::ok(PassResult::InSync, &plan)
        }
        Ok(Done::Planned(plan)) => {
            // Drift, reported only: in full when it is new.
            let seen = drift_key(&plan);
            if memory.drift.as_ref() != Some(&seen) {
                log_plan(&plan, "drift found (not healed: run with --heal to correct it)");
                memory.drift = Some(seen);
            }
            set_apps(shared, this.start, &plan, &BTreeMap::new(), &memory.suspended, false);
            Verdict::ok(PassResult::Drifted, &plan).telling(
                this.project,
                this.commit(),
                NotifyResult::Drifted,
                Some(&plan),
            )
        }
        Ok(Done::Applied { plan, outcome }) => {
            let failures: BTreeMap<String, String> =
                outcome.failed.iter().map(|f| (f.app.clone(), format!("{}: {}", f.target, f.error))).collect();
            set_apps(shared, this.start, &plan, &failures, &memory.suspended, true);
            if outcome.failed.is_empty() {
                tracing::info!(project = %plan.project, "{}: {}", if this.changed { "applied" } else { "drift healed" }, plan.summary);
                remember_applied(memory, this).await;
                return Verdict::ok(PassResult::Applied, &plan).telling(
                    this.project,
                    this.commit(),
                    NotifyResult::Applied,
                    Some(&plan),
                );
            }
            let error = format!(
                "apply failed for {}",
                outcome.failed.iter().map(|f| format!("{} ({})", f.target, f.error)).collect::<Vec<_>>().join("; ")
            );
            let mut v = if outcome.failed.iter().all(|f| f.transient) {
                Verdict::failed(PassResult::Transient, error, Some(Part::Engine))
            } else {
                memory.failed = Some(this.identity.to_string());
                Verdict::failed(PassResult::Failed, error, None)
            };
            v.summary = Some(plan.summary.to_string());
            v.telling(this.project, this.commit(), NotifyResult::Failed, Some(&plan))
        }
        Err(e) => {
            let v = judge(e, memory, this.identity);
            match v.result {
                PassResult::Failed => v.telling(this.project, this.commit(), NotifyResult::Failed, None),
                _ => v,
            }
        }
    }
}

impl This<'_> {
    fn commit(&self) -> Option<&str> {
        self.source.commit.as_deref()
    }
}

/// Per app, the plan's actions and their reasons (rendered lines: never a secret value).
fn app_changes(plan: &Plan) -> Vec<AppChange> {
    let mut by_app: BTreeMap<&str, AppChange> = BTreeMap::new();
    for a in &plan.actions {
        let name = if a.app.is_empty() { "(project)" } else { a.app.as_str() };
        let entry = by_app.entry(name).or_insert_with(|| AppChange {
            app: name.to_string(),
            actions: Vec::new(),
            reasons: Vec::new(),
        });
        entry.actions.push(format!("{} {} {}", a.symbol(), a.kind.verb(), a.target));
        entry.reasons.push(a.reason.clone());
    }
    by_app.into_values().collect()
}

/// The step a watch pass runs.
fn step(cfg: &Config, engine: &Arc<dyn Engine>, suspended: &BTreeSet<String>) -> Step {
    Step {
        engine: engine.clone(),
        load: cfg.load.clone(),
        plan: cfg.plan,
        apply: cfg.apply.clone(),
        lock_timeout: cfg.lock_timeout,
        pin: None,
        scope: match suspended.is_empty() {
            true => Scope::All,
            false => Scope::Except(suspended.clone()),
        },
    }
}

/// A step's error, judged: retried with backoff, or left until the repository changes.
fn judge(e: StepError, memory: &mut Memory, identity: &str) -> Verdict {
    let text = e.to_string();
    match e {
        StepError::Pipeline(PipelineError::Engine(_)) => {
            Verdict::failed(PassResult::Transient, text, Some(Part::Engine))
        }
        StepError::Lock(l) => match *l {
            crate::apply::lock::LockError::Busy { .. } => Verdict::failed(PassResult::Locked, text, None),
            crate::apply::lock::LockError::Engine(_) => {
                Verdict::failed(PassResult::Transient, text, Some(Part::Engine))
            }
        },
        // Unknowns: a registry that did not answer. Plan errors: the repository asks for something impossible.
        StepError::Incomplete(plan) if plan.errors.is_empty() => {
            let why: Vec<&str> = plan.unknowns.iter().map(|u| u.message.as_str()).collect();
            Verdict::failed(
                PassResult::Transient,
                format!("the plan is incomplete: {}", why.join("; ")),
                Some(Part::Registry),
            )
        }
        StepError::Incomplete(plan) => {
            memory.failed = Some(identity.to_string());
            let why: Vec<&str> = plan.errors.iter().map(|u| u.message.as_str()).collect();
            Verdict::failed(PassResult::Failed, format!("the plan refuses: {}", why.join("; ")), None)
        }
        _ => {
            memory.failed = Some(identity.to_string());
            Verdict::failed(PassResult::Failed, text, None)
        }
    }
}

async fn remember_applied(memory: &mut Memory, this: &This<'_>) {
    memory.failed = None;
    if let Some((p, rec)) = &mut memory.record {
        if p == this.project {
            rec.applied = Some(Applied { source: this.source.clone(), identity: this.identity.to_string() });
        }
    }
    save(memory).await;
}

/// Write the record off the async threads; a failure is logged, not fatal.
async fn save(memory: &Memory) {
    let Some((project, rec)) = memory.record.clone() else { return };
    let written = tokio::task::spawn_blocking(move || record::write(&project, &rec)).await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("failed to write the watch record in the state dir: {e}"),
        Err(e) => tracing::warn!("failed to write the watch record in the state dir: {e}"),
    }
}

/// Each app's status after a pass.
fn set_apps(
    shared: &status::Shared,
    start: &Start,
    plan: &Plan,
    failures: &BTreeMap<String, String>,
    suspended: &BTreeSet<String>,
    applied: bool,
) {
    let Start::Repo(loaded) = start else { return };
    let mut apps = BTreeMap::new();
    for app in &loaded.desired.apps {
        let reasons: Vec<String> = plan
            .actions
            .iter()
            .filter(|a| a.app == app.name)
            .map(|a| format!("{} {}: {}", a.kind.verb(), a.target, a.reason))
            .collect();
        let st = if let Some(err) = failures.get(&app.name) {
            AppStatus { state: AppState::Failed, reasons, last_error: Some(err.clone()) }
        } else if suspended.contains(&app.name) {
            AppStatus {
                state: AppState::Suspended,
                reasons: vec!["crash-looping: left alone until the repository changes".into()],
                last_error: None,
            }
        } else if app.suspended {
            AppStatus { state: AppState::Suspended, reasons: vec!["suspend: true".into()], last_error: None }
        } else if !reasons.is_empty() && !applied {
            AppStatus { state: AppState::Drifted, reasons, last_error: None }
        } else {
            AppStatus::default()
        };
        apps.insert(app.name.clone(), st);
    }
    shared.update(|s| s.apps = apps);
}

/// What a drift is: its actions and reasons, not when it was seen.
pub(super) fn drift_key(plan: &Plan) -> String {
    plan.actions.iter().map(|a| format!("{} {} {}\n", a.kind.verb(), a.target, a.reason)).collect()
}

fn apps_of(plan: &Plan) -> BTreeSet<String> {
    plan.actions.iter().map(|a| a.app.clone()).filter(|a| !a.is_empty()).collect()
}

/// The plan, in the log: its summary and each action's reason.
fn log_plan(plan: &Plan, what: &str) {
    tracing::info!(project = %plan.project, "{what}: {}", plan.summary);
    for a in &plan.actions {
        tracing::info!(project = %plan.project, "  {} {} {}: {}", a.symbol(), a.kind.verb(), a.target, a.reason);
    }
}

fn short(s: &SourceRef) -> String {
    match &s.commit {
        Some(c) => c.chars().take(12).collect(),
        None => s.content.chars().take(12).collect(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The repository changed since it was last applied: apply it.
    Deploy,
    /// Unchanged: what differs is drift.
    Drift { heal: bool },
}

/// A watch decides without asking, and tells the log.
struct WatchDriver {
    mode: Mode,
    /// Heals per app (drift mode with --heal).
    heals: std::sync::Mutex<super::crashloop::HealLimit>,
    /// Apps found crash-looping while deciding.
    suspend: std::sync::Mutex<BTreeSet<String>>,
}

impl Driver for WatchDriver {
    fn show(&self, plan: &Plan, again: bool) -> Result<(), StepError> {
        if again {
            tracing::info!(project = %plan.project, "the plan changed while waiting for the apply lock: {}", plan.summary);
        }
        Ok(())
    }

    fn decide(&self, plan: &Plan) -> Result<Decision, StepError> {
        match self.mode {
            Mode::Deploy => {
                log_plan(plan, "applying the repository");
                Ok(Decision::Apply)
            }
            Mode::Drift { heal: false } => Ok(Decision::Stop),
            Mode::Drift { heal: true } => {
                // Each heal counts; an app past its limit is left alone.
                let mut heals = self.heals.lock().unwrap_or_else(|e| e.into_inner());
                let now = std::time::Instant::now();
                let over: BTreeSet<String> = apps_of(plan).into_iter().filter(|app| !heals.allow(app, now)).collect();
                match over.is_empty() {
                    true => {
                        log_plan(plan, "healing drift");
                        Ok(Decision::Apply)
                    }
                    false => {
                        self.suspend.lock().unwrap_or_else(|e| e.into_inner()).extend(over.iter().cloned());
                        Ok(Decision::ApplyExcept(over))
                    }
                }
            }
        }
    }

    fn waiting(&self, info: &LockInfo) {
        tracing::info!("waiting for an apply in progress: {} (held for {}s)", info.holder, info.held_for.as_secs());
    }

    fn progress(&self) -> Progress {
        Arc::new(|e| match e {
            crate::apply::Event::Done { kind, target, elapsed } => {
                tracing::info!("{} {target} done ({:.1}s)", kind.verb(), elapsed.as_secs_f64())
            }
            crate::apply::Event::Failed { kind, target, error } => {
                tracing::warn!("{} {target} failed: {error}", kind.verb())
            }
            crate::apply::Event::Skipped { kind, target, why } => {
                tracing::info!("skipped {} {target}: {why}", kind.verb())
            }
            crate::apply::Event::Started { .. }
            | crate::apply::Event::Output { .. }
            | crate::apply::Event::Transfer { .. } => {}
        })
    }
}
