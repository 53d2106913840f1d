//! One app's containers: create what is missing, replace what the
//! repository changed (or what cannot be fixed in place), update in place
//! what was changed by hand and can be set again, remove what is no longer
//! declared. Pure.
//!
//! Containers are matched to the spec by their labels (app, process,
//! replica), not by name, so a container renamed by hand is recognised and
//! given its name back. Each replace says its order: start-first only when
//! the process mounts no named volume and publishes no host port (two
//! writers must never share a volume; a host port cannot be held twice).

use super::fields::{config_changes, familiar_image};
use super::live::drift;
use super::short_id;
use crate::desired::{ContainerConfig, DesiredApp, DesiredContainer, EnvValue, MountKind};
use crate::observe::{ContainerState, ObservedContainer};
use crate::plan::{Action, ActionDetail, ActionKind, FieldChange, Note, ReplaceStrategy};
use crate::spec::{Restart, UpdateOrder};
use std::collections::BTreeMap;

/// What one app's containers need.
pub(super) fn plan_app(
    project: &str,
    app: &DesiredApp,
    image_id: Option<&str>,
    moved: Option<&str>,
    existing: &[&ObservedContainer],
    out: &mut Vec<Action>,
    notes: &mut Vec<Note>,
) {
    let mut slots: BTreeMap<(&str, u32), Vec<&ObservedContainer>> = BTreeMap::new();
    for c in existing {
        slots.entry((c.process.as_str(), c.replica)).or_default().push(c);
    }
    for want in &app.containers {
        let mut found = slots.remove(&(want.process.as_str(), want.replica)).unwrap_or_default();
        // The one that keeps the slot: the one with the right name, else a running one.
        found.sort_by_key(|c| (c.name != want.name, c.state != ContainerState::Running, c.name.clone()));
        let mut found = found.into_iter();
        match found.next() {
            None => out.push(Action {
                kind: ActionKind::Create,
                app: app.name.clone(),
                target: want.name.clone(),
                reason: "container missing".into(),
                changes: super::config_values(&want.config),
                detail: ActionDetail::Create { container: want.clone() },
            }),
            Some(have) => out.extend(compare(project, want, have, image_id, moved, notes)),
        }
        for extra in found {
            let why = format!(
                "a second container for replica {} of process {} (an interrupted replace may have left it)",
                want.replica, want.process
            );
            out.push(remove(extra, why));
        }
    }
    for ((process, replica), cs) in slots {
        let reason = if app.containers.iter().any(|w| w.process == process) {
            format!("replica {replica} of process {process} no longer declared")
        } else {
            format!("process {process} not in repository")
        };
        out.extend(cs.into_iter().map(|c| remove(c, reason.clone())));
    }
}

