//! One applier per project per engine, seen by every machine that talks to
//! the engine (a CI runner, a laptop, `berth watch`): the lock is an object
//! on the engine (`Engine::try_lock`), not a file in one machine's state
//! dir. It records who holds it and has a lease the holder renews while it
//! works, so a crashed holder's lock expires and is taken over.
//!
//! A second applier waits up to `--lock-timeout` and then gives up naming
//! the holder; `plan` and `drift` wait the same way for an apply in
//! progress (without taking the lock), so they never report its half-done
//! steps as drift.

use crate::observe::{Engine, EngineError, LockAttempt, LockHolder, LockInfo};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a lock lives without renewal.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often the holder renews it.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often a waiter looks again.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "an apply is in progress for project {project} on this engine: {} has held the lock for {}; gave up after waiting {} (--lock-timeout)",
        .holder, human(*.held_for), human(*.waited)
    )]
    Busy { project: String, holder: LockHolder, held_for: Duration, waited: Duration },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The project's apply lock, held: renewed in the background until released.
pub struct ProjectLock {
    engine: Arc<dyn Engine>,
    id: String,
    renewer: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ProjectLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectLock").field("id", &self.id).finish_non_exhaustive()
    }
}

impl ProjectLock {
    /// Take the lock, waiting up to `timeout` while someone else holds it;
    /// `waiting` hears once who that is. An expired lock is taken over.
    pub async fn acquire(
        engine: Arc<dyn Engine>,
        project: &str,
        timeout: Duration,
        waiting: impl Fn(&LockInfo),
    ) -> Result<Self, LockError> {
        let me = holder();
        let mut wait = Wait::new(timeout);
        loop {
            match engine.try_lock(project, &me, LEASE).await? {
                LockAttempt::Acquired { id } => {
                    let renewer = tokio::spawn(renew(engine.clone(), id.clone()));
                    return Ok(ProjectLock { engine, id, renewer });
                }
                LockAttempt::Retry => continue,
                LockAttempt::Held(info) if info.expired => {
                    tracing::warn!(
                        "taking over the lock of project {project}: {} stopped renewing it (held {})",
                        info.holder,
                        human(info.held_for)
                    );
                    // By id: if another waiter was quicker, this removes nothing of theirs.
                    engine.unlock(&info.id).await?;
                }
                LockAttempt::Held(info) => wait.held(project, info, &waiting).await?,
            }
        }
    }

    /// Give the lock back.
    pub async fn release(self) {
        self.renewer.abort();
        if let Err(e) = self.engine.unlock(&self.id).await {
            tracing::warn!("failed to release the apply lock ({e}); it expires within {}", human(LEASE));
        }
    }
}

/// Wait, without taking the lock, until no apply holds it (an expired lock
/// does not count), up to `timeout`.
pub async fn wait_idle(
    engine: &dyn Engine,
    project: &str,
    timeout: Duration,
    waiting: impl Fn(&LockInfo),
) -> Result<(), LockError> {
    let mut wait = Wait::new(timeout);
    loop {
        match engine.lock_of(project).await? {
            Some(info) if !info.expired => wait.held(project, info, &waiting).await?,
            _ => return Ok(()),
        }
    }
}

/// Waiting out someone else's lock, up to a timeout: the holder is told once.
struct Wait {
    start: Instant,
    timeout: Duration,
    told: bool,
}

impl Wait {
    fn new(timeout: Duration) -> Self {
        Wait { start: Instant::now(), timeout, told: false }
    }

    /// `info` holds the lock: give up once the timeout passed, else tell
    /// `waiting` (the first time) and sleep before the next look.
    async fn held(&mut self, project: &str, info: LockInfo, waiting: &impl Fn(&LockInfo)) -> Result<(), LockError> {
        let waited = self.start.elapsed();
        if waited >= self.timeout {
            return Err(busy(project, info, waited));
        }
        if !self.told {
            waiting(&info);
            self.told = true;
        }
        tokio::time::sleep(POLL.min(self.timeout.saturating_sub(waited))).await;
        Ok(())
    }
}

fn busy(project: &str, info: LockInfo, waited: Duration) -> LockError {
    LockError::Busy { project: project.to_string(), holder: info.holder, held_for: info.held_for, waited }
}

async fn renew(engine: Arc<dyn Engine>, id: String) {
    let start = Instant::now();
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        if let Err(e) = engine.renew_lock(&id, start.elapsed()).await {
            tracing::warn!("failed to renew the apply lock ({e}); it expires {} after the last renewal", human(LEASE));
        }
    }
}

/// This process, as a lock holder.
pub fn holder() -> LockHolder {
    let user = ["USER", "LOGNAME"].iter().find_map(|k| std::env::var(k).ok()).unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    let command = std::env::args()
        .enumerate()
        .map(|(i, a)| if i == 0 { "berth".to_string() } else { a })
        .collect::<Vec<_>>()
        .join(" ");
    LockHolder { user, host, pid: std::process::id(), command }
}

/// `1m 5s`, without fractions.
fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
