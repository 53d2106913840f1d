//! `berth watch [REPO]`: run the reconciler loop until SIGTERM/SIGINT.

use super::{connect, LockArgs, EXIT_OK};
use crate::apply::ApplyOptions;
use crate::observe::Engine;
use crate::pipeline::{LoadOptions, PlanOptions};
use crate::watch::{Config, Origin, Watch};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
berth watch ./infra                         # apply each change of the folder; report drift every 5 minutes\n  \
berth watch ./infra --heal --drift-interval 1m\n\n\
A change of the repository (its files, or a commit) is applied as `berth apply --auto-approve` would.\n\
Drift of an unchanged repository is reported in the log; with --heal it is corrected, except for an app\n\
that drifted again after 5 heals in 10 minutes (crash-looping: left alone until the repository changes).\n\
Transient failures (engine or registry unreachable) are retried with backoff from 1s to 5m; a repository\n\
that fails (invalid, a failed build, an unhealthy container) is not retried until it changes.\n\
SIGTERM or SIGINT stop the watch once the pass in flight is done.")]
pub struct WatchArgs {
    /// Repository folder to watch.
    #[arg(default_value = ".", value_name = "REPO")]
    repo: PathBuf,
    /// How often to check for drift when nothing else happens.
    #[arg(long, value_name = "D", default_value = "5m", value_parser = crate::observe::timeouts::parse)]
    drift_interval: Duration,
    /// Correct drift (without it, drift is reported, never fixed).
    #[arg(long)]
    heal: bool,
    /// How many apps are changed at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    parallelism: u16,
    /// Allow pushing (and releasing) builds from uncommitted files.
    #[arg(long)]
    allow_dirty: bool,
    #[command(flatten)]
    lock: LockArgs,
}

pub async fn run(a: WatchArgs, load: &LoadOptions) -> anyhow::Result<u8> {
    if !crate::source::is_repository(&a.repo) {
        // The same refusal `apply` gives, before the loop starts.
        crate::pipeline::load(&a.repo, load)?;
    }
    let root = a.repo.canonicalize().map_err(|e| anyhow::anyhow!("cannot open {}: {e}", a.repo.display()))?;
    let engine: Arc<dyn Engine> = Arc::new(connect().await?);
    let cfg = Config {
        origin: Origin::Local { root },
        drift_interval: a.drift_interval,
        heal: a.heal,
        load: load.clone(),
        plan: PlanOptions { allow_empty: false, refresh_remote: false, allow_dirty: a.allow_dirty },
        apply: ApplyOptions { parallelism: a.parallelism as usize },
        lock_timeout: a.lock.lock_timeout,
    };
    let watch = Watch::new(cfg, engine);
    let shutdown = CancellationToken::new();
    spawn_signals(shutdown.clone())?;
    watch.run(shutdown).await;
    Ok(EXIT_OK)
}

/// SIGTERM and SIGINT cancel `shutdown`: the loop ends after its pass in flight.
fn spawn_signals(shutdown: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!("{name}: stopping after the pass in flight");
        shutdown.cancel();
    });
    Ok(())
}
