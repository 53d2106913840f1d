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
berth watch ./infra --heal --drift-interval 1m\n  \
berth watch --remote https://git.example.com/ops/infra.git --branch main --listen 127.0.0.1:9000\n\n\
A change of the repository (its files, or a commit) is applied as `berth apply --auto-approve` would.\n\
Drift of an unchanged repository is reported in the log; with --heal it is corrected, except for an app\n\
that drifted again after 5 heals in 10 minutes (crash-looping: left alone until the repository changes).\n\
Transient failures (engine or registry unreachable) are retried with backoff from 1s to 5m; a repository\n\
that fails (invalid, a failed build, an unhealthy container) is not retried until it changes.\n\
SIGTERM or SIGINT stop the watch once the pass in flight is done.")]
pub struct WatchArgs {
    /// Repository folder to watch (not with --remote).
    #[arg(value_name = "REPO", conflicts_with = "remote")]
    repo: Option<PathBuf>,
    /// Follow a branch of this remote repository instead (https://…, ssh://…, git@host:path, file://…);
    /// mirrored under the state dir, nothing checked out.
    #[arg(long, value_name = "URL", help_heading = "Remote repository")]
    remote: Option<String>,
    /// The branch to follow.
    #[arg(long, value_name = "B", default_value = "main", requires = "remote", help_heading = "Remote repository")]
    branch: String,
    /// How often to ask the remote for the branch head (±10 %); a webhook asks at once.
    #[arg(long, value_name = "D", default_value = "60s", value_parser = interval, requires = "remote", help_heading = "Remote repository")]
    interval: Duration,
    /// File holding an https token (else BERTH_GIT_TOKEN).
    #[arg(long, value_name = "FILE", requires = "remote", help_heading = "Remote repository")]
    git_token_file: Option<PathBuf>,
    /// ssh private key for an ssh remote (the only identity offered).
    #[arg(long, value_name = "FILE", requires = "remote", help_heading = "Remote repository")]
    ssh_key: Option<PathBuf>,
    /// known_hosts file the ssh host key is checked against (default ~/.ssh/known_hosts; unknown hosts are refused).
    #[arg(long, value_name = "FILE", requires = "remote", help_heading = "Remote repository")]
    ssh_known_hosts: Option<PathBuf>,
    /// Apply the branch even when it was rewritten (not a fast-forward of the commit applied).
    #[arg(long, requires = "remote", help_heading = "Remote repository")]
    allow_rewrite: bool,
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
    let origin = match &a.remote {
        Some(url) => Origin::Remote(remote(&a, url)?),
        None => {
            let repo = a.repo.clone().unwrap_or_else(|| PathBuf::from("."));
            if !crate::source::is_repository(&repo) {
                // The same refusal `apply` gives, before the loop starts.
                crate::pipeline::load(&repo, load)?;
            }
            let root = repo.canonicalize().map_err(|e| anyhow::anyhow!("cannot open {}: {e}", repo.display()))?;
            Origin::Local { root }
        }
    };
    let branch = a.remote.as_ref().map(|_| a.branch.clone());
    let engine: Arc<dyn Engine> = Arc::new(connect().await?);
    let cfg = Config {
        origin,
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
            let cfg = crate::watch::http::ListenConfig { addr, secret, branch };
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

/// The remote and how to reach it.
fn remote(a: &WatchArgs, url: &str) -> anyhow::Result<crate::watch::RemoteOrigin> {
    use crate::source::remote::{default_cache_dir, GitAuth, Remote};
    let token = match &a.git_token_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("cannot read the git token file {}: {e}", f.display()))?,
        ),
        None => std::env::var("BERTH_GIT_TOKEN").ok(),
    }
    .map(|t| t.lines().next().unwrap_or("").trim().to_string())
    .filter(|t| !t.is_empty())
    .map(secrecy::SecretString::from);
    let auth = GitAuth { token, ssh_key: a.ssh_key.clone(), known_hosts: a.ssh_known_hosts.clone() };
    let remote = Remote::new(url, &a.branch, auth, &default_cache_dir()?)?;
    Ok(crate::watch::RemoteOrigin { remote: Arc::new(remote), interval: a.interval, allow_rewrite: a.allow_rewrite })
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
