//! The pure mapping from a `DesiredContainer` to the engine's create request.
//!
//! No I/O: this is where berth's target-neutral `ContainerConfig` becomes
//! bollard's `ContainerCreateBody`, so the mapping is unit-tested without an
//! engine. Secret env values are looked up here and go only into the body
//! sent to the engine; the `berth.config` label holds fingerprints only.

use crate::desired::{files_mount_point, ContainerConfig, DesiredContainer, EnvValue, MountKind, NetworkAttachment};
use crate::observe::{labels, SecretEnv};
use crate::spec::Restart;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount, MountType, MountVolumeOptions,
    NetworkingConfig, PortBinding, PortMap, RestartPolicy, RestartPolicyNameEnum,
};
use std::collections::HashMap;

/// Why a create request could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("no value was provided for secret env {key} (credential {credential})")]
    MissingSecret { key: String, credential: String },
}

/// The create body for `c`, labelled for `project` with `spec_hash`.
pub fn create_body(
    project: &str,
    c: &DesiredContainer,
    spec_hash: &str,
    secrets: &SecretEnv,
) -> Result<ContainerCreateBody, BodyError> {
    let cfg = &c.config;
    let (exposed, bindings) = ports(cfg);
    let primary = primary_network(project, cfg);
    Ok(ContainerCreateBody {
        image: Some(cfg.image.clone()),
        cmd: cfg.command.clone(),
        env: Some(env(cfg, secrets)?),
        user: cfg.user.clone(),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck: cfg.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: Some(h.interval_ns),
            timeout: Some(h.timeout_ns),
            retries: Some(h.retries),
            start_period: Some(h.start_period_ns),
            start_interval: None,
        }),
        labels: Some(container_labels(project, c, spec_hash)),
        stop_signal: cfg.stop_signal.clone(),
        stop_timeout: cfg.stop_grace_secs.map(|s| s.min(i64::MAX as u64) as i64),
        host_config: Some(HostConfig {
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            mounts: (!cfg.mounts.is_empty()).then(|| mounts(project, cfg)),
            memory: cfg.memory,
            nano_cpus: cfg.nano_cpus,
            restart_policy: Some(restart_policy(cfg.restart)),
            network_mode: primary.map(|n| n.name.clone()),
            ..Default::default()
        }),
        // API 1.41 takes one network at create; `later_networks` are
        // connected before the container starts.
        networking_config: primary
            .map(|n| NetworkingConfig { endpoints_config: Some(HashMap::from([(n.name.clone(), endpoint(n))])) }),
        ..Default::default()
    })
}

/// The network a container is created on: the project network when it
/// joins it, else its first one; `None` leaves the engine's default bridge.
fn primary_network<'a>(project: &str, cfg: &'a ContainerConfig) -> Option<&'a NetworkAttachment> {
    let own = crate::desired::project_network(project);
    cfg.networks.iter().find(|n| n.name == own).or(cfg.networks.first())
}

/// The networks to connect after create, before start.
pub fn later_networks<'a>(project: &str, cfg: &'a ContainerConfig) -> Vec<&'a NetworkAttachment> {
    let primary = primary_network(project, cfg).map(|n| n.name.as_str());
    cfg.networks.iter().filter(|n| Some(n.name.as_str()) != primary).collect()
}

/// A network endpoint with the container's aliases.
pub fn endpoint(n: &NetworkAttachment) -> EndpointSettings {
    EndpointSettings { aliases: (!n.aliases.is_empty()).then(|| n.aliases.clone()), ..Default::default() }
}

/// berth's identity labels plus the declared config as JSON.
pub fn container_labels(project: &str, c: &DesiredContainer, spec_hash: &str) -> HashMap<String, String> {
    // ContainerConfig holds secret env as fingerprints only, so the label
    // reveals nothing; serializing a plain struct cannot fail.
    let config = serde_json::to_string(&c.config).expect("container config serializes to JSON");
    let mut extra: Vec<(String, String)> = Vec::new();
    if let Some(k) = &c.fingerprint_key {
        extra.push((labels::FINGERPRINT_KEY.to_string(), k.clone()));
    }
    if let Some(n) = c.release {
        extra.push((labels::RELEASE.to_string(), n.to_string()));
    }
    if let Some(p) = &c.pin {
        extra.push((labels::PIN.to_string(), p.release.to_string()));
        extra.push((labels::PIN_IMAGE.to_string(), p.image.clone()));
        extra.push((labels::PIN_WHILE.to_string(), p.while_repo_image.clone()));
    }
    HashMap::from_iter(extra.into_iter().chain([
        (labels::PROJECT.to_string(), project.to_string()),
        (labels::APP.to_string(), c.app.clone()),
        (labels::PROCESS.to_string(), c.process.clone()),
        (labels::REPLICA.to_string(), c.replica.to_string()),
        (labels::SPEC_HASH.to_string(), spec_hash.to_string()),
        (labels::CONFIG.to_string(), config),
    ]))
}

