//! The engine's answers as berth's types: the listing of the project's
//! containers (labels, state) and of the others (`OtherContainer`), the
//! image list, and an inspect read back as the fields berth declares
//! (`Live`: what the engine really runs). Pure, so the mapping is
//! unit-tested without an engine; `docker.rs` makes the calls.
//!
//! Values are normalized the way `resolve` writes them (sorted ports and
//! mounts, `None` for "not set"), so a container berth created reads back
//! equal to its desired config, and only a real change shows as drift.

use crate::desired::{ContainerConfig, Health, Mount, MountKind, NetworkAttachment, PortBinding};
use crate::observe::{labels, ContainerState, HostPort, Live, ObservedContainer, OtherContainer, RawEnv};
use crate::spec::Restart;
use bollard::models::{
    ContainerInspectResponse, ContainerSummary, ContainerSummaryStateEnum, ImageSummary, MountType,
    PortSummaryTypeEnum, RestartPolicyNameEnum,
};
use std::collections::BTreeMap;

/// The live configuration and state of one inspected container.
pub(super) fn live(info: &ContainerInspectResponse) -> Live {
    let config = info.config.as_ref();
    let host = info.host_config.as_ref();
    let raw_env = config
        .and_then(|c| c.env.as_ref())
        .map(|env| {
            env.iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.clone(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default();
    let image = config.and_then(|c| c.image.clone()).unwrap_or_default();
    let healthcheck = config.and_then(|c| c.healthcheck.as_ref()).and_then(|h| {
        let test = h.test.clone().filter(|t| !t.is_empty())?;
        Some(Health {
            test,
            interval_ns: h.interval.unwrap_or(0),
            timeout_ns: h.timeout.unwrap_or(0),
            retries: h.retries.unwrap_or(0),
            start_period_ns: h.start_period.unwrap_or(0),
        })
    });
    let mut networks: Vec<NetworkAttachment> = info
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|nets| {
            nets.iter()
                .map(|(name, ep)| {
                    let mut aliases = ep.aliases.clone().unwrap_or_default();
                    aliases.sort();
                    aliases.dedup();
                    NetworkAttachment { name: name.clone(), aliases }
                })
                .collect()
        })
        .unwrap_or_default();
    networks.sort();
    Live {
        config: ContainerConfig {
            image: normalize(&image).unwrap_or(image),
            command: config.and_then(|c| c.cmd.clone()),
            env: BTreeMap::new(),
            user: config.and_then(|c| c.user.clone()).filter(|u| !u.is_empty()),
            ports: host.map(ports).unwrap_or_default(),
            mounts: host.map(mounts).unwrap_or_default(),
            memory: host.and_then(|h| h.memory).filter(|m| *m > 0),
            nano_cpus: host.and_then(|h| h.nano_cpus).filter(|n| *n > 0),
            restart: host.and_then(|h| h.restart_policy.as_ref()).and_then(|r| r.name).map_or(Restart::No, restart),
            healthcheck,
            platform: None,
            stop_signal: config.and_then(|c| c.stop_signal.clone()).filter(|s| !s.is_empty()),
            stop_grace_secs: config.and_then(|c| c.stop_timeout).and_then(|t| u64::try_from(t).ok()),
            networks,
        },
        exit_code: info.state.as_ref().and_then(|s| s.exit_code),
        raw_env: RawEnv(raw_env),
    }
}

fn ports(h: &bollard::models::HostConfig) -> Vec<PortBinding> {
    let mut out = Vec::new();
    for (key, bindings) in h.port_bindings.iter().flatten() {
        let (port, protocol) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(container_port) = port.parse::<u16>() else { continue };
        for b in bindings.iter().flatten() {
            let Some(host_port) = b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()) else { continue };
            out.push(PortBinding {
                host_ip: b.host_ip.clone().filter(|ip| !ip.is_empty()),
                host_port,
                container_port,
                protocol: protocol.to_string(),
            });
        }
    }
    out.sort();
    out
}

fn mounts(h: &bollard::models::HostConfig) -> Vec<Mount> {
    let mut out: Vec<Mount> = h
        .mounts
        .iter()
        .flatten()
        .filter_map(|m| {
            let kind = match m.typ? {
                MountType::VOLUME => MountKind::Volume,
                MountType::BIND => MountKind::Bind,
                _ => return None,
            };
            // A volume of repository files reads back as a volume: the
            // planner knows it by its name (`plan::diff::live`).
            Some(Mount {
                kind,
                source: m.source.clone().unwrap_or_default(),
                target: m.target.clone().unwrap_or_default(),
                read_only: m.read_only.unwrap_or(false),
                files: None,
            })
        })
        .collect();
    out.sort();
    out
}

fn restart(r: RestartPolicyNameEnum) -> Restart {
    match r {
        RestartPolicyNameEnum::ALWAYS => Restart::Always,
        RestartPolicyNameEnum::UNLESS_STOPPED => Restart::UnlessStopped,
        RestartPolicyNameEnum::ON_FAILURE => Restart::OnFailure,
        _ => Restart::No,
    }
}

/// A listed container that is not the project's: its name, the host ports
/// it publishes while running, its networks.
pub(super) fn other(s: &ContainerSummary, project_label: &str) -> OtherContainer {
    let running = s.state == Some(ContainerSummaryStateEnum::RUNNING);
    let mut ports: Vec<HostPort> = s
        .ports
        .iter()
        .flatten()
        .filter(|_| running)
        .filter_map(|p| {
            let protocol = match p.typ {
                Some(PortSummaryTypeEnum::UDP) => "udp",
                Some(PortSummaryTypeEnum::SCTP) => "sctp",
                _ => "tcp",
            };
            Some(HostPort {
                ip: p.ip.clone().filter(|ip| !ip.is_empty()),
                port: p.public_port?,
                protocol: protocol.into(),
            })
        })
        .collect();
    ports.sort();
    ports.dedup();
    let mut networks: Vec<String> = s
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    networks.sort();
    OtherContainer {
        id: s.id.clone().unwrap_or_default(),
        name: summary_name(s),
        project: s.labels.as_ref().and_then(|l| l.get(project_label)).cloned(),
        running,
        ports,
        networks,
    }
}

/// One listed container as berth sees it.
pub(super) fn observed_container(s: ContainerSummary) -> ObservedContainer {
    let name = summary_name(&s);
    let labels = s.labels.unwrap_or_default();
    let label = |k: &str| labels.get(k).cloned();
    ObservedContainer {
        id: s.id.unwrap_or_default(),
        name,
        app: label(labels::APP).unwrap_or_default(),
        process: label(labels::PROCESS).unwrap_or_default(),
        replica: label(labels::REPLICA).and_then(|r| r.parse().ok()).unwrap_or(0),
        state: s.state.map(|st| ContainerState::parse(st.as_ref())).unwrap_or(ContainerState::Unknown),
        image_id: s.image_id.unwrap_or_default(),
        spec_hash: label(labels::SPEC_HASH),
        config: label(labels::CONFIG).and_then(|json| serde_json::from_str::<ContainerConfig>(&json).ok()),
        fingerprint_key: label(labels::FINGERPRINT_KEY),
        release: label(labels::RELEASE).and_then(|r| r.parse().ok()),
        pin: match (label(labels::PIN).and_then(|r| r.parse().ok()), label(labels::PIN_IMAGE), label(labels::PIN_WHILE))
        {
            (Some(release), Some(image), Some(while_repo_image)) => {
                Some(crate::observe::Pin { release, image, while_repo_image })
            }
            _ => None,
        },
        live: None,
    }
}

/// A listed container's name, without the leading `/`.
pub(super) fn summary_name(s: &ContainerSummary) -> String {
    s.names.as_ref().and_then(|n| n.first()).map(|n| n.trim_start_matches('/').to_string()).unwrap_or_default()
}

/// Normalized reference (tag or digest) → image id, for every local image.
pub(super) fn image_map(images: &[ImageSummary]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for img in images {
        for r in img.repo_tags.iter().chain(&img.repo_digests) {
            if let Some(norm) = normalize(r) {
                map.insert(norm, img.id.clone());
            }
        }
    }
    map
}

/// `busybox:1.36` → `docker.io/library/busybox:1.36`; `None` for untagged
/// placeholders and anything that does not parse.
pub fn normalize(reference: &str) -> Option<String> {
    if reference.starts_with("<none>") {
        return None;
    }
    crate::spec::reference::ImageRef::parse(reference).ok().map(|r| r.whole())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerConfig as BConfig, ContainerState as BState, EndpointSettings, HealthConfig, HostConfig,
        NetworkSettings, PortBinding as BPort, PortSummary, RestartPolicy,
    };
    use std::collections::HashMap;

    fn inspected() -> ContainerInspectResponse {
        ContainerInspectResponse {
            config: Some(BConfig {
                image: Some("busybox:1.36".into()),
                cmd: Some(vec!["sleep".into(), "1".into()]),
                env: Some(vec!["PATH=/bin".into(), "A=b=c".into(), "EMPTY".into()]),
                user: Some(String::new()),
                healthcheck: Some(HealthConfig {
                    test: Some(vec!["CMD".into(), "true".into()]),
                    interval: Some(5),
                    timeout: Some(2),
                    retries: Some(3),
                    start_period: None,
                    start_interval: None,
                }),
                stop_signal: Some("SIGQUIT".into()),
                stop_timeout: Some(30),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                memory: Some(0),
                nano_cpus: Some(500_000_000),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                port_bindings: Some(HashMap::from([
                    (
                        "4000/tcp".to_string(),
                        Some(vec![
                            BPort { host_ip: Some("".into()), host_port: Some("8081".into()) },
                            BPort { host_ip: Some("127.0.0.1".into()), host_port: Some("8080".into()) },
                        ]),
                    ),
                    ("53/udp".to_string(), Some(vec![BPort { host_ip: None, host_port: Some("5353".into()) }])),
                ])),
                mounts: Some(vec![bollard::models::Mount {
                    typ: Some(MountType::VOLUME),
                    source: Some("demo_data".into()),
                    target: Some("/data".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                networks: Some(HashMap::from([(
                    "demo_default".to_string(),
                    EndpointSettings {
                        aliases: Some(vec!["web".into(), "0123abcd".into(), "web-web".into()]),
                        ..Default::default()
                    },
                )])),
                ..Default::default()
            }),
            state: Some(BState { exit_code: Some(0), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn reads_the_declared_fields_back() {
        let l = live(&inspected());
        let c = &l.config;
        assert_eq!(c.image, "docker.io/library/busybox:1.36");
        assert_eq!(c.command, Some(vec!["sleep".to_string(), "1".to_string()]));
        assert_eq!(c.user, None, "an empty user is no user");
        assert_eq!((c.memory, c.nano_cpus), (None, Some(500_000_000)), "0 means no limit");
        assert_eq!(c.restart, Restart::UnlessStopped);
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|p| format!("{:?}:{}:{}/{}", p.host_ip, p.host_port, p.container_port, p.protocol))
            .collect();
        assert_eq!(ports, ["None:5353:53/udp", "None:8081:4000/tcp", "Some(\"127.0.0.1\"):8080:4000/tcp"]);
        assert_eq!(
            c.mounts,
            vec![Mount {
                kind: MountKind::Volume,
                source: "demo_data".into(),
                target: "/data".into(),
                read_only: false,
                files: None,
            }]
        );
        assert_eq!(c.healthcheck.as_ref().map(|h| (h.interval_ns, h.retries, h.start_period_ns)), Some((5, 3, 0)));
        assert_eq!((c.stop_signal.as_deref(), c.stop_grace_secs), (Some("SIGQUIT"), Some(30)));
        assert_eq!(
            c.networks,
            vec![NetworkAttachment {
                name: "demo_default".into(),
                aliases: vec!["0123abcd".into(), "web".into(), "web-web".into()]
            }]
        );
        assert!(c.env.is_empty(), "env waits for the pipeline");
        assert_eq!(l.raw_env.0["A"], "b=c");
        assert_eq!(l.raw_env.0["EMPTY"], "");
        assert_eq!(l.exit_code, Some(0));
        assert!(!format!("{:?}", l.raw_env).contains("/bin"), "Debug shows keys only");
    }

    #[test]
    fn an_empty_inspect_reads_as_nothing_set() {
        let l = live(&ContainerInspectResponse::default());
        assert_eq!(l.config.restart, Restart::No);
        assert!(l.config.ports.is_empty() && l.config.networks.is_empty() && l.config.healthcheck.is_none());
    }

    #[test]
    fn other_containers_hold_ports_only_while_running() {
        let s = ContainerSummary {
            id: Some("x".into()),
            names: Some(vec!["/proxy".into()]),
            state: Some(ContainerSummaryStateEnum::RUNNING),
            ports: Some(vec![
                PortSummary {
                    ip: Some("0.0.0.0".into()),
                    private_port: 80,
                    public_port: Some(8080),
                    typ: Some(PortSummaryTypeEnum::TCP),
                },
                PortSummary {
                    ip: Some("::".into()),
                    private_port: 80,
                    public_port: Some(8080),
                    typ: Some(PortSummaryTypeEnum::TCP),
                },
                PortSummary { ip: None, private_port: 9000, public_port: None, typ: Some(PortSummaryTypeEnum::TCP) },
            ]),
            labels: Some(HashMap::from([("berth.project".to_string(), "other".to_string())])),
            ..Default::default()
        };
        let o = other(&s, "berth.project");
        assert_eq!((o.name.as_str(), o.project.as_deref(), o.running), ("proxy", Some("other"), true));
        assert_eq!(o.ports.len(), 2, "{:?}", o.ports);
        assert!(o.ports.iter().all(|p| p.port == 8080));
        let stopped = ContainerSummary { state: Some(ContainerSummaryStateEnum::EXITED), ..s };
        assert!(other(&stopped, "berth.project").ports.is_empty());
    }

    #[test]
    fn normalizes_references() {
        assert_eq!(normalize("busybox:1.36").as_deref(), Some("docker.io/library/busybox:1.36"));
        assert_eq!(normalize("localhost:5000/app-web:3").as_deref(), Some("localhost:5000/app-web:3"));
        assert_eq!(normalize("<none>:<none>"), None);
        assert_eq!(normalize("<none>@<none>"), None);
        let digest = format!("busybox@sha256:{}", "a".repeat(64));
        assert_eq!(normalize(&digest), Some(format!("docker.io/library/busybox@sha256:{}", "a".repeat(64))));
    }

    #[test]
    fn image_map_has_tags_and_digests() {
        let img = ImageSummary {
            id: "sha256:1".into(),
            repo_tags: vec!["busybox:1.36".into(), "busybox:latest".into()],
            repo_digests: vec!["<none>@<none>".into()],
            ..Default::default()
        };
        let none =
            ImageSummary { id: "sha256:2".into(), repo_tags: vec!["<none>:<none>".into()], ..Default::default() };
        let map = image_map(&[img, none]);
        assert_eq!(map.len(), 2);
        assert_eq!(map["docker.io/library/busybox:1.36"], "sha256:1");
        assert_eq!(map["docker.io/library/busybox:latest"], "sha256:1");
    }

    #[test]
    fn reads_labels_and_config_from_a_listing() {
        let config = ContainerConfig { image: "docker.io/library/busybox:1.36".into(), ..Default::default() };
        let labels = HashMap::from([
            ("berth.project".to_string(), "demo".to_string()),
            ("berth.app".to_string(), "web".to_string()),
            ("berth.process".to_string(), "worker".to_string()),
            ("berth.replica".to_string(), "2".to_string()),
            ("berth.spec-hash".to_string(), "h".to_string()),
            ("berth.config".to_string(), serde_json::to_string(&config).unwrap()),
        ]);
        let s = ContainerSummary {
            id: Some("abc".into()),
            names: Some(vec!["/demo-web-worker-2".into()]),
            image_id: Some("sha256:1".into()),
            labels: Some(labels),
            state: Some(ContainerSummaryStateEnum::RUNNING),
            ..Default::default()
        };
        let c = observed_container(s);
        assert_eq!(c.name, "demo-web-worker-2");
        assert_eq!((c.app.as_str(), c.process.as_str(), c.replica), ("web", "worker", 2));
        assert_eq!(c.state, ContainerState::Running);
        assert_eq!(c.spec_hash.as_deref(), Some("h"));
        assert_eq!(c.config, Some(config));
    }

    #[test]
    fn an_unreadable_config_label_is_none() {
        let s = ContainerSummary {
            labels: Some(HashMap::from([("berth.config".to_string(), "{not json".to_string())])),
            ..Default::default()
        };
        let c = observed_container(s);
        assert_eq!(c.config, None);
        assert_eq!(c.state, ContainerState::Unknown);
    }
}
