//! The container steps of an apply: remove, create, update in place,
//! replace. Every container berth takes down is stopped first — its stop
//! signal, then up to its grace period, then SIGKILL — and only then
//! removed; nothing is force-removed. A replace follows the order the plan
//! chose: start-first (new one ready, then the old one stops) or stop-first
//! (old one stopped, then the new one starts; on failure the old one is
//! started again).

use super::Ctx;
use crate::desired::DesiredContainer;
use crate::observe::{EngineError, SecretEnv};
use crate::plan::{Action, ActionDetail, ReplaceStrategy};
use std::time::Duration;

pub(super) async fn run(ctx: &Ctx, a: &Action, secrets: &SecretEnv) -> Result<(), EngineError> {
    let engine = ctx.engine.as_ref();
    match &a.detail {
        ActionDetail::Remove { id, stop_grace_secs } => {
            let _slot = ctx.slot().await;
            take_down(ctx, id, grace(*stop_grace_secs)).await
        }
        ActionDetail::Create { container } => {
            let id = {
                let _slot = ctx.slot().await;
                let id = create(ctx, container, secrets).await?;
                if let Err(e) = engine.start(&id).await {
                    discard(ctx, &id, container).await;
                    return Err(e);
                }
                id
            };
            if let Err(e) = engine.wait_ready(&id, &container.name, ready_timeout(container)).await {
                // Leave nothing half-made behind: the next plan creates it again.
                discard(ctx, &id, container).await;
                return Err(e);
            }
            Ok(())
        }
        ActionDetail::Update { id, rename_to, resources, connect } => {
            let _slot = ctx.slot().await;
            if let Some(name) = rename_to {
                engine.rename(id, name).await?;
            }
            if !resources.is_empty() {
                engine.update(id, resources).await?;
            }
            for n in connect {
                engine.connect(id, n).await?;
            }
            Ok(())
        }
        ActionDetail::Replace { old_id, old_name, container, strategy, .. } => {
            replace(ctx, old_id, old_name, container, *strategy, secrets).await
        }
        _ => unreachable!("only container actions are run here"),
    }
}

/// The grace period to stop with: the declared one, else the default.
fn grace(secs: Option<u64>) -> Option<Duration> {
    Some(Duration::from_secs(secs.unwrap_or(crate::desired::DEFAULT_STOP_GRACE_SECS)))
}

/// Stop gracefully, then remove.
async fn take_down(ctx: &Ctx, id: &str, grace: Option<Duration>) -> Result<(), EngineError> {
    ctx.engine.stop(id, grace).await?;
    ctx.engine.remove(id).await
}

/// Best effort: take down a new container that failed (its error is the one reported).
async fn discard(ctx: &Ctx, id: &str, c: &DesiredContainer) {
    if let Err(e) = take_down(ctx, id, grace(c.config.stop_grace_secs)).await {
        tracing::warn!("failed to remove the new container of {} after its failure: {e}", c.name);
    }
}

async fn create(ctx: &Ctx, c: &DesiredContainer, secrets: &SecretEnv) -> Result<String, EngineError> {
    let image_id = ctx.image_ids.get(&c.config.image).cloned().flatten().ok_or_else(|| EngineError::Call {
        action: format!("create {}", c.name),
        message: format!("image {} is not present locally", c.config.image),
    })?;
    ctx.engine.create(&ctx.project, c, &c.config.spec_hash(&image_id), secrets).await
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

/// The old container keeps its data and its port until the plan's order
/// says otherwise. It is renamed aside so the new one can take its name,
/// and renamed back (and, stop-first, started again) if the new one fails.
async fn replace(
    ctx: &Ctx,
    old_id: &str,
    old_name: &str,
    c: &DesiredContainer,
    strategy: ReplaceStrategy,
    secrets: &SecretEnv,
) -> Result<(), EngineError> {
    let engine = ctx.engine.as_ref();
    let old_grace = grace(c.config.stop_grace_secs);
    // A container renamed by hand no longer holds the name: no need to move it.
    let aside = (old_name == c.name).then(|| format!("{}-old-{}", c.name, &old_id[..old_id.len().min(8)]));
    let started = async {
        let _slot = ctx.slot().await;
        if strategy == ReplaceStrategy::StopFirst {
            engine.stop(old_id, old_grace).await.map_err(|e| (e, None))?;
        }
        if let Some(aside) = &aside {
            engine.rename(old_id, aside).await.map_err(|e| (e, None))?;
        }
        let id = create(ctx, c, secrets).await.map_err(|e| (e, None))?;
        engine.start(&id).await.map(|_| id.clone()).map_err(|e| (e, Some(id)))
    };
    let attempt = match started.await {
        Ok(id) => match engine.wait_ready(&id, &c.name, ready_timeout(c)).await {
            Ok(()) => Ok(()),
            Err(e) => Err((e, Some(id))),
        },
        Err(e) => Err(e),
    };
    match attempt {
        Ok(()) => {
            let _slot = ctx.slot().await;
            take_down(ctx, old_id, old_grace).await
        }
        Err((e, new_id)) => {
            // Put the old container back as it was.
            if let Some(id) = new_id {
                discard(ctx, &id, c).await;
            }
            if aside.is_some() {
                let _ = engine.rename(old_id, old_name).await;
            }
            if strategy == ReplaceStrategy::StopFirst {
                let _ = engine.start(old_id).await;
            }
            Err(e)
        }
    }
}
