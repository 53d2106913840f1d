//! The planner: `diff(&Desired, &Observed) -> Plan`, with no I/O.
//!
//! Level-triggered: it never asks why it runs, it compares the whole desired
//! state with the whole observed state. A container is replaced when its
//! `berth.spec-hash` differs from the desired one (which covers the declared
//! config and the image id the tag resolves to) or when it is not running.
//! Field-level changes come from the `berth.config` label, so only declared
//! values are ever compared.

use super::{
    Action, ActionDetail, ActionKind, FieldChange, Note, Plan, ReplaceStrategy, Summary, Unknown, FORMAT_VERSION,
};
use crate::desired::{ContainerConfig, Desired, DesiredApp, DesiredContainer};
use crate::observe::{ContainerState, Observed, ObservedContainer, RemoteDigest};
use crate::spec::PullPolicy;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

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
    let mut pulls = Vec::new();
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let mut unknowns = Vec::new();

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
        let image_id = observed.images.get(&app.image).map(String::as_str);
        // A tag checked against its registry: moved when the digest it has
        // there is not the image the tag names locally.
        let moved = match observed.remote.get(&app.image) {
            Some(RemoteDigest::Unknown(why)) => {
                unknowns.push(Unknown { app: app.name.clone(), message: why.clone() });
                continue;
            }
            Some(RemoteDigest::Digest(d)) if image_id.is_some() => {
                let at_digest = digest_ref(&app.image, d).and_then(|r| observed.images.get(&r)).map(String::as_str);
                (at_digest != image_id).then(|| {
                    format!("image tag {} now resolves to {} in the registry", familiar_image(&app.image), short_id(d))
                })
            }
            _ => None,
        };
        // One pull per image and platform, however many apps use it.
        let mut pull = |reason: &str| {
            let platform = app.containers.first().and_then(|c| c.config.platform.clone());
            if pulled.insert((app.image.clone(), platform.clone())) {
                pulls.push(Action {
                    kind: ActionKind::Pull,
                    app: app.name.clone(),
                    target: familiar_image(&app.image),
                    reason: reason.to_string(),
                    changes: Vec::new(),
                    detail: ActionDetail::Pull {
                        image: app.image.clone(),
                        platform,
                        credential: app.pull_credential.name.clone(),
                    },
                });
            }
        };
        if let Some(reason) = &moved {
            pull(reason);
        }
        match (image_id, app.pull_policy) {
            (None, PullPolicy::Never) => {
                unknowns.push(Unknown {
                    app: app.name.clone(),
                    message: format!(
                        "image {} is not present locally and pull.policy is never",
                        familiar_image(&app.image)
                    ),
                });
                continue;
            }
            (None, _) => pull("image not present locally"),
            (Some(_), _) => {}
        }
        plan_app(app, image_id, moved.as_deref(), &existing, &mut changes);
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
    let mut actions = pulls;
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
    }
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
    let r: oci_client::Reference = image.parse().ok()?;
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
