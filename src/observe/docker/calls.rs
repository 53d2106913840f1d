//! How berth talks to the engine: every call bounded in time, retries with
//! backoff for calls that may safely run twice, and a failure in the
//! engine's own words. A read is retried while the engine fails
//! transiently; a mutation only when the request never reached it, so it
//! never runs twice. Retries stop once the call has taken the engine
//! timeout, and a call that timed out is not tried again: the engine had
//! its whole time to answer.
//!
//! A call waits at most the engine timeout (`observe::timeouts`) for its
//! whole answer. Streamed calls (pulls, pushes, builds) wait for progress
//! instead: at most that long between two items (`next_or_idle`). When
//! the engine itself fails (the connection is refused, reset or closed, the
//! socket is gone, nothing answers), the message says so and names the
//! engine's address rather than quoting a bare `os error`.

use crate::observe::timeouts::{self, show};
use crate::observe::EngineError;
use backon::{ExponentialBuilder, Retryable};
use bollard::errors::Error as BollardError;
use futures_util::{Stream, StreamExt};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The address of the engine berth talks to: `DOCKER_HOST`, else the local socket.
pub fn engine_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

/// Consumes a progress stream, surfacing the first error in it, waiting at
/// most the engine timeout for each item.
pub(super) async fn drain<T>(stream: impl Stream<Item = Result<T, BollardError>>) -> Result<(), BollardError> {
    futures_util::pin_mut!(stream);
    let progress = Progress::new(timeouts::current().engine);
    while let Some(item) = next_or_idle(&mut stream, &progress).await? {
        item?;
    }
    Ok(())
}

/// When a streamed call last moved (an item arrived, or the engine took
/// another piece of a request body), and how long it may stand still.
#[derive(Clone)]
pub(super) struct Progress(Arc<Mutex<(Instant, Duration)>>);

impl Progress {
    pub(super) fn new(window: Duration) -> Self {
        Self(Arc::new(Mutex::new((Instant::now(), window))))
    }
    /// Something moved just now.
    pub(super) fn touch(&self) {
        self.lock().0 = Instant::now();
    }
    /// From now on the call may stand still for `window`.
    pub(super) fn set_window(&self, window: Duration) {
        *self.lock() = (Instant::now(), window);
    }
    /// When the call has stood still too long, and how long that is.
    fn deadline(&self) -> (Instant, Duration) {
        let (last, window) = *self.lock();
        (last + window, window)
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, (Instant, Duration)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The next item of a streamed answer, or a timeout once neither the
/// stream nor `progress` has moved for its window.
pub(super) async fn next_or_idle<S: Stream + Unpin>(
    stream: &mut S,
    progress: &Progress,
) -> Result<Option<S::Item>, BollardError> {
    loop {
        let (deadline, _) = progress.deadline();
        // `next` is cancel-safe: an item is never lost to the timeout.
        match tokio::time::timeout_at(deadline.into(), stream.next()).await {
            Ok(item) => {
                progress.touch();
                return Ok(item);
            }
            Err(_) => match progress.deadline() {
                (deadline, window) if deadline <= Instant::now() => return Err(silent(window, "no progress")),
                _ => {} // the request body moved meanwhile
            },
        }
    }
}

/// A call (or stream) the engine left unanswered for `waited`. An I/O
/// `TimedOut` carrying what was awaited, so `describe` can say it.
pub(super) fn silent(waited: Duration, what: &str) -> BollardError {
    let message = format!("{what} for {}{WAIT_LONGER}", show(waited));
    BollardError::IOError { err: std::io::Error::new(std::io::ErrorKind::TimedOut, message) }
}

/// The backoff for retried calls: 4 more tries within about 3 seconds.
pub(super) fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(4)
        .with_jitter()
}

/// One try of a call, bounded by `limit`.
async fn bounded<T>(limit: Duration, fut: impl Future<Output = Result<T, BollardError>>) -> Result<T, BollardError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(no_answer(limit)),
    }
}

/// A read call, retried while the engine fails transiently.
pub(super) async fn read<T, F, Fut>(mut f: F) -> Result<T, BollardError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BollardError>>,
{
    let (limit, started) = (timeouts::current().engine, Instant::now());
    (|| bounded(limit, f()))
        .retry(backoff())
        .when(|e| is_transient(e) && started.elapsed() < limit)
        .notify(|e, d| tracing::debug!("engine call failed ({}); retrying in {d:?}", describe(e)))
        .await
}

/// A mutation, retried only when the request never reached the engine.
pub(super) async fn unreached<T, F, Fut>(f: F) -> Result<T, BollardError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BollardError>>,
{
    unreached_within(timeouts::current().engine, f).await
}

/// `unreached`, for a call the engine may take `limit` to answer (a stop
/// answers once the container's grace period is over).
pub(super) async fn unreached_within<T, F, Fut>(limit: Duration, mut f: F) -> Result<T, BollardError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BollardError>>,
{
    let started = Instant::now();
    (|| bounded(limit, f()))
        .retry(backoff())
        .when(|e| is_unreached(e) && started.elapsed() < limit)
        .notify(|e, d| tracing::debug!("engine unreachable ({}); retrying in {d:?}", describe(e)))
        .await
}

