//! Apply: carry out a `Plan`, exactly, through the `Engine` boundary.
//!
//! It decides nothing the plan did not say. Order: builds, pushes, pulls
//! (`images`); the project network and named volumes, volumes of
//! repository files filled through the engine; removals of pruned
//! apps (they may free host ports); each app's container changes
//! (`containers`), apps in parallel up to `parallelism`; the project network
//! when the plan removes it; last, the releases of apps that applied cleanly
//! go into the history. A failed app does not stop the others; the outcome
//! lists what failed.

mod containers;
mod images;
pub mod lock;

use crate::desired::{DesiredBuild, RepoFiles};
use crate::observe::registry::RegistryClient;
use crate::observe::{Engine, EngineError, PullAuth, SecretEnv};
use crate::plan::{Action, ActionDetail, ActionKind, Plan};
use crate::source::ContextStream;
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

/// Where an apply acts: the engine, the registries, and the build contexts
/// and mounted repository files (tar streams made on demand from the
/// repository).
#[derive(Clone)]
pub struct Targets {
    pub engine: Arc<dyn Engine>,
    pub registry: Arc<RegistryClient>,
    pub contexts: ContextSource,
    pub files: FilesSource,
}

/// Makes the tar stream of a build's context when the build starts.
pub type ContextSource = Arc<dyn Fn(&DesiredBuild) -> Result<ContextStream, String> + Send + Sync>;

/// Makes the tar stream of a mounted repository folder when its volume is
/// filled; refused when the files no longer hash to the planned content.
pub type FilesSource = Arc<dyn Fn(&RepoFiles) -> Result<ContextStream, String> + Send + Sync>;

/// Progress, as it happens.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        kind: ActionKind,
        target: String,
    },
    /// A line of build output.
    Output {
        target: String,
        line: String,
    },
    /// A pull moved: bytes moved and bytes known so far.
    Transfer {
        target: String,
        moved: u64,
        known: u64,
    },
    Done {
        kind: ActionKind,
        target: String,
        elapsed: Duration,
    },
    Failed {
        kind: ActionKind,
        target: String,
        error: String,
    },
    Skipped {
        kind: ActionKind,
        target: String,
        why: String,
    },
}

/// One failed action.
#[derive(Debug, Clone)]
pub struct Failure {
    pub app: String,
    pub target: String,
    pub error: String,
    /// More lines to show after the error (the tail of a build log).
    pub detail: Vec<String>,
    /// Whether trying again later may succeed (the engine or a registry
    /// did not answer), as opposed to a failure of what was asked (a
    /// build that fails, a container that never gets healthy).
    pub transient: bool,
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
    /// Credential name → registry login, for pulls, builds and pushes.
    pub logins: BTreeMap<String, PullAuth>,
}

