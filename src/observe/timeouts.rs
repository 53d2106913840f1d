//! How long berth waits for the engine and for registries.
//!
//! One setting for the whole process: the command line sets it once
//! (`--engine-timeout`, `--registry-timeout`, `--build-idle-timeout` or
//! their `BERTH_*` variables) before any call, and every engine and
//! registry call reads it, so no signature has to carry it. A library user
//! who sets nothing gets the defaults.
//!
//! Calls with one answer wait at most `engine` (or `registry`) for it, the
//! connection included. Calls that stream progress (pulls, pushes, builds)
//! have no total limit: they wait at most that long *between* two progress
//! messages, so a big pull that keeps moving is never cut. A build may be
//! silent longer (`build_idle`): a `RUN` step prints nothing while it works.

use std::sync::OnceLock;
use std::time::Duration;

/// The waits, see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// An engine call's answer (connecting included); the longest pause
    /// between progress messages of a pull or push, or while the engine
    /// reads a build context.
    pub engine: Duration,
    /// A registry request: connecting, and the longest pause while reading
    /// its answer.
    pub registry: Duration,
    /// The longest a build may go without printing anything.
    pub build_idle: Duration,
}

/// `--engine-timeout`'s default: a wedged engine is reported well within a minute.
pub const DEFAULT_ENGINE: Duration = Duration::from_secs(30);
/// `--registry-timeout`'s default.
pub const DEFAULT_REGISTRY: Duration = Duration::from_secs(30);
/// `--build-idle-timeout`'s default.
pub const DEFAULT_BUILD_IDLE: Duration = Duration::from_secs(600);

impl Default for Timeouts {
    fn default() -> Self {
        Self { engine: DEFAULT_ENGINE, registry: DEFAULT_REGISTRY, build_idle: DEFAULT_BUILD_IDLE }
    }
}

/// The longest timeout taken: long enough for anything, short enough to
/// add to an instant.
const LONGEST: Duration = Duration::from_secs(7 * 24 * 3600);

static CURRENT: OnceLock<Timeouts> = OnceLock::new();

/// Sets the process's timeouts; the first call wins (the command line's).
pub fn set(t: Timeouts) {
    if CURRENT.set(t).is_err() {
        tracing::debug!("timeouts were already set; keeping the first");
    }
}

/// The process's timeouts (the defaults until `set`).
pub fn current() -> Timeouts {
    CURRENT.get().copied().unwrap_or_default()
}

/// Parses a timeout as the command line takes it (`30s`, `2m`, `1m30s`):
/// whole seconds, at least one (the engine client counts in seconds).
pub fn parse(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| format!("{e} (write e.g. 30s, 2m, 1m30s)"))?;
    if d < Duration::from_secs(1) {
        return Err("a timeout is at least 1s".to_string());
    }
    if d.subsec_nanos() != 0 {
        return Err("a timeout is whole seconds (e.g. 30s, 2m)".to_string());
    }
    if d > LONGEST {
        return Err(format!("a timeout is at most {}", show(LONGEST)));
    }
    Ok(d)
}

/// A duration as people write it (`30s`, `10m`).
pub fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_as_people_write_them() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse(" 1m30s "), Ok(Duration::from_secs(90)));
        assert!(parse("500ms").unwrap_err().contains("at least 1s"));
        assert!(parse("1500ms").unwrap_err().contains("whole seconds"));
        assert!(parse("soon").unwrap_err().contains("e.g. 30s"));
        assert!(parse("30").is_err(), "a unit is required");
        assert_eq!(parse("7days"), Ok(LONGEST));
        assert!(parse("500years").unwrap_err().contains("at most 7days"));
        assert_eq!(show(Duration::from_secs(600)), "10m");
    }
}
