//! Apply: carry out a `Plan`, exactly, through the `Engine` boundary.
//!
//! It decides nothing the plan did not say. Order: pulls, then removals of
//! pruned apps (they may free host ports), then each app's container changes,
//! apps in parallel up to `parallelism`. A failed app does not stop the
//! others; the outcome lists what failed.

use crate::desired::DesiredContainer;
use crate::observe::{Engine, EngineError, PullAuth, SecretEnv};
use crate::plan::{Action, ActionDetail, ActionKind, Plan, ReplaceStrategy};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Apps changed at once.
    pub parallelism: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions { parallelism: 4 }
    }
}

/// Progress, as it happens.
#[derive(Debug, Clone)]
pub enum Event {
    Started { kind: ActionKind, target: String },
    Done { kind: ActionKind, target: String, elapsed: Duration },
    Failed { kind: ActionKind, target: String, error: String },
    Skipped { kind: ActionKind, target: String, why: String },
}

/// One failed action.
#[derive(Debug, Clone)]
pub struct Failure {
    pub app: String,
    pub target: String,
    pub error: String,
}

/// What an apply did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub done: usize,
    pub failed: Vec<Failure>,
}

pub type Progress = Arc<dyn Fn(Event) + Send + Sync>;

/// Secret values an apply needs, resolved in memory by the caller: never in
/// the plan. Debug shows only names.
#[derive(Default)]
pub struct ApplySecrets {
    /// Container name → its secret env.
    pub env: BTreeMap<String, SecretEnv>,
    /// Credential name → login for pulls.
    pub pull_auth: BTreeMap<String, PullAuth>,
}

