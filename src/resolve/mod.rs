//! Resolve: a validated `Repo` → `Desired`, the concrete containers to run.
//!
//! Decides names (`<project>-<app>-<process>-<replica>`), normalized image
//! references, env (with Scalingo's `PORT`), published ports per replica,
//! volume names and bind paths, and engine units (bytes, nanoseconds). Pure:
//! no engine, no registry. Features whose support lands later (builds,
//! credentials) are reported here as errors at their position, so nothing is
//! applied from a repo berth cannot fully honour.

use crate::desired::{ContainerConfig, Desired, DesiredApp, DesiredContainer, EnvValue, Health, Mount, MountKind, PortBinding};
use crate::diag::Diagnostic;
use crate::spec::values::{self, VolumeSource};
use crate::spec::{AppFile, At, ProcessSpec, Repo};
use std::collections::BTreeMap;

/// The process an app runs when it declares none: the image's own command.
pub const DEFAULT_PROCESS: &str = "web";

/// Resolve every app; all problems at once.
pub fn resolve(repo: &Repo) -> Result<Desired, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut apps = Vec::new();
    for app in &repo.apps {
        match resolve_app(repo, app) {
            Ok(a) => apps.push(a),
            Err(mut d) => diags.append(&mut d),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Desired { project: repo.project.clone(), empty: apps.is_empty(), apps })
}

fn unsupported(app: &AppFile, line: u32, col: u32, what: &str) -> Diagnostic {
    Diagnostic::new(&app.path, line, col, format!("{what} is not yet supported by this version of berth"))
        .hint("remove it for now, or use an `image:` app")
}

fn resolve_app(repo: &Repo, app: &AppFile) -> Result<DesiredApp, Vec<Diagnostic>> {
    let spec = &app.spec;
    let mut diags = Vec::new();
    if let Some(b) = &spec.build {
        diags.push(unsupported(app, b.line, b.col, "`build:`"));
    }
    if let Some(s) = spec.secret_env.first() {
        diags.push(unsupported(app, s.line, s.col, "`secret-env:`"));
    }
    if let Some(c) = spec.pull.as_ref().and_then(|p| p.credential.as_ref()) {
        diags.push(unsupported(app, c.line, c.col, "`pull.credential:`"));
    }
    let Some(image) = &spec.image else {
        // validate guarantees image xor build; a build app already has a diagnostic.
        return Err(diags);
    };
    if !diags.is_empty() {
        return Err(diags);
    }
    let image = values::parse_image(&image.value).expect("validated image reference");
    let base = base_config(repo, app, &image);

    let default_processes;
    let processes = match &spec.processes {
        Some(p) => p,
        None => {
            default_processes = BTreeMap::from([(At::bare(DEFAULT_PROCESS.to_string()), ProcessSpec::default())]);
            &default_processes
        }
    };
    // Like Dokku, the health check belongs to the process that serves: `web`,
    // or every process when there is no `web`.
    let has_web = processes.keys().any(|k| k.value == DEFAULT_PROCESS);
    let mut containers = Vec::new();
    for (pname, proc_spec) in processes {
        let checked = !has_web || pname.value == DEFAULT_PROCESS;
        let replicas = proc_spec.replicas.as_ref().map_or(1, |r| r.value);
        for replica in 1..=replicas {
            let mut config = process_config(&base, proc_spec, replica);
            if !checked {
                config.healthcheck = None;
            }
            containers.push(DesiredContainer {
                name: format!("{}-{}-{}-{}", repo.project, app.name, pname.value, replica),
                app: app.name.clone(),
                process: pname.value.clone(),
                replica,
                config,
            });
        }
    }
    Ok(DesiredApp {
        name: app.name.clone(),
        suspended: spec.suspend,
        image,
        pull_policy: spec.pull.as_ref().and_then(|p| p.policy.as_ref()).map(|p| p.value).unwrap_or_default(),
        containers,
    })
}

/// Everything shared by an app's processes.
fn base_config(repo: &Repo, app: &AppFile, image: &str) -> ContainerConfig {
    let spec = &app.spec;
    let env = spec.env.iter().map(|(k, v)| (k.value.clone(), EnvValue::Plain(v.value.clone()))).collect();
    let mut mounts: Vec<Mount> = spec
        .volumes
        .iter()
        .map(|v| {
            let v = values::parse_volume(&v.value).expect("validated volume");
            let (kind, source) = match v.source {
                VolumeSource::Named(n) => (MountKind::Volume, format!("{}_{}", repo.project, n)),
                VolumeSource::RepoPath(p) => (MountKind::Bind, repo.root.join(p).to_string_lossy().into_owned()),
                VolumeSource::HostPath(p) => (MountKind::Bind, p),
            };
            Mount { kind, source, target: v.target, read_only: v.read_only }
        })
        .collect();
    mounts.sort();
    let resources = spec.resources.as_ref();
    let memory = resources.and_then(|r| r.memory.as_ref()).map(|m| values::parse_memory(&m.value).expect("validated memory"));
    let nano_cpus = resources.and_then(|r| r.cpus.as_ref()).map(|c| (c.value * 1e9).round() as i64);
    let healthcheck = spec.healthcheck.as_ref().map(|h| {
        let dur = |d: &Option<At<String>>, default: u64| {
            d.as_ref()
                .map(|d| values::parse_duration(&d.value).expect("validated duration"))
                .unwrap_or(std::time::Duration::from_secs(default))
                .as_nanos() as i64
        };
        Health {
            test: h.command.value.clone(),
            interval_ns: dur(&h.interval, 30),
            timeout_ns: dur(&h.timeout, 30),
            retries: h.retries.unwrap_or(3) as i64,
            start_period_ns: dur(&h.start_period, 0),
        }
    });
    ContainerConfig {
        image: image.to_string(),
        command: None,
        env,
        user: spec.user.as_ref().map(|u| u.value.clone()),
        ports: Vec::new(),
        mounts,
        memory,
        nano_cpus,
        restart: spec.restart.as_ref().map(|r| r.value).unwrap_or_default(),
        healthcheck,
        platform: spec.platform.as_ref().map(|p| p.value.clone()),
    }
}

/// One replica's config: its command, its ports (host port + replica - 1),
/// and `PORT` set to the first container port unless the app sets it.
fn process_config(base: &ContainerConfig, p: &ProcessSpec, replica: u32) -> ContainerConfig {
    let mut c = base.clone();
    c.command = p.command.as_ref().map(|c| c.value.clone());
    c.ports = p
        .ports
        .iter()
        .map(|s| {
            let ps = values::parse_port(&s.value).expect("validated port");
            PortBinding {
                host_ip: ps.host_ip,
                host_port: ps.host_port + (replica as u16 - 1),
                container_port: ps.container_port,
                protocol: ps.protocol,
            }
        })
        .collect();
    if let Some(first) = c.ports.first() {
        c.env.entry("PORT".to_string()).or_insert_with(|| EnvValue::Plain(first.container_port.to_string()));
    }
    c
}
