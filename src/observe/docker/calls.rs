//! How berth talks to the engine: retries with backoff for calls that may
//! safely run twice, and a failure in the engine's own words. A read is
//! retried while the engine fails transiently; a mutation only when the
//! request never reached it, so it never runs twice.

use crate::observe::EngineError;
use backon::{ExponentialBuilder, Retryable};
use bollard::errors::Error as BollardError;
use futures_util::{Stream, StreamExt};
use std::future::Future;
use std::time::Duration;

/// Consumes a progress stream, surfacing the first error in it.
pub(super) async fn drain<T>(stream: impl Stream<Item = Result<T, BollardError>>) -> Result<(), BollardError> {
    futures_util::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        item?;
    }
    Ok(())
}

/// The backoff for retried calls: 4 more tries within about 3 seconds.
pub(super) fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(4)
        .with_jitter()
}

/// A read call, retried while the engine fails transiently.
pub(super) async fn read<T, F, Fut>(f: F) -> Result<T, BollardError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BollardError>>,
{
    f.retry(backoff())
        .when(is_transient)
        .notify(|e, d| tracing::debug!("engine call failed ({}); retrying in {d:?}", describe(e)))
        .await
}

/// A mutation, retried only when the request never reached the engine.
pub(super) async fn unreached<T, F, Fut>(f: F) -> Result<T, BollardError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BollardError>>,
{
    f.retry(backoff())
        .when(is_unreached)
        .notify(|e, d| tracing::debug!("engine unreachable ({}); retrying in {d:?}", describe(e)))
        .await
}

/// Connection failures, resets, timeouts and 5xx answers: worth another try
/// for a call that may safely run twice.
pub(super) fn is_transient(e: &BollardError) -> bool {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => *status_code >= 500 || *status_code == 429,
        BollardError::RequestTimeoutError | BollardError::HyperResponseError { .. } => true,
        BollardError::IOError { err } => matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::TimedOut
        ),
        _ => is_unreached(e),
    }
}

/// The request could not be sent at all (refused, no socket yet).
pub(super) fn is_unreached(e: &BollardError) -> bool {
    match e {
        BollardError::HyperLegacyError { err } => err.is_connect(),
        BollardError::IOError { err } => err.kind() == std::io::ErrorKind::ConnectionRefused,
        _ => false,
    }
}

/// Registry failures the engine reports inside a pull stream that are worth
/// another try: rate limits, 5xx, timeouts, dropped connections.
pub(super) fn is_transient_registry_message(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    [
        "toomanyrequests",
        "too many requests",
        "status: 5",
        "status code 5",
        "500 internal server error",
        "502 bad gateway",
        "503 service unavailable",
        "504 gateway timeout",
        "i/o timeout",
        "tls handshake timeout",
        "connection reset",
        "unexpected eof",
        "timeout exceeded",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

pub(super) fn status(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The engine's own words for a failure, with the cause chain.
pub(super) fn describe(e: &BollardError) -> String {
    match e {
        BollardError::DockerResponseServerError { message, .. } => message.trim().to_string(),
        BollardError::DockerStreamError { error } => error.trim().to_string(),
        BollardError::RequestTimeoutError => "the engine did not answer in time".to_string(),
        // "client error (Connect): tcp connect error: …": the root cause says it.
        BollardError::HyperLegacyError { err } => {
            let mut cause: &dyn std::error::Error = err;
            while let Some(next) = cause.source() {
                cause = next;
            }
            cause.to_string()
        }
        _ => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let s_text = s.to_string();
                if !text.contains(&s_text) {
                    text.push_str(": ");
                    text.push_str(&s_text);
                }
                source = s.source();
            }
            text
        }
    }
}

/// Maps a bollard error to `EngineError::Call` for `action`.
pub(super) fn call(action: impl Into<String>) -> impl FnOnce(BollardError) -> EngineError {
    let action = action.into();
    move |e| EngineError::Call { action, message: describe(&e) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_told_apart() {
        let server = |code| BollardError::DockerResponseServerError { status_code: code, message: "x".into() };
        assert!(is_transient(&server(500)));
        assert!(is_transient(&server(503)));
        assert!(!is_transient(&server(404)));
        assert!(!is_transient(&server(409)));
        let refused = BollardError::IOError { err: std::io::Error::from(std::io::ErrorKind::ConnectionRefused) };
        assert!(is_transient(&refused) && is_unreached(&refused));
        let reset = BollardError::IOError { err: std::io::Error::from(std::io::ErrorKind::ConnectionReset) };
        assert!(is_transient(&reset) && !is_unreached(&reset));
        assert!(is_transient_registry_message("toomanyrequests: You have reached your pull rate limit"));
        assert!(is_transient_registry_message("Get \"https://r/v2/\": net/http: TLS handshake timeout"));
        assert!(!is_transient_registry_message("pull access denied for x, repository does not exist"));
        assert!(!is_transient_registry_message("unauthorized: authentication required"));
    }

    #[test]
    fn engine_messages_are_quoted_plainly() {
        let e = BollardError::DockerResponseServerError { status_code: 404, message: "No such container: x\n".into() };
        assert_eq!(call("start container x")(e).to_string(), "failed to start container x: No such container: x");
    }
}
