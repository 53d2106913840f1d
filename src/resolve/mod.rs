//! Resolve: a validated `Repo` and its decrypted credentials → `Desired`,
//! the concrete containers to run.
//!
//! Decides names (`<project>-<app>-<process>-<replica>`), normalized image
//! references, env (with Scalingo's `PORT`; secret env as keyed fingerprints
//! only), which credential each pull uses, published ports per replica,
//! volume names and bind paths, and engine units (bytes, nanoseconds). No
//! engine, no registry. Features whose support lands later (builds) are
//! reported here as errors at their position, so nothing is applied from a
//! repo berth cannot fully honour.

pub mod credentials;
pub mod names;

pub use credentials::{Choice, DefaultCredential};

use crate::desired::{
    ContainerConfig, Desired, DesiredApp, DesiredBuild, DesiredContainer, DesiredPush, EnvValue, Health, Mount,
    MountKind, NetworkAttachment, PortBinding, RepoFiles,
};
use crate::diag::Diagnostic;
use crate::secrets::Credentials;
use crate::source::{ContextVersion, FilesVersion};
use crate::spec::scalars::DurationSpec;
use crate::spec::values::{self, VolumeSource};
use crate::spec::{AppFile, At, ProcessSpec, Repo};
use hmac::{Hmac, Mac};
use std::collections::BTreeMap;

/// What resolve needs besides the repo.
pub struct Inputs<'a> {
    /// Decrypted credentials (values stay in memory; only fingerprints leave).
    pub credentials: &'a Credentials,
    /// Key of the HMAC that fingerprints secret env values.
    pub fingerprint_key: &'a [u8],
    /// Where each build's files come from, by normalized (context,
    /// dockerfile), or why that could not be decided.
    pub contexts: &'a BTreeMap<(String, String), Result<ContextVersion, String>>,
    /// What each mounted repository folder (normalized, as
    /// [`repo_folders`] lists them) ships, or why it cannot be shipped.
    pub files: &'a BTreeMap<String, Result<FilesVersion, crate::source::FilesError>>,
}

/// The process an app runs when it declares none: the image's own command.
pub const DEFAULT_PROCESS: &str = "web";

/// Resolve every app; all problems at once.
pub fn resolve(repo: &Repo, inputs: &Inputs) -> Result<Desired, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut apps = Vec::new();
    // Only a default berth.yaml names decides a pull (it breaks a tie); the
    // implicit one (first added in git) is for `berth report` to show.
    let default = repo.settings.credentials.as_ref().and_then(|c| c.default.as_ref()).map(|d| d.value.as_str());
    for app in &repo.apps {
        match resolve_app(repo, app, inputs, default) {
            Ok(a) => apps.push(a),
            Err(mut d) => diags.append(&mut d),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Desired { project: repo.project.clone(), empty: apps.is_empty(), apps })
}

