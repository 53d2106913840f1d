//! `berth watch`: the reconciler loop. Triggers (a file change, a commit, a
//! webhook, a poll, the drift interval, an engine event) wake one loop per
//! project; every wake-up runs the same full pass of the one reconcile step
//! (`crate::reconcile`), one pass at a time.

pub mod crashloop;
pub mod events;
pub mod jitter;
pub mod local;
pub mod metrics;
pub mod status;
pub mod trigger;

pub use crashloop::HealLimit;
pub use events::spawn_events;
pub use jitter::Backoff;
pub use local::{LocalWatch, WatchError, WatchPaths};
pub use status::{Shared, StatusDoc};
pub use trigger::{Reasons, Trigger, Triggers};
