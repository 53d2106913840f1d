//! The heal limit: a container that keeps dying is healed at most 5 times
//! in a sliding 10 minutes; after that its app is crash-looping and left
//! alone (reported as suspended) until the repository changes.
//!
//! Pure: the caller says what time it is. Memory stays bounded: at most
//! the limit's number of instants per app, and apps whose heals have all
//! left the window are forgotten.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Heals allowed per app within `WINDOW`.
pub const MAX_HEALS: usize = 5;
/// The sliding window the heals are counted in.
pub const WINDOW: Duration = Duration::from_secs(10 * 60);

/// Which apps were healed when, and which are crash-looping.
#[derive(Debug, Clone)]
pub struct HealLimit {
    max: usize,
    window: Duration,
    /// Heals within the window, oldest first, per app.
    heals: HashMap<String, VecDeque<Instant>>,
    suspended: BTreeSet<String>,
}

impl Default for HealLimit {
    fn default() -> Self {
        Self::new(MAX_HEALS, WINDOW)
    }
}

impl HealLimit {
    pub fn new(max: usize, window: Duration) -> Self {
        HealLimit { max, window, heals: HashMap::new(), suspended: BTreeSet::new() }
    }

    /// May `app` be healed at `now`? Yes (and the heal is counted) while it
    /// had fewer than the limit within the window; otherwise it becomes
    /// crash-looping, and stays so until `reset`.
    pub fn allow(&mut self, app: &str, now: Instant) -> bool {
        self.forget_before(now);
        if self.suspended.contains(app) {
            return false;
        }
        let heals = self.heals.entry(app.to_string()).or_default();
        if heals.len() < self.max {
            heals.push_back(now);
            return true;
        }
        // Suspended apps need no history: only `reset` lifts it.
        self.heals.remove(app);
        self.suspended.insert(app.to_string());
        false
    }

    /// Whether `app` is crash-looping (healed no more).
    pub fn is_suspended(&self, app: &str) -> bool {
        self.suspended.contains(app)
    }

    /// The crash-looping apps, by name.
    pub fn suspended(&self) -> impl Iterator<Item = &str> {
        self.suspended.iter().map(String::as_str)
    }

    /// The repository changed: every app gets a fresh start.
    pub fn reset(&mut self) {
        self.heals.clear();
        self.suspended.clear();
    }

    /// Drops heals that left the window, and apps left without any.
    fn forget_before(&mut self, now: Instant) {
        let window = self.window;
        self.heals.retain(|_, heals| {
            while heals.front().is_some_and(|t| now.saturating_duration_since(*t) >= window) {
                heals.pop_front();
            }
            !heals.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    #[test]
    fn five_heals_in_ten_minutes_then_suspended_until_reset() {
        let t0 = Instant::now();
        let mut limit = HealLimit::default();
        for i in 0..5 {
            assert!(limit.allow("web", t0 + minutes(i)), "heal {i}");
        }
        assert!(!limit.is_suspended("web"));
        assert!(!limit.allow("web", t0 + minutes(5)), "the sixth heal within 10 minutes");
        assert!(limit.is_suspended("web"));
        assert_eq!(limit.suspended().collect::<Vec<_>>(), ["web"]);
        // Time alone does not lift it ...
        assert!(!limit.allow("web", t0 + minutes(60)));
        // ... a change of the repository does.
        limit.reset();
        assert!(!limit.is_suspended("web"));
        assert!(limit.allow("web", t0 + minutes(61)));
    }

    #[test]
    fn the_window_slides() {
        let t0 = Instant::now();
        let mut limit = HealLimit::default();
        // One heal every 2.5 minutes never has five within 10 minutes before the sixth.
        for i in 0..20u32 {
            let now = t0 + Duration::from_secs(150) * i;
            assert!(limit.allow("web", now), "heal {i} at {:?}", now - t0);
        }
        assert!(!limit.is_suspended("web"));
        // Five at once, after a quiet spell: the sixth in the window is refused.
        let later = t0 + minutes(120);
        for i in 0..5 {
            assert!(limit.allow("web", later + Duration::from_secs(i)));
        }
        assert!(!limit.allow("web", later + Duration::from_secs(9 * 60)));
    }

    #[test]
    fn apps_are_counted_apart() {
        let t0 = Instant::now();
        let mut limit = HealLimit::default();
        for i in 0..6 {
            limit.allow("web", t0 + Duration::from_secs(i));
        }
        assert!(limit.is_suspended("web"));
        assert!(limit.allow("worker", t0 + Duration::from_secs(7)));
        assert!(!limit.is_suspended("worker"));
    }

    #[test]
    fn memory_stays_bounded() {
        let t0 = Instant::now();
        let mut limit = HealLimit::default();
        for i in 0..1000u32 {
            limit.allow(&format!("app-{i}"), t0 + Duration::from_secs(u64::from(i)));
        }
        // Apps healed more than ten minutes ago are forgotten at the next call:
        // at 1300 s, those healed after 700 s stay (299), and "web".
        limit.allow("web", t0 + Duration::from_secs(1300));
        assert_eq!(limit.heals.len(), 300);
        for i in 0..100 {
            limit.allow("web", t0 + minutes(30) + Duration::from_secs(i));
        }
        assert!(limit.heals.values().all(|h| h.len() <= MAX_HEALS));
        assert!(!limit.heals.contains_key("web"), "a suspended app keeps no history");
    }
}
