//! The planner: `diff(&Desired, &Observed) -> Plan`, with no I/O.
//!
//! Level-triggered: it never asks why it runs, it compares the whole desired
//! state with the whole observed state. A container is replaced when the
//! repository changed it (its `berth.config` label and `berth.spec-hash`,
//! which covers the declared config and the image id, differ from the
//! desired ones), when it is not running, or when a value was changed by
//! hand that the engine cannot set again in place (`live`); what it can set
//! again (memory, cpus, restart policy, a network left, a name) is updated
//! in place (`containers`). Only declared values are ever compared. Around
//! the containers: the project network, named volumes, and the conflicts
//! the plan has the data for (`resources`).

use super::{
    Action, ActionDetail, ActionKind, Note, Plan, PlannedRelease, RegistryAnswer, Summary, Unknown, FORMAT_VERSION,
};
use crate::desired::{Desired, DesiredApp};
use crate::observe::{Observed, ObservedContainer, RemoteDigest};
use crate::spec::PullPolicy;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) mod builds;
mod containers;
mod fields;
pub(crate) mod live;
mod resources;

pub use fields::{config_changes, config_values, familiar_image};

/// Inputs to the planner besides the two states.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// What the plan is made from, recorded in it.
    pub source: super::PlanSource,
    /// Prune even when the repository yields no apps.
    pub allow_empty: bool,
    /// Registry digests were asked for every app (`plan --refresh-remote`),
    /// not only for `pull.policy: always`.
    pub refresh_remote: bool,
    /// Push builds from uncommitted files (`--allow-dirty`).
    pub allow_dirty: bool,
    /// `berth rollback`: the pin to plan one app with, before it is on its containers.
    pub rollback: Option<(String, crate::observe::Pin)>,
}

/// One past the highest release number the engine knows for the app: its
/// release tags and the releases its containers run.
pub(crate) fn next_release(observed: &Observed, project: &str, app: &str) -> u32 {
    let tagged = observed.releases(project, app).into_keys().max();
    tagged.into_iter().chain(observed.running_release(app)).max().unwrap_or(0) + 1
}

