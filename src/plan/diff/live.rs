//! Drift: what a container really runs, compared with what the spec
//! declares. Pure.
//!
//! Only declared values are compared (SPEC §3.1): a field the spec leaves
//! to the image or the engine (command, user, healthcheck, stop signal,
//! limits) is compared only when the spec sets it, and env only for the
//! keys it sets. What the engine can change on a running container (memory,
//! cpus, restart policy, a network it left) is fixed in place; anything else
//! needs a new container.

use super::fields::config_changes;
use crate::desired::{ContainerConfig, Mount, MountKind, NetworkAttachment};
use crate::observe::ResourceUpdate;
use crate::plan::FieldChange;

/// How a running container differs from its spec.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Drift {
    /// Field by field: `old` is the live value, `new` the declared one.
    pub changes: Vec<FieldChange>,
    /// What `docker update` sets back.
    pub update: ResourceUpdate,
    /// Declared networks the container is no longer on.
    pub connect: Vec<NetworkAttachment>,
    /// Some change cannot be made in place.
    pub replace: bool,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// `resources.memory changed by hand: 64MiB → none` per change: what
    /// was declared, then what the engine has now.
    pub fn reasons(&self) -> Vec<String> {
        self.changes
            .iter()
            .map(|c| {
                if c.sensitive {
                    return format!("{} changed by hand", c.path);
                }
                if c.path == "networks" && !self.connect.is_empty() && !self.replace {
                    let names: Vec<&str> = self.connect.iter().map(|n| n.name.as_str()).collect();
                    return format!("disconnected by hand from network {}", names.join(", "));
                }
                let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
                format!("{} changed by hand: {} → {}", c.path, shown(&c.new), shown(&c.old))
            })
            .collect()
    }
}

/// Compare the live config with the declared one. `live.env` holds only
/// the declared keys (secret ones fingerprinted), as the pipeline left it.
pub(crate) fn drift(want: &ContainerConfig, live: &ContainerConfig) -> Drift {
    let seen = ContainerConfig {
        image: live.image.clone(),
        command: live.command.clone().filter(|_| want.command.is_some()),
        env: live.env.clone(),
        user: live.user.clone().filter(|_| want.user.is_some()),
        ports: live.ports.clone(),
        mounts: declared_mounts(&want.mounts, &live.mounts),
        memory: live.memory.filter(|_| want.memory.is_some()),
        nano_cpus: live.nano_cpus.filter(|_| want.nano_cpus.is_some()),
        restart: live.restart,
        healthcheck: live.healthcheck.clone().filter(|_| want.healthcheck.is_some()),
        // Not readable from a container; the image check covers it.
        platform: want.platform.clone(),
        stop_signal: live.stop_signal.clone().filter(|_| want.stop_signal.is_some()),
        stop_grace_secs: live.stop_grace_secs.filter(|_| want.stop_grace_secs.is_some()),
        // The declared networks as the container is on them: the engine adds
        // aliases of its own (the short id), which are not compared.
        networks: want
            .networks
            .iter()
            .filter_map(|w| {
                let l = live.networks.iter().find(|l| l.name == w.name)?;
                let aliases = w.aliases.iter().filter(|a| l.aliases.contains(a)).cloned().collect();
                Some(NetworkAttachment { name: w.name.clone(), aliases })
            })
            .collect(),
    };
    let changes = config_changes(&seen, want);
    let mut d = Drift { changes, ..Default::default() };
    // What `docker update` can set; networks are weighed below.
    for c in &d.changes {
        match c.path.as_str() {
            "resources.memory" => d.update.memory = want.memory,
            "resources.cpus" => d.update.nano_cpus = want.nano_cpus,
            "restart" => d.update.restart = Some(want.restart),
            "networks" => {}
            _ => d.replace = true,
        }
    }
    for w in &want.networks {
        match seen.networks.iter().find(|s| s.name == w.name) {
            None => d.connect.push(w.clone()),
            // On the network but without its aliases: only a new endpoint gives them back.
            Some(s) if s.aliases != w.aliases => d.replace = true,
            Some(_) => {}
        }
    }
    d
}

