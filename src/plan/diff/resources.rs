//! What the containers need around them, and what would stop them: the
//! project network, named volumes, volumes of repository files (filled
//! when missing, or when their last fill did not finish) and external
//! networks, then the conflicts
//! the plan has the data for (a name or host port another container holds,
//! a port another process holds, more cpus than the engine has, a local
//! image for another platform). Pure: a conflict found here is a plan
//! error, never an engine error halfway through an apply.

use super::fields::familiar_image;
use crate::desired::{files_helper, project_network, Desired, DesiredContainer};
use crate::observe::{HostPort, Observed};
use crate::plan::{Action, ActionDetail, ActionKind, Note, PlanError};
use std::collections::BTreeSet;

/// Networks and volumes to create before the containers.
pub(super) fn before(desired: &Desired, observed: &Observed, errors: &mut Vec<PlanError>) -> Vec<Action> {
    let mut out = Vec::new();
    let network = project_network(&desired.project);
    if desired.apps.iter().any(|a| !a.suspended) && !observed.networks.contains_key(&network) {
        out.push(Action {
            kind: ActionKind::Network,
            app: String::new(),
            target: network.clone(),
            reason: "project network missing: apps reach each other by name on it".into(),
            changes: Vec::new(),
            detail: ActionDetail::CreateNetwork { name: network },
        });
    }
    for (name, apps) in desired.volumes() {
        if !observed.volumes.contains(&name) {
            out.push(Action {
                kind: ActionKind::Volume,
                app: apps[0].clone(),
                target: name.clone(),
                reason: format!("named volume of app {} missing", apps.join(", ")),
                changes: Vec::new(),
                detail: ActionDetail::CreateVolume { name, files: None },
            });
        }
    }
    for (name, (files, apps)) in desired.repo_files() {
        // While the helper of a fill exists, that fill did not finish.
        let unfinished = observed.others.iter().any(|o| o.name == files_helper(&name));
        if observed.volumes.contains(&name) && !unfinished {
            continue;
        }
        let mut reason = format!(
            "repository files {} for app {}: {}",
            folder(&files.path),
            apps.join(", "),
            amount(files.count, files.bytes)
        );
        if unfinished {
            reason.push_str("; an earlier fill did not finish");
        }
        out.push(Action {
            kind: ActionKind::Volume,
            app: apps[0].clone(),
            target: name.clone(),
            reason,
            changes: Vec::new(),
            detail: ActionDetail::CreateVolume { name, files: Some(files) },
        });
    }
    for (name, apps) in desired.external_networks() {
        if !observed.networks.contains_key(&name) {
            errors.extend(apps.into_iter().map(|app| PlanError {
                app: Some(app),
                message: format!(
                    "network {name} (in `networks:`) does not exist on the engine: create it (`docker network create {name}`) or remove it from `networks:`"
                ),
            }));
        }
    }
    out
}

