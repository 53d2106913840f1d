//! `berth watch --notify URL`: one JSON POST per event (an applied change,
//! a failure, newly found drift, a crash-looping app, a refused commit).
//!
//! The body is exactly `NotifyEvent`: what the caller filled in from the
//! plan's rendered lines, which never hold a secret value; nothing is added
//! here. The same event is not sent twice in a row for a project (a
//! fingerprint of its JSON; events carry no timings, so a repeat is equal).
//! Delivery runs in its own task with a few retries and a 10 s budget: a
//! slow receiver never holds up the loop, a dead one costs warn lines.

use backon::{ExponentialBuilder, Retryable};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// All the attempts of one event together.
const BUDGET: Duration = Duration::from_secs(10);
/// One attempt.
const ATTEMPT: Duration = Duration::from_secs(4);

/// The POST body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NotifyEvent {
    pub project: String,
    /// The commit planned (none: an uncommitted working tree).
    pub commit: Option<String>,
    pub result: NotifyResult,
    /// The plan's summary line (`Plan: …`), or what happened in one line.
    pub summary: String,
    /// Per app that changed, drifted or failed.
    pub changes: Vec<AppChange>,
    /// What went wrong (never a secret value).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyResult {
    Applied,
    Failed,
    Drifted,
    CrashLooping,
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AppChange {
    pub app: String,
    /// The plan's action lines for the app (`~ replace web-web-1`).
    pub actions: Vec<String>,
    /// Why (`env.PORT changed`, `container missing`).
    pub reasons: Vec<String>,
}

type Fingerprint = [u8; 32];

/// Sends events to one URL.
#[derive(Clone)]
pub struct Notifier {
    url: reqwest::Url,
    client: Option<reqwest::Client>,
    /// The last event handed out per project (bounded by the projects watched).
    last: Arc<Mutex<HashMap<String, Fingerprint>>>,
}

impl Notifier {
    pub fn new(url: reqwest::Url) -> Self {
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| tracing::warn!("notifications disabled: cannot set up an HTTP client: {e}"))
            .ok();
        Notifier { url, client, last: Arc::default() }
    }

    /// Sends `event` in the background, unless it equals the last one sent
    /// for its project. Returns at once.
    pub async fn send(&self, event: &NotifyEvent) {
        let _ = self.dispatch(event);
    }

    /// Forget the last event of `project`: the next one is sent even if
    /// equal (say, when the project is back in sync, so that the same
    /// drift found again is news).
    pub fn forget(&self, project: &str) {
        self.lock().remove(project);
    }

    /// `send`, with the task to await (tests).
    fn dispatch(&self, event: &NotifyEvent) -> Option<tokio::task::JoinHandle<()>> {
        let client = self.client.clone()?;
        // Serializing plain strings and enums cannot fail.
        let body = serde_json::to_vec(event).ok()?;
        let print: Fingerprint = Sha256::digest(&body).into();
        {
            let mut last = self.lock();
            if last.get(&event.project) == Some(&print) {
                tracing::debug!(project = event.project, "notification skipped: same as the last one");
                return None;
            }
            last.insert(event.project.clone(), print);
        }
        let (url, last, project) = (self.url.clone(), self.last.clone(), event.project.clone());
        Some(tokio::spawn(async move {
            if deliver(&client, url.clone(), body).await.is_err() {
                // Undelivered: the same event later is news again.
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                if last.get(&project) == Some(&print) {
                    last.remove(&project);
                }
            }
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Fingerprint>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// POSTs `body`, retrying within `BUDGET`. Logs name the host only: a
/// notify URL often carries a token in its path or query (Slack, Teams).
async fn deliver(client: &reqwest::Client, url: reqwest::Url, body: Vec<u8>) -> Result<(), ()> {
    let host = url.host_str().unwrap_or("?").to_owned();
    let attempt = || async {
        let resp = client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            s => Err(format!("answered {s}")),
        }
    };
    let retried = attempt
        .retry(ExponentialBuilder::default().with_min_delay(Duration::from_millis(500)).with_max_times(3).with_jitter())
        .notify(|e: &String, after: Duration| {
            tracing::warn!(host, "notification failed: {e}; retrying in {}", humantime::format_duration(after));
        });
    match tokio::time::timeout(BUDGET, retried).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(host, "notification not delivered: {e}; giving up on this event");
            Err(())
        }
        Err(_) => {
            tracing::warn!(host, "notification not delivered within {}s; giving up on this event", BUDGET.as_secs());
            Err(())
        }
    }
}

#[cfg(test)]
#[path = "notify_tests.rs"]
mod tests;
