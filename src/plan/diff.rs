//! The planner: `diff(&Desired, &Observed) -> Plan`, with no I/O.
//!
//! Level-triggered: it never asks why it runs, it compares the whole desired
//! state with the whole observed state. A container is replaced when its
//! `berth.spec-hash` differs from the desired one (which covers the declared
//! config and the image id the tag resolves to) or when it is not running.
//! Field-level changes come from the `berth.config` label, so only declared
//! values are ever compared.

use super::{
    Action, ActionDetail, ActionKind, FieldChange, Note, Plan, PlannedRelease, ReplaceStrategy, Summary, Unknown,
    FORMAT_VERSION,
};
use crate::desired::{ContainerConfig, Desired, DesiredApp, DesiredContainer};
use crate::observe::{ContainerState, Observed, ObservedContainer, RemoteDigest};
use crate::spec::PullPolicy;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) mod builds;
mod fields;

pub use fields::{config_changes, config_values, familiar_image};

/// Inputs to the planner besides the two states.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Absolute repository path, recorded in the plan.
    pub repo: String,
    /// Prune even when the repository yields no apps.
    pub allow_empty: bool,
}

/// Compute the plan that takes `observed` to `desired`.
pub fn diff(desired: &Desired, observed: &Observed, opts: &DiffOptions) -> Plan {
    let (desired, mut notes) = super::pin::apply_pins(desired, &observed.history);
    let desired = &desired;
    let (mut builds, mut pushes, mut pulls, mut changes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut unknowns = Vec::new();
    let mut releases = Vec::new();

    let mut by_app: BTreeMap<&str, Vec<&ObservedContainer>> = BTreeMap::new();
    for c in &observed.containers {
        by_app.entry(c.app.as_str()).or_default().push(c);
    }

    let mut pulled = BTreeSet::new();
    for app in &desired.apps {
        let existing = by_app.remove(app.name.as_str()).unwrap_or_default();
        if app.suspended {
            notes.push(Note {
                app: Some(app.name.clone()),
                message: format!("app {} is suspended: berth neither changes nor prunes it", app.name),
            });
            continue;
        }
        let unknown = |message: String| Unknown { app: app.name.clone(), message };
        // One pull per image and platform, however many apps use it.
        let mut pull = |a: Action| {
            if let ActionDetail::Pull { image, platform, .. } = &a.detail {
                if pulled.insert((image.clone(), platform.clone())) {
                    pulls.push(a);
                }
            }
        };
        let (runtime, image_id, moved, release) = match &app.build {
            Some(b) => match builds::plan(app, b, observed) {
                Ok(bp) => {
                    notes.extend(bp.notes);
                    builds.extend(bp.build);
                    pushes.extend(bp.push);
                    bp.pull.into_iter().for_each(&mut pull);
                    (bp.runtime, bp.image_id, None, bp.release)
                }
                Err(why) => {
                    unknowns.push(unknown(why));
                    continue;
                }
            },
            None => {
                let image_id = observed.images.get(&app.image).cloned();
                // A tag checked against its registry: moved when the digest it has
                // there is not the image the tag names locally.
                let moved = match observed.remote.get(&app.image) {
                    Some(RemoteDigest::Unknown(why)) => {
                        unknowns.push(unknown(why.clone()));
                        continue;
                    }
                    Some(RemoteDigest::Digest(d)) if image_id.is_some() => {
                        let at_digest = digest_ref(&app.image, d).and_then(|r| observed.images.get(&r));
                        (at_digest != image_id.as_ref()).then(|| {
                            format!(
                                "image tag {} now resolves to {} in the registry",
                                familiar_image(&app.image),
                                short_id(d)
                            )
                        })
                    }
                    _ => None,
                };
                let reason = match (&moved, &image_id, app.pull_policy) {
                    (Some(m), _, _) => Some(m.clone()),
                    (None, None, PullPolicy::Never) => {
                        unknowns.push(unknown(format!(
                            "image {} is not present locally and pull.policy is never",
                            familiar_image(&app.image)
                        )));
                        continue;
                    }
                    (None, None, _) => Some("image not present locally".to_string()),
                    (None, Some(_), _) => None,
                };
                if let Some(reason) = reason {
                    if let Err(why) = platform_offered(app, observed) {
                        unknowns.push(unknown(why));
                        continue;
                    }
                    pull(pull_action(app, &reason));
                }
                (app.image.clone(), image_id, moved, None)
            }
        };
        let before = changes.len();
        if runtime == app.image {
            plan_app(app, image_id.as_deref(), moved.as_deref(), &existing, &mut changes);
        } else {
            let mut app = app.clone();
            app.containers.iter_mut().for_each(|c| c.config.image = runtime.clone());
            plan_app(&app, image_id.as_deref(), moved.as_deref(), &existing, &mut changes);
        }
        // A deploy of an image this app has not run before is a release
        // (`push-on-release` releases are recorded by their push).
        let history = observed.history.get(&app.name);
        let deploys = changes[before..].iter().any(|a| a.kind != ActionKind::Remove);
        if deploys && release.is_none() && history.is_none_or(|h| h.release_of_image(&runtime).is_none()) {
            releases.push(PlannedRelease {
                app: app.name.clone(),
                number: history.map_or(1, |h| h.next_number()),
                image: runtime.clone(),
                artifact: app.build.as_ref().map(|_| app.image.clone()),
            });
        }
    }

    // Whatever is left belongs to apps no longer in the repository.
    let leftovers: Vec<&ObservedContainer> = by_app.into_values().flatten().collect();
    if !leftovers.is_empty() && desired.empty && !opts.allow_empty {
        notes.push(Note {
            app: None,
            message: format!(
                "the repository yields no apps: {} container(s) not pruned (pass --allow-empty to remove them)",
                leftovers.len()
            ),
        });
    } else {
        for c in leftovers {
            changes.push(remove(c, "app not in repository".into()));
        }
    }

    let images: Vec<String> =
        desired.apps.iter().map(|a| a.image.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut actions = builds;
    actions.append(&mut pushes);
    actions.append(&mut pulls);
    actions.append(&mut changes);
    Plan {
        format_version: FORMAT_VERSION,
        project: desired.project.clone(),
        repo: opts.repo.clone(),
        observed_fingerprint: fingerprint(observed, &images),
        images,
        summary: Summary::of(&actions),
        actions,
        notes,
        unknowns,
        errors: Vec::new(),
        releases,
    }
}

fn pull_action(app: &DesiredApp, reason: &str) -> Action {
    let platform = app.containers.first().and_then(|c| c.config.platform.clone());
    Action {
        kind: ActionKind::Pull,
        app: app.name.clone(),
        target: familiar_image(&app.image),
        reason: reason.to_string(),
        changes: Vec::new(),
        detail: ActionDetail::Pull {
            image: app.image.clone(),
            platform,
            credential: app.pull_credential.name.clone(),
            build_of: None,
        },
    }
}

/// Before a pull: the platform wanted (the app's, else the engine's) must be
/// among those the registry offers, so "exec format error" never reaches a
/// container. Unknown when the registry could not say.
fn platform_offered(app: &DesiredApp, observed: &Observed) -> Result<(), String> {
    let Some(offered) = observed.platforms.get(&app.image).filter(|o| !o.is_empty()) else { return Ok(()) };
    let explicit = app.containers.first().and_then(|c| c.config.platform.as_deref());
    let Some(wanted) = explicit.or(observed.engine_platform.as_deref()) else { return Ok(()) };
    if offered.iter().any(|have| crate::spec::values::platform_matches(have, wanted)) {
        return Ok(());
    }
    let whose = if explicit.is_some() { "the app's platform" } else { "the engine's platform" };
    Err(format!(
        "image {} has no manifest for {wanted} ({whose}); it offers {}: set `platform:` to one of those or use another image",
        familiar_image(&app.image),
        offered.join(", ")
    ))
}

/// Container actions of one app: create what is missing, replace what
/// differs, remove replicas and processes no longer declared.
fn plan_app(
    app: &DesiredApp,
    image_id: Option<&str>,
    moved: Option<&str>,
    existing: &[&ObservedContainer],
    out: &mut Vec<Action>,
) {
    let mut by_name: BTreeMap<&str, &ObservedContainer> = existing.iter().map(|c| (c.name.as_str(), *c)).collect();
    for want in &app.containers {
        match by_name.remove(want.name.as_str()) {
            None => out.push(Action {
                kind: ActionKind::Create,
                app: app.name.clone(),
                target: want.name.clone(),
                reason: "container missing".into(),
                changes: config_values(&want.config),
                detail: ActionDetail::Create { container: want.clone() },
            }),
            Some(have) => {
                if let Some(a) = replace_if_needed(want, have, image_id, moved) {
                    out.push(a);
                }
            }
        }
    }
    for (_, c) in by_name {
        let reason = if app.containers.iter().any(|w| w.process == c.process) {
            format!("replica {} of process {} no longer declared", c.replica, c.process)
        } else {
            format!("process {} not in repository", c.process)
        };
        out.push(remove(c, reason));
    }
}

fn replace_if_needed(
    want: &DesiredContainer,
    have: &ObservedContainer,
    image_id: Option<&str>,
    moved: Option<&str>,
) -> Option<Action> {
    let mut reasons: Vec<String> = moved.map(String::from).into_iter().collect();
    let mut changes = match &have.config {
        Some(old) => config_changes(old, &want.config),
        None => Vec::new(),
    };
    if let Some(id) = image_id {
        if have.image_id != id && have.config.as_ref().is_none_or(|old| old.image == want.config.image) {
            reasons.push(format!("image tag {} now resolves to {}", familiar_image(&want.config.image), short_id(id)));
            changes.push(FieldChange {
                path: "image-id".into(),
                old: Some(short_id(&have.image_id)),
                new: Some(short_id(id)),
                sensitive: false,
            });
        }
    }
    if !changes.is_empty() {
        let paths: Vec<&str> = changes.iter().filter(|c| c.path != "image-id").map(|c| c.path.as_str()).collect();
        if !paths.is_empty() {
            reasons.insert(0, format!("{} changed", paths.join(", ")));
        }
    }
    // Without a pending pull the desired hash is known: it catches whatever the
    // label could not show (e.g. a container without a readable config).
    let hash_differs = match image_id {
        Some(id) => have.spec_hash.as_deref() != Some(want.config.spec_hash(id).as_str()),
        None => false,
    };
    if hash_differs && reasons.is_empty() {
        reasons.push("spec-hash differs from the desired configuration".into());
    }
    if have.state != ContainerState::Running {
        reasons.push(format!("container is {} (expected running)", have.state.as_str()));
    }
    if reasons.is_empty() {
        return None;
    }
    let strategy = if shares_host_port(have.config.as_ref(), &want.config)
        || have.config.is_none() && !want.config.ports.is_empty()
    {
        ReplaceStrategy::StopFirst
    } else {
        ReplaceStrategy::StartFirst
    };
    Some(Action {
        kind: ActionKind::Replace,
        app: want.app.clone(),
        target: want.name.clone(),
        reason: reasons.join("; "),
        changes,
        detail: ActionDetail::Replace { old_id: have.id.clone(), container: want.clone(), strategy },
    })
}

fn shares_host_port(old: Option<&ContainerConfig>, new: &ContainerConfig) -> bool {
    let Some(old) = old else { return false };
    old.ports.iter().any(|o| new.ports.iter().any(|n| n.host_port == o.host_port && n.protocol == o.protocol))
}

fn remove(c: &ObservedContainer, reason: String) -> Action {
    Action {
        kind: ActionKind::Remove,
        app: c.app.clone(),
        target: c.name.clone(),
        reason,
        changes: Vec::new(),
        detail: ActionDetail::Remove { id: c.id.clone() },
    }
}

/// `registry/repo@digest` for a tagged reference, as the engine lists pulled digests.
fn digest_ref(image: &str, digest: &str) -> Option<String> {
    let r = crate::spec::reference::ImageRef::parse(image).ok()?;
    Some(format!("{}/{}@{}", r.registry(), r.repository(), digest))
}

/// `sha256:0123456789ab` — enough to recognise an image id.
pub fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

/// A hash of the observed state the plan depends on: the project's
/// containers (id, state, spec-hash) and the local ids of `images`.
pub fn fingerprint(observed: &Observed, images: &[String]) -> String {
    let mut h = Sha256::new();
    let mut cs: Vec<_> = observed.containers.iter().collect();
    cs.sort_by(|a, b| a.id.cmp(&b.id));
    for c in cs {
        h.update(format!("c {} {} {} {:?}\n", c.id, c.name, c.state.as_str(), c.spec_hash));
    }
    for i in images {
        h.update(format!("i {} {:?}\n", i, observed.images.get(i)));
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests;
