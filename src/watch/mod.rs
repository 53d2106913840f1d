//! `berth watch`: the reconciler loop. Triggers (a file change, a commit, a
//! webhook, a poll, the drift interval, an engine event) wake one loop per
//! project; every wake-up runs the same full pass of the one reconcile step
//! (`crate::reconcile`), one pass at a time: a trigger during a pass queues
//! exactly one more. A change of the repository is applied; drift of an
//! unchanged one is reported, or healed with `--heal`. Transient failures
//! are retried with backoff; a failure of the repository itself waits for
//! the next change. SIGTERM/SIGINT end the loop after the pass in flight.

pub mod crashloop;
pub mod events;
pub mod http;
pub mod jitter;
pub mod local;
pub mod metrics;
pub mod notify;
mod pass;
mod record;
pub mod status;
pub mod trigger;
pub mod webhook;

pub use crashloop::HealLimit;
pub use events::spawn_events;
pub use jitter::Backoff;
pub use local::{LocalWatch, WatchError, WatchPaths};
pub use status::{Shared, StatusDoc};
pub use trigger::{Reasons, Trigger, Triggers};

use crate::apply::ApplyOptions;
use crate::observe::Engine;
use crate::pipeline::{LoadOptions, PlanOptions};
use status::PassResult;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The commit a watch last applied to `project` on this machine (its
/// record in the state dir), for `berth report`.
pub fn applied_commit(project: &str) -> Option<String> {
    record::read(project).applied.and_then(|a| a.source.commit)
}

/// What to watch, and how.
#[derive(Clone)]
pub struct Config {
    pub origin: Origin,
    /// How often drift is checked when nothing else triggers a pass.
    pub drift_interval: Duration,
    /// Correct drift (else report it).
    pub heal: bool,
    pub load: LoadOptions,
    pub plan: PlanOptions,
    pub apply: ApplyOptions,
    pub lock_timeout: Duration,
    /// `--notify URL`: told of every applied change, failure and new drift.
    pub notify: Option<reqwest::Url>,
}

/// Where the desired state comes from.
#[derive(Clone)]
pub enum Origin {
    /// A folder on this machine: its working tree, as `berth apply` reads it.
    Local { root: PathBuf },
    /// A branch of a remote repository, mirrored in the state dir.
    Remote(RemoteOrigin),
}

/// `--remote URL --branch B --interval D`.
#[derive(Clone)]
pub struct RemoteOrigin {
    pub remote: Arc<crate::source::remote::Remote>,
    /// How often the branch head is asked for (±10 %).
    pub interval: Duration,
    /// Apply a branch that was rewritten (not a fast-forward of what was applied).
    pub allow_rewrite: bool,
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::Local { root } => root.display().to_string(),
            Origin::Remote(r) => r.remote.url(),
        }
    }
}

/// The loop's shared parts.
pub struct Watch {
    cfg: Config,
    engine: Arc<dyn Engine>,
    pub status: Arc<Shared>,
    pub metrics: Arc<metrics::Metrics>,
    pub triggers: Triggers,
}

impl Watch {
    pub fn new(cfg: Config, engine: Arc<dyn Engine>) -> Self {
        let branch = match &cfg.origin {
            Origin::Remote(r) => Some(r.remote.branch().to_string()),
            Origin::Local { .. } => None,
        };
        let status = StatusDoc { source: cfg.origin.describe(), branch, ..Default::default() };
        Watch {
            cfg,
            engine,
            status: Arc::new(Shared::new(status)),
            metrics: Arc::new(metrics::Metrics::new()),
            triggers: Triggers::default(),
        }
    }