impl std::fmt::Debug for ApplySecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplySecrets")
            .field("env", &self.env.iter().map(|(c, e)| (c, e.keys().collect::<Vec<_>>())).collect::<Vec<_>>())
            .field("logins", &self.logins.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Carry out `plan`. Secret values are not in the plan: `secrets` holds them.
pub async fn apply(
    targets: &Targets,
    plan: &Plan,
    secrets: &ApplySecrets,
    opts: &ApplyOptions,
    progress: Progress,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut failed_apps = BTreeSet::new();
    let engine = targets.engine.clone();

    // 1. Images: builds, pushes, pulls. A failed step fails its app (a
    // failed pull, every app that needed the image).
    images::run(targets, plan, secrets, opts, &progress, &mut outcome, &mut failed_apps).await;

    // The image each create runs, resolved once per image, not once per container.
    let mut image_ids = BTreeMap::new();
    for a in &plan.actions {
        if let ActionDetail::Create { container } | ActionDetail::Replace { container, .. } = &a.detail {
            if !failed_apps.contains(&a.app) && !image_ids.contains_key(&container.config.image) {
                let id = engine.image_id(&container.config.image).await.ok().flatten();
                image_ids.insert(container.config.image.clone(), id);
            }
        }
    }
    let ctx = Arc::new(Ctx {
        engine: engine.clone(),
        project: plan.project.clone(),
        slots: Semaphore::new(opts.parallelism.max(1)),
        image_ids,
    });

    // 2. The project network and the volumes the containers need, volumes
    // of repository files filled. Without the network no container can be
    // made: every app waits for it; without a volume, the apps that mount it.
    for a in plan
        .actions
        .iter()
        .filter(|a| matches!(a.detail, ActionDetail::CreateNetwork { .. } | ActionDetail::CreateVolume { .. }))
    {
        let r = timed(&progress, a, async {
            match &a.detail {
                ActionDetail::CreateNetwork { name } => engine.create_network(&plan.project, name).await,
                ActionDetail::CreateVolume { name, files: None } => engine.create_volume(&plan.project, name).await,
                ActionDetail::CreateVolume { name, files: Some(files) } => {
                    fill(targets, &plan.project, name, files).await
                }
                _ => Ok(()),
            }
        })
        .await;
        if r.is_err() {
            match &a.detail {
                ActionDetail::CreateNetwork { .. } => {
                    failed_apps.extend(plan.actions.iter().map(|o| o.app.clone()).filter(|app| !app.is_empty()))
                }
                ActionDetail::CreateVolume { name, .. } => failed_apps.extend(mounting(plan, name)),
                _ => {}
            }
        }
        record(&mut outcome, a, r, &mut failed_apps);
    }

    // 3. Removals first: pruned apps and dropped replicas may free host ports
    // that the creates and replaces below need.
    let containers = |a: &&Action| {
        matches!(a.kind, ActionKind::Create | ActionKind::Update | ActionKind::Replace | ActionKind::Remove)
    };
    let (removes, rest): (Vec<&Action>, Vec<&Action>) =
        plan.actions.iter().filter(containers).partition(|a| a.kind == ActionKind::Remove);
    let removals = outcome.failed.len();
    run_groups(&ctx, group(removes), &secrets.env, &progress, &mut outcome, &mut failed_apps).await;
    let removed_all = outcome.failed.len() == removals;

    // 4. Each app's updates, replaces and creates, apps in parallel.
    run_groups(&ctx, group(rest), &secrets.env, &progress, &mut outcome, &mut failed_apps).await;

    // 5. The project network, once its last container is gone.
    for a in plan.actions.iter().filter(|a| matches!(a.detail, ActionDetail::RemoveNetwork { .. })) {
        let ActionDetail::RemoveNetwork { name } = &a.detail else { continue };
        if !removed_all {
            progress(Event::Skipped {
                kind: a.kind,
                target: a.target.clone(),
                why: "a container could not be removed".into(),
            });
            continue;
        }
        let r = timed(&progress, a, engine.remove_network(name)).await;
        record(&mut outcome, a, r, &mut failed_apps);
    }

    // 6. Releases of the apps that applied cleanly, recorded on the engine
    // (a tag every machine sees); the oldest tags beyond what is kept go.
    for r in plan.releases.iter().filter(|r| !failed_apps.contains(&r.app)) {
        let tag = crate::observe::releases::release_tag(&plan.project, &r.app, r.number);
        let recorded = async {
            engine.tag(&r.image, &tag).await?;
            for old in &r.forget {
                engine.untag(&crate::observe::releases::release_tag(&plan.project, &r.app, *old)).await?;
            }
            Ok::<_, EngineError>(())
        };
        if let Err(e) = recorded.await {
            outcome.failed.push(Failure {
                app: r.app.clone(),
                target: format!("release {}", r.number),
                error: format!("failed to record release {} on the engine: {e}", r.number),
                detail: Vec::new(),
                transient: e.is_transient(),
            });
        }
    }
    outcome
}

/// Fill a volume with repository files. Reading the folder (and checking
/// its hash against the plan) blocks: off the async threads. Files changed
/// since the plan fail here, before the engine sees a byte.
async fn fill(targets: &Targets, project: &str, volume: &str, files: &RepoFiles) -> Result<(), EngineError> {
    let failed = |message: String| EngineError::Call { action: format!("fill volume {volume}"), message };
    let (source, planned) = (targets.files.clone(), files.clone());
    let tar = tokio::task::spawn_blocking(move || source(&planned))
        .await
        .map_err(|e| failed(format!("the repository files reader failed: {e}")))?
        .map_err(failed)?;
    targets.engine.fill_volume(project, volume, &files.content, tar).await
}

/// The apps whose new containers mount `volume`.
fn mounting<'a>(plan: &'a Plan, volume: &'a str) -> impl Iterator<Item = String> + 'a {
    plan.actions.iter().filter_map(move |a| match &a.detail {
        ActionDetail::Create { container } | ActionDetail::Replace { container, .. }
            if container.config.mounts.iter().any(|m| m.source == volume) =>
        {
            Some(a.app.clone())
        }
        _ => None,
    })
}

/// What every action of one apply shares.
struct Ctx {
    engine: Arc<dyn Engine>,
    project: String,
    /// `--parallelism`: engine mutations in flight at once. Waiting for a
    /// container to become ready holds no slot, so slow health checks do not
    /// hold up other apps.
    slots: Semaphore,
    /// Image reference → local image id, looked up once after the pulls.
    image_ids: BTreeMap<String, Option<String>>,
}

impl Ctx {
    /// A slot for one engine mutation.
    async fn slot(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.slots.acquire().await.expect("the semaphore is never closed")
    }
}

fn group(actions: Vec<&Action>) -> BTreeMap<String, Vec<Action>> {
    let mut by_app: BTreeMap<String, Vec<Action>> = BTreeMap::new();
    for a in actions {
        by_app.entry(a.app.clone()).or_default().push(a.clone());
    }
    by_app
}

async fn run_groups(
    ctx: &Arc<Ctx>,
    groups: BTreeMap<String, Vec<Action>>,
    secrets: &BTreeMap<String, SecretEnv>,
    progress: &Progress,
    outcome: &mut Outcome,
    failed_apps: &mut BTreeSet<String>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let mut apps_of_tasks = BTreeMap::new();
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
        let (ctx, progress) = (ctx.clone(), progress.clone());
        let secrets: BTreeMap<String, SecretEnv> =
            actions.iter().filter_map(|a| secrets.get(&a.target).map(|s| (a.target.clone(), s.clone()))).collect();
        let first = actions.first().map(|a| a.target.clone()).unwrap_or_default();
        let handle = tasks.spawn(async move {
            let mut results = Vec::new();
            for a in actions {
                let empty = SecretEnv::new();
                let s = secrets.get(&a.target).unwrap_or(&empty);
                let r = timed(&progress, &a, containers::run(&ctx, &a, s)).await;
                let failed = r.is_err();
                results.push((a, r));
                if failed {
                    break; // the rest of this app depends on what just failed
                }
            }
            results
        });
        apps_of_tasks.insert(handle.id(), (app, first));
    }
    while let Some(res) = tasks.join_next_with_id().await {
        match res {
            Ok((_, results)) => {
                for (a, r) in results {
                    record(outcome, &a, r, failed_apps);
                }
            }
            // A bug in one app's task fails that app, not the apply (nor a watch that runs for months).
            Err(e) => {
                let (app, target) = apps_of_tasks.remove(&e.id()).unwrap_or_default();
                tracing::error!("the apply task of app {app} failed: {e}");
                failed_apps.insert(app.clone());
                outcome.failed.push(Failure {
                    app,
                    target,
                    error: format!("berth's apply task failed ({e}); this is a bug, please report it"),
                    detail: Vec::new(),
                    transient: false,
                });
            }
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
            let detail = match &e {
                EngineError::Build { log, .. } => log.clone(),
                _ => Vec::new(),
            };
            let transient = e.is_transient();
            outcome.failed.push(Failure {
                app: a.app.clone(),
                target: a.target.clone(),
                error: e.to_string(),
                detail,
                transient,
            });
        }
    }
}