/// The project network goes when the project's last container does, if
/// berth made it and no container outside the project uses it.
pub(super) fn after(
    desired: &Desired,
    observed: &Observed,
    changes: &[Action],
    notes: &mut Vec<Note>,
) -> Option<Action> {
    let network = project_network(&desired.project);
    let ours = observed.networks.get(&network)?.project.as_deref() == Some(desired.project.as_str());
    let removed: BTreeSet<&str> = changes
        .iter()
        .filter_map(|a| match &a.detail {
            ActionDetail::Remove { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let last_goes = observed.containers.iter().all(|c| removed.contains(c.id.as_str()));
    if !ours || !desired.apps.is_empty() || !last_goes {
        return None;
    }
    let users: Vec<&str> =
        observed.others.iter().filter(|o| o.networks.contains(&network)).map(|o| o.name.as_str()).collect();
    if !users.is_empty() {
        notes.push(Note {
            app: None,
            message: format!(
                "network {network} is kept: container(s) outside the project use it ({})",
                users.join(", ")
            ),
        });
        return None;
    }
    Some(Action {
        kind: ActionKind::Network,
        app: String::new(),
        target: network.clone(),
        reason: "the project's last app was pruned".into(),
        changes: Vec::new(),
        detail: ActionDetail::RemoveNetwork { name: network },
    })
}

/// Conflicts of the containers this plan creates, replaces or renames.
pub(super) fn conflicts(desired: &Desired, observed: &Observed, changes: &[Action]) -> Vec<PlanError> {
    let mut errors = Vec::new();
    let mut err = |app: &str, message: String| errors.push(PlanError { app: Some(app.to_string()), message });
    let outside = |name: &str| observed.others.iter().find(|o| o.name == name);
    let whose = |o: &crate::observe::OtherContainer| match &o.project {
        Some(p) => format!("of berth project {p}"),
        None => "not berth's".to_string(),
    };
    for a in changes {
        let (new, name): (Option<&DesiredContainer>, Option<&str>) = match &a.detail {
            ActionDetail::Create { container } => (Some(container), Some(&container.name)),
            ActionDetail::Replace { container, .. } => (Some(container), None),
            ActionDetail::Update { rename_to: Some(to), .. } => (None, Some(to)),
            _ => continue,
        };
        if let Some(o) = name.and_then(outside) {
            err(
                &a.app,
                format!(
                    "container name {} is taken by container {} ({}): remove or rename that container",
                    o.name,
                    short(&o.id),
                    whose(o)
                ),
            );
        }
        let Some(c) = new else { continue };
        for p in &c.config.ports {
            let port = HostPort { ip: p.host_ip.clone(), port: p.host_port, protocol: p.protocol.clone() };
            if let Some(o) = observed.others.iter().find(|o| o.ports.iter().any(|q| q.clashes(&port))) {
                err(
                    &a.app,
                    format!(
                        "host port {port} of {} is already published by container {} ({}): free it or change `ports:`",
                        c.name,
                        o.name,
                        whose(o)
                    ),
                );
            } else if observed.busy_ports.iter().any(|q| q.clashes(&port)) {
                err(
                    &a.app,
                    format!(
                        "host port {port} of {} is in use by another process on this host: free it or change `ports:`",
                        c.name
                    ),
                );
            }
        }
        if let (Some(n), Some(cpus)) = (c.config.nano_cpus, observed.engine_cpus) {
            if cpus > 0 && n > i64::from(cpus) * 1_000_000_000 {
                err(
                    &a.app,
                    format!("resources.cpus {} is more than the engine's {cpus} CPU(s): lower it", n as f64 / 1e9),
                );
            }
        }
    }
    // A local image for another platform would run as it is: refuse.
    for app in desired.apps.iter().filter(|a| !a.suspended) {
        let Some(wanted) = app.containers.first().and_then(|c| c.config.platform.as_deref()) else { continue };
        let Some(have) = observed.local_platforms.get(&app.image) else { continue };
        let deploys =
            changes.iter().any(|a| a.app == app.name && matches!(a.kind, ActionKind::Create | ActionKind::Replace));
        if deploys && !crate::spec::values::platform_matches(have, wanted) {
            errors.push(PlanError {
                app: Some(app.name.clone()),
                message: format!(
                    "the local image {} is for {have}, not the app's platform {wanted}: remove it (`docker rmi {}`) so it is pulled for {wanted}, or change `platform:`",
                    familiar_image(&app.image),
                    familiar_image(&app.image)
                ),
            });
        }
    }
    errors
}

/// A repository folder as people write it: `./site`, `./` for the root.
pub(super) fn folder(path: &str) -> String {
    if path == "." {
        "./".into()
    } else {
        format!("./{path}")
    }
}

/// `3 files, 12.5 KiB`.
fn amount(files: usize, bytes: u64) -> String {
    let files = if files == 1 { "1 file".to_string() } else { format!("{files} files") };
    let size = match bytes {
        0..1024 => format!("{bytes} bytes"),
        _ => {
            let (mut n, mut unit) = (bytes as f64 / 1024.0, "KiB");
            for next in ["MiB", "GiB", "TiB"] {
                if n < 1024.0 {
                    break;
                }
                (n, unit) = (n / 1024.0, next);
            }
            format!("{n:.1} {unit}")
        }
    };
    format!("{files}, {size}")
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