/// The secret values this container receives (for redaction of its logs).
pub fn secret_values<'a>(cfg: &ContainerConfig, secrets: &'a SecretEnv) -> Vec<&'a str> {
    cfg.env
        .iter()
        .filter(|(_, v)| matches!(v, EnvValue::Secret { .. }))
        .filter_map(|(k, _)| secrets.get(k).map(String::as_str))
        .collect()
}

fn env(cfg: &ContainerConfig, secrets: &SecretEnv) -> Result<Vec<String>, BodyError> {
    cfg.env
        .iter()
        .map(|(key, value)| match value {
            EnvValue::Plain(v) => Ok(format!("{key}={v}")),
            EnvValue::Secret { credential, .. } => match secrets.get(key) {
                Some(v) => Ok(format!("{key}={v}")),
                None => Err(BodyError::MissingSecret { key: key.clone(), credential: credential.clone() }),
            },
        })
        .collect()
}

fn ports(cfg: &ContainerConfig) -> (Vec<String>, PortMap) {
    let mut exposed = Vec::new();
    let mut bindings = PortMap::new();
    for p in &cfg.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        let binding = PortBinding { host_ip: p.host_ip.clone(), host_port: Some(p.host_port.to_string()) };
        bindings.entry(key).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(binding);
    }
    (exposed, bindings)
}

fn mounts(project: &str, cfg: &ContainerConfig) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    for m in &cfg.mounts {
        // Repository files are filled before: nothing of the image may be
        // copied into them. A file's volume is mounted once, where its
        // symlinks (`file_links`) point.
        let files = || Some(MountVolumeOptions { no_copy: Some(true), ..Default::default() });
        let mount = match m.kind {
            MountKind::Volume => Mount {
                typ: Some(MountType::VOLUME),
                source: Some(m.source.clone()),
                target: Some(m.target.clone()),
                read_only: Some(m.read_only),
                // A volume the engine creates for this mount carries the
                // project label, so people can tell where it came from.
                // berth never deletes volumes.
                volume_options: Some(MountVolumeOptions {
                    labels: Some(HashMap::from([(labels::PROJECT.to_string(), project.to_string())])),
                    ..Default::default()
                }),
                ..Default::default()
            },
            MountKind::Bind => Mount {
                typ: Some(MountType::BIND),
                source: Some(m.source.clone()),
                target: Some(m.target.clone()),
                read_only: Some(m.read_only),
                ..Default::default()
            },
            MountKind::Files => Mount {
                typ: Some(MountType::VOLUME),
                source: Some(m.source.clone()),
                target: Some(m.target.clone()),
                read_only: Some(true),
                volume_options: files(),
                ..Default::default()
            },
            MountKind::File => Mount {
                typ: Some(MountType::VOLUME),
                source: Some(m.source.clone()),
                target: Some(files_mount_point(&m.source)),
                read_only: Some(true),
                volume_options: files(),
                ..Default::default()
            },
        };
        if !out.iter().any(|o| o.target == mount.target) {
            out.push(mount);
        }
    }
    out
}

/// The symlinks a container gets before it starts, for its repository
/// files mounted one by one: (path in the container, where it points: the
/// file in its volume's mount point).
pub fn file_links(cfg: &ContainerConfig) -> Vec<(String, String)> {
    cfg.mounts
        .iter()
        .filter(|m| m.kind == MountKind::File)
        .filter_map(|m| {
            let name = m.files.as_ref()?.path.rsplit('/').next()?.to_string();
            Some((m.target.clone(), format!("{}/{name}", files_mount_point(&m.source))))
        })
        .collect()
}