fn resolve_app(
    repo: &Repo,
    app: &AppFile,
    inputs: &Inputs,
    default: Option<&str>,
) -> Result<DesiredApp, Vec<Diagnostic>> {
    let spec = &app.spec;
    let mut diags = Vec::new();
    let (image, image_at, build) = match (&spec.image, &spec.build) {
        (Some(i), _) => (i.reference.clone(), (i.line, i.col), None),
        (None, Some(b)) => {
            let build = resolve_build(repo, app, b, inputs).map_err(|d| vec![d])?;
            (format!("{}:{}", build.repository, build.tag()), (b.line, b.col), Some(build))
        }
        (None, None) => unreachable!("validate guarantees image xor build"),
    };
    let explicit = spec.pull.as_ref().and_then(|p| p.credential.as_ref());
    let pull_credential =
        credentials::pull_credential(&image, explicit.map(|c| c.value.as_str()), inputs.credentials, default)
            .unwrap_or_else(|message| {
                let at = explicit.map_or(image_at, |c| (c.line, c.col));
                diags.push(Diagnostic::new(&app.path, at.0, at.1, message));
                Choice { name: None, why: String::new() }
            });
    let mut base = base_config(app, &image, mounts(repo, app, inputs, &mut diags));
    secret_env(app, inputs, &mut base, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }

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
        // The app's own name goes to the process that serves: `web`, or the only one.
        let serves = pname.value == DEFAULT_PROCESS || processes.len() == 1;
        let replicas = proc_spec.replicas.as_ref().map_or(1, |r| r.value);
        for replica in 1..=replicas {
            let mut config = process_config(&base, proc_spec, replica);
            if !checked {
                config.healthcheck = None;
            }
            config.networks = networks(repo, app, &pname.value, serves);
            containers.push(DesiredContainer {
                name: format!("{}-{}-{}-{}", repo.project, app.name, pname.value, replica),
                app: app.name.clone(),
                process: pname.value.clone(),
                replica,
                update_order: spec.update_order.as_ref().map(|o| o.value),
                fingerprint_key: has_secrets(&config).then(|| key_id(inputs.fingerprint_key)),
                release: None,
                pin: None,
                config,
            });
        }
    }
    Ok(DesiredApp {
        name: app.name.clone(),
        suspended: spec.suspend,
        image,
        build,
        pull_policy: spec.pull.as_ref().and_then(|p| p.policy.as_ref()).map(|p| p.value).unwrap_or_default(),
        pull_credential,
        containers,
    })
}

/// A build: its files, its identity over every input (and so its tag), the
/// computed image repository (SPEC §3.3) and, with a registry server, where
/// it is pushed and with which credential.
fn resolve_build(
    repo: &Repo,
    app: &AppFile,
    b: &At<crate::spec::BuildSpec>,
    inputs: &Inputs,
) -> Result<DesiredBuild, Diagnostic> {
    let (context, dockerfile) = build_files(b);
    let version = match inputs.contexts.get(&(context.clone(), dockerfile.clone())) {
        Some(Ok(v)) => v.clone(),
        Some(Err(why)) => return Err(Diagnostic::new(&app.path, b.context.line, b.context.col, why.clone())),
        None => unreachable!("the pipeline decides every build context's version"),
    };
    let view = names::RegistryView::of(&app.name, &app.spec, &repo.settings, &repo.project);
    let repository = values::parse_image(&view.computed_image())
        .map(|r| r.rsplit_once(':').map_or(r.clone(), |(repo, _)| repo.to_string()))
        .map_err(|e| {
            let at = app.spec.registry.as_ref().and_then(|r| r.image_repo.as_ref());
            let (line, col) = at.map_or((b.line, b.col), |i| (i.line, i.col));
            Diagnostic::new(&app.path, line, col, format!("computed image `{}`: {e}", view.computed_image()))
                .hint("image repositories are lowercase letters, digits and . _ - / separators")
        })?;
    let push = if view.computed_server.is_empty() {
        // validate refused push-on-release without a server.
        None
    } else {
        let explicit = app.spec.registry.as_ref().and_then(|r| r.credential.as_ref());
        let credential =
            credentials::push_credential(&view.computed_server, explicit.map(|c| c.value.as_str()), inputs.credentials)
                .map_err(|m| {
                    let (line, col) = explicit.map_or((b.line, b.col), |c| (c.line, c.col));
                    Diagnostic::new(&app.path, line, col, m)
                })?;
        Some(DesiredPush {
            credential: credential.name,
            extra_tags: view.computed_push_extra_tags(),
            on_release: view.computed_push_on_release(),
        })
    };
    let spec = &b.value;
    let mut build = DesiredBuild {
        context,
        dockerfile,
        args: spec.args.clone(),
        target: spec.target.as_ref().map(|t| t.value.clone()),
        platform: app.spec.platform.as_ref().map(|p| p.value.clone()),
        credentials: spec.credentials.iter().map(|c| c.value.clone()).collect(),
        version,
        identity: String::new(),
        repository,
        push,
    };
    build.identity = build.inputs().identity();
    Ok(build)
}

