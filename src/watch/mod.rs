//! `berth watch`: the reconciler loop. Triggers (a file change, a commit, a
//! webhook, a poll, the drift interval, an engine event) wake one loop per
//! project; every wake-up runs the same full pass of the one reconcile step
//! (`crate::reconcile`), one pass at a time: a trigger during a pass queues
//! exactly one more. A change of the repository is applied; drift of an
//! unchanged one is reported, or healed with `--heal`. Transient failures
//! are retried with backoff; a failure of the repository itself waits for
//! the next change. SIGTERM/SIGINT end the loop after the pass in flight.

pub mod crashloop;
pub mod http;
pub mod metrics;
pub mod notify;
mod pass;
mod record;
pub mod status;
pub mod trigger;
pub mod webhook;

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
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::Local { root } => root.display().to_string(),
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
        let status = StatusDoc { source: cfg.origin.describe(), ..Default::default() };
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
        self.triggers.fire(Trigger::Start);
        loop {
            let reasons = tokio::select! {
                r = self.triggers.next() => r,
                _ = shutdown.cancelled() => break,
            };
            let started = Instant::now();
            let at = status::now();
            tracing::info!("pass started ({reasons})");
            let verdict = match self.read().await {
                Ok(read) => pass::run(&self.cfg, &self.engine, &self.status, &mut memory, read).await,
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
            // Transient failures are retried with backoff; anything else ends the retries.
            if let Some(r) = retry.take() {
                r.abort();
            }
            let backoff_doc = match verdict.result {
                PassResult::Transient | PassResult::Locked => {
                    let delay = backoff.next();
                    let error = verdict.error.clone().unwrap_or_default();
                    tracing::warn!("pass failed, retrying in {}: {error}", humantime::format_duration(delay));
                    let triggers = self.triggers.clone();
                    retry = Some(tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        triggers.fire(Trigger::Retry);
                    }));
                    Some(status::Backoff {
                        attempt: backoff.attempt,
                        retry_at: status::at(std::time::SystemTime::now() + delay),
                        error,
                    })
                }
                _ => {
                    backoff = Backoff::default();
                    None
                }
            };
            if verdict.result != PassResult::Failed {
                last_failure = None;
            }
            match (&verdict.result, &verdict.error) {
                (PassResult::Failed, Some(e)) if last_failure.as_ref() == Some(e) => {
                    tracing::debug!("pass failed as before; waiting for a change of the repository")
                }
                (PassResult::Failed, Some(e)) => {
                    tracing::error!("pass failed: {e}\n  not retried until the repository changes");
                    last_failure = Some(e.clone());
                }
                (r, _) => tracing::info!(
                    "pass done in {:.1}s: {}{}",
                    elapsed.as_secs_f64(),
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
        if let Some(r) = retry {
            r.abort();
        }
        if let Some(server) = server {
            // It stops within seconds of the cancel, requests in flight answered.
            let _ = server.await;
        }
        tracing::info!("watch stopped");
    }

    /// Read the source for a pass (off the async threads).
    async fn read(&self) -> Result<pass::Read, pass::Verdict> {
        match &self.cfg.origin {
            Origin::Local { root } => {
                let (root, load) = (root.clone(), self.cfg.load.clone());
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
                tokio::select! {
                    _ = tokio::time::sleep(every) => triggers.fire(trigger.clone()),
                    _ = shutdown.cancelled() => return,
                }
            }
        })
    }
}

/// Retry delays after transient failures: 1 s doubling to 5 min, ±10 % jitter.
#[derive(Debug, Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(300);

    fn next(&mut self) -> Duration {
        let base = Self::FIRST.saturating_mul(1u32 << self.attempt.min(16)).min(Self::MAX);
        self.attempt = self.attempt.saturating_add(1);
        let jitter: f64 = rand::random::<f64>() * 0.2 - 0.1;
        base.mul_f64(1.0 + jitter)
    }
}