/// Connection failures, resets and 5xx answers: worth another try for a
/// call that may safely run twice. Not a timeout: the engine had its
/// whole time, and trying again would multiply the wait.
pub(super) fn is_transient(e: &BollardError) -> bool {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => *status_code >= 500 || *status_code == 429,
        BollardError::HyperResponseError { .. } => true,
        BollardError::IOError { err } => is_connection_kind(err.kind()),
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

/// I/O failures of the connection itself.
fn is_connection_kind(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(kind, ConnectionRefused | ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected)
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

/// How the engine itself failed a call, rather than answering with an error.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lost {
    /// Refused, no socket, closed or reset: the root cause.
    Gone(String),
    /// Nothing came in time: what was awaited.
    Silent(String),
}

pub(super) fn lost(e: &BollardError) -> Option<Lost> {
    match e {
        BollardError::RequestTimeoutError => Some(Lost::Silent(format!("no answer in time{WAIT_LONGER}"))),
        BollardError::IOError { err } if err.kind() == std::io::ErrorKind::TimedOut => {
            Some(Lost::Silent(err.to_string()))
        }
        // NotFound: the engine's socket is gone.
        BollardError::IOError { err }
            if is_connection_kind(err.kind()) || err.kind() == std::io::ErrorKind::NotFound =>
        {
            Some(Lost::Gone(err.to_string()))
        }
        // The legacy client fails only in transport: connecting, or the
        // connection closing under a request. "client error (Connect)"
        // says nothing; the root cause does.
        BollardError::HyperLegacyError { .. } | BollardError::HyperResponseError { .. } => {
            let mut cause: &dyn std::error::Error = e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            Some(Lost::Gone(cause.to_string()))
        }
        _ => None,
    }
}

/// What to do about a silent engine.
const WAIT_LONGER: &str = "; set --engine-timeout or BERTH_ENGINE_TIMEOUT to wait longer";

/// `silent`'s words for an engine call left unanswered for `waited`.
pub(super) fn no_answer(waited: Duration) -> BollardError {
    silent(waited, "no answer")
}

/// The engine's own words for a failure, with the cause chain; when the
/// engine itself failed, that it went away or does not answer, and where.
pub(super) fn describe(e: &BollardError) -> String {
    match lost(e) {
        Some(Lost::Gone(cause)) => return format!("the Docker engine at {} went away ({cause})", engine_host()),
        Some(Lost::Silent(what)) => return format!("the Docker engine at {} does not answer ({what})", engine_host()),
        None => {}
    }
    match e {
        BollardError::DockerResponseServerError { message, .. } => message.trim().to_string(),
        BollardError::DockerStreamError { error } => error.trim().to_string(),
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

    #[test]
    fn an_engine_that_fails_itself_is_named_in_words() {
        let host = engine_host();
        let gone = BollardError::IOError { err: std::io::Error::from_raw_os_error(2) };
        let text = call("start container x")(gone).to_string();
        assert!(
            text.starts_with(&format!("failed to start container x: the Docker engine at {host} went away (")),
            "{text}"
        );
        assert!(text.contains("os error 2"), "the cause stays: {text}");
        let reset = BollardError::IOError { err: std::io::Error::from(std::io::ErrorKind::ConnectionReset) };
        assert!(describe(&reset).contains("went away"));
        let silent = no_answer(Duration::from_secs(30));
        let text = describe(&silent);
        assert_eq!(
            text,
            format!(
                "the Docker engine at {host} does not answer (no answer for 30s; set --engine-timeout or \
                 BERTH_ENGINE_TIMEOUT to wait longer)"
            )
        );
        // A timeout is not tried again: the engine had its whole time.
        assert!(!is_transient(&silent) && !is_unreached(&silent));
        assert!(!is_transient(&BollardError::RequestTimeoutError));
        // The engine's own refusals stay in its words.
        let refused = BollardError::DockerResponseServerError { status_code: 409, message: "Conflict".into() };
        assert_eq!(describe(&refused), "Conflict");
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    #[test]
    fn a_stream_may_take_long_while_it_moves_but_not_stand_still() {
        let window = Duration::from_millis(300);
        runtime().block_on(async {
            // Six items 100 ms apart: 600 ms in all, twice the window.
            let ticking = futures_util::stream::unfold(0, |n| async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                (n < 6).then_some((n, n + 1))
            });
            futures_util::pin_mut!(ticking);
            let progress = Progress::new(window);
            let mut seen = 0;
            while next_or_idle(&mut ticking, &progress).await.unwrap().is_some() {
                seen += 1;
            }
            assert_eq!(seen, 6);

            // Silent: a timeout after the window, in words.
            let mut silent = futures_util::stream::pending::<u8>();
            let started = Instant::now();
            let err = next_or_idle(&mut silent, &Progress::new(window)).await.unwrap_err();
            assert!(started.elapsed() >= window && started.elapsed() < window * 3);
            assert!(describe(&err).contains("does not answer (no progress for 300ms"), "{}", describe(&err));

            // Silent, but the request body moves meanwhile: still waiting.
            let progress = Progress::new(window);
            let body = progress.clone();
            let mover = tokio::spawn(async move {
                for _ in 0..5 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    body.touch();
                }
            });
            let started = Instant::now();
            let _ = next_or_idle(&mut silent, &progress).await.unwrap_err();
            assert!(started.elapsed() >= Duration::from_millis(500) + window, "{:?}", started.elapsed());
            mover.await.unwrap();
        });
    }

    #[test]
    fn calls_are_bounded_and_not_retried_after_a_timeout() {
        runtime().block_on(async {
            let mut tries = 0;
            let started = Instant::now();
            let r = unreached_within(Duration::from_millis(200), || {
                tries += 1;
                futures_util::future::pending::<Result<(), BollardError>>()
            })
            .await;
            assert!(describe(&r.unwrap_err()).contains("no answer for 200ms"));
            assert_eq!(tries, 1);
            assert!(started.elapsed() < Duration::from_secs(2));
        });
    }
}