/// Compute the plan that takes `observed` to `desired`.
pub fn diff(desired: &Desired, observed: &Observed, opts: &DiffOptions) -> Plan {
    let (desired, mut notes) = super::pin::apply_pins(desired, observed, opts.rollback.as_ref());
    let desired = &desired;
    let (mut builds, mut pushes, mut pulls, mut changes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut unknowns = Vec::new();
    let mut errors = Vec::new();
    let mut releases = Vec::new();
    let mut registry = BTreeMap::new();

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
            Some(b) => match builds::plan(&desired.project, app, b, observed, opts.allow_dirty) {
                Ok(bp) => {
                    notes.extend(bp.notes);
                    errors.extend(bp.errors);
                    builds.extend(bp.build);
                    pushes.extend(bp.push);
                    // A build image pulled back stands where its build would:
                    // before the pushes, which need it.
                    match bp.pull {
                        Some(a) if matches!(&a.detail, ActionDetail::Pull { image, .. } if *image == app.image) => {
                            builds.push(a)
                        }
                        other => other.into_iter().for_each(&mut pull),
                    }
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
                // there is not the image the tag names locally. Only the apps that
                // asked look: another app's `pull.policy: always` on the same
                // image changes nothing here.
                let asked = app.pull_policy == PullPolicy::Always || opts.refresh_remote;
                let answer = observed.remote.get(&app.image).filter(|_| asked);
                // The digest the plan saw is the one it pulls, and a saved plan
                // is stale once the registry says otherwise.
                let digest = match answer {
                    Some(RemoteDigest::Digest(d)) => {
                        let credential = app.pull_credential.name.clone();
                        registry.insert(app.image.clone(), RegistryAnswer { digest: d.clone(), credential });
                        Some(d.clone())
                    }
                    _ => None,
                };
                let moved = match answer {
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
                    pull(pull_action(app, &reason, digest));
                }
                (app.image.clone(), image_id, moved, None)
            }
        };
        let before = changes.len();
        let project = &desired.project;
        // The release the containers run: the pin's, the push's, one the
        // engine has recorded for this very image, else the next number
        // (recorded as a release only if the app deploys).
        let pinned = app.containers.first().and_then(|c| c.pin.as_ref()).map(|p| p.release);
        let recorded = image_id.as_deref().and_then(|id| {
            observed.releases(project, &app.name).into_iter().rev().find(|(_, i)| *i == id).map(|(n, _)| n)
        });
        let next = next_release(observed, project, &app.name);
        let number = pinned.or(release).or(recorded).unwrap_or(next);
        let mut app = app.clone();
        for c in &mut app.containers {
            c.config.image = runtime.clone();
            c.release = Some(number);
        }
        containers::plan_app(project, &app, image_id.as_deref(), moved.as_deref(), &existing, &mut changes, &mut notes);
        let deploys = changes[before..].iter().any(|a| a.kind != ActionKind::Remove);
        let new = pinned.is_none() && (release.is_some() || recorded.is_none());
        if deploys && new {
            let mut kept: Vec<u32> =
                observed.releases(project, &app.name).into_keys().filter(|n| *n != number).collect();
            kept.sort_unstable_by(|a, b| b.cmp(a));
            let busy = [observed.running_release(&app.name), observed.pin(&app.name).map(|p| p.release)];
            let forget = kept
                .into_iter()
                .skip(crate::observe::releases::KEPT - 1)
                .filter(|n| !busy.contains(&Some(*n)))
                .collect();
            releases.push(PlannedRelease { app: app.name.clone(), number, image: runtime.clone(), forget });
        }
    }

    // Whatever is left belongs to apps no longer in the repository.
    let leftovers: Vec<&ObservedContainer> = by_app.into_values().flatten().collect();
    let mut unpruned = 0;
    if !leftovers.is_empty() && desired.empty && !opts.allow_empty {
        unpruned = leftovers.len();
        notes.push(Note {
            app: None,
            message: format!(
                "the repository yields no apps: {unpruned} container(s) not pruned (pass --allow-empty to remove them)"
            ),
        });
    } else {
        for c in leftovers {
            changes.push(containers::remove(c, "app not in repository".into()));
        }
    }

    let mut actions = builds;
    actions.append(&mut pushes);
    actions.append(&mut pulls);
    actions.extend(resources::before(desired, observed, &mut errors));
    errors.extend(resources::conflicts(desired, observed, &changes));
    let last = resources::after(desired, observed, &changes, &mut notes);
    actions.append(&mut changes);
    actions.extend(last);
    let images: Vec<String> =
        desired.apps.iter().map(|a| a.image.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    Plan {
        format_version: FORMAT_VERSION,
        project: desired.project.clone(),
        source: opts.source.clone(),
        observed_fingerprint: fingerprint(observed, &images, &desired.project, &registry),
        registry,
        images,
        summary: Summary::of(&actions),
        actions,
        notes,
        unknowns,
        errors,
        releases,
        unpruned,
    }
}

fn pull_action(app: &DesiredApp, reason: &str, digest: Option<String>) -> Action {
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
            digest,
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
/// containers (id, name, state, spec-hash, what they run), the local ids of
/// `images`, whether the project network and volumes exist, and the
/// registry's answers the plan relied on (`registry`: tag → digest).
/// Computed over a stable JSON form, so the same state always gives the
/// same hash.
pub fn fingerprint(
    observed: &Observed,
    images: &[String],
    project: &str,
    registry: &BTreeMap<String, RegistryAnswer>,
) -> String {
    #[derive(Serialize)]
    struct Seen<'a> {
        containers: Vec<SeenContainer<'a>>,
        images: Vec<(&'a str, Option<&'a str>)>,
        network: bool,
        volumes: &'a BTreeSet<String>,
        registry: BTreeMap<&'a str, &'a str>,
    }
    #[derive(Serialize)]
    struct SeenContainer<'a> {
        id: &'a str,
        name: &'a str,
        state: &'a str,
        spec_hash: Option<&'a str>,
        exit_code: Option<i64>,
        /// The live config but env, which no engine call changes in place
        /// (a new container has a new id).
        live: Option<crate::desired::ContainerConfig>,
    }
    let mut containers: Vec<SeenContainer> = observed
        .containers
        .iter()
        .map(|c| SeenContainer {
            id: &c.id,
            name: &c.name,
            state: c.state.as_str(),
            spec_hash: c.spec_hash.as_deref(),
            exit_code: c.live.as_ref().and_then(|l| l.exit_code),
            live: c.live.as_ref().map(|l| crate::desired::ContainerConfig { env: BTreeMap::new(), ..l.config.clone() }),
        })
        .collect();
    containers.sort_by(|a, b| a.id.cmp(b.id));
    let seen = Seen {
        containers,
        images: images.iter().map(|i| (i.as_str(), observed.images.get(i).map(String::as_str))).collect(),
        network: observed.networks.contains_key(&crate::desired::project_network(project)),
        volumes: &observed.volumes,
        registry: registry.iter().map(|(i, a)| (i.as_str(), a.digest.as_str())).collect(),
    };
    let json = serde_json::to_vec(&seen).expect("plain data serializes");
    hex::encode(&Sha256::digest(&json)[..16])
}

#[cfg(test)]
mod tests;