    /// Run until `shutdown`: a pass at once, then one per trigger. The pass
    /// in flight when `shutdown` comes is finished first.
    pub async fn run(self, listener: Option<http::Bound>, shutdown: CancellationToken) {
        let server = listener.map(|l| {
            let (status, metrics, triggers, stop) =
                (self.status.clone(), self.metrics.clone(), self.triggers.clone(), shutdown.clone());
            tokio::spawn(async move {
                if let Err(e) = l.serve(status, metrics, triggers, stop).await {
                    tracing::error!("{e}");
                }
            })
        });
        let notifier = self.cfg.notify.clone().map(notify::Notifier::new);
        let mut memory = pass::Memory::new();
        let mut backoff = Backoff::default();
        let mut retry: Option<tokio::task::JoinHandle<()>> = None;
        // The last failure logged: the same one again is not repeated at every drift check.
        let mut last_failure: Option<String> = None;
        let drift = self.spawn_timer(self.cfg.drift_interval, Trigger::DriftCheck, shutdown.clone());
        let poll = match &self.cfg.origin {
            Origin::Remote(r) => Some(self.spawn_timer(r.interval, Trigger::Poll, shutdown.clone())),

            Origin::Local { .. } => None,
        };
        let files = match &self.cfg.origin {
            Origin::Local { root } => {
                let (root, triggers) = (root.clone(), self.triggers.clone());
                match tokio::task::spawn_blocking(move || local::LocalWatch::start(&root, triggers)).await {
                    Ok(Ok(w)) => Some(w),
                    Ok(Err(e)) => {
                        tracing::warn!(
                            "not watching the repository's files ({e}): changes are seen at the next drift check"
                        );
                        None
                    }
                    Err(e) => {
                        tracing::warn!("not watching the repository's files ({e})");
                        None
                    }
                }
            }
            Origin::Remote(_) => None,
        };
        let files = files.map(Arc::new);
        let mut events: Option<(String, tokio::task::JoinHandle<()>)> = None;
        self.triggers.fire(Trigger::Start);
        loop {
            let reasons = tokio::select! {
                r = self.triggers.next() => r,
                _ = shutdown.cancelled() => break,
            };
            let started = Instant::now();
            let at = status::now();
            tracing::debug!("pass started ({reasons})");
            let verdict = match self.read(&mut memory).await {
                Ok(read) => {
                    let project = read.loaded.desired.project.clone();
                    if let Some(w) = &files {
                        let paths = local::WatchPaths {
                            contexts: crate::resolve::build_contexts(&read.loaded.repo)
                                .into_iter()
                                .map(|(c, _)| c)
                                .collect(),
                            folders: crate::resolve::repo_folders(&read.loaded.repo),
                        };
                        let w = w.clone();
                        // It may walk new folders: off the async threads.
                        let _ = tokio::task::spawn_blocking(move || w.set_paths(paths)).await;
                    }
                    // Engine events of the project's containers: a check at once.
                    if events.as_ref().is_none_or(|(p, _)| *p != project) {
                        if let Some((_, old)) = events.take() {
                            old.abort();
                        }
                        let handle = events::spawn_events(
                            self.engine.clone(),
                            project.clone(),
                            self.triggers.clone(),
                            shutdown.clone(),
                        );
                        events = Some((project, handle));
                    }
                    pass::run(&self.cfg, &self.engine, &self.status, &mut memory, read).await
                }
                Err(v) => v,
            };
            let elapsed = started.elapsed();
            if let Some(n) = &notifier {
                if let Some(event) = &verdict.event {
                    n.send(event).await;
                } else if verdict.result == PassResult::InSync {
                    // Back in sync: the same drift or failure later is news again.
                    if let Some(project) = self.status.get().project {
                        n.forget(&project);
                    }
                }
            }
            self.metrics.pass(verdict.result, elapsed.as_secs_f64());
            if let Some(part) = verdict.part {
                self.metrics.error(part);
            }
            let drifted = self.status.get().apps.values().filter(|a| a.state == status::AppState::Drifted).count();
            self.metrics.drifted(drifted);
            if verdict.result == PassResult::Refused {
                let attempt = verdict.attempt.clone();
                self.status.update(|s| s.attempted = attempt);
            }
            // Transient failures are retried with backoff; anything else ends the retries.
            if let Some(r) = retry.take() {
                r.abort();
            }
            let backoff_doc = match verdict.result {
                PassResult::Transient | PassResult::Locked => {
                    let delay = backoff.next_delay();
                    let error = verdict.error.clone().unwrap_or_default();
                    // To the tenth of a second: "1s 34ms 506us 781ns" says nothing more.
                    let shown = Duration::from_millis(delay.as_millis() as u64 / 100 * 100);
                    tracing::warn!("pass failed, retrying in {}: {error}", humantime::format_duration(shown));
                    let triggers = self.triggers.clone();
                    retry = Some(tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        triggers.fire(Trigger::Retry);
                    }));
                    Some(status::Backoff {
                        attempt: backoff.failures(),
                        retry_at: status::at(std::time::SystemTime::now() + delay),
                        error,
                    })
                }
                _ => {
                    backoff.reset();
                    None
                }
            };
            if !matches!(verdict.result, PassResult::Failed | PassResult::Refused) {
                last_failure = None;
            }
            // One line a pass: its trigger, the commits, how it ended.
            let took = elapsed.as_secs_f64();
            let commits = verdict.commits.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default();
            match (&verdict.result, &verdict.error) {
                (PassResult::Failed | PassResult::Refused, Some(e)) if last_failure.as_ref() == Some(e) => {
                    tracing::info!("pass ({reasons}){commits} in {took:.1}s: failed as before; waiting for a change of the repository")
                }
                (PassResult::Failed | PassResult::Refused, Some(e)) => {
                    tracing::error!(
                        "pass ({reasons}){commits} in {took:.1}s failed: {e}\n  not retried until the repository changes"
                    );
                    last_failure = Some(e.clone());
                }
                (r, _) => tracing::info!(
                    "pass ({reasons}){commits} in {took:.1}s: {}{}",
                    r.as_str(),
                    verdict.summary.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
                ),
            }
            let next = status::at(std::time::SystemTime::now() + self.cfg.drift_interval);
            self.status.update(|s| {
                s.last_pass = Some(status::Pass {
                    trigger: reasons.to_string(),
                    started: at,
                    duration_ms: elapsed.as_millis() as u64,
                    result: verdict.result,
                    summary: verdict.summary.clone(),
                });
                s.backoff = backoff_doc;
                s.next_check = Some(next);
            });
        }
        drift.abort();
        if let Some(p) = poll {
            p.abort();
        }
        if let Some((_, e)) = events {
            e.abort();
        }
        drop(files);
        if let Some(r) = retry {
            r.abort();
        }
        if let Some(server) = server {
            // It stops within seconds of the cancel, requests in flight answered.
            let _ = server.await;
        }
        tracing::info!("watch stopped");
    }

    /// Read the source for a pass (off the async threads): the working
    /// tree, or the remote branch's head (fetched when it moved, refused
    /// when it is not a fast-forward of what was applied).
    async fn read(&self, memory: &mut pass::Memory) -> Result<pass::Read, pass::Verdict> {
        let load = self.cfg.load.clone();
        match &self.cfg.origin {
            Origin::Local { root } => {
                let root = root.clone();
                let read = tokio::task::spawn_blocking(move || {
                    let loaded = crate::pipeline::load(&root, &load)?;
                    let commit = crate::source::head_commit(&root);
                    Ok::<_, crate::pipeline::PipelineError>(pass::Read { loaded, commit })
                })
                .await;
                match read {
                    Ok(Ok(read)) => Ok(read),
                    Ok(Err(e)) => Err(pass::Verdict::invalid(e)),
                    Err(e) => Err(pass::Verdict::invalid_text(format!("reading the repository failed: {e}"))),
                }
            }
            Origin::Remote(r) => {
                let (remote, fetched) = (r.remote.clone(), memory.fetched.clone());
                let head = tokio::task::spawn_blocking(move || {
                    let head = remote.head()?;
                    // Fetch only when the branch moved since the last fetch.
                    if fetched.as_deref() != Some(head.as_str()) {
                        return remote.fetch();
                    }
                    Ok(head)
                })
                .await
                .map_err(|e| pass::Verdict::invalid_text(format!("the git task failed: {e}")))?
                .map_err(pass::Verdict::git)?;
                if memory.fetched.as_deref() != Some(head.as_str()) {
                    tracing::info!("branch {} of {} is at {head}", r.remote.branch(), r.remote.url());
                }
                memory.fetched = Some(head.clone());
                self.status.update(|s| s.head = Some(head.clone()));
                let (remote, commit) = (r.remote.clone(), head.clone());
                let loaded = tokio::task::spawn_blocking(move || {
                    let rev = remote.snapshot(&commit)?;
                    crate::pipeline::load_snapshot(&rev.snapshot, &load)
                })
                .await
                .map_err(|e| pass::Verdict::invalid_text(format!("the git task failed: {e}")))?
                .map_err(pass::Verdict::invalid)?;
                if !r.allow_rewrite {
                    pass::check_fast_forward(&r.remote, &loaded.desired.project, &head, memory).await?;
                }
                Ok(pass::Read { loaded, commit: Some(head) })
            }
        }
    }

    /// Fire `trigger` every `every` until `shutdown`.
    fn spawn_timer(
        &self,
        every: Duration,
        trigger: Trigger,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let triggers = self.triggers.clone();
        tokio::spawn(async move {
            loop {
                // ±10 %: many watchers of one remote do not poll in step.
                let wait = jitter::jittered(every, &mut rand::thread_rng());
                tokio::select! {
                    _ = tokio::time::sleep(wait) => triggers.fire(trigger.clone()),
                    _ = shutdown.cancelled() => return,
                }
            }
        })
    }
}