pub fn restart_policy(r: Restart) -> RestartPolicy {
    let name = match r {
        Restart::No => RestartPolicyNameEnum::NO,
        Restart::Always => RestartPolicyNameEnum::ALWAYS,
        Restart::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
        Restart::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
    };
    RestartPolicy { name: Some(name), maximum_retry_count: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{Health, Mount as DMount, PortBinding as DPort};
    use std::collections::BTreeMap;

    fn container() -> DesiredContainer {
        DesiredContainer {
            name: "demo-web-web-1".into(),
            app: "web".into(),
            process: "web".into(),
            replica: 1,
            config: ContainerConfig {
                image: "docker.io/library/busybox:1.36".into(),
                command: Some(vec!["sleep".into(), "3600".into()]),
                env: BTreeMap::from([
                    ("PORT".into(), EnvValue::Plain("4000".into())),
                    ("DB".into(), EnvValue::Secret { credential: "db".into(), fingerprint: "f1".into() }),
                ]),
                user: Some("1000".into()),
                ports: vec![
                    DPort { host_ip: None, host_port: 8080, container_port: 4000, protocol: "tcp".into() },
                    DPort {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: 8081,
                        container_port: 4000,
                        protocol: "tcp".into(),
                    },
                    DPort { host_ip: None, host_port: 5353, container_port: 53, protocol: "udp".into() },
                ],
                mounts: vec![
                    DMount {
                        kind: MountKind::Volume,
                        source: "demo_data".into(),
                        target: "/data".into(),
                        read_only: false,
                        files: None,
                    },
                    DMount {
                        kind: MountKind::Bind,
                        source: "/srv/conf".into(),
                        target: "/etc/app".into(),
                        read_only: true,
                        files: None,
                    },
                    DMount {
                        kind: MountKind::Files,
                        source: "demo_files-0123456789ab".into(),
                        target: "/srv".into(),
                        read_only: true,
                        files: Some(crate::desired::RepoFiles {
                            path: "site".into(),
                            content: format!("0123456789ab{}", "0".repeat(52)),
                            count: 1,
                            bytes: 2,
                        }),
                    },
                ],
                memory: Some(512 * 1024 * 1024),
                nano_cpus: Some(500_000_000),
                restart: Restart::OnFailure,
                healthcheck: Some(Health {
                    test: vec!["CMD".into(), "true".into()],
                    interval_ns: 1_000_000_000,
                    timeout_ns: 2_000_000_000,
                    retries: 3,
                    start_period_ns: 0,
                }),
                platform: None,
                stop_signal: Some("SIGQUIT".into()),
                stop_grace_secs: Some(30),
                networks: vec![
                    NetworkAttachment { name: "demo_default".into(), aliases: vec!["web".into(), "web-web".into()] },
                    NetworkAttachment { name: "proxy".into(), aliases: vec![] },
                ],
            },
            update_order: None,
            fingerprint_key: Some("k1".into()),
            release: None,
            pin: None,
        }
    }

    fn secrets() -> SecretEnv {
        BTreeMap::from([("DB".into(), "postgres://s3cret".into())])
    }

    #[test]
    fn maps_every_declared_field() {
        let body = create_body("demo", &container(), "abc", &secrets()).unwrap();
        assert_eq!(body.image.as_deref(), Some("docker.io/library/busybox:1.36"));
        assert_eq!(body.cmd, Some(vec!["sleep".to_string(), "3600".to_string()]));
        assert_eq!(body.env, Some(vec!["DB=postgres://s3cret".to_string(), "PORT=4000".to_string()]));
        assert_eq!(body.user.as_deref(), Some("1000"));
        assert_eq!(body.exposed_ports, Some(vec!["4000/tcp".to_string(), "53/udp".to_string()]));
        let hc = body.healthcheck.unwrap();
        assert_eq!(hc.test, Some(vec!["CMD".to_string(), "true".to_string()]));
        assert_eq!(
            (hc.interval, hc.timeout, hc.retries, hc.start_period),
            (Some(1_000_000_000), Some(2_000_000_000), Some(3), Some(0))
        );

        let host = body.host_config.unwrap();
        let bindings = host.port_bindings.unwrap();
        let tcp = bindings["4000/tcp"].as_ref().unwrap();
        assert_eq!(tcp.len(), 2);
        assert_eq!(tcp[0].host_port.as_deref(), Some("8080"));
        assert_eq!(tcp[1].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(bindings["53/udp"].as_ref().unwrap()[0].host_port.as_deref(), Some("5353"));
        let mounts = host.mounts.unwrap();
        assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
        assert_eq!(mounts[0].source.as_deref(), Some("demo_data"));
        assert_eq!(mounts[1].typ, Some(MountType::BIND));
        assert_eq!(mounts[1].read_only, Some(true));
        assert!(mounts[1].volume_options.is_none());
        // Repository files: their volume, read-only, nothing of the image copied in.
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[2].typ, Some(MountType::VOLUME));
        assert_eq!(mounts[2].source.as_deref(), Some("demo_files-0123456789ab"));
        assert_eq!(mounts[2].read_only, Some(true));
        assert_eq!(mounts[2].volume_options.as_ref().and_then(|o| o.no_copy), Some(true));
        assert_eq!(host.memory, Some(512 * 1024 * 1024));
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.restart_policy.unwrap().name, Some(RestartPolicyNameEnum::ON_FAILURE));
        assert_eq!((body.stop_signal.as_deref(), body.stop_timeout), (Some("SIGQUIT"), Some(30)));
    }

    #[test]
    fn a_file_is_a_link_into_its_volume_mounted_once() {
        let mut c = container();
        let file = |target: &str, path: &str| DMount {
            kind: MountKind::File,
            source: "demo_files-0123456789ab".into(),
            target: target.into(),
            read_only: true,
            files: Some(crate::desired::RepoFiles {
                path: path.into(),
                content: format!("0123456789ab{}", "0".repeat(52)),
                count: 1,
                bytes: 2,
            }),
        };
        c.config.mounts = vec![file("/etc/a.conf", "conf/a.conf"), file("/etc/b.conf", "other/a.conf")];
        let body = create_body("demo", &c, "abc", &secrets()).unwrap();
        let mounts = body.host_config.unwrap().mounts.unwrap();
        assert_eq!(mounts.len(), 1, "the same content, one mount");
        assert_eq!(mounts[0].target.as_deref(), Some("/.berth/demo_files-0123456789ab"));
        assert_eq!((mounts[0].typ, mounts[0].read_only), (Some(MountType::VOLUME), Some(true)));
        assert_eq!(
            file_links(&c.config),
            [
                ("/etc/a.conf".to_string(), "/.berth/demo_files-0123456789ab/a.conf".to_string()),
                ("/etc/b.conf".to_string(), "/.berth/demo_files-0123456789ab/a.conf".to_string()),
            ]
        );
        assert!(file_links(&container().config).is_empty());
    }

    #[test]
    fn joins_the_project_network_at_create_and_the_others_after() {
        let c = container();
        let body = create_body("demo", &c, "abc", &secrets()).unwrap();
        assert_eq!(body.host_config.unwrap().network_mode.as_deref(), Some("demo_default"));
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(endpoints.len(), 1);
        assert_eq!(endpoints["demo_default"].aliases, Some(vec!["web".to_string(), "web-web".to_string()]));
        let later: Vec<&str> = later_networks("demo", &c.config).iter().map(|n| n.name.as_str()).collect();
        assert_eq!(later, ["proxy"]);
        // Without networks the engine's default bridge is left as it is.
        let mut bare = c.clone();
        bare.config.networks.clear();
        let body = create_body("demo", &bare, "abc", &secrets()).unwrap();
        assert!(body.networking_config.is_none() && body.host_config.unwrap().network_mode.is_none());
    }

    #[test]
    fn labels_identify_the_container_and_hold_no_secret() {
        let body = create_body("demo", &container(), "abc", &secrets()).unwrap();
        let labels = body.labels.unwrap();
        assert_eq!(labels["berth.project"], "demo");
        assert_eq!(labels["berth.app"], "web");
        assert_eq!(labels["berth.process"], "web");
        assert_eq!(labels["berth.replica"], "1");
        assert_eq!(labels["berth.spec-hash"], "abc");
        let config: ContainerConfig = serde_json::from_str(&labels["berth.config"]).unwrap();
        assert_eq!(config, container().config);
        assert!(labels.values().all(|v| !v.contains("s3cret")));
    }

    #[test]
    fn command_none_keeps_the_image_command() {
        let mut c = container();
        c.config.command = None;
        c.config.ports.clear();
        c.config.mounts.clear();
        let body = create_body("demo", &c, "abc", &secrets()).unwrap();
        assert_eq!(body.cmd, None);
        assert_eq!(body.exposed_ports, None);
        let host = body.host_config.unwrap();
        assert_eq!(host.port_bindings, None);
        assert_eq!(host.mounts, None);
    }

    #[test]
    fn a_missing_secret_is_an_error_naming_key_and_credential() {
        let err = create_body("demo", &container(), "abc", &SecretEnv::new()).unwrap_err();
        assert_eq!(err.to_string(), "no value was provided for secret env DB (credential db)");
    }

    #[test]
    fn secret_values_lists_only_secret_env() {
        let s = secrets();
        assert_eq!(secret_values(&container().config, &s), vec!["postgres://s3cret"]);
    }
}
