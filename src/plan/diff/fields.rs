//! Field-level views of a `ContainerConfig`: the values a create sets and
//! the differences a replace makes, as dotted paths with display strings.
//! Secret env values appear only as "sensitive", never as text.

use crate::desired::{ContainerConfig, EnvValue, Health, Mount, MountKind, NetworkAttachment, PortBinding};
use crate::plan::{FieldChange, SENSITIVE};
use std::collections::BTreeMap;

/// Every declared value of a config, for a create.
pub fn config_values(c: &ContainerConfig) -> Vec<FieldChange> {
    // Defaults berth fills in are left out unless they are news.
    let empty = ContainerConfig {
        restart: c.restart,
        stop_grace_secs: Some(crate::desired::DEFAULT_STOP_GRACE_SECS),
        ..Default::default()
    };
    let mut v = config_changes(&empty, c);
    // A create always says which restart policy it uses, default or not.
    v.push(set("restart", restart(c)));
    v
}

/// What differs between an old and a new config, field by field.
pub fn config_changes(old: &ContainerConfig, new: &ContainerConfig) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut field = |path: &str, o: Option<String>, n: Option<String>| {
        if o != n {
            out.push(FieldChange { path: path.to_string(), old: o, new: n, sensitive: false });
        }
    };
    field("image", nonempty(familiar_image(&old.image)), nonempty(familiar_image(&new.image)));
    field("command", old.command.as_deref().map(argv), new.command.as_deref().map(argv));
    field("user", old.user.clone(), new.user.clone());
    field("ports", list(&old.ports, port), list(&new.ports, port));
    field("volumes", list(&old.mounts, mount), list(&new.mounts, mount));
    field("resources.memory", old.memory.map(bytes), new.memory.map(bytes));
    field("resources.cpus", old.nano_cpus.map(cpus), new.nano_cpus.map(cpus));
    field("restart", Some(restart(old)), Some(restart(new)));
    field("healthcheck", old.healthcheck.as_ref().map(health), new.healthcheck.as_ref().map(health));
    field("platform", old.platform.clone(), new.platform.clone());
    field("stop-signal", old.stop_signal.clone(), new.stop_signal.clone());
    field("stop-grace-period", old.stop_grace_secs.map(seconds), new.stop_grace_secs.map(seconds));
    field("networks", list(&old.networks, network), list(&new.networks, network));
    out.extend(env_changes(&old.env, &new.env));
    out
}

fn env_changes(old: &BTreeMap<String, EnvValue>, new: &BTreeMap<String, EnvValue>) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        let (o, n) = (old.get(k), new.get(k));
        if o == n {
            continue;
        }
        let sensitive = matches!(o, Some(EnvValue::Secret { .. })) || matches!(n, Some(EnvValue::Secret { .. }));
        // A sensitive side says only whether a value is there.
        let shown = |v: Option<&EnvValue>| match v {
            Some(EnvValue::Plain(s)) if !sensitive => Some(s.clone()),
            Some(_) => Some(SENSITIVE.to_string()),
            None => None,
        };
        out.push(FieldChange { path: format!("env.{k}"), old: shown(o), new: shown(n), sensitive });
    }
    out
}

fn set(path: &str, v: String) -> FieldChange {
    FieldChange { path: path.into(), old: None, new: Some(v), sensitive: false }
}

fn nonempty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn list<T>(items: &[T], f: fn(&T) -> String) -> Option<String> {
    (!items.is_empty()).then(|| items.iter().map(f).collect::<Vec<_>>().join(", "))
}

fn argv(c: &[String]) -> String {
    serde_json::to_string(c).expect("strings serialize")
}

fn port(p: &PortBinding) -> String {
    match &p.host_ip {
        Some(ip) => format!("{ip}:{}:{}/{}", p.host_port, p.container_port, p.protocol),
        None => format!("{}:{}/{}", p.host_port, p.container_port, p.protocol),
    }
}

fn mount(m: &Mount) -> String {
    let ro = if m.read_only { ":ro" } else { "" };
    match (m.kind, &m.files) {
        (MountKind::Volume, _) => format!("volume {}:{}{ro}", m.source, m.target),
        (MountKind::Bind, _) => format!("bind {}:{}{ro}", m.source, m.target),
        // What the user wrote, and which files: the volume's name is the content's.
        (MountKind::Files, Some(f)) => {
            format!("{}:{}{ro} (files {})", super::resources::folder(&f.path), m.target, short(&f.content))
        }
        (MountKind::File, Some(f)) => {
            format!("{}:{}{ro} (file {})", super::resources::folder(&f.path), m.target, short(&f.content))
        }
        (MountKind::Files | MountKind::File, None) => format!("files {}:{}{ro}", m.source, m.target),
    }
}

/// A `volumes` change in words, when it is only new content in mounted
/// repository folders: `repository files ./site`.
pub(super) fn files_changed(old: &ContainerConfig, new: &ContainerConfig) -> Option<String> {
    let without_content = |c: &ContainerConfig| -> Vec<(MountKind, String, String, Option<String>)> {
        let mut v: Vec<_> = c
            .mounts
            .iter()
            .map(|m| {
                let shipped = matches!(m.kind, MountKind::Files | MountKind::File);
                let source = if shipped { String::new() } else { m.source.clone() };
                (m.kind, source, m.target.clone(), m.files.as_ref().map(|f| f.path.clone()))
            })
            .collect();
        v.sort();
        v
    };
    if without_content(old) != without_content(new) {
        return None;
    }
    let mut folders: Vec<String> = new
        .mounts
        .iter()
        .filter_map(|m| m.files.as_ref().map(|f| (m, f)))
        .filter(|(m, f)| {
            !old.mounts.iter().any(|o| o.target == m.target && o.files.as_ref().is_some_and(|g| g.content == f.content))
        })
        .map(|(_, f)| super::resources::folder(&f.path))
        .collect();
    folders.dedup();
    (!folders.is_empty()).then(|| format!("repository files {}", folders.join(", ")))
}

fn short(hash: &str) -> &str {
    crate::source::files::short(hash)
}

fn network(n: &NetworkAttachment) -> String {
    match n.aliases.as_slice() {
        [] => n.name.clone(),
        aliases => format!("{} (aliases {})", n.name, aliases.join(", ")),
    }
}

fn seconds(s: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(s)).to_string()
}

fn bytes(b: i64) -> String {
    const UNITS: [(&str, i64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (u, n) in UNITS {
        if b >= n && b % n == 0 {
            return format!("{}{u}", b / n);
        }
    }
    format!("{b}B")
}

fn cpus(n: i64) -> String {
    format!("{}", n as f64 / 1e9)
}

fn restart(c: &ContainerConfig) -> String {
    serde_json::to_value(c.restart).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

fn health(h: &Health) -> String {
    let d = |ns: i64| humantime::format_duration(std::time::Duration::from_nanos(ns as u64)).to_string();
    format!(
        "{} every {}, timeout {}, retries {}, start period {}",
        argv(&h.test),
        d(h.interval_ns),
        d(h.timeout_ns),
        h.retries,
        d(h.start_period_ns)
    )
}

/// An image reference the way people write it: `busybox:1.36` rather than
/// `docker.io/library/busybox:1.36`.
pub fn familiar_image(image: &str) -> String {
    let s = image.strip_prefix("docker.io/").unwrap_or(image);
    s.strip_prefix("library/").unwrap_or(s).to_string()
}