/// Replace, update in place, or leave alone one existing container.
fn compare(
    project: &str,
    want: &DesiredContainer,
    have: &ObservedContainer,
    image_id: Option<&str>,
    moved: Option<&str>,
    notes: &mut Vec<Note>,
) -> Option<Action> {
    // Secret fingerprints made with another key (another machine's, before
    // the repository had one) say nothing against ours: the live values,
    // fingerprinted with our key by the pipeline, stand in for them.
    let other_key = want.fingerprint_key.is_some() && have.fingerprint_key != want.fingerprint_key;
    let label = have.config.clone().map(|mut c| {
        if other_key {
            let unknown = rekey(&mut c, have.live.as_ref());
            if !unknown.is_empty() {
                notes.push(Note {
                    app: Some(want.app.clone()),
                    message: format!(
                        "{}: {} fingerprinted with another key: berth cannot tell whether {} changed",
                        want.name,
                        unknown.join(", "),
                        if unknown.len() == 1 { "it" } else { "they" }
                    ),
                });
                // Unknown is not "changed": keep them out of the comparison.
                for k in &unknown {
                    if let Some(v) = want.config.env.get(k) {
                        c.env.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        c
    });
    // What the repository changed: the declared config in the label.
    let mut reasons: Vec<String> = moved.map(String::from).into_iter().collect();
    let mut changes = match &label {
        Some(old) => config_changes(old, &want.config),
        None => Vec::new(),
    };
    if !changes.is_empty() {
        // New content in a mounted repository folder says which folder.
        let files = have.config.as_ref().and_then(|old| super::fields::files_changed(old, &want.config));
        let paths: Vec<&str> = changes
            .iter()
            .map(|c| match (c.path.as_str(), &files) {
                ("volumes", Some(f)) => f.as_str(),
                (path, _) => path,
            })
            .collect();
        reasons.insert(0, format!("{} changed", paths.join(", ")));
    }
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
        // Without a pending pull the desired hash is known: it catches what
        // the label could not show (e.g. a container without a readable config).
        // (A hash made with another fingerprint key cannot match.)
        if reasons.is_empty() && !other_key && have.spec_hash.as_deref() != Some(want.config.spec_hash(id).as_str()) {
            reasons.push("spec-hash differs from the desired configuration".into());
        }
    }
    match have.state {
        ContainerState::Running => {}
        // A one-shot process that finished well is done, not drift.
        ContainerState::Exited
            if want.config.restart == Restart::No && have.live.as_ref().and_then(|l| l.exit_code) == Some(0) => {}
        state => {
            let code = have.live.as_ref().and_then(|l| l.exit_code).filter(|_| state == ContainerState::Exited);
            match code {
                Some(code) => reasons.push(format!("container is exited with code {code} (expected running)")),
                None => reasons.push(format!("container is {} (expected running)", state.as_str())),
            }
        }
    }
    // What was changed by hand: the live values against what berth made
    // (the label), which is the desired config when the repository did not
    // change it.
    let made = label.as_ref().unwrap_or(&want.config);
    let drifted = have.live.as_ref().map(|l| drift(made, &l.config)).unwrap_or_default();
    let renamed = have.name != want.name;
    if !reasons.is_empty() || drifted.replace {
        // A field the repository changed is set anew anyway: its hand change is no news.
        let news: Vec<FieldChange> =
            drifted.changes.into_iter().filter(|c| !changes.iter().any(|have| have.path == c.path)).collect();
        let hand = super::live::Drift { changes: news, ..Default::default() };
        reasons.extend(hand.reasons());
        changes.extend(hand.changes);
        if renamed {
            reasons.push(format!("renamed by hand to {}", have.name));
        }
        let (strategy, order_reason) = order(project, want);
        return Some(Action {
            kind: ActionKind::Replace,
            app: want.app.clone(),
            target: want.name.clone(),
            reason: reasons.join("; "),
            changes,
            detail: ActionDetail::Replace {
                old_id: have.id.clone(),
                old_name: have.name.clone(),
                container: want.clone(),
                strategy,
                order_reason,
            },
        });
    }
    if drifted.is_empty() && !renamed {
        return None;
    }
    let mut reasons = drifted.reasons();
    let mut changes = drifted.changes;
    if renamed {
        reasons.insert(0, format!("renamed by hand to {}", have.name));
        changes.insert(
            0,
            FieldChange {
                path: "name".into(),
                old: Some(have.name.clone()),
                new: Some(want.name.clone()),
                sensitive: false,
            },
        );
    }
    Some(Action {
        kind: ActionKind::Update,
        app: want.app.clone(),
        target: want.name.clone(),
        reason: reasons.join("; "),
        changes,
        detail: ActionDetail::Update {
            id: have.id.clone(),
            rename_to: renamed.then(|| want.name.clone()),
            resources: drifted.update,
            connect: drifted.connect,
        },
    })
}

/// Put the live fingerprints (our key) in place of the label's secret ones;
/// the keys without a live value are returned.
fn rekey(cfg: &mut ContainerConfig, live: Option<&crate::observe::Live>) -> Vec<String> {
    let mut unknown = Vec::new();
    for (k, v) in cfg.env.iter_mut().filter(|(_, v)| matches!(v, EnvValue::Secret { .. })) {
        match live.and_then(|l| l.config.env.get(k)) {
            Some(seen @ EnvValue::Secret { .. }) => *v = seen.clone(),
            _ => unknown.push(k.clone()),
        }
    }
    unknown
}

/// The order of a replace, and why: `update-order` when declared; else
/// stop-first when the process mounts a named volume (never two writers on
/// it) or publishes a host port (it cannot be held twice), else start-first.
pub(super) fn order(project: &str, want: &DesiredContainer) -> (ReplaceStrategy, String) {
    match want.update_order {
        Some(UpdateOrder::StartFirst) => return (ReplaceStrategy::StartFirst, "update-order".into()),
        Some(UpdateOrder::StopFirst) => return (ReplaceStrategy::StopFirst, "update-order".into()),
        None => {}
    }
    let cfg = &want.config;
    if let Some(v) = cfg.mounts.iter().find(|m| m.kind == MountKind::Volume) {
        let prefix = format!("{project}_");
        let name = v.source.strip_prefix(&prefix).unwrap_or(&v.source);
        return (ReplaceStrategy::StopFirst, format!("named volume {name}"));
    }
    if let Some(p) = cfg.ports.first() {
        return (ReplaceStrategy::StopFirst, format!("host port {}/{}", p.host_port, p.protocol));
    }
    (ReplaceStrategy::StartFirst, "no named volume or host port".into())
}

/// Stop and remove a container, with the grace period it was declared with.
pub(super) fn remove(c: &ObservedContainer, reason: String) -> Action {
    Action {
        kind: ActionKind::Remove,
        app: c.app.clone(),
        target: c.name.clone(),
        reason,
        changes: Vec::new(),
        detail: ActionDetail::Remove {
            id: c.id.clone(),
            stop_grace_secs: c.config.as_ref().and_then(|cfg| cfg.stop_grace_secs),
        },
    }
}