impl std::fmt::Debug for ApplySecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplySecrets")
            .field("env", &self.env.iter().map(|(c, e)| (c, e.keys().collect::<Vec<_>>())).collect::<Vec<_>>())
            .field("pull_auth", &self.pull_auth.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Carry out `plan`. Secret values are not in the plan: `secrets` holds them.
pub async fn apply(
    engine: Arc<dyn Engine>,
    plan: &Plan,
    secrets: &ApplySecrets,
    opts: &ApplyOptions,
    progress: Progress,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut failed_apps = BTreeSet::new();

    // 1. Pulls. A failed pull fails every app that needed the image.
    for a in plan.actions.iter().filter(|a| a.kind == ActionKind::Pull) {
        let ActionDetail::Pull { image, platform, credential } = &a.detail else { continue };
        let auth = credential.as_ref().and_then(|c| secrets.pull_auth.get(c));
        let r =
            timed(&progress, a, engine.pull(image, platform.as_deref(), auth)).await.map_err(|e| match credential {
                Some(c) => EngineError::Pull { image: image.clone(), message: format!("{e} (credential `{c}`)") },
                None => e,
            });
        if r.is_err() {
            failed_apps.extend(plan.actions.iter().filter(|o| uses_image(o, image)).map(|o| o.app.clone()));
        }
        record(&mut outcome, a, r, &mut failed_apps);
    }

    // 2. Removals first: pruned apps and dropped replicas may free host ports
    // that the creates and replaces below need.
    let (removes, rest): (Vec<&Action>, Vec<&Action>) =
        plan.actions.iter().filter(|a| a.kind != ActionKind::Pull).partition(|a| a.kind == ActionKind::Remove);
    run_groups(&engine, &plan.project, group(removes), &secrets.env, opts, &progress, &mut outcome, &mut failed_apps)
        .await;

    // 3. Each app's replaces and creates, apps in parallel.
    run_groups(&engine, &plan.project, group(rest), &secrets.env, opts, &progress, &mut outcome, &mut failed_apps)
        .await;
    outcome
}

fn uses_image(a: &Action, image: &str) -> bool {
    matches!(&a.detail, ActionDetail::Create { container } | ActionDetail::Replace { container, .. } if container.config.image == image)
}

fn group(actions: Vec<&Action>) -> BTreeMap<String, Vec<Action>> {
    let mut by_app: BTreeMap<String, Vec<Action>> = BTreeMap::new();
    for a in actions {
        by_app.entry(a.app.clone()).or_default().push(a.clone());
    }
    by_app
}

#[allow(clippy::too_many_arguments)]
async fn run_groups(
    engine: &Arc<dyn Engine>,
    project: &str,
    groups: BTreeMap<String, Vec<Action>>,
    secrets: &BTreeMap<String, SecretEnv>,
    opts: &ApplyOptions,
    progress: &Progress,
    outcome: &mut Outcome,
    failed_apps: &mut BTreeSet<String>,
) {
    let sem = Arc::new(Semaphore::new(opts.parallelism.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (app, actions) in groups {
        if failed_apps.contains(&app) {
            for a in &actions {
                progress(Event::Skipped {
                    kind: a.kind,
                    target: a.target.clone(),
                    why: "an earlier step of this app failed".into(),
                });
            }
            continue;
        }
        let (engine, sem, progress, project) = (engine.clone(), sem.clone(), progress.clone(), project.to_string());
        let secrets: BTreeMap<String, SecretEnv> =
            actions.iter().filter_map(|a| secrets.get(&a.target).map(|s| (a.target.clone(), s.clone()))).collect();
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            let mut results = Vec::new();
            for a in actions {
                let empty = SecretEnv::new();
                let s = secrets.get(&a.target).unwrap_or(&empty);
                let r = timed(&progress, &a, run_one(engine.as_ref(), &project, &a, s)).await;
                let failed = r.is_err();
                results.push((a, r));
                if failed {
                    break; // the rest of this app depends on what just failed
                }
            }
            results
        });
    }
    while let Some(res) = tasks.join_next().await {
        for (a, r) in res.expect("apply task panicked") {
            record(outcome, &a, r, failed_apps);
        }
    }
}

async fn timed<T>(
    progress: &Progress,
    a: &Action,
    fut: impl std::future::Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    progress(Event::Started { kind: a.kind, target: a.target.clone() });
    let t = Instant::now();
    let r = fut.await;
    match &r {
        Ok(_) => progress(Event::Done { kind: a.kind, target: a.target.clone(), elapsed: t.elapsed() }),
        Err(e) => progress(Event::Failed { kind: a.kind, target: a.target.clone(), error: e.to_string() }),
    }
    r
}

fn record(outcome: &mut Outcome, a: &Action, r: Result<(), EngineError>, failed_apps: &mut BTreeSet<String>) {
    match r {
        Ok(()) => outcome.done += 1,
        Err(e) => {
            failed_apps.insert(a.app.clone());
            outcome.failed.push(Failure { app: a.app.clone(), target: a.target.clone(), error: e.to_string() });
        }
    }
}

async fn run_one(engine: &dyn Engine, project: &str, a: &Action, secrets: &SecretEnv) -> Result<(), EngineError> {
    match &a.detail {
        ActionDetail::Pull { .. } => unreachable!("pulls run first"),
        ActionDetail::Remove { id } => engine.remove(id).await,
        ActionDetail::Create { container } => {
            let id = create(engine, project, container, secrets).await?;
            if let Err(e) = start_ready(engine, &id, container).await {
                // Leave nothing half-made behind: the next plan creates it again.
                let _ = engine.remove(&id).await;
                return Err(e);
            }
            Ok(())
        }
        ActionDetail::Replace { old_id, container, strategy } => {
            replace(engine, project, old_id, container, *strategy, secrets).await
        }
    }
}

async fn create(
    engine: &dyn Engine,
    project: &str,
    c: &DesiredContainer,
    secrets: &SecretEnv,
) -> Result<String, EngineError> {
    let image_id = engine.image_id(&c.config.image).await?.ok_or_else(|| EngineError::Call {
        action: format!("create {}", c.name),
        message: format!("image {} is not present locally", c.config.image),
    })?;
    engine.create(project, c, &c.config.spec_hash(&image_id), secrets).await
}

async fn start_ready(engine: &dyn Engine, id: &str, c: &DesiredContainer) -> Result<(), EngineError> {
    engine.start(id).await?;
    engine.wait_ready(id, &c.name, ready_timeout(c)).await
}

/// Long enough for the health check to pass: start period plus every retry.
fn ready_timeout(c: &DesiredContainer) -> Duration {
    match &c.config.healthcheck {
        Some(h) => {
            Duration::from_nanos((h.start_period_ns + (h.interval_ns + h.timeout_ns) * (h.retries + 1)) as u64)
                + Duration::from_secs(10)
        }
        None => Duration::from_secs(30),
    }
}

/// Start-first: the new container runs (and is healthy) before the old one
/// goes. Stop-first (shared host port): the old one stops first and is
/// started again if the new one fails. The old container is renamed aside so
/// the new one can take its name, and renamed back on failure.
async fn replace(
    engine: &dyn Engine,
    project: &str,
    old_id: &str,
    c: &DesiredContainer,
    strategy: ReplaceStrategy,
    secrets: &SecretEnv,
) -> Result<(), EngineError> {
    let aside = format!("{}-old-{}", c.name, &old_id[..old_id.len().min(8)]);
    if strategy == ReplaceStrategy::StopFirst {
        engine.stop(old_id).await?;
    }
    engine.rename(old_id, &aside).await?;
    let attempt = async {
        let id = create(engine, project, c, secrets).await?;
        if let Err(e) = start_ready(engine, &id, c).await {
            let _ = engine.remove(&id).await;
            return Err(e);
        }
        Ok(())
    };
    match attempt.await {
        Ok(()) => engine.remove(old_id).await,
        Err(e) => {
            // Put the old container back as it was.
            let _ = engine.rename(old_id, &c.name).await;
            if strategy == ReplaceStrategy::StopFirst {
                let _ = engine.start(old_id).await;
            }
            Err(e)
        }
    }
}
