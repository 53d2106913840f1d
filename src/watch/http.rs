//! The listener of `berth watch --listen ADDR` (axum, on the loop's tokio
//! runtime): `POST /webhook` turns a verified delivery into a trigger,
//! `GET /healthz`, `GET /status` and `GET /metrics` show what the loop
//! knows. It reads the shared status and metrics and rings the triggers;
//! it never runs a pass itself, and a delivery is only a hint (the pass
//! looks at the repository for itself).
//!
//! Without a webhook secret, `/webhook` answers 403 and says how to set one:
//! an unauthenticated hook would let anyone make the daemon fetch at will.
//! Plain HTTP: put it behind TLS (a reverse proxy) when not on loopback.

use super::metrics::Metrics;
use super::status::Shared;
use super::trigger::{Trigger, Triggers};
use super::webhook::{self, Decision};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Deliveries larger than this get 413 (GitHub caps payloads at 25 MB, but
/// a push's is a few KiB; only `ref` is read).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// prometheus-client's text format is OpenMetrics.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long requests in flight may take once shutdown is asked for.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

const NO_SECRET: &str = "webhook disabled: no secret configured; start berth watch with BERTH_WEBHOOK_SECRET \
     set or with --webhook-secret-file FILE, and give the hook the same secret\n";

/// What `--listen` and the webhook flags say.
#[derive(Debug)]
pub struct ListenConfig {
    pub addr: SocketAddr,
    /// The webhook secret; none: `/webhook` answers 403.
    pub secret: Option<SecretString>,
    /// The remote branch watched; pushes to other branches are ignored.
    pub branch: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("failed to listen on {addr}: {source} (is another process using it? pick another address with --listen)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the listener on {addr} stopped: {source}")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound listener, not yet serving: the caller can report its address
/// (port 0 picks a free one).
pub struct Bound {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    cfg: ListenConfig,
}

/// Binds `cfg.addr`.
pub async fn bind(cfg: ListenConfig) -> Result<Bound, ListenError> {
    let listener =
        tokio::net::TcpListener::bind(cfg.addr).await.map_err(|source| ListenError::Bind { addr: cfg.addr, source })?;
    let addr = listener.local_addr().map_err(|source| ListenError::Bind { addr: cfg.addr, source })?;
    Ok(Bound { listener, addr, cfg })
}

/// Binds, then serves until `shutdown` is cancelled.
pub async fn serve(
    cfg: ListenConfig,
    status: Arc<Shared>,
    metrics: Arc<Metrics>,
    triggers: Triggers,
    shutdown: CancellationToken,
) -> Result<(), ListenError> {
    bind(cfg).await?.serve(status, metrics, triggers, shutdown).await
}

impl Bound {
    /// The address really bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` is cancelled; requests in flight finish.
    pub async fn serve(
        self,
        status: Arc<Shared>,
        metrics: Arc<Metrics>,
        triggers: Triggers,
        shutdown: CancellationToken,
    ) -> Result<(), ListenError> {
        let Bound { listener, addr, cfg } = self;
        let state = Arc::new(App { secret: cfg.secret, branch: cfg.branch, status, metrics, triggers });
        tracing::info!(%addr, "listening: POST /webhook, GET /healthz /status /metrics");
        let server = axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        // Graceful shutdown waits for every open connection; a client that
        // never finishes its request must not keep the daemon from exiting.
        let grace = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            served = std::future::IntoFuture::into_future(server) => {
                served.map_err(|source| ListenError::Serve { addr, source })
            }
            () = grace => {
                tracing::warn!(%addr, "listener stopped with requests still open after {}s", SHUTDOWN_GRACE.as_secs());
                Ok(())
            }
        }
    }
}

struct App {
    secret: Option<SecretString>,
    branch: Option<String>,
    status: Arc<Shared>,
    metrics: Arc<Metrics>,
    triggers: Triggers,
}

fn router(state: Arc<App>) -> Router {
    // Unknown paths get axum's 404, a known path with another method 405.
    Router::new()
        .route("/webhook", post(webhook).layer(DefaultBodyLimit::max(BODY_LIMIT)))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn webhook(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = &app.secret else {
        tracing::warn!(%peer, "webhook refused: no webhook secret configured");
        return (StatusCode::FORBIDDEN, NO_SECRET).into_response();
    };
    let provider = match webhook::verify(&headers, &body, secret.expose_secret().as_bytes()) {
        Ok(p) => p.as_str(),
        Err(why) => {
            // `why` never holds the secret, a signature or a token.
            tracing::warn!(%peer, "webhook refused: {why}");
            return (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response();
        }
    };
    match webhook::decide(&headers, &body, app.branch.as_deref()) {
        Decision::Trigger => {
            tracing::info!(%peer, provider, "webhook: checking the repository");
            app.triggers.fire(Trigger::Webhook { provider });
            (StatusCode::ACCEPTED, "accepted: checking the repository\n").into_response()
        }
        Decision::Ping => {
            tracing::info!(%peer, provider, "webhook: ping");
            (StatusCode::ACCEPTED, "pong\n").into_response()
        }
        Decision::OtherBranch { pushed, watching } => {
            let line = format!("ignored: push to {pushed}, watching {watching}");
            tracing::info!(%peer, provider, "webhook {line}");
            (StatusCode::ACCEPTED, line + "\n").into_response()
        }
    }
}

async fn status(State(app): State<Arc<App>>) -> Response {
    Json(app.status.get()).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], app.metrics.encode()).into_response()
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