/// The normalized (context, dockerfile) of every build app, for the
/// pipeline to look at.
pub fn build_contexts(repo: &Repo) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        repo.apps.iter().filter_map(|a| a.spec.build.as_ref()).map(|b| build_files(b)).collect();
    out.sort();
    out.dedup();
    out
}

/// A validated build's context and Dockerfile, normalized.
fn build_files(b: &crate::spec::BuildSpec) -> (String, String) {
    let context = values::normalize_relative(&b.context).expect("validated build context");
    let dockerfile = b
        .dockerfile
        .as_ref()
        .map_or("Dockerfile".into(), |d| values::normalize_relative(&d.value).expect("validated dockerfile"));
    (context, dockerfile)
}

/// The project network, where the container answers to `<app>-<process>`
/// (and `<app>` for the process that serves), then the app's `networks:`.
fn networks(repo: &Repo, app: &AppFile, process: &str, serves: bool) -> Vec<NetworkAttachment> {
    let mut aliases = vec![format!("{}-{process}", app.name)];
    if serves {
        aliases.push(app.name.clone());
    }
    aliases.sort();
    let mut out = vec![NetworkAttachment { name: crate::desired::project_network(&repo.project), aliases }];
    out.extend(app.spec.networks.iter().map(|n| NetworkAttachment { name: n.value.clone(), aliases: Vec::new() }));
    out.sort();
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// Add each `secret-env` credential's keys as fingerprinted secrets.
fn secret_env(app: &AppFile, inputs: &Inputs, config: &mut ContainerConfig, diags: &mut Vec<Diagnostic>) {
    for name in &app.spec.secret_env {
        let Some(cred) = inputs.credentials.items.get(&name.value) else { continue }; // validate reported it
        let crate::secrets::CredentialKind::Env(set) = &cred.kind else {
            let msg =
                format!("credential `{}` is not a `kind: env` credential and cannot be used in secret-env", name.value);
            diags.push(Diagnostic::new(&app.path, name.line, name.col, msg));
            continue;
        };
        for (key, value) in &set.values {
            match config.env.get(key) {
                Some(EnvValue::Plain(_)) => {
                    let msg = format!("env `{key}` is set both in env and by secret-env credential `{}`", name.value);
                    diags.push(Diagnostic::new(&app.path, name.line, name.col, msg).hint("keep one of them"));
                }
                Some(EnvValue::Secret { credential, .. }) => {
                    let msg = format!(
                        "env `{key}` is set by two secret-env credentials: `{credential}` and `{}`",
                        name.value
                    );
                    diags.push(Diagnostic::new(&app.path, name.line, name.col, msg));
                }
                None => {
                    let fingerprint = fingerprint(
                        inputs.fingerprint_key,
                        &name.value,
                        key,
                        secrecy::ExposeSecret::expose_secret(value),
                    );
                    config.env.insert(key.clone(), EnvValue::Secret { credential: name.value.clone(), fingerprint });
                }
            }
        }
    }
}

/// A short, public name of a fingerprint key (a hash of it): two machines
/// with the same key give the same id, and it reveals nothing of the key.
pub fn key_id(key: &[u8]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"berth fingerprint key\0");
    h.update(key);
    hex::encode(&h.finalize()[..6])
}

fn has_secrets(c: &ContainerConfig) -> bool {
    c.env.values().any(|v| matches!(v, EnvValue::Secret { .. }))
}