/// The live mounts, a volume of repository files read as the declared
/// mount(s) it stands for: the engine knows it only as a volume, by its
/// name (which is its content's), mounted where the files go or, for
/// files linked one by one, at its own mount point.
fn declared_mounts(want: &[Mount], live: &[Mount]) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    for l in live {
        let stands_for = |w: &&Mount| {
            let target = match w.kind {
                MountKind::Files => w.target.clone(),
                MountKind::File => crate::desired::files_mount_point(&w.source),
                _ => return false,
            };
            l.kind == MountKind::Volume && l.read_only && w.source == l.source && target == l.target
        };
        let declared: Vec<Mount> = want.iter().filter(stands_for).cloned().collect();
        if declared.is_empty() {
            out.push(l.clone());
        } else {
            out.extend(declared);
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{EnvValue, PortBinding};
    use crate::spec::Restart;

    fn want() -> ContainerConfig {
        ContainerConfig {
            image: "docker.io/library/busybox:1.36".into(),
            command: Some(vec!["sleep".into(), "9".into()]),
            env: [("A".to_string(), EnvValue::Plain("1".into()))].into(),
            ports: vec![PortBinding { host_ip: None, host_port: 8080, container_port: 80, protocol: "tcp".into() }],
            memory: Some(64 << 20),
            restart: Restart::UnlessStopped,
            stop_grace_secs: Some(10),
            networks: vec![NetworkAttachment {
                name: "p_default".into(),
                aliases: vec!["web".into(), "web-web".into()],
            }],
            ..Default::default()
        }
    }

    /// What the engine reports for a container created from `want()`:
    /// image values berth did not declare, and an alias of the engine's own.
    fn live() -> ContainerConfig {
        let mut l = want();
        l.user = Some("nobody".into());
        l.stop_signal = Some("SIGQUIT".into());
        l.healthcheck = Some(crate::desired::Health {
            test: vec!["CMD".into(), "true".into()],
            interval_ns: 1,
            timeout_ns: 1,
            retries: 1,
            start_period_ns: 0,
        });
        l.networks[0].aliases.push("0123456789ab".into());
        l.networks.push(NetworkAttachment { name: "bridge".into(), aliases: vec![] });
        l
    }

    #[test]
    fn values_from_the_image_or_engine_are_not_drift() {
        let d = drift(&want(), &live());
        assert!(d.is_empty(), "{:?}", d.changes);
        assert!(!d.replace && d.update.is_empty() && d.connect.is_empty());
    }

    #[test]
    fn limits_and_restart_changed_by_hand_are_fixed_in_place() {
        let mut l = live();
        l.memory = None;
        l.restart = Restart::No;
        let d = drift(&want(), &l);
        assert!(!d.replace);
        assert_eq!(
            d.update,
            ResourceUpdate { memory: Some(64 << 20), nano_cpus: None, restart: Some(Restart::UnlessStopped) }
        );
        assert_eq!(
            d.reasons(),
            ["resources.memory changed by hand: 64MiB → none", "restart changed by hand: unless-stopped → no"]
        );
        let mem = &d.changes[0];
        assert_eq!(
            (mem.old.as_deref(), mem.new.as_deref()),
            (None, Some("64MiB")),
            "the plan line reads live → declared"
        );
    }

    #[test]
    fn an_undeclared_limit_set_by_hand_is_not_drift() {
        let mut w = want();
        w.memory = None;
        let d = drift(&w, &live());
        assert!(d.is_empty(), "{:?}", d.changes);
    }

    #[test]
    fn a_network_left_by_hand_is_joined_again() {
        let mut l = live();
        l.networks.retain(|n| n.name != "p_default");
        let d = drift(&want(), &l);
        assert!(!d.replace);
        assert_eq!(d.connect, want().networks);
        assert_eq!(d.changes[0].path, "networks");
        // Aliases lost (another endpoint) need a new container.
        let mut l = live();
        l.networks[0].aliases = vec!["web".into()];
        assert!(drift(&want(), &l).replace);
    }

    #[test]
    fn env_command_image_and_ports_need_a_new_container() {
        for change in [
            (|l: &mut ContainerConfig| l.env.insert("A".into(), EnvValue::Plain("2".into())).map(drop))
                as fn(&mut ContainerConfig) -> Option<()>,
            |l| {
                l.command = Some(vec!["sh".into()]);
                None
            },
            |l| {
                l.image = "docker.io/library/busybox:1.37".into();
                None
            },
            |l| {
                l.ports.clear();
                None
            },
            |l| {
                l.env.remove("A");
                None
            },
        ] {
            let mut l = live();
            change(&mut l);
            let d = drift(&want(), &l);
            assert!(d.replace && !d.is_empty(), "{:?}", d.changes);
        }
    }
}
