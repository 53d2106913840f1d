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
    #[arg(long, value_name = "D", default_value = "5m", value_parser = interval)]
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
    /// Serve POST /webhook, GET /healthz, /status and /metrics on this address (e.g. 127.0.0.1:9000).
    /// Plain HTTP: put it behind a TLS reverse proxy when it is not on loopback.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// File holding the webhook secret (else BERTH_WEBHOOK_SECRET); without one, /webhook answers 403.
    #[arg(long, value_name = "FILE")]
    webhook_secret_file: Option<PathBuf>,
    /// POST a JSON event to this URL on every applied change, failure and newly found drift.
    #[arg(long, value_name = "URL")]
    notify: Option<reqwest::Url>,
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
        notify: a.notify.clone(),
    };
    let listener = match a.listen {
        Some(addr) => {
            let secret = webhook_secret(a.webhook_secret_file.as_deref())?;
            let cfg = crate::watch::http::ListenConfig { addr, secret, branch: None };
            Some(crate::watch::http::bind(cfg).await?)
        }
        None if a.webhook_secret_file.is_some() => {
            anyhow::bail!("--webhook-secret-file needs --listen ADDR (the address the webhook is served on)")
        }
        None => None,
    };
    let watch = Watch::new(cfg, engine);
    let shutdown = CancellationToken::new();
    spawn_signals(shutdown.clone())?;
    watch.run(listener, shutdown).await;
    Ok(EXIT_OK)
}

/// The webhook secret: `--webhook-secret-file` (its first line), else `BERTH_WEBHOOK_SECRET`.
fn webhook_secret(file: Option<&std::path::Path>) -> anyhow::Result<Option<secrecy::SecretString>> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read the webhook secret file {}: {e}", f.display()))?,
        None => match std::env::var("BERTH_WEBHOOK_SECRET") {
            Ok(s) => s,
            Err(_) => return Ok(None),
        },
    };
    let secret = text.lines().next().unwrap_or("").trim().to_string();
    if secret.is_empty() {
        anyhow::bail!("the webhook secret is empty: put the secret the hook sends in BERTH_WEBHOOK_SECRET or the file");
    }
    Ok(Some(secrecy::SecretString::from(secret)))
}

/// A duration like `30s`, `5m`, `500ms`; not zero (a busy loop).
fn interval(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d >= Duration::from_millis(10) => Ok(d),
        Ok(_) => Err("an interval is at least 10ms".into()),
        Err(e) => Err(format!("{e} (write a duration like 30s, 5m, 1h)")),
    }
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
