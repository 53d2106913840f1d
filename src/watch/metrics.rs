//! `/metrics`: Prometheus text format, through prometheus-client. Reconcile
//! passes and their durations by result, apps drifted now, the last
//! success, and errors by the part that failed.

use super::status::PassResult;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartLabel {
    part: &'static str,
}

/// Which outside part an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Engine,
    Registry,
    Git,
}

impl Part {
    fn as_str(self) -> &'static str {
        match self {
            Part::Engine => "engine",
            Part::Registry => "registry",
            Part::Git => "git",
        }
    }
}

type HistogramFamily = Family<ResultLabel, Histogram, fn() -> Histogram>;

/// The daemon's metrics; cheap to update from the loop.
pub struct Metrics {
    registry: Registry,
    passes: Family<ResultLabel, Counter>,
    durations: HistogramFamily,
    drifted: Gauge,
    last_success: Gauge,
    errors: Family<PartLabel, Counter>,
}

fn duration_histogram() -> Histogram {
    // 50 ms … ~7 min
    Histogram::new(exponential_buckets(0.05, 2.0, 14))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("berth");
        let passes = Family::<ResultLabel, Counter>::default();
        registry.register("reconcile_passes", "Reconcile passes, by result", passes.clone());
        let durations: HistogramFamily = Family::new_with_constructor(duration_histogram);
        registry.register("reconcile_duration_seconds", "How long reconcile passes took, by result", durations.clone());
        let drifted = Gauge::default();
        registry.register("drifted_apps", "Apps whose containers differ from the repository now", drifted.clone());
        let last_success = Gauge::default();
        registry.register(
            "last_success_timestamp_seconds",
            "When a pass last ended in sync or applied (Unix time)",
            last_success.clone(),
        );
        let errors = Family::<PartLabel, Counter>::default();
        registry.register("errors", "Failed passes, by the part that failed (engine, registry, git)", errors.clone());
        Metrics { registry, passes, durations, drifted, last_success, errors }
    }

    /// A pass ended.
    pub fn pass(&self, result: PassResult, seconds: f64) {
        let label = ResultLabel { result: result.as_str() };
        self.passes.get_or_create(&label).inc();
        self.durations.get_or_create(&label).observe(seconds);
        if matches!(result, PassResult::InSync | PassResult::Applied) {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            self.last_success.set(now as i64);
        }
    }

    /// How many apps are drifted now.
    pub fn drifted(&self, apps: usize) {
        self.drifted.set(apps as i64);
    }

    /// A pass failed because of `part`.
    pub fn error(&self, part: Part) {
        self.errors.get_or_create(&PartLabel { part: part.as_str() }).inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_errors_and_gauges_are_exposed() {
        let m = Metrics::new();
        m.pass(PassResult::Applied, 0.3);
        m.pass(PassResult::Applied, 0.2);
        m.pass(PassResult::Transient, 1.0);
        m.error(Part::Engine);
        m.drifted(3);
        let text = m.encode();
        assert!(text.contains("berth_reconcile_passes_total{result=\"applied\"} 2"), "{text}");
        assert!(text.contains("berth_reconcile_passes_total{result=\"transient\"} 1"), "{text}");
        assert!(text.contains("berth_reconcile_duration_seconds_count{result=\"applied\"} 2"), "{text}");
        assert!(text.contains("berth_errors_total{part=\"engine\"} 1"), "{text}");
        assert!(text.contains("berth_drifted_apps 3"), "{text}");
        assert!(!text.contains("berth_last_success_timestamp_seconds 0"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
