//! Engine events for one project's containers: one that dies, stops, is
//! killed or removed, runs out of memory or turns unhealthy wakes the loop
//! for a drift check. Events within a second make one trigger.
//!
//! The subscription lives as long as the engine connection: when it ends
//! (the engine restarted, the socket went away) it is made again, after
//! 1 s doubling to 5 min with jitter, so a dead engine costs a few calls
//! an hour and one warning. Once events flow again, one trigger asks for
//! a check: what happened while they did not is unknown.

use super::jitter::Backoff;
use super::trigger::{Trigger, Triggers};
use crate::observe::{Engine, EngineEvent, EventStream};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Events this close after the first one make one trigger.
const GATHER: Duration = Duration::from_secs(1);
/// A subscription that lasted this long was healthy: the next loss is a
/// new outage, retried from the shortest wait.
const STEADY: Duration = Duration::from_secs(30);
/// Containers and actions named in one trigger, at most.
const NAMED: usize = 8;

/// Follows the engine's events for `project`'s containers until `shutdown`.
pub fn spawn_events(
    engine: Arc<dyn Engine>,
    project: String,
    triggers: Triggers,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let subscribe = {
        let project = project.clone();
        move || engine.container_events(&project)
    };
    tokio::spawn(follow(subscribe, project, triggers, shutdown))
}

/// The trigger after the events were lost for a while and flow again.
pub fn reconnected() -> Trigger {
    Trigger::Event { container: "the engine".into(), action: "reconnect".into() }
}

/// An outage of the event stream: since when, and whether events were
/// seen flowing again (said once).
struct Outage {
    since: Instant,
    back: bool,
}

