//! What a plan needs to know beyond the engine's two listings, decided from
//! the desired and observed state alone (no I/O): which tags to resolve in
//! their registries, which build images to look for there, which image
//! repositories' tags to list for release numbers, and which images'
//! platforms to check before pulling. The pipeline asks, fills `Observed`,
//! then diffs. An unchanged repository asks nothing.

use super::diff::builds;
use super::pin::apply_pins;
use crate::desired::Desired;
use crate::observe::Observed;
use crate::spec::PullPolicy;
use std::collections::BTreeMap;

/// Registry and engine questions, each with the credential name to ask with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queries {
    /// Image tags to resolve to digests (`pull.policy: always`, `--refresh-remote`).
    pub digests: BTreeMap<String, Option<String>>,
    /// Build images missing locally: in their registry (re-pull) or not (build)?
    pub artifacts: BTreeMap<String, Option<String>>,
    /// Image repositories whose tags give the next release number.
    pub tags: BTreeMap<String, Option<String>>,
    /// Images about to be pulled whose platforms to check.
    pub platforms: BTreeMap<String, Option<String>>,
    /// Whether the engine's own platform is needed.
    pub engine_platform: bool,
}

impl Queries {
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty() && self.artifacts.is_empty() && self.tags.is_empty() && self.platforms.is_empty()
    }
}

/// The questions for planning `desired` against `observed`.
pub fn queries(
    desired: &Desired,
    observed: &Observed,
    refresh_remote: bool,
    rollback: Option<&(String, crate::observe::Pin)>,
) -> Queries {
    let (desired, _) = apply_pins(desired, observed, rollback);
    let mut q = Queries::default();
    for app in desired.apps.iter().filter(|a| !a.suspended) {
        let cred = app.pull_credential.name.clone();
        if let Some(b) = &app.build {
            builds::queries(app, b, observed, &mut q);
            continue;
        }
        let by_digest = app.image.contains("@sha256:");
        if !by_digest && (refresh_remote || app.pull_policy == PullPolicy::Always) {
            q.digests.insert(app.image.clone(), cred.clone());
        }
        if !observed.images.contains_key(&app.image) && app.pull_policy != PullPolicy::Never {
            q.platforms.insert(app.image.clone(), cred);
            q.engine_platform |= app.containers.first().is_some_and(|c| c.config.platform.is_none());
        }
    }
    q
}