/// A keyed hash of one secret value: changes when the value changes, and
/// without the key reveals nothing about it (not even to a dictionary).
pub fn fingerprint(key: &[u8], credential: &str, env_key: &str, value: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in [credential, env_key, value] {
        mac.update(part.as_bytes());
        mac.update(b"\0");
    }
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// The normalized repository folders the apps mount, for the pipeline to read.
pub fn repo_folders(repo: &Repo) -> Vec<String> {
    let mut out: Vec<String> = repo
        .apps
        .iter()
        .flat_map(|a| &a.spec.volumes)
        .filter_map(|v| match &v.source {
            VolumeSource::RepoPath(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The app's mounts, sorted: a named volume as `<project>_<name>`, a host
/// path as it is, a repository folder as the volume of its files' content
/// (read-only; no host path, so where the repository is checked out never
/// matters, and the same files share one volume).
fn mounts(repo: &Repo, app: &AppFile, inputs: &Inputs, diags: &mut Vec<Diagnostic>) -> Vec<Mount> {
    let mut out = Vec::new();
    for v in &app.spec.volumes {
        let target = v.target.clone();
        out.push(match &v.source {
            VolumeSource::Named(n) => Mount {
                kind: MountKind::Volume,
                source: format!("{}_{}", repo.project, n),
                target,
                read_only: v.read_only,
                files: None,
            },
            VolumeSource::HostPath(p) => {
                Mount { kind: MountKind::Bind, source: p.clone(), target, read_only: v.read_only, files: None }
            }
            VolumeSource::RepoPath(p) => match inputs.files.get(p) {
                Some(Ok(version)) => Mount {
                    kind: if version.file { MountKind::File } else { MountKind::Files },
                    source: crate::desired::files_volume(&repo.project, &version.content),
                    target,
                    read_only: true,
                    files: Some(RepoFiles {
                        path: p.clone(),
                        content: version.content.clone(),
                        count: version.files,
                        bytes: version.bytes,
                    }),
                },
                Some(Err(e)) => {
                    let mut d = Diagnostic::new(&app.path, v.line, v.col, e.to_string());
                    if let Some(hint) = e.hint() {
                        d = d.hint(hint);
                    }
                    diags.push(d);
                    continue;
                }
                None => unreachable!("the pipeline reads every mounted repository folder"),
            },
        });
    }
    out.sort();
    out
}

/// Everything shared by an app's processes.
fn base_config(app: &AppFile, image: &str, mounts: Vec<Mount>) -> ContainerConfig {
    let spec = &app.spec;
    let env = spec.env.iter().map(|(k, v)| (k.value.clone(), EnvValue::Plain(v.value.clone()))).collect();
    let resources = spec.resources.as_ref();
    let memory = resources.and_then(|r| r.memory.as_ref()).map(|m| m.value.0);
    let nano_cpus = resources.and_then(|r| r.cpus.as_ref()).map(|c| (c.value.0 * 1e9).round() as i64);
    let healthcheck = spec.healthcheck.as_ref().map(|h| {
        let dur = |d: &Option<At<DurationSpec>>, default: u64| {
            d.as_ref().map_or(std::time::Duration::from_secs(default), |d| d.value.0).as_nanos() as i64
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
        stop_signal: spec.stop_signal.as_ref().map(|s| s.value.as_str().to_string()),
        // The engine counts whole seconds: a fraction rounds up, never down.
        stop_grace_secs: Some(spec.stop_grace_period.as_ref().map_or(crate::desired::DEFAULT_STOP_GRACE_SECS, |g| {
            let d = g.value.0;
            d.as_secs() + u64::from(d.subsec_nanos() > 0)
        })),
        networks: Vec::new(),
    }
}

/// One replica's config: its command, its ports (host port + replica - 1),
/// and `PORT` set to the first container port unless the app sets it.
fn process_config(base: &ContainerConfig, p: &ProcessSpec, replica: u32) -> ContainerConfig {
    let mut c = base.clone();
    c.command = p.command.as_ref().map(|c| c.argv().to_vec());
    c.ports = p
        .ports
        .iter()
        .map(|ps| PortBinding {
            host_ip: ps.host_ip.clone(),
            host_port: ps.host_port + (replica as u16 - 1),
            container_port: ps.container_port,
            protocol: ps.protocol.clone(),
        })
        .collect();
    if let Some(first) = c.ports.first() {
        c.env.entry("PORT".to_string()).or_insert_with(|| EnvValue::Plain(first.container_port.to_string()));
    }
    c
}

#[cfg(test)]
mod tests;