async fn follow(
    mut subscribe: impl FnMut() -> EventStream,
    project: String,
    triggers: Triggers,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::default();
    let mut outage: Option<Outage> = None;
    loop {
        let began = Instant::now();
        let mut stream = subscribe();
        let mut gathered: Option<Gathered> = None;
        let why = loop {
            let due = gathered.as_ref().map(|g| g.due);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = until(due) => {
                    if let Some(g) = gathered.take() {
                        triggers.fire(g.trigger());
                    }
                }
                item = stream.next() => match item {
                    Some(Ok(EngineEvent::Subscribed)) => {
                        if let Some(o) = outage.as_mut().filter(|o| !o.back) {
                            o.back = true;
                            tracing::info!(
                                "following the engine's events for project {project} again, after {}",
                                humantime::format_duration(round(o.since.elapsed()))
                            );
                            triggers.fire(reconnected());
                        }
                    }
                    Some(Ok(EngineEvent::Container { name, action })) => {
                        outage = None;
                        backoff.reset();
                        gathered.get_or_insert_with(|| Gathered::new(Instant::now() + GATHER)).add(name, action);
                    }
                    Some(Err(e)) => break e.to_string(),
                    None => break "the engine closed the event stream".to_string(),
                },
            }
        };
        // What happened before the loss still counts.
        if let Some(g) = gathered.take() {
            triggers.fire(g.trigger());
        }
        if began.elapsed() >= STEADY {
            outage = None;
            backoff.reset();
        }
        let delay = backoff.next_delay();
        let wait = humantime::format_duration(round(delay));
        if outage.is_none() {
            tracing::warn!(
                "lost the engine's events for project {project} ({why}); drift is checked on the interval \
                 meanwhile; subscribing again in {wait}, backing off up to 5 min"
            );
            outage = Some(Outage { since: Instant::now(), back: false });
        } else {
            tracing::debug!("the engine's events for project {project} are still lost ({why}); next try in {wait}");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Sleeps until `due`, or forever without one.
async fn until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Durations to the second, for people.
fn round(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs_f64().round() as u64)
}

/// Events gathered into one trigger.
struct Gathered {
    due: Instant,
    containers: Vec<String>,
    more: usize,
    actions: Vec<String>,
}

impl Gathered {
    fn new(due: Instant) -> Self {
        Gathered { due, containers: Vec::new(), more: 0, actions: Vec::new() }
    }

    fn add(&mut self, container: String, action: String) {
        if !self.containers.contains(&container) {
            if self.containers.len() < NAMED {
                self.containers.push(container);
            } else {
                self.more += 1;
            }
        }
        if !self.actions.contains(&action) && self.actions.len() < NAMED {
            self.actions.push(action);
        }
    }

    /// `die, stop` of `demo-web-web-1 and 2 more`.
    fn trigger(self) -> Trigger {
        let others = self.containers.len().saturating_sub(1) + self.more;
        let first = self.containers.into_iter().next().unwrap_or_default();
        let container = if others == 0 { first } else { format!("{first} and {others} more") };
        Trigger::Event { container, action: self.actions.join(", ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::EngineError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn container(name: &str, action: &str) -> Result<EngineEvent, EngineError> {
        Ok(EngineEvent::Container { name: name.into(), action: action.into() })
    }

    fn lost() -> Result<EngineEvent, EngineError> {
        Err(EngineError::Connect("the engine went away".into()))
    }

    /// A stream that yields `items` at once, then waits forever.
    fn scripted(items: Vec<Result<EngineEvent, EngineError>>) -> EventStream {
        Box::pin(futures_util::stream::iter(items).chain(futures_util::stream::pending()))
    }

    async fn next(t: &Triggers, within: Duration) -> Option<super::super::Reasons> {
        tokio::time::timeout(within, t.next()).await.ok()
    }

    #[tokio::test(start_paused = true)]
    async fn events_within_a_second_make_one_trigger() {
        let t = Triggers::default();
        let stop = CancellationToken::new();
        let mut first = true;
        let subscribe = move || {
            assert!(std::mem::take(&mut first), "subscribed twice");
            scripted(vec![
                Ok(EngineEvent::Subscribed),
                container("demo-web-web-1", "kill"),
                container("demo-web-web-1", "die"),
                container("demo-web-web-2", "die"),
                container("demo-web-web-1", "stop"),
            ])
        };
        let task = tokio::spawn(follow(subscribe, "demo".into(), t.clone(), stop.clone()));
        let started = Instant::now();
        let r = next(&t, Duration::from_secs(5)).await.expect("a trigger");
        assert_eq!(started.elapsed(), GATHER);
        assert_eq!(
            r.list,
            [Trigger::Event { container: "demo-web-web-1 and 1 more".into(), action: "kill, die, stop".into() }]
        );
        assert!(next(&t, Duration::from_secs(60)).await.is_none(), "a second trigger");
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_engine_is_retried_with_backoff_never_in_a_busy_loop() {
        let t = Triggers::default();
        let stop = CancellationToken::new();
        let tries = Arc::new(AtomicUsize::new(0));
        let counted = tries.clone();
        let subscribe = move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(futures_util::stream::iter(vec![lost()])) as EventStream
        };
        let task = tokio::spawn(follow(subscribe, "demo".into(), t.clone(), stop.clone()));
        tokio::time::sleep(Duration::from_secs(600)).await;
        // 1+2+4+…+256 s is 511 s; then every 5 min: about 10 tries in 10 minutes.
        let n = tries.load(Ordering::SeqCst);
        assert!((8..=12).contains(&n), "{n} subscriptions in 10 minutes");
        assert!(next(&t, Duration::from_millis(1)).await.is_none(), "a trigger without any event");
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn events_flowing_again_trigger_a_check_once() {
        let t = Triggers::default();
        let stop = CancellationToken::new();
        let mut tries = 0;
        let subscribe = move || {
            tries += 1;
            match tries {
                // Lost at once, then twice more; then back, and lost again after a minute.
                1..=3 => scripted(vec![lost()]),
                4 => Box::pin(
                    futures_util::stream::iter(vec![Ok(EngineEvent::Subscribed)])
                        .chain(futures_util::stream::once(async {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            lost()
                        }))
                        .chain(futures_util::stream::pending()),
                ) as EventStream,
                _ => scripted(vec![Ok(EngineEvent::Subscribed)]),
            }
        };
        let task = tokio::spawn(follow(subscribe, "demo".into(), t.clone(), stop.clone()));
        let r = next(&t, Duration::from_secs(30)).await.expect("a trigger once events flow again");
        assert_eq!(r.list, [reconnected()]);
        // The second loss is a new outage (the subscription was steady): back again, another check.
        let r = next(&t, Duration::from_secs(120)).await.expect("a trigger after the second loss");
        assert_eq!(r.list, [reconnected()]);
        assert!(next(&t, Duration::from_secs(600)).await.is_none());
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_the_task_while_waiting() {
        let stop = CancellationToken::new();
        let subscribe = || scripted(vec![lost()]);
        let task = tokio::spawn(follow(subscribe, "demo".into(), Triggers::default(), stop.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(1), task).await.expect("ended").unwrap();
    }
}
