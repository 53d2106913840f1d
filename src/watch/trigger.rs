//! Triggers: whatever may have changed wakes the loop, and every wake-up
//! leads to the same full pass (level-triggered, kube-runtime's habit).
//! A trigger is only a reason for the log. Triggers that arrive during a
//! pass queue exactly one more pass, whatever their number.

use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Why a pass runs: logged, never acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// watch started.
    Start,
    /// Files of the watched working tree changed (the first path, how many).
    Files { first: String, count: usize },
    /// A verified webhook delivery (`github`, `gitlab`, `bearer`).
    Webhook { provider: &'static str },
    /// The remote poll interval passed.
    Poll,
    /// The drift interval passed.
    DriftCheck,
    /// An engine event for one of the project's containers.
    Event { container: String, action: String },
    /// A retry after a transient failure.
    Retry,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::Start => write!(f, "start"),
            Trigger::Files { first, count: 1 } => write!(f, "file {first} changed"),
            Trigger::Files { first, count } => write!(f, "{count} files changed ({first}, …)"),
            Trigger::Webhook { provider } => write!(f, "{provider} webhook"),
            Trigger::Poll => write!(f, "poll"),
            Trigger::DriftCheck => write!(f, "drift check"),
            Trigger::Event { container, action } => write!(f, "engine event {action} of {container}"),
            Trigger::Retry => write!(f, "retry"),
        }
    }
}

/// Reasons kept for one pass's log line: a burst stays one short line.
const KEPT: usize = 4;

/// The loop's doorbell: cheap to clone, for every trigger source.
#[derive(Clone, Default)]
pub struct Triggers {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    pending: Mutex<Pending>,
    bell: Notify,
}

#[derive(Default)]
struct Pending {
    reasons: Vec<Trigger>,
    more: usize,
}

impl Triggers {
    /// Ask for a pass. Never blocks; many asks before the next pass make one.
    pub fn fire(&self, t: Trigger) {
        {
            let mut p = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
            if p.reasons.contains(&t) {
                // the same reason twice says nothing new
            } else if p.reasons.len() < KEPT {
                p.reasons.push(t);
            } else {
                p.more += 1;
            }
        }
        // One stored permit at most: the queue is "one more pass".
        self.inner.bell.notify_one();
    }

    /// Wait for the next pass's reasons (never empty), and clear them.
    pub async fn next(&self) -> Reasons {
        loop {
            self.inner.bell.notified().await;
            let mut p = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
            if !p.reasons.is_empty() {
                let taken = std::mem::take(&mut *p);
                return Reasons { list: taken.reasons, more: taken.more };
            }
        }
    }
}

/// The triggers that led to one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reasons {
    pub list: Vec<Trigger>,
    /// Further distinct triggers, not listed.
    pub more: usize,
}

impl Reasons {
    /// Whether any of them is a change of the repository (files, a push,
    /// a poll), as opposed to a look at the engine only.
    pub fn any(&self, f: impl Fn(&Trigger) -> bool) -> bool {
        self.list.iter().any(f)
    }
}

impl std::fmt::Display for Reasons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<String> = self.list.iter().map(Trigger::to_string).collect();
        write!(f, "{}", list.join(", "))?;
        if self.more > 0 {
            write!(f, " and {} more", self.more)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_burst_of_triggers_makes_one_pass() {
        let t = Triggers::default();
        for i in 0..10 {
            t.fire(Trigger::Event { container: format!("c{i}"), action: "die".into() });
        }
        let r = t.next().await;
        assert_eq!(r.list.len(), KEPT);
        assert_eq!(r.more, 6);
        assert!(r.to_string().ends_with("and 6 more"), "{r}");
        // Nothing more is queued: the burst was one pass.
        let again = tokio::time::timeout(Duration::from_millis(50), t.next()).await;
        assert!(again.is_err(), "a second pass was queued: {again:?}");
    }

    #[tokio::test]
    async fn a_trigger_during_a_pass_queues_exactly_one_more() {
        let t = Triggers::default();
        t.fire(Trigger::Start);
        let first = t.next().await;
        assert_eq!(first.list, vec![Trigger::Start]);
        // "during the pass"
        t.fire(Trigger::Poll);
        t.fire(Trigger::Poll);
        t.fire(Trigger::DriftCheck);
        let second = t.next().await;
        assert_eq!(second.list, vec![Trigger::Poll, Trigger::DriftCheck]);
        assert!(tokio::time::timeout(Duration::from_millis(50), t.next()).await.is_err());
    }
}
